//! The wrapper's cost on real statements: `ClusterConnection` against a raw
//! `MysqlConnection` doing the same work on the same node, in one run.
//!
//! * `point_select/{raw,ours}/{master,replica}`: `bench_rows.find(k).first()`; raw is
//!   connected straight to the master (or replica1), ours runs in a master (or replica)
//!   scope of the three-node cluster; `ours/replica, 1-replica cluster` in a replica scope
//!   of a master + replica1 cluster (its reads go where raw's do); `control/master` is raw
//!   run again, the noise floor; `control/replica, raw round-robin` is raw connections
//!   to replica1 and replica2 used in turn (the balancer's pattern, without the wrapper).
//! * `point_select_boxed/{raw,ours}/master`: the same query boxed (dynamic query id:
//!   ours renders and classifies its SQL on every call).
//! * `insert/{raw,ours}/master`: one small row.
//! * `load_100/{raw,ours}/{master,replica}`: 100 rows.
//!
//! Every criterion sample runs on fresh connections (`common::on_fresh` says why). After
//! the criterion groups, paired runs alternate raw and ours call by call for the point
//! selects (`bench-note` lines), with a raw-vs-raw control and the client thread's CPU
//! time per call. With `BENCH_INSTRUCTIONS` set the binary instead runs fixed loops for
//! callgrind to count instructions per statement (see `scripts/bench.sh`).

mod common;

use std::time::Duration;

use common::{bench_rows, key, note, note_ratio, on_fresh, paired, point_select, Row, Urls};
use criterion::{black_box, criterion_group, BenchmarkId, Criterion};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel_cluster::{use_master, use_replica, Cluster, ClusterConnection, ScopeGuard};

/// Where each side connects.
struct Sides {
    urls: Urls,
    cluster: Cluster,
    /// The master and replica1 only: replica reads then go where raw's do, which
    /// separates the wrapper's cost from the cost of spreading reads over two servers
    /// that share this machine's cores.
    one_replica: Cluster,
}

impl Sides {
    fn raw(&self, scope: &str) -> MysqlConnection {
        let url = if scope == "master" {
            &self.urls.master
        } else {
            &self.urls.replica1
        };
        MysqlConnection::establish(url).expect("connect a raw connection")
    }

    fn ours(&self) -> ClusterConnection {
        self.cluster.connect()
    }

    /// Raw connections to replica1 and replica2, used in turn: what the round-robin
    /// balancer does, by hand, without the wrapper.
    fn raw_round_robin(&self) -> RawRoundRobin {
        let connect =
            |url: &str| MysqlConnection::establish(url).expect("connect a raw connection");
        RawRoundRobin {
            conns: [connect(&self.urls.replica1), connect(&self.urls.replica2)],
            next: 0,
        }
    }

    fn ours_one_replica(&self) -> ClusterConnection {
        self.one_replica.connect()
    }
}

struct RawRoundRobin {
    conns: [MysqlConnection; 2],
    next: usize,
}

impl RawRoundRobin {
    fn point_select(&mut self, k: i64) -> Row {
        self.next = (self.next + 1) % 2;
        point_select(&mut self.conns[self.next], k)
    }
}

fn enter(scope: &str) -> ScopeGuard {
    if scope == "master" {
        use_master()
    } else {
        use_replica()
    }
}

/// The same point select, boxed: its query id is dynamic, so ours renders and classifies
/// its SQL on every call instead of using the per-type cache.
fn point_select_boxed<C>(conn: &mut C, k: i64) -> Row
where
    C: diesel::connection::LoadConnection<Backend = diesel::mysql::Mysql>,
{
    bench_rows::table
        .find(k)
        .select(Row::as_select())
        .into_boxed()
        .first(conn)
        .expect("boxed point select")
}

fn load_100<C>(conn: &mut C) -> Vec<Row>
where
    C: diesel::connection::LoadConnection<Backend = diesel::mysql::Mysql>,
{
    let rows = bench_rows::table
        .filter(bench_rows::id.le(100))
        .order(bench_rows::id)
        .select(Row::as_select())
        .load(conn)
        .expect("load 100 rows");
    assert_eq!(rows.len(), 100);
    rows
}

fn insert<C>(conn: &mut C, i: u64) -> usize
where
    C: diesel::connection::Connection<Backend = diesel::mysql::Mysql>,
{
    diesel::insert_into(bench_rows::table)
        .values((
            bench_rows::name.eq("bench insert"),
            bench_rows::score.eq((i % 1000) as i32),
        ))
        .execute(conn)
        .expect("insert")
}

fn setup() -> Sides {
    let urls = common::urls();
    common::prepare(&urls);
    let cluster = common::cluster(&urls);
    common::wait_until_replica_reads(&mut cluster.connect());
    let one_replica = Cluster::builder()
        .master(&urls.master)
        .replica(&urls.replica1)
        .build()
        .expect("master + replica1 cluster");
    common::wait_until_replica_reads(&mut one_replica.connect());
    Sides {
        urls,
        cluster,
        one_replica,
    }
}

fn benches(c: &mut Criterion) {
    let s = setup();

    let mut g = c.benchmark_group("point_select");
    for scope in ["master", "replica"] {
        g.bench_function(BenchmarkId::new("raw", scope), |b| {
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.raw(scope),
                    |c, i| {
                        black_box(point_select(c, key(i)));
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("ours", scope), |b| {
            let _scope = enter(scope);
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.ours(),
                    |c, i| {
                        black_box(point_select(c, key(i)));
                    },
                )
            })
        });
    }
    // Raw again, as if it were a third contender: how far apart two identical runs land.
    g.bench_function(BenchmarkId::new("control", "master"), |b| {
        b.iter_custom(|iters| {
            on_fresh(
                iters,
                || s.raw("master"),
                |c, i| {
                    black_box(point_select(c, key(i)));
                },
            )
        })
    });
    g.bench_function(
        BenchmarkId::new("control", "replica, raw round-robin"),
        |b| {
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.raw_round_robin(),
                    |c, i| {
                        black_box(c.point_select(key(i)));
                    },
                )
            })
        },
    );
    g.bench_function(
        BenchmarkId::new("ours", "replica, 1-replica cluster"),
        |b| {
            let _scope = use_replica();
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.ours_one_replica(),
                    |c, i| {
                        black_box(point_select(c, key(i)));
                    },
                )
            })
        },
    );
    g.finish();

    let mut g = c.benchmark_group("point_select_boxed");
    g.bench_function(BenchmarkId::new("raw", "master"), |b| {
        b.iter_custom(|iters| {
            on_fresh(
                iters,
                || s.raw("master"),
                |c, i| {
                    black_box(point_select_boxed(c, key(i)));
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new("ours", "master"), |b| {
        let _scope = use_master();
        b.iter_custom(|iters| {
            on_fresh(
                iters,
                || s.ours(),
                |c, i| {
                    black_box(point_select_boxed(c, key(i)));
                },
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("insert");
    g.bench_function(BenchmarkId::new("raw", "master"), |b| {
        b.iter_custom(|iters| {
            on_fresh(
                iters,
                || s.raw("master"),
                |c, i| {
                    insert(c, i);
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new("ours", "master"), |b| {
        let _scope = use_master();
        b.iter_custom(|iters| {
            on_fresh(
                iters,
                || s.ours(),
                |c, i| {
                    insert(c, i);
                },
            )
        })
    });
    g.finish();
    common::cleanup(&s.urls);
    // The inserts must not still be replaying on the replicas while reads are timed.
    common::wait_replicas(&s.urls, &mut s.raw("master"));

    let mut g = c.benchmark_group("load_100");
    for scope in ["master", "replica"] {
        g.bench_function(BenchmarkId::new("raw", scope), |b| {
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.raw(scope),
                    |c, _| {
                        black_box(load_100(c));
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("ours", scope), |b| {
            let _scope = enter(scope);
            b.iter_custom(|iters| {
                on_fresh(
                    iters,
                    || s.ours(),
                    |c, _| {
                        black_box(load_100(c));
                    },
                )
            })
        });
    }
    g.finish();

    paired_point_selects(&s);
}

/// Paired runs (see `common::paired`): 16 rounds of 250 pairs, about 2 s per line. The
/// control pairs two raw connections to the master: how far from 1.000 the method reads
/// when nothing differs.
fn paired_point_selects(s: &Sides) {
    let pairs = std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let rounds = 16;
    let select = |c: &mut MysqlConnection, i| {
        black_box(point_select(c, key(i)));
    };
    let _master = use_master();
    let p = paired(
        rounds,
        pairs,
        || s.raw("master"),
        || s.raw("master"),
        select,
        select,
    );
    report(
        "point_select paired control",
        "master",
        rounds,
        pairs,
        p,
        "control: the ours column is another raw connection; ",
    );
    for scope in ["master", "replica"] {
        let _scope = enter(scope);
        let p = paired(
            rounds,
            pairs,
            || s.raw(scope),
            || s.ours(),
            select,
            |c, i| {
                black_box(point_select(c, key(i)));
            },
        );
        report("point_select paired", scope, rounds, pairs, p, "");
    }
    let p = paired(
        rounds,
        pairs,
        || s.raw("replica"),
        || s.raw_round_robin(),
        select,
        |c, i| {
            black_box(c.point_select(key(i)));
        },
    );
    report(
        "point_select paired control",
        "replica, raw round-robin",
        rounds,
        pairs,
        p,
        "control: the ours column is raw connections to replica1 and replica2 used in \
         turn; ",
    );
    let _replica = use_replica();
    let p = paired(
        rounds,
        pairs,
        || s.raw_round_robin(),
        || s.ours(),
        |c, i| {
            black_box(c.point_select(key(i)));
        },
        |c, i| {
            black_box(point_select(c, key(i)));
        },
    );
    report(
        "point_select paired",
        "replica, vs raw round-robin",
        rounds,
        pairs,
        p,
        "raw: connections to replica1 and replica2 used in turn, as ours' balancer does; ",
    );
    let p = paired(
        rounds,
        pairs,
        || s.raw("replica"),
        || s.ours_one_replica(),
        select,
        |c, i| {
            black_box(point_select(c, key(i)));
        },
    );
    report(
        "point_select paired",
        "replica, 1-replica cluster",
        rounds,
        pairs,
        p,
        "ours: master + replica1 only; ",
    );
    drop(_replica);
    let p = paired(
        rounds,
        pairs,
        || s.raw("master"),
        || s.ours(),
        |c, i| {
            black_box(point_select_boxed(c, key(i)));
        },
        |c, i| {
            black_box(point_select_boxed(c, key(i)));
        },
    );
    report("point_select_boxed paired", "master", rounds, pairs, p, "");
}

fn report(name: &str, scope: &str, rounds: u32, pairs: u64, p: common::Paired, what: &str) {
    note_ratio(
        &format!("{name} wall/{scope}"),
        Some(p.raw_wall),
        Some(p.ours_wall),
        Some(p.ratio),
        &format!(
            "{what}{rounds} rounds x {pairs} alternating pairs, fresh connections per round; \
             ratio = median of the rounds' ratios (range {:.3}..{:.3})",
            p.round_ratios.0, p.round_ratios.1
        ),
    );
    note(
        &format!("{name} client cpu/{scope}"),
        Some(p.raw_cpu),
        Some(p.ours_cpu),
        &format!(
            "{what}client thread CPU per call, medians; difference {:+.0} ns",
            p.ours_cpu - p.raw_cpu
        ),
    );
}

/// Instruction counts (for `valgrind --tool=callgrind`, run by `scripts/bench.sh`): each
/// `instr_*` function runs `INSTR_CALLS` statements on a warm connection; callgrind's
/// inclusive count of a function divided by that is the client-side instructions per
/// statement, a number the machine's load cannot move.
const INSTR_CALLS: u64 = 2000;

#[inline(never)]
fn instr_raw(conn: &mut MysqlConnection, boxed: bool) {
    for i in 0..INSTR_CALLS {
        if boxed {
            black_box(point_select_boxed(conn, key(i)));
        } else {
            black_box(point_select(conn, key(i)));
        }
    }
}

#[inline(never)]
fn instr_ours(conn: &mut ClusterConnection, boxed: bool) {
    for i in 0..INSTR_CALLS {
        if boxed {
            black_box(point_select_boxed(conn, key(i)));
        } else {
            black_box(point_select(conn, key(i)));
        }
    }
}

// One function per line of the table, so callgrind names each; the `black_box`ed
// constants keep their bodies distinct (identical functions would be merged into one).
#[inline(never)]
fn instr_raw_master(c: &mut MysqlConnection) {
    black_box(1);
    instr_raw(c, false)
}
#[inline(never)]
fn instr_ours_master(c: &mut ClusterConnection) {
    black_box(2);
    let _scope = use_master();
    instr_ours(c, false)
}
#[inline(never)]
fn instr_raw_replica(c: &mut MysqlConnection) {
    black_box(3);
    instr_raw(c, false)
}
#[inline(never)]
fn instr_ours_replica(c: &mut ClusterConnection) {
    black_box(4);
    let _scope = use_replica();
    instr_ours(c, false)
}
#[inline(never)]
fn instr_raw_boxed(c: &mut MysqlConnection) {
    black_box(5);
    instr_raw(c, true)
}
#[inline(never)]
fn instr_ours_boxed(c: &mut ClusterConnection) {
    black_box(6);
    let _scope = use_master();
    instr_ours(c, true)
}

fn instructions() {
    let s = setup();
    let (mut raw_master, mut raw_replica, mut ours) = (s.raw("master"), s.raw("replica"), s.ours());
    // Warm: prepared statements, both replicas' connections, the per-type cache.
    for i in 0..10 {
        point_select(&mut raw_master, key(i));
        point_select(&mut raw_replica, key(i));
        point_select_boxed(&mut raw_master, key(i));
        for scope in ["master", "replica"] {
            let _scope = enter(scope);
            point_select(&mut ours, key(i));
            point_select_boxed(&mut ours, key(i));
        }
    }
    instr_raw_master(&mut raw_master);
    instr_ours_master(&mut ours);
    instr_raw_replica(&mut raw_replica);
    instr_ours_replica(&mut ours);
    instr_raw_boxed(&mut raw_master);
    instr_ours_boxed(&mut ours);
    println!("bench-instructions-calls|{INSTR_CALLS}");
}

criterion_group! {
    name = overhead;
    config = common::criterion().measurement_time(Duration::from_secs(4));
    targets = benches
}

fn main() {
    if std::env::var_os("BENCH_INSTRUCTIONS").is_some() {
        instructions();
        return;
    }
    // What `criterion_main!(overhead)` expands to.
    overhead();
    Criterion::default().configure_from_args().final_summary();
}
