//! Finding the master again after a failover.
//!
//! When the master is unreachable, the cluster looks for the one node with
//! `read_only = 0` (an outside tool, or [`Cluster::promote`](crate::Cluster::promote),
//! promoted it) and makes it the master for every connection of the cluster.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable};
use diesel::RunQueryDsl;

use crate::cluster::{Cluster, Shared};
use crate::connection::nodes::connect_node;

#[derive(diesel::QueryableByName)]
struct ReadOnly {
    #[diesel(sql_type = Nullable<BigInt>)]
    read_only: Option<i64>,
}

/// Looks for a writable node other than the current master. Rate-limited and
/// single-flight: concurrent callers don't pile up connection attempts.
pub(crate) fn rediscover(cluster: &Cluster) -> Option<usize> {
    rediscover_shared(&cluster.shared)
}

pub(crate) fn rediscover_shared(shared: &Shared) -> Option<usize> {
    let mut last = shared.failover_lock.try_lock()?;
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(500)) {
        return None;
    }
    *last = Some(now);
    let current = shared.master();
    for (i, node) in shared.nodes.iter().enumerate() {
        if i == current {
            continue;
        }
        let Ok(mut conn) = connect_node(&node.address, shared.config.connect_timeout) else {
            continue;
        };
        let row: Result<ReadOnly, _> =
            diesel::sql_query("SELECT @@read_only AS read_only").get_result(&mut conn);
        if let Ok(ReadOnly { read_only: Some(0) }) = row {
            log::warn!(
                "master {} is unreachable; {} is writable and becomes the master",
                shared.nodes[current].label,
                node.label
            );
            shared.set_master(i);
            node.readmit();
            return Some(i);
        }
    }
    None
}
