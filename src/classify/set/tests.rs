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
