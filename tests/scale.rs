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
fn promoted_finds_a_promotion_merge_among_many_candidates_issue_21() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 300, &base);
    let fix = repo.commit_file("fix.txt", "quick\n", "hotfix");
    // The same tree, by another commit, on two topic branches and on one outside the globs.
    repo.git(&["checkout", "-q", "--detach", &base]);
    repo.git(&["checkout", "-q", &fix, "--", "fix.txt"]);
    let same_tree = repo.commit("the fix, promoted");
    repo.git(&["update-ref", "refs/remotes/origin/other/a", &same_tree]);
    repo.git(&["update-ref", "refs/remotes/origin/topic/b250", &same_tree]);
    repo.git(&["update-ref", "refs/remotes/origin/topic/b120", &same_tree]);
    let push = |expected: &str| {
        let run = repo.push(&["origin", &format!("{fix}:refs/heads/production")]);
        run.expect_code(0);
        let line = format!("on topic: same tree as origin/topic/{expected} (a promotion merge)");
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
        repo.push_unguarded(":refs/heads/production");
    };
    // The tips' trees read from their objects (no commit-graph), then from a commit-graph.
    push("b120");
    repo.git(&["commit-graph", "write", "--reachable"]);
    push("b120");
    // A tip written after the graph: read from its object beside the others from the graph.
    for name in ["b120", "b250"] {
        repo.git(&[
            "update-ref",
            &format!("refs/remotes/origin/topic/{name}"),
            &base,
        ]);
    }
    let tree = repo.git(&["rev-parse", &format!("{fix}^{{tree}}")]);
    let late = repo.git(&["commit-tree", &tree, "-p", &base, "-m", "late"]);
    repo.git(&["update-ref", "refs/remotes/origin/topic/b260", &late]);
    push("b260");
}

#[test]
fn promoted_trusts_the_commit_graph_only_for_the_tips_it_holds_issue_21() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 100, &base);
    repo.git(&["commit-graph", "write", "--reachable"]);
    // A hotfix in no graph, every tip in the graph: on none of them, without asking.
    let fix = repo.commit_file("fix.txt", "quick\n", "hotfix");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not in any of 100 branches"),
        "{}",
        run.stderr
    );
    // A tip fetched after the graph was written contains it: git is asked, and finds it.
    let above = repo.commit("above the fix");
    repo.git(&["update-ref", "refs/remotes/origin/topic/b042", &above]);
    let run = repo.push(&["origin", &format!("{fix}:refs/heads/production")]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("on topic: contained in origin/topic/b042"),
        "{}",
        run.stderr
    );
}

/// Containment answered from the commit-graph's walk (every name in the graph, packed
/// refs read from git's files) agrees with git, through real pushes; a replace ref, which
/// git's walk honours and the graph does not record, sends the question back to git.
#[test]
fn regression_issue_21_promoted_walks_the_commit_graph_as_git_would() {
    let repo = TestRepo::guarded(topic_config());
    let base = repo.head();
    many_topic_refs(&repo, 120, &base);
    let fix = repo.commit_file("fix.txt", "quick\n", "fix");
    let above = repo.commit("above the fix");
    repo.git(&["update-ref", "refs/remotes/origin/topic/b077", &above]);
    repo.git(&["update-ref", "refs/remotes/origin/topic/b031", &above]);
    repo.git(&["checkout", "-q", "-b", "feature", &base]);
    let feature = repo.commit_file("feature.txt", "new\n", "feature, on no topic branch");
    repo.git(&["pack-refs", "--all"]);
    repo.git(&["commit-graph", "write", "--reachable"]);
    // Both commits are in the graph: the walk answers for each.
    let run = repo.push(&["origin", &format!("{fix}:refs/heads/production")]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("on topic: contained in origin/topic/b031"),
        "{}",
        run.stderr
    );
    repo.push_unguarded(":refs/heads/production");
    let run = repo.push(&["origin", &format!("{feature}:refs/heads/production")]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not in any of 120 branches"),
        "{}",
        run.stderr
    );
    // A replace ref gives `above` the feature as its parent, for git: git now finds the
    // feature on b031, and so must the check, although the graph records the old parent.
    // Loose, then packed.
    let tree = repo.git(&["rev-parse", &format!("{above}^{{tree}}")]);
    let replacement = repo.git(&[
        "commit-tree",
        &tree,
        "-p",
        &feature,
        "-m",
        "above, replaced",
    ]);
    repo.git(&["replace", &above, &replacement]);
    for pack in [false, true] {
        if pack {
            repo.git(&["pack-refs", "--all"]);
        }
        let run = repo.push(&["origin", &format!("{feature}:refs/heads/production")]);
        run.expect_code(0);
        assert!(
            run.stderr
                .contains("on topic: contained in origin/topic/b031"),
            "packed: {pack}\n{}",
            run.stderr
        );
        repo.push_unguarded(":refs/heads/production");
    }
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

#[test]
fn log_n_reads_from_the_end_of_the_log_issue_14() {
    let repo = TestRepo::guarded(
        r#"[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]
"#,
    );
    let mut tips = Vec::new();
    for i in 0..3 {
        tips.push(repo.commit(&format!("change {i}")));
        repo.push(&["origin", "HEAD:refs/heads/staging"])
            .expect_code(0);
    }
    // A broken line at the start of the log: `-n 2` never reads that far.
    let path = repo.work.join(".git/pushguard/audit.jsonl");
    let log = std::fs::read_to_string(&path).expect("read the audit log");
    std::fs::write(&path, format!("not a record\n{log}")).expect("write the audit log");

    let run = repo.pushguard(&["log", "-n", "2", "--json"]);
    run.expect_code(0);
    let newest: Vec<String> = run
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["new"].as_str().expect("new").to_owned()
        })
        .collect();
    assert_eq!(newest, [tips[2].clone(), tips[1].clone()]);
    assert_eq!(run.stderr, "");

    // Reading it all does meet the broken line, and says so.
    let run = repo.pushguard(&["log", "--json"]);
    run.expect_code(0);
    assert_eq!(run.stdout.lines().count(), 3);
    assert!(
        run.stderr
            .contains("1 line of the audit log is not a valid record"),
        "{}",
        run.stderr
    );

    // Filters stream too: the oldest staging record is the third match.
    let run = repo.pushguard(&["log", "--env", "staging", "-n", "3", "--json"]);
    assert_eq!(run.stdout.lines().count(), 3);
    assert!(run
        .stdout
        .lines()
        .last()
        .is_some_and(|l| l.contains(&tips[0])));
}
