//! `run --shard` and `--start-at` through the binary: a start already past its tolerance
//! refuses in one line (exit 1) and writes nothing; `auto/N` takes the index from
//! `JOB_COMPLETION_INDEX`, and refuses (exit 2) without it; the shards' reports merge.

mod common;

use bench_client::Report;

use common::{client_bin, temp_path};

#[test]
fn a_start_past_its_tolerance_refuses_in_one_line() {
    let dir = temp_path("late");
    let out = dir.join("late.json");
    let run = client_bin()
        .args(["run", "tcp-echo", "--requests", "10", "--warmup", "0s"])
        .args(["--start-at", "2020-01-01T00:00:00Z", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--start-at 2020-01-01T00:00:00.000Z: started")
            && stderr.contains("beyond --start-tolerance 1s"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn auto_shards_read_the_job_index_and_refuse_without_it() {
    let run = client_bin()
        .args(["run", "tcp-echo", "--requests", "10", "--shard", "auto/2"])
        .args(["--run-id", "r"])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("$JOB_COMPLETION_INDEX is not set"),
        "{stderr}"
    );

    let dir = temp_path("auto");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for i in 0..2 {
        let out = dir.join(format!("shard-{i}.json"));
        let run = client_bin()
            .args(["run", "tcp-echo", "--rate", "2000", "--requests", "101"])
            .args(["--connections", "3", "--warmup", "0s", "--shard", "auto/2"])
            .args(["--run-id", "auto-test", "--start-at", "+0.2s", "--out"])
            .arg(&out)
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .output()
            .unwrap();
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let report = Report::read(&out).unwrap();
        let shard = report.config.shard.as_ref().unwrap();
        assert_eq!((shard.index, shard.count), (i, 2));
        assert!(report.start.is_some());
        paths.push(out);
    }
    let merged = dir.join("merged.json");
    let run = client_bin()
        .arg("merge")
        .args(&paths)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let merged = Report::read(&merged).unwrap();
    assert_eq!(
        merged.totals.requests, 101,
        "51 + 50: the budget split exactly"
    );
    assert_eq!(merged.config.connections, 3);
    let _ = std::fs::remove_dir_all(&dir);
}
