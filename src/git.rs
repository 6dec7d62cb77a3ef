//! The few repository facts the gate needs, over libgit2, and the environment for child
//! processes.
//!
//! The repository is always opened with `Repository::open_from_env()`, before anything
//! changes directory: git sets `GIT_DIR` (sometimes relative) for hooks in linked worktrees,
//! submodules and `--git-dir` pushes, and `discover(".")` would find the wrong repository.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use git2::{ErrorCode, ObjectType, Oid, Repository};

mod added;
pub mod cli;
pub mod commit_graph;
mod messages;
pub mod ownership;
pub mod ref_files;
pub use added::AddedLine;
pub use cli::GitDir;
pub use messages::summary;

/// Git's repository-local environment variables (`git rev-parse --local-env-vars`).
///
/// A child process that inherits them writes into the repository that ran the hook, not the
/// one it was started in.
pub const LOCAL_ENV_VARS: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_INTERNAL_SUPER_PREFIX",
];

/// Removes git's repository-local variables from a child's environment.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for var in LOCAL_ENV_VARS {
        cmd.env_remove(var);
    }
    // GIT_CONFIG_COUNT goes with numbered key/value pairs.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("GIT_CONFIG_KEY_") || key.starts_with("GIT_CONFIG_VALUE_") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// A `git` command run in `dir` with a scrubbed environment.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    scrub_env(&mut cmd);
    cmd.current_dir(dir);
    cmd
}

/// Who is pushing, from git's `user.name` and `user.email`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// The error for a command run where there is no repository: one sentence and the way out
/// (issue 13, item 10), the same for every command.
pub fn not_in_a_clone() -> anyhow::Error {
    if let Some(dir) = std::env::var_os("GIT_DIR") {
        return crate::outcome::with_hint(
            anyhow::anyhow!(
                "GIT_DIR `{}` is not a git repository",
                Path::new(&dir).display()
            ),
            "unset GIT_DIR, or point it at the repository's .git directory",
        );
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".to_owned());
    crate::outcome::with_hint(
        anyhow::anyhow!("`{here}` is not inside a git clone"),
        "run pushguard inside the clone you push from (`cd` into it first), or get one with `git clone <url>`",
    )
}

/// Whether one commit is an ancestor of another, as far as the local objects can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    Ancestor,
    NotAncestor,
}

/// A remote's remote-tracking refs, `(name without the remote prefix, commit)`, sorted by name.
pub type TrackingRefs = Rc<Vec<(String, Oid)>>;

/// What a site reads the repository through: libgit2 (with git where git answers faster),
/// or git alone, in a SHA-256 repository that libgit2 cannot open (issue 21).
#[derive(Clone, Copy)]
pub enum Reader<'r> {
    Lib(&'r Repo),
    Git(&'r GitDir),
}

impl<'r> Reader<'r> {
    /// The repository through git processes.
    pub fn git(self) -> &'r GitDir {
        match self {
            Reader::Lib(repo) => repo.git(),
            Reader::Git(git) => git,
        }
    }

    /// pushguard's state directory, `<git common dir>/pushguard/`.
    pub fn state_dir(self) -> PathBuf {
        self.git().state_dir()
    }

    /// The pusher's identity from the git config.
    pub fn identity(self) -> Identity {
        match self {
            Reader::Lib(repo) => repo.identity(),
            Reader::Git(git) => git.identity(),
        }
    }

    /// Finds the remote that `git push` was given: its name, or the remote whose URL it is.
    pub fn remote_name(self, remote_arg: &str, url: &str) -> Option<String> {
        match self {
            Reader::Lib(repo) => repo.remote_name(remote_arg, url),
            Reader::Git(git) => git.remote_name(remote_arg, url),
        }
    }
}

/// An opened repository and the facts read from it.
pub struct Repo {
    inner: Repository,
    /// The same repository through `git` processes.
    cli: GitDir,
    /// The last remote's remote-tracking refs, listed once per process (a push of many gated
    /// lines, or a `promoted` and a range check on one line, reads them once); dropped by
    /// every fetch run through [`run_bounded`].
    tracking: RefCell<Option<(String, TrackingRefs)>>,
}

impl Repo {
    /// Opens the repository as git describes it to hooks (`GIT_DIR`, …), else from the cwd.
    pub fn open_from_env() -> Result<Repo> {
        let inner = Repository::open_from_env().map_err(|e| {
            if e.code() == ErrorCode::NotFound {
                return not_in_a_clone();
            }
            if e.code() == ErrorCode::Owner {
                return ownership::refusal().unwrap_or_else(|| {
                    anyhow::anyhow!("{}", e.message()).context("failed to open the git repository")
                });
            }
            if e.message().contains("object format") {
                return crate::outcome::with_hint(
                    anyhow::anyhow!("this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot open yet ({})", e.message()),
                    "the hooks gate pushes here through git (see the README, SHA-256 repositories); this command needs libgit2",
                );
            }
            anyhow::anyhow!("{}", e.message()).context("failed to open the git repository")
        })?;
        Ok(Repo::wrap(inner))
    }

    fn wrap(inner: Repository) -> Repo {
        // git does not re-hash every object it reads, and libgit2 by default does: a SHA-1
        // per object read was a visible share of reading 10,000 commits (issue 14).
        static RELAXED: std::sync::Once = std::sync::Once::new();
        RELAXED.call_once(|| git2::opts::strict_hash_verification(false));
        let cli = GitDir::new(inner.path(), inner.commondir(), inner.workdir());
        Repo {
            inner,
            cli,
            tracking: RefCell::new(None),
        }
    }

    /// Opens the repository at `path` (used by tests and benchmarks).
    pub fn open(path: &Path) -> Result<Repo> {
        let inner = Repository::open(path)
            .with_context(|| format!("failed to open the git repository `{}`", path.display()))?;
        Ok(Repo::wrap(inner))
    }

    /// The underlying libgit2 handle, for the facts this module does not wrap.
    pub fn git2(&self) -> &Repository {
        &self.inner
    }

    /// The repository through `git` processes, for the facts git answers best.
    pub fn git(&self) -> &GitDir {
        &self.cli
    }

    /// The directory shared by all linked worktrees of the clone.
    pub fn common_dir(&self) -> &Path {
        self.inner.commondir()
    }

    /// pushguard's state directory, `<git common dir>/pushguard/`.
    pub fn state_dir(&self) -> PathBuf {
        self.common_dir().join("pushguard")
    }

    /// The work tree's root, if the repository has one.
    pub fn work_tree(&self) -> Option<&Path> {
        self.inner.workdir()
    }

    /// Tells whether the clone is shallow.
    pub fn is_shallow(&self) -> bool {
        self.inner.is_shallow()
    }

    /// Resolves an object name to a commit, peeling annotated tags; `None` if not present.
    pub fn peel_commit(&self, hex: &str) -> Result<Option<Oid>> {
        let oid = Oid::from_str(hex).with_context(|| format!("invalid object name `{hex}`"))?;
        let object = match self.inner.find_object(oid, None) {
            Ok(o) => o,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to read object {hex}")),
        };
        match object.peel(ObjectType::Commit) {
            Ok(c) => Ok(Some(c.id())),
            Err(e) => Err(e).with_context(|| format!("object {hex} is not a commit")),
        }
    }

    /// Resolves a revision a person typed (`HEAD~1`, `v1.2`, `origin/staging`, an id) to a
    /// commit.
    pub fn rev_commit(&self, rev: &str) -> Result<git2::Commit<'_>> {
        self.inner
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("cannot find the commit `{rev}`"))
    }

    /// Tells whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).
    pub fn ancestry(&self, ancestor: Oid, descendant: Oid) -> Result<Ancestry> {
        // graph_descendant_of(a, a) is false: equality first.
        if ancestor == descendant
            || self
                .inner
                .graph_descendant_of(descendant, ancestor)
                .context("failed to walk the commit graph")?
        {
            Ok(Ancestry::Ancestor)
        } else {
            Ok(Ancestry::NotAncestor)
        }
    }

    /// The remote-tracking refs of `remote`: `(short name without the remote prefix, commit)`,
    /// sorted by name. Listed once and kept until the next fetch (issue 14: a push of 100 new
    /// gated branches listed 100,000 tracking refs 100 times).
    pub fn remote_tracking(&self, remote: &str) -> Result<TrackingRefs> {
        if let Some((cached, refs)) = self.tracking.borrow().as_ref() {
            if cached == remote {
                return Ok(Rc::clone(refs));
            }
        }
        let mut refs =
            self.refs_under(&format!("refs/remotes/{remote}/"), "remote-tracking refs")?;
        refs.retain(|(name, _)| name != "HEAD");
        let refs = Rc::new(refs);
        *self.tracking.borrow_mut() = Some((remote.to_owned(), Rc::clone(&refs)));
        Ok(refs)
    }

    /// Forgets the listed remote-tracking refs (a fetch may have moved them).
    pub fn forget_remote_tracking(&self) {
        self.tracking.borrow_mut().take();
    }

    /// The refs under `prefix` that peel to a commit: `(name without the prefix, commit)`,
    /// sorted by name; `what` names them in errors. Read from git's ref files where they can
    /// be read exactly ([`ref_files`]; a tip the commit-graph holds is a commit without
    /// asking the object database), else through libgit2.
    fn refs_under(&self, prefix: &str, what: &str) -> Result<Vec<(String, Oid)>> {
        let Some(listed) = ref_files::under(self.common_dir(), prefix) else {
            return self.refs_under_via_libgit2(prefix, what);
        };
        // Many tips are known to be commits from the commit-graph; a few are cheaper to look
        // up one by one than the graph is to open (4 MB of names at 200,000 commits).
        let graph = (listed.len() > 64).then(|| self.cli.commit_graph());
        let odb = self.inner.odb().ok();
        // Collected in place, into the listing's own allocation (10,000 refs, issue 21).
        let out = listed
            .into_iter()
            .filter_map(|(mut name, value)| {
                let commit = match value {
                    ref_files::RefValue::Direct { target, peeled } => {
                        let id = peeled.unwrap_or(target);
                        let oid = Oid::from_bytes(&id).ok();
                        if graph.is_some_and(|g| g.holds_raw(&id)) {
                            oid
                        } else {
                            oid.and_then(|id| self.commit_of(id, odb.as_ref()))
                        }
                    }
                    ref_files::RefValue::Symbolic => self
                        .inner
                        .find_reference(&name)
                        .and_then(|r| r.peel_to_commit())
                        .ok()
                        .map(|c| c.id()),
                }?;
                name.drain(..prefix.len());
                Some((name, commit))
            })
            .collect();
        Ok(out)
    }

    /// The commit `id` names or peels to. A commit is known by its object header alone (no
    /// inflating and parsing of every commit: 100,000 tracking refs, issue 14); other objects
    /// are peeled.
    fn commit_of(&self, id: Oid, odb: Option<&git2::Odb>) -> Option<Oid> {
        odb.and_then(|odb| odb.read_header(id).ok())
            .filter(|(_, kind)| *kind == ObjectType::Commit)
            .map(|_| id)
            .or_else(|| {
                self.inner
                    .find_object(id, None)
                    .and_then(|o| o.peel_to_commit())
                    .ok()
                    .map(|c| c.id())
            })
    }

    /// [`Repo::refs_under`] through libgit2: a reftable repository, or ref files
    /// [`ref_files`] does not understand.
    fn refs_under_via_libgit2(&self, prefix: &str, what: &str) -> Result<Vec<(String, Oid)>> {
        let mut out = Vec::new();
        let odb = self.inner.odb().ok();
        for r in self
            .inner
            .references_glob(&format!("{prefix}*"))
            .with_context(|| format!("failed to list {what}"))?
        {
            let r = r.with_context(|| format!("failed to read one of the {what}"))?;
            let Some(name) = r.name().and_then(|n| n.strip_prefix(prefix)) else {
                continue;
            };
            let commit = match (r.kind(), r.target()) {
                (Some(git2::ReferenceType::Direct), Some(id)) => self.commit_of(id, odb.as_ref()),
                _ => r.peel_to_commit().ok().map(|c| c.id()),
            };
            if let Some(commit) = commit {
                out.push((name.to_owned(), commit));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Finds the remote that `git push` was given: its name, or the remote whose URL it is.
    pub fn remote_name(&self, remote_arg: &str, url: &str) -> Option<String> {
        if self.inner.find_remote(remote_arg).is_ok() {
            return Some(remote_arg.to_owned());
        }
        let names = self.inner.remotes().ok()?;
        names
            .iter()
            .flatten()
            .find(|name| {
                self.inner.find_remote(name).is_ok_and(|r| {
                    r.url() == Some(url) || r.pushurl() == Some(url) || r.url() == Some(remote_arg)
                })
            })
            .map(str::to_owned)
    }

    /// The commits a ref update pushes: reachable from `new` and not from the remote tip, or,
    /// for a new branch (or a remote tip this clone lacks), not from any of the remote's
    /// remote-tracking refs. Newest first.
    pub fn pushed_range(
        &self,
        new: Oid,
        old: Option<Oid>,
        remote: Option<&str>,
    ) -> Result<Vec<Oid>> {
        let hide = match (old, remote) {
            (Some(old), _) => vec![old],
            (None, Some(remote)) => self
                .remote_tracking(remote)?
                .iter()
                .map(|(_, t)| *t)
                .collect(),
            (None, None) => Vec::new(),
        };
        self.range_hiding(new, &hide)
    }

    /// The best common ancestor of `new` and any of `tips` (`git merge-base new tips…`),
    /// `None` when they share no history or there are no tips.
    pub fn merge_base_with(&self, new: Oid, tips: &[Oid]) -> Result<Option<Oid>> {
        if tips.is_empty() {
            return Ok(None);
        }
        let mut all = Vec::with_capacity(tips.len() + 1);
        all.push(new);
        all.extend_from_slice(tips);
        match self.inner.merge_base_many(&all) {
            Ok(base) => Ok(Some(base)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).context("failed to find the merge base with the remote's branches"),
        }
    }

    /// The commits a ref update pushes into this (receiving) repository: reachable from `new`
    /// and not from the old tip, or, for a new branch, not from any of its branches.
    pub fn pushed_range_on_server(&self, new: Oid, old: Option<Oid>) -> Result<Vec<Oid>> {
        let hide = match old {
            Some(old) => vec![old],
            None => self.branches()?.into_iter().map(|(_, t)| t).collect(),
        };
        self.range_hiding(new, &hide)
    }

    /// The commits reachable from `new` and from none of `hide`, newest first.
    ///
    /// Asks `git rev-list`, which walks with the commit-graph where libgit2's revwalk parses
    /// every commit (1.8× git on a 100,000-commit first push, issue 14); libgit2 if git
    /// cannot answer.
    fn range_hiding(&self, new: Oid, hide: &[Oid]) -> Result<Vec<Oid>> {
        if let Some(range) = self.rev_list(new, hide) {
            return Ok(range);
        }
        let mut walk = self.inner.revwalk().context("failed to walk history")?;
        walk.push(new).context("failed to walk history")?;
        for tip in hide {
            walk.hide(*tip).context("failed to walk history")?;
        }
        walk.map(|r| r.context("failed to walk history")).collect()
    }

    /// The tracked files that differ from HEAD in the index or the work tree, as
    /// `git status --porcelain -uno` sees them (see [`GitDir::tracked_changes`]).
    ///
    /// git's own status uses the index's stat data and its preloading, where libgit2's
    /// status was 4× slower at 200,000 files (issue 14).
    pub fn tracked_changes_via_git(&self) -> Option<Vec<(&'static str, bool, String)>> {
        self.cli.tracked_changes()
    }

    /// `git rev-list <new> --not <hide…>`; `None` if git failed.
    fn rev_list(&self, new: Oid, hide: &[Oid]) -> Option<Vec<Oid>> {
        self.cli
            .rev_list(&new.to_string(), hide)?
            .iter()
            .map(|h| Oid::from_str(h).ok())
            .collect()
    }

    /// This repository's own branches: `(name without refs/heads/, commit)` (on the server).
    pub fn branches(&self) -> Result<Vec<(String, Oid)>> {
        self.refs_under("refs/heads/", "branches")
    }

    /// A commit's subject line (lossy, for display).
    pub fn subject(&self, oid: Oid) -> String {
        self.inner
            .find_commit(oid)
            .ok()
            .and_then(|c| {
                c.summary_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
            .unwrap_or_default()
    }

    /// The pusher's identity from the git config.
    pub fn identity(&self) -> Identity {
        let config = self.inner.config().ok();
        let get = |key| {
            config
                .as_ref()
                .and_then(|c| c.get_string(key).ok())
                .unwrap_or_default()
        };
        Identity {
            name: get("user.name"),
            email: get("user.email"),
        }
    }

    /// `user.name` and `user.email` as git itself reads them for a command run here, with
    /// the overrides libgit2 does not see: `git -c user.email=…` (an alias running pushguard
    /// gets it as `GIT_CONFIG_PARAMETERS`) and `GIT_CONFIG_COUNT` pairs (issue 24, item 5).
    /// Falls back to [`Repo::identity`] when git cannot be asked.
    pub fn identity_as_git_reads_it(&self) -> Identity {
        let dir = self.work_tree().unwrap_or_else(|| self.common_dir());
        let get = |key: &str| -> Option<String> {
            // Not scrubbed: the caller's own overrides are the point.
            let out = Command::new("git")
                .current_dir(dir)
                .args(["config", "--get", key])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            // Exit 1: the key is not set anywhere, which is an answer too.
            matches!(out.status.code(), Some(0 | 1))
                .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        };
        match (get("user.name"), get("user.email")) {
            (Some(name), Some(email)) => Identity { name, email },
            _ => self.identity(),
        }
    }
}

/// How a bounded git command ended.
pub struct GitOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl GitOutput {
    /// The non-empty stderr lines, joined and escaped for display.
    pub fn stderr_summary(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            "git exited with an error".to_owned()
        } else {
            crate::text::escape(&lines.join("; "), 300)
        }
    }
}

/// The variables with which git shows a pre-receive hook the pushed objects (quarantine).
const QUARANTINE_VARS: [&str; 3] = [
    "GIT_QUARANTINE_PATH",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// Gives a child back the quarantine variables that [`scrub_env`] removed.
///
/// In a pre-receive hook the pushed objects wait in a quarantine directory that git names in
/// these variables; a git child asked about the pushed commits needs them (a client has none).
pub fn keep_quarantine(cmd: &mut Command) -> &mut Command {
    if std::env::var_os("GIT_QUARANTINE_PATH").is_some() {
        for var in QUARANTINE_VARS {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
    }
    cmd
}

/// Runs `git --git-dir=<repo> <args>` with a scrubbed environment, killed after `timeout`
/// (see [`GitDir::run_bounded`]).
///
/// A fetch drops the remote-tracking refs [`Repo::remote_tracking`] listed.
pub fn run_bounded(repo: &Repo, args: &[&str], timeout: Duration) -> Result<GitOutput> {
    if args.first() == Some(&"fetch") {
        repo.forget_remote_tracking();
    }
    repo.git().run_bounded(args, timeout)
}

impl GitDir {
    /// Runs `git --git-dir=<this> <args>` with a scrubbed environment, killed after
    /// `timeout`; its stderr is kept for the report.
    pub fn run_bounded(&self, args: &[&str], timeout: Duration) -> Result<GitOutput> {
        let mut cmd = Command::new("git");
        scrub_env(&mut cmd);
        cmd.arg("--git-dir")
            .arg(self.git_dir())
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("failed to run git")?;
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let out_reader = read(Box::new(child.stdout.take().expect("stdout is piped")));
        let reader = read(Box::new(child.stderr.take().expect("stderr is piped")));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().context("failed to wait for git")? {
                break status;
            }
            if start.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`git {}` did not finish within {:.1}s and was stopped",
                    args.first().copied().unwrap_or_default(),
                    timeout.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = reader.join().unwrap_or_default();
        Ok(GitOutput {
            success: status.success(),
            stdout: out_reader.join().unwrap_or_default(),
            stderr,
        })
    }
}

/// Finds the git common dir without libgit2 (for repositories libgit2 cannot open).
pub fn common_dir_via_git() -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .output()
        .context("failed to run `git rev-parse`")?;
    anyhow::ensure!(
        out.status.success(),
        "`git rev-parse --git-common-dir` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
    ))
}

/// Runs git in `dir` for a unit test, hermetic (no system or global config, fixed
/// identity); panics if it fails. Returns stdout, trimmed.
#[cfg(test)]
pub(crate) fn test_git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        crate::git::test_git(dir, args);
    }

    #[test]
    fn tracking_refs_are_listed_once_until_a_fetch_issue_14() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(dir, &["update-ref", "refs/remotes/origin/a", "HEAD"]);
        let repo = Repo::open(dir).expect("open");
        let first = repo.remote_tracking("origin").expect("list");
        assert_eq!(first.len(), 1);
        git(dir, &["update-ref", "refs/remotes/origin/b", "HEAD"]);
        let again = repo.remote_tracking("origin").expect("list");
        assert!(Rc::ptr_eq(&first, &again), "listed twice");
        // A fetch through the adapter (here of nothing: the remote does not exist) forgets.
        let _ = run_bounded(&repo, &["fetch", "nowhere"], Duration::from_secs(10));
        let after = repo.remote_tracking("origin").expect("list");
        assert_eq!(after.len(), 2);
        assert!(repo.remote_tracking("other").expect("list").is_empty());
    }
}
