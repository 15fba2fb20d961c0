//! A replica pick's first look at a node: what its flags alone say of whether a read
//! may go there ([`Node::glance`]), in the units the node keeps them in ([`Needs`]).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::{Node, LAG_NOT_MEASURED};
use crate::consistency::Consistency;

/// What a replica read needs of a node, in the units the node keeps (see
/// [`Node::glance`]); worked out once per pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    fresh: Freshness,
    /// `max_replica_latency` in whole microseconds (`i64::MAX`: no ceiling).
    latency_ceiling_us: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    /// `Eventual`: any lag.
    Any,
    /// `Bounded`: a measured lag of at most this many whole milliseconds.
    AtMostMs(u64),
    /// Every other consistency: the monitor's lagging flag is down.
    NotLagging,
}

impl Needs {
    /// `latency_ceiling_us`: from [`Needs::latency_ceiling_us`], worked out once per
    /// cluster.
    #[inline]
    pub(crate) fn new(consistency: Consistency, latency_ceiling_us: i64) -> Needs {
        let fresh = match consistency {
            Consistency::Eventual => Freshness::Any,
            // A lag of `ms` whole milliseconds is at most `max` exactly when `ms` is at
            // most `max`'s whole milliseconds. Capped below the two markers, so that
            // `LAG_UNKNOWN` is never within it (and `LAG_NOT_MEASURED` is seen first).
            Consistency::Bounded(max) => Freshness::AtMostMs(
                (max.as_secs().saturating_mul(1000))
                    .saturating_add(u64::from(max.subsec_millis()))
                    .min(LAG_NOT_MEASURED - 1),
            ),
            _ => Freshness::NotLagging,
        };
        Needs {
            fresh,
            latency_ceiling_us,
        }
    }

    /// `max_replica_latency` in whole microseconds, `i64::MAX` for none: a latency of
    /// `us` whole microseconds is within the ceiling exactly when `us` is within it.
    pub(crate) fn latency_ceiling_us(ceiling: Option<Duration>) -> i64 {
        ceiling.map_or(i64::MAX, |c| c.as_micros().min(i64::MAX as u128) as i64)
    }
}

impl Node {
    /// Whether a replica read that needs `needs` may go to this node, as far as its
    /// flags alone tell: `None` when only the full rule
    /// ([`Topology::is_usable_replica`](crate::topology::Topology::is_usable_replica)) can say,
    /// because the node was ejected (the ejection may have run out: that takes the
    /// clock), its lag is growing (it needs the clock too) or was never measured (the
    /// rule may wait for the monitor's first round). Otherwise the same answer as the
    /// full rule, from one pass over a few atomics: the property test
    /// `a_glance_agrees_with_the_full_rule` holds the two equal.
    #[inline]
    pub(crate) fn glance(&self, needs: Needs) -> Option<bool> {
        if self.not_serving.load(Relaxed) {
            return Some(false);
        }
        if self.ejected_until.load(Relaxed) != 0 {
            return None;
        }
        let fresh = match needs.fresh {
            Freshness::Any => true,
            Freshness::NotLagging => !self.lagging.load(Relaxed),
            Freshness::AtMostMs(max) => {
                let ms = self.lag_ms.load(Relaxed);
                if ms == LAG_NOT_MEASURED || self.lag_growing.load(Relaxed) {
                    return None;
                }
                // `LAG_UNKNOWN` is above every `max` (see `Needs::new`).
                ms <= max
            }
        };
        // A negative latency (not measured) is under every ceiling.
        Some(fresh && self.latency_us.load(Relaxed) <= needs.latency_ceiling_us)
    }
}
