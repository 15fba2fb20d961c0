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

impl TransactionManager<ClusterConnection> for ClusterTransactionManager {
    type TransactionStateData = ClusterTransactionState;

    fn begin_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        if let TransactionManagerStatus::InError = conn.tx.idle {
            return Err(DieselError::BrokenTransactionManager);
        }
        let idx = match conn.tx.pinned {
            Some(idx) => idx,
            None => {
                let idx = conn.transaction_node().map_err(|e| e.into_diesel())?;
                // A read-only transaction on a replica reads like any replica read: it
                // must see this connection's writes (and the scope's token) too.
                let idx = conn.consistent_read_node(idx);
                conn.tx.pinned = Some(idx);
                conn.tx.wrote = false;
                idx
            }
        };
        let result = conn
            .with_node(idx, AnsiTransactionManager::begin_transaction)
            .and_then(|r| r);
        if let Err(e) = &result {
            conn.note_failure(idx, e);
        }
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
