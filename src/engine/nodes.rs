//! Node connections of one cluster connection: opening them (bounded, with the session
//! replayed), choosing the master and a replica, and reacting to connection-level
//! failures (reconnect once; if that fails, eject the node for the cluster's cooldown).

use std::sync::atomic::Ordering::Relaxed;

use diesel::result::{Error as DieselError, QueryResult};

use super::{Engine, Link};
use crate::consistency::Consistency;
use crate::error::Error;
use crate::role::Role;
use crate::topology::Topology;
use crate::transport::errors::open_error_is_unavailable;
use crate::transport::{is_connection_error, open_error};

impl<L: Link> Engine<L> {
    /// Whether node `i` is open and needs no reopening: [`open`](Self::open) would do
    /// nothing.
    #[inline]
    pub(crate) fn is_ready(&self, i: usize) -> bool {
        self.nodes[i].is_some() && !self.needs_writer_reopen(i)
    }

    /// Opens node `i` if this connection has no connection to it yet.
    pub(crate) async fn open(&mut self, i: usize) -> QueryResult<()> {
        if self.nodes[i].is_some() {
            if !self.needs_writer_reopen(i) {
                return Ok(());
            }
            // This node became the master after a failover, and this connection reached
            // it with its replica account (maybe read-only): reconnect as the master.
            log::info!(
                "reconnecting to {} with the master's credentials",
                self.cluster.topology().nodes[i].label
            );
            self.pins.node_lost(i);
            self.nodes[i] = None;
        }
        // Connecting is rare next to statements: its (large) future is boxed, so a
        // statement's future does not carry it.
        Box::pin(self.open_node(i))
            .await
            .map_err(Error::into_diesel)
    }

    /// Opens one node when the connection is established, so that `establish` fails on
    /// what no retry will fix, as `MysqlConnection::establish` does: the node the first
    /// statement most likely needs (in replica role, from the scope or the default role,
    /// the replica the balancer picks, which the first read then uses; else the master),
    /// then, while nodes are unreachable, the others in order. A node that answers and
    /// refuses the login (credentials, grants, an unknown database) ends it with that
    /// error: every node has the same account and database. `Ok` once one node is open,
    /// so an application starts while the master, or some replicas, are down; `Err` when
    /// none can be reached.
    pub(crate) async fn open_at_establish(&mut self) -> Result<(), Error> {
        let shared = self.cluster.topology().clone();
        let master = shared.master();
        let first = match self.ambient_now().role {
            Role::Replica => self.pick_read_node(&[]).0,
            _ => master,
        };
        // Then the master (if it wasn't first), then the rest.
        let mut order = vec![first];
        if first != master {
            self.first_pick = Some(first);
            order.push(master);
        }
        order.extend((0..shared.nodes.len()).filter(|&i| i != first && i != master));
        let mut unreachable = None;
        for i in order {
            match self.open_node(i).await {
                Ok(()) => return Ok(()),
                Err(e @ (Error::NodeRefused { .. } | Error::SessionState { .. })) => return Err(e),
                Err(e) => unreachable = Some(e),
            }
        }
        Err(unreachable.unwrap_or_else(|| Error::NoMaster {
            reason: "the cluster has no node".into(),
        }))
    }

    /// Whether node `i`'s connection was opened with credentials other than the
    /// master's and `i` is now the master (a cheap check: one flag for most nodes).
    #[inline]
    fn needs_writer_reopen(&self, i: usize) -> bool {
        let shared = &self.cluster.topology();
        shared.nodes[i].writer_address.is_some()
            && !self.writer_slots[i]
            && shared.master() == i
            && self.tx.pinned != Some(i)
            && self.pins.raw.node != Some(i)
    }

    async fn open_node(&mut self, i: usize) -> Result<(), Error> {
        let shared = self.cluster.topology().clone();
        let node = &shared.nodes[i];
        let (address, as_writer) = match &node.writer_address {
            Some(writer) if shared.master() == i => (writer, true),
            _ => (&node.address, node.writer_address.is_none()),
        };
        let mut conn = match L::open(node, address, &shared.config).await {
            Ok(c) => c,
            Err(reason) => {
                if open_error_is_unavailable(&reason) {
                    self.eject(i, &reason);
                }
                let error = open_error(&node.label, reason);
                if let Error::NodeRefused { .. } = error {
                    // The caller gets it; logged at debug only, as each statement retries.
                    log::debug!("{error}");
                }
                return Err(error);
            }
        };
        conn.forward_to(&self.hub);
        if let Some(size) = self.cache_size {
            conn.set_cache_size(size);
        }
        if !self.session.is_empty() {
            let _muted = self.hub.mute();
            for stmt in self.session.statements() {
                self.internal_statements += 1;
                if let Err(e) = conn.batch(stmt).await {
                    // This connection's session can't live on that node (the node is
                    // fine: nothing is ejected). Reads go elsewhere until the session
                    // changes.
                    self.unfit.mark(i);
                    return Err(Error::SessionState {
                        node: node.label.clone(),
                        statement: stmt.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        log::debug!("opened a connection to {}", node.label);
        self.nodes[i] = Some(conn);
        self.writer_slots[i] = as_writer;
        Ok(())
    }

    /// The node that takes writes, or why there is none.
    pub(crate) async fn master_node(&mut self) -> Result<usize, Error> {
        let shared = &self.cluster.topology();
        let master = shared.master();
        if shared.nodes[master].is_up() {
            return Ok(master);
        }
        // The master is ejected: maybe an outside tool promoted a replica.
        if let Some(new_master) = Box::pin(L::rediscover(self.cluster.topology())).await {
            return Ok(new_master);
        }
        if shared.config.kind == crate::galera::ClusterKind::Galera {
            let reason = crate::failover::no_writer(shared);
            return Err(Error::NoMaster { reason });
        }
        Err(Error::NoMaster {
            reason: format!(
                "{} is unreachable (ejected after a connection failure) and no other node \
                 can take writes (a writable node that still replicates, or lacks \
                 transactions the master committed, is refused; `Cluster::promote` makes \
                 a replica the master)",
                shared.nodes[master].label
            ),
        })
    }

    /// A node to read from: a usable replica under the current consistency, or the
    /// master when there is none. The flag says whether it fell back to the master.
    pub(crate) fn pick_read_node(&mut self, exclude: &[usize]) -> (usize, bool) {
        self.pick_read_node_under(exclude, self.ambient_now().consistency)
    }

    /// [`pick_read_node`](Self::pick_read_node) under `consistency`, already read.
    #[inline]
    pub(crate) fn pick_read_node_under(
        &mut self,
        exclude: &[usize],
        consistency: Consistency,
    ) -> (usize, bool) {
        // The common case, short: no replica unfit for this session, no replica opened
        // at establish waiting for its first read, no affinity, and a replica usable.
        // Everything else takes the whole way, which comes to the same choice here.
        let shared = self.cluster.topology();
        if !self.unfit.any()
            && self.first_pick.is_none()
            && !shared.config.replica_affinity
            && !matches!(consistency, Consistency::Strong)
        {
            if let Some(i) = shared.pick_replica(consistency, exclude) {
                keep(shared, &mut self.last_replica, Some(i));
                return (i, false);
            }
        }
        self.pick_read_node_in_full(exclude, consistency)
    }

    /// [`pick_read_node_under`](Self::pick_read_node_under), every case.
    #[inline(never)]
    fn pick_read_node_in_full(
        &mut self,
        exclude: &[usize],
        consistency: Consistency,
    ) -> (usize, bool) {
        if self.unfit.any() {
            // Replicas this connection's session can't be replayed on are never picked.
            let mut excluded = exclude.to_vec();
            excluded.extend(self.unfit.iter());
            return self.pick_from(&excluded, consistency);
        }
        self.pick_from(exclude, consistency)
    }

    fn pick_from(&mut self, exclude: &[usize], consistency: Consistency) -> (usize, bool) {
        let shared = &self.cluster.topology();
        if consistency == Consistency::Strong {
            return (shared.master(), false);
        }
        // The replica opened at establish for this first read (still fit for it).
        if let Some(i) = self.first_pick.take() {
            if !exclude.contains(&i) && shared.is_usable_replica(i, shared.master(), consistency) {
                keep(shared, &mut self.last_replica, Some(i));
                return (i, false);
            }
        }
        if shared.config.replica_affinity {
            if let Some(i) = self.last_replica {
                if !exclude.contains(&i)
                    && shared.is_usable_replica(i, shared.master(), consistency)
                {
                    return (i, false);
                }
            }
        }
        let picked = shared.pick_replica(consistency, exclude).or_else(|| {
            // With the master down, every replica's IO thread has lost it, so the monitor
            // sees their lag as unknown and marks them lagging. A causal read doesn't need
            // the lag: the GTID wait on the replica proves it has the write (and moves the
            // read to the master if not), so any live replica may serve it.
            let master = shared.master();
            (consistency == Consistency::Causal && !shared.nodes[master].is_up())
                .then(|| shared.pick_replica(Consistency::Eventual, exclude))
                .flatten()
        });
        match picked {
            Some(i) => {
                keep(shared, &mut self.last_replica, Some(i));
                (i, false)
            }
            None => {
                let master = shared.master();
                if shared.has_replicas() {
                    shared.nodes[master].count_fallback();
                    log::debug!("no usable replica; reading from the master");
                }
                (master, true)
            }
        }
    }

    /// With `replica_affinity`, when a pool takes the connection back: moves its kept
    /// replica to the up replica kept by the fewest connections for its weight, if that
    /// evens the spread. Without it, connections that left a replica while it was down
    /// would stay on the others for the pool's lifetime. The move opens no connection
    /// here: the next replica read opens the node, as any first read does.
    pub(crate) fn rebalance_replica(&mut self) {
        let shared = self.cluster.topology();
        let Some(mine) = self.last_replica.filter(|_| shared.config.replica_affinity) else {
            return;
        };
        let master = shared.master();
        // Fit for the cluster's default consistency: a replica still catching up
        // after its restart is no place to move to.
        let consistency = shared.config.consistency;
        let load = |i: usize| {
            let node = &shared.nodes[i];
            (node.affine.load(Relaxed), u64::from(node.weight.max(1)))
        };
        // a/wa against b/wb, without division.
        let per_weight = |(a, wa): (u64, u64), (b, wb): (u64, u64)| (a * wb).cmp(&(b * wa));
        let best = (0..shared.nodes.len())
            .filter(|&i| {
                i != mine
                    && shared.nodes[i].weight > 0
                    && !self.unfit.contains(i)
                    && shared.is_usable_replica(i, master, consistency)
            })
            .min_by(|&a, &b| per_weight(load(a), load(b)));
        if let Some(best) = best {
            let (other, w_other) = load(best);
            // Moving helps when the other replica, with this connection, carries less
            // per weight than this one does now (so two connections never swap back
            // and forth).
            if per_weight((other + 1, w_other), load(mine)).is_lt()
                || !shared.is_usable_replica(mine, master, consistency)
            {
                keep(shared, &mut self.last_replica, Some(best));
            }
        }
    }

    pub(crate) fn eject(&self, i: usize, reason: &str) {
        let shared = &self.cluster.topology();
        let node = &shared.nodes[i];
        if node.eject(shared.config.ejection_cooldown) {
            log::warn!(
                "ejecting {} for {:?}: {reason}",
                node.label,
                shared.config.ejection_cooldown
            );
        }
    }

    /// After a connection-level failure on node `i`: drop the dead connection (unless a
    /// transaction is pinned to it: its state is lost, the transaction manager reports
    /// that) and try one fresh connection. Returns whether the node answered; if not, it
    /// is ejected. Either way the dead connection's socket leaves the watchdog's reach
    /// first (see [`Guarded::forget_socket`](crate::transport::Guarded::forget_socket)).
    pub(crate) async fn recover_node(&mut self, i: usize) -> bool {
        self.lost_connection(i);
        if self.tx.pinned == Some(i) {
            return false;
        }
        // The server ended a raw transaction (and unlocked tables) with the session; the
        // statement that found out returns its error. `autocommit = 0` is a setting, not
        // state: it is restored on the new session, pinned as before.
        let autocommit_off = self.pins.node_lost(i);
        self.nodes[i] = None;
        if !self.cluster.topology().nodes[i].is_up() {
            return false;
        }
        match self.open_node(i).await {
            Ok(()) if autocommit_off => match self.internal_batch(i, "SET autocommit = 0").await {
                Ok(()) => {
                    self.pins.autocommit_restored(i);
                    true
                }
                Err(e) => {
                    self.nodes[i] = None;
                    if is_connection_error(&e) {
                        self.eject(i, &e.to_string());
                    }
                    false
                }
            },
            Ok(()) => true,
            // `open_node` ejected the node if it is unavailable. A session that can't be
            // replayed on it (say, a `USE` of a database it lacks) is this connection's
            // problem, not the node's.
            Err(_) => false,
        }
    }

    /// Unregisters the socket of node `i`'s connection after a connection-level error on
    /// it (the client library may have closed it already).
    pub(crate) fn lost_connection(&mut self, i: usize) {
        if let Some(conn) = self.nodes[i].as_mut() {
            conn.forget_socket();
        }
    }

    /// Book-keeping for an error from node `i` outside the statement path (transaction
    /// boundaries). A connection-level error ends only this connection's session: the
    /// node is ejected for every connection only when a fresh connection fails too (a
    /// session killed by the server, or closed by `wait_timeout`, says nothing about the
    /// node). A connection pinned by a transaction stays (the transaction manager reports
    /// the lost transaction), so the fresh connection is a probe, closed at once;
    /// otherwise it replaces the dead one.
    pub(crate) async fn note_failure(&mut self, i: usize, error: &DieselError) {
        if !is_connection_error(error) {
            return;
        }
        if self.tx.pinned == Some(i) {
            self.lost_connection(i);
            self.eject_unless_it_answers(i, &error.to_string()).await;
        } else {
            self.recover_node(i).await;
        }
    }

    /// Opens a fresh connection to node `i` and closes it: ejects the node if that fails
    /// because the node is unavailable. Returns whether it answered. An ejected node is
    /// not tried (it is already out; the monitor readmits it).
    async fn eject_unless_it_answers(&mut self, i: usize, reason: &str) -> bool {
        let shared = self.cluster.topology().clone();
        let node = &shared.nodes[i];
        if !node.is_up() {
            return false;
        }
        let address = match &node.writer_address {
            Some(writer) if shared.master() == i => writer,
            _ => &node.address,
        };
        match L::answers(address, &shared.config).await {
            Ok(()) => {
                log::info!(
                    "a session on {} was lost ({reason}); the node answers a fresh \
                     connection, so it stays in service",
                    node.label
                );
                true
            }
            Err(e) if open_error_is_unavailable(&e) => {
                self.eject(i, &format!("{reason}; a fresh connection failed too: {e}"));
                false
            }
            Err(_) => true,
        }
    }

    /// Whether state that lives only in this connection's node sessions (a raw
    /// transaction or `autocommit = 0`, locked tables, XA, a named lock, a temporary
    /// table) would be lost with them.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn holds_session_only_state(&self) -> bool {
        self.pins.raw.is_open() || self.pins.named_locks || !self.pins.temp_tables.is_empty()
    }

    /// Closes every node connection (new ones get the recorded session state).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn drop_node_connections(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.lost_connection(i);
                self.pins.node_lost(i);
                self.nodes[i] = None;
            }
        }
    }
}

// No `Link` bound: `Drop` for `Engine` lets go of the kept replica.
impl<L> Engine<L> {
    pub(crate) fn keep_replica(&mut self, i: Option<usize>) {
        keep(self.cluster.topology(), &mut self.last_replica, i);
    }
}

/// Records `i` as the replica a connection read from last (`last`); with
/// `replica_affinity` it is kept, and counted on the node for
/// [`Engine::rebalance_replica`]. A function of the fields, so that callers holding the
/// topology borrowed from the engine can call it.
fn keep(shared: &Topology, last: &mut Option<usize>, i: Option<usize>) {
    if *last == i {
        return;
    }
    if shared.config.replica_affinity {
        if let Some(old) = *last {
            shared.nodes[old].affine.fetch_sub(1, Relaxed);
        }
        if let Some(new) = i {
            shared.nodes[new].affine.fetch_add(1, Relaxed);
        }
    }
    *last = i;
}
