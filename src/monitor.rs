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
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::cluster::Shared;
use crate::connection::nodes::connect_node;

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
}

/// Replication lag of a replica: `Ok(None)` when replication is stopped or broken
/// (`Seconds_Behind_Master` NULL, or no replication configured at all).
pub(crate) fn replica_lag(conn: &mut MysqlConnection) -> Result<Option<Duration>, String> {
    let rows: Vec<SlaveStatus> = diesel::sql_query("SHOW SLAVE STATUS")
        .load(conn)
        .map_err(|e| e.to_string())?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    if row.io_running != "Yes" || row.sql_running != "Yes" {
        return Ok(None);
    }
    Ok(row
        .seconds_behind_master
        .map(|s| Duration::from_secs(s.max(0) as u64)))
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

    fn check(&mut self, shared: &Shared) {
        let master = shared.master();
        for i in 0..shared.nodes.len() {
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
                }
                Err(e) => {
                    self.conns[i] = None;
                    if node.is_up() && node.eject(shared.config.ejection_cooldown) {
                        log::warn!("monitor: ejecting {}: {e}", node.label);
                    }
                    continue;
                }
            }
            if i == master {
                continue;
            }
            let lag = self.conn(shared, i).and_then(replica_lag);
            match lag {
                Ok(lag) => {
                    *node.monitor_error.lock() = None;
                    let was = node.is_lagging();
                    node.set_lag(lag, shared.config.max_replica_lag);
                    if node.is_lagging() != was {
                        log::info!(
                            "{} is {} (lag {:?})",
                            node.label,
                            if was { "caught up" } else { "lagging" },
                            lag
                        );
                    }
                }
                Err(e) => {
                    // Most likely a missing SLAVE MONITOR privilege: the lag is unknown,
                    // so the replica can't serve bounded reads; say why in its state.
                    let mut err = node.monitor_error.lock();
                    if err.is_none() {
                        log::error!(
                            "monitor: cannot read replication status of {}: {e}",
                            node.label
                        );
                    }
                    *err = Some(e);
                    node.set_lag(None, shared.config.max_replica_lag);
                }
            }
        }
        if !shared.nodes[master].is_up() {
            crate::failover::rediscover_shared(shared);
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
