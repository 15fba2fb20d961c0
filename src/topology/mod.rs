//! What the cluster is made of and what is known about it: nodes, their health and
//! counters, and replica balancing.

pub(crate) mod balance;
pub(crate) mod node;
pub(crate) mod tokens;
