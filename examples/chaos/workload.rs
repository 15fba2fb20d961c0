//! The chaos workload, shared by `examples/chaos` (the full run, `scripts/chaos.sh`) and
//! `tests/it/chaos.rs` (a short run inside the test suite).
//!
//! Worker threads write and read through an r2d2 pool of `ClusterConnection`s while a
//! fault schedule (run here, through `scripts/cluster.sh`) kills and restarts replicas,
//! stops and starts SQL threads, adds `MASTER_DELAY`, and stops and restarts the master.
//! Every write inserts a row with a unique id and counts as acknowledged only when the
//! insert returned `Ok`. At the end, after the replicas caught up, every node must hold
//! every acknowledged write exactly once, and no promise may have been broken:
//!
//! * a causal read of the thread's own acknowledged write never misses it;
//! * a read never fails while some node could serve it (a replica that is up, or the
//!   master); reads that fail while no node could serve them are counted as excused;
//! * no operation hangs.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_cluster::{
    with_consistency, with_replica, with_token, Cluster, ClusterConnection, ClusterManager,
    Consistency, ConsistencyToken,
};

diesel::table! {
    chaos_writes (pk) {
        pk -> BigInt,
        id -> BigInt,
        thread -> Integer,
        seq -> Integer,
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// `scripts/cluster.sh --name` of the cluster to use (started if needed).
    pub cluster: String,
    /// How long the workload runs (the fault schedule is scaled to it).
    pub duration: Duration,
    /// Worker threads (the pool has as many connections).
    pub threads: usize,
    /// Seed of the workers' random choices.
    pub seed: u64,
    /// Print each fault as it happens.
    pub verbose: bool,
    /// Consistency of the reads that must see the thread's own write: `Causal`; anything
    /// else shows that the check catches stale reads.
    pub read_your_writes: Consistency,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: "chaos".into(),
            duration: Duration::from_secs(60),
            threads: 8,
            seed: 0x5eed,
            verbose: false,
            read_your_writes: Consistency::Causal,
        }
    }
}

/// Library settings of the run: short enough that faults are noticed quickly.
const MONITOR_INTERVAL: Duration = Duration::from_millis(250);
const EJECTION_COOLDOWN: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const CAUSAL_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_REPLICA_LAG: Duration = Duration::from_secs(5);
/// After a node comes back, the time the library may take to use it again: a cooldown,
/// two monitor rounds, and slack for a loaded machine.
const READMIT_GRACE: Duration = Duration::from_millis(
    EJECTION_COOLDOWN.as_millis() as u64 + 2 * MONITOR_INTERVAL.as_millis() as u64 + 1500,
);
/// An operation slower than this counts as hung (all nodes are on loopback: a dead
/// node answers with a reset, so nothing legitimate takes this long).
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// A read slower than this is reported as stalled (the pool's checkout timeout).
const SLOW_READ: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------ cluster script

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh")
}

fn cluster_sh(name: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .args(["--name", name])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cluster.sh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "cluster.sh --name {name} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct Urls {
    cluster: String,
    nodes: [String; 3],
}

fn urls(name: &str) -> Result<Urls, String> {
    let text = cluster_sh(name, &["urls"])?;
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        vars.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("cluster.sh urls printed no {k}"))
    };
    // The app account on every node: the check at the end reads with it.
    let master = get("MASTER_URL")?;
    let r1 = get("REPLICA1_URL")?;
    let r2 = get("REPLICA2_URL")?;
    Ok(Urls {
        cluster: get("CLUSTER_URL")?,
        nodes: [master, r1, r2],
    })
}

const NODE_NAMES: [&str; 3] = ["master", "replica1", "replica2"];

// ------------------------------------------------------------------ fault timeline

/// A span during which a node could not serve some reads.
#[derive(Clone, Debug)]
struct Impairment {
    node: usize,
    /// Replication stopped or delayed: the node still serves reads that need no
    /// freshness, but not causal ones it has not applied yet.
    freshness_only: bool,
    from: Instant,
    /// When the fault was repaired; `None` while it lasts.
    to: Option<Instant>,
}

#[derive(Default)]
struct Timeline {
    spans: Vec<Impairment>,
    log: Vec<(Instant, String)>,
}

impl Timeline {
    fn begin(&mut self, node: usize, freshness_only: bool, what: String) -> usize {
        self.log.push((Instant::now(), what));
        self.spans.push(Impairment {
            node,
            freshness_only,
            from: Instant::now(),
            to: None,
        });
        self.spans.len() - 1
    }

    fn end(&mut self, span: usize, what: String) {
        self.log.push((Instant::now(), what));
        self.spans[span].to = Some(Instant::now());
    }

    /// Whether `node` could serve a read (a causal one when `causal`) during the
    /// whole of `[from, to]`: no impairment overlaps it, each counted until
    /// `READMIT_GRACE` after its repair.
    fn could_serve(&self, node: usize, causal: bool, from: Instant, to: Instant) -> bool {
        !self.spans.iter().any(|s| {
            s.node == node
                && (causal || !s.freshness_only)
                && s.from <= to
                && s.to.is_none_or(|end| end + READMIT_GRACE >= from)
        })
    }

    fn any_could_serve(&self, causal: bool, from: Instant, to: Instant) -> Option<usize> {
        (0..3).find(|&n| self.could_serve(n, causal, from, to))
    }
}

// ------------------------------------------------------------------ fault schedule

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill(usize),
    StartNode(usize),
    StopMaster,
    StartMaster,
    StopSql(usize),
    StartSql(usize),
    Delay(usize, u32),
}

/// The schedule as fractions of the run. The master outage happens while both replicas
/// are healthy, so every read must still succeed then; both replicas are dead at once
/// only while the master is up.
fn schedule() -> Vec<(f64, Fault)> {
    use Fault::*;
    vec![
        (0.05, Kill(1)),
        (0.13, StartNode(1)),
        (0.18, StopSql(2)),
        (0.26, StartSql(2)),
        (0.30, Delay(1, 2)),
        (0.42, Delay(1, 0)),
        (0.47, StopMaster),
        (0.57, StartMaster),
        (0.64, Kill(2)),
        (0.70, StartNode(2)),
        (0.76, Kill(1)),
        (0.77, Kill(2)),
        (0.84, StartNode(1)),
        (0.85, StartNode(2)),
    ]
}

fn run_faults(
    name: &str,
    duration: Duration,
    start: Instant,
    timeline: &Mutex<Timeline>,
    verbose: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    // Open spans per (node, freshness_only).
    let mut open: HashMap<(usize, bool), usize> = HashMap::new();
    let lock = || timeline.lock().unwrap_or_else(|e| e.into_inner());
    for (at, fault) in schedule() {
        let due = start + duration.mul_f64(at);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let t = start.elapsed().as_secs_f64();
        if verbose {
            eprintln!("chaos: {t:6.2}s {fault:?}");
        }
        let node_arg = |n: usize| NODE_NAMES[n];
        let result = match fault {
            Fault::Kill(n) => {
                let s = lock().begin(n, false, format!("{t:.2}s kill {}", NODE_NAMES[n]));
                open.insert((n, false), s);
                cluster_sh(name, &["kill", node_arg(n)])
            }
            Fault::StopMaster => {
                let s = lock().begin(0, false, format!("{t:.2}s stop master"));
                open.insert((0, false), s);
                cluster_sh(name, &["stop", "master"])
            }
            Fault::StartNode(_) | Fault::StartMaster => {
                let n = if let Fault::StartNode(n) = fault {
                    n
                } else {
                    0
                };
                let r = cluster_sh(name, &["start-node", node_arg(n)]);
                if let Some(s) = open.remove(&(n, false)) {
                    let t = start.elapsed().as_secs_f64();
                    lock().end(s, format!("{t:.2}s {} up", NODE_NAMES[n]));
                }
                r
            }
            Fault::StopSql(n) => {
                let s = lock().begin(n, true, format!("{t:.2}s stop-sql {}", NODE_NAMES[n]));
                open.insert((n, true), s);
                cluster_sh(name, &["stop-sql", node_arg(n)])
            }
            Fault::StartSql(n) => {
                let r = cluster_sh(name, &["start-sql", node_arg(n)]);
                if let Some(s) = open.remove(&(n, true)) {
                    let t = start.elapsed().as_secs_f64();
                    lock().end(s, format!("{t:.2}s start-sql {}", NODE_NAMES[n]));
                }
                r
            }
            Fault::Delay(n, secs) => {
                let r = cluster_sh(name, &["delay", node_arg(n), &secs.to_string()]);
                if secs > 0 {
                    // Stopping and restarting replication to change the delay is itself
                    // a moment of "replication stopped".
                    let s =
                        lock().begin(n, true, format!("{t:.2}s delay {} {secs}s", NODE_NAMES[n]));
                    open.insert((n, true), s);
                } else if let Some(s) = open.remove(&(n, true)) {
                    let t = start.elapsed().as_secs_f64();
                    lock().end(s, format!("{t:.2}s delay {} 0", NODE_NAMES[n]));
                }
                r
            }
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    errors
}

// ------------------------------------------------------------------ workers

/// A tiny xorshift generator: the workload needs cheap, seedable choices, not quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadKind {
    /// Causal read of the thread's last acknowledged write, on the connection that wrote
    /// it (its own write position).
    CausalOwn,
    /// Causal read of the thread's last acknowledged write, on whatever pooled
    /// connection, through the write's `ConsistencyToken`.
    CausalToken,
    /// A read with no freshness requirement (`Eventual`).
    Eventual,
}

struct FailedRead {
    kind: ReadKind,
    /// Why the failure is no broken promise even if a node could serve other reads.
    excuse: Option<&'static str>,
    from: Instant,
    to: Instant,
    error: String,
}

struct StaleRead {
    kind: ReadKind,
    id: i64,
    node: String,
    at: Instant,
}

#[derive(Default)]
struct WorkerResult {
    acked: Vec<i64>,
    failed_writes: Vec<(i64, String)>,
    reads_ok: u64,
    failed_reads: Vec<FailedRead>,
    stale: Vec<StaleRead>,
    causal_reads: u64,
    token_missing: u64,
    served_by: BTreeMap<String, u64>,
    /// When each successful read ended, to count the reads served during outages.
    read_ends: Vec<Instant>,
    /// Successful reads that took longer than `SLOW_READ`.
    slow_reads: u64,
}

impl WorkerResult {
    fn read_ok(&mut self, from: Instant, node: String) {
        let now = Instant::now();
        self.reads_ok += 1;
        self.read_ends.push(now);
        if now - from > SLOW_READ {
            self.slow_reads += 1;
        }
        *self.served_by.entry(node).or_default() += 1;
    }
}

fn count_id(conn: &mut ClusterConnection, id: i64) -> QueryResult<i64> {
    chaos_writes::table
        .filter(chaos_writes::id.eq(id))
        .count()
        .get_result(conn)
}

type ClusterPool = Pool<ClusterManager>;

fn checkout(pool: &ClusterPool) -> Result<PooledConnection<ClusterManager>, String> {
    pool.get().map_err(|e| format!("pool: {e}"))
}

fn worker(
    thread_no: usize,
    pool: ClusterPool,
    stop: Arc<AtomicBool>,
    seed: u64,
    busy_since: Arc<AtomicU64>,
    epoch: Instant,
    ryw: Consistency,
) -> WorkerResult {
    let mut rng = Rng::new(seed ^ (thread_no as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut res = WorkerResult::default();
    let mut seq: i32 = 0;
    // The last acknowledged write whose position could be read, with that position.
    let mut token: Option<(i64, ConsistencyToken)> = None;
    let mark = |busy: bool| {
        let v = if busy {
            epoch.elapsed().as_millis() as u64 + 1
        } else {
            0
        };
        busy_since.store(v, Ordering::Relaxed);
    };

    let mut unresolved: Option<(PooledConnection<ClusterManager>, i64, Instant)> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some((conn, id, tried)) = &mut unresolved {
            if tried.elapsed() > Duration::from_millis(200) {
                *tried = Instant::now();
                if let Some(t) = conn.consistency_token().filter(|t| !t.is_empty()) {
                    token = Some((*id, t));
                    unresolved = None;
                }
            }
        }
        let dice = rng.below(100);
        mark(true);
        if dice < 20 {
            // Write.
            seq += 1;
            let id = ((thread_no as i64) << 32) | i64::from(seq);
            let mut conn = match checkout(&pool) {
                Ok(c) => c,
                Err(e) => {
                    res.failed_writes.push((id, e));
                    mark(false);
                    continue;
                }
            };
            let r = diesel::insert_into(chaos_writes::table)
                .values((
                    chaos_writes::id.eq(id),
                    chaos_writes::thread.eq(thread_no as i32),
                    chaos_writes::seq.eq(seq),
                ))
                .execute(&mut *conn);
            match r {
                Ok(_) => {
                    res.acked.push(id);
                    // The master can go down between the write and reading its position:
                    // then no replica can be proven to have it, and a causal read of it
                    // on this connection may only be served by the master.
                    let excuse = match conn.consistency_token() {
                        Some(t) if !t.is_empty() => {
                            token = Some((id, t));
                            None
                        }
                        _ => {
                            res.token_missing += 1;
                            Some("the write's position could not be read (master down)")
                        }
                    };
                    // Half the time, read it back at once on the same connection.
                    let read_back = rng.below(2) == 0;
                    if read_back {
                        causal_read(&mut res, ReadKind::CausalOwn, excuse, id, || {
                            with_replica(|| {
                                with_consistency(ryw, || {
                                    let n = count_id(&mut conn, id).map_err(|e| e.to_string())?;
                                    Ok((n, conn.last_node().unwrap_or("?").to_string()))
                                })
                            })
                        });
                    }
                    if excuse.is_some() {
                        // The connection owes its next causal reads a write no replica
                        // can be proven to have: keep it out of the pool until its
                        // position can be read, so the obligation doesn't fail other
                        // threads' reads (the library keeps it per connection).
                        unresolved = Some((conn, id, Instant::now()));
                    }
                }
                Err(e) => res.failed_writes.push((id, e.to_string())),
            }
        } else if dice < 60 {
            // Causal read of the last acknowledged write through its token, on a
            // connection checked out inside the scope (as a web handler would).
            // (Nothing to check before the first acknowledged write with a known position.)
            if let Some((id, t)) = &token {
                let id = *id;
                causal_read(&mut res, ReadKind::CausalToken, None, id, || {
                    with_replica(|| {
                        with_consistency(ryw, || {
                            with_token(t, || {
                                let mut conn = checkout(&pool)?;
                                let n = count_id(&mut conn, id).map_err(|e| e.to_string())?;
                                Ok((n, conn.last_node().unwrap_or("?").to_string()))
                            })
                        })
                    })
                });
            }
        } else {
            // A read with no freshness requirement; the connection is checked out
            // outside any scope, as most application code does.
            let from = Instant::now();
            let r = (|| {
                let mut conn = checkout(&pool)?;
                with_replica(|| {
                    with_consistency(Consistency::Eventual, || {
                        let max: Option<i32> = chaos_writes::table
                            .filter(chaos_writes::thread.eq(thread_no as i32))
                            .select(diesel::dsl::max(chaos_writes::seq))
                            .first(&mut *conn)
                            .map_err(|e| e.to_string())?;
                        let _ = max;
                        Ok::<_, String>(conn.last_node().unwrap_or("?").to_string())
                    })
                })
            })();
            match r {
                Ok(node) => res.read_ok(from, node),
                Err(error) => res.failed_reads.push(FailedRead {
                    kind: ReadKind::Eventual,
                    excuse: None,
                    from,
                    to: Instant::now(),
                    error,
                }),
            }
        }
        mark(false);
    }
    res
}

fn causal_read(
    res: &mut WorkerResult,
    kind: ReadKind,
    excuse: Option<&'static str>,
    id: i64,
    read: impl FnOnce() -> Result<(i64, String), String>,
) {
    let from = Instant::now();
    res.causal_reads += 1;
    match read() {
        Ok((n, node)) => {
            if n != 1 {
                res.stale.push(StaleRead {
                    kind,
                    id,
                    node: format!("{node} (saw {n} rows)"),
                    at: Instant::now(),
                });
            }
            res.read_ok(from, node);
        }
        Err(error) => res.failed_reads.push(FailedRead {
            kind,
            excuse,
            from,
            to: Instant::now(),
            error,
        }),
    }
}

// ------------------------------------------------------------------ report

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub elapsed: Duration,
    pub writes: u64,
    pub acked: u64,
    pub failed_writes: u64,
    /// Failed writes grouped by error message.
    pub write_errors: BTreeMap<String, u64>,
    /// Writes that returned an error but are on the master anyway.
    pub unacked_present: u64,
    pub reads: u64,
    pub causal_reads: u64,
    /// Reads that failed while no node could serve them.
    pub failed_reads_excused: u64,
    /// Reads that failed while a node could serve them: a broken promise.
    pub failed_reads_broken: u64,
    pub broken_read_examples: Vec<String>,
    pub stale_causal: u64,
    pub stale_examples: Vec<String>,
    /// Acknowledged writes missing, per node.
    pub lost: BTreeMap<String, u64>,
    /// Ids present more than once, per node.
    pub duplicated: BTreeMap<String, u64>,
    /// Ids on a replica that the master lacks, plus ids on the master the replica lacks.
    pub replica_mismatch: BTreeMap<String, u64>,
    pub token_missing: u64,
    pub hangs: u64,
    /// Reads that succeeded but took longer than the pool's checkout timeout.
    pub slow_reads: u64,
    /// Reads served while the master was down.
    pub reads_during_master_outage: u64,
    pub served_by: BTreeMap<String, u64>,
    pub retries: u64,
    pub fallbacks: u64,
    pub ejections: u64,
    pub causal_waits: u64,
    pub causal_timeouts: u64,
    pub fault_errors: Vec<String>,
    pub timeline: Vec<String>,
    pub status_table: String,
}

impl Report {
    /// Whether every promise held.
    pub fn passed(&self) -> bool {
        self.failed_reads_broken == 0
            && self.stale_causal == 0
            && self.lost.values().all(|&n| n == 0)
            && self.duplicated.values().all(|&n| n == 0)
            && self.replica_mismatch.values().all(|&n| n == 0)
            && self.hangs == 0
            && self.fault_errors.is_empty()
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        format!(
            "chaos {}: {:.1}s writes={} acked={} failed={} unacked_present={} lost={} dup={} \
             replica_mismatch={} reads={} causal={} stale_causal={} failed_reads={} (excused {}, broken {}) \
             hangs={} slow_reads={} reads_in_master_outage={} retries={} fallbacks={} ejections={} causal_waits={} causal_timeouts={} \
             token_missing={}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.elapsed.as_secs_f64(),
            self.writes,
            self.acked,
            self.failed_writes,
            self.unacked_present,
            sum(&self.lost),
            sum(&self.duplicated),
            sum(&self.replica_mismatch),
            self.reads,
            self.causal_reads,
            self.stale_causal,
            self.failed_reads_excused + self.failed_reads_broken,
            self.failed_reads_excused,
            self.failed_reads_broken,
            self.hangs,
            self.slow_reads,
            self.reads_during_master_outage,
            self.retries,
            self.fallbacks,
            self.ejections,
            self.causal_waits,
            self.causal_timeouts,
            self.token_missing,
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fault timeline:")?;
        for l in &self.timeline {
            writeln!(f, "  {l}")?;
        }
        for e in &self.fault_errors {
            writeln!(f, "fault injection error: {e}")?;
        }
        writeln!(f, "reads served by: {:?}", self.served_by)?;
        if !self.write_errors.is_empty() {
            writeln!(f, "failed writes by error:")?;
            for (msg, n) in &self.write_errors {
                writeln!(f, "  {n:>6}  {msg}")?;
            }
        }
        for e in &self.broken_read_examples {
            writeln!(f, "broken read: {e}")?;
        }
        for e in &self.stale_examples {
            writeln!(f, "stale causal read: {e}")?;
        }
        for (node, n) in &self.lost {
            writeln!(f, "{node}: {n} acknowledged writes missing")?;
        }
        write!(f, "{}", self.status_table)?;
        write!(f, "{}", self.summary())
    }
}

/// Error messages carry ports and ids that differ per occurrence; group them by shape.
fn group_key(msg: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in msg.chars().take(200) {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

// ------------------------------------------------------------------ run

fn prepare_table(urls: &Urls, name: &str) -> Result<(), String> {
    let mut m = diesel::MysqlConnection::establish(&urls.nodes[0]).map_err(|e| e.to_string())?;
    m.batch_execute(
        "DROP TABLE IF EXISTS chaos_writes;
         CREATE TABLE chaos_writes (
             pk BIGINT AUTO_INCREMENT PRIMARY KEY,
             id BIGINT NOT NULL,
             thread INT NOT NULL,
             seq INT NOT NULL,
             KEY (id),
             KEY (thread, seq)
         )",
    )
    .map_err(|e| e.to_string())?;
    cluster_sh(name, &["sync", "60"]).map(|_| ())
}

/// Every id on a node, with how many rows it has.
fn node_ids(url: &str) -> Result<HashMap<i64, i64>, String> {
    let mut c = diesel::MysqlConnection::establish(url).map_err(|e| e.to_string())?;
    let rows: Vec<(i64, i64)> = chaos_writes::table
        .group_by(chaos_writes::id)
        .select((chaos_writes::id, diesel::dsl::count_star()))
        .load(&mut c)
        .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().collect())
}

/// Puts every node back: started, replicating, no delay.
fn restore(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for n in NODE_NAMES {
        if let Err(e) = cluster_sh(name, &["start-node", n]) {
            errors.push(e);
        }
    }
    for n in ["replica1", "replica2"] {
        for args in [["start-sql", n, ""], ["delay", n, "0"]] {
            let args: Vec<&str> = args.iter().copied().filter(|a| !a.is_empty()).collect();
            // start-sql on a running SQL thread is a harmless warning.
            let _ = cluster_sh(name, &args);
        }
    }
    errors
}

/// Runs the workload and the fault schedule; returns what happened. `Err` only when the
/// run could not be set up or checked at all.
pub fn run(config: &Config) -> Result<Report, String> {
    cluster_sh(&config.cluster, &["start"])?;
    let urls = urls(&config.cluster)?;
    prepare_table(&urls, &config.cluster)?;

    let cluster = Cluster::builder()
        .url(&urls.cluster)
        .monitor_interval(Some(MONITOR_INTERVAL))
        .ejection_cooldown(EJECTION_COOLDOWN)
        .connect_timeout(CONNECT_TIMEOUT)
        .causal_timeout(CAUSAL_TIMEOUT)
        .max_replica_lag(MAX_REPLICA_LAG)
        .build()
        .map_err(|e| e.to_string())?;
    let pool = Pool::builder()
        .max_size(config.threads as u32)
        .connection_timeout(Duration::from_secs(5))
        .build(cluster.manager())
        .map_err(|e| format!("pool: {e}"))?;

    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    let mut busy = Vec::new();
    for t in 0..config.threads {
        let pool = pool.clone();
        let stop = stop.clone();
        let done = done_tx.clone();
        let b = Arc::new(AtomicU64::new(0));
        busy.push(b.clone());
        let seed = config.seed;
        let ryw = config.read_your_writes;
        thread::Builder::new()
            .name(format!("chaos-{t}"))
            .spawn(move || {
                let r = worker(t, pool, stop, seed, b, start, ryw);
                let _ = done.send(r);
            })
            .map_err(|e| e.to_string())?;
    }
    drop(done_tx);

    let fault_errors = {
        let name = config.cluster.clone();
        let timeline = timeline.clone();
        let (duration, verbose) = (config.duration, config.verbose);
        let faults = thread::spawn(move || run_faults(&name, duration, start, &timeline, verbose));
        // Watchdog: while the schedule runs, look for an operation stuck longer than the
        // hang limit.
        let mut hangs = 0u64;
        while !faults.is_finished() || start.elapsed() < config.duration {
            thread::sleep(Duration::from_millis(200));
            hangs = hangs.max(count_hung(&busy, start));
        }
        let errors = faults
            .join()
            .unwrap_or_else(|_| vec!["fault thread panicked".into()]);
        (errors, hangs)
    };
    stop.store(true, Ordering::Relaxed);

    let mut results = Vec::new();
    let deadline = Instant::now() + HANG_LIMIT;
    let mut hangs = fault_errors.1;
    while results.len() < config.threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(r) => results.push(r),
            Err(_) => {
                hangs = hangs.max((config.threads - results.len()) as u64);
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    let status = cluster.status();

    let mut report = Report {
        elapsed,
        hangs,
        fault_errors: fault_errors.0,
        ..Report::default()
    };
    report.fault_errors.extend(restore(&config.cluster));
    if let Err(e) = cluster_sh(&config.cluster, &["sync", "60"]) {
        report.fault_errors.push(e);
    }

    let timeline = timeline.lock().unwrap_or_else(|e| e.into_inner());
    report.timeline = timeline.log.iter().map(|(_, l)| l.clone()).collect();
    let mut acked = Vec::new();
    let mut unacked = Vec::new();
    for r in results {
        report.writes += (r.acked.len() + r.failed_writes.len()) as u64;
        report.acked += r.acked.len() as u64;
        report.failed_writes += r.failed_writes.len() as u64;
        for (id, msg) in r.failed_writes {
            *report.write_errors.entry(group_key(&msg)).or_default() += 1;
            unacked.push(id);
        }
        acked.extend(r.acked);
        report.reads += r.reads_ok + r.failed_reads.len() as u64;
        report.causal_reads += r.causal_reads;
        report.slow_reads += r.slow_reads;
        report.reads_during_master_outage += r
            .read_ends
            .iter()
            .filter(|&&end| {
                timeline.spans.iter().any(|s| {
                    s.node == 0
                        && !s.freshness_only
                        && s.from <= end
                        && s.to.is_none_or(|to| end <= to)
                })
            })
            .count() as u64;
        report.token_missing += r.token_missing;
        for (node, n) in r.served_by {
            *report.served_by.entry(node).or_default() += n;
        }
        for f in r.failed_reads {
            let causal = f.kind != ReadKind::Eventual;
            let could_serve = match f.excuse {
                // Only the master could serve it.
                Some(_) => Some(0).filter(|_| timeline.could_serve(0, true, f.from, f.to)),
                None => timeline.any_could_serve(causal, f.from, f.to),
            };
            match could_serve {
                None => report.failed_reads_excused += 1,
                Some(node) => {
                    report.failed_reads_broken += 1;
                    if report.broken_read_examples.len() < 10 {
                        report.broken_read_examples.push(format!(
                            "{:?} at {:.2}s-{:.2}s while {} could serve: {}",
                            f.kind,
                            f.from.duration_since(start).as_secs_f64(),
                            f.to.duration_since(start).as_secs_f64(),
                            NODE_NAMES[node],
                            f.error
                        ));
                    }
                }
            }
        }
        for s in r.stale {
            report.stale_causal += 1;
            if report.stale_examples.len() < 10 {
                report.stale_examples.push(format!(
                    "{:?} of id {} at {:.2}s on {}",
                    s.kind,
                    s.id,
                    s.at.duration_since(start).as_secs_f64(),
                    s.node
                ));
            }
        }
    }
    drop(timeline);

    for n in &status.nodes {
        report.retries += n.retries;
        report.fallbacks += n.fallbacks;
        report.ejections += n.ejections;
        report.causal_waits += n.causal_waits;
        report.causal_timeouts += n.causal_timeouts;
    }
    report.status_table = status.to_string();

    let master_rows = node_ids(&urls.nodes[0])?;
    for (i, url) in urls.nodes.iter().enumerate() {
        let rows = if i == 0 {
            master_rows.clone()
        } else {
            node_ids(url)?
        };
        let name = NODE_NAMES[i].to_string();
        let lost = acked.iter().filter(|id| !rows.contains_key(id)).count() as u64;
        let dup = rows.values().filter(|&&n| n > 1).count() as u64;
        report.lost.insert(name.clone(), lost);
        report.duplicated.insert(name.clone(), dup);
        if i > 0 {
            let extra = rows
                .keys()
                .filter(|id| !master_rows.contains_key(id))
                .count() as u64;
            let missing = master_rows
                .keys()
                .filter(|id| !rows.contains_key(id))
                .count() as u64;
            report
                .replica_mismatch
                .insert(name.clone(), extra + missing);
        }
    }
    report.unacked_present = unacked
        .iter()
        .filter(|id| master_rows.contains_key(id))
        .count() as u64;
    Ok(report)
}

fn count_hung(busy: &[Arc<AtomicU64>], epoch: Instant) -> u64 {
    let now = epoch.elapsed().as_millis() as u64 + 1;
    busy.iter()
        .filter(|b| {
            let since = b.load(Ordering::Relaxed);
            since != 0 && now.saturating_sub(since) > HANG_LIMIT.as_millis() as u64
        })
        .count() as u64
}
