//! Test support: a temp clone with a `git init --bare` remote, a hermetic environment, and
//! helpers to run git and the pushguard binary and to redact their transcripts.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read as _, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The pushguard binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pushguard"))
}

/// The binary under test where another account (Apache's CGI user, `nobody`) can run it:
/// the build's own path when every directory above it lets others through, else a copy in
/// `dir` (a test's temp root, which the test opens to that account). A clone under a private
/// directory (`mktemp -d` makes it 0700) would otherwise leave the hooks unrunnable.
pub fn bin_for_any_user(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let built = bin();
    let open_to_others = built
        .ancestors()
        .skip(1)
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if open_to_others {
        return built;
    }
    let copy = dir.join("pushguard-under-test");
    if !copy.exists() {
        std::fs::copy(&built, &copy).expect("copy the binary under test");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
            .expect("make the copy runnable by all");
    }
    copy
}

/// `PATH` without directories that hold an installed `pushguard`, so that only the binary
/// under test runs (the hook shim falls back to `PATH`).
pub fn hermetic_path() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).filter(|d| !d.join("pushguard").exists());
    std::env::join_paths(dirs).expect("PATH entries stay joinable")
}

/// A finished process: exit code and its output.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the transcript unless the process exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A work clone (`work/`) of a bare remote (`remote.git/`), with `HOME` in the temp dir.
pub struct TestRepo {
    _tmp: TempDir,
    /// The temp dir (canonical path).
    pub root: PathBuf,
    /// The work clone's root.
    pub work: PathBuf,
    /// The bare remote.
    pub remote: PathBuf,
    /// `HOME` for every process.
    pub home: PathBuf,
}

impl TestRepo {
    /// A clone of an empty bare remote, with one commit on `main` (not pushed).
    pub fn new() -> TestRepo {
        Self::with_init_args(&[])
    }

    /// Like [`TestRepo::new`], passing extra arguments to both `git init`s
    /// (e.g. `--object-format=sha256`).
    pub fn with_init_args(args: &[&str]) -> TestRepo {
        let tmp = tempfile::Builder::new()
            .prefix("pg-test-")
            .tempdir()
            .expect("create temp dir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".config")).expect("create home");
        std::fs::write(
            home.join(".gitconfig"),
            "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n\tpushUpdateRejected = false\n[protocol \"file\"]\n\tallow = always\n[core]\n\tautocrlf = false\n",
        )
        .expect("write gitconfig");
        let repo = TestRepo {
            work: root.join("work"),
            remote: root.join("remote.git"),
            home,
            root,
            _tmp: tmp,
        };
        let mut init = vec!["init", "-q", "--bare"];
        init.extend_from_slice(args);
        init.push("remote.git");
        repo.git_in(&repo.root, &init);
        let mut init = vec!["init", "-q"];
        init.extend_from_slice(args);
        init.push("work");
        repo.git_in(&repo.root, &init);
        repo.git(&[
            "remote",
            "add",
            "origin",
            repo.remote.to_str().expect("utf-8 path"),
        ]);
        repo.git(&["config", "user.name", "Pat Pusher"]);
        repo.git(&["config", "user.email", "pat@example.com"]);
        repo.commit_file("README", "hello\n", "initial commit");
        repo
    }

    /// A clone with the hook installed and `config` as its `.pushguard.toml` (uncommitted).
    pub fn guarded(config: &str) -> TestRepo {
        let repo = TestRepo::new();
        repo.install();
        repo.config(config);
        repo
    }

    /// A command with the hermetic environment, run in the work clone.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", hermetic_path())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("NO_COLOR", "1")
            .env("PUSHGUARD_NONINTERACTIVE", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs git in `dir`; panics if it fails. Returns stdout, trimmed.
    #[track_caller]
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let run = Run::from_output(
            self.command("git")
                .current_dir(dir)
                .args(args)
                .output()
                .expect("run git"),
        );
        assert_eq!(
            run.code, 0,
            "git {args:?} failed\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout.trim_end().to_owned()
    }

    /// Runs git in the work clone; panics if it fails. Returns stdout, trimmed.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.work, args)
    }

    /// Runs git in the work clone and returns how it ended (it may fail).
    pub fn try_git(&self, args: &[&str]) -> Run {
        Run::from_output(self.command("git").args(args).output().expect("run git"))
    }

    /// `git push` with the given arguments (it may fail).
    pub fn push(&self, args: &[&str]) -> Run {
        let mut all = vec!["push"];
        all.extend_from_slice(args);
        self.try_git(&all)
    }

    /// Runs the pushguard binary in the work clone.
    pub fn pushguard(&self, args: &[&str]) -> Run {
        self.pushguard_with(args, None, &[])
    }

    /// Runs the pushguard binary with stdin and extra environment variables.
    pub fn pushguard_with(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(bin());
        cmd.args(args).envs(env.iter().copied());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run pushguard");
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            let _ = pipe.write_all(data);
        }
        Run::from_output(child.wait_with_output().expect("wait for pushguard"))
    }

    /// `pushguard install` in the work clone; panics if it fails.
    #[track_caller]
    pub fn install(&self) {
        self.pushguard(&["install"]).expect_code(0);
    }

    /// Writes `path` (relative to the work tree) with `content`.
    pub fn write(&self, path: &str, content: &str) {
        let full = self.work.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(full, content).expect("write file");
    }

    /// Writes a file, commits it with `message`, returns the commit id.
    pub fn commit_file(&self, path: &str, content: &str, message: &str) -> String {
        self.write(path, content);
        self.git(&["add", path]);
        self.git(&["commit", "-q", "-m", message]);
        self.head()
    }

    /// An empty commit with `message`; returns its id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The id of `HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The remote's value of `refs/heads/<branch>`, if it exists.
    pub fn remote_branch(&self, branch: &str) -> Option<String> {
        let run = Run::from_output(
            self.command("git")
                .current_dir(&self.remote)
                .args([
                    "rev-parse",
                    "--verify",
                    "-q",
                    &format!("refs/heads/{branch}"),
                ])
                .output()
                .expect("run git"),
        );
        (run.code == 0).then(|| run.stdout.trim().to_owned())
    }

    /// Pushes without the hook (setting up remote state for a test).
    #[track_caller]
    pub fn push_unguarded(&self, refspec: &str) {
        let run = self.push(&["--no-verify", "-q", "origin", refspec]);
        run.expect_code(0);
    }

    /// Writes `.pushguard.toml` in the work tree (uncommitted).
    pub fn config(&self, toml: &str) {
        self.write(".pushguard.toml", toml);
    }

    /// Another clone of the remote, in `<root>/<dir>`, acting as another person.
    pub fn clone_as(&self, dir: &str, name: &str, email: &str) -> PathBuf {
        let remote = self.remote.to_str().expect("utf-8 path").to_owned();
        self.git_in(&self.root, &["clone", "-q", &remote, dir]);
        let path = self.root.join(dir);
        self.git_in(&path, &["config", "user.name", name]);
        self.git_in(&path, &["config", "user.email", email]);
        path
    }

    /// Runs the pushguard binary in `dir` (another clone).
    pub fn pushguard_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from_output(
            self.command(bin())
                .current_dir(dir)
                .args(args)
                .output()
                .expect("run pushguard"),
        )
    }

    /// The audit trail refs of the repository at `dir`: the single `refs/notes/pushguard-audit`
    /// of earlier versions and every writer's ref under `refs/notes/pushguard-audit.d/`.
    pub fn trail_refs(&self, dir: &Path) -> Vec<String> {
        self.git_in(
            dir,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/notes/pushguard-audit",
                "refs/notes/pushguard-audit.d/",
            ],
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// The audit notes attached to `commit` in the repository at `dir`, read with git across
    /// every trail ref ([`TestRepo::trail_refs`]) and concatenated; `None` when there is none.
    pub fn trail_note(&self, dir: &Path, commit: &str) -> Option<String> {
        let mut text = String::new();
        for r in self.trail_refs(dir) {
            let run = Run::from_output(
                self.command("git")
                    .current_dir(dir)
                    .args(["notes", "--ref", &r, "show", commit])
                    .output()
                    .expect("run git"),
            );
            if run.code == 0 {
                text.push_str(&run.stdout);
            }
        }
        (!text.is_empty()).then_some(text)
    }

    /// Hangs `text` on `commit` in the remote's single trail ref `refs/notes/pushguard-audit`
    /// from the work clone, as an older client (or someone by hand) would, skipping the hook;
    /// returns how the push of the notes ended.
    pub fn hang_note(&self, commit: &str, text: &str) -> Run {
        // The remote may not have the ref yet: then it is created.
        let _ = self.try_git(&[
            "fetch",
            "-q",
            "origin",
            "+refs/notes/pushguard-audit:refs/notes/pushguard-audit",
        ]);
        self.git(&[
            "notes",
            "--ref",
            "pushguard-audit",
            "add",
            "-f",
            "-m",
            text,
            commit,
        ]);
        self.push(&["-q", "--no-verify", "origin", "refs/notes/pushguard-audit"])
    }

    /// Replaces temp paths, the binary path and object ids with stable placeholders.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&bin().display().to_string(), "[PUSHGUARD]");
        out = out.replace(&self.root.display().to_string(), "[TMP]");
        let re = regex::Regex::new(r"\b[0-9a-f]{40}([0-9a-f]{24})?\b").expect("valid regex");
        out = re.replace_all(&out, "[OID]").into_owned();
        let re = regex::Regex::new(r"\b[0-9a-f]{7,12}\b").expect("valid regex");
        re.replace_all(&out, "[SHORT]").into_owned()
    }

    /// The redacted transcript of a run: exit code, stdout, stderr.
    pub fn transcript(&self, run: &Run) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            run.code,
            self.redact(&run.stdout),
            self.redact(&run.stderr)
        )
    }
}

/// Runs `cmd` with stdin closed, its output read as it comes; killed with every process it
/// started (its own process group: a `git push` and the hook under it), and the test failed,
/// after `timeout` (tests that serve git over the network must stop by themselves).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Run {
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped")));
    let err = read(Box::new(child.stderr.take().expect("piped")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("a command took longer than {timeout:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run::from_output(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// A child process a test started, killed and reaped when the guard is dropped, so that it is
/// stopped even when the test fails before waiting for it (issue 22, item 10). Started with
/// `process_group(0)` ([`Reaped::group`]), its whole process group is killed: a `git push`
/// and the hook it runs.
pub struct Reaped {
    child: Option<std::process::Child>,
    group: bool,
}

impl Reaped {
    /// Guards one process.
    pub fn new(child: std::process::Child) -> Reaped {
        Reaped {
            child: Some(child),
            group: false,
        }
    }

    /// Guards a process started as the leader of its own process group, and that group.
    pub fn group(child: std::process::Child) -> Reaped {
        Reaped {
            child: Some(child),
            group: true,
        }
    }

    /// The child, to read its pipes.
    pub fn child(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("the child is still guarded")
    }

    /// Waits for the child; the guard then has nothing left to stop.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child().wait().expect("wait for the child")
    }

    /// Waits for the child's end and output.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.child.take().expect("the child is still guarded");
        child.wait_with_output().expect("wait for the child")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// How long a `git daemon` may live if nothing stops it (the test process died, say).
const DAEMON_LIFETIME: Duration = Duration::from_secs(900);

/// `git daemon --enable=receive-pack` serving `base` on a free port of 127.0.0.1, in a process
/// group of its own under `timeout` (so it ends by itself), and killed with every process it
/// forked when dropped, whether the test passed or failed.
pub struct GitDaemon {
    child: Child,
    /// The daemon's log (`--verbose`: one line per request).
    pub log: PathBuf,
    /// `git://127.0.0.1:<port>/`, to which a repository's path under `base` is appended.
    pub base_url: String,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // The group: `timeout`, the daemon under it, and the git processes it forked.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitDaemon {
    /// Starts the daemon for `repo`'s environment, serving `base` (a few tries: the port is
    /// free when asked, another process may take it before the daemon binds it).
    pub fn start(repo: &TestRepo, base: &Path) -> GitDaemon {
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = repo.root.join(format!("daemon-{port}-{attempt}.log"));
            let base_path = base.display().to_string();
            let child = repo
                .command("timeout")
                .current_dir(&repo.root)
                .arg(format!("{}s", DAEMON_LIFETIME.as_secs()))
                .args([
                    "git",
                    "daemon",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    "--reuseaddr",
                    // The default 32 connections drop clients past it ("Could not read from
                    // remote repository"): a server's capacity, not pushguard's.
                    "--max-connections=0",
                    "--verbose",
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                    &format!("--base-path={base_path}"),
                    &base_path,
                ])
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("daemon log"))
                .spawn()
                .expect("run git daemon");
            let daemon = GitDaemon {
                child,
                log,
                base_url: format!("git://127.0.0.1:{port}/"),
            };
            let probe = format!("{}{}", daemon.base_url, "nothing-here.git");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                // Any answer from the daemon (even "not exported") means it listens.
                let run = run_bounded(
                    repo.command("git").args(["ls-remote", &probe]),
                    Duration::from_secs(10),
                );
                if run.code == 0 || run.stderr.contains("remote error") {
                    return daemon;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("git daemon did not start on 127.0.0.1");
    }

    /// The URL of the repository at `path` under the served base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// How many requests of `service` (`receive-pack`, `upload-pack`) the daemon has served.
    pub fn requests(&self, service: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("Request {service}")))
            .count()
    }
}
