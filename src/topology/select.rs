//! Choices made over the topology, with no I/O: which replica may serve a read and which
//! one does, and which replica a promotion makes the master.

use super::node::{Needs, Node};
use super::Topology;
use crate::consistency::{Consistency, ConsistencyToken};
use crate::error::FailoverError;

impl Topology {
    /// Whether replica `i` may serve a read under `consistency`: up, fresh enough, and
    /// under the latency ceiling. The full rule: a pick asks it only of the nodes whose
    /// flags alone don't tell ([`Node::glance`]).
    #[inline(never)]
    pub(crate) fn is_usable_replica(
        &self,
        i: usize,
        master: usize,
        consistency: Consistency,
    ) -> bool {
        let node = &self.nodes[i];
        if i == master || !node.is_up() {
            return false;
        }
        let fresh_enough = match consistency {
            Consistency::Eventual => true,
            Consistency::Bounded(max) => match node.lag_now() {
                Some(lag) => lag <= max,
                // Not measured yet. With the monitor on, its first round runs as the
                // cluster is built: wait for it (until `connect_timeout` after the build,
                // however many reads come), then a replica still unmeasured is not fresh.
                // With the monitor off nothing ever measures the lag: `Bounded` can't
                // tell and reads as `Eventual`.
                None if node.lag_unmeasured() => match self.config.monitor_interval {
                    None => true,
                    Some(_) => {
                        self.first_round.wait(|| !node.lag_unmeasured());
                        node.lag_now().is_some_and(|l| l <= max)
                    }
                },
                None => false,
            },
            _ => !node.is_lagging(),
        };
        // Slowness is no staleness: the ceiling applies under every consistency.
        let fast_enough = self
            .config
            .max_replica_latency
            .is_none_or(|ceiling| node.latency().is_none_or(|l| l <= ceiling));
        fresh_enough && fast_enough
    }

    /// Picks a replica for a read under `consistency`, skipping `exclude`. `None` when no
    /// replica is usable (the caller falls back to the master).
    #[inline]
    pub(crate) fn pick_replica(
        &self,
        consistency: Consistency,
        exclude: &[usize],
    ) -> Option<usize> {
        let master = self.master();
        let needs = Needs::new(consistency, self.latency_ceiling_us);
        let usable = |i: usize, node: &Node| {
            i != master
                && !exclude.contains(&i)
                && node
                    .glance(needs)
                    .unwrap_or_else(|| self.is_usable_replica(i, master, consistency))
        };
        let mut candidates = [0usize; 16];
        if self.nodes.len() > candidates.len() {
            return self.pick_among_many(usable);
        }
        let mut n = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            if usable(i, node) {
                candidates[n] = i;
                n += 1;
            }
        }
        self.balancer.pick(&self.nodes, &candidates[..n])
    }

    /// [`pick_replica`](Self::pick_replica) in a cluster of more nodes than it keeps on
    /// the stack.
    #[cold]
    #[inline(never)]
    fn pick_among_many(&self, usable: impl Fn(usize, &Node) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (self.nodes.iter().enumerate())
            .filter(|&(i, node)| usable(i, node))
            .map(|(i, _)| i)
            .collect();
        self.balancer.pick(&self.nodes, &candidates)
    }
}

/// What a promotion learned of one node it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reached {
    /// What it applied or received from its master (`@@gtid_current_pos`,
    /// `@@gtid_binlog_pos` and `Gtid_IO_Pos` merged).
    pub(crate) received: ConsistencyToken,
    /// What it applied.
    pub(crate) applied: ConsistencyToken,
}

/// The node `name` names, if any: never the master (`old`).
pub(crate) fn named_node(
    names: &[&str],
    labels: &[&str],
    old: usize,
    name: Option<&str>,
) -> Result<Option<usize>, FailoverError> {
    if names.len() < 2 {
        return Err(FailoverError::NoReplica);
    }
    let Some(name) = name else {
        return Ok(None);
    };
    match names.iter().position(|n| *n == name) {
        None => Err(FailoverError::UnknownNode {
            name: name.to_string(),
            nodes: names.iter().map(|n| n.to_string()).collect(),
        }),
        Some(i) if i == old => Err(FailoverError::AlreadyMaster {
            node: labels[i].to_string(),
        }),
        Some(i) => Ok(Some(i)),
    }
}

/// The replica to promote, from what was found of each node (`None`: not reached).
/// Named: that one. Else the reached replica that has received everything every other
/// reached replica has (none: they diverged). In a failover (`switchover` false) the
/// target must also have received everything every other replica applied: pointing a
/// replica at a master that lacks some of its transactions breaks its replication (GTID
/// strict mode) or silently diverges it.
pub(crate) fn promotion_target(
    reached: &[Option<Reached>],
    labels: &[&str],
    old: usize,
    named: Option<usize>,
    switchover: bool,
) -> Result<usize, FailoverError> {
    let replicas: Vec<usize> = (0..reached.len())
        .filter(|&i| i != old && reached[i].is_some())
        .collect();
    let received = |i: usize| reached[i].as_ref().map(|r| &r.received);
    let target = match named {
        Some(i) => i,
        None => *replicas
            .iter()
            .find(|&&c| {
                replicas
                    .iter()
                    .all(|&o| received(o).is_none_or(|r| received(c).is_some_and(|c| c.covers(r))))
            })
            .ok_or(match replicas.is_empty() {
                true => FailoverError::NoReachableReplica,
                false => FailoverError::Diverged,
            })?,
    };
    if switchover {
        return Ok(target);
    }
    for &o in &replicas {
        let applied = reached[o].as_ref().map(|r| &r.applied);
        if let (Some(c), Some(a)) = (received(target), applied) {
            if o != target && !c.covers(a) {
                return Err(FailoverError::CandidateBehind {
                    node: labels[target].to_string(),
                    other: labels[o].to_string(),
                    has: c.gtid_list(),
                    other_has: a.gtid_list(),
                });
            }
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(received: &str, applied: &str) -> Option<Reached> {
        Some(Reached {
            received: ConsistencyToken::from_gtid_list(received).unwrap(),
            applied: ConsistencyToken::from_gtid_list(applied).unwrap(),
        })
    }

    const LABELS: &[&str] = &["master", "replica1", "replica2"];

    #[test]
    fn names_resolve_to_replicas_only() {
        let names = ["master", "replica1", "replica2"];
        assert_eq!(named_node(&names, LABELS, 0, None), Ok(None));
        assert_eq!(named_node(&names, LABELS, 0, Some("replica2")), Ok(Some(2)));
        assert_eq!(
            named_node(&names, LABELS, 0, Some("master")),
            Err(FailoverError::AlreadyMaster {
                node: "master".into()
            })
        );
        assert!(matches!(
            named_node(&names, LABELS, 0, Some("nope")),
            Err(FailoverError::UnknownNode { nodes, .. }) if nodes.len() == 3
        ));
        assert_eq!(
            named_node(&names[..1], LABELS, 0, None),
            Err(FailoverError::NoReplica)
        );
    }

    /// What was found, the named node, whether it is a switchover, the choice.
    type Case = (
        &'static str,
        Vec<Option<Reached>>,
        Option<usize>,
        bool,
        Result<usize, FailoverError>,
    );

    fn promotion_cases() -> Vec<Case> {
        use FailoverError::*;
        let behind = |node: &str, other: &str, has: &str, other_has: &str| CandidateBehind {
            node: node.into(),
            other: other.into(),
            has: has.into(),
            other_has: other_has.into(),
        };
        vec![
            (
                "the replica that has received the most",
                vec![None, at("0-1-5", "0-1-5"), at("0-1-7", "0-1-6")],
                None,
                false,
                Ok(2),
            ),
            (
                "equal replicas: the first",
                vec![None, at("0-1-5", "0-1-5"), at("0-1-5", "0-1-5")],
                None,
                false,
                Ok(1),
            ),
            (
                "diverged: each has what the other lacks",
                vec![None, at("0-1-5,1-2-1", "0-1-5"), at("0-1-6", "0-1-6")],
                None,
                false,
                Err(Diverged),
            ),
            (
                "no candidate reached",
                vec![at("0-1-9", "0-1-9"), None, None],
                None,
                true,
                Err(NoReachableReplica),
            ),
            (
                "named but behind what another applied, in a failover",
                vec![None, at("0-1-4", "0-1-4"), at("0-1-6", "0-1-6")],
                Some(1),
                false,
                Err(behind("replica1", "replica2", "0-1-4", "0-1-6")),
            ),
            (
                "named and behind, in a switchover (it catches up with the master first)",
                vec![
                    at("0-1-9", "0-1-9"),
                    at("0-1-4", "0-1-4"),
                    at("0-1-6", "0-1-6"),
                ],
                Some(1),
                true,
                Ok(1),
            ),
            (
                "named, others unreachable",
                vec![None, None, at("0-1-2", "0-1-2")],
                Some(2),
                false,
                Ok(2),
            ),
            (
                "received but not applied counts: the other only applied less",
                vec![None, at("0-1-8", "0-1-3"), at("0-1-6", "0-1-6")],
                None,
                false,
                Ok(1),
            ),
        ]
    }

    #[test]
    fn the_choice_of_a_promotion_target() {
        for (what, reached, named, switchover, want) in promotion_cases() {
            let got = promotion_target(&reached, LABELS, 0, named, switchover);
            assert_eq!(got, want, "{what}");
        }
    }

    /// More nodes than the pick keeps on its stack: every usable replica is still a
    /// candidate, in turn, and the master and an excluded or ejected one never are.
    #[test]
    fn a_cluster_of_many_replicas_picks_among_all_of_them() {
        let topology = Topology::for_tests(20);
        topology.nodes[7].eject(std::time::Duration::from_secs(60));
        let mut seen = vec![0; 21];
        for _ in 0..18 * 10 {
            let i = topology
                .pick_replica(Consistency::Eventual, &[3])
                .expect("a replica");
            seen[i] += 1;
        }
        let want: Vec<i32> = (0..21)
            .map(|i| if [0, 3, 7].contains(&i) { 0 } else { 10 })
            .collect();
        assert_eq!(seen, want);
    }

    /// A node's state as the monitor and the connections leave it: ejection (none,
    /// running, run out), Galera's not-serving flag, lag (never measured, unknown,
    /// steady, growing, forgotten) against the monitor's `max_lag`, and latency.
    type NodeState = (u8, bool, u8, u64, u64, Option<u64>);

    fn set_state(
        node: &Node,
        (ejection, not_serving, lag, lag_us, max_lag_us, latency_us): NodeState,
    ) {
        use std::time::Duration;
        match ejection {
            0 => {}
            1 => {
                node.eject(Duration::from_secs(60));
            }
            _ => {
                node.eject(Duration::ZERO);
            }
        }
        if not_serving {
            node.set_not_serving(Some("not synced".into()));
        }
        let (lag_by, max_lag) = (
            Duration::from_micros(lag_us),
            Duration::from_micros(max_lag_us),
        );
        match lag {
            0 => {}
            1 => node.set_lag(None, max_lag),
            2 => node.set_lag(Some(lag_by), max_lag),
            3 => node.set_growing_lag(lag_by, max_lag),
            _ => node.forget_lag(),
        }
        if let Some(us) = latency_us {
            node.set_latency(Duration::from_micros(us));
        }
    }

    fn consistency(kind: u8, micros: u64) -> Consistency {
        let d = std::time::Duration::from_micros(micros);
        match kind {
            0 => Consistency::Eventual,
            1 => Consistency::Bounded(d),
            2 => Consistency::Bounded(std::time::Duration::MAX),
            3 => Consistency::Causal,
            4 => Consistency::Sticky(d),
            _ => Consistency::Strong,
        }
    }

    /// Durations in microseconds on both sides of the millisecond and microsecond
    /// edges that the glance rounds to.
    const EDGES: &[u64] = &[0, 1, 999, 1000, 1001, 1999, 2000, 2001, 2500];

    fn edge() -> proptest::sample::Select<u64> {
        proptest::sample::select(EDGES)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whenever a node's flags tell ([`Node::glance`] is `Some`), they tell what the
        /// full rule says; and they tell for every node that was never ejected, has a
        /// measured lag that is not growing, or is out of service: the pick's quick way
        /// is the usual one.
        #[test]
        fn a_glance_agrees_with_the_full_rule(
            states in proptest::collection::vec(
                (0u8..3, proptest::bool::ANY, 0u8..5, edge(), edge(), proptest::option::of(edge())),
                2..4,
            ),
            kind in 0u8..6,
            bound_us in edge(),
            ceiling_us in proptest::option::of(edge()),
            master in 0usize..2,
        ) {
            let mut topology = Topology::for_tests(states.len() - 1);
            let ceiling = ceiling_us.map(std::time::Duration::from_micros);
            topology.config.max_replica_latency = ceiling;
            topology.latency_ceiling_us = Needs::latency_ceiling_us(ceiling);
            // The ejections of zero length have run out.
            std::thread::sleep(std::time::Duration::from_micros(5));
            let consistency = consistency(kind, bound_us);
            let needs = Needs::new(consistency, topology.latency_ceiling_us);
            for (i, state) in states.iter().enumerate() {
                let node = &topology.nodes[i];
                set_state(node, *state);
                let (ejection, not_serving, lag, ..) = *state;
                let glance = node.glance(needs);
                if let Some(usable) = glance {
                    let full = i != master && topology.is_usable_replica(i, master, consistency);
                    proptest::prop_assert_eq!(i != master && usable, full, "node {} {:?}", i, state);
                }
                // A lag that is growing or was never measured needs the full rule
                // under `Bounded`.
                let lag_tells =
                    !(matches!(consistency, Consistency::Bounded(_)) && (lag == 0 || lag == 3));
                let flags_tell = not_serving || (ejection == 0 && lag_tells);
                proptest::prop_assert_eq!(glance.is_some(), flags_tell, "node {} {:?}", i, state);
                if ejection == 2 {
                    // The full rule sees that the ejection ran out and clears it: the
                    // flags tell again.
                    proptest::prop_assert!(node.is_up() || not_serving);
                    let again = node.glance(needs).is_some();
                    proptest::prop_assert_eq!(again, not_serving || lag_tells, "node {}", i);
                }
            }
        }
    }
}
