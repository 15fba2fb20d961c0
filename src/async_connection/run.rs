//! The async statement loop: plan, run on the node, book-keep, and on a failure retry a
//! read elsewhere or report. The decisions are the engine's
//! ([`crate::engine::outcome`]); this is the blocking `connection::run` with `.await`.

use std::sync::atomic::Ordering::Relaxed;

use diesel::mysql::Mysql;
use diesel::result::{Error as DieselError, QueryResult};
use diesel_async::{AsyncConnectionCore, AsyncMysqlConnection, SimpleAsyncConnection};
use futures_util::{StreamExt, TryStreamExt};

use super::collected::Owned;
use super::link::severable;
use super::AsyncClusterConnection;
use crate::classify::Classification;
use crate::engine::{Plan, Quick};
use crate::topology::node::Node;
use crate::topology::Topology;

/// A node's rows, as diesel-async's MySQL connection streams them.
pub(crate) type Rows<'conn> = <AsyncMysqlConnection as AsyncConnectionCore>::Stream<'conn, 'static>;

/// Counts a statement in flight on a node until dropped (also when its future is).
struct InFlight<'a>(&'a Node);

impl InFlight<'_> {
    fn new(topology: &Topology, node: usize) -> InFlight<'_> {
        let n = &topology.nodes[node];
        n.outstanding.fetch_add(1, Relaxed);
        n.count_statement();
        InFlight(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Relaxed);
    }
}

/// What to run on the chosen node.
enum Work<'a, I> {
    Count(&'a Owned<I>),
    Batch(&'a str),
}

impl AsyncClusterConnection {
    /// A statement that returns no rows (or a batch), from start to end, with the
    /// cancellation mark around it.
    pub(super) async fn run_count<I: 'static>(
        &mut self,
        class: Classification,
        owned: &Owned<I>,
    ) -> QueryResult<usize> {
        self.start()?;
        let result = self.run(class, Work::Count(owned)).await;
        self.finish();
        result
    }

    pub(super) async fn run_batch(&mut self, sql: &str) -> QueryResult<()> {
        self.start()?;
        let class = crate::classify::classify(sql);
        let result = self.run::<()>(class, Work::Batch(sql)).await.map(drop);
        self.finish();
        result
    }

    async fn run<I: 'static>(
        &mut self,
        class: Classification,
        work: Work<'_, I>,
    ) -> QueryResult<usize> {
        let (sql, text) = match &work {
            Work::Count(owned) => (owned.sql(), false),
            Work::Batch(sql) => (*sql, true),
        };
        // As on the blocking connection: the SQL only where routing reads it.
        let sql = (text || self.engine.needs_sql(class)).then_some(sql);
        let mut tried: Vec<usize> = Vec::new();
        // `Engine::first_attempt`, with its common case in this future's own code.
        let mut plan = match self.engine.quick_attempt(class, sql)? {
            Quick::Ready(plan) => plan,
            Quick::Slow(slow) => Box::pin(self.engine.slow_attempt(slow, class, sql)).await?,
        };
        plan.text = text;
        loop {
            let started = self.engine.log_clock();
            let result = self.execute_on(plan.node, &work).await;
            self.engine
                .log_query(&plan, || debug_sql(&work), started, result.is_err());
            match result {
                Ok(value) => {
                    self.engine.after_success(&plan, class, sql).await?;
                    return Ok(value);
                }
                Err(e) => {
                    Box::pin(
                        self.engine
                            .next_attempt(&mut plan, &mut tried, class, sql, e),
                    )
                    .await?
                }
            }
        }
    }

    async fn execute_on<I: 'static>(&mut self, i: usize, work: &Work<'_, I>) -> QueryResult<usize> {
        if !self.engine.is_ready(i) {
            // Rare next to statements: in a future of its own.
            Box::pin(self.engine.open(i)).await?;
        }
        let _in_flight = InFlight::new(self.engine.cluster.topology(), i);
        let (conn, watched) = self.engine.nodes[i].as_mut().ok_or_else(broken)?.split();
        match work {
            Work::Count(Owned::Static(q)) => {
                severable(watched, conn.execute_returning_count(q)).await
            }
            Work::Count(Owned::Dynamic(q)) => {
                severable(watched, conn.execute_returning_count(q)).await
            }
            Work::Batch(sql) => severable(watched, conn.batch_execute(sql))
                .await
                .map(|()| 0),
        }
    }

    /// A query that returns rows: plans it, runs it, and hands out the node's stream.
    pub(super) async fn run_load<I: 'static>(
        &mut self,
        class: Classification,
        owned: Owned<I>,
    ) -> QueryResult<Rows<'_>> {
        self.start()?;
        let result = self.load_rows(class, &owned).await;
        self.finish();
        // The stream borrows a node connection: from here for the caller's borrow of
        // `self` (see `load_rows`).
        result
    }

    /// [`run_load`](Self::run_load) between the cancellation marks, in one future: the
    /// common path (a plan decided with no I/O, the node open, the query started, pins
    /// tracked) awaits only the node. The rest (a slow plan, connecting, a retry, a
    /// query that set session state) runs in boxed futures of its own.
    ///
    /// The stream it returns borrows the node connection, for as long as the caller's
    /// borrow of `self` (`'conn` in `load`). It is typed `'static` only to leave this
    /// function, past `run_load`'s `finish`, which touches no node connection; on `Err`
    /// nothing borrows a node connection. This is the conditional return of a borrow
    /// that the borrow checker rejects (NLL problem case #3) though it is sound; the
    /// blocking connection's `load` does the same.
    async fn load_rows<I: 'static>(
        &mut self,
        class: Classification,
        owned: &Owned<I>,
    ) -> QueryResult<Rows<'static>> {
        let sql = self.engine.needs_sql(class).then_some(owned.sql());
        let mut tried: Vec<usize> = Vec::new();
        let mut plan = match self.engine.quick_attempt(class, sql)? {
            Quick::Ready(plan) => plan,
            Quick::Slow(slow) => Box::pin(self.engine.slow_attempt(slow, class, sql)).await?,
        };
        loop {
            let started = self.engine.log_clock();
            // A failure to open the node, or of the statement, goes to `next_attempt`
            // alike (a read may be retried elsewhere).
            let result = 'run: {
                if !self.engine.is_ready(plan.node) {
                    // Rare next to statements: in a future of its own.
                    if let Err(e) = Box::pin(self.engine.open(plan.node)).await {
                        break 'run Err(e);
                    }
                }
                let _in_flight = InFlight::new(self.engine.cluster.topology(), plan.node);
                let Some(node) = self.engine.nodes[plan.node].as_mut() else {
                    break 'run Err(broken());
                };
                let (conn, watched) = node.split();
                let conn = ConnPtr(conn);
                // SAFETY: see the function's doc; `self.engine.nodes` is not touched
                // while this reference is alive, other than through it.
                let conn: &'static mut AsyncMysqlConnection = unsafe { &mut *conn.0 };
                match owned {
                    Owned::Static(q) => severable(watched, conn.load(q)).await,
                    Owned::Dynamic(q) => severable(watched, conn.load(q)).await,
                }
            };
            self.engine.log_query(
                &plan,
                || debug_sql(&Work::Count(owned)),
                started,
                result.is_err(),
            );
            match result {
                Ok(rows) if !plan.session => {
                    self.engine.track_success(plan.node, class, sql);
                    return Ok(rows);
                }
                Ok(rows) => return Box::pin(self.loaded_session(&plan, class, sql, rows)).await,
                Err(e) => {
                    Box::pin(
                        self.engine
                            .next_attempt(&mut plan, &mut tried, class, sql, e),
                    )
                    .await?
                }
            }
        }
    }

    /// After a query that sets session state (`SELECT @a := ..`) started on its node:
    /// reads it to its end, then the values it set are read back from that node and
    /// applied to the others.
    async fn loaded_session(
        &mut self,
        plan: &Plan,
        class: Classification,
        sql: Option<&str>,
        rows: Rows<'static>,
    ) -> QueryResult<Rows<'static>> {
        let all: Vec<_> = rows.try_collect().await?;
        self.engine.after_success(plan, class, sql).await?;
        Ok(futures_util::stream::iter(all.into_iter().map(Ok)).boxed())
    }
}

/// The error for a node slot found empty where a statement was planned: it can't happen
/// unless the engine's book-keeping is wrong. Made only then (`ok_or` would build and
/// drop one for every statement).
#[cold]
fn broken() -> DieselError {
    DieselError::BrokenTransactionManager
}

/// A node connection's address, moved across an `.await` (see `load_on`).
struct ConnPtr(*mut AsyncMysqlConnection);
// SAFETY: it points into the connection that is borrowed mutably for the whole future.
unsafe impl Send for ConnPtr {}

/// The statement with its binds, for the query log.
fn debug_sql<I>(work: &Work<'_, I>) -> String {
    match work {
        Work::Count(Owned::Static(q)) => diesel::debug_query::<Mysql, _>(q).to_string(),
        Work::Count(Owned::Dynamic(q)) => diesel::debug_query::<Mysql, _>(q).to_string(),
        Work::Batch(sql) => sql.to_string(),
    }
}
