//! The local proof of the Kubernetes path: `scripts/shards-local.sh 4` runs 4 generator
//! shards through the Job's entrypoint (`JOB_COMPLETION_INDEX=I`), each in its own
//! network namespace (loopback processes when namespaces cannot be made; the script says
//! which), against one bench-server, open loop 20k req/s in total, with one `--start-at`;
//! then merges. The merged rate is within 1% of 20k, every shard started within 10 ms of
//! the common instant, and the merge's requests are the sum of the shards'.
//!
//! Ignored in a plain `cargo test`: it needs the release binaries (a debug build cannot
//! keep 20k req/s on two cores beside the server) and, for namespaces, root. `.ci/run`
//! builds them and runs it with `--include-ignored`; by hand:
//! `cargo build --release -p bench-client -p bench-server &&
//!  cargo test -p bench-client --test shards_local -- --include-ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;

use bench_client::Report;

/// `target/release/NAME`, beside the `target/debug` this test's binary was built into.
fn release_bin(name: &str) -> PathBuf {
    let debug = Path::new(env!("CARGO_BIN_EXE_bench-client"));
    let bin = debug
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/bench-client")
        .join("release")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p bench-client -p bench-server",
        bin.display()
    );
    bin
}

#[test]
#[ignore = "needs the release binaries (and root for namespaces); run by .ci/run"]
fn four_shards_merge_into_one_20k_run_started_together() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join(format!("wirebench-shards-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new("bash")
        .arg(root.join("scripts/shards-local.sh"))
        .arg("4")
        .arg(&out)
        .env("BENCH_CLIENT", release_bin("bench-client"))
        .env("BENCH_SERVER", release_bin("bench-server"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}{stderr}");
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");

    let merged = Report::read(&out.join("merged.json")).unwrap();
    let section = merged.shards.as_ref().expect("a shards section");
    assert!(!section.partial, "{:?}", section.missing);
    assert_eq!(section.shards.len(), 4);
    let schedule = merged.schedule.as_ref().expect("open loop");
    assert_eq!(schedule.target_rate, 20_000.0);
    let achieved = schedule.achieved_rate;
    assert!(
        (achieved - 20_000.0).abs() <= 200.0,
        "merged achieved {achieved:.0} req/s, not within 1% of 20000"
    );
    for shard in &section.shards {
        let skew = shard.start_skew_ns.expect("started with --start-at");
        assert!(
            skew.unsigned_abs() < 10_000_000,
            "shard {} started {skew} ns off the common instant",
            shard.index
        );
    }
    let shard_requests: u64 = (0..4)
        .map(|i| {
            Report::read(&out.join(format!("shard-{i}.json")))
                .unwrap()
                .totals
                .requests
        })
        .sum();
    assert_eq!(merged.totals.requests, shard_requests);
    let _ = std::fs::remove_dir_all(&out);
}
