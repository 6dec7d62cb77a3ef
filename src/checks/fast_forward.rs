//! `fast-forward`: the remote tip is an ancestor of the pushed tip, so nothing on the
//! environment is rewritten or lost. Creating the branch passes.

use super::{CheckId, CheckResult, Context};
use crate::git::Ancestry;

/// What is known about the remote tip relative to the pushed tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facts {
    /// The branch does not exist on the remote yet.
    NewBranch,
    /// The remote tip is not in the local object store: ancestry cannot be proven.
    RemoteTipMissing,
    Known(Ancestry),
}

pub fn judge(facts: Facts, remote: &str, branch: &str) -> CheckResult {
    let id = CheckId::FastForward;
    match facts {
        Facts::NewBranch => CheckResult::pass(id, "creates the branch"),
        Facts::Known(Ancestry::Ancestor) => CheckResult::pass(id, "fast-forward of the remote tip"),
        Facts::Known(Ancestry::NotAncestor) => CheckResult::fail(
            id,
            "not a fast-forward: this push rewrites the environment's history (force push)",
        )
        .with_hint(format!(
            "rebase or merge onto the remote tip instead: `git pull --rebase {remote} {branch}`"
        )),
        Facts::RemoteTipMissing => CheckResult::fail(
            id,
            "cannot prove a fast-forward: the remote tip is not in this clone, fetch first",
        )
        .with_hint(format!(
            "run `git fetch {remote} {branch}`, then push again"
        )),
    }
}

pub fn run(ctx: &Context) -> CheckResult {
    let remote = ctx.refs.shown();
    let branch = ctx.update.branch().unwrap_or_default();
    let facts = match facts(ctx) {
        Ok(f) => f,
        Err(e) => {
            return CheckResult::fail(CheckId::FastForward, format!("cannot read history: {e:#}"))
        }
    };
    judge(facts, remote, branch)
}

fn facts(ctx: &Context) -> anyhow::Result<Facts> {
    let Some(old) = ctx.update.old_oid() else {
        return Ok(Facts::NewBranch);
    };
    let new = ctx
        .update
        .new_oid()
        .expect("deletes are skipped before the check runs");
    let Some(old) = ctx.repo.peel_commit(old)? else {
        return Ok(Facts::RemoteTipMissing);
    };
    let new = ctx
        .repo
        .peel_commit(new)?
        .ok_or_else(|| anyhow::anyhow!("the pushed object {new} is not in this repository"))?;
    Ok(Facts::Known(ctx.repo.ancestry(old, new)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn outcomes() {
        let j = |f| judge(f, "origin", "production").outcome;
        assert_eq!(j(Facts::NewBranch), Outcome::Pass);
        assert_eq!(j(Facts::Known(Ancestry::Ancestor)), Outcome::Pass);
        assert_eq!(j(Facts::Known(Ancestry::NotAncestor)), Outcome::Fail);
        assert_eq!(j(Facts::RemoteTipMissing), Outcome::Fail);
        let r = judge(Facts::RemoteTipMissing, "origin", "production");
        assert!(r.detail.contains("fetch first"));
        assert_eq!(
            r.hint.as_deref(),
            Some("run `git fetch origin production`, then push again")
        );
    }
}
