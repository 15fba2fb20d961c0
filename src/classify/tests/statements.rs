//! Batches split into statements, and the names statements are about.

use super::*;

#[test]
fn statements_split_batches() {
    let split = |sql| -> Vec<(&str, Kind)> { statements(sql).map(|(s, c)| (s, c.kind)).collect() };
    assert_eq!(
        split("SET time_zone='+01:00'; SELECT 1"),
        [
            ("SET time_zone='+01:00'", Kind::SetSession),
            ("SELECT 1", Kind::Select)
        ]
    );
    assert_eq!(
        split("  ;; /* c */ ; SELECT 1 ;\n"),
        [("SELECT 1", Kind::Select)]
    );
    assert_eq!(
        split("SELECT 'a;b'; SELECT `c;d`"),
        [
            ("SELECT 'a;b'", Kind::Select),
            ("SELECT `c;d`", Kind::Select)
        ]
    );
    assert_eq!(
        split("/*!40101 SET NAMES utf8 */;\nINSERT INTO t VALUES (1);"),
        [
            ("/*!40101 SET NAMES utf8 */", Kind::SetSession),
            ("INSERT INTO t VALUES (1)", Kind::Insert)
        ]
    );
    assert_eq!(
        split("SELECT 1 -- c; SELECT 2\n; SELECT 3"),
        [
            ("SELECT 1 -- c; SELECT 2", Kind::Select),
            ("SELECT 3", Kind::Select)
        ]
    );
    assert_eq!(
        split("BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT;"),
        [
            ("BEGIN", Kind::Begin),
            ("UPDATE t SET a = 1 WHERE id = 2", Kind::Update),
            ("COMMIT", Kind::Commit)
        ]
    );
    assert!(split("").is_empty());
    assert!(split(" ; -- x\n ; /* y */").is_empty());
    // Each statement is classified alone: no MULTI, its own flags.
    let all: Vec<_> = statements("SELECT 1; SELECT LAST_INSERT_ID()").collect();
    assert_eq!(all[0].1.flags, Flags::NONE);
    assert_eq!(all[1].1.flags, Flags::READS_INSERT_ID);
}

#[test]
fn target_names() {
    let cases: &[(&str, Option<&str>)] = &[
        ("USE mydb", Some("mydb")),
        ("use `my db`;", Some("my db")),
        ("  /* c */ USE db1 ; SELECT 1", Some("db1")),
        ("/*!40101 USE db2 */", Some("db2")),
        ("CREATE TEMPORARY TABLE tmp (id INT)", Some("tmp")),
        (
            "create temporary table if not exists `db`.`tmp_x` select 1",
            Some("tmp_x"),
        ),
        (
            "CREATE OR REPLACE TEMPORARY TABLE `t``x` (a int)",
            Some("t``x"),
        ),
        ("CREATE TEMPORARY TABLE é_tbl (a int)", Some("é_tbl")),
        ("DROP TEMPORARY TABLE IF EXISTS db.tmp", Some("tmp")),
        ("DROP TEMPORARY TABLE a, b", Some("a")),
        ("DROP TEMPORARY TABLE `Tmp`", Some("Tmp")),
        (
            "SET STATEMENT max_statement_time=1 FOR CREATE TEMPORARY TABLE t2 (a int)",
            Some("t2"),
        ),
        ("SELECT 1", None),
        ("CREATE TABLE t (id int)", None),
        ("USE", None),
        ("USE ;", None),
        ("", None),
        ("CREATE TEMPORARY TABLE", None),
        ("CREATE TEMPORARY TABLE db.", None),
        ("DROP TEMPORARY TABLE IF EXISTS", None),
    ];
    for (sql, want) in cases {
        assert_eq!(target_name(sql), *want, "{sql:?}");
    }
}
