//! [`Builder`]: a cluster's nodes and settings, checked at [`Builder::build`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Cluster;
use crate::config::{BalancePolicy, Config, WriteRouting, HEARTBEAT_TABLE};
use crate::consistency::Consistency;
use crate::error::Error;
use crate::galera::ClusterKind;
use crate::role::Role;
use crate::topology::node::Node;
use crate::topology::Topology;
use crate::url::{self, NodeAddress, Secret};

/// Builds a [`Cluster`]. Every setting is checked at [`build`](Builder::build); each
/// method says its default.
#[derive(Default)]
pub struct Builder {
    nodes: Vec<(Option<String>, u32, Result<NodeAddress, Error>)>,
    replica_credentials: Option<(String, Secret)>,
    /// The settings: the defaults, then what the methods set.
    config: Config,
    /// Settings a method set: the URL's options leave them alone.
    set: Vec<&'static str>,
    /// Query options of the URLs given, applied at `build`.
    options: Vec<(String, String)>,
    /// URL options whose value may hold part of a password (see `url::ParsedUrl`).
    hidden_options: Vec<String>,
    errors: Vec<Error>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("nodes", &self.nodes)
            .field("replica_credentials", &self.replica_credentials)
            .field("default_role", &self.config.default_role)
            .finish_non_exhaustive()
    }
}

fn single_node(url: &str) -> Result<NodeAddress, Error> {
    let mut parsed = url::parse(url)?;
    if parsed.nodes.len() != 1 {
        return Err(Error::InvalidUrl {
            url: url::redact(url),
            reason: "a node URL must name exactly one host".into(),
        });
    }
    if !parsed.options.is_empty() {
        return Err(Error::InvalidUrl {
            url: url::redact(url),
            reason: "cluster options belong on the builder, not on a node URL".into(),
        });
    }
    Ok(parsed.nodes.remove(0))
}

impl Builder {
    /// Adds the nodes of a multi-host URL, `mysql://user:pw@master,replica1,replica2/db`:
    /// the first host is the master. Query options (all optional):
    ///
    /// | option | values | builder method |
    /// |---|---|---|
    /// | `default_role` | `master`, `replica`, `auto` | [`default_role`](Builder::default_role) |
    /// | `balance` | `round_robin`, `random`, `least_outstanding`, `least_lag`, `least_latency` | [`balance`](Builder::balance) |
    /// | `max_replica_lag` | duration (`500ms`, `2s`) | [`max_replica_lag`](Builder::max_replica_lag) |
    /// | `monitor_interval` | duration, or `off` | [`monitor_interval`](Builder::monitor_interval) |
    /// | `ejection_cooldown` | duration | [`ejection_cooldown`](Builder::ejection_cooldown) |
    /// | `connect_timeout` | duration | [`connect_timeout`](Builder::connect_timeout) |
    /// | `network_timeout` | duration | [`network_timeout`](Builder::network_timeout) |
    /// | `consistency` | `strong`, `eventual`, `causal`, `bounded:2s`, `sticky:5s` | [`consistency`](Builder::consistency) |
    /// | `causal_timeout` | duration | [`causal_timeout`](Builder::causal_timeout) |
    /// | `writes_in_replica_role` | `refuse`, `master` | [`writes_in_replica_role`](Builder::writes_in_replica_role) |
    /// | `replica_user`, `replica_password` | credentials for the replicas | [`replica_credentials`](Builder::replica_credentials) |
    /// | `query_log` | `true`, `false` | [`query_log`](Builder::query_log) |
    /// | `heartbeat` | `true`, `false`, or a table name | [`heartbeat`](Builder::heartbeat), [`heartbeat_table`](Builder::heartbeat_table) |
    /// | `max_replica_latency` | duration | [`max_replica_latency`](Builder::max_replica_latency) |
    /// | `replica_affinity` | `true`, `false` | [`replica_affinity`](Builder::replica_affinity) |
    /// | `cluster` | `replication` (default), `galera` | [`kind`](Builder::kind) |
    /// | `conflict_retries` | whole number (default 4) | [`conflict_retries`](Builder::conflict_retries) |
    /// | `linger` | duration (default `30s`) | none: how long a cluster shared per URL outlives its last connection (see [`ClusterConnection::establish`](crate::ClusterConnection)) |
    ///
    /// Diesel's own `ssl_mode`, `ssl_ca`, `ssl_cert` and `ssl_key` apply to every node.
    /// Unknown options are an error.
    pub fn url(mut self, url: &str) -> Self {
        match url::parse(url) {
            Ok(parsed) => {
                for node in parsed.nodes {
                    self.nodes.push((None, 1, Ok(node)));
                }
                self.options.extend(parsed.options);
                self.hidden_options.extend(parsed.hidden);
            }
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Sets the master: `mysql://user:pw@host:port/db`. Must come before any replica.
    pub fn master(mut self, url: &str) -> Self {
        if !self.nodes.is_empty() {
            self.errors.push(Error::InvalidOption {
                option: "master".into(),
                reason: "the master must be the first node given".into(),
            });
        }
        self.nodes
            .push((Some("master".into()), 1, single_node(url)));
        self
    }

    /// Adds a replica (usually with a read-only account).
    pub fn replica(self, url: &str) -> Self {
        self.weighted_replica(url, 1)
    }

    /// Adds a replica that gets `weight` shares of the reads (default 1) under the
    /// round-robin and random policies.
    pub fn weighted_replica(mut self, url: &str, weight: u32) -> Self {
        if weight == 0 {
            self.errors.push(Error::InvalidOption {
                option: "weight".into(),
                reason: "a replica weight must be at least 1".into(),
            });
        }
        self.nodes.push((None, weight, single_node(url)));
        self
    }

    /// Credentials used for every replica (e.g. a read-only account), replacing those in
    /// the URLs.
    pub fn replica_credentials(mut self, user: &str, password: &str) -> Self {
        self.replica_credentials = Some((user.to_string(), Secret::new(password)));
        self
    }

    /// Credentials used for failover operations ([`Cluster::promote`]): they need
    /// `REPLICATION SLAVE ADMIN`, `READ_ONLY ADMIN` (or `SUPER`) and `SLAVE MONITOR`.
    /// Default: the master's credentials.
    pub fn admin_credentials(mut self, user: &str, password: &str) -> Self {
        self.config.admin = Some((user.to_string(), Secret::new(password)));
        self
    }

    /// The account replicas connect to their master with (`REPLICATION SLAVE`).
    /// [`Cluster::promote`] gives it to the replicas it points at the new master: a
    /// server never shows a replication password, so it can't be read back from them.
    /// No default; `promote` fails without it when there is a replica to re-point.
    pub fn replication_credentials(mut self, user: &str, password: &str) -> Self {
        self.config.replication = Some((user.to_string(), Secret::new(password)));
        self
    }

    /// The role used outside any scope. Default [`Role::Master`], which makes a
    /// `ClusterConnection` behave exactly like a `MysqlConnection` until code opts in.
    pub fn default_role(mut self, role: Role) -> Self {
        self.config.default_role = role;
        self.mark("default_role")
    }

    /// How reads are spread over replicas. Default round-robin.
    pub fn balance(mut self, policy: BalancePolicy) -> Self {
        self.config.balance = policy;
        self.mark("balance")
    }

    /// A replica further behind than this (per the monitor: `Seconds_Behind_Master`, or
    /// the heartbeat lag with [`heartbeat`](Builder::heartbeat)) gets no reads. Default 5 s.
    pub fn max_replica_lag(mut self, lag: Duration) -> Self {
        self.config.max_replica_lag = lag;
        self.mark("max_replica_lag")
    }

    /// How often the monitor thread checks replica lag and ejected nodes.
    /// Default 1 s; `None` disables the monitor.
    pub fn monitor_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.monitor_interval = interval;
        self.mark("monitor_interval")
    }

    /// How long a node that failed with a connection-level error gets no statements.
    /// Default 5 s.
    pub fn ejection_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.ejection_cooldown = cooldown;
        self.mark("ejection_cooldown")
    }

    /// Bound on opening a node connection: the whole of `MysqlConnection::establish`
    /// (TCP, the server's greeting, the handshake, and the session set-up statements
    /// Diesel sends) is cut when it passes, so a dead or unreachable host, or a server
    /// process that hangs, fails fast. A server too loaded to complete all of it in time
    /// counts as unavailable. Default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self.mark("connect_timeout")
    }

    /// How long an open node connection may wait on a peer that stopped answering at the
    /// network level (partition, host gone) before it fails with a connection error, so
    /// the node is ejected and reads move on. Set on each node socket as TCP keepalive
    /// and `TCP_USER_TIMEOUT` (Linux). It is also the monitor's deadline for one node's
    /// checks: a node that misses it (a hung server process, whose host still answers
    /// TCP) is ejected and the cluster's open connections to it are cut. Long-running
    /// queries on a server that answers are not affected. Default 10 s; at least 3 s.
    pub fn network_timeout(mut self, timeout: Duration) -> Self {
        self.config.network_timeout = timeout;
        self.mark("network_timeout")
    }

    /// The default consistency of replica reads. Default
    /// `Consistency::Bounded(max_replica_lag)`.
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.config.consistency = consistency;
        self.mark("consistency")
    }

    /// How long a causal read waits for a replica to apply a write before reading from
    /// the master instead. Default 1 s.
    pub fn causal_timeout(mut self, timeout: Duration) -> Self {
        self.config.causal_timeout = timeout;
        self.mark("causal_timeout")
    }

    /// What a write in replica role does. Default [`WriteRouting::Refuse`].
    pub fn writes_in_replica_role(mut self, routing: WriteRouting) -> Self {
        self.config.writes_in_replica_role = routing;
        self.mark("writes_in_replica_role")
    }

    /// Starts connections with the query log on (see
    /// [`ClusterConnection::set_query_log`](crate::ClusterConnection::set_query_log)).
    pub fn query_log(mut self, enabled: bool) -> Self {
        self.config.query_log = enabled;
        self.mark("query_log")
    }

    /// Measures replica lag with a heartbeat table instead of `Seconds_Behind_Master`
    /// (whole seconds, and 0 while a replica is hundreds of milliseconds behind). Default
    /// off; the table is `diesel_cluster_heartbeat` ([`heartbeat_table`] names another).
    ///
    /// Every monitor round (see [`monitor_interval`]), the monitor
    ///
    /// 1. reads the row on each replica (`SELECT ts FROM <table> WHERE id = 1`, which
    ///    needs `SELECT` on the table for the replicas' account);
    /// 2. then reads the master's clock (`SELECT UNIX_TIMESTAMP(NOW(6))`, in
    ///    microseconds) and writes that value into the row on the master (`INSERT .. ON
    ///    DUPLICATE KEY UPDATE`), remembering the value `w` and the local instant it
    ///    was read at.
    ///
    /// A replica's lag is then computed from its copy `r` of the row: **0** when `r >= w`
    /// (it applied the last heartbeat), else `(w + time elapsed locally since w was
    /// read) - r`: the master's clock now, estimated from its last reading, minus the
    /// replica's newest master time. Both `w` and `r` come from the master's clock, so
    /// the clocks of the hosts (the application's included) never meet. The lag is
    /// precise to about one interval: a replica that applies each heartbeat within an
    /// interval reads 0. A replica found behind is assumed to fall further behind until
    /// the next check (its lag grows with the time since it was measured, when a
    /// `Bounded` read chooses a replica): with an interval shorter than the bound, a replica
    /// whose replication stalls gets no reads once it is more than the bound behind,
    /// without waiting for the monitor's next round.
    ///
    /// `max_replica_lag` and `Consistency::Bounded` then use it. The monitor falls back
    /// to `Seconds_Behind_Master` for a replica while the heartbeat can't be read there
    /// (table not replicated yet, no `SELECT` privilege), before the monitor's first
    /// write, and while the master is down (the heartbeat stops then; a replica that
    /// applied everything it received counts as 0 behind, as without heartbeat). With
    /// heartbeat, a replica whose replication thread is stopped is not cut off at once:
    /// its lag grows from the moment it stopped.
    ///
    /// The table is created by the monitor on the master at its first write, with
    /// `CREATE TABLE IF NOT EXISTS <table> (id TINYINT UNSIGNED PRIMARY KEY, ts BIGINT
    /// NOT NULL, server_id INT UNSIGNED NOT NULL)` (`ts`: microseconds since the Unix
    /// epoch on the master's clock), in the master URL's database, and reaches the
    /// replicas by replication. So the master's account needs `CREATE`, `INSERT` and
    /// `UPDATE` on it; an application whose account lacks `CREATE` creates the table
    /// once itself (e.g. in a migration) with that statement. A failure is logged and
    /// shown as the master's `monitor_error` in [`Cluster::status`], and lag falls back
    /// to `Seconds_Behind_Master`.
    ///
    /// Cost: one single-row update on the master per interval, which goes into the
    /// binlog and to every replica (one transaction, a few hundred bytes of binlog;
    /// ~22 MB a day at the default 1 s interval, ~220 MB at 100 ms) and takes a GTID
    /// sequence number each time. Several processes with their own monitor each write
    /// the same row; that is harmless (every value is a master clock reading).
    ///
    /// [`heartbeat_table`]: Builder::heartbeat_table
    /// [`monitor_interval`]: Builder::monitor_interval
    pub fn heartbeat(mut self, enabled: bool) -> Self {
        self.config.heartbeat = enabled.then(|| HEARTBEAT_TABLE.to_string());
        self.mark("heartbeat")
    }

    /// Turns the heartbeat on (see [`heartbeat`](Builder::heartbeat)) with this table:
    /// `name` or `database.name`, letters, digits, `_` and `$` only.
    pub fn heartbeat_table(mut self, name: &str) -> Self {
        self.config.heartbeat = Some(name.to_string());
        self.mark("heartbeat")
    }

    /// A replica whose round trip, as the monitor measures it (`SELECT 1`, smoothed: each
    /// check moves it a quarter of the way to the new sample, so one slow ping doesn't cut
    /// a replica off and one that stays slow is out within a few checks), is above
    /// `ceiling` gets no reads, whatever the consistency. Default: no ceiling.
    pub fn max_replica_latency(mut self, ceiling: Duration) -> Self {
        self.config.max_replica_latency = Some(ceiling);
        self.mark("max_replica_latency")
    }

    /// Makes each connection keep reading from the replica it read from last, while that
    /// replica stays usable, instead of balancing every statement. Reads on one
    /// connection then never go back in time by landing on a replica further behind
    /// (monotonic reads), each connection holds one replica connection instead of one
    /// per replica, and balancing happens across connections: a pool's connections
    /// spread over the replicas as they first read, and each time a pool takes a
    /// connection back (r2d2, bb8, deadpool) it moves to the replica kept by the fewest
    /// connections for its weight if that evens the spread, so connections that left a
    /// replica while it was down come back to it. Default off: every read is balanced.
    ///
    /// For a pool under load this is the cheaper choice for the servers: each replica
    /// then serves as many server connections as there are pooled connections on it,
    /// not all of them. With every server held to a quarter of a CPU, 64 tasks over a
    /// pool of 16 read as fast as two raw pools of 8 (one per replica), while balancing
    /// every statement cost the replicas about 1.6 times as much CPU per read
    /// (`benches/async_overhead.rs`, `docs/measurements.md`).
    pub fn replica_affinity(mut self, enabled: bool) -> Self {
        self.config.replica_affinity = enabled;
        self.mark("replica_affinity")
    }

    /// How the nodes replicate. Default [`ClusterKind::Replication`]. With
    /// [`ClusterKind::Galera`], writes go to the first node in order that is synced in the
    /// primary component, reads to the other synced ones; see [`guide::galera`].
    ///
    /// [`guide::galera`]: crate::guide::galera
    pub fn kind(mut self, kind: ClusterKind) -> Self {
        self.config.kind = kind;
        self.mark("cluster")
    }

    /// How many times
    /// [`ClusterConnection::transaction_with_retry`](crate::ClusterConnection::transaction_with_retry)
    /// runs its closure again after a conflict. Default 4 (5 attempts); 0: no retry.
    pub fn conflict_retries(mut self, retries: u32) -> Self {
        self.config.conflict_retries = retries;
        self.mark("conflict_retries")
    }

    /// Records that a method set `option`, so the URL's value for it doesn't apply.
    fn mark(mut self, option: &'static str) -> Self {
        self.set.push(option);
        self
    }

    /// Validates everything and builds the cluster (starting its monitor thread when
    /// there are replicas and the monitor is on).
    pub fn build(mut self) -> Result<Cluster, Error> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        let hidden = std::mem::take(&mut self.hidden_options);
        self.apply_url_options()
            .map_err(|e| url::hide_option_value(e, &hidden))?;
        if self.nodes.is_empty() {
            return Err(Error::InvalidOption {
                option: "nodes".into(),
                reason: "a cluster needs at least a master".into(),
            });
        }
        let mut config = std::mem::take(&mut self.config);
        if !self.set.contains(&"consistency") {
            config.consistency = Consistency::Bounded(config.max_replica_lag);
        }
        config.validate()?;
        let nodes = self.nodes(Instant::now(), config.kind)?;
        let topology = Arc::new(Topology::new(config, nodes));
        let monitor = match topology.config.monitor_interval {
            Some(interval) if topology.has_replicas() => {
                Some(crate::monitor::start(Arc::downgrade(&topology), interval))
            }
            _ => None,
        };
        Ok(Cluster::new(topology, monitor))
    }

    /// The nodes, named, with the replica credentials applied; each host once.
    fn nodes(&mut self, epoch: Instant, kind: ClusterKind) -> Result<Vec<Node>, Error> {
        let galera = kind == ClusterKind::Galera;
        let mut nodes: Vec<Node> = Vec::with_capacity(self.nodes.len());
        let mut replica_no = 0;
        for (i, (name, weight, address)) in std::mem::take(&mut self.nodes).into_iter().enumerate()
        {
            let mut address = address?;
            let name = match name {
                // Galera nodes are peers: named by their place in the writer order.
                None if galera => format!("node{}", i + 1),
                Some(n) => n,
                None if i == 0 => "master".to_string(),
                None => {
                    replica_no += 1;
                    format!("replica{replica_no}")
                }
            };
            if i > 0 {
                if let Some((user, password)) = &self.replica_credentials {
                    address.user = user.clone();
                    address.password = password.clone();
                }
            }
            if nodes
                .iter()
                .any(|n| n.address.host == address.host && n.address.port == address.port)
            {
                return Err(Error::InvalidOption {
                    option: "nodes".into(),
                    reason: format!("{} is listed twice", address.host_port()),
                });
            }
            nodes.push(Node::new(name, address, weight, epoch));
        }
        // Whichever node is the master is reached with the master's credentials, so a
        // replica configured with a read-only account still takes writes once promoted.
        let master_address = nodes[0].address.clone();
        for node in nodes.iter_mut().skip(1) {
            node.set_writer_credentials(&master_address);
        }
        Ok(nodes)
    }

    /// Applies options that came in a URL; builder calls made explicitly win.
    fn apply_url_options(&mut self) -> Result<(), Error> {
        let mut replica_user = None;
        let mut replica_password = None;
        for (key, value) in std::mem::take(&mut self.options) {
            match key.as_str() {
                "replica_user" => replica_user = Some(value),
                "replica_password" => replica_password = Some(value),
                other => {
                    let (name, apply) =
                        crate::config::url_option(other).ok_or_else(|| Error::InvalidOption {
                            option: other.into(),
                            reason: "unknown option".into(),
                        })?;
                    if !self.set.contains(&name) {
                        apply(&mut self.config, &value)?;
                        self.set.push(name);
                    }
                }
            }
        }
        match (replica_user, replica_password) {
            (Some(u), p) => {
                if self.replica_credentials.is_none() {
                    self.replica_credentials = Some((u, Secret::new(p.unwrap_or_default())));
                }
            }
            (None, Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "replica_password".into(),
                    reason: "given without `replica_user`".into(),
                })
            }
            (None, None) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
