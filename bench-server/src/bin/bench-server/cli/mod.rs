//! Command-line parsing and validation, one file per subcommand group: `server` (the
//! four server subcommands) and `proxy`. clap structs parse; `TryFrom<Cli>` validates
//! and builds the plain [`ServerConfig`](bench_server::ServerConfig) (or the relay's
//! settings) without any I/O: host names are checked for shape here and resolved by
//! [`HostPort::resolve`] after parsing, before anything binds. Nothing clap-typed
//! leaves this module.

mod proxy;
mod server;

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_proto::HumanDuration;
use bench_server::Proto;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

pub use proxy::Relay;
pub use server::Servers;

/// Servers for wirebench: tcp-echo, udp-echo and the framed command protocol.
#[derive(Debug, Parser)]
#[command(name = "bench-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Echo every byte back (default bind 127.0.0.1:8081).
    TcpEcho(server::ServerArgs),
    /// Echo every datagram back (default bind 127.0.0.1:8082).
    UdpEcho(server::ServerArgs),
    /// The length-prefixed command protocol (default bind 127.0.0.1:8083).
    Framed(server::ServerArgs),
    /// tcp-echo, udp-echo and framed on three consecutive ports (default 127.0.0.1:8081).
    All(server::ServerArgs),
    /// A TCP or UDP relay to --upstream (default bind 127.0.0.1:8090).
    Proxy(proxy::ProxyArgs),
}

/// What to run: validated, clap-free; addresses given as names still to be resolved.
pub enum Invocation {
    /// One server, or `all`.
    Servers(Servers),
    /// The relay.
    Proxy(Relay),
}

impl TryFrom<Cli> for Invocation {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        let (proto, default_port, args) = match cli.command {
            Command::TcpEcho(a) => (Some(Proto::TcpEcho), 8081, a),
            Command::UdpEcho(a) => (Some(Proto::UdpEcho), 8082, a),
            Command::Framed(a) => (Some(Proto::Framed), 8083, a),
            Command::All(a) => (None, 8081, a),
            Command::Proxy(a) => return Ok(Invocation::Proxy(Relay::try_from(a)?)),
        };
        Ok(Invocation::Servers(Servers::new(
            proto,
            default_port,
            args,
        )?))
    }
}

/// The value parser of a flag that takes one of the library's enums (their `ValueEnum`
/// comes with the `cli` feature): the names are the enum's, the variants' doc lines are
/// dropped, so `--help` lists `[possible values: a, b]` like every other flag instead of
/// switching to its long layout for them.
fn choice<T: ValueEnum + Clone + Send + Sync + 'static>() -> impl TypedValueParser<Value = T> {
    let values = T::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .map(|value| value.help(None::<&'static str>));
    PossibleValuesParser::new(values)
        .map(|name| T::from_str(&name, false).expect("one of the listed values"))
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
        }
    }
}

/// What every subcommand reports and how loudly.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Write the shutdown stats summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
    /// Log level on stderr (one line per failed connection at `warn`).
    #[arg(long, value_enum, default_value = "warn")]
    log_level: LogLevel,
}

/// A `HOST:PORT` flag value: its shape is checked while parsing, a name is resolved
/// only by [`HostPort::resolve`] (so parsing does no I/O).
#[derive(Debug, Clone)]
pub struct HostPort {
    flag: &'static str,
    text: String,
    /// Set when `text` is an IP address and port already.
    literal: Option<SocketAddr>,
}

impl HostPort {
    /// `text` for `flag`: an address, or a host name with a port.
    fn parse(flag: &'static str, text: &str) -> anyhow::Result<Self> {
        let literal = text.parse().ok();
        if literal.is_none() {
            let shape_ok = text
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !shape_ok {
                bail!("{flag} {text}: not HOST:PORT (e.g. 127.0.0.1:8081)");
            }
        }
        Ok(HostPort {
            flag,
            text: text.to_owned(),
            literal,
        })
    }

    /// An address given as such (no resolution needed).
    fn addr(addr: SocketAddr) -> Self {
        HostPort {
            flag: "",
            text: addr.to_string(),
            literal: Some(addr),
        }
    }

    /// The address: the literal one, or the first the name resolves to (the one network
    /// look-up, done once, at start).
    pub fn resolve(&self) -> anyhow::Result<SocketAddr> {
        if let Some(addr) = self.literal {
            return Ok(addr);
        }
        let (flag, text) = (self.flag, &self.text);
        let resolved = match text.to_socket_addrs() {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                let host = text.rsplit_once(':').map_or(text.as_str(), |(h, _)| h);
                bail!("{flag} {text}: cannot resolve {host:?}: {e}")
            }
        };
        resolved.with_context(|| format!("{flag} {text}: the name has no address"))
    }
}

/// A duration or `off` for `flag`; zero is refused (it would close at once).
fn optional_duration(flag: &str, text: &str) -> anyhow::Result<Option<Duration>> {
    if text == "off" {
        return Ok(None);
    }
    let d: HumanDuration = text.parse().with_context(|| format!("{flag} {text:?}"))?;
    if d.0.is_zero() {
        bail!("{flag} {text}: use `off` to disable it");
    }
    Ok(Some(d.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(args: &[&str]) -> anyhow::Result<Invocation> {
        let cli = Cli::try_parse_from(std::iter::once("bench-server").chain(args.iter().copied()))?;
        Invocation::try_from(cli)
    }

    #[test]
    fn parsing_checks_the_shape_of_an_address_but_resolves_nothing() {
        // A name that cannot resolve parses: the look-up comes later, before binding.
        let Ok(Invocation::Servers(servers)) =
            invocation(&["tcp-echo", "--bind", "no-such-host.invalid:1"])
        else {
            panic!("a well-formed name is accepted while parsing");
        };
        assert_eq!(servers.bind.text, "no-such-host.invalid:1");
        assert!(servers.bind.literal.is_none());
        let Ok(Invocation::Proxy(_)) =
            invocation(&["proxy", "--upstream", "no-such-host.invalid:9"])
        else {
            panic!("a well-formed upstream name is accepted while parsing");
        };
        for bad in ["no-port", ":80", "host:port", "host:70000"] {
            let Err(e) = invocation(&["tcp-echo", "--bind", bad]) else {
                panic!("{bad} is not HOST:PORT");
            };
            assert_eq!(
                e.to_string(),
                format!("--bind {bad}: not HOST:PORT (e.g. 127.0.0.1:8081)")
            );
        }
    }

    #[test]
    fn a_literal_address_resolves_to_itself_and_the_default_bind_is_loopback() {
        let Ok(Invocation::Servers(servers)) = invocation(&["framed"]) else {
            panic!("framed with defaults");
        };
        assert_eq!(
            servers.bind.resolve().unwrap(),
            "127.0.0.1:8083".parse().unwrap()
        );
        let Ok(Invocation::Proxy(relay)) = invocation(&[
            "proxy",
            "--upstream",
            "127.0.0.1:7001",
            "--strategy",
            "splice",
        ]) else {
            panic!("proxy with a literal upstream");
        };
        let config = relay.config().unwrap();
        assert_eq!(config.upstream, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(config.strategy, bench_server::proxy::Strategy::Splice);
        assert_eq!(config.model, bench_server::proxy::ProxyModel::default());
    }

    #[test]
    fn proxy_model_flag_picks_the_engine() {
        use bench_server::proxy::ProxyModel;
        for (flag, model) in [
            ("per-core", ProxyModel::PerCore),
            ("async", ProxyModel::Async),
        ] {
            let args = ["proxy", "--upstream", "127.0.0.1:7001", "--model", flag];
            let Ok(Invocation::Proxy(relay)) = invocation(&args) else {
                panic!("proxy --model {flag}");
            };
            assert_eq!(relay.config().unwrap().model, model);
        }
        assert!(
            invocation(&[
                "proxy",
                "--upstream",
                "127.0.0.1:7001",
                "--model",
                "threads"
            ])
            .is_err()
        );
    }
}
