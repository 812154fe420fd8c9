//! The timeline: one histogram per second of the recorded part. Workers close their
//! intervals on the hot path; the [`Compressor`] thread compresses them (a live histogram
//! takes ~220 KB, a compressed interval a few hundred bytes) and hands the emptied
//! histograms back for reuse; at the end the workers' parts are merged per interval.

use std::sync::{Arc, mpsc};

use hdrhistogram::Histogram;

use super::interval::{IntervalPart, StoredInterval};
use super::live::Live;

/// Compresses finished interval histograms on its own thread, off the workers' hot path,
/// and hands the emptied histograms back for reuse; folds each into the run's [`Live`]
/// first, for a display that watches intervals.
#[derive(Debug)]
pub struct Compressor {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<Vec<StoredInterval>>>,
}

/// A worker's way to the [`Compressor`].
#[derive(Debug, Clone)]
pub struct CompressorHandle(Option<mpsc::Sender<Job>>);

#[derive(Debug)]
struct Job {
    part: IntervalPart,
    spare: mpsc::Sender<Histogram<u64>>,
}

#[derive(Debug)]
pub(crate) struct CompressorLink {
    jobs: mpsc::Sender<Job>,
    spare_tx: mpsc::Sender<Histogram<u64>>,
    spare_rx: mpsc::Receiver<Histogram<u64>>,
}

impl CompressorLink {
    /// A worker's link, if the compressor thread runs.
    pub(crate) fn new(handle: CompressorHandle) -> Option<CompressorLink> {
        let (spare_tx, spare_rx) = mpsc::channel();
        handle.0.map(|jobs| CompressorLink {
            jobs,
            spare_tx,
            spare_rx,
        })
    }

    /// An emptied histogram handed back by the compressor, or a new one.
    pub(crate) fn fresh_histogram(&self) -> Histogram<u64> {
        self.spare_rx
            .try_recv()
            .unwrap_or_else(|_| crate::report::new_histogram())
    }

    /// Hands a finished interval over; gives it back when the compressor is gone.
    pub(crate) fn send(&self, part: IntervalPart) -> Option<IntervalPart> {
        let job = Job {
            part,
            spare: self.spare_tx.clone(),
        };
        self.jobs
            .send(job)
            .err()
            .map(|mpsc::SendError(job)| job.part)
    }
}

impl Compressor {
    /// Starts the thread (without one, recorders compress inline, and `live` sees no
    /// intervals).
    pub fn start(live: Arc<Live>) -> Compressor {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("bench-client-compress".to_owned())
            .spawn(move || {
                let mut stored = Vec::new();
                for mut job in rx {
                    live.fold_interval(&job.part);
                    stored.push(job.part.store());
                    job.part.latency.reset();
                    let _ = job.spare.send(job.part.latency);
                }
                stored
            });
        match thread {
            Ok(thread) => Compressor {
                jobs: Some(tx),
                thread: Some(thread),
            },
            Err(_) => Compressor {
                jobs: None,
                thread: None,
            },
        }
    }

    /// What a worker's recorder needs to reach the compressor.
    pub fn handle(&self) -> CompressorHandle {
        CompressorHandle(self.jobs.clone())
    }

    /// Waits for every interval sent so far (all recorders must be finished and
    /// dropped) and returns them.
    pub fn finish(mut self) -> Vec<StoredInterval> {
        self.jobs = None;
        self.thread
            .take()
            .map(|t| t.join().expect("compressor thread panicked"))
            .unwrap_or_default()
    }
}

/// Worker parts of the same interval merged, in interval order.
pub fn merge(intervals: &[StoredInterval]) -> Vec<IntervalPart> {
    let mut parts: Vec<&StoredInterval> = intervals.iter().collect();
    parts.sort_by_key(|p| p.index);
    let mut out: Vec<IntervalPart> = Vec::new();
    for part in parts {
        let latency = crate::report::decode_histogram_bytes(&part.latency)
            .expect("a histogram this process encoded decodes");
        match out.last_mut() {
            Some(last) if last.index == part.index => {
                last.ok += part.ok;
                last.errors += part.errors;
                last.unfinished += part.unfinished;
                last.bytes_received += part.bytes_received;
                last.latency.add(&latency).expect("same bounds");
            }
            _ => out.push(IntervalPart {
                index: part.index,
                ok: part.ok,
                errors: part.errors,
                unfinished: part.unfinished,
                bytes_received: part.bytes_received,
                latency,
            }),
        }
    }
    out
}
