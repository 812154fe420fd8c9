//! What the client does when the server misbehaves: stalls (coordinated omission), wrong
//! replies, lost datagrams, silence, a protocol it does not speak, and dying mid-run.

mod common;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bench_client::{Arrival, ErrorKind, LoadModel, RunConfig, RunLength, WorkloadKind};
use common::{external, quick, run};

#[test]
fn open_loop_corrected_latency_shows_a_stall_that_uncorrected_hides() {
    // One 200 ms stall after 500 requests of 64 B; 1,000 requests/s on one connection.
    let stall_at = 500 * 64;
    let addr = common::tcp_echo_stalling_once(stall_at, Duration::from_millis(200));
    let config = RunConfig {
        connections: 1,
        threads: 1,
        load: LoadModel::Open {
            rate: 1000.0,
            arrival: Arrival::Uniform,
        },
        length: RunLength::Duration("2s".parse().unwrap()),
        ..quick(0)
    };
    let report = run(external(config, addr));
    assert_eq!(
        report.totals.error_count, 0,
        "{:?}",
        report.totals.error_samples
    );
    let corrected = &report.latency;
    let uncorrected = report.latency_uncorrected.as_ref().unwrap();
    // During the stall ~200 requests fall due and wait: ~10% of the run waited up to
    // 200 ms. Measured from the intended time they are slow; from the actual send they
    // look fast, and only the one stalled request shows.
    assert!(
        corrected.p99_ns > 100_000_000,
        "corrected p99 {} ns should reflect the 200 ms stall",
        corrected.p99_ns
    );
    assert!(
        uncorrected.p99_ns < 50_000_000,
        "uncorrected p99 {} ns should hide it",
        uncorrected.p99_ns
    );
    assert!(corrected.max_ns >= 190_000_000 && uncorrected.max_ns >= 190_000_000);
    let schedule = report.schedule.unwrap();
    assert!(
        schedule.late >= 100,
        "requests held back by the stall went out late: {schedule:?}"
    );
    let lag = report.send_lag.unwrap();
    assert!(lag.max_ns >= 150_000_000, "send lag max {}", lag.max_ns);
}

#[test]
fn closed_loop_latency_counts_from_the_write() {
    let stall_at = 100 * 64;
    let addr = common::tcp_echo_stalling_once(stall_at, Duration::from_millis(200));
    let config = RunConfig {
        connections: 1,
        threads: 1,
        ..quick(300)
    };
    let report = run(external(config, addr));
    // Closed loop waits with the server: one slow request, the rest fast.
    assert!(report.latency.max_ns >= 190_000_000);
    assert!(
        report.latency.p99_ns < 50_000_000,
        "{}",
        report.latency.p99_ns
    );
}

#[test]
fn a_corrupted_reply_is_a_mismatch_not_a_success() {
    // Byte 3 of the 10th 64-byte reply becomes 'X'.
    let target = 9 * 64 + 3;
    let addr = common::tcp_echo_with(move |before, chunk| {
        if before <= target && target < before + chunk.len() as u64 {
            chunk[(target - before) as usize] = b'X';
        }
    });
    let config = RunConfig {
        connections: 1,
        ..quick(100)
    };
    let report = run(external(config, addr));
    assert_eq!(report.totals.errors[&ErrorKind::Mismatch], 1);
    assert_eq!(
        report.totals.ok, 99,
        "the stream stays in step: the rest succeed"
    );
    let sample = &report.totals.error_samples[&ErrorKind::Mismatch];
    assert!(
        sample.contains("request 9") && sample.contains("byte 3"),
        "{sample}"
    );
}

#[test]
fn udp_loss_counted_matches_what_the_server_dropped() {
    let (addr, dropped) = common::udp_dropping_every(10);
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 2,
        pipeline: 8,
        timeout: "200ms".parse().unwrap(),
        ..quick(1000)
    };
    let report = run(external(config, addr));
    let udp = report.udp.unwrap();
    let dropped = dropped.load(Ordering::SeqCst);
    assert_eq!(dropped, 100, "every 10th of 1,000 datagrams");
    assert_eq!(udp.sent, 1000);
    assert_eq!(udp.lost, dropped);
    assert_eq!(udp.received, 1000 - dropped);
    assert_eq!(udp.late + udp.duplicated, 0);
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], dropped);
    assert_eq!(report.totals.ok, 1000 - dropped);
}

#[test]
fn late_and_duplicated_datagrams_are_told_apart() {
    // A server that answers datagram 5 twice and holds datagram 9's reply until datagram
    // 12 arrives: one request in flight at a time, so 12 is sent only after 9 timed out,
    // and the reply to 9 is late by construction, on any machine. The 2 s timeout is far
    // above any ordinary reply's time, so only datagram 9 times out.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut held: Option<(Vec<u8>, std::net::SocketAddr)> = None;
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let seq = if n >= 8 {
                u64::from_le_bytes(buf[..8].try_into().unwrap())
            } else {
                u64::MAX
            };
            match seq {
                9 => held = Some((buf[..n].to_vec(), peer)),
                5 => {
                    let _ = socket.send_to(&buf[..n], peer);
                    let _ = socket.send_to(&buf[..n], peer);
                }
                _ => {
                    if seq == 12
                        && let Some((data, peer)) = held.take()
                    {
                        let _ = socket.send_to(&data, peer);
                    }
                    let _ = socket.send_to(&buf[..n], peer);
                }
            }
        }
    });
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 1,
        threads: 1,
        pipeline: 1,
        timeout: "2s".parse().unwrap(),
        length: RunLength::Requests(30),
        ..quick(0)
    };
    let report = run(external(config, addr));
    let udp = report.udp.unwrap();
    assert_eq!(udp.duplicated, 1, "{udp:?}");
    assert_eq!(udp.late, 1, "{udp:?}");
    assert_eq!(udp.lost, 0, "the late one arrived: {udp:?}");
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], 1);
    assert_eq!(report.totals.ok, 29);
}

#[test]
fn a_silent_server_gives_timeouts_and_the_run_still_ends() {
    let addr = common::silent_tcp_server();
    let started = Instant::now();
    let config = RunConfig {
        connections: 2,
        pipeline: 3,
        timeout: "300ms".parse().unwrap(),
        length: RunLength::Duration("5s".parse().unwrap()),
        ..quick(0)
    };
    let report = run(external(config, addr));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "timeouts end the connections"
    );
    assert_eq!(
        report.totals.errors[&ErrorKind::Timeout],
        6,
        "3 in flight on each of 2"
    );
    assert_eq!(report.totals.ok, 0);
}

#[test]
fn a_server_speaking_another_protocol_is_a_protocol_error() {
    // framed requests to a tcp-echo server come back as request frames, not responses.
    // The pre-flight check refuses a target that echoes its `stats` probe (see
    // tests/edges.rs); this one leaves the probe unanswered (it is best effort and gives
    // up after `--timeout`), then echoes everything on the run's connections.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut incoming = listener.incoming().flatten();
        let _probe = incoming.next();
        for mut stream in incoming {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
                    if n == 0 || std::io::Write::write_all(&mut stream, &buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let config = RunConfig {
        workload: WorkloadKind::Framed,
        timeout: "1s".parse().unwrap(),
        ..quick(50)
    };
    let report = run(external(config, addr));
    assert_eq!(
        report.totals.errors[&ErrorKind::Protocol],
        2,
        "one per connection"
    );
    let sample = &report.totals.error_samples[&ErrorKind::Protocol];
    assert!(sample.contains("bad reply frame"), "{sample}");
}

#[test]
fn a_server_dying_mid_run_ends_its_connections_with_counted_errors() {
    let addr = common::tcp_echo_dying_after(2000 * 64);
    let started = Instant::now();
    let config = RunConfig {
        connections: 4,
        pipeline: 4,
        length: RunLength::Duration("10s".parse().unwrap()),
        ..quick(0)
    };
    let report = run(external(config, addr));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "dead connections end the run"
    );
    assert!(report.totals.ok >= 1000, "{}", report.totals.ok);
    let failed = report.totals.errors[&ErrorKind::Reset] + report.totals.errors[&ErrorKind::Closed];
    assert!(
        failed >= 4,
        "every connection ends with an error: {:?}",
        report.totals.errors
    );
    assert!(
        report.duration_s < 5.0,
        "the rate covers the time the run lasted"
    );
}

#[test]
fn connections_refused_after_the_check_are_connect_errors() {
    // The target answers the pre-flight check, then stops listening.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = RunConfig {
        connections: 3,
        ..quick(10)
    };
    let run = bench_client::Run::new(external(config, addr)).unwrap();
    run.preflight().unwrap();
    drop(listener);
    let report = run
        .execute()
        .expect("checked once; the run itself goes ahead");
    assert_eq!(
        report.totals.errors[&ErrorKind::Connect],
        3,
        "one per connection"
    );
    assert_eq!(report.totals.ok, 0);
    let sample = &report.totals.error_samples[&ErrorKind::Connect];
    assert!(sample.contains(&addr.to_string()), "{sample}");
}

#[test]
fn a_target_that_does_not_answer_is_bad_input() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = bench_client::Run::new(external(quick(10), addr)).unwrap();
    let err = run.execute().unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn a_connection_lost_during_the_warmup_still_counts() {
    let addr = common::tcp_echo_dying_after(200 * 64);
    let config = RunConfig {
        connections: 2,
        warmup: "5s".parse().unwrap(),
        length: RunLength::Duration("1s".parse().unwrap()),
        ..quick(0)
    };
    let started = Instant::now();
    let report = run(external(config, addr));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(report.totals.ok, 0, "all in the warm-up");
    assert!(report.totals.error_count >= 2, "{:?}", report.totals.errors);
}

#[test]
fn a_stopped_run_keeps_late_timeouts_inside_its_timeline() {
    let addr = common::silent_tcp_server();
    let config = RunConfig {
        connections: 2,
        pipeline: 2,
        // Far past the stop (~0.3 s), so the stop comes first even on a loaded machine.
        timeout: "3s".parse().unwrap(),
        length: RunLength::Duration("10s".parse().unwrap()),
        ..quick(0)
    };
    let run = bench_client::Run::new(external(config, addr)).unwrap();
    let stopper = run.stopper();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stopper.stop();
    });
    let report = run.execute().unwrap();
    assert!(report.interrupted);
    assert!(
        report.duration_s < 2.5,
        "until the stop: {}",
        report.duration_s
    );
    // The timeouts came ~2.7 s after the stop; they count, inside the recorded part.
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], 4);
    let errors: u64 = report.timeline.iter().map(|t| t.errors).sum();
    assert_eq!(errors, 4);
    for entry in &report.timeline {
        assert!(
            entry.t_s < report.duration_s,
            "{} >= {}",
            entry.t_s,
            report.duration_s
        );
    }
}
