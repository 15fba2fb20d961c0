//! Read scale-out: N threads (1, 2, 4), each with its own connection, doing point
//! selects. The time reported is wall time per read over all threads (the inverse of
//! throughput), so lower is better and perfect scaling halves it when N doubles.
//!
//! * `scale_out/raw/N`: raw `MysqlConnection`s, all on the master.
//! * `scale_out/ours/N`: `ClusterConnection`s in a replica scope, spread over replica1
//!   and replica2.
//!
//! All three MariaDB nodes and the client threads share this machine's cores (2 where
//! these numbers were taken), so this shows the routing overhead under concurrency more
//! than a scale-out a real cluster of separate machines would give.

mod common;

use std::time::{Duration, Instant};

use common::{key, point_select};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel_cluster::{use_replica, ClusterConnection};

/// Runs `iters` reads split over `threads` fresh connections (one thread each, see
/// `common::on_fresh` for why fresh); wall time.
fn run<C: Send>(
    threads: usize,
    iters: u64,
    make: impl Fn() -> C,
    read: impl Fn(&mut C, u64) + Sync,
) -> Duration {
    let mut conns: Vec<C> = (0..threads).map(|_| make()).collect();
    let n = threads as u64;
    let per_thread = iters.div_ceil(n);
    let start = Instant::now();
    std::thread::scope(|s| {
        for (t, conn) in conns.iter_mut().enumerate() {
            let read = &read;
            s.spawn(move || {
                let base = t as u64 * 7919;
                for i in 0..common::WARM_CALLS {
                    read(conn, base + i);
                }
                for i in 0..per_thread {
                    read(conn, base + i);
                }
            });
        }
    });
    // Scale to `iters` reads: the split may round up, and the warm-up calls (a few per
    // thread, against thousands) are inside the wall time.
    start
        .elapsed()
        .mul_f64(iters as f64 / ((per_thread + common::WARM_CALLS) * n) as f64)
}

fn benches(c: &mut Criterion) {
    let urls = common::urls();
    common::prepare(&urls);
    let cluster = common::cluster(&urls);
    common::wait_until_replica_reads(&mut cluster.connect());

    let mut g = c.benchmark_group("scale_out");
    for threads in [1usize, 2, 4] {
        g.bench_function(BenchmarkId::new("raw", threads), |b| {
            b.iter_custom(|iters| {
                run(
                    threads,
                    iters,
                    || MysqlConnection::establish(&urls.master).expect("connect to the master"),
                    |conn, i| {
                        black_box(point_select(conn, key(i)));
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("ours", threads), |b| {
            b.iter_custom(|iters| {
                run(
                    threads,
                    iters,
                    || cluster.connect(),
                    |conn: &mut ClusterConnection, i| {
                        // The role stack is per thread: each reader is in its own scope.
                        let _scope = use_replica();
                        black_box(point_select(conn, key(i)));
                    },
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = scaleout;
    config = common::criterion();
    targets = benches
}
criterion_main!(scaleout);
