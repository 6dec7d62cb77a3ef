//! Signed pushes over the network transports (issue 11): the server-side checks of
//! `tests/signed_push.rs` (local transport) again through `git daemon --enable=receive-pack`
//! and through `git http-backend` behind a small CGI web server (`tests/http_cgi.py`, Python's
//! `http.server`) that asks for Basic authentication and names the pusher in `REMOTE_USER`.
//!
//! Servers listen on 127.0.0.1 only, on a port the kernel picked, stop by themselves after
//! [`SERVER_LIFETIME`], and are killed with their whole process group when the test ends,
//! passing or failing (a `Drop` guard). Every git command is bounded by [`COMMAND_TIMEOUT`].

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::signed_push::{keygen, public, sign_with};
use crate::support::{run_bounded, Run, TestRepo};

/// How long a server may live if nothing kills it (the test process died, say).
const SERVER_LIFETIME: Duration = Duration::from_secs(60);
/// How long one git command may take before the test kills it and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The password the web server accepts (any user name).
const PASSWORD: &str = "s3cret";

/// Production needs a signed push by an authorized signer, and who was consulted (a push
/// option: the transport must carry it too).
const SERVER_CONFIG: &str = "[environments.production]\nbranches = [\"production\"]\nconfirm = true\nchecks = [\"no-delete\", \"authorized\"]\nauthorized = [\"pat@example.com\"]\n\n[server]\nrequire_signed_push = true\n";

/// A server process group (the server and everything it started), killed when dropped.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
    log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        // The group: `timeout`, the server under it, and the git processes it forked.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// What the server logged so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `cmd` (the server) under `timeout`, in a process group of its own, stderr to `log`.
fn spawn_server(repo: &TestRepo, cmd: &[&str], env: &[(&str, &str)], log: &Path) -> Child {
    repo.command("timeout")
        .current_dir(&repo.root)
        .arg(format!("{}s", SERVER_LIFETIME.as_secs()))
        .args(cmd)
        .envs(env.iter().copied())
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("server log"))
        .spawn()
        .expect("start the server")
}

/// Waits until `git ls-remote <url>` answers (the server is up), at most 10 s.
fn wait_for(repo: &TestRepo, served: &Served) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if bounded(repo.command("git").args(["ls-remote", &served.url])).code == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the server at {} did not answer\n{}",
        served.url,
        served.log()
    );
}

/// `git daemon` serving the test's root with pushes enabled, on a free port of 127.0.0.1.
pub(crate) fn daemon(repo: &TestRepo) -> Served {
    for attempt in 0..5 {
        // The port is free when asked; another process may take it before the daemon binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = repo.root.join(format!("daemon-{attempt}.log"));
        let root = repo.root.display().to_string();
        let child = spawn_server(
            repo,
            &[
                "git",
                "daemon",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
                "--verbose",
                &format!("--base-path={root}"),
                &root,
            ],
            &[],
            &log,
        );
        let served = Served {
            child,
            url: format!("git://127.0.0.1:{port}/remote.git"),
            log,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if bounded(repo.command("git").args(["ls-remote", &served.url])).code == 0 {
                return served;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("git daemon did not start on 127.0.0.1");
}

/// The interpreter behind `python3` on the caller's `PATH` (a version manager's shim may need
/// the caller's `HOME`, which the hermetic environment replaces), if there is one.
/// python3 with `http.server`; a test that needs it fails without it (issue 22, item 10: it
/// is a test dependency like git, which `.ci/run` installs).
fn python() -> PathBuf {
    let path = Command::new("python3")
        .args(["-c", "import http.server, sys; print(sys.executable)"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    PathBuf::from(path.expect(
        "the HTTP transport tests need python3 with http.server (`.ci/run` installs it): install it, then run the tests again",
    ))
}

/// `git http-backend` behind `tests/http_cgi.py` on 127.0.0.1, serving the test's root; the
/// clone's credentials are `user` and [`PASSWORD`].
pub(crate) fn http_backend(repo: &TestRepo, user: &str, push_delay: &str) -> Served {
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http_cgi.py");
    let log = repo.root.join("http.log");
    let root = repo.root.display().to_string();
    let mut child = spawn_server(
        repo,
        &[
            python.to_str().expect("utf-8 path"),
            script,
            &SERVER_LIFETIME.as_secs().to_string(),
        ],
        &[
            ("GIT_PROJECT_ROOT", &root),
            ("GIT_HTTP_EXPORT_ALL", "1"),
            ("PG_HTTP_PASSWORD", PASSWORD),
            ("PG_HTTP_PUSH_DELAY", push_delay),
        ],
        &log,
    );
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    let mut served = Served {
        child,
        url: String::new(),
        log,
    };
    let port = receive
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let port: u16 = port
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the web server gave no port\n{}", served.log()));
    served.url = format!("http://{user}:{PASSWORD}@127.0.0.1:{port}/remote.git");
    wait_for(repo, &served);
    served
}

/// Runs `cmd`, killed (and the test failed) after [`COMMAND_TIMEOUT`].
pub(crate) fn bounded(cmd: &mut Command) -> Run {
    run_bounded(cmd, COMMAND_TIMEOUT)
}

/// `git push <args>` in the work clone, bounded.
fn push(repo: &TestRepo, args: &[&str]) -> Run {
    bounded(repo.command("git").arg("push").args(args))
}

/// A clone (Pat, signing with his key) whose `origin` is still the bare remote's path, and
/// the bare remote with pushguard's server hooks, `SERVER_CONFIG`, and signed pushes set up
/// (`receive.certNonceSeed`, `gpg.ssh.allowedSignersFile` trusting Pat).
fn setup() -> TestRepo {
    let repo = TestRepo::new();
    let pat = keygen(&repo, "pat");
    let allowed = repo.root.join("allowed_signers");
    std::fs::write(&allowed, format!("pat@example.com {}\n", public(&pat))).unwrap();
    std::fs::write(repo.remote.join("pushguard.toml"), SERVER_CONFIG).unwrap();
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
    repo
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

/// The unsigned push is refused (and recorded as blocked, naming `unsigned_pusher`), the
/// signed one with `-o consulted=…` is accepted and its record names the signer.
fn unsigned_refused_signed_accepted(repo: &TestRepo, served: &Served, unsigned_pusher: &str) {
    let url = served.url.as_str();
    let refspec = "HEAD:refs/heads/production";
    let run = push(repo, &["-o", "consulted=Ada Lead", url, refspec]);
    assert_eq!(run.code, 1, "{}\n--- server\n{}", run.stderr, served.log());
    assert!(
        run.stderr
            .contains("✗ production requires a signed push: the push is not signed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("git push --signed"), "{}", run.stderr);
    assert_eq!(repo.remote_branch("production"), None);
    let record = last_record(repo);
    assert_eq!(record["decision"], "blocked");
    assert_eq!(record["user"]["name"], unsigned_pusher);

    let run = push(
        repo,
        &["--signed", "-o", "consulted=Ada Lead", url, refspec],
    );
    assert_eq!(run.code, 0, "{}\n--- server\n{}", run.stderr, served.log());
    assert!(
        run.stderr
            .contains("authorized  pat@example.com is authorized (pat@example.com)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let record = last_record(repo);
    assert_eq!(record["decision"], "allowed");
    assert_eq!(record["consulted"], "Ada Lead");
    let user = record["user"]["name"].as_str().unwrap();
    assert!(
        user.starts_with("pat@example.com (pusher, from a signed push, key SHA256:"),
        "{user}"
    );
    assert_eq!(record["user"]["email"], "pat@example.com");
}

#[test]
fn regression_issue_11_signed_pushes_over_git_daemon() {
    let repo = setup();
    let served = daemon(&repo);
    // git daemon authenticates nobody: an unsigned push has no pusher at all.
    unsigned_refused_signed_accepted(
        &repo,
        &served,
        "(unknown: the server did not name the pusher)",
    );
    assert!(
        served.log().contains("Request receive-pack"),
        "{}",
        served.log()
    );
}

#[test]
fn regression_issue_11_signed_pushes_over_http_backend() {
    let repo = setup();
    repo.git_in(&repo.remote, &["config", "http.receivepack", "true"]);
    // Each HTTP request runs its own receive-pack: without this, a push whose advertisement
    // was in an earlier second is SLOP (see the next test), and this test would be flaky.
    repo.git_in(&repo.remote, &["config", "receive.certNonceSlop", "60"]);
    let served = http_backend(&repo, "pat", "0");
    // The web server authenticated `pat`: the unsigned push's record names him from REMOTE_USER.
    unsigned_refused_signed_accepted(&repo, &served, "pat (pusher, from REMOTE_USER)");
    assert!(
        served.log().contains("POST /remote.git/git-receive-pack"),
        "{}",
        served.log()
    );
}

#[test]
fn regression_issue_11_over_http_a_late_signed_push_needs_cert_nonce_slop() {
    let repo = setup();
    repo.git_in(&repo.remote, &["config", "http.receivepack", "true"]);
    // The web server waits 1.2 s before the push request: its receive-pack runs in a later
    // second than the one that issued the nonce, as on any slow link.
    let served = http_backend(&repo, "pat", "1.2");
    let status = repo.pushguard_in(&repo.remote, &["status"]);
    assert!(
        status
            .stdout
            .contains("served over smart HTTP (git http-backend)? then also run here: git config receive.certNonceSlop 60"),
        "{}",
        status.stdout
    );
    let args = [
        "--signed",
        "-o",
        "consulted=Ada Lead",
        served.url.as_str(),
        "HEAD:refs/heads/production",
    ];
    let run = push(&repo, &args);
    assert_eq!(run.code, 1, "{}\n--- server\n{}", run.stderr, served.log());
    assert!(
        run.stderr.contains("GIT_PUSH_CERT_NONCE_STATUS=SLOP"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("git config receive.certNonceSlop 60"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("production"), None);
    assert_eq!(last_record(&repo)["decision"], "blocked");

    // With the slop git's own setting allows, git reports the nonce as OK: accepted.
    repo.git_in(&repo.remote, &["config", "receive.certNonceSlop", "60"]);
    let run = push(&repo, &args);
    assert_eq!(run.code, 0, "{}\n--- server\n{}", run.stderr, served.log());
    assert_eq!(repo.remote_branch("production"), Some(repo.head()));
    let status = repo.pushguard_in(&repo.remote, &["status"]);
    assert!(
        !status.stdout.contains("certNonceSlop"),
        "{}",
        status.stdout
    );
}
