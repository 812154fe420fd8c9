//! `sweep` and `search` through the binary, against the embedded framed server with
//! `--cmd sleep`: each connection has one request in flight and the server holds each for
//! the sleep, so the capacity is connections / sleep, known in advance.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use bench_client::report::curve::{CurveSummary, PointVerdict};
use common::{client_bin, temp_path};

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `bench-client COMMAND framed --cmd sleep --sleep SLEEP ... --out-dir DIR`; returns the
/// output and the one time-stamped folder it made.
fn curve_command(command: &str, sleep: &str, args: &[&str], dir: &Path) -> (Output, PathBuf) {
    let out = client_bin()
        .args([command, "framed", "--cmd", "sleep", "--sleep", sleep])
        // A loaded machine wakes the client late now and then: that is not what these
        // tests are about (the bound's own rule is judged on its numbers in `judge`'s
        // unit test).
        .args(["--warmup", "0s", "--max-send-lag", "2s"])
        .args(args)
        .arg("--out-dir")
        .arg(dir)
        .output()
        .unwrap();
    let folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(folders.len(), 1, "{}", text(&out));
    (out, folders[0].clone())
}

fn summary(folder: &Path) -> CurveSummary {
    serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap()
}

/// Points per data series (2 px polylines) of every figure, by its `data-chart`.
fn chart_points(html: &str) -> Vec<(String, Vec<usize>)> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(html, options).expect("well-formed");
    doc.descendants()
        .filter(|n| n.has_tag_name("figure"))
        .map(|fig| {
            let series = fig
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .map(|n| n.attribute("points").unwrap().split_whitespace().count())
                .collect();
            (fig.attribute("data-chart").unwrap_or("").to_owned(), series)
        })
        .collect()
}

#[test]
fn a_sweep_runs_log_spaced_steps_with_a_report_each_and_draws_a_point_per_step() {
    let dir = temp_path("sweep");
    let (out, folder) = curve_command(
        "sweep",
        "10ms",
        &[
            "--connections",
            "8",
            "--rates",
            "50..400",
            "--steps",
            "4",
            "--duration",
            "500ms",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&folder);
    assert_eq!(s.kind, "sweep");
    assert_eq!(s.points.len(), 4);
    let rates: Vec<f64> = s.points.iter().map(|p| p.offered_rate).collect();
    for (rate, want) in rates.iter().zip([50.0, 100.0, 200.0, 400.0]) {
        assert!((rate - want).abs() < 1e-6, "{rates:?}");
    }
    for p in &s.points {
        assert!(folder.join(&p.report).is_file(), "{}", p.report);
        assert!(p.requests > 0, "{p:?}");
    }
    assert_eq!(s.slos, ["errors<0.1%"], "the implicit SLO on errors");
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    let charts = chart_points(&html);
    assert_eq!(
        charts,
        [
            ("latency-throughput".to_owned(), vec![4, 4, 4]),
            ("achieved-offered".to_owned(), vec![4, 4]),
        ],
        "{charts:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("step-04"), "{stdout}");
    // `render` redraws the same page from the folder.
    let page = dir.join("again.html");
    let redraw = client_bin()
        .arg("render")
        .arg(&folder)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(redraw.status.code(), Some(0), "{}", text(&redraw));
    assert_eq!(
        chart_points(&std::fs::read_to_string(&page).unwrap()),
        charts
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_can_stop_at_the_first_failing_step() {
    // One connection of a 20 ms sleep carries 50 req/s: 400 cannot be offered.
    let dir = temp_path("sweep-stop");
    let (out, folder) = curve_command(
        "sweep",
        "20ms",
        &[
            "--connections",
            "1",
            "--rates",
            "10,400,800",
            "--duration",
            "500ms",
            "--stop-on-fail",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&folder);
    assert_eq!(s.points.len(), 2, "{}", text(&out));
    assert_eq!(s.points[1].verdict, PointVerdict::GeneratorLimited);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_search_finds_a_rate_near_the_capacity_the_sleep_sets() {
    // 4 connections x 1 / 20 ms = 200 req/s. Below it the latency is the sleep; above
    // it a backlog builds and the p99 passes 100 ms within a trial.
    let dir = temp_path("search");
    let (out, folder) = curve_command(
        "search",
        "20ms",
        &[
            "--connections",
            "4",
            "--slo",
            "p99<100ms",
            "--start-rate",
            "50",
            "--precision",
            "25%",
            "--trial",
            "1s",
            "--confirm",
            "1s",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&folder);
    assert_eq!(s.kind, "search");
    let search = s.search.as_ref().unwrap();
    let found = search.found_rate.expect("a rate");
    assert!(
        (50.0..=250.0).contains(&found),
        "found {found} req/s\n{}",
        text(&out)
    );
    assert_eq!(search.confirmed, Some(true));
    let high = search.bracket_high.expect("a failing rate");
    assert!(high > found && high <= 800.0, "{search:?}");
    assert_eq!(s.points[0].phase.as_deref(), Some("exponential"));
    assert_eq!(s.points.last().unwrap().phase.as_deref(), Some("confirm"));
    assert!(s.points.iter().any(|p| !p.passed()), "{}", text(&out));
    for p in &s.points {
        assert!(folder.join(&p.report).is_file(), "{}", p.report);
    }
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    let n = s.points.len();
    assert_eq!(chart_points(&html)[0].1, vec![n, n, n]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_search_the_generator_cannot_offer_is_labelled_generator_limited_and_exits_1() {
    // One connection of a 20 ms sleep carries 50 req/s; the search starts at 400.
    let dir = temp_path("search-gen");
    let (out, folder) = curve_command(
        "search",
        "20ms",
        &[
            "--connections",
            "1",
            "--slo",
            "p99<1s",
            "--start-rate",
            "400",
            "--trial",
            "500ms",
            "--confirm",
            "500ms",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let s = summary(&folder);
    let search = s.search.as_ref().unwrap();
    assert_eq!(search.found_rate, None);
    assert!(search.generator_limited, "{search:?}");
    assert_eq!(s.points.len(), 1);
    assert_eq!(s.points[0].verdict, PointVerdict::GeneratorLimited);
    assert!(
        s.points[0].reasons[0].contains("of 400 req/s offered"),
        "{:?}",
        s.points[0].reasons
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("generator-limited"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn curve_commands_refuse_flags_that_set_the_rate_or_the_length() {
    let dir = temp_path("curve-bad");
    for args in [
        vec!["sweep", "tcp-echo", "--rates", "10k", "--rate", "5"],
        vec!["sweep", "tcp-echo", "--rates", "10k", "--steps", "3"],
        vec!["sweep", "tcp-echo", "--rates", "fast"],
        vec!["search", "tcp-echo"],
        vec!["search", "tcp-echo", "--slo", "p99<+10%"],
        vec!["search", "tcp-echo", "--slo", "p99<1ms", "--duration", "1s"],
        vec![
            "search",
            "tcp-echo",
            "--slo",
            "p99<1ms",
            "--precision",
            "0%",
        ],
        vec![
            "search",
            "tcp-echo",
            "--slo",
            "p99<1ms",
            "--watch-pid",
            "x=4000000000",
        ],
    ] {
        let out = client_bin()
            .args(&args)
            .arg("--out-dir")
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!dir.exists(), "{args:?}: nothing is written");
    }
}
