//! The pipelining rules of [`TcpSession`], without sockets: bytes and instants in,
//! bytes and deadlines out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_server::WriteMode;

use super::*;
use crate::config::{Arrival, LoadModel, RunConfig, RunLength, WorkloadKind};
use crate::engine::shared::Stopper;
use crate::record::Live;
use crate::workload::framed::Framed;
use crate::workload::tcp_echo::TcpEcho;
use crate::workload::{Pattern, Verifier};

fn shared_for(config: RunConfig, start: Instant) -> Shared {
    let verifier = Verifier::new(&config, Arc::new(Pattern::new(config.size.max.as_usize())));
    let addr = "127.0.0.1:9".parse().unwrap();
    Shared::new(config, addr, start, verifier, None, Stopper::new())
}

fn recorder(shared: &Shared) -> Recorder {
    let open = shared.config().is_open_loop();
    Recorder::new(
        open,
        shared.record_start(),
        shared.end(),
        Arc::new(Live::new(1)),
        0,
    )
}

fn closed(pipeline: usize) -> RunConfig {
    RunConfig {
        pipeline,
        warmup: "0s".parse().unwrap(),
        length: RunLength::Requests(1_000),
        ..RunConfig::default()
    }
}

fn errors(rec: &Recorder, kind: ErrorKind) -> u64 {
    let i = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap();
    rec.errors[i]
}

/// Writes everything pending (in as many writes as the session asks for); returns the
/// bytes and the number of writes.
fn drain(session: &mut TcpSession<TcpEcho>) -> (Vec<u8>, usize) {
    let (mut bytes, mut writes) = (Vec::new(), 0);
    while !session.pending_write().is_empty() {
        bytes.extend_from_slice(session.pending_write());
        let n = session.pending_write().len();
        session.wrote(n);
        writes += 1;
    }
    (bytes, writes)
}

/// Feeds `bytes` as the peer's replies, `chunk` bytes per read.
fn feed<W: StreamWorkload>(
    session: &mut TcpSession<W>,
    bytes: &[u8],
    chunk: usize,
    now: Instant,
    rec: &mut Recorder,
) -> Result<(), End> {
    for piece in bytes.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let buf = session.read_buf();
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            session.filled(n, now, rec)?;
            rest = &rest[n..];
        }
    }
    Ok(())
}

#[test]
fn a_full_pipeline_goes_out_in_one_write_and_each_reply_frees_a_slot() {
    let t0 = Instant::now();
    let shared = shared_for(closed(4), t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    assert_eq!(session.in_flight(), 4, "the window is full");
    let (sent, writes) = drain(&mut session);
    assert_eq!(
        (sent.len(), writes),
        (4 * 64, 1),
        "four requests, one write"
    );
    session.poll_send(&shared, &mut rec, t0);
    assert!(session.pending_write().is_empty(), "no room: nothing more");
    // One reply back: one slot free, one more request.
    let later = t0 + Duration::from_micros(50);
    feed(&mut session, &sent[..64], 64, later, &mut rec).unwrap();
    assert_eq!((rec.ok, session.in_flight()), (1, 3));
    session.poll_send(&shared, &mut rec, later);
    assert_eq!(session.pending_write().len(), 64);
    assert_eq!(session.in_flight(), 4);
}

#[test]
fn replies_complete_in_order_whatever_the_fragmentation() {
    for chunk in [1, 7, 64, 100, 1000] {
        let t0 = Instant::now();
        let shared = shared_for(closed(8), t0);
        let mut rec = recorder(&shared);
        let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
        session.poll_send(&shared, &mut rec, t0);
        let (sent, _) = drain(&mut session);
        feed(&mut session, &sent, chunk, t0, &mut rec).unwrap();
        assert_eq!(rec.ok, 8, "chunk {chunk}");
        assert_eq!(session.in_flight(), 0);
        assert_eq!(rec.error_count(), 0);
    }
}

#[test]
fn a_wrong_byte_fails_its_request_and_the_connection_goes_on() {
    let t0 = Instant::now();
    let shared = shared_for(closed(2), t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    let (mut sent, _) = drain(&mut session);
    sent[3] ^= 0x20;
    feed(&mut session, &sent, 1000, t0, &mut rec).unwrap();
    assert_eq!((rec.ok, errors(&rec, ErrorKind::Mismatch)), (1, 1));
    session.poll_send(&shared, &mut rec, t0);
    assert_eq!(session.in_flight(), 2, "still sending");
}

#[test]
fn partial_writes_resume_where_they_stopped() {
    let t0 = Instant::now();
    let shared = shared_for(closed(3), t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    let whole = session.pending_write().to_vec();
    let mut got = Vec::new();
    while !session.pending_write().is_empty() {
        let n = session.pending_write().len().min(50);
        got.extend_from_slice(&session.pending_write()[..n]);
        session.wrote(n);
    }
    assert_eq!(got, whole);
}

#[test]
fn split_mode_is_the_workloads_choice_one_write_per_part() {
    let t0 = Instant::now();
    let config = RunConfig {
        workload: WorkloadKind::Framed,
        write_mode: WriteMode::Split,
        ..closed(2)
    };
    let shared = shared_for(config.clone(), t0);
    let mut rec = recorder(&shared);
    let workload = Framed::new(&config, shared.verifier().clone());
    assert!(workload.split_writes());
    let mut session = TcpSession::new(&shared, 0, &workload);
    session.poll_send(&shared, &mut rec, t0);
    let mut writes = Vec::new();
    while !session.pending_write().is_empty() {
        let n = session.pending_write().len();
        writes.push(n);
        session.wrote(n);
    }
    // Two requests of prefix, header and body each.
    assert_eq!(writes.len(), 6, "{writes:?}");
    assert_eq!(writes[0], bench_proto::codec::PREFIX_LEN);
    assert_eq!(writes[2], 64);
    let coalesced = Framed::new(&closed(2), shared.verifier().clone());
    assert!(!coalesced.split_writes());
}

#[test]
fn the_oldest_request_times_out_and_fails_everything_in_flight() {
    let t0 = Instant::now();
    let shared = shared_for(closed(3), t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    drain(&mut session);
    let limit = shared.config().timeout.0;
    assert_eq!(session.poll_timeout(&shared), Some(t0 + limit));
    let before = t0 + limit - Duration::from_millis(1);
    assert!(session.handle_timeout(&shared, &mut rec, before).is_ok());
    let end = session
        .handle_timeout(&shared, &mut rec, t0 + limit)
        .unwrap_err();
    assert_eq!(end.kind, ErrorKind::Timeout);
    session.close(&shared, &mut rec, Err(end));
    assert_eq!(
        errors(&rec, ErrorKind::Timeout),
        3,
        "each request in flight"
    );
}

#[test]
fn a_close_by_the_peer_is_an_error_only_with_requests_outstanding() {
    let t0 = Instant::now();
    let shared = shared_for(closed(1), t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    let end = session.peer_closed().unwrap_err();
    assert_eq!(end.kind, ErrorKind::Closed);
    assert!(
        end.message.contains("1 requests outstanding"),
        "{}",
        end.message
    );
}

#[test]
fn a_count_run_stops_at_its_budget_and_finishes_when_the_replies_are_in() {
    let t0 = Instant::now();
    let config = RunConfig {
        length: RunLength::Requests(5),
        ..closed(2)
    };
    let shared = shared_for(config, t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    for _ in 0..10 {
        session.poll_send(&shared, &mut rec, t0);
        let (sent, _) = drain(&mut session);
        feed(&mut session, &sent, 1000, t0, &mut rec).unwrap();
    }
    session.poll_send(&shared, &mut rec, t0);
    assert_eq!(rec.ok, 5);
    assert!(session.is_finished());
}

#[test]
fn open_loop_due_requests_go_out_in_one_batch_at_their_real_send_time() {
    let t0 = Instant::now();
    let config = RunConfig {
        connections: 1,
        pipeline: 16,
        load: LoadModel::Open {
            rate: 10_000.0,
            arrival: Arrival::Uniform,
        },
        length: RunLength::Duration("10s".parse().unwrap()),
        ..closed(16)
    };
    let shared = shared_for(config, t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    assert_eq!(session.in_flight(), 1, "only the first is due at the start");
    let next = t0 + Duration::from_micros(100);
    assert_eq!(
        session.poll_timeout(&shared),
        Some(next),
        "the pacer's deadline"
    );
    drain(&mut session);
    // The loop looks 450 us later: the four due by then go out together, each recorded
    // as sent now (its send lag is real), in one write.
    let late = t0 + Duration::from_micros(450);
    session.handle_timeout(&shared, &mut rec, late).unwrap();
    assert_eq!(session.in_flight(), 5);
    let (bytes, writes) = drain(&mut session);
    assert_eq!((bytes.len(), writes), (4 * 64, 1));
    let lag = rec.send_lag.as_ref().unwrap();
    assert_eq!(lag.hist.len(), 5);
    assert!(
        lag.hist.max() >= 349_000,
        "the oldest of the batch waited 350 us"
    );
    assert_eq!(
        session.poll_timeout(&shared),
        Some(t0 + Duration::from_micros(500))
    );
}

#[test]
fn a_session_waiting_for_room_holds_no_pacer_deadline() {
    let t0 = Instant::now();
    let config = RunConfig {
        connections: 1,
        load: LoadModel::Open {
            rate: 10_000.0,
            arrival: Arrival::Uniform,
        },
        length: RunLength::Duration("10s".parse().unwrap()),
        ..closed(1)
    };
    let shared = shared_for(config, t0);
    let mut rec = recorder(&shared);
    let mut session = TcpSession::new(&shared, 0, &TcpEcho::new(shared.verifier().clone()));
    session.poll_send(&shared, &mut rec, t0);
    let (sent, _) = drain(&mut session);
    let due = t0 + Duration::from_micros(100);
    session.handle_timeout(&shared, &mut rec, due).unwrap();
    // No slot: the reply drives the next send; only the request timeout is left.
    assert_eq!(
        session.poll_timeout(&shared),
        Some(t0 + shared.config().timeout.0)
    );
    let reply_at = t0 + Duration::from_micros(300);
    feed(&mut session, &sent, 1000, reply_at, &mut rec).unwrap();
    session.poll_send(&shared, &mut rec, reply_at);
    assert_eq!(
        session.in_flight(),
        1,
        "the held request goes out on the reply"
    );
}
