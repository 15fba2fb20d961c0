//! Changing masters: finding the master again after an outside tool promoted a replica
//! ([`rediscover`](fn@rediscover)), and promoting one ourselves ([`promote`](fn@promote), whose modes and steps are
//! documented once, for users, on [`Cluster::promote`](crate::Cluster::promote)).
//!
//! Both end by switching the cluster's master index ([`switch_master`]), which every
//! connection of the cluster reads on each write: connections made before the change
//! write to the new master without being recreated.
//!
//! The parts: `admin` opens a node with the admin account and reads its replication
//! state; `promote` runs the steps, after [`select::promotion_target`] made the choice
//! (pure, table-tested); `rediscover` judges a writable node (pure) before adopting it.
//!
//! [`select::promotion_target`]: crate::topology::select::promotion_target

use std::time::Duration;

use crate::topology::Topology;

mod admin;
mod galera;
mod promote;
mod rediscover;

pub(crate) use galera::no_writer;
pub(crate) use promote::promote;
pub(crate) use rediscover::rediscover;

/// How long a promotion waits for the candidate to apply what it must have (the old
/// master's last write in a switchover, its relay log in a failover), and how long
/// making the old master read-only may wait for running transactions' locks.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes `new` the master of every connection of the cluster.
fn switch_master(shared: &Topology, old: usize, new: usize) {
    // The new master has (or was made to have) everything the old one was seen with:
    // a later rediscovery holds candidates to that too.
    shared.nodes[new].saw_master_position(&shared.nodes[old].master_position());
    shared.set_master(new);
    shared.nodes[new].readmit();
    // The old master was never checked as a replica: no lag-bounded reads on it until
    // the monitor has seen it replicate.
    shared.nodes[old].forget_lag();
}
