//! A repository read through `git` processes only, in either object format: object names
//! are hex strings of 40 (SHA-1) or 64 (SHA-256) digits. The facts that git answers faster
//! than libgit2 (ranges, messages, added lines, status, containment) come from here for every
//! repository (issue 14), and everything the gate reads in a SHA-256 repository, which
//! released libgit2 cannot open, comes from here too (issue 21).

use std::fmt::Display;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};

use super::{git_command, keep_quarantine};

/// A repository as `git --git-dir=<git_dir>` sees it.
#[derive(Debug, Clone)]
pub struct GitDir {
    git_dir: PathBuf,
    common_dir: PathBuf,
    work_tree: Option<PathBuf>,
    /// git's commit-graph files, opened once per process: at 200,000 commits each opening
    /// reads 4 MB of object names (issue 21).
    graph: std::sync::OnceLock<std::sync::Arc<super::commit_graph::CommitGraph>>,
}

/// Tells whether `s` is an object name: 40 or 64 lowercase or uppercase hex digits.
pub fn is_hex_name(s: &[u8]) -> bool {
    (s.len() == 40 || s.len() == 64) && s.iter().all(u8::is_ascii_hexdigit)
}

impl GitDir {
    /// The repository at these paths (already known, e.g. from libgit2).
    pub fn new(git_dir: &Path, common_dir: &Path, work_tree: Option<&Path>) -> GitDir {
        GitDir {
            git_dir: git_dir.to_path_buf(),
            common_dir: common_dir.to_path_buf(),
            // libgit2 gives the work tree with a trailing slash.
            work_tree: work_tree.map(|w| w.components().collect()),
            graph: std::sync::OnceLock::new(),
        }
    }

    /// The commit-graph files of this repository, opened on first use. A graph only ever
    /// lacks commits written after it (what it records of a commit never changes), so one
    /// opened before a fetch stays true.
    pub fn commit_graph(&self) -> &super::commit_graph::CommitGraph {
        self.graph.get_or_init(|| {
            std::sync::Arc::new(super::commit_graph::CommitGraph::open(&self.objects_dir()))
        })
    }

    /// The repository git describes to hooks (`GIT_DIR`, …), else the one around the cwd.
    pub fn open_from_env() -> Result<GitDir> {
        // Not scrubbed: these variables are how git names the repository to a hook.
        let out = Command::new("git")
            .args([
                "rev-parse",
                "--path-format=absolute",
                "--git-dir",
                "--git-common-dir",
                "--is-bare-repository",
            ])
            .stdin(Stdio::null())
            .output()
            .context("failed to run `git rev-parse`")?;
        if !out.status.success() {
            return Err(super::not_in_a_clone());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(git_dir), Some(common_dir), Some(bare)) =
            (lines.next(), lines.next(), lines.next())
        else {
            anyhow::bail!("`git rev-parse` did not name the repository");
        };
        let work_tree = if bare == "true" {
            None
        } else {
            Command::new("git")
                .args(["rev-parse", "--show-toplevel"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim_end_matches('\n')))
        };
        Ok(GitDir {
            git_dir: PathBuf::from(git_dir),
            common_dir: PathBuf::from(common_dir),
            work_tree,
            graph: std::sync::OnceLock::new(),
        })
    }

    /// The repository's git directory (`.git`, or a linked worktree's).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The directory shared by all linked worktrees.
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// pushguard's state directory, `<git common dir>/pushguard/`.
    pub fn state_dir(&self) -> PathBuf {
        self.common_dir.join("pushguard")
    }

    /// The work tree's root, if there is one.
    pub fn work_tree(&self) -> Option<&Path> {
        self.work_tree.as_deref()
    }

    /// The object directory (where the commit-graph lives).
    pub fn objects_dir(&self) -> PathBuf {
        self.common_dir.join("objects")
    }

    /// `git --git-dir=<this> …` with a scrubbed environment (the quarantine kept, for a
    /// server's pre-receive).
    pub fn command(&self) -> Command {
        let mut cmd = git_command(&self.common_dir);
        keep_quarantine(&mut cmd);
        cmd.arg("--git-dir").arg(&self.git_dir);
        cmd
    }

    /// Runs `git <args>` and returns its stdout when it exits 0.
    fn output(&self, args: &[&str]) -> Option<Vec<u8>> {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| o.stdout)
    }

    /// Runs `git <args>` and returns its first line of stdout when it exits 0.
    fn line(&self, args: &[&str]) -> Option<String> {
        let out = self.output(args)?;
        let text = String::from_utf8_lossy(&out);
        Some(text.lines().next().unwrap_or_default().to_owned())
    }

    /// A config value (`git config --get`), as this repository sees it.
    pub fn config(&self, key: &str) -> Option<String> {
        self.line(&["config", "--get", key])
    }

    /// The pusher's identity from `user.name` and `user.email`.
    pub fn identity(&self) -> super::Identity {
        super::Identity {
            name: self.config("user.name").unwrap_or_default(),
            email: self.config("user.email").unwrap_or_default(),
        }
    }

    /// Finds the remote that `git push` was given: its name, or the remote whose URL
    /// (or push URL) it is.
    pub fn remote_name(&self, remote_arg: &str, url: &str) -> Option<String> {
        let out = self.output(&["config", "--get-regexp", r"^remote\..*\.(url|pushurl)$"])?;
        let text = String::from_utf8_lossy(&out);
        let mut found = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            let Some(name) = key
                .strip_prefix("remote.")
                .and_then(|k| k.rsplit_once('.'))
                .map(|(name, _)| name)
            else {
                continue;
            };
            if name == remote_arg {
                return Some(name.to_owned());
            }
            if found.is_none() && (value == url || value == remote_arg) {
                found = Some(name.to_owned());
            }
        }
        found
    }

    /// Resolves an object name to a commit, peeling annotated tags; `None` when the object
    /// is not here (or is not a commit).
    pub fn peel_commit(&self, hex: &str) -> Option<String> {
        self.line(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{hex}^{{commit}}"),
        ])
    }

    /// The tree of a commit.
    pub fn tree_of(&self, commit: &str) -> Result<String> {
        self.line(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{commit}^{{tree}}"),
        ])
        .with_context(|| format!("failed to read the tree of {commit}"))
    }

    /// The merge base of `commit` with the others (as `git merge-base A B…`: with a merge of
    /// them all); `None` when there is none or git cannot tell.
    pub fn merge_base(&self, commit: &str, others: &[String]) -> Option<String> {
        if others.is_empty() {
            return None;
        }
        let mut args = vec!["merge-base", "--end-of-options", commit];
        args.extend(others.iter().map(String::as_str));
        self.line(&args).filter(|l| !l.is_empty())
    }

    /// The commit `HEAD` is at, if any.
    pub fn head(&self) -> Option<String> {
        let dir = self.work_tree.as_deref().unwrap_or(&self.common_dir);
        let out = git_command(dir)
            .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Tells whether `ancestor` is reachable from `descendant` (a commit is its own
    /// ancestor), with `git merge-base --is-ancestor`.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        let status = self
            .command()
            .args(["merge-base", "--is-ancestor", ancestor, descendant])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("failed to run `git merge-base`")?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => anyhow::bail!("`git merge-base --is-ancestor {ancestor} {descendant}` failed"),
        }
    }

    /// The refs under `prefix` (e.g. `refs/remotes/origin/`) that match one of `patterns`
    /// (`git for-each-ref` patterns under the prefix; empty: all of them): `(name without the
    /// prefix, object name)`, sorted by name; a symbolic ref is listed with its target's
    /// object.
    pub fn refs(&self, prefix: &str, patterns: &[String]) -> Result<Vec<(String, String)>> {
        self.refs_where(prefix, patterns, |_| true)
    }

    /// [`GitDir::refs`], keeping only the names `keep` accepts; the listing is read as it
    /// streams, so refs that are not kept cost no memory (100,000 remote-tracking refs).
    pub fn refs_where(
        &self,
        prefix: &str,
        patterns: &[String],
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, String)>> {
        // Unsorted, git streams the refs instead of holding them all (47 MiB at 100,000
        // refs, against 11 MiB); a git without `--no-sort` (older than 2.44) says so with
        // a usage error, and is asked again without it.
        match self.list_refs(prefix, patterns, &keep, true)? {
            Some(refs) => Ok(refs),
            None => self
                .list_refs(prefix, patterns, &keep, false)?
                .with_context(|| format!("failed to list the refs under {prefix}")),
        }
    }

    /// One `git for-each-ref` listing for [`GitDir::refs_where`], sorted by name; `None`
    /// when git refused its options.
    fn list_refs(
        &self,
        prefix: &str,
        patterns: &[String],
        keep: &impl Fn(&str) -> bool,
        no_sort: bool,
    ) -> Result<Option<Vec<(String, String)>>> {
        let mut cmd = self.command();
        cmd.arg("for-each-ref");
        if no_sort {
            cmd.arg("--no-sort");
        }
        cmd.arg("--format=%(objectname) %(refname)");
        if patterns.is_empty() {
            cmd.arg(prefix);
        }
        cmd.args(patterns.iter().map(|p| format!("{prefix}{p}")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let failed = || format!("failed to list the refs under {prefix}");
        let mut child = cmd.spawn().with_context(failed)?;
        let mut out = std::io::BufReader::with_capacity(
            256 * 1024,
            child.stdout.take().expect("stdout is piped"),
        );
        let mut refs = Vec::new();
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            if out.read_until(b'\n', &mut line).with_context(failed)? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
            let Some((oid, name)) = text.split_once(' ') else {
                continue;
            };
            if let Some(short) = name.strip_prefix(prefix).filter(|n| keep(n)) {
                refs.push((short.to_owned(), oid.to_owned()));
            }
        }
        let status = child.wait().with_context(failed)?;
        if no_sort && status.code() == Some(129) {
            return Ok(None);
        }
        anyhow::ensure!(status.success(), "{}: `git for-each-ref` failed", failed());
        refs.sort();
        Ok(Some(refs))
    }

    /// `git rev-list <new> --not <hide…>`, the tips given on stdin: the commits reachable
    /// from `new` and from none of `hide`, newest first; `None` if git failed.
    pub fn rev_list<T: Display>(&self, new: &str, hide: &[T]) -> Option<Vec<String>> {
        let mut child = self
            .command()
            .args(["rev-list", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let mut tips = format!("{new}\n").into_bytes();
        for h in hide {
            tips.extend_from_slice(format!("^{h}\n").as_bytes());
        }
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&tips);
        });
        let out = child.wait_with_output().ok()?;
        let _ = writer.join();
        if !out.status.success() {
            return None;
        }
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| is_hex_name(l).then(|| String::from_utf8_lossy(l).into_owned()))
            .collect()
    }

    /// `git log` over a list of commits given on its stdin (`--no-walk=unsorted --stdin`):
    /// `read` consumes its output as it streams. `Ok(false)` when git could not answer
    /// (missing, failing, or `read` found output it could not parse).
    pub fn log_over_commits<T: Display>(
        &self,
        config: &[&str],
        args: &[&str],
        commits: &[T],
        read: impl FnOnce(&mut dyn BufRead) -> bool,
    ) -> Result<bool> {
        if commits.is_empty() {
            // Nothing to read; `git log` given no commit would read HEAD instead.
            return Ok(true);
        }
        let mut cmd = self.command();
        for c in config {
            cmd.args(["-c", c]);
        }
        cmd.args(["log", "--no-walk=unsorted", "--stdin"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return Ok(false);
        };
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut list = Vec::with_capacity(commits.len() * 65);
        for c in commits {
            let _ = writeln!(list, "{c}");
        }
        // Written from a thread: git starts answering before it has read every commit.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&list);
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let parsed = read(&mut std::io::BufReader::with_capacity(256 * 1024, stdout));
        let _ = writer.join();
        let status = child.wait().context("failed to wait for `git log`")?;
        Ok(parsed && status.success())
    }

    /// The tracked files that differ from HEAD in the index or the work tree, as
    /// `git status --porcelain -uno` sees them: `(mark, staged, path)` with mark `A`, `D`,
    /// `U` (unmerged) or `M`, sorted by path. `None` when git could not answer.
    pub fn tracked_changes(&self) -> Option<Vec<(&'static str, bool, String)>> {
        let out = self.status(&["--untracked-files=no"])?;
        let mut changes = Vec::new();
        for entry in out.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let (&[x, y, b' '], path) = entry.split_at_checked(3)? else {
                return None;
            };
            let unmerged =
                x == b'U' || y == b'U' || (x, y) == (b'A', b'A') || (x, y) == (b'D', b'D');
            let mark = if unmerged {
                "U"
            } else if x == b'A' {
                "A"
            } else if x == b'D' || y == b'D' {
                "D"
            } else {
                "M"
            };
            let staged = !unmerged && x != b' ';
            changes.push((mark, staged, String::from_utf8_lossy(path).into_owned()));
        }
        Some(changes)
    }

    /// Tells whether the work tree is clean, untracked files included (`None`: git could
    /// not answer, or there is no work tree).
    pub fn is_clean(&self) -> Option<bool> {
        self.status(&["--untracked-files=normal"])
            .map(|out| out.is_empty())
    }

    /// `git status --porcelain=v1 -z` in the work tree, with `extra` options.
    fn status(&self, extra: &[&str]) -> Option<Vec<u8>> {
        let dir = self.work_tree()?;
        let out = git_command(dir)
            .args([
                "status",
                "--porcelain=v1",
                "-z",
                "--ignore-submodules=all",
                "--no-renames",
            ])
            .args(extra)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// A file at the root of a tree, if it is there and is a blob (`git cat-file blob`).
    pub fn root_file(&self, tree: &str, name: &str) -> Option<Vec<u8>> {
        self.output(&["cat-file", "blob", &format!("{tree}:{name}")])
    }

    /// The names at the root of a tree (`git ls-tree --name-only`).
    pub fn root_names(&self, tree: &str) -> Result<Vec<String>> {
        let out = self
            .output(&["ls-tree", "-z", "--name-only", tree])
            .with_context(|| format!("failed to list the tree {tree}"))?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect())
    }

    /// The text of the note on `object` in `notes_ref`, if there is one.
    pub fn note(&self, notes_ref: &str, object: &str) -> Option<String> {
        let out = self.output(&["notes", "--ref", notes_ref, "show", object])?;
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// Every note of `notes_ref`: `(annotated object, text)`, read with one
    /// `git cat-file --batch` over `git notes list`.
    pub fn notes(&self, notes_ref: &str) -> Result<Vec<(String, String)>> {
        let Some(list) = self.output(&["notes", "--ref", notes_ref, "list"]) else {
            return Ok(Vec::new());
        };
        let pairs: Vec<(String, String)> = String::from_utf8_lossy(&list)
            .lines()
            .filter_map(|l| {
                let (blob, object) = l.split_once(' ')?;
                Some((blob.to_owned(), object.to_owned()))
            })
            .collect();
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = self
            .command()
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to run `git cat-file`")?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input: Vec<u8> = pairs
            .iter()
            .flat_map(|(blob, _)| format!("{blob}\n").into_bytes())
            .collect();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut notes = Vec::with_capacity(pairs.len());
        for (_, object) in pairs {
            let mut header = String::new();
            out.read_line(&mut header)
                .context("failed to read `git cat-file` output")?;
            let size: usize = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("cannot read the note of {object}"))?;
            let mut body = vec![0; size + 1];
            out.read_exact(&mut body)
                .context("failed to read `git cat-file` output")?;
            body.pop();
            notes.push((object, String::from_utf8_lossy(&body).into_owned()));
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(notes)
    }

    /// Writes (replaces) the note of `object` in `notes_ref` with `text`; the notes commit
    /// is made as `user.name`, or as pushguard where none is configured (a server).
    pub fn set_note(&self, notes_ref: &str, object: &str, text: &str) -> Result<()> {
        let mut cmd = self.command();
        if self.config("user.email").is_none() {
            cmd.args([
                "-c",
                "user.name=pushguard",
                "-c",
                "user.email=pushguard@localhost",
            ]);
        }
        let mut child = cmd
            .args([
                "notes", "--ref", notes_ref, "add", "--force", "-F", "-", object,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("failed to run `git notes add`")?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = text.as_bytes().to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child
            .wait_with_output()
            .context("failed to wait for `git notes add`")?;
        let _ = writer.join();
        anyhow::ensure!(
            out.status.success(),
            "`git notes add` on {object} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}
