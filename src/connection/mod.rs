//! [`ClusterConnection`]: one Diesel `Connection` over a master and its replicas.
//!
//! Each statement is classified (once per query type for Diesel's statically typed
//! queries), routed by the current role scope, pins and node health, and delegated to a
//! `MysqlConnection` to the chosen node. Node connections open when a statement first
//! needs them (`establish` opens one first, see `diesel_impls`).

mod causal;
mod diesel_impls;
mod nodes;
mod plan;
mod run;
mod session_sync;
mod transaction;

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use diesel::connection::{CacheSize, Instrumentation};

pub use self::transaction::{ClusterTransactionManager, ClusterTransactionState};
use crate::classify::Classification;
use crate::cluster::Cluster;
use crate::consistency::{Consistency, ConsistencyToken};
use crate::instrument::{Forwarder, Hub};
use crate::querylog::{QueryLog, QueryLogEntry};
use crate::role::Role;
use crate::routing::pins;
use crate::scope;
use crate::session::Session;
use crate::transport;

use self::plan::Plan;

/// `TypeId`s are already hashes; hashing them again is wasted time on the hot path.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_ne_bytes(buf);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
}

type ClassCache = HashMap<TypeId, Classification, BuildHasherDefault<TypeIdHasher>>;

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
/// 2. otherwise the current [`Role`] decides;
/// 3. last, the safety rule: a statement that may change data, take a lock or have any
///    other side effect runs on the master, or is refused (in replica scope, or when a
///    pin would send it to a replica).
///
/// `SET` and `USE` statements are evaluated once and their *values* applied to every node
/// connection this connection holds, and replayed on the ones it opens later.
pub struct ClusterConnection {
    cluster: Cluster,
    /// One slot per cluster node (same indexes); `None` until first used.
    pub(crate) nodes: Vec<Option<transport::NodeConn>>,
    /// Per slot: whether it was opened with the master's credentials (see
    /// `Node::writer_address`).
    writer_slots: Vec<bool>,
    pub(crate) tx: ClusterTransactionState,
    /// Raw transactions, temporary tables and the nodes of per-connection state.
    pins: pins::PinState,
    /// The replica the balancer last chose (kept with `Builder::replica_affinity`).
    last_replica: Option<usize>,
    /// The replica opened at establish, for the first replica read.
    first_pick: Option<usize>,
    last_node: Option<usize>,
    session: Session,
    /// Per slot: this connection's session state can't be applied there (e.g. its `USE`
    /// names a database that node doesn't have), so it reads elsewhere.
    unfit: Vec<bool>,
    /// Why the session state differs between nodes (a session statement failed half-way
    /// and could not be undone): the connection refuses statements and reports broken.
    inconsistent: Option<String>,
    class_cache: ClassCache,
    hub: Arc<Hub>,
    forwarder: Forwarder,
    cache_size: Option<CacheSize>,
    query_log: QueryLog,
    causal: causal::CausalState,
    /// Statements the library sent for itself (GTID reads and waits, session replays).
    internal_statements: u64,
}

/// A cluster shared per URL lingers from its last connection's drop (see
/// `cluster::registry`).
impl Drop for ClusterConnection {
    fn drop(&mut self) {
        self.cluster.connection_closed();
    }
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection")
            .field("cluster", &self.cluster)
            .field(
                "open_nodes",
                &self
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_some())
                    .map(|(i, _)| &self.cluster.topology().nodes[i].name)
                    .collect::<Vec<_>>(),
            )
            .field("pinned", &self.tx.pinned)
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
        let n = cluster.topology().nodes.len();
        let hub = Hub::new(instrumentation);
        let query_log = QueryLog {
            enabled: cluster.topology().config.query_log,
            entries: Vec::new(),
        };
        ClusterConnection {
            forwarder: Forwarder(hub.clone()),
            hub,
            nodes: (0..n).map(|_| None).collect(),
            writer_slots: vec![false; n],
            tx: ClusterTransactionState::default(),
            pins: pins::PinState::default(),
            last_replica: None,
            first_pick: None,
            last_node: None,
            session: Session::default(),
            unfit: vec![false; n],
            inconsistent: None,
            class_cache: ClassCache::default(),
            cache_size: None,
            query_log,
            causal: causal::CausalState::new(n),
            internal_statements: 0,
            cluster,
        }
    }

    /// The cluster this connection belongs to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The name of the node that ran the last statement (`master`, `replica1`, ...).
    pub fn last_node(&self) -> Option<&str> {
        self.last_node
            .map(|i| self.cluster.topology().nodes[i].name.as_str())
    }

    /// Whether the last statement ran on the cluster's current master.
    pub fn last_node_is_master(&self) -> Option<bool> {
        self.last_node
            .map(|i| i == self.cluster.topology().master())
    }

    /// Turns the query log on or off (see [`query_log`](Self::query_log)). Turning it
    /// off keeps what was logged.
    pub fn set_query_log(&mut self, enabled: bool) {
        self.query_log.enabled = enabled;
    }

    /// Statements run while the query log was on, oldest first, with the node that ran
    /// each (at most the last 10 000).
    pub fn query_log(&self) -> &[QueryLogEntry] {
        &self.query_log.entries
    }

    /// Returns and clears the query log.
    pub fn take_query_log(&mut self) -> Vec<QueryLogEntry> {
        std::mem::take(&mut self.query_log.entries)
    }

    /// Statements this connection sent for its own purposes (reading a write's GTID,
    /// waiting for it on a replica, replaying session state): the "extra round trips".
    pub fn internal_statements(&self) -> u64 {
        self.internal_statements
    }

    fn effective_role(&self) -> Role {
        scope::current_role().unwrap_or(self.cluster.topology().config.default_role)
    }

    fn effective_consistency(&self) -> Consistency {
        scope::current_consistency().unwrap_or(self.cluster.topology().config.consistency)
    }
}

/// A token for the last write this connection made, to make later replica reads (on any
/// connection) wait for it. See [`with_token`](crate::with_token).
impl ClusterConnection {
    /// The replication position of the writes this connection committed on the master
    /// (per replication domain, the latest), or `None` when it has written nothing.
    /// Costs one round trip the first time after a write (reading the write's GTID),
    /// none otherwise. Also `None` when that read fails (the master connection was lost
    /// right after the write; the error is logged): no position is better than a wrong
    /// one, and the next call tries again.
    pub fn consistency_token(&mut self) -> Option<ConsistencyToken> {
        self.own_token()
            .map_err(|e| log::warn!("could not read the position of the last write: {e}"))
            .ok()
            .flatten()
    }
}
