//! [`ClusterConnection`]: one Diesel `Connection` over a master and its replicas.
//!
//! Each statement is classified (once per query type for Diesel's statically typed
//! queries), routed by the current role scope, pins and node health, and delegated to a
//! `MysqlConnection` to the chosen node. Node connections open lazily.

mod causal;
pub(crate) mod nodes;
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
use crate::cluster::{Cluster, WriteRouting};
use crate::consistency::{Consistency, ConsistencyToken};
use crate::error::Error;
use crate::instrument::{Forwarder, Hub};
use crate::querylog::{NodeKind, QueryLog, QueryLogEntry};
use crate::role::{self, Role};
use crate::routing::{self, Target};
use crate::session::Session;

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
/// Where each statement runs:
///
/// 1. inside a transaction: on the node where it began;
/// 2. after a raw `BEGIN`, `LOCK TABLES` or `SET autocommit = 0`: on that node until
///    `COMMIT`/`ROLLBACK`, `UNLOCK TABLES` or `SET autocommit = 1`;
/// 3. statements reading the previous statement's state (`LAST_INSERT_ID()`,
///    `FOUND_ROWS()`, `ROW_COUNT()`, `SHOW WARNINGS`, `GET DIAGNOSTICS`): on the node of
///    the previous statement; statements naming a temporary table: on the node that has it;
/// 4. otherwise by the current [`Role`] (see [`routing`](crate#routing)).
///
/// `SET` and `USE` statements are applied to every node connection this connection holds
/// and replayed on the ones it opens later.
pub struct ClusterConnection {
    cluster: Cluster,
    /// One slot per cluster node (same indexes); `None` until first used.
    pub(crate) nodes: Vec<Option<nodes::NodeConn>>,
    /// Per slot: whether it was opened with the master's credentials (see
    /// `Node::writer_address`).
    writer_slots: Vec<bool>,
    pub(crate) tx: ClusterTransactionState,
    /// Transaction state created by raw SQL (`BEGIN`, `LOCK TABLES`, `SET autocommit = 0`).
    raw: RawPin,
    /// Where the last `SET TRANSACTION` (next transaction only) ran.
    next_transaction: Option<usize>,
    /// The replica the balancer last chose (kept with `Builder::replica_affinity`).
    last_replica: Option<usize>,
    last_node: Option<usize>,
    session: Session,
    temp_tables: Vec<(String, usize)>,
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
                    .map(|(i, _)| &self.cluster.shared.nodes[i].name)
                    .collect::<Vec<_>>(),
            )
            .field("pinned", &self.tx.pinned)
            .field("last_node", &self.last_node())
            .finish_non_exhaustive()
    }
}

/// Transaction state opened by raw SQL rather than Diesel's transaction manager.
#[derive(Debug, Default)]
struct RawPin {
    /// The node holding that state, while any of the flags below is set.
    node: Option<usize>,
    in_transaction: bool,
    autocommit_off: bool,
    tables_locked: bool,
    /// A statement that changes data ran since the last commit.
    wrote: bool,
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
}

/// Renders a query's SQL the way `MysqlConnection` will send it.
fn render<T: QueryFragment<Mysql> + ?Sized>(source: &T) -> QueryResult<String> {
    let mut qb = MysqlQueryBuilder::new();
    source.to_sql(&mut qb, &Mysql)?;
    Ok(qb.finish())
}

/// Whether a statement kind changes data (for refusals, read-your-writes and retries).
fn changes_data(class: Classification) -> bool {
    class.kind.is_write() || class.flags.contains(Flags::WRITE_FUNCTION)
}

impl ClusterConnection {
    pub(crate) fn new(cluster: Cluster) -> ClusterConnection {
        Self::with_instrumentation(cluster, diesel::connection::get_default_instrumentation())
    }

    fn with_instrumentation(
        cluster: Cluster,
        instrumentation: Option<Box<dyn Instrumentation>>,
    ) -> ClusterConnection {
        let n = cluster.shared.nodes.len();
        let hub = Hub::new(instrumentation);
        let query_log = QueryLog {
            enabled: cluster.shared.config.query_log,
            entries: Vec::new(),
        };
        ClusterConnection {
            forwarder: Forwarder(hub.clone()),
            hub,
            nodes: (0..n).map(|_| None).collect(),
            writer_slots: vec![false; n],
            tx: ClusterTransactionState::default(),
            raw: RawPin::default(),
            next_transaction: None,
            last_replica: None,
            last_node: None,
            session: Session::default(),
            temp_tables: Vec::new(),
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
            .map(|i| self.cluster.shared.nodes[i].name.as_str())
    }

    /// Whether the last statement ran on the cluster's current master.
    pub fn last_node_is_master(&self) -> Option<bool> {
        self.last_node.map(|i| i == self.cluster.shared.master())
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
        role::current_role().unwrap_or(self.cluster.shared.config.default_role)
    }

    fn effective_consistency(&self) -> Consistency {
        crate::consistency::current_consistency().unwrap_or(self.cluster.shared.config.consistency)
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

    /// The node a transaction begun now should run on.
    fn transaction_node(&mut self) -> Result<usize, Error> {
        if let Some(node) = self.next_transaction_node() {
            return Ok(node);
        }
        let role = self.effective_role();
        let begin = classify::classify("BEGIN");
        match routing::decide(
            role,
            begin,
            self.cluster.shared.config.writes_in_replica_role,
        )? {
            Target::Replica => Ok(self.pick_read_node(&[]).0),
            _ => self.master_node(),
        }
    }

    /// The node where a `SET TRANSACTION` (next transaction only) ran, if it is still
    /// usable: the next transaction must begin there to get its characteristics.
    fn next_transaction_node(&mut self) -> Option<usize> {
        self.next_transaction
            .take()
            .filter(|&i| self.nodes[i].is_some() && self.cluster.shared.nodes[i].is_up())
    }

    /// Decides where a statement runs, applying pins, then the role.
    fn plan(&mut self, class: Classification, sql: Option<&str>) -> Result<Plan, Error> {
        let role = self.effective_role();
        // A session statement applies to every node even when a pin decides where it
        // runs first.
        let session =
            routing::sets_session_state(class, sql) && !class.flags.contains(Flags::MULTI);
        let pinned = |node| Plan {
            node,
            role,
            retryable: false,
            replica_read: false,
            wanted_replica: false,
            session,
        };
        let writes = self.cluster.shared.config.writes_in_replica_role;
        if !self.cluster.shared.has_replicas() {
            // One database (development): everything runs on it, but the router still
            // decides, so replica scopes refuse writes here as they would in production
            // and the query log shows where each statement would go.
            let target = routing::decide(role, class, writes)?;
            return Ok(Plan {
                session: session || target == Target::Session,
                wanted_replica: target == Target::Replica,
                ..pinned(0)
            });
        }
        let temp_table_node = match sql {
            Some(sql) if !self.temp_tables.is_empty() => self
                .temp_tables
                .iter()
                .find(|(name, _)| classify::mentions_identifier(sql, name))
                .map(|(_, node)| *node),
            _ => None,
        };
        if let Some(node) = self.tx.pinned.or(self.raw.node) {
            // A replica scope promises that the code in it only reads, inside a
            // transaction too; and a transaction pinned to a replica cannot write at all.
            let refuse = changes_data(class)
                && temp_table_node.is_none()
                && writes == WriteRouting::Refuse
                && (role == Role::Replica || node != self.cluster.shared.master());
            if refuse {
                return Err(Error::WriteInReplicaRole {
                    statement: class.kind.name(),
                });
            }
            return Ok(pinned(node));
        }
        if class.flags.contains(Flags::READS_PREVIOUS_STATE) {
            if let Some(node) = self.last_node {
                return Ok(pinned(node));
            }
        }
        if let Some(node) = temp_table_node {
            return Ok(pinned(node));
        }
        if class.kind == Kind::Begin {
            if let Some(node) = self.next_transaction_node() {
                return Ok(pinned(node));
            }
        }
        let mut target = routing::decide(role, class, writes)?;
        if session {
            target = Target::Session;
        }
        let read = !changes_data(class);
        Ok(match target {
            Target::Master => Plan {
                node: self.master_node()?,
                role,
                retryable: read && class.kind != Kind::Other,
                replica_read: false,
                wanted_replica: false,
                session: false,
            },
            Target::Replica => {
                let (node, _) = self.pick_read_node(&[]);
                Plan {
                    node,
                    role,
                    retryable: true,
                    replica_read: true,
                    wanted_replica: true,
                    session: false,
                }
            }
            Target::Session => {
                let node = match role {
                    Role::Master => self.master_node()?,
                    _ => self
                        .last_node
                        .filter(|&i| self.nodes[i].is_some())
                        .unwrap_or_else(|| self.pick_read_node(&[]).0),
                };
                Plan {
                    node,
                    role,
                    retryable: false,
                    replica_read: false,
                    wanted_replica: false,
                    session: true,
                }
            }
        })
    }

    /// Book-keeping after a statement succeeded on `plan.node`; session statements are
    /// then applied to the other nodes held (an error names the node that refused).
    fn after_success(
        &mut self,
        plan: &Plan,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<()> {
        self.track_success(plan, class, sql);
        if plan.session || class.flags.contains(Flags::MULTI) {
            if let Some(sql) = sql {
                self.broadcast_session(plan.node, sql)
                    .map_err(Error::into_diesel)?;
            }
        }
        Ok(())
    }

    /// Pins, temporary tables and writes seen in a statement that succeeded.
    fn track_success(&mut self, plan: &Plan, class: Classification, sql: Option<&str>) {
        let node = plan.node;
        self.last_node = Some(node);
        let is_master = node == self.cluster.shared.master();
        match class.kind {
            Kind::Begin
            | Kind::Commit
            | Kind::Rollback
            | Kind::SetAutocommit
            | Kind::LockTables
            | Kind::UnlockTables
                if self.tx.pinned.is_none() =>
            {
                self.track_raw_pin(node, class, is_master)
            }
            Kind::SetTransaction if !plan.session => self.next_transaction = Some(node),
            Kind::CreateTemporaryTable => {
                if let Some(name) = sql.and_then(classify::target_name) {
                    self.temp_tables
                        .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    self.temp_tables.push((name.to_string(), node));
                }
            }
            Kind::DropTemporaryTable => {
                if let Some(name) = sql.and_then(classify::target_name) {
                    self.temp_tables
                        .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                }
            }
            _ => {}
        }
        if changes_data(class) {
            if self.tx.pinned.is_some() {
                self.tx.wrote = true;
            } else if self.raw.node.is_some() {
                self.raw.wrote = true;
            } else if is_master {
                self.after_write(node);
            }
        }
    }

    /// Follows transaction state created by raw SQL, which Diesel's transaction manager
    /// doesn't see: the connection stays on the node while a raw transaction is open,
    /// `autocommit` is off, or tables are locked.
    fn track_raw_pin(&mut self, node: usize, class: Classification, is_master: bool) {
        let raw = &mut self.raw;
        let mut committed = false;
        match class.kind {
            Kind::Begin => {
                // BEGIN commits an open transaction implicitly.
                committed = raw.in_transaction || raw.autocommit_off;
                raw.in_transaction = true;
            }
            Kind::Commit => {
                committed = true;
                raw.in_transaction = false;
            }
            Kind::Rollback => {
                raw.wrote = false;
                raw.in_transaction = false;
            }
            Kind::SetAutocommit if class.flags.contains(Flags::AUTOCOMMIT_OFF) => {
                raw.autocommit_off = true;
            }
            Kind::SetAutocommit if class.flags.contains(Flags::AUTOCOMMIT_ON) => {
                // Turning autocommit back on commits the open transaction.
                committed = raw.autocommit_off;
                raw.autocommit_off = false;
            }
            Kind::LockTables => raw.tables_locked = true,
            Kind::UnlockTables => raw.tables_locked = false,
            _ => {}
        }
        let wrote = committed && std::mem::take(&mut raw.wrote);
        raw.node = if raw.in_transaction || raw.autocommit_off || raw.tables_locked {
            Some(node)
        } else {
            None
        };
        if wrote && is_master {
            self.after_write(node);
        }
    }

    /// Applies a session statement that ran on `plan.node` to every other node connection
    /// held, and records it for the ones opened later.
    fn broadcast_session(&mut self, executed_on: usize, sql: &str) -> Result<(), Error> {
        let mut first_error = None;
        for stmt in classify::statements(sql)
            .filter(|(s, c)| routing::sets_session_state(*c, Some(s)))
            .map(|(s, _)| s.to_string())
            .collect::<Vec<_>>()
        {
            self.session.record(&stmt);
            for i in 0..self.nodes.len() {
                if i == executed_on || self.nodes[i].is_none() {
                    continue;
                }
                if let Err(e) = self.internal_batch(i, &stmt) {
                    let label = self.cluster.shared.nodes[i].label.clone();
                    log::warn!("session statement failed on {label}: {e}");
                    // A node whose session differs must not serve this connection:
                    // drop it; reopening replays the session and reports the error then.
                    self.nodes[i] = None;
                    first_error.get_or_insert(Error::SessionState {
                        node: label,
                        statement: stmt.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
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
            let on_replica = if self.cluster.shared.has_replicas() {
                plan.node != self.cluster.shared.master()
            } else {
                plan.wanted_replica
            };
            let entry = QueryLogEntry {
                node: self.cluster.shared.nodes[plan.node].name.clone(),
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
        debug_sql: &dyn Fn() -> String,
        mut exec: impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = self.plan(class, sql).map_err(Error::into_diesel)?;
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
                Err(e) => match self.after_failure(&mut plan, &mut tried, e) {
                    Ok(()) => continue,
                    Err(e) => return Err(e),
                },
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
            self.cluster.shared.nodes[plan.node].label
        );
    }

    /// Runs `exec` on node `i` (opening it if needed), with the node's counters.
    fn execute_on<R>(
        &mut self,
        i: usize,
        exec: &mut impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let node = &self.cluster.shared.nodes[i];
        node.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        node.count_statement();
        let result = self.with_node(i, |c| exec(c)).and_then(|r| r);
        self.cluster.shared.nodes[i]
            .outstanding
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if result.is_err() {
            self.cluster.shared.nodes[i].count_error();
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
        let connection_level = nodes::is_connection_error(&error);
        if !connection_level {
            self.last_node = Some(node);
            return Err(error);
        }
        let alive = self.recover_node(node);
        if !plan.retryable || tried.len() >= self.nodes.len() {
            return Err(error);
        }
        tried.push(node);
        let shared = self.cluster.shared.clone();
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
        self.run(class, Some(query), &|| query.to_string(), |c| {
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
        let _master = role::use_master();
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
    /// Temporary-table affinity needs the SQL even when the classification was cached.
    fn sql_if_needed<T: QueryFragment<Mysql>>(
        &self,
        source: &T,
        sql: Option<String>,
        class: Classification,
    ) -> QueryResult<Option<String>> {
        let needed = sql.is_none()
            && (!self.temp_tables.is_empty()
                || matches!(
                    class.kind,
                    Kind::SetSession | Kind::Use | Kind::SetTransaction
                )
                || matches!(
                    class.kind,
                    Kind::CreateTemporaryTable | Kind::DropTemporaryTable
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
            self.cluster.shared.nodes[plan.node].count_statement();
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
                    self.cluster.shared.nodes[plan.node].count_error();
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
            let shared = &self.cluster.shared;
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
            Err(e) if nodes::is_connection_error(&e) => {
                self.recover_node(node);
                Ok(())
            }
            result => result,
        }
    }

    fn is_broken(&mut self) -> bool {
        // Diesel's rule (an open transaction that is not a test transaction, or a
        // transaction manager in error) applied to the pinned node, and to every node
        // connection held; plus raw SQL state (`BEGIN`, `autocommit = 0`, `LOCK TABLES`)
        // that a pool must not hand to the next user.
        self.raw.node.is_some()
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
        role::with_master(|| {
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
        role::with_master(|| {
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
