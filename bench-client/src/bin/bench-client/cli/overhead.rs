//! `bench-client overhead`: one workload direct and through a proxy, in rounds. Its legs
//! are runs, so it shares `run`'s load flags; a leg's warm-up is shorter (each round
//! warms up new connections twice).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::bail;
use bench_client::WatchPid;
use bench_client::{RunConfig, RunLength, WorkloadKind};
use bench_proto::ByteSize;
use bench_server::proxy::Strategy;
use clap::Args;

use bench_client::matrix::overhead::{self, OverheadConfig, Pair, RelaySettings};

use super::args::{FolderArgs, HostPort, LoadShape, NodelayArg, Recorded, ThreadsArg};
use super::{Switch, value_name};

/// `bench-client overhead`.
#[derive(Debug, Args)]
#[command(
    mut_arg("duration", |a| a.default_value("2s").help("Recorded time of each leg in each round")),
    mut_arg("warmup", |a| a.default_value("500ms").help(
        "Warm-up of each leg (new connections each time), not recorded"
    )),
    mut_arg("rate", |a| a.help(
        "Open loop: requests per second over all connections, the same on both legs, so \
         their latencies are compared at equal load (omitted: closed loop)"
    )),
    mut_arg("json", |a| a.help("Print overhead.json on stdout instead of the table")),
)]
pub struct OverheadArgs {
    /// The protocol to load.
    #[arg(value_enum, default_value = "tcp-echo")]
    workload: WorkloadKind,
    /// Rounds; each runs the direct leg, then the proxied one.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        allow_hyphen_values = true
    )]
    rounds: usize,
    #[command(flatten)]
    recorded: Recorded,
    #[command(flatten)]
    shape: LoadShape,
    #[command(flatten)]
    nodelay: NodelayArg,
    /// The server, straight (with --proxied; omitted: an embedded server and relay).
    #[arg(long, value_name = "ADDR")]
    direct: Option<String>,
    /// The proxy in front of --direct.
    #[arg(long, value_name = "ADDR")]
    proxied: Option<String>,
    /// The proxy's process id: its CPU time per request is accounted in the proxied legs
    /// (the embedded relay's is, without it).
    #[arg(long, value_name = "PID")]
    proxy_pid: Option<u32>,
    #[command(flatten)]
    relay: RelayArgs,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    pub folder: FolderArgs,
}

/// The embedded relay's flags: refused next to `--proxied`, which replaces the relay.
#[derive(Debug, Args)]
struct RelayArgs {
    /// Embedded relay: how it moves TCP bytes.
    #[arg(long, value_enum)]
    strategy: Option<Strategy>,
    /// Embedded relay: TCP_NODELAY on its client-facing connections (default on).
    #[arg(long, value_enum)]
    nodelay_front: Option<Switch>,
    /// Embedded relay: TCP_NODELAY on its upstream connections (default on).
    #[arg(long, value_enum)]
    nodelay_back: Option<Switch>,
    /// Embedded relay: bytes per read (default 64KiB).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    relay_buffer: Option<ByteSize>,
}

impl RelayArgs {
    /// Refuses any of these flags next to `--proxied proxied`.
    fn refuse_beside(&self, proxied: &str) -> anyhow::Result<()> {
        for (given, flag) in [
            (self.strategy.map(value_name), "--strategy"),
            (self.nodelay_front.map(value_name), "--nodelay-front"),
            (self.nodelay_back.map(value_name), "--nodelay-back"),
            (self.relay_buffer.map(|b| b.to_string()), "--relay-buffer"),
        ] {
            if let Some(value) = given {
                bail!(
                    "{flag} {value}: configures the embedded relay, which --proxied {proxied} replaces"
                );
            }
        }
        Ok(())
    }

    /// The embedded relay's settings, for a workload over TCP or not.
    fn settings(&self, tcp: bool) -> anyhow::Result<RelaySettings> {
        let mut relay = RelaySettings::default();
        if let Some(s) = self.strategy {
            relay.strategy = s;
            if !tcp && relay.strategy == Strategy::Splice {
                bail!("--strategy splice: relays TCP, and udp-echo is UDP");
            }
        }
        if let Some(n) = self.nodelay_front {
            relay.nodelay_front = n.on();
        }
        if let Some(n) = self.nodelay_back {
            relay.nodelay_back = n.on();
        }
        if let Some(b) = self.relay_buffer {
            relay.buffer = usize::try_from(b.0).unwrap_or(usize::MAX);
            if relay.buffer > bench_server::proxy::MAX_BUFFER {
                bail!(
                    "--relay-buffer {b}: above {}",
                    ByteSize(bench_server::proxy::MAX_BUFFER as u64)
                );
            }
        }
        Ok(relay)
    }
}

/// The pair of targets before resolution.
#[derive(Debug)]
enum PairPlan {
    /// An embedded server and relay with these settings.
    Embedded(RelaySettings),
    /// `--direct` and `--proxied`, as text.
    External { direct: HostPort, proxied: HostPort },
}

/// A checked overhead measurement whose addresses, if given, still have to be resolved.
#[derive(Debug)]
pub struct OverheadPlan {
    run: RunConfig,
    rounds: usize,
    pair: PairPlan,
    proxy_pid: Option<u32>,
    out_dir: PathBuf,
}

impl OverheadPlan {
    /// The config, the addresses (if any) resolved by `resolve`, then validated (the two
    /// must differ once resolved).
    pub fn into_config(
        self,
        resolve: impl Fn(&HostPort) -> anyhow::Result<SocketAddr>,
    ) -> anyhow::Result<OverheadConfig> {
        let pair = match self.pair {
            PairPlan::Embedded(relay) => Pair::Embedded(relay),
            PairPlan::External { direct, proxied } => Pair::External {
                direct: resolve(&direct)?,
                proxied: resolve(&proxied)?,
            },
        };
        let config = OverheadConfig {
            run: self.run,
            rounds: self.rounds,
            pair,
            proxy_pid: self.proxy_pid.map(|pid| WatchPid {
                name: "proxy".to_owned(),
                pid,
            }),
            out_dir: self.out_dir,
        };
        overhead::validate(&config)?;
        Ok(config)
    }
}

impl TryFrom<&OverheadArgs> for OverheadPlan {
    type Error = anyhow::Error;

    fn try_from(a: &OverheadArgs) -> anyhow::Result<OverheadPlan> {
        let tcp = a.workload != WorkloadKind::UdpEcho;
        let pair = match (&a.direct, &a.proxied) {
            (Some(direct), Some(proxied)) => {
                a.relay.refuse_beside(proxied)?;
                PairPlan::External {
                    direct: HostPort::parse("--direct", direct, tcp)?,
                    proxied: HostPort::parse("--proxied", proxied, tcp)?,
                }
            }
            (Some(direct), None) => bail!("--direct {direct}: give --proxied too"),
            (None, Some(proxied)) => bail!("--proxied {proxied}: give --direct too"),
            (None, None) => PairPlan::Embedded(a.relay.settings(tcp)?),
        };
        let mut run = RunConfig {
            workload: a.workload,
            length: RunLength::Duration(a.recorded.duration),
            threads: a.threads.count(),
            ..RunConfig::default()
        };
        a.recorded.base.apply(&mut run);
        a.shape.apply(&mut run)?;
        run.socket.nodelay = a.nodelay.nodelay.on();
        Ok(OverheadPlan {
            run,
            rounds: a.rounds,
            pair,
            proxy_pid: a.proxy_pid,
            out_dir: a.folder.out_dir.clone(),
        })
    }
}
