//! Signed attestations (issue 11) with real keys made by `ssh-keygen` in the test's temp dir,
//! a real `ssh-agent` for the agent path, and real pushes: who vouched for an approval, a
//! record or a trailer is what the allowed signers say, not what a note claims.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{Run, TestRepo};

/// Production requires one approval and signatures; the allowed signers are committed.
const SIGNED_APPROVALS: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"approvals\"]\napprovals = 1\nconfirm = false\n\n[trust]\nallowed_signers = \".allowed_signers\"\nrequire_signatures = true\n";

/// Production gated by `no-delete` only, signatures required.
const SIGNED_PLAIN: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n\n[trust]\nallowed_signers = \".allowed_signers\"\nrequire_signatures = true\n";

/// Makes an Ed25519 key pair `<root>/keys/<name>` (no passphrase); returns the private key.
pub(crate) fn keygen(repo: &TestRepo, name: &str) -> PathBuf {
    keygen_typed(repo, name, "ed25519")
}

fn keygen_typed(repo: &TestRepo, name: &str, kind: &str) -> PathBuf {
    let dir = repo.root.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join(name);
    let out = repo
        .command("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
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

/// Sets up git's SSH signing in `dir` with `key` (a file path or `key::…`).
pub(crate) fn sign_with(repo: &TestRepo, dir: &Path, key: &str) {
    repo.git_in(dir, &["config", "gpg.format", "ssh"]);
    repo.git_in(dir, &["config", "user.signingKey", key]);
}

/// Writes `.allowed_signers` in the work tree: one line per (principal, key).
pub(crate) fn allow(repo: &TestRepo, entries: &[(&str, &Path)]) {
    let text: String = entries
        .iter()
        .map(|(p, k)| format!("{p} {}\n", public(k)))
        .collect();
    repo.write(".allowed_signers", &text);
}

/// Pat (signing with `pat`), Ada (signing with `ada`, her own clone), both allowed; the
/// config and the allowed signers are committed and on `feature` on the remote.
struct Team {
    repo: TestRepo,
    pat: PathBuf,
    ada_key: PathBuf,
    ada: PathBuf,
    tip: String,
}

fn team(config: &str) -> Team {
    let repo = TestRepo::new();
    repo.install();
    let pat = keygen(&repo, "pat");
    let ada_key = keygen(&repo, "ada");
    allow(
        &repo,
        &[("pat@example.com", &pat), ("ada@example.com", &ada_key)],
    );
    repo.config(config);
    repo.git(&["add", ".allowed_signers", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "release 1"]);
    let tip = repo.head();
    repo.push_unguarded("HEAD:refs/heads/feature");
    sign_with(&repo, &repo.work, pat.to_str().unwrap());
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(&repo, &ada, ada_key.to_str().unwrap());
    Team {
        repo,
        pat,
        ada_key,
        ada,
        tip,
    }
}

fn push_production(repo: &TestRepo) -> Run {
    repo.push(&["origin", "HEAD:refs/heads/production"])
}

/// The last line of the local audit log.
fn last_record(repo: &TestRepo) -> String {
    let log = std::fs::read_to_string(repo.work.join(".git/pushguard/audit.jsonl")).unwrap();
    log.lines().last().unwrap().to_owned()
}

#[test]
fn regression_issue_11_a_leads_signed_approval_counts() {
    let t = team(SIGNED_APPROVALS);
    let run = t
        .repo
        .pushguard_in(&t.ada, &["approve", &t.tip, "--env", "production"]);
    run.expect_code(0);
    assert!(run.stderr.contains(", signed with "), "{}", run.stderr);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "✓ approvals  1 of 1 approval: Ada Lead <ada@example.com> (signed: ada@example.com)"
        ),
        "{}",
        run.stderr
    );
    // The record is version 2 and signed; the log names the verified signer.
    let line = last_record(&t.repo);
    assert!(line.starts_with("{\"version\":2,"), "{line}");
    assert!(line.contains("\"signature\":\""), "{line}");
    let log = t.repo.pushguard(&["log"]);
    log.expect_code(0);
    assert!(log.stdout.starts_with("TIME  "), "{}", log.stdout);
    assert!(log.stdout.contains("  SIGNER  "), "{}", log.stdout);
    assert!(
        log.stdout.contains("  pat@example.com  "),
        "{}{}",
        log.stdout,
        log.stderr
    );
    // OpenSSH agrees, with the README's rule: the line up to `,"prev":`, closed with `}`.
    let payload = format!("{}}}", &line[..line.find(",\"prev\":").unwrap()]);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    let sig = value["signature"].as_str().unwrap();
    let sig_file = t.repo.root.join("record.sig");
    std::fs::write(&sig_file, armour(sig)).unwrap();
    let mut verify = t
        .repo
        .command("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-n",
            "pushguard-record",
            "-I",
            "pat@example.com",
            "-f",
        ])
        .arg(t.repo.work.join(".allowed_signers"))
        .arg("-s")
        .arg(&sig_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    verify
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    let out = verify.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The hash rule is unchanged: SHA-256 of the line without its hash, closed with `}`.
    let body = format!("{}}}", &line[..line.rfind(",\"hash\":").unwrap()]);
    assert!(line.ends_with(&format!(
        ",\"hash\":\"{}\"}}",
        pushguard::audit::sha256_hex(body.as_bytes())
    )));
    // And another clone sees the same signer through the shared notes.
    let other = t.repo.clone_as("other", "Olga", "olga@example.com");
    // Unchecked without the allowed signers (this clone has not checked them out yet).
    let unchecked = t.repo.pushguard_in(&other, &["log", "--remote"]);
    assert!(
        unchecked.stdout.contains("  unchecked  "),
        "{}",
        unchecked.stdout
    );
    t.repo.git_in(&other, &["checkout", "-q", "production"]);
    let remote = t.repo.pushguard_in(&other, &["log", "--remote"]);
    remote.expect_code(0);
    assert!(
        remote.stdout.contains("  pat@example.com  "),
        "{}",
        remote.stdout
    );
}

fn armour(b64: &str) -> String {
    let body: Vec<String> = b64
        .as_bytes()
        .chunks(70)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
        body.join("\n")
    )
}

#[test]
fn regression_issue_11_an_approval_the_pusher_wrote_under_the_leads_name_does_not_count() {
    let t = team(SIGNED_APPROVALS);
    // Pat, in a second clone, names himself Ada and approves with his own key.
    let fake = t.repo.clone_as("fake", "Ada Lead", "ada@example.com");
    sign_with(&t.repo, &fake, t.pat.to_str().unwrap());
    t.repo
        .pushguard_in(&fake, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    // And once more without any key (this clone's config does not require signatures).
    let unsigned = t.repo.clone_as("unsigned", "Ada Lead", "ada@example.com");
    std::fs::write(unsigned.join(".pushguard.toml"), "").unwrap();
    t.repo
        .pushguard_in(&unsigned, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("✗ approvals  0 of 1 approval"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("not counted: Ada Lead <ada@example.com>: signed by your own key (pat@example.com), whatever name the note gives"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("not counted: Ada Lead <ada@example.com>: the approval is not signed"),
        "{}",
        run.stderr
    );
    assert_eq!(t.repo.remote_branch("production"), None);
    // Ada's own signed approval then lets it through.
    t.repo
        .pushguard_in(&t.ada, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let _ = &t.ada_key;
}

#[test]
fn regression_issue_11_a_trailer_in_an_unsigned_commit_does_not_count_when_required() {
    let t = team(SIGNED_APPROVALS);
    t.repo
        .commit("release 2\n\nApproved-by: Ada Lead <ada@example.com>");
    let run = push_production(&t.repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not counted: 1 `Approved-by:` trailer: the commit is not signed"),
        "{}",
        run.stderr
    );
    // Pat signs the commit himself: still not Ada's signature.
    t.repo.git(&[
        "commit",
        "-q",
        "-S",
        "--allow-empty",
        "-m",
        "release 3\n\nApproved-by: Ada Lead <ada@example.com>",
    ]);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the commit is signed by pat@example.com, not by that approver"),
        "{}",
        run.stderr
    );
    // A commit Ada signed (as git signs it, `git commit -S`) carries her trailer.
    t.repo.push_unguarded("HEAD:refs/heads/pat-work");
    t.repo.git_in(&t.ada, &["fetch", "-q", "origin"]);
    t.repo
        .git_in(&t.ada, &["reset", "-q", "--hard", "origin/pat-work"]);
    t.repo.git_in(
        &t.ada,
        &[
            "commit",
            "-q",
            "-S",
            "--allow-empty",
            "-m",
            "release 4\n\nApproved-by: Ada Lead <ada@example.com>",
        ],
    );
    t.repo.git_in(
        &t.ada,
        &[
            "push",
            "-q",
            "--no-verify",
            "origin",
            "HEAD:refs/heads/ada-signed",
        ],
    );
    t.repo.git(&["fetch", "-q", "origin"]);
    t.repo.git(&["reset", "-q", "--hard", "origin/ada-signed"]);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Ada Lead <ada@example.com> (trailer) (signed: ada@example.com)"),
        "{}",
        run.stderr
    );
}

/// Pat pushes production through the guard (a signed record), then a commit without it; a
/// CI clone audits with signatures required.
fn pushed_then_skipped() -> (TestRepo, String, PathBuf) {
    let t = team(SIGNED_PLAIN);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let signed = last_record(&t.repo);
    t.repo
        .commit_file("app.txt", "hotfix\n", "hotfix without the guard");
    t.repo
        .push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    (t.repo, signed, t.pat)
}

/// A record for the unguarded hotfix, made from a real one: `new`/`old` changed, then
/// `signature` set (or null) and the hash recomputed, so the hash verifies.
/// Signs a payload, returning the signature's base64.
type Sign<'a> = &'a dyn Fn(&[u8]) -> String;

fn forge(repo: &TestRepo, real: &str, signature: Option<Sign>) -> String {
    let (mut record, _) = pushguard::audit::parse_line(real.as_bytes()).unwrap();
    let hotfix = repo.head();
    record.old = record.new.clone();
    record.new = Some(hotfix.clone());
    record.signature = None;
    if let Some(sign) = signature {
        // The README's rule: the line up to `,"prev":`, closed with `}`.
        let (unsigned, _) = record.to_line();
        let payload = format!("{}}}", &unsigned[..unsigned.find(",\"prev\":").unwrap()]);
        record.signature = Some(sign(payload.as_bytes()));
    }
    let (line, _) = record.to_line();
    assert!(
        pushguard::audit::parse_line(line.as_bytes()).is_ok(),
        "{line}"
    );
    // Hung on the hotfix in the shared notes, as the hook would have done.
    repo.hang_note(&hotfix, &line).expect_code(0);
    line
}

fn audit_in_ci(repo: &TestRepo) -> Run {
    let ci = repo.clone_as("ci", "CI", "ci@example.com");
    // The deploy pipeline's checkout: production. Its policy is its own (issue 23): the
    // team's config and allowed signers, kept outside the checkout.
    repo.git_in(&ci, &["checkout", "-q", "production"]);
    let policy = repo.root.join("ci-policy");
    std::fs::create_dir_all(&policy).unwrap();
    std::fs::write(policy.join("pushguard.toml"), SIGNED_PLAIN).unwrap();
    std::fs::copy(ci.join(".allowed_signers"), policy.join(".allowed_signers")).unwrap();
    let file = policy.join("pushguard.toml");
    repo.pushguard_in(
        &ci,
        &[
            "audit",
            "--config",
            file.to_str().unwrap(),
            "--fail-on-unrecorded",
        ],
    )
}

#[test]
fn regression_issue_11_signed_records_pass_the_audit() {
    let (repo, _, _) = pushed_then_skipped();
    // Without a forged record the hotfix is simply unrecorded; the signed push is counted.
    let run = audit_in_ci(&repo);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("UNRECORDED"), "{}", run.stdout);
    // The signed record of the gated push counts: it is the last recorded tip.
    assert!(run.stdout.contains("last recorded tip"), "{}", run.stdout);
    assert!(!run.stderr.contains("not counted"), "{}", run.stderr);
}

#[test]
fn regression_issue_11_a_hand_made_record_with_a_valid_hash_is_not_counted() {
    let (repo, real, _) = pushed_then_skipped();
    forge(&repo, &real, None);
    let run = audit_in_ci(&repo);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("UNRECORDED") && run.stdout.contains("hotfix without the guard"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("not counted (production requires signatures)")
            && run.stderr.contains("the record is not signed"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_11_a_record_re_signed_by_an_unknown_key_is_not_counted() {
    let (repo, real, _) = pushed_then_skipped();
    let mallory = keygen(&repo, "mallory");
    let sign = |payload: &[u8]| -> String {
        let file = repo.root.join("payload");
        std::fs::write(&file, payload).unwrap();
        let out = repo
            .command("ssh-keygen")
            .args(["-Y", "sign", "-n", "pushguard-record", "-f"])
            .arg(&mallory)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(file.with_extension("sig")).unwrap();
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    };
    forge(&repo, &real, Some(&sign));
    let run = audit_in_ci(&repo);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("UNRECORDED"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("signed by a key that is not in the allowed signers"),
        "{}",
        run.stderr
    );
    // `pushguard log --remote` shows it as INVALID rather than naming anyone.
    let ci = repo.root.join("ci");
    let log = repo.pushguard_in(&ci, &["log", "--remote"]);
    assert!(log.stdout.contains("  INVALID  "), "{}", log.stdout);
}

#[test]
fn regression_issue_11_no_signing_key_blocks_with_the_git_config_lines() {
    let repo = TestRepo::guarded(SIGNED_PLAIN);
    let pat = keygen(&repo, "pat");
    allow(&repo, &[("pat@example.com", &pat)]);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for line in [
        "production requires signatures, and you have no SSH signing key configured (`gpg.format` is not set)",
        "hint:   git config --global gpg.format ssh",
        "hint:   git config --global user.signingKey ~/.ssh/id_ed25519.pub",
        "pushguard: ✗ push to production blocked",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }
    assert_eq!(repo.remote_branch("production"), None);
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("signatures required for: production\n  blocked: pushes to production need an SSH signing key; set one up with:\n    git config --global gpg.format ssh"),
        "{}",
        status.stdout
    );
    // A key that is not in the allowed signers is refused before it signs anything.
    let stranger = keygen(&repo, "stranger");
    sign_with(&repo, &repo.work, stranger.to_str().unwrap());
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("production requires signatures: your signing key `")
            && run.stderr.contains("is not in the allowed signers `")
            && run.stderr.contains("hint: ask whoever keeps that file to add the line `<you@example.com> ssh-ed25519 AAAA"),
        "{}",
        run.stderr
    );
    // With the key set up, status names the principal and the push goes through.
    sign_with(&repo, &repo.work, pat.to_str().unwrap());
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("you are: pat@example.com"),
        "{}",
        status.stdout
    );
    let run = push_production(&repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn regression_issue_11_signing_through_ssh_agent() {
    let repo = TestRepo::guarded(SIGNED_PLAIN);
    let pat = keygen(&repo, "pat");
    allow(&repo, &[("pat@example.com", &pat)]);
    let sock = repo.root.join("agent.sock");
    let agent = repo
        .command("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh-agent");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let agent = Kill(agent);
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A literal public key: the private half must come from the agent.
    sign_with(&repo, &repo.work, &format!("key::{}", public(&pat)));
    let push = || {
        Run::from_output(
            repo.command("git")
                .env("SSH_AUTH_SOCK", &sock)
                .args(["push", "origin", "HEAD:refs/heads/production"])
                .output()
                .unwrap(),
        )
    };
    let run = push();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("must be in ssh-agent: run `ssh-add"),
        "{}",
        run.stderr
    );
    let added = repo
        .command("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg(&pat)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let run = push();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(last_record(&repo).contains("\"signature\":\""));
    let log = repo.pushguard(&["log"]);
    assert!(
        log.stdout.contains("  pat@example.com  "),
        "{}{}",
        log.stdout,
        log.stderr
    );
    // A public key file whose private half is in the agent works the same way.
    std::fs::remove_file(&pat).unwrap();
    sign_with(
        &repo,
        &repo.work,
        pat.with_extension("pub").to_str().unwrap(),
    );
    repo.commit("release 2");
    let run = push();
    assert_eq!(run.code, 0, "{}", run.stderr);
    drop(agent);
}

#[test]
fn regression_issue_11_an_ecdsa_key_is_verified_through_ssh_keygen() {
    // Not Ed25519: the in-process check hands over to `ssh-keygen -Y verify`.
    let repo = TestRepo::guarded(SIGNED_PLAIN);
    let pat = keygen_typed(&repo, "pat", "ecdsa");
    allow(&repo, &[("pat@example.com", &pat)]);
    sign_with(&repo, &repo.work, pat.to_str().unwrap());
    let run = push_production(&repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = repo.pushguard(&["log"]);
    assert!(
        log.stdout.contains("  pat@example.com  "),
        "{}{}",
        log.stdout,
        log.stderr
    );
}

#[test]
fn regression_issue_11_a_gated_push_starts_at_most_one_ssh_keygen() {
    // A signed record, a signed approval and a signed commit's trailer checked: one process,
    // the signing.
    let t = team(SIGNED_APPROVALS);
    t.repo
        .pushguard_in(&t.ada, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    // Same tree as the approved commit, signed by Pat, with a trailer naming Ada.
    t.repo.git(&[
        "commit",
        "-q",
        "-S",
        "--allow-empty",
        "-m",
        "release 2\n\nApproved-by: Ada Lead <ada@example.com>",
    ]);
    let wrap = t.repo.root.join("wrap");
    std::fs::create_dir_all(&wrap).unwrap();
    let calls = t.repo.root.join("calls");
    let real = String::from_utf8(
        t.repo
            .command("sh")
            .args(["-c", "command -v ssh-keygen"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = wrap.join("ssh-keygen");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        wrap.display(),
        crate::support::hermetic_path().to_string_lossy()
    );
    let run = Run::from_output(
        t.repo
            .command("git")
            .env("PATH", path)
            .args(["push", "origin", "HEAD:refs/heads/production"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the commit is signed by pat@example.com, not by that approver"),
        "{}",
        run.stderr
    );
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec![format!(
            "-Y sign -n pushguard-record -f {}",
            t.pat.display()
        )],
        "{calls}"
    );
}

#[test]
fn regression_issue_11_without_required_signatures_approvals_count_as_before_and_show_the_signer() {
    let config =
        SIGNED_APPROVALS.replace("require_signatures = true", "require_signatures = false");
    let t = team(&config);
    // An unsigned approval under Ada's name still counts, as before issue 11.
    let unsigned = t.repo.clone_as("unsigned", "Ada Lead", "ada@example.com");
    t.repo
        .pushguard_in(&unsigned, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    let run = t.repo.pushguard(&["check", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("✓ approvals  1 of 1 approval: Ada Lead <ada@example.com>\n"),
        "{}",
        run.stderr
    );
    // Olga's signed approval shows who signed it.
    let olga = t.repo.clone_as("olga", "Olga Ops", "olga@example.com");
    sign_with(&t.repo, &olga, t.ada_key.to_str().unwrap());
    t.repo
        .pushguard_in(&olga, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "Ada Lead <ada@example.com>, Olga Ops <olga@example.com> (signed: ada@example.com)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_11_signing_errors_name_what_is_missing() {
    let repo = TestRepo::guarded(SIGNED_PLAIN);
    let pat = keygen(&repo, "pat");
    allow(&repo, &[("pat@example.com", &pat)]);
    // The key file is missing.
    sign_with(&repo, &repo.work, "/nonexistent/id_ed25519");
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("production requires signatures, and your signing key cannot be used: cannot read the signing key `/nonexistent/id_ed25519` (`user.signingKey`)")
            && run.stderr.contains("hint: create one with `ssh-keygen -t ed25519`"),
        "{}",
        run.stderr
    );
    // ssh-keygen (here `gpg.ssh.program`) is missing.
    sign_with(&repo, &repo.work, pat.to_str().unwrap());
    repo.git(&["config", "gpg.ssh.program", "/nonexistent/ssh-keygen"]);
    let run = push_production(&repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`/nonexistent/ssh-keygen` is not installed (or not on PATH): it makes the SSH signature")
            && run.stderr.contains("hint: install OpenSSH's client tools"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    // Where signatures are not required, the same broken setup only warns.
    repo.config(&SIGNED_PLAIN.replace("require_signatures = true", "require_signatures = false"));
    let run = push_production(&repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("pushguard: warning: the record is not signed: `/nonexistent/ssh-keygen` is not installed"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_24_a_hand_written_approval_that_is_dropped_is_named() {
    let t = team(SIGNED_APPROVALS);
    // Pat writes "Ada approved" by hand, in no format pushguard writes, and shares it.
    t.repo.git(&[
        "notes",
        "--ref",
        "pushguard-approvals",
        "add",
        "-m",
        r#"{"name":"Ada Lead","email":"ada@example.com","environment":"production"}"#,
        &t.tip,
    ]);
    t.repo
        .push(&["--no-verify", "origin", "refs/notes/pushguard-approvals"])
        .expect_code(0);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("✗ approvals  0 of 1 approval"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "not counted: 1 entry in the approvals note on {} that pushguard cannot read (not written by `pushguard approve`)",
            &t.tip[..10]
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_24_approve_reads_the_identity_git_reads() {
    let repo = TestRepo::new();
    let tip = repo.head();
    // An alias run as `git -c user.email=… approve`, and a CI job's GIT_CONFIG_COUNT pair.
    let run = repo.pushguard_with(
        &["approve", &tip, "--env", "production"],
        None,
        &[(
            "GIT_CONFIG_PARAMETERS",
            "'user.email'='lead@example.com' 'user.name'='Ada Lead'",
        )],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("as Ada Lead <lead@example.com>"),
        "{}",
        run.stderr
    );
    let run = repo.pushguard_with(&["approve", "--list", &tip], None, &[]);
    assert!(run.stdout.contains("lead@example.com"), "{}", run.stdout);
    let other = repo.commit("second");
    let run = repo.pushguard_with(
        &["approve", &other, "--env", "production"],
        None,
        &[
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "user.email"),
            ("GIT_CONFIG_VALUE_0", "ci-lead@example.com"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("as Pat Pusher <ci-lead@example.com>"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_24_an_empty_signing_key_is_no_key_not_a_directory() {
    let repo = TestRepo::new();
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&["config", "user.signingKey", ""]);
    let tip = repo.head();
    let run = repo.pushguard(&["approve", &tip, "--env", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("Is a directory"), "{}", run.stderr);
    let status = repo.pushguard(&["status"]);
    assert!(
        status.stdout.contains("`user.signingKey` is set but empty"),
        "{}",
        status.stdout
    );
}

#[test]
fn regression_issue_18_with_signatures_required_rules_are_filled_by_verified_principals_and_forged_approvals_are_named(
) {
    let config = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n\n[[environments.production.approval_rules]]\nname = \"leads\"\napprovers = [\"ada@example.com\"]\n\n[[environments.production.approval_rules]]\nname = \"qa\"\napprovers = [\"olga@example.com\"]\n\n[trust]\nallowed_signers = \".allowed_signers\"\nrequire_signatures = true\n";
    let t = team(config);
    t.repo
        .pushguard_in(&t.ada, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    // Olga approves with a key nobody allowed: her note names her, and counts for nothing.
    let olga = t.repo.clone_as("olga", "Olga Ops", "olga@example.com");
    let olga_key = keygen(&t.repo, "olga");
    sign_with(&t.repo, &olga, olga_key.to_str().unwrap());
    t.repo
        .pushguard_in(&olga, &["approve", &t.tip, "--env", "production"])
        .expect_code(0);
    let run = push_production(&t.repo);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("leads: 1 of 1 — Ada Lead <ada@example.com> (signed: ada@example.com)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("qa: 0 of 1 — ask one of olga@example.com"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("not counted: Olga Ops <olga@example.com>: "),
        "{}",
        run.stderr
    );
    // Once the team allows her key, her signed approval fills the qa seat.
    allow(
        &t.repo,
        &[
            ("pat@example.com", &t.pat),
            ("ada@example.com", &t.ada_key),
            ("olga@example.com", &olga_key),
        ],
    );
    let run = push_production(&t.repo);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("qa ← Olga Ops <olga@example.com> (signed: olga@example.com)"),
        "{}",
        run.stderr
    );
}
