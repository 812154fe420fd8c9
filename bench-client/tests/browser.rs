//! Every kind of page in a real browser: a suite, a nagle matrix, an overhead
//! measurement, several reports on one page (closed loop, open loop, and a run without
//! one successful request) and a sweep are made into a temporary folder, opened in
//! headless Chromium, screenshotted, and checked: the screenshot is not blank (enough
//! distinct colours, enough non-white pixels) and the browser logged no console line.
//!
//! What the reports page must say is checked without a browser too: runs named by their
//! settings, the comparison table, the empty run's statement instead of charts.
//!
//! Without a Chromium on the PATH (`chromium`, `chromium-browser`, `google-chrome`, or
//! the one `WIREBENCH_CHROMIUM` names) the test says why and passes, unless
//! `WIREBENCH_REQUIRE_BROWSER=1` (CI), which makes a missing browser a failure.

mod common;
#[path = "browser/png.rs"]
mod png;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bench_client::config::{Arrival, LoadModel, RunLength, Target};
use common::{client_bin, quick, run, silent_tcp_server, temp_path};
use png::{decode_png, ink};

/// The window every page is shot in.
const WINDOW: (u32, u32) = (1400, 2400);
/// A page with charts has axes, text and several series colours (a blank or an error
/// page has one or two colours).
const MIN_COLOURS: usize = 12;
/// Share of non-white pixels a page with tables and charts has at least.
const MIN_INK: f64 = 0.02;
/// Longest a browser may take for one page on a loaded machine.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The browser to use, or why there is none.
fn find_chromium() -> Result<PathBuf, String> {
    let named = std::env::var_os("WIREBENCH_CHROMIUM").map(PathBuf::from);
    let candidates: Vec<PathBuf> = named
        .into_iter()
        .chain(
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(PathBuf::from),
        )
        .collect();
    for candidate in &candidates {
        let works = Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Ok(candidate.clone());
        }
    }
    Err(format!(
        "no browser: none of {candidates:?} runs (`apt-get install chromium`)"
    ))
}

/// Runs a command to its end, killing it after `deadline`.
fn output_within(mut command: Command, deadline: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the browser starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        start.elapsed() <= deadline,
        "the browser took longer than {deadline:?}"
    );
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Opens a page headless, with console logging on; returns the screenshot's path and
/// the console lines the browser logged.
fn shoot(chromium: &Path, page: &Path, profile: &Path) -> (PathBuf, Vec<String>) {
    let png = page.with_extension("png");
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()));
    let out = output_within(command, BROWSER_DEADLINE);
    assert!(out.status.success(), "{}: {}", page.display(), text(&out));
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_owned)
        .collect();
    (png, console)
}

/// The one folder a matrix command made under `parent`.
fn only_dir(parent: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Runs a matrix command (`suite`, `nagle`, `overhead`, `sweep` ...) into its own
/// folder under `root`; returns its `report.html`.
fn matrix_page(root: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out_dir = root.join(name);
    let out = client_bin()
        .args(args)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
    only_dir(&out_dir).join("report.html")
}

/// Several reports on one page: a closed-loop run, an open-loop run (its three
/// spectra), and a run against a server that never answers (no successful request).
fn reports_page(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root).unwrap();
    let closed = run(quick(2_000));
    let mut open = quick(1);
    open.length = RunLength::Duration("700ms".parse().unwrap());
    open.load = LoadModel::Open {
        rate: 2_000.0,
        arrival: Arrival::Poisson,
    };
    let open = run(open);
    let mut none = quick(1);
    none.length = RunLength::Duration("400ms".parse().unwrap());
    none.timeout = "150ms".parse().unwrap();
    none.target = Target::External {
        addr: silent_tcp_server(),
    };
    let none = run(none);
    assert_eq!(none.totals.ok, 0, "the silent server answered");
    let mut paths = Vec::new();
    for (name, report) in [("closed", &closed), ("open", &open), ("none", &none)] {
        let path = root.join(format!("{name}.json"));
        report.write(&path).unwrap();
        paths.push(path);
    }
    let page = root.join("reports.html");
    let out = client_bin()
        .arg("render")
        .args(&paths)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("No successful requests"),
        "the empty run says so"
    );
    assert!(
        html.contains("class=\"comparison\""),
        "several runs: a comparison"
    );
    assert!(html.contains("data-chart=\"open-loop-spectrum\""));
    page
}

#[test]
fn every_kind_of_page_shows_in_a_real_browser_without_console_errors() {
    let chromium = match find_chromium() {
        Ok(path) => path,
        Err(why) if std::env::var("WIREBENCH_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("WIREBENCH_REQUIRE_BROWSER=1 but {why}")
        }
        Err(why) => {
            eprintln!("browser check skipped: {why}");
            return;
        }
    };
    let root = temp_path("browser");
    let profile = root.join("browser-profile");
    // Each page is shot while the next one is made.
    let (made, to_shoot) = std::sync::mpsc::channel::<(&str, PathBuf)>();
    std::thread::scope(|scope| {
        let root = &root;
        scope.spawn(move || {
            for (kind, args) in MATRIX_PAGES {
                let args: Vec<&str> = args.split_whitespace().collect();
                if made.send((kind, matrix_page(root, kind, &args))).is_err() {
                    return; // the checking side failed; its panic is the report
                }
            }
            let _ = made.send(("reports", reports_page(&root.join("reports"))));
        });
        let mut checked = Vec::new();
        for (kind, page) in to_shoot {
            check_page(&chromium, kind, &page, &profile);
            checked.push(kind);
        }
        assert_eq!(checked, ["suite", "nagle", "overhead", "sweep", "reports"]);
    });
    let _ = std::fs::remove_dir_all(&root);
}

/// The matrix pages, each with the command that makes it (short runs, few cells).
const MATRIX_PAGES: [(&str, &str); 4] = [
    (
        "suite",
        "suite --duration 300ms --warmup 0s --connections 2 --threads 1",
    ),
    (
        "nagle",
        "nagle --duration 300ms --warmup 100ms --connections 1 --threads 1",
    ),
    (
        "overhead",
        "overhead tcp-echo --rounds 2 --duration 300ms --warmup 0s --connections 2 --threads 1",
    ),
    (
        "sweep",
        "sweep framed --cmd sleep --sleep 10ms --warmup 0s --max-send-lag 2s --connections 4 \
         --rates 50..200 --steps 3 --duration 300ms",
    ),
];

/// Shoots one page and checks the browser logged nothing and the picture is not blank.
fn check_page(chromium: &Path, kind: &str, page: &Path, profile: &Path) {
    let (png, console) = shoot(chromium, page, profile);
    assert!(
        console.is_empty(),
        "{kind}: console lines:\n{}",
        console.join("\n")
    );
    let image = decode_png(&std::fs::read(&png).unwrap());
    assert_eq!((image.width, image.height), WINDOW, "{kind}");
    let (colours, inked) = ink(&image);
    assert!(
        colours >= MIN_COLOURS && inked >= MIN_INK,
        "{kind}: {colours} colours, {:.1}% not white: blank? ({})",
        inked * 100.0,
        png.display()
    );
}

/// Series (2 px polylines) per figure, by its `data-chart`, and the run it belongs to.
fn figures(doc: &roxmltree::Document) -> Vec<(String, Option<String>, usize)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("figure"))
        .map(|fig| {
            let series = fig
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .count();
            let kind = fig.attribute("data-chart").unwrap_or("").to_owned();
            (kind, fig.attribute("data-run").map(str::to_owned), series)
        })
        .collect()
}

#[test]
fn the_reports_page_names_runs_by_settings_and_says_when_nothing_succeeded() {
    let root = temp_path("reports-page");
    let html = std::fs::read_to_string(reports_page(&root)).unwrap();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, options).expect("well-formed");
    let text = |n: roxmltree::Node| {
        n.descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect::<String>()
    };
    // No labels given: names from the settings; the two closed-loop runs share theirs,
    // so the file stems keep them apart.
    let names: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("run"))
        .map(|section| text(section.children().find(|c| c.has_tag_name("h2")).unwrap()))
        .collect();
    let (closed, open, none) = (
        "tcp-echo c=2 nodelay (closed)",
        "tcp-echo c=2 rate=2k nodelay (open)",
        "tcp-echo c=2 nodelay (none)",
    );
    assert_eq!(names, [closed, open, none]);
    // Every run has its settings block, with both sides' TCP_NODELAY.
    let settings: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("settings"))
        .map(text)
        .collect();
    assert_eq!(settings.len(), 3);
    for block in &settings {
        for field in [
            "workload",
            "target",
            "connections",
            "pipeline",
            "load",
            "size",
        ] {
            assert!(block.contains(field), "{field} in {block}");
        }
        assert!(block.contains("nodelay client") && block.contains("nodelay server"));
        assert!(block.contains("tool") && block.contains("host"), "{block}");
    }
    assert!(
        settings[1].contains("open loop, 2000 req/s, poisson"),
        "{}",
        settings[1]
    );
    // The shared spectrum leaves out the empty run; the open-loop run adds its three
    // spectra; the empty run draws nothing and says why.
    let figs = figures(&doc);
    let expected: Vec<(String, Option<String>, usize)> = [
        ("spectrum", None, 2),
        ("latency-over-time", Some(closed), 3),
        ("throughput-over-time", Some(closed), 1),
        ("latency-over-time", Some(open), 3),
        ("throughput-over-time", Some(open), 1),
        ("open-loop-spectrum", Some(open), 3),
    ]
    .into_iter()
    .map(|(k, r, n)| (k.to_owned(), r.map(str::to_owned), n))
    .collect();
    assert_eq!(figs, expected);
    let empty: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("empty"))
        .map(text)
        .collect();
    assert_eq!(empty.len(), 1, "{empty:?}");
    assert!(empty[0].starts_with("No successful requests (") && empty[0].contains("timeout"));
    // The comparison: a row per run, the empty run's latencies shown as `-` and its
    // throughput worse than the first run's.
    let table = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("comparison"))
        .expect("a comparison table");
    let rows: Vec<roxmltree::Node> = table.children().filter(|n| n.has_tag_name("tr")).collect();
    assert_eq!(rows.len(), 4, "header and three runs");
    let cells: Vec<roxmltree::Node> = rows[3]
        .children()
        .filter(|n| n.has_tag_name("td"))
        .collect();
    assert_eq!(text(cells[0]), none);
    assert_eq!(
        cells[1].attribute("class"),
        Some("worse"),
        "req/s 0 against the first"
    );
    assert_eq!(text(cells[2]), "-", "no p50 without samples");
    let _ = std::fs::remove_dir_all(&root);
}
