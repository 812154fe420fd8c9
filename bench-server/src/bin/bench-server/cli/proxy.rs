//! The `proxy` subcommand: its flags and the relay settings they build. The upstream's
//! name is resolved by [`Relay::config`], after parsing.

use std::net::SocketAddr;
use std::path::PathBuf;

use bench_proto::{ByteSize, HumanDuration};
use bench_server::config::default_threads;
use bench_server::proxy::{ProxyConfig, ProxyModel, ProxyProto, Strategy};
use clap::Args;

use super::{HostPort, OutputArgs, Switch, choice};

/// Options of the `proxy` subcommand.
#[derive(Debug, Args)]
pub(super) struct ProxyArgs {
    /// Where to relay to, HOST:PORT (a name is resolved once, at start).
    #[arg(long, value_name = "ADDR", allow_hyphen_values = true)]
    upstream: String,
    /// Front address to bind; port 0 picks a free port (printed on the `listening on` line).
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// Transport to relay.
    #[arg(long, value_parser = choice::<ProxyProto>(), default_value = "tcp")]
    proto: ProxyProto,
    /// Engine: one edge-triggered event loop per thread (per-core, Linux), or tasks on
    /// a smol executor (async). Default: per-core on Linux.
    #[arg(long, value_parser = choice::<ProxyModel>())]
    model: Option<ProxyModel>,
    /// TCP: read/write through a buffer, or splice(2) socket -> pipe -> socket (Linux).
    #[arg(long, value_parser = choice::<Strategy>(), default_value = "copy")]
    strategy: Strategy,
    /// TCP: bytes per read (copy: each direction's buffer; splice: per call).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64KiB",
        allow_hyphen_values = true
    )]
    buffer: ByteSize,
    /// TCP_NODELAY on accepted client connections.
    #[arg(long, value_enum, default_value = "on")]
    nodelay_front: Switch,
    /// TCP_NODELAY on upstream connections.
    #[arg(long, value_enum, default_value = "on")]
    nodelay_back: Switch,
    /// TCP: close the client if the upstream does not accept within this long.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "3s",
        allow_hyphen_values = true
    )]
    connect_timeout: HumanDuration,
    /// UDP: close a session with no datagram either way for this long.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        allow_hyphen_values = true
    )]
    udp_session_timeout: HumanDuration,
    /// UDP: most sessions open at once; datagrams from new clients beyond it are dropped.
    #[arg(
        long,
        value_name = "N",
        default_value = "1024",
        allow_hyphen_values = true
    )]
    max_sessions: usize,
    /// Event loops (per-core) or executor threads (async); default: core count.
    #[arg(long, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// On shutdown, how long open TCP connections may keep relaying.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    grace: HumanDuration,
    /// A fault applied on purpose, `[up:|down:]NAME=VALUE` (repeatable; per-core model
    /// only). UDP: loss=1%, dup=1%, corrupt=0.1%, latency=5ms, jitter=2ms,
    /// reorder=25%,gap=10ms; TCP: latency=5ms, jitter=2ms, rate=10Mbit,
    /// slice=64B[,gap=1ms], stall=after:1MiB,for:2s, close-slowly=500ms (these need
    /// --strategy copy), reset=after:100KiB. See docs/proxy.md.
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    impair: Vec<String>,
    /// Seed of the impairments' dice: the same seed and traffic give the same faults.
    #[arg(long, value_name = "N", default_value = "0")]
    seed: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// The relay to run.
pub struct Relay {
    pub bind: SocketAddr,
    upstream: HostPort,
    /// The settings, complete but for `upstream`, which [`Relay::config`] fills in
    /// (boxed: the impairments make them larger than the other invocations).
    settings: Box<ProxyConfig>,
    pub stats_json: Option<PathBuf>,
    pub log_level: log::LevelFilter,
}

impl TryFrom<ProxyArgs> for Relay {
    type Error = anyhow::Error;

    fn try_from(args: ProxyArgs) -> anyhow::Result<Self> {
        let upstream = HostPort::parse("--upstream", &args.upstream)?;
        // Until `config` resolves the name, the upstream is the unspecified address.
        let mut settings = ProxyConfig::new(args.proto, SocketAddr::from(([0, 0, 0, 0], 0)));
        settings.model = args.model.unwrap_or_default();
        settings.strategy = args.strategy;
        settings.buffer = args.buffer.as_usize();
        settings.nodelay_front = args.nodelay_front.on();
        settings.nodelay_back = args.nodelay_back.on();
        settings.connect_timeout = args.connect_timeout.0;
        settings.udp_session_timeout = args.udp_session_timeout.0;
        settings.max_sessions = args.max_sessions;
        settings.threads = args.threads.unwrap_or_else(default_threads);
        settings.grace = args.grace.0;
        settings.impair.seed = args.seed;
        for spec in &args.impair {
            settings.impair.add(spec)?;
        }
        Ok(Relay {
            bind: args.bind,
            upstream,
            settings: Box::new(settings),
            stats_json: args.output.stats_json,
            log_level: args.output.log_level.filter(),
        })
    }
}

impl Relay {
    /// The relay's config: `--upstream` resolved (the one network look-up), then
    /// [`ProxyConfig::check`]ed. Call after parsing, before binding.
    pub fn config(&self) -> anyhow::Result<ProxyConfig> {
        let config = ProxyConfig {
            upstream: self.upstream.resolve()?,
            ..(*self.settings).clone()
        };
        config.check()?;
        Ok(config)
    }
}
