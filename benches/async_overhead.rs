//! The async connection beside raw `AsyncMysqlConnection`, in one run (feature
//! `async`):
//!
//! * `async point_select/{raw,ours}/{master,replica}`: criterion medians of
//!   `bench_rows.find(k).first()`; ours in a task-local master (or replica) scope, raw
//!   connected to the master (or replica1). The replica case uses a master + replica1
//!   cluster, so its reads go where raw's do.
//! * `async point_select paired wall/...` (`bench-note`): raw and ours alternating call
//!   by call, the median of per-round ratios, as `benches/overhead.rs` does.
//! * `async throughput/...`: 64 tasks over a bb8 pool of 16, point selects for a fixed
//!   time; raw is one pool to the master (what an app without this library does), ours
//!   one pool of cluster connections in replica scope (reads spread over both
//!   replicas). Reported as wall time per read (lower is better).
//! * `async causal read after a write`: UPDATE then read the row, `Questions` counted by
//!   all three servers: raw on the master only, ours in Auto role with causal
//!   consistency (the read goes to a replica after waiting for the write's GTID).
//!
//! * `async throughput/..., master scope`: the same pool of cluster connections reading
//!   from the master, as raw does: the library's cost at that load apart from spreading.
//!
//! `BENCH_POOL_READS="raw|ours|ours-master N"` runs only N reads of the throughput case
//! (no clock), for counting the client's instructions with callgrind.
//!
//! Each side makes its own current-thread runtime calls (`block_on` per call, on both
//! sides alike), except the throughput case, which runs on a 2-worker runtime.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bench_rows, key, note, note_ratio, paired, Row, Urls};
use criterion::{criterion_group, BenchmarkId, Criterion};
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use diesel_cluster::{task, AsyncClusterConnection, Cluster, Consistency, Role};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn select<C>(conn: &mut C, k: i64) -> Row
where
    C: diesel_async::AsyncConnection<Backend = diesel::mysql::Mysql> + 'static,
    for<'a> diesel::dsl::Limit<
        diesel::dsl::Select<
            diesel::dsl::Find<bench_rows::table, i64>,
            diesel::dsl::AsSelect<Row, diesel::mysql::Mysql>,
        >,
    >: diesel_async::methods::LoadQuery<'a, C, Row>,
{
    bench_rows::table
        .find(k)
        .select(Row::as_select())
        .first(conn)
        .await
        .expect("point select")
}

struct Sides {
    urls: Urls,
    cluster: Cluster,
    one_replica: Cluster,
}

impl Sides {
    fn raw(&self, rt: &Runtime, scope: &str) -> AsyncMysqlConnection {
        let url = if scope == "master" {
            &self.urls.master
        } else {
            &self.urls.replica1
        };
        rt.block_on(AsyncMysqlConnection::establish(&tcp(url)))
            .expect("raw connect")
    }

    fn ours(&self, scope: &str) -> AsyncClusterConnection {
        if scope == "master" {
            self.cluster.connect_async()
        } else {
            self.one_replica.connect_async()
        }
    }
}

/// `url` over TCP: mysql_async would otherwise move a loopback connection to the
/// server's Unix socket, which the cluster's node connections never use (they are TCP,
/// as to any remote server).
fn tcp(url: &str) -> String {
    format!("{url}?prefer_socket=false")
}

fn role(scope: &str) -> Role {
    if scope == "master" {
        Role::Master
    } else {
        Role::Replica
    }
}

fn criterion_point_select(c: &mut Criterion, sides: &Sides) {
    let rt = runtime();
    let mut group = c.benchmark_group("async point_select");
    for scope in ["master", "replica"] {
        group.bench_with_input(BenchmarkId::new("raw", scope), &scope, |b, s| {
            b.iter_custom(|iters| {
                let mut conn = sides.raw(&rt, s);
                common::on_fresh(
                    iters,
                    || (),
                    |_, i| {
                        rt.block_on(select(&mut conn, key(i)));
                    },
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("ours", scope), &scope, |b, s| {
            b.iter_custom(|iters| {
                let mut conn = sides.ours(s);
                common::on_fresh(
                    iters,
                    || (),
                    |_, i| {
                        rt.block_on(task::with_role(role(s), select(&mut conn, key(i))));
                    },
                )
            })
        });
    }
    group.finish();
}

fn paired_point_select(sides: &Sides) {
    let rt = runtime();
    let pairs = std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    for scope in ["master", "replica"] {
        let p = paired(
            8,
            pairs,
            || sides.raw(&rt, scope),
            || sides.ours(scope),
            |c, i| {
                rt.block_on(select(c, key(i)));
            },
            |c, i| {
                rt.block_on(task::with_role(role(scope), select(c, key(i))));
            },
        );
        note_ratio(
            &format!("async point_select paired wall/{scope}"),
            Some(p.raw_wall),
            Some(p.ours_wall),
            Some(p.ratio),
            &format!(
                "rounds {:.3}..{:.3}; client CPU per call raw {:.0} ns, ours {:.0} ns",
                p.round_ratios.0, p.round_ratios.1, p.raw_cpu, p.ours_cpu
            ),
        );
    }
}

/// When the reader tasks stop: at a deadline, or when a number of reads was taken.
#[derive(Clone)]
enum Until {
    Deadline(Instant),
    /// Reads left to take, shared by the tasks.
    Reads(Arc<AtomicU64>),
}

impl Until {
    /// Whether a task takes another read (taking it from the count).
    fn more(&self) -> bool {
        match self {
            Until::Deadline(deadline) => Instant::now() < *deadline,
            Until::Reads(left) => left
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// `tasks` tasks reading over `pool` (in `scope`'s role, if any) until `until`; returns
/// the reads done.
async fn readers<C>(pool: bb8::Pool<C>, tasks: usize, until: Until, scope: Option<Role>) -> u64
where
    C: diesel_async::pooled_connection::PoolableConnection<Backend = diesel::mysql::Mysql>
        + 'static,
    for<'a> diesel::dsl::Limit<
        diesel::dsl::Select<
            diesel::dsl::Find<bench_rows::table, i64>,
            diesel::dsl::AsSelect<Row, diesel::mysql::Mysql>,
        >,
    >: diesel_async::methods::LoadQuery<'a, C, Row>,
    for<'a> diesel::dsl::select<diesel::dsl::AsExprOf<i32, diesel::sql_types::Integer>>:
        diesel_async::methods::LoadQuery<'a, C, i32>,
    diesel::query_builder::SqlQuery: diesel_async::methods::ExecuteDsl<C>,
{
    let reads = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (pool, reads, until) = (pool.clone(), reads.clone(), until.clone());
        let work = async move {
            let mut i = t as u64 * 7919;
            while until.more() {
                let mut conn = pool.get().await.expect("pool checkout");
                select(&mut *conn, key(i)).await;
                i += 1;
                AtomicU64::fetch_add(&reads, 1, Relaxed);
            }
        };
        handles.push(match scope {
            Some(role) => tokio::spawn(task::with_role(role, work)),
            None => tokio::spawn(work),
        });
    }
    for h in handles {
        h.await.expect("a reader task");
    }
    AtomicU64::load(&reads, Relaxed)
}

fn throughput(sides: &Sides) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let time = Duration::from_secs(3);
    let (mut raw_reads, mut ours_reads, mut master_reads) = (0, 0, 0);
    rt.block_on(async {
        let raw_pool = bb8::Pool::builder()
            .max_size(16)
            .build(AsyncDieselConnectionManager::<AsyncMysqlConnection>::new(
                tcp(&sides.urls.master),
            ))
            .await
            .expect("raw pool");
        let ours_pool = bb8::Pool::builder()
            .max_size(16)
            .build(sides.cluster.async_manager())
            .await
            .expect("our pool");
        // Alternate, twice each, so drift in the machine's load hits both.
        for _ in 0..2 {
            let until = || Until::Deadline(Instant::now() + time);
            raw_reads += readers(raw_pool.clone(), 64, until(), None).await;
            ours_reads += readers(ours_pool.clone(), 64, until(), Some(Role::Replica)).await;
            master_reads += readers(ours_pool.clone(), 64, until(), Some(Role::Master)).await;
        }
    });
    let per = |reads: u64| (2.0 * time.as_nanos() as f64) / reads as f64;
    note(
        "async throughput/64 tasks, pool of 16",
        Some(per(raw_reads)),
        Some(per(ours_reads)),
        &format!(
            "wall time per read (lower is better): raw {raw_reads} reads from the master, \
             ours {ours_reads} reads spread over 2 replicas, in 2 x {time:?} each"
        ),
    );
    // The same pool in master scope: the library's own cost at this load, apart from
    // what spreading the reads over more servers on the same cores does.
    note(
        "async throughput/64 tasks, pool of 16, master scope",
        Some(per(raw_reads)),
        Some(per(master_reads)),
        &format!("ours {master_reads} reads from the master, as raw's"),
    );
}

fn questions(urls: &[&str]) -> u64 {
    use diesel::connection::Connection as _;
    let mut total = 0;
    for url in urls {
        let mut c = diesel::mysql::MysqlConnection::establish(url).expect("counter connection");
        #[derive(QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[diesel(column_name = Value)]
            value: String,
        }
        let v: V = diesel::RunQueryDsl::get_result(
            diesel::sql_query("SHOW GLOBAL STATUS LIKE 'Questions'"),
            &mut c,
        )
        .expect("Questions");
        total += v.value.parse::<u64>().expect("a count");
    }
    total
}

fn causal_round_trips(sides: &Sides) {
    let rt = runtime();
    let servers = [
        sides.urls.master.as_str(),
        &sides.urls.replica1,
        &sides.urls.replica2,
    ];
    const PAIRS: u64 = 200;
    let baseline = {
        let a = questions(&servers);
        questions(&servers) - a
    };
    let count = |f: &mut dyn FnMut()| {
        let before = questions(&servers);
        f();
        questions(&servers) - before - baseline
    };
    let mut raw = sides.raw(&rt, "master");
    let raw_q = count(&mut || {
        rt.block_on(async {
            for i in 0..PAIRS {
                diesel::update(bench_rows::table.find(1))
                    .set(bench_rows::score.eq(i as i32))
                    .execute(&mut raw)
                    .await
                    .expect("update");
                select(&mut raw, 1).await;
            }
        })
    });
    let cluster = Cluster::builder()
        .url(&sides.urls.cluster)
        .monitor_interval(None)
        .default_role(Role::Auto)
        .consistency(Consistency::Causal)
        .build()
        .expect("cluster");
    let mut ours = cluster.connect_async();
    // Open the nodes and prepare the statements outside the count.
    rt.block_on(async {
        select(&mut ours, 1).await;
        task::with_master(select(&mut ours, 1)).await;
    });
    let (mut on_replica, mut internal) = (0, 0);
    let ours_q = count(&mut || {
        rt.block_on(async {
            let before = ours.internal_statements();
            for i in 0..PAIRS {
                diesel::update(bench_rows::table.find(1))
                    .set(bench_rows::score.eq(i as i32))
                    .execute(&mut ours)
                    .await
                    .expect("update");
                let row = select(&mut ours, 1).await;
                assert_eq!(row.score, i as i32, "a stale causal read");
                if ours.last_node_is_master() == Some(false) {
                    on_replica += 1;
                }
            }
            internal = ours.internal_statements() - before;
        })
    });
    let extra = (ours_q as f64 - raw_q as f64) / PAIRS as f64;
    note(
        "async causal read after a write/extra statements per pair, counted by the servers",
        None,
        None,
        "",
    );
    note_ratio(
        "async causal read after a write/Questions per pair",
        Some(raw_q as f64 / PAIRS as f64),
        Some(ours_q as f64 / PAIRS as f64),
        None,
        &format!(
            "servers' Questions: raw (master only) {raw_q}, ours {ours_q} for {PAIRS} pairs: \
             {extra:.2} extra per pair; {on_replica} of {PAIRS} reads on a replica, 0 stale; \
             the connection's own count of internal statements: {internal}"
        ),
    );
}

fn benches(c: &mut Criterion) {
    let urls = common::urls();
    common::prepare(&urls);
    let sides = Sides {
        cluster: common::cluster(&urls),
        one_replica: Cluster::builder()
            .master(&urls.master)
            .replica(&urls.replica1)
            .build()
            .expect("one-replica cluster"),
        urls,
    };
    criterion_point_select(c, &sides);
    paired_point_select(&sides);
    throughput(&sides);
    causal_round_trips(&sides);
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}

/// `BENCH_POOL_READS=raw|ours|ours-master N`: N point selects by 64 tasks over a bb8 pool
/// of 16 and nothing else, for counting the client's instructions under callgrind (the
/// throughput case without the clock).
fn pool_reads(side: &str, reads: u64) {
    let urls = common::urls();
    common::prepare(&urls);
    let cluster = common::cluster(&urls);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let until = Until::Reads(Arc::new(AtomicU64::new(reads)));
        match side {
            "raw" => {
                let manager =
                    AsyncDieselConnectionManager::<AsyncMysqlConnection>::new(tcp(&urls.master));
                let pool = bb8::Pool::builder().max_size(16).build(manager).await;
                readers(pool.expect("raw pool"), 64, until, None).await
            }
            "ours" | "ours-master" => {
                let role = if side == "ours" {
                    Role::Replica
                } else {
                    Role::Master
                };
                let pool = bb8::Pool::builder()
                    .max_size(16)
                    .build(cluster.async_manager())
                    .await;
                readers(pool.expect("our pool"), 64, until, Some(role)).await
            }
            other => panic!("BENCH_POOL_READS: unknown side {other}"),
        }
    });
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_POOL_READS") {
        let mut parts = spec.split_whitespace();
        let side = parts.next().unwrap_or("raw").to_string();
        let reads = parts.next().and_then(|n| n.parse().ok()).unwrap_or(4000);
        pool_reads(&side, reads);
        return;
    }
    group();
    Criterion::default().configure_from_args().final_summary();
}
