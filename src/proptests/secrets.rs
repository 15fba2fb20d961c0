//! Passwords never show: URLs of many shapes (valid, and malformed every way the parser
//! knows) hold a password of arbitrary bytes, written raw, percent-encoded or a mix;
//! nothing the library shows may hold it. Checked: `Error`'s `Display`, `Debug` and
//! `source()` chain, the `diesel::ConnectionError` of `ClusterConnection::establish`, the
//! Diesel errors of statements, `Debug` of `Builder`, `Cluster` and `ClusterConnection`,
//! `status()`, and every `log` record at `trace` level.
//!
//! The password is made distinctive (it holds a marker letter, `QXZJ`, which nothing else
//! in the URLs or the library's messages holds, or a non-ASCII byte), and besides its
//! whole forms no run of three marker letters from it may show: a leaked fragment (the
//! part after a raw `@` or `&`, say) is caught too.

use std::cell::RefCell;
use std::sync::Once;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use proptest::prelude::*;

use crate::url;
use crate::{with_replica, Cluster, ClusterConnection};

const MARKERS: &[u8] = b"QXZJ";

/// Log records of the current thread while [`capture_logs`] runs (the library logs on
/// the calling thread here: these clusters have no monitor).
struct ThreadCapture;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

impl log::Log for ThreadCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        CAPTURED.with(|c| {
            if let Some(lines) = c.borrow_mut().as_mut() {
                lines.push(format!(
                    "{} {}: {}",
                    record.level(),
                    record.target(),
                    record.args()
                ));
            }
        });
    }
    fn flush(&self) {}
}

fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&ThreadCapture).expect("no other logger in the lib tests");
        log::set_max_level(log::LevelFilter::Trace);
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let lines = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, lines)
}

/// How the password is written into the URL.
#[derive(Debug, Clone)]
enum Writing {
    /// As text (bytes that aren't UTF-8 become U+FFFD).
    Raw,
    /// Every byte but RFC 3986 unreserved characters percent-encoded.
    Encoded,
    /// ASCII bytes raw or encoded, one choice per byte; others encoded.
    Mixed(Vec<bool>),
}

fn percent(b: u8) -> String {
    format!("%{b:02X}")
}

fn write(password: &[u8], how: &Writing) -> String {
    match how {
        Writing::Raw => String::from_utf8_lossy(password).into_owned(),
        Writing::Encoded => password
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    percent(b)
                }
            })
            .collect(),
        Writing::Mixed(raw) => password
            .iter()
            .zip(raw.iter().cycle())
            .map(|(&b, &raw)| {
                if raw && b.is_ascii() {
                    char::from(b).to_string()
                } else {
                    percent(b)
                }
            })
            .collect(),
    }
}

fn gen_password() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(b"#?/@:%&=+,;[] *".to_vec()),
            4 => proptest::sample::select(MARKERS.to_vec()),
            2 => any::<u8>(),
            1 => 0x80u8..=0xff,
        ],
        4..24,
    )
    .prop_filter("a distinctive password", |p| {
        p.iter().any(|b| MARKERS.contains(b) || *b >= 0x80)
    })
}

fn gen_writing() -> impl Strategy<Value = Writing> {
    prop_oneof![
        Just(Writing::Raw),
        Just(Writing::Encoded),
        proptest::collection::vec(any::<bool>(), 1..8).prop_map(Writing::Mixed),
    ]
}

/// Closed loopback ports: statements fail at once, and log their ejections.
const HOSTS: &str = "127.0.0.1:1,127.0.0.1:2";

/// URLs holding the written password `p`: valid ones, and each way a URL can be wrong.
fn shapes(p: &str) -> Vec<String> {
    let h = HOSTS;
    let off = "monitor_interval=off";
    let mut urls = vec![
        format!("mysql://app:{p}@{h}/app?{off}"),
        format!("mysql://app:{p}@127.0.0.1:1/app?{off}"),
        format!("mysql://app:{p}@127.0.0.1:99999/app"),
        format!("mysql://app:{p}@{h}/app?bogus=1"),
        format!("mysql://app:{p}@127.0.0.1:1,,127.0.0.1:2/app"),
        format!("mysql://app:{p}@{h}/app/trailing"),
        format!("mysql://app:{p}@{h}/app?balance=fastest&{off}"),
        format!("mysql://app:{p}@{h}/app?balance"),
        format!("mysql://app:{p}@"),
        format!("mysql://app:{p}@/app"),
        format!("mysql://app:{p}@{h}/app#frag"),
        format!("mysql://app:{p}@[::1/app"),
        format!("mysql://app:{p}@{h}/app?replica_user=ro@x&{off}&bogus=1"),
        format!("mysql://app:{p}@{h}/app?{off} and garbage"),
        // Reads as a valid URL with a bad `balance`, or as one whose password runs to the
        // last `@`: the value is not quoted.
        format!("mysql://app:a@{h}/app?balance={p}@127.0.0.1:3/app"),
        format!("mysql://app:{p}@{h}/app?replica_passwd={p}"),
        format!("mysql://app:pw@{h}/app?replica_user=ro&replica_password={p}&{off}"),
        format!("mysql://app:pw@127.0.0.1:99999/app?replica_user=ro&replica_password={p}"),
        format!("mysql://app:pw@{h}/app?replica_password={p}&bogus=1"),
        format!(
            "mysql://app:pw@{h}/app?replica_user=ro&replica_password={p}&balance=fastest&{off}"
        ),
        format!("mysql://app:pw@{h}/app?replica_user=ro&replica_password={p}&replica_password=x"),
        format!("postgres://app:{p}@{h}/app"),
        format!("garbage {p}"),
    ];
    // Without the `@` that ends the credentials, a raw `@` in the password makes what
    // follows it the host part (`mysql://app:@h/db` is a valid URL whose host is `h`),
    // and a raw `scheme://` makes the password a URL of its own: nothing can tell those
    // from a password, so these shapes only hold passwords that don't form them.
    if !p.contains('@') {
        urls.push(format!("mysql://app:{p}"));
    }
    if !p.contains("://") {
        urls.push(p.to_string());
    }
    urls
}

/// An error as a user could print it: `Display`, `Debug` and its `source()` chain.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut out = format!("{e} | {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    out
}

/// Statements on a cluster's connection (they fail: nothing listens on its ports), and
/// everything shown on the way.
fn exercise(cluster: &Cluster, shown: &mut Vec<String>) {
    let mut conn = cluster.connect();
    if let Err(e) = conn.batch_execute("SELECT 1") {
        shown.push(error_text(&e));
    }
    if let Err(e) = with_replica(|| conn.batch_execute("SELECT 1")) {
        shown.push(error_text(&e));
    }
    shown.push(format!("{cluster:?} | {conn:?}"));
    let status = cluster.status();
    shown.push(format!("{status} | {status:?}"));
}

/// Everything the library shows about URL `u`.
fn show_url(u: &str, shown: &mut Vec<String>) {
    let parsed = url::parse(u);
    match &parsed {
        Ok(p) => shown.push(format!("{p:?}")),
        Err(e) => shown.push(error_text(e)),
    }
    shown.push(url::redact(u));
    let builder = Cluster::builder().url(u).monitor_interval(None);
    shown.push(format!("{builder:?}"));
    match builder.build() {
        Ok(cluster) => exercise(&cluster, shown),
        Err(e) => shown.push(error_text(&e)),
    }
    // `establish` starts a monitor unless the URL turns it off: only for URLs that
    // don't parse, or do with the monitor off.
    let no_monitor = parsed.as_ref().map_or(true, |p| {
        p.options
            .iter()
            .any(|(k, v)| k == "monitor_interval" && v == "off")
    });
    if no_monitor {
        match ClusterConnection::establish(u) {
            Ok(mut conn) => {
                if let Err(e) = conn.batch_execute("SELECT 1") {
                    shown.push(error_text(&e));
                }
                shown.push(format!("{conn:?}"));
            }
            Err(e) => shown.push(error_text(&e)),
        }
    }
}

/// The password through the builder's own methods.
fn show_builder_credentials(password: &str, written: &str, shown: &mut Vec<String>) {
    let builder = Cluster::builder()
        .master(&format!("mysql://app:{written}@127.0.0.1:1/app"))
        .replica(&format!("mysql://ro:{written}@127.0.0.1:2/app"))
        .replica(&format!("mysql://ro:{written}@{HOSTS}/app"))
        .replica_credentials("ro", password)
        .admin_credentials("admin", password)
        .replication_credentials("repl", password)
        .monitor_interval(None);
    shown.push(format!("{builder:?}"));
    if let Err(e) = builder.build() {
        shown.push(error_text(&e));
    }
    let builder = Cluster::builder()
        .master("mysql://app:pw@127.0.0.1:1/app")
        .replica("mysql://ro:pw@127.0.0.1:2/app")
        .replica_credentials("ro", password)
        .admin_credentials("admin", password)
        .replication_credentials("repl", password)
        .monitor_interval(None);
    shown.push(format!("{builder:?}"));
    match builder.build() {
        Ok(cluster) => {
            exercise(&cluster, shown);
            if let Err(e) = cluster.promote(None) {
                shown.push(error_text(&e));
            }
        }
        Err(e) => shown.push(error_text(&e)),
    }
}

/// What must not show: the password's whole forms (as text, written, encoded; each also
/// as `Debug` escapes it) and every run of three marker letters in it.
fn forbidden(password: &[u8], written: &str) -> Vec<String> {
    let mut forms = vec![
        String::from_utf8_lossy(password).into_owned(),
        written.to_string(),
        write(password, &Writing::Encoded),
    ];
    for f in forms.clone() {
        forms.push(f.escape_debug().to_string());
    }
    for run in password.split(|b| !MARKERS.contains(b)) {
        for w in run.windows(3) {
            forms.push(String::from_utf8_lossy(w).into_owned());
        }
    }
    forms.retain(|f| f.len() >= 3);
    forms.sort();
    forms.dedup();
    forms
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn passwords_never_show(password in gen_password(), how in gen_writing()) {
        let written = write(&password, &how);
        let text = String::from_utf8_lossy(&password).into_owned();
        let (shown, logs) = capture_logs(|| {
            let mut shown = Vec::new();
            for u in shapes(&written) {
                show_url(&u, &mut shown);
            }
            show_builder_credentials(&text, &written, &mut shown);
            shown
        });
        for f in forbidden(&password, &written) {
            for s in shown.iter().chain(&logs) {
                prop_assert!(!s.contains(&f), "`{}` shows in: {}", f, s);
            }
        }
    }
}

#[test]
fn the_log_capture_sees_the_librarys_records() {
    // Sanity for the property above: a statement on a node nobody listens on logs the
    // ejection, and the capture has it.
    let (_, logs) = capture_logs(|| {
        let cluster = Cluster::builder()
            .url("mysql://app:pw@127.0.0.1:1/app")
            .build()
            .unwrap();
        let _ = cluster.connect().batch_execute("SELECT 1");
    });
    assert!(
        logs.iter().any(|l| l.contains("ejecting master")),
        "{logs:#?}"
    );
}
