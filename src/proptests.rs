//! Property tests for everything that parses outside input: cluster URLs, SQL text,
//! consistency tokens, durations and (with the `axum` feature) pin cookies. Any input must
//! give a value or an error, never a panic; valid input must round-trip; passwords must
//! never come back in errors.
//!
//! Here rather than next to each parser so they can reach crate-internal functions
//! (`url::parse`, `classify::classify`, ...) without widening the public API.

use proptest::prelude::*;

use crate::classify::{self, Flags, Kind};
use crate::consistency::ConsistencyToken;
use crate::url;
use crate::{Cluster, ClusterConnection, Consistency};

mod secrets;

// ------------------------------------------------------------------ helpers

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Any string, biased towards the characters URL and SQL parsers care about.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,60}",
        proptest::collection::vec(
            prop_oneof![
                Just("mysql://".to_string()),
                Just("@".to_string()),
                Just(":".to_string()),
                Just("/".to_string()),
                Just("?".to_string()),
                Just("&".to_string()),
                Just("=".to_string()),
                Just(",".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just("%".to_string()),
                Just("%4".to_string()),
                Just("%ff".to_string()),
                Just("#".to_string()),
                Just("'".to_string()),
                Just("\"".to_string()),
                Just("`".to_string()),
                Just("\\".to_string()),
                Just("/*".to_string()),
                Just("*/".to_string()),
                Just("/*!".to_string()),
                Just("-- ".to_string()),
                Just("#".to_string()),
                Just(";".to_string()),
                Just("\n".to_string()),
                Just("\u{0}".to_string()),
                Just("é".to_string()),
                "[a-z0-9]{1,8}",
                Just("SELECT".to_string()),
                Just("INSERT".to_string()),
                Just("FOR UPDATE".to_string()),
                Just("LAST_INSERT_ID()".to_string()),
                Just("TEMPORARY".to_string()),
                Just("USE".to_string()),
                Just("SET".to_string()),
                Just(" ".to_string()),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
    ]
}

// ------------------------------------------------------------------ URLs

#[derive(Debug, Clone)]
struct GenHost {
    host: String,
    port: Option<u16>,
}

fn gen_host() -> impl Strategy<Value = GenHost> {
    let name = prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("::1".to_string()),
        Just("fe80::1".to_string()),
        Just("2001:db8::42".to_string()),
    ];
    (name, proptest::option::of(1u16..=65535)).prop_map(|(host, port)| GenHost { host, port })
}

fn gen_option() -> impl Strategy<Value = (String, String)> {
    let dur = (1u32..100_000).prop_flat_map(|n| {
        prop_oneof![
            Just(format!("{n}ms")),
            Just(format!("{n}s")),
            Just(format!("{}", n % 1000 + 1)),
        ]
    });
    prop_oneof![
        prop_oneof![Just("master"), Just("replica"), Just("auto")]
            .prop_map(|v| ("default_role".to_string(), v.to_string())),
        prop_oneof![
            Just("round_robin"),
            Just("random"),
            Just("least_outstanding"),
            Just("least_lag"),
            Just("least_latency")
        ]
        .prop_map(|v| ("balance".to_string(), v.to_string())),
        dur.clone().prop_map(|v| ("max_replica_lag".to_string(), v)),
        dur.clone()
            .prop_map(|v| ("ejection_cooldown".to_string(), v)),
        dur.clone().prop_map(|v| ("connect_timeout".to_string(), v)),
        dur.clone().prop_map(|v| ("causal_timeout".to_string(), v)),
        prop_oneof![
            Just("strong".to_string()),
            Just("eventual".to_string()),
            Just("causal".to_string())
        ]
        .prop_map(|v| ("consistency".to_string(), v)),
        dur.prop_map(|v| ("consistency".to_string(), format!("sticky:{v}"))),
        prop_oneof![Just("refuse"), Just("master")]
            .prop_map(|v| ("writes_in_replica_role".to_string(), v.to_string())),
        prop_oneof![Just("true"), Just("false")]
            .prop_map(|v| ("query_log".to_string(), v.to_string())),
        prop_oneof![Just("disabled"), Just("preferred"), Just("required")]
            .prop_map(|v| ("ssl_mode".to_string(), v.to_string())),
    ]
}

#[derive(Debug, Clone)]
struct GenUrl {
    user: String,
    password: String,
    hosts: Vec<GenHost>,
    database: String,
    options: Vec<(String, String)>,
}

impl GenUrl {
    fn render(&self) -> String {
        let mut s = format!("mysql://{}", encode(&self.user));
        if !self.password.is_empty() {
            s.push(':');
            s.push_str(&encode(&self.password));
        }
        s.push('@');
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            if h.host.contains(':') {
                s.push_str(&format!("[{}]", h.host));
            } else {
                s.push_str(&h.host);
            }
            if let Some(p) = h.port {
                s.push_str(&format!(":{p}"));
            }
        }
        s.push('/');
        s.push_str(&encode(&self.database));
        for (i, (k, v)) in self.options.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(k);
            s.push('=');
            s.push_str(&encode(v));
        }
        s
    }
}

fn gen_url() -> impl Strategy<Value = GenUrl> {
    (
        "[a-zA-Z0-9_.@:/ %!-]{1,12}",
        prop_oneof!["", any::<String>(), "[ -~]{1,20}"],
        proptest::collection::vec(gen_host(), 1..5),
        any::<String>().prop_filter("a database name", |d| !d.is_empty()),
        proptest::collection::vec(gen_option(), 0..5),
    )
        // No NUL: the parser refuses it, as Diesel's client would (a C string).
        .prop_filter("no NUL", |(user, password, _, database, _)| {
            !user.contains('\0') && !password.contains('\0') && !database.contains('\0')
        })
        .prop_map(|(user, password, hosts, database, options)| {
            // Every node once, every option once: the parser rightly refuses repeats.
            let mut seen_hosts = Vec::new();
            let hosts = hosts
                .into_iter()
                .filter(|h| {
                    let key = (h.host.clone(), h.port.unwrap_or(3306));
                    let fresh = !seen_hosts.contains(&key);
                    seen_hosts.push(key);
                    fresh
                })
                .collect();
            let mut seen = Vec::new();
            let options = options
                .into_iter()
                .filter(|(k, _)| {
                    let fresh = !seen.contains(k);
                    seen.push(k.clone());
                    fresh
                })
                .collect();
            GenUrl {
                user,
                password,
                hosts,
                database,
                options,
            }
        })
}

proptest! {
    #[test]
    fn url_parser_never_panics(s in nasty_string()) {
        if let Err(e) = url::parse(&s) {
            // The message is printable and never empty.
            prop_assert!(!e.to_string().is_empty());
        }
        let _ = url::redact(&s);
        let _ = Cluster::builder().url(&s).monitor_interval(None).build();
    }

    #[test]
    fn establish_rejects_bad_urls_without_panicking(s in nasty_string()) {
        // Only inputs the parser refuses: a valid one would build a cluster whose monitor
        // resolves and dials its (made-up) hosts.
        prop_assume!(url::parse(&s).is_err());
        let result = <ClusterConnection as diesel::Connection>::establish(&s);
        prop_assert!(result.is_err());
    }

    #[test]
    fn valid_urls_parse_to_what_was_written(g in gen_url()) {
        let text = g.render();
        let parsed = url::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed.nodes.len(), g.hosts.len());
        for (node, h) in parsed.nodes.iter().zip(&g.hosts) {
            prop_assert_eq!(&node.host, &h.host);
            prop_assert_eq!(node.port, h.port.unwrap_or(3306));
            prop_assert_eq!(&node.user, &g.user);
            prop_assert_eq!(node.password.expose(), g.password.as_str());
            prop_assert_eq!(&node.database, &g.database);
            // Each node's own URL (what Diesel's client gets) round-trips too.
            let again = url::parse(&node.connection_url())
                .map_err(|e| TestCaseError::fail(format!("{}: {e}", url::redact(&node.connection_url()))))?;
            prop_assert_eq!(again.nodes.len(), 1);
            prop_assert_eq!(&again.nodes[0], node);
        }
        let cluster_options: Vec<_> = g
            .options
            .iter()
            .filter(|(k, _)| k != "ssl_mode")
            .cloned()
            .collect();
        prop_assert_eq!(&parsed.options, &cluster_options);
        let cluster = Cluster::builder()
            .url(&text)
            .monitor_interval(None)
            .build()
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(cluster.node_names().len(), g.hosts.len());
        // The password never shows in Debug.
        if g.password.len() >= 4 {
            let debug = format!("{cluster:?}");
            prop_assert!(!debug.contains(&encode(&g.password)));
        }
    }

    #[test]
    fn url_errors_never_show_the_password(
        g in gen_url(),
        garbage in prop_oneof![
            Just("?bogus=1"), Just("?balance"), Just("?max_replica_lag=soon"),
            Just("/extra/path"), Just("#frag"), Just(",,"), Just(":99999"),
        ],
        password in "[A-Za-z]{12}",
    ) {
        // A distinctive password that can't appear in the rest of the URL by chance.
        let password = format!("Pw{password}Zq");
        let g = GenUrl { password: password.clone(), ..g };
        let text = format!("{}{garbage}", g.render());
        let shown = match Cluster::builder().url(&text).monitor_interval(None).build() {
            Ok(c) => format!("{c:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        prop_assert!(!shown.contains(&password), "{}", shown);
        prop_assert!(!url::redact(&text).contains(&password));
    }

    #[test]
    fn durations_never_panic(s in nasty_string()) {
        let _ = url::parse_duration("x", &s);
        let _ = s.parse::<Consistency>();
    }

    #[test]
    fn durations_round_trip(ms in 0u64..10_000_000) {
        let d = url::parse_duration("x", &format!("{ms}ms")).unwrap();
        prop_assert_eq!(d, std::time::Duration::from_millis(ms));
    }
}

// ------------------------------------------------------------------ SQL classifier

/// Text that may go inside a single-quoted SQL string, escaped as the server reads it.
fn sql_string_literal() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| {
        let mut out = String::from("'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    })
}

/// A block comment with arbitrary content (not an executable one, and closed once).
fn sql_comment() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| {
        let body = s.replace("*/", "* /");
        let body = body.trim_start_matches(['!', 'M']);
        format!("/* {body} */")
    })
}

fn ident() -> impl Strategy<Value = String> {
    // Unquoted, a keyword is no identifier to the server either (`FROM on` is a syntax
    // error), so the generated names avoid them.
    "[a-z_][a-z0-9_]{0,10}".prop_filter("not a keyword", |s| {
        !classify::is_reserved_word(s)
            && !matches!(
                s.as_str(),
                "for" | "lock" | "into" | "update" | "share" | "in" | "mode" | "from" | "select"
            )
    })
}

/// A generated statement and the kind it must classify as.
fn statement() -> impl Strategy<Value = (String, Kind)> {
    let filler = prop_oneof![sql_string_literal(), sql_comment(), Just("1".to_string())];
    (ident(), ident(), filler.clone(), filler).prop_flat_map(|(t, c, a, b)| {
        prop_oneof![
            Just((
                format!("SELECT {c}, {a} FROM {t} WHERE {c} = {b}"),
                Kind::Select
            )),
            Just((format!("select {a} from {t} for update"), Kind::LockingRead)),
            Just((
                format!("SELECT {c} FROM {t} {b} LOCK IN SHARE MODE"),
                Kind::LockingRead
            )),
            Just((format!("INSERT INTO {t} ({c}) VALUES ({a})"), Kind::Insert)),
            Just((
                format!("UPDATE {t} SET {c} = {a} WHERE {c} = {b}"),
                Kind::Update
            )),
            Just((format!("DELETE FROM {t} WHERE {c} = {a}"), Kind::Delete)),
            Just((format!("REPLACE INTO {t} VALUES ({a})"), Kind::Replace)),
            Just((format!("CREATE TABLE {t} ({c} INT) COMMENT {a}"), Kind::Ddl)),
            Just((format!("SHOW TABLES LIKE {a}"), Kind::Show)),
            Just((format!("USE {t}"), Kind::Use)),
            Just((format!("SET @{c} = {a}"), Kind::SetSession)),
            Just(("BEGIN".to_string(), Kind::Begin)),
            Just(("COMMIT".to_string(), Kind::Commit)),
        ]
    })
}

proptest! {
    #[test]
    fn classifier_never_panics(s in nasty_string()) {
        let class = classify::classify(&s);
        let parts: Vec<_> = classify::statements(&s).collect();
        // MULTI is set exactly when the batch has several statements.
        prop_assert_eq!(class.flags.contains(Flags::MULTI), parts.len() > 1, "{:?}", parts);
        for (text, c) in &parts {
            // Each part is a piece of the input, and classifies the same on its own.
            prop_assert!(s.contains(text));
            prop_assert!(!c.flags.contains(Flags::MULTI));
            prop_assert_eq!(classify::classify(text).kind, c.kind, "{:?}", text);
        }
        if parts.is_empty() {
            prop_assert_eq!(class.kind, Kind::Empty);
        }
        let _ = classify::target_name(&s);
        let refs = classify::table_refs(&s);
        prop_assert!(refs.iter().all(|r| !r.is_empty() && s.contains(r)), "{:?}", refs);
        let _ = classify::refers_to_table(&s, "t");
        let _ = classify::refers_to_table("SELECT * FROM t", &s);
        if let Some(targets) = classify::write_targets(&s) {
            prop_assert!(!targets.is_empty());
            prop_assert!(targets.iter().all(|t| refs.contains(t)), "{:?} / {:?}", targets, refs);
        }
        // Uncertainty is a property of the whole text: every statement carries it.
        let uncertain = class.flags.contains(Flags::UNCERTAIN);
        prop_assert!(parts.iter().all(|(_, c)| c.flags.contains(Flags::UNCERTAIN) == uncertain));
    }

    #[test]
    fn leading_space_and_comments_change_nothing(s in nasty_string()) {
        let class = classify::classify(&s);
        prop_assert_eq!(classify::classify(&format!("  \n\t{s}")), class);
        prop_assert_eq!(classify::classify(&format!("/* note */ {s}")), class);
    }

    #[test]
    fn literals_and_comments_never_change_the_kind((sql, kind) in statement()) {
        let class = classify::classify(&sql);
        prop_assert_eq!(class.kind, kind, "{}", sql);
        prop_assert!(!class.flags.contains(Flags::MULTI), "{}", sql);
        // A trailing `;` is a separator, not a second statement.
        prop_assert_eq!(classify::classify(&format!("{sql};")).kind, kind);
        // Keywords are case-insensitive (only the keywords: literals keep their case).
        let upper_kw = sql.replacen("SELECT", "select", 1).replacen("select", "SeLeCt", 1);
        prop_assert_eq!(classify::classify(&upper_kw).kind, kind, "{}", upper_kw);
    }

    #[test]
    fn a_write_anywhere_in_a_batch_makes_it_a_write(
        (read, _) in statement().prop_filter("a read", |(_, k)| *k == Kind::Select),
        t in ident(),
    ) {
        let batch = format!("{read}; DELETE FROM {t}; {read}");
        let class = classify::classify(&batch);
        prop_assert_eq!(class.kind, Kind::Delete);
        prop_assert!(class.flags.contains(Flags::MULTI));
    }

    #[test]
    fn temporary_table_names_are_found(t in ident(), c in sql_comment()) {
        let create = format!("CREATE TEMPORARY TABLE {c} `{t}` (id INT)");
        prop_assert_eq!(classify::classify(&create).kind, Kind::CreateTemporaryTable);
        prop_assert_eq!(classify::target_name(&create), Some(t.as_str()));
        let select = format!("SELECT * FROM {t}");
        let literal = format!("SELECT '{t}'");
        prop_assert!(classify::refers_to_table(&select, &t));
        let quoted = format!("SELECT * FROM `{t}`");
        let qualified = format!("SELECT * FROM `db`.`{t}` AS x {c}");
        let column_alias = format!("SELECT 1 AS `{t}` FROM `{t}_other`");
        let table_alias = format!("SELECT * FROM `{t}_other` AS `{t}`");
        prop_assert!(classify::refers_to_table(&quoted, &t));
        prop_assert!(classify::refers_to_table(&qualified, &t));
        prop_assert!(!classify::refers_to_table(&literal, &t));
        prop_assert!(!classify::refers_to_table(&column_alias, &t));
        prop_assert!(!classify::refers_to_table(&table_alias, &t));
        let insert = format!("INSERT INTO {c} `{t}` (a) VALUES (?)");
        prop_assert_eq!(classify::write_targets(&insert), Some(vec![t.as_str()]));
    }

    #[test]
    fn backticked_builtins_count_as_bare(f in prop_oneof![
        Just(("get_lock('l', 0)", Flags::NAMED_LOCK)),
        Just(("nextval(s)", Flags::WRITE_FUNCTION)),
        Just(("last_insert_id()", Flags::READS_INSERT_ID)),
        Just(("last_insert_id(1)", Flags::SETS_INSERT_ID)),
        Just(("found_rows()", Flags::READS_FOUND_ROWS)),
    ], c in sql_comment()) {
        let (call, flag) = f;
        let (name, args) = call.split_at(call.find('(').unwrap_or(0));
        for sql in [
            format!("SELECT {name}{args}"),
            format!("SELECT `{name}`{args}"),
            format!("SELECT `{}` {c} {args}", name.to_uppercase()),
        ] {
            prop_assert!(classify::classify(&sql).flags.contains(flag), "{}", sql);
        }
    }
}

// ------------------------------------------------------------------ tokens

fn gen_token() -> impl Strategy<Value = Vec<(u32, u32, u64)>> {
    proptest::collection::btree_map(any::<u32>(), (any::<u32>(), any::<u64>()), 1..6)
        .prop_map(|m| m.into_iter().map(|(d, (s, q))| (d, s, q)).collect())
}

proptest! {
    #[test]
    fn token_parser_never_panics(s in nasty_string()) {
        if let Ok(t) = s.parse::<ConsistencyToken>() {
            // Whatever parses prints back to something that parses to the same token.
            let again: ConsistencyToken = t.to_string().parse().unwrap();
            prop_assert_eq!(again, t);
        }
        let _ = ConsistencyToken::from_gtid_list(&s);
    }

    #[test]
    fn tokens_round_trip(gtids in gen_token()) {
        let text: Vec<String> = gtids.iter().map(|(d, s, q)| format!("{d}-{s}-{q}")).collect();
        let token: ConsistencyToken = text.join("_").parse().unwrap();
        prop_assert_eq!(token.to_string(), text.join("_"));
        prop_assert_eq!(token.gtid_list(), text.join(","));
        prop_assert_eq!(ConsistencyToken::from_gtid_list(&text.join(",")), Some(token.clone()));
        prop_assert!(token.covers(&token));
        prop_assert!(!token.is_empty());
        // Cookie-safe: RFC 6265 cookie-octets only.
        prop_assert!(token.to_string().bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'_'));
    }

    #[test]
    fn merged_tokens_cover_both(a in gen_token(), b in gen_token()) {
        let parse = |g: &[(u32, u32, u64)]| -> ConsistencyToken {
            g.iter().map(|(d, s, q)| format!("{d}-{s}-{q}")).collect::<Vec<_>>().join("_").parse().unwrap()
        };
        let (ta, tb) = (parse(&a), parse(&b));
        let mut m = ta.clone();
        m.merge(&tb);
        prop_assert!(m.covers(&ta) && m.covers(&tb));
        let again: ConsistencyToken = m.to_string().parse().unwrap();
        prop_assert_eq!(again, m);
    }
}

// ------------------------------------------------------------------ cookies

#[cfg(feature = "axum")]
mod cookies {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{gen_token, nasty_string};
    use crate::consistency::ConsistencyToken;
    use crate::web::pin::{format_value, parse_value, Pin, PinKey};

    const NOW: u64 = 1_800_000_000_000;

    proptest! {
        #[test]
        fn cookie_values_never_panic(s in nasty_string(), now in any::<u64>()) {
            let key = PinKey::new(vec![1; 32]);
            let _ = parse_value(&s, now, Duration::from_secs(60), None);
            let _ = parse_value(&s, NOW, Duration::MAX, None);
            let _ = parse_value(&s, NOW, Duration::MAX, key.as_ref());
        }

        #[test]
        fn cookie_values_round_trip(gtids in gen_token(), ahead in 1u64..60_000, signed in any::<bool>()) {
            let key = PinKey::new(vec![1; 32]).filter(|_| signed);
            let key = key.as_ref();
            let text: Vec<String> = gtids.iter().map(|(d, s, q)| format!("{d}-{s}-{q}")).collect();
            let token: ConsistencyToken = text.join("_").parse().unwrap();
            let value = format_value(NOW + ahead, Some(&token), key);
            prop_assert_eq!(parse_value(&value, NOW, Duration::from_secs(60), key), Some(Pin::Token(token)));
            let value = format_value(NOW + ahead, None, key);
            prop_assert_eq!(parse_value(&value, NOW, Duration::from_secs(60), key), Some(Pin::Master));
            // Expired or too far ahead: ignored.
            prop_assert_eq!(parse_value(&value, NOW + ahead, Duration::from_secs(60), key), None);
            let far = format_value(NOW + 3_600_000 + ahead, None, key);
            prop_assert_eq!(parse_value(&far, NOW, Duration::from_secs(60), key), None);
        }
    }
}
