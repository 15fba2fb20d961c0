//! Read-your-writes across nodes.
//!
//! After a write commits on the master, the connection only notes *that* it wrote; the
//! write's GTID (`@@last_gtid`, which MariaDB keeps per session until the next commit) is
//! read lazily, the first time a causal read or [`ClusterConnection::consistency_token`]
//! needs it. So writes cost nothing extra, reads with nothing written cost nothing extra,
//! and a causal read after writes costs at most two round trips: reading the GTID once,
//! and `MASTER_GTID_WAIT` on the chosen replica (skipped when that replica already
//! confirmed the position).

use std::time::{Duration, Instant};

use diesel::sql_types::{Integer, Nullable, Text};
use diesel::RunQueryDsl;

use super::{ClusterConnection, Plan};
use crate::consistency::{Consistency, ConsistencyToken};
use crate::error::Error;

#[derive(Debug)]
pub(crate) struct CausalState {
    /// Node whose session committed a write whose GTID was not read yet.
    pending: Option<usize>,
    /// Position of this connection's last write, once read.
    token: Option<ConsistencyToken>,
    /// Reads go to the master until then (`Consistency::Sticky`).
    sticky_until: Option<Instant>,
    /// Per node: a position it is known to have applied.
    confirmed: Vec<Option<ConsistencyToken>>,
}

impl CausalState {
    pub(crate) fn new(nodes: usize) -> Self {
        CausalState {
            pending: None,
            token: None,
            sticky_until: None,
            confirmed: vec![None; nodes],
        }
    }
}

#[derive(diesel::QueryableByName)]
struct GtidRow {
    #[diesel(sql_type = Nullable<Text>)]
    gtid: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct WaitRow {
    #[diesel(sql_type = Nullable<Integer>)]
    result: Option<i32>,
}

fn run_muted<C, R>(hub: &crate::instrument::Hub, conn: &mut C, f: impl FnOnce(&mut C) -> R) -> R {
    hub.muted(|| f(conn))
}

impl ClusterConnection {
    /// A committed write on node `node`.
    pub(crate) fn after_write(&mut self, node: usize) {
        self.causal.pending = Some(node);
        if let Consistency::Sticky(window) = self.effective_consistency() {
            self.causal.sticky_until = Some(Instant::now() + window);
        } else if let Consistency::Sticky(window) = self.cluster.shared.config.consistency {
            self.causal.sticky_until = Some(Instant::now() + window);
        }
    }

    /// The position of this connection's last write (reading it from the server once
    /// after each write).
    pub(crate) fn own_token(&mut self) -> Option<ConsistencyToken> {
        if let Some(node) = self.causal.pending {
            if let Some(t) = self.read_last_gtid(node) {
                match &mut self.causal.token {
                    Some(existing) => existing.merge(&t),
                    None => self.causal.token = Some(t),
                }
                self.causal.pending = None;
            }
        }
        self.causal.token.clone()
    }

    fn read_last_gtid(&mut self, node: usize) -> Option<ConsistencyToken> {
        self.internal_statements += 1;
        let hub = self.hub.clone();
        let conn = self.nodes[node].as_mut()?;
        let row: GtidRow = run_muted(&hub, conn, |c| {
            diesel::sql_query("SELECT @@last_gtid AS gtid").get_result(c)
        })
        .map_err(|e| log::warn!("could not read @@last_gtid: {e}"))
        .ok()?;
        ConsistencyToken::from_gtid_list(row.gtid.as_deref().unwrap_or(""))
    }

    /// Applies the consistency level to a replica read: may move it to the master
    /// (sticky window, causal wait timed out) or wait on the replica for a position.
    pub(crate) fn prepare_read(&mut self, mut plan: Plan, _tried: &[usize]) -> Result<Plan, Error> {
        let master = self.cluster.shared.master();
        if !plan.replica_read || plan.node == master {
            return Ok(plan);
        }
        let consistency = self.effective_consistency();
        if let Some(until) = self.causal.sticky_until {
            if Instant::now() < until {
                self.count_fallback(plan.node);
                plan.node = master;
                return Ok(plan);
            }
            self.causal.sticky_until = None;
        }
        let scope_token = crate::role::with_top(|f| f.and_then(|f| f.token.clone()));
        let own = if consistency == Consistency::Causal {
            self.own_token()
        } else {
            None
        };
        let required = match (scope_token, own) {
            (None, None) => return Ok(plan),
            (Some(t), None) => (*t).clone(),
            (None, Some(o)) => o,
            (Some(t), Some(o)) => {
                let mut m = (*t).clone();
                m.merge(&o);
                m
            }
        };
        if required.is_empty()
            || self.causal.confirmed[plan.node]
                .as_ref()
                .is_some_and(|c| c.covers(&required))
        {
            return Ok(plan);
        }
        match self.wait_for(plan.node, &required) {
            Ok(true) => {
                self.causal.confirmed[plan.node] = Some(required);
                Ok(plan)
            }
            Ok(false) | Err(_) => {
                let node = &self.cluster.shared.nodes[plan.node];
                node.counters
                    .causal_timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::debug!(
                    "{} did not reach {required} within {:?}; reading from the master",
                    node.label,
                    self.cluster.shared.config.causal_timeout
                );
                self.count_fallback(plan.node);
                plan.node = master;
                Ok(plan)
            }
        }
    }

    fn count_fallback(&self, replica: usize) {
        self.cluster.shared.nodes[replica]
            .counters
            .fallbacks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `MASTER_GTID_WAIT` on a replica: true when it applied `token` in time.
    fn wait_for(&mut self, node: usize, token: &ConsistencyToken) -> diesel::QueryResult<bool> {
        let timeout: Duration = self.cluster.shared.config.causal_timeout;
        self.open(node)?;
        self.internal_statements += 1;
        self.cluster.shared.nodes[node]
            .counters
            .causal_waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hub = self.hub.clone();
        let Some(conn) = self.nodes[node].as_mut() else {
            return Ok(false);
        };
        // The position is built from parsed numbers only, so formatting it into the SQL
        // cannot inject anything; binding would cost a prepared statement per wait.
        let sql = format!(
            "SELECT MASTER_GTID_WAIT('{}', {:.3}) AS result",
            token.gtid_list(),
            timeout.as_secs_f64()
        );
        let row: WaitRow = run_muted(&hub, conn, |c| diesel::sql_query(sql).get_result(c))?;
        Ok(row.result == Some(0))
    }
}
