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
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::Mutex;

use self::balance::Balancer;
use self::first_round::FirstRound;
use self::node::{Needs, Node, NodeStatus};
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
    /// `config.max_replica_latency` as a replica pick compares it
    /// ([`Needs::latency_ceiling_us`]).
    pub(crate) latency_ceiling_us: i64,
    /// Serialises failover so two connections don't promote or rediscover at once.
    pub(crate) failover_lock: Mutex<Option<Instant>>,
    /// The master's known GTID position and the tokens found ahead of it or unreachable.
    pub(crate) tokens: TokenBook,
    /// Opens when the monitor's first round is over.
    pub(crate) first_round: FirstRound,
    /// Run by the monitor after each round: the URL registry's sweep of clusters that
    /// outlived their linger (see `cluster::registry`), for a cluster shared per URL.
    pub(crate) after_round: OnceLock<fn()>,
}

impl Topology {
    /// The nodes of a cluster (the first is the master), nothing known of them yet.
    pub(crate) fn new(config: Config, nodes: Vec<Node>) -> Topology {
        Topology {
            balancer: Balancer::new(config.balance),
            latency_ceiling_us: Needs::latency_ceiling_us(config.max_replica_latency),
            first_round: FirstRound::new(config.connect_timeout),
            config,
            nodes,
            master: AtomicUsize::new(0),
            failover_lock: Mutex::new(None),
            tokens: Default::default(),
            after_round: OnceLock::new(),
        }
    }

    /// A topology of nodes named `master`, `replica1`, ... at unreachable addresses,
    /// with the default settings: for tests of what is decided from topology data.
    #[cfg(test)]
    pub(crate) fn for_tests(replicas: usize) -> Topology {
        let epoch = Instant::now();
        let nodes = (0..=replicas)
            .map(|i| {
                let url = format!("mysql://u:p@node{i}.invalid:3306/db");
                let address = crate::url::parse(&url)
                    .expect("a valid URL")
                    .nodes
                    .remove(0);
                let name = if i == 0 {
                    "master".to_string()
                } else {
                    format!("replica{i}")
                };
                Node::new(name, address, 1, epoch)
            })
            .collect();
        Topology::new(Config::default(), nodes)
    }

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
