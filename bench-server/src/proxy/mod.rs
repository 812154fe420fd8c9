//! `bench-server proxy`: a relay between a front address and one upstream, TCP or UDP,
//! as a library the binary, the load generator's `overhead` command and the benches
//! drive the same way.
//!
//! # Layout
//!
//! - this module: [`ProxyConfig`] (plain, serialisable), [`Front`] (the bound front
//!   socket), [`run_proxy`] (executor threads, graceful stop) and [`spawn_proxy`] /
//!   [`ProxyHandle`] (the same on a background thread).
//! - `tcp`: the accept loop, the upstream connect with its timeout, and the `copy`
//!   relay (one buffer per direction, half-close propagated).
//! - `splice`: the Linux `splice` relay (socket -> pipe -> socket, no copy to user space).
//! - `udp`: sessions per client address, each with its own connected upstream socket,
//!   idle expiry and the session bound.
//! - `stats`: [`ProxyStats`] counters and the [`ProxySummary`] written at shutdown.
//!
//! # Example
//!
//! ```
//! use bench_server::proxy::{Front, ProxyConfig, ProxyProto, spawn_proxy};
//! use bench_server::{Endpoint, Proto, ServerConfig};
//! use std::io::{Read, Write};
//!
//! let config = ServerConfig::default();
//! let ep = Endpoint::bind(Proto::TcpEcho, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
//! let server = bench_server::spawn(vec![ep], config).unwrap();
//!
//! let proxy_config = ProxyConfig::new(ProxyProto::Tcp, server.addr(Proto::TcpEcho).unwrap());
//! let front = Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().unwrap()).unwrap();
//! let proxy = spawn_proxy(front, proxy_config).unwrap();
//!
//! let mut client = std::net::TcpStream::connect(proxy.addr()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut reply = [0u8; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"ping");
//! drop(client);
//!
//! let summary = proxy.stop().unwrap();
//! assert_eq!(summary.bytes_to_upstream, 4);
//! server.stop().unwrap();
//! ```

#[cfg(target_os = "linux")]
mod splice;
mod stats;
mod tcp;
mod udp;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;
use smol::{Async, Executor, Timer};

use crate::socket::{SocketOptions, bind_tcp, bind_udp};
pub use stats::{ProxyErrorKind, ProxyStats, ProxySummary};

/// After shutdown, how long past the grace period [`run_proxy`] waits for tasks to notice.
const STOP_MARGIN: Duration = Duration::from_millis(250);

/// Largest `buffer` accepted: a larger one only wastes memory per connection.
pub const MAX_BUFFER: usize = 64 << 20;

/// Which transport the relay carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProto {
    /// One upstream connection per client connection.
    Tcp,
    /// One upstream socket per client address (a session).
    Udp,
}

impl ProxyProto {
    /// The name used in `listening on <proto> <addr>` and in stats.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyProto::Tcp => "proxy-tcp",
            ProxyProto::Udp => "proxy-udp",
        }
    }
}

/// How TCP bytes move from one leg to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `read` into a user-space buffer of [`ProxyConfig::buffer`] bytes, then `write`.
    #[default]
    Copy,
    /// Linux `splice(2)`: socket -> pipe -> socket, the bytes never enter user space.
    Splice,
}

impl Strategy {
    /// The flag value (`copy`, `splice`).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Copy => "copy",
            Strategy::Splice => "splice",
        }
    }
}

/// Everything a relay run needs besides its front socket. Plain and serialisable, so a
/// report can embed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// TCP or UDP (must match the [`Front`]).
    pub proto: ProxyProto,
    /// Where every client connection or session is relayed to.
    pub upstream: SocketAddr,
    /// TCP: how bytes are moved.
    pub strategy: Strategy,
    /// TCP: bytes per read (`copy`: the size of each direction's buffer; `splice`: the
    /// most moved per call, and the pipe size asked for).
    pub buffer: usize,
    /// TCP_NODELAY on accepted client connections.
    pub nodelay_front: bool,
    /// TCP_NODELAY on upstream connections.
    pub nodelay_back: bool,
    /// TCP: how long an upstream connect may take before the client is closed.
    #[serde(with = "bench_proto::units::duration_text")]
    pub connect_timeout: Duration,
    /// UDP: a session with no datagram either way for this long is closed.
    #[serde(with = "bench_proto::units::duration_text")]
    pub udp_session_timeout: Duration,
    /// UDP: at most this many sessions; datagrams from new clients beyond it are dropped.
    pub max_sessions: usize,
    /// Executor threads.
    pub threads: usize,
    /// On shutdown, how long open TCP connections may keep relaying.
    #[serde(with = "bench_proto::units::duration_text")]
    pub grace: Duration,
}

impl ProxyConfig {
    /// Defaults for a relay of `proto` to `upstream`: `copy`, 64 KiB buffers, nodelay on
    /// both legs, 3 s connect timeout, 30 s UDP session timeout, 1,024 sessions, one
    /// thread per core, 5 s grace.
    pub fn new(proto: ProxyProto, upstream: SocketAddr) -> Self {
        ProxyConfig {
            proto,
            upstream,
            strategy: Strategy::Copy,
            buffer: 64 * 1024,
            nodelay_front: true,
            nodelay_back: true,
            connect_timeout: Duration::from_secs(3),
            udp_session_timeout: Duration::from_secs(30),
            max_sessions: 1024,
            threads: crate::config::default_threads(),
            grace: Duration::from_secs(5),
        }
    }
}

/// Why a relay could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// `threads` is 0.
    #[error("--threads 0: at least one thread is needed")]
    NoThreads,
    /// `buffer` is 0 or above [`MAX_BUFFER`].
    #[error("--buffer {}: must be between 1B and 64MiB", bench_proto::ByteSize(*.0 as u64))]
    BufferOutOfRange(usize),
    /// `max_sessions` is 0.
    #[error("--max-sessions 0: at least one session is needed")]
    NoSessions,
    /// A zero `connect_timeout` or `udp_session_timeout`.
    #[error("{0} 0s: must be longer than zero")]
    ZeroTimeout(&'static str),
    /// `splice` asked for on a system without `splice(2)`.
    #[error("--strategy splice: splice(2) exists only on Linux; use --strategy copy")]
    SpliceUnsupported,
    /// The front socket's transport is not the config's `proto`.
    #[error("the front socket is {front} but the config says {config}")]
    FrontMismatch {
        /// The front socket's transport.
        front: &'static str,
        /// The config's.
        config: &'static str,
    },
    /// A socket or thread operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the address.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ProxyError {
    move |source| ProxyError::Io {
        context: context(),
        source,
    }
}

/// The bound front socket clients talk to: a TCP listener or a UDP socket.
#[derive(Debug)]
pub enum Front {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
}

impl Front {
    /// Binds `addr` for `proto` (port 0 picks a free port). TCP listeners get
    /// SO_REUSEADDR, like the servers'.
    ///
    /// ```
    /// use bench_server::proxy::{Front, ProxyProto};
    /// let front = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert_ne!(front.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(proto: ProxyProto, addr: SocketAddr) -> Result<Front, ProxyError> {
        let context = || format!("binding {} {addr}", proto.as_str());
        let opts = SocketOptions::default();
        Ok(match proto {
            ProxyProto::Tcp => Front::Tcp(bind_tcp(addr, &opts).map_err(io_err(context))?),
            ProxyProto::Udp => Front::Udp(bind_udp(addr, &opts).map_err(io_err(context))?),
        })
    }

    /// The transport.
    pub fn proto(&self) -> ProxyProto {
        match self {
            Front::Tcp(_) => ProxyProto::Tcp,
            Front::Udp(_) => ProxyProto::Udp,
        }
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Front::Tcp(l) => l.local_addr(),
            Front::Udp(s) => s.local_addr(),
        }
    }
}

impl From<TcpListener> for Front {
    fn from(listener: TcpListener) -> Self {
        Front::Tcp(listener)
    }
}

impl From<UdpSocket> for Front {
    fn from(socket: UdpSocket) -> Self {
        Front::Udp(socket)
    }
}

impl ProxyConfig {
    /// Checks the settings on their own (the binary does this before binding).
    ///
    /// ```
    /// use bench_server::proxy::{ProxyConfig, ProxyProto};
    /// let mut config = ProxyConfig::new(ProxyProto::Tcp, "127.0.0.1:7001".parse().unwrap());
    /// assert!(config.check().is_ok());
    /// config.buffer = 0;
    /// assert_eq!(config.check().unwrap_err().to_string(), "--buffer 0B: must be between 1B and 64MiB");
    /// ```
    pub fn check(&self) -> Result<(), ProxyError> {
        if self.threads == 0 {
            return Err(ProxyError::NoThreads);
        }
        if self.buffer == 0 || self.buffer > MAX_BUFFER {
            return Err(ProxyError::BufferOutOfRange(self.buffer));
        }
        if self.max_sessions == 0 {
            return Err(ProxyError::NoSessions);
        }
        if self.connect_timeout.is_zero() {
            return Err(ProxyError::ZeroTimeout("--connect-timeout"));
        }
        if self.udp_session_timeout.is_zero() {
            return Err(ProxyError::ZeroTimeout("--udp-session-timeout"));
        }
        if self.strategy == Strategy::Splice && !cfg!(target_os = "linux") {
            return Err(ProxyError::SpliceUnsupported);
        }
        Ok(())
    }
}

/// Checks what [`run_proxy`] would refuse, before anything starts: the config
/// ([`ProxyConfig::check`]) and that the front socket speaks its `proto`.
pub fn validate(front: &Front, config: &ProxyConfig) -> Result<(), ProxyError> {
    config.check()?;
    if front.proto() != config.proto {
        return Err(ProxyError::FrontMismatch {
            front: front.proto().as_str(),
            config: config.proto.as_str(),
        });
    }
    Ok(())
}

/// What every task of one relay run shares.
pub(crate) struct Ctx {
    pub(crate) config: ProxyConfig,
    pub(crate) stats: Arc<ProxyStats>,
    pub(crate) executor: Executor<'static>,
    /// Closed to start shutdown; never sent on.
    stop: Sender<()>,
    stopped: Receiver<()>,
}

impl Ctx {
    /// Completes when shutdown starts.
    pub(crate) async fn stopped(&self) {
        let _ = self.stopped.recv().await;
    }
}

/// Relays until `shutdown` completes, then stops gracefully (TCP connections get
/// `grace` to finish; UDP sessions end at once) and returns the counters. Blocks the
/// calling thread; runs `config.threads` executor threads.
pub fn run_proxy(
    front: Front,
    config: &ProxyConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<ProxySummary, ProxyError> {
    validate(&front, config)?;
    let addr = front
        .local_addr()
        .map_err(io_err(|| "reading bound address".to_owned()))?;
    let stats = Arc::new(ProxyStats::new(config.proto, addr, config.upstream));
    run_counted(front, config, stats, shutdown)
}

/// [`run_proxy`] with counters the caller can also read while it runs.
fn run_counted(
    front: Front,
    config: &ProxyConfig,
    stats: Arc<ProxyStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<ProxySummary, ProxyError> {
    let addr = stats.addr();
    let (stop, stopped) = smol::channel::bounded(1);
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        stats,
        executor: Executor::new(),
        stop,
        stopped,
    });
    // Every task holds a clone of `tracker`; when the last is dropped, all have ended.
    let (tracker, all_done) = smol::channel::bounded::<()>(1);
    let context = || format!("registering {} {addr}", config.proto.as_str());
    match front {
        Front::Tcp(listener) => {
            let listener = Async::new(listener).map_err(io_err(context))?;
            let task = tcp::accept_loop(listener, Arc::clone(&ctx), tracker);
            ctx.executor.spawn(task).detach();
        }
        Front::Udp(socket) => {
            let socket = Arc::new(Async::new(socket).map_err(io_err(context))?);
            let task = udp::serve(socket, Arc::clone(&ctx), tracker);
            ctx.executor.spawn(task).detach();
        }
    }
    drive(&ctx, shutdown, all_done)?;
    Ok(ctx.stats.summary())
}

/// Runs the executor threads until `shutdown`, then closes the stop channel and waits
/// for every task (at most `grace` plus a margin).
fn drive(
    ctx: &Arc<Ctx>,
    shutdown: impl Future<Output = ()>,
    all_done: Receiver<()>,
) -> Result<(), ProxyError> {
    let (close_executor, executor_closed) = smol::channel::bounded::<()>(1);
    thread::scope(|scope| -> Result<(), ProxyError> {
        for i in 0..ctx.config.threads {
            let (ex, closed) = (&ctx.executor, executor_closed.clone());
            thread::Builder::new()
                .name(format!("bench-proxy-{i}"))
                .spawn_scoped(scope, move || smol::block_on(ex.run(closed.recv())))
                .map_err(io_err(|| "starting executor threads".to_owned()))?;
        }
        smol::block_on(shutdown);
        ctx.stop.close();
        smol::block_on(
            async {
                let _ = all_done.recv().await;
            }
            .or(async {
                Timer::after(ctx.config.grace + STOP_MARGIN).await;
            }),
        );
        close_executor.close();
        Ok(())
    })
}

/// A relay running on a background thread; [`ProxyHandle::stop`] ends it.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    stats: Arc<ProxyStats>,
    stop: Sender<()>,
    thread: Option<JoinHandle<Result<ProxySummary, ProxyError>>>,
}

impl ProxyHandle {
    /// The front address clients connect (or send) to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far, while the relay runs.
    pub fn summary(&self) -> ProxySummary {
        self.stats.summary()
    }

    /// Starts the graceful stop and waits for it; returns the counters.
    pub fn stop(mut self) -> Result<ProxySummary, ProxyError> {
        self.stop.close();
        let thread = self.thread.take().expect("joined once");
        thread.join().unwrap_or_else(|_| {
            Err(ProxyError::Io {
                context: "proxy thread".to_owned(),
                source: io::Error::other("panicked"),
            })
        })
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop.close();
    }
}

/// Runs [`run_proxy`] on a background thread until [`ProxyHandle::stop`] (dropping the
/// handle stops the relay too, without waiting). Configuration errors are returned here.
pub fn spawn_proxy(front: Front, config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    validate(&front, &config)?;
    let addr = front
        .local_addr()
        .map_err(io_err(|| "reading bound address".to_owned()))?;
    let stats = Arc::new(ProxyStats::new(config.proto, addr, config.upstream));
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread_stats = Arc::clone(&stats);
    let thread = thread::Builder::new()
        .name("bench-proxy".to_owned())
        .spawn(move || {
            run_counted(front, &config, thread_stats, async move {
                let _ = stopped.recv().await;
            })
        })
        .map_err(io_err(|| "starting the proxy thread".to_owned()))?;
    Ok(ProxyHandle {
        addr,
        stats,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProxyConfig {
        ProxyConfig::new(ProxyProto::Tcp, "127.0.0.1:7001".parse().unwrap())
    }

    type Change = fn(&mut ProxyConfig);

    #[test]
    fn check_names_each_bad_setting() {
        let cases: [(Change, &str); 6] = [
            (|c| c.threads = 0, "--threads 0"),
            (|c| c.buffer = 0, "--buffer 0B"),
            (|c| c.buffer = MAX_BUFFER + 1, "--buffer 67108865B"),
            (|c| c.max_sessions = 0, "--max-sessions 0"),
            (
                |c| c.connect_timeout = Duration::ZERO,
                "--connect-timeout 0s",
            ),
            (
                |c| c.udp_session_timeout = Duration::ZERO,
                "--udp-session-timeout 0s",
            ),
        ];
        for (change, names) in cases {
            let mut c = config();
            change(&mut c);
            let text = c.check().unwrap_err().to_string();
            assert!(
                text.starts_with(names),
                "{text:?} does not start with {names:?}"
            );
        }
        let mut c = config();
        c.buffer = MAX_BUFFER;
        assert!(c.check().is_ok());
    }

    #[test]
    fn a_front_of_the_other_transport_is_refused() {
        let udp = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let err = validate(&udp, &config()).unwrap_err();
        assert!(matches!(err, ProxyError::FrontMismatch { .. }), "{err}");
        assert!(spawn_proxy(udp, config()).is_err());
    }

    #[test]
    fn config_serialises_plainly_with_text_durations() {
        let json = serde_json::to_value(config()).unwrap();
        assert_eq!(json["proto"], "tcp");
        assert_eq!(json["strategy"], "copy");
        assert_eq!(json["upstream"], "127.0.0.1:7001");
        assert_eq!(json["buffer"], 65536);
        assert_eq!(json["connect_timeout"], "3s");
        assert_eq!(json["udp_session_timeout"], "30s");
        let back: ProxyConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config());
    }
}
