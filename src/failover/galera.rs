//! The writer of a Galera cluster: no promotion, no position to check (every synced node
//! in the primary component has every committed transaction), only a choice. It is the
//! first node in the configured order that serves (up, synced, primary, ready): one
//! writer at a time keeps certification conflicts between the library's own connections
//! out, and a fixed order makes every process of the application choose the same node.

use super::switch_master;
use crate::topology::Topology;

/// Makes the first serving node the writer (if it is not already). Returns it; `None`
/// when no node serves (writes then fail, as with a master that is down).
pub(crate) fn elect_writer(shared: &Topology) -> Option<usize> {
    let first = (0..shared.nodes.len()).find(|&i| shared.nodes[i].is_up())?;
    let current = shared.master();
    if first != current {
        let _serialised = shared.failover_lock.lock();
        if shared.master() == current {
            log::warn!(
                "galera: writes go to {} now (was {}: {})",
                shared.nodes[first].label,
                shared.nodes[current].label,
                why_not(shared, current, first)
            );
            switch_master(shared, current, first);
        }
    }
    Some(shared.master())
}

/// Why a Galera cluster has no writer: each node's reason, for the caller's error.
pub(crate) fn no_writer(shared: &Topology) -> String {
    let reasons: Vec<String> = shared
        .nodes
        .iter()
        .map(|n| {
            let why = n.galera.lock().not_serving.clone();
            format!(
                "{}: {}",
                n.label,
                why.unwrap_or_else(|| "unreachable".into())
            )
        })
        .collect();
    format!(
        "no Galera node is synced in the primary component ({})",
        reasons.join("; ")
    )
}

fn why_not(shared: &Topology, old: usize, new: usize) -> String {
    if new < old {
        return "an earlier node is synced again".into();
    }
    let node = &shared.nodes[old];
    node.galera
        .lock()
        .not_serving
        .clone()
        .unwrap_or_else(|| "unreachable".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::galera::ClusterKind;

    #[test]
    fn the_first_serving_node_writes_and_writes_come_back_to_it() {
        let mut t = Topology::for_tests(2);
        t.config.kind = ClusterKind::Galera;
        assert_eq!(elect_writer(&t), Some(0));
        t.nodes[0].set_not_serving(Some("non-Primary".into()));
        assert_eq!(elect_writer(&t), Some(1));
        assert_eq!(t.master(), 1);
        t.nodes[1].eject(std::time::Duration::from_secs(60));
        assert_eq!(elect_writer(&t), Some(2));
        t.nodes[2].set_not_serving(Some("desynced".into()));
        assert_eq!(elect_writer(&t), None, "no node serves");
        assert_eq!(t.master(), 2, "unchanged");
        t.nodes[0].set_not_serving(None);
        assert_eq!(elect_writer(&t), Some(0), "back to the first in order");
    }
}
