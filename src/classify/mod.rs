//! Allocation-free classification of MySQL/MariaDB statement text, for routing.
//!
//! The router has to decide, for every statement, whether a read replica may run it.
//! Parsing SQL properly would be slow and would need the server's grammar, so this is a
//! byte lexer that skips whitespace, comments and quoted text and yields keyword-ish
//! tokens. A statement's *head* (its first keyword or two, looked at with a little
//! lookahead) gives its kind; its *tail* is then scanned, in one pass over the bytes,
//! only for the handful of things that change where it must run: locking clauses,
//! `INTO`, stateful functions followed by `(`, `@var :=`, `@@` variables, and the `;`
//! that ends it.
//!
//! Everything works on bytes, so no input can make it panic, and nothing allocates.
//! Keywords are found with a compile-time hash table and the tail scan skips backticked
//! identifiers eight bytes at a time: a Diesel `SELECT` costs about 0.8 ns per byte on a
//! modest server core (70 ns for an 81-byte one).
//!
//! The text is read in the server's default lexical modes. Where another reading could
//! differ (a backslash in a string: `NO_BACKSLASH_ESCAPES`; a `"`: `ANSI_QUOTES`; a
//! versioned comment newer than MariaDB 10.0: an older server skips it), the text is
//! classified again in each such reading, and [`Flags::UNCERTAIN`] says when one splits
//! or classifies it differently. Text without those bytes (Diesel's) is read once.
//!
//! Known, deliberate limitations (all resolve towards "send it to the master" or are
//! irrelevant for the SQL Diesel generates):
//! - the kind and flags are the default reading's; other readings only add
//!   [`Flags::UNCERTAIN`] (the router sends uncertain text to the master). Text with
//!   more than eight distinct comment versions is uncertain outright;
//! - versioned comments up to version 100000 (five-digit MySQL ones included) count as
//!   SQL: every supported server runs them;
//! - a `;` inside an executable comment still splits statements;
//! - a call of a function the server doesn't ship (a stored function or a UDF: any
//!   name followed by `(` outside the native and syntax tables of
//!   `classify/functions.rs`, generated from MariaDB 10.11.19, and any qualified
//!   `db.f(`) sets [`Flags::CALLS_UNKNOWN_FUNCTION`]: its body can't be seen. A native
//!   name counts as native even with whitespace before its `(` (`COUNT (*)` calls a
//!   stored `count` without `IGNORE_SPACE`), and a fixed-arity one at any argument
//!   count; `JSON_TABLE`, `COLUMNS` and `AGAINST` count as syntax (a stored function of
//!   that name goes unseen). A name right after `INTO`, `TABLE`, `KEY`, `INDEX`,
//!   `UNIQUE`, `REFERENCES`, `EXISTS` or an `INSERT`/`REPLACE` head, and a CTE's name,
//!   is a table's with its column list; in DDL an index's `ON t (a)` counts as a call;
//! - a compound statement (`BEGIN NOT ATOMIC`, `IF`, `CASE`, `LOOP`, `WHILE`, `REPEAT`,
//!   `FOR`, `DECLARE`, `label: ...`) is [`Kind::Other`] and takes the rest of the text
//!   as its body: a statement after its `END;` is not classified on its own (its flags
//!   still count);
//! - a built-in function's name followed by `(` counts as its call even with
//!   whitespace or comments between (the server needs `IGNORE_SPACE` for that), and
//!   backticked (`` `get_lock`( ``) too; `db.get_lock(` (a stored function) does not;
//! - [`table_refs`] may take a local variable of `SELECT .. INTO x` or the database of
//!   `SHOW TABLES FROM db` for a table, and lists `DELETE t1 FROM t AS t1`'s alias:
//!   more names, never fewer.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

mod bytes;
mod functions;
mod head;
mod keywords;
mod lexer;
mod readings;
pub(crate) mod set;
mod tables;
mod tail;
#[cfg(test)]
mod tests;

use head::classify_one;
use keywords::Kw;
use lexer::{Lexer, Reading, Tk};
use readings::{classify_in, readings_differ};
#[cfg(test)]
pub(crate) use tables::{is_reserved_word, refers_to_table};
pub(crate) use tables::{table_refs, write_targets};

/// What a statement is, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A plain read: `SELECT` (also `WITH ... SELECT`, parenthesised, `UNION`s, without
    /// `FROM`), `TABLE t`, `VALUES (...)`.
    Select,
    /// `SELECT ... FOR UPDATE` / `FOR SHARE` / `LOCK IN SHARE MODE`.
    LockingRead,
    /// `SELECT ... INTO @var | OUTFILE | DUMPFILE`.
    SelectInto,
    /// `INSERT` (also `INSERT ... SELECT`).
    Insert,
    /// `REPLACE` as a statement (not the string function).
    Replace,
    /// `UPDATE` (also `WITH ... UPDATE`).
    Update,
    /// `DELETE` (also `WITH ... DELETE`).
    Delete,
    /// `LOAD DATA` / `LOAD XML`.
    LoadData,
    /// Schema and administration: `CREATE`/`ALTER`/`DROP` (not temporary tables),
    /// `TRUNCATE`, `RENAME`, `GRANT`, `REVOKE`, `ANALYZE`/`OPTIMIZE`/`REPAIR TABLE`,
    /// `FLUSH`, `RESET`, `PURGE`, `INSTALL`/`UNINSTALL`, `IMPORT`.
    Ddl,
    /// `CREATE [OR REPLACE] TEMPORARY TABLE|SEQUENCE`.
    CreateTemporaryTable,
    /// `DROP TEMPORARY TABLE|TABLES|SEQUENCE`.
    DropTemporaryTable,
    /// `LOCK TABLE[S]`.
    LockTables,
    /// `UNLOCK TABLE[S]`.
    UnlockTables,
    /// `CALL proc(...)`.
    Call,
    /// `DO expr`.
    Do,
    /// A session variable or user variable assignment: `SET [SESSION|LOCAL] var = ..`,
    /// `SET @@[session.|local.]var`, `SET NAMES`, `SET CHARACTER SET`, `SET @x := ..`.
    SetSession,
    /// `SET [SESSION] TRANSACTION ...`: characteristics of the next transaction(s).
    SetTransaction,
    /// `SET GLOBAL|PERSIST ..`, `SET @@global.`, `SET PASSWORD`, `SET [DEFAULT] ROLE`.
    SetGlobal,
    /// `SET [SESSION] autocommit = ..`; the value is in [`Flags::AUTOCOMMIT_OFF`] /
    /// [`Flags::AUTOCOMMIT_ON`] (neither when it isn't a literal).
    SetAutocommit,
    /// `USE db`.
    Use,
    /// `SHOW ...` (`SHOW WARNINGS`/`ERRORS` also set [`Flags::READS_PREVIOUS_STATE`]).
    Show,
    /// `EXPLAIN` / `DESCRIBE` / `DESC`, of anything: the explained statement doesn't run.
    /// (`EXPLAIN ANALYZE stmt` and MariaDB's `ANALYZE stmt` do run it: they classify as
    /// the inner statement, `Explain` only when that is a plain `Select`.)
    Explain,
    /// `BEGIN [WORK]`, `START TRANSACTION [...]`.
    Begin,
    /// `COMMIT [WORK] [...]`.
    Commit,
    /// `ROLLBACK [WORK] [...]` (not `TO SAVEPOINT`).
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint,
    /// `RELEASE SAVEPOINT name`.
    ReleaseSavepoint,
    /// `ROLLBACK [WORK] TO [SAVEPOINT] name`.
    RollbackToSavepoint,
    /// `XA START|END|PREPARE|COMMIT|ROLLBACK|RECOVER ...`.
    Xa,
    /// `GET [CURRENT|STACKED] DIAGNOSTICS`.
    GetDiagnostics,
    /// `HANDLER tbl OPEN|READ|CLOSE`.
    Handler,
    /// `PREPARE stmt FROM ...`.
    Prepare,
    /// `EXECUTE stmt [USING ...]`, `EXECUTE IMMEDIATE ...`.
    Execute,
    /// `DEALLOCATE PREPARE` / `DROP PREPARE`.
    Deallocate,
    /// `KILL [QUERY|CONNECTION] id`.
    Kill,
    /// Anything not recognised (also malformed input): the router sends it to the master.
    Other,
    /// Nothing but whitespace, comments and semicolons.
    Empty,
}

impl Kind {
    /// Whether a read-only replica must not run this statement: it changes data, the
    /// schema, global state, or we can't tell.
    ///
    /// Decisions worth knowing (the router handles the "run on the master anyway" cases
    /// through the kind itself, not through this):
    /// - `LockingRead`: false. A replica could run it, it's a read; routing still sends
    ///   it to the master because the locks only mean something there.
    /// - `SelectInto`: true, for `@var` as for files: conservative.
    /// - `CreateTemporaryTable` / `DropTemporaryTable`: false. `read_only` servers accept
    ///   them and they touch no replicated data; the router pins the session instead.
    /// - `Do`, `Handler`, `GetDiagnostics`, `UnlockTables`: false (no data change).
    /// - `Call`, `Execute`: true: the body is opaque, so conservative.
    /// - `Prepare`, `Deallocate`: false: preparing changes no data (the `EXECUTE` is what
    ///   gets judged).
    /// - `Kill`, `Xa`, `SetGlobal`, `LockTables`: true (server-wide or master-only effect).
    /// - `Other`: true: unknown, so conservative.
    pub(crate) fn is_write(self) -> bool {
        matches!(
            self,
            Kind::Insert
                | Kind::Replace
                | Kind::Update
                | Kind::Delete
                | Kind::LoadData
                | Kind::Ddl
                | Kind::LockTables
                | Kind::SelectInto
                | Kind::Call
                | Kind::Execute
                | Kind::Xa
                | Kind::SetGlobal
                | Kind::Kill
                | Kind::Other
        )
    }

    /// A short human name, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Select => "SELECT",
            Kind::LockingRead => "SELECT ... FOR UPDATE/SHARE (locking read)",
            Kind::SelectInto => "SELECT ... INTO",
            Kind::Insert => "INSERT",
            Kind::Replace => "REPLACE",
            Kind::Update => "UPDATE",
            Kind::Delete => "DELETE",
            Kind::LoadData => "LOAD DATA",
            Kind::Ddl => "CREATE/ALTER/DROP (DDL)",
            Kind::CreateTemporaryTable => "CREATE TEMPORARY TABLE",
            Kind::DropTemporaryTable => "DROP TEMPORARY TABLE",
            Kind::LockTables => "LOCK TABLES",
            Kind::UnlockTables => "UNLOCK TABLES",
            Kind::Call => "CALL",
            Kind::Do => "DO",
            Kind::SetSession => "SET (session variable)",
            Kind::SetTransaction => "SET TRANSACTION",
            Kind::SetGlobal => "SET GLOBAL",
            Kind::SetAutocommit => "SET autocommit",
            Kind::Use => "USE",
            Kind::Show => "SHOW",
            Kind::Explain => "EXPLAIN",
            Kind::Begin => "BEGIN",
            Kind::Commit => "COMMIT",
            Kind::Rollback => "ROLLBACK",
            Kind::Savepoint => "SAVEPOINT",
            Kind::ReleaseSavepoint => "RELEASE SAVEPOINT",
            Kind::RollbackToSavepoint => "ROLLBACK TO SAVEPOINT",
            Kind::Xa => "XA",
            Kind::GetDiagnostics => "GET DIAGNOSTICS",
            Kind::Handler => "HANDLER",
            Kind::Prepare => "PREPARE",
            Kind::Execute => "EXECUTE",
            Kind::Deallocate => "DEALLOCATE PREPARE",
            Kind::Kill => "KILL",
            Kind::Other => "unrecognised statement",
            Kind::Empty => "empty statement",
        }
    }

    /// Precedence in a batch; the first statement of the highest rank gives the batch's
    /// kind. Writes beat everything; then statements that change session or transaction
    /// state (a batch mixing `SET` and `SELECT` must not look like a plain read, or the
    /// `SET` would run on a replica connection only); then locking reads; then reads.
    fn rank(self) -> u8 {
        match self {
            Kind::Empty => 0,
            k if k.is_write() => 4,
            Kind::SetSession
            | Kind::SetTransaction
            | Kind::SetAutocommit
            | Kind::Use
            | Kind::Begin
            | Kind::Commit
            | Kind::Rollback
            | Kind::Savepoint
            | Kind::ReleaseSavepoint
            | Kind::RollbackToSavepoint
            | Kind::UnlockTables
            | Kind::CreateTemporaryTable
            | Kind::DropTemporaryTable
            | Kind::Prepare
            | Kind::Deallocate => 3,
            Kind::LockingRead => 2,
            _ => 1,
        }
    }
}

/// Bit flags for things found inside a statement that change where it must run.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Flags(u16);

impl Flags {
    /// No flag.
    pub(crate) const NONE: Flags = Flags(0);
    /// Reads the session's previous statement's outcome (other than the insert id and the
    /// found rows): `ROW_COUNT()`, `SHOW WARNINGS|ERRORS`, `SHOW COUNT(*) WARNINGS|ERRORS`,
    /// `SHOW PROFILE[S]`, `GET DIAGNOSTICS`, `@@warning_count`, `@@error_count`.
    pub(crate) const READS_PREVIOUS_STATE: Flags = Flags(1 << 0);
    /// `SQL_CALC_FOUND_ROWS`: a later `FOUND_ROWS()` must run on the same node.
    pub(crate) const CALC_FOUND_ROWS: Flags = Flags(1 << 1);
    /// `GET_LOCK(`, `RELEASE_LOCK(`, `RELEASE_ALL_LOCKS(`, `IS_FREE_LOCK(`, `IS_USED_LOCK(`.
    pub(crate) const NAMED_LOCK: Flags = Flags(1 << 2);
    /// Assigns a user variable: `@x :=` anywhere, `SELECT ... INTO @x`, `SET @x = ..`.
    pub(crate) const USER_VARIABLE_WRITE: Flags = Flags(1 << 3);
    /// The text holds more than one non-empty statement.
    pub(crate) const MULTI: Flags = Flags(1 << 4);
    /// Advances or sets a sequence: `NEXTVAL(`, `SETVAL(`, `LASTVAL(`, `NEXT VALUE FOR`,
    /// `PREVIOUS VALUE FOR`. (`SLEEP(` is not one.)
    pub(crate) const WRITE_FUNCTION: Flags = Flags(1 << 5);
    /// `START TRANSACTION READ ONLY`.
    pub(crate) const READ_ONLY_TXN: Flags = Flags(1 << 6);
    /// `SET autocommit = 0|OFF|FALSE`.
    pub(crate) const AUTOCOMMIT_OFF: Flags = Flags(1 << 7);
    /// `SET autocommit = 1|ON|TRUE`.
    pub(crate) const AUTOCOMMIT_ON: Flags = Flags(1 << 8);
    /// Reads the connection's last insert id: `LAST_INSERT_ID()` (no argument),
    /// `@@identity`, `@@last_insert_id`, `@@insert_id`.
    pub(crate) const READS_INSERT_ID: Flags = Flags(1 << 9);
    /// Sets the connection's last insert id: `LAST_INSERT_ID(expr)`.
    pub(crate) const SETS_INSERT_ID: Flags = Flags(1 << 10);
    /// `FOUND_ROWS()`: reads the previous `SELECT`'s row count.
    pub(crate) const READS_FOUND_ROWS: Flags = Flags(1 << 11);
    /// A `?` outside strings, comments and identifiers: a prepared statement's parameter.
    pub(crate) const PLACEHOLDER: Flags = Flags(1 << 12);
    /// The lexer can't vouch for one reading: under `NO_BACKSLASH_ESCAPES`, under
    /// `ANSI_QUOTES`, or on a server older than one of its versioned comments, the text
    /// splits into other statements or classifies with another kind or other flags. The
    /// kind and the other flags are those of the default reading.
    pub(crate) const UNCERTAIN: Flags = Flags(1 << 13);
    /// A locking clause (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`) in a statement
    /// that isn't a query, as in `SET @v = (SELECT .. FOR UPDATE)` (a query with one is
    /// a [`Kind::LockingRead`]).
    pub(crate) const LOCKING: Flags = Flags(1 << 15);
    /// Calls a function the server doesn't ship: a name followed by `(` (whitespace and
    /// comments between count) that is neither a native function nor syntax (see
    /// `classify/functions.rs`), unquoted or backticked, or any qualified call
    /// (`db.f(`, `` `db`.`f`( ``). A stored function or a UDF: its body may write, take
    /// a named lock or advance a sequence, and the text can't show which. (`CALL p(`
    /// sets it too: a procedure is as opaque.)
    pub(crate) const CALLS_UNKNOWN_FUNCTION: Flags = Flags(1 << 14);

    const NAMES: [(Flags, &'static str); 16] = [
        (Flags::LOCKING, "LOCKING"),
        (Flags::READS_PREVIOUS_STATE, "READS_PREVIOUS_STATE"),
        (Flags::CALC_FOUND_ROWS, "CALC_FOUND_ROWS"),
        (Flags::NAMED_LOCK, "NAMED_LOCK"),
        (Flags::USER_VARIABLE_WRITE, "USER_VARIABLE_WRITE"),
        (Flags::MULTI, "MULTI"),
        (Flags::WRITE_FUNCTION, "WRITE_FUNCTION"),
        (Flags::READ_ONLY_TXN, "READ_ONLY_TXN"),
        (Flags::AUTOCOMMIT_OFF, "AUTOCOMMIT_OFF"),
        (Flags::AUTOCOMMIT_ON, "AUTOCOMMIT_ON"),
        (Flags::READS_INSERT_ID, "READS_INSERT_ID"),
        (Flags::SETS_INSERT_ID, "SETS_INSERT_ID"),
        (Flags::READS_FOUND_ROWS, "READS_FOUND_ROWS"),
        (Flags::PLACEHOLDER, "PLACEHOLDER"),
        (Flags::UNCERTAIN, "UNCERTAIN"),
        (Flags::CALLS_UNKNOWN_FUNCTION, "CALLS_UNKNOWN_FUNCTION"),
    ];

    /// Whether every flag of `other` is set in `self`.
    #[inline]
    pub(crate) fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    #[inline]
    pub(crate) const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether any flag of `other` is set in `self`.
    #[inline]
    pub(crate) fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

/// Lists the flag names, so test failures and logs are readable.
impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flags(")?;
        let mut first = true;
        for (flag, name) in Flags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A statement's (or a batch's) kind and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Classification {
    pub kind: Kind,
    pub flags: Flags,
}

/// Classifies text holding possibly several `;`-separated statements.
///
/// For a batch, the kind is that of the first statement of the highest precedence:
/// writes (any [`Kind::is_write`] kind) > session/transaction state (`SET` except
/// global, `USE`, `BEGIN`/`COMMIT`/`ROLLBACK`/savepoints, `UNLOCK TABLES`, temporary
/// tables, `PREPARE`/`DEALLOCATE`) > `LockingRead` > reads > `Empty`. Flags are OR-ed,
/// and [`Flags::MULTI`] is set when there is more than one non-empty statement. Use
/// [`statements`] to handle a batch statement by statement.
pub(crate) fn classify(sql: &str) -> Classification {
    let (mut class, seen) = classify_in(sql.as_bytes(), Reading::DEFAULT);
    if seen != 0 && readings_differ(sql.as_bytes(), class, seen) {
        class.flags |= Flags::UNCERTAIN;
    }
    class
}

/// Iterates the non-empty statements of a batch: each one's text (between the `;`
/// separators, whitespace-trimmed, comments kept since executable comments are SQL) and
/// its own classification (never [`Flags::MULTI`]; [`Flags::UNCERTAIN`] on every one
/// when the batch is uncertain, since another reading may split it elsewhere).
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = (&str, Classification)> + '_ {
    let uncertain = if classify(sql).flags.contains(Flags::UNCERTAIN) {
        Flags::UNCERTAIN
    } else {
        Flags::NONE
    };
    Statements {
        sql,
        lx: Lexer::new(sql.as_bytes()),
        uncertain,
    }
}

/// The name a statement is about, as written minus its quotes (a backticked name keeps
/// doubled backticks as they are): the database of `USE db`, or the table of
/// `CREATE [OR REPLACE] TEMPORARY TABLE [IF NOT EXISTS] [db.]name` and
/// `DROP TEMPORARY TABLE [IF EXISTS] [db.]name[, ...]` (the first one). Looks at the
/// first non-empty statement only; `None` for anything else.
pub(crate) fn target_name(sql: &str) -> Option<&str> {
    let (stmt, class) = statements(sql).next()?;
    let mut lx = Lexer::new(stmt.as_bytes());
    let name = match class.kind {
        Kind::Use => {
            lx.find(|t| t.kw() == Kw::Use)?;
            let t = lx.next()?;
            if !matches!(t.tk, Tk::Word | Tk::Ident | Tk::Str) {
                return None;
            }
            t
        }
        Kind::CreateTemporaryTable | Kind::DropTemporaryTable => {
            lx.find(|t| t.kw() == Kw::Temporary)?;
            lx.next()?; // TABLE / TABLES / SEQUENCE
            if lx.eat(Kw::If) {
                lx.eat(Kw::Not);
                lx.eat(Kw::Exists);
            }
            let mut last = lx.next()?;
            if !matches!(last.tk, Tk::Word | Tk::Ident) {
                return None;
            }
            while lx.eat_tk(Tk::Dot) {
                match lx.next() {
                    Some(t) if matches!(t.tk, Tk::Word | Tk::Ident) => last = t,
                    _ => return None,
                }
            }
            last
        }
        _ => return None,
    };
    stmt.get(name.start..name.start + name.text.len())
}

/// Compares a backticked identifier's raw content (where "``" stands for "`") with a
/// name, ASCII case-insensitively.
fn ident_eq(raw: &[u8], name: &[u8]) -> bool {
    let mut i = 0;
    let mut j = 0;
    while i < raw.len() {
        let c = raw[i];
        i += if c == b'`' && raw.get(i + 1) == Some(&b'`') {
            2
        } else {
            1
        };
        match name.get(j) {
            Some(d) if d.eq_ignore_ascii_case(&c) => j += 1,
            _ => return false,
        }
    }
    j == name.len()
}

/// The iterator behind [`statements`].
struct Statements<'a> {
    sql: &'a str,
    lx: Lexer<'a>,
    /// [`Flags::UNCERTAIN`] if the batch is.
    uncertain: Flags,
}

impl<'a> Iterator for Statements<'a> {
    type Item = (&'a str, Classification);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.lx.at_end() {
            let start = self.lx.pos;
            let (mut class, end) = classify_one(&mut self.lx);
            if class.kind != Kind::Empty {
                class.flags |= self.uncertain;
                let text = self.sql.get(start..end).unwrap_or("");
                return Some((text.trim_matches(is_space), class));
            }
        }
        None
    }
}

/// MySQL's whitespace.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}
