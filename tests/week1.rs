//! Issue 13, "what a team meets in its first week": one regression test per item this branch
//! fixes (`regression_week1_<item>_*`), each driving real git and the real binary.

use crate::support::TestRepo;

#[test]
fn regression_week1_11_overlap_caret_is_under_the_entry_that_overlaps() {
    let repo = TestRepo::guarded(
        "[environments.development]\nbranches = [\"development\"]\nconfirm = false\n\n[environments.staging]\nbranches = [\"staging\", \"development\"]\nconfirm = false\n",
    );
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    run.expect_code(1);
    let err = repo.redact(&run.stderr);
    assert!(
        err.contains(
            "branch glob `development` of environment `staging` overlaps environment `development`"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "    6 | branches = [\"staging\", \"development\"]\n      |                        ^^^^^^^^^^^^^\n"
        ),
        "{err}"
    );
    assert_eq!(repo.remote_branch("feature"), None);
}

const PRODUCTION: &str =
    "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n";

#[test]
fn regression_week1_4_audit_since_takes_an_age_like_log() {
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.install();
    repo.config(PRODUCTION);
    repo.commit_file("app.txt", "v1\n", "release 1");
    repo.push(&["origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    repo.commit_file("app.txt", "v2\n", "hotfix without the guard");
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);

    // Commits are dated 2026-01-01: an age of 100 years lists them, an hour does not. The
    // tip is judged whatever --since says (issue 10: it only limits the listing).
    let run = repo.pushguard(&["audit", "--since", "36500d", "--fail-on-unrecorded"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("hotfix without the guard"),
        "{}",
        run.stdout
    );
    let run = repo.pushguard(&["audit", "--since", "1h", "--fail-on-unrecorded"]);
    run.expect_code(1);
    assert!(run.stdout.contains("UNRECORDED"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("hotfix without the guard"),
        "{}",
        run.stdout
    );
    // `log` reads the same forms, and both refuse the same nonsense with the same words.
    let log = repo.pushguard(&["log", "--since", "36500d"]);
    log.expect_code(0);
    assert!(log.stdout.contains("production"), "{}", log.stdout);
    for command in ["log", "audit"] {
        let run = repo.pushguard(&[command, "--since", "7 parsecs"]);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            "pushguard: error: invalid --since `7 parsecs`: not a date, a time or an age\nhint: give a date (2026-01-31), a time (2026-01-31T12:00:00Z) or an age (7d, 12h)\n",
            "{command}"
        );
    }
}

#[test]
fn regression_week1_8_a_test_command_not_on_the_hooks_path_says_so() {
    let repo = TestRepo::guarded(
        "[environments.staging]\nbranches = [\"staging\"]\nchecks = [\"tests\"]\nconfirm = false\n\n[tests]\ncommands = [\"runtests --all\"]\n",
    );
    // The tool is installed where the developer's shell finds it, but a GUI client's hook
    // runs with a minimal PATH.
    let tools = repo.root.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let tool = tools.join("runtests");
    std::fs::write(&tool, "#!/bin/sh\necho all tests passed\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let gui_push = || {
        let out = repo
            .command("git")
            .env("PATH", "/usr/bin:/bin")
            .args(["push", "origin", "HEAD:refs/heads/staging"])
            .output()
            .unwrap();
        (
            out.status.code(),
            repo.redact(&String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (code, err) = gui_push();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("✗ tests  `runtests --all` failed with exit 127: `runtests` (or a command it runs) was not found on the hook's PATH\n"),
        "{err}"
    );
    assert!(err.contains("runtests: not found"), "{err}");
    // git puts its exec-path first; the rest is what the client gave the hook.
    let path_line = err
        .lines()
        .find(|l| l.starts_with("      the hook's PATH: "))
        .unwrap_or_else(|| panic!("no PATH line\n{err}"));
    let dirs: Vec<&str> = path_line["      the hook's PATH: ".len()..]
        .split(':')
        .collect();
    assert!(dirs.ends_with(&["/usr/bin", "/bin"]), "{err}");
    assert!(
        err.contains("hint: give the full path in [tests].commands in .pushguard.toml (`command -v runtests` in your terminal prints it), or start your git client with that directory on its PATH"),
        "{err}"
    );
    assert!(!err.contains("fix the failure and commit"), "{err}");
    assert_eq!(repo.remote_branch("staging"), None);

    // Following the hint gets the same push through with the same minimal PATH.
    repo.config(&format!(
        "[environments.staging]\nbranches = [\"staging\"]\nchecks = [\"tests\"]\nconfirm = false\n\n[tests]\ncommands = [\"{} --all\"]\n",
        tool.display()
    ));
    let (code, err) = gui_push();
    assert_eq!(code, Some(0), "{err}");
    assert!(repo.remote_branch("staging").is_some());
}

/// A stand-in for `cargo` on `PATH`: prints progress the way cargo does unless `--quiet` (or
/// `-q`) is given, records its arguments, and installs the binary under test. Building the
/// release binary for real would take minutes per test run on the CI machine.
fn stand_in_cargo(repo: &TestRepo) -> std::path::PathBuf {
    let dir = repo.root.join("stand-in");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        r#"#!/bin/sh
echo "$@" > "{args}"
quiet=
for a; do case $a in --quiet|-q) quiet=1 ;; esac; done
[ -n "$quiet" ] || echo "   Compiling pushguard v0.1.0 (stand-in)" >&2
mkdir -p "$CARGO_INSTALL_ROOT/bin"
cp "{bin}" "$CARGO_INSTALL_ROOT/bin/pushguard"
[ -n "$quiet" ] || echo "   Installed package \`pushguard v0.1.0\` (stand-in)" >&2
"#,
        args = dir.join("args").display(),
        bin = crate::support::bin().display()
    );
    let cargo = dir.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn regression_week1_13_install_sh_shows_cargos_progress() {
    let repo = TestRepo::new();
    let stand_in = stand_in_cargo(&repo);
    let mut path = std::ffi::OsString::from(&stand_in);
    path.push(":");
    path.push(crate::support::hermetic_path());
    let out = repo
        .command("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
        .env("PATH", path)
        .env("CARGO_INSTALL_ROOT", repo.root.join("cargo-root"))
        .output()
        .unwrap();
    let err = repo.redact(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{err}");
    let args = std::fs::read_to_string(stand_in.join("args")).unwrap();
    assert_eq!(
        args.trim_end(),
        format!(
            "install --path {} --locked --force",
            env!("CARGO_MANIFEST_DIR")
        )
    );
    assert!(
        err.contains("install.sh: building and installing pushguard (cargo install --path . --locked); the first build takes a few minutes\n   Compiling pushguard v0.1.0 (stand-in)\n   Installed package `pushguard v0.1.0` (stand-in)\ninstall.sh: installed [TMP]/cargo-root/bin/pushguard\n"),
        "{err}"
    );
    // And the hook is really installed in the clone it ran in.
    assert!(repo.work.join(".git/hooks/pre-push").exists(), "{err}");

    // The README describes PUSHGUARD_LOCK_TIMEOUT_MS once among the environment variables.
    let readme = include_str!("../README.md");
    assert_eq!(
        readme
            .matches("how long an audit append waits for the log's lock")
            .count(),
        1
    );
}

/// The last line of a run's stderr that starts with `prefix`.
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
}

#[test]
fn regression_week1_5_one_default_remote_for_every_command() {
    // Two remotes; the current branch tracks `fork`, so `git push` goes there.
    let repo = TestRepo::new();
    repo.git_in(&repo.root, &["init", "-q", "--bare", "fork.git"]);
    let fork = repo.root.join("fork.git");
    repo.git(&["remote", "add", "fork", fork.to_str().unwrap()]);
    repo.git(&["push", "--no-verify", "-q", "fork", "HEAD:refs/heads/main"]);
    repo.git(&[
        "push",
        "--no-verify",
        "-q",
        "fork",
        "HEAD:refs/heads/development",
    ]);
    repo.push_unguarded("HEAD:refs/heads/development");
    repo.git(&["fetch", "-q", "--all"]);
    repo.git(&["branch", "-q", "--set-upstream-to=fork/main"]);
    repo.install();

    let status = repo.pushguard(&["status"]);
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains("\nremote:  fork (as last fetched)\n"),
        "{}",
        status.stdout
    );
    let check = repo.pushguard(&["check", "staging"]);
    assert!(
        line_starting(&check.stderr, "pushguard: [staging]").contains("HEAD → fork/staging"),
        "{}",
        check.stderr
    );
    let audit = repo.pushguard(&["audit"]);
    audit.expect_code(0);
    assert!(
        audit.stdout.contains("\nfork/main (production): "),
        "{}",
        audit.stdout
    );
    assert!(!audit.stdout.contains("origin/"), "{}", audit.stdout);
    repo.pushguard(&["init"]).expect_code(0);
    let written = std::fs::read_to_string(repo.work.join(".pushguard.toml")).unwrap();
    assert!(written.contains("from the branches of `fork`"), "{written}");

    // A clone whose only remote is not called origin: that remote, not a missing `origin`.
    repo.git(&["branch", "-q", "--unset-upstream"]);
    repo.git(&["remote", "remove", "origin"]);
    repo.git(&["remote", "rename", "fork", "gitea"]);
    let check = repo.pushguard(&["check", "development"]);
    let err = repo.redact(&check.stderr);
    assert!(
        line_starting(&err, "pushguard: [development]").contains("HEAD → gitea/development"),
        "{err}"
    );
    check.expect_code(0);
    let status = repo.pushguard(&["status"]);
    assert!(
        status
            .stdout
            .contains("\nremote:  gitea (as last fetched)\n"),
        "{}",
        status.stdout
    );

    // Several remotes and no rule picks one: every command asks for --remote.
    repo.git(&["remote", "add", "mirror", fork.to_str().unwrap()]);
    for args in [
        &["check", "development"][..],
        &["audit"],
        &["init", "--force"],
    ] {
        let run = repo.pushguard(args);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            "pushguard: error: this clone has several remotes (gitea, mirror), none is `origin` and the current branch has no upstream\nhint: name one with `--remote <name>`\n",
            "{args:?}"
        );
    }
    let status = repo.pushguard(&["status"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("remote:  none chosen: this clone has several remotes (gitea, mirror), none is `origin` and the current branch has no upstream\n         hint: name one with `pushguard status --remote <name>`\n"),
        "{}",
        status.stdout
    );
    let status = repo.pushguard(&["status", "--remote", "mirror"]);
    assert!(
        status
            .stdout
            .contains("\nremote:  mirror (as last fetched)\n"),
        "{}",
        status.stdout
    );
}

#[test]
fn regression_week1_10_outside_a_clone_and_without_a_remote() {
    let repo = TestRepo::new();
    let outside = repo.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let run_outside = |args: &[&str]| {
        let out = repo
            .command(crate::support::bin())
            .args(args)
            .current_dir(&outside)
            .env("GIT_CEILING_DIRECTORIES", &repo.root)
            .output()
            .unwrap();
        (
            out.status.code(),
            repo.redact(&String::from_utf8_lossy(&out.stderr)),
        )
    };
    let commands: [&[&str]; 12] = [
        &["install"],
        &["uninstall"],
        &["check", "production"],
        &["status"],
        &["log"],
        &["log", "--verify"],
        &["log", "--remote"],
        &["init"],
        &["approve", "HEAD", "--env", "production"],
        &["approve", "--list"],
        &["audit"],
        &["confirm", "production", "--consulted", "Lee"],
    ];
    for args in commands {
        let (code, err) = run_outside(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(
            err,
            "pushguard: error: `[TMP]/outside` is not inside a git clone\nhint: run pushguard inside the clone you push from (`cd` into it first), or get one with `git clone <url>`\n",
            "{args:?}"
        );
    }
    let (code, err) = run_outside(&["config", "--check"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.starts_with("pushguard: note: `[TMP]/outside` is not inside a git clone, so no .pushguard.toml was read\nhint: run `pushguard config` inside the clone"),
        "{err}"
    );

    // A clone with no remote.
    repo.git(&["remote", "remove", "origin"]);
    repo.install();
    let hint = "hint: add the remote you push to: `git remote add origin <url>`, then `git fetch origin`\n";
    for (args, needs) in [
        (
            &["check", "production"][..],
            "`pushguard check` has no environment branches to compare with",
        ),
        (
            &["init"],
            "`pushguard init` has no branches to map environments to",
        ),
        (
            &["audit"],
            "`pushguard audit` has no environment branches to audit",
        ),
        (
            &["log", "--remote"],
            "`pushguard log --remote` has no team records to show",
        ),
    ] {
        let run = repo.pushguard(args);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            format!("pushguard: error: this clone has no remote, so {needs}\n{hint}"),
            "{args:?}"
        );
    }
    let status = repo.pushguard(&["status"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains(&format!(
            "remote:  none: this clone has no remote, so no environment branch can be shown\n         {hint}environments:\n  development  no remote to look at (develop, development, dev)\n"
        )),
        "{}",
        status.stdout
    );
    let approve = repo.pushguard(&["approve", "HEAD", "--env", "production"]);
    approve.expect_code(0);
    assert!(
        repo.redact(&approve.stderr).ends_with(
            "pushguard: this clone has no remote, so the approval is only in this clone\nhint: add the remote you push to: `git remote add origin <url>`, then `git fetch origin`; then `pushguard approve [SHORT] --env production` shares it\n"
        ),
        "{}",
        approve.stderr
    );
}

const TWO_BRANCHES: &str = r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete", "fast-forward"]

[environments.production]
branches = ["production", "main"]
promote_from = "staging"
confirm = false
checks = ["no-delete", "fast-forward", "promoted"]
"#;

#[test]
fn regression_week1_1_check_and_status_see_every_branch_of_an_environment() {
    // The remote has both `main` (old) and `production` (current) for production; staging
    // has a rebuilt commit X that fast-forwards main but not production.
    let repo = TestRepo::guarded(TWO_BRANCHES);
    repo.push_unguarded("HEAD:refs/heads/main");
    let initial = repo.head();
    repo.commit("release 1");
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["reset", "-q", "--hard", &initial]);
    let x = repo.commit("release 1, rebuilt");
    repo.push_unguarded("+HEAD:refs/heads/staging");
    repo.git(&["fetch", "-q", "origin"]);

    // The environment's name: refused with the branches and how to name one.
    let run = repo.pushguard(&["check", "production", "--rev", &x]);
    assert_eq!(
        repo.transcript(&run),
        "exit: 2\n--- stdout\n--- stderr\npushguard: error: environment `production` has 2 branches on origin (main, production), and a push updates one of them\nhint: name the branch you mean: `pushguard check origin/main` or `pushguard check origin/production`\n"
    );
    // Each way of naming the branch judges that branch, as the push would.
    for target in [
        "origin/production",
        "refs/heads/production",
        "refs/remotes/origin/production",
    ] {
        let run = repo.pushguard(&["check", target, "--rev", &x]);
        let err = repo.redact(&run.stderr);
        assert_eq!(run.code, 1, "{target}: {err}");
        assert!(
            err.starts_with(
                "pushguard: [production] [OID] → origin/production ([SHORT]..[SHORT])\n"
            ),
            "{target}: {err}"
        );
        assert!(err.contains("✗ fast-forward"), "{target}: {err}");
    }
    let run = repo.pushguard(&["check", "origin/main", "--rev", &x]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("→ origin/main"), "{}", run.stderr);
    // The pushes agree with the checks.
    let before = repo.remote_branch("production");
    let push = repo.push(&["origin", &format!("{x}:refs/heads/production")]);
    push.expect_code(1);
    assert!(
        push.stderr.contains("(non-fast-forward)"),
        "{}",
        push.stderr
    );
    let push = repo.push(&["--force", "origin", &format!("{x}:refs/heads/production")]);
    push.expect_code(1);
    assert!(push.stderr.contains("✗ fast-forward"), "{}", push.stderr);
    assert_eq!(repo.remote_branch("production"), before);
    repo.push(&["origin", &format!("{x}:refs/heads/main")])
        .expect_code(0);
    // A named remote must agree with the one in the target.
    let run = repo.pushguard(&["check", "origin/main", "--remote", "upstream"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "`origin/main` is a branch of `origin`, but `--remote upstream` names another remote"
        ),
        "{}",
        run.stderr
    );

    // status shows both branches, and how far staging is ahead of each.
    repo.git(&["fetch", "-q", "origin"]);
    let status = repo.pushguard(&["status"]);
    status.expect_code(0);
    let out = repo.redact(&status.stdout);
    let environments = &out[out.find("environments:").unwrap()..out.find("tests:").unwrap()];
    assert_eq!(
        environments,
        "environments:\n  staging      origin/staging          [SHORT]  release 1, rebuilt\n  production   origin/main             [SHORT]  release 1, rebuilt\n               origin/production       [SHORT]  release 1\n  staging (origin/staging) is 0 commits ahead of production (origin/main)\n  staging (origin/staging) is 1 commit ahead of production (origin/production)\n"
    );
}
