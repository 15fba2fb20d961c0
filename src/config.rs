//! A cluster's settings: every default in one place ([`Config::default`]), and how the
//! URL's query options set them.

use std::time::Duration;

use crate::consistency::Consistency;
use crate::error::Error;
use crate::galera::ClusterKind;
use crate::role::Role;
use crate::url::{self, Secret};

/// What to do with a statement that changes data in [`Role::Replica`] scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WriteRouting {
    /// Refuse it with a clear error before any server sees it (the default): a replica
    /// scope is a promise that the code in it only reads.
    #[default]
    Refuse,
    /// Send it to the master instead (Django's router behaviour).
    Master,
}

impl std::str::FromStr for WriteRouting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" | "error" => Ok(WriteRouting::Refuse),
            "master" => Ok(WriteRouting::Master),
            _ => Err(format!("`{s}` (expected refuse or master)")),
        }
    }
}

/// How reads are spread over usable replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BalancePolicy {
    /// Each replica in turn, honouring weights; one counter shared by every connection of
    /// the cluster (the default).
    #[default]
    RoundRobin,
    /// A replica drawn at random, with probability proportional to its weight.
    Random,
    /// The replica with the fewest statements running on it right now, over all
    /// connections of the cluster (ties go round-robin).
    LeastOutstanding,
    /// The replica with the smallest replication lag last seen by the monitor.
    LeastLag,
    /// The replica with the smallest round trip last measured by the monitor.
    LeastLatency,
}

impl std::str::FromStr for BalancePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "round_robin" | "roundrobin" => Ok(BalancePolicy::RoundRobin),
            "random" => Ok(BalancePolicy::Random),
            "least_outstanding" => Ok(BalancePolicy::LeastOutstanding),
            "least_lag" => Ok(BalancePolicy::LeastLag),
            "least_latency" => Ok(BalancePolicy::LeastLatency),
            _ => Err(format!(
                "unknown balancing policy `{s}` (expected round_robin, random, \
                 least_outstanding, least_lag or least_latency)"
            )),
        }
    }
}

/// A cluster's settings. [`Default`] holds every default value, once; the builder's
/// methods and the URL's options change them, and [`Config::validate`] checks them all at
/// `build()`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) default_role: Role,
    pub(crate) balance: BalancePolicy,
    pub(crate) max_replica_lag: Duration,
    /// `None`: no monitor.
    pub(crate) monitor_interval: Option<Duration>,
    pub(crate) ejection_cooldown: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) network_timeout: Duration,
    pub(crate) consistency: Consistency,
    pub(crate) causal_timeout: Duration,
    pub(crate) writes_in_replica_role: WriteRouting,
    pub(crate) query_log: bool,
    /// The account `promote` runs with; `None`: the master's.
    pub(crate) admin: Option<(String, Secret)>,
    /// The account replicas use to connect to their master (for `promote`).
    pub(crate) replication: Option<(String, Secret)>,
    /// The heartbeat table when heartbeat lag is on: as given until `validate`, then
    /// quoted, ready for SQL.
    pub(crate) heartbeat: Option<String>,
    /// A replica whose smoothed round trip is above this gets no reads.
    pub(crate) max_replica_latency: Option<Duration>,
    pub(crate) replica_affinity: bool,
    /// How long a cluster shared per URL (made by `ClusterConnection::establish`)
    /// outlives its last connection, so that a program connecting per unit of work does
    /// not start its monitor again each time.
    pub(crate) linger: Duration,
    /// Replication (a master and replicas) or Galera (a writer chosen among equals).
    pub(crate) kind: ClusterKind,
    /// How many times `transaction_with_retry` runs a closure again after a conflict.
    pub(crate) conflict_retries: u32,
}

/// The heartbeat table's default name.
pub(crate) const HEARTBEAT_TABLE: &str = "diesel_cluster_heartbeat";

impl Default for Config {
    fn default() -> Config {
        let max_replica_lag = Duration::from_secs(5);
        Config {
            // A `ClusterConnection` behaves like a `MysqlConnection` until code opts in.
            default_role: Role::Master,
            balance: BalancePolicy::default(),
            max_replica_lag,
            monitor_interval: Some(Duration::from_secs(1)),
            ejection_cooldown: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            network_timeout: Duration::from_secs(10),
            // Follows `max_replica_lag` unless set: see `Builder::build`.
            consistency: Consistency::Bounded(max_replica_lag),
            causal_timeout: Duration::from_secs(1),
            writes_in_replica_role: WriteRouting::Refuse,
            query_log: false,
            admin: None,
            replication: None,
            heartbeat: None,
            max_replica_latency: None,
            replica_affinity: false,
            linger: Duration::from_secs(30),
            kind: ClusterKind::Replication,
            conflict_retries: 4,
        }
    }
}

impl Config {
    /// Checks every setting; quotes the heartbeat table.
    pub(crate) fn validate(&mut self) -> Result<(), Error> {
        if self.network_timeout < Duration::from_secs(3) {
            return Err(invalid(
                "network_timeout",
                "must be at least 3 s (TCP keepalive counts in whole seconds)",
            ));
        }
        let positive = |name: &str, d: Duration| match d.is_zero() {
            true => Err(invalid(name, "must be greater than zero")),
            false => Ok(()),
        };
        if let Some(i) = self.monitor_interval {
            positive("monitor_interval", i)?;
        }
        positive("connect_timeout", self.connect_timeout)?;
        positive("causal_timeout", self.causal_timeout)?;
        if let Consistency::Sticky(w) = self.consistency {
            positive("consistency", w)?;
        }
        if let Some(l) = self.max_replica_latency {
            positive("max_replica_latency", l)?;
        }
        if self.kind == ClusterKind::Galera && self.monitor_interval.is_none() {
            return Err(invalid(
                "monitor_interval",
                "a Galera cluster needs the monitor: it is what sees a node leave the \
                 synced state or the primary component",
            ));
        }
        if self.conflict_retries > 100 {
            return Err(invalid("conflict_retries", "at most 100"));
        }
        if let Some(name) = self.heartbeat.take() {
            self.heartbeat = Some(quote_table(&name)?);
        }
        Ok(())
    }
}

fn invalid(option: &str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        option: option.into(),
        reason: reason.into(),
    }
}

/// Sets one setting from a URL option's value.
pub(crate) type Apply = fn(&mut Config, &str) -> Result<(), Error>;

/// The URL's query options that set a [`Config`] field, by name (the builder handles
/// `replica_user` and `replica_password`, which change the replicas' addresses).
pub(crate) const URL_OPTIONS: &[(&str, Apply)] = &[
    ("default_role", |c, v| {
        c.default_role = v.parse().map_err(|e| invalid("default_role", e))?;
        Ok(())
    }),
    ("balance", |c, v| {
        c.balance = v.parse().map_err(|e| invalid("balance", e))?;
        Ok(())
    }),
    ("max_replica_lag", |c, v| {
        c.max_replica_lag = url::parse_duration("max_replica_lag", v)?;
        Ok(())
    }),
    ("monitor_interval", |c, v| {
        c.monitor_interval = match v.eq_ignore_ascii_case("off") {
            true => None,
            false => Some(url::parse_duration("monitor_interval", v)?),
        };
        Ok(())
    }),
    ("ejection_cooldown", |c, v| {
        c.ejection_cooldown = url::parse_duration("ejection_cooldown", v)?;
        Ok(())
    }),
    ("connect_timeout", |c, v| {
        c.connect_timeout = url::parse_duration("connect_timeout", v)?;
        Ok(())
    }),
    ("network_timeout", |c, v| {
        c.network_timeout = url::parse_duration("network_timeout", v)?;
        Ok(())
    }),
    ("consistency", |c, v| {
        c.consistency = v.parse()?;
        Ok(())
    }),
    ("causal_timeout", |c, v| {
        c.causal_timeout = url::parse_duration("causal_timeout", v)?;
        Ok(())
    }),
    ("writes_in_replica_role", |c, v| {
        c.writes_in_replica_role = v
            .parse()
            .map_err(|e| invalid("writes_in_replica_role", e))?;
        Ok(())
    }),
    ("query_log", |c, v| {
        c.query_log = flag("query_log", v)?;
        Ok(())
    }),
    ("heartbeat", |c, v| {
        c.heartbeat = match flag("heartbeat", v) {
            Ok(true) => Some(HEARTBEAT_TABLE.to_string()),
            Ok(false) => None,
            Err(_) => Some(v.to_string()),
        };
        Ok(())
    }),
    ("max_replica_latency", |c, v| {
        c.max_replica_latency = Some(url::parse_duration("max_replica_latency", v)?);
        Ok(())
    }),
    ("replica_affinity", |c, v| {
        c.replica_affinity = flag("replica_affinity", v)?;
        Ok(())
    }),
    ("linger", |c, v| {
        c.linger = url::parse_duration("linger", v)?;
        Ok(())
    }),
    ("cluster", |c, v| {
        c.kind = v.parse().map_err(|e| invalid("cluster", e))?;
        Ok(())
    }),
    ("conflict_retries", |c, v| {
        c.conflict_retries = v.parse().map_err(|_| {
            invalid(
                "conflict_retries",
                format!("`{v}` (expected a whole number)"),
            )
        })?;
        Ok(())
    }),
];

/// The setter of URL option `name`, with the name as the table spells it.
pub(crate) fn url_option(name: &str) -> Option<(&'static str, Apply)> {
    URL_OPTIONS.iter().find(|(n, _)| *n == name).copied()
}

/// A boolean URL option value: `true`/`1`/`on` or `false`/`0`/`off`.
fn flag(option: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" | "1" | "on" => Ok(true),
        "false" | "0" | "off" => Ok(false),
        _ => Err(invalid(
            option,
            format!("`{value}` (expected true or false)"),
        )),
    }
}

/// `name` or `db.name` as a quoted identifier; only plain identifier characters are
/// accepted, so the name is safe to put into SQL.
pub(crate) fn quote_table(name: &str) -> Result<String, Error> {
    let parts: Vec<&str> = name.split('.').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    if parts.len() > 2 || !parts.iter().all(plain) {
        return Err(invalid(
            "heartbeat",
            format!(
                "`{name}` is not a table name (`name` or `database.name`: letters, digits, \
                 `_`, `$`)"
            ),
        ));
    }
    Ok(parts
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_option_is_documented_in_the_builder() {
        let docs = include_str!("cluster/builder.rs");
        for (name, _) in URL_OPTIONS {
            assert!(docs.contains(&format!("/// | `{name}` |")), "{name}");
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        let mut c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.consistency, Consistency::Bounded(c.max_replica_lag));
    }
}
