//! CPU accounting of a run: a sampler thread reads the CPU time of this process's threads
//! (`/proc/self/task/*/schedstat`, grouped by thread name), of the `--watch-pid`
//! processes (`/proc/PID/task/*/schedstat`, summed) and of the machine (`/proc/stat`) at
//! the start of recording and at its end; [`section`] turns the two samples into the
//! report's [`CpuSection`].
//!
//! Owns: reading `/proc` for CPU time, and [`WatchPid`]. Must not touch: the hot path
//! (nothing here runs per request: two samples per run, on their own thread).
//!
//! Why per thread, not `getrusage`: the embedded server runs in the client's process, and
//! only its threads' names tell its CPU time from the client's. A thread that ends inside
//! the window would take its time with it, so the engine keeps the workers alive until
//! the end sample is taken (see `run::run_workers`).

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::config::ConfigError;
use crate::report::cpu::{CpuSection, CpuUsage, MachineUsage, WatchedUsage};

/// Thread-name prefixes of the in-process servers (`/proc/.../comm`, at most 15 bytes).
const SERVER_PREFIX: &str = "bench-server";
/// See [`SERVER_PREFIX`].
const RELAY_PREFIX: &str = "bench-proxy";

/// A process to account: `--watch-pid NAME=PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPid {
    /// The name it is reported under (`haproxy`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

impl std::str::FromStr for WatchPid {
    type Err = String;

    /// `NAME=PID`, e.g. `haproxy=1234`.
    fn from_str(text: &str) -> Result<WatchPid, String> {
        let (name, pid) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: expected NAME=PID, e.g. haproxy=1234"))?;
        let pid: u32 = pid
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{text:?}: {pid:?} is not a process id"))?;
        if name.is_empty() {
            return Err(format!("{text:?}: the name before = is empty"));
        }
        Ok(WatchPid {
            name: name.to_owned(),
            pid,
        })
    }
}

impl WatchPid {
    /// Refuses a process whose CPU time cannot be read (gone, or not ours to read).
    pub fn check(&self, flag: &'static str) -> Result<(), ConfigError> {
        let tasks = format!("/proc/{}/task", self.pid);
        match fs::read_dir(&tasks) {
            Ok(_) if task_sum(Path::new(&tasks)).is_some() => Ok(()),
            Ok(_) => Err(self.refusal(flag, "its CPU time cannot be read (schedstat)")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.refusal(flag, "no such process"))
            }
            Err(e) => Err(self.refusal(flag, &format!("cannot be read: {e}"))),
        }
    }

    fn refusal(&self, flag: &'static str, reason: &str) -> ConfigError {
        ConfigError {
            flag,
            value: format!("{}={}", self.name, self.pid),
            reason: reason.to_owned(),
        }
    }
}

/// Which group a thread of this process counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Client,
    Server,
    Relay,
}

/// One reading of everything accounted.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    at: Instant,
    /// This process's threads: tid -> (group, ns on CPU).
    tasks: HashMap<u32, (Group, u64)>,
    /// Per watched process: (ns summed over its tasks, tasks), `None` when gone.
    watched: Vec<Option<(u64, usize)>>,
    /// `/proc/stat`'s first line: user+nice, system, irq, softirq, in clock ticks.
    machine: Option<[u64; 4]>,
}

impl Sample {
    fn take(watched: &[WatchPid]) -> Sample {
        Sample {
            at: Instant::now(),
            tasks: own_tasks(),
            watched: watched
                .iter()
                .map(|w| task_sum(Path::new(&format!("/proc/{}/task", w.pid))))
                .collect(),
            machine: machine_ticks(),
        }
    }
}

/// The first field of a schedstat file: ns spent on a CPU.
fn schedstat_ns(path: &Path) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn own_tasks() -> HashMap<u32, (Group, u64)> {
    let mut tasks = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return tasks;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let path = entry.path();
        let Some(ns) = schedstat_ns(&path.join("schedstat")) else {
            continue; // the thread ended while the folder was read
        };
        let comm = fs::read_to_string(path.join("comm")).unwrap_or_default();
        let group = if comm.starts_with(SERVER_PREFIX) {
            Group::Server
        } else if comm.starts_with(RELAY_PREFIX) {
            Group::Relay
        } else {
            Group::Client
        };
        tasks.insert(tid, (group, ns));
    }
    tasks
}

/// ns summed over the tasks under `task_dir`, and how many; `None` when the folder is
/// gone or no task's schedstat could be read.
fn task_sum(task_dir: &Path) -> Option<(u64, usize)> {
    let mut sum = 0;
    let mut count = 0;
    for entry in fs::read_dir(task_dir).ok()?.flatten() {
        if let Some(ns) = schedstat_ns(&entry.path().join("schedstat")) {
            sum += ns;
            count += 1;
        }
    }
    (count > 0).then_some((sum, count))
}

fn machine_ticks() -> Option<[u64; 4]> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq ...
    (v.len() >= 7).then(|| [v[0] + v[1], v[2], v[5], v[6]])
}

/// The sampler thread of one run.
#[derive(Debug)]
pub(crate) struct CpuWatch {
    finish: mpsc::Sender<()>,
    thread: JoinHandle<Option<(Sample, Sample)>>,
}

impl CpuWatch {
    /// Samples at `record_start`, then at `end` (or when [`CpuWatch::finish`] comes
    /// first, or, with no end, when it comes). `None` if the thread cannot start.
    pub(crate) fn start(
        record_start: Instant,
        end: Option<Instant>,
        watched: Vec<WatchPid>,
    ) -> Option<CpuWatch> {
        let (finish, finished) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-client-cpu".to_owned())
            .spawn(move || {
                // Until `at`; true when told to finish first.
                let wait = |at: Option<Instant>| match at {
                    Some(at) => {
                        let left = at.saturating_duration_since(Instant::now());
                        !matches!(
                            finished.recv_timeout(left),
                            Err(mpsc::RecvTimeoutError::Timeout)
                        )
                    }
                    None => {
                        let _ = finished.recv();
                        true
                    }
                };
                if wait(Some(record_start)) {
                    return None; // the run ended before recording began
                }
                let first = Sample::take(&watched);
                wait(end);
                Some((first, Sample::take(&watched)))
            })
            .ok()?;
        Some(CpuWatch { finish, thread })
    }

    /// Takes the end sample now unless it was taken already; returns both.
    pub(crate) fn finish(self) -> Option<(Sample, Sample)> {
        let _ = self.finish.send(());
        self.thread.join().ok().flatten()
    }
}

/// The report's section from two samples and the requests completed between them.
pub(crate) fn section(
    (first, last): &(Sample, Sample),
    watched: &[WatchPid],
    requests: u64,
) -> CpuSection {
    let window_s = last.at.duration_since(first.at).as_secs_f64();
    let usage = |ns: u64| CpuUsage::new(ns, window_s, requests);
    let mut by_group = [0u64; 3];
    let mut seen = [false; 3];
    for (tid, (group, ns)) in &last.tasks {
        // A thread born inside the window spent all its time in it.
        let before = first.tasks.get(tid).map_or(0, |(_, ns)| *ns);
        by_group[*group as usize] += ns.saturating_sub(before);
        seen[*group as usize] = true;
    }
    let watched_rows: Vec<WatchedUsage> = watched
        .iter()
        .zip(first.watched.iter().zip(&last.watched))
        .map(|(w, (a, b))| {
            let ns = match (a, b) {
                (Some((a, _)), Some((b, _))) => b.saturating_sub(*a),
                _ => 0,
            };
            WatchedUsage {
                name: w.name.clone(),
                pid: w.pid,
                tasks: b.map_or(0, |(_, n)| n),
                alive: b.is_some(),
                usage: usage(ns),
            }
        })
        .collect();
    let watched_ns: f64 = watched_rows.iter().map(|w| w.usage.cpu_s * 1e9).sum();
    let process_ns: u64 = by_group.iter().sum();
    CpuSection {
        window_s,
        requests,
        process: usage(process_ns),
        client: usage(by_group[Group::Client as usize]),
        server: seen[Group::Server as usize].then(|| usage(by_group[Group::Server as usize])),
        relay: seen[Group::Relay as usize].then(|| usage(by_group[Group::Relay as usize])),
        watched_total: (!watched.is_empty()).then(|| usage(watched_ns.round() as u64)),
        watched: watched_rows,
        machine: machine(first.machine, last.machine, window_s, requests),
    }
}

fn machine(
    first: Option<[u64; 4]>,
    last: Option<[u64; 4]>,
    window_s: f64,
    requests: u64,
) -> Option<MachineUsage> {
    let (a, b) = (first?, last?);
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let d: Vec<f64> = (0..4)
        .map(|i| b[i].saturating_sub(a[i]) as f64 / hz)
        .collect();
    let cores = |s: f64| if window_s > 0.0 { s / window_s } else { 0.0 };
    let busy_s: f64 = d.iter().sum();
    Some(MachineUsage {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        user_cores: cores(d[0]),
        system_cores: cores(d[1]),
        irq_cores: cores(d[2]),
        softirq_cores: cores(d[3]),
        busy: CpuUsage::new((busy_s * 1e9).round() as u64, window_s, requests),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_pids_parse_as_name_equals_pid() {
        let w: WatchPid = "haproxy=1234".parse().unwrap();
        assert_eq!((w.name.as_str(), w.pid), ("haproxy", 1234));
        assert!(
            "haproxy"
                .parse::<WatchPid>()
                .unwrap_err()
                .contains("NAME=PID")
        );
        assert!("x=0".parse::<WatchPid>().is_err());
        assert!("=12".parse::<WatchPid>().is_err());
    }

    #[test]
    fn this_process_can_be_watched_and_a_missing_one_cannot() {
        let me = WatchPid {
            name: "me".to_owned(),
            pid: std::process::id(),
        };
        me.check("--watch-pid").unwrap();
        let gone = WatchPid {
            name: "gone".to_owned(),
            pid: u32::MAX - 1,
        };
        let e = gone.check("--watch-pid").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("--watch-pid gone={}: no such process", u32::MAX - 1)
        );
    }

    #[test]
    fn a_busy_thread_shows_in_the_section() {
        let me = vec![WatchPid {
            name: "me".to_owned(),
            pid: std::process::id(),
        }];
        let first = Sample::take(&me);
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let last = Sample::take(&me);
        let s = section(&(first, last), &me, 10);
        assert!(s.process.cpu_s > 0.0, "{s:?}");
        assert!(
            s.watched[0].alive && s.watched[0].usage.cpu_s > 0.0,
            "{s:?}"
        );
        assert!(s.client.us_per_req.is_some());
        assert!(s.machine.is_some());
    }
}
