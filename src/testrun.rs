//! Running the project's tests on a commit's tree: which command (configured or detected),
//! where (in place, or in one reusable worktree under the state directory), the cache of
//! passes by tree id and command, the progress shown while they run, and stopping them on a
//! timeout or Ctrl-C (the command runs in its own process group, which is killed whole).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Tree};

use crate::git::{git_command, scrub_env, GitDir, Repo};

/// Detects the test command from the files at the root of a tree (libgit2).
pub fn detect(repo: &Repo, tree: &Tree) -> Option<String> {
    let text = |name: &str| -> Option<String> {
        let entry = tree.get_name(name)?;
        let blob = entry.to_object(repo.git2()).ok()?.peel_to_blob().ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    };
    detect_with(|name| tree.get_name(name).is_some(), text)
}

/// Detects the test command from the files at the root of `tree` (an object name),
/// through git (a SHA-256 repository).
pub fn detect_in(git: &GitDir, tree: &str) -> Result<Option<String>> {
    let names = git.root_names(tree)?;
    let text = |name: &str| -> Option<String> {
        names.iter().any(|n| n == name).then_some(())?;
        let blob = git.root_file(tree, name)?;
        Some(String::from_utf8_lossy(&blob).into_owned())
    };
    Ok(detect_with(|name| names.iter().any(|n| n == name), text))
}

/// Detects the test command from which root files there are (`has`) and what some hold.
fn detect_with(
    has: impl Fn(&str) -> bool,
    text: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if has("Cargo.toml") {
        return Some("cargo test".into());
    }
    if let Some(json) = text("package.json") {
        let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        if value
            .pointer("/scripts/test")
            .is_some_and(|t| t.is_string())
        {
            return Some("npm test".into());
        }
    }
    if has("go.mod") {
        return Some("go test ./...".into());
    }
    for makefile in ["GNUmakefile", "makefile", "Makefile"] {
        if text(makefile).is_some_and(|t| has_test_target(&t)) {
            return Some("make test".into());
        }
    }
    if has("pyproject.toml") || has("pytest.ini") {
        return Some("pytest".into());
    }
    None
}

/// Tells whether a Makefile defines a `test` target.
pub fn has_test_target(makefile: &str) -> bool {
    makefile.lines().any(|l| {
        l.strip_prefix("test").is_some_and(|rest| {
            rest.trim_start().starts_with(':') && !rest.trim_start().starts_with(":=")
        })
    })
}

/// The commands to run on `tree`: the configured ones, else the detected one.
pub fn commands(repo: &Repo, configured: &[String], tree: &Tree) -> Vec<String> {
    if configured.is_empty() {
        detect(repo, tree).into_iter().collect()
    } else {
        configured.to_vec()
    }
}

/// The cache of passes, one file per (tree id, command) under `<state dir>/tests-passed/`.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache of the clone whose state directory is `state_dir`.
    pub fn new(state_dir: &Path) -> Cache {
        Cache {
            dir: state_dir.join("tests-passed"),
        }
    }

    fn path(&self, tree: &str, command: &str) -> PathBuf {
        // Keyed by the tree's raw bytes (as libgit2 gave them when the cache was made).
        let raw: Vec<u8> = (0..tree.len() / 2)
            .filter_map(|i| u8::from_str_radix(tree.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        let key = [&raw[..], b"\0", command.as_bytes()].concat();
        self.dir.join(crate::audit::sha256_hex(&key))
    }

    /// Tells whether `command` passed on `tree` (an object name) before.
    pub fn passed(&self, tree: &str, command: &str) -> bool {
        self.path(tree, command).is_file()
    }

    /// Records that `command` passed on `tree`.
    pub fn record(&self, tree: &str, command: &str) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("failed to create `{}`", self.dir.display()))?;
        let path = self.path(tree, command);
        fs::write(&path, format!("{tree} {command}\n"))
            .with_context(|| format!("failed to write `{}`", path.display()))
    }
}

/// Where the tests run: the work tree itself, or the reusable worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    InPlace(PathBuf),
    Worktree(PathBuf),
}

impl Place {
    pub fn dir(&self) -> &Path {
        match self {
            Place::InPlace(d) | Place::Worktree(d) => d,
        }
    }
}

/// Takes the lock that serialises test runs in one clone (the reusable worktree is shared by
/// `pushguard check` and the hook, and by pushes from linked worktrees); held until dropped.
///
/// The wait is bounded by `limit` (the tests' own timeout: the other run ends by then) and
/// ends early on Ctrl-C.
pub fn lock_tests(state: &Path, limit: Duration, interrupted: &AtomicBool) -> Result<fs::File> {
    fs::create_dir_all(state).with_context(|| format!("failed to create `{}`", state.display()))?;
    let path = state.join("tests.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!(
                "pushguard: tests: waiting for another pushguard's tests in this clone to finish"
            );
            let start = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(50));
                match file.try_lock() {
                    Ok(()) => break,
                    Err(fs::TryLockError::WouldBlock) => {}
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(e)
                            .with_context(|| format!("failed to lock `{}`", path.display()))
                    }
                }
                if interrupted.load(Ordering::SeqCst) {
                    anyhow::bail!("interrupted (Ctrl-C) while waiting for another pushguard's tests in this clone");
                }
                if start.elapsed() >= limit {
                    anyhow::bail!(
                        "another pushguard's tests in this clone held `{}` for more than {}",
                        path.display(),
                        humantime::format_duration(limit)
                    );
                }
            }
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock `{}`", path.display()))
        }
    }
    Ok(file)
}

/// Finds or prepares a checkout of `commit` (an object name): the work tree when it is at
/// that commit and clean (untracked files included), else `<state dir>/worktree` checked out
/// at it.
///
/// A re-run in the reusable worktree removes the untracked files the last run left with
/// `git clean -fd` (ignored build outputs stay, so caches stay warm). Listing them with
/// `git status` and git's untracked cache, or limiting the clean to the directories that
/// changed, was measured no cheaper at 200,000 files (git reads every directory and the whole
/// index either way; `docs/benchmarks.md`, issue 21).
pub fn checkout(git: &GitDir, commit: &str) -> Result<Place> {
    if let Some(dir) = git.work_tree() {
        if git.head().as_deref() == Some(commit) && git.is_clean() == Some(true) {
            return Ok(Place::InPlace(dir.to_path_buf()));
        }
    }
    let wt = git.state_dir().join("worktree");
    if wt.join(".git").exists() {
        let ok = git_command(&wt)
            .args(["checkout", "--quiet", "--force", "--detach", commit])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
            && git_command(&wt)
                .args(["clean", "-fdq"])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(Place::Worktree(wt));
        }
        // A worktree that git no longer knows: start it again.
        let _ = fs::remove_dir_all(&wt);
    }
    let base = git.work_tree().unwrap_or(git.common_dir());
    let _ = git_command(base).args(["worktree", "prune"]).output();
    fs::create_dir_all(git.state_dir())
        .with_context(|| format!("failed to create `{}`", git.state_dir().display()))?;
    let out = git_command(base)
        .args(["worktree", "add", "--quiet", "--force", "--detach"])
        .arg(&wt)
        .arg(commit)
        .stdin(Stdio::null())
        .output()
        .context("failed to run `git worktree add`")?;
    anyhow::ensure!(
        out.status.success(),
        "failed to create the test worktree `{}`: {}",
        wt.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(Place::Worktree(wt))
}

/// How one test command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Passed(Duration),
    Failed {
        code: Option<i32>,
        elapsed: Duration,
    },
    TimedOut(Duration),
    Interrupted,
}

/// How often the progress is drawn and the interrupt flag looked at while tests run.
const TICK: Duration = Duration::from_millis(50);

/// Runs `command` with `sh -c` in `dir`, its output (stdout and stderr) going to `log`.
///
/// `interrupted` is the run's interrupt flag ([`crate::terminal::Interaction`]): Ctrl-C
/// kills the command's whole process group.
pub fn run(
    command: &str,
    dir: &Path,
    timeout: Duration,
    log: &Path,
    interrupted: &AtomicBool,
) -> Result<Ended> {
    let flag = interrupted;
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create `{}`", parent.display()))?;
    }
    let out = File::create(log).with_context(|| format!("failed to write `{}`", log.display()))?;
    let err = out.try_clone().context("failed to share the log file")?;
    let mut cmd = Command::new("sh");
    scrub_env(&mut cmd);
    cmd.args(["-c", command])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to run `sh -c {command}`"))?;
    let pgid = child.id() as libc::pid_t;
    // A thread waits on the child, so its end is seen at once (a 50 ms polling floor cost
    // every cached-miss test run that much, issue 14); the loop wakes on that, or to draw
    // the progress and look at the interrupt flag and the timeout.
    let (done_tx, done) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let mut progress = Progress::new(command, dir);
    let start = Instant::now();
    let stopped = |why: Ended| {
        kill_group(pgid);
        let _ = done.recv();
        why
    };
    let ended = loop {
        let left = timeout.saturating_sub(start.elapsed());
        match done.recv_timeout(TICK.min(left)) {
            Ok(status) => {
                let status = status.context("failed to wait for the tests")?;
                let elapsed = start.elapsed();
                // Children the command left behind go with it.
                kill_group(pgid);
                break if status.success() {
                    Ended::Passed(elapsed)
                } else {
                    Ended::Failed {
                        code: status.code(),
                        elapsed,
                    }
                };
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("failed to wait for the tests: the waiting thread ended")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if flag.load(Ordering::SeqCst) {
            break stopped(Ended::Interrupted);
        }
        if start.elapsed() >= timeout {
            break stopped(Ended::TimedOut(start.elapsed()));
        }
        progress.tick(start.elapsed(), log);
    };
    let _ = waiter.join();
    progress.finish();
    Ok(ended)
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: killpg only sends a signal; a group that is gone yields ESRCH, ignored.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// The last `n` lines of a file (at most its last 64 KiB are read).
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// What the person sees while tests run: a spinner on the terminal, else plain lines.
enum Progress {
    Tty {
        tty: File,
        command: String,
        frame: usize,
        last: Instant,
    },
    Plain {
        command: String,
        next: Duration,
    },
}

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const PLAIN_EVERY: Duration = Duration::from_secs(15);

impl Progress {
    fn new(command: &str, dir: &Path) -> Progress {
        let command = crate::text::escape(command, 60);
        let tty = std::env::var_os("PUSHGUARD_NONINTERACTIVE")
            .is_none()
            .then(|| fs::OpenOptions::new().write(true).open("/dev/tty").ok())
            .flatten();
        match tty {
            Some(tty) => Progress::Tty {
                tty,
                command,
                frame: 0,
                last: Instant::now() - Duration::from_secs(1),
            },
            None => {
                eprintln!("pushguard: tests: running `{command}` in {}", dir.display());
                Progress::Plain {
                    command,
                    next: PLAIN_EVERY,
                }
            }
        }
    }

    fn tick(&mut self, elapsed: Duration, log: &Path) {
        match self {
            Progress::Tty {
                tty,
                command,
                frame,
                last,
            } => {
                if last.elapsed() < Duration::from_millis(100) {
                    return;
                }
                *last = Instant::now();
                *frame = (*frame + 1) % FRAMES.len();
                let line = tail(log, 1).pop().unwrap_or_default();
                // The last output line first: when the row is cut, the command goes first.
                let text = format!(
                    "{} tests {}s: {}  ({command})",
                    FRAMES[*frame],
                    elapsed.as_secs(),
                    crate::text::escape(&line, 200)
                );
                // One terminal row: a wrapped line would not be cleared by the next frame.
                let width = rustix::termios::tcgetwinsize(&*tty)
                    .ok()
                    .map(|w| usize::from(w.ws_col))
                    .filter(|&cols| cols > 0)
                    .unwrap_or(80)
                    .max(20);
                let text: String = text.chars().take(width - 1).collect();
                let _ = write!(tty, "\r\x1b[2K{text}");
                let _ = tty.flush();
            }
            Progress::Plain { command, next } => {
                if elapsed >= *next {
                    *next += PLAIN_EVERY;
                    let line = tail(log, 1).pop().unwrap_or_default();
                    eprintln!(
                        "pushguard: tests: `{command}` still running ({}s): {}",
                        elapsed.as_secs(),
                        crate::text::escape(&line, 80)
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Progress::Tty { tty, .. } = self {
            let _ = write!(tty, "\r\x1b[2K");
            let _ = tty.flush();
        }
    }
}

/// The tree of a commit (libgit2).
pub fn tree_of(repo: &Repo, commit: Oid) -> Result<Tree<'_>> {
    repo.git2()
        .find_object(commit, Some(ObjectType::Commit))
        .and_then(|o| o.peel_to_tree())
        .with_context(|| format!("failed to read the tree of {commit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makefile_test_target() {
        assert!(has_test_target("all:\n\ttrue\ntest: all\n\tcheck\n"));
        assert!(has_test_target("test:\n"));
        assert!(!has_test_target("tests:\n"));
        assert!(!has_test_target("test := 1\n"));
        assert!(!has_test_target("\ttest: x\n"));
    }
}
