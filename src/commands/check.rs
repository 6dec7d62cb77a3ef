//! `pushguard check <env-or-branch> [--rev REV] [--remote R]`: the gate as if REV were
//! pushed there, with the same report as the hook; it runs and caches the tests, so the push
//! that follows finds them passed. Never prompts, never records.

use anyhow::{Context as _, Result};

use crate::checks::{Context, Mode};
use crate::config::{Config, Environment};
use crate::gate;
use crate::git::Repo;
use crate::hook::load_config_for_command;
use crate::push::RefUpdate;
use crate::report::{self, Styles};
use crate::{Exit, WithHint};

const ZERO: &str = "0000000000000000000000000000000000000000";

pub fn run(target: &str, rev: &str, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = load_config_for_command()?;
    let remote = match remote {
        Some(r) => r.to_owned(),
        None => default_remote(&repo),
    };
    let (environment, branch) = resolve(&repo, &config, target, &remote)?;
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
    let known_remote = repo.git2().find_remote(&remote).is_ok();
    let ctx = Context::new(
        &repo,
        &config,
        environment,
        &update,
        known_remote.then_some(remote.as_str()),
        &url,
        Mode::DryRun,
    );
    let st = Styles::stderr();
    let mut err = std::io::stderr().lock();
    report::write_heading(&mut err, &st, &environment.name, &update, &remote)?;
    let verdict = gate::evaluate(&ctx);
    report::write_results(&mut err, &st, &verdict.results)?;
    let failed: Vec<_> = verdict.failed().cloned().collect();
    report::write_dry_run(&mut err, &st, &environment.name, &failed)?;
    Ok(if verdict.passed() {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

/// The current branch's upstream remote, else `origin`.
pub fn default_remote(repo: &Repo) -> String {
    let git = repo.git2();
    git.head()
        .ok()
        .filter(|h| h.is_branch())
        .and_then(|h| h.name().map(str::to_owned))
        .and_then(|name| git.branch_upstream_remote(&name).ok())
        .and_then(|buf| buf.as_str().map(str::to_owned))
        .unwrap_or_else(|| "origin".to_owned())
}

/// Resolves an environment name or an environment branch to the environment and a branch:
/// for an environment, its branch as fetched from `remote`, else its first plain pattern.
fn resolve<'c>(
    repo: &Repo,
    config: &'c Config,
    target: &str,
    remote: &str,
) -> Result<(&'c Environment, String)> {
    if let Some(env) = config.environment(target) {
        let fetched = repo
            .remote_tracking(remote)?
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| env.matches(name));
        let branch = fetched
            .or_else(|| {
                env.branches
                    .iter()
                    .find(|b| !b.contains(['*', '?', '[']))
                    .cloned()
            })
            .with_context(|| {
                format!("environment `{target}` has only glob branches and none is fetched from {remote}")
            })
            .hint(format!("name the branch instead: `pushguard check <branch>`, or `git fetch {remote}`"))?;
        return Ok((env, branch));
    }
    match config.environment_for_branch(target)? {
        Some(env) => Ok((env, target.to_owned())),
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
