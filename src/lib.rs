//! Read/write splitting for [Diesel] on a replicated MySQL/MariaDB cluster.
//!
//! [`ClusterConnection`] is a Diesel `Connection` over one master and any number of read
//! replicas. It replaces `MysqlConnection` in an application with no other change: every
//! statement runs on the master until code asks for replicas, by role, for a scope:
//!
//! ```no_run
//! use diesel::prelude::*;
//! use diesel_cluster::{with_replica, ClusterConnection};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // First host: the master; the others: replicas.
//! let mut conn = ClusterConnection::establish(
//!     "mysql://app:pw@10.0.0.1:3306,10.0.0.2:3306,10.0.0.3:3306/app",
//! )?;
//!
//! // Writes (and everything outside a scope) go to the master.
//! diesel::sql_query("INSERT INTO notes (body) VALUES ('hello')").execute(&mut conn)?;
//!
//! // Reads in a replica scope go to a replica; writes there are refused.
//! let n: i64 = with_replica(|| {
//!     diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) FROM notes"))
//!         .get_result(&mut conn)
//! })?;
//! println!("{n} notes, read from {:?}", conn.last_node());
//! # Ok(()) }
//! ```
//!
//! # Roles
//!
//! The role is read from a thread-scoped stack at each statement: [`with_master`],
//! [`with_replica`], [`with_role`] run a closure in a scope; [`use_master`],
//! [`use_replica`], [`use_role`] return a guard; the innermost scope wins and the outer one
//! comes back on every exit, panics included. Outside any scope the cluster's default
//! role applies ([`Role::Master`] unless [`Builder::default_role`] says otherwise).
//!
//! | role | reads | writes | transactions |
//! |---|---|---|---|
//! | [`Role::Master`] | master | master | master |
//! | [`Role::Replica`] | a replica (the master if none is usable) | refused before reaching a server ([`WriteRouting`]) | one replica |
//! | [`Role::Auto`] | a replica | master | master |
//!
//! # Routing
//!
//! Statements are classified from their SQL (once per query type for Diesel's typed
//! queries): plain reads may go to replicas; locking reads (`FOR UPDATE`, `LOCK IN SHARE
//! MODE`), named locks (`GET_LOCK`), sequences and unknown statements go to the master;
//! statements reading the previous statement's state (`LAST_INSERT_ID()`, `FOUND_ROWS()`,
//! `ROW_COUNT()`, `SHOW WARNINGS`, `GET DIAGNOSTICS`) go where the previous statement ran;
//! statements naming a temporary table go where it was created. A transaction runs
//! entirely on the node where it began, whatever scope is entered inside it;
//! `begin_test_transaction` uses the master. `SET` and `USE` apply to every node
//! connection and are replayed on new ones. Migrations run on the master.
//!
//! # Replicas
//!
//! Reads are balanced over usable replicas ([`BalancePolicy`]). A node that fails with a
//! connection-level error is reconnected once; if that fails it is ejected for a cooldown
//! (shared by every connection of the cluster), and a read is retried on another replica,
//! then on the master. Writes are never retried. A monitor thread per cluster reads each
//! replica's lag and keeps replicas behind `max_replica_lag` (or with replication stopped)
//! out of reads. [`Consistency`] picks, per scope, how fresh a read must be, including
//! read-your-writes with GTIDs ([`Consistency::Causal`], [`ConsistencyToken`]).
//!
//! # Limits
//!
//! * Diesel's MySQL client has no read timeout: a node that accepts a connection and then
//!   stops answering mid-statement blocks that statement. Connecting is bounded by
//!   [`Builder::connect_timeout`] (a TCP probe runs first).
//! * Diesel's MySQL errors carry the client's message, not its error number, so
//!   connection-level failures are recognised by message (2002, 2003, 2006, 2013).
//! * `MysqlConnection::establish` of each node reports to Diesel's *default*
//!   instrumentation (if one is set globally) when the node connection opens.
//!
//! [Diesel]: https://diesel.rs

#![warn(missing_docs)]

mod balance;
mod classify;
mod cluster;
mod connection;
mod consistency;
mod error;
mod failover;
mod instrument;
mod monitor;
mod node;
mod pool;
mod querylog;
mod role;
mod routing;
mod session;
mod status;
mod url;

pub use crate::balance::BalancePolicy;
pub use crate::cluster::{Builder, Cluster, WriteRouting};
pub use crate::connection::{
    ClusterConnection, ClusterTransactionManager, ClusterTransactionState,
};
pub use crate::consistency::{
    current_consistency, use_consistency, use_token, with_consistency, with_token, Consistency,
    ConsistencyToken,
};
pub use crate::error::Error;
pub use crate::node::{Health, NodeStatus};
pub use crate::pool::ClusterManager;
pub use crate::querylog::{NodeKind, QueryLogEntry};
pub use crate::role::{
    current_role, use_master, use_replica, use_role, with_master, with_replica, with_role, Role,
    Scope, ScopeGuard,
};
pub use crate::status::ClusterStatus;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
