//! [`AsyncMasterSessionStore`]: the session store over an async pool.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use diesel::OptionalExtension;
use diesel_async::RunQueryDsl;
use futures_util::future::BoxFuture;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, ExpiredDeletion, SessionStore};

use super::queries::{self, backend};
use crate::async_connection::AsyncClusterConnection;
use crate::web::AsyncPool;

/// [`MasterSessionStore`](super::MasterSessionStore) over an async pool (bb8 or
/// deadpool, see [`AsyncPool`]; feature `async`): the same table and statements, run
/// in a master scope in the request's own task, with no blocking thread.
///
/// ```no_run
/// use diesel_async::pooled_connection::bb8;
/// use diesel_cluster::web::AsyncMasterSessionStore;
/// use diesel_cluster::AsyncClusterConnection;
/// use tower_sessions::SessionManagerLayer;
/// # fn f(pool: bb8::Pool<AsyncClusterConnection>) {
/// let sessions = SessionManagerLayer::new(AsyncMasterSessionStore::new(pool));
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncMasterSessionStore {
    pool: Arc<dyn AsyncPool>,
}

impl fmt::Debug for AsyncMasterSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncMasterSessionStore")
            .field("table", &"sessions")
            .finish_non_exhaustive()
    }
}

impl AsyncMasterSessionStore {
    /// A store using connections of `pool`.
    pub fn new(pool: impl AsyncPool) -> AsyncMasterSessionStore {
        AsyncMasterSessionStore {
            pool: Arc::new(pool),
        }
    }

    /// Runs the future `f` makes with a pooled connection, in a master scope. The outer
    /// error: no connection; the inner result is the statement's.
    async fn on_master<T, F>(&self, f: F) -> session_store::Result<diesel::QueryResult<T>>
    where
        F: for<'r> FnOnce(&'r mut AsyncClusterConnection) -> BoxFuture<'r, diesel::QueryResult<T>>
            + Send,
        T: Send,
    {
        crate::task::with_master(async {
            let mut conn = self.pool.get().await.map_err(backend)?;
            Ok(f(&mut conn).await)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for AsyncMasterSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        for _ in 0..queries::CREATE_ATTEMPTS {
            let statement = queries::insert(record)?;
            let inserted = self
                .on_master(|conn| Box::pin(async move { statement.execute(conn).await }))
                .await?;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if queries::id_taken(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
        Err(backend("no free session id found"))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let statement = queries::save(record)?;
        self.on_master(|conn| Box::pin(async move { statement.execute(conn).await.map(drop) }))
            .await?
            .map_err(backend)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let statement = queries::load(&session_id.to_string());
        let stored: Option<queries::Stored> = self
            .on_master(|conn| Box::pin(async move { statement.get_result(conn).await.optional() }))
            .await?
            .map_err(backend)?;
        stored.map(|s| queries::decode(&s.record)).transpose()
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let statement = queries::delete(&session_id.to_string());
        self.on_master(|conn| Box::pin(async move { statement.execute(conn).await.map(drop) }))
            .await?
            .map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for AsyncMasterSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let statement = queries::delete_expired();
        self.on_master(|conn| Box::pin(async move { statement.execute(conn).await.map(drop) }))
            .await?
            .map_err(backend)
    }
}
