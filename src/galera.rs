//! Galera clusters: what is particular to them, as pure functions over what the servers
//! say (no I/O here, so the monitor, the connection and a future async connection share
//! them): which kind of cluster this is ([`ClusterKind`]), whether a node may serve
//! ([`WsrepState::verdict`]), which SQL reads a write's position and waits for it on
//! another node ([`position_sql`], [`wait_head`]), and which errors mean a certification
//! conflict or a node that left the primary component.

use std::fmt;

/// How the nodes of a cluster replicate, which decides how the library finds the node
/// that takes writes and how it reads its own writes elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClusterKind {
    /// Asynchronous MariaDB/MySQL replication: the first node is the master, the others
    /// replicas with `SHOW SLAVE STATUS` lag (the default).
    #[default]
    Replication,
    /// A Galera cluster (MariaDB Galera, Percona XtraDB Cluster): every node could take
    /// writes; the library writes to one of them, the first in the configured order that
    /// is `Synced` in a `Primary` component, and reads from the other synced ones.
    Galera,
}

impl std::str::FromStr for ClusterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "replication" => Ok(ClusterKind::Replication),
            "galera" => Ok(ClusterKind::Galera),
            _ => Err(format!("`{s}` (expected replication or galera)")),
        }
    }
}

/// `wsrep_local_state` of a node that is in sync with its component.
pub(crate) const SYNCED: i64 = 4;

/// What the monitor reads of a node's Galera state (`SHOW GLOBAL STATUS LIKE 'wsrep_%'`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WsrepState {
    /// `wsrep_on` (a variable): `None` when not read.
    pub(crate) on: Option<bool>,
    pub(crate) ready: bool,
    /// `wsrep_cluster_status`: `Primary`, `non-Primary` or `Disconnected`.
    pub(crate) cluster_status: String,
    /// `wsrep_local_state`: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced.
    pub(crate) local_state: i64,
    pub(crate) local_state_comment: String,
    /// `wsrep_flow_control_paused`: the fraction of time replication was paused by
    /// flow control since the last `FLUSH STATUS`, in millionths.
    pub(crate) flow_control_paused_ppm: u64,
    pub(crate) cert_failures: u64,
    pub(crate) cluster_size: u64,
}

impl WsrepState {
    /// From the rows of `SHOW GLOBAL STATUS LIKE 'wsrep%'` (names compared without case;
    /// unknown names ignored; unparsable numbers read as 0).
    pub(crate) fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut s = WsrepState::default();
        let num = |v: &str| v.trim().parse::<u64>().unwrap_or(0);
        for (name, value) in rows {
            match name.to_ascii_lowercase().as_str() {
                "wsrep_ready" => s.ready = value.eq_ignore_ascii_case("on"),
                "wsrep_cluster_status" => s.cluster_status = value.to_string(),
                "wsrep_local_state" => s.local_state = value.trim().parse().unwrap_or(0),
                "wsrep_local_state_comment" => s.local_state_comment = value.to_string(),
                "wsrep_flow_control_paused" => {
                    let f = value.trim().parse::<f64>().unwrap_or(0.0);
                    s.flow_control_paused_ppm = (f.clamp(0.0, 1.0) * 1e6) as u64;
                }
                "wsrep_local_cert_failures" => s.cert_failures = num(value),
                "wsrep_cluster_size" => s.cluster_size = num(value),
                _ => {}
            }
        }
        s
    }

    /// `Ok` when the node may get statements: `wsrep_ready = ON`, `Synced`
    /// (`wsrep_local_state = 4`), in the `Primary` component. Else why not (a donor, a
    /// desynced node, a joiner, a node cut off from the majority, or no Galera at all).
    pub(crate) fn verdict(&self) -> Result<(), String> {
        if self.on == Some(false) {
            return Err("wsrep_on is OFF: not a Galera node".into());
        }
        if self.cluster_status != "Primary" {
            let status = match self.cluster_status.as_str() {
                "" => "unknown",
                s => s,
            };
            return Err(format!(
                "not in the primary component (wsrep_cluster_status {status})"
            ));
        }
        if self.local_state != SYNCED {
            return Err(format!(
                "not synced (wsrep_local_state {} {})",
                self.local_state, self.local_state_comment
            ));
        }
        if !self.ready {
            return Err("wsrep_ready is OFF".into());
        }
        Ok(())
    }

    /// The public view of this state, as `status()` shows it.
    pub(crate) fn status(&self) -> GaleraStatus {
        GaleraStatus {
            component: self.cluster_status.clone(),
            local_state: self.local_state,
            local_state_comment: self.local_state_comment.clone(),
            ready: self.ready,
            flow_control_paused: self.flow_control_paused_ppm as f64 / 1e6,
            cert_failures: self.cert_failures,
            cluster_size: self.cluster_size,
        }
    }
}

/// A Galera node's state as the monitor last read it (see
/// [`NodeStatus::galera`](crate::NodeStatus::galera)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GaleraStatus {
    /// `wsrep_cluster_status`: `Primary` when the node is in the component that has
    /// quorum; `non-Primary` when it was cut off from it.
    pub component: String,
    /// `wsrep_local_state`: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced.
    pub local_state: i64,
    /// `wsrep_local_state_comment`, e.g. `Synced`, `Donor/Desynced`.
    pub local_state_comment: String,
    /// `wsrep_ready`.
    pub ready: bool,
    /// `wsrep_flow_control_paused`: the fraction of time (0 to 1) replication was paused
    /// by flow control since the server's last `FLUSH STATUS`.
    pub flow_control_paused: f64,
    /// `wsrep_local_cert_failures`: local transactions that failed certification.
    pub cert_failures: u64,
    /// `wsrep_cluster_size`: nodes in this node's component.
    pub cluster_size: u64,
}

impl Eq for GaleraStatus {}

impl fmt::Display for GaleraStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ready={} size={} fc_paused={:.3} cert_failures={}",
            self.component,
            self.local_state_comment,
            if self.ready { "ON" } else { "OFF" },
            self.cluster_size,
            self.flow_control_paused,
            self.cert_failures
        )
    }
}

/// The statement that reads the position of the writes a session committed, as two
/// columns: the session's own last write (empty when it wrote nothing that changed data),
/// and a position covering every write the node committed (for the former's fallback).
pub(crate) fn position_sql(kind: ClusterKind) -> &'static str {
    match kind {
        ClusterKind::Replication => "SELECT @@last_gtid, @@gtid_binlog_pos",
        // The wsrep functions give the write's GTID in the cluster's replication domain,
        // the one `WSREP_SYNC_WAIT_UPTO_GTID` waits in.
        ClusterKind::Galera => "SELECT WSREP_LAST_WRITTEN_GTID(), WSREP_LAST_SEEN_GTID()",
    }
}

/// The start of the statement a causal read runs on the node it reads from, before the
/// read, up to the wait function's opening parenthesis; the statement goes on with
/// `gtid, timeout) AS SIGNED)` (cast: `WSREP_SYNC_WAIT_UPTO_GTID`'s result column is a
/// string to the client, which mysql_async won't read as a number).
///
/// On Galera, `WSREP_SYNC_WAIT_UPTO_GTID` alone is not enough: it can return before the
/// transaction it waited for is visible to other sessions of the node (seen here: 2 to 7
/// stale reads in 15,000 to 20,000 wait-then-read pairs on a loaded machine, the row
/// there a moment later). The statement therefore also runs with `wsrep_sync_wait = 1`
/// (`SET STATEMENT .. FOR`, for this statement only): its causality check waits, before
/// the statement runs, until the node committed everything the cluster had committed,
/// through the commit order, which made every such read fresh (0 in 15,000 by the same
/// probe). The GTID wait stays: it bounds the wait for a position with the causal
/// timeout and answers whether the position was reached.
pub(crate) fn wait_head(kind: ClusterKind) -> &'static str {
    match kind {
        ClusterKind::Replication => "SELECT CAST(MASTER_GTID_WAIT(",
        ClusterKind::Galera => {
            "SET STATEMENT wsrep_sync_wait = 1 FOR SELECT CAST(WSREP_SYNC_WAIT_UPTO_GTID("
        }
    }
}

/// The arguments of the wait for a position (`gtid_list` as in
/// [`ConsistencyToken`](crate::ConsistencyToken)), and the timeout argument for
/// `timeout_s` seconds; `None` when this kind of cluster can't wait for it (Galera
/// waits for one GTID: a position naming several replication domains can't be waited
/// for, so the read goes to the writer).
pub(crate) fn wait_arguments(
    kind: ClusterKind,
    gtid_list: &str,
    timeout_s: f64,
) -> Option<(String, f64)> {
    match kind {
        ClusterKind::Replication => Some((gtid_list.to_string(), timeout_s)),
        ClusterKind::Galera => {
            if gtid_list.is_empty() || gtid_list.contains(',') {
                return None;
            }
            // Whole seconds (0 would mean the server's default); rounded up.
            Some((gtid_list.to_string(), timeout_s.ceil().max(1.0)))
        }
    }
}

/// What the wait returned or failed with: reached, timed out, or another failure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    Reached,
    TimedOut,
    Failed,
}

/// The outcome of a wait from its result: `MASTER_GTID_WAIT` returns 0 when reached and
/// -1 on timeout; `WSREP_SYNC_WAIT_UPTO_GTID` returns 1 when reached and fails with
/// error 1205 (lock wait timeout) on timeout.
pub(crate) fn wait_outcome(kind: ClusterKind, result: Result<Option<i64>, &str>) -> WaitOutcome {
    match (kind, result) {
        (ClusterKind::Replication, Ok(Some(0))) => WaitOutcome::Reached,
        (ClusterKind::Replication, Ok(_)) => WaitOutcome::TimedOut,
        (ClusterKind::Galera, Ok(Some(1))) => WaitOutcome::Reached,
        (ClusterKind::Galera, Ok(_)) => WaitOutcome::Failed,
        (ClusterKind::Galera, Err(m)) if is_lock_wait_timeout(m) => WaitOutcome::TimedOut,
        (_, Err(_)) => WaitOutcome::Failed,
    }
}

fn is_lock_wait_timeout(message: &str) -> bool {
    message.to_ascii_lowercase().contains("lock wait timeout")
}

/// Whether a statement's error means the transaction lost a conflict and was rolled back
/// whole, so that running it again from the start may succeed: a deadlock (1213, InnoDB's
/// "Deadlock found when trying to get lock"), which is also how Galera reports a
/// certification conflict at `COMMIT` and a transaction aborted by a replicated one
/// ("WSREP detected deadlock/conflict and aborted the transaction"). A lock wait timeout
/// (1205) is not one: InnoDB rolls back only the statement, it says a lock was held for
/// long rather than lost, and each new attempt could wait as long again. Diesel's MySQL
/// backend keeps the message, not the number, so the message is matched.
pub(crate) fn is_conflict_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("deadlock") || lower.contains("wsrep aborted")
}

/// Whether a node refused a statement because it is not part of the primary component
/// or not ready (error 1047, "WSREP has not yet prepared node for application use"):
/// the statement did not run, and the node must get none until it is synced again.
pub(crate) fn is_not_ready_message(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("wsrep has not yet prepared node")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced() -> WsrepState {
        WsrepState::from_rows([
            ("wsrep_ready", "ON"),
            ("wsrep_cluster_status", "Primary"),
            ("wsrep_local_state", "4"),
            ("wsrep_local_state_comment", "Synced"),
            ("wsrep_flow_control_paused", "0.25"),
            ("wsrep_local_cert_failures", "3"),
            ("wsrep_cluster_size", "3"),
            ("wsrep_something_else", "x"),
        ])
    }

    #[test]
    fn only_a_synced_ready_primary_node_serves() {
        let s = synced();
        assert_eq!(s.verdict(), Ok(()));
        assert_eq!(s.status().flow_control_paused, 0.25);
        assert_eq!(s.status().cert_failures, 3);
        let mut desynced = s.clone();
        desynced.local_state = 2;
        desynced.local_state_comment = "Donor/Desynced".into();
        assert!(desynced.verdict().unwrap_err().contains("Donor/Desynced"));
        let mut cut = s.clone();
        cut.cluster_status = "non-Primary".into();
        assert!(cut.verdict().unwrap_err().contains("non-Primary"));
        let mut unready = s.clone();
        unready.ready = false;
        assert!(unready.verdict().is_err());
        let mut off = s;
        off.on = Some(false);
        assert!(off.verdict().unwrap_err().contains("wsrep_on"));
        assert!(WsrepState::default().verdict().is_err(), "nothing read");
        assert!(WsrepState::from_rows([("wsrep_local_state", "x")])
            .verdict()
            .is_err());
    }

    #[test]
    fn the_wait_and_its_outcomes() {
        use ClusterKind::*;
        assert_eq!(
            wait_arguments(Galera, "1-1-5", 0.2),
            Some(("1-1-5".into(), 1.0))
        );
        assert_eq!(
            wait_arguments(Galera, "1-1-5", 2.5),
            Some(("1-1-5".into(), 3.0))
        );
        assert_eq!(wait_arguments(Galera, "1-1-5,2-1-3", 1.0), None);
        assert_eq!(wait_arguments(Galera, "", 1.0), None);
        assert_eq!(
            wait_arguments(Replication, "0-1-5,2-1-3", 0.5),
            Some(("0-1-5,2-1-3".into(), 0.5))
        );
        assert_eq!(wait_outcome(Replication, Ok(Some(0))), WaitOutcome::Reached);
        assert_eq!(
            wait_outcome(Replication, Ok(Some(-1))),
            WaitOutcome::TimedOut
        );
        assert_eq!(wait_outcome(Galera, Ok(Some(1))), WaitOutcome::Reached);
        assert_eq!(wait_outcome(Galera, Ok(Some(0))), WaitOutcome::Failed);
        let timeout = "Lock wait timeout exceeded; try restarting transaction";
        assert_eq!(wait_outcome(Galera, Err(timeout)), WaitOutcome::TimedOut);
        assert_eq!(
            wait_outcome(Galera, Err("Could not parse GTID list")),
            WaitOutcome::Failed
        );
        assert_eq!(wait_outcome(Replication, Err(timeout)), WaitOutcome::Failed);
        assert!(position_sql(Galera).contains("WSREP_LAST_WRITTEN_GTID"));
        assert_eq!(wait_head(Replication), "SELECT CAST(MASTER_GTID_WAIT(");
        assert!(wait_head(Galera).starts_with("SET STATEMENT wsrep_sync_wait = 1 FOR SELECT"));
    }

    #[test]
    fn conflicts_and_unready_nodes_are_recognised() {
        assert!(is_conflict_message(
            "Deadlock found when trying to get lock; try restarting transaction"
        ));
        assert!(is_conflict_message(
            "WSREP detected deadlock/conflict and aborted the transaction. Try restarting the transaction"
        ));
        assert!(!is_conflict_message(
            "Lock wait timeout exceeded; try restarting transaction"
        ));
        assert!(!is_conflict_message(
            "Duplicate entry '1' for key 'PRIMARY'"
        ));
        assert!(is_not_ready_message(
            "WSREP has not yet prepared node for application use"
        ));
        assert!(!is_not_ready_message("Table 'app.x' doesn't exist"));
        assert_eq!("Galera".parse(), Ok(ClusterKind::Galera));
        assert!("mesh".parse::<ClusterKind>().is_err());
    }
}
