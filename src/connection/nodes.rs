//! Node connections of one `ClusterConnection`: opening them (bounded, with the session
//! replayed), choosing the master and a replica, and reacting to connection-level
//! failures (reconnect once; if that fails, eject the node for the cluster's cooldown).

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{Connection, SimpleConnection};
use diesel::mysql::MysqlConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError, QueryResult};
use diesel::RunQueryDsl;

use super::ClusterConnection;
use crate::error::Error;
use crate::instrument::Forwarder;
use crate::transport::socket::SocketId;
use crate::transport::watchdog::{Registration, Sockets};
use crate::url::NodeAddress;

/// Messages of the MySQL/MariaDB client library errors that mean "this node is
/// unavailable": 2002/2003 (can't connect), 2006 (gone away), 2013 (lost connection),
/// 2055, plus server shutdown (1053) and a killed connection (1927). Diesel's MySQL
/// backend keeps only the message, not the error number, so the message is matched.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "server has gone away",
    "lost connection to",
    "can't connect to",
    "server shutdown in progress",
    "connection was killed",
    "connection refused",
    "connection reset",
    "broken pipe",
    "error while reading",
    "error in server handshake",
];

fn is_unavailable_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    UNAVAILABLE_MESSAGES.iter().any(|m| lower.contains(m))
}

/// Messages of the errors opening a node that no retry will fix, because the node
/// answered and refused this login: 1045, 1698 and 4151 (access denied: wrong user or
/// password, socket-only account, locked account), 1044 (access denied to the database),
/// 1049 (unknown database), 1251, 2059 and 2061 (authentication plugin or protocol),
/// 1130 (host not allowed), 1129 (host blocked), 1862 (password expired), 1226 (the
/// account's resource limit). Matched on the message, as [`UNAVAILABLE_MESSAGES`].
const REFUSAL_MESSAGES: &[&str] = &[
    "access denied",
    "unknown database",
    "authentication protocol",
    "authentication plugin",
    "could not be loaded",
    "requires secure connection",
    "is not allowed to connect",
    "is blocked because of many connection errors",
    "password has expired",
    "has exceeded the",
];

/// Whether an error opening a node is the node refusing the login or the database: the
/// caller's error (credentials, grants, configuration), not a node failure. The node is
/// not ejected, nothing is retried elsewhere (that would only hide it), and no failover
/// or master rediscovery follows.
pub(crate) fn is_refusal_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    REFUSAL_MESSAGES.iter().any(|m| lower.contains(m))
}

/// Whether a statement's error means the node (not the statement) failed. A refused
/// login ([`Error::NodeRefused`]) never does.
pub(crate) fn is_connection_error(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => {
            is_unavailable_message(info.message()) && !is_refusal_message(info.message())
        }
        _ => false,
    }
}

/// A freshly opened node connection and its socket, when it could be found. The
/// connection reports to no instrumentation: its users install their own.
pub(crate) struct Connected {
    pub(crate) conn: MysqlConnection,
    pub(crate) socket: Option<SocketId>,
}

/// Connects to a node within `timeout`. The MySQL client that Diesel uses has no connect
/// timeout reachable through its URL: it would block for minutes on a host that drops
/// packets, and forever on a server process that hangs (its kernel still accepts TCP
/// connections). So a probe goes first: a TCP connect with the timeout, then a wait of
/// the same bound for the server's greeting, the first packet every live server sends.
/// It costs one loopback handshake (~100 us) and only runs when a node connection opens.
///
/// Then the client's own socket is found (see [`crate::transport::socket`]) and given the
/// `network_timeout` bound; the caller registers it (see [`crate::transport::watchdog`]).
pub(crate) fn connect_node(
    address: &NodeAddress,
    timeout: Duration,
    network_timeout: Duration,
) -> Result<Connected, String> {
    let uses_socket = address
        .client_options
        .iter()
        .any(|(k, _)| k == "unix_socket");
    if uses_socket {
        return Ok(Connected {
            conn: quiet(establish(address)?),
            socket: None,
        });
    }
    let addrs: Vec<_> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host: {e}"))?
        .collect();
    let mut last = String::from("no address");
    let mut reached = false;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout).and_then(|s| greeted(s, timeout)) {
            Ok(()) => {
                reached = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                last = format!(
                    "{addr} accepted the connection but sent no greeting: timed out after \
                     {timeout:?} (the server process is not answering)"
                );
            }
            Err(e) => last = format!("can't connect to {addr}: {e}"),
        }
    }
    if !reached {
        return Err(last);
    }
    let before = crate::transport::socket::connected_ids(&addrs);
    let mut conn = quiet(establish(address)?);
    // The client's socket is now open: find it, and bound how long it can wait on a
    // silent peer. It is the one socket to the server that wasn't there before the
    // connect; only when another thread connected to the same server meanwhile (two new
    // ones) is the server asked which port is ours (a round trip, whose `SELECT` would
    // also be the session's first statement).
    let mut fresh = crate::transport::socket::connected_ids(&addrs);
    fresh.retain(|s| !before.contains(s));
    let socket = match fresh.as_slice() {
        [one] => Some(one.fd),
        _ => local_port(&mut conn).and_then(|port| crate::transport::socket::find(port, &addrs)),
    };
    match socket {
        Some(fd) => {
            crate::transport::socket::bound_silent(fd, network_timeout);
        }
        None => {
            crate::transport::socket::bound_silent_peers(&addrs, network_timeout);
        }
    }
    Ok(Connected {
        conn,
        socket: socket.and_then(SocketId::of),
    })
}

/// Waits for the first byte of the server's greeting on a probe connection.
fn greeted(mut probe: TcpStream, timeout: Duration) -> std::io::Result<()> {
    probe.set_read_timeout(Some(timeout))?;
    match probe.read(&mut [0u8; 1])? {
        0 => Err(std::io::Error::new(
            ErrorKind::ConnectionAborted,
            "the server closed the connection before its greeting",
        )),
        _ => Ok(()),
    }
}

/// Takes a new connection out of Diesel's default instrumentation (if the application
/// set one): the statements the library runs on it before handing it out are not the
/// user's.
fn quiet(mut conn: MysqlConnection) -> MysqlConnection {
    conn.set_instrumentation(|_: diesel::connection::InstrumentationEvent<'_>| {});
    conn
}

/// The client-side port of `conn`'s TCP connection, as the server sees it (the
/// processlist's `host:port`). One round trip, once per node connection.
fn local_port(conn: &mut MysqlConnection) -> Option<u16> {
    #[derive(diesel::QueryableByName)]
    struct Host {
        #[diesel(sql_type = diesel::sql_types::Text)]
        host: String,
    }
    let row: Host = diesel::sql_query(
        "SELECT HOST AS host FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
    )
    .get_result(conn)
    .ok()?;
    // The session's last statement is now this `SELECT`: end with the statement
    // `MysqlConnection::establish` ends with, so `ROW_COUNT()` and the warnings of the
    // first user statement are those of a fresh `MysqlConnection`.
    let _ = diesel::sql_query("SET character_set_results = 'utf8mb4'").execute(conn);
    row.host.rsplit_once(':')?.1.parse().ok()
}

/// A node connection with a guard on its socket that must end before the connection
/// closes the descriptor (see [`crate::transport::watchdog`]): a [`Registration`] in the node's
/// socket set for a `ClusterConnection`'s connections ([`NodeConn`]), the deadline of
/// the check in progress for the monitor's.
pub(crate) struct Guarded<G> {
    // Declared first: fields drop in order, so the guard ends before the socket closes.
    pub(crate) guard: Option<G>,
    pub(crate) socket: Option<SocketId>,
    conn: MysqlConnection,
}

impl<G> Guarded<G> {
    pub(crate) fn new(connected: Connected, guard: impl FnOnce(SocketId) -> Option<G>) -> Self {
        Guarded {
            guard: connected.socket.and_then(guard),
            socket: connected.socket,
            conn: connected.conn,
        }
    }

    /// Takes the socket out of the watchdog's reach for good. Called after any
    /// connection-level error: the client library closes its socket by itself then (a
    /// session the server killed, a lost connection), while this connection may live on
    /// (a transaction pinned to it waits for Diesel's rollback), and the descriptor
    /// number may soon name another file.
    pub(crate) fn forget_socket(&mut self) {
        self.guard = None;
        self.socket = None;
    }
}

impl<G> Deref for Guarded<G> {
    type Target = MysqlConnection;
    #[inline]
    fn deref(&self) -> &MysqlConnection {
        &self.conn
    }
}

impl<G> DerefMut for Guarded<G> {
    #[inline]
    fn deref_mut(&mut self) -> &mut MysqlConnection {
        &mut self.conn
    }
}

/// A node connection of a `ClusterConnection`, its socket registered in the node's
/// [`Sockets`] for as long as it is open.
pub(crate) type NodeConn = Guarded<Registration>;

impl NodeConn {
    fn registered(connected: Connected, sockets: &Arc<Sockets>) -> NodeConn {
        Guarded::new(connected, |socket| Some(sockets.register(socket)))
    }
}

fn establish(address: &NodeAddress) -> Result<MysqlConnection, String> {
    MysqlConnection::establish(&address.connection_url()).map_err(|e| {
        // Connection errors carry the server's or client's message, which does not
        // include the password; scrub it anyway in case a client echoes its input.
        let message = e.to_string();
        let password = address.password.expose();
        if password.is_empty() {
            message
        } else {
            message.replace(password, "***")
        }
    })
}

/// Whether an error opening a node means the node is unavailable (as opposed to, say,
/// wrong credentials, which a retry elsewhere would only hide).
fn open_error_is_unavailable(message: &str) -> bool {
    !is_refusal_message(message)
        && (is_unavailable_message(message)
            || message.starts_with("can't connect to")
            || message.contains("timed out"))
}

/// The error for a node that could not be opened: [`Error::NodeRefused`] when it refused
/// the login (see [`is_refusal_message`]), else [`Error::NodeUnavailable`].
pub(crate) fn open_error(label: &str, reason: String) -> Error {
    if is_refusal_message(&reason) {
        Error::NodeRefused {
            node: label.to_string(),
            reason,
        }
    } else {
        Error::NodeUnavailable {
            node: label.to_string(),
            reason,
        }
    }
}

impl ClusterConnection {
    /// Opens node `i` if this connection has no connection to it yet.
    pub(crate) fn open(&mut self, i: usize) -> QueryResult<()> {
        if self.nodes[i].is_some() {
            if !self.needs_writer_reopen(i) {
                return Ok(());
            }
            // This node became the master after a failover, and this connection reached
            // it with its replica account (maybe read-only): reconnect as the master.
            log::info!(
                "reconnecting to {} with the master's credentials",
                self.cluster.shared.nodes[i].label
            );
            self.pins.node_lost(i);
            self.nodes[i] = None;
        }
        self.open_node(i).map_err(Error::into_diesel)
    }

    /// Whether node `i`'s connection was opened with credentials other than the
    /// master's and `i` is now the master (a cheap check: one flag for most nodes).
    #[inline]
    fn needs_writer_reopen(&self, i: usize) -> bool {
        let shared = &self.cluster.shared;
        shared.nodes[i].writer_address.is_some()
            && !self.writer_slots[i]
            && shared.master() == i
            && self.tx.pinned != Some(i)
            && self.pins.raw.node != Some(i)
    }

    fn open_node(&mut self, i: usize) -> Result<(), Error> {
        let shared = self.cluster.shared.clone();
        let node = &shared.nodes[i];
        let (address, as_writer) = match &node.writer_address {
            Some(writer) if shared.master() == i => (writer, true),
            _ => (&node.address, node.writer_address.is_none()),
        };
        let mut conn = match connect_node(
            address,
            shared.config.connect_timeout,
            shared.config.network_timeout,
        ) {
            Ok(c) => NodeConn::registered(c, &node.sockets),
            Err(reason) => {
                if open_error_is_unavailable(&reason) {
                    self.eject(i, &reason);
                }
                let error = open_error(&node.label, reason);
                if let Error::NodeRefused { .. } = error {
                    // The caller gets it; logged at debug only, as each statement retries.
                    log::debug!("{error}");
                }
                return Err(error);
            }
        };
        conn.set_instrumentation(Forwarder(self.hub.clone()));
        if let Some(size) = self.cache_size {
            conn.set_prepared_statement_cache_size(size);
        }
        if !self.session.is_empty() {
            let hub = self.hub.clone();
            for stmt in self.session.statements() {
                self.internal_statements += 1;
                if let Err(e) = hub.muted(|| conn.batch_execute(stmt)) {
                    // This connection's session can't live on that node (the node is
                    // fine: nothing is ejected). Reads go elsewhere until the session
                    // changes.
                    self.unfit[i] = true;
                    return Err(Error::SessionState {
                        node: node.label.clone(),
                        statement: stmt.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        log::debug!("opened a connection to {}", node.label);
        self.nodes[i] = Some(conn);
        self.writer_slots[i] = as_writer;
        Ok(())
    }

    /// Runs `f` on node `i`'s connection, opening it first if needed. The outer result
    /// is the open's.
    pub(crate) fn with_node<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut MysqlConnection) -> R,
    ) -> QueryResult<R> {
        self.open(i)?;
        match self.nodes[i].as_deref_mut() {
            Some(conn) => Ok(f(conn)),
            None => Err(DieselError::BrokenTransactionManager),
        }
    }

    /// The node that takes writes, or why there is none.
    pub(crate) fn master_node(&mut self) -> Result<usize, Error> {
        let shared = &self.cluster.shared;
        let master = shared.master();
        if shared.nodes[master].is_up() {
            return Ok(master);
        }
        // The master is ejected: maybe an outside tool promoted a replica.
        if let Some(new_master) = crate::failover::rediscover(&self.cluster) {
            return Ok(new_master);
        }
        Err(Error::NoMaster {
            reason: format!(
                "{} is unreachable (ejected after a connection failure) and no other node \
                 can take writes (a writable node that still replicates, or lacks \
                 transactions the master committed, is refused; `Cluster::promote` makes \
                 a replica the master)",
                shared.nodes[master].label
            ),
        })
    }

    /// A node to read from: a usable replica under the current consistency, or the
    /// master when there is none. The flag says whether it fell back to the master.
    pub(crate) fn pick_read_node(&mut self, exclude: &[usize]) -> (usize, bool) {
        if self.unfit.iter().any(|&u| u) {
            // Replicas this connection's session can't be replayed on are never picked.
            let mut excluded = exclude.to_vec();
            excluded.extend((0..self.unfit.len()).filter(|&i| self.unfit[i]));
            return self.pick_from(&excluded);
        }
        self.pick_from(exclude)
    }

    fn pick_from(&mut self, exclude: &[usize]) -> (usize, bool) {
        let consistency = self.effective_consistency();
        let shared = &self.cluster.shared;
        if consistency == crate::Consistency::Strong {
            return (shared.master(), false);
        }
        if shared.config.replica_affinity {
            if let Some(i) = self.last_replica {
                if !exclude.contains(&i)
                    && shared.is_usable_replica(i, shared.master(), consistency)
                {
                    return (i, false);
                }
            }
        }
        let picked = shared.pick_replica(consistency, exclude).or_else(|| {
            // With the master down, every replica's IO thread has lost it, so the monitor
            // sees their lag as unknown and marks them lagging. A causal read doesn't need
            // the lag: the GTID wait on the replica proves it has the write (and moves the
            // read to the master if not), so any live replica may serve it.
            let master = shared.master();
            (consistency == crate::Consistency::Causal && !shared.nodes[master].is_up())
                .then(|| shared.pick_replica(crate::Consistency::Eventual, exclude))
                .flatten()
        });
        match picked {
            Some(i) => {
                self.last_replica = Some(i);
                (i, false)
            }
            None => {
                let master = shared.master();
                if shared.has_replicas() {
                    shared.nodes[master].count_fallback();
                    log::debug!("no usable replica; reading from the master");
                }
                (master, true)
            }
        }
    }

    pub(crate) fn eject(&self, i: usize, reason: &str) {
        let shared = &self.cluster.shared;
        let node = &shared.nodes[i];
        if node.eject(shared.config.ejection_cooldown) {
            log::warn!(
                "ejecting {} for {:?}: {reason}",
                node.label,
                shared.config.ejection_cooldown
            );
        }
    }

    /// After a connection-level failure on node `i`: drop the dead connection (unless a
    /// transaction is pinned to it: its state is lost, the transaction manager reports
    /// that) and try one fresh connection. Returns whether the node answered; if not, it
    /// is ejected. Either way the dead connection's socket leaves the watchdog's reach
    /// first (see [`Guarded::forget_socket`]).
    pub(crate) fn recover_node(&mut self, i: usize) -> bool {
        self.lost_connection(i);
        if self.tx.pinned == Some(i) {
            return false;
        }
        // The server ended a raw transaction (and unlocked tables) with the session; the
        // statement that found out returns its error. `autocommit = 0` is a setting, not
        // state: it is restored on the new session, pinned as before.
        let autocommit_off = self.pins.node_lost(i);
        self.nodes[i] = None;
        if !self.cluster.shared.nodes[i].is_up() {
            return false;
        }
        match self.open_node(i) {
            Ok(()) if autocommit_off => match self.internal_batch(i, "SET autocommit = 0") {
                Ok(()) => {
                    self.pins.autocommit_restored(i);
                    true
                }
                Err(e) => {
                    self.nodes[i] = None;
                    if is_connection_error(&e) {
                        self.eject(i, &e.to_string());
                    }
                    false
                }
            },
            Ok(()) => true,
            // `open_node` ejected the node if it is unavailable. A session that can't be
            // replayed on it (say, a `USE` of a database it lacks) is this connection's
            // problem, not the node's.
            Err(_) => false,
        }
    }

    /// Unregisters the socket of node `i`'s connection after a connection-level error on
    /// it (the client library may have closed it already).
    pub(crate) fn lost_connection(&mut self, i: usize) {
        if let Some(conn) = self.nodes[i].as_mut() {
            conn.forget_socket();
        }
    }

    /// Book-keeping for an error from node `i` outside the statement path (transaction
    /// boundaries). A connection-level error ends only this connection's session: the
    /// node is ejected for every connection only when a fresh connection fails too (a
    /// session killed by the server, or closed by `wait_timeout`, says nothing about the
    /// node). A connection pinned by a transaction stays (the transaction manager reports
    /// the lost transaction), so the fresh connection is a probe, closed at once;
    /// otherwise it replaces the dead one.
    pub(crate) fn note_failure(&mut self, i: usize, error: &DieselError) {
        if !is_connection_error(error) {
            return;
        }
        if self.tx.pinned == Some(i) {
            self.lost_connection(i);
            self.eject_unless_it_answers(i, &error.to_string());
        } else {
            self.recover_node(i);
        }
    }

    /// Opens a fresh connection to node `i` and closes it: ejects the node if that fails
    /// because the node is unavailable. Returns whether it answered. An ejected node is
    /// not tried (it is already out; the monitor readmits it).
    fn eject_unless_it_answers(&mut self, i: usize, reason: &str) -> bool {
        let shared = self.cluster.shared.clone();
        let node = &shared.nodes[i];
        if !node.is_up() {
            return false;
        }
        let address = match &node.writer_address {
            Some(writer) if shared.master() == i => writer,
            _ => &node.address,
        };
        match connect_node(
            address,
            shared.config.connect_timeout,
            shared.config.network_timeout,
        ) {
            Ok(_) => {
                log::info!(
                    "a session on {} was lost ({reason}); the node answers a fresh \
                     connection, so it stays in service",
                    node.label
                );
                true
            }
            Err(e) if open_error_is_unavailable(&e) => {
                self.eject(i, &format!("{reason}; a fresh connection failed too: {e}"));
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_recognised() {
        for m in [
            "Can't connect to server on '127.0.0.1' (115)",
            "Lost connection to server during query",
            "Lost connection to MySQL server during query",
            "MySQL server has gone away",
            "Server has gone away",
            "Server shutdown in progress",
            "Connection was killed",
        ] {
            assert!(is_unavailable_message(m), "{m}");
        }
        for m in [
            "Duplicate entry '1' for key 'PRIMARY'",
            "Table 'app.nope' doesn't exist",
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
        ] {
            assert!(!is_unavailable_message(m), "{m}");
        }
    }

    #[test]
    fn refused_logins_are_the_callers_errors() {
        // Messages of MariaDB 10.11 and libmariadb/libmysqlclient, as Diesel passes them.
        for m in [
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
            "Access denied for user 'app'@'%' to database 'nope'",
            "Access denied for user 'root'@'localhost'",
            "Access denied, this account is locked",
            "Unknown database 'nope'",
            "Client does not support authentication protocol requested by server; \
             consider upgrading MariaDB client",
            "Plugin caching_sha2_password could not be loaded: not found",
            "Authentication plugin 'caching_sha2_password' reported error: Authentication \
             requires secure connection.",
            "Host '10.0.0.9' is not allowed to connect to this MariaDB server",
            "Host '10.0.0.9' is blocked because of many connection errors; unblock with \
             'mariadb-admin flush-hosts'",
            "Your password has expired. To log in you must change it using a client that \
             supports expired passwords.",
            "User 'app' has exceeded the 'max_user_connections' resource (current value: 5)",
        ] {
            assert!(is_refusal_message(m), "{m}");
            assert!(!open_error_is_unavailable(m), "{m}");
            assert!(matches!(
                open_error("n", m.into()),
                Error::NodeRefused { .. }
            ));
        }
        for m in [
            "Can't connect to server on '127.0.0.1' (111)",
            "Lost connection to server at 'handshake: reading initial communication packet'",
            "Too many connections",
        ] {
            assert!(!is_refusal_message(m), "{m}");
            assert!(matches!(
                open_error("n", m.into()),
                Error::NodeUnavailable { .. }
            ));
        }
        // Through Diesel's error, as a statement sees a refused open: not the node's fault.
        let refused = open_error("master (h:1)", "Access denied for user 'a'@'h'".into());
        assert!(!is_connection_error(&refused.into_diesel()));
        let down = open_error("master (h:1)", "Lost connection to server".into());
        assert!(is_connection_error(&down.into_diesel()));
    }

    #[test]
    fn connecting_to_a_closed_port_fails_fast() {
        // Find a port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = crate::url::parse(&format!("mysql://u:p@127.0.0.1:{port}/db"))
            .unwrap()
            .nodes
            .remove(0);
        let started = std::time::Instant::now();
        let err = match connect_node(&addr, Duration::from_secs(2), Duration::from_secs(10)) {
            Ok(_) => panic!("connected to a port nobody listens on"),
            Err(e) => e,
        };
        assert!(started.elapsed() < Duration::from_secs(1), "{err}");
        assert!(open_error_is_unavailable(&err), "{err}");
    }

    #[test]
    fn a_server_that_accepts_but_never_greets_fails_within_the_timeout() {
        // A listener nobody accepts on: the kernel completes the TCP handshake, as it
        // does for a hung server process, and nothing is ever sent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = crate::url::parse(&format!("mysql://u:p@127.0.0.1:{port}/db"))
            .unwrap()
            .nodes
            .remove(0);
        let timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let err = match connect_node(&addr, timeout, Duration::from_secs(10)) {
            Ok(_) => panic!("connected to a server that never greets"),
            Err(e) => e,
        };
        let took = started.elapsed();
        assert!(took >= timeout && took < Duration::from_secs(2), "{took:?}");
        assert_eq!(
            err,
            format!(
                "127.0.0.1:{port} accepted the connection but sent no greeting: timed out \
                 after 200ms (the server process is not answering)"
            )
        );
        assert!(open_error_is_unavailable(&err), "{err}");
        drop(listener);
    }
}
