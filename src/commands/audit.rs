//! `pushguard audit`: compares each environment branch's first-parent history on the remote
//! (as fetched) with the team's audit records (the remote's `refs/notes/pushguard-audit`)
//! and lists the tip updates that no record covers: pushes made with `--no-verify`, from a
//! clone without the hook, or by a tool that runs no hooks.
//!
//! A record of an allowed or bypassed push with `old = O` and `new = X` covers the
//! first-parent commits in `O..X`: a fast-forward of several commits at once is one recorded
//! update. First-parent commits older than the oldest covered one were there before
//! pushguard was used on that environment: they are listed as such and never fail
//! `--fail-on-unrecorded`.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use git2::{Oid, Sort};

use crate::audit::Record;
use crate::commands::init::default_remote;
use crate::config::Config;
use crate::gate::Decision;
use crate::git::Repo;
use crate::notes;
use crate::push::escape;
use crate::report::short;
use crate::{Exit, WithHint};

/// How long fetching the remote's branches may take.
const FETCH_BRANCHES_TIMEOUT: Duration = Duration::from_secs(120);
/// How many "before pushguard" commits are listed per branch (the rest are counted).
const BEFORE_SHOWN: usize = 5;

/// What the audit found for one first-parent commit of an environment branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Some audit record covers it.
    Recorded,
    /// No record covers it, and a later-recorded update exists below it: skipped the guard.
    Unrecorded,
    /// Older than the oldest recorded update on this branch.
    BeforePushguard,
}

/// Classifies a first-parent chain (newest first) given which commits records cover.
pub fn classify(chain: &[Oid], covered: &HashSet<Oid>) -> Vec<Status> {
    let oldest_covered = chain.iter().rposition(|c| covered.contains(c));
    chain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if covered.contains(c) {
                Status::Recorded
            } else if oldest_covered.is_some_and(|o| i < o) {
                Status::Unrecorded
            } else {
                Status::BeforePushguard
            }
        })
        .collect()
}

pub fn run(
    remote: Option<&str>,
    env: Option<&str>,
    since: Option<&str>,
    fail_on_unrecorded: bool,
) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = Config::load(repo.work_tree())?;
    let remote = match remote {
        Some(r) => r.to_owned(),
        None => default_remote(&repo)?,
    };
    if let Some(env) = env {
        config.require_environment(env)?;
    }
    let since = since.map(parse_since).transpose()?;

    for (r, e) in notes::push_pending_audit_notes(&repo) {
        eprintln!(
            "pushguard: warning: this clone's audit notes are still not shared with {r}: {e:#}"
        );
    }
    notes::fetch_branches(&repo, &remote, FETCH_BRANCHES_TIMEOUT).hint(format!(
        "check that `{remote}` is reachable: `git fetch {remote}`"
    ))?;
    let records = match notes::remote_records(&repo, &remote).hint(format!(
        "check that `{remote}` is reachable: `git fetch {remote}`"
    ))? {
        Some(records) => records,
        None => {
            eprintln!(
                "pushguard: {remote} has no audit notes ({}): no push through pushguard has been shared with it yet,\n  so every update on its environment branches counts as before pushguard",
                notes::AUDIT.full()
            );
            Vec::new()
        }
    };

    let mut out = Vec::new();
    let (mut unrecorded, mut recorded, mut branches) = (0, 0, 0);
    for environment in &config.environments {
        if env.is_some_and(|e| e != environment.name) {
            continue;
        }
        for (branch, tip) in repo.remote_tracking(&remote)?.iter().cloned() {
            if !environment.matches(&branch) {
                continue;
            }
            branches += 1;
            let chain = first_parent_chain(&repo, tip)?;
            let covered = covered(&repo, &records, &format!("refs/heads/{branch}"));
            let statuses = classify(&chain, &covered);
            let counts = write_branch(
                &mut out,
                &repo,
                &format!("{remote}/{branch}"),
                &environment.name,
                &chain,
                &statuses,
                since,
            )?;
            unrecorded += counts.unrecorded;
            recorded += counts.recorded;
        }
    }
    notes::print_listing(&out)?;
    if branches == 0 {
        eprintln!("pushguard: {remote} has no environment branches to audit");
    }
    if unrecorded > 0 {
        eprintln!(
            "pushguard: {unrecorded} commit{} reached {remote}'s environment branches without pushguard\n  (pushed with --no-verify, from a clone without the hook, or by a tool that runs no hooks)",
            if unrecorded == 1 { "" } else { "s" }
        );
    } else if recorded > 0 {
        eprintln!("pushguard: every environment update on {remote} since pushguard is recorded");
    }
    Ok(if fail_on_unrecorded && unrecorded > 0 {
        Exit::Blocked
    } else {
        Exit::Success
    })
}

/// Parses `YYYY-MM-DD` or an RFC 3339 time.
fn parse_since(text: &str) -> Result<SystemTime> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    humantime::parse_rfc3339_weak(&full)
        .with_context(|| format!("invalid date `{text}`"))
        .hint("write it as YYYY-MM-DD or 2026-01-31T12:00:00Z")
}

/// The first-parent history of `tip`, newest first.
fn first_parent_chain(repo: &Repo, tip: Oid) -> Result<Vec<Oid>> {
    let mut walk = repo.git2().revwalk().context("failed to walk history")?;
    walk.simplify_first_parent()
        .context("failed to walk history")?;
    walk.set_sorting(Sort::NONE)
        .context("failed to walk history")?;
    walk.push(tip).context("failed to walk history")?;
    walk.map(|r| r.context("failed to walk history")).collect()
}

/// The commits that the records of pushes to `remote_ref` cover: each allowed or bypassed
/// record covers the first-parent commits in `old..new`.
fn covered(repo: &Repo, records: &[Record], remote_ref: &str) -> HashSet<Oid> {
    let mut out = HashSet::new();
    for r in records {
        if r.remote_ref != remote_ref || r.decision == Decision::Blocked {
            continue;
        }
        let Some(new) = r.new.as_deref().and_then(|h| Oid::from_str(h).ok()) else {
            continue;
        };
        if repo.git2().find_commit(new).is_err() {
            continue;
        }
        let old = r.old.as_deref().and_then(|h| Oid::from_str(h).ok());
        let range = (|| -> Result<Vec<Oid>, git2::Error> {
            let mut walk = repo.git2().revwalk()?;
            walk.simplify_first_parent()?;
            walk.push(new)?;
            if let Some(old) = old {
                walk.hide(old)?;
            }
            walk.collect()
        })();
        match range {
            Ok(range) => out.extend(range),
            // The old tip is unknown here: the record still covers its own tip.
            Err(_) => {
                out.insert(new);
            }
        }
    }
    out
}

/// How many first-parent commits of a branch fell in each class.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    recorded: usize,
    unrecorded: usize,
    before: usize,
}

/// Lists one branch's unrecorded and before-pushguard commits, and counts each class.
fn write_branch(
    out: &mut impl Write,
    repo: &Repo,
    name: &str,
    environment: &str,
    chain: &[Oid],
    statuses: &[Status],
    since: Option<SystemTime>,
) -> Result<Counts> {
    let mut rows = Vec::new();
    let mut n = Counts::default();
    for (oid, status) in chain.iter().zip(statuses) {
        let commit = repo
            .git2()
            .find_commit(*oid)
            .context("failed to read a commit")?;
        let secs = u64::try_from(commit.time().seconds()).unwrap_or(0);
        let when = UNIX_EPOCH + Duration::from_secs(secs);
        if since.is_some_and(|s| when < s) {
            break;
        }
        match status {
            Status::Recorded => n.recorded += 1,
            Status::Unrecorded => n.unrecorded += 1,
            Status::BeforePushguard => n.before += 1,
        }
        let label = match status {
            Status::Recorded => continue,
            Status::Unrecorded => "UNRECORDED      ",
            Status::BeforePushguard if n.before > BEFORE_SHOWN => continue,
            Status::BeforePushguard => "before pushguard",
        };
        let author = commit.author();
        rows.push(format!(
            "  {label}  {}  {}  {} <{}>  {}",
            short(&oid.to_string()),
            humantime::format_rfc3339_seconds(when),
            escape(author.name().unwrap_or_default(), 60),
            escape(author.email().unwrap_or_default(), 80),
            escape(commit.summary().unwrap_or_default(), 80),
        ));
    }
    writeln!(
        out,
        "{name} ({environment}): {} unrecorded, {} recorded, {} before pushguard",
        n.unrecorded, n.recorded, n.before
    )?;
    for row in rows {
        writeln!(out, "{row}")?;
    }
    if n.before > BEFORE_SHOWN {
        writeln!(
            out,
            "  … and {} older commits before pushguard",
            n.before - BEFORE_SHOWN
        )?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).expect("20 bytes")
    }

    #[test]
    fn uncovered_commits_above_the_oldest_record_are_unrecorded() {
        let chain: Vec<Oid> = (1..=6).map(oid).collect();
        // Records covered 2..=3 (one push of two commits) and 5.
        let covered: HashSet<Oid> = [oid(2), oid(3), oid(5)].into_iter().collect();
        assert_eq!(
            classify(&chain, &covered),
            [
                Status::Unrecorded,
                Status::Recorded,
                Status::Recorded,
                Status::Unrecorded,
                Status::Recorded,
                Status::BeforePushguard,
            ]
        );
    }

    #[test]
    fn nothing_recorded_means_everything_is_before_pushguard() {
        let chain: Vec<Oid> = (1..=3).map(oid).collect();
        assert!(classify(&chain, &HashSet::new())
            .iter()
            .all(|s| *s == Status::BeforePushguard));
    }
}
