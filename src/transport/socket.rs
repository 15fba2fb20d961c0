//! The node sockets under Diesel's MySQL client, reached from outside it.
//!
//! Diesel's MySQL client has no read or write timeout reachable through its URL, and it
//! does not hand out its socket. Without help, a statement sent on a connection whose
//! peer vanished (network partition, host powered off) waits until TCP gives up: about 15
//! minutes with Linux defaults. So after the client connects, we find its socket among
//! the process's file descriptors (by its local port, which the server reports, and its
//! peer address) and set:
//!
//! * `TCP_USER_TIMEOUT`: data sent and not acknowledged within the timeout aborts the
//!   connection (a partition while a statement is being sent);
//! * TCP keepalive probes (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
//!   `TCP_KEEPCNT`): a connection waiting for a reply whose peer stops answering probes
//!   is aborted after about the timeout (a partition while waiting for a result).
//!
//! The aborted statement fails with a connection-level error, so the node is ejected and
//! a read is retried elsewhere. A long-running query is not affected: its peer's kernel
//! keeps acknowledging. A server *process* that hangs while its host stays up is not
//! detected this way (its kernel still answers); [`crate::transport::watchdog`] handles that case
//! with [`sever`], which shuts a socket down so that a client blocked on it wakes up
//! with "lost connection".
//!
//! Linux only; elsewhere nothing is found and nothing is changed.

use std::net::SocketAddr;
use std::time::Duration;

/// A file descriptor number (`RawFd` on Unix).
pub(crate) type Fd = i32;

/// The TCP socket of this process whose local port is `local_port` and whose peer is one
/// of `peers`: the socket of a client connection the server described as
/// `host:local_port`.
#[cfg(target_os = "linux")]
pub(crate) fn find(local_port: u16, peers: &[SocketAddr]) -> Option<Fd> {
    connected_to(peers)
        .find(|&fd| address_of(fd, Side::Local).is_some_and(|a| a.port() == local_port))
}

/// The descriptors of this process that are TCP sockets connected to one of `peers`.
#[cfg(target_os = "linux")]
fn connected_to(peers: &[SocketAddr]) -> impl Iterator<Item = Fd> + '_ {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<Fd>().ok())
        .filter(|&fd| address_of(fd, Side::Peer).is_some_and(|p| peers.contains(&p)))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn find(_local_port: u16, _peers: &[SocketAddr]) -> Option<Fd> {
    None
}

/// The TCP sockets of this process connected to one of `peers`, with their identities:
/// taken before and after a connect, the difference is the new connection's socket.
#[cfg(target_os = "linux")]
pub(crate) fn connected_ids(peers: &[SocketAddr]) -> Vec<SocketId> {
    connected_to(peers).filter_map(SocketId::of).collect()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn connected_ids(_peers: &[SocketAddr]) -> Vec<SocketId> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn bound_silent(_fd: Fd, _timeout: Duration) -> bool {
    false
}

/// A socket as it was when it was handed to the watchdog: its descriptor number, and
/// what that number named then (the socket's inode, its local and its peer address).
///
/// The number alone is not enough: when a server kills a session, the client library
/// closes its socket at once, while the connection object (and so its registration)
/// lives on; the next socket or file the process opens gets the same number. Before
/// shutting a descriptor down, [`sever_if_same`](SocketId::sever_if_same) checks that
/// it still names the same connected socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketId {
    pub(crate) fd: Fd,
    inode: (u64, u64),
    local: SocketAddr,
    peer: SocketAddr,
}

/// What [`SocketId::sever_if_same`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severed {
    /// The socket was shut down.
    Yes,
    /// It is still the same socket, but `shutdown` failed (e.g. already disconnected).
    Failed,
    /// The descriptor no longer names this socket (closed, maybe reused): left alone.
    Replaced,
}

impl SocketId {
    /// The identity of `fd` now, if it is a connected TCP socket.
    #[cfg(target_os = "linux")]
    pub(crate) fn of(fd: Fd) -> Option<SocketId> {
        Some(SocketId {
            fd,
            inode: inode_of(fd)?,
            local: address_of(fd, Side::Local)?,
            peer: address_of(fd, Side::Peer)?,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn of(_fd: Fd) -> Option<SocketId> {
        None
    }

    /// The socket's inode number (as `/proc/net/tcp` shows it).
    pub(crate) fn inode(&self) -> u64 {
        self.inode.1
    }

    /// Whether the descriptor still names this socket.
    pub(crate) fn is_current(&self) -> bool {
        SocketId::of(self.fd).is_some_and(|now| now == *self)
    }

    /// Shuts the socket down (see [`sever`]) if its descriptor still names it.
    ///
    /// The check and the `shutdown` are two system calls: a descriptor closed and reused
    /// in between would still be hit. Its owner closes it only after a connection-level
    /// error, and unregisters it right then (see `connection::nodes`), so that window is
    /// the few instructions between the client library's `close` and the unregistration,
    /// and the check covers everything after it.
    pub(crate) fn sever_if_same(&self) -> Severed {
        if !self.is_current() {
            return Severed::Replaced;
        }
        if sever(self.fd) {
            Severed::Yes
        } else {
            Severed::Failed
        }
    }
}

/// The device and inode of the file `fd` names: for a socket, an identity no other
/// open socket shares.
#[cfg(target_os = "linux")]
fn inode_of(fd: Fd) -> Option<(u64, u64)> {
    // SAFETY: `fstat` writes into the buffer we pass; a closed descriptor makes it fail.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return None;
        }
        Some((st.st_dev, st.st_ino))
    }
}

/// Shuts the socket `fd` down in both directions, without closing the descriptor (its
/// owner still does that): a thread blocked reading it returns at once, and its MySQL
/// client reports a lost connection. Callers outside tests go through
/// [`SocketId::sever_if_same`], which checks first that `fd` is still the socket it was.
#[cfg(unix)]
pub(crate) fn sever(fd: Fd) -> bool {
    // SAFETY: `shutdown` on a descriptor number has no memory effects; on a number that
    // is not a socket it fails with ENOTSOCK.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) == 0 }
}

#[cfg(not(unix))]
pub(crate) fn sever(_fd: Fd) -> bool {
    false
}

/// Applies the timeout to every TCP socket of this process connected to one of `peers`.
/// Returns how many sockets it changed. Sockets of other connections to the same peer
/// get the same, harmless, settings. Used only when [`find`] can't single the client's
/// socket out.
#[cfg(target_os = "linux")]
pub(crate) fn bound_silent_peers(peers: &[SocketAddr], timeout: Duration) -> usize {
    connected_to(peers)
        .filter(|&fd| bound_silent(fd, timeout))
        .count()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn bound_silent_peers(_peers: &[SocketAddr], _timeout: Duration) -> usize {
    0
}

/// Shuts down this process's TCP sockets to one of `peers` that are connecting
/// (`SYN_SENT`) or connected, except those whose inode is in `known` (the sockets that
/// were there before the connect being timed out). A socket still connecting has no peer
/// for `getpeername`, so the kernel's socket table (`/proc/net/tcp`, `tcp6`) says which
/// inodes go to `peers`; the process's descriptors say which of those are ours. Returns
/// how many were shut down: the connect they belong to fails at once ("Can't connect",
/// or "Lost connection ... reading initial communication packet" for a server that
/// accepted and never greeted).
#[cfg(target_os = "linux")]
pub(crate) fn sever_new_connections(peers: &[SocketAddr], known: &[u64]) -> Cut {
    let mut inodes = Vec::new();
    for (table, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(
                text.lines()
                    .skip(1)
                    .filter_map(|l| to_peer_inode(l, v6, peers)),
            );
        }
    }
    inodes.retain(|(i, _)| !known.contains(i));
    let mut cut = Cut::default();
    if inodes.is_empty() {
        return cut;
    }
    let ours: Vec<(Fd, bool)> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_string_lossy();
            let inode: u64 = target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            let connected = inodes.iter().find(|(i, _)| *i == inode)?.1;
            Some((entry.file_name().to_str()?.parse::<Fd>().ok()?, connected))
        })
        .collect();
    for (fd, connected) in ours {
        if sever(fd) {
            match connected {
                true => cut.connected += 1,
                false => cut.connecting += 1,
            }
        }
    }
    cut
}

/// The sockets [`sever_new_connections`] shut down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Still connecting (`SYN_SENT`): the host did not answer.
    pub(crate) connecting: usize,
    /// Connected: the server accepted and did not finish the handshake in time.
    pub(crate) connected: usize,
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn sever_new_connections(_peers: &[SocketAddr], _known: &[u64]) -> Cut {
    Cut::default()
}

/// The inode of a `/proc/net/tcp` line whose socket is connecting (state 02) or
/// connected (01) to one of `peers`, and whether it is connected.
#[cfg(target_os = "linux")]
fn to_peer_inode(line: &str, v6: bool, peers: &[SocketAddr]) -> Option<(u64, bool)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (remote, state, inode) = (fields.get(2)?, fields.get(3)?, fields.get(9)?);
    if *state != "01" && *state != "02" {
        return None;
    }
    let (ip, port) = remote.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The address is printed 32 bits at a time, each word in the host's byte order.
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let addr: std::net::IpAddr = match (v6, words.as_slice()) {
        (false, [w]) => std::net::Ipv4Addr::from(w.to_ne_bytes()).into(),
        (true, [a, b, c, d]) => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(v6.into(), Into::into)
        }
        _ => return None,
    };
    let matches = peers.iter().any(|p| p.port() == port && p.ip() == addr);
    matches
        .then(|| Some((inode.parse().ok()?, *state == "01")))
        .flatten()
}

#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
enum Side {
    Local,
    Peer,
}

/// The local or remote address of `fd` if it is a connected TCP socket.
#[cfg(target_os = "linux")]
fn address_of(fd: libc::c_int, side: Side) -> Option<SocketAddr> {
    // SAFETY: `getsockopt`/`getsockname`/`getpeername` only read the descriptor and write
    // into the buffers we pass with their true sizes; an fd that is not a socket (or was
    // closed since the directory was read) makes them fail, which we treat as "not ours".
    unsafe {
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let ok = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        );
        if ok != 0 || kind != libc::SOCK_STREAM {
            return None;
        }
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let addr = (&mut storage as *mut libc::sockaddr_storage).cast();
        let got = match side {
            Side::Local => libc::getsockname(fd, addr, &mut len),
            Side::Peer => libc::getpeername(fd, addr, &mut len),
        };
        if got != 0 {
            return None;
        }
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET => {
                let a = &*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a = &*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
            }
            _ => None,
        }
    }
}

/// Bounds how long the socket `fd` may wait on a silent peer (see the module docs).
#[cfg(target_os = "linux")]
pub(crate) fn bound_silent(fd: Fd, timeout: Duration) -> bool {
    let secs = timeout.as_secs().max(3);
    let idle = (secs / 3).max(1) as libc::c_int;
    let interval = (secs / 6).max(1) as libc::c_int;
    let user_timeout = timeout.as_millis().min(libc::c_uint::MAX as u128) as libc::c_uint;
    let set = |level, name, value: libc::c_int| {
        // SAFETY: a plain integer option on a descriptor we just identified as a TCP
        // socket; failure is reported, never undefined.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle)
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, interval)
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3)
        && set(
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            user_timeout as libc::c_int,
        )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_socket_table_is_read() {
        let peer: SocketAddr = "127.0.0.1:3401".parse().unwrap();
        let v6_peer: SocketAddr = "[::1]:3402".parse().unwrap();
        let line = |remote: &str, state: &str, inode: u64| {
            format!("  0: 0100007F:B6A2 {remote} {state} 00000000:00000000 00:00000000 00000000  0  0 {inode} 1 0")
        };
        // 127.0.0.1:3401 (0x0D49), connecting, then connected; another port; listening.
        assert_eq!(
            to_peer_inode(&line("0100007F:0D49", "02", 77), false, &[peer]),
            Some((77, false))
        );
        assert_eq!(
            to_peer_inode(&line("0100007F:0D49", "01", 78), false, &[peer]),
            Some((78, true))
        );
        assert_eq!(
            to_peer_inode(&line("0100007F:0D4A", "01", 79), false, &[peer]),
            None
        );
        assert_eq!(
            to_peer_inode(&line("0100007F:0D49", "0A", 80), false, &[peer]),
            None
        );
        // ::1 and the IPv4-mapped form of 127.0.0.1 in the tcp6 table.
        let v6 = line("00000000000000000000000001000000:0D4A", "02", 81);
        assert_eq!(to_peer_inode(&v6, true, &[v6_peer]), Some((81, false)));
        let mapped = line("0000000000000000FFFF00000100007F:0D49", "01", 82);
        assert_eq!(to_peer_inode(&mapped, true, &[peer]), Some((82, true)));
        assert_eq!(to_peer_inode("garbage", false, &[peer]), None);
    }

    #[test]
    fn finds_and_configures_sockets_by_peer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let changed = bound_silent_peers(&[addr], Duration::from_secs(6));
        assert_eq!(changed, 1);
        // SAFETY: reading integer options back from a socket we own.
        let get = |level, name| unsafe {
            use std::os::fd::AsRawFd;
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::getsockopt(
                client.as_raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            );
            v
        };
        assert_eq!(get(libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 2);
        assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 1);
        assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT), 6000);
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(bound_silent_peers(&[other], Duration::from_secs(6)), 0);
    }

    #[test]
    fn finds_a_socket_by_local_port_and_severs_it() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let _other = std::net::TcpStream::connect(addr).unwrap();
        let (_server, seen_from) = listener.accept().unwrap();
        let fd = find(seen_from.port(), &[addr]);
        assert_eq!(fd, Some(client.as_raw_fd()));
        assert_eq!(
            find(seen_from.port(), &["127.0.0.1:1".parse().unwrap()]),
            None
        );

        // A reader blocked on the socket wakes up when it is severed.
        let reader = std::thread::spawn(move || client.read(&mut [0u8; 16]).map_err(|e| e.kind()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(sever(fd.unwrap()));
        assert_eq!(reader.join().unwrap(), Ok(0));
    }
}
