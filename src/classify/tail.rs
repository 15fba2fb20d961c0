//! The tail of a statement: one pass over the bytes after its head, for what changes
//! where it must run (locking clauses, `INTO`, stateful and unknown function calls,
//! variables, placeholders) and for the `;` that ends it.

use std::ops::ControlFlow;

use super::bytes::{is_ident, scan_quoted_ident, span, word_end, S_TAIL_SKIP, S_WS};
use super::functions;
use super::keywords::{keyword, Kw, MAX_FUNCTION_NAME, MIN_FUNCTION_NAME};
use super::lexer::{Lexer, Tk};
use super::{Flags, Kind};

/// What the tail scan of a statement (after its head) collects.
pub(super) struct Tail {
    pub(super) kind: Kind,
    pub(super) flags: Flags,
    /// A query: locking clauses and `INTO` count.
    pub(super) select_like: bool,
    /// After `WITH`: the main statement's keyword is still to come.
    cte: bool,
    /// Parenthesis depth relative to the head's end.
    depth: i64,
    pub(super) locking: bool,
    pub(super) into: bool,
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
    /// The tail of a statement whose head gave `kind`, `flags` and whether it is a query
    /// and a `WITH`; `names_table_from`: where a table name with its column list may
    /// follow the head (`usize::MAX`: nowhere).
    pub(super) fn new(
        kind: Kind,
        flags: Flags,
        select_like: bool,
        cte: bool,
        names_table_from: usize,
    ) -> Tail {
        Tail {
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
            names_table_from,
        }
    }

    /// Scans to the end of the statement; returns where its text ends (its `;` or the
    /// end of input), leaving the lexer after the `;`.
    ///
    /// This is the hot path, so it walks bytes itself: whitespace, punctuation and
    /// backticked identifiers are skipped without making tokens, words are looked up as
    /// keywords unless glued to a `.`; anything rarer (quotes, variables, comments) goes
    /// through the lexer one token at a time. Inlined, so that the tail's fields live in
    /// registers (called on its own, it costs a sixth more on a Diesel `SELECT`).
    #[inline(always)]
    pub(super) fn scan(&mut self, lx: &mut Lexer<'_>) -> usize {
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
                i = self.backticked_name(i, lx);
            } else if b == b'?' {
                self.flags |= Flags::PLACEHOLDER;
                i += 1;
            } else if is_ident(b) {
                i = self.word(i, lx);
            } else if b == b'(' {
                self.open_paren(i, lx);
                i += 1;
            } else if b == b')' {
                self.depth -= 1;
                i += 1;
            } else if b == b';' {
                lx.pos = i + 1;
                return i;
            } else {
                match self.token(i, lx) {
                    ControlFlow::Continue(next) => i = next,
                    ControlFlow::Break(end) => return end,
                }
            }
        }
    }

    /// Notes the last name-like token: its text starts at `start`, the token ends at
    /// `end`.
    #[inline(always)]
    fn name(&mut self, start: usize, end: usize, quoted: bool) {
        self.name_start = start;
        self.name_end = end;
        self.name_quoted = quoted;
    }

    /// The fast path's backticked identifier whose opening backtick is at `i`: the last
    /// name, and maybe a built-in function's, called. Returns where it ends.
    #[inline(always)]
    fn backticked_name(&mut self, i: usize, lx: &mut Lexer<'_>) -> usize {
        let s = lx.s;
        let j = scan_quoted_ident(s, i + 1, b'`');
        // A built-in function's name, backticked? Only names of a function's
        // length are looked at (one test for most of Diesel's).
        if (MIN_FUNCTION_NAME..=MAX_FUNCTION_NAME).contains(&(j - i - 1)) {
            self.backticked(i + 1, j, lx);
        }
        let end = (j + 1).min(s.len());
        self.name(i + 1, end, true);
        end
    }

    /// The fast path's unquoted word starting at `i`: a keyword unless glued to a `.`
    /// (a qualified name's part), and the last name. Returns where it ends.
    #[inline(always)]
    fn word(&mut self, i: usize, lx: &mut Lexer<'_>) -> usize {
        let s = lx.s;
        let j = word_end(s, i);
        if i == 0 || s[i - 1] != b'.' {
            let kw = keyword(&s[i..j]);
            if kw != Kw::None {
                lx.pos = j;
                self.keyword(kw, lx);
            }
        }
        self.name(i, j, false);
        j
    }

    /// A `(` the scan reached at `i`: one level deeper, and a call of the last name if
    /// only whitespace lies between that name and `i` (from `i`, the lexer may have
    /// skipped comments to the `(`).
    #[inline(always)]
    fn open_paren(&mut self, i: usize, lx: &Lexer<'_>) {
        if span(lx.s, self.name_end, S_WS) == i {
            self.call(lx);
        }
        self.depth += 1;
    }

    /// Anything rarer at `i` (quotes, variables, comments, other punctuation), one token
    /// through the lexer. Breaks with where the statement's text ends (its `;` or the end
    /// of input); else continues from where the token ends.
    #[inline(always)]
    fn token(&mut self, i: usize, lx: &mut Lexer<'_>) -> ControlFlow<usize, usize> {
        let s = lx.s;
        lx.pos = i;
        lx.after_dot = false;
        let Some(t) = lx.next() else {
            return ControlFlow::Break(s.len());
        };
        match t.tk {
            Tk::Semi => return ControlFlow::Break(t.start),
            // Only comments (and whitespace) since the last name?
            Tk::LParen => self.open_paren(i, lx),
            Tk::RParen => self.depth -= 1,
            Tk::Word => {
                self.keyword(t.kw(), lx);
                self.name(t.start, lx.pos, false);
            }
            Tk::SysVar => self.flags |= sysvar_flags(t.text),
            // A quoted name of a built-in function, called.
            Tk::Ident if t.start > 0 && matches!(s[t.start - 1], b'`' | b'"') => {
                self.quoted_name(t.text, lx);
                self.name(t.start, lx.pos, true);
            }
            Tk::Ident => self.name(t.start, lx.pos, false),
            Tk::UserVar if lx.peek_tk() == Some(Tk::Assign) => {
                self.flags |= Flags::USER_VARIABLE_WRITE;
            }
            Tk::Punct if t.text == b"?" => self.flags |= Flags::PLACEHOLDER,
            _ => {}
        }
        ControlFlow::Continue(lx.pos)
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
            kw if is_flagged_function(kw) => self.flags |= function_flags(kw, lx),
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
