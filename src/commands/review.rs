//! `pushguard review <record-or-commit> --env E [--note TEXT]`: records that someone other
//! than the bypasser reviewed a bypassed push (issue 17), as a signed note (when the reviewer
//! has a signing key) in the approvals notes ref, and shares it with the remote.
//!
//! The bypass is found in the team's trail (the remote's audit notes; this clone's own notes
//! without a remote), by its record's line hash (a prefix of at least 7 digits) or by the
//! commit it pushed. A reviewer who is the bypasser is refused: `audit` would not count it.

use anyhow::{bail, Result};

use crate::audit::Record;
use crate::config::{self, Location};
use crate::gate::Decision;
use crate::git::Repo;
use crate::notes::{self, reviews::Review};
use crate::outcome::{Exit, WithHint};
use crate::remote::default_remote;
use crate::text::{escape, short};

pub fn run(target: &str, env: &str, note: Option<&str>, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = config::load(&Location::of_repo(&repo))?;
    let who = repo.identity();
    if who.email.is_empty() {
        return Err(anyhow::anyhow!(
            "your git identity has no email, so the review cannot name you"
        ))
        .hint("run `git config user.email you@example.com` (and `user.name`)");
    }
    let remote = match remote {
        Some(r) => Some(r.to_owned()),
        None => default_remote(&repo)?,
    };
    let records: Vec<Record> = match &remote {
        Some(remote) => {
            if let Err(e) = notes::fetch(&repo, remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
                eprintln!("pushguard: warning: {e:#}");
            }
            let all = notes::remote_trail(&repo, remote, notes::FETCH_TIMEOUT)
                .hint(format!("check that `{}` is reachable", escape(remote, 80)))?
                .map(|t| t.split().0)
                .unwrap_or_default();
            let (bound, _) = crate::remote_id::bound_records(&repo, remote, &all);
            bound.into_iter().cloned().collect()
        }
        None => notes::trail::local_records(&repo)?,
    };
    let record = find(&repo, &records, target, env)?;
    let (_, hash) = record.to_line();

    let environment = config.environment(env);
    let allowed = crate::signing::allowed_signers(&repo, &config).unwrap_or(None);
    let bypasser = crate::review::bypasser(record, allowed.as_ref());
    let mut mine = vec![who.email.clone()];
    mine.extend(crate::signing::own_principals(&repo, &config).unwrap_or_default());
    if mine.iter().any(|m| {
        bypasser
            .ids
            .iter()
            .any(|b| !b.is_empty() && b.eq_ignore_ascii_case(m))
    }) {
        return Err(anyhow::anyhow!(
            "you made this bypass ({} by {}), and a review must come from someone else",
            short(
                record
                    .new
                    .as_deref()
                    .or(record.old.as_deref())
                    .unwrap_or("-")
            ),
            escape(&record.user.name, 60)
        ))
        .hint("ask a lead or a teammate to run this `pushguard review` in their clone");
    }
    let commit = crate::notes::reviews::record_commit(record)
        .map(|o| o.to_string())
        .unwrap_or_default();
    let mut review = Review {
        record: hash.clone(),
        environment: record.environment.clone(),
        commit,
        name: who.name.clone(),
        email: who.email.clone(),
        time: crate::audit::now(),
        note: note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        signature: None,
    };
    let signed = match crate::signing::key_state(&repo) {
        crate::signing::KeyState::Ready(signer) => {
            review.signature =
                Some(signer.sign(crate::notes::reviews::NAMESPACE, &review.payload())?);
            Some(signer.configured.clone())
        }
        crate::signing::KeyState::Broken(e) => return Err(e),
        crate::signing::KeyState::None(why)
            if environment.is_some_and(|e| crate::signing::required(&config, e)) =>
        {
            return Err(crate::signing::no_key_error(env, &why)
                .context("an unsigned review would not count"));
        }
        crate::signing::KeyState::None(_) => None,
    };
    let added = crate::notes::reviews::add(&repo, &review)?;
    let what = format!(
        "the bypass of {} to {} by {} at {}{}",
        short(&review.commit),
        escape(&record.environment, 40),
        escape(&record.user.name, 60),
        escape(&record.time, 30),
        record
            .ticket
            .as_deref()
            .map(|t| format!(" (ticket {})", escape(t, 60)))
            .unwrap_or_default()
    );
    if added {
        eprintln!(
            "pushguard: reviewed {what} as {} <{}>{}",
            escape(&who.name, 80),
            escape(&who.email, 80),
            signed
                .map(|key| format!(", signed with {}", escape(&key, 120)))
                .unwrap_or_default()
        );
    } else {
        eprintln!("pushguard: you had already reviewed {what}");
    }
    let Some(remote) = remote else {
        eprintln!("pushguard: this clone has no remote, so the review is only in this clone");
        return Ok(Exit::Success);
    };
    notes::push(&repo, &remote, notes::APPROVALS, notes::PUSH_TIMEOUT).hint(format!(
        "the review is recorded in this clone; share it with `pushguard review {} --env {env} --remote {remote}` once the remote is reachable",
        short(&hash)
    ))?;
    eprintln!(
        "pushguard: shared with {remote} ({})",
        notes::APPROVALS.full()
    );
    Ok(Exit::Success)
}

/// The bypassed record `target` names for `env`: by its line hash (or a prefix of 7 or
/// more), else by the commit it pushed.
fn find<'r>(repo: &Repo, records: &'r [Record], target: &str, env: &str) -> Result<&'r Record> {
    let bypassed: Vec<(&Record, String)> = records
        .iter()
        .filter(|r| r.decision == Decision::Bypassed && r.environment == env)
        .map(|r| (r, r.to_line().1))
        .collect();
    let t = target.trim().to_ascii_lowercase();
    let by_hash: Vec<&Record> = if t.len() >= 7 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        bypassed
            .iter()
            .filter(|(_, h)| h.starts_with(&t))
            .map(|(r, _)| *r)
            .collect()
    } else {
        Vec::new()
    };
    let found: Vec<&Record> = if by_hash.is_empty() {
        match repo.rev_commit(target) {
            Ok(commit) => {
                let id = commit.id().to_string();
                bypassed
                    .iter()
                    .filter(|(r, _)| r.new.as_deref().or(r.old.as_deref()) == Some(id.as_str()))
                    .map(|(r, _)| *r)
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    } else {
        by_hash
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(anyhow::anyhow!(
            "no bypassed push to {} is recorded for `{}` (a record's hash or the commit it pushed)",
            escape(env, 40),
            escape(target, 80)
        ))
        .hint(format!(
            "`pushguard audit --since 30d` lists the bypasses with their records; `pushguard log --remote --env {} --decision bypassed` too",
            escape(env, 40)
        )),
        many => {
            let hashes: Vec<String> = many.iter().map(|r| r.to_line().1[..12].to_owned()).collect();
            bail!(
                "{} bypassed pushes to {} match `{}`: name one by its record hash ({})",
                many.len(),
                escape(env, 40),
                escape(target, 80),
                hashes.join(", ")
            )
        }
    }
}
