//! What the monitor learns, written into the topology: a node answered (its round trip,
//! readmission), did not answer (ejection) or refused the login, hung; a replica's lag;
//! a node's GTID position; the heartbeat's outcome. No connection here: the checks read
//! the servers and hands the readings over, so each rule is tested on plain topology
//! data.

use std::time::Duration;

use super::replication::Replication;
use crate::consistency::ConsistencyToken;
use crate::error::Error;
use crate::topology::node::Node;
use crate::topology::Topology;
use crate::transport::errors::is_refusal_message;

/// Marks a `monitor_error` as the node refusing the monitor's login (cleared by the next
/// login that works).
pub(super) const LOGIN_ERROR: &str = "login refused:";

/// Marks the master's `monitor_error` as coming from the heartbeat (cleared by the next
/// successful heartbeat write, and only then).
pub(super) const HEARTBEAT_ERROR: &str = "heartbeat:";

/// Node `i` answered `SELECT 1` in `sample`. The round trip is smoothed (each sample
/// moves it a quarter of the way) so that one slow answer on a busy machine doesn't
/// swing latency-based routing; an ejected node is readmitted at once (no need to wait
/// for the cooldown); a login refusal seen before is over.
pub(super) fn answered(shared: &Topology, i: usize, sample: Duration) {
    let node = &shared.nodes[i];
    let smoothed = match node.latency() {
        Some(old) if node.is_up() => (old * 3 + sample) / 4,
        _ => sample,
    };
    node.set_latency(smoothed);
    let mut error = node.monitor_error.lock();
    if error.as_deref().is_some_and(|e| e.contains(LOGIN_ERROR)) {
        log::info!("monitor: {} accepts its login again", node.label);
        *error = None;
    }
    drop(error);
    if !node.is_up() {
        log::info!("{} answers again; readmitting it", node.label);
        node.readmit();
    }
}

/// Node `i` did not answer (`error`). What was seen of it is no longer true. A refused
/// login is not an outage (see [`refused`]); anything else ejects it.
pub(super) fn unanswered(shared: &Topology, i: usize, error: &str) {
    let node = &shared.nodes[i];
    *node.seen.lock() = Default::default();
    if is_refusal_message(error) {
        refused(shared, i, error);
        return;
    }
    node.set_lag(None, shared.config.max_replica_lag);
    if node.is_up() && node.eject(shared.config.ejection_cooldown) {
        log::warn!("monitor: ejecting {}: {error}", node.label);
    }
    if shared.config.kind == crate::galera::ClusterKind::Galera {
        // A Galera node that comes back serves once a check finds it synced, not as
        // soon as it answers (it may still be joining).
        node.set_not_serving(Some(format!("not answering: {error}")));
        node.galera.lock().state = None;
    }
}

/// Node `i` answered and refused the monitor's login. The monitor logs in with the
/// node's own credentials, the ones the application's connections use, so this is a
/// configuration error for the caller to fix, not a failure: the node is not ejected
/// and no failover follows (the application's statements get the refusal as
/// [`Error::NodeRefused`]). A replica's lag is unknown, so it gets no lag-bounded
/// reads, as when its replication status can't be read. `status()` shows why
/// (`monitor_error`); the log says it once at `error`, not every round, and at `info`
/// when a login works again.
fn refused(shared: &Topology, i: usize, reason: &str) {
    let node = &shared.nodes[i];
    let is_master = i == shared.master();
    let lag = match is_master {
        true => "",
        false => "; its lag is unknown, so it gets no lag-bounded reads",
    };
    set_error(
        node,
        Error::Monitor {
            node: node.label.clone(),
            reason: format!(
                "{LOGIN_ERROR} {reason}; not ejected (it answers: the credentials or grants \
                 are wrong){lag}"
            ),
        },
    );
    if !is_master {
        node.set_lag(None, shared.config.max_replica_lag);
    }
}

/// Node `i` did not answer within `timeout`: it is hung (its process does not answer
/// though its host does). It is ejected before the application's connections to it are
/// cut, so they don't reconnect to it; statements waiting on it then fail over instead
/// of waiting forever.
pub(super) fn hung(shared: &Topology, i: usize, timeout: Duration) {
    let node = &shared.nodes[i];
    *node.seen.lock() = Default::default();
    node.eject(shared.config.ejection_cooldown);
    let cut = node.sockets.sever_all();
    log::warn!(
        "monitor: {} did not answer within {timeout:?} (network_timeout): ejected it \
         and cut the {cut} open connection(s) to it",
        node.label
    );
}

/// Replica `i`'s replication state, with its heartbeat lag when it could be read (the
/// lag and whether it is behind the last heartbeat, so that its lag grows until the next
/// check): the heartbeat is preferred to `Seconds_Behind_Master`.
pub(super) fn replication_read(
    shared: &Topology,
    i: usize,
    repl: Replication,
    heartbeat: Option<(Duration, bool)>,
) {
    let node = &shared.nodes[i];
    let max_lag = shared.config.max_replica_lag;
    if node.monitor_error.lock().take().is_some() {
        log::info!(
            "monitor: can read the replication status of {} again",
            node.label
        );
    }
    let was = node.is_lagging();
    match heartbeat {
        Some((lag, true)) => node.set_growing_lag(lag, max_lag),
        Some((lag, false)) => node.set_lag(Some(lag), max_lag),
        None => node.set_lag(repl.lag, max_lag),
    }
    {
        let mut seen = node.seen.lock();
        seen.seconds_behind_master = repl.seconds_behind_master;
        seen.replicating = Some(repl.running);
        seen.heartbeat_lag = heartbeat.map(|(lag, _)| lag);
    }
    if node.is_lagging() != was {
        log::info!(
            "{} is {} (lag {:?}, max {max_lag:?})",
            node.label,
            if was { "caught up" } else { "lagging" },
            node.lag(),
        );
    }
}

/// Replica `i`'s replication status could not be read (most likely a missing
/// privilege): its lag is unknown, so it gets no lag-bounded reads; `status()` shows why.
pub(super) fn replication_unreadable(shared: &Topology, i: usize, error: Error) {
    let node = &shared.nodes[i];
    set_error(node, error);
    node.set_lag(None, shared.config.max_replica_lag);
    let mut seen = node.seen.lock();
    seen.seconds_behind_master = None;
    seen.replicating = None;
    seen.heartbeat_lag = None;
}

/// Node `i`'s GTID position, as read (`None`: it could not be): `@@gtid_current_pos`
/// and `@@gtid_binlog_pos` on the master, `@@gtid_slave_pos` on a replica. The master's
/// current position is what rediscovery holds a candidate for the next master to; its
/// binlog position (every write it committed) is what consistency tokens are checked
/// against; a replica's position makes the tokens it covers reachable again.
pub(super) fn position(
    shared: &Topology,
    i: usize,
    is_master: bool,
    read: Option<(Option<String>, Option<String>)>,
) {
    let parsed = |text: &Option<String>| text.as_deref().and_then(ConsistencyToken::from_gtid_list);
    let pos = read.and_then(|(pos, binlog)| {
        if is_master {
            if let Some(p) = parsed(&pos) {
                shared.nodes[i].saw_master_position(&p);
            }
            if let Some(p) = parsed(&binlog) {
                shared.tokens.note_master_position(i, &p);
            }
        } else if let Some(p) = parsed(&pos) {
            shared.tokens.reached(&p);
        }
        pos
    });
    shared.nodes[i].seen.lock().gtid_position = pos;
}

/// The heartbeat was written on master `m`: a heartbeat error shown before is over.
pub(super) fn heartbeat_written(shared: &Topology, m: usize) {
    let node = &shared.nodes[m];
    let mut error = node.monitor_error.lock();
    if error
        .as_deref()
        .is_some_and(|e| e.contains(HEARTBEAT_ERROR))
    {
        log::info!("monitor: heartbeat written on {} again", node.label);
        *error = None;
    }
}

/// Writing the heartbeat on master `m` failed: replica lag falls back to
/// `Seconds_Behind_Master`; `status()` shows why.
pub(super) fn heartbeat_failed(shared: &Topology, m: usize, table: &str, error: &str, hint: &str) {
    let node = &shared.nodes[m];
    set_error(
        node,
        Error::Monitor {
            node: node.label.clone(),
            reason: format!(
                "{HEARTBEAT_ERROR} writing {table} failed: {error}{hint}; replica lag \
                 falls back to Seconds_Behind_Master"
            ),
        },
    );
}

/// Shows `error` in the node's `status()`, logging it when it is new (once, not every
/// round).
fn set_error(node: &Node, error: Error) {
    let message = error.to_string();
    let mut current = node.monitor_error.lock();
    if current.as_deref() != Some(message.as_str()) {
        log::error!("monitor: {message}");
    }
    *current = Some(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tokens::Standing;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn error_of(shared: &Topology, i: usize) -> Option<String> {
        shared.nodes[i].monitor_error.lock().clone()
    }

    #[test]
    fn an_answer_smooths_the_round_trip_and_readmits() {
        let t = Topology::for_tests(1);
        answered(&t, 1, MS(4));
        assert_eq!(
            t.nodes[1].latency(),
            Some(MS(4)),
            "the first sample as it is"
        );
        answered(&t, 1, MS(8));
        assert_eq!(t.nodes[1].latency(), Some(MS(5)), "a quarter of the way");
        assert!(t.nodes[1].eject(Duration::from_secs(60)));
        answered(&t, 1, MS(40));
        assert!(
            t.nodes[1].is_up(),
            "readmitted without waiting for the cooldown"
        );
        assert_eq!(
            t.nodes[1].latency(),
            Some(MS(40)),
            "an ejected node starts afresh"
        );
    }

    #[test]
    fn no_answer_ejects_once_and_forgets_what_was_seen() {
        let t = Topology::for_tests(1);
        t.nodes[1].seen.lock().gtid_position = Some("0-1-5".into());
        t.nodes[1].set_lag(Some(MS(0)), t.config.max_replica_lag);
        unanswered(&t, 1, "Can't connect to server on '127.0.0.1' (111)");
        assert!(!t.nodes[1].is_up());
        assert!(t.nodes[1].is_lagging(), "its lag is unknown");
        assert_eq!(t.nodes[1].seen.lock().gtid_position, None);
        unanswered(&t, 1, "Lost connection");
        assert_eq!(
            t.nodes[1].status(false).ejections,
            1,
            "one ejection, not one per round"
        );
        assert_eq!(
            error_of(&t, 1),
            None,
            "an outage is not a configuration error"
        );
    }

    #[test]
    fn a_refused_login_is_shown_not_ejected() {
        let t = Topology::for_tests(1);
        let denied = "Access denied for user 'app'@'localhost' (using password: YES)";
        unanswered(&t, 1, denied);
        assert!(t.nodes[1].is_up(), "it answers: not down");
        assert!(
            t.nodes[1].is_lagging(),
            "a replica's lag is unknown: no bounded reads"
        );
        let shown = error_of(&t, 1).expect("shown in status()");
        assert!(
            shown.contains(LOGIN_ERROR) && shown.contains("lag is unknown"),
            "{shown}"
        );
        unanswered(&t, 0, denied);
        assert!(t.nodes[0].is_up() && !error_of(&t, 0).unwrap().contains("lag"));

        answered(&t, 1, MS(1));
        assert_eq!(error_of(&t, 1), None, "a login that works clears it");
    }

    #[test]
    fn only_the_errors_each_success_answers_are_cleared() {
        let t = Topology::for_tests(1);
        heartbeat_failed(&t, 0, "`hb`", "denied", "");
        answered(&t, 0, MS(1));
        assert!(
            error_of(&t, 0).unwrap().contains(HEARTBEAT_ERROR),
            "a ping is no heartbeat"
        );
        heartbeat_written(&t, 0);
        assert_eq!(error_of(&t, 0), None);
        unanswered(&t, 0, "Access denied for user");
        heartbeat_written(&t, 0);
        assert!(
            error_of(&t, 0).unwrap().contains(LOGIN_ERROR),
            "a heartbeat is no login"
        );
    }

    #[test]
    fn the_heartbeat_is_preferred_to_seconds_behind_master() {
        let t = Topology::for_tests(1);
        let max = t.config.max_replica_lag;
        let repl = |lag: Option<u64>| Replication {
            lag: lag.map(Duration::from_secs),
            seconds_behind_master: lag,
            running: lag.is_some(),
        };
        replication_read(&t, 1, repl(Some(0)), Some((max + MS(1), false)));
        assert!(
            t.nodes[1].is_lagging(),
            "the heartbeat says behind, though SBM says 0"
        );
        replication_read(&t, 1, repl(Some(100)), Some((MS(0), false)));
        assert!(!t.nodes[1].is_lagging());
        replication_read(&t, 1, repl(Some(100)), None);
        assert!(
            t.nodes[1].is_lagging(),
            "no heartbeat: Seconds_Behind_Master"
        );
        replication_read(&t, 1, repl(Some(0)), Some((MS(10), true)));
        assert!(
            t.nodes[1].lag_now().unwrap() >= MS(10),
            "behind the last heartbeat: grows"
        );
        let seen = t.nodes[1].seen.lock().clone();
        assert_eq!(
            (seen.seconds_behind_master, seen.replicating),
            (Some(0), Some(true))
        );
        assert_eq!(seen.heartbeat_lag, Some(MS(10)));
    }

    #[test]
    fn an_unreadable_replication_status_means_no_bounded_reads() {
        let t = Topology::for_tests(1);
        replication_read(
            &t,
            1,
            Replication {
                lag: Some(Duration::ZERO),
                seconds_behind_master: Some(0),
                running: true,
            },
            None,
        );
        let error = Error::Monitor {
            node: "replica1".into(),
            reason: "SHOW SLAVE STATUS failed".into(),
        };
        replication_unreadable(&t, 1, error);
        assert!(t.nodes[1].is_lagging());
        assert!(t.nodes[1].is_up(), "not an outage");
        assert_eq!(t.nodes[1].seen.lock().replicating, None);
        assert!(error_of(&t, 1).unwrap().contains("SHOW SLAVE STATUS"));
        replication_read(
            &t,
            1,
            Replication {
                lag: Some(Duration::ZERO),
                seconds_behind_master: Some(0),
                running: true,
            },
            None,
        );
        assert_eq!(error_of(&t, 1), None, "readable again");
        assert!(!t.nodes[1].is_lagging());
    }

    #[test]
    fn positions_feed_rediscovery_and_the_token_book() {
        let t = Topology::for_tests(1);
        let gtids = |s: &str| ConsistencyToken::from_gtid_list(s).unwrap();
        let read = |pos: &str, binlog: Option<&str>| {
            Some((Some(pos.to_string()), binlog.map(str::to_string)))
        };
        position(&t, 0, true, read("0-1-5", Some("0-1-7")));
        assert!(t.nodes[0].master_position().covers(&gtids("0-1-5")));
        assert!(matches!(
            t.tokens.standing(0, &gtids("0-1-7")),
            Standing::Covered
        ));
        assert!(!matches!(
            t.tokens.standing(0, &gtids("0-1-8")),
            Standing::Covered
        ));
        assert_eq!(
            t.nodes[0].seen.lock().gtid_position.as_deref(),
            Some("0-1-5")
        );

        t.tokens.note_unreachable(&gtids("0-1-7"));
        position(&t, 1, false, read("0-1-6", None));
        assert!(t
            .tokens
            .is_unreachable(&gtids("0-1-7"), Duration::from_secs(60)));
        position(&t, 1, false, read("0-1-7", None));
        assert!(
            !t.tokens
                .is_unreachable(&gtids("0-1-7"), Duration::from_secs(60)),
            "reached"
        );

        position(&t, 1, false, None);
        assert_eq!(
            t.nodes[1].seen.lock().gtid_position,
            None,
            "unreadable: not shown"
        );
        position(&t, 0, true, read("garbage", Some("garbage")));
        assert!(
            t.nodes[0].master_position().covers(&gtids("0-1-5")),
            "positions only grow"
        );
    }

    #[test]
    fn a_hung_node_is_ejected() {
        let t = Topology::for_tests(1);
        t.nodes[1].seen.lock().replicating = Some(true);
        hung(&t, 1, Duration::from_secs(3));
        assert!(!t.nodes[1].is_up());
        assert_eq!(t.nodes[1].seen.lock().replicating, None);
    }
}
