//! Keeping the session the same on every node: after a statement that set session state
//! ran on one node, the *values* it set are applied to every other node connection held,
//! in order, and recorded for the node connections opened later.
//!
//! A statement whose values are constants (`SET time_zone = '+01:00'`, `USE db`, `SET
//! NAMES ..`) is applied as written. Any other value (an expression, a subquery, a
//! variable, a function, a bound `?`) was evaluated once, by the statement itself, on
//! the node the routing decision chose for it; it is read back from there (one round
//! trip) and applied everywhere as a literal, so no node evaluates it again: a lock is
//! taken once, a sequence advances once, `SET @n = @n + 1` counts once, and
//! `SET @id = LAST_INSERT_ID()` gives every node the id of this connection's last
//! insert. User variables assigned outside `SET` (`SELECT @a := ..`, `SELECT .. INTO
//! @a`) are read back the same way.
//!
//! All or nothing: when a node refuses the values (say `USE db` where that node has no
//! such database), every node that took them is put back as it was, and the statement
//! fails naming the node. If putting a node back fails too, the connection is marked
//! inconsistent: it refuses further statements and reports broken, so a pool drops it.

use super::{Engine, Link};
use crate::classify::set::{self, Target};
use crate::classify::{self, Classification, Flags, Kind};
use crate::error::Error;
use crate::routing::Effect;
use crate::session::{self, Session};
use crate::transport;

/// Whether a statement may set session state that other nodes must get (a batch is
/// looked at statement by statement after it ran).
pub(crate) fn sets_session_state(class: Classification, effect: Effect) -> bool {
    effect == Effect::Session
        || matches!(class.kind, Kind::SetSession | Kind::Use)
        || class.kind == Kind::GetDiagnostics
        || class.flags.contains(Flags::USER_VARIABLE_WRITE)
        || class.flags.contains(Flags::MULTI)
}

/// One thing a statement set, in order.
enum Item {
    /// Apply this text as it is.
    Text { keys: Vec<String>, sql: String },
    /// Read `expr` back from the node that ran the statement, then apply `SET assign =
    /// <value>`.
    Value {
        keys: Vec<String>,
        expr: String,
        assign: String,
    },
}

/// What a statement or batch set, in order.
fn items(sql: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for (stmt, class) in classify::statements(sql) {
        let persistent = crate::session::is_persistent_transaction_setting(stmt);
        let session = matches!(class.kind, Kind::SetSession | Kind::Use)
            || (class.kind == Kind::SetTransaction && persistent);
        if session {
            let exact = !class.flags.contains(Flags::PLACEHOLDER)
                && !class.flags.contains(Flags::UNCERTAIN);
            match set::assignments(stmt) {
                Some(assignments) if exact && assignments.iter().all(|a| a.constant) => {
                    out.push(Item::Text {
                        keys: assignments.iter().flat_map(|a| a.target.keys()).collect(),
                        sql: stmt.to_string(),
                    })
                }
                Some(assignments) => {
                    for a in assignments {
                        value_items(a.target, &mut out);
                    }
                }
                None => out.push(Item::Text {
                    keys: vec![format!("statement:{}", stmt.to_ascii_lowercase())],
                    sql: stmt.to_string(),
                }),
            }
        } else if class.flags.contains(Flags::USER_VARIABLE_WRITE)
            || class.kind == Kind::GetDiagnostics
        {
            for var in set::assigned_user_variables(stmt) {
                value_items(Target::User(var), &mut out);
            }
        }
    }
    out
}

/// The read-back items for one target (character sets as their variables).
fn value_items(target: Target<'_>, out: &mut Vec<Item>) {
    let targets: Vec<Target<'_>> = match target {
        Target::Names => vec![
            Target::System("character_set_client"),
            Target::System("character_set_results"),
            Target::System("collation_connection"),
        ],
        t => vec![t],
    };
    for t in targets {
        let Some(expr) = t.read_back() else { continue };
        let assign = match t {
            Target::User(name) => name.to_string(),
            _ => expr.clone(),
        };
        out.push(Item::Value {
            keys: t.keys(),
            expr,
            assign,
        });
    }
}

impl<L: Link> Engine<L> {
    /// After a statement that set session state succeeded on `node`: gives every other
    /// node connection held the same values, and records them for later ones.
    pub(crate) async fn propagate_session(
        &mut self,
        node: usize,
        class: Classification,
        sql: &str,
        text: bool,
    ) -> Result<(), Error> {
        let items = items(sql);
        if items.is_empty() {
            return Ok(());
        }
        let computed = items.iter().any(|i| matches!(i, Item::Value { .. }));
        let mut values = self.computed_values(node, sql, &items).await?.into_iter();
        let statements: Vec<(Vec<String>, String)> = items
            .into_iter()
            .map(|i| match i {
                Item::Text { keys, sql } => (keys, sql),
                Item::Value { keys, assign, .. } => {
                    let value = values.next().unwrap_or_else(|| "NULL".into());
                    (keys, format!("SET {assign} = {value}"))
                }
            })
            .collect();
        self.apply_to_others(node, &statements).await?;
        // A `SET` with computed values ends, on its own node too, with a plain `SET` of
        // those values, so that node's `ROW_COUNT()` is a `SET`'s, as on one connection
        // (the read back was a `SELECT`). `GET DIAGNOSTICS` leaves `ROW_COUNT()` as it
        // was, which no statement can restore: after one into user variables, its node
        // reports the read back's -1 (a documented limit).
        if !class.flags.contains(Flags::MULTI) && class.kind == Kind::SetSession && computed {
            for (_, stmt) in &statements {
                let result = match text {
                    true => self.internal_batch(node, stmt).await,
                    false => self.internal_prepared(node, stmt).await,
                };
                if let Err(e) = result {
                    log::warn!("re-applying `{stmt}` failed: {e}");
                }
            }
        }
        for (keys, stmt) in statements {
            self.session.record(keys, stmt);
        }
        // The session changed: a node where the old one could not be replayed may take
        // the new one.
        self.unfit.clear();
        Ok(())
    }

    /// The values `sql` computed, read back once from `node`, which ran it. The read back
    /// is a `SELECT`: on the node `FOUND_ROWS()` reads from, it reads that value too and
    /// puts it back afterwards. Failing, the connection's session is inconsistent.
    async fn computed_values(
        &mut self,
        node: usize,
        sql: &str,
        items: &[Item],
    ) -> Result<Vec<String>, Error> {
        let mut exprs: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                Item::Value { expr, .. } => Some(expr.as_str()),
                Item::Text { .. } => None,
            })
            .collect();
        if exprs.is_empty() {
            return Ok(Vec::new());
        }
        let keep_found_rows = self.pins.found_rows == Some(node);
        if keep_found_rows {
            exprs.push("FOUND_ROWS()");
        }
        match self.read_back(node, &exprs).await {
            Ok(mut v) => {
                if keep_found_rows {
                    if let Some(found) = v.pop() {
                        self.restore_found_rows(node, &found).await;
                    }
                }
                Ok(v)
            }
            Err(reason) => {
                let label = self.cluster.topology().nodes[node].label.clone();
                let reason = format!("could not read back the values it set: {reason}");
                self.inconsistent = Some(format!("on {label}, `{sql}` {reason}"));
                Err(Error::SessionState {
                    node: label,
                    statement: sql.to_string(),
                    reason,
                })
            }
        }
    }

    /// Runs the session statements on every node connection held but `node`. A node
    /// connection that is gone is dropped (a new one gets the recorded state); a node
    /// that refuses one has every node's session put back as it was.
    async fn apply_to_others(
        &mut self,
        node: usize,
        statements: &[(Vec<String>, String)],
    ) -> Result<(), Error> {
        let snapshot = self.session.clone();
        let mut applied = vec![node];
        for i in 0..self.nodes.len() {
            if i == node || self.nodes[i].is_none() {
                continue;
            }
            applied.push(i);
            for (_, stmt) in statements {
                match self.internal_batch(i, stmt).await {
                    Ok(()) => {}
                    Err(e) if transport::is_connection_error(&e) => {
                        applied.pop();
                        self.nodes[i] = None;
                        break;
                    }
                    Err(e) => {
                        let label = self.cluster.topology().nodes[i].label.clone();
                        log::warn!("session statement `{stmt}` failed on {label}: {e}");
                        self.undo_session(&applied, statements, &snapshot).await;
                        return Err(Error::SessionState {
                            node: label,
                            statement: stmt.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// After a batch that sets session state failed half-way on `node`: the statements
    /// before the failing one took effect there, as on one connection. Every variable
    /// and the database the batch may have set are read back from `node` and given to
    /// every other node held (and recorded), so all nodes agree; if that fails, the
    /// connection is marked inconsistent.
    pub(crate) async fn resync_session(&mut self, node: usize, sql: &str) {
        let mut targets: Vec<(Vec<String>, String, String)> = Vec::new();
        for (stmt, class) in classify::statements(sql) {
            let found: Vec<Target<'_>> = match class.kind {
                Kind::SetSession | Kind::Use | Kind::SetTransaction => set::assignments(stmt)
                    .map(|a| a.iter().map(|a| a.target).collect())
                    .unwrap_or_default(),
                _ => set::assigned_user_variables(stmt)
                    .into_iter()
                    .map(Target::User)
                    .collect(),
            };
            for target in found {
                let mut items = Vec::new();
                value_items(target, &mut items);
                for item in items {
                    if let Item::Value { keys, expr, assign } = item {
                        targets.push((keys, expr, format!("SET {assign} = ")));
                    }
                }
                if target == Target::Database {
                    targets.push((target.keys(), "DATABASE()".into(), "USE ".into()));
                }
            }
        }
        if targets.is_empty() || self.nodes[node].is_none() {
            return;
        }
        let exprs: Vec<&str> = targets.iter().map(|(_, e, _)| e.as_str()).collect();
        let values = match self.read_back(node, &exprs).await {
            Ok(v) => v,
            Err(e) => {
                self.inconsistent = Some(format!(
                    "a batch that set session state failed half-way, and reading back what \
                     it set failed: {e}"
                ));
                return;
            }
        };
        let mut statements = Vec::new();
        for ((keys, _, prefix), value) in targets.into_iter().zip(values) {
            let stmt = if prefix == "USE " {
                match session::database_from_literal(&value) {
                    Some(db) => format!("USE `{}`", db.replace('`', "``")),
                    None => continue,
                }
            } else {
                format!("{prefix}{value}")
            };
            statements.push((keys, stmt));
        }
        for i in 0..self.nodes.len() {
            if i == node || self.nodes[i].is_none() {
                continue;
            }
            for (_, stmt) in &statements {
                if let Err(e) = self.internal_batch(i, stmt).await {
                    if transport::is_connection_error(&e) {
                        self.nodes[i] = None;
                        break;
                    }
                    let label = &self.cluster.topology().nodes[i].label;
                    self.inconsistent = Some(format!(
                        "a batch that set session state failed half-way, and {label} \
                         refused what it had set: {e}"
                    ));
                    return;
                }
            }
        }
        for (keys, stmt) in statements {
            self.session.record(keys, stmt);
        }
    }

    /// Puts `nodes` back to the session state recorded before a statement that set
    /// `statements`' keys failed half-way: keys the record never set get their initial
    /// value, then the record is replayed.
    async fn undo_session(
        &mut self,
        nodes: &[usize],
        statements: &[(Vec<String>, String)],
        snapshot: &Session,
    ) {
        let database = self.cluster.topology().nodes[0].address.database.clone();
        let database = (!database.is_empty()).then_some(database);
        let mut undo = Vec::new();
        for key in statements.iter().flat_map(|(keys, _)| keys) {
            if snapshot.sets(key) || key.starts_with("statement:") {
                continue;
            }
            match session::initial_value(key, database.as_deref()) {
                Some(stmt) => undo.push(stmt),
                None => {
                    self.inconsistent = Some(format!(
                        "a session statement failed on some nodes and `{key}` can't be \
                         restored on the others"
                    ));
                }
            }
        }
        undo.extend(snapshot.statements().map(str::to_string));
        for &i in nodes {
            for stmt in &undo {
                if let Err(e) = self.internal_batch(i, stmt).await {
                    let label = &self.cluster.topology().nodes[i].label;
                    log::warn!("could not restore the session on {label} with `{stmt}`: {e}");
                    self.inconsistent = Some(format!(
                        "a session statement failed on some nodes, and restoring {label} \
                         failed: {e}"
                    ));
                }
            }
        }
    }

    /// Makes `FOUND_ROWS()` on node `i` report `found` (a literal read back) again, with
    /// a `SELECT SQL_CALC_FOUND_ROWS .. LIMIT 0` over MariaDB's sequence engine that
    /// returns no row. Best effort: logged when it fails.
    async fn restore_found_rows(&mut self, i: usize, found: &str) {
        let sql = match found.parse::<u64>() {
            Ok(0) => "SELECT SQL_CALC_FOUND_ROWS 1 FROM DUAL WHERE 0 LIMIT 0".to_string(),
            Ok(n) => format!("SELECT SQL_CALC_FOUND_ROWS 1 FROM seq_1_to_{n} LIMIT 0"),
            Err(_) => return,
        };
        if let Err(e) = self.internal_batch(i, &sql).await {
            log::debug!("could not restore FOUND_ROWS() after a read back: {e}");
        }
    }

    /// Runs `sql` on node `i` as a prepared statement, muted for the user's
    /// instrumentation.
    async fn internal_prepared(&mut self, i: usize, sql: &str) -> diesel::QueryResult<()> {
        self.internal_statements += 1;
        let _muted = self.hub.mute();
        let conn = self.nodes[i]
            .as_mut()
            .ok_or(diesel::result::Error::BrokenTransactionManager)?;
        conn.execute(sql).await
    }

    /// Reads the values of `exprs` on node `i` as SQL literals (one round trip).
    async fn read_back(&mut self, i: usize, exprs: &[&str]) -> Result<Vec<String>, String> {
        self.internal_statements += 1;
        let _muted = self.hub.mute();
        let conn = self.nodes[i]
            .as_mut()
            .ok_or_else(|| "the node connection is gone".to_string())?;
        conn.read_row(format!("SELECT {}", exprs.join(", ")), exprs.len())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_read_sets_no_session_state() {
        // The engine plans a `routing::plain_read` with `session: false`.
        for sql in [
            "SELECT `t`.`id` FROM `t` WHERE `t`.`id` = ? LIMIT ?",
            "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 5",
            "SELECT @a := 1",
            "SELECT 1; SET @b = 2",
            "SELECT 1 INTO @x",
        ] {
            let class = classify::classify(sql);
            if crate::routing::plain_read(crate::role::Role::Auto, class, true).is_some() {
                assert!(!sets_session_state(class, Effect::Read), "{sql}");
            } else {
                assert!(sql.contains('@'), "{sql} should be a plain read");
            }
        }
    }

    fn shapes(sql: &str) -> Vec<String> {
        items(sql)
            .into_iter()
            .map(|i| match i {
                Item::Text { sql, .. } => format!("text {sql}"),
                Item::Value { expr, assign, .. } => format!("value {expr} -> {assign}"),
            })
            .collect()
    }

    #[test]
    fn constants_are_applied_as_written_and_expressions_by_value() {
        assert_eq!(
            shapes("SET time_zone = '+01:00'"),
            vec!["text SET time_zone = '+01:00'"]
        );
        assert_eq!(shapes("USE `db`"), vec!["text USE `db`"]);
        assert_eq!(shapes("SET @n = @n + 1"), vec!["value @n -> @n"]);
        assert_eq!(shapes("SET @x = ?"), vec!["value @x -> @x"]);
        assert_eq!(
            shapes("SET time_zone = ?"),
            vec!["value @@session.time_zone -> @@session.time_zone"]
        );
        assert_eq!(
            shapes("SET @a = 1; SELECT @b := 2; USE x"),
            vec!["text SET @a = 1", "value @b -> @b", "text USE x"]
        );
        assert_eq!(
            shapes("SELECT id INTO @i FROM t LIMIT 1"),
            vec!["value @i -> @i"]
        );
        assert!(shapes("SELECT 1").is_empty());
        assert_eq!(
            shapes("GET DIAGNOSTICS @wn = NUMBER"),
            vec!["value @wn -> @wn"]
        );
        assert_eq!(
            shapes("SET @x = 1, time_zone = 'SYSTEM'"),
            vec!["text SET @x = 1, time_zone = 'SYSTEM'"]
        );
    }
}
