//! `pushguard confirm`: records ahead of time that a lead or senior was consulted (and the
//! checklist), for the next push to an environment from a client without a terminal.

use anyhow::Result;

use crate::answers::{self, Confirmation};
use crate::audit::{self, ChecklistEntry};
use crate::config::{self, Location};
use crate::git::Repo;
use crate::outcome::{Exit, WithHint};
use crate::report::escape_for_terminal as esc;
use crate::terminal::{self, name_problem, Interaction, Stop};

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
    let mut interaction = Interaction::for_person();
    let no_terminal = |what: &str| {
        anyhow::anyhow!(
            "no terminal to ask {what} (no /dev/tty, or {} is set)",
            terminal::NONINTERACTIVE_ENV
        )
    };
    let timeout = config.confirm.timeout;
    let consulted = match consulted {
        Some(name) => {
            if let Some(problem) = name_problem(&name) {
                return Err(anyhow::anyhow!("--consulted: {problem}"))
                    .hint("name the lead or senior you talked to: --consulted \"Name\"");
            }
            name.trim().to_owned()
        }
        None => {
            if !interaction.can_ask() {
                return Err(no_terminal("who you consulted"))
                    .hint("name them: pushguard confirm <env> --consulted \"Name\"");
            }
            let question = format!(
                "Have you talked to a lead or senior about this push to {}?",
                env.name
            );
            let leads = config.confirm.leads.clone();
            let asked = interaction.ask(timeout, move |term, theme, tick| {
                let yes = terminal::ask_yes_no(term, theme, &question)?;
                tick();
                if yes != Some(true) {
                    return Ok(None);
                }
                terminal::ask_who(term, theme, &leads, tick).map(Some)
            });
            match asked {
                Ok(Some(name)) => name,
                Ok(None) => {
                    eprintln!(
                        "pushguard: not confirmed: talk to a lead or senior about the push first"
                    );
                    return Ok(Exit::Blocked);
                }
                Err(stop) => return not_confirmed(&stop),
            }
        }
    };
    let mut checklist = Vec::new();
    if affirm_checklist {
        checklist.extend(env.checklist.iter().map(|item| ChecklistEntry {
            item: affirmed_item(item),
            answer: true,
        }));
    } else if !env.checklist.is_empty() {
        if !interaction.can_ask() {
            return Err(no_terminal(&format!("{}'s checklist on", env.name)))
                .hint("affirm it from a script with --affirm-checklist (recorded as such)");
        }
        let items = env.checklist.clone();
        let asked = interaction.ask(timeout, move |term, theme, tick| {
            terminal::ask_checklist(term, theme, items, tick)
        });
        match asked {
            Ok(answered) => {
                if let Some(no) = answered.iter().find(|c| !c.answer) {
                    eprintln!(
                        "pushguard: not confirmed: checklist item answered No: {}",
                        esc(&no.item)
                    );
                    return Ok(Exit::Blocked);
                }
                checklist = answered;
            }
            Err(stop) => return not_confirmed(&stop),
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

/// Ends `pushguard confirm` when a question was cut short: nothing is confirmed.
fn not_confirmed(stop: &Stop) -> Result<Exit> {
    let why = match stop {
        Stop::Interrupted => "interrupted (Ctrl-C)".to_owned(),
        Stop::TimedOut(d) => format!("no answer within {}", humantime::format_duration(*d)),
        Stop::EndOfInput => "the terminal closed".to_owned(),
        Stop::Failed(e) => format!("the prompt failed: {}", esc(e)),
    };
    eprintln!("pushguard: not confirmed: {why}");
    Ok(Exit::Blocked)
}
