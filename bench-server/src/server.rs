//! Running endpoints: binding, the accept loops of the three server models, UDP receive
//! loops, connection limits, and graceful shutdown.
//!
//! Shutdown is one closed channel: every accept loop, UDP loop and connection holds a
//! receiver and notices. Connections at a request boundary close at once; one in the
//! middle of a request gets `grace` to finish. Each task also holds a clone of a tracker
//! sender; when the last one is dropped, [`run`] knows everything has finished.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;
use smol::{Async, Executor, Timer};
use socket2::SockRef;

use crate::config::{Model, Proto, ServerConfig};
use crate::conn::{Conn, StopSignal};
use crate::socket::{SocketOptions, bind_tcp, bind_udp, configure_accepted};
use crate::stats::{ErrorKind, ServerSummary, Stats};

/// After shutdown, how long past the grace period [`run`] waits for tasks to notice.
const STOP_MARGIN: Duration = Duration::from_millis(250);

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `allow_exec` with an endpoint that is not on a loopback address.
    #[error(
        "--allow-exec refused: {addr} is not a loopback address (exec would run shell commands for anyone who can connect); bind 127.0.0.1 or ::1"
    )]
    ExecNeedsLoopback {
        /// The offending address.
        addr: SocketAddr,
    },
    /// `threads` is 0.
    #[error("--threads 0: at least one thread is needed")]
    NoThreads,
    /// A TCP listener was given the udp-echo protocol ([`Endpoint::from_tcp`]).
    #[error("{addr}: a TCP listener cannot serve udp-echo")]
    UdpOnTcpListener {
        /// The listener's address.
        addr: SocketAddr,
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

/// A bound socket and the protocol it will speak.
#[derive(Debug)]
pub struct Endpoint {
    proto: Proto,
    socket: BoundSocket,
}

#[derive(Debug)]
enum BoundSocket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Endpoint {
    /// Binds `addr` for `proto` with `opts` (port 0 picks a free port).
    ///
    /// ```
    /// use bench_server::{Endpoint, Proto, SocketOptions};
    /// let ep = Endpoint::bind(Proto::Framed, "127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    /// assert_ne!(ep.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(proto: Proto, addr: SocketAddr, opts: &SocketOptions) -> Result<Self, ServerError> {
        let context = || format!("binding {} {addr}", proto.as_str());
        let socket = match proto {
            Proto::UdpEcho => BoundSocket::Udp(bind_udp(addr, opts).map_err(io_err(context))?),
            Proto::TcpEcho | Proto::Framed => {
                BoundSocket::Tcp(bind_tcp(addr, opts).map_err(io_err(context))?)
            }
        };
        Ok(Endpoint { proto, socket })
    }

    /// Wraps an already-bound, listening TCP socket (`proto` tcp-echo or framed;
    /// [`validate`] refuses udp-echo). The config's socket options are applied to every
    /// accepted connection.
    pub fn from_tcp(proto: Proto, listener: TcpListener) -> Self {
        Endpoint {
            proto,
            socket: BoundSocket::Tcp(listener),
        }
    }

    /// Wraps an already-bound UDP socket (serves udp-echo).
    pub fn from_udp(socket: UdpSocket) -> Self {
        Endpoint {
            proto: Proto::UdpEcho,
            socket: BoundSocket::Udp(socket),
        }
    }

    /// The protocol.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.socket {
            BoundSocket::Tcp(l) => l.local_addr(),
            BoundSocket::Udp(s) => s.local_addr(),
        }
    }
}

fn io_err(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ServerError {
    move |source| ServerError::Io {
        context: context(),
        source,
    }
}

/// Binds tcp-echo, udp-echo and framed on three consecutive ports starting at `addr`'s.
/// With port 0, a free run of three ports is searched for.
pub fn bind_all(addr: SocketAddr, opts: &SocketOptions) -> Result<Vec<Endpoint>, ServerError> {
    const ORDER: [Proto; 3] = [Proto::TcpEcho, Proto::UdpEcho, Proto::Framed];
    let bind_run = |first: SocketAddr| -> Result<Vec<Endpoint>, ServerError> {
        let mut endpoints = Vec::with_capacity(3);
        let base = endpoints_base(first, &mut endpoints, opts)?;
        for (offset, proto) in ORDER.iter().enumerate().skip(1) {
            let port = base
                .port()
                .checked_add(offset as u16)
                .ok_or_else(|| ServerError::Io {
                    context: format!("binding {} after port {}", proto.as_str(), base.port()),
                    source: io::ErrorKind::AddrNotAvailable.into(),
                })?;
            endpoints.push(Endpoint::bind(
                *proto,
                SocketAddr::new(base.ip(), port),
                opts,
            )?);
        }
        Ok(endpoints)
    };
    if addr.port() != 0 {
        return bind_run(addr);
    }
    let mut last = None;
    for _ in 0..32 {
        match bind_run(addr) {
            Ok(endpoints) => return Ok(endpoints),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

fn endpoints_base(
    addr: SocketAddr,
    endpoints: &mut Vec<Endpoint>,
    opts: &SocketOptions,
) -> Result<SocketAddr, ServerError> {
    let first = Endpoint::bind(Proto::TcpEcho, addr, opts)?;
    let base = first
        .local_addr()
        .map_err(io_err(|| format!("reading address of {addr}")))?;
    endpoints.push(first);
    Ok(base)
}

/// Checks what [`run`] would refuse, before anything starts.
pub fn validate(endpoints: &[Endpoint], config: &ServerConfig) -> Result<(), ServerError> {
    if config.threads == 0 {
        return Err(ServerError::NoThreads);
    }
    for ep in endpoints {
        if let (Proto::UdpEcho, BoundSocket::Tcp(listener)) = (ep.proto, &ep.socket) {
            let addr = listener
                .local_addr()
                .map_err(io_err(|| "reading bound address".to_owned()))?;
            return Err(ServerError::UdpOnTcpListener { addr });
        }
    }
    if config.allow_exec {
        for ep in endpoints.iter().filter(|ep| ep.proto == Proto::Framed) {
            let addr = ep
                .local_addr()
                .map_err(io_err(|| "reading bound address".to_owned()))?;
            if !addr.ip().is_loopback() {
                return Err(ServerError::ExecNeedsLoopback { addr });
            }
        }
    }
    Ok(())
}

/// Serves `endpoints` until `shutdown` completes, then stops gracefully and returns the
/// counters. Blocks the calling thread; runs `config.threads` executor threads.
pub fn run(
    endpoints: Vec<Endpoint>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<ServerSummary, ServerError> {
    validate(&endpoints, config)?;
    let started = Instant::now();
    let shared = Arc::new(Shared::new(config.clone()));
    let (tracker, all_done) = smol::channel::bounded::<()>(1);
    let mut stats = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        stats.push(start_endpoint(ep, &shared, &tracker)?);
    }
    drop(tracker);

    let (close_executor, executor_closed) = smol::channel::bounded::<()>(1);
    thread::scope(|scope| -> Result<(), ServerError> {
        for i in 0..config.threads {
            let (ex, closed) = (&shared.executor, executor_closed.clone());
            thread::Builder::new()
                .name(format!("bench-server-{i}"))
                .spawn_scoped(scope, move || smol::block_on(ex.run(closed.recv())))
                .map_err(io_err(|| "starting executor threads".to_owned()))?;
        }
        smol::block_on(shutdown);
        shared.stop.close();
        smol::block_on(
            async {
                let _ = all_done.recv().await;
            }
            .or(async {
                Timer::after(config.grace + STOP_MARGIN).await;
            }),
        );
        close_executor.close();
        Ok(())
    })?;
    Ok(ServerSummary {
        uptime_s: started.elapsed().as_secs_f64(),
        endpoints: stats.iter().map(|s| s.snapshot()).collect(),
    })
}

/// State every task of one server run shares.
struct Shared {
    config: ServerConfig,
    executor: Executor<'static>,
    /// Closed to start shutdown; never sent on.
    stop: Sender<()>,
    stopped: Receiver<()>,
}

impl Shared {
    fn new(config: ServerConfig) -> Self {
        let (stop, stopped) = smol::channel::bounded(1);
        Shared {
            config,
            executor: Executor::new(),
            stop,
            stopped,
        }
    }

    /// A future that completes when shutdown starts (one allocation, per connection).
    fn stop_signal(&self) -> StopSignal {
        let stopped = self.stopped.clone();
        Box::pin(async move {
            let _ = stopped.recv().await;
        })
    }
}

fn start_endpoint(
    ep: Endpoint,
    shared: &Arc<Shared>,
    tracker: &Sender<()>,
) -> Result<Arc<Stats>, ServerError> {
    let addr = ep
        .local_addr()
        .map_err(io_err(|| "reading bound address".to_owned()))?;
    let stats = Arc::new(Stats::new(ep.proto, addr));
    let context = || format!("registering {} {addr}", ep.proto.as_str());
    match ep.socket {
        BoundSocket::Tcp(listener) => {
            let listener = Async::new(listener).map_err(io_err(context))?;
            let task = accept_loop(
                listener,
                Arc::clone(&stats),
                Arc::clone(shared),
                tracker.clone(),
            );
            shared.executor.spawn(task).detach();
        }
        BoundSocket::Udp(socket) => {
            let socket = Arc::new(Async::new(socket).map_err(io_err(context))?);
            for _ in 0..shared.config.threads {
                let (socket, stats, tracker) =
                    (Arc::clone(&socket), Arc::clone(&stats), tracker.clone());
                let stop = shared.stop_signal();
                let transform = shared.config.transform;
                shared
                    .executor
                    .spawn(async move {
                        crate::udp::serve(socket, transform, stats, stop).await;
                        drop(tracker);
                    })
                    .detach();
            }
        }
    }
    Ok(stats)
}

async fn accept_loop(
    listener: Async<TcpListener>,
    stats: Arc<Stats>,
    shared: Arc<Shared>,
    tracker: Sender<()>,
) {
    let mut stop = shared.stop_signal();
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                stop.as_mut().await;
                None
            })
            .await;
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                if let Some(conn) = admit(stream, peer, &stats, &shared, &tracker) {
                    match shared.config.model {
                        Model::Async => shared.executor.spawn(conn).detach(),
                        Model::Threads => spawn_thread(conn, &stats),
                        Model::Iterative => conn.await,
                    }
                }
            }
            Some(Err(e)) => {
                // EMFILE and friends: count, log, and back off instead of spinning.
                stats.error(ErrorKind::Io);
                log::warn!(
                    "{} {}: accept failed: {e}",
                    stats.proto().as_str(),
                    stats.addr()
                );
                Timer::after(Duration::from_millis(20)).await;
            }
        }
    }
}

fn spawn_thread(conn: impl Future<Output = ()> + Send + 'static, stats: &Stats) {
    let spawned = thread::Builder::new()
        .name("bench-server-conn".to_owned())
        .spawn(move || smol::block_on(conn));
    if let Err(e) = spawned {
        stats.error(ErrorKind::Io);
        log::warn!(
            "{} {}: cannot start a connection thread: {e}",
            stats.proto().as_str(),
            stats.addr()
        );
    }
}

/// Decrements the active count and releases the shutdown tracker when a connection ends,
/// however it ends (including when its task is dropped).
struct ConnGuard {
    stats: Arc<Stats>,
    _tracker: Sender<()>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

/// Counts the connection, applies limits and socket options, and returns the future
/// that serves it (`None`: refused or failed, already counted).
fn admit(
    stream: Async<TcpStream>,
    peer: SocketAddr,
    stats: &Arc<Stats>,
    shared: &Arc<Shared>,
    tracker: &Sender<()>,
) -> Option<impl Future<Output = ()> + Send + 'static> {
    let active = stats.connection_opened();
    let config = &shared.config;
    if config.max_conns.is_some_and(|max| active > max as u64) {
        // A refused connection does not hold a slot while its error frame goes out.
        stats.connection_closed();
        stats.error(ErrorKind::MaxConns);
        log::warn!(
            "{} {peer}: refused: {} connections open, --max-conns {}",
            stats.proto().as_str(),
            active - 1,
            config.max_conns.unwrap_or_default()
        );
        let refusal = refuse(stream, stats.proto(), active - 1);
        let (tracker, mut stop) = (tracker.clone(), shared.stop_signal());
        shared
            .executor
            .spawn(async move {
                let _tracker = tracker;
                refusal.or(stop.as_mut()).await;
            })
            .detach();
        return None;
    }
    let guard = ConnGuard {
        stats: Arc::clone(stats),
        _tracker: tracker.clone(),
    };
    if let Err(e) = configure_accepted(SockRef::from(stream.get_ref()), &config.socket) {
        stats.error(ErrorKind::Io);
        log::warn!(
            "{} {peer}: setting socket options: {e}",
            stats.proto().as_str()
        );
        return None;
    }
    let conn = Conn::new(
        stream,
        peer,
        Arc::clone(stats),
        config.idle_timeout,
        shared.stop_signal(),
    );
    let shared = Arc::clone(shared);
    Some(async move {
        let _guard = guard;
        let mut deadline = shared.stop_signal();
        let stats = Arc::clone(conn_stats(&conn));
        let serve = std::panic::AssertUnwindSafe(serve_conn(conn, &shared.config)).catch_unwind();
        let outcome = async { Some(serve.await) }
            .or(async {
                deadline.as_mut().await;
                Timer::after(shared.config.grace).await;
                None
            })
            .await;
        match outcome {
            Some(Ok(())) => {}
            Some(Err(_panic)) => {
                stats.error(ErrorKind::Io);
                log::error!(
                    "{} {peer}: connection handler panicked",
                    stats.proto().as_str()
                );
            }
            None => stats.error(ErrorKind::ShutdownCut),
        }
    })
}

fn conn_stats(conn: &Conn) -> &Arc<Stats> {
    conn.stats_arc()
}

async fn serve_conn(conn: Conn, config: &ServerConfig) {
    match conn.stats().proto() {
        Proto::TcpEcho => crate::echo::serve(conn, config.transform).await,
        Proto::Framed => crate::framed::serve(conn, config).await,
        Proto::UdpEcho => unreachable!("UDP endpoints have no connections"),
    }
}

/// Turns away a connection over `max_conns`: a framed client gets an error frame it can
/// read, then the connection closes. Ends within about two seconds, or at shutdown.
async fn refuse(stream: Async<TcpStream>, proto: Proto, open: u64) {
    if proto == Proto::Framed {
        let mut frame = Vec::new();
        let header = bench_proto::ResponseHeader::error(
            0,
            format!("server busy: {open} connections open, the --max-conns limit"),
        );
        if bench_proto::encode_header(&header, &mut frame).is_err() {
            return;
        }
        let mut stream = stream;
        let written = smol::io::AsyncWriteExt::write_all(&mut stream, &frame)
            .or(async {
                Timer::after(Duration::from_secs(1)).await;
                Err(io::ErrorKind::TimedOut.into())
            })
            .await;
        if written.is_ok() {
            let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
            let mut sink = [0u8; 1024];
            let _ = async {
                while smol::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
                io::Result::Ok(())
            }
            .or(async {
                Timer::after(Duration::from_secs(1)).await;
                Ok(())
            })
            .await;
        }
    }
}
