//! A short chaos run inside the test suite: the workload of `examples/chaos` (shared
//! source) for 15 s against the `chaos` cluster, with the whole fault schedule
//! compressed into it. `scripts/chaos.sh` runs the full 60 s version.
use crate::common;

#[path = "../../examples/chaos/workload.rs"]
mod workload;

use std::time::Duration;

#[test]
fn a_short_chaos_run_keeps_every_promise() {
    let _g = common::exclusive("chaos");
    let cluster = common::cluster("chaos");
    let config = workload::Config {
        cluster: cluster.name.clone(),
        duration: Duration::from_secs(15),
        verbose: true,
        ..workload::Config::default()
    };
    let report = workload::run(&config).unwrap_or_else(|e| panic!("chaos run not possible: {e}"));
    eprintln!("{report}");
    // The run did real work on both paths before judging it.
    assert!(report.acked > 100, "{}", report.summary());
    assert!(report.causal_reads > 100, "{}", report.summary());
    assert!(report.passed(), "a promise was broken:\n{report}");
}
