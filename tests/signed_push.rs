//! Server mode with signatures (issue 11, items 4 and 5): real keys made by `ssh-keygen` in
//! the test's temp dir, real signed pushes (`git push --signed`; the bare repository has
//! `receive.certNonceSeed` and `gpg.ssh.allowedSignersFile`), and the client hook's signed
//! record accepted by the server as the attestation of exactly the same ref update.

use std::path::{Path, PathBuf};

use crate::support::{Run, TestRepo};

/// Makes an Ed25519 key pair `<root>/keys/<name>` (no passphrase); returns the private key.
pub(crate) fn keygen(repo: &TestRepo, name: &str) -> PathBuf {
    let dir = repo.root.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join(name);
    let out = repo
        .command("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

pub(crate) fn public(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A clone (Pat, signing with `pat`) and a bare remote running pushguard's server hooks with
/// `server_config`; the server trusts Pat and Ada (not Mallory) and accepts signed pushes.
struct Setup {
    repo: TestRepo,
    pat: PathBuf,
    ada: PathBuf,
    mallory: PathBuf,
}

fn setup(server_config: &str) -> Setup {
    let repo = TestRepo::new();
    let pat = keygen(&repo, "pat");
    let ada = keygen(&repo, "ada");
    let mallory = keygen(&repo, "mallory");
    let allowed = repo.root.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "pat@example.com {}\nada@example.com {}\n",
            public(&pat),
            public(&ada)
        ),
    )
    .unwrap();
    std::fs::write(repo.remote.join("pushguard.toml"), server_config).unwrap();
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    let remote = &repo.remote;
    repo.git_in(remote, &["config", "receive.certNonceSeed", "test-seed"]);
    repo.git_in(
        remote,
        &[
            "config",
            "gpg.ssh.allowedSignersFile",
            allowed.to_str().unwrap(),
        ],
    );
    repo.git_in(remote, &["config", "receive.advertisePushOptions", "true"]);
    sign_with(&repo, &repo.work, &pat);
    Setup {
        repo,
        pat,
        ada,
        mallory,
    }
}

pub(crate) fn sign_with(repo: &TestRepo, dir: &Path, key: &Path) {
    repo.git_in(dir, &["config", "gpg.format", "ssh"]);
    repo.git_in(dir, &["config", "user.signingKey", key.to_str().unwrap()]);
}

/// `git push` in `dir` with extra environment variables.
fn push_in(repo: &TestRepo, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    Run::from_output(
        repo.command("git")
            .current_dir(dir)
            .arg("push")
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run git push"),
    )
}

/// The server's audit records, as JSON values.
fn records(repo: &TestRepo) -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo.remote.join("pushguard/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

fn last_record(repo: &TestRepo) -> serde_json::Value {
    records(repo).pop().expect("a server record")
}

const REQUIRE_SIGNED_PUSH: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"no-delete\", \"authorized\"]\nauthorized = [\"pat@example.com\"]\n\n[server]\nrequire_signed_push = true\n";

#[test]
fn regression_issue_11_the_server_refuses_an_unsigned_push_and_accepts_a_signed_one() {
    let s = setup(REQUIRE_SIGNED_PUSH);
    let repo = &s.repo;
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("✗ production requires a signed push: the push is not signed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("git push --signed"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(last_record(repo)["decision"], "blocked");

    let run = repo.push(&["--signed", "origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("authorized  pat@example.com is authorized (pat@example.com)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let record = last_record(repo);
    assert_eq!(record["decision"], "allowed");
    let user = record["user"]["name"].as_str().unwrap();
    assert!(
        user.starts_with("pat@example.com (pusher, from a signed push, key SHA256:"),
        "{user}"
    );
    assert_eq!(record["user"]["email"], "pat@example.com");
    assert_eq!(record["signature"], serde_json::Value::Null);

    // Without the server's setup the refusal says what the administrator must run.
    repo.git_in(
        &repo.remote,
        &["config", "--unset", "receive.certNonceSeed"],
    );
    repo.commit("second");
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("git config receive.certNonceSeed"),
        "{}",
        run.stderr
    );
    // status in the bare repository shows it too.
    let status = repo.pushguard_in(&repo.remote, &["status"]);
    assert!(
        status
            .stdout
            .contains("signed pushes: not accepted: receive.certNonceSeed is not set"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("required for: production"),
        "{}",
        status.stdout
    );
    let _ = (&s.ada, &s.mallory, &s.pat);
}

const SIGNED_APPROVALS: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"approvals\"]\napprovals = 1\n\n[trust]\nrequire_signatures = true\n";

#[test]
fn regression_issue_11_a_signed_pushers_own_approval_does_not_count() {
    let s = setup(SIGNED_APPROVALS);
    let repo = &s.repo;
    repo.push_unguarded("HEAD:refs/heads/feature");
    let tip = repo.head();
    // Pat approves his own commit, under his own key: it cannot count for his push.
    repo.pushguard(&["approve", &tip, "--env", "production"])
        .expect_code(0);
    let unsigned = repo.push(&["origin", "HEAD:refs/heads/production"]);
    unsigned.expect_code(1);
    assert!(
        unsigned.stderr.contains("no signed push"),
        "{}",
        unsigned.stderr
    );
    let own = repo.push(&["--signed", "origin", "HEAD:refs/heads/production"]);
    own.expect_code(1);
    assert!(
        own.stderr
            .contains("signed by your own key (pat@example.com)"),
        "{}",
        own.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);

    // Ada approves in her clone, with her key: now it counts.
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(repo, &ada, &s.ada);
    repo.pushguard_in(&ada, &["approve", &tip, "--env", "production"])
        .expect_code(0);
    let run = repo.push(&["--signed", "origin", "HEAD:refs/heads/production"]);
    run.expect_code(0);
    assert!(run.stderr.contains("1 of 1 approval"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

/// The server wants confirmation for production (`prod` is the same environment).
const SERVER_CONFIRM: &str = "[environments.production]\nbranches = [\"production\", \"prod\"]\nconfirm = true\nchecks = [\"no-delete\"]\n";

/// The client hook gates production too, and asks who was consulted.
const CLIENT_CONFIRM: &str = "[environments.production]\nbranches = [\"production\", \"prod\"]\nconfirm = true\nchecks = [\"no-delete\"]\n";

const CONSULTED: [(&str, &str); 1] = [("PUSHGUARD_CONSULTED", "Ada Lead")];

#[test]
fn regression_issue_11_the_clients_signed_record_is_the_attestation_for_the_same_update() {
    let s = setup(SERVER_CONFIRM);
    let repo = &s.repo;
    repo.install();
    repo.config(CLIENT_CONFIRM);
    let tip = repo.head();
    let run = push_in(
        repo,
        &repo.work,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "remote:   consulted Ada Lead (the client hook's signed record, signed by pat@example.com)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(tip.clone()));
    let record = last_record(repo);
    assert_eq!(record["decision"], "allowed");
    assert_eq!(record["consulted"], "Ada Lead");
    let from = record["attestation"].as_str().unwrap();
    assert!(
        from.starts_with("the client's signed record ")
            && from.ends_with(", signed by pat@example.com"),
        "{from}"
    );

    // Not for another branch: the same commit to `prod`, without the client hook.
    let other = repo.push(&["--no-verify", "origin", "HEAD:refs/heads/prod"]);
    other.expect_code(1);
    assert!(
        other.stderr.contains("production needs confirmation"),
        "{}",
        other.stderr
    );
    assert_eq!(repo.remote_branch("prod"), None);

    // Not for another commit: the record copied onto a new commit's note proves nothing, and
    // the server refuses it into its trail in the first place (issue 23: only records of the
    // commit a note is attached to).
    let next = repo.commit("next");
    let note = repo
        .trail_note(&repo.remote, &tip)
        .expect("the client's record on the remote");
    let hung = repo.hang_note(&next, note.trim_end());
    hung.expect_code(1);
    assert!(
        hung.stderr
            .contains("records a push of another commit than the one it is attached to"),
        "{}",
        hung.stderr
    );
    let copied = repo.push(&["--no-verify", "origin", "HEAD:refs/heads/production"]);
    copied.expect_code(1);
    assert!(
        copied.stderr.contains("production needs confirmation"),
        "{}",
        copied.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

#[test]
fn regression_issue_11_a_record_signed_by_a_key_the_server_does_not_trust_is_not_accepted() {
    // Where signatures are not required, a record whose signature proves nothing counts as
    // an unsigned one (issue 22, item 3); where they are, it does not count at all.
    let s = setup(&format!(
        "{SERVER_CONFIRM}\n[trust]\nrequire_signatures = true\n"
    ));
    let repo = &s.repo;
    repo.install();
    repo.config(CLIENT_CONFIRM);
    sign_with(repo, &repo.work, &s.mallory);
    let run = push_in(
        repo,
        &repo.work,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    );
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("not accepted as the attestation: the client's record")
            && run
                .stderr
                .contains("signed by a key that is not in the allowed signers"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(last_record(repo)["decision"], "blocked");
}

#[test]
fn regression_issue_11_with_a_signed_push_the_record_must_be_the_pushers() {
    let s = setup(SERVER_CONFIRM);
    let repo = &s.repo;
    repo.push_unguarded("HEAD:refs/heads/feature");
    let tip = repo.head();
    // Ada gates the push in her clone: her hook shares her signed record, then the server
    // refuses her branch update (it requires a signed push for production).
    let config = format!("{SERVER_CONFIRM}\n[server]\nrequire_signed_push = true\n");
    std::fs::write(repo.remote.join("pushguard.toml"), config).unwrap();
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(repo, &ada, &s.ada);
    repo.pushguard_in(&ada, &["install"]).expect_code(0);
    std::fs::write(ada.join(".pushguard.toml"), CLIENT_CONFIRM).unwrap();
    repo.git_in(&ada, &["checkout", "-q", &tip]);
    let refused = push_in(
        repo,
        &ada,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    );
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("requires a signed push"),
        "{}",
        refused.stderr
    );
    // Pat pushes the same update, signed, without his hook: Ada's record is not his.
    let pat = repo.push(&[
        "--signed",
        "--no-verify",
        "origin",
        &format!("{tip}:refs/heads/production"),
    ]);
    pat.expect_code(1);
    assert!(
        pat.stderr.contains(
            "is signed by ada@example.com, not by the signer of this push (pat@example.com)"
        ),
        "{}",
        pat.stderr
    );
    // Ada's own signed push of that update is attested by her record.
    let run = push_in(
        repo,
        &ada,
        &[
            "--signed",
            "--no-verify",
            "origin",
            "HEAD:refs/heads/production",
        ],
        &[],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains("signed by ada@example.com)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(tip));
    let _ = &s.pat;
}
