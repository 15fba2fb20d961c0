//! A replica behind a network partition (as root): a MariaDB replica runs in a network
//! namespace of its own, reached through a veth pair (10.213.0.1 host side, 10.213.0.2 in
//! the namespace, with the default `CLUSTER_ROOT`: see [`Names`]) and replicating from
//! the `chaos` cluster's master through a small forwarder; then every packet on the pair
//! is dropped (`tc` blackhole qdisc both ways).
//!
//! What is guaranteed, and checked: connections opened to the partitioned node give up
//! within `connect_timeout` (the connect is cut at its deadline), the node is
//! ejected, reads go to the other replica, and no thread reading on fresh or pooled
//! connections hangs. A statement already in flight on a connection that was open to
//! the node before the partition fails within `network_timeout` (TCP keepalive and
//! `TCP_USER_TIMEOUT` on the node sockets, since Diesel's MySQL client has no read
//! timeout) and, being a read, is retried elsewhere; the monitor, whose own connection
//! to the node blocks the same way, gets going again within that bound too.
//!
//! Skipped, with a message, only where network namespaces can't be made (not root, or
//! `ip netns add` refused).
use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_cluster::{with_replica, Cluster, ClusterConnection, Consistency, Health};

/// The host-wide names this test makes: a network namespace, a veth pair and its /30, a
/// data directory. With the default `CLUSTER_ROOT` (`/tmp/dcl`): `dcl-part`, `dclp-h` and
/// `dclp-n`, 10.213.0.1 and .2, `/tmp/dcl-part`. Another `CLUSTER_ROOT` (a second suite
/// run on the same host) gets names and a subnet of its own, derived from it, so two runs
/// never remove each other's namespace or server.
struct Names {
    ns: String,
    host_if: String,
    ns_if: String,
    host_addr: String,
    ns_addr: String,
    dir: String,
}

fn names() -> &'static Names {
    static NAMES: std::sync::OnceLock<Names> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let root = std::env::var("CLUSTER_ROOT").unwrap_or_else(|_| "/tmp/dcl".into());
        let root = root.trim_end_matches('/');
        let dir = format!("{root}-part");
        if root == "/tmp/dcl" {
            return Names {
                ns: "dcl-part".into(),
                host_if: "dclp-h".into(),
                ns_if: "dclp-n".into(),
                host_addr: "10.213.0.1".into(),
                ns_addr: "10.213.0.2".into(),
                dir,
            };
        }
        // FNV-1a of the root: 1..=250, the third octet and the names' suffix.
        let h = root.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let k = h % 250 + 1;
        Names {
            ns: format!("dcl-part-{k}"),
            host_if: format!("dclp{k}h"),
            ns_if: format!("dclp{k}n"),
            host_addr: format!("10.213.{k}.1"),
            ns_addr: format!("10.213.{k}.2"),
            dir,
        }
    })
}
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The smallest network timeout the builder accepts.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(3);
/// Generous room for a loaded 2-core machine on top of a timeout being checked.
const SLACK: Duration = Duration::from_secs(4);
/// The namespaced replica's server id (the cluster's nodes use 1-3).
const NS_SERVER_ID: i32 = 21;

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn in_ns(args: &[&str]) -> Result<String, String> {
    let mut all = vec!["netns", "exec", names().ns.as_str()];
    all.extend_from_slice(args);
    run("ip", &all)
}

fn cnf() -> String {
    let dir = &names().dir;
    format!("{dir}/my.cnf")
}

/// Our mariadbd, found by its defaults file (also one left by a killed run).
fn our_mariadbd() -> Vec<u32> {
    let want = format!("--defaults-file={}", cnf());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|&b| b == 0).any(|a| a == want.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Removes everything this test makes: the replica process, the namespace, the veth
/// pair, the data directory. Run before (leftovers of a killed run) and after.
fn cleanup() {
    for pid in our_mariadbd() {
        let _ = run("kill", &["-KILL", &pid.to_string()]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !our_mariadbd().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = run("ip", &["link", "del", names().host_if.as_str()]);
    let _ = run("ip", &["netns", "del", names().ns.as_str()]);
    let _ = std::fs::remove_dir_all(names().dir.as_str());
}

struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup();
    }
}

/// Installs a Debian package when its command is missing (we run as root).
fn ensure_command(cmd: &str, package: &str) {
    if run("sh", &["-c", &format!("command -v {cmd}")]).is_ok() {
        return;
    }
    let _ = run("apt-get", &["update"]);
    run("apt-get", &["install", "-y", package]).unwrap_or_else(|e| panic!("{e}"));
}

/// The namespace with its veth pair, or why it can't be made.
fn make_namespace() -> Result<(), String> {
    let Names {
        ns,
        host_if,
        ns_if,
        host_addr,
        ns_addr,
        ..
    } = names();
    run("ip", &["netns", "add", ns])?;
    run(
        "ip",
        &[
            "link", "add", host_if, "type", "veth", "peer", "name", ns_if,
        ],
    )?;
    run("ip", &["link", "set", ns_if, "netns", ns])?;
    run(
        "ip",
        &["addr", "add", &format!("{host_addr}/30"), "dev", host_if],
    )?;
    run("ip", &["link", "set", host_if, "up"])?;
    in_ns(&["ip", "addr", "add", &format!("{ns_addr}/30"), "dev", ns_if])?;
    in_ns(&["ip", "link", "set", ns_if, "up"])?;
    in_ns(&["ip", "link", "set", "lo", "up"])?;
    Ok(())
}

/// Drops every packet leaving either end of the pair.
fn partition() {
    // `blackhole` is built into every kernel with traffic control; `pfifo limit 0` (a
    // queue that holds nothing) is the fallback.
    for (dev, ns) in [
        (names().host_if.as_str(), false),
        (names().ns_if.as_str(), true),
    ] {
        let attempt = |qdisc: &[&str]| {
            let mut args = vec!["tc", "qdisc", "add", "dev", dev, "root"];
            args.extend_from_slice(qdisc);
            if ns {
                in_ns(&args)
            } else {
                run(args[0], &args[1..])
            }
        };
        attempt(&["blackhole"])
            .or_else(|_| attempt(&["pfifo", "limit", "0"]))
            .unwrap_or_else(|e| panic!("cannot drop packets on {dev}: {e}"));
    }
}

fn heal() {
    run(
        "tc",
        &["qdisc", "del", "dev", names().host_if.as_str(), "root"],
    )
    .unwrap();
    in_ns(&["tc", "qdisc", "del", "dev", names().ns_if.as_str(), "root"]).unwrap();
}

/// Forwards connections to `host_addr:port` to the master on 127.0.0.1 (it listens on
/// loopback only), so the namespaced replica can replicate from it.
fn forward_to(master_port: u16) -> u16 {
    let listener = TcpListener::bind((names().host_addr.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", master_port)) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    port
}

fn root_sql(sql: &str) -> Result<String, String> {
    let dir = &names().dir;
    run(
        "mariadb",
        &[
            "--no-defaults",
            "-uroot",
            &format!("--socket={dir}/mysqld.sock"),
            "--connect-timeout=5",
            "-N",
            "-B",
            "-e",
            sql,
        ],
    )
}

/// Starts a replica inside the namespace, bound to `ns_addr`, replicating from the
/// cluster's master from its current position on (its accounts are made locally).
fn start_ns_replica(c: &common::TestCluster) {
    let Names {
        dir,
        host_addr,
        ns_addr,
        ..
    } = names();
    let root = std::env::var("CLUSTER_ROOT").unwrap_or_else(|_| "/tmp/dcl".into());
    let template = format!("{root}/.template");
    assert!(
        Path::new(&template).is_dir(),
        "no datadir template at {template} (scripts/cluster.sh start makes it)"
    );
    std::fs::create_dir_all(dir).unwrap();
    run(
        "cp",
        &["-a", &format!("{template}/."), &format!("{dir}/data/")],
    )
    .unwrap();
    let _ = std::fs::remove_file(format!("{dir}/data/.dcl-template"));
    std::fs::write(
        cnf(),
        format!(
            "[mariadbd]\nuser=root\ndatadir={dir}/data\nsocket={dir}/mysqld.sock\n\
             pid-file={dir}/mysqld.pid\nlog-error={dir}/error.log\nport=3306\n\
             bind-address={ns_addr}\nserver-id={NS_SERVER_ID}\nlog-bin=binlog\n\
             relay-log=relay-bin\nbinlog-format=ROW\nlog-slave-updates=1\n\
             gtid-strict-mode=1\nslave-net-timeout=10\ninnodb-buffer-pool-size=32M\n\
             innodb-log-file-size=16M\ninnodb-flush-log-at-trx-commit=2\nsync-binlog=0\n\
             skip-name-resolve\nperformance-schema=OFF\ncharacter-set-server=utf8mb4\n\
             collation-server=utf8mb4_general_ci\nread-only=1\n"
        ),
    )
    .unwrap();
    let mariadbd = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mariadbd");
    let log = std::fs::File::create(format!("{dir}/mariadbd.out")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", names().ns.as_str(), "setsid", mariadbd])
        .arg(format!("--defaults-file={}", cnf()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // The server runs until `cleanup` kills it; reap it then (no zombie left behind).
    thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(60);
    while root_sql("SELECT 1").is_err() {
        assert!(
            Instant::now() < deadline,
            "the namespaced replica did not start: {}",
            std::fs::read_to_string(format!("{dir}/error.log")).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let fwd = forward_to(c.master_port);
    let pos = c.sql("master", "SELECT @@gtid_binlog_pos");
    root_sql(&format!(
        "SET sql_log_bin = 0;
         CREATE DATABASE app;
         CREATE USER 'app_ro'@'%' IDENTIFIED BY 'ro_pw';
         GRANT SELECT ON app.* TO 'app_ro'@'%';
         GRANT SLAVE MONITOR ON *.* TO 'app_ro'@'%';
         SET GLOBAL gtid_slave_pos = '{pos}';
         CHANGE MASTER TO MASTER_HOST='{host_addr}', MASTER_PORT={fwd}, MASTER_USER='repl',
           MASTER_PASSWORD='repl_pw', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
         START SLAVE;"
    ))
    .unwrap();
    // A write on the master that the replica must apply: replication works end to end.
    c.sql(
        "master",
        "CREATE TABLE IF NOT EXISTS app.partition_marker (id INT PRIMARY KEY); \
         REPLACE INTO app.partition_marker VALUES (1)",
    );
    let pos = c.sql("master", "SELECT @@gtid_binlog_pos");
    let waited = root_sql(&format!("SELECT MASTER_GTID_WAIT('{pos}', 30)")).unwrap();
    assert_eq!(
        waited.trim(),
        "0",
        "the namespaced replica did not catch up"
    );
}

fn server_id(conn: &mut ClusterConnection) -> QueryResult<i32> {
    diesel::select(diesel::dsl::sql::<Integer>("@@server_id")).get_result(conn)
}

/// Runs `f` on a thread; `None` when it did not finish within `limit` (it is left
/// running and reported through the returned receiver).
fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, mpsc::Receiver<T>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).map_err(|_| rx)
}

#[test]
fn a_partitioned_replica_is_ejected_without_hanging_anyone() {
    let ns_addr = &names().ns_addr;
    let is_root = run("id", &["-u"]).map(|s| s.trim() == "0").unwrap_or(false);
    if !is_root {
        eprintln!("SKIPPED partition test: network namespaces need root");
        return;
    }
    ensure_command("ip", "iproute2");
    let _g = common::exclusive("chaos");
    cleanup();
    if let Err(e) = run("ip", &["netns", "add", names().ns.as_str()]) {
        eprintln!("SKIPPED partition test: cannot create a network namespace: {e}");
        return;
    }
    let _ = run("ip", &["netns", "del", names().ns.as_str()]);
    ensure_command("tc", "iproute2");
    let _cleanup = Cleanup;
    make_namespace().unwrap();
    let c = common::cluster("chaos");
    let started = Instant::now();
    start_ns_replica(c);
    eprintln!("namespaced replica up in {:?}", started.elapsed());

    let ns_url = format!("mysql://app_ro:ro_pw@{ns_addr}:3306/app");
    let cluster = Cluster::builder()
        .master(&c.master_url)
        .replica(&c.replica1_url)
        .replica(&ns_url)
        .connect_timeout(CONNECT_TIMEOUT)
        .network_timeout(NETWORK_TIMEOUT)
        // Longer than the partition lasts: the node stays ejected while it is checked.
        .ejection_cooldown(Duration::from_secs(30))
        .monitor_interval(Some(Duration::from_millis(200)))
        .consistency(Consistency::Eventual)
        .build()
        .unwrap();
    // The monitor reached every node (it holds a connection to each from now on).
    let deadline = Instant::now() + Duration::from_secs(15);
    while cluster.status().nodes.iter().any(|n| n.latency.is_none()) {
        assert!(
            Instant::now() < deadline,
            "monitor never reached all nodes:\n{}",
            cluster.status()
        );
        thread::sleep(Duration::from_millis(50));
    }
    // A warm connection with a connection open to each replica.
    let mut warm = cluster.connect();
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen.push(with_replica(|| server_id(&mut warm)).unwrap());
    }
    assert!(
        seen.contains(&NS_SERVER_ID),
        "reads never reached the namespaced replica: {seen:?}"
    );
    assert!(seen.contains(&2), "reads never reached replica1: {seen:?}");

    // A cluster of the master and the namespaced replica alone, without a monitor: its
    // warm connection will have a statement in flight on the partitioned node.
    let lone = Cluster::builder()
        .master(&c.master_url)
        .replica(&ns_url)
        .connect_timeout(CONNECT_TIMEOUT)
        .network_timeout(NETWORK_TIMEOUT)
        .monitor_interval(None)
        .consistency(Consistency::Eventual)
        .build()
        .unwrap();
    let mut lone_conn = lone.connect();
    assert_eq!(
        with_replica(|| server_id(&mut lone_conn)).unwrap(),
        NS_SERVER_ID
    );

    partition();
    let partitioned_at = Instant::now();

    // A statement on the connection that was already open: in flight when the
    // partition started, it fails within the network timeout (the kernel aborts the
    // silent connection), and as a read it is retried: the lone cluster's only other
    // node is the master.
    let in_flight = within(NETWORK_TIMEOUT + CONNECT_TIMEOUT + SLACK, move || {
        let t = Instant::now();
        let r = with_replica(|| server_id(&mut lone_conn));
        (r.map_err(|e| e.to_string()), t.elapsed())
    });
    let in_flight = in_flight.unwrap_or_else(|_| {
        panic!(
            "a statement on an open connection to a partitioned node hung past the network timeout"
        )
    });

    // Guaranteed: fresh connections give up on the node within the connect timeout, the
    // node is ejected, and reads land elsewhere. 4 threads, 5 reads each.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let cluster = cluster.clone();
            within(CONNECT_TIMEOUT * 5 + SLACK * 2, move || {
                let mut conn = cluster.connect();
                (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        let id = with_replica(|| server_id(&mut conn)).map_err(|e| e.to_string());
                        (id, t.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for r in readers {
        let reads = r.unwrap_or_else(|_| panic!("a reader on fresh connections hung"));
        for (id, took) in reads {
            let id = id.unwrap_or_else(|e| panic!("a read failed while replica1 could serve: {e}"));
            assert!(
                id == 1 || id == 2,
                "read served by server {id} behind the partition"
            );
            assert!(
                took <= CONNECT_TIMEOUT + SLACK,
                "a read took {took:?}, connect timeout {CONNECT_TIMEOUT:?}"
            );
            slowest = slowest.max(took);
        }
    }
    let status = cluster.status();
    let ns = status.node("replica2").unwrap();
    assert_eq!(ns.health, Health::Ejected, "{status}");

    // The warm connection of the first cluster: the node is ejected, so its open (now
    // dead) connection there is not used, and reads go to replica1 without waiting.
    let warm_reads = within(SLACK * 2, move || {
        (0..10)
            .map(|_| with_replica(|| server_id(&mut warm)).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    })
    .unwrap_or_else(|_| panic!("reads on a warm connection hung although the node is ejected"));
    for r in warm_reads {
        assert_eq!(r, Ok(2));
    }

    // The monitor: it too holds an open connection to the node; see whether it still
    // checks the other nodes (replica1 with its SQL thread stopped must turn lagging).
    c.stop_sql("replica1");
    let t = Instant::now();
    let mut monitor_alive = false;
    while t.elapsed() < NETWORK_TIMEOUT + SLACK {
        if cluster
            .status()
            .node("replica1")
            .is_some_and(|n| n.replication_stopped)
        {
            monitor_alive = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    c.start_sql("replica1");
    let partition_lasted = partitioned_at.elapsed();
    assert!(
        monitor_alive,
        "the monitor stayed blocked on its connection to the partitioned node:\n{}",
        cluster.status()
    );

    heal();
    let (result, took) = in_flight;
    eprintln!(
        "partition of {partition_lasted:?}: fresh-connection reads at most {slowest:?} \
         (connect timeout {CONNECT_TIMEOUT:?}); replica2 ejected; a read in flight on an \
         already-open connection returned after {took:?} (network timeout \
         {NETWORK_TIMEOUT:?}) with {result:?}; the monitor kept checking the other nodes"
    );
    assert_eq!(result, Ok(1), "the in-flight read is retried on the master");
    drop(lone);
    drop(cluster);
}
