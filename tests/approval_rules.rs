//! Issue 18: approval rules by group (maximum matching, one seat per person), approvals bound
//! to what was approved, soak time measured from the records of real gated pushes,
//! `pushguard request` / `pushguard pending` with `[team] notify`, and the same rules on a
//! server. Several clones of one bare remote act as different people.

use std::path::Path;

use crate::support::{Run, TestRepo};

/// production needs a lead and someone from QA; staging is where releases soak.
const RULES: &str = r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = false
checks = ["no-delete"]

[[environments.production.approval_rules]]
name = "leads"
count = 1
approvers = ["*@leads.example"]

[[environments.production.approval_rules]]
name = "qa"
count = 1
approvers = ["qa-*"]
"#;

/// Pat's guarded clone with `config`, a release commit shared on `feature`.
fn setup(config: &str) -> (TestRepo, String) {
    let repo = TestRepo::guarded(config);
    let tip = repo.commit_file("app.txt", "v1\n", "release 1");
    repo.push_unguarded("HEAD:refs/heads/feature");
    (repo, tip)
}

/// `who` (a clone made with [`TestRepo::clone_as`]) approves `rev` for production.
fn approve(repo: &TestRepo, who: &Path, rev: &str) {
    repo.pushguard_in(who, &["approve", rev, "--env", "production"])
        .expect_code(0);
}

fn push_production(repo: &TestRepo) -> Run {
    repo.push(&["origin", "HEAD:refs/heads/production"])
}

#[track_caller]
fn contains(run: &Run, text: &str) {
    assert!(
        run.stderr.contains(text),
        "expected {text:?} in\n{}",
        run.stderr
    );
}

#[test]
fn regression_issue_18_two_rules_need_two_people_and_one_person_fills_one_seat() {
    let (repo, tip) = setup(RULES);
    // Ada is a lead and in QA: her one approval fills one seat only.
    let ada = repo.clone_as("ada", "Ada", "qa-ada@leads.example");
    approve(&repo, &ada, &tip);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(
        &run,
        "✗ approvals  1 of 2 seats filled (each by a different person, never the pusher)",
    );
    contains(&run, "leads: 1 of 1 — Ada <qa-ada@leads.example>");
    contains(
        &run,
        "qa: 0 of 1 — ask one of qa-* (Ada fills leads: one person fills one seat)",
    );
    contains(&run, "hint: ask one of qa-* to run `pushguard approve");
    assert_eq!(repo.remote_branch("production"), None);
    // Lee, a lead who is not in QA, approves second: the worst order for a greedy count (Ada
    // already took the leads seat). The matching moves Ada to qa and seats Lee in leads.
    let lee = repo.clone_as("lee", "Lee", "lee@leads.example");
    approve(&repo, &lee, &tip);
    let run = push_production(&repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(
        &run,
        "✓ approvals  2 of 2 seats, every rule met: leads ← Lee <lee@leads.example>; qa ← Ada <qa-ada@leads.example>",
    );
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

#[test]
fn regression_issue_18_three_approvals_in_the_worst_order_satisfy_a_satisfiable_set() {
    let config = RULES.replace(
        "approvers = [\"qa-*\"]\n",
        "approvers = [\"ada@*\", \"bob@*\"]\n\n[[environments.production.approval_rules]]\nname = \"ops\"\ncount = 1\napprovers = [\"bob@*\"]\n",
    ).replace("approvers = [\"*@leads.example\"]", "approvers = [\"ada@*\", \"carol@*\"]");
    let (repo, tip) = setup(&config);
    for (dir, email) in [("ada", "ada@example.com"), ("bob", "bob@example.com")] {
        let who = repo.clone_as(dir, dir, email);
        approve(&repo, &who, &tip);
    }
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(&run, "2 of 3 seats filled");
    let carol = repo.clone_as("carol", "carol", "carol@example.com");
    approve(&repo, &carol, &tip);
    let run = push_production(&repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(&run, "leads ← carol <carol@example.com>; qa ← ada <ada@example.com>; ops ← bob <bob@example.com>");
}

#[test]
fn regression_issue_18_the_pushers_and_with_distinct_from_authors_the_authors_approvals_do_not_count(
) {
    let config = RULES.replace(
        "checks = [\"no-delete\"]\n\n[[environments.production",
        "checks = [\"no-delete\"]\ndistinct_from_authors = true\n\n[[environments.production",
    );
    let repo = TestRepo::guarded(&config);
    repo.write("app.txt", "v1\n");
    repo.git(&["add", "app.txt"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "release 1 by Lee",
        "--author",
        "Lee <lee@leads.example>",
    ]);
    let tip = repo.head();
    repo.push_unguarded("HEAD:refs/heads/feature");
    let lee = repo.clone_as("lee", "Lee", "lee@leads.example");
    approve(&repo, &lee, &tip);
    approve(&repo, &repo.work, &tip);
    let quinn = repo.clone_as("quinn", "Quinn", "qa-quinn@example.com");
    approve(&repo, &quinn, &tip);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(
        &run,
        "not counted: Lee <lee@leads.example>: an author of the pushed range (`distinct_from_authors = true`)",
    );
    contains(
        &run,
        "not counted: your own approval (the pusher cannot approve their own push)",
    );
    contains(&run, "leads: 0 of 1 — ask one of *@leads.example");
    // Another lead, who wrote nothing of it, fills the seat.
    let liz = repo.clone_as("liz", "Liz", "liz@leads.example");
    approve(&repo, &liz, &tip);
    push_production(&repo).expect_code(0);
}

#[test]
fn regression_issue_18_an_approval_binds_to_what_was_approved() {
    let (repo, old) = setup(RULES);
    let lee = repo.clone_as("lee", "Lee", "lee@leads.example");
    let quinn = repo.clone_as("quinn", "Quinn", "qa-quinn@example.com");
    approve(&repo, &lee, &old);
    approve(&repo, &quinn, &old);
    // A new commit on top: the approvals of the old one are stale, and named.
    repo.commit_file("app.txt", "v2\n", "release 1, last-minute change");
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let old_short = &old[..10];
    contains(
        &run,
        &format!("not counted (stale): approved {old_short} by Lee <lee@leads.example>, tree differs in 1 file (an approval counts for what was approved)"),
    );
    contains(&run, "0 of 2 seats filled");
    // Back to the approved tree, reworded: a rebase of what was approved counts.
    repo.git(&["reset", "-q", "--hard", &old]);
    repo.git(&["commit", "-q", "--amend", "-m", "release 1 (reworded)"]);
    assert_ne!(repo.head(), old);
    let run = repo.pushguard(&["check", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(&run, "2 of 2 seats, every rule met");
    // The same tree reached through a commit that adds something and one that takes it
    // back: the range adds what nobody approved.
    repo.git(&["reset", "-q", "--hard", &old]);
    repo.commit_file("backdoor.txt", "x\n", "add a backdoor");
    repo.git(&["rm", "-q", "backdoor.txt"]);
    repo.git(&["commit", "-q", "-m", "take it out again"]);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(&run, "same tree, but the pushed range adds ");
    contains(
        &run,
        "(add a backdoor), which the approved range does not have",
    );
    // An approval for another environment never counts.
    repo.git(&["reset", "-q", "--hard", &old]);
    let run = repo.pushguard_in(&lee, &["approve", &old, "--env", "staging"]);
    run.expect_code(0);
    let run = repo.pushguard(&["check", "production", "--rev", &old]);
    contains(
        &run,
        "not counted: Lee <lee@leads.example> approved it for staging, not production",
    );
}

/// staging and production on one remote; production soaks on staging for `soak`.
fn soak_config(soak: &str) -> String {
    format!(
        "[environments.staging]\nbranches = [\"staging\"]\nconfirm = false\nchecks = [\"no-delete\"]\n\n[environments.production]\nbranches = [\"production\"]\npromote_from = \"staging\"\nconfirm = false\nchecks = [\"no-delete\", \"promoted\"]\nsoak = \"{soak}\"\n"
    )
}

#[test]
fn regression_issue_18_soak_blocks_a_fresh_commit_with_when_it_is_eligible() {
    let repo = TestRepo::guarded(&soak_config("24h"));
    let tip = repo.commit_file("app.txt", "v1\n", "release 1");
    // Not through the gate: nothing shows when it reached staging.
    repo.push_unguarded("HEAD:refs/heads/staging");
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(
        &run,
        &format!(
            "✗ soak       no record shows when {} reached staging",
            &tip[..10]
        ),
    );
    // Through the gate: the record starts the soak, and the push fails at once.
    let next = repo.commit_file("app.txt", "v2\n", "release 2");
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(&run, "✗ soak       eligible at ");
    contains(&run, " (local), in 24h: on staging since ");
    contains(&run, "soak 24h");
    assert_eq!(repo.remote_branch("production"), None);
    // A bypass covers it, recorded as usual.
    let run = repo.pushguard_with(
        &["hook", "pre-push", "origin", repo.remote.to_str().unwrap()],
        Some(
            format!("HEAD {next} refs/heads/production 0000000000000000000000000000000000000000\n")
                .as_bytes(),
        ),
        &[("PUSHGUARD_BYPASS", "INC-1: the fix must ship tonight")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(&run, "BYPASSED the gate (soak)");
}

#[test]
fn regression_issue_18_a_commit_older_than_the_soak_passes_and_stays_passed_when_staging_moves_on()
{
    let repo = TestRepo::guarded(&soak_config("1s"));
    let release = repo.commit_file("app.txt", "v1\n", "release 1");
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    // A real second or two: records are made by real pushes, and nothing moves the clock.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // staging moves on; the release stays on it.
    repo.commit_file("app.txt", "v2\n", "next release");
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&["origin", &format!("{release}:refs/heads/production")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(&run, "✓ soak       on staging since ");
    contains(&run, "(soak 1s)");
    assert_eq!(repo.remote_branch("production"), Some(release));
}

#[test]
fn regression_issue_18_request_then_approve_by_the_named_person_then_push() {
    let config =
        format!("{RULES}\n[team]\nnotify = \"sh notify.sh {{env}} {{commit}} {{approvers}}\"\n");
    let (repo, tip) = setup(&config);
    repo.write("notify.sh", "printf '%s\\n' \"$@\" > notified.txt\n");
    let lee = repo.clone_as("lee", "Lee", "lee@leads.example");
    approve(&repo, &lee, &tip);
    let run = repo.pushguard(&["request", "HEAD", "--env", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let short = &tip[..10];
    contains(&run, "  approvals  leads: 1 of 1 — Lee <lee@leads.example>");
    contains(&run, "  approvals  qa: 0 of 1 — ask one of qa-*");
    contains(&run, &format!("pushguard: requested approval of {short} for production as Pat Pusher <pat@example.com>"));
    contains(
        &run,
        &format!("  send them: pushguard approve {short} --env production"),
    );
    contains(
        &run,
        "pushguard: shared with origin (refs/notes/pushguard-approvals)",
    );
    contains(&run, "pushguard: notified: `sh` succeeded");
    let notified = std::fs::read_to_string(repo.work.join("notified.txt")).expect("notify ran");
    assert_eq!(notified, format!("production\n{tip}\nqa-*\n"));
    // The request is a note of its own kind on the remote: not an approval.
    let note = repo.git_in(
        &repo.remote,
        &["notes", "--ref", "pushguard-approvals", "show", &tip],
    );
    assert!(
        note.contains("{\"request\":{") && note.contains("\"name\":\"Pat Pusher\""),
        "{note}"
    );

    // pending says what production waits for.
    let pending = repo.pushguard(&["pending"]);
    pending.expect_code(0);
    assert!(
        pending.stdout.contains(&format!("production (origin/production):\n  {short} release 1  requested by Pat Pusher <pat@example.com>: waiting\n    approvals  leads: 1 of 1 — Lee <lee@leads.example>\n    approvals  qa: 0 of 1 — ask one of qa-*\n")),
        "{}",
        pending.stdout
    );
    let json = repo.pushguard(&["pending", "--env", "production", "--json"]);
    json.expect_code(0);
    let line: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().expect("a line")).expect("JSON");
    assert_eq!(line["commit"], tip.as_str());
    assert_eq!(line["ready"], false);
    assert_eq!(line["approvals"][1]["missing"], 1);

    // The person named approves with the line they were sent; the push goes through.
    let quinn = repo.clone_as("quinn", "Quinn", "qa-quinn@example.com");
    let run = repo.pushguard_in(&quinn, &["approve", short, "--env", "production"]);
    run.expect_code(0);
    push_production(&repo).expect_code(0);
    let pending = repo.pushguard(&["pending", "--env", "production"]);
    assert_eq!(
        pending.stdout,
        "production (origin/production): nothing waiting\n"
    );

    // A notify command that fails is reported, and the request stands.
    repo.config(&config.replace(
        "sh notify.sh",
        "sh -c 'echo no route to chat >&2; exit 3' sh",
    ));
    repo.commit_file("app.txt", "v2\n", "release 2");
    let run = repo.pushguard(&["request", "HEAD", "--env", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(
        &run,
        "failed: exit 3: no route to chat (the request is shared all the same)",
    );
}

#[test]
fn regression_issue_18_pending_lists_soak_and_what_each_environment_waits_for() {
    let repo = TestRepo::guarded(&format!(
        "{}\n[[environments.production.approval_rules]]\nname = \"leads\"\napprovers = [\"*@leads.example\"]\n",
        soak_config("24h")
    ));
    repo.commit_file("app.txt", "v1\n", "release 1");
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.pushguard(&["pending"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("staging (origin/staging): nothing waiting\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  tip of origin/staging: waiting\n    approvals  leads: 0 of 1 — ask one of *@leads.example\n    soak       eligible at "),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_issue_18_config_check_names_bad_rules() {
    let repo = TestRepo::new();
    repo.config(&RULES.replacen(
        "checks = [\"no-delete\"]\n\n[[",
        "checks = [\"no-delete\"]\napprovals = 2\n\n[[",
        1,
    ));
    let run = repo.pushguard(&["config", "--check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    contains(&run, "has both `approvals` and `approval_rules`");
    repo.config(&RULES.replace("name = \"qa\"", "name = \"leads\""));
    let run = repo.pushguard(&["config", "--check"]);
    contains(
        &run,
        ".pushguard.toml:18:8: duplicate approval rule name `leads` in environment `production`",
    );
    repo.config(&format!(
        "{RULES}\n[team]\nnotify = \"notify {{env}} {{who}}\"\n"
    ));
    let run = repo.pushguard(&["config", "--check"]);
    contains(&run, "unknown placeholder `{who}` in `notify`");
    repo.config(&soak_config("a day"));
    let run = repo.pushguard(&["config", "--check"]);
    contains(&run, "invalid duration `a day`");
}

/// A bare remote with the server hook and `config`; `main` is on staging.
fn server(config: &str) -> TestRepo {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), config).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo
}

/// A push as the server user `pat` (mapped to pat@example.com).
fn push_as_pat(repo: &TestRepo, refspec: &str) -> Run {
    Run::from_output(
        repo.command("git")
            .env("GL_USERNAME", "pat")
            .args(["push", "origin", refspec])
            .output()
            .expect("run git"),
    )
}

#[test]
fn regression_issue_18_the_server_enforces_approval_rules_and_soak() {
    let config = format!(
        "{}\n[server]\nusers = {{ pat = [\"pat@example.com\"] }}\n",
        RULES.replace(
            "checks = [\"no-delete\"]\n\n[[environments.production",
            "checks = [\"no-delete\", \"promoted\"]\nsoak = \"1s\"\n\n[[environments.production"
        )
    );
    let repo = server(&config);
    let tip = repo.commit_file("app.txt", "v1\n", "release 1");
    push_as_pat(&repo, "HEAD:refs/heads/staging").expect_code(0);
    let ada = repo.clone_as("ada", "Ada", "qa-ada@leads.example");
    approve(&repo, &ada, &tip);
    let run = push_as_pat(&repo, "HEAD:refs/heads/production");
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(&run, "remote:   ✗ approvals  1 of 2 seats filled");
    contains(&run, "qa: 0 of 1 — ask one of qa-*");
    // Without a name for the pusher, the server cannot tell their approvals apart.
    let lee = repo.clone_as("lee", "Lee", "lee@leads.example");
    approve(&repo, &lee, &tip);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(
        &run,
        "cannot count approvals: the pusher cannot be told apart from the approvers",
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let run = push_as_pat(&repo, "HEAD:refs/heads/production");
    assert_eq!(run.code, 0, "{}", run.stderr);
    contains(&run, "✓ soak       on staging since ");
    contains(&run, "(the server's record)");
    assert_eq!(repo.remote_branch("production"), Some(tip));
    // A fresh commit soaks on the server's clock: refused at once with when it is eligible.
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        config.replace("soak = \"1s\"", "soak = \"2h\""),
    )
    .expect("write config");
    let next = repo.commit_file("app.txt", "v2\n", "release 2");
    push_as_pat(&repo, "HEAD:refs/heads/staging").expect_code(0);
    repo.git_in(&ada, &["fetch", "-q"]);
    repo.git_in(&lee, &["fetch", "-q"]);
    approve(&repo, &ada, &next);
    approve(&repo, &lee, &next);
    let run = push_as_pat(&repo, "HEAD:refs/heads/production");
    assert_eq!(run.code, 1, "{}", run.stderr);
    contains(&run, "✗ soak       eligible at ");
    contains(&run, " (UTC), in 2h: on staging since ");
}
