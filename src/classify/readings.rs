//! The other ways the server may read a text (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`,
//! a server older than a versioned comment), and whether one of them classifies it
//! differently: what [`Flags::UNCERTAIN`] says.

use super::bytes::{find2, skip_version};
use super::head::classify_one;
use super::lexer::{
    Lexer, Reading, ALWAYS_EXECUTED_VERSION, SEEN_BACKSLASH, SEEN_DOUBLE_QUOTE, SEEN_VERSIONED,
};
use super::{Classification, Flags, Kind};

/// [`classify`](super::classify) in one reading, without [`Flags::UNCERTAIN`]; also
/// returns the lexer's `SEEN_*` bits.
pub(super) fn classify_in(s: &[u8], reading: Reading) -> (Classification, u8) {
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
pub(super) const MAX_VERSION_READINGS: usize = 8;

/// Whether some other reading of the text (see [`Flags::UNCERTAIN`]) splits or
/// classifies it differently from the default one, which gave `default` and whose lexer
/// saw `seen`. Only the
/// readings that can differ are tried: those of what was seen, and then of what those
/// readings saw (a backslash may end a string early and show a `"`).
#[cold]
#[inline(never)]
pub(super) fn readings_differ(s: &[u8], default: Classification, mut seen: u8) -> bool {
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
