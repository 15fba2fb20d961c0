//! No input makes any entry point panic or break its invariants.

use super::*;

/// Runs every entry point on `sql` and checks the invariants that must hold for any
/// input.
fn exercise(sql: &str) {
    let c = classify(sql);
    let parts: Vec<_> = statements(sql).collect();
    assert_eq!(c.kind == Kind::Empty, parts.is_empty(), "{sql:?}");
    assert_eq!(c.flags.contains(Flags::MULTI), parts.len() > 1, "{sql:?}");
    for (text, class) in &parts {
        assert_ne!(class.kind, Kind::Empty);
        assert!(!class.flags.contains(Flags::MULTI));
        // Each statement's text lies inside the input.
        let (base, len) = (sql.as_ptr() as usize, sql.len());
        let p = text.as_ptr() as usize;
        assert!(p >= base && p + text.len() <= base + len, "{sql:?}");
    }
    if let Some(name) = target_name(sql) {
        let (base, p) = (sql.as_ptr() as usize, name.as_ptr() as usize);
        assert!(p >= base && p + name.len() <= base + sql.len());
    }
    let inside = |name: &str| {
        let (base, p) = (sql.as_ptr() as usize, name.as_ptr() as usize);
        p >= base && p + name.len() <= base + sql.len()
    };
    let refs = table_refs(sql);
    assert!(refs.iter().all(|n| inside(n) && !n.is_empty()), "{sql:?}");
    let _ = refers_to_table(sql, "tmp");
    let _ = refers_to_table(sql, sql);
    if let Some(targets) = write_targets(sql) {
        assert!(!targets.is_empty());
        // A write's targets are among its table references.
        for t in &targets {
            assert!(inside(t), "{sql:?}");
            assert!(refs.contains(t), "{sql:?}: {t:?} not in {refs:?}");
        }
    }
}

/// Text mixing the lexer's traps (quotes, escapes, comments, executable comments,
/// prefixes, compound statements): every substring of each is exercised.
const TRICKY: &[&str] = &[
    "SELECT `a``b`, 'c\\'d''e', \"f\\\"g\" FROM t /* x */ -- y\n# z\nFOR UPDATE; SELECT 1",
    "/*!40101 SET @x := @@session.warning_count, NAMES utf8 */;/*M!100100 SELECT 1 */",
    "WITH a AS (SELECT 1) (SELECT * FROM a) UNION (SELECT NEXT VALUE FOR s) INTO @v",
    "SET STATEMENT a=1 FOR SET STATEMENT b=2 FOR EXPLAIN ANALYZE FORMAT=JSON DELETE FROM t",
    "CREATE OR REPLACE TEMPORARY TABLE IF NOT EXISTS `d`.`t``x` SELECT GET_LOCK('é', 1);",
    "SHOW COUNT(*) WARNINGS; START TRANSACTION READ ONLY; SET autocommit = 'OFF'",
    "USE `ü`; DROP TEMPORARY TABLE IF EXISTS d.ñ; SELECT 1--1 -- \u{0}\n@'x':=1",
    "(((@@@ ::= `` '' \"\" /*/ */ -- \n #\n ; ; ;))) é\u{7f}ü\u{10ffff}",
    "SELECT 'a\\'; DELETE FROM t; -- ' \"b\\\"\" /*M!999999 ' */ `get_lock`(?)",
    "DELETE t1.*, t2 FROM (SELECT 1) x JOIN `d`.`t` USE INDEX (i) USING (a); TRUNCATE t",
    "lbl: BEGIN NOT ATOMIC IF 1 THEN INSERT INTO t SELECT * FROM u; END IF; END",
];

/// Fragments of statements and of lexical traps, for a pseudo-random soup.
const PIECES: &[&str] = &[
    "SELECT",
    "select",
    "FOR",
    "UPDATE",
    "LOCK",
    "IN",
    "SHARE",
    "MODE",
    "INTO",
    "@x",
    "@@",
    ":=",
    ":",
    "=",
    "(",
    ")",
    ",",
    ";",
    ".",
    "`",
    "'",
    "\"",
    "\\",
    "/*",
    "*/",
    "/*!",
    "/*!50100",
    "/*M!",
    "--",
    "-- ",
    "#",
    "\n",
    " ",
    "é",
    "WITH",
    "SET",
    "STATEMENT",
    "ANALYZE",
    "EXPLAIN",
    "CREATE",
    "TEMPORARY",
    "TABLE",
    "DROP",
    "USE",
    "GLOBAL",
    "autocommit",
    "NEXT",
    "VALUE",
    "LAST_INSERT_ID",
    "GET_LOCK",
    "*",
    "@",
    "1",
    "0",
    "tmp",
    "START",
    "TRANSACTION",
    "READ",
    "ONLY",
    "SHOW",
    "COUNT",
    "?",
    "`get_lock`(",
    "/*M!999999",
    "/*!110000",
    "BEGIN NOT ATOMIC",
    "lbl:",
    "IF",
    "END",
    "FROM",
    "JOIN",
    "INSERT INTO",
    "DELETE",
    "UPDATE t SET",
    "AS",
    "x",
    "db.",
    "USING",
    "TRUNCATE",
    "LOAD DATA INTO TABLE",
];

#[test]
fn never_panics_on_tricky_substrings() {
    for s in TRICKY {
        let boundaries: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
        for &i in &boundaries {
            for &j in boundaries.iter().filter(|&&j| j >= i) {
                exercise(&s[i..j]);
            }
        }
    }
}

#[test]
fn never_panics_on_fragment_soup() {
    // Pseudo-random soup of fragments, deterministic.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = String::new();
    for _ in 0..20_000 {
        buf.clear();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            buf.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            if seed & 0x100 != 0 {
                buf.push(' ');
            }
        }
        exercise(&buf);
    }
}

#[test]
fn never_panics_on_bytes_and_long_inputs() {
    // Every single byte value (as far as a str can hold it) and long inputs.
    for b in 0u8..=127 {
        exercise(&(b as char).to_string());
    }
    exercise(&"(".repeat(100_000));
    exercise(&"SET STATEMENT a=1 FOR ".repeat(10_000));
    exercise(&"ANALYZE ".repeat(10_000));
    exercise(&"/*!".repeat(10_000));
}
