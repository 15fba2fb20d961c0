//! Conflict retry: a closure transaction run again from the start when it lost a
//! conflict. See [`ClusterConnection::transaction_with_retry`].

use diesel::connection::{Connection, TransactionManager};

use super::ClusterConnection;

impl ClusterConnection {
    /// Runs `f` in a transaction, as [`Connection::transaction`] does, and runs it
    /// again from the start, in a new transaction, when the transaction lost a conflict:
    /// a deadlock, or (Galera) a certification conflict at `COMMIT` or a transaction
    /// aborted by a replicated one (error 1213, both). Such a transaction was rolled back
    /// whole by the server, so nothing of a failed attempt remains and a later one is not
    /// applied twice. At most [`Builder::conflict_retries`](crate::Builder::conflict_retries)
    /// more attempts (default 4), each after a backoff (2 ms, doubled per retry up to
    /// 100 ms, with jitter); then the last conflict's error is returned. Each retry is
    /// counted on the node the transaction ran on ([`NodeStatus::conflict_retries`],
    /// metric `diesel_cluster_conflict_retries_total`) and logged at `info`.
    ///
    /// Not retried: any other error, including a lock wait timeout (1205: InnoDB rolls
    /// back only the statement, and each attempt could wait as long again), and a lost
    /// connection during `COMMIT` (the transaction may have committed: running it again
    /// could apply it twice). Inside an open transaction, `f` runs in a savepoint with no
    /// retry: only the outermost transaction can be run again.
    ///
    /// The error is recognised through `E`'s [`source`](std::error::Error::source)
    /// chain: a [`diesel::result::Error`] found there (as `E` itself, or wrapped by a
    /// `thiserror` `#[from]`) decides.
    ///
    /// **What `f` must not do**, since it may run several times: anything outside this
    /// connection's transaction that a rollback does not undo. No HTTP calls, messages
    /// sent, files written or emails; no statements on another connection; no
    /// non-transactional tables (MyISAM, Aria) or `SET` of session state that must not
    /// repeat; no counting or collecting into captured variables without resetting them
    /// at the start of `f`. Values computed in `f` from what it read are fine: each
    /// attempt reads again.
    ///
    /// [`NodeStatus::conflict_retries`]: crate::NodeStatus::conflict_retries
    pub fn transaction_with_retry<T, E, F>(&mut self, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut ClusterConnection) -> Result<T, E>,
        E: From<diesel::result::Error> + std::error::Error + 'static,
    {
        let open = <Self as Connection>::TransactionManager::transaction_manager_status_mut(self)
            .transaction_depth()
            .map_err(E::from)?
            .is_some();
        if open {
            return self.transaction(f);
        }
        let mut attempt = 0;
        loop {
            match self.transaction(&mut f) {
                Err(e) => match self.engine.conflict_retry(attempt, &e) {
                    Some(pause) => {
                        attempt += 1;
                        std::thread::sleep(pause);
                    }
                    None => return Err(e),
                },
                ok => return ok,
            }
        }
    }
}
