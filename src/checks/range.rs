//! The facts shared by the range checks (`no-wip`, `no-conflict-markers`): the pushed commit
//! and the commits a ref update pushes, as SPEC defines the pushed range.

use anyhow::{anyhow, Result};
use git2::Oid;

use super::{Context, Refs};

/// Resolves the pushed object to a commit (peeling annotated tags).
pub fn pushed_commit(ctx: &Context) -> Result<Oid> {
    let new = ctx
        .update
        .new_oid()
        .ok_or_else(|| anyhow!("nothing is pushed: the branch is deleted"))?;
    ctx.repo
        .peel_commit(new)?
        .ok_or_else(|| anyhow!("the pushed object {new} is not in this repository"))
}

/// Walks the commits the ref update pushes, newest first; callers use
/// [`Context::pushed_commits`], which walks once.
///
/// When the remote tip is not in this clone, the remote-tracking refs of the remote stand in
/// for it, as for a new branch. On the server, a new branch's range stops at the server's
/// own branches.
pub fn pushed_commits(ctx: &Context) -> Result<Vec<Oid>> {
    let new = pushed_commit(ctx)?;
    let old = match ctx.update.old_oid() {
        Some(hex) => ctx.repo.peel_commit(hex)?,
        None => None,
    };
    match ctx.refs {
        Refs::Own => ctx.repo.pushed_range_on_server(new, old),
        Refs::Remote { name, .. } => ctx.repo.pushed_range(new, old, name),
    }
}

/// The first `limit` entries of a list, and a line saying how many more there are.
pub fn capped(mut lines: Vec<String>, limit: usize) -> Vec<String> {
    if lines.len() > limit {
        let rest = lines.len() - limit;
        lines.truncate(limit);
        lines.push(format!("… and {rest} more"));
    }
    lines
}
