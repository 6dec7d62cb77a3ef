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
    // A bypass asks who was consulted too (issue 22, item 11).
    p.expect("Did you talk to a lead or senior about this bypass?")
        .unwrap();
    p.send("n\r").unwrap();
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
            .contains("✓ no-conflict-markers  no conflict markers added by this push"),
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

// ---------------------------------------------------------------------------------------
// Hook managers (items 5 and 9): run with `--include-ignored` after
// `sh scripts/install-managers.sh`, as the other manager tests (item 10).

use crate::managers::{
    assert_gated, husky_repo, lefthook_repo, manager, marker, pre_commit_repo, take_marker, tool,
};

/// `lefthook-local.yml` as pushguard before issue 22 wrote it: the absolute path of the
/// clone's shim, shell-quoted inside YAML quotes.
fn old_lefthook_local(shim: &std::path::Path) -> String {
    let quoted = format!("'{}'", shim.display().to_string().replace('\'', r"'\''"));
    let run =
        format!("PUSHGUARD_VIA=lefthook {quoted} {{1}} {{2}} # {{files}}").replace('\'', "''");
    format!(
        "# pushguard-managed-lefthook-local: written by `pushguard install`, removed by `pushguard uninstall`; this clone only, do not commit\nno_tty: true\npre-push:\n  commands:\n    pushguard:\n      run: '{run}'\n      files: 'echo ''lefthook-local.yml'''\n      use_stdin: true\n"
    )
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_5_lefthook_local_config_names_no_path_and_stays_out_of_commits() {
    let lefthook = manager("lefthook");
    let repo = lefthook_repo();
    tool(&repo, &lefthook, &["install"]);
    repo.install();
    let local = std::fs::read_to_string(repo.work.join("lefthook-local.yml")).unwrap();
    assert!(!local.contains(&repo.root.display().to_string()), "{local}");
    // A routine `git add -A` does not pick it up.
    assert_eq!(repo.git(&["status", "--porcelain"]), "?? .pushguard.toml");
    repo.git(&["add", "-A"]);
    let staged = repo.git(&["diff", "--cached", "--name-only"]);
    assert!(!staged.contains("lefthook-local.yml"), "{staged}");
    repo.git(&["reset", "-q"]);
    assert_gated(&repo, "lefthook", "path-free");
    // uninstall takes its exclude line back too.
    repo.pushguard(&["uninstall"]).expect_code(0);
    let exclude = std::fs::read_to_string(repo.work.join(".git/info/exclude")).unwrap();
    assert!(!exclude.contains("lefthook-local.yml"), "{exclude}");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_5_a_committed_lefthook_local_config_is_diagnosed_and_never_rewritten_silently(
) {
    let lefthook = manager("lefthook");
    // Alice's clone committed the file an older pushguard wrote, naming her clone's shim.
    let repo = lefthook_repo();
    let alice_shim = repo.work.join(".git/pushguard/hooks/pre-push");
    repo.write("lefthook-local.yml", &old_lefthook_local(&alice_shim));
    repo.git(&["add", "-f", "lefthook-local.yml"]);
    repo.git(&["commit", "-q", "-m", "lefthook-local.yml, by accident"]);
    repo.push_unguarded("HEAD:refs/heads/main");
    // Bob's clone.
    let bob = repo.clone_as("bob", "Bob", "bob@example.com");
    let in_bob = |program: &std::path::Path, args: &[&str]| {
        crate::support::Run::from_output(
            repo.command(program)
                .current_dir(&bob)
                .args(args)
                .output()
                .expect("run"),
        )
    };
    in_bob(&lefthook, &["install"]).expect_code(0);
    std::fs::write(bob.join(".pushguard.toml"), crate::managers::CONFIG).unwrap();
    let status = in_bob(&crate::support::bin(), &["status"]);
    assert!(
        status.stdout.contains(&format!(
            "path:    BROKEN: {}/lefthook-local.yml runs pushguard from `{}`, a path in another clone, which does not exist here: lefthook fails every push (feature branches too) with \"not found\" (it is committed: `git rm --cached` it and commit that, then `pushguard install`; or `pushguard install --force` rewrites it without any path, to commit)",
            bob.display(),
            alice_shim.display()
        )),
        "{}",
        status.stdout
    );
    let doctor = in_bob(&crate::support::bin(), &["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stderr);
    assert!(doctor.stderr.contains("BROKEN: "), "{}", doctor.stderr);
    assert!(
        doctor
            .stderr
            .contains("hint: it is committed: `git rm --cached` it"),
        "{}",
        doctor.stderr
    );
    // install refuses to rewrite the committed file, and says what to do.
    let install = in_bob(&crate::support::bin(), &["install"]);
    assert_eq!(install.code, 2, "{}", install.stderr);
    assert!(
        install.stderr.contains("`lefthook-local.yml` is committed, and pushguard does not rewrite a committed file behind your back"),
        "{}",
        install.stderr
    );
    assert!(
        install
            .stderr
            .contains("hint: stop sharing it: `git rm --cached lefthook-local.yml`"),
        "{}",
        install.stderr
    );
    assert!(
        install
            .stderr
            .contains("hint: or keep it committed in the form that works in every clone"),
        "{}",
        install.stderr
    );
    assert_eq!(
        in_bob(
            Path::new("git"),
            &["status", "--porcelain", "lefthook-local.yml"]
        )
        .stdout,
        ""
    );
    // Asked for, the path-free version replaces it; committed, it works in every clone.
    in_bob(&crate::support::bin(), &["install", "--force"]).expect_code(0);
    let fixed = std::fs::read_to_string(bob.join("lefthook-local.yml")).unwrap();
    assert!(!fixed.contains(&repo.root.display().to_string()), "{fixed}");
    let r = in_bob(
        Path::new("git"),
        &["push", "origin", "HEAD:refs/heads/bob-feature"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = in_bob(
        Path::new("git"),
        &["push", "origin", "HEAD:refs/heads/production"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("push to production blocked"),
        "{}",
        r.stderr
    );
    in_bob(
        Path::new("git"),
        &["commit", "-q", "-am", "lefthook-local.yml without a path"],
    )
    .expect_code(0);
    in_bob(
        Path::new("git"),
        &[
            "push",
            "-q",
            "--no-verify",
            "origin",
            "HEAD:refs/heads/main",
        ],
    )
    .expect_code(0);
    // Alice's clone, which never ran `pushguard install`: the push goes through with a note.
    repo.git(&["pull", "-q", "--no-rebase", "origin", "main"]);
    tool(&repo, &lefthook, &["install"]);
    take_marker(&repo);
    let r = repo.push(&["origin", "HEAD:refs/heads/alice-feature"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("pushguard: not installed in this clone"),
        "{}",
        r.stderr
    );
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("NOT GATED: ")
            && status
                .stdout
                .contains("runs pushguard's per-clone shim, which this clone does not have"),
        "{}",
        status.stdout
    );
    repo.install();
    assert_gated(&repo, "lefthook", "alice-after-install");
}

use std::path::Path;

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_with_lefthook_yml_running_pushguard_install_and_uninstall_say_so() {
    let lefthook = manager("lefthook");
    let repo = lefthook_repo();
    let snippet = repo.pushguard(&["install", "--print"]).stdout;
    let yml: String = snippet
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    repo.commit_file("lefthook.yml", &yml, "lefthook: run pushguard for everyone");
    // pushguard from PATH, as the team's snippet expects.
    let bin_dir = repo.root.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(crate::support::bin(), bin_dir.join("pushguard")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        crate::support::hermetic_path().to_string_lossy()
    );
    let with_path = |program: &Path, args: &[&str]| {
        crate::support::Run::from_output(
            repo.command(program)
                .args(args)
                .env("PATH", &path)
                .output()
                .expect("run"),
        )
    };
    with_path(&lefthook, &["install"]).expect_code(0);
    let r = with_path(&crate::support::bin(), &["install"]);
    r.expect_code(0);
    assert!(
        r.stderr.contains("pushguard: lefthook runs pushguard from lefthook.yml, the project's config, for the whole team"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("lefthook-local.yml"), "{}", r.stderr);
    let r = with_path(&crate::support::bin(), &["uninstall"]);
    r.expect_code(0);
    assert!(
        r.stderr.contains("pushguard: note: lefthook.yml still runs pushguard for the whole team (pushguard from PATH), so this clone is still gated"),
        "{}",
        r.stderr
    );
    // It is: a production push is still gated.
    let r = with_path(Path::new("git"), &["push", "origin", "HEAD:production"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("push to production blocked"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_husky_uninstall_says_it_changed_the_committed_script_and_status_names_the_missing_shim(
) {
    let husky = manager("husky");
    let repo = husky_repo();
    tool(&repo, &husky, &[]);
    repo.install();
    repo.git(&["commit", "-q", "-am", "Run pushguard from husky's pre-push"]);
    let r = repo.pushguard(&["uninstall"]);
    r.expect_code(0);
    assert!(
        r.stderr.contains(".husky/pre-push is committed with pushguard's block, so this changed the team's file, in your work tree only"),
        "{}",
        r.stderr
    );
    // Keeping the team's block: this clone has no shim now, and status says exactly that.
    repo.git(&["checkout", "--", ".husky/pre-push"]);
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains(".husky/pre-push has pushguard's block, but this clone has no pushguard shim for it to run"),
        "{}",
        status.stdout
    );
    let r = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("pushguard: not installed in this clone"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_a_pre_commit_stage_hook_entry_gets_the_guidance_not_a_usage_error() {
    let exe = manager("pre-commit");
    let repo = TestRepo::new();
    // The entry a team writes: file names are passed, as pre-commit does by default.
    repo.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n- repo: local\n  hooks:\n  - id: pushguard\n    name: pushguard\n    entry: {} hook pre-push\n    language: system\n    stages: [pre-push]\n    always_run: true\n",
            crate::support::bin().display()
        ),
    );
    repo.write("a.txt", "a\n");
    repo.write("b.txt", "b\n");
    repo.write("c.txt", "c\n");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "pre-commit"]);
    repo.config(crate::managers::CONFIG);
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    let r = repo.push(&["origin", "HEAD:production"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("refusing to run as a pre-commit/prek `pre-push` stage hook"),
        "{out}"
    );
    assert!(!out.contains("Usage:"), "{out}");
    assert!(repo.remote_branch("production").is_none());
}

/// A blocked push with pushguard as `tool`'s legacy hook: the manager's own hook must not run.
fn blocked_push_stops(tool_name: &str) {
    let exe = manager(tool_name);
    let repo = pre_commit_repo();
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    repo.install();
    take_marker(&repo);
    let r = repo.push(&["origin", "HEAD:production"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("push to production blocked"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "pushguard: stopped {tool_name} before its own pre-push hooks"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(
        take_marker(&repo),
        "",
        "{tool_name}'s own hook ran after a blocked push"
    );
    assert!(repo.remote_branch("production").is_none());
    // An allowed push still runs them.
    let r = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(take_marker(&repo).contains("manager-hook"));
    let _ = marker(&repo);
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_a_blocked_push_does_not_run_pre_commits_own_hooks() {
    blocked_push_stops("pre-commit");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_a_blocked_push_does_not_run_preks_own_hooks() {
    blocked_push_stops("prek");
}

#[test]
#[ignore = "needs the hook managers: sh scripts/install-managers.sh, then cargo test -- --include-ignored"]
fn regression_issue_22_9_an_interrupted_push_does_not_run_pre_commits_own_hooks() {
    let exe = manager("pre-commit");
    let repo = pre_commit_repo();
    tool(&repo, &exe, &["install", "--hook-type", "pre-push"]);
    repo.install();
    take_marker(&repo);
    let mut p = spawn_push(&repo, &["origin", "HEAD:production"]);
    p.expect("about this push?").unwrap();
    p.send(expectrl::ControlCode::EndOfText).unwrap(); // Ctrl-C
    let (text, ok) = finish(p);
    assert!(!ok, "{text}");
    assert_eq!(
        take_marker(&repo),
        "",
        "pre-commit's own hook ran after Ctrl-C: {text}"
    );
    assert!(repo.remote_branch("production").is_none());
}
