//! Tower-sessions stores that keep sessions on the master: [`MasterSessionStore`]
//! (r2d2) and, with the feature `async`, `AsyncMasterSessionStore` (bb8 or deadpool).

#[cfg(feature = "async")]
mod async_store;
mod queries;

#[cfg(feature = "async")]
pub use self::async_store::AsyncMasterSessionStore;

use std::fmt;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, ExpiredDeletion, SessionStore};

use self::queries::backend;
use crate::connection::ClusterConnection;
use crate::pool::ClusterManager;
use crate::scope::with_master;

/// A [tower-sessions](https://docs.rs/tower-sessions) [`SessionStore`] in the `sessions`
/// table, read and written on the master whatever the request's role: a session written
/// during a `GET` (in the replica role) is there on the next request, however far
/// behind the replicas are.
///
/// The table comes with this crate's migrations
/// (`migrations/2026-11-29-000003_create_sessions`): `id` (the session id), `record`
/// (tower-sessions' record as JSON) and `expires_at` (unix seconds). Expired sessions
/// are never loaded; [`ExpiredDeletion::delete_expired`] removes them.
///
/// ```no_run
/// use diesel_cluster::web::MasterSessionStore;
/// use tower_sessions::SessionManagerLayer;
/// # fn f(pool: diesel::r2d2::Pool<diesel_cluster::ClusterManager>) {
/// let sessions = SessionManagerLayer::new(MasterSessionStore::new(pool));
/// # }
/// ```
#[derive(Clone)]
pub struct MasterSessionStore {
    pool: Pool<ClusterManager>,
}

impl fmt::Debug for MasterSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterSessionStore")
            .field("table", &"sessions")
            .finish_non_exhaustive()
    }
}

impl MasterSessionStore {
    /// A store using connections of `pool`.
    pub fn new(pool: Pool<ClusterManager>) -> MasterSessionStore {
        MasterSessionStore { pool }
    }

    /// Runs `f` with a pooled connection in a master scope, on a blocking thread.
    async fn on_master<T, F>(&self, f: F) -> session_store::Result<T>
    where
        F: FnOnce(&mut ClusterConnection) -> session_store::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let task = tokio::task::spawn_blocking(move || {
            with_master(|| {
                let mut conn = pool.get().map_err(backend)?;
                f(&mut conn)
            })
        });
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl SessionStore for MasterSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut candidate = record.clone();
        let created = self
            .on_master(move |conn| {
                for _ in 0..queries::CREATE_ATTEMPTS {
                    match queries::insert(&candidate)?.execute(conn) {
                        Ok(_) => return Ok(candidate),
                        Err(e) if queries::id_taken(&e) => candidate.id = Id::default(),
                        Err(e) => return Err(backend(e)),
                    }
                }
                Err(backend("no free session id found"))
            })
            .await?;
        *record = created;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let statement = queries::save(record)?;
        self.on_master(move |conn| statement.execute(conn).map(drop).map_err(backend))
            .await
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let statement = queries::load(&session_id.to_string());
        let stored: Option<queries::Stored> = self
            .on_master(move |conn| statement.get_result(conn).optional().map_err(backend))
            .await?;
        stored.map(|s| queries::decode(&s.record)).transpose()
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let statement = queries::delete(&session_id.to_string());
        self.on_master(move |conn| statement.execute(conn).map(drop).map_err(backend))
            .await
    }
}

#[async_trait]
impl ExpiredDeletion for MasterSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let statement = queries::delete_expired();
        self.on_master(move |conn| statement.execute(conn).map(drop).map_err(backend))
            .await
    }
}
