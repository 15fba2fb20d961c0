//! One round of checks: the connections the monitor keeps to each node, the deadline
//! each node's checks run under, and what each check reads.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel::mysql::MysqlConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::RunQueryDsl;

use crate::galera::ClusterKind;
use crate::topology::Topology;
use crate::transport::watchdog::Timer;
use crate::transport::{connect_node, is_connection_error};

use super::conn::{Check, MonitorConn};
use super::heartbeat::{
    create_table_sql, heartbeat_lag, write_heartbeat_row, Heartbeat, TsRow, Written,
};
use super::learn;
use super::replication::{monitor_error, replication};

#[derive(diesel::QueryableByName)]
struct PosRow {
    #[diesel(sql_type = Nullable<Text>)]
    pos: Option<String>,
    /// `@@gtid_binlog_pos` on the master (what tokens are checked against), else NULL.
    #[diesel(sql_type = Nullable<Text>)]
    binlog: Option<String>,
}

/// Per-node connections the monitor keeps between checks.
pub(super) struct Checks {
    conns: Vec<Option<MonitorConn>>,
    heartbeat: Option<Heartbeat>,
    /// Shuts down the socket of a check that overruns its deadline.
    timer: Timer,
    /// The node being checked, while its checks run under a deadline.
    check: Option<Check>,
}

impl Checks {
    pub(super) fn new(shared: &Topology) -> Checks {
        Checks {
            conns: (0..shared.nodes.len()).map(|_| None).collect(),
            heartbeat: shared.config.heartbeat.as_ref().map(|table| Heartbeat {
                table: table.clone(),
                created_on: None,
                last: None,
                writer: None,
                read_errors: vec![None; shared.nodes.len()],
            }),
            timer: Timer::start(),
            check: None,
        }
    }

    /// Runs one node's checks of a round under a deadline of `network_timeout`: a
    /// statement still waiting then has its socket shut down (and fails with a lost
    /// connection). A node that overran is hung: its process does not answer though its
    /// host does (a partition fails the ping by itself). It is ejected, and every
    /// application connection to it is cut, so statements waiting on it fail over
    /// instead of waiting forever (see [`crate::transport::watchdog`]).
    fn guarded<R>(&mut self, shared: &Topology, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        let timeout = shared.config.network_timeout;
        self.check = Some(Check {
            node: i,
            until: Instant::now() + timeout,
            fired: Vec::new(),
        });
        let result = f(self);
        if let Some(c) = self.conns[i].as_mut() {
            c.guard = None;
        }
        if let Some((_, c)) = self.heartbeat.as_mut().and_then(|h| h.writer.as_mut()) {
            c.guard = None;
        }
        let hung = self
            .check
            .take()
            .is_some_and(|c| c.fired.iter().any(|f| f.load(Ordering::Relaxed)));
        if hung {
            self.conns[i] = None;
            if let Some(hb) = self.heartbeat.as_mut() {
                hb.writer.take_if(|(w, _)| *w == i);
            }
            learn::hung(shared, i, timeout);
        }
        result
    }

    fn conn(&mut self, shared: &Topology, i: usize) -> Result<&mut MysqlConnection, String> {
        if self.conns[i].is_none() {
            let c = connect_node(
                &shared.nodes[i].address,
                shared.config.connect_timeout,
                shared.config.network_timeout,
            )?;
            self.conns[i] = Some(MonitorConn::open(c, shared));
        }
        let conn = self.conns[i]
            .as_mut()
            .ok_or_else(|| "no connection".to_string())?;
        conn.arm(&self.timer, &mut self.check, i);
        Ok(conn)
    }

    /// A connection to master `m` that may write: the probe's own, or one with the
    /// master's credentials when node `m` was configured with others.
    fn writer_conn(&mut self, shared: &Topology, m: usize) -> Result<&mut MysqlConnection, String> {
        let Some(writer_address) = &shared.nodes[m].writer_address else {
            return self.conn(shared, m);
        };
        let hb = self
            .heartbeat
            .as_mut()
            .ok_or_else(|| "heartbeat is off".to_string())?;
        if !matches!(hb.writer, Some((i, _)) if i == m) {
            hb.writer = None;
            let c = connect_node(
                writer_address,
                shared.config.connect_timeout,
                shared.config.network_timeout,
            )?;
            hb.writer = Some((m, MonitorConn::open(c, shared)));
        }
        match &mut hb.writer {
            Some((_, c)) => {
                c.arm(&self.timer, &mut self.check, m);
                Ok(c)
            }
            None => Err("no connection".to_string()),
        }
    }

    fn drop_writer_conn(&mut self, shared: &Topology, m: usize) {
        if shared.nodes[m].writer_address.is_none() {
            self.conns[m] = None;
        } else if let Some(hb) = &mut self.heartbeat {
            hb.writer = None;
        }
    }

    /// One round: every node's health, every replica's lag, the heartbeat, and a new
    /// master if the current one is gone.
    pub(super) fn check(&mut self, shared: &Topology) {
        let master = shared.master();
        // The master first: the replicas' state is read in the light of its health.
        let galera = shared.config.kind == ClusterKind::Galera;
        let master_up = self.guarded(shared, master, |p| {
            let up = p.ping(shared, master);
            if up {
                if galera {
                    p.check_galera(shared, master);
                }
                p.read_position(shared, master, true);
            }
            up
        });
        // The replicas are read before this round's heartbeat is written: a replica that
        // applied the previous one (an interval ago) is in time, and reads 0.
        let written = self
            .heartbeat
            .as_ref()
            .and_then(|h| h.last)
            .filter(|w| master_up && w.master == master);
        for i in (0..shared.nodes.len()).filter(|&i| i != master) {
            self.guarded(shared, i, |p| {
                if p.ping(shared, i) {
                    if galera {
                        p.check_galera(shared, i);
                    } else {
                        p.check_replication(shared, i, master_up, written);
                    }
                    p.read_position(shared, i, false);
                }
            });
            shared.first_round.notify(false);
        }
        if master_up && self.heartbeat.is_some() {
            self.guarded(shared, master, |p| p.write_heartbeat(shared, master));
        }
        // Galera: the writer is the first node in order that serves, each round (so
        // writes come back to an earlier node once it is synced again).
        if galera || !shared.nodes[master].is_up() {
            crate::failover::rediscover(shared);
        }
    }

    /// Galera: whether node `i` is synced in the primary component and ready.
    fn check_galera(&mut self, shared: &Topology, i: usize) {
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        let read = super::galera::read(conn).map_err(|e| {
            if is_connection_error(&e) {
                self.conns[i] = None;
            }
            e.to_string()
        });
        super::galera::learn(shared, i, read);
    }

    /// Health: whether node `i` answers `SELECT 1` (what that means for the node: see
    /// [`learn::answered`] and [`learn::unanswered`]).
    ///
    /// A kept connection that fails is replaced once before the node is ejected: the
    /// monitor's own session may have been killed (or closed by the server) while the
    /// node is fine, and one dead session must not take the node away from every
    /// connection. Not after the check's deadline fired: that node is hung.
    fn ping(&mut self, shared: &Topology, i: usize) -> bool {
        let node = &shared.nodes[i];
        let kept = self.conns[i].is_some();
        let mut ping = self.timed_select_one(shared, i);
        if let Err(e) = &ping {
            let fired = self
                .check
                .as_ref()
                .is_some_and(|c| c.fired.iter().any(|f| f.load(Ordering::Relaxed)));
            if kept && !fired {
                log::debug!(
                    "monitor: its connection to {} failed ({e}); trying a fresh one",
                    node.label
                );
                self.conns[i] = None;
                ping = self.timed_select_one(shared, i);
            }
        }
        match ping {
            Ok(sample) => {
                learn::answered(shared, i, sample);
                true
            }
            Err(e) => {
                self.conns[i] = None;
                learn::unanswered(shared, i, &e);
                false
            }
        }
    }

    /// The round trip of a `SELECT 1` on node `i`. A connection opened first (the node's
    /// first check, or after a failure) is not part of the sample: latency-based routing
    /// compares round trips, not connects.
    fn timed_select_one(&mut self, shared: &Topology, i: usize) -> Result<Duration, String> {
        self.conn(shared, i)?;
        let started = Instant::now();
        self.select_one(shared, i)?;
        Ok(started.elapsed())
    }

    fn select_one(&mut self, shared: &Topology, i: usize) -> Result<(), String> {
        let c = self.conn(shared, i)?;
        diesel::sql_query("SELECT 1")
            .execute(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The node's GTID position: `@@gtid_current_pos` on the master, `@@gtid_slave_pos`
    /// on a replica, for `status()`. The master's `@@gtid_binlog_pos` (which covers every
    /// write it committed) is what consistency tokens are checked against; a replica's
    /// position makes the tokens it covers reachable again (see
    /// [`TokenBook`](crate::topology::tokens::TokenBook)). Servers without them (MySQL) show
    /// none.
    fn read_position(&mut self, shared: &Topology, i: usize, is_master: bool) {
        let sql = if shared.config.kind == ClusterKind::Galera {
            // Every Galera node logs every write: its binlog position is the cluster's.
            "SELECT @@gtid_binlog_pos AS pos, @@gtid_binlog_pos AS `binlog`"
        } else if is_master {
            "SELECT @@gtid_current_pos AS pos, @@gtid_binlog_pos AS `binlog`"
        } else {
            "SELECT @@gtid_slave_pos AS pos, NULL AS `binlog`"
        };
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        let read = match diesel::sql_query(sql).get_result::<PosRow>(conn) {
            Ok(row) => Some((row.pos, row.binlog)),
            Err(e) => {
                if is_connection_error(&e) {
                    self.conns[i] = None;
                }
                None
            }
        };
        learn::position(shared, i, is_master, read);
    }

    /// Lag: reads `SHOW SLAVE STATUS` (and the heartbeat, when on) and marks the replica
    /// lagging or not. A failure other than a lost connection (most likely a missing
    /// privilege) is kept in the node's state, where `Cluster::status` shows it.
    fn check_replication(
        &mut self,
        shared: &Topology,
        i: usize,
        master_up: bool,
        written: Option<Written>,
    ) {
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        match replication(conn, master_up) {
            Ok(repl) => {
                let heartbeat = written.and_then(|w| self.read_heartbeat(shared, i, w));
                learn::replication_read(shared, i, repl, heartbeat);
            }
            Err(e) if is_connection_error(&e) => {
                // Died between the ping and now: the next round ejects it.
                self.conns[i] = None;
            }
            Err(e) => {
                learn::replication_unreadable(shared, i, monitor_error(&shared.nodes[i].label, &e))
            }
        }
    }

    /// The heartbeat lag of replica `i` and whether it is behind the last heartbeat;
    /// `None` when its copy of the row can't be read (the caller falls back to
    /// `Seconds_Behind_Master`).
    fn read_heartbeat(
        &mut self,
        shared: &Topology,
        i: usize,
        written: Written,
    ) -> Option<(Duration, bool)> {
        let table = self.heartbeat.as_ref()?.table.clone();
        let conn = self.conn(shared, i).ok()?;
        let sql = format!("SELECT ts FROM {table} WHERE id = 1");
        let result = diesel::sql_query(sql).load::<TsRow>(conn);
        let hb = self.heartbeat.as_mut()?;
        match result {
            Ok(rows) => {
                if hb.read_errors[i].take().is_some() {
                    log::info!(
                        "monitor: can read the heartbeat on {} again",
                        shared.nodes[i].label
                    );
                }
                // No row yet: the first heartbeat has not replicated there.
                let ts = rows.first()?.ts;
                Some(heartbeat_lag(written.ts, written.at.elapsed(), ts))
            }
            Err(e) => {
                if is_connection_error(&e) {
                    self.conns[i] = None;
                    return None;
                }
                let message = e.to_string();
                if hb.read_errors[i].as_deref() != Some(message.as_str()) {
                    log::warn!(
                        "monitor: can't read the heartbeat table {table} on {} ({message}); \
                         using Seconds_Behind_Master for its lag",
                        shared.nodes[i].label
                    );
                }
                hb.read_errors[i] = Some(message);
                None
            }
        }
    }

    /// Writes this round's heartbeat on master `m` (creating the table first after a
    /// change of master), remembering the value written.
    fn write_heartbeat(&mut self, shared: &Topology, m: usize) {
        let Some(hb) = self.heartbeat.as_ref() else {
            return;
        };
        let table = hb.table.clone();
        let create = hb.created_on != Some(m);
        let conn = match self.writer_conn(shared, m) {
            Ok(c) => c,
            // The master stopped answering since its ping: the next round ejects it.
            Err(_) => return,
        };
        match write_heartbeat_row(conn, &table, create) {
            Ok((ts, at)) => {
                if let Some(hb) = self.heartbeat.as_mut() {
                    hb.created_on = Some(m);
                    hb.last = Some(Written { master: m, ts, at });
                }
                learn::heartbeat_written(shared, m);
            }
            Err(e) if is_connection_error(&e) => self.drop_writer_conn(shared, m),
            Err(e) => {
                let hint = match create {
                    true => format!(
                        "; the master's account needs CREATE, INSERT and UPDATE on it, or \
                         create it beforehand: {}",
                        create_table_sql(&table)
                    ),
                    false => String::new(),
                };
                learn::heartbeat_failed(shared, m, &table, &e.to_string(), &hint);
            }
        }
    }
}
