//! `pushguard confirm`: records ahead of time that a lead or senior was consulted (and the
//! checklist), for the next push to an environment from a client without a terminal.

use anyhow::{Context as _, Result};
use dialoguer::Confirm;

use crate::answers::{self, Confirmation};
use crate::audit::{self, ChecklistEntry};
use crate::config::{self, Location};
use crate::git::Repo;
use crate::prompt;
use crate::report::escape_for_terminal as esc;
use crate::{Exit, WithHint};

/// How a checklist item affirmed with `--affirm-checklist` is recorded.
pub fn affirmed_item(item: &str) -> String {
    format!("{item} [affirmed with --affirm-checklist]")
}

/// Runs `pushguard confirm <env> [--consulted NAME] [--affirm-checklist] [--valid-for D]`.
pub fn run(
    environment: &str,
    consulted: Option<String>,
    affirm_checklist: bool,
    valid_for: &str,
) -> Result<Exit> {
    let valid_for = config::parse_duration(valid_for)
        .map_err(|e| anyhow::anyhow!("invalid --valid-for `{valid_for}`: {e}"))
        .hint("give a duration such as `30m` or `2h`")?;
    let repo = Repo::open_from_env()?;
    let config = config::load(&Location::of_repo(&repo))?;
    let env = config.require_environment(environment)?;
    let mut term = prompt::command_term();
    let consulted = match consulted {
        Some(name) => {
            if let Some(problem) = prompt::name_problem(&name) {
                return Err(anyhow::anyhow!("--consulted: {problem}"))
                    .hint("name the lead or senior you talked to: --consulted \"Name\"");
            }
            name.trim().to_owned()
        }
        None => {
            let (t, theme) = term
                .as_mut()
                .context("no terminal to ask who you consulted (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)")
                .hint("name them: pushguard confirm <env> --consulted \"Name\"")?;
            let yes = Confirm::with_theme(theme.as_ref())
                .with_prompt(format!(
                    "Have you talked to a lead or senior about this push to {}?",
                    env.name
                ))
                .default(false)
                .interact_on_opt(t)
                .context("failed to ask on the terminal")?;
            if yes != Some(true) {
                eprintln!(
                    "pushguard: not confirmed: talk to a lead or senior about the push first"
                );
                return Ok(Exit::Blocked);
            }
            prompt::ask_who(t, theme.as_ref(), &config.confirm.leads, &|| {})
                .context("failed to ask on the terminal")?
        }
    };
    let mut checklist = Vec::new();
    if affirm_checklist {
        checklist.extend(env.checklist.iter().map(|item| ChecklistEntry {
            item: affirmed_item(item),
            answer: true,
        }));
    } else if !env.checklist.is_empty() {
        let (t, theme) = term
            .as_mut()
            .with_context(|| format!("no terminal to ask {}'s checklist on (no /dev/tty, or PUSHGUARD_NONINTERACTIVE is set)", env.name))
            .hint("affirm it from a script with --affirm-checklist (recorded as such)")?;
        for item in &env.checklist {
            let yes = Confirm::with_theme(theme.as_ref())
                .with_prompt(item.clone())
                .default(false)
                .interact_on_opt(t)
                .context("failed to ask on the terminal")?;
            if yes != Some(true) {
                eprintln!(
                    "pushguard: not confirmed: checklist item answered No: {}",
                    esc(item)
                );
                return Ok(Exit::Blocked);
            }
            checklist.push(ChecklistEntry {
                item: item.clone(),
                answer: true,
            });
        }
    }
    let stored = answers::store_confirmation(
        &repo.state_dir(),
        Confirmation {
            environment: env.name.clone(),
            consulted,
            checklist,
            affirmed_with_flag: affirm_checklist,
            created: audit::now(),
            expires: 0,
        },
        valid_for,
    )?;
    eprintln!(
        "pushguard: confirmed for {}: consulted {}; valid for the next push to {} until {} (single use)",
        env.name,
        esc(&stored.consulted),
        env.name,
        stored.expires_at()
    );
    Ok(Exit::Success)
}
