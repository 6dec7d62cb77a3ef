//! Which configuration applies where (issue 9, item 5): a clone pushed with `--git-dir` from
//! another directory, a bare repository's `pushguard.toml` for `config --check` and the
//! server hooks, `PUSHGUARD_CONFIG` on a server, and the broken-config hints for every
//! command. Every test pushes for real or runs the real binary.

use std::path::Path;

use crate::support::{Run, TestRepo};

/// `live` is an environment only in this clone's `.pushguard.toml`.
const LIVE: &str =
    "[environments.live]\nbranches = [\"live\"]\nconfirm = true\nchecks = [\"no-delete\"]\n";

/// `git --git-dir=<git_dir> push origin <refspec>`, started in a directory with no config.
fn push_from_elsewhere(repo: &TestRepo, git_dir: &Path, refspec: &str) -> Run {
    let elsewhere = repo.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("create a directory outside the clone");
    Run::from_output(
        repo.command("git")
            .current_dir(&elsewhere)
            .arg("--git-dir")
            .arg(git_dir)
            .args(["push", "origin", refspec])
            .output()
            .expect("run git push"),
    )
}

#[test]
fn regression_week1_3_git_dir_push_from_another_directory_uses_the_clones_config() {
    let repo = TestRepo::guarded(LIVE);
    let git_dir = repo.work.join(".git");

    let run = push_from_elsewhere(&repo, &git_dir, "HEAD:refs/heads/live");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("push to live blocked"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("live"), None);

    // An ordinary branch still goes through untouched.
    push_from_elsewhere(&repo, &git_dir, "HEAD:refs/heads/feature").expect_code(0);
    assert_eq!(repo.remote_branch("feature"), Some(repo.head()));
}

#[test]
fn regression_week1_3_git_dir_push_uses_the_configured_core_worktree() {
    let repo = TestRepo::guarded(LIVE);
    // The git directory lives apart from its work tree, which `core.worktree` names
    // (relative to the git directory, as git reads it).
    let git_dir = repo.root.join("meta.git");
    std::fs::rename(repo.work.join(".git"), &git_dir).expect("move the git directory");
    repo.git_in(
        &repo.root,
        &[
            "--git-dir",
            git_dir.to_str().expect("utf-8 path"),
            "config",
            "core.worktree",
            "../work",
        ],
    );

    let run = push_from_elsewhere(&repo, &git_dir, "HEAD:refs/heads/live");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("push to live blocked"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("live"), None);
}

#[test]
fn regression_week1_9_config_check_in_a_bare_repository_validates_pushguard_toml() {
    let repo = TestRepo::new();
    let file = repo.remote.join("pushguard.toml");
    std::fs::write(&file, "[bypass]\nmin_lenght = 3\n").expect("write the server config");
    let run = repo.pushguard_in(&repo.remote, &["config", "--check"]);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 2
    --- stdout
    --- stderr
    pushguard: error: the pushguard configuration on the server is invalid, so every push is refused (pushguard cannot tell which branches are environments)
      caused by: [TMP]/remote.git/pushguard.toml:2:1: unknown field `min_lenght`, expected one of `min_length`, `bypass_by`, `ticket`, `review_within`
          |
        2 | min_lenght = 3
          | ^^^^^^^^^^
    hint: the server's administrator fixes it: `pushguard config --check` in the repository shows the error
    ");

    std::fs::write(&file, "[bypass]\nmin_length = 30\n").expect("write the server config");
    let run = repo.pushguard_in(&repo.remote, &["config", "--check"]);
    run.expect_code(0);
    assert!(
        repo.redact(&run.stderr)
            .contains("repository config `[TMP]/remote.git/pushguard.toml`"),
        "{}",
        run.stderr
    );
    let run = repo.pushguard_in(&repo.remote, &["config"]);
    assert!(
        run.stdout
            .contains("min_length = 30  # from the repository config"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_trail_server_config_pushguard_config_layers_under_the_repository_file() {
    let repo = TestRepo::new();
    // The repository's own file makes `live` an environment; the site-wide file named by
    // PUSHGUARD_CONFIG raises the justification's minimum for every repository.
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        "[environments.live]\nbranches = [\"live\"]\nconfirm = false\nchecks = [\"no-delete\", \"no-wip\"]\n",
    )
    .expect("write the repository config");
    let site = repo.root.join("site.toml");
    std::fs::write(&site, "[bypass]\nmin_length = 40\n").expect("write the site config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo.commit("WIP: half done");
    let site = site.to_str().expect("utf-8 path");
    let push = |why: &str| {
        Run::from_output(
            repo.command("git")
                .env("PUSHGUARD_CONFIG", site)
                .args(["push", "-o", &format!("bypass={why}")])
                .args(["origin", "HEAD:refs/heads/live"])
                .output()
                .expect("run git push"),
        )
    };

    let run = push("the demo needs it now");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no-wip"), "{}", run.stderr);
    assert!(run.stderr.contains("at least 40 needed"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("live"), None);

    push("the demo for the customer starts in ten minutes").expect_code(0);
    assert_eq!(repo.remote_branch("live"), Some(repo.head()));

    let out = Run::from_output(
        repo.command(crate::support::bin())
            .current_dir(&repo.remote)
            .env("PUSHGUARD_CONFIG", site)
            .args(["config", "--check"])
            .output()
            .expect("run pushguard"),
    );
    out.expect_code(0);
    assert!(
        repo.redact(&out.stderr).contains(
            "built-in default, `[TMP]/site.toml` (from PUSHGUARD_CONFIG), repository config `[TMP]/remote.git/pushguard.toml`"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn regression_week1_11_overlap_error_puts_the_caret_under_the_overlapping_entry() {
    let repo = TestRepo::new();
    repo.config(
        "[environments.development]\nbranches = [\"develop\", \"development\", \"dev\"]\n\n[environments.staging]\nbranches = [\"staging\", \"development\"]\n",
    );
    let run = repo.pushguard(&["config", "--check"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 2
    --- stdout
    --- stderr
    pushguard: error: the pushguard configuration is invalid, so every push is blocked (pushguard cannot tell which branches are environments)
      caused by: [TMP]/work/.pushguard.toml:5:24: branch glob `development` of environment `staging` overlaps environment `development` (develop, development, dev); a branch must belong to one environment
          |
        5 | branches = ["staging", "development"]
          |                        ^^^^^^^^^^^^^
    hint: fix the file (`pushguard config --check` shows the error again), then push again
    hint: or skip the guard with `git push --no-verify`: that push is NOT recorded and shows up in `pushguard audit`
    "#);
}

#[test]
fn regression_issue_9_every_command_shows_the_broken_config_hints() {
    let repo = TestRepo::new();
    repo.config("[bypass]\nmin_length = \"long\"\n");
    for args in [
        &["approve", "HEAD", "--env", "production"][..],
        &["audit"],
        &["confirm", "production", "--consulted", "Ada Lead"],
        &["status"],
        &["check", "production"],
    ] {
        let run = repo.pushguard(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(".pushguard.toml:2:14: invalid type: string \"long\", expected usize")
                && run.stderr.contains(
                    "hint: fix the file (`pushguard config --check` shows the error again), then push again"
                ),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn regression_issue_9_a_broken_server_config_refuses_pushes_with_the_located_error() {
    let repo = TestRepo::new();
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        "[environments.live]\nbranches = [\"live\"]\nchecks = [\"no-delte\"]\n",
    )
    .expect("write the server config");
    let run = repo.push(&["origin", "HEAD:refs/heads/live"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let stderr = repo.redact(&run.stderr);
    assert!(
        stderr.contains("remote: pushguard: error: the pushguard configuration on the server is invalid, so every push is refused")
            && stderr.contains("[TMP]/remote.git/pushguard.toml:3:11: unknown variant `no-delte`")
            && stderr.contains("remote: hint: the server's administrator fixes it: `pushguard config --check` in the repository shows the error"),
        "{stderr}"
    );
    assert_eq!(repo.remote_branch("live"), None);
}
