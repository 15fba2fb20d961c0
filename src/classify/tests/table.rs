//! The big classification table: kind and flags of each statement, by topic.

use super::Kind::*;
use super::*;

/// Statements Diesel generates.
const DIESEL: &[Case] = &[
    ("SELECT `users`.`id`, `users`.`name` FROM `users` WHERE (`users`.`id` = ?) LIMIT ?", Select, PH),
    ("SELECT `users`.`id` FROM `users` WHERE (`users`.`name` = ?) ORDER BY `users`.`id` DESC LIMIT ? OFFSET ?", Select, PH),
    ("SELECT COUNT(*) FROM `users`", Select, NONE),
    ("SELECT EXISTS (SELECT `users`.`id` FROM `users` WHERE (`users`.`id` = ?))", Select, PH),
    ("SELECT `users`.`id`, `posts`.`title` FROM (`users` INNER JOIN `posts` ON (`posts`.`user_id` = `users`.`id`))", Select, NONE),
    ("SELECT `users`.`id` FROM `users` FOR UPDATE", LockingRead, NONE),
    ("SELECT `users`.`id` FROM `users` WHERE (`users`.`id` = ?) FOR UPDATE SKIP LOCKED", LockingRead, PH),
    ("SELECT `users`.`id` FROM `users` FOR UPDATE NOWAIT", LockingRead, NONE),
    ("SELECT `users`.`id` FROM `users` FOR SHARE", LockingRead, NONE),
    ("SELECT `users`.`id` FROM `users` FOR SHARE OF `users` NOWAIT", LockingRead, NONE),
    ("SELECT `users`.`id` FROM `users` LOCK IN SHARE MODE", LockingRead, NONE),
    ("INSERT INTO `users` (`name`) VALUES (?)", Insert, PH),
    ("INSERT INTO `users` (`name`, `email`) VALUES (?, ?), (?, ?)", Insert, PH),
    ("INSERT IGNORE INTO `users` (`name`) VALUES (?)", Insert, PH),
    ("INSERT INTO `users` (`name`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)", Insert, PH),
    ("REPLACE INTO `users` (`id`, `name`) VALUES (?, ?)", Replace, PH),
    ("UPDATE `users` SET `name` = ? WHERE (`users`.`id` = ?)", Update, PH),
    ("DELETE FROM `users` WHERE (`users`.`id` = ?)", Delete, PH),
    ("BEGIN", Begin, NONE),
    ("SAVEPOINT diesel_savepoint_1", Savepoint, NONE),
    ("RELEASE SAVEPOINT diesel_savepoint_1", ReleaseSavepoint, NONE),
    ("ROLLBACK TO SAVEPOINT diesel_savepoint_1", RollbackToSavepoint, NONE),
    ("COMMIT", Commit, NONE),
    ("ROLLBACK", Rollback, NONE),
    ("SELECT LAST_INSERT_ID()", Select, RII),
    ("SET time_zone = '+00:00';", SetSession, NONE),
    ("SET character_set_client = 'utf8mb4'", SetSession, NONE),
    ("SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT'))", SetSession, NONE),
];

/// `SET` variants.
const SET_VARIANTS: &[Case] = &[
    ("SET NAMES utf8mb4", SetSession, NONE),
    (
        "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'",
        SetSession,
        NONE,
    ),
    ("SET CHARACTER SET utf8mb4", SetSession, NONE),
    ("SET CHARSET utf8mb4", SetSession, NONE),
    ("SET SESSION sql_mode = 'ANSI'", SetSession, NONE),
    ("SET @@session.sql_mode = ''", SetSession, NONE),
    ("SET @@sql_mode = ''", SetSession, NONE),
    ("SET LOCAL sql_mode = ''", SetSession, NONE),
    ("set @x = 1", SetSession, UVW),
    ("SET @x := LAST_INSERT_ID()", SetSession, flags!(UVW | RII)),
    ("SET @a = 1, @b := 2", SetSession, UVW),
    (
        "SET @lock = GET_LOCK('job', 0)",
        SetSession,
        flags!(UVW | NL),
    ),
    ("SET GLOBAL max_connections = 100", SetGlobal, NONE),
    ("SET @@global.max_connections = 100", SetGlobal, NONE),
    ("SET @@GLOBAL.max_connections = 100", SetGlobal, NONE),
    ("SET PERSIST max_connections = 100", SetGlobal, NONE),
    (
        "SET sql_mode = '', GLOBAL max_connections = 1",
        SetGlobal,
        NONE,
    ),
    ("SET PASSWORD = 'secret'", SetGlobal, NONE),
    ("SET PASSWORD FOR 'u'@'%' = PASSWORD('x')", SetGlobal, NONE),
    ("SET ROLE admin", SetGlobal, NONE),
    ("SET DEFAULT ROLE admin FOR u", SetGlobal, NONE),
    ("SET default_storage_engine = InnoDB", SetSession, NONE),
    (
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        SetTransaction,
        NONE,
    ),
    (
        "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        SetTransaction,
        NONE,
    ),
    ("SET TRANSACTION READ ONLY", SetTransaction, NONE),
    (
        "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED",
        SetGlobal,
        NONE,
    ),
    (
        "SET transaction_isolation = 'READ-COMMITTED'",
        SetSession,
        NONE,
    ),
    ("SET autocommit = 0", SetAutocommit, AC_OFF),
    ("SET autocommit=1", SetAutocommit, AC_ON),
    ("set AUTOCOMMIT = off", SetAutocommit, AC_OFF),
    ("SET @@autocommit = ON", SetAutocommit, AC_ON),
    ("SET SESSION autocommit = TRUE", SetAutocommit, AC_ON),
    ("SET @@session.autocommit=false", SetAutocommit, AC_OFF),
    ("SET autocommit = 'OFF'", SetAutocommit, AC_OFF),
    ("SET autocommit := 1", SetAutocommit, AC_ON),
    ("SET autocommit = @saved", SetAutocommit, NONE),
    ("SET autocommit = 1 + 0", SetAutocommit, NONE),
    ("SET autocommit = 0, sql_mode = ''", SetAutocommit, AC_OFF),
    ("SET sql_mode = '', autocommit = 1", SetAutocommit, AC_ON),
    ("SET GLOBAL autocommit = 0", SetGlobal, NONE),
    (
        "SET STATEMENT max_statement_time=1 FOR SELECT * FROM t",
        Select,
        NONE,
    ),
    (
        "SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1",
        Update,
        NONE,
    ),
    (
        "SET STATEMENT sql_mode='', max_statement_time=10 FOR SELECT * FROM t FOR UPDATE",
        LockingRead,
        NONE,
    ),
    ("SET STATEMENT max_statement_time=1", Other, NONE),
];

/// Executable comments.
const EXECUTABLE_COMMENTS: &[Case] = &[
    ("/*!40101 SET NAMES utf8mb4 */", SetSession, NONE),
    (
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
        SetSession,
        UVW,
    ),
    (
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;",
        SetSession,
        UVW,
    ),
    ("/*!40103 SET TIME_ZONE='+00:00' */", SetSession, NONE),
    ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", Ddl, NONE),
    ("/*M!100100 SELECT 1 */", Select, UNC),
    ("/*M!100000 SELECT 1 */", Select, NONE),
    ("/*!*/ SELECT 1", Select, NONE),
    ("SELECT 1 /*!50000 FOR UPDATE */", LockingRead, NONE),
    ("SELECT 1 /*M!100000 FOR UPDATE */", LockingRead, NONE),
    ("SELECT /*! SQL_CALC_FOUND_ROWS */ * FROM t", Select, CFR),
    (
        "SELECT /*+ MAX_EXECUTION_TIME(1000) FOR UPDATE */ * FROM t",
        Select,
        NONE,
    ),
    ("/*!40101 SET NAMES utf8", SetSession, NONE),
];

/// Stateful functions and variables.
const STATEFUL_FUNCTIONS: &[Case] = &[
    ("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", Select, CFR),
    ("SELECT FOUND_ROWS()", Select, RFR),
    ("SELECT ROW_COUNT()", Select, RPS),
    ("select last_insert_id /* gap */ ()", Select, RII),
    ("SELECT @@identity", Select, RII),
    ("SELECT @@last_insert_id", Select, RII),
    ("SELECT @@session.warning_count, @@error_count", Select, RPS),
    ("SELECT @@version", Select, NONE),
    ("SELECT last_insert_id FROM t", Select, NONE),
    ("SELECT 'LAST_INSERT_ID()' FROM t", Select, NONE),
    ("SELECT GET_LOCK('a', 1)", Select, NL),
    ("SELECT RELEASE_LOCK('a')", Select, NL),
    ("SELECT RELEASE_ALL_LOCKS()", Select, NL),
    ("SELECT IS_FREE_LOCK('a'), IS_USED_LOCK('a')", Select, NL),
    ("SELECT get_lock FROM t", Select, NONE),
    ("DO GET_LOCK('a', 10)", Do, NL),
    ("DO RELEASE_LOCK('a')", Do, NL),
    ("DO SLEEP(1)", Do, NONE),
    ("SELECT SLEEP(1)", Select, NONE),
    ("SELECT NEXTVAL(s)", Select, WF),
    ("SELECT NEXT VALUE FOR s", Select, WF),
    ("SELECT SETVAL(s, 10)", Select, WF),
    ("SELECT LASTVAL(s)", Select, WF),
    ("SELECT PREVIOUS VALUE FOR s", Select, WF),
    ("INSERT INTO t (id) VALUES (NEXT VALUE FOR s)", Insert, WF),
    ("SELECT @x := 1", Select, UVW),
    ("SELECT @rownum := @rownum + 1 AS n FROM t", Select, UVW),
    ("SELECT @x = 1", Select, NONE),
    ("INSERT INTO t VALUES (LAST_INSERT_ID())", Insert, RII),
];

/// `SELECT ... INTO`.
const SELECT_INTO: &[Case] = &[
    ("SELECT a INTO @x FROM t", SelectInto, UVW),
    ("SELECT a FROM t INTO @x", SelectInto, UVW),
    ("SELECT * FROM t INTO OUTFILE '/tmp/x'", SelectInto, NONE),
    ("SELECT * INTO DUMPFILE '/tmp/x' FROM t", SelectInto, NONE),
    ("SELECT a INTO @x FROM t FOR UPDATE", SelectInto, UVW),
];

/// CTEs, parentheses, unions.
const CTES_AND_UNIONS: &[Case] = &[
    ("WITH x AS (SELECT 1) SELECT * FROM x", Select, NONE),
    ("WITH RECURSIVE cte (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM cte WHERE n < 5) SELECT * FROM cte", Select, NONE),
    ("WITH x AS (SELECT id FROM t) UPDATE t SET a = 1 WHERE id IN (SELECT id FROM x)", Update, NONE),
    ("WITH x AS (SELECT id FROM t) DELETE FROM t WHERE id IN (SELECT id FROM x)", Delete, NONE),
    ("WITH x AS (SELECT id FROM t) SELECT * FROM x FOR UPDATE", LockingRead, NONE),
    (
        "WITH x AS (SELECT * FROM t FOR UPDATE) UPDATE t SET a = 1",
        Update,
        Flags::LOCKING,
    ),
    ("WITH a AS (SELECT 1), b (c) AS (SELECT 2) SELECT * FROM a, b", Select, NONE),
    ("with x as (select 1) (select * from x)", Select, NONE),
    ("(SELECT 1) UNION (SELECT 2)", Select, NONE),
    ("((SELECT 1)) ORDER BY 1", Select, NONE),
    ("(SELECT a FROM t FOR UPDATE)", LockingRead, NONE),
    ("SELECT 1 UNION SELECT 2 FOR UPDATE", LockingRead, NONE),
    ("SELECT id FROM t WHERE x IN (SELECT y FROM u LOCK IN SHARE MODE)", LockingRead, NONE),
    ("(UPDATE t SET a = 1)", Other, NONE),
];

/// Plain reads.
const PLAIN_READS: &[Case] = &[
    ("SELECT 1", Select, NONE),
    ("SELECT 1 FROM DUAL", Select, NONE),
    ("SELECT NOW()", Select, NONE),
    ("TABLE t", Select, NONE),
    ("VALUES (1), (2)", Select, NONE),
    ("VALUES ROW(1, 2)", Select, NONE),
    ("SELECT REPLACE(name, 'a', 'b') FROM t", Select, NONE),
    ("SELECT * FROM t ORDER BY x DESC", Select, NONE),
    (
        "SELECT * FROM t1 FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'",
        Select,
        NONE,
    ),
];

/// Keywords in strings, identifiers, comments.
const HIDDEN_KEYWORDS: &[Case] = &[
    ("SELECT 'FOR UPDATE' FROM t", Select, NONE),
    ("SELECT \"LOCK IN SHARE MODE\" FROM t", Select, NONE),
    ("SELECT `for update` FROM t", Select, NONE),
    ("SELECT `into` FROM `update`", Select, NONE),
    ("SELECT * FROM `lock` WHERE `for` = 'update'", Select, NONE),
    ("SELECT t.update, t.into FROM t", Select, NONE),
    ("SELECT 1 /* FOR UPDATE */", Select, NONE),
    ("SELECT 1 -- FOR UPDATE", Select, NONE),
    ("SELECT 1 # FOR UPDATE", Select, NONE),
    ("SELECT 1 --\tFOR UPDATE", Select, NONE),
    ("SELECT 1 -- FOR UPDATE\n FOR UPDATE", LockingRead, NONE),
    ("SELECT 1--1", Select, NONE),
    ("SELECT 1--1 FOR UPDATE", LockingRead, NONE),
    ("SELECT 1. FOR UPDATE", LockingRead, NONE),
    ("SELECT 'it''s FOR UPDATE' FROM t", Select, NONE),
    ("SELECT 'a\\' FOR UPDATE' FROM t", Select, UNC),
    ("SELECT 'a\\\\' FROM t FOR UPDATE", LockingRead, NONE),
    ("SELECT \"a\"\"b FOR UPDATE\" FROM t", Select, NONE),
    ("SELECT `a``b FOR UPDATE` FROM t", Select, NONE),
    (
        "SELECT * FROM t WHERE name = 'x' -- FOR UPDATE",
        Select,
        NONE,
    ),
    ("SELECT * FROM t FOR /* c */ UPDATE", LockingRead, NONE),
    (
        "SELECT\n\t`users`.`id`\nFROM\n\t`users`\nFOR\nUPDATE",
        LockingRead,
        NONE,
    ),
    ("UPDATE t SET a = 'SELECT'", Update, NONE),
    ("SELECT 'a;b'", Select, NONE),
    ("SELECT `a;b` FROM t; ", Select, NONE),
    ("SELECT 1 /* ; */", Select, NONE),
    ("SELECT 'SELECT 1; DROP TABLE t'", Select, NONE),
];

/// Leading noise and casing.
const NOISE_AND_CASE: &[Case] = &[
    ("# comment\nSELECT 1", Select, NONE),
    ("-- comment\nSELECT 1", Select, NONE),
    ("/* leading */ SELECT 1", Select, NONE),
    ("  \n\t ;; SELECT 1", Select, NONE),
    ("\r\n-- a\n# b\n/* c */ select 1", Select, NONE),
    ("sElEcT 1", Select, NONE),
    ("select * from t for update", LockingRead, NONE),
    ("Select * From t Lock In Share Mode", LockingRead, NONE),
    ("SELECT\r\n1", Select, NONE),
];

/// Empty text.
const EMPTY: &[Case] = &[
    ("", Empty, NONE),
    (";;;", Empty, NONE),
    ("   \n", Empty, NONE),
    ("/* only a comment */", Empty, NONE),
    ("-- only\n# comments\n/* here */;", Empty, NONE),
    ("/*!*/", Empty, NONE),
];

/// Transactions.
const TRANSACTIONS: &[Case] = &[
    ("BEGIN WORK", Begin, NONE),
    ("begin;", Begin, NONE),
    ("START TRANSACTION", Begin, NONE),
    ("START TRANSACTION READ ONLY", Begin, RO),
    ("START TRANSACTION READ WRITE", Begin, NONE),
    (
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        Begin,
        RO,
    ),
    ("START SLAVE", Other, NONE),
    ("BEGIN NOT ATOMIC SELECT 1; END", Other, NONE),
    ("COMMIT WORK", Commit, NONE),
    ("COMMIT AND NO CHAIN", Commit, NONE),
    ("ROLLBACK WORK", Rollback, NONE),
    ("ROLLBACK TO diesel_savepoint_1", RollbackToSavepoint, NONE),
    ("rollback work to savepoint s", RollbackToSavepoint, NONE),
    ("RELEASE foo", Other, NONE),
    ("XA START 'x'", Xa, NONE),
    ("XA END 'x'", Xa, NONE),
    ("XA PREPARE 'x'", Xa, NONE),
    ("XA COMMIT 'x'", Xa, NONE),
    ("XA ROLLBACK 'x'", Xa, NONE),
    ("XA RECOVER", Xa, NONE),
];

/// Locks, calls, `USE`.
const LOCKS_CALLS_USE: &[Case] = &[
    ("LOCK TABLES t READ, u WRITE", LockTables, NONE),
    ("LOCK TABLE t WRITE", LockTables, NONE),
    ("UNLOCK TABLES", UnlockTables, NONE),
    ("LOCK INSTANCE FOR BACKUP", Other, NONE),
    ("CALL proc(1)", Call, CUF),
    ("USE mydb", Use, NONE),
    ("use `my db`;", Use, NONE),
];

/// DDL and temporary tables.
const DDL: &[Case] = &[
    ("CREATE TABLE t (id INT)", Ddl, NONE),
    (
        "CREATE TEMPORARY TABLE tmp (id INT)",
        CreateTemporaryTable,
        NONE,
    ),
    (
        "CREATE TEMPORARY TABLE IF NOT EXISTS `tmp` SELECT * FROM t",
        CreateTemporaryTable,
        NONE,
    ),
    (
        "CREATE TEMPORARY TABLE `tmp` AS SELECT LAST_INSERT_ID()",
        CreateTemporaryTable,
        RII,
    ),
    (
        "CREATE OR REPLACE TEMPORARY TABLE tmp (id INT)",
        CreateTemporaryTable,
        NONE,
    ),
    ("CREATE TEMPORARY SEQUENCE s", CreateTemporaryTable, NONE),
    ("DROP TEMPORARY TABLE tmp", DropTemporaryTable, NONE),
    (
        "DROP TEMPORARY TABLE IF EXISTS tmp",
        DropTemporaryTable,
        NONE,
    ),
    ("DROP TEMPORARY TABLES a, b", DropTemporaryTable, NONE),
    ("DROP TABLE t", Ddl, NONE),
    ("ALTER TABLE t ADD COLUMN x INT", Ddl, NONE),
    ("TRUNCATE TABLE t", Ddl, NONE),
    ("RENAME TABLE a TO b", Ddl, NONE),
    // `ON t (`: no context rule (in a read, `ON f(1)` is a call); DDL runs on the
    // master anyway.
    ("CREATE INDEX i ON t (a)", Ddl, CUF),
    ("CREATE UNIQUE INDEX i ON t (a)", Ddl, CUF),
    ("GRANT SELECT ON db.* TO u", Ddl, NONE),
    ("REVOKE SELECT ON db.* FROM u", Ddl, NONE),
    ("ANALYZE TABLE t", Ddl, NONE),
    ("ANALYZE NO_WRITE_TO_BINLOG TABLE t", Ddl, NONE),
    ("OPTIMIZE TABLE t", Ddl, NONE),
    ("REPAIR TABLE t", Ddl, NONE),
    ("FLUSH PRIVILEGES", Ddl, NONE),
    ("FLUSH TABLES WITH READ LOCK", Ddl, NONE),
    ("LOAD DATA INFILE 'x' INTO TABLE t", LoadData, NONE),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", LoadData, NONE),
    ("LOAD XML INFILE 'x' INTO TABLE t", LoadData, NONE),
    ("LOAD INDEX INTO CACHE t", Other, NONE),
];

/// `SHOW`, `EXPLAIN`, diagnostics.
const SHOW_EXPLAIN: &[Case] = &[
    ("SHOW WARNINGS", Show, RPS),
    ("SHOW ERRORS LIMIT 10", Show, RPS),
    ("SHOW COUNT(*) WARNINGS", Show, RPS),
    ("show count ( * ) errors", Show, RPS),
    ("SHOW PROFILES", Show, RPS),
    ("SHOW TABLES", Show, NONE),
    ("SHOW CREATE TABLE `users`", Show, NONE),
    ("SHOW FULL PROCESSLIST", Show, NONE),
    ("GET DIAGNOSTICS @n = NUMBER", GetDiagnostics, RPS),
    (
        "GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
        GetDiagnostics,
        RPS,
    ),
    (
        "GET STACKED DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
        GetDiagnostics,
        RPS,
    ),
    ("GET something", Other, NONE),
    ("EXPLAIN SELECT * FROM t", Explain, NONE),
    ("EXPLAIN UPDATE t SET a = 1", Explain, NONE),
    ("EXPLAIN SELECT * FROM t FOR UPDATE", Explain, NONE),
    ("DESCRIBE t", Explain, NONE),
    ("DESC t", Explain, NONE),
    ("EXPLAIN FORMAT=JSON SELECT 1", Explain, NONE),
    ("EXPLAIN ANALYZE SELECT * FROM t", Explain, NONE),
    ("ANALYZE SELECT * FROM t", Explain, NONE),
    ("ANALYZE FORMAT=JSON UPDATE t SET a = 1", Update, NONE),
    ("EXPLAIN ANALYZE DELETE FROM t", Delete, NONE),
    (
        "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
        LockingRead,
        NONE,
    ),
];

/// Prepared statements, `HANDLER`, `KILL`.
const PREPARED_HANDLER_KILL: &[Case] = &[
    ("HANDLER t OPEN", Handler, NONE),
    ("HANDLER t READ FIRST", Handler, NONE),
    ("PREPARE s FROM 'SELECT 1'", Prepare, NONE),
    ("EXECUTE s USING @a", Execute, NONE),
    ("DEALLOCATE PREPARE s", Deallocate, NONE),
    ("DROP PREPARE s", Deallocate, NONE),
    ("KILL 42", Kill, NONE),
    ("KILL QUERY 42", Kill, NONE),
    ("BINLOG 'abc'", Other, NONE),
    ("CHANGE MASTER TO MASTER_HOST = 'x'", Other, NONE),
];

/// Batches.
const BATCHES: &[Case] = &[
    ("SELECT 1; SELECT 2", Select, MULTI),
    ("SELECT 1;", Select, NONE),
    ("SELECT 1; ; -- trailing\n", Select, NONE),
    ("SELECT 1; INSERT INTO t VALUES (1)", Insert, MULTI),
    ("SET time_zone = '+01:00'; SELECT 1", SetSession, MULTI),
    ("BEGIN; UPDATE t SET a = 1; COMMIT", Update, MULTI),
    ("SET NAMES utf8; USE db", SetSession, MULTI),
    (
        "SELECT 1; SELECT * FROM t FOR UPDATE; SHOW WARNINGS",
        LockingRead,
        flags!(MULTI | RPS),
    ),
    (
        "SELECT 1; SELECT GET_LOCK('x', 1)",
        Select,
        flags!(MULTI | NL),
    ),
    (
        "SELECT 1 INTO @a; SELECT @a",
        SelectInto,
        flags!(MULTI | UVW),
    ),
    (
        "SET autocommit = 0; SET autocommit = 1",
        SetAutocommit,
        flags!(MULTI | AC_OFF | AC_ON),
    ),
    ("DELETE FROM t; SET GLOBAL x = 1", Delete, MULTI),
    ("SELECT 1 -- c; SELECT 2\n; SELECT 3", Select, MULTI),
];

/// Other writes.
const OTHER_WRITES: &[Case] = &[
    ("INSERT INTO t SELECT * FROM u", Insert, NONE),
    (
        "INSERT INTO t SELECT * FROM u FOR UPDATE",
        Insert,
        Flags::LOCKING,
    ),
    ("DELETE t FROM t JOIN u ON t.id = u.id", Delete, NONE),
];

/// Garbage and unterminated input.
const GARBAGE: &[Case] = &[
    ("FOO BAR", Other, NONE),
    ("garbage !@#$", Other, NONE),
    ("123", Other, NONE),
    ("'just a string'", Other, NONE),
    ("`x`", Other, NONE),
    (")))", Other, NONE),
    ("(", Other, NONE),
    ("@x := 1", Other, NONE),
    ("SELECT 'abc", Select, NONE),
    ("SELECT 1 /* unterminated FOR UPDATE", Select, NONE),
    ("SELECT `abc FOR UPDATE", Select, NONE),
    ("SELECT \"abc\\", Select, NONE),
    ("SELECT @", Select, NONE),
    ("SELECT @@", Select, NONE),
    (
        "SELECT é FROM ü WHERE ñ = 'ö' FOR UPDATE",
        LockingRead,
        NONE,
    ),
];

/// Every topic's cases, with the topic's name for failure messages.
const TOPICS: &[(&str, &[Case])] = &[
    ("Diesel-generated", DIESEL),
    ("SET variants", SET_VARIANTS),
    ("executable comments", EXECUTABLE_COMMENTS),
    ("stateful functions and variables", STATEFUL_FUNCTIONS),
    ("SELECT ... INTO", SELECT_INTO),
    ("CTEs, parentheses, unions", CTES_AND_UNIONS),
    ("plain reads", PLAIN_READS),
    (
        "keywords in strings, identifiers, comments",
        HIDDEN_KEYWORDS,
    ),
    ("leading noise and casing", NOISE_AND_CASE),
    ("empty", EMPTY),
    ("transactions", TRANSACTIONS),
    ("locks, calls, use", LOCKS_CALLS_USE),
    ("DDL and temporary tables", DDL),
    ("SHOW, EXPLAIN, diagnostics", SHOW_EXPLAIN),
    ("prepared statements, handler, kill", PREPARED_HANDLER_KILL),
    ("batches", BATCHES),
    ("other writes", OTHER_WRITES),
    ("garbage and unterminated input", GARBAGE),
];

#[test]
fn classification_table() {
    let count: usize = TOPICS.iter().map(|(_, cases)| cases.len()).sum();
    assert!(count >= 100, "{count}");
    assert_classified(TOPICS);
}
