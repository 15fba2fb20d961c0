//! The thread-scoped role stack: which node kind the current code wants.
//!
//! Modelled on `tracing-core`'s dispatcher: a thread-local current value, closure scopes
//! (`with_master(|| ..)`), and `#[must_use]` guards that put the previous value back on drop,
//! so a panic or an early `?` return always restores the outer scope.
//!
//! The stack holds frames; each frame is a full snapshot (role, consistency override,
//! consistency token) so reading the current value is one thread-local access and a
//! `last()`. A guard remembers the stack depth it pushed at and truncates back to it on drop;
//! dropping guards out of order therefore restores the outermost state, never a stale one.
//!
//! `scoped-tls` (the usual crate for scoped thread-locals) can express the closure scopes but not guards, which
//! must outlive a closure; one plain `thread_local!` serves both at the same cost.

#[cfg(feature = "async")]
pub mod task;

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::consistency::{Consistency, ConsistencyToken};
use crate::role::Role;

/// One level of the stack: everything a scope can set, inherited from the level below.
#[derive(Clone, Debug, Default)]
pub(crate) struct Frame {
    pub(crate) role: Option<Role>,
    pub(crate) consistency: Option<Consistency>,
    pub(crate) token: Option<Arc<ConsistencyToken>>,
}

thread_local! {
    static STACK: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Restores the scope that was current before it was created, when dropped.
///
/// Returned by [`use_master`], [`use_replica`], [`use_role`], and by the consistency
/// functions. It is `!Send`: the stack belongs to the thread that made it.
#[must_use = "the scope ends when the guard is dropped; bind it with `let _guard = ...`"]
#[derive(Debug)]
pub struct ScopeGuard {
    depth: usize,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        // `try_with`: a guard dropped during thread-local destruction must not panic.
        let _ = STACK.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.truncate(self.depth);
            }
        });
    }
}

/// Pushes a frame derived from the current top, changed by `change`.
pub(crate) fn push(change: impl FnOnce(&mut Frame)) -> ScopeGuard {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len();
        let mut frame = s.last().cloned().unwrap_or_default();
        change(&mut frame);
        s.push(frame);
        ScopeGuard {
            depth,
            _not_send: PhantomData,
        }
    })
}

/// Reads the current top frame.
pub(crate) fn with_top<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    STACK.with(|s| f(s.borrow().last()))
}

/// Enters a scope with `role` until the guard is dropped.
///
/// ```
/// use diesel_cluster::{use_role, current_role, Role};
/// let guard = use_role(Role::Auto);
/// assert_eq!(current_role(), Some(Role::Auto));
/// drop(guard);
/// assert_eq!(current_role(), None);
/// ```
pub fn use_role(role: Role) -> ScopeGuard {
    push(|f| f.role = Some(role))
}

/// Enters a master scope until the guard is dropped.
pub fn use_master() -> ScopeGuard {
    use_role(Role::Master)
}

/// Enters a replica scope until the guard is dropped.
pub fn use_replica() -> ScopeGuard {
    use_role(Role::Replica)
}

/// Runs `f` with `role` as the current role, then restores the previous one (also when
/// `f` panics).
pub fn with_role<R>(role: Role, f: impl FnOnce() -> R) -> R {
    let _guard = use_role(role);
    f()
}

/// Runs `f` in a master scope: every statement goes to the master.
///
/// ```
/// use diesel_cluster::{with_master, with_replica, current_role, Role};
/// with_replica(|| {
///     assert_eq!(current_role(), Some(Role::Replica));
///     with_master(|| assert_eq!(current_role(), Some(Role::Master)));
///     assert_eq!(current_role(), Some(Role::Replica));
/// });
/// assert_eq!(current_role(), None);
/// ```
pub fn with_master<R>(f: impl FnOnce() -> R) -> R {
    with_role(Role::Master, f)
}

/// Runs `f` in a replica scope: reads go to a replica, writes are refused.
pub fn with_replica<R>(f: impl FnOnce() -> R) -> R {
    with_role(Role::Replica, f)
}

/// The role of the innermost scope on this thread, or `None` outside any scope (the
/// cluster's default role then applies).
pub fn current_role() -> Option<Role> {
    STACK.with(|s| s.borrow().last().and_then(|f| f.role))
}

/// Everything the current scope says, for callers that move work to another thread
/// (e.g. `spawn_blocking`): capture it with [`Scope::current`] and re-enter it there with
/// [`Scope::enter`].
#[derive(Clone, Debug, Default)]
pub struct Scope {
    frame: Frame,
}

impl Scope {
    /// The current thread's scope.
    pub fn current() -> Scope {
        Scope {
            frame: with_top(|f| f.cloned().unwrap_or_default()),
        }
    }

    /// A scope with just a role.
    pub fn with_role(role: Role) -> Scope {
        Scope {
            frame: Frame {
                role: Some(role),
                ..Frame::default()
            },
        }
    }

    /// This scope's role, if it sets one.
    pub fn role(&self) -> Option<Role> {
        self.frame.role
    }

    /// Sets the consistency level of this scope.
    pub fn consistency(mut self, consistency: Consistency) -> Scope {
        self.frame.consistency = Some(consistency);
        self
    }

    /// Makes this scope's replica reads wait for `token`.
    pub fn token(mut self, token: ConsistencyToken) -> Scope {
        self.frame.token = Some(Arc::new(token));
        self
    }

    /// This scope's consistency token, if any.
    pub fn consistency_token(&self) -> Option<&ConsistencyToken> {
        self.frame.token.as_deref()
    }

    /// Makes this scope current on this thread until the guard is dropped. Fields the
    /// scope does not set are inherited from the current scope.
    pub fn enter(&self) -> ScopeGuard {
        push(|f| self.overlay(f))
    }

    /// Sets on `frame` what this scope sets; the rest stays inherited.
    pub(crate) fn overlay(&self, frame: &mut Frame) {
        let own = &self.frame;
        if own.role.is_some() {
            frame.role = own.role;
        }
        if own.consistency.is_some() {
            frame.consistency = own.consistency;
        }
        if own.token.is_some() {
            frame.token = own.token.clone();
        }
    }

    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn from_frame(frame: Frame) -> Scope {
        Scope { frame }
    }

    /// Runs `f` inside this scope.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }
}

/// Runs `f` with `consistency` as the consistency level of its replica reads.
///
/// ```
/// use std::time::Duration;
/// use diesel_cluster::{with_consistency, Consistency};
/// with_consistency(Consistency::Bounded(Duration::from_millis(200)), || {
///     // replica reads here skip replicas more than 200 ms behind
/// });
/// ```
pub fn with_consistency<R>(consistency: Consistency, f: impl FnOnce() -> R) -> R {
    let _guard = use_consistency(consistency);
    f()
}

/// Sets the consistency level until the guard is dropped.
pub fn use_consistency(consistency: Consistency) -> ScopeGuard {
    push(|frame| frame.consistency = Some(consistency))
}

/// Runs `f` so that its replica reads first wait until the replica has applied `token`
/// (or read from the master when it can't within the cluster's causal timeout). Works on
/// any connection and thread: the token carries the position, not the connection. A
/// token ahead of the master's position (forged, or from another cluster) sends the
/// reads to the master without any wait (see the crate docs, *Read-your-writes*).
pub fn with_token<R>(token: &ConsistencyToken, f: impl FnOnce() -> R) -> R {
    let _guard = use_token(token.clone());
    f()
}

/// Makes replica reads wait for `token` until the guard is dropped.
pub fn use_token(token: ConsistencyToken) -> ScopeGuard {
    let token = std::sync::Arc::new(token);
    push(move |frame| {
        let merged = match frame.token.take() {
            Some(outer) => {
                let mut t = (*outer).clone();
                t.merge(&token);
                std::sync::Arc::new(t)
            }
            None => token,
        };
        frame.token = Some(merged);
    })
}

/// The consistency level set by the innermost scope, if any.
pub fn current_consistency() -> Option<Consistency> {
    with_top(|f| f.and_then(|f| f.consistency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_restores_outer_roles() {
        assert_eq!(current_role(), None);
        with_replica(|| {
            with_master(|| {
                with_role(Role::Auto, || assert_eq!(current_role(), Some(Role::Auto)));
                assert_eq!(current_role(), Some(Role::Master));
            });
            assert_eq!(current_role(), Some(Role::Replica));
        });
        assert_eq!(current_role(), None);
    }

    #[test]
    fn panics_restore_the_role() {
        with_master(|| {
            let r = std::panic::catch_unwind(|| with_replica(|| panic!("boom")));
            assert!(r.is_err());
            assert_eq!(current_role(), Some(Role::Master));
        });
        assert_eq!(current_role(), None);
    }

    #[test]
    fn guards_dropped_out_of_order_restore_the_outermost_state() {
        let outer = use_replica();
        let inner = use_master();
        drop(outer);
        assert_eq!(current_role(), None);
        drop(inner);
        assert_eq!(current_role(), None);
        let _g = use_master();
        assert_eq!(current_role(), Some(Role::Master));
    }

    #[test]
    fn early_return_restores() {
        fn f() -> Result<(), ()> {
            let _g = use_replica();
            Err(())?;
            Ok(())
        }
        let _ = f();
        assert_eq!(current_role(), None);
    }

    #[test]
    fn scopes_travel_to_other_threads() {
        let scope = with_replica(Scope::current);
        let seen = std::thread::spawn(move || scope.run(current_role))
            .join()
            .unwrap();
        assert_eq!(seen, Some(Role::Replica));
    }

    #[test]
    fn roles_parse() {
        assert_eq!("Replica".parse::<Role>().unwrap(), Role::Replica);
        assert!("bogus".parse::<Role>().is_err());
    }

    #[test]
    fn token_scopes_merge() {
        let a: ConsistencyToken = "0-1-5".parse().unwrap();
        let b: ConsistencyToken = "0-1-3_1-1-1".parse().unwrap();
        with_token(&a, || {
            with_token(&b, || {
                let t = with_top(|f| f.and_then(|f| f.token.clone())).unwrap();
                assert_eq!(t.to_string(), "0-1-5_1-1-1");
            })
        });
    }
}
