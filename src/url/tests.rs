use super::*;

#[test]
fn parses_master_and_replicas() {
    let p = parse("mysql://app:s%40cret@m:3306,r1:3307,r2/appdb?balance=random&ssl_mode=disabled")
        .unwrap();
    assert_eq!(p.nodes.len(), 3);
    assert_eq!(p.nodes[0].host, "m");
    assert_eq!(p.nodes[1].port, 3307);
    assert_eq!(p.nodes[2].port, 3306);
    assert_eq!(p.nodes[0].password.expose(), "s@cret");
    assert_eq!(p.nodes[0].database, "appdb");
    assert_eq!(p.options, vec![("balance".into(), "random".into())]);
    assert_eq!(
        p.nodes[1].connection_url(),
        "mysql://app:s%40cret@r1:3307/appdb?ssl_mode=disabled"
    );
}

#[test]
fn ipv6_hosts() {
    let p = parse("mysql://u:p@[::1]:3401,[::1]/db").unwrap();
    assert_eq!(p.nodes[0].host, "::1");
    assert_eq!(p.nodes[0].port, 3401);
    assert_eq!(p.nodes[1].port, 3306);
    assert_eq!(p.nodes[0].connection_url(), "mysql://u:p@[::1]:3401/db");
}

#[test]
fn bad_urls_are_errors_without_the_password() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("   ", "empty"),
        ("postgres://u:hunter2@h/db", "scheme"),
        ("mysql://u:hunter2@/db", "no host"),
        ("mysql://u:hunter2@h1,,h2/db", "empty host"),
        ("mysql://u:hunter2@h:99999/db", "invalid port"),
        ("mysql://u:hunter2@h:0/db", "port 0"),
        ("mysql://u:hunter2@h:abc/db", "invalid port"),
        ("mysql://u:hunter2@h", "no database"),
        ("mysql://u:hunter2@h/", "no database"),
        ("mysql://u:hunter2@h/db/x", "single database"),
        ("mysql://u:hunter2@h/db?bogus=1", "unknown option `bogus`"),
        ("mysql://u:hunter2@h/db?balance", "no value"),
        ("mysql://u:hunter2@h/db?balance=a&balance=b", "twice"),
        ("mysql://u:hunter2@h/d%zzb", "percent"),
        ("mysql://:hunter2@h/db", "user name is empty"),
        ("mysql://h/db", "no user"),
        ("mysql://u:hunter2@h a/db", "invalid character"),
        ("mysql://u:hunter2@[::1/db", "IPv6"),
        ("mysql://u:hunter2@a,b/db?unix_socket=/x", "unix_socket"),
        ("mysql://u:hunter2@h/db#frag", "fragment"),
        ("\u{0}\u{ffff}garbage", "scheme"),
    ];
    for (url, expected) in cases {
        let err = parse(url).expect_err(url);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(expected), "{url:?}: {shown}");
        assert!(
            !shown.contains("hunter2"),
            "{url:?} leaks the password: {shown}"
        );
    }
}

#[test]
fn redaction() {
    assert_eq!(redact("mysql://u:pw@h/db"), "mysql://u:***@h/db");
    assert_eq!(redact("mysql://u@h/db"), "mysql://u@h/db");
    assert_eq!(redact("mysql://u:p@w@h/db?x=1"), "mysql://u:***@h/db?x=1");
    assert_eq!(redact("user pw"), "(not shown: not a URL)");
    assert_eq!(redact("pw mysql://u:pw@h/db"), "(not shown: not a URL)");
    // No `@`: user:password can't be told from host:port.
    assert!(redact("mysql://u:pw/db").starts_with("(not shown"));
    // Option values named like a secret, to the next known option or the end.
    assert_eq!(
        redact("mysql://u:pw@h/db?replica_user=ro&replica_password=ropw&balance=random"),
        "mysql://u:***@h/db?replica_user=ro&replica_password=***&balance=random"
    );
    assert_eq!(
        redact("mysql://u:pw@h/db?replica_password=a&b=c&d"),
        "mysql://u:***@h/db?replica_password=***"
    );
    assert_eq!(
        redact("mysql://u:pw@h/db?Replica%5FPassw%6Frd=x&admin_pwd=y"),
        "mysql://u:***@h/db?Replica%5FPassw%6Frd=***"
    );
    // A `@` in a secret option's value: the main password's range runs to it, and
    // the tail after it is that value's.
    assert_eq!(
        redact("mysql://u:pw@h/db?replica_user=ro&replica_password=se@cret"),
        "mysql://u:***"
    );
}

/// The shapes of the routing-safety issue (defect 10): each printed the whole URL.
#[test]
fn unencoded_separators_in_the_password_are_not_shown() {
    for (url, expected) in [
        ("mysql://app:pa#ss@h/db", "mysql://app:***@h/db"),
        ("mysql://app:pa?ss@h/db", "mysql://app:***@h/db"),
        ("mysql://app:pa/ss@h:99999/db", "mysql://app:***@h:99999/db"),
    ] {
        let err = parse(url).expect_err(url);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("pa#ss"), "{shown}");
        assert!(!shown.contains("pa?ss"), "{shown}");
        assert!(!shown.contains("pa/ss"), "{shown}");
        assert!(!shown.contains("ss@"), "{shown}");
        match err {
            Error::InvalidUrl { url: shown_url, .. } => assert_eq!(shown_url, expected),
            other => panic!("{other:?}"),
        }
    }
    let err = parse("mysql://app:pa#ss@h/db").unwrap_err().to_string();
    assert!(err.contains("%23"), "{err}");
    let err = parse("mysql://app:pa?ss@h/db").unwrap_err().to_string();
    assert!(err.contains("%3F"), "{err}");
    let err = parse("mysql://app:pa/ss@h:99999/db")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid port `99999`"), "{err}");
}

#[test]
fn replica_password_is_masked_in_url_errors() {
    let err =
        parse("mysql://app:pw@h:99999/db?replica_user=ro&replica_password=Ropw1234").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("Ropw1234"), "{shown}");
    assert!(shown.contains("replica_password=***"), "{shown}");
    // A raw `&` in it: what follows may be the password's, not an option.
    let err = parse("mysql://app:pw@h/db?replica_user=ro&replica_password=ab&Cdef99").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("Cdef99"), "{shown}");
    let err = parse("mysql://app:pw@h/db?replica_password=ab&Cdef99=1").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("Cdef99"), "{shown}");
    assert!(shown.contains("unknown option (not shown"), "{shown}");
    // Built into a cluster, errors about other options hold none of it either.
    let err = crate::Cluster::builder()
        .url("mysql://app:pw@h/db?replica_user=ro&replica_password=Ropw1234&balance=x")
        .build()
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("Ropw1234"));
}

#[test]
fn a_value_that_may_be_part_of_the_password_is_not_quoted() {
    // Read as password `a`, host `b`, database `c`, option `balance`: but the
    // password may as well be `a@b/c?balance=Qxzj` (the last `@` ends it).
    let err = crate::Cluster::builder()
        .url("mysql://u:a@b/c?balance=Qxzj@h/db")
        .build()
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("Qxzj"), "{shown}");
    assert!(shown.contains("balance"), "{shown}");
    // A clean value is quoted as before.
    let err = crate::Cluster::builder()
        .url("mysql://u:pw@h/db?balance=fastest")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("fastest"), "{err}");
}

#[test]
fn nul_bytes_are_refused_before_the_client_sees_them() {
    // Diesel would turn them into a `NulError`, whose `Debug` lists the bytes.
    for url in [
        "mysql://u:p%00w@h/db",
        "mysql://u%00@h/db",
        "mysql://u@h/d%00b",
    ] {
        let err = parse(url).expect_err(url);
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

#[test]
fn durations() {
    assert_eq!(
        parse_duration("x", "500ms").unwrap(),
        Duration::from_millis(500)
    );
    assert_eq!(parse_duration("x", "2").unwrap(), Duration::from_secs(2));
    assert_eq!(
        parse_duration("x", "1.5s").unwrap(),
        Duration::from_millis(1500)
    );
    assert_eq!(parse_duration("x", "1m").unwrap(), Duration::from_secs(60));
    for bad in ["", "s", "-1s", "1h", "abc", "1e400", "99999999999999"] {
        assert!(parse_duration("x", bad).is_err(), "{bad}");
    }
}
