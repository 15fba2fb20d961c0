//! Session state that must look the same on every node a connection talks to: the
//! `SET ...` and `USE db` statements the user ran, kept in order for replay on node
//! connections opened later.
//!
//! Repeated settings of the same variable replace the earlier statement, so an app that
//! runs `SET @x = ?` in a loop keeps one entry, not thousands.

/// The recorded session statements, oldest first.
#[derive(Debug, Default, Clone)]
pub(crate) struct Session {
    statements: Vec<(String, String)>,
}

/// What a session statement sets, so a later statement setting the same thing replaces
/// it: `use`, `names`, or the lowercased, space-free text before the first `=` of a
/// single assignment. Statements with several assignments key on their whole text.
fn key(sql: &str) -> String {
    let trimmed = sql.trim().trim_end_matches(';').trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("use ") || lower.starts_with("use`") {
        return "use".into();
    }
    let body = lower.strip_prefix("set").unwrap_or(&lower).trim_start();
    if body.starts_with("names") || body.starts_with("character set") || body.starts_with("charset")
    {
        return "names".into();
    }
    if body.contains(',') {
        return lower.split_whitespace().collect();
    }
    match body.split_once([':', '=']) {
        Some((var, _)) => {
            let var: String = var.split_whitespace().collect();
            let var = var
                .trim_start_matches("session")
                .trim_start_matches("local")
                .trim_start_matches("@@session.")
                .trim_start_matches("@@local.")
                .trim_start_matches("@@")
                .to_string();
            format!("var:{var}")
        }
        None => lower.split_whitespace().collect(),
    }
}

/// Whether a `SET ... TRANSACTION` statement sets the session's default (`SET SESSION
/// TRANSACTION ...`) rather than only the next transaction's characteristics.
pub(crate) fn is_persistent_transaction_setting(sql: &str) -> bool {
    let mut words = sql.split_whitespace().map(str::to_ascii_lowercase);
    words.next().as_deref() == Some("set")
        && matches!(words.next().as_deref(), Some("session" | "local"))
}

impl Session {
    pub(crate) fn record(&mut self, sql: &str) {
        let k = key(sql);
        self.statements.retain(|(existing, _)| *existing != k);
        self.statements.push((k, sql.trim().to_string()));
    }

    pub(crate) fn statements(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|(_, s)| s.as_str())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_settings_for_the_session_or_the_next_transaction() {
        assert!(is_persistent_transaction_setting(
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
        ));
        assert!(is_persistent_transaction_setting(
            "set local transaction read only"
        ));
        assert!(!is_persistent_transaction_setting(
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"
        ));
    }

    #[test]
    fn later_settings_replace_earlier_ones() {
        let mut s = Session::default();
        s.record("SET time_zone = '+01:00'");
        s.record("USE a");
        s.record("SET @x = 1");
        s.record("set @@session.time_zone='+02:00'");
        s.record("SET SESSION time_zone = '+03:00'");
        s.record("use `b`");
        s.record("SET @x := 2");
        s.record("SET NAMES latin1");
        s.record("SET NAMES utf8mb4");
        s.record("SET @a = 1, @b = 2");
        let got: Vec<&str> = s.statements().collect();
        assert_eq!(
            got,
            vec![
                "SET SESSION time_zone = '+03:00'",
                "use `b`",
                "SET @x := 2",
                "SET NAMES utf8mb4",
                "SET @a = 1, @b = 2"
            ]
        );
    }
}
