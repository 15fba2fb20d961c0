//! A `log` logger for tests that read what the library logged: every record, formatted
//! as `LEVEL target: message`. One per test binary (a process has one logger).

use std::sync::Mutex;

/// Every record logged in this process since the last [`clear`].
pub static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

/// The logger; install it with [`install`].
pub struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        LINES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((record.level(), line));
    }
    fn flush(&self) {}
}

/// Makes [`Capture`] this process's logger, at trace level. Call once per process.
pub fn install() {
    log::set_logger(&Capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);
}

/// The records captured so far.
pub fn lines() -> Vec<(log::Level, String)> {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Forgets the records captured so far.
pub fn clear() {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).clear();
}
