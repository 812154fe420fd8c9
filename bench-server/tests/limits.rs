//! The framed server's limits on what one client can make it hold: the `max_buffered`
//! memory budget for large requests, the frame deadline for trickling clients, and the
//! cap on how much of a peer's text an error frame quotes.

mod common;

use std::io::Write;
use std::time::Duration;

use bench_proto::Status;
use bench_server::{ErrorKind, Proto};
use common::*;
use serde_json::{Value, json};

const MIB: usize = 1 << 20;

fn buffered(stats: &Value) -> u64 {
    stats["endpoint"]["buffered_bytes"].as_u64().unwrap()
}

fn errors(stats: &Value, kind: ErrorKind) -> u64 {
    stats["endpoint"]["errors"][kind.as_str()].as_u64().unwrap()
}

#[test]
fn a_large_request_over_the_budget_is_refused_while_small_ones_keep_working() {
    let server = start_with(Proto::Framed, |c| {
        c.max_buffered = 4 * MIB as u64;
        // A fixed send buffer: autotuned, it may grow to 4 MiB and take a whole 3 MiB
        // reply that the client never reads (a single vectored write hands it all
        // over at once), which would give the budget back before it is looked at.
        c.socket.send_buf = Some(256 * 1024);
    });
    let addr = server.addr(Proto::Framed).unwrap();
    let mut watcher = connect(addr);

    // A sends a 3 MiB body and does not read the reply: it holds 3 MiB of the budget.
    let mut holder = connect(addr);
    let body = vec![b'h'; 3 * MIB];
    holder
        .write_all(&frame(
            json!({"cmd": "echo", "id": 1, "total_size": body.len()}),
            &body,
        ))
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), || buffered(&server_stats(
            &mut watcher
        )) == 3 * MIB as u64),
        "the unread 3 MiB request is not counted against the budget"
    );
    // A pipelines a second 3 MiB request: the server, still writing the first reply,
    // does not read it (were it read, 6 MiB would not fit in 4 and A would be refused).
    let mut pipelined = holder.try_clone().unwrap();
    let second = frame(
        json!({"cmd": "echo", "id": 6, "total_size": body.len()}),
        &body,
    );
    let pipelining = std::thread::spawn(move || pipelined.write_all(&second));

    // A generate reply is written from a shared pattern: asking for 8 MiB and never
    // reading takes nothing from the budget.
    let mut generator = connect(addr);
    generator
        .write_all(&frame(
            json!({"cmd": "generate", "id": 7, "size": 8 * MIB, "total_size": 0}),
            b"",
        ))
        .unwrap();
    assert!(eventually(Duration::from_secs(30), || server_stats(
        &mut watcher
    )["endpoint"]["bytes_out"]
        .as_u64()
        .unwrap()
        > MIB as u64));
    assert_eq!(buffered(&server_stats(&mut watcher)), 3 * MIB as u64);

    // B's 3 MiB would not fit in what is left: refused with an error frame, counted.
    let mut refused = connect(addr);
    refused
        .write_all(&frame(json!({"cmd": "echo", "id": 2, "total_size": 3 * MIB}), b"")[..])
        .unwrap();
    let (h, _) = read_response(&mut refused)
        .unwrap()
        .expect("an error frame");
    assert_eq!((h.id, h.status), (2, Status::Error));
    let message = h.error.unwrap_or_default();
    assert!(message.contains("--max-buffered"), "{message}");
    assert!(matches!(
        read_until_closed(&mut refused),
        Ending::Closed(0) | Ending::Reset
    ));

    // Small requests do not need the budget.
    assert_echo_works(&mut watcher, 3);
    let stats = server_stats(&mut watcher);
    assert_eq!(errors(&stats, ErrorKind::OverBudget), 1);
    assert_eq!(buffered(&stats), 3 * MIB as u64, "the refusal took nothing");

    // Once A reads its reply, its share goes back and a large request fits again.
    let (h, echoed) = read_response(&mut holder).unwrap().expect("A's reply");
    assert_eq!((h.id, h.status, echoed.len()), (1, Status::Ok, 3 * MIB));
    // Then, and only then, the pipelined request is read and answered.
    let (h, echoed) = read_response(&mut holder)
        .unwrap()
        .expect("A's second reply");
    assert_eq!((h.id, h.status, echoed.len()), (6, Status::Ok, 3 * MIB));
    pipelining.join().unwrap().unwrap();
    assert!(eventually(Duration::from_secs(30), || buffered(
        &server_stats(&mut watcher)
    ) == 0));
    let (h, echoed) = call(
        &mut holder,
        json!({"cmd": "echo", "id": 4, "total_size": body.len()}),
        &body,
    );
    assert_eq!((h.status, echoed.len()), (Status::Ok, 3 * MIB));
    // An uppercased copy is a second 3 MiB: 6 MiB does not fit in 4 MiB.
    let (h, _) = call(
        &mut holder,
        json!({"cmd": "upper", "id": 5, "total_size": body.len()}),
        &body,
    );
    assert_eq!((h.id, h.status), (5, Status::Error));
    drop(generator);
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::OverBudget), 2);
    assert_eq!(stats.buffered_bytes, 0, "every share went back");
}

#[test]
fn a_trickling_client_is_closed_at_the_frame_deadline() {
    let server = start_with(Proto::Framed, |c| {
        c.frame_timeout = Some(Duration::from_millis(300));
        c.idle_timeout = Some(Duration::from_secs(30));
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    assert_echo_works(&mut s, 1);
    let whole = frame(json!({"cmd": "echo", "id": 2, "total_size": 0}), b"");
    let mut writer = s.try_clone().unwrap();
    // One byte every 100 ms: progress enough for the idle timeout, never a whole frame
    // within 300 ms. Bounded by the frame's length.
    let trickling = std::thread::spawn(move || {
        for byte in whole {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // The close is the event: no reply comes, the connection just ends.
    assert!(matches!(
        read_until_closed(&mut s),
        Ending::Closed(0) | Ending::Reset
    ));
    trickling.join().unwrap();
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::SlowFrame), 1, "{stats:?}");
    assert_eq!(stats.error_count(ErrorKind::IdleTimeout), 0, "{stats:?}");
    assert_eq!(stats.requests, 1);
}

#[test]
fn a_60_kib_command_name_is_quoted_in_200_bytes() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let name = "A".repeat(60_000);
    let (h, _) = call(&mut s, json!({"cmd": name, "id": 5, "total_size": 0}), b"");
    assert_eq!((h.id, h.status), (5, Status::Error));
    let message = h.error.unwrap_or_default();
    assert!(message.len() < 400, "{} bytes: {message}", message.len());
    assert!(
        message.contains(&format!("{}…(60000 bytes)", "A".repeat(200))),
        "{message}"
    );
    assert!(message.contains("known: echo"), "{message}");
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::UnknownCommand), 1);
}
