//! Fault injection (issue 6): a read-only and a full state directory, SIGKILL during appends,
//! a stuck lock, a config swapped mid-hook, packed refs, a corrupt object, and a hostile
//! justification. The two tests that mount need root: they are `#[ignore]`d, run by
//! `cargo test -- --include-ignored` (or `-- --ignored`, as `.ci/run` does) as root, and fail if they cannot
//! mount (issue 22, item 10: a test that could not run is not counted as passed).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::human::records;
use std::os::unix::process::CommandExt as _;

use crate::support::{Reaped, Run, TestRepo};

const CONFIG: &str = r#"
[environments.production]
branches = ["production", "prod-*"]
confirm = false
checks = ["no-delete", "fast-forward"]
"#;

const Z: &str = "0000000000000000000000000000000000000000";

fn repo() -> TestRepo {
    TestRepo::guarded(CONFIG)
}

fn state_dir(repo: &TestRepo) -> PathBuf {
    repo.work.join(".git/pushguard")
}

fn log_path(repo: &TestRepo) -> PathBuf {
    state_dir(repo).join("audit.jsonl")
}

fn url(repo: &TestRepo) -> String {
    repo.remote.display().to_string()
}

/// Runs the hook as git would, with `lines` on stdin.
fn hook(repo: &TestRepo, lines: &str, env: &[(&str, &str)]) -> Run {
    let url = url(repo);
    repo.pushguard_with(
        &["hook", "pre-push", "origin", &url],
        Some(lines.as_bytes()),
        env,
    )
}

fn verify(repo: &TestRepo) -> Run {
    repo.pushguard(&["log", "--verify"])
}

/// A file system mounted for one test, unmounted (lazily) when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Runs `mount args... target`; a test that cannot mount fails (it runs only with
    /// `--include-ignored`, as root: issue 22, item 10).
    #[track_caller]
    fn new(args: &[&str], target: &Path) -> Mount {
        let out = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "`mount {}` is not permitted here (the test needs root): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Mount(target.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root, to mount: run as root with cargo test -- --include-ignored (.ci/run does)"]
fn a_read_only_state_dir_blocks_the_push_and_the_remote_is_unchanged() {
    let repo = repo();
    let first = repo.head();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let dir = state_dir(&repo);
    // Root ignores permission bits: bind the state directory onto itself, read-only.
    let _bind = Mount::new(&["--bind", dir.to_str().unwrap()], &dir);
    // The same mount, made read-only (one mount: the guard above unmounts it).
    let ro = Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&dir)
        .output()
        .expect("run mount");
    assert!(
        ro.status.success(),
        "a read-only remount is not permitted here (the test needs root): {}",
        String::from_utf8_lossy(&ro.stderr).trim()
    );
    repo.commit("second");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the audit record could not be written, so the push is blocked"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production").as_deref(), Some(&*first));
    let v = verify(&repo);
    v.expect_code(0);
    assert!(v.stdout.contains("1 record,"), "{}", v.stdout);
}

#[test]
#[ignore = "needs root, to mount: run as root with cargo test -- --include-ignored (.ci/run does)"]
fn a_full_disk_blocks_the_push_and_leaves_a_log_that_verifies() {
    let repo = repo();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let dir = state_dir(&repo);
    let saved = std::fs::read(log_path(&repo)).unwrap();
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=64k", "tmpfs"], &dir);
    std::fs::write(log_path(&repo), &saved).unwrap();
    // Fill the file system: what is left is the free end of the log's last page.
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![b'x'; 4096];
    while filler.write_all(&block).is_ok() {}
    let _ = filler.write_all(b"x");
    let _ = filler.sync_all();
    let mut allowed = 1;
    let mut blocked = None;
    for i in 0..10 {
        repo.commit(&format!("commit {i}"));
        let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
        if run.code == 0 {
            allowed += 1;
            continue;
        }
        blocked = Some((run, repo.head()));
        break;
    }
    let (run, tip) = blocked.expect("a full disk blocks a push within 10 records");
    let size = std::fs::metadata(log_path(&repo)).unwrap().len();
    println!(
        "full disk: the blocked append had {} bytes left in the log's last page",
        (4096 - size % 4096) % 4096
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("could not be written, so the push is blocked")
            && run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("free disk space"), "{}", run.stderr);
    assert_ne!(repo.remote_branch("production"), Some(tip));
    // Nothing half-written: the log verifies as it was, with no torn line.
    let v = verify(&repo);
    v.expect_code(0);
    assert!(
        v.stdout.contains(&format!("{allowed} record")) && !v.stdout.contains("torn"),
        "{}",
        v.stdout
    );
    // Free space and push again: the log goes on.
    drop(filler);
    std::fs::remove_file(dir.join("filler")).unwrap();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let v = verify(&repo);
    v.expect_code(0);
    assert!(
        v.stdout.contains(&format!("{} records", allowed + 1)),
        "{}",
        v.stdout
    );
    println!("full disk: {allowed} records fitted, then the push was blocked");
}

/// A small pseudo-random generator (xorshift), seeded from the clock: the delays vary per run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn two_hundred_sigkills_during_appends_lose_no_completed_record() {
    let repo = repo();
    let main = repo.head();
    // A delete of a gated branch: blocked by no-delete and recorded, and never shared (no
    // child git is left behind by a kill).
    let line = format!("(delete) {Z} refs/heads/production {main}\n");
    let mut cmd = repo.command(crate::support::bin());
    let url = url(&repo);
    cmd.args(["hook", "pre-push", "origin", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // How long one whole run takes (the fastest of three): the kills land between a fifth of
    // that and all of it, where the checks, the append and the exit are.
    let mut whole = u64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let run = hook(&repo, &line, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        whole = whole.min(start.elapsed().as_micros() as u64);
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng(seed | 1);
    let (mut before_write, mut after_write, mut finished, mut torn_seen) = (0, 0, 0, 0);
    let mut count = records(&repo).len();
    for _ in 0..200 {
        let mut child = cmd.spawn().expect("run the hook");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        drop(stdin);
        std::thread::sleep(Duration::from_micros(whole / 5 + rng.below(whole * 4 / 5)));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_some() {
            finished += 1;
        }
        let v = verify(&repo);
        match v.code {
            0 => {}
            1 if v.stdout.contains("the last line is torn") => torn_seen += 1,
            _ => panic!("after a kill: {}\n{}", v.stdout, v.stderr),
        }
        let now = std::fs::read_to_string(log_path(&repo))
            .unwrap()
            .lines()
            .filter(|l| l.ends_with('}'))
            .count();
        // A killed append adds its record whole or not at all; a finished one always adds it.
        assert!(now == count || now == count + 1, "{count} -> {now}");
        if status.code().is_some() {
            assert_eq!(now, count + 1, "a finished run's record is on disk");
        }
        match (now > count, status.code().is_some()) {
            (false, _) => before_write += 1,
            (true, false) => after_write += 1,
            (true, true) => {}
        }
        count = now;
    }
    // The next append recovers, and the whole chain verifies with every record kept.
    hook(&repo, &line, &[]).expect_code(1);
    let v = verify(&repo);
    v.expect_code(0);
    assert!(
        v.stdout.contains(&format!("{} records", count + 1)),
        "{}",
        v.stdout
    );
    println!(
        "200 kills: {before_write} before the record was written, {after_write} after it, {finished} runs finished first, {torn_seen} torn tails seen; {} records verify",
        count + 1
    );
}

#[test]
fn a_lock_held_by_a_stuck_process_blocks_after_a_bounded_wait() {
    let repo = repo();
    let first = repo.head();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(log_path(&repo))
        .unwrap();
    held.lock().unwrap();
    repo.commit("second");
    let start = Instant::now();
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/production"])
        .env("PUSHGUARD_LOCK_TIMEOUT_MS", "700")
        .output()
        .unwrap();
    let waited = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    assert!(
        err.contains("failed to lock the audit log")
            && err.contains("another pushguard held the lock for more than 700ms")
            && err.contains("push to production blocked"),
        "{err}"
    );
    assert_eq!(repo.remote_branch("production").as_deref(), Some(&*first));
    held.unlock().unwrap();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    verify(&repo).expect_code(0);
}

#[test]
fn a_config_replaced_while_the_hook_runs_is_read_once() {
    let repo = repo();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    repo.commit("second");
    // Hold the log's lock, so the hook stops in its append after the checks have run.
    let held = std::fs::File::open(log_path(&repo)).unwrap();
    held.lock().unwrap();
    // The push (and its hook) is stopped even if the test fails before waiting for it.
    let mut child = Reaped::group(
        repo.command("git")
            .args(["push", "origin", "HEAD:refs/heads/production"])
            .env("PUSHGUARD_LOCK_TIMEOUT_MS", "30000")
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stderr = child.child().stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // Wait for the results of the checks: the config was read and used.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the hook reports its checks");
        if line.contains("fast-forward") {
            break;
        }
    }
    // Swap the config atomically (rename), as an editor or a checkout does.
    let new = r#"
[environments.live]
branches = ["production"]
confirm = false
checks = ["no-delete"]
"#;
    std::fs::write(repo.work.join(".pushguard.toml.new"), new).unwrap();
    std::fs::rename(
        repo.work.join(".pushguard.toml.new"),
        repo.work.join(".pushguard.toml"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    held.unlock().unwrap();
    let status = child.wait();
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("live"), "{err}");
    // The record is the old config's, whole: its environment and its checks.
    let r = records(&repo);
    let last = &r[r.len() - 1];
    assert_eq!(last["environment"], "production");
    let ids: Vec<&str> = last["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["no-delete", "fast-forward"]);
    // The next push reads the new one.
    repo.commit("third");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let r = records(&repo);
    assert_eq!(r[r.len() - 1]["environment"], "live");
    assert_eq!(r[r.len() - 1]["checks"].as_array().unwrap().len(), 1);
}

/// What a hook run decided, without times.
fn verdict(repo: &TestRepo, line: &str) -> (i32, String, Value, Value, Value) {
    let run = hook(repo, line, &[]);
    let r = records(repo);
    let last = r[r.len() - 1].clone();
    (
        run.code,
        repo.redact(&run.stderr),
        last["decision"].clone(),
        last["checks"].clone(),
        last["commits"].clone(),
    )
}

#[test]
fn packed_and_loose_remote_tracking_refs_give_the_same_verdicts() {
    let repo = repo();
    let base = repo.head();
    let prod = repo.commit("on production");
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.push_unguarded("HEAD:refs/heads/prod-old");
    repo.git(&["reset", "-q", "--hard", &base]);
    let sibling = repo.commit("a sibling of production");
    repo.git(&["reset", "-q", "--hard", &prod]);
    let child = repo.commit("on top of production");
    let lines = [
        // Fast-forward.
        format!("refs/heads/main {child} refs/heads/production {prod}\n"),
        // Not a fast-forward.
        format!("refs/heads/x {sibling} refs/heads/production {prod}\n"),
        // A new branch: its range is counted against the remote-tracking refs.
        format!("refs/heads/main {child} refs/heads/prod-new {Z}\n"),
        // A delete.
        format!("(delete) {Z} refs/heads/prod-old {prod}\n"),
    ];
    let loose_file = repo.work.join(".git/refs/remotes/origin/production");
    assert!(loose_file.is_file());
    let loose: Vec<_> = lines.iter().map(|l| verdict(&repo, l)).collect();
    repo.git(&["pack-refs", "--all"]);
    assert!(!loose_file.exists(), "the refs are packed");
    let packed: Vec<_> = lines.iter().map(|l| verdict(&repo, l)).collect();
    assert_eq!(loose, packed);
    let codes: Vec<i32> = loose.iter().map(|v| v.0).collect();
    assert_eq!(codes, [0, 1, 0, 1]);
    assert_eq!(loose[2].4, 1, "one commit beyond what the remote has");
}

/// Overwrites the loose object file of `oid` with garbage.
fn corrupt(repo: &TestRepo, oid: &str) {
    let path = repo
        .work
        .join(".git/objects")
        .join(&oid[..2])
        .join(&oid[2..]);
    assert!(path.is_file(), "{oid} is a loose object");
    std::fs::write(&path, b"this is not a zlib stream").unwrap();
}

#[test]
fn a_corrupt_object_in_the_pushed_range_is_a_clean_error() {
    let repo = repo();
    let prod = repo.head();
    repo.push_unguarded("HEAD:refs/heads/production");
    let middle = repo.commit("middle");
    let tip = repo.commit("tip");
    corrupt(&repo, &middle);
    let run = hook(
        &repo,
        &format!("refs/heads/main {tip} refs/heads/production {prod}\n"),
        &[],
    );
    assert!(run.code == 1 || run.code == 2, "{}", repo.transcript(&run));
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains("blocked") || run.stderr.contains("error"),
        "{}",
        run.stderr
    );
    // The tip itself corrupt: through git push, the remote is unchanged whoever stops it.
    corrupt(&repo, &tip);
    let run = hook(
        &repo,
        &format!("refs/heads/main {tip} refs/heads/production {prod}\n"),
        &[],
    );
    assert!(run.code == 1 || run.code == 2, "{}", repo.transcript(&run));
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production").as_deref(), Some(&*prod));
    verify(&repo).expect_code(0);
}

#[test]
fn a_hostile_justification_stays_one_verifiable_line_and_never_reaches_the_terminal_raw() {
    let repo = repo();
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let why = "hotfix \",\"decision\":\"allowed\",\"x\":\"\\\"quoted\\\"\nsecond line\r\x1b[2J\x1b]0;title\x07 C1:\u{85}\u{9b}31m\u{9d}0;t\u{9c} DEL:\x7f end";
    let out = repo
        .command("git")
        .args(["push", "-f", "origin", "HEAD:refs/heads/production"])
        .env("PUSHGUARD_BYPASS", why)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(log_path(&repo)).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().all(|l| !l.chars().any(char::is_control)),
        "the stored lines hold no raw control character: {text:?}"
    );
    let r = records(&repo);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["decision"], "bypassed");
    assert_eq!(r[1]["justification"], why.trim());
    verify(&repo).expect_code(0);
    let no_raw = |s: &str| s.chars().all(|c| c == '\n' || !c.is_control());
    let table = repo.pushguard(&["log"]);
    table.expect_code(0);
    assert!(no_raw(&table.stdout), "{:?}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 3, "{}", table.stdout);
    assert!(table.stdout.contains("bypassed"), "{}", table.stdout);
    let json = repo.pushguard(&["log", "--json"]);
    json.expect_code(0);
    assert!(no_raw(&json.stdout), "{:?}", json.stdout);
    let lines: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["justification"], why.trim());
    // `--json` prints the stored lines byte for byte: they verify as printed.
    assert_eq!(
        json.stdout.lines().rev().collect::<Vec<_>>(),
        text.lines().collect::<Vec<_>>()
    );
}
