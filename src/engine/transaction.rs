//! Transactions: pinned to the node where they began.
//!
//! A transaction chooses its node when it begins (depth 0 -> 1) and delegates to that
//! node connection's own Diesel transaction manager (`AnsiTransactionManager`, blocking
//! or async), so savepoints, error recovery and depth tracking are exactly Diesel's. The
//! pin is released when the node's depth returns to none. Every statement in between
//! runs on the pinned node, whatever role scope is entered inside the transaction.

use diesel::connection::{TransactionManagerStatus, ValidTransactionManagerStatus};
use diesel::result::{Error as DieselError, QueryResult};

use super::{Engine, Link};
use crate::transport::is_connection_error;

/// Transaction state of a cluster connection: the pinned node, if any.
#[derive(Debug, Default)]
pub struct ClusterTransactionState {
    pub(crate) pinned: Option<usize>,
    /// Status reported while no transaction is open (no node is pinned).
    idle: TransactionManagerStatus,
    /// Whether the open transaction ran a statement that changes data.
    pub(crate) wrote: bool,
}

impl<L: Link> Engine<L> {
    fn pinned_depth(&mut self) -> Option<u32> {
        let idx = self.tx.pinned?;
        let conn = self.nodes[idx].as_mut()?;
        conn.transaction_status()
            .transaction_depth()
            .ok()
            .flatten()
            .map(|d| d.get())
    }

    /// Called after every transaction-manager operation: unpin when the node's
    /// transaction is over.
    fn settle_pin(&mut self) {
        if self.tx.pinned.is_some() && self.pinned_depth().is_none() {
            let ok = self
                .tx
                .pinned
                .and_then(|i| self.nodes[i].as_mut())
                .is_some_and(|c| c.transaction_status().transaction_depth().is_ok());
            if ok {
                self.tx.pinned = None;
                self.tx.wrote = false;
            }
        }
    }

    /// The status Diesel's transaction manager reads: the pinned node's, or the idle one.
    pub(crate) fn transaction_status_mut(&mut self) -> &mut TransactionManagerStatus {
        let Engine { tx, nodes, .. } = self;
        match tx.pinned.and_then(|i| nodes[i].as_mut()) {
            Some(node) => node.transaction_status(),
            None => &mut tx.idle,
        }
    }

    /// Diesel's rule: an open transaction that is not a test transaction, or a
    /// transaction manager in error, on the pinned node or any node connection held.
    pub(crate) fn transaction_manager_broken(&mut self) -> bool {
        let open = match self.transaction_status_mut().transaction_state() {
            Ok(ValidTransactionManagerStatus {
                in_transaction: Some(s),
                ..
            }) => !s.test_transaction,
            Ok(ValidTransactionManagerStatus {
                in_transaction: None,
                ..
            }) => false,
            Err(_) => true,
        };
        open || self.nodes.iter_mut().flatten().any(|c| c.is_broken())
    }

    /// The `BEGIN` of a transaction failed at the connection level on a node connection
    /// that was already open: it died while idle (the server killed the session, closed
    /// it after `wait_timeout`, or restarted). Nothing ran in the transaction yet, so it
    /// begins on a fresh connection to the same node, with the session state replayed,
    /// as the statement path reconnects once; only when that connection fails is the
    /// node ejected. Nothing after the `BEGIN` is ever retried: a statement, savepoint or
    /// commit that loses its connection fails the transaction.
    ///
    /// When the lost session held state the caller relied on (a raw transaction, locked
    /// tables, temporary tables on that node, or `characteristics`: a `SET TRANSACTION`
    /// for this transaction), the error is returned instead: a transaction on a new
    /// session would run without it.
    async fn begin_on_a_new_session(
        &mut self,
        idx: usize,
        error: DieselError,
        characteristics: bool,
    ) -> QueryResult<()> {
        let held_state = characteristics || self.pins.holds_session_state_on(idx);
        // No transaction is open on the dead connection (its depth is still 0): unpin, so
        // that `recover_node` may replace it.
        self.tx.pinned = None;
        if !self.recover_node(idx).await || held_state {
            return Err(error);
        }
        log::info!(
            "the connection to {} had died while idle ({error}); the transaction begins on \
             a new one",
            self.cluster.topology().nodes[idx].label
        );
        self.tx.pinned = Some(idx);
        self.tx.wrote = false;
        let result = self.begin_on(idx).await;
        if let Err(e) = &result {
            if is_connection_error(e) {
                // A connection opened a moment ago failed too: the node is unavailable.
                self.lost_connection(idx);
                self.tx.pinned = None;
                self.nodes[idx] = None;
                self.eject(idx, &e.to_string());
            }
        }
        result
    }

    /// Diesel's `BEGIN` (or savepoint) on node `idx`, opening it first if needed.
    async fn begin_on(&mut self, idx: usize) -> QueryResult<()> {
        self.open(idx).await?;
        match self.nodes[idx].as_mut() {
            Some(conn) => conn.begin().await,
            None => Err(DieselError::BrokenTransactionManager),
        }
    }

    /// Begins a transaction (or a savepoint in the open one).
    pub(crate) async fn begin_transaction(&mut self) -> QueryResult<()> {
        if let TransactionManagerStatus::InError = self.tx.idle {
            return Err(DieselError::BrokenTransactionManager);
        }
        // A `SET TRANSACTION` for this transaction only lives in the session it ran in.
        let characteristics_on = self.pins.next_transaction;
        let (idx, outermost) = match self.tx.pinned {
            Some(idx) => (idx, false),
            None => {
                let idx = self.transaction_node().await.map_err(|e| e.into_diesel())?;
                // A read-only transaction on a replica reads like any replica read: it
                // must see this connection's writes (and the scope's token) too.
                let idx = self.consistent_read_node(idx).await;
                self.tx.pinned = Some(idx);
                self.tx.wrote = false;
                (idx, true)
            }
        };
        let was_open = self.nodes[idx].is_some();
        let result = match self.begin_on(idx).await {
            Err(e) if outermost && was_open && is_connection_error(&e) => {
                self.begin_on_a_new_session(idx, e, characteristics_on == Some(idx))
                    .await
            }
            Err(e) => {
                self.note_failure(idx, &e).await;
                Err(e)
            }
            ok => ok,
        };
        self.settle_pin();
        result
    }

    /// Rolls back the open transaction (or savepoint).
    pub(crate) async fn rollback_transaction(&mut self) -> QueryResult<()> {
        let Some(idx) = self.tx.pinned else {
            return Err(DieselError::NotInTransaction);
        };
        let result = match self.nodes[idx].as_mut() {
            Some(conn) => conn.rollback().await,
            None => Err(DieselError::BrokenTransactionManager),
        };
        if let Err(e) = &result {
            self.note_failure(idx, e).await;
        }
        self.settle_pin();
        result
    }

    /// Commits the open transaction (or releases a savepoint).
    pub(crate) async fn commit_transaction(&mut self) -> QueryResult<()> {
        let Some(idx) = self.tx.pinned else {
            return Err(DieselError::NotInTransaction);
        };
        let top_level = self.pinned_depth() == Some(1);
        let wrote = self.tx.wrote;
        let result = match self.nodes[idx].as_mut() {
            Some(conn) => conn.commit().await,
            None => Err(DieselError::BrokenTransactionManager),
        };
        match &result {
            Ok(()) if top_level && wrote => self.after_write(idx),
            Ok(()) => {}
            Err(e) => self.note_failure(idx, e).await,
        }
        self.settle_pin();
        result
    }
}
