//! A tower-sessions store that keeps sessions on the master.

use std::fmt;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, ExpiredDeletion, SessionStore};

use crate::connection::ClusterConnection;
use crate::pool::ClusterManager;
use crate::scope::with_master;

diesel::table! {
    sessions (id) {
        id -> Varchar,
        record -> Text,
        expires_at -> BigInt,
    }
}

/// How many fresh ids `create` tries when the random one is taken (a 128-bit collision:
/// more than one means something else is wrong).
const CREATE_ATTEMPTS: usize = 3;

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

fn backend(e: impl fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for MasterSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut candidate = record.clone();
        let created = self
            .on_master(move |conn| {
                for _ in 0..CREATE_ATTEMPTS {
                    let inserted = diesel::insert_into(sessions::table)
                        .values((
                            sessions::id.eq(candidate.id.to_string()),
                            sessions::record.eq(encode(&candidate)?),
                            sessions::expires_at.eq(candidate.expiry_date.unix_timestamp()),
                        ))
                        .execute(conn);
                    match inserted {
                        Ok(_) => return Ok(candidate),
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            candidate.id = Id::default();
                        }
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
        let id = record.id.to_string();
        let json = encode(record)?;
        let expires_at = record.expiry_date.unix_timestamp();
        self.on_master(move |conn| {
            diesel::replace_into(sessions::table)
                .values((
                    sessions::id.eq(id),
                    sessions::record.eq(json),
                    sessions::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .map(drop)
                .map_err(backend)
        })
        .await
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let id = session_id.to_string();
        let json: Option<String> = self
            .on_master(move |conn| {
                sessions::table
                    .filter(sessions::id.eq(id))
                    .filter(sessions::expires_at.gt(now_unix()))
                    .select(sessions::record)
                    .first(conn)
                    .optional()
                    .map_err(backend)
            })
            .await?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let id = session_id.to_string();
        self.on_master(move |conn| {
            diesel::delete(sessions::table.filter(sessions::id.eq(id)))
                .execute(conn)
                .map(drop)
                .map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl ExpiredDeletion for MasterSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.on_master(|conn| {
            diesel::delete(sessions::table.filter(sessions::expires_at.le(now_unix())))
                .execute(conn)
                .map(drop)
                .map_err(backend)
        })
        .await
    }
}
