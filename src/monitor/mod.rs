//! The cluster's background monitor: one thread per cluster that, every interval, reads
//! each replica's replication lag (`SHOW SLAVE STATUS`, and the heartbeat table when it
//! is on, see [`crate::Builder::heartbeat`]), measures each node's round trip, reads each
//! node's GTID position for `status()`, checks ejected nodes so they come back as soon
//! as they answer, and looks for a new master when the current one is gone. It holds
//! only a weak reference to the cluster and ends when the cluster is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::topology::Topology;

mod checks;
mod conn;
pub(crate) mod galera;
mod heartbeat;
mod learn;
mod replication;

use checks::Checks;

/// Stops the monitor thread when told to (or when the cluster is dropped).
#[derive(Debug)]
pub(crate) struct MonitorHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl MonitorHandle {
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // The last strong reference may be dropped by the monitor itself, mid-check:
            // it must not wait for its own end. Nor may a thread of an async runtime
            // wait for a check in progress (up to `network_timeout`): there the monitor
            // is left to see the flag and end by itself.
            if thread::current().id() != self.thread_id && !on_async_runtime() {
                let _ = t.join();
            }
        }
    }
}

/// Whether this thread runs an async runtime's tasks, where blocking is not allowed.
fn on_async_runtime() -> bool {
    #[cfg(feature = "async")]
    {
        tokio::runtime::Handle::try_current().is_ok()
    }
    #[cfg(not(feature = "async"))]
    {
        false
    }
}

/// Starts the monitor of a cluster.
pub(crate) fn start(shared: Weak<Topology>, interval: Duration) -> MonitorHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let gate = shared.clone();
    let thread = thread::Builder::new()
        .name("diesel-cluster-monitor".into())
        .spawn(move || {
            let mut checks: Option<Checks> = None;
            // First check right away, so lag is known before the first interval ends.
            loop {
                if stop_flag.load(Ordering::Relaxed) {
                    break;
                }
                {
                    let Some(shared) = shared.upgrade() else {
                        break;
                    };
                    let checks = checks.get_or_insert_with(|| Checks::new(&shared));
                    checks.check(&shared);
                    shared.first_round.notify(true);
                    if let Some(after_round) = shared.after_round.get() {
                        after_round();
                    }
                }
                let deadline = Instant::now() + interval;
                while !stop_flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        });
    match thread {
        Ok(t) => MonitorHandle {
            stop,
            thread_id: t.thread().id(),
            thread: Some(t),
        },
        Err(e) => {
            log::error!("could not start the replica monitor thread: {e}");
            // No round will come: `Bounded` reads must not wait for one.
            if let Some(shared) = gate.upgrade() {
                shared.first_round.notify(true);
            }
            MonitorHandle {
                stop,
                thread: None,
                thread_id: thread::current().id(),
            }
        }
    }
}
