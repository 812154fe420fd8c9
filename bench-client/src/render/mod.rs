//! `render`: one self-contained HTML page (inline SVG drawn with plotters' SVG backend, no
//! scripts, no fonts or anything else from the network) with
//!
//! - the percentile spectrum of every run on one chart (latency against percentile on the
//!   usual HdrHistogram axis, 0% .. 99.999%, log-spaced);
//! - per run, latency (p50, p99, max) over time and throughput over time, from the
//!   timeline;
//! - for a matrix folder (suite, nagle), the matrix table with the stall verdicts.
//!
//! The page is well-formed XML (XHTML syntax), so any XML parser can check it.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::report::Report;
use crate::suite::{Summary, SummaryRow, format_ns, on_off};

/// Points per spectrum series: percentiles `1 - 10^-x` for x in 0..=5 in even steps.
pub const SPECTRUM_POINTS: usize = 101;
/// The spectrum's right end: 99.999% is `1 - 10^-5`.
const SPECTRUM_NINES: f64 = 5.0;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 400;

/// What goes on a page.
#[derive(Debug)]
pub struct Page<'a> {
    /// The heading.
    pub title: &'a str,
    /// The runs, each with the name it is shown under.
    pub runs: &'a [(&'a str, &'a Report)],
    /// The matrix table of a suite or nagle folder.
    pub matrix: Option<&'a Summary>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the {chart} chart: {reason}")]
pub struct RenderError {
    /// Which chart.
    pub chart: String,
    /// What plotters said.
    pub reason: String,
}

/// The distinct series colours, cycled.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// A line on a chart.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// The percentile spectrum points of a histogram: (x = nines, latency ns).
pub fn spectrum(hist: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    (0..SPECTRUM_POINTS)
        .map(|i| {
            let x = SPECTRUM_NINES * i as f64 / (SPECTRUM_POINTS - 1) as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, hist.value_at_quantile(q).max(1) as f64)
        })
        .collect()
}

/// `0%`, `90%`, `99%`, `99.9%` ... for a position on the spectrum's x axis.
fn nines_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = (x - 2.0).ceil().max(0.0) as usize;
    format!("{q:.digits$}%")
}

fn draw_err(chart: &str) -> impl Fn(Box<dyn std::fmt::Display + '_>) -> RenderError + '_ {
    move |e| RenderError {
        chart: chart.to_owned(),
        reason: e.to_string(),
    }
}

/// A line chart as an SVG string (the legend is HTML beside it, so it never covers a
/// line). `log_y` draws the y axis on a log scale.
struct Chart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    log_y: bool,
    /// The x axis; `None`: the data's extent.
    x_range: Option<(f64, f64)>,
    /// Labelled x ticks; `None`: plotters' choice.
    x_ticks: Option<usize>,
    x_label: &'a dyn Fn(&f64) -> String,
    y_label: &'a dyn Fn(&f64) -> String,
}

impl Chart<'_> {
    fn draw(&self, series: &[Series]) -> Result<String, RenderError> {
        let fail = draw_err(self.title);
        let all = || series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1) = self.x_range.unwrap_or_else(|| {
            all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)))
        });
        let (mut y0, mut y1) =
            all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        if y0 > y1 {
            (y0, y1) = (1.0, 10.0);
        }
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(Box::new(e)))?;
            let mut builder = ChartBuilder::on(&root);
            builder
                .caption(self.title, ("sans-serif", 18))
                .margin(12)
                .margin_right(40)
                .x_label_area_size(40)
                .y_label_area_size(80);
            macro_rules! finish {
                ($chart:expr) => {{
                    let mut chart = $chart.map_err(|e| fail(Box::new(e)))?;
                    let mut mesh = chart.configure_mesh();
                    mesh.x_desc(self.x_desc)
                        .y_desc(self.y_desc)
                        .x_label_formatter(self.x_label)
                        .y_label_formatter(self.y_label);
                    if let Some(n) = self.x_ticks {
                        mesh.x_labels(n);
                    }
                    mesh.draw().map_err(|e| fail(Box::new(e)))?;
                    for (i, s) in series.iter().enumerate() {
                        chart
                            .draw_series(LineSeries::new(
                                s.points.iter().copied(),
                                colour(i).stroke_width(2),
                            ))
                            .map_err(|e| fail(Box::new(e)))?;
                    }
                }};
            }
            if self.log_y {
                let (lo, hi) = ((y0 * 0.7).max(1.0), (y1 * 2.0).max(y0 * 4.0));
                finish!(builder.build_cartesian_2d(x0..x1, (lo..hi).log_scale()));
            } else {
                let hi = if y1 > 0.0 { y1 * 1.15 } else { 1.0 };
                finish!(builder.build_cartesian_2d(x0..x1, 0.0..hi));
            }
            root.present().map_err(|e| fail(Box::new(e)))?;
        }
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        Ok(strip_prolog(svg) + &legend(&names))
    }
}

/// The HTML legend of a chart's series, in their colours.
fn legend(names: &[&str]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (i, name) in names.iter().enumerate() {
        let RGBColor(r, g, b) = colour(i);
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}</li>",
            escape(name)
        );
    }
    out.push_str("</ul>");
    out
}

/// The SVG element alone (no XML declaration), for inlining.
fn strip_prolog(svg: String) -> String {
    match svg.find("<svg") {
        Some(0) | None => svg,
        Some(at) => svg[at..].to_owned(),
    }
}

fn ns_label(v: &f64) -> String {
    format_ns(v.max(0.0).round() as u64)
}

fn seconds_label(v: &f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}s")
    } else {
        format!("{v:.1}s")
    }
}

fn rate_label(v: &f64) -> String {
    if *v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if *v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The latency histograms of runs, decoded, with their names.
fn histograms<'a>(
    runs: impl IntoIterator<Item = (&'a str, &'a crate::report::LatencySummary)>,
) -> Result<Vec<(&'a str, hdrhistogram::Histogram<u64>)>, RenderError> {
    runs.into_iter()
        .map(|(name, latency)| {
            let hist = latency.decode().map_err(|e| RenderError {
                chart: "percentile spectrum".to_owned(),
                reason: format!("{name}: {e}"),
            })?;
            Ok((name, hist))
        })
        .collect()
}

/// The percentile spectrum of every histogram on one chart.
pub fn spectrum_chart(
    runs: &[(&str, hdrhistogram::Histogram<u64>)],
) -> Result<String, RenderError> {
    let series: Vec<Series> = runs
        .iter()
        .map(|(name, hist)| Series {
            name: (*name).to_owned(),
            points: spectrum(hist),
        })
        .collect();
    Chart {
        title: "Latency by percentile",
        x_desc: "percentile",
        y_desc: "latency",
        log_y: true,
        x_range: Some((0.0, SPECTRUM_NINES)),
        x_ticks: Some(SPECTRUM_NINES as usize + 1),
        x_label: &|x| nines_label(*x),
        y_label: &ns_label,
    }
    .draw(&series)
}

/// p50, p99 and max over time, from one run's timeline.
pub fn latency_chart(name: &str, report: &Report) -> Result<String, RenderError> {
    let mid = |e: &crate::report::TimelineEntry| e.t_s + e.duration_s / 2.0;
    let line = |label: &str, pick: fn(&crate::report::TimelineEntry) -> u64| Series {
        name: label.to_owned(),
        points: report
            .timeline
            .iter()
            .map(|e| (mid(e), pick(e) as f64))
            .collect(),
    };
    let series = [
        line("p50", |e| e.p50_ns),
        line("p99", |e| e.p99_ns),
        line("max", |e| e.max_ns),
    ];
    Chart {
        title: &format!("{name}: latency over time"),
        x_desc: "time",
        y_desc: "latency",
        log_y: false,
        x_range: Some(time_range(report)),
        x_ticks: None,
        x_label: &seconds_label,
        y_label: &ns_label,
    }
    .draw(&series)
}

/// The recorded part, in seconds.
fn time_range(report: &Report) -> (f64, f64) {
    let end = report
        .timeline
        .iter()
        .map(|e| e.t_s + e.duration_s)
        .fold(report.duration_s, f64::max);
    (0.0, end)
}

/// Successful requests per second over time, from one run's timeline.
pub fn throughput_chart(name: &str, report: &Report) -> Result<String, RenderError> {
    let series = [Series {
        name: "req/s".to_owned(),
        points: report
            .timeline
            .iter()
            .map(|e| (e.t_s + e.duration_s / 2.0, e.requests_per_s))
            .collect(),
    }];
    Chart {
        title: &format!("{name}: throughput over time"),
        x_desc: "time",
        y_desc: "requests/s",
        log_y: false,
        x_range: Some(time_range(report)),
        x_ticks: None,
        x_label: &seconds_label,
        y_label: &rate_label,
    }
    .draw(&series)
}

/// Escapes text for HTML/XML content and attribute values; control characters (which
/// XML does not allow) become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}\
tr.stall td{background:#fde2e2}\
figure{margin:1em 0}\
ul.legend{list-style:none;padding:0;margin:0 0 0 90px;font-size:90%}\
ul.legend li{display:inline-block;margin-right:1.5em}\
.swatch{display:inline-block;width:18px;height:4px;margin-right:6px;vertical-align:middle}\
.note{color:#555}";

fn matrix_table(out: &mut String, summary: &Summary) {
    out.push_str("<table class=\"matrix\">\n<tr><th>cell</th><th>workload</th>");
    out.push_str("<th>client nodelay</th><th>server nodelay</th><th>write mode</th>");
    out.push_str("<th>req/s</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th>");
    out.push_str("<th>errors</th><th>verdict</th></tr>\n");
    for row in &summary.cells {
        let stalled = row.verdict.is_some_and(|v| v.stalled);
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if stalled { " class=\"stall\"" } else { "" },
            escape(&row.name),
            row.workload.as_str(),
            row.nodelay.map_or("-", on_off),
            row.server_nodelay.map_or("-", on_off),
            escape(&write_modes(row)),
            row.requests_per_s,
            format_ns(row.p50_ns),
            format_ns(row.p99_ns),
            format_ns(row.p99_9_ns),
            format_ns(row.max_ns),
            row.errors,
            escape(&row.verdict.map_or_else(|| "-".to_owned(), |v| v.text())),
        );
    }
    out.push_str("</table>\n");
}

fn write_modes(row: &SummaryRow) -> String {
    match (row.write_mode, row.server_write_mode) {
        (Some(c), Some(s)) if c == s => c.as_str().to_owned(),
        (Some(c), Some(s)) => format!("client {}, server {}", c.as_str(), s.as_str()),
        (Some(c), None) => format!("client {}", c.as_str()),
        (None, Some(s)) => format!("server {}", s.as_str()),
        (None, None) => "-".to_owned(),
    }
}

fn figure(out: &mut String, kind: &str, run: Option<&str>, svg: &str) {
    let _ = write!(out, "<figure class=\"chart\" data-chart=\"{kind}\"");
    if let Some(run) = run {
        let _ = write!(out, " data-run=\"{}\"", escape(run));
    }
    out.push('>');
    out.push_str(svg);
    out.push_str("</figure>\n");
}

fn run_line(report: &Report) -> String {
    let l = &report.latency;
    format!(
        "{} {}, {:.1}s recorded, {} ok, {} errors, {:.0} req/s, p50 {}, p99 {}, max {}{}",
        report.config.workload.as_str(),
        report.target.addr,
        report.duration_s,
        report.totals.ok,
        report.totals.error_count,
        report.totals.requests_per_s,
        format_ns(l.p50_ns),
        format_ns(l.p99_ns),
        format_ns(l.max_ns),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    )
}

fn page_head(out: &mut String, title: &str) {
    let title = escape(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\
         <meta charset=\"utf-8\"/><title>{title}</title><style>{STYLE}</style></head>\n\
         <body>\n<h1>{title}</h1>\n"
    );
}

/// The page of an overhead measurement: both legs' spectra (merged over the rounds), the
/// overhead table, and each round's percentiles and throughput per leg.
pub fn render_overhead(summary: &crate::overhead::OverheadSummary) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(
        &mut out,
        &format!(
            "wirebench overhead {} {}",
            summary.workload.as_str(),
            summary.started_at
        ),
    );
    let relay = summary.relay.as_ref().map_or_else(String::new, |r| {
        format!(
            " (embedded relay: {}, nodelay front {}, back {})",
            r.strategy.as_str(),
            on_off(r.nodelay_front),
            on_off(r.nodelay_back)
        )
    });
    let _ = writeln!(
        out,
        "<p class=\"note\">{} rounds, direct {} against proxied {}{}{}.</p>",
        summary.rounds.len(),
        escape(&summary.direct_addr),
        escape(&summary.proxied_addr),
        escape(&relay),
        if summary.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    out.push_str("<h2>Overhead</h2>\n<table class=\"overhead\">\n<tr><th>field</th>");
    out.push_str("<th>direct</th><th>proxied</th><th>ratio</th><th>ratio per round</th>");
    out.push_str("<th>added per round</th></tr>\n");
    for f in &summary.fields {
        out.push_str("<tr><td>");
        out.push_str(&escape(&f.field));
        for cell in f.cells() {
            let _ = write!(out, "</td><td>{}", escape(&cell));
        }
        out.push_str("</td></tr>\n");
    }
    let (direct_errors, proxied_errors) = summary.errors();
    let _ = writeln!(
        out,
        "<tr><td>errors</td><td>{direct_errors}</td><td>{proxied_errors}</td><td>-</td>\
         <td>-</td><td>-</td></tr>"
    );
    out.push_str("</table>\n<h2>Percentile spectrum</h2>\n");
    let hists = histograms([("direct", &summary.direct), ("proxied", &summary.proxied)])?;
    figure(&mut out, "spectrum", None, &spectrum_chart(&hists)?);
    let per_round =
        |pick: fn(&crate::overhead::LegRow) -> f64,
         leg: fn(&crate::overhead::Round) -> &crate::overhead::LegRow| {
            summary
                .rounds
                .iter()
                .map(|r| (r.round as f64, pick(leg(r))))
                .collect::<Vec<_>>()
        };
    fn direct(r: &crate::overhead::Round) -> &crate::overhead::LegRow {
        &r.direct
    }
    fn proxied(r: &crate::overhead::Round) -> &crate::overhead::LegRow {
        &r.proxied
    }
    let range = Some((0.5, summary.rounds.len() as f64 + 0.5));
    let latency = [
        Series {
            name: "direct p50".to_owned(),
            points: per_round(|l| l.p50_ns as f64, direct),
        },
        Series {
            name: "proxied p50".to_owned(),
            points: per_round(|l| l.p50_ns as f64, proxied),
        },
        Series {
            name: "direct p99".to_owned(),
            points: per_round(|l| l.p99_ns as f64, direct),
        },
        Series {
            name: "proxied p99".to_owned(),
            points: per_round(|l| l.p99_ns as f64, proxied),
        },
    ];
    out.push_str("<h2>Rounds</h2>\n");
    let round_label = |v: &f64| {
        if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    let svg = Chart {
        title: "Latency per round",
        x_desc: "round",
        y_desc: "latency",
        log_y: false,
        x_range: range,
        x_ticks: None,
        x_label: &round_label,
        y_label: &ns_label,
    }
    .draw(&latency)?;
    figure(&mut out, "latency-per-round", None, &svg);
    let throughput = [
        Series {
            name: "direct".to_owned(),
            points: per_round(|l| l.requests_per_s, direct),
        },
        Series {
            name: "proxied".to_owned(),
            points: per_round(|l| l.requests_per_s, proxied),
        },
    ];
    let svg = Chart {
        title: "Throughput per round",
        x_desc: "round",
        y_desc: "requests/s",
        log_y: false,
        x_range: range,
        x_ticks: None,
        x_label: &round_label,
        y_label: &rate_label,
    }
    .draw(&throughput)?;
    figure(&mut out, "throughput-per-round", None, &svg);
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// The whole page.
pub fn render_page(page: &Page<'_>) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(&mut out, page.title);
    if let Some(summary) = page.matrix {
        let _ = writeln!(
            out,
            "<h2>Matrix</h2>\n<p class=\"note\">{} started {}{}. The verdict flags cells \
             where at least {:.0}% of requests took {}..{} (the delayed-ACK plateau).</p>",
            escape(&summary.kind),
            escape(&summary.started_at),
            if summary.interrupted {
                ", interrupted"
            } else {
                ""
            },
            crate::stall::FLAG_SHARE * 100.0,
            format_ns(crate::stall::PLATEAU_LOW.as_nanos() as u64),
            format_ns(crate::stall::PLATEAU_HIGH.as_nanos() as u64),
        );
        matrix_table(&mut out, summary);
    }
    out.push_str("<h2>Percentile spectrum</h2>\n");
    let hists = histograms(page.runs.iter().map(|(name, r)| (*name, &r.latency)))?;
    figure(&mut out, "spectrum", None, &spectrum_chart(&hists)?);
    for (name, report) in page.runs {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<p class=\"note\">{}</p>",
            escape(name),
            escape(&run_line(report))
        );
        figure(
            &mut out,
            "latency-over-time",
            Some(name),
            &latency_chart(name, report)?,
        );
        figure(
            &mut out,
            "throughput-over-time",
            Some(name),
            &throughput_chart(name, report)?,
        );
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// Writes a folder's `report.html`. A page that could not be drawn comes back as the
/// reason, for a warning: the measurements it would show are on disk already.
pub fn write_page(
    dir: &std::path::Path,
    page: Result<String, RenderError>,
) -> Result<Option<String>, crate::report::ReportError> {
    match page {
        Ok(html) => {
            crate::report::write_atomic(&dir.join("report.html"), html.as_bytes())?;
            Ok(None)
        }
        Err(e) => Ok(Some(e.to_string())),
    }
}

/// The page for report files (their spectra share one chart).
pub fn render_reports(paths: &[std::path::PathBuf]) -> anyhow::Result<String> {
    let reports = paths
        .iter()
        .map(|p| Report::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let stem = |p: &std::path::PathBuf| {
        p.file_stem().map_or_else(
            || p.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    };
    let stems: Vec<String> = paths.iter().map(stem).collect();
    // The same file name in two folders: show the paths, so the runs stay apart.
    let unique = (1..stems.len()).all(|i| !stems[..i].contains(&stems[i]));
    let names: Vec<String> = if unique {
        stems
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    let runs: Vec<(&str, &Report)> = names.iter().map(String::as_str).zip(&reports).collect();
    let title = match &names[..] {
        [one] => format!("wirebench {one}"),
        many => format!("wirebench: {} runs", many.len()),
    };
    Ok(render_page(&Page {
        title: &title,
        runs: &runs,
        matrix: None,
    })?)
}

/// The page for a folder: an overhead measurement (`overhead.json`), or a suite or nagle
/// matrix (`summary.json` and the cells' reports).
pub fn render_folder(dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    if dir.join("overhead.json").is_file() {
        let summary = crate::overhead::read_summary(dir)?;
        return Ok(render_overhead(&summary)?);
    }
    let path = dir.join("summary.json");
    let bytes = crate::input::read_capped(&path)
        .map_err(|e| anyhow::anyhow!("{e} (a suite or nagle folder has one)"))?;
    let summary: Summary = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a suite summary", path.display()))?;
    if summary.schema != crate::suite::SUMMARY_SCHEMA {
        anyhow::bail!(
            "{}: schema {:?}, this tool reads {:?}",
            path.display(),
            summary.schema,
            crate::suite::SUMMARY_SCHEMA
        );
    }
    let reports = summary
        .cells
        .iter()
        .map(|row| Report::read(&dir.join(&row.report)))
        .collect::<Result<Vec<_>, _>>()?;
    let runs: Vec<(&str, &Report)> = summary
        .cells
        .iter()
        .map(|r| r.name.as_str())
        .zip(&reports)
        .collect();
    Ok(render_page(&Page {
        title: &format!("wirebench {} {}", summary.kind, summary.started_at),
        runs: &runs,
        matrix: Some(&summary),
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spectrum_axis_is_labelled_in_nines() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(5.0), "99.999%");
    }

    #[test]
    fn spectrum_points_follow_the_histogram() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        h.record_n(1_000, 99).unwrap();
        h.record(1_000_000).unwrap();
        let points = spectrum(&h);
        assert_eq!(points.len(), SPECTRUM_POINTS);
        assert_eq!(points[0].1, 1_000.0);
        assert!((points.last().unwrap().1 - 1_000_000.0).abs() < 1_000.0);
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
