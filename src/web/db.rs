//! The `Db` extractor: Diesel on a blocking thread, inside the request's scope.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use diesel::QueryResult;
use http::request::Parts;
use http::StatusCode;

use super::pin::Pin;
use super::state::{Config, PinMode, Pools, RequestState};
use crate::connection::ClusterConnection;
use crate::consistency::Consistency;
use crate::role::Role;
use crate::scope::Scope;

/// The request's database access, extracted in a handler of a router wrapped by
/// [`ReplicationLayer`](super::ReplicationLayer).
///
/// A thread-local role scope does not follow an async task from thread to thread, so
/// Diesel runs in [`run`](Db::run): on a blocking thread (`spawn_blocking`), with a
/// connection from the layer's pool, inside the request's [`Scope`] (role, and the pin
/// of the client's earlier writes). `run` also notes the position of the writes it made,
/// for the response's pin cookie.
///
/// ```no_run
/// use diesel::prelude::*;
/// use diesel_cluster::web::{Db, DbError};
///
/// async fn count(db: Db) -> Result<String, DbError> {
///     let n: i64 = db
///         .run(|conn| {
///             diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) FROM entries"))
///                 .get_result(conn)
///         })
///         .await?;
///     Ok(format!("{n} entries"))
/// }
/// ```
#[derive(Clone)]
pub struct Db {
    config: Arc<Config>,
    state: Arc<RequestState>,
    pin: Option<Pin>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("role", &*self.state.role.lock())
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl Db {
    pub(crate) fn new(config: Arc<Config>, state: Arc<RequestState>, pin: Option<Pin>) -> Db {
        Db { config, state, pin }
    }

    /// Whether the response carries the position of the request's writes.
    pub(crate) fn tracks_writes(&self) -> bool {
        matches!(self.config.mode, PinMode::Token(_))
    }

    /// The layer's async pool, if it was built over one.
    #[cfg(feature = "async")]
    pub(crate) fn async_pool(&self) -> Option<Arc<dyn super::AsyncPool>> {
        match &self.config.pools {
            Pools::Async(pool) => Some(pool.clone()),
            Pools::Blocking(_) => None,
        }
    }

    /// The request's state (the position of its writes, for the pin cookie).
    #[cfg(feature = "async")]
    pub(crate) fn state(&self) -> &RequestState {
        &self.state
    }

    pub(crate) fn set_role(&self, role: Role) {
        *self.state.role.lock() = role;
    }

    /// The request's scope: its role, and what its pin cookie asks for (a token to wait
    /// for, or [`Consistency::Strong`] inside a sticky window, which sends reads to the
    /// master while keeping the role's refusal of writes). For code that runs Diesel on
    /// its own blocking thread: `scope.run(|| ...)` there.
    pub fn scope(&self) -> Scope {
        let scope = Scope::with_role(*self.state.role.lock());
        match &self.pin {
            Some(Pin::Token(token)) => scope.token(token.clone()),
            Some(Pin::Master) => scope.consistency(Consistency::Strong),
            None => scope,
        }
    }

    /// The request's role (from its method, or forced by [`force_role`](super::force_role)).
    pub fn role(&self) -> Role {
        *self.state.role.lock()
    }

    /// Notes a write's position for the response's pin cookie, for writes made without
    /// [`run`](Db::run) (e.g. on a connection of your own:
    /// [`ClusterConnection::consistency_token`]).
    pub fn record_write(&self, token: crate::consistency::ConsistencyToken) {
        if !token.is_empty() {
            self.state.record(token);
        }
    }

    /// Runs `f` with a pooled connection on a blocking thread, inside the request's
    /// [`scope`](Db::scope), and notes the position of what `f` wrote.
    ///
    /// Checking out a connection waits at most the pool's `connection_timeout`. A panic
    /// in `f` resumes in the caller.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut ClusterConnection) -> QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = match &self.config.pools {
            Pools::Blocking(pool) => pool.clone(),
            #[cfg(feature = "async")]
            Pools::Async(_) => return Err(DbError::WrongPool("Db", "AsyncDb")),
        };
        let scope = self.scope();
        let state = self.state.clone();
        let track = self.tracks_writes();
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::Pool)?;
            let _scope = scope.enter();
            let before = if track {
                conn.consistency_token()
            } else {
                None
            };
            let result = f(&mut conn);
            if track {
                state.record_if_moved(before, conn.consistency_token());
            }
            result.map_err(DbError::Query)
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(DbError::Aborted),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Db {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Db, MissingLayer> {
        parts.extensions.get::<Db>().cloned().ok_or(MissingLayer)
    }
}

/// Rejection of the [`Db`] extractor on a route without [`ReplicationLayer`](super::ReplicationLayer):
/// a 500, since it is a mistake in the app's router.
#[derive(Debug, Clone, Copy)]
pub struct MissingLayer;

impl fmt::Display for MissingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("diesel-cluster: the Db extractor needs a ReplicationLayer around the route")
    }
}

impl std::error::Error for MissingLayer {}

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        log::error!("{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

/// Why [`Db::run`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    /// No connection could be checked out of the pool in time.
    Pool(diesel::r2d2::PoolError),
    /// The closure returned an error.
    Query(diesel::result::Error),
    /// The blocking task was cancelled (the runtime is shutting down).
    Aborted,
    /// No connection could be checked out of the async pool in time (feature `async`).
    #[cfg(feature = "async")]
    AsyncPool(super::AsyncPoolError),
    /// The extractor doesn't match the layer's pool: `(used, needed)`, e.g. [`Db`] under
    /// a layer built over an async pool, which needs `AsyncDb`. A
    /// mistake in the app: a 500.
    WrongPool(&'static str, &'static str),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Pool(e) => write!(f, "no database connection available: {e}"),
            DbError::Query(e) => write!(f, "database error: {e}"),
            DbError::Aborted => f.write_str("the database task was cancelled"),
            #[cfg(feature = "async")]
            DbError::AsyncPool(e) => write!(f, "no database connection available: {e}"),
            DbError::WrongPool(used, needed) => write!(
                f,
                "diesel-cluster: {used} was used under a ReplicationLayer whose pool needs {needed}"
            ),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Pool(e) => Some(e),
            DbError::Query(e) => Some(e),
            #[cfg(feature = "async")]
            DbError::AsyncPool(e) => Some(e),
            DbError::Aborted | DbError::WrongPool(..) => None,
        }
    }
}

/// 503 when no connection was available, 500 otherwise. The body says no more than
/// that (database messages can describe the schema); the details go to the log.
impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        log::error!("{self}");
        match self {
            DbError::Pool(_) | DbError::Aborted => {
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
            }
            #[cfg(feature = "async")]
            DbError::AsyncPool(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response(),
        }
    }
}
