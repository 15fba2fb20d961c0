//! The routing decision for one statement: a pure function of the role, the statement's
//! classification and the connection's pins ([`decide`]).
//!
//! # The safety rule, above every pin
//!
//! A *pin* is per-connection state that lives on one node: an open transaction (Diesel's,
//! or raw `BEGIN`, `SET autocommit = 0`, `LOCK TABLES`, `XA START`), the node where a
//! `SET TRANSACTION` shaped the next transaction, the node of this connection's last
//! insert (`LAST_INSERT_ID()`), of its last `SELECT` (`FOUND_ROWS()`), of its previous
//! statement (`ROW_COUNT()`, `SHOW WARNINGS`, `GET DIAGNOSTICS`), and the node holding a
//! temporary table the statement refers to. Pins only ever narrow where a *read* may go.
//!
//! A statement that may change data, take a lock, advance a sequence or have any other
//! side effect ([`Effect::MasterOnly`], which includes everything the classifier can't
//! vouch for) runs on the master in the `Master` and `Auto` roles, and is refused in the
//! `Replica` role (or sent to the master with [`WriteRouting::Master`]), whatever pin is
//! active. When a pin would send it to a replica, the statement is refused with an error
//! naming the pin: it is never silently run elsewhere. The one exception is a write whose
//! only targets are temporary tables living on one node: those tables are this
//! connection's scratch space, not replicated data, so it runs where they are.
//!
//! The rule is applied last, after the pins, so no pin can bypass it; the table test
//! below goes through every pin, role and statement class.

pub(crate) mod pins;
mod place;

pub(crate) use place::{place, Context, Placement, Target};

use crate::classify::{Classification, Flags, Kind};
use crate::config::WriteRouting;
use crate::role::Role;

/// What running a statement does, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Only reads: may run on a replica.
    Read,
    /// May change data, take a lock, advance a sequence, or do something the classifier
    /// can't vouch for: the master only.
    MasterOnly,
    /// Sets session state (`SET` of session or user variables, `USE`, `SET SESSION
    /// TRANSACTION`) with a right-hand side that only reads: evaluated once on the node
    /// it needs, then its value is applied to every node.
    Session,
    /// Transaction control (`BEGIN`, `COMMIT`, savepoints, `SET autocommit`, `UNLOCK
    /// TABLES`, `SET TRANSACTION` for the next transaction): follows the open transaction.
    Transaction,
    /// `CREATE`/`DROP TEMPORARY TABLE`: session-private, allowed on a read-only replica.
    TempTable,
}

/// Flags that make any statement a side effect, whatever its kind.
const SIDE_EFFECT_FLAGS: [Flags; 6] = [
    Flags::LOCKING,
    Flags::NAMED_LOCK,
    Flags::WRITE_FUNCTION,
    Flags::UNCERTAIN,
    Flags::SETS_INSERT_ID,
    Flags::CALLS_UNKNOWN_FUNCTION,
];

/// The effect of a classified statement (or batch). `persistent_transaction_setting`:
/// a `SET TRANSACTION` is `SET SESSION TRANSACTION` (session state) rather than a
/// setting of the next transaction only.
pub(crate) fn effect(class: Classification, persistent_transaction_setting: bool) -> Effect {
    if SIDE_EFFECT_FLAGS.iter().any(|&f| class.flags.contains(f)) {
        return Effect::MasterOnly;
    }
    match class.kind {
        Kind::Select | Kind::Show | Kind::Explain | Kind::GetDiagnostics | Kind::Empty => {
            Effect::Read
        }
        Kind::SetSession | Kind::Use => Effect::Session,
        Kind::SetTransaction if persistent_transaction_setting => Effect::Session,
        Kind::SetTransaction
        | Kind::Begin
        | Kind::Commit
        | Kind::Rollback
        | Kind::Savepoint
        | Kind::ReleaseSavepoint
        | Kind::RollbackToSavepoint
        | Kind::SetAutocommit
        | Kind::UnlockTables => Effect::Transaction,
        Kind::CreateTemporaryTable | Kind::DropTemporaryTable => Effect::TempTable,
        // Data changes, DDL, locking reads, `SELECT .. INTO`, locks, `CALL`, `DO`,
        // `HANDLER`, prepared statements, `XA`, `KILL`, global settings and anything
        // unknown.
        Kind::LockingRead
        | Kind::SelectInto
        | Kind::Insert
        | Kind::Replace
        | Kind::Update
        | Kind::Delete
        | Kind::LoadData
        | Kind::Ddl
        | Kind::LockTables
        | Kind::Call
        | Kind::Do
        | Kind::SetGlobal
        | Kind::Xa
        | Kind::Handler
        | Kind::Prepare
        | Kind::Execute
        | Kind::Deallocate
        | Kind::Kill
        | Kind::Other => Effect::MasterOnly,
    }
}

/// Which per-connection state a pin follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    /// An open transaction.
    Transaction,
    /// The node where `SET TRANSACTION` shaped the next transaction.
    NextTransaction,
    /// The node of this connection's last insert.
    InsertId,
    /// The node of this connection's last `SELECT`.
    FoundRows,
    /// The node of the previous statement.
    Previous,
    /// The node holding a temporary table the statement refers to.
    TempTable,
}

impl Pin {
    /// What the pin is, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Pin::Transaction => "the open transaction",
            Pin::NextTransaction => "the `SET TRANSACTION` for the next transaction",
            Pin::InsertId => "this connection's last insert (LAST_INSERT_ID())",
            Pin::FoundRows => "this connection's last SELECT (FOUND_ROWS())",
            Pin::Previous => "the previous statement (ROW_COUNT(), warnings, diagnostics)",
            Pin::TempTable => "a temporary table it refers to",
        }
    }
}

/// Where this connection's per-connection state lives (node indexes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pins {
    /// An open transaction: every statement runs there.
    pub(crate) transaction: Option<usize>,
    /// Where `SET TRANSACTION` ran: the next `BEGIN` runs there.
    pub(crate) next_transaction: Option<usize>,
    /// The node of the last insert.
    pub(crate) insert_id: Option<usize>,
    /// The node of the last `SELECT`.
    pub(crate) found_rows: Option<usize>,
    /// The node of the previous statement.
    pub(crate) previous: Option<usize>,
    /// The node of a temporary table the statement refers to.
    pub(crate) temp_table: Option<usize>,
    /// Every table the statement writes is a temporary table on `temp_table`'s node.
    pub(crate) writes_only_temp: bool,
}

/// Everything the decision depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input {
    pub(crate) role: Role,
    pub(crate) class: Classification,
    pub(crate) effect: Effect,
    pub(crate) writes: WriteRouting,
    /// The master's node index.
    pub(crate) master: usize,
    pub(crate) pins: Pins,
}

/// Where a statement runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The current master.
    Master,
    /// A replica picked by the balancer (the master when none is usable).
    Replica,
    /// This node, because of this pin.
    Pinned(usize, Pin),
}

/// Why a statement is refused before reaching any server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A side effect in replica role with [`WriteRouting::Refuse`].
    ReplicaRole,
    /// A side effect whose pin is on a replica.
    PinnedToReplica { pin: Pin, node: usize },
    /// The statement reads per-connection state held on two different nodes.
    Conflict {
        first: (Pin, usize),
        second: (Pin, usize),
    },
}

/// The pins a statement must follow, at most one node: `Err` when two name different
/// nodes.
fn narrowing_pin(input: &Input) -> Result<Option<(usize, Pin)>, Refusal> {
    let Input { class, pins, .. } = *input;
    let candidates = [
        (pins.transaction, Pin::Transaction),
        (
            pins.next_transaction
                .filter(|_| class.kind == Kind::Begin && pins.transaction.is_none()),
            Pin::NextTransaction,
        ),
        (
            pins.insert_id
                .filter(|_| class.flags.contains(Flags::READS_INSERT_ID)),
            Pin::InsertId,
        ),
        (
            pins.found_rows
                .filter(|_| class.flags.contains(Flags::READS_FOUND_ROWS)),
            Pin::FoundRows,
        ),
        (
            pins.previous
                .filter(|_| class.flags.contains(Flags::READS_PREVIOUS_STATE)),
            Pin::Previous,
        ),
        (pins.temp_table, Pin::TempTable),
    ];
    let mut chosen: Option<(usize, Pin)> = None;
    for (node, pin) in candidates {
        let Some(node) = node else { continue };
        match chosen {
            None => chosen = Some((node, pin)),
            Some((n, _)) if n == node => {}
            Some(first) => {
                return Err(Refusal::Conflict {
                    first: (first.1, first.0),
                    second: (pin, node),
                })
            }
        }
    }
    Ok(chosen)
}

/// The flags a plain read may carry and still take [`plain_read`].
const PLAIN_READ_FLAGS: Flags = Flags::PLACEHOLDER.union(Flags::CALC_FOUND_ROWS);

/// The placement of a plain `SELECT` (no flag but a placeholder or
/// `SQL_CALC_FOUND_ROWS`: no side effect, reads no per-connection state, sets none) on a
/// connection with no transaction pin and no temporary table: what [`place()`] of
/// [`decide`] gives it, without building their input. `None` for any other statement,
/// which takes the full decision. It is the common statement; the caller vouches for the
/// two absent pins, and the unit test `a_plain_read_is_placed_as_decide_and_place_place_it`
/// holds the result equal to the full decision's for every role, pin and cluster shape.
#[inline]
pub(crate) fn plain_read(role: Role, class: Classification, replicas: bool) -> Option<Placement> {
    if class.kind != Kind::Select || class.flags.union(PLAIN_READ_FLAGS) != PLAIN_READ_FLAGS {
        return None;
    }
    let to_master = role == Role::Master;
    Some(if !replicas {
        Placement {
            target: Target::Node(0),
            retryable: false,
            replica_read: false,
            wanted_replica: !to_master,
        }
    } else {
        Placement {
            target: if to_master {
                Target::Master
            } else {
                Target::Balanced
            },
            retryable: true,
            replica_read: !to_master,
            wanted_replica: !to_master,
        }
    })
}

/// Decides where a statement runs, or refuses it. Pins first (they narrow), then the
/// role, then the safety rule, which no pin bypasses.
pub(crate) fn decide(input: &Input) -> Result<Route, Refusal> {
    let pin = narrowing_pin(input)?;
    let replica_role_reads_replicas =
        input.role == Role::Replica && input.writes == WriteRouting::Refuse;
    match input.effect {
        Effect::MasterOnly => {
            // A write to this connection's own temporary tables may run where they are.
            let temp_only = input.pins.writes_only_temp
                && !input.class.flags.contains(Flags::MULTI)
                && !SIDE_EFFECT_FLAGS
                    .iter()
                    .any(|&f| input.class.flags.contains(f))
                && matches!(
                    input.class.kind,
                    Kind::Insert | Kind::Replace | Kind::Update | Kind::Delete
                )
                && matches!(pin, Some((_, Pin::TempTable)));
            if temp_only {
                return Ok(pin.map_or(Route::Master, |(n, p)| Route::Pinned(n, p)));
            }
            if input.role == Role::Replica && input.writes == WriteRouting::Refuse {
                return Err(Refusal::ReplicaRole);
            }
            match pin {
                Some((node, pin)) if node != input.master => {
                    Err(Refusal::PinnedToReplica { pin, node })
                }
                Some((node, pin)) => Ok(Route::Pinned(node, pin)),
                None => Ok(Route::Master),
            }
        }
        Effect::Read | Effect::Session => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            None if input.role == Role::Master => Route::Master,
            None => Route::Replica,
        }),
        Effect::Transaction => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            // A transaction begun in replica scope is a consistent read-only snapshot
            // on one replica; anywhere else it may write, so it begins on the master.
            None if replica_role_reads_replicas
                && matches!(input.class.kind, Kind::Begin | Kind::SetTransaction) =>
            {
                Route::Replica
            }
            None => Route::Master,
        }),
        Effect::TempTable => Ok(match pin {
            Some((node, pin)) => Route::Pinned(node, pin),
            None if replica_role_reads_replicas => Route::Replica,
            None => Route::Master,
        }),
    }
}

#[cfg(test)]
mod tests;
