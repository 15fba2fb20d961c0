//! What the cluster is made of and what is known about it, shared by every connection
//! and the monitor: the nodes ([`node`]) with their health, lag and counters, which one
//! is the master, the consistency tokens seen ([`tokens`]), whether the monitor's first
//! round is over ([`first_round`]), and the pure choices made over them ([`select`]:
//! which replica serves a read, which replica a promotion picks; [`balance`]: the
//! balancing policies).

pub(crate) mod balance;
pub(crate) mod first_round;
pub(crate) mod node;
pub(crate) mod select;
pub(crate) mod tokens;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;

use self::balance::Balancer;
use self::first_round::FirstRound;
use self::node::{Node, NodeStatus};
use self::tokens::TokenBook;
use crate::config::Config;

/// State shared by every connection of one cluster, and by its monitor: the settings,
/// the nodes with what is known of them, and which node is the master.
pub(crate) struct Topology {
    pub(crate) config: Config,
    pub(crate) nodes: Vec<Node>,
    /// Index of the node that currently takes writes.
    pub(crate) master: AtomicUsize,
    pub(crate) balancer: Balancer,
    /// Serialises failover so two connections don't promote or rediscover at once.
    pub(crate) failover_lock: Mutex<Option<Instant>>,
    /// The master's known GTID position and the tokens found ahead of it or unreachable.
    pub(crate) tokens: TokenBook,
    /// Opens when the monitor's first round is over.
    pub(crate) first_round: FirstRound,
}

impl Topology {
    #[inline]
    pub(crate) fn master(&self) -> usize {
        self.master.load(Relaxed)
    }

    pub(crate) fn set_master(&self, index: usize) {
        self.master.store(index, Relaxed);
    }

    #[inline]
    pub(crate) fn has_replicas(&self) -> bool {
        self.nodes.len() > 1
    }

    pub(crate) fn status(&self) -> Vec<NodeStatus> {
        let master = self.master();
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| n.status(i == master))
            .collect()
    }
}
