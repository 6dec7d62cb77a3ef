//! `promoted`: the pushed tip is already on the `promote_from` environment, as last fetched
//! from the same remote (any `refs/remotes/<remote>/<name>` whose name matches that
//! environment's branch globs), or its tree equals such a branch tip's tree (a promotion
//! merge). So production only ever receives what staging held. On the server, the source
//! branches are the server's own `refs/heads/*`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};
use git2::Oid;

use super::range::pushed_commit;
use super::{CheckId, CheckResult, Context, Refs};
use crate::config::Environment;
use crate::git::{git_command, keep_quarantine, Ancestry, Repo};

/// How many of the branches compared with a failure names; more are summarised by their
/// count and the patterns they match, so records and notes stay bounded (issue 14).
pub const NAMED: usize = 3;

/// How long asking the remote which branches it has may take, when none was fetched.
pub const LS_REMOTE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long `fetch = true` may spend fetching the source branch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What was found about the pushed tip and the source environment's branches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// The environment has no `promote_from`.
    NoSource,
    /// The push goes to a URL that no configured remote has.
    NoRemote,
    /// No remote-tracking ref of the remote matches the source environment's globs. The
    /// remote was asked (`git ls-remote`) for branches that do: `Some` lists them (empty: it
    /// has none), `None` when it could not be asked (or on the server).
    NoTrackingRef { on_remote: Option<Vec<String>> },
    /// The pushed tip is contained in this remote-tracking branch.
    Contained(String),
    /// The pushed tip's tree equals this remote-tracking branch tip's tree.
    SameTree(String),
    /// Not contained in any of the `count` candidate branches, of which `checked` are the
    /// first few by name (at most [`NAMED`]); `shallow` when the clone's history is cut.
    NotPromoted {
        checked: Vec<String>,
        count: usize,
        shallow: bool,
    },
    /// `fetch = true` and the fetch failed.
    FetchFailed(String),
}

/// Where the source environment's branches were looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<'a> {
    /// The remote-tracking refs of this remote (or the URL, when pushing to one).
    Remote(&'a str),
    /// The receiving repository's own branches (server mode).
    Server,
}

impl At<'_> {
    /// How a source branch is named in the report: `origin/staging`, or `staging` on the server.
    fn name(self, branch: &str) -> String {
        match self {
            At::Remote(remote) => format!("{remote}/{branch}"),
            At::Server => branch.to_owned(),
        }
    }
}

/// Judges the facts for a push to `environment` whose source is `source`.
pub fn judge(facts: Facts, source: Option<&Environment>, at: At) -> CheckResult {
    let id = CheckId::Promoted;
    let name = source.map(|s| s.name.as_str()).unwrap_or_default();
    let patterns = source.map(|s| s.branches.join(", ")).unwrap_or_default();
    let first_branch = source
        .and_then(|s| s.branches.iter().find(|b| !b.contains(['*', '?', '['])))
        .map(String::as_str)
        .unwrap_or("<branch>");
    let remote = match at {
        At::Remote(remote) => remote,
        At::Server => "<remote>",
    };
    match facts {
        Facts::NoSource => CheckResult::skip(id, "this environment has no `promote_from`"),
        Facts::NoRemote => CheckResult::fail(
            id,
            format!("pushing to a URL that no configured remote has, so there is no fetched `{name}` to compare with"),
        )
        .with_hint("add the URL as a remote (`git remote add <name> <url>`), fetch it, and push to the remote by name"),
        Facts::NoTrackingRef { .. } if at == At::Server => CheckResult::fail(
            id,
            format!("this server has no branch of {name} (looked for {{{patterns}}})"),
        )
        .with_hint(format!("push it to {name} first (`git push {remote} <rev>:{first_branch}`)")),
        // Only a branch the remote has is named (issue 22, item 8).
        Facts::NoTrackingRef { on_remote: Some(found) } if !found.is_empty() => CheckResult::fail(
            id,
            format!("no fetched branch of {name} from {remote} (looked for {remote}/{{{patterns}}}), though {remote} has {}", found.join(", ")),
        )
        .with_hint(format!("run `git fetch {remote} {}`, then push again", found[0])),
        Facts::NoTrackingRef { on_remote: Some(_) } => CheckResult::fail(
            id,
            format!("{remote} has no branch of {name} (looked for {{{patterns}}}), so nothing pushed there has been through {name}"),
        )
        .with_hint(format!(
            "if this repository promotes through {name}, create its branch on {remote} from a commit that went through the environments before it; if it does not (one trunk branch, say), map the environments to {remote}'s branches: `pushguard init` writes a .pushguard.toml to edit"
        )),
        Facts::NoTrackingRef { on_remote: None } => CheckResult::fail(
            id,
            format!("no fetched branch of {name} from {remote} (looked for {remote}/{{{patterns}}})"),
        )
        .with_hint(format!("run `git fetch {remote}` and check that it has a branch of {name}, then push again")),
        Facts::Contained(branch) => {
            CheckResult::pass(id, format!("on {name}: contained in {}", at.name(&branch)))
        }
        Facts::SameTree(branch) => CheckResult::pass(
            id,
            format!("on {name}: same tree as {} (a promotion merge)", at.name(&branch)),
        ),
        Facts::NotPromoted { checked, count, shallow: true } => CheckResult::fail(
            id,
            format!("cannot tell whether this commit is on {name}: this clone is shallow and its history is cut"),
        )
        .with_more(vec![format!("compared with {}", compared(at, &checked, count, &patterns))])
        .with_hint("run `git fetch --unshallow`, then push again"),
        Facts::NotPromoted { checked, count, .. } => {
            // A branch the remote has: the first one compared with.
            let existing = checked.first().map(String::as_str).unwrap_or(first_branch);
            let stale = match at {
                At::Remote(_) => format!("; if {remote}/{existing} is stale, run `git fetch {remote}`"),
                At::Server => String::new(),
            };
            CheckResult::fail(
                id,
                format!("not on {name}: the pushed commit is not in {} (promote through {name} first)", compared(at, &checked, count, &patterns)),
            )
            .with_hint(format!(
                "push it to {name} first (`git push {remote} <rev>:{existing}`){stale}"
            ))
        }
        Facts::FetchFailed(why) => CheckResult::fail(
            id,
            format!("failed to fetch {name} from {remote} (`fetch = true`): {why}"),
        )
        .with_hint(format!("run `git fetch {remote}` to see why, then push again")),
    }
}

/// The branches a failure was compared with: named when there are few, else summarised
/// (`any of 1,000 branches matching `topic/**``), so the detail does not grow with them.
fn compared(at: At, named: &[String], count: usize, patterns: &str) -> String {
    if count <= NAMED && named.len() == count {
        return named
            .iter()
            .map(|b| at.name(b))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let place = match at {
        At::Remote(remote) => format!("{remote}/{{{patterns}}}"),
        At::Server => format!("{{{patterns}}}"),
    };
    format!("any of {} branches matching `{place}`", thousands(count))
}

/// `1000` as `1,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The ref-name prefixes (under the namespace) that cover every branch a glob can match:
/// its literal part up to the last `/` before the first wildcard, as `git for-each-ref`
/// matches a literal pattern up to a slash. Empty means the whole namespace.
fn ref_prefixes(globs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for glob in globs {
        let literal = glob
            .find(['*', '?', '[', '{', '\\'])
            .map_or(glob.as_str(), |i| &glob[..i]);
        let prefix = if literal.len() == glob.len() {
            literal
        } else {
            literal.rfind('/').map_or("", |i| &literal[..i])
        };
        if prefix.is_empty() {
            return Vec::new();
        }
        if !out.iter().any(|p| p == prefix) {
            out.push(prefix.to_owned());
        }
    }
    out
}

/// Finds whether `pushed` is contained in, or has the tree of, one of `candidates` (refs
/// `<namespace><name>` matching `source`'s globs).
pub fn locate(
    repo: &Repo,
    pushed: Oid,
    candidates: &[(String, Oid)],
    namespace: &str,
    source: &Environment,
) -> Result<Facts> {
    if let Some(name) = containing(repo, pushed, candidates, namespace, source)? {
        return Ok(Facts::Contained(name));
    }
    let git = repo.git2();
    let tree = git
        .find_commit(pushed)
        .context("failed to read the pushed commit")?
        .tree_id();
    // Each tip's tree from its raw object (`tree <id>` is its first line): no parse and no
    // object cache for 100,000 candidates.
    let odb = git.odb().context("failed to read the object database")?;
    let tree_line = format!("tree {tree}\n");
    for (name, tip) in candidates {
        let same = match odb.read(*tip) {
            Ok(raw) => raw.data().starts_with(tree_line.as_bytes()),
            Err(_) => git.find_commit(*tip).is_ok_and(|c| c.tree_id() == tree),
        };
        if same {
            return Ok(Facts::SameTree(name.clone()));
        }
    }
    Ok(Facts::NotPromoted {
        checked: candidates
            .iter()
            .take(NAMED)
            .map(|(n, _)| n.clone())
            .collect(),
        count: candidates.len(),
        shallow: repo.is_shallow(),
    })
}

/// The first of `candidates` (refs `<namespace><name>` matching `source`'s globs) that
/// contains `commit`.
fn containing(
    repo: &Repo,
    commit: Oid,
    candidates: &[(String, Oid)],
    namespace: &str,
    source: &Environment,
) -> Result<Option<String>> {
    if let Some(hit) = candidates.iter().find(|(_, tip)| *tip == commit) {
        return Ok(Some(hit.0.clone()));
    }
    Ok(match candidates {
        [] => None,
        // One candidate: `git merge-base --is-ancestor` is the cheapest question.
        [(name, tip)] => contains(repo, commit, *tip)?.then(|| name.clone()),
        _ => {
            let prefixes = ref_prefixes(&source.branches);
            let patterns: Vec<String> = if prefixes.is_empty() {
                vec![String::new()]
            } else {
                prefixes
            };
            match repo.first_containing(commit, namespace, &patterns, candidates)? {
                Some(found) => found,
                None => one_by_one(repo, commit, candidates)?,
            }
        }
    })
}

/// Where `commit` already is on the `source` environment: the first of its branches (as last
/// fetched from the remote, or the server's own; nothing is fetched) that contains it, named
/// as the report names branches (`origin/development`). A commit there is history the team
/// does not rewrite: `no-wip` then offers a waiver, and `pushguard waive` requires it.
pub fn on_source(
    repo: &Repo,
    refs: Refs,
    source: &Environment,
    commit: Oid,
) -> Result<Option<String>> {
    let Some((candidates, namespace)) = candidates(repo, refs, source)? else {
        return Ok(None);
    };
    let at = match refs {
        Refs::Own => At::Server,
        remote @ Refs::Remote { .. } => At::Remote(remote.shown()),
    };
    Ok(containing(repo, commit, &candidates, &namespace, source)?.map(|b| at.name(&b)))
}

/// Branches as `(name, tip)`.
type Candidates = Vec<(String, Oid)>;

/// The source environment's branches, `(name, tip)`, and the ref namespace they live under:
/// the remote's as last fetched, or the receiving repository's own. `None` when the push goes
/// to a URL that no configured remote has.
fn candidates(
    repo: &Repo,
    refs: Refs,
    source: &Environment,
) -> Result<Option<(Candidates, String)>> {
    let (branches, namespace) = match refs {
        // The receiving repository's own branches are the truth: nothing to fetch.
        Refs::Own => (std::rc::Rc::new(repo.branches()?), "refs/heads/".to_owned()),
        Refs::Remote { name: None, .. } => return Ok(None),
        Refs::Remote {
            name: Some(remote), ..
        } => (
            repo.remote_tracking(remote)?,
            format!("refs/remotes/{remote}/"),
        ),
    };
    let candidates = branches
        .iter()
        .filter(|(name, _)| source.matches(name))
        .cloned()
        .collect();
    Ok(Some((candidates, namespace)))
}

/// The first candidate containing `pushed`, asked one at a time (when git cannot answer for
/// all of them at once).
fn one_by_one(repo: &Repo, pushed: Oid, candidates: &[(String, Oid)]) -> Result<Option<String>> {
    for (name, tip) in candidates {
        if contains(repo, pushed, *tip)? {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

/// Tells whether `commit` is reachable from `tip`.
///
/// Asks `git merge-base --is-ancestor` first: with a commit-graph file its generation
/// numbers answer a 200,000-commit history in milliseconds where libgit2 walks every commit,
/// and without one git still walks faster (measured by `scripts/bench-promoted.sh`).
fn contains(repo: &Repo, commit: Oid, tip: Oid) -> Result<bool> {
    if commit == tip {
        return Ok(true);
    }
    let mut cmd = git_command(repo.common_dir());
    keep_quarantine(&mut cmd);
    let status = cmd
        .arg("--git-dir")
        .arg(repo.common_dir())
        .args(["merge-base", "--is-ancestor"])
        .arg(commit.to_string())
        .arg(tip.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status.ok().and_then(|s| s.code()) {
        Some(0) => return Ok(true),
        Some(1) => return Ok(false),
        // git is missing or failed: libgit2 gives the same answer, more slowly.
        _ => {}
    }
    Ok(repo.ancestry(commit, tip)? == Ancestry::Ancestor)
}

/// The branches of `source` that `remote` has (`git ls-remote --heads`, bounded in time), for
/// the hint when none was fetched; `None` when the remote could not be asked.
fn remote_branches(repo: &Repo, remote: &str, source: &Environment) -> Option<Vec<String>> {
    let out = crate::git::run_bounded(repo, &["ls-remote", "--heads", remote], LS_REMOTE_TIMEOUT)
        .ok()
        .filter(|o| o.success)?;
    Some(
        out.stdout
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(_, r)| r.strip_prefix("refs/heads/"))
            .filter(|b| source.matches(b))
            .map(|b| crate::text::escape(b, 80))
            .collect(),
    )
}

/// Fetches the source environment's branches from `remote`, within [`FETCH_TIMEOUT`].
fn fetch(repo: &Repo, remote: &str, source: &Environment) -> Result<(), String> {
    let mut args = vec![
        "fetch".to_owned(),
        "--quiet".to_owned(),
        "--no-tags".to_owned(),
        "--no-write-fetch-head".to_owned(),
        remote.to_owned(),
    ];
    for pattern in &source.branches {
        // A refspec allows one `*`; other globs fetch every branch and let the matcher pick.
        let spec = if pattern.matches('*').count() <= 1 && !pattern.contains(['?', '[']) {
            pattern.clone()
        } else {
            "*".to_owned()
        };
        args.push(format!("+refs/heads/{spec}:refs/remotes/{remote}/{spec}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match crate::git::run_bounded(repo, &args, FETCH_TIMEOUT) {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(out.stderr_summary()),
        Err(e) => Err(format!("{e:#}")),
    }
}

fn facts(ctx: &Context, source: &Environment) -> Result<Facts> {
    if let Refs::Remote {
        name: Some(remote), ..
    } = ctx.refs
    {
        if ctx.environment.fetch {
            if let Err(why) = fetch(ctx.repo, remote, source) {
                return Ok(Facts::FetchFailed(why));
            }
        }
    }
    let Some((candidates, namespace)) = candidates(ctx.repo, ctx.refs, source)? else {
        return Ok(Facts::NoRemote);
    };
    let created_here = ctx
        .same_push
        .iter()
        .any(|u| u.new_oid().is_some() && u.branch().is_some_and(|b| source.matches(b)));
    if candidates.is_empty() && !created_here {
        let on_remote = match ctx.refs {
            Refs::Remote {
                name: Some(remote), ..
            } => remote_branches(ctx.repo, remote, source),
            _ => None,
        };
        return Ok(Facts::NoTrackingRef { on_remote });
    }
    let pushed = pushed_commit(ctx)?;
    // On a server, the source branch is judged as this push leaves it (issue 24): a push of
    // development and development:staging together promotes what it puts on development.
    // (Should the host refuse the source's update after pre-receive — an access rule of its
    // `update` hook — the promotion has still landed: the record of the source says so.)
    for u in ctx.same_push {
        let (Some(branch), Some(new)) = (u.branch(), u.new_oid()) else {
            continue;
        };
        if u.remote_ref == ctx.update.remote_ref || !source.matches(branch) {
            continue;
        }
        let Ok(new) = Oid::from_str(new) else {
            continue;
        };
        if new == pushed || contains(ctx.repo, pushed, new)? {
            return Ok(Facts::Contained(format!(
                "{branch} (as this push updates it)"
            )));
        }
    }
    locate(ctx.repo, pushed, &candidates, &namespace, source)
}

pub fn run(ctx: &Context) -> CheckResult {
    let at = match ctx.refs {
        Refs::Own => At::Server,
        remote @ Refs::Remote { .. } => At::Remote(remote.shown()),
    };
    let source = ctx
        .environment
        .promote_from
        .as_deref()
        .and_then(|name| ctx.config.environment(name));
    let Some(source) = source else {
        return judge(Facts::NoSource, None, at);
    };
    match facts(ctx, source) {
        Ok(f) => judge(f, Some(source), at),
        Err(e) => CheckResult::fail(CheckId::Promoted, format!("cannot read history: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_every_branch_a_glob_matches() {
        let globs = |g: &[&str]| ref_prefixes(&g.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(globs(&["staging"]), ["staging"]);
        assert_eq!(globs(&["topic/**", "staging"]), ["topic", "staging"]);
        assert_eq!(globs(&["release/v1/*"]), ["release/v1"]);
        assert!(globs(&["rel-*"]).is_empty());
        assert!(globs(&["staging", "*"]).is_empty());
    }

    #[test]
    fn counts_read_with_thousands_separators() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
