//! Other readings of the text (uncertain text), the flags added for them, compound statements.

use super::Kind::*;
use super::*;

/// Backticked built-ins, called, count as the bare word.
const BACKTICKED_BUILTINS: &[Case] = &[
    ("SELECT `get_lock`('l', 0)", Select, NL),
    ("SELECT `GET_LOCK` ('l', 0)", Select, NL),
    ("SELECT `get_lock` /* c */ ('l', 0)", Select, NL),
    // Backticked, these call a stored function `nextval` (the server says so).
    ("SELECT `NEXTVAL`(s)", Select, flags!(WF | CUF)),
    (
        "SELECT `setval`(s, 1), `lastval`(s)",
        Select,
        flags!(WF | CUF),
    ),
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
];

/// The insert id, found rows and the rest of the previous statement's state.
const PREVIOUS_STATE: &[Case] = &[
    ("SELECT LAST_INSERT_ID()", Select, RII),
    ("SELECT LAST_INSERT_ID( )", Select, RII),
    ("SELECT LAST_INSERT_ID(42)", Select, SII),
    ("UPDATE t SET id = LAST_INSERT_ID(id + 1)", Update, SII),
    ("SELECT @@insert_id, @@session.identity", Select, RII),
    ("SELECT FOUND_ROWS()", Select, RFR),
    ("SELECT ROW_COUNT(), @@warning_count", Select, RPS),
    ("SHOW WARNINGS", Show, RPS),
    ("GET DIAGNOSTICS @n = NUMBER", GetDiagnostics, RPS),
];

/// Placeholders.
const PLACEHOLDERS: &[Case] = &[
    ("SELECT * FROM t WHERE a = ?", Select, PH),
    ("SELECT * FROM t WHERE a=?", Select, PH),
    ("SELECT ?", Select, PH),
    ("SELECT '?', `?`, \"?\" /* ? */ -- ?\n", Select, NONE),
    ("SELECT 1 # ?", Select, NONE),
    ("SELECT /*! ? */", Select, PH),
];

/// A backslash in a string: `NO_BACKSLASH_ESCAPES` splits elsewhere.
const BACKSLASHES: &[Case] = &[
    ("SELECT 'a\\'; DELETE FROM t; -- '", Select, UNC),
    ("SELECT 'a\\' FOR UPDATE -- '", Select, UNC),
    ("SELECT 'a\\', GET_LOCK('l', 0) -- '", Select, UNC),
    ("SELECT 'O\\'Brien'", Select, NONE),
    ("SELECT 'a\\nb' FROM t", Select, NONE),
    ("SELECT 'C:\\\\dir' FROM t", Select, NONE),
];

/// `"`: `ANSI_QUOTES` makes it an identifier.
const DOUBLE_QUOTES: &[Case] = &[
    ("SELECT \"a\"; DELETE FROM t", Delete, MULTI),
    ("SELECT \"a\" FROM t", Select, NONE),
    ("SELECT \"get_lock\"('l', 0)", Select, UNC),
    ("SELECT \"a'\"; DELETE FROM t; -- '", Delete, MULTI),
    ("SELECT \"a\\\"; DELETE FROM t; -- \"", Select, UNC),
];

/// Versioned comments a server may not run.
const VERSIONED_COMMENTS: &[Case] = &[
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
        flags!(NL | UNC),
    ),
    (
        "/*!110000 DELETE FROM t; */ SELECT 1",
        Delete,
        flags!(MULTI | UNC),
    ),
    ("SELECT 1 /*!40101 , 2 */", Select, NONE),
    ("SELECT 1 /*! FOR UPDATE */", LockingRead, NONE),
    ("SELECT 1 /*M! FOR UPDATE */", LockingRead, NONE),
    (
        "SELECT 1 /*M!110000 , 2 */ /*M!120000 , 3 */ /*M!130000 , GET_LOCK('l', 0) */",
        Select,
        flags!(NL | UNC),
    ),
];

/// Readings combine: the backslash hides a `"` in the default reading.
const COMBINED_READINGS: &[Case] = &[("SELECT 'a\\' \"get_lock\"('l', 0) -- '", Select, UNC)];

/// Compound statements: one statement, never a read or a `BEGIN`.
const COMPOUND_STATEMENTS: &[Case] = &[
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

/// Every topic's cases, with the topic's name for failure messages.
const TOPICS: &[(&str, &[Case])] = &[
    ("backticked builtins", BACKTICKED_BUILTINS),
    ("previous state", PREVIOUS_STATE),
    ("placeholders", PLACEHOLDERS),
    ("backslashes", BACKSLASHES),
    ("double quotes", DOUBLE_QUOTES),
    ("versioned comments", VERSIONED_COMMENTS),
    ("combined readings", COMBINED_READINGS),
    ("compound statements", COMPOUND_STATEMENTS),
];

/// The defects these flags were built for, verbatim, and their neighbours.
#[test]
fn readings_and_new_flags() {
    assert_classified(TOPICS);
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
