//! Checks the local test cluster itself (scripts/cluster.sh): std only.
use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

#[test]
fn main_cluster_replicates() {
    let _g = common::shared("main");
    let c = common::cluster("main");

    assert_eq!(
        c.sql("replica1", "SELECT @@port"),
        c.replica1_port.to_string()
    );
    assert_eq!(
        c.sql("replica2", "SELECT @@port"),
        c.replica2_port.to_string()
    );
    assert_eq!(c.sql("master", "SELECT @@read_only"), "0");
    assert_eq!(c.sql("replica1", "SELECT @@read_only"), "1");
    assert_eq!(
        c.sql("replica2", "SELECT name FROM other_db.marker WHERE id = 1"),
        "other_db"
    );
    assert!(c.master_url.contains(&format!(":{}/app", c.master_port)));
    assert!(c
        .cluster_url
        .contains(&format!("127.0.0.1:{}", c.replica2_port)));

    c.sql(
        "master",
        "CREATE TABLE IF NOT EXISTS app.cluster_script_scratch \
         (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)",
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let v = format!("{}-{nanos}", std::process::id());
    c.sql(
        "master",
        &format!("INSERT INTO app.cluster_script_scratch (v) VALUES ('{v}')"),
    );
    c.sync();
    for node in ["replica1", "replica2"] {
        assert_eq!(
            c.sql(
                node,
                &format!("SELECT COUNT(*) FROM app.cluster_script_scratch WHERE v = '{v}'")
            ),
            "1",
            "row not replicated to {node}"
        );
    }
}
