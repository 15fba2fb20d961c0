//! Diesel's traits on [`ClusterConnection`]: `Connection`, `SimpleConnection`,
//! `LoadConnection`, r2d2's `R2D2Connection`, migrations, `MultiConnection` support and
//! `UpdateAndFetchResults`, each delegating to the routing core.

use diesel::connection::{
    CacheSize, Connection, ConnectionSealed, DefaultLoadingMode, Instrumentation,
    InstrumentationEvent, LoadConnection, MultiConnectionHelper, SimpleConnection,
    TransactionManager,
};
use diesel::expression::QueryMetadata;
use diesel::mysql::{Mysql, MysqlConnection};
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::result::{ConnectionResult, QueryResult};

use super::{ClusterConnection, ClusterTransactionManager, ClusterTransactionState};
use crate::classify;
use crate::cluster::Cluster;
use crate::engine::now;
use crate::role::Role;
use crate::scope;
use crate::transport;

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
    /// share one cluster state, which outlives the last of them by the URL's `linger`
    /// (30 s by default), so connecting per unit of work does not start a new monitor
    /// each time.
    ///
    /// One node is opened before this returns (the master, or in replica role the
    /// replica the first read uses, else the next reachable node): it fails, as
    /// `MysqlConnection::establish` does, with `BadConnection` on a refused login, an
    /// unknown database, or no node reachable, and with `InvalidConnectionUrl` on a bad
    /// URL. Other node connections open when a statement first needs them.
    fn establish(database_url: &str) -> ConnectionResult<Self> {
        let mut instrumentation = diesel::connection::get_default_instrumentation();
        if let Some(i) = instrumentation.as_mut() {
            i.on_connection_event(InstrumentationEvent::start_establish_connection(
                database_url,
            ));
        }
        let cluster = match Cluster::for_url(database_url) {
            Ok(cluster) => cluster,
            Err(e) => {
                let e = diesel::result::ConnectionError::InvalidConnectionUrl(e.to_string());
                if let Some(i) = instrumentation.as_mut() {
                    i.on_connection_event(InstrumentationEvent::finish_establish_connection(
                        database_url,
                        Some(&e),
                    ));
                }
                return Err(e);
            }
        };
        let mut conn = Self::with_instrumentation(cluster, instrumentation);
        let opened = conn
            .open_at_establish()
            .map_err(|e| diesel::result::ConnectionError::BadConnection(e.to_string()));
        if opened.is_err() {
            conn.cluster().establish_failed();
        }
        // As `MysqlConnection` does: the connect is finished once a server answered.
        conn.instrumentation().on_connection_event(
            InstrumentationEvent::finish_establish_connection(database_url, opened.as_ref().err()),
        );
        opened.map(|()| conn)
    }

    fn execute_returning_count<T>(&mut self, source: &T) -> QueryResult<usize>
    where
        T: QueryFragment<Mysql> + QueryId,
    {
        let (class, sql) = self.engine.classify_query(source)?;
        let sql = self.engine.sql_if_needed(source, sql, class)?;
        self.run(
            class,
            sql.as_deref(),
            false,
            &|| diesel::debug_query::<Mysql, _>(source).to_string(),
            |c| c.execute_returning_count(source),
        )
    }

    fn transaction_state(&mut self) -> &mut ClusterTransactionState {
        &mut self.engine.tx
    }

    fn instrumentation(&mut self) -> &mut dyn Instrumentation {
        &mut self.engine.forwarder
    }

    fn set_instrumentation(&mut self, instrumentation: impl Instrumentation) {
        self.engine.hub.set(Box::new(instrumentation));
    }

    fn set_prepared_statement_cache_size(&mut self, size: CacheSize) {
        self.engine.cache_size = Some(size);
        for conn in self.engine.nodes.iter_mut().flatten() {
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
        let (class, sql) = self.engine.classify_query(&source)?;
        let sql = self.engine.sql_if_needed(&source, sql, class)?;
        let debug_sql = || diesel::debug_query::<Mysql, _>(&source).to_string();
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = now(self.engine.first_attempt(class, sql.as_deref()))?;
        loop {
            let started = self.engine.log_clock();
            if let Err(e) = now(self.engine.open(plan.node)) {
                self.engine.log_query(&plan, debug_sql, started, true);
                now(self
                    .engine
                    .next_attempt(&mut plan, &mut tried, class, None, e))?;
                continue;
            }
            self.engine.cluster.topology().nodes[plan.node].count_statement();
            let conn: *mut MysqlConnection = match self.engine.nodes[plan.node].as_deref_mut() {
                Some(c) => c,
                None => return Err(diesel::result::Error::BrokenTransactionManager),
            };
            // SAFETY: `conn` points into `self.engine.nodes`, which is not touched until
            // the reference made here is dead. On `Ok` the cursor keeps borrowing it for
            // `'conn`, and we return at once. On `Err` the error holds no borrow, so `self`
            // may be used again: this is the conditional-return pattern the current borrow
            // checker rejects (NLL problem case #3) though it is sound.
            let result = unsafe { &mut *conn }.load(&source);
            self.engine
                .log_query(&plan, debug_sql, started, result.is_err());
            match result {
                Ok(cursor) => {
                    now(self.engine.after_success(&plan, class, sql.as_deref()))?;
                    // SAFETY: see above; `self` is no longer used after this point.
                    return Ok(cursor);
                }
                Err(e) => {
                    now(self
                        .engine
                        .next_attempt(&mut plan, &mut tried, class, sql.as_deref(), e))?
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
        let node = if self.engine.ambient_now().role == Role::Master {
            match now(self.engine.master_node()) {
                Ok(node) => node,
                Err(_) => return Ok(()),
            }
        } else {
            // The replica this connection last read from, if still open and up: a
            // checkout's ping should not move the shared round-robin counter on.
            let shared = &self.engine.cluster.topology();
            match self.engine.last_node {
                Some(i)
                    if i != shared.master()
                        && self.engine.nodes[i].is_some()
                        && shared.nodes[i].is_up() =>
                {
                    i
                }
                _ => self.engine.pick_read_node(&[]).0,
            }
        };
        // `MysqlConnection`'s own ping: a cached prepared `SELECT 1`, one round trip.
        // `batch_execute` would cost three (it switches multi-statements on and off).
        match self
            .with_node(node, diesel::r2d2::R2D2Connection::ping)
            .and_then(|r| r)
        {
            Err(e) if transport::is_connection_error(&e) => {
                now(self.engine.recover_node(node));
                Ok(())
            }
            result => result,
        }
    }

    /// See `Engine::is_broken`: an open transaction, raw transaction state, a named
    /// lock that may be held, or session state left differing between nodes. r2d2
    /// calls it as the connection comes back: with `replica_affinity` the kept replica
    /// is rebalanced then.
    fn is_broken(&mut self) -> bool {
        self.engine.rebalance_replica();
        self.engine.is_broken()
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
