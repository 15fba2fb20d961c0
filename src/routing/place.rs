//! Where a decided [`Route`] lands among a connection's nodes, and what may be done with
//! the statement there (retried elsewhere, held to the read consistency rules). Pure: the
//! connection resolves [`Target::Master`] and [`Target::Balanced`] to nodes.

use super::{Effect, Route};

/// The node a statement runs on, before the master index or the balancer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The current master.
    Master,
    /// A replica the balancer picks (the master when none is usable).
    Balanced,
    /// This node.
    Node(usize),
}

/// Where a statement runs and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) target: Target,
    /// A read outside any transaction or pin: may be retried elsewhere on a
    /// connection-level failure.
    pub(crate) retryable: bool,
    /// Chosen by the balancer: the consistency rules (causal wait, sticky window) apply.
    pub(crate) replica_read: bool,
    /// A read the router sends to a replica (with a single database, where it would
    /// have gone).
    pub(crate) wanted_replica: bool,
}

/// What placing a route depends on, beyond the route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context {
    pub(crate) effect: Effect,
    /// Whether the cluster has replicas; without, everything runs on its one database.
    pub(crate) replicas: bool,
    /// The node of the previous statement, when the connection still holds it and it is
    /// fit.
    pub(crate) previous: Option<usize>,
    /// Whether the statement reads a table (for a session statement: its value depends
    /// on data).
    pub(crate) reads_data: bool,
}

/// Places a route. With one database everything runs on it, but the route is still
/// decided, so replica scopes refuse writes there as they would in production and the
/// query log shows where each statement would go. A session statement is applied to
/// every node held, so where it is evaluated only matters when its value reads data;
/// otherwise it runs where the previous statement ran (no other node to open, and that
/// node's diagnostics area, which statements using no table leave alone, stays this
/// connection's, as on one connection).
#[inline]
pub(crate) fn place(route: Route, cx: Context) -> Placement {
    let read = cx.effect == Effect::Read;
    let at = |target| Placement {
        target,
        retryable: false,
        replica_read: false,
        wanted_replica: false,
    };
    if !cx.replicas {
        return Placement {
            wanted_replica: route == Route::Replica,
            ..at(Target::Node(0))
        };
    }
    if cx.effect == Effect::Session && matches!(route, Route::Master | Route::Replica) {
        if let Some(node) = cx.previous.filter(|_| !cx.reads_data) {
            return at(Target::Node(node));
        }
    }
    match route {
        Route::Master => Placement {
            retryable: read,
            ..at(Target::Master)
        },
        Route::Replica => Placement {
            retryable: read,
            replica_read: true,
            wanted_replica: cx.effect != Effect::Session,
            ..at(Target::Balanced)
        },
        Route::Pinned(node, _) => at(Target::Node(node)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Pin;
    use super::*;
    use Effect::*;
    use Target::*;

    /// (route, effect, replicas, previous, reads data) → (target, retryable, replica
    /// read, wanted replica).
    type Case = (
        Route,
        Effect,
        bool,
        Option<usize>,
        bool,
        (Target, bool, bool, bool),
    );

    const PINNED: Route = Route::Pinned(2, Pin::Transaction);

    const CASES: &[Case] = &[
        // reads: retryable unless pinned; balanced reads follow the consistency rules
        (
            Route::Replica,
            Read,
            true,
            Some(0),
            false,
            (Balanced, true, true, true),
        ),
        (
            Route::Master,
            Read,
            true,
            Some(1),
            false,
            (Master, true, false, false),
        ),
        (
            PINNED,
            Read,
            true,
            Some(1),
            false,
            (Node(2), false, false, false),
        ),
        // side effects are never retried
        (
            Route::Master,
            MasterOnly,
            true,
            None,
            false,
            (Master, false, false, false),
        ),
        (
            Route::Master,
            Transaction,
            true,
            None,
            false,
            (Master, false, false, false),
        ),
        (
            Route::Replica,
            Transaction,
            true,
            None,
            false,
            (Balanced, false, true, true),
        ),
        (
            Route::Replica,
            TempTable,
            true,
            None,
            false,
            (Balanced, false, true, true),
        ),
        // session statements stay where the previous statement ran...
        (
            Route::Replica,
            Session,
            true,
            Some(0),
            false,
            (Node(0), false, false, false),
        ),
        (
            Route::Master,
            Session,
            true,
            Some(2),
            false,
            (Node(2), false, false, false),
        ),
        // ... unless their value reads data, or there is no previous node
        (
            Route::Replica,
            Session,
            true,
            Some(0),
            true,
            (Balanced, false, true, false),
        ),
        (
            Route::Master,
            Session,
            true,
            Some(2),
            true,
            (Master, false, false, false),
        ),
        (
            Route::Replica,
            Session,
            true,
            None,
            false,
            (Balanced, false, true, false),
        ),
        (
            PINNED,
            Session,
            true,
            Some(0),
            false,
            (Node(2), false, false, false),
        ),
        // one database: everything there, the route still shown
        (
            Route::Replica,
            Read,
            false,
            None,
            false,
            (Node(0), false, false, true),
        ),
        (
            Route::Master,
            MasterOnly,
            false,
            None,
            false,
            (Node(0), false, false, false),
        ),
        (
            PINNED,
            Read,
            false,
            Some(0),
            false,
            (Node(0), false, false, false),
        ),
    ];

    #[test]
    fn placing_a_route() {
        for &(route, effect, replicas, previous, reads_data, want) in CASES {
            let cx = Context {
                effect,
                replicas,
                previous,
                reads_data,
            };
            let p = place(route, cx);
            let got = (p.target, p.retryable, p.replica_read, p.wanted_replica);
            assert_eq!(got, want, "{route:?} {cx:?}");
        }
    }
}
