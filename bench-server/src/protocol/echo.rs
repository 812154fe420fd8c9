//! The tcp-echo protocol: every byte read is written back, in order, unchanged or
//! ASCII-uppercased. No message boundaries: one read is echoed as one write.

use crate::config::Transform;
use crate::conn::{Conn, Interrupt, ReadEvent};
use crate::stats::ErrorKind;

/// Size of the per-connection echo buffer: one read of a typical benchmark message is
/// one syscall, and 10,000 connections still hold only 160 MiB.
const ECHO_BUF: usize = 16 * 1024;

/// Serves one tcp-echo connection until the peer closes, it idles out, the server stops,
/// or an I/O error (counted) ends it.
pub(crate) async fn serve(mut conn: Conn, transform: Transform) {
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(ReadEvent::Data(n)) => n,
            // No frames here, so no frame deadline either.
            Ok(ReadEvent::Eof)
            | Ok(ReadEvent::Interrupted(Interrupt::Stop | Interrupt::SlowFrame)) => return,
            Ok(ReadEvent::Interrupted(Interrupt::Idle)) => {
                return conn.fail(ErrorKind::IdleTimeout, &"no data for the idle timeout");
            }
            Err(e) => return conn.fail_io(&e),
        };
        let data = &mut buf[..n];
        if transform == Transform::Upper {
            data.make_ascii_uppercase();
        }
        if let Err(e) = conn.write_all(data).await {
            return conn.fail_io(&e);
        }
        conn.served_one().await;
        if conn.stopping().await {
            return;
        }
    }
}
