//! The typed, versioned views `compare` reads: [`ReportView`] (the fields a comparison,
//! a gate or a pairing looks at) and [`SummaryView`] (a matrix folder's cells).
//!
//! A view is a serde struct in which every field is optional and read loosely: a field
//! that is missing or of another type reads as absent (never an error), so with
//! `--force` a report of another schema version still compares as far as it has these
//! fields. A report of this version is read through [`Report::read`]'s checks first and
//! its view taken from the checked report; the test (in `tests/analysis.rs`)
//! `a_checked_report_has_every_field_in_its_view` keeps the view's names in step with
//! [`Report`]'s.
//!
//! [`Report`]: crate::report::Report
//! [`Report::read`]: crate::report::Report::read

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads a field as `T`, or `T::default()` when it has another type.
fn loose<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// Keeps a present field as it is written (`null` included), for notes.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Declares view structs: every field `pub`, optional (`#[serde(default)]`) and read
/// [`loose`]ly.
macro_rules! views {
    ($($(#[$meta:meta])* $name:ident {
        $($(#[doc = $doc:literal])* $field:ident: $ty:ty,)*
    })*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(#[doc = $doc])*
            #[serde(deserialize_with = "loose")]
            pub $field: $ty,)*
        }
    )*};
}

/// `config`: the workload and the settings that pair folder cells or are noted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigView {
    /// `tcp-echo`, `framed`, `udp-echo`.
    #[serde(deserialize_with = "loose")]
    pub workload: Option<String>,
    /// framed: the command.
    #[serde(deserialize_with = "loose")]
    pub cmd: Option<String>,
    /// framed: how the client wrote requests.
    #[serde(deserialize_with = "loose")]
    pub write_mode: Option<String>,
    /// The client's socket options as configured.
    #[serde(deserialize_with = "loose")]
    pub socket: NodelayView,
    /// Load settings pairing does not look at, as written (for notes when they differ).
    #[serde(deserialize_with = "present")]
    pub connections: Option<Value>,
    /// See `connections`.
    #[serde(deserialize_with = "present")]
    pub pipeline: Option<Value>,
    /// See `connections`.
    #[serde(deserialize_with = "present")]
    pub size: Option<Value>,
    /// See `connections`.
    #[serde(deserialize_with = "present")]
    pub load: Option<Value>,
}

views! {
    /// The fields of a run report that `compare` and its gates use (schema
    /// `wirebench.report/v1`, and loosely any other version).
    ReportView {
        /// The schema the file says it has (`""` when it says none).
        schema: String,
        /// The run was stopped early.
        interrupted: bool,
        /// What ran.
        config: ConfigView,
        /// Request counts and rates.
        totals: TotalsView,
        /// The latency summary, ns.
        latency: LatencyView,
        /// Socket options read back.
        socket: SocketView,
        /// Where the load went.
        target: TargetView,
        /// CPU accounting.
        cpu: CpuView,
    }

    /// `cpu`: the groups a comparison reads.
    CpuView {
        /// The client.
        client: UsageView,
        /// The embedded server.
        server: UsageView,
        /// The embedded relay.
        relay: UsageView,
        /// The `--watch-pid` processes together.
        watched_total: UsageView,
        /// The machine.
        machine: MachineView,
    }

    /// `cpu.machine`.
    MachineView {
        /// Its busy time.
        busy: UsageView,
    }

    /// One group's CPU usage.
    UsageView {
        /// us per request.
        us_per_req: Option<f64>,
        /// Share of one core.
        cores: Option<f64>,
    }

    /// Any object with a `nodelay` flag.
    NodelayView {
        /// TCP_NODELAY.
        nodelay: Option<bool>,
    }

    /// `socket`: options read back from the client's and the server's sockets.
    SocketView {
        /// The client's socket.
        client: NodelayView,
        /// The server's socket, when it told.
        server: NodelayView,
    }

    /// `target`: the embedded server's settings, when there was one.
    TargetView {
        /// The embedded server.
        server: ServerView,
    }

    /// `target.server`.
    ServerView {
        /// Its socket options.
        socket: NodelayView,
        /// framed: how it wrote responses.
        write_mode: Option<String>,
    }

    /// `totals`.
    TotalsView {
        /// Successful requests per second.
        requests_per_s: Option<f64>,
        /// Failed requests.
        error_count: Option<f64>,
        /// Successful requests.
        ok: Option<f64>,
    }

    /// `latency`, ns.
    #[allow(missing_docs)] // the report's own names: docs/report-schema.md
    LatencyView {
        p50_ns: Option<f64>,
        p75_ns: Option<f64>,
        p90_ns: Option<f64>,
        p95_ns: Option<f64>,
        p99_ns: Option<f64>,
        p99_9_ns: Option<f64>,
        p99_99_ns: Option<f64>,
        max_ns: Option<f64>,
        min_ns: Option<f64>,
        mean_ns: Option<f64>,
        stdev_ns: Option<f64>,
    }

    /// A matrix folder's `summary.json`, as far as `compare` reads it.
    SummaryView {
        /// The schema the file says it has.
        schema: String,
        /// The cells, each read loosely (`None`: no array of cells).
        cells: Option<Vec<Value>>,
    }

    /// One cell of a [`SummaryView`].
    CellView {
        /// The cell's report, relative to the folder.
        report: Option<String>,
    }
}

impl ReportView {
    /// The view of a report read as JSON; anything but an object is an empty view.
    pub fn of_json(value: Value) -> ReportView {
        serde_json::from_value(value).unwrap_or_default()
    }
}

impl CellView {
    /// The view of one cell; anything but an object is an empty view.
    pub fn of_json(value: Value) -> CellView {
        serde_json::from_value(value).unwrap_or_default()
    }
}
