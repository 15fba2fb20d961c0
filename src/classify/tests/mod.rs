//! The classifier's unit tests, by topic; the flag abbreviations they share.

use super::*;

/// Flags OR-ed in a constant (`BitOr` is no `const fn`): `flags!(UVW | RII)`.
macro_rules! flags {
    ($($flag:ident)|+) => {
        Flags(0 $(| $flag.0)+)
    };
}

mod calls;
mod panics;
mod readings;
mod statements;
mod table;

use super::keywords::{keyword, ALL_KEYWORDS, MAX_KW};
use super::readings::MAX_VERSION_READINGS;

const NONE: Flags = Flags::NONE;
const RPS: Flags = Flags::READS_PREVIOUS_STATE;
const CFR: Flags = Flags::CALC_FOUND_ROWS;
const NL: Flags = Flags::NAMED_LOCK;
const UVW: Flags = Flags::USER_VARIABLE_WRITE;
const MULTI: Flags = Flags::MULTI;
const WF: Flags = Flags::WRITE_FUNCTION;
const RO: Flags = Flags::READ_ONLY_TXN;
const AC_OFF: Flags = Flags::AUTOCOMMIT_OFF;
const AC_ON: Flags = Flags::AUTOCOMMIT_ON;
const RII: Flags = Flags::READS_INSERT_ID;
const SII: Flags = Flags::SETS_INSERT_ID;
const RFR: Flags = Flags::READS_FOUND_ROWS;
const PH: Flags = Flags::PLACEHOLDER;
const UNC: Flags = Flags::UNCERTAIN;
const CUF: Flags = Flags::CALLS_UNKNOWN_FUNCTION;

/// A statement and the kind and flags it must classify with.
type Case = (&'static str, Kind, Flags);

/// Classifies every case of every topic, and reports all failures at once (with their
/// topic).
fn assert_classified(topics: &[(&str, &[Case])]) {
    let mut failures = Vec::new();
    for (topic, cases) in topics {
        for &(sql, kind, flags) in *cases {
            let got = classify(sql);
            let want = Classification { kind, flags };
            if got != want {
                failures.push(format!("{topic}: {sql:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn write_kinds_and_names() {
    use Kind::*;
    let all = [
        Select,
        LockingRead,
        SelectInto,
        Insert,
        Replace,
        Update,
        Delete,
        LoadData,
        Ddl,
        CreateTemporaryTable,
        DropTemporaryTable,
        LockTables,
        UnlockTables,
        Call,
        Do,
        SetSession,
        SetTransaction,
        SetGlobal,
        SetAutocommit,
        Use,
        Show,
        Explain,
        Begin,
        Commit,
        Rollback,
        Savepoint,
        ReleaseSavepoint,
        RollbackToSavepoint,
        Xa,
        GetDiagnostics,
        Handler,
        Prepare,
        Execute,
        Deallocate,
        Kill,
        Other,
        Empty,
    ];
    let writes = [
        Insert, Replace, Update, Delete, LoadData, Ddl, LockTables, SelectInto, Call, Execute, Xa,
        SetGlobal, Kill, Other,
    ];
    let mut names = std::collections::HashSet::new();
    for k in all {
        assert_eq!(k.is_write(), writes.contains(&k), "{k:?}");
        assert!(!k.name().is_empty());
        assert!(names.insert(k.name()), "duplicate name {}", k.name());
    }
    assert_eq!(Insert.name(), "INSERT");
    assert_eq!(Ddl.name(), "CREATE/ALTER/DROP (DDL)");
    assert_eq!(LockTables.name(), "LOCK TABLES");
}

#[test]
fn keyword_lookup() {
    for &(kw, text) in ALL_KEYWORDS {
        assert!(text.iter().all(|&b| b.is_ascii_uppercase() || b == b'_'));
        assert!(text.len() <= MAX_KW);
        assert_eq!(keyword(text), kw);
        assert_eq!(keyword(&text.to_ascii_lowercase()), kw);
        assert_ne!(keyword(&text[..text.len() - 1]), kw);
        let mut longer = text.to_vec();
        longer.push(b'S');
        assert_ne!(keyword(&longer), kw);
    }
    assert_eq!(keyword(b"SeLeCt"), Kw::Select);
    assert_eq!(keyword(b"release_all_locks"), Kw::ReleaseAllLocks);
    assert_eq!(keyword(b"SQL_CALC_FOUND_ROWX"), Kw::None);
    assert_eq!(keyword(b"RELEASE_ALL_LOCK"), Kw::None);
    assert_eq!(keyword(b"S3LECT"), Kw::None);
    assert_eq!(keyword(b"SELECT\x7f"), Kw::None);
    assert_eq!(keyword(b""), Kw::None);
}

#[test]
fn flags_ops() {
    let f = RPS | NL;
    assert!(f.contains(RPS) && f.contains(NL) && f.contains(RPS | NL));
    assert!(!f.contains(MULTI) && !f.contains(RPS | MULTI));
    assert!(f.contains(NONE) && f != NONE);
    let mut g = NONE;
    g |= CFR;
    assert_eq!(g, CFR);
    assert_eq!(
        format!("{:?}", RPS | MULTI),
        "Flags(READS_PREVIOUS_STATE | MULTI)"
    );
    assert_eq!(format!("{NONE:?}"), "Flags()");
    let all = RPS | CFR | NL | UVW | MULTI | WF | RO | AC_OFF | AC_ON | RII | SII | RFR | PH | UNC;
    assert_eq!(all.0.count_ones(), 14);
    assert_eq!(
        format!("{all:?}").matches(" | ").count(),
        13,
        "every flag has a name"
    );
}
