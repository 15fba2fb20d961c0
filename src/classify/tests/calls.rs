//! Calls of functions the server doesn't ship, and the table of names that are native.

use super::*;

/// Statements, and whether they call a function the server doesn't ship.
const CALLS: &[(&str, bool)] = &[
    // native calls, as Diesel and people write them
    ("SELECT COUNT(*) FROM `users`", false),
    ("SELECT COUNT(DISTINCT `users`.`id`) FROM `users`", false),
    ("SELECT SUM(a), AVG(a), MIN(a), MAX(a) FROM t", false),
    ("SELECT COALESCE(a, 0), IFNULL(b, 1), NULLIF(c, 2) FROM t", false),
    ("SELECT `users`.`id` FROM `users` WHERE (LOWER(`users`.`name`) = LOWER(?))", false),
    ("SELECT UPPER(a), CONCAT(a, b), CONCAT_WS(',', a) FROM t", false),
    ("SELECT NOW(), DATE(NOW()), CURRENT_TIMESTAMP(6), UTC_TIMESTAMP()", false),
    ("SELECT CAST(a AS DECIMAL(10,2)), CAST(b AS CHAR(10)), CONVERT(c, SIGNED)", false),
    ("SELECT CONVERT(a USING utf8mb4) FROM t", false),
    ("SELECT JSON_EXTRACT(doc, '$.a'), JSON_OBJECT('a', 1), JSON_ARRAYAGG(x) FROM t", false),
    ("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b), RANK() OVER w FROM t WINDOW w AS (ORDER BY a)", false),
    ("SELECT IF(a, 1, 2), LEFT(s, 2), CHAR(65), ST_AsText(POINT(1, 2)) FROM t", false),
    ("SELECT lower (a), count /* c */ (*) FROM t", false),
    ("SELECT `lower`(a), `json_extract`(d, '$') FROM t", false),
    // syntax that looks like a call
    ("SELECT * FROM t WHERE a IN (1, 2) AND EXISTS (SELECT 1) AND b = ANY (SELECT 1)", false),
    ("SELECT * FROM t WHERE a > ALL (SELECT 1) OR a = SOME (SELECT 2)", false),
    ("SELECT * FROM t1 JOIN t2 USING (id) JOIN t3 ON (t3.a = t1.a)", false),
    ("SELECT * FROM t USE INDEX (i) FORCE INDEX FOR JOIN (j) IGNORE KEY (k)", false),
    ("SELECT * FROM t WHERE MATCH (a, b) AGAINST ('x' IN BOOLEAN MODE)", false),
    ("SELECT NOW() - INTERVAL (1) DAY, INTERVAL(5, 1, 10)", false),
    ("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS jt", false),
    ("WITH t (a, b) AS (SELECT 1, 2), u (c) AS (SELECT 3) SELECT * FROM t, u", false),
    ("WITH RECURSIVE cte (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM cte) SELECT * FROM cte", false),
    ("VALUES (1), (2)", false),
    ("SELECT ROW(1, 2) = ROW(1, 2)", false),
    ("SELECT a FROM t LIMIT 1", false),
    ("SELECT DISTINCT(a) FROM t WHERE NOT(a) AND (a) OR(b)", false),
    ("INSERT INTO `users` (`name`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)", false),
    ("INSERT INTO db.t (a) VALUES (1)", false),
    ("INSERT INTO `db`.`t`(a) VALUES (1)", false),
    ("INSERT IGNORE t (a) VALUES (1)", false),
    ("REPLACE LOW_PRIORITY INTO t (a) VALUES (1)", false),
    ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (a INT(11), b VARCHAR(10), KEY k (a), UNIQUE u (b))", false),
    ("CREATE TEMPORARY TABLE tmp (a DECIMAL(10, 2) NOT NULL DEFAULT 0, PRIMARY KEY (a))", false),
    ("LOAD DATA INFILE 'f' INTO TABLE t (a, b)", false),
    ("SELECT my_col FROM t", false),
    ("SELECT t.my_fn FROM t", false),
    ("SELECT 'my_fn(1)', \"f(2)\" -- g(3)\n", false),
    // stored functions: plain, backticked, qualified
    ("SELECT my_fn(1)", true),
    ("select My_Fn()", true),
    ("SELECT id FROM t WHERE f(x) > 0", true),
    ("SELECT `my_fn`(1)", true),
    ("SELECT `db`.`fn`(1)", true),
    ("SELECT db.fn(1)", true),
    ("SELECT db.lower(1)", true),
    ("SELECT `count`(*) FROM t", true),
    ("SELECT `if`(1, 2, 3)", true),
    ("SELECT data(1), status(2)", true),
    // comments and whitespace between the name and `(`
    ("SELECT my_fn (1)", true),
    ("SELECT my_fn /* c */ (1)", true),
    ("SELECT my_fn -- c\n (1)", true),
    ("SELECT `my_fn` # c\n (1)", true),
    ("SELECT my_fn/*!*/(1)", true),
    // inside subqueries, CTEs, SET, other statements
    ("SELECT * FROM t WHERE a IN (SELECT f(b) FROM u)", true),
    ("SELECT * FROM (SELECT g(1) AS x) AS d", true),
    ("WITH x AS (SELECT f(1)) SELECT * FROM x", true),
    ("WITH x (a) AS (SELECT 1) SELECT f(a) FROM x", true),
    ("SET @v = my_fn(3)", true),
    ("SET @a = 1, @b = (SELECT f(2))", true),
    ("SET STATEMENT max_statement_time=1 FOR SELECT f(1)", true),
    ("SELECT * FROM t1 JOIN t2 ON f(t1.a) = t2.b", true),
    ("INSERT INTO t (a) SELECT f(b) FROM u", true),
    ("INSERT INTO t (a) VALUES (f(1))", true),
    ("UPDATE t SET a = f(a)", true),
    ("CREATE TEMPORARY TABLE tmp AS SELECT f(1) AS a", true),
    ("DO my_fn(1)", true),
    ("CALL proc()", true),
    ("EXPLAIN SELECT f(1)", true),
    ("SELECT 1; SELECT f(1)", true),
    ("SELECT a FROM t INTO @x WHERE f(1)", true),
];

// Enough cases to cover every rule.
const _: () = assert!(CALLS.len() >= 40);

#[test]
fn unknown_function_calls() {
    let mut failures = Vec::new();
    for &(sql, want) in CALLS {
        let got = classify(sql).flags.contains(Flags::CALLS_UNKNOWN_FUNCTION);
        if got != want {
            failures.push(format!("{sql:?}: got {got}, want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn function_names_table() {
    use functions::is_known_call;
    assert_eq!(functions::NAME_COUNT, 800);
    for name in [
        "COUNT",
        "count",
        "Lower",
        "JSON_EXTRACT",
        "ROW_NUMBER",
        "ST_ASTEXT",
        "IN",
        "OVER",
        "VARCHAR",
        "MASTER_SSL_VERIFY_SERVER_CERT",
    ] {
        assert!(is_known_call(name.as_bytes(), false), "{name}");
    }
    for name in ["LOWER", "json_extract", "ST_X", "GET_LOCK"] {
        assert!(is_known_call(name.as_bytes(), true), "`{name}`");
    }
    for name in ["COUNT", "IF", "IN", "NEXTVAL"] {
        assert!(!is_known_call(name.as_bytes(), true), "`{name}`");
    }
    for name in [
        "",
        "my_fn",
        "DATA",
        "LOWE",
        "LOWERR",
        "MASTER_SSL_VERIFY_SERVER_CERTX",
        "ÿ",
    ] {
        assert!(!is_known_call(name.as_bytes(), false), "{name}");
    }
}
