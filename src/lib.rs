//! Read/write splitting for [Diesel] on a replicated MySQL/MariaDB cluster.
//!
//! [`ClusterConnection`] is a Diesel `Connection` over one master and any number of read
//! replicas. It replaces `MysqlConnection` in an application with no other change: every
//! statement runs on the master until code asks for replicas, by role, for a scope:
//!
//! ```no_run
//! use diesel::prelude::*;
//! use diesel_cluster::{with_replica, ClusterConnection};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // First host: the master; the others: replicas.
//! let mut conn = ClusterConnection::establish(
//!     "mysql://app:pw@10.0.0.1:3306,10.0.0.2:3306,10.0.0.3:3306/app",
//! )?;
//!
//! // Writes (and everything outside a scope) go to the master.
//! diesel::sql_query("INSERT INTO notes (body) VALUES ('hello')").execute(&mut conn)?;
//!
//! // Reads in a replica scope go to a replica; writes there are refused.
//! let n: i64 = with_replica(|| {
//!     diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) FROM notes"))
//!         .get_result(&mut conn)
//! })?;
//! println!("{n} notes, read from {:?}", conn.last_node());
//! # Ok(()) }
//! ```
//!
//! # The map
//!
//! Each topic has a page in the [`guide`]; the items named here carry the details.
//!
//! **Roles.** Where a statement may go is chosen per scope, on a thread-scoped stack:
//! [`with_master`], [`with_replica`], [`with_role`] run a closure in a scope, [`use_master`]
//! and friends return a guard; the innermost scope wins and the outer one comes back on
//! every exit, panics included. Outside any scope the cluster's default role applies
//! ([`Role::Master`] unless [`Builder::default_role`] says otherwise). See
//! [`guide::roles`].
//!
//! **Routing.** Each statement is classified from its SQL (once per query type for Diesel's
//! typed queries) and placed by one pure decision: per-connection *pins* (a transaction,
//! `LAST_INSERT_ID()`, temporary tables...) narrow where a read may go, then the *role*
//! decides, then the *safety rule*: a statement that may change data, take a lock or have
//! any other side effect runs on the master or is refused ([`Error::WriteInReplicaRole`],
//! [`Error::PinnedToReplica`]), never sent to a replica. `SET` and `USE` are applied to
//! every node this connection holds, so the session behaves as one `MysqlConnection`'s.
//! See [`guide::routing`].
//!
//! **Replicas, health and failover.** Reads are spread over the usable replicas by a
//! [`BalancePolicy`]; a monitor thread per [`Cluster`] measures lag and round trips, ejects
//! nodes that fail and readmits them; a read that fails on a dead node is retried
//! elsewhere, a write never is. A master promoted by an outside tool is found and adopted
//! when it is safe to; [`Cluster::promote`] promotes one itself. Passwords never show in
//! errors, logs or `Debug`. See [`guide::replicas`].
//!
//! **Read-your-writes.** A scope's [`Consistency`] says how fresh a replica read must be:
//! `Strong` (the master), `Bounded` lag (the default), `Eventual`, `Causal` (the replica
//! waits for this connection's writes, by GTID) or `Sticky` (the master for a while after a
//! write). A [`ConsistencyToken`] carries a write's position to other connections and
//! clients; a forged one costs at most one bounded wait. See [`guide::consistency`].
//!
//! **Galera.** With [`ClusterKind::Galera`] (URL option `cluster=galera`) writes go to
//! the first node in order that is synced in the primary component, reads to the other
//! synced nodes; a node that is not synced gets nothing; causal reads wait with
//! `WSREP_SYNC_WAIT_UPTO_GTID`, and [`ClusterConnection::transaction_with_retry`] runs a
//! transaction again after a certification conflict. See [`guide::galera`].
//!
//! **Observability.** [`ClusterConnection::last_node`], the query log
//! ([`QueryLogEntry`]), [`Cluster::status`] ([`NodeStatus`]), `log` records and, with the
//! feature `metrics`, counters and gauges per node. See [`guide::observability`].
//!
//! **Web and pools.** [`ClusterManager`] (r2d2) hands out connections that are never inside
//! a transaction; with the feature `axum`, the `web` module gives each request a role from
//! its method and carries read-your-writes across requests in a cookie. See
//! [`guide::web`].
//!
//! **Async.** With the feature `async`, `AsyncClusterConnection` is the same connection
//! for diesel-async (bb8, deadpool), on the same engine: every rule above holds, role
//! scopes follow the future (`task::with_replica(async { .. })`), every wait is bounded
//! with tokio's timers, and a cancelled future never leaves a pooled connection inside a
//! transaction or with a half-applied session. See `guide::asynchronous`.
//!
//! **Limits.** What the library refuses rather than guesses, and what it can't bound, is
//! listed in [`guide::limits`]. What the tests measured is in `docs/measurements.md`.
//!
//! [Diesel]: https://diesel.rs

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
mod async_connection;
mod classify;
mod cluster;
mod config;
mod connection;
mod consistency;
mod engine;
mod error;
mod failover;
mod galera;
pub mod guide;
mod instrument;
mod metrics;
mod monitor;
mod pool;
#[cfg(test)]
mod proptests;
mod querylog;
mod role;
mod routing;
mod scope;
mod session;
mod status;
mod topology;
mod transport;
mod url;
#[cfg(feature = "axum")]
pub mod web;

#[cfg(feature = "async")]
pub use crate::async_connection::{
    AsyncClusterConnection, AsyncClusterTransactionManager, RetryFuture,
};
pub use crate::cluster::{Builder, Cluster};
pub use crate::config::BalancePolicy;
pub use crate::config::WriteRouting;
pub use crate::connection::{
    ClusterConnection, ClusterTransactionManager, ClusterTransactionState,
};
pub use crate::consistency::{Consistency, ConsistencyToken};
pub use crate::error::{Error, FailoverError};
pub use crate::galera::{ClusterKind, GaleraStatus};
pub use crate::pool::ClusterManager;
pub use crate::querylog::{NodeKind, QueryLogEntry};
pub use crate::role::Role;
#[cfg(feature = "async")]
pub use crate::scope::task;
pub use crate::scope::{
    current_consistency, current_role, use_consistency, use_master, use_replica, use_role,
    use_token, with_consistency, with_master, with_replica, with_role, with_token, Scope,
    ScopeGuard,
};
pub use crate::status::ClusterStatus;
pub use crate::topology::node::{Health, NodeStatus};

/// Internals the benchmarks in `benches/` time on their own. Not part of the API: no
/// stability promise, may change in any release.
#[doc(hidden)]
pub mod __bench {
    use diesel::mysql::Mysql;
    use diesel::query_builder::{QueryFragment, QueryId};

    use crate::{ClusterConnection, Role, WriteRouting};

    /// Classifies a rendered SQL string and decides where it goes in `role`, as the
    /// connection does for a statement whose SQL is not cached. `Some(true)`: a replica,
    /// `Some(false)`: the master or a session broadcast, `None`: refused.
    pub fn route_sql(role: Role, sql: &str) -> Option<bool> {
        let class = crate::classify::classify(sql);
        let input = crate::routing::Input {
            role,
            class,
            effect: crate::routing::effect(class, false),
            writes: WriteRouting::Refuse,
            master: 0,
            pins: crate::routing::Pins::default(),
        };
        crate::routing::decide(&input)
            .ok()
            .map(|route| route == crate::routing::Route::Replica)
    }

    /// Everything `ClusterConnection` decides before it runs `query` (classification,
    /// cached per `TypeId` when the query's id is static, pins, role, balancer,
    /// consistency), without running it. Returns the chosen node's index.
    pub fn plan<T: QueryFragment<Mysql> + QueryId>(
        conn: &mut ClusterConnection,
        query: &T,
    ) -> diesel::QueryResult<usize> {
        conn.route_only(query)
    }
}

// The README's examples use every feature (the async one needs `async` and `axum`).
#[cfg(all(doctest, feature = "async", feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
