//! Which remote a command looks at when none is named, and the words for a clone that has
//! none. One rule for `check`, `status`, `init`, `audit`, `approve` and `log --remote`
//! (issue 13, item 5): the current branch's upstream remote, else `origin`, else the only
//! remote; with several remotes and none of those, the command asks for `--remote`.

use anyhow::{Context as _, Result};

use crate::git::Repo;
use crate::outcome::WithHint;

/// The hint for a clone without a remote: the way to add one.
pub const ADD_REMOTE_HINT: &str =
    "add the remote you push to: `git remote add origin <url>`, then `git fetch origin`";

/// The remote used when none is named, or `None` when the clone has no remote at all.
///
/// The current branch's upstream remote comes first (that is where `git push` goes), then
/// `origin`, then the only remote. Several remotes and none of those: an error naming them.
pub fn default_remote(repo: &Repo) -> Result<Option<String>> {
    let git = repo.git2();
    let names = git
        .remotes()
        .context("failed to list the clone's remotes")?;
    let names: Vec<&str> = names.iter().flatten().collect();
    let upstream = git
        .head()
        .ok()
        .filter(|h| h.is_branch())
        .and_then(|h| h.name().map(str::to_owned))
        .and_then(|name| git.branch_upstream_remote(&name).ok())
        .and_then(|buf| buf.as_str().map(str::to_owned));
    Ok(pick(&names, upstream.as_deref())?.map(str::to_owned))
}

/// Applies the rule to the clone's remote names and the current branch's upstream remote.
fn pick<'a>(names: &[&'a str], upstream: Option<&str>) -> Result<Option<&'a str>> {
    if let Some(up) = upstream.and_then(|u| names.iter().find(|n| **n == u)) {
        return Ok(Some(up));
    }
    if let Some(origin) = names.iter().find(|n| **n == "origin") {
        return Ok(Some(origin));
    }
    match names {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(anyhow::anyhow!(
            "this clone has several remotes ({}), none is `origin` and the current branch has no upstream",
            names.join(", ")
        ))
        .hint("name one with `--remote <name>`"),
    }
}

/// The remote named on the command line, else the default one; a clone without a remote
/// is an error that says what `command` needs it for.
pub fn require(repo: &Repo, named: Option<&str>, command: &str, needs: &str) -> Result<String> {
    if let Some(name) = named {
        return Ok(name.to_owned());
    }
    default_remote(repo)?.ok_or_else(|| no_remote(command, needs))
}

/// The error for a clone without a remote: `pushguard <command>` needs one for `needs`.
pub fn no_remote(command: &str, needs: &str) -> anyhow::Error {
    crate::outcome::with_hint(
        anyhow::anyhow!("this clone has no remote, so `pushguard {command}` has no {needs}"),
        ADD_REMOTE_HINT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_then_origin_then_the_only_one() {
        assert_eq!(
            pick(&["origin", "fork"], Some("fork")).unwrap(),
            Some("fork")
        );
        assert_eq!(pick(&["fork", "origin"], None).unwrap(), Some("origin"));
        // An upstream that is no remote (`.`: a local branch) does not count.
        assert_eq!(pick(&["origin"], Some(".")).unwrap(), Some("origin"));
        assert_eq!(pick(&["gitea"], None).unwrap(), Some("gitea"));
        assert_eq!(pick(&[], None).unwrap(), None);
        let e = format!("{:#}", pick(&["a", "b"], None).unwrap_err());
        assert!(e.contains("several remotes (a, b)"), "{e}");
    }
}
