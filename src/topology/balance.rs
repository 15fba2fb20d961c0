//! Choosing one replica among the usable ones.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::config::BalancePolicy;
use crate::topology::node::Node;

/// The balancing state shared by a cluster's connections.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    pub(crate) policy: BalancePolicy,
    next: AtomicUsize,
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// xorshift64*: statistically fine for spreading load, and no dependency.
fn random_u64() -> u64 {
    RNG.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
            let addr = &state as *const _ as u64;
            x = (seed ^ addr.rotate_left(32)) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

impl Balancer {
    pub(crate) fn new(policy: BalancePolicy) -> Self {
        Balancer {
            policy,
            next: AtomicUsize::new(0),
        }
    }

    /// Picks one of `candidates` (indexes into `nodes`, all usable). `None` when empty.
    #[inline]
    pub(crate) fn pick(&self, nodes: &[Node], candidates: &[usize]) -> Option<usize> {
        match candidates.len() {
            0 => return None,
            1 => return Some(candidates[0]),
            _ => {}
        }
        match self.policy {
            BalancePolicy::RoundRobin => {
                let ticket = self.next.fetch_add(1, Relaxed);
                Some(weighted(nodes, candidates, ticket as u64))
            }
            BalancePolicy::Random => Some(weighted(nodes, candidates, random_u64())),
            BalancePolicy::LeastOutstanding => {
                self.least_by(candidates, |i| nodes[i].outstanding.load(Relaxed))
            }
            BalancePolicy::LeastLag => self.least_by(candidates, |i| {
                nodes[i].lag().map_or(u64::MAX, |d| d.as_millis() as u64)
            }),
            BalancePolicy::LeastLatency => self.least_by(candidates, |i| {
                nodes[i]
                    .latency()
                    .map_or(u64::MAX, |d| d.as_micros() as u64)
            }),
        }
    }

    /// The candidate with the smallest key; ties are broken round-robin so equal nodes
    /// share the load.
    fn least_by(&self, candidates: &[usize], key: impl Fn(usize) -> u64) -> Option<usize> {
        let start = self.next.fetch_add(1, Relaxed) % candidates.len();
        (0..candidates.len())
            .map(|k| candidates[(start + k) % candidates.len()])
            .min_by_key(|&i| key(i))
    }
}

/// Maps a ticket onto the candidates in proportion to their weights.
fn weighted(nodes: &[Node], candidates: &[usize], ticket: u64) -> usize {
    let total: u64 = candidates.iter().map(|&i| u64::from(nodes[i].weight)).sum();
    if total == 0 {
        return candidates[(ticket % candidates.len() as u64) as usize];
    }
    let mut point = ticket % total;
    for &i in candidates {
        let w = u64::from(nodes[i].weight);
        if point < w {
            return i;
        }
        point -= w;
    }
    candidates[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn nodes(weights: &[u32]) -> Vec<Node> {
        let epoch = Instant::now();
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let addr = crate::url::parse("mysql://u:p@h/db")
                    .unwrap()
                    .nodes
                    .remove(0);
                Node::new(format!("n{i}"), addr, w, epoch)
            })
            .collect()
    }

    fn spread(b: &Balancer, nodes: &[Node], candidates: &[usize], n: usize) -> Vec<usize> {
        let mut counts = vec![0; nodes.len()];
        for _ in 0..n {
            counts[b.pick(nodes, candidates).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_is_even_and_weighted() {
        let n = nodes(&[1, 1, 1]);
        let b = Balancer::new(BalancePolicy::RoundRobin);
        assert_eq!(spread(&b, &n, &[1, 2], 1000), vec![0, 500, 500]);
        let n = nodes(&[1, 3, 1]);
        assert_eq!(spread(&b, &n, &[1, 2], 1000), vec![0, 750, 250]);
    }

    #[test]
    fn round_robin_is_shared_across_threads() {
        let n = std::sync::Arc::new(nodes(&[1, 1, 1]));
        let b = std::sync::Arc::new(Balancer::new(BalancePolicy::RoundRobin));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (n, b) = (n.clone(), b.clone());
                std::thread::spawn(move || spread(&b, &n, &[1, 2], 250))
            })
            .collect();
        let mut total = [0; 3];
        for h in handles {
            for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
                *t += c;
            }
        }
        assert_eq!(total, [0, 500, 500]);
    }

    #[test]
    fn random_is_roughly_even() {
        let n = nodes(&[1, 1, 1]);
        let b = Balancer::new(BalancePolicy::Random);
        let c = spread(&b, &n, &[1, 2], 10_000);
        assert!((4000..6000).contains(&c[1]), "{c:?}");
    }

    #[test]
    fn least_policies_prefer_the_better_node() {
        let n = nodes(&[1, 1, 1]);
        n[1].outstanding.store(3, Relaxed);
        let b = Balancer::new(BalancePolicy::LeastOutstanding);
        assert_eq!(spread(&b, &n, &[1, 2], 10), vec![0, 0, 10]);
        n[1].set_lag(Some(Duration::from_secs(3)), Duration::from_secs(10));
        n[2].set_lag(Some(Duration::from_secs(1)), Duration::from_secs(10));
        let b = Balancer::new(BalancePolicy::LeastLag);
        assert_eq!(spread(&b, &n, &[1, 2], 10), vec![0, 0, 10]);
        n[1].set_latency(Duration::from_micros(50));
        n[2].set_latency(Duration::from_micros(500));
        let b = Balancer::new(BalancePolicy::LeastLatency);
        assert_eq!(spread(&b, &n, &[1, 2], 10), vec![0, 10, 0]);
        assert_eq!(b.pick(&n, &[]), None);
    }
}
