//! Checks the local test cluster itself (scripts/cluster.sh): std only.
use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

#[test]
fn main_cluster_replicates() {
    let _g = common::shared("main");
    let c = common::cluster("main");

    assert_eq!(
        c.sql("replica1", "SELECT @@port"),
        c.replica1_port.to_string()
    );
    assert_eq!(
        c.sql("replica2", "SELECT @@port"),
        c.replica2_port.to_string()
    );
    assert_eq!(c.sql("master", "SELECT @@read_only"), "0");
    assert_eq!(c.sql("replica1", "SELECT @@read_only"), "1");
    assert_eq!(
        c.sql("replica2", "SELECT name FROM other_db.marker WHERE id = 1"),
        "other_db"
    );
    assert!(c.master_url.contains(&format!(":{}/app", c.master_port)));
    assert!(c
        .cluster_url
        .contains(&format!("127.0.0.1:{}", c.replica2_port)));

    c.sql(
        "master",
        "CREATE TABLE IF NOT EXISTS app.cluster_script_scratch \
         (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)",
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let v = format!("{}-{nanos}", std::process::id());
    c.sql(
        "master",
        &format!("INSERT INTO app.cluster_script_scratch (v) VALUES ('{v}')"),
    );
    c.sync();
    for node in ["replica1", "replica2"] {
        assert_eq!(
            c.sql(
                node,
                &format!("SELECT COUNT(*) FROM app.cluster_script_scratch WHERE v = '{v}'")
            ),
            "1",
            "row not replicated to {node}"
        );
    }
}

/// The CPUs each thread of `node`'s server may run on, read from /proc through the pid
/// file the server itself names.
fn allowed_cpus(c: &common::TestCluster, node: &str) -> Vec<String> {
    let pid_file = c.sql(node, "SELECT @@pid_file");
    let pid = std::fs::read_to_string(pid_file.trim()).unwrap();
    let tasks = std::fs::read_dir(format!("/proc/{}/task", pid.trim())).unwrap();
    let mut lists: Vec<String> = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .collect();
    lists.sort();
    lists.dedup();
    lists
}

/// `pin` holds every thread of a node to the CPUs given, a bad list is refused, and
/// `start` undoes a pin and a cap left behind (by a killed benchmark), so no test runs
/// on a constrained server.
#[test]
fn pin_and_cap_are_undone_by_start() {
    let _g = common::exclusive("async");
    let c = common::cluster("async");
    let _restore = common::Restore(c);
    let before = allowed_cpus(c, "replica1");
    assert_eq!(
        before.len(),
        1,
        "threads with different CPU lists: {before:?}"
    );
    c.run(&["pin", "replica1", "0"]);
    assert_eq!(allowed_cpus(c, "replica1"), ["0"]);
    assert_eq!(
        allowed_cpus(c, "replica2"),
        before,
        "only the node named is pinned"
    );
    for bad in ["", "x", "0;1", "-1"] {
        let err = c.try_run(&["pin", "replica1", bad]).unwrap_err();
        assert!(err.contains("pin needs CPUS"), "{bad:?}: {err}");
    }
    c.run(&["cap", "replica1", "50"]);
    let pid_file = c.sql("replica1", "SELECT @@pid_file");
    let pid = std::fs::read_to_string(pid_file.trim()).unwrap();
    let cgroup = || std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    assert!(cgroup().contains("dcl-async-replica1"), "{}", cgroup());
    c.run(&["start"]);
    assert_eq!(allowed_cpus(c, "replica1"), before);
    assert!(!cgroup().contains("dcl-"), "{}", cgroup());
}
