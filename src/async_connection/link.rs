//! The async node link: an `AsyncMysqlConnection` whose every wait is bounded with
//! tokio's timers, with no thread of its own.
//!
//! * Opening: `connect_timeout` (the whole handshake and Diesel's set-up statements).
//! * The library's own statements (GTID reads, session replays, read backs):
//!   `network_timeout`; a causal wait: the causal timeout plus `network_timeout`.
//! * The user's statements have no time limit of their own (a long query is not a
//!   failure); they end when the monitor finds the node hung and severs it
//!   (`Sockets::severed_since`), as the blocking connection's sockets are shut
//!   down then, and TCP keepalive ends them on a host that vanished.
//!
//! A bound that expires drops the statement's future: the node connection is in an
//! unknown state, so the error is a connection-level one ("lost connection to ..."),
//! and the engine replaces or ejects the node as after any lost connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use diesel::connection::{CacheSize, TransactionManagerStatus};
use diesel::result::{DatabaseErrorKind, Error as DieselError, QueryResult};
use diesel::row::{Field, Row};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncConnectionCore, AsyncMysqlConnection,
    RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use futures_util::StreamExt;

use crate::config::Config;
use crate::engine::causal::{PositionQuery, WaitQuery};
use crate::engine::Link;
use crate::instrument::{Forwarder, Hub};
use crate::session;
use crate::topology::node::Node;
use crate::topology::Topology;
use crate::transport::watchdog::{Sockets, Watch};
use crate::url::NodeAddress;

/// One node connection of an `AsyncClusterConnection`.
pub(crate) struct AsyncNode {
    pub(crate) conn: AsyncMysqlConnection,
    sockets: Arc<Sockets>,
    /// This connection's waker slot in `sockets`.
    watch: Arc<Watch>,
    label: Arc<str>,
    network_timeout: Duration,
}

/// What a [`Severable`] watches: the node's sockets, the connection's waker slot, and the
/// node's name for the error. Borrowed from the [`AsyncNode`], so a statement clones
/// nothing.
#[derive(Clone, Copy)]
pub(crate) struct Watched<'a> {
    sockets: &'a Sockets,
    watch: &'a Watch,
    label: &'a str,
}

/// A connection-level error for a wait that ran out of time.
fn lost(label: &str, what: &str, after: Duration) -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(format!(
            "lost connection to {label}: {what} got no answer within {after:?}"
        )),
    )
}

/// mysql_async's URL for one node: the same account and database, TCP only (it would
/// otherwise move a loopback connection to the server's Unix socket), keepalive on.
fn async_url(address: &NodeAddress, config: &Config) -> String {
    let mut url = address.connection_url();
    let keepalive = config.network_timeout.as_millis().clamp(1000, 60_000);
    for (key, value) in [
        ("prefer_socket", "false".to_string()),
        ("tcp_keepalive", keepalive.to_string()),
    ] {
        // The URL's own setting wins.
        if !address.client_options.iter().any(|(k, _)| k == key) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

/// Opens `address`, bounded by `connect_timeout`; the message never holds the password.
async fn connect(address: &NodeAddress, config: &Config) -> Result<AsyncMysqlConnection, String> {
    let url = async_url(address, config);
    let host = address.host_port();
    match tokio::time::timeout(
        config.connect_timeout,
        AsyncMysqlConnection::establish(&url),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => {
            let message = e.to_string();
            let password = address.password.expose();
            let message = if password.is_empty() {
                message
            } else {
                message.replace(password, "***")
            };
            Err(format!("can't connect to {host}: {message}"))
        }
        Err(_) => Err(format!(
            "can't connect to {host}: timed out after {:?} (connect_timeout)",
            config.connect_timeout
        )),
    }
}

/// Runs one of the library's own statements within `after`.
async fn within<T>(
    label: &str,
    what: &str,
    after: Duration,
    op: impl Future<Output = QueryResult<T>>,
) -> QueryResult<T> {
    match tokio::time::timeout(after, op).await {
        Ok(result) => result,
        Err(_) => Err(lost(label, what, after)),
    }
}

/// A user statement's future, failing with a lost connection when the monitor severs
/// the node.
pub(crate) fn severable<F: Future<Output = QueryResult<T>>, T>(
    watched: Watched<'_>,
    inner: F,
) -> Severable<'_, F> {
    Severable {
        inner,
        generation: watched.sockets.generation(),
        watched,
        registered: false,
    }
}

impl AsyncNode {
    /// The node connection, and what a [`severable`] statement on it watches.
    pub(crate) fn split(&mut self) -> (&mut AsyncMysqlConnection, Watched<'_>) {
        let watched = Watched {
            sockets: &self.sockets,
            watch: &self.watch,
            label: &self.label,
        };
        (&mut self.conn, watched)
    }
}

pin_project_lite::pin_project! {
    /// See [`severable`].
    pub(crate) struct Severable<'a, F> {
        #[pin]
        inner: F,
        generation: u64,
        watched: Watched<'a>,
        registered: bool,
    }

    impl<F> PinnedDrop for Severable<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            if this.registered {
                this.watched.watch.clear();
            }
        }
    }
}

impl<F: Future<Output = QueryResult<T>>, T> Future for Severable<'_, F> {
    type Output = QueryResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<QueryResult<T>> {
        let this = self.project();
        if let Poll::Ready(v) = this.inner.poll(cx) {
            return Poll::Ready(v);
        }
        let watched = *this.watched;
        *this.registered = true;
        if watched
            .sockets
            .severed_since(*this.generation, watched.watch, cx.waker())
        {
            return Poll::Ready(Err(severed(watched.label)));
        }
        Poll::Pending
    }
}

/// The error of a statement cut by the monitor's sever.
#[cold]
fn severed(label: &str) -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(format!(
            "lost connection to {label}: the node stopped answering (the monitor ejected it)"
        )),
    )
}

impl Link for AsyncNode {
    const TASK_SCOPED: bool = true;

    async fn open(node: &Node, address: &NodeAddress, config: &Config) -> Result<Self, String> {
        Ok(AsyncNode {
            conn: connect(address, config).await?,
            sockets: node.sockets.clone(),
            watch: node.sockets.watch(),
            label: node.label.as_str().into(),
            network_timeout: config.network_timeout,
        })
    }

    async fn answers(address: &NodeAddress, config: &Config) -> Result<(), String> {
        connect(address, config).await.map(drop)
    }

    async fn rediscover(topology: &Arc<Topology>) -> Option<usize> {
        if topology.config.kind == crate::galera::ClusterKind::Galera {
            // A choice among what the monitor saw, no I/O: no blocking thread needed.
            return crate::failover::rediscover(topology);
        }
        // It connects to the nodes with the blocking client: off the runtime's threads.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let topology = topology.clone();
                handle
                    .spawn_blocking(move || crate::failover::rediscover(&topology))
                    .await
                    .ok()
                    .flatten()
            }
            Err(_) => crate::failover::rediscover(topology),
        }
    }

    async fn first_round(topology: &Arc<Topology>) {
        // A `Bounded` replica read right after the cluster was built waits for the
        // replicas' lag (a few ms, at most the grace period): polled, so no runtime
        // thread waits on the monitor's condition variable.
        while let Some(until) = topology.first_round.pending() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            tokio::time::sleep(left.min(Duration::from_millis(2))).await;
        }
    }

    fn forward_to(&mut self, hub: &Arc<Hub>) {
        self.conn.set_instrumentation(Forwarder(hub.clone()));
    }

    fn set_cache_size(&mut self, size: CacheSize) {
        self.conn.set_prepared_statement_cache_size(size);
    }

    async fn batch(&mut self, sql: &str) -> QueryResult<()> {
        let op = self.conn.batch_execute(sql);
        within(&self.label, "a session statement", self.network_timeout, op).await
    }

    async fn execute(&mut self, sql: &str) -> QueryResult<()> {
        let op = RunQueryDsl::execute(diesel::sql_query(sql), &mut self.conn);
        within(&self.label, "a session statement", self.network_timeout, op)
            .await
            .map(drop)
    }

    async fn positions(
        &mut self,
        query: PositionQuery,
    ) -> QueryResult<(Option<String>, Option<String>)> {
        let op = RunQueryDsl::get_result(query, &mut self.conn);
        within(
            &self.label,
            "reading the GTID position",
            self.network_timeout,
            op,
        )
        .await
    }

    async fn gtid_wait(&mut self, query: WaitQuery) -> QueryResult<Option<i64>> {
        let after = Duration::from_secs_f64(query.timeout.max(0.0)) + self.network_timeout;
        let op = RunQueryDsl::get_result(query, &mut self.conn);
        within(&self.label, "a GTID wait", after, op).await
    }

    async fn read_row(&mut self, sql: String, columns: usize) -> Result<Vec<String>, String> {
        let after = self.network_timeout;
        let read = async {
            let mut rows = AsyncConnectionCore::load(&mut self.conn, diesel::sql_query(sql))
                .await
                .map_err(|e| e.to_string())?;
            let row = rows
                .next()
                .await
                .ok_or_else(|| "no row".to_string())?
                .map_err(|e| e.to_string())?;
            (0..columns)
                .map(|c| {
                    let field = row.get(c).ok_or_else(|| format!("no column {c}"))?;
                    session::literal(field.value())
                })
                .collect()
        };
        match tokio::time::timeout(after, read).await {
            Ok(result) => result,
            Err(_) => Err(lost(&self.label, "a read back", after).to_string()),
        }
    }

    async fn begin(&mut self) -> QueryResult<()> {
        let op = AnsiTransactionManager::begin_transaction(&mut self.conn);
        within(&self.label, "BEGIN", self.network_timeout, op).await
    }

    async fn commit(&mut self) -> QueryResult<()> {
        let (conn, watched) = self.split();
        severable(watched, AnsiTransactionManager::commit_transaction(conn)).await
    }

    async fn rollback(&mut self) -> QueryResult<()> {
        let (conn, watched) = self.split();
        severable(watched, AnsiTransactionManager::rollback_transaction(conn)).await
    }

    fn transaction_status(&mut self) -> &mut TransactionManagerStatus {
        <AnsiTransactionManager as TransactionManager<AsyncMysqlConnection>>::transaction_manager_status_mut(
            &mut self.conn,
        )
    }

    fn is_broken(&mut self) -> bool {
        PoolableConnection::is_broken(&mut self.conn)
    }

    fn forget_socket(&mut self) {}
}
