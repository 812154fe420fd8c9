//! The line chart every page draws: plotters' SVG backend draws the frame, the grid,
//! the ticks and the axis titles; the series themselves are written here as one
//! `<polyline>` each (colour and dash from `style`), with optional point markers that
//! carry a `<title>` (a tooltip, no script). The SVG scales to the page's width
//! (`width="100%"` and a `viewBox`); the legend is HTML below it, so it never covers a
//! line.

use std::fmt::Write as _;

use bench_proto::units::{format_ns, format_rate};
use plotters::prelude::*;

use super::html::escape;
use super::style::{Look, legend};

/// The drawing's size in SVG units; it is scaled to the page's width.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 440;
/// Font sizes as plotters takes them (it writes `size / 1.24` px into the SVG).
const TICK_FONT: u32 = 19;
const DESC_FONT: u32 = 21;
const CAPTION_FONT: u32 = 25;
/// Series with at most this many points get a dot on each.
const DOTTED_UP_TO: usize = 12;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the {chart} chart: {reason}")]
pub struct RenderError {
    /// Which chart.
    pub chart: String,
    /// What plotters said.
    pub reason: String,
}

/// A line on a chart.
pub(super) struct Series {
    pub(super) name: String,
    /// Shown after the name in the legend, in grey.
    pub(super) note: Option<String>,
    pub(super) points: Vec<(f64, f64)>,
    /// Its colour and dash; `None`: the series' place on the chart decides.
    pub(super) look: Option<Look>,
}

impl Series {
    /// A series with no legend note.
    pub(super) fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            note: None,
            points,
            look: None,
        }
    }

    /// The same series drawn with `look`.
    pub(super) fn with_look(mut self, look: Look) -> Series {
        self.look = Some(look);
        self
    }
}

/// The look of the `i`th of `series`.
fn look_of(series: &[Series], i: usize) -> Look {
    series
        .get(i)
        .and_then(|s| s.look)
        .unwrap_or_else(|| Look::nth(i))
}

/// A point drawn on top of a series (in its colour): hollow or filled, with a tooltip
/// and an optional short text beside it.
pub(super) struct Marker {
    pub(super) series: usize,
    pub(super) at: (f64, f64),
    pub(super) filled: bool,
    pub(super) tooltip: String,
    pub(super) text: Option<String>,
}

/// An axis: its title (with the unit) and how its ticks are labelled.
pub(super) type Axis<'a> = (&'a str, &'a dyn Fn(&f64) -> String);

/// A line chart, drawn to an SVG string by [`Chart::draw`].
pub(super) struct Chart<'a> {
    pub(super) title: &'a str,
    pub(super) x_desc: &'a str,
    pub(super) y_desc: &'a str,
    /// A log-scaled y axis (values at or below 0 sit on the axis' floor).
    pub(super) log_y: bool,
    /// The x axis; `None`: the data's extent.
    pub(super) x_range: Option<(f64, f64)>,
    /// Labelled x ticks; `None`: plotters' choice.
    pub(super) x_ticks: Option<usize>,
    pub(super) x_label: &'a dyn Fn(&f64) -> String,
    pub(super) y_label: &'a dyn Fn(&f64) -> String,
    pub(super) markers: Vec<Marker>,
}

impl<'a> Chart<'a> {
    /// A chart with a linear y axis, plotters' choice of x ticks and no markers;
    /// `x_range`: `None` for the data's extent.
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
            markers: Vec::new(),
        }
    }

    /// The same chart with a log-scaled y axis.
    pub(super) fn log(mut self) -> Chart<'a> {
        self.log_y = true;
        self
    }
}

fn draw_err(chart: &str) -> impl Fn(Box<dyn std::fmt::Display + '_>) -> RenderError + '_ {
    move |e| RenderError {
        chart: chart.to_owned(),
        reason: e.to_string(),
    }
}

/// The axes' extent over the data (and the markers).
fn extent(points: impl Iterator<Item = (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    points.fold(
        ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN)),
        |((x0, x1), (y0, y1)), (x, y)| ((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))),
    )
}

/// A log axis' floor and ceiling around positive values `lo..=hi`.
fn log_bounds(lo: f64, hi: f64) -> (f64, f64) {
    if lo > hi || hi <= 0.0 {
        return (1.0, 10.0);
    }
    let lo = if lo > 0.0 { lo } else { hi / 1e3 };
    ((lo * 0.7).max(1.0), (hi * 1.6).max(lo * 4.0))
}

/// Pixel positions of the series and the markers, in the drawing's units.
struct Drawn {
    lines: Vec<Vec<(i32, i32)>>,
    markers: Vec<(i32, i32)>,
}

impl Chart<'_> {
    /// The chart as an inline SVG element followed by its HTML legend.
    pub(super) fn draw(&self, series: &[Series]) -> Result<String, RenderError> {
        let all = series.iter().flat_map(|s| s.points.iter().copied());
        let ((mut x0, mut x1), (_, y1)) = extent(all.chain(self.markers.iter().map(|m| m.at)));
        if let Some(range) = self.x_range {
            (x0, x1) = range;
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let mut svg = String::new();
        let drawn = if self.log_y {
            let smallest_positive = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(self.markers.iter().map(|m| m.at.1))
                .filter(|y| *y > 0.0)
                .fold(f64::MAX, f64::min);
            let (lo, hi) = log_bounds(smallest_positive, y1);
            self.plot(&mut svg, series, x0..x1, (lo..hi).log_scale(), lo)?
        } else {
            let hi = if y1 > 0.0 { y1 * 1.15 } else { 1.0 };
            self.plot(&mut svg, series, x0..x1, 0.0..hi, 0.0)?
        };
        let mut out = responsive(&svg);
        let at = out.rfind("</svg>").unwrap_or(out.len());
        out.insert_str(at, &self.overlay(series, &drawn));
        let entries: Vec<(Look, &str, Option<&str>)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (look_of(series, i), s.name.as_str(), s.note.as_deref()))
            .collect();
        Ok(out + &legend(&entries))
    }

    /// Draws the frame with plotters and maps the points to pixels.
    fn plot<Y>(
        &self,
        svg: &mut String,
        series: &[Series],
        x: std::ops::Range<f64>,
        y: Y,
        floor: f64,
    ) -> Result<Drawn, RenderError>
    where
        Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
        Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        let fail = draw_err(self.title);
        let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(Box::new(e)))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", CAPTION_FONT))
            .margin(14)
            .margin_right(48)
            .x_label_area_size(62)
            .y_label_area_size(110)
            .build_cartesian_2d(x, y)
            .map_err(|e| fail(Box::new(e)))?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .label_style(("sans-serif", TICK_FONT))
            .axis_desc_style(("sans-serif", DESC_FONT))
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(200, 200, 200))
            .x_label_formatter(self.x_label)
            .y_label_formatter(self.y_label);
        if let Some(n) = self.x_ticks {
            mesh.x_labels(n);
        }
        mesh.draw().map_err(|e| fail(Box::new(e)))?;
        let to_px = |&(px, py): &(f64, f64)| {
            let py = if self.log_y && py <= floor { floor } else { py };
            chart.backend_coord(&(px, py))
        };
        let drawn = Drawn {
            lines: series
                .iter()
                .map(|s| s.points.iter().map(to_px).collect())
                .collect(),
            markers: self.markers.iter().map(|m| to_px(&m.at)).collect(),
        };
        root.present().map_err(|e| fail(Box::new(e)))?;
        Ok(drawn)
    }

    /// The series' polylines and the markers, as SVG elements.
    fn overlay(&self, series: &[Series], drawn: &Drawn) -> String {
        let mut out = String::new();
        for (i, (s, line)) in series.iter().zip(&drawn.lines).enumerate() {
            let points: Vec<String> = line.iter().map(|(x, y)| format!("{x},{y}")).collect();
            let _ = write!(
                out,
                "<polyline {} points=\"{}\"><title>{}</title></polyline>",
                look_of(series, i).stroke(),
                points.join(" "),
                escape(&s.name)
            );
        }
        // A short series (a second-long run, two rounds) shows its points as dots: a
        // line of one point draws nothing.
        for (i, line) in drawn.lines.iter().enumerate() {
            if line.len() <= DOTTED_UP_TO {
                for (x, y) in line {
                    let _ = write!(
                        out,
                        "<circle class=\"point\" cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"{}\"/>",
                        look_of(series, i).colour()
                    );
                }
            }
        }
        for (m, (x, y)) in self.markers.iter().zip(&drawn.markers) {
            let c = look_of(series, m.series).colour();
            let fill = if m.filled { c } else { "white" };
            let _ = write!(
                out,
                "<circle class=\"marker\" cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"{fill}\" \
                 stroke=\"{c}\" stroke-width=\"2.5\"><title>{}</title></circle>",
                escape(&m.tooltip)
            );
            if let Some(text) = &m.text {
                let _ = write!(
                    out,
                    "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"14\" \
                     fill=\"{c}\" text-anchor=\"end\">{}</text>",
                    x - 8,
                    y - 8,
                    escape(text)
                );
            }
        }
        out
    }
}

/// The SVG element alone (no XML declaration), scaled to its container's width.
fn responsive(svg: &str) -> String {
    let svg = match svg.find("<svg") {
        Some(at) => &svg[at..],
        None => svg,
    };
    let fixed = format!("width=\"{WIDTH}\" height=\"{HEIGHT}\"");
    svg.replacen(
        &fixed,
        "width=\"100%\" preserveAspectRatio=\"xMinYMin meet\"",
        1,
    )
}

/// A latency tick: `52.3us`.
pub(super) fn ns_label(v: &f64) -> String {
    format_ns(v.max(0.0).round() as u64)
}

/// A time tick: `3s`, `2.5s`, `0.05s` (as many decimals as the tick has, up to 3).
pub(super) fn seconds_label(v: &f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

/// A rate tick: `850`, `12k`.
pub(super) fn rate_label(v: &f64) -> String {
    format_rate(*v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_scales_to_the_page_and_draws_one_polyline_per_series() {
        let series = [
            Series::new("a", vec![(0.0, 1.0), (1.0, 1000.0)]),
            Series::new("b", vec![(0.0, 0.0), (1.0, 10.0)]),
        ];
        let label = |v: &f64| format!("{v}");
        let svg = Chart::linear("t", ("x (s)", &label), ("y (ns)", &label), None)
            .log()
            .draw(&series)
            .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("width=\"100%\""), "{}", &svg[..200]);
        assert!(svg.contains(&format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\"")));
        assert_eq!(svg.matches("<polyline fill=\"none\" stroke=\"#").count(), 2);
        assert!(svg.contains("y (ns)"));
    }

    #[test]
    fn time_ticks_keep_the_decimals_they_have() {
        let ticks: Vec<String> = [0.0, 0.05, 0.1, 2.5, 3.0]
            .iter()
            .map(seconds_label)
            .collect();
        assert_eq!(ticks, ["0s", "0.05s", "0.1s", "2.5s", "3s"]);
    }

    #[test]
    fn log_bounds_stay_positive_and_wrap_the_data() {
        assert_eq!(log_bounds(f64::MAX, f64::MIN), (1.0, 10.0));
        let (lo, hi) = log_bounds(30_000.0, 1e9);
        assert!(lo > 0.0 && lo < 30_000.0 && hi > 1e9);
        let (lo, _) = log_bounds(0.0, 1e6);
        assert!((1.0..1e6).contains(&lo));
    }
}
