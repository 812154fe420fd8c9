//! `compare` as a reader sees it: folder rows that fit 120 columns with their notes under
//! them, verdicts that follow the spread of the per-second timeline (on hand-written
//! timelines in real reports), zero errors shown as `0`, `--wide`, and the `--json`
//! document (schema `wirebench.compare/v1`) with the gates' outcome and exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use common::{client_bin, run, temp_path};

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn compare(args: &[&str], inputs: &[&Path]) -> Output {
    client_bin()
        .arg("compare")
        .args(inputs)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// The one time-stamped folder a `suite` run wrote into `out_dir`.
fn suite(out_dir: &Path, duration: &str, connections: &str) -> PathBuf {
    let out = client_bin()
        .args([
            "suite",
            "--duration",
            duration,
            "--warmup",
            "0s",
            "--threads",
            "1",
        ])
        .args(["--connections", connections, "--out-dir"])
        .arg(out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dirs: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn suite_folders_compare_in_120_columns_with_notes_under_their_cells() {
    let dir = temp_path("compare-suites");
    let a = suite(&dir.join("a"), "1s", "2");
    let b = suite(&dir.join("b"), "1500ms", "4");
    let out = compare(&[], &[&a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in stdout.lines() {
        assert!(line.chars().count() <= 120, "{} chars: {line}", line.len());
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let groups: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("== "))
        .collect();
    assert_eq!(groups.len(), 5, "{stdout}");
    for &g in &groups {
        // Header, the baseline's row, the other run's row, then its note.
        let [head, base, other, note] = [1, 2, 3, 4].map(|k| lines[g + k]);
        assert!(
            head.contains("p99.9") && head.contains("errors/s"),
            "{head}"
        );
        assert!(base.starts_with("A "), "{base}");
        assert!(other.starts_with("B "), "{other}");
        assert!(
            ["better", "worse", "same"]
                .iter()
                .any(|w| other.split_whitespace().any(|c| c == *w)),
            "{other}"
        );
        assert_eq!(
            note, "note: B ran other settings than the baseline: connections 4 vs 2",
            "{stdout}"
        );
    }
    // Columns line up down the whole output: every header has p50 at the same place.
    let at: Vec<Option<usize>> = groups.iter().map(|&g| lines[g + 1].find("p50")).collect();
    assert!(at.windows(2).all(|w| w[0] == w[1]), "{stdout}");
    assert!(stdout.contains("B vs A in 5 cells: "), "{stdout}");
    assert!(stdout.contains("combined standard error"), "{stdout}");

    let wide = compare(&["--wide"], &[&a, &b]);
    assert_eq!(wide.status.code(), Some(0), "{}", text(&wide));
    let wide = String::from_utf8_lossy(&wide.stdout).into_owned();
    for column in ["p90", "p99.99", "max", "ok/s"] {
        assert!(wide.contains(column), "{column}: {wide}");
    }
    assert!(
        wide.contains("/udp-echo "),
        "wide rows carry the cell names: {wide}"
    );

    let out = compare(&["--json", "--fail-if", "p50>1ns"], &[&a, &b]);
    assert_eq!(out.status.code(), Some(1), "a tripped gate: {}", text(&out));
    let doc = stdout_json(&out);
    assert_eq!(doc["schema"], "wirebench.compare/v1");
    assert_eq!(doc["inputs"][0]["label"], "A");
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 5);
    for group in groups {
        assert_eq!(group["per_second"], true, "1s against 1.5s: {group}");
        let other = &group["runs"][1];
        assert!(other["fields"]["errors"]["per_s"].is_number(), "{other}");
        let verdict = other["fields"]["p50"]["verdict"].as_str().unwrap();
        assert!(["better", "worse", "same"].contains(&verdict), "{verdict}");
        assert_eq!(group["notes"][0]["run"], "B");
    }
    assert_eq!(doc["gate"]["pass"], false);
    // `p50>1ns` is absolute: every run of every cell trips it.
    assert_eq!(doc["gate"]["violations"].as_array().unwrap().len(), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One timeline second: `ok` replies, p99 `p99_us`, the interval histogram of `like`.
fn second(like: &Value, t_s: u64, ok: u64, p99_us: u64) -> Value {
    let mut entry = like.clone();
    entry["t_s"] = json!(t_s as f64);
    entry["duration_s"] = json!(1.0);
    entry["ok"] = json!(ok);
    entry["errors"] = json!(0);
    entry["requests_per_s"] = json!(ok as f64);
    entry["p50_ns"] = json!(p99_us * 500);
    entry["p99_ns"] = json!(p99_us * 1000);
    entry["max_ns"] = json!(p99_us * 2000);
    entry
}

/// A real report with a hand-written 4-second timeline: a p99 of `p99_us`, `rps`
/// replies each second, and the given per-second p99s.
fn report(base: &Value, p99_us: u64, rps: u64, seconds: &[u64]) -> Value {
    let mut value = base.clone();
    let like = value["timeline"][0].clone();
    value["duration_s"] = json!(seconds.len() as f64);
    value["timeline"] = seconds
        .iter()
        .enumerate()
        .map(|(t, &p99)| second(&like, t as u64, rps, p99))
        .collect();
    value["totals"]["requests_per_s"] = json!(rps as f64);
    let l = &mut value["latency"];
    for (field, us) in [
        ("min_ns", 1),
        ("p50_ns", p99_us / 2),
        ("p75_ns", p99_us * 3 / 4),
        ("p90_ns", p99_us * 9 / 10),
        ("p95_ns", p99_us * 95 / 100),
        ("p99_ns", p99_us),
        ("p99_9_ns", p99_us * 2),
        ("p99_99_ns", p99_us * 3),
        ("max_ns", p99_us * 4),
    ] {
        l[field] = json!(us * 1000);
    }
    value
}

#[test]
fn verdicts_follow_the_spread_of_the_per_second_values() {
    let dir = temp_path("compare-verdicts");
    std::fs::create_dir_all(&dir).unwrap();
    let base = serde_json::to_value(run(common::quick(200))).unwrap();
    assert_eq!(base["totals"]["error_count"], 0);
    let write = |name: &str, value: Value| {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        path
    };
    // A: p99 100us, steady. B: 8% slower but every second overlaps A's noisy range.
    // C: 30% slower and every second slower than every second of A. D: 20% more req/s.
    let a = write("a.json", report(&base, 100, 1000, &[100, 102, 98, 100]));
    let b = write("b.json", report(&base, 108, 1000, &[90, 125, 95, 122]));
    let c = write("c.json", report(&base, 130, 1000, &[128, 131, 129, 132]));
    let d = write("d.json", report(&base, 100, 1200, &[100, 102, 98, 100]));

    let out = compare(&["--json"], &[&a, &b, &c, &d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = stdout_json(&out);
    let runs = &doc["groups"][0]["runs"];
    let field = |run: usize, name: &str| runs[run]["fields"][name].clone();
    let verdict = |run: usize, name: &str| {
        let f = field(run, name);
        (f["verdict"].clone(), f["rule"].clone())
    };
    assert_eq!(verdict(1, "p99"), (json!("same"), json!("spread")));
    assert_eq!(verdict(2, "p99"), (json!("worse"), json!("separated")));
    assert_eq!(verdict(3, "req/s"), (json!("better"), json!("separated")));
    assert_eq!(verdict(3, "p99"), (json!("same"), json!("spread")));
    // p99.9 has no per-second values: 8% is more than the fixed 5%.
    assert_eq!(verdict(1, "p99.9"), (json!("worse"), json!("fixed")));
    assert!(field(2, "p99")["standard_error"].as_f64().unwrap() > 0.0);
    assert!((field(2, "p99")["ratio"].as_f64().unwrap() - 1.3).abs() < 1e-9);
    // Zero errors against zero: no ratio, the same.
    assert_eq!(field(1, "errors")["ratio"], Value::Null);
    assert_eq!(field(1, "errors")["verdict"], "same");
    assert_eq!(
        runs[0]["fields"]["p99"]["verdict"],
        Value::Null,
        "the baseline"
    );
    assert_eq!(doc["gate"]["pass"], Value::Null, "no thresholds");

    // The same as text: a row per field, value, ratio and verdict in columns of their own.
    let out = compare(&[], &[&a, &b, &c, &d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |name: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("a row for {name}: {stdout}"));
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(
        row("p99"),
        [
            "p99", "100.0us", "108.0us", "1.08x", "same", "130.0us", "1.30x", "worse", "100.0us"
        ]
        .into_iter()
        .chain(["1.00x", "same"])
        .collect::<Vec<_>>()
    );
    assert_eq!(
        row("errors"),
        ["errors", "0", "0", "same", "0", "same", "0", "same"]
    );
    let zero_ratio = stdout.lines().any(|l| {
        let cells: Vec<&str> = l.split_whitespace().collect();
        cells.windows(2).any(|w| w == ["0", "1.00x"])
    });
    assert!(!zero_ratio, "{stdout}");

    // Gates keep their exit codes with --json.
    let out = compare(&["--json", "--fail-if", "p99>+20%"], &[&a, &b, &c]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = stdout_json(&out);
    let violations = doc["gate"]["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0]["run"].as_str().unwrap().ends_with("c.json"));
    assert_eq!(doc["gate"]["thresholds"], json!(["p99>+20%"]));
    let out = compare(&["--json", "--fail-if", "p99>+50%"], &[&a, &b, &c]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stdout_json(&out)["gate"]["pass"], true);
    let out = compare(&["--json", "--wide"], &[&a, &b]);
    assert_eq!(out.status.code(), Some(2), "--json and --wide conflict");
    let _ = std::fs::remove_dir_all(&dir);
}
