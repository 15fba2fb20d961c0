//! A cluster's settings: every default in one place ([`Config::default`]), and how the
//! URL's query options set them.

use std::time::Duration;

use crate::consistency::Consistency;
use crate::role::Role;
use crate::url::Secret;

/// What to do with a statement that changes data in [`Role::Replica`] scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WriteRouting {
    /// Refuse it with a clear error before any server sees it (the default): a replica
    /// scope is a promise that the code in it only reads.
    #[default]
    Refuse,
    /// Send it to the master instead (Django's router behaviour).
    Master,
}

impl std::str::FromStr for WriteRouting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" | "error" => Ok(WriteRouting::Refuse),
            "master" => Ok(WriteRouting::Master),
            _ => Err(format!("`{s}` (expected refuse or master)")),
        }
    }
}

/// Validated settings of a cluster.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) default_role: Role,
    pub(crate) max_replica_lag: Duration,
    pub(crate) monitor_interval: Option<Duration>,
    pub(crate) ejection_cooldown: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) network_timeout: Duration,
    pub(crate) consistency: Consistency,
    pub(crate) causal_timeout: Duration,
    pub(crate) writes_in_replica_role: WriteRouting,
    pub(crate) query_log: bool,
    pub(crate) admin: Option<(String, Secret)>,
    /// The account replicas use to connect to their master (for `promote`).
    pub(crate) replication: Option<(String, Secret)>,
    /// The heartbeat table (quoted, ready for SQL) when heartbeat lag is on.
    pub(crate) heartbeat: Option<String>,
    /// A replica whose smoothed round trip is above this gets no reads.
    pub(crate) max_replica_latency: Option<Duration>,
    pub(crate) replica_affinity: bool,
}
