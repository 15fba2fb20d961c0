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
