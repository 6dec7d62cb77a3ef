//! `pushguard install` / `uninstall`: hooks directory resolution, idempotence, chaining.

use std::os::unix::fs::PermissionsExt;

use crate::support::TestRepo;

#[test]
fn install_writes_an_executable_hook_and_a_second_install_changes_nothing() {
    let repo = TestRepo::new();
    let run = repo.pushguard(&["install"]);
    run.expect_code(0);
    insta::assert_snapshot!(repo.transcript(&run), @r"
    exit: 0
    --- stdout
    --- stderr
    pushguard: installed the pre-push hook: [TMP]/work/.git/hooks/pre-push
    pushguard: none of origin's branches (as last fetched) is an environment yet: only pushes that create one go through the gate
      environments with no branch on origin: development (develop, development, dev), staging (staging, stage), production (production, prod, main, master)
    hint: these are the built-in defaults; to change which branches are environments, run `pushguard init` (writes .pushguard.toml mapped to origin's branches) and edit it; `pushguard config` shows what is in force
    ");
    let hook = repo.work.join(".git/hooks/pre-push");
    let first = std::fs::read(&hook).unwrap();
    let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "hook must be executable");
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("# pushguard-managed-hook"));
    assert!(text.contains(&crate::support::bin().display().to_string()));

    let run = repo.pushguard(&["install"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("already installed and current"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&hook).unwrap(), first);
}

#[test]
fn foreign_hook_is_chained_runs_after_an_allowed_push_and_is_restored() {
    let repo = TestRepo::new();
    let hooks = repo.work.join(".git/hooks");
    let marker = repo.root.join("chained-ran");
    let foreign = format!(
        "#!/bin/sh\necho \"args: $1 $2\" > '{}'\ncat >> '{}'\nexit 0\n",
        marker.display(),
        marker.display()
    );
    std::fs::write(hooks.join("pre-push"), &foreign).unwrap();
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let run = repo.pushguard(&["install"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("kept the existing hook as"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push.pushguard-chained")).unwrap(),
        foreign
    );

    // An ordinary push: the chained hook runs with the same arguments and stdin.
    repo.push(&["origin", "HEAD:refs/heads/feature"])
        .expect_code(0);
    let seen = std::fs::read_to_string(&marker).unwrap();
    let head = repo.head();
    assert_eq!(
        repo.redact(&seen),
        repo.redact(&format!(
            "args: origin {remote}\nHEAD {head} refs/heads/feature {zero}\n",
            remote = repo.remote.display(),
            zero = "0".repeat(40)
        ))
    );

    // Installing again keeps the single chained hook.
    repo.pushguard(&["install"]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push.pushguard-chained")).unwrap(),
        foreign
    );

    let run = repo.pushguard(&["uninstall"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("restored the hook it had chained"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push")).unwrap(),
        foreign
    );
    assert!(!hooks.join("pre-push.pushguard-chained").exists());
}

#[test]
fn failing_chained_hook_blocks_the_push() {
    let repo = TestRepo::new();
    let hooks = repo.work.join(".git/hooks");
    std::fs::write(
        hooks.join("pre-push"),
        "#!/bin/sh\necho 'lint failed' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    repo.install();
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("lint failed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("exited with status 3"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("feature"), None);
}

#[test]
fn uninstall_removes_only_our_hook() {
    let repo = TestRepo::new();
    repo.install();
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(!repo.work.join(".git/hooks/pre-push").exists());
    // A foreign hook is left alone.
    let hook = repo.work.join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    let run = repo.pushguard(&["uninstall"]);
    run.expect_code(0);
    assert!(run.stderr.contains("nothing to do"), "{}", run.stderr);
    assert!(hook.exists());
}

#[test]
fn relative_core_hooks_path_is_resolved_from_the_work_tree_top() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    std::fs::create_dir_all(repo.work.join("sub")).unwrap();
    let run = repo
        .command(crate::support::bin())
        .args(["install"])
        .current_dir(repo.work.join("sub"))
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(repo.work.join(".githooks/pre-push").is_file());
    // git runs it from there: a force push to production is blocked.
    repo.commit("two");
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit("rewritten");
    let run = repo.push(&["-f", "origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not a fast-forward"), "{}", run.stderr);
}

#[test]
fn absolute_core_hooks_path() {
    let repo = TestRepo::new();
    let dir = repo.root.join("shared-hooks");
    repo.git(&["config", "core.hooksPath", dir.to_str().unwrap()]);
    repo.install();
    assert!(dir.join("pre-push").is_file());
}

#[test]
fn linked_worktrees_share_the_hook() {
    let repo = TestRepo::new();
    repo.install();
    let wt = repo.root.join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    // install from the worktree finds the same hook, already current.
    let run = repo
        .command(crate::support::bin())
        .arg("install")
        .current_dir(&wt)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("already installed and current"));
    // A delete of production from the worktree is gated (GIT_DIR is the worktree's).
    repo.push_unguarded("HEAD:refs/heads/production");
    let out = repo
        .command("git")
        .args(["push", "origin", ":production"])
        .current_dir(&wt)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deletes the environment branch"));
    assert!(repo.remote_branch("production").is_some());
}

#[test]
fn missing_binary_blocks_the_push_with_the_way_out() {
    let repo = TestRepo::new();
    repo.install();
    let hook = repo.work.join(".git/hooks/pre-push");
    let text = std::fs::read_to_string(&hook).unwrap().replace(
        &crate::support::bin().display().to_string(),
        "/nonexistent/pushguard",
    );
    std::fs::write(&hook, text).unwrap();
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("cannot find the pushguard binary"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: reinstall it"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("feature"), None);
}

#[test]
fn unwritable_hooks_directory_is_a_clear_error() {
    let repo = TestRepo::new();
    let hooks = repo.work.join(".git/hooks");
    // Permissions do not stop root, so make the hook's temp file impossible to create too.
    std::fs::create_dir_all(hooks.join(".pre-push.pushguard-tmp/x")).unwrap();
    std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = repo.pushguard(&["install"]);
    std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o755)).unwrap();
    run.expect_code(2);
    assert!(
        run.stderr.contains("failed to write the hook"),
        "{}",
        run.stderr
    );
    assert!(!hooks.join("pre-push").exists());
}

#[test]
fn install_outside_a_clone_fails_with_a_hint() {
    let repo = TestRepo::new();
    let outside = repo.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let out = repo
        .command(crate::support::bin())
        .arg("install")
        .current_dir(&outside)
        .env("GIT_CEILING_DIRECTORIES", &repo.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "is not inside a git clone\nhint: run pushguard inside the clone you push from"
        ),
        "{err}"
    );
}
