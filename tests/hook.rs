//! The pre-push hook, driven by real `git push` (and directly, for malformed input).

use crate::support::TestRepo;

const ZERO: &str = "0000000000000000000000000000000000000000";

fn installed() -> TestRepo {
    let repo = TestRepo::new();
    repo.install();
    repo
}

#[test]
fn ordinary_push_passes_silently() {
    let repo = installed();
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("pushguard"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("feature"), Some(repo.head()));
}

#[test]
fn porcelain_stdout_is_untouched() {
    let repo = installed();
    // The default production needs staging first (`promoted`); this test is about stdout.
    repo.config("[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n");
    let run = repo.push(&["--porcelain", "origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("pushguard"), "{}", run.stdout);
    assert!(
        run.stderr.contains("pushguard: [production]"),
        "{}",
        run.stderr
    );
}

#[test]
fn environment_push_runs_the_gate_and_force_push_is_blocked() {
    let repo = installed();
    repo.config("[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\", \"fast-forward\"]\nconfirm = false\n");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production (create at [SHORT])
      ✓ no-delete     the branch is not deleted
      ✓ fast-forward  creates the branch
    pushguard: ✓ push to production allowed
    To [TMP]/remote.git
     * [new branch]      HEAD -> production
    ");
    let before = repo.remote_branch("production").unwrap();
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let run = repo.push(&["-f", "origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 1
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production ([SHORT]..[SHORT])
      ✓ no-delete     the branch is not deleted
      ✗ fast-forward  not a fast-forward: this push rewrites the environment's history (force push)
          hint: rebase or merge onto the remote tip instead: `git pull --rebase origin production`
      no terminal to ask on (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)
      hint: fix the failed checks, or bypass them with a justification (at least 15 characters; it is recorded):
          PUSHGUARD_BYPASS="<why this push cannot wait>" git push …
    pushguard: ✗ push to production blocked: 1 check failed (fast-forward)
    error: failed to push some refs to '[TMP]/remote.git'
    "#);
    assert_eq!(repo.remote_branch("production"), Some(before));
}

#[test]
fn delete_of_production_is_blocked_and_the_remote_keeps_it() {
    let repo = installed();
    repo.push_unguarded("HEAD:refs/heads/production");
    let run = repo.push(&["origin", ":production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("✗ no-delete"), "{}", run.stderr);
    assert!(run
        .stderr
        .contains("deletes the environment branch `production`"));
    assert!(repo.remote_branch("production").is_some());
}

#[test]
fn delete_of_an_ordinary_branch_passes() {
    let repo = installed();
    repo.push_unguarded("HEAD:refs/heads/prev");
    let run = repo.push(&["origin", ":prev"]);
    run.expect_code(0);
    assert_eq!(repo.remote_branch("prev"), None);
}

#[test]
fn tags_named_like_environments_are_not_gated() {
    let repo = installed();
    repo.git(&["tag", "-a", "-m", "release", "production"]);
    let run = repo.push(&["origin", "refs/tags/production"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("pushguard"), "{}", run.stderr);
}

#[test]
fn push_to_a_url_where_both_arguments_are_the_url() {
    let repo = installed();
    let url = repo.remote.display().to_string();
    repo.push(&[&url, "HEAD:refs/heads/feature"]).expect_code(0);
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let run = repo.push(&["-f", &url, "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The URL resolves to the remote `origin`.
    assert!(run.stderr.contains("origin/production"), "{}", run.stderr);
}

#[test]
fn head_parent_to_a_new_branch_and_many_refs_in_one_push() {
    let repo = installed();
    repo.commit("second");
    repo.push(&["origin", "HEAD~:refs/heads/prev"])
        .expect_code(0);
    assert_eq!(
        repo.remote_branch("prev"),
        Some(repo.git(&["rev-parse", "HEAD~"]))
    );

    // 1000 branches in one push, one of them an environment that is deleted: every line is judged.
    let mut refspecs: Vec<String> = (0..1000).map(|i| format!("HEAD:refs/heads/b{i}")).collect();
    refspecs.push(":refs/heads/production".into());
    repo.push_unguarded("HEAD:refs/heads/production");
    let mut args = vec!["origin"];
    args.extend(refspecs.iter().map(String::as_str));
    let run = repo.push(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("deletes the environment branch"));
    assert_eq!(
        repo.remote_branch("b999"),
        None,
        "a blocked push pushes nothing"
    );
    args.pop();
    repo.push(&args).expect_code(0);
    assert_eq!(repo.remote_branch("b999"), Some(repo.head()));
}

#[test]
fn every_line_is_judged_not_only_the_first() {
    let repo = installed();
    repo.push_unguarded("HEAD:refs/heads/staging");
    let run = repo.push(&["origin", "HEAD:refs/heads/feature", ":staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("[staging]"), "{}", run.stderr);
}

#[test]
fn remote_tip_missing_locally_means_fetch_first() {
    let repo = installed();
    // Someone else pushed a commit we never fetched.
    let other = repo.root.join("other");
    repo.git_in(
        &repo.root,
        &["clone", "-q", repo.remote.to_str().unwrap(), "other"],
    );
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git_in(&other, &["fetch", "-q", "origin"]);
    repo.git_in(&other, &["checkout", "-q", "-b", "p", "origin/production"]);
    repo.git_in(
        &other,
        &[
            "-c",
            "user.name=O",
            "-c",
            "user.email=o@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "theirs",
        ],
    );
    repo.git_in(
        &other,
        &["push", "-q", "--no-verify", "origin", "HEAD:production"],
    );
    repo.commit("ours");
    let run = repo.push(&["-f", "origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot prove a fast-forward"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run `git fetch origin production`"),
        "{}",
        run.stderr
    );
}

#[test]
fn annotated_tag_objects_are_peeled() {
    let repo = installed();
    let base = repo.head();
    repo.git(&["tag", "-a", "-m", "v1", "v1"]);
    let tag = repo.git(&["rev-parse", "v1"]);
    assert_ne!(tag, base);
    let next = repo.commit("next");
    // The remote tip arrives as the tag object: ancestry still holds after peeling.
    let input = format!("HEAD {next} refs/heads/production {tag}\n");
    let run = repo.pushguard_with(
        &["hook", "pre-push", "origin", repo.remote.to_str().unwrap()],
        Some(input.as_bytes()),
        &[],
    );
    assert!(run.stderr.contains("✓ fast-forward"), "{}", run.stderr);
}

#[test]
fn malformed_input_exits_2_quoting_the_line() {
    let repo = installed();
    let run = repo.pushguard_with(
        &["hook", "pre-push", "origin", "url"],
        Some(b"refs/heads/main abc refs/heads/main def\n"),
        &[],
    );
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 2
    --- stdout
    --- stderr
    pushguard: error: malformed pre-push input on line 1: object names must be 40 or 64 hexadecimal digits: "refs/heads/main abc refs/heads/main def"
    "#);
}

#[test]
fn empty_input_exits_0() {
    let repo = installed();
    let run = repo.pushguard_with(&["hook", "pre-push", "origin", "url"], Some(b""), &[]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    // An up-to-date push runs the hook with no lines.
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
}

#[test]
fn broken_config_blocks_every_push_with_the_way_out() {
    let repo = installed();
    repo.config("[bypass]\nmin_lenght = 3\n");
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(".pushguard.toml:2:1: unknown field `min_lenght`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("git push --no-verify"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("feature"), None);
}

#[test]
fn ordinary_pushes_never_open_the_repository() {
    // A push to an ordinary branch must not need the repository at all: with GIT_DIR
    // pointing nowhere, only the parse and the config are needed.
    let repo = installed();
    let input = format!("HEAD {} refs/heads/feature {ZERO}\n", repo.head());
    let run = repo.pushguard_with(
        &["hook", "pre-push", "origin", "url"],
        Some(input.as_bytes()),
        &[("GIT_DIR", "/nonexistent")],
    );
    run.expect_code(0);
    let input = format!("HEAD {} refs/heads/production {ZERO}\n", repo.head());
    let run = repo.pushguard_with(
        &["hook", "pre-push", "origin", "url"],
        Some(input.as_bytes()),
        &[("GIT_DIR", "/nonexistent")],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("GIT_DIR `/nonexistent` is not a git repository"),
        "{}",
        run.stderr
    );
}

#[test]
fn sha256_repository_ordinary_pushes_pass_environment_pushes_are_gated() {
    let repo = TestRepo::with_init_args(&["--object-format=sha256"]);
    repo.install();
    repo.push(&["origin", "HEAD:refs/heads/feature"])
        .expect_code(0);
    // The checks run through git (issue 21): production is refused for what it lacks.
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("✗ promoted"), "{}", run.stderr);
    assert!(!run.stderr.contains("cannot run"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn shallow_clone_environment_push_does_not_crash() {
    let repo = installed();
    repo.commit("two");
    repo.commit("three");
    repo.push_unguarded("HEAD:refs/heads/production");
    let shallow = repo.root.join("shallow");
    let url = format!("file://{}", repo.remote.display());
    repo.git_in(
        &repo.root,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "production",
            &url,
            "shallow",
        ],
    );
    let out = repo
        .command(crate::support::bin())
        .arg("install")
        .current_dir(&shallow)
        .output()
        .unwrap();
    assert!(out.status.success());
    repo.git_in(
        &shallow,
        &[
            "-c",
            "user.name=S",
            "-c",
            "user.email=s@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "four",
        ],
    );
    let out = repo
        .command("git")
        .args(["push", "origin", "HEAD:production"])
        .current_dir(&shallow)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("✓ fast-forward"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn detached_head_push_to_an_environment() {
    let repo = installed();
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.commit("next");
    repo.git(&["checkout", "-q", "--detach"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert!(run.stderr.contains("✓ fast-forward"), "{}", run.stderr);
}
