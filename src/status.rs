//! A snapshot of the whole cluster, printable as a table.

use std::fmt;

use crate::node::NodeStatus;

/// Every node's state and counters at one moment, master first; `Display` prints a table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// One entry per node.
    pub nodes: Vec<NodeStatus>,
}

impl ClusterStatus {
    pub(crate) fn new(mut nodes: Vec<NodeStatus>) -> Self {
        nodes.sort_by_key(|n| !n.is_master);
        ClusterStatus { nodes }
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

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:<21} {:<7} {:<8} {:>9} {:>9} {:>10} {:>6} {:>5} {:>7} {:>9}",
            "node",
            "address",
            "role",
            "health",
            "lag",
            "latency",
            "statements",
            "errors",
            "eject",
            "retries",
            "fallbacks"
        )?;
        for n in &self.nodes {
            let lag = if n.is_master {
                "-".to_string()
            } else if n.replication_stopped {
                "stopped".to_string()
            } else {
                ms(n.lag)
            };
            writeln!(
                f,
                "{:<10} {:<21} {:<7} {:<8} {:>9} {:>9} {:>10} {:>6} {:>5} {:>7} {:>9}",
                n.name,
                n.address,
                if n.is_master { "master" } else { "replica" },
                n.health.to_string(),
                lag,
                ms(n.latency),
                n.statements,
                n.errors,
                n.ejections,
                n.retries,
                n.fallbacks
            )?;
            if let Some(e) = &n.monitor_error {
                writeln!(f, "  {}: monitor error: {e}", n.name)?;
            }
        }
        Ok(())
    }
}
