//! [`ClusterConnection`]: one Diesel `Connection` over a master and its replicas.
//!
//! Each statement is classified (once per query type for Diesel's statically typed
//! queries), routed by the current role scope, pins and node health, and delegated to a
//! `MysqlConnection` to the chosen node. Node connections open lazily.

mod causal;
mod nodes;

mod session_sync;
mod transaction;

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Instant;

use diesel::connection::{
    CacheSize, Connection, ConnectionSealed, DefaultLoadingMode, Instrumentation,
    InstrumentationEvent, LoadConnection, MultiConnectionHelper, SimpleConnection,
    TransactionManager,
};
use diesel::expression::QueryMetadata;
use diesel::mysql::{Mysql, MysqlConnection, MysqlQueryBuilder};
use diesel::query_builder::{Query, QueryBuilder, QueryFragment, QueryId};
use diesel::result::{ConnectionResult, QueryResult};

pub use self::transaction::{ClusterTransactionManager, ClusterTransactionState};
use crate::classify::{self, Classification, Flags, Kind};
use crate::cluster::Cluster;
use crate::consistency::{Consistency, ConsistencyToken};
use crate::error::Error;
use crate::instrument::{Forwarder, Hub};
use crate::querylog::{NodeKind, QueryLog, QueryLogEntry};
use crate::role::Role;
use crate::routing::{self, pins, Effect, Pin, Refusal, Target};
use crate::scope;
use crate::session::Session;
use crate::transport;

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
/// Make one with [`Connection::establish`] (multi-host URL), [`Cluster::connect`], or a
/// pool ([`Cluster::manager`] or `diesel::r2d2::ConnectionManager<ClusterConnection>`).
///
/// Where each statement runs (see [Routing](crate#routing) for the whole rule):
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

/// What was decided for one statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    node: usize,
    role: Role,
    /// A read outside any transaction or pin: may be retried elsewhere on a
    /// connection-level failure.
    retryable: bool,
    /// Chosen by the balancer for a read: consistency rules (causal wait, sticky window)
    /// apply.
    replica_read: bool,
    /// With a single database: the router would have sent this read to a replica.
    wanted_replica: bool,
    session: bool,
    /// Sent as text (`batch_execute`) rather than as a prepared statement: internal
    /// statements that must leave the session as the user's would use the same protocol
    /// (MariaDB's `ROW_COUNT()` after a `SET` differs between the two).
    text: bool,
}

/// Renders a query's SQL the way `MysqlConnection` will send it.
fn render<T: QueryFragment<Mysql> + ?Sized>(source: &T) -> QueryResult<String> {
    let mut qb = MysqlQueryBuilder::new();
    source.to_sql(&mut qb, &Mysql)?;
    Ok(qb.finish())
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

    /// Classifies a Diesel query, from a per-type cache when its SQL is static.
    fn classify_query<T: QueryFragment<Mysql> + QueryId>(
        &mut self,
        source: &T,
    ) -> QueryResult<(Classification, Option<String>)> {
        if let Some(id) = T::query_id() {
            if let Some(class) = self.class_cache.get(&id) {
                return Ok((*class, None));
            }
            let sql = render(source)?;
            let class = classify::classify(&sql);
            self.class_cache.insert(id, class);
            return Ok((class, Some(sql)));
        }
        let sql = render(source)?;
        Ok((classify::classify(&sql), Some(sql)))
    }

    /// The node a transaction begun now should run on: where a `BEGIN` would.
    fn transaction_node(&mut self) -> Result<usize, Error> {
        const BEGIN: Classification = Classification {
            kind: Kind::Begin,
            flags: Flags::NONE,
        };
        let plan = self.plan(BEGIN, None)?;
        self.pins.next_transaction = None;
        Ok(plan.node)
    }

    /// Decides where a statement runs: the pure decision ([`routing::decide`]) over the
    /// role, the statement and this connection's pins, then the node for its route.
    fn plan(&mut self, class: Classification, sql: Option<&str>) -> Result<Plan, Error> {
        if let Some(reason) = &self.inconsistent {
            return Err(Error::InconsistentSession {
                reason: reason.clone(),
            });
        }
        let role = self.effective_role();
        let persistent = class.kind == Kind::SetTransaction
            && sql.is_some_and(crate::session::is_persistent_transaction_setting);
        let effect = routing::effect(class, persistent);
        let mut pins = self
            .pins
            .pins(self.tx.pinned, self.last_node, sql)
            .map_err(|pins::TempConflict(a, b)| {
                self.refusal(
                    class,
                    Refusal::Conflict {
                        first: (Pin::TempTable, a),
                        second: (Pin::TempTable, b),
                    },
                )
            })?;
        // `SET TRANSACTION` shapes the next transaction on the node connection it ran
        // on; once that connection is gone, so is the setting.
        pins.next_transaction = pins.next_transaction.filter(|&i| self.nodes[i].is_some());
        let shared = &self.cluster.topology();
        let input = routing::Input {
            role,
            class,
            effect,
            writes: shared.config.writes_in_replica_role,
            master: shared.master(),
            pins,
        };
        let route = routing::decide(&input).map_err(|r| self.refusal(class, r))?;
        let reads_data = effect == Effect::Session
            && sql.is_some_and(|sql| !classify::table_refs(sql).is_empty());
        let placement = routing::place(
            route,
            routing::Context {
                effect,
                replicas: shared.has_replicas(),
                previous: self
                    .last_node
                    .filter(|&i| self.nodes[i].is_some() && !self.unfit[i]),
                reads_data,
            },
        );
        let node = match placement.target {
            Target::Master => self.master_node()?,
            Target::Balanced => self.pick_read_node(&[]).0,
            Target::Node(node) => node,
        };
        Ok(Plan {
            node,
            role,
            retryable: placement.retryable,
            replica_read: placement.replica_read,
            wanted_replica: placement.wanted_replica,
            session: session_sync::sets_session_state(class, effect),
            text: false,
        })
    }

    /// The error for a statement the router refused.
    fn refusal(&self, class: Classification, refusal: Refusal) -> Error {
        let label = |i: usize| self.cluster.topology().nodes[i].label.clone();
        let statement = class.kind.name();
        match refusal {
            Refusal::ReplicaRole => Error::WriteInReplicaRole { statement },
            Refusal::PinnedToReplica { pin, node } => Error::PinnedToReplica {
                statement,
                pin: pin.describe(),
                node: label(node),
            },
            Refusal::Conflict { first, second } => Error::PinConflict {
                statement,
                pins: format!(
                    "{} is on {}, {} on {}",
                    first.0.describe(),
                    label(first.1),
                    second.0.describe(),
                    label(second.1)
                ),
            },
        }
    }

    /// Book-keeping after a statement succeeded on `plan.node`; session statements are
    /// then applied to the other nodes held (an error names the node that refused).
    fn after_success(
        &mut self,
        plan: &Plan,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<()> {
        self.track_success(plan.node, class, sql);
        if plan.session {
            if let Some(sql) = sql {
                self.propagate_session(plan.node, class, sql, plan.text)
                    .map_err(Error::into_diesel)?;
            }
        }
        Ok(())
    }

    /// Pins, temporary tables and writes of a statement that succeeded on `node`, one
    /// statement of a batch at a time.
    fn track_success(&mut self, node: usize, class: Classification, sql: Option<&str>) {
        self.last_node = Some(node);
        match sql {
            Some(sql) if class.flags.contains(Flags::MULTI) => {
                for (stmt, class) in classify::statements(sql) {
                    self.track_statement(node, class, Some(stmt));
                }
            }
            _ => self.track_statement(node, class, sql),
        }
    }

    fn track_statement(&mut self, node: usize, class: Classification, sql: Option<&str>) {
        let in_transaction = self.tx.pinned.is_some();
        let is_master = node == self.cluster.topology().master();
        let committed_write = self.pins.track(node, class, sql, in_transaction);
        if pins::changes_data(class) {
            if in_transaction {
                self.tx.wrote = true;
            } else if !self.pins.raw.is_open() && is_master {
                // Autocommit: committed now.
                self.after_write(node);
            }
        }
        if committed_write && is_master {
            self.after_write(node);
        }
    }

    /// Runs SQL the library needs for itself on node `i`, muted for the user's
    /// instrumentation.
    fn internal_batch(&mut self, i: usize, sql: &str) -> QueryResult<()> {
        self.internal_statements += 1;
        let hub = self.hub.clone();
        let conn = self.nodes[i]
            .as_mut()
            .ok_or(diesel::result::Error::BrokenTransactionManager)?;
        hub.muted(|| conn.batch_execute(sql))
    }

    fn log_query(
        &mut self,
        plan: &Plan,
        sql: impl FnOnce() -> String,
        started: Instant,
        failed: bool,
    ) {
        if self.query_log.enabled {
            let on_replica = if self.cluster.topology().has_replicas() {
                plan.node != self.cluster.topology().master()
            } else {
                plan.wanted_replica
            };
            let entry = QueryLogEntry {
                node: self.cluster.topology().nodes[plan.node].name.clone(),
                role: plan.role,
                target: if on_replica {
                    NodeKind::Replica
                } else {
                    NodeKind::Master
                },
                sql: sql(),
                duration: started.elapsed(),
                failed,
            };
            self.query_log.push(entry);
        }
    }

    /// The whole life of one statement that returns no rows: classify, route, run,
    /// retry a read elsewhere after a connection-level failure, book-keep.
    fn run<R>(
        &mut self,
        class: Classification,
        sql: Option<&str>,
        text: bool,
        debug_sql: &dyn Fn() -> String,
        mut exec: impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = self.plan(class, sql).map_err(Error::into_diesel)?;
        plan.text = text;
        loop {
            plan = self
                .prepare_read(plan, &tried)
                .map_err(Error::into_diesel)?;
            self.log_route(&plan, class);
            let started = Instant::now();
            let result = self.execute_on(plan.node, &mut exec);
            self.log_query(&plan, debug_sql, started, result.is_err());
            match result {
                Ok(value) => {
                    self.after_success(&plan, class, sql)?;
                    return Ok(value);
                }
                Err(e) => {
                    if plan.session && class.flags.contains(Flags::MULTI) {
                        if let Some(sql) = sql.filter(|_| !transport::is_connection_error(&e)) {
                            // The statements before the failing one took effect there.
                            self.resync_session(plan.node, sql);
                        }
                    }
                    match self.after_failure(&mut plan, &mut tried, e) {
                        Ok(()) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// The routing decision, at `debug` level (free when the level is off).
    fn log_route(&self, plan: &Plan, class: Classification) {
        log::debug!(
            target: "diesel_cluster::routing",
            "{} in {} role -> {}",
            class.kind.name(),
            plan.role,
            self.cluster.topology().nodes[plan.node].label
        );
    }

    /// Runs `exec` on node `i` (opening it if needed), with the node's counters.
    fn execute_on<R>(
        &mut self,
        i: usize,
        exec: &mut impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let node = &self.cluster.topology().nodes[i];
        node.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        node.count_statement();
        let result = self.with_node(i, |c| exec(c)).and_then(|r| r);
        self.cluster.topology().nodes[i]
            .outstanding
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if result.is_err() {
            self.cluster.topology().nodes[i].count_error();
        }
        result
    }

    /// Decides what to do after a statement failed: `Ok(())` = try again with the
    /// updated plan (a read that failed at the connection level), `Err` = give the
    /// error to the caller.
    fn after_failure(
        &mut self,
        plan: &mut Plan,
        tried: &mut Vec<usize>,
        error: diesel::result::Error,
    ) -> QueryResult<()> {
        let node = plan.node;
        let connection_level = transport::is_connection_error(&error);
        if !connection_level {
            if plan.replica_read && self.unfit[node] && tried.len() < self.nodes.len() {
                // This connection's session can't live on that replica (opening it failed
                // to replay the session): read elsewhere, as a replica read may.
                tried.push(node);
                plan.node = self.pick_read_node(tried).0;
                return Ok(());
            }
            self.last_node = Some(node);
            return Err(error);
        }
        let alive = self.recover_node(node);
        if !plan.retryable || tried.len() >= self.nodes.len() {
            return Err(error);
        }
        tried.push(node);
        let shared = self.cluster.topology().clone();
        let master = shared.master();
        let next = if alive && node == master {
            // The master answered a fresh connection: the old one had died (e.g. the
            // server closed an idle connection). Safe to run the read again.
            Some(master)
        } else if !plan.replica_read {
            // A read the role sent to the master (master scope, or a locking read) must
            // not move to a replica, which could be behind.
            None
        } else {
            let (candidate, fell_back) = self.pick_read_node(tried);
            if fell_back && tried.contains(&master) {
                None
            } else {
                Some(candidate)
            }
        };
        match next {
            Some(next) => {
                shared.nodes[node].count_retry();
                log::info!(
                    "read failed on {} ({error}); retrying on {}",
                    shared.nodes[node].label,
                    shared.nodes[next].label
                );
                plan.node = next;
                Ok(())
            }
            None => Err(error),
        }
    }
}

impl SimpleConnection for ClusterConnection {
    fn batch_execute(&mut self, query: &str) -> QueryResult<()> {
        let class = classify::classify(query);
        self.run(class, Some(query), true, &|| query.to_string(), |c| {
            c.batch_execute(query)
        })
    }
}

impl ConnectionSealed for ClusterConnection {}

impl Connection for ClusterConnection {
    type Backend = Mysql;
    type TransactionManager = ClusterTransactionManager;

    /// Connects to the cluster named by a multi-host URL,
    /// `mysql://user:pw@master,replica1,replica2/db?options` (see
    /// [`Builder::url`](crate::Builder::url)). Connections established from the same URL
    /// share one cluster state. Node connections open lazily, so this only fails on an
    /// invalid URL.
    ///
    /// The shared state lives while a connection from that URL does: establishing a
    /// connection per request with none kept alive makes a new cluster each time, whose
    /// monitor thread connects to every node. Keep a pool (or a [`Cluster`]) instead.
    fn establish(database_url: &str) -> ConnectionResult<Self> {
        let mut instrumentation = diesel::connection::get_default_instrumentation();
        if let Some(i) = instrumentation.as_mut() {
            i.on_connection_event(InstrumentationEvent::start_establish_connection(
                database_url,
            ));
        }
        let cluster = Cluster::for_url(database_url)
            .map_err(|e| diesel::result::ConnectionError::InvalidConnectionUrl(e.to_string()));
        if let Some(i) = instrumentation.as_mut() {
            i.on_connection_event(InstrumentationEvent::finish_establish_connection(
                database_url,
                cluster.as_ref().err(),
            ));
        }
        Ok(Self::with_instrumentation(cluster?, instrumentation))
    }

    fn execute_returning_count<T>(&mut self, source: &T) -> QueryResult<usize>
    where
        T: QueryFragment<Mysql> + QueryId,
    {
        let (class, sql) = self.classify_query(source)?;
        let sql = self.sql_if_needed(source, sql, class)?;
        self.run(
            class,
            sql.as_deref(),
            false,
            &|| diesel::debug_query::<Mysql, _>(source).to_string(),
            |c| c.execute_returning_count(source),
        )
    }

    fn transaction_state(&mut self) -> &mut ClusterTransactionState {
        &mut self.tx
    }

    fn instrumentation(&mut self) -> &mut dyn Instrumentation {
        &mut self.forwarder
    }

    fn set_instrumentation(&mut self, instrumentation: impl Instrumentation) {
        self.hub.set(Box::new(instrumentation));
    }

    fn set_prepared_statement_cache_size(&mut self, size: CacheSize) {
        self.cache_size = Some(size);
        for conn in self.nodes.iter_mut().flatten() {
            conn.set_prepared_statement_cache_size(size);
        }
    }

    fn begin_test_transaction(&mut self) -> QueryResult<()> {
        // Test transactions belong on the master: tests write, and DDL inside them commits
        // implicitly, after which only the master has the data.
        let _master = scope::use_master();
        match ClusterTransactionManager::transaction_manager_status_mut(self) {
            diesel::connection::TransactionManagerStatus::Valid(status) => {
                if status.transaction_depth().is_some() {
                    return Err(diesel::result::Error::AlreadyInTransaction);
                }
            }
            diesel::connection::TransactionManagerStatus::InError => {
                return Err(diesel::result::Error::BrokenTransactionManager)
            }
        }
        ClusterTransactionManager::begin_transaction(self)?;
        ClusterTransactionManager::transaction_manager_status_mut(self).set_test_transaction_flag();
        Ok(())
    }
}

impl ClusterConnection {
    /// Temporary tables, session statements and transaction control need the SQL even
    /// when the classification was cached.
    fn sql_if_needed<T: QueryFragment<Mysql>>(
        &self,
        source: &T,
        sql: Option<String>,
        class: Classification,
    ) -> QueryResult<Option<String>> {
        let needed = sql.is_none()
            && (!self.pins.temp_tables.is_empty()
                || class.flags.contains(Flags::USER_VARIABLE_WRITE)
                || class.flags.contains(Flags::NAMED_LOCK)
                || matches!(
                    class.kind,
                    Kind::SetSession
                        | Kind::Use
                        | Kind::SetTransaction
                        | Kind::CreateTemporaryTable
                        | Kind::DropTemporaryTable
                        | Kind::Commit
                        | Kind::Rollback
                        | Kind::Xa
                        | Kind::GetDiagnostics
                ));
        if needed {
            Ok(Some(render(source)?))
        } else {
            Ok(sql)
        }
    }

    /// The routing half of `load` (classify, plan, consistency) without running anything,
    /// so the benches can time the decision alone (`crate::__bench`). Returns the node
    /// index. No I/O unless a causal read needs a GTID wait.
    pub(crate) fn route_only<T: QueryFragment<Mysql> + QueryId>(
        &mut self,
        source: &T,
    ) -> QueryResult<usize> {
        let (class, sql) = self.classify_query(source)?;
        let sql = self.sql_if_needed(source, sql, class)?;
        let plan = self
            .plan(class, sql.as_deref())
            .and_then(|plan| self.prepare_read(plan, &[]))
            .map_err(Error::into_diesel)?;
        Ok(plan.node)
    }
}

impl LoadConnection<DefaultLoadingMode> for ClusterConnection {
    type Cursor<'conn, 'query> =
        <MysqlConnection as LoadConnection<DefaultLoadingMode>>::Cursor<'conn, 'query>;
    type Row<'conn, 'query> =
        <MysqlConnection as LoadConnection<DefaultLoadingMode>>::Row<'conn, 'query>;

    fn load<'conn, 'query, T>(
        &'conn mut self,
        source: T,
    ) -> QueryResult<Self::Cursor<'conn, 'query>>
    where
        T: Query + QueryFragment<Mysql> + QueryId + 'query,
        Mysql: QueryMetadata<T::SqlType>,
    {
        let (class, sql) = self.classify_query(&source)?;
        let sql = self.sql_if_needed(&source, sql, class)?;
        let debug_sql = || diesel::debug_query::<Mysql, _>(&source).to_string();
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = self
            .plan(class, sql.as_deref())
            .map_err(Error::into_diesel)?;
        loop {
            plan = self
                .prepare_read(plan, &tried)
                .map_err(Error::into_diesel)?;
            self.log_route(&plan, class);
            let started = Instant::now();
            if let Err(e) = self.open(plan.node) {
                self.log_query(&plan, debug_sql, started, true);
                match self.after_failure(&mut plan, &mut tried, e) {
                    Ok(()) => continue,
                    Err(e) => return Err(e),
                }
            }
            self.cluster.topology().nodes[plan.node].count_statement();
            let conn: *mut MysqlConnection = match self.nodes[plan.node].as_deref_mut() {
                Some(c) => c,
                None => return Err(diesel::result::Error::BrokenTransactionManager),
            };
            // SAFETY: `conn` points into `self.nodes`, which is not touched until the
            // reference made here is dead. On `Ok` the cursor keeps borrowing it for
            // `'conn`, and we return at once. On `Err` the error holds no borrow, so `self`
            // may be used again: this is the conditional-return pattern the current borrow
            // checker rejects (NLL problem case #3) though it is sound.
            let result = unsafe { &mut *conn }.load(&source);
            self.log_query(&plan, debug_sql, started, result.is_err());
            match result {
                Ok(cursor) => {
                    self.after_success(&plan, class, sql.as_deref())?;
                    // SAFETY: see above; `self` is no longer used after this point.
                    return Ok(cursor);
                }
                Err(e) => {
                    self.cluster.topology().nodes[plan.node].count_error();
                    match self.after_failure(&mut plan, &mut tried, e) {
                        Ok(()) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

impl diesel::r2d2::R2D2Connection for ClusterConnection {
    /// Pings the node this connection would use now (one round trip, like
    /// `MysqlConnection`). A node connection that died is replaced (or the node ejected)
    /// here, so the next statement does not fail on it; but an unavailable node (even the
    /// master) does not make the connection invalid: it still serves what the other
    /// nodes can, and statements that need the missing node fail fast with a clear error.
    /// Reporting it invalid would make r2d2 discard it and validate fresh ones that fail
    /// the same way, in a busy loop until the pool's timeout, during a master outage.
    fn ping(&mut self) -> QueryResult<()> {
        let node = if self.effective_role() == Role::Master {
            match self.master_node() {
                Ok(node) => node,
                Err(_) => return Ok(()),
            }
        } else {
            // The replica this connection last read from, if still open and up: a
            // checkout's ping should not move the shared round-robin counter on.
            let shared = &self.cluster.topology();
            match self.last_node {
                Some(i)
                    if i != shared.master()
                        && self.nodes[i].is_some()
                        && shared.nodes[i].is_up() =>
                {
                    i
                }
                _ => self.pick_read_node(&[]).0,
            }
        };
        // `MysqlConnection`'s own ping: a cached prepared `SELECT 1`, one round trip.
        // `batch_execute` would cost three (it switches multi-statements on and off).
        match self
            .with_node(node, diesel::r2d2::R2D2Connection::ping)
            .and_then(|r| r)
        {
            Err(e) if transport::is_connection_error(&e) => {
                self.recover_node(node);
                Ok(())
            }
            result => result,
        }
    }

    fn is_broken(&mut self) -> bool {
        // Diesel's rule (an open transaction that is not a test transaction, or a
        // transaction manager in error) applied to the pinned node, and to every node
        // connection held; plus raw SQL state (`BEGIN`, `autocommit = 0`, `LOCK TABLES`,
        // `XA`), a named lock that may be held, and session state left differing between
        // nodes, which a pool must not hand to the next user.
        self.pins.raw.is_open()
            || self.inconsistent.is_some()
            || self.pins.named_locks
            || ClusterTransactionManager::is_broken_transaction_manager(self)
            || self
                .nodes
                .iter_mut()
                .flatten()
                .any(|c| diesel::r2d2::R2D2Connection::is_broken(&mut **c))
    }
}

impl diesel::migration::MigrationConnection for ClusterConnection {
    /// Migrations run on the master.
    fn setup(&mut self) -> QueryResult<usize> {
        scope::with_master(|| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(diesel::migration::CREATE_MIGRATIONS_TABLE),
                self,
            )
        })
    }
}

impl MultiConnectionHelper for ClusterConnection {
    fn to_any<'a>(
        lookup: &mut <Mysql as diesel::sql_types::TypeMetadata>::MetadataLookup,
    ) -> &mut (dyn std::any::Any + 'a) {
        lookup
    }

    fn from_any(
        lookup: &mut dyn std::any::Any,
    ) -> Option<&mut <Mysql as diesel::sql_types::TypeMetadata>::MetadataLookup> {
        lookup.downcast_mut()
    }
}

impl<'b, Changes, Output> diesel::query_dsl::UpdateAndFetchResults<Changes, Output>
    for ClusterConnection
where
    Changes: Copy + diesel::Identifiable,
    Changes: diesel::AsChangeset<Target = <Changes as diesel::associations::HasTable>::Table>
        + diesel::query_builder::IntoUpdateTarget,
    Changes::Table: diesel::query_dsl::methods::FindDsl<Changes::Id>,
    diesel::dsl::Update<Changes, Changes>: diesel::query_dsl::methods::ExecuteDsl<ClusterConnection>,
    diesel::dsl::Find<Changes::Table, Changes::Id>: diesel::query_dsl::LoadQuery<'b, ClusterConnection, Output>,
    <Changes::Table as diesel::Table>::AllColumns: diesel::expression::ValidGrouping<()>,
    <<Changes::Table as diesel::Table>::AllColumns as diesel::expression::ValidGrouping<()>>::IsAggregate:
        diesel::expression::MixedAggregates<
            diesel::expression::is_aggregate::No,
            Output = diesel::expression::is_aggregate::No,
        >,
{
    /// The update and the read-back both run on the master, so the row read back is the
    /// one just written (a replica might not have it yet).
    fn update_and_fetch(&mut self, changeset: Changes) -> QueryResult<Output> {
        use diesel::query_dsl::methods::FindDsl;
        use diesel::RunQueryDsl;
        scope::with_master(|| {
            diesel::update(changeset).set(changeset).execute(self)?;
            Changes::table().find(changeset.id()).get_result(self)
        })
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
