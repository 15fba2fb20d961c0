//! Diesel's blocking `TransactionManager` for [`ClusterConnection`], over the engine's
//! pinned transactions (see [`crate::engine::transaction`]).

use diesel::connection::{TransactionManager, TransactionManagerStatus};
use diesel::result::QueryResult;

use super::{ClusterConnection, ClusterTransactionState};
use crate::engine::now;

/// The [`TransactionManager`] of [`ClusterConnection`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ClusterTransactionManager;

impl TransactionManager<ClusterConnection> for ClusterTransactionManager {
    type TransactionStateData = ClusterTransactionState;

    fn begin_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        now(conn.engine.begin_transaction())
    }

    fn rollback_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        now(conn.engine.rollback_transaction())
    }

    fn commit_transaction(conn: &mut ClusterConnection) -> QueryResult<()> {
        now(conn.engine.commit_transaction())
    }

    fn transaction_manager_status_mut(
        conn: &mut ClusterConnection,
    ) -> &mut TransactionManagerStatus {
        conn.engine.transaction_status_mut()
    }
}
