//! Promoting a replica ([`Cluster::promote`](crate::Cluster::promote)): look at every
//! node, choose, catch up, promote, repoint.

use std::time::Instant;

use diesel::RunQueryDsl;

use crate::error::{Error, FailoverError};
use crate::topology::select::{self, Reached};
use crate::topology::Topology;
use crate::url::Secret;

use super::admin::{
    admin_error, exec, inspect, parse_position, quote, wait_for, Inspected, Positions, SlaveStatus,
};
use super::{switch_master, CATCH_UP_TIMEOUT};

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
    let mut inspected = inspect_all(shared, old, named, &admin)?;
    let switchover = inspected[old].is_some();
    let reached: Vec<Option<Reached>> = inspected
        .iter()
        .map(|p| {
            p.as_ref().map(|p| Reached {
                received: p.received.clone(),
                applied: p.applied.clone(),
            })
        })
        .collect();
    let target = select::promotion_target(&reached, &labels, old, named, switchover)?;
    let to_repoint: Vec<usize> = (0..inspected.len())
        .filter(|&i| i != target && inspected[i].is_some())
        .collect();
    let replication = match (&shared.config.replication, to_repoint.is_empty()) {
        (Some(r), _) => Some(r.clone()),
        (None, true) => None,
        (None, false) => return Err(FailoverError::NeedsReplicationCredentials.into()),
    };

    // 2. Make sure the candidate has everything it should have.
    let Some(mut candidate) = inspected[target].take() else {
        return Err(FailoverError::NoReachableReplica.into());
    };
    let target_label = labels[target];
    if switchover {
        let Some(old_view) = inspected[old].as_mut() else {
            return Err(FailoverError::NoReachableReplica.into());
        };
        switchover_catch_up(old_view, labels[old], &mut candidate, target_label)?;
    } else {
        failover_catch_up(&mut candidate, target_label)?;
        has_what_the_master_had(shared, old, &mut candidate, target_label)?;
    }

    // 3. Promote.
    make_writable(
        &mut candidate,
        target_label,
        inspected[old].as_mut(),
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
        repoint(shared, &mut inspected, old, target, to_repoint, &account);
    }
    for (i, _) in inspected.iter().enumerate().filter(|(_, p)| p.is_none()) {
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
    candidate: &mut Inspected,
    label: &str,
    old_master: Option<&mut Inspected>,
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

/// Inspects every node with the admin account. The named candidate must answer, and so
/// must the master's login if it answers at all (else it couldn't be made read-only).
fn inspect_all(
    shared: &Topology,
    old: usize,
    named: Option<usize>,
    admin: &(String, Secret),
) -> Result<Vec<Option<Inspected>>, Error> {
    let mut inspected = Vec::with_capacity(shared.nodes.len());
    for i in 0..shared.nodes.len() {
        match inspect(shared, i, admin) {
            Ok(p) => inspected.push(Some(p)),
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
                inspected.push(None);
            }
        }
    }
    Ok(inspected)
}

/// Switchover: the master is made read-only and the candidate waits until it applied
/// the master's last write. On failure the master gets its writes back.
fn switchover_catch_up(
    old: &mut Inspected,
    old_label: &str,
    candidate: &mut Inspected,
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
fn failover_catch_up(candidate: &mut Inspected, label: &str) -> Result<(), Error> {
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
    candidate: &mut Inspected,
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
    inspected: &mut [Option<Inspected>],
    old: usize,
    target: usize,
    to_repoint: Vec<usize>,
    (user, password): &(String, Secret),
) {
    let address = &shared.nodes[target].address;
    let target_label = &shared.nodes[target].label;
    let secret = password.expose();
    for i in to_repoint {
        let Some(p) = inspected[i].as_mut() else {
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
