//! What the impairing-relay tests share (`tests/impair.rs`, UDP and resets;
//! `tests/impair_tcp.rs`, TCP shaping): an echo server and a relay with impairments on
//! 127.0.0.1:0, and a run through them.

#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use bench_client::{Report, Run, RunConfig, Target};
use bench_server::proxy::{
    Front, ProxyConfig, ProxyHandle, ProxyModel, ProxyProto, ProxySummary, spawn_proxy,
};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle};

/// Both relay models: every impairment test runs on each.
pub const MODELS: [ProxyModel; 2] = [ProxyModel::PerCore, ProxyModel::Async];

/// An echo server of `proto` on 127.0.0.1:0.
pub fn start_server(proto: Proto) -> (ServerHandle, SocketAddr) {
    let config = ServerConfig {
        threads: 1,
        grace: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let ep = Endpoint::bind(proto, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    let server = bench_server::spawn(vec![ep], config).unwrap();
    let addr = server.addr(proto).unwrap();
    (server, addr)
}

/// A relay of `model` and `proto` to `upstream` with `specs` and seed 42.
pub fn impairing_relay_on(
    model: ProxyModel,
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
) -> ProxyHandle {
    let mut relay = ProxyConfig {
        model,
        threads: 1,
        grace: Duration::from_secs(1),
        ..ProxyConfig::new(proto, upstream)
    };
    relay.impair.seed = 42;
    for spec in specs {
        relay.impair.add(spec).unwrap();
    }
    relay.check().unwrap();
    let front = Front::bind(proto, "127.0.0.1:0".parse().unwrap()).unwrap();
    spawn_proxy(front, relay).unwrap()
}

/// Runs `config` against `addr` through a per-core relay of `proto` with `specs` and
/// seed 42: the client's report and the relay's summary.
pub fn through_impairing_relay(
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
    config: RunConfig,
) -> (Report, ProxySummary) {
    through_impairing_relay_on(ProxyModel::PerCore, proto, upstream, specs, config)
}

/// [`through_impairing_relay`] on a relay of `model`.
pub fn through_impairing_relay_on(
    model: ProxyModel,
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
    mut config: RunConfig,
) -> (Report, ProxySummary) {
    let proxy = impairing_relay_on(model, proto, upstream, specs);
    config.target = Target::External { addr: proxy.addr() };
    let report = Run::new(config).unwrap().execute().unwrap();
    (report, proxy.stop().unwrap())
}
