//! Issue 22, "what a new team hit in its second week": one regression test per item this
//! branch fixes (`regression_issue_22_<item>_*`), each pushing for real.

use crate::human::{finish, records, spawn_push};
use crate::support::TestRepo;

/// Development asks who was consulted, from a list of leads; production asks a name and two
/// checklist items.
const ASKING: &str = r#"
[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = true

[environments.production]
branches = ["production"]
checks = ["no-delete", "fast-forward"]
confirm = true
checklist = ["Stakeholders approved the release", "Users are ready"]
"#;

const LEADS: &str =
    "\n[confirm]\nleads = [\"Ada Lead <ada@example.com>\", \"Bo Senior <bo@example.com>\"]\n";

#[test]
fn regression_issue_22_1_y_then_enter_does_not_choose_the_first_lead() {
    let repo = TestRepo::guarded(&format!("{ASKING}{LEADS}"));
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/development"]);
    p.expect("about this push?").unwrap();
    // What people type out of habit: `y`, then Enter.
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("Who did you consult?").unwrap();
    p.expect("Bo Senior").unwrap();
    p.send("\x1b[B").unwrap(); // down to the second lead
    p.send("\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    let r = records(&repo);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "allowed");
    assert_eq!(r[0]["consulted"], "Bo Senior <bo@example.com>", "{text}");
}

#[test]
fn regression_issue_22_1_y_then_enter_does_not_answer_the_next_checklist_item() {
    let repo = TestRepo::guarded(ASKING);
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    p.expect("about this push?").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("(name)").unwrap();
    p.send("Cy Staff\r").unwrap();
    p.expect("Stakeholders approved the release").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("Users are ready").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert!(!text.contains("a name is needed"), "{text}");
    let r = records(&repo);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "allowed", "{text}");
    assert_eq!(r[0]["consulted"], "Cy Staff");
    let answers: Vec<(String, bool)> = r[0]["checklist"]
        .as_array()
        .expect("a checklist")
        .iter()
        .map(|c| {
            (
                c["item"].as_str().unwrap_or_default().to_owned(),
                c["answer"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("Stakeholders approved the release".to_owned(), true),
            ("Users are ready".to_owned(), true)
        ]
    );
}

#[test]
fn regression_issue_22_9_ctrl_u_clears_the_justification() {
    let repo = TestRepo::guarded(ASKING);
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let mut p = spawn_push(&repo, &["-f", "origin", "HEAD:refs/heads/production"]);
    p.expect("Bypass the failed checks with a justification?")
        .unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("at least 15 characters").unwrap();
    p.send("not what I mean to record").unwrap();
    p.send("\x15").unwrap(); // Ctrl-U
    p.send("incident 4711: revert the broken release\r")
        .unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    let r = records(&repo);
    assert_eq!(r[0]["decision"], "bypassed", "{text}");
    assert_eq!(
        r[0]["justification"],
        "incident 4711: revert the broken release"
    );
}

/// Development takes anything; staging takes what is on development, without WIP commits or
/// conflict markers; `hotfix/*` only checks for conflict markers.
const PROMOTION: &str = r#"
[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = false

[environments.staging]
branches = ["staging"]
promote_from = "development"
checks = ["no-delete", "fast-forward", "promoted", "no-wip", "no-conflict-markers"]
confirm = false

[environments.hotfix]
branches = ["hotfix/*"]
checks = ["no-conflict-markers"]
confirm = false
"#;

const CONFLICTED: &str = "a\n<<<<<<< ours\nb\n=======\nc\n>>>>>>> theirs\n";

#[test]
fn regression_issue_22_4_conflict_markers_fixed_later_in_the_range_pass() {
    let repo = TestRepo::guarded(PROMOTION);
    repo.push_unguarded("HEAD:refs/heads/staging");
    repo.commit_file("app.txt", CONFLICTED, "Merge the feature");
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    repo.commit_file("app.txt", "a\nb\n", "Resolve the conflict");
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    // The range carries the markers in one commit and their fix in the next: none is left.
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("✓ no-conflict-markers  no conflict markers added in 2 commits"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("staging"), Some(repo.head()));

    // A marker the push leaves is still found, by file and line in the pushed version.
    repo.commit_file("other.txt", "x\n>>>>>>> theirs\n", "Add other");
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "✗ no-conflict-markers  1 conflict marker added by this push\n      other.txt:2\n"
        ),
        "{}",
        run.stderr
    );
    // Fixing it in a new commit, as the hint says, clears it.
    assert!(
        run.stderr.contains(
            "hint: resolve the conflicts at those lines and commit the fix, then push again"
        ),
        "{}",
        run.stderr
    );
    repo.commit_file("other.txt", "x\n", "Fix other");
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    repo.push(&["origin", "HEAD:refs/heads/staging"])
        .expect_code(0);
}

#[test]
fn regression_issue_22_4_a_new_branch_is_judged_from_the_merge_base_with_the_remotes_branches() {
    let repo = TestRepo::guarded(PROMOTION);
    repo.push_unguarded("HEAD:refs/heads/main");
    repo.commit_file("app.txt", CONFLICTED, "Merge the feature");
    repo.commit_file("app.txt", "a\nb\n", "Resolve the conflict");
    let run = repo.push(&["origin", "HEAD:refs/heads/hotfix/1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Against the merge base (origin/main), the markers already there are not this push's.
    repo.git(&["checkout", "-q", "-b", "old", "main"]);
    repo.commit_file("legacy.txt", "=======\n", "Legacy file");
    repo.push_unguarded("HEAD:refs/heads/legacy");
    repo.commit_file("legacy.txt", "=======\nmore\n", "Extend the legacy file");
    let run = repo.push(&["origin", "HEAD:refs/heads/hotfix/2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    repo.commit_file("new.txt", "<<<<<<< HEAD\n", "New file");
    let run = repo.push(&["origin", "HEAD:refs/heads/hotfix/3"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("      new.txt:1\n"), "{}", run.stderr);
    assert!(!run.stderr.contains("legacy.txt"), "{}", run.stderr);
}

/// A WIP commit and its follow-up, pushed to development; staging exists at the initial
/// commit. Returns the WIP commit's short id.
fn wip_on_development(repo: &TestRepo) -> String {
    repo.push_unguarded("HEAD:refs/heads/staging");
    let wip = repo.commit_file("login.txt", "draft\n", "WIP login form");
    repo.commit_file("login.txt", "done\n", "Finish the login form");
    repo.push(&["origin", "HEAD:refs/heads/development"])
        .expect_code(0);
    wip[..10].to_owned()
}

const REASON: &str = "on development since the freeze; squashing would rewrite it";

#[test]
fn regression_issue_22_4_a_wip_commit_on_development_is_waived_by_name_and_recorded() {
    let repo = TestRepo::guarded(PROMOTION);
    let wip = wip_on_development(&repo);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "      {wip} WIP login form (already on development: origin/development)\n"
        )),
        "{}",
        run.stderr
    );
    let command = format!(
        "`pushguard waive {wip} --check no-wip --env staging --reason \"<why it may ship as it is>\"`"
    );
    assert!(
        run.stderr.contains(&format!(
            "hint: {wip} is already on development, whose history is not rewritten: to let it through to staging (recorded), run {command}, then push again"
        )),
        "{}",
        run.stderr
    );

    // Only the check that judges each commit can be waived, and only a commit already shared.
    let run = repo.pushguard(&[
        "waive",
        &wip,
        "--check",
        "no-conflict-markers",
        "--env",
        "staging",
        "--reason",
        REASON,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`no-conflict-markers` cannot be waived"),
        "{}",
        run.stderr
    );
    let local = repo.commit("WIP not shared yet");
    let run = repo.pushguard(&[
        "waive", &local, "--check", "no-wip", "--env", "staging", "--reason", REASON,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not on development"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: squash or reword it"),
        "{}",
        run.stderr
    );
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let run = repo.pushguard(&[
        "waive", &wip, "--check", "no-wip", "--env", "staging", "--reason", "short",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--reason: too short"), "{}", run.stderr);

    // The hint's command, as printed.
    let run = repo.pushguard(&[
        "waive", &wip, "--check", "no-wip", "--env", "staging", "--reason", REASON,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "pushguard: waived `no-wip` for {wip} (WIP login form, on origin/development) on staging, as Pat Pusher <pat@example.com>"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("pushguard: shared with origin (refs/notes/pushguard-waivers)"),
        "{}",
        run.stderr
    );
    let shared = repo.git(&["ls-remote", "origin", "refs/notes/pushguard-waivers"]);
    assert!(!shared.is_empty());

    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let detail = format!(
        "no work-in-progress commits among 2 commits pushed; 1 commit waived ({wip} by Pat Pusher <pat@example.com>)"
    );
    assert!(
        run.stderr
            .contains(&format!("✓ no-wip               {detail}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "waived: {wip} WIP login form — by Pat Pusher <pat@example.com>: {REASON}"
        )),
        "{}",
        run.stderr
    );
    let r = records(&repo);
    let last = r.last().expect("a record");
    assert_eq!(last["decision"], "allowed");
    let no_wip = last["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "no-wip")
        .expect("no-wip recorded");
    assert_eq!(no_wip["detail"], detail.as_str());
    assert_eq!(repo.remote_branch("staging"), Some(repo.head()));
}

#[test]
fn regression_issue_22_4_with_signatures_required_only_someone_elses_verified_waiver_counts() {
    use crate::signing::{allow, keygen, sign_with};
    let signed = format!("{PROMOTION}\n[trust]\nallowed_signers = \".allowed_signers\"\n").replace(
        "promote_from = \"development\"\n",
        "promote_from = \"development\"\nrequire_signatures = true\n",
    );
    let repo = TestRepo::new();
    repo.install();
    let pat = keygen(&repo, "pat");
    let ada_key = keygen(&repo, "ada");
    allow(
        &repo,
        &[("pat@example.com", &pat), ("ada@example.com", &ada_key)],
    );
    repo.config(&signed);
    repo.git(&["add", ".allowed_signers", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "Set up pushguard"]);
    sign_with(&repo, &repo.work, pat.to_str().expect("utf-8"));
    let wip = wip_on_development(&repo);
    let args = [
        "waive", &wip, "--check", "no-wip", "--env", "staging", "--reason", REASON,
    ];

    // Pat's own waiver is signed, and does not count for Pat's push.
    let run = repo.pushguard(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(", signed with "), "{}", run.stderr);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "not counted: the waiver of {wip} by Pat Pusher <pat@example.com>: signed by your own key (pat@example.com)"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "ask someone other than you (signatures are required) to run `pushguard waive"
        ),
        "{}",
        run.stderr
    );

    // Ada's, from her clone, with her key: counts.
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(&repo, &ada, ada_key.to_str().expect("utf-8"));
    repo.pushguard_in(&ada, &args).expect_code(0);
    let run = repo.push(&["origin", "HEAD:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "1 commit waived ({wip} by Ada Lead <ada@example.com> (signed: ada@example.com))"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_22_9_no_wip_counts_no_commit_on_an_empty_range() {
    let repo = TestRepo::guarded(PROMOTION);
    repo.push_unguarded("HEAD:refs/heads/development");
    // HEAD is a WIP commit that is not pushed: the range (HEAD~1 is on origin/development) is empty.
    repo.commit("WIP not pushed");
    let run = repo.push(&["origin", "HEAD~1:refs/heads/staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("✓ no-wip               no work-in-progress commits among 0 commits pushed"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_22_8_install_names_the_environment_branches_and_hints_name_only_branches_the_remote_has(
) {
    // A trunk-based repository (pushguard's own clone, say): the remote has `main` only.
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/main");
    let run = repo.pushguard(&["install"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "pushguard: on origin, pushes to these branches now go through the gate (as last fetched):\n    production   main\n  environments with no branch on origin: development (develop, development, dev), staging (staging, stage)\nhint: these are the built-in defaults; to change which branches are environments, run `pushguard init`"
        ),
        "{}",
        run.stderr
    );
    repo.commit("Next change");
    let run = repo.push(&["origin", "HEAD:refs/heads/main"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "✗ promoted             origin has no branch of staging (looked for {staging, stage}), so nothing pushed there has been through staging"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`pushguard init`"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("git fetch origin staging"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("origin/staging"), "{}", run.stderr);

    // When the remote has the branch and this clone has not fetched it, the hint names it.
    let other = repo.clone_as("other", "Olga", "olga@example.com");
    repo.git_in(
        &other,
        &[
            "push",
            "-q",
            "--no-verify",
            "origin",
            "HEAD:refs/heads/stage",
        ],
    );
    let run = repo.push(&["origin", "HEAD:refs/heads/main"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("though origin has stage\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run `git fetch origin stage`, then push again"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_22_6_the_ci_recipes_install_pushguard_from_git_at_a_pinned_commit() {
    // pushguard is not published on crates.io: a recipe that installs it from there fails.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read the README");
    let mut in_yaml = false;
    let mut installs = Vec::new();
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_yaml = line.trim_start().starts_with("```yaml");
            continue;
        }
        let code = line.trim_start().trim_start_matches("- ").trim_start();
        if in_yaml && !code.starts_with('#') && line.contains("cargo install") {
            installs.push(line.to_owned());
        }
    }
    assert!(
        installs.len() >= 2,
        "the CI recipes install pushguard: {installs:?}"
    );
    for line in &installs {
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert!(words.contains(&"--locked"), "{line}");
        assert!(
            words.contains(&"--git") && words.contains(&"--rev"),
            "{line}"
        );
        // The repository also holds the fuzz crate: the package is named.
        assert_eq!(words.last(), Some(&"pushguard"), "{line}");
        assert!(!line.contains("pushguard@"), "{line}");
    }
}
