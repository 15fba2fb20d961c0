//! The async connection beside raw `AsyncMysqlConnection`, in one run (feature
//! `async`):
//!
//! * `async point_select/{raw,ours}/{master,replica}`: criterion medians of
//!   `bench_rows.find(k).first()`; ours in a task-local master (or replica) scope, raw
//!   connected to the master (or replica1). The replica case uses a master + replica1
//!   cluster, so its reads go where raw's do.
//! * `async point_select paired wall/...` (`bench-note`): raw and ours alternating call
//!   by call, the median of per-round ratios, as `benches/overhead.rs` does, with the
//!   client thread on one CPU and the servers on another (`common::Pinned`; `BENCH_PIN=0`
//!   leaves them to the scheduler); ours with the role from a task-local scope around
//!   each call, and (`..., set_role`) with the role set on the connection.
//! * `async throughput/...`: 64 tasks over a bb8 pool of 16, point selects for a fixed
//!   time, reported as wall time per read (lower is better). Raw is one pool to the
//!   master (what an app without this library does), ours one pool of cluster
//!   connections in replica scope (reads spread over both replicas).
//!   * `..., both spread`: raw spread by hand over two pools of 8, one per replica, the
//!     control for what spreading itself does on this machine;
//!   * `..., master scope`: our pool reading from the master, as raw does: the
//!     library's cost at that load apart from spreading;
//!   * `..., each server capped at N% of a CPU`: the same sides with every server held
//!     to a CPU quota (`scripts/cluster.sh cap`, `BENCH_CAP`, default 25), as if each
//!     node had a small machine of its own: the servers bound the throughput, as in a
//!     deployment, and the replicas add capacity. Uncapped, the client and the three
//!     servers share this machine's two cores and spreading can't add any.
//! * `async causal read after a write`: UPDATE then read the row, `Questions` counted by
//!   all three servers: raw on the master only, ours in Auto role with causal
//!   consistency (the read goes to a replica after waiting for the write's GTID).
//!
//! `BENCH_ONLY=paired` runs only the paired point selects (printing their notes).
//! `BENCH_POOL_READS="raw|raw-spread|ours|ours-master N"` runs only N reads of one side
//! of the throughput case (no clock), for counting the client's instructions with
//! callgrind.
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
    /// The bench cluster, prepared, with a master + replica1 cluster beside it.
    fn new() -> Sides {
        let urls = common::urls();
        common::prepare(&urls);
        Sides {
            cluster: common::cluster(&urls),
            one_replica: Cluster::builder()
                .master(&urls.master)
                .replica(&urls.replica1)
                .build()
                .expect("one-replica cluster"),
            urls,
        }
    }

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
    // Client and servers on CPUs of their own (see `Pinned`); `BENCH_PIN=0` leaves the
    // placement to the scheduler.
    let _pinned = (std::env::var("BENCH_PIN").as_deref() != Ok("0"))
        .then(common::Pinned::split)
        .flatten();
    let rt = runtime();
    let pairs = std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    // The role from a task-local scope around each call, or set on the connection
    // (`set_role`, the form that needs no ambient state).
    for (scope, explicit) in [
        ("master", false),
        ("replica", false),
        ("master", true),
        ("replica", true),
    ] {
        let p = paired(
            8,
            pairs,
            || sides.raw(&rt, scope),
            || {
                let mut conn = sides.ours(scope);
                if explicit {
                    conn.set_role(Some(role(scope)));
                }
                conn
            },
            |c, i| {
                rt.block_on(select(c, key(i)));
            },
            |c, i| {
                if explicit {
                    rt.block_on(select(c, key(i)));
                } else {
                    rt.block_on(task::with_role(role(scope), select(c, key(i))));
                }
            },
        );
        let case = if explicit {
            format!("{scope}, set_role")
        } else {
            scope.to_string()
        };
        note_ratio(
            &format!("async point_select paired wall/{case}"),
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

/// The throughput case's sides.
#[derive(Clone, Copy)]
enum Side {
    /// One raw pool of 16 to the master: what an app without this library does.
    Raw,
    /// Two raw pools of 8, to replica1 and replica2, half the tasks on each: reads
    /// spread by hand, the control for what spreading does on this machine.
    RawSpread,
    /// One pool of 16 cluster connections in replica scope (spread by the library).
    Ours,
    /// The same pool in master scope: the library's cost on raw's server.
    OursMaster,
    /// A pool of 16 cluster connections with `replica_affinity`, in replica scope: each
    /// connection keeps the replica it first read from, so the pool's connections
    /// spread over the replicas (as raw's two pools do) instead of every statement.
    OursAffinity,
}

const SIDES: [Side; 5] = [
    Side::Raw,
    Side::RawSpread,
    Side::Ours,
    Side::OursMaster,
    Side::OursAffinity,
];

struct Pools {
    master: bb8::Pool<AsyncMysqlConnection>,
    replicas: [bb8::Pool<AsyncMysqlConnection>; 2],
    ours: bb8::Pool<AsyncClusterConnection>,
    affinity: bb8::Pool<AsyncClusterConnection>,
}

impl Pools {
    async fn new(urls: &Urls, cluster: &Cluster) -> Pools {
        async fn ours(cluster: &Cluster) -> bb8::Pool<AsyncClusterConnection> {
            bb8::Pool::builder()
                .max_size(16)
                .build(cluster.async_manager())
                .await
                .expect("our pool")
        }
        let raw = |url: &str, size| {
            bb8::Pool::builder()
                .max_size(size)
                .build(AsyncDieselConnectionManager::<AsyncMysqlConnection>::new(
                    tcp(url),
                ))
        };
        Pools {
            master: raw(&urls.master, 16).await.expect("raw pool"),
            replicas: [
                raw(&urls.replica1, 8).await.expect("raw replica1 pool"),
                raw(&urls.replica2, 8).await.expect("raw replica2 pool"),
            ],
            ours: ours(cluster).await,
            affinity: ours(
                &Cluster::builder()
                    .url(&urls.cluster)
                    .replica_affinity(true)
                    .build()
                    .expect("affinity cluster"),
            )
            .await,
        }
    }

    /// 64 tasks reading on `side` until `until`; the reads done.
    async fn read(&self, side: Side, until: Until) -> u64 {
        match side {
            Side::Raw => readers(self.master.clone(), 64, until, None).await,
            Side::RawSpread => {
                let [one, two] = &self.replicas;
                let (a, b) = tokio::join!(
                    readers(one.clone(), 32, until.clone(), None),
                    readers(two.clone(), 32, until, None)
                );
                a + b
            }
            Side::Ours => readers(self.ours.clone(), 64, until, Some(Role::Replica)).await,
            Side::OursMaster => readers(self.ours.clone(), 64, until, Some(Role::Master)).await,
            Side::OursAffinity => {
                readers(self.affinity.clone(), 64, until, Some(Role::Replica)).await
            }
        }
    }

    /// Reads taken by each of [`SIDES`] in each of `rounds` alternations of `time` each
    /// (so that drift in the machine's load hits all of them alike), and the statements
    /// the servers counted for each side over all rounds.
    async fn alternate(
        &self,
        time: Duration,
        rounds: u32,
        counted: &Statements<'_>,
    ) -> (Vec<[u64; 5]>, [u64; 5]) {
        let mut all = Vec::new();
        let mut statements = [0; 5];
        for _ in 0..rounds {
            let mut reads = [0; 5];
            for (n, side) in SIDES.into_iter().enumerate() {
                let before = counted.now();
                reads[n] = self
                    .read(side, Until::Deadline(Instant::now() + time))
                    .await;
                statements[n] += counted.since(before);
            }
            all.push(reads);
        }
        (all, statements)
    }
}

/// Per-read wall time of the sides `ours` and `raw` (indexes into [`SIDES`]) in each
/// round, ours/raw: the median and the range, as the paired point select reports them
/// (a round's sides ran seconds apart, under the same load).
fn round_ratios(rounds: &[[u64; 5]], raw: usize, ours: usize) -> (f64, f64, f64) {
    // Equal times per side: the time per read is inversely the reads.
    let mut r: Vec<f64> = rounds
        .iter()
        .map(|round| round[raw] as f64 / round[ours] as f64)
        .collect();
    let median = common::median(&mut r);
    let n = r.len();
    (median, r[0], r[n - 1])
}

fn throughput(sides: &Sides) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (time, rounds) = (Duration::from_secs(1), 8);
    let cap: u32 = std::env::var("BENCH_CAP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let per = |reads: u64| (f64::from(rounds) * time.as_nanos() as f64) / reads as f64;
    let report = |case: &str, (all, statements): (Vec<[u64; 5]>, [u64; 5])| {
        let name = |what: &str| format!("async throughput/64 tasks, pool of 16{case}{what}");
        let total = |n: usize| all.iter().map(|round| round[n]).sum::<u64>();
        let [raw, spread, ours, master, affinity] = [0, 1, 2, 3, 4].map(total);
        let asked = |n: usize| statements[n] as f64 / total(n) as f64;
        let each = format!("in {rounds} rounds of {time:?} per side");
        // `(raw side, ours side)`: the ratio of their per-read times, round by round.
        let line = |what: &str, (r, o): (usize, usize), detail: String| {
            let (median, low, high) = round_ratios(&all, r, o);
            note_ratio(
                &name(what),
                Some(per(total(r))),
                Some(per(total(o))),
                Some(median),
                &format!(
                    "{detail}; per-read ours/raw by round {low:.3}..{high:.3}; statements \
                     per read counted by the servers: raw {:.2}, ours {:.2}",
                    asked(r),
                    asked(o)
                ),
            );
        };
        line(
            "",
            (0, 2),
            format!(
                "wall time per read (lower is better): raw {raw} reads from the master, \
                 ours {ours} reads spread over 2 replicas, {each}"
            ),
        );
        line(
            ", both spread",
            (1, 2),
            format!(
                "raw {spread} reads from two pools of 8, one per replica; ours {ours} as above"
            ),
        );
        line(
            ", both spread, replica_affinity",
            (1, 4),
            format!(
                "ours {affinity} reads with replica_affinity: each connection keeps one \
                 replica, the pool's connections spread over both"
            ),
        );
        line(
            ", master scope",
            (0, 3),
            format!("ours {master} reads from the master, as raw's"),
        );
    };
    rt.block_on(async {
        let pools = Pools::new(&sides.urls, &sides.cluster).await;
        let counted = Statements::new(&sides.urls);
        // The client and the three servers share this machine's cores: spreading the
        // reads can't add capacity, so this measures the client's overhead.
        report("", pools.alternate(time, rounds, &counted).await);
        // Each server held to `cap`% of a CPU, as if on a small machine of its own
        // (the client keeps the rest): the servers bound the throughput, as in a
        // deployment, and spreading reads over the replicas adds capacity.
        match common::Capped::all(cap) {
            Ok(_capped) => report(
                &format!(", each server capped at {cap}% of a CPU"),
                pools.alternate(time, rounds, &counted).await,
            ),
            Err(e) => note(
                &format!("async throughput/64 tasks, pool of 16, servers capped at {cap}%"),
                None,
                None,
                &format!("not measured: {e}"),
            ),
        }
    });
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

/// The statements the three servers count (`Questions`), less what reading the counters
/// adds to them.
struct Statements<'a> {
    servers: [&'a str; 3],
    baseline: u64,
}

impl<'a> Statements<'a> {
    fn new(urls: &'a Urls) -> Statements<'a> {
        let servers = [urls.master.as_str(), &urls.replica1, &urls.replica2];
        let baseline = {
            let a = questions(&servers);
            questions(&servers) - a
        };
        Statements { servers, baseline }
    }

    fn now(&self) -> u64 {
        questions(&self.servers)
    }

    /// The statements run since `before` (from [`now`](Self::now)).
    fn since(&self, before: u64) -> u64 {
        self.now() - before - self.baseline
    }
}

fn causal_round_trips(sides: &Sides) {
    let rt = runtime();
    const PAIRS: u64 = 200;
    let counted = Statements::new(&sides.urls);
    let count = |f: &mut dyn FnMut()| {
        let before = counted.now();
        f();
        counted.since(before)
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
    let sides = Sides::new();
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

/// `BENCH_POOL_READS="SIDE N"` (SIDE: raw, raw-spread, ours, ours-master): N point
/// selects by 64 tasks on that side of the throughput case and nothing else, for
/// counting the client's instructions under callgrind (the throughput case without the
/// clock).
fn pool_reads(side: &str, reads: u64) {
    let side = match side {
        "raw" => Side::Raw,
        "raw-spread" => Side::RawSpread,
        "ours" => Side::Ours,
        "ours-master" => Side::OursMaster,
        "ours-affinity" => Side::OursAffinity,
        other => panic!("BENCH_POOL_READS: unknown side {other}"),
    };
    let urls = common::urls();
    common::prepare(&urls);
    let cluster = common::cluster(&urls);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let pools = Pools::new(&urls, &cluster).await;
        pools
            .read(side, Until::Reads(Arc::new(AtomicU64::new(reads))))
            .await
    });
}

/// `BENCH_SELECTS="raw|ours master|replica N"`: N point selects on one connection, as
/// the paired case makes them, and nothing else, for counting the client's
/// instructions per statement under callgrind.
fn selects(side: &str, scope: &str, n: u64) {
    let sides = Sides::new();
    let rt = runtime();
    match side {
        "raw" => {
            let mut conn = sides.raw(&rt, scope);
            for i in 0..n {
                rt.block_on(select(&mut conn, key(i)));
            }
        }
        "ours" => {
            let mut conn = sides.ours(scope);
            for i in 0..n {
                rt.block_on(task::with_role(role(scope), select(&mut conn, key(i))));
            }
        }
        other => panic!("BENCH_SELECTS: unknown side {other}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_SELECTS") {
        let parts: Vec<&str> = spec.split_whitespace().collect();
        let n = parts.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
        selects(
            <[&str]>::first(&parts).copied().unwrap_or("raw"),
            parts.get(1).copied().unwrap_or("master"),
            n,
        );
        return;
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("paired") {
        paired_point_select(&Sides::new());
        return;
    }
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
