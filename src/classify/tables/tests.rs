use super::*;

#[test]
fn table_references() {
    let cases: &[(&str, &[&str])] = &[
        ("SELECT * FROM t", &["t"]),
        ("SELECT * FROM `db`.`t` WHERE a = 1", &["t"]),
        ("SELECT * FROM db.t", &["t"]),
        ("SELECT `users`.`id`, `posts`.`title` FROM (`users` INNER JOIN `posts` ON (`posts`.`user_id` = `users`.`id`))", &["users", "posts"]),
        ("SELECT * FROM a, b AS x, c y WHERE a.id = x.id", &["a", "b", "c"]),
        ("SELECT * FROM a LEFT JOIN b ON a.i = b.i RIGHT OUTER JOIN c USING (i) CROSS JOIN d NATURAL JOIN e STRAIGHT_JOIN f", &["a", "b", "c", "d", "e", "f"]),
        ("SELECT * FROM a JOIN b USING (id)", &["a", "b"]),
        ("SELECT * FROM real_t AS t", &["real_t"]),
        ("SELECT * FROM x t2", &["x"]),
        ("SELECT 1 AS t", &[]),
        ("SELECT t FROM u", &["u"]),
        ("SELECT t.a, 'tmp', @tmp, @@tmp FROM u", &["u"]),
        ("SELECT * FROM (SELECT * FROM inner_t) AS t", &["inner_t"]),
        ("SELECT * FROM (SELECT * FROM i1) t, i2", &["i1", "i2"]),
        ("SELECT * FROM a WHERE id IN (SELECT id FROM b WHERE x IN (SELECT y FROM c))", &["a", "b", "c"]),
        ("SELECT EXTRACT(YEAR FROM d) FROM t", &["t"]),
        ("SELECT * FROM JSON_TABLE('[]', '$[*]' COLUMNS (a INT PATH '$')) AS jt", &[]),
        ("SELECT * FROM t USE INDEX (i), u FORCE INDEX FOR JOIN (j) WHERE 1", &["t", "u"]),
        ("SELECT * FROM t PARTITION (p1) AS x", &["t"]),
        ("SELECT * FROM t FOR UPDATE", &["t"]),
        ("SELECT 1 FROM DUAL", &[]),
        ("SELECT a INTO @x FROM t", &["t"]),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", &["t"]),
        ("UPDATE real_t t SET a = 1", &["real_t"]),
        ("UPDATE LOW_PRIORITY IGNORE a, b SET a.x = b.x", &["a", "b"]),
        ("UPDATE a JOIN b ON a.i = b.i SET a.x = 1", &["a", "b"]),
        ("INSERT INTO t (a, b) VALUES (1, 2) ON DUPLICATE KEY UPDATE a = 3", &["t"]),
        ("INSERT t VALUES (1)", &["t"]),
        ("INSERT IGNORE INTO `db`.`t`(a) SELECT a FROM u", &["t", "u"]),
        ("REPLACE INTO t SET a = 1", &["t"]),
        ("SELECT REPLACE(a, 'x', 'y') FROM t", &["t"]),
        ("DELETE FROM t WHERE a = 1", &["t"]),
        ("DELETE t1, t2 FROM t1 JOIN t2 ON t1.i = t2.i", &["t1", "t2", "t1", "t2"]),
        ("DELETE t1.* FROM t1", &["t1", "t1"]),
        ("DELETE FROM t1 USING t2, t3 WHERE 1", &["t1", "t2", "t3"]),
        ("TABLE t", &["t"]),
        ("TRUNCATE TABLE t", &["t"]),
        ("TRUNCATE t", &["t"]),
        ("LOCK TABLES t READ, u WRITE, v AS x READ LOCAL, w LOW_PRIORITY WRITE", &["t", "u", "v", "w"]),
        ("LOAD DATA INFILE 'x' INTO TABLE t", &["t"]),
        ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (id INT)", &["tmp"]),
        ("CREATE TABLE t LIKE u", &["t", "u"]),
        ("DROP TABLE IF EXISTS a, b", &["a", "b"]),
        ("DESCRIBE t", &["t"]),
        ("HANDLER t OPEN", &["t"]),
        ("SELECT 1; SELECT * FROM tmp", &["tmp"]),
        ("SELECT * FROM t1 WHERE x = 'FROM t2' -- FROM t3\n", &["t1"]),
        ("/*!50000 SELECT * FROM tmp */", &["tmp"]),
        ("SELECT * FROM `t``x`", &["t``x"]),
        ("WITH c AS (SELECT * FROM base) SELECT * FROM c", &["base", "c"]),
        ("SELECT * FROM t WHERE (a, b) IN ((1, 2))", &["t"]),
        ("SELECT * FROM", &[]),
        ("", &[]),
    ];
    for (sql, want) in cases {
        assert_eq!(table_refs(sql), *want, "{sql:?}");
    }
}

#[test]
fn refers_to_tables() {
    assert!(refers_to_table("SELECT * FROM `TMP`", "tmp"));
    assert!(refers_to_table("select * from db.Tmp x", "TMP"));
    assert!(refers_to_table("SELECT * FROM `t``x`", "t`x"));
    assert!(!refers_to_table("SELECT tmp FROM t", "tmp"));
    assert!(!refers_to_table("SELECT * FROM t AS tmp", "tmp"));
    assert!(!refers_to_table("SELECT * FROM t tmp", "tmp"));
    assert!(!refers_to_table("SELECT 1 AS tmp", "tmp"));
    assert!(!refers_to_table("SELECT * FROM (SELECT 1) AS tmp", "tmp"));
    assert!(!refers_to_table("SELECT 'tmp'", "tmp"));
    assert!(!refers_to_table("SELECT * FROM tmp2", "tmp"));
    assert!(!refers_to_table("SELECT * FROM tmp", ""));
}

#[test]
fn write_target_tables() {
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("INSERT INTO t (a) VALUES (1)", Some(&["t"])),
        (
            "INSERT LOW_PRIORITY IGNORE INTO `db`.`t` SELECT * FROM u",
            Some(&["t"]),
        ),
        ("insert delayed t values (1)", Some(&["t"])),
        ("REPLACE HIGH_PRIORITY INTO t SET a = 1", Some(&["t"])),
        ("INSERT INTO `users` (`name`) VALUES (?)", Some(&["users"])),
        ("UPDATE t SET a = 1", Some(&["t"])),
        (
            "UPDATE LOW_PRIORITY IGNORE db.t AS x SET x.a = 1",
            Some(&["t"]),
        ),
        ("UPDATE t x SET a = 1", Some(&["t"])),
        ("UPDATE t, u SET t.a = u.a", None),
        ("UPDATE t JOIN u ON t.i = u.i SET t.a = 1", None),
        ("UPDATE (SELECT 1) x SET a = 1", None),
        ("DELETE FROM t", Some(&["t"])),
        ("DELETE FROM t;", Some(&["t"])),
        (
            "DELETE LOW_PRIORITY QUICK IGNORE FROM t WHERE a = 1",
            Some(&["t"]),
        ),
        ("DELETE FROM t AS x WHERE x.a = 1", Some(&["t"])),
        ("DELETE FROM t ORDER BY a LIMIT 1", Some(&["t"])),
        ("DELETE FROM t RETURNING a", Some(&["t"])),
        ("DELETE t FROM t JOIN u ON t.i = u.i", None),
        ("DELETE FROM t USING t JOIN u", None),
        ("DELETE FROM t, u USING t JOIN u", None),
        ("TRUNCATE TABLE t", Some(&["t"])),
        ("TRUNCATE t", Some(&["t"])),
        ("TRUNCATE TABLE t WAIT 1", None),
        (
            "LOAD DATA LOCAL INFILE 'x' REPLACE INTO TABLE db.t",
            Some(&["t"]),
        ),
        (
            "LOAD XML INFILE 'x' INTO TABLE t ROWS IDENTIFIED BY '<r>'",
            Some(&["t"]),
        ),
        ("SELECT * FROM t", None),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", None),
        (
            "SET STATEMENT max_statement_time=1 FOR INSERT INTO t VALUES (1)",
            None,
        ),
        ("CREATE TABLE t (a INT)", None),
        ("INSERT INTO SELECT", None),
        ("INSERT INTO t VALUES ('a\\'); DELETE FROM u; -- ')", None),
        ("INSERT INTO t VALUES (1); DELETE FROM u", Some(&["t"])),
        ("LOAD DATA INFILE 'x'; INSERT INTO TABLE t", None),
        (
            "/*!40101 SET NAMES utf8 */; /*!40000 INSERT INTO t VALUES (1) */",
            None,
        ),
        ("; /* c */ INSERT INTO t VALUES (1)", Some(&["t"])),
        ("", None),
    ];
    for (sql, want) in cases {
        assert_eq!(write_targets(sql).as_deref(), *want, "{sql:?}");
    }
}
