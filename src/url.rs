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
use std::ops::Range;
use std::time::Duration;

use crate::error::Error;

/// A password that never shows up in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

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
];

/// Whether an option's name says its value is a secret (`replica_password`, and any
/// misspelling or future option such as `admin_pwd`): percent-decoded, any case.
fn is_secret_option(raw_name: &str) -> bool {
    let name = percent_decode_lossy(raw_name).to_ascii_lowercase();
    ["pass", "pwd", "secret"].iter().any(|s| name.contains(s))
}

/// Where the option that follows a secret's value starts: the next `&` followed by a
/// known option's `name=`. A raw `&` followed by anything else may be part of the secret.
fn next_known_option(url: &str, from: usize) -> Option<usize> {
    url[from..]
        .match_indices('&')
        .map(|(i, _)| from + i)
        .find(|&amp| {
            let after = &url[amp + 1..];
            CLUSTER_OPTIONS
                .iter()
                .chain(CLIENT_OPTIONS)
                .any(|name| after.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
        })
}

/// Where what follows `scheme://` starts, when `url` starts with a scheme (text before
/// something that looks like a URL is not a URL).
fn after_scheme(url: &str) -> Option<usize> {
    let end = url.find("://")?;
    let scheme = url[..end].trim_start();
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    valid.then_some(end + 3)
}

/// The byte ranges of `url` that may hold a password, found by structure alone (never by
/// looking for the password: in a malformed URL nobody knows what it is). `None` when the
/// URL can't be split at all (no `scheme://` at its start, or no `@` after it): then no
/// part of it may be shown.
///
/// * The password: from the first `:` after `://` to the *last* `@` of the whole text. A
///   malformed password may hold `#`, `?`, `/`, `@` or `:`; the last `@` is the latest the
///   credentials can end, so whatever the URL's shape the password is inside.
/// * The value of every option whose name contains `pass`, `pwd` or `secret` (see
///   [`is_secret_option`]), wherever it appears: from its `=` to the next `&` that starts a
///   known option, else to the end of the text (a raw `&` may be part of the value).
fn secret_ranges(url: &str) -> Option<Vec<Range<usize>>> {
    let rest = after_scheme(url)?;
    let last_at = url.rfind('@').filter(|&at| at >= rest)?;
    let mut ranges = Vec::new();
    if let Some(colon) = url[rest..last_at].find(':') {
        ranges.push(rest + colon + 1..last_at);
    }
    for (sep, _) in url.match_indices(['?', '&']).filter(|&(i, _)| i >= rest) {
        let name_start = sep + 1;
        let Some(eq) = url[name_start..]
            .find(['=', '&', '?'])
            .map(|e| name_start + e)
        else {
            continue;
        };
        if url.as_bytes()[eq] != b'=' || !is_secret_option(&url[name_start..eq]) {
            continue;
        }
        let value_end = next_known_option(url, eq + 1).unwrap_or(url.len());
        ranges.push(eq + 1..value_end);
    }
    ranges.sort_by_key(|r| r.start);
    Some(ranges)
}

/// A URL as an error may show it: the text with every range that may hold a password
/// (see [`secret_ranges`]) replaced by `***`, and parts of it quoted only when they lie
/// wholly outside those ranges.
pub(crate) struct Redacted<'a> {
    url: &'a str,
    secrets: Option<Vec<Range<usize>>>,
}

/// What an error says instead of a part of the URL that may hold a password.
const NOT_SHOWN: &str = "(not shown: it may hold part of a password)";

impl<'a> Redacted<'a> {
    pub(crate) fn new(url: &'a str) -> Self {
        Redacted {
            url,
            secrets: secret_ranges(url),
        }
    }

    /// The URL with its secrets masked, or a placeholder when it can't be split.
    pub(crate) fn text(&self) -> String {
        let Some(secrets) = &self.secrets else {
            return if after_scheme(self.url).is_some() {
                "(not shown: no `@` separates the credentials from the hosts)".to_string()
            } else {
                "(not shown: not a URL)".to_string()
            };
        };
        let mut out = String::with_capacity(self.url.len());
        let mut shown_to = 0;
        for r in secrets {
            if r.start >= shown_to {
                out.push_str(&self.url[shown_to..r.start]);
                out.push_str("***");
            }
            shown_to = shown_to.max(r.end);
        }
        out.push_str(&self.url[shown_to..]);
        out
    }

    /// Whether `part`, a slice of the URL, holds no byte that may belong to a password.
    fn is_clean(&self, part: &str) -> bool {
        let Some(secrets) = &self.secrets else {
            return false;
        };
        let Some(start) = (part.as_ptr() as usize).checked_sub(self.url.as_ptr() as usize) else {
            return false;
        };
        let end = start + part.len();
        end <= self.url.len() && secrets.iter().all(|r| end <= r.start || start >= r.end)
    }

    /// `` `shown` `` when `raw` (the slice of the URL `shown` was read from) is clean,
    /// else a placeholder.
    fn quote(&self, raw: &str, shown: &str) -> String {
        if self.is_clean(raw) {
            format!("`{shown}`")
        } else {
            NOT_SHOWN.to_string()
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidUrl {
            url: self.text(),
            reason: reason.into(),
        }
    }
}

/// An error about a URL option whose value may hold part of a password (it is one of
/// `hidden`, see [`ParsedUrl::hidden`]), without the value.
pub(crate) fn hide_option_value(error: Error, hidden: &[String]) -> Error {
    match error {
        Error::InvalidOption { option, .. } if hidden.contains(&option) => Error::InvalidOption {
            reason: format!(
                "invalid value {NOT_SHOWN}: percent-encode `@`, `/`, `?`, `#` and `:` in a \
                 password"
            ),
            option,
        },
        other => other,
    }
}

/// Replaces whatever may be a password in a URL-like string with `***` (see
/// [`secret_ranges`]), for messages about bad URLs. Works on anything, including strings
/// that are not URLs at all (they are not shown).
pub(crate) fn redact(url: &str) -> String {
    Redacted::new(url).text()
}

/// Parses a cluster URL. Never panics; every malformed input is an `Error::InvalidUrl`
/// that shows no byte of anything that may be a password (see [`Redacted`]).
pub(crate) fn parse(url: &str) -> Result<ParsedUrl, Error> {
    let r = Redacted::new(url);
    let invalid = |reason: &str| r.invalid(reason);
    let url_trimmed = url.trim();
    if url_trimmed.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    let Some(rest) = url_trimmed.strip_prefix("mysql://") else {
        return Err(invalid(
            "the scheme must be `mysql://` (mysql://user:password@master,replica1/db)",
        ));
    };
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    if let Some(hash) = rest.find('#') {
        return Err(invalid(if rest[hash..].contains('@') {
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

    let (user, password) = match userinfo {
        None if query.is_some_and(|q| q.contains('@')) => {
            return Err(invalid(
                "no `@` before the first `?`: a `?` in a user name or password must be \
                 percent-encoded as %3F",
            ))
        }
        None => return Err(invalid("no user name (mysql://user:password@host/db)")),
        Some(info) => {
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
            (user, Secret::new(password))
        }
    };

    if path.is_empty() {
        return Err(invalid("no database name (mysql://user:password@host/db)"));
    }
    if path.contains('/') {
        return Err(invalid("the path must be a single database name"));
    }
    let database = percent_decode(path).map_err(|e| invalid(&format!("database name: {e}")))?;
    if database.contains('\0') {
        return Err(invalid("the database name holds a NUL byte (%00)"));
    }

    let mut client_options = Vec::new();
    let mut options = Vec::new();
    let mut hidden = Vec::new();
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.find('=') {
                Some(e) => (&pair[..e], &pair[e + 1..]),
                None => {
                    return Err(invalid(&format!(
                        "option {} has no value",
                        r.quote(pair, pair)
                    )))
                }
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
    }

    if hosts.is_empty() {
        return Err(invalid(
            "no host (mysql://user:password@master,replica1/db)",
        ));
    }
    let mut nodes = Vec::new();
    for (i, host) in hosts.split(',').enumerate() {
        let (host, port) = parse_host(host).map_err(|reason| {
            if r.is_clean(host) {
                invalid(&format!("host #{} (`{host}`): {reason}", i + 1))
            } else {
                invalid(&format!(
                    "host #{} {NOT_SHOWN} is not a valid host: percent-encode `@`, `/`, \
                     `?`, `#` and `:` in a password",
                    i + 1
                ))
            }
        })?;
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
        return Err(invalid(
            "`unix_socket` names one server and cannot be used with several hosts",
        ));
    }
    Ok(ParsedUrl {
        nodes,
        options,
        hidden,
    })
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

/// Percent-decodes what can be decoded and keeps the rest, for reading option names
/// whatever their shape.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| Some(hex_value(h[0])? << 4 | hex_value(h[1])?));
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or("truncated percent-escape")?;
                let hi = hex_value(hex[0]).ok_or("invalid percent-escape")?;
                let lo = hex_value(hex[1]).ok_or("invalid percent-escape")?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not valid UTF-8 after percent-decoding")
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_encode_into(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
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
mod tests {
    use super::*;

    #[test]
    fn parses_master_and_replicas() {
        let p =
            parse("mysql://app:s%40cret@m:3306,r1:3307,r2/appdb?balance=random&ssl_mode=disabled")
                .unwrap();
        assert_eq!(p.nodes.len(), 3);
        assert_eq!(p.nodes[0].host, "m");
        assert_eq!(p.nodes[1].port, 3307);
        assert_eq!(p.nodes[2].port, 3306);
        assert_eq!(p.nodes[0].password.expose(), "s@cret");
        assert_eq!(p.nodes[0].database, "appdb");
        assert_eq!(p.options, vec![("balance".into(), "random".into())]);
        assert_eq!(
            p.nodes[1].connection_url(),
            "mysql://app:s%40cret@r1:3307/appdb?ssl_mode=disabled"
        );
    }

    #[test]
    fn ipv6_hosts() {
        let p = parse("mysql://u:p@[::1]:3401,[::1]/db").unwrap();
        assert_eq!(p.nodes[0].host, "::1");
        assert_eq!(p.nodes[0].port, 3401);
        assert_eq!(p.nodes[1].port, 3306);
        assert_eq!(p.nodes[0].connection_url(), "mysql://u:p@[::1]:3401/db");
    }

    #[test]
    fn bad_urls_are_errors_without_the_password() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("postgres://u:hunter2@h/db", "scheme"),
            ("mysql://u:hunter2@/db", "no host"),
            ("mysql://u:hunter2@h1,,h2/db", "empty host"),
            ("mysql://u:hunter2@h:99999/db", "invalid port"),
            ("mysql://u:hunter2@h:0/db", "port 0"),
            ("mysql://u:hunter2@h:abc/db", "invalid port"),
            ("mysql://u:hunter2@h", "no database"),
            ("mysql://u:hunter2@h/", "no database"),
            ("mysql://u:hunter2@h/db/x", "single database"),
            ("mysql://u:hunter2@h/db?bogus=1", "unknown option `bogus`"),
            ("mysql://u:hunter2@h/db?balance", "no value"),
            ("mysql://u:hunter2@h/db?balance=a&balance=b", "twice"),
            ("mysql://u:hunter2@h/d%zzb", "percent"),
            ("mysql://:hunter2@h/db", "user name is empty"),
            ("mysql://h/db", "no user"),
            ("mysql://u:hunter2@h a/db", "invalid character"),
            ("mysql://u:hunter2@[::1/db", "IPv6"),
            ("mysql://u:hunter2@a,b/db?unix_socket=/x", "unix_socket"),
            ("mysql://u:hunter2@h/db#frag", "fragment"),
            ("\u{0}\u{ffff}garbage", "scheme"),
        ];
        for (url, expected) in cases {
            let err = parse(url).expect_err(url);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(expected), "{url:?}: {shown}");
            assert!(
                !shown.contains("hunter2"),
                "{url:?} leaks the password: {shown}"
            );
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("mysql://u:pw@h/db"), "mysql://u:***@h/db");
        assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
        assert_eq!(redact("mysql://u:p@w@h/db?x=1"), "mysql://u:***@h/db?x=1");
        assert_eq!(redact("user pw"), "(not shown: not a URL)");
        assert_eq!(redact("pw mysql://u:pw@h/db"), "(not shown: not a URL)");
        // No `@`: user:password can't be told from host:port.
        assert!(redact("mysql://u:pw/db").starts_with("(not shown"));
        // Option values named like a secret, to the next known option or the end.
        assert_eq!(
            redact("mysql://u:pw@h/db?replica_user=ro&replica_password=ropw&balance=random"),
            "mysql://u:***@h/db?replica_user=ro&replica_password=***&balance=random"
        );
        assert_eq!(
            redact("mysql://u:pw@h/db?replica_password=a&b=c&d"),
            "mysql://u:***@h/db?replica_password=***"
        );
        assert_eq!(
            redact("mysql://u:pw@h/db?Replica%5FPassw%6Frd=x&admin_pwd=y"),
            "mysql://u:***@h/db?Replica%5FPassw%6Frd=***"
        );
        // A `@` in a secret option's value: the main password's range runs to it, and
        // the tail after it is that value's.
        assert_eq!(
            redact("mysql://u:pw@h/db?replica_user=ro&replica_password=se@cret"),
            "mysql://u:***"
        );
    }

    /// The shapes of the routing-safety issue (defect 10): each printed the whole URL.
    #[test]
    fn unencoded_separators_in_the_password_are_not_shown() {
        for (url, expected) in [
            ("mysql://app:pa#ss@h/db", "mysql://app:***@h/db"),
            ("mysql://app:pa?ss@h/db", "mysql://app:***@h/db"),
            ("mysql://app:pa/ss@h:99999/db", "mysql://app:***@h:99999/db"),
        ] {
            let err = parse(url).expect_err(url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("pa#ss"), "{shown}");
            assert!(!shown.contains("pa?ss"), "{shown}");
            assert!(!shown.contains("pa/ss"), "{shown}");
            assert!(!shown.contains("ss@"), "{shown}");
            match err {
                Error::InvalidUrl { url: shown_url, .. } => assert_eq!(shown_url, expected),
                other => panic!("{other:?}"),
            }
        }
        let err = parse("mysql://app:pa#ss@h/db").unwrap_err().to_string();
        assert!(err.contains("%23"), "{err}");
        let err = parse("mysql://app:pa?ss@h/db").unwrap_err().to_string();
        assert!(err.contains("%3F"), "{err}");
        let err = parse("mysql://app:pa/ss@h:99999/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid port `99999`"), "{err}");
    }

    #[test]
    fn replica_password_is_masked_in_url_errors() {
        let err = parse("mysql://app:pw@h:99999/db?replica_user=ro&replica_password=Ropw1234")
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("Ropw1234"), "{shown}");
        assert!(shown.contains("replica_password=***"), "{shown}");
        // A raw `&` in it: what follows may be the password's, not an option.
        let err =
            parse("mysql://app:pw@h/db?replica_user=ro&replica_password=ab&Cdef99").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("Cdef99"), "{shown}");
        let err = parse("mysql://app:pw@h/db?replica_password=ab&Cdef99=1").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("Cdef99"), "{shown}");
        assert!(shown.contains("unknown option (not shown"), "{shown}");
        // Built into a cluster, errors about other options hold none of it either.
        let err = crate::Cluster::builder()
            .url("mysql://app:pw@h/db?replica_user=ro&replica_password=Ropw1234&balance=x")
            .build()
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("Ropw1234"));
    }

    #[test]
    fn a_value_that_may_be_part_of_the_password_is_not_quoted() {
        // Read as password `a`, host `b`, database `c`, option `balance`: but the
        // password may as well be `a@b/c?balance=Qxzj` (the last `@` ends it).
        let err = crate::Cluster::builder()
            .url("mysql://u:a@b/c?balance=Qxzj@h/db")
            .build()
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("Qxzj"), "{shown}");
        assert!(shown.contains("balance"), "{shown}");
        // A clean value is quoted as before.
        let err = crate::Cluster::builder()
            .url("mysql://u:pw@h/db?balance=fastest")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("fastest"), "{err}");
    }

    #[test]
    fn nul_bytes_are_refused_before_the_client_sees_them() {
        // Diesel would turn them into a `NulError`, whose `Debug` lists the bytes.
        for url in [
            "mysql://u:p%00w@h/db",
            "mysql://u%00@h/db",
            "mysql://u@h/d%00b",
        ] {
            let err = parse(url).expect_err(url);
            assert!(err.to_string().contains("NUL"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("x", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("x", "2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("x", "1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("x", "1m").unwrap(), Duration::from_secs(60));
        for bad in ["", "s", "-1s", "1h", "abc", "1e400", "99999999999999"] {
            assert!(parse_duration("x", bad).is_err(), "{bad}");
        }
    }
}
