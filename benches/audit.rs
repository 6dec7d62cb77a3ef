//! Audit log costs: one append (lock, write, fsync) and `pushguard log --verify` over
//! 100,000 records. Run with `scripts/bench-audit.sh` (or `cargo bench --bench audit`).

use std::process::Command;
use std::time::{Duration, Instant};

use pushguard::audit::{self, CheckEntry, ChecklistEntry, Record};
use pushguard::checks::Outcome;
use pushguard::gate::Decision;
use pushguard::git::Identity;

fn sample(i: u64) -> Record {
    Record {
        version: audit::VERSION,
        time: "2026-11-26T12:00:00Z".into(),
        user: Identity {
            name: "Pat Pusher".into(),
            email: "pat@example.com".into(),
        },
        remote: "origin".into(),
        url: "git@example.com:team/app.git".into(),
        local_ref: "refs/heads/main".into(),
        remote_ref: "refs/heads/production".into(),
        environment: "production".into(),
        old: Some(format!("{:040x}", i)),
        new: Some(format!("{:040x}", i + 1)),
        commits: 3,
        decision: Decision::Allowed,
        checks: ["no-delete", "fast-forward", "promoted", "no-wip", "tests"]
            .iter()
            .map(|id| CheckEntry {
                id: (*id).into(),
                outcome: Outcome::Pass,
                detail: "the check passed with a detail line of ordinary length".into(),
            })
            .collect(),
        consulted: Some("Ada Lead <ada@example.com>".into()),
        checklist: vec![ChecklistEntry {
            item: "Users are ready".into(),
            answer: true,
        }],
        justification: None,
        freeze: None,
        ticket: None,
        attestation: None,
        prev: None,
        signature: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("pg-bench-")
        .tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("temp dir");
    let state = dir.path().join("pushguard");

    // One append: open, lock, read the tail, write, fsync, on a log that already has records.
    let mut times = Vec::new();
    for i in 0..300 {
        let start = Instant::now();
        audit::append(&state, sample(i), audit::LOCK_TIMEOUT).expect("append");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "audit append (lock, write, fsync), 300 appends: median {:.2?}, p95 {:.2?}, max {:.2?}",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        times[times.len() - 1]
    );

    // A 100,000-record log, chained, written at once.
    let big = dir.path().join("big").join("pushguard");
    std::fs::create_dir_all(&big).expect("create dir");
    let mut text = String::new();
    let mut prev = None;
    for i in 0..100_000 {
        let mut r = sample(i);
        r.prev = prev;
        let (line, hash) = r.to_line();
        text.push_str(&line);
        text.push('\n');
        prev = Some(hash);
    }
    std::fs::write(audit::log_path(&big), &text).expect("write log");
    println!(
        "log of 100,000 records: {:.1} MB",
        text.len() as f64 / 1_000_000.0
    );
    let start = Instant::now();
    let v = audit::verify_file(&big).expect("read").expect("verifies");
    println!(
        "verify in process, 100,000 records: {:.2?} ({} records)",
        start.elapsed(),
        v.records
    );
    let append_start = Instant::now();
    audit::append(&big, sample(7), audit::LOCK_TIMEOUT).expect("append");
    println!(
        "audit append on the 100,000-record log: {:.2?}",
        append_start.elapsed()
    );

    // The whole command, as a person runs it (GIT_DIR names the fake common dir).
    let git_dir = dir.path().join("big");
    let status = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&git_dir)
        .status()
        .expect("git init");
    assert!(status.success());
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pushguard"))
        .args(["log", "--verify"])
        .env("GIT_DIR", &git_dir)
        .output()
        .expect("run pushguard");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    println!(
        "`pushguard log --verify` over 100,001 records (whole process): {elapsed:.2?}: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
}
