//! SHA-256 repositories (`git init --object-format=sha256`), which released libgit2 cannot
//! open: the checks git can answer run through git, in the client hook and in the server's
//! pre-receive hook; what cannot run says why (issue 21).

use crate::support::{Run, TestRepo};

/// Every check but `authorized` and `approvals` (covered on their own below), with a test
/// command that fails when `broken` exists.
const CONFIG: &str = r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete", "fast-forward", "clean-worktree", "no-wip", "no-conflict-markers", "tests"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = true
checks = ["no-delete", "fast-forward", "promoted", "no-wip"]

[tests]
commands = ["test ! -e broken"]
"#;

fn sha256_clone() -> TestRepo {
    let repo = TestRepo::with_init_args(&["--object-format=sha256"]);
    assert_eq!(repo.git(&["rev-parse", "HEAD"]).len(), 64);
    repo
}

fn consulted(repo: &TestRepo, refspec: &str) -> Run {
    Run::from_output(
        repo.command("git")
            .args(["push", "origin", refspec])
            .env("PUSHGUARD_CONSULTED", "Ada Lead")
            .output()
            .expect("run git push"),
    )
}

#[test]
fn regression_issue_21_sha256_client_hook_runs_the_checks_through_git() {
    let repo = sha256_clone();
    repo.install();
    repo.config(CONFIG);
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "guard"]);

    // Every check runs and passes (the tests in place: the work tree is HEAD and clean).
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "✓ no-delete",
        "✓ fast-forward         creates the branch",
        "✓ clean-worktree       no uncommitted changes to tracked files",
        "✓ no-wip               no work-in-progress commits among 2 commits pushed",
        "✓ no-conflict-markers  no conflict markers added by this push",
        "✓ tests                `test ! -e broken` passed",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("cannot run"), "{}", run.stderr);

    // A WIP commit with a conflict marker, a dirty tree, failing tests.
    repo.commit_file("a.txt", "<<<<<<< HEAD\n", "WIP: half done");
    repo.write("broken", "x\n");
    repo.git(&["add", "broken"]);
    repo.git(&["commit", "-q", "-m", "break the tests"]);
    repo.write("a.txt", "dirty\n");
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for line in [
        "✓ fast-forward         fast-forward of the remote tip",
        "✗ clean-worktree       1 tracked file changed but not committed",
        "✗ no-wip               1 commit of 2 pushed is work in progress",
        "✗ no-conflict-markers  1 conflict marker added by this push",
        "a.txt:1",
        "- tests                skip: not run: an earlier check failed",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }
    // The bypass runs the skipped tests first, through a worktree at the pushed commit.
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:refs/heads/staging"])
        .env("PUSHGUARD_BYPASS", "migrating the repository to sha-256")
        .output()
        .expect("push");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("✗ tests                `test ! -e broken` failed (exit 1)"),
        "{stderr}"
    );

    // A rewrite of staging is not a fast-forward.
    repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    repo.commit("rewritten");
    let run = repo.push(&["--force", "origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("✗ fast-forward         not a fast-forward"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_21_sha256_promotion_and_its_merge_pass_a_hotfix_does_not() {
    let repo = sha256_clone();
    repo.install();
    repo.config(CONFIG);
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "guard"]);
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.git(&["fetch", "-q", "origin"]);

    let run = consulted(&repo, "HEAD:refs/heads/production");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("on staging: contained in origin/staging"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("consulted Ada Lead"), "{}", run.stderr);

    // A commit on none of staging's branches.
    let hotfix = repo.commit_file("fix.txt", "fix\n", "hotfix");
    let run = consulted(&repo, "HEAD:refs/heads/production");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not on staging: the pushed commit is not in origin/staging"),
        "{}",
        run.stderr
    );

    // The same tree on staging, by another commit: a promotion merge.
    repo.git(&["checkout", "-q", "-b", "side", "HEAD~1"]);
    repo.git(&["checkout", "-q", &hotfix, "--", "fix.txt"]);
    repo.git(&["commit", "-q", "-m", "the fix, on staging"]);
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.git(&["fetch", "-q", "origin"]);
    let run = consulted(&repo, &format!("{hotfix}:refs/heads/production"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("on staging: same tree as origin/staging (a promotion merge)"),
        "{}",
        run.stderr
    );
    // The record is in the clone's log, which verifies.
    repo.pushguard(&["log", "--verify"]).expect_code(0);
    // A command that needs libgit2 says why it cannot run.
    let run = repo.pushguard(&["check", "production"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot open yet"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_21_sha256_approvals_from_notes_and_trailers() {
    let repo = sha256_clone();
    repo.install();
    repo.config(
        r#"[environments.production]
branches = ["production"]
confirm = false
checks = ["authorized", "approvals"]
authorized = ["*@example.com"]
approvals = 2
"#,
    );
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "release\n\nApproved-by: Bo Lead <bo@example.com>",
    ]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("✓ authorized  pat@example.com"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("✗ approvals   1 of 2 approvals: Bo Lead <bo@example.com> (trailer)"),
        "{}",
        run.stderr
    );
    // An approval note as `pushguard approve` writes it, shared through the remote.
    let head = repo.head();
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let note = format!(
        r#"[{{"name":"Ada Lead","email":"ada@example.com","time":"2026-01-01T00:00:00Z","environment":"production","commit":"{head}","tree":"{tree}"}}]"#
    );
    repo.git(&[
        "notes",
        "--ref=pushguard-approvals",
        "add",
        "-m",
        &note,
        &head,
    ]);
    repo.push_unguarded("refs/notes/pushguard-approvals");
    repo.git(&["update-ref", "-d", "refs/notes/pushguard-approvals"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("✓ approvals   2 of 2 approvals: "),
        "{}",
        run.stderr
    );
    // With signatures required, the check cannot run there, and says why.
    repo.config(
        r#"[environments.production]
branches = ["production"]
confirm = false
checks = ["approvals"]
approvals = 1
require_signatures = true
"#,
    );
    repo.commit("next");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("✗ approvals  cannot run: signed approvals are verified through libgit2, which cannot read this repository's SHA-256 object names yet"),
        "{}",
        run.stderr
    );
}

/// A SHA-256 bare remote with pushguard's server hooks.
fn sha256_server() -> TestRepo {
    let repo = sha256_clone();
    std::fs::write(repo.remote.join("pushguard.toml"), CONFIG).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo
}

#[test]
fn regression_issue_21_sha256_server_pre_receive_runs_the_checks_through_git() {
    let repo = sha256_server();
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("skip: client-side only: the server does not run the project's tests"),
        "{}",
        run.stderr
    );
    // Not on the server's staging: refused.
    repo.commit_file("fix.txt", "fix\n", "hotfix");
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not on staging: the pushed commit is not in staging"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    // Through staging first, with a WIP commit: refused by no-wip on staging.
    repo.commit("WIP not yet");
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("✗ no-wip"), "{}", run.stderr);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("on staging: contained in staging"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    // Rewinding production is refused, and the server's log has every decision.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let run = repo.push(&[
        "--force",
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("✗ fast-forward"), "{}", run.stderr);
    let log = std::fs::read_to_string(repo.remote.join("pushguard/audit.jsonl"))
        .expect("the server's log");
    let decisions: Vec<String> = log
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            format!(
                "{} {}",
                v["environment"].as_str().unwrap_or("?"),
                v["decision"].as_str().unwrap_or("?")
            )
        })
        .collect();
    // The allowed records are attached to their tips as notes, through git, in the server's
    // own trail ref.
    let noted = repo.git_in(
        &repo.remote,
        &["notes", "--ref=pushguard-audit.d/server", "list"],
    );
    assert_eq!(noted.lines().count(), 2, "{noted}");
    assert!(!run.stderr.contains("not attached"), "{}", run.stderr);
    assert_eq!(
        decisions,
        [
            "staging allowed",
            "production blocked",
            "staging blocked",
            "staging allowed",
            "production allowed",
            "production blocked"
        ]
    );
}
