//! The `bench-server` binary: parses the command line into a [`bench_server::ServerConfig`]
//! (or a [`bench_server::proxy::ProxyConfig`]), resolves the addresses it names, binds,
//! prints `listening on <proto> <addr>` per endpoint, and runs [`bench_server::run`] (or
//! [`bench_server::proxy::spawn_proxy`]) until SIGINT or SIGTERM. Everything else lives in
//! the library.
//!
//! Exit codes: 0 after a graceful stop (or for `--help`), 2 for a usage error (a flag,
//! or an address that does not resolve), 1 when binding or running fails.

mod cli;
mod logger;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use bench_server::Endpoint;
use bench_server::proxy::ProxyConfig;
use clap::Parser as _;
use smol::stream::StreamExt as _;

use cli::{Cli, Invocation, Relay, Servers};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bench_server::cli_support::exit_on_clap_error("bench-server", e),
    };
    let invocation = match Invocation::try_from(cli) {
        Ok(inv) => inv,
        Err(e) => return usage_error(&e),
    };
    // Names are resolved after parsing and before binding; a name that does not resolve
    // is a usage error like a malformed flag.
    let outcome = match invocation {
        Invocation::Servers(servers) => {
            let bind = match servers.bind.resolve() {
                Ok(addr) => addr,
                Err(e) => return usage_error(&e),
            };
            logger::init(servers.log_level);
            serve(servers, bind)
        }
        Invocation::Proxy(relay) => {
            let config = match relay.config() {
                Ok(config) => config,
                Err(e) => return usage_error(&e),
            };
            logger::init(relay.log_level);
            proxy(relay, &config)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Prints a usage error as one line; exit code 2.
fn usage_error(e: &anyhow::Error) -> ExitCode {
    eprintln!("bench-server: error: {e:#}");
    ExitCode::from(2)
}

fn serve(inv: Servers, bind: SocketAddr) -> anyhow::Result<()> {
    let endpoints = match inv.proto {
        Some(proto) => vec![Endpoint::bind(proto, bind, &inv.config.socket)?],
        None => bench_server::bind_all(bind, &inv.config.socket)?,
    };
    bench_server::validate(&endpoints, &inv.config)?;
    let signals = install_signals()?;
    let mut stdout = std::io::stdout().lock();
    for ep in &endpoints {
        writeln!(
            stdout,
            "listening on {} {}",
            ep.proto().as_str(),
            ep.local_addr()?
        )?;
    }
    stdout.flush()?;
    drop(stdout);

    let summary = bench_server::run(endpoints, &inv.config, until_signalled(signals))?;
    print!("{summary}");
    if let Some(path) = &inv.stats_json {
        write_json(path, &summary)?;
    }
    Ok(())
}

fn proxy(inv: Relay, config: &ProxyConfig) -> anyhow::Result<()> {
    let front = bench_server::proxy::Front::bind(config.proto, inv.bind)?;
    let signals = install_signals()?;
    // Started before the announcement, so the per-core loops' sockets (the front's
    // SO_REUSEPORT group) all exist when the first client arrives.
    let relay = bench_server::proxy::spawn_proxy(front, config.clone())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "listening on {} {}",
        config.proto.as_str(),
        relay.addr()
    )?;
    stdout.flush()?;
    drop(stdout);

    smol::block_on(until_signalled(signals));
    let summary = relay.stop()?;
    print!("{summary}");
    if let Some(path) = &inv.stats_json {
        write_json(path, &summary)?;
    }
    Ok(())
}

/// Registers the handlers; call before announcing the address, so a script that signals
/// as soon as it reads the line gets a graceful stop.
fn install_signals() -> anyhow::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
        .context("installing SIGINT/SIGTERM handlers")
}

/// Completes at the first SIGINT or SIGTERM; a second one during the graceful stop
/// exits at once.
async fn until_signalled(mut signals: async_signal::Signals) {
    if let Some(Ok(signal)) = signals.next().await {
        log::info!("received {signal:?}: stopping");
    }
    // A second signal during the grace period means "now": exit without waiting.
    let impatient = std::thread::Builder::new()
        .name("bench-server-signals".to_owned())
        .spawn(move || {
            if let Some(Ok(signal)) = smol::block_on(signals.next()) {
                eprintln!("bench-server: second {signal:?} during shutdown: exiting now");
                std::process::exit(130);
            }
        });
    if let Err(e) = impatient {
        log::warn!("cannot watch for a second signal: {e}");
    }
}

/// Writes `value` as pretty JSON to `path`, through a temporary file and a rename.
fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(value)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
