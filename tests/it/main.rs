//! The integration tests against the local MariaDB clusters, in one binary so that the
//! suite links once: each module is a former `tests/NAME.rs`. The tests that need a
//! process of their own (a global logger or metrics recorder, a count of the process's
//! threads, a feature) stay binaries of their own; see `Cargo.toml`.

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "async")]
mod async_faults;
#[cfg(feature = "async")]
mod async_galera;
#[cfg(feature = "async")]
mod async_routing;
mod causal;
mod chaos;
mod cluster_script;
mod conflict_retry;
mod connect_cost;
mod differential;
mod failover_safety;
mod fleet;
mod foundation;
mod functions;
mod galera;
mod instrumentation;
mod multi_connection;
mod observe;
mod partition;
mod pool_safety;
mod routing;
mod safety;
mod safety_oracle;
mod tokens;
