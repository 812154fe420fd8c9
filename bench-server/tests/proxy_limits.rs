//! The relay's descriptor budget: a client whose connection would not fit in the
//! descriptors left (6 per connection with `splice`, 2 with `copy`) is refused at
//! once and counted, while the connections already open keep relaying; on both models
//! (the per-core loops share the budget).

mod common;

use std::time::Duration;

use bench_server::Proto;
use bench_server::proxy::{
    Front, ProxyConfig, ProxyErrorKind, ProxyModel, ProxyProto, Strategy, spawn_proxy,
};
use common::*;

#[test]
fn a_connection_beyond_the_descriptor_budget_is_refused_and_counted_per_core() {
    beyond_the_budget(ProxyModel::PerCore);
}

#[test]
fn a_connection_beyond_the_descriptor_budget_is_refused_and_counted_async() {
    beyond_the_budget(ProxyModel::Async);
}

fn beyond_the_budget(model: ProxyModel) {
    for (strategy, max_fds) in [(Strategy::Splice, 13), (Strategy::Copy, 5)] {
        let server = start_server(Proto::TcpEcho, test_config());
        let config = ProxyConfig {
            model,
            threads: 2,
            grace: Duration::from_secs(1),
            strategy,
            // Room for two connections, not three.
            max_fds: Some(max_fds),
            ..ProxyConfig::new(ProxyProto::Tcp, server.addr(Proto::TcpEcho).unwrap())
        };
        let front = Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let proxy = spawn_proxy(front, config).unwrap();
        let mut open: Vec<_> = (0..2).map(|_| connect(proxy.addr())).collect();
        for (i, s) in open.iter_mut().enumerate() {
            assert_tcp_echo(s, format!("first {i}").as_bytes());
        }

        let mut refused = connect(proxy.addr());
        assert!(
            matches!(
                read_until_closed(&mut refused),
                Ending::Closed(0) | Ending::Reset
            ),
            "{strategy:?}"
        );
        assert_eq!(
            proxy.summary().error_count(ProxyErrorKind::Descriptors),
            1,
            "{strategy:?}"
        );
        for (i, s) in open.iter_mut().enumerate() {
            assert_tcp_echo(s, format!("still {i}").as_bytes());
        }

        // A closed connection gives its descriptors back.
        drop(open.pop());
        assert!(
            eventually(Duration::from_secs(30), || proxy.summary().active == 1),
            "{strategy:?}"
        );
        let mut again = connect(proxy.addr());
        assert_tcp_echo(&mut again, b"fits again");
        drop((open, again));
        let summary = proxy.stop().unwrap();
        assert_eq!(
            summary.error_count(ProxyErrorKind::Descriptors),
            1,
            "{strategy:?}"
        );
        server.stop().unwrap();
    }
}
