//! `overhead`: what a proxy adds. The same workload runs alternately straight to the
//! server and through the proxy, in several short rounds (direct, proxied, direct,
//! proxied, ...), so slow drifts of the machine hit both legs alike. The result, per
//! percentile and for throughput: the proxied/direct ratio and the added latency, each
//! with its spread (median, min and max over the rounds), plus both legs' histograms
//! merged over the rounds.
//!
//! By default the pair is embedded: a bench-server and a bench-server relay
//! (`bench_server::proxy`) in this process on 127.0.0.1:0. [`Pair::External`] measures
//! anything else (haproxy, nginx `stream`, a relay elsewhere) given the two addresses.
//!
//! The folder: `direct-<n>.json` and `proxied-<n>.json` per round, `overhead.json`
//! (schema [`OVERHEAD_SCHEMA`]) and `report.html`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use bench_server::proxy::{Front, ProxyConfig, ProxyProto, Strategy, spawn_proxy};

use crate::analysis::Field;
use crate::config::{ConfigError, RunConfig, Target, WorkloadKind};
use crate::engine::{Run, RunError, Stopper, WatchPid};
use crate::output::{file_stamp, rfc3339};
use crate::report::overhead::{
    FieldOverhead, Leg, LegRow, OVERHEAD_SCHEMA, OverheadSummary, ProxyCpu, Round, Spread,
};
use crate::report::{Latency, LatencySummary, ReportError, write_atomic};

use super::unique_dir;

/// The embedded relay's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySettings {
    /// copy or splice.
    pub strategy: Strategy,
    /// TCP_NODELAY on the relay's client-facing connections.
    pub nodelay_front: bool,
    /// TCP_NODELAY on the relay's upstream connections.
    pub nodelay_back: bool,
    /// Bytes per read (copy: each direction's buffer).
    pub buffer: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            strategy: Strategy::Copy,
            nodelay_front: true,
            nodelay_back: true,
            buffer: 64 * 1024,
        }
    }
}

/// The two ways to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Pair {
    /// A bench-server and a relay in front of it, both in this process.
    Embedded(RelaySettings),
    /// Somebody else's server and proxy.
    External {
        /// The server itself.
        direct: SocketAddr,
        /// The proxy in front of it.
        proxied: SocketAddr,
    },
}

/// An overhead measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct OverheadConfig {
    /// The workload of every leg (its target is replaced per leg; with an embedded pair
    /// its [`Target::Embedded`] settings configure the server).
    pub run: RunConfig,
    /// Rounds; each runs the direct leg, then the proxied one.
    pub rounds: usize,
    /// The two ways.
    pub pair: Pair,
    /// The proxy's process (`--proxy-pid`), whose CPU time the proxied legs account.
    pub proxy_pid: Option<WatchPid>,
    /// Where the time-stamped folder goes.
    pub out_dir: PathBuf,
}

/// Checks the configuration before anything runs.
pub fn validate(config: &OverheadConfig) -> Result<(), ConfigError> {
    let bad = |flag: &'static str, value: String, reason: &str| ConfigError {
        flag,
        value,
        reason: reason.to_owned(),
    };
    if !(1..=1000).contains(&config.rounds) {
        return Err(bad(
            "--rounds",
            config.rounds.to_string(),
            "must be 1..=1000",
        ));
    }
    match &config.pair {
        Pair::External { direct, proxied } if direct == proxied => {
            return Err(bad(
                "--proxied",
                proxied.to_string(),
                "is the --direct address: nothing would be compared",
            ));
        }
        Pair::Embedded(relay) if relay.buffer == 0 => {
            return Err(bad("--relay-buffer", "0".to_owned(), "must be at least 1B"));
        }
        _ => {}
    }
    let mut run = config.run.clone();
    if let Pair::External { direct, .. } = config.pair {
        run.target = Target::External { addr: direct };
    }
    run.validate()
}

/// Why an overhead measurement could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OverheadError {
    /// A leg could not start.
    // The cause is `source`, which `{:#}` prints after this: not in the message too.
    #[error("round {round} {leg}")]
    Run {
        /// Which round.
        round: usize,
        /// Which leg.
        leg: &'static str,
        /// Why.
        source: RunError,
    },
    /// The embedded relay could not start.
    #[error("embedded relay")]
    Relay(#[from] bench_server::proxy::ProxyError),
    /// The embedded server could not start.
    #[error("embedded server: {0}")]
    Server(RunError),
    /// [`Pair::Embedded`] with a run whose target is external: the pair's server is the
    /// run's embedded one, so the run must not name a target (a caller's bug: the CLI
    /// never builds this).
    #[error("an embedded pair needs an embedded target")]
    EmbeddedPairWithExternalTarget,
    /// A file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What a finished measurement left behind.
#[derive(Debug)]
pub struct OverheadOutcome {
    /// The time-stamped folder.
    pub dir: PathBuf,
    /// `overhead.json`; the page is the caller's ([`crate::render::write_overhead_page`]).
    pub summary: OverheadSummary,
}

/// Runs the rounds; `on_leg` sees each leg's run before it starts (for a progress
/// display). Reports are written as soon as each leg ends.
pub fn run_overhead(
    config: &OverheadConfig,
    stopper: &Stopper,
    mut on_leg: impl FnMut(&str, &Run),
) -> Result<OverheadOutcome, OverheadError> {
    let started = SystemTime::now();
    // The pair: addresses, and the embedded server and relay kept alive for all rounds.
    let mut server = None;
    let mut relay = None;
    let mut relay_config = None;
    let (direct_addr, proxied_addr) = match &config.pair {
        Pair::External { direct, proxied } => (*direct, *proxied),
        Pair::Embedded(settings) => {
            let (handle, _) = crate::engine::start_embedded(&config.run)
                .map_err(OverheadError::Server)?
                .ok_or(OverheadError::EmbeddedPairWithExternalTarget)?;
            let upstream = handle
                .addr(config.run.workload.proto())
                .expect("the embedded server bound its endpoint");
            let proto = if config.run.workload == WorkloadKind::UdpEcho {
                ProxyProto::Udp
            } else {
                ProxyProto::Tcp
            };
            let mut proxy = ProxyConfig::new(proto, upstream);
            proxy.strategy = settings.strategy;
            proxy.nodelay_front = settings.nodelay_front;
            proxy.nodelay_back = settings.nodelay_back;
            proxy.buffer = settings.buffer;
            let front = Front::bind(proto, "127.0.0.1:0".parse().expect("literal"))?;
            let handle_relay = spawn_proxy(front, proxy.clone())?;
            let proxied = handle_relay.addr();
            server = Some(handle);
            relay = Some(handle_relay);
            relay_config = Some(proxy);
            (upstream, proxied)
        }
    };
    let dir = unique_dir(&config.out_dir, &file_stamp(started))?;
    let mut rounds = Vec::new();
    let mut merged = [Latency::default(), Latency::default()];
    let mut totals = [(0u64, 0f64); 2];
    let mut interrupted = false;
    'rounds: for round in 1..=config.rounds {
        // Both legs first; a round counts (and is merged) only when both finished.
        let mut legs = Vec::with_capacity(2);
        for (leg, addr) in [(Leg::Direct, direct_addr), (Leg::Proxied, proxied_addr)] {
            if stopper.is_stopped() {
                interrupted = true;
                break 'rounds;
            }
            let fail = |source| OverheadError::Run {
                round,
                leg: leg.as_str(),
                source,
            };
            let mut run_config = config.run.clone();
            run_config.target = Target::External { addr };
            run_config.label = format!("overhead round {round} {}", leg.as_str());
            let watched = match leg {
                Leg::Proxied => config.proxy_pid.iter().cloned().collect(),
                Leg::Direct => Vec::new(),
            };
            let run = Run::with_stopper(run_config, stopper.clone())
                .and_then(|run| run.watch(watched))
                .map_err(|e| fail(RunError::Config(e)))?;
            let name = format!("{}-{round}", leg.as_str());
            on_leg(&name, &run);
            let flag = match (&config.pair, leg) {
                (Pair::External { .. }, Leg::Direct) => "--direct",
                (Pair::External { .. }, Leg::Proxied) => "--proxied",
                (Pair::Embedded(_), _) => "--target",
            };
            let report = run.execute().map_err(|e| fail(e.for_flag(flag)))?;
            let file = format!("{name}.json");
            report.write(&dir.join(&file))?;
            if report.interrupted {
                // A leg cut short is not comparable with its partner: keep its report,
                // leave the round out of the summary.
                interrupted = true;
                break 'rounds;
            }
            legs.push((LegRow::new(&file, &report), report));
        }
        for (i, (_, report)) in legs.iter().enumerate() {
            merged[i].merge(&Latency {
                hist: report.latency.decode()?,
                out_of_range: report.latency.out_of_range,
            });
            totals[i].0 += report.totals.ok;
            totals[i].1 += report.duration_s;
        }
        let proxied = legs.pop().expect("two legs").0;
        let direct = legs.pop().expect("two legs").0;
        rounds.push(Round {
            round,
            direct,
            proxied,
        });
    }
    let relay_stats = relay.and_then(|r| r.stop().ok());
    if let Some(server) = server {
        let _ = server.stop();
    }
    let rate = |(ok, secs): (u64, f64)| if secs > 0.0 { ok as f64 / secs } else { 0.0 };
    let direct = LatencySummary::new(&merged[0]);
    let proxied = LatencySummary::new(&merged[1]);
    let fields = fields(&rounds, &direct, &proxied, rate(totals[0]), rate(totals[1]));
    let summary = OverheadSummary {
        schema: OVERHEAD_SCHEMA.to_owned(),
        started_at: rfc3339(started),
        interrupted,
        workload: config.run.workload,
        direct_addr: direct_addr.to_string(),
        proxied_addr: proxied_addr.to_string(),
        embedded: matches!(config.pair, Pair::Embedded(_)),
        server: matches!(config.pair, Pair::Embedded(_))
            .then(|| crate::engine::embedded_server_config(&config.run))
            .flatten(),
        relay: relay_config,
        relay_stats,
        proxy_cpu: ProxyCpu::of(
            &rounds,
            config
                .proxy_pid
                .as_ref()
                .map_or_else(|| "embedded relay".to_owned(), |p| format!("pid {}", p.pid)),
        ),
        rounds,
        direct,
        proxied,
        fields,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summaries serialise");
    write_atomic(&dir.join("overhead.json"), &json)?;
    Ok(OverheadOutcome { dir, summary })
}

fn fields(
    rounds: &[Round],
    direct: &LatencySummary,
    proxied: &LatencySummary,
    direct_rps: f64,
    proxied_rps: f64,
) -> Vec<FieldOverhead> {
    if rounds.is_empty() {
        return Vec::new();
    }
    let merged = |s: &LatencySummary, field: Field| {
        field
            .of_summary(s)
            .expect("the overhead's latency fields are in the summary")
    };
    // The fields a leg row carries, in the table's order.
    Field::ALL
        .into_iter()
        .filter(|f| f.in_leg_row())
        .map(|field| {
            let (d, p) = if field == Field::Rps {
                (direct_rps, proxied_rps)
            } else {
                (merged(direct, field), merged(proxied, field))
            };
            // Rounds where a leg completed nothing have no latency to compare.
            let comparable = rounds
                .iter()
                .filter(|r| r.direct.requests_per_s > 0.0 && r.proxied.requests_per_s > 0.0);
            let ratios: Vec<f64> = comparable
                .clone()
                .map(|r| crate::analysis::ratio(r.proxied.get(field), r.direct.get(field)))
                .filter(|v| v.is_finite())
                .collect();
            let added: Vec<f64> = comparable
                .map(|r| r.proxied.get(field) - r.direct.get(field))
                .collect();
            FieldOverhead {
                field: field.name().to_owned(),
                direct: d,
                proxied: p,
                ratio: Some(crate::analysis::ratio(p, d)).filter(|v| v.is_finite()),
                ratio_rounds: (!ratios.is_empty()).then(|| Spread::of(&ratios)),
                added_ns_rounds: (field.is_latency() && !added.is_empty())
                    .then(|| Spread::of(&added)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A leg whose latencies are `1..=1000` us times `scale`, at `rps` req/s.
    fn leg(scale: u64, rps: f64) -> (LegRow, LatencySummary) {
        let mut latency = Latency::default();
        for us in 1..=1000 {
            latency.record(Duration::from_micros(us * scale));
        }
        let l = LatencySummary::new(&latency);
        let row = LegRow {
            report: "leg.json".to_owned(),
            requests_per_s: rps,
            p50_ns: l.p50_ns,
            p75_ns: l.p75_ns,
            p90_ns: l.p90_ns,
            p95_ns: l.p95_ns,
            p99_ns: l.p99_ns,
            p99_9_ns: l.p99_9_ns,
            p99_99_ns: l.p99_99_ns,
            max_ns: l.max_ns,
            errors: 0,
            cpu_us_per_req: None,
            proxy_cpu_us_per_req: None,
            proxy_cpu_cores: None,
        };
        (row, l)
    }

    #[test]
    fn the_overhead_has_p75_and_p95_rows_in_percentile_order() {
        let (direct, direct_summary) = leg(1, 2000.0);
        let (proxied, proxied_summary) = leg(2, 1000.0);
        let rounds = [Round {
            round: 1,
            direct,
            proxied,
        }];
        let fields = fields(&rounds, &direct_summary, &proxied_summary, 2000.0, 1000.0);
        let names: Vec<String> = fields.iter().map(|f| f.field.clone()).collect();
        assert_eq!(
            names,
            [
                "req/s", "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max"
            ]
        );
        let p95 = &fields[4];
        assert_eq!(p95.direct, direct_summary.p95_ns as f64);
        let ratio = p95.ratio.expect("direct is not 0");
        assert!((ratio - 2.0).abs() < 0.01, "{p95:?}");
        let added = p95.added_ns_rounds.expect("one round with both legs");
        assert_eq!(
            added.median,
            (proxied_summary.p95_ns - direct_summary.p95_ns) as f64
        );
        let summary = OverheadSummary {
            schema: OVERHEAD_SCHEMA.to_owned(),
            started_at: "now".to_owned(),
            interrupted: false,
            workload: WorkloadKind::TcpEcho,
            direct_addr: "127.0.0.1:1".to_owned(),
            proxied_addr: "127.0.0.1:2".to_owned(),
            embedded: false,
            server: None,
            relay: None,
            relay_stats: None,
            proxy_cpu: None,
            rounds: rounds.to_vec(),
            direct: direct_summary,
            proxied: proxied_summary,
            fields,
        };
        let table = crate::analysis::format_overhead_table(&summary);
        let lines: Vec<&str> = table.lines().collect();
        // The heading line, then one per field, in order.
        let starts: Vec<&str> = lines[2..11]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(starts, names, "{table}");
        assert!(lines.iter().all(|l| l.len() <= 120), "{table}");
    }

    #[test]
    fn bad_pairs_and_round_counts_are_refused() {
        let base = OverheadConfig {
            run: RunConfig::default(),
            rounds: 5,
            pair: Pair::Embedded(RelaySettings::default()),
            proxy_pid: None,
            out_dir: PathBuf::from("reports"),
        };
        assert!(validate(&base).is_ok());
        let e = validate(&OverheadConfig {
            rounds: 0,
            ..base.clone()
        })
        .unwrap_err();
        assert_eq!(e.flag, "--rounds");
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let e = validate(&OverheadConfig {
            pair: Pair::External {
                direct: addr,
                proxied: addr,
            },
            ..base
        })
        .unwrap_err();
        assert_eq!(e.flag, "--proxied");
    }
}
