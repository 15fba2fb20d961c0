//! Choices made over the topology, with no I/O: which replica may serve a read and which
//! one does.

use super::Topology;
use crate::consistency::Consistency;

impl Topology {
    /// Whether replica `i` may serve a read under `consistency`: up, fresh enough, and
    /// under the latency ceiling.
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
    pub(crate) fn pick_replica(
        &self,
        consistency: Consistency,
        exclude: &[usize],
    ) -> Option<usize> {
        let master = self.master();
        let mut candidates = [0usize; 16];
        let mut n = 0;
        let mut overflow = Vec::new();
        for i in 0..self.nodes.len() {
            if exclude.contains(&i) || !self.is_usable_replica(i, master, consistency) {
                continue;
            }
            if n < candidates.len() {
                candidates[n] = i;
                n += 1;
            } else {
                overflow.push(i);
            }
        }
        if overflow.is_empty() {
            self.balancer.pick(&self.nodes, &candidates[..n])
        } else {
            overflow.extend_from_slice(&candidates[..n]);
            self.balancer.pick(&self.nodes, &overflow)
        }
    }
}
