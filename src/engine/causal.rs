//! Read-your-writes across nodes.
//!
//! After a write commits on the master, the connection only notes *that* it wrote (and
//! when); the write's GTID (`@@last_gtid`, which MariaDB keeps per session until the
//! session's next GTID-producing commit, unchanged by reads and by writes that changed
//! nothing) is read lazily, the first time a causal read or
//! `consistency_token` needs it. So writes cost nothing extra, reads
//! with nothing written cost nothing extra, and a causal read after writes costs at most
//! two round trips: reading the GTID once, and `MASTER_GTID_WAIT` on the chosen replica
//! (skipped when that replica already confirmed the position to this connection).

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable, Text};

use super::{Engine, Link, Plan};
use crate::consistency::{Consistency, ConsistencyToken};
use crate::error::Error;
use crate::galera::{self, ClusterKind, WaitOutcome};
use crate::topology::tokens::Standing;
use crate::transport;

/// A token that timed out on a replica is not waited for again for this many causal
/// timeouts (unless a replica is seen to have it before): it costs at most one wait in
/// that time, then its reads go to the master.
const UNREACHABLE_RETRY_FACTOR: u32 = 10;

#[derive(Debug)]
pub(crate) struct CausalState {
    /// Node whose session committed a write whose GTID was not read yet.
    pending: Option<usize>,
    /// Position of this connection's writes, once read (merged over all of them).
    token: Option<ConsistencyToken>,
    /// When the last write committed (`Consistency::Sticky` measures its window from it).
    last_write: Option<Instant>,
    /// Per node: a position it is known to have applied.
    confirmed: Vec<Option<ConsistencyToken>>,
}

impl CausalState {
    pub(crate) fn new(nodes: usize) -> Self {
        CausalState {
            pending: None,
            token: None,
            last_write: None,
            confirmed: vec![None; nodes],
        }
    }
}

/// The statement reading a write's position (`SELECT @@last_gtid, @@gtid_binlog_pos`, or
/// Galera's functions: see [`galera::position_sql`]), prepared once per node connection
/// (diesel's statement caches key it by its SQL), then run in one round trip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PositionQuery(&'static str);

impl PositionQuery {
    pub(crate) fn of(kind: ClusterKind) -> Self {
        PositionQuery(galera::position_sql(kind))
    }
}

impl diesel::query_builder::QueryId for PositionQuery {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for PositionQuery {
    type SqlType = (Nullable<Text>, Nullable<Text>);
}

impl diesel::query_builder::QueryFragment<diesel::mysql::Mysql> for PositionQuery {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::mysql::Mysql>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(self.0);
        Ok(())
    }
}

impl<C> diesel::RunQueryDsl<C> for PositionQuery {}

/// `SELECT CAST(MASTER_GTID_WAIT(?, ?) AS SIGNED)` (or Galera's `WSREP_SYNC_WAIT_UPTO_GTID`: see
/// [`galera::wait_head`]), prepared once per node connection (keyed by its SQL).
#[derive(Debug, Clone)]
pub(crate) struct WaitQuery {
    /// [`galera::wait_head`].
    head: &'static str,
    position: String,
    /// Seconds the server waits at most.
    pub(crate) timeout: f64,
}

impl diesel::query_builder::QueryId for WaitQuery {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for WaitQuery {
    type SqlType = Nullable<BigInt>;
}

impl diesel::query_builder::QueryFragment<diesel::mysql::Mysql> for WaitQuery {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::mysql::Mysql>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(self.head);
        out.push_bind_param::<Text, _>(&self.position)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Double, _>(&self.timeout)?;
        out.push_sql(") AS SIGNED)");
        Ok(())
    }
}

impl<C> diesel::RunQueryDsl<C> for WaitQuery {}

/// What a replica read must wait for.
enum Required {
    Nothing,
    Position(ConsistencyToken),
    /// This connection wrote but the write's position could not be read: only the
    /// master is sure to have it.
    Unknown,
}

impl<L: Link> Engine<L> {
    /// A committed write on node `node`.
    pub(crate) fn after_write(&mut self, node: usize) {
        self.causal.pending = Some(node);
        self.causal.last_write = Some(Instant::now());
    }

    /// The position of this connection's writes (reading it from the server once after
    /// each write). `Err` when the connection wrote but the position can't be read.
    pub(crate) async fn own_token(&mut self) -> Result<Option<ConsistencyToken>, Error> {
        if let Some(node) = self.causal.pending {
            let t = self.read_write_position(node).await?;
            let shared = &self.cluster.topology();
            if node == shared.master() {
                shared.nodes[node].saw_master_position(&t);
            }
            match &mut self.causal.token {
                Some(existing) => existing.merge(&t),
                None => self.causal.token = Some(t),
            }
            self.causal.pending = None;
        }
        Ok(self.causal.token.clone().filter(|t| !t.is_empty()))
    }

    /// Reads the position of the writes committed on `node`'s session, in one statement.
    async fn read_write_position(&mut self, node: usize) -> Result<ConsistencyToken, Error> {
        // `@@last_gtid` is empty when every write of the session changed nothing, or when
        // the session that wrote was lost and replaced by a reconnect. The binlog position
        // of the node covers the write in both cases (waiting for it may wait for other
        // sessions' writes too, which is still correct), so it comes in the same row.
        let node = if self.nodes[node].is_some() {
            node
        } else {
            let master = self.cluster.topology().master();
            if let Err(e) = self.open(master).await {
                return Err(self.position_error(master, e));
            }
            master
        };
        let mut reconnected = false;
        let row = loop {
            let result = self.internal_positions(node).await;
            match result {
                Ok(row) => break row,
                // The session died after the write (e.g. killed, or the server closed it):
                // a fresh one gives the binlog position, which covers the write.
                Err(e)
                    if !reconnected
                        && transport::is_connection_error(&e)
                        && self.recover_node(node).await =>
                {
                    reconnected = true;
                }
                Err(e) => {
                    self.note_failure(node, &e).await;
                    return Err(self.position_error(node, e));
                }
            }
        };
        let parse = |name: &str, text: Option<String>| {
            let text = text.unwrap_or_default();
            ConsistencyToken::from_gtid_list(&text).ok_or_else(|| Error::InvalidToken {
                reason: format!("the server reported @@{name} = `{text}`"),
            })
        };
        let (last_gtid, binlog_pos) = row;
        let own = parse("last_gtid", last_gtid)?;
        let master = self.cluster.topology().master();
        if node == master {
            // Free news of the master's position: tokens up to it need no check.
            if let Some(p) = binlog_pos
                .as_deref()
                .and_then(ConsistencyToken::from_gtid_list)
            {
                self.cluster
                    .topology()
                    .tokens
                    .note_master_position(master, &p);
            }
        }
        if own.is_empty() {
            parse("gtid_binlog_pos", binlog_pos)
        } else {
            Ok(own)
        }
    }

    fn position_error(&self, node: usize, e: diesel::result::Error) -> Error {
        Error::Query {
            node: self.cluster.topology().nodes[node].label.clone(),
            source: e.into(),
        }
    }

    /// What a replica read under `consistency` must wait for: the current scope's token
    /// and, for a causal read, this connection's own writes.
    async fn required_position(&mut self, consistency: Consistency) -> Required {
        let scope_token = self.scope_token();
        let own = if consistency == Consistency::Causal {
            match self.own_token().await {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("could not read the position of this connection's write: {e}");
                    return Required::Unknown;
                }
            }
        } else {
            None
        };
        let token = match (scope_token, own) {
            (None, None) => return Required::Nothing,
            (Some(t), None) => (*t).clone(),
            (None, Some(o)) => o,
            (Some(t), Some(o)) => {
                let mut m = (*t).clone();
                m.merge(&o);
                m
            }
        };
        if token.is_empty() {
            Required::Nothing
        } else {
            Required::Position(token)
        }
    }

    /// Applies the consistency level to a replica read: may move it to the master
    /// (sticky window, causal wait timed out, token ahead of the master) or to another
    /// replica (one the monitor found stopped or too far behind to wait on), or wait on
    /// the replica for a position. `tried` are nodes this read already failed on.
    pub(crate) async fn prepare_read(
        &mut self,
        mut plan: Plan,
        tried: &[usize],
    ) -> Result<Plan, Error> {
        if plan.replica_read {
            plan.node = self
                .read_node(plan.node, tried, plan.consistency, plan.scope_token)
                .await;
        }
        Ok(plan)
    }

    /// The node a read (or a read-only transaction) chosen for `node` should run on under
    /// the current consistency: `node` itself, after waiting there for the required
    /// position if needed, another replica, or the master.
    pub(crate) async fn consistent_read_node(&mut self, node: usize) -> usize {
        let ambient = self.ambient_now();
        self.read_node(node, &[], ambient.consistency, ambient.scope_token)
            .await
    }

    /// `consistency` and `scope_token` as the scope has them (read once, by the caller).
    async fn read_node(
        &mut self,
        node: usize,
        tried: &[usize],
        consistency: Consistency,
        scope_token: bool,
    ) -> usize {
        match self.read_node_now(node, consistency, scope_token) {
            Some(node) => node,
            // Off the common path, in a future of its own: a GTID read and a wait may
            // follow.
            None => Box::pin(self.read_node_at_position(node, tried, consistency)).await,
        }
    }

    /// [`read_node`](Self::read_node) when it needs no I/O; `None` when the read may
    /// require a position (a GTID read and a wait may follow).
    pub(crate) fn read_node_now(
        &self,
        node: usize,
        consistency: Consistency,
        scope_token: bool,
    ) -> Option<usize> {
        let master = self.cluster.topology().master();
        if node == master {
            return Some(node);
        }
        if let Consistency::Sticky(window) = consistency {
            // A planned route, not a failure: not counted as a fallback.
            if self.causal.last_write.is_some_and(|w| w.elapsed() < window) {
                return Some(master);
            }
        }
        (!self.may_require_position(consistency, scope_token)).then_some(node)
    }

    /// Whether [`required_position`](Self::required_position) may require one: a scope
    /// token, or, under causal consistency, this connection's write. When not, a read
    /// needs no wait, and the common statement doesn't enter the waiting code at all.
    fn may_require_position(&self, consistency: Consistency, scope_token: bool) -> bool {
        scope_token
            || (consistency == Consistency::Causal
                && (self.causal.pending.is_some()
                    || self.causal.token.as_ref().is_some_and(|t| !t.is_empty())))
    }

    /// [`read_node`](Self::read_node) for a read that may require a position.
    async fn read_node_at_position(
        &mut self,
        node: usize,
        tried: &[usize],
        consistency: Consistency,
    ) -> usize {
        let master = self.cluster.topology().master();
        let required = match self.required_position(consistency).await {
            Required::Nothing => return node,
            Required::Unknown => {
                self.count_fallback(node);
                return master;
            }
            Required::Position(t) => t,
        };
        if self.causal.confirmed[node]
            .as_ref()
            .is_some_and(|c| c.covers(&required))
        {
            return node;
        }
        let shared = self.cluster.topology().clone();
        let timeout = shared.config.causal_timeout;
        // Only the master is sure to have a token ahead of its own position (forged, or
        // from another cluster), or one that no replica reached a moment ago.
        if !self.replicas_can_reach(&required).await
            || shared
                .tokens
                .is_unreachable(&required, timeout * UNREACHABLE_RETRY_FACTOR)
        {
            self.count_fallback(node);
            return master;
        }
        self.wait_on_a_replica(node, tried, required).await
    }

    /// Waits on replica `node` for `required` (bounded by the causal timeout), moving to
    /// another replica when `node` is unfit for a wait or its connection fails, and to the
    /// master when the wait times out or no replica is left. Returns the node to read on.
    async fn wait_on_a_replica(
        &mut self,
        mut node: usize,
        tried: &[usize],
        required: ConsistencyToken,
    ) -> usize {
        let shared = self.cluster.topology().clone();
        let master = shared.master();
        let timeout = shared.config.causal_timeout;
        // Nodes this read may not wait on: failed before, or found unfit for a wait.
        let mut excluded: Vec<usize> = tried.to_vec();
        let mut failed: Vec<usize> = Vec::new();
        loop {
            if node == master
                || self.causal.confirmed[node]
                    .as_ref()
                    .is_some_and(|c| c.covers(&required))
            {
                return node;
            }
            if !self.can_wait_on(node) {
                log::debug!(
                    "{} is stopped or too far behind to wait on for {required}",
                    shared.nodes[node].label
                );
                excluded.push(node);
                let others: Vec<usize> = (0..shared.nodes.len())
                    .filter(|&i| excluded.contains(&i) || !self.can_wait_on(i))
                    .collect();
                // (A fallback to the master is counted by `pick_read_node`.)
                node = self.pick_read_node(&others).0;
                continue;
            }
            let label = &shared.nodes[node].label;
            match self.wait_for(node, &required, timeout).await {
                Ok(true) => {
                    shared.tokens.reached(&required);
                    match &mut self.causal.confirmed[node] {
                        Some(c) => c.merge(&required),
                        slot => *slot = Some(required),
                    }
                    return node;
                }
                Ok(false) => {
                    shared.nodes[node].count_causal_timeout();
                    shared.tokens.note_unreachable(&required);
                    log::debug!(
                        "{label} did not reach {required} within {timeout:?}; reading from the master"
                    );
                    self.count_fallback(node);
                    return master;
                }
                Err(e) if transport::is_connection_error(&e) && !failed.contains(&node) => {
                    // As after a failed read: reconnect once, else the node is ejected
                    // and another replica (then the master) gets the read.
                    log::info!("waiting for {required} on {label} failed ({e})");
                    failed.push(node);
                    if !self.recover_node(node).await {
                        excluded.push(node);
                        // (A fallback to the master is counted by `pick_read_node`.)
                        node = self.pick_read_node(&excluded).0;
                    }
                }
                Err(e) => {
                    log::info!(
                        "waiting for {required} on {label} failed ({e}); reading from the master"
                    );
                    if transport::is_connection_error(&e) {
                        self.recover_node(node).await;
                    }
                    self.count_fallback(node);
                    return master;
                }
            }
        }
    }

    /// Whether a wait on replica `i` can succeed within the causal timeout, as far as the
    /// monitor knows: the replica is up, replicating, and not further behind than the
    /// timeout. A replica the monitor has not looked at yet (or with the monitor off) may
    /// be waited on: the wait is bounded, and a token it times out on is remembered.
    fn can_wait_on(&self, i: usize) -> bool {
        let shared = &self.cluster.topology();
        let node = &shared.nodes[i];
        let fit = node.is_up()
            && !node.seen_without_lag()
            && node
                .lag_now()
                .is_none_or(|lag| lag <= shared.config.causal_timeout);
        // A stopped replication thread while the master is up (with the heartbeat on, the
        // lag of such a replica may still look small for a moment). With the master down
        // every replica's IO thread is stopped, and one that applied what it received
        // serves the positions it has.
        fit && !(node.seen.lock().replicating == Some(false)
            && shared.nodes[shared.master()].is_up())
    }

    /// Whether a replica can ever reach `token`: false when it is ahead of the master's
    /// position (or names a replication domain the master doesn't have). Checked against
    /// the position the cluster knows (from the monitor, or read by a connection); a
    /// token ahead of that is checked once against the master's current position (one
    /// round trip: it may come from a write committed since), and remembered when it is
    /// still ahead, so that later reads with it cost nothing.
    async fn replicas_can_reach(&mut self, token: &ConsistencyToken) -> bool {
        let shared = self.cluster.topology().clone();
        let master = shared.master();
        match shared.tokens.standing(master, token) {
            Standing::Covered => return true,
            Standing::Ahead => {
                shared.tokens.count_rejected();
                log::debug!("token {token} is ahead of the master; reading from the master");
                return false;
            }
            Standing::Unknown => {}
        }
        if !shared.nodes[master].is_up() {
            // The master's position can't be read: the token may come from a write made
            // just before it went down, which a replica may have. The wait is bounded, and
            // remembered if it times out.
            return true;
        }
        match self.read_master_position(master).await {
            Some(position) => {
                shared.tokens.note_master_position(master, &position);
                if position.covers(token) {
                    return true;
                }
                shared.tokens.note_ahead(token);
                log::debug!(
                    "token {token} is ahead of the master's position {position} (forged, or \
                     from another cluster); reading from the master"
                );
                false
            }
            // In doubt, the master: it has every write.
            None => false,
        }
    }

    /// The master's `@@gtid_binlog_pos`, in one round trip; `None` when it can't be read.
    async fn read_master_position(&mut self, master: usize) -> Option<ConsistencyToken> {
        if let Err(e) = self.open(master).await {
            log::debug!("could not read the master's position: {e}");
            return None;
        }
        match self.internal_positions(master).await {
            Ok((_, binlog_pos)) => {
                ConsistencyToken::from_gtid_list(&binlog_pos.unwrap_or_default())
            }
            Err(e) => {
                log::debug!("could not read the master's position: {e}");
                // A dead session is reopened by the read that follows, on the master.
                if transport::is_connection_error(&e) && self.tx.pinned != Some(master) {
                    self.nodes[master] = None;
                }
                None
            }
        }
    }

    fn count_fallback(&self, replica: usize) {
        self.cluster.topology().nodes[replica].count_fallback();
    }

    /// `MASTER_GTID_WAIT` (Galera: `WSREP_SYNC_WAIT_UPTO_GTID`) on a replica: true when
    /// it applied `token` within `timeout`. A Galera node can only wait for one GTID: a
    /// token naming several domains counts as not reached (the read goes to the writer).
    async fn wait_for(
        &mut self,
        node: usize,
        token: &ConsistencyToken,
        timeout: Duration,
    ) -> diesel::QueryResult<bool> {
        let kind = self.cluster.topology().config.kind;
        let Some((position, timeout)) =
            galera::wait_arguments(kind, &token.gtid_list(), timeout.as_secs_f64())
        else {
            return Ok(false);
        };
        self.open(node).await?;
        self.internal_statements += 1;
        let _muted = self.hub.mute();
        let Some(conn) = self.nodes[node].as_mut() else {
            return Ok(false);
        };
        let query = WaitQuery {
            head: galera::wait_head(kind),
            position,
            timeout,
        };
        let started = Instant::now();
        let result = conn.gtid_wait(query).await;
        self.cluster.topology().nodes[node].count_causal_wait(started.elapsed());
        let outcome = match &result {
            Ok(v) => galera::wait_outcome(kind, Ok(*v)),
            Err(e) => galera::wait_outcome(kind, Err(&e.to_string())),
        };
        match outcome {
            WaitOutcome::Reached => Ok(true),
            WaitOutcome::TimedOut => Ok(false),
            WaitOutcome::Failed => result.map(|_| false),
        }
    }

    /// The write and binlog positions of node `i` ([`PositionQuery`]), muted.
    async fn internal_positions(
        &mut self,
        i: usize,
    ) -> diesel::QueryResult<(Option<String>, Option<String>)> {
        let query = PositionQuery::of(self.cluster.topology().config.kind);
        self.internal_statements += 1;
        let _muted = self.hub.mute();
        match self.nodes[i].as_mut() {
            Some(conn) => conn.positions(query).await,
            None => Err(diesel::result::Error::BrokenTransactionManager),
        }
    }
}
