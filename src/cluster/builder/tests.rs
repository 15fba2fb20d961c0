//! The builder's checks, on settings alone (no server).

use super::*;

#[test]
fn builder_reads_url_options() {
    let ok = Cluster::builder()
        .url("mysql://u:pw@m:1,r1:2,r2:3/db?default_role=auto&balance=random&max_replica_lag=2s&monitor_interval=off")
        .build()
        .unwrap();
    assert_eq!(ok.node_names(), vec!["master", "replica1", "replica2"]);
    assert_eq!(ok.topology().config.default_role, Role::Auto);
    assert_eq!(ok.topology().config.max_replica_lag, Duration::from_secs(2));
    assert!(!ok.has_monitor());
    assert_eq!(ok.topology().config.heartbeat, None);

    let hb = Cluster::builder()
        .url("mysql://u:pw@m:1,r1:2/db?heartbeat=true&max_replica_latency=5ms&monitor_interval=off")
        .build()
        .unwrap();
    assert_eq!(
        hb.topology().config.heartbeat.as_deref(),
        Some("`diesel_cluster_heartbeat`")
    );
    assert_eq!(
        hb.topology().config.max_replica_latency,
        Some(Duration::from_millis(5))
    );
    let named = Cluster::builder()
        .url("mysql://u:pw@m:1/db?heartbeat=meta.hb")
        .build()
        .unwrap();
    assert_eq!(
        named.topology().config.heartbeat.as_deref(),
        Some("`meta`.`hb`")
    );
    let off = Cluster::builder()
        .url("mysql://u:pw@m:1/db?heartbeat=false")
        .heartbeat(true)
        .build()
        .unwrap();
    assert!(
        off.topology().config.heartbeat.is_some(),
        "the builder call wins"
    );
}

/// Builders that must fail, with a part of the error they must give.
fn refused_builders() -> Vec<(Builder, &'static str)> {
    vec![
        (Cluster::builder(), "at least a master"),
        (
            Cluster::builder().url("mysql://u:pw@m/db?max_replica_lag=soon"),
            "max_replica_lag",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?default_role=boss"),
            "unknown role",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?balance=fastest"),
            "balancing",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?consistency=sometimes"),
            "consistency",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?query_log=maybe"),
            "query_log",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?replica_password=x"),
            "replica_user",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m,m/db"),
            "listed twice",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?connect_timeout=0s"),
            "greater than zero",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?max_replica_latency=0ms"),
            "max_replica_latency",
        ),
        (
            Cluster::builder().url("mysql://u:pw@m/db?heartbeat=a%60b"),
            "not a table name",
        ),
        (
            Cluster::builder()
                .master("mysql://u:pw@m/db")
                .heartbeat_table("a.b.c"),
            "not a table name",
        ),
        (
            Cluster::builder().master("mysql://u:pw@a,b/db"),
            "exactly one host",
        ),
        (
            Cluster::builder().master("mysql://u:pw@a/db?balance=random"),
            "builder",
        ),
        (
            Cluster::builder()
                .replica("mysql://u:pw@r/db")
                .master("mysql://u:pw@m/db"),
            "first",
        ),
        (
            Cluster::builder()
                .master("mysql://u:pw@m/db")
                .weighted_replica("mysql://u:pw@r/db", 0),
            "weight",
        ),
    ]
}

#[test]
fn builder_refuses_bad_settings_without_the_password() {
    for (builder, expected) in refused_builders() {
        let err = builder.build().expect_err(expected);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(expected), "expected `{expected}` in {shown}");
        assert!(!shown.contains("pw@") && !shown.contains(":pw"), "{shown}");
    }
}

#[test]
fn replica_credentials_replace_url_credentials() {
    let c = Cluster::builder()
        .url("mysql://app:secret@m,r/db?replica_user=ro&replica_password=ropw&monitor_interval=off")
        .build()
        .unwrap();
    assert_eq!(c.topology().nodes[0].address.user, "app");
    assert_eq!(c.topology().nodes[1].address.user, "ro");
    assert_eq!(c.topology().nodes[1].address.password.expose(), "ropw");
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("secret") && !debug.contains("ropw"),
        "{debug}"
    );
}

#[test]
fn galera_is_chosen_by_url_or_method_and_checked() {
    let c = Cluster::builder()
        .url("mysql://u:pw@a:1,b:2,c:3/db?cluster=galera&conflict_retries=7")
        .build()
        .unwrap();
    let t = c.topology();
    assert_eq!(t.config.kind, ClusterKind::Galera);
    assert_eq!(t.config.conflict_retries, 7);
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "node3"]);
    let by_method = Cluster::builder()
        .url("mysql://u:pw@a:1,b:2/db")
        .kind(ClusterKind::Galera)
        .build()
        .unwrap();
    assert_eq!(by_method.topology().config.kind, ClusterKind::Galera);
    for (url, option) in [
        (
            "mysql://u:pw@a:1,b:2/db?cluster=galera&monitor_interval=off",
            "monitor_interval",
        ),
        ("mysql://u:pw@a:1,b:2/db?cluster=mesh", "cluster"),
        (
            "mysql://u:pw@a:1,b:2/db?conflict_retries=-1",
            "conflict_retries",
        ),
        (
            "mysql://u:pw@a:1,b:2/db?conflict_retries=1000",
            "conflict_retries",
        ),
    ] {
        let e = Cluster::builder().url(url).build().unwrap_err();
        assert!(
            matches!(&e, Error::InvalidOption { option: o, .. } if o == option),
            "{url}: {e:?}"
        );
        assert!(!e.to_string().contains("pw"), "{e}");
    }
    assert!(c.promote(None).is_err(), "no promotion on Galera");
}
