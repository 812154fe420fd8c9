//! The progress bar (stderr, only on a terminal: indicatif hides it on a pipe), the
//! `recording` line on a pipe, and the signal watcher that turns the first SIGINT/SIGTERM
//! into a graceful stop.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_client::record::Live;
use bench_client::{Run, RunLength, Stopper};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smol::stream::StreamExt as _;

/// A progress bar fed from the run's live counters by a small thread.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const TICK: Duration = Duration::from_millis(250);

impl Progress {
    /// Shows progress for `run` under the name `name`.
    pub fn start(name: &str, run: &Run) -> Progress {
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
        bar.set_prefix(name.to_owned());
        let warmup = config.warmup.0;
        let done = Arc::new(AtomicBool::new(false));
        let live = run.live();
        let name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name("bench-client-progress".to_owned())
            .spawn({
                let done = done.clone();
                move || feed(&bar, &live, &done, by_time, warmup, &name)
            })
            .ok();
        Progress { done, thread }
    }

    /// Removes the bar.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn feed(
    bar: &ProgressBar,
    live: &Live,
    done: &AtomicBool,
    by_time: bool,
    warmup: Duration,
    name: &str,
) {
    let start = Instant::now();
    let mut last = (start, 0u64);
    // Without a terminal there is no bar: one line says when the first recorded request
    // completed, so a script (or a test) can wait for the run to be measuring.
    let mut announce = !std::io::stderr().is_terminal();
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(TICK);
        if announce && live.recorded() > 0 {
            // Never `eprintln!`: it panics when stderr is closed.
            let _ = writeln!(std::io::stderr(), "bench-client: {name}: recording");
            announce = false;
        }
        let now = Instant::now();
        let (ok, errors) = live.totals();
        let rate = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, ok);
        let elapsed = now.duration_since(start);
        if by_time {
            bar.set_position(elapsed.as_millis() as u64);
        } else {
            bar.set_position(live.recorded());
        }
        let phase = if elapsed < warmup { "warm-up  " } else { "" };
        bar.set_message(format!("{phase}{rate:.0} req/s  {errors} errors"));
    }
    bar.finish_and_clear();
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
