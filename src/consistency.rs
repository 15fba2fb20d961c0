//! Consistency levels and consistency tokens (read-your-writes across nodes).
//!
//! A MariaDB GTID is `domain-server-sequence`; a position is a list of GTIDs, one per
//! replication domain (`0-1-10,1-2-5`). A [`ConsistencyToken`] is such a position, written
//! in a form that fits a cookie or header (RFC 6265 cookie values may not hold `,`): the
//! GTIDs are joined with `_`, e.g. `0-1-10_1-2-5`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::Error;
use crate::scope::{push, with_top, ScopeGuard};

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
/// request's replica reads wait for it with [`with_token`].
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

/// Most tokens [`TokenBook`] remembers in each of its lists: a client sending many
/// distinct forged tokens evicts older entries, and each new one costs what a first one
/// does (one read of the master's position, no wait).
const BOOK_SIZE: usize = 64;

/// What the cluster knows about consistency tokens, shared by all its connections: the
/// master's position, tokens found ahead of it (forged, or from another cluster), and
/// tokens no replica reached within the causal timeout. It bounds what a token costs: a
/// token ahead of the master is never waited for, and one that timed out is not waited
/// for again until a replica is seen to have it or `retry` has passed.
#[derive(Debug, Default)]
pub(crate) struct TokenBook {
    /// The master's `@@gtid_binlog_pos` as last seen (by the monitor or a connection),
    /// with the index of the node that was the master then.
    master: Mutex<Option<(usize, ConsistencyToken)>>,
    /// Tokens found ahead of the master's current position.
    ahead: Mutex<Vec<ConsistencyToken>>,
    /// Tokens a replica did not reach within the causal timeout, and when.
    unreachable: Mutex<Vec<(ConsistencyToken, Instant)>>,
    /// Reads whose token was found ahead of the master (they went to the master).
    pub(crate) rejected: AtomicU64,
}

/// How a token compares with what the master has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The master's known position covers it: a replica can reach it.
    Covered,
    /// It was found ahead of the master's position before: no replica can reach it.
    Ahead,
    /// Not covered by the position known, which may be older than the token.
    Unknown,
}

impl TokenBook {
    /// Records a position read from master `master` (positions only grow: merged).
    pub(crate) fn note_master_position(&self, master: usize, position: &ConsistencyToken) {
        let mut known = self.master.lock();
        match &mut *known {
            Some((m, p)) if *m == master => p.merge(position),
            slot => *slot = Some((master, position.clone())),
        }
        drop(known);
        // A token once ahead may be reached by now (or was fresh, read before the master
        // position that covers it): it is an ordinary token again.
        self.ahead.lock().retain(|t| !position.covers(t));
    }

    /// How `token` compares with master `master`'s known position.
    pub(crate) fn standing(&self, master: usize, token: &ConsistencyToken) -> Standing {
        let covered = match &*self.master.lock() {
            Some((m, p)) => *m == master && p.covers(token),
            None => false,
        };
        if covered {
            Standing::Covered
        } else if self.ahead.lock().contains(token) {
            Standing::Ahead
        } else {
            Standing::Unknown
        }
    }

    /// Remembers a token found ahead of the master's current position.
    pub(crate) fn note_ahead(&self, token: &ConsistencyToken) {
        self.rejected.fetch_add(1, Relaxed);
        let mut ahead = self.ahead.lock();
        if !ahead.contains(token) {
            if ahead.len() >= BOOK_SIZE {
                ahead.remove(0);
            }
            ahead.push(token.clone());
        }
    }

    /// Counts a read whose token was already known to be ahead of the master.
    pub(crate) fn count_rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    /// Whether `token` timed out on a replica less than `retry` ago.
    pub(crate) fn is_unreachable(&self, token: &ConsistencyToken, retry: Duration) -> bool {
        let mut list = self.unreachable.lock();
        list.retain(|(_, at)| at.elapsed() < retry);
        list.iter().any(|(t, _)| t == token)
    }

    /// Remembers a token no replica reached within the causal timeout.
    pub(crate) fn note_unreachable(&self, token: &ConsistencyToken) {
        let mut list = self.unreachable.lock();
        list.retain(|(t, _)| t != token);
        if list.len() >= BOOK_SIZE {
            list.remove(0);
        }
        list.push((token.clone(), Instant::now()));
    }

    /// A replica has applied `position`: tokens it covers are reachable again.
    pub(crate) fn reached(&self, position: &ConsistencyToken) {
        let mut list = self.unreachable.lock();
        if !list.is_empty() {
            list.retain(|(t, _)| !position.covers(t));
        }
    }
}

/// Runs `f` with `consistency` as the consistency level of its replica reads.
///
/// ```
/// use std::time::Duration;
/// use diesel_cluster::{with_consistency, Consistency};
/// with_consistency(Consistency::Bounded(Duration::from_millis(200)), || {
///     // replica reads here skip replicas more than 200 ms behind
/// });
/// ```
pub fn with_consistency<R>(consistency: Consistency, f: impl FnOnce() -> R) -> R {
    let _guard = use_consistency(consistency);
    f()
}

/// Sets the consistency level until the guard is dropped.
pub fn use_consistency(consistency: Consistency) -> ScopeGuard {
    push(|frame| frame.consistency = Some(consistency))
}

/// Runs `f` so that its replica reads first wait until the replica has applied `token`
/// (or read from the master when it can't within the cluster's causal timeout). Works on
/// any connection and thread: the token carries the position, not the connection. A
/// token ahead of the master's position (forged, or from another cluster) sends the
/// reads to the master without any wait (see the crate docs, *Read-your-writes*).
pub fn with_token<R>(token: &ConsistencyToken, f: impl FnOnce() -> R) -> R {
    let _guard = use_token(token.clone());
    f()
}

/// Makes replica reads wait for `token` until the guard is dropped.
pub fn use_token(token: ConsistencyToken) -> ScopeGuard {
    let token = std::sync::Arc::new(token);
    push(move |frame| {
        let merged = match frame.token.take() {
            Some(outer) => {
                let mut t = (*outer).clone();
                t.merge(&token);
                std::sync::Arc::new(t)
            }
            None => token,
        };
        frame.token = Some(merged);
    })
}

/// The consistency level set by the innermost scope, if any.
pub fn current_consistency() -> Option<Consistency> {
    with_top(|f| f.and_then(|f| f.consistency))
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

    #[test]
    fn the_book_checks_tokens_against_the_master() {
        let t = |s: &str| s.parse::<ConsistencyToken>().unwrap();
        let book = TokenBook::default();
        // Nothing known yet: every token needs a look at the master.
        assert_eq!(book.standing(0, &t("0-1-5")), Standing::Unknown);
        book.note_master_position(0, &ConsistencyToken::from_gtid_list("0-1-10").unwrap());
        assert_eq!(book.standing(0, &t("0-1-10")), Standing::Covered);
        // The server id is not compared: after a failover the domain's last GTID
        // carries the new master's id.
        assert_eq!(book.standing(0, &t("0-7-3")), Standing::Covered);
        assert_eq!(book.standing(0, &t("0-1-11")), Standing::Unknown);
        assert_eq!(book.standing(0, &t("0-1-5_9-1-1")), Standing::Unknown);
        // Another master: what was known of the old one says nothing.
        assert_eq!(book.standing(1, &t("0-1-5")), Standing::Unknown);
        book.note_ahead(&t("0-1-11"));
        book.note_ahead(&t("0-1-11"));
        assert_eq!(book.standing(0, &t("0-1-11")), Standing::Ahead);
        assert_eq!(book.rejected.load(Relaxed), 2);
        // The master moved past it: an ordinary token again.
        book.note_master_position(0, &ConsistencyToken::from_gtid_list("0-1-12").unwrap());
        assert_eq!(book.standing(0, &t("0-1-11")), Standing::Covered);
        assert_eq!(book.standing(0, &t("0-1-13")), Standing::Unknown);
        // Bounded: the oldest entries go first.
        for i in 0..(BOOK_SIZE as u64 + 1) {
            book.note_ahead(&t(&format!("5-1-{i}")));
        }
        assert_eq!(book.standing(0, &t("5-1-0")), Standing::Unknown);
        assert_eq!(book.standing(0, &t("5-1-1")), Standing::Ahead);
    }

    #[test]
    fn the_book_remembers_unreachable_tokens_for_a_while() {
        let t = |s: &str| s.parse::<ConsistencyToken>().unwrap();
        let book = TokenBook::default();
        let retry = Duration::from_secs(60);
        book.note_unreachable(&t("0-1-10"));
        assert!(book.is_unreachable(&t("0-1-10"), retry));
        assert!(!book.is_unreachable(&t("0-1-9"), retry));
        // A replica at an earlier position: still unreachable.
        book.reached(&t("0-1-9"));
        assert!(book.is_unreachable(&t("0-1-10"), retry));
        // A replica has it: reachable again.
        book.reached(&t("0-1-10_1-1-1"));
        assert!(!book.is_unreachable(&t("0-1-10"), retry));
        // Or the retry time passed.
        book.note_unreachable(&t("0-1-10"));
        assert!(!book.is_unreachable(&t("0-1-10"), Duration::ZERO));
        assert!(!book.is_unreachable(&t("0-1-10"), retry));
        for i in 0..(BOOK_SIZE as u64 + 1) {
            book.note_unreachable(&t(&format!("0-1-{i}")));
        }
        assert!(!book.is_unreachable(&t("0-1-0"), retry));
        assert!(book.is_unreachable(&t("0-1-1"), retry));
    }

    #[test]
    fn token_scopes_merge() {
        let a: ConsistencyToken = "0-1-5".parse().unwrap();
        let b: ConsistencyToken = "0-1-3_1-1-1".parse().unwrap();
        with_token(&a, || {
            with_token(&b, || {
                let t = with_top(|f| f.and_then(|f| f.token.clone())).unwrap();
                assert_eq!(t.to_string(), "0-1-5_1-1-1");
            })
        });
    }
}
