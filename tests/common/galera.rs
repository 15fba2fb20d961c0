//! A local 3-node Galera cluster (`scripts/cluster.sh --galera`), for tests/it/galera.rs.
//! Guarded like the replication clusters: [`super::shared`] / [`super::exclusive`] with
//! the cluster's name, taken before the first use; faults need the exclusive guard.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{check_guard, cluster_script};

/// One running Galera cluster, as `cluster.sh --galera urls` reports it.
#[derive(Debug, Clone)]
pub struct GaleraCluster {
    pub name: String,
    /// `mysql://app:app_pw@127.0.0.1:P/app` per node, in order node1, node2, node3.
    pub node_urls: Vec<String>,
    /// `mysql://admin:admin_pw@127.0.0.1:P/app` per node.
    pub admin_urls: Vec<String>,
    pub ports: Vec<u16>,
    /// The three nodes in one URL, with `?cluster=galera`.
    pub cluster_url: String,
}

/// The Galera cluster `name`, started (or recovered healthy) once per process. The
/// calling test must hold a guard on it.
pub fn galera(name: &str) -> &'static GaleraCluster {
    check_guard(name, false);
    static CLUSTERS: OnceLock<Mutex<HashMap<String, &'static GaleraCluster>>> = OnceLock::new();
    let mut map = CLUSTERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = map.get(name) {
        return c;
    }
    cluster_script(name, &["--galera", "start"]);
    let text = cluster_script(name, &["urls"]);
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| -> String {
        vars.get(k)
            .unwrap_or_else(|| panic!("`cluster.sh --galera urls` printed no {k}:\n{text}"))
            .to_string()
    };
    let c: &'static GaleraCluster = Box::leak(Box::new(GaleraCluster {
        name: name.to_string(),
        node_urls: (1..=3).map(|i| get(&format!("NODE{i}_URL"))).collect(),
        admin_urls: (1..=3)
            .map(|i| get(&format!("NODE{i}_ADMIN_URL")))
            .collect(),
        ports: (1..=3)
            .map(|i| get(&format!("NODE{i}_PORT")).parse().expect("a port"))
            .collect(),
        cluster_url: get("CLUSTER_URL"),
    }));
    map.insert(name.to_string(), c);
    c
}

impl GaleraCluster {
    /// Runs `cluster.sh --name NAME ARGS...` (the state says it is a Galera cluster);
    /// every command but `sql`, `status`, `urls` and `wait-synced` needs the exclusive
    /// guard.
    pub fn run(&self, args: &[&str]) -> String {
        super::run_checked(&self.name, args)
    }

    /// Like [`run`](Self::run), returning stderr as the error.
    pub fn try_run(&self, args: &[&str]) -> Result<String, String> {
        super::try_run_checked(&self.name, args)
    }

    /// SQL as root on node `n` (1-based), batch output without the trailing newline.
    pub fn sql(&self, n: usize, sql: &str) -> String {
        self.run(&["sql", &n.to_string(), sql])
            .trim_end_matches('\n')
            .to_string()
    }

    /// A global status counter of node `n`.
    pub fn status_var(&self, n: usize, name: &str) -> u64 {
        let out = self.sql(n, &format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        out.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} on node{n}: {out:?}"))
    }
}

/// Puts the Galera cluster back to three synced nodes when dropped (`start` heals,
/// resyncs, thaws and restarts what a test left broken).
pub struct GaleraRestore(pub &'static GaleraCluster);

impl Drop for GaleraRestore {
    fn drop(&mut self) {
        if let Err(e) = self.0.try_run(&["start"]) {
            eprintln!("could not restore Galera cluster {}: {e}", self.0.name);
        }
    }
}
