//! The facts shared by the range checks (`no-wip`, `no-conflict-markers`): the pushed commit,
//! the commits a ref update pushes, as SPEC defines the pushed range, and the commit its net
//! change is measured from.

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

/// The commit the pushed range's net change is measured from: the remote tip when this
/// repository has it; for a new branch (or a remote tip never fetched), the merge base of the
/// pushed commit with the remote's branches (on a server, its own branches). `None` when
/// there is none: the change is then every line of the pushed commit.
pub fn net_base(ctx: &Context) -> Result<Option<Oid>> {
    let new = pushed_commit(ctx)?;
    if let Some(hex) = ctx.update.old_oid() {
        if let Some(old) = ctx.repo.peel_commit(hex)? {
            return Ok(Some(old));
        }
    }
    let tips: Vec<Oid> = match ctx.refs {
        Refs::Own => ctx.repo.branches()?.into_iter().map(|(_, t)| t).collect(),
        Refs::Remote {
            name: Some(name), ..
        } => ctx
            .repo
            .remote_tracking(name)?
            .iter()
            .map(|(_, t)| *t)
            .collect(),
        Refs::Remote { name: None, .. } => Vec::new(),
    };
    ctx.repo.merge_base_with(new, &tips)
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
