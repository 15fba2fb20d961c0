//! Differential test of the session promise (a `ClusterConnection` behaves as one
//! `MysqlConnection`) and of the safety rule: scripted sessions run on one plain
//! `MysqlConnection` and on a `ClusterConnection` in each default role give the same
//! answers for `LAST_INSERT_ID()`, `FOUND_ROWS()`, `ROW_COUNT()`, user variables,
//! `@@time_zone`, `DATABASE()` (and a few more session values) after each step.
//!
//! Each side writes to a table of its own, so the two histories are identical and
//! AUTO_INCREMENT ids agree; only session values (and the master's copy of a side's own
//! rows) are compared, never replica data, which may lag.
use crate::common;

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_cluster::{Cluster, ClusterConnection, Role};
use proptest::prelude::*;

const CLUSTER: &str = "diffsess";
const ROLES: [Role; 3] = [Role::Master, Role::Auto, Role::Replica];

fn tc() -> &'static common::TestCluster {
    common::cluster(CLUSTER)
}

#[derive(QueryableByName, Debug)]
struct V {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

// ------------------------------------------------------------------ scripts

// Where a step runs on the cluster side (the plain connection has one node).
use common::db::Scope;

/// A statement whose answer is compared between the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    LastInsertId,
    Identity,
    LastInsertIdVar,
    FoundRows,
    RowCount,
    WarningCount,
    Vars,
    TimeZone,
    SqlMode,
    Database,
    /// The side's newest row on the master (its own table): catches a write that read
    /// the wrong node's per-connection state.
    NewestRow,
}

/// The probes of the property test. `@@warning_count` is left to the fixed scripts: it
/// follows the previous statement's node, while one connection keeps its warnings through
/// later statements that use no table; after such a statement on another node (a replica
/// read of a constant, a `SET`) the two differ by design (a documented limit).
const PROBES: [Probe; 10] = [
    Probe::LastInsertId,
    Probe::Identity,
    Probe::LastInsertIdVar,
    Probe::FoundRows,
    Probe::RowCount,
    Probe::Vars,
    Probe::TimeZone,
    Probe::SqlMode,
    Probe::Database,
    Probe::NewestRow,
];

impl Probe {
    fn sql(self) -> &'static str {
        match self {
            Probe::LastInsertId => "SELECT CAST(LAST_INSERT_ID() AS CHAR) AS v",
            Probe::Identity => "SELECT CAST(@@identity AS CHAR) AS v",
            Probe::LastInsertIdVar => "SELECT CAST(@@last_insert_id AS CHAR) AS v",
            Probe::FoundRows => "SELECT CAST(FOUND_ROWS() AS CHAR) AS v",
            Probe::RowCount => "SELECT CAST(ROW_COUNT() AS CHAR) AS v",
            Probe::WarningCount => "SELECT CAST(@@warning_count AS CHAR) AS v",
            Probe::Vars => {
                "SELECT CONCAT_WS(',', COALESCE(@n, '-'), COALESCE(@id, '-'), COALESCE(@x, '-'), \
                 COALESCE(@f, '-'), COALESCE(@r, '-'), COALESCE(@v, '-'), COALESCE(@a, '-'), \
                 COALESCE(@b, '-'), COALESCE(@wn, '-')) AS v"
            }
            Probe::TimeZone => "SELECT @@time_zone AS v",
            Probe::SqlMode => "SELECT @@sql_mode AS v",
            Probe::Database => "SELECT DATABASE() AS v",
            Probe::NewestRow => {
                "SELECT CONCAT(id, ':', COALESCE(v, 'NULL')) AS v FROM {t} ORDER BY id DESC LIMIT 1"
            }
        }
    }

    /// The newest row is table data: read it where it is current on both sides.
    fn scope(self, asked: Scope) -> Scope {
        if self == Probe::NewestRow {
            Scope::Master
        } else {
            asked
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Stmt {
    /// `sql_query(..).execute`; `{t}` is the side's table.
    Exec(String),
    /// `batch_execute`.
    Batch(String),
    /// `sql_query(..).load::<V>`: a read whose rows are not compared.
    Read(String),
    /// `sql_query("SET @x = ?").bind::<Integer, _>(n)`.
    SetBound(i32),
    Probe(Probe),
    /// `USE` of a database that exists on the master only: the cluster may refuse it
    /// (then nothing changed) or mark itself broken; it must not half-apply it.
    UseMasterOnly,
}

#[derive(Clone, Debug, PartialEq)]
struct Step {
    scope: Scope,
    stmt: Stmt,
    /// Changes data or has a side effect: moved to Master scope where the role would be
    /// Replica (writes there are refused by design).
    write: bool,
    /// Replicas must have the master's data first (`SET @v = (SELECT COUNT(*) ..)`).
    needs_sync: bool,
    /// The cluster may refuse it with an error (a write needing per-connection state
    /// held on a replica); then the script ends for that role.
    may_refuse: bool,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match &self.stmt {
            Stmt::Exec(s) | Stmt::Batch(s) | Stmt::Read(s) => s.clone(),
            Stmt::SetBound(n) => format!("SET @x = ? [bind {n}]"),
            Stmt::Probe(p) => p.sql().to_string(),
            Stmt::UseMasterOnly => format!("USE {MASTER_ONLY_DB}"),
        };
        f.write_str(&s)
    }
}

fn read(scope: Scope, sql: &str) -> Step {
    step(scope, Stmt::Read(sql.into()))
}
fn exec(scope: Scope, sql: &str) -> Step {
    step(scope, Stmt::Exec(sql.into()))
}
fn write(scope: Scope, sql: &str) -> Step {
    Step {
        write: true,
        ..step(scope, Stmt::Exec(sql.into()))
    }
}
fn probe(scope: Scope, p: Probe) -> Step {
    step(scope, Stmt::Probe(p))
}
fn step(scope: Scope, stmt: Stmt) -> Step {
    Step {
        scope,
        stmt,
        write: false,
        needs_sync: false,
        may_refuse: false,
    }
}

// ------------------------------------------------------------------ the two sides

const MASTER_ONLY_DB: &str = "diffsess_master_only";

/// Admin connections to every node, for syncing and for setup the library must not do.
struct Admin {
    master: MysqlConnection,
    replicas: Vec<MysqlConnection>,
}

impl Admin {
    fn new() -> Admin {
        let c = tc();
        let url = |port: u16| format!("mysql://admin:admin_pw@127.0.0.1:{port}/app");
        Admin {
            master: MysqlConnection::establish(&c.admin_url).expect("admin connection"),
            replicas: [c.replica1_port, c.replica2_port]
                .iter()
                .map(|p| MysqlConnection::establish(&url(*p)).expect("admin connection"))
                .collect(),
        }
    }

    fn one(conn: &mut MysqlConnection, sql: &str) -> Option<String> {
        diesel::sql_query(sql)
            .get_result::<V>(conn)
            .unwrap_or_else(|e| panic!("admin: {sql}: {e}"))
            .v
    }

    /// Waits until both replicas applied everything the master wrote (10 s at most).
    fn sync(&mut self) {
        let pos = Self::one(&mut self.master, "SELECT @@gtid_binlog_pos AS v").unwrap_or_default();
        for r in &mut self.replicas {
            let got = Self::one(
                r,
                &format!("SELECT CAST(MASTER_GTID_WAIT('{pos}', 10) AS CHAR) AS v"),
            );
            assert_eq!(got.as_deref(), Some("0"), "replica did not reach {pos}");
        }
    }
}

/// One side's table, dropped and created fresh on the master and replicated.
fn fresh_table(admin: &mut Admin, name: &str) -> String {
    let t = format!("app.{name}");
    admin
        .master
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {t}; \
             CREATE TABLE {t} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v BIGINT NULL)"
        ))
        .unwrap_or_else(|e| panic!("create {t}: {e}"));
    t
}

enum Side<'a> {
    Plain(&'a mut MysqlConnection),
    Cluster(&'a mut ClusterConnection),
}

/// What one statement gave: `Ok(Some(v))` for a probe, `Ok(None)` otherwise.
type Outcome = Result<Option<String>, String>;

fn run_on<C>(conn: &mut C, stmt: &Stmt, table: &str) -> Outcome
where
    C: Connection<Backend = diesel::mysql::Mysql> + diesel::connection::LoadConnection,
{
    let sub = |s: &str| s.replace("{t}", table);
    let r = match stmt {
        Stmt::Exec(s) => diesel::sql_query(sub(s)).execute(conn).map(|_| None),
        Stmt::Batch(s) => conn.batch_execute(&sub(s)).map(|_| None),
        Stmt::Read(s) => diesel::sql_query(sub(s)).load::<V>(conn).map(|_| None),
        Stmt::SetBound(n) => diesel::sql_query("SET @x = ?")
            .bind::<Integer, _>(*n)
            .execute(conn)
            .map(|_| None),
        Stmt::Probe(p) => diesel::sql_query(sub(p.sql())).load::<V>(conn).map(|rows| {
            Some(
                rows.into_iter()
                    .next()
                    .and_then(|r| r.v)
                    .unwrap_or("<no row>".into()),
            )
        }),
        Stmt::UseMasterOnly => conn
            .batch_execute(&format!("USE {MASTER_ONLY_DB}"))
            .map(|_| None),
    };
    r.map_err(|e| e.to_string())
}

impl Side<'_> {
    fn run(&mut self, scope: Scope, stmt: &Stmt, table: &str) -> Outcome {
        match self {
            Side::Plain(c) => run_on(*c, stmt, table),
            Side::Cluster(c) => scope.run(|| run_on(*c, stmt, table)),
        }
    }
}

fn cluster_for(role: Role) -> Cluster {
    Cluster::builder()
        .url(&tc().cluster_url)
        .default_role(role)
        .build()
        .expect("cluster")
}

/// Runs `script` on a fresh plain connection and a fresh cluster connection of `role`;
/// returns the first divergence.
fn diverges(
    admin: &mut Admin,
    cluster: &Cluster,
    role: Role,
    tables: &(String, String),
    script: &[Step],
) -> Result<(), String> {
    let mut plain = MysqlConnection::establish(&tc().master_url).map_err(|e| e.to_string())?;
    let mut conn = cluster.connect();
    let mut trace = Vec::new();
    for (i, step) in script.iter().enumerate() {
        let scope = if step.write && step.scope.role(role) == Role::Replica {
            Scope::Master
        } else {
            step.scope
        };
        let scope = match &step.stmt {
            Stmt::Probe(p) => p.scope(scope),
            _ => scope,
        };
        if step.needs_sync {
            admin.sync();
        }
        let before = if step.stmt == Stmt::UseMasterOnly {
            Some(run_on(&mut conn, &Stmt::Probe(Probe::Database), &tables.1))
        } else {
            None
        };
        let p = Side::Plain(&mut plain).run(scope, &step.stmt, &tables.0);
        let c = Side::Cluster(&mut conn).run(scope, &step.stmt, &tables.1);
        trace.push(format!(
            "  {i:>2} [{scope:?}] {step}  -> plain {p:?}, cluster {c:?}"
        ));
        let fail = |what: &str, trace: &[String]| {
            Err(format!(
                "default role {role:?}: step {i} ({scope:?}: {step}): {what}\n{}",
                trace.join("\n")
            ))
        };
        match (&p, &c) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok(_), Ok(_)) => return fail("different answers", &trace),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) => return fail("the cluster ran what one connection refused", &trace),
            (Ok(_), Err(_)) if step.may_refuse => return Ok(()),
            (Ok(_), Err(e)) if step.stmt == Stmt::UseMasterOnly => {
                if conn.is_broken() {
                    return Ok(());
                }
                // Refused and not broken: nothing may have changed, on any node.
                let before = before.and_then(|b| b.ok()).flatten();
                for s in [Scope::Master, Scope::Replica, Scope::Replica, Scope::Auto] {
                    let now = s.run(|| run_on(&mut conn, &Stmt::Probe(Probe::Database), &tables.1));
                    if now.as_ref().ok().and_then(|v| v.clone()) != before {
                        return fail(
                            &format!(
                                "refused ({e}) but not all-or-nothing: DATABASE() in {s:?} scope \
                                 is {now:?}, was {before:?}"
                            ),
                            &trace,
                        );
                    }
                }
                // Bring the plain side back to the same database and go on.
                let back = before.unwrap_or_else(|| "app".into());
                plain
                    .batch_execute(&format!("USE {back}"))
                    .map_err(|e| e.to_string())?;
            }
            (Ok(_), Err(_)) => return fail("the cluster refused what one connection ran", &trace),
        }
    }
    Ok(())
}

/// Serialises the tests of this module that share side tables; poison-tolerant. Taken
/// after the cluster guard.
fn lock() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `script` in every default role, each on fresh tables named after `name`;
/// panics with every role's divergence.
fn check(name: &str, script: &[Step]) {
    check_all(&[(name, script)]);
}

/// [`check`] for several scripts, reporting every one that diverges.
fn check_all(scripts: &[(&str, &[Step])]) {
    let failures: Vec<String> = scripts
        .iter()
        .filter_map(|(name, script)| {
            let f = role_failures(name, script);
            (!f.is_empty()).then(|| {
                format!(
                    "{name}: {} of 3 roles diverge from one MysqlConnection:\n{}",
                    f.len(),
                    f.join("\n\n")
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn role_failures(name: &str, script: &[Step]) -> Vec<String> {
    let mut admin = Admin::new();
    let mut failures = Vec::new();
    for role in ROLES {
        let r = format!("{role:?}").to_lowercase();
        let tables = (
            fresh_table(&mut admin, &format!("diff_{name}_{r}_plain")),
            fresh_table(&mut admin, &format!("diff_{name}_{r}_cluster")),
        );
        admin.sync();
        let cluster = cluster_for(role);
        if let Err(e) = diverges(&mut admin, &cluster, role, &tables, script) {
            failures.push(e);
        }
        for t in [&tables.0, &tables.1] {
            let _ = admin
                .master
                .batch_execute(&format!("DROP TABLE IF EXISTS {t}"));
        }
    }
    failures
}

// ------------------------------------------------------------------ fixed scripts

use Scope::{Auto, Default as Def, Master, Replica};

const INSERT: &str = "INSERT INTO {t} (v) VALUES (1)";
const COUNT: &str = "SELECT CAST(COUNT(*) AS CHAR) AS v FROM {t}";

#[test]
fn last_insert_id_survives_replica_reads() {
    let _g = common::shared(CLUSTER);
    check(
        "lii_reads",
        &[
            write(Def, INSERT),
            write(Def, INSERT),
            read(Replica, COUNT),
            probe(Def, Probe::LastInsertId),
            read(Def, COUNT),
            probe(Replica, Probe::LastInsertId),
            read(Auto, COUNT),
            probe(Auto, Probe::Identity),
            read(Replica, COUNT),
            probe(Def, Probe::LastInsertIdVar),
            probe(Replica, Probe::LastInsertIdVar),
        ],
    );
}

#[test]
fn insert_of_last_insert_id_in_master_scope() {
    let _g = common::shared(CLUSTER);
    check(
        "lii_insert",
        &[
            write(Def, INSERT),
            read(Replica, COUNT),
            write(Master, "INSERT INTO {t} (v) VALUES (LAST_INSERT_ID())"),
            probe(Master, Probe::NewestRow),
            probe(Def, Probe::LastInsertId),
            read(Replica, COUNT),
            write(Master, "INSERT INTO {t} (v) VALUES (LAST_INSERT_ID())"),
            probe(Master, Probe::NewestRow),
        ],
    );
}

#[test]
fn multi_row_insert_and_last_insert_id_expr() {
    let _g = common::shared(CLUSTER);
    check(
        "lii_multi",
        &[
            write(Def, "INSERT INTO {t} (v) VALUES (1), (2), (3)"),
            probe(Def, Probe::RowCount),
            read(Replica, COUNT),
            probe(Replica, Probe::LastInsertId),
            Step {
                write: true,
                ..read(Def, "SELECT CAST(LAST_INSERT_ID(42) AS CHAR) AS v")
            },
            read(Replica, COUNT),
            probe(Def, Probe::LastInsertId),
            probe(Replica, Probe::LastInsertId),
        ],
    );
}

#[test]
fn found_rows_follows_the_last_select() {
    let _g = common::shared(CLUSTER);
    check(
        "found_rows",
        &[
            read(
                Def,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_7 LIMIT 1",
            ),
            probe(Def, Probe::FoundRows),
            read(
                Replica,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_9 LIMIT 2",
            ),
            probe(Replica, Probe::FoundRows),
            read(
                Master,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_5 LIMIT 1",
            ),
            probe(Replica, Probe::FoundRows),
            read(
                Replica,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_11 LIMIT 1",
            ),
            write(Master, INSERT),
            // The insert is not a SELECT: FOUND_ROWS() still follows the last SELECT.
            probe(Def, Probe::FoundRows),
        ],
    );
}

#[test]
fn set_from_found_rows_and_row_count() {
    let _g = common::shared(CLUSTER);
    check(
        "set_fr_rc",
        &[
            read(
                Replica,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_7 LIMIT 1",
            ),
            exec(Def, "SET @f = FOUND_ROWS()"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
            write(Def, "INSERT INTO {t} (v) VALUES (5), (6)"),
            exec(Replica, "SET @r = ROW_COUNT()"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
        ],
    );
}

#[test]
fn write_needing_replica_found_rows_is_refused_or_right() {
    let _g = common::shared(CLUSTER);
    check(
        "fr_write",
        &[
            read(
                Def,
                "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_7 LIMIT 1",
            ),
            Step {
                may_refuse: true,
                ..write(Def, "INSERT INTO {t} (v) VALUES (FOUND_ROWS())")
            },
            probe(Master, Probe::NewestRow),
        ],
    );
}

#[test]
fn row_count_and_warnings_follow_the_previous_statement() {
    let _g = common::shared(CLUSTER);
    check(
        "row_count",
        &[
            write(Def, "INSERT INTO {t} (v) VALUES (1), (2), (3), (4)"),
            probe(Def, Probe::RowCount),
            write(Def, "UPDATE {t} SET v = v + 1 WHERE v > 1"),
            probe(Replica, Probe::RowCount),
            read(Replica, "SELECT CAST(1/0 AS CHAR) AS v"),
            probe(Def, Probe::WarningCount),
            read(Replica, "SELECT CAST(1/0 AS CHAR) AS v"),
            probe(Master, Probe::WarningCount),
            write(Def, "DELETE FROM {t} WHERE v = 3"),
            probe(Auto, Probe::RowCount),
        ],
    );
}

/// The first statement sees what `establish` left (ROW_COUNT() 0 after its `SET`s), not
/// statements the library sent for itself; found by the property test.
#[test]
fn row_count_of_a_fresh_connection() {
    let _g = common::shared(CLUSTER);
    check("fresh_row_count", &[probe(Def, Probe::RowCount)]);
    check(
        "fresh_set_row_count",
        &[
            exec(Def, "SET @r = ROW_COUNT()"),
            probe(Master, Probe::Vars),
        ],
    );
    check(
        "fresh_replica_row_count",
        &[probe(Replica, Probe::RowCount)],
    );
}

#[test]
fn get_diagnostics_into_a_variable() {
    let _g = common::shared(CLUSTER);
    check(
        "diagnostics",
        &[
            read(Replica, "SELECT CAST(1/0 AS CHAR) AS v"),
            exec(Def, "GET DIAGNOSTICS @wn = NUMBER"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
            read(Master, "SELECT CAST(1/0 AS CHAR) AS v"),
            exec(Replica, "GET DIAGNOSTICS @wn = NUMBER"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
        ],
    );
}

/// The error of a failed session statement stays in the diagnostics area through
/// statements that use no table (a `SET`, a `SELECT` of a function), as on one
/// connection; found by the property test.
#[test]
fn diagnostics_of_a_failed_session_statement() {
    let _g = common::shared(CLUSTER);
    check(
        "session_diag",
        &[
            exec(Replica, "USE no_such_db_anywhere"),
            probe(Def, Probe::WarningCount),
            exec(Replica, "USE no_such_db_anywhere"),
            exec(Master, "SET sql_mode = 'STRICT_ALL_TABLES,PIPES_AS_CONCAT'"),
            probe(Def, Probe::WarningCount),
            exec(Def, "SET time_zone = 'No/Such_Zone'"),
            exec(Replica, "SET @a = 1"),
            probe(Master, Probe::WarningCount),
        ],
    );
}

#[test]
fn set_from_last_insert_id_everywhere() {
    let _g = common::shared(CLUSTER);
    check(
        "set_lii",
        &[
            write(Def, INSERT),
            write(Def, INSERT),
            read(Replica, COUNT),
            exec(Def, "SET @id = LAST_INSERT_ID()"),
            probe(Replica, Probe::Vars),
            probe(Master, Probe::Vars),
            exec(Replica, "SET @id = LAST_INSERT_ID() + 100"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
        ],
    );
}

#[test]
fn counter_increments_once_per_set() {
    let _g = common::shared(CLUSTER);
    let mut s = vec![exec(Def, "SET @n = 0")];
    for _ in 0..3 {
        s.push(exec(Def, "SET @n = @n + 1"));
        s.push(read(Replica, COUNT));
        s.push(probe(Replica, Probe::Vars));
        s.push(probe(Master, Probe::Vars));
    }
    s.push(exec(Replica, "SET @n = @n + 1"));
    s.push(probe(Master, Probe::Vars));
    s.push(exec(Master, "SET @n = @n + 1"));
    s.push(probe(Replica, Probe::Vars));
    s.push(write(Def, "INSERT INTO {t} (v) VALUES (@n)"));
    s.push(probe(Master, Probe::NewestRow));
    check("counter", &s);
}

#[test]
fn bound_set_reaches_every_node() {
    let _g = common::shared(CLUSTER);
    check(
        "bound",
        &[
            step(Def, Stmt::SetBound(5)),
            probe(Replica, Probe::Vars),
            probe(Master, Probe::Vars),
            step(Replica, Stmt::SetBound(7)),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
            write(Def, "INSERT INTO {t} (v) VALUES (@x)"),
            probe(Master, Probe::NewestRow),
        ],
    );
}

#[test]
fn set_from_a_subquery_reads_once() {
    let _g = common::shared(CLUSTER);
    check(
        "subquery",
        &[
            write(Def, "INSERT INTO {t} (v) VALUES (1), (2)"),
            Step {
                needs_sync: true,
                ..exec(Def, "SET @v = (SELECT COUNT(*) FROM {t})")
            },
            probe(Replica, Probe::Vars),
            probe(Master, Probe::Vars),
            Step {
                needs_sync: true,
                ..exec(Replica, "SET @v = (SELECT MAX(id) FROM {t})")
            },
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
        ],
    );
}

#[test]
fn time_zone_and_sql_mode_reach_replica_reads() {
    let _g = common::shared(CLUSTER);
    check(
        "tz",
        &[
            exec(Def, "SET time_zone = '+05:00'"),
            probe(Replica, Probe::TimeZone),
            probe(Master, Probe::TimeZone),
            read(Replica, "SELECT CAST(NOW() AS CHAR) AS v"),
            exec(Replica, "SET time_zone = '-03:30'"),
            probe(Master, Probe::TimeZone),
            probe(Replica, Probe::TimeZone),
            exec(Def, "SET time_zone = 'No/Such_Zone'"),
            probe(Replica, Probe::TimeZone),
            probe(Master, Probe::TimeZone),
            exec(Def, "SET sql_mode = 'STRICT_ALL_TABLES,PIPES_AS_CONCAT'"),
            probe(Replica, Probe::SqlMode),
            probe(Master, Probe::SqlMode),
            exec(
                Replica,
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')",
            ),
            probe(Master, Probe::SqlMode),
            probe(Replica, Probe::SqlMode),
        ],
    );
}

#[test]
fn use_database_in_each_scope() {
    let _g = common::shared(CLUSTER);
    let mut s = vec![exec(Def, "USE other_db")];
    for sc in [Def, Master, Replica, Auto] {
        s.push(probe(sc, Probe::Database));
    }
    s.push(exec(Replica, "USE app"));
    for sc in [Def, Master, Replica, Auto] {
        s.push(probe(sc, Probe::Database));
    }
    s.push(exec(Def, "USE no_such_db_anywhere"));
    for sc in [Def, Master, Replica, Auto] {
        s.push(probe(sc, Probe::Database));
    }
    s.push(step(
        Def,
        Stmt::Batch("USE other_db; SET @a = 1; SET @b = 2".into()),
    ));
    for sc in [Master, Replica] {
        s.push(probe(sc, Probe::Database));
        s.push(probe(sc, Probe::Vars));
    }
    s.push(exec(Def, "SET NAMES utf8mb4"));
    s.push(probe(Replica, Probe::Database));
    check("use_db", &s);
}

#[test]
fn use_of_a_database_only_the_master_has_is_all_or_nothing() {
    let _g = common::shared(CLUSTER);
    let _l = lock();
    let c = tc();
    let create = format!(
        "SET sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS {MASTER_ONLY_DB}; \
         GRANT ALL ON {MASTER_ONLY_DB}.* TO 'app'@'%'"
    );
    c.sql("master", &create);
    struct Drop0;
    impl Drop for Drop0 {
        fn drop(&mut self) {
            let _ = tc().try_sql(
                "master",
                &format!(
                    "SET sql_log_bin = 0; REVOKE ALL ON {MASTER_ONLY_DB}.* FROM 'app'@'%'; \
                     DROP DATABASE IF EXISTS {MASTER_ONLY_DB}"
                ),
            );
        }
    }
    let _drop = Drop0;
    let mut s = vec![exec(Def, "USE other_db"), step(Def, Stmt::UseMasterOnly)];
    for sc in [Def, Master, Replica, Auto] {
        s.push(probe(sc, Probe::Database));
    }
    s.push(step(Master, Stmt::UseMasterOnly));
    for sc in [Master, Replica] {
        s.push(probe(sc, Probe::Database));
    }
    s.push(read(
        Replica,
        "SELECT CAST(COUNT(*) AS CHAR) AS v FROM marker",
    ));
    check("use_monly", &s);
}

#[test]
fn select_assignment_sets_a_variable() {
    let _g = common::shared(CLUSTER);
    check(
        "select_assign",
        &[
            read(Replica, "SELECT CAST(@a := 5 AS CHAR) AS v"),
            probe(Master, Probe::Vars),
            probe(Replica, Probe::Vars),
        ],
    );
}

// ------------------------------------------------------------------ random scripts

fn vocabulary() -> impl Strategy<Value = Stmt> {
    let e = |s: &str| Just(Stmt::Exec(s.to_string()));
    let r = |s: &str| Just(Stmt::Read(s.to_string()));
    prop_oneof![
        e(INSERT),
        e("INSERT INTO {t} (v) VALUES (7), (8), (9)"),
        e("INSERT INTO {t} (v) VALUES (LAST_INSERT_ID())"),
        e("INSERT INTO {t} (v) VALUES (@n)"),
        e("UPDATE {t} SET v = v + 1 WHERE id % 2 = 0"),
        (1u32..1000)
            .prop_map(|k| Stmt::Read(format!("SELECT CAST(LAST_INSERT_ID({k}) AS CHAR) AS v"))),
        r(COUNT),
        r(COUNT),
        (2u32..20).prop_map(|n| Stmt::Read(format!(
            "SELECT SQL_CALC_FOUND_ROWS CAST(seq AS CHAR) AS v FROM seq_1_to_{n} LIMIT 1"
        ))),
        r("SELECT CAST(1/0 AS CHAR) AS v"),
        // `GET DIAGNOSTICS @wn = ..` is in the fixed scripts: the value is propagated,
        // but the read back changes its node's `ROW_COUNT()`, which `GET DIAGNOSTICS`
        // itself leaves alone (a documented limit).
        e("SET @n = COALESCE(@n, 0) + 1"),
        e("SET @n = COALESCE(@n, 0) + 1"),
        e("SET @id = LAST_INSERT_ID()"),
        any::<i32>().prop_map(Stmt::SetBound),
        e("SET @f = FOUND_ROWS()"),
        e("SET @r = ROW_COUNT()"),
        e("SET @v = (SELECT COUNT(*) FROM {t})"),
        prop_oneof![Just("+05:00"), Just("+00:00"), Just("-03:30")]
            .prop_map(|z| Stmt::Exec(format!("SET time_zone = '{z}'"))),
        prop_oneof![
            Just("STRICT_ALL_TABLES,PIPES_AS_CONCAT"),
            Just("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,PIPES_AS_CONCAT")
        ]
        .prop_map(|m| Stmt::Exec(format!("SET sql_mode = '{m}'"))),
        e("USE other_db"),
        e("USE app"),
        e("SET NAMES utf8mb4"),
        Just(Stmt::Batch("SET @a = 1; SET @b = @a + 1".into())),
        e("USE no_such_db_anywhere"),
        e("SET @a = no_such_function()"),
        e("SET time_zone = 'No/Such_Zone'"),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Def), Just(Master), Just(Replica), Just(Auto)]
}

/// `DIFF_SKIP=LAST_INSERT_ID(),@x` leaves statements whose SQL contains one of the
/// strings out of the random scripts (probes too, by SQL): with known defects left out,
/// the property test shrinks to the next one. Unset, the whole vocabulary is used.
fn skipped(stmt: &Stmt) -> bool {
    let sql = match stmt {
        Stmt::Exec(s) | Stmt::Batch(s) | Stmt::Read(s) => s.clone(),
        Stmt::SetBound(_) => "SET @x = ?".into(),
        Stmt::Probe(p) => p.sql().into(),
        Stmt::UseMasterOnly => "USE".into(),
    };
    std::env::var("DIFF_SKIP").is_ok_and(|v| {
        v.split(',')
            .any(|k| !k.is_empty() && sql.contains(k.trim()))
    })
}

fn random_step() -> impl Strategy<Value = Step> {
    (
        scope(),
        vocabulary().prop_filter("left out by DIFF_SKIP", |s| !skipped(s)),
    )
        .prop_map(|(scope, stmt)| {
            let sql = match &stmt {
                Stmt::Exec(s) | Stmt::Read(s) => s.clone(),
                _ => String::new(),
            };
            Step {
                write: sql.starts_with("INSERT")
                    || sql.starts_with("UPDATE")
                    || sql.starts_with("SELECT CAST(LAST_INSERT_ID("),
                needs_sync: sql.contains("(SELECT COUNT(*)"),
                ..step(scope, stmt)
            }
        })
}

/// 6 to 14 statements, each followed by a probe in a random scope.
fn script() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            random_step(),
            scope(),
            proptest::sample::select(PROBES.to_vec())
                .prop_filter("left out by DIFF_SKIP", |p| !skipped(&Stmt::Probe(*p))),
        ),
        6..=14,
    )
    .prop_map(|v| {
        // `FOUND_ROWS()` is undefined before a connection's first `SELECT` (MySQL's
        // manual): every script begins with one, on the master for both sides.
        std::iter::once(read(Scope::Master, "SELECT CAST(1 AS CHAR) AS v"))
            .chain(v.into_iter().flat_map(|(s, sc, p)| [s, probe(sc, p)]))
            .collect()
    })
}

struct Rig {
    admin: Admin,
    /// Per role: its cluster, its two tables, and whether the last case left the
    /// tables out of step (then they are emptied first).
    clusters: Vec<(Role, Cluster, (String, String), bool)>,
}

/// Drops the tables when the test ends, failed or not.
struct DropTables(Vec<String>);

impl Drop for DropTables {
    fn drop(&mut self) {
        if let Ok(mut c) = MysqlConnection::establish(&tc().admin_url) {
            for t in &self.0 {
                let _ = c.batch_execute(&format!("DROP TABLE IF EXISTS {t}"));
            }
        }
    }
}

#[test]
fn random_scripts_agree_with_one_connection() {
    let _g = common::shared(CLUSTER);
    let _l = lock();
    let mut admin = Admin::new();
    let clusters: Vec<(Role, Cluster, (String, String), bool)> = ROLES
        .iter()
        .map(|&role| {
            let r = format!("{role:?}").to_lowercase();
            let tables = (
                fresh_table(&mut admin, &format!("diff_prop_{r}_plain")),
                fresh_table(&mut admin, &format!("diff_prop_{r}_cluster")),
            );
            (role, cluster_for(role), tables, false)
        })
        .collect();
    admin.sync();
    let _drop = DropTables(
        clusters
            .iter()
            .flat_map(|(_, _, (a, b), _)| [a.clone(), b.clone()])
            .collect(),
    );
    let rig = Mutex::new(Rig { admin, clusters });
    let config = ProptestConfig {
        // PROPTEST_CASES overrides it, for longer hunts.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        max_shrink_iters: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(s in script())| {
        let mut rig = rig.lock().unwrap_or_else(|e| e.into_inner());
        let Rig { admin, clusters } = &mut *rig;
        for (role, cluster, tables, dirty) in clusters.iter_mut() {
            // The two tables must hold the same history; after a divergence, start both
            // again from empty.
            if *dirty {
                for t in [&tables.0, &tables.1] {
                    admin.master.batch_execute(&format!("TRUNCATE TABLE {t}")).unwrap();
                }
                *dirty = false;
            }
            let r = diverges(admin, cluster, *role, tables, &s);
            *dirty = r.is_err();
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
    });
}

// ------------------------------------------------------------------ evaluated once, where

/// `SET @v = (SELECT COUNT(*) FROM t)` is evaluated once, on the node of the statement's
/// role, and that value reaches every node. The master holds one row the replicas don't
/// (written with `sql_log_bin = 0`), so each node would give its own count if the
/// statement ran everywhere. Not a comparison with one connection (which has one node):
/// the promise about where the right-hand side is read.
#[test]
fn set_from_a_subquery_is_evaluated_once_on_the_roles_node() {
    let _g = common::shared(CLUSTER);
    let mut admin = Admin::new();
    let t = fresh_table(&mut admin, "diff_once");
    let _drop = DropTables(vec![t.clone()]);
    admin
        .master
        .batch_execute(&format!(
            "INSERT INTO {t} (v) VALUES (1), (2); SET sql_log_bin = 0; \
             INSERT INTO {t} (v) VALUES (3); SET sql_log_bin = 1"
        ))
        .unwrap();
    admin.sync();
    let mut failures = Vec::new();
    for role in ROLES {
        let cluster = cluster_for(role);
        for scope in [Def, Master, Replica, Auto] {
            let mut conn = cluster.connect();
            let expected = if scope.role(role) == Role::Master {
                "3"
            } else {
                "2"
            };
            let set = Stmt::Exec(format!("SET @v = (SELECT COUNT(*) FROM {t})"));
            if let Err(e) = scope.run(|| run_on(&mut conn, &set, &t)) {
                failures.push(format!("role {role:?}, {scope:?} scope: SET failed: {e}"));
                continue;
            }
            let mut seen = Vec::new();
            for s in [Master, Replica, Replica, Replica] {
                let v = s.run(|| {
                    diesel::sql_query("SELECT CAST(@v AS CHAR) AS v")
                        .get_result::<V>(&mut conn)
                        .map(|r| r.v)
                });
                seen.push((s, conn.last_node().unwrap_or("?").to_string(), v));
            }
            if seen
                .iter()
                .any(|(_, _, v)| v.as_ref().ok().and_then(|v| v.as_deref()) != Some(expected))
            {
                failures.push(format!(
                    "role {role:?}, {scope:?} scope: @v should be {expected} on every node \
                     (the count on the {} node), read: {seen:?}",
                    if expected == "3" { "master" } else { "replica" }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 12 (role, scope) cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
