//! Diesel-side helpers shared by the integration tests: the schema of `migrations/`,
//! a migrated cluster, and small queries.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_cluster::{Cluster, ClusterConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::TestCluster;

/// The crate's migrations (users, entries, sessions).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Varchar,
        email -> Varchar,
    }
}

diesel::table! {
    entries (id) {
        id -> BigInt,
        author -> Varchar,
        body -> Text,
    }
}

/// The cluster `name`, with the migrations run through a `ClusterConnection` (once per
/// process) and replicated to every replica.
pub fn migrated(name: &str) -> &'static TestCluster {
    static DONE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let c = super::cluster(name);
    let mut done = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if done.insert(name.to_string()) {
        let mut conn = ClusterConnection::establish(&c.cluster_url).unwrap();
        conn.run_pending_migrations(MIGRATIONS).unwrap();
        c.sync();
    }
    c
}

/// The port of the server that ran the statement: tells master and replicas apart.
pub fn port(conn: &mut ClusterConnection) -> u16 {
    try_port(conn).unwrap()
}

/// [`port`], for tests where the read may fail.
pub fn try_port(conn: &mut ClusterConnection) -> QueryResult<u16> {
    let p: i32 = diesel::select(diesel::dsl::sql::<Integer>("@@port")).get_result(conn)?;
    Ok(p as u16)
}

/// Bound for conditions that should take a fraction of a second; generous because the
/// machine is shared and loaded.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds; panics after [`PATIENCE`] with the cluster's state.
/// Returns how long it took.
pub fn wait_until(cluster: &Cluster, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if cond() {
            return started.elapsed();
        }
        if started.elapsed() > PATIENCE {
            panic!(
                "timed out after {PATIENCE:?} waiting until {what}\n{}",
                cluster.status()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A string no other test (or earlier run) uses, for rows a test must find again.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A role scope a test step runs in: none (the connection's default role) or one of the
/// three roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// No scope: the cluster's default role.
    Default,
    Master,
    Replica,
    Auto,
}

impl Scope {
    /// Runs `f` in this scope.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            Scope::Default => f(),
            Scope::Master => diesel_cluster::with_master(f),
            Scope::Replica => diesel_cluster::with_replica(f),
            Scope::Auto => diesel_cluster::with_role(diesel_cluster::Role::Auto, f),
        }
    }

    /// The role statements in this scope have, on a connection whose default is
    /// `default`.
    pub fn role(self, default: diesel_cluster::Role) -> diesel_cluster::Role {
        use diesel_cluster::Role;
        match self {
            Scope::Default => default,
            Scope::Master => Role::Master,
            Scope::Replica => Role::Replica,
            Scope::Auto => Role::Auto,
        }
    }
}

/// A `users` row whose `email` holds a counter (starting at 0), present on every replica
/// of `c`; `prefix` names the test.
pub fn counter_row(c: &TestCluster, prefix: &str) -> i64 {
    let mut conn = ClusterConnection::establish(&c.master_url).unwrap();
    let name = unique(prefix);
    diesel::insert_into(users::table)
        .values((users::name.eq(&name), users::email.eq("0")))
        .execute(&mut conn)
        .unwrap();
    let id = users::table
        .filter(users::name.eq(&name))
        .select(users::id)
        .first(&mut conn)
        .unwrap();
    c.sync();
    id
}

/// Sets the counter of [`counter_row`] `id` to `value`.
pub fn write_counter(conn: &mut ClusterConnection, id: i64, value: i64) {
    let n = diesel::update(users::table.find(id))
        .set(users::email.eq(value.to_string()))
        .execute(conn)
        .unwrap();
    assert_eq!(n, 1);
}

/// The counter of [`counter_row`] `id` as the node chosen for this read sees it.
pub fn read_counter(conn: &mut ClusterConnection, id: i64) -> i64 {
    let email: String = users::table
        .find(id)
        .select(users::email)
        .first(conn)
        .unwrap();
    email.parse().unwrap()
}
