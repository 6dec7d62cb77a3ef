//! The audited commit does not choose its own judge (issue 23, items 1 and 2): attacks by a
//! colleague who wants a push to production through unseen, with keys made by `ssh-keygen`,
//! real pushes, and the deploy pipeline running exactly the audit lines of the README's CI
//! recipes (GitHub Actions and GitLab CI). Also `gpg.ssh.revocationFile` (item 3's part on
//! the client): a revoked key counts for nothing.

use std::path::{Path, PathBuf};

use crate::signed_push::{keygen, public, sign_with};
use crate::support::{bin, hermetic_path, Run, TestRepo};

/// The team's committed config: production requires signatures, against the committed
/// allowed signers.
const TEAM: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"no-delete\"]\nconfirm = false\n\n[trust]\nallowed_signers = \".allowed_signers\"\nrequire_signatures = true\n";

/// The deploy pipeline's own policy (a CI variable): the same rule, with the allowed signers
/// beside the policy file (the README's example, checked below).
const POLICY: &str = "[environments.production]\nbranches = [\"production\"]\n\n[trust]\nallowed_signers = \"allowed_signers\"   # beside the policy file\nrequire_signatures = true\n";

/// Pat and Ada are the team (their keys in the committed allowed signers); Mallory is not.
struct Team {
    repo: TestRepo,
    mallory: PathBuf,
    /// The team's allowed signers, as the pipeline keeps them.
    signers: String,
    /// The record of Pat's gated push to production.
    record: String,
}

/// The team's repository with production pushed once through the guard (Pat, signed).
fn team() -> Team {
    let repo = TestRepo::new();
    repo.install();
    let pat = keygen(&repo, "pat");
    let ada = keygen(&repo, "ada");
    let mallory = keygen(&repo, "mallory");
    let signers = format!(
        "pat@example.com {}\nada@example.com {}\n",
        public(&pat),
        public(&ada)
    );
    repo.write(".allowed_signers", &signers);
    repo.config(TEAM);
    repo.git(&["add", ".allowed_signers", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "release 1"]);
    sign_with(&repo, &repo.work, &pat);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = std::fs::read_to_string(repo.work.join(".git/pushguard/audit.jsonl")).unwrap();
    let record = log.lines().last().unwrap().to_owned();
    Team {
        repo,
        mallory,
        signers,
        record,
    }
}

/// Signs `payload` with `key` under the records' namespace, as the hook does.
fn sign_record(repo: &TestRepo, key: &Path, payload: &[u8]) -> String {
    let file = repo.root.join("payload");
    std::fs::write(&file, payload).unwrap();
    let out = repo
        .command("ssh-keygen")
        .args(["-Y", "sign", "-n", "pushguard-record", "-f"])
        .arg(key)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(file.with_extension("sig")).unwrap();
    std::fs::remove_file(file.with_extension("sig")).unwrap();
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// How a forged record is signed.
enum Forged<'a> {
    Unsigned,
    /// A `signature` field that is not a signature at all.
    Garbage,
    SignedWith(&'a Path),
}

/// Pushes the work tree's HEAD to production with `--no-verify`, then hangs on it a record
/// of that push "by Ada Lead", made from a real one (the hash recomputed), in the shared
/// notes, as a colleague with push access can.
fn ship_unseen(t: &Team, forged: Forged) {
    let repo = &t.repo;
    repo.push(&["--no-verify", "-q", "origin", "HEAD:refs/heads/production"])
        .expect_code(0);
    let (mut record, _) = pushguard::audit::parse_line(t.record.as_bytes()).unwrap();
    record.old = record.new.clone();
    record.new = Some(repo.head());
    record.user.name = "Ada Lead".into();
    record.user.email = "ada@example.com".into();
    record.signature = None;
    match forged {
        Forged::Unsigned => {}
        Forged::Garbage => record.signature = Some("AAAA".into()),
        Forged::SignedWith(key) => {
            let (unsigned, _) = record.to_line();
            let payload = format!("{}}}", &unsigned[..unsigned.find(",\"prev\":").unwrap()]);
            record.signature = Some(sign_record(repo, key, payload.as_bytes()));
        }
    }
    let (line, _) = record.to_line();
    repo.hang_note("HEAD", &line).expect_code(0);
}

/// The deploy pipeline's checkout of production.
fn ci_checkout(repo: &TestRepo) -> PathBuf {
    let ci = repo.root.join("ci");
    if !ci.exists() {
        repo.clone_as("ci", "CI", "ci@example.com");
    }
    repo.git_in(&ci, &["fetch", "-q", "origin"]);
    repo.git_in(&ci, &["checkout", "-q", "--detach", "origin/production"]);
    ci
}

/// The fenced block of the README that follows `title` (`GitHub Actions:`, `GitLab CI:`).
fn readme_block(title: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read the README");
    let at = readme
        .find(&format!("\n{title}\n\n```yaml\n"))
        .unwrap_or_else(|| panic!("the README has no `{title}` recipe"));
    let body = &readme[at..];
    let start = body.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + body[start..].find("\n```").unwrap();
    body[start..end].to_owned()
}

/// The shell lines of a recipe that run after pushguard is installed: GitHub's `run: |`
/// script, GitLab's `script:` entries (comments and the install line left out).
fn recipe(title: &str) -> String {
    let block = readme_block(title);
    let lines: Vec<&str> = block.lines().collect();
    let mut script = Vec::new();
    if let Some(i) = lines.iter().position(|l| l.trim_end().ends_with("run: |")) {
        let indent = lines[i].len() - lines[i].trim_start().len();
        for l in &lines[i + 1..] {
            if l.trim().is_empty() || l.len() - l.trim_start().len() <= indent {
                break;
            }
            script.push(l.trim().to_owned());
        }
    } else {
        let i = lines
            .iter()
            .position(|l| l.trim() == "script:")
            .unwrap_or_else(|| panic!("the `{title}` recipe has no script"));
        for l in &lines[i + 1..] {
            let t = l.trim();
            if t.starts_with('#') {
                continue;
            }
            let Some(cmd) = t.strip_prefix("- ") else {
                break;
            };
            if !cmd.starts_with("cargo install") {
                script.push(cmd.to_owned());
            }
        }
    }
    let script = script.join("\n");
    assert!(
        script.contains("pushguard audit --config "),
        "the `{title}` recipe must audit with the pipeline's policy:\n{script}"
    );
    script
}

/// Runs a recipe's lines in the CI checkout with the CI variables the README names set:
/// the deploy policy and the team's allowed signers.
fn run_recipe(t: &Team, title: &str) -> Run {
    let repo = &t.repo;
    let ci = ci_checkout(repo);
    let tools = repo.root.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let _ = std::os::unix::fs::symlink(bin(), tools.join("pushguard"));
    let tmp = repo.root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut path = std::ffi::OsString::from(&tools);
    path.push(":");
    path.push(hermetic_path());
    Run::from_output(
        repo.command("sh")
            .current_dir(&ci)
            .args(["-ec", &recipe(title)])
            .env("PATH", path)
            .env("TMPDIR", &tmp)
            .env("PUSHGUARD_POLICY", POLICY)
            .env("PUSHGUARD_ALLOWED_SIGNERS", &t.signers)
            .output()
            .expect("run the recipe"),
    )
}

const RECIPES: [&str; 2] = ["GitHub Actions:", "GitLab CI:"];

/// Both recipes pass the honest state and fail the attacked one, naming the UNRECORDED tip.
fn recipes_pass_then_fail(t: &Team, before: &[Run], attack: impl FnOnce(&Team)) {
    for (title, run) in RECIPES.iter().zip(before) {
        assert_eq!(run.code, 0, "{title}\n{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("(production): recorded"),
            "{title}\n{}",
            run.stdout
        );
    }
    attack(t);
    for title in RECIPES {
        let run = run_recipe(t, title);
        assert_eq!(run.code, 1, "{title}\n{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("(production): UNRECORDED"),
            "{title}\n{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("by Ada Lead"),
            "{title}\n{}",
            run.stdout
        );
    }
}

fn honest_runs(t: &Team) -> Vec<Run> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read the README");
    assert!(
        readme.contains(&format!("```toml\n{POLICY}```")),
        "the README's example policy is the one tested"
    );
    RECIPES.iter().map(|title| run_recipe(t, title)).collect()
}

#[test]
fn regression_issue_23_the_audited_commit_cannot_bring_its_own_allowed_signers() {
    let t = team();
    let before = honest_runs(&t);
    recipes_pass_then_fail(&t, &before, |t| {
        // The commit names its own allowed signers, where Mallory's key is "ada@example.com",
        // and comes with a record Mallory signed.
        let repo = &t.repo;
        repo.write(
            ".evil_signers",
            &format!("ada@example.com {}\n", public(&t.mallory)),
        );
        repo.config(&TEAM.replace(".allowed_signers\"", ".evil_signers\""));
        repo.git(&["add", ".evil_signers", ".pushguard.toml"]);
        repo.git(&["commit", "-q", "-m", "ship it"]);
        ship_unseen(t, Forged::SignedWith(&t.mallory));
    });
    // The README's old line, without a policy, no longer judges by the checkout's [trust]:
    // with --fail-on-unrecorded it refuses to (exit 2) rather than pass.
    let ci = ci_checkout(&t.repo);
    let run = t.repo.pushguard_in(&ci, &["audit", "--fail-on-unrecorded"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "audit --fail-on-unrecorded does not take [trust] allowed_signers, [trust] require_signatures from the audited checkout's .pushguard.toml"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--config FILE"), "{}", run.stderr);
    // Nor can the pipeline point its policy into the checkout.
    let inside = ci.join(".pushguard.toml");
    let run = t.repo.pushguard_in(
        &ci,
        &[
            "audit",
            "--config",
            inside.to_str().unwrap(),
            "--fail-on-unrecorded",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is inside the checkout of the audited commit"),
        "{}",
        run.stderr
    );
    // And git's gpg.ssh.allowedSignersFile pointing into the checkout is refused too.
    let policy = t.repo.root.join("policy-git.toml");
    std::fs::write(&policy, "[trust]\nrequire_signatures = true\n").unwrap();
    t.repo.git_in(
        &ci,
        &["config", "gpg.ssh.allowedSignersFile", ".evil_signers"],
    );
    let run = t.repo.pushguard_in(
        &ci,
        &[
            "audit",
            "--config",
            policy.to_str().unwrap(),
            "--fail-on-unrecorded",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the allowed signers `")
            && run.stderr.contains("are inside the checkout"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_23_the_audited_commit_cannot_switch_signatures_off() {
    let t = team();
    let before = honest_runs(&t);
    recipes_pass_then_fail(&t, &before, |t| {
        let repo = &t.repo;
        repo.config(&TEAM.replace("require_signatures = true", "require_signatures = false"));
        repo.git(&["commit", "-q", "-am", "signatures are a bother"]);
        ship_unseen(t, Forged::Unsigned);
    });
    let ci = ci_checkout(&t.repo);
    let run = t.repo.pushguard_in(&ci, &["audit", "--remote", "origin"]);
    // Informational, without a policy: it says what it does not take from the checkout (the
    // checkout's `require_signatures = false` is the value in force anyway: not named).
    assert!(
        run.stderr.contains(
            "warning: audit does not take [trust] allowed_signers from the audited checkout"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_23_a_record_of_an_environment_the_config_does_not_know_is_verified() {
    let t = team();
    let before = honest_runs(&t);
    recipes_pass_then_fail(&t, &before, |t| {
        // The commit drops production from the config, and the record carries a signature
        // field that is no signature.
        let repo = &t.repo;
        repo.config("[environments.development]\nbranches = [\"development\"]\n");
        repo.git(&["commit", "-q", "-am", "production is not an environment"]);
        ship_unseen(t, Forged::Garbage);
    });
    // A pipeline whose trust root is outside the checkout in its user config (no policy
    // file): the record of an environment the checkout does not know is verified too.
    let ci = ci_checkout(&t.repo);
    let config = t.repo.root.join("ci-config");
    std::fs::create_dir_all(config.join("pushguard")).unwrap();
    std::fs::write(config.join("pushguard/allowed_signers"), &t.signers).unwrap();
    std::fs::write(
        config.join("pushguard/config.toml"),
        "[trust]\nallowed_signers = \"allowed_signers\"\nrequire_signatures = true\n",
    )
    .unwrap();
    let run = Run::from_output(
        t.repo
            .command(bin())
            .current_dir(&ci)
            .env("XDG_CONFIG_HOME", &config)
            .args(["audit", "--fail-on-unrecorded"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("(production): UNRECORDED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("not counted (production requires signatures)")
            && run.stderr.contains("by Ada Lead"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_23_a_file_in_the_repository_does_not_silently_override_gits_allowed_signers() {
    let repo = TestRepo::guarded(TEAM);
    let outside = repo.root.join("allowed_signers");
    std::fs::write(&outside, "").unwrap();
    repo.write(".allowed_signers", "");
    repo.git(&[
        "config",
        "gpg.ssh.allowedSignersFile",
        outside.to_str().unwrap(),
    ]);
    let run = repo.pushguard(&["status"]);
    assert!(
        run.stderr
            .contains("warning: `[trust] allowed_signers` in `")
            && run
                .stderr
                .contains("is used instead of git's gpg.ssh.allowedSignersFile"),
        "{}",
        run.stderr
    );
}

/// Production needs one approval, signatures required (client side).
const APPROVALS: &str = "[environments.production]\nbranches = [\"production\"]\nchecks = [\"approvals\"]\napprovals = 1\nconfirm = false\n\n[trust]\nallowed_signers = \".allowed_signers\"\nrequire_signatures = true\n";

#[test]
fn regression_issue_23_a_revoked_approver_key_counts_for_nothing() {
    let repo = TestRepo::new();
    repo.install();
    let pat = keygen(&repo, "pat");
    let ada_key = keygen(&repo, "ada");
    repo.write(
        ".allowed_signers",
        &format!(
            "pat@example.com {}\nada@example.com {}\n",
            public(&pat),
            public(&ada_key)
        ),
    );
    repo.config(APPROVALS);
    repo.git(&["add", ".allowed_signers", ".pushguard.toml"]);
    repo.git(&["commit", "-q", "-m", "release 1"]);
    repo.push_unguarded("HEAD:refs/heads/feature");
    sign_with(&repo, &repo.work, &pat);
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(&repo, &ada, &ada_key);
    repo.pushguard_in(&ada, &["approve", &repo.head(), "--env", "production"])
        .expect_code(0);
    // A list of revoked keys, as git's gpg.ssh.revocationFile takes it.
    let list = repo.root.join("revoked.keys");
    std::fs::write(&list, format!("{}\n", public(&ada_key))).unwrap();
    repo.git(&["config", "gpg.ssh.revocationFile", list.to_str().unwrap()]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 of 1 approval") && run.stderr.contains("signed by a revoked key"),
        "{}",
        run.stderr
    );
    // The same with a key revocation list (KRL) made by ssh-keygen.
    let krl = repo.root.join("revoked.krl");
    let out = repo
        .command("ssh-keygen")
        .args(["-q", "-k", "-f"])
        .arg(&krl)
        .arg(ada_key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.git(&["config", "gpg.ssh.revocationFile", krl.to_str().unwrap()]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("signed by a revoked key"),
        "{}",
        run.stderr
    );
    // Without the revocation, Ada's approval counts.
    repo.git(&["config", "--unset", "gpg.ssh.revocationFile"]);
    let run = repo.push(&["origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
