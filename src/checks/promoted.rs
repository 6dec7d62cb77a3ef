//! `promoted`: the pushed tip is already on the `promote_from` environment, as last fetched
//! from the same remote (any `refs/remotes/<remote>/<name>` whose name matches that
//! environment's branch globs), or its tree equals such a branch tip's tree (a promotion
//! merge). So production only ever receives what staging held. On the server, the source
//! branches are the server's own `refs/heads/*`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::range::pushed_commit;
use super::{CheckId, CheckResult, Context, Refs};
use crate::config::Environment;
use crate::git::commit_graph::{decode, encode, CommitGraph};
use crate::git::GitDir;

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

/// Finds whether `pushed` (a commit's object name) is contained in, or has the tree of, one
/// of `candidates` (`(name, tip)`, the tip a raw object name, sorted by name: the branches
/// `<namespace><name>` that match `source`'s globs, as the site lists them).
///
/// A candidate at the pushed commit answers at once. Else git's commit-graph settles it
/// where it can, with no process: when the pushed commit is in no graph but every tip is, no
/// candidate can contain it (a graph holds the ancestors of each commit it holds); when all
/// are in the graphs, a walk of their parents cut off by generation numbers answers, as
/// git's own `--contains` does ([`CommitGraph::first_reaching`]). Otherwise one `git
/// for-each-ref --contains` answers containment for every candidate. The tips' trees, for a
/// promotion merge, come from the commit-graph files too (a tip the graphs lack, from one
/// `git cat-file --batch-check`): reading every tip's commit object in process cost 5.6×
/// git's `--contains` at 1,000 branches (issue 21). SHA-256 repositories are answered the
/// same way.
///
/// `pushed_tree` is the pushed commit's tree when the caller has it at hand (libgit2 reads
/// it in process); else it is looked up like the tips'.
pub fn locate<N: AsRef<str>, T: AsRef<[u8]>>(
    git: &GitDir,
    pushed: &str,
    pushed_tree: Option<String>,
    candidates: &[(N, T)],
    namespace: &str,
    source: &Environment,
) -> Result<Facts> {
    if candidates.is_empty() {
        return Ok(Facts::NoTrackingRef { on_remote: None });
    }
    let pushed_raw = decode(pushed).context("an object name that is not hex")?;
    if let Some((name, _)) = candidates
        .iter()
        .find(|(_, tip)| tip.as_ref() == pushed_raw)
    {
        return Ok(Facts::Contained(name.as_ref().to_owned()));
    }
    let graph = git.commit_graph();
    // The tips' trees from the graphs (`None`: a tip no graph holds).
    let tips: Vec<&[u8]> = candidates.iter().map(|(_, tip)| tip.as_ref()).collect();
    let mut trees = graph.raw_trees(&tips);
    // Containment from the graphs when they can answer it and git would walk the same
    // parents (asked last: it reads `packed-refs`), else from one `git for-each-ref
    // --contains`.
    let graph_answer = if !graph.holds_raw(&pushed_raw) {
        trees.iter().all(Option::is_some).then_some(None)
    } else {
        graph.first_reaching(&tips, &pushed_raw)
    }
    .filter(|_| graph_parents_are_gits(git));
    let first = match graph_answer {
        Some(found) => found.map(|i| candidates[i].0.as_ref().to_owned()),
        None => {
            let patterns = ref_prefixes(&source.branches);
            first_containing(git, pushed, namespace, &patterns, source)?
        }
    };
    if let Some(first) = first {
        return Ok(Facts::Contained(first));
    }
    if let Some(name) = same_tree(
        git,
        graph,
        pushed,
        &pushed_raw,
        pushed_tree,
        candidates,
        &mut trees,
    )? {
        return Ok(Facts::SameTree(name));
    }
    Ok(Facts::NotPromoted {
        checked: candidates
            .iter()
            .take(NAMED)
            .map(|(n, _)| n.as_ref().to_owned())
            .collect(),
        count: candidates.len(),
        shallow: git.common_dir().join("shallow").is_file(),
    })
}

/// Tells whether the parents the commit-graph records are the ones git walks: not so in a
/// shallow clone, with grafts, or with replace refs (git then leaves the graph aside); a
/// reftable repository, whose refs are not read here, is not trusted either. Read from the
/// files, so that no process is started for it.
fn graph_parents_are_gits(git: &GitDir) -> bool {
    let dir = git.common_dir();
    if ["shallow", "info/grafts", "reftable"]
        .iter()
        .any(|f| dir.join(f).exists())
    {
        return false;
    }
    // Replace refs, loose or packed (a listing this reader cannot give is not trusted).
    crate::git::ref_files::under(dir, "refs/replace/").is_some_and(|refs| refs.is_empty())
}

/// The first candidate (by name) containing `pushed`, from one `git for-each-ref
/// --contains` over the globs' prefixes.
fn first_containing(
    git: &GitDir,
    pushed: &str,
    namespace: &str,
    patterns: &[String],
    source: &Environment,
) -> Result<Option<String>> {
    let out = git
        .command()
        .args(["for-each-ref", "--format=%(refname)"])
        .arg(format!("--contains={pushed}"))
        .args(ref_patterns(namespace, patterns))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("failed to run `git for-each-ref --contains`")?;
    anyhow::ensure!(
        out.status.success(),
        "`git for-each-ref --contains {pushed}` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|full| {
            let name = full.strip_prefix(namespace)?;
            (name != "HEAD" && source.matches(name)).then(|| name.to_owned())
        })
        .min())
}

/// The `git for-each-ref` patterns for the prefixes under `namespace` (the whole namespace
/// when there are none).
fn ref_patterns(namespace: &str, prefixes: &[String]) -> Vec<String> {
    if prefixes.is_empty() {
        return vec![namespace.to_owned()];
    }
    prefixes.iter().map(|p| format!("{namespace}{p}")).collect()
}

/// The first candidate (by name) whose tip has the tree of `pushed`: a promotion merge.
/// `trees` holds the tips' trees the graphs gave; the others are asked of git here.
fn same_tree<N: AsRef<str>, T: AsRef<[u8]>>(
    git: &GitDir,
    graph: &CommitGraph,
    pushed: &str,
    pushed_raw: &[u8],
    pushed_tree: Option<String>,
    candidates: &[(N, T)],
    trees: &mut [Option<Vec<u8>>],
) -> Result<Option<String>> {
    let tree = match pushed_tree {
        Some(hex) => decode(&hex),
        None => match graph.raw_trees(&[pushed_raw]).pop().flatten() {
            Some(raw) => Some(raw),
            None => decode(&git.tree_of(pushed)?),
        },
    }
    .context("an object name that is not hex")?;
    let missing: Vec<usize> = (0..trees.len()).filter(|&i| trees[i].is_none()).collect();
    if !missing.is_empty() {
        let asked: Vec<String> = missing
            .iter()
            .map(|&i| format!("{}^{{tree}}", encode(candidates[i].1.as_ref())))
            .collect();
        for (i, answer) in missing.into_iter().zip(trees_via_git(git, &asked)?) {
            trees[i] = answer.as_deref().and_then(decode);
        }
    }
    Ok(candidates
        .iter()
        .zip(trees.iter())
        .find(|(_, t)| t.as_deref() == Some(tree.as_slice()))
        .map(|((name, _), _)| name.as_ref().to_owned()))
}

/// Resolves each of `names` (`<commit>^{tree}`) with one `git cat-file --batch-check`, in
/// order; `None` for one git cannot resolve.
fn trees_via_git(git: &GitDir, names: &[String]) -> Result<Vec<Option<String>>> {
    let mut child = git
        .command()
        .args(["cat-file", "--batch-check=%(objectname) %(objecttype)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to run `git cat-file`")?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input: Vec<u8> = names
        .iter()
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .context("failed to wait for `git cat-file`")?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<Option<String>> = text
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((oid, "tree")) => Some(oid.to_owned()),
            _ => None,
        })
        .collect();
    anyhow::ensure!(
        answers.len() == names.len(),
        "`git cat-file --batch-check` answered {} of {} names",
        answers.len(),
        names.len()
    );
    Ok(answers)
}

/// The branches of `source` that `remote` has (`git ls-remote --heads`, bounded in time), for
/// the hint when none was fetched; `None` when the remote could not be asked.
fn remote_branches(git: &GitDir, remote: &str, source: &Environment) -> Option<Vec<String>> {
    let out = git
        .run_bounded(&["ls-remote", "--heads", remote], LS_REMOTE_TIMEOUT)
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

/// Where `commit` already is on the `source` environment: the first of its branches (as last
/// fetched from the remote, or the server's own; nothing is fetched) that contains it, named
/// as the report names branches (`origin/development`). A commit there is history the team
/// does not rewrite: `no-wip` then offers a waiver, and `pushguard waive` requires it.
pub fn on_source(
    repo: &crate::git::Repo,
    refs: Refs,
    source: &Environment,
    commit: git2::Oid,
) -> Result<Option<String>> {
    let (listed, namespace, at) = match refs {
        Refs::Own => (
            std::rc::Rc::new(repo.branches()?),
            "refs/heads/".to_owned(),
            At::Server,
        ),
        Refs::Remote { name: None, .. } => return Ok(None),
        remote @ Refs::Remote {
            name: Some(name), ..
        } => (
            repo.remote_tracking(name)?,
            format!("refs/remotes/{name}/"),
            At::Remote(remote.shown()),
        ),
    };
    let mut candidates = listed.iter().filter(|(name, _)| source.matches(name));
    if let Some((name, _)) = candidates.clone().find(|(_, tip)| *tip == commit) {
        return Ok(Some(at.name(name)));
    }
    if candidates.next().is_none() {
        return Ok(None);
    }
    let patterns = ref_prefixes(&source.branches);
    Ok(first_containing(
        repo.git(),
        &commit.to_string(),
        &namespace,
        &patterns,
        source,
    )?
    .map(|b| at.name(&b)))
}

/// The `git fetch` of the source environment's branches from `remote`.
fn fetch_args(remote: &str, source: &Environment) -> Vec<String> {
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
    args
}

/// How a bounded fetch ended, as the check reports it.
fn fetched(result: Result<crate::git::GitOutput>) -> Result<(), String> {
    match result {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(out.stderr_summary()),
        Err(e) => Err(format!("{e:#}")),
    }
}

fn facts(ctx: &Context, source: &Environment) -> Result<Facts> {
    let namespace = match ctx.refs {
        // The receiving repository's own branches are the truth: nothing to fetch.
        Refs::Own => "refs/heads/".to_owned(),
        Refs::Remote { name: None, .. } => return Ok(Facts::NoRemote),
        Refs::Remote {
            name: Some(remote), ..
        } => {
            if ctx.environment.fetch {
                let args = fetch_args(remote, source);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let result = crate::git::run_bounded(ctx.repo, &args, FETCH_TIMEOUT);
                if let Err(why) = fetched(result) {
                    return Ok(Facts::FetchFailed(why));
                }
            }
            format!("refs/remotes/{remote}/")
        }
    };
    // The site's listing, kept for the whole push: libgit2 lists the packed refs in
    // process, and the range of a new branch needs the same list (issue 14).
    let listed = match ctx.refs {
        Refs::Own => std::rc::Rc::new(ctx.repo.branches()?),
        Refs::Remote { name, .. } => ctx.repo.remote_tracking(name.unwrap_or_default())?,
    };
    let candidates: Vec<(&str, &[u8])> = listed
        .iter()
        .filter(|(name, _)| source.matches(name))
        .map(|(name, tip)| (name.as_str(), tip.as_bytes()))
        .collect();
    let created_here = ctx
        .same_push
        .iter()
        .any(|u| u.new_oid().is_some() && u.branch().is_some_and(|b| source.matches(b)));
    if candidates.is_empty() && !created_here {
        let on_remote = match ctx.refs {
            Refs::Remote {
                name: Some(remote), ..
            } => remote_branches(ctx.repo.git(), remote, source),
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
        let Ok(new) = git2::Oid::from_str(new) else {
            continue;
        };
        if new == pushed
            || ctx
                .repo
                .git()
                .is_ancestor(&pushed.to_string(), &new.to_string())?
        {
            return Ok(Facts::Contained(format!(
                "{branch} (as this push updates it)"
            )));
        }
    }
    let tree = ctx
        .repo
        .git2()
        .find_commit(pushed)
        .ok()
        .map(|c| c.tree_id().to_string());
    locate(
        ctx.repo.git(),
        &pushed.to_string(),
        tree,
        &candidates,
        &namespace,
        source,
    )
}

/// The facts through git alone (a SHA-256 repository): `new` is the pushed object's name.
pub fn facts_via_git(
    git: &GitDir,
    refs: Refs,
    environment: &Environment,
    source: &Environment,
    new: &str,
) -> Result<Facts> {
    let namespace = match refs {
        Refs::Own => "refs/heads/".to_owned(),
        Refs::Remote { name: None, .. } => return Ok(Facts::NoRemote),
        Refs::Remote {
            name: Some(remote), ..
        } => {
            if environment.fetch {
                let args = fetch_args(remote, source);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if let Err(why) = fetched(git.run_bounded(&args, FETCH_TIMEOUT)) {
                    return Ok(Facts::FetchFailed(why));
                }
            }
            format!("refs/remotes/{remote}/")
        }
    };
    let pushed = git
        .peel_commit(new)
        .ok_or_else(|| anyhow::anyhow!("the pushed object {new} is not in this repository"))?;
    let candidates: Vec<(String, Vec<u8>)> = git
        .refs_where(&namespace, &ref_prefixes(&source.branches), |name| {
            name != "HEAD" && source.matches(name)
        })?
        .into_iter()
        .filter_map(|(name, tip)| Some((name, decode(&tip)?)))
        .collect();
    if candidates.is_empty() {
        let on_remote = match refs {
            Refs::Remote {
                name: Some(remote), ..
            } => remote_branches(git, remote, source),
            _ => None,
        };
        return Ok(Facts::NoTrackingRef { on_remote });
    }
    locate(git, &pushed, None, &candidates, &namespace, source)
}

/// Runs the check through git alone (a SHA-256 repository).
pub fn run_via_git(
    git: &GitDir,
    refs: Refs,
    config: &crate::config::Config,
    environment: &Environment,
    new: &str,
) -> CheckResult {
    let at = match refs {
        Refs::Own => At::Server,
        remote @ Refs::Remote { .. } => At::Remote(remote.shown()),
    };
    let source = environment
        .promote_from
        .as_deref()
        .and_then(|name| config.environment(name));
    let Some(source) = source else {
        return judge(Facts::NoSource, None, at);
    };
    match facts_via_git(git, refs, environment, source, new) {
        Ok(f) => judge(f, Some(source), at),
        Err(e) => CheckResult::fail(CheckId::Promoted, format!("cannot read history: {e:#}")),
    }
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
