//! Shared set-up for the benches: the cluster's URLs, the scratch table `bench_rows`, the
//! criterion configuration, and a paired (interleaved) comparison.
//!
//! The benches run against a cluster started by `scripts/cluster.sh` (the `main` one unless
//! `BENCH_CLUSTER` names another); `scripts/bench.sh` starts it. They only read, except in
//! `bench_rows`, which they own.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_cluster::{with_replica, Cluster, ClusterConnection};

diesel::table! {
    bench_rows (id) {
        id -> BigInt,
        name -> Varchar,
        score -> Integer,
    }
}

/// Rows 1..=SEED_ROWS are the fixed data every read uses; inserts land above.
pub const SEED_ROWS: i64 = 1000;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = bench_rows)]
#[diesel(check_for_backend(diesel::mysql::Mysql))]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub score: i32,
}

/// The cluster the benches run against.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The master, as the read-write `app` user.
    pub master: String,
    /// replica1, as the same `app` user the cluster URL uses for every node.
    pub replica1: String,
    /// replica2, likewise.
    pub replica2: String,
    /// `mysql://app:app_pw@master,replica1,replica2/app`
    pub cluster: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh")
}

/// Runs `scripts/cluster.sh --name $BENCH_CLUSTER ARGS`; its stdout, or why it failed.
fn cluster_script(args: &[&str]) -> Result<String, String> {
    let name = std::env::var("BENCH_CLUSTER").unwrap_or_else(|_| "main".to_string());
    let out = Command::new("bash")
        .arg(script())
        .args(["--name", &name])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run scripts/cluster.sh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "scripts/cluster.sh --name {name} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Every node of the bench cluster held to a CPU quota (`scripts/cluster.sh cap`), as
/// if each had a small machine of its own; uncapped again when dropped.
pub struct Capped;

impl Capped {
    pub fn all(percent: u32) -> Result<Capped, String> {
        let capped = Capped;
        for node in NODES {
            cluster_script(&["cap", node, &percent.to_string()])?;
        }
        Ok(capped)
    }
}

impl Drop for Capped {
    fn drop(&mut self) {
        for node in NODES {
            if let Err(e) = cluster_script(&["uncap", node]) {
                eprintln!("{e}");
            }
        }
    }
}

/// The calling thread on one CPU and every node of the bench cluster on another
/// (`scripts/cluster.sh pin`), for the paired cases: otherwise the scheduler moves the
/// client and the servers' threads between the two cores, and a round trip costs one
/// or two cross-core wake-ups depending on where they landed, which changes from one
/// connection to the next by up to 2x. Both sides are measured under the same placement.
/// Undone when dropped.
pub struct Pinned {
    saved: libc::cpu_set_t,
}

impl Pinned {
    /// `None` (nothing changed) with fewer than two CPUs, or where pinning fails.
    pub fn split() -> Option<Pinned> {
        // SAFETY: `cpu_set_t` is plain data; the calls get a valid pointer and size, and
        // pid 0 is the calling thread.
        unsafe {
            let mut saved: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut saved) != 0 {
                return None;
            }
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &saved))
                .collect();
            let (&client, &servers) = (cpus.first()?, cpus.last()?);
            if client == servers {
                return None;
            }
            let pinned = Pinned { saved };
            for node in NODES {
                if let Err(e) = cluster_script(&["pin", node, &servers.to_string()]) {
                    eprintln!("not pinned: {e}");
                    return None;
                }
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(client, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                return None;
            }
            eprintln!("paired runs: client on CPU {client}, servers on CPU {servers}");
            Some(pinned)
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: as in `split`.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.saved);
        }
        for node in NODES {
            if let Err(e) = cluster_script(&["unpin", node]) {
                eprintln!("{e}");
            }
        }
    }
}

const NODES: [&str; 3] = ["master", "replica1", "replica2"];

/// Reads the URLs from `scripts/cluster.sh urls` (which does not start anything).
pub fn urls() -> Urls {
    let out = cluster_script(&["urls"])
        .unwrap_or_else(|e| panic!("{e} (start the cluster first, e.g. scripts/bench.sh)"));
    let vars: HashMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("scripts/cluster.sh urls printed no {k}"))
    };
    Urls {
        master: get("MASTER_URL"),
        replica1: format!("mysql://app:app_pw@127.0.0.1:{}/app", get("REPLICA1_PORT")),
        replica2: format!("mysql://app:app_pw@127.0.0.1:{}/app", get("REPLICA2_PORT")),
        cluster: get("CLUSTER_URL"),
    }
}

/// Short measurements so `scripts/bench.sh` stays within about 10 minutes; the paired
/// runs below give the ratios their precision.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

#[derive(QueryableByName)]
struct Text1 {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Int1 {
    #[diesel(sql_type = Nullable<Integer>)]
    v: Option<i32>,
}

/// Creates `bench_rows` if needed, removes rows earlier runs inserted, makes sure the seed
/// rows exist, and waits until replica1 and replica2 have all of it.
pub fn prepare(urls: &Urls) {
    let mut m = MysqlConnection::establish(&urls.master).expect("connect to the master");
    diesel::sql_query(
        "CREATE TABLE IF NOT EXISTS bench_rows (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(64) NOT NULL,
            score INT NOT NULL
        ) ENGINE=InnoDB",
    )
    .execute(&mut m)
    .expect("create bench_rows");
    diesel::delete(bench_rows::table.filter(bench_rows::id.gt(SEED_ROWS)))
        .execute(&mut m)
        .expect("clean bench_rows");
    let have: i64 = bench_rows::table
        .count()
        .get_result(&mut m)
        .expect("count bench_rows");
    if have < SEED_ROWS {
        let rows: Vec<_> = (1..=SEED_ROWS)
            .map(|i| {
                (
                    bench_rows::id.eq(i),
                    bench_rows::name.eq(format!("row {i:04}")),
                    bench_rows::score.eq(i as i32),
                )
            })
            .collect();
        diesel::insert_or_ignore_into(bench_rows::table)
            .values(&rows)
            .execute(&mut m)
            .expect("seed bench_rows");
    }
    wait_replicas(urls, &mut m);
}

/// Waits (bounded) until every replica applied everything the master has written.
pub fn wait_replicas(urls: &Urls, master: &mut MysqlConnection) {
    let pos = diesel::sql_query("SELECT @@gtid_binlog_pos AS v")
        .get_result::<Text1>(master)
        .expect("read @@gtid_binlog_pos")
        .v
        .unwrap_or_default();
    if pos.is_empty() {
        return;
    }
    for url in [&urls.replica1, &urls.replica2] {
        let mut r = MysqlConnection::establish(url).expect("connect to a replica");
        let done = diesel::sql_query(format!("SELECT MASTER_GTID_WAIT('{pos}', 30) AS v"))
            .get_result::<Int1>(&mut r)
            .expect("MASTER_GTID_WAIT")
            .v;
        assert_eq!(done, Some(0), "a replica did not reach {pos} within 30 s");
    }
}

/// Deletes the rows the insert benches added (keeps the scratch table small).
pub fn cleanup(urls: &Urls) {
    if let Ok(mut m) = MysqlConnection::establish(&urls.master) {
        let _ =
            diesel::delete(bench_rows::table.filter(bench_rows::id.gt(SEED_ROWS))).execute(&mut m);
    }
}

/// A cluster handle on the benches' cluster (default settings).
pub fn cluster(urls: &Urls) -> Cluster {
    Cluster::from_url(&urls.cluster).expect("cluster URL")
}

/// Point select by primary key: the statement the main comparison is about.
pub fn point_select<C>(conn: &mut C, k: i64) -> Row
where
    C: diesel::connection::LoadConnection<Backend = diesel::mysql::Mysql>,
{
    bench_rows::table
        .find(k)
        .select(Row::as_select())
        .first(conn)
        .expect("point select")
}

/// The key for iteration `i`: cycles through the seed rows.
pub fn key(i: u64) -> i64 {
    1 + (i % SEED_ROWS as u64) as i64
}

/// Waits (up to 10 s) until a replica-scope read on `conn` is served by a replica (the
/// monitor must have seen the replicas' lag first), so the benches measure what they say.
pub fn wait_until_replica_reads(conn: &mut ClusterConnection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        with_replica(|| point_select(conn, 1));
        if conn.last_node_is_master() == Some(false) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica-scope reads still go to the master after 10 s: is the cluster healthy?"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts the server round trips `f` costs on `conn` beyond its own statements.
pub fn extra_round_trips(
    conn: &mut ClusterConnection,
    f: impl FnOnce(&mut ClusterConnection),
) -> u64 {
    let before = conn.internal_statements();
    f(conn);
    conn.internal_statements() - before
}

/// A note for `scripts/bench.sh` to put in its table: one line on stdout,
/// `bench-note|<name>|<raw ns or ->|<ours ns or ->|<ours/raw or ->|<detail>`; the ratio
/// is given when it is not simply ours / raw.
pub fn note(name: &str, raw_ns: Option<f64>, ours_ns: Option<f64>, detail: &str) {
    note_ratio(name, raw_ns, ours_ns, None, detail)
}

/// [`note`] with an explicit ratio.
pub fn note_ratio(
    name: &str,
    raw_ns: Option<f64>,
    ours_ns: Option<f64>,
    ratio: Option<f64>,
    detail: &str,
) {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let r = ratio.map_or("-".to_string(), |r| format!("{r:.4}"));
    println!(
        "bench-note|{name}|{}|{}|{r}|{detail}",
        f(raw_ns),
        f(ours_ns)
    );
}

/// CPU time this thread has used, in ns (`CLOCK_THREAD_CPUTIME_ID`; Linux). Time the
/// thread spent waiting, for the server or for a core other processes held, is not in it.
#[cfg(target_os = "linux")]
pub fn thread_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is Linux's constant.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Wall time elsewhere (so the benches still build); the table says which clock ran.
#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_ns() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A criterion measurement of the benchmark thread's CPU time, for the benches with no
/// I/O: on this shared 2-core machine other processes take the core away for
/// milliseconds at a time, which wall time charges to whatever nanosecond-scale routine
/// was running. On an idle core the two agree.
pub struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else if typical < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                *n as f64
            }
        };
        for v in values {
            *v = per * 1e9 / *v;
        }
        "/s (cpu)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// `common::criterion()` timing thread CPU time (see [`ThreadCpuTime`]).
pub fn criterion_cpu() -> Criterion<ThreadCpuTime> {
    criterion().with_measurement(ThreadCpuTime)
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Statements each fresh connection runs untimed first: prepares its statements, opens
/// ours' node connections, fills the per-type classification cache.
pub const WARM_CALLS: u64 = 3;

/// One criterion sample (`iter_custom`) on a fresh connection: `iters` calls of `op`,
/// timed, after [`WARM_CALLS`] untimed ones.
///
/// Why fresh: every MariaDB connection has its own server thread, and on this 2-core
/// virtual machine a connection whose server thread the scheduler keeps on the client's
/// core answers in about half the time of one whose thread sits on the other core (a
/// cross-core wake-up is expensive in a VM). That placement sticks to a connection for
/// seconds, so one connection per side would compare placements, not code; a new
/// connection per sample draws a new placement, and the median over the samples is the
/// typical one for both sides.
pub fn on_fresh<C>(
    iters: u64,
    make: impl FnOnce() -> C,
    mut op: impl FnMut(&mut C, u64),
) -> Duration {
    let mut conn = make();
    for i in 0..WARM_CALLS {
        op(&mut conn, i);
    }
    let start = Instant::now();
    for i in 0..iters {
        op(&mut conn, i);
    }
    start.elapsed()
}

/// Medians of a paired run, ns per call.
#[derive(Debug, Clone, Copy)]
pub struct Paired {
    pub raw_wall: f64,
    pub ours_wall: f64,
    /// The client thread's CPU time per call: the wrapper's own work shows here
    /// undiluted by the server's time.
    pub raw_cpu: f64,
    pub ours_cpu: f64,
    /// ours/raw of each round's wall-time medians: their median is the ratio to report
    /// (robust to a round where the scheduler placed one side badly), with the range.
    pub ratio: f64,
    pub round_ratios: (f64, f64),
}

fn timed<C>(
    f: &mut impl FnMut(&mut C, u64),
    conn: &mut C,
    i: u64,
    wall: &mut Vec<f64>,
    cpu: &mut Vec<f64>,
) {
    let c = thread_cpu_ns();
    let t = Instant::now();
    f(conn, i);
    wall.push(t.elapsed().as_nanos() as f64);
    cpu.push(thread_cpu_ns().saturating_sub(c) as f64);
}

/// Paired comparison: `rounds` rounds, each on fresh connections (see [`on_fresh`]),
/// each running `raw` and `ours` alternately `pairs` times (which goes first alternates
/// too) and timing every call, so load from other processes hits both sides alike.
pub fn paired<A, B>(
    rounds: u32,
    pairs: u64,
    mut make_raw: impl FnMut() -> A,
    mut make_ours: impl FnMut() -> B,
    mut raw: impl FnMut(&mut A, u64),
    mut ours: impl FnMut(&mut B, u64),
) -> Paired {
    let cap = (rounds as u64 * pairs) as usize;
    let (mut rw, mut ow, mut rc, mut oc) = (
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
    );
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let (mut a, mut b) = (make_raw(), make_ours());
        for i in 0..WARM_CALLS {
            raw(&mut a, i);
            ours(&mut b, i);
        }
        let (r0, o0) = (rw.len(), ow.len());
        for i in 0..pairs {
            if i % 2 == 0 {
                timed(&mut raw, &mut a, i, &mut rw, &mut rc);
                timed(&mut ours, &mut b, i, &mut ow, &mut oc);
            } else {
                timed(&mut ours, &mut b, i, &mut ow, &mut oc);
                timed(&mut raw, &mut a, i, &mut rw, &mut rc);
            }
        }
        let round_raw = median(&mut rw[r0..].to_vec());
        let round_ours = median(&mut ow[o0..].to_vec());
        ratios.push(round_ours / round_raw);
    }
    let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().cloned().fold(0.0, f64::max);
    Paired {
        ratio: median(&mut ratios),
        raw_wall: median(&mut rw),
        ours_wall: median(&mut ow),
        raw_cpu: median(&mut rc),
        ours_cpu: median(&mut oc),
        round_ratios: (lo, hi),
    }
}
