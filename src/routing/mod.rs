//! The routing decision for one statement: a pure function of the role, the statement's
//! classification and the connection's pins ([`decide`]).
//!
//! # The safety rule, above every pin
//!
//! A *pin* is per-connection state that lives on one node: an open transaction (Diesel's,
//! or raw `BEGIN`, `SET autocommit = 0`, `LOCK TABLES`, `XA START`), the node where a
//! `SET TRANSACTION` shaped the next transaction, the node of this connection's last
//! insert (`LAST_INSERT_ID()`), of its last `SELECT` (`FOUND_ROWS()`), of its previous
//! statement (`ROW_COUNT()`, `SHOW WARNINGS`, `GET DIAGNOSTICS`), and the node holding a
//! temporary table the statement refers to. Pins only ever narrow where a *read* may go.
//!
//! A statement that may change data, take a lock, advance a sequence or have any other
//! side effect ([`Effect::MasterOnly`], which includes everything the classifier can't
//! vouch for) runs on the master in the `Master` and `Auto` roles, and is refused in the
//! `Replica` role (or sent to the master with [`WriteRouting::Master`]), whatever pin is
//! active. When a pin would send it to a replica, the statement is refused with an error
//! naming the pin: it is never silently run elsewhere. The one exception is a write whose
//! only targets are temporary tables living on one node: those tables are this
//! connection's scratch space, not replicated data, so it runs where they are.
//!
//! The rule is applied last, after the pins, so no pin can bypass it; the table test
//! below goes through every pin, role and statement class.

pub(crate) mod pins;

use crate::classify::{Classification, Flags, Kind};
use crate::config::WriteRouting;
use crate::role::Role;

/// What running a statement does, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Only reads: may run on a replica.
    Read,
    /// May change data, take a lock, advance a sequence, or do something the classifier
    /// can't vouch for: the master only.
    MasterOnly,
    /// Sets session state (`SET` of session or user variables, `USE`, `SET SESSION
    /// TRANSACTION`) with a right-hand side that only reads: evaluated once on the node
    /// it needs, then its value is applied to every node.
    Session,
    /// Transaction control (`BEGIN`, `COMMIT`, savepoints, `SET autocommit`, `UNLOCK
    /// TABLES`, `SET TRANSACTION` for the next transaction): follows the open transaction.
    Transaction,
    /// `CREATE`/`DROP TEMPORARY TABLE`: session-private, allowed on a read-only replica.
    TempTable,
}

/// Flags that make any statement a side effect, whatever its kind.
const SIDE_EFFECT_FLAGS: [Flags; 6] = [
    Flags::LOCKING,
    Flags::NAMED_LOCK,
    Flags::WRITE_FUNCTION,
    Flags::UNCERTAIN,
    Flags::SETS_INSERT_ID,
    Flags::CALLS_UNKNOWN_FUNCTION,
];

/// The effect of a classified statement (or batch). `persistent_transaction_setting`:
/// a `SET TRANSACTION` is `SET SESSION TRANSACTION` (session state) rather than a
/// setting of the next transaction only.
pub(crate) fn effect(class: Classification, persistent_transaction_setting: bool) -> Effect {
    if SIDE_EFFECT_FLAGS.iter().any(|&f| class.flags.contains(f)) {
        return Effect::MasterOnly;
    }
    match class.kind {
        Kind::Select | Kind::Show | Kind::Explain | Kind::GetDiagnostics | Kind::Empty => {
            Effect::Read
        }
        Kind::SetSession | Kind::Use => Effect::Session,
        Kind::SetTransaction if persistent_transaction_setting => Effect::Session,
        Kind::SetTransaction
        | Kind::Begin
        | Kind::Commit
        | Kind::Rollback
        | Kind::Savepoint
        | Kind::ReleaseSavepoint
        | Kind::RollbackToSavepoint
        | Kind::SetAutocommit
        | Kind::UnlockTables => Effect::Transaction,
        Kind::CreateTemporaryTable | Kind::DropTemporaryTable => Effect::TempTable,
        // Data changes, DDL, locking reads, `SELECT .. INTO`, locks, `CALL`, `DO`,
        // `HANDLER`, prepared statements, `XA`, `KILL`, global settings and anything
        // unknown.
        Kind::LockingRead
        | Kind::SelectInto
        | Kind::Insert
        | Kind::Replace
        | Kind::Update
        | Kind::Delete
        | Kind::LoadData
        | Kind::Ddl
        | Kind::LockTables
        | Kind::Call
        | Kind::Do
        | Kind::SetGlobal
        | Kind::Xa
        | Kind::Handler
        | Kind::Prepare
        | Kind::Execute
        | Kind::Deallocate
        | Kind::Kill
        | Kind::Other => Effect::MasterOnly,
    }
}

/// Which per-connection state a pin follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    /// An open transaction.
    Transaction,
    /// The node where `SET TRANSACTION` shaped the next transaction.
    NextTransaction,
    /// The node of this connection's last insert.
    InsertId,
    /// The node of this connection's last `SELECT`.
    FoundRows,
    /// The node of the previous statement.
    Previous,
    /// The node holding a temporary table the statement refers to.
    TempTable,
}

impl Pin {
    /// What the pin is, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Pin::Transaction => "the open transaction",
            Pin::NextTransaction => "the `SET TRANSACTION` for the next transaction",
            Pin::InsertId => "this connection's last insert (LAST_INSERT_ID())",
            Pin::FoundRows => "this connection's last SELECT (FOUND_ROWS())",
            Pin::Previous => "the previous statement (ROW_COUNT(), warnings, diagnostics)",
            Pin::TempTable => "a temporary table it refers to",
        }
    }
}

/// Where this connection's per-connection state lives (node indexes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pins {
    /// An open transaction: every statement runs there.
    pub(crate) transaction: Option<usize>,
    /// Where `SET TRANSACTION` ran: the next `BEGIN` runs there.
    pub(crate) next_transaction: Option<usize>,
    /// The node of the last insert.
    pub(crate) insert_id: Option<usize>,
    /// The node of the last `SELECT`.
    pub(crate) found_rows: Option<usize>,
    /// The node of the previous statement.
    pub(crate) previous: Option<usize>,
    /// The node of a temporary table the statement refers to.
    pub(crate) temp_table: Option<usize>,
    /// Every table the statement writes is a temporary table on `temp_table`'s node.
    pub(crate) writes_only_temp: bool,
}

/// Everything the decision depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input {
    pub(crate) role: Role,
    pub(crate) class: Classification,
    pub(crate) effect: Effect,
    pub(crate) writes: WriteRouting,
    /// The master's node index.
    pub(crate) master: usize,
    pub(crate) pins: Pins,
}

/// Where a statement runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The current master.
    Master,
    /// A replica picked by the balancer (the master when none is usable).
    Replica,
    /// This node, because of this pin.
    Pinned(usize, Pin),
}

/// Why a statement is refused before reaching any server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A side effect in replica role with [`WriteRouting::Refuse`].
    ReplicaRole,
    /// A side effect whose pin is on a replica.
    PinnedToReplica { pin: Pin, node: usize },
    /// The statement reads per-connection state held on two different nodes.
    Conflict {
        first: (Pin, usize),
        second: (Pin, usize),
    },
}

/// The pins a statement must follow, at most one node: `Err` when two name different
/// nodes.
fn narrowing_pin(input: &Input) -> Result<Option<(usize, Pin)>, Refusal> {
    let Input { class, pins, .. } = *input;
    let candidates = [
        (pins.transaction, Pin::Transaction),
        (
            pins.next_transaction
                .filter(|_| class.kind == Kind::Begin && pins.transaction.is_none()),
            Pin::NextTransaction,
        ),
        (
            pins.insert_id
                .filter(|_| class.flags.contains(Flags::READS_INSERT_ID)),
            Pin::InsertId,
        ),
        (
            pins.found_rows
                .filter(|_| class.flags.contains(Flags::READS_FOUND_ROWS)),
            Pin::FoundRows,
        ),
        (
            pins.previous
                .filter(|_| class.flags.contains(Flags::READS_PREVIOUS_STATE)),
            Pin::Previous,
        ),
        (pins.temp_table, Pin::TempTable),
    ];
    let mut chosen: Option<(usize, Pin)> = None;
    for (node, pin) in candidates {
        let Some(node) = node else { continue };
        match chosen {
            None => chosen = Some((node, pin)),
            Some((n, _)) if n == node => {}
            Some(first) => {
                return Err(Refusal::Conflict {
                    first: (first.1, first.0),
                    second: (pin, node),
                })
            }
        }
    }
    Ok(chosen)
}

/// Decides where a statement runs, or refuses it. Pins first (they narrow), then the
/// role, then the safety rule, which no pin bypasses.
pub(crate) fn decide(input: &Input) -> Result<Route, Refusal> {
    let pin = narrowing_pin(input)?;
    let replica_role_reads_replicas =
        input.role == Role::Replica && input.writes == WriteRouting::Refuse;
    match input.effect {
        Effect::MasterOnly => {
            // A write to this connection's own temporary tables may run where they are.
            let temp_only = input.pins.writes_only_temp
                && !input.class.flags.contains(Flags::MULTI)
                && !SIDE_EFFECT_FLAGS
                    .iter()
                    .any(|&f| input.class.flags.contains(f))
                && matches!(
                    input.class.kind,
                    Kind::Insert | Kind::Replace | Kind::Update | Kind::Delete
                )
                && matches!(pin, Some((_, Pin::TempTable)));
            if temp_only {
                return Ok(pin.map_or(Route::Master, |(n, p)| Route::Pinned(n, p)));
            }
            if input.role == Role::Replica && input.writes == WriteRouting::Refuse {
                return Err(Refusal::ReplicaRole);
            }
            match pin {
                Some((node, pin)) if node != input.master => {
                    Err(Refusal::PinnedToReplica { pin, node })
                }
                Some((node, pin)) => Ok(Route::Pinned(node, pin)),
                None => Ok(Route::Master),
            }
        }
        Effect::Read | Effect::Session => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            None if input.role == Role::Master => Route::Master,
            None => Route::Replica,
        }),
        Effect::Transaction => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            // A transaction begun in replica scope is a consistent read-only snapshot
            // on one replica; anywhere else it may write, so it begins on the master.
            None if replica_role_reads_replicas
                && matches!(input.class.kind, Kind::Begin | Kind::SetTransaction) =>
            {
                Route::Replica
            }
            None => Route::Master,
        }),
        Effect::TempTable => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            None if replica_role_reads_replicas => Route::Replica,
            None => Route::Master,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    const MASTER: usize = 0;
    const R1: usize = 1;
    const R2: usize = 2;

    fn input(role: Role, sql: &str, pins: Pins, writes: WriteRouting) -> Input {
        let class = classify(sql);
        Input {
            role,
            class,
            effect: effect(
                class,
                crate::session::is_persistent_transaction_setting(sql),
            ),
            writes,
            master: MASTER,
            pins,
        }
    }

    /// One letter per outcome: `M` master, `R` a replica, `0`/`1`/`2` pinned to that
    /// node, `!` refused by role, `P` refused because the pin is on a replica, `C`
    /// conflicting pins.
    fn letter(result: Result<Route, Refusal>) -> char {
        match result {
            Ok(Route::Master) => 'M',
            Ok(Route::Replica) => 'R',
            Ok(Route::Pinned(n, _)) => char::from(b'0' + n as u8),
            Err(Refusal::ReplicaRole) => '!',
            Err(Refusal::PinnedToReplica { .. }) => 'P',
            Err(Refusal::Conflict { .. }) => 'C',
        }
    }

    /// Routes in the roles Master, Auto, Replica, and Replica with `WriteRouting::Master`.
    fn routes(sql: &str, pins: Pins) -> String {
        [
            (Role::Master, WriteRouting::Refuse),
            (Role::Auto, WriteRouting::Refuse),
            (Role::Replica, WriteRouting::Refuse),
            (Role::Replica, WriteRouting::Master),
        ]
        .iter()
        .map(|&(role, writes)| letter(decide(&input(role, sql, pins, writes))))
        .collect()
    }

    /// Statements without pins: (sql, routes in Master, Auto, Replica, Replica+master
    /// writes).
    #[test]
    fn statement_routes_without_pins() {
        let table: &[(&str, &str)] = &[
            // Diesel-generated reads
            (
                "SELECT `users`.`id`, `users`.`name` FROM `users` WHERE (`users`.`id` = ?) LIMIT ?",
                "MRRR",
            ),
            ("SELECT COUNT(*) FROM `users`", "MRRR"),
            ("SELECT 1", "MRRR"),
            ("  /* hint */ select 1", "MRRR"),
            ("# note\nSELECT 1", "MRRR"),
            ("(SELECT 1) UNION (SELECT 2)", "MRRR"),
            ("WITH t AS (SELECT 1 AS x) SELECT * FROM t", "MRRR"),
            ("SELECT 'FOR UPDATE' AS s", "MRRR"),
            ("SELECT `for update` FROM t", "MRRR"),
            ("SHOW TABLES", "MRRR"),
            ("EXPLAIN SELECT * FROM users", "MRRR"),
            ("DESCRIBE users", "MRRR"),
            ("SELECT * FROM t WHERE note = 'x; DROP TABLE t'", "MRRR"),
            ("SELECT 1; SELECT 2", "MRRR"),
            ("SELECT LAST_INSERT_ID()", "MRRR"),
            ("SELECT FOUND_ROWS()", "MRRR"),
            ("SELECT ROW_COUNT()", "MRRR"),
            ("SHOW WARNINGS", "MRRR"),
            ("GET DIAGNOSTICS @n = NUMBER", "MRRR"),
            ("SELECT @a := 1", "MRRR"),
            // locks and locking reads: the master, refused in replica scope
            ("SELECT `users`.`id` FROM `users` FOR UPDATE", "MM!M"),
            ("select * from users lock in share mode", "MM!M"),
            ("SELECT 1 UNION SELECT 2 FOR UPDATE", "MM!M"),
            ("SELECT GET_LOCK('job', 1)", "MM!M"),
            // a stored function's body can't be seen
            ("SELECT my_fn(1)", "MM!M"),
            ("SELECT id FROM t WHERE app.f(x) > 0", "MM!M"),
            ("SET @v = my_fn(3)", "MM!M"),
            (
                "SELECT COUNT(*), LOWER(name) FROM t WHERE id IN (1, 2)",
                "MRRR",
            ),
            ("SELECT `get_lock`('job', 1)", "MM!M"),
            ("SELECT IS_FREE_LOCK('x')", "MM!M"),
            ("SELECT RELEASE_ALL_LOCKS()", "MM!M"),
            ("DO GET_LOCK('x', 0)", "MM!M"),
            ("DO 1", "MM!M"),
            // sequences and per-connection state set by a function
            ("SELECT NEXTVAL(seq)", "MM!M"),
            ("SELECT NEXT VALUE FOR seq", "MM!M"),
            ("SELECT LAST_INSERT_ID(42)", "MM!M"),
            // writes
            ("INSERT INTO `users` (`name`) VALUES (?)", "MM!M"),
            ("insert into users select * from old_users", "MM!M"),
            ("REPLACE INTO users VALUES (1, 'a')", "MM!M"),
            (
                "UPDATE `users` SET `name` = ? WHERE (`users`.`id` = ?)",
                "MM!M",
            ),
            ("DELETE FROM `users` WHERE (`users`.`id` = ?)", "MM!M"),
            (
                "WITH t AS (SELECT 1 AS x) UPDATE users SET name = 'a'",
                "MM!M",
            ),
            ("LOAD DATA INFILE '/tmp/x' INTO TABLE users", "MM!M"),
            ("SELECT id INTO @x FROM users LIMIT 1", "MM!M"),
            ("SELECT * FROM users INTO OUTFILE '/tmp/x'", "MM!M"),
            ("CREATE TABLE t (id INT)", "MM!M"),
            ("ALTER TABLE t ADD c INT", "MM!M"),
            ("TRUNCATE TABLE t", "MM!M"),
            ("GRANT SELECT ON *.* TO 'x'", "MM!M"),
            ("LOCK TABLES users WRITE", "MM!M"),
            ("CALL proc()", "MM!M"),
            ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", "MM!M"),
            ("SET GLOBAL max_connections = 10", "MM!M"),
            ("XA START 'x'", "MM!M"),
            ("KILL 42", "MM!M"),
            ("HANDLER t OPEN", "MM!M"),
            ("PREPARE s FROM 'SELECT 1'", "MM!M"),
            ("EXECUTE s", "MM!M"),
            ("SELECT 1; INSERT INTO t VALUES (1)", "MM!M"),
            ("BEGIN; INSERT INTO t VALUES (1)", "MM!M"),
            ("/* INSERT */ UPDATE t SET a = 1", "MM!M"),
            // unknown: never a read, refused in replica scope
            ("FROBNICATE everything", "MM!M"),
            ("BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END", "MM!M"),
            // temporary tables may live on a replica
            ("CREATE TEMPORARY TABLE tmp (id INT)", "MMRM"),
            ("DROP TEMPORARY TABLE tmp", "MMRM"),
            // session state: evaluated where a read would run, then applied everywhere
            ("SET time_zone = '+01:00'", "MRRR"),
            ("SET NAMES utf8mb4", "MRRR"),
            ("set @x = 1", "MRRR"),
            ("SET @v = (SELECT COUNT(*) FROM t)", "MRRR"),
            ("USE other_db", "MRRR"),
            (
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "MRRR",
            ),
            ("SET time_zone = '+01:00'; SELECT 1", "MRRR"),
            // ... unless the right-hand side has a side effect
            ("SET @l = GET_LOCK('l', 0)", "MM!M"),
            ("SET @s = NEXTVAL(seq)", "MM!M"),
            ("SET @v = (SELECT COUNT(*) FROM t FOR UPDATE)", "MM!M"),
            ("SET @v = (SELECT x FROM t LOCK IN SHARE MODE)", "MM!M"),
            (
                "CREATE TEMPORARY TABLE tmp AS SELECT * FROM t FOR UPDATE",
                "MM!M",
            ),
            // transaction control
            ("BEGIN", "MMRM"),
            ("START TRANSACTION READ ONLY", "MMRM"),
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "MMRM"),
            ("COMMIT", "MMMM"),
            ("ROLLBACK", "MMMM"),
            ("SAVEPOINT diesel_savepoint_1", "MMMM"),
            ("SET autocommit = 0", "MMMM"),
            ("UNLOCK TABLES", "MMMM"),
        ];
        for (sql, expected) in table {
            assert_eq!(routes(sql, Pins::default()), *expected, "{sql}");
        }
    }

    /// The safety rule against every pin: a read follows the pin; a side effect runs on
    /// the master when the pin is there, and is refused when the pin is on a replica.
    #[test]
    fn pins_narrow_reads_and_never_carry_side_effects() {
        let on = |node| Pins {
            transaction: Some(node),
            ..Pins::default()
        };
        let previous = |node| Pins {
            previous: Some(node),
            ..Pins::default()
        };
        let insert = |node| Pins {
            insert_id: Some(node),
            ..Pins::default()
        };
        let found = |node| Pins {
            found_rows: Some(node),
            ..Pins::default()
        };
        let temp = |node| Pins {
            temp_table: Some(node),
            ..Pins::default()
        };
        let table: &[(&str, Pins, &str)] = &[
            // transactions: reads and writes follow; a write in a replica transaction
            // is refused, and replica scope refuses writes in any transaction
            ("SELECT 1", on(MASTER), "0000"),
            ("SELECT 1", on(R1), "1111"),
            ("INSERT INTO t VALUES (1)", on(MASTER), "00!0"),
            ("INSERT INTO t VALUES (1)", on(R1), "PP!P"),
            ("SELECT * FROM t FOR UPDATE", on(R1), "PP!P"),
            ("SELECT GET_LOCK('l', 0)", on(R1), "PP!P"),
            ("COMMIT", on(R1), "1111"),
            ("SAVEPOINT s", on(MASTER), "0000"),
            ("SET @x = 1", on(R1), "1111"),
            ("SET @l = GET_LOCK('l', 0)", on(R1), "PP!P"),
            // the previous statement's state
            ("SELECT ROW_COUNT()", previous(R1), "1111"),
            ("SELECT ROW_COUNT()", previous(MASTER), "0000"),
            (
                "UPDATE t SET x = ROW_COUNT() WHERE id = 1",
                previous(R1),
                "PP!P",
            ),
            (
                "UPDATE t SET x = ROW_COUNT() WHERE id = 1",
                previous(MASTER),
                "00!0",
            ),
            ("SELECT 1", previous(R1), "MRRR"),
            ("INSERT INTO t (x) VALUES (1)", previous(R1), "MM!M"),
            // the last insert's state: wherever the insert ran, not the last statement
            ("SELECT LAST_INSERT_ID()", insert(MASTER), "0000"),
            (
                "INSERT INTO t (x) VALUES (LAST_INSERT_ID())",
                insert(MASTER),
                "00!0",
            ),
            (
                "INSERT INTO t (x) VALUES (LAST_INSERT_ID())",
                insert(R2),
                "PP!P",
            ),
            ("SET @id = LAST_INSERT_ID()", insert(MASTER), "0000"),
            ("SELECT FOUND_ROWS()", found(R2), "2222"),
            // temporary tables: reads follow, writes to real tables never do
            ("SELECT * FROM t", temp(R1), "1111"),
            ("INSERT INTO real_t (x) SELECT id FROM t", temp(R1), "PP!P"),
            ("DROP TEMPORARY TABLE t", temp(R1), "1111"),
        ];
        for (sql, pins, expected) in table {
            assert_eq!(routes(sql, *pins), *expected, "{sql} with {pins:?}");
        }
    }

    #[test]
    fn writes_to_temporary_tables_only_run_where_those_tables_are() {
        let pins = Pins {
            temp_table: Some(R1),
            writes_only_temp: true,
            ..Pins::default()
        };
        assert_eq!(routes("INSERT INTO t VALUES (1)", pins), "1111");
        // ... but never with a lock or a sequence, or in a batch
        assert_eq!(routes("INSERT INTO t VALUES (NEXTVAL(s))", pins), "PP!P");
        assert_eq!(
            routes("INSERT INTO t VALUES (1); INSERT INTO u VALUES (1)", pins),
            "PP!P"
        );
    }

    #[test]
    fn pins_on_two_nodes_conflict() {
        let pins = Pins {
            insert_id: Some(MASTER),
            found_rows: Some(R1),
            ..Pins::default()
        };
        assert_eq!(
            routes("SELECT LAST_INSERT_ID(), FOUND_ROWS()", pins),
            "CCCC"
        );
        assert_eq!(routes("SELECT LAST_INSERT_ID()", pins), "0000");
        let in_tx = Pins {
            transaction: Some(MASTER),
            temp_table: Some(R1),
            ..Pins::default()
        };
        assert_eq!(routes("SELECT * FROM t", in_tx), "CCCC");
    }

    #[test]
    fn the_next_transaction_begins_where_set_transaction_ran() {
        let pins = Pins {
            next_transaction: Some(R2),
            ..Pins::default()
        };
        assert_eq!(routes("BEGIN", pins), "2222");
        assert_eq!(routes("SELECT 1", pins), "MRRR");
    }

    /// Exhaustive over pins × roles × write routing for statements of every effect: the
    /// safety rule's statement, checked mechanically.
    #[test]
    fn no_pin_ever_sends_a_side_effect_to_a_replica() {
        let statements = [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET x = ROW_COUNT()",
            "INSERT INTO t VALUES (LAST_INSERT_ID())",
            "SELECT FOUND_ROWS() FOR UPDATE",
            "SELECT GET_LOCK('l', 0)",
            "SET @l = GET_LOCK('l', 0)",
            "SELECT NEXTVAL(s)",
            "FROBNICATE",
            "XA START 'x'",
            "LOCK TABLES t WRITE",
        ];
        let nodes = [None, Some(MASTER), Some(R1), Some(R2)];
        for sql in statements {
            for &transaction in &nodes {
                for &insert_id in &nodes {
                    for &previous in &nodes {
                        for &temp_table in &nodes {
                            for &found_rows in &nodes {
                                let pins = Pins {
                                    transaction,
                                    next_transaction: None,
                                    insert_id,
                                    found_rows,
                                    previous,
                                    temp_table,
                                    writes_only_temp: false,
                                };
                                for role in [Role::Master, Role::Auto, Role::Replica] {
                                    for writes in [WriteRouting::Refuse, WriteRouting::Master] {
                                        let i = input(role, sql, pins, writes);
                                        assert_eq!(i.effect, Effect::MasterOnly, "{sql}");
                                        match decide(&i) {
                                            Ok(Route::Master) | Ok(Route::Pinned(MASTER, _)) => {}
                                            Ok(other) => {
                                                panic!("{sql} in {role:?} with {pins:?}: {other:?}")
                                            }
                                            Err(_) => {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
