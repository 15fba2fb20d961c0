//! Chaos run: a mixed read/write workload through a pool of `ClusterConnection`s while
//! nodes die, lag and come back; then a check that no acknowledged write was lost or
//! duplicated and no promise was broken. Prints a one-line summary; exits 1 when a
//! promise was broken, 2 when the run could not be set up.
//!
//! ```text
//! cargo run --example chaos -- [--duration SECS] [--cluster NAME] [--threads N] [--seed N] [--quiet]
//!                                [--unsafe-eventual]
//! ```
//! `scripts/chaos.sh` sets up the machine and runs it against the `chaos` cluster.
//! `RUST_LOG=warn|info|debug` prints the library's log lines to stderr.

mod workload;

use std::time::Duration;

/// Prints the library's log records to stderr, for watching a run.
struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("[{:<5} {}] {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn usage() -> ! {
    eprintln!(
        "usage: chaos [--duration SECS] [--cluster NAME] [--threads N] [--seed N] [--quiet] \
         [--unsafe-eventual]"
    );
    std::process::exit(2)
}

fn main() {
    let mut config = workload::Config {
        verbose: true,
        ..workload::Config::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--duration" => match value().parse::<f64>() {
                Ok(s) if s > 0.0 && s < 86_400.0 => config.duration = Duration::from_secs_f64(s),
                _ => usage(),
            },
            "--cluster" => config.cluster = value(),
            "--threads" => match value().parse() {
                Ok(n) if n > 0 => config.threads = n,
                _ => usage(),
            },
            "--seed" => config.seed = value().parse().unwrap_or_else(|_| usage()),
            "--quiet" => config.verbose = false,
            // Reads of the thread's own writes with no read-your-writes guarantee: the
            // run must then report stale reads (a check of the checker).
            "--unsafe-eventual" => config.read_your_writes = diesel_cluster::Consistency::Eventual,
            _ => usage(),
        }
    }
    if let Ok(level) = std::env::var("RUST_LOG") {
        if let Ok(level) = level.parse::<log::LevelFilter>() {
            let logger = Box::leak(Box::new(StderrLogger(level)));
            if log::set_logger(logger).is_ok() {
                log::set_max_level(level);
            }
        }
    }
    match workload::run(&config) {
        Ok(report) => {
            eprintln!("{report}");
            // The summary also goes to stdout, alone, for scripts.
            println!("{}", report.summary());
            std::process::exit(if report.passed() { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("chaos: could not run: {e}");
            std::process::exit(2);
        }
    }
}
