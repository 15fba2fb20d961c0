//! Consistency levels and consistency tokens (read-your-writes across nodes).
//!
//! A MariaDB GTID is `domain-server-sequence`; a position is a list of GTIDs, one per
//! replication domain (`0-1-10,1-2-5`). A [`ConsistencyToken`] is such a position, written
//! in a form that fits a cookie or header (RFC 6265 cookie values may not hold `,`): the
//! GTIDs are joined with `_`, e.g. `0-1-10_1-2-5`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// How fresh a replica read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consistency {
    /// Reads go to the master.
    Strong,
    /// Reads go to a replica whose lag, as the monitor measured it, is at most this much
    /// (else to the master). A replica not measured yet is not fresh: reads right after
    /// the cluster is built wait for the monitor's first round (until `connect_timeout`
    /// after the build). With the monitor off no lag is ever measured and this reads as
    /// `Eventual`.
    Bounded(Duration),
    /// Reads go to any live replica, however far behind it is.
    Eventual,
    /// Reads see this connection's own committed writes: a replica first waits for the
    /// write's GTID (`MASTER_GTID_WAIT`), and the read goes to the master after the
    /// cluster's causal timeout. Costs no extra statement while nothing was written, at
    /// most two for the first replica read after a write (see the crate docs,
    /// *Read-your-writes*).
    Causal,
    /// After a write by this connection, its replica reads go to the master for this
    /// long, then to replicas again (for servers without GTIDs). Applies where the
    /// *reading* scope uses it, whatever the scope of the write.
    Sticky(Duration),
}

impl FromStr for Consistency {
    type Err = Error;
    /// `strong`, `eventual`, `causal`, `bounded:2s`, `sticky:5s`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, arg) = match lower.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (lower.as_str(), None),
        };
        let duration = |arg: Option<&str>| match arg {
            Some(a) => crate::url::parse_duration("consistency", a),
            None => Err(Error::InvalidOption {
                option: "consistency".into(),
                reason: format!("`{name}` needs a duration, e.g. `{name}:2s`"),
            }),
        };
        match (name, arg) {
            ("strong", None) => Ok(Consistency::Strong),
            ("eventual", None) => Ok(Consistency::Eventual),
            ("causal", None) => Ok(Consistency::Causal),
            ("bounded", a) => Ok(Consistency::Bounded(duration(a)?)),
            ("sticky", a) => Ok(Consistency::Sticky(duration(a)?)),
            _ => Err(Error::InvalidOption {
                option: "consistency".into(),
                reason: format!(
                    "`{s}` (expected strong, eventual, causal, bounded:<lag> or sticky:<window>)"
                ),
            }),
        }
    }
}

/// One MariaDB GTID: `domain-server-sequence`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Gtid {
    pub(crate) domain: u32,
    pub(crate) server: u32,
    pub(crate) sequence: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.sequence)
    }
}

impl Gtid {
    fn parse(s: &str) -> Option<Gtid> {
        let mut parts = s.trim().splitn(3, '-');
        let domain = parts.next()?.parse().ok()?;
        let server = parts.next()?.parse().ok()?;
        let sequence = parts.next()?.parse().ok()?;
        Some(Gtid {
            domain,
            server,
            sequence,
        })
    }
}

/// The position of a write in the replication stream: what a replica must have applied
/// before a read there can see the write.
///
/// Get one from [`ClusterConnection::consistency_token`](crate::ClusterConnection::consistency_token),
/// hand it to a later request as a string (`to_string()`, `parse()`), and make that
/// request's replica reads wait for it with [`with_token`](crate::with_token).
///
/// ```
/// use diesel_cluster::ConsistencyToken;
/// let token: ConsistencyToken = "0-1-10_1-2-5".parse().unwrap();
/// assert_eq!(token.to_string(), "0-1-10_1-2-5");
/// assert!("0-1-x".parse::<ConsistencyToken>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConsistencyToken {
    /// At most one GTID per domain, sorted by domain.
    gtids: Vec<Gtid>,
}

/// Longest token string accepted: bounds the work a forged cookie can cause.
const MAX_TOKEN_LEN: usize = 512;

impl ConsistencyToken {
    /// Parses a MariaDB GTID position as the server prints it (`0-1-10,1-2-5`), e.g. the
    /// value of `@@last_gtid` or `@@gtid_binlog_pos`. Empty means "no position".
    pub(crate) fn from_gtid_list(s: &str) -> Option<ConsistencyToken> {
        let mut token = ConsistencyToken::default();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            token.merge_gtid(Gtid::parse(part)?);
        }
        Some(token)
    }

    /// The position in MariaDB's own syntax, for `MASTER_GTID_WAIT`.
    pub(crate) fn gtid_list(&self) -> String {
        let mut s = String::new();
        for (i, g) in self.gtids.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&g.to_string());
        }
        s
    }

    /// True when the token names no write.
    pub fn is_empty(&self) -> bool {
        self.gtids.is_empty()
    }

    /// Keeps, per domain, the later of the two positions.
    pub fn merge(&mut self, other: &ConsistencyToken) {
        for g in &other.gtids {
            self.merge_gtid(*g);
        }
    }

    fn merge_gtid(&mut self, g: Gtid) {
        match self.gtids.binary_search_by_key(&g.domain, |x| x.domain) {
            Ok(i) => {
                if g.sequence > self.gtids[i].sequence {
                    self.gtids[i] = g;
                }
            }
            Err(i) => self.gtids.insert(i, g),
        }
    }

    /// True when every domain of `other` is at or before this token's position.
    pub fn covers(&self, other: &ConsistencyToken) -> bool {
        other.gtids.iter().all(|o| {
            self.gtids
                .iter()
                .any(|s| s.domain == o.domain && s.sequence >= o.sequence)
        })
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.gtids.iter().enumerate() {
            if i > 0 {
                f.write_str("_")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl FromStr for ConsistencyToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidToken {
            reason: reason.to_string(),
        };
        if s.len() > MAX_TOKEN_LEN {
            return Err(bad("too long"));
        }
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let mut token = ConsistencyToken::default();
        for part in s.split('_') {
            let g = Gtid::parse(part)
                .filter(|_| part.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
                .ok_or_else(|| bad("expected GTIDs like 0-1-10 joined by `_`"))?;
            if token.gtids.iter().any(|x| x.domain == g.domain) {
                return Err(bad("a replication domain appears twice"));
            }
            token.merge_gtid(g);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_merge() {
        let t: ConsistencyToken = "1-2-5_0-1-10".parse().unwrap();
        assert_eq!(t.to_string(), "0-1-10_1-2-5");
        assert_eq!(t.gtid_list(), "0-1-10,1-2-5");
        let mut a = ConsistencyToken::from_gtid_list("0-1-12").unwrap();
        a.merge(&t);
        assert_eq!(a.to_string(), "0-1-12_1-2-5");
        assert!(a.covers(&t));
        assert!(!t.covers(&a));
        assert_eq!(
            ConsistencyToken::from_gtid_list("").unwrap(),
            ConsistencyToken::default()
        );
    }

    #[test]
    fn malformed_tokens_are_errors() {
        let long = "0-1-1_".repeat(200);
        for bad in [
            "",
            "x",
            "0-1",
            "0-1-",
            "-1-2",
            "0-1-2_",
            "0-1-2__0-1-3",
            "0-1-2_0-3-4",
            "0 -1-2",
            "0-1-+2",
            "99999999999-1-1",
            "0-1-99999999999999999999",
            long.as_str(),
            "0-1-2,1-1-1",
        ] {
            assert!(bad.parse::<ConsistencyToken>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn consistency_parses() {
        assert_eq!(
            "causal".parse::<Consistency>().unwrap(),
            Consistency::Causal
        );
        assert_eq!(
            "bounded:500ms".parse::<Consistency>().unwrap(),
            Consistency::Bounded(Duration::from_millis(500))
        );
        assert!("bounded".parse::<Consistency>().is_err());
        assert!("sticky:x".parse::<Consistency>().is_err());
        assert!("nope".parse::<Consistency>().is_err());
    }
}
