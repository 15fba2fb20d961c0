//! Conflict retry on the async connection: [`AsyncClusterConnection::transaction_with_retry`].

use std::future::Future;
use std::pin::Pin;

use diesel_async::TransactionManager;

use super::{AsyncClusterConnection, AsyncClusterTransactionManager};

/// The future of one attempt of a retried transaction, borrowing the connection.
pub type RetryFuture<'r, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'r>>;

impl AsyncClusterConnection {
    /// Runs `f` in a transaction and runs it again from the start, in a new transaction,
    /// when the transaction lost a conflict (a deadlock, or a Galera certification
    /// conflict: error 1213): the async form of
    /// [`ClusterConnection::transaction_with_retry`](crate::ClusterConnection::transaction_with_retry),
    /// with the same rules: which errors are retried, how many attempts
    /// ([`Builder::conflict_retries`](crate::Builder::conflict_retries)), the backoff
    /// (awaited on tokio's timer, no thread blocked), the counting, and **what `f` must
    /// not do**, since it may run several times (anything a rollback does not undo).
    ///
    /// `f` returns a boxed future borrowing only the connection: move owned values
    /// (clones) into it, since each attempt needs its own.
    ///
    /// ```no_run
    /// # async fn demo(conn: &mut diesel_cluster::AsyncClusterConnection) -> diesel::QueryResult<()> {
    /// use diesel_async::RunQueryDsl;
    ///
    /// let account = 7;
    /// conn.transaction_with_retry(|conn| {
    ///     Box::pin(async move {
    ///         diesel::sql_query("UPDATE accounts SET balance = balance - 10 WHERE id = ?")
    ///             .bind::<diesel::sql_types::Integer, _>(account)
    ///             .execute(conn)
    ///             .await?;
    ///         Ok::<_, diesel::result::Error>(())
    ///     })
    /// })
    /// .await
    /// # }
    /// ```
    pub async fn transaction_with_retry<T, E, F>(&mut self, mut f: F) -> Result<T, E>
    where
        F: for<'r> FnMut(&'r mut AsyncClusterConnection) -> RetryFuture<'r, T, E> + Send,
        E: From<diesel::result::Error> + std::error::Error + Send + 'static,
        T: Send,
    {
        let open = AsyncClusterTransactionManager::transaction_manager_status_mut(self)
            .transaction_depth()
            .map_err(E::from)?
            .is_some();
        if open {
            // Only the outermost transaction can run again: a savepoint, no retry.
            return self.attempt(&mut f).await;
        }
        let mut attempt = 0;
        loop {
            match self.attempt(&mut f).await {
                Err(e) => match self.engine.conflict_retry(attempt, &e) {
                    Some(pause) => {
                        attempt += 1;
                        tokio::time::sleep(pause).await;
                    }
                    None => return Err(e),
                },
                ok => return ok,
            }
        }
    }

    /// One run of `f` in a transaction (or a savepoint), as diesel-async's
    /// `AsyncConnection::transaction` runs its callback.
    async fn attempt<T, E, F>(&mut self, f: &mut F) -> Result<T, E>
    where
        F: for<'r> FnMut(&'r mut AsyncClusterConnection) -> RetryFuture<'r, T, E> + Send,
        E: From<diesel::result::Error> + Send,
        T: Send,
    {
        AsyncClusterTransactionManager::begin_transaction(self).await?;
        match f(self).await {
            Ok(value) => {
                AsyncClusterTransactionManager::commit_transaction(self).await?;
                Ok(value)
            }
            Err(user_error) => match AsyncClusterTransactionManager::rollback_transaction(self)
                .await
            {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(user_error),
                Err(rollback_error) => Err(rollback_error.into()),
            },
        }
    }
}
