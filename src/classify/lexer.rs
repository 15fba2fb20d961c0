//! The byte lexer: tokens, skipping whitespace and comments (entering executable
//! ones), in one [`Reading`] of the text.

use super::bytes::{
    class, is_ident, scan_quoted_ident, scan_string, skip_block, skip_line, skip_version, span,
    word_end, C_AT, C_BACKTICK, C_COLON, C_COMMA, C_DOT, C_EQ, C_IDENT, C_LPAREN, C_QUOTE,
    C_RPAREN, C_SEMI, C_SLASH, S_VAR, S_WS,
};
use super::keywords::{keyword, Kw};

/// Token types. Only what classification needs is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tk {
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
pub(super) struct Token<'a> {
    pub(super) tk: Tk,
    pub(super) text: &'a [u8],
    /// Where `text` starts in the input.
    pub(super) start: usize,
}

impl Token<'_> {
    /// The keyword this token is, if it's an unquoted word.
    #[inline]
    pub(super) fn kw(&self) -> Kw {
        if self.tk == Tk::Word {
            keyword(self.text)
        } else {
            Kw::None
        }
    }
}

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

/// One way the server may read the text: the lexical settings that are not in the text
/// itself (`sql_mode` and the server version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reading {
    /// `NO_BACKSLASH_ESCAPES`: a backslash in a string is an ordinary byte.
    pub(super) no_backslash_escapes: bool,
    /// `ANSI_QUOTES`: `"..."` is an identifier, not a string.
    pub(super) ansi_quotes: bool,
    /// Versioned executable comments for this version or newer are plain comments (a
    /// server older than this). `u32::MAX`: every one is SQL.
    pub(super) plain_from: u32,
}

impl Reading {
    /// The server defaults, and a server newer than every versioned comment.
    pub(super) const DEFAULT: Reading = Reading {
        no_backslash_escapes: false,
        ansi_quotes: false,
        plain_from: u32::MAX,
    };
}

/// The byte lexer. `Clone` is a cheap copy, used for lookahead.
#[derive(Clone)]
pub(super) struct Lexer<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
    /// Inside `/*! ... */`: the next `*/` closes it.
    in_exec: bool,
    /// The previous token was a `.` glued to an identifier character.
    pub(super) after_dot: bool,
    /// [`Reading::plain_from`].
    plain_from: u32,
    /// The rest of the [`Reading`]: `Q_*` bits.
    quirks: u8,
    /// What was lexed that another reading might read differently: `SEEN_*` bits.
    pub(super) seen: u8,
}

/// [`Lexer::quirks`]: [`Reading::no_backslash_escapes`].
const Q_NO_BACKSLASH_ESCAPES: u8 = 1;
/// [`Lexer::quirks`]: [`Reading::ansi_quotes`].
const Q_ANSI_QUOTES: u8 = 2;
/// [`Lexer::seen`]: a backslash in a string.
pub(super) const SEEN_BACKSLASH: u8 = 1;
/// [`Lexer::seen`]: a `"`-quoted string or identifier.
pub(super) const SEEN_DOUBLE_QUOTE: u8 = 2;
/// [`Lexer::seen`]: a versioned comment some supported server may not run.
pub(super) const SEEN_VERSIONED: u8 = 4;

/// Versioned comments up to this version run on every server the library supports
/// (MariaDB 10.0 and later): no other reading of them is considered.
pub(super) const ALWAYS_EXECUTED_VERSION: u32 = 100_000;

impl<'a> Lexer<'a> {
    pub(super) fn new(s: &'a [u8]) -> Self {
        Lexer::with_reading(s, Reading::DEFAULT)
    }

    pub(super) fn with_reading(s: &'a [u8], reading: Reading) -> Self {
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

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<Token<'a>> {
        self.clone().next()
    }

    #[inline]
    pub(super) fn peek_tk(&self) -> Option<Tk> {
        self.peek().map(|t| t.tk)
    }

    #[inline]
    pub(super) fn peek_kw(&self) -> Kw {
        self.peek().map_or(Kw::None, |t| t.kw())
    }

    /// Consumes the next token if it is the keyword `k`.
    pub(super) fn eat(&mut self, k: Kw) -> bool {
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
    pub(super) fn eat_tk(&mut self, tk: Tk) -> bool {
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
    pub(super) fn skip_format(&mut self) {
        if self.eat(Kw::Format) {
            self.eat_tk(Tk::Eq);
            self.next();
        }
    }

    /// Skips to just after the first `FOR` outside parentheses in this statement;
    /// false if the statement ends first.
    pub(super) fn skip_to_for(&mut self) -> bool {
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
    pub(super) fn has_read_only(mut self) -> bool {
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
        let Some(i) = self.skip_to_token() else {
            self.pos = self.s.len();
            self.after_dot = false;
            return None;
        };
        let after_dot = std::mem::replace(&mut self.after_dot, false);
        let (tk, start, end, next) = self.token_at(i, after_dot);
        self.pos = next;
        Some(Token {
            tk,
            text: self.s.get(start..end).unwrap_or_default(),
            start,
        })
    }
}

/// A token as [`Lexer::token_at`] finds it: its type, where its text starts and ends,
/// and where lexing goes on (after a closing quote).
type Lexed = (Tk, usize, usize, usize);

/// The pieces of [`Lexer::next`], inlined into it.
impl Lexer<'_> {
    /// Where the next token starts: skips whitespace and comments from the lexer's
    /// position, entering and leaving executable comments. `None` at the end of input.
    #[inline(always)]
    fn skip_to_token(&mut self) -> Option<usize> {
        let s = self.s;
        let mut i = self.pos;
        loop {
            // Whitespace first, in a tight loop: it's the usual separator.
            i = span(s, i, S_WS);
            let &b = s.get(i)?;
            if class(b) < C_SLASH {
                return Some(i);
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
                b'/' if s.get(i + 1) == Some(&b'*') => i = self.block_comment(i),
                b'*' if self.in_exec && s.get(i + 1) == Some(&b'/') => {
                    self.in_exec = false;
                    i += 2;
                }
                _ => return Some(i),
            }
        }
    }

    /// The `/*` at `i`: skips the comment, or enters an executable one (`/*!`, `/*M!`,
    /// with an optional version) that this reading runs. Returns where lexing goes on.
    #[inline(always)]
    fn block_comment(&mut self, i: usize) -> usize {
        let s = self.s;
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
                    skip_block(s, end)
                } else {
                    self.in_exec = true;
                    end
                }
            }
            _ => skip_block(s, i + 2),
        }
    }

    /// The token starting at `i` (`after_dot`: right after a `.` glued to an identifier
    /// character, so a word is a name's part).
    #[inline(always)]
    fn token_at(&mut self, i: usize, after_dot: bool) -> Lexed {
        let s = self.s;
        let n = s.len();
        let b = s[i];
        let c = class(b);
        // Most frequent first.
        if c == C_IDENT {
            let j = word_end(s, i);
            let tk = if after_dot { Tk::Ident } else { Tk::Word };
            (tk, i, j, j)
        } else if c == C_BACKTICK {
            let j = scan_quoted_ident(s, i + 1, b'`');
            (Tk::Ident, i + 1, j, (j + 1).min(n))
        } else if c == C_QUOTE {
            self.quoted(i, b)
        } else if c == C_AT {
            self.variable(i)
        } else if c == C_COLON && s.get(i + 1) == Some(&b'=') {
            (Tk::Assign, i, i + 2, i + 2)
        } else {
            // One-byte tokens.
            self.after_dot = c == C_DOT && s.get(i + 1).is_some_and(|&c| is_ident(c));
            (ONE_BYTE[c as usize], i, i + 1, i + 1)
        }
    }

    /// The text quoted with `q` (`'` or `"`) at `i`: a string, or under `ANSI_QUOTES` a
    /// `"`-quoted identifier.
    #[inline(always)]
    fn quoted(&mut self, i: usize, q: u8) -> Lexed {
        let n = self.s.len();
        if q == b'"' {
            self.seen |= SEEN_DOUBLE_QUOTE;
        }
        if q == b'"' && self.quirks & Q_ANSI_QUOTES != 0 {
            let j = scan_quoted_ident(self.s, i + 1, b'"');
            (Tk::Ident, i + 1, j, (j + 1).min(n))
        } else {
            let j = self.scan_string(i + 1, q);
            (Tk::Str, i + 1, j, (j + 1).min(n))
        }
    }

    /// The `@` at `i`: a system variable (`@@[scope.]name`), a user variable (`@name`,
    /// `@'name'`, `@"name"`, `` @`name` ``), or a lone `@`.
    #[inline(always)]
    fn variable(&mut self, i: usize) -> Lexed {
        let s = self.s;
        let n = s.len();
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
    }
}
