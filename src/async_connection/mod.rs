//! [`AsyncClusterConnection`] (feature `async`): the cluster connection for
//! diesel-async, over one `AsyncMysqlConnection` per node.
//!
//! Every decision is the [`engine`](crate::engine)'s, the same code the blocking
//! [`ClusterConnection`](crate::ClusterConnection) runs: classification, routing and the
//! safety rule, balancing, health, failover, causal reads and tokens, session replay,
//! transaction pins, metrics, status and the query log. This module is diesel-async's
//! traits over it ([`diesel_impls`]), the statement loop ([`run`]), the node link with
//! tokio's timers ([`link`]), and the owned form of a query ([`collected`]).
//!
//! Scopes come from the task: [`crate::task`] (or [`set_role`](AsyncClusterConnection::set_role)).

mod collected;
mod diesel_impls;
pub(crate) mod link;
mod retry;
mod run;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::result::QueryResult;

pub use self::diesel_impls::AsyncClusterTransactionManager;
use self::link::AsyncNode;
pub use self::retry::RetryFuture;
use crate::cluster::Cluster;
use crate::consistency::ConsistencyToken;
use crate::engine::{shared_accessors, Engine, TypeIdHasherBuilder};
use crate::role::Role;

/// A diesel-async connection to a replicated cluster, usable wherever an
/// `AsyncMysqlConnection` is (feature `async`).
///
/// It routes every statement as [`ClusterConnection`](crate::ClusterConnection) does
/// (see [Routing](crate::guide::routing)), with the role taken from the task's scope
/// ([`task::with_replica(async { .. })`](crate::task::with_replica)), else from
/// [`set_role`](Self::set_role), else from the cluster's default.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use diesel::prelude::*;
/// use diesel_async::{AsyncConnection, RunQueryDsl};
/// use diesel_cluster::{task, AsyncClusterConnection};
///
/// let mut conn = AsyncClusterConnection::establish(
///     "mysql://app:secret@db-master:3306,db-replica1:3306,db-replica2:3306/app",
/// )
/// .await?;
/// // Writes go to the master.
/// diesel::sql_query("UPDATE counters SET n = n + 1 WHERE id = 1")
///     .execute(&mut conn)
///     .await?;
/// // Reads in a replica scope go to a replica, across every `.await`.
/// let n: i64 = task::with_replica(async {
///     diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) FROM counters"))
///         .get_result(&mut conn)
///         .await
/// })
/// .await?;
/// # let _ = n; Ok(()) }
/// ```
///
/// With bb8 or deadpool, use diesel-async's `AsyncDieselConnectionManager<AsyncClusterConnection>`
/// with the cluster's URL, or [`Cluster::async_manager`] for a cluster built in code.
///
/// **Cancellation.** A future of this connection dropped before it finished (a
/// statement, a transaction step, a causal wait, reading a consistency token) leaves the
/// connection's node sessions in a state it can't know. The next use of the
/// connection closes them all and opens fresh ones (with the session state replayed),
/// unless a transaction, a raw `BEGIN`, `LOCK TABLES`, a named lock or a temporary
/// table lived on them: then it fails, and
/// [`is_broken`](diesel_async::pooled_connection::PoolableConnection::is_broken) is true,
/// so a pool drops it. A stream of rows dropped early is no cancellation: diesel-async's
/// `get_result` does it every time, and the client reads the rest away.
pub struct AsyncClusterConnection {
    pub(crate) engine: Engine<AsyncNode>,
    /// Set while one of this connection's futures runs; still set after one was
    /// dropped half-way.
    busy: Arc<AtomicBool>,
    sql_cache: collected::SqlCache<TypeIdHasherBuilder>,
}

impl std::fmt::Debug for AsyncClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClusterConnection")
            .field("cluster", &self.engine.cluster)
            .field("open_nodes", &self.engine.open_node_names())
            .field("pinned", &self.engine.tx.pinned)
            .field("last_node", &self.last_node())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A new async connection (feature `async`). Node connections open lazily, on the
    /// first statement each node receives, so this never fails and never waits.
    pub fn connect_async(&self) -> AsyncClusterConnection {
        AsyncClusterConnection::new(self.clone())
    }
}

impl AsyncClusterConnection {
    pub(crate) fn new(cluster: Cluster) -> AsyncClusterConnection {
        AsyncClusterConnection {
            engine: Engine::new(cluster, diesel::connection::get_default_instrumentation()),
            busy: Arc::new(AtomicBool::new(false)),
            sql_cache: Default::default(),
        }
    }

    shared_accessors!();

    /// Gives this connection its own role, used where no task scope sets one (before
    /// the cluster's default role); `None` removes it. For code that can't wrap its
    /// futures in a scope (say, a task spawned elsewhere). A pool forgets it when the
    /// connection comes back (bb8 and deadpool call `is_broken` then).
    pub fn set_role(&mut self, role: Option<Role>) {
        self.engine.own_role = role;
    }

    /// The role set by [`set_role`](Self::set_role).
    pub fn role(&self) -> Option<Role> {
        self.engine.own_role
    }

    /// The replication position of the writes this connection committed on the master,
    /// or `None` when it has written nothing (see
    /// [`ClusterConnection::consistency_token`](crate::ClusterConnection::consistency_token)).
    pub async fn consistency_token(&mut self) -> Option<ConsistencyToken> {
        if self.start().is_err() {
            return None;
        }
        let token = self.engine.consistency_token().await;
        self.finish();
        token
    }

    /// Opens the node `establish` opens, for the pools and `establish`.
    pub(crate) async fn open_at_establish(&mut self) -> Result<(), crate::Error> {
        self.engine.open_at_establish().await
    }

    /// Marks a future of this connection as running. After one that was dropped
    /// half-way, the node sessions are closed first, or the connection refuses (see the
    /// type's docs, *Cancellation*).
    fn start(&mut self) -> QueryResult<()> {
        if !self.busy.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.after_cancellation()
    }

    /// [`start`](Self::start) after a future of this connection was dropped half-way.
    #[cold]
    fn after_cancellation(&mut self) -> QueryResult<()> {
        let engine = &mut self.engine;
        if engine.tx.pinned.is_some() || engine.holds_session_only_state() {
            return Err(diesel::result::Error::BrokenTransactionManager);
        }
        log::info!(
            "a statement of this connection was cancelled half-way; its node sessions are \
             closed and reopened"
        );
        engine.drop_node_connections();
        Ok(())
    }

    /// Marks the running future as finished.
    fn finish(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }

    /// Whether a future of this connection was dropped half-way and the connection can't
    /// recover from it (see [`start`](Self::start)).
    fn cancelled_beyond_repair(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
            && (self.engine.tx.pinned.is_some() || self.engine.holds_session_only_state())
    }
}
