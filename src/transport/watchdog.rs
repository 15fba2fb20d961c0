//! Cutting off node connections whose server stopped answering.
//!
//! A server *process* that hangs while its host is up (stopped, stuck on a dead disk,
//! swapped out) keeps its TCP connections alive: its kernel acknowledges what is sent and
//! answers keepalive probes, so neither `TCP_USER_TIMEOUT` nor keepalive (see
//! [`crate::transport::socket`]) ends a statement waiting on it, and Diesel's MySQL client has no
//! read timeout. Two pieces bound that wait:
//!
//! * a [`Timer`], owned by the monitor: each round's checks of a node run under a
//!   deadline (the cluster's `network_timeout`). A check that overruns has its socket
//!   shut down, which wakes the monitor with "lost connection";
//! * each node's [`Sockets`]: the sockets of every application connection to it. When
//!   the monitor finds a node hung, it ejects the node and shuts all of them down:
//!   statements waiting on it fail with a connection error, reads move to another node,
//!   and a write reports a lost connection (never retried: the server may still run it
//!   when it wakes up, as after any connection lost mid-statement).
//!
//! A connect in progress is covered by the same [`Timer`], the process-wide
//! [`connect_timer`]: at `connect_timeout` it shuts down the sockets that connect opened
//! (see [`super::connect::connect_node`]).
//!
//! Sockets are shut down, never closed: the descriptor stays its owner's. Two rules keep
//! a descriptor number that now names another file from being shut down:
//!
//! * an entry is removed, under the lock that shutting down takes, before its owner
//!   closes the descriptor: the owner holds the [`Registration`] or [`Armed`] guard in a
//!   field that drops before the connection, and drops the guard at once after any
//!   connection-level error, since the client library closes its socket by itself then
//!   (a session killed by the server, a lost connection) while the connection object
//!   lives on (e.g. inside a transaction, until Diesel's rollback);
//! * before any `shutdown`, the descriptor is checked to still be the registered socket
//!   (same inode, local and peer address, see [`SocketId`]); one that is not is skipped
//!   and its entry dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, Weak};
use std::task::Waker;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::transport::socket::{self, Severed, SocketId};

/// The sockets of the open application connections to one node.
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    open: Mutex<Vec<(u64, SocketId)>>,
    next_id: AtomicU64,
    /// How many times [`sever_all`](Self::sever_all) ran: statements of connections
    /// whose socket this set can't reach (the async connection's) fail when it changes.
    severed: AtomicU64,
    /// Those connections' wakers, one [`Watch`] each (see [`watch`](Self::watch)).
    watches: Mutex<Vec<Weak<Watch>>>,
}

/// The waker of the statement in flight on one async node connection, woken when its
/// node is severed. Each connection has its own, registered once when it opens, so a
/// statement's poll takes only this (uncontended) lock, not one shared by the node's
/// connections.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    waker: Mutex<Option<Waker>>,
}

#[cfg_attr(not(feature = "async"), allow(dead_code))]
impl Watch {
    /// Wakes `waker` at the next [`Sockets::sever_all`] (until [`clear`](Self::clear)).
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Forgets the waker (its statement ended), so it doesn't keep its task alive.
    pub(crate) fn clear(&self) {
        self.waker.lock().take();
    }

    fn wake(&self) {
        // Taken out first: the task may poll (and register) on another thread at once.
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Sockets {
    /// Registers the socket until the returned guard drops. The guard must drop before
    /// the descriptor is closed.
    pub(crate) fn register(self: &Arc<Self>, socket: SocketId) -> Registration {
        let id = self.next_id.fetch_add(1, Relaxed);
        self.open.lock().push((id, socket));
        Registration {
            set: self.clone(),
            id,
        }
    }

    /// Shuts down every registered socket that is still the socket it was registered as;
    /// returns how many. An entry whose descriptor now names something else is dropped.
    pub(crate) fn sever_all(&self) -> usize {
        // SeqCst, against `severed_since`: its statement registered its waker before
        // reading the count, so either it sees the new count or the wake below finds
        // its waker.
        self.severed.fetch_add(1, SeqCst);
        self.watches.lock().retain(|watch| match watch.upgrade() {
            Some(watch) => {
                watch.wake();
                true
            }
            None => false,
        });
        let mut open = self.open.lock();
        let mut severed = 0;
        open.retain(|(_, socket)| match socket.sever_if_same() {
            Severed::Yes => {
                severed += 1;
                true
            }
            Severed::Failed => true,
            Severed::Replaced => {
                log::warn!(
                    "watchdog: descriptor {} no longer is the registered socket; left it alone",
                    socket.fd
                );
                false
            }
        });
        severed
    }

    /// The count of [`sever_all`](Self::sever_all) calls so far.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn generation(&self) -> u64 {
        self.severed.load(SeqCst)
    }

    /// A waker slot for one connection to this node, woken by every
    /// [`sever_all`](Self::sever_all) while the returned `Arc` lives.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn watch(&self) -> Arc<Watch> {
        let watch = Arc::new(Watch::default());
        let mut watches = self.watches.lock();
        watches.retain(|w| w.strong_count() > 0);
        watches.push(Arc::downgrade(&watch));
        watch
    }

    /// Whether the node was severed since `generation`; if not, `waker` is woken (through
    /// `watch`) when it is.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn severed_since(&self, generation: u64, watch: &Watch, waker: &Waker) -> bool {
        watch.register(waker);
        self.severed.load(SeqCst) != generation
    }

    /// How many sockets are registered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.lock().len()
    }
}

/// A socket registered in a node's [`Sockets`]; unregisters it when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    set: Arc<Sockets>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.set.open.lock().retain(|(id, _)| *id != self.id);
    }
}

/// What a deadline cuts.
#[derive(Debug)]
enum Target {
    /// An open connection's socket.
    Socket(SocketId),
    /// The sockets of a connect in progress: this process's sockets to `peers`
    /// (connecting or connected) other than the `known` inodes, there before it began.
    Connect {
        peers: Vec<SocketAddr>,
        known: Vec<u64>,
        cut: Arc<Mutex<socket::Cut>>,
    },
}

#[derive(Debug)]
struct Deadline {
    id: u64,
    target: Target,
    at: Instant,
    fired: Arc<AtomicBool>,
    /// The deadline passed after the descriptor stopped naming the socket.
    gone: bool,
}

#[derive(Debug, Default)]
struct TimerState {
    deadlines: Vec<Deadline>,
    next_id: u64,
    stop: bool,
    /// When the thread wakes up next by itself (`None`: only when told). A deadline
    /// armed after that instant needs no wake-up: each wake-up costs the monitor a
    /// context switch in the middle of the round trip it is timing.
    wakes_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct TimerShared {
    state: Mutex<TimerState>,
    wake: Condvar,
}

/// Shuts down sockets whose deadline passed, from a thread of its own (a thread blocked
/// in the client can't time itself out). Ends its thread when dropped.
#[derive(Debug)]
pub(crate) struct Timer {
    shared: Arc<TimerShared>,
    thread: Option<JoinHandle<()>>,
}

impl Timer {
    pub(crate) fn start() -> Timer {
        Timer::start_named("diesel-cluster-watchdog")
    }

    fn start_named(name: &str) -> Timer {
        let shared = Arc::new(TimerShared::default());
        let for_thread = shared.clone();
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&for_thread))
            .map_err(|e| log::error!("could not start the watchdog thread: {e}"))
            .ok();
        Timer { shared, thread }
    }

    /// Shuts the socket down if the returned guard is still alive after `timeout` (and
    /// the descriptor still names it). The guard must drop before the descriptor is
    /// closed.
    pub(crate) fn arm(&self, socket: SocketId, timeout: Duration) -> Armed {
        self.arm_target(Target::Socket(socket), timeout)
    }

    /// Cuts the connect about to start if the returned guard is still alive after
    /// `timeout`: every socket of this process to `peers` that is connecting or connected
    /// and whose inode is not in `known` (see [`socket::sever_new_connections`]). The
    /// guard must drop as soon as the connect returned; the second value says, once the
    /// deadline fired, what it shut down.
    pub(crate) fn arm_connect(
        &self,
        peers: Vec<SocketAddr>,
        known: Vec<u64>,
        timeout: Duration,
    ) -> (Armed, Arc<Mutex<socket::Cut>>) {
        let cut = Arc::new(Mutex::new(socket::Cut::default()));
        let target = Target::Connect {
            peers,
            known,
            cut: cut.clone(),
        };
        (self.arm_target(target, timeout), cut)
    }

    fn arm_target(&self, target: Target, timeout: Duration) -> Armed {
        let fired = Arc::new(AtomicBool::new(false));
        let mut state = self.shared.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        let at = Instant::now() + timeout;
        state.deadlines.push(Deadline {
            id,
            target,
            at,
            fired: fired.clone(),
            gone: false,
        });
        let sooner = state.wakes_at.is_none_or(|w| at < w);
        drop(state);
        if sooner {
            self.shared.wake.notify_one();
        }
        Armed {
            timer: self.shared.clone(),
            id,
            fired,
        }
    }
}

/// The timer of every connect of the process (see [`super::connect::connect_node`]):
/// one thread for the process (named `dcl-connect`), started at the first connect, idle
/// while no connect is under way.
pub(crate) fn connect_timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer::start_named("dcl-connect"))
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &TimerShared) {
    let mut state = shared.state.lock();
    while !state.stop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for d in &mut state.deadlines {
            if d.gone || d.fired.load(Relaxed) {
                continue;
            }
            if d.at <= now {
                match &d.target {
                    // A descriptor that no longer names the socket was closed by its
                    // client after an error: the check it guarded has failed by itself,
                    // nothing hung.
                    Target::Socket(socket) => {
                        if socket.sever_if_same() == Severed::Replaced {
                            d.gone = true;
                            continue;
                        }
                    }
                    Target::Connect { peers, known, cut } => {
                        *cut.lock() = socket::sever_new_connections(peers, known);
                    }
                }
                d.fired.store(true, Relaxed);
            } else {
                next = Some(next.map_or(d.at, |n| n.min(d.at)));
            }
        }
        state.wakes_at = next;
        match next {
            Some(at) => {
                shared.wake.wait_until(&mut state, at);
            }
            None => shared.wake.wait(&mut state),
        }
    }
}

/// A deadline on a socket; disarmed when dropped.
#[derive(Debug)]
pub(crate) struct Armed {
    timer: Arc<TimerShared>,
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Armed {
    /// A flag that tells, even after this guard is gone, whether the deadline passed
    /// (and the socket was shut down).
    pub(crate) fn fired(&self) -> Arc<AtomicBool> {
        self.fired.clone()
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.timer
            .state
            .lock()
            .deadlines
            .retain(|d| d.id != self.id);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn id(s: &TcpStream) -> SocketId {
        SocketId::of(s.as_raw_fd()).unwrap()
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_deadline_that_passes_wakes_the_blocked_reader() {
        let timer = Timer::start();
        let (mut client, _server) = pair();
        // Read the clock before arming: the deadline is counted from inside `arm`, so a
        // clock read after it may see the deadline pass a little under 100 ms later.
        let started = Instant::now();
        let armed = timer.arm(id(&client), Duration::from_millis(100));
        let fired = armed.fired();
        // Blocks until the timer shuts the socket down (the server never writes).
        assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0);
        let took = started.elapsed();
        drop(armed);
        assert!(fired.load(Relaxed));
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(timer.shared.state.lock().deadlines.is_empty());
    }

    #[test]
    fn a_disarmed_deadline_never_fires() {
        let timer = Timer::start();
        let (client, mut server) = pair();
        let armed = timer.arm(id(&client), Duration::from_millis(50));
        let fired = armed.fired();
        drop(armed);
        // A later, longer deadline on another socket keeps the thread busy past it.
        let (other, _o) = pair();
        let _later = timer.arm(id(&other), Duration::from_secs(60));
        thread::sleep(Duration::from_millis(150));
        assert!(!fired.load(Relaxed));
        // The socket still works.
        use std::io::Write;
        (&client).write_all(b"ok").unwrap();
        let mut buf = [0u8; 2];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok");
    }

    #[test]
    fn dropping_the_timer_ends_its_thread() {
        let timer = Timer::start();
        let thread = timer.thread.as_ref().unwrap().thread().clone();
        assert_eq!(thread.name(), Some("diesel-cluster-watchdog"));
        drop(timer); // joins: returning at all is the test
    }

    #[test]
    fn severing_a_node_reaches_registered_sockets_only() {
        let sockets = Arc::new(Sockets::default());
        let (mut a, _sa) = pair();
        let (b, mut sb) = pair();
        let reg_a = sockets.register(id(&a));
        let reg_b = sockets.register(id(&b));
        assert_eq!(sockets.len(), 2);
        drop(reg_b); // b's owner is done with it: no longer the node's
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets.sever_all(), 1);
        assert_eq!(a.read(&mut [0u8; 8]).unwrap(), 0);
        use std::io::Write;
        (&b).write_all(b"ok").unwrap();
        let mut buf = [0u8; 2];
        sb.read_exact(&mut buf).unwrap();
        drop(reg_a);
        assert_eq!(sockets.len(), 0);
    }

    /// Closes a registered socket behind its registration's back (as the client library
    /// does when the server kills the session) and opens unrelated sockets until one
    /// gets the same descriptor number (the lowest free one: at once, unless another
    /// test thread took it). Returns the guard (still registered), the new socket, and
    /// its peer.
    fn reused<G>(register: impl Fn(SocketId) -> G) -> (G, TcpStream, TcpStream) {
        for _ in 0..100 {
            let (old, _old_peer) = pair();
            let guard = register(id(&old));
            let fd = old.as_raw_fd();
            drop(old);
            let (new, new_peer) = pair();
            if new.as_raw_fd() == fd {
                return (guard, new, new_peer);
            }
        }
        panic!("no descriptor number was reused in 100 tries");
    }

    fn still_usable(mut a: &TcpStream, b: &mut TcpStream) {
        use std::io::Write;
        a.write_all(b"ok").unwrap();
        let mut buf = [0u8; 2];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok");
    }

    #[test]
    fn severing_a_node_leaves_a_reused_descriptor_alone() {
        let sockets = Arc::new(Sockets::default());
        let (registration, new, mut new_peer) = reused(|s| sockets.register(s));
        assert_eq!(sockets.len(), 1);
        assert_eq!(
            sockets.sever_all(),
            0,
            "the reused descriptor was shut down"
        );
        assert_eq!(sockets.len(), 0, "the stale entry was dropped");
        still_usable(&new, &mut new_peer);
        still_usable(&new_peer, &mut new.try_clone().unwrap());
        drop(registration);
        assert_eq!(sockets.len(), 0);
    }

    #[test]
    fn a_deadline_on_a_closed_socket_leaves_a_reused_descriptor_alone() {
        let timer = Timer::start();
        let (armed, new, mut new_peer) = reused(|s| timer.arm(s, Duration::from_millis(30)));
        let fired = armed.fired();
        thread::sleep(Duration::from_millis(150));
        assert!(!fired.load(Relaxed), "a closed socket is no hung server");
        still_usable(&new, &mut new_peer);
        drop(armed);
        assert!(timer.shared.state.lock().deadlines.is_empty());
    }

    /// Counts its wakes.
    struct Count(AtomicU64);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn a_sever_wakes_each_watching_connection_once_and_forgets_dropped_ones() {
        let sockets = Sockets::default();
        let (a, b) = (sockets.watch(), sockets.watch());
        let (wa, wb) = (
            Arc::new(Count(AtomicU64::new(0))),
            Arc::new(Count(AtomicU64::new(0))),
        );
        let generation = sockets.generation();
        assert!(!sockets.severed_since(generation, &a, &Waker::from(wa.clone())));
        // Registering the same task again keeps one waker.
        assert!(!sockets.severed_since(generation, &a, &Waker::from(wa.clone())));
        assert!(!sockets.severed_since(generation, &b, &Waker::from(wb.clone())));
        b.clear();
        let c = sockets.watch();
        drop(c);
        sockets.sever_all();
        assert_eq!(wa.0.load(Relaxed), 1);
        assert_eq!(wb.0.load(Relaxed), 0, "a cleared watch was woken");
        assert!(sockets.severed_since(generation, &a, &Waker::from(wa.clone())));
        // The dropped watch is gone; the live ones stay registered.
        assert_eq!(sockets.watches.lock().len(), 2);
        drop(a);
        let _d = sockets.watch();
        assert_eq!(sockets.watches.lock().len(), 2, "b and d");
        // A dropped connection's watch is not woken, though `a` had registered its
        // waker again after the first sever.
        sockets.sever_all();
        assert_eq!(wa.0.load(Relaxed), 1);
    }
}
