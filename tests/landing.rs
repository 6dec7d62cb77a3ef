//! Whether a push landed (issue 22, item 2): an `allowed` record is the guard's decision,
//! not a push that landed. When a hook manager's own pre-push fails after pushguard allowed
//! (husky's `npm test`), or the server refuses the push, the shared trail holds an allowed
//! record of a commit the remote never received: `log --remote` says it did not land, and
//! `audit --history` does not count it.

use serde_json::Value;

use crate::support::{Run, TestRepo};

const CONFIG: &str = r#"
[environments.production]
branches = ["production"]
checks = ["no-delete", "fast-forward"]
confirm = true
"#;

fn gated(repo: &TestRepo) -> Run {
    Run::from_output(
        repo.command("git")
            .args(["push", "origin", "HEAD:refs/heads/production"])
            .env("PUSHGUARD_CONSULTED", "Ada Lead")
            .output()
            .expect("run git push"),
    )
}

/// The `log --remote` rows (newest first) as (commit prefix, decision, landed).
fn remote_log(repo: &TestRepo) -> Vec<(String, String, String)> {
    let run = repo.pushguard(&["log", "--remote"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    let head: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    let at = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column: {}", run.stdout))
    };
    let (decision, landed, commit) = (at("DECISION"), at("LANDED"), at("COMMIT"));
    lines
        .map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                cells[commit].to_owned(),
                cells[decision].to_owned(),
                cells[landed].to_owned(),
            )
        })
        .collect()
}

/// A `log --remote` row of an allowed push of `commit`.
fn row(commit: &str, landed: &str) -> (String, String, String) {
    (
        commit[..10].to_owned(),
        "allowed".to_owned(),
        landed.to_owned(),
    )
}

fn history(repo: &TestRepo) -> (Vec<Value>, String) {
    let run = repo.pushguard(&["audit", "--history", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (
        serde_json::from_str(&run.stdout).expect("JSON rows"),
        run.stderr,
    )
}

#[test]
fn regression_issue_22_a_push_whose_hook_manager_failed_after_pushguard_did_not_land() {
    let repo = TestRepo::guarded(CONFIG);
    let first = repo.commit("release 1");
    gated(&repo).expect_code(0);

    // A hook manager's pre-push runs pushguard, then the project's own tests, which fail.
    let hooks = repo.root.join("manager-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("pre-push"),
        "#!/bin/sh\n\"$(git rev-parse --git-common-dir)/hooks/pre-push\" \"$@\" || exit $?\necho 'npm test: 1 failing' >&2\nexit 1\n",
    )
    .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(hooks.join("pre-push"), mode).unwrap();
    repo.git(&["config", "core.hooksPath", hooks.to_str().unwrap()]);
    let second = repo.commit("release 2");
    let run = gated(&repo);
    assert_ne!(
        run.code, 0,
        "the manager's tests fail the push: {}",
        run.stderr
    );
    assert!(run.stderr.contains("npm test"), "{}", run.stderr);
    assert_eq!(
        repo.remote_branch("production").as_deref(),
        Some(first.as_str())
    );
    // pushguard allowed it and shared its record before git sent anything.
    assert!(
        repo.trail_note(&repo.remote, &second).is_some(),
        "the record is shared"
    );

    let rows = remote_log(&repo);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.contains(&row(&second, "NOT LANDED")), "{rows:?}");
    assert!(rows.contains(&row(&first, "landed")), "{rows:?}");
    let (updates, stderr) = history(&repo);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0]["new"], first.as_str());
    assert!(
        stderr.contains("1 allowed or bypassed push in the period did not land"),
        "{stderr}"
    );

    // Fixed and pushed again: the retry landed, the first attempt still did not.
    repo.git(&["config", "--unset", "core.hooksPath"]);
    gated(&repo).expect_code(0);
    let rows = remote_log(&repo);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.contains(&row(&second, "NOT LANDED")), "{rows:?}");
    assert!(rows.contains(&row(&second, "landed")), "{rows:?}");
    let (updates, _) = history(&repo);
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["old"], first.as_str());
    assert_eq!(updates[1]["new"], second.as_str());
    assert_eq!(updates[1]["recorded"], true);
    // The local log says the same from the remote-tracking branch git updated on the push.
    let run = repo.pushguard(&["log"]);
    assert_eq!(
        run.stdout.matches("NOT LANDED").count(),
        1,
        "{}",
        run.stdout
    );
}

#[test]
fn regression_issue_22_a_push_the_server_refused_did_not_land() {
    let repo = TestRepo::guarded(CONFIG);
    let first = repo.commit("release 1");
    gated(&repo).expect_code(0);
    // The server refuses branch updates (a host's own rule); notes still go through.
    let hook = repo.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do case \"$ref\" in refs/heads/*) echo \"refused: $ref is locked\" >&2; exit 1;; esac; done\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let second = repo.commit("release 2");
    let run = gated(&repo);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("is locked"), "{}", run.stderr);
    assert!(
        repo.trail_note(&repo.remote, &second).is_some(),
        "the record is shared"
    );

    let rows = remote_log(&repo);
    assert!(rows.contains(&row(&second, "NOT LANDED")), "{rows:?}");
    assert!(rows.contains(&row(&first, "landed")), "{rows:?}");
    let (updates, stderr) = history(&repo);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert!(stderr.contains("did not land"), "{stderr}");
    // The tip is where the landed push left it: audit passes, on that record.
    let run = repo.pushguard(&["audit", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("tip {}", &first[..10])),
        "{}",
        run.stdout
    );
}
