//! A tour of diesel-cluster against a running cluster: routing by role, a transaction,
//! nested scopes, read-your-writes, and reads surviving a dead replica.
//!
//! Run it with `scripts/demo.sh` (starts a local master + 2 replicas first), or:
//! `DATABASE_URL=mysql://app:pw@master,replica1,replica2/app cargo run --example demo`.
//! When `DEMO_CLUSTER_SCRIPT` points at `scripts/cluster.sh`, the demo also kills a
//! replica mid-run and starts it again.

use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel_cluster::{
    with_master, with_replica, with_role, Cluster, ClusterConnection, Consistency, Role,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

diesel::table! {
    entries (id) {
        id -> BigInt,
        author -> Varchar,
        body -> Text,
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn port(conn: &mut ClusterConnection) -> QueryResult<i32> {
    diesel::select(diesel::dsl::sql::<Integer>("@@port")).get_result(conn)
}

/// Prints and clears what the connection's query log recorded.
fn show(conn: &mut ClusterConnection, title: &str) {
    println!("\n== {title}");
    for entry in conn.take_query_log() {
        let sql: String = entry.sql.chars().take(90).collect();
        println!("  {:<9} [{:<7}] {sql}", entry.node, entry.role.to_string());
    }
}

fn main() -> Result<()> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to mysql://user:pw@master,replica1,replica2/db")?;
    let cluster = Cluster::builder()
        .url(&url)
        .monitor_interval(Some(Duration::from_millis(250)))
        .ejection_cooldown(Duration::from_secs(2))
        .consistency(Consistency::Causal)
        .query_log(true)
        .build()?;
    println!("cluster: {:?}", cluster.node_names());
    let mut conn = cluster.connect();
    with_master(|| conn.run_pending_migrations(MIGRATIONS).map(|_| ()))
        .map_err(|e| format!("migrations: {e}"))?;
    conn.take_query_log();

    // 1. Roles: the default is the master; scopes pick replicas; the innermost wins.
    port(&mut conn)?;
    with_replica(|| -> QueryResult<()> {
        port(&mut conn)?;
        port(&mut conn)?;
        with_master(|| port(&mut conn))?;
        port(&mut conn)?;
        Ok(())
    })?;
    show(
        &mut conn,
        "roles: default, replica scope, nested master scope",
    );

    // 2. Writes go to the master; in replica scope they are refused before any server
    //    sees them.
    diesel::insert_into(entries::table)
        .values((entries::author.eq("demo"), entries::body.eq("hello")))
        .execute(&mut conn)?;
    let refused = with_replica(|| conn.batch_execute("DELETE FROM entries"));
    show(&mut conn, "a write on the master");
    println!("  DELETE in replica scope -> {}", refused.unwrap_err());

    // 3. A transaction runs on the node where it began, whatever scope is entered inside.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::insert_into(entries::table)
            .values((
                entries::author.eq("demo"),
                entries::body.eq("in a transaction"),
            ))
            .execute(conn)?;
        with_replica(|| entries::table.count().get_result::<i64>(conn))?;
        Ok(())
    })?;
    show(
        &mut conn,
        "a transaction begun on the master (the replica-scope read stays there)",
    );

    // 4. Read-your-writes: Auto role sends reads to replicas; in Causal mode a read after
    //    a write waits until the replica has applied it (MASTER_GTID_WAIT).
    let before = conn.internal_statements();
    let n = with_role(Role::Auto, || -> QueryResult<i64> {
        diesel::insert_into(entries::table)
            .values((entries::author.eq("demo"), entries::body.eq("read me back")))
            .execute(&mut conn)?;
        entries::table
            .filter(entries::body.eq("read me back"))
            .count()
            .get_result(&mut conn)
    })?;
    show(
        &mut conn,
        "Auto role, causal consistency: write, then read on a replica",
    );
    println!(
        "  the replica read saw {n} matching row(s); extra round trips: {}; token: {}",
        conn.internal_statements() - before,
        conn.consistency_token()
            .map(|t| t.to_string())
            .unwrap_or_default()
    );

    // 5. A replica dies: reads move to the other one without a failed read.
    if let Ok(script) = std::env::var("DEMO_CLUSTER_SCRIPT") {
        println!("\n== killing replica1 (scripts/cluster.sh kill replica1)");
        let status = Command::new("bash")
            .args([&script, "kill", "replica1"])
            .status()?;
        if !status.success() {
            return Err("could not kill replica1".into());
        }
        let started = Instant::now();
        let mut failed = 0;
        let mut served = std::collections::BTreeMap::new();
        while started.elapsed() < Duration::from_secs(2) {
            match with_replica(|| {
                diesel::select(diesel::dsl::sql::<BigInt>("COUNT(*) FROM entries"))
                    .get_result::<i64>(&mut conn)
            }) {
                Ok(_) => {
                    *served
                        .entry(conn.last_node().unwrap_or("?").to_string())
                        .or_insert(0) += 1
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("  read failed: {e}");
                }
            }
        }
        conn.take_query_log();
        println!("  reads for 2 s with replica1 dead: served by {served:?}, failed: {failed}");
        let status = Command::new("bash")
            .args([&script, "start-node", "replica1"])
            .status()?;
        if !status.success() {
            return Err("could not restart replica1".into());
        }
        println!("  replica1 restarted; it gets reads again after the cooldown");
    }

    println!("\n== cluster status\n{}", cluster.status());
    diesel::delete(entries::table.filter(entries::author.eq("demo"))).execute(&mut conn)?;
    Ok(())
}
