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
const WITHOUT_PINS: &[(&str, &str)] = &[
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

#[test]
fn statement_routes_without_pins() {
    for (sql, expected) in WITHOUT_PINS {
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

/// The pins in the order the router reads them, each with a statement that follows it
/// (in a transaction, only the transaction pin applies: it comes first).
const PIN_ORDER: &[(Pin, &str)] = &[
    (Pin::Transaction, "SELECT 1"),
    (Pin::NextTransaction, "BEGIN"),
    (Pin::InsertId, "SELECT LAST_INSERT_ID()"),
    (Pin::FoundRows, "SELECT FOUND_ROWS()"),
    (Pin::Previous, "SHOW WARNINGS"),
    (Pin::TempTable, "SELECT * FROM tmp"),
];

/// `Pins` with `pin` on `node`.
fn pinned(pin: Pin, node: usize) -> Pins {
    let mut pins = Pins::default();
    let slot = match pin {
        Pin::Transaction => &mut pins.transaction,
        Pin::NextTransaction => &mut pins.next_transaction,
        Pin::InsertId => &mut pins.insert_id,
        Pin::FoundRows => &mut pins.found_rows,
        Pin::Previous => &mut pins.previous,
        Pin::TempTable => &mut pins.temp_table,
    };
    *slot = Some(node);
    pins
}

/// Every pair of pins, on one node and on two: on one node the statement follows the
/// pin read first (the one an error names); on two, the statement is refused and the
/// conflict names both in that order.
#[test]
fn the_order_pins_are_read_in() {
    let merge = |a: Pins, b: Pins| Pins {
        transaction: a.transaction.or(b.transaction),
        next_transaction: a.next_transaction.or(b.next_transaction),
        insert_id: a.insert_id.or(b.insert_id),
        found_rows: a.found_rows.or(b.found_rows),
        previous: a.previous.or(b.previous),
        temp_table: a.temp_table.or(b.temp_table),
        writes_only_temp: false,
    };
    // One statement that every pin but the next-transaction one narrows.
    let sql = "SELECT LAST_INSERT_ID(), FOUND_ROWS() FROM tmp; SHOW WARNINGS";
    for (a, &(first, _)) in PIN_ORDER.iter().enumerate() {
        let alone = decide(&input(
            Role::Auto,
            PIN_ORDER[a].1,
            pinned(first, R1),
            WriteRouting::Refuse,
        ));
        assert_eq!(alone, Ok(Route::Pinned(R1, first)), "{first:?} alone");
        for &(second, _) in &PIN_ORDER[a + 1..] {
            if [first, second].contains(&Pin::NextTransaction) {
                continue; // only a BEGIN follows it, and no other pin narrows a BEGIN
            }
            let same = merge(pinned(first, R1), pinned(second, R1));
            let got = decide(&input(Role::Auto, sql, same, WriteRouting::Refuse));
            assert_eq!(
                got,
                Ok(Route::Pinned(R1, first)),
                "{first:?} then {second:?}"
            );
            let apart = merge(pinned(first, R1), pinned(second, R2));
            let got = decide(&input(Role::Auto, sql, apart, WriteRouting::Refuse));
            let conflict = Refusal::Conflict {
                first: (first, R1),
                second: (second, R2),
            };
            assert_eq!(got, Err(conflict), "{first:?} on R1, {second:?} on R2");
        }
    }
}

/// Selects with each flag a read may carry, beside the corpus above.
const PLAIN_READ_CORPUS: &[&str] = &[
    "SELECT `t`.`id` FROM `t` WHERE `t`.`id` = ? LIMIT ?",
    "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 5",
    "SELECT FOUND_ROWS()",
    "SELECT LAST_INSERT_ID()",
    "SELECT ROW_COUNT()",
    "SELECT @a := 1",
    "SELECT 1; SELECT 2",
    "SELECT NEXTVAL(s)",
    "SELECT GET_LOCK('a', 0)",
    "SELECT f(1)",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM t /*!50000 FOR UPDATE */",
];

proptest::proptest! {
    /// `plain_read` places a statement exactly as `place(decide(..))` does whenever it
    /// places one at all, in every role, with any pin but the two its caller rules out
    /// (a transaction, a temporary table), on a cluster with or without replicas; and
    /// such a statement is a read that sets no session state.
    #[test]
    fn a_plain_read_is_placed_as_decide_and_place_place_it(
        sql in proptest::sample::select(
            WITHOUT_PINS
                .iter()
                .map(|(sql, _)| *sql)
                .chain(PLAIN_READ_CORPUS.iter().copied())
                .collect::<Vec<_>>(),
        ),
        role in proptest::sample::select(vec![Role::Master, Role::Auto, Role::Replica]),
        writes in proptest::sample::select(vec![WriteRouting::Refuse, WriteRouting::Master]),
        (next_transaction, insert_id, found_rows, previous) in (
            proptest::option::of(0usize..3),
            proptest::option::of(0usize..3),
            proptest::option::of(0usize..3),
            proptest::option::of(0usize..3),
        ),
        replicas in proptest::bool::ANY,
        last_node in proptest::option::of(0usize..3),
        reads_data in proptest::bool::ANY,
    ) {
        let pins = Pins {
            transaction: None,
            next_transaction,
            insert_id,
            found_rows,
            previous,
            temp_table: None,
            writes_only_temp: false,
        };
        let input = input(role, sql, pins, writes);
        if let Some(quick) = plain_read(role, input.class, replicas) {
            proptest::prop_assert_eq!(input.effect, Effect::Read, "{}", sql);
            // What makes a read set session state (the engine's `sets_session_state`).
            proptest::prop_assert!(
                !input.class.flags.contains(Flags::USER_VARIABLE_WRITE)
                    && !input.class.flags.contains(Flags::MULTI),
                "{}", sql
            );
            let route = decide(&input);
            proptest::prop_assert!(route.is_ok(), "{}: {:?}", sql, route);
            let cx = Context {
                effect: input.effect,
                replicas,
                previous: last_node,
                reads_data,
            };
            let full = place(route.unwrap_or(Route::Master), cx);
            proptest::prop_assert_eq!(quick, full, "{} in {:?}", sql, role);
        }
    }
}

#[test]
fn diesel_reads_take_the_plain_read_path_and_nothing_else_does() {
    for sql in [
        "SELECT `t`.`id` FROM `t` WHERE `t`.`id` = ? LIMIT ?",
        "SELECT COUNT(*) FROM `users`",
        "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 5",
    ] {
        assert!(
            plain_read(Role::Auto, classify(sql), true).is_some(),
            "{sql}"
        );
    }
    for sql in &PLAIN_READ_CORPUS[2..] {
        assert!(
            plain_read(Role::Auto, classify(sql), true).is_none(),
            "{sql}"
        );
    }
}
