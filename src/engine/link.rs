//! What the engine needs from one node connection, blocking or not.
//!
//! The engine's I/O is written once, as `async` code over a [`Link`]. The async
//! connection's link awaits `AsyncMysqlConnection`; the blocking connection's link runs
//! `MysqlConnection` calls inside futures that are ready at their first poll, and
//! [`now`] drives them to the end on the calling thread. So every decision between two
//! round trips (a causal wait, a session replay, a reconnect) has one copy.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use diesel::connection::{CacheSize, TransactionManagerStatus};
use diesel::result::QueryResult;

use super::causal::{PositionQuery, WaitQuery};
use crate::config::Config;
use crate::instrument::Hub;
use crate::topology::node::Node;
use crate::topology::Topology;
use crate::url::NodeAddress;

/// One node connection, as the engine drives it.
///
/// Every method's future is `Send`, so the async connection's futures are. Internal
/// statements (the ones the library sends for itself) come through `batch`, `execute`,
/// `positions`, `gtid_wait` and `read_row`; the caller mutes instrumentation around them.
pub(crate) trait Link: Send + Sized + 'static {
    /// Scopes come from the task (`crate::task`), not from the thread.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    const TASK_SCOPED: bool;

    /// Opens a connection to `address` (one of `node`'s), bounded by the config's
    /// connect timeout. The error is a message without the password.
    fn open(
        node: &Node,
        address: &NodeAddress,
        config: &Config,
    ) -> impl Future<Output = Result<Self, String>> + Send;

    /// Whether `address` answers a fresh connection (closed at once).
    fn answers(
        address: &NodeAddress,
        config: &Config,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Looks for a new master after the master was ejected (see
    /// [`crate::failover::rediscover`], which blocks: the async link runs it off the
    /// runtime's threads).
    fn rediscover(topology: &Arc<Topology>) -> impl Future<Output = Option<usize>> + Send;

    /// Waits, without blocking a thread, for the monitor's first round (see
    /// `FirstRound`); the blocking link needn't (the replica choice waits itself).
    fn first_round(topology: &Arc<Topology>) -> impl Future<Output = ()> + Send;

    /// Sends this connection's events to the hub.
    fn forward_to(&mut self, hub: &Arc<Hub>);
    fn set_cache_size(&mut self, size: CacheSize);

    /// Runs SQL as text (`batch_execute`).
    fn batch(&mut self, sql: &str) -> impl Future<Output = QueryResult<()>> + Send;
    /// Runs SQL as a prepared statement.
    fn execute(&mut self, sql: &str) -> impl Future<Output = QueryResult<()>> + Send;
    /// The write and binlog positions (`SELECT @@last_gtid, @@gtid_binlog_pos`, or
    /// Galera's), prepared once per connection.
    fn positions(
        &mut self,
        query: PositionQuery,
    ) -> impl Future<Output = QueryResult<(Option<String>, Option<String>)>> + Send;
    /// `SELECT MASTER_GTID_WAIT(position, timeout)` (or Galera's wait).
    fn gtid_wait(
        &mut self,
        query: WaitQuery,
    ) -> impl Future<Output = QueryResult<Option<i64>>> + Send;
    /// The first row of `sql` (`columns` columns) as SQL literals.
    fn read_row(
        &mut self,
        sql: String,
        columns: usize,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send;

    /// Diesel's transaction manager on this node connection.
    fn begin(&mut self) -> impl Future<Output = QueryResult<()>> + Send;
    fn commit(&mut self) -> impl Future<Output = QueryResult<()>> + Send;
    fn rollback(&mut self) -> impl Future<Output = QueryResult<()>> + Send;
    fn transaction_status(&mut self) -> &mut TransactionManagerStatus;
    /// Diesel's own "must a pool drop it" for this node connection.
    fn is_broken(&mut self) -> bool;

    /// Takes the connection's socket out of the watchdog's reach (after a
    /// connection-level error).
    fn forget_socket(&mut self);
}

/// Runs a future that never waits (the blocking link's) to its end on this thread.
///
/// A blocking link's future does its work at the first poll and is ready then; the loop
/// is only there so that a future that returned `Pending` anyway is polled again rather
/// than lost.
#[inline]
pub(crate) fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}
