//! One round of checks: the connections the monitor keeps to each node, the deadline
//! each node's checks run under, and what each check reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::RunQueryDsl;

use crate::error::Error;
use crate::topology::Topology;
use crate::transport::errors::is_refusal_message;
use crate::transport::watchdog::{Armed, Timer};
use crate::transport::{connect_node, is_connection_error, Connected, Guarded};

use super::heartbeat::{
    create_table_sql, heartbeat_lag, write_heartbeat_row, Heartbeat, TsRow, Written,
};
use super::replication::{monitor_error, replication};

#[derive(diesel::QueryableByName)]
struct PosRow {
    #[diesel(sql_type = Nullable<Text>)]
    pos: Option<String>,
    /// `@@gtid_binlog_pos` on the master (what tokens are checked against), else NULL.
    #[diesel(sql_type = Nullable<Text>)]
    binlog: Option<String>,
}

/// Marks a `monitor_error` as the node refusing the monitor's login (cleared by the next
/// login that works).
const LOGIN_ERROR: &str = "login refused:";

/// Marks the master's `monitor_error` as coming from the heartbeat (cleared by the next
/// successful heartbeat write, and only then).
const HEARTBEAT_ERROR: &str = "heartbeat:";

/// Per-node connections the monitor keeps between checks.
pub(super) struct Probe {
    conns: Vec<Option<MonitorConn>>,
    heartbeat: Option<Heartbeat>,
    /// Shuts down the socket of a check that overruns its deadline.
    timer: Timer,
    /// The node being checked, while its checks run under a deadline.
    check: Option<Check>,
}

/// The deadline of one node's checks in a round (see [`Probe::guarded`]).
struct Check {
    node: usize,
    until: Instant,
    /// One flag per connection armed for this check: whether its deadline fired.
    fired: Vec<Arc<AtomicBool>>,
}

/// A monitor connection, with a deadline on its socket while a check uses it.
pub(super) type MonitorConn = Guarded<Armed>;

impl MonitorConn {
    /// Prepares a new monitor connection. Its statements must never wait on a lock for
    /// as long as a hung server would take to miss the check's deadline: a heartbeat
    /// write blocked by `FLUSH TABLES WITH READ LOCK` (a backup) or by another writer of
    /// the row fails on its lock timeout (logged as a heartbeat error) instead of making
    /// a healthy master look hung.
    fn open(c: Connected, shared: &Topology) -> MonitorConn {
        let mut conn = Guarded::new(c, |_| None);
        let lock_wait = (shared.config.network_timeout.as_secs() / 3).max(1);
        if let Err(e) = conn.batch_execute(&format!(
            "SET SESSION lock_wait_timeout = {lock_wait}, SESSION innodb_lock_wait_timeout = {lock_wait}"
        )) {
            log::debug!("monitor: could not bound its lock waits: {e}");
        }
        conn
    }

    /// Puts the check's deadline on this connection's socket (once per check).
    fn arm(&mut self, timer: &Timer, check: &mut Option<Check>, i: usize) {
        let (Some(check), Some(fd), None) = (check.as_mut(), self.socket, &self.guard) else {
            return;
        };
        if check.node == i {
            let armed = timer.arm(fd, check.until.saturating_duration_since(Instant::now()));
            check.fired.push(armed.fired());
            self.guard = Some(armed);
        }
    }
}

impl Probe {
    pub(super) fn new(shared: &Topology) -> Probe {
        Probe {
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
            let node = &shared.nodes[i];
            *node.seen.lock() = Default::default();
            // Ejected before its connections are cut: they must not reconnect to it.
            node.eject(shared.config.ejection_cooldown);
            let cut = node.sockets.sever_all();
            log::warn!(
                "monitor: {} did not answer within {timeout:?} (network_timeout): ejected it \
                 and cut the {cut} open connection(s) to it",
                node.label
            );
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
        let master_up = self.guarded(shared, master, |p| {
            let up = p.ping(shared, master);
            if up {
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
                    p.check_replication(shared, i, master_up, written);
                    p.read_position(shared, i, false);
                }
            });
            shared.first_round.notify(false);
        }
        if master_up && self.heartbeat.is_some() {
            self.guarded(shared, master, |p| p.write_heartbeat(shared, master));
        }
        if !shared.nodes[master].is_up() {
            crate::failover::rediscover(shared);
        }
    }

    /// Health: a node that answers `SELECT 1` is readmitted at once (no need to wait for
    /// the cooldown); one that does not is ejected. Returns whether it answered.
    ///
    /// A node that refuses the monitor's login (wrong password, missing grant: see
    /// [`is_refusal_message`]) is not down and is not ejected; see [`Probe::refused`].
    ///
    /// The round trip is smoothed (each sample moves it a quarter of the way) so that one
    /// slow answer on a busy machine doesn't swing latency-based routing.
    ///
    /// A kept connection that fails is replaced once before the node is ejected: the
    /// monitor's own session may have been killed (or closed by the server) while the
    /// node is fine, and one dead session must not take the node away from every
    /// connection. Not after the check's deadline fired: that node is hung.
    fn ping(&mut self, shared: &Topology, i: usize) -> bool {
        let node = &shared.nodes[i];
        let kept = self.conns[i].is_some();
        let mut started = Instant::now();
        let mut ping = self.select_one(shared, i);
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
                started = Instant::now();
                ping = self.select_one(shared, i);
            }
        }
        match ping {
            Ok(_) => {
                let sample = started.elapsed();
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
                true
            }
            Err(e) => {
                self.conns[i] = None;
                // What was seen of a node that no longer answers is no longer true.
                *node.seen.lock() = Default::default();
                if is_refusal_message(&e) {
                    self.refused(shared, i, &e);
                    return false;
                }
                node.set_lag(None, shared.config.max_replica_lag);
                if node.is_up() && node.eject(shared.config.ejection_cooldown) {
                    log::warn!("monitor: ejecting {}: {e}", node.label);
                }
                false
            }
        }
    }

    fn select_one(&mut self, shared: &Topology, i: usize) -> Result<(), String> {
        let c = self.conn(shared, i)?;
        diesel::sql_query("SELECT 1")
            .execute(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Node `i` answered and refused the monitor's login. The monitor logs in with the
    /// node's own credentials, the ones the application's connections use, so this is a
    /// configuration error for the caller to fix, not a failure: the node is not ejected
    /// and no failover follows (the application's statements get the refusal as
    /// [`Error::NodeRefused`]). A replica's lag is unknown, so it gets no lag-bounded
    /// reads, as when its replication status can't be read. `status()` shows why
    /// (`monitor_error`); the log says it once at `error`, not every round, and at `info`
    /// when a login works again.
    fn refused(&mut self, shared: &Topology, i: usize, reason: &str) {
        let node = &shared.nodes[i];
        let lag = if i == shared.master() {
            ""
        } else {
            "; its lag is unknown, so it gets no lag-bounded reads"
        };
        let message = Error::Monitor {
            node: node.label.clone(),
            reason: format!(
                "{LOGIN_ERROR} {reason}; not ejected (it answers: the credentials or grants \
                 are wrong){lag}"
            ),
        }
        .to_string();
        let mut current = node.monitor_error.lock();
        if current.as_deref() != Some(message.as_str()) {
            log::error!("monitor: {message}");
        }
        *current = Some(message);
        drop(current);
        if i != shared.master() {
            node.set_lag(None, shared.config.max_replica_lag);
        }
    }

    /// The node's GTID position: `@@gtid_current_pos` on the master, `@@gtid_slave_pos`
    /// on a replica, for `status()`. The master's `@@gtid_binlog_pos` (which covers every
    /// write it committed) is what consistency tokens are checked against; a replica's
    /// position makes the tokens it covers reachable again (see
    /// [`TokenBook`](crate::topology::tokens::TokenBook)). Servers without them (MySQL) show
    /// none.
    fn read_position(&mut self, shared: &Topology, i: usize, is_master: bool) {
        let sql = if is_master {
            "SELECT @@gtid_current_pos AS pos, @@gtid_binlog_pos AS `binlog`"
        } else {
            "SELECT @@gtid_slave_pos AS pos, NULL AS `binlog`"
        };
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        let pos = match diesel::sql_query(sql).get_result::<PosRow>(conn) {
            Ok(row) => {
                let parsed = |text: &Option<String>| {
                    text.as_deref()
                        .and_then(crate::consistency::ConsistencyToken::from_gtid_list)
                };
                if is_master {
                    // What rediscovery holds a candidate for the next master to.
                    if let Some(p) = parsed(&row.pos) {
                        shared.nodes[i].saw_master_position(&p);
                    }
                    if let Some(p) = parsed(&row.binlog) {
                        shared.tokens.note_master_position(i, &p);
                    }
                } else if let Some(p) = parsed(&row.pos) {
                    shared.tokens.reached(&p);
                }
                row.pos
            }
            Err(e) => {
                if is_connection_error(&e) {
                    self.conns[i] = None;
                }
                None
            }
        };
        shared.nodes[i].seen.lock().gtid_position = pos;
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
        let node = &shared.nodes[i];
        let max_lag = shared.config.max_replica_lag;
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        match replication(conn, master_up) {
            Ok(repl) => {
                if node.monitor_error.lock().take().is_some() {
                    log::info!(
                        "monitor: can read the replication status of {} again",
                        node.label
                    );
                }
                let heartbeat = written.and_then(|w| self.read_heartbeat(shared, i, w));
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
            Err(e) if is_connection_error(&e) => {
                // Died between the ping and now: the next round ejects it.
                self.conns[i] = None;
            }
            Err(e) => {
                let message = monitor_error(&node.label, &e);
                let mut current = node.monitor_error.lock();
                if current.as_deref() != Some(message.as_str()) {
                    log::error!("monitor: {message}");
                }
                *current = Some(message);
                drop(current);
                node.set_lag(None, max_lag);
                let mut seen = node.seen.lock();
                seen.seconds_behind_master = None;
                seen.replicating = None;
                seen.heartbeat_lag = None;
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
        let result = write_heartbeat_row(conn, &table, create);
        let node = &shared.nodes[m];
        match result {
            Ok((ts, at)) => {
                if let Some(hb) = self.heartbeat.as_mut() {
                    hb.created_on = Some(m);
                    hb.last = Some(Written { master: m, ts, at });
                }
                let mut error = node.monitor_error.lock();
                if error
                    .as_deref()
                    .is_some_and(|e| e.contains(HEARTBEAT_ERROR))
                {
                    log::info!("monitor: heartbeat written on {} again", node.label);
                    *error = None;
                }
            }
            Err(e) if is_connection_error(&e) => self.drop_writer_conn(shared, m),
            Err(e) => {
                let hint = if create {
                    format!(
                        "; the master's account needs CREATE, INSERT and UPDATE on it, or \
                         create it beforehand: {}",
                        create_table_sql(&table)
                    )
                } else {
                    String::new()
                };
                let message = Error::Monitor {
                    node: node.label.clone(),
                    reason: format!(
                        "{HEARTBEAT_ERROR} writing {table} failed: {e}{hint}; replica lag \
                         falls back to Seconds_Behind_Master"
                    ),
                }
                .to_string();
                let mut current = node.monitor_error.lock();
                if current.as_deref() != Some(message.as_str()) {
                    log::error!("monitor: {message}");
                }
                *current = Some(message);
            }
        }
    }
}
