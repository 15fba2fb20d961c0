//! The independent proof of the safety rule (see the guide's routing page): a statement that may change
//! data, take a lock, advance a sequence or have any other side effect never runs on a
//! replica, whatever the role and whatever pin is active.
//!
//! # The oracle
//!
//! The judge is the replicas' own record of what ran, never the library's query log:
//! each replica's general log, written to the table `mysql.general_log`
//! (`log_output = 'TABLE'`), emptied before the run. A row counts when its `user_host`
//! is an application account (`app[app] @  [127.0.0.1]` on MariaDB 10.11, so
//! `LIKE 'app%'`) and its `command_type` is `Query` (text protocol) or `Execute` (a
//! prepared statement, logged with its bound values). The server logs a statement
//! before parsing it, so a statement that a replica then refuses (read-only error 1290,
//! syntax error) still counts: it reached a replica, which the rule forbids.
//! `Prepare` rows are read too but are not leaks by themselves: Diesel's `load` asks a
//! prepared statement for its result metadata before executing it, and fails without
//! running one that has none, so the test only `load`s statements with a result set
//! and counts "prepared on a replica, never executed" separately.
//!
//! The master's general log is on too, for the other half of the promise: in
//! `Replica` role (writes refused, the default) an unsafe statement is refused *before
//! reaching any server*, so its marker must not show up in the master's log either
//! (with `WriteRouting::Master` it may).
//!
//! Cross-checks, from the servers too:
//! * **Locks.** Before each connection of the run is dropped (its named locks die
//!   with it), `IS_USED_LOCK` on every replica for every lock name the connection's
//!   statements used must be NULL.
//! * **Data and sequences.** After `cluster.sync()`, each replica's `CHECKSUM TABLE` of
//!   the tables the corpus writes and each sequence's `next_not_cached_value` equal the
//!   master's.
//! * **Rows changed by the app on replicas.** `information_schema.USER_STATISTICS`
//!   (`userstat = 1`, flushed before the run), accounted for exactly: the application
//!   accounts' `ROWS_INSERTED` must equal their rows in the general log table (each
//!   logged statement is a row that session inserts: measured, it matches to the row),
//!   `ROWS_UPDATED` and `ROWS_DELETED` 0, `UPDATE_COMMANDS` equal to their logged
//!   `CREATE`/`DROP TEMPORARY TABLE` statements (the pins; measured likewise) and
//!   `BINLOG_BYTES_WRITTEN` 0. A write the replica refused is not counted there, so this
//!   catches writes that *succeeded* on a replica; the general log is the main oracle.
//! * **GTIDs.** After the sync, each replica's `@@gtid_binlog_pos` equals the master's:
//!   no transaction of its own (an errant GTID) was written on a replica.
//! * `SHOW GLOBAL STATUS LIKE 'Com_%'` was tried and rejected: on this server the
//!   replication applier's ROW events count in `Com_insert`/`Com_update` on replicas
//!   (measured: +2 `Com_insert` for one replicated `INSERT` and one `NEXTVAL`), so the
//!   deltas can't tell application statements from replicated ones.
//!
//! # The labels
//!
//! Each corpus statement's label is the generator's ground truth, written next to its
//! template, never asked of the library's classifier: `Unsafe` (changes data, takes or
//! releases a named lock, locks rows, advances or sets a sequence, writes a user
//! variable or a file, DDL, `CALL`, a stored function that writes, dynamic SQL, a
//! write after `BEGIN`/`XA START`/`autocommit = 0`...), `MasterRead` (no side effect,
//! but only the master can answer it: `IS_USED_LOCK`, `IS_FREE_LOCK`, `LASTVAL`;
//! counted and printed, not asserted) and `Read` (a pure read: expected on replicas,
//! and their count per role shows that the oracle does see traffic). A label is
//! lexical: a statement is `Unsafe` when, under the session's `sql_mode` and this
//! server's version-comment rules, a side-effecting construct is code rather than a
//! string, identifier or comment, even if the server would then stop at an error.
//! The few templates whose label depends on the `sql_mode` (backslash escapes,
//! `ANSI_QUOTES`) or on version comments compute it: MariaDB 10.11 runs `/*!NNNNN`
//! only below 50700 (MySQL 5.7+ comments are skipped), `/*!NNNNNN` and `/*M!NNNNNN`
//! up to its own version (101119); the test checks that the server is 10.11.
//!
//! # Markers
//!
//! Every execution gets its own 8-digit marker (from 70 000 000), written into the
//! side-effecting part of the statement as code (a value, a `WHERE` literal, a lock
//! name `'ol_N'`), never only in a comment (comments are what the variants vary), and
//! never in a variable name or a value the statement assigns (`SELECT @a := 1 .. WHERE
//! N > 0`, a stored function returning 1): a library that evaluates `SET @v =
//! GET_LOCK(..)` on the master and sends the value, `SET @v = 1`, to the replicas must
//! not look guilty. A log row maps back to (statement, role, pin) by the markers in its
//! text.
//!
//! # Corpus and run matrix
//!
//! 214 base templates in classes (writes, writes reading per-connection state,
//! temporary-table name collisions, locking reads, named locks, sequences, `SET` with
//! side-effecting right-hand sides, `INTO`, DDL, `CALL` and stored functions,
//! compound statements and dynamic SQL, raw transactions, `XA`, `autocommit = 0`,
//! `LOCK TABLES` (opened in the statement's role, or in replica scope by an earlier
//! statement), batches, sql_mode
//! quoting tricks, version-comment tricks, pure reads), each under the four session
//! `sql_mode`s `''`, `ANSI_QUOTES`, `NO_BACKSLASH_ESCAPES`, `ANSI` (set through the
//! library: it broadcasts them to every node), in two variants per mode out of:
//! plain, leading `/* */`, `-- `, `#`, trailing `/* */`, `-- `, a leading or trailing
//! `/*M!999999 ' */` (newer than the server, with a quote inside), and for templates
//! that allow it an inner comment, odd casing, odd whitespace, `/*!50000 .. */` and
//! `/*M!100000 .. */` around the whole statement, a trailing `;`: 1712 corpus
//! statements, 1320 of them unsafe-labelled.
//!
//! Roles: `Master` (default role, no scope), `Auto` (a cluster built with
//! `default_role(Role::Auto)`, no scope), `Replica` (`with_replica`), and `Replica` on
//! a cluster with `WriteRouting::Master`. Pins, set up just before each statement:
//! none; the previous statement ran on a replica (`with_replica(SELECT 1)`); a temporary
//! table `t` created in replica scope when the connection opened; a raw `BEGIN` in the
//! statement's role (`ROLLBACK` after); a raw `BEGIN` in replica scope; `SET
//! TRANSACTION READ ONLY` or `.. ISOLATION LEVEL READ COMMITTED` in replica scope; a
//! Diesel `transaction` begun in replica scope (the statement runs inside it in its
//! role; rolled back). Every (base template, role, pin) cell runs
//! [`RUNS_PER_CELL`] of the template's corpus statements, rotating so that each corpus
//! statement runs in several cells (5992 executions: the full product, 48 000, would
//! take minutes on the shared 2-core machine; this takes 12 to 70 s depending on its
//! load). Single statements run through `batch_execute`,
//! `sql_query(..).execute` or `sql_query(..).load` in turn; templates with `?` bind
//! the marker (`Integer`) or a lock name (`Text`). Each outcome (ok, refused by the
//! library, server error) is counted per (role, pin) and printed; a connection that
//! `is_broken` is replaced, and each connection serves at most [`CHUNK`] statements.
//!
//! Not in the corpus: statements that a read-only replica *accepts* and that would
//! write its binary log (`ANALYZE`, `OPTIMIZE`, `FLUSH` without `LOCAL`): one leak would
//! give a replica an errant GTID and break replication for the rest of the run.
//! A `SET TRANSACTION` or raw-transaction pin whose statement was refused may leave
//! its characteristic for the next statement: pins bleed a little, which only adds
//! cases.
use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_cluster::{
    with_master, with_replica, with_role, Cluster, ClusterConnection, Role, WriteRouting,
};

use common::TestCluster;

/// The first marker; markers are 8 digits, so no marker is a substring of another.
const MARKER_BASE: u64 = 70_000_000;
/// How many corpus statements of each base template run in each (role, pin) cell;
/// `ORACLE_RUNS_PER_CELL=8` runs the full product (every corpus statement in every
/// role and pin: ~48 000 executions).
const RUNS_PER_CELL: usize = 1;
/// Statements per connection before a fresh one.
const CHUNK: usize = 80;
/// Offending rows printed on failure.
const SHOW_LEAKS: usize = 40;

fn cluster() -> &'static TestCluster {
    common::cluster("oracle")
}

// ---------------------------------------------------------------------------------
// Labels, modes, templates

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Label {
    /// May change data, take a lock, advance a sequence, or have another side effect.
    Unsafe,
    /// No side effect, but only the master's answer means anything.
    MasterRead,
    /// A pure read.
    Read,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Mode {
    Default,
    AnsiQuotes,
    NoBackslash,
    Ansi,
}

impl Mode {
    const ALL: [Mode; 4] = [
        Mode::Default,
        Mode::AnsiQuotes,
        Mode::NoBackslash,
        Mode::Ansi,
    ];

    fn sql_mode(self) -> &'static str {
        match self {
            Mode::Default => "",
            Mode::AnsiQuotes => "ANSI_QUOTES",
            Mode::NoBackslash => "NO_BACKSLASH_ESCAPES",
            Mode::Ansi => "ANSI",
        }
    }

    /// `"` quotes identifiers (no backslash escapes in them).
    fn ansi_quotes(self) -> bool {
        matches!(self, Mode::AnsiQuotes | Mode::Ansi)
    }

    /// A backslash is an ordinary character in strings.
    fn no_backslash(self) -> bool {
        self == Mode::NoBackslash
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bind {
    None,
    /// Every `?` gets the marker, as `Integer`.
    Marker,
    /// Every `?` gets the lock name `ol_<marker>`, as `Text`.
    LockName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// One statement, no comments, only single-quoted strings and backticks: every
    /// variant applies.
    Plain,
    /// Several statements or a compound statement: text protocol only; comment
    /// variants only.
    Multi,
    /// Its lexing is the point (comments, quotes that depend on the sql_mode): only
    /// leading and trailing comments are added.
    Fixed,
}

/// One base template: steps run one after the other on the same connection; `{N}` is
/// the marker. The steps containing `{N}` are the ones the label is about; a step
/// starting with `R:` runs in replica scope (a pin made by an earlier statement).
struct Base {
    class: &'static str,
    steps: Vec<&'static str>,
    label: Box<dyn Fn(Mode) -> Label>,
    shape: Shape,
    bind: Bind,
}

fn base(class: &'static str, sql: &'static str, label: Label) -> Base {
    Base {
        class,
        steps: vec![sql],
        label: Box::new(move |_| label),
        shape: if sql.contains(';') {
            Shape::Multi
        } else {
            Shape::Plain
        },
        bind: Bind::None,
    }
}

fn unsafe_(class: &'static str, sql: &'static str) -> Base {
    base(class, sql, Label::Unsafe)
}

fn read(class: &'static str, sql: &'static str) -> Base {
    base(class, sql, Label::Read)
}

impl Base {
    fn shape(mut self, shape: Shape) -> Base {
        self.shape = shape;
        self
    }

    fn bind(mut self, bind: Bind) -> Base {
        self.bind = bind;
        self
    }

    fn steps(mut self, steps: Vec<&'static str>) -> Base {
        self.steps = steps;
        self
    }

    fn label_by(mut self, f: impl Fn(Mode) -> Label + 'static) -> Base {
        self.label = Box::new(f);
        self
    }
}

fn unsafe_if(cond: bool) -> Label {
    if cond {
        Label::Unsafe
    } else {
        Label::Read
    }
}

/// The base templates. `t` is also the name of the temporary table the temp-table pin
/// creates on a replica; `oracle_t`, `oracle_u` are real tables.
fn templates() -> Vec<Base> {
    use Label::*;
    let mut v = vec![
        // writes of every kind
        unsafe_("write", "INSERT INTO oracle_t (x) VALUES ({N})"),
        unsafe_("write", "INSERT INTO oracle_t SET x = {N}"),
        unsafe_("write", "INSERT IGNORE INTO oracle_t (x) VALUES ({N})"),
        unsafe_("write", "REPLACE INTO oracle_t (x) VALUES ({N})"),
        unsafe_("write", "UPDATE oracle_t SET note = 'u' WHERE x = {N}"),
        unsafe_("write", "DELETE FROM oracle_t WHERE x = {N}"),
        unsafe_("write", "INSERT INTO oracle_t (x) SELECT {N} FROM DUAL"),
        unsafe_(
            "write",
            "INSERT INTO oracle_t (x) SELECT x + {N} FROM oracle_u LIMIT 1",
        ),
        unsafe_(
            "write",
            "UPDATE oracle_t a JOIN oracle_u b ON a.id = b.id SET a.note = 'm' WHERE b.x = {N}",
        ),
        unsafe_(
            "write",
            "DELETE a FROM oracle_t a JOIN oracle_u b ON a.id = b.id WHERE b.x = {N}",
        ),
        unsafe_(
            "write",
            "INSERT INTO oracle_t (x) WITH c AS (SELECT {N} AS v) SELECT v FROM c",
        ),
        unsafe_(
            "write",
            "INSERT INTO oracle_t (x) VALUES ({N}) ON DUPLICATE KEY UPDATE note = 'd'",
        ),
        unsafe_(
            "write",
            "DELETE FROM oracle_t WHERE x = {N} ORDER BY id LIMIT 1",
        ),
        unsafe_(
            "write",
            "UPDATE LOW_PRIORITY oracle_t SET note = 'l' WHERE x = {N}",
        ),
        unsafe_("write", "INSERT INTO oracle_t (x) VALUES ({N}) RETURNING id"),
        unsafe_("write", "DELETE FROM oracle_t WHERE x = {N} RETURNING id"),
        unsafe_(
            "write",
            "LOAD DATA INFILE '/nonexistent/oracle_{N}' INTO TABLE oracle_t",
        ),
        unsafe_("write", "INSERT INTO oracle_t (x) VALUES (?)").bind(Bind::Marker),
        unsafe_("write", "UPDATE oracle_t SET note = 'b' WHERE x = ?").bind(Bind::Marker),
        unsafe_("write", "INSERT INTO `oracle_t` (`x`) VALUES ({N})"),
        unsafe_("write", "UPDATE `oracle_t` SET `note` = 'q' WHERE `x` = {N}"),
        // writes that read per-connection state
        unsafe_(
            "write_state",
            "INSERT INTO oracle_t (x) VALUES ({N} + LAST_INSERT_ID() * 0)",
        ),
        unsafe_(
            "write_state",
            "UPDATE oracle_t SET x = LAST_INSERT_ID(x) WHERE x = {N}",
        ),
        unsafe_(
            "write_state",
            "INSERT INTO oracle_t (x, note) VALUES ({N}, ROW_COUNT())",
        ),
        unsafe_(
            "write_state",
            "UPDATE oracle_t SET note = FOUND_ROWS() WHERE x = {N}",
        ),
        unsafe_(
            "write_state",
            "DELETE FROM oracle_t WHERE id = LAST_INSERT_ID() AND x = {N}",
        ),
        unsafe_(
            "write_state",
            "INSERT INTO oracle_t (x, note) SELECT {N}, LAST_INSERT_ID()",
        ),
        // names that collide with the temporary table `t`
        unsafe_(
            "temp_name",
            "UPDATE oracle_t t SET t.note = 'a' WHERE t.x = {N}",
        ),
        unsafe_("temp_name", "INSERT INTO oracle_t (x) SELECT id + {N} FROM t"),
        unsafe_("temp_name", "INSERT INTO oracle_t (x) SELECT {N} AS t"),
        unsafe_("temp_name", "INSERT INTO oracle_t (x, note) VALUES ({N}, 't')"),
        unsafe_(
            "temp_name",
            "UPDATE oracle_t AS t SET x = x WHERE x = {N}",
        ),
        unsafe_(
            "temp_name",
            "INSERT INTO oracle_t (x) SELECT {N} FROM oracle_u AS t LIMIT 1",
        ),
        unsafe_(
            "temp_name",
            "UPDATE `oracle_t` `t` SET `t`.`x` = `t`.`x` WHERE `t`.`x` = {N}",
        ),
        unsafe_(
            "temp_name",
            "DELETE FROM oracle_t WHERE x = {N} AND x IN (SELECT id FROM t)",
        ),
        unsafe_("temp_name", "INSERT INTO oracle_t (x) SELECT {N} FROM t, oracle_u"),
        // locking reads
        unsafe_("locking_read", "SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE"),
        unsafe_(
            "locking_read",
            "SELECT id FROM oracle_t WHERE x = {N} LOCK IN SHARE MODE",
        ),
        unsafe_("locking_read", "SELECT id FROM oracle_t WHERE x = {N} FOR SHARE"),
        unsafe_(
            "locking_read",
            "SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE SKIP LOCKED",
        ),
        unsafe_(
            "locking_read",
            "SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE NOWAIT",
        ),
        unsafe_(
            "locking_read",
            "SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE WAIT 1",
        ),
        unsafe_(
            "locking_read",
            "SELECT * FROM (SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE) d",
        ),
        unsafe_(
            "locking_read",
            "SELECT id FROM oracle_t WHERE x = {N} UNION SELECT id FROM oracle_u FOR UPDATE",
        ),
        unsafe_(
            "locking_read",
            "(SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE)",
        ),
        unsafe_("locking_read", "SELECT id FROM oracle_t WHERE x = ? FOR UPDATE")
            .bind(Bind::Marker),
        unsafe_(
            "locking_read",
            "SELECT `id` FROM `oracle_t` WHERE `x` = {N} FOR UPDATE",
        ),
        // named locks
        unsafe_("named_lock", "SELECT GET_LOCK('ol_{N}', 0)"),
        unsafe_("named_lock", "SELECT `get_lock`('ol_{N}', 0)"),
        unsafe_("named_lock", "SELECT `GET_LOCK` ('ol_{N}', 0)"),
        unsafe_("named_lock", "SELECT get_lock ('ol_{N}' , 0)"),
        unsafe_("named_lock", "SELECT Get_Lock('ol_{N}',0) AS l"),
        unsafe_("named_lock", "SELECT RELEASE_LOCK('ol_{N}')"),
        unsafe_(
            "named_lock",
            "SELECT 1 FROM DUAL WHERE GET_LOCK('ol_{N}', 0) = 1",
        ),
        unsafe_("named_lock", "SELECT (SELECT GET_LOCK('ol_{N}', 0))"),
        unsafe_(
            "named_lock",
            "SELECT * FROM (SELECT GET_LOCK('ol_{N}', 0) AS l) d",
        ),
        unsafe_("named_lock", "DO GET_LOCK('ol_{N}', 0)"),
        unsafe_("named_lock", "SELECT GET_LOCK(CONCAT('ol_', {N}), 0)"),
        unsafe_("named_lock", "SELECT RELEASE_ALL_LOCKS(), {N}"),
        unsafe_(
            "named_lock",
            "SELECT x FROM oracle_t WHERE x = {N} AND GET_LOCK('ol_{N}', 0)",
        ),
        unsafe_("named_lock", "SELECT JSON_OBJECT('a', GET_LOCK('ol_{N}', 0))"),
        unsafe_("named_lock", "SELECT GET_LOCK('ol_{N}', 0) FROM DUAL LIMIT 1"),
        unsafe_("named_lock", "SELECT GET_LOCK(?, 0)").bind(Bind::LockName),
        unsafe_("named_lock", "SELECT IF(1, GET_LOCK('ol_{N}', 0), 0)"),
        unsafe_(
            "named_lock",
            "SELECT x FROM oracle_u WHERE x IN (SELECT GET_LOCK('ol_{N}', 0))",
        ),
        base("lock_info", "SELECT IS_USED_LOCK('ol_{N}')", MasterRead),
        base("lock_info", "SELECT IS_FREE_LOCK('ol_{N}')", MasterRead),
        base("lock_info", "SELECT `is_used_lock` ('ol_{N}')", MasterRead),
        // sequences
        unsafe_("sequence", "SELECT NEXTVAL(oracle_seq), {N}"),
        unsafe_("sequence", "SELECT NEXT VALUE FOR oracle_seq, {N}"),
        unsafe_("sequence", "SELECT SETVAL(oracle_seq2, {N})"),
        unsafe_("sequence", "SELECT `nextval`(oracle_seq), {N}"),
        unsafe_("sequence", "SELECT nextval (`oracle_seq`), {N}"),
        unsafe_(
            "sequence",
            "INSERT INTO oracle_t (x, note) VALUES ({N}, NEXTVAL(oracle_seq))",
        ),
        unsafe_(
            "sequence",
            "SELECT x FROM oracle_t WHERE x = {N} + 0 * NEXTVAL(oracle_seq)",
        ),
        unsafe_("sequence", "DO NEXTVAL(oracle_seq), {N}"),
        unsafe_("sequence", "SELECT (SELECT NEXTVAL(oracle_seq)) + 0 * {N}"),
        unsafe_("sequence", "SELECT NEXTVAL(oracle_seq), ?").bind(Bind::Marker),
        base("sequence_info", "SELECT LASTVAL(oracle_seq), {N}", MasterRead),
        base(
            "sequence_info",
            "SELECT PREVIOUS VALUE FOR oracle_seq, {N}",
            MasterRead,
        ),
        // SET whose right-hand side has a side effect (and harmless ones)
        unsafe_("set_rhs", "SET @l = GET_LOCK('ol_{N}', 0)"),
        unsafe_("set_rhs", "SET @l := (SELECT GET_LOCK('ol_{N}', 0))"),
        unsafe_("set_rhs", "SET @a = 1, @b = GET_LOCK('ol_{N}', 0)"),
        unsafe_("set_rhs", "SET @s = NEXTVAL(oracle_seq) + 0 * {N}"),
        unsafe_("set_rhs", "SET @s = (SELECT NEXTVAL(oracle_seq)) + 0 * {N}"),
        unsafe_(
            "set_rhs",
            "SET @v = (SELECT COUNT(*) FROM oracle_t WHERE x = {N} FOR UPDATE)",
        ),
        unsafe_("set_rhs", "SET @v = oracle_fn({N})"),
        unsafe_("set_rhs", "SET @l = GET_LOCK(?, 0)").bind(Bind::LockName),
        unsafe_("set_rhs", "SET @@session.sql_select_limit = 10, @l = RELEASE_LOCK('ol_{N}')"),
        read("set_read", "SET @v = (SELECT COUNT(*) FROM oracle_t WHERE x = {N})"),
        read("set_read", "SET @v = {N}"),
        read("set_read", "SET @v = ?").bind(Bind::Marker),
        read("set_read", "SET @v = 'GET_LOCK(''ol_{N}'', 0)'"),
        // INTO: user variables and files
        unsafe_("into", "SELECT x INTO @v FROM oracle_t WHERE x = {N} LIMIT 1"),
        unsafe_("into", "SELECT 1 INTO @v FROM DUAL WHERE {N} > 0"),
        unsafe_("into", "SELECT x FROM oracle_t WHERE x = {N} INTO @v"),
        unsafe_("into", "SELECT {N} INTO OUTFILE '/tmp/oracle_never_written'"),
        // `@a :=` in a query assigns a user variable, session state like `SET @a = 1`:
        // the library runs it where a read runs and propagates the value, so these are
        // reads (`SELECT .. INTO` stays on the master: it may write a file).
        read("set_read", "SELECT @a := 1 FROM DUAL WHERE {N} > 0"),
        read("set_read", "SELECT x, @a := x FROM oracle_t WHERE x = {N}"),
        // DDL and administration
        unsafe_("ddl", "DROP TABLE IF EXISTS oracle_gone_{N}"),
        unsafe_(
            "ddl",
            "CREATE TABLE IF NOT EXISTS oracle_ddl (id INT) COMMENT 'c{N}'",
        ),
        unsafe_("ddl", "ALTER TABLE oracle_ddl COMMENT = 'c{N}'"),
        unsafe_("ddl", "CREATE OR REPLACE VIEW oracle_v AS SELECT {N} AS n"),
        unsafe_("ddl", "DROP VIEW IF EXISTS oracle_gone_{N}"),
        unsafe_("ddl", "RENAME TABLE oracle_gone_{N} TO oracle_gone2_{N}"),
        unsafe_("ddl", "TRUNCATE TABLE oracle_gone_{N}"),
        unsafe_("ddl", "CREATE INDEX i_{N} ON oracle_gone_{N} (id)"),
        unsafe_(
            "ddl",
            "GRANT SELECT ON app.oracle_t TO 'nobody_{N}'@'localhost'",
        ),
        unsafe_("ddl", "SET GLOBAL max_connections = 151 + 0 * {N}"),
        unsafe_("ddl", "KILL QUERY {N}"),
        unsafe_(
            "ddl",
            "LOCK TABLES oracle_t AS l_{N} READ; UNLOCK TABLES",
        ),
        unsafe_("ddl", "CREATE TABLE IF NOT EXISTS oracle_ddl SELECT {N} AS id"),
        // stored programs
        unsafe_("call", "CALL oracle_proc({N})"),
        unsafe_("call", "CALL oracle_lockproc({N})"),
        unsafe_("call", "CALL `oracle_proc` ({N})"),
        unsafe_("call", "SELECT oracle_fn({N})"),
        unsafe_("call", "DO oracle_fn({N})"),
        unsafe_("call", "SELECT x FROM oracle_u WHERE oracle_fn({N}) > 0"),
        unsafe_("call", "CALL oracle_proc(?)").bind(Bind::Marker),
        // compound statements and dynamic SQL
        unsafe_(
            "compound",
            "BEGIN NOT ATOMIC INSERT INTO oracle_t (x) VALUES ({N}); END",
        ),
        unsafe_(
            "compound",
            "BEGIN NOT ATOMIC DECLARE v INT; SET v = GET_LOCK('ol_{N}', 0); END",
        ),
        unsafe_(
            "compound",
            "IF 1 THEN INSERT INTO oracle_t (x) VALUES ({N}); END IF",
        ),
        unsafe_(
            "compound",
            "BEGIN NOT ATOMIC SELECT 1; UPDATE oracle_t SET note = 'c' WHERE x = {N}; END",
        ),
        unsafe_(
            "compound",
            "EXECUTE IMMEDIATE 'INSERT INTO oracle_t (x) VALUES ({N})'",
        ),
        unsafe_(
            "compound",
            "EXECUTE IMMEDIATE CONCAT('SELECT GET_LOCK(', QUOTE('ol_{N}'), ', 0)')",
        ),
        unsafe_(
            "compound",
            "PREPARE oracle_s FROM 'INSERT INTO oracle_t (x) VALUES ({N})'; EXECUTE oracle_s; DEALLOCATE PREPARE oracle_s",
        ),
        read(
            "compound_read",
            "BEGIN NOT ATOMIC SELECT x FROM oracle_t WHERE x = {N}; END",
        ),
        read("compound_read", "EXECUTE IMMEDIATE 'SELECT {N}'"),
        // raw transactions, XA, autocommit, LOCK TABLES, savepoints
        unsafe_(
            "raw_tx",
            "BEGIN; INSERT INTO oracle_t (x) VALUES ({N}); COMMIT",
        ),
        unsafe_(
            "raw_tx",
            "START TRANSACTION; UPDATE oracle_t SET note = 'tx' WHERE x = {N}; COMMIT",
        ),
        unsafe_("raw_tx", "BEGIN; INSERT INTO oracle_t (x) VALUES ({N})")
            .steps(vec!["BEGIN; INSERT INTO oracle_t (x) VALUES ({N})", "ROLLBACK"]),
        unsafe_("raw_tx", "").steps(vec![
            "BEGIN",
            "COMMIT AND CHAIN",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "COMMIT",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "XA START 'oxa'",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "XA END 'oxa'",
            "XA ROLLBACK 'oxa'",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "SET autocommit = 0",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "ROLLBACK",
            "SET autocommit = 1",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "LOCK TABLES oracle_t AS lk WRITE",
            "UPDATE oracle_t AS lk SET note = 'lk' WHERE x = {N}",
            "UNLOCK TABLES",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "BEGIN",
            "SAVEPOINT oracle_sp",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "ROLLBACK TO SAVEPOINT oracle_sp",
            "ROLLBACK",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "START TRANSACTION READ ONLY",
            "SELECT GET_LOCK('ol_{N}', 0)",
            "COMMIT",
        ]),
        unsafe_("raw_tx", "").steps(vec![
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
            "DELETE FROM oracle_t WHERE x = {N}",
            "ROLLBACK",
        ]),
        // The same raw pins set up in replica scope (`R:` steps run in `with_replica`),
        // the unsafe statement then in the statement's role.
        unsafe_("raw_pin", "").steps(vec![
            "R:BEGIN",
            "R:COMMIT AND CHAIN",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "R:ROLLBACK",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:XA START 'oxa'",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "R:XA END 'oxa'",
            "R:XA ROLLBACK 'oxa'",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:SET autocommit = 0",
            "INSERT INTO oracle_t (x) VALUES ({N})",
            "R:ROLLBACK",
            "R:SET autocommit = 1",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:LOCK TABLES oracle_u READ",
            "SELECT GET_LOCK('ol_{N}', 0)",
            "R:UNLOCK TABLES",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:BEGIN; SELECT 1",
            "UPDATE oracle_t SET note = 'p' WHERE x = {N}",
            "R:ROLLBACK",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:START TRANSACTION READ ONLY",
            "SELECT id FROM oracle_t WHERE x = {N} FOR UPDATE",
            "R:COMMIT",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:CREATE TEMPORARY TABLE t2 (id INT)",
            "INSERT INTO oracle_t (x) SELECT {N} FROM t2",
            "R:DROP TEMPORARY TABLE t2",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:SELECT SQL_CALC_FOUND_ROWS x FROM oracle_t LIMIT 1",
            "INSERT INTO oracle_t (x, note) VALUES ({N}, FOUND_ROWS())",
        ]),
        unsafe_("raw_pin", "").steps(vec![
            "R:SET @x = 1",
            "SET @y = NEXTVAL(oracle_seq) + 0 * {N}",
        ]),
        read("raw_tx_read", "").steps(vec![
            "START TRANSACTION READ ONLY",
            "SELECT x FROM oracle_t WHERE x = {N}",
            "COMMIT",
        ]),
        // batches mixing reads and writes, in both orders
        unsafe_("batch", "SELECT 1; INSERT INTO oracle_t (x) VALUES ({N})"),
        unsafe_("batch", "INSERT INTO oracle_t (x) VALUES ({N}); SELECT 1"),
        unsafe_(
            "batch",
            "SELECT x FROM oracle_t WHERE x = 1; DELETE FROM oracle_t WHERE x = {N}",
        ),
        unsafe_(
            "batch",
            "SELECT 'a;b'; UPDATE oracle_t SET note = ';' WHERE x = {N}",
        ),
        unsafe_("batch", "SET @a = 1; SELECT GET_LOCK('ol_{N}', 0)"),
        unsafe_("batch", "SELECT 1; SELECT 2; DO GET_LOCK('ol_{N}', 0)"),
        unsafe_("batch", "SELECT NEXTVAL(oracle_seq), {N}; SELECT 1"),
        unsafe_("batch", "SELECT 1; SELECT x FROM oracle_t WHERE x = {N} FOR UPDATE"),
        unsafe_("batch", "SET @z = 1; INSERT INTO oracle_t (x) VALUES ({N})"),
        read("batch_read", "SELECT x FROM oracle_t WHERE x = {N}; SELECT 2"),
        read("batch_read", "SELECT 1; SELECT 'INSERT', {N}"),
    ];

    // Lexing that depends on the sql_mode.
    v.extend([
        // `'a\'` ends the string only without backslash escapes.
        read(
            "quote_mode",
            "SELECT 'a\\'; DELETE FROM oracle_t WHERE x = {N}; -- '",
        )
        .shape(Shape::Fixed)
        .label_by(|m| unsafe_if(m.no_backslash())),
        // `"a\"` ends a string without backslash escapes, and an identifier with ANSI_QUOTES.
        read(
            "quote_mode",
            "SELECT \"a\\\"; DELETE FROM oracle_t WHERE x = {N}; -- \"",
        )
        .shape(Shape::Fixed)
        .label_by(|m| unsafe_if(m.ansi_quotes() || m.no_backslash())),
        // `'a\''` is `a'` with backslash escapes; without them the lock call is in a string.
        read(
            "quote_mode",
            "SELECT 'a\\'' AS q, GET_LOCK('ol_{N}', 0) AS l",
        )
        .shape(Shape::Fixed)
        .label_by(|m| unsafe_if(!m.no_backslash())),
        // `"a\""` is a string only in the default mode.
        read(
            "quote_mode",
            "SELECT \"a\\\"\" AS q, GET_LOCK('ol_{N}', 0) AS l",
        )
        .shape(Shape::Fixed)
        .label_by(|m| unsafe_if(m == Mode::Default)),
        // A string or an identifier: never a call.
        read("quote_mode", "SELECT \"GET_LOCK('ol_{N}', 0)\"").shape(Shape::Fixed),
        // Double quotes around a write: a string, or an identifier.
        read(
            "quote_mode",
            "SELECT 'ok' AS \"x; DELETE FROM oracle_t WHERE x = {N}\"",
        )
        .shape(Shape::Fixed),
        // Quotes of the other kind and `;`, `-- ` inside a single-quoted string.
        unsafe_(
            "quote_mode",
            "SELECT 'say \"hi\"; -- ', GET_LOCK('ol_{N}', 0)",
        )
        .shape(Shape::Fixed),
        read(
            "quote_mode",
            "SELECT 'x\" ; DELETE FROM oracle_t WHERE x = {N}; -- \"'",
        )
        .shape(Shape::Fixed),
        // A string or an identifier, with a single quote inside.
        unsafe_("quote_mode", "SELECT \"it's\", GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        // Doubled quotes escape in every mode.
        unsafe_("quote_mode", "SELECT 'it''s', GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        // `'a\\'` ends the string in every mode.
        unsafe_("quote_mode", "SELECT 'a\\\\', GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        // No escapes in backticks.
        unsafe_("quote_mode", "SELECT 1 AS `a\\`, GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        // Comments
        unsafe_("quote_mode", "SELECT 1 -- ' \n, GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        read("quote_mode", "SELECT {N} # ', GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        read("quote_mode", "SELECT {N} -- , GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        read("quote_mode", "SELECT {N} /* , GET_LOCK('ol_{N}', 0) */").shape(Shape::Fixed),
        unsafe_(
            "quote_mode",
            "SELECT 1 /* ' */, GET_LOCK('ol_{N}', 0) /* ' */",
        )
        .shape(Shape::Fixed),
        unsafe_("quote_mode", "SELECT '/*', GET_LOCK('ol_{N}', 0), '*/'").shape(Shape::Fixed),
    ]);

    // Version comments, as MariaDB 10.11 reads them.
    v.extend([
        unsafe_(
            "version_comment",
            "SELECT 1 /*M!999999 ' */, GET_LOCK('ol_{N}', 0) /*M!999999 ' */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "/*M!999999 ' */ DELETE FROM oracle_t WHERE x = {N} /*M!999999 ' */",
        )
        .shape(Shape::Fixed),
        read(
            "version_comment",
            "SELECT {N} /*M!999999 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*M!100000 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*M!101119 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        read(
            "version_comment",
            "SELECT {N} /*M!101200 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*!50000 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*!40101 , NEXTVAL(oracle_seq) */, {N}",
        )
        .shape(Shape::Fixed),
        read(
            "version_comment",
            "SELECT {N} /*!50700 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        read(
            "version_comment",
            "SELECT {N} /*!80000 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*!100000 , GET_LOCK('ol_{N}', 0) */",
        )
        .shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "/*!40000 INSERT INTO oracle_t (x) VALUES ({N}) */",
        )
        .shape(Shape::Fixed),
        unsafe_("version_comment", "SELECT 1 /*!*/, GET_LOCK('ol_{N}', 0)").shape(Shape::Fixed),
        unsafe_(
            "version_comment",
            "SELECT 1 /*M!999999 ; */; DELETE FROM oracle_t WHERE x = {N}",
        )
        .shape(Shape::Fixed),
        read(
            "version_comment",
            "SELECT {N} /*M!999999 ; DELETE FROM oracle_t WHERE x = 1 */",
        )
        .shape(Shape::Fixed),
    ]);

    // Pure reads in the same variants.
    v.extend([
        read("read", "SELECT x FROM oracle_t WHERE x = {N}"),
        read("read", "SELECT COUNT(*) FROM oracle_t WHERE x = {N}"),
        read("read", "SELECT {N}"),
        read("read", "SELECT 'FOR UPDATE' AS s, {N}"),
        read(
            "read",
            "SELECT `for update` FROM (SELECT {N} AS `for update`) d",
        ),
        read("read", "SELECT 'GET_LOCK(''ol_x'', 0)', {N}"),
        read("read", "SELECT 'NEXTVAL(oracle_seq)', {N}"),
        read("read", "SELECT LAST_INSERT_ID(), {N}"),
        read("read", "SELECT ROW_COUNT(), {N}"),
        read("read", "SELECT FOUND_ROWS(), {N}"),
        read(
            "read",
            "SELECT SQL_CALC_FOUND_ROWS x FROM oracle_t WHERE x = {N} LIMIT 1",
        ),
        read("read", "SELECT id FROM t WHERE id = {N}"),
        read("read", "SELECT t.x FROM oracle_t t WHERE t.x = {N}"),
        read("read", "WITH c AS (SELECT {N} AS v) SELECT v FROM c"),
        read(
            "read",
            "SELECT x FROM oracle_t WHERE note = 'x; DROP TABLE oracle_t' AND x = {N}",
        ),
        read(
            "read",
            "SELECT * FROM oracle_t WHERE x IN (SELECT x FROM oracle_u WHERE x = {N})",
        ),
        read("read", "EXPLAIN SELECT x FROM oracle_t WHERE x = {N}"),
        read("read", "SELECT @v, {N}"),
        read("read", "SELECT x FROM oracle_t WHERE x = ?").bind(Bind::Marker),
        read(
            "read",
            "SELECT 1 FROM oracle_t WHERE x = {N} UNION SELECT 2",
        ),
        read(
            "read",
            "SELECT `delete` FROM (SELECT {N} AS `delete`) `insert`",
        ),
        read("read", "SHOW TABLES LIKE 'oracle_{N}'"),
    ]);
    v
}

// ---------------------------------------------------------------------------------
// Variants

struct Variant {
    name: &'static str,
    apply: fn(&str) -> String,
    /// Only for `Shape::Plain` templates.
    plain_only: bool,
    /// Must run through the text protocol.
    text_only: bool,
}

/// Applies `f` to each character outside single-quoted strings and backticks (plain
/// templates have no other quoting and no comments).
fn outside_quotes(sql: &str, mut f: impl FnMut(char, &mut String)) -> String {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for ch in sql.chars() {
        match quote {
            Some(q) => {
                out.push(ch);
                if escaped {
                    escaped = false;
                } else if ch == '\\' && q == '\'' {
                    escaped = true;
                } else if ch == q {
                    quote = None;
                }
            }
            None => {
                if ch == '\'' || ch == '`' {
                    quote = Some(ch);
                    out.push(ch);
                } else {
                    f(ch, &mut out);
                }
            }
        }
    }
    out
}

/// `SELECT` -> `sElEcT` for upper-case words outside quotes; identifiers (lower case)
/// and the `{N}` placeholder stay.
fn mixed_case(sql: &str) -> String {
    let mut word = String::new();
    let mut out = outside_quotes(&format!("{sql} "), |ch, out| {
        if ch.is_ascii_alphabetic() || ch == '_' {
            word.push(ch);
        } else {
            flush_word(&mut word, out);
            out.push(ch);
        }
    });
    out.pop();
    out
}

fn flush_word(word: &mut String, out: &mut String) {
    let upper = word.len() >= 2 && !word.chars().any(|c| c.is_ascii_lowercase());
    for (i, c) in word.chars().enumerate() {
        out.push(if upper && i % 2 == 0 {
            c.to_ascii_lowercase()
        } else {
            c
        });
    }
    word.clear();
}

fn variants() -> Vec<Variant> {
    fn v(
        name: &'static str,
        apply: fn(&str) -> String,
        plain_only: bool,
        text_only: bool,
    ) -> Variant {
        Variant {
            name,
            apply,
            plain_only,
            text_only,
        }
    }
    vec![
        v("plain", |s| s.to_string(), false, false),
        v("lead /* */", |s| format!("/* lead */ {s}"), false, false),
        v("lead --", |s| format!("-- lead\n{s}"), false, false),
        v("lead #", |s| format!("# lead\n{s}"), false, false),
        v("trail /* */", |s| format!("{s} /* trail */"), false, false),
        v("trail --", |s| format!("{s} -- trail"), false, false),
        v(
            "lead /*M!999999 ' */",
            |s| format!("/*M!999999 ' */ {s}"),
            false,
            false,
        ),
        v(
            "trail /*M!999999 ' */",
            |s| format!("{s} /*M!999999 ' */"),
            false,
            false,
        ),
        v(
            "inner /* */",
            |s| {
                let mut done = false;
                outside_quotes(s, |ch, out| {
                    if ch == ' ' && !done {
                        done = true;
                        out.push_str(" /* inner; ' */ ");
                    } else {
                        out.push(ch);
                    }
                })
            },
            true,
            false,
        ),
        v("mixed case", mixed_case, true, false),
        v(
            "whitespace",
            |s| {
                outside_quotes(s, |ch, out| {
                    if ch == ' ' {
                        out.push_str(" \n\t  ");
                    } else {
                        out.push(ch);
                    }
                })
            },
            true,
            false,
        ),
        v(
            "/*!50000 .. */",
            |s| format!("/*!50000 {s} */"),
            true,
            false,
        ),
        v(
            "/*M!100000 .. */",
            |s| format!("/*M!100000 {s} */"),
            true,
            false,
        ),
        v("trailing ;", |s| format!("{s};"), true, true),
    ]
}

// ---------------------------------------------------------------------------------
// The corpus

/// One corpus statement: a base template in one sql_mode and one variant.
struct Stmt {
    base: usize,
    /// The template's steps before any variant, for the report.
    template: String,
    class: &'static str,
    mode: Mode,
    variant: &'static str,
    /// Steps with `{N}` still in them.
    steps: Vec<String>,
    label: Label,
    bind: Bind,
    text_only: bool,
    /// Has a result set, so `load` runs it (Diesel's `load` asks for the result's
    /// metadata before executing and fails without running a statement that has none).
    returns_rows: bool,
}

/// Whether a step carries the marker: as `{N}` in its text, or bound to its `?`.
fn marked(step: &str, bind: Bind) -> bool {
    step.contains("{N}") || (bind != Bind::None && step.contains('?'))
}

/// Whether a (single-step) template's statement has a result set.
fn returns_rows(sql: &str) -> bool {
    let head = sql.trim_start_matches('(').to_ascii_uppercase();
    let query = ["SELECT", "WITH", "SHOW", "EXPLAIN"]
        .iter()
        .any(|k| head.starts_with(k));
    (query && !head.contains(" INTO ")) || head.contains(" RETURNING ")
}

/// Every base template × every mode × two variants (rotating, so each variant is used).
fn corpus() -> Vec<Stmt> {
    let variants = variants();
    let mut out = Vec::new();
    for (b, t) in templates().into_iter().enumerate() {
        let usable: Vec<&Variant> = variants
            .iter()
            .filter(|v| t.shape == Shape::Plain || !v.plain_only)
            .filter(|v| !(v.text_only && t.bind != Bind::None))
            .collect();
        for (mi, mode) in Mode::ALL.into_iter().enumerate() {
            for k in 0..2 {
                let var = usable[(b * 3 + mi * 2 + k) % usable.len()];
                let steps = t
                    .steps
                    .iter()
                    .map(|s| {
                        if marked(s, t.bind) {
                            (var.apply)(s)
                        } else {
                            s.to_string()
                        }
                    })
                    .collect();
                out.push(Stmt {
                    base: b,
                    template: t.steps.join(" | "),
                    class: t.class,
                    mode,
                    variant: var.name,
                    steps,
                    label: (t.label)(mode),
                    bind: t.bind,
                    text_only: t.shape == Shape::Multi || var.text_only,
                    returns_rows: returns_rows(
                        t.steps
                            .iter()
                            .find(|s| marked(s, t.bind))
                            .unwrap_or(&t.steps[0]),
                    ),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Roles and pins

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RunRole {
    /// The default role (Master), no scope.
    Master,
    /// A cluster whose default role is Auto, no scope.
    Auto,
    /// `with_replica`, writes refused.
    Replica,
    /// `with_replica` on a cluster with `WriteRouting::Master`.
    ReplicaToMaster,
}

impl RunRole {
    const ALL: [RunRole; 4] = [
        RunRole::Master,
        RunRole::Auto,
        RunRole::Replica,
        RunRole::ReplicaToMaster,
    ];

    fn name(self) -> &'static str {
        match self {
            RunRole::Master => "Master",
            RunRole::Auto => "Auto",
            RunRole::Replica => "Replica",
            RunRole::ReplicaToMaster => "Replica+WM",
        }
    }

    /// Runs `f` in this role; `nested` when an outer scope is active (the Diesel
    /// transaction pin), which the default roles must then override explicitly.
    fn run<R>(self, nested: bool, f: impl FnOnce() -> R) -> R {
        match self {
            RunRole::Master if nested => with_master(f),
            RunRole::Auto if nested => with_role(Role::Auto, f),
            RunRole::Master | RunRole::Auto => f(),
            RunRole::Replica | RunRole::ReplicaToMaster => with_replica(f),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Pin {
    None,
    PrevReplica,
    TempTable,
    RawTx,
    RawTxReplica,
    SetTx,
    DieselTx,
}

impl Pin {
    const ALL: [Pin; 7] = [
        Pin::None,
        Pin::PrevReplica,
        Pin::TempTable,
        Pin::RawTx,
        Pin::RawTxReplica,
        Pin::SetTx,
        Pin::DieselTx,
    ];

    fn name(self) -> &'static str {
        match self {
            Pin::None => "none",
            Pin::PrevReplica => "prev-replica",
            Pin::TempTable => "temp-table",
            Pin::RawTx => "BEGIN(role)",
            Pin::RawTxReplica => "BEGIN(replica)",
            Pin::SetTx => "SET TRANSACTION",
            Pin::DieselTx => "diesel-tx",
        }
    }
}

// ---------------------------------------------------------------------------------
// Running

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    Ok,
    /// An error from the library (`diesel-cluster: ...`, e.g. refused in replica role).
    Refused,
    /// An error from a server (syntax, privileges, read-only, missing table...).
    ServerError,
}

struct Execution {
    stmt: usize,
    role: RunRole,
    pin: Pin,
    outcome: Outcome,
    error: Option<String>,
}

/// (leaked, ran) for a group of executions.
type Tally = (usize, usize);

/// Accepts any result set: `load` only needs the statement to run.
struct AnyRow;

impl diesel::deserialize::QueryableByName<diesel::mysql::Mysql> for AnyRow {
    fn build<'a>(
        _row: &impl diesel::row::NamedRow<'a, diesel::mysql::Mysql>,
    ) -> diesel::deserialize::Result<Self> {
        Ok(AnyRow)
    }
}

#[derive(Clone, Copy)]
enum How {
    Text,
    Execute,
    Load,
}

fn exec_step(
    conn: &mut ClusterConnection,
    sql: &str,
    how: How,
    bind: Bind,
    marker: u64,
) -> QueryResult<()> {
    let lock = format!("ol_{marker}");
    let query = diesel::sql_query(sql);
    match (how, bind) {
        (How::Text, _) => conn.batch_execute(sql),
        (How::Execute, Bind::None) => query.execute(conn).map(drop),
        (How::Load, Bind::None) => query.load::<AnyRow>(conn).map(drop),
        (How::Execute, Bind::Marker) => query
            .bind::<Integer, _>(marker as i32)
            .execute(conn)
            .map(drop),
        (How::Load, Bind::Marker) => query
            .bind::<Integer, _>(marker as i32)
            .load::<AnyRow>(conn)
            .map(drop),
        (How::Execute, Bind::LockName) => query.bind::<Text, _>(lock).execute(conn).map(drop),
        (How::Load, Bind::LockName) => query.bind::<Text, _>(lock).load::<AnyRow>(conn).map(drop),
    }
}

/// Runs the statement's steps; the result is the first marked step's.
fn run_steps(conn: &mut ClusterConnection, stmt: &Stmt, marker: u64) -> QueryResult<()> {
    let m = marker.to_string();
    let mut first: Option<QueryResult<()>> = None;
    for step in &stmt.steps {
        let sql = step.replace("{N}", &m);
        if marked(step, stmt.bind) {
            let how = if stmt.text_only {
                How::Text
            } else if stmt.bind != Bind::None {
                if stmt.returns_rows && marker % 2 == 1 {
                    How::Load
                } else {
                    How::Execute
                }
            } else {
                match marker % 3 {
                    0 => How::Text,
                    2 if stmt.returns_rows => How::Load,
                    _ => How::Execute,
                }
            };
            let r = exec_step(conn, &sql, how, stmt.bind, marker);
            first.get_or_insert(r);
        } else if let Some(sql) = sql.strip_prefix("R:") {
            let _ = with_replica(|| conn.batch_execute(sql));
        } else {
            let _ = conn.batch_execute(&sql);
        }
    }
    first.unwrap_or(Ok(()))
}

fn run_one(
    conn: &mut ClusterConnection,
    role: RunRole,
    pin: Pin,
    stmt: &Stmt,
    marker: u64,
) -> QueryResult<()> {
    match pin {
        Pin::PrevReplica => {
            let _ = with_replica(|| diesel::sql_query("SELECT 1").execute(conn));
        }
        Pin::RawTx => {
            let _ = role.run(false, || conn.batch_execute("BEGIN"));
        }
        Pin::RawTxReplica => {
            let _ = with_replica(|| conn.batch_execute("BEGIN"));
        }
        Pin::SetTx => {
            let sql = if marker % 2 == 0 {
                "SET TRANSACTION READ ONLY"
            } else {
                "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
            };
            let _ = with_replica(|| conn.batch_execute(sql));
        }
        Pin::None | Pin::TempTable | Pin::DieselTx => {}
    }
    let result = if pin == Pin::DieselTx {
        let mut inner = None;
        let began = with_replica(|| {
            conn.transaction::<(), diesel::result::Error, _>(|c| {
                inner = Some(role.run(true, || run_steps(c, stmt, marker)));
                Err(diesel::result::Error::RollbackTransaction)
            })
        });
        match (inner, began) {
            (Some(r), _) => r,
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    } else {
        role.run(false, || run_steps(conn, stmt, marker))
    };
    match pin {
        Pin::RawTx => {
            let _ = role.run(false, || conn.batch_execute("ROLLBACK"));
        }
        Pin::RawTxReplica => {
            let _ = with_replica(|| conn.batch_execute("ROLLBACK"));
        }
        _ => {}
    }
    result
}

/// A connection for one chunk: the chunk's sql_mode set through the library, and the
/// temporary table `t` created in replica scope for the temp-table pin.
fn open(cluster: &Cluster, mode: Mode, pin: Pin) -> ClusterConnection {
    let mut conn = cluster.connect();
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    let set = format!("SET SESSION sql_mode = '{}'", mode.sql_mode());
    let _ = with_master(|| conn.batch_execute(&set));
    if pin == Pin::TempTable {
        let _ = with_replica(|| conn.batch_execute("CREATE TEMPORARY TABLE t (id INT)"));
    }
    conn
}

// ---------------------------------------------------------------------------------
// The oracle: the replicas' own record

/// Every node: the master's log shows whether a statement refused in replica role
/// reached a server at all.
const NODES: [&str; 3] = ["master", "replica1", "replica2"];

#[derive(QueryableByName)]
struct LogRow {
    #[diesel(sql_type = Text)]
    command_type: String,
    #[diesel(sql_type = Text)]
    argument: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The application accounts' `USER_STATISTICS` on one replica, next to what the
/// general log explains of them.
#[derive(QueryableByName, Debug)]
struct Stats {
    #[diesel(sql_type = BigInt)]
    rows_inserted: i64,
    #[diesel(sql_type = BigInt)]
    rows_updated_or_deleted: i64,
    #[diesel(sql_type = BigInt)]
    update_commands: i64,
    #[diesel(sql_type = BigInt)]
    binlog_bytes: i64,
    /// Rows the application's sessions added to `mysql.general_log`: each counts as a
    /// row inserted by that session.
    #[diesel(sql_type = BigInt)]
    log_rows: i64,
    /// `CREATE TEMPORARY TABLE` and `DROP TEMPORARY TABLE` statements of the
    /// application: each counts as an update command.
    #[diesel(sql_type = BigInt)]
    temp_ddl: i64,
}

impl Stats {
    /// Whatever the log does not explain: rows or commands that changed something.
    fn unexplained(&self) -> Option<String> {
        let ok = self.rows_inserted == self.log_rows
            && self.rows_updated_or_deleted == 0
            && self.update_commands == self.temp_ddl
            && self.binlog_bytes == 0;
        (!ok).then(|| format!("{self:?}"))
    }
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

/// Every node's general log (to a table) and the replicas' user statistics, on for the
/// lifetime of this value and emptied when it starts; switched off again on drop.
struct Oracle {
    c: &'static TestCluster,
    /// An admin connection to each node, master first (not an application account, so
    /// its own statements are not counted).
    admins: Vec<(&'static str, MysqlConnection)>,
}

impl Oracle {
    fn start(c: &'static TestCluster) -> Oracle {
        for r in NODES {
            // `TRUNCATE` of the log table is binlogged: without `sql_log_bin = 0` it
            // would give a replica an errant GTID and stop replication (and the
            // master's would empty the replicas' logs).
            c.sql(
                r,
                "SET SESSION sql_log_bin = 0; SET GLOBAL log_output = 'TABLE'; \
                 SET GLOBAL general_log = 0; TRUNCATE TABLE mysql.general_log; \
                 SET GLOBAL userstat = 1; FLUSH USER_STATISTICS; SET GLOBAL general_log = 1",
            );
        }
        let admins = NODES
            .iter()
            .map(|&r| {
                let url = c
                    .admin_url
                    .replace(&format!(":{}/", c.master_port), &format!(":{}/", c.port(r)));
                let conn = MysqlConnection::establish(&url)
                    .unwrap_or_else(|e| panic!("admin connection to {r}: {e}"));
                (r, conn)
            })
            .collect();
        Oracle { c, admins }
    }

    /// Application statements each node logged: (node, row).
    fn log_rows(&mut self) -> Vec<(&'static str, LogRow)> {
        let mut out = Vec::new();
        for (r, conn) in &mut self.admins {
            let rows: Vec<LogRow> = diesel::sql_query(
                "SELECT command_type, \
                 CAST(argument AS CHAR) AS argument FROM mysql.general_log \
                 WHERE user_host LIKE 'app%' AND command_type IN ('Query', 'Execute', 'Prepare')",
            )
            .load(conn)
            .unwrap_or_else(|e| panic!("reading {r}'s general log: {e}"));
            out.extend(rows.into_iter().map(|row| (*r, row)));
        }
        out
    }

    /// Named locks `ol_<marker>` held on a replica now: (replica, lock name).
    fn held_locks(&mut self, markers: &[u64]) -> Vec<(&'static str, String)> {
        if markers.is_empty() {
            return Vec::new();
        }
        let names = markers
            .iter()
            .map(|m| format!("SELECT 'ol_{m}' AS name"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "SELECT CAST(name AS CHAR) AS name FROM ({names}) l WHERE IS_USED_LOCK(name) IS NOT NULL"
        );
        let mut out = Vec::new();
        for (r, conn) in self.admins.iter_mut().skip(1) {
            let held: Vec<Name> = diesel::sql_query(&sql)
                .load(conn)
                .unwrap_or_else(|e| panic!("checking locks on {r}: {e}"));
            out.extend(held.into_iter().map(|n| (*r, n.name)));
        }
        out
    }

    /// Per replica: rows the application accounts changed, their update commands and
    /// the binlog bytes they wrote, since the oracle started.
    fn app_changes(&mut self) -> Vec<(&'static str, Stats)> {
        let mut out = Vec::new();
        for (r, conn) in self.admins.iter_mut().skip(1) {
            let s: Stats = diesel::sql_query(
                "SELECT CAST(COALESCE(SUM(ROWS_INSERTED), 0) AS SIGNED) AS rows_inserted, \
                 CAST(COALESCE(SUM(ROWS_UPDATED + ROWS_DELETED), 0) AS SIGNED) AS rows_updated_or_deleted, \
                 CAST(COALESCE(SUM(UPDATE_COMMANDS), 0) AS SIGNED) AS update_commands, \
                 CAST(COALESCE(SUM(BINLOG_BYTES_WRITTEN), 0) AS SIGNED) AS binlog_bytes, \
                 (SELECT COUNT(*) FROM mysql.general_log WHERE user_host LIKE 'app%') AS log_rows, \
                 (SELECT COUNT(*) FROM mysql.general_log WHERE user_host LIKE 'app%' \
                    AND command_type = 'Query' AND (argument LIKE 'CREATE TEMPORARY TABLE%' \
                    OR argument LIKE 'DROP TEMPORARY TABLE%')) AS temp_ddl \
                 FROM information_schema.USER_STATISTICS WHERE USER LIKE 'app%'",
            )
            .get_result(conn)
            .unwrap_or_else(|e| panic!("reading {r}'s user statistics: {e}"));
            out.push((*r, s));
        }
        out
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        for r in NODES {
            if let Err(e) = self
                .c
                .try_sql(r, "SET GLOBAL general_log = 0; SET GLOBAL userstat = 0")
            {
                eprintln!("could not switch {r}'s general log off: {e}");
            }
        }
    }
}

/// The markers in a log row's text: 8-digit numbers in `range`.
fn markers_in(text: &str, range: std::ops::Range<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 8 {
                if let Ok(n) = text[start..i].parse::<u64>() {
                    if range.contains(&n) {
                        out.push(n);
                    }
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Tables, a sequence and stored programs the corpus uses, made on the master by an
/// admin and replicated. Stored programs are `SQL SECURITY INVOKER`: run by the
/// application account on a read-only replica they fail instead of writing with the
/// definer's privileges (which would give the replica an errant GTID).
fn create_schema(c: &TestCluster) {
    let mut admin = MysqlConnection::establish(&c.admin_url).expect("admin connection");
    let version: Value = diesel::sql_query("SELECT VERSION() AS v")
        .get_result(&mut admin)
        .expect("server version");
    let version = version.v.unwrap_or_default();
    assert!(
        version.starts_with("10.11."),
        "the version-comment labels are written for MariaDB 10.11, this is {version}"
    );
    for sql in [
        "DROP TABLE IF EXISTS oracle_t, oracle_u, oracle_ddl",
        "DROP VIEW IF EXISTS oracle_v",
        "DROP SEQUENCE IF EXISTS oracle_seq",
        "DROP SEQUENCE IF EXISTS oracle_seq2",
        "DROP PROCEDURE IF EXISTS oracle_proc",
        "DROP PROCEDURE IF EXISTS oracle_lockproc",
        "DROP FUNCTION IF EXISTS oracle_fn",
        "CREATE TABLE oracle_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, x BIGINT, note VARCHAR(64))",
        "CREATE TABLE oracle_u (id BIGINT AUTO_INCREMENT PRIMARY KEY, x BIGINT)",
        "INSERT INTO oracle_u (x) VALUES (1), (2)",
        "CREATE TABLE oracle_ddl (id INT)",
        "CREATE SEQUENCE oracle_seq NOCACHE",
        "CREATE SEQUENCE oracle_seq2 NOCACHE",
        "CREATE PROCEDURE oracle_proc(n BIGINT) SQL SECURITY INVOKER \
         INSERT INTO oracle_t (x) VALUES (n)",
        "CREATE PROCEDURE oracle_lockproc(n BIGINT) SQL SECURITY INVOKER \
         DO GET_LOCK(CONCAT('ol_', n), 0)",
        "CREATE FUNCTION oracle_fn(n BIGINT) RETURNS BIGINT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY INVOKER \
         BEGIN INSERT INTO oracle_t (x) VALUES (n); RETURN 1; END",
    ] {
        admin
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    c.sync();
}

/// Per node, the state the corpus may change: checksums and sequence positions.
fn data_state(c: &TestCluster, node: &str) -> String {
    c.sql(
        node,
        "SELECT CONCAT_WS(' ', \
           (SELECT next_not_cached_value FROM app.oracle_seq), \
           (SELECT next_not_cached_value FROM app.oracle_seq2)); \
         CHECKSUM TABLE app.oracle_t, app.oracle_u, app.oracle_ddl; \
         SELECT @@gtid_binlog_pos",
    )
}

// ---------------------------------------------------------------------------------
// The tests

/// The oracle itself works: a lock taken on a read-only replica by a raw application
/// connection shows up in the general log (text and prepared) and in the lock check.
#[test]
fn oracle_sees_what_runs_on_a_replica() {
    let _g = common::exclusive("oracle");
    let c = cluster();
    let mut oracle = Oracle::start(c);
    let (text_marker, prepared_marker, absent) = (
        MARKER_BASE + 9_990_001,
        MARKER_BASE + 9_990_002,
        MARKER_BASE + 9_990_003,
    );
    let mut raw = MysqlConnection::establish(&c.replica1_url).expect("replica1");
    raw.batch_execute(&format!("SELECT GET_LOCK('ol_{text_marker}', 0)"))
        .expect("GET_LOCK on a read-only replica");
    diesel::sql_query(format!("SELECT GET_LOCK('ol_{prepared_marker}', 0)"))
        .execute(&mut raw)
        .expect("prepared GET_LOCK on a read-only replica");
    let held = oracle.held_locks(&[text_marker, prepared_marker, absent]);
    assert_eq!(
        held,
        vec![
            ("replica1", format!("ol_{text_marker}")),
            ("replica1", format!("ol_{prepared_marker}")),
        ]
    );
    drop(raw);
    let range = MARKER_BASE..MARKER_BASE + 10_000_000;
    let found: Vec<(&str, String, u64)> = oracle
        .log_rows()
        .into_iter()
        .flat_map(|(r, row)| {
            markers_in(&row.argument, range.clone())
                .into_iter()
                .map(move |m| (r, row.command_type.clone(), m))
        })
        .collect();
    assert!(
        found.contains(&("replica1", "Query".to_string(), text_marker)),
        "{found:?}"
    );
    assert!(
        found.contains(&("replica1", "Execute".to_string(), prepared_marker)),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.2 == absent), "{found:?}");
    assert!(!found.iter().any(|f| f.0 == "replica2"), "{found:?}");
}

/// The generator keeps its promises (no server needed): size, markers, every mode and
/// variant used, labels that depend on the sql_mode, and the lexical helpers.
#[test]
fn corpus_is_well_formed() {
    let corpus = corpus();
    assert!(corpus.len() >= 500, "{}", corpus.len());
    for s in &corpus {
        assert!(
            s.steps.iter().any(|st| marked(st, s.bind)),
            "no marker in {:?}",
            s.steps
        );
    }
    let mut modes: HashMap<&str, Vec<Mode>> = HashMap::new();
    for s in &corpus {
        modes.entry(s.class).or_default().push(s.mode);
    }
    for (class, ms) in &modes {
        for m in Mode::ALL {
            assert!(ms.contains(&m), "{class} never runs under {m:?}");
        }
    }
    for v in variants() {
        assert!(
            corpus.iter().any(|s| s.variant == v.name),
            "variant {} unused",
            v.name
        );
    }
    let unsafe_n = corpus.iter().filter(|s| s.label == Label::Unsafe).count();
    assert!(unsafe_n >= 500, "{unsafe_n} unsafe statements");
    eprintln!(
        "corpus: {} statements, {unsafe_n} unsafe-labelled",
        corpus.len()
    );
    let label = |template: &str, mode: Mode| {
        corpus
            .iter()
            .find(|s| s.template == template && s.mode == mode)
            .map(|s| s.label)
    };
    let t = r"SELECT 'a\'' AS q, GET_LOCK('ol_{N}', 0) AS l";
    assert_eq!(label(t, Mode::Default), Some(Label::Unsafe));
    assert_eq!(label(t, Mode::NoBackslash), Some(Label::Read));
    let t = r#"SELECT "a\"; DELETE FROM oracle_t WHERE x = {N}; -- ""#;
    assert_eq!(label(t, Mode::Default), Some(Label::Read));
    assert_eq!(label(t, Mode::AnsiQuotes), Some(Label::Unsafe));
    assert_eq!(label(t, Mode::NoBackslash), Some(Label::Unsafe));
    assert_eq!(
        mixed_case("SELECT 'AB' FROM `AB` WHERE GET_LOCK(x) = {N}"),
        "sElEcT 'AB' fRoM `AB` wHeRe gEt_lOcK(x) = {N}"
    );
    let range = MARKER_BASE..MARKER_BASE + 10;
    assert_eq!(
        markers_in("x 170000001 70000001 7000000 'ol_70000002'", range),
        vec![70_000_001, 70_000_002]
    );
}

/// The safety rule, judged by the replicas' general logs: see the module docs.
#[test]
fn no_side_effect_ever_runs_on_a_replica() {
    let _g = common::exclusive("oracle");
    let started = Instant::now();
    let c = cluster();
    create_schema(c);
    let corpus = corpus();
    let built = |b: diesel_cluster::Builder| {
        b.url(&c.cluster_url)
            .monitor_interval(None)
            .build()
            .expect("cluster")
    };
    let plain = built(Cluster::builder());
    let auto = built(Cluster::builder().default_role(Role::Auto));
    let to_master = built(Cluster::builder().writes_in_replica_role(WriteRouting::Master));

    let runs_per_cell = std::env::var("ORACLE_RUNS_PER_CELL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS_PER_CELL);
    // The schedule: for each (base template, role, pin) cell, `runs_per_cell` of the
    // template's corpus statements, rotating.
    let mut by_base: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in corpus.iter().enumerate() {
        by_base.entry(s.base).or_default().push(i);
    }
    let mut plan: BTreeMap<(RunRole, Pin, Mode), Vec<usize>> = BTreeMap::new();
    for (ri, role) in RunRole::ALL.into_iter().enumerate() {
        for (pi, pin) in Pin::ALL.into_iter().enumerate() {
            for (b, stmts) in &by_base {
                for k in 0..runs_per_cell {
                    let i = stmts[(pi + 2 * ri + 3 * k + b) % stmts.len()];
                    plan.entry((role, pin, corpus[i].mode)).or_default().push(i);
                }
            }
        }
    }

    let mut oracle = Oracle::start(c);
    let before: Vec<String> = ["master", "replica1", "replica2"]
        .iter()
        .map(|n| data_state(c, n))
        .collect();
    let mut runs: Vec<Execution> = Vec::new();
    let mut held_locks: Vec<(&str, String)> = Vec::new();
    let mut connections = 0;
    let mut poisoned_reopens = 0;
    let run_started = Instant::now();
    for ((role, pin, mode), stmts) in &plan {
        let cluster = match role {
            RunRole::Master | RunRole::Replica => &plain,
            RunRole::Auto => &auto,
            RunRole::ReplicaToMaster => &to_master,
        };
        for chunk in stmts.chunks(CHUNK) {
            let mut conn = open(cluster, *mode, *pin);
            connections += 1;
            let mut markers = Vec::new();
            for &i in chunk {
                let marker = MARKER_BASE + runs.len() as u64;
                markers.push(marker);
                let result = run_one(&mut conn, *role, *pin, &corpus[i], marker);
                let (outcome, error) = match result {
                    Ok(()) => (Outcome::Ok, None),
                    Err(e) => {
                        let msg = e.to_string();
                        let o = if msg.contains("diesel-cluster") {
                            Outcome::Refused
                        } else {
                            Outcome::ServerError
                        };
                        (o, Some(msg))
                    }
                };
                // A session statement some node could not take (today: `SET @v = ?`
                // replayed as text without its bind) stays in the connection's history
                // and fails its later statements too: start afresh so that one
                // statement doesn't hide the next ones from the oracle.
                let poisoned = error
                    .as_deref()
                    .is_some_and(|e| e.contains("could not apply session statement"));
                poisoned_reopens += usize::from(poisoned);
                runs.push(Execution {
                    stmt: i,
                    role: *role,
                    pin: *pin,
                    outcome,
                    error,
                });
                if poisoned || conn.is_broken() {
                    held_locks.extend(oracle.held_locks(&markers));
                    markers.clear();
                    conn = open(cluster, *mode, *pin);
                    connections += 1;
                }
            }
            held_locks.extend(oracle.held_locks(&markers));
        }
    }
    let run_time = run_started.elapsed();
    drop((plain, auto, to_master));

    // What the replicas recorded.
    let range = MARKER_BASE..MARKER_BASE + runs.len() as u64;
    let (master_log, log): (Vec<_>, Vec<_>) = oracle
        .log_rows()
        .into_iter()
        .partition(|(node, _)| *node == "master");
    // Replica role with writes refused: an unsafe statement must be refused before
    // reaching any server, so none may show up in the master's log either.
    let mut reached_master: BTreeMap<usize, String> = BTreeMap::new();
    for (_, row) in &master_log {
        if row.command_type == "Prepare" {
            continue;
        }
        for m in markers_in(&row.argument, range.clone()) {
            let e = (m - MARKER_BASE) as usize;
            if runs[e].role == RunRole::Replica && corpus[runs[e].stmt].label == Label::Unsafe {
                reached_master.insert(e, row.argument.clone());
            }
        }
    }
    let mut leaks: Vec<(&str, usize, String)> = Vec::new();
    let mut seen: HashMap<(RunRole, Label), usize> = HashMap::new();
    let mut pin_evidence: BTreeMap<&str, usize> = BTreeMap::new();
    let mut prepared_only: std::collections::HashSet<usize> = Default::default();
    for (replica, row) in &log {
        if row.command_type != "Prepare" {
            for pin in [
                "CREATE TEMPORARY TABLE t (id INT)",
                "BEGIN",
                "SET TRANSACTION READ ONLY",
                "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SELECT 1",
            ] {
                if row.argument == pin {
                    *pin_evidence.entry(pin).or_default() += 1;
                }
            }
        }
        let mut ms = markers_in(&row.argument, range.clone());
        ms.dedup();
        for m in ms {
            let e = (m - MARKER_BASE) as usize;
            let label = corpus[runs[e].stmt].label;
            if row.command_type == "Prepare" {
                // Prepared there; it ran there only if an `Execute` row follows.
                if label == Label::Unsafe {
                    prepared_only.insert(e);
                }
                continue;
            }
            *seen.entry((runs[e].role, label)).or_default() += 1;
            if label == Label::Unsafe {
                leaks.push((replica, e, row.argument.clone()));
            }
        }
    }
    for (_, e, _) in &leaks {
        prepared_only.remove(e);
    }
    let changes = oracle.app_changes();
    drop(oracle);
    c.sync();
    let after: Vec<String> = ["master", "replica1", "replica2"]
        .iter()
        .map(|n| data_state(c, n))
        .collect();

    // The report.
    let mut report = String::new();
    let unsafe_runs = runs
        .iter()
        .filter(|r| corpus[r.stmt].label == Label::Unsafe)
        .count();
    writeln!(
        report,
        "corpus: {} statements from {} templates; {} executions ({} unsafe-labelled) on {} connections ({} reopened after a session statement a node refused) in {:.1?}; {} replica log rows",
        corpus.len(),
        by_base.len(),
        runs.len(),
        unsafe_runs,
        connections,
        poisoned_reopens,
        run_time,
        log.len()
    )
    .unwrap();
    writeln!(
        report,
        "\n{:<11} {:<16} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "role", "pin", "runs", "ok", "refused", "srv-err", "unsafe", "LEAKED", "reads@r"
    )
    .unwrap();
    let mut leaked_runs: HashMap<usize, Vec<&str>> = HashMap::new();
    for (replica, e, _) in &leaks {
        leaked_runs.entry(*e).or_default().push(replica);
    }
    let mut read_runs_on_replicas: HashMap<usize, bool> = HashMap::new();
    for (_, row) in &log {
        for m in markers_in(&row.argument, range.clone()) {
            read_runs_on_replicas.insert((m - MARKER_BASE) as usize, true);
        }
    }
    for role in RunRole::ALL {
        for pin in Pin::ALL {
            let cell: Vec<(usize, &Execution)> = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.role == role && r.pin == pin)
                .collect();
            let count = |o: Outcome| cell.iter().filter(|(_, r)| r.outcome == o).count();
            let unsafe_n = cell
                .iter()
                .filter(|(_, r)| corpus[r.stmt].label == Label::Unsafe)
                .count();
            let leaked = cell
                .iter()
                .filter(|(e, _)| leaked_runs.contains_key(e))
                .count();
            let reads = cell
                .iter()
                .filter(|(e, r)| {
                    corpus[r.stmt].label == Label::Read && read_runs_on_replicas.contains_key(e)
                })
                .count();
            writeln!(
                report,
                "{:<11} {:<16} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7} {:>8}",
                role.name(),
                pin.name(),
                cell.len(),
                count(Outcome::Ok),
                count(Outcome::Refused),
                count(Outcome::ServerError),
                unsafe_n,
                leaked,
                reads
            )
            .unwrap();
        }
    }
    writeln!(report, "\nlog rows seen on replicas, by role and label:").unwrap();
    for role in RunRole::ALL {
        writeln!(
            report,
            "  {:<11} read {:>5}  master-only read {:>4}  unsafe {:>4}",
            role.name(),
            seen.get(&(role, Label::Read)).unwrap_or(&0),
            seen.get(&(role, Label::MasterRead)).unwrap_or(&0),
            seen.get(&(role, Label::Unsafe)).unwrap_or(&0),
        )
        .unwrap();
    }
    writeln!(
        report,
        "pin set-up statements seen on replicas: {pin_evidence:?}"
    )
    .unwrap();
    writeln!(
        report,
        "unsafe statements only prepared on a replica (Diesel's `load` of a statement without a result set fails before executing): {}",
        prepared_only.len()
    )
    .unwrap();

    // Leaks by class, role and pin; then by template.
    let mut by_class: BTreeMap<&str, BTreeMap<(RunRole, Pin), Tally>> = BTreeMap::new();
    for (e, r) in runs.iter().enumerate() {
        let s = &corpus[r.stmt];
        if s.label != Label::Unsafe {
            continue;
        }
        let cell = by_class
            .entry(s.class)
            .or_default()
            .entry((r.role, r.pin))
            .or_default();
        cell.1 += 1;
        if leaked_runs.contains_key(&e) {
            cell.0 += 1;
        }
    }
    writeln!(
        report,
        "\nunsafe statements that reached a replica, leaked/ran, per class (rows: role; columns: pins {})",
        Pin::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    )
    .unwrap();
    for (class, cells) in &by_class {
        let total: usize = cells.values().map(|c| c.0).sum();
        let ran: usize = cells.values().map(|c| c.1).sum();
        writeln!(report, "  {class}: {total}/{ran}").unwrap();
        if total == 0 {
            continue;
        }
        for role in RunRole::ALL {
            let row: Vec<String> = Pin::ALL
                .iter()
                .map(|&p| {
                    let (l, n) = cells.get(&(role, p)).copied().unwrap_or((0, 0));
                    format!("{l:>2}/{n:<2}")
                })
                .collect();
            writeln!(report, "    {:<11} {}", role.name(), row.join(" ")).unwrap();
        }
    }
    // Per template: leaked/ran in total and per role.
    let mut by_template: BTreeMap<usize, [Tally; 5]> = BTreeMap::new();
    for (e, r) in runs.iter().enumerate() {
        if corpus[r.stmt].label != Label::Unsafe {
            continue;
        }
        let t = by_template.entry(corpus[r.stmt].base).or_default();
        let ri = RunRole::ALL.iter().position(|&x| x == r.role).unwrap_or(0) + 1;
        for i in [0, ri] {
            t[i].1 += 1;
            if leaked_runs.contains_key(&e) {
                t[i].0 += 1;
            }
        }
    }
    let mut worst: Vec<(usize, [Tally; 5])> = by_template
        .iter()
        .filter(|(_, t)| t[0].0 > 0)
        .map(|(b, t)| (*b, *t))
        .collect();
    worst.sort_by(|a, b| {
        let (ca, cb) = (
            corpus[by_base[&a.0][0]].class,
            corpus[by_base[&b.0][0]].class,
        );
        ca.cmp(cb).then(b.1[0].0.cmp(&a.1[0].0)).then(a.0.cmp(&b.0))
    });
    writeln!(
        report,
        "\nleaking templates ({} of {} unsafe ones), leaked/ran: all, then Master Auto Replica Replica+WM:",
        worst.len(),
        by_template.len()
    )
    .unwrap();
    for (b, t) in &worst {
        let s = &corpus[by_base[b][0]];
        let per_role: Vec<String> = t[1..].iter().map(|(l, n)| format!("{l}/{n}")).collect();
        writeln!(
            report,
            "  {:>2}/{:<2} [{}] {:<40} [{}]",
            t[0].0,
            t[0].1,
            per_role.join(" "),
            s.class,
            s.template.replace('\n', "\\n")
        )
        .unwrap();
    }

    // Server-error rates per template on the master with no pin: a template that
    // never parses tests little.
    let mut never_ok: Vec<String> = Vec::new();
    for (b, stmts) in &by_base {
        let master_runs: Vec<&Execution> = runs
            .iter()
            .filter(|r| r.role == RunRole::Master && corpus[r.stmt].base == *b)
            .collect();
        if !master_runs.is_empty() && master_runs.iter().all(|r| r.outcome != Outcome::Ok) {
            let err = master_runs
                .iter()
                .find_map(|r| r.error.clone())
                .unwrap_or_default();
            never_ok.push(format!(
                "  [{}] {} -> {}",
                corpus[stmts[0]].class,
                corpus[stmts[0]].template.replace('\n', "\\n"),
                err.chars().take(100).collect::<String>()
            ));
        }
    }
    writeln!(
        report,
        "\ntemplates that never succeeded in Master role ({}; fine for DDL/privileges, informative otherwise):",
        never_ok.len()
    )
    .unwrap();
    for line in &never_ok {
        writeln!(report, "{line}").unwrap();
    }

    let mut by_class_master: BTreeMap<&str, BTreeMap<Pin, usize>> = BTreeMap::new();
    for e in reached_master.keys() {
        *by_class_master
            .entry(corpus[runs[*e].stmt].class)
            .or_default()
            .entry(runs[*e].pin)
            .or_default() += 1;
    }
    writeln!(
        report,
        "\nunsafe statements in Replica role (writes refused) that reached the master instead of being refused: {}",
        reached_master.len()
    )
    .unwrap();
    for (class, pins) in &by_class_master {
        writeln!(report, "  {class}: {pins:?}").unwrap();
    }
    let mut shown_classes = std::collections::HashSet::new();
    for (e, arg) in &reached_master {
        let s = &corpus[runs[*e].stmt];
        if shown_classes.insert((s.class, runs[*e].pin)) && shown_classes.len() <= 20 {
            writeln!(
                report,
                "    {} | {:?} | {} | master: {}",
                runs[*e].pin.name(),
                s.mode,
                s.class,
                arg.replace('\n', "\\n")
                    .chars()
                    .take(140)
                    .collect::<String>()
            )
            .unwrap();
        }
    }

    let mut failures: Vec<String> = Vec::new();
    if !reached_master.is_empty() {
        failures.push(format!(
            "{} unsafe statements in Replica role reached the master instead of being refused",
            reached_master.len()
        ));
    }
    if !leaks.is_empty() {
        writeln!(
            report,
            "\nfirst {} of {} unsafe log rows on replicas (role | pin | mode | variant | class | as logged):",
            leaks.len().min(SHOW_LEAKS),
            leaks.len()
        )
        .unwrap();
        // One example per (template, role, pin) first, so the list is varied.
        let mut shown = std::collections::HashSet::new();
        let mut picked: Vec<&(&str, usize, String)> = Vec::new();
        for l in &leaks {
            let r = &runs[l.1];
            if shown.insert((corpus[r.stmt].base, r.role, r.pin)) {
                picked.push(l);
            }
        }
        picked.sort_by_key(|l| (corpus[runs[l.1].stmt].base, runs[l.1].role, runs[l.1].pin));
        let step = (picked.len() / SHOW_LEAKS).max(1);
        for (replica, e, arg) in picked.iter().step_by(step).take(SHOW_LEAKS) {
            let r = &runs[*e];
            let s = &corpus[r.stmt];
            writeln!(
                report,
                "  {} | {} | {:?} | {} | {} | {replica}: {}",
                r.role.name(),
                r.pin.name(),
                s.mode,
                s.variant,
                s.class,
                arg.replace('\n', "\\n")
                    .chars()
                    .take(160)
                    .collect::<String>()
            )
            .unwrap();
        }
        failures.push(format!(
            "{} unsafe-labelled executions ({} log rows) reached a replica",
            leaked_runs.len(),
            leaks.len()
        ));
    }
    if !held_locks.is_empty() {
        failures.push(format!(
            "{} named locks were held on replicas, e.g. {:?}",
            held_locks.len(),
            &held_locks[..held_locks.len().min(5)]
        ));
    }
    for (r, s) in &changes {
        if let Some(what) = s.unexplained() {
            failures.push(format!(
                "the application changed something on {r} (user statistics): {what}"
            ));
        }
    }
    for (node, state) in ["replica1", "replica2"].iter().zip(&after[1..]) {
        if *state != after[0] {
            failures.push(format!(
                "{node}'s sequences, checksums or GTID position differ from the master's after sync: {state:?} vs {:?}",
                after[0]
            ));
        }
    }
    writeln!(
        report,
        "\nlocks held on replicas: {}; app changes on replicas: {:?}; data state before {:?}, after {:?}",
        held_locks.len(),
        changes,
        before,
        after
    )
    .unwrap();
    writeln!(report, "total time {:.1?}", started.elapsed()).unwrap();
    eprintln!("{report}");

    // The oracle must have seen traffic, or the absence of leaks proves nothing.
    let reads_seen: usize = RunRole::ALL
        .iter()
        .map(|r| seen.get(&(*r, Label::Read)).unwrap_or(&0))
        .sum();
    assert!(
        reads_seen > 100,
        "the replicas' logs show only {reads_seen} corpus reads: the oracle sees nothing"
    );
    assert!(corpus.len() >= 500, "corpus of {}", corpus.len());
    let mut ran = vec![false; corpus.len()];
    for r in &runs {
        ran[r.stmt] = true;
    }
    assert!(ran.iter().all(|&r| r), "a corpus statement never ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
