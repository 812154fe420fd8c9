//! The analysis commands on real runs: the Nagle matrix (the stall reproduces on
//! loopback and the verdict comes from the histogram), `compare` ratios and `--fail-if`
//! exit codes, `render` pages, and the `export --hlog` round trip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use bench_client::config::{EmbeddedServer, RunLength, Target, WorkloadKind};
use bench_client::report::stall::Verdict;
use bench_client::report::summary::Summary;
use bench_client::{Report, RunConfig};
use bench_server::WriteMode;
use common::{client_bin, run, temp_path};

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A framed run, 1 connection, split writes on both sides, nodelay as given on both.
fn split_run(nodelay: bool) -> Report {
    let mut config = RunConfig {
        workload: WorkloadKind::Framed,
        write_mode: WriteMode::Split,
        connections: 1,
        threads: 1,
        // Past the kernel's quick-ACK phase at connection start before recording.
        warmup: "400ms".parse().unwrap(),
        length: RunLength::Duration("1500ms".parse().unwrap()),
        target: Target::Embedded(EmbeddedServer {
            nodelay,
            write_mode: WriteMode::Split,
            ..EmbeddedServer::default()
        }),
        ..RunConfig::default()
    };
    config.socket.nodelay = nodelay;
    run(config)
}

#[test]
fn split_writes_stall_on_delayed_acks_without_nodelay_and_not_with_it() {
    let off = split_run(false);
    let on = split_run(true);
    assert_eq!(off.totals.error_count, 0);
    assert_eq!(on.totals.error_count, 0);
    assert!(off.totals.ok >= 5, "{} requests", off.totals.ok);
    // Behaviour, not speed: ~40 ms (or 80 ms) stalls against microseconds.
    assert!(
        off.latency.p50_ns > 20_000_000,
        "nodelay off + split: p50 {} ns",
        off.latency.p50_ns
    );
    assert!(
        on.latency.p50_ns < 5_000_000,
        "nodelay on + split: p50 {} ns",
        on.latency.p50_ns
    );
    let verdict = |r: &Report| Verdict::of(&r.latency.decode().unwrap());
    let stalled = verdict(&off);
    assert!(stalled.stalled && stalled.share > 0.5, "{stalled:?}");
    // Not "never flagged": a loaded machine can push a few percent of requests past
    // 30 ms (the flag share is 1%); the stall itself is on (nearly) every request.
    assert!(verdict(&on).share < 0.25, "{:?}", verdict(&on));
}

fn only_dir(parent: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn the_nagle_matrix_flags_exactly_the_split_cells_with_nodelay_off() {
    let out_dir = temp_path("nagle");
    let output = client_bin()
        .args(["nagle", "--duration", "1s", "--warmup", "300ms"])
        .args(["--connections", "1", "--threads", "1", "--out-dir"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = only_dir(&out_dir);
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.kind, "nagle");
    assert_eq!(summary.cells.len(), 8);
    assert!(dir.join("report.html").is_file());
    let mut flagged = 0;
    for row in &summary.cells {
        let report = Report::read(&dir.join(&row.report)).unwrap();
        assert_eq!(report.totals.error_count, 0, "{}", row.name);
        // The settings in the row are the ones the sockets had.
        assert_eq!(row.nodelay, report.socket.client.unwrap().nodelay);
        assert_eq!(row.server_nodelay, report.socket.server.unwrap().nodelay);
        let split = row.write_mode == Some(WriteMode::Split);
        let any_off = row.nodelay == Some(false) || row.server_nodelay == Some(false);
        let verdict = row.verdict.expect("TCP rows have a verdict");
        // Behaviour with wide margins: a split cell with Nagle on either side stalls on
        // (nearly) every request; the others on few. A loaded machine can push a few
        // percent of any cell's requests past 30 ms, which flags it at 1% (FLAG_SHARE),
        // so the others are held to a quarter, not to "never flagged".
        if split && any_off {
            assert!(
                verdict.stalled && verdict.share > 0.5,
                "{}: {verdict:?}",
                row.name
            );
            assert!(row.p50_ns > 20_000_000, "{}: p50 {}", row.name, row.p50_ns);
        } else {
            assert!(verdict.share < 0.25, "{}: {verdict:?}", row.name);
            assert!(row.p50_ns < 5_000_000, "{}: p50 {}", row.name, row.p50_ns);
        }
        flagged += usize::from(verdict.stalled);
    }
    // The table names the stall on exactly the flagged rows (the three split cells with
    // Nagle somewhere, and any cell a loaded machine pushed over the flag share).
    assert!(flagged >= 3, "{flagged} flagged");
    assert_eq!(
        stdout.matches("nagle+delayed-ack stall").count(),
        flagged,
        "{stdout}"
    );
}

/// A real report of a short run, and a copy with some values scaled.
fn report_pair(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let report = run(common::quick(300));
    let a = dir.join("a.json");
    report.write(&a).unwrap();
    let mut value = serde_json::to_value(&report).unwrap();
    let p99 = value["latency"]["p99_ns"].as_u64().unwrap();
    value["latency"]["p99_ns"] = (p99 * 12 / 10).into();
    // Reports are validated on reading: the percentiles above p99 must not fall below it.
    for tail in ["p99_9_ns", "p99_99_ns", "max_ns"] {
        let v = value["latency"][tail].as_u64().unwrap();
        value["latency"][tail] = v.max(p99 * 12 / 10).into();
    }
    let rps = value["totals"]["requests_per_s"].as_f64().unwrap();
    value["totals"]["requests_per_s"] = (rps * 0.9).into();
    let b = dir.join("b.json");
    std::fs::write(&b, serde_json::to_vec(&value).unwrap()).unwrap();
    (a, b)
}

fn compare(args: &[&str], inputs: &[&Path]) -> Output {
    client_bin()
        .arg("compare")
        .args(inputs)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn compare_shows_ratios_and_fail_if_sets_the_exit_code() {
    let dir = temp_path("compare");
    let (a, b) = report_pair(&dir);
    let out = compare(&[], &[&a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Report files: a row per field, `field A B ratio verdict`.
    let ratio = |field: &str| {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(field))
            .unwrap_or_else(|| panic!("a row for {field}: {stdout}"));
        line.split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(ratio("req/s"), "0.90x", "{stdout}");
    assert_eq!(ratio("p50"), "1.00x", "p50 unchanged: {stdout}");
    assert_eq!(ratio("p99"), "1.20x", "{stdout}");

    for (gate, code) in [
        ("p99>+10%", 1),
        ("p99>+25%", 0),
        ("req/s<-5%", 1),
        ("req/s<-15%", 0),
        ("errors>0", 0),
        ("p50>+1us", 0),
    ] {
        let out = compare(&["--fail-if", gate], &[&a, &b]);
        assert_eq!(out.status.code(), Some(code), "{gate}: {}", text(&out));
        if code == 1 {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(&format!("FAIL {gate}")), "{stdout}");
        }
    }
    // Other load settings or an interrupted run: compared, with a note saying so.
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    value["config"]["connections"] = 64.into();
    value["interrupted"] = true.into();
    let c = dir.join("c.json");
    std::fs::write(&c, serde_json::to_vec(&value).unwrap()).unwrap();
    let out = compare(&[], &[&a, &c]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("connections 64 vs 2"), "{stdout}");
    assert!(stdout.contains("note: B was interrupted"), "{stdout}");

    // Several gates: one that trips is enough.
    let out = compare(
        &["--fail-if", "p99>+25%", "--fail-if", "p99>+10%"],
        &[&a, &b],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let out = compare(&["--fail-if", "p99>fast"], &[&a, &b]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("p99>fast"), "{stderr}");
}

#[test]
fn compare_refuses_other_schemas_and_workloads_unless_forced() {
    let dir = temp_path("compare-refuse");
    let (a, b) = report_pair(&dir);
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    value["schema"] = "wirebench.report/v2".into();
    let v2 = dir.join("v2.json");
    std::fs::write(&v2, serde_json::to_vec(&value).unwrap()).unwrap();
    value["schema"] = "wirebench.report/v1".into();
    value["config"]["workload"] = "framed".into();
    let framed = dir.join("framed.json");
    std::fs::write(&framed, serde_json::to_vec(&value).unwrap()).unwrap();

    for (other, needle) in [(&v2, "wirebench.report/v2"), (&framed, "framed")] {
        let out = compare(&[], &[&a, other]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains("--force"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
        let out = compare(&["--force"], &[&a, other]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("1.20x"));
    }
    let out = compare(&[], &[&a]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let missing = dir.join("missing.json");
    let out = compare(&[], &[&a, &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}

/// A matrix folder with the given cells (name, report), as `suite` writes it.
fn folder(dir: &Path, cells: &[(&str, &Report)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rows = Vec::new();
    for (name, report) in cells {
        let file = format!("{name}.json");
        report.write(&dir.join(&file)).unwrap();
        rows.push(bench_client::report::summary::SummaryRow::new(
            name, &file, report,
        ));
    }
    let summary = Summary {
        schema: bench_client::report::summary::SUMMARY_SCHEMA.to_owned(),
        kind: "suite".to_owned(),
        started_at: "2026-11-25T00:00:00.000Z".to_owned(),
        interrupted: false,
        cells: rows,
    };
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_vec(&summary).unwrap(),
    )
    .unwrap();
}

#[test]
fn compare_pairs_folder_cells_by_workload_and_settings() {
    let dir = temp_path("compare-folders");
    let tcp = run(common::quick(200));
    let framed = run(RunConfig {
        workload: WorkloadKind::Framed,
        ..common::quick(200)
    });
    let mut slow_framed = framed.clone();
    slow_framed.latency.p99_ns *= 3;
    // Reports are validated on reading: the percentiles above p99 must not fall below it.
    let p99 = slow_framed.latency.p99_ns;
    let l = &mut slow_framed.latency;
    for tail in [&mut l.p99_9_ns, &mut l.p99_99_ns, &mut l.max_ns] {
        *tail = (*tail).max(p99);
    }
    // Same cells in another order and under other names: pairing goes by settings.
    folder(&dir.join("x"), &[("t", &tcp), ("f", &framed)]);
    folder(&dir.join("y"), &[("second", &slow_framed), ("first", &tcp)]);
    let out = compare(
        &["--fail-if", "p99>+50%"],
        &[&dir.join("x"), &dir.join("y")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("== ").count(), 2, "{stdout}");
    assert!(stdout.contains("3.00x"), "{stdout}");
    let fails: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{stdout}");
    assert!(fails[0].contains("y/second"), "{stdout}");
    // A folder and a report do not mix.
    let out = compare(&[], &[&dir.join("x"), &dir.join("x/t.json")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// The page as XML (it is XHTML syntax with an HTML5 doctype).
fn parse(html: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(html, options).expect("the page is well-formed")
}

/// `(points in each data series)` of every chart figure, in page order.
fn chart_series(html: &str) -> Vec<(String, Vec<usize>)> {
    let doc = parse(html);
    doc.descendants()
        .filter(|n| n.has_tag_name("figure"))
        .map(|fig| {
            let kind = fig.attribute("data-chart").unwrap_or("").to_owned();
            let svgs = fig.children().filter(|n| n.has_tag_name("svg")).count();
            assert_eq!(svgs, 1, "one SVG per chart");
            // Data series are drawn 2 px wide; axes and the mesh 1 px.
            let series = fig
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .map(|n| n.attribute("points").unwrap().split_whitespace().count())
                .collect();
            (kind, series)
        })
        .collect()
}

fn assert_self_contained(html: &str) {
    let doc = parse(html);
    for node in doc.descendants().filter(|n| n.is_element()) {
        assert!(
            !matches!(node.tag_name().name(), "script" | "link" | "img" | "iframe"),
            "{:?}",
            node.tag_name()
        );
        for attr in node.attributes() {
            assert!(
                !attr.value().contains("://") || attr.name() == "xmlns",
                "external reference: {}={}",
                attr.name(),
                attr.value()
            );
        }
    }
    assert!(!html.contains("url(") && !html.contains("@import"));
}

#[test]
fn render_draws_one_svg_per_chart_with_a_point_per_datum() {
    let dir = temp_path("render");
    let mut config = common::quick(1);
    config.length = RunLength::Duration("2500ms".parse().unwrap());
    let long = run(config);
    let short = run(common::quick(300));
    assert!(long.timeline.len() >= 3, "{}", long.timeline.len());
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("long.json"), dir.join("short.json"));
    long.write(&a).unwrap();
    short.write(&b).unwrap();

    let page = dir.join("page.html");
    let out = client_bin()
        .arg("render")
        .args([&a, &b])
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let charts = chart_series(&html);
    let spectrum = bench_client::render::SPECTRUM_POINTS;
    let mut expected = vec![("spectrum".to_owned(), vec![spectrum, spectrum])];
    for report in [&long, &short] {
        let n = report.timeline.len();
        expected.push(("latency-over-time".to_owned(), vec![n, n, n]));
        expected.push(("throughput-over-time".to_owned(), vec![n]));
    }
    assert_eq!(charts, expected);

    // A matrix folder: the table with a verdict per cell, and the cells' charts.
    let cells = dir.join("matrix");
    folder(&cells, &[("long", &long), ("short", &short)]);
    let out = client_bin().arg("render").arg(&cells).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(cells.join("report.html")).unwrap();
    assert_self_contained(&html);
    assert_eq!(chart_series(&html), expected);
    let doc = parse(&html);
    let table = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("matrix"))
        .expect("the matrix table");
    let rows = table.children().filter(|n| n.has_tag_name("tr")).count();
    assert_eq!(rows, 3, "header and two cells");
    assert_eq!(html.matches("<td>ok</td>").count(), 2);

    let out = client_bin()
        .arg("render")
        .arg(dir.join("nothing-here.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here.json"));
}

#[test]
fn the_interval_log_reads_back_as_the_report_timeline() {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let dir = temp_path("hlog");
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = common::quick(1);
    config.length = RunLength::Duration("2500ms".parse().unwrap());
    config.warmup = "200ms".parse().unwrap();
    let report = run(config);
    let path = dir.join("run.json");
    report.write(&path).unwrap();
    let out = client_bin()
        .args(["export", "--hlog"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = std::fs::read(dir.join("run.hlog")).unwrap();

    let started = bench_client::analysis::hlog::parse_rfc3339(&report.started_at).unwrap();
    let mut intervals = Vec::new();
    let (mut start_time, mut base_time) = (None, None);
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("every line parses") {
            LogEntry::StartTime(t) => start_time = Some(t),
            LogEntry::BaseTime(t) => base_time = Some(t),
            LogEntry::Interval(h) => {
                let bytes = base64_decode(h.encoded_histogram());
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut std::io::Cursor::new(bytes))
                    .unwrap();
                intervals.push((h.start_timestamp(), h.duration(), hist, h.max()));
            }
        }
    }
    let near = |d: Duration, secs: f64| (d.as_secs_f64() - secs).abs() < 0.002;
    assert!(near(start_time.unwrap(), started));
    assert!(near(base_time.unwrap(), started + 0.2));
    assert_eq!(intervals.len(), report.timeline.len());
    let mut total = 0;
    for ((start, length, hist, max), entry) in intervals.iter().zip(&report.timeline) {
        assert!(near(*start, entry.t_s), "{start:?} vs {}", entry.t_s);
        assert!(near(*length, entry.duration_s));
        assert_eq!(hist.len(), entry.ok);
        assert_eq!(*hist, entry_hist(entry));
        assert!((max - entry.max_ns as f64 / 1e6).abs() < 0.001, "{max} ms");
        total += hist.len();
    }
    assert_eq!(total, report.latency.count);
    assert_eq!(total, report.totals.ok);

    // Stdout, and a report that is not one.
    let out = client_bin()
        .args(["export", "--hlog", "--out", "-"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.stdout, log);
    let out = client_bin()
        .args(["export", "--hlog"])
        .arg(dir.join("run.hlog"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run.hlog"));
}

fn entry_hist(entry: &bench_client::report::TimelineEntry) -> hdrhistogram::Histogram<u64> {
    bench_client::report::decode_histogram(&entry.histogram).unwrap()
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn overhead_dir(
    args: &[&str],
    name: &str,
) -> (PathBuf, bench_client::report::overhead::OverheadSummary) {
    let out_dir = temp_path(name);
    let out = client_bin()
        .arg("overhead")
        .args(args)
        .args(["--rounds", "2", "--duration", "700ms", "--warmup", "200ms"])
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = only_dir(&out_dir);
    let summary = bench_client::report::overhead::read_summary(&dir).unwrap();
    (dir, summary)
}

#[test]
fn overhead_on_the_embedded_pair_shows_the_relay_costing_something_and_renders() {
    let (dir, summary) = overhead_dir(&["tcp-echo", "--connections", "2"], "overhead");
    assert!(summary.embedded);
    assert_eq!(summary.rounds.len(), 2);
    let relay = summary
        .relay_stats
        .as_ref()
        .expect("embedded relay counters");
    assert!(relay.bytes_to_upstream > 0);
    assert_eq!(relay.bytes_to_upstream, relay.bytes_to_client);
    let field = |name: &str| {
        summary
            .fields
            .iter()
            .find(|f| f.field == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    // Speed is not asserted (on a busy machine either leg can be the faster one): the
    // ratios must be what the summary's own figures say they are.
    for name in ["req/s", "p50", "p90", "p99", "max"] {
        let f = field(name);
        assert!(f.direct > 0.0 && f.proxied > 0.0, "{f:?}");
        let ratio = f.ratio.expect("both legs measured");
        assert!((ratio - f.proxied / f.direct).abs() < 1e-9, "{f:?}");
        let rounds = f.ratio_rounds.as_ref().expect("both rounds measured");
        assert!(rounds.min > 0.0 && rounds.min <= rounds.max, "{f:?}");
    }
    for round in &summary.rounds {
        assert_eq!(round.direct.errors + round.proxied.errors, 0);
        for (leg, row) in [("direct", &round.direct), ("proxied", &round.proxied)] {
            let report = Report::read(&dir.join(&row.report)).unwrap();
            assert_eq!(report.latency.p50_ns, row.p50_ns);
            let want = if leg == "direct" {
                &summary.direct_addr
            } else {
                &summary.proxied_addr
            };
            assert_eq!(&report.target.addr, want);
        }
    }
    // The merged histograms hold every recorded request of their leg.
    let ok = |pick: fn(
        &bench_client::report::overhead::Round,
    ) -> &bench_client::report::overhead::LegRow| {
        summary
            .rounds
            .iter()
            .map(|r| Report::read(&dir.join(&pick(r).report)).unwrap().totals.ok)
            .sum::<u64>()
    };
    assert_eq!(summary.direct.count, ok(|r| &r.direct));
    assert_eq!(summary.proxied.count, ok(|r| &r.proxied));

    // report.html was written with the run; render draws the same page again.
    let written = std::fs::read_to_string(dir.join("report.html")).unwrap();
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let out = client_bin().arg("render").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html, written);
    assert_self_contained(&html);
    let spectrum = bench_client::render::SPECTRUM_POINTS;
    assert_eq!(
        chart_series(&html),
        [
            ("spectrum".to_owned(), vec![spectrum, spectrum]),
            ("latency-per-round".to_owned(), vec![2, 2, 2, 2]),
            ("throughput-per-round".to_owned(), vec![2, 2]),
        ]
    );
}

#[test]
fn overhead_measures_an_external_pair_and_udp_through_the_relay() {
    use bench_server::proxy::{Front, ProxyConfig, ProxyProto, spawn_proxy};
    let server = common::spawn_all(bench_server::ServerConfig::default());
    let upstream = server.addr(bench_server::Proto::Framed).unwrap();
    let relay = spawn_proxy(
        Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().unwrap()).unwrap(),
        ProxyConfig::new(ProxyProto::Tcp, upstream),
    )
    .unwrap();
    let (direct, proxied) = (upstream.to_string(), relay.addr().to_string());
    let (_, summary) = overhead_dir(
        &["framed", "--direct", &direct, "--proxied", &proxied],
        "overhead-external",
    );
    assert!(!summary.embedded && summary.relay.is_none());
    assert_eq!(summary.proxied_addr, proxied);
    assert_eq!(summary.rounds.len(), 2);
    let relayed = relay.stop().unwrap();
    assert!(relayed.connections >= 2, "{relayed:?}");

    let (_, udp) = overhead_dir(&["udp-echo"], "overhead-udp");
    let stats = udp.relay_stats.expect("embedded relay");
    assert!(stats.datagrams_to_upstream > 0);
    assert!(udp.rounds.iter().all(|r| r.proxied.errors == 0));
}

#[test]
fn a_stop_between_the_legs_leaves_the_round_out_of_both_legs() {
    use bench_client::matrix::overhead::{OverheadConfig, Pair, RelaySettings, run_overhead};
    let out_dir = temp_path("overhead-stop");
    let stopper = bench_client::Stopper::new();
    let config = OverheadConfig {
        proxy_pid: None,
        run: RunConfig {
            connections: 1,
            threads: 1,
            length: RunLength::Duration("300ms".parse().unwrap()),
            warmup: "0s".parse().unwrap(),
            ..RunConfig::default()
        },
        rounds: 3,
        pair: Pair::Embedded(RelaySettings::default()),
        out_dir: out_dir.clone(),
    };
    // Stop as the proxied leg of round 2 starts: round 2's direct leg has run.
    let outcome = run_overhead(&config, &stopper, |name, _| {
        if name == "proxied-2" {
            stopper.stop();
        }
    })
    .unwrap();
    let summary = outcome.summary;
    assert!(summary.interrupted);
    assert_eq!(summary.rounds.len(), 1);
    let ok = |file: &str| Report::read(&outcome.dir.join(file)).unwrap().totals.ok;
    assert_eq!(summary.direct.count, ok("direct-1.json"));
    assert_eq!(summary.proxied.count, ok("proxied-1.json"));
    // Round 2's direct report is kept on disk, just not summarised.
    assert!(ok("direct-2.json") > 0);
    let rps = summary.fields.iter().find(|f| f.field == "req/s").unwrap();
    let direct_1 = Report::read(&outcome.dir.join("direct-1.json")).unwrap();
    assert!((rps.direct - direct_1.totals.requests_per_s).abs() < 1e-6 * rps.direct);
}

#[test]
fn a_checked_report_has_every_field_in_its_view() {
    // The view reads the report by its JSON names: a rename in `Report` that the view
    // does not follow shows up here as a missing field or a `?` in the key.
    let config = RunConfig {
        workload: WorkloadKind::Framed,
        length: RunLength::Requests(50),
        warmup: "0s".parse().unwrap(),
        ..RunConfig::default()
    };
    let report = common::run(config);
    let dir = common::temp_path("view");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("framed.json");
    report.write(&path).unwrap();
    let view = bench_client::analysis::read_view(&path, "framed".to_owned(), false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    use bench_client::analysis::Field;
    for field in Field::ALL {
        // No relay runs in this process and no --watch-pid was given: those two groups
        // are absent by design; every other field must be read.
        let absent = [
            Field::RelayCpuUsPerReq,
            Field::WatchedCpuUsPerReq,
            Field::WatchedCpuCores,
        ];
        if absent.contains(&field) {
            continue;
        }
        assert!(view.get(field).is_some(), "{} missing", field.name());
    }
    assert_eq!(view.get(bench_client::analysis::Field::Ok), Some(50.0));
    assert_eq!(view.workload, "framed");
    assert!(
        view.key.starts_with("framed echo, client nodelay "),
        "{}",
        view.key
    );
    assert!(!view.key.contains('?'), "{}", view.key);
    assert_eq!(view.load.len(), 4, "{:?}", view.load);
    assert!(!view.interrupted);
}
