//! The head of a statement: its first keyword or two (after prefixes such as `(`,
//! `SET STATEMENT .. FOR` or `ANALYZE`), which give its kind; then the tail scan.

use super::keywords::Kw;
use super::lexer::{Lexer, Tk, Token};
use super::set::parse_set;
use super::tail::Tail;
use super::{Classification, Flags, Kind};

/// Classifies the statement starting at the lexer's position and consumes it with its
/// terminating `;`. Returns the classification and where the statement's text ends (the
/// `;` or the end of input).
pub(super) fn classify_one(lx: &mut Lexer<'_>) -> (Classification, usize) {
    let mut head = Head::default();
    // The head: the first keyword(s). Prefixes (`(`, `SET STATEMENT .. FOR`, `ANALYZE`)
    // loop rather than recurse, so no input can exhaust the stack.
    let kind = loop {
        let t = match lx.next() {
            Some(t) if t.tk != Tk::Semi => t,
            other => {
                let end = other.map_or(lx.s.len(), |t| t.start);
                let kind = if head.analyzed || head.parens {
                    Kind::Other
                } else {
                    Kind::Empty
                };
                let flags = head.flags;
                return (Classification { kind, flags }, end);
            }
        };
        if t.tk == Tk::LParen {
            head.parens = true;
            continue;
        }
        if let Some(kind) = head.statement(t, lx) {
            break kind;
        }
    };
    head.finish(kind, lx)
}

/// What the head of a statement found, besides its kind.
#[derive(Default)]
struct Head {
    flags: Flags,
    /// `EXPLAIN ANALYZE` / MariaDB `ANALYZE`: the inner statement is executed.
    analyzed: bool,
    /// Opening parentheses before the first keyword: only a query can follow.
    parens: bool,
    /// A query: its locking clauses and `INTO` change its kind.
    select_like: bool,
    /// `WITH`: the main statement's keyword is still to come.
    cte: bool,
    /// A compound statement (`BEGIN NOT ATOMIC`, `IF`, labels, ...): the rest of the text
    /// is its body, whatever its `;`.
    compound: bool,
}

impl Head {
    /// The kind the statement keyword `t` gives (`lx` is just after it), one family of
    /// statements at a time; `None` after a prefix (`ANALYZE`, `EXPLAIN ANALYZE`,
    /// `SET STATEMENT .. FOR`), whose statement comes next.
    fn statement(&mut self, t: Token<'_>, lx: &mut Lexer<'_>) -> Option<Kind> {
        let k = t.kw();
        if self.parens && !matches!(k, Kw::Select | Kw::With | Kw::Table | Kw::Values) {
            return Some(Kind::Other);
        }
        if let Some(kind) = plain_kind(k) {
            return Some(kind);
        }
        let kind = match k {
            Kw::Select | Kw::Table | Kw::Values | Kw::With => self.query(k),
            Kw::Load | Kw::Lock | Kw::Unlock | Kw::Release => by_next_keyword(k, lx.peek_kw()),
            Kw::Create => create_kind(lx.clone()),
            Kw::Drop => drop_kind(lx.clone()),
            Kw::Analyze => return self.analyze(lx),
            Kw::Explain | Kw::Describe | Kw::Desc => return self.explain(lx),
            Kw::Set => return self.set(lx),
            Kw::Show => self.show(lx.clone()),
            Kw::Get => self.get(lx.clone()),
            Kw::Begin => self.begin(lx),
            Kw::Start => self.start(lx.clone()),
            Kw::Rollback => rollback_kind(lx.clone()),
            _ => self.other(t, lx.clone()),
        };
        Some(kind)
    }

    /// `SELECT`, `TABLE`, `VALUES` and `WITH` head a query (the tail may find that a
    /// `WITH` heads a write).
    fn query(&mut self, k: Kw) -> Kind {
        self.select_like = true;
        if k == Kw::With {
            self.cte = true;
        }
        Kind::Select
    }

    /// `ANALYZE TABLE ..` is DDL; MariaDB's `ANALYZE [FORMAT=..] stmt` runs `stmt` (a
    /// prefix).
    fn analyze(&mut self, lx: &mut Lexer<'_>) -> Option<Kind> {
        if matches!(
            lx.peek_kw(),
            Kw::Table | Kw::Tables | Kw::NoWriteToBinlog | Kw::Local
        ) {
            return Some(Kind::Ddl);
        }
        lx.skip_format();
        self.analyzed = true;
        None
    }

    /// `EXPLAIN` / `DESCRIBE` / `DESC` run nothing, except `EXPLAIN [FORMAT=..] ANALYZE
    /// stmt`, which runs `stmt` (a prefix).
    fn explain(&mut self, lx: &mut Lexer<'_>) -> Option<Kind> {
        let mut la = lx.clone();
        la.skip_format();
        if !la.eat(Kw::Analyze) {
            return Some(Kind::Explain);
        }
        la.skip_format();
        *lx = la;
        self.analyzed = true;
        None
    }

    /// `SET ..`, taken apart by [`parse_set`]; MariaDB's `SET STATEMENT var=val[, ..] FOR
    /// stmt` is a prefix of `stmt` (without its `FOR`, [`Kind::Other`]).
    fn set(&mut self, lx: &mut Lexer<'_>) -> Option<Kind> {
        let mut la = lx.clone();
        if !la.eat(Kw::Statement) {
            let (kind, flags) = parse_set(la);
            self.flags |= flags;
            return Some(kind);
        }
        if la.skip_to_for() {
            *lx = la;
            return None;
        }
        Some(Kind::Other)
    }

    /// `SHOW ..`; `SHOW WARNINGS|ERRORS|PROFILE|PROFILES` and `SHOW COUNT(*)
    /// WARNINGS|ERRORS` read the previous statement's outcome. `la` is just after `SHOW`.
    fn show(&mut self, mut la: Lexer<'_>) -> Kind {
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
            self.flags |= Flags::READS_PREVIOUS_STATE;
        }
        Kind::Show
    }

    /// `GET [CURRENT|STACKED] DIAGNOSTICS` reads the previous statement's outcome; any
    /// other `GET` is unknown. `la` is just after `GET`.
    fn get(&mut self, mut la: Lexer<'_>) -> Kind {
        if !la.eat(Kw::Current) {
            la.eat(Kw::Stacked);
        }
        if la.eat(Kw::Diagnostics) {
            self.flags |= Flags::READS_PREVIOUS_STATE;
            Kind::GetDiagnostics
        } else {
            Kind::Other
        }
    }

    /// `BEGIN [WORK]` starts a transaction; `BEGIN NOT ATOMIC` (a MariaDB compound
    /// statement) and anything else after `BEGIN` open a compound statement.
    fn begin(&mut self, lx: &Lexer<'_>) -> Kind {
        match lx.peek() {
            None => Kind::Begin,
            Some(t) if t.tk == Tk::Semi || t.kw() == Kw::Work => Kind::Begin,
            Some(_) => {
                self.compound = true;
                Kind::Other
            }
        }
    }

    /// `START TRANSACTION [..]` (noting `READ ONLY`); `START SLAVE`, `START REPLICA`,
    /// `START GROUP_REPLICATION`, ... are unknown. `la` is just after `START`.
    fn start(&mut self, mut la: Lexer<'_>) -> Kind {
        if !la.eat(Kw::Transaction) {
            return Kind::Other;
        }
        if la.has_read_only() {
            self.flags |= Flags::READ_ONLY_TXN;
        }
        Kind::Begin
    }

    /// Any other first word: an unknown statement, or a compound statement outside a
    /// stored program (MariaDB): `IF`, `FOR`, `CASE`, `LOOP`, `WHILE`, `REPEAT`,
    /// `DECLARE`, or `label: BEGIN|LOOP|WHILE|REPEAT|FOR ...`. Both are [`Kind::Other`].
    /// (`CASE`, `LOOP`, `WHILE`, `REPEAT` and `DECLARE` are no keywords: `WHILE` would
    /// make every `WHERE` pass the keyword table's first filter.) `la` is just after `t`.
    fn other(&mut self, t: Token<'_>, mut la: Lexer<'_>) -> Kind {
        let compound = match t.kw() {
            Kw::If | Kw::For => true,
            _ if t.tk == Tk::Word && is_compound_word(t.text) => true,
            _ => {
                matches!(t.tk, Tk::Word | Tk::Ident)
                    && la.next().is_some_and(|c| c.text == b":")
                    && la.peek().is_some_and(|w| {
                        matches!(w.kw(), Kw::Begin | Kw::For)
                            || w.tk == Tk::Word && is_compound_word(w.text)
                    })
            }
        };
        if compound {
            self.compound = true;
        }
        Kind::Other
    }

    /// Scans the statement's tail (all of the text's rest for a compound statement) and
    /// gives its class and where its text ends. A query's locking clause or `INTO` gives
    /// its kind; `ANALYZE` makes a plain query's kind [`Kind::Explain`].
    fn finish(self, kind: Kind, lx: &mut Lexer<'_>) -> (Classification, usize) {
        // `INSERT [IGNORE] t (a, ..)`: the table follows the head.
        let table_from = if matches!(kind, Kind::Insert | Kind::Replace) {
            lx.pos
        } else {
            usize::MAX
        };
        let mut tail = Tail::new(kind, self.flags, self.select_like, self.cte, table_from);
        let mut end = tail.scan(lx);
        while self.compound && !lx.at_end() {
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
        if self.analyzed && kind == Kind::Select {
            kind = Kind::Explain;
        }
        (Classification { kind, flags }, end)
    }
}

/// The kinds a statement's first keyword gives on its own.
fn plain_kind(k: Kw) -> Option<Kind> {
    Some(match k {
        Kw::Insert => Kind::Insert,
        Kw::Replace => Kind::Replace,
        Kw::Update => Kind::Update,
        Kw::Delete => Kind::Delete,
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
        Kw::Call => Kind::Call,
        Kw::Do => Kind::Do,
        Kw::Use => Kind::Use,
        Kw::Commit => Kind::Commit,
        Kw::Savepoint => Kind::Savepoint,
        Kw::Xa => Kind::Xa,
        Kw::Handler => Kind::Handler,
        Kw::Prepare => Kind::Prepare,
        Kw::Execute => Kind::Execute,
        Kw::Deallocate => Kind::Deallocate,
        Kw::Kill => Kind::Kill,
        _ => return None,
    })
}

/// `LOAD DATA|XML`, `LOCK TABLE[S]`, `UNLOCK TABLE[S]`, `RELEASE SAVEPOINT`: the first
/// keyword `k` with the `next` one; any other next word makes an unknown statement.
fn by_next_keyword(k: Kw, next: Kw) -> Kind {
    match (k, next) {
        (Kw::Load, Kw::Data | Kw::Xml) => Kind::LoadData,
        (Kw::Lock, Kw::Table | Kw::Tables) => Kind::LockTables,
        (Kw::Unlock, Kw::Table | Kw::Tables) => Kind::UnlockTables,
        (Kw::Release, Kw::Savepoint) => Kind::ReleaseSavepoint,
        _ => Kind::Other,
    }
}

/// `CREATE [OR REPLACE] TEMPORARY TABLE|SEQUENCE`, or any other `CREATE` (DDL). `la` is
/// just after `CREATE`.
fn create_kind(mut la: Lexer<'_>) -> Kind {
    if la.eat(Kw::Or) {
        la.eat(Kw::Replace);
    }
    if la.eat(Kw::Temporary) && (la.eat(Kw::Table) || la.eat(Kw::Sequence)) {
        Kind::CreateTemporaryTable
    } else {
        Kind::Ddl
    }
}

/// `DROP TEMPORARY TABLE|TABLES|SEQUENCE`, `DROP PREPARE`, or any other `DROP` (DDL).
/// `la` is just after `DROP`.
fn drop_kind(mut la: Lexer<'_>) -> Kind {
    if la.eat(Kw::Temporary) && (la.eat(Kw::Table) || la.eat(Kw::Tables) || la.eat(Kw::Sequence)) {
        Kind::DropTemporaryTable
    } else if la.eat(Kw::Prepare) {
        Kind::Deallocate
    } else {
        Kind::Ddl
    }
}

/// `ROLLBACK [WORK] TO ..` rolls back to a savepoint; any other `ROLLBACK`, the
/// transaction. `la` is just after `ROLLBACK`.
fn rollback_kind(mut la: Lexer<'_>) -> Kind {
    la.eat(Kw::Work);
    if la.eat(Kw::To) {
        Kind::RollbackToSavepoint
    } else {
        Kind::Rollback
    }
}

/// Whether a statement's first word opens a compound statement (besides `BEGIN`, `IF`
/// and `FOR`, which are keywords): `CASE`, `LOOP`, `WHILE`, `REPEAT`, `DECLARE`.
fn is_compound_word(word: &[u8]) -> bool {
    [&b"CASE"[..], b"LOOP", b"WHILE", b"REPEAT", b"DECLARE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}
