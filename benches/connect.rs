//! Short-lived connections: establish, one point select, drop, as a CLI, a job, a test or
//! a pool recycling its connections does. Paired with a raw `MysqlConnection` doing the
//! same, call by call (see `common::paired`).
//!
//! * `connect paired wall/single host`: `ClusterConnection::establish` of the master's
//!   single-host URL against `MysqlConnection::establish` of the same URL;
//! * `connect paired wall/3 hosts, master`: the cluster URL (master and two replicas,
//!   monitor on), the select in the default (master) role, against raw on the master;
//! * `connect paired wall/3 hosts, replica`: the cluster URL, established and read in
//!   replica scope, against raw on a replica.
//!
//! A cluster made from a URL outlives its last connection by its linger (30 s), so its
//! monitor is not started again per connection: the warm-up calls start it once.

mod common;

use common::{key, note_ratio, paired, point_select};
use criterion::black_box;
use diesel::connection::Connection;
use diesel::mysql::MysqlConnection;
use diesel_cluster::{use_master, use_replica, ClusterConnection};

fn raw_unit(url: &str, i: u64) {
    let mut conn = MysqlConnection::establish(url).expect("raw establish");
    black_box(point_select(&mut conn, key(i)));
}

fn ours_unit(url: &str, i: u64) {
    let mut conn = ClusterConnection::establish(url).expect("cluster establish");
    black_box(point_select(&mut conn, key(i)));
}

fn main() {
    let urls = common::urls();
    common::prepare(&urls);
    common::wait_until_replica_reads(&mut ClusterConnection::establish(&urls.cluster).unwrap());
    let pairs = std::env::var("BENCH_CONNECT_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rounds = 8;
    let cases: [(&str, &str, &str, bool); 3] = [
        ("single host", &urls.master, &urls.master, false),
        ("3 hosts, master", &urls.master, &urls.cluster, false),
        ("3 hosts, replica", &urls.replica1, &urls.cluster, true),
    ];
    for (case, raw_url, ours_url, replica) in cases {
        let _scope = if replica { use_replica() } else { use_master() };
        let p = paired(
            rounds,
            pairs,
            || (),
            || (),
            |_, i| raw_unit(raw_url, i),
            |_, i| ours_unit(ours_url, i),
        );
        note_ratio(
            &format!("connect paired wall/{case}"),
            Some(p.raw_wall),
            Some(p.ours_wall),
            Some(p.ratio),
            &format!(
                "establish + point select + drop; {rounds} rounds x {pairs} alternating \
                 pairs; ratio = median of the rounds' ratios (range {:.3}..{:.3})",
                p.round_ratios.0, p.round_ratios.1
            ),
        );
    }
}
