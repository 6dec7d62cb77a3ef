//! `pushguard audit --history` (issue 19, item 1): every update of an environment branch,
//! reconstructed from the records' old → new chain, a push outside the gate listed as an
//! UNRECORDED update, approvals marked before or after the push, the same rows as a table,
//! JSON and CSV, and an evidence directory verified by the README's recipe alone.

use std::path::Path;

use serde_json::Value;

use crate::support::{Run, TestRepo};

const CONFIG: &str = r#"
[environments.production]
branches = ["production"]
checks = ["no-delete", "fast-forward", "tests"]
confirm = true

[tests]
commands = ["true"]
"#;

/// A gated push of HEAD to production, consulted.
fn gated(repo: &TestRepo) -> Run {
    Run::from_output(
        repo.command("git")
            .args(["push", "-q", "origin", "HEAD:refs/heads/production"])
            .env("PUSHGUARD_CONSULTED", "Ada Lead")
            .output()
            .expect("run git push"),
    )
}

/// Ada approves `rev` for production from her own clone (fetched first).
fn approve(repo: &TestRepo, ada: &Path, rev: &str) {
    repo.git_in(
        ada,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    );
    repo.pushguard_in(ada, &["approve", rev, "--env", "production"])
        .expect_code(0);
}

/// One second, so that two events on the same clock cannot share a second (records and
/// approvals carry whole seconds): what is compared is their order, never a duration.
fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// The done-when history: 5 gated pushes (the 2nd approved before it, the 4th approved after
/// it), a `--no-verify` push, then 2 more gated pushes. Returns the 8 tips.
fn history(repo: &TestRepo) -> Vec<String> {
    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    let mut tips = Vec::new();
    for n in 1..=8 {
        let tip = repo.commit_file("release", &format!("{n}\n"), &format!("release {n}"));
        if n == 2 {
            // Approved before the push: the commit is shared on a feature branch first.
            repo.push_unguarded("HEAD:refs/heads/feature");
            approve(repo, &ada, "origin/feature");
            next_second();
        }
        if n == 6 {
            repo.push_unguarded("HEAD:refs/heads/production");
        } else {
            let run = gated(repo);
            assert_eq!(run.code, 0, "push {n}: {}", run.stderr);
        }
        if n == 4 {
            next_second();
            approve(repo, &ada, "origin/production");
        }
        tips.push(tip);
    }
    tips
}

fn json_rows(repo: &TestRepo) -> Vec<Value> {
    let run = repo.pushguard(&["audit", "--history", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Value = serde_json::from_str(&run.stdout).expect("the rows are JSON");
    rows.as_array().expect("an array of rows").clone()
}

#[test]
fn regression_issue_19_history_lists_every_update_and_the_no_verify_one_unrecorded() {
    let repo = TestRepo::guarded(CONFIG);
    let tips = history(&repo);

    // Today's audit judges the tip only: recorded, it passes.
    let run = repo.pushguard(&["audit", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let rows = json_rows(&repo);
    assert_eq!(rows.len(), 8, "{rows:#?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["new"], tips[i].as_str(), "row {i}");
        let old = if i == 0 {
            Value::Null
        } else {
            Value::from(tips[i - 1].as_str())
        };
        assert_eq!(row["old"], old, "row {i}");
        assert_eq!(row["recorded"], i != 5, "row {i}: {row:#}");
    }
    let unrecorded = &rows[5];
    assert_eq!(unrecorded["decision"], Value::Null);
    assert_eq!(unrecorded["unrecorded_count"], 1);
    let commit = &unrecorded["unrecorded_commits"][0];
    assert_eq!(commit["id"], tips[5].as_str());
    assert_eq!(commit["author"], "Pat Pusher <pat@example.com>");
    assert_eq!(commit["committer"], "Pat Pusher <pat@example.com>");
    assert_eq!(commit["summary"], "release 6");
    assert_eq!(unrecorded["after"], rows[4]["time"]);
    assert_eq!(unrecorded["before"], rows[6]["time"]);

    let recorded = &rows[6];
    assert_eq!(recorded["decision"], "allowed");
    assert_eq!(recorded["pusher"], "Pat Pusher <pat@example.com>");
    assert_eq!(recorded["consulted"], "Ada Lead");
    assert_eq!(recorded["tests"], "pass");
    assert_eq!(recorded["signature"], "unsigned");
    assert_eq!(recorded["records"].as_array().unwrap().len(), 1);
    assert!(
        recorded["source"].as_str().unwrap().starts_with("client "),
        "{recorded:#}"
    );

    // Approvals: who, when, before or after the push; the approver wrote none of the commits.
    assert_eq!(rows[1]["approvals"][0]["email"], "ada@example.com");
    assert_eq!(rows[1]["approvals"][0]["when"], "before");
    assert_eq!(rows[1]["approver_not_author"], true);
    assert_eq!(rows[3]["approvals"][0]["when"], "after");
    assert_eq!(rows[0]["approvals"], Value::Array(vec![]));
    assert_eq!(rows[0]["approver_not_author"], Value::Null);

    // The table says the same, and --fail-on-unrecorded fails on the history.
    let run = repo.pushguard(&["audit", "--history"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("UNRECORDED"))
            .count(),
        1,
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("after the push"), "{}", run.stdout);
    assert!(
        run.stderr.contains("1 update of environment branches"),
        "{}",
        run.stderr
    );
    let run = repo.pushguard(&["audit", "--history", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 1, "{}", run.stderr);

    // A period: --since the 7th push's time lists the 7th and 8th, and the unrecorded update
    // whose window reaches into it.
    let since = rows[6]["time"].as_str().unwrap();
    let run = repo.pushguard(&["audit", "--history", "--format", "json", "--since", since]);
    let period: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert!(period
        .iter()
        .all(|r| r["recorded"] == false || r["time"].as_str() >= Some(since)));
    assert!(period.iter().any(|r| r["new"] == tips[7].as_str()));
}

#[test]
fn regression_issue_19_csv_and_json_carry_the_same_rows() {
    let repo = TestRepo::guarded(CONFIG);
    history(&repo);
    let rows = json_rows(&repo);
    let run = repo.pushguard(&["audit", "--history", "--format", "csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let headers = reader.headers().expect("a header line").clone();
    let csv_rows: Vec<csv::StringRecord> =
        reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(csv_rows.len(), rows.len());
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (c, j) in csv_rows.iter().zip(&rows) {
        for name in [
            "time",
            "after",
            "before",
            "branch",
            "environment",
            "old",
            "new",
            "commits",
            "recorded",
            "pusher",
            "consulted",
            "approver_not_author",
            "tests",
            "decision",
            "justification",
            "ticket",
            "freeze",
            "review",
            "signature",
            "source",
            "unrecorded_count",
        ] {
            assert_eq!(c[col(name)], text(&j[name]), "{name}");
        }
        let hashes: Vec<String> = j["records"].as_array().unwrap().iter().map(text).collect();
        assert_eq!(c[col("records")], hashes.join(" "));
        let when: Vec<String> = j["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| text(&a["when"]))
            .collect();
        assert_eq!(c[col("approval_times")], when.join("; "));
    }
}

/// The README's recipe for verifying an evidence directory: the `sh` block after the
/// `<!-- evidence recipe -->` marker.
fn readme_recipe() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read the README");
    let at = readme
        .find("<!-- evidence recipe -->")
        .expect("the README has the evidence recipe");
    let rest = &readme[at..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = rest[start..].find("\n```").expect("the block ends");
    rest[start..start + end].to_owned()
}

/// Runs the recipe in `dir` with nothing but the standard tools on PATH.
fn verify(repo: &TestRepo, dir: &Path) -> Run {
    Run::from_output(
        repo.command("sh")
            .arg("-c")
            .arg(readme_recipe())
            .current_dir(dir)
            .output()
            .expect("run the recipe"),
    )
}

#[test]
fn regression_issue_19_the_evidence_verifies_with_the_readme_recipe_alone() {
    let repo = TestRepo::guarded(CONFIG);
    history(&repo);
    let dir = repo.root.join("evidence");
    let run = repo.pushguard(&["audit", "--history", "--evidence", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for f in [
        "history.json",
        "history.csv",
        "records.jsonl",
        "approvals.jsonl",
        "SHA256SUMS",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let ok = verify(&repo, &dir);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("8 rows"), "{}", ok.stdout);

    // A record changed after the fact, its checksum redone: the line's own hash catches it.
    let records = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    let forged = records.replacen(
        "\"consulted\":\"Ada Lead\"",
        "\"consulted\":\"Bob Boss\"",
        1,
    );
    assert_ne!(forged, records);
    std::fs::write(dir.join("records.jsonl"), &forged).unwrap();
    let bad = verify(&repo, &dir);
    assert_ne!(
        bad.code, 0,
        "a changed record must not verify: {}",
        bad.stdout
    );
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let new_sum = pushguard::audit::sha256_hex(forged.as_bytes());
    let sums: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("  records.jsonl") {
                format!("{new_sum}  records.jsonl")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    let bad = verify(&repo, &dir);
    assert_ne!(
        bad.code, 0,
        "a re-summed forged record must not verify: {}",
        bad.stdout
    );
    assert!(
        bad.stdout.contains("hash") || bad.stderr.contains("hash"),
        "{}\n{}",
        bad.stdout,
        bad.stderr
    );

    // A row that claims a record said something else does not verify either.
    std::fs::write(dir.join("records.jsonl"), &records).unwrap();
    let json = std::fs::read_to_string(dir.join("history.json")).unwrap();
    let lied = json.replacen("\"decision\":\"allowed\"", "\"decision\":\"bypassed\"", 1);
    assert_ne!(lied, json);
    std::fs::write(dir.join("history.json"), lied).unwrap();
    let sums: String = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let name = l.split_once("  ").unwrap().1;
            let bytes = std::fs::read(dir.join(name)).unwrap();
            format!("{}  {name}", pushguard::audit::sha256_hex(&bytes))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    let bad = verify(&repo, &dir);
    assert_ne!(
        bad.code, 0,
        "a row that does not match its record must not verify: {}",
        bad.stdout
    );
}

#[test]
fn regression_issue_19_signed_evidence_verifies_with_ssh_keygen_and_a_swapped_key_does_not() {
    use crate::signing::{keygen, public, sign_with};
    let repo = TestRepo::guarded(CONFIG);
    let pat = keygen(&repo, "pat");
    let ada_key = keygen(&repo, "ada");
    sign_with(&repo, &repo.work, pat.to_str().unwrap());
    let ada = repo.clone_as("ada", "Ada Approver", "ada@example.com");
    sign_with(&repo, &ada, ada_key.to_str().unwrap());
    repo.commit_file("release", "1\n", "release 1");
    gated(&repo).expect_code(0);
    repo.commit_file("release", "2\n", "release 2");
    repo.push_unguarded("HEAD:refs/heads/feature");
    approve(&repo, &ada, "origin/feature");
    gated(&repo).expect_code(0);

    // The deploy pipeline's policy and allowed signers, outside the checkout.
    let policy = repo.root.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    let signers = format!(
        "pat@example.com {}\nada@example.com {}\n",
        public(&pat),
        public(&ada_key)
    );
    std::fs::write(policy.join("allowed_signers"), &signers).unwrap();
    std::fs::write(
        policy.join("pushguard.toml"),
        "[environments.production]\nbranches = [\"production\"]\n\n[trust]\nallowed_signers = \"allowed_signers\"\nrequire_signatures = true\n",
    )
    .unwrap();
    let dir = repo.root.join("evidence");
    let run = repo.pushguard(&[
        "audit",
        "--config",
        policy.join("pushguard.toml").to_str().unwrap(),
        "--history",
        "--fail-on-unrecorded",
        "--format",
        "json",
        "--evidence",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["signature"], "verified: pat@example.com");
    assert_eq!(
        rows[1]["approvals"][0]["signature"],
        "verified: ada@example.com"
    );
    let ok = verify(&repo, &dir);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);

    // Pat's line in the evidence's allowed signers swapped for another key (checksum redone):
    // the record's signature no longer verifies.
    let mallory = keygen(&repo, "mallory");
    let swapped = signers.replace(&public(&pat), &public(&mallory));
    std::fs::write(dir.join("allowed_signers"), &swapped).unwrap();
    let sums: String = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let name = l.split_once("  ").unwrap().1;
            let bytes = std::fs::read(dir.join(name)).unwrap();
            format!("{}  {name}", pushguard::audit::sha256_hex(&bytes))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    let bad = verify(&repo, &dir);
    assert_ne!(bad.code, 0, "{}", bad.stdout);
    assert!(bad.stderr.contains("signature"), "{}", bad.stderr);
}

#[test]
fn regression_issue_19_a_bypass_row_carries_its_justification_and_review() {
    let repo = TestRepo::guarded(CONFIG);
    repo.commit_file("release", "1\n", "release 1");
    gated(&repo).expect_code(0);
    // A rewrite of production, past the failing fast-forward check with a justification.
    repo.git(&["commit", "-q", "--amend", "-m", "release 1, amended"]);
    let run = Run::from_output(
        repo.command("git")
            .args([
                "push",
                "-q",
                "--force",
                "origin",
                "HEAD:refs/heads/production",
            ])
            .env("PUSHGUARD_CONSULTED", "Ada Lead")
            .env(
                "PUSHGUARD_BYPASS",
                "incident 42: the release must be amended now",
            )
            .output()
            .expect("run git push"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = json_rows(&repo);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let bypass = &rows[1];
    assert_eq!(bypass["decision"], "bypassed");
    assert_eq!(
        bypass["justification"],
        "incident 42: the release must be amended now"
    );
    assert!(
        bypass["review"]
            .as_str()
            .is_some_and(|r| r.starts_with("UNREVIEWED")),
        "{bypass:#}"
    );
    // The rewrite is an update like any other: its old is the tip it replaced.
    assert_eq!(bypass["old"], rows[0]["new"]);
}
