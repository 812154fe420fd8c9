//! The relay's TCP shaping queue is bounded on both models: a direction that may not
//! write (a stall) keeps reading only until its queue is full, then stops, so the
//! sender feels back-pressure instead of the relay buffering without end.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bench_server::proxy::{Front, ProxyConfig, ProxyModel, ProxyProto, spawn_proxy};

#[test]
fn a_stalled_direction_stops_reading_once_its_queue_is_full_per_core() {
    a_stalled_direction_pushes_back(ProxyModel::PerCore);
}

#[test]
fn a_stalled_direction_stops_reading_once_its_queue_is_full_async() {
    a_stalled_direction_pushes_back(ProxyModel::Async);
}

/// What the client may get into the relay before writes stop: the 1 MiB queue plus
/// the kernel's buffers on both sides of the front connection (loopback autotuning
/// stays well below this). Without the bound the client would write all of `OFFER`.
const BOUND: usize = 32 << 20;

/// What the client tries to write.
const OFFER: usize = 128 << 20;

fn a_stalled_direction_pushes_back(model: ProxyModel) {
    // An upstream that never reads: the kernel accepts the connection into the backlog.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ProxyConfig {
        model,
        threads: 1,
        grace: Duration::from_millis(200),
        ..ProxyConfig::new(ProxyProto::Tcp, upstream.local_addr().unwrap())
    };
    config.impair.add("up:stall=after:1B,for:1h").unwrap();
    config.check().unwrap();
    let front = Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let relay = spawn_proxy(front, config).unwrap();

    let mut client = TcpStream::connect(relay.addr()).unwrap();
    // Two seconds without progress is the event "writes have stopped"; on a busy
    // machine it may come early, which only lowers the count.
    client
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0usize;
    while written < OFFER {
        match client.write(&chunk) {
            Ok(n) => written += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("{model:?}: writing to the relay: {e}"),
        }
    }
    assert!(
        written < BOUND,
        "{model:?}: the relay took {written} B while stalled"
    );
    // At least the queue's worth went in (the relay read while it had room).
    assert!(written > 1 << 20, "{model:?}: only {written} B went in");
    drop(client);
    let summary = relay.stop().unwrap();
    assert_eq!(summary.bytes_to_upstream, 1, "{model:?}: {summary:?}");
    assert_eq!(summary.impaired.stalled, 1, "{model:?}: {summary:?}");
    drop(upstream);
}
