//! What the layer, the route layers and the [`Db`](super::Db) extractor share: the
//! layer's settings and each request's state.

use std::time::Duration;

use diesel::r2d2::Pool;
use http::Method;
use parking_lot::Mutex;

use super::pin::CookieSettings;
use crate::consistency::ConsistencyToken;
use crate::pool::ClusterManager;
use crate::role::Role;

/// What a response that wrote leaves in the pin cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinMode {
    /// The [`ConsistencyToken`] of the request's writes, valid for this long: the
    /// client's later replica reads wait until the replica has applied them (at most the
    /// cluster's `causal_timeout` per read, then they read from the master; a token
    /// ahead of the master's position goes to the master at once). Needs
    /// MariaDB GTIDs. The default, for 30 s.
    Token(Duration),
    /// A time window: the client's reads go to the master until it ends. For servers
    /// without GTIDs (what [`Consistency::Sticky`](crate::Consistency::Sticky) does
    /// within one connection).
    Window(Duration),
}

impl PinMode {
    pub(crate) fn lifetime(self) -> Duration {
        match self {
            PinMode::Token(d) | PinMode::Window(d) => d,
        }
    }
}

/// The pool a layer's requests take connections from.
pub(crate) enum Pools {
    /// r2d2, for [`Db`](super::Db).
    Blocking(Pool<ClusterManager>),
    /// bb8 or deadpool, for `AsyncDb`.
    #[cfg(feature = "async")]
    Async(std::sync::Arc<dyn super::AsyncPool>),
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pools::Blocking(pool) => f.debug_tuple("Blocking").field(pool).finish(),
            #[cfg(feature = "async")]
            Pools::Async(_) => f.write_str("Async"),
        }
    }
}

/// Settings shared by every request of one layer.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) pools: Pools,
    pub(crate) read_methods: Vec<Method>,
    pub(crate) mode: PinMode,
    pub(crate) cookie: CookieSettings,
}

/// Per-request state shared by the layer, the route layers and the
/// [`Db`](super::Db) extractor.
#[derive(Debug)]
pub(crate) struct RequestState {
    /// The request's role; a [`ForceRoleLayer`](super::ForceRoleLayer) may change it before the handler runs.
    pub(crate) role: Mutex<Role>,
    /// Position of the writes the handler made through [`Db`](super::Db).
    pub(crate) written: Mutex<Option<ConsistencyToken>>,
}

impl RequestState {
    /// Notes the position a pooled connection reports after the handler's work, if it
    /// moved from `before`: a pooled connection remembers the last write it ever made,
    /// maybe for another request, so only a position that moved is this request's.
    pub(crate) fn record_if_moved(
        &self,
        before: Option<ConsistencyToken>,
        after: Option<ConsistencyToken>,
    ) {
        if let Some(after) = after {
            if before.as_ref() != Some(&after) {
                self.record(after);
            }
        }
    }

    pub(crate) fn record(&self, token: ConsistencyToken) {
        let mut written = self.written.lock();
        match &mut *written {
            Some(t) => t.merge(&token),
            None => *written = Some(token),
        }
    }
}
