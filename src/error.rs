//! The crate's error type, and how cluster-level failures travel through Diesel's.
//!
//! Two kinds of failure exist:
//!
//! * configuration and cluster operations (`Cluster::builder().build()`, URL parsing,
//!   `Cluster::promote`) return [`Error`] directly;
//! * statements run through a [`ClusterConnection`](crate::ClusterConnection) must return
//!   `diesel::result::Error`. A refusal made by the router (a write in replica role, no
//!   reachable master) becomes a `DatabaseError` whose kind says what a Diesel user would
//!   match on (`ReadOnlyTransaction` for a refused write, `ClosedConnection` for an
//!   unreachable node) and whose message is this crate's [`Error`]'s `Display`, prefixed
//!   with `diesel-cluster:`.
//!
//! No variant ever holds a password: URLs are stored and shown redacted.

use std::fmt;
use std::sync::Arc;

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};

/// Everything that can go wrong in diesel-cluster itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A cluster URL could not be parsed. `url` is redacted.
    InvalidUrl {
        /// The URL with its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value (URL query option or builder setting) is invalid.
    InvalidOption {
        /// The option's name, e.g. `max_replica_lag`.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A statement that changes data was sent in [`Role::Replica`](crate::Role::Replica) scope
    /// and the cluster is configured to refuse it. Nothing was sent to any server.
    WriteInReplicaRole {
        /// The statement kind, e.g. `INSERT` or `CREATE/ALTER/DROP (DDL)`.
        statement: &'static str,
    },
    /// A statement that may change data, take a lock or have another side effect must
    /// run on the master, but this connection's state pins it to a replica (a
    /// transaction begun there, a temporary table created there, or per-connection state
    /// such as `LAST_INSERT_ID()` held there). Refused: nothing was sent to any server.
    PinnedToReplica {
        /// The statement kind, e.g. `INSERT`.
        statement: &'static str,
        /// What pins it, e.g. "the open transaction".
        pin: &'static str,
        /// The replica the pin is on.
        node: String,
    },
    /// A statement reads per-connection state that lives on two different nodes (e.g.
    /// `LAST_INSERT_ID()` of an insert on the master and `FOUND_ROWS()` of a select on
    /// a replica): no node can answer it as one connection would. Nothing was sent.
    PinConflict {
        /// The statement kind.
        statement: &'static str,
        /// Which state lives where.
        pins: String,
    },
    /// A session statement failed on some nodes after others took it, and they could not
    /// be put back: the connection refuses statements (and reports itself broken, so a
    /// pool discards it).
    InconsistentSession {
        /// What happened.
        reason: String,
    },
    /// No node that can take writes is reachable (the master is down or ejected).
    NoMaster {
        /// Why the master could not be used.
        reason: String,
    },
    /// A node could not be connected to, or failed with a connection-level error.
    NodeUnavailable {
        /// The node's name, e.g. `replica1 (127.0.0.1:3402)`.
        node: String,
        /// The client library's message (never contains a password).
        reason: String,
    },
    /// A node answered and refused the connection: wrong user or password, a missing
    /// grant, an unknown database, an authentication plugin the client lacks (MySQL errors
    /// 1044, 1045, 1049, 1251, 1698, ...). The caller's error, not a node failure: the node
    /// is not ejected, the statement is not retried on another node, and no failover or
    /// master rediscovery follows. As a Diesel error its kind is `Unknown`.
    NodeRefused {
        /// The node's name, e.g. `replica1 (127.0.0.1:3402)`.
        node: String,
        /// The server's message (it may name the user, never the password).
        reason: String,
    },
    /// A session statement (`SET ...`, `USE db`) could not be applied on a node, so that
    /// node's session would differ from the others'.
    SessionState {
        /// The node that refused the statement.
        node: String,
        /// The statement.
        statement: String,
        /// The server's message.
        reason: String,
    },
    /// The monitor could not read a node's state: a replica's replication status (e.g. the
    /// account lacks the `SLAVE MONITOR` privilege), the heartbeat, or the node refused
    /// the monitor's login.
    Monitor {
        /// The replica.
        node: String,
        /// The server's message.
        reason: String,
    },
    /// [`Cluster::promote`](crate::Cluster::promote) refused or failed; what happened is
    /// the [`FailoverError`]. Nothing was changed unless it says so.
    Failover(FailoverError),
    /// A [`ConsistencyToken`](crate::ConsistencyToken) could not be parsed.
    InvalidToken {
        /// What is wrong with it.
        reason: String,
    },
    /// A statement failed on a node; the Diesel error is the source.
    Query {
        /// The node that ran it.
        node: String,
        /// The error Diesel returned.
        source: Arc<diesel::result::Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, reason } => write!(f, "invalid cluster URL `{url}`: {reason}"),
            Error::InvalidOption { option, reason } => {
                write!(f, "invalid option `{option}`: {reason}")
            }
            Error::WriteInReplicaRole { statement } => write!(
                f,
                "{statement} refused in replica role: a read-only scope cannot change data \
                 (use `with_master`, or `Builder::writes_in_replica_role(WriteRouting::Master)`)"
            ),
            Error::PinnedToReplica {
                statement,
                pin,
                node,
            } => write!(
                f,
                "{statement} refused: it must run on the master, but {pin} is on {node} \
                 (a write never follows a pin to a replica)"
            ),
            Error::PinConflict { statement, pins } => write!(
                f,
                "{statement} refused: it reads per-connection state held on two nodes \
                 ({pins}); run it in separate statements"
            ),
            Error::InconsistentSession { reason } => write!(
                f,
                "the connection's session state differs between nodes ({reason}); \
                 open a new connection"
            ),
            Error::NoMaster { reason } => write!(f, "no master available for writes: {reason}"),
            Error::NodeUnavailable { node, reason } => {
                write!(f, "node {node} unavailable: {reason}")
            }
            Error::NodeRefused { node, reason } => write!(
                f,
                "node {node} refused the connection: {reason} (check the credentials, grants \
                 and database name; the node is not ejected)"
            ),
            Error::SessionState {
                node,
                statement,
                reason,
            } => write!(
                f,
                "node {node} could not apply session statement `{statement}`: {reason}"
            ),
            Error::Monitor { node, reason } => {
                write!(f, "cannot monitor {node}: {reason}")
            }
            Error::Failover(e) => write!(f, "failover failed: {e}"),
            Error::InvalidToken { reason } => write!(f, "invalid consistency token: {reason}"),
            Error::Query { node, source } => write!(f, "statement failed on {node}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Query { source, .. } => Some(&**source),
            Error::Failover(e) => Some(e),
            _ => None,
        }
    }
}

/// The `DatabaseErrorInformation` carried inside a `diesel::result::Error` for refusals
/// made by the router. Keeps the original [`Error`] so callers can get it back.
#[derive(Debug)]
pub(crate) struct ClusterErrorInfo {
    message: String,
}

impl DatabaseErrorInformation for ClusterErrorInfo {
    fn message(&self) -> &str {
        &self.message
    }
    fn details(&self) -> Option<&str> {
        None
    }
    fn hint(&self) -> Option<&str> {
        None
    }
    fn table_name(&self) -> Option<&str> {
        None
    }
    fn column_name(&self) -> Option<&str> {
        None
    }
    fn constraint_name(&self) -> Option<&str> {
        None
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}

/// Prefix of every message diesel-cluster puts in a `diesel::result::Error`.
pub(crate) const MESSAGE_PREFIX: &str = "diesel-cluster: ";

impl Error {
    /// The `DatabaseErrorKind` a Diesel user would match on for this error.
    fn diesel_kind(&self) -> DatabaseErrorKind {
        match self {
            Error::WriteInReplicaRole { .. } | Error::PinnedToReplica { .. } => {
                DatabaseErrorKind::ReadOnlyTransaction
            }
            Error::NoMaster { .. } | Error::NodeUnavailable { .. } => {
                DatabaseErrorKind::ClosedConnection
            }
            _ => DatabaseErrorKind::Unknown,
        }
    }

    /// Turns this error into the `diesel::result::Error` a `Connection` method returns.
    #[cold]
    pub(crate) fn into_diesel(self) -> diesel::result::Error {
        if let Error::Query { source, .. } = &self {
            if let Some(inner) = clone_diesel_error(source) {
                return inner;
            }
        }
        let kind = self.diesel_kind();
        let message = format!("{MESSAGE_PREFIX}{self}");
        diesel::result::Error::DatabaseError(kind, Box::new(ClusterErrorInfo { message }))
    }
}

/// Diesel's error is not `Clone`; the variants we need to hand back unchanged are the
/// ones a server produces, which we can rebuild from their parts.
fn clone_diesel_error(error: &diesel::result::Error) -> Option<diesel::result::Error> {
    match error {
        diesel::result::Error::DatabaseError(kind, info) => {
            let kind = match kind {
                DatabaseErrorKind::UniqueViolation => DatabaseErrorKind::UniqueViolation,
                DatabaseErrorKind::ForeignKeyViolation => DatabaseErrorKind::ForeignKeyViolation,
                DatabaseErrorKind::ReadOnlyTransaction => DatabaseErrorKind::ReadOnlyTransaction,
                DatabaseErrorKind::NotNullViolation => DatabaseErrorKind::NotNullViolation,
                DatabaseErrorKind::CheckViolation => DatabaseErrorKind::CheckViolation,
                DatabaseErrorKind::SerializationFailure => DatabaseErrorKind::SerializationFailure,
                DatabaseErrorKind::ClosedConnection => DatabaseErrorKind::ClosedConnection,
                _ => DatabaseErrorKind::Unknown,
            };
            Some(diesel::result::Error::DatabaseError(
                kind,
                Box::new(info.message().to_string()),
            ))
        }
        diesel::result::Error::NotFound => Some(diesel::result::Error::NotFound),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_errors_become_diesel_errors_with_a_matching_kind() {
        let err = Error::WriteInReplicaRole {
            statement: "INSERT",
        };
        match err.into_diesel() {
            diesel::result::Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info) => {
                assert!(info.message().starts_with(MESSAGE_PREFIX));
                assert!(info.message().contains("INSERT refused in replica role"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = Error::NoMaster {
            reason: "down".into(),
        };
        assert!(matches!(
            err.into_diesel(),
            diesel::result::Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        ));
    }
}

/// Why [`Cluster::promote`](crate::Cluster::promote) did not promote, or what failed while
/// it did. Every variant but [`Admin`](FailoverError::Admin) is a refusal found before
/// any node was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailoverError {
    /// The cluster has no replica.
    NoReplica,
    /// A Galera cluster has no promotion: its writer is the first synced node in order.
    Galera,
    /// No node has that name.
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The names there are.
        nodes: Vec<String>,
    },
    /// The node named is the master already.
    AlreadyMaster {
        /// The node.
        node: String,
    },
    /// The replica named could not be reached with the admin credentials.
    Unreachable {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// The master answers but refused the admin login, so it can't be made read-only
    /// first: going on would leave two writable nodes.
    MasterRefusedLogin {
        /// The master.
        node: String,
        /// The server's message.
        reason: String,
    },
    /// No replica answered.
    NoReachableReplica,
    /// No replica has every transaction the others have: name the one to promote.
    Diverged,
    /// The candidate lacks transactions another replica has applied (failover).
    CandidateBehind {
        /// The candidate.
        node: String,
        /// The replica that has more.
        other: String,
        /// The candidate's GTID position.
        has: String,
        /// The other replica's.
        other_has: String,
    },
    /// The candidate lacks transactions the lost master was last seen with: promoting it
    /// would lose them (failover).
    WouldLoseWrites {
        /// The candidate.
        node: String,
        /// The lost master.
        master: String,
        /// The master's last seen position.
        seen: String,
        /// The candidate's.
        has: String,
    },
    /// Re-pointing the other replicas needs `Builder::replication_credentials`.
    NeedsReplicationCredentials,
    /// The candidate did not apply what it must within the catch-up timeout.
    CatchUpTimedOut {
        /// The candidate.
        node: String,
        /// What it had to apply: the master's position (switchover) or the relay log's.
        position: String,
        /// The bound.
        timeout: std::time::Duration,
    },
    /// A node reported a GTID position that can't be read.
    UnreadablePosition {
        /// The node.
        node: String,
        /// Which position.
        what: String,
        /// The text.
        value: String,
    },
    /// An admin statement failed on a node (its password, if any, scrubbed).
    Admin {
        /// The node.
        node: String,
        /// The statement, or its first words when it holds a password.
        statement: String,
        /// The server's message.
        message: String,
    },
}

impl fmt::Display for FailoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailoverError::NoReplica => f.write_str("the cluster has no replica to promote"),
            FailoverError::Galera => f.write_str(
                "a Galera cluster has nothing to promote: writes go to the first node in \
                 the configured order that is synced in the primary component",
            ),
            FailoverError::UnknownNode { name, nodes } => {
                write!(f, "no node named `{name}` (nodes: {})", nodes.join(", "))
            }
            FailoverError::AlreadyMaster { node } => write!(f, "{node} is already the master"),
            FailoverError::Unreachable { node, reason } => {
                write!(f, "cannot promote {node}: {reason}")
            }
            FailoverError::MasterRefusedLogin { node, reason } => write!(
                f,
                "cannot promote: {node} refused the admin login ({reason}); the master \
                 answers, so it must be made read-only first: fix `Builder::admin_credentials`"
            ),
            FailoverError::NoReachableReplica => f.write_str("no replica is reachable"),
            FailoverError::Diverged => f.write_str(
                "the replicas have diverged (none has every transaction the others have): \
                 name the one to promote",
            ),
            FailoverError::CandidateBehind {
                node,
                other,
                has,
                other_has,
            } => write!(
                f,
                "{node} lacks transactions {other} has applied ({has} vs {other_has}): \
                 promote that one instead"
            ),
            FailoverError::WouldLoseWrites {
                node,
                master,
                seen,
                has,
            } => write!(
                f,
                "{node} lacks transactions {master} committed (it was last seen at `{seen}`, \
                 {node} has `{has}`): promoting it would lose them; nothing was changed. \
                 Once {master} answers again, a switchover loses nothing"
            ),
            FailoverError::NeedsReplicationCredentials => f.write_str(
                "pointing the other replicas at the new master needs the replication \
                 account they connect with: set `Builder::replication_credentials`",
            ),
            FailoverError::CatchUpTimedOut {
                node,
                position,
                timeout,
            } => write!(
                f,
                "{node} did not apply `{position}` within {timeout:?} (is it replicating? see \
                 its Last_SQL_Error); nothing was changed"
            ),
            FailoverError::UnreadablePosition { node, what, value } => {
                write!(f, "{node} reported an unreadable {what} `{value}`")
            }
            FailoverError::Admin {
                node,
                statement,
                message,
            } => write!(f, "{statement} on {node}: {message}"),
        }
    }
}

impl std::error::Error for FailoverError {}

impl From<FailoverError> for Error {
    fn from(e: FailoverError) -> Error {
        Error::Failover(e)
    }
}
