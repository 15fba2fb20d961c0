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
//! queries), then one pure decision places each: *pins* first, then the *role*, then the
//! *safety rule*, which nothing bypasses.
//!
//! **Pins** are per-connection state living on one node; they only narrow where a read
//! may go. A transaction runs entirely on the node where it began (Diesel's, or a raw
//! `BEGIN`, `SET autocommit = 0`, `LOCK TABLES` or `XA START`, followed statement by
//! statement, also inside a batch), whatever scope is entered inside it;
//! `begin_test_transaction` uses the master. `LAST_INSERT_ID()` is read where this
//! connection's last insert ran, `FOUND_ROWS()` where its last `SELECT` ran,
//! `ROW_COUNT()`, `SHOW WARNINGS` and `GET DIAGNOSTICS` where its previous statement ran,
//! and a statement referring to a temporary table (as a table: `FROM t`, `JOIN t`,
//! `INTO t`, not an alias or a column) where that table was created. A statement needing
//! state from two different nodes is refused ([`Error::PinConflict`]).
//!
//! **The safety rule.** A statement that may change data, take a lock (locking reads,
//! `GET_LOCK`, `LOCK TABLES`), advance a sequence or have any other side effect (`CALL`,
//! `DO`, `XA`, prepared statements, `SELECT .. INTO`, global settings) runs on the master
//! in the master and auto roles, and is refused in replica scope before any server sees
//! it ([`Error::WriteInReplicaRole`], or sent to the master with
//! [`WriteRouting::Master`]). Whatever the classifier can't vouch for counts as such a
//! statement: unknown statements, compound statements (`BEGIN NOT ATOMIC`), calls to
//! functions the server doesn't ship (stored functions and UDFs, whose bodies can't be
//! seen; the list of native ones comes from the server itself), and text that
//! reads differently under another `sql_mode` (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`) or
//! server version (versioned comments). When a pin would send such a statement to a
//! replica (a write after reading a replica's `ROW_COUNT()`, a write reading a temporary
//! table on a replica, a write inside a transaction begun on a replica), it is refused
//! with [`Error::PinnedToReplica`]: never run elsewhere in silence. The one exception is
//! a write whose only targets are temporary tables, which runs where they are: they are
//! this connection's scratch space, not replicated data.
//!
//! **Session state** follows the user: `SET` and `USE` run once, on the node a read of
//! their right-hand side would use (the master for one with a side effect, which replica
//! scope refuses), and their resulting *values* are applied to every other node
//! connection held, in order, and replayed on ones opened later. A constant (`SET
//! time_zone = '+01:00'`, `USE db`) is applied as written; an expression, a subquery or
//! a bound `?` is read back once from the node that evaluated it and applied elsewhere as
//! a literal, so `SET @n = @n + 1` counts once and `SET @id = LAST_INSERT_ID()` gives
//! every node this connection's last insert id. User variables assigned by `SELECT @a :=
//! ..` and `SELECT .. INTO @a` are read back the same way. A session statement that a
//! node refuses leaves every node as it was and fails naming that node; if a node can't
//! be put back, the connection refuses further statements
//! ([`Error::InconsistentSession`]) and reports broken, so a pool drops it. A node
//! opened later that can't take the session (a `USE` of a database it lacks) gets none
//! of this connection's reads. Migrations run on the master.
//!
//! A connection never goes back to an r2d2 pool inside a transaction (raw or Diesel's),
//! with tables locked, an XA transaction open, or an inconsistent session:
//! `R2D2Connection::is_broken` says so and the pool discards it.
//!
//! # Replicas, health and failover
//!
//! **Balancing.** Reads go to the *usable* replicas (not ejected, and fresh enough for the
//! scope's [`Consistency`]), spread by a [`BalancePolicy`]: round-robin (the default, one
//! counter shared by every connection of the cluster, honouring
//! [`Builder::weighted_replica`] weights), random, least outstanding statements, least
//! lag or least latency. With no usable replica, reads go to the master (counted as the
//! master's `fallbacks` in [`NodeStatus`]). With [`Builder::replica_affinity`] a
//! connection keeps reading from one replica while it stays usable (monotonic reads),
//! and the balancing happens across connections.
//!
//! **Health.** A statement that fails with a connection-level error (client errors 2002,
//! 2003, 2006, 2013, a refused or timed-out connect) makes the connection reconnect to
//! that node once; if that fails too, the node is *ejected* for
//! [`Builder::ejection_cooldown`], for every connection of the cluster. A read outside a
//! transaction that failed that way is retried on another replica, then on the master. A
//! write is never retried (it may have committed), and inside a transaction the error
//! goes to the caller. The same holds at a transaction's `BEGIN` (Diesel's
//! `transaction`, depth 0 to 1) and at the pool's ping: a node connection that died
//! while idle (the server killed its session, `wait_timeout`, a restart) is reopened
//! once, with the session state replayed, and the transaction begins there. Nothing
//! after the `BEGIN` is retried: a statement, savepoint or commit that loses its
//! connection fails the transaction, and the node is ejected only if a fresh connection
//! to it fails too. So one connection's lost session never takes the master away from
//! the others; the monitor's own connections follow the same rule (a kept connection
//! that fails is replaced once before the node is ejected, unless the node missed the
//! check's deadline: see *Hung servers*). An ejected node is back as soon as the monitor's probe succeeds,
//! or when the cooldown ends. Connecting is bounded by [`Builder::connect_timeout`] (a
//! TCP connect, then a wait for the server's greeting, each with that timeout, run
//! before the MySQL handshake), so a dead host or a hung server costs one bounded failure
//! per cooldown, not a hang.
//!
//! **Hung servers.** A server *process* that stops answering while its host still does
//! (stopped, stuck on a dead disk) keeps TCP alive, so no network timeout ends a
//! statement waiting on it. The monitor runs each node's checks under a deadline of
//! [`Builder::network_timeout`]; a node that misses it is ejected, and every open
//! connection of the cluster to it is cut (its socket shut down): reads waiting on it are
//! retried elsewhere, and a write in flight fails with "lost connection" and is not
//! retried. Only sockets still registered are cut, and each only after checking that its
//! descriptor still names it (same inode, local and peer address): a connection's socket
//! is unregistered at its first connection-level error, since the client library closes
//! it by itself then and the number may be reused by an unrelated file. Measured in
//! `tests/fleet.rs`: with a 3 s `network_timeout`, reads caught on a
//! frozen replica returned from the other one after 3.2 s.
//!
//! **Lag.** One monitor thread per cluster (none without replicas or with
//! [`Builder::monitor_interval`]`(None)`; it ends when the cluster is dropped) pings every
//! node each interval, ejecting or readmitting it, and reads each replica's `SHOW SLAVE
//! STATUS`. A replica's lag is `Seconds_Behind_Master`, or its `MASTER_DELAY` when that is
//! larger (every write reaches it that late, even while it is idle and reports 0); it is
//! unknown while a replication thread is stopped. With [`Builder::heartbeat`] it is
//! measured to the millisecond instead (see [Observability](#observability)). Under
//! the default consistency, `Bounded(max_replica_lag)`, a replica whose lag is unknown
//! or above the bound gets no reads; `Eventual` reads still use it. While the master is unreachable, a replica
//! that applied everything it received counts as 0 behind (nothing fresher exists
//! anywhere), so replica reads go on through a master outage. The lag is unknown
//! ([`NodeStatus::lag`] `None`) until the monitor first measured it, and while the
//! replica is down. The monitor's first round starts as the cluster is built; a
//! `Bounded` read made before it measured a replica waits for that round (until
//! `connect_timeout` after the build, however many reads come), then counts a replica
//! still unmeasured as not fresh (the read goes to the master). Without a monitor the
//! lag is never known: `Bounded` can't tell and reads as `Eventual` (replicas count as
//! fresh).
//!
//! **Missing privilege.** When the monitor can't read a replica's status (its account
//! lacks `SLAVE MONITOR`), the lag counts as unknown and [`NodeStatus::monitor_error`] says
//! why ([`Cluster::status`] prints it, and it is logged once). [`Builder::build`] does not
//! check it: building never touches the network, so an application can start while a
//! replica is down. The monitor's first round runs as soon as the cluster is built.
//!
//! **Refused logins are the caller's.** A node that answers and refuses the connection
//! (wrong user or password, a missing grant, an unknown database, an authentication
//! plugin the client lacks: MySQL errors 1044, 1045, 1049, 1129, 1130, 1226, 1251, 1698,
//! 1862, 2059, 2061, 4151) is not failing: no retry elsewhere would fix it, and one would
//! only hide it. The statement fails with [`Error::NodeRefused`] (a Diesel
//! `DatabaseError` of kind `Unknown`, message prefixed `diesel-cluster:`, naming the node
//! and quoting the server, which names the user, never the password); the node is not
//! ejected, the read is not retried on another node, and no failover or master
//! rediscovery follows. The monitor logs in with each node's own credentials (those of
//! the application's connections), so a refusal there is the same mistake: it is logged
//! once at `error` (and at `info` when a login works again), shown in
//! [`NodeStatus::monitor_error`], and the node is not ejected; a replica's lag then
//! counts as unknown, as under *Missing privilege*. [`Cluster::promote`] refuses to run
//! when the master refuses its admin login: the master answers, so it must be made
//! read-only first, and a failover would leave two writable nodes.
//!
//! **Passwords are never shown.** [`Error`]'s `Display` and `Debug`, the
//! `ConnectionError` of `ClusterConnection::establish`, `Debug` of [`Builder`],
//! [`Cluster`] and [`ClusterConnection`], [`Cluster::status`] and the log records hold
//! no password. An invalid URL is shown masked by its structure, not by looking for the
//! password (in a malformed URL nobody knows what it is): everything from the user's `:`
//! to the *last* `@` becomes `***`, as does the value of every option whose name holds
//! `pass`, `pwd` or `secret` (`replica_password`), up to the next known option; a part of
//! the URL an error would quote (a host, an option) is replaced by a note when it lies in
//! a masked range; a URL with no `scheme://` at its start or no `@` is not shown at all.
//! A `#`, `?`, `/`, `@` or `:` in a password should be percent-encoded (`%23`, `%3F`,
//! `%2F`, `%40`, `%3A`); the errors say so when one is not. A `NUL` byte (`%00`) in a user
//! name, password or database name is refused (the MySQL client can't send it).
//! Diesel itself hands each node's URL, with its password, to the `url` of its
//! `InstrumentationEvent::StartEstablishConnection` events (as for a `MysqlConnection`;
//! Diesel documents it): an instrumentation must not print that field.
//!
//! **Failover.** While the master is ejected, the cluster looks for a node with
//! `read_only = 0` (from the monitor and from writes, at most every 500 ms) and makes it
//! the master: an outside tool promoted it. Only a node that replicates from nobody
//! (`SHOW ALL SLAVES STATUS`: no IO thread running or connecting, no SQL thread running)
//! and has every transaction the master was last seen with (`@@gtid_binlog_pos` and
//! `@@gtid_current_pos` against the master's position as the monitor and the
//! connections' write positions last saw it, per GTID domain) is taken: a writable
//! replica that still replicates, or one behind the master, is refused (logged, once
//! per reason), and writes keep failing with [`Error::NoMaster`] rather than splitting
//! the cluster's history. [`Cluster::promote`] does the MariaDB GTID
//! promotion itself: a *switchover* when the master answers (no write lost; the old
//! master becomes a replica), a *failover* when it doesn't. Every connection of the
//! cluster, including those made before, writes to the new master from its next
//! statement. While no master is reachable, writes fail at once: the first with the
//! client's connection error, later ones with [`Error::NoMaster`] (a Diesel
//! `DatabaseError` of kind `ClosedConnection`, message prefixed `diesel-cluster:`).
//!
//! **Credentials follow the role.** The node that is the master is always reached with
//! the master's credentials (the first node's), the others with their own (e.g.
//! [`Builder::replica_credentials`]). A replica configured with a read-only account thus
//! takes writes once promoted: each connection reopens it with the master's account
//! (replaying its session state; temporary tables on it are lost). That account must
//! exist on every node, which replicated grants give.
//!
//! **Measured** in `tests/fleet.rs` (2 cores shared by 3 servers, monitor every 200 ms,
//! cooldown 1 s): 4 threads reading in replica scope for 10 s (~17 000 reads) while both
//! replicas were killed one after the other and restarted: 0 failed reads, reads moved to
//! the surviving replica, then to the master, and a restarted replica served reads again
//! within 0.6 s of the restart command, server start included (the monitor readmits it
//! at its first successful probe). 1000 round-robin reads over 4 connections: 500/500.
//! A stopped SQL thread or a `MASTER_DELAY` above `max_replica_lag`: no more reads from
//! the monitor's next round (0.1 s). Connecting to a port where nothing listens: ~60 us
//! and one ejection. `promote`: ~0.1 s for a failover, ~0.2 s for a switchover; a master
//! promoted by an outside tool was found within 0.5 s.
//!
//! # Read-your-writes
//!
//! Replicas apply the master's writes a little later, so a read on a replica right after
//! a write may not see it. The [`Consistency`] of the reading scope decides what happens
//! ([`with_consistency`], or [`Builder::consistency`] for the default):
//!
//! | mode | a replica read after this connection wrote |
//! |---|---|
//! | `Strong` | goes to the master |
//! | `Bounded(lag)`, `Eventual` | goes to a replica, which may not have the write yet (under `Bounded`, one the monitor measured at most `lag` behind) |
//! | `Causal` (MariaDB GTID) | waits on the chosen replica until it applied the write (`MASTER_GTID_WAIT`), or reads from the master after [`Builder::causal_timeout`] |
//! | `Sticky(window)` | goes to the master until `window` after the write, then to replicas again (for servers without GTID) |
//!
//! A *write* is a committed change on the master: a data-changing statement in
//! autocommit, the commit of a Diesel transaction that changed data, a raw `COMMIT` (or
//! `SET autocommit = 1` after `SET autocommit = 0`) ending a raw transaction that changed
//! data. A rolled-back transaction is no write. A read-only transaction begun on a
//! replica (replica role) waits at `BEGIN` like a single read.
//!
//! A write's position is its GTID, read lazily from the master session's `@@last_gtid`.
//! [`ClusterConnection::consistency_token`] returns it as a [`ConsistencyToken`]: one
//! `domain-server-sequence` GTID per replication domain, joined with `_`
//! (`0-1-10_1-2-5`), fit for a cookie or header. `parse()` accepts only that form, up to
//! 512 bytes; anything else is [`Error::InvalidToken`], never a panic. [`with_token`],
//! [`use_token`] and [`Scope::token`] make the replica reads of a scope, on any
//! connection and thread, wait for a token in every mode but `Strong` (whose reads are on
//! the master already).
//!
//! **What a token can cost.** Tokens come from clients (a cookie, a header), so a
//! forged one must cost no more than one bounded wait (design 5a):
//!
//! * A token is first checked against the master's GTID position (`@@gtid_binlog_pos`,
//!   read by the monitor every round and by each connection when it reads its own
//!   write's position). A token ahead of it, in sequence or naming a domain the master
//!   doesn't have, may still come from a write committed since; so the master's current
//!   position is read once (one round trip on the master) before deciding. Still ahead:
//!   the token is forged (or from another cluster), and the read goes to the **master**,
//!   the one node sure to have every write, with no wait anywhere; the cluster remembers
//!   the token (64 at most), so later reads with it cost nothing more, and
//!   [`ClusterStatus::rejected_tokens`] counts them (logged at `debug`). A genuine
//!   token is never rejected: it is always within the master's current position.
//!   Server ids are not compared (after a failover a domain's last GTID carries the new
//!   master's), only sequences per domain, as `MASTER_GTID_WAIT` does.
//! * A token that a replica did not reach within the causal timeout is remembered by
//!   the cluster: reads with it go to the master without waiting, until a replica is
//!   seen to have it (by the monitor, or by a wait for a later token) or ten causal
//!   timeouts have passed.
//! * No wait is made on a replica the monitor found with replication stopped or
//!   broken, or further behind than the causal timeout (a `MASTER_DELAY` larger than
//!   it, say), in any mode, `Eventual` included: the read goes to another replica, or
//!   to the master.
//!
//! Measured in `tests/tokens.rs` with the servers' own counters
//! (`Master_gtid_wait_count`): 80 reads with 4 forged tokens over 3 connections ran **0**
//! `MASTER_GTID_WAIT` and 4 reads of the master's position (before: 80 waits, each a
//! full timeout); 60 reads with a token both replicas could not reach ran **1** wait
//! (before: 60); 20 fresh tokens from another process, each newer than the reader's
//! known master position, read their writes 20 of 20 on the undelayed replica with a
//! position check and a wait each, and the replica delayed by 3 s got no wait (before:
//! 10 waits, all timed out); 20 `Eventual` token reads with a stopped replica waited on
//! it 0 times (before: 10).
//!
//! Costs, counted by [`ClusterConnection::internal_statements`] in `tests/causal.rs`:
//! a causal read with nothing written sends **0** extra statements, and so does the
//! write itself; the first replica read after a write sends **2** (`SELECT @@last_gtid`
//! on the master, `MASTER_GTID_WAIT` on the replica); a later read sends **0** on a
//! replica that already confirmed the position to this connection and **1** on another;
//! `consistency_token()` sends 1 the first time after a write, 0 otherwise; `Sticky`
//! sends none. A read with a token from elsewhere (another connection, a cookie) newer
//! than the master's position the cluster knows sends 1 more, once per token: reading
//! the master's position (own writes never need it: their position is read with it). Over 1000 write-then-read pairs (Auto role, two replicas, one with its SQL
//! thread stopped for the first 300 pairs) `Causal` read 0 stale values and `Eventual`
//! 451 to 878 in five runs (most reads right after a write beat replication, not only those of the
//! stopped replica). A causal read there waits for the replica to apply the write just
//! made: on a 2-core machine running all three servers, a causal read after a write
//! took ~1.4 ms against ~0.4 ms for an `Eventual` one when quiet, and the 1000 pairs
//! took 1.4 to 7 s (`Eventual`: 0.6 to 1.6 s) depending on the load.
//!
//! Waits and their outcomes are counted per replica in [`NodeStatus`] (`causal_waits`,
//! `causal_timeouts`, and `fallbacks` for reads that went to the master instead; a
//! sticky window is planned routing and not counted). `@@last_gtid` is empty when the
//! session's writes changed nothing or the session was lost after the write (it is then
//! reconnected once): the master's `@@gtid_binlog_pos`, read in the same statement, is
//! used instead, since it covers the write. When no position can be read at all, causal
//! reads go to the master.
//!
//! # Observability
//!
//! * **Where a statement ran:** [`ClusterConnection::last_node`] (and
//!   [`last_node_is_master`](ClusterConnection::last_node_is_master)).
//! * **Query log:** [`ClusterConnection::set_query_log`] (or [`Builder::query_log`])
//!   records each statement's node, role, SQL and duration ([`QueryLogEntry`]), like
//!   Django's `connection.queries`; switchable at run time.
//! * **Status:** [`Cluster::status`] is a snapshot of every node ([`NodeStatus`]: role,
//!   health, replication state, lag, heartbeat lag, `Seconds_Behind_Master`, latency,
//!   GTID position, counters); its `Display` is a table. `examples/status.rs` prints it
//!   live for a URL (`cargo run --example status -- URL`, `--once` for one table).
//! * **Logs:** routing decisions (`debug`, target `diesel_cluster::routing`), ejections
//!   and re-admissions, lagging and caught-up replicas, through `log`, with node names.
//! * **Metrics** (cargo feature `metrics`), through the `metrics` facade, each with the
//!   label `node`: counters `diesel_cluster_statements_total`, `_errors_total`,
//!   `_ejections_total`, `_retries_total`, `_fallbacks_total`, `_causal_waits_total`,
//!   `_causal_timeouts_total`; gauges `diesel_cluster_replica_lag_seconds` (`+Inf` while
//!   unknown) and `diesel_cluster_latency_seconds`; histogram
//!   `diesel_cluster_causal_wait_seconds`. The counters are bumped where
//!   [`NodeStatus`]'s are, so both agree. Gauges are set by the monitor thread: they
//!   reach a global recorder, not one installed with `metrics::with_local_recorder`.
//!
//! **Precise lag.** `Seconds_Behind_Master` counts whole seconds and says 0 while a
//! replica is hundreds of milliseconds behind (NULL while a thread is stopped).
//! [`Builder::heartbeat`] (URL `heartbeat=true`) makes the monitor write a timestamp row
//! on the master every interval and compare each replica's copy with the value it wrote
//! (master clock against master clock: host clocks never meet), to the millisecond;
//! `max_replica_lag` and `Consistency::Bounded` then use it. **Latency:**
//! [`BalancePolicy::LeastLatency`] sends reads to the replica with the smallest round
//! trip the monitor measured, and [`Builder::max_replica_latency`] gives no reads to a
//! replica slower than a ceiling.
//!
//! **Measured** in `tests/observe.rs` (monitor every 50 ms, 2 cores shared by 3
//! servers, six runs): a replica whose SQL thread was stopped for 500 ms peaked at a
//! heartbeat lag of 521 to 531 ms (stall + 20 to 29 ms, the heartbeat's granularity),
//! while `Seconds_Behind_Master` said NULL in the same monitor round; under
//! `Bounded(200 ms)`, of ~410 replica reads during the stall, the last one on that
//! replica ran 152 to 154 ms after it stopped (none once it was 200 ms behind) and the
//! rest went to the other replica. A replica kept slow to answer (stopped 40 ms of every
//! 50: 5 to 12 ms per ping against 0.7 to 0.9 ms) got 0 of 200 reads under
//! `LeastLatency`, and 0 of 200 round-robin reads under a 5 ms latency ceiling, until it
//! recovered.
//!
//! # Web
//!
//! With the cargo feature `axum`, the `web` module brings the request policy of a
//! read/write-splitting web stack to axum and other tower stacks: `ReplicationLayer`
//! gives each request a role from its method (`GET`, `HEAD`, `OPTIONS` read from
//! replicas) with per-route overrides (`force_role`); the `Db` extractor runs Diesel on a
//! blocking thread inside the request's scope; a response to a request that wrote sets a
//! cookie carrying its `ConsistencyToken` (or a sticky window) so the client's next
//! `GET` reads its own write; `MasterSessionStore` keeps tower-sessions on the master.
//! `examples/web.rs` is a guestbook built with it.
//!
//! # Limits
//!
//! * Per-connection state the router can't place as one connection would is refused
//!   rather than guessed (see [Routing](#routing)); the README's *Limits* list says
//!   each case and what happens instead. Warnings (`@@warning_count`, `SHOW WARNINGS`)
//!   are those of the previous statement's node: one connection keeps them through later
//!   statements that use no table, which on another node are not seen. A connection
//!   that ran `GET_LOCK` reports broken until `RELEASE_ALL_LOCKS()`.
//! * Diesel's MySQL client has no read timeout. Connecting is bounded by
//!   [`Builder::connect_timeout`] (a TCP probe runs first), and a statement on an open
//!   connection whose peer went silent at the network level (partition, host gone) fails
//!   after about [`Builder::network_timeout`] (TCP keepalive and `TCP_USER_TIMEOUT`, set
//!   on each node socket; Linux), after which a read is retried elsewhere: measured in
//!   `tests/partition.rs`, a read in flight when the partition began returned from the
//!   master after 4.2 s with a 3 s network timeout. A server *process* that hangs while
//!   its host still answers TCP is found by the monitor (see *Hung servers* above), so
//!   with the monitor off its statements wait. A statement that legitimately runs longer
//!   than `network_timeout` is never cut while its server answers the monitor's ping.
//! * Diesel's MySQL errors carry the client's message, not its error number, so
//!   connection-level failures are recognised by message (2002, 2003, 2006, 2013).
//! * `MysqlConnection::establish` of each node reports to Diesel's *default*
//!   instrumentation (if one is set globally) when the node connection opens.
//! * The monitor checks nodes one after another: a host that drops packets delays its
//!   round by up to [`Builder::connect_timeout`] (new connection) or
//!   [`Builder::network_timeout`] (open connection). If the master dies in the middle of a
//!   round, the replicas may count as lagging until the next round, and lag-bounded
//!   reads meanwhile go to the dead master and fail.
//! * [`Cluster::promote`] is MariaDB GTID only. It points replicas at the host and port
//!   the cluster uses for the new master. A failover refuses a replica that lacks what
//!   the dead master was last seen with; writes it committed after that and no reachable
//!   replica received are still lost (asynchronous replication: the monitor reads the
//!   master's position once per interval, connections whenever they read their write's
//!   position: causal reads, `consistency_token`). That position is kept in memory, per
//!   [`Cluster`]: without the monitor and causal reads it is never known, and only the
//!   replication check guards rediscovery. A failover leaves the old master alone:
//!   started again as it was, it would be writable and diverged, so re-attach it as a
//!   replica first. Replicas that were unreachable during `promote` still point at the
//!   old master.
//!
//! [Diesel]: https://diesel.rs

#![warn(missing_docs)]

mod classify;
mod cluster;
mod config;
mod connection;
mod consistency;
mod error;
mod failover;
mod instrument;
mod metrics;
mod monitor;
mod pool;
#[cfg(test)]
mod proptests;
mod querylog;
mod role;
mod routing;
mod scope;
mod session;
mod status;
mod topology;
mod transport;
mod url;
#[cfg(feature = "axum")]
pub mod web;

pub use crate::cluster::{Builder, Cluster};
pub use crate::config::BalancePolicy;
pub use crate::config::WriteRouting;
pub use crate::connection::{
    ClusterConnection, ClusterTransactionManager, ClusterTransactionState,
};
pub use crate::consistency::{Consistency, ConsistencyToken};
pub use crate::error::{Error, FailoverError};
pub use crate::pool::ClusterManager;
pub use crate::querylog::{NodeKind, QueryLogEntry};
pub use crate::role::Role;
pub use crate::scope::{
    current_consistency, current_role, use_consistency, use_master, use_replica, use_role,
    use_token, with_consistency, with_master, with_replica, with_role, with_token, Scope,
    ScopeGuard,
};
pub use crate::status::ClusterStatus;
pub use crate::topology::node::{Health, NodeStatus};

/// Internals the benchmarks in `benches/` time on their own. Not part of the API: no
/// stability promise, may change in any release.
#[doc(hidden)]
pub mod __bench {
    use diesel::mysql::Mysql;
    use diesel::query_builder::{QueryFragment, QueryId};

    use crate::{ClusterConnection, Role, WriteRouting};

    /// Classifies a rendered SQL string and decides where it goes in `role`, as the
    /// connection does for a statement whose SQL is not cached. `Some(true)`: a replica,
    /// `Some(false)`: the master or a session broadcast, `None`: refused.
    pub fn route_sql(role: Role, sql: &str) -> Option<bool> {
        let class = crate::classify::classify(sql);
        let input = crate::routing::Input {
            role,
            class,
            effect: crate::routing::effect(class, false),
            writes: WriteRouting::Refuse,
            master: 0,
            pins: crate::routing::Pins::default(),
        };
        crate::routing::decide(&input)
            .ok()
            .map(|route| route == crate::routing::Route::Replica)
    }

    /// Everything `ClusterConnection` decides before it runs `query` (classification,
    /// cached per `TypeId` when the query's id is static, pins, role, balancer,
    /// consistency), without running it. Returns the chosen node's index.
    pub fn plan<T: QueryFragment<Mysql> + QueryId>(
        conn: &mut ClusterConnection,
        query: &T,
    ) -> diesel::QueryResult<usize> {
        conn.route_only(query)
    }
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
