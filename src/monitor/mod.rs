//! The cluster's background monitor: one thread per cluster that, every interval, reads
//! each replica's replication lag (`SHOW SLAVE STATUS`, and the heartbeat table when it
//! is on, see [`crate::Builder::heartbeat`]), measures each node's round trip, reads each
//! node's GTID position for `status()`, probes ejected nodes so they come back as soon
//! as they answer, and looks for a new master when the current one is gone. It holds
//! only a weak reference to the cluster and ends when the cluster is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::error::Error;
use crate::topology::Topology;
use crate::transport::errors::is_refusal_message;
use crate::transport::watchdog::{Armed, Timer};
use crate::transport::{connect_node, is_connection_error, Connected, Guarded};

/// Stops the monitor thread when told to (or when the cluster is dropped).
#[derive(Debug)]
pub(crate) struct MonitorHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl MonitorHandle {
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // The last strong reference may be dropped by the monitor itself, mid-check:
            // it must not wait for its own end.
            if thread::current().id() != self.thread_id {
                let _ = t.join();
            }
        }
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct SlaveStatus {
    #[diesel(sql_type = Nullable<BigInt>, column_name = Seconds_Behind_Master)]
    seconds_behind_master: Option<i64>,
    #[diesel(sql_type = Text, column_name = Slave_IO_Running)]
    io_running: String,
    #[diesel(sql_type = Text, column_name = Slave_SQL_Running)]
    sql_running: String,
    #[diesel(sql_type = Nullable<BigInt>, column_name = SQL_Delay)]
    sql_delay: Option<i64>,
    #[diesel(sql_type = Text, column_name = Master_Log_File)]
    read_file: String,
    #[diesel(sql_type = BigInt, column_name = Read_Master_Log_Pos)]
    read_pos: i64,
    #[diesel(sql_type = Text, column_name = Relay_Master_Log_File)]
    exec_file: String,
    #[diesel(sql_type = BigInt, column_name = Exec_Master_Log_Pos)]
    exec_pos: i64,
}

/// What `SHOW SLAVE STATUS` says about a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replication {
    /// The lag as reads see it: `None` when it is unknown because replication is
    /// stopped, broken or not configured (`Seconds_Behind_Master` NULL, a thread not
    /// running, no `SHOW SLAVE STATUS` row).
    pub(crate) lag: Option<Duration>,
    /// `Seconds_Behind_Master` as read (`None`: NULL or no row).
    pub(crate) seconds_behind_master: Option<u64>,
    /// Whether both replication threads run (false with no row: not a replica).
    pub(crate) running: bool,
}

/// Replication state of a replica, read with `SHOW SLAVE STATUS`.
///
/// A replica configured with `MASTER_DELAY` counts as at least that far behind: every
/// write reaches it that late, even while it happens to be idle and reports 0.
///
/// `master_up` says whether the monitor reached the master in this round. When it did
/// not, every replica's IO thread has lost the master too, and `Seconds_Behind_Master`
/// is NULL everywhere; a replica that applied everything it received is then as fresh
/// as any reachable node (nothing newer can be read anywhere), so it counts as 0 behind
/// and keeps serving reads while the master is down.
pub(crate) fn replication(conn: &mut MysqlConnection, master_up: bool) -> QueryResult<Replication> {
    let rows: Vec<SlaveStatus> = diesel::sql_query("SHOW SLAVE STATUS").load(conn)?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(Replication {
            lag: None,
            seconds_behind_master: None,
            running: false,
        });
    };
    let seconds_behind_master = row.seconds_behind_master.map(|s| s.max(0) as u64);
    let running = row.io_running == "Yes" && row.sql_running == "Yes";
    let lag = if row.sql_running != "Yes" {
        None
    } else if row.io_running != "Yes" {
        let applied_all = row.read_file == row.exec_file && row.read_pos == row.exec_pos;
        (!master_up && applied_all).then_some(Duration::ZERO)
    } else {
        row.seconds_behind_master.map(|behind| {
            let seconds = behind.max(row.sql_delay.unwrap_or(0)).max(0);
            Duration::from_secs(seconds as u64)
        })
    };
    Ok(Replication {
        lag,
        seconds_behind_master,
        running,
    })
}

/// What a replica's state says when its replication status can't be read.
fn monitor_error(label: &str, error: &diesel::result::Error) -> String {
    let message = error.to_string();
    let hint = if message.to_ascii_lowercase().contains("denied") {
        "; the replica's account needs the SLAVE MONITOR privilege (REPLICATION CLIENT \
         before MariaDB 10.5)"
    } else {
        ""
    };
    Error::Monitor {
        node: label.to_string(),
        reason: format!(
            "SHOW SLAVE STATUS failed: {message}{hint}; its lag is unknown, so it gets no \
             lag-bounded reads"
        ),
    }
    .to_string()
}

#[derive(diesel::QueryableByName)]
struct TsRow {
    #[diesel(sql_type = BigInt)]
    ts: i64,
}

#[derive(diesel::QueryableByName)]
struct PosRow {
    #[diesel(sql_type = Nullable<Text>)]
    pos: Option<String>,
    /// `@@gtid_binlog_pos` on the master (what tokens are checked against), else NULL.
    #[diesel(sql_type = Nullable<Text>)]
    binlog: Option<String>,
}

/// The heartbeat value the monitor wrote last.
#[derive(Clone, Copy, Debug)]
struct Written {
    /// The master it was written to: another master has another clock.
    master: usize,
    /// Microseconds since the Unix epoch, on the master's clock.
    ts: i64,
    /// The local instant the master's clock read `ts` (the middle of that round trip).
    at: Instant,
}

/// Lag of a replica whose copy of the heartbeat row holds `replica_ts`, given the value
/// written last (`written_ts`, read from the master's clock `elapsed` ago). Returns the
/// lag and whether the replica is behind the last heartbeat (its lag then grows until
/// the next check). Both timestamps are master clock readings, so no two clocks meet.
fn heartbeat_lag(written_ts: i64, elapsed: Duration, replica_ts: i64) -> (Duration, bool) {
    if replica_ts >= written_ts {
        // It applied the last heartbeat (or a later one written by another process).
        return (Duration::ZERO, false);
    }
    let master_now = written_ts.saturating_add(elapsed.as_micros().min(i64::MAX as u128) as i64);
    let behind = master_now.saturating_sub(replica_ts).max(0) as u64;
    (Duration::from_micros(behind), true)
}

/// The heartbeat writer and reader (see [`crate::Builder::heartbeat`]).
struct Heartbeat {
    /// Quoted table name.
    table: String,
    /// The master the table was last created on (`CREATE TABLE IF NOT EXISTS` runs
    /// again after a change of master).
    created_on: Option<usize>,
    last: Option<Written>,
    /// A connection to the master with its writer credentials, when they differ from
    /// the node's own (a promoted replica configured with a read-only account).
    writer: Option<(usize, MonitorConn)>,
    /// Per node: the last heartbeat read error logged, so each is logged once.
    read_errors: Vec<Option<String>>,
}

/// Marks a `monitor_error` as the node refusing the monitor's login (cleared by the next
/// login that works).
const LOGIN_ERROR: &str = "login refused:";

/// Marks the master's `monitor_error` as coming from the heartbeat (cleared by the next
/// successful heartbeat write, and only then).
const HEARTBEAT_ERROR: &str = "heartbeat:";

/// Per-node connections the monitor keeps between checks.
struct Probe {
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
type MonitorConn = Guarded<Armed>;

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
    fn new(shared: &Topology) -> Probe {
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
    fn check(&mut self, shared: &Topology) {
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

fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, \
         ts BIGINT NOT NULL, server_id INT UNSIGNED NOT NULL)"
    )
}

/// Reads the master's clock and writes it into the heartbeat row. Returns the value and
/// the local instant it corresponds to.
fn write_heartbeat_row(
    conn: &mut MysqlConnection,
    table: &str,
    create: bool,
) -> QueryResult<(i64, Instant)> {
    if create {
        diesel::sql_query(create_table_sql(table)).execute(conn)?;
    }
    let before = Instant::now();
    let now: TsRow =
        diesel::sql_query("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS ts")
            .get_result(conn)?;
    let after = Instant::now();
    // The master read its clock somewhere within the round trip: take the middle.
    let at = before + (after - before) / 2;
    // A literal, not a bind: `now.ts` is an integer the server gave, and a prepared
    // statement would cost a round trip more.
    diesel::sql_query(format!(
        "INSERT INTO {table} (id, ts, server_id) VALUES (1, {}, @@server_id) \
         ON DUPLICATE KEY UPDATE ts = VALUES(ts), server_id = VALUES(server_id)",
        now.ts
    ))
    .execute(conn)?;
    Ok((now.ts, at))
}

/// Starts the monitor of a cluster.
pub(crate) fn start(shared: Weak<Topology>, interval: Duration) -> MonitorHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let gate = shared.clone();
    let thread = thread::Builder::new()
        .name("diesel-cluster-monitor".into())
        .spawn(move || {
            let mut probe: Option<Probe> = None;
            // First check right away, so lag is known before the first interval ends.
            loop {
                if stop_flag.load(Ordering::Relaxed) {
                    break;
                }
                {
                    let Some(shared) = shared.upgrade() else {
                        break;
                    };
                    let probe = probe.get_or_insert_with(|| Probe::new(&shared));
                    probe.check(&shared);
                    shared.first_round.notify(true);
                }
                let deadline = Instant::now() + interval;
                while !stop_flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        });
    match thread {
        Ok(t) => MonitorHandle {
            stop,
            thread_id: t.thread().id(),
            thread: Some(t),
        },
        Err(e) => {
            log::error!("could not start the replica monitor thread: {e}");
            // No round will come: `Bounded` reads must not wait for one.
            if let Some(shared) = gate.upgrade() {
                shared.first_round.notify(true);
            }
            MonitorHandle {
                stop,
                thread: None,
                thread_id: thread::current().id(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_lag_compares_master_clock_readings_only() {
        let ms = Duration::from_millis;
        // Applied the last heartbeat (or a later one another process wrote): in time,
        // however long ago it was written.
        assert_eq!(heartbeat_lag(5_000_000, ms(900), 5_000_000), (ms(0), false));
        assert_eq!(heartbeat_lag(5_000_000, ms(900), 5_000_100), (ms(0), false));
        // Holds a heartbeat 400 ms older than the last one, written 100 ms ago: it has
        // nothing the master committed in the last 500 ms.
        assert_eq!(
            heartbeat_lag(5_000_000, ms(100), 4_600_000),
            (ms(500), true)
        );
        // Absolute values don't matter (any clock offset between the hosts cancels).
        assert_eq!(
            heartbeat_lag(1_700_000_000_000_000, ms(20), 1_699_999_999_950_000),
            (ms(70), true)
        );
    }
}
