//! [`ClusterConnection`]: one blocking Diesel `Connection` over a master and its
//! replicas.
//!
//! Each statement is classified (once per query type for Diesel's statically typed
//! queries), routed by the current role scope, pins and node health, and delegated to a
//! `MysqlConnection` to the chosen node. The decisions are the [`engine`](crate::engine)'s,
//! shared with the async connection; this module is Diesel's blocking traits over it
//! ([`diesel_impls`]), the statement loop ([`run`]), and the blocking node link
//! ([`link`]). Node connections open when a statement first needs them (`establish`
//! opens one first).

mod diesel_impls;
mod link;
mod retry;
mod run;
mod transaction;

use diesel::connection::Instrumentation;

pub use self::transaction::ClusterTransactionManager;
use crate::cluster::Cluster;
use crate::consistency::ConsistencyToken;
pub use crate::engine::ClusterTransactionState;
use crate::engine::{now, shared_accessors, Engine};
use crate::transport::NodeConn;

/// A Diesel connection to a replicated cluster, usable wherever a `MysqlConnection` is.
///
/// Make one with [`Connection::establish`](diesel::Connection::establish) (multi-host
/// URL), [`Cluster::connect`], or a pool ([`Cluster::manager`] or
/// `diesel::r2d2::ConnectionManager<ClusterConnection>`). `establish` and the pools open
/// one node first and fail as `MysqlConnection::establish` does on a refused login, an
/// unknown database or a cluster with no node reachable; `Cluster::connect` opens
/// nothing (see *Connecting* in [`guide::replicas`](crate::guide::replicas)). Other node
/// connections open when a statement first needs them.
///
/// Where each statement runs (see [Routing](crate::guide::routing) for the whole rule):
///
/// 1. per-connection state narrows where a *read* may go: inside a transaction (Diesel's,
///    or a raw `BEGIN`, `LOCK TABLES`, `SET autocommit = 0`, `XA START`), the node where
///    it began; `LAST_INSERT_ID()` the node of this connection's last insert,
///    `FOUND_ROWS()` that of its last `SELECT`, `ROW_COUNT()` and `SHOW WARNINGS` that of
///    its previous statement; a statement referring to a temporary table, the node that
///    has it;
/// 2. otherwise the current [`Role`](crate::Role) decides;
/// 3. last, the safety rule: a statement that may change data, take a lock or have any
///    other side effect runs on the master, or is refused (in replica scope, or when a
///    pin would send it to a replica).
///
/// `SET` and `USE` statements are evaluated once and their *values* applied to every node
/// connection this connection holds, and replayed on the ones it opens later.
pub struct ClusterConnection {
    pub(crate) engine: Engine<NodeConn>,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection")
            .field("cluster", &self.engine.cluster)
            .field("open_nodes", &self.engine.open_node_names())
            .field("pinned", &self.engine.tx.pinned)
            .field("last_node", &self.last_node())
            .finish_non_exhaustive()
    }
}

/// The entry point lives here, beside the type it makes: the cluster handle is a layer
/// below the connections.
impl Cluster {
    /// A new connection. Node connections open lazily, on the first statement each
    /// node receives, so this never fails and never blocks.
    pub fn connect(&self) -> ClusterConnection {
        ClusterConnection::new(self.clone())
    }
}

impl ClusterConnection {
    pub(crate) fn new(cluster: Cluster) -> ClusterConnection {
        Self::with_instrumentation(cluster, diesel::connection::get_default_instrumentation())
    }

    fn with_instrumentation(
        cluster: Cluster,
        instrumentation: Option<Box<dyn Instrumentation>>,
    ) -> ClusterConnection {
        ClusterConnection {
            engine: Engine::new(cluster, instrumentation),
        }
    }

    shared_accessors!();

    /// The replication position of the writes this connection committed on the master
    /// (per replication domain, the latest), or `None` when it has written nothing.
    /// Costs one round trip the first time after a write (reading the write's GTID),
    /// none otherwise. Also `None` when that read fails (the master connection was lost
    /// right after the write; the error is logged): no position is better than a wrong
    /// one, and the next call tries again. Pass it to [`with_token`](crate::with_token)
    /// to make later replica reads (on any connection) wait for it.
    pub fn consistency_token(&mut self) -> Option<ConsistencyToken> {
        now(self.engine.consistency_token())
    }

    /// Opens the node `establish` opens (see there), for the pools.
    pub(crate) fn open_at_establish(&mut self) -> Result<(), crate::Error> {
        now(self.engine.open_at_establish())
    }

    /// The routing half of a statement without running it (`crate::__bench`).
    pub(crate) fn route_only<
        T: diesel::query_builder::QueryFragment<diesel::mysql::Mysql> + diesel::query_builder::QueryId,
    >(
        &mut self,
        source: &T,
    ) -> diesel::QueryResult<usize> {
        now(self.engine.route_only(source))
    }
}
