//! The trail's refs and how records are shared (issue 23 items 5–8, issue 19 item 2), each
//! attacked for real: a throwaway remote on another port, a `pushguardUrl` of the attacker's,
//! a fast-forward that empties the notes, a log rewritten from its first line with every
//! local trace wiped, 100,000 junk notes in the remote's trail, and another clone sharing its
//! record while this clone's is in flight.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{run_bounded, GitDaemon, Run, TestRepo};

/// Two environments, gated without a person to ask; production fails on a WIP commit.
const TEAM: &str = r#"[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = false

[environments.production]
branches = ["production"]
checks = ["no-delete", "no-wip"]
confirm = false
"#;

/// How long one push may take before the test fails (bounded: a gated push that hangs on the
/// remote's notes must not hang the suite).
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// A gated `git push <remote> HEAD:<branch>` from `dir` with extra environment variables,
/// bounded in time.
fn push_from(repo: &TestRepo, dir: &Path, remote: &str, branch: &str, env: &[(&str, &str)]) -> Run {
    run_bounded(
        repo.command("git")
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(["push", remote, &format!("HEAD:refs/heads/{branch}")]),
        PUSH_TIMEOUT,
    )
}

/// A gated push that must be allowed and shared.
#[track_caller]
fn gated(repo: &TestRepo, dir: &Path, remote: &str, branch: &str) -> Run {
    let run = push_from(repo, dir, remote, branch, &[]);
    assert_eq!(
        run.code, 0,
        "gated push to {remote} {branch}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("not shared"), "{}", run.stderr);
    run
}

/// Pat's guarded clone with the team config committed.
fn team() -> TestRepo {
    let repo = TestRepo::new();
    repo.install();
    repo.config(TEAM);
    repo.git(&["add", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "adopt pushguard"]);
    repo
}

/// A CI job's fresh clone of `url`, auditing with `--fail-on-unrecorded`.
fn ci_audit(repo: &TestRepo, url: &str, name: &str) -> Run {
    repo.git_in(&repo.root, &["clone", "-q", url, name]);
    let dir = repo.root.join(name);
    repo.pushguard_in(&dir, &["audit", "--fail-on-unrecorded"])
}

/// Every line of every audit note in the trail of the repository at `dir`, read with git.
fn all_trail_text(repo: &TestRepo, dir: &Path) -> String {
    let mut text = String::new();
    for r in repo.trail_refs(dir) {
        text.push_str(&repo.git_in(dir, &["log", "-p", "--format=", &r]));
    }
    text
}

// ---------------------------------------------------------------------------------------
// Item 5: remote identity.

#[test]
fn regression_issue_23_5_a_remote_on_another_port_never_shares_origins_outbox() {
    let repo = team();
    // origin and a throwaway remote: the same host and path, served on two ports.
    let other = repo.root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    repo.git_in(&other, &["init", "-q", "--bare", "remote.git"]);
    let origin_daemon = GitDaemon::start(&repo, &repo.root);
    let throwaway_daemon = GitDaemon::start(&repo, &other);
    let origin = origin_daemon.url("remote.git");
    let throwaway = throwaway_daemon.url("remote.git");
    repo.git(&["remote", "set-url", "origin", &origin]);
    repo.git(&["remote", "add", "throwaway", &throwaway]);
    gated(&repo, &repo.work, "origin", "production");

    // An unreviewed change passes trivially on the throwaway remote, recorded there...
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    gated(&repo, &repo.work, "throwaway", "production");
    // ...then goes to origin without the hook; the next gated push to origin shares notes.
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    gated(&repo, &repo.work, "origin", "development");

    let notes = all_trail_text(&repo, &repo.remote);
    assert!(!notes.contains(&throwaway), "{notes}");
    let run = ci_audit(&repo, &origin, "ci");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("origin/production (production): UNRECORDED"),
        "{}",
        run.stdout
    );
}

#[test]
fn regression_issue_23_5_an_attackers_pushguard_url_publishes_nothing_into_origin() {
    let repo = team();
    let path = repo.root.join("throwaway.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "throwaway.git"]);
    let throwaway = path.to_str().expect("utf-8").to_owned();
    repo.git(&["remote", "add", "throwaway", &throwaway]);
    repo.commit_file("evil.txt", "unreviewed\n", "unreviewed change");
    gated(&repo, &repo.work, "throwaway", "production");
    // The attacker's own clone claims the throwaway address belongs to origin.
    repo.git(&["config", "--add", "remote.origin.pushguardUrl", &throwaway]);
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    gated(&repo, &repo.work, "origin", "development");

    let notes = all_trail_text(&repo, &repo.remote);
    assert!(notes.contains("refs/heads/development"), "{notes}");
    assert!(!notes.contains(&throwaway), "{notes}");
    let run = ci_audit(&repo, repo.remote.to_str().expect("utf-8"), "ci");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
}

// ---------------------------------------------------------------------------------------
// Item 6: a trail that loses notes.

/// A remote in server mode, with Pat's guarded clone having pushed production once.
fn server_team() -> TestRepo {
    let repo = team();
    std::fs::write(repo.remote.join("pushguard.toml"), TEAM).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    gated(&repo, &repo.work, "origin", "production");
    repo
}

/// Pat's clone's own trail ref on the remote.
fn own_ref(repo: &TestRepo) -> String {
    let refs: Vec<String> = repo
        .trail_refs(&repo.remote)
        .into_iter()
        .filter(|r| r.starts_with("refs/notes/pushguard-audit.d/") && !r.ends_with("/server"))
        .collect();
    assert_eq!(refs.len(), 1, "{refs:?}");
    refs[0].clone()
}

/// A child of the remote's `refs` tip with `tree` (a notes commit), made in the work clone.
fn child_with_tree(repo: &TestRepo, trail_ref: &str, tree: &str) -> String {
    repo.git(&[
        "fetch",
        "-q",
        "origin",
        &format!("+{trail_ref}:{trail_ref}"),
    ]);
    repo.git(&["commit-tree", "-p", trail_ref, "-m", "tidy up", tree])
}

const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

#[test]
fn regression_issue_23_6_the_server_refuses_a_fast_forward_that_empties_the_trail() {
    let repo = server_team();
    let own = own_ref(&repo);
    let before = repo.git_in(&repo.remote, &["rev-parse", &own]);
    let emptied = child_with_tree(&repo, &own, EMPTY_TREE);
    let run = repo.push(&["--no-verify", "origin", &format!("{emptied}:{own}")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("refused: this push drops records from {own}")),
        "{}",
        run.stderr
    );
    assert_eq!(repo.git_in(&repo.remote, &["rev-parse", &own]), before);

    // The single ref of earlier versions too, once an older client created it.
    let tip = repo.head();
    let note = repo.trail_note(&repo.remote, &tip).expect("a record");
    repo.hang_note(&tip, note.trim_end()).expect_code(0);
    let emptied = child_with_tree(&repo, "refs/notes/pushguard-audit", EMPTY_TREE);
    let run = repo.push(&[
        "--no-verify",
        "origin",
        &format!("{emptied}:refs/notes/pushguard-audit"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("refused: this push drops records from refs/notes/pushguard-audit"),
        "{}",
        run.stderr
    );
}

/// Drops the notes on `commit` from every trail ref of the remote with a child commit (a
/// fast-forward, which a plain remote accepts), as an attacker with push access would.
fn drop_notes_on(repo: &TestRepo, commit: &str) {
    for r in repo.trail_refs(&repo.remote) {
        repo.git(&["fetch", "-q", "origin", &format!("+{r}:{r}")]);
        if repo.try_git(&["notes", "--ref", &r, "remove", commit]).code == 0 {
            repo.push(&["--no-verify", "-q", "origin", &r])
                .expect_code(0);
        }
    }
}

#[test]
fn regression_issue_23_6_audit_on_a_plain_origin_reports_a_trail_that_lost_notes() {
    let repo = team();
    gated(&repo, &repo.work, "origin", "production");
    // A bypassed hotfix, then a clean release on top: the tip is recorded.
    let hotfix = repo.commit_file("fix.txt", "quick\n", "WIP hotfix");
    let run = push_from(
        &repo,
        &repo.work,
        "origin",
        "production",
        &[("PUSHGUARD_BYPASS", "incident 42: checkout is down")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    repo.commit_file("fix.txt", "proper\n", "Fix checkout properly");
    gated(&repo, &repo.work, "origin", "production");
    let url = repo.remote.to_str().expect("utf-8").to_owned();
    // Pat's own clone has fetched the trail before (its `audit`).
    repo.pushguard(&["audit", "--fail-on-unrecorded"])
        .expect_code(0);

    // Someone hides the bypass: a notes commit without the hotfix's note.
    drop_notes_on(&repo, &hotfix);
    let run = ci_audit(&repo, &url, "ci");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("origin/production (production): recorded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the audit trail on origin LOST 1 record it held"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("bypassed push of refs/heads/production by Pat Pusher")
            && run.stderr.contains("dropped by notes commit"),
        "{}",
        run.stderr
    );

    // Rewound instead (a new history without the note, force-pushed): the history shows
    // nothing, but the clone that fetched the trail before sees what went.
    for r in repo.trail_refs(&repo.remote) {
        let tree = repo.git_in(&repo.remote, &["rev-parse", &format!("{r}^{{tree}}")]);
        let orphan = repo.git(&["commit-tree", "-m", "fresh start", &tree]);
        repo.push(&[
            "--no-verify",
            "-q",
            "-f",
            "origin",
            &format!("{orphan}:{r}"),
        ])
        .expect_code(0);
    }
    assert_eq!(ci_audit(&repo, &url, "ci2").code, 0);
    let run = repo.pushguard(&["audit", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("was rewound from"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// Item 7: the local log rewritten from line 1, every local trace wiped.

/// The clone's audit log.
fn log_path(repo: &TestRepo) -> PathBuf {
    repo.work.join(".git/pushguard/audit.jsonl")
}

fn delete_local_notes(repo: &TestRepo) {
    for r in repo
        .git(&["for-each-ref", "--format=%(refname)", "refs/notes/"])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]);
    }
}

#[track_caller]
fn expect_anchor_broken(run: &Run) {
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("audit log does not match what this clone shared: "),
        "{}",
        run.stdout
    );
}

/// Pat's clone after three gated pushes, all shared.
fn shared_three() -> TestRepo {
    let repo = team();
    gated(&repo, &repo.work, "origin", "development");
    repo.commit("release");
    gated(&repo, &repo.work, "origin", "development");
    gated(&repo, &repo.work, "origin", "production");
    repo
}

#[test]
fn regression_issue_23_7_a_log_rewritten_from_line_1_with_a_new_genesis_fails_against_the_remote() {
    let repo = shared_three();
    // Every record changed from the first one on, re-chained; the genesis follows.
    let text = std::fs::read_to_string(log_path(&repo)).expect("read log");
    let mut prev: Option<String> = None;
    let mut out = String::new();
    let mut first = None;
    for line in text.lines() {
        let (mut record, _) = pushguard::audit::parse_line(line.as_bytes()).expect("a record");
        record.consulted = Some("Someone Else".into());
        record.prev = prev.take();
        let (line, hash) = record.to_line();
        out.push_str(&line);
        out.push('\n');
        first.get_or_insert_with(|| hash.clone());
        prev = Some(hash);
    }
    std::fs::write(log_path(&repo), out).expect("write log");
    repo.git(&[
        "config",
        "pushguard.auditGenesis",
        &first.expect("a first record"),
    ]);
    delete_local_notes(&repo);
    repo.pushguard(&["log", "--verify"]).expect_code(0);
    expect_anchor_broken(&repo.pushguard(&["log", "--verify", "--remote"]));
}

#[test]
fn regression_issue_23_7_log_notes_and_genesis_all_deleted_fail_against_the_remote() {
    let repo = shared_three();
    std::fs::remove_file(log_path(&repo)).expect("delete log");
    delete_local_notes(&repo);
    repo.git(&["config", "--unset", "pushguard.auditGenesis"]);
    expect_anchor_broken(&repo.pushguard(&["log", "--verify", "--remote"]));
    // Even without the id the clone remembered: it derives it again from where it is.
    let _ = repo.try_git(&["config", "--unset", "pushguard.cloneId"]);
    let run = repo.pushguard(&["log", "--verify", "--remote"]);
    expect_anchor_broken(&run);
    assert!(
        run.stdout
            .contains("allowed push of refs/heads/development to origin"),
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------
// Item 8: availability.

/// Writes, in the clone at `dir`, a notes commit on `target` (parent: its current local
/// value, if any) holding `n` junk notes on made-up objects, all the same small blob.
fn junk_notes(repo: &TestRepo, dir: &Path, target: &str, n: usize) {
    let parent = Run::from_output(
        repo.command("git")
            .current_dir(dir)
            .args(["rev-parse", "--verify", "-q", target])
            .output()
            .expect("run git"),
    );
    let mut script = String::from("blob\nmark :1\ndata 5\njunk\n");
    script.push_str(&format!(
        "commit {target}\ncommitter Mallory <m@example.com> 1767225600 +0000\ndata 5\njunk\n"
    ));
    if parent.code == 0 {
        script.push_str(&format!("from {}\n", parent.stdout.trim()));
    }
    for i in 0..n {
        let h = pushguard::audit::sha256_hex(format!("junk {i}").as_bytes());
        script.push_str(&format!("M 644 :1 {}/{}\n", &h[..2], &h[2..40]));
    }
    let mut child = repo
        .command("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .expect("write to fast-import");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn regression_issue_23_8_junk_notes_in_the_remote_trail_do_not_stop_a_gated_push() {
    let repo = team();
    gated(&repo, &repo.work, "origin", "development");
    // Mallory stuffs 100,000 junk notes into the single ref and into Pat's own ref.
    let mallory = repo.clone_as("mallory", "Mallory", "m@example.com");
    let mut targets = vec![
        "refs/notes/pushguard-audit".to_owned(),
        own_ref_or_old(&repo),
    ];
    targets.dedup();
    for target in targets {
        let _ = Run::from_output(
            repo.command("git")
                .current_dir(&mallory)
                .args(["fetch", "-q", "origin", &format!("+{target}:{target}")])
                .output()
                .expect("run git"),
        );
        junk_notes(&repo, &mallory, &target, 100_000);
        repo.git_in(&mallory, &["push", "--no-verify", "-q", "origin", &target]);
    }
    // Pat's next gated push goes through and shares its record, in bounded time.
    let tip = repo.commit("after the junk");
    gated(&repo, &repo.work, "origin", "development");
    let note = repo.trail_note(&repo.remote, &tip).expect("the record");
    assert!(note.contains("refs/heads/development"), "{note}");
}

/// Pat's own trail ref on the remote, or the single ref where a version before issue 19
/// shared everything.
fn own_ref_or_old(repo: &TestRepo) -> String {
    repo.trail_refs(&repo.remote)
        .into_iter()
        .find(|r| r.starts_with("refs/notes/pushguard-audit.d/"))
        .unwrap_or_else(|| "refs/notes/pushguard-audit".to_owned())
}

#[test]
fn regression_issue_23_8_a_server_refuses_junk_in_its_trail() {
    let repo = server_team();
    let tip = repo.head();
    let id_ref = "refs/notes/pushguard-audit.d/0123456789abcdef";
    // A note that is not an audit record.
    repo.git(&["notes", "--ref", id_ref, "add", "-m", "junk", &tip]);
    let run = repo.push(&["--no-verify", "origin", id_ref]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not audit records of that commit"),
        "{}",
        run.stderr
    );
    // 100,000 notes at once.
    let stuffed = "refs/notes/pushguard-audit.d/fedcba9876543210";
    junk_notes(&repo, &repo.work, stuffed, 100_000);
    let run = repo.push(&["--no-verify", "origin", stuffed]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("adds more than 20000 notes (or 64 MiB of notes)"),
        "{}",
        run.stderr
    );
    // A note too large, made of real records.
    let note = repo.trail_note(&repo.remote, &tip).expect("a record");
    let big = note.repeat(1 + (1 << 20) / note.len());
    let file = repo.root.join("big-note");
    std::fs::write(&file, big).expect("write note");
    let large = "refs/notes/pushguard-audit.d/00000000000000aa";
    repo.git(&[
        "notes",
        "--ref",
        large,
        "add",
        "-F",
        file.to_str().expect("utf-8"),
        &tip,
    ]);
    let run = repo.push(&["--no-verify", "origin", large]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("bytes (at most 1048576"),
        "{}",
        run.stderr
    );
    // A ref in the namespace that no writer id names.
    let run = repo.push(&[
        "--no-verify",
        "origin",
        &format!("{id_ref}:refs/notes/pushguard-audit.d/anything"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a trail ref pushguard writes"),
        "{}",
        run.stderr
    );
    let refs = repo.trail_refs(&repo.remote);
    for refused in [
        id_ref,
        stuffed,
        large,
        "refs/notes/pushguard-audit.d/anything",
    ] {
        assert!(!refs.iter().any(|r| r == refused), "{refs:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Issue 19 item 2: sharing without contention.

#[test]
fn regression_issue_19_2_a_record_shared_meanwhile_by_another_clone_never_rejects_mine() {
    let repo = team();
    gated(&repo, &repo.work, "origin", "development");
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    repo.git_in(
        &ada,
        &["checkout", "-q", "-b", "work", "origin/development"],
    );
    repo.pushguard_in(&ada, &["install"]).expect_code(0);
    repo.git_in(
        &ada,
        &["commit", "-q", "--allow-empty", "-m", "ada's change"],
    );

    // While Pat's notes push is in flight (after git read its old value, before it updates
    // the ref), Ada's gated push lands, notes and all: the remote's pre-receive hook runs it.
    let log = repo.root.join("received.log");
    let flag = repo.root.join("ada-pushed");
    let ada_out = repo.root.join("ada-push.log");
    let path = crate::support::hermetic_path();
    let hook = format!(
        "#!/bin/sh\n\
         while read old new ref; do\n\
           echo \"$ref\" >> '{log}'\n\
           case \"$ref\" in refs/notes/*)\n\
             if [ ! -e '{flag}' ]; then\n\
               : > '{flag}'\n\
               (cd '{ada}' && env -i PATH='{path}' HOME='{home}' XDG_CONFIG_HOME='{home}/.config' \
                GIT_CONFIG_GLOBAL='{home}/.gitconfig' GIT_CONFIG_NOSYSTEM=1 LANG=C LC_ALL=C \
                PUSHGUARD_NONINTERACTIVE=1 git push origin HEAD:refs/heads/production) >> '{out}' 2>&1\n\
             fi;;\n\
           esac\n\
         done\n",
        log = log.display(),
        flag = flag.display(),
        ada = ada.display(),
        path = path.to_string_lossy(),
        home = repo.home.display(),
        out = ada_out.display(),
    );
    let hook_path = repo.remote.join("hooks/pre-receive");
    std::fs::write(&hook_path, hook).expect("write hook");
    std::fs::set_permissions(
        &hook_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod hook");

    let pat_tip = repo.commit("pat's change");
    gated(&repo, &repo.work, "origin", "development");
    let ada_log = std::fs::read_to_string(&ada_out).unwrap_or_default();
    assert!(flag.exists(), "Ada's push did not run: {ada_log}");
    let ada_tip = repo.git_in(&ada, &["rev-parse", "HEAD"]);
    assert_eq!(
        repo.remote_branch("production").as_deref(),
        Some(ada_tip.as_str()),
        "{ada_log}"
    );
    // Both records are on the remote, and each notes push went through the first time: one
    // notes update from Ada, one from Pat, no retry.
    assert!(repo.trail_note(&repo.remote, &pat_tip).is_some());
    assert!(
        repo.trail_note(&repo.remote, &ada_tip).is_some(),
        "{ada_log}"
    );
    let received = std::fs::read_to_string(&log).expect("the hook's log");
    let notes_updates = received
        .lines()
        .filter(|l| l.starts_with("refs/notes/"))
        .count();
    assert_eq!(notes_updates, 2, "{received}\n{ada_log}");
}

#[test]
fn a_first_share_larger_than_a_server_takes_at_once_goes_in_steps() {
    // An upgraded clone with a long log: more records for this remote than a server takes in
    // one push (20,000 notes), all still to share into its own ref.
    let repo = team();
    std::fs::write(repo.remote.join("pushguard.toml"), TEAM).expect("write config");
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    let url = repo.remote.to_str().expect("utf-8").to_owned();
    let mut prev: Option<String> = None;
    let mut log = String::new();
    let n = 20_500;
    for i in 0..n {
        let line = format!(
            r#"{{"version":1,"time":"2025-01-01T00:00:00Z","user":{{"name":"Pat Pusher","email":"pat@example.com"}},"remote":"origin","url":"{url}","local_ref":"HEAD","remote_ref":"refs/heads/development","environment":"development","old":null,"new":"{}","commits":1,"decision":"allowed","checks":[],"consulted":null,"checklist":[],"justification":null,"prev":{}}}"#,
            &pushguard::audit::sha256_hex(format!("commit {i}").as_bytes())[..40],
            prev.as_ref()
                .map_or("null".to_owned(), |p| format!("\"{p}\"")),
        );
        let hash = pushguard::audit::sha256_hex(line.as_bytes());
        log.push_str(&line[..line.len() - 1]);
        log.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
        prev = Some(hash);
    }
    let dir = repo.work.join(".git/pushguard");
    std::fs::create_dir_all(&dir).expect("state dir");
    std::fs::write(dir.join("audit.jsonl"), log).expect("write log");

    let run = gated(&repo, &repo.work, "origin", "development");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let own = own_ref(&repo);
    let notes = repo.git_in(&repo.remote, &["notes", "--ref", &own, "list"]);
    assert_eq!(notes.lines().count(), n + 1);
}

/// The approvals ref holds reviews of bypasses beside the approvals (issue 17) and the waivers
/// ref holds waivers (issue 22): a server takes them as the team's notes, refuses junk in
/// them, and never lets one be dropped or the waivers ref be deleted.
#[test]
fn regression_issue_23_6_reviews_and_waivers_are_guarded_like_approvals() {
    let repo = server_team();
    let tip = repo.head();
    let approvals = "refs/notes/pushguard-approvals";
    repo.pushguard(&["approve", "HEAD", "--env", "production"])
        .expect_code(0);
    repo.git(&[
        "fetch",
        "-q",
        "origin",
        &format!("+{approvals}:{approvals}"),
    ]);
    let note = repo.git(&["notes", "--ref", "pushguard-approvals", "show", &tip]);
    let mut entries: Vec<serde_json::Value> =
        serde_json::from_str(&note).expect("a JSON array of approvals");
    assert_eq!(entries.len(), 1, "{note}");
    let with = |entries: &[serde_json::Value]| {
        repo.git(&[
            "notes",
            "--ref",
            "pushguard-approvals",
            "add",
            "-f",
            "-m",
            &serde_json::to_string(entries).expect("json"),
            &tip,
        ]);
        repo.push(&["--no-verify", "origin", approvals])
    };
    // A review of a bypass, as `pushguard review` writes it, is taken.
    entries.push(serde_json::json!({"review": {
        "record": "0".repeat(64), "environment": "production", "commit": tip,
        "name": "Ada Lead", "email": "ada@example.com", "time": "2026-12-04T10:00:00Z"}}));
    with(&entries).expect_code(0);
    // Junk is not.
    let mut junk = entries.clone();
    junk.push(serde_json::json!({"anything": "goes"}));
    let run = with(&junk);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is not approvals, reviews or waivers of that commit"),
        "{}",
        run.stderr
    );
    // Nor may the review go again.
    let run = with(&entries[..1]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("drops records from"), "{}", run.stderr);
    // The waivers ref is the trail's too: no deletion.
    repo.git(&[
        "notes",
        "--ref",
        "pushguard-waivers",
        "add",
        "-m",
        &serde_json::to_string(&[serde_json::json!({
            "name": "Ada Lead", "email": "ada@example.com", "time": "2026-12-04T10:00:00Z",
            "check": "no-wip", "environment": "production", "commit": tip, "reason": "on development since the spring"
        })])
        .expect("json"),
        &tip,
    ]);
    repo.push(&["--no-verify", "origin", "refs/notes/pushguard-waivers"])
        .expect_code(0);
    let run = repo.push(&["--no-verify", "origin", ":refs/notes/pushguard-waivers"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("would erase the team's trail"),
        "{}",
        run.stderr
    );
}
