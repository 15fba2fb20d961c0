//! Conflict retry, shared by both connections' `transaction_with_retry`: which errors
//! mean a transaction lost a conflict (and was rolled back whole by the server), the
//! backoff between attempts, and how a retry is counted.

use std::time::Duration;

use super::{Engine, Link};

/// The first backoff; each retry doubles it, up to [`MAX_BACKOFF`], with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

impl<L: Link> Engine<L> {
    /// Whether a transaction that failed with `error` on attempt `attempt` (0-based)
    /// runs again: a conflict, with retries left. If so, counts and logs the retry on
    /// the node the transaction ran on and returns the pause to take first.
    pub(crate) fn conflict_retry(
        &self,
        attempt: u32,
        error: &(dyn std::error::Error + 'static),
    ) -> Option<Duration> {
        let shared = self.cluster.topology();
        let retries = shared.config.conflict_retries;
        if attempt >= retries || !is_conflict(error) {
            return None;
        }
        if let Some(i) = self.last_node {
            shared.nodes[i].count_conflict_retry();
            log::info!(
                "transaction lost a conflict on {} ({error}); running it again (retry {} of {retries})",
                shared.nodes[i].label,
                attempt + 1
            );
        }
        Some(backoff(attempt + 1))
    }
}

/// Whether `error`, or an error in its source chain, is a Diesel error that says the
/// transaction lost a conflict.
pub(crate) fn is_conflict(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(diesel::result::Error::DatabaseError(_, info)) =
            e.downcast_ref::<diesel::result::Error>()
        {
            return crate::galera::is_conflict_message(info.message());
        }
        current = e.source();
    }
    false
}

/// The pause before retry `attempt` (1-based): doubling from [`FIRST_BACKOFF`], capped at
/// [`MAX_BACKOFF`], times a jitter factor in [0.5, 1.5) so that the transactions that
/// collided don't collide again in step.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(MAX_BACKOFF);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let jitter = 0.5 + (h.finish() % 1000) as f64 / 1000.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    fn db_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_string()))
    }

    #[derive(Debug)]
    struct AppError(DieselError);
    impl std::fmt::Display for AppError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("app error")
        }
    }
    impl std::error::Error for AppError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn conflicts_are_found_through_the_source_chain() {
        let deadlock = "Deadlock found when trying to get lock; try restarting transaction";
        assert!(is_conflict(&db_error(deadlock)));
        assert!(is_conflict(&AppError(db_error(deadlock))));
        assert!(!is_conflict(&db_error(
            "Lock wait timeout exceeded; try restarting transaction"
        )));
        assert!(!is_conflict(&DieselError::NotFound));
        assert!(!is_conflict(&AppError(DieselError::RollbackTransaction)));
    }

    #[test]
    fn the_backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let b = backoff(attempt);
            assert!(
                b >= FIRST_BACKOFF / 2 && b < MAX_BACKOFF * 3 / 2,
                "{attempt}: {b:?}"
            );
        }
        assert!(backoff(1) < Duration::from_millis(3));
        assert!(backoff(8) >= MAX_BACKOFF / 2);
    }
}
