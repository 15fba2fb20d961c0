//! The cluster handle ([`Cluster`]), its builder ([`Builder`]) and the clusters shared
//! per URL ([`registry`]).
//!
//! A [`Cluster`] is a cheap handle (`Arc`) on state that every connection made from it
//! shares: node health, lag, counters, the balancing counter, the current master. Dropping
//! the last handle and the last connection stops the cluster's monitor thread.

mod builder;
mod registry;

use std::fmt;
use std::sync::{Arc, OnceLock};

pub use self::builder::Builder;
use crate::error::Error;
use crate::monitor::MonitorHandle;
use crate::topology::Topology;

/// A replicated MySQL/MariaDB cluster: one master, any number of replicas.
///
/// ```no_run
/// use diesel_cluster::{Cluster, Role};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = Cluster::builder()
///     .master("mysql://app:pw@10.0.0.1:3306/app")
///     .replica("mysql://app_ro:ro@10.0.0.2:3306/app")
///     .replica("mysql://app_ro:ro@10.0.0.3:3306/app")
///     .default_role(Role::Auto)
///     .build()?;
/// let mut conn = cluster.connect();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// What a [`Cluster`] handle holds: the topology its connections share, and the monitor
/// that keeps it current, stopped when the last handle goes.
struct Inner {
    topology: Arc<Topology>,
    monitor: Option<MonitorHandle>,
    /// The URL it is shared under, for a cluster made by `ClusterConnection::establish`.
    registry_key: OnceLock<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(m) = self.monitor.take() {
            m.stop();
        }
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.topology().nodes)
            .field("master", &self.topology().master())
            .field("config", &self.topology().config)
            .finish()
    }
}

/// Two handles are equal when they are handles on the same cluster (same shared state).
impl PartialEq for Cluster {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Cluster {}

impl Cluster {
    /// A handle on `topology`, kept current by `monitor`.
    pub(crate) fn new(topology: Arc<Topology>, monitor: Option<MonitorHandle>) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                topology,
                monitor,
                registry_key: OnceLock::new(),
            }),
        }
    }

    /// The state every connection of this cluster shares.
    #[inline]
    pub(crate) fn topology(&self) -> &Arc<Topology> {
        &self.inner.topology
    }

    /// A connection of this cluster was dropped: a cluster shared per URL starts its
    /// linger from now.
    pub(crate) fn connection_closed(&self) {
        if let Some(key) = self.inner.registry_key.get() {
            registry::touch(key);
        }
    }

    /// A connection of this cluster failed to establish: a cluster shared per URL does
    /// not linger (see `registry::release`).
    pub(crate) fn establish_failed(&self) {
        if let Some(key) = self.inner.registry_key.get() {
            registry::release(key);
        }
    }

    /// Whether the monitor runs (for tests).
    #[cfg(test)]
    pub(crate) fn has_monitor(&self) -> bool {
        self.inner.monitor.is_some()
    }

    /// A builder for a cluster.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A cluster from a multi-host URL: `mysql://user:pw@master,replica1,replica2/db?opts`.
    /// See [`Builder::url`] for the options.
    pub fn from_url(url: &str) -> Result<Cluster, Error> {
        Cluster::builder().url(url).build()
    }

    /// A snapshot of every node's state and counters, master first.
    pub fn status(&self) -> crate::status::ClusterStatus {
        crate::status::ClusterStatus::new(
            self.topology().status(),
            self.topology()
                .tokens
                .rejected
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Promotes a replica to master (MariaDB GTID replication) and makes every connection
    /// of the cluster, including those made before, send writes to it. Returns the new
    /// master's name.
    ///
    /// `node` names the replica (`"replica2"`); `None` picks the reachable replica that
    /// has received the most (one whose GTID position covers every other's). It runs with
    /// [`Builder::admin_credentials`]:
    ///
    /// 1. If the master answers (a *switchover*), it is made `read_only` and the replica
    ///    waits until it applied the master's last write; otherwise (a *failover*) the
    ///    replica stops fetching and applies what it already received; it must then have
    ///    every transaction the master was last seen with (by the monitor, or by a
    ///    connection reading its write's position), or the failover is refused: it
    ///    would lose them. Once the master answers again, a switchover loses nothing.
    /// 2. On the replica: `STOP SLAVE`, `RESET SLAVE ALL`, `SET GLOBAL read_only = 0`.
    /// 3. The cluster's master becomes that node.
    /// 4. Every other reachable node (the old master too, in a switchover) is pointed at
    ///    it: `CHANGE MASTER TO MASTER_HOST=.., MASTER_PORT=.., MASTER_USE_GTID=slave_pos`
    ///    (`current_pos` for the old master) with [`Builder::replication_credentials`],
    ///    and `START SLAVE`.
    ///
    /// Nothing is changed until every check has passed: an `Err` (unknown or unreachable
    /// replica, a replica behind another one or behind the master's last seen position,
    /// missing replication credentials, catch-up not done within 10 s) leaves the
    /// cluster as it was. A node that can't be
    /// re-pointed in step 4 is logged and left for an operator; it shows as lagging.
    /// In a failover the old master is left alone: re-attach it as a replica before it
    /// serves again.
    pub fn promote(&self, node: Option<&str>) -> Result<String, Error> {
        if self.topology().config.kind == crate::galera::ClusterKind::Galera {
            return Err(crate::error::FailoverError::Galera.into());
        }
        crate::failover::promote(self.topology(), node)
    }

    /// The name of the node that currently takes writes.
    pub fn master_name(&self) -> &str {
        &self.topology().nodes[self.topology().master()].name
    }

    /// Names of all nodes, in configuration order.
    pub fn node_names(&self) -> Vec<&str> {
        self.topology()
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect()
    }
}
