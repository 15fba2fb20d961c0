//! Role scopes for async code (feature `async`): a scope lasts for one future, across
//! every `.await` in it and whichever worker thread polls it.
//!
//! [`AsyncClusterConnection`](crate::AsyncClusterConnection) reads these, never the
//! thread's scopes (a thread-local scope would leak to every task the thread polls
//! while it is open). Each function wraps a future; the scope ends when the future
//! ends, panics or is dropped, and nested scopes restore the outer one, as tokio's
//! `task_local!` does.
//!
//! ```
//! # async fn demo() {
//! use diesel_cluster::{task, Role};
//! task::with_replica(async {
//!     assert_eq!(task::current_role(), Some(Role::Replica));
//!     task::with_master(async {
//!         assert_eq!(task::current_role(), Some(Role::Master));
//!     })
//!     .await;
//!     assert_eq!(task::current_role(), Some(Role::Replica));
//! })
//! .await;
//! assert_eq!(task::current_role(), None);
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
//! ```
//!
//! # Across `tokio::spawn`
//!
//! A spawned task starts with no scope: `tokio::spawn` does not carry task-locals.
//! Capture the scope and re-enter it inside the task:
//!
//! ```
//! # async fn demo() {
//! use diesel_cluster::{task, Role};
//! task::with_replica(async {
//!     let scope = task::current_scope();
//!     let handle = tokio::spawn(scope.within(async {
//!         assert_eq!(task::current_role(), Some(Role::Replica));
//!     }));
//!     handle.await.unwrap();
//! })
//! .await;
//! # }
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap().block_on(demo());
//! ```
//!
//! Or give the connection its own role
//! ([`AsyncClusterConnection::set_role`](crate::AsyncClusterConnection::set_role)),
//! which needs no scope at all.

use std::future::Future;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use super::{Frame, Scope};
use crate::consistency::{Consistency, ConsistencyToken};
use crate::role::Role;

tokio::task_local! {
    static FRAME: Frame;
}

/// Reads the current task's scope (`None` outside any).
#[inline]
pub(crate) fn with_top<R>(f: impl Fn(Option<&Frame>) -> R) -> R {
    FRAME
        .try_with(|frame| f(Some(frame)))
        .unwrap_or_else(|_| f(None))
}

/// Runs `future` in a scope derived from the current one by `change`.
fn scoped<F: Future>(change: impl FnOnce(&mut Frame), future: F) -> TaskLocalFuture<Frame, F> {
    let mut frame = with_top(|f| f.cloned()).unwrap_or_default();
    change(&mut frame);
    FRAME.scope(frame, future)
}

/// Runs `future` with `role` as the current role.
pub fn with_role<F: Future>(role: Role, future: F) -> impl Future<Output = F::Output> {
    scoped(move |f| f.role = Some(role), future)
}

/// Runs `future` in a master scope: every statement goes to the master.
pub fn with_master<F: Future>(future: F) -> impl Future<Output = F::Output> {
    with_role(Role::Master, future)
}

/// Runs `future` in a replica scope: reads go to a replica, writes are refused.
pub fn with_replica<F: Future>(future: F) -> impl Future<Output = F::Output> {
    with_role(Role::Replica, future)
}

/// Runs `future` with `consistency` as the consistency level of its replica reads.
pub fn with_consistency<F: Future>(
    consistency: Consistency,
    future: F,
) -> impl Future<Output = F::Output> {
    scoped(move |f| f.consistency = Some(consistency), future)
}

/// Runs `future` so that its replica reads first wait for `token` (see
/// [`crate::with_token`]). Nested token scopes wait for both.
pub fn with_token<F: Future>(
    token: &ConsistencyToken,
    future: F,
) -> impl Future<Output = F::Output> {
    let token = token.clone();
    scoped(
        move |f| {
            let merged = match f.token.take() {
                Some(outer) => {
                    let mut t = (*outer).clone();
                    t.merge(&token);
                    t
                }
                None => token,
            };
            f.token = Some(Arc::new(merged));
        },
        future,
    )
}

/// The role of the innermost scope of the current task, or `None`.
pub fn current_role() -> Option<Role> {
    with_top(|f| f.and_then(|f| f.role))
}

/// The consistency level of the innermost scope of the current task, or `None`.
pub fn current_consistency() -> Option<Consistency> {
    with_top(|f| f.and_then(|f| f.consistency))
}

/// Everything the current task's scope says, to re-enter in a spawned task with
/// [`Scope::within`].
pub fn current_scope() -> Scope {
    Scope::from_frame(with_top(|f| f.cloned()).unwrap_or_default())
}

impl Scope {
    /// Runs `future` inside this scope (feature `async`): the task-scoped form of
    /// [`Scope::run`]. Fields this scope does not set are inherited from the current
    /// task's scope.
    pub fn within<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        scoped(|f| self.overlay(f), future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn a_scope_survives_awaits_and_nesting() {
        block_on(async {
            with_replica(async {
                tokio::task::yield_now().await;
                assert_eq!(current_role(), Some(Role::Replica));
                with_master(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    assert_eq!(current_role(), Some(Role::Master));
                })
                .await;
                assert_eq!(current_role(), Some(Role::Replica));
            })
            .await;
            assert_eq!(current_role(), None);
        });
    }

    #[test]
    fn thread_scopes_do_not_reach_tasks() {
        let _guard = crate::scope::use_master();
        block_on(async { assert_eq!(current_role(), None) });
    }

    #[test]
    fn a_dropped_scoped_future_leaves_no_scope() {
        block_on(async {
            let fut = with_replica(std::future::pending::<()>());
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), fut).await;
            assert_eq!(current_role(), None);
        });
    }
}
