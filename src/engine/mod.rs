//! The routing engine of one cluster connection, shared by [`ClusterConnection`]
//! (blocking, over `MysqlConnection`) and `AsyncClusterConnection` (diesel-async, over
//! `AsyncMysqlConnection`).
//!
//! An [`Engine`] holds everything a cluster connection knows besides its node
//! connections' protocol: the pins, the session state, the causal state, the
//! transaction pin, the query log. It decides where each statement runs ([`plan`]),
//! books what a success or a failure means ([`outcome`]), opens and recovers node
//! connections ([`nodes`]), keeps the session the same on every node
//! ([`session_sync`]), waits for a write's position before a replica read ([`causal`])
//! and pins transactions ([`transaction`]). Its I/O goes through a [`Link`] and is
//! written once, as async code; the blocking connection drives it with
//! [`link::now`].
//!
//! [`ClusterConnection`]: crate::ClusterConnection

pub(crate) mod causal;
pub(crate) mod link;
pub(crate) mod nodes;
pub(crate) mod outcome;
pub(crate) mod plan;
pub(crate) mod retry;
pub(crate) mod session_sync;
pub(crate) mod transaction;

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use diesel::connection::{CacheSize, Instrumentation};

pub(crate) use self::link::{now, Link};
pub(crate) use self::outcome::Quick;
pub(crate) use self::plan::Plan;
pub use self::transaction::ClusterTransactionState;
use crate::classify::Classification;
use crate::cluster::Cluster;
use crate::consistency::{Consistency, ConsistencyToken};
use crate::instrument::{Forwarder, Hub};
use crate::querylog::{QueryLog, QueryLogEntry};
use crate::role::Role;
use crate::routing::pins;
use crate::scope::{self, Frame};
use crate::session::Session;

/// `TypeId`s are already hashes; hashing them again is wasted time on the hot path.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

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

/// Hashes `TypeId`s for the per-type caches.
pub(crate) type TypeIdHasherBuilder = BuildHasherDefault<TypeIdHasher>;

type ClassCache = HashMap<TypeId, Classification, TypeIdHasherBuilder>;

/// One cluster connection's state and decisions, over node connections of type `L`.
pub(crate) struct Engine<L> {
    pub(crate) cluster: Cluster,
    /// One slot per cluster node (same indexes); `None` until first used.
    pub(crate) nodes: Vec<Option<L>>,
    /// Per slot: whether it was opened with the master's credentials (see
    /// `Node::writer_address`).
    writer_slots: Vec<bool>,
    pub(crate) tx: ClusterTransactionState,
    /// Raw transactions, temporary tables and the nodes of per-connection state.
    pub(crate) pins: pins::PinState,
    /// The replica the balancer last chose (kept with `Builder::replica_affinity`).
    last_replica: Option<usize>,
    /// The replica opened at establish, for the first replica read.
    first_pick: Option<usize>,
    pub(crate) last_node: Option<usize>,
    session: Session,
    /// The slots where this connection's session state can't be applied (e.g. its `USE`
    /// names a database that node doesn't have), so it reads elsewhere.
    unfit: Unfit,
    /// Why the session state differs between nodes (a session statement failed half-way
    /// and could not be undone): the connection refuses statements and reports broken.
    pub(crate) inconsistent: Option<String>,
    class_cache: ClassCache,
    pub(crate) hub: Arc<Hub>,
    pub(crate) forwarder: Forwarder,
    pub(crate) cache_size: Option<CacheSize>,
    pub(crate) query_log: QueryLog,
    causal: causal::CausalState,
    /// Statements the library sent for itself (GTID reads and waits, session replays).
    pub(crate) internal_statements: u64,
    /// The role this connection was given (`AsyncClusterConnection::set_role`): used
    /// where no scope sets one, before the cluster's default.
    pub(crate) own_role: Option<Role>,
}

impl<L: Link> Engine<L> {
    pub(crate) fn new(
        cluster: Cluster,
        instrumentation: Option<Box<dyn Instrumentation>>,
    ) -> Engine<L> {
        let n = cluster.topology().nodes.len();
        let hub = Hub::new(instrumentation);
        let query_log = QueryLog {
            enabled: cluster.topology().config.query_log,
            entries: Vec::new(),
        };
        Engine {
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
            unfit: Unfit::new(n),
            inconsistent: None,
            class_cache: ClassCache::default(),
            cache_size: None,
            query_log,
            causal: causal::CausalState::new(n),
            internal_statements: 0,
            own_role: None,
            cluster,
        }
    }

    /// Reads the innermost scope: the task's for the async connection, the thread's
    /// for the blocking one.
    #[inline]
    fn ambient<R>(f: impl Fn(Option<&Frame>) -> R) -> R {
        #[cfg(feature = "async")]
        if L::TASK_SCOPED {
            return scope::task::with_top(f);
        }
        scope::with_top(f)
    }

    /// The role, consistency and token presence in effect now, read from the scope in
    /// one lookup: what one statement's routing reads (a scope can't change while one
    /// statement runs, so reading it once is reading it at every step).
    pub(crate) fn ambient_now(&self) -> Ambient {
        let (role, consistency, scope_token) = Self::ambient(|f| match f {
            Some(f) => (f.role, f.consistency, f.token.is_some()),
            None => (None, None, false),
        });
        let config = &self.cluster.topology().config;
        Ambient {
            role: role.or(self.own_role).unwrap_or(config.default_role),
            consistency: consistency.unwrap_or(config.consistency),
            scope_token,
        }
    }

    /// The consistency token of the innermost scope.
    fn scope_token(&self) -> Option<Arc<ConsistencyToken>> {
        Self::ambient(|f| f.and_then(|f| f.token.clone()))
    }

    /// The name of the node that ran the last statement.
    pub(crate) fn last_node_name(&self) -> Option<&str> {
        self.last_node
            .map(|i| self.cluster.topology().nodes[i].name.as_str())
    }

    pub(crate) fn last_node_is_master(&self) -> Option<bool> {
        self.last_node
            .map(|i| i == self.cluster.topology().master())
    }

    pub(crate) fn query_log(&self) -> &[QueryLogEntry] {
        &self.query_log.entries
    }

    /// The names of the nodes this connection holds a connection to.
    pub(crate) fn open_node_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| self.cluster.topology().nodes[i].name.as_str())
            .collect()
    }

    /// The token of this connection's writes, or `None` (logged) when it can't be read.
    pub(crate) async fn consistency_token(&mut self) -> Option<ConsistencyToken> {
        self.own_token()
            .await
            .map_err(|e| log::warn!("could not read the position of the last write: {e}"))
            .ok()
            .flatten()
    }

    /// Whether a pool must drop this connection: Diesel's rule (an open transaction
    /// that is not a test transaction, or a transaction manager in error) on the pinned
    /// node and every node connection held, plus raw SQL state (`BEGIN`,
    /// `autocommit = 0`, `LOCK TABLES`, `XA`), a named lock that may be held, and
    /// session state left differing between nodes.
    pub(crate) fn is_broken(&mut self) -> bool {
        self.pins.raw.is_open()
            || self.inconsistent.is_some()
            || self.pins.named_locks
            || self.transaction_manager_broken()
    }
}

/// Per node slot: whether this connection's session can't be replayed there; with
/// whether any slot is set, which the replica pick asks at every read.
#[derive(Debug)]
struct Unfit {
    slots: Vec<bool>,
    any: bool,
}

impl Unfit {
    fn new(n: usize) -> Unfit {
        Unfit {
            slots: vec![false; n],
            any: false,
        }
    }

    fn mark(&mut self, i: usize) {
        self.slots[i] = true;
        self.any = true;
    }

    /// The session changed: every node may take it again.
    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|u| *u = false);
        self.any = false;
    }

    #[inline]
    fn any(&self) -> bool {
        self.any
    }

    fn contains(&self, i: usize) -> bool {
        self.slots.get(i).copied().unwrap_or(false)
    }

    /// The unfit slots.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.slots[i])
    }
}

/// What the scope (or the connection's own role, or the cluster's defaults) says for one
/// statement: see [`Engine::ambient_now`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ambient {
    pub(crate) role: Role,
    pub(crate) consistency: Consistency,
    /// The innermost scope carries a consistency token.
    pub(crate) scope_token: bool,
}

/// A cluster shared per URL lingers from its last connection's drop (see
/// `cluster::registry`).
impl<L> Drop for Engine<L> {
    fn drop(&mut self) {
        self.keep_replica(None);
        self.cluster.connection_closed();
    }
}

/// The accessors both cluster connection types have, with one copy of their docs.
/// Expands inside an `impl` block of a type with an `engine: Engine<_>` field.
macro_rules! shared_accessors {
    () => {
        /// The cluster this connection belongs to.
        pub fn cluster(&self) -> &$crate::Cluster {
            &self.engine.cluster
        }

        /// The name of the node that ran the last statement (`master`, `replica1`, ...).
        pub fn last_node(&self) -> Option<&str> {
            self.engine.last_node_name()
        }

        /// Whether the last statement ran on the cluster's current master.
        pub fn last_node_is_master(&self) -> Option<bool> {
            self.engine.last_node_is_master()
        }

        /// Turns the query log on or off (see [`query_log`](Self::query_log)). Turning it
        /// off keeps what was logged.
        pub fn set_query_log(&mut self, enabled: bool) {
            self.engine.query_log.enabled = enabled;
        }

        /// Statements run while the query log was on, oldest first, with the node that ran
        /// each (at most the last 10 000).
        pub fn query_log(&self) -> &[$crate::QueryLogEntry] {
            self.engine.query_log()
        }

        /// Returns and clears the query log.
        pub fn take_query_log(&mut self) -> Vec<$crate::QueryLogEntry> {
            std::mem::take(&mut self.engine.query_log.entries)
        }

        /// Statements this connection sent for its own purposes (reading a write's GTID,
        /// waiting for it on a replica, replaying session state): the "extra round trips".
        pub fn internal_statements(&self) -> u64 {
            self.engine.internal_statements
        }
    };
}
pub(crate) use shared_accessors;
