//! A snapshot of the whole cluster, printable as a table.

use std::fmt;

use crate::topology::node::{Health, NodeStatus};

/// Every node's state and counters at one moment, master first; `Display` prints a table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// One entry per node.
    pub nodes: Vec<NodeStatus>,
    /// Replica reads whose [`ConsistencyToken`](crate::ConsistencyToken) was ahead of the
    /// master's position (forged, or from another cluster): they went to the master
    /// without waiting on a replica.
    pub rejected_tokens: u64,
}

impl ClusterStatus {
    pub(crate) fn new(mut nodes: Vec<NodeStatus>, rejected_tokens: u64) -> Self {
        nodes.sort_by_key(|n| !n.is_master);
        ClusterStatus {
            nodes,
            rejected_tokens,
        }
    }

    /// The status of the node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

fn ms(d: Option<std::time::Duration>) -> String {
    match d {
        Some(d) => format!("{:.1}ms", d.as_secs_f64() * 1000.0),
        None => "-".into(),
    }
}

/// Table layout: one format for the header and the rows.
macro_rules! row {
    ($f:expr, $($v:expr),* $(,)?) => {
        writeln!(
            $f,
            "{:<10} {:<21} {:<7} {:<8} {:<8} {:>9} {:>9} {:>5} {:>8} {:>10} {:>6} {:>5} {:>7} {:>9}  {}",
            $($v),*
        )
    };
}

/// Columns: `health` is up, ejected (down: failed and in its cooldown) or lagging (a
/// down node shows `-` for what the monitor can't see);
/// `repl` whether the replica's replication threads run; `lag` the lag routing uses
/// (`?` while unknown); `heartbeat` the heartbeat lag (when on); `sbm` the raw
/// `Seconds_Behind_Master` (`NULL` while a thread is stopped); `latency` the monitor's
/// smoothed round trip; then the counters and the GTID position. A Galera node gets a
/// line of its own with its state (component, local state, ready, cluster size, flow
/// control, certification failures), and a node with conflict retries one with their
/// count.
impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        row!(
            f,
            "node",
            "address",
            "role",
            "health",
            "repl",
            "lag",
            "heartbeat",
            "sbm",
            "latency",
            "statements",
            "errors",
            "eject",
            "retries",
            "fallbacks",
            "gtid",
        )?;
        for n in &self.nodes {
            let down = n.health == Health::Ejected;
            let replica = !n.is_master;
            let (repl, lag, sbm) = if !replica || down {
                ("-", "-".to_string(), "-".to_string())
            } else {
                (
                    if n.replication_stopped {
                        "stopped"
                    } else {
                        "running"
                    },
                    n.lag.map_or_else(|| "?".to_string(), |l| ms(Some(l))),
                    n.seconds_behind_master
                        .map_or_else(|| "NULL".to_string(), |s| format!("{s}s")),
                )
            };
            row!(
                f,
                n.name,
                n.address,
                if n.is_master { "master" } else { "replica" },
                n.health.to_string(),
                repl,
                lag,
                ms(n.heartbeat_lag),
                sbm,
                // What was measured before it went down is no longer true.
                if down { "-".to_string() } else { ms(n.latency) },
                n.statements,
                n.errors,
                n.ejections,
                n.retries,
                n.fallbacks,
                n.gtid_position.as_deref().unwrap_or("-"),
            )?;
            if let Some(g) = &n.galera {
                writeln!(f, "  {}: galera: {g}", n.name)?;
            }
            if n.conflict_retries > 0 {
                writeln!(f, "  {}: conflict retries: {}", n.name, n.conflict_retries)?;
            }
            if let Some(e) = &n.monitor_error {
                writeln!(f, "  {}: monitor error: {e}", n.name)?;
            }
        }
        if self.rejected_tokens > 0 {
            writeln!(
                f,
                "reads with a token ahead of the master (sent to the master): {}",
                self.rejected_tokens
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn node(name: &str, is_master: bool, health: Health) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            address: "127.0.0.1:3306".into(),
            is_master,
            health,
            lag: if is_master {
                None
            } else {
                Some(Duration::ZERO)
            },
            heartbeat_lag: None,
            seconds_behind_master: (!is_master).then_some(0),
            replication_stopped: false,
            latency: Some(Duration::from_micros(180)),
            gtid_position: Some("0-1-42".into()),
            statements: 7,
            errors: 0,
            ejections: 0,
            retries: 0,
            fallbacks: 0,
            causal_waits: 0,
            causal_timeouts: 0,
            monitor_error: None,
            conflict_retries: 0,
            galera: None,
        }
    }

    #[test]
    fn the_table_shows_each_state() {
        let mut lagging = node("replica2", false, Health::Lagging);
        lagging.replication_stopped = true;
        lagging.lag = Some(Duration::from_millis(612));
        lagging.heartbeat_lag = Some(Duration::from_millis(612));
        lagging.seconds_behind_master = None;
        let mut down = node("replica1", false, Health::Ejected);
        down.latency = None;
        down.gtid_position = None;
        down.ejections = 1;
        let status = ClusterStatus::new(vec![down, node("master", true, Health::Up), lagging], 0);
        let text = status.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("node "), "{text}");
        assert!(
            lines[1].starts_with("master ") && lines[1].contains(" up "),
            "{text}"
        );
        assert!(lines[1].ends_with("0-1-42"), "{text}");
        assert!(
            lines[2].starts_with("replica1 ") && lines[2].contains(" ejected "),
            "{text}"
        );
        let r2: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            r2[..9],
            [
                "replica2",
                "127.0.0.1:3306",
                "replica",
                "lagging",
                "stopped",
                "612.0ms",
                "612.0ms",
                "NULL",
                "0.2ms"
            ],
            "{text}"
        );
        assert_eq!(
            status.node("replica2").map(|n| n.health),
            Some(Health::Lagging)
        );
    }
}
