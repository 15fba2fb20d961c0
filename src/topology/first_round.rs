//! Whether the monitor's first round is over ([`FirstRound`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Opens when the monitor's first round is over, so that a `Bounded` read made right
/// after the cluster was built waits for the replicas' lag instead of guessing it. Reads
/// wait only until a grace period after the build ends, however many there are: a slow
/// first round (a hung node holds it up to `network_timeout`) then sends them to the
/// master.
#[derive(Debug)]
pub(crate) struct FirstRound {
    done: AtomicBool,
    until: Instant,
    lock: parking_lot::Mutex<()>,
    checked: parking_lot::Condvar,
}

impl FirstRound {
    pub(crate) fn new(grace: Duration) -> FirstRound {
        FirstRound {
            done: AtomicBool::new(false),
            until: Instant::now() + grace,
            lock: Default::default(),
            checked: Default::default(),
        }
    }

    /// Wakes the waiters: a node was checked (`over`: the whole round is).
    pub(crate) fn notify(&self, over: bool) {
        let _g = self.lock.lock();
        if over {
            self.done.store(true, Ordering::Release);
        }
        self.checked.notify_all();
    }

    /// `None` once the first round is over or its grace period ended, else the end of
    /// the grace period: for waiters that can't block (the async connection's).
    pub(crate) fn pending(&self) -> Option<Instant> {
        (!self.done.load(Ordering::Acquire) && Instant::now() < self.until).then_some(self.until)
    }

    /// Waits until `ready` holds or the first round is over, at most until the grace
    /// period ends. Free (one atomic load) once the round is over.
    pub(crate) fn wait(&self, ready: impl Fn() -> bool) {
        if self.done.load(Ordering::Acquire) || ready() || Instant::now() >= self.until {
            return;
        }
        let mut g = self.lock.lock();
        while !self.done.load(Ordering::Acquire) && !ready() {
            if self.checked.wait_until(&mut g, self.until).timed_out() {
                break;
            }
        }
    }
}
