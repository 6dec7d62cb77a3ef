//! `no-conflict-markers`: no line added in the pushed range starts with `<<<<<<< `,
//! `=======` (alone) or `>>>>>>> `, the marks a merge conflict leaves in a file.
//!
//! Each pushed commit is compared with its first parent, so the markers a merge resolution
//! left behind are found too.

use anyhow::{Context as _, Result};
use git2::{DiffOptions, Oid, Repository};

use super::range::capped;
use super::{CheckId, CheckResult, Context};

/// A conflict marker found on an added line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub commit: String,
    pub path: String,
    pub line: u32,
}

/// Tells whether an added line is a conflict marker.
pub fn is_marker(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"<<<<<<< ") || line == b"=======" || line.starts_with(b">>>>>>> ")
}

/// Judges the markers found in the pushed range.
pub fn judge(markers: &[Marker], commits: usize) -> CheckResult {
    let id = CheckId::NoConflictMarkers;
    if markers.is_empty() {
        return CheckResult::pass(
            id,
            format!(
                "no conflict markers added in {commits} commit{}",
                if commits == 1 { "" } else { "s" }
            ),
        );
    }
    let lines = markers
        .iter()
        .map(|m| format!("{}:{} (added in {})", m.path, m.line, m.commit))
        .collect();
    CheckResult::fail(
        id,
        format!(
            "{} conflict marker{} added by this push",
            markers.len(),
            if markers.len() == 1 { "" } else { "s" }
        ),
    )
    .with_more(capped(lines, 20))
    .with_hint("resolve the conflicts, commit the fix, then push again")
}

/// Finds the conflict markers on lines that `commit` adds relative to its first parent.
fn markers_in(git: &Repository, commit: Oid, out: &mut Vec<Marker>) -> Result<()> {
    let c = git
        .find_commit(commit)
        .context("failed to read a pushed commit")?;
    let tree = c.tree().context("failed to read a pushed tree")?;
    let parent_tree = match c.parent(0) {
        Ok(p) => Some(p.tree().context("failed to read a parent tree")?),
        Err(_) => None,
    };
    let mut opts = DiffOptions::new();
    opts.context_lines(0);
    let diff = git
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .context("failed to diff a pushed commit")?;
    let short = commit.to_string()[..10].to_owned();
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _hunk, line| {
            if line.origin() == '+' && is_marker(line.content()) {
                out.push(Marker {
                    commit: short.clone(),
                    path: delta
                        .new_file()
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    line: line.new_lineno().unwrap_or(0),
                });
            }
            true
        }),
    )
    .context("failed to read a diff")?;
    Ok(())
}

pub fn run(ctx: &Context) -> CheckResult {
    let id = CheckId::NoConflictMarkers;
    let found = ctx.pushed_commits().and_then(|commits| {
        let mut markers = Vec::new();
        // One streamed `git log -p` for the whole range (issue 14); libgit2 if git cannot.
        let streamed = ctx.repo.added_lines(commits, &mut |added| {
            if is_marker(added.content) {
                markers.push(Marker {
                    commit: crate::text::short(added.commit).to_owned(),
                    path: String::from_utf8_lossy(added.path).into_owned(),
                    line: added.line,
                });
            }
        })?;
        if !streamed {
            markers.clear();
            for oid in commits {
                markers_in(ctx.repo.git2(), *oid, &mut markers)?;
            }
        }
        Ok((markers, commits.len()))
    });
    match found {
        Ok((markers, n)) => judge(&markers, n),
        Err(e) => CheckResult::fail(id, format!("cannot read history: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn markers() {
        assert!(is_marker(b"<<<<<<< HEAD\n"));
        assert!(is_marker(b"=======\n"));
        assert!(is_marker(b"=======\r\n"));
        assert!(is_marker(b">>>>>>> feature"));
        assert!(!is_marker(b"========\n"));
        assert!(!is_marker(b"<<<<<<<<\n"));
        assert!(!is_marker(b" =======\n"));
    }

    #[test]
    fn names_file_and_line() {
        let m = Marker {
            commit: "abc1234567".into(),
            path: "src/a.rs".into(),
            line: 3,
        };
        let r = judge(&[m], 2);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.more, vec!["src/a.rs:3 (added in abc1234567)"]);
        assert_eq!(judge(&[], 2).outcome, Outcome::Pass);
    }
}

#[cfg(test)]
mod streamed_tests {
    use std::path::Path;

    use super::*;
    use crate::git::Repo;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::git::test_git(dir, args)
    }

    fn commit_all(dir: &Path, message: &str) {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
    }

    #[test]
    fn git_log_and_libgit2_find_the_same_markers_issue_14() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let write = |name: &str, text: &[u8]| std::fs::write(dir.join(name), text).expect("write");
        git(dir, &["init", "-q", "-b", "main"]);
        write("a.txt", b"one\n<<<<<<< root\n");
        commit_all(dir, "root");
        write("a.txt", b"one\n=======\r\ntwo\n");
        write("tab\there é.txt", b"x\n>>>>>>> theirs\n");
        write("bin.dat", b"\0\0=======\n<<<<<<< bin\n");
        commit_all(dir, "second");
        git(dir, &["checkout", "-q", "-b", "side", "HEAD~1"]);
        write("side.txt", b"side\n");
        commit_all(dir, "side");
        git(dir, &["checkout", "-q", "main"]);
        git(dir, &["merge", "-q", "--no-commit", "side"]);
        write("a.txt", b"one\n=======\r\ntwo\n>>>>>>> left by the merge\n");
        commit_all(dir, "merge");
        git(dir, &["mv", "a.txt", "renamed.txt"]);
        commit_all(dir, "rename");
        let repo = Repo::open(dir).expect("open");
        let commits: Vec<Oid> = git(dir, &["rev-list", "main"])
            .lines()
            .map(|l| Oid::from_str(l).expect("oid"))
            .collect();
        let mut streamed = Vec::new();
        let answered = repo
            .added_lines(&commits, &mut |a| {
                if is_marker(a.content) {
                    streamed.push(Marker {
                        commit: crate::text::short(a.commit).to_owned(),
                        path: String::from_utf8_lossy(a.path).into_owned(),
                        line: a.line,
                    });
                }
            })
            .expect("git log");
        assert!(answered);
        let mut by_libgit2 = Vec::new();
        for oid in &commits {
            markers_in(repo.git2(), *oid, &mut by_libgit2).expect("libgit2 diff");
        }
        assert_eq!(streamed, by_libgit2);
        let places: Vec<String> = streamed
            .iter()
            .map(|m| format!("{}:{}", m.path, m.line))
            .collect();
        assert_eq!(
            places,
            [
                "renamed.txt:2",
                "renamed.txt:4",
                "a.txt:4",
                "a.txt:2",
                "tab\there é.txt:2",
                "a.txt:2"
            ]
        );
    }
}
