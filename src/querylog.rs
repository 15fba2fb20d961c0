//! The opt-in query log: what ran where, like Django's `connection.queries`.

use std::fmt;
use std::time::Duration;

use crate::role::Role;

/// One statement run by a [`ClusterConnection`](crate::ClusterConnection) while its
/// query log was on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryLogEntry {
    /// The node that ran it (Django's `db` field).
    pub node: String,
    /// The role in effect when it ran (the scope's, or the cluster's default).
    pub role: Role,
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
            "[{} {} {:.3} ms{}] {}",
            self.node,
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
