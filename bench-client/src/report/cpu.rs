//! The run report's `cpu` section: CPU time spent during the recorded window, per request
//! and as a share of one core, for the client, the in-process servers (embedded
//! bench-server, embedded relay), the processes named with `--watch-pid`, and the whole
//! machine. The engine samples (`engine::cpu`); this file only holds the numbers and the
//! arithmetic that turns two samples' differences into them.

use serde::{Deserialize, Serialize};

/// CPU time of one group of threads over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// CPU time on any core, seconds.
    pub cpu_s: f64,
    /// CPU time per request completed in the window (ok + errors), microseconds; `None`
    /// when no request completed.
    pub us_per_req: Option<f64>,
    /// `cpu_s / window_s`: 1.0 is one core kept busy the whole window.
    pub cores: f64,
}

impl CpuUsage {
    /// The usage of `cpu_ns` nanoseconds over `window_s` seconds and `requests` requests.
    pub fn new(cpu_ns: u64, window_s: f64, requests: u64) -> CpuUsage {
        let cpu_s = cpu_ns as f64 / 1e9;
        CpuUsage {
            cpu_s,
            us_per_req: (requests > 0).then(|| cpu_s * 1e6 / requests as f64),
            cores: if window_s > 0.0 {
                cpu_s / window_s
            } else {
                0.0
            },
        }
    }
}

/// A process named with `--watch-pid NAME=PID`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedUsage {
    /// The name given.
    pub name: String,
    /// The process id given.
    pub pid: u32,
    /// Its tasks (threads) seen at the end of the window.
    pub tasks: usize,
    /// Whether the process was still there at the end of the window (when it was not,
    /// `usage` counts only what was seen before it went: nothing).
    pub alive: bool,
    /// Summed over its tasks.
    pub usage: CpuUsage,
}

/// The whole machine, from `/proc/stat`: every core, every process, and the kernel work
/// no process is charged for (interrupts, softirq: most of the network stack's receive
/// path).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineUsage {
    /// Cores online.
    pub cpus: usize,
    /// User time (nice included), in cores.
    pub user_cores: f64,
    /// System time, in cores.
    pub system_cores: f64,
    /// Hard interrupts, in cores.
    pub irq_cores: f64,
    /// Softirq, in cores.
    pub softirq_cores: f64,
    /// The sum of the four, per request and in cores.
    pub busy: CpuUsage,
}

/// The `cpu` section of a run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuSection {
    /// Seconds between the two samples (the start of recording and its end, or the
    /// moment the last worker finished a count run).
    pub window_s: f64,
    /// Requests completed in the recorded part (ok + errors), the per-request divisor.
    pub requests: u64,
    /// Every thread of this process.
    pub process: CpuUsage,
    /// The client: this process without the embedded server's and relay's threads.
    pub client: CpuUsage,
    /// The embedded bench-server's threads (named `bench-server*`), when there are any.
    pub server: Option<CpuUsage>,
    /// The embedded relay's threads (named `bench-proxy*`), when there are any.
    pub relay: Option<CpuUsage>,
    /// The `--watch-pid` processes, in the order given.
    pub watched: Vec<WatchedUsage>,
    /// The `--watch-pid` processes together (`None` when none was named).
    pub watched_total: Option<CpuUsage>,
    /// The whole machine (`None` when `/proc/stat` could not be read).
    pub machine: Option<MachineUsage>,
}

impl CpuSection {
    /// One line for the table's notes: `cpu per request: client 12.1us (0.45 cores),
    /// server 8.0us (0.30 cores), machine 31.2us (1.2 of 2 cores)`.
    pub fn summary_line(&self) -> String {
        let part = |name: &str, u: &CpuUsage| match u.us_per_req {
            Some(us) => format!("{name} {us:.1}us ({:.2} cores)", u.cores),
            None => format!("{name} - ({:.2} cores)", u.cores),
        };
        let mut parts = vec![part("client", &self.client)];
        parts.extend(self.server.as_ref().map(|u| part("server", u)));
        parts.extend(self.relay.as_ref().map(|u| part("relay", u)));
        for w in &self.watched {
            let gone = if w.alive { "" } else { " (gone)" };
            parts.push(part(&format!("{}{gone}", w.name), &w.usage));
        }
        if let Some(m) = &self.machine {
            let us = m
                .busy
                .us_per_req
                .map_or("-".to_owned(), |us| format!("{us:.1}us"));
            parts.push(format!(
                "machine {us} ({:.2} of {} cores)",
                m.busy.cores, m.cpus
            ));
        }
        format!("cpu per request: {}", parts.join(", "))
    }
}
