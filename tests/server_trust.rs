//! The server's trust (issue 23 items 3 and 4, issue 22 item 3, issue 24 item 2): push
//! certificates that verify themselves, client records bound to this server and to the
//! pusher, unsigned client records where signatures are not required, and one identity per
//! pusher. Keys are made by `ssh-keygen`; pushes are real (`git push --signed` over the local
//! transport, `git daemon`, and `git http-backend` behind the CGI bridge that sets
//! `REMOTE_USER`).

use std::path::{Path, PathBuf};

use crate::signed_push::{keygen, public, sign_with};
use crate::support::{Run, TestRepo};
use crate::transports::{bounded, daemon, http_backend};

/// A bare remote running pushguard's server hooks with `config`, set up for signed pushes
/// (`receive.certNonceSeed`, `gpg.ssh.allowedSignersFile` trusting `people`), and a clone.
fn server(config: &str, people: &[(&str, &Path)]) -> TestRepo {
    let repo = TestRepo::new();
    let allowed = repo.root.join("allowed_signers");
    let lines: String = people
        .iter()
        .map(|(who, key)| format!("{who} {}\n", public(key)))
        .collect();
    std::fs::write(&allowed, lines).unwrap();
    std::fs::write(repo.remote.join("pushguard.toml"), config).unwrap();
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    let remote = &repo.remote;
    repo.git_in(remote, &["config", "receive.certNonceSeed", "origin-seed"]);
    repo.git_in(
        remote,
        &[
            "config",
            "gpg.ssh.allowedSignersFile",
            allowed.to_str().unwrap(),
        ],
    );
    repo.git_in(remote, &["config", "receive.advertisePushOptions", "true"]);
    repo
}

/// Keys made in a fresh temp dir before the server exists.
fn keys(repo: &TestRepo, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| keygen(repo, n)).collect()
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

/// The push certificates git stored in the bare repository `dir` (blob ids).
fn certificates(repo: &TestRepo, dir: &Path) -> Vec<String> {
    let all = repo.git_in(
        dir,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype)",
        ],
    );
    all.lines()
        .filter_map(|l| l.strip_suffix(" blob"))
        .filter(|id| {
            repo.git_in(dir, &["cat-file", "blob", id])
                .starts_with("certificate version 0.1")
        })
        .map(str::to_owned)
        .collect()
}

/// The SHA-256 fingerprint of a key, as git's `GIT_PUSH_CERT_KEY` gives it.
fn fingerprint(repo: &TestRepo, key: &Path) -> String {
    let out = repo
        .command("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// The variables receive-pack gives the pre-receive hook of a push signed by Ada, pointing
/// at `blob`, as a pusher over a local path can set them himself.
fn claimed_by_ada(repo: &TestRepo, ada: &Path, blob: &str) -> Vec<(String, String)> {
    let cert = repo.git_in(&repo.remote, &["cat-file", "blob", blob]);
    let nonce = cert
        .lines()
        .find_map(|l| l.strip_prefix("nonce "))
        .unwrap_or("0-0")
        .to_owned();
    vec![
        ("GIT_PUSH_CERT".into(), blob.to_owned()),
        ("GIT_PUSH_CERT_STATUS".into(), "G".into()),
        ("GIT_PUSH_CERT_NONCE_STATUS".into(), "OK".into()),
        ("GIT_PUSH_CERT_NONCE".into(), nonce),
        ("GIT_PUSH_CERT_SIGNER".into(), "ada@example.com".into()),
        ("GIT_PUSH_CERT_KEY".into(), fingerprint(repo, ada)),
    ]
}

fn as_env(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Production needs a signed push and one approval by someone other than the pusher.
const SIGNED_APPROVALS: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"approvals\"]\napprovals = 1\n\n[trust]\nrequire_signatures = true\n\n[server]\nrequire_signed_push = true\n";

#[test]
fn regression_issue_23_push_certificate_variables_set_by_the_pusher_prove_nothing() {
    let probe = TestRepo::new();
    let k = keys(&probe, &["pat", "ada"]);
    let (pat, ada) = (&k[0], &k[1]);
    let repo = server(
        SIGNED_APPROVALS,
        &[("pat@example.com", pat), ("ada@example.com", ada)],
    );
    sign_with(&repo, &repo.work, pat);
    repo.push_unguarded("HEAD:refs/heads/feature");
    let tip = repo.head();
    // Pat approves his own commit: it must not count for his push.
    repo.pushguard(&["approve", &tip, "--env", "production"])
        .expect_code(0);
    // Ada signs a push of her own (to another branch): her certificate is stored on the
    // server, where Pat, who reaches it over a local path, can read it.
    let ada_clone = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(&repo, &ada_clone, ada);
    repo.git_in(&ada_clone, &["checkout", "-q", &tip]);
    push_in(
        &repo,
        &ada_clone,
        &["--signed", "origin", "HEAD:refs/heads/ada-feature"],
        &[],
    )
    .expect_code(0);
    let certs = certificates(&repo, &repo.remote);
    assert_eq!(certs.len(), 1, "{certs:?}");

    // Pat claims to be Ada with her real certificate: it was signed for another push.
    let vars = claimed_by_ada(&repo, ada, &certs[0]);
    let run = push_in(
        &repo,
        &repo.work,
        &["--no-verify", "origin", "HEAD:refs/heads/production"],
        &as_env(&vars),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "production requires a signed push: the certificate's ref updates are not the ones this push makes"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);

    // Or with a certificate that is not there at all.
    let mut vars = vars;
    vars[0].1 = "1".repeat(40);
    let run = push_in(
        &repo,
        &repo.work,
        &["--no-verify", "origin", "HEAD:refs/heads/production"],
        &as_env(&vars),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is not in this repository: these values did not come from receive-pack"),
        "{}",
        run.stderr
    );

    // Ada's certificate for exactly this update, signed for a push to a mirror (another
    // seed), copied into the server by Pat: its nonce is not this server's.
    let mirror = repo.root.join("mirror.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "mirror.git"]);
    repo.git_in(&mirror, &["config", "receive.certNonceSeed", "mirror-seed"]);
    // git stores a certificate only for a repository with a receive hook.
    let hook = mirror.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    push_in(
        &repo,
        &ada_clone,
        &[
            "--signed",
            mirror.to_str().unwrap(),
            "HEAD:refs/heads/production",
        ],
        &[],
    )
    .expect_code(0);
    let mirrored = certificates(&repo, &mirror);
    assert_eq!(mirrored.len(), 1, "{mirrored:?}");
    let text = repo.git_in(&mirror, &["cat-file", "blob", &mirrored[0]]);
    let copy = repo.root.join("cert");
    std::fs::write(&copy, format!("{text}\n")).unwrap();
    let blob = repo.git_in(&repo.remote, &["hash-object", "-w", copy.to_str().unwrap()]);
    assert_eq!(blob, mirrored[0]);
    let vars = claimed_by_ada(&repo, ada, &blob);
    let run = push_in(
        &repo,
        &repo.work,
        &[
            "--no-verify",
            "origin",
            &format!("{tip}:refs/heads/production"),
        ],
        &as_env(&vars),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the certificate's nonce was not issued by this server"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);

    // A real signed push by Pat still names Pat, whose own approval does not count; Ada's
    // real signed push of the same update is allowed by Pat's approval.
    let own = repo.push(&["--signed", "origin", "HEAD:refs/heads/production"]);
    assert_eq!(own.code, 1, "{}", own.stderr);
    assert!(
        own.stderr
            .contains("signed by your own key (pat@example.com)"),
        "{}",
        own.stderr
    );
    push_in(
        &repo,
        &ada_clone,
        &["--signed", "origin", "HEAD:refs/heads/production"],
        &[],
    )
    .expect_code(0);
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

/// The server asks who was consulted for production.
const SERVER_CONFIRM: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = true\nchecks = [\"no-delete\"]\n";

/// The client hook gates production too.
const CLIENT_CONFIRM: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = true\nchecks = [\"no-delete\"]\n";

const CONSULTED: [(&str, &str); 1] = [("PUSHGUARD_CONSULTED", "Ada Lead")];

#[test]
fn regression_issue_23_a_client_record_made_for_another_remote_is_not_the_attestation() {
    let probe = TestRepo::new();
    let k = keys(&probe, &["ada"]);
    let ada_key = &k[0];
    let repo = server(
        &format!("{SERVER_CONFIRM}\n[trust]\nrequire_signatures = true\n"),
        &[("ada@example.com", ada_key)],
    );
    repo.push_unguarded("HEAD:refs/heads/feature");
    let tip = repo.head();
    // Ada gates a push of this very update to a mirror, with her hook and her key: her
    // signed record goes to the mirror's notes.
    let mirror = repo.root.join("mirror.git");
    repo.git_in(&repo.root, &["init", "-q", "--bare", "mirror.git"]);
    let ada = repo.clone_as("ada", "Ada Lead", "ada@example.com");
    sign_with(&repo, &ada, ada_key);
    repo.git_in(&ada, &["checkout", "-q", &tip]);
    repo.pushguard_in(&ada, &["install"]).expect_code(0);
    std::fs::write(ada.join(".pushguard.toml"), CLIENT_CONFIRM).unwrap();
    repo.git_in(&ada, &["remote", "add", "mirror", mirror.to_str().unwrap()]);
    push_in(
        &repo,
        &ada,
        &["mirror", "HEAD:refs/heads/production"],
        &CONSULTED,
    )
    .expect_code(0);
    // Pat carries the mirror's notes to origin, then pushes the same update there unsigned,
    // without his hook.
    repo.git(&[
        "fetch",
        "-q",
        mirror.to_str().unwrap(),
        "+refs/notes/pushguard-audit.d/*:refs/notes/pushguard-audit.d/*",
    ]);
    repo.git(&[
        "push",
        "-q",
        "--no-verify",
        "origin",
        "refs/notes/pushguard-audit.d/*:refs/notes/pushguard-audit.d/*",
    ]);
    let run = repo.push(&["--no-verify", "origin", "HEAD:refs/heads/production"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("was made for a push to ")
            && run.stderr.contains("mirror.git, not to this server")
            && run.stderr.contains("set `[server] urls`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("production needs confirmation"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);

    // Ada's own gated push to origin is attested by her record of it.
    push_in(
        &repo,
        &ada,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    )
    .expect_code(0);
    assert_eq!(repo.remote_branch("production"), Some(tip));
}

#[test]
fn regression_issue_22_an_unsigned_client_record_is_the_attestation_where_signatures_are_not_required(
) {
    // No keys anywhere: the person answers on the client, the server takes that answer.
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIRM).unwrap();
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.git_in(
        &repo.remote,
        &["config", "receive.advertisePushOptions", "true"],
    );
    repo.install();
    repo.config(CLIENT_CONFIRM);
    let run = push_in(
        &repo,
        &repo.work,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "remote:   consulted Ada Lead (the client hook's unsigned record: self-asserted, like a push option)"
        ),
        "{}",
        run.stderr
    );
    let record = last_record(&repo);
    assert_eq!(record["decision"], "allowed");
    assert_eq!(record["consulted"], "Ada Lead");
    let from = record["attestation"].as_str().unwrap();
    assert!(
        from.starts_with("the client's unsigned record ")
            && from.ends_with(" (self-asserted, like a push option)"),
        "{from}"
    );
    // A push option is recorded as what it is too.
    repo.commit("second");
    let run = repo.push(&[
        "--no-verify",
        "-o",
        "consulted=Ada Lead",
        "origin",
        "HEAD:refs/heads/production",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_record(&repo)["attestation"],
        "push options (self-asserted)"
    );

    // Where signatures are required, only a verified signed record counts.
    let config = format!("{SERVER_CONFIRM}\n[trust]\nrequire_signatures = true\n");
    std::fs::write(repo.remote.join("pushguard.toml"), config).unwrap();
    repo.commit("third");
    let run = push_in(
        &repo,
        &repo.work,
        &["origin", "HEAD:refs/heads/production"],
        &CONSULTED,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "not accepted as the attestation: the client's record of this push cannot be checked"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("production needs confirmation"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_23_a_server_knows_the_addresses_it_answers_to_from_server_urls() {
    let repo = TestRepo::new();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIRM).unwrap();
    repo.pushguard_in(&repo.remote, &["install"]).expect_code(0);
    repo.install();
    repo.config(CLIENT_CONFIRM);
    let served = daemon(&repo);
    let url = served.url.clone();
    repo.git(&["remote", "set-url", "origin", &url]);
    let push = || {
        bounded(
            repo.command("git")
                .args(["push", "origin", "HEAD:refs/heads/production"])
                .envs(CONSULTED),
        )
    };
    // The server knows only its own path: a record made for its git:// address is refused,
    // with the way to tell it.
    let run = push();
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, served.log());
    assert!(
        run.stderr
            .contains(&format!("was made for a push to {url}, not to this server"))
            && run.stderr.contains("set `[server] urls`"),
        "{}",
        run.stderr
    );
    let status = repo.pushguard_in(&repo.remote, &["status"]);
    assert!(
        status.stdout.contains(
            "client records: only of pushes over this repository's path (set `[server] urls`"
        ),
        "{}",
        status.stdout
    );
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        format!("{SERVER_CONFIRM}\n[server]\nurls = [\"{url}\"]\n"),
    )
    .unwrap();
    let status = repo.pushguard_in(&repo.remote, &["status"]);
    assert!(
        status.stdout.contains(&format!(
            "client records: of pushes to this repository's path or {url}"
        )),
        "{}",
        status.stdout
    );
    let run = push();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, served.log());
    assert!(
        run.stderr
            .contains("consulted Ada Lead (the client hook's unsigned record"),
        "{}",
        run.stderr
    );
}

/// Server users alice and bob, each mapped to their principal; production needs a signed push.
const USERS: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = false\nchecks = [\"no-delete\", \"authorized\"]\nauthorized = [\"alice\", \"bob\"]\n\n[server]\nrequire_signed_push = true\nusers = { alice = [\"alice@example.com\"], bob = [\"bob@example.com\"] }\n";

#[test]
fn regression_issue_24_bobs_account_pushing_with_alices_certificate_is_refused() {
    let probe = TestRepo::new();
    let k = keys(&probe, &["alice", "bob"]);
    let (alice, bob) = (&k[0], &k[1]);
    let config = USERS.replace("authorized = [\"alice\", \"bob\"]", "authorized = []");
    let repo = server(
        &config,
        &[("alice@example.com", alice), ("bob@example.com", bob)],
    );
    // Bob's account, Alice's key.
    sign_with(&repo, &repo.work, alice);
    let run = push_in(
        &repo,
        &repo.work,
        &["--signed", "origin", "HEAD:refs/heads/production"],
        &[("REMOTE_USER", "bob")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "refused: the server's user bob (from REMOTE_USER) pushed with a certificate signed by alice@example.com, who is not them"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(last_record(&repo)["decision"], "blocked");

    // Alice's account, Alice's key: one person.
    let run = push_in(
        &repo,
        &repo.work,
        &["--signed", "origin", "HEAD:refs/heads/production"],
        &[("REMOTE_USER", "alice")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let record = last_record(&repo);
    assert_eq!(record["user"]["email"], "alice@example.com");
    assert!(
        record["user"]["name"]
            .as_str()
            .unwrap()
            .ends_with("; server user alice from REMOTE_USER)"),
        "{record}"
    );

    // An unsigned push by a mapped user (where no signed push is required) is recorded with
    // the address the mapping gives.
    std::fs::write(
        repo.remote.join("pushguard.toml"),
        config.replace("require_signed_push = true", "require_signed_push = false"),
    )
    .unwrap();
    repo.commit("second");
    let run = push_in(
        &repo,
        &repo.work,
        &["origin", "HEAD:refs/heads/production"],
        &[("REMOTE_USER", "bob")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let record = last_record(&repo);
    assert_eq!(record["user"]["name"], "bob (pusher, from REMOTE_USER)");
    assert_eq!(record["user"]["email"], "bob@example.com");
}

#[test]
fn regression_issue_24_authorized_server_user_names_keep_matching_a_signed_push() {
    let probe = TestRepo::new();
    let k = keys(&probe, &["alice", "bob"]);
    let (alice, bob) = (&k[0], &k[1]);
    let repo = server(
        USERS,
        &[("alice@example.com", alice), ("bob@example.com", bob)],
    );
    repo.git_in(&repo.remote, &["config", "http.receivepack", "true"]);
    repo.git_in(&repo.remote, &["config", "receive.certNonceSlop", "60"]);
    sign_with(&repo, &repo.work, alice);
    // The web server authenticates alice and names her in REMOTE_USER.
    let served = http_backend(&repo, "alice", "0");
    let run = bounded(repo.command("git").args([
        "push",
        "--signed",
        &served.url,
        "HEAD:refs/heads/production",
    ]));
    assert_eq!(run.code, 0, "{}\n--- server\n{}", run.stderr, served.log());
    assert!(
        run.stderr
            .contains("authorized  alice is authorized (alice)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
}
