//! The opt-in query log: what ran where, like Django's `connection.queries`.

use std::fmt;
use std::time::Duration;

use crate::role::Role;

/// A kind of node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// The node that takes writes.
    Master,
    /// A read replica.
    Replica,
}

/// One statement run by a [`ClusterConnection`](crate::ClusterConnection) while its
/// query log was on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryLogEntry {
    /// The node that ran it (Django's `db` field).
    pub node: String,
    /// The role in effect when it ran (the scope's, or the cluster's default).
    pub role: Role,
    /// The kind of node the router chose. With a single database (development) every
    /// statement runs on it, and this says where a cluster would have sent it.
    pub target: NodeKind,
    /// The SQL, with bind values as Diesel's `debug_query` shows them.
    pub sql: String,
    /// Time spent on the node, including any causal wait.
    pub duration: Duration,
    /// Whether it failed.
    pub failed: bool,
}

impl fmt::Display for QueryLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} ({}) {} {:.3} ms{}] {}",
            self.node,
            match self.target {
                NodeKind::Master => "master",
                NodeKind::Replica => "replica",
            },
            self.role,
            self.duration.as_secs_f64() * 1000.0,
            if self.failed { " FAILED" } else { "" },
            self.sql
        )
    }
}

/// Bounded so a long-lived connection with the log left on can't grow without limit.
pub(crate) const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct QueryLog {
    pub(crate) enabled: bool,
    pub(crate) entries: Vec<QueryLogEntry>,
}

impl QueryLog {
    pub(crate) fn push(&mut self, entry: QueryLogEntry) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }
}
