//! Shards: one run's load split over N generator processes (hosts, pods) that never talk
//! to each other. Every instance computes its share from its index `I` and the count `N`
//! alone (the idea of k6's execution segments):
//!
//! - integer quantities (connections, a `--requests` budget) split as
//!   `round(v*(I+1)/N) - round(v*I/N)`, so the shares always add up to `v` ([`share`]);
//! - an open-loop schedule is striped: global request `k` is due at `T0 + k/R`, and shard
//!   `I` sends the `k` with `k mod N == I`, spread round-robin over its own connections
//!   ([`Lane`]); the N shards together reproduce the one-machine schedule exactly. Poisson
//!   arrivals are thinned independently instead: each shard (and connection) draws its own
//!   exponential gaps at its share of the rate, from a seed derived from the run id and I.
//!
//! Owns: the arithmetic of the split (pure, no I/O, no clock) and the [`Shard`] a sharded
//! [`RunConfig`] carries (the types are `config`'s, so the config stays a leaf). Must not touch: sockets and time (`engine` calls [`Lane`]),
//! reports (`report` records what this decided), merging (`analysis::merge`). A leaf:
//! imports only `config`.

pub use crate::config::{GlobalLoad, Shard};
use crate::config::{LoadModel, RunConfig, RunLength};

/// Why a run cannot be split as asked; names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// `--shard` is not `I/N` with `I < N`.
    #[error("--shard {value}: {reason}")]
    BadSpec {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A shard's share of a quantity would be zero.
    #[error("{flag} {value}: shard {index}/{count} would get none (give at least {count})")]
    EmptyShare {
        /// The flag (`--connections`, `--requests`).
        flag: &'static str,
        /// The whole run's value.
        value: u64,
        /// The shard.
        index: u32,
        /// The shard count.
        count: u32,
    },
    /// `--run-id` is empty or not a plain name.
    #[error("--run-id {value:?}: {reason}")]
    BadRunId {
        /// The id given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Largest shard count (an Indexed Job allows 100,000 completions; a merge of more
/// reports than this is not a use case).
pub const MAX_SHARDS: u32 = 10_000;

/// Parses `I/N` (0-based `I`). `auto/N` is the binary's to resolve (it reads the
/// environment); here it is refused like any other non-number.
pub fn parse_spec(text: &str) -> Result<(u32, u32), ShardError> {
    let bad = |reason: &str| ShardError::BadSpec {
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (i, n) = text.split_once('/').ok_or_else(|| bad("not I/N"))?;
    let i: u32 = i.parse().map_err(|_| bad("I is not a number"))?;
    let n: u32 = n.parse().map_err(|_| bad("N is not a number"))?;
    if n == 0 || n > MAX_SHARDS {
        return Err(bad(&format!("N must be 1..={MAX_SHARDS}")));
    }
    if i >= n {
        return Err(bad("I is 0-based, so below N"));
    }
    Ok((i, n))
}

/// Shard `index`'s share of `value` split over `count` shards:
/// `round(v*(I+1)/N) - round(v*I/N)` in exact integer arithmetic (round half up), so the
/// shares of all shards add up to `value`.
pub fn share(value: u64, index: u32, count: u32) -> u64 {
    let cut = |i: u32| -> u64 {
        let (v, i, n) = (u128::from(value), u128::from(i), u128::from(count));
        ((2 * v * i + n) / (2 * n)) as u64
    };
    cut(index + 1) - cut(index)
}

impl Shard {
    /// Shard `index` of `count` of `global`: the config this shard runs (its shares of
    /// the connections, the request budget and the rate; everything else as given).
    pub fn localize(
        global: &RunConfig,
        index: u32,
        count: u32,
        run_id: &str,
    ) -> Result<RunConfig, ShardError> {
        check_run_id(run_id)?;
        let empty = |flag, value| ShardError::EmptyShare {
            flag,
            value,
            index,
            count,
        };
        let mut local = global.clone();
        let connections = share(global.connections as u64, index, count);
        if connections == 0 {
            return Err(empty("--connections", global.connections as u64));
        }
        local.connections = connections as usize;
        let mut requests = None;
        if let RunLength::Requests(n) = global.length {
            let mine = share(n, index, count);
            if mine == 0 {
                return Err(empty("--requests", n));
            }
            local.length = RunLength::Requests(mine);
            requests = Some(n);
        }
        let mut rate = None;
        if let LoadModel::Open { rate: r, arrival } = global.load {
            local.load = LoadModel::Open {
                rate: r / f64::from(count),
                arrival,
            };
            rate = Some(r);
        }
        local.shard = Some(Shard {
            index,
            count,
            run_id: run_id.to_owned(),
            global: GlobalLoad {
                connections: global.connections,
                requests,
                rate,
            },
        });
        Ok(local)
    }

    /// The whole run's config, rebuilt from a shard's (`shard` cleared): equal for every
    /// shard of one run, which is what `merge` checks.
    pub fn global_config(local: &RunConfig) -> RunConfig {
        let mut global = local.clone();
        if let Some(shard) = local.shard.as_ref() {
            global.connections = shard.global.connections;
            if let Some(n) = shard.global.requests {
                global.length = RunLength::Requests(n);
            }
            if let (Some(rate), LoadModel::Open { arrival, .. }) = (shard.global.rate, local.load) {
                global.load = LoadModel::Open { rate, arrival };
            }
        }
        global.shard = None;
        global
    }

    /// The seed of shard `index`'s Poisson draws: FNV-1a of the run id, mixed with the
    /// index (splitmix64), so shards of one run draw independently and a rerun with the
    /// same id draws the same gaps.
    pub fn run_seed(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.run_id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        splitmix(h ^ u64::from(self.index).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

fn check_run_id(run_id: &str) -> Result<(), ShardError> {
    let bad = |reason| ShardError::BadRunId {
        value: run_id.to_owned(),
        reason,
    };
    if run_id.is_empty() || run_id.len() > 128 {
        return Err(bad("must be 1 to 128 characters"));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if !run_id.chars().all(plain) {
        return Err(bad("only letters, digits and - _ . :"));
    }
    Ok(())
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One connection's part of an open-loop schedule: its first intended time after `T0`,
/// the gap between its intended times, and the seed of its Poisson draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lane {
    /// Uniform arrivals: the first intended time, ns after `T0`.
    pub first_ns: f64,
    /// The (mean) gap between this connection's intended times, ns.
    pub gap_ns: f64,
    /// Poisson arrivals: the seed of this connection's draws.
    pub seed: u64,
}

impl Lane {
    /// Connection `conn` of `config` (whose rate is this shard's share, if sharded).
    /// Unsharded, connection `c` of `C` at rate `R` sends global requests
    /// `k = c + C*j` at `T0 + k/R`. Shard `I` of `N` sends the `k` with `k mod N == I`:
    /// its `m`-th is `k = I + N*m`, and its connection `c` of `C_I` sends
    /// `m = c + C_I*j`, so `first = (I + N*c)/R` and `gap = N*C_I/R`.
    pub fn of(config: &RunConfig, conn: usize) -> Lane {
        let local_rate = match config.load {
            LoadModel::Open { rate, .. } => rate,
            LoadModel::Closed => 0.0,
        };
        let conns = config.connections as f64;
        match config.shard.as_ref() {
            None => Lane {
                first_ns: 1e9 * conn as f64 / local_rate,
                gap_ns: 1e9 * conns / local_rate,
                seed: 0x5eed ^ conn as u64,
            },
            Some(shard) => {
                let n = f64::from(shard.count);
                let rate = shard.global.rate.unwrap_or(local_rate * n);
                Lane {
                    first_ns: 1e9 * (f64::from(shard.index) + n * conn as f64) / rate,
                    gap_ns: 1e9 * n * conns / rate,
                    seed: splitmix(shard.run_seed() ^ conn as u64),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arrival;

    #[test]
    fn shares_always_add_up_to_the_whole() {
        for v in (0..200).chain([999, 1000, 1001, 20_000, u64::from(u32::MAX)]) {
            for n in 1..=17u32 {
                let shares: Vec<u64> = (0..n).map(|i| share(v, i, n)).collect();
                assert_eq!(shares.iter().sum::<u64>(), v, "v={v} n={n}");
                let (lo, hi) = (shares.iter().min(), shares.iter().max());
                assert!(
                    hi.unwrap() - lo.unwrap() <= 1,
                    "even: v={v} n={n} {shares:?}"
                );
            }
        }
        assert_eq!(share(u64::MAX, 0, 1), u64::MAX);
    }

    #[test]
    fn shard_specs_parse_and_bad_ones_name_the_value() {
        assert_eq!(parse_spec("0/4"), Ok((0, 4)));
        assert_eq!(parse_spec("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1/0", "x/4", "1", "-1/4", "1/4/2"] {
            let err = parse_spec(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--shard {bad}: ")), "{err}");
        }
    }

    fn open(rate: f64, connections: usize, arrival: Arrival) -> RunConfig {
        RunConfig {
            connections,
            load: LoadModel::Open { rate, arrival },
            ..RunConfig::default()
        }
    }

    /// Every intended time (ns after T0, rounded) of `config`'s connections below
    /// `until_ns`, walked the way `engine::pace` walks them.
    fn times(config: &RunConfig, until_ns: f64) -> Vec<u64> {
        let mut all = Vec::new();
        for conn in 0..config.connections {
            let lane = Lane::of(config, conn);
            let mut j = 0.0;
            while lane.first_ns + j * lane.gap_ns < until_ns {
                all.push((lane.first_ns + j * lane.gap_ns).round() as u64);
                j += 1.0;
            }
        }
        all.sort_unstable();
        all
    }

    #[test]
    fn striped_shards_together_reproduce_the_one_machine_schedule() {
        for (rate, conns, n) in [
            (20_000.0, 16, 4),
            (7_000.0, 5, 3),
            (1_000.0, 7, 7),
            (333.0, 9, 2),
        ] {
            let global = open(rate, conns, Arrival::Uniform);
            let until = 2e9;
            let one_machine: Vec<u64> = (0..)
                .map(|k| (1e9 * k as f64 / rate).round() as u64)
                .take_while(|&t| (t as f64) < until)
                .collect();
            assert_eq!(
                times(&global, until),
                one_machine,
                "unsharded {rate} {conns}"
            );
            let mut merged: Vec<u64> = (0..n)
                .flat_map(|i| times(&Shard::localize(&global, i, n, "t").unwrap(), until))
                .collect();
            merged.sort_unstable();
            assert_eq!(
                merged, one_machine,
                "{n} shards of {rate} req/s, {conns} conns"
            );
        }
    }

    #[test]
    fn a_shard_sends_exactly_the_global_requests_of_its_residue() {
        let rate = 1000.0;
        let global = open(rate, 6, Arrival::Uniform);
        for i in 0..4 {
            let local = Shard::localize(&global, i, 4, "t").unwrap();
            for k_ns in times(&local, 1e9) {
                let k = (k_ns as f64 * rate / 1e9).round() as u64;
                assert_eq!(k % 4, u64::from(i), "shard {i} sent global request {k}");
            }
        }
    }

    #[test]
    fn localize_splits_and_global_config_undoes_it() {
        let mut global = open(20_000.0, 10, Arrival::Poisson);
        global.length = RunLength::Requests(1001);
        let locals: Vec<RunConfig> = (0..4)
            .map(|i| Shard::localize(&global, i, 4, "run-1").unwrap())
            .collect();
        let conns: usize = locals.iter().map(|l| l.connections).sum();
        assert_eq!(conns, 10);
        let budget: u64 = locals
            .iter()
            .map(|l| match l.length {
                RunLength::Requests(n) => n,
                RunLength::Duration(_) => 0,
            })
            .sum();
        assert_eq!(budget, 1001);
        for local in &locals {
            assert_eq!(local.load, open(5_000.0, 1, Arrival::Poisson).load);
            assert_eq!(Shard::global_config(local), global);
        }
        let seeds: std::collections::BTreeSet<u64> =
            locals.iter().map(|l| Lane::of(l, 0).seed).collect();
        assert_eq!(seeds.len(), 4, "independent Poisson draws per shard");
    }

    #[test]
    fn a_share_of_nothing_is_refused() {
        let global = RunConfig {
            connections: 3,
            ..RunConfig::default()
        };
        // 3 over 4: shares 1, 1, 0, 1.
        let err = Shard::localize(&global, 2, 4, "r").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--connections 3: shard 2/4 would get none (give at least 4)"
        );
        let err = Shard::localize(&global, 0, 1, "a b").unwrap_err();
        assert!(err.to_string().starts_with("--run-id \"a b\": "), "{err}");
    }
}
