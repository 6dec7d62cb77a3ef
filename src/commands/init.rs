//! `pushguard init`: write a commented `.pushguard.toml` whose environments map to the
//! branches the remote actually has.

use std::fmt::Write as _;
use std::fs;

use anyhow::{Context as _, Result};

use crate::config::{branch_glob, Config, REPO_FILE};
use crate::git::Repo;
use crate::{Exit, WithHint};

pub fn run(force: bool, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let root = repo
        .work_tree()
        .context("`pushguard init` needs a work tree (this repository is bare)")?
        .to_path_buf();
    let path = root.join(REPO_FILE);
    if path.exists() && !force {
        return Err(anyhow::anyhow!("`{}` already exists", path.display()))
            .hint("run `pushguard init --force` to overwrite it");
    }
    let remote = crate::remote::require(&repo, remote, "init", "branches to map environments to")?;
    let branches: Vec<String> = repo
        .remote_tracking(&remote)?
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let text = render(&remote, &branches)?;
    // Validate what we are about to write: init must never produce a broken config.
    Config::from_layers(vec![
        (
            crate::config::Source::Embedded,
            crate::config::DEFAULT_TOML.to_owned(),
        ),
        (
            crate::config::Source::Repository(path.clone()),
            text.clone(),
        ),
    ])
    .context("internal error: the generated configuration does not validate")?;
    fs::write(&path, &text).with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!("pushguard: wrote {}", path.display());
    eprintln!("hint: review it, commit it, and run `pushguard config --check` after edits");
    Ok(Exit::Success)
}

/// Renders the repository config for a remote that has `branches` (as last fetched).
pub fn render(remote: &str, branches: &[String]) -> Result<String> {
    let defaults = Config::from_layers(vec![(
        crate::config::Source::Embedded,
        crate::config::DEFAULT_TOML.to_owned(),
    )])?;
    let mut out = String::new();
    writeln!(
        out,
        "# pushguard configuration, written by `pushguard init` from the branches of `{remote}`."
    )?;
    writeln!(
        out,
        "# Layers, later wins: built-in defaults -> ~/.config/pushguard/config.toml -> this file."
    )?;
    writeln!(out, "# [environments] here replaces the built-in environments whole; other tables merge key by key.")?;
    writeln!(out, "# Branch entries are globs: `*` stays within one path segment (\"release/*\"), `**` crosses them.")?;
    writeln!(
        out,
        "# Checks: no-delete, fast-forward, promoted, no-wip, no-conflict-markers, clean-worktree,"
    )?;
    writeln!(
        out,
        "# tests, authorized, approvals. `pushguard config --check` validates this file."
    )?;
    for env in &defaults.environments {
        let found: Vec<&String> = branches
            .iter()
            .filter(|b| {
                env.branches
                    .iter()
                    .any(|g| branch_glob(g).is_ok_and(|m| m.is_match(b)))
            })
            .collect();
        writeln!(out)?;
        writeln!(out, "[environments.{}]", env.name)?;
        let list: Vec<String> = if found.is_empty() {
            writeln!(
                out,
                "# none of the usual branch names exist on `{remote}` yet; these are the defaults"
            )?;
            env.branches.clone()
        } else {
            writeln!(out, "# found on `{remote}`")?;
            found.into_iter().cloned().collect()
        };
        writeln!(out, "branches = {}", toml_strings(&list))?;
        if let Some(from) = &env.promote_from {
            writeln!(out, "promote_from = \"{from}\"                # code must already be on that environment")?;
        }
        writeln!(
            out,
            "confirm = {}                          # ask: was a lead or senior consulted?",
            env.confirm
        )?;
        let checks: Vec<String> = env.checks.iter().map(|c| c.to_string()).collect();
        writeln!(out, "checks = {}", toml_strings(&checks))?;
        if !env.checklist.is_empty() {
            writeln!(out, "checklist = {}", toml_strings(&env.checklist))?;
        }
        if env.checks.contains(&crate::checks::CheckId::Authorized) {
            writeln!(out, "authorized = []                         # emails or globs (\"*@corp.example\"); empty: anyone")?;
        }
        if env.checks.contains(&crate::checks::CheckId::Approvals) {
            writeln!(out, "approvals = 0                           # approvals needed from others than the pusher")?;
            writeln!(out, "approvers = []                          # whose approvals count (emails or globs); empty: anyone but the pusher")?;
        }
        writeln!(out, "# fetch = false                         # fetch the promote_from branch before checking")?;
        writeln!(out, "# bypass = true                         # false: only fixing the cause gets the push through")?;
    }
    writeln!(out)?;
    writeln!(out, "[confirm]")?;
    writeln!(out, "leads = []                              # \"Name <email>\" choices offered when asked who was consulted")?;
    writeln!(
        out,
        "# timeout = \"5m\"                        # no answer in time blocks the push"
    )?;
    writeln!(out)?;
    writeln!(out, "[tests]")?;
    writeln!(out, "commands = []                           # empty: detected from Cargo.toml, package.json, go.mod, Makefile, pyproject.toml")?;
    writeln!(out, "# timeout = \"30m\"")?;
    writeln!(
        out,
        "# cache = true                          # a tree that passed is not tested again"
    )?;
    Ok(out)
}

fn toml_strings(list: &[String]) -> String {
    toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect()).to_string()
}
