//! Clusters shared per URL, for connections made by `ClusterConnection::establish`.
//!
//! Connections established from the same URL share one cluster (one health and lag view,
//! one monitor), as pooled connections must. A cluster outlives its last connection by
//! its `linger` (URL option, 30 s by default): a program that connects per unit of work
//! (a CLI, a job, a test, a pool recycling connections) reuses it instead of starting its
//! monitor, and the monitor's connections to every node, each time. Once unused for that
//! long it ends: swept by its own monitor after a round, or by the next `establish` of
//! any URL (a cluster without replicas has no monitor, and holds no connection either).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use parking_lot::Mutex;

use super::{Cluster, Inner};
use crate::error::Error;

/// One URL's cluster: held weakly by its connections' handles, and strongly (`keep`)
/// until it has been unused for its linger.
struct Entry {
    cluster: Weak<Inner>,
    keep: Option<Arc<Inner>>,
    /// When a connection was last established or dropped.
    used: Instant,
}

fn registry() -> &'static Mutex<HashMap<String, Entry>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl Cluster {
    /// The cluster shared under `url`, made from it if there is none.
    pub(crate) fn for_url(url: &str) -> Result<Cluster, Error> {
        let mut map = registry().lock();
        let expired = sweep_locked(&mut map);
        let now = Instant::now();
        let found = map.get_mut(url).and_then(|e| {
            let inner = e.cluster.upgrade()?;
            e.used = now;
            e.keep = Some(inner.clone());
            Some(inner)
        });
        let cluster = match found {
            Some(inner) => Cluster { inner },
            None => {
                let cluster = Cluster::from_url(url)?;
                let _ = cluster.inner.registry_key.set(url.to_string());
                let _ = cluster.topology().after_round.set(sweep);
                let entry = Entry {
                    cluster: Arc::downgrade(&cluster.inner),
                    keep: Some(cluster.inner.clone()),
                    used: now,
                };
                map.insert(url.to_string(), entry);
                cluster
            }
        };
        drop(map);
        // Dropped outside the lock: ending a cluster joins its monitor thread, which
        // may be waiting for this lock in its own sweep.
        drop(expired);
        Ok(cluster)
    }
}

/// Lets `url`'s cluster end with its last handle, without lingering: its connection
/// could not be established (a wrong password, no node reachable), and a monitor
/// logging in with those credentials every round must not outlive it.
pub(super) fn release(url: &str) {
    let kept = registry().lock().get_mut(url).and_then(|e| e.keep.take());
    drop(kept);
}

/// Marks `url`'s cluster as used now (a connection of it was dropped).
pub(super) fn touch(url: &str) {
    if let Some(e) = registry().lock().get_mut(url) {
        e.used = Instant::now();
    }
}

/// Ends the shared clusters unused for their linger (those no handle or connection
/// holds, used last more than `linger` ago), and forgets the ones that ended.
fn sweep() {
    let expired = sweep_locked(&mut registry().lock());
    drop(expired);
}

fn sweep_locked(map: &mut HashMap<String, Entry>) -> Vec<Arc<Inner>> {
    let mut expired = Vec::new();
    for e in map.values_mut() {
        // Held by the registry alone, and for longer than its linger.
        let done = e.keep.as_ref().is_some_and(|k| {
            Arc::strong_count(k) == 1 && e.used.elapsed() >= k.topology.config.linger
        });
        if done {
            expired.extend(e.keep.take());
        }
    }
    map.retain(|_, e| e.keep.is_some() || e.cluster.strong_count() > 0);
    expired
}
