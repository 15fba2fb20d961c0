//! Per-connection state that lives on one node, followed statement by statement: raw
//! transactions (`BEGIN`, `autocommit = 0`, `LOCK TABLES`, `XA`), the node of the last
//! insert and of the last `SELECT`, temporary tables, and where `SET TRANSACTION` ran.
//! The routing decision ([`crate::routing`]) reads it as [`Pins`]; nothing here does I/O.

use crate::classify::{self, Classification, Flags, Kind};
use crate::routing::Pins;

/// Transaction state opened by raw SQL rather than Diesel's transaction manager.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawPin {
    /// The node holding that state, while any of the flags below is set.
    pub(crate) node: Option<usize>,
    in_transaction: bool,
    pub(crate) autocommit_off: bool,
    tables_locked: bool,
    /// `XA START` ran and no `XA COMMIT`/`XA ROLLBACK` yet.
    xa: bool,
    /// A statement that changes data ran since the last commit.
    pub(crate) wrote: bool,
}

impl RawPin {
    /// Whether any raw transaction state is open: the connection must not go back to a
    /// pool like this.
    pub(crate) fn is_open(&self) -> bool {
        self.node.is_some()
    }
}

/// Where this connection's per-connection state lives.
#[derive(Debug, Default, Clone)]
pub(crate) struct PinState {
    pub(crate) raw: RawPin,
    /// Where the last `SET TRANSACTION` (next transaction only) ran.
    pub(crate) next_transaction: Option<usize>,
    /// The node of the last statement that set `LAST_INSERT_ID()`.
    pub(crate) insert_id: Option<usize>,
    /// The node of the last `SELECT` (what `FOUND_ROWS()` reports on).
    pub(crate) found_rows: Option<usize>,
    /// Temporary tables and the node holding each.
    pub(crate) temp_tables: Vec<(String, usize)>,
    /// A `GET_LOCK` ran since the last `RELEASE_ALL_LOCKS()`: a named lock may be held,
    /// which a pool must not hand to the next user (whether it was granted, or released
    /// one by one, the text can't tell).
    pub(crate) named_locks: bool,
}

/// A temporary table the statement refers to lives on two nodes: no node can run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TempConflict(pub(crate) usize, pub(crate) usize);

impl PinState {
    /// The pins for a statement, given the open Diesel transaction's node and the
    /// previous statement's node. `sql` is needed only when temporary tables exist.
    pub(crate) fn pins(
        &self,
        transaction: Option<usize>,
        previous: Option<usize>,
        sql: Option<&str>,
    ) -> Result<Pins, TempConflict> {
        let (temp_table, writes_only_temp) = match sql {
            Some(sql) if !self.temp_tables.is_empty() => self.temp_table_pin(sql)?,
            _ => (None, false),
        };
        Ok(Pins {
            transaction: transaction.or(self.raw.node),
            next_transaction: self.next_transaction,
            insert_id: self.insert_id,
            found_rows: self.found_rows,
            previous,
            temp_table,
            writes_only_temp,
        })
    }

    /// The node of the temporary tables `sql` refers to, and whether everything it
    /// writes is one of them.
    fn temp_table_pin(&self, sql: &str) -> Result<(Option<usize>, bool), TempConflict> {
        let node_of = |name: &str| {
            self.temp_tables
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(name))
                .map(|(_, n)| *n)
        };
        let mut pin: Option<usize> = None;
        for name in classify::table_refs(sql) {
            if let Some(n) = node_of(name) {
                match pin {
                    Some(p) if p != n => return Err(TempConflict(p, n)),
                    _ => pin = Some(n),
                }
            }
        }
        let writes_only_temp = pin.is_some()
            && classify::write_targets(sql).is_some_and(|targets| {
                !targets.is_empty() && targets.iter().all(|t| node_of(t) == pin)
            });
        Ok((pin, writes_only_temp))
    }

    /// Follows one statement (not a batch) that succeeded on `node`, outside a Diesel
    /// transaction when `in_diesel_transaction` is false. Returns whether it ended a
    /// raw transaction that changed data (a write to note for read-your-writes).
    pub(crate) fn track(
        &mut self,
        node: usize,
        class: Classification,
        sql: Option<&str>,
        in_diesel_transaction: bool,
    ) -> bool {
        if takes_quick_path(class) {
            self.found_rows = Some(node);
            return false;
        }
        self.track_all(node, class, sql, in_diesel_transaction)
    }

    /// [`track`](Self::track) by every rule.
    fn track_all(
        &mut self,
        node: usize,
        class: Classification,
        sql: Option<&str>,
        in_diesel_transaction: bool,
    ) -> bool {
        match class.kind {
            Kind::Select | Kind::LockingRead | Kind::SelectInto => self.found_rows = Some(node),
            Kind::Insert | Kind::Replace | Kind::LoadData => self.insert_id = Some(node),
            _ => {}
        }
        if class.flags.contains(Flags::SETS_INSERT_ID) {
            self.insert_id = Some(node);
        }
        if class.flags.contains(Flags::NAMED_LOCK) {
            let lower = sql.map(str::to_ascii_lowercase);
            match lower.as_deref() {
                Some(s) if s.contains("release_all_locks") => self.named_locks = false,
                Some(s) if !s.contains("get_lock") => {}
                _ => self.named_locks = true,
            }
        }
        match class.kind {
            Kind::SetTransaction => self.next_transaction = Some(node),
            Kind::Begin => self.next_transaction = None,
            Kind::CreateTemporaryTable => {
                if let Some(name) = sql.and_then(classify::target_name) {
                    self.temp_tables
                        .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    self.temp_tables.push((name.to_string(), node));
                }
            }
            Kind::DropTemporaryTable => {
                if let Some(sql) = sql {
                    let dropped = classify::table_refs(sql);
                    self.temp_tables
                        .retain(|(n, _)| !dropped.iter().any(|d| d.eq_ignore_ascii_case(n)));
                }
            }
            _ => {}
        }
        if in_diesel_transaction {
            return false;
        }
        let committed = self.track_raw(node, class, sql);
        if changes_data(class) && self.raw.node.is_some() {
            self.raw.wrote = true;
        }
        committed
    }

    /// Raw transaction state: the connection stays on the node while a raw transaction
    /// is open, `autocommit` is off, tables are locked, or an XA transaction is open.
    fn track_raw(&mut self, node: usize, class: Classification, sql: Option<&str>) -> bool {
        let raw = &mut self.raw;
        // Only `COMMIT`/`ROLLBACK` read it, and scanning the text costs.
        let chain = || sql.is_some_and(ends_with_chain);
        let mut committed = false;
        match class.kind {
            Kind::Begin => {
                // BEGIN commits an open transaction implicitly.
                committed = raw.in_transaction || raw.autocommit_off;
                raw.in_transaction = true;
            }
            Kind::Commit => {
                committed = true;
                raw.in_transaction = chain();
            }
            Kind::Rollback => {
                raw.wrote = false;
                raw.in_transaction = chain();
            }
            Kind::SetAutocommit if class.flags.contains(Flags::AUTOCOMMIT_ON) => {
                // Turning autocommit back on commits the open transaction.
                committed = raw.autocommit_off;
                raw.autocommit_off = false;
            }
            // `0`, or a value that isn't a literal: assume off (the safe side).
            Kind::SetAutocommit => raw.autocommit_off = true,
            Kind::LockTables => raw.tables_locked = true,
            Kind::UnlockTables => raw.tables_locked = false,
            Kind::Xa => match sql.and_then(xa_verb) {
                Some(XaVerb::Start) => raw.xa = true,
                Some(XaVerb::End) => {}
                Some(XaVerb::Finish) => {
                    committed = true;
                    raw.xa = false;
                }
                // `XA PREPARE`, `XA RECOVER`, or something unknown: still open.
                None => raw.xa = true,
            },
            _ => {}
        }
        let wrote = committed && std::mem::take(&mut raw.wrote);
        let open = raw.in_transaction || raw.autocommit_off || raw.tables_locked || raw.xa;
        raw.node = if open { raw.node.or(Some(node)) } else { None };
        if raw.node.is_none() {
            raw.wrote = false;
        }
        wrote
    }

    /// The session on `node` was lost (the server closed it): what lived there is gone.
    /// Returns whether `autocommit = 0` was set there (a setting to restore).
    pub(crate) fn node_lost(&mut self, node: usize) -> bool {
        let autocommit_off = self.raw.node == Some(node) && self.raw.autocommit_off;
        if self.raw.node == Some(node) {
            self.raw = RawPin::default();
        }
        self.temp_tables.retain(|(_, n)| *n != node);
        if self.next_transaction == Some(node) {
            self.next_transaction = None;
        }
        autocommit_off
    }

    /// Whether state that a new session on `node` would not have lives there: a raw
    /// transaction, locked tables, an XA transaction or temporary tables (`autocommit =
    /// 0` is a setting, restored on a new session).
    pub(crate) fn holds_session_state_on(&self, node: usize) -> bool {
        let raw = &self.raw;
        self.temp_tables.iter().any(|(_, n)| *n == node)
            || (raw.node == Some(node) && (raw.in_transaction || raw.tables_locked || raw.xa))
    }

    /// After a reconnect that restored `SET autocommit = 0` on `node`.
    pub(crate) fn autocommit_restored(&mut self, node: usize) {
        self.raw.autocommit_off = true;
        self.raw.node = Some(node);
    }
}

/// A `SELECT` that sets no insert id, takes no named lock and advances no sequence, the
/// common statement: of all the state [`PinState::track`] follows, only the
/// `FOUND_ROWS()` node follows it. The unit test
/// `the_quick_path_tracks_as_the_full_rules_do` holds that equal to the full rules after
/// any statement sequence.
#[inline]
fn takes_quick_path(class: Classification) -> bool {
    const FOLLOWED: Flags = Flags::SETS_INSERT_ID
        .union(Flags::NAMED_LOCK)
        .union(Flags::WRITE_FUNCTION);
    class.kind == Kind::Select && !class.flags.intersects(FOLLOWED)
}

/// Whether a statement changes data (for read-your-writes and transaction book-keeping).
pub(crate) fn changes_data(class: Classification) -> bool {
    class.kind.is_write() || class.flags.contains(Flags::WRITE_FUNCTION)
}

enum XaVerb {
    Start,
    End,
    Finish,
}

/// The verb of an `XA` statement.
fn xa_verb(sql: &str) -> Option<XaVerb> {
    let verb = sql
        .split_whitespace()
        .nth(1)?
        .trim_end_matches(';')
        .to_ascii_lowercase();
    match verb.as_str() {
        "start" | "begin" => Some(XaVerb::Start),
        "end" => Some(XaVerb::End),
        "commit" | "rollback" => Some(XaVerb::Finish),
        _ => None,
    }
}

/// `COMMIT AND CHAIN` / `ROLLBACK WORK AND CHAIN`: a new transaction begins at once.
fn ends_with_chain(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.windows(2).any(|w| w[0] == "and" && w[1] == "chain")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: &mut PinState, node: usize, sql: &str) -> bool {
        let mut wrote = false;
        for (stmt, class) in classify::statements(sql) {
            wrote |= state.track(node, class, Some(stmt), false);
        }
        wrote
    }

    #[test]
    fn raw_transactions_are_followed_statement_by_statement() {
        let mut s = PinState::default();
        assert!(!run(&mut s, 0, "BEGIN; INSERT INTO t VALUES (1)"));
        assert_eq!(s.raw.node, Some(0));
        assert!(run(&mut s, 0, "COMMIT AND CHAIN"));
        assert_eq!(s.raw.node, Some(0), "AND CHAIN opens the next transaction");
        assert!(!run(&mut s, 0, "ROLLBACK AND NO CHAIN"));
        assert_eq!(s.raw.node, None);
        run(&mut s, 0, "XA START 'x'");
        assert!(s.raw.is_open());
        run(&mut s, 0, "XA END 'x'");
        run(&mut s, 0, "XA PREPARE 'x'");
        assert!(s.raw.is_open());
        run(&mut s, 0, "XA COMMIT 'x'");
        assert!(!s.raw.is_open());
        run(&mut s, 0, "SET autocommit = 0");
        assert!(s.raw.is_open());
        run(&mut s, 0, "SET autocommit = 1");
        assert!(!s.raw.is_open());
        run(&mut s, 0, "SET autocommit = @v");
        assert!(s.raw.is_open(), "an unknown value counts as off");
        run(&mut s, 0, "SET autocommit = ON; LOCK TABLES t WRITE");
        assert!(s.raw.is_open());
        run(&mut s, 0, "UNLOCK TABLES");
        assert!(!s.raw.is_open());
        run(&mut s, 0, "SELECT GET_LOCK('a', 0)");
        assert!(s.named_locks);
        run(&mut s, 0, "SELECT RELEASE_LOCK('a')");
        assert!(s.named_locks, "other locks may still be held");
        run(&mut s, 0, "DO RELEASE_ALL_LOCKS()");
        assert!(!s.named_locks);
    }

    #[test]
    fn per_connection_state_follows_its_own_statement() {
        let mut s = PinState::default();
        run(&mut s, 0, "INSERT INTO t (x) VALUES (1)");
        run(&mut s, 1, "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1");
        run(&mut s, 2, "SHOW TABLES");
        assert_eq!(s.insert_id, Some(0));
        assert_eq!(s.found_rows, Some(1));
        run(&mut s, 2, "SET TRANSACTION READ ONLY");
        assert_eq!(s.next_transaction, Some(2));
        run(&mut s, 2, "BEGIN");
        assert_eq!(s.next_transaction, None);
    }

    /// Statements that change the state `track` follows, and selects with and without
    /// the flags it reads.
    const SEQUENCE_CORPUS: [&str; 31] = [
        "SELECT 1",
        "SELECT * FROM t WHERE id = ?",
        "SELECT SQL_CALC_FOUND_ROWS * FROM t",
        "SELECT FOUND_ROWS()",
        "SELECT LAST_INSERT_ID()",
        "SELECT LAST_INSERT_ID(5)",
        "SELECT NEXTVAL(s)",
        "SELECT RELEASE_ALL_LOCKS()",
        "SELECT GET_LOCK('a', 0)",
        "BEGIN",
        "START TRANSACTION READ ONLY",
        "COMMIT",
        "COMMIT AND CHAIN",
        "ROLLBACK",
        "ROLLBACK AND CHAIN",
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET x = 1",
        "SET autocommit = 0",
        "SET autocommit = 1",
        "SET autocommit = @v",
        "LOCK TABLES t WRITE",
        "UNLOCK TABLES",
        "XA START 'x'",
        "XA END 'x'",
        "XA PREPARE 'x'",
        "XA COMMIT 'x'",
        "CREATE TEMPORARY TABLE tmp (id INT)",
        "DROP TEMPORARY TABLE tmp",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT * FROM t FOR UPDATE",
        "SELECT 1 INTO @x",
    ];

    proptest::proptest! {
        /// `track`'s quick path leaves the state exactly as the full rules do, for any
        /// statement after any sequence of statements on any nodes, inside a Diesel
        /// transaction or not.
        #[test]
        fn the_quick_path_tracks_as_the_full_rules_do(
            steps in proptest::collection::vec(
                (0..SEQUENCE_CORPUS.len(), 0usize..3, proptest::bool::ANY),
                0..40,
            ),
            last in 0..SEQUENCE_CORPUS.len(),
            node in 0usize..3,
            in_tx in proptest::bool::ANY,
        ) {
            let mut state = PinState::default();
            for (i, n, tx) in steps {
                for (stmt, class) in classify::statements(SEQUENCE_CORPUS[i]) {
                    state.track(n, class, Some(stmt), tx);
                }
            }
            let sql = SEQUENCE_CORPUS[last];
            let class = classify::classify(sql);
            let (mut quick, mut full) = (state.clone(), state);
            // Routing passes the SQL only when it needs it: both ways.
            for sql in [None, Some(sql)] {
                let a = quick.track(node, class, sql, in_tx);
                let b = full.track_all(node, class, sql, in_tx);
                proptest::prop_assert_eq!(a, b);
                proptest::prop_assert_eq!(format!("{quick:?}"), format!("{full:?}"));
            }
        }
    }

    #[test]
    fn the_common_select_takes_the_quick_path() {
        // A Diesel point select carries a placeholder; it must not leave the quick path.
        let class = classify::classify("SELECT `t`.`id` FROM `t` WHERE `t`.`id` = ? LIMIT ?");
        assert!(takes_quick_path(class), "{class:?}");
        for sql in [
            "SELECT LAST_INSERT_ID(5)",
            "SELECT GET_LOCK('a', 0)",
            "SELECT NEXTVAL(s)",
            "SELECT * FROM t FOR UPDATE",
            "SELECT 1 INTO @x",
            "INSERT INTO t VALUES (1)",
        ] {
            assert!(!takes_quick_path(classify::classify(sql)), "{sql}");
        }
    }

    #[test]
    fn temporary_tables_pin_table_references_only() {
        let mut s = PinState::default();
        run(&mut s, 1, "CREATE TEMPORARY TABLE t (id INT)");
        let pin = |sql| {
            s.pins(None, None, Some(sql))
                .map(|p| (p.temp_table, p.writes_only_temp))
        };
        assert_eq!(pin("SELECT * FROM t"), Ok((Some(1), false)));
        assert_eq!(pin("INSERT INTO t VALUES (1)"), Ok((Some(1), true)));
        assert_eq!(pin("UPDATE real_t t SET x = 1"), Ok((None, false)));
        assert_eq!(
            pin("INSERT INTO real_t (x) SELECT 1 AS t"),
            Ok((None, false))
        );
        assert_eq!(
            pin("INSERT INTO real_t (x) SELECT id FROM t"),
            Ok((Some(1), false))
        );
        assert_eq!(pin("SELECT t FROM real_t"), Ok((None, false)));
        run(&mut s, 2, "CREATE TEMPORARY TABLE u (id INT)");
        assert_eq!(
            s.pins(None, None, Some("SELECT * FROM t JOIN u")),
            Err(TempConflict(1, 2))
        );
        run(&mut s, 1, "DROP TEMPORARY TABLE IF EXISTS t");
        assert_eq!(s.temp_tables.len(), 1);
    }
}
