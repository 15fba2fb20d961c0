//! The heartbeat table (see [`crate::Builder::heartbeat`]): writing the master's clock
//! into it, and the lag a replica's copy of it shows.

use std::time::{Duration, Instant};

use diesel::mysql::MysqlConnection;
use diesel::result::QueryResult;
use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;

use super::conn::MonitorConn;

#[derive(diesel::QueryableByName)]
pub(super) struct TsRow {
    #[diesel(sql_type = BigInt)]
    pub(super) ts: i64,
}

/// The heartbeat value the monitor wrote last.
#[derive(Clone, Copy, Debug)]
pub(super) struct Written {
    /// The master it was written to: another master has another clock.
    pub(super) master: usize,
    /// Microseconds since the Unix epoch, on the master's clock.
    pub(super) ts: i64,
    /// The local instant the master's clock read `ts` (the middle of that round trip).
    pub(super) at: Instant,
}

/// Lag of a replica whose copy of the heartbeat row holds `replica_ts`, given the value
/// written last (`written_ts`, read from the master's clock `elapsed` ago). Returns the
/// lag and whether the replica is behind the last heartbeat (its lag then grows until
/// the next check). Both timestamps are master clock readings, so no two clocks meet.
pub(super) fn heartbeat_lag(
    written_ts: i64,
    elapsed: Duration,
    replica_ts: i64,
) -> (Duration, bool) {
    if replica_ts >= written_ts {
        // It applied the last heartbeat (or a later one written by another process).
        return (Duration::ZERO, false);
    }
    let master_now = written_ts.saturating_add(elapsed.as_micros().min(i64::MAX as u128) as i64);
    let behind = master_now.saturating_sub(replica_ts).max(0) as u64;
    (Duration::from_micros(behind), true)
}

/// The heartbeat writer and reader (see [`crate::Builder::heartbeat`]).
pub(super) struct Heartbeat {
    /// Quoted table name.
    pub(super) table: String,
    /// The master the table was last created on (`CREATE TABLE IF NOT EXISTS` runs
    /// again after a change of master).
    pub(super) created_on: Option<usize>,
    pub(super) last: Option<Written>,
    /// A connection to the master with its writer credentials, when they differ from
    /// the node's own (a promoted replica configured with a read-only account).
    pub(super) writer: Option<(usize, MonitorConn)>,
    /// Per node: the last heartbeat read error logged, so each is logged once.
    pub(super) read_errors: Vec<Option<String>>,
}

pub(super) fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, \
         ts BIGINT NOT NULL, server_id INT UNSIGNED NOT NULL)"
    )
}

/// Reads the master's clock and writes it into the heartbeat row. Returns the value and
/// the local instant it corresponds to.
pub(super) fn write_heartbeat_row(
    conn: &mut MysqlConnection,
    table: &str,
    create: bool,
) -> QueryResult<(i64, Instant)> {
    if create {
        diesel::sql_query(create_table_sql(table)).execute(conn)?;
    }
    let before = Instant::now();
    let now: TsRow =
        diesel::sql_query("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS ts")
            .get_result(conn)?;
    let after = Instant::now();
    // The master read its clock somewhere within the round trip: take the middle.
    let at = before + (after - before) / 2;
    // A literal, not a bind: `now.ts` is an integer the server gave, and a prepared
    // statement would cost a round trip more.
    diesel::sql_query(format!(
        "INSERT INTO {table} (id, ts, server_id) VALUES (1, {}, @@server_id) \
         ON DUPLICATE KEY UPDATE ts = VALUES(ts), server_id = VALUES(server_id)",
        now.ts
    ))
    .execute(conn)?;
    Ok((now.ts, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_lag_compares_master_clock_readings_only() {
        let ms = Duration::from_millis;
        // Applied the last heartbeat (or a later one another process wrote): in time,
        // however long ago it was written.
        assert_eq!(heartbeat_lag(5_000_000, ms(900), 5_000_000), (ms(0), false));
        assert_eq!(heartbeat_lag(5_000_000, ms(900), 5_000_100), (ms(0), false));
        // Holds a heartbeat 400 ms older than the last one, written 100 ms ago: it has
        // nothing the master committed in the last 500 ms.
        assert_eq!(
            heartbeat_lag(5_000_000, ms(100), 4_600_000),
            (ms(500), true)
        );
        // Absolute values don't matter (any clock offset between the hosts cancels).
        assert_eq!(
            heartbeat_lag(1_700_000_000_000_000, ms(20), 1_699_999_999_950_000),
            (ms(70), true)
        );
    }
}
