//! `run`'s shard flags: `--shard I/N` (or `auto/N`, the index from `JOB_COMPLETION_INDEX`
//! as a Kubernetes Indexed Job sets it), `--run-id`, `--start-at`, `--start-tolerance`.
//! Parsing only reads the one environment variable `auto` names; the split itself is the
//! library's ([`bench_client::shard`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bench_client::analysis::hlog::parse_rfc3339;
use bench_client::shard::{self, Shard};
use bench_client::{RunConfig, StartAt};
use bench_proto::HumanDuration;
use clap::Args;

/// The environment variable an Indexed Job sets to each pod's index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// Running one shard of a run split over several processes (hosts, pods).
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Run shard I of N (0-based): this process's share of the connections, the
    /// --requests budget and the --rate schedule. auto/N: I from $JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "I/N|auto/N")]
    shard: Option<String>,
    /// Names the run: every shard of one run gives the same id (merge refuses others).
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    /// Begin the warm-up at this wall-clock instant: RFC 3339 UTC
    /// (2026-12-01T23:30:00Z) or +DURATION from now (+30s).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    start_at: Option<String>,
    /// With --start-at: refuse to run (exit 1) when ready later than TIME + this.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    start_tolerance: HumanDuration,
}

impl ShardArgs {
    /// The config this process runs: `global` itself, or its shard's share of it.
    pub fn apply(&self, global: RunConfig) -> anyhow::Result<RunConfig> {
        let Some(spec) = &self.shard else {
            if let Some(id) = &self.run_id {
                bail!("--run-id {id}: names the shards of a run, so it needs --shard");
            }
            return Ok(global);
        };
        let (index, count) = resolve_spec(spec, std::env::var(INDEX_ENV).ok().as_deref())?;
        let Some(run_id) = &self.run_id else {
            bail!("--shard {spec}: needs --run-id, the id every shard of the run shares");
        };
        Ok(Shard::localize(&global, index, count, run_id)?)
    }

    /// `--start-at`, resolved against the clock now.
    pub fn start(&self) -> anyhow::Result<Option<StartAt>> {
        let Some(text) = &self.start_at else {
            return Ok(None);
        };
        let at = parse_start(text, SystemTime::now())?;
        Ok(Some(StartAt {
            at,
            tolerance: self.start_tolerance.0,
        }))
    }
}

/// `I/N`, or `auto/N` with `index` (the value of `$JOB_COMPLETION_INDEX`) as I.
fn resolve_spec(spec: &str, index: Option<&str>) -> anyhow::Result<(u32, u32)> {
    match spec.strip_prefix("auto/") {
        None => Ok(shard::parse_spec(spec)?),
        Some(n) => {
            let Some(i) = index else {
                bail!("--shard {spec}: ${INDEX_ENV} is not set (an Indexed Job sets it)");
            };
            shard::parse_spec(&format!("{}/{n}", i.trim()))
                .with_context(|| format!("--shard {spec} with {INDEX_ENV}={i}"))
        }
    }
}

/// RFC 3339 UTC (`...Z`) or `+DURATION` after `now`.
fn parse_start(text: &str, now: SystemTime) -> anyhow::Result<SystemTime> {
    if let Some(rel) = text.strip_prefix('+') {
        let d: HumanDuration = rel
            .parse()
            .map_err(|e| anyhow::anyhow!("--start-at {text}: {e}"))?;
        return Ok(now + d.0);
    }
    match parse_rfc3339(text) {
        Some(secs) if secs >= 0.0 => Ok(UNIX_EPOCH + Duration::from_secs_f64(secs)),
        _ => bail!("--start-at {text}: not an RFC 3339 UTC time (2026-12-01T23:30:00Z) or +30s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_index_from_the_job() {
        assert_eq!(resolve_spec("auto/4", Some("3")).unwrap(), (3, 4));
        assert_eq!(resolve_spec("1/4", None).unwrap(), (1, 4));
        let err = resolve_spec("auto/4", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--shard auto/4: $JOB_COMPLETION_INDEX is not set (an Indexed Job sets it)"
        );
        let err = resolve_spec("auto/4", Some("4")).unwrap_err();
        assert!(
            format!("{err:#}").contains("JOB_COMPLETION_INDEX=4"),
            "{err:#}"
        );
    }

    #[test]
    fn start_times_are_absolute_or_relative() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            parse_start("+30s", now).unwrap(),
            now + Duration::from_secs(30)
        );
        let at = parse_start("2026-12-01T23:30:00.250Z", now).unwrap();
        let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((secs - 1_796_167_800.25).abs() < 1e-3, "{secs}");
        let err = parse_start("tomorrow", now).unwrap_err().to_string();
        assert!(err.starts_with("--start-at tomorrow: "), "{err}");
    }
}
