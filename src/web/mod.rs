//! Web integration for axum and other tower stacks (cargo feature `axum`).
//!
//! * [`ReplicationLayer`]: a tower layer that gives each request a role from its method
//!   (`GET`, `HEAD`, `OPTIONS` read from replicas, other methods use the master), and
//!   [`force_role`], a route-level layer that overrides it.
//! * [`Db`]: an axum extractor whose [`run`](Db::run) runs Diesel on a blocking thread
//!   with a pooled connection, inside the request's scope.
//! * GET-after-POST: a response to a request that wrote sets a cookie (the *pin*) so the
//!   same client's next requests read their own writes (see [`PinMode`]).
//! * [`MasterSessionStore`]: a tower-sessions store on the master.
//! * With the feature `async` too, the same over diesel-async: a layer built over a bb8
//!   or deadpool pool (`ReplicationLayer::new_async`), the `AsyncDb` extractor and
//!   `AsyncMasterSessionStore` (see *Async* below).
//!
//! ```no_run
//! use std::collections::HashMap;
//!
//! use axum::{response::Redirect, routing::get, Form, Router};
//! use diesel::prelude::*;
//! use diesel::sql_types::Text;
//! use diesel_cluster::web::{Db, DbError, ReplicationLayer};
//! use diesel_cluster::Cluster;
//!
//! async fn list(db: Db) -> Result<String, DbError> {
//!     // GET: a replica, which first waits for the client's last write if it has one.
//!     let bodies: Vec<String> = db
//!         .run(|conn| diesel::dsl::sql::<Text>("SELECT body FROM entries").load(conn))
//!         .await?;
//!     Ok(bodies.join("\n"))
//! }
//!
//! async fn add(db: Db, Form(form): Form<HashMap<String, String>>) -> Result<Redirect, DbError> {
//!     // POST: the master; the response's cookie carries the write's position.
//!     let body = form.get("body").cloned().unwrap_or_default();
//!     db.run(move |conn| {
//!         diesel::sql_query("INSERT INTO entries (author, body) VALUES ('me', ?)")
//!             .bind::<Text, _>(body)
//!             .execute(conn)
//!     })
//!     .await?;
//!     Ok(Redirect::to("/"))
//! }
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::from_url("mysql://app:pw@m,r1,r2/app")?;
//! let pool = diesel::r2d2::Pool::builder().build(cluster.manager())?;
//! let app = Router::new()
//!     .route("/", get(list).post(add))
//!     .layer(ReplicationLayer::new(pool));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Roles
//!
//! The role is decided per request by the method, then by a route's [`force_role`] layer
//! (the most specific wins, as with other axum route layers). [`Db::run`] enters the
//! request's [`Scope`](crate::Scope) on the blocking thread, since a thread-local scope
//! entered in an async handler would not follow the task there. Code that runs Diesel
//! on a blocking thread of its own can take [`Db::scope`] along and `run` it there.
//!
//! # Read-your-writes across requests
//!
//! After a request that wrote and got a 2xx or 3xx response, the layer sets the pin
//! cookie (name, lifetime, `Path`, `Domain`, `SameSite`, `Secure`, `HttpOnly` set on
//! [`ReplicationLayerBuilder`]):
//!
//! * [`PinMode::Token`] (default): the cookie holds the [`ConsistencyToken`](crate::ConsistencyToken)
//!   of the writes made through [`Db::run`] (or reported with [`Db::record_write`]);
//!   a request without writes sets none. A later request carrying it reads from a
//!   replica once that replica has applied the writes (`MASTER_GTID_WAIT`), or from the
//!   master if that takes longer than the cluster's `causal_timeout`.
//! * [`PinMode::Window`] (for servers without GTIDs): after any request with a write method not forced to the replicas,
//!   the cookie holds an expiry; until then the client's reads go to the master
//!   ([`Consistency::Strong`](crate::Consistency::Strong), so a `GET` handler still may
//!   not write).
//!
//! The cookie value also carries its expiry (unix ms) and the server checks it.
//!
//! ## Forged, garbage and expired cookies
//!
//! By default the pin is not signed: a token is a replication position, not a secret,
//! and it grants nothing. What a client can do with a forged pin is limited to its own
//! reads:
//!
//! * values longer than a maximal token, with bad syntax, with an expiry in the past or
//!   further ahead than the configured lifetime are ignored (the request runs as if it
//!   had none, and the response clears the cookie); they never fail a request;
//! * a well-formed token ahead of the master's position (a sequence it never reached,
//!   a domain it doesn't have) is found so before any wait, and that request's reads go
//!   to the master at once (see the crate docs, *Read-your-writes*: the check costs one
//!   read of the master's position the first time the cluster sees the token, nothing
//!   after; [`ClusterStatus::rejected_tokens`](crate::ClusterStatus::rejected_tokens)
//!   counts them);
//! * a token within the master's position is reached by any replica that is not far
//!   behind; one no replica reached within `causal_timeout` is not waited for again for
//!   a while (its reads go to the master);
//! * a forged window sends that client's reads to the master, as a real one would.
//!
//! So a forger can move only its own reads to the master. To refuse made-up pins
//! altogether, give the layer a key ([`ReplicationLayerBuilder::pin_key`]): the cookie
//! is then signed (HMAC-SHA256, 128-bit tag), and one with a missing or wrong signature
//! is ignored and cleared like garbage. Every instance serving the same clients needs
//! the same key (a pin from an instance with another key is garbage, and the read
//! loses read-your-writes), which is why signing is not on by default with a key made
//! up per process.
//!
//! # Sessions
//!
//! [`MasterSessionStore`] implements tower-sessions' `SessionStore` on the `sessions`
//! table (migration `2026-11-29-000003_create_sessions`), always on the master.
//!
//! # Async
//!
//! With the features `axum` and `async`, a layer built over an async pool
//! (`ReplicationLayer::new_async`, `ReplicationLayerBuilder::build_async`; any
//! `AsyncPool`: diesel-async's bb8 and deadpool pools of `AsyncClusterConnection`)
//! serves handlers that take `AsyncDb`: its `run(|conn| Box::pin(async move { .. }))`
//! checks a connection out and runs the future in the handler's own task, inside the
//! request's scope as a task-local scope (`Scope::within`), so no blocking thread is
//! used and the role follows the future across `.await`s. Roles, overrides, the pin
//! cookie and its checks are the layer's, the same for both kinds of pool.
//! `AsyncMasterSessionStore` runs the session store's statements (shared with
//! [`MasterSessionStore`]) over the async pool in a master scope.
//!
//! An extractor that doesn't match the layer's pool ([`Db`] under an async layer, or
//! `AsyncDb` under an r2d2 one) fails the request with `DbError::WrongPool`, a 500.
//!
//! # Limits
//!
//! * Only writes made through [`Db::run`] (or reported with [`Db::record_write`]) are
//!   in the token; writes made elsewhere during the request don't pin the client.
//! * Tokens need MariaDB GTIDs (`@@last_gtid`); use [`PinMode::Window`] otherwise.

#[cfg(feature = "async")]
mod async_db;
mod db;
mod layer;
pub(crate) mod pin;
mod session;
mod state;

#[cfg(feature = "async")]
pub use self::async_db::{AsyncDb, AsyncPool, AsyncPoolError, AsyncPooledConnection};
pub use self::db::{Db, DbError, MissingLayer};
pub use self::layer::{
    force_role, ForceRole, ForceRoleLayer, ReplicationLayer, ReplicationLayerBuilder,
    ReplicationService, ResponseFuture,
};
pub use self::pin::SameSite;
#[cfg(feature = "async")]
pub use self::session::AsyncMasterSessionStore;
pub use self::session::MasterSessionStore;
pub use self::state::PinMode;
