//! A trail that cannot be fooled (issue 10): `pushguard audit` judges each environment
//! branch's current tip on the remote, the trail says which branches are guarded, records
//! are bound to the remote their push went to, and `log --verify` anchors the local log
//! against the records this clone shared. Each attack is run as an adversarial team member
//! would, with real pushes, and judged in a fresh clone of the remote as a CI job would.

use std::path::{Path, PathBuf};

use crate::support::{Run, TestRepo};

/// Three environments with promotion, gated without a person to ask.
const TEAM: &str = r#"[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = false

[environments.staging]
branches = ["staging"]
promote_from = "development"
checks = ["no-delete", "fast-forward", "promoted"]
confirm = false

[environments.production]
branches = ["production"]
promote_from = "staging"
checks = ["no-delete", "fast-forward", "promoted"]
confirm = false
"#;

/// Pat's guarded clone of a remote whose environments existed before pushguard (at the
/// initial commit), with the team config committed and every environment then pushed through
/// the gate once (the adoption step), all at the same commit.
fn adopted() -> TestRepo {
    let repo = TestRepo::new();
    for env in ["development", "staging", "production"] {
        repo.push_unguarded(&format!("HEAD:refs/heads/{env}"));
    }
    repo.install();
    repo.config(TEAM);
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "adopt pushguard"]);
    for env in ["development", "staging", "production"] {
        gated(&repo, &repo.work, env);
    }
    repo
}

/// A gated push of `HEAD` to `env` on origin from `dir`; it must be allowed.
#[track_caller]
fn gated(repo: &TestRepo, dir: &Path, env: &str) {
    gated_to(repo, dir, "origin", env);
}

/// A gated push of `HEAD` to `env` on `remote` from `dir`; it must be allowed.
#[track_caller]
fn gated_to(repo: &TestRepo, dir: &Path, remote: &str, env: &str) {
    let run = Run::from_output(
        repo.command("git")
            .current_dir(dir)
            .args(["push", remote, &format!("HEAD:refs/heads/{env}")])
            .output()
            .expect("run git"),
    );
    assert_eq!(run.code, 0, "gated push to {remote} {env}: {}", run.stderr);
}

/// An empty bare repository beside the remote, added to Pat's clone as `throwaway`, and
/// `HEAD` passed through the gate to each of its environments (trivially: nothing is there).
fn throwaway(repo: &TestRepo) {
    let path = repo.root.join("throwaway.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "throwaway.git"]);
    repo.git(&["remote", "add", "throwaway", path.to_str().expect("utf-8")]);
    for env in ["development", "staging", "production"] {
        gated_to(repo, &repo.work, "throwaway", env);
    }
}

/// What versions before issue 19 did: every record of the clone's log (whatever remote its
/// push went to) in the local `refs/notes/pushguard-audit`, force-pushed to origin's.
fn share_everything_as_an_older_version(repo: &TestRepo) {
    let log = std::fs::read_to_string(log_path(repo)).expect("read log");
    let mut by_commit: std::collections::BTreeMap<String, String> = Default::default();
    for line in log.lines() {
        let (record, _) = pushguard::audit::parse_line(line.as_bytes()).expect("a record");
        let commit = record.new.or(record.old).expect("a commit");
        let text = by_commit.entry(commit).or_default();
        text.push_str(line);
        text.push('\n');
    }
    for (commit, text) in by_commit {
        repo.git(&[
            "notes",
            "--ref",
            "pushguard-audit",
            "add",
            "-f",
            "-m",
            text.trim_end(),
            &commit,
        ]);
    }
    repo.push(&[
        "--no-verify",
        "-q",
        "--force",
        "origin",
        "refs/notes/pushguard-audit",
    ])
    .expect_code(0);
}

/// A CI job: a fresh clone of the remote, checked out at `origin/<checkout>`.
fn ci(repo: &TestRepo, name: &str, checkout: &str) -> PathBuf {
    let dir = repo.clone_as(name, "CI", "ci@example.com");
    repo.git_in(
        &dir,
        &["checkout", "-q", "--detach", &format!("origin/{checkout}")],
    );
    dir
}

#[track_caller]
fn audit(repo: &TestRepo, dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["audit", "--fail-on-unrecorded"];
    args.extend_from_slice(extra);
    repo.pushguard_in(dir, &args)
}

#[track_caller]
fn expect_unrecorded(run: &Run, branch: &str) {
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("origin/{branch} ")) && l.contains("UNRECORDED")),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn regression_trail_1_merge_whose_first_parent_predates_pushguard() {
    let repo = adopted();
    let recorded = repo.remote_branch("production").expect("production");
    // Unrecorded code as a merge whose first parent is the commit before pushguard: a
    // plain fast-forward of production (its tip is the second parent).
    let base = repo.git(&["rev-parse", "HEAD~1"]);
    repo.git(&["checkout", "-q", "--detach", &base]);
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "looks like history",
        &recorded,
    ]);
    let merge = repo.head();
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    assert_eq!(repo.remote_branch("production"), Some(merge.clone()));

    let run = audit(&repo, &ci(&repo, "ci", "production"), &[]);
    expect_unrecorded(&run, "production");
    assert!(run.stdout.contains(&merge[..10]), "{}", run.stdout);
}

#[test]
fn regression_trail_1_force_push_of_an_orphan_commit() {
    let repo = adopted();
    repo.git(&["checkout", "-q", "--orphan", "fresh"]);
    repo.commit_file("evil.txt", "unreviewed\n", "orphan");
    repo.push(&[
        "--no-verify",
        "-q",
        "--force",
        "origin",
        "HEAD:refs/heads/production",
    ])
    .expect_code(0);
    let run = audit(&repo, &ci(&repo, "ci", "staging"), &[]);
    expect_unrecorded(&run, "production");
    assert!(
        run.stdout
            .contains("(not in the current tip's history: rewritten or replaced)"),
        "{}",
        run.stdout
    );
    // Staging and development are still where the gate left them.
    assert!(
        run.stdout.contains("origin/staging (staging): recorded"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_2_the_audited_commit_cannot_pick_its_own_policy() {
    let repo = adopted();
    // The pushed commit maps production to another glob.
    repo.write(
        ".pushguard.toml",
        "[environments.production]\nbranches = [\"nothing-*\"]\nchecks = []\nconfirm = false\n",
    );
    repo.git(&["commit", "-q", "-am", "tidy config"]);
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let dir = ci(&repo, "ci", "production");
    let run = audit(&repo, &dir, &[]);
    expect_unrecorded(&run, "production");
    // Its config knows no staging or development: the trail still audits them.
    assert!(
        run.stdout.contains("origin/staging (staging): recorded"),
        "{}",
        run.stdout
    );
    let run = audit(&repo, &dir, &["--env", "production"]);
    expect_unrecorded(&run, "production");
}

#[test]
fn regression_trail_2_env_matching_no_branch_fails() {
    let repo = adopted();
    let dir = ci(&repo, "ci", "production");
    let run = audit(&repo, &dir, &["--env", "production"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // An environment that the config knows, with no branch on the remote, fails.
    repo.git(&["push", "-q", "--no-verify", "origin", ":refs/heads/staging"]);
    repo.write(
        ".pushguard.toml",
        "[environments.qa]\nbranches = [\"qa\"]\nchecks = []\nconfirm = false\n",
    );
    let dir = ci(&repo, "ci2", "production");
    std::fs::copy(
        repo.work.join(".pushguard.toml"),
        dir.join(".pushguard.toml"),
    )
    .expect("copy");
    let run = audit(&repo, &dir, &["--env", "qa"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("no branch of environment `qa` on `origin`: nothing to audit"),
        "{}",
        run.stderr
    );
    // A deleted environment branch is UNRECORDED unless it was deleted through the gate.
    let run = audit(&repo, &dir, &["--env", "staging"]);
    expect_unrecorded(&run, "staging");
    assert!(run.stdout.contains("the branch is gone"), "{}", run.stdout);
}

#[test]
fn regression_trail_3_deleting_the_notes_leaves_every_tip_unrecorded() {
    let repo = adopted();
    repo.commit_file("hotfix.txt", "unreviewed\n", "hotfix without the guard");
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    for r in repo.trail_refs(&repo.remote) {
        repo.push(&["--no-verify", "-q", "origin", &format!(":{r}")])
            .expect_code(0);
    }
    let run = audit(&repo, &ci(&repo, "ci", "production"), &[]);
    expect_unrecorded(&run, "production");
    expect_unrecorded(&run, "staging");
    assert!(
        run.stderr.contains(
            "origin has no audit notes (refs/notes/pushguard-audit.d/* or refs/notes/pushguard-audit)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_trail_4_records_from_another_remote_do_not_count() {
    let repo = adopted();
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    let evil = repo.head();
    // Passes trivially on the empty throwaway remote: allowed and recorded there.
    throwaway(&repo);
    // The same commit to the real remote, skipping the hook.
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    // The next ordinary gated push to the real remote shares the audit notes.
    gated(&repo, &repo.work, "development");

    // The throwaway record never reached the real remote's notes.
    let note = repo
        .trail_note(&repo.remote, &evil)
        .expect("the development push's record");
    assert!(!note.contains("throwaway"), "{note}");
    assert!(note.contains("refs/heads/development"), "{note}");

    let run = audit(&repo, &ci(&repo, "ci", "production"), &[]);
    expect_unrecorded(&run, "production");
    assert!(
        run.stdout
            .contains("origin/development (development): recorded"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_4_records_of_other_remotes_in_the_notes_are_not_counted() {
    // An older client shared its whole local notes: the audit still counts only records of
    // pushes to the audited remote, and `log --remote` shows only those.
    let repo = adopted();
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    throwaway(&repo);
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    // What an older pushguard did: push the local notes ref, every record in it.
    share_everything_as_an_older_version(&repo);
    let dir = ci(&repo, "ci", "production");
    let run = audit(&repo, &dir, &[]);
    expect_unrecorded(&run, "production");
    assert!(
        run.stderr
            .contains("3 records in origin's notes are of pushes to other remotes: not counted"),
        "{}",
        run.stderr
    );
    let log = repo.pushguard_in(&dir, &["log", "--remote", "--json"]);
    log.expect_code(0);
    assert_eq!(log.stdout.lines().count(), 3, "{}", log.stdout);
    assert!(!log.stdout.contains("throwaway"), "{}", log.stdout);
}

#[test]
fn regression_trail_gated_team_passes_in_a_fresh_clone() {
    let repo = adopted();
    let dir = ci(&repo, "ci", "production");
    let run = audit(&repo, &dir, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // A feature through development and staging, then production by a merge commit.
    repo.commit_file("feature.txt", "v1\n", "feature");
    gated(&repo, &repo.work, "development");
    gated(&repo, &repo.work, "staging");
    repo.git(&["checkout", "-q", "-b", "release", "origin/production"]);
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "release 1",
        "origin/staging",
    ]);
    gated(&repo, &repo.work, "production");

    // A push from a linked worktree of the same clone.
    let wt = repo.root.join("linked");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        wt.to_str().expect("utf-8"),
        "origin/development",
    ]);
    repo.git_in(
        &wt,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "from a linked worktree",
        ],
    );
    gated(&repo, &wt, "development");

    // Another clone with the hook pushes too.
    let ada = repo.clone_as("ada", "Ada Dev", "ada@example.com");
    repo.pushguard_in(&ada, &["install"]).expect_code(0);
    repo.git_in(&ada, &["checkout", "-q", "--detach", "origin/development"]);
    repo.git_in(&ada, &["commit", "-q", "--allow-empty", "-m", "from ada"]);
    gated(&repo, &ada, "development");
    gated(&repo, &ada, "staging");

    let run = audit(&repo, &dir, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for env in ["development", "staging", "production"] {
        assert!(
            run.stdout
                .contains(&format!("origin/{env} ({env}): recorded")),
            "{}",
            run.stdout
        );
    }
    // A brand-new CI clone sees the same.
    let run = audit(&repo, &ci(&repo, "ci2", "development"), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// The clone's audit log.
fn log_path(repo: &TestRepo) -> PathBuf {
    repo.work.join(".git/pushguard/audit.jsonl")
}

/// Rewrites the log as a careful forger would: changes the second record and computes every
/// hash and `prev` again, so the chain verifies.
fn rewrite_and_rechain(repo: &TestRepo) {
    let text = std::fs::read_to_string(log_path(repo)).expect("read log");
    let mut prev: Option<String> = None;
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let (mut record, _) = pushguard::audit::parse_line(line.as_bytes()).expect("a record");
        if i == 1 {
            record.consulted = Some("Someone Else".into());
        }
        record.prev = prev.take();
        let (line, hash) = record.to_line();
        out.push_str(&line);
        out.push('\n');
        prev = Some(hash);
    }
    std::fs::write(log_path(repo), out).expect("write log");
}

#[track_caller]
fn expect_anchor_broken(run: &Run) {
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("audit log does not match what this clone shared: "),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_9_an_intact_log_is_anchored() {
    let repo = adopted();
    let run = repo.pushguard(&["log", "--verify", "--remote"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("anchored: the 3 records of this clone in the local notes and origin's trail are in the log"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_9_rewritten_and_rechained_log() {
    let repo = adopted();
    rewrite_and_rechain(&repo);
    let run = repo.pushguard(&["log", "--verify"]);
    expect_anchor_broken(&run);
    assert!(run.stdout.contains("allowed push of refs/heads/staging to origin) that this clone shared is not in the log"), "{}", run.stdout);
}

#[test]
fn regression_trail_9_rewritten_log_and_deleted_local_notes_caught_by_the_remote() {
    let repo = adopted();
    rewrite_and_rechain(&repo);
    for r in repo
        .git(&["for-each-ref", "--format=%(refname)", "refs/notes/"])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]);
    }
    repo.pushguard(&["log", "--verify"]).expect_code(0);
    expect_anchor_broken(&repo.pushguard(&["log", "--verify", "--remote"]));
}

#[test]
fn regression_trail_9_cut_tail() {
    let repo = adopted();
    let text = std::fs::read_to_string(log_path(&repo)).expect("read log");
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(log_path(&repo), kept.join("\n") + "\n").expect("write log");
    let run = repo.pushguard(&["log", "--verify"]);
    expect_anchor_broken(&run);
    assert!(
        run.stdout.contains("refs/heads/production"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_9_deleted_log() {
    let repo = adopted();
    std::fs::remove_file(log_path(&repo)).expect("delete log");
    expect_anchor_broken(&repo.pushguard(&["log", "--verify"]));
    // Starting a new log by pushing again does not move the anchor.
    repo.commit("next");
    gated(&repo, &repo.work, "development");
    expect_anchor_broken(&repo.pushguard(&["log", "--verify", "--remote"]));
}

#[test]
fn regression_trail_names_are_escaped_in_status_and_audit() {
    let repo = TestRepo::guarded(
        "[environments.production]\nbranches = [\"prod*\"]\nchecks = [\"no-delete\"]\nconfirm = false\n",
    );
    // A C1 control character (CSI) in a branch name: git allows it, a terminal obeys it.
    let branch = "prod\u{9b}2J";
    repo.push(&[
        "--no-verify",
        "-q",
        "origin",
        &format!("HEAD:refs/heads/{branch}"),
    ])
    .expect_code(0);
    for args in [&["status"][..], &["audit"][..]] {
        let run = repo.pushguard(args);
        run.expect_code(0);
        assert!(
            run.stdout.contains("origin/prod"),
            "{args:?}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains('\u{9b}') && !run.stderr.contains('\u{9b}'),
            "{args:?}: {}{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn regression_trail_4_a_renamed_remote_keeps_its_records_and_a_moved_one_names_its_old_url() {
    let repo = adopted();
    let old_url = repo.remote.to_str().expect("utf-8").to_owned();
    // Renaming the remote in the pushing clone changes nothing: records follow the URL.
    repo.git(&["remote", "rename", "origin", "upstream"]);
    repo.commit("after the rename");
    let run = Run::from_output(
        repo.command("git")
            .args(["push", "upstream", "HEAD:refs/heads/development"])
            .output()
            .expect("run git"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = ci(&repo, "ci", "production");
    audit(&repo, &dir, &[]).expect_code(0);

    // The repository moves: records made under the old URL no longer count...
    let moved = repo.root.join("moved.git");
    std::fs::rename(&repo.remote, &moved).expect("move the remote");
    repo.git_in(
        &dir,
        &[
            "remote",
            "set-url",
            "origin",
            moved.to_str().expect("utf-8"),
        ],
    );
    let run = audit(&repo, &dir, &[]);
    expect_unrecorded(&run, "production");
    assert!(
        run.stderr
            .contains("records in origin's notes are of pushes to other remotes: not counted"),
        "{}",
        run.stderr
    );
    // ...until the auditing clone names the old address.
    repo.git_in(
        &dir,
        &["config", "--add", "remote.origin.pushguardUrl", &old_url],
    );
    audit(&repo, &dir, &[]).expect_code(0);
}

#[test]
fn regression_trail_4_records_left_unshared_by_an_older_version_go_to_their_remote_only() {
    let repo = adopted();
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    throwaway(&repo);
    // The remote refuses notes for now, so this push's record stays local and pending.
    let hook = repo.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif grep -q refs/notes/; then echo 'notes refused' >&2; exit 1; fi\n",
    )
    .expect("write hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod hook");
    repo.commit("release");
    let release = repo.head();
    gated(&repo, &repo.work, "development");
    // An older version kept no outboxes: only refs/notes/pushguard-audit holds the records.
    for r in repo
        .git(&[
            "for-each-ref",
            "--format=%(refname)",
            "refs/notes/pushguard-outbox/",
        ])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]);
    }
    std::fs::remove_file(&hook).expect("remove hook");
    repo.pushguard(&["log", "--remote"]).expect_code(0);
    assert!(repo.trail_note(&repo.remote, &release).is_some());
    for r in repo.trail_refs(&repo.remote) {
        let all = repo.git_in(&repo.remote, &["log", "-p", &r]);
        assert!(!all.contains("throwaway"), "{r}: {all}");
    }
    let ci = ci(&repo, "ci", "development");
    let run = audit(&repo, &ci, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("other remotes"), "{}", run.stderr);
}
