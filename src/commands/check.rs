//! `pushguard check <env-or-branch> [--rev REV] [--remote R]`: the gate as if REV were
//! pushed there, with the same report as the hook; it runs and caches the tests, so the push
//! that follows finds them passed. Never prompts, never records.

use anyhow::{Context as _, Result};

use crate::config::{Config, Environment};
use crate::git::Repo;
use crate::outcome::{Exit, WithHint};
use crate::pipeline::{self, Line};
use crate::push::RefUpdate;
use crate::sites::Client;
use crate::terminal::Interaction;

const ZERO: &str = "0000000000000000000000000000000000000000";

pub fn run(target: &str, rev: &str, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = crate::config::load(&crate::config::Location::of_repo(&repo))?;
    let (environment, branch, remote) = resolve(&repo, &config, target, remote)?;
    let commit = repo
        .rev_commit(rev)
        .hint("name a commit: a branch, a tag or an object id (`--rev HEAD~1`)")?;
    let remote_oid = repo
        .git2()
        .refname_to_id(&format!("refs/remotes/{remote}/{branch}"))
        .map(|o| o.to_string())
        .unwrap_or_else(|_| ZERO.to_owned());
    let update = RefUpdate {
        local_ref: rev.to_owned(),
        local_oid: commit.id().to_string(),
        remote_ref: format!("refs/heads/{branch}"),
        remote_oid,
    };
    let url = repo
        .git2()
        .find_remote(&remote)
        .ok()
        .and_then(|r| r.url().map(str::to_owned))
        .unwrap_or_else(|| remote.clone());
    let site = Client::dry_run(&repo, &config, &remote, &url);
    let lines = [Line {
        update: &update,
        environment,
    }];
    let mut interaction = Interaction::for_person();
    pipeline::run(&site, &config, &lines, &mut interaction)
}

/// How the person named the branch to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    /// `origin/production` or `refs/remotes/origin/production`: a branch on a named remote.
    OnRemote { remote: &'a str, branch: &'a str },
    /// `refs/heads/production`: a branch, never an environment name.
    Branch(&'a str),
    /// `production`: an environment's name, else a branch name.
    Name(&'a str),
}

/// Reads `target` against the clone's remote names; the longest remote name that prefixes
/// `target` with a `/` wins, so `origin/release/1` is `release/1` on `origin`.
fn parse_target<'a>(target: &'a str, remotes: &[&str]) -> Target<'a> {
    if let Some(branch) = target.strip_prefix("refs/heads/") {
        return Target::Branch(branch);
    }
    let qualified = target.strip_prefix("refs/remotes/").unwrap_or(target);
    let on_remote = remotes
        .iter()
        .filter_map(|r| {
            let branch = qualified.strip_prefix(r)?.strip_prefix('/')?;
            (!branch.is_empty()).then_some((*r, branch))
        })
        .max_by_key(|(r, _)| r.len());
    match on_remote {
        Some((r, branch)) => {
            let remote = &qualified[..r.len()];
            Target::OnRemote { remote, branch }
        }
        None => Target::Name(target),
    }
}

/// Resolves what `pushguard check` was given to an environment, the branch a push would
/// update, and the remote it is on (issue 13, item 1).
///
/// A branch (`production`, `origin/production`, `refs/heads/production`) is judged as named.
/// An environment name is judged on its one branch on the remote (as fetched), or on its
/// first plain pattern when the remote has none yet; with several branches on the remote
/// (`main` and `production`) a push goes to one of them, so the command refuses, lists them
/// and says how to name one.
fn resolve<'c>(
    repo: &Repo,
    config: &'c Config,
    target: &str,
    named_remote: Option<&str>,
) -> Result<(&'c Environment, String, String)> {
    let remotes = repo
        .git2()
        .remotes()
        .context("failed to list the clone's remotes")?;
    let remotes: Vec<&str> = remotes.iter().flatten().collect();
    let remote = || {
        crate::remote::require(
            repo,
            named_remote,
            "check",
            "environment branches to compare with",
        )
    };
    match parse_target(target, &remotes) {
        Target::OnRemote { remote: on, branch } => {
            if let Some(named) = named_remote.filter(|n| *n != on) {
                return Err(anyhow::anyhow!(
                    "`{target}` is a branch of `{on}`, but `--remote {named}` names another remote"
                ))
                .hint(format!(
                    "drop `--remote`, or name the branch alone: `pushguard check {branch} --remote {named}`"
                ));
            }
            let env = environment_of_branch(config, branch, target)?;
            Ok((env, branch.to_owned(), on.to_owned()))
        }
        Target::Branch(branch) => {
            let env = environment_of_branch(config, branch, target)?;
            Ok((env, branch.to_owned(), remote()?))
        }
        Target::Name(name) => {
            let remote = remote()?;
            let Some(env) = config.environment(name) else {
                let env = environment_of_branch(config, name, target)?;
                return Ok((env, name.to_owned(), remote));
            };
            let fetched: Vec<String> = repo
                .remote_tracking(&remote)?
                .iter()
                .map(|(name, _)| name.clone())
                .filter(|name| env.matches(name))
                .collect();
            let branch = match fetched.as_slice() {
                [one] => one.clone(),
                [] => env
                    .branches
                    .iter()
                    .find(|b| !b.contains(['*', '?', '[']))
                    .cloned()
                    .with_context(|| {
                        format!("environment `{name}` has only glob branches and none is fetched from {remote}")
                    })
                    .hint(format!("name the branch instead: `pushguard check {remote}/<branch>`, or `git fetch {remote}`"))?,
                several => {
                    let ways: Vec<String> = several
                        .iter()
                        .map(|b| format!("`pushguard check {remote}/{b}`"))
                        .collect();
                    return Err(anyhow::anyhow!(
                        "environment `{name}` has {} branches on {remote} ({}), and a push updates one of them",
                        several.len(),
                        several.join(", ")
                    ))
                    .hint(format!("name the branch you mean: {}", ways.join(" or ")));
                }
            };
            Ok((env, branch, remote))
        }
    }
}

/// The environment that `branch` belongs to; `target` is how the person wrote it.
fn environment_of_branch<'c>(
    config: &'c Config,
    branch: &str,
    target: &str,
) -> Result<&'c Environment> {
    match config.environment_for_branch(branch)? {
        Some(env) => Ok(env),
        None => {
            let names: Vec<&str> = config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            Err(anyhow::anyhow!(
                "`{target}` is neither an environment nor an environment branch"
            ))
            .hint(format!("environments: {}", names.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_branch_on_a_remote_a_branch_or_a_name() {
        let remotes = ["origin", "origin-eu"];
        let on = |remote, branch| Target::OnRemote { remote, branch };
        assert_eq!(
            parse_target("origin/production", &remotes),
            on("origin", "production")
        );
        assert_eq!(
            parse_target("refs/remotes/origin-eu/release/1", &remotes),
            on("origin-eu", "release/1")
        );
        assert_eq!(
            parse_target("refs/heads/production", &remotes),
            Target::Branch("production")
        );
        assert_eq!(
            parse_target("production", &remotes),
            Target::Name("production")
        );
        assert_eq!(
            parse_target("release/1", &remotes),
            Target::Name("release/1")
        );
        assert_eq!(parse_target("origin/", &remotes), Target::Name("origin/"));
    }
}
