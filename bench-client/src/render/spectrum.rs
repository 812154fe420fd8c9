//! The percentile spectrum: latency against percentile on HdrHistogram's axis (`0%`,
//! `90%`, `99%` ... `99.9999%`, log-spaced in nines), every histogram on one chart.
//! Where a histogram's samples run out, the chart says so: a hollow marker where fewer
//! than 10 samples lie beyond, a filled one at the last sample (the max; the line runs
//! on flat from there, as HdrHistogram's own plotter draws it), and the legend gives
//! each series' sample count and the percentile its data ends at.

use hdrhistogram::Histogram;

use super::charts::{Chart, Marker, RenderError, Series, ns_label};

/// Points per spectrum series: percentiles `1 - 10^-x` for x in 0..=6 in even steps.
pub const SPECTRUM_POINTS: usize = 121;
/// The spectrum's right end: 99.9999% is `1 - 10^-6`.
const SPECTRUM_NINES: f64 = 6.0;
/// The hollow marker: fewer samples than this lie beyond it.
const FEW_SAMPLES: u64 = 10;

/// The percentile spectrum points of a histogram: (x = nines, latency ns).
pub fn spectrum(hist: &Histogram<u64>) -> Vec<(f64, f64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    (0..SPECTRUM_POINTS)
        .map(|i| {
            let x = SPECTRUM_NINES * i as f64 / (SPECTRUM_POINTS - 1) as f64;
            (x, at_nines(hist, x))
        })
        .collect()
}

fn at_nines(hist: &Histogram<u64>, x: f64) -> f64 {
    let q = 1.0 - 10f64.powf(-x);
    hist.value_at_quantile(q).max(1) as f64
}

/// `0%`, `90%`, `99%`, `99.9%` ... for a position on the spectrum's x axis.
pub(super) fn nines_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = (x - 2.0).ceil().max(0.0) as usize;
    format!("{q:.digits$}%")
}

/// Where `count` samples leave `left` beyond (in nines): `log10(count / left)`.
fn nines_with_left(count: u64, left: u64) -> f64 {
    (count as f64 / left as f64).log10()
}

/// The markers of series `i`: fewer than 10 samples beyond, and the data's end.
fn tail_markers(i: usize, name: &str, hist: &Histogram<u64>) -> Vec<Marker> {
    let count = hist.len();
    let mut markers = Vec::new();
    if count > FEW_SAMPLES {
        let x = nines_with_left(count, FEW_SAMPLES);
        if x <= SPECTRUM_NINES {
            markers.push(Marker {
                series: i,
                at: (x, at_nines(hist, x)),
                filled: false,
                tooltip: format!(
                    "{name}: {FEW_SAMPLES} of {count} samples lie beyond {}",
                    nines_label(x)
                ),
                text: None,
            });
        }
    }
    let end = nines_with_left(count, 1).min(SPECTRUM_NINES);
    markers.push(Marker {
        series: i,
        at: (end, hist.max().max(1) as f64),
        filled: true,
        tooltip: format!(
            "{name}: the data ends here: the slowest of {count} samples, {}",
            ns_label(&(hist.max() as f64))
        ),
        text: None,
    });
    markers
}

/// The legend note of a series: its count and where its data ends.
fn count_note(hist: &Histogram<u64>) -> String {
    let count = hist.len();
    let end = nines_with_left(count, 1);
    if end >= SPECTRUM_NINES {
        format!("{count} samples")
    } else {
        format!("{count} samples, data ends at {}", nines_label(end))
    }
}

/// The percentile spectrum of every (non-empty) histogram on one chart, titled `title`.
pub(super) fn spectrum_chart(
    title: &str,
    runs: &[(&str, &Histogram<u64>)],
) -> Result<String, RenderError> {
    let mut markers = Vec::new();
    let mut series = Vec::new();
    for (i, (name, hist)) in runs.iter().enumerate() {
        markers.extend(tail_markers(i, name, hist));
        series.push(Series {
            name: (*name).to_owned(),
            note: Some(count_note(hist)),
            points: spectrum(hist),
            look: None,
        });
    }
    let mut chart = Chart {
        title,
        x_desc: "percentile (log scale in nines)",
        y_desc: "latency (log scale)",
        log_y: true,
        x_range: Some((0.0, SPECTRUM_NINES)),
        x_ticks: Some(SPECTRUM_NINES as usize + 1),
        x_label: &|x| nines_label(*x),
        y_label: &ns_label,
        markers: Vec::new(),
    };
    chart.markers = markers;
    let svg = chart.draw(&series)?;
    Ok(svg + MARKER_NOTE)
}

/// What the markers mean, under every spectrum.
const MARKER_NOTE: &str = "<p class=\"note\">○ fewer than 10 samples lie beyond this \
     point; ● the data ends: the slowest sample (the line runs on flat at the max).</p>";

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for &(v, n) in values {
            h.record_n(v, n).unwrap();
        }
        h
    }

    #[test]
    fn the_spectrum_axis_is_labelled_in_nines() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(6.0), "99.9999%");
    }

    #[test]
    fn spectrum_points_reach_six_nines_and_follow_the_histogram() {
        // The case: one request in 800k took a thousand times the others.
        let h = hist(&[(1_000, 799_999), (1_000_000, 1)]);
        let points = spectrum(&h);
        assert_eq!(points.len(), SPECTRUM_POINTS);
        assert_eq!(points[0].1, 1_000.0);
        assert_eq!(points.last().unwrap().0, 6.0);
        // It shows at the right end (at 99.999% it would not).
        assert!((points.last().unwrap().1 - 1_000_000.0).abs() < 1_000.0);
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn markers_sit_where_ten_samples_remain_and_where_the_data_ends() {
        let h = hist(&[(1_000, 990), (5_000, 10)]);
        let markers = tail_markers(0, "run", &h);
        assert_eq!(markers.len(), 2);
        // 1000 samples: 10 remain beyond 99%, the last one at 99.9%.
        assert!((markers[0].at.0 - 2.0).abs() < 1e-9, "{}", markers[0].at.0);
        assert!(!markers[0].filled && markers[1].filled);
        assert!((markers[1].at.0 - 3.0).abs() < 1e-9);
        assert!((markers[1].at.1 - 5_000.0).abs() < 10.0);
        assert!(markers[0].tooltip.contains("10 of 1000 samples"));
        assert_eq!(count_note(&h), "1000 samples, data ends at 99.9%");
    }
}
