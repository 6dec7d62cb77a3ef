//! The human gate (issue 4): prompts in a real pseudo-terminal with `git push` as the
//! spawned process (its stdin stays git's pipe to the hook), and the non-interactive policy.

use std::time::Duration;

use expectrl::{ControlCode, Eof};
use serde_json::Value;

use crate::support::TestRepo;

const CONFIG: &str = r#"
[environments.production]
branches = ["production"]
checks = ["no-delete", "fast-forward"]
confirm = true
checklist = ["Users are ready"]

[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = true

[confirm]
leads = ["Ada Lead <ada@example.com>", "Bo Senior <bo@example.com>"]
"#;

fn repo() -> TestRepo {
    TestRepo::guarded(CONFIG)
}

/// The audit records of the clone, oldest first.
pub fn records(repo: &TestRepo) -> Vec<Value> {
    let path = repo.work.join(".git/pushguard/audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record is JSON"))
        .collect()
}

/// Waits until the clone has `n` records (a hook interrupted with git may finish after it).
fn wait_for_records(repo: &TestRepo, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let r = records(repo);
        if r.len() >= n {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    records(repo)
}

/// `git push` in a pseudo-terminal, prompts allowed.
pub fn spawn_push(repo: &TestRepo, args: &[&str]) -> expectrl::Session {
    let mut cmd = repo.command("git");
    cmd.arg("push")
        .args(args)
        .env_remove("PUSHGUARD_NONINTERACTIVE");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn git push in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session
}

/// Reads the session to its end and returns the transcript and whether git exited 0.
pub fn finish(mut session: expectrl::Session) -> (String, bool) {
    let out = session.expect(Eof).expect("the push ends");
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    let status = session.get_process().wait().expect("wait for git");
    let ok = format!("{status:?}").ends_with(", 0)");
    (text, ok)
}

#[test]
fn yes_and_a_chosen_lead_is_allowed_and_recorded_with_that_name() {
    let repo = repo();
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    p.expect("pushing 1 commit to production: origin/production")
        .unwrap();
    p.expect("initial commit").unwrap();
    p.expect("Have you talked to a lead or senior about this push?")
        .unwrap();
    p.send("y\r").unwrap();
    p.expect("Who did you consult?").unwrap();
    p.expect("Bo Senior").unwrap();
    p.send("\x1b[B").unwrap(); // down to the second lead
    p.send("\r").unwrap();
    p.expect("Users are ready").unwrap();
    p.send("y\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert!(text.contains("push to production allowed"), "{text}");
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let r = records(&repo);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["decision"], "allowed");
    assert_eq!(r[0]["consulted"], "Bo Senior <bo@example.com>");
    assert_eq!(r[0]["checklist"][0]["item"], "Users are ready");
    assert_eq!(r[0]["checklist"][0]["answer"], true);
}

#[test]
fn someone_else_asks_for_a_name_and_refuses_an_empty_one() {
    let repo = repo();
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/development"]);
    p.expect("about this push?").unwrap();
    p.send("y\r").unwrap();
    p.expect("someone else").unwrap();
    p.send("\x1b[B\x1b[B\r").unwrap();
    p.expect("(name)").unwrap();
    p.send("   \r").unwrap();
    p.expect("a name is needed").unwrap();
    p.send("Cy Staff\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert_eq!(records(&repo)[0]["consulted"], "Cy Staff");
}

#[test]
fn no_is_blocked_and_recorded() {
    let repo = repo();
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    p.expect("about this push?").unwrap();
    p.send("n\r").unwrap();
    let (text, ok) = finish(p);
    assert!(!ok, "{text}");
    assert!(
        text.contains("talk to a lead or senior about this push first"),
        "{text}"
    );
    assert!(text.contains("push to production blocked"), "{text}");
    assert_eq!(repo.remote_branch("production"), None);
    let r = records(&repo);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["decision"], "blocked");
    assert_eq!(r[0]["consulted"], Value::Null);
}

#[test]
fn ctrl_c_is_blocked_recorded_and_the_cursor_is_shown_again() {
    let repo = repo();
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    p.expect("about this push?").unwrap();
    p.send(ControlCode::EndOfText).unwrap(); // Ctrl-C
    let (text, ok) = finish(p);
    assert!(!ok, "{text}");
    assert_eq!(repo.remote_branch("production"), None);
    let r = wait_for_records(&repo, 1);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "blocked");
    assert!(
        text.contains("\x1b[?25h"),
        "the cursor is shown again: {text:?}"
    );
}

#[test]
fn no_answer_within_the_timeout_is_blocked_and_recorded() {
    let repo = repo();
    repo.config(&format!("{CONFIG}timeout = \"1s\"\n"));
    let p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    let (text, ok) = finish(p);
    assert!(!ok, "{text}");
    assert!(text.contains("no answer within 1s"), "{text}");
    assert!(text.contains("\x1b[?25h"), "{text:?}");
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(records(&repo)[0]["decision"], "blocked");
}

#[test]
fn failing_check_then_bypass_with_a_justification_is_bypassed_and_recorded() {
    let repo = repo();
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let mut p = spawn_push(&repo, &["-f", "origin", "HEAD:refs/heads/production"]);
    p.expect("✗ fast-forward").unwrap();
    p.expect("Bypass the failed checks with a justification?")
        .unwrap();
    p.send("y\r").unwrap();
    p.expect("at least 15 characters").unwrap();
    p.send("too short\r").unwrap();
    p.expect("too short: 9 characters").unwrap();
    p.send("incident 4711: revert the broken release\r")
        .unwrap();
    // A bypass asks who was consulted too (issue 22): "No" is recorded as nobody.
    p.expect("Did you talk to a lead or senior about this bypass?")
        .unwrap();
    p.send("n\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert!(text.contains("BYPASSED"), "{text}");
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let r = records(&repo);
    assert_eq!(r[0]["decision"], "bypassed");
    assert_eq!(
        r[0]["justification"],
        "incident 4711: revert the broken release"
    );
    assert_eq!(r[0]["checks"][1]["outcome"], "fail");
}

#[test]
fn without_a_terminal_the_push_is_blocked_with_both_ways_forward() {
    let repo = repo();
    let run = repo.push(&["origin", "HEAD:refs/heads/development"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 1
    --- stdout
    --- stderr
    pushguard: [development] HEAD → origin/development (create at [SHORT])
      ✓ no-delete  the branch is not deleted
      development needs confirmation that a lead or senior was consulted, and there is no terminal to ask on
      (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set). Either:
      - name who you consulted, for this push:
          PUSHGUARD_CONSULTED="Name" git push …
      - or confirm ahead of time (single use, valid 30 minutes), then push again:
          pushguard confirm development --consulted "Name"
    pushguard: ✗ push to development blocked
    error: failed to push some refs to '[TMP]/remote.git'
    "#);
    assert_eq!(repo.remote_branch("development"), None);
    assert_eq!(records(&repo)[0]["decision"], "blocked");
}

#[test]
fn without_a_terminal_pushguard_consulted_is_allowed() {
    let repo = repo();
    let run = repo.pushguard_with(&["--version"], None, &[]);
    run.expect_code(0);
    let mut cmd = repo.command("git");
    let out = cmd
        .args(["push", "origin", "HEAD:refs/heads/development"])
        .env("PUSHGUARD_CONSULTED", "Ada Lead")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("consulted Ada Lead (from PUSHGUARD_CONSULTED)"),
        "{err}"
    );
    let r = records(&repo);
    assert_eq!(r[0]["decision"], "allowed");
    assert_eq!(r[0]["consulted"], "Ada Lead");
}

#[test]
fn consulted_alone_does_not_answer_a_checklist() {
    let repo = repo();
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/production"])
        .env("PUSHGUARD_CONSULTED", "Ada Lead")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("pushguard confirm production --consulted 'Ada Lead' --affirm-checklist"),
        "{err}"
    );
}

#[test]
fn confirm_then_push_is_allowed_once() {
    let repo = repo();
    repo.pushguard(&[
        "confirm",
        "production",
        "--consulted",
        "Ada Lead",
        "--affirm-checklist",
    ])
    .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("confirmed with `pushguard confirm`"),
        "{}",
        run.stderr
    );
    let r = records(&repo);
    assert_eq!(r[0]["decision"], "allowed");
    assert_eq!(r[0]["consulted"], "Ada Lead");
    assert_eq!(
        r[0]["checklist"][0]["item"],
        "Users are ready [affirmed with --affirm-checklist]"
    );
    // Single use: the next push needs a new confirmation.
    repo.commit("next");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("pushguard confirm production"),
        "{}",
        run.stderr
    );
    assert_eq!(records(&repo)[1]["decision"], "blocked");
}

#[test]
fn regression_trail_confirmation_is_bound_to_the_remote() {
    // Issue 10: one confirmation covered the same ref and commit pushed to a second remote.
    let repo = repo();
    repo.git_in(&repo.root, &["init", "-q", "--bare", "mirror.git"]);
    let mirror = repo.root.join("mirror.git");
    repo.git(&["remote", "add", "mirror", mirror.to_str().expect("utf-8")]);
    repo.pushguard(&["confirm", "development", "--consulted", "Ada Lead"])
        .expect_code(0);
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    let run = repo.push(&["mirror", "HEAD:refs/heads/development"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("pushguard confirm development"),
        "{}",
        run.stderr
    );
    let r = records(&repo);
    assert_eq!(r[1]["decision"], "blocked", "{r:?}");
    // A push to both push URLs of one remote still asks once.
    repo.pushguard(&["confirm", "development", "--consulted", "Ada Lead"])
        .expect_code(0);
    let origin = repo.remote.to_str().expect("utf-8").to_owned();
    repo.git(&["config", "--add", "remote.origin.pushurl", &origin]);
    repo.git(&[
        "config",
        "--add",
        "remote.origin.pushurl",
        mirror.to_str().expect("utf-8"),
    ]);
    repo.commit("next");
    let run = repo.push(&["origin", "HEAD:refs/heads/development"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn confirm_is_bound_to_its_environment_and_expires() {
    let repo = repo();
    repo.pushguard(&["confirm", "development", "--consulted", "Ada"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    repo.pushguard(&[
        "confirm",
        "development",
        "--consulted",
        "Ada",
        "--valid-for",
        "1s",
    ])
    .expect_code(0);
    std::thread::sleep(Duration::from_millis(2100));
    let run = repo.push(&["origin", "HEAD:refs/heads/development"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("expired at"), "{}", run.stderr);
    let run = repo.pushguard(&["confirm", "nowhere", "--consulted", "Ada"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("hint: the environments are: "),
        "{}",
        run.stderr
    );
}

#[test]
fn without_a_terminal_pushguard_bypass_is_recorded_unless_bypass_is_disabled() {
    let repo = repo();
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let push = |why: &str| {
        let out = repo
            .command("git")
            .args(["push", "-f", "origin", "HEAD:refs/heads/production"])
            .env("PUSHGUARD_BYPASS", why)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = push("aaaaaaaaaaaaaaaaaaaa");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("PUSHGUARD_BYPASS was refused"), "{err}");
    repo.config(&CONFIG.replace(
        "checklist = [\"Users are ready\"]",
        "checklist = [\"Users are ready\"]\nbypass = false",
    ));
    let (code, err) = push("incident 4711: revert the broken release");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("only fixing the cause"), "{err}");
    repo.config(CONFIG);
    let (code, err) = push("incident 4711: revert the broken release");
    assert_eq!(code, Some(0), "{err}");
    let r = records(&repo);
    assert_eq!(r.len(), 3);
    assert_eq!(r[2]["decision"], "bypassed");
    assert_eq!(
        r[2]["justification"],
        "incident 4711: revert the broken release"
    );
}

#[test]
fn answers_are_reused_for_the_second_push_url() {
    let repo = repo();
    let second = repo.root.join("mirror.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "mirror.git"]);
    repo.git(&[
        "remote",
        "set-url",
        "--add",
        "--push",
        "origin",
        repo.remote.to_str().unwrap(),
    ]);
    repo.git(&[
        "remote",
        "set-url",
        "--add",
        "--push",
        "origin",
        second.to_str().unwrap(),
    ]);
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/development"]);
    p.expect("about this push?").unwrap();
    p.send("y\r").unwrap();
    p.expect("Who did you consult?").unwrap();
    p.send("\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert!(
        text.contains("using the answers given a moment ago"),
        "{text}"
    );
    // The rest of the transcript, after the first run's answers, asks nothing again.
    assert_eq!(text.matches("about this push?").count(), 0, "{text}");
    let r = records(&repo);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["consulted"], "Ada Lead <ada@example.com>");
}
