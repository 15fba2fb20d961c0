//! Session statements taken apart, assignment by assignment: what a `SET` or `USE`
//! assigns, and whether each value is a *constant* (a literal whose text means the same
//! value on every node, so the statement itself can be applied to every node).
//!
//! Any other value (an expression, a subquery, a variable, a function call, a bound
//! `?`) must be evaluated once, on the node the routing decision picked, and its result
//! propagated: re-running `SET @n = @n + 1` or `SET @id = LAST_INSERT_ID()` on another
//! node would give another value there.

use super::{Kw, Lexer, Tk, Token};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(sql: &str) -> Option<Vec<(String, bool)>> {
        assignments(sql).map(|a| {
            a.iter()
                .map(|a| {
                    let t = match a.target {
                        Target::User(n) => format!("user {n}"),
                        Target::System(n) => format!("sys {n}"),
                        Target::Names => "names".into(),
                        Target::Transaction => "transaction".into(),
                        Target::Database => "db".into(),
                    };
                    (t, a.constant)
                })
                .collect()
        })
    }

    fn one(t: &str, constant: bool) -> Option<Vec<(String, bool)>> {
        Some(vec![(t.to_string(), constant)])
    }

    #[test]
    fn constants_and_expressions() {
        assert_eq!(shape("SET @x = 1"), one("user @x", true));
        assert_eq!(shape("SET @x := -1"), one("user @x", true));
        assert_eq!(shape("SET @x = 'a;b'"), one("user @x", true));
        assert_eq!(
            shape("SET @x = _utf8mb4'a' COLLATE utf8mb4_bin"),
            one("user @x", true)
        );
        assert_eq!(shape("SET @x = X'0A'"), one("user @x", true));
        assert_eq!(shape("SET @x = NULL"), one("user @x", true));
        assert_eq!(shape("SET @`a b` = 2"), one("user @`a b`", true));
        assert_eq!(shape("SET @n = @n + 1"), one("user @n", false));
        assert_eq!(shape("SET @x = ?"), one("user @x", false));
        assert_eq!(shape("SET @id = LAST_INSERT_ID()"), one("user @id", false));
        assert_eq!(
            shape("SET @v = (SELECT COUNT(*) FROM t)"),
            one("user @v", false)
        );
        assert_eq!(shape("SET @l = GET_LOCK('l', 0)"), one("user @l", false));
        assert_eq!(shape("SET @u = CURRENT_USER"), one("user @u", false));
        assert_eq!(shape("SET @c = some_column"), one("user @c", false));
        assert_eq!(
            shape("SET time_zone = '+01:00'"),
            one("sys time_zone", true)
        );
        assert_eq!(shape("SET time_zone = ?"), one("sys time_zone", false));
        assert_eq!(
            shape("SET SESSION sql_mode = ANSI"),
            one("sys sql_mode", true)
        );
        assert_eq!(
            shape("SET @@session.sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')"),
            one("sys sql_mode", false)
        );
        assert_eq!(
            shape("SET @@time_zone = DEFAULT"),
            one("sys time_zone", true)
        );
        assert_eq!(shape("SET @@local.x = 1"), one("sys x", true));
        assert_eq!(
            shape("SET NAMES utf8mb4 COLLATE utf8mb4_bin"),
            one("names", true)
        );
        assert_eq!(shape("SET CHARACTER SET latin1"), one("names", true));
        assert_eq!(shape("USE other"), one("db", true));
        assert_eq!(
            shape("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"),
            one("transaction", true)
        );
        assert_eq!(
            shape("SET @a = 1, @b = @a + 1, time_zone = 'SYSTEM'"),
            Some(vec![
                ("user @a".into(), true),
                ("user @b".into(), false),
                ("sys time_zone".into(), true)
            ])
        );
        assert_eq!(shape("SET @a = f(1, 2), @b = 3").unwrap().len(), 2);
    }

    #[test]
    fn not_session_statements() {
        for sql in [
            "SET GLOBAL max_connections = 10",
            "SET @@global.x = 1",
            "SET PASSWORD = 'x'",
            "SET ROLE r",
            "SET DEFAULT ROLE r FOR u",
            "SELECT 1",
            "SET",
            "SET x",
        ] {
            assert_eq!(shape(sql), None, "{sql}");
        }
    }

    #[test]
    fn keys_of_targets() {
        assert_eq!(Target::User("@`A`").keys(), vec!["@a"]);
        assert_eq!(Target::System("Time_Zone").keys(), vec!["@@time_zone"]);
        assert!(Target::Names
            .keys()
            .contains(&"@@character_set_results".to_string()));
        assert_eq!(Target::User("@x").read_back().as_deref(), Some("@x"));
        assert_eq!(
            Target::System("time_zone").read_back().as_deref(),
            Some("@@session.time_zone")
        );
    }

    #[test]
    fn user_variables_assigned_outside_set() {
        assert_eq!(
            assigned_user_variables("SELECT @a := 1, @b := 2"),
            vec!["@a", "@b"]
        );
        assert_eq!(
            assigned_user_variables("SELECT id, name INTO @i, @n FROM t LIMIT 1"),
            vec!["@i", "@n"]
        );
        assert_eq!(
            assigned_user_variables("SELECT @a := @a + 1, @A := 2"),
            vec!["@a"]
        );
        assert!(assigned_user_variables("SELECT @a FROM t").is_empty());
        assert!(assigned_user_variables("SELECT @a = 1").is_empty());
        assert_eq!(
            assigned_user_variables("GET DIAGNOSTICS @n = NUMBER, @r = ROW_COUNT"),
            vec!["@n", "@r"]
        );
        assert_eq!(
            assigned_user_variables("GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT"),
            vec!["@m"]
        );
        assert!(assigned_user_variables("SELECT 1 INTO OUTFILE '/tmp/x'").is_empty());
    }
}
