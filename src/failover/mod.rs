//! Changing masters: finding the master again after an outside tool promoted a replica,
//! and promoting one ourselves ([`Cluster::promote`](crate::Cluster::promote)).
//!
//! Both end by switching the cluster's master index, which every connection of the
//! cluster reads on each write: connections made before the change write to the new
//! master without being recreated.
//!
//! `promote` is MariaDB GTID replication only (`MASTER_USE_GTID`, `MASTER_GTID_WAIT`,
//! `Gtid_IO_Pos`). It runs in one of two modes, chosen by whether the current master
//! answers:
//!
//! * **switchover** (master reachable): the master is made `read_only` first, the chosen
//!   replica catches up with it, is promoted, and the old master becomes a replica of
//!   it. No committed write is lost; writes fail (read-only) for the moments in between.
//! * **failover** (master unreachable): the chosen replica stops fetching, applies what it
//!   already received, and is promoted. Transactions the dead master committed that no
//!   reachable replica received are lost, as with any asynchronous replication. The old
//!   master is left alone: it must be re-attached as a replica by hand before it serves
//!   again (started as it was, it would be writable and diverged).
//!
//! Either way, every other reachable replica is pointed at the new master; nothing is
//! changed on any node until every check has passed (candidate reachable and not behind
//! another replica, credentials present, catch-up done, and in a failover, not behind
//! the position the dead master was last seen at).
//!
//! Rediscovery holds a writable node to the same rule before taking it for the master:
//! it must replicate from nobody (no IO thread running or connecting, no SQL thread
//! running, on any replication connection) and have every transaction the lost master
//! was last seen with, per GTID domain. `read_only = 0` alone is not enough: a replica
//! whose `read_only` was forgotten still applies the old master's stream, and writes
//! sent to it would split the cluster's history. A refused node is logged (once per
//! reason) and writes fail with [`Error::NoMaster`] until a node passes, the master is
//! back, or [`Cluster::promote`](crate::Cluster::promote) runs.

use std::time::Duration;

use crate::topology::Topology;

mod admin;
mod promote;
mod rediscover;

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
