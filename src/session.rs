//! Session state that must look the same on every node a connection talks to: the
//! `SET ...` and `USE db` statements the user ran, as statements that give every node
//! the same *values*, kept in order for replay on node connections opened later.
//!
//! A statement with a constant value is kept as written. One whose value is an
//! expression is evaluated once, and kept as a literal assignment of the value it had
//! (see [`literal`]): replaying `SET @n = @n + 1` on a new node would give it another
//! value there.
//!
//! Each entry is keyed by what it sets; a later statement setting the same keys replaces
//! what the earlier one set, so an app that runs `SET @x = ?` in a loop keeps one entry,
//! not thousands, and replay gives each variable its last value.

use diesel::mysql::{MysqlType, MysqlValue};

/// One recorded statement and the keys it still sets (none is set by a later entry).
#[derive(Debug, Clone)]
struct Entry {
    keys: Vec<String>,
    sql: String,
}

/// The recorded session statements, oldest first.
#[derive(Debug, Default, Clone)]
pub(crate) struct Session {
    entries: Vec<Entry>,
}

/// Whether a `SET ... TRANSACTION` statement sets the session's default (`SET SESSION
/// TRANSACTION ...`) rather than only the next transaction's characteristics.
pub(crate) fn is_persistent_transaction_setting(sql: &str) -> bool {
    let mut words = sql.split_whitespace().map(str::to_ascii_lowercase);
    words.next().as_deref() == Some("set")
        && matches!(words.next().as_deref(), Some("session" | "local"))
}

impl Session {
    /// Records `sql`, which sets `keys`. Earlier entries keep only the keys it doesn't
    /// set, and go when none is left.
    pub(crate) fn record(&mut self, keys: Vec<String>, sql: String) {
        for entry in &mut self.entries {
            entry.keys.retain(|k| !keys.contains(k));
        }
        self.entries.retain(|e| !e.keys.is_empty());
        self.entries.push(Entry { keys, sql });
    }

    /// The statements to replay, oldest first.
    pub(crate) fn statements(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.sql.as_str())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether some entry sets `key`.
    pub(crate) fn sets(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.keys.iter().any(|k| k == key))
    }
}

/// A statement giving `key` the value a fresh node connection starts with, for keys no
/// recorded statement sets: what undoing a statement on a node needs. `None` when that
/// value can't be known (a system variable whose global value may have changed is still
/// its default: `DEFAULT` is the global value, which is what a fresh session has).
pub(crate) fn initial_value(key: &str, database: Option<&str>) -> Option<String> {
    if key == "use" {
        return database.map(|db| format!("USE `{}`", db.replace('`', "``")));
    }
    if let Some(user) = key.strip_prefix('@').filter(|k| !k.starts_with('@')) {
        return Some(format!("SET @`{}` = NULL", user.replace('`', "``")));
    }
    let name = key.strip_prefix("@@")?;
    // What Diesel's `MysqlConnection::establish` sets on every new connection.
    Some(match name {
        "time_zone" => "SET time_zone = '+00:00'".to_string(),
        "names" => "SET NAMES utf8mb4".to_string(),
        "character_set_client" | "character_set_connection" | "character_set_results" => {
            format!("SET {name} = 'utf8mb4'")
        }
        "transaction" => {
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE".to_string()
        }
        _ if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            format!("SET @@session.{name} = DEFAULT")
        }
        _ => return None,
    })
}

/// The SQL literal for a value read back from a server (`None` = SQL `NULL`), which
/// means the same in any `sql_mode` and character set: numbers as numbers, strings as
/// hex (`_utf8mb4 X'..'` for text, `X'..'` for binary). Temporal values can't be held by
/// user variables and are refused.
pub(crate) fn literal(value: Option<MysqlValue<'_>>) -> Result<String, String> {
    let Some(value) = value else {
        return Ok("NULL".into());
    };
    let bytes = value.as_bytes();
    let int = |signed: bool| -> Result<String, String> {
        let mut buf = [0u8; 8];
        let n = bytes.len().min(8);
        buf[..n].copy_from_slice(&bytes[..n]);
        let negative = signed && n > 0 && bytes[n - 1] & 0x80 != 0;
        if negative {
            buf[n..].fill(0xff);
        }
        if bytes.is_empty() || bytes.len() > 8 {
            return Err(format!("an integer of {} bytes", bytes.len()));
        }
        Ok(if signed {
            i64::from_le_bytes(buf).to_string()
        } else {
            u64::from_le_bytes(buf).to_string()
        })
    };
    match value.value_type() {
        MysqlType::Tiny | MysqlType::Short | MysqlType::Long | MysqlType::LongLong => int(true),
        MysqlType::UnsignedTiny
        | MysqlType::UnsignedShort
        | MysqlType::UnsignedLong
        | MysqlType::UnsignedLongLong => int(false),
        MysqlType::Double => <[u8; 8]>::try_from(bytes)
            .map(|b| format!("{:e}", f64::from_le_bytes(b)))
            .map_err(|_| "a malformed double".to_string()),
        MysqlType::Float => <[u8; 4]>::try_from(bytes)
            .map(|b| format!("{:e}", f64::from(f32::from_le_bytes(b))))
            .map_err(|_| "a malformed float".to_string()),
        MysqlType::Numeric => {
            let text = std::str::from_utf8(bytes).map_err(|_| "a malformed decimal")?;
            if !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            {
                Ok(text.to_string())
            } else {
                Err(format!("a malformed decimal `{text}`"))
            }
        }
        MysqlType::String | MysqlType::Enum | MysqlType::Set => {
            Ok(format!("_utf8mb4 X'{}'", hex(bytes)))
        }
        MysqlType::Blob | MysqlType::Bit => Ok(format!("X'{}'", hex(bytes))),
        other => Err(format!("a value of type {other:?}")),
    }
}

/// The database name in a [`literal`] of `DATABASE()` (`None` for `NULL`).
pub(crate) fn database_from_literal(literal: &str) -> Option<String> {
    let hex = literal.strip_prefix("_utf8mb4 X'")?.strip_suffix('\'')?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
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

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn later_settings_replace_earlier_ones() {
        let mut s = Session::default();
        s.record(keys(&["@@time_zone"]), "SET time_zone = '+01:00'".into());
        s.record(keys(&["use"]), "USE a".into());
        s.record(keys(&["@a", "@b"]), "SET @a = 1, @b = 2".into());
        s.record(keys(&["@@time_zone"]), "SET time_zone = '+03:00'".into());
        s.record(keys(&["@a"]), "SET @a = 5".into());
        s.record(keys(&["use"]), "USE b".into());
        let got: Vec<&str> = s.statements().collect();
        assert_eq!(
            got,
            vec![
                "SET @a = 1, @b = 2",
                "SET time_zone = '+03:00'",
                "SET @a = 5",
                "USE b"
            ]
        );
        // The pair goes once both of its keys are set again.
        s.record(keys(&["@b"]), "SET @b = 7".into());
        assert_eq!(s.statements().next(), Some("SET time_zone = '+03:00'"));
        assert!(s.sets("@b") && !s.sets("@c"));
    }

    #[test]
    fn literals_mean_the_same_everywhere() {
        let v = |bytes: &'static [u8], t| Some(MysqlValue::new(bytes, t));
        assert_eq!(literal(None).unwrap(), "NULL");
        assert_eq!(
            literal(v(&[5, 0, 0, 0, 0, 0, 0, 0], MysqlType::LongLong)).unwrap(),
            "5"
        );
        assert_eq!(literal(v(&[0xff; 8], MysqlType::LongLong)).unwrap(), "-1");
        assert_eq!(
            literal(v(&[0xfe, 0xff, 0xff, 0xff], MysqlType::Long)).unwrap(),
            "-2"
        );
        assert_eq!(
            literal(v(&[0xff; 8], MysqlType::UnsignedLongLong)).unwrap(),
            u64::MAX.to_string()
        );
        let half = 0.5f64.to_le_bytes();
        let half: &'static [u8] = Box::leak(Box::new(half));
        assert_eq!(literal(v(half, MysqlType::Double)).unwrap(), "5e-1");
        assert_eq!(literal(v(b"-12.50", MysqlType::Numeric)).unwrap(), "-12.50");
        assert!(literal(v(b"1; DROP", MysqlType::Numeric)).is_err());
        assert_eq!(
            literal(v(b"a'\\", MysqlType::String)).unwrap(),
            "_utf8mb4 X'61275C'"
        );
        assert_eq!(literal(v(&[0, 1], MysqlType::Blob)).unwrap(), "X'0001'");
        assert!(literal(v(&[0; 8], MysqlType::Date)).is_err());
        let db = literal(v(b"app`x", MysqlType::String)).unwrap();
        assert_eq!(database_from_literal(&db).as_deref(), Some("app`x"));
        assert_eq!(database_from_literal("NULL"), None);
    }

    #[test]
    fn initial_values_for_undo() {
        assert_eq!(
            initial_value("use", Some("app")).as_deref(),
            Some("USE `app`")
        );
        assert_eq!(initial_value("use", None), None);
        assert_eq!(
            initial_value("@x", None).as_deref(),
            Some("SET @`x` = NULL")
        );
        assert_eq!(
            initial_value("@@time_zone", None).as_deref(),
            Some("SET time_zone = '+00:00'")
        );
        assert_eq!(
            initial_value("@@sql_mode", None).as_deref(),
            Some("SET @@session.sql_mode = DEFAULT")
        );
    }
}
