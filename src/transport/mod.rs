//! Reaching a node: the client's sockets and the watchdog that bounds them.

pub(crate) mod socket;
pub(crate) mod watchdog;
