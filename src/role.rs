//! The node kind a statement should run on ([`Role`]); scopes choose it (see
//! [`crate::scope`]).

/// Which kind of node a statement should run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every statement goes to the master.
    Master,
    /// Reads go to a replica; statements that change data are refused (or sent to the
    /// master, see [`WriteRouting`](crate::WriteRouting)).
    Replica,
    /// Read/write splitting: reads outside a transaction go to a replica, everything else
    /// (writes, locking reads, transactions, stateful statements) to the master.
    Auto,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "master" | "primary" => Ok(Role::Master),
            "replica" | "slave" => Ok(Role::Replica),
            "auto" => Ok(Role::Auto),
            _ => Err(format!(
                "unknown role `{s}` (expected master, replica or auto)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Auto => "auto",
        })
    }
}
