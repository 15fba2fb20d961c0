//! Opening one node connection, bounded in time, and guarding its socket.

use std::net::ToSocketAddrs;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::Connection;
use diesel::mysql::MysqlConnection;
use diesel::RunQueryDsl;

use super::socket::{self, SocketId};
use super::watchdog::{connect_timer, Registration, Sockets};
use crate::url::NodeAddress;

/// A freshly opened node connection and its socket, when it could be found. The
/// connection reports to no instrumentation: its users install their own.
pub(crate) struct Connected {
    pub(crate) conn: MysqlConnection,
    pub(crate) socket: Option<SocketId>,
}

/// Connects to a node within `timeout`. The MySQL client that Diesel uses has no connect
/// timeout reachable through its URL: it would block for minutes on a host that drops
/// packets, and forever on a server process that hangs (its kernel still accepts TCP
/// connections). So the real connect is timed: a deadline on the process's connect timer
/// (see [`super::watchdog::connect_timer`]) shuts down, when `timeout` passes, the
/// sockets to the node that this connect opened (still connecting, or connected and
/// waiting for the greeting); the client then fails at once. Nothing else is opened:
/// one TCP connection per node connection, as with a raw `MysqlConnection`, and no
/// half-open probe for the server to count in `Aborted_connects` or log.
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
    let before = socket::connected_ids(&addrs);
    let known = before.iter().map(SocketId::inode).collect();
    let (deadline, cut) = connect_timer().arm_connect(addrs.clone(), known, timeout);
    let fired = deadline.fired();
    let established = establish(address);
    drop(deadline);
    let mut conn = match (established, fired.load(Ordering::Relaxed)) {
        (Ok(conn), false) => quiet(conn),
        // Cut at the deadline (or done too late to count).
        (_, true) => return Err(timed_out(address, timeout, *cut.lock())),
        (Err(e), false) => return Err(e),
    };
    // The client's socket is now open: find it, and bound how long it can wait on a
    // silent peer. It is the one socket to the server that wasn't there before the
    // connect; only when another thread connected to the same server meanwhile (two new
    // ones) is the server asked which port is ours (a round trip, whose `SELECT` would
    // also be the session's first statement).
    let mut fresh = socket::connected_ids(&addrs);
    fresh.retain(|s| !before.contains(s));
    let socket = match fresh.as_slice() {
        [one] => Some(one.fd),
        _ => local_port(&mut conn).and_then(|port| socket::find(port, &addrs)),
    };
    match socket {
        Some(fd) => {
            socket::bound_silent(fd, network_timeout);
        }
        None => {
            socket::bound_silent_peers(&addrs, network_timeout);
        }
    }
    Ok(Connected {
        conn,
        socket: socket.and_then(SocketId::of),
    })
}

/// The error of a connect cut at its deadline, saying what did not answer.
fn timed_out(address: &NodeAddress, timeout: Duration, cut: socket::Cut) -> String {
    let host = address.host_port();
    if cut.connected > 0 && cut.connecting == 0 {
        format!(
            "{host} accepted the connection but did not complete the handshake: timed out \
             after {timeout:?} (connect_timeout; the server process is not answering)"
        )
    } else {
        format!(
            "can't connect to {host}: timed out after {timeout:?} (connect_timeout; the \
             host does not answer)"
        )
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
    pub(crate) fn registered(connected: Connected, sockets: &Arc<Sockets>) -> NodeConn {
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

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::errors::open_error_is_unavailable;

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
                "127.0.0.1:{port} accepted the connection but did not complete the \
                 handshake: timed out after 200ms (connect_timeout; the server process is \
                 not answering)"
            )
        );
        assert!(open_error_is_unavailable(&err), "{err}");
        drop(listener);
    }
}
