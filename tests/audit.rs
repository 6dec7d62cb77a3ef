//! The audit log (issue 4): record fields, parallel appends, tamper and torn-line detection,
//! an unwritable log blocking the push, and `pushguard log`.

use serde_json::Value;

use crate::human::records;
use crate::support::TestRepo;

const CONFIG: &str = r#"
[environments.development]
branches = ["dev-*", "development"]
checks = ["no-delete", "fast-forward"]
confirm = true
"#;

fn repo() -> TestRepo {
    TestRepo::guarded(CONFIG)
}

fn log_path(repo: &TestRepo) -> std::path::PathBuf {
    repo.work.join(".git/pushguard/audit.jsonl")
}

/// A push to `branch` with a consulted name, as a GUI client would make it.
fn push(repo: &TestRepo, dir: &std::path::Path, branch: &str) -> std::process::Output {
    repo.command("git")
        .current_dir(dir)
        .args(["push", "origin", &format!("HEAD:refs/heads/{branch}")])
        .env("PUSHGUARD_CONSULTED", "Ada Lead")
        .output()
        .expect("run git push")
}

#[test]
fn every_field_is_present_and_typed_as_the_spec_says() {
    let repo = repo();
    repo.commit("second");
    let out = push(&repo, &repo.work, "development");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = records(&repo);
    let rec = r[0].as_object().unwrap();
    let line = std::fs::read_to_string(log_path(&repo)).unwrap();
    let order = [
        "version",
        "time",
        "user",
        "remote",
        "url",
        "local_ref",
        "remote_ref",
        "environment",
        "old",
        "new",
        "commits",
        "decision",
        "checks",
        "consulted",
        "checklist",
        "justification",
        "freeze",
        "ticket",
        "prev",
        "signature",
        "hash",
    ];
    assert_eq!(rec.len(), order.len(), "{line}");
    // The fields appear in SPEC order on the line.
    let at: Vec<usize> = order
        .iter()
        .map(|k| {
            line.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing: {line}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert_eq!(rec["version"], 2);
    assert!(
        rec["signature"].is_null(),
        "no signing key configured: {line}"
    );
    let time = rec["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    assert_eq!(rec["user"]["name"], "Pat Pusher");
    assert_eq!(rec["user"]["email"], "pat@example.com");
    assert_eq!(rec["remote"], "origin");
    assert_eq!(rec["url"], repo.remote.to_str().unwrap());
    assert_eq!(rec["local_ref"], "HEAD");
    assert_eq!(rec["remote_ref"], "refs/heads/development");
    assert_eq!(rec["environment"], "development");
    assert_eq!(rec["old"], Value::Null);
    assert_eq!(rec["new"], repo.head().as_str());
    assert_eq!(rec["commits"], 2);
    assert_eq!(rec["decision"], "allowed");
    assert_eq!(rec["checks"][0]["id"], "no-delete");
    assert_eq!(rec["checks"][0]["outcome"], "pass");
    assert!(rec["checks"][0]["detail"].is_string());
    assert_eq!(rec["consulted"], "Ada Lead");
    assert!(rec["checklist"].as_array().unwrap().is_empty());
    assert_eq!(rec["justification"], Value::Null);
    assert_eq!(rec["prev"], Value::Null);
    let hash = rec["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    // Verified as anyone would: the line without its hash, closed with `}`, hashed.
    let line = std::fs::read_to_string(log_path(&repo)).unwrap();
    let line = line.trim_end();
    let body = &line[..line.len() - r#","hash":""}"#.len() - 64];
    assert_eq!(
        pushguard::audit::sha256_hex(format!("{body}}}").as_bytes()),
        hash
    );
}

#[test]
fn parallel_pushes_from_linked_worktrees_chain_in_one_log() {
    let repo = repo();
    let config = repo.root.join("pushguard.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let dirs: Vec<_> = (0..8)
        .map(|i| {
            let dir = repo.root.join(format!("wt{i}"));
            repo.git(&[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("b{i}"),
                dir.to_str().unwrap(),
            ]);
            dir
        })
        .collect();
    let handles: Vec<_> = dirs
        .into_iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut cmd = repo.command("git");
            cmd.current_dir(&dir)
                .args(["push", "origin", &format!("HEAD:refs/heads/dev-{i}")])
                .env("PUSHGUARD_CONSULTED", "Ada Lead")
                .env("PUSHGUARD_CONFIG", &config);
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = records(&repo);
    assert_eq!(r.len(), 8);
    let mut branches: Vec<_> = r
        .iter()
        .map(|x| x["remote_ref"].as_str().unwrap().to_owned())
        .collect();
    branches.sort();
    assert_eq!(branches[0], "refs/heads/dev-0");
    let run = repo.pushguard(&["log", "--verify"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("8 records, hash chain intact"),
        "{}",
        run.stdout
    );
}

#[test]
fn one_changed_byte_fails_verification_at_that_line() {
    let repo = repo();
    for b in ["dev-1", "dev-2", "dev-3"] {
        assert!(push(&repo, &repo.work, b).status.success());
    }
    repo.pushguard(&["log", "--verify"]).expect_code(0);
    let path = log_path(&repo);
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("dev-2", "dev-9", 1);
    std::fs::write(&path, tampered).unwrap();
    let run = repo.pushguard(&["log", "--verify"]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("broken at line 2: the hash does not match"),
        "{}",
        run.stdout
    );
    // A removed line breaks the chain at the line after it.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let run = repo.pushguard(&["log", "--verify"]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("broken at line 2: `prev` is not the previous record's hash"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unwritable_log_blocks_the_push_and_the_remote_is_unchanged() {
    let repo = repo();
    // We run as root, which permissions do not stop: make the log path a directory instead.
    std::fs::create_dir_all(log_path(&repo)).unwrap();
    let out = push(&repo, &repo.work, "development");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the audit record could not be written, so the push is blocked"),
        "{err}"
    );
    assert!(err.contains("failed to open the audit log"), "{err}");
    assert!(err.contains("push to development blocked"), "{err}");
    assert_eq!(repo.remote_branch("development"), None);
}

#[test]
fn a_state_dir_that_is_a_file_blocks_the_push() {
    let repo = repo();
    std::fs::write(repo.work.join(".git/pushguard"), "not a directory").unwrap();
    let out = push(&repo, &repo.work, "development");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to create the state directory"));
    assert_eq!(repo.remote_branch("development"), None);
}

#[test]
fn a_torn_last_line_is_detected_and_the_next_append_recovers() {
    let repo = repo();
    assert!(push(&repo, &repo.work, "dev-1").status.success());
    assert!(push(&repo, &repo.work, "dev-2").status.success());
    let path = log_path(&repo);
    let text = std::fs::read_to_string(&path).unwrap();
    let first_hash = records(&repo)[0]["hash"].as_str().unwrap().to_owned();
    // A crash mid-write: the second line loses its end. A real crash comes before the
    // record is attached to the notes (the hook shares only what is on disk), so the notes
    // go too; a shared record missing from the log is reported (issue 10, attack 9).
    std::fs::write(&path, &text[..text.len() - 30]).unwrap();
    for r in repo
        .git(&["for-each-ref", "--format=%(refname)", "refs/notes/"])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]);
    }
    for r in repo.trail_refs(&repo.remote) {
        repo.git_in(&repo.remote, &["update-ref", "-d", &r]);
    }
    let run = repo.pushguard(&["log", "--verify"]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("broken at line 2: the last line is torn"),
        "{}",
        run.stdout
    );
    assert!(push(&repo, &repo.work, "dev-3").status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let last: Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert_eq!(last["remote_ref"], "refs/heads/dev-3");
    assert_eq!(last["prev"], first_hash.as_str());
    let run = repo.pushguard(&["log", "--verify"]);
    run.expect_code(0);
    assert!(run.stdout.contains("2 records"), "{}", run.stdout);
    assert!(
        run.stdout.contains("line 2 is a torn write"),
        "{}",
        run.stdout
    );
}

#[test]
fn log_shows_newest_first_filters_and_never_prints_control_characters() {
    let repo = repo();
    assert!(push(&repo, &repo.work, "dev-1").status.success());
    repo.push_unguarded("HEAD:refs/heads/dev-2");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let out = repo
        .command("git")
        .args(["push", "-f", "origin", "HEAD:refs/heads/dev-2"])
        .env("PUSHGUARD_BYPASS", "hotfix \x1b[31m for incident 4711")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = repo.pushguard(&["log"]);
    run.expect_code(0);
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{}", run.stdout);
    assert!(
        lines[1].contains("bypassed") && lines[1].contains("hotfix \\u{1b}[31m for incident 4711"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].contains("allowed") && lines[2].contains("Ada Lead"),
        "{}",
        run.stdout
    );
    let run = repo.pushguard(&["log", "--decision", "allowed", "--json"]);
    run.expect_code(0);
    let json: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["remote_ref"], "refs/heads/dev-1");
    let run = repo.pushguard(&["log", "-n", "1", "--json"]);
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stdout.contains("bypassed"));
    let run = repo.pushguard(&["log", "--since", "2999-01-01"]);
    assert!(run.stdout.starts_with("no audit records"), "{}", run.stdout);
    let run = repo.pushguard(&["log", "--since", "1d", "--env", "development"]);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
}

#[test]
fn sha256_repository_bypass_is_recorded() {
    let repo = TestRepo::with_init_args(&["--object-format=sha256"]);
    repo.install();
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/production"])
        .env("PUSHGUARD_BYPASS", "release the sha-256 migration")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(repo.remote_branch("production").is_some());
    let r = records(&repo);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["decision"], "blocked");
    assert_eq!(r[1]["decision"], "bypassed");
    assert_eq!(r[1]["justification"], "release the sha-256 migration");
    repo.pushguard(&["log", "--verify"]).expect_code(0);
}
