//! Wrong credentials against the real cluster (the routing-safety issue, defect 10): a
//! refused login is the caller's error, not a node failure. The node is not ejected, no
//! failover or rediscovery follows, the statement fails with the server's access-denied
//! message naming the node, and the password shows nowhere: not in errors, `Debug`,
//! `status()` or any log line. A correct cluster on the same servers is unaffected.
mod common;

use std::sync::{Mutex, MutexGuard, Once};
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_cluster::{with_replica, Cluster, ClusterConnection, Health};

use common::db::{try_port, wait_until};

/// Installs the capture (once per process) and serialises the tests of this binary, so
/// each sees only its own log lines.
fn capture() -> MutexGuard<'static, ()> {
    static ONCE: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    ONCE.call_once(common::capture::install);
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::capture::clear();
    guard
}

use common::capture::lines;

fn cluster() -> &'static common::TestCluster {
    common::cluster("secrets")
}

/// Monitor settings that make several rounds happen within the test.
const FAST: &str = "monitor_interval=50ms&ejection_cooldown=10s&connect_timeout=1s";

/// Everything a user could print about `cluster` and `conn`.
fn everything_shown(cluster: &Cluster, conn: &ClusterConnection, errors: &[String]) -> String {
    let status = cluster.status();
    format!(
        "{cluster:?}\n{conn:?}\n{status}\n{status:?}\n{}\n{:#?}",
        errors.join("\n"),
        lines()
    )
}

fn assert_not_ejected(cluster: &Cluster, nodes: &[&str]) {
    let status = cluster.status();
    for name in nodes {
        let n = status.node(name).expect(name);
        assert_ne!(n.health, Health::Ejected, "{name} was ejected:\n{status}");
        assert_eq!(n.ejections, 0, "{name} was ejected:\n{status}");
    }
    assert_eq!(
        cluster.master_name(),
        "master",
        "a failover happened:\n{status}"
    );
}

#[test]
fn a_wrong_master_password_fails_statements_and_ejects_no_node() {
    let _c = common::shared("secrets");
    let _g = capture();
    let c = cluster();
    const WRONG: &str = "Wr0ng-Master-pw";
    let master = c.master_url.replace("app_pw", WRONG);
    let wrong = Cluster::builder()
        .master(&master)
        .replica(&c.replica1_url)
        .replica(&c.replica2_url)
        .monitor_interval(Some(Duration::from_millis(50)))
        .ejection_cooldown(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut conn = wrong.connect();
    let mut errors = Vec::new();
    // Every write, not just the first: the first used to eject the master, and the next
    // ones then failed with "no master available" instead of the server's reason.
    for _ in 0..3 {
        let err = conn.batch_execute("DO 1").unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(shown.contains("Access denied for user 'app'"), "{shown}");
        assert!(shown.contains("master (127.0.0.1:"), "{shown}");
        assert!(!shown.contains("no master available"), "{shown}");
        errors.push(shown);
    }
    // Reads in replica role still work: the replicas have their own (correct) account.
    let port = with_replica(|| try_port(&mut conn)).unwrap();
    assert_ne!(port, c.master_port);
    // Several monitor rounds: the monitor logs in to the master with the same wrong
    // password and must not eject it either.
    wait_until(&wrong, "the monitor saw the refused login", || {
        wrong
            .status()
            .node("master")
            .is_some_and(|n| n.monitor_error.is_some())
    });
    thread::sleep(Duration::from_millis(300));
    assert_not_ejected(&wrong, &["master", "replica1", "replica2"]);
    let err = conn.batch_execute("DO 1").unwrap_err();
    assert!(err.to_string().contains("Access denied"), "{err}");

    // The monitor said it once, not once per round, and named the node.
    let log = lines();
    let refused: Vec<_> = log
        .iter()
        .filter(|(l, line)| *l == log::Level::Error && line.contains("login refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{log:#?}");
    assert!(refused[0].1.contains("master (127.0.0.1:"), "{log:#?}");
    assert!(
        !log.iter().any(|(_, l)| l.contains("ejecting")),
        "something was ejected: {log:#?}"
    );

    // A correct cluster on the same servers is unaffected.
    let good = Cluster::from_url(&format!("{}?{FAST}", c.cluster_url)).unwrap();
    let mut ok = good.connect();
    ok.batch_execute("DO 1").unwrap();
    assert_eq!(with_replica(|| try_port(&mut ok)).map(|p| p != 0), Ok(true));
    assert_not_ejected(&good, &["master", "replica1", "replica2"]);

    let shown = everything_shown(&wrong, &conn, &errors);
    assert!(!shown.contains(WRONG), "the password shows: {shown}");
    assert!(!shown.contains("app_pw"), "the password shows: {shown}");
}

#[test]
fn a_wrong_replica_password_fails_replica_reads_and_ejects_no_replica() {
    let _c = common::shared("secrets");
    let _g = capture();
    let c = cluster();
    const WRONG: &str = "Wr0ng-Replica-pw";
    let url = format!(
        "{}?replica_user=app_ro&replica_password={WRONG}&consistency=eventual&{FAST}",
        c.cluster_url
    );
    let wrong = Cluster::from_url(&url).unwrap();
    let mut conn = wrong.connect();
    let mut errors = Vec::new();
    // Round-robin over both replicas: each refuses, and the read is not quietly moved to
    // the master (that would hide the mistake).
    let mut named = Vec::new();
    for _ in 0..4 {
        let err = with_replica(|| try_port(&mut conn)).unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(shown.contains("Access denied for user 'app_ro'"), "{shown}");
        for r in ["replica1", "replica2"] {
            if shown.contains(&format!("{r} (127.0.0.1:")) {
                named.push(r);
            }
        }
        errors.push(shown);
    }
    assert!(
        named.contains(&"replica1") && named.contains(&"replica2"),
        "{errors:#?}"
    );
    // The master's account is right: writes and master reads work.
    conn.batch_execute("DO 1").unwrap();
    wait_until(&wrong, "the monitor saw both refused logins", || {
        let s = wrong.status();
        ["replica1", "replica2"].iter().all(|r| {
            s.node(r)
                .and_then(|n| n.monitor_error.as_deref())
                .is_some_and(|e| e.contains("login refused"))
        })
    });
    thread::sleep(Duration::from_millis(300));
    assert_not_ejected(&wrong, &["master", "replica1", "replica2"]);
    let err = with_replica(|| try_port(&mut conn)).unwrap_err();
    assert!(err.to_string().contains("Access denied"), "{err}");

    let log = lines();
    for r in ["replica1", "replica2"] {
        let n = log
            .iter()
            .filter(|(l, line)| {
                *l == log::Level::Error && line.contains("login refused") && line.contains(r)
            })
            .count();
        assert_eq!(n, 1, "{r}: {log:#?}");
    }

    // A correct cluster on the same servers is unaffected.
    let good = Cluster::from_url(&format!(
        "{}?replica_user=app_ro&replica_password=ro_pw&consistency=eventual&{FAST}",
        c.cluster_url
    ))
    .unwrap();
    let mut ok = good.connect();
    let port = with_replica(|| try_port(&mut ok)).unwrap();
    assert_ne!(port, c.master_port);
    assert_not_ejected(&good, &["master", "replica1", "replica2"]);

    let shown = everything_shown(&wrong, &conn, &errors);
    assert!(!shown.contains(WRONG), "the password shows: {shown}");
    assert!(!shown.contains("app_pw"), "the password shows: {shown}");
    assert!(!shown.contains("ro_pw"), "the password shows: {shown}");
}

#[test]
fn an_unknown_database_is_the_callers_error_too() {
    let _c = common::shared("secrets");
    let _g = capture();
    let c = cluster();
    // As `admin`, who may see every database: `app` would get "access denied to
    // database" (1044) instead, which is refused the same way.
    let url = c
        .cluster_url
        .replace("app:app_pw@", "admin:admin_pw@")
        .replace("/app", "/no_such_database");
    let url = format!("{url}?{FAST}");
    let cluster = Cluster::from_url(&url).unwrap();
    let mut conn = cluster.connect();
    let err = conn.batch_execute("DO 1").unwrap_err();
    assert!(err.to_string().contains("Unknown database"), "{err}");
    let err = with_replica(|| try_port(&mut conn)).unwrap_err();
    assert!(err.to_string().contains("Unknown database"), "{err}");
    thread::sleep(Duration::from_millis(300));
    assert_not_ejected(&cluster, &["master", "replica1", "replica2"]);
}

#[test]
fn bad_urls_through_establish_never_show_the_password() {
    let _g = capture();
    // The shapes, and a `replica_password` in the query.
    for url in [
        "mysql://app:pa#Ss-Secret@127.0.0.1/app",
        "mysql://app:pa?Ss-Secret@127.0.0.1/app",
        "mysql://app:pa/Ss-Secret@127.0.0.1:99999/app",
        "mysql://app:pw@127.0.0.1:99999/app?replica_user=ro&replica_password=Ss-Secret",
        "mysql://app:pw@127.0.0.1/app?replica_user=ro&replica_password=Ss-Secret&bogus=1",
    ] {
        let err = ClusterConnection::establish(url).unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(shown.contains("invalid cluster URL"), "{shown}");
        assert!(!shown.contains("Ss-Secret"), "{url}: {shown}");
        assert!(!shown.contains("Secret"), "{url}: {shown}");
    }
    let log = lines();
    assert!(!format!("{log:?}").contains("Secret"), "{log:#?}");
}

#[test]
fn promote_refuses_to_run_when_the_master_refuses_the_admin_login() {
    let _c = common::exclusive("secrets");
    let _g = capture();
    let c = cluster();
    let _restore = common::Restore(c);
    // An admin account that exists on the replicas only: the master answers and refuses
    // it. Going on as if the master were down would promote a replica while the master
    // stays writable.
    for r in ["replica1", "replica2"] {
        c.sql(
            r,
            "SET sql_log_bin = 0; CREATE USER IF NOT EXISTS 'admin_r'@'%' IDENTIFIED BY \
             'admin_r_pw'; GRANT ALL PRIVILEGES ON *.* TO 'admin_r'@'%'",
        );
    }
    let cluster = Cluster::builder()
        .url(&format!("{}?monitor_interval=off", c.cluster_url))
        .admin_credentials("admin_r", "admin_r_pw")
        .replication_credentials("repl", "repl_pw")
        .build()
        .unwrap();
    let result = cluster.promote(None);
    for r in ["replica1", "replica2"] {
        c.sql(r, "SET sql_log_bin = 0; DROP USER IF EXISTS 'admin_r'@'%'");
    }
    // Before this was fixed: Ok("replica1"), with the master still writable.
    let err = result.unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(shown.contains("master (127.0.0.1:"), "{shown}");
    assert!(
        shown.contains("Access denied for user 'admin_r'"),
        "{shown}"
    );
    assert!(shown.contains("admin_credentials"), "{shown}");
    assert!(!shown.contains("admin_r_pw"), "{shown}");
    assert_eq!(cluster.master_name(), "master");
    for r in ["replica1", "replica2"] {
        assert_eq!(
            c.sql(r, "SELECT @@read_only").trim(),
            "1",
            "{r} was promoted"
        );
    }
    assert_eq!(c.sql("master", "SELECT @@read_only").trim(), "0");
}
