//! The monitor's Galera check: reads a node's `wsrep_%` status each round and decides
//! whether it may serve (see [`WsrepState::verdict`]). A node that may not gets no
//! statement until a later round finds it synced in the primary component again; the
//! writer is then chosen again (see `failover::galera`).

use diesel::mysql::MysqlConnection;
use diesel::sql_types::Text;
use diesel::RunQueryDsl;

use crate::galera::WsrepState;
use crate::topology::Topology;

#[derive(diesel::QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = Text, column_name = Variable_name)]
    name: String,
    #[diesel(sql_type = Text, column_name = Value)]
    value: String,
}

/// The node's Galera state, in one round trip.
pub(super) fn read(conn: &mut MysqlConnection) -> diesel::QueryResult<WsrepState> {
    let rows: Vec<StatusRow> = diesel::sql_query("SHOW GLOBAL STATUS LIKE 'wsrep%'").load(conn)?;
    let mut state = WsrepState::from_rows(rows.iter().map(|r| (r.name.as_str(), r.value.as_str())));
    if rows.is_empty() {
        // No provider loaded (or wsrep off): the server reports no wsrep status at all.
        state.on = Some(false);
    }
    Ok(state)
}

/// What the Galera check of node `i` found: its state, or why it could not be read.
/// A node that may serve gets no lag (Galera has none in the replication sense: a synced
/// node applies within flow control's bound); one that may not is out of every choice.
pub(super) fn learn(shared: &Topology, i: usize, read: Result<WsrepState, String>) {
    let node = &shared.nodes[i];
    let max_lag = shared.config.max_replica_lag;
    let verdict = match &read {
        Ok(state) => state.verdict(),
        Err(e) => Err(format!("its wsrep status could not be read: {e}")),
    };
    if let Ok(state) = &read {
        let status = state.status();
        node.metrics.galera(
            verdict.is_ok(),
            status.flow_control_paused,
            status.cert_failures,
        );
    }
    node.galera.lock().state = read.ok();
    match verdict {
        Ok(()) => {
            node.set_lag(Some(std::time::Duration::ZERO), max_lag);
            if node.set_not_serving(None) {
                log::info!(
                    "monitor: {} is synced in the primary component again",
                    node.label
                );
            }
        }
        Err(reason) => {
            node.set_lag(None, max_lag);
            if node.set_not_serving(Some(reason.clone())) {
                log::warn!("monitor: {} gets no statements: {reason}", node.label);
            }
        }
    }
}

/// Node `i` refused a statement because it is not ready (error 1047): out of every
/// choice until the monitor finds it synced again.
pub(crate) fn refused_statement(shared: &Topology, i: usize, message: &str) {
    let node = &shared.nodes[i];
    if node.set_not_serving(Some(format!("refused a statement: {message}"))) {
        log::warn!(
            "{} is not ready ({message}); it gets no statements",
            node.label
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::galera::ClusterKind;

    fn galera_topology() -> Topology {
        let mut t = Topology::for_tests(2);
        t.config.kind = ClusterKind::Galera;
        t
    }

    fn state(cluster_status: &str, local_state: &str) -> WsrepState {
        WsrepState::from_rows([
            ("wsrep_ready", "ON"),
            ("wsrep_cluster_status", cluster_status),
            ("wsrep_local_state", local_state),
        ])
    }

    #[test]
    fn an_unsynced_node_is_out_until_synced_again() {
        let t = galera_topology();
        learn(&t, 1, Ok(state("Primary", "4")));
        assert!(t.nodes[1].is_up());
        assert_eq!(t.nodes[1].lag(), Some(std::time::Duration::ZERO));
        learn(&t, 1, Ok(state("Primary", "2")));
        assert!(
            !t.nodes[1].is_up(),
            "a donor or desynced node serves nothing"
        );
        assert_eq!(t.nodes[1].status(false).health, crate::Health::NotSynced);
        assert!(!t.is_usable_replica(1, 0, crate::Consistency::Eventual));
        learn(&t, 1, Ok(state("Primary", "4")));
        assert!(t.nodes[1].is_up());
        learn(&t, 2, Ok(state("non-Primary", "4")));
        assert!(!t.nodes[2].is_up());
        learn(&t, 2, Err("lost connection".into()));
        assert!(!t.nodes[2].is_up());
        let status = t.nodes[1].status(false);
        assert_eq!(
            status.galera.map(|g| g.component),
            Some("Primary".to_string())
        );
        refused_statement(&t, 1, "WSREP has not yet prepared node for application use");
        assert!(!t.nodes[1].is_up());
    }
}
