//! The admin connections of a promotion: reading a node's replication state and running
//! statements on it, with the password kept out of errors.

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::consistency::ConsistencyToken;
use crate::error::{Error, FailoverError};
use crate::topology::Topology;
use crate::transport::{connect_node, open_error};
use crate::url::{NodeAddress, Secret};

use super::CATCH_UP_TIMEOUT;

#[derive(diesel::QueryableByName)]
pub(super) struct Positions {
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) current_pos: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) binlog_pos: Option<String>,
}

#[derive(diesel::QueryableByName)]
pub(super) struct SlaveStatus {
    #[diesel(sql_type = Text, column_name = Gtid_IO_Pos)]
    pub(super) io_pos: String,
    #[diesel(sql_type = Text, column_name = Slave_SQL_Running)]
    pub(super) sql_running: String,
}

#[derive(diesel::QueryableByName)]
pub(super) struct WaitResult {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(super) result: Option<i64>,
}

/// A node as `promote` found it, through an admin connection.
pub(super) struct Inspected {
    pub(super) conn: MysqlConnection,
    /// What it applied (`@@gtid_current_pos`).
    pub(super) applied: ConsistencyToken,
    /// What it applied or received from its master (adds `Gtid_IO_Pos`).
    pub(super) received: ConsistencyToken,
    /// `Gtid_IO_Pos`, when it replicates.
    pub(super) io_pos: Option<ConsistencyToken>,
    /// Whether `SHOW SLAVE STATUS` has a row (replication configured).
    pub(super) replicating: bool,
    pub(super) sql_running: bool,
}

/// One failure of an admin statement, with the password scrubbed out (a syntax error
/// echoes part of the statement, which may hold the replication password).
pub(super) fn admin_error(
    label: &str,
    what: &str,
    error: &diesel::result::Error,
    secret: &str,
) -> Error {
    let mut message = error.to_string();
    if !secret.is_empty() {
        message = message.replace(secret, "***");
    }
    Error::Failover(FailoverError::Admin {
        node: label.to_string(),
        statement: what.to_string(),
        message,
    })
}

/// A string literal for MariaDB (the admin session's `sql_mode` is fixed, so backslash
/// escapes are on).
pub(super) fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        match c {
            '\'' => q.push_str("\\'"),
            '\\' => q.push_str("\\\\"),
            '\0' => q.push_str("\\0"),
            _ => q.push(c),
        }
    }
    q.push('\'');
    q
}

pub(super) fn parse_position(
    label: &str,
    what: &str,
    list: &str,
) -> Result<ConsistencyToken, Error> {
    ConsistencyToken::from_gtid_list(list).ok_or_else(|| {
        Error::Failover(FailoverError::UnreadablePosition {
            node: label.to_string(),
            what: what.to_string(),
            value: list.to_string(),
        })
    })
}

/// Connects to node `i` with the admin credentials and reads its replication state.
pub(super) fn inspect(
    shared: &Topology,
    i: usize,
    admin: &(String, Secret),
) -> Result<Inspected, Error> {
    let node = &shared.nodes[i];
    let mut address: NodeAddress = node.address.clone();
    address.user = admin.0.clone();
    address.password = admin.1.clone();
    let failed = |reason: String| open_error(&node.label, reason);
    let mut conn = connect_node(
        &address,
        shared.config.connect_timeout,
        shared.config.network_timeout,
    )
    .map_err(failed)?
    .conn;
    let secret = admin.1.expose();
    conn.batch_execute(&format!(
        "SET SESSION sql_mode = 'STRICT_TRANS_TABLES', SESSION lock_wait_timeout = {}",
        CATCH_UP_TIMEOUT.as_secs()
    ))
    .map_err(|e| admin_error(&node.label, "setting up the session", &e, secret))?;
    let positions: Positions = diesel::sql_query(
        "SELECT @@gtid_current_pos AS current_pos, @@gtid_binlog_pos AS binlog_pos",
    )
    .get_result(&mut conn)
    .map_err(|e| admin_error(&node.label, "reading GTID positions", &e, secret))?;
    let status: Vec<SlaveStatus> = diesel::sql_query("SHOW SLAVE STATUS")
        .load(&mut conn)
        .map_err(|e| admin_error(&node.label, "SHOW SLAVE STATUS", &e, secret))?;
    let mut applied = parse_position(
        &node.label,
        "@@gtid_current_pos",
        positions.current_pos.as_deref().unwrap_or(""),
    )?;
    // A former master's own writes are in its binlog position.
    applied.merge(&parse_position(
        &node.label,
        "@@gtid_binlog_pos",
        positions.binlog_pos.as_deref().unwrap_or(""),
    )?);
    let mut received = applied.clone();
    let (io_pos, replicating, sql_running) = match status.into_iter().next() {
        Some(row) => {
            let io = parse_position(&node.label, "Gtid_IO_Pos", &row.io_pos)?;
            received.merge(&io);
            (Some(io), true, row.sql_running == "Yes")
        }
        None => (None, false, false),
    };
    Ok(Inspected {
        conn,
        applied,
        received,
        io_pos,
        replicating,
        sql_running,
    })
}

/// Runs an admin statement; `secret` is a password the statement holds, kept out of
/// errors (only the statement's first words are shown then).
pub(super) fn exec(p: &mut Inspected, label: &str, sql: &str, secret: &str) -> Result<(), Error> {
    let what = if secret.is_empty() {
        sql
    } else {
        sql_verb(sql)
    };
    p.conn
        .batch_execute(sql)
        .map_err(|e| admin_error(label, what, &e, secret))
}

/// The statement's first words, for an error that must not show its arguments.
pub(super) fn sql_verb(sql: &str) -> &str {
    let end = sql.match_indices(' ').nth(1).map_or(sql.len(), |(i, _)| i);
    &sql[..end]
}

/// `MASTER_GTID_WAIT` on `p`: whether it applied `position` within the timeout.
pub(super) fn wait_for(
    p: &mut Inspected,
    label: &str,
    position: &ConsistencyToken,
) -> Result<bool, Error> {
    let row: WaitResult = diesel::sql_query(format!(
        "SELECT MASTER_GTID_WAIT({}, {}) AS result",
        quote(&position.gtid_list()),
        CATCH_UP_TIMEOUT.as_secs()
    ))
    .get_result(&mut p.conn)
    .map_err(|e| admin_error(label, "MASTER_GTID_WAIT", &e, ""))?;
    Ok(row.result == Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_error_scrubbing() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(
            sql_verb("CHANGE MASTER TO MASTER_PASSWORD = 'x'"),
            "CHANGE MASTER"
        );
        assert_eq!(sql_verb("STOP SLAVE"), "STOP SLAVE");
        let e = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("syntax error near 's3cret'".to_string()),
        );
        let shown = admin_error("replica1", "CHANGE MASTER", &e, "s3cret").to_string();
        assert!(
            shown.contains("replica1") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
