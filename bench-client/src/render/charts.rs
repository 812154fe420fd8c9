//! The SVG charts, drawn with plotters' SVG backend: the percentile spectrum, latency
//! and throughput over time, and the per-round charts of an overhead page.

use std::fmt::Write as _;

use bench_proto::units::{format_ns, format_rate};
use plotters::prelude::*;

use crate::report::{LatencySummary, Report, TimelineEntry};

use super::html::escape;

/// Points per spectrum series: percentiles `1 - 10^-x` for x in 0..=5 in even steps.
pub const SPECTRUM_POINTS: usize = 101;
/// The spectrum's right end: 99.999% is `1 - 10^-5`.
const SPECTRUM_NINES: f64 = 5.0;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 400;

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

pub(super) fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// A line on a chart.
pub(super) struct Series {
    pub(super) name: String,
    pub(super) points: Vec<(f64, f64)>,
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
pub(super) fn nines_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = (x - 2.0).ceil().max(0.0) as usize;
    format!("{q:.digits$}%")
}

pub(super) fn draw_err(
    chart: &str,
) -> impl Fn(Box<dyn std::fmt::Display + '_>) -> RenderError + '_ {
    move |e| RenderError {
        chart: chart.to_owned(),
        reason: e.to_string(),
    }
}

/// A line chart as an SVG string (the legend is HTML beside it, so it never covers a
/// line). `log_y` draws the y axis on a log scale.
pub(super) struct Chart<'a> {
    pub(super) title: &'a str,
    pub(super) x_desc: &'a str,
    pub(super) y_desc: &'a str,
    pub(super) log_y: bool,
    /// The x axis; `None`: the data's extent.
    pub(super) x_range: Option<(f64, f64)>,
    /// Labelled x ticks; `None`: plotters' choice.
    pub(super) x_ticks: Option<usize>,
    pub(super) x_label: &'a dyn Fn(&f64) -> String,
    pub(super) y_label: &'a dyn Fn(&f64) -> String,
}

/// An axis: its description and how its ticks are labelled.
pub(super) type Axis<'a> = (&'a str, &'a dyn Fn(&f64) -> String);

impl<'a> Chart<'a> {
    /// A chart with linear axes and plotters' choice of x ticks; `x_range`: `None` for
    /// the data's extent.
    pub(super) fn linear(
        title: &'a str,
        (x_desc, x_label): Axis<'a>,
        (y_desc, y_label): Axis<'a>,
        x_range: Option<(f64, f64)>,
    ) -> Chart<'a> {
        Chart {
            title,
            x_desc,
            y_desc,
            log_y: false,
            x_range,
            x_ticks: None,
            x_label,
            y_label,
        }
    }
}

impl Chart<'_> {
    pub(super) fn draw(&self, series: &[Series]) -> Result<String, RenderError> {
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
pub(super) fn legend(names: &[&str]) -> String {
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
pub(super) fn strip_prolog(svg: String) -> String {
    match svg.find("<svg") {
        Some(0) | None => svg,
        Some(at) => svg[at..].to_owned(),
    }
}

pub(super) fn ns_label(v: &f64) -> String {
    format_ns(v.max(0.0).round() as u64)
}

pub(super) fn seconds_label(v: &f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}s")
    } else {
        format!("{v:.1}s")
    }
}

pub(super) fn rate_label(v: &f64) -> String {
    format_rate(*v)
}

/// The latency histograms of runs, decoded, with their names.
pub(super) fn histograms<'a>(
    runs: impl IntoIterator<Item = (&'a str, &'a LatencySummary)>,
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
    let mid = |e: &TimelineEntry| e.t_s + e.duration_s / 2.0;
    let line = |label: &str, pick: fn(&TimelineEntry) -> u64| Series {
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
    Chart::linear(
        &format!("{name}: latency over time"),
        ("time", &seconds_label),
        ("latency", &ns_label),
        Some(time_range(report)),
    )
    .draw(&series)
}

/// The recorded part, in seconds.
pub(super) fn time_range(report: &Report) -> (f64, f64) {
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
    Chart::linear(
        &format!("{name}: throughput over time"),
        ("time", &seconds_label),
        ("requests/s", &rate_label),
        Some(time_range(report)),
    )
    .draw(&series)
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
}
