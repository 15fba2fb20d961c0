//! The session store's statements, shared by the blocking and the async store: each
//! is one boxed `sql_query`, a type both Diesel's and diesel-async's `RunQueryDsl` run.

use diesel::mysql::Mysql;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use tower_sessions_core::session::Record;
use tower_sessions_core::session_store;

pub(super) type Statement = BoxedSqlQuery<'static, Mysql, SqlQuery>;

/// A row of [`load`].
#[derive(diesel::QueryableByName)]
pub(super) struct Stored {
    #[diesel(sql_type = Text)]
    pub(super) record: String,
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

pub(super) fn decode(json: &str) -> session_store::Result<Record> {
    serde_json::from_str(json).map_err(|e| session_store::Error::Decode(e.to_string()))
}

pub(super) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `verb` (`INSERT` or `REPLACE`) of the whole record.
fn write(verb: &str, record: &Record) -> session_store::Result<Statement> {
    Ok(diesel::sql_query(format!(
        "{verb} INTO sessions (id, record, expires_at) VALUES (?, ?, ?)"
    ))
    .into_boxed()
    .bind::<Text, _>(record.id.to_string())
    .bind::<Text, _>(encode(record)?)
    .bind::<BigInt, _>(record.expiry_date.unix_timestamp()))
}

/// A new session: fails with a unique violation when the id is taken.
pub(super) fn insert(record: &Record) -> session_store::Result<Statement> {
    write("INSERT", record)
}

pub(super) fn save(record: &Record) -> session_store::Result<Statement> {
    write("REPLACE", record)
}

/// The record of an unexpired session ([`Stored`] rows, at most one).
pub(super) fn load(id: &str) -> Statement {
    diesel::sql_query("SELECT record FROM sessions WHERE id = ? AND expires_at > ?")
        .into_boxed()
        .bind::<Text, _>(id.to_string())
        .bind::<BigInt, _>(now_unix())
}

pub(super) fn delete(id: &str) -> Statement {
    diesel::sql_query("DELETE FROM sessions WHERE id = ?")
        .into_boxed()
        .bind::<Text, _>(id.to_string())
}

pub(super) fn delete_expired() -> Statement {
    diesel::sql_query("DELETE FROM sessions WHERE expires_at <= ?")
        .into_boxed()
        .bind::<BigInt, _>(now_unix())
}

/// How many fresh ids `create` tries when the random one is taken (a 128-bit collision:
/// more than one means something else is wrong).
pub(super) const CREATE_ATTEMPTS: usize = 3;

/// Whether an insert failed because the id is taken (then `create` draws another).
pub(super) fn id_taken(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

pub(super) fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}
