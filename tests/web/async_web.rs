//! The same app on the async path (features `axum` and `async`): handlers with
//! [`AsyncDb`] over a bb8 pool of `AsyncClusterConnection`s, the layer built with
//! `build_async`, sessions in [`AsyncMasterSessionStore`]; no blocking thread. Where a
//! request ran is the `x-db-node` header, from `last_node()`; a refused write is checked
//! on the servers' own `Com_insert`.
use super::*;

use diesel_async::pooled_connection::bb8;
use diesel_async::RunQueryDsl;
use diesel_cluster::web::{AsyncDb, AsyncMasterSessionStore};
use diesel_cluster::AsyncClusterConnection;

async fn list(db: AsyncDb, Query(filter): Query<Filter>) -> Result<Response, DbError> {
    let author = filter.author.unwrap_or_default();
    let role = db.role();
    let (bodies, node) = db
        .run(|conn| {
            Box::pin(async move {
                let bodies: Vec<String> = entries::table
                    .filter(entries::author.eq(author))
                    .select(entries::body)
                    .order(entries::id)
                    .load(conn)
                    .await?;
                Ok((bodies, conn.last_node().unwrap_or("none").to_string()))
            })
        })
        .await?;
    Ok(with_node(
        node,
        ([("x-db-role", role.to_string())], bodies.join("\n")),
    ))
}

async fn add(db: AsyncDb, axum::Form(new): axum::Form<NewEntry>) -> Result<Response, DbError> {
    let location = format!("/?author={}", new.author);
    let node = db
        .run(|conn| {
            Box::pin(async move {
                diesel::insert_into(entries::table)
                    .values((entries::author.eq(new.author), entries::body.eq(new.body)))
                    .execute(conn)
                    .await?;
                Ok(conn.last_node().unwrap_or("none").to_string())
            })
        })
        .await?;
    Ok(with_node(node, Redirect::to(&location)))
}

/// The blocking extractor on an async layer: a mistake of the app.
async fn wrong(db: Db) -> Result<String, DbError> {
    db.run(|_| Ok(String::new())).await
}

fn async_pool(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
) -> bb8::Pool<AsyncClusterConnection> {
    rt.block_on(
        bb8::Pool::builder()
            .max_size(4)
            .connection_timeout(Duration::from_secs(20))
            .build(cluster.async_manager()),
    )
    .unwrap()
}

fn start(cluster: Cluster, layer: ReplicationLayerBuilder) -> App {
    App::serve(move |rt| {
        let pool = async_pool(rt, &cluster);
        Router::new()
            .route("/", get(list).post(add))
            .route("/master", get(list).layer(force_role(Role::Master)))
            .route("/search-write", post(add).layer(force_role(Role::Replica)))
            .route("/visit", get(visit))
            .route("/wrong", get(wrong))
            .layer(SessionManagerLayer::new(AsyncMasterSessionStore::new(
                pool.clone(),
            )))
            .layer(layer.build_async(pool).unwrap())
    })
}

fn com_insert(c: &common::TestCluster) -> Vec<String> {
    ["master", "replica1", "replica2"]
        .iter()
        .map(|n| c.sql(n, "SHOW GLOBAL STATUS LIKE 'Com_insert'"))
        .collect()
}

#[test]
fn async_requests_route_by_method_and_writes_in_replica_routes_are_refused() {
    let _g = common::exclusive("web");
    let c = migrated();
    let app = start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder(),
    );
    app.wait_for_replica_reads();
    let author = unique("async-routing");

    let r = app.get(&format!("/?author={author}"), None);
    assert_eq!(r.status, StatusCode::OK);
    assert!(is_replica(r.node()), "GET: {r:?}");
    assert_eq!(r.headers["x-db-role"], "replica");
    let r = app.post("/", &format!("author={author}&body=hello"), None);
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.node(), "master", "POST: {r:?}");
    assert!(r.pin_cookie().is_some(), "a write sets the pin");
    let r = app.get(&format!("/master?author={author}"), None);
    assert_eq!((r.node(), r.lines()), ("master", vec!["hello"]));

    // A write in a route forced to the replicas never reaches a server.
    c.sync();
    let before = com_insert(c);
    let r = app.post(
        "/search-write",
        &format!("author={author}&body=refused"),
        None,
    );
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.pin_cookie().is_none());
    assert_eq!(com_insert(c), before, "no server ran an INSERT");

    // The blocking extractor under the async layer: a 500 that says why, no panic.
    let r = app.get("/wrong", None);
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
}

#[test]
fn async_get_after_post_reads_its_own_write_with_delayed_replicas() {
    let _g = common::exclusive("web");
    let c = migrated();
    let app = start(
        cluster_with(Duration::from_millis(300)),
        ReplicationLayer::builder(),
    );
    app.wait_for_replica_reads();
    let _delay = Delayed::new(c, 2);

    let author = unique("async-ryw");
    let mut jar = Jar::default();
    let (mut missed, rounds) = (0, 20);
    for i in 0..rounds {
        let body = format!("with-cookie-{i}");
        let r = app.post(
            "/",
            &format!("author={author}&body={body}"),
            jar.header().as_deref(),
        );
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
        jar.update(&r);
        let r = app.get(
            r.headers["location"].to_str().unwrap(),
            jar.header().as_deref(),
        );
        assert_eq!(r.status, StatusCode::OK);
        missed += usize::from(!r.lines().contains(&body.as_str()));
    }
    let author = unique("async-no-cookie");
    let mut misses = 0;
    for i in 0..10 {
        let body = format!("without-cookie-{i}");
        let r = app.post("/", &format!("author={author}&body={body}"), None);
        let r = app.get(r.headers["location"].to_str().unwrap(), None);
        if !r.lines().contains(&body.as_str()) {
            assert!(is_replica(r.node()), "{r:?}");
            misses += 1;
        }
    }
    eprintln!("async GET-after-POST: with the pin {missed}/{rounds} missed, without {misses}/10");
    assert_eq!(missed, 0, "a GET after its POST missed the write");
    assert!(
        misses >= 1,
        "without the pin no read missed: the replicas were not behind"
    );

    // A causal timeout longer than the delay: the replica waits, then serves it itself.
    drop(app);
    let app = start(
        cluster_with(Duration::from_secs(15)),
        ReplicationLayer::builder(),
    );
    let author = unique("async-wait");
    let mut jar = Jar::default();
    let r = app.post("/", &format!("author={author}&body=waited"), None);
    jar.update(&r);
    let t0 = Instant::now();
    let r = app.get(
        r.headers["location"].to_str().unwrap(),
        jar.header().as_deref(),
    );
    eprintln!("async GET that waited on {}: {:?}", r.node(), t0.elapsed());
    assert_eq!(r.lines(), ["waited"], "{r:?}");
    assert!(
        is_replica(r.node()),
        "the replica should have waited: {r:?}"
    );
}

#[test]
fn async_sessions_written_in_a_get_live_on_the_master() {
    let _g = common::exclusive("web");
    let c = migrated();
    let app = start(
        cluster_with(Duration::from_secs(1)),
        ReplicationLayer::builder(),
    );
    let _delay = Delayed::new(c, 2);
    three_visits_live_on_the_master(&app, c);
}

/// The async extractor under a layer built over an r2d2 pool: a 500, no panic.
#[test]
fn async_db_under_a_blocking_layer_is_a_clear_error() {
    let _g = common::exclusive("web");
    let cluster = cluster_with(Duration::from_secs(1));
    let app = App::serve(move |_| {
        let pool = pool_for(cluster);
        Router::new()
            .route("/", get(list))
            .layer(ReplicationLayer::new(pool))
    });
    let r = app.get("/?author=x", None);
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
}
