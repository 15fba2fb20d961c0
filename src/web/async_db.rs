//! The `AsyncDb` extractor (features `axum` and `async`): diesel-async in the handler's
//! own task, inside the request's scope, with a connection from an async pool.

use std::fmt;
use std::ops::{Deref, DerefMut};

use axum::extract::FromRequestParts;
use diesel::QueryResult;
use diesel_async::pooled_connection::{bb8, deadpool};
use futures_util::future::BoxFuture;
use http::request::Parts;

use super::db::{Db, DbError, MissingLayer};
use crate::async_connection::AsyncClusterConnection;
use crate::consistency::ConsistencyToken;
use crate::role::Role;
use crate::scope::Scope;

/// An async pool of [`AsyncClusterConnection`]s a [`ReplicationLayer`](super::ReplicationLayer)
/// can hand out (see [`ReplicationLayer::new_async`](super::ReplicationLayer::new_async)).
/// Implemented for diesel-async's bb8 and deadpool pools over
/// [`Cluster::async_manager`](crate::Cluster::async_manager) (or an
/// `AsyncDieselConnectionManager<AsyncClusterConnection>` of a URL).
pub trait AsyncPool: Send + Sync + 'static {
    /// Checks a connection out, waiting at most the pool's own timeout.
    fn get(&self) -> BoxFuture<'_, Result<AsyncPooledConnection, AsyncPoolError>>;
}

/// A connection checked out of an [`AsyncPool`]; back to the pool when dropped.
pub struct AsyncPooledConnection(Box<dyn DerefMut<Target = AsyncClusterConnection> + Send>);

impl Deref for AsyncPooledConnection {
    type Target = AsyncClusterConnection;
    fn deref(&self) -> &AsyncClusterConnection {
        &self.0
    }
}

impl DerefMut for AsyncPooledConnection {
    fn deref_mut(&mut self) -> &mut AsyncClusterConnection {
        &mut self.0
    }
}

impl fmt::Debug for AsyncPooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

/// Why an [`AsyncPool`] gave no connection (the pool's own error as the source).
#[derive(Debug)]
pub struct AsyncPoolError(Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for AsyncPoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for AsyncPoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl AsyncPool for bb8::Pool<AsyncClusterConnection> {
    fn get(&self) -> BoxFuture<'_, Result<AsyncPooledConnection, AsyncPoolError>> {
        Box::pin(async move {
            let conn = self
                .get_owned()
                .await
                .map_err(|e| AsyncPoolError(Box::new(e)))?;
            Ok(AsyncPooledConnection(Box::new(conn)))
        })
    }
}

impl AsyncPool for deadpool::Pool<AsyncClusterConnection> {
    fn get(&self) -> BoxFuture<'_, Result<AsyncPooledConnection, AsyncPoolError>> {
        Box::pin(async move {
            let conn = deadpool::Pool::get(self)
                .await
                .map_err(|e| AsyncPoolError(Box::new(e)))?;
            Ok(AsyncPooledConnection(Box::new(conn)))
        })
    }
}

/// The request's database access for diesel-async handlers, extracted in a router
/// wrapped by a [`ReplicationLayer`](super::ReplicationLayer) built over an
/// [`AsyncPool`].
///
/// [`run`](AsyncDb::run) checks a connection out and runs the future `f` makes with it
/// in the handler's own task, inside the request's [`Scope`] (a task-local scope, so
/// it follows the future across `.await`s and threads: no blocking thread), and notes
/// the position of what it wrote for the response's pin cookie, as [`Db::run`] does.
///
/// ```no_run
/// use diesel_async::RunQueryDsl;
/// use diesel_cluster::web::{AsyncDb, DbError};
///
/// async fn count(db: AsyncDb) -> Result<String, DbError> {
///     let n: i64 = db
///         .run(|conn| {
///             Box::pin(async move {
///                 diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
///                     "COUNT(*) FROM entries",
///                 ))
///                 .get_result(conn)
///                 .await
///             })
///         })
///         .await?;
///     Ok(format!("{n} entries"))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncDb(Db);

impl AsyncDb {
    /// The request's scope (see [`Db::scope`]); `scope.within(future)` runs a future of
    /// your own in it.
    pub fn scope(&self) -> Scope {
        self.0.scope()
    }

    /// The request's role.
    pub fn role(&self) -> Role {
        self.0.role()
    }

    /// Notes a write's position for the response's pin cookie, for writes made without
    /// [`run`](AsyncDb::run).
    pub fn record_write(&self, token: ConsistencyToken) {
        self.0.record_write(token)
    }

    /// Runs the future `f` makes with a pooled connection, inside the request's
    /// [`scope`](AsyncDb::scope), and notes the position of what it wrote.
    ///
    /// Checking out waits at most the pool's own timeout ([`DbError::AsyncPool`], a
    /// 503). Under a layer built over an r2d2 pool it fails with
    /// [`DbError::WrongPool`] (a 500).
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: for<'r> FnOnce(&'r mut AsyncClusterConnection) -> BoxFuture<'r, QueryResult<T>> + Send,
        T: Send,
    {
        let Some(pool) = self.0.async_pool() else {
            return Err(DbError::WrongPool("AsyncDb", "Db"));
        };
        let track = self.0.tracks_writes();
        self.scope()
            .within(async move {
                let mut conn = pool.get().await.map_err(DbError::AsyncPool)?;
                let before = if track {
                    conn.consistency_token().await
                } else {
                    None
                };
                let result = f(&mut conn).await;
                if track {
                    let after = conn.consistency_token().await;
                    self.0.state().record_if_moved(before, after);
                }
                result.map_err(DbError::Query)
            })
            .await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AsyncDb {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<AsyncDb, MissingLayer> {
        parts
            .extensions
            .get::<Db>()
            .cloned()
            .map(AsyncDb)
            .ok_or(MissingLayer)
    }
}
