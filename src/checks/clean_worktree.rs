//! `clean-worktree`: when the pushed commit is `HEAD`, the work tree has no staged or
//! unstaged change to tracked files, so what was tested and reviewed locally is what is pushed.

use anyhow::{Context as _, Result};
use git2::{Status, StatusOptions};

use super::range::{capped, pushed_commit};
use super::{CheckId, CheckResult, Context};
use crate::git::Repo;

/// What is known about the work tree relative to the pushed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// A bare repository: there is no work tree.
    NoWorkTree,
    /// The pushed commit is not `HEAD`: the work tree does not describe it.
    NotHead,
    /// Changed tracked files, as `M path` / `A path` lines (empty: clean).
    Changes(Vec<String>),
}

pub fn judge(facts: Facts) -> CheckResult {
    let id = CheckId::CleanWorktree;
    match facts {
        Facts::NoWorkTree => CheckResult::skip(id, "no work tree (bare repository)"),
        Facts::NotHead => CheckResult::skip(id, "the pushed commit is not HEAD"),
        Facts::Changes(c) if c.is_empty() => {
            CheckResult::pass(id, "no uncommitted changes to tracked files")
        }
        Facts::Changes(c) => CheckResult::fail(
            id,
            format!(
                "{} tracked file{} changed but not committed (what is pushed is not what is here)",
                c.len(),
                if c.len() == 1 { "" } else { "s" }
            ),
        )
        .with_more(capped(c, 20))
        .with_hint(
            "commit them (`git commit -a`) or set them aside (`git stash`), then push again",
        ),
    }
}

/// Lists staged and unstaged changes to tracked files (untracked files are ignored).
pub fn tracked_changes(repo: &Repo) -> Result<Vec<String>> {
    // git answers as fast as `git status -uno` (issue 14); libgit2 if git cannot.
    if let Some(changes) = repo.tracked_changes_via_git() {
        return Ok(changes
            .into_iter()
            .map(|(mark, staged, path)| {
                let staged = if staged { "staged" } else { "unstaged" };
                format!("{mark} {path} ({staged})")
            })
            .collect());
    }
    tracked_changes_libgit2(repo)
}

/// [`tracked_changes`] through libgit2's status.
fn tracked_changes_libgit2(repo: &Repo) -> Result<Vec<String>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .git2()
        .statuses(Some(&mut opts))
        .context("failed to read the work tree's status")?;
    let mut out = Vec::new();
    for s in statuses.iter() {
        let st = s.status();
        let mark = if st.intersects(Status::INDEX_NEW) {
            "A"
        } else if st.intersects(Status::INDEX_DELETED | Status::WT_DELETED) {
            "D"
        } else if st.intersects(Status::CONFLICTED) {
            "U"
        } else if st.is_empty() || st == Status::IGNORED {
            continue;
        } else {
            "M"
        };
        let staged = if st.intersects(
            Status::INDEX_NEW
                | Status::INDEX_MODIFIED
                | Status::INDEX_DELETED
                | Status::INDEX_RENAMED
                | Status::INDEX_TYPECHANGE,
        ) {
            "staged"
        } else {
            "unstaged"
        };
        let path = String::from_utf8_lossy(s.path_bytes()).into_owned();
        out.push(format!("{mark} {path} ({staged})"));
    }
    Ok(out)
}

/// Tells whether `HEAD` is the commit `oid`.
pub fn head_is(repo: &Repo, oid: git2::Oid) -> bool {
    repo.git2()
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .is_some_and(|c| c.id() == oid)
}

fn facts(ctx: &Context) -> Result<Facts> {
    if ctx.repo.work_tree().is_none() {
        return Ok(Facts::NoWorkTree);
    }
    let pushed = pushed_commit(ctx)?;
    if !head_is(ctx.repo, pushed) {
        return Ok(Facts::NotHead);
    }
    Ok(Facts::Changes(tracked_changes(ctx.repo)?))
}

pub fn run(ctx: &Context) -> CheckResult {
    match facts(ctx) {
        Ok(f) => judge(f),
        Err(e) => CheckResult::fail(
            CheckId::CleanWorktree,
            format!("cannot read the work tree: {e:#}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn outcomes() {
        assert_eq!(judge(Facts::NotHead).outcome, Outcome::Skip);
        assert_eq!(judge(Facts::Changes(vec![])).outcome, Outcome::Pass);
        let r = judge(Facts::Changes(vec!["M a.txt (unstaged)".into()]));
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.more, vec!["M a.txt (unstaged)"]);
    }
}

#[cfg(test)]
mod status_tests {
    use std::path::Path;

    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        crate::git::test_git(dir, args);
    }

    #[test]
    fn git_and_libgit2_see_the_same_changes_issue_14() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        for name in ["a", "b", "c", "d", "e", "f g", "h"] {
            std::fs::write(dir.join(name), format!("{name}\n")).expect("write");
        }
        git(dir, &["add", "."]);
        git(dir, &["commit", "-q", "-m", "one"]);
        std::fs::write(dir.join("a"), "changed\n").expect("write");
        std::fs::write(dir.join("b"), "staged\n").expect("write");
        git(dir, &["add", "b"]);
        std::fs::remove_file(dir.join("c")).expect("remove");
        git(dir, &["rm", "-q", "d"]);
        std::fs::write(dir.join("new"), "new\n").expect("write");
        git(dir, &["add", "new"]);
        git(dir, &["mv", "e", "moved"]);
        std::fs::write(dir.join("f g"), "spaced\n").expect("write");
        std::fs::write(dir.join("untracked"), "u\n").expect("write");
        let repo = Repo::open(dir).expect("open");
        let by_git = tracked_changes(&repo).expect("git status");
        let by_libgit2 = tracked_changes_libgit2(&repo).expect("libgit2 status");
        assert_eq!(by_git, by_libgit2);
        assert_eq!(by_git.len(), 8, "{by_git:?}");
    }
}
