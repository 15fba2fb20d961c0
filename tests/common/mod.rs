//! Test helpers shared by the integration tests: a local MariaDB cluster
//! (one master, two GTID replicas) driven by `scripts/cluster.sh`.
//!
//! Std only, so it builds whatever state the library is in.
//!
//! # Who may use a cluster, and when
//!
//! The tests of one binary run on parallel threads, and tests of several files share a
//! cluster (`main`, `chaos`, `diffsess`). So a test holds a guard on each cluster it uses
//! for its whole duration, taken before it first touches the cluster:
//!
//! * [`shared`]`(NAME)`: it only needs the cluster healthy and uses rows, tables,
//!   databases and sessions of its own (unique names). Shared holders run together.
//! * [`exclusive`]`(NAME)`: it injects faults (kill, freeze, stop, restart, delay,
//!   stop-sql, reset, a [`Restore`]), changes server-wide settings, or judges the cluster
//!   as a whole (server counters, every session, general logs, where reads land while a
//!   node is down). It runs alone on that cluster; tests of other clusters go on.
//!
//! A test takes its cluster guards before any lock of its own (a module's mutex): with
//! the other order, a test waiting for the cluster while holding the mutex and one
//! holding the cluster while waiting for the mutex would wait for each other.
//!
//! [`cluster`] and the fault-injecting methods of [`TestCluster`] check it: a test thread
//! that uses a cluster without a guard, or injects a fault under a shared one, panics
//! with a message saying what to take. Threads a test spawns (unnamed: libtest names its
//! test threads) may use a cluster while some test holds a guard on it, and inject faults
//! while one holds it exclusively.
#![allow(dead_code)]

pub mod capture;
pub mod db;
pub mod galera;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

/// Puts a fault-injection cluster back in a healthy topology when dropped, so a test
/// that fails half-way leaves a usable cluster to the next one: `cluster.sh start`
/// thaws and starts stopped nodes, restarts replication threads, removes delays, waits
/// until the replicas caught up, and rebuilds a cluster whose topology changed.
pub struct Restore(pub &'static TestCluster);

impl Drop for Restore {
    fn drop(&mut self) {
        // `try_run` checks for the exclusive guard, which the test declared before its
        // `Restore` and so still holds here.
        if let Err(e) = self.0.try_run(&["start"]) {
            eprintln!("could not restore cluster {}: {e}", self.0.name);
        }
    }
}

/// One running cluster, as reported by `scripts/cluster.sh urls`.
#[derive(Debug, Clone)]
pub struct TestCluster {
    pub name: String,
    /// `mysql://app:app_pw@127.0.0.1:P1/app`
    pub master_url: String,
    /// `mysql://app_ro:ro_pw@127.0.0.1:P2/app`
    pub replica1_url: String,
    /// `mysql://app_ro:ro_pw@127.0.0.1:P3/app`
    pub replica2_url: String,
    /// `mysql://app:app_pw@127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/app`
    pub cluster_url: String,
    /// `mysql://admin:admin_pw@127.0.0.1:P1/app`
    pub admin_url: String,
    pub master_port: u16,
    pub replica1_port: u16,
    pub replica2_port: u16,
}

/// Path of `scripts/cluster.sh`.
pub fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("cluster.sh")
}

fn run_script(name: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script_path())
        .arg("--name")
        .arg(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script_path().display()))
}

fn check(name: &str, args: &[&str], out: Output) -> String {
    if !out.status.success() {
        panic!(
            "scripts/cluster.sh --name {name} {} failed ({}):\n--- stderr:\n{}\n--- stdout:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `scripts/cluster.sh --name NAME ARGS...`; panics with its stderr on failure.
pub fn cluster_script(name: &str, args: &[&str]) -> String {
    let out = run_script(name, args);
    check(name, args, out)
}

/// The cluster `name`, started (or checked healthy) once per process. The calling test
/// must hold a guard on it ([`shared`] or [`exclusive`], see the module docs).
pub fn cluster(name: &str) -> &'static TestCluster {
    check_guard(name, false);
    static CLUSTERS: OnceLock<Mutex<HashMap<String, &'static TestCluster>>> = OnceLock::new();
    let mut map = CLUSTERS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = map.get(name) {
        return c;
    }
    cluster_script(name, &["start"]);
    let c: &'static TestCluster =
        Box::leak(Box::new(parse_urls(name, &cluster_script(name, &["urls"]))));
    map.insert(name.to_string(), c);
    c
}

fn parse_urls(name: &str, text: &str) -> TestCluster {
    let vars: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |k: &str| -> String {
        vars.get(k)
            .unwrap_or_else(|| panic!("`cluster.sh urls` printed no {k}:\n{text}"))
            .to_string()
    };
    let port = |k: &str| -> u16 {
        get(k)
            .parse()
            .unwrap_or_else(|e| panic!("bad {k} in `cluster.sh urls`: {e}\n{text}"))
    };
    TestCluster {
        name: name.to_string(),
        master_url: get("MASTER_URL"),
        replica1_url: get("REPLICA1_URL"),
        replica2_url: get("REPLICA2_URL"),
        cluster_url: get("CLUSTER_URL"),
        admin_url: get("ADMIN_URL"),
        master_port: port("MASTER_PORT"),
        replica1_port: port("REPLICA1_PORT"),
        replica2_port: port("REPLICA2_PORT"),
    }
}

// ---------------------------------------------------------------- guards

/// A test's use of one cluster, shared or exclusive, held until dropped; see the module
/// docs. Poison-tolerant: a test that panics releases its guard while unwinding.
#[must_use = "a guard is held until it is dropped: bind it (`let _g = ...`) for the whole test"]
pub struct ClusterGuard {
    name: String,
    exclusive: bool,
    /// Taken while this thread already held the cluster: only the outer guard counts.
    nested: bool,
}

/// Shared use of cluster `name` for the calling test: waits while a test uses it
/// exclusively (or waits to).
pub fn shared(name: &str) -> ClusterGuard {
    acquire(name, false)
}

/// Exclusive use of cluster `name` for the calling test: waits until no other test uses
/// it. While it waits, tests asking for shared use wait behind it (no starvation).
pub fn exclusive(name: &str) -> ClusterGuard {
    acquire(name, true)
}

#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    shared: usize,
    exclusive: bool,
    waiting_exclusive: usize,
}

thread_local! {
    /// The guards this thread holds: (cluster, exclusive).
    static HELD: RefCell<Vec<(String, bool)>> = const { RefCell::new(Vec::new()) };
}

fn gate(name: &str) -> &'static Gate {
    static GATES: OnceLock<Mutex<HashMap<String, &'static Gate>>> = OnceLock::new();
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    gates
        .entry(name.to_string())
        .or_insert_with(|| Box::leak(Box::default()))
}

fn gate_state(g: &Gate) -> MutexGuard<'_, GateState> {
    g.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this thread holds a guard on `name`: `Some(exclusive)`.
fn held_here(name: &str) -> Option<bool> {
    HELD.with(|h| {
        let h = h.borrow();
        let mine = h.iter().filter(|(n, _)| n == name);
        mine.map(|&(_, e)| e).reduce(|a, b| a || b)
    })
}

fn acquire(name: &str, exclusive: bool) -> ClusterGuard {
    let nested = match held_here(name) {
        None => false,
        Some(true) => true,
        Some(false) if !exclusive => true,
        Some(false) => panic!(
            "exclusive use of cluster {name} asked by a test that holds it shared: take \
             `common::exclusive(\"{name}\")` first, instead of `shared`"
        ),
    };
    if !nested {
        let g = gate(name);
        let mut s = gate_state(g);
        if exclusive {
            s.waiting_exclusive += 1;
            while s.exclusive || s.shared > 0 {
                s = g.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            s.waiting_exclusive -= 1;
            s.exclusive = true;
        } else {
            while s.exclusive || s.waiting_exclusive > 0 {
                s = g.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            s.shared += 1;
        }
    }
    HELD.with(|h| h.borrow_mut().push((name.to_string(), exclusive)));
    ClusterGuard {
        name: name.to_string(),
        exclusive,
        nested,
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h
                .iter()
                .rposition(|(n, e)| *n == self.name && *e == self.exclusive)
            {
                h.remove(i);
            }
        });
        if !self.nested {
            let g = gate(&self.name);
            let mut s = gate_state(g);
            if self.exclusive {
                s.exclusive = false;
            } else {
                s.shared -= 1;
            }
            drop(s);
            g.changed.notify_all();
        }
    }
}

/// Panics unless the calling test may use cluster `name` (`exclusive`: inject faults
/// into it). A test thread (libtest names them) must hold the guard itself; a thread a
/// test spawned (unnamed) needs some test to hold it.
fn check_guard(name: &str, exclusive: bool) {
    match held_here(name) {
        Some(true) => return,
        Some(false) if !exclusive => return,
        _ => {}
    }
    if std::thread::current().name().is_none() {
        let s = gate_state(gate(name));
        if s.exclusive || (!exclusive && s.shared > 0) {
            return;
        }
    }
    if exclusive {
        panic!(
            "a fault injected into cluster {name} by a test that does not hold it \
             exclusively: begin the test with `let _g = common::exclusive(\"{name}\");`"
        );
    }
    panic!(
        "cluster {name} used by a test that holds no guard on it: begin the test with \
         `let _g = common::shared(\"{name}\");` (or `common::exclusive`, if it injects \
         faults or judges the whole cluster)"
    );
}

/// [`check_guard`] for a `cluster.sh` command on cluster `name`.
fn check_command(name: &str, args: &[&str]) {
    let reads = matches!(
        args.first().copied(),
        Some("sql" | "sync" | "status" | "urls" | "wait-synced")
    );
    check_guard(name, !reads);
}

/// `cluster.sh --name NAME ARGS...` after [`check_command`], panicking on failure;
/// returns stdout. For every kind of cluster (the state tells the script which).
pub(crate) fn run_checked(name: &str, args: &[&str]) -> String {
    check_command(name, args);
    cluster_script(name, args)
}

/// Like [`run_checked`], returning stderr as the error instead of panicking.
pub(crate) fn try_run_checked(name: &str, args: &[&str]) -> Result<String, String> {
    check_command(name, args);
    let out = run_script(name, args);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl TestCluster {
    /// Runs `cluster.sh --name NAME ARGS...`, panicking on failure; returns stdout.
    /// Every command but `sql`, `sync`, `status` and `urls` changes the nodes: it needs
    /// the [`exclusive`] guard.
    pub fn run(&self, args: &[&str]) -> String {
        run_checked(&self.name, args)
    }

    /// Like [`run`](Self::run) but returns stderr as the error instead of panicking.
    pub fn try_run(&self, args: &[&str]) -> Result<String, String> {
        try_run_checked(&self.name, args)
    }

    /// SIGKILL the node ("master", "replica1", "replica2").
    pub fn kill(&self, node: &str) {
        self.run(&["kill", node]);
    }

    /// SIGSTOP the node: its process hangs while the host's kernel still accepts and
    /// acknowledges TCP. `thaw` (or `start`) resumes it.
    pub fn freeze(&self, node: &str) {
        self.run(&["freeze", node]);
    }

    /// SIGCONT a frozen node.
    pub fn thaw(&self, node: &str) {
        self.run(&["thaw", node]);
    }

    /// Graceful shutdown of the node.
    pub fn stop(&self, node: &str) {
        self.run(&["stop", node]);
    }

    /// Starts the node again and waits until it answers (a replica resumes replication).
    pub fn start_node(&self, node: &str) {
        self.run(&["start-node", node]);
    }

    pub fn restart(&self, node: &str) {
        self.run(&["restart", node]);
    }

    /// `STOP SLAVE SQL_THREAD` on a replica: it keeps fetching but stops applying.
    pub fn stop_sql(&self, node: &str) {
        self.run(&["stop-sql", node]);
    }

    pub fn start_sql(&self, node: &str) {
        self.run(&["start-sql", node]);
    }

    /// `MASTER_DELAY = secs` on a replica (0 removes the delay).
    pub fn delay(&self, node: &str, secs: u32) {
        self.run(&["delay", node, &secs.to_string()]);
    }

    /// Waits (30 s at most) until every running replica applied the master's
    /// `@@gtid_binlog_pos`; panics on timeout.
    pub fn sync(&self) {
        self.run(&["sync", "30"]);
    }

    /// Like [`sync`](Self::sync) with a timeout in seconds; false on timeout.
    pub fn try_sync(&self, timeout_s: u32) -> bool {
        self.try_run(&["sync", &timeout_s.to_string()]).is_ok()
    }

    /// Back to a fresh healthy topology (all nodes up, no delay, same ports).
    /// All data is dropped.
    pub fn reset(&self) {
        self.run(&["reset"]);
        let urls = self.run(&["urls"]);
        let now = parse_urls(&self.name, &urls);
        assert_eq!(
            (now.master_port, now.replica1_port, now.replica2_port),
            (self.master_port, self.replica1_port, self.replica2_port),
            "cluster {} changed ports on reset (a port was taken by another process)",
            self.name
        );
    }

    /// Runs SQL as root on the node; returns the batch output (`-N -B`),
    /// without the trailing newline.
    pub fn sql(&self, node: &str, sql: &str) -> String {
        let out = self.run(&["sql", node, sql]);
        out.trim_end_matches('\n').to_string()
    }

    /// Like [`sql`](Self::sql), returning the client's stderr on failure.
    pub fn try_sql(&self, node: &str, sql: &str) -> Result<String, String> {
        self.try_run(&["sql", node, sql])
            .map(|s| s.trim_end_matches('\n').to_string())
    }

    /// Human-readable state of the nodes (`cluster.sh status`).
    pub fn status(&self) -> String {
        self.run(&["status"])
    }

    pub fn port(&self, node: &str) -> u16 {
        match node {
            "master" | "m" => self.master_port,
            "replica1" | "r1" => self.replica1_port,
            "replica2" | "r2" => self.replica2_port,
            _ => panic!("unknown node {node}"),
        }
    }
}
