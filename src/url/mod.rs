//! Parsing cluster URLs: `mysql://user:pw@master:3306,replica1:3306,replica2/db?options`.
//!
//! Diesel's MySQL URL parser rejects a multi-host authority (`h1:3306,h2:3307` is read as an
//! invalid port), so the host list is split here and one ordinary single-host URL is built
//! per node. The first host is the master, the others are replicas.
//!
//! Query options are split in two: the ones Diesel's client understands (`ssl_mode`,
//! `ssl_ca`, `ssl_cert`, `ssl_key`, `unix_socket` for a single host) are passed to every node;
//! the cluster's own options (see [`crate::Builder`]) configure the cluster. Anything else is
//! an error: Diesel silently ignores unknown options, which hides typos such as
//! `max_replica_lga=1s`.
//!
//! Errors about a URL never show a password, whatever the URL's shape: they mask by
//! structure (see [`Redacted`]), since in a malformed URL nobody can tell which part the
//! password is.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

mod percent;
mod redact;

use percent::{percent_decode, percent_encode_into};
pub(crate) use redact::{hide_option_value, redact, Redacted, Secret};
use redact::{is_secret_option, NOT_SHOWN};

/// Where and how to reach one node.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NodeAddress {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Secret,
    pub(crate) database: String,
    /// Options passed to Diesel's client unchanged (`ssl_*`, `unix_socket`).
    pub(crate) client_options: Vec<(String, String)>,
}

impl NodeAddress {
    /// The single-host URL Diesel's `MysqlConnection::establish` takes. Contains the
    /// password: never log or display it.
    pub(crate) fn connection_url(&self) -> String {
        let mut url = String::from("mysql://");
        percent_encode_into(&self.user, &mut url);
        if !self.password.is_empty() {
            url.push(':');
            percent_encode_into(self.password.expose(), &mut url);
        }
        url.push('@');
        if self.host.contains(':') {
            url.push('[');
            url.push_str(&self.host);
            url.push(']');
        } else {
            url.push_str(&self.host);
        }
        url.push(':');
        url.push_str(&self.port.to_string());
        url.push('/');
        percent_encode_into(&self.database, &mut url);
        for (i, (k, v)) in self.client_options.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            percent_encode_into(v, &mut url);
        }
        url
    }

    /// `host:port`, for names in logs and errors.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeAddress")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("database", &self.database)
            .field("client_options", &self.client_options)
            .finish()
    }
}

/// A parsed cluster URL: the nodes and the raw cluster options, validated by the builder.
#[derive(Clone)]
pub(crate) struct ParsedUrl {
    pub(crate) nodes: Vec<NodeAddress>,
    /// Cluster options (`name`, `value`) in URL order, percent-decoded.
    pub(crate) options: Vec<(String, String)>,
    /// Names of the options whose value may hold part of the password (the URL's
    /// structure allows another reading): errors about them don't show the value.
    pub(crate) hidden: Vec<String>,
}

/// Shows the value of every option named like a secret (see [`is_secret_option`]), and
/// of every [`hidden`](ParsedUrl::hidden) one, as `***`.
impl fmt::Debug for ParsedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_option(k) || self.hidden.contains(k) {
                    "***"
                } else {
                    v
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("ParsedUrl")
            .field("nodes", &self.nodes)
            .field("options", &options)
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// Options Diesel's MySQL client reads from a URL; passed through to every node.
const CLIENT_OPTIONS: &[&str] = &["ssl_mode", "ssl_ca", "ssl_cert", "ssl_key", "unix_socket"];

/// The cluster's own URL options; the builder gives each its meaning.
pub(crate) const CLUSTER_OPTIONS: &[&str] = &[
    "default_role",
    "balance",
    "max_replica_lag",
    "monitor_interval",
    "ejection_cooldown",
    "connect_timeout",
    "network_timeout",
    "consistency",
    "causal_timeout",
    "writes_in_replica_role",
    "replica_user",
    "replica_password",
    "query_log",
    "replica_affinity",
    "heartbeat",
    "max_replica_latency",
    "linger",
    "cluster",
    "conflict_retries",
];

/// Parses a cluster URL. Never panics; every malformed input is an `Error::InvalidUrl`
/// that shows no byte of anything that may be a password (see [`Redacted`]).
pub(crate) fn parse(url: &str) -> Result<ParsedUrl, Error> {
    let r = Redacted::new(url);
    let parts = Parts::split(url.trim(), &r)?;
    let (user, password) = credentials(&r, parts.userinfo, parts.query)?;
    let database = database(&r, parts.path)?;
    let (client_options, options, hidden) = query_options(&r, parts.query)?;
    if parts.hosts.is_empty() {
        return Err(r.invalid("no host (mysql://user:password@master,replica1/db)"));
    }
    let mut nodes = Vec::new();
    for (i, host) in parts.hosts.split(',').enumerate() {
        let (host, port) = parse_host(host).map_err(|reason| host_error(&r, i, host, &reason))?;
        nodes.push(NodeAddress {
            host,
            port,
            user: user.clone(),
            password: password.clone(),
            database: database.clone(),
            client_options: client_options.clone(),
        });
    }
    if nodes.len() > 1 && client_options.iter().any(|(k, _)| k == "unix_socket") {
        return Err(
            r.invalid("`unix_socket` names one server and cannot be used with several hosts")
        );
    }
    Ok(ParsedUrl {
        nodes,
        options,
        hidden,
    })
}

/// A URL cut at its separators, nothing decoded yet.
struct Parts<'a> {
    userinfo: Option<&'a str>,
    hosts: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn split(url: &'a str, r: &Redacted<'_>) -> Result<Parts<'a>, Error> {
        if url.is_empty() {
            return Err(r.invalid("the URL is empty"));
        }
        let Some(rest) = url.strip_prefix("mysql://") else {
            return Err(r.invalid(
                "the scheme must be `mysql://` (mysql://user:password@master,replica1/db)",
            ));
        };
        let (before_query, query) = match rest.find('?') {
            Some(q) => (&rest[..q], Some(&rest[q + 1..])),
            None => (rest, None),
        };
        if let Some(hash) = rest.find('#') {
            return Err(r.invalid(if rest[hash..].contains('@') {
                "a `#` in a user name or password must be percent-encoded as %23 (a URL \
                 fragment, `#...`, is not allowed)"
            } else {
                "fragments (`#...`) are not allowed; a `#` in an option value must be \
                 percent-encoded as %23"
            }));
        }
        // The userinfo may itself contain `/` only when percent-encoded, so the last `@`
        // before the path separates credentials from hosts.
        let (userinfo, hosts_and_path) = match before_query.rfind('@') {
            Some(at) => (Some(&before_query[..at]), &before_query[at + 1..]),
            None => (None, before_query),
        };
        let (hosts, path) = match hosts_and_path.find('/') {
            Some(slash) => (&hosts_and_path[..slash], &hosts_and_path[slash + 1..]),
            None => (hosts_and_path, ""),
        };
        Ok(Parts {
            userinfo,
            hosts,
            path,
            query,
        })
    }
}

/// The user name and password, decoded.
fn credentials(
    r: &Redacted<'_>,
    userinfo: Option<&str>,
    query: Option<&str>,
) -> Result<(String, Secret), Error> {
    let invalid = |reason: &str| r.invalid(reason);
    let info = match userinfo {
        None if query.is_some_and(|q| q.contains('@')) => {
            return Err(invalid(
                "no `@` before the first `?`: a `?` in a user name or password must be \
                 percent-encoded as %3F",
            ))
        }
        None => return Err(invalid("no user name (mysql://user:password@host/db)")),
        Some(info) => info,
    };
    let (u, p) = match info.find(':') {
        Some(c) => (&info[..c], &info[c + 1..]),
        None => (info, ""),
    };
    let user = percent_decode(u).map_err(|e| invalid(&format!("user name: {e}")))?;
    let password = percent_decode(p).map_err(|e| invalid(&format!("the password: {e}")))?;
    if user.is_empty() {
        return Err(invalid("the user name is empty"));
    }
    if user.contains('\0') || password.contains('\0') {
        return Err(invalid(
            "the user name or password holds a NUL byte (%00), which the MySQL \
             client can't send",
        ));
    }
    Ok((user, Secret::new(password)))
}

/// The database name, decoded.
fn database(r: &Redacted<'_>, path: &str) -> Result<String, Error> {
    if path.is_empty() {
        return Err(r.invalid("no database name (mysql://user:password@host/db)"));
    }
    if path.contains('/') {
        return Err(r.invalid("the path must be a single database name"));
    }
    let database = percent_decode(path).map_err(|e| r.invalid(format!("database name: {e}")))?;
    if database.contains('\0') {
        return Err(r.invalid("the database name holds a NUL byte (%00)"));
    }
    Ok(database)
}

/// Options for the client, options for the cluster, and the names of the cluster options
/// whose value may hold part of a password (see [`ParsedUrl::hidden`]).
type QueryOptions = (Vec<(String, String)>, Vec<(String, String)>, Vec<String>);

fn query_options(r: &Redacted<'_>, query: Option<&str>) -> Result<QueryOptions, Error> {
    let invalid = |reason: &str| r.invalid(reason);
    let (mut client_options, mut options, mut hidden) = (Vec::new(), Vec::new(), Vec::new());
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(invalid(&format!(
                "option {} has no value",
                r.quote(pair, pair)
            )));
        };
        let key = percent_decode(k).map_err(|e| invalid(&format!("option name: {e}")))?;
        let value = percent_decode(v)
            .map_err(|e| invalid(&format!("value of {}: {e}", r.quote(k, &key))))?;
        if CLIENT_OPTIONS.contains(&key.as_str()) {
            if value.contains('\0') {
                return Err(invalid(&format!(
                    "the value of {} holds a NUL byte (%00)",
                    r.quote(k, &key)
                )));
            }
            client_options.push((key, value));
        } else if CLUSTER_OPTIONS.contains(&key.as_str()) {
            if options.iter().any(|(k, _): &(String, String)| *k == key) {
                return Err(invalid(&format!(
                    "option {} is given twice",
                    r.quote(k, &key)
                )));
            }
            if !r.is_clean(v) && !is_secret_option(k) {
                hidden.push(key.clone());
            }
            options.push((key, value));
        } else {
            return Err(invalid(&format!(
                "unknown option {} (known: {}, {})",
                r.quote(k, &key),
                CLUSTER_OPTIONS.join(", "),
                CLIENT_OPTIONS.join(", ")
            )));
        }
    }
    Ok((client_options, options, hidden))
}

/// The error for host number `i` (from 0), quoting it only if no password may be in it.
fn host_error(r: &Redacted<'_>, i: usize, host: &str, reason: &str) -> Error {
    if r.is_clean(host) {
        r.invalid(format!("host #{} (`{host}`): {reason}", i + 1))
    } else {
        r.invalid(format!(
            "host #{} {NOT_SHOWN} is not a valid host: percent-encode `@`, `/`, \
             `?`, `#` and `:` in a password",
            i + 1
        ))
    }
}

fn parse_host(s: &str) -> Result<(String, u16), String> {
    if s.is_empty() {
        return Err("empty host".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']').ok_or("unclosed `[` in IPv6 address")?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected `{after}` after IPv6 address")),
        };
        (host, port)
    } else {
        match s.rfind(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%')))
    {
        return Err(format!("invalid character `{bad}` in host name"));
    }
    let port = match port {
        None => 3306,
        Some(p) => match p.parse::<u16>() {
            Ok(0) => return Err("port 0 is not a valid port".into()),
            Ok(p) => p,
            Err(_) => return Err(format!("invalid port `{p}` (expected 1-65535)")),
        },
    };
    Ok((host.to_string(), port))
}

/// Parses a duration option: `500ms`, `2s`, `1m`, `1.5s`, or a bare number of seconds.
pub(crate) fn parse_duration(option: &str, value: &str) -> Result<Duration, Error> {
    let err = |reason: &str| Error::InvalidOption {
        option: option.to_string(),
        reason: format!("`{value}`: {reason} (examples: 500ms, 2s, 1m)"),
    };
    let v = value.trim();
    let (number, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, "s"),
    };
    if number.is_empty() {
        return Err(err("not a duration"));
    }
    let n: f64 = number.parse().map_err(|_| err("not a number"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        _ => return Err(err("unknown unit")),
    };
    let secs = n * scale;
    if !secs.is_finite() || secs > 86_400.0 * 365.0 {
        return Err(err("too large"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests;
