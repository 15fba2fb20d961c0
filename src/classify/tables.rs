//! Which tables a statement names: every table reference ([`table_refs`]) and, for a
//! write that certainly writes only them, its target tables ([`write_targets`]).
//!
//! These walk tokens and allocate: they only run for connections that hold temporary
//! tables, not on every statement. Both read the text in the default lexical reading;
//! callers treat [`Flags::UNCERTAIN`](super::Flags::UNCERTAIN) text on its own.

// The routing rewrite is their first user; until it lands only the tests call them.
#![cfg_attr(not(test), allow(dead_code))]

use super::head::classify_one;
use super::keywords::Kw;
use super::lexer::{Lexer, Tk, Token};
use super::{classify, ident_eq, Flags, Kind};

/// The names used as table references in `sql` (all its statements), without
/// qualifier and quotes, as [`target_name`](super::target_name) gives them: after
/// `FROM`, any `JOIN`, `UPDATE`, `INTO`, `TABLE`/`TABLES`, `USING`, in comma lists, in
/// parenthesised joins and in subqueries; the list of `DELETE t1, t2 FROM`; the table of
/// `INSERT`/`REPLACE`/`TRUNCATE`/`DESCRIBE`/`HANDLER`. Aliases, columns, strings,
/// variables, function names and derived tables' aliases are not table references.
/// May hold a name twice.
pub(crate) fn table_refs(sql: &str) -> Vec<&str> {
    let mut walk = Walk {
        sql,
        lx: Lexer::new(sql.as_bytes()),
        parens: Vec::new(),
        out: Vec::new(),
    };
    walk.run();
    walk.out
}

/// Whether `name` is one of [`table_refs`], ASCII case-insensitively.
pub(crate) fn refers_to_table(sql: &str, name: &str) -> bool {
    !name.is_empty()
        && table_refs(sql)
            .iter()
            .any(|t| ident_eq(t.as_bytes(), name.as_bytes()))
}

/// The tables the first statement of `sql` writes, when that is certain from its text:
/// `INSERT|REPLACE [LOW_PRIORITY|DELAYED|HIGH_PRIORITY] [IGNORE] [INTO] t ...`,
/// single-table `UPDATE [LOW_PRIORITY] [IGNORE] t [[AS] alias] SET ...`, single-table
/// `DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t [[AS] alias]` followed by `WHERE`,
/// `ORDER`, `LIMIT`, `RETURNING` or its end, `TRUNCATE [TABLE] t`, and
/// `LOAD DATA|XML ... INTO TABLE t`. Names as in [`table_refs`]. `None` for anything
/// else (multi-table forms, `WITH`, prefixes such as `SET STATEMENT`) and for
/// [`Flags::UNCERTAIN`] text.
pub(crate) fn write_targets(sql: &str) -> Option<Vec<&str>> {
    if classify(sql).flags.contains(Flags::UNCERTAIN) {
        return None;
    }
    let (mut lx, kind) = first_statement(sql)?;
    let verb = lx.next()?.kw();
    let name = match (kind, verb) {
        (Kind::Insert, Kw::Insert) | (Kind::Replace, Kw::Replace) => insert_target(lx),
        (Kind::Update, Kw::Update) => update_target(lx),
        (Kind::Delete, Kw::Delete) => delete_target(lx),
        (Kind::Ddl, Kw::Truncate) => truncate_target(lx),
        (Kind::LoadData, Kw::Load) => load_target(lx),
        _ => None,
    }?;
    let name = sql.get(name.start..name.start + name.text.len())?;
    (!name.is_empty()).then(|| vec![name])
}

/// The first non-empty statement of `sql`, lexed in its context (it may start inside
/// an executable comment): a lexer at its start, and its kind.
fn first_statement(sql: &str) -> Option<(Lexer<'_>, Kind)> {
    let mut lx = Lexer::new(sql.as_bytes());
    while !lx.at_end() {
        let before = lx.clone();
        let (class, _) = classify_one(&mut lx);
        if class.kind != Kind::Empty {
            return Some((before, class.kind));
        }
    }
    None
}

/// `INSERT|REPLACE [LOW_PRIORITY|DELAYED|HIGH_PRIORITY] [IGNORE] [INTO] t`: `t`. `lx`
/// is just after the verb, as in the functions below.
fn insert_target(mut lx: Lexer<'_>) -> Option<Token<'_>> {
    eat_words(&mut lx, &[b"LOW_PRIORITY", b"DELAYED", b"HIGH_PRIORITY"]);
    eat_words(&mut lx, &[b"IGNORE"]);
    eat_words(&mut lx, &[b"INTO"]);
    qualified_name(&mut lx)
}

/// `UPDATE [LOW_PRIORITY] [IGNORE] t [[AS] alias] SET`: `t`.
fn update_target(mut lx: Lexer<'_>) -> Option<Token<'_>> {
    eat_words(&mut lx, &[b"LOW_PRIORITY"]);
    eat_words(&mut lx, &[b"IGNORE"]);
    let name = qualified_name(&mut lx)?;
    skip_alias(&mut lx);
    lx.next()
        .is_some_and(|t| is_word(t, b"SET"))
        .then_some(name)
}

/// `DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t [[AS] alias]`, then `WHERE`, `ORDER`,
/// `LIMIT`, `RETURNING` or the statement's end: `t`.
fn delete_target(mut lx: Lexer<'_>) -> Option<Token<'_>> {
    eat_words(&mut lx, &[b"LOW_PRIORITY"]);
    eat_words(&mut lx, &[b"QUICK"]);
    eat_words(&mut lx, &[b"IGNORE"]);
    if !eat_words(&mut lx, &[b"FROM"]) {
        return None;
    }
    let name = qualified_name(&mut lx)?;
    skip_alias(&mut lx);
    match lx.next() {
        None => Some(name),
        Some(t) if t.tk == Tk::Semi => Some(name),
        Some(t)
            if [&b"WHERE"[..], b"ORDER", b"LIMIT", b"RETURNING"]
                .iter()
                .any(|w| is_word(t, w)) =>
        {
            Some(name)
        }
        Some(_) => None,
    }
}

/// `TRUNCATE [TABLE] t`, alone in its statement: `t`.
fn truncate_target(mut lx: Lexer<'_>) -> Option<Token<'_>> {
    lx.eat(Kw::Table);
    let name = qualified_name(&mut lx)?;
    if lx.next().is_some_and(|t| t.tk != Tk::Semi) {
        return None;
    }
    Some(name)
}

/// `LOAD DATA|XML ... INTO TABLE t`: `t`.
fn load_target(mut lx: Lexer<'_>) -> Option<Token<'_>> {
    // `INTO` of this statement.
    loop {
        let t = lx.next()?;
        if t.tk == Tk::Semi {
            return None;
        }
        if is_word(t, b"INTO") {
            break;
        }
    }
    if !lx.eat(Kw::Table) {
        return None;
    }
    qualified_name(&mut lx)
}

/// Words that are never a table's name or alias where this module looks for one: they
/// end a table reference (or are the keywords around one).
const RESERVED: &[&[u8]] = &[
    b"SELECT",
    b"WITH",
    b"VALUES",
    b"VALUE",
    b"WHERE",
    b"ON",
    b"USING",
    b"JOIN",
    b"STRAIGHT_JOIN",
    b"LEFT",
    b"RIGHT",
    b"INNER",
    b"CROSS",
    b"NATURAL",
    b"OUTER",
    b"FULL",
    b"SET",
    b"ORDER",
    b"GROUP",
    b"LIMIT",
    b"HAVING",
    b"WINDOW",
    b"UNION",
    b"EXCEPT",
    b"INTERSECT",
    b"MINUS",
    b"FOR",
    b"LOCK",
    b"INTO",
    b"PARTITION",
    b"USE",
    b"IGNORE",
    b"FORCE",
    b"READ",
    b"WRITE",
    b"LOW_PRIORITY",
    b"HIGH_PRIORITY",
    b"DELAYED",
    b"QUICK",
    b"AS",
    b"DUAL",
    b"RETURNING",
    b"OUTFILE",
    b"DUMPFILE",
    b"IF",
    b"NOT",
    b"EXISTS",
    b"FROM",
    b"TABLE",
    b"TABLES",
    b"LIKE",
    b"OFFSET",
    b"PROCEDURE",
    b"LATERAL",
    b"DEFAULT",
    b"KEY",
    b"INDEX",
    b"UPDATE",
    b"DELETE",
    b"INSERT",
    b"REPLACE",
    b"TO",
];

/// Whether `t` is the unquoted word `w` (given in upper case).
fn is_word(t: Token<'_>, w: &[u8]) -> bool {
    t.tk == Tk::Word && t.text.eq_ignore_ascii_case(w)
}

/// Whether `word` is one of the words that end a table reference (for tests that make
/// up table names: unquoted, such a word is no table name to the server either).
#[cfg(test)]
pub(crate) fn is_reserved_word(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|w| word.as_bytes().eq_ignore_ascii_case(w))
}

fn is_reserved(t: Token<'_>) -> bool {
    t.tk == Tk::Word && RESERVED.iter().any(|w| t.text.eq_ignore_ascii_case(w))
}

/// Whether `t` can be a name: a quoted identifier, or a word that is neither reserved
/// nor a number.
fn is_name(t: Token<'_>) -> bool {
    match t.tk {
        Tk::Ident => true,
        Tk::Word => {
            // A number starts with a digit and has no letter but an exponent's.
            let number = t.text.first().is_some_and(u8::is_ascii_digit)
                && t.text
                    .iter()
                    .all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            !is_reserved(t) && !number
        }
        _ => false,
    }
}

/// Consumes the next token if it is one of `words`.
fn eat_words(lx: &mut Lexer<'_>, words: &[&[u8]]) -> bool {
    match lx.peek() {
        Some(t) if words.iter().any(|w| is_word(t, w)) => {
            lx.next();
            true
        }
        _ => false,
    }
}

/// A possibly qualified name (`t`, `db.t`, `` `db`.`t` ``): its last part. `db.*` gives
/// `db` (the `DELETE t.* FROM` form). `None` (having consumed something) if no name is
/// next.
fn qualified_name<'a>(lx: &mut Lexer<'a>) -> Option<Token<'a>> {
    let first = lx.peek().filter(|&t| is_name(t))?;
    lx.next();
    let mut last = first;
    while lx.eat_tk(Tk::Dot) {
        match lx.peek() {
            Some(t) if matches!(t.tk, Tk::Word | Tk::Ident) => {
                lx.next();
                last = t;
            }
            Some(t) if t.text == b"*" => {
                lx.next();
            }
            _ => return None,
        }
    }
    Some(last)
}

/// Skips `[AS] alias` after a table reference.
fn skip_alias(lx: &mut Lexer<'_>) {
    if eat_words(lx, &[b"AS"]) {
        if lx.peek().is_some_and(|t| is_name(t) || t.tk == Tk::Str) {
            lx.next();
        }
    } else if lx.peek().is_some_and(is_name) {
        lx.next();
    }
}

/// Where a table reference list is read: after `FROM` / a `JOIN` a name followed by `(`
/// is a table function (`JSON_TABLE(..)`), elsewhere (`INSERT INTO t(a)`) a table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    From,
    Plain,
}

/// What an open parenthesis is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paren {
    /// A subquery where a table reference goes: an alias may follow its `)`.
    Derived(Ctx),
    /// A parenthesised join: table references inside, an alias may follow.
    Join(Ctx),
    /// A subquery elsewhere (`IN (SELECT ..)`): table keywords count inside.
    Query,
    /// Anything else (a function's arguments, a column list): `FROM` inside is not a
    /// table's (`EXTRACT(YEAR FROM d)`).
    Other,
}

/// The state of [`table_refs`]' walk over the tokens.
struct Walk<'a> {
    sql: &'a str,
    lx: Lexer<'a>,
    parens: Vec<Paren>,
    out: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn run(&mut self) {
        let mut head = true;
        let mut prev: Option<Token<'a>> = None;
        while let Some(t) = self.lx.next() {
            let at_head = std::mem::replace(&mut head, false);
            match t.tk {
                Tk::Semi => {
                    self.parens.clear();
                    head = true;
                    prev = None;
                    continue;
                }
                Tk::LParen => {
                    let query = self.lx.peek().is_some_and(is_query_start);
                    self.parens
                        .push(if query { Paren::Query } else { Paren::Other });
                }
                Tk::RParen => {
                    if let Some(Paren::Derived(ctx) | Paren::Join(ctx)) = self.parens.pop() {
                        if self.after_ref(ctx) {
                            self.list(ctx);
                        }
                    }
                }
                Tk::Word if self.parens.last() != Some(&Paren::Other) => {
                    let prev_is = |w: &[u8]| prev.is_some_and(|p| is_word(p, w));
                    let ctx = match t.kw() {
                        Kw::Insert
                        | Kw::Replace
                        | Kw::Truncate
                        | Kw::Describe
                        | Kw::Desc
                        | Kw::Explain
                        | Kw::Handler
                            if at_head =>
                        {
                            Some(Ctx::Plain)
                        }
                        // `DELETE t1, t2 FROM ..` (with `DELETE FROM`, `FROM` ends the
                        // list at once).
                        Kw::Delete if at_head => Some(Ctx::Plain),
                        Kw::Update if !(prev_is(b"FOR") || prev_is(b"KEY") || prev_is(b"ON")) => {
                            Some(Ctx::Plain)
                        }
                        Kw::Into | Kw::Table | Kw::Tables => Some(Ctx::Plain),
                        _ if is_word(t, b"FROM")
                            || is_word(t, b"JOIN")
                            || is_word(t, b"STRAIGHT_JOIN") =>
                        {
                            Some(Ctx::From)
                        }
                        // `DELETE FROM t USING t2, t3`, not `JOIN .. USING (col)`.
                        _ if is_word(t, b"USING") && self.lx.peek_tk() != Some(Tk::LParen) => {
                            Some(Ctx::Plain)
                        }
                        _ => None,
                    };
                    if let Some(ctx) = ctx {
                        self.list(ctx);
                    }
                }
                _ => {}
            }
            prev = Some(t);
        }
    }

    /// Reads a list of table references at the lexer's position, up to the first token
    /// that continues none.
    fn list(&mut self, ctx: Ctx) {
        loop {
            eat_words(
                &mut self.lx,
                &[b"LOW_PRIORITY", b"DELAYED", b"HIGH_PRIORITY", b"QUICK"],
            );
            eat_words(&mut self.lx, &[b"IGNORE"]);
            eat_words(&mut self.lx, &[b"INTO"]);
            eat_words(&mut self.lx, &[b"TABLE"]);
            eat_words(&mut self.lx, &[b"LATERAL"]);
            if eat_words(&mut self.lx, &[b"IF"]) {
                eat_words(&mut self.lx, &[b"NOT"]);
                eat_words(&mut self.lx, &[b"EXISTS"]);
            }
            let Some(t) = self.lx.peek() else { return };
            if t.tk == Tk::LParen {
                self.lx.next();
                if self.lx.peek().is_some_and(is_query_start) {
                    // The walk reads the subquery; its `)` comes back here.
                    self.parens.push(Paren::Derived(ctx));
                    return;
                }
                self.parens.push(Paren::Join(ctx));
                continue;
            }
            let unquoted = t.tk == Tk::Word;
            let mut la = self.lx.clone();
            let Some(name) = qualified_name(&mut la) else {
                return;
            };
            let qualified = name.start != t.start;
            if ctx == Ctx::From && unquoted && !qualified && la.peek_tk() == Some(Tk::LParen) {
                // A table function: its arguments are walked as an `Other` group.
                return;
            }
            self.lx = la;
            match self.sql.get(name.start..name.start + name.text.len()) {
                Some(text) if !text.is_empty() => self.out.push(text),
                _ => {}
            }
            if !self.after_ref(ctx) {
                return;
            }
        }
    }

    /// Skips what may follow a table reference (alias, index hints, partitions, `LOCK
    /// TABLES` modes); true if a `,` (or `LIKE`) follows, consumed: another reference.
    fn after_ref(&mut self, _ctx: Ctx) -> bool {
        let lx = &mut self.lx;
        skip_alias(lx);
        loop {
            if eat_words(lx, &[b"USE", b"IGNORE", b"FORCE"]) {
                // `{USE|IGNORE|FORCE} {INDEX|KEY} [FOR ..] (list)`
                while lx.peek().is_some_and(|t| t.tk == Tk::Word) {
                    lx.next();
                }
                skip_group(lx);
            } else if eat_words(lx, &[b"PARTITION"]) {
                skip_group(lx);
            } else if eat_words(lx, &[b"READ"]) {
                eat_words(lx, &[b"LOCAL"]);
            } else if !eat_words(lx, &[b"LOW_PRIORITY", b"WRITE"]) {
                break;
            }
        }
        lx.eat_tk(Tk::Comma) || eat_words(lx, &[b"LIKE"])
    }
}

/// Whether a `(` followed by `t` opens a query.
fn is_query_start(t: Token<'_>) -> bool {
    matches!(t.kw(), Kw::Select | Kw::With | Kw::Values | Kw::Table)
}

/// Skips a balanced `( ... )` group if one is next.
fn skip_group(lx: &mut Lexer<'_>) {
    if !lx.eat_tk(Tk::LParen) {
        return;
    }
    let mut depth = 1usize;
    while let Some(t) = lx.peek() {
        match t.tk {
            Tk::Semi => return,
            Tk::LParen => depth += 1,
            Tk::RParen => depth -= 1,
            _ => {}
        }
        lx.next();
        if depth == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
