//! The one table of fields that `compare`, `--fail-if` gates and the overhead summary
//! share: each [`Field`]'s name (and the other spellings a threshold accepts), how to
//! read it from a [`ReportView`], from an overhead [`LegRow`] and from a
//! [`LatencySummary`], and how to show a value of it. A new field is one row here.

use std::str::FromStr;

use bench_proto::units::format_ns;

use crate::report::LatencySummary;
use crate::report::overhead::LegRow;

use super::view::ReportView;

/// A summary field a comparison shows and a threshold can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// Successful requests per second.
    Rps,
    /// Median latency.
    P50,
    /// 75th percentile.
    P75,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// 99.99th percentile.
    P9999,
    /// Largest latency.
    Max,
    /// Smallest latency.
    Min,
    /// Mean latency.
    Mean,
    /// Standard deviation of the latency.
    Stdev,
    /// Failed requests.
    Errors,
    /// Successful requests.
    Ok,
    /// The client's CPU time per request, us (`cpu.client`).
    CpuUsPerReq,
    /// The embedded server's CPU time per request, us.
    ServerCpuUsPerReq,
    /// The embedded relay's CPU time per request, us.
    RelayCpuUsPerReq,
    /// The `--watch-pid` processes' CPU time per request, us (together).
    WatchedCpuUsPerReq,
    /// The whole machine's busy time per request, us.
    MachineCpuUsPerReq,
    /// The client's CPU time in cores (1.0: one core busy).
    CpuCores,
    /// The embedded server's, in cores.
    ServerCpuCores,
    /// The `--watch-pid` processes', in cores.
    WatchedCpuCores,
    /// The whole machine's busy time, in cores.
    MachineCpuCores,
}

/// One row of the table.
struct Spec {
    field: Field,
    /// In tables and thresholds.
    name: &'static str,
    /// Other spellings a threshold accepts.
    aliases: &'static [&'static str],
    /// Values in ns, thresholds with a time unit.
    latency: bool,
    /// Shown with two decimals (CPU figures), not as a whole number.
    fraction: bool,
    report: fn(&ReportView) -> Option<f64>,
    /// The overhead summary keeps req/s and the percentiles up to max only.
    leg: Option<fn(&LegRow) -> f64>,
    summary: Option<fn(&LatencySummary) -> f64>,
}

/// A number of a report field, as the table compares it.
trait Num {
    fn num(self) -> f64;
}

impl Num for u64 {
    fn num(self) -> f64 {
        self as f64
    }
}

impl Num for f64 {
    fn num(self) -> f64 {
        self
    }
}

/// One row per field: `Field name [aliases] latency|count view.path, leg <LegRow field>,
/// summary <LatencySummary field>` (the last two only where those rows have it).
macro_rules! specs {
    ($($field:ident $name:literal [$($alias:literal),*] $kind:ident $($path:ident).+
        $(, leg $leg:ident)? $(, summary $summary:ident)?;)*) => {
        [$(Spec {
            field: Field::$field,
            name: $name,
            aliases: &[$($alias),*],
            latency: specs!(@$kind),
            fraction: specs!(@frac $kind),
            report: |r| r.$($path).+,
            leg: specs!(@opt $(|l: &LegRow| l.$leg.num())?),
            summary: specs!(@opt $(|s: &LatencySummary| s.$summary.num())?),
        },)*]
    };
    (@latency) => { true };
    (@count) => { false };
    (@cpu) => { false };
    (@frac cpu) => { true };
    (@frac $other:ident) => { false };
    (@opt $read:expr) => { Some($read) };
    (@opt) => { None };
}

/// Every field, in [`Field::ALL`] order (`spec` relies on it).
const SPECS: [Spec; 23] = specs! {
    Rps "req/s" ["rps", "requests_per_s", "throughput"] count totals.requests_per_s,
        leg requests_per_s;
    P50 "p50" ["median"] latency latency.p50_ns, leg p50_ns, summary p50_ns;
    P75 "p75" [] latency latency.p75_ns, leg p75_ns, summary p75_ns;
    P90 "p90" [] latency latency.p90_ns, leg p90_ns, summary p90_ns;
    P95 "p95" [] latency latency.p95_ns, leg p95_ns, summary p95_ns;
    P99 "p99" [] latency latency.p99_ns, leg p99_ns, summary p99_ns;
    P999 "p99.9" ["p999"] latency latency.p99_9_ns, leg p99_9_ns, summary p99_9_ns;
    P9999 "p99.99" ["p9999"] latency latency.p99_99_ns, leg p99_99_ns, summary p99_99_ns;
    Max "max" [] latency latency.max_ns, leg max_ns, summary max_ns;
    Min "min" [] latency latency.min_ns, summary min_ns;
    Mean "mean" [] latency latency.mean_ns, summary mean_ns;
    Stdev "stdev" [] latency latency.stdev_ns, summary stdev_ns;
    Errors "errors" [] count totals.error_count;
    Ok "ok" [] count totals.ok;
    CpuUsPerReq "cpu_us_per_req" ["client_cpu_us_per_req"] cpu cpu.client.us_per_req;
    ServerCpuUsPerReq "server_cpu_us_per_req" [] cpu cpu.server.us_per_req;
    RelayCpuUsPerReq "relay_cpu_us_per_req" [] cpu cpu.relay.us_per_req;
    WatchedCpuUsPerReq "watched_cpu_us_per_req" [] cpu cpu.watched_total.us_per_req;
    MachineCpuUsPerReq "machine_cpu_us_per_req" [] cpu cpu.machine.busy.us_per_req;
    CpuCores "cpu_cores" ["client_cpu_cores"] cpu cpu.client.cores;
    ServerCpuCores "server_cpu_cores" [] cpu cpu.server.cores;
    WatchedCpuCores "watched_cpu_cores" [] cpu cpu.watched_total.cores;
    MachineCpuCores "machine_cpu_cores" [] cpu cpu.machine.busy.cores;
};

/// The CPU columns a comparison adds when a run of the group has them.
pub const CPU_COLUMNS: [Field; 5] = [
    Field::CpuUsPerReq,
    Field::ServerCpuUsPerReq,
    Field::RelayCpuUsPerReq,
    Field::WatchedCpuUsPerReq,
    Field::MachineCpuUsPerReq,
];

/// The columns of the comparison table.
pub const COLUMNS: [Field; 11] = [
    Field::Rps,
    Field::P50,
    Field::P75,
    Field::P90,
    Field::P95,
    Field::P99,
    Field::P999,
    Field::P9999,
    Field::Max,
    Field::Errors,
    Field::Ok,
];

impl Field {
    /// Every field.
    pub const ALL: [Field; 23] = [
        Field::Rps,
        Field::P50,
        Field::P75,
        Field::P90,
        Field::P95,
        Field::P99,
        Field::P999,
        Field::P9999,
        Field::Max,
        Field::Min,
        Field::Mean,
        Field::Stdev,
        Field::Errors,
        Field::Ok,
        Field::CpuUsPerReq,
        Field::ServerCpuUsPerReq,
        Field::RelayCpuUsPerReq,
        Field::WatchedCpuUsPerReq,
        Field::MachineCpuUsPerReq,
        Field::CpuCores,
        Field::ServerCpuCores,
        Field::WatchedCpuCores,
        Field::MachineCpuCores,
    ];

    fn spec(self) -> &'static Spec {
        let spec = &SPECS[self as usize];
        debug_assert_eq!(spec.field, self, "SPECS is in Field order");
        spec
    }

    /// Its name in tables and thresholds (`req/s`, `p99.9`, ...).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// True for latencies (values in ns, thresholds with a time unit).
    pub fn is_latency(self) -> bool {
        self.spec().latency
    }

    /// A value of this field for a table: `52.3us` (latencies, ns in), `80123`, `12.40`
    /// (CPU figures).
    pub fn show(self, v: f64) -> String {
        if self.is_latency() {
            format_ns(v.max(0.0).round() as u64)
        } else if self.spec().fraction {
            format!("{v:.2}")
        } else {
            format!("{v:.0}")
        }
    }

    /// Its value in a report view (`None`: the report does not have it).
    pub fn of_report(self, view: &ReportView) -> Option<f64> {
        (self.spec().report)(view).filter(|v| self.recorded(*v))
    }

    /// False for a p75 or p95 of 0: files written before those fields existed read as 0
    /// (serde's default), which is "not recorded", not a measured 0 ns (the same rule as
    /// the report check's).
    fn recorded(self, v: f64) -> bool {
        !(matches!(self, Field::P75 | Field::P95) && v == 0.0)
    }

    /// Whether an overhead leg row ([`LegRow`]) carries it: req/s and the percentiles
    /// from p50 up to max that `overhead` summarises.
    pub fn in_leg_row(self) -> bool {
        self.spec().leg.is_some()
    }

    /// Its value in a latency summary (`None`: not a latency).
    pub fn of_summary(self, summary: &LatencySummary) -> Option<f64> {
        self.spec()
            .summary
            .map(|read| read(summary))
            .filter(|v| self.recorded(*v))
    }
}

impl Field {
    /// Which way is better: `Some(true)` when a higher value is (req/s, ok), `Some(false)`
    /// when a lower one is (latencies, errors, CPU per request), `None` when neither is
    /// (CPU in cores: more cores for more requests is not worse). `compare`'s verdicts
    /// read it.
    pub fn higher_is_better(self) -> Option<bool> {
        if self.is_latency() {
            return Some(false);
        }
        match self {
            Field::Rps | Field::Ok => Some(true),
            Field::Errors
            | Field::CpuUsPerReq
            | Field::ServerCpuUsPerReq
            | Field::RelayCpuUsPerReq
            | Field::WatchedCpuUsPerReq
            | Field::MachineCpuUsPerReq => Some(false),
            _ => None,
        }
    }
}

impl LegRow {
    /// The value of a field an overhead row has (NaN for the others).
    pub fn get(&self, field: Field) -> f64 {
        field
            .spec()
            .leg
            .map(|read| read(self))
            .filter(|v| field.recorded(*v))
            .unwrap_or(f64::NAN)
    }
}

impl FromStr for Field {
    type Err = String;

    /// A field by its name or another spelling; the error lists the names.
    fn from_str(s: &str) -> Result<Field, String> {
        SPECS
            .iter()
            .find(|spec| spec.name == s || spec.aliases.contains(&s))
            .map(|spec| spec.field)
            .ok_or_else(|| {
                let names: Vec<&str> = SPECS.iter().map(|spec| spec.name).collect();
                format!("unknown field {s:?} ({})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_field_order_and_names_parse_back() {
        for (spec, field) in SPECS.iter().zip(Field::ALL) {
            assert_eq!(spec.field, field);
            assert_eq!(spec.name.parse::<Field>(), Ok(field));
        }
        assert_eq!("median".parse::<Field>(), Ok(Field::P50));
        assert_eq!(
            "p42".parse::<Field>().unwrap_err(),
            "unknown field \"p42\" (req/s, p50, p75, p90, p95, p99, p99.9, p99.99, max, min, mean, \
             stdev, errors, ok, cpu_us_per_req, server_cpu_us_per_req, relay_cpu_us_per_req, \
             watched_cpu_us_per_req, machine_cpu_us_per_req, cpu_cores, server_cpu_cores, \
             watched_cpu_cores, machine_cpu_cores)"
        );
    }

    #[test]
    fn a_p75_or_p95_of_zero_is_a_file_from_before_them_not_a_measurement() {
        let old: LatencySummary = serde_json::from_str(
            r#"{"count":10,"min_ns":1,"max_ns":9,"mean_ns":5.0,"stdev_ns":1.0,
                "p50_ns":5,"p90_ns":8,"p99_ns":9,"p99_9_ns":9,"p99_99_ns":9,
                "out_of_range":0,"histogram":""}"#,
        )
        .unwrap();
        assert_eq!(Field::P75.of_summary(&old), None);
        assert_eq!(Field::P95.of_summary(&old), None);
        assert_eq!(Field::P50.of_summary(&old), Some(5.0));
        let new = LatencySummary {
            p75_ns: 7,
            p95_ns: 8,
            ..old
        };
        assert_eq!(Field::P75.of_summary(&new), Some(7.0));
        assert_eq!(Field::P95.of_summary(&new), Some(8.0));
    }
}
