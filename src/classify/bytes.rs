//! Byte classes and the byte scans under the lexer and the tail scan: runs of a byte
//! set, words, comments, strings and quoted identifiers, found without tokens.

// Byte classes.
pub(super) const C_OTHER: u8 = 0;
pub(super) const C_WS: u8 = 1;
pub(super) const C_IDENT: u8 = 2;
pub(super) const C_QUOTE: u8 = 3;
pub(super) const C_BACKTICK: u8 = 4;
pub(super) const C_AT: u8 = 5;
pub(super) const C_SEMI: u8 = 6;
pub(super) const C_COLON: u8 = 7;
pub(super) const C_DOT: u8 = 8;
pub(super) const C_LPAREN: u8 = 9;
pub(super) const C_RPAREN: u8 = 10;
pub(super) const C_COMMA: u8 = 11;
pub(super) const C_EQ: u8 = 12;
// Bytes that may start (or, `*`, end) a comment: kept last for one range check.
pub(super) const C_SLASH: u8 = 13;
pub(super) const C_DASH: u8 = 14;
pub(super) const C_HASH: u8 = 15;
pub(super) const C_STAR: u8 = 16;

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
pub(super) const S_WS: u8 = 1;
/// Identifier bytes.
const S_IDENT: u8 = 2;
/// Identifier bytes and `.`: the bytes of a number (`1.5e3`).
const S_NUMBER: u8 = 4;
/// Bytes the tail scan skips: whitespace and punctuation that matter to no rule there.
pub(super) const S_TAIL_SKIP: u8 = 8;
/// Identifier bytes and `.`: the name of a variable (`@a.b`, `@@session.x`).
pub(super) const S_VAR: u8 = S_NUMBER;

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

#[inline]
pub(super) fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

#[inline]
pub(super) fn is_ident(b: u8) -> bool {
    class(b) == C_IDENT
}

/// Index of the first byte at or after `from` equal to `a` or `b` (or the end). Eight
/// bytes at a time (SWAR): identifiers, strings and comments are mostly short, and a
/// byte loop's exit is what mispredicts.
#[inline]
pub(super) fn find2(s: &[u8], from: usize, a: u8, b: u8) -> usize {
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
pub(super) fn span(s: &[u8], from: usize, set: u8) -> usize {
    let mut i = from.min(s.len());
    while i < s.len() && SETS[usize::from(s[i])] & set != 0 {
        i += 1;
    }
    i
}

/// The end of the word starting at `i`. A number may hold a `.` (`1.5`, `1.`): it's
/// kept, so that the next word isn't mistaken for a qualified name's part.
#[inline]
pub(super) fn word_end(s: &[u8], i: usize) -> usize {
    if s.get(i).is_some_and(u8::is_ascii_digit) {
        span(s, i + 1, S_NUMBER)
    } else {
        span(s, i + 1, S_IDENT)
    }
}

/// Index just past the next `\n` (or the end).
#[inline]
pub(super) fn skip_line(s: &[u8], from: usize) -> usize {
    (find2(s, from, b'\n', b'\n') + 1).min(s.len())
}

/// Index just past the next `*/` (or the end).
#[inline]
pub(super) fn skip_block(s: &[u8], from: usize) -> usize {
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
pub(super) fn skip_version(s: &[u8], from: usize) -> (usize, Option<u32>) {
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
pub(super) fn scan_string(
    s: &[u8],
    from: usize,
    q: u8,
    no_backslash_escapes: bool,
) -> (usize, bool) {
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
pub(super) fn scan_quoted_ident(s: &[u8], from: usize, q: u8) -> usize {
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
