//! Living beside hook managers (issue 12): the real husky, lefthook, pre-commit and prek,
//! installed by `scripts/install-managers.sh` into `target/managers/` (or
//! `$PUSHGUARD_TEST_MANAGERS`), in both install orders and after the manager's own
//! re-install; a push to an environment is gated, the manager's own hook still runs, and
//! `pushguard doctor` says whether the guard is in the path.
//!
//! The tests that run a manager are `#[ignore]`d (issue 22, item 10): plain `cargo test`
//! lists them as ignored rather than passing without running them, and
//! `cargo test -- --include-ignored` (or `-- --ignored`, as `.ci/run` does after the script) runs them, failing
//! when a manager is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Run, TestRepo};

pub(crate) const CONFIG: &str = r#"
[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete"]
"#;

/// Where `scripts/install-managers.sh` put the managers.
fn managers_dir() -> PathBuf {
    std::env::var_os("PUSHGUARD_TEST_MANAGERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/managers"))
}

/// The manager's executable; a test that needs one that is not installed fails (it is run
/// only with `--include-ignored`, after `sh scripts/install-managers.sh`).
#[track_caller]
pub(crate) fn manager(tool: &str) -> PathBuf {
    let dir = managers_dir();
    let path = match tool {
        "pre-commit" | "prek" => dir.join("venv/bin").join(tool),
        "husky8" => dir.join("npm-husky8/node_modules/.bin/husky"),
        "husky4" => dir.join("npm-husky4/node_modules/husky/husky.js"),
        _ => dir.join("npm/node_modules/.bin").join(tool),
    };
    assert!(
        path.exists(),
        "{tool} is not installed at {}: run `sh scripts/install-managers.sh` first",
        path.display()
    );
    path
}

pub(crate) fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run command");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a manager's executable in the work clone.
#[track_caller]
pub(crate) fn tool(repo: &TestRepo, exe: &Path, args: &[&str]) -> Run {
    let mut cmd = repo.command(exe);
    cmd.args(args);
    let r = run(cmd);
    r.expect_code(0);
    r
}

/// `git push` with extra environment variables.
pub(crate) fn push_with(repo: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = repo.command("git");
    cmd.arg("push").args(args).envs(env.iter().copied());
    run(cmd)
}

pub(crate) fn marker(repo: &TestRepo) -> PathBuf {
    repo.root.join("manager-hook-ran")
}

/// Lines the manager's own hook wrote, then forgets them.
pub(crate) fn take_marker(repo: &TestRepo) -> String {
    let text = std::fs::read_to_string(marker(repo)).unwrap_or_default();
    let _ = std::fs::remove_file(marker(repo));
    text
}

/// The checks every manager must pass once pushguard is in its path: a feature push runs
/// the manager's own hook and passes; a production push is blocked without confirmation
/// (remote unchanged) and allowed with it; doctor exits 0 naming the manager.
#[track_caller]
pub(crate) fn assert_gated(repo: &TestRepo, via: &str, step: &str) {
    take_marker(repo);
    let tip = repo.commit_file(&format!("{step}.txt"), step, &format!("work for {step}"));
    let r = repo.push(&["origin", &format!("HEAD:refs/heads/feature-{step}")]);
    r.expect_code(0);
    assert!(
        take_marker(repo).contains("manager-hook"),
        "{step}: the manager's own hook did not run on a feature push\n{}",
        r.stderr
    );
    assert_eq!(
        repo.remote_branch(&format!("feature-{step}")).as_deref(),
        Some(tip.as_str())
    );

    let before = repo.remote_branch("production");
    let r = repo.push(&["origin", "HEAD:production"]);
    assert_ne!(
        r.code, 0,
        "{step}: production push passed ungated\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("push to production blocked"),
        "{step}: {}",
        r.stderr
    );
    assert_eq!(repo.remote_branch("production"), before, "{step}");

    let r = push_with(
        repo,
        &["origin", "HEAD:production"],
        &[("PUSHGUARD_CONSULTED", "Ada Lead")],
    );
    r.expect_code(0);
    assert!(
        r.stderr.contains("consulted Ada Lead"),
        "{step}: {}",
        r.stderr
    );
    assert_eq!(
        repo.remote_branch("production").as_deref(),
        Some(tip.as_str())
    );

    let r = repo.pushguard(&["doctor"]);
    assert_eq!(r.code, 0, "{step}: doctor\n{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("reached pushguard, through {via}")),
        "{step}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("ref lines arrived intact"),
        "{step}: {}",
        r.stderr
    );
    let status = repo.pushguard(&["status"]);
    assert!(
        !status.stdout.contains("NOT GATED"),
        "{step}: {}",
        status.stdout
    );
    take_marker(repo);
}

/// Asserts that doctor and status both say the guard is out of the path.
#[track_caller]
pub(crate) fn assert_not_gated(repo: &TestRepo, step: &str) {
    let r = repo.pushguard(&["doctor"]);
    assert_eq!(r.code, 1, "{step}: doctor\n{}", r.stderr);
    assert!(
        r.stderr.contains("did not reach pushguard"),
        "{step}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: run `pushguard install`"),
        "{step}: {}",
        r.stderr
    );
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("NOT GATED"),
        "{step}: {}",
        status.stdout
    );
}

pub(crate) fn husky_repo() -> TestRepo {
    let repo = TestRepo::new();
    let mark = marker(&repo);
    repo.write(
        "package.json",
        "{\"name\": \"app\", \"scripts\": {\"prepare\": \"husky\"}, \"devDependencies\": {\"husky\": \"9.1.7\"}}\n",
    );
    repo.write(
        ".husky/pre-push",
        &format!(
            "echo manager-hook \"$1\" >> '{m}'\ncat >> '{m}'\n",
            m = mark.display()
        ),
    );
    repo.git(&["add", "package.json", ".husky/pre-push"]);
    repo.git(&["commit", "-q", "-m", "husky"]);
    repo.config(CONFIG);
    repo
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn husky_issue_12_gated_in_both_install_orders_and_after_npm_install() {
    let husky = manager("husky");
    // husky first (as `npm install` runs its prepare script), then pushguard.
    let repo = husky_repo();
    tool(&repo, &husky, &[]);
    repo.install();
    let script = repo.work.join(".husky/pre-push");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("# >>> pushguard"), "{text}");
    assert!(text.ends_with(&format!("cat >> '{}'\n", marker(&repo).display())));
    assert!(!repo
        .work
        .join(".husky/_/pre-push.pushguard-chained")
        .exists());
    assert_gated(&repo, "husky", "husky-first");
    // The commands after pushguard's block still read git's ref lines.
    repo.push(&["origin", "HEAD:refs/heads/stdin-check"])
        .expect_code(0);
    let seen = take_marker(&repo);
    assert!(seen.contains(" refs/heads/stdin-check "), "{seen}");

    // `npm install` again rewrites .husky/_: pushguard is still in the path.
    tool(&repo, &husky, &[]);
    assert_gated(&repo, "husky", "husky-reinstalled");

    // Out of the path: the user script without pushguard's block.
    std::fs::write(
        &script,
        format!("echo manager-hook >> '{}'\n", marker(&repo).display()),
    )
    .unwrap();
    assert_not_gated(&repo, "husky block removed");
    repo.install();
    assert_gated(&repo, "husky", "husky-repaired");

    // uninstall gives the user script back as it was.
    repo.git(&["checkout", "--", ".husky/pre-push"]);
    repo.install();
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert_eq!(repo.git(&["status", "--porcelain", ".husky"]), "");

    // pushguard first (husky set up in the project, not yet in this clone), then husky.
    let repo = husky_repo();
    repo.install();
    let r = repo.push(&["origin", "HEAD:production"]);
    assert!(
        r.stderr.contains("push to production blocked"),
        "{}",
        r.stderr
    );
    tool(&repo, &husky, &[]);
    assert_gated(&repo, "husky", "then-husky");
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(!repo.work.join(".git/hooks/pre-push").exists());
    assert_eq!(repo.git(&["status", "--porcelain", ".husky"]), "");

    // The block is committed; a teammate's clone without pushguard says so and is not gated.
    let repo = husky_repo();
    tool(&repo, &husky, &[]);
    repo.install();
    repo.git(&["commit", "-q", "-am", "Run pushguard from husky's pre-push"]);
    repo.push_unguarded("HEAD:refs/heads/shared");
    let mate = repo.clone_as("mate", "Mo Mate", "mo@example.com");
    repo.git_in(&mate, &["checkout", "-q", "shared"]);
    let mut cmd = repo.command(&husky);
    cmd.current_dir(&mate);
    run(cmd).expect_code(0);
    let mut cmd = repo.command("git");
    cmd.current_dir(&mate)
        .args(["push", "origin", "HEAD:refs/heads/mate-feature"]);
    let r = run(cmd);
    r.expect_code(0);
    assert!(
        r.stderr.contains("pushguard: not installed in this clone"),
        "{}",
        r.stderr
    );
}

pub(crate) fn lefthook_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "lefthook.yml",
        &format!(
            "pre-push:\n  commands:\n    own:\n      run: echo manager-hook >> '{}'\n",
            marker(&repo).display()
        ),
    );
    repo.git(&["add", "lefthook.yml"]);
    repo.git(&["commit", "-q", "-m", "lefthook"]);
    repo.config(CONFIG);
    repo
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn lefthook_issue_12_gated_in_both_install_orders_and_after_a_resync() {
    let lefthook = manager("lefthook");
    // lefthook first, then pushguard.
    let repo = lefthook_repo();
    tool(&repo, &lefthook, &["install"]);
    repo.install();
    let local = std::fs::read_to_string(repo.work.join("lefthook-local.yml")).unwrap();
    assert!(
        local.contains("use_stdin: true") && local.contains("no_tty: true"),
        "{local}"
    );
    assert_gated(&repo, "lefthook", "lefthook-first");

    // Deleting production is a push without changed files: lefthook must still run pushguard.
    let r = repo.push(&["origin", ":production"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no-delete"), "{}", r.stderr);
    assert!(repo.remote_branch("production").is_some());

    // Someone edits lefthook.yml: lefthook re-syncs its hooks at the next run.
    let edited = format!(
        "pre-push:\n  commands:\n    own:\n      run: echo manager-hook >> '{}'\n    other:\n      run: 'true'\n",
        marker(&repo).display()
    );
    repo.commit_file("lefthook.yml", &edited, "lefthook: one more command");
    assert_gated(&repo, "lefthook", "lefthook-resynced");

    // Out of the path: the per-clone config gone.
    std::fs::remove_file(repo.work.join("lefthook-local.yml")).unwrap();
    assert_not_gated(&repo, "lefthook-local.yml removed");
    repo.install();
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(!repo.work.join("lefthook-local.yml").exists());

    // pushguard first; lefthook's install then renames pushguard's hook to pre-push.old.
    let repo = lefthook_repo();
    repo.install();
    tool(&repo, &lefthook, &["install"]);
    assert!(repo.work.join(".git/hooks/pre-push.old").exists());
    assert_gated(&repo, "lefthook", "pushguard-first");

    // The committed snippet for the whole team.
    let r = repo.pushguard(&["install", "--print"]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("run: 'PUSHGUARD_VIA=lefthook pushguard hook pre-push {1} {2} # {files}'"),
        "{}",
        r.stdout
    );
}

pub(crate) fn pre_commit_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n- repo: local\n  hooks:\n  - id: own\n    name: own\n    entry: sh -c \"echo manager-hook >> '{}'\"\n    language: system\n    stages: [pre-push]\n    always_run: true\n    pass_filenames: false\n",
            marker(&repo).display()
        ),
    );
    repo.git(&["add", ".pre-commit-config.yaml"]);
    repo.git(&["commit", "-q", "-m", "pre-commit"]);
    repo.config(CONFIG);
    repo
}

fn pre_commit_family(name: &str) {
    let exe = manager(name);
    let install = ["install", "--hook-type", "pre-push"];
    // The manager first, then pushguard: pushguard becomes its legacy hook.
    let repo = pre_commit_repo();
    tool(&repo, &exe, &install);
    repo.install();
    let hooks = repo.work.join(".git/hooks");
    assert!(std::fs::read_to_string(hooks.join("pre-push.legacy"))
        .unwrap()
        .contains("# pushguard-managed-hook"));
    assert!(!hooks.join("pre-push.pushguard-chained").exists());
    assert_gated(
        &repo,
        &format!("{name} (legacy hook)"),
        &format!("{name}-first"),
    );

    // The manager's re-install keeps its legacy hook.
    tool(&repo, &exe, &install);
    assert_gated(
        &repo,
        &format!("{name} (legacy hook)"),
        &format!("{name}-reinstalled"),
    );

    // `install -f` drops the legacy hook: out of the path, and doctor says so.
    tool(&repo, &exe, &["install", "-f", "--hook-type", "pre-push"]);
    assert_not_gated(&repo, &format!("{name} install -f"));
    repo.install();
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(!hooks.join("pre-push.legacy").exists());

    // pushguard first, then the manager (which moves pushguard's hook to pre-push.legacy).
    let repo = pre_commit_repo();
    repo.install();
    tool(&repo, &exe, &install);
    assert_gated(
        &repo,
        &format!("{name} (legacy hook)"),
        &format!("{name}-second"),
    );
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn pre_commit_issue_12_gated_in_both_install_orders_and_after_reinstall() {
    pre_commit_family("pre-commit");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn prek_issue_12_gated_in_both_install_orders_and_after_reinstall() {
    pre_commit_family("prek");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn pre_commit_chained_by_an_older_install_never_runs_in_migration_mode_issue_12() {
    let exe = manager("pre-commit");
    let repo = pre_commit_repo();
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    // What an earlier pushguard did: chain pre-commit's script behind its own hook.
    let hooks = repo.work.join(".git/hooks");
    std::fs::rename(
        hooks.join("pre-push"),
        hooks.join("pre-push.pushguard-chained"),
    )
    .unwrap();
    std::fs::write(
        hooks.join("pre-push"),
        pushguard::install::hook_text(&crate::support::bin()),
    )
    .unwrap();
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // pre-commit's re-install moves pushguard to pre-push.legacy: the chained copy of
    // pre-commit's script must not run in migration mode (every push would fail).
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    let r = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    r.expect_code(0);
    assert!(!r.stderr.contains("migration mode"), "{}", r.stderr);
    assert!(take_marker(&repo).contains("manager-hook"));
    // pushguard install cleans the layout up.
    repo.install();
    assert!(!hooks.join("pre-push.pushguard-chained").exists());
    assert_gated(&repo, "pre-commit (legacy hook)", "repaired");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn pushguard_as_a_pre_commit_stage_hook_refuses_issue_12() {
    let exe = manager("pre-commit");
    let repo = TestRepo::new();
    repo.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n- repo: local\n  hooks:\n  - id: pushguard\n    name: pushguard\n    entry: {} hook pre-push origin origin\n    language: system\n    stages: [pre-push]\n    always_run: true\n    pass_filenames: false\n",
            crate::support::bin().display()
        ),
    );
    repo.git(&["add", ".pre-commit-config.yaml"]);
    repo.git(&["commit", "-q", "-m", "pre-commit"]);
    repo.config(CONFIG);
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    let r = repo.push(&["origin", "HEAD:production"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    // pre-commit shows a failing hook's output on its stdout, which git passes through.
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("refusing to run as a pre-commit/prek `pre-push` stage hook"),
        "{out}"
    );
    assert!(repo.remote_branch("production").is_none());
    let r = repo.pushguard(&["doctor"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("ran as a pre-commit/prek stage hook"),
        "{}",
        r.stderr
    );
}

#[test]
fn stage_hook_variables_with_empty_stdin_block_but_plain_empty_stdin_passes_issue_12() {
    let repo = TestRepo::guarded(CONFIG);
    let hook = ["hook", "pre-push", "origin", "origin"];
    repo.pushguard_with(&hook, Some(b""), &[]).expect_code(0);
    let r = repo.pushguard_with(
        &hook,
        Some(b""),
        &[("PRE_COMMIT_REMOTE_BRANCH", "refs/heads/production")],
    );
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("hint: remove pushguard from .pre-commit-config.yaml"),
        "{}",
        r.stderr
    );
}

#[test]
fn doctor_without_a_manager_and_a_probe_only_ever_blocks_issue_12() {
    let repo = TestRepo::guarded(CONFIG);
    let r = repo.pushguard(&["doctor"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("through git's pre-push hook in"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the guard is effective"), "{}", r.stderr);
    // A probe token never lets anything through, even an ordinary push with consent given.
    let r = push_with(
        &repo,
        &["origin", "HEAD:refs/heads/feature"],
        &[
            ("PUSHGUARD_PROBE", "0123456789abcdef0123456789abcdef"),
            ("PUSHGUARD_CONSULTED", "Ada Lead"),
        ],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(repo.remote_branch("feature").is_none());
    // Nothing was left behind by doctor's probe.
    let doctor_dir = repo.work.join(".git/pushguard/doctor");
    assert_eq!(
        std::fs::read_dir(&doctor_dir)
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert_not_gated(&repo, "uninstalled");
}

/// A `PATH` whose `git` answers `git version` with `version` and runs the real git otherwise.
fn git_claiming(repo: &TestRepo, version: &str) -> String {
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fake = repo.root.join(format!("fake-git-{version}"));
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(
        fake.join("git"),
        format!("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'git version {version}'; exit 0; fi\nexec '{}' \"$@\"\n", real.trim()),
    )
    .unwrap();
    std::fs::set_permissions(
        fake.join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    format!(
        "{}:{}",
        fake.display(),
        crate::support::hermetic_path().to_string_lossy()
    )
}

#[test]
fn config_hooks_need_git_2_54_issue_12() {
    // Whatever git this machine has, the refusal is tested against a git that says 2.53
    // (issue 22, item 10: it never skips).
    let repo = TestRepo::new();
    let mut cmd = repo.command(crate::support::bin());
    cmd.args(["install", "--config-hooks"])
        .env("PATH", git_claiming(&repo, "2.53.0"));
    let r = run(cmd);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("config-based hooks need git >= 2.54; this is git version 2.53.0"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: run `pushguard install` without --config-hooks"),
        "{}",
        r.stderr
    );
    assert_eq!(
        repo.try_git(&["config", "--get", "hook.pushguard.command"])
            .code,
        1
    );

    // The config that a git >= 2.54 gets: real git writes it; only `git version` answers
    // 2.54 (this machine's git may not run config-based hooks, so none is pushed through).
    repo.install();
    let mut cmd = repo.command(crate::support::bin());
    cmd.args(["install", "--config-hooks"])
        .env("PATH", git_claiming(&repo, "2.54.0"));
    let r = run(cmd);
    r.expect_code(0);
    assert_eq!(
        repo.git(&["config", "--get", "hook.pushguard.command"]),
        format!("'{}' hook pre-push", crate::support::bin().display())
    );
    assert_eq!(
        repo.git(&["config", "--get", "hook.pushguard.event"]),
        "pre-push"
    );
    assert!(
        !repo.work.join(".git/hooks/pre-push").exists(),
        "the hook file would gate twice"
    );
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert_eq!(
        repo.try_git(&["config", "--get-regexp", "^hook\\.pushguard\\."])
            .code,
        1
    );
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn lefthook_team_snippet_from_install_print_gates_issue_12() {
    let lefthook = manager("lefthook");
    let repo = lefthook_repo();
    let printed = repo.pushguard(&["install", "--print"]);
    printed.expect_code(0);
    // The team's lefthook.yml: the printed snippet, with the team's own command beside it.
    let mut yml: String = printed
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    yml.push_str(&format!(
        "    own:\n      run: echo manager-hook >> '{}'\n",
        marker(&repo).display()
    ));
    repo.commit_file("lefthook.yml", &yml, "lefthook: run pushguard for everyone");
    // pushguard from PATH, as the snippet expects.
    let bin_dir = repo.root.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(crate::support::bin(), bin_dir.join("pushguard")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        crate::support::hermetic_path().to_string_lossy()
    );
    let with_path = |program: &Path, args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = repo.command(program);
        cmd.args(args).env("PATH", &path).envs(env.iter().copied());
        run(cmd)
    };
    with_path(&lefthook, &["install"], &[]).expect_code(0);
    // pushguard install adds nothing when the team's config already runs it (twice would ask twice).
    let r = repo.pushguard(&["install"]);
    r.expect_code(0);
    assert!(
        r.stderr
            .contains("for the whole team (pushguard from PATH); nothing to add here"),
        "{}",
        r.stderr
    );
    assert!(!repo.work.join("lefthook-local.yml").exists());

    let r = with_path(
        Path::new("git"),
        &["push", "origin", "HEAD:production"],
        &[],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(repo.remote_branch("production").is_none());
    let r = with_path(
        Path::new("git"),
        &["push", "origin", "HEAD:production"],
        &[("PUSHGUARD_CONSULTED", "Ada Lead")],
    );
    r.expect_code(0);
    assert!(r.stderr.contains("consulted Ada Lead"), "{}", r.stderr);
    let r = with_path(&crate::support::bin(), &["doctor"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("through lefthook"), "{}", r.stderr);
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn husky_v8_layout_issue_12() {
    let husky8 = manager("husky8");
    let repo = TestRepo::new();
    let mark = marker(&repo);
    repo.write(
        "package.json",
        "{\"name\": \"app\", \"scripts\": {\"prepare\": \"husky install\"}, \"devDependencies\": {\"husky\": \"8.0.3\"}}\n",
    );
    let user = format!(
        "#!/usr/bin/env sh\n. \"$(dirname -- \"$0\")/_/husky.sh\"\n\necho manager-hook \"$1\" >> '{m}'\ncat >> '{m}'\n",
        m = mark.display()
    );
    repo.write(".husky/pre-push", &user);
    std::fs::set_permissions(
        repo.work.join(".husky/pre-push"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    repo.git(&["add", "package.json", ".husky/pre-push"]);
    repo.git(&["commit", "-q", "-m", "husky 8"]);
    repo.config(CONFIG);
    let husky_install = |repo: &TestRepo| {
        let mut cmd = repo.command(&husky8);
        cmd.arg("install");
        run(cmd).expect_code(0);
    };
    husky_install(&repo);
    assert_eq!(repo.git(&["config", "core.hooksPath"]), ".husky");
    repo.install();
    let text = std::fs::read_to_string(repo.work.join(".husky/pre-push")).unwrap();
    assert!(
        text.starts_with("#!/usr/bin/env sh\n# >>> pushguard"),
        "{text}"
    );
    assert_gated(&repo, "husky", "husky8");
    repo.push(&["origin", "HEAD:refs/heads/stdin-check"])
        .expect_code(0);
    assert!(take_marker(&repo).contains(" refs/heads/stdin-check "));
    husky_install(&repo);
    assert_gated(&repo, "husky", "husky8-reinstalled");
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert_eq!(repo.git(&["status", "--porcelain", ".husky"]), "");
    assert_not_gated(&repo, "husky8 uninstalled");
}

/// A project with husky v4: its pre-push command in `package.json` (it records git's
/// arguments and the ref lines husky hands it in `HUSKY_GIT_STDIN`), and husky 4's package
/// from `scripts/install-managers.sh` as its `node_modules`.
fn husky4_repo(husky4: &Path) -> TestRepo {
    let repo = TestRepo::new();
    let mark = marker(&repo);
    let command = format!(
        "echo manager-hook $HUSKY_GIT_PARAMS >> '{m}' && printf '%s\\n' \"$HUSKY_GIT_STDIN\" >> '{m}'",
        m = mark.display()
    );
    let package = serde_json::json!({
        "name": "app",
        "devDependencies": {"husky": "4.3.8"},
        "husky": {"hooks": {"pre-push": command}},
    });
    repo.write("package.json", &format!("{package:#}\n"));
    repo.write(".gitignore", "node_modules\n");
    let modules = husky4
        .parent()
        .and_then(Path::parent)
        .expect("husky.js sits in node_modules/husky/");
    std::os::unix::fs::symlink(modules, repo.work.join("node_modules")).unwrap();
    repo.git(&["add", "package.json", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "husky 4"]);
    repo.config(CONFIG);
    repo
}

/// husky 4's install script as `npm install` runs it (npm sets `INIT_CWD`, from which husky
/// finds the clone, and the user agent, from which it picks `npx` to run its hooks).
#[track_caller]
fn husky4_install(repo: &TestRepo) -> String {
    let mut cmd = repo.command("npm");
    cmd.args([
        "rebuild",
        "husky",
        "--offline",
        "--foreground-scripts",
        "--no-update-notifier",
    ]);
    let r = run(cmd);
    r.expect_code(0);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("husky > Done"), "{out}");
    out
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn husky_v4_issue_12_gated_in_both_install_orders_and_after_npm_install() {
    let husky4 = manager("husky4");
    let via = "git's pre-push hook";
    let hooks_of = |repo: &TestRepo| repo.work.join(".git/hooks");
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();

    // husky first (npm install), then pushguard.
    let repo = husky4_repo(&husky4);
    let hooks = hooks_of(&repo);
    husky4_install(&repo);
    let stub = read(hooks.join("pre-push"));
    assert!(stub.contains("# husky"), "{stub}");
    // husky alone runs the package.json command (the setup is real).
    repo.push(&["origin", "HEAD:refs/heads/husky-alone"])
        .expect_code(0);
    assert!(take_marker(&repo).contains("manager-hook origin"));
    repo.install();
    assert!(read(hooks.join("pre-push")).contains("# pushguard-managed-hook"));
    let adapter = read(hooks.join("pre-push.pushguard-chained"));
    assert!(
        adapter.starts_with("#!/bin/sh\n# pushguard-husky4-adapter"),
        "{adapter}"
    );
    assert_gated(&repo, via, "husky4-first");
    // husky's command still gets git's ref lines (through HUSKY_GIT_STDIN).
    repo.push(&["origin", "HEAD:refs/heads/stdin-check"])
        .expect_code(0);
    let seen = take_marker(&repo);
    assert!(seen.contains(" refs/heads/stdin-check "), "{seen}");

    // `npm install` again: husky skips the hook it did not write; pushguard stays in the path.
    let out = husky4_install(&repo);
    assert!(
        out.contains("skipping existing user hook: pre-push"),
        "{out}"
    );
    assert_gated(&repo, via, "husky4-reinstalled");

    // Out of the path: the hook removed, then husky's install writes its own stub back.
    std::fs::remove_file(hooks.join("pre-push")).unwrap();
    husky4_install(&repo);
    assert_not_gated(&repo, "husky4 stub back");
    repo.install();
    assert_gated(&repo, via, "husky4-repaired");

    // uninstall puts husky's own hook back, which runs the package.json command alone.
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(read(hooks.join("pre-push")).contains("# husky"));
    assert!(!hooks.join("pre-push.pushguard-chained").exists());
    assert_not_gated(&repo, "husky4 uninstalled");
    repo.push(&["origin", "HEAD:refs/heads/after-uninstall"])
        .expect_code(0);
    assert!(take_marker(&repo).contains("manager-hook origin"));

    // pushguard first (husky configured in package.json, not installed yet), then husky.
    let repo = husky4_repo(&husky4);
    let hooks = hooks_of(&repo);
    repo.install();
    let r = repo.push(&["origin", "HEAD:production"]);
    assert!(
        r.stderr.contains("push to production blocked"),
        "{}",
        r.stderr
    );
    let out = husky4_install(&repo);
    assert!(
        out.contains("skipping existing user hook: pre-push"),
        "{out}"
    );
    assert_gated(&repo, via, "then-husky4");
    husky4_install(&repo);
    assert_gated(&repo, via, "then-husky4-reinstalled");
    repo.pushguard(&["uninstall"]).expect_code(0);
    assert!(read(hooks.join("pre-push")).contains("# husky"));
    repo.push(&["origin", "HEAD:refs/heads/after-uninstall"])
        .expect_code(0);
    assert!(take_marker(&repo).contains("manager-hook origin"));
    // husky's next install takes its (recognised) stub back as its own.
    husky4_install(&repo);
    assert!(!read(hooks.join("pre-push")).contains("pushguard"));
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn husky_v4_stub_chained_by_an_older_install_runs_again_issue_12() {
    let husky4 = manager("husky4");
    let repo = husky4_repo(&husky4);
    husky4_install(&repo);
    // What today's generic chaining did: husky's stub renamed, where it looks up the
    // command for `pre-push.pushguard-chained`, finds none and runs nothing.
    let hooks = repo.work.join(".git/hooks");
    std::fs::rename(
        hooks.join("pre-push"),
        hooks.join("pre-push.pushguard-chained"),
    )
    .unwrap();
    std::fs::write(
        hooks.join("pre-push"),
        pushguard::install::hook_text(&crate::support::bin()),
    )
    .unwrap();
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    repo.push(&["origin", "HEAD:refs/heads/silent"])
        .expect_code(0);
    assert_eq!(take_marker(&repo), "", "husky's command ran after all");
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("not husky v4's pre-push command"),
        "{}",
        status.stdout
    );
    repo.install();
    assert_gated(&repo, "git's pre-push hook", "husky4-layout-repaired");
}
