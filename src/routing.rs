//! The routing decision for one statement, as a pure function of the role and the
//! statement's classification. Pins (transactions, temporary tables, the previous
//! statement's node) are applied by the connection before it asks here.

use crate::classify::{Classification, Flags, Kind};
use crate::cluster::WriteRouting;
use crate::error::Error;
use crate::role::Role;

/// Where a statement should run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The current master.
    Master,
    /// A replica picked by the balancer (the master when none is usable).
    Replica,
    /// A session statement (`SET`, `USE`): run on the node the role reads from, then
    /// applied to every other node connection held, and replayed on new ones.
    Session,
}

/// Statements that only read and may run on a replica.
fn is_replica_read(class: Classification) -> bool {
    matches!(class.kind, Kind::Select | Kind::Show | Kind::Explain)
        && !class.flags.contains(Flags::NAMED_LOCK)
        && !class.flags.contains(Flags::WRITE_FUNCTION)
        && !class.flags.contains(Flags::USER_VARIABLE_WRITE)
}

/// Whether a statement sets session state, which must be the same on every node: `SET`
/// of session or user variables, `USE`, `SET SESSION TRANSACTION`. (A plain `SET
/// TRANSACTION` shapes only the next transaction: it is not session state, and the
/// connection makes that transaction begin where it ran.)
pub(crate) fn sets_session_state(class: Classification, sql: Option<&str>) -> bool {
    match class.kind {
        Kind::SetSession | Kind::Use => true,
        Kind::SetTransaction => sql.is_some_and(crate::session::is_persistent_transaction_setting),
        _ => false,
    }
}

/// Decides where a statement goes, or refuses it.
pub(crate) fn decide(
    role: Role,
    class: Classification,
    writes: WriteRouting,
) -> Result<Target, Error> {
    if matches!(class.kind, Kind::SetSession | Kind::Use) && !class.flags.contains(Flags::MULTI) {
        return Ok(Target::Session);
    }
    match role {
        Role::Master => Ok(Target::Master),
        Role::Auto => Ok(if is_replica_read(class) {
            Target::Replica
        } else {
            Target::Master
        }),
        Role::Replica => {
            if is_replica_read(class) {
                return Ok(Target::Replica);
            }
            // A named lock or sequence function is not a data change a read-only server
            // refuses, but it only means something on the master.
            let changes_data = class.kind.is_write()
                || class.flags.contains(Flags::WRITE_FUNCTION)
                || class.kind == Kind::SelectInto;
            if changes_data && class.kind != Kind::Other {
                return match writes {
                    WriteRouting::Refuse => Err(Error::WriteInReplicaRole {
                        statement: class.kind.name(),
                    }),
                    WriteRouting::Master => Ok(Target::Master),
                };
            }
            match class.kind {
                // Transactions in replica scope run on one replica: a consistent read-only
                // snapshot. (Unless writes may go to the master: then the transaction
                // might write, so it starts there.)
                Kind::Begin
                | Kind::SetTransaction
                | Kind::CreateTemporaryTable
                | Kind::DropTemporaryTable
                    if writes == WriteRouting::Refuse =>
                {
                    Ok(Target::Replica)
                }
                // Locking reads, named locks, unknown statements, anything stateful:
                // the master, as the design says.
                _ => Ok(Target::Master),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    fn route(role: Role, sql: &str) -> Result<Target, String> {
        decide(role, classify(sql), WriteRouting::Refuse).map_err(|e| e.to_string())
    }

    /// The route each statement takes in each role: (sql, master, auto, replica), where
    /// `R` = a replica, `M` = the master, `S` = session broadcast, `!` = refused.
    #[test]
    fn statement_routes() {
        let table: &[(&str, &str)] = &[
            // Diesel-generated reads
            (
                "SELECT `users`.`id`, `users`.`name` FROM `users` WHERE (`users`.`id` = ?) LIMIT ?",
                "M R R",
            ),
            ("SELECT COUNT(*) FROM `users`", "M R R"),
            (
                "SELECT `users`.`id` FROM `users` ORDER BY `users`.`name` DESC",
                "M R R",
            ),
            ("SELECT `users`.`id` FROM `users` FOR UPDATE", "M M M"),
            (
                "SELECT `users`.`id` FROM `users` FOR UPDATE SKIP LOCKED",
                "M M M",
            ),
            ("SELECT `users`.`id` FROM `users` FOR SHARE", "M M M"),
            ("select * from users lock in share mode", "M M M"),
            ("SELECT 1", "M R R"),
            ("  /* hint */ select 1", "M R R"),
            ("# note\nSELECT 1", "M R R"),
            ("-- note\nSELECT 1", "M R R"),
            ("(SELECT 1) UNION (SELECT 2)", "M R R"),
            ("WITH t AS (SELECT 1 AS x) SELECT * FROM t", "M R R"),
            (
                "WITH t AS (SELECT 1 AS x) UPDATE users SET name = 'a'",
                "M M !",
            ),
            ("SELECT 'FOR UPDATE' AS s", "M R R"),
            ("SELECT `for update` FROM t", "M R R"),
            ("SELECT /* FOR UPDATE */ 1", "M R R"),
            ("SHOW TABLES", "M R R"),
            ("SHOW CREATE TABLE users", "M R R"),
            ("EXPLAIN SELECT * FROM users", "M R R"),
            ("DESCRIBE users", "M R R"),
            ("SELECT GET_LOCK('job', 1)", "M M M"),
            ("SELECT RELEASE_LOCK('job')", "M M M"),
            ("SELECT NEXTVAL(seq)", "M M !"),
            ("SELECT @a := 1", "M M M"),
            ("SELECT id INTO @x FROM users LIMIT 1", "M M !"),
            ("SELECT * FROM users INTO OUTFILE '/tmp/x'", "M M !"),
            // writes
            ("INSERT INTO `users` (`name`) VALUES (?)", "M M !"),
            ("insert into users select * from old_users", "M M !"),
            ("REPLACE INTO users VALUES (1, 'a')", "M M !"),
            (
                "UPDATE `users` SET `name` = ? WHERE (`users`.`id` = ?)",
                "M M !",
            ),
            ("DELETE FROM `users` WHERE (`users`.`id` = ?)", "M M !"),
            ("LOAD DATA INFILE '/tmp/x' INTO TABLE users", "M M !"),
            ("CREATE TABLE t (id INT)", "M M !"),
            ("ALTER TABLE t ADD c INT", "M M !"),
            ("DROP TABLE t", "M M !"),
            ("TRUNCATE TABLE t", "M M !"),
            ("RENAME TABLE a TO b", "M M !"),
            ("CREATE INDEX i ON t (c)", "M M !"),
            ("GRANT SELECT ON *.* TO 'x'", "M M !"),
            ("LOCK TABLES users WRITE", "M M !"),
            ("CALL proc()", "M M !"),
            ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", "M M !"),
            ("SET GLOBAL max_connections = 10", "M M !"),
            // temporary tables may live on a replica
            ("CREATE TEMPORARY TABLE tmp (id INT)", "M M R"),
            ("DROP TEMPORARY TABLE tmp", "M M R"),
            // session state
            ("SET time_zone = '+01:00'", "S S S"),
            ("SET NAMES utf8mb4", "S S S"),
            ("set @x = 1", "S S S"),
            ("SET SESSION sql_mode = 'ANSI'", "S S S"),
            ("/*!40101 SET NAMES utf8mb4 */", "S S S"),
            ("USE other_db", "S S S"),
            ("use `other_db`", "S S S"),
            // transactions
            ("BEGIN", "M M R"),
            ("START TRANSACTION READ ONLY", "M M R"),
            ("COMMIT", "M M M"),
            ("ROLLBACK", "M M M"),
            ("SAVEPOINT diesel_savepoint_1", "M M M"),
            ("XA START 'x'", "M M !"),
            // stateful and unknown
            ("SELECT LAST_INSERT_ID()", "M R R"),
            ("SHOW WARNINGS", "M R R"),
            ("DO 1", "M M M"),
            ("HANDLER t OPEN", "M M M"),
            ("FROBNICATE everything", "M M M"),
            // comments, casing and whitespace in odd places
            ("/*!50100 SELECT 1 */", "M R R"),
            ("/* a */ /* b */\n\t  SeLeCt 1", "M R R"),
            ("SELECT 1 -- FOR UPDATE", "M R R"),
            ("SELECT 1 # FOR UPDATE", "M R R"),
            ("SELECT 1 /* ; DELETE FROM t */", "M R R"),
            ("; ; SELECT 1 ;", "M R R"),
            ("/* INSERT */ UPDATE t SET a = 1", "M M !"),
            ("sElEcT * FrOm t FoR uPdAtE", "M M M"),
            ("SELECT * FROM t WHERE note = 'x; DROP TABLE t'", "M R R"),
            ("SELECT `delete` FROM `insert`", "M R R"),
            // CTEs and set operations
            (
                "WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1) SELECT * FROM r",
                "M R R",
            ),
            (
                "WITH t AS (SELECT 1) DELETE FROM u WHERE id IN (SELECT * FROM t)",
                "M M !",
            ),
            ("SELECT 1 UNION SELECT 2 FOR UPDATE", "M M M"),
            ("((SELECT 1))", "M R R"),
            // stateful functions and diagnostics
            ("SELECT FOUND_ROWS()", "M R R"),
            ("SELECT ROW_COUNT()", "M R R"),
            ("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1", "M R R"),
            ("SHOW COUNT(*) WARNINGS", "M R R"),
            ("GET DIAGNOSTICS @n = NUMBER", "M M M"),
            ("SELECT IS_FREE_LOCK('x')", "M M M"),
            ("SELECT RELEASE_ALL_LOCKS()", "M M M"),
            // more transaction control and session statements
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT", "M M R"),
            ("RELEASE SAVEPOINT diesel_savepoint_1", "M M M"),
            ("ROLLBACK TO SAVEPOINT diesel_savepoint_1", "M M M"),
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "M M R"),
            ("SET autocommit = 0", "M M M"),
            ("SET @@session.time_zone = '+00:00'", "S S S"),
            ("SET CHARACTER SET utf8mb4", "S S S"),
            ("UNLOCK TABLES", "M M M"),
            ("KILL 42", "M M !"),
            ("SELECT 1; INSERT INTO t VALUES (1)", "M M !"),
            ("SELECT 1; SELECT 2", "M R R"),
            ("SET time_zone = '+01:00'; SELECT 1", "M M M"),
        ];
        for (sql, expected) in table {
            let got: Vec<&str> = [Role::Master, Role::Auto, Role::Replica]
                .iter()
                .map(|&r| match route(r, sql) {
                    Ok(Target::Master) => "M",
                    Ok(Target::Replica) => "R",
                    Ok(Target::Session) => "S",
                    Err(_) => "!",
                })
                .collect();
            assert_eq!(got.join(" "), *expected, "{sql}");
        }
        assert!(table.len() >= 80, "{}", table.len());
    }

    #[test]
    fn refusals_name_the_statement() {
        let err = route(Role::Replica, "DELETE FROM users").unwrap_err();
        assert!(err.contains("DELETE"), "{err}");
        let class = classify("INSERT INTO t VALUES (1)");
        assert_eq!(
            decide(Role::Replica, class, WriteRouting::Master).unwrap(),
            Target::Master
        );
    }
}
