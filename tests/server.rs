//! Server mode: `pushguard install` in the bare remote installs the pre-receive hook, and real
//! pushes from a clone without any client hook meet it (`remote:` lines).

use crate::support::{Run, TestRepo};

/// staging must be a fast-forward without WIP; production must come through staging, with
/// a lead consulted. The client-only checks are listed to show that the server skips them.
const SERVER_CONFIG: &str = r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete", "fast-forward", "no-wip"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = true
checks = ["no-delete", "fast-forward", "promoted", "no-wip", "clean-worktree", "tests"]
"#;

/// A clone whose bare remote has the server hook and `SERVER_CONFIG`; push options are
/// advertised when `options` is set. `main` is pushed to staging and production.
fn server(options: bool) -> TestRepo {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIG).expect("write config");
    let install = repo.pushguard_in(&repo.remote, &["install"]);
    install.expect_code(0);
    assert!(
        install.stderr.contains("installed the pre-receive hook"),
        "{}",
        install.stderr
    );
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    repo.push(&[
        "-q",
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ])
    .expect_code(0);
    if !options {
        repo.git_in(
            &repo.remote,
            &["config", "--unset", "receive.advertisePushOptions"],
        );
    }
    repo
}

/// The transcript without the padding git adds to `remote:` lines.
fn transcript(repo: &TestRepo, run: &Run) -> String {
    repo.transcript(run)
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The server's audit records, as JSON values.
fn records(repo: &TestRepo) -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo.remote.join("pushguard/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

#[test]
fn hotfix_not_on_staging_is_refused_with_the_remote_report() {
    let repo = server(true);
    let before = repo.remote_branch("production");
    repo.commit_file("fix.txt", "fix\n", "hotfix straight to production");
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    insta::assert_snapshot!(transcript(&repo, &run), @r#"
    exit: 1
    --- stdout
    --- stderr
    remote: pushguard: [production] push to production ([SHORT]..[SHORT])
    remote:   ✓ no-delete       the branch is not deleted
    remote:   ✓ fast-forward    fast-forward of the remote tip
    remote:   - clean-worktree  skip: client-side only: the server has no work tree (the pre-push hook checks it)
    remote:   ✗ promoted        not on staging: the pushed commit is not in staging (promote through staging first)
    remote:       hint: push it to staging first (`git push <remote> <rev>:staging`)
    remote:   ✓ no-wip          no work-in-progress commits among 1 commit pushed
    remote:   - tests           skip: client-side only: the server does not run the project's tests (the pre-push hook and `pushguard check` do)
    remote:   consulted Ada Lead (push option `consulted`)
    remote:   fix the failed checks, or bypass them with a justification (at least 15 characters; it is recorded):
    remote:       git push -o bypass="<why this push cannot wait>" …
    remote: pushguard: ✗ push to production blocked: 1 check failed (promoted)
    To [TMP]/remote.git
     ! [remote rejected] HEAD -> production (pre-receive hook declined)
    error: failed to push some refs to '[TMP]/remote.git'
    "#);
    assert_eq!(repo.remote_branch("production"), before);
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["decision"], "blocked");
    assert_eq!(last["remote"], "(server)");
    // Once on staging, the same commit is promoted.
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    repo.push(&[
        "-q",
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ])
    .expect_code(0);
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
}

#[test]
fn force_push_and_delete_are_refused() {
    let repo = server(true);
    let first = repo.head();
    repo.commit("second");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    repo.push(&[
        "-q",
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ])
    .expect_code(0);
    let tip = repo.head();

    let force = repo.push(&[
        "-f",
        "-o",
        "consulted=Ada Lead",
        "origin",
        &format!("{first}:refs/heads/production"),
    ]);
    force.expect_code(1);
    assert!(
        force.stderr.contains("✗ fast-forward    not a fast-forward: this push rewrites the environment's history (force push)"),
        "{}",
        force.stderr
    );
    assert!(force.stderr.contains("(pre-receive hook declined)"));

    let delete = repo.push(&["origin", ":refs/heads/staging"]);
    delete.expect_code(1);
    assert!(
        delete.stderr.contains(
            "remote:   ✗ no-delete     this push deletes the environment branch `staging`"
        ),
        "{}",
        delete.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(tip.clone()));
    assert_eq!(repo.remote_branch("staging"), Some(tip));
    let decisions: Vec<_> = records(&repo)
        .iter()
        .map(|r| r["decision"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(decisions[decisions.len() - 2..], ["blocked", "blocked"]);
}

#[test]
fn consulted_push_option_allows_and_is_recorded_on_the_server() {
    let repo = server(true);
    repo.commit("release 2");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    run.expect_code(0);
    assert!(run
        .stderr
        .contains("remote:   consulted Ada Lead (push option `consulted`)"));
    assert!(run
        .stderr
        .contains("remote: pushguard: ✓ push to production allowed"));
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["decision"], "allowed");
    assert_eq!(last["consulted"], "Ada Lead");
    assert_eq!(last["environment"], "production");
    assert_eq!(last["new"], repo.head());
    assert_eq!(last["commits"], 1);
    // No pusher named by the server: the record says so; a commit's committer, which anyone
    // can set, never stands in for the pusher (issue 10).
    assert_eq!(
        last["user"]["name"],
        "(unknown: the server did not name the pusher)"
    );
    assert_eq!(last["user"]["email"], "");
    // The server's log verifies.
    let verify = repo.pushguard_in(&repo.remote, &["log", "--verify"]);
    verify.expect_code(0);
}

#[test]
fn pusher_named_by_the_server_is_recorded_and_authorized() {
    let repo = server(true);
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        SERVER_CONFIG
            .replace(
                "confirm = true\n",
                "confirm = true\nauthorized = [\"ada\"]\n",
            )
            .replace("\"tests\"]", "\"tests\", \"authorized\"]"),
    )
    .expect("write config");
    repo.commit("release 2");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let mut refused = repo.command("git");
    refused
        .args([
            "push",
            "-o",
            "consulted=Ada Lead",
            "origin",
            "HEAD:refs/heads/production",
        ])
        .env("REMOTE_USER", "bob");
    let out = refused.output().expect("run git");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("✗ authorized      bob is not authorized to push to production"),
        "{stderr}"
    );
    let mut allowed = repo.command("git");
    allowed
        .args([
            "push",
            "-q",
            "-o",
            "consulted=Ada Lead",
            "origin",
            "HEAD:refs/heads/production",
        ])
        .env("REMOTE_USER", "ada");
    let out = allowed.output().expect("run git");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["user"]["name"], "ada (pusher, from REMOTE_USER)");
}

#[test]
fn bypass_push_option_bypasses_and_is_recorded() {
    let repo = server(true);
    repo.commit_file("fix.txt", "fix\n", "hotfix");
    let short = repo.push(&[
        "-o",
        "bypass=urgent",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    short.expect_code(1);
    assert!(
        short.stderr.contains(
            "the push option `bypass` was refused: too short: 6 characters, at least 15 needed"
        ),
        "{}",
        short.stderr
    );
    let run = repo.push(&[
        "-o",
        "bypass=incident 42: checkout is down",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    run.expect_code(0);
    assert!(run
        .stderr
        .contains("remote:   justification: incident 42: checkout is down (push option `bypass`)"));
    assert!(
        run.stderr.contains("BYPASSED the gate (promoted)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["decision"], "bypassed");
    assert_eq!(last["justification"], "incident 42: checkout is down");
}

#[test]
fn without_advertised_push_options_the_message_says_what_the_server_must_set() {
    let repo = server(false);
    repo.commit("release 2");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    let text = transcript(&repo, &run);
    assert!(
        text.contains(
            "remote:   production needs confirmation that a lead or senior was consulted: talk to one, then name them in a push option:\nremote:       git push -o consulted=\"Name\" …\nremote:   note: this server does not accept push options yet (`git push -o` fails): its administrator must run\nremote:       git config receive.advertisePushOptions true"
        ),
        "{text}"
    );
    // And git itself refuses the option until the server advertises it.
    let option = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_ne!(option.code, 0);
    assert!(
        option.stderr.contains("does not support push options"),
        "{}",
        option.stderr
    );
}

#[test]
fn ordinary_branches_pass_untouched() {
    let repo = server(true);
    let before = records(&repo).len();
    repo.commit("WIP: a feature");
    let run = repo.push(&[
        "origin",
        "HEAD:refs/heads/feature",
        "HEAD:refs/tags/production",
    ]);
    run.expect_code(0);
    assert!(!run.stderr.contains("pushguard"), "{}", run.stderr);
    assert_eq!(records(&repo).len(), before);
    assert_eq!(repo.remote_branch("feature"), Some(repo.head()));
}

#[test]
fn install_in_a_bare_repository_chains_an_existing_pre_receive_hook() {
    let repo = TestRepo::new();
    let hooks = repo.remote.join("hooks");
    std::fs::write(
        hooks.join("pre-receive"),
        "#!/bin/sh\necho \"legacy hook saw: $(cat)\" >&2\n",
    )
    .expect("write hook");
    std::process::Command::new("chmod")
        .args(["+x", hooks.join("pre-receive").to_str().expect("utf-8")])
        .status()
        .expect("chmod");
    let install = repo.pushguard_in(&repo.remote, &["install"]);
    install.expect_code(0);
    assert!(
        install.stderr.contains("pre-receive.pushguard-chained"),
        "{}",
        install.stderr
    );
    assert!(install
        .stderr
        .contains("git config receive.advertisePushOptions true"));
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    assert!(hooks.join("pre-receive.pushguard-chained").is_file());
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("remote: legacy hook saw: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("refs/heads/feature"), "{}", run.stderr);
    let uninstall = repo.pushguard_in(&repo.remote, &["uninstall"]);
    uninstall.expect_code(0);
    let restored = std::fs::read_to_string(hooks.join("pre-receive")).expect("read hook");
    assert!(restored.contains("legacy hook saw"));
}

#[test]
fn update_hook_gates_each_ref_and_explains_it_gets_no_push_options() {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIG).expect("write config");
    let hook = repo.remote.join("hooks/update");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' hook update \"$@\"\n",
            crate::support::bin().display()
        ),
    )
    .expect("write hook");
    std::process::Command::new("chmod")
        .args(["+x", hook.to_str().expect("utf-8")])
        .status()
        .expect("chmod");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("git gives the update hook no push options: the server's administrator must install pushguard as the pre-receive hook"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(hook declined)"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(records(&repo).len(), 2);
}

/// The audit notes on `commit` in the bare remote's trail.
fn server_note(repo: &TestRepo, commit: &str) -> String {
    repo.trail_note(&repo.remote, commit)
        .expect("an audit note on the remote")
}

#[test]
fn post_receive_attaches_server_records_that_a_client_audit_counts() {
    let repo = server(true);
    let tip = repo.head();
    // Both pushes of `server()` (staging, then production with `consulted`) are notes now.
    let note = server_note(&repo, &tip);
    let lines: Vec<serde_json::Value> = note
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert_eq!(lines.len(), 2, "{note}");
    assert_eq!(lines[1]["remote_ref"], "refs/heads/production");
    assert_eq!(lines[1]["decision"], "allowed");
    assert_eq!(lines[1]["consulted"], "Ada Lead");
    assert_eq!(lines[1]["remote"], "(server)");
    // The same lines as the server's hash-chained log.
    let log = std::fs::read_to_string(repo.remote.join("pushguard/audit.jsonl")).expect("log");
    assert_eq!(note.trim_end(), log.trim_end());
    let pending = repo.remote.join("pushguard/post-receive-pending.jsonl");
    assert_eq!(std::fs::read_to_string(&pending).unwrap_or_default(), "");

    // A client without any hook: every update of staging and production is covered.
    let client = repo.clone_as("client", "Cy Client", "cy@example.com");
    std::fs::write(client.join(".pushguard.toml"), SERVER_CONFIG).expect("write config");
    let audit = repo.pushguard_in(&client, &["audit", "--fail-on-unrecorded"]);
    audit.expect_code(0);
    assert!(
        audit.stderr.contains(
            "every environment branch on origin is where a push through pushguard left it"
        ),
        "{}",
        audit.stderr
    );

    // An administrator moves production on the server without any hook.
    repo.commit("admin change");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let admin = repo.head();
    repo.git_in(
        &repo.remote,
        &["update-ref", "refs/heads/production", &admin, &tip],
    );
    let audit = repo.pushguard_in(&client, &["audit", "--fail-on-unrecorded"]);
    audit.expect_code(1);
    let listed: Vec<&str> = audit
        .stdout
        .lines()
        .filter(|l| l.contains("UNRECORDED"))
        .collect();
    assert_eq!(listed.len(), 1, "{}", audit.stdout);
    assert!(listed[0].contains(&admin[..10]), "{}", audit.stdout);
    // The staging push of that commit went through the server: recorded and attached.
    assert!(server_note(&repo, &admin).contains("refs/heads/staging"));
}

#[test]
fn post_receive_keeps_no_pending_record_of_a_refused_push() {
    let repo = server(true);
    repo.commit_file("fix.txt", "fix\n", "hotfix straight to production");
    let hotfix = repo.head();
    // Allowed by pushguard (bypass), refused by the chained pre-receive hook: the record
    // says what happened (issue 10: the chained hook runs before the record is written).
    let hooks = repo.remote.join("hooks");
    std::fs::write(
        hooks.join("pre-receive.pushguard-chained"),
        "#!/bin/sh\necho 'legacy hook: frozen' >&2\nexit 1\n",
    )
    .expect("write hook");
    std::process::Command::new("chmod")
        .args([
            "+x",
            hooks
                .join("pre-receive.pushguard-chained")
                .to_str()
                .expect("utf-8"),
        ])
        .status()
        .expect("chmod");
    let run = repo.push(&[
        "-o",
        "bypass=incident 42: the site is down",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    run.expect_code(1);
    assert!(run.stderr.contains("legacy hook: frozen"), "{}", run.stderr);
    assert_eq!(
        records(&repo).last().expect("a record")["decision"],
        "blocked"
    );
    let pending = repo.remote.join("pushguard/post-receive-pending.jsonl");
    assert_eq!(std::fs::read_to_string(&pending).unwrap_or_default(), "");
    assert!(
        repo.try_git(&[
            "--git-dir",
            repo.remote.to_str().expect("utf-8"),
            "notes",
            "--ref",
            "pushguard-audit",
            "show",
            &hotfix
        ])
        .code
            != 0
    );
}

#[test]
fn install_in_a_bare_repository_chains_an_existing_post_receive_hook() {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIG).expect("write config");
    let hooks = repo.remote.join("hooks");
    let legacy = "#!/bin/sh\necho \"legacy post-receive saw: $(cat)\" >&2\n";
    std::fs::write(hooks.join("post-receive"), legacy).expect("write hook");
    std::process::Command::new("chmod")
        .args(["+x", hooks.join("post-receive").to_str().expect("utf-8")])
        .status()
        .expect("chmod");
    let install = repo.pushguard_in(&repo.remote, &["install"]);
    install.expect_code(0);
    assert!(
        install.stderr.contains("installed the pre-receive hook")
            && install.stderr.contains("installed the post-receive hook")
            && install.stderr.contains("post-receive.pushguard-chained"),
        "{}",
        install.stderr
    );
    let again = repo.pushguard_in(&repo.remote, &["install"]);
    again.expect_code(0);
    assert!(
        again
            .stderr
            .contains("the post-receive hook is already installed and current"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-receive.pushguard-chained")).expect("read"),
        legacy
    );
    // Both run: pushguard attaches the record, then the chained hook gets the same input.
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("remote: legacy post-receive saw: ")
            && run.stderr.contains("refs/heads/staging"),
        "{}",
        run.stderr
    );
    assert!(server_note(&repo, &repo.head()).contains("refs/heads/staging"));

    let uninstall = repo.pushguard_in(&repo.remote, &["uninstall"]);
    uninstall.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-receive")).expect("read hook"),
        legacy
    );
    assert!(!hooks.join("post-receive.pushguard-chained").exists());
    assert!(!hooks.join("pre-receive").exists());
}

/// Runs `git push` from the work clone with extra environment variables (as a server that
/// names the pusher would pass them to the hook).
fn push_as(repo: &TestRepo, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = repo
        .command("git")
        .arg("push")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run git push");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn regression_trail_6_a_symbolic_ref_is_gated_as_the_branch_it_moves() {
    let repo = server(true);
    repo.git_in(
        &repo.remote,
        &["symbolic-ref", "refs/heads/live", "refs/heads/production"],
    );
    let before = repo.remote_branch("production");
    repo.commit_file("fix.txt", "fix\n", "hotfix straight to production");
    let run = repo.push(&["-o", "consulted=Ada Lead", "origin", "HEAD:refs/heads/live"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[production] push to production through refs/heads/live"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("✗ promoted"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), before);
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["remote_ref"], "refs/heads/production");
    assert_eq!(last["local_ref"], "refs/heads/live");
}

#[test]
fn regression_trail_7_a_pusher_named_only_by_user_name_cannot_approve_their_own_push() {
    let repo = server(true);
    let config = format!(
        "{}approvals = 1\n",
        SERVER_CONFIG.replace(
            "checks = [\"no-delete\", \"fast-forward\", \"promoted\", \"no-wip\", \"clean-worktree\", \"tests\"]",
            "checks = [\"no-delete\", \"fast-forward\", \"promoted\", \"approvals\"]"
        )
    );
    std::fs::write(repo.remote.join("pushguard.toml"), &config).expect("write config");
    repo.commit("release 2");
    repo.push(&["-q", "origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    // Pat approves their own commit (the note names pat@example.com).
    repo.pushguard(&["approve", "HEAD", "--env", "production"])
        .expect_code(0);
    let pat = [("GL_USERNAME", "pat")];
    let args = [
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ];
    // The server names the pusher only as `pat`: an approval cannot be told apart from
    // the pusher's own, so the check fails closed (it used to count it).
    let run = push_as(&repo, &pat, &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the pusher cannot be told apart from the approvers"),
        "{}",
        run.stderr
    );
    // Mapped to their address, pat's own approval is recognised and not counted.
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        format!("{config}\n[server]\nusers = {{ pat = [\"pat@example.com\"] }}\n"),
    )
    .expect("write config");
    let run = push_as(&repo, &pat, &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("your own approval"), "{}", run.stderr);
    // Someone else's approval counts.
    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    let tip = repo.head();
    repo.pushguard_in(&ada, &["approve", &tip, "--env", "production"])
        .expect_code(0);
    let run = push_as(&repo, &pat, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

/// The server's own trail ref, which its post-receive hook writes.
const SERVER_TRAIL: &str = "refs/notes/pushguard-audit.d/server";

#[test]
fn regression_trail_8_the_server_refuses_deleting_or_rewinding_the_trail() {
    let repo = server(true);
    let remote = repo.remote.to_str().expect("utf-8").to_owned();
    let own = repo.git_in(&repo.remote, &["rev-parse", "--verify", SERVER_TRAIL]);
    let run = repo.push(&["origin", &format!(":{SERVER_TRAIL}")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("would erase the team's trail"),
        "{}",
        run.stderr
    );
    // Nobody but the post-receive hook writes the server's own ref, not even a fast-forward.
    repo.git(&[
        "fetch",
        "-q",
        &remote,
        &format!("{SERVER_TRAIL}:{SERVER_TRAIL}"),
    ]);
    repo.git(&[
        "notes",
        "--ref",
        SERVER_TRAIL,
        "append",
        "-m",
        "ignored",
        "HEAD",
    ]);
    let run = repo.push(&["origin", SERVER_TRAIL]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("holds this server's own records, written by its post-receive hook only"),
        "{}",
        run.stderr
    );
    // The single ref of earlier versions, as an older client shares it: valid records only.
    repo.git(&[
        "update-ref",
        "refs/notes/pushguard-audit",
        &format!("{SERVER_TRAIL}^"),
    ]);
    repo.push(&["-q", "origin", "refs/notes/pushguard-audit"])
        .expect_code(0);
    let audit = repo.git_in(
        &repo.remote,
        &["rev-parse", "--verify", "refs/notes/pushguard-audit"],
    );
    // A rewind: a notes commit that does not contain the server's.
    let orphan = repo.git(&[
        "commit-tree",
        "-m",
        "forged",
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    ]);
    repo.git(&["update-ref", "refs/notes/pushguard-audit", &orphan]);
    let run = repo.push(&["-f", "origin", "refs/notes/pushguard-audit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("rewinds refs/notes/pushguard-audit"),
        "{}",
        run.stderr
    );
    assert_eq!(
        repo.git_in(
            &repo.remote,
            &["rev-parse", "--verify", "refs/notes/pushguard-audit"]
        ),
        audit
    );
    assert_eq!(
        repo.git_in(&repo.remote, &["rev-parse", "--verify", SERVER_TRAIL]),
        own
    );
}

#[test]
fn regression_issue_24_a_refusal_for_failed_checks_says_a_confirmation_comes_next() {
    let repo = server(true);
    repo.commit_file("fix.txt", "fix\n", "hotfix straight to production");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("once the checks pass, production also needs confirmation that a lead or senior was consulted (a bypass covers it):"),
        "{}",
        run.stderr
    );
    // Given already: not said again.
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("once the checks pass"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_24_deleting_a_trail_ref_is_not_answered_with_the_rewind_hint() {
    let repo = server(true);
    let run = repo.push(&["origin", ":refs/notes/pushguard-audit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: the trail is append-only and no push deletes it"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("merge, and push again"),
        "a deletion is not a rewind: {}",
        run.stderr
    );
}

#[test]
fn regression_week1_7_the_server_refuses_a_bypassed_delete_of_an_environment_branch() {
    let repo = server(true);
    let before = repo.remote_branch("production");
    let run = repo.push(&[
        "-o",
        "bypass=retiring the old environment today",
        "origin",
        ":production",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("not covered by a bypass"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), before);
}

#[test]
fn regression_week1_9_status_in_a_bare_repository_shows_the_server() {
    let repo = server(true);
    let run = repo.pushguard_in(&repo.remote, &["status"]);
    run.expect_code(0);
    let out = repo.redact(&run.stdout);
    assert!(out.contains("server mode"), "{out}");
    assert!(
        out.contains("hooks/pre-receive — installed, current"),
        "{out}"
    );
    assert!(
        out.contains("hooks/post-receive — installed, current"),
        "{out}"
    );
    assert!(out.contains("pushguard.toml"), "{out}");
    assert!(out.contains("push options accepted"), "{out}");
    assert!(!out.contains("pre-push"), "{out}");
    assert!(out.contains("production   production"), "{out}");
    assert!(!out.contains("origin"), "{out}");
}

#[test]
fn regression_trail_8_the_trail_cannot_be_rewound_through_a_symbolic_ref() {
    // A colleague who wants the trail gone finds (or talks an admin into) an alias of the
    // notes ref under refs/heads and force-pushes an unrelated commit through it.
    let repo = server(true);
    let audit = repo.git_in(&repo.remote, &["rev-parse", "--verify", SERVER_TRAIL]);
    repo.git_in(
        &repo.remote,
        &["symbolic-ref", "refs/heads/trail", SERVER_TRAIL],
    );
    let orphan = repo.git(&[
        "commit-tree",
        "-m",
        "forged",
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    ]);
    let run = repo.push(&["-f", "origin", &format!("{orphan}:refs/heads/trail")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("rewinds refs/notes/pushguard-audit.d/server"),
        "{}",
        run.stderr
    );
    assert_eq!(
        repo.git_in(&repo.remote, &["rev-parse", "--verify", SERVER_TRAIL]),
        audit
    );
}

/// development is ordinary; staging needs a lead consulted and must come through development.
const TWO_REFS: &str = r#"[environments.development]
branches = ["development"]
confirm = false
checks = ["no-delete"]

[environments.staging]
branches = ["staging"]
promote_from = "development"
confirm = true
checks = ["no-delete", "promoted"]
"#;

/// A clone whose bare remote runs server mode with `config`, push options advertised.
fn server_with(config: &str) -> TestRepo {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), config).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo
}

/// `pushguard log` in the bare repository: (branch, decision, landed) per row, newest first.
fn server_log(repo: &TestRepo) -> Vec<(String, String, String)> {
    let run = repo.pushguard_in(&repo.remote, &["log"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    let head: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    let at = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column:\n{}", run.stdout))
    };
    let (branch, decision, landed) = (at("BRANCH"), at("DECISION"), at("LANDED"));
    lines
        .map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                cells[branch].to_owned(),
                cells[decision].to_owned(),
                cells[landed].to_owned(),
            )
        })
        .collect()
}

#[test]
fn regression_issue_24_a_push_refused_for_one_ref_is_refused_whole_and_its_allowed_ref_did_not_land(
) {
    let repo = server_with(TWO_REFS);
    repo.commit("release 1");
    for attempt in 1..=2 {
        let run = repo.push(&[
            "origin",
            "HEAD:refs/heads/development",
            "HEAD:refs/heads/staging",
        ]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("the push is refused whole")
                && run.stderr.contains("development is not updated either"),
            "attempt {attempt}: the report says the atomic push is refused whole\n{}",
            run.stderr
        );
        assert_eq!(repo.remote_branch("development"), None);
    }
    // The guard's decision for development was `allowed`, twice; neither landed.
    let rows = server_log(&repo);
    let development: Vec<_> = rows.iter().filter(|r| r.0 == "development").collect();
    assert_eq!(development.len(), 2, "{rows:?}");
    assert!(
        development
            .iter()
            .all(|r| r.1 == "allowed" && r.2 == "NOT LANDED"),
        "{rows:?}"
    );
    let pending = repo.remote.join("pushguard/post-receive-pending.jsonl");
    assert!(
        std::fs::read_to_string(&pending)
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "nothing is left for a post-receive that will not run"
    );

    // Confirmed, the same push lands whole: its records landed; the refused ones still did not.
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/development",
        "HEAD:refs/heads/staging",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = server_log(&repo);
    assert_eq!(
        rows.iter().filter(|r| r.2 == "landed").count(),
        2,
        "{rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.2 == "NOT LANDED").count(),
        2,
        "{rows:?}"
    );
    assert!(std::fs::read_to_string(&pending)
        .unwrap_or_default()
        .trim()
        .is_empty());
}

#[test]
fn regression_issue_24_promoted_judges_the_source_as_the_same_push_leaves_it() {
    let repo = server_with(TWO_REFS);
    repo.commit("release 1");
    repo.push(&["-q", "origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    let tip = repo.commit_file("release", "2\n", "release 2");
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/development",
        "HEAD:refs/heads/staging",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("contained in development (as this push updates it)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("staging").as_deref(), Some(tip.as_str()));
    // A commit the push does not put on development still is not promoted.
    let other = repo.commit_file("release", "3\n", "release 3");
    let run = repo.push(&[
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/staging",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not on development"), "{}", run.stderr);
    assert_ne!(
        repo.remote_branch("staging").as_deref(),
        Some(other.as_str())
    );
}
