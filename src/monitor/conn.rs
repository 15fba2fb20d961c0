//! A monitor connection: one node connection with its lock waits bounded, and the
//! deadline of a round's checks put on its socket while a check uses it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use diesel::connection::SimpleConnection;

use crate::topology::Topology;
use crate::transport::watchdog::{Armed, Timer};
use crate::transport::{Connected, Guarded};

/// The deadline of one node's checks in a round (see `Checks::guarded`).
pub(super) struct Check {
    pub(super) node: usize,
    pub(super) until: Instant,
    /// One flag per connection armed for this check: whether its deadline fired.
    pub(super) fired: Vec<Arc<AtomicBool>>,
}

/// A monitor connection, with a deadline on its socket while a check uses it.
pub(super) type MonitorConn = Guarded<Armed>;

impl MonitorConn {
    /// Prepares a new monitor connection. Its statements must never wait on a lock for
    /// as long as a hung server would take to miss the check's deadline: a heartbeat
    /// write blocked by `FLUSH TABLES WITH READ LOCK` (a backup) or by another writer of
    /// the row fails on its lock timeout (logged as a heartbeat error) instead of making
    /// a healthy master look hung.
    pub(super) fn open(c: Connected, shared: &Topology) -> MonitorConn {
        let mut conn = Guarded::new(c, |_| None);
        let lock_wait = (shared.config.network_timeout.as_secs() / 3).max(1);
        if let Err(e) = conn.batch_execute(&format!(
            "SET SESSION lock_wait_timeout = {lock_wait}, SESSION innodb_lock_wait_timeout = {lock_wait}"
        )) {
            log::debug!("monitor: could not bound its lock waits: {e}");
        }
        conn
    }

    /// Puts the check's deadline on this connection's socket (once per check).
    pub(super) fn arm(&mut self, timer: &Timer, check: &mut Option<Check>, i: usize) {
        let (Some(check), Some(fd), None) = (check.as_mut(), self.socket, &self.guard) else {
            return;
        };
        if check.node == i {
            let armed = timer.arm(fd, check.until.saturating_duration_since(Instant::now()));
            check.fired.push(armed.fired());
            self.guard = Some(armed);
        }
    }
}
