//! diesel-async's traits on [`AsyncClusterConnection`]: `SimpleAsyncConnection`,
//! `AsyncConnectionCore`, `AsyncConnection`, its `TransactionManager`, and the pools'
//! `PoolableConnection`, each delegating to the engine.

use std::future::Future;

use diesel::connection::{CacheSize, Instrumentation, InstrumentationEvent};
use diesel::mysql::Mysql;
use diesel::query_builder::{AsQuery, QueryFragment, QueryId};
use diesel::result::{ConnectionResult, QueryResult};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection,
};
use diesel_async::{
    AsyncConnection, AsyncConnectionCore, AsyncMysqlConnection, SimpleAsyncConnection,
    TransactionManager,
};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::collected::{collect, Owned};
use super::run::Rows;
use super::AsyncClusterConnection;
use crate::cluster::Cluster;
use crate::engine::ClusterTransactionState;

impl SimpleAsyncConnection for AsyncClusterConnection {
    fn batch_execute(&mut self, query: &str) -> impl Future<Output = QueryResult<()>> + Send {
        self.run_batch(query)
    }
}

impl AsyncClusterConnection {
    /// Renders and classifies a query before any `.await` (see `collected`).
    fn prepare<T: QueryFragment<Mysql> + QueryId>(
        &mut self,
        query: &T,
    ) -> QueryResult<(crate::classify::Classification, Owned<T::QueryId>)> {
        let (owned, class) = collect(query, &mut self.sql_cache)?;
        let class = match class {
            Some(class) => class,
            None => self.engine.classify_rendered::<T>(owned.sql()),
        };
        Ok((class, owned))
    }
}

impl AsyncConnectionCore for AsyncClusterConnection {
    type ExecuteFuture<'conn, 'query> = BoxFuture<'conn, QueryResult<usize>>;
    type LoadFuture<'conn, 'query> = BoxFuture<'conn, QueryResult<Self::Stream<'conn, 'query>>>;
    type Stream<'conn, 'query> = Rows<'conn>;
    type Row<'conn, 'query> = <AsyncMysqlConnection as AsyncConnectionCore>::Row<'conn, 'query>;
    type Backend = Mysql;

    fn load<'conn, 'query, T>(&'conn mut self, source: T) -> Self::LoadFuture<'conn, 'query>
    where
        T: AsQuery + 'query,
        T::Query: QueryFragment<Mysql> + QueryId + 'query,
    {
        let prepared = self.prepare(&source.as_query());
        async move {
            let (class, owned) = prepared?;
            self.run_load(class, owned).await
        }
        .boxed()
    }

    fn execute_returning_count<'conn, 'query, T>(
        &'conn mut self,
        source: T,
    ) -> Self::ExecuteFuture<'conn, 'query>
    where
        T: QueryFragment<Mysql> + QueryId + 'query,
    {
        let prepared = self.prepare(&source);
        async move {
            let (class, owned) = prepared?;
            self.run_count(class, &owned).await
        }
        .boxed()
    }
}

impl AsyncConnection for AsyncClusterConnection {
    type TransactionManager = AsyncClusterTransactionManager;

    /// Connects to the cluster named by a multi-host URL, as
    /// [`ClusterConnection::establish`](diesel::Connection::establish) does (same URL,
    /// same shared cluster per URL, one node opened first, the same errors).
    async fn establish(database_url: &str) -> ConnectionResult<Self> {
        let mut instrumentation = diesel::connection::get_default_instrumentation();
        if let Some(i) = instrumentation.as_mut() {
            i.on_connection_event(InstrumentationEvent::start_establish_connection(
                database_url,
            ));
        }
        let cluster = Cluster::for_url(database_url)
            .map_err(|e| diesel::result::ConnectionError::InvalidConnectionUrl(e.to_string()));
        let result = match cluster {
            Ok(cluster) => {
                let mut conn = AsyncClusterConnection::new(cluster);
                match conn.open_at_establish().await {
                    Ok(()) => Ok(conn),
                    Err(e) => {
                        conn.cluster().establish_failed();
                        Err(diesel::result::ConnectionError::BadConnection(
                            e.to_string(),
                        ))
                    }
                }
            }
            Err(e) => Err(e),
        };
        if let Some(i) = instrumentation.as_mut() {
            i.on_connection_event(InstrumentationEvent::finish_establish_connection(
                database_url,
                result.as_ref().err(),
            ));
        }
        if let (Ok(conn), Some(i)) = (&result, instrumentation) {
            conn.engine.hub.set(i);
        }
        result
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
        for node in self.engine.nodes.iter_mut().flatten() {
            node.conn.set_prepared_statement_cache_size(size);
        }
    }
}

/// The diesel-async `TransactionManager` of [`AsyncClusterConnection`]: transactions
/// pinned to the node where they begin, as on the blocking connection.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct AsyncClusterTransactionManager;

impl TransactionManager<AsyncClusterConnection> for AsyncClusterTransactionManager {
    type TransactionStateData = ClusterTransactionState;

    async fn begin_transaction(conn: &mut AsyncClusterConnection) -> QueryResult<()> {
        conn.start()?;
        let result = conn.engine.begin_transaction().await;
        conn.finish();
        result
    }

    async fn rollback_transaction(conn: &mut AsyncClusterConnection) -> QueryResult<()> {
        conn.start()?;
        let result = conn.engine.rollback_transaction().await;
        conn.finish();
        result
    }

    async fn commit_transaction(conn: &mut AsyncClusterConnection) -> QueryResult<()> {
        conn.start()?;
        let result = conn.engine.commit_transaction().await;
        conn.finish();
        result
    }

    fn transaction_manager_status_mut(
        conn: &mut AsyncClusterConnection,
    ) -> &mut diesel::connection::TransactionManagerStatus {
        conn.engine.transaction_status_mut()
    }

    fn is_broken_transaction_manager(conn: &mut AsyncClusterConnection) -> bool {
        conn.engine.transaction_manager_broken()
    }
}

impl PoolableConnection for AsyncClusterConnection {
    /// Whether the pool must drop this connection: as the blocking connection's
    /// `is_broken` (an open transaction, raw transaction state, a named lock, session
    /// state left differing between nodes), or a future of it cancelled where its
    /// sessions held state (see the type's docs). bb8 and deadpool call it when a
    /// connection comes back or before they hand it out again: the role given with
    /// [`set_role`](AsyncClusterConnection::set_role) ends here.
    fn is_broken(&mut self) -> bool {
        self.engine.own_role = None;
        self.engine.rebalance_replica();
        self.cancelled_beyond_repair() || self.engine.is_broken()
    }
}

impl Cluster {
    /// A diesel-async connection manager (for bb8 or deadpool) whose connections share
    /// this cluster's state (feature `async`). Each new pooled connection opens one
    /// node, as [`AsyncClusterConnection::establish`](AsyncConnection::establish) does.
    pub fn async_manager(&self) -> AsyncDieselConnectionManager<AsyncClusterConnection> {
        let cluster = self.clone();
        let mut config = ManagerConfig::default();
        config.custom_setup = Box::new(move |_url: &str| -> BoxFuture<'_, _> {
            let cluster = cluster.clone();
            async move {
                let mut conn = cluster.connect_async();
                conn.open_at_establish()
                    .await
                    .map_err(|e| diesel::result::ConnectionError::BadConnection(e.to_string()))?;
                Ok(conn)
            }
            .boxed()
        });
        // The URL is not used: the cluster knows its nodes.
        AsyncDieselConnectionManager::new_with_config("mysql://cluster", config)
    }
}
