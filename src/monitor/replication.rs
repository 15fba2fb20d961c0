//! A replica's replication state as `SHOW SLAVE STATUS` tells it.

use std::time::Duration;

use diesel::mysql::MysqlConnection;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use crate::error::Error;

#[derive(diesel::QueryableByName, Debug)]
pub(super) struct SlaveStatus {
    #[diesel(sql_type = Nullable<BigInt>, column_name = Seconds_Behind_Master)]
    pub(super) seconds_behind_master: Option<i64>,
    #[diesel(sql_type = Text, column_name = Slave_IO_Running)]
    pub(super) io_running: String,
    #[diesel(sql_type = Text, column_name = Slave_SQL_Running)]
    pub(super) sql_running: String,
    #[diesel(sql_type = Nullable<BigInt>, column_name = SQL_Delay)]
    pub(super) sql_delay: Option<i64>,
    #[diesel(sql_type = Text, column_name = Master_Log_File)]
    pub(super) read_file: String,
    #[diesel(sql_type = BigInt, column_name = Read_Master_Log_Pos)]
    pub(super) read_pos: i64,
    #[diesel(sql_type = Text, column_name = Relay_Master_Log_File)]
    pub(super) exec_file: String,
    #[diesel(sql_type = BigInt, column_name = Exec_Master_Log_Pos)]
    pub(super) exec_pos: i64,
}

/// What `SHOW SLAVE STATUS` says about a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Replication {
    /// The lag as reads see it: `None` when it is unknown because replication is
    /// stopped, broken or not configured (`Seconds_Behind_Master` NULL, a thread not
    /// running, no `SHOW SLAVE STATUS` row).
    pub(super) lag: Option<Duration>,
    /// `Seconds_Behind_Master` as read (`None`: NULL or no row).
    pub(super) seconds_behind_master: Option<u64>,
    /// Whether both replication threads run (false with no row: not a replica).
    pub(super) running: bool,
}

/// Replication state of a replica, read with `SHOW SLAVE STATUS`.
///
/// A replica configured with `MASTER_DELAY` counts as at least that far behind: every
/// write reaches it that late, even while it happens to be idle and reports 0.
///
/// `master_up` says whether the monitor reached the master in this round. When it did
/// not, every replica's IO thread has lost the master too, and `Seconds_Behind_Master`
/// is NULL everywhere; a replica that applied everything it received is then as fresh
/// as any reachable node (nothing newer can be read anywhere), so it counts as 0 behind
/// and keeps serving reads while the master is down.
pub(super) fn replication(conn: &mut MysqlConnection, master_up: bool) -> QueryResult<Replication> {
    let rows: Vec<SlaveStatus> = diesel::sql_query("SHOW SLAVE STATUS").load(conn)?;
    Ok(from_status(rows.into_iter().next(), master_up))
}

/// What a `SHOW SLAVE STATUS` row (`None`: no row) says, see [`replication`].
fn from_status(row: Option<SlaveStatus>, master_up: bool) -> Replication {
    let Some(row) = row else {
        return Replication {
            lag: None,
            seconds_behind_master: None,
            running: false,
        };
    };
    let seconds_behind_master = row.seconds_behind_master.map(|s| s.max(0) as u64);
    let running = row.io_running == "Yes" && row.sql_running == "Yes";
    let lag = if row.sql_running != "Yes" {
        None
    } else if row.io_running != "Yes" {
        let applied_all = row.read_file == row.exec_file && row.read_pos == row.exec_pos;
        (!master_up && applied_all).then_some(Duration::ZERO)
    } else {
        row.seconds_behind_master.map(|behind| {
            let seconds = behind.max(row.sql_delay.unwrap_or(0)).max(0);
            Duration::from_secs(seconds as u64)
        })
    };
    Replication {
        lag,
        seconds_behind_master,
        running,
    }
}

/// What a replica's state says when its replication status can't be read.
pub(super) fn monitor_error(label: &str, error: &diesel::result::Error) -> Error {
    let message = error.to_string();
    let hint = if message.to_ascii_lowercase().contains("denied") {
        "; the replica's account needs the SLAVE MONITOR privilege (REPLICATION CLIENT \
         before MariaDB 10.5)"
    } else {
        ""
    };
    Error::Monitor {
        node: label.to_string(),
        reason: format!(
            "SHOW SLAVE STATUS failed: {message}{hint}; its lag is unknown, so it gets no \
             lag-bounded reads"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (what, Seconds_Behind_Master, IO thread, SQL thread, SQL_Delay, all relay log
    /// applied, master reached, lag as reads see it)
    type Case = (
        &'static str,
        Option<i64>,
        &'static str,
        &'static str,
        i64,
        bool,
        bool,
        Option<u64>,
    );

    const CASES: &[Case] = &[
        ("in time", Some(0), "Yes", "Yes", 0, true, true, Some(0)),
        ("behind", Some(7), "Yes", "Yes", 0, false, true, Some(7)),
        (
            "MASTER_DELAY counts even when idle",
            Some(0),
            "Yes",
            "Yes",
            30,
            true,
            true,
            Some(30),
        ),
        (
            "behind more than its delay",
            Some(45),
            "Yes",
            "Yes",
            30,
            false,
            true,
            Some(45),
        ),
        (
            "SQL thread stopped: unknown",
            Some(0),
            "Yes",
            "No",
            0,
            true,
            true,
            None,
        ),
        (
            "NULL behind: unknown",
            None,
            "Yes",
            "Yes",
            0,
            true,
            true,
            None,
        ),
        (
            "IO thread lost a master that is up: unknown",
            None,
            "Connecting",
            "Yes",
            0,
            true,
            true,
            None,
        ),
        (
            "master down, everything applied: as fresh as anything",
            None,
            "Connecting",
            "Yes",
            0,
            true,
            false,
            Some(0),
        ),
        (
            "master down, relay log not applied: unknown",
            None,
            "Connecting",
            "Yes",
            0,
            false,
            false,
            None,
        ),
        (
            "master down, SQL thread stopped: unknown",
            None,
            "No",
            "No",
            0,
            true,
            false,
            None,
        ),
    ];

    #[test]
    fn lag_as_reads_see_it() {
        for &(what, behind, io, sql, delay, applied, master_up, want) in CASES {
            let row = SlaveStatus {
                seconds_behind_master: behind,
                io_running: io.into(),
                sql_running: sql.into(),
                sql_delay: Some(delay),
                read_file: "bin.000002".into(),
                read_pos: if applied { 900 } else { 1200 },
                exec_file: "bin.000002".into(),
                exec_pos: 900,
            };
            let r = from_status(Some(row), master_up);
            assert_eq!(r.lag, want.map(Duration::from_secs), "{what}");
            assert_eq!(r.running, io == "Yes" && sql == "Yes", "{what}");
            assert_eq!(r.seconds_behind_master, behind.map(|b| b as u64), "{what}");
        }
    }

    #[test]
    fn no_row_is_not_a_replica() {
        let r = from_status(None, true);
        assert_eq!(
            (r.lag, r.seconds_behind_master, r.running),
            (None, None, false)
        );
    }
}
