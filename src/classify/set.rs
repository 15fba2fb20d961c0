//! Session statements taken apart, assignment by assignment: what a `SET` or `USE`
//! assigns, and whether each value is a *constant* (a literal whose text means the same
//! value on every node, so the statement itself can be applied to every node).
//!
//! Any other value (an expression, a subquery, a variable, a function call, a bound
//! `?`) must be evaluated once, on the node the routing decision picked, and its result
//! propagated: re-running `SET @n = @n + 1` or `SET @id = LAST_INSERT_ID()` on another
//! node would give another value there.
//!
//! [`parse_set`] gives the classifier a `SET` statement's kind (session, global,
//! transaction, autocommit) and flags.

use super::keywords::Kw;
use super::lexer::{Lexer, Tk, Token};
use super::{Flags, Kind};

/// What a session statement assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A user variable, as written (`@x`, `` @`a b` ``, `@'x'`).
    User(&'a str),
    /// A session system variable: its name as written, without `@@` or a scope.
    System(&'a str),
    /// `SET NAMES ..` / `SET CHARACTER SET ..`: the connection's character sets.
    Names,
    /// `SET SESSION TRANSACTION ..`: the session's transaction characteristics.
    Transaction,
    /// `USE db`: the current database.
    Database,
}

impl Target<'_> {
    /// The keys this target sets in the session record (lowercase): a later statement
    /// setting one of them replaces what an earlier one set.
    pub(crate) fn keys(self) -> Vec<String> {
        match self {
            Target::User(name) => vec![format!("@{}", unquote(name.trim_start_matches('@')))],
            Target::System(name) => vec![system_key(name)],
            Target::Names => [
                "names",
                "character_set_client",
                "character_set_connection",
                "character_set_results",
                "collation_connection",
            ]
            .iter()
            .map(|k| system_key(k))
            .collect(),
            Target::Transaction => [
                "transaction",
                "tx_isolation",
                "transaction_isolation",
                "tx_read_only",
                "transaction_read_only",
            ]
            .iter()
            .map(|k| system_key(k))
            .collect(),
            Target::Database => vec!["use".to_string()],
        }
    }

    /// An expression reading the target's current value, for the variables whose value
    /// can be read back and set again (user and system variables).
    pub(crate) fn read_back(self) -> Option<String> {
        match self {
            Target::User(name) => Some(name.to_string()),
            Target::System(name) => Some(format!("@@session.{name}")),
            _ => None,
        }
    }
}

fn system_key(name: &str) -> String {
    format!("@@{}", unquote(name).to_ascii_lowercase())
}

/// A name without its surrounding quotes or backticks.
fn unquote(name: &str) -> String {
    let trimmed = name
        .strip_prefix(['`', '\'', '"'])
        .and_then(|n| n.strip_suffix(['`', '\'', '"']))
        .unwrap_or(name);
    trimmed.to_ascii_lowercase()
}

/// One assignment of a session statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Assignment<'a> {
    pub(crate) target: Target<'a>,
    /// The value is a literal: applying the statement's text on another node gives the
    /// same value there.
    pub(crate) constant: bool,
}

/// The assignments of a session statement (`SET` of session and user variables, `SET
/// NAMES`, `SET CHARACTER SET`, `SET SESSION TRANSACTION`, `USE`), in order; `None` for
/// any other statement, or one this can't take apart.
pub(crate) fn assignments(stmt: &str) -> Option<Vec<Assignment<'_>>> {
    let mut lx = Lexer::new(stmt.as_bytes());
    let first = lx.next()?;
    match first.kw() {
        Kw::Use => {
            return Some(vec![Assignment {
                target: Target::Database,
                constant: true,
            }])
        }
        Kw::Set => {}
        _ => return None,
    }
    let mut out = Vec::new();
    loop {
        let mut t = lx.next()?;
        if matches!(t.kw(), Kw::Session | Kw::Local) {
            t = lx.next()?;
        }
        let target = match t.tk {
            Tk::Word => match t.kw() {
                Kw::Global | Kw::Persist | Kw::PersistOnly | Kw::Password | Kw::Role => {
                    return None
                }
                Kw::Default if lx.peek_kw() == Kw::Role => return None,
                Kw::Names | Kw::Charset => Target::Names,
                Kw::Character => {
                    if !lx.eat(Kw::Set) {
                        return None;
                    }
                    Target::Names
                }
                // `SET SESSION TRANSACTION ..`: a list of characteristics, all literal.
                Kw::Transaction => {
                    out.push(Assignment {
                        target: Target::Transaction,
                        constant: true,
                    });
                    return Some(out);
                }
                _ => Target::System(text(stmt, t)?),
            },
            Tk::Ident => Target::System(text(stmt, t)?),
            Tk::UserVar => Target::User(text(stmt, t)?),
            Tk::SysVar => {
                let raw = text(stmt, t)?;
                let (scope, name) = raw.rsplit_once('.').unwrap_or(("", raw));
                if !scope.is_empty()
                    && !scope.eq_ignore_ascii_case("session")
                    && !scope.eq_ignore_ascii_case("local")
                {
                    return None;
                }
                Target::System(name)
            }
            _ => return None,
        };
        let names = target == Target::Names;
        if !(names || lx.eat_tk(Tk::Eq) || lx.eat_tk(Tk::Assign)) {
            return None;
        }
        let (constant, more) = value(&mut lx, target);
        out.push(Assignment {
            target,
            constant: constant || names,
        });
        if !more {
            return Some(out);
        }
    }
}

/// A token's text as written in `stmt` (user variables keep their `@` and quotes;
/// system variables lose their `@@`).
fn text<'a>(stmt: &'a str, t: Token<'_>) -> Option<&'a str> {
    let start = t.start;
    let end = start + t.text.len();
    let mut s = stmt.get(start..end)?;
    let backticked = start > 0 && stmt.as_bytes().get(start - 1) == Some(&b'`');
    if t.tk == Tk::Ident && backticked {
        // A backticked name: keep the backticks, so it is read back as written.
        s = stmt.get(start - 1..end + 1).unwrap_or(s);
    }
    Some(s)
}

/// Consumes one value (up to a `,` outside parentheses, or the end). Returns whether it
/// is a constant and whether another assignment follows.
fn value(lx: &mut Lexer<'_>, target: Target<'_>) -> (bool, bool) {
    let mut constant = true;
    let mut depth = 0i64;
    let mut first = true;
    let mut after_introducer = false;
    loop {
        let Some(t) = lx.next() else {
            return (constant && !first, false);
        };
        match t.tk {
            Tk::Semi => return (constant && !first, false),
            Tk::Comma if depth == 0 => return (constant && !first, true),
            Tk::LParen => {
                depth += 1;
                constant = false;
            }
            Tk::RParen => depth -= 1,
            Tk::Str => after_introducer = false,
            Tk::Word => {
                if after_introducer || !literal_word(t, target, lx) {
                    constant = false;
                }
                // `_utf8mb4'..'`, `X'..'`, `B'..'`, `N'..'`: a string follows.
                after_introducer = is_introducer(t.text) && lx.peek_tk() == Some(Tk::Str);
                if t.text.eq_ignore_ascii_case(b"collate") {
                    // `COLLATE name`: the name is a literal too.
                    if let Some(n) = lx.next() {
                        if !matches!(n.tk, Tk::Word | Tk::Str) {
                            constant = false;
                        }
                    }
                }
            }
            Tk::Punct if first && (t.text == b"-" || t.text == b"+") => {}
            _ => constant = false,
        }
        first = false;
    }
}

/// Whether a bare word in a value is a literal: a number, `NULL`, `TRUE`, `DEFAULT`,
/// `ON`, ...; for a system variable also any word not followed by `(` (an enum value
/// such as `SYSTEM` or `ANSI`). For a user variable any other word may be a function
/// (`CURRENT_USER`) or a column.
fn literal_word(t: Token<'_>, target: Target<'_>, lx: &Lexer<'_>) -> bool {
    let w = t.text;
    if w.first().is_some_and(u8::is_ascii_digit) {
        return w.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    }
    if is_introducer(w) || w.eq_ignore_ascii_case(b"collate") {
        return true;
    }
    let keyword = [&b"null"[..], b"true", b"false", b"default", b"on", b"off"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k));
    if keyword {
        return true;
    }
    matches!(target, Target::System(_)) && lx.peek_tk() != Some(Tk::LParen) && !is_clock(w)
}

/// Functions that need no parentheses and give a different value on each node or at
/// each moment.
fn is_clock(w: &[u8]) -> bool {
    [
        &b"current_timestamp"[..],
        b"current_date",
        b"current_time",
        b"localtime",
        b"localtimestamp",
        b"utc_date",
        b"utc_time",
        b"utc_timestamp",
        b"current_user",
        b"current_role",
        b"user",
    ]
    .iter()
    .any(|k| w.eq_ignore_ascii_case(k))
}

/// A string introducer: `_charset`, `X`, `B`, `N`.
fn is_introducer(w: &[u8]) -> bool {
    w.first() == Some(&b'_')
        || w.eq_ignore_ascii_case(b"x")
        || w.eq_ignore_ascii_case(b"b")
        || w.eq_ignore_ascii_case(b"n")
}

/// The user variables a statement other than `SET` assigns: `@x := ..` anywhere,
/// `SELECT .. INTO @a, @b` and `GET DIAGNOSTICS @a = ..`, as written, without repeats.
pub(crate) fn assigned_user_variables(stmt: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut lx = Lexer::new(stmt.as_bytes());
    // `GET DIAGNOSTICS @n = NUMBER, CONDITION 1 @m = MESSAGE_TEXT`: targets before `=`.
    let diagnostics = lx.clone().next().is_some_and(|t| t.kw() == Kw::Get);
    let mut found = Vec::new();
    while let Some(t) = lx.next() {
        match t.tk {
            Tk::UserVar if lx.peek_tk() == Some(Tk::Assign) => found.push(t),
            Tk::UserVar if diagnostics && lx.peek_tk() == Some(Tk::Eq) => found.push(t),
            Tk::Word if t.kw() == Kw::Into => {
                while let Some(v) = lx.peek() {
                    if v.tk != Tk::UserVar {
                        break;
                    }
                    lx.next();
                    found.push(v);
                    if !lx.eat_tk(Tk::Comma) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    for t in found {
        if let Some(name) = text(stmt, t) {
            if !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                out.push(name);
            }
        }
    }
    out
}

/// Classifies a `SET` statement from just after `SET` (not `SET STATEMENT`): a list of
/// assignments, each with an optional scope that sticks to the following ones.
/// A global assignment anywhere makes it `SetGlobal`; else `autocommit` anywhere makes it
/// `SetAutocommit`; else `SetSession`.
pub(super) fn parse_set(mut la: Lexer<'_>) -> (Kind, Flags) {
    let mut set = SetList::default();
    let mut first = true;
    while let Some(t) = la.next() {
        if t.tk == Tk::Semi {
            break;
        }
        let Some(t) = set.scope(t, &mut la) else {
            break;
        };
        let setting = set.target(t, first, &la);
        if setting == Setting::Transaction {
            return (set.transaction_kind(), set.flags);
        }
        first = false;
        if la.peek_tk() == Some(Tk::Eq) || la.peek_tk() == Some(Tk::Assign) {
            la.next();
        }
        let (value, more) = skip_value(&mut la);
        if setting == Setting::Autocommit {
            // The last assignment wins; only a one-token literal has a known value.
            set.autocommit = true;
            set.autocommit_value = value;
        }
        if !more {
            break;
        }
    }
    set.kind()
}

/// What the assignments of a `SET` seen so far add up to.
#[derive(Default)]
struct SetList {
    flags: Flags,
    /// The last scope keyword was a global one: it sticks to the following assignments.
    global_scope: bool,
    /// Some assignment is global (or sets a password or role).
    any_global: bool,
    /// Some assignment sets `autocommit`.
    autocommit: bool,
    /// The value of the last one, if a one-token literal.
    autocommit_value: Option<bool>,
}

/// What an assignment's target is, as far as the statement's kind cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// `[scope] TRANSACTION`, first: the statement is `SET [scope] TRANSACTION ...`.
    Transaction,
    /// The session's `autocommit`.
    Autocommit,
    Other,
}

impl SetList {
    /// Takes an optional scope keyword (`GLOBAL`, `PERSIST`, `PERSIST_ONLY`, `SESSION`,
    /// `LOCAL`) at `t`; returns the target's first token (`t` if it was no scope),
    /// `None` if the statement ends first.
    fn scope<'a>(&mut self, t: Token<'a>, la: &mut Lexer<'a>) -> Option<Token<'a>> {
        match t.kw() {
            Kw::Global | Kw::Persist | Kw::PersistOnly => self.global_scope = true,
            Kw::Session | Kw::Local => self.global_scope = false,
            _ => return Some(t),
        }
        la.next().filter(|n| n.tk != Tk::Semi)
    }

    /// Notes what the assignment's target `t` (after its scope; `la` just after it)
    /// makes of the statement. `first`: the statement's first assignment.
    fn target(&mut self, t: Token<'_>, first: bool, la: &Lexer<'_>) -> Setting {
        match t.tk {
            Tk::Word => match t.kw() {
                Kw::Transaction if first => return Setting::Transaction,
                Kw::Password | Kw::Role => self.any_global = true,
                Kw::Default if la.peek_kw() == Kw::Role => self.any_global = true,
                // Character set assignments are always session ones.
                Kw::Names | Kw::Charset | Kw::Character => {}
                Kw::Autocommit if !self.global_scope => return Setting::Autocommit,
                _ => self.any_global |= self.global_scope,
            },
            Tk::Ident => self.any_global |= self.global_scope,
            Tk::UserVar => self.flags |= Flags::USER_VARIABLE_WRITE,
            Tk::SysVar => return self.system_variable(t.text),
            _ => {}
        }
        Setting::Other
    }

    /// A system variable's target, `@@[scope.]name` (`text`: after the `@@`): its own
    /// scope, not the sticky one.
    fn system_variable(&mut self, text: &[u8]) -> Setting {
        let (scope, name) = match text.iter().rposition(|&b| b == b'.') {
            Some(dot) => (&text[..dot], &text[dot + 1..]),
            None => (&b""[..], text),
        };
        let global = [&b"global"[..], b"persist", b"persist_only"]
            .iter()
            .any(|g| scope.eq_ignore_ascii_case(g));
        if global {
            self.any_global = true;
        } else if name.eq_ignore_ascii_case(b"autocommit") {
            return Setting::Autocommit;
        }
        Setting::Other
    }

    /// The kind of `SET [scope] TRANSACTION ...`.
    fn transaction_kind(&self) -> Kind {
        if self.global_scope {
            Kind::SetGlobal
        } else {
            Kind::SetTransaction
        }
    }

    /// The statement's kind and flags, once every assignment is seen.
    fn kind(self) -> (Kind, Flags) {
        let mut flags = self.flags;
        if self.autocommit {
            match self.autocommit_value {
                Some(false) => flags |= Flags::AUTOCOMMIT_OFF,
                Some(true) => flags |= Flags::AUTOCOMMIT_ON,
                None => {}
            }
        }
        let kind = if self.any_global {
            Kind::SetGlobal
        } else if self.autocommit {
            Kind::SetAutocommit
        } else {
            Kind::SetSession
        };
        (kind, flags)
    }
}

/// Consumes one assignment's value, up to a `,` outside parentheses (or the statement's
/// end). Returns the boolean it stands for if it is a one-token literal, and whether
/// another assignment follows.
fn skip_value(la: &mut Lexer<'_>) -> (Option<bool>, bool) {
    let mut depth: i64 = 0;
    let mut value: Option<bool> = None;
    let mut value_tokens = 0usize;
    loop {
        let Some(v) = la.next() else {
            return (value, false);
        };
        match v.tk {
            Tk::Semi => return (value, false),
            Tk::Comma if depth == 0 => return (value, true),
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
    }
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

#[cfg(test)]
mod tests;
