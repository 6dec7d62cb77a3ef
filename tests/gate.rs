//! The promotion gate, driven by real pushes: `promoted`, `no-wip`, `no-conflict-markers`,
//! `clean-worktree`, `authorized`, `tests`, and the `check` and `status` commands.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::TestRepo;

/// staging runs the range checks and the tests; production must come through staging.
fn config(tests: &str, extra: &str) -> String {
    format!(
        r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete", "fast-forward", "clean-worktree", "no-wip", "no-conflict-markers", "tests"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = false
checks = ["no-delete", "fast-forward", "promoted"]
{extra}
[tests]
commands = [{tests}]
"#
    )
}

fn gated(tests: &str) -> TestRepo {
    TestRepo::guarded(&config(tests, ""))
}

fn count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn promotion_by_fast_forward_passes() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/staging");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production (create at [SHORT])
      ✓ no-delete     the branch is not deleted
      ✓ fast-forward  creates the branch
      ✓ promoted      on staging: contained in origin/staging
    pushguard: ✓ push to production allowed
    To [TMP]/remote.git
     * [new branch]      HEAD -> production
    ");
    // An older commit of staging is contained too.
    repo.commit("second");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
}

#[test]
fn promotion_by_merge_commit_passes_on_equal_trees() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["checkout", "-q", "-b", "staging"]);
    repo.commit_file("feature.txt", "done\n", "feature");
    repo.push_unguarded("staging:refs/heads/staging");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "release", "staging"]);
    let run = repo.push(&["origin", "main:refs/heads/production"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "✓ promoted      on staging: same tree as origin/staging (a promotion merge)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn hotfix_straight_to_production_is_blocked() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.push_unguarded("HEAD:refs/heads/production");
    let before = repo.remote_branch("production");
    repo.commit_file("fix.txt", "quick\n", "hotfix");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 1
    --- stdout
    --- stderr
    pushguard: [production] HEAD → origin/production ([SHORT]..[SHORT])
      ✓ no-delete     the branch is not deleted
      ✓ fast-forward  fast-forward of the remote tip
      ✗ promoted      not on staging: the pushed commit is not in origin/staging (promote through staging first)
          hint: push it to staging first (`git push origin <rev>:staging`); if origin/staging is stale, run `git fetch origin`
      no terminal to ask on (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)
      hint: fix the failed checks, or bypass them with a justification (at least 15 characters; it is recorded):
          PUSHGUARD_BYPASS="<why this push cannot wait>" git push …
    pushguard: ✗ push to production blocked: 1 check failed (promoted)
    error: failed to push some refs to '[TMP]/remote.git'
    "#);
    assert_eq!(repo.remote_branch("production"), before);
}

#[test]
fn missing_remote_tracking_ref_names_the_fetch() {
    let repo = gated("");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    // origin has no staging at all: fetching it would not help (issue 22, item 8).
    assert!(
        run.stderr.contains(
            "✗ promoted      origin has no branch of staging (looked for {staging}), so nothing pushed there has been through staging"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("git fetch origin staging"),
        "{}",
        run.stderr
    );
    // Once it has one this clone has not fetched, the hint names that fetch.
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.git(&["update-ref", "-d", "refs/remotes/origin/staging"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "✗ promoted      no fetched branch of staging from origin (looked for origin/{staging}), though origin has staging"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run `git fetch origin staging`, then push again"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn stale_remote_tracking_ref_blocks_and_fetch_true_refreshes_it() {
    let repo = gated("");
    let old = repo.head();
    repo.commit_file("staged.txt", "s\n", "on staging");
    repo.push_unguarded("HEAD:refs/heads/staging");
    // Another clone pushed staging; this one's view of it is stale.
    repo.git(&["update-ref", "refs/remotes/origin/staging", &old]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(run.stderr.contains("✗ promoted"), "{}", run.stderr);
    repo.config(&config("", "fetch = true\n"));
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("✓ promoted      on staging: contained in origin/staging"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.git(&["rev-parse", "origin/staging"]), repo.head());
}

#[test]
fn push_to_a_url_uses_the_matching_remote_or_fails_clearly() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/staging");
    let url = repo.remote.display().to_string();
    let run = repo.push(&[&url, "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("contained in origin/staging"),
        "{}",
        run.stderr
    );

    let other = repo.root.join("other.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "other.git"]);
    let run = repo.push(&[other.to_str().unwrap(), "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("pushing to a URL that no configured remote has"),
        "{}",
        run.stderr
    );
}

#[test]
fn shallow_clone_fails_clearly() {
    let repo = gated("");
    repo.commit_file("two.txt", "2\n", "two");
    repo.commit_file("three.txt", "3\n", "three");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.push_unguarded("HEAD~2:refs/heads/production");
    let url = format!("file://{}", repo.remote.display());
    repo.git_in(
        &repo.root,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            &url,
            "shallow",
        ],
    );
    let shallow = repo.root.join("shallow");
    repo.git_in(&shallow, &["config", "user.email", "pat@example.com"]);
    repo.git_in(&shallow, &["config", "user.name", "Pat Pusher"]);
    std::fs::write(shallow.join(".pushguard.toml"), config("", "")).unwrap();
    let run = repo
        .command(crate::support::bin())
        .current_dir(&shallow)
        .arg("install")
        .output()
        .unwrap();
    assert!(run.status.success());
    repo.git_in(
        &shallow,
        &["checkout", "-q", "-B", "fix", "origin/production"],
    );
    std::fs::write(shallow.join("fix.txt"), "fix\n").unwrap();
    repo.git_in(&shallow, &["add", "fix.txt"]);
    repo.git_in(&shallow, &["commit", "-q", "-m", "hotfix"]);
    let out = repo
        .command("git")
        .current_dir(&shallow)
        .args(["push", "origin", "HEAD:refs/heads/production"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this clone is shallow"), "{stderr}");
    assert!(
        stderr.contains("hint: run `git fetch --unshallow`"),
        "{stderr}"
    );
}

#[test]
fn wip_and_fixup_commits_are_listed() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.commit("WIP half a feature");
    repo.commit("a real change");
    repo.commit("fixup! a real change");
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(1);
    let text = repo.redact(&run.stderr);
    assert!(
        text.contains("  ✗ no-wip               2 commits of 4 pushed are work in progress (WIP, fixup!, squash!, …)\n      [SHORT] fixup! a real change\n      [SHORT] WIP half a feature\n      hint: squash or reword them first: `git rebase -i --autosquash <base>`"),
        "{text}"
    );
    assert!(
        text.contains("- tests                skip: not run: an earlier check failed"),
        "{text}"
    );
}

#[test]
fn conflict_markers_in_an_added_file_are_named() {
    let repo = gated("");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.commit_file(
        "src/app.txt",
        "one\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> feature\n",
        "merge feature",
    );
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(1);
    let text = repo.redact(&run.stderr);
    assert!(
        text.contains("✗ no-conflict-markers  3 conflict markers added by this push\n      src/app.txt:2\n      src/app.txt:4\n      src/app.txt:6\n"),
        "{text}"
    );
}

#[test]
fn dirty_work_tree_blocks_a_push_of_head() {
    let repo = gated("");
    repo.commit_file("a.txt", "1\n", "a");
    repo.write("a.txt", "2\n");
    repo.write("README", "staged\n");
    repo.git(&["add", "README"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("✗ clean-worktree       2 tracked files changed but not committed (what is pushed is not what is here)\n      M README (staged)\n      M a.txt (unstaged)"),
        "{}",
        run.stderr
    );
    // Pushing another commit than HEAD does not look at the work tree.
    let run = repo.push(&["origin", "HEAD~1:refs/heads/staging"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("- clean-worktree       skip: the pushed commit is not HEAD"),
        "{}",
        run.stderr
    );
}

#[test]
fn authorized_matches_user_email() {
    let repo = TestRepo::guarded("[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"authorized\"]\nauthorized = [\"*@corp.example\"]\n");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("✗ authorized  pat@example.com is not authorized to push to production\n      authorized: *@corp.example"),
        "{}",
        run.stderr
    );
    repo.git(&["config", "user.email", "pat@corp.example"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(run
        .stderr
        .contains("✓ authorized  pat@corp.example is authorized (*@corp.example)"));
}

#[test]
fn failing_tests_block_with_the_output_tail_and_log() {
    let repo = gated(r#""echo compiling; echo 'assertion failed: 1 == 2' >&2; exit 3""#);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 1
    --- stdout
    --- stderr
    pushguard: [staging] HEAD → origin/staging (create at [SHORT])
    pushguard: tests: running `echo compiling; echo 'assertion failed: 1 == 2' >&2; exit 3` in [TMP]/work/.git/pushguard/worktree
      ✓ no-delete            the branch is not deleted
      ✓ fast-forward         creates the branch
      ✓ clean-worktree       no uncommitted changes to tracked files
      ✓ no-wip               no work-in-progress commits among 1 commit pushed
      ✓ no-conflict-markers  no conflict markers added by this push
      ✗ tests                `echo compiling; echo 'assertion failed: 1 == 2' >&2; exit 3` failed (exit 3) in [TMP]/work/.git/pushguard/worktree
          last lines of the output (full log: [TMP]/work/.git/pushguard/logs/tests-[SHORT].log):
          │ compiling
          │ assertion failed: 1 == 2
          hint: fix the failure and commit; `pushguard check <env>` runs the tests again before you push
      no terminal to ask on (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)
      hint: fix the failed checks, or bypass them with a justification (at least 15 characters; it is recorded):
          PUSHGUARD_BYPASS="<why this push cannot wait>" git push …
    pushguard: ✗ push to staging blocked: 1 check failed (tests)
    error: failed to push some refs to '[TMP]/remote.git'
    "#);
    let log = std::fs::read_dir(repo.work.join(".git/pushguard/logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("assertion failed"));
    assert_eq!(repo.remote_branch("staging"), None);
}

#[test]
fn passing_tests_are_cached_by_tree_and_not_run_twice() {
    let counter = tempfile::NamedTempFile::new().unwrap();
    let cmd = format!("\"echo ran >> {}\"", counter.path().display());
    let repo = gated(&cmd);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(0);
    assert!(run.stderr.contains("✓ tests"), "{}", run.stderr);
    assert_eq!(count(counter.path()), 1);
    // The same tree again (another branch of the environment, same commit): cached.
    repo.config(&config(&cmd, "").replace("[\"staging\"]", "[\"staging\", \"stage\"]"));
    let run = repo.push(&["origin", "HEAD:refs/heads/stage"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("passed before on this tree (cached)"),
        "{}",
        run.stderr
    );
    assert_eq!(count(counter.path()), 1, "the tests ran twice");
    // A new tree runs them again.
    repo.commit_file("b.txt", "b\n", "b");
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    assert_eq!(count(counter.path()), 2);
}

#[test]
fn tests_that_run_too_long_time_out() {
    let repo = TestRepo::guarded(
        &config(r#""sleep 30""#, "").replace("[tests]\n", "[tests]\ntimeout = \"1s\"\n"),
    );
    let start = Instant::now();
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(1);
    assert!(start.elapsed() < Duration::from_secs(15));
    assert!(
        run.stderr
            .contains("✗ tests                `sleep 30` timed out after 1s and was stopped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("raise [tests].timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn tests_run_git_on_the_pushed_commits_checkout() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let cmd = format!(
        "\"git rev-parse HEAD > {o}; git status --porcelain >> {o}; test -f second.txt && echo has-second >> {o}; true\"",
        o = out.path().display()
    );
    let repo = gated(&cmd);
    let first = repo.head();
    repo.commit_file("second.txt", "2\n", "second");
    repo.write("README", "dirty\n");
    // Push the commit before HEAD, from a dirty work tree.
    let run = repo.push(&["origin", "HEAD~1:refs/heads/staging"]);
    run.expect_code(0);
    let seen = std::fs::read_to_string(out.path()).unwrap();
    assert_eq!(seen, format!("{first}\n"), "the tests saw another checkout");
    // The repository that ran the hook is untouched.
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=no"]),
        " M README"
    );
    // The next run reuses the worktree, checked out at the new commit.
    repo.git(&["checkout", "-q", "README"]);
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let seen = std::fs::read_to_string(out.path()).unwrap();
    assert_eq!(seen, format!("{}\nhas-second\n", repo.head()));
}

#[test]
fn no_test_command_is_a_visible_skip() {
    let repo = gated("");
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("- tests                skip: no test command configured or detected"),
        "{}",
        run.stderr
    );
}

#[test]
fn detected_makefile_runs_in_place_when_head_is_clean() {
    let repo = gated("");
    repo.write("Makefile", "test:\n\tpwd > where.txt.out\n");
    repo.write(".gitignore", "*.out\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "make test"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("✓ tests                `make test` passed in"),
        "{}",
        run.stderr
    );
    let where_ = std::fs::read_to_string(repo.work.join("where.txt.out")).unwrap();
    assert_eq!(where_.trim(), repo.work.display().to_string());
}

#[test]
fn check_is_a_dry_run_that_caches_the_tests() {
    let repo = TestRepo::new();
    repo.install();
    let counter = repo.root.join("count");
    let cmd = format!("\"echo ran >> {}\"", counter.display());
    repo.config(&config(&cmd, ""));
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    let run = repo.pushguard(&["check", "staging"]);
    let text = repo.transcript(&run);
    let text = regex::Regex::new(r"passed in [0-9.]+s")
        .unwrap()
        .replace(&text, "passed in [TIME]");
    insta::assert_snapshot!(text, @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: [staging] HEAD → origin/staging (create at [SHORT])
    pushguard: tests: running `echo ran >> [TMP]/count` in [TMP]/work
      ✓ no-delete            the branch is not deleted
      ✓ fast-forward         creates the branch
      ✓ clean-worktree       no uncommitted changes to tracked files
      ✓ no-wip               no work-in-progress commits among 2 commits pushed
      ✓ no-conflict-markers  no conflict markers added by this push
      ✓ tests                `echo ran >> [TMP]/count` passed in [TIME]
    pushguard: ✓ a push to staging would pass the checks (dry run: nothing asked, nothing recorded)
    ");
    assert_eq!(count(&counter), 1);
    assert_eq!(repo.remote_branch("staging"), None);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(0);
    assert_eq!(count(&counter), 1, "the push ran the tests again");
    // production: not yet fetched from staging? It is: the push updated origin/staging.
    repo.pushguard(&["check", "production"]).expect_code(0);
    repo.commit_file("fix.txt", "fix\n", "hotfix");
    let run = repo.pushguard(&["check", "production", "--rev", "HEAD"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("would be blocked: 1 check failed (promoted)"),
        "{}",
        run.stderr
    );
    let run = repo.pushguard(&["check", "nowhere"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("`nowhere` is neither an environment nor an environment branch\nhint: environments: staging, production"),
        "{}",
        run.stderr
    );
}

#[test]
fn status_shows_hook_config_environments_and_tests() {
    let repo = gated("\"true\"");
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    repo.push_unguarded("HEAD~1:refs/heads/production");
    repo.commit("two");
    repo.push_unguarded("HEAD:refs/heads/staging");
    let run = repo.pushguard(&["status"]);
    let text = repo.transcript(&run);
    let text = regex::Regex::new(r"`[^`]*/\.pushguard\.toml`")
        .unwrap()
        .replace(&text, "[CONFIG]");
    insta::assert_snapshot!(text, @r"
    exit: 0
    --- stdout
    hook:    [TMP]/work/.git/hooks/pre-push — installed, current
    path:    git runs pushguard's pre-push hook (prove it with `pushguard doctor`)
    config:  built-in default + repository config [CONFIG]
    remote:  origin (as last fetched)
    environments:
      staging      origin/staging          [SHORT]  two
      production   origin/production       [SHORT]  initial commit
      staging is 2 commits ahead of production
    tests:   HEAD's tree has not passed `true` yet (`pushguard check <env>` runs it)
    signing: no SSH signing key: `gpg.format` is not set
    allowed signers: none configured ([trust] allowed_signers or gpg.ssh.allowedSignersFile)
    --- stderr
    ");
    repo.pushguard(&["check", "staging"]).expect_code(0);
    let run = repo.pushguard(&["status"]);
    assert!(
        run.stdout.contains("tests:   HEAD's tree passed (true)"),
        "{}",
        run.stdout
    );
}

#[test]
fn ctrl_c_during_tests_kills_their_process_group_and_blocks() {
    let repo = TestRepo::new();
    repo.install();
    let pidfile = repo.root.join("pid");
    // The child `sleep` is in the tests' process group; it must die with it.
    let cmd = format!(
        "\"sleep 60 & echo $! > {}; echo ready-$((40+2)); wait\"",
        pidfile.display()
    );
    repo.config(&config(&cmd, ""));
    // As from an interactive shell: the shell, not git, leads the terminal's session, so
    // the terminal stays open when git dies of Ctrl-C (a trap, unlike an ignore, is not
    // inherited by git and the hook).
    let mut git = repo.command("sh");
    git.env_remove("PUSHGUARD_NONINTERACTIVE")
        .args(["-c", "trap : INT; git push origin HEAD:refs/heads/staging"]);
    let mut session = expectrl::Session::spawn(git).expect("spawn git push in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session
        .expect("ready-42")
        .expect("the spinner shows the last output line");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    session.send("\x03").unwrap();
    session
        .expect("was interrupted (Ctrl-C); the push is blocked")
        .expect("the report says the tests were interrupted");
    session.expect(expectrl::Eof).expect("git push ends");
    let proc_path = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Gone, or a zombie waiting for init to reap it.
        let state = std::fs::read_to_string(&proc_path).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tests' child survived Ctrl-C: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(repo.remote_branch("staging"), None);
}

#[test]
fn concurrent_test_runs_in_one_clone_take_turns_in_the_shared_worktree() {
    // Both checks need the reusable worktree (neither commit is HEAD). The command reads a
    // file, waits, and reads it again: if the second run checked out its commit in the
    // middle of the first, the first would see its file change under it.
    let cmd = r#""a=$(cat id.txt); sleep 1; test \"$a\" = \"$(cat id.txt)\"""#;
    let repo = gated(cmd);
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "config"]);
    let a = repo.commit_file("id.txt", "a\n", "a");
    let b = repo.commit_file("id.txt", "b\n", "b");
    repo.commit("head elsewhere");
    // Both are stopped even if the test fails before waiting for one of them.
    let spawn = |rev: &str| {
        crate::support::Reaped::group(
            std::os::unix::process::CommandExt::process_group(
                repo.command(crate::support::bin())
                    .args(["check", "staging", "--rev", rev])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped()),
                0,
            )
            .spawn()
            .unwrap(),
        )
    };
    let first = spawn(&a);
    let second = spawn(&b);
    for child in [first, second] {
        let out = child.wait_with_output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("✓ tests"), "{err}");
    }
}
