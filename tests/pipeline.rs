//! The one gate pipeline (issue 9) and what it settles for the other issues: Ctrl-C during
//! the tests asks nothing more, a bypass runs the skipped tests first and never deletes an
//! environment branch, a chained hook's refusal is what the record says, and the record
//! names the remote as git gave it.

use std::time::Duration;

use serde_json::Value;

use crate::support::TestRepo;

/// staging: a WIP commit fails `no-wip`, and `tests` runs `$TESTS`; production: no-delete.
fn config(tests: &str) -> String {
    format!(
        r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete", "no-wip", "tests"]

[environments.production]
branches = ["production"]
confirm = false
checks = ["no-delete"]

[tests]
commands = [{tests}]
cache = false
"#
    )
}

fn records(repo: &TestRepo) -> Vec<Value> {
    crate::human::records(repo)
}

fn check<'v>(record: &'v Value, id: &str) -> &'v Value {
    record["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .expect("the check is recorded")
}

#[test]
fn regression_issue_9_ctrl_c_during_the_tests_blocks_without_a_further_question() {
    let repo = TestRepo::new();
    repo.install();
    // The tests fail a cheaper check first only if asked: here they are the only failure.
    repo.config(&config("\"echo ready-$((40+2)); sleep 60\""));
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    // As from an interactive shell: the shell leads the terminal's session (see gate.rs).
    let mut git = repo.command("sh");
    git.env_remove("PUSHGUARD_NONINTERACTIVE")
        .args(["-c", "trap : INT; git push origin HEAD:refs/heads/staging"]);
    let mut session = expectrl::Session::spawn(git).expect("spawn git push in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session.expect("ready-42").expect("the tests are running");
    session.send("\x03").unwrap();
    let out = session.expect(expectrl::Eof).expect("git push ends");
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    assert!(
        !text.contains("Bypass the failed checks"),
        "Ctrl-C means out: no further question\n{text}"
    );
    assert!(text.contains("interrupted (Ctrl-C)"), "{text}");
    assert_eq!(repo.remote_branch("staging"), None);
    let r = records(&repo);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "blocked");
}

#[test]
fn regression_week1_6_a_bypass_runs_the_skipped_tests_first_and_records_them() {
    let repo = TestRepo::new();
    repo.install();
    let marker = repo.root.join("tests-ran");
    repo.config(&config(&format!(
        "\"echo ran > {} && exit 3\"",
        marker.display()
    )));
    repo.commit("WIP: half done");
    // Without a bypass the tests wait: the push is refused anyway.
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not run: an earlier check failed"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "the tests do not run for a refused push");
    // About to be bypassed: the tests run first, and the record shows what was bypassed.
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/staging"])
        .env("PUSHGUARD_BYPASS", "demo for the customer in ten minutes")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        marker.exists(),
        "the tests ran before the bypass was accepted"
    );
    assert!(stderr.contains("✗ tests"), "{stderr}");
    assert!(
        stderr.contains("BYPASSED the gate (no-wip, tests)"),
        "{stderr}"
    );
    let r = records(&repo);
    let last = r.last().unwrap();
    assert_eq!(last["decision"], "bypassed");
    assert_eq!(check(last, "tests")["outcome"], "fail");
    assert_eq!(check(last, "no-wip")["outcome"], "fail");
}

#[test]
fn regression_week1_7_a_bypass_does_not_delete_an_environment_branch() {
    let repo = TestRepo::new();
    repo.install();
    repo.config(&config(""));
    repo.push_unguarded("HEAD:refs/heads/production");
    let tip = repo.head();
    let delete = |repo: &TestRepo| {
        repo.command("git")
            .args(["push", "origin", ":production"])
            .env("PUSHGUARD_BYPASS", "cleaning up the old environment")
            .output()
            .unwrap()
    };
    let out = delete(&repo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not covered by a bypass"), "{stderr}");
    assert_eq!(repo.remote_branch("production"), Some(tip));
    assert_eq!(records(&repo).last().unwrap()["decision"], "blocked");
    // An environment that allows it explicitly.
    repo.config(&config("").replace(
        "checks = [\"no-delete\"]\n",
        "checks = [\"no-delete\"]\nbypass_delete = true\n",
    ));
    let out = delete(&repo);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(records(&repo).last().unwrap()["decision"], "bypassed");
}

#[test]
fn regression_trail_5_a_chained_hook_refusal_is_recorded_blocked_and_never_shared() {
    let repo = TestRepo::new();
    // A foreign hook, kept and chained by install; it refuses every push.
    let hooks = repo.work.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("pre-push"),
        "#!/bin/sh\necho 'lfs: upload failed' >&2\nexit 7\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", hooks.join("pre-push").to_str().unwrap()])
        .status()
        .unwrap();
    repo.install();
    repo.config(&config(""));
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/production"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lfs: upload failed"), "{stderr}");
    assert!(stderr.contains("exited with status 7"), "{stderr}");
    assert_eq!(repo.remote_branch("production"), None);
    let r = records(&repo);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["decision"], "blocked");
    // Nothing "allowed" reached the remote's notes for a push that never landed.
    let notes = repo.try_git(&[
        "--git-dir",
        repo.remote.to_str().unwrap(),
        "rev-parse",
        "--verify",
        "-q",
        "refs/notes/pushguard-audit",
    ]);
    assert_ne!(notes.code, 0, "no audit notes were shared");
}

#[test]
fn regression_week1_2_a_push_to_a_url_records_the_url_git_was_given() {
    let repo = TestRepo::new();
    repo.install();
    repo.config(&config(""));
    let url = format!("file://{}", repo.remote.display());
    repo.push(&[&url, "HEAD:refs/heads/production"])
        .expect_code(0);
    let r = records(&repo);
    assert_eq!(r[0]["remote"], url.as_str());
    assert_eq!(r[0]["url"], url.as_str());
}

#[test]
fn regression_week1_12_a_question_left_unanswered_shows_no_answer_not_a_default() {
    let repo = TestRepo::new();
    repo.install();
    repo.config(
        "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = true\n\n[confirm]\ntimeout = \"1s\"\n",
    );
    let mut cmd = repo.command("git");
    cmd.args(["push", "origin", "HEAD:refs/heads/production"])
        .env_remove("PUSHGUARD_NONINTERACTIVE");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn git push in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    let out = session.expect(expectrl::Eof).expect("git push ends");
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    let asked = text
        .rfind("about this push?")
        .expect("the question was asked");
    // The question's line is cleared and says that no answer came, before the report.
    let after = &text[asked..];
    let cleared = after.find("\x1b[2K(no answer)").expect(&text);
    let reported = after.find("no answer within 1s").expect(&text);
    assert!(cleared < reported, "{text:?}");
    assert_eq!(repo.remote_branch("production"), None);
}
