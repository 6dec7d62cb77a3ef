//! Freeze windows and break-glass (issue 17, issue 22 item 11), pushed for real: windows are
//! built around the real clock (the guard reads no other), overrides name the freeze, who may
//! bypass, tickets, reviews after the fact, on the client and on the server.

use std::time::Duration;

use expectrl::Eof;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::support::{Run, TestRepo};

/// An RFC 3339 instant `hours` from now (negative: ago).
fn from_now(hours: i64) -> String {
    Timestamp::now()
        .checked_add(SignedDuration::from_hours(hours))
        .expect("a representable instant")
        .to_string()
}

/// production (confirm, a lead consulted) and staging; a one-off `year-end` window from
/// yesterday to tomorrow freezes production only; `extra` is appended.
fn config(extra: &str) -> String {
    format!(
        r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete"]

[confirm]
leads = ["Ada Lead <ada@example.com>"]

[[freeze]]
name = "year-end"
environments = ["production"]
from = "{}"
until = "{}"
timezone = "Europe/Berlin"
reason = "year-end change freeze"
{extra}"#,
        from_now(-24),
        from_now(24)
    )
}

/// The clone's audit records, oldest first.
fn records(repo: &TestRepo) -> Vec<Value> {
    std::fs::read_to_string(repo.work.join(".git/pushguard/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record is JSON"))
        .collect()
}

/// `git push` with extra environment variables.
fn push_with(repo: &TestRepo, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = repo
        .command("git")
        .arg("push")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run git push");
    Run::from_output(out)
}

#[test]
fn regression_issue_17_a_one_off_window_blocks_production_and_not_staging() {
    let repo = TestRepo::guarded(&config(""));
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
    let err = &run.stderr;
    assert!(
        err.contains("✗ freeze     production is frozen by `year-end` until "),
        "{err}"
    );
    assert!(err.contains("(Europe/Berlin)"), "{err}");
    assert!(
        err.contains("freeze `year-end`: year-end change freeze (closes "),
        "{err}"
    );
    // The exact line that overrides it.
    assert!(
        err.contains(
            "PUSHGUARD_BYPASS=\"<why this push cannot wait>\" PUSHGUARD_FREEZE=year-end git push …"
        ),
        "{err}"
    );
    let r = records(&repo);
    assert_eq!(r[1]["decision"], "blocked");
    assert_eq!(r[1]["checks"][0]["id"], "freeze");
    assert_eq!(r[1]["checks"][0]["outcome"], "fail");
    assert_eq!(r[1]["freeze"], Value::Null);
    assert_eq!(r[1]["ticket"], Value::Null);
    // An ordinary branch never meets the window.
    repo.push(&["origin", "HEAD:refs/heads/feature"])
        .expect_code(0);
}

#[test]
fn regression_issue_17_a_recurring_window_in_a_non_utc_zone_fired_a_minute_ago_is_open() {
    let zone = jiff::tz::TimeZone::get("Asia/Kathmandu").expect("the test machine has tzdata");
    let fired = Timestamp::now()
        .checked_sub(SignedDuration::from_mins(1))
        .expect("a representable instant")
        .to_zoned(zone);
    let repo = TestRepo::guarded(&format!(
        r#"[environments.production]
branches = ["production"]
confirm = false
checks = ["no-delete"]

[[freeze]]
name = "nightly"
cron = "{} {} * * *"
duration = "1h"
timezone = "Asia/Kathmandu"
reason = "the nightly batch runs"
"#,
        fired.minute(),
        fired.hour()
    ));
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("production is frozen by `nightly` until "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("+0545 (Asia/Kathmandu)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn regression_issue_17_the_override_names_the_freeze_and_records_freeze_ticket_and_consulted() {
    let repo = TestRepo::guarded(&config("\n[bypass]\nticket = '^(INC|CHG)-[0-9]+$'\n"));
    let why = "INC-4711: checkout is down for every customer";
    // Without the window's name: refused, with the exact line to use.
    let run = push_with(
        &repo,
        &[("PUSHGUARD_BYPASS", why)],
        &["origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the bypass does not override the freeze: PUSHGUARD_FREEZE is not set; the window `year-end` freezes it now"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "PUSHGUARD_BYPASS=\"<why this push cannot wait>\" PUSHGUARD_FREEZE=year-end git push …"
        ),
        "{}",
        run.stderr
    );
    // Naming another window does not do either.
    let run = push_with(
        &repo,
        &[("PUSHGUARD_BYPASS", why), ("PUSHGUARD_FREEZE", "summer")],
        &["origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("PUSHGUARD_FREEZE names `summer`"),
        "{}",
        run.stderr
    );
    // A justification without a ticket is refused.
    let run = push_with(
        &repo,
        &[
            ("PUSHGUARD_BYPASS", "the checkout is down for everyone"),
            ("PUSHGUARD_FREEZE", "year-end"),
        ],
        &["origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("it names no ticket"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
    let run = push_with(
        &repo,
        &[
            ("PUSHGUARD_BYPASS", why),
            ("PUSHGUARD_FREEZE", "year-end"),
            ("PUSHGUARD_CONSULTED", "Ada Lead"),
        ],
        &["origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("overrides the freeze `year-end` (recorded)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("BYPASSED the gate (freeze)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["decision"], "bypassed");
    assert_eq!(last["freeze"], "year-end");
    assert_eq!(last["ticket"], "INC-4711");
    assert_eq!(last["consulted"], "Ada Lead");
    assert_eq!(last["justification"], why);
    // `log` says what the bypass covered, and why the earlier pushes were blocked.
    let log = repo.pushguard(&["log"]);
    log.expect_code(0);
    assert!(
        log.stdout.lines().next().unwrap().ends_with("WHY"),
        "{}",
        log.stdout
    );
    assert!(
        log.stdout
            .contains("covered: freeze year-end; ticket INC-4711"),
        "{}",
        log.stdout
    );
    assert!(log.stdout.contains("failed: freeze"), "{}", log.stdout);
}

#[test]
fn regression_issue_17_override_false_cannot_be_bypassed_and_says_whom_to_ask() {
    let repo = TestRepo::guarded(&config(
        "override = false\ncontact = \"the release managers <release@example.com>\"\n",
    ));
    let run = push_with(
        &repo,
        &[
            ("PUSHGUARD_BYPASS", "incident 4711: checkout is down"),
            ("PUSHGUARD_FREEZE", "year-end"),
        ],
        &["origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the freeze `year-end` cannot be overridden (`override = false`): no bypass gets a push to production through until it ends"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: to change that, ask the release managers <release@example.com> to change the window in the policy"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn regression_issue_17_a_pusher_outside_bypass_by_is_refused_on_the_client() {
    let repo = TestRepo::guarded(&config(
        "\n[bypass]\nbypass_by = [\"*@sre.example\", \"lead@example.com\"]\n",
    ));
    let env = [
        ("PUSHGUARD_BYPASS", "incident 4711: checkout is down"),
        ("PUSHGUARD_FREEZE", "year-end"),
    ];
    let run = push_with(&repo, &env, &["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("you may not bypass in production: `bypass_by` lets only these bypass: *@sre.example, lead@example.com (you are pat@example.com)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    repo.git(&["config", "user.email", "sam@SRE.example"]);
    push_with(&repo, &env, &["origin", "HEAD:refs/heads/production"]).expect_code(0);
}

#[test]
fn regression_issue_17_bad_windows_block_environment_pushes_only_and_config_check_locates_them() {
    let repo = TestRepo::guarded(
        "[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"no-delete\"]\n\n[[freeze]]\nname = \"weekend\"\ncron = \"0 16 * * FRI\"\nduration = \"64h\"\ntimezone = \"Europe/Berlim\"\n",
    );
    // The hook's fast path reads no window: an ordinary push passes.
    repo.push(&["origin", "HEAD:refs/heads/feature"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(".pushguard.toml:10:12: unknown time zone `Europe/Berlim`"),
        "{}",
        run.stderr
    );
    let check = repo.pushguard(&["config", "--check"]);
    assert_eq!(check.code, 2, "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains(".pushguard.toml:10:12: unknown time zone `Europe/Berlim`"),
        "{}",
        check.stderr
    );
    assert!(
        check
            .stderr
            .contains("10 | timezone = \"Europe/Berlim\"\n       |            ^^^^^^^^^^^^^^^"),
        "{}",
        check.stderr
    );
}

#[test]
fn regression_issue_17_status_shows_frozen_until_and_the_next_window() {
    let repo = TestRepo::guarded(&config(&format!(
        "\n[[freeze]]\nname = \"launch\"\nenvironments = [\"staging\"]\nfrom = \"{}\"\nuntil = \"{}\"\n",
        from_now(48),
        from_now(50)
    )));
    let run = repo.pushguard_with(&["status"], None, &[("TZ", "UTC")]);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(
        out.contains("freeze:  judged with this machine's clock, now "),
        "{out}"
    );
    assert!(out.contains("  production   frozen until "), "{out}");
    assert!(out.contains("by `year-end`"), "{out}");
    assert!(
        out.contains("  staging      open; next freeze `launch` from "),
        "{out}"
    );
}

/// A clone of `repo`'s remote as another person.
fn teammate(repo: &TestRepo, dir: &str, name: &str, email: &str) -> std::path::PathBuf {
    repo.clone_as(dir, name, email)
}

#[test]
fn regression_issue_17_audit_fails_on_an_unreviewed_bypass_until_someone_else_reviews_it() {
    let repo = TestRepo::guarded(&config("\n[bypass]\nticket = '^INC-[0-9]+$'\n"));
    let policy = repo.root.join("policy.toml");
    std::fs::write(
        &policy,
        "[environments.production]\nbranches = [\"production\"]\n\n[bypass]\nreview_within = \"0s\"\n",
    )
    .expect("write the policy");
    let policy = policy.to_str().expect("utf-8 path");
    push_with(
        &repo,
        &[
            ("PUSHGUARD_BYPASS", "INC-4711: checkout is down"),
            ("PUSHGUARD_FREEZE", "year-end"),
        ],
        &["origin", "HEAD:refs/heads/production"],
    )
    .expect_code(0);
    let audit = |flags: &[&str]| {
        let mut args = vec!["audit", "--config", policy];
        args.extend_from_slice(flags);
        repo.pushguard(&args)
    };
    let run = audit(&["--fail-on-unreviewed"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("bypasses: 1"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ticket INC-4711  freeze year-end"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("UNREVIEWED  OVERDUE since "),
        "{}",
        run.stdout
    );
    let run = audit(&["--fail-on-bypassed"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("the tip was BYPASSED (record "),
        "{}",
        run.stdout
    );
    // The bypasser cannot review their own bypass.
    let own = repo.pushguard(&["review", "origin/production", "--env", "production"]);
    assert_eq!(own.code, 2, "{}", own.stderr);
    assert!(
        own.stderr.contains("a review must come from someone else"),
        "{}",
        own.stderr
    );
    assert_eq!(audit(&["--fail-on-unreviewed"]).code, 1);
    // Someone else does.
    let ada = teammate(&repo, "ada", "Ada Lead", "ada@example.com");
    let review = repo.pushguard_in(
        &ada,
        &[
            "review",
            "origin/production",
            "--env",
            "production",
            "--note",
            "hotfix looked at",
        ],
    );
    assert_eq!(review.code, 0, "{}", review.stderr);
    assert!(
        review.stderr.contains("reviewed the bypass of "),
        "{}",
        review.stderr
    );
    assert!(
        review
            .stderr
            .contains("(ticket INC-4711) as Ada Lead <ada@example.com>"),
        "{}",
        review.stderr
    );
    let run = audit(&["--fail-on-unreviewed", "--fail-on-bypassed"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("reviewed by Ada Lead <ada@example.com> at "),
        "{}",
        run.stdout
    );
    // The review is a note kind of its own: it is no approval.
    let list = repo.pushguard(&["approve", "--list"]);
    assert!(
        list.stderr.contains("no approvals recorded"),
        "{}\n{}",
        list.stdout,
        list.stderr
    );
}

#[test]
fn regression_issue_22_a_bypass_asks_who_was_consulted_and_the_question_names_the_freeze() {
    let repo = TestRepo::guarded(&config(""));
    let mut cmd = repo.command("git");
    cmd.args(["push", "origin", "HEAD:refs/heads/production"])
        .env_remove("PUSHGUARD_NONINTERACTIVE");
    let mut p = expectrl::Session::spawn(cmd).expect("spawn git push in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    p.expect("Override the freeze `year-end` and bypass the failed checks with a justification?")
        .unwrap();
    p.send("y\r").unwrap();
    p.expect("at least 15 characters").unwrap();
    p.send("incident 4711: checkout is down\r").unwrap();
    p.expect("Did you talk to a lead or senior about this bypass?")
        .unwrap();
    p.send("y\r").unwrap();
    p.expect("Who did you consult?").unwrap();
    p.send("\r").unwrap();
    let out = p.expect(Eof).expect("the push ends");
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    assert!(text.contains("BYPASSED the gate (freeze)"), "{text}");
    let last = records(&repo).pop().expect("a record");
    assert_eq!(last["decision"], "bypassed");
    assert_eq!(last["freeze"], "year-end");
    assert_eq!(last["consulted"], "Ada Lead <ada@example.com>");
}

/// A clone whose bare remote gates in server mode with `server_config`; push options on.
fn server(server_config: &str) -> TestRepo {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), server_config).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo
}

/// The server's audit records.
fn server_records(repo: &TestRepo) -> Vec<Value> {
    std::fs::read_to_string(repo.remote.join("pushguard/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

#[test]
fn regression_issue_17_the_server_judges_freezes_bypass_by_and_tickets_with_push_options() {
    let repo = server(&config(
        "\n[bypass]\nbypass_by = [\"ada\", \"*@sre.example\"]\nticket = '^INC-[0-9]+$'\n",
    ));
    let bypass = [
        "-o",
        "bypass=INC-42: checkout is down",
        "-o",
        "consulted=Ada Lead",
    ];
    let mut args: Vec<&str> = bypass.to_vec();
    args.extend(["origin", "HEAD:refs/heads/production"]);
    // A pusher the server names but bypass_by does not list.
    let run = push_with(&repo, &[("REMOTE_USER", "pat")], &args);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("you may not bypass in production: `bypass_by` lets only these bypass: ada, *@sre.example (you are pat)"),
        "{}",
        run.stderr
    );
    // A listed pusher, without naming the freeze: the exact push options to use.
    let run = push_with(&repo, &[("REMOTE_USER", "ada")], &args);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no push option `freeze`; the window `year-end` freezes it now"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("git push -o bypass=\"<why this push cannot wait>\" -o freeze=year-end …"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    let mut named = args.clone();
    named.splice(0..0, ["-o", "freeze=year-end"]);
    let run = push_with(&repo, &[("REMOTE_USER", "ada")], &named);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = server_records(&repo).pop().expect("a server record");
    assert_eq!(last["decision"], "bypassed");
    assert_eq!(last["freeze"], "year-end");
    assert_eq!(last["ticket"], "INC-42");
    assert_eq!(last["consulted"], "Ada Lead");
}
