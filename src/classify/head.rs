//! The head of a statement: its first keyword or two (after prefixes such as `(`,
//! `SET STATEMENT .. FOR` or `ANALYZE`), which give its kind; then the tail scan.

use super::keywords::Kw;
use super::lexer::{Lexer, Tk};
use super::set::parse_set;
use super::tail::Tail;
use super::{Classification, Flags, Kind};

/// Classifies the statement starting at the lexer's position and consumes it with its
/// terminating `;`. Returns the classification and where the statement's text ends (the
/// `;` or the end of input).
pub(super) fn classify_one(lx: &mut Lexer<'_>) -> (Classification, usize) {
    let mut flags = Flags::NONE;
    // `EXPLAIN ANALYZE` / MariaDB `ANALYZE`: the inner statement is executed.
    let mut analyzed = false;
    // Opening parentheses before the first keyword: only a query can follow.
    let mut parens = false;
    let mut select_like = false;
    // `WITH`: the main statement's keyword is still to come.
    let mut cte = false;
    // A compound statement (`BEGIN NOT ATOMIC`, `IF`, labels, ...): the rest of the text
    // is its body, whatever its `;`.
    let mut compound = false;

    // The head: the first keyword(s). Prefixes (`(`, `SET STATEMENT .. FOR`, `ANALYZE`)
    // loop rather than recurse, so no input can exhaust the stack.
    let kind = loop {
        let t = match lx.next() {
            Some(t) if t.tk != Tk::Semi => t,
            other => {
                let end = other.map_or(lx.s.len(), |t| t.start);
                let kind = if analyzed || parens {
                    Kind::Other
                } else {
                    Kind::Empty
                };
                return (Classification { kind, flags }, end);
            }
        };
        if t.tk == Tk::LParen {
            parens = true;
            continue;
        }
        let k = t.kw();
        if parens && !matches!(k, Kw::Select | Kw::With | Kw::Table | Kw::Values) {
            break Kind::Other;
        }
        break match k {
            Kw::Select | Kw::Table | Kw::Values => {
                select_like = true;
                Kind::Select
            }
            Kw::With => {
                select_like = true;
                cte = true;
                Kind::Select
            }
            Kw::Insert => Kind::Insert,
            Kw::Replace => Kind::Replace,
            Kw::Update => Kind::Update,
            Kw::Delete => Kind::Delete,
            Kw::Load => match lx.peek_kw() {
                Kw::Data | Kw::Xml => Kind::LoadData,
                _ => Kind::Other,
            },
            Kw::Create => {
                let mut la = lx.clone();
                if la.eat(Kw::Or) {
                    la.eat(Kw::Replace);
                }
                if la.eat(Kw::Temporary) && (la.eat(Kw::Table) || la.eat(Kw::Sequence)) {
                    Kind::CreateTemporaryTable
                } else {
                    Kind::Ddl
                }
            }
            Kw::Drop => {
                let mut la = lx.clone();
                if la.eat(Kw::Temporary)
                    && (la.eat(Kw::Table) || la.eat(Kw::Tables) || la.eat(Kw::Sequence))
                {
                    Kind::DropTemporaryTable
                } else if la.eat(Kw::Prepare) {
                    Kind::Deallocate
                } else {
                    Kind::Ddl
                }
            }
            Kw::Analyze => match lx.peek_kw() {
                Kw::Table | Kw::Tables | Kw::NoWriteToBinlog | Kw::Local => Kind::Ddl,
                _ => {
                    lx.skip_format();
                    analyzed = true;
                    continue;
                }
            },
            Kw::Alter
            | Kw::Truncate
            | Kw::Rename
            | Kw::Grant
            | Kw::Revoke
            | Kw::Optimize
            | Kw::Repair
            | Kw::Flush
            | Kw::Reset
            | Kw::Purge
            | Kw::Install
            | Kw::Uninstall
            | Kw::Import => Kind::Ddl,
            Kw::Lock => match lx.peek_kw() {
                Kw::Table | Kw::Tables => Kind::LockTables,
                _ => Kind::Other,
            },
            Kw::Unlock => match lx.peek_kw() {
                Kw::Table | Kw::Tables => Kind::UnlockTables,
                _ => Kind::Other,
            },
            Kw::Call => Kind::Call,
            Kw::Do => Kind::Do,
            Kw::Use => Kind::Use,
            Kw::Set => {
                let mut la = lx.clone();
                if la.eat(Kw::Statement) {
                    // MariaDB `SET STATEMENT var=val[, ..] FOR stmt`: classify `stmt`.
                    if la.skip_to_for() {
                        *lx = la;
                        continue;
                    }
                    Kind::Other
                } else {
                    let (kind, f) = parse_set(la);
                    flags |= f;
                    kind
                }
            }
            Kw::Show => {
                let mut la = lx.clone();
                let reads_state = match la.next().map_or(Kw::None, |t| t.kw()) {
                    Kw::Warnings | Kw::Errors | Kw::Profile | Kw::Profiles => true,
                    Kw::Count => {
                        la.eat_tk(Tk::LParen)
                            && la.next().is_some_and(|t| t.text == b"*")
                            && la.eat_tk(Tk::RParen)
                            && matches!(la.peek_kw(), Kw::Warnings | Kw::Errors)
                    }
                    _ => false,
                };
                if reads_state {
                    flags |= Flags::READS_PREVIOUS_STATE;
                }
                Kind::Show
            }
            Kw::Explain | Kw::Describe | Kw::Desc => {
                let mut la = lx.clone();
                la.skip_format();
                if la.eat(Kw::Analyze) {
                    la.skip_format();
                    *lx = la;
                    analyzed = true;
                    continue;
                }
                Kind::Explain
            }
            Kw::Begin => match lx.peek() {
                None => Kind::Begin,
                Some(t) if t.tk == Tk::Semi || t.kw() == Kw::Work => Kind::Begin,
                // `BEGIN NOT ATOMIC` (MariaDB compound statement) and anything else.
                Some(_) => {
                    compound = true;
                    Kind::Other
                }
            },
            // Compound statements outside stored programs (MariaDB). (`CASE`, `LOOP`,
            // `WHILE`, `REPEAT` and `DECLARE` are no keywords: `WHILE` would make every
            // `WHERE` pass the keyword table's first filter.)
            Kw::If | Kw::For => {
                compound = true;
                Kind::Other
            }
            _ if t.tk == Tk::Word && is_compound_word(t.text) => {
                compound = true;
                Kind::Other
            }
            Kw::Start => {
                let mut la = lx.clone();
                if la.eat(Kw::Transaction) {
                    if la.has_read_only() {
                        flags |= Flags::READ_ONLY_TXN;
                    }
                    Kind::Begin
                } else {
                    // START SLAVE / REPLICA / GROUP_REPLICATION ...
                    Kind::Other
                }
            }
            Kw::Commit => Kind::Commit,
            Kw::Rollback => {
                let mut la = lx.clone();
                la.eat(Kw::Work);
                if la.eat(Kw::To) {
                    Kind::RollbackToSavepoint
                } else {
                    Kind::Rollback
                }
            }
            Kw::Savepoint => Kind::Savepoint,
            Kw::Release => match lx.peek_kw() {
                Kw::Savepoint => Kind::ReleaseSavepoint,
                _ => Kind::Other,
            },
            Kw::Xa => Kind::Xa,
            Kw::Get => {
                let mut la = lx.clone();
                if !la.eat(Kw::Current) {
                    la.eat(Kw::Stacked);
                }
                if la.eat(Kw::Diagnostics) {
                    flags |= Flags::READS_PREVIOUS_STATE;
                    Kind::GetDiagnostics
                } else {
                    Kind::Other
                }
            }
            Kw::Handler => Kind::Handler,
            Kw::Prepare => Kind::Prepare,
            Kw::Execute => Kind::Execute,
            Kw::Deallocate => Kind::Deallocate,
            Kw::Kill => Kind::Kill,
            _ => {
                // `label: BEGIN|LOOP|WHILE|REPEAT|FOR ...`
                let mut la = lx.clone();
                if matches!(t.tk, Tk::Word | Tk::Ident)
                    && la.next().is_some_and(|c| c.text == b":")
                    && la.peek().is_some_and(|w| {
                        matches!(w.kw(), Kw::Begin | Kw::For)
                            || w.tk == Tk::Word && is_compound_word(w.text)
                    })
                {
                    compound = true;
                }
                Kind::Other
            }
        };
    };

    // The tail: scan the rest of the statement for what matters.
    let mut tail = Tail {
        kind,
        flags,
        select_like,
        cte,
        depth: 0,
        locking: false,
        into: false,
        name_start: 0,
        name_end: usize::MAX,
        name_quoted: false,
        // `INSERT [IGNORE] t (a, ..)`: the table follows the head.
        names_table_from: if matches!(kind, Kind::Insert | Kind::Replace) {
            lx.pos
        } else {
            usize::MAX
        },
    };
    let mut end = tail.scan(lx);
    while compound && !lx.at_end() {
        end = tail.scan(lx);
    }
    let Tail {
        mut kind,
        mut flags,
        ..
    } = tail;
    if tail.locking && !tail.select_like && kind != Kind::Explain {
        // A query says it with its kind (`LockingRead`); anything else that runs it
        // with a flag (`EXPLAIN` runs nothing).
        flags |= Flags::LOCKING;
    }
    if tail.select_like {
        if tail.into {
            kind = Kind::SelectInto;
        } else if tail.locking {
            kind = Kind::LockingRead;
        }
    }
    if analyzed && kind == Kind::Select {
        kind = Kind::Explain;
    }
    (Classification { kind, flags }, end)
}

/// Whether a statement's first word opens a compound statement (besides `BEGIN`, `IF`
/// and `FOR`, which are keywords): `CASE`, `LOOP`, `WHILE`, `REPEAT`, `DECLARE`.
fn is_compound_word(word: &[u8]) -> bool {
    [&b"CASE"[..], b"LOOP", b"WHILE", b"REPEAT", b"DECLARE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}
