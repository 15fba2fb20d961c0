//! A live view of a cluster, like `maxctrl list servers`: every node's role, health,
//! replication state, lag, latency and GTID position, refreshed every second.
//!
//! ```text
//! cargo run --example status -- 'mysql://app:pw@m:3306,r1:3306,r2:3306/app?heartbeat=true'
//! DATABASE_URL=mysql://... cargo run --example status -- --once
//! ```
//!
//! The URL is the first argument, or `DATABASE_URL`; any cluster option applies
//! (`heartbeat=true` turns on heartbeat lag: the viewer's monitor then writes the
//! heartbeat row on the master itself). `--once` prints one table, after the monitor's
//! first round, and exits. The counters columns count the statements of this process
//! only, so a standalone viewer shows zeros there; the server-side columns are live.

use std::io::Write;
use std::time::{Duration, Instant};

use diesel_cluster::{Cluster, ClusterStatus, Health};

fn main() {
    let mut once = false;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--once" => once = true,
            "-h" | "--help" => {
                println!("usage: status [--once] [URL]   (URL defaults to $DATABASE_URL)");
                return;
            }
            _ => url = Some(arg),
        }
    }
    let Some(url) = url.or_else(|| std::env::var("DATABASE_URL").ok()) else {
        eprintln!("status: give a cluster URL as the first argument or in DATABASE_URL");
        std::process::exit(2);
    };
    if once {
        match snapshot(&url) {
            Ok(table) => print!("{table}"),
            Err(e) => {
                eprintln!("status: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let cluster = match Cluster::from_url(&url) {
        Ok(c) => c,
        Err(e) => {
            // The error shows the URL with its password replaced.
            eprintln!("status: {e}");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout();
    loop {
        let status = cluster.status();
        // Clear the screen and go home, then draw: one table per second, no scrolling.
        let _ = write!(
            out,
            "\x1b[2J\x1b[H{} (master: {}), every 1 s, Ctrl-C to quit\n\n{status}",
            url_hosts(&url),
            cluster.master_name()
        );
        let _ = out.flush();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The table `--once` prints: the cluster's status once its monitor has looked at every
/// node. `tests/it/observe.rs` calls it too.
pub fn snapshot(url: &str) -> Result<String, String> {
    let cluster = Cluster::from_url(url).map_err(|e| e.to_string())?;
    Ok(first_round(&cluster, heartbeat_on(url)).to_string())
}

/// The status once the monitor has looked at every node (it starts at once, and a dead
/// node costs at most the connect timeout), or whatever is known after 5 s.
fn first_round(cluster: &Cluster, heartbeat: bool) -> ClusterStatus {
    if cluster.node_names().len() == 1 {
        // A master-only cluster has no monitor: nothing more will be known.
        return cluster.status();
    }
    let started = Instant::now();
    loop {
        let status = cluster.status();
        let seen = status.nodes.iter().all(|n| {
            n.health == Health::Ejected
                || (n.latency.is_some()
                    && n.gtid_position.is_some()
                    // The heartbeat lag is known from the round after the first write.
                    && (!heartbeat
                        || n.is_master
                        || n.replication_stopped
                        || n.heartbeat_lag.is_some()))
        });
        if seen || started.elapsed() > Duration::from_secs(5) {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the URL turns the heartbeat on (`heartbeat=true` or a table name).
fn heartbeat_on(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('&').any(|kv| match kv.split_once('=') {
        Some(("heartbeat", v)) => !matches!(v, "false" | "0" | "off"),
        _ => false,
    })
}

/// The host list of the URL, without credentials or options, for the title line.
fn url_hosts(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}
