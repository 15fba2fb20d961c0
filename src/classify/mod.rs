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

mod functions;
pub(crate) mod set;
mod tables;

#[cfg(test)]
pub(crate) use tables::refers_to_table;
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

/// [`classify`] in one reading, without [`Flags::UNCERTAIN`]; also returns the lexer's
/// `SEEN_*` bits.
fn classify_in(s: &[u8], reading: Reading) -> (Classification, u8) {
    let mut lx = Lexer::with_reading(s, reading);
    let mut acc = Classification {
        kind: Kind::Empty,
        flags: Flags::NONE,
    };
    let mut count = 0usize;
    while !lx.at_end() {
        let (c, _) = classify_one(&mut lx);
        if c.kind == Kind::Empty {
            continue;
        }
        count += 1;
        acc.flags |= c.flags;
        if c.kind.rank() > acc.kind.rank() {
            acc.kind = c.kind;
        }
    }
    if count > 1 {
        acc.flags |= Flags::MULTI;
    }
    (acc, lx.seen)
}

/// At most this many distinct versions of versioned comments get a reading each; text
/// with more is [`Flags::UNCERTAIN`] outright.
const MAX_VERSION_READINGS: usize = 8;

/// Whether some other reading of the text (see [`Flags::UNCERTAIN`]) splits or
/// classifies it differently from the default one, which gave `default` and whose lexer
/// saw `seen`. Only the
/// readings that can differ are tried: those of what was seen, and then of what those
/// readings saw (a backslash may end a string early and show a `"`).
#[cold]
#[inline(never)]
fn readings_differ(s: &[u8], default: Classification, mut seen: u8) -> bool {
    // The server versions that matter: each distinct version of a versioned comment
    // (newest first); a server older than it reads it, and all newer ones, as comments.
    let mut versions = [0u32; MAX_VERSION_READINGS];
    let mut count = 0;
    let mut below = u32::MAX;
    while let Some(v) = newest_version_below(s, below) {
        if count == versions.len() {
            return true;
        }
        versions[count] = v;
        count += 1;
        below = v;
    }
    let mut done = 0u8;
    while seen != done {
        let dims = seen;
        for nbe in [false, true] {
            for ansi in [false, true] {
                for plain_from in std::iter::once(u32::MAX).chain(versions[..count].iter().copied())
                {
                    let mut bits = 0;
                    if nbe {
                        bits |= SEEN_BACKSLASH;
                    }
                    if ansi {
                        bits |= SEEN_DOUBLE_QUOTE;
                    }
                    if plain_from != u32::MAX {
                        bits |= SEEN_VERSIONED;
                    }
                    // Only readings over what was seen, and not already tried.
                    if bits & !dims != 0 || bits & !done == 0 {
                        continue;
                    }
                    let reading = Reading {
                        no_backslash_escapes: nbe,
                        ansi_quotes: ansi,
                        plain_from,
                    };
                    // One statement: the other reading must give one of the same class
                    // (saves a pass); several: the same ones, compared one by one.
                    let other = if default.flags.contains(Flags::MULTI) {
                        same_statements(s, reading)
                    } else {
                        let (class, more) = classify_in(s, reading);
                        (class == default).then_some(more)
                    };
                    match other {
                        Some(more) => seen |= more,
                        None => return true,
                    }
                }
            }
        }
        done = dims;
    }
    false
}

/// The newest version below `below` (and above [`ALWAYS_EXECUTED_VERSION`]) of a
/// versioned comment anywhere in the text (in strings and comments too: superset).
fn newest_version_below(s: &[u8], below: u32) -> Option<u32> {
    let mut best = None;
    let mut i = 0;
    while i < s.len() {
        i = find2(s, i, b'/', b'/');
        if s.get(i + 1) != Some(&b'*') {
            i += 1;
            continue;
        }
        let k = match s.get(i + 2) {
            Some(b'!') => i + 3,
            Some(b'M' | b'm') if s.get(i + 3) == Some(&b'!') => i + 4,
            _ => {
                i += 2;
                continue;
            }
        };
        if let (_, Some(v)) = skip_version(s, k) {
            if v > ALWAYS_EXECUTED_VERSION && v < below && best.is_none_or(|b| v > b) {
                best = Some(v);
            }
        }
        i = k;
    }
    best
}

/// Whether the text splits into the same statements with the same classifications in
/// the default reading and in `reading`: `None` if not, else the `SEEN_*` bits of
/// `reading`'s lexer.
fn same_statements(s: &[u8], reading: Reading) -> Option<u8> {
    let mut a = Lexer::new(s);
    let mut b = Lexer::with_reading(s, reading);
    loop {
        let x = next_statement(&mut a);
        if x != next_statement(&mut b) {
            return None;
        }
        if x.is_none() {
            return Some(b.seen);
        }
    }
}

/// The next non-empty statement: where its text starts and ends, and its class.
fn next_statement(lx: &mut Lexer<'_>) -> Option<(usize, usize, Classification)> {
    while !lx.at_end() {
        let start = lx.pos;
        let (class, end) = classify_one(lx);
        if class.kind != Kind::Empty {
            return Some((start, end, class));
        }
    }
    None
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

/// Classifies the statement starting at the lexer's position and consumes it with its
/// terminating `;`. Returns the classification and where the statement's text ends (the
/// `;` or the end of input).
fn classify_one(lx: &mut Lexer<'_>) -> (Classification, usize) {
    let mut flags = Flags::NONE;
    // `EXPLAIN ANALYZE` / MariaDB `ANALYZE`: the inner statement is executed.
    let mut analyzed = false;
    // Opening parentheses before the first keyword: only a query can follow.
    let mut parens = false;
    let mut select_like = false;
    // `WITH`: the main statement's keyword is still to come.
    let mut cte = false;
    // A compound statement (`BEGIN NOT ATOMIC`, `IF`, labels, ...): the rest of the text
    // is its body, whatever its `;`.
    let mut compound = false;

    // The head: the first keyword(s). Prefixes (`(`, `SET STATEMENT .. FOR`, `ANALYZE`)
    // loop rather than recurse, so no input can exhaust the stack.
    let kind = loop {
        let t = match lx.next() {
            Some(t) if t.tk != Tk::Semi => t,
            other => {
                let end = other.map_or(lx.s.len(), |t| t.start);
                let kind = if analyzed || parens {
                    Kind::Other
                } else {
                    Kind::Empty
                };
                return (Classification { kind, flags }, end);
            }
        };
        if t.tk == Tk::LParen {
            parens = true;
            continue;
        }
        let k = t.kw();
        if parens && !matches!(k, Kw::Select | Kw::With | Kw::Table | Kw::Values) {
            break Kind::Other;
        }
        break match k {
            Kw::Select | Kw::Table | Kw::Values => {
                select_like = true;
                Kind::Select
            }
            Kw::With => {
                select_like = true;
                cte = true;
                Kind::Select
            }
            Kw::Insert => Kind::Insert,
            Kw::Replace => Kind::Replace,
            Kw::Update => Kind::Update,
            Kw::Delete => Kind::Delete,
            Kw::Load => match lx.peek_kw() {
                Kw::Data | Kw::Xml => Kind::LoadData,
                _ => Kind::Other,
            },
            Kw::Create => {
                let mut la = lx.clone();
                if la.eat(Kw::Or) {
                    la.eat(Kw::Replace);
                }
                if la.eat(Kw::Temporary) && (la.eat(Kw::Table) || la.eat(Kw::Sequence)) {
                    Kind::CreateTemporaryTable
                } else {
                    Kind::Ddl
                }
            }
            Kw::Drop => {
                let mut la = lx.clone();
                if la.eat(Kw::Temporary)
                    && (la.eat(Kw::Table) || la.eat(Kw::Tables) || la.eat(Kw::Sequence))
                {
                    Kind::DropTemporaryTable
                } else if la.eat(Kw::Prepare) {
                    Kind::Deallocate
                } else {
                    Kind::Ddl
                }
            }
            Kw::Analyze => match lx.peek_kw() {
                Kw::Table | Kw::Tables | Kw::NoWriteToBinlog | Kw::Local => Kind::Ddl,
                _ => {
                    lx.skip_format();
                    analyzed = true;
                    continue;
                }
            },
            Kw::Alter
            | Kw::Truncate
            | Kw::Rename
            | Kw::Grant
            | Kw::Revoke
            | Kw::Optimize
            | Kw::Repair
            | Kw::Flush
            | Kw::Reset
            | Kw::Purge
            | Kw::Install
            | Kw::Uninstall
            | Kw::Import => Kind::Ddl,
            Kw::Lock => match lx.peek_kw() {
                Kw::Table | Kw::Tables => Kind::LockTables,
                _ => Kind::Other,
            },
            Kw::Unlock => match lx.peek_kw() {
                Kw::Table | Kw::Tables => Kind::UnlockTables,
                _ => Kind::Other,
            },
            Kw::Call => Kind::Call,
            Kw::Do => Kind::Do,
            Kw::Use => Kind::Use,
            Kw::Set => {
                let mut la = lx.clone();
                if la.eat(Kw::Statement) {
                    // MariaDB `SET STATEMENT var=val[, ..] FOR stmt`: classify `stmt`.
                    if la.skip_to_for() {
                        *lx = la;
                        continue;
                    }
                    Kind::Other
                } else {
                    let (kind, f) = parse_set(la);
                    flags |= f;
                    kind
                }
            }
            Kw::Show => {
                let mut la = lx.clone();
                let reads_state = match la.next().map_or(Kw::None, |t| t.kw()) {
                    Kw::Warnings | Kw::Errors | Kw::Profile | Kw::Profiles => true,
                    Kw::Count => {
                        la.eat_tk(Tk::LParen)
                            && la.next().is_some_and(|t| t.text == b"*")
                            && la.eat_tk(Tk::RParen)
                            && matches!(la.peek_kw(), Kw::Warnings | Kw::Errors)
                    }
                    _ => false,
                };
                if reads_state {
                    flags |= Flags::READS_PREVIOUS_STATE;
                }
                Kind::Show
            }
            Kw::Explain | Kw::Describe | Kw::Desc => {
                let mut la = lx.clone();
                la.skip_format();
                if la.eat(Kw::Analyze) {
                    la.skip_format();
                    *lx = la;
                    analyzed = true;
                    continue;
                }
                Kind::Explain
            }
            Kw::Begin => match lx.peek() {
                None => Kind::Begin,
                Some(t) if t.tk == Tk::Semi || t.kw() == Kw::Work => Kind::Begin,
                // `BEGIN NOT ATOMIC` (MariaDB compound statement) and anything else.
                Some(_) => {
                    compound = true;
                    Kind::Other
                }
            },
            // Compound statements outside stored programs (MariaDB). (`CASE`, `LOOP`,
            // `WHILE`, `REPEAT` and `DECLARE` are no keywords: `WHILE` would make every
            // `WHERE` pass the keyword table's first filter.)
            Kw::If | Kw::For => {
                compound = true;
                Kind::Other
            }
            _ if t.tk == Tk::Word && is_compound_word(t.text) => {
                compound = true;
                Kind::Other
            }
            Kw::Start => {
                let mut la = lx.clone();
                if la.eat(Kw::Transaction) {
                    if la.has_read_only() {
                        flags |= Flags::READ_ONLY_TXN;
                    }
                    Kind::Begin
                } else {
                    // START SLAVE / REPLICA / GROUP_REPLICATION ...
                    Kind::Other
                }
            }
            Kw::Commit => Kind::Commit,
            Kw::Rollback => {
                let mut la = lx.clone();
                la.eat(Kw::Work);
                if la.eat(Kw::To) {
                    Kind::RollbackToSavepoint
                } else {
                    Kind::Rollback
                }
            }
            Kw::Savepoint => Kind::Savepoint,
            Kw::Release => match lx.peek_kw() {
                Kw::Savepoint => Kind::ReleaseSavepoint,
                _ => Kind::Other,
            },
            Kw::Xa => Kind::Xa,
            Kw::Get => {
                let mut la = lx.clone();
                if !la.eat(Kw::Current) {
                    la.eat(Kw::Stacked);
                }
                if la.eat(Kw::Diagnostics) {
                    flags |= Flags::READS_PREVIOUS_STATE;
                    Kind::GetDiagnostics
                } else {
                    Kind::Other
                }
            }
            Kw::Handler => Kind::Handler,
            Kw::Prepare => Kind::Prepare,
            Kw::Execute => Kind::Execute,
            Kw::Deallocate => Kind::Deallocate,
            Kw::Kill => Kind::Kill,
            _ => {
                // `label: BEGIN|LOOP|WHILE|REPEAT|FOR ...`
                let mut la = lx.clone();
                if matches!(t.tk, Tk::Word | Tk::Ident)
                    && la.next().is_some_and(|c| c.text == b":")
                    && la.peek().is_some_and(|w| {
                        matches!(w.kw(), Kw::Begin | Kw::For)
                            || w.tk == Tk::Word && is_compound_word(w.text)
                    })
                {
                    compound = true;
                }
                Kind::Other
            }
        };
    };

    // The tail: scan the rest of the statement for what matters.
    let mut tail = Tail {
        kind,
        flags,
        select_like,
        cte,
        depth: 0,
        locking: false,
        into: false,
        name_start: 0,
        name_end: usize::MAX,
        name_quoted: false,
        // `INSERT [IGNORE] t (a, ..)`: the table follows the head.
        names_table_from: if matches!(kind, Kind::Insert | Kind::Replace) {
            lx.pos
        } else {
            usize::MAX
        },
    };
    let mut end = tail.scan(lx);
    while compound && !lx.at_end() {
        end = tail.scan(lx);
    }
    let Tail {
        mut kind,
        mut flags,
        ..
    } = tail;
    if tail.locking && !tail.select_like && kind != Kind::Explain {
        // A query says it with its kind (`LockingRead`); anything else that runs it
        // with a flag (`EXPLAIN` runs nothing).
        flags |= Flags::LOCKING;
    }
    if tail.select_like {
        if tail.into {
            kind = Kind::SelectInto;
        } else if tail.locking {
            kind = Kind::LockingRead;
        }
    }
    if analyzed && kind == Kind::Select {
        kind = Kind::Explain;
    }
    (Classification { kind, flags }, end)
}

/// What the tail scan of a statement (after its head) collects.
struct Tail {
    kind: Kind,
    flags: Flags,
    /// A query: locking clauses and `INTO` count.
    select_like: bool,
    /// After `WITH`: the main statement's keyword is still to come.
    cte: bool,
    /// Parenthesis depth relative to the head's end.
    depth: i64,
    locking: bool,
    into: bool,
    /// The last name-like token (word or quoted identifier): where its text starts, where
    /// the token ends (after a closing quote), and whether it was quoted. A `(` with only
    /// whitespace between may make it a call.
    name_start: usize,
    name_end: usize,
    name_quoted: bool,
    /// Just after the last keyword that a table or index name may follow with a column
    /// list (`INTO`, `TABLE`, `KEY`, ...; or the `INSERT`/`REPLACE` head): a name right
    /// there followed by `(` is no call. `usize::MAX`: none.
    names_table_from: usize,
}

impl Tail {
    /// Scans to the end of the statement; returns where its text ends (its `;` or the
    /// end of input), leaving the lexer after the `;`.
    ///
    /// This is the hot path, so it walks bytes itself: whitespace, punctuation and
    /// backticked identifiers are skipped without making tokens, words are looked up as
    /// keywords unless glued to a `.`; anything rarer (quotes, variables, comments) goes
    /// through the lexer one token at a time. Inlined, so that the tail's fields live in
    /// registers (called on its own, it costs a sixth more on a Diesel `SELECT`).
    #[inline(always)]
    fn scan(&mut self, lx: &mut Lexer<'_>) -> usize {
        let s = lx.s;
        let n = s.len();
        let mut i = lx.pos;
        loop {
            i = span(s, i, S_TAIL_SKIP);
            let Some(&b) = s.get(i) else {
                lx.pos = n;
                return n;
            };
            // Tests on different expressions, so that LLVM keeps a branch chain rather
            // than a jump table (its indirect jump mispredicts nearly every time).
            if b == b'`' {
                let j = scan_quoted_ident(s, i + 1, b'`');
                // A built-in function's name, backticked? Only names of a function's
                // length are looked at (one test for most of Diesel's).
                if (MIN_FUNCTION_NAME..=MAX_FUNCTION_NAME).contains(&(j - i - 1)) {
                    self.backticked(i + 1, j, lx);
                }
                self.name_start = i + 1;
                i = (j + 1).min(n);
                self.name_end = i;
                self.name_quoted = true;
            } else if b == b'?' {
                self.flags |= Flags::PLACEHOLDER;
                i += 1;
            } else if is_ident(b) {
                let j = word_end(s, i);
                if i == 0 || s[i - 1] != b'.' {
                    let kw = keyword(&s[i..j]);
                    if kw != Kw::None {
                        lx.pos = j;
                        self.keyword(kw, lx);
                    }
                }
                self.name_start = i;
                self.name_end = j;
                self.name_quoted = false;
                i = j;
            } else if b == b'(' {
                if span(s, self.name_end, S_WS) == i {
                    self.call(lx);
                }
                self.depth += 1;
                i += 1;
            } else if b == b')' {
                self.depth -= 1;
                i += 1;
            } else if b == b';' {
                lx.pos = i + 1;
                return i;
            } else {
                lx.pos = i;
                lx.after_dot = false;
                let Some(t) = lx.next() else { return n };
                match t.tk {
                    Tk::Semi => return t.start,
                    Tk::LParen => {
                        // Only comments (and whitespace) since the last name?
                        if span(s, self.name_end, S_WS) == i {
                            self.call(lx);
                        }
                        self.depth += 1;
                    }
                    Tk::RParen => self.depth -= 1,
                    Tk::Word => {
                        self.keyword(t.kw(), lx);
                        self.name_start = t.start;
                        self.name_end = lx.pos;
                        self.name_quoted = false;
                    }
                    Tk::SysVar => self.flags |= sysvar_flags(t.text),
                    // A quoted name of a built-in function, called.
                    Tk::Ident if t.start > 0 && matches!(s[t.start - 1], b'`' | b'"') => {
                        self.quoted_name(t.text, lx);
                        self.name_start = t.start;
                        self.name_end = lx.pos;
                        self.name_quoted = true;
                    }
                    Tk::Ident => {
                        self.name_start = t.start;
                        self.name_end = lx.pos;
                        self.name_quoted = false;
                    }
                    Tk::UserVar if lx.peek_tk() == Some(Tk::Assign) => {
                        self.flags |= Flags::USER_VARIABLE_WRITE;
                    }
                    Tk::Punct if t.text == b"?" => self.flags |= Flags::PLACEHOLDER,
                    _ => {}
                }
                i = lx.pos;
            }
        }
    }

    /// Handles the backticked identifier `s[start..end]` of the fast path (`end`: its
    /// closing backtick) as [`Tail::quoted_name`] does, unless a `.`, `,` or `)`
    /// follows (no call).
    #[inline(never)]
    fn backticked(&mut self, start: usize, end: usize, lx: &mut Lexer<'_>) {
        let s = lx.s;
        let next = end + 1;
        if s.get(next)
            .is_some_and(|&c| !matches!(c, b'.' | b',' | b')'))
        {
            lx.pos = next;
            lx.after_dot = false;
            self.quoted_name(s.get(start..end).unwrap_or_default(), lx);
        }
    }

    /// Handles a `(` right after the last name (only whitespace or comments between;
    /// `lx`'s input and reading are used, not its position): flags a call of a function
    /// that is not native. Out of line: only names followed by `(` get here.
    #[inline(never)]
    fn call(&mut self, lx: &Lexer<'_>) {
        // `WITH t (a, b) AS (..), u (c) AS (..)`: the CTEs' column lists (their bodies
        // are deeper).
        if self.cte && self.depth == 0 {
            return;
        }
        let s = lx.s;
        let start = self.name_start;
        // Where the token starts (its opening quote) and where its text ends.
        let (token_start, text_end) = if self.name_quoted {
            (
                start.saturating_sub(1),
                self.name_end.saturating_sub(1).max(start),
            )
        } else {
            (start, self.name_end)
        };
        if self.names_table(lx) {
            return;
        }
        let qualified = token_start > 0 && s.get(token_start - 1) == Some(&b'.');
        let text = s.get(start..text_end).unwrap_or_default();
        if !qualified && functions::is_known_call(text, self.name_quoted) {
            return;
        }
        self.flags |= Flags::CALLS_UNKNOWN_FUNCTION;
    }

    /// Whether the last name is (the last part of) the table or index name right after
    /// [`Tail::names_table_from`]: `INSERT INTO [db.]t (..)`, `INSERT IGNORE t (..)`,
    /// `CREATE TABLE t (..)`, `KEY k (..)`, `REFERENCES t (..)`.
    fn names_table(&self, lx: &Lexer<'_>) -> bool {
        if self.names_table_from == usize::MAX {
            return false;
        }
        let mut la = lx.clone();
        la.pos = self.names_table_from;
        la.after_dot = false;
        let mut t = loop {
            match la.next() {
                Some(t) if t.tk == Tk::Word && is_insert_modifier(t.text) => {}
                Some(t) if matches!(t.tk, Tk::Word | Tk::Ident) => break t,
                _ => return false,
            }
        };
        loop {
            if t.start == self.name_start {
                return true;
            }
            if t.start > self.name_start || !la.eat_tk(Tk::Dot) {
                return false;
            }
            match la.next() {
                Some(n) if matches!(n.tk, Tk::Word | Tk::Ident) => t = n,
                _ => return false,
            }
        }
    }

    /// Handles a quoted identifier (its content `text`) of the tail: the name of a
    /// built-in function that sets a flag counts when called, as the bare word would.
    /// `lx` is just after it (for lookahead only). Out of line: rare, and kept out of
    /// the scan loop's registers.
    #[inline(never)]
    fn quoted_name(&mut self, text: &[u8], lx: &Lexer<'_>) {
        let kw = keyword(text);
        if is_flagged_function(kw) {
            self.flags |= function_flags(kw, lx);
        }
    }

    /// Handles a keyword of the tail; `lx` is just after it (for lookahead only).
    fn keyword(&mut self, kw: Kw, lx: &Lexer<'_>) {
        if matches!(
            kw,
            Kw::Table | Kw::Key | Kw::Index | Kw::Unique | Kw::References | Kw::Exists
        ) {
            self.names_table_from = lx.pos;
        }
        match kw {
            Kw::For => {
                if matches!(lx.peek_kw(), Kw::Update | Kw::Share) {
                    self.locking = true;
                }
            }
            Kw::Lock => {
                let mut la = lx.clone();
                if la.eat(Kw::In) && la.eat(Kw::Share) {
                    self.locking = true;
                }
            }
            Kw::Into => {
                self.names_table_from = lx.pos;
                self.into = true;
                if lx.peek_tk() == Some(Tk::UserVar) {
                    self.flags |= Flags::USER_VARIABLE_WRITE;
                }
            }
            Kw::SqlCalcFoundRows => self.flags |= Flags::CALC_FOUND_ROWS,
            Kw::LastInsertId
            | Kw::FoundRows
            | Kw::RowCount
            | Kw::GetLock
            | Kw::ReleaseLock
            | Kw::ReleaseAllLocks
            | Kw::IsFreeLock
            | Kw::IsUsedLock
            | Kw::Nextval
            | Kw::Setval
            | Kw::Lastval => self.flags |= function_flags(kw, lx),
            Kw::Next | Kw::Previous => {
                let mut la = lx.clone();
                if la.eat(Kw::Value) && la.eat(Kw::For) {
                    self.flags |= Flags::WRITE_FUNCTION;
                }
            }
            // `WITH ...`: the first statement keyword outside the CTE bodies.
            Kw::Select
            | Kw::Table
            | Kw::Values
            | Kw::Update
            | Kw::Delete
            | Kw::Insert
            | Kw::Replace
                if self.cte && self.depth == 0 =>
            {
                self.cte = false;
                let main = match kw {
                    Kw::Update => Kind::Update,
                    Kw::Delete => Kind::Delete,
                    Kw::Insert => Kind::Insert,
                    Kw::Replace => Kind::Replace,
                    _ => return,
                };
                self.kind = main;
                self.select_like = false;
            }
            _ => {}
        }
    }
}

/// `INSERT`/`REPLACE` options before the table: `LOW_PRIORITY`, `DELAYED`,
/// `HIGH_PRIORITY`, `IGNORE`.
fn is_insert_modifier(word: &[u8]) -> bool {
    [
        &b"LOW_PRIORITY"[..],
        b"DELAYED",
        b"HIGH_PRIORITY",
        b"IGNORE",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w))
}

/// Whether a statement's first word opens a compound statement (besides `BEGIN`, `IF`
/// and `FOR`, which are keywords): `CASE`, `LOOP`, `WHILE`, `REPEAT`, `DECLARE`.
fn is_compound_word(word: &[u8]) -> bool {
    [&b"CASE"[..], b"LOOP", b"WHILE", b"REPEAT", b"DECLARE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}

/// The flags a call of the built-in function `kw` sets, when a `(` follows (`lx` is just
/// after the name); none when it's not a call. Whitespace before the `(` counts as a call
/// (the server allows it only with `IGNORE_SPACE`: the conservative reading).
#[inline(never)]
fn function_flags(kw: Kw, lx: &Lexer<'_>) -> Flags {
    let mut la = lx.clone();
    if !la.eat_tk(Tk::LParen) {
        return Flags::NONE;
    }
    match kw {
        Kw::LastInsertId if la.peek_tk() == Some(Tk::RParen) => Flags::READS_INSERT_ID,
        Kw::LastInsertId => Flags::SETS_INSERT_ID,
        Kw::FoundRows => Flags::READS_FOUND_ROWS,
        Kw::RowCount => Flags::READS_PREVIOUS_STATE,
        Kw::GetLock | Kw::ReleaseLock | Kw::ReleaseAllLocks | Kw::IsFreeLock | Kw::IsUsedLock => {
            Flags::NAMED_LOCK
        }
        Kw::Nextval | Kw::Setval | Kw::Lastval => Flags::WRITE_FUNCTION,
        _ => Flags::NONE,
    }
}

/// Whether `kw` names a built-in function whose call sets a flag: these count backticked
/// too (`` `get_lock`( `` calls the built-in).
fn is_flagged_function(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::LastInsertId
            | Kw::FoundRows
            | Kw::RowCount
            | Kw::GetLock
            | Kw::ReleaseLock
            | Kw::ReleaseAllLocks
            | Kw::IsFreeLock
            | Kw::IsUsedLock
            | Kw::Nextval
            | Kw::Setval
            | Kw::Lastval
    )
}

/// Classifies a `SET` statement from just after `SET` (not `SET STATEMENT`): a list of
/// assignments, each with an optional scope that sticks to the following ones.
/// A global assignment anywhere makes it `SetGlobal`; else `autocommit` anywhere makes it
/// `SetAutocommit`; else `SetSession`.
fn parse_set(mut la: Lexer<'_>) -> (Kind, Flags) {
    let mut flags = Flags::NONE;
    let mut global_scope = false;
    let mut any_global = false;
    let mut autocommit = false;
    let mut autocommit_value: Option<bool> = None;
    let mut first = true;
    while let Some(mut t) = la.next() {
        if t.tk == Tk::Semi {
            break;
        }
        match t.kw() {
            Kw::Global | Kw::Persist | Kw::PersistOnly => global_scope = true,
            Kw::Session | Kw::Local => global_scope = false,
            _ => {}
        }
        if matches!(
            t.kw(),
            Kw::Global | Kw::Persist | Kw::PersistOnly | Kw::Session | Kw::Local
        ) {
            match la.next() {
                Some(n) if n.tk != Tk::Semi => t = n,
                _ => break,
            }
        }
        let mut is_autocommit = false;
        match t.tk {
            Tk::Word => match t.kw() {
                Kw::Transaction if first => {
                    let kind = if global_scope {
                        Kind::SetGlobal
                    } else {
                        Kind::SetTransaction
                    };
                    return (kind, flags);
                }
                Kw::Password | Kw::Role => any_global = true,
                Kw::Default if la.peek_kw() == Kw::Role => any_global = true,
                // Character set assignments are always session ones.
                Kw::Names | Kw::Charset | Kw::Character => {}
                Kw::Autocommit if !global_scope => is_autocommit = true,
                _ => any_global |= global_scope,
            },
            Tk::Ident => any_global |= global_scope,
            Tk::UserVar => flags |= Flags::USER_VARIABLE_WRITE,
            Tk::SysVar => {
                let (scope, name) = match t.text.iter().rposition(|&b| b == b'.') {
                    Some(dot) => (&t.text[..dot], &t.text[dot + 1..]),
                    None => (&b""[..], t.text),
                };
                let global = [&b"global"[..], b"persist", b"persist_only"]
                    .iter()
                    .any(|g| scope.eq_ignore_ascii_case(g));
                if global {
                    any_global = true;
                } else if name.eq_ignore_ascii_case(b"autocommit") {
                    is_autocommit = true;
                }
            }
            _ => {}
        }
        first = false;
        if la.peek_tk() == Some(Tk::Eq) || la.peek_tk() == Some(Tk::Assign) {
            la.next();
        }
        // The value: up to a `,` outside parentheses.
        let mut depth: i64 = 0;
        let mut value: Option<bool> = None;
        let mut value_tokens = 0usize;
        let more = loop {
            let Some(v) = la.next() else { break false };
            match v.tk {
                Tk::Semi => break false,
                Tk::Comma if depth == 0 => break true,
                Tk::LParen => depth += 1,
                Tk::RParen => depth -= 1,
                _ => {}
            }
            value_tokens += 1;
            value = if value_tokens == 1 {
                bool_value(v)
            } else {
                None
            };
        };
        if is_autocommit {
            // The last assignment wins; only a one-token literal has a known value.
            autocommit = true;
            autocommit_value = value;
        }
        if !more {
            break;
        }
    }
    if autocommit {
        match autocommit_value {
            Some(false) => flags |= Flags::AUTOCOMMIT_OFF,
            Some(true) => flags |= Flags::AUTOCOMMIT_ON,
            None => {}
        }
    }
    let kind = if any_global {
        Kind::SetGlobal
    } else if autocommit {
        Kind::SetAutocommit
    } else {
        Kind::SetSession
    };
    (kind, flags)
}

/// The boolean a one-token `SET` value stands for, if it is a literal one.
fn bool_value(t: Token<'_>) -> Option<bool> {
    if !matches!(t.tk, Tk::Word | Tk::Str) {
        return None;
    }
    let v = t.text;
    if v == b"0" || v.eq_ignore_ascii_case(b"off") || v.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else if v == b"1" || v.eq_ignore_ascii_case(b"on") || v.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else {
        None
    }
}

/// The flags reading a system variable (text after `@@`, maybe with a scope) sets: the
/// ones that hold the previous statement's outcome.
fn sysvar_flags(text: &[u8]) -> Flags {
    let name = match text.iter().rposition(|&b| b == b'.') {
        Some(dot) => &text[dot + 1..],
        None => text,
    };
    let is = |v: &[u8]| name.eq_ignore_ascii_case(v);
    if is(b"warning_count") || is(b"error_count") {
        Flags::READS_PREVIOUS_STATE
    } else if is(b"identity") || is(b"last_insert_id") || is(b"insert_id") {
        Flags::READS_INSERT_ID
    } else {
        Flags::NONE
    }
}

// ---------------------------------------------------------------------------------------
// Lexer

/// Token types. Only what classification needs is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tk {
    /// Unquoted identifier, keyword or number.
    Word,
    /// Backticked identifier (text: the content), or a word right after a `.` (a
    /// qualified name's part is never a keyword: `t.update` is a column).
    Ident,
    /// String literal (text: the content).
    Str,
    /// `@name`, `@'name'`, `@"name"`, `` @`name` `` (text: all of it).
    UserVar,
    /// `@@[scope.]name` (text: after the `@@`).
    SysVar,
    /// `:=`
    Assign,
    Semi,
    LParen,
    RParen,
    Comma,
    Dot,
    Eq,
    /// Any other byte.
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tk: Tk,
    text: &'a [u8],
    /// Where `text` starts in the input.
    start: usize,
}

impl Token<'_> {
    /// The keyword this token is, if it's an unquoted word.
    #[inline]
    fn kw(&self) -> Kw {
        if self.tk == Tk::Word {
            keyword(self.text)
        } else {
            Kw::None
        }
    }
}

// Byte classes.
const C_OTHER: u8 = 0;
const C_WS: u8 = 1;
const C_IDENT: u8 = 2;
const C_QUOTE: u8 = 3;
const C_BACKTICK: u8 = 4;
const C_AT: u8 = 5;
const C_SEMI: u8 = 6;
const C_COLON: u8 = 7;
const C_DOT: u8 = 8;
const C_LPAREN: u8 = 9;
const C_RPAREN: u8 = 10;
const C_COMMA: u8 = 11;
const C_EQ: u8 = 12;
// Bytes that may start (or, `*`, end) a comment: kept last for one range check.
const C_SLASH: u8 = 13;
const C_DASH: u8 = 14;
const C_HASH: u8 = 15;
const C_STAR: u8 = 16;

/// A byte-class table: one lookup per byte in the hot loops.
static CLASS: [u8; 256] = CLASS_TABLE;

/// [`CLASS`], as a constant (statics can't read statics before Rust 1.83).
const CLASS_TABLE: [u8; 256] = {
    let mut t = [C_OTHER; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'$' | 0x80..=0xff => C_IDENT,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => C_WS,
            b'\'' | b'"' => C_QUOTE,
            b'`' => C_BACKTICK,
            b'@' => C_AT,
            b'/' => C_SLASH,
            b'-' => C_DASH,
            b'#' => C_HASH,
            b'*' => C_STAR,
            b';' => C_SEMI,
            b':' => C_COLON,
            b'.' => C_DOT,
            b'(' => C_LPAREN,
            b')' => C_RPAREN,
            b',' => C_COMMA,
            b'=' => C_EQ,
            _ => C_OTHER,
        };
        i += 1;
    }
    t
};

/// Byte sets for [`span`], one bit each in [`SETS`].
const S_WS: u8 = 1;
/// Identifier bytes.
const S_IDENT: u8 = 2;
/// Identifier bytes and `.`: the bytes of a number (`1.5e3`).
const S_NUMBER: u8 = 4;
/// Bytes the tail scan skips: whitespace and punctuation that matter to no rule there.
const S_TAIL_SKIP: u8 = 8;
/// Identifier bytes and `.`: the name of a variable (`@a.b`, `@@session.x`).
const S_VAR: u8 = S_NUMBER;

/// Which byte sets each byte is in.
static SETS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = CLASS_TABLE[i];
        let mut m = 0;
        if c == C_WS {
            m |= S_WS;
        }
        if c == C_IDENT {
            m |= S_IDENT | S_NUMBER;
        }
        if c == C_DOT {
            m |= S_NUMBER;
        }
        // `?` is a placeholder: the tail scan flags it.
        if matches!(c, C_WS | C_OTHER | C_COMMA | C_EQ | C_COLON | C_DOT) && i != b'?' as usize {
            m |= S_TAIL_SKIP;
        }
        t[i] = m;
        i += 1;
    }
    t
};

/// The token a byte of class `c` makes on its own.
static ONE_BYTE: [Tk; 17] = {
    let mut t = [Tk::Punct; 17];
    t[C_SEMI as usize] = Tk::Semi;
    t[C_DOT as usize] = Tk::Dot;
    t[C_LPAREN as usize] = Tk::LParen;
    t[C_RPAREN as usize] = Tk::RParen;
    t[C_COMMA as usize] = Tk::Comma;
    t[C_EQ as usize] = Tk::Eq;
    t
};

#[inline]
fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

#[inline]
fn is_ident(b: u8) -> bool {
    class(b) == C_IDENT
}

/// One way the server may read the text: the lexical settings that are not in the text
/// itself (`sql_mode` and the server version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reading {
    /// `NO_BACKSLASH_ESCAPES`: a backslash in a string is an ordinary byte.
    no_backslash_escapes: bool,
    /// `ANSI_QUOTES`: `"..."` is an identifier, not a string.
    ansi_quotes: bool,
    /// Versioned executable comments for this version or newer are plain comments (a
    /// server older than this). `u32::MAX`: every one is SQL.
    plain_from: u32,
}

impl Reading {
    /// The server defaults, and a server newer than every versioned comment.
    const DEFAULT: Reading = Reading {
        no_backslash_escapes: false,
        ansi_quotes: false,
        plain_from: u32::MAX,
    };
}

/// The byte lexer. `Clone` is a cheap copy, used for lookahead.
#[derive(Clone)]
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    /// Inside `/*! ... */`: the next `*/` closes it.
    in_exec: bool,
    /// The previous token was a `.` glued to an identifier character.
    after_dot: bool,
    /// [`Reading::plain_from`].
    plain_from: u32,
    /// The rest of the [`Reading`]: `Q_*` bits.
    quirks: u8,
    /// What was lexed that another reading might read differently: `SEEN_*` bits.
    seen: u8,
}

/// [`Lexer::quirks`]: [`Reading::no_backslash_escapes`].
const Q_NO_BACKSLASH_ESCAPES: u8 = 1;
/// [`Lexer::quirks`]: [`Reading::ansi_quotes`].
const Q_ANSI_QUOTES: u8 = 2;
/// [`Lexer::seen`]: a backslash in a string.
const SEEN_BACKSLASH: u8 = 1;
/// [`Lexer::seen`]: a `"`-quoted string or identifier.
const SEEN_DOUBLE_QUOTE: u8 = 2;
/// [`Lexer::seen`]: a versioned comment some supported server may not run.
const SEEN_VERSIONED: u8 = 4;

/// Versioned comments up to this version run on every server the library supports
/// (MariaDB 10.0 and later): no other reading of them is considered.
const ALWAYS_EXECUTED_VERSION: u32 = 100_000;

impl<'a> Lexer<'a> {
    fn new(s: &'a [u8]) -> Self {
        Lexer::with_reading(s, Reading::DEFAULT)
    }

    fn with_reading(s: &'a [u8], reading: Reading) -> Self {
        let mut quirks = 0;
        if reading.no_backslash_escapes {
            quirks |= Q_NO_BACKSLASH_ESCAPES;
        }
        if reading.ansi_quotes {
            quirks |= Q_ANSI_QUOTES;
        }
        Lexer {
            s,
            pos: 0,
            in_exec: false,
            after_dot: false,
            plain_from: reading.plain_from,
            quirks,
            seen: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    #[inline]
    fn peek(&self) -> Option<Token<'a>> {
        self.clone().next()
    }

    #[inline]
    fn peek_tk(&self) -> Option<Tk> {
        self.peek().map(|t| t.tk)
    }

    #[inline]
    fn peek_kw(&self) -> Kw {
        self.peek().map_or(Kw::None, |t| t.kw())
    }

    /// Consumes the next token if it is the keyword `k`.
    fn eat(&mut self, k: Kw) -> bool {
        let mut la = self.clone();
        match la.next() {
            Some(t) if t.kw() == k => {
                *self = la;
                true
            }
            _ => false,
        }
    }

    /// Consumes the next token if it is of type `tk`.
    fn eat_tk(&mut self, tk: Tk) -> bool {
        let mut la = self.clone();
        match la.next() {
            Some(t) if t.tk == tk => {
                *self = la;
                true
            }
            _ => false,
        }
    }

    /// Index of the closing quote `q` of a string starting at `from` (or the end), in
    /// this reading; notes a backslash in it.
    #[inline]
    fn scan_string(&mut self, from: usize, q: u8) -> usize {
        let (end, backslash) =
            scan_string(self.s, from, q, self.quirks & Q_NO_BACKSLASH_ESCAPES != 0);
        if backslash {
            self.seen |= SEEN_BACKSLASH;
        }
        end
    }

    /// Skips an optional `FORMAT [=] name` (of `EXPLAIN` / `ANALYZE`).
    fn skip_format(&mut self) {
        if self.eat(Kw::Format) {
            self.eat_tk(Tk::Eq);
            self.next();
        }
    }

    /// Skips to just after the first `FOR` outside parentheses in this statement;
    /// false if the statement ends first.
    fn skip_to_for(&mut self) -> bool {
        let mut depth: i64 = 0;
        loop {
            let Some(t) = self.peek() else { return false };
            match t.tk {
                Tk::Semi => return false,
                Tk::LParen => depth += 1,
                Tk::RParen => depth -= 1,
                Tk::Word if depth == 0 && t.kw() == Kw::For => {
                    self.next();
                    return true;
                }
                _ => {}
            }
            self.next();
        }
    }

    /// Whether `READ ONLY` follows somewhere in this statement.
    fn has_read_only(mut self) -> bool {
        while let Some(t) = self.next() {
            if t.tk == Tk::Semi {
                break;
            }
            if t.kw() == Kw::Read && self.peek_kw() == Kw::Only {
                return true;
            }
        }
        false
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    /// The next token, skipping whitespace and comments (entering and leaving executable
    /// comments, whose content is SQL).
    #[inline]
    fn next(&mut self) -> Option<Token<'a>> {
        let s = self.s;
        let n = s.len();
        let mut i = self.pos;
        loop {
            // Whitespace first, in a tight loop: it's the usual separator.
            i = span(s, i, S_WS);
            let Some(&b) = s.get(i) else {
                self.pos = n;
                self.after_dot = false;
                return None;
            };
            if class(b) < C_SLASH {
                break;
            }
            match b {
                b'#' => i = skip_line(s, i + 1),
                // `--` starts a comment only when followed by a space or a control char
                // (`1--1` is arithmetic).
                b'-' if s.get(i + 1) == Some(&b'-')
                    && s.get(i + 2).is_none_or(|&c| c <= b' ' || c == 0x7f) =>
                {
                    i = skip_line(s, i + 2)
                }
                b'/' if s.get(i + 1) == Some(&b'*') => {
                    let bang = match s.get(i + 2) {
                        Some(b'!') => Some(i + 3),
                        Some(b'M' | b'm') if s.get(i + 3) == Some(&b'!') => Some(i + 4),
                        _ => None,
                    };
                    match bang {
                        Some(k) if !self.in_exec => {
                            let (end, version) = skip_version(s, k);
                            if version.is_some_and(|v| v > ALWAYS_EXECUTED_VERSION) {
                                self.seen |= SEEN_VERSIONED;
                            }
                            if version.is_some_and(|v| v >= self.plain_from) {
                                i = skip_block(s, end);
                            } else {
                                self.in_exec = true;
                                i = end;
                            }
                        }
                        _ => i = skip_block(s, i + 2),
                    }
                }
                b'*' if self.in_exec && s.get(i + 1) == Some(&b'/') => {
                    self.in_exec = false;
                    i += 2;
                }
                _ => break,
            }
        }
        let after_dot = std::mem::replace(&mut self.after_dot, false);
        let b = s[i];
        let c = class(b);
        // Most frequent first.
        let (tk, start, end, next) = if c == C_IDENT {
            let j = word_end(s, i);
            let tk = if after_dot { Tk::Ident } else { Tk::Word };
            (tk, i, j, j)
        } else if c == C_BACKTICK {
            let j = scan_quoted_ident(s, i + 1, b'`');
            (Tk::Ident, i + 1, j, (j + 1).min(n))
        } else if c == C_QUOTE {
            if b == b'"' {
                self.seen |= SEEN_DOUBLE_QUOTE;
            }
            if b == b'"' && self.quirks & Q_ANSI_QUOTES != 0 {
                let j = scan_quoted_ident(s, i + 1, b'"');
                (Tk::Ident, i + 1, j, (j + 1).min(n))
            } else {
                let j = self.scan_string(i + 1, b);
                (Tk::Str, i + 1, j, (j + 1).min(n))
            }
        } else if c == C_AT {
            match s.get(i + 1) {
                Some(b'@') => {
                    let j = span(s, i + 2, S_VAR);
                    (Tk::SysVar, i + 2, j, j)
                }
                Some(&c) if is_ident(c) => {
                    let j = span(s, i + 2, S_VAR);
                    (Tk::UserVar, i, j, j)
                }
                Some(&c) if c == b'\'' || c == b'"' => {
                    if c == b'"' {
                        self.seen |= SEEN_DOUBLE_QUOTE;
                    }
                    let j = (self.scan_string(i + 2, c) + 1).min(n);
                    (Tk::UserVar, i, j, j)
                }
                Some(b'`') => {
                    let j = (scan_quoted_ident(s, i + 2, b'`') + 1).min(n);
                    (Tk::UserVar, i, j, j)
                }
                _ => (Tk::Punct, i, i + 1, i + 1),
            }
        } else if c == C_COLON && s.get(i + 1) == Some(&b'=') {
            (Tk::Assign, i, i + 2, i + 2)
        } else {
            // One-byte tokens.
            self.after_dot = c == C_DOT && s.get(i + 1).is_some_and(|&c| is_ident(c));
            (ONE_BYTE[c as usize], i, i + 1, i + 1)
        };
        self.pos = next;
        Some(Token {
            tk,
            text: s.get(start..end).unwrap_or_default(),
            start,
        })
    }
}

/// Index of the first byte at or after `from` equal to `a` or `b` (or the end). Eight
/// bytes at a time (SWAR): identifiers, strings and comments are mostly short, and a
/// byte loop's exit is what mispredicts.
#[inline]
fn find2(s: &[u8], from: usize, a: u8, b: u8) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = from;
    while let Some(x) = s.get(i..i + 8).and_then(|c| c.try_into().ok()) {
        let x = u64::from_le_bytes(x);
        let (xa, xb) = (x ^ pa, x ^ pb);
        // A zero byte in `xa` or `xb` is a match; the lowest flagged byte is exact.
        let z = (xa.wrapping_sub(LO) & !xa | xb.wrapping_sub(LO) & !xb) & HI;
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    s.get(i..)
        .and_then(|r| r.iter().position(|&c| c == a || c == b))
        .map_or(s.len(), |p| i + p)
}

/// Index of the first byte at or after `from` that isn't in the byte set `set` (or the
/// end). A plain loop: runs are short, and cleverer versions (iterators, eight bytes at
/// a time) measured slower.
#[inline]
fn span(s: &[u8], from: usize, set: u8) -> usize {
    let mut i = from.min(s.len());
    while i < s.len() && SETS[usize::from(s[i])] & set != 0 {
        i += 1;
    }
    i
}

/// The end of the word starting at `i`. A number may hold a `.` (`1.5`, `1.`): it's
/// kept, so that the next word isn't mistaken for a qualified name's part.
#[inline]
fn word_end(s: &[u8], i: usize) -> usize {
    if s.get(i).is_some_and(u8::is_ascii_digit) {
        span(s, i + 1, S_NUMBER)
    } else {
        span(s, i + 1, S_IDENT)
    }
}

/// Index just past the next `\n` (or the end).
#[inline]
fn skip_line(s: &[u8], from: usize) -> usize {
    (find2(s, from, b'\n', b'\n') + 1).min(s.len())
}

/// Index just past the next `*/` (or the end).
#[inline]
fn skip_block(s: &[u8], from: usize) -> usize {
    let mut i = from;
    loop {
        i = find2(s, i, b'*', b'*');
        if i + 1 >= s.len() {
            return s.len();
        }
        if s[i + 1] == b'/' {
            return i + 2;
        }
        i += 1;
    }
}

/// Skips the version of an executable comment: 5 digits (MySQL) or 6 (MariaDB).
/// Returns where the comment's SQL starts and the version, if there is one.
#[inline]
fn skip_version(s: &[u8], from: usize) -> (usize, Option<u32>) {
    let digits = s.get(from..).map_or(0, |r| {
        r.iter().take(6).take_while(|c| c.is_ascii_digit()).count()
    });
    if digits >= 5 {
        let version = s[from..from + digits]
            .iter()
            .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
        (from + digits, Some(version))
    } else {
        (from, None)
    }
}

/// Index of the closing quote `q` of a string starting at `from` (or the end), honouring
/// doubled quotes and, unless `no_backslash_escapes`, backslash escapes; and whether the
/// string holds a backslash.
#[inline]
fn scan_string(s: &[u8], from: usize, q: u8, no_backslash_escapes: bool) -> (usize, bool) {
    let n = s.len();
    let mut j = from;
    let mut backslash = false;
    loop {
        j = find2(s, j, q, b'\\');
        if j >= n {
            return (n, backslash);
        }
        if s[j] == b'\\' {
            backslash = true;
            // A backslash escapes the next byte (in the default reading).
            j += if no_backslash_escapes { 1 } else { 2 };
        } else if s.get(j + 1) == Some(&q) {
            // A doubled quote is a quote.
            j += 2;
        } else {
            return (j, backslash);
        }
    }
}

/// Index of the closing quote `q` of text starting at `from` where only a doubled `q`
/// escapes (a backticked identifier, an ANSI `"` one, a string without backslash
/// escapes), or the end.
#[inline]
fn scan_quoted_ident(s: &[u8], from: usize, q: u8) -> usize {
    let n = s.len();
    let mut j = from;
    loop {
        j = find2(s, j, q, q);
        if j >= n {
            return n;
        }
        if s.get(j + 1) == Some(&q) {
            j += 2;
        } else {
            return j;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Keywords

/// Defines [`Kw`], with each keyword's text, and the lookup table behind [`keyword`].
macro_rules! keywords {
    ($($kw:ident = $text:literal,)*) => {
        /// The words classification cares about.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Kw {
            None,
            $($kw,)*
        }

        /// Every keyword with its text.
        const ALL_KEYWORDS: &[(Kw, &[u8])] = &[$((Kw::$kw, $text),)*];

        /// Each keyword's text, indexed by `Kw as usize`.
        const KW_TEXTS: &[&[u8]] = &[b"", $($text,)*];
    };
}

keywords! {
    Select = b"SELECT",
    With = b"WITH",
    Insert = b"INSERT",
    Replace = b"REPLACE",
    Update = b"UPDATE",
    Delete = b"DELETE",
    Load = b"LOAD",
    Data = b"DATA",
    Xml = b"XML",
    Create = b"CREATE",
    Alter = b"ALTER",
    Drop = b"DROP",
    Truncate = b"TRUNCATE",
    Rename = b"RENAME",
    Grant = b"GRANT",
    Revoke = b"REVOKE",
    Analyze = b"ANALYZE",
    Optimize = b"OPTIMIZE",
    Repair = b"REPAIR",
    Flush = b"FLUSH",
    Reset = b"RESET",
    Purge = b"PURGE",
    Install = b"INSTALL",
    Uninstall = b"UNINSTALL",
    Import = b"IMPORT",
    Lock = b"LOCK",
    Unlock = b"UNLOCK",
    Call = b"CALL",
    Do = b"DO",
    Set = b"SET",
    Use = b"USE",
    Show = b"SHOW",
    Explain = b"EXPLAIN",
    Describe = b"DESCRIBE",
    Desc = b"DESC",
    Begin = b"BEGIN",
    Start = b"START",
    Commit = b"COMMIT",
    Rollback = b"ROLLBACK",
    Savepoint = b"SAVEPOINT",
    Release = b"RELEASE",
    Xa = b"XA",
    Get = b"GET",
    Handler = b"HANDLER",
    Prepare = b"PREPARE",
    Execute = b"EXECUTE",
    Deallocate = b"DEALLOCATE",
    Kill = b"KILL",
    Table = b"TABLE",
    Tables = b"TABLES",
    Values = b"VALUES",
    Temporary = b"TEMPORARY",
    Or = b"OR",
    Sequence = b"SEQUENCE",
    If = b"IF",
    Not = b"NOT",
    Exists = b"EXISTS",
    Transaction = b"TRANSACTION",
    Work = b"WORK",
    To = b"TO",
    Read = b"READ",
    Only = b"ONLY",
    Statement = b"STATEMENT",
    For = b"FOR",
    Global = b"GLOBAL",
    Persist = b"PERSIST",
    PersistOnly = b"PERSIST_ONLY",
    Session = b"SESSION",
    Local = b"LOCAL",
    Password = b"PASSWORD",
    Role = b"ROLE",
    Default = b"DEFAULT",
    Names = b"NAMES",
    Character = b"CHARACTER",
    Charset = b"CHARSET",
    Autocommit = b"AUTOCOMMIT",
    Warnings = b"WARNINGS",
    Errors = b"ERRORS",
    Count = b"COUNT",
    Profile = b"PROFILE",
    Profiles = b"PROFILES",
    Diagnostics = b"DIAGNOSTICS",
    Current = b"CURRENT",
    Stacked = b"STACKED",
    NoWriteToBinlog = b"NO_WRITE_TO_BINLOG",
    Format = b"FORMAT",
    In = b"IN",
    Share = b"SHARE",
    Into = b"INTO",
    SqlCalcFoundRows = b"SQL_CALC_FOUND_ROWS",
    LastInsertId = b"LAST_INSERT_ID",
    FoundRows = b"FOUND_ROWS",
    RowCount = b"ROW_COUNT",
    GetLock = b"GET_LOCK",
    ReleaseLock = b"RELEASE_LOCK",
    ReleaseAllLocks = b"RELEASE_ALL_LOCKS",
    IsFreeLock = b"IS_FREE_LOCK",
    IsUsedLock = b"IS_USED_LOCK",
    Nextval = b"NEXTVAL",
    Setval = b"SETVAL",
    Lastval = b"LASTVAL",
    Next = b"NEXT",
    Previous = b"PREVIOUS",
    Value = b"VALUE",
    Key = b"KEY",
    Index = b"INDEX",
    Unique = b"UNIQUE",
    References = b"REFERENCES",
}

/// The shortest name of a flagged built-in function, `SETVAL`.
const MIN_FUNCTION_NAME: usize = 6;

/// The longest name of a flagged built-in function, `RELEASE_ALL_LOCKS`.
const MAX_FUNCTION_NAME: usize = 17;

/// The longest keyword, `SQL_CALC_FOUND_ROWS`.
const MAX_KW: usize = 19;

/// The first 16 bytes of `s`, little-endian, zero-padded. Keywords are made of `A-Z` and
/// `_` only, so none has bit 5 (0x20) set in any byte.
const fn pack(s: &[u8]) -> u128 {
    let mut k = 0u128;
    let mut i = 0;
    while i < s.len() && i < 16 {
        k |= (s[i] as u128) << (8 * i);
        i += 1;
    }
    k
}

/// Clears bit 5 of every byte: folds `a-z` onto `A-Z`. No other identifier byte folds
/// onto `A-Z` or `_` (only `DEL`, which isn't one, folds onto `_`), so a folded word
/// equals a keyword exactly when the word is that keyword in any case.
const FOLD: u128 = !0x2020_2020_2020_2020_2020_2020_2020_2020;

/// Slots of the keyword hash table (a power of two, over twice the keyword count).
const KW_SLOTS: usize = 256;

/// A packed word's slot: a multiplicative hash's top 8 bits.
#[inline]
const fn kw_slot(key: u128) -> usize {
    let x = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

/// The keyword hash table, built at compile time: packed text per slot (0: empty) and
/// the keyword there. Open addressing with linear probing. A hash and one or two
/// compares beat a `match` over 100+ strings by far.
static KW_TABLE: ([u128; KW_SLOTS], [Kw; KW_SLOTS]) = {
    let mut keys = [0u128; KW_SLOTS];
    let mut kws = [Kw::None; KW_SLOTS];
    let mut i = 0;
    while i < ALL_KEYWORDS.len() {
        let (kw, text) = ALL_KEYWORDS[i];
        let key = pack(text);
        let mut h = kw_slot(key);
        while keys[h] != 0 {
            assert!(keys[h] != key, "two keywords share their first 16 bytes");
            h = (h + 1) % KW_SLOTS;
        }
        keys[h] = key;
        kws[h] = kw;
        i += 1;
    }
    assert!(ALL_KEYWORDS.len() * 2 < KW_SLOTS);
    (keys, kws)
};

/// For each first letter (its low 5 bits, which ignore case), a bit per length that
/// some keyword starting with it has.
static KW_SHAPES: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut i = 0;
    while i < ALL_KEYWORDS.len() {
        let text = ALL_KEYWORDS[i].1;
        t[(text[0] & 0x1f) as usize] |= 1 << text.len();
        i += 1;
    }
    t
};

/// Little-endian loads of `word[at..]`; the callers keep them in bounds (and `get`
/// makes an error a zero, not a panic).
#[inline(always)]
fn load64(word: &[u8], at: usize) -> u64 {
    word.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

#[inline(always)]
fn load32(word: &[u8], at: usize) -> u32 {
    word.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[inline(always)]
fn load16(word: &[u8], at: usize) -> u16 {
    word.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

/// Looks a word up, ASCII case-insensitively.
#[inline]
fn keyword(word: &[u8]) -> Kw {
    let n = word.len();
    if !(2..=MAX_KW).contains(&n) {
        return Kw::None;
    }
    // Most words aren't keywords: a (first letter, length) filter rejects most of them.
    if KW_SHAPES[usize::from(word[0] & 0x1f)] & (1 << n) == 0 {
        return Kw::None;
    }
    // Pack with overlapping loads straight from the input (copying into a buffer and
    // loading that would stall on store forwarding).
    let (lo, hi) = if n >= 8 {
        let hi = if n >= 16 {
            load64(word, 8)
        } else if n > 8 {
            load64(word, n - 8) >> (8 * (16 - n))
        } else {
            0
        };
        (load64(word, 0), hi)
    } else if n >= 4 {
        let (a, b) = (load32(word, 0), load32(word, n - 4));
        (u64::from(a) | (u64::from(b) << (8 * (n - 4))), 0)
    } else {
        let (a, b) = (load16(word, 0), load16(word, n - 2));
        (u64::from(a) | (u64::from(b) << (8 * (n - 2))), 0)
    };
    let key = ((u128::from(hi) << 64) | u128::from(lo)) & FOLD;
    let (keys, kws) = &KW_TABLE;
    let mut h = kw_slot(key);
    loop {
        let k = keys[h];
        if k == key {
            let kw = kws[h];
            // Only the first 16 bytes were compared: a 16-byte prefix of a longer keyword
            // matches too.
            let text = KW_TEXTS[kw as usize];
            let same = text.len() == n && (n <= 16 || word[16..].eq_ignore_ascii_case(&text[16..]));
            return if same { kw } else { Kw::None };
        }
        if k == 0 {
            return Kw::None;
        }
        h = (h + 1) % KW_SLOTS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Flags = Flags::NONE;
    const RPS: Flags = Flags::READS_PREVIOUS_STATE;
    const CFR: Flags = Flags::CALC_FOUND_ROWS;
    const NL: Flags = Flags::NAMED_LOCK;
    const UVW: Flags = Flags::USER_VARIABLE_WRITE;
    const MULTI: Flags = Flags::MULTI;
    const WF: Flags = Flags::WRITE_FUNCTION;
    const RO: Flags = Flags::READ_ONLY_TXN;
    const AC_OFF: Flags = Flags::AUTOCOMMIT_OFF;
    const AC_ON: Flags = Flags::AUTOCOMMIT_ON;
    const RII: Flags = Flags::READS_INSERT_ID;
    const SII: Flags = Flags::SETS_INSERT_ID;
    const RFR: Flags = Flags::READS_FOUND_ROWS;
    const PH: Flags = Flags::PLACEHOLDER;
    const UNC: Flags = Flags::UNCERTAIN;
    const CUF: Flags = Flags::CALLS_UNKNOWN_FUNCTION;

    #[test]
    fn classification_table() {
        use Kind::*;
        let cases: Vec<(&str, Kind, Flags)> = vec![
            // Diesel-generated
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
            // SET variants
            ("SET NAMES utf8mb4", SetSession, NONE),
            ("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", SetSession, NONE),
            ("SET CHARACTER SET utf8mb4", SetSession, NONE),
            ("SET CHARSET utf8mb4", SetSession, NONE),
            ("SET SESSION sql_mode = 'ANSI'", SetSession, NONE),
            ("SET @@session.sql_mode = ''", SetSession, NONE),
            ("SET @@sql_mode = ''", SetSession, NONE),
            ("SET LOCAL sql_mode = ''", SetSession, NONE),
            ("set @x = 1", SetSession, UVW),
            ("SET @x := LAST_INSERT_ID()", SetSession, UVW | RII),
            ("SET @a = 1, @b := 2", SetSession, UVW),
            ("SET @lock = GET_LOCK('job', 0)", SetSession, UVW | NL),
            ("SET GLOBAL max_connections = 100", SetGlobal, NONE),
            ("SET @@global.max_connections = 100", SetGlobal, NONE),
            ("SET @@GLOBAL.max_connections = 100", SetGlobal, NONE),
            ("SET PERSIST max_connections = 100", SetGlobal, NONE),
            ("SET sql_mode = '', GLOBAL max_connections = 1", SetGlobal, NONE),
            ("SET PASSWORD = 'secret'", SetGlobal, NONE),
            ("SET PASSWORD FOR 'u'@'%' = PASSWORD('x')", SetGlobal, NONE),
            ("SET ROLE admin", SetGlobal, NONE),
            ("SET DEFAULT ROLE admin FOR u", SetGlobal, NONE),
            ("SET default_storage_engine = InnoDB", SetSession, NONE),
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", SetTransaction, NONE),
            ("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", SetTransaction, NONE),
            ("SET TRANSACTION READ ONLY", SetTransaction, NONE),
            ("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", SetGlobal, NONE),
            ("SET transaction_isolation = 'READ-COMMITTED'", SetSession, NONE),
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
            ("SET STATEMENT max_statement_time=1 FOR SELECT * FROM t", Select, NONE),
            ("SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", Update, NONE),
            ("SET STATEMENT sql_mode='', max_statement_time=10 FOR SELECT * FROM t FOR UPDATE", LockingRead, NONE),
            ("SET STATEMENT max_statement_time=1", Other, NONE),
            // executable comments
            ("/*!40101 SET NAMES utf8mb4 */", SetSession, NONE),
            ("/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;", SetSession, UVW),
            ("/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;", SetSession, UVW),
            ("/*!40103 SET TIME_ZONE='+00:00' */", SetSession, NONE),
            ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", Ddl, NONE),
            ("/*M!100100 SELECT 1 */", Select, UNC),
            ("/*M!100000 SELECT 1 */", Select, NONE),
            ("/*!*/ SELECT 1", Select, NONE),
            ("SELECT 1 /*!50000 FOR UPDATE */", LockingRead, NONE),
            ("SELECT 1 /*M!100000 FOR UPDATE */", LockingRead, NONE),
            ("SELECT /*! SQL_CALC_FOUND_ROWS */ * FROM t", Select, CFR),
            ("SELECT /*+ MAX_EXECUTION_TIME(1000) FOR UPDATE */ * FROM t", Select, NONE),
            ("/*!40101 SET NAMES utf8", SetSession, NONE),
            // stateful functions and variables
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
            // SELECT ... INTO
            ("SELECT a INTO @x FROM t", SelectInto, UVW),
            ("SELECT a FROM t INTO @x", SelectInto, UVW),
            ("SELECT * FROM t INTO OUTFILE '/tmp/x'", SelectInto, NONE),
            ("SELECT * INTO DUMPFILE '/tmp/x' FROM t", SelectInto, NONE),
            ("SELECT a INTO @x FROM t FOR UPDATE", SelectInto, UVW),
            // CTEs, parentheses, unions
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
            // plain reads
            ("SELECT 1", Select, NONE),
            ("SELECT 1 FROM DUAL", Select, NONE),
            ("SELECT NOW()", Select, NONE),
            ("TABLE t", Select, NONE),
            ("VALUES (1), (2)", Select, NONE),
            ("VALUES ROW(1, 2)", Select, NONE),
            ("SELECT REPLACE(name, 'a', 'b') FROM t", Select, NONE),
            ("SELECT * FROM t ORDER BY x DESC", Select, NONE),
            ("SELECT * FROM t1 FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'", Select, NONE),
            // keywords in strings, identifiers, comments
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
            ("SELECT * FROM t WHERE name = 'x' -- FOR UPDATE", Select, NONE),
            ("SELECT * FROM t FOR /* c */ UPDATE", LockingRead, NONE),
            ("SELECT\n\t`users`.`id`\nFROM\n\t`users`\nFOR\nUPDATE", LockingRead, NONE),
            ("UPDATE t SET a = 'SELECT'", Update, NONE),
            ("SELECT 'a;b'", Select, NONE),
            ("SELECT `a;b` FROM t; ", Select, NONE),
            ("SELECT 1 /* ; */", Select, NONE),
            ("SELECT 'SELECT 1; DROP TABLE t'", Select, NONE),
            // leading noise and casing
            ("# comment\nSELECT 1", Select, NONE),
            ("-- comment\nSELECT 1", Select, NONE),
            ("/* leading */ SELECT 1", Select, NONE),
            ("  \n\t ;; SELECT 1", Select, NONE),
            ("\r\n-- a\n# b\n/* c */ select 1", Select, NONE),
            ("sElEcT 1", Select, NONE),
            ("select * from t for update", LockingRead, NONE),
            ("Select * From t Lock In Share Mode", LockingRead, NONE),
            ("SELECT\r\n1", Select, NONE),
            // empty
            ("", Empty, NONE),
            (";;;", Empty, NONE),
            ("   \n", Empty, NONE),
            ("/* only a comment */", Empty, NONE),
            ("-- only\n# comments\n/* here */;", Empty, NONE),
            ("/*!*/", Empty, NONE),
            // transactions
            ("BEGIN WORK", Begin, NONE),
            ("begin;", Begin, NONE),
            ("START TRANSACTION", Begin, NONE),
            ("START TRANSACTION READ ONLY", Begin, RO),
            ("START TRANSACTION READ WRITE", Begin, NONE),
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", Begin, RO),
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
            // locks, calls, use
            ("LOCK TABLES t READ, u WRITE", LockTables, NONE),
            ("LOCK TABLE t WRITE", LockTables, NONE),
            ("UNLOCK TABLES", UnlockTables, NONE),
            ("LOCK INSTANCE FOR BACKUP", Other, NONE),
            ("CALL proc(1)", Call, CUF),
            ("USE mydb", Use, NONE),
            ("use `my db`;", Use, NONE),
            // DDL and temporary tables
            ("CREATE TABLE t (id INT)", Ddl, NONE),
            ("CREATE TEMPORARY TABLE tmp (id INT)", CreateTemporaryTable, NONE),
            ("CREATE TEMPORARY TABLE IF NOT EXISTS `tmp` SELECT * FROM t", CreateTemporaryTable, NONE),
            ("CREATE TEMPORARY TABLE `tmp` AS SELECT LAST_INSERT_ID()", CreateTemporaryTable, RII),
            ("CREATE OR REPLACE TEMPORARY TABLE tmp (id INT)", CreateTemporaryTable, NONE),
            ("CREATE TEMPORARY SEQUENCE s", CreateTemporaryTable, NONE),
            ("DROP TEMPORARY TABLE tmp", DropTemporaryTable, NONE),
            ("DROP TEMPORARY TABLE IF EXISTS tmp", DropTemporaryTable, NONE),
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
            // SHOW, EXPLAIN, diagnostics
            ("SHOW WARNINGS", Show, RPS),
            ("SHOW ERRORS LIMIT 10", Show, RPS),
            ("SHOW COUNT(*) WARNINGS", Show, RPS),
            ("show count ( * ) errors", Show, RPS),
            ("SHOW PROFILES", Show, RPS),
            ("SHOW TABLES", Show, NONE),
            ("SHOW CREATE TABLE `users`", Show, NONE),
            ("SHOW FULL PROCESSLIST", Show, NONE),
            ("GET DIAGNOSTICS @n = NUMBER", GetDiagnostics, RPS),
            ("GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", GetDiagnostics, RPS),
            ("GET STACKED DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", GetDiagnostics, RPS),
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
            ("EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", LockingRead, NONE),
            // prepared statements, handler, kill
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
            // batches
            ("SELECT 1; SELECT 2", Select, MULTI),
            ("SELECT 1;", Select, NONE),
            ("SELECT 1; ; -- trailing\n", Select, NONE),
            ("SELECT 1; INSERT INTO t VALUES (1)", Insert, MULTI),
            ("SET time_zone = '+01:00'; SELECT 1", SetSession, MULTI),
            ("BEGIN; UPDATE t SET a = 1; COMMIT", Update, MULTI),
            ("SET NAMES utf8; USE db", SetSession, MULTI),
            ("SELECT 1; SELECT * FROM t FOR UPDATE; SHOW WARNINGS", LockingRead, MULTI | RPS),
            ("SELECT 1; SELECT GET_LOCK('x', 1)", Select, MULTI | NL),
            ("SELECT 1 INTO @a; SELECT @a", SelectInto, MULTI | UVW),
            ("SET autocommit = 0; SET autocommit = 1", SetAutocommit, MULTI | AC_OFF | AC_ON),
            ("DELETE FROM t; SET GLOBAL x = 1", Delete, MULTI),
            ("SELECT 1 -- c; SELECT 2\n; SELECT 3", Select, MULTI),
            // other writes
            ("INSERT INTO t SELECT * FROM u", Insert, NONE),
            ("INSERT INTO t SELECT * FROM u FOR UPDATE", Insert, Flags::LOCKING),
            ("DELETE t FROM t JOIN u ON t.id = u.id", Delete, NONE),
            // garbage and unterminated input
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
            ("SELECT é FROM ü WHERE ñ = 'ö' FOR UPDATE", LockingRead, NONE),
        ];
        assert!(cases.len() >= 100, "{}", cases.len());
        let mut failures = Vec::new();
        for (sql, kind, flags) in &cases {
            let got = classify(sql);
            let want = Classification {
                kind: *kind,
                flags: *flags,
            };
            if got != want {
                failures.push(format!("{sql:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// The defects these flags were built for, verbatim, and their neighbours.
    #[test]
    fn readings_and_new_flags() {
        use Kind::*;
        let cases: &[(&str, Kind, Flags)] = &[
            // Backticked built-ins, called, count as the bare word.
            ("SELECT `get_lock`('l', 0)", Select, NL),
            ("SELECT `GET_LOCK` ('l', 0)", Select, NL),
            ("SELECT `get_lock` /* c */ ('l', 0)", Select, NL),
            // Backticked, these call a stored function `nextval` (the server says so).
            ("SELECT `NEXTVAL`(s)", Select, WF | CUF),
            ("SELECT `setval`(s, 1), `lastval`(s)", Select, WF | CUF),
            ("SELECT `last_insert_id`()", Select, RII),
            ("SELECT `last_insert_id`(5)", Select, SII),
            ("SELECT `found_rows`()", Select, RFR),
            ("SELECT `row_count`()", Select, RPS),
            (
                "SELECT `release_all_locks`(), `is_free_lock`('a')",
                Select,
                NL,
            ),
            ("SELECT `get_lock` FROM t", Select, NONE),
            (
                "SELECT `t`.`get_lock`, `get_lock`.`x` FROM `get_lock`",
                Select,
                NONE,
            ),
            ("SELECT 1 /* c */ `get_lock`('l', 0)", Select, NL),
            ("SELECT get_lock ('l', 0)", Select, NL),
            // The insert id, found rows and the rest of the previous statement's state.
            ("SELECT LAST_INSERT_ID()", Select, RII),
            ("SELECT LAST_INSERT_ID( )", Select, RII),
            ("SELECT LAST_INSERT_ID(42)", Select, SII),
            ("UPDATE t SET id = LAST_INSERT_ID(id + 1)", Update, SII),
            ("SELECT @@insert_id, @@session.identity", Select, RII),
            ("SELECT FOUND_ROWS()", Select, RFR),
            ("SELECT ROW_COUNT(), @@warning_count", Select, RPS),
            ("SHOW WARNINGS", Show, RPS),
            ("GET DIAGNOSTICS @n = NUMBER", GetDiagnostics, RPS),
            // Placeholders.
            ("SELECT * FROM t WHERE a = ?", Select, PH),
            ("SELECT * FROM t WHERE a=?", Select, PH),
            ("SELECT ?", Select, PH),
            ("SELECT '?', `?`, \"?\" /* ? */ -- ?\n", Select, NONE),
            ("SELECT 1 # ?", Select, NONE),
            ("SELECT /*! ? */", Select, PH),
            // A backslash in a string: NO_BACKSLASH_ESCAPES splits elsewhere.
            ("SELECT 'a\\'; DELETE FROM t; -- '", Select, UNC),
            ("SELECT 'a\\' FOR UPDATE -- '", Select, UNC),
            ("SELECT 'a\\', GET_LOCK('l', 0) -- '", Select, UNC),
            ("SELECT 'O\\'Brien'", Select, NONE),
            ("SELECT 'a\\nb' FROM t", Select, NONE),
            ("SELECT 'C:\\\\dir' FROM t", Select, NONE),
            // `"`: ANSI_QUOTES makes it an identifier.
            ("SELECT \"a\"; DELETE FROM t", Delete, MULTI),
            ("SELECT \"a\" FROM t", Select, NONE),
            ("SELECT \"get_lock\"('l', 0)", Select, UNC),
            ("SELECT \"a'\"; DELETE FROM t; -- '", Delete, MULTI),
            ("SELECT \"a\\\"; DELETE FROM t; -- \"", Select, UNC),
            // Versioned comments a server may not run.
            (
                "SELECT 1 /*M!999999 ' */, GET_LOCK('l',0) /* ' */",
                Select,
                UNC,
            ),
            (
                "SELECT 1 /*M!110000 ' */, GET_LOCK('l',0) /* ' */",
                Select,
                UNC,
            ),
            // Every supported server (MariaDB 10.0+) runs five-digit versions.
            (
                "SELECT 1 /*!99999 ' */, GET_LOCK('l',0) /* ' */",
                Select,
                NONE,
            ),
            ("SELECT 1 /*!999999 FOR UPDATE */", LockingRead, UNC),
            ("SELECT 1 /*M!100500 , 2 */", Select, NONE),
            (
                "SELECT 1 /*M!110000 , GET_LOCK('l', 0) */",
                Select,
                NL | UNC,
            ),
            ("/*!110000 DELETE FROM t; */ SELECT 1", Delete, MULTI | UNC),
            ("SELECT 1 /*!40101 , 2 */", Select, NONE),
            ("SELECT 1 /*! FOR UPDATE */", LockingRead, NONE),
            ("SELECT 1 /*M! FOR UPDATE */", LockingRead, NONE),
            (
                "SELECT 1 /*M!110000 , 2 */ /*M!120000 , 3 */ /*M!130000 , GET_LOCK('l', 0) */",
                Select,
                NL | UNC,
            ),
            // Readings combine: the backslash hides a `"` in the default reading.
            ("SELECT 'a\\' \"get_lock\"('l', 0) -- '", Select, UNC),
            // Compound statements: one statement, never a read or a BEGIN.
            (
                "BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END",
                Other,
                NONE,
            ),
            ("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", Other, NONE),
            ("begin not atomic select get_lock('l', 0); end", Other, NL),
            ("IF 1 THEN INSERT INTO t VALUES (1); END IF", Other, NONE),
            ("CASE WHEN 1 THEN SELECT 1; END CASE", Other, NONE),
            ("LOOP SELECT 1; LEAVE; END LOOP", Other, NONE),
            ("WHILE 1 DO SELECT 1; END WHILE", Other, NONE),
            ("REPEAT SELECT 1; UNTIL 1 END REPEAT", Other, NONE),
            ("FOR i IN 1..3 DO SELECT 1; END FOR", Other, NONE),
            ("DECLARE x INT", Other, NONE),
            ("lbl: BEGIN SELECT 1; END", Other, NONE),
            ("lbl:LOOP SELECT 1; END LOOP", Other, NONE),
            ("`my label` : WHILE 1 DO SELECT 1; END WHILE", Other, NONE),
            ("SELECT 1; BEGIN NOT ATOMIC SELECT 1; END", Other, MULTI),
            ("BEGIN; SELECT 1", Begin, MULTI),
            ("BEGIN WORK", Begin, NONE),
            ("foo: SELECT 1", Other, NONE),
        ];
        let mut failures = Vec::new();
        for (sql, kind, flags) in cases {
            let got = classify(sql);
            let want = Classification {
                kind: *kind,
                flags: *flags,
            };
            if got != want {
                failures.push(format!("{sql:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn uncertain_batches_and_compounds_split() {
        let split = |sql| -> Vec<(&str, Classification)> { statements(sql).collect() };
        // Every statement of an uncertain batch is uncertain.
        let parts = split("SELECT 1; SELECT 'a\\'; DELETE FROM t; -- '");
        assert_eq!(parts.len(), 2);
        assert!(
            parts.iter().all(|(_, c)| c.flags.contains(UNC)),
            "{parts:?}"
        );
        // A compound statement is one statement, with its inner `;`.
        let parts = split("BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END; SELECT 2");
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_eq!(
            parts[0].0,
            "BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END; SELECT 2"
        );
        assert_eq!(parts[0].1.kind, Kind::Other);
        let parts = split("SET @a = 1; lbl: BEGIN SELECT 1; END");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0, "lbl: BEGIN SELECT 1; END");
        // More distinct versions than get a reading each: uncertain outright.
        let many: String = (0..=MAX_VERSION_READINGS)
            .map(|i| format!("/*!{} SELECT 1 */;", 110_000 + i))
            .collect();
        assert!(classify(&many).flags.contains(UNC));
    }

    #[test]
    fn statements_split_batches() {
        let split =
            |sql| -> Vec<(&str, Kind)> { statements(sql).map(|(s, c)| (s, c.kind)).collect() };
        assert_eq!(
            split("SET time_zone='+01:00'; SELECT 1"),
            [
                ("SET time_zone='+01:00'", Kind::SetSession),
                ("SELECT 1", Kind::Select)
            ]
        );
        assert_eq!(
            split("  ;; /* c */ ; SELECT 1 ;\n"),
            [("SELECT 1", Kind::Select)]
        );
        assert_eq!(
            split("SELECT 'a;b'; SELECT `c;d`"),
            [
                ("SELECT 'a;b'", Kind::Select),
                ("SELECT `c;d`", Kind::Select)
            ]
        );
        assert_eq!(
            split("/*!40101 SET NAMES utf8 */;\nINSERT INTO t VALUES (1);"),
            [
                ("/*!40101 SET NAMES utf8 */", Kind::SetSession),
                ("INSERT INTO t VALUES (1)", Kind::Insert)
            ]
        );
        assert_eq!(
            split("SELECT 1 -- c; SELECT 2\n; SELECT 3"),
            [
                ("SELECT 1 -- c; SELECT 2", Kind::Select),
                ("SELECT 3", Kind::Select)
            ]
        );
        assert_eq!(
            split("BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT;"),
            [
                ("BEGIN", Kind::Begin),
                ("UPDATE t SET a = 1 WHERE id = 2", Kind::Update),
                ("COMMIT", Kind::Commit)
            ]
        );
        assert!(split("").is_empty());
        assert!(split(" ; -- x\n ; /* y */").is_empty());
        // Each statement is classified alone: no MULTI, its own flags.
        let all: Vec<_> = statements("SELECT 1; SELECT LAST_INSERT_ID()").collect();
        assert_eq!(all[0].1.flags, Flags::NONE);
        assert_eq!(all[1].1.flags, Flags::READS_INSERT_ID);
    }

    #[test]
    fn target_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("USE mydb", Some("mydb")),
            ("use `my db`;", Some("my db")),
            ("  /* c */ USE db1 ; SELECT 1", Some("db1")),
            ("/*!40101 USE db2 */", Some("db2")),
            ("CREATE TEMPORARY TABLE tmp (id INT)", Some("tmp")),
            (
                "create temporary table if not exists `db`.`tmp_x` select 1",
                Some("tmp_x"),
            ),
            (
                "CREATE OR REPLACE TEMPORARY TABLE `t``x` (a int)",
                Some("t``x"),
            ),
            ("CREATE TEMPORARY TABLE é_tbl (a int)", Some("é_tbl")),
            ("DROP TEMPORARY TABLE IF EXISTS db.tmp", Some("tmp")),
            ("DROP TEMPORARY TABLE a, b", Some("a")),
            ("DROP TEMPORARY TABLE `Tmp`", Some("Tmp")),
            (
                "SET STATEMENT max_statement_time=1 FOR CREATE TEMPORARY TABLE t2 (a int)",
                Some("t2"),
            ),
            ("SELECT 1", None),
            ("CREATE TABLE t (id int)", None),
            ("USE", None),
            ("USE ;", None),
            ("", None),
            ("CREATE TEMPORARY TABLE", None),
            ("CREATE TEMPORARY TABLE db.", None),
            ("DROP TEMPORARY TABLE IF EXISTS", None),
        ];
        for (sql, want) in cases {
            assert_eq!(target_name(sql), *want, "{sql:?}");
        }
    }

    #[test]
    fn write_kinds_and_names() {
        use Kind::*;
        let all = [
            Select,
            LockingRead,
            SelectInto,
            Insert,
            Replace,
            Update,
            Delete,
            LoadData,
            Ddl,
            CreateTemporaryTable,
            DropTemporaryTable,
            LockTables,
            UnlockTables,
            Call,
            Do,
            SetSession,
            SetTransaction,
            SetGlobal,
            SetAutocommit,
            Use,
            Show,
            Explain,
            Begin,
            Commit,
            Rollback,
            Savepoint,
            ReleaseSavepoint,
            RollbackToSavepoint,
            Xa,
            GetDiagnostics,
            Handler,
            Prepare,
            Execute,
            Deallocate,
            Kill,
            Other,
            Empty,
        ];
        let writes = [
            Insert, Replace, Update, Delete, LoadData, Ddl, LockTables, SelectInto, Call, Execute,
            Xa, SetGlobal, Kill, Other,
        ];
        let mut names = std::collections::HashSet::new();
        for k in all {
            assert_eq!(k.is_write(), writes.contains(&k), "{k:?}");
            assert!(!k.name().is_empty());
            assert!(names.insert(k.name()), "duplicate name {}", k.name());
        }
        assert_eq!(Insert.name(), "INSERT");
        assert_eq!(Ddl.name(), "CREATE/ALTER/DROP (DDL)");
        assert_eq!(LockTables.name(), "LOCK TABLES");
    }

    #[test]
    fn unknown_function_calls() {
        // (sql, calls a function the server doesn't ship)
        let cases: &[(&str, bool)] = &[
            // native calls, as Diesel and people write them
            ("SELECT COUNT(*) FROM `users`", false),
            ("SELECT COUNT(DISTINCT `users`.`id`) FROM `users`", false),
            ("SELECT SUM(a), AVG(a), MIN(a), MAX(a) FROM t", false),
            ("SELECT COALESCE(a, 0), IFNULL(b, 1), NULLIF(c, 2) FROM t", false),
            ("SELECT `users`.`id` FROM `users` WHERE (LOWER(`users`.`name`) = LOWER(?))", false),
            ("SELECT UPPER(a), CONCAT(a, b), CONCAT_WS(',', a) FROM t", false),
            ("SELECT NOW(), DATE(NOW()), CURRENT_TIMESTAMP(6), UTC_TIMESTAMP()", false),
            ("SELECT CAST(a AS DECIMAL(10,2)), CAST(b AS CHAR(10)), CONVERT(c, SIGNED)", false),
            ("SELECT CONVERT(a USING utf8mb4) FROM t", false),
            ("SELECT JSON_EXTRACT(doc, '$.a'), JSON_OBJECT('a', 1), JSON_ARRAYAGG(x) FROM t", false),
            ("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b), RANK() OVER w FROM t WINDOW w AS (ORDER BY a)", false),
            ("SELECT IF(a, 1, 2), LEFT(s, 2), CHAR(65), ST_AsText(POINT(1, 2)) FROM t", false),
            ("SELECT lower (a), count /* c */ (*) FROM t", false),
            ("SELECT `lower`(a), `json_extract`(d, '$') FROM t", false),
            // syntax that looks like a call
            ("SELECT * FROM t WHERE a IN (1, 2) AND EXISTS (SELECT 1) AND b = ANY (SELECT 1)", false),
            ("SELECT * FROM t WHERE a > ALL (SELECT 1) OR a = SOME (SELECT 2)", false),
            ("SELECT * FROM t1 JOIN t2 USING (id) JOIN t3 ON (t3.a = t1.a)", false),
            ("SELECT * FROM t USE INDEX (i) FORCE INDEX FOR JOIN (j) IGNORE KEY (k)", false),
            ("SELECT * FROM t WHERE MATCH (a, b) AGAINST ('x' IN BOOLEAN MODE)", false),
            ("SELECT NOW() - INTERVAL (1) DAY, INTERVAL(5, 1, 10)", false),
            ("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS jt", false),
            ("WITH t (a, b) AS (SELECT 1, 2), u (c) AS (SELECT 3) SELECT * FROM t, u", false),
            ("WITH RECURSIVE cte (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM cte) SELECT * FROM cte", false),
            ("VALUES (1), (2)", false),
            ("SELECT ROW(1, 2) = ROW(1, 2)", false),
            ("SELECT a FROM t LIMIT 1", false),
            ("SELECT DISTINCT(a) FROM t WHERE NOT(a) AND (a) OR(b)", false),
            ("INSERT INTO `users` (`name`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)", false),
            ("INSERT INTO db.t (a) VALUES (1)", false),
            ("INSERT INTO `db`.`t`(a) VALUES (1)", false),
            ("INSERT IGNORE t (a) VALUES (1)", false),
            ("REPLACE LOW_PRIORITY INTO t (a) VALUES (1)", false),
            ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (a INT(11), b VARCHAR(10), KEY k (a), UNIQUE u (b))", false),
            ("CREATE TEMPORARY TABLE tmp (a DECIMAL(10, 2) NOT NULL DEFAULT 0, PRIMARY KEY (a))", false),
            ("LOAD DATA INFILE 'f' INTO TABLE t (a, b)", false),
            ("SELECT my_col FROM t", false),
            ("SELECT t.my_fn FROM t", false),
            ("SELECT 'my_fn(1)', \"f(2)\" -- g(3)\n", false),
            // stored functions: plain, backticked, qualified
            ("SELECT my_fn(1)", true),
            ("select My_Fn()", true),
            ("SELECT id FROM t WHERE f(x) > 0", true),
            ("SELECT `my_fn`(1)", true),
            ("SELECT `db`.`fn`(1)", true),
            ("SELECT db.fn(1)", true),
            ("SELECT db.lower(1)", true),
            ("SELECT `count`(*) FROM t", true),
            ("SELECT `if`(1, 2, 3)", true),
            ("SELECT data(1), status(2)", true),
            // comments and whitespace between the name and `(`
            ("SELECT my_fn (1)", true),
            ("SELECT my_fn /* c */ (1)", true),
            ("SELECT my_fn -- c\n (1)", true),
            ("SELECT `my_fn` # c\n (1)", true),
            ("SELECT my_fn/*!*/(1)", true),
            // inside subqueries, CTEs, SET, other statements
            ("SELECT * FROM t WHERE a IN (SELECT f(b) FROM u)", true),
            ("SELECT * FROM (SELECT g(1) AS x) AS d", true),
            ("WITH x AS (SELECT f(1)) SELECT * FROM x", true),
            ("WITH x (a) AS (SELECT 1) SELECT f(a) FROM x", true),
            ("SET @v = my_fn(3)", true),
            ("SET @a = 1, @b = (SELECT f(2))", true),
            ("SET STATEMENT max_statement_time=1 FOR SELECT f(1)", true),
            ("SELECT * FROM t1 JOIN t2 ON f(t1.a) = t2.b", true),
            ("INSERT INTO t (a) SELECT f(b) FROM u", true),
            ("INSERT INTO t (a) VALUES (f(1))", true),
            ("UPDATE t SET a = f(a)", true),
            ("CREATE TEMPORARY TABLE tmp AS SELECT f(1) AS a", true),
            ("DO my_fn(1)", true),
            ("CALL proc()", true),
            ("EXPLAIN SELECT f(1)", true),
            ("SELECT 1; SELECT f(1)", true),
            ("SELECT a FROM t INTO @x WHERE f(1)", true),
        ];
        let mut failures = Vec::new();
        for &(sql, want) in cases {
            let got = classify(sql).flags.contains(Flags::CALLS_UNKNOWN_FUNCTION);
            if got != want {
                failures.push(format!("{sql:?}: got {got}, want {want}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(cases.len() >= 40);
    }

    #[test]
    fn function_names_table() {
        use functions::is_known_call;
        assert_eq!(functions::NAME_COUNT, 800);
        for name in [
            "COUNT",
            "count",
            "Lower",
            "JSON_EXTRACT",
            "ROW_NUMBER",
            "ST_ASTEXT",
            "IN",
            "OVER",
            "VARCHAR",
            "MASTER_SSL_VERIFY_SERVER_CERT",
        ] {
            assert!(is_known_call(name.as_bytes(), false), "{name}");
        }
        for name in ["LOWER", "json_extract", "ST_X", "GET_LOCK"] {
            assert!(is_known_call(name.as_bytes(), true), "`{name}`");
        }
        for name in ["COUNT", "IF", "IN", "NEXTVAL"] {
            assert!(!is_known_call(name.as_bytes(), true), "`{name}`");
        }
        for name in [
            "",
            "my_fn",
            "DATA",
            "LOWE",
            "LOWERR",
            "MASTER_SSL_VERIFY_SERVER_CERTX",
            "ÿ",
        ] {
            assert!(!is_known_call(name.as_bytes(), false), "{name}");
        }
    }

    #[test]
    fn keyword_lookup() {
        for &(kw, text) in ALL_KEYWORDS {
            assert!(text.iter().all(|&b| b.is_ascii_uppercase() || b == b'_'));
            assert!(text.len() <= MAX_KW);
            assert_eq!(keyword(text), kw);
            assert_eq!(keyword(&text.to_ascii_lowercase()), kw);
            assert_ne!(keyword(&text[..text.len() - 1]), kw);
            let mut longer = text.to_vec();
            longer.push(b'S');
            assert_ne!(keyword(&longer), kw);
        }
        assert_eq!(keyword(b"SeLeCt"), Kw::Select);
        assert_eq!(keyword(b"release_all_locks"), Kw::ReleaseAllLocks);
        assert_eq!(keyword(b"SQL_CALC_FOUND_ROWX"), Kw::None);
        assert_eq!(keyword(b"RELEASE_ALL_LOCK"), Kw::None);
        assert_eq!(keyword(b"S3LECT"), Kw::None);
        assert_eq!(keyword(b"SELECT\x7f"), Kw::None);
        assert_eq!(keyword(b""), Kw::None);
    }

    #[test]
    fn flags_ops() {
        let f = RPS | NL;
        assert!(f.contains(RPS) && f.contains(NL) && f.contains(RPS | NL));
        assert!(!f.contains(MULTI) && !f.contains(RPS | MULTI));
        assert!(f.contains(NONE) && f != NONE);
        let mut g = NONE;
        g |= CFR;
        assert_eq!(g, CFR);
        assert_eq!(
            format!("{:?}", RPS | MULTI),
            "Flags(READS_PREVIOUS_STATE | MULTI)"
        );
        assert_eq!(format!("{NONE:?}"), "Flags()");
        let all =
            RPS | CFR | NL | UVW | MULTI | WF | RO | AC_OFF | AC_ON | RII | SII | RFR | PH | UNC;
        assert_eq!(all.0.count_ones(), 14);
        assert_eq!(
            format!("{all:?}").matches(" | ").count(),
            13,
            "every flag has a name"
        );
    }

    /// Runs every entry point on `sql` and checks the invariants that must hold for any
    /// input.
    fn exercise(sql: &str) {
        let c = classify(sql);
        let parts: Vec<_> = statements(sql).collect();
        assert_eq!(c.kind == Kind::Empty, parts.is_empty(), "{sql:?}");
        assert_eq!(c.flags.contains(Flags::MULTI), parts.len() > 1, "{sql:?}");
        for (text, class) in &parts {
            assert_ne!(class.kind, Kind::Empty);
            assert!(!class.flags.contains(Flags::MULTI));
            // Each statement's text lies inside the input.
            let (base, len) = (sql.as_ptr() as usize, sql.len());
            let p = text.as_ptr() as usize;
            assert!(p >= base && p + text.len() <= base + len, "{sql:?}");
        }
        if let Some(name) = target_name(sql) {
            let (base, p) = (sql.as_ptr() as usize, name.as_ptr() as usize);
            assert!(p >= base && p + name.len() <= base + sql.len());
        }
        let inside = |name: &str| {
            let (base, p) = (sql.as_ptr() as usize, name.as_ptr() as usize);
            p >= base && p + name.len() <= base + sql.len()
        };
        let refs = table_refs(sql);
        assert!(refs.iter().all(|n| inside(n) && !n.is_empty()), "{sql:?}");
        let _ = refers_to_table(sql, "tmp");
        let _ = refers_to_table(sql, sql);
        if let Some(targets) = write_targets(sql) {
            assert!(!targets.is_empty());
            // A write's targets are among its table references.
            for t in &targets {
                assert!(inside(t), "{sql:?}");
                assert!(refs.contains(t), "{sql:?}: {t:?} not in {refs:?}");
            }
        }
    }

    #[test]
    fn never_panics() {
        let tricky = [
            "SELECT `a``b`, 'c\\'d''e', \"f\\\"g\" FROM t /* x */ -- y\n# z\nFOR UPDATE; SELECT 1",
            "/*!40101 SET @x := @@session.warning_count, NAMES utf8 */;/*M!100100 SELECT 1 */",
            "WITH a AS (SELECT 1) (SELECT * FROM a) UNION (SELECT NEXT VALUE FOR s) INTO @v",
            "SET STATEMENT a=1 FOR SET STATEMENT b=2 FOR EXPLAIN ANALYZE FORMAT=JSON DELETE FROM t",
            "CREATE OR REPLACE TEMPORARY TABLE IF NOT EXISTS `d`.`t``x` SELECT GET_LOCK('é', 1);",
            "SHOW COUNT(*) WARNINGS; START TRANSACTION READ ONLY; SET autocommit = 'OFF'",
            "USE `ü`; DROP TEMPORARY TABLE IF EXISTS d.ñ; SELECT 1--1 -- \u{0}\n@'x':=1",
            "(((@@@ ::= `` '' \"\" /*/ */ -- \n #\n ; ; ;))) é\u{7f}ü\u{10ffff}",
            "SELECT 'a\\'; DELETE FROM t; -- ' \"b\\\"\" /*M!999999 ' */ `get_lock`(?)",
            "DELETE t1.*, t2 FROM (SELECT 1) x JOIN `d`.`t` USE INDEX (i) USING (a); TRUNCATE t",
            "lbl: BEGIN NOT ATOMIC IF 1 THEN INSERT INTO t SELECT * FROM u; END IF; END",
        ];
        for s in tricky {
            let boundaries: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
            for &i in &boundaries {
                for &j in boundaries.iter().filter(|&&j| j >= i) {
                    exercise(&s[i..j]);
                }
            }
        }
        // Pseudo-random soup of fragments, deterministic.
        let pieces = [
            "SELECT",
            "select",
            "FOR",
            "UPDATE",
            "LOCK",
            "IN",
            "SHARE",
            "MODE",
            "INTO",
            "@x",
            "@@",
            ":=",
            ":",
            "=",
            "(",
            ")",
            ",",
            ";",
            ".",
            "`",
            "'",
            "\"",
            "\\",
            "/*",
            "*/",
            "/*!",
            "/*!50100",
            "/*M!",
            "--",
            "-- ",
            "#",
            "\n",
            " ",
            "é",
            "WITH",
            "SET",
            "STATEMENT",
            "ANALYZE",
            "EXPLAIN",
            "CREATE",
            "TEMPORARY",
            "TABLE",
            "DROP",
            "USE",
            "GLOBAL",
            "autocommit",
            "NEXT",
            "VALUE",
            "LAST_INSERT_ID",
            "GET_LOCK",
            "*",
            "@",
            "1",
            "0",
            "tmp",
            "START",
            "TRANSACTION",
            "READ",
            "ONLY",
            "SHOW",
            "COUNT",
            "?",
            "`get_lock`(",
            "/*M!999999",
            "/*!110000",
            "BEGIN NOT ATOMIC",
            "lbl:",
            "IF",
            "END",
            "FROM",
            "JOIN",
            "INSERT INTO",
            "DELETE",
            "UPDATE t SET",
            "AS",
            "x",
            "db.",
            "USING",
            "TRUNCATE",
            "LOAD DATA INTO TABLE",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = String::new();
        for _ in 0..20_000 {
            buf.clear();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push_str(pieces[(seed % pieces.len() as u64) as usize]);
                if seed & 0x100 != 0 {
                    buf.push(' ');
                }
            }
            exercise(&buf);
        }
        // Every single byte value (as far as a str can hold it) and long inputs.
        for b in 0u8..=127 {
            exercise(&(b as char).to_string());
        }
        exercise(&"(".repeat(100_000));
        exercise(&"SET STATEMENT a=1 FOR ".repeat(10_000));
        exercise(&"ANALYZE ".repeat(10_000));
        exercise(&"/*!".repeat(10_000));
    }
}
