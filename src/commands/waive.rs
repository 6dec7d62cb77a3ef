//! `pushguard waive <commit> --check no-wip --env E --reason WHY`: records that a commit may
//! pass one check for one environment, as a git note (signed when the author signs), merged
//! with the team's waivers and shared with the remote. The one named way through for a WIP
//! commit that is already on the environment this one promotes from, whose history the team
//! does not rewrite (issue 22, item 4); a commit not there yet is squashed instead.

use anyhow::{anyhow, bail, Result};

use crate::checks::{promoted, CheckId, Refs};
use crate::config::{self, Location};
use crate::git::Repo;
use crate::notes::{self, Waiver};
use crate::outcome::{Exit, WithHint};
use crate::remote::{default_remote, ADD_REMOTE_HINT};
use crate::text::{escape, short};

/// The checks a waiver can cover: those that judge each commit rather than what the push
/// leaves in the end.
pub const WAIVABLE: [CheckId; 1] = [CheckId::NoWip];

pub fn run(rev: &str, check: &str, env: &str, reason: &str, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = config::load(&Location::of_repo(&repo))?;
    let environment = config.require_environment(env)?;
    let Some(id) = WAIVABLE.into_iter().find(|c| c.as_str() == check) else {
        return Err(anyhow!("`{}` cannot be waived", escape(check, 60))).hint(
            "only `no-wip` can: it judges each commit's message, and a commit already on an environment cannot be reworded; the other checks judge what the push leaves, so fix that instead",
        );
    };
    if !environment.checks.contains(&id) {
        bail!(
            "{} does not run `{id}`, so there is nothing to waive there",
            environment.name
        );
    }
    let commit = repo
        .rev_commit(rev)
        .hint("name a commit this clone has (run `git fetch` if it is on the remote)")?;
    let id_short = short(&commit.id().to_string()).to_owned();
    let subject = escape(commit.summary().unwrap_or_default(), 80);
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    if !config.wip.regexes()?.iter().any(|p| p.is_match(&message)) {
        bail!("{id_short} ({subject}) is not work in progress by `[wip].patterns`, so there is nothing to waive");
    }
    let reason = reason.trim();
    if let Some(problem) = reason_problem(reason, config.bypass.min_length) {
        return Err(anyhow!("--reason: {problem}"))
            .hint("say why this commit may ship as it is, e.g. --reason \"on development since the 1.4 freeze; squashing would rewrite it\"");
    }
    let who = repo.identity();
    if who.email.is_empty() {
        return Err(anyhow!(
            "your git identity has no email, so the waiver cannot name you"
        ))
        .hint("run `git config user.email you@example.com` (and `user.name`)");
    }
    let Some(source_name) = environment.promote_from.as_deref() else {
        return Err(anyhow!(
            "{} promotes from no environment (no `promote_from`), so {id_short} is not on one yet",
            environment.name
        ))
        .hint("squash or reword it instead: `git rebase -i --autosquash <base>`");
    };
    let source = config.require_environment(source_name)?;
    let remote = match remote {
        Some(r) => r.to_owned(),
        None => default_remote(&repo)?
            .ok_or_else(|| anyhow!("this clone has no remote, so pushguard cannot tell whether {id_short} is on {source_name}"))
            .hint(ADD_REMOTE_HINT)?,
    };
    let refs = Refs::Remote {
        name: Some(&remote),
        url: &remote,
    };
    let Some(on) = promoted::on_source(&repo, refs, source, commit.id())? else {
        return Err(anyhow!(
            "{id_short} ({subject}) is not on {source_name} (as last fetched from {remote}), so it can still be reworded: a waiver is only for a commit whose history is shared"
        ))
        .hint(format!("if it is on {source_name} already, run `git fetch {remote}` first"))
        .hint("squash or reword it before it reaches an environment: `git rebase -i --autosquash <base>`");
    };
    // Merge the team's waivers first, so that ours is added to theirs.
    if let Err(e) = notes::fetch(&repo, &remote, notes::WAIVERS, notes::FETCH_TIMEOUT) {
        eprintln!("pushguard: warning: {e:#}");
    }
    let mut waiver = Waiver {
        name: who.name.clone(),
        email: who.email.clone(),
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        check: id.as_str().to_owned(),
        environment: environment.name.clone(),
        commit: commit.id().to_string(),
        reason: reason.to_owned(),
        signature: None,
    };
    let signed = crate::signing::sign_waiver(&repo, &config, environment, &mut waiver)?;
    if notes::waivers::add_waiver(&repo, &waiver)? {
        eprintln!(
            "pushguard: waived `{id}` for {id_short} ({subject}, on {on}) on {}, as {} <{}>{}",
            environment.name,
            escape(&who.name, 80),
            escape(&who.email, 80),
            signed
                .map(|key| format!(", signed with {}", escape(&key, 120)))
                .unwrap_or_default()
        );
        eprintln!("  reason: {}", escape(reason, 300));
    } else {
        eprintln!(
            "pushguard: you had already waived `{id}` for {id_short} on {}",
            environment.name
        );
    }
    notes::push(&repo, &remote, notes::WAIVERS, notes::PUSH_TIMEOUT).hint(format!(
        "the waiver is recorded in this clone; share it with `pushguard waive {id_short} --check {id} --env {} --reason …` once {remote} is reachable",
        environment.name
    ))?;
    eprintln!(
        "pushguard: shared with {remote} ({})",
        notes::WAIVERS.full()
    );
    Ok(Exit::Success)
}

/// Why a waiver's reason is refused, if it is: as short or as empty as a bypass justification
/// may not be, or more than one line.
fn reason_problem(reason: &str, min_length: usize) -> Option<String> {
    if reason.chars().any(char::is_control) {
        return Some("one line, please (no control characters)".to_owned());
    }
    crate::gate::justification_problem(reason, min_length)
}
