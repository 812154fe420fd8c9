//! The progress bar (stderr, only on a terminal: indicatif hides it on a pipe), with a
//! matrix run's place (`cell 2/5`) and the matrix's ETA; the `recording` line and the
//! place line on a pipe; the `--interval` lines (`interval`) above the bar or on the
//! pipe; and the signal watcher that turns the first SIGINT/SIGTERM
//! into a graceful stop.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_client::record::Live;
use bench_client::{Run, RunLength, Stopper};
use bench_proto::HumanDuration;

use crate::interval::IntervalLines;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smol::stream::StreamExt as _;

/// What a progress display shows besides the bar: interval lines, and where the run
/// stands among the runs of a matrix.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// `--interval`: a line every this many seconds.
    pub interval_s: Option<u64>,
    /// The interval lines go to stderr (stdout carries JSON or the report).
    pub lines_to_stderr: bool,
    /// The run's place in a matrix.
    pub place: Option<Place>,
}

/// A run's place among the runs of a matrix: `cell 2/5`, with what the later ones take.
#[derive(Debug, Clone)]
pub struct Place {
    /// What a run is called there: `cell`, `step`, `trial`, `leg`.
    pub word: &'static str,
    /// 1-based.
    pub index: usize,
    /// How many runs there are, when known beforehand.
    pub total: Option<usize>,
    /// The time the runs after this one will take (warm-ups included), for the ETA.
    pub after: Duration,
}

impl Place {
    /// `cell 2/5` (or `trial 3`).
    fn text(&self) -> String {
        match self.total {
            Some(n) => format!("{} {}/{n}", self.word, self.index),
            None => format!("{} {}", self.word, self.index),
        }
    }
}

/// A progress bar fed from the run's live counters by a small thread.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<IntervalLines>>>,
    live: Arc<Live>,
    lines_to_stderr: bool,
}

const TICK: Duration = Duration::from_millis(250);

impl Progress {
    /// Shows progress for `run` under the name `name`. On a pipe, a matrix run's place
    /// is one line on stderr (`bench-client: cell 2/5: NAME`).
    pub fn start(name: &str, run: &Run, view: &View) -> Progress {
        let config = run.config();
        let (len, by_time) = match config.length {
            RunLength::Duration(d) => ((config.warmup.0 + d.0).as_millis() as u64, true),
            RunLength::Requests(n) => (n, false),
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let template = if by_time {
            "{prefix} [{elapsed_precise}] {wide_bar} {eta} left  {msg}"
        } else {
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len}  {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        match &view.place {
            Some(place) => {
                bar.set_prefix(format!("{} {name}", place.text()));
                if !std::io::stderr().is_terminal() {
                    let eta = match config.length {
                        RunLength::Duration(d) => format!(
                            " (all done in about {})",
                            whole_seconds(config.warmup.0 + d.0 + place.after)
                        ),
                        RunLength::Requests(_) => String::new(),
                    };
                    let _ = writeln!(
                        std::io::stderr(),
                        "bench-client: {}: {name}{eta}",
                        place.text()
                    );
                }
            }
            None => bar.set_prefix(name.to_owned()),
        }
        let live = run.live();
        let run_s = match config.length {
            RunLength::Duration(d) => Some(d.0.as_secs_f64()),
            RunLength::Requests(_) => None,
        };
        let lines = view
            .interval_s
            .map(|every| IntervalLines::new(every, name, run_s, &live));
        let feed = Feed {
            bar,
            live: live.clone(),
            by_time,
            warmup: config.warmup.0,
            name: name.to_owned(),
            after: view.place.as_ref().map(|p| p.after),
            lines_to_stderr: view.lines_to_stderr,
        };
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("bench-client-progress".to_owned())
            .spawn({
                let done = done.clone();
                move || feed.run(&done, lines)
            })
            .ok();
        Progress {
            done,
            thread,
            live,
            lines_to_stderr: view.lines_to_stderr,
        }
    }

    /// Removes the bar; prints the interval lines still owed (`recorded_s`: how long the
    /// run recorded, from its report, when there is one).
    pub fn finish(mut self, recorded_s: Option<f64>) {
        self.done.store(true, Ordering::SeqCst);
        let lines = self.thread.take().and_then(|t| t.join().ok()).flatten();
        if let Some(mut lines) = lines {
            write_lines(&lines.finish(&self.live, recorded_s), self.lines_to_stderr);
        }
    }
}

/// A duration to the second, as flags take it: `62s`, `2m`.
fn whole_seconds(d: Duration) -> HumanDuration {
    HumanDuration(Duration::from_secs(d.as_secs()))
}

/// Interval lines on stdout (or stderr); a reader that has gone is not an error here.
fn write_lines(text: &str, to_stderr: bool) {
    if text.is_empty() {
        return;
    }
    if to_stderr {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        let _ = bench_client::output::write_stdout(text.as_bytes());
    }
}

/// What the progress thread needs.
struct Feed {
    bar: ProgressBar,
    live: Arc<Live>,
    by_time: bool,
    warmup: Duration,
    name: String,
    /// A matrix run: the time the later runs take.
    after: Option<Duration>,
    lines_to_stderr: bool,
}

impl Feed {
    fn run(self, done: &AtomicBool, mut lines: Option<IntervalLines>) -> Option<IntervalLines> {
        let (bar, live) = (&self.bar, &self.live);
        let start = Instant::now();
        let mut last = (start, 0u64);
        // Without a terminal there is no bar: one line says when the first recorded
        // request completed, so a script (or a test) can wait for the run to be measuring.
        let mut announce = !std::io::stderr().is_terminal();
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            if announce && live.recorded() > 0 {
                // Never `eprintln!`: it panics when stderr is closed.
                let _ = writeln!(std::io::stderr(), "bench-client: {}: recording", self.name);
                announce = false;
            }
            if let Some(lines) = lines.as_mut() {
                let text = lines.poll(live);
                // Above the bar on a terminal (cleared, written, redrawn); as they are on
                // a pipe.
                if !text.is_empty() {
                    bar.suspend(|| write_lines(&text, self.lines_to_stderr));
                }
            }
            let now = Instant::now();
            let (ok, errors) = live.totals();
            let rate = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, ok);
            let elapsed = now.duration_since(start);
            if self.by_time {
                bar.set_position(elapsed.as_millis() as u64);
            } else {
                bar.set_position(live.recorded());
            }
            let phase = if elapsed < self.warmup {
                "warm-up  "
            } else {
                ""
            };
            let overall = match self.after {
                Some(after) if self.by_time => {
                    let left = bar.eta() + after;
                    format!("  all {} left", whole_seconds(left))
                }
                _ => String::new(),
            };
            bar.set_message(format!("{phase}{rate:.0} req/s  {errors} errors{overall}"));
        }
        bar.finish_and_clear();
        lines
    }
}

/// A second signal means "exit now" only this long after the first: coreutils `timeout`
/// (and a terminal's Ctrl-C reaching the process group) deliver the same stop twice within
/// microseconds, and that must not cost the partial result.
pub const EXIT_NOW_AFTER: Duration = Duration::from_secs(1);

/// Watches for SIGINT/SIGTERM: the first stops the run gracefully (the report is still
/// written, marked interrupted); a second one at least [`EXIT_NOW_AFTER`] later exits at
/// once with code 130; one sooner is the same stop delivered twice and is ignored.
pub fn watch_signals(stopper: Stopper) -> anyhow::Result<()> {
    let mut signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
    std::thread::Builder::new()
        .name("bench-client-signals".to_owned())
        .spawn(move || {
            smol::block_on(async {
                if signals.next().await.is_none() {
                    return;
                }
                let first = Instant::now();
                let _ = writeln!(
                    std::io::stderr(),
                    "bench-client: stopping: waiting for replies in flight, then writing the report (again to exit now)"
                );
                stopper.stop();
                while signals.next().await.is_some() {
                    if first.elapsed() >= EXIT_NOW_AFTER {
                        std::process::exit(130);
                    }
                }
            });
        })?;
    Ok(())
}
