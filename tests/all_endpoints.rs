//! Cross-crate: `bind_all` puts tcp-echo, udp-echo and framed on three consecutive ports,
//! one server run serves all three, and the stop summary accounts for each.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use wirebench::proto::{CommandName, Decoder, Limits, RequestHeader, ResponseHeader, encode_frame};
use wirebench::server::{Proto, ServerConfig};

#[test]
fn all_three_protocols_on_consecutive_ports() {
    let config = ServerConfig {
        threads: 2,
        grace: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let endpoints =
        wirebench::server::bind_all("127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    let server = wirebench::server::spawn(endpoints, config).unwrap();
    let tcp = server.addr(Proto::TcpEcho).unwrap();
    let udp = server.addr(Proto::UdpEcho).unwrap();
    let framed = server.addr(Proto::Framed).unwrap();
    assert_eq!(udp.port(), tcp.port() + 1);
    assert_eq!(framed.port(), tcp.port() + 2);

    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"tcp").unwrap();
    let mut reply = [0u8; 3];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"tcp");

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u.send_to(b"udp", udp).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"udp"[..], udp));

    let mut f = TcpStream::connect(framed).unwrap();
    f.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut wire = Vec::new();
    encode_frame(
        &RequestHeader::new(CommandName::Upper, 5, 6),
        b"framed",
        &mut wire,
    )
    .unwrap();
    f.write_all(&wire).unwrap();
    let mut dec = Decoder::<ResponseHeader>::new(Limits::default());
    let body = loop {
        if let Some(frame) = dec.decode().unwrap() {
            assert_eq!(frame.header.id, 5);
            break frame.body.to_vec();
        }
        let n = f.read(dec.read_buf()).unwrap();
        assert!(n > 0, "closed early");
        dec.filled(n);
    };
    assert_eq!(body, b"FRAMED");

    drop((s, f));
    let summary = server.stop().unwrap();
    let requests: Vec<(Proto, u64)> = summary
        .endpoints
        .iter()
        .map(|e| (e.proto, e.requests))
        .collect();
    assert_eq!(
        requests,
        [(Proto::TcpEcho, 1), (Proto::UdpEcho, 1), (Proto::Framed, 1)]
    );
}
