//! Issue 14, costs that grow with the team: `promoted` over many candidate branches (one git
//! walk for all, a bounded failure detail), `log -n` read from the end of a long log, audit
//! notes written with git's fan-out, and the team layer under concurrent pushes.

use crate::support::TestRepo;

/// production must come from any `topic/**` branch.
fn topic_config() -> &'static str {
    r#"[environments.topic]
branches = ["topic/**"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
promote_from = "topic"
confirm = false
checks = ["no-delete", "promoted"]
"#
}

/// Points `count` remote-tracking refs `origin/topic/b000…` at `commit`.
fn many_topic_refs(repo: &TestRepo, count: usize, commit: &str) {
    let mut script = String::new();
    for i in 0..count {
        script.push_str(&format!(
            "create refs/remotes/origin/topic/b{i:03} {commit}\n"
        ));
    }
    let mut child = repo
        .command("git")
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run git update-ref");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("piped stdin"),
        script.as_bytes(),
    )
    .expect("write to git update-ref");
    assert!(child.wait().expect("wait for git").success());
}

#[test]
fn promoted_with_many_candidates_summarises_the_failure_issue_14() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 200, &base);
    repo.commit_file("fix.txt", "quick\n", "hotfix");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "not on topic: the pushed commit is not in any of 200 branches matching `origin/{topic/**}` (promote through topic first)"
        ),
        "{}",
        run.stderr
    );
    // The detail does not list the candidates, neither on screen nor in the audit log.
    assert!(!run.stderr.contains("topic/b001"), "{}", run.stderr);
    let log = std::fs::read_to_string(repo.work.join(".git/pushguard/audit.jsonl"))
        .expect("read the audit log");
    assert!(!log.contains("topic/b001"), "{log}");
    assert!(log.len() < 4096, "record grew with the candidates: {log}");
    assert_eq!(repo.remote_branch("production"), None);
}

#[test]
fn promoted_with_many_candidates_names_the_first_that_contains_issue_14() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 200, &base);
    let fix = repo.commit_file("fix.txt", "quick\n", "fix");
    let above = repo.commit("above the fix");
    // Two branches contain the fix; the first by name is the one reported.
    repo.git(&["update-ref", "refs/remotes/origin/topic/b150", &above]);
    repo.git(&["update-ref", "refs/remotes/origin/topic/b042", &above]);
    // A branch outside the globs never counts, even when it contains the fix.
    repo.git(&["update-ref", "refs/remotes/origin/other/a", &above]);
    let run = repo.push(&["origin", &format!("{fix}:refs/heads/production")]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("✓ promoted   on topic: contained in origin/topic/b042"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(fix));
}

#[test]
fn promoted_with_a_few_candidates_still_names_them_issue_14() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 2, &base);
    repo.commit_file("fix.txt", "quick\n", "hotfix");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "not on topic: the pushed commit is not in origin/topic/b000, origin/topic/b001 (promote"
        ),
        "{}",
        run.stderr
    );
}
