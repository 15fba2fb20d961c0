//! What the cluster knows about consistency tokens ([`TokenBook`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::consistency::ConsistencyToken;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
