//! What a run was: the settings block every page shows per run (workload, target,
//! connections, pipeline, load model, size, TCP_NODELAY on both sides, length, tool,
//! host), and the name a run is shown under when it comes from a file: its `--label`, or
//! one made from its settings (`framed c=4 nodelay`), never the file's name.

use std::fmt::Write as _;

use crate::config::{Arrival, LoadModel, RunLength, Target, WorkloadKind};
use crate::report::Report;
use crate::report::summary::on_off;

use super::html::escape;

/// The run's name from its settings: workload, connections, pipeline (when not 1),
/// rate (open loop), size (when not the default 64 B) and the client's TCP_NODELAY.
pub fn settings_label(report: &Report) -> String {
    let c = &report.config;
    let mut label = format!("{} c={}", workload(report), c.connections);
    if c.pipeline != 1 {
        let _ = write!(label, " p={}", c.pipeline);
    }
    if let LoadModel::Open { rate, .. } = c.load {
        let _ = write!(label, " rate={}", bench_proto::units::format_rate(rate));
    }
    if c.size.to_string() != "64B" {
        let _ = write!(label, " {}", c.size);
    }
    if c.workload != WorkloadKind::UdpEcho {
        label.push_str(if client_nodelay(report) {
            " nodelay"
        } else {
            " nagle"
        });
    }
    label
}

/// The name a run from a file is shown under: its label, else [`settings_label`].
pub fn run_label(report: &Report) -> String {
    if report.label.trim().is_empty() {
        settings_label(report)
    } else {
        report.label.trim().to_owned()
    }
}

fn workload(report: &Report) -> String {
    let c = &report.config;
    match c.workload {
        WorkloadKind::Framed => format!("framed {}", c.cmd.as_str()),
        WorkloadKind::Custom => match &c.custom {
            Some(file) => format!("custom {}", file.path),
            None => "custom".to_owned(),
        },
        other => other.as_str().to_owned(),
    }
}

/// TCP_NODELAY on the client's socket: as read back, else as configured.
fn client_nodelay(report: &Report) -> bool {
    report
        .socket
        .client
        .as_ref()
        .and_then(|s| s.nodelay)
        .unwrap_or(report.config.socket.nodelay)
}

/// The server's TCP_NODELAY: read back (framed), else the embedded server's setting,
/// else unknown.
fn server_nodelay(report: &Report) -> String {
    let read_back = report.socket.server.as_ref().and_then(|s| s.nodelay);
    match (read_back, report.config.target) {
        (Some(on), _) => format!("{} (read back)", on_off(on)),
        (None, Target::Embedded(server)) => format!("{} (set)", on_off(server.nodelay)),
        (None, Target::External { .. }) => "not known (external server)".to_owned(),
    }
}

fn target(report: &Report) -> String {
    match report.config.target {
        Target::Embedded(server) => {
            let model = serde_json::to_value(server.model)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut text = format!(
                "embedded bench-server on {}, model {model}",
                report.target.addr
            );
            if report.config.workload == WorkloadKind::Framed {
                let _ = write!(text, ", writes {}", server.write_mode.as_str());
            }
            text
        }
        Target::External { addr } => format!("{addr} (external)"),
    }
}

fn load(report: &Report) -> String {
    match report.config.load {
        LoadModel::Closed => "closed loop".to_owned(),
        LoadModel::Open { rate, arrival } => format!(
            "open loop, {rate} req/s, {} arrivals",
            match arrival {
                Arrival::Uniform => "uniform",
                Arrival::Poisson => "poisson",
            }
        ),
    }
}

fn length(report: &Report) -> String {
    let asked = match report.config.length {
        RunLength::Duration(d) => d.to_string(),
        RunLength::Requests(n) => format!("{n} requests"),
    };
    format!(
        "{:.2}s recorded (asked {asked}), after {} warm-up{}",
        report.duration_s,
        report.config.warmup,
        if report.interrupted {
            ", interrupted"
        } else {
            ""
        }
    )
}

fn host(report: &Report) -> String {
    let h = &report.host;
    let name = if h.hostname.is_empty() {
        "(no name)"
    } else {
        &h.hostname
    };
    format!(
        "{name}: {} {}, kernel {}, {} cpus",
        h.os, h.arch, h.kernel, h.cpus
    )
}

/// The settings of a run as (name, value) rows.
pub fn settings(report: &Report) -> Vec<(&'static str, String)> {
    let c = &report.config;
    let mut rows = vec![
        ("workload", workload(report)),
        ("target", target(report)),
        (
            "connections",
            format!("{} on {} client threads", c.connections, c.threads),
        ),
        ("pipeline", c.pipeline.to_string()),
        ("load", load(report)),
        ("size", c.size.to_string()),
    ];
    if c.workload != WorkloadKind::UdpEcho {
        rows.push(("nodelay client", on_off(client_nodelay(report)).to_owned()));
        rows.push(("nodelay server", server_nodelay(report)));
    }
    if c.workload == WorkloadKind::Framed {
        rows.push(("client writes", c.write_mode.as_str().to_owned()));
    }
    rows.push(("length", length(report)));
    rows.push(("started", report.started_at.clone()));
    rows.push((
        "tool",
        format!("{} {}", report.tool.name, report.tool.version),
    ));
    rows.push(("host", host(report)));
    if !report.label.trim().is_empty() {
        rows.push(("label", report.label.trim().to_owned()));
    }
    rows
}

/// The settings block of a run: name/value pairs that wrap across the page's width
/// (`<dl class="settings">`).
pub(super) fn settings_block(out: &mut String, report: &Report) {
    out.push_str("<dl class=\"settings\">");
    for (name, value) in settings(report) {
        let _ = write!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(name),
            escape(&value)
        );
    }
    out.push_str("</dl>\n");
}
