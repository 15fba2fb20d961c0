//! What an error from a node means: the node is unavailable (eject it, go elsewhere),
//! or it refused this login (the caller's error: credentials, grants, configuration).

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::error::Error;

/// Messages of the MySQL/MariaDB client library errors that mean "this node is
/// unavailable": 2002/2003 (can't connect), 2006 (gone away), 2013 (lost connection),
/// 2055, plus server shutdown (1053), a killed connection (1927) and a Galera node that
/// left the primary component or is not ready (1047: the statement did not run). Diesel's MySQL
/// backend keeps only the message, not the error number, so the message is matched.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "server has gone away",
    "lost connection to",
    "can't connect to",
    "server shutdown in progress",
    "connection was killed",
    "connection refused",
    "connection reset",
    "broken pipe",
    "error while reading",
    "error in server handshake",
    "wsrep has not yet prepared node",
    // mysql_async's (the async connection's client).
    "input/output error",
    "connection to the server is closed",
];

fn is_unavailable_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    UNAVAILABLE_MESSAGES.iter().any(|m| lower.contains(m))
}

/// Messages of the errors opening a node that no retry will fix, because the node
/// answered and refused this login: 1045, 1698 and 4151 (access denied: wrong user or
/// password, socket-only account, locked account), 1044 (access denied to the database),
/// 1049 (unknown database), 1251, 2059 and 2061 (authentication plugin or protocol),
/// 1130 (host not allowed), 1129 (host blocked), 1862 (password expired), 1226 (the
/// account's resource limit). Matched on the message, as [`UNAVAILABLE_MESSAGES`].
const REFUSAL_MESSAGES: &[&str] = &[
    "access denied",
    "unknown database",
    "authentication protocol",
    "authentication plugin",
    "could not be loaded",
    "requires secure connection",
    "is not allowed to connect",
    "is blocked because of many connection errors",
    "password has expired",
    "has exceeded the",
];

/// Whether an error opening a node is the node refusing the login or the database: the
/// caller's error (credentials, grants, configuration), not a node failure. The node is
/// not ejected, nothing is retried elsewhere (that would only hide it), and no failover
/// or master rediscovery follows.
pub(crate) fn is_refusal_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    REFUSAL_MESSAGES.iter().any(|m| lower.contains(m))
}

/// Whether a statement's error means the node (not the statement) failed. A refused
/// login ([`Error::NodeRefused`]) never does.
pub(crate) fn is_connection_error(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => {
            is_unavailable_message(info.message()) && !is_refusal_message(info.message())
        }
        _ => false,
    }
}

/// Whether an error opening a node means the node is unavailable (as opposed to, say,
/// wrong credentials, which a retry elsewhere would only hide).
pub(crate) fn open_error_is_unavailable(message: &str) -> bool {
    !is_refusal_message(message)
        && (is_unavailable_message(message)
            || message.starts_with("can't connect to")
            || message.contains("timed out"))
}

/// The error for a node that could not be opened: [`Error::NodeRefused`] when it refused
/// the login (see [`is_refusal_message`]), else [`Error::NodeUnavailable`].
pub(crate) fn open_error(label: &str, reason: String) -> Error {
    if is_refusal_message(&reason) {
        Error::NodeRefused {
            node: label.to_string(),
            reason,
        }
    } else {
        Error::NodeUnavailable {
            node: label.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_recognised() {
        for m in [
            "Can't connect to server on '127.0.0.1' (115)",
            "Lost connection to server during query",
            "Lost connection to MySQL server during query",
            "MySQL server has gone away",
            "Server has gone away",
            "Server shutdown in progress",
            "Connection was killed",
        ] {
            assert!(is_unavailable_message(m), "{m}");
        }
        for m in [
            "Duplicate entry '1' for key 'PRIMARY'",
            "Table 'app.nope' doesn't exist",
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
        ] {
            assert!(!is_unavailable_message(m), "{m}");
        }
    }

    #[test]
    fn refused_logins_are_the_callers_errors() {
        // Messages of MariaDB 10.11 and libmariadb/libmysqlclient, as Diesel passes them.
        for m in [
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
            "Access denied for user 'app'@'%' to database 'nope'",
            "Access denied for user 'root'@'localhost'",
            "Access denied, this account is locked",
            "Unknown database 'nope'",
            "Client does not support authentication protocol requested by server; \
             consider upgrading MariaDB client",
            "Plugin caching_sha2_password could not be loaded: not found",
            "Authentication plugin 'caching_sha2_password' reported error: Authentication \
             requires secure connection.",
            "Host '10.0.0.9' is not allowed to connect to this MariaDB server",
            "Host '10.0.0.9' is blocked because of many connection errors; unblock with \
             'mariadb-admin flush-hosts'",
            "Your password has expired. To log in you must change it using a client that \
             supports expired passwords.",
            "User 'app' has exceeded the 'max_user_connections' resource (current value: 5)",
        ] {
            assert!(is_refusal_message(m), "{m}");
            assert!(!open_error_is_unavailable(m), "{m}");
            assert!(matches!(
                open_error("n", m.into()),
                Error::NodeRefused { .. }
            ));
        }
        for m in [
            "Can't connect to server on '127.0.0.1' (111)",
            "Lost connection to server at 'handshake: reading initial communication packet'",
            "Too many connections",
        ] {
            assert!(!is_refusal_message(m), "{m}");
            assert!(matches!(
                open_error("n", m.into()),
                Error::NodeUnavailable { .. }
            ));
        }
        // Through Diesel's error, as a statement sees a refused open: not the node's fault.
        let refused = open_error("master (h:1)", "Access denied for user 'a'@'h'".into());
        assert!(!is_connection_error(&refused.into_diesel()));
        let down = open_error("master (h:1)", "Lost connection to server".into());
        assert!(is_connection_error(&down.into_diesel()));
    }
}
