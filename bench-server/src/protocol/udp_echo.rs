//! The udp-echo protocol: one datagram in, the same datagram (or its uppercase) back to
//! the sender. The probe header at the start of the payload is the client's business.
//!
//! This is the `async`, `threads` and `iterative` models' udp-echo: `--threads` receive
//! loops share one socket, so a datagram wakes every loop waiting on it and all but one
//! find nothing (issue 14's "N UDP loops on one socket wake each other"). The per-core
//! model avoids that with one `SO_REUSEPORT` socket per loop; here it stays as it was.

use std::net::UdpSocket;
use std::sync::Arc;

use smol::Async;

use crate::config::Transform;
use crate::runtime::Runtime;
use crate::stats::{ErrorKind, Stats};

/// Largest UDP payload over IPv4/IPv6 without jumbograms.
const MAX_DATAGRAM: usize = 65_535;

/// One receive loop; the server runs `--threads` of them on the same socket. Errors on
/// one datagram (a send to a vanished peer, say) are counted and the loop goes on.
/// Under a flood the socket is always readable, so the stop branch of the `or` would
/// never win: [`Runtime::keep_going`] looks at the stop and yields every few datagrams.
pub(crate) async fn serve(
    socket: Arc<Async<UdpSocket>>,
    transform: Transform,
    stats: Arc<Stats>,
    runtime: &Runtime,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut turns = 0u64;
    while runtime.keep_going(&mut turns).await {
        let received = runtime.or_stopped(socket.recv_from(&mut buf)).await;
        let (n, peer) = match received {
            None => return,
            Some(Ok(got)) => got,
            Some(Err(e)) => {
                stats.error(ErrorKind::from_io(&e));
                log::info!("udp-echo: receive failed: {e}");
                continue;
            }
        };
        stats.bytes_in.add(n);
        let datagram = &mut buf[..n];
        if transform == Transform::Upper {
            datagram.make_ascii_uppercase();
        }
        match socket.send_to(datagram, peer).await {
            Ok(sent) => {
                stats.bytes_out.add(sent);
                stats.requests.incr();
            }
            Err(e) => {
                stats.error(ErrorKind::from_io(&e));
                log::info!("udp-echo {peer}: send failed: {e}");
            }
        }
    }
}
