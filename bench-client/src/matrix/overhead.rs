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

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bench_server::ServerConfig;
use bench_server::proxy::{Front, ProxyConfig, ProxyProto, ProxySummary, Strategy, spawn_proxy};
use serde::{Deserialize, Serialize};

use crate::compare::Field;
use crate::config::{ConfigError, RunConfig, Target, WorkloadKind};
use crate::engine::{Run, RunError, Stopper};
use crate::recorder::Latency;
use crate::report::{LatencySummary, Report, ReportError, file_stamp, rfc3339, write_atomic};
use crate::suite::{format_ns, unique_dir};

/// The schema of `overhead.json`.
pub const OVERHEAD_SCHEMA: &str = "wirebench.overhead/v1";

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

/// Which leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// Straight to the server.
    Direct,
    /// Through the proxy.
    Proxied,
}

impl Leg {
    /// `direct` / `proxied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Direct => "direct",
            Leg::Proxied => "proxied",
        }
    }
}

/// One leg of one round, as summarised in `overhead.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegRow {
    /// The leg's report, relative to the folder.
    pub report: String,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Percentiles, ns.
    pub p50_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p99_9_ns: u64,
    /// 99.99th percentile, ns.
    pub p99_99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Failed requests.
    pub errors: u64,
}

impl LegRow {
    fn new(file: &str, report: &Report) -> LegRow {
        let l = &report.latency;
        LegRow {
            report: file.to_owned(),
            requests_per_s: report.totals.requests_per_s,
            p50_ns: l.p50_ns,
            p90_ns: l.p90_ns,
            p99_ns: l.p99_ns,
            p99_9_ns: l.p99_9_ns,
            p99_99_ns: l.p99_99_ns,
            max_ns: l.max_ns,
            errors: report.totals.error_count,
        }
    }

    /// The value of one of [`FIELDS`] (NaN for the others).
    pub fn get(&self, field: Field) -> f64 {
        match field {
            Field::Rps => self.requests_per_s,
            Field::P50 => self.p50_ns as f64,
            Field::P90 => self.p90_ns as f64,
            Field::P99 => self.p99_ns as f64,
            Field::P999 => self.p99_9_ns as f64,
            Field::P9999 => self.p99_99_ns as f64,
            Field::Max => self.max_ns as f64,
            _ => f64::NAN,
        }
    }
}

/// One round: the direct leg, then the proxied one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// 1-based.
    pub round: usize,
    /// Straight to the server.
    pub direct: LegRow,
    /// Through the proxy.
    pub proxied: LegRow,
}

/// A median with the range around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median over the rounds.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// Of the given values (at least one).
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// What the proxy does to one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOverhead {
    /// `req/s`, `p50`, `p90`, `p99`, `p99.9`, `p99.99` or `max`.
    pub field: String,
    /// Direct, over all rounds (latencies from the merged histogram; req/s: all
    /// successful requests over all recorded time).
    pub direct: f64,
    /// Proxied, the same way.
    pub proxied: f64,
    /// proxied / direct of the merged values (`None` when direct is 0).
    pub ratio: Option<f64>,
    /// proxied / direct per round, over the rounds where both legs completed requests
    /// (`None` when none did).
    pub ratio_rounds: Option<Spread>,
    /// Latencies: proxied - direct per round, ns, over the same rounds (`None` for req/s,
    /// or when no round qualifies).
    pub added_ns_rounds: Option<Spread>,
}

/// `overhead.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadSummary {
    /// Always [`OVERHEAD_SCHEMA`].
    pub schema: String,
    /// When the measurement started, RFC 3339 UTC.
    pub started_at: String,
    /// True when it was stopped early (the rounds that finished are summarised).
    pub interrupted: bool,
    /// The workload.
    pub workload: WorkloadKind,
    /// The direct address.
    pub direct_addr: String,
    /// The proxy's address.
    pub proxied_addr: String,
    /// True when server and relay were embedded.
    pub embedded: bool,
    /// The embedded server's settings.
    pub server: Option<ServerConfig>,
    /// The embedded relay's settings.
    pub relay: Option<ProxyConfig>,
    /// The embedded relay's counters at the end.
    pub relay_stats: Option<ProxySummary>,
    /// Every complete round.
    pub rounds: Vec<Round>,
    /// The direct leg's latency over all rounds.
    pub direct: LatencySummary,
    /// The proxied leg's latency over all rounds.
    pub proxied: LatencySummary,
    /// Per field: merged values, ratios and added latency with their spread.
    pub fields: Vec<FieldOverhead>,
}

/// The fields summarised, in order.
pub const FIELDS: [Field; 7] = [
    Field::Rps,
    Field::P50,
    Field::P90,
    Field::P99,
    Field::P999,
    Field::P9999,
    Field::Max,
];

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
    /// A file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What a finished measurement left behind.
#[derive(Debug)]
pub struct OverheadOutcome {
    /// The time-stamped folder.
    pub dir: PathBuf,
    /// `overhead.json`.
    pub summary: OverheadSummary,
    /// Why `report.html` could not be drawn (the measurement itself is complete).
    pub html_error: Option<String>,
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
                .ok_or_else(|| {
                    OverheadError::Server(RunError::Config(ConfigError {
                        flag: "--direct",
                        value: String::new(),
                        reason: "an embedded pair needs an embedded target".to_owned(),
                    }))
                })?;
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
            let run = Run::with_stopper(run_config, stopper.clone())
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
        rounds,
        direct,
        proxied,
        fields,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summaries serialise");
    write_atomic(&dir.join("overhead.json"), &json)?;
    let html_error = crate::render::write_page(&dir, crate::render::render_overhead(&summary))?;
    Ok(OverheadOutcome {
        dir,
        summary,
        html_error,
    })
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
    let merged = |s: &LatencySummary, field: Field| match field {
        Field::P50 => s.p50_ns,
        Field::P90 => s.p90_ns,
        Field::P99 => s.p99_ns,
        Field::P999 => s.p99_9_ns,
        Field::P9999 => s.p99_99_ns,
        _ => s.max_ns,
    } as f64;
    FIELDS
        .iter()
        .map(|&field| {
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
                .map(|r| crate::compare::ratio(r.proxied.get(field), r.direct.get(field)))
                .filter(|v| v.is_finite())
                .collect();
            let added: Vec<f64> = comparable
                .map(|r| r.proxied.get(field) - r.direct.get(field))
                .collect();
            FieldOverhead {
                field: field.name().to_owned(),
                direct: d,
                proxied: p,
                ratio: Some(crate::compare::ratio(p, d)).filter(|v| v.is_finite()),
                ratio_rounds: (!ratios.is_empty()).then(|| Spread::of(&ratios)),
                added_ns_rounds: (field.is_latency() && !added.is_empty())
                    .then(|| Spread::of(&added)),
            }
        })
        .collect()
}

fn signed_ns(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}", format_ns(v.abs().round() as u64))
}

impl FieldOverhead {
    /// The row as text, for the table and the HTML page: direct, proxied, ratio, ratio
    /// per round (median and range), added latency per round (median and range).
    pub fn cells(&self) -> [String; 5] {
        let show = |v: f64| match self.field.parse::<Field>() {
            Ok(field) => field.show(v),
            Err(_) => format!("{v}"),
        };
        [
            show(self.direct),
            show(self.proxied),
            self.ratio
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
            self.ratio_rounds.map_or_else(
                || "-".to_owned(),
                |r| format!("{:.2}x ({:.2}..{:.2})", r.median, r.min, r.max),
            ),
            self.added_ns_rounds.map_or_else(
                || "-".to_owned(),
                |a| {
                    format!(
                        "{} ({}..{})",
                        signed_ns(a.median),
                        signed_ns(a.min),
                        signed_ns(a.max)
                    )
                },
            ),
        ]
    }
}

/// The overhead table: per field, direct and proxied over all rounds, the ratio (median
/// and range over rounds) and the added latency (median and range).
pub fn format_table(summary: &OverheadSummary) -> String {
    let mut out = String::new();
    let (direct_errors, proxied_errors) = summary.errors();
    let _ = writeln!(
        out,
        "{} rounds, direct {} vs proxied {}; errors: direct {direct_errors}, proxied \
         {proxied_errors}",
        summary.rounds.len(),
        summary.direct_addr,
        summary.proxied_addr
    );
    let _ = writeln!(
        out,
        "{:<7} {:>10} {:>10} {:>7}  {:<22} added per round",
        "field", "direct", "proxied", "ratio", "ratio per round"
    );
    for f in &summary.fields {
        let [direct, proxied, ratio, ratio_rounds, added] = f.cells();
        let _ = writeln!(
            out,
            "{:<7} {direct:>10} {proxied:>10} {ratio:>7}  {ratio_rounds:<22} {added}",
            f.field,
        );
    }
    if summary.interrupted {
        let _ = writeln!(
            out,
            "interrupted: stopped early; the rounds that finished are summarised"
        );
    }
    out
}

impl OverheadSummary {
    /// Failed requests over the summarised rounds: (direct, proxied).
    pub fn errors(&self) -> (u64, u64) {
        self.rounds.iter().fold((0, 0), |(d, p), r| {
            (d + r.direct.errors, p + r.proxied.errors)
        })
    }
}

/// Reads `overhead.json` from a folder.
pub fn read_summary(dir: &Path) -> anyhow::Result<OverheadSummary> {
    use anyhow::Context as _;
    let path = dir.join("overhead.json");
    let bytes = crate::input::read_capped(&path)?;
    let summary: OverheadSummary = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not an overhead summary", path.display()))?;
    if summary.schema != OVERHEAD_SCHEMA {
        anyhow::bail!(
            "{}: schema {:?}, this tool reads {OVERHEAD_SCHEMA:?}",
            path.display(),
            summary.schema
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_are_median_and_range() {
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of(&[4.0, 1.0]).median, 2.5);
        assert_eq!(signed_ns(-1500.0), "-1.5us");
        assert_eq!(signed_ns(20_000.0), "+20.0us");
    }

    #[test]
    fn bad_pairs_and_round_counts_are_refused() {
        let base = OverheadConfig {
            run: RunConfig::default(),
            rounds: 5,
            pair: Pair::Embedded(RelaySettings::default()),
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
