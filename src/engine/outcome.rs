//! After a planned statement ran on its node: the query log and routing log around it,
//! what a success changes (pins, session state on the other nodes), what a failure
//! means (retry a read elsewhere, eject a node, or report). The connections' statement
//! loops (`connection::run`, `async_connection::run`) call these.

use std::time::Instant;

use diesel::result::QueryResult;

use super::plan::{Decided, Plan};
use super::{Engine, Link};
use crate::classify::{self, Classification, Flags};
use crate::error::Error;
use crate::querylog::{NodeKind, QueryLogEntry};
use crate::routing::pins;
use crate::transport;

/// How far [`Engine::first_attempt`] got with no I/O.
pub(crate) enum Quick {
    /// Decided.
    Ready(Plan),
    /// Not yet: [`Engine::slow_attempt`] finishes it.
    Slow(Slow),
}

/// What a first plan still waits for.
pub(crate) enum Slow {
    /// The monitor's first round is still running: plan after it.
    FirstRound,
    /// The route is the master, which is ejected.
    NeedsMaster(Plan),
    /// A replica read that may have to wait for a GTID position.
    NeedsRead(Plan),
}

impl<L: Link> Engine<L> {
    /// Book-keeping after a statement succeeded on `plan.node`; session statements are
    /// then applied to the other nodes held (an error names the node that refused).
    pub(crate) async fn after_success(
        &mut self,
        plan: &Plan,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<()> {
        self.track_success(plan.node, class, sql);
        if plan.session {
            if let Some(sql) = sql {
                Box::pin(self.propagate_session(plan.node, class, sql, plan.text))
                    .await
                    .map_err(Error::into_diesel)?;
            }
        }
        Ok(())
    }

    /// Pins, temporary tables and writes of a statement that succeeded on `node`, one
    /// statement of a batch at a time.
    #[inline]
    pub(crate) fn track_success(&mut self, node: usize, class: Classification, sql: Option<&str>) {
        self.last_node = Some(node);
        match sql {
            Some(sql) if class.flags.contains(Flags::MULTI) => {
                for (stmt, class) in classify::statements(sql) {
                    self.track_statement(node, class, Some(stmt));
                }
            }
            _ => self.track_statement(node, class, sql),
        }
    }

    pub(crate) fn track_statement(
        &mut self,
        node: usize,
        class: Classification,
        sql: Option<&str>,
    ) {
        let in_transaction = self.tx.pinned.is_some();
        let is_master = node == self.cluster.topology().master();
        let committed_write = self.pins.track(node, class, sql, in_transaction);
        if pins::changes_data(class) {
            if in_transaction {
                self.tx.wrote = true;
            } else if !self.pins.raw.is_open() && is_master {
                // Autocommit: committed now.
                self.after_write(node);
            }
        }
        if committed_write && is_master {
            self.after_write(node);
        }
    }

    /// Runs SQL the library needs for itself on node `i`, muted for the user's
    /// instrumentation.
    pub(crate) async fn internal_batch(&mut self, i: usize, sql: &str) -> QueryResult<()> {
        self.internal_statements += 1;
        let _muted = self.hub.mute();
        let conn = self.nodes[i]
            .as_mut()
            .ok_or(diesel::result::Error::BrokenTransactionManager)?;
        conn.batch(sql).await
    }

    /// When a statement starts, for its query log entry: `None` (no clock read) while the
    /// query log is off.
    #[inline]
    pub(crate) fn log_clock(&self) -> Option<Instant> {
        self.query_log.enabled.then(Instant::now)
    }

    /// The query log's entry for a statement begun at `started` (from
    /// [`log_clock`](Self::log_clock)), if the log is on.
    #[inline]
    pub(crate) fn log_query(
        &mut self,
        plan: &Plan,
        sql: impl FnOnce() -> String,
        started: Option<Instant>,
        failed: bool,
    ) {
        if let Some(started) = started.filter(|_| self.query_log.enabled) {
            self.push_query_log(plan, sql, started, failed);
        }
    }

    /// The query log's entry for a statement (the log is on).
    #[cold]
    fn push_query_log(
        &mut self,
        plan: &Plan,
        sql: impl FnOnce() -> String,
        started: Instant,
        failed: bool,
    ) {
        let on_replica = if self.cluster.topology().has_replicas() {
            plan.node != self.cluster.topology().master()
        } else {
            plan.wanted_replica
        };
        let entry = QueryLogEntry {
            node: self.cluster.topology().nodes[plan.node].name.clone(),
            role: plan.role,
            target: if on_replica {
                NodeKind::Replica
            } else {
                NodeKind::Master
            },
            sql: sql(),
            duration: started.elapsed(),
            failed,
        };
        self.query_log.push(entry);
    }

    /// The routing decision, at `debug` level (free when the level is off).
    pub(crate) fn log_route(&self, plan: &Plan, class: Classification) {
        log::debug!(
            target: "diesel_cluster::routing",
            "{} in {} role -> {}",
            class.kind.name(),
            plan.role,
            self.cluster.topology().nodes[plan.node].label
        );
    }

    /// Decides what to do after a statement failed: `Ok(())` = try again with the
    /// updated plan (a read that failed at the connection level), `Err` = give the
    /// error to the caller.
    pub(crate) async fn after_failure(
        &mut self,
        plan: &mut Plan,
        tried: &mut Vec<usize>,
        error: diesel::result::Error,
    ) -> QueryResult<()> {
        let node = plan.node;
        let connection_level = transport::is_connection_error(&error);
        if !connection_level {
            if plan.replica_read && self.unfit.contains(node) && tried.len() < self.nodes.len() {
                // This connection's session can't live on that replica (opening it failed
                // to replay the session): read elsewhere, as a replica read may.
                tried.push(node);
                plan.node = self.pick_read_node(tried).0;
                return Ok(());
            }
            self.last_node = Some(node);
            return Err(error);
        }
        if let diesel::result::Error::DatabaseError(_, info) = &error {
            if crate::galera::is_not_ready_message(info.message()) {
                // Galera: out of every choice now, not at the monitor's next round.
                crate::monitor::galera::refused_statement(
                    self.cluster.topology(),
                    node,
                    info.message(),
                );
            }
        }
        let alive = self.recover_node(node).await;
        if !plan.retryable || tried.len() >= self.nodes.len() {
            return Err(error);
        }
        tried.push(node);
        let shared = self.cluster.topology().clone();
        let master = shared.master();
        let next = if alive && node == master {
            // The master answered a fresh connection: the old one had died (e.g. the
            // server closed an idle connection). Safe to run the read again.
            Some(master)
        } else if !plan.replica_read {
            // A read the role sent to the master (master scope, or a locking read) must
            // not move to a replica, which could be behind.
            None
        } else {
            let (candidate, fell_back) = self.pick_read_node(tried);
            if fell_back && tried.contains(&master) {
                None
            } else {
                Some(candidate)
            }
        };
        match next {
            Some(next) => {
                shared.nodes[node].count_retry();
                log::info!(
                    "read failed on {} ({error}); retrying on {}",
                    shared.nodes[node].label,
                    shared.nodes[next].label
                );
                plan.node = next;
                Ok(())
            }
            None => Err(error),
        }
    }

    /// A statement's first plan, consistency applied, logged. In the common case (no
    /// first monitor round to wait for, the master up or not needed, no GTID position to
    /// wait for) it is decided with no I/O and no future of its own; otherwise the full
    /// [`plan`](Self::plan) and [`attempt`](Self::attempt) finish it, boxed, off the
    /// statement's future.
    pub(crate) async fn first_attempt(
        &mut self,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<Plan> {
        match self.quick_attempt(class, sql)? {
            Quick::Ready(plan) => Ok(plan),
            Quick::Slow(slow) => Box::pin(self.slow_attempt(slow, class, sql)).await,
        }
    }

    /// [`first_attempt`](Self::first_attempt) as far as it goes with no I/O; the
    /// statement loops that want its common case in their own future's code call it
    /// and [`slow_attempt`](Self::slow_attempt).
    pub(crate) fn quick_attempt(
        &mut self,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<Quick> {
        self.quick(class, sql).map_err(Error::into_diesel)
    }

    fn quick(&mut self, class: Classification, sql: Option<&str>) -> Result<Quick, Error> {
        if self.waits_for_first_round() {
            return Ok(Quick::Slow(Slow::FirstRound));
        }
        let mut plan = match self.plan_now(class, sql)? {
            Decided::Plan(plan) => plan,
            Decided::NeedsMaster(plan) => return Ok(Quick::Slow(Slow::NeedsMaster(plan))),
        };
        if plan.replica_read {
            match self.read_node_now(plan.node, plan.consistency, plan.scope_token) {
                Some(node) => plan.node = node,
                None => return Ok(Quick::Slow(Slow::NeedsRead(plan))),
            }
        }
        self.log_route(&plan, class);
        Ok(Quick::Ready(plan))
    }

    /// The rest of [`first_attempt`](Self::first_attempt) after
    /// [`quick_attempt`](Self::quick_attempt) stopped at `slow`.
    pub(crate) async fn slow_attempt(
        &mut self,
        slow: Slow,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<Plan> {
        let plan = match slow {
            Slow::FirstRound => self.planned(class, sql).await?,
            Slow::NeedsMaster(mut plan) => {
                plan.node = self.master_node().await.map_err(Error::into_diesel)?;
                plan
            }
            Slow::NeedsRead(plan) => plan,
        };
        self.attempt(plan, &[], class).await
    }

    /// A statement's failure, for the connections' statement loops: resyncs the session
    /// after a batch that set session state failed half-way, then [`after_failure`],
    /// then the plan of the next attempt. `Err`: the statement's error, not retried.
    ///
    /// [`after_failure`]: Self::after_failure
    pub(crate) async fn next_attempt(
        &mut self,
        plan: &mut Plan,
        tried: &mut Vec<usize>,
        class: Classification,
        sql: Option<&str>,
        error: diesel::result::Error,
    ) -> QueryResult<()> {
        self.cluster.topology().nodes[plan.node].count_error();
        if plan.session && class.flags.contains(Flags::MULTI) {
            if let Some(sql) = sql.filter(|_| !transport::is_connection_error(&error)) {
                // The statements before the failing one took effect there.
                self.resync_session(plan.node, sql).await;
            }
        }
        self.after_failure(plan, tried, error).await?;
        *plan = self.attempt(*plan, tried, class).await?;
        Ok(())
    }

    /// The plan for a statement's next attempt (consistency applied), logged.
    async fn attempt(
        &mut self,
        plan: Plan,
        tried: &[usize],
        class: Classification,
    ) -> QueryResult<Plan> {
        let plan = self
            .prepare_read(plan, tried)
            .await
            .map_err(Error::into_diesel)?;
        self.log_route(&plan, class);
        Ok(plan)
    }
}
