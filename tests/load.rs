//! Issues 14 and 19, the team layer under load: clones pushing gated updates concurrently to
//! one bare remote served by `git daemon` on 127.0.0.1. Every record must reach the remote's
//! trail, each clone's chain must verify and `audit --fail-on-unrecorded` must pass; the test
//! reports the latency of a gated push (p50/p95) against the same push from one clone alone,
//! the note-push retries and the pushes whose records were shared late; and, in the same run,
//! the same pushes by plain git (no pushguard) alone and at once, the baseline that says how
//! much of the latency under load is git's own queueing for the machine's cores.
//!
//! `cargo test` runs it small (4 clones × 3 pushes); `scripts/bench-scale.sh` runs it at full
//! size (PUSHGUARD_LOAD_CLONES=20, PUSHGUARD_LOAD_PUSHES=10) and reads the `load:` line it
//! prints. The daemon runs in a process group of its own, killed when the test ends, passed
//! or failed ([`GitDaemon`]).

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, run_bounded, GitDaemon, Run, TestRepo};

/// How long the whole load test may run before it stops itself.
const DEADLINE: Duration = Duration::from_secs(600);
/// How long one command (a push, a clone) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

const CONFIG: &str = r#"[environments.staging]
branches = ["staging/*"]
confirm = false
checks = ["no-delete", "fast-forward"]
"#;

/// Runs `cmd`, killed after [`COMMAND_TIMEOUT`].
fn bounded(mut cmd: Command) -> Run {
    run_bounded(&mut cmd, COMMAND_TIMEOUT)
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The CPU time (user + system) of this process's finished children so far: every `git
/// push` and the hook under it (the daemon's side is not among them). From
/// `/proc/self/stat`, in clock ticks of `getconf CLK_TCK`; `None` where that is not there.
fn children_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces, in parentheses).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the file, 14 and 15 after the name.
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    let hz = Command::new("getconf").arg("CLK_TCK").output().ok()?;
    let hz: u64 = String::from_utf8_lossy(&hz.stdout).trim().parse().ok()?;
    Some(Duration::from_micros(ticks * 1_000_000 / hz.max(1)))
}

/// A clone of the daemon's remote acting as person `name`, with the hook installed.
fn clone_for(repo: &TestRepo, url: &str, name: &str) -> PathBuf {
    let dir = plain_clone(repo, url, name);
    repo.pushguard_in(&dir, &["install"]).expect_code(0);
    std::fs::write(dir.join(".pushguard.toml"), CONFIG).expect("write config");
    dir
}

/// A clone of the daemon's remote acting as person `name`, without pushguard: the baseline.
fn plain_clone(repo: &TestRepo, url: &str, name: &str) -> PathBuf {
    let dir = repo.root.join(format!("clone-{name}"));
    repo.git_in(
        &repo.root,
        &["clone", "-q", url, dir.to_str().expect("utf-8")],
    );
    repo.git_in(&dir, &["config", "user.name", &format!("Person {name}")]);
    repo.git_in(
        &dir,
        &["config", "user.email", &format!("{name}@example.com")],
    );
    dir
}

/// Person `name` pushes `pushes` updates of their own branch `<prefix>/<name>` (gated when a
/// hook is installed and the prefix is `staging`); returns the latencies and how many pushes
/// left their records to be shared later.
fn pushes_of(
    repo: &TestRepo,
    dir: &Path,
    (prefix, name): (&str, &str),
    pushes: usize,
    end: Instant,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut late = 0;
    for n in 0..pushes {
        assert!(Instant::now() < end, "the load test ran out of time");
        repo.git_in(
            dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("change {name}.{n}"),
            ],
        );
        let mut push = repo.command("git");
        push.current_dir(dir).args([
            "push",
            "origin",
            &format!("HEAD:refs/heads/{prefix}/{name}"),
        ]);
        let start = Instant::now();
        let run = bounded(push);
        latencies.push(start.elapsed());
        assert_eq!(run.code, 0, "push {name}.{n} failed:\n{}", run.stderr);
        // Past the notes push's time bound the hook says so and keeps the URL pending for
        // the next push, `log --remote` or `audit` (SPEC); counted and drained below.
        if run.stderr.contains("were not shared") {
            late += 1;
        }
    }
    (latencies, late)
}

/// Every line of every note in the bare repository's trail refs, read with git alone.
fn trail_lines(repo: &TestRepo) -> HashSet<String> {
    let mut blobs = String::new();
    for r in repo.trail_refs(&repo.remote) {
        for entry in repo.git_in(&repo.remote, &["ls-tree", "-r", &r]).lines() {
            let oid = entry.split_whitespace().nth(2).expect("ls-tree line");
            blobs.push_str(oid);
            blobs.push('\n');
        }
    }
    let mut child = repo
        .command("git")
        .current_dir(&repo.remote)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git cat-file");
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(blobs.as_bytes()));
    let out = child.wait_with_output().expect("wait for git cat-file");
    writer
        .join()
        .expect("writer")
        .expect("write to git cat-file");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn concurrent_gated_pushes_all_reach_the_remote_notes_issue_14() {
    let clones = size("PUSHGUARD_LOAD_CLONES", 4);
    let pushes = size("PUSHGUARD_LOAD_PUSHES", 3);
    let end = Instant::now() + DEADLINE;
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/main");
    let daemon = GitDaemon::start(&repo, &repo.root);
    let url = daemon.url("remote.git");

    // The same pushes from one clone alone: the latency the concurrent run is compared with.
    let solo = clone_for(&repo, &url, "solo");
    let before = daemon.requests("receive-pack");
    let cpu_before = children_cpu();
    let (mut alone, solo_late) = pushes_of(&repo, &solo, ("staging", "solo"), pushes, end);
    let cpu_alone = children_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before) / pushes as u32);
    let solo_retries = (daemon.requests("receive-pack") - before).saturating_sub(2 * pushes);
    alone.sort();

    let names: Vec<String> = (0..clones).map(|i| format!("p{i}")).collect();
    let dirs: Vec<PathBuf> = names.iter().map(|n| clone_for(&repo, &url, n)).collect();
    let served_before = daemon.requests("receive-pack");
    let cpu_before = children_cpu();
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .zip(&names)
            .map(|(dir, name)| {
                let repo = &repo;
                s.spawn(move || pushes_of(repo, dir, ("staging", name), pushes, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a pushing thread panicked"))
            .collect()
    });
    let wall = started.elapsed();
    let cpu_together = children_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before) / (clones * pushes) as u32);
    let mut latencies: Vec<Duration> = results.iter().flat_map(|r| r.0.clone()).collect();
    let late: usize = results.iter().map(|r| r.1).sum();

    // The baseline, in the same run: the same pushes by plain git (clones without pushguard,
    // branches no environment matches), from one clone alone and from as many clones at once.
    let plain_dirs: Vec<PathBuf> = names
        .iter()
        .map(|n| plain_clone(&repo, &url, &format!("plain-{n}")))
        .collect();
    let (mut plain_alone, _) = pushes_of(&repo, &plain_dirs[0], ("plain", "alone"), pushes, end);
    plain_alone.sort();
    let mut plain: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = plain_dirs
            .iter()
            .zip(&names)
            .map(|(dir, name)| {
                let repo = &repo;
                s.spawn(move || pushes_of(repo, dir, ("plain", name), pushes, end).0)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a pushing thread panicked"))
            .collect()
    });
    plain.sort();

    // Every push is one receive-pack for the branch and one for the notes; the rest are notes
    // pushes that were rejected (or shed by the daemon) and retried.
    let served = daemon.requests("receive-pack") - served_before - pushes - plain.len();
    let total = clones * pushes;
    assert!(
        served >= 2 * total,
        "{served} receive-packs for {total} pushes"
    );
    let retries = served - 2 * total;

    // Records shared late are pushed by the next command that shares notes.
    for dir in dirs.iter().chain([&solo]) {
        let mut drain = repo.command(bin());
        drain.current_dir(dir).args(["log", "--remote", "-n", "1"]);
        let run = bounded(drain);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stderr.contains("were not shared"), "{}", run.stderr);
    }

    // Every record of every clone is on the remote: none lost.
    let on_remote = trail_lines(&repo);
    let mut records = 0;
    let mut lost = 0;
    for dir in dirs.iter().chain([&solo]) {
        let log = std::fs::read_to_string(dir.join(".git/pushguard/audit.jsonl"))
            .expect("a local audit log");
        for line in log.lines() {
            records += 1;
            lost += usize::from(!on_remote.contains(line));
        }
        // Each clone's own chain verifies, against its records on the remote too.
        let run = repo.pushguard_in(dir, &["log", "--verify", "--remote"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!("{pushes} record")),
            "{}",
            run.stdout
        );
    }
    assert_eq!(records, total + pushes);
    assert_eq!(lost, 0, "{lost} of {records} records are not on the remote");

    // A fresh clone (say, CI) finds every update of every staging branch recorded.
    let ci = repo.root.join("ci");
    repo.git_in(
        &repo.root,
        &["clone", "-q", &url, ci.to_str().expect("utf-8")],
    );
    std::fs::write(ci.join(".pushguard.toml"), CONFIG).expect("write config");
    let mut audit = repo.command(bin());
    audit
        .current_dir(&ci)
        .args(["audit", "--fail-on-unrecorded"]);
    let run = bounded(audit);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    latencies.sort();
    let cpu = match (cpu_together, cpu_alone) {
        (Some(t), Some(a)) => format!(
            "; client CPU per push {:.0} ms ({:.0} ms alone)",
            ms(t),
            ms(a)
        ),
        _ => String::new(),
    };
    let one = percentile(&alone, 0.5);
    let p95 = percentile(&latencies, 0.95);
    let plain_one = percentile(&plain_alone, 0.5);
    let plain_p95 = percentile(&plain, 0.95);
    println!(
        "load: {clones} clones x {pushes} pushes over git daemon: wall {:.2} s, gated push p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; one clone alone p50 {:.0} ms (p95 / that = {:.2}); note-push retries {retries} (alone {solo_retries}), late shares {late} (alone {solo_late}), records lost {lost} of {records}{cpu}; plain git at once p50 {:.0} ms, p95 {:.0} ms, alone p50 {:.0} ms (p95 / that = {:.2}); gated p95 / plain git p95 = {:.2}",
        wall.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(p95),
        latencies.last().map_or(0.0, |d| ms(*d)),
        ms(one),
        p95.as_secs_f64() / one.as_secs_f64(),
        ms(percentile(&plain, 0.5)),
        ms(plain_p95),
        ms(plain_one),
        plain_p95.as_secs_f64() / plain_one.as_secs_f64(),
        p95.as_secs_f64() / plain_p95.as_secs_f64(),
    );
}
