//! Transactions: pinned to the node where they began.
//!
//! The transaction manager chooses a node when the transaction begins (depth 0 -> 1) and
//! delegates to that node's own `AnsiTransactionManager`, so savepoints, error recovery
//! and depth tracking are exactly Diesel's. The pin is released when the node's depth
//! returns to none. Every statement in between runs on the pinned node, whatever role
//! scope is entered inside the transaction.

use diesel::connection::{AnsiTransactionManager, TransactionManager, TransactionManagerStatus};
use diesel::result::{Error as DieselError, QueryResult};

use super::ClusterConnection;
use crate::transport::is_connection_error;

/// The [`TransactionManager`] of [`ClusterConnection`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ClusterTransactionManager;

/// Transaction state of a [`ClusterConnection`]: the pinned node, if any.
#[derive(Debug, Default)]
pub struct ClusterTransactionState {
    pub(crate) pinned: Option<usize>,
    /// Status reported while no transaction is open (no node is pinned).
    idle: TransactionManagerStatus,
    /// Whether the open transaction ran a statement that changes data.
    pub(crate) wrote: bool,
}

impl ClusterConnection {
    fn pinned_depth(&mut self) -> Option<u32> {
        let idx = self.tx.pinned?;
        let conn = self.nodes[idx].as_deref_mut()?;
        AnsiTransactionManager::transaction_manager_status_mut(conn)
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
                .and_then(|i| self.nodes[i].as_deref_mut())
                .is_some_and(|c| {
                    AnsiTransactionManager::transaction_manager_status_mut(c)
                        .transaction_depth()
                        .is_ok()
                });
            if ok {
                self.tx.pinned = None;
                self.tx.wrote = false;
            }
        }
    }
}

impl ClusterConnection {
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
    fn begin_on_a_new_session(
        &mut self,
        idx: usize,
        error: DieselError,
        characteristics: bool,
    ) -> QueryResult<()> {
        let held_state = characteristics || self.pins.holds_session_state_on(idx);
        // No transaction is open on the dead connection (its depth is still 0): unpin, so
        // that `recover_node` may replace it.
        self.tx.pinned = None;
        if !self.recover_node(idx) || held_state {
            return Err(error);
        }
        log::info!(
            "the connection to {} had died while idle ({error}); the transaction begins on \
             a new one",
            self.cluster.topology().nodes[idx].label
        );
        self.tx.pinned = Some(idx);
        self.tx.wrote = false;
        let result = self
            .with_node(idx, AnsiTransactionManager::begin_transaction)
            .and_then(|r| r);
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
}

impl TransactionManager<ClusterConnection> for ClusterTransactionManager {
    type TransactionStateData = ClusterTransactionState;

    fn begin_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        if let TransactionManagerStatus::InError = conn.tx.idle {
            return Err(DieselError::BrokenTransactionManager);
        }
        // A `SET TRANSACTION` for this transaction only lives in the session it ran in.
        let characteristics_on = conn.pins.next_transaction;
        let (idx, outermost) = match conn.tx.pinned {
            Some(idx) => (idx, false),
            None => {
                let idx = conn.transaction_node().map_err(|e| e.into_diesel())?;
                // A read-only transaction on a replica reads like any replica read: it
                // must see this connection's writes (and the scope's token) too.
                let idx = conn.consistent_read_node(idx);
                conn.tx.pinned = Some(idx);
                conn.tx.wrote = false;
                (idx, true)
            }
        };
        let was_open = conn.nodes[idx].is_some();
        let result = match conn
            .with_node(idx, AnsiTransactionManager::begin_transaction)
            .and_then(|r| r)
        {
            Err(e) if outermost && was_open && is_connection_error(&e) => {
                conn.begin_on_a_new_session(idx, e, characteristics_on == Some(idx))
            }
            Err(e) => {
                conn.note_failure(idx, &e);
                Err(e)
            }
            ok => ok,
        };
        conn.settle_pin();
        result
    }

    fn rollback_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        let Some(idx) = conn.tx.pinned else {
            return Err(DieselError::NotInTransaction);
        };
        let result = conn
            .with_node(idx, AnsiTransactionManager::rollback_transaction)
            .and_then(|r| r);
        if let Err(e) = &result {
            conn.note_failure(idx, e);
        }
        conn.settle_pin();
        result
    }

    fn commit_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        let Some(idx) = conn.tx.pinned else {
            return Err(DieselError::NotInTransaction);
        };
        let top_level = conn.pinned_depth() == Some(1);
        let wrote = conn.tx.wrote;
        let result = conn
            .with_node(idx, AnsiTransactionManager::commit_transaction)
            .and_then(|r| r);
        match &result {
            Ok(()) if top_level && wrote => conn.after_write(idx),
            Ok(()) => {}
            Err(e) => conn.note_failure(idx, e),
        }
        conn.settle_pin();
        result
    }

    fn transaction_manager_status_mut(
        conn: &mut ClusterConnection,
    ) -> &mut TransactionManagerStatus {
        let ClusterConnection { tx, nodes, .. } = conn;
        match tx.pinned.and_then(|i| nodes[i].as_deref_mut()) {
            Some(node) => AnsiTransactionManager::transaction_manager_status_mut(node),
            None => &mut tx.idle,
        }
    }
}
