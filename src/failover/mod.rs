//! Changing masters: finding the master again after an outside tool promoted a replica,
//! and promoting one ourselves ([`Cluster::promote`](crate::Cluster::promote)).
//!
//! Both end by switching the cluster's master index, which every connection of the
//! cluster reads on each write: connections made before the change write to the new
//! master without being recreated.
//!
//! `promote` is MariaDB GTID replication only (`MASTER_USE_GTID`, `MASTER_GTID_WAIT`,
//! `Gtid_IO_Pos`). It runs in one of two modes, chosen by whether the current master
//! answers:
//!
//! * **switchover** (master reachable): the master is made `read_only` first, the chosen
//!   replica catches up with it, is promoted, and the old master becomes a replica of
//!   it. No committed write is lost; writes fail (read-only) for the moments in between.
//! * **failover** (master unreachable): the chosen replica stops fetching, applies what it
//!   already received, and is promoted. Transactions the dead master committed that no
//!   reachable replica received are lost, as with any asynchronous replication. The old
//!   master is left alone: it must be re-attached as a replica by hand before it serves
//!   again (started as it was, it would be writable and diverged).
//!
//! Either way, every other reachable replica is pointed at the new master; nothing is
//! changed on any node until every check has passed (candidate reachable and not behind
//! another replica, credentials present, catch-up done, and in a failover, not behind
//! the position the dead master was last seen at).
//!
//! Rediscovery holds a writable node to the same rule before taking it for the master:
//! it must replicate from nobody (no IO thread running or connecting, no SQL thread
//! running, on any replication connection) and have every transaction the lost master
//! was last seen with, per GTID domain. `read_only = 0` alone is not enough: a replica
//! whose `read_only` was forgotten still applies the old master's stream, and writes
//! sent to it would split the cluster's history. A refused node is logged (once per
//! reason) and writes fail with [`Error::NoMaster`] until a node passes, the master is
//! back, or [`Cluster::promote`](crate::Cluster::promote) runs.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::consistency::ConsistencyToken;
use crate::error::{Error, FailoverError};
use crate::topology::select::{self, Reached};
use crate::topology::Topology;
use crate::transport::{connect_node, open_error};
use crate::url::{NodeAddress, Secret};

/// How long a promotion waits for the candidate to apply what it must have (the old
/// master's last write in a switchover, its relay log in a failover), and how long
/// making the old master read-only may wait for running transactions' locks.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(diesel::QueryableByName)]
struct CandidateState {
    #[diesel(sql_type = Nullable<BigInt>)]
    read_only: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    current_pos: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    binlog_pos: Option<String>,
}

/// One replication connection of a node (`SHOW ALL SLAVES STATUS`: the default one and
/// any named one).
#[derive(diesel::QueryableByName)]
struct ReplicationThreads {
    #[diesel(sql_type = Text, column_name = Master_Host)]
    master_host: String,
    #[diesel(sql_type = Text, column_name = Slave_IO_Running)]
    io_running: String,
    #[diesel(sql_type = Text, column_name = Slave_SQL_Running)]
    sql_running: String,
}

/// What rediscovery makes of a node other than the lost master.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// `read_only = 1`: a replica, as it should be.
    ReadOnly,
    /// Writable, not replicating, and has every transaction the master was seen with.
    Adopt,
    /// Writable but must not take writes; why.
    Refuse(String),
}

/// Judges a node that answered: only a writable node that replicates from nobody and
/// has everything the lost master was last seen with may be taken for a master that an
/// outside tool promoted. A writable node that still replicates is a misconfigured
/// replica (`read_only` forgotten or reset): writing to it while it applies the old
/// master's stream splits the cluster's history. One that lacks transactions the master
/// committed would silently lose them. Whatever can't be read counts against it.
fn judge(conn: &mut MysqlConnection, floor: &ConsistencyToken) -> Verdict {
    let state: CandidateState = match diesel::sql_query(
        "SELECT @@read_only AS read_only, @@gtid_current_pos AS current_pos, \
         @@gtid_binlog_pos AS binlog_pos",
    )
    .get_result(conn)
    {
        Ok(s) => s,
        Err(e) => return Verdict::Refuse(format!("its state could not be read: {e}")),
    };
    if state.read_only != Some(0) {
        return Verdict::ReadOnly;
    }
    let threads: Vec<ReplicationThreads> =
        match diesel::sql_query("SHOW ALL SLAVES STATUS").load(conn) {
            Ok(rows) => rows,
            Err(e) => {
                return Verdict::Refuse(format!(
                    "its replication state could not be read (SHOW ALL SLAVES STATUS: {e}; \
                     its account needs SLAVE MONITOR), so it may still replicate"
                ))
            }
        };
    if let Some(t) = threads
        .iter()
        .find(|t| t.io_running != "No" || t.sql_running == "Yes")
    {
        return Verdict::Refuse(format!(
            "it is writable but still replicates from {} (IO thread: {}, SQL thread: {}): \
             a misconfigured replica, not a promoted one",
            t.master_host, t.io_running, t.sql_running
        ));
    }
    let parse = |text: Option<&str>| ConsistencyToken::from_gtid_list(text.unwrap_or(""));
    let (Some(mut has), Some(binlog)) = (
        parse(state.current_pos.as_deref()),
        parse(state.binlog_pos.as_deref()),
    ) else {
        return Verdict::Refuse(format!(
            "it reported unreadable GTID positions ({:?}, {:?})",
            state.current_pos, state.binlog_pos
        ));
    };
    has.merge(&binlog);
    if !has.covers(floor) {
        return Verdict::Refuse(format!(
            "it lacks transactions the master committed: the master was last seen at `{}`, \
             it has `{}`",
            floor.gtid_list(),
            has.gtid_list()
        ));
    }
    Verdict::Adopt
}

/// Looks for a writable node other than the current master. Rate-limited and
/// single-flight: concurrent callers don't pile up connection attempts.
pub(crate) fn rediscover(shared: &Topology) -> Option<usize> {
    let mut last = shared.failover_lock.try_lock()?;
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(500)) {
        return None;
    }
    *last = Some(now);
    let current = shared.master();
    let floor = shared.nodes[current].master_position();
    for (i, node) in shared.nodes.iter().enumerate() {
        if i == current {
            continue;
        }
        let Ok(mut conn) = connect_node(
            &node.address,
            shared.config.connect_timeout,
            shared.config.network_timeout,
        )
        .map(|c| c.conn) else {
            continue;
        };
        match judge(&mut conn, &floor) {
            Verdict::ReadOnly => {
                node.refused.lock().take();
            }
            Verdict::Refuse(reason) => {
                let mut refused = node.refused.lock();
                if refused.as_deref() != Some(reason.as_str()) {
                    log::error!(
                        "master {} is unreachable; {} is writable but is not taken for the \
                         new master: {reason} (`Cluster::promote` makes a replica the master)",
                        shared.nodes[current].label,
                        node.label
                    );
                    *refused = Some(reason);
                }
            }
            Verdict::Adopt => {
                node.refused.lock().take();
                log::warn!(
                    "master {} is unreachable; {} is writable and becomes the master",
                    shared.nodes[current].label,
                    node.label
                );
                switch_master(shared, current, i);
                return Some(i);
            }
        }
    }
    None
}

/// Makes `new` the master of every connection of the cluster.
fn switch_master(shared: &Topology, old: usize, new: usize) {
    // The new master has (or was made to have) everything the old one was seen with:
    // a later rediscovery holds candidates to that too.
    shared.nodes[new].saw_master_position(&shared.nodes[old].master_position());
    shared.set_master(new);
    shared.nodes[new].readmit();
    // The old master was never checked as a replica: no lag-bounded reads on it until
    // the monitor has seen it replicate.
    shared.nodes[old].forget_lag();
}

#[derive(diesel::QueryableByName)]
struct Positions {
    #[diesel(sql_type = Nullable<Text>)]
    current_pos: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    binlog_pos: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct SlaveStatus {
    #[diesel(sql_type = Text, column_name = Gtid_IO_Pos)]
    io_pos: String,
    #[diesel(sql_type = Text, column_name = Slave_SQL_Running)]
    sql_running: String,
}

#[derive(diesel::QueryableByName)]
struct WaitResult {
    #[diesel(sql_type = Nullable<BigInt>)]
    result: Option<i64>,
}

/// A node as `promote` found it, through an admin connection.
struct Probed {
    conn: MysqlConnection,
    /// What it applied (`@@gtid_current_pos`).
    applied: ConsistencyToken,
    /// What it applied or received from its master (adds `Gtid_IO_Pos`).
    received: ConsistencyToken,
    /// `Gtid_IO_Pos`, when it replicates.
    io_pos: Option<ConsistencyToken>,
    /// Whether `SHOW SLAVE STATUS` has a row (replication configured).
    replicating: bool,
    sql_running: bool,
}

/// One failure of an admin statement, with the password scrubbed out (a syntax error
/// echoes part of the statement, which may hold the replication password).
fn admin_error(label: &str, what: &str, error: &diesel::result::Error, secret: &str) -> Error {
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
fn quote(s: &str) -> String {
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

fn parse_position(label: &str, what: &str, list: &str) -> Result<ConsistencyToken, Error> {
    ConsistencyToken::from_gtid_list(list).ok_or_else(|| {
        Error::Failover(FailoverError::UnreadablePosition {
            node: label.to_string(),
            what: what.to_string(),
            value: list.to_string(),
        })
    })
}

/// Connects to node `i` with the admin credentials and reads its replication state.
fn probe(shared: &Topology, i: usize, admin: &(String, Secret)) -> Result<Probed, Error> {
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
    Ok(Probed {
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
fn exec(p: &mut Probed, label: &str, sql: &str, secret: &str) -> Result<(), Error> {
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
fn sql_verb(sql: &str) -> &str {
    let end = sql.match_indices(' ').nth(1).map_or(sql.len(), |(i, _)| i);
    &sql[..end]
}

/// `MASTER_GTID_WAIT` on `p`: whether it applied `position` within the timeout.
fn wait_for(p: &mut Probed, label: &str, position: &ConsistencyToken) -> Result<bool, Error> {
    let row: WaitResult = diesel::sql_query(format!(
        "SELECT MASTER_GTID_WAIT({}, {}) AS result",
        quote(&position.gtid_list()),
        CATCH_UP_TIMEOUT.as_secs()
    ))
    .get_result(&mut p.conn)
    .map_err(|e| admin_error(label, "MASTER_GTID_WAIT", &e, ""))?;
    Ok(row.result == Some(0))
}

/// See [`Cluster::promote`](crate::Cluster::promote): the steps are described there.
pub(crate) fn promote(shared: &Topology, name: Option<&str>) -> Result<String, Error> {
    // Blocking: a promotion must not run beside another one or a rediscovery.
    let mut last = shared.failover_lock.lock();
    let old = shared.master();
    let names: Vec<&str> = shared.nodes.iter().map(|n| n.name.as_str()).collect();
    let labels: Vec<&str> = shared.nodes.iter().map(|n| n.label.as_str()).collect();
    let named = select::named_node(&names, &labels, old, name)?;
    let admin = shared.config.admin.clone().unwrap_or_else(|| {
        let master = &shared.nodes[0].address;
        (master.user.clone(), master.password.clone())
    });

    // 1. Look at every node; change nothing yet.
    let mut probed = probe_all(shared, old, named, &admin)?;
    let switchover = probed[old].is_some();
    let reached: Vec<Option<Reached>> = probed
        .iter()
        .map(|p| {
            p.as_ref().map(|p| Reached {
                received: p.received.clone(),
                applied: p.applied.clone(),
            })
        })
        .collect();
    let target = select::promotion_target(&reached, &labels, old, named, switchover)?;
    let to_repoint: Vec<usize> = (0..probed.len())
        .filter(|&i| i != target && probed[i].is_some())
        .collect();
    let replication = match (&shared.config.replication, to_repoint.is_empty()) {
        (Some(r), _) => Some(r.clone()),
        (None, true) => None,
        (None, false) => return Err(FailoverError::NeedsReplicationCredentials.into()),
    };

    // 2. Make sure the candidate has everything it should have.
    let Some(mut candidate) = probed[target].take() else {
        return Err(FailoverError::NoReachableReplica.into());
    };
    let target_label = labels[target];
    if switchover {
        let Some(old_probe) = probed[old].as_mut() else {
            return Err(FailoverError::NoReachableReplica.into());
        };
        switchover_catch_up(old_probe, labels[old], &mut candidate, target_label)?;
    } else {
        failover_catch_up(&mut candidate, target_label)?;
        has_what_the_master_had(shared, old, &mut candidate, target_label)?;
    }

    // 3. Promote.
    make_writable(
        &mut candidate,
        target_label,
        probed[old].as_mut(),
        labels[old],
    )?;
    switch_master(shared, old, target);
    *last = Some(Instant::now());
    drop(last);
    log::warn!(
        "{target_label} promoted to master ({}; was {})",
        if switchover { "switchover" } else { "failover" },
        labels[old]
    );

    // 4. Point the others at it.
    if let Some(account) = replication {
        repoint(shared, &mut probed, old, target, to_repoint, &account);
    }
    for (i, _) in probed.iter().enumerate().filter(|(_, p)| p.is_none()) {
        if i != target && i != old {
            log::warn!(
                "promote: {} was unreachable; point it at {target_label} by hand",
                labels[i]
            );
        }
    }
    Ok(shared.nodes[target].name.clone())
}

/// Detaches the candidate from its master and opens it to writes. If that fails in a
/// switchover, the old master (made read-only to catch the candidate up) gets its
/// writes back.
fn make_writable(
    candidate: &mut Probed,
    label: &str,
    old_master: Option<&mut Probed>,
    old_label: &str,
) -> Result<(), Error> {
    for sql in ["STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"] {
        if let Err(e) = exec(candidate, label, sql, "") {
            if let Some(p) = old_master {
                let _ = exec(p, old_label, "SET GLOBAL read_only = 0", "");
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Probes every node with the admin account. The named candidate must answer, and so
/// must the master's login if it answers at all (else it couldn't be made read-only).
fn probe_all(
    shared: &Topology,
    old: usize,
    named: Option<usize>,
    admin: &(String, Secret),
) -> Result<Vec<Option<Probed>>, Error> {
    let mut probed = Vec::with_capacity(shared.nodes.len());
    for i in 0..shared.nodes.len() {
        match probe(shared, i, admin) {
            Ok(p) => probed.push(Some(p)),
            Err(e) if named == Some(i) => {
                return Err(FailoverError::Unreachable {
                    node: shared.nodes[i].label.clone(),
                    reason: e.to_string(),
                }
                .into())
            }
            Err(Error::NodeRefused { node, reason }) if i == old => {
                return Err(FailoverError::MasterRefusedLogin { node, reason }.into())
            }
            Err(e) => {
                log::warn!("promote: {e}");
                probed.push(None);
            }
        }
    }
    Ok(probed)
}

/// Switchover: the master is made read-only and the candidate waits until it applied
/// the master's last write. On failure the master gets its writes back.
fn switchover_catch_up(
    old: &mut Probed,
    old_label: &str,
    candidate: &mut Probed,
    target_label: &str,
) -> Result<(), Error> {
    exec(old, old_label, "SET GLOBAL read_only = 1", "")?;
    let positions: Result<Positions, _> =
        diesel::sql_query("SELECT @@gtid_binlog_pos AS binlog_pos, '' AS current_pos")
            .get_result(&mut old.conn);
    let caught_up = positions
        .map_err(|e| admin_error(old_label, "reading @@gtid_binlog_pos", &e, ""))
        .and_then(|p| {
            let pos = p.binlog_pos.unwrap_or_default();
            let pos = parse_position(old_label, "@@gtid_binlog_pos", &pos)?;
            Ok((wait_for(candidate, target_label, &pos)?, pos))
        });
    match caught_up {
        Ok((true, _)) => Ok(()),
        other => {
            // Give the master its writes back: nothing else was changed.
            let _ = exec(old, old_label, "SET GLOBAL read_only = 0", "");
            let (_, pos) = other?;
            Err(FailoverError::CatchUpTimedOut {
                node: target_label.to_string(),
                position: pos.gtid_list(),
                timeout: CATCH_UP_TIMEOUT,
            }
            .into())
        }
    }
}

/// Failover: the candidate stops fetching and applies what it already received.
fn failover_catch_up(candidate: &mut Probed, label: &str) -> Result<(), Error> {
    if !candidate.replicating {
        return Ok(());
    }
    exec(candidate, label, "STOP SLAVE IO_THREAD", "")?;
    // Re-read what was received now that nothing more can arrive.
    let io_pos =
        match diesel::sql_query("SHOW SLAVE STATUS").load::<SlaveStatus>(&mut candidate.conn) {
            Ok(rows) => match rows.into_iter().next() {
                Some(row) => Some(parse_position(label, "Gtid_IO_Pos", &row.io_pos)?),
                None => None,
            },
            Err(_) => candidate.io_pos.clone(),
        };
    let Some(io_pos) = io_pos.filter(|p| !candidate.applied.covers(p)) else {
        return Ok(());
    };
    if !candidate.sql_running {
        exec(candidate, label, "START SLAVE SQL_THREAD", "")?;
    }
    if wait_for(candidate, label, &io_pos)? {
        return Ok(());
    }
    let _ = exec(candidate, label, "START SLAVE IO_THREAD", "");
    Err(FailoverError::CatchUpTimedOut {
        node: label.to_string(),
        position: io_pos.gtid_list(),
        timeout: CATCH_UP_TIMEOUT,
    }
    .into())
}

/// Failover: the candidate must have what the master was last seen with (by the
/// monitor, or by a connection reading its write's position), as rediscovery demands of
/// a node it adopts. (A switchover waited for the master's own position.)
fn has_what_the_master_had(
    shared: &Topology,
    old: usize,
    candidate: &mut Probed,
    label: &str,
) -> Result<(), Error> {
    let floor = shared.nodes[old].master_position();
    if floor.is_empty() {
        return Ok(());
    }
    let positions: Positions = diesel::sql_query(
        "SELECT @@gtid_current_pos AS current_pos, @@gtid_binlog_pos AS binlog_pos",
    )
    .get_result(&mut candidate.conn)
    .map_err(|e| admin_error(label, "reading GTID positions", &e, ""))?;
    let current = positions.current_pos.unwrap_or_default();
    let mut has = parse_position(label, "@@gtid_current_pos", &current)?;
    let binlog = positions.binlog_pos.unwrap_or_default();
    has.merge(&parse_position(label, "@@gtid_binlog_pos", &binlog)?);
    if has.covers(&floor) {
        return Ok(());
    }
    if candidate.replicating {
        let _ = exec(candidate, label, "START SLAVE IO_THREAD", "");
    }
    Err(FailoverError::WouldLoseWrites {
        node: label.to_string(),
        master: shared.nodes[old].label.clone(),
        seen: floor.gtid_list(),
        has: has.gtid_list(),
    }
    .into())
}

/// Points every other reached node at the new master. The promotion stands whatever
/// happens here: a node that could not be re-pointed shows as lagging (its replication
/// is stopped or broken) and gets no lag-bounded reads until fixed by hand.
fn repoint(
    shared: &Topology,
    probed: &mut [Option<Probed>],
    old: usize,
    target: usize,
    to_repoint: Vec<usize>,
    (user, password): &(String, Secret),
) {
    let address = &shared.nodes[target].address;
    let target_label = &shared.nodes[target].label;
    let secret = password.expose();
    for i in to_repoint {
        let Some(p) = probed[i].as_mut() else {
            continue;
        };
        let label = &shared.nodes[i].label;
        // A former master has no replica position: its own binlog says where it is.
        let use_gtid = if i == old || !p.replicating {
            "current_pos"
        } else {
            "slave_pos"
        };
        let change = format!(
            "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, \
             MASTER_PASSWORD = {}, MASTER_USE_GTID = {use_gtid}",
            quote(&address.host),
            address.port,
            quote(user),
            quote(secret),
        );
        let stopped = match p.replicating {
            true => exec(p, label, "STOP SLAVE", ""),
            false => Ok(()),
        };
        let result = stopped
            .and_then(|()| exec(p, label, &change, secret))
            .and_then(|()| exec(p, label, "START SLAVE", ""));
        match result {
            Ok(()) => log::info!("{label} now replicates from {target_label}"),
            Err(e) => log::error!("promote: could not point {label} at {target_label}: {e}"),
        }
    }
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
