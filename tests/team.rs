//! The team layer: approvals shared through git notes, the shared audit trail, and
//! `pushguard audit` finding pushes that skipped the guard. Two or more clones of one bare
//! remote act as different people.

use std::path::Path;
use std::process::Stdio;

use crate::support::{bin, TestRepo};

const APPROVALS_1: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"approvals\"]\napprovals = 1\nconfirm = false\n";

/// Pat's clone with the hook installed and `config`, plus a commit on `feature` that is on
/// the remote (so others can approve it).
fn setup(config: &str) -> (TestRepo, String) {
    let repo = TestRepo::guarded(config);
    let tip = repo.commit_file("app.txt", "v1\n", "release 1");
    repo.push_unguarded("HEAD:refs/heads/feature");
    (repo, tip)
}

/// The remote's note on `commit` under `refs/notes/<name>`, if any.
fn remote_note(repo: &TestRepo, name: &str, commit: &str) -> Option<String> {
    let run = repo
        .command("git")
        .current_dir(&repo.remote)
        .args(["notes", "--ref", name, "show", commit])
        .output()
        .expect("run git");
    run.status
        .success()
        .then(|| String::from_utf8_lossy(&run.stdout).into_owned())
}

fn approve(repo: &TestRepo, dir: &Path, rev: &str) {
    repo.pushguard_in(dir, &["approve", rev, "--env", "production"])
        .expect_code(0);
}

#[test]
fn approval_by_another_person_lets_the_push_through() {
    let (repo, tip) = setup(APPROVALS_1);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 1
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production (create at [SHORT])
      ✗ approvals  0 of 1 approval (approvals by others than the pusher needed)
          hint: ask an approver to run `pushguard approve [SHORT] --env production`, then push again
      no terminal to ask on (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)
      hint: fix the failed checks, or bypass them with a justification (at least 15 characters; it is recorded):
          PUSHGUARD_BYPASS="<why this push cannot wait>" git push …
    pushguard: ✗ push to production blocked: 1 check failed (approvals)
    error: failed to push some refs to '[TMP]/remote.git'
    "#);

    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    let run = repo.pushguard_in(&ada, &["approve", "origin/feature", "--env", "production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: approved [SHORT] (release 1) for production as Ada Approver <ada@example.com>
    pushguard: shared with origin (refs/notes/pushguard-approvals)
    ");

    // Pat never fetched the notes: the hook does.
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production (create at [SHORT])
      ✓ approvals  1 of 1 approval: Ada Approver <ada@example.com>
    pushguard: ✓ push to production allowed
    To [TMP]/remote.git
     * [new branch]      HEAD -> production
    ");
    assert_eq!(repo.remote_branch("production"), Some(tip));

    let list = repo.pushguard(&["approve", "--list", "HEAD"]);
    list.expect_code(0);
    assert!(
        list.stdout.contains("production")
            && list.stdout.contains("Ada Approver <ada@example.com>"),
        "{}",
        list.stdout
    );
}

#[test]
fn own_approval_does_not_count() {
    let (repo, tip) = setup(APPROVALS_1);
    approve(&repo, &repo.work, "HEAD");
    assert!(remote_note(&repo, "pushguard-approvals", &tip)
        .is_some_and(|n| n.contains("pat@example.com")));
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("✗ approvals  0 of 1 approval")
            && run.stderr.contains(
                "not counted: your own approval (the pusher cannot approve their own push)"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn concurrent_approvals_both_survive() {
    let (repo, tip) = setup(APPROVALS_1);
    let people = [
        ("ada", "ada@example.com"),
        ("bob", "bob@example.com"),
        ("cy", "cy@example.com"),
    ];
    let dirs: Vec<_> = people
        .iter()
        .map(|(dir, email)| repo.clone_as(dir, dir, email))
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            // Stopped even if the test fails before waiting for it.
            crate::support::Reaped::new(
                repo.command(bin())
                    .current_dir(dir)
                    .args(["approve", &tip, "--env", "production"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run pushguard"),
            )
        })
        .collect();
    for child in children {
        let out = child.wait_with_output();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let note = remote_note(&repo, "pushguard-approvals", &tip).expect("a note on the remote");
    for (_, email) in people {
        assert!(note.contains(email), "{email} missing from\n{note}");
    }
    // And the note is still one JSON array of the three.
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&note).expect("a JSON array");
    assert_eq!(parsed.len(), 3, "{note}");
}

#[test]
fn approved_by_trailers_count() {
    let (repo, _) = setup(APPROVALS_1);
    repo.commit("release 2\n\nApproved-by: Ada Approver <ada@example.com>");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("✓ approvals  1 of 1 approval: Ada Approver <ada@example.com> (trailer)"),
        "{}",
        run.stderr
    );
}

#[test]
fn approver_outside_approvers_does_not_count() {
    let (repo, tip) = setup(&format!("{APPROVALS_1}approvers = [\"*@leads.example\"]\n"));
    let bob = repo.clone_as("bob", "Bob Dev", "bob@example.com");
    approve(&repo, &bob, &tip);
    // Pat has not fetched anything: `--list` shows the team's approvals from the remote.
    let list = repo.pushguard(&["approve", "--list", &tip]);
    assert!(
        list.code == 0
            && list.stdout.contains("production    2026-")
            && list.stdout.ends_with("  Bob Dev <bob@example.com>\n"),
        "{}{}",
        list.stdout,
        list.stderr
    );
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not counted: Bob Dev <bob@example.com> is not in `approvers`"),
        "{}",
        run.stderr
    );
    let lead = repo.clone_as("lead", "Lee Lead", "lee@leads.example");
    approve(&repo, &lead, &tip);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 of 1 approval: Lee Lead <lee@leads.example>"),
        "{}",
        run.stderr
    );
}

#[test]
fn approval_of_the_same_tree_counts() {
    let (repo, _) = setup(APPROVALS_1);
    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    approve(&repo, &ada, "origin/feature");
    // A different commit (new message) with the same tree.
    repo.git(&["commit", "-q", "--amend", "-m", "release 1 (promoted)"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn failed_notes_fetch_falls_back_to_local_notes_and_says_so() {
    let (repo, tip) = setup(APPROVALS_1);
    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    approve(&repo, &ada, &tip);
    repo.git(&[
        "fetch",
        "-q",
        "origin",
        "refs/notes/pushguard-approvals:refs/notes/pushguard-approvals",
    ]);
    // Fetching from origin now fails; pushing still works.
    let remote = repo.remote.to_str().expect("utf-8 path").to_owned();
    repo.git(&["config", "remote.origin.pushurl", &remote]);
    repo.git(&["config", "remote.origin.url", "/nonexistent/remote.git"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production (create at [SHORT])
      ✓ approvals  1 of 1 approval: Ada Approver <ada@example.com>
          used local notes only: fetching the remote's approvals failed (failed to fetch `refs/notes/pushguard-approvals` from `origin`: fatal: '/nonexistent/remote.git' does not appear to be a git repository; fatal: Could not read from remote repository.; Please make sure you have the correct access rights; and the repository exists.)
    pushguard: ✓ push to production allowed
    To [TMP]/remote.git
     * [new branch]      HEAD -> production
    ");
}

const GUARDED: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n";

#[test]
fn guarded_push_leaves_an_audit_note_on_the_remote() {
    let (repo, tip) = setup(GUARDED);
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let note = repo
        .trail_note(&repo.remote, &tip)
        .expect("an audit note on the remote");
    let line = note.lines().next().expect("one record line");
    assert!(line.contains("\"decision\":\"allowed\""), "{line}");
    assert!(
        line.contains("\"remote_ref\":\"refs/heads/production\""),
        "{line}"
    );
    assert!(line.contains(&format!("\"new\":\"{tip}\"")), "{line}");
}

#[test]
fn log_remote_shows_the_team_records_from_another_clone() {
    let (repo, tip) = setup(GUARDED);
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let other = repo.clone_as("other", "Olga Other", "olga@example.com");
    // The other clone has no local audit log; --remote reads the shared notes.
    let local = repo.pushguard_in(&other, &["log", "--json"]);
    local.expect_code(0);
    assert_eq!(local.stdout, "");
    let run = repo.pushguard_in(&other, &["log", "--remote", "--json"]);
    run.expect_code(0);
    let line = run.stdout.lines().next().expect("one record");
    assert!(line.contains(&format!("\"new\":\"{tip}\"")), "{line}");
    assert!(line.contains("\"email\":\"pat@example.com\""), "{line}");
    // The shared line is the local line, byte for byte: the hash chain travels with it.
    let mine = repo.pushguard(&["log", "--json"]);
    assert_eq!(mine.stdout.lines().next(), Some(line));
    let table = repo.pushguard_in(&other, &["log", "--remote", "origin"]);
    table.expect_code(0);
    assert!(table.stdout.contains("production"), "{}", table.stdout);
}

#[test]
fn unguarded_push_is_listed_by_audit_and_fails_the_pipeline() {
    let repo = TestRepo::new();
    // Production existed before pushguard.
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.install();
    repo.config(GUARDED);
    repo.commit_file("app.txt", "v1\n", "release 1");
    repo.commit_file("app.txt", "v2\n", "release 2");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    repo.commit_file("app.txt", "v3\n", "hotfix without the guard");
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);

    // A CI job: a fresh clone, no hook.
    let ci = repo.clone_as("ci", "CI", "ci@example.com");
    let run = repo.pushguard_in(&ci, &["audit", "--fail-on-unrecorded"]);
    run.expect_code(1);
    let stdout = repo.redact(&run.stdout);
    assert!(
        stdout.starts_with("origin/production (production): UNRECORDED  no record of a push through pushguard names the tip [SHORT]\n  last recorded tip  [SHORT]  allowed 20"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(" by Pat Pusher\n  1 commit since the last recorded tip\n    [SHORT]  2026-01-01T00:00:00Z  Pat Pusher <pat@example.com>  hotfix without the guard\n"),
        "{stdout}"
    );
    insta::assert_snapshot!(repo.redact(&run.stderr), @r"
    pushguard: 1 environment branch on origin is UNRECORDED: its tip is not what a push through pushguard left there
      (pushed with --no-verify, from a clone without the hook, by a tool that runs no hooks, or never gated)
      hint: a team adopts pushguard by pushing each environment branch through the gate once (its next promotion); a tip pushed with --no-verify stays UNRECORDED until a gated push replaces it
    ");
    // Without --fail-on-unrecorded it only lists.
    repo.pushguard_in(&ci, &["audit"]).expect_code(0);
    // A guarded push on top puts production where the gate left it: the tip is judged.
    repo.commit_file("app.txt", "v4\n", "release 3");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let run = repo.pushguard_in(
        &ci,
        &["audit", "--env", "production", "--fail-on-unrecorded"],
    );
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("origin/production (production): recorded  tip "),
        "{}",
        run.stdout
    );
}

#[test]
fn audit_of_a_remote_without_notes_says_so() {
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/production");
    let run = repo.pushguard(&["audit", "--fail-on-unrecorded"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 1
    --- stdout
    origin/production (production): UNRECORDED  the remote has no audit notes
      1 commit on the branch
        [SHORT]  2026-01-01T00:00:00Z  Pat Pusher <pat@example.com>  initial commit
    --- stderr
    pushguard: origin has no audit notes (refs/notes/pushguard-audit.d/* or refs/notes/pushguard-audit): no push through pushguard has been shared with it, or the notes were deleted
    pushguard: 1 environment branch on origin is UNRECORDED: its tip is not what a push through pushguard left there
      (pushed with --no-verify, from a clone without the hook, by a tool that runs no hooks, or never gated)
      hint: a team adopts pushguard by pushing each environment branch through the gate once (its next promotion); a tip pushed with --no-verify stays UNRECORDED until a gated push replaces it
    ");
}

#[test]
fn audit_notes_that_could_not_be_shared_are_pushed_again_later() {
    let (repo, tip) = setup(GUARDED);
    // The remote refuses notes for now (as a flaky connection would fail the notes push).
    let hook = repo.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif grep -q refs/notes/; then echo 'notes refused' >&2; exit 1; fi\n",
    )
    .expect("write hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod hook");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "pushguard: warning: the audit notes were not shared with {} (they will be pushed again next time)",
            repo.remote.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(tip.clone()));
    assert_eq!(repo.trail_note(&repo.remote, &tip), None);
    let pending = repo.work.join(".git/pushguard/audit-notes-pending");
    assert!(pending.is_file());

    std::fs::remove_file(&hook).expect("remove hook");
    let run = repo.pushguard(&["audit", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.trail_note(&repo.remote, &tip).is_some());
    assert!(!pending.exists());
}

#[test]
fn audit_since_limits_the_listing() {
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/production");
    let run = repo.pushguard(&["audit", "--since", "2026-02-01"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "origin/production (production): UNRECORDED  the remote has no audit notes\n  0 commits on the branch (within --since)\n"
    );
    let run = repo.pushguard(&["audit", "--since", "last tuesday"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("invalid --since `last tuesday`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_foreign_approvals_note_is_not_overwritten() {
    let (repo, tip) = setup(APPROVALS_1);
    repo.git(&[
        "notes",
        "--ref",
        "pushguard-approvals",
        "add",
        "-m",
        "looks good",
        &tip,
    ]);
    let run = repo.pushguard(&["approve", &tip, "--env", "production"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is not a JSON array of approvals, so pushguard will not overwrite it"),
        "{}",
        run.stderr
    );
    assert_eq!(
        repo.git(&["notes", "--ref", "pushguard-approvals", "show", &tip]),
        "looks good"
    );
}
