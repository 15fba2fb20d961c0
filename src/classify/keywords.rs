//! The keywords classification cares about ([`Kw`]) and their lookup ([`keyword`]): a
//! hash table built at compile time.

/// Defines [`Kw`], with each keyword's text, and the lookup table behind [`keyword`].
macro_rules! keywords {
    ($($kw:ident = $text:literal,)*) => {
        /// The words classification cares about.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum Kw {
            None,
            $($kw,)*
        }

        /// Every keyword with its text.
        pub(super) const ALL_KEYWORDS: &[(Kw, &[u8])] = &[$((Kw::$kw, $text),)*];

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
pub(super) const MIN_FUNCTION_NAME: usize = 6;

/// The longest name of a flagged built-in function, `RELEASE_ALL_LOCKS`.
pub(super) const MAX_FUNCTION_NAME: usize = 17;

/// The longest keyword, `SQL_CALC_FOUND_ROWS`.
pub(super) const MAX_KW: usize = 19;

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
pub(super) fn keyword(word: &[u8]) -> Kw {
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
