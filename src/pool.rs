//! r2d2 pooling.
//!
//! [`ClusterManager`] (from [`Cluster::manager`]) makes pooled connections that share
//! their cluster's state. `diesel::r2d2::ConnectionManager<ClusterConnection>` works too:
//! it calls `ClusterConnection::establish(url)`, and connections established from the
//! same URL share one cluster through a process-wide registry.

use diesel::r2d2::{ManageConnection, R2D2Connection};

use crate::cluster::Cluster;
use crate::connection::ClusterConnection;

/// An r2d2 `ManageConnection` for a [`Cluster`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = diesel_cluster::Cluster::from_url("mysql://app:pw@m,r1,r2/app")?;
/// let pool = diesel::r2d2::Pool::builder().max_size(8).build(cluster.manager())?;
/// let mut conn = pool.get()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClusterManager {
    cluster: Cluster,
}

impl ClusterManager {
    pub(crate) fn new(cluster: Cluster) -> Self {
        ClusterManager { cluster }
    }
}

impl Cluster {
    /// An r2d2 connection manager whose connections share this cluster's state.
    pub fn manager(&self) -> ClusterManager {
        ClusterManager::new(self.clone())
    }
}

impl ManageConnection for ClusterManager {
    type Connection = ClusterConnection;
    type Error = diesel::r2d2::Error;

    /// Opens one node, as `ClusterConnection::establish` does (see there what fails), so
    /// a pool built against a misconfigured cluster fails; other nodes open on first use.
    fn connect(&self) -> Result<ClusterConnection, Self::Error> {
        let mut conn = self.cluster.connect();
        conn.open_at_establish().map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                e.to_string(),
            ))
        })?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut ClusterConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut ClusterConnection) -> bool {
        conn.is_broken()
    }
}
