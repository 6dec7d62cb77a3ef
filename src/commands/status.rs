//! `pushguard status`: where the hook is installed and whether it is current, which config
//! is in force, each environment's branch on the remote with its tip, how far each
//! environment is ahead of the next, and whether `HEAD`'s tree has passed its tests.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use git2::Oid;

use crate::commands::check::default_remote;
use crate::config::{Config, Source};
use crate::git::Repo;
use crate::hook::load_config_for_command;
use crate::install::{hook_state, hooks_dir, HookState};
use crate::testrun::{self, Cache};
use crate::Exit;

pub fn run() -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = load_config_for_command()?;
    let mut out = String::new();

    let dir = hooks_dir()?;
    let state = match hook_state(&dir)? {
        HookState::NotInstalled => "not installed (run `pushguard install`)",
        HookState::Current => "installed, current",
        HookState::Outdated => {
            "installed by another pushguard binary (run `pushguard install --force`)"
        }
        HookState::Foreign => {
            "another tool's hook, not pushguard's (run `pushguard install` to chain it)"
        }
    };
    writeln!(out, "hook:    {} — {state}", dir.join("pre-push").display())?;
    let sources: Vec<String> = config.sources.iter().map(Source::to_string).collect();
    writeln!(out, "config:  {}", sources.join(" + "))?;

    let remote = default_remote(&repo);
    writeln!(out, "remote:  {remote} (as last fetched)")?;
    let tracking = repo.remote_tracking(&remote).unwrap_or_default();
    let tip_of = |env: &crate::config::Environment| -> Option<(String, Oid)> {
        tracking.iter().find(|(n, _)| env.matches(n)).cloned()
    };
    writeln!(out, "environments:")?;
    for env in &config.environments {
        match tip_of(env) {
            Some((branch, tip)) => writeln!(
                out,
                "  {:<12} {:<22}  {}  {}",
                env.name,
                format!("{remote}/{branch}"),
                &tip.to_string()[..10],
                crate::push::escape(&repo.subject(tip), 60)
            )?,
            None => writeln!(
                out,
                "  {:<12} not on {remote} ({})",
                env.name,
                env.branches.join(", ")
            )?,
        }
    }
    for env in &config.environments {
        let Some(source) = env
            .promote_from
            .as_deref()
            .and_then(|s| config.environment(s))
        else {
            continue;
        };
        if let (Some((_, from)), Some((_, to))) = (tip_of(source), tip_of(env)) {
            let n = ahead(&repo, from, to)?;
            writeln!(
                out,
                "  {} is {n} commit{} ahead of {}",
                source.name,
                if n == 1 { "" } else { "s" },
                env.name
            )?;
        }
    }
    writeln!(out, "tests:   {}", head_tests(&repo, &config)?)?;
    for line in crate::signing::status_lines(&repo, &config) {
        writeln!(out, "{line}")?;
    }
    print!("{out}");
    Ok(Exit::Success)
}

/// Counts the commits reachable from `from` and not from `to`.
fn ahead(repo: &Repo, from: Oid, to: Oid) -> Result<usize> {
    let mut walk = repo.git2().revwalk().context("failed to walk history")?;
    walk.push(from).context("failed to walk history")?;
    walk.hide(to).context("failed to walk history")?;
    Ok(walk.count())
}

/// Whether `HEAD`'s tree passed its test commands, from the cache.
fn head_tests(repo: &Repo, config: &Config) -> Result<String> {
    let Ok(head) = repo.git2().head().and_then(|h| h.peel_to_commit()) else {
        return Ok("no HEAD commit yet".to_owned());
    };
    let tree = testrun::tree_of(repo, head.id())?;
    let commands = testrun::commands(repo, &config.tests.commands, &tree);
    if commands.is_empty() {
        return Ok("no test command configured or detected".to_owned());
    }
    let cache = Cache::new(repo);
    let pending: Vec<&String> = commands
        .iter()
        .filter(|c| !cache.passed(tree.id(), c))
        .collect();
    Ok(if pending.is_empty() {
        format!("HEAD's tree passed ({})", commands.join("; "))
    } else {
        format!(
            "HEAD's tree has not passed `{}` yet (`pushguard check <env>` runs it)",
            pending
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("`, `")
        )
    })
}
