//! Reaching a node: opening a connection within a bounded time ([`connect`]), what its
//! errors mean ([`errors`]), finding and bounding the client's socket ([`socket`]), and
//! the watchdog that cuts a socket whose peer stopped answering ([`watchdog`]).
//!
//! Nothing here knows about clusters or routing: the monitor, failover and every
//! connection type open nodes through [`connect::connect_node`].

pub(crate) mod connect;
pub(crate) mod errors;
pub(crate) mod socket;
pub(crate) mod watchdog;

pub(crate) use self::connect::{connect_node, Connected, Guarded, NodeConn};
pub(crate) use self::errors::{is_connection_error, open_error};
