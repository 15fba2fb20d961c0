//! Forwarding Diesel `Instrumentation` events from node connections to the user's.
//!
//! A `ClusterConnection` holds several `MysqlConnection`s; the user sets one
//! instrumentation on the `ClusterConnection`. Every node connection gets a [`Forwarder`]
//! that hands its events to the one the user set, so the user sees each statement once,
//! from whichever node ran it. Statements the library sends for itself (session replay,
//! GTID waits, finding a fresh connection's socket) run muted, so they never show up as
//! if the user had sent them.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use parking_lot::Mutex;

/// The user's instrumentation, shared by a connection's forwarders.
#[derive(Default)]
pub(crate) struct Hub {
    target: Mutex<Option<Box<dyn Instrumentation>>>,
    /// Fast check that skips the lock when nothing is installed.
    installed: AtomicBool,
    muted: AtomicBool,
}

impl Hub {
    pub(crate) fn new(initial: Option<Box<dyn Instrumentation>>) -> Arc<Hub> {
        let hub = Hub::default();
        hub.installed.store(initial.is_some(), Relaxed);
        *hub.target.lock() = initial;
        Arc::new(hub)
    }

    pub(crate) fn set(&self, instrumentation: Box<dyn Instrumentation>) {
        *self.target.lock() = Some(instrumentation);
        self.installed.store(true, Relaxed);
    }

    pub(crate) fn emit(&self, event: InstrumentationEvent<'_>) {
        if self.installed.load(Relaxed) && !self.muted.load(Relaxed) {
            if let Some(i) = self.target.lock().as_mut() {
                i.on_connection_event(event);
            }
        }
    }

    /// Mutes events until the guard drops (also when a future holding it is dropped
    /// half-way).
    pub(crate) fn mute(&self) -> Muted<'_> {
        Muted {
            hub: self,
            was: self.muted.swap(true, Relaxed),
        }
    }
}

/// Puts the hub's muting back as it was, when dropped.
pub(crate) struct Muted<'a> {
    hub: &'a Hub,
    was: bool,
}

impl Drop for Muted<'_> {
    fn drop(&mut self) {
        self.hub.muted.store(self.was, Relaxed);
    }
}

/// Installed on every node connection (and returned by `ClusterConnection::instrumentation`).
pub(crate) struct Forwarder(pub(crate) Arc<Hub>);

impl Instrumentation for Forwarder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        self.0.emit(event);
    }
}
