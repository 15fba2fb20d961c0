//! A guestbook on the `entries` table, with axum and `diesel_cluster::web`.
//!
//! * `GET /` lists the entries from a replica (and says which node served them);
//! * `POST /` adds one on the master and redirects (303) to `GET /`, which shows the new
//!   entry even when the replicas are behind: the response's `db_pin` cookie carries the
//!   write's position, and the replica waits for it (or the read goes to the master);
//! * a visit counter in the session (`MasterSessionStore`), written during the `GET`,
//!   which lives on the master.
//!
//! Run it with `scripts/web-demo.sh` (starts the local cluster first), or
//! `DATABASE_URL=mysql://app:pw@master,replica1,replica2/app PORT=3000 cargo run --example web --features axum`.
//! It runs the crate's migrations at start and serves on `127.0.0.1:$PORT` (default 3000).

use std::error::Error;

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use diesel::prelude::*;
use diesel_cluster::web::{Db, DbError, MasterSessionStore, ReplicationLayer};
use diesel_cluster::Cluster;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use serde::Deserialize;
use tower_sessions::{Session, SessionManagerLayer};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

diesel::table! {
    entries (id) {
        id -> BigInt,
        author -> Varchar,
        body -> Text,
    }
}

#[derive(Queryable)]
struct Entry {
    id: i64,
    author: String,
    body: String,
}

#[derive(Deserialize)]
struct NewEntry {
    author: String,
    body: String,
}

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. mysql://app:pw@master,replica1,replica2/app")?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|e| format!("bad PORT `{p}`: {e}"))?,
        Err(_) => 3000,
    };
    let cluster = Cluster::from_url(&url)?;
    cluster.connect().run_pending_migrations(MIGRATIONS)?;
    let pool = diesel::r2d2::Pool::builder()
        .max_size(8)
        .build(cluster.manager())?;

    let app = Router::new()
        .route("/", get(list).post(add))
        .layer(SessionManagerLayer::new(MasterSessionStore::new(
            pool.clone(),
        )))
        .layer(ReplicationLayer::new(pool));

    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!(
            "guestbook on http://127.0.0.1:{port}/ (master {}, nodes {:?})",
            cluster.master_name(),
            cluster.node_names()
        );
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// `GET /`: the entries, from a replica that has the client's last write.
async fn list(db: Db, session: Session) -> Result<Html<String>, AppError> {
    // Written during a GET (replica role), stored on the master by the session store.
    let visits = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", visits).await?;

    let (rows, node) = db
        .run(|conn| {
            let rows: Vec<Entry> = entries::table
                .select((entries::id, entries::author, entries::body))
                .order(entries::id.desc())
                .limit(50)
                .load(conn)?;
            Ok((rows, conn.last_node().unwrap_or("?").to_string()))
        })
        .await?;

    let mut page = String::from(
        "<!doctype html><meta charset=utf-8><title>Guestbook</title><h1>Guestbook</h1>\
         <form method=post action=/><input name=author placeholder=name required> \
         <input name=body placeholder=message required size=60> <button>Sign</button></form><ul>",
    );
    for e in &rows {
        page.push_str(&format!(
            "<li>#{} <b>{}</b>: {}</li>",
            e.id,
            escape(&e.author),
            escape(&e.body)
        ));
    }
    page.push_str(&format!(
        "</ul><p><small>read from <code>{}</code> ({:?} role) · your visit #{visits}</small>",
        escape(&node),
        db.role()
    ));
    Ok(Html(page))
}

/// `POST /`: adds an entry on the master, then sends the browser back to the list.
async fn add(db: Db, Form(new): Form<NewEntry>) -> Result<Redirect, AppError> {
    let author = new.author.trim().to_string();
    let body = new.body.trim().to_string();
    if author.is_empty() || body.is_empty() || author.len() > 255 || body.len() > 2000 {
        return Err(AppError::BadInput);
    }
    db.run(move |conn| {
        diesel::insert_into(entries::table)
            .values((entries::author.eq(author), entries::body.eq(body)))
            .execute(conn)
    })
    .await?;
    Ok(Redirect::to("/"))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

enum AppError {
    Db(DbError),
    Session(tower_sessions::session::Error),
    BadInput,
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Db(e)
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Session(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Db(e) => e.into_response(),
            AppError::Session(e) => {
                eprintln!("session error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "session error").into_response()
            }
            AppError::BadInput => (
                StatusCode::BAD_REQUEST,
                "name (up to 255 bytes) and message (up to 2000) are required",
            )
                .into_response(),
        }
    }
}
