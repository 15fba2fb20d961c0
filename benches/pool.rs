//! r2d2: check a connection out of a pool and run one point select with it.
//!
//! * `r2d2/raw/{master,replica}`: `Pool<ConnectionManager<MysqlConnection>>` on the
//!   master (or replica1).
//! * `r2d2/ours/{master,replica}`: `Pool<ClusterManager>` from `Cluster::manager()`, the
//!   statement in a master (or replica) scope.
//!
//! Both pools keep r2d2's default `test_on_check_out` (a ping per checkout), as users get
//! it; ours pings the node the current scope reads from.

mod common;

use common::{key, on_fresh, point_select};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_cluster::{use_master, use_replica};

fn benches(c: &mut Criterion) {
    let urls = common::urls();
    common::prepare(&urls);
    let cluster = common::cluster(&urls);
    common::wait_until_replica_reads(&mut cluster.connect());
    // Fresh pools (so fresh connections) per sample: see `common::on_fresh`.
    let raw_pool = |scope: &str| {
        let url = if scope == "master" {
            &urls.master
        } else {
            &urls.replica1
        };
        Pool::builder()
            .max_size(2)
            .build(ConnectionManager::<MysqlConnection>::new(url))
            .expect("raw pool")
    };
    let ours_pool = || {
        Pool::builder()
            .max_size(2)
            .build(cluster.manager())
            .expect("cluster pool")
    };

    let mut g = c.benchmark_group("r2d2");
    for scope in ["master", "replica"] {
        g.bench_function(BenchmarkId::new("raw", scope), |b| {
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || raw_pool(scope),
                    |pool, i| {
                        let mut conn = pool.get().expect("checkout");
                        black_box(point_select(&mut *conn, key(i)));
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("ours", scope), |b| {
            let _scope = if scope == "master" {
                use_master()
            } else {
                use_replica()
            };
            b.iter_custom(|iters| {
                on_fresh(iters, ours_pool, |pool, i| {
                    let mut conn = pool.get().expect("checkout");
                    black_box(point_select(&mut *conn, key(i)));
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = pool;
    config = common::criterion();
    targets = benches
}
criterion_main!(pool);
