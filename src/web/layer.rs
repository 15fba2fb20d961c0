//! The tower layer: a role per request, and the pin cookie after writes.

use std::future::Future;
use std::pin::Pin as StdPin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use diesel::r2d2::Pool;
use http::{Method, Request, Response};
use parking_lot::Mutex;
use tower_layer::Layer;
use tower_service::Service;

use super::db::Db;
use super::pin::{self, CookieSettings, Incoming, Pin, SameSite};
use super::state::{Config, PinMode, Pools, RequestState};
use crate::error::Error;
use crate::pool::ClusterManager;
use crate::role::Role;

/// A tower [`Layer`] that gives each request a database role and carries
/// read-your-writes from a request that wrote to the same client's next requests.
///
/// * Requests with a read method (`GET`, `HEAD`, `OPTIONS` unless
///   [`read_methods`](ReplicationLayerBuilder::read_methods) says otherwise) run in
///   [`Role::Replica`]; others in [`Role::Master`]. A route can force a role with
///   [`force_role`].
/// * The handler reaches the database through the [`Db`] extractor, which runs Diesel
///   on a blocking thread inside the request's scope and notes what it wrote.
/// * A response to a request that wrote (2xx or 3xx) sets the pin cookie (see
///   [`PinMode`]); a request carrying a valid pin reads its own writes.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use diesel_cluster::web::ReplicationLayer;
/// # fn app(pool: diesel::r2d2::Pool<diesel_cluster::ClusterManager>) -> Router {
/// Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(ReplicationLayer::new(pool))
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ReplicationLayer {
    config: Arc<Config>,
}

impl ReplicationLayer {
    /// A layer with the default settings over `pool` (see [`ReplicationLayerBuilder`]).
    pub fn new(pool: Pool<ClusterManager>) -> ReplicationLayer {
        ReplicationLayer {
            config: Arc::new(default_config(Pools::Blocking(pool))),
        }
    }

    /// A layer with the default settings over an async pool (bb8 or deadpool, feature
    /// `async`), for handlers that use `AsyncDb`: no blocking thread.
    #[cfg(feature = "async")]
    pub fn new_async(pool: impl super::AsyncPool) -> ReplicationLayer {
        ReplicationLayer {
            config: Arc::new(default_config(Pools::Async(Arc::new(pool)))),
        }
    }

    /// Settings other than the defaults.
    pub fn builder() -> ReplicationLayerBuilder {
        ReplicationLayerBuilder::default()
    }

    /// The pin mode in use.
    pub fn pin_mode(&self) -> PinMode {
        self.config.mode
    }
}

const DEFAULT_COOKIE: &str = "db_pin";
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30);

fn default_config(pools: Pools) -> Config {
    Config {
        pools,
        read_methods: vec![Method::GET, Method::HEAD, Method::OPTIONS],
        mode: PinMode::Token(DEFAULT_TOKEN_LIFETIME),
        cookie: CookieSettings {
            name: DEFAULT_COOKIE.to_string(),
            path: "/".to_string(),
            domain: None,
            same_site: SameSite::Lax,
            secure: false,
            http_only: true,
            key: None,
        },
    }
}

/// Builds a [`ReplicationLayer`]; every setting is checked at [`build`](Self::build).
///
/// Defaults: read methods `GET`, `HEAD`, `OPTIONS`; [`PinMode::Token`] for 30 s; cookie `db_pin`, `Path=/`, no `Domain`,
/// `SameSite=Lax`, `HttpOnly`, not `Secure` (set [`secure`](Self::secure) behind HTTPS).
#[derive(Clone, Debug, Default)]
pub struct ReplicationLayerBuilder {
    read_methods: Option<Vec<Method>>,
    mode: Option<PinMode>,
    name: Option<String>,
    path: Option<String>,
    domain: Option<String>,
    same_site: Option<SameSite>,
    secure: Option<bool>,
    http_only: Option<bool>,
    key: Option<pin::PinKey>,
    key_too_short: bool,
}

impl ReplicationLayerBuilder {
    /// Methods whose requests read from replicas. Default `GET`, `HEAD`, `OPTIONS`.
    pub fn read_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.read_methods = Some(methods.into_iter().collect());
        self
    }

    /// What the pin cookie carries and how long it lives.
    pub fn pin(mut self, mode: PinMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Name of the pin cookie. Default `db_pin`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `Path` of the pin cookie. Default `/`.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// `Domain` of the pin cookie. Default none (the host that set it).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `SameSite` of the pin cookie. Default [`SameSite::Lax`].
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// Whether the pin cookie is `Secure` (sent over HTTPS only). Default false.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Whether the pin cookie is `HttpOnly` (hidden from scripts). Default true.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = Some(http_only);
        self
    }

    /// Signs the pin cookie with HMAC-SHA256 under `key` (at least 32 bytes, e.g. 32
    /// random bytes kept in the application's secrets). A cookie whose signature is
    /// missing or wrong is ignored (and cleared), so a client can't make up a pin. Every
    /// instance that serves the same clients needs the same key: a pin signed by one is
    /// otherwise garbage to the others, and their reads lose read-your-writes. Default
    /// none: pins are not signed, and a forged one can only send that client's reads to
    /// the master (a token ahead of the master's position is never waited for, see the
    /// crate docs, *Read-your-writes*).
    pub fn pin_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        let key = key.into();
        self.key_too_short = key.len() < pin::MIN_KEY_LEN;
        self.key = pin::PinKey::new(key);
        self
    }

    /// Checks the settings and builds the layer over `pool`.
    pub fn build(self, pool: Pool<ClusterManager>) -> Result<ReplicationLayer, Error> {
        self.build_over(Pools::Blocking(pool))
    }

    /// Checks the settings and builds the layer over an async pool (bb8 or deadpool,
    /// feature `async`), for handlers that use `AsyncDb`.
    #[cfg(feature = "async")]
    pub fn build_async(self, pool: impl super::AsyncPool) -> Result<ReplicationLayer, Error> {
        self.build_over(Pools::Async(Arc::new(pool)))
    }

    fn build_over(self, pools: Pools) -> Result<ReplicationLayer, Error> {
        let bad = |option: &str, reason: String| Error::InvalidOption {
            option: option.to_string(),
            reason,
        };
        let mut config = default_config(pools);
        if let Some(methods) = self.read_methods {
            config.read_methods = methods;
        }
        if let Some(mode) = self.mode {
            if mode.lifetime().is_zero() {
                return Err(bad("pin", "the pin lifetime must be positive".into()));
            }
            config.mode = mode;
        }
        if let Some(name) = self.name {
            if !pin::valid_name(&name) {
                return Err(bad(
                    "cookie_name",
                    format!("`{name}` is not a valid cookie name"),
                ));
            }
            config.cookie.name = name;
        }
        if let Some(path) = self.path {
            if !pin::valid_attribute(&path) || !path.starts_with('/') {
                return Err(bad(
                    "cookie_path",
                    format!("`{path}` is not a cookie path (`/...` without `;`)"),
                ));
            }
            config.cookie.path = path;
        }
        if let Some(domain) = self.domain {
            if !pin::valid_attribute(&domain) {
                return Err(bad(
                    "cookie_domain",
                    format!("`{domain}` is not a cookie domain"),
                ));
            }
            config.cookie.domain = Some(domain);
        }
        if let Some(s) = self.same_site {
            config.cookie.same_site = s;
        }
        if let Some(s) = self.secure {
            config.cookie.secure = s;
        }
        if let Some(h) = self.http_only {
            config.cookie.http_only = h;
        }
        if self.key_too_short {
            return Err(bad(
                "pin_key",
                format!("the key must have at least {} bytes", pin::MIN_KEY_LEN),
            ));
        }
        config.cookie.key = self.key;
        if config.cookie.same_site == SameSite::None && !config.cookie.secure {
            return Err(bad(
                "same_site",
                "browsers drop `SameSite=None` cookies that are not `Secure`".into(),
            ));
        }
        Ok(ReplicationLayer {
            config: Arc::new(config),
        })
    }
}

impl<S> Layer<S> for ReplicationLayer {
    type Service = ReplicationService<S>;

    fn layer(&self, inner: S) -> ReplicationService<S> {
        ReplicationService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`ReplicationLayer`].
#[derive(Clone, Debug)]
pub struct ReplicationService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, B, RB> Service<Request<B>> for ReplicationService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let config = &self.config;
        let now = pin::now_ms();
        let reads = config.read_methods.contains(req.method());
        let role = if reads { Role::Replica } else { Role::Master };
        let incoming = pin::read(
            req.headers(),
            &config.cookie.name,
            now,
            config.mode.lifetime(),
            config.cookie.key.as_ref(),
        );
        let state = Arc::new(RequestState {
            role: Mutex::new(role),
            written: Mutex::new(None),
        });
        req.extensions_mut()
            .insert(Db::new(config.clone(), state.clone(), incoming.pin.clone()));
        ResponseFuture {
            inner: self.inner.call(req),
            after: Some(After {
                config: config.clone(),
                state,
                read_method: reads,
                incoming,
            }),
        }
    }
}

/// What the layer does with the response.
#[derive(Debug)]
struct After {
    config: Arc<Config>,
    state: Arc<RequestState>,
    read_method: bool,
    incoming: Incoming,
}

impl After {
    fn finish<RB>(self, response: &mut Response<RB>) {
        let status = response.status();
        let ok = status.is_success() || status.is_redirection();
        let cookie = &self.config.cookie;
        let now = pin::now_ms();
        let new_value = match self.config.mode {
            PinMode::Token(_) => self.state.written.lock().take().map(|mut token| {
                // Keep what an earlier write of this client may still need.
                if let Some(Pin::Token(earlier)) = &self.incoming.pin {
                    token.merge(earlier);
                }
                Some(token)
            }),
            // Without tokens a write can't be observed: any request that may have
            // written (a write method not forced to the replicas) pins.
            PinMode::Window(_) => {
                (!self.read_method && *self.state.role.lock() != Role::Replica).then_some(None)
            }
        };
        let headers = response.headers_mut();
        match new_value {
            Some(token) if ok => {
                let lifetime = self.config.mode.lifetime();
                let expiry = now.saturating_add(lifetime.as_millis() as u64);
                let value = pin::format_value(expiry, token.as_ref(), cookie.key.as_ref());
                CookieSettings::append(headers, cookie.header(&value, lifetime));
            }
            _ if self.incoming.rejected => {
                CookieSettings::append(headers, cookie.header("", Duration::ZERO));
            }
            _ => {}
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ReplicationService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        after: Option<After>,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: StdPin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(after)) = (&mut result, this.after.take()) {
            after.finish(response);
        }
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// A route-level layer that forces the role of the requests it serves, whatever their
/// method: `Role::Master` for a `GET` that must see the latest data (or writes), or
/// `Role::Replica` for a `POST` that only reads (a search form). Put it on a route
/// inside a router wrapped by [`ReplicationLayer`]:
///
/// ```no_run
/// use axum::{routing::{get, post}, Router};
/// use diesel_cluster::{web::{force_role, ReplicationLayer}, Role};
/// # fn app(pool: diesel::r2d2::Pool<diesel_cluster::ClusterManager>) -> Router {
/// Router::new()
///     .route("/balance", get(|| async { "..." }).layer(force_role(Role::Master)))
///     .route("/search", post(|| async { "..." }).layer(force_role(Role::Replica)))
///     .layer(ReplicationLayer::new(pool))
/// # }
/// ```
///
/// Without a [`ReplicationLayer`] around it, it does nothing.
pub fn force_role(role: Role) -> ForceRoleLayer {
    ForceRoleLayer { role }
}

/// The layer made by [`force_role`].
#[derive(Clone, Copy, Debug)]
pub struct ForceRoleLayer {
    role: Role,
}

impl<S> Layer<S> for ForceRoleLayer {
    type Service = ForceRole<S>;

    fn layer(&self, inner: S) -> ForceRole<S> {
        ForceRole {
            inner,
            role: self.role,
        }
    }
}

/// The service made by [`ForceRoleLayer`].
#[derive(Clone, Copy, Debug)]
pub struct ForceRole<S> {
    inner: S,
    role: Role,
}

impl<S, B> Service<Request<B>> for ForceRole<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        if let Some(db) = req.extensions().get::<Db>() {
            db.set_role(self.role);
        }
        self.inner.call(req)
    }
}
