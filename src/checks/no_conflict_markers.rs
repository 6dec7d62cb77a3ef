//! `no-conflict-markers`: no line that the pushed range adds in the end starts with
//! `<<<<<<< `, `=======` (alone) or `>>>>>>> `, the marks a merge conflict leaves in a file.
//!
//! The range is judged by its net change, old → new (for a new branch, from the merge base
//! with the remote's branches: [`range::net_base`]), not commit by commit: markers committed
//! and removed by a later commit are not in what the push leaves, so fixing them in a new
//! commit clears the check, as its hint says (issue 22, item 4).

use anyhow::{Context as _, Result};
use git2::{DiffOptions, Oid, Repository};

use super::range::{self, capped};
use super::{CheckId, CheckResult, Context};

/// A conflict marker found on a line the push adds, in the pushed version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub path: String,
    pub line: u32,
}

/// Tells whether an added line is a conflict marker.
pub fn is_marker(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"<<<<<<< ") || line == b"=======" || line.starts_with(b">>>>>>> ")
}

/// Judges the markers found in the pushed range's net change. The range's commits are not
/// counted: only the two trees are read (a first push of 100,000 commits is one diff).
pub fn judge(markers: &[Marker]) -> CheckResult {
    let id = CheckId::NoConflictMarkers;
    if markers.is_empty() {
        return CheckResult::pass(id, "no conflict markers added by this push");
    }
    let lines = markers
        .iter()
        .map(|m| format!("{}:{}", m.path, m.line))
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
    .with_hint("resolve the conflicts at those lines and commit the fix, then push again (only what the push leaves in the end counts)")
}

/// Finds the conflict markers on lines that `new`'s tree adds to `base`'s, through libgit2.
fn markers_between(
    git: &Repository,
    base: Option<Oid>,
    new: Oid,
    out: &mut Vec<Marker>,
) -> Result<()> {
    let tree = git
        .find_commit(new)
        .and_then(|c| c.tree())
        .context("failed to read the pushed tree")?;
    let base_tree = match base {
        Some(b) => Some(
            git.find_commit(b)
                .and_then(|c| c.tree())
                .context("failed to read the remote tip's tree")?,
        ),
        None => None,
    };
    let mut opts = DiffOptions::new();
    opts.context_lines(0);
    let diff = git
        .diff_tree_to_tree(base_tree.as_ref(), Some(&tree), Some(&mut opts))
        .context("failed to diff the pushed range")?;
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _hunk, line| {
            if line.origin() == '+' && is_marker(line.content()) {
                out.push(Marker {
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
    let found = (|| -> Result<Vec<Marker>> {
        let new = range::pushed_commit(ctx)?;
        let base = range::net_base(ctx)?;
        let mut markers = Vec::new();
        // One streamed `git diff` of the net change (issues 14, 22); libgit2 if git cannot.
        let streamed = ctx.repo.added_lines(base, new, &mut |added| {
            if is_marker(added.content) {
                markers.push(Marker {
                    path: String::from_utf8_lossy(added.path).into_owned(),
                    line: added.line,
                });
            }
        })?;
        if !streamed {
            markers.clear();
            markers_between(ctx.repo.git2(), base, new, &mut markers)?;
        }
        Ok(markers)
    })();
    match found {
        Ok(markers) => judge(&markers),
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
            path: "src/a.rs".into(),
            line: 3,
        };
        let r = judge(&[m]);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.more, vec!["src/a.rs:3"]);
        assert_eq!(judge(&[]).outcome, Outcome::Pass);
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

    fn commit_all(dir: &Path, message: &str) -> Oid {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
        Oid::from_str(&git(dir, &["rev-parse", "HEAD"])).expect("oid")
    }

    fn both(repo: &Repo, base: Option<Oid>, new: Oid) -> Vec<String> {
        let mut streamed = Vec::new();
        let answered = repo
            .added_lines(base, new, &mut |a| {
                if is_marker(a.content) {
                    streamed.push(Marker {
                        path: String::from_utf8_lossy(a.path).into_owned(),
                        line: a.line,
                    });
                }
            })
            .expect("git diff");
        assert!(answered);
        let mut by_libgit2 = Vec::new();
        markers_between(repo.git2(), base, new, &mut by_libgit2).expect("libgit2 diff");
        assert_eq!(streamed, by_libgit2);
        streamed
            .iter()
            .map(|m| format!("{}:{}", m.path, m.line))
            .collect()
    }

    #[test]
    fn git_diff_and_libgit2_find_the_same_net_markers_issue_22() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let write = |name: &str, text: &[u8]| std::fs::write(dir.join(name), text).expect("write");
        git(dir, &["init", "-q", "-b", "main"]);
        write("a.txt", b"one\n<<<<<<< root\n");
        let root = commit_all(dir, "root");
        write("a.txt", b"one\n=======\r\ntwo\n");
        write("tab\there é.txt", b"x\n>>>>>>> theirs\n");
        write("bin.dat", b"\0\0=======\n<<<<<<< bin\n");
        let second = commit_all(dir, "second");
        write("tab\there é.txt", b"x\n");
        let fixed = commit_all(dir, "fix the markers of the second commit");
        let repo = Repo::open(dir).expect("open");
        assert_eq!(both(&repo, None, root), ["a.txt:2"]);
        assert_eq!(
            both(&repo, Some(root), second),
            ["a.txt:2", "tab\there é.txt:2"]
        );
        // Added and removed within the range: not in its net change.
        assert_eq!(both(&repo, Some(root), fixed), ["a.txt:2"]);
        assert_eq!(both(&repo, Some(second), fixed), Vec::<String>::new());
    }
}
