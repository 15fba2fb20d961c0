//! The cluster's background monitor: one thread per cluster that, every interval, reads
//! each replica's replication lag (`SHOW SLAVE STATUS`), measures each node's round trip,
//! probes ejected nodes so they come back as soon as they answer, and looks for a new
//! master when the current one is gone. It holds only a weak reference to the cluster
//! and ends when the cluster is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use diesel::connection::Connection;
use diesel::mysql::MysqlConnection;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::cluster::Shared;
use crate::connection::nodes::{connect_node, is_connection_error};
use crate::error::Error;

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

/// Replication lag of a replica as reads see it: `Ok(None)` when it is unknown because
/// replication is stopped, broken or not configured (`Seconds_Behind_Master` NULL, a
/// thread not running, no `SHOW SLAVE STATUS` row).
///
/// A replica configured with `MASTER_DELAY` counts as at least that far behind: every
/// write reaches it that late, even while it happens to be idle and reports 0.
///
/// `master_up` says whether the monitor reached the master in this round. When it did
/// not, every replica's IO thread has lost the master too, and `Seconds_Behind_Master`
/// is NULL everywhere; a replica that applied everything it received is then as fresh
/// as any reachable node (nothing newer can be read anywhere), so it counts as 0 behind
/// and keeps serving reads while the master is down.
pub(crate) fn replica_lag(
    conn: &mut MysqlConnection,
    master_up: bool,
) -> QueryResult<Option<Duration>> {
    let rows: Vec<SlaveStatus> = diesel::sql_query("SHOW SLAVE STATUS").load(conn)?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    if row.sql_running != "Yes" {
        return Ok(None);
    }
    if row.io_running != "Yes" {
        let applied_all = row.read_file == row.exec_file && row.read_pos == row.exec_pos;
        return Ok((!master_up && applied_all).then_some(Duration::ZERO));
    }
    Ok(row.seconds_behind_master.map(|behind| {
        let seconds = behind.max(row.sql_delay.unwrap_or(0)).max(0);
        Duration::from_secs(seconds as u64)
    }))
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

/// Per-node connections the monitor keeps between checks.
struct Probe {
    conns: Vec<Option<MysqlConnection>>,
}

impl Probe {
    fn conn(&mut self, shared: &Shared, i: usize) -> Result<&mut MysqlConnection, String> {
        if self.conns[i].is_none() {
            let mut c = connect_node(&shared.nodes[i].address, shared.config.connect_timeout)?;
            // The monitor's statements are not the user's: keep them out of any
            // instrumentation installed as Diesel's default.
            c.set_instrumentation(|_: diesel::connection::InstrumentationEvent<'_>| {});
            self.conns[i] = Some(c);
        }
        self.conns[i]
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// One round: every node's health, every replica's lag, and a new master if the
    /// current one is gone.
    fn check(&mut self, shared: &Shared) {
        let master = shared.master();
        // The master first: the replicas' state is read in the light of its health.
        let master_up = self.ping(shared, master);
        for i in (0..shared.nodes.len()).filter(|&i| i != master) {
            if self.ping(shared, i) {
                self.check_replication(shared, i, master_up);
            }
        }
        if !shared.nodes[master].is_up() {
            crate::failover::rediscover_shared(shared);
        }
    }

    /// Health: a node that answers `SELECT 1` is readmitted at once (no need to wait for
    /// the cooldown); one that does not is ejected. Returns whether it answered.
    fn ping(&mut self, shared: &Shared, i: usize) -> bool {
        let node = &shared.nodes[i];
        let started = Instant::now();
        let ping = self.conn(shared, i).and_then(|c| {
            diesel::sql_query("SELECT 1")
                .execute(c)
                .map_err(|e| e.to_string())
        });
        match ping {
            Ok(_) => {
                node.set_latency(started.elapsed());
                if !node.is_up() {
                    log::info!("{} answers again; readmitting it", node.label);
                    node.readmit();
                }
                true
            }
            Err(e) => {
                self.conns[i] = None;
                if node.is_up() && node.eject(shared.config.ejection_cooldown) {
                    log::warn!("monitor: ejecting {}: {e}", node.label);
                }
                false
            }
        }
    }

    /// Lag: reads `SHOW SLAVE STATUS` and marks the replica lagging or not. A failure
    /// other than a lost connection (most likely a missing privilege) is kept in the
    /// node's state, where `Cluster::status` shows it.
    fn check_replication(&mut self, shared: &Shared, i: usize, master_up: bool) {
        let node = &shared.nodes[i];
        let max_lag = shared.config.max_replica_lag;
        let Ok(conn) = self.conn(shared, i) else {
            return;
        };
        match replica_lag(conn, master_up) {
            Ok(lag) => {
                if node.monitor_error.lock().take().is_some() {
                    log::info!(
                        "monitor: can read the replication status of {} again",
                        node.label
                    );
                }
                let was = node.is_lagging();
                node.set_lag(lag, max_lag);
                if node.is_lagging() != was {
                    log::info!(
                        "{} is {} (lag {lag:?}, max {max_lag:?})",
                        node.label,
                        if was { "caught up" } else { "lagging" },
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
                node.set_lag(None, max_lag);
            }
        }
    }
}

/// Starts the monitor of a cluster.
pub(crate) fn start(shared: Weak<Shared>, interval: Duration) -> MonitorHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
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
                    let probe = probe.get_or_insert_with(|| Probe {
                        conns: (0..shared.nodes.len()).map(|_| None).collect(),
                    });
                    probe.check(&shared);
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
            MonitorHandle {
                stop,
                thread: None,
                thread_id: thread::current().id(),
            }
        }
    }
}
