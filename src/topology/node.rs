//! One node of the cluster as every connection of the cluster sees it: its address, its
//! health (up, ejected until some time, lag) and its counters. Lock-free: the hot path
//! reads a few atomics.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::consistency::ConsistencyToken;
use crate::url::NodeAddress;

mod glance;

pub(crate) use glance::Needs;

/// Lag value meaning "unknown or replication stopped" (`Seconds_Behind_Master` is NULL).
pub(crate) const LAG_UNKNOWN: u64 = u64::MAX;

/// Lag value meaning "not measured yet": the monitor has not looked (or is off).
const LAG_NOT_MEASURED: u64 = u64::MAX - 1;

/// A node's shared state.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) address: NodeAddress,
    /// `name (host:port)`, precomputed for logs and errors.
    pub(crate) label: String,
    pub(crate) weight: u32,
    /// The same address with the configured master's credentials, when this node's own
    /// credentials differ (e.g. a replica with a read-only account). Connections use it
    /// while this node is the cluster's master, so a promoted replica takes writes.
    pub(crate) writer_address: Option<NodeAddress>,
    /// Nanoseconds since `epoch` until which the node is ejected; 0 = not ejected.
    ejected_until: AtomicU64,
    /// Replication lag in milliseconds as last seen by the monitor; `LAG_UNKNOWN` when
    /// replication is stopped, `LAG_NOT_MEASURED` until the monitor has looked.
    lag_ms: AtomicU64,
    /// Whether the monitor found the replica too far behind (or stopped).
    lagging: AtomicBool,
    /// Whether the replica was found behind the master's last heartbeat: its lag then
    /// counts as growing with the time since it was measured, until the next check.
    lag_growing: AtomicBool,
    /// Nanoseconds since `epoch` (as `ejected_until`) when `lag_ms` was measured.
    lag_checked: AtomicU64,
    /// Last round trip measured by the monitor, microseconds; -1 = unknown.
    latency_us: AtomicI64,
    /// Statements currently running on this node, over all connections.
    pub(crate) outstanding: AtomicU64,
    /// Connections that keep this replica (`replica_affinity`).
    pub(crate) affine: AtomicU64,
    pub(crate) counters: Counters,
    /// Why the monitor could not read this node's state, if it could not.
    pub(crate) monitor_error: Mutex<Option<String>>,
    /// What the monitor saw on its last check, for `status()` only (not the hot path).
    pub(crate) seen: Mutex<MonitorView>,
    /// The node's metric keys (empty without the `metrics` feature).
    pub(crate) metrics: crate::metrics::NodeMetrics,
    /// The sockets of the application's open connections to this node, which the
    /// monitor shuts down when the node hangs (see [`crate::transport::watchdog`]).
    pub(crate) sockets: std::sync::Arc<crate::transport::watchdog::Sockets>,
    /// The furthest replication position seen on this node while it was the master (per
    /// domain; read by the monitor, and by connections reading their writes' position).
    /// A node that lacks it is never adopted as the next master by rediscovery.
    master_position: Mutex<ConsistencyToken>,
    /// Why rediscovery last refused this node as the master (logged once per reason).
    pub(crate) refused: Mutex<Option<String>>,
    /// Galera: why the node may not serve (not synced, not in the primary component,
    /// not ready), as the monitor or a refused statement last found; `None` while it
    /// may. Checked by [`is_up`](Node::is_up) through `not_serving`.
    pub(crate) galera: Mutex<GaleraView>,
    not_serving: AtomicBool,
    epoch: Instant,
}

/// What is known of a Galera node, for `status()` and the logs.
#[derive(Clone, Debug, Default)]
pub(crate) struct GaleraView {
    /// The state the monitor last read.
    pub(crate) state: Option<crate::galera::WsrepState>,
    /// Why the node gets no statements, while it gets none.
    pub(crate) not_serving: Option<String>,
}

/// Details the monitor read from a node on its last check, shown by `status()`.
#[derive(Clone, Debug, Default)]
pub(crate) struct MonitorView {
    /// `@@gtid_current_pos` on the master, `@@gtid_slave_pos` on a replica.
    pub(crate) gtid_position: Option<String>,
    /// `Seconds_Behind_Master` as read (`None`: NULL, or not read).
    pub(crate) seconds_behind_master: Option<u64>,
    /// Whether both replication threads were running (`None`: not read).
    pub(crate) replicating: Option<bool>,
    /// The lag measured through the heartbeat table, when it is on and readable.
    pub(crate) heartbeat_lag: Option<Duration>,
}

/// Per-node counters, shared by every connection of the cluster.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) statements: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) ejections: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) causal_waits: AtomicU64,
    pub(crate) causal_timeouts: AtomicU64,
    pub(crate) conflict_retries: AtomicU64,
}

/// Health of a node, as seen by the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Serving.
    Up,
    /// Failed with a connection-level error; gets no statements until the cooldown ends.
    Ejected,
    /// A replica further behind than allowed, or whose replication is stopped.
    Lagging,
    /// A Galera node that is not `Synced` in the `Primary` component, or not ready
    /// (a donor, desynced, joining, or cut off from the majority): it gets no statement.
    NotSynced,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Up => "up",
            Health::Ejected => "ejected",
            Health::Lagging => "lagging",
            Health::NotSynced => "not synced",
        })
    }
}

/// A snapshot of one node's state and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// The node's name (`master`, `replica1`, ... unless named in the builder).
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Whether the node is the cluster's current master.
    pub is_master: bool,
    /// Up, ejected or lagging.
    pub health: Health,
    /// Replication lag last seen by the monitor, the one routing uses: the heartbeat lag
    /// when [`Builder::heartbeat`](crate::Builder::heartbeat) is on and the heartbeat
    /// could be read, else `Seconds_Behind_Master`, or the replica's configured
    /// `MASTER_DELAY` when that is larger (every write reaches such a replica that late).
    /// `None` for the master and while the lag is unknown: before the monitor's first
    /// check of the replica (or with the monitor off), while the replica is down
    /// (ejected), while a replication thread is stopped (without heartbeat), or when the
    /// monitor can't read it (see `monitor_error`).
    pub lag: Option<Duration>,
    /// The lag measured through the heartbeat table (millisecond precision, see
    /// [`Builder::heartbeat`](crate::Builder::heartbeat)); `None` when the heartbeat is
    /// off, the master is down, or it could not be read.
    pub heartbeat_lag: Option<Duration>,
    /// `Seconds_Behind_Master` as the monitor last read it (whole seconds); `None` when it
    /// was NULL (a replication thread stopped) or not read.
    pub seconds_behind_master: Option<u64>,
    /// Whether replication is stopped or the lag unknown: a replication thread was seen
    /// stopped, replication is not configured, or the monitor could not read it
    /// (`monitor_error` says why).
    pub replication_stopped: bool,
    /// Last round trip measured by the monitor (`SELECT 1`), smoothed over the last few
    /// checks.
    pub latency: Option<Duration>,
    /// The node's GTID position as the monitor last read it: `@@gtid_current_pos` on the
    /// master, `@@gtid_slave_pos` on a replica (MariaDB); `None` when it could not be read.
    pub gtid_position: Option<String>,
    /// Statements run on this node, over all connections of the cluster.
    pub statements: u64,
    /// Statements that failed on this node.
    pub errors: u64,
    /// Times this node was ejected.
    pub ejections: u64,
    /// Reads retried elsewhere after failing on this node.
    pub retries: u64,
    /// Reads meant for this replica that went to the master instead (no usable replica,
    /// causal wait timed out).
    pub fallbacks: u64,
    /// Causal reads that waited for a GTID on this replica.
    pub causal_waits: u64,
    /// Causal waits that timed out.
    pub causal_timeouts: u64,
    /// Why the monitor can't read this node, if it can't (e.g. a missing privilege).
    pub monitor_error: Option<String>,
    /// Transactions that ran on this node and were run again by
    /// [`ClusterConnection::transaction_with_retry`](crate::ClusterConnection::transaction_with_retry)
    /// after losing a conflict (deadlock, Galera certification conflict).
    pub conflict_retries: u64,
    /// A Galera node's state as the monitor last read it (`None`: not a Galera cluster,
    /// or not read yet, or the node is down).
    pub galera: Option<crate::galera::GaleraStatus>,
}

impl Node {
    pub(crate) fn new(name: String, address: NodeAddress, weight: u32, epoch: Instant) -> Node {
        let label = format!("{name} ({})", address.host_port());
        let metrics = crate::metrics::NodeMetrics::new(&name);
        Node {
            name,
            address,
            label,
            weight,
            writer_address: None,
            ejected_until: AtomicU64::new(0),
            lag_ms: AtomicU64::new(LAG_NOT_MEASURED),
            lagging: AtomicBool::new(false),
            lag_growing: AtomicBool::new(false),
            lag_checked: AtomicU64::new(0),
            latency_us: AtomicI64::new(-1),
            outstanding: AtomicU64::new(0),
            affine: AtomicU64::new(0),
            counters: Counters::default(),
            monitor_error: Mutex::new(None),
            seen: Mutex::new(MonitorView::default()),
            metrics,
            sockets: Default::default(),
            master_position: Mutex::new(ConsistencyToken::default()),
            refused: Mutex::new(None),
            galera: Mutex::new(GaleraView::default()),
            not_serving: AtomicBool::new(false),
            epoch,
        }
    }

    fn now_nanos(&self) -> u64 {
        // +1 so that 0 keeps meaning "not ejected" even at the epoch itself.
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    /// Makes connections reach this node with `master`'s credentials while it is the
    /// cluster's master (see [`Node::writer_address`]).
    pub(crate) fn set_writer_credentials(&mut self, master: &NodeAddress) {
        if self.address.user != master.user || self.address.password != master.password {
            let mut writer = self.address.clone();
            writer.user = master.user.clone();
            writer.password = master.password.clone();
            self.writer_address = Some(writer);
        }
    }

    /// Forgets the replication state seen so far: the node gets no lag-bounded reads
    /// until the monitor has seen it replicate (used when the topology changed).
    pub(crate) fn forget_lag(&self) {
        self.lag_growing.store(false, Relaxed);
        self.lag_ms.store(LAG_UNKNOWN, Relaxed);
        self.lagging.store(true, Relaxed);
    }

    /// Records a replication position this node reached while it was the master.
    pub(crate) fn saw_master_position(&self, position: &ConsistencyToken) {
        self.master_position.lock().merge(position);
    }

    /// The furthest position seen on this node while it was the master (empty if none).
    pub(crate) fn master_position(&self) -> ConsistencyToken {
        self.master_position.lock().clone()
    }

    /// Whether the node is serving: not within an ejection cooldown, and (Galera) not
    /// found out of sync.
    #[inline]
    pub(crate) fn is_up(&self) -> bool {
        let until = self.ejected_until.load(Relaxed);
        (until == 0 || self.ejection_ran_out(until)) && !self.not_serving.load(Relaxed)
    }

    /// Whether the ejection that lasts until `until` is over; if so it is cleared (unless
    /// the node was ejected again meanwhile), so that [`glance`](Node::glance) can tell
    /// again without the clock (with the monitor off, no check readmits the node).
    #[cold]
    fn ejection_ran_out(&self, until: u64) -> bool {
        let over = self.now_nanos() >= until;
        if over {
            let _ = self
                .ejected_until
                .compare_exchange(until, 0, Relaxed, Relaxed);
        }
        over
    }

    /// Whether the node is a Galera node found unfit to serve.
    #[inline]
    pub(crate) fn is_not_synced(&self) -> bool {
        self.not_serving.load(Relaxed)
    }

    /// Galera: the node may serve (`None`) or not (why). Returns whether that changed.
    pub(crate) fn set_not_serving(&self, reason: Option<String>) -> bool {
        let mut view = self.galera.lock();
        let changed = view.not_serving.is_some() != reason.is_some();
        self.not_serving.store(reason.is_some(), Relaxed);
        view.not_serving = reason;
        changed
    }

    /// One more transaction run again on this node after a conflict.
    pub(crate) fn count_conflict_retry(&self) {
        self.counters.conflict_retries.fetch_add(1, Relaxed);
        self.metrics.conflict_retry();
    }

    /// Ejects the node for `cooldown`. Returns true when it was up before (a new ejection).
    pub(crate) fn eject(&self, cooldown: Duration) -> bool {
        let was_up = self.is_up();
        let until = self.now_nanos() + cooldown.as_nanos() as u64;
        self.ejected_until.store(until, Relaxed);
        if was_up {
            self.counters.ejections.fetch_add(1, Relaxed);
            self.metrics.ejection();
        }
        was_up
    }

    /// Ends an ejection early (after a successful check by the monitor).
    pub(crate) fn readmit(&self) {
        self.ejected_until.store(0, Relaxed);
    }

    #[inline]
    pub(crate) fn is_lagging(&self) -> bool {
        self.lagging.load(Relaxed)
    }

    /// The last lag seen, `None` when replication is stopped or the lag not measured yet.
    #[inline]
    pub(crate) fn lag(&self) -> Option<Duration> {
        match self.lag_ms.load(Relaxed) {
            LAG_UNKNOWN | LAG_NOT_MEASURED => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Whether the monitor has not measured the lag yet (or is off).
    #[inline]
    pub(crate) fn lag_unmeasured(&self) -> bool {
        self.lag_ms.load(Relaxed) == LAG_NOT_MEASURED
    }

    /// Whether the monitor looked and found the lag unknown: replication stopped or
    /// broken, the status unreadable, or the node unreachable. (`false` while it has not
    /// looked yet, e.g. with the monitor off.)
    #[inline]
    pub(crate) fn seen_without_lag(&self) -> bool {
        self.lag_ms.load(Relaxed) == LAG_UNKNOWN
    }

    /// The lag as a read chosen now should see it: the last lag seen, plus, when the
    /// replica was behind the master's last heartbeat at that check, the time since (a
    /// replica that is not applying falls further behind every moment; one that is
    /// applying can only be better off, so this is an upper bound). One atomic load more
    /// than [`lag`](Node::lag) unless the lag is growing.
    #[inline]
    pub(crate) fn lag_now(&self) -> Option<Duration> {
        let ms = self.lag_ms.load(Relaxed);
        if ms == LAG_UNKNOWN || ms == LAG_NOT_MEASURED {
            return None;
        }
        let lag = Duration::from_millis(ms);
        if !self.lag_growing.load(Relaxed) {
            return Some(lag);
        }
        let since = self
            .now_nanos()
            .saturating_sub(self.lag_checked.load(Relaxed));
        Some(lag + Duration::from_nanos(since))
    }

    pub(crate) fn set_lag(&self, lag: Option<Duration>, max_lag: Duration) {
        self.lag_growing.store(false, Relaxed);
        self.store_lag(lag, max_lag);
    }

    /// A lag measured now that keeps growing until the next check (see
    /// [`lag_now`](Node::lag_now)).
    pub(crate) fn set_growing_lag(&self, lag: Duration, max_lag: Duration) {
        // Stored before the lag itself: a reader seeing the new flag with the old lag
        // over-estimates for a moment, never under-estimates.
        self.lag_checked.store(self.now_nanos(), Relaxed);
        self.lag_growing.store(true, Relaxed);
        self.store_lag(Some(lag), max_lag);
    }

    fn store_lag(&self, lag: Option<Duration>, max_lag: Duration) {
        let ms = lag.map_or(LAG_UNKNOWN, |d| {
            d.as_millis().min(u128::from(LAG_NOT_MEASURED - 1)) as u64
        });
        self.lag_ms.store(ms, Relaxed);
        self.lagging.store(lag.is_none_or(|l| l > max_lag), Relaxed);
        self.metrics.lag(lag);
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Relaxed) {
            us if us < 0 => None,
            us => Some(Duration::from_micros(us as u64)),
        }
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.latency_us
            .store(latency.as_micros().min(i64::MAX as u128) as i64, Relaxed);
        self.metrics.latency(latency);
    }

    // Counting: each event bumps the node's counter (what `status()` shows) and the
    // matching metric, in one place, so the two always agree.

    #[inline]
    pub(crate) fn count_statement(&self) {
        self.counters.statements.fetch_add(1, Relaxed);
        self.metrics.statement();
    }

    #[inline]
    pub(crate) fn count_error(&self) {
        self.counters.errors.fetch_add(1, Relaxed);
        self.metrics.error();
    }

    pub(crate) fn count_retry(&self) {
        self.counters.retries.fetch_add(1, Relaxed);
        self.metrics.retry();
    }

    pub(crate) fn count_fallback(&self) {
        self.counters.fallbacks.fetch_add(1, Relaxed);
        self.metrics.fallback();
    }

    /// A causal read waited `waited` for a GTID on this replica.
    pub(crate) fn count_causal_wait(&self, waited: Duration) {
        self.counters.causal_waits.fetch_add(1, Relaxed);
        self.metrics.causal_wait(waited);
    }

    pub(crate) fn count_causal_timeout(&self) {
        self.counters.causal_timeouts.fetch_add(1, Relaxed);
        self.metrics.causal_timeout();
    }

    pub(crate) fn status(&self, is_master: bool) -> NodeStatus {
        let until = self.ejected_until.load(Relaxed);
        let ejected = until != 0 && self.now_nanos() < until;
        let health = if ejected {
            Health::Ejected
        } else if self.is_not_synced() {
            Health::NotSynced
        } else if !is_master && self.is_lagging() {
            Health::Lagging
        } else {
            Health::Up
        };
        let lag_raw = self.lag_ms.load(Relaxed);
        let c = &self.counters;
        let seen = self.seen.lock().clone();
        NodeStatus {
            name: self.name.clone(),
            address: self.address.host_port(),
            is_master,
            health,
            // What was measured before a node went down is no longer true.
            lag: if is_master || health == Health::Ejected {
                None
            } else {
                self.lag()
            },
            heartbeat_lag: if is_master { None } else { seen.heartbeat_lag },
            seconds_behind_master: if is_master {
                None
            } else {
                seen.seconds_behind_master
            },
            replication_stopped: !is_master
                && (lag_raw == LAG_UNKNOWN || seen.replicating == Some(false)),
            latency: self.latency(),
            gtid_position: seen.gtid_position,
            statements: c.statements.load(Relaxed),
            errors: c.errors.load(Relaxed),
            ejections: c.ejections.load(Relaxed),
            retries: c.retries.load(Relaxed),
            fallbacks: c.fallbacks.load(Relaxed),
            causal_waits: c.causal_waits.load(Relaxed),
            causal_timeouts: c.causal_timeouts.load(Relaxed),
            monitor_error: self.monitor_error.lock().clone(),
            conflict_retries: c.conflict_retries.load(Relaxed),
            galera: self.galera.lock().state.as_ref().map(|s| s.status()),
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("label", &self.label)
            .field("up", &self.is_up())
            .field("lag", &self.lag())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        let addr = crate::url::parse("mysql://u:p@h:1/db")
            .unwrap()
            .nodes
            .remove(0);
        Node::new("replica1".into(), addr, 1, Instant::now())
    }

    #[test]
    fn ejection_expires() {
        let n = node();
        assert!(n.is_up());
        assert!(n.eject(Duration::from_millis(30)));
        assert!(!n.is_up());
        assert!(
            !n.eject(Duration::from_millis(30)),
            "second ejection is not counted"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(n.is_up());
        assert_eq!(n.status(false).ejections, 1);
    }

    #[test]
    fn lag_thresholds() {
        let n = node();
        n.set_lag(Some(Duration::from_secs(2)), Duration::from_secs(5));
        assert!(!n.is_lagging());
        n.set_lag(Some(Duration::from_secs(6)), Duration::from_secs(5));
        assert!(n.is_lagging());
        n.set_lag(None, Duration::from_secs(5));
        assert!(n.is_lagging());
        assert!(n.status(false).replication_stopped);
        assert!(!format!("{n:?}").contains("p@"));
    }

    #[test]
    fn a_growing_lag_grows_between_checks() {
        let n = node();
        let max = Duration::from_millis(200);
        n.set_growing_lag(Duration::from_millis(100), max);
        assert!(!n.is_lagging());
        std::thread::sleep(Duration::from_millis(30));
        let now = n.lag_now().unwrap();
        assert!(now >= Duration::from_millis(130), "{now:?}");
        assert_eq!(n.lag(), Some(Duration::from_millis(100)), "as measured");
        n.set_lag(Some(Duration::from_millis(100)), max);
        assert_eq!(
            n.lag_now(),
            Some(Duration::from_millis(100)),
            "steady again"
        );
        n.forget_lag();
        assert_eq!(n.lag_now(), None);
    }
}
