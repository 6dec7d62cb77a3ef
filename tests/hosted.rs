//! Server mode where teams host git (issue 20): the same checks through gitolite over ssh
//! (the pusher is `GL_USER`) and through `git http-backend` behind Apache (the pusher is
//! `REMOTE_USER`), from clients without pushguard, on the harness of `tests/hosting.rs`.
//!
//! Each check fails when pushguard is removed from the server: a refusal it asserts would be
//! a push that lands. The tests are `#[ignore]`d with the reason in `hosting::NEEDS` (an
//! attribute cannot name the constant); `.ci/run` runs them.

use crate::hosting::Hosted;

/// Production needs a confirmation; staging is ordinary but gated (recorded).
const CONFIG: &str = r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete", "fast-forward"]
"#;

/// Production also needs one approval by someone other than the pusher; the server maps its
/// user names to the addresses their approvals carry.
const APPROVALS: &str = r#"[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete", "fast-forward", "approvals"]
approvals = 1

[server]
users = { alice = ["alice@example.com"], bob = ["bob@example.com"] }
"#;

/// Production needs a signed push.
const SIGNED: &str = r#"[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete"]

[server]
require_signed_push = true
"#;

/// The variable the host names its pusher by.
fn pusher_variable(h: &Hosted) -> &'static str {
    match h.kind {
        crate::hosting::Kind::Gitolite => "GL_USER",
        crate::hosting::Kind::Apache => "REMOTE_USER",
    }
}

/// A client without pushguard: an ordinary push passes untouched; an unconfirmed production
/// push is refused with the report the client reads; `-o consulted` confirms it, and the
/// server's record names the host's user and who was consulted, and is attached to the trail.
fn unconfirmed_refused_confirmed_recorded(h: &Hosted) {
    let alice = h.clone_as("alice");
    let tip = h.commit(&alice, "Release 1");
    let run = h.push(&alice, &["origin", "HEAD:refs/heads/feature"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    assert!(!run.stderr.contains("pushguard"), "{}", run.stderr);
    assert!(h.records().is_empty(), "an ordinary push is not recorded");

    let run = h.push(&alice, &["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr
            .contains("remote: pushguard: ✗ push to production blocked"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("git push -o consulted=\"Name\""),
        "the refusal says how to confirm\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("[remote rejected]"), "{}", run.stderr);
    assert_eq!(h.branch("production"), None);
    let blocked = h.last_record();
    assert_eq!(blocked["decision"], "blocked");
    assert_eq!(
        blocked["user"]["name"],
        format!("alice (pusher, from {})", pusher_variable(h))
    );

    let run = h.push(
        &alice,
        &[
            "-o",
            "consulted=Ada Lead",
            "origin",
            "HEAD:refs/heads/production",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr
            .contains("remote: pushguard: ✓ push to production allowed"),
        "{}",
        run.stderr
    );
    assert_eq!(h.branch("production").as_deref(), Some(tip.as_str()));
    let allowed = h.last_record();
    assert_eq!(allowed["decision"], "allowed");
    assert_eq!(allowed["consulted"], "Ada Lead");
    assert_eq!(
        allowed["user"]["name"],
        format!("alice (pusher, from {})", pusher_variable(h))
    );
    // The post-receive hook attached the record to the server's own trail ref.
    let note = h.server_git(&["notes", "--ref", "pushguard-audit.d/server", "show", &tip]);
    assert_eq!(note.code, 0, "{}", note.stderr);
    assert!(
        note.stdout.contains("\"consulted\":\"Ada Lead\""),
        "{}",
        note.stdout
    );
}

/// Alice's own approval does not count for her push; Bob's does.
fn another_users_approval_counts_self_approval_does_not(h: &Hosted) {
    let alice = h.clone_as("alice");
    let tip = h.commit(&alice, "Release 2");
    // On the server, so that Bob can fetch it and approve it.
    let run = h.push(&alice, &["origin", "HEAD:refs/heads/release"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    let run = h.pushguard(&alice, &["approve", &tip, "--env", "production"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    assert!(h.server_ref("refs/notes/pushguard-approvals").is_some());
    let args = [
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ];
    let run = h.push(&alice, &args);
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, h.log());
    assert!(run.stderr.contains("0 of 1 approval"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not counted: your own approval"),
        "{}",
        run.stderr
    );
    assert_eq!(h.branch("production"), None);

    let bob = h.clone_as("bob");
    let run = h.pushguard(&bob, &["approve", &tip, "--env", "production"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    let run = h.push(&alice, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr
            .contains("1 of 1 approval: bob <bob@example.com>"),
        "{}",
        run.stderr
    );
    assert_eq!(h.branch("production").as_deref(), Some(tip.as_str()));
}

/// A user can neither delete nor rewind the trail's notes refs, though the host lets them
/// rewrite any ref of the repository.
fn trail_refs_cannot_be_deleted_or_rewound(h: &Hosted) {
    let alice = h.clone_as("alice");
    let first = h.commit(&alice, "one");
    let second = h.commit(&alice, "two");
    for commit in [&first, &second] {
        let run = h.pushguard(&alice, &["approve", commit, "--env", "production"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    }
    let approvals = "refs/notes/pushguard-approvals";
    let now = h
        .server_ref(approvals)
        .expect("the approvals are on the server");
    let older = h.git(&alice, &["rev-parse", &format!("{approvals}~1")]);
    assert_eq!(older.code, 0, "{}", older.stderr);

    let run = h.push(&alice, &["origin", &format!(":{approvals}")]);
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr.contains(
            "refused: deleting refs/notes/pushguard-approvals would erase the team's trail"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("merge, and push again"),
        "a delete is not a rewind\n{}",
        run.stderr
    );
    let run = h.push(
        &alice,
        &[
            "--force",
            "origin",
            &format!("{}:{approvals}", older.stdout.trim()),
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr
            .contains("this push rewinds refs/notes/pushguard-approvals"),
        "{}",
        run.stderr
    );
    assert_eq!(h.server_ref(approvals).as_deref(), Some(now.as_str()));
}

/// With `require_signed_push`, an unsigned push is refused and `git push --signed` with the
/// user's SSH key is accepted; the record names the certificate's signer.
fn signed_push_required(h: &mut Hosted) {
    let allowed = h.t.root.join("allowed_signers");
    let key = std::fs::read_to_string(h.key("alice").with_extension("pub")).unwrap();
    std::fs::write(&allowed, format!("alice@example.com {}", key.trim())).unwrap();
    h.server_config("receive.certNonceSeed", "test-seed");
    h.server_config("gpg.ssh.allowedSignersFile", allowed.to_str().unwrap());
    if h.kind == crate::hosting::Kind::Apache {
        // Each HTTP request runs its own receive-pack (see the README).
        h.server_config("receive.certNonceSlop", "60");
    }
    let alice = h.clone_as("alice");
    for (k, v) in [
        ("gpg.format", "ssh"),
        ("user.signingKey", h.key("alice").to_str().unwrap()),
    ] {
        assert_eq!(h.git(&alice, &["config", k, v]).code, 0);
    }
    let tip = h.commit(&alice, "Release 3");
    let refspec = "HEAD:refs/heads/production";
    let run = h.push(&alice, &["-o", "consulted=Ada Lead", "origin", refspec]);
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, h.log());
    assert!(
        run.stderr
            .contains("production requires a signed push: the push is not signed"),
        "{}",
        run.stderr
    );
    assert_eq!(h.branch("production"), None);
    let run = h.push(
        &alice,
        &["--signed", "-o", "consulted=Ada Lead", "origin", refspec],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, h.log());
    assert_eq!(h.branch("production").as_deref(), Some(tip.as_str()));
    let record = h.last_record();
    let user = record["user"]["name"].as_str().unwrap();
    assert!(
        user.starts_with("alice@example.com (pusher, from a signed push, key SHA256:"),
        "{user}"
    );
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_gitolite_refuses_unconfirmed_and_records_confirmed_pushes() {
    let h = Hosted::gitolite(CONFIG);
    unconfirmed_refused_confirmed_recorded(&h);
    // issue 24, item 4: status recognises pushguard behind gitolite's driver, and installing
    // again leaves gitolite's driver where it is.
    let status = h.server_pushguard(&["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for hook in ["pre-receive", "post-receive"] {
        assert!(
            status.stdout.contains(&format!(
                "hooks/{hook} — gitolite's driver runs pushguard ({hook}.h00-pushguard-{hook} → "
            )),
            "{}",
            status.stdout
        );
    }
    assert!(
        status.stdout.contains("host:    gitolite"),
        "{}",
        status.stdout
    );
    let install = h.server_pushguard(&["install"]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    assert!(
        install
            .stderr
            .contains("pushguard writes nothing into its hooks/"),
        "{}",
        install.stderr
    );
    assert!(
        !install.stderr.contains("✗"),
        "every step is done:\n{}",
        install.stderr
    );
    let driver = std::fs::read_link(h.bare.join("hooks/pre-receive")).unwrap();
    assert!(
        driver.ends_with("multi-hook-driver"),
        "{}",
        driver.display()
    );
    assert!(!h.bare.join("hooks/pre-receive.pushguard-chained").exists());
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_gitolite_counts_another_users_approval_not_the_pushers() {
    another_users_approval_counts_self_approval_does_not(&Hosted::gitolite(APPROVALS));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_gitolite_users_cannot_delete_or_rewind_the_trail() {
    trail_refs_cannot_be_deleted_or_rewound(&Hosted::gitolite(CONFIG));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_gitolite_signed_push_over_ssh() {
    signed_push_required(&mut Hosted::gitolite(SIGNED));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_apache_refuses_unconfirmed_and_records_confirmed_pushes() {
    unconfirmed_refused_confirmed_recorded(&Hosted::apache(CONFIG));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_apache_counts_another_users_approval_not_the_pushers() {
    another_users_approval_counts_self_approval_does_not(&Hosted::apache(APPROVALS));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_apache_users_cannot_delete_or_rewind_the_trail() {
    trail_refs_cannot_be_deleted_or_rewound(&Hosted::apache(CONFIG));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_20_apache_signed_push_over_http() {
    signed_push_required(&mut Hosted::apache(SIGNED));
}

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_24_config_check_as_root_in_the_web_servers_repository_says_why_it_cannot() {
    let h = Hosted::apache(CONFIG);
    assert!(
        h.owner_name().is_some(),
        "this test runs as root (as CI does): the repository then belongs to www-data"
    );
    h.write_server_file(
        "pushguard.toml",
        "[environments.production]\nbranches = [\"production\"]\nchecks = [\"fast-fwd\"]\n",
    );
    let run = h.pushguard(&h.bare, &["config", "--check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("it belongs to www-data, and you are root"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run pushguard as the repository's owner: `sudo -u www-data pushguard config --check`"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("configuration is valid"),
        "{}",
        run.stderr
    );
    // As the owner, the real problem shows.
    let run = h.server_pushguard(&["config", "--check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pushguard.toml:3:"), "{}", run.stderr);
}

/// development and staging, both ordinary (gated and recorded, nothing to confirm).
const TWO_BRANCHES: &str = r#"[environments.development]
branches = ["development"]
confirm = false
checks = ["no-delete"]

[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]
"#;

#[test]
#[ignore = "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)"]
fn regression_issue_24_gitolite_refusing_a_ref_after_pre_receive_leaves_no_pending_record_and_it_did_not_land(
) {
    let mut h = Hosted::gitolite(TWO_BRANCHES);
    h.deny("staging", "bob");
    let bob = h.clone_as("bob");
    let tip = h.commit(&bob, "Release 1");
    let run = h.push(
        &bob,
        &[
            "origin",
            "HEAD:refs/heads/development",
            "HEAD:refs/heads/staging",
        ],
    );
    assert_ne!(run.code, 0, "{}\n{}", run.stderr, h.log());
    // pushguard allowed both in pre-receive; gitolite's update hook refused staging after.
    assert!(run.stderr.contains("DENIED"), "{}", run.stderr);
    assert_eq!(h.branch("development").as_deref(), Some(tip.as_str()));
    assert_eq!(h.branch("staging"), None);
    assert!(
        run.stderr.contains("refs/heads/staging did not move"),
        "post-receive says which record did not land\n{}",
        run.stderr
    );
    let pending = std::fs::read_to_string(h.bare.join("pushguard/post-receive-pending.jsonl"))
        .unwrap_or_default();
    assert!(pending.trim().is_empty(), "left pending: {pending}");
    let records = h.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["decision"] == "allowed"));
    // Only what landed is shared: the note on the tip holds development's record alone.
    let note = h.server_git(&["notes", "--ref", "pushguard-audit.d/server", "show", &tip]);
    assert_eq!(note.code, 0, "{}", note.stderr);
    assert!(
        note.stdout.contains("refs/heads/development"),
        "{}",
        note.stdout
    );
    assert!(
        !note.stdout.contains("refs/heads/staging"),
        "{}",
        note.stdout
    );
    // The server's log says which landed.
    let log = h.server_pushguard(&["log"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    let landed = |branch: &str| {
        log.stdout
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == branch))
            .unwrap_or_else(|| panic!("no {branch} row:\n{}", log.stdout))
            .to_owned()
    };
    assert!(landed("staging").contains("NOT LANDED"), "{}", log.stdout);
    assert!(
        !landed("development").contains("NOT LANDED"),
        "{}",
        log.stdout
    );
}
