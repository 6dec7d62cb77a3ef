//! A repository with SHA-256 object names, which released libgit2 cannot open: the facts
//! of every check come from `git` processes instead ([`crate::git::GitDir`]), for the
//! client hook, `pushguard check` and the server's hooks alike (issue 21). What still needs
//! libgit2 (signed approvals, signing records, sharing records as notes) fails or is left
//! out with the reason; the answers and the records are the site's as in any repository.

use std::cell::OnceCell;
use std::sync::atomic::AtomicBool;

use crate::checks::{
    approvals, authorized, clean_worktree, fast_forward, no_conflict_markers, no_delete, no_wip,
    promoted, tests, CheckId, CheckResult, Pusher, Refs,
};
use crate::config::Config;
use crate::git::{Ancestry, GitDir};
use crate::pipeline::{Line, LineFacts, Pushed};

/// The facts of one ref update, read through git alone.
pub struct GitFacts<'a> {
    git: &'a GitDir,
    config: &'a Config,
    line: Line<'a>,
    refs: Refs<'a>,
    pusher: &'a Pusher,
    interrupted: &'a AtomicBool,
    /// The pushed range, walked once (newest first).
    range: OnceCell<Result<Vec<String>, String>>,
}

impl<'a> GitFacts<'a> {
    pub fn new(
        git: &'a GitDir,
        config: &'a Config,
        line: Line<'a>,
        refs: Refs<'a>,
        pusher: &'a Pusher,
        interrupted: &'a AtomicBool,
    ) -> GitFacts<'a> {
        GitFacts {
            git,
            config,
            line,
            refs,
            pusher,
            interrupted,
            range: OnceCell::new(),
        }
    }

    /// The pushed commit (annotated tags peeled).
    fn pushed_commit(&self) -> Result<String, String> {
        let new = self
            .line
            .update
            .new_oid()
            .ok_or("nothing is pushed: the branch is deleted")?;
        self.git
            .peel_commit(new)
            .ok_or_else(|| format!("the pushed object {new} is not in this repository"))
    }

    /// The commits the update pushes, as SPEC defines the range: from the pushed commit,
    /// hiding the old tip, or for a new branch (or an old tip this clone lacks) every branch
    /// of the remote as fetched (of this repository, on a server).
    fn range(&self) -> Result<&[String], String> {
        self.range
            .get_or_init(|| {
                let new = self.pushed_commit()?;
                let old = self
                    .line
                    .update
                    .old_oid()
                    .and_then(|old| self.git.peel_commit(old));
                let hide: Vec<String> = match (old, self.refs) {
                    (Some(old), _) => vec![old],
                    (None, Refs::Own) => self.tips("refs/heads/")?,
                    (None, Refs::Remote { name: Some(r), .. }) => {
                        self.tips(&format!("refs/remotes/{r}/"))?
                    }
                    (None, Refs::Remote { name: None, .. }) => Vec::new(),
                };
                self.git
                    .rev_list(&new, &hide)
                    .ok_or_else(|| "`git rev-list` failed".to_owned())
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    fn tips(&self, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self
            .git
            .refs(prefix, &[])
            .map_err(|e| format!("{e:#}"))?
            .into_iter()
            .map(|(_, tip)| tip)
            .collect())
    }

    fn fast_forward(&self) -> Result<fast_forward::Facts, String> {
        let Some(old) = self.line.update.old_oid() else {
            return Ok(fast_forward::Facts::NewBranch);
        };
        let Some(old) = self.git.peel_commit(old) else {
            return Ok(fast_forward::Facts::RemoteTipMissing);
        };
        let new = self.pushed_commit()?;
        let ancestor = self
            .git
            .is_ancestor(&old, &new)
            .map_err(|e| format!("{e:#}"))?;
        Ok(fast_forward::Facts::Known(if ancestor {
            Ancestry::Ancestor
        } else {
            Ancestry::NotAncestor
        }))
    }

    fn no_wip(&self) -> Result<CheckResult, String> {
        let range = self.range()?;
        let patterns = match self.config.wip.regexes() {
            Ok(p) => p,
            Err(e) => {
                return Ok(CheckResult::fail(CheckId::NoWip, format!("{e:#}"))
                    .with_hint("fix `[wip].patterns` in the config (`pushguard config --check`)"))
            }
        };
        let (mut total, mut unwaived, mut shown) = (0, 0, Vec::new());
        let answered = self.git.messages(range, &mut |oid, message| {
            total += 1;
            let text = String::from_utf8_lossy(message);
            if patterns.iter().any(|p| p.is_match(&text)) {
                unwaived += 1;
                if shown.len() < no_wip::SHOWN {
                    shown.push(no_wip::Offender {
                        short: crate::text::short(oid).to_owned(),
                        subject: String::from_utf8_lossy(&crate::git::summary(message))
                            .into_owned(),
                        on_source: None,
                    });
                }
            }
        });
        match answered {
            // Waivers are notes that only libgit2 reads here: none is looked up.
            Ok(true) => Ok(no_wip::judge(&no_wip::Facts {
                total,
                unwaived,
                shown,
                environment: self.line.environment.name.clone(),
                source: self.line.environment.promote_from.clone(),
                ..no_wip::Facts::default()
            })),
            _ => Err("`git log` failed".to_owned()),
        }
    }

    fn no_conflict_markers(&self) -> Result<CheckResult, String> {
        let new = self.pushed_commit()?;
        let base = self.net_base(&new)?;
        let mut markers = Vec::new();
        let answered = self.git.added_lines(base.as_deref(), &new, &mut |added| {
            if no_conflict_markers::is_marker(added.content) {
                markers.push(no_conflict_markers::Marker {
                    path: String::from_utf8_lossy(added.path).into_owned(),
                    line: added.line,
                });
            }
        });
        match answered {
            Ok(true) => Ok(no_conflict_markers::judge(&markers)),
            _ => Err("`git diff` failed".to_owned()),
        }
    }

    /// The commit the net change is measured from (as [`crate::checks::range::net_base`]):
    /// the old tip when this repository has it, else the merge base with the branches.
    fn net_base(&self, new: &str) -> Result<Option<String>, String> {
        if let Some(old) = self
            .line
            .update
            .old_oid()
            .and_then(|old| self.git.peel_commit(old))
        {
            return Ok(Some(old));
        }
        let tips = match self.refs {
            Refs::Own => self.tips("refs/heads/")?,
            Refs::Remote { name: Some(r), .. } => self.tips(&format!("refs/remotes/{r}/"))?,
            Refs::Remote { name: None, .. } => Vec::new(),
        };
        Ok(self.git.merge_base(new, &tips))
    }

    fn clean_worktree(&self) -> Result<clean_worktree::Facts, String> {
        if self.git.work_tree().is_none() {
            return Ok(clean_worktree::Facts::NoWorkTree);
        }
        if self.git.head() != Some(self.pushed_commit()?) {
            return Ok(clean_worktree::Facts::NotHead);
        }
        let changes = self.git.tracked_changes().ok_or("`git status` failed")?;
        Ok(clean_worktree::Facts::Changes(
            changes
                .into_iter()
                .map(|(mark, staged, path)| {
                    let staged = if staged { "staged" } else { "unstaged" };
                    format!("{mark} {path} ({staged})")
                })
                .collect(),
        ))
    }
}

impl LineFacts for GitFacts<'_> {
    fn skips(&self, id: CheckId) -> Option<CheckResult> {
        match self.refs {
            Refs::Own => id.client_only().map(|why| CheckResult::skip(id, why)),
            Refs::Remote { .. } => None,
        }
    }

    fn check(&self, id: CheckId) -> CheckResult {
        if let Some(skipped) = self.skips(id) {
            return skipped;
        }
        let update = self.line.update;
        let env = self.line.environment;
        let Some(new) = update.new_oid() else {
            return match id {
                CheckId::NoDelete => {
                    no_delete::judge(update.change(), update.branch().unwrap_or_default())
                }
                CheckId::Freeze => crate::checks::freeze::run_for(self.config, &env.name),
                _ => CheckResult::skip(id, "nothing is pushed: the branch is deleted"),
            };
        };
        let history = |e: String| CheckResult::fail(id, format!("cannot read history: {e}"));
        match id {
            CheckId::NoDelete => {
                no_delete::judge(update.change(), update.branch().unwrap_or_default())
            }
            CheckId::Freeze => crate::checks::freeze::run_for(self.config, &env.name),
            CheckId::Soak => CheckResult::fail(
                id,
                "cannot run: soak reads the trail's records through libgit2, which cannot read this repository's SHA-256 object names yet",
            )
            .with_hint("bypass with a justification (it is recorded), or push from a SHA-1 repository"),
            CheckId::FastForward => match self.fast_forward() {
                Ok(facts) => fast_forward::judge(
                    facts,
                    self.refs.shown(),
                    update.branch().unwrap_or_default(),
                ),
                Err(e) => history(e),
            },
            CheckId::Promoted => promoted::run_via_git(self.git, self.refs, self.config, env, new),
            CheckId::NoWip => self.no_wip().unwrap_or_else(history),
            CheckId::NoConflictMarkers => self.no_conflict_markers().unwrap_or_else(history),
            CheckId::CleanWorktree => match self.clean_worktree() {
                Ok(facts) => clean_worktree::judge(facts),
                Err(e) => CheckResult::fail(id, format!("cannot read the work tree: {e}")),
            },
            CheckId::Authorized => authorized::for_pusher(self.pusher, env),
            CheckId::Approvals => {
                approvals::run_via_git(self.git, self.config, env, self.refs, self.pusher, new)
            }
            CheckId::Tests => match self.pushed_commit() {
                Ok(commit) => {
                    tests::run_via_git(self.git, &self.config.tests, &commit, self.interrupted)
                }
                Err(e) => CheckResult::fail(id, format!("cannot run the tests: {e}")),
            },
        }
    }

    fn pushed(&self) -> Pushed {
        let range = self.range().unwrap_or_default();
        let mut subjects = Vec::new();
        let _ = self
            .git
            .messages(&range[..range.len().min(10)], &mut |oid, message| {
                subjects.push((
                    crate::text::short(oid).to_owned(),
                    String::from_utf8_lossy(&crate::git::summary(message)).into_owned(),
                ));
            });
        Pushed {
            commits: range.len(),
            subjects,
        }
    }
}
