//! Address flags (`--target`, `--direct`, `--proxied`) from `host:port` text to a socket
//! address: the one network step between parsing (which does no I/O) and a pre-flight.
//! Errors are bad input and name the flag and its text.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::HostPort;

/// How long each candidate address of a name gets to accept a connection. Short: a name
/// with several addresses (localhost: `::1` and `127.0.0.1`) usually has one that refuses
/// at once, and the pre-flight that follows checks the chosen one properly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The address of `target`. For TCP, a name with several addresses gives the first that
/// accepts a connection (or the first, if none does); otherwise the first. A host that
/// does not resolve says so, with the resolver's reason.
pub fn address(target: &HostPort) -> anyhow::Result<SocketAddr> {
    let HostPort { flag, text, tcp } = target;
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("{flag} {text}: cannot resolve host: {e}"))?
        .collect();
    let first = *addrs
        .first()
        .with_context(|| format!("{flag} {text}: resolves to no address"))?;
    if !tcp || addrs.len() == 1 {
        return Ok(first);
    }
    Ok(addrs
        .iter()
        .copied()
        .find(|addr| TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_ok())
        .unwrap_or(first))
}
