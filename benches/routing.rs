//! Costs with no I/O: entering and leaving a role scope, and the routing decision for a
//! typical Diesel statement.
//!
//! * `scope/with_master`: `with_master(|| ())`; `scope/guard`: `use_master()` + drop;
//!   `scope/current_role`: reading the role, as every statement does.
//! * `routing/typeid_cached/{master,replica}`: what `ClusterConnection` decides before
//!   running `bench_rows.find(k).first()` (its SQL is classified once per query type),
//!   in a master and a replica scope: cache lookup, pins, role, balancer, consistency.
//! * `routing/boxed_render/replica`: the same query boxed: its query id is dynamic, so
//!   each statement is rendered to SQL and classified.
//! * `routing/classify_sql/{select,insert}`: classify + decide on a rendered SQL string.
//!
//! Timed in the thread's CPU time (`common::ThreadCpuTime`), not wall time: at these
//! scales wall time on a shared machine mostly measures the scheduler.

mod common;

use common::{bench_rows, ThreadCpuTime};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::prelude::*;
use diesel::query_builder::{QueryBuilder, QueryFragment};
use diesel_cluster::__bench;
use diesel_cluster::{current_role, use_master, use_replica, with_master, Role};

fn render<T: QueryFragment<Mysql>>(q: &T) -> String {
    let mut qb = MysqlQueryBuilder::new();
    q.to_sql(&mut qb, &Mysql).expect("render");
    qb.finish()
}

fn benches(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("scope");
    g.bench_function("with_master", |b| b.iter(|| with_master(|| black_box(()))));
    g.bench_function("guard", |b| {
        b.iter(|| {
            let guard = use_master();
            drop(black_box(guard));
        })
    });
    g.bench_function("current_role", |b| {
        let _scope = use_master();
        b.iter(|| black_box(current_role()))
    });
    g.finish();

    let urls = common::urls();
    common::prepare(&urls);
    let mut conn = common::cluster(&urls).connect();
    common::wait_until_replica_reads(&mut conn);
    // What `.first(conn)` loads: the find plus `LIMIT 1`.
    let typed = |k: i64| bench_rows::table.find(k).limit(1);

    let mut g = c.benchmark_group("routing");
    for scope in ["master", "replica"] {
        let _scope = if scope == "master" {
            use_master()
        } else {
            use_replica()
        };
        let node = __bench::plan(&mut conn, &typed(1)).expect("plan");
        assert_eq!(
            node == 0,
            scope == "master",
            "{scope} scope planned node {node}"
        );
        g.bench_function(BenchmarkId::new("typeid_cached", scope), |b| {
            let mut k = 0;
            b.iter(|| {
                k += 1;
                black_box(__bench::plan(&mut conn, black_box(&typed(k))).expect("plan"))
            })
        });
    }
    g.bench_function(BenchmarkId::new("boxed_render", "replica"), |b| {
        let _scope = use_replica();
        let mut k = 0;
        b.iter(|| {
            k += 1;
            let q = bench_rows::table.find(k).limit(1).into_boxed::<Mysql>();
            black_box(__bench::plan(&mut conn, &q).expect("plan"))
        })
    });
    let select = render(&typed(1));
    let insert = render(
        &diesel::insert_into(bench_rows::table)
            .values((bench_rows::name.eq("x"), bench_rows::score.eq(1))),
    );
    assert_eq!(__bench::route_sql(Role::Replica, &select), Some(true));
    assert_eq!(__bench::route_sql(Role::Auto, &insert), Some(false));
    g.bench_function(BenchmarkId::new("classify_sql", "select"), |b| {
        b.iter(|| black_box(__bench::route_sql(Role::Replica, black_box(&select))))
    });
    g.bench_function(BenchmarkId::new("classify_sql", "insert"), |b| {
        b.iter(|| black_box(__bench::route_sql(Role::Auto, black_box(&insert))))
    });
    g.finish();
    common::note(
        "routing sql",
        None,
        None,
        &format!(
            "select: {} bytes, insert: {} bytes",
            select.len(),
            insert.len()
        ),
    );
}

criterion_group! {
    name = routing;
    config = common::criterion_cpu().sample_size(50);
    targets = benches
}
criterion_main!(routing);
