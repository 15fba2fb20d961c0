//! Clusters shared per URL, for connections made by `ClusterConnection::establish`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::{Cluster, Inner};
use crate::error::Error;

impl Cluster {
    /// Clusters made by `ClusterConnection::establish` (and so by
    /// `r2d2::ConnectionManager<ClusterConnection>`) are shared per URL through this
    /// registry, so that pooled connections see one health and lag view. Entries are weak:
    /// the cluster ends with its last connection.
    pub(crate) fn for_url(url: &str) -> Result<Cluster, Error> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<Inner>>>> = OnceLock::new();
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry.lock();
        if let Some(inner) = map.get(url).and_then(Weak::upgrade) {
            return Ok(Cluster { inner });
        }
        let cluster = Cluster::from_url(url)?;
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(url.to_string(), Arc::downgrade(&cluster.inner));
        Ok(cluster)
    }
}
