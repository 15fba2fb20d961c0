//! The blocking statement loop: plan, run on the node, book-keep, and on a failure
//! retry a read elsewhere or report (the decisions are the engine's, see
//! [`crate::engine::outcome`]).

use diesel::mysql::MysqlConnection;
use diesel::result::QueryResult;

use super::ClusterConnection;
use crate::classify::Classification;
use crate::engine::now;

impl ClusterConnection {
    /// The whole life of one statement that returns no rows: classify, route, run,
    /// retry a read elsewhere after a connection-level failure, book-keep.
    pub(super) fn run<R>(
        &mut self,
        class: Classification,
        sql: Option<&str>,
        text: bool,
        debug_sql: &dyn Fn() -> String,
        mut exec: impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = now(self.engine.first_attempt(class, sql))?;
        plan.text = text;
        loop {
            let started = self.engine.log_clock();
            let result = self.execute_on(plan.node, &mut exec);
            self.engine
                .log_query(&plan, debug_sql, started, result.is_err());
            match result {
                Ok(value) => {
                    now(self.engine.after_success(&plan, class, sql))?;
                    return Ok(value);
                }
                Err(e) => now(self
                    .engine
                    .next_attempt(&mut plan, &mut tried, class, sql, e))?,
            }
        }
    }

    /// Runs `exec` on node `i` (opening it if needed), with the node's counters.
    fn execute_on<R>(
        &mut self,
        i: usize,
        exec: &mut impl FnMut(&mut MysqlConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        let node = &self.engine.cluster.topology().nodes[i];
        node.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        node.count_statement();
        let result = self.with_node(i, |c| exec(c)).and_then(|r| r);
        self.engine.cluster.topology().nodes[i]
            .outstanding
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Runs `f` on node `i`'s connection, opening it first if needed. The outer result
    /// is the open's.
    pub(super) fn with_node<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut MysqlConnection) -> R,
    ) -> QueryResult<R> {
        now(self.engine.open(i))?;
        match self.engine.nodes[i].as_deref_mut() {
            Some(conn) => Ok(f(conn)),
            None => Err(diesel::result::Error::BrokenTransactionManager),
        }
    }
}
