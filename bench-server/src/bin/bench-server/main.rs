//! The `bench-server` binary: parses the command line into a [`ServerConfig`], binds,
//! prints `listening on <proto> <addr>` per endpoint, and runs [`bench_server::run`]
//! until SIGINT or SIGTERM. Everything else lives in the library.

mod cli;
mod logger;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use bench_server::Endpoint;
use clap::Parser as _;
use smol::stream::StreamExt as _;

use cli::{Cli, Invocation};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bench_server::cli_support::exit_on_clap_error("bench-server", e),
    };
    let invocation = match Invocation::try_from(cli) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("bench-server: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    logger::init(invocation.log_level);
    match serve(invocation) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(inv: Invocation) -> anyhow::Result<()> {
    let endpoints = match inv.proto {
        Some(proto) => vec![Endpoint::bind(proto, inv.bind, &inv.config.socket)?],
        None => bench_server::bind_all(inv.bind, &inv.config.socket)?,
    };
    bench_server::validate(&endpoints, &inv.config)?;
    // Register the handlers before announcing the address, so a script that signals as
    // soon as it reads the line gets a graceful stop.
    let mut signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
            .context("installing SIGINT/SIGTERM handlers")?;
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

    let summary = bench_server::run(endpoints, &inv.config, async {
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
    })?;
    print!("{summary}");
    if let Some(path) = &inv.stats_json {
        let json = serde_json::to_vec_pretty(&summary)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
