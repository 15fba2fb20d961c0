//! Test helpers shared by the integration tests: a local MariaDB cluster
//! (one master, two GTID replicas) driven by `scripts/cluster.sh`.
//!
//! Std only, so it builds whatever state the library is in.
#![allow(dead_code)]

pub mod capture;
pub mod db;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Puts a fault-injection cluster back in a healthy topology when dropped, so a test
/// that fails half-way leaves a usable cluster to the next one: `cluster.sh start`
/// thaws and starts stopped nodes, restarts replication threads, removes delays, waits
/// until the replicas caught up, and rebuilds a cluster whose topology changed.
pub struct Restore(pub &'static TestCluster);

impl Drop for Restore {
    fn drop(&mut self) {
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

/// The cluster `name`, started (or checked healthy) once per process.
pub fn cluster(name: &str) -> &'static TestCluster {
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

/// Process-wide lock that fault-injecting tests of one binary hold so that
/// they do not disturb each other (poison-tolerant).
pub fn fault_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

impl TestCluster {
    /// Runs `cluster.sh --name NAME ARGS...`, panicking on failure; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        cluster_script(&self.name, args)
    }

    /// Like [`run`](Self::run) but returns stderr as the error instead of panicking.
    pub fn try_run(&self, args: &[&str]) -> Result<String, String> {
        let out = run_script(&self.name, args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
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
