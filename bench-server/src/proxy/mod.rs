//! `bench-server proxy`: a relay between a front address and one upstream, TCP or UDP,
//! as a library the binary, the load generator's `overhead` command and the benches
//! drive the same way.
//!
//! # Layout
//!
//! - this module: [`Front`] (the bound front socket), [`run_proxy`] (on the shared
//!   `runtime`: executor threads, graceful stop) and [`spawn_proxy`] / [`ProxyHandle`] (the same on a background
//!   thread).
//! - `config`: [`ProxyConfig`] (plain, serialisable), its checks and [`ProxyError`].
//! - `tcp`: the accept loop, the upstream connect with its timeout, and the `copy`
//!   relay (one buffer per direction, half-close propagated).
//! - `fds`: the descriptor budget checked before a client is accepted.
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

mod config;
mod fds;
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

use smol::Async;
use smol::channel::Sender;

use crate::runtime::Runtime;
use crate::socket::{SocketOptions, bind_tcp, bind_udp};
use crate::stats::limiter::LogLimiter;
pub use config::{MAX_BUFFER, ProxyConfig, ProxyError, ProxyProto, Strategy};
pub use fds::cost as descriptors_per_connection;
pub use stats::{ProxyErrorKind, ProxyStats, ProxySummary};

fn io_err(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ProxyError {
    move |cause| ProxyError::Io {
        context: context(),
        cause,
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
    pub(crate) runtime: Runtime,
    /// Warning lines about refused or failed connections, one per second.
    pub(crate) warnings: LogLimiter,
}

impl Ctx {
    /// Completes when shutdown starts.
    pub(crate) async fn stopped(&self) {
        self.runtime.stopped().await;
    }

    /// See [`Runtime::keep_going`].
    pub(crate) async fn keep_going(&self, turns: &mut u64) -> bool {
        self.runtime.keep_going(turns).await
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
    let (runtime, tracker) = Runtime::new();
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        stats,
        runtime,
        warnings: LogLimiter::new(std::time::Instant::now()),
    });
    let context = || format!("registering {} {addr}", config.proto.as_str());
    match front {
        Front::Tcp(listener) => {
            let listener = Async::new(listener).map_err(io_err(context))?;
            let task = tcp::accept_loop(listener, Arc::clone(&ctx), tracker);
            ctx.runtime.spawn(task);
        }
        Front::Udp(socket) => {
            let socket = Arc::new(Async::new(socket).map_err(io_err(context))?);
            let task = udp::serve(socket, Arc::clone(&ctx), tracker);
            ctx.runtime.spawn(task);
        }
    }
    ctx.runtime
        .drive(config.threads, "bench-proxy", config.grace, shutdown)
        .map_err(io_err(|| "starting executor threads".to_owned()))?;
    Ok(ctx.stats.summary())
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
                cause: io::Error::other("panicked"),
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

    #[test]
    fn a_front_of_the_other_transport_is_refused() {
        let udp = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let err = validate(&udp, &config()).unwrap_err();
        assert!(matches!(err, ProxyError::FrontMismatch { .. }), "{err}");
        assert!(spawn_proxy(udp, config()).is_err());
    }
}
