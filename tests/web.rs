//! The web integration over real HTTP against the real cluster (`web`): method routing and
//! overrides, GET-after-POST with delayed replicas, bad pin cookies, sessions on the master.
//!
//! Each test starts an axum app on 127.0.0.1:0 and talks to it with a hyper client; the
//! app reports which node ran each request's queries in an `x-db-node` header. Every test
//! holds `common::exclusive("web")`: some delay the replicas, and the others assert where
//! reads go, which a delay being set or cleared (replication restarts) would disturb.
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel_cluster::web::{
    force_role, Db, DbError, MasterSessionStore, PinMode, ReplicationLayer,
    ReplicationLayerBuilder, SameSite,
};
use diesel_cluster::{Cluster, ClusterManager, Role};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tower_sessions::{Session, SessionManagerLayer};

use common::db::{entries, unique};

const PIN: &str = "db_pin";

fn migrated() -> &'static common::TestCluster {
    common::db::migrated("web")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sets MASTER_DELAY on both replicas; removes it on drop (panics included).
struct Delayed(&'static common::TestCluster);

impl Delayed {
    fn new(c: &'static common::TestCluster, secs: u32) -> Delayed {
        c.delay("replica1", secs);
        c.delay("replica2", secs);
        Delayed(c)
    }
}

impl Drop for Delayed {
    fn drop(&mut self) {
        self.0.delay("replica1", 0);
        self.0.delay("replica2", 0);
        self.0.try_sync(30);
    }
}

// ---------------------------------------------------------------- the app under test

#[derive(serde::Deserialize)]
struct Filter {
    author: Option<String>,
}

#[derive(serde::Deserialize)]
struct NewEntry {
    author: String,
    body: String,
}

/// The node that ran the request's queries, in a header.
fn with_node(node: String, response: impl IntoResponse) -> Response {
    ([("x-db-node", node)], response).into_response()
}

/// Lists the bodies of one author's entries, one per line.
async fn list(db: Db, Query(filter): Query<Filter>) -> Result<Response, DbError> {
    let author = filter.author.unwrap_or_default();
    let role = db.role();
    let (bodies, node) = db
        .run(move |conn| {
            let bodies: Vec<String> = entries::table
                .filter(entries::author.eq(author))
                .select(entries::body)
                .order(entries::id)
                .load(conn)?;
            Ok((bodies, conn.last_node().unwrap_or("none").to_string()))
        })
        .await?;
    Ok(with_node(
        node,
        ([("x-db-role", role.to_string())], bodies.join("\n")),
    ))
}

async fn add(db: Db, axum::Form(new): axum::Form<NewEntry>) -> Result<Response, DbError> {
    let location = format!("/?author={}", new.author);
    let node = db
        .run(move |conn| {
            diesel::insert_into(entries::table)
                .values((entries::author.eq(new.author), entries::body.eq(new.body)))
                .execute(conn)?;
            Ok(conn.last_node().unwrap_or("none").to_string())
        })
        .await?;
    Ok(with_node(node, Redirect::to(&location)))
}

/// A session counter bumped by a GET (replica role).
async fn visit(session: Session) -> Result<String, StatusCode> {
    let n = session
        .get::<u64>("visits")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or(0)
        + 1;
    session
        .insert("visits", n)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(n.to_string())
}

fn router(pool: Pool<ClusterManager>, layer: ReplicationLayer) -> Router {
    Router::new()
        .route("/", get(list).post(add).options(list))
        .route("/master", get(list).layer(force_role(Role::Master)))
        .route("/search", post(list).layer(force_role(Role::Replica)))
        .route("/search-write", post(add).layer(force_role(Role::Replica)))
        .route("/visit", get(visit))
        .layer(SessionManagerLayer::new(MasterSessionStore::new(pool)))
        .layer(layer)
}

/// A running app and a runtime to talk to it; dropping it stops the server.
struct App {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
}

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn node(&self) -> &str {
        self.headers
            .get("x-db-node")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }

    /// The `Set-Cookie` of the pin cookie, if any.
    fn pin_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{PIN}=")))
    }

    fn lines(&self) -> Vec<&str> {
        self.body.lines().collect()
    }
}

fn pool_for(cluster: Cluster) -> Pool<ClusterManager> {
    Pool::builder()
        .max_size(4)
        .connection_timeout(Duration::from_secs(20))
        .build(cluster.manager())
        .unwrap()
}

fn cluster_with(causal_timeout: Duration) -> Cluster {
    Cluster::builder()
        .url(&migrated().cluster_url)
        .causal_timeout(causal_timeout)
        .build()
        .unwrap()
}

impl App {
    fn start(cluster: Cluster, layer: ReplicationLayerBuilder) -> App {
        App::serve(move |_| {
            let pool = pool_for(cluster);
            router(pool.clone(), layer.build(pool).unwrap())
        })
    }

    /// Serves the router `make` builds (with the app's runtime at hand).
    fn serve(make: impl FnOnce(&tokio::runtime::Runtime) -> Router) -> App {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = make(&rt);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        App { rt, addr }
    }

    /// One request over a fresh HTTP/1.1 connection.
    fn send(&self, method: Method, path: &str, cookie: Option<&str>, form: Option<&str>) -> Resp {
        let addr = self.addr;
        self.rt.block_on(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", addr.to_string());
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let body = match form {
                Some(f) => {
                    req = req.header("content-type", "application/x-www-form-urlencoded");
                    Full::new(Bytes::from(f.to_string()))
                }
                None => Full::new(Bytes::new()),
            };
            // Generous: the slowest legitimate request waits a causal timeout per read.
            let resp = tokio::time::timeout(
                Duration::from_secs(60),
                sender.send_request(req.body(body).unwrap()),
            )
            .await
            .expect("the request did not finish within 60 s")
            .unwrap();
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Resp {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }
        })
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.send(Method::GET, path, cookie, None)
    }

    fn post(&self, path: &str, form: &str, cookie: Option<&str>) -> Resp {
        self.send(Method::POST, path, cookie, Some(form))
    }

    /// Waits (10 s at most) until plain GETs are served by a replica: after a delay was
    /// changed, the lag monitor may briefly have seen replication stopped.
    fn wait_for_replica_reads(&self) {
        let t0 = Instant::now();
        loop {
            let r = self.get("/?author=nobody", None);
            if r.node().starts_with("replica") {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "GETs never went to a replica: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(feature = "async")]
#[path = "web/async_web.rs"]
mod async_web;

/// A browser's cookie jar, enough for these tests.
#[derive(Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn update(&mut self, r: &Resp) {
        for c in r.set_cookies() {
            let first = c.split(';').next().unwrap_or("");
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            if c.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), value.to_string());
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

fn is_replica(node: &str) -> bool {
    node == "replica1" || node == "replica2"
}

// ---------------------------------------------------------------- tests

#[test]
fn methods_and_route_overrides_choose_the_node() {
    let _g = common::exclusive("web");
    let app = App::start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder(),
    );
    app.wait_for_replica_reads();
    let author = unique("routing");

    let r = app.get(&format!("/?author={author}"), None);
    assert_eq!(r.status, StatusCode::OK);
    assert!(is_replica(r.node()), "GET: {r:?}");
    assert_eq!(r.headers["x-db-role"], "replica");

    let r = app.send(Method::HEAD, &format!("/?author={author}"), None, None);
    assert_eq!(r.status, StatusCode::OK);
    assert!(is_replica(r.node()), "HEAD: {r:?}");

    let r = app.send(Method::OPTIONS, &format!("/?author={author}"), None, None);
    assert!(is_replica(r.node()), "OPTIONS: {r:?}");

    let r = app.post("/", &format!("author={author}&body=hello"), None);
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.node(), "master", "POST: {r:?}");
    assert_eq!(r.headers["location"], format!("/?author={author}"));

    // Overrides: a GET forced to the master, a read-only POST forced to a replica.
    let r = app.get(&format!("/master?author={author}"), None);
    assert_eq!(r.node(), "master", "forced master: {r:?}");
    assert_eq!(r.headers["x-db-role"], "master");
    assert_eq!(r.lines(), ["hello"]);

    let r = app.post("/search", &format!("author={author}"), None);
    assert_eq!(r.status, StatusCode::OK);
    assert!(is_replica(r.node()), "forced replica: {r:?}");
    assert!(r.pin_cookie().is_none(), "a read-only request pins nothing");

    // A write in a route forced to the replicas is refused before reaching a server,
    // and the failed request sets no pin.
    let r = app.post(
        "/search-write",
        &format!("author={author}&body=refused"),
        None,
    );
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.pin_cookie().is_none());
    migrated().sync();
    let r = app.get(&format!("/master?author={author}"), None);
    assert_eq!(r.lines(), ["hello"], "the refused write must not exist");

    // Read methods are configurable: with only GET, HEAD and OPTIONS use the master.
    drop(app);
    let app = App::start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder().read_methods([Method::GET]),
    );
    app.wait_for_replica_reads();
    let r = app.send(Method::HEAD, &format!("/?author={author}"), None, None);
    assert_eq!(
        r.node(),
        "master",
        "HEAD without being a read method: {r:?}"
    );
    let r = app.get(&format!("/?author={author}"), None);
    assert!(is_replica(r.node()), "GET: {r:?}");
}

#[test]
fn get_after_post_reads_its_own_write_with_delayed_replicas() {
    let _g = common::exclusive("web");
    let c = migrated();
    // A short causal timeout keeps 20 rounds quick: after it, reads go to the master.
    let app = App::start(
        cluster_with(Duration::from_millis(300)),
        ReplicationLayer::builder(),
    );
    app.wait_for_replica_reads();
    let _delay = Delayed::new(c, 2);

    let author = unique("ryw");
    let mut jar = Jar::default();
    let mut served_by: HashMap<String, u32> = HashMap::new();
    for i in 0..20 {
        let body = format!("with-cookie-{i}");
        let r = app.post(
            "/",
            &format!("author={author}&body={body}"),
            jar.header().as_deref(),
        );
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        let pin = r.pin_cookie().expect("a write sets the pin cookie");
        assert!(
            pin.contains("HttpOnly") && pin.contains("SameSite=Lax") && pin.contains("Path=/"),
            "{pin}"
        );
        jar.update(&r);
        let r = app.get(
            r.headers["location"].to_str().unwrap(),
            jar.header().as_deref(),
        );
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.lines().contains(&body.as_str()),
            "round {i}: the GET after the POST missed {body} (served by {}): {:?}",
            r.node(),
            r.body
        );
        *served_by.entry(r.node().to_string()).or_default() += 1;
    }

    // The same without keeping the cookie: reads from the delayed replicas miss the write.
    let author = unique("no-cookie");
    let mut misses = 0;
    for i in 0..10 {
        let body = format!("without-cookie-{i}");
        let r = app.post("/", &format!("author={author}&body={body}"), None);
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = app.get(r.headers["location"].to_str().unwrap(), None);
        if !r.lines().contains(&body.as_str()) {
            assert!(is_replica(r.node()), "{r:?}");
            misses += 1;
        }
    }
    eprintln!("with the pin: GETs served by {served_by:?}; without: {misses}/10 missed");
    assert!(
        misses >= 1,
        "without the pin cookie no read missed its write: the replicas were not behind"
    );

    // With a causal timeout longer than the delay, the replica waits for the write and
    // serves it itself.
    drop(app);
    let app = App::start(
        cluster_with(Duration::from_secs(15)),
        ReplicationLayer::builder(),
    );
    let author = unique("wait");
    let mut jar = Jar::default();
    let r = app.post("/", &format!("author={author}&body=waited"), None);
    jar.update(&r);
    let t0 = Instant::now();
    let r = app.get(
        r.headers["location"].to_str().unwrap(),
        jar.header().as_deref(),
    );
    eprintln!(
        "GET that waited for its write on {}: {:?}",
        r.node(),
        t0.elapsed()
    );
    assert_eq!(r.lines(), ["waited"], "{r:?}");
    assert!(
        is_replica(r.node()),
        "the replica should have waited for the write: {r:?}"
    );
}

#[test]
fn garbage_tampered_and_expired_pins_are_ignored_safely() {
    let _g = common::exclusive("web");
    let app = App::start(
        cluster_with(Duration::from_millis(300)),
        ReplicationLayer::builder(),
    );
    app.wait_for_replica_reads();
    let author = unique("bad-pins");
    let r = app.post("/", &format!("author={author}&body=x"), None);
    let pin = r.pin_cookie().expect("pin cookie");
    let value = pin
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let (expiry, token) = value.split_once('.').expect("a token pin");
    assert!(
        expiry.parse::<u64>().is_ok() && token.parse::<diesel_cluster::ConsistencyToken>().is_ok()
    );
    migrated().sync();
    let path = format!("/?author={author}");

    let now = now_ms();
    let far_future = format!("{}.{token}", now + 24 * 3600 * 1000);
    let expired = format!("{}.{token}", now - 1000);
    let expired_window = (now - 1000).to_string();
    let huge = "9".repeat(10_000);
    let not_a_token = format!("{expiry}.0-1-x");
    let ignored: [&str; 9] = [
        "garbage",
        "",
        "%00%ff",
        "\"\"",
        &huge,
        &far_future,
        &expired,
        &expired_window,
        &not_a_token,
    ];
    for bad in ignored {
        let r = app.get(&path, Some(&format!("a=1; {PIN}={bad}; b=2")));
        assert_eq!(r.status, StatusCode::OK, "{bad:?}: {r:?}");
        assert_eq!(r.lines(), ["x"], "{bad:?}");
        // Ignored: read like a request without a pin, from a replica, and the response
        // tells the client to drop the cookie.
        assert!(is_replica(r.node()), "{bad:?}: {r:?}");
        assert!(
            r.pin_cookie().is_some_and(|c| c.contains("Max-Age=0")),
            "{bad:?}: the bad pin should be cleared: {r:?}"
        );
    }

    // Bytes that are not even text in the Cookie header.
    let r = raw_get(app.addr, &path, b"db_pin=\xff\xfe");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // Tampered but well formed: a position the cluster never reached. The request still
    // succeeds: the token is ahead of the master's position, so the read goes to the
    // master without waiting on a replica.
    let forged = format!("{expiry}.0-1-99999999999");
    let r = app.get(&path, Some(&format!("{PIN}={forged}")));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.lines(), ["x"]);
    assert_eq!(r.node(), "master", "{r:?}");

    // Several pin cookies: the valid one wins and nothing is cleared.
    let r = app.get(&path, Some(&format!("{PIN}=junk; {PIN}={value}")));
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.pin_cookie().is_none(), "{r:?}");
}

/// With a key, the pin is signed: the layer's own cookie reads its write, and anything a
/// client makes up (an unsigned pin, a token or window changed under its signature, a
/// pin signed with another key) is ignored and cleared: it can't even send the client's
/// reads to the master.
#[test]
fn signed_pins_refuse_made_up_values() {
    let _g = common::exclusive("web");
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let app = App::start(
        cluster_with(Duration::from_millis(300)),
        ReplicationLayer::builder().pin_key(key),
    );
    app.wait_for_replica_reads();
    let author = unique("signed-pins");
    let r = app.post("/", &format!("author={author}&body=x"), None);
    let pin = r.pin_cookie().expect("pin cookie");
    let value = pin
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let (plain, mac) = value.rsplit_once('~').expect("a signed pin");
    assert_eq!(mac.len(), 32, "{value}");
    let (expiry, token) = plain.split_once('.').expect("a token pin");
    let path = format!("/?author={author}");
    let r = app.get(&path, Some(&format!("{PIN}={value}")));
    assert_eq!(r.lines(), ["x"], "{r:?}");
    assert!(r.pin_cookie().is_none(), "a valid pin is kept: {r:?}");
    migrated().sync();

    let unsigned = plain.to_string();
    let forged_token = format!("{expiry}.0-1-99999999999~{mac}");
    let forged_window = format!("{expiry}~{mac}");
    let other_key = {
        let other = App::start(
            cluster_with(Duration::from_millis(300)),
            ReplicationLayer::builder().pin_key(vec![9; 32]),
        );
        let r = other.post("/", &format!("author={author}-2&body=y"), None);
        let pin = r.pin_cookie().expect("pin cookie");
        pin.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string()
    };
    assert!(token.parse::<diesel_cluster::ConsistencyToken>().is_ok());
    for bad in [&unsigned, &forged_token, &forged_window, &other_key] {
        let r = app.get(&path, Some(&format!("{PIN}={bad}")));
        assert_eq!(r.status, StatusCode::OK, "{bad:?}: {r:?}");
        assert_eq!(r.lines(), ["x"], "{bad:?}");
        assert!(is_replica(r.node()), "{bad:?} was obeyed: {r:?}");
        assert!(
            r.pin_cookie().is_some_and(|c| c.contains("Max-Age=0")),
            "{bad:?}: the bad pin should be cleared: {r:?}"
        );
    }
}

/// A GET whose Cookie header holds raw bytes, written by hand on a plain socket.
fn raw_get(addr: SocketAddr, path: &str, cookie: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: ")
        .into_bytes();
    req.extend_from_slice(cookie);
    req.extend_from_slice(b"\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("a response within 60 s");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn sticky_window_pins_reads_to_the_master() {
    let _g = common::exclusive("web");
    let app = App::start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder()
            .pin(PinMode::Window(Duration::from_secs(30)))
            .cookie_name("pin")
            .same_site(SameSite::Strict)
            .secure(true)
            .http_only(false),
    );
    app.wait_for_replica_reads();
    let author = unique("window");
    let r = app.post("/", &format!("author={author}&body=w"), None);
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("pin="))
        .expect("a write sets the window cookie");
    assert!(
        set.contains("Max-Age=30")
            && set.contains("SameSite=Strict")
            && set.contains("; Secure")
            && !set.contains("HttpOnly"),
        "{set}"
    );
    let value = set.split(';').next().unwrap().to_string();
    let expiry: u64 = value.trim_start_matches("pin=").parse().expect("expiry ms");
    assert!(expiry > now_ms());

    let path = format!("/?author={author}");
    let r = app.get(&path, Some(&value));
    assert_eq!(r.node(), "master", "within the window: {r:?}");
    assert_eq!(r.headers["x-db-role"], "replica", "the role stays replica");
    assert_eq!(r.lines(), ["w"]);

    let r = app.get(&path, None);
    assert!(is_replica(r.node()), "without the cookie: {r:?}");

    // A read-only POST forced to the replicas can't have written: no window.
    let r = app.post("/search", &format!("author={author}"), None);
    assert!(
        r.set_cookies().iter().all(|c| !c.starts_with("pin=")),
        "{r:?}"
    );
}

#[test]
fn layer_settings_are_checked() {
    let _g = common::shared("web");
    let pool = pool_for(cluster_with(Duration::from_secs(1)));
    for (builder, option) in [
        (
            ReplicationLayer::builder().cookie_name("a b"),
            "cookie_name",
        ),
        (ReplicationLayer::builder().cookie_name(""), "cookie_name"),
        (
            ReplicationLayer::builder().cookie_path("app"),
            "cookie_path",
        ),
        (
            ReplicationLayer::builder().cookie_domain("a;b"),
            "cookie_domain",
        ),
        (
            ReplicationLayer::builder().same_site(SameSite::None),
            "same_site",
        ),
        (
            ReplicationLayer::builder().pin(PinMode::Token(Duration::ZERO)),
            "pin",
        ),
        (ReplicationLayer::builder().pin_key(vec![7; 31]), "pin_key"),
    ] {
        let e = builder.build(pool.clone()).unwrap_err();
        assert!(e.to_string().contains(option), "{option}: {e}");
    }
    let layer = ReplicationLayer::builder()
        .same_site(SameSite::None)
        .secure(true)
        .build(pool)
        .unwrap();
    assert!(matches!(layer.pin_mode(), PinMode::Token(_)));
    let debug = format!("{layer:?}");
    assert!(
        debug.contains("db_pin") && !debug.contains("app_pw"),
        "{debug}"
    );
}

#[test]
fn sessions_written_in_a_get_live_on_the_master() {
    let _g = common::exclusive("web");
    let c = migrated();
    let app = App::start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder(),
    );
    // Replicas behind: a session read from one would not be found.
    let _delay = Delayed::new(c, 2);
    three_visits_live_on_the_master(&app, c);
}

/// Three GETs of `/visit` with the session cookie count 1, 2, 3, and the session is one
/// unexpired row on the master holding the last count.
fn three_visits_live_on_the_master(app: &App, c: &common::TestCluster) {
    let mut jar = Jar::default();
    for expected in 1..=3 {
        let r = app.get("/visit", jar.header().as_deref());
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body, expected.to_string());
        jar.update(&r);
    }
    let id = jar.0.get("id").expect("the session cookie").clone();
    let rows = c.sql(
        "master",
        &format!("SELECT COUNT(*), MAX(expires_at) > UNIX_TIMESTAMP() FROM app.sessions WHERE id = '{id}'"),
    );
    assert_eq!(rows, "1\t1");
    let record = c.sql(
        "master",
        &format!("SELECT record FROM app.sessions WHERE id = '{id}'"),
    );
    assert!(record.contains("\"visits\":3"), "{record}");
}
