//! `#[derive(MultiConnection)]` enums accept a `ClusterConnection` unchanged.
use crate::common;

use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_cluster::{with_replica, ClusterConnection};

#[derive(diesel::MultiConnection)]
enum AnyConnection {
    Cluster(ClusterConnection),
}

#[test]
fn a_cluster_connection_works_inside_a_multi_connection_enum() {
    let _g = common::shared("main");
    let c = common::cluster("main");
    let mut conn = AnyConnection::establish(&c.cluster_url).unwrap();
    let port = |conn: &mut AnyConnection| -> i32 {
        diesel::select(diesel::dsl::sql::<Integer>("@@port"))
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(port(&mut conn), i32::from(c.master_port));
    let replica = with_replica(|| port(&mut conn));
    assert!([c.replica1_port, c.replica2_port].contains(&(replica as u16)));
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        assert_eq!(port(conn), i32::from(c.master_port));
        Ok(())
    })
    .unwrap();
    let AnyConnection::Cluster(inner) = &conn;
    assert_eq!(inner.last_node(), Some("master"));
}
