//! The blocking node link: `MysqlConnection` calls inside futures that are ready at
//! their first poll (see [`crate::engine::link`]).

use std::sync::Arc;

use diesel::connection::{
    AnsiTransactionManager, CacheSize, Connection, DefaultLoadingMode, LoadConnection,
    SimpleConnection, TransactionManager, TransactionManagerStatus,
};
use diesel::result::QueryResult;
use diesel::row::{Field, Row};
use diesel::RunQueryDsl;

use crate::config::Config;
use crate::engine::causal::{PositionQuery, WaitQuery};
use crate::engine::Link;
use crate::instrument::{Forwarder, Hub};
use crate::session;
use crate::topology::node::Node;
use crate::topology::Topology;
use crate::transport::{connect_node, NodeConn};
use crate::url::NodeAddress;

impl Link for NodeConn {
    const TASK_SCOPED: bool = false;

    async fn open(node: &Node, address: &NodeAddress, config: &Config) -> Result<Self, String> {
        connect_node(address, config.connect_timeout, config.network_timeout)
            .map(|c| NodeConn::registered(c, &node.sockets))
    }

    async fn answers(address: &NodeAddress, config: &Config) -> Result<(), String> {
        connect_node(address, config.connect_timeout, config.network_timeout).map(drop)
    }

    async fn rediscover(topology: &Arc<Topology>) -> Option<usize> {
        crate::failover::rediscover(topology)
    }

    async fn first_round(_topology: &Arc<Topology>) {}

    fn forward_to(&mut self, hub: &Arc<Hub>) {
        self.set_instrumentation(Forwarder(hub.clone()));
    }

    fn set_cache_size(&mut self, size: CacheSize) {
        self.set_prepared_statement_cache_size(size);
    }

    async fn batch(&mut self, sql: &str) -> QueryResult<()> {
        self.batch_execute(sql)
    }

    async fn execute(&mut self, sql: &str) -> QueryResult<()> {
        diesel::sql_query(sql).execute(&mut **self).map(drop)
    }

    async fn positions(
        &mut self,
        query: PositionQuery,
    ) -> QueryResult<(Option<String>, Option<String>)> {
        query.get_result(&mut **self)
    }

    async fn gtid_wait(&mut self, query: WaitQuery) -> QueryResult<Option<i64>> {
        query.get_result(&mut **self)
    }

    async fn read_row(&mut self, sql: String, columns: usize) -> Result<Vec<String>, String> {
        let mut rows =
            LoadConnection::<DefaultLoadingMode>::load(&mut **self, diesel::sql_query(sql))
                .map_err(|e| e.to_string())?;
        let row = rows
            .next()
            .ok_or_else(|| "no row".to_string())?
            .map_err(|e| e.to_string())?;
        (0..columns)
            .map(|c| {
                let field = row.get(c).ok_or_else(|| format!("no column {c}"))?;
                session::literal(field.value())
            })
            .collect()
    }

    async fn begin(&mut self) -> QueryResult<()> {
        AnsiTransactionManager::begin_transaction(&mut **self)
    }

    async fn commit(&mut self) -> QueryResult<()> {
        AnsiTransactionManager::commit_transaction(&mut **self)
    }

    async fn rollback(&mut self) -> QueryResult<()> {
        AnsiTransactionManager::rollback_transaction(&mut **self)
    }

    fn transaction_status(&mut self) -> &mut TransactionManagerStatus {
        AnsiTransactionManager::transaction_manager_status_mut(&mut **self)
    }

    fn is_broken(&mut self) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(&mut **self)
    }

    fn forget_socket(&mut self) {
        NodeConn::forget_socket(self);
    }
}
