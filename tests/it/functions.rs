//! Checks the classifier's compiled tables of native function names and syntax keywords
//! (`src/classify/functions.rs`) against the running server: a newer server's new
//! functions, or a name that stopped being native, fail here.

use crate::common;

// The classifier's own file, named as in the library (inside this module of the same name).
#[allow(dead_code, clippy::module_inception)]
#[path = "../../src/classify/functions.rs"]
mod functions;

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

fn names(conn: &mut MysqlConnection, sql: &str) -> BTreeSet<String> {
    diesel::sql_query(sql)
        .load::<Name>(conn)
        .expect("information_schema query")
        .into_iter()
        .map(|n| n.name.to_uppercase())
        .collect()
}

/// Whether the server reads `SELECT name(..)` as a stored function's call for every
/// argument count from 0 to 3 (the probe of `scripts/function_names.sh`).
fn stored_call(conn: &mut MysqlConnection, name: &str, quoted: bool) -> bool {
    let q = if quoted { "`" } else { "" };
    ["", "NULL", "NULL, NULL", "NULL, NULL, NULL"]
        .iter()
        .all(
            |args| match diesel::sql_query(format!("SELECT {q}{name}{q}({args})")).execute(conn) {
                Err(diesel::result::Error::DatabaseError(_, info)) => {
                    let m = info.message();
                    m.starts_with("FUNCTION ") && m.contains(" does not exist")
                }
                _ => false,
            },
        )
}

#[test]
fn compiled_tables_match_the_server() {
    let _g = common::shared("funcs");
    let cluster = common::cluster("funcs");
    let mut conn = MysqlConnection::establish(&cluster.admin_url).expect("connect");
    diesel::sql_query("SET SESSION max_statement_time = 1")
        .execute(&mut conn)
        .expect("set max_statement_time");

    let server = names(
        &mut conn,
        "SELECT FUNCTION AS name FROM information_schema.SQL_FUNCTIONS",
    );
    let compiled: BTreeSet<String> = functions::SQL_FUNCTIONS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let new: Vec<_> = server.difference(&compiled).collect();
    let gone: Vec<_> = compiled.difference(&server).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "information_schema.SQL_FUNCTIONS differs from the compiled table (rerun \
         scripts/function_names.sh): new {new:?}, gone {gone:?}"
    );

    let keywords = names(
        &mut conn,
        "SELECT WORD AS name FROM information_schema.KEYWORDS",
    );
    let not_keywords: Vec<_> = functions::SYNTAX_KEYWORDS
        .iter()
        .filter(|(n, _)| !keywords.contains(*n))
        .collect();
    assert!(not_keywords.is_empty(), "not keywords: {not_keywords:?}");

    // No hole: no listed name is read as a stored function's (the three context
    // keywords aside), bare, nor backticked where the table says it's native quoted.
    let context = ["AGAINST", "COLUMNS", "JSON_TABLE"];
    let mut stored = Vec::new();
    let all = functions::SQL_FUNCTIONS
        .iter()
        .chain(functions::REGISTRY_FUNCTIONS)
        .chain(functions::SYNTAX_KEYWORDS);
    let mut probed = 0;
    for &(name, quoted) in all {
        if context.contains(&name) {
            assert!(stored_call(&mut conn, name, false), "{name}: now syntax?");
            continue;
        }
        probed += 1;
        if stored_call(&mut conn, name, false) {
            stored.push(name.to_string());
        }
        if quoted && stored_call(&mut conn, name, true) {
            stored.push(format!("`{name}`"));
        }
    }
    assert_eq!(probed, functions::NAME_COUNT - context.len());
    assert!(
        stored.is_empty(),
        "read as stored function calls: {stored:?}"
    );
    // And the probe does tell a stored function's call.
    assert!(stored_call(&mut conn, "no_such_function_here", false));
    assert!(stored_call(&mut conn, "count", true));
}
