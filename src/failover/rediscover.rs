//! Finding the master again after an outside tool promoted a replica.

use std::time::{Duration, Instant};

use diesel::mysql::MysqlConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::consistency::ConsistencyToken;
use crate::topology::Topology;
use crate::transport::connect_node;

use super::switch_master;

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

/// Reads a node's state and judges it (see [`judge`]).
fn read_and_judge(conn: &mut MysqlConnection, floor: &ConsistencyToken) -> Verdict {
    let state: CandidateState = match diesel::sql_query(
        "SELECT @@read_only AS read_only, @@gtid_current_pos AS current_pos, \
         @@gtid_binlog_pos AS binlog_pos",
    )
    .get_result(conn)
    {
        Ok(s) => s,
        Err(e) => return Verdict::Refuse(format!("its state could not be read: {e}")),
    };
    let threads = || {
        diesel::sql_query("SHOW ALL SLAVES STATUS")
            .load(conn)
            .map_err(|e| e.to_string())
    };
    judge(&state, threads, floor)
}

/// Judges a node that answered: only a writable node that replicates from nobody and
/// has everything the lost master was last seen with may be taken for a master that an
/// outside tool promoted. A writable node that still replicates is a misconfigured
/// replica (`read_only` forgotten or reset): writing to it while it applies the old
/// master's stream splits the cluster's history. One that lacks transactions the master
/// committed would silently lose them. Whatever can't be read counts against it.
/// `threads` reads its replication connections (only asked of a writable node).
fn judge(
    state: &CandidateState,
    threads: impl FnOnce() -> Result<Vec<ReplicationThreads>, String>,
    floor: &ConsistencyToken,
) -> Verdict {
    if state.read_only != Some(0) {
        return Verdict::ReadOnly;
    }
    let threads = match threads() {
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
    if shared.config.kind == crate::galera::ClusterKind::Galera {
        // No writable-node hunt: every synced node may write; the monitor knows which.
        return super::galera::elect_writer(shared);
    }
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
        if adopt(shared, current, i, read_and_judge(&mut conn, &floor)) {
            return Some(i);
        }
    }
    None
}

/// Acts on the verdict about node `i`: a refusal is logged once per reason, an adopted
/// node becomes the master. Whether it did.
fn adopt(shared: &Topology, current: usize, i: usize, verdict: Verdict) -> bool {
    let node = &shared.nodes[i];
    match verdict {
        Verdict::ReadOnly => {
            node.refused.lock().take();
            false
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
            false
        }
        Verdict::Adopt => {
            node.refused.lock().take();
            log::warn!(
                "master {} is unreachable; {} is writable and becomes the master",
                shared.nodes[current].label,
                node.label
            );
            switch_master(shared, current, i);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gtids(list: &str) -> ConsistencyToken {
        ConsistencyToken::from_gtid_list(list).expect("a GTID list")
    }

    fn state(read_only: Option<i64>, current: &str, binlog: &str) -> CandidateState {
        CandidateState {
            read_only,
            current_pos: Some(current.to_string()),
            binlog_pos: Some(binlog.to_string()),
        }
    }

    fn threads(io: &str, sql: &str) -> ReplicationThreads {
        ReplicationThreads {
            master_host: "127.0.0.1".into(),
            io_running: io.into(),
            sql_running: sql.into(),
        }
    }

    /// What `SHOW ALL SLAVES STATUS` gives: an error, or (IO thread, SQL thread) rows.
    type Threads = Result<&'static [(&'static str, &'static str)], &'static str>;

    /// (what, read_only, current, binlog, replication threads, floor, verdict: None for
    /// Adopt, else Some(part of the refusal) or Some("") for ReadOnly).
    type Case = (
        &'static str,
        Option<i64>,
        &'static str,
        &'static str,
        Threads,
        &'static str,
        Option<&'static str>,
    );

    const STOPPED: Threads = Ok(&[("No", "No")]);

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        ("read-only: a replica", Some(1), "0-1-9", "", STOPPED, "0-1-5", Some("")),
        ("read_only unreadable counts as read-only", None, "", "", STOPPED, "", Some("")),
        ("promoted: writable, stopped, has it all", Some(0), "0-1-9", "", STOPPED, "0-1-5", None),
        ("never replicated", Some(0), "", "0-1-5", Ok(&[]), "0-1-5", None),
        ("its own writes count", Some(0), "0-1-4", "0-1-4,0-2-20", STOPPED, "0-1-4", None),
        ("IO thread running", Some(0), "0-1-9", "", Ok(&[("Yes", "No")]), "", Some("still replicates")),
        ("IO thread connecting", Some(0), "0-1-9", "", Ok(&[("Connecting", "No")]), "", Some("still replicates")),
        ("SQL thread running", Some(0), "0-1-9", "", Ok(&[("No", "Yes")]), "", Some("still replicates")),
        ("a named connection replicates", Some(0), "0-1-9", "", Ok(&[("No", "No"), ("Yes", "Yes")]), "", Some("still replicates")),
        ("no SLAVE MONITOR privilege", Some(0), "0-1-9", "", Err("denied"), "", Some("SLAVE MONITOR")),
        ("behind the lost master", Some(0), "0-1-4", "", STOPPED, "0-1-5", Some("lacks transactions")),
        ("another domain missing", Some(0), "0-1-9", "", STOPPED, "0-1-5,1-1-2", Some("lacks transactions")),
        ("unreadable positions", Some(0), "garbage", "", STOPPED, "", Some("unreadable GTID")),
    ];

    #[test]
    fn judging_a_writable_node() {
        for &(what, read_only, current, binlog, rows, floor, want) in CASES {
            let asked = std::cell::Cell::new(false);
            let rows = || {
                asked.set(true);
                rows.map(|rows| rows.iter().map(|&(io, sql)| threads(io, sql)).collect())
                    .map_err(str::to_string)
            };
            let verdict = judge(&state(read_only, current, binlog), rows, &gtids(floor));
            match (want, &verdict) {
                (None, Verdict::Adopt) | (Some(""), Verdict::ReadOnly) => {}
                (Some(part), Verdict::Refuse(reason)) if !part.is_empty() => {
                    assert!(reason.contains(part), "{what}: {reason}")
                }
                _ => panic!("{what}: {verdict:?}, wanted {want:?}"),
            }
            if read_only != Some(0) {
                assert!(
                    !asked.get(),
                    "{what}: a read-only node's threads are not read"
                );
            }
        }
    }

    #[test]
    fn an_adopted_node_becomes_the_master() {
        let topology = Topology::for_tests(2);
        topology.nodes[0].saw_master_position(&gtids("0-1-7"));
        topology.nodes[0].set_lag(Some(Duration::ZERO), Duration::from_secs(1));
        assert!(!adopt(&topology, 0, 1, Verdict::ReadOnly));
        let refusal = || Verdict::Refuse("it lacks transactions".into());
        assert!(!adopt(&topology, 0, 2, refusal()));
        assert!(!adopt(&topology, 0, 2, refusal()));
        assert_eq!(
            topology.nodes[2].refused.lock().as_deref(),
            Some("it lacks transactions")
        );
        assert_eq!(topology.master(), 0, "a refusal changes nothing");

        assert!(adopt(&topology, 0, 2, Verdict::Adopt));
        assert_eq!(topology.master(), 2);
        assert_eq!(topology.nodes[2].refused.lock().as_deref(), None);
        assert!(
            topology.nodes[2].master_position().covers(&gtids("0-1-7")),
            "the new master is held to what the old one was seen with"
        );
        assert_eq!(
            topology.nodes[0].lag_now(),
            None,
            "the old master's lag is unknown"
        );
    }

    #[test]
    fn rediscovery_is_rate_limited_and_single_flight() {
        let topology = Topology::for_tests(1);
        *topology.failover_lock.lock() = Some(Instant::now());
        assert_eq!(
            rediscover(&topology),
            None,
            "within 500 ms of the last attempt"
        );
        let held = topology.failover_lock.lock();
        assert_eq!(rediscover(&topology), None, "while another one runs");
        drop(held);
    }
}
