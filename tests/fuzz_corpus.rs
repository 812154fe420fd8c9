//! The fuzz corpus on stable: every file of `fuzz/corpus/TARGET/` through that target's
//! function ([`wirebench::fuzzing`], the same code `cargo fuzz run TARGET` drives), so CI
//! exercises every seed and every crash input committed as a regression, without
//! nightly or libFuzzer.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` rewrites the hand-made
//! seeds (files named `seed-*`), e.g. after a wire format change; inputs the fuzzer found
//! (named by their hash) are kept.

use std::fs;
use std::path::{Path, PathBuf};

use wirebench::fuzzing::TARGETS;
use wirebench::proto::{CommandName, ProbeHeader, RequestHeader, ResponseHeader, encode_frame};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_file_runs_through_its_target_without_panicking() {
    for (target, run) in TARGETS {
        let dir = corpus(target);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| f
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")),
            "{target}: no seed in {}",
            dir.display()
        );
        for file in files {
            let bytes = fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
        }
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (target, _) in TARGETS {
        let file = dir.join(format!("{target}.rs"));
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("fuzzing::{target}(")),
            "{} does not call fuzzing::{target}",
            file.display()
        );
    }
}

/// One framed request frame.
fn request_frame(cmd: CommandName, id: u64, body: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(
        &RequestHeader::new(cmd, id, body.len() as u64),
        body,
        &mut wire,
    )
    .unwrap();
    wire
}

/// One framed success reply.
fn response_frame(id: u64, body: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&ResponseHeader::ok(id, body.len() as u64), body, &mut wire).unwrap();
    wire
}

/// `first` (the chunking byte the stream targets read) and then `rest`.
fn prefixed(first: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    v.extend_from_slice(rest);
    v
}

#[test]
#[ignore = "rewrites the committed seeds; run by hand"]
fn write_seed_corpus() {
    let requests = [
        request_frame(CommandName::Echo, 1, b"hello"),
        [
            request_frame(CommandName::Upper, 2, b"abc"),
            request_frame(CommandName::Echo, 3, b""),
        ]
        .concat(),
        request_frame(CommandName::Upper, 5, &[b'x'; 300]),
    ];
    let responses = [
        response_frame(0, b"hello"),
        [response_frame(0, b"a"), response_frame(1, b"bc")].concat(),
    ];
    let pattern = wirebench::client::workload::Pattern::new(1024);
    let echo = |id: u64, size: usize| {
        pattern
            .payload(&wirebench::client::workload::Request { id, size })
            .to_vec()
    };
    let probe = ProbeHeader { seq: 0, sent_ns: 7 }.to_bytes();
    let datagram = [probe.as_slice(), b"-padding-bytes"].concat();
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "framed_request",
            requests.iter().map(|r| prefixed(7, r)).collect(),
        ),
        (
            "framed_response",
            responses.iter().map(|r| prefixed(3, r)).collect(),
        ),
        (
            // Chunk byte, then the size seed (0: 1-byte requests) and the replies.
            "tcp_echo_reply",
            vec![
                prefixed(0, &[[0u8].as_slice(), &echo(0, 1), &echo(1, 1)].concat()),
                prefixed(4, &[[2u8].as_slice(), &echo(0, 5), b"wrong"].concat()),
            ],
        ),
        (
            "framed_reply",
            vec![
                prefixed(
                    5,
                    &[[2u8].as_slice(), &response_frame(0, &echo(0, 5))].concat(),
                ),
                prefixed(0, &response_frame(9, b"?")),
            ],
        ),
        (
            "udp_probe",
            vec![probe.to_vec(), datagram, b"short".to_vec()],
        ),
        (
            "units",
            [
                "64KiB",
                "1.5MiB",
                "0B",
                "250ms",
                "1m30s",
                "10s",
                "120ns",
                "16..4KiB",
                "64B..1KiB",
                "up:loss=1%",
                "down:dup=0.5%",
                "reset=after:100KiB",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        ),
        ("report", vec![sample_report(), b"{\"schema\":1}".to_vec()]),
        (
            // The workload index (fuzzing::WORKLOADS), the chunk byte, the size seed, and
            // replies as that protocol's server would send them.
            "custom_reply",
            vec![
                prefixed(1, &[[9u8, 0].as_slice(), b"0 x\n1 y\n"].concat()),
                prefixed(
                    2,
                    &[[3u8, 0].as_slice(), b"VALUE key:ab 0 1\r\nx\r\nEND\r\n"].concat(),
                ),
                prefixed(
                    3,
                    &[[5u8, 0].as_slice(), b"$-1\r\n$1\r\nx\r\n+OK\r\n-ERR no\r\n"].concat(),
                ),
                prefixed(
                    4,
                    &[[2u8, 0].as_slice(), b"+PONG\r\n+PONG\r\n-ERR x\r\n"].concat(),
                ),
            ],
        ),
        (
            "workload_file",
            [
                "framed-echo",
                "line-echo",
                "memcached-get-set",
                "redis-get-set",
                "redis-ping",
            ]
            .iter()
            .map(|name| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("workloads")
                    .join(format!("{name}.toml"));
                fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect(),
        ),
    ];
    for (target, inputs) in seeds {
        let dir = corpus(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i}")), input).unwrap();
        }
    }
}

/// A real report of a short run on the embedded server, as `Report::write` writes it.
fn sample_report() -> Vec<u8> {
    use wirebench::client::{Run, RunConfig, RunLength};
    let config = RunConfig {
        length: RunLength::Requests(50),
        warmup: "0s".parse().unwrap(),
        connections: 1,
        threads: 1,
        ..RunConfig::default()
    };
    let report = Run::new(config).unwrap().execute().unwrap();
    serde_json::to_vec_pretty(&report).unwrap()
}
