//! `soak`: the pushed commit (or, for a promotion merge, a commit with its tree) has been on
//! a branch of the `promote_from` environment of the same remote for at least `soak`,
//! measured from the earliest allowed or bypassed record of a push that put it there.
//!
//! The evidence is the team's trail (the remote's trail refs as fetched, read through
//! [`notes::trail`]; on a server its own): records bound to this remote, of
//! pushes to a branch of the source environment whose tip contains the commit. For one push
//! recorded both by the client hook and by the server, the server's time counts (its clock,
//! and its record proves the push landed). Where signatures are required for the source
//! environment, only records whose signature verifies count, as `audit` counts them; on a
//! server, also its own records (found in its own audit log). Staging moving on keeps the
//! commit on it: the earliest record stays the earliest.
//!
//! [`judge`] is a pure function of that earliest time, the soak and an instant; [`run`] reads
//! the system clock (never a time from the environment) and never sleeps: a commit that has
//! not soaked long enough fails at once with the moment it becomes eligible.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use git2::{Oid, Sort};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{CheckId, CheckResult, Context, Refs};
use crate::audit::{Record, SERVER_REMOTE};
use crate::config::Environment;
use crate::model::Decision;
use crate::notes;
use crate::text::{escape, short};

/// How much earlier than the commit itself a record of its push may be and still be looked
/// at: a record from before the commit was made cannot contain it (only skewed clocks make
/// one look so). Skipping records only ever makes the soak start later.
const CLOCK_SLOP: i64 = 24 * 60 * 60;

/// When the commit reached the source environment, by the earliest record that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub at: Timestamp,
    /// The branch of the source environment it reached.
    pub branch: String,
    /// Who pushed it there, as the record names them.
    pub by: String,
    /// The time is a server's record's.
    pub server: bool,
}

/// What the trail says about the pushed commit on the source environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    Reached(Reached),
    /// No record shows it arriving; `notes` lists what was looked at or set aside.
    NoRecord,
    /// The trail could not be read.
    Unreadable(String),
}

/// Judges the soak at instant `now`. `source` names the environment soaked on, `commit` the
/// pushed commit, `local` the zone the reader reads times in (UTC where unknown). Pure.
pub fn judge(
    facts: &Facts,
    soak: Duration,
    now: Timestamp,
    local: Option<&TimeZone>,
    source: &str,
    commit: &str,
) -> CheckResult {
    let id = CheckId::Soak;
    let soak_text = soak_text(soak);
    match facts {
        Facts::Unreadable(why) => CheckResult::fail(
            id,
            format!("cannot tell how long {} has been on {source}: {why}", short(commit)),
        ),
        Facts::NoRecord => CheckResult::fail(
            id,
            format!("no record shows when {} reached {source}", short(commit)),
        )
        .with_more(vec![format!(
            "soak = \"{soak_text}\" counts from the earliest recorded push (allowed or bypassed) that put it on a {source} branch"
        )])
        .with_hint(format!(
            "push it to {source} through the gate (the record starts the soak), then promote it after {soak_text}"
        )),
        Facts::Reached(r) => {
            let since = format!(
                "on {} since {}{}",
                r.branch,
                shown(r.at, local),
                if r.server { " (the server's record)" } else { "" },
            );
            let soak_signed = SignedDuration::try_from(soak).unwrap_or(SignedDuration::MAX);
            let eligible = r.at.checked_add(soak_signed).unwrap_or(Timestamp::MAX);
            if now >= eligible {
                CheckResult::pass(
                    id,
                    format!(
                        "{since}, {} ago (soak {soak_text})",
                        span(now.duration_since(r.at))
                    ),
                )
            } else {
                CheckResult::fail(
                    id,
                    format!(
                        "eligible at {}, in {}: {since}, soak {soak_text}",
                        shown(eligible, local),
                        span(eligible.duration_since(now))
                    ),
                )
                .with_more(vec![format!(
                    "pushed to {} by {}",
                    r.branch,
                    escape(&r.by, 80)
                )])
                .with_hint("push again after that; `pushguard pending` shows it; or bypass with a justification (recorded)")
            }
        }
    }
}

/// A soak as written in the config: `24h`, `90m`, `1s`.
pub fn soak_text(soak: Duration) -> String {
    let secs = soak.as_secs();
    if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        humantime::format_duration(soak).to_string()
    }
}

/// An instant as read in `local` (`2026-12-05 14:02 (local)`), or in UTC; rounded up to the
/// minute, so the moment shown is never before the real one.
pub fn shown(at: Timestamp, local: Option<&TimeZone>) -> String {
    let seconds = at.as_second();
    let up = if at.subsec_nanosecond() > 0 || seconds.rem_euclid(60) != 0 {
        Timestamp::from_second(seconds - seconds.rem_euclid(60) + 60).unwrap_or(at)
    } else {
        at
    };
    match local {
        Some(zone) => format!(
            "{} (local)",
            up.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M")
        ),
        None => format!(
            "{} (UTC)",
            up.to_zoned(TimeZone::UTC).strftime("%Y-%m-%d %H:%M")
        ),
    }
}

/// A length of time as a person reads it: `3h 12m`, `2d 4h`, `42s`; minutes rounded up.
pub fn span(d: SignedDuration) -> String {
    let secs = (d.as_secs() + i64::from(d.subsec_nanos() > 0)).max(0);
    if secs < 60 {
        return format!("{secs}s");
    }
    let minutes = (secs + 59) / 60;
    // Up to two days in hours (`24h`, `47h 59m`), then in days.
    let days = if minutes >= 2 * 1440 {
        minutes / 1440
    } else {
        0
    };
    let (hours, mins) = ((minutes - days * 1440) / 60, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub fn run(ctx: &Context) -> CheckResult {
    let env = ctx.environment;
    let Some(soak) = env.soak else {
        return CheckResult::skip(CheckId::Soak, "no `soak` set for this environment");
    };
    let new = ctx
        .update
        .new_oid()
        .expect("deletes are skipped before the check runs");
    let Some(source) = env.promote_from.as_deref() else {
        return CheckResult::skip(CheckId::Soak, "this environment has no `promote_from`");
    };
    let now = Timestamp::now();
    let (facts, notes) = reached(ctx, soak, now);
    let local = match ctx.refs {
        Refs::Remote { .. } => super::freeze::local_zone(),
        // A server cannot know its pusher's zone.
        Refs::Own => None,
    };
    let mut result = judge(&facts, soak, now, local.as_ref(), source, new);
    result.more.extend(notes);
    result
}

/// How many commits between the pushed one and the source branches' tips the fast path looks
/// up notes on; beyond, every record is read.
const FAST_PATH_LIMIT: usize = 2000;

/// The earliest record that put the pushed commit on a branch of the source environment,
/// and lines saying what was set aside (records that do not count, a failed fetch).
///
/// Fast path first: the records attached to the commits from the pushed one up to the source
/// branches' tips (where the pushes that brought it there left their records). What they
/// show can only be later than the earliest record of all, so when it already makes the
/// commit eligible at `now` it settles the check; otherwise every record is read.
pub fn reached(ctx: &Context, soak: Duration, now: Timestamp) -> (Facts, Vec<String>) {
    let mut notes_out = Vec::new();
    let Some(source) = ctx
        .environment
        .promote_from
        .as_deref()
        .and_then(|s| ctx.config.environment(s))
    else {
        return (Facts::NoRecord, notes_out);
    };
    let Some(new) = ctx.update.new_oid() else {
        return (Facts::NoRecord, notes_out);
    };
    let git = ctx.repo.git2();
    let commit = match ctx.repo.peel_commit(new) {
        Ok(Some(c)) => c,
        _ => {
            return (
                Facts::Unreadable(format!("the pushed object {new} is not in this repository")),
                notes_out,
            )
        }
    };
    let trail_refs = fetch_records(ctx, &mut notes_out);
    let witnesses = witnesses(ctx, commit, source);
    let floor = git
        .find_commit(commit)
        .map(|c| c.committer().when().seconds() - CLOCK_SLOP)
        .unwrap_or(i64::MIN);
    let soak_signed = SignedDuration::try_from(soak).unwrap_or(SignedDuration::MAX);
    if let Some(on_path) = ancestry_path(git, &witnesses, &source_tips(ctx, source)) {
        if let Ok(some) = notes::trail::records_on(ctx.repo, &trail_refs, &on_path) {
            let mut quiet = Vec::new();
            let counted = counted(ctx, source, &some, &mut quiet);
            if let Some(r) = earliest(git, &counted, &witnesses, floor) {
                if r.at.checked_add(soak_signed).is_ok_and(|e| now >= e) {
                    notes_out.extend(quiet);
                    return (Facts::Reached(r), notes_out);
                }
            }
        }
    }
    let all = match notes::trail::records_under(ctx.repo, &trail_refs) {
        Ok(r) => r,
        Err(e) => return (Facts::Unreadable(format!("{e:#}")), notes_out),
    };
    let counted = counted(ctx, source, &all, &mut notes_out);
    (
        earliest(git, &counted, &witnesses, floor).map_or(Facts::NoRecord, Facts::Reached),
        notes_out,
    )
}

/// Brings in the remote's records (`[team] fetch_notes`) and names the trail refs to read
/// them from: the fetched copy on a client, the repository's own on a server.
fn fetch_records(ctx: &Context, out: &mut Vec<String>) -> Vec<notes::trail::TrailRef> {
    let remote = match ctx.refs {
        Refs::Own => None,
        Refs::Remote { .. } => {
            let remote = ctx.refs.shown();
            if !ctx.config.team.fetch_notes {
                out.push("used the records last fetched (`[team] fetch_notes = false`)".into());
            } else if let Err(e) = notes::trail::fetch_trail(ctx.repo, remote, notes::FETCH_TIMEOUT)
            {
                out.push(format!(
                    "used the records last fetched: fetching the remote's records failed ({e:#})"
                ));
            }
            Some(remote)
        }
    };
    match notes::trail::reader_refs(ctx.repo, remote) {
        Ok(refs) => refs,
        Err(e) => {
            out.push(format!("cannot list the trail's refs: {e:#}"));
            Vec::new()
        }
    }
}

/// The tips of the source environment's branches (as fetched; on a server, its own).
fn source_tips(ctx: &Context, source: &Environment) -> Vec<Oid> {
    match ctx.refs {
        Refs::Own => ctx
            .repo
            .branches()
            .unwrap_or_default()
            .into_iter()
            .filter(|(b, _)| source.matches(b))
            .map(|(_, t)| t)
            .collect(),
        Refs::Remote {
            name: Some(name), ..
        } => ctx
            .repo
            .remote_tracking(name)
            .map(|t| {
                t.iter()
                    .filter(|(b, _)| source.matches(b))
                    .map(|(_, t)| *t)
                    .collect()
            })
            .unwrap_or_default(),
        Refs::Remote { name: None, .. } => Vec::new(),
    }
}

/// The witnesses and every commit on a path from one of them up to one of `tips` (`git
/// rev-list --ancestry-path`); `None` when that is more than [`FAST_PATH_LIMIT`] commits.
fn ancestry_path(git: &git2::Repository, witnesses: &[Oid], tips: &[Oid]) -> Option<Vec<Oid>> {
    let mut out: Vec<Oid> = witnesses.to_vec();
    for &w in witnesses {
        let mut walk = git.revwalk().ok()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).ok()?;
        for t in tips {
            if *t != w {
                let _ = walk.push(*t);
            }
        }
        walk.hide(w).ok()?;
        let mut reach: HashSet<Oid> = HashSet::from([w]);
        for (n, oid) in walk.flatten().enumerate() {
            if n >= FAST_PATH_LIMIT {
                return None;
            }
            if git
                .find_commit(oid)
                .is_ok_and(|c| c.parent_ids().any(|p| reach.contains(&p)))
            {
                reach.insert(oid);
                if !out.contains(&oid) {
                    out.push(oid);
                }
            }
        }
    }
    Some(out)
}

/// A push as the trail shows it: its branch, tip, earliest time and whether a server
/// recorded it.
struct Push {
    branch: String,
    new: Oid,
    at: Timestamp,
    by: String,
    server: bool,
}

/// The records that count as evidence: bound to this remote, allowed or bypassed pushes to
/// a branch of `source`, trusted as `audit` trusts them. One entry per push, with the
/// server's time when the server recorded it.
fn counted(
    ctx: &Context,
    source: &Environment,
    all: &[Record],
    out: &mut Vec<String>,
) -> Vec<Push> {
    let relevant = |r: &&Record| {
        r.decision != Decision::Blocked
            && r.new.is_some()
            && r.remote_ref
                .strip_prefix("refs/heads/")
                .is_some_and(|b| source.matches(b) || r.environment == source.name)
    };
    let bound: Vec<&Record> = match ctx.refs {
        Refs::Remote { .. } => {
            let (bound, _) = crate::remote_id::bound_records(ctx.repo, ctx.refs.shown(), all);
            bound.into_iter().filter(relevant).collect()
        }
        Refs::Own => {
            let here = crate::remote_id::server_addresses(ctx.repo, ctx.config);
            all.iter()
                .filter(relevant)
                .filter(|r| r.remote == SERVER_REMOTE || crate::remote_id::bound_to(&r.url, &here))
                .collect()
        }
    };
    let trusted = trusted(ctx, bound, out);
    let mut pushes: HashMap<(String, Option<String>, String), Push> = HashMap::new();
    for r in trusted {
        let (Some(new), Ok(at)) = (r.new.as_deref(), r.time.parse::<Timestamp>()) else {
            continue;
        };
        let Ok(oid) = Oid::from_str(new) else {
            continue;
        };
        let server = r.remote == SERVER_REMOTE;
        let key = (r.remote_ref.clone(), r.old.clone(), new.to_owned());
        let branch = r
            .remote_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&r.remote_ref)
            .to_owned();
        let push = Push {
            branch,
            new: oid,
            at,
            by: r.user.name.clone(),
            server,
        };
        match pushes.get_mut(&key) {
            None => {
                pushes.insert(key, push);
            }
            // The server's record of a push replaces the client's; among equals, the earliest.
            Some(p) if (server && !p.server) || (server == p.server && at < p.at) => *p = push,
            Some(_) => {}
        }
    }
    let mut list: Vec<Push> = pushes.into_values().collect();
    list.sort_by_key(|p| p.at);
    list
}

/// The records that count where signatures are required for them (as `audit` decides), with
/// the server's own records on a server; the others named.
fn trusted<'a>(ctx: &Context, bound: Vec<&'a Record>, out: &mut Vec<String>) -> Vec<&'a Record> {
    let needs = bound
        .iter()
        .any(|r| crate::signing::required_for(ctx.config, &r.environment));
    if !needs {
        return bound;
    }
    let allowed = crate::signing::allowed_signers(ctx.repo, ctx.config)
        .ok()
        .flatten();
    let own: HashSet<String> = match ctx.refs {
        Refs::Own => crate::audit::read(&ctx.repo.state_dir())
            .map(|entries| {
                entries
                    .into_iter()
                    .filter_map(|(_, e)| e.ok())
                    .map(|(r, _)| r.to_line().1)
                    .collect()
            })
            .unwrap_or_default(),
        Refs::Remote { .. } => HashSet::new(),
    };
    let mut refused = 0;
    let mut kept = Vec::new();
    for r in bound {
        if !crate::signing::required_for(ctx.config, &r.environment) {
            kept.push(r);
            continue;
        }
        let (line, hash) = r.to_line();
        if r.remote == SERVER_REMOTE && own.contains(&hash) {
            kept.push(r);
            continue;
        }
        match crate::signing::audit_refusal(line.as_bytes(), r, allowed.as_ref()) {
            None => kept.push(r),
            Some(why) => {
                refused += 1;
                if refused <= 3 {
                    out.push(format!(
                        "not counted (signatures are required): the record of {} to {} by {} at {}: {why}",
                        short(r.new.as_deref().unwrap_or("-")),
                        escape(r.remote_ref.trim_start_matches("refs/heads/"), 60),
                        escape(&r.user.name, 60),
                        escape(&r.time, 30)
                    ));
                }
            }
        }
    }
    if refused > 3 {
        out.push(format!("… and {} more records not counted", refused - 3));
    }
    kept
}

/// The commits whose arrival on the source environment starts the soak: the pushed commit,
/// and for a promotion merge the parent or source branch tip with the same tree.
fn witnesses(ctx: &Context, commit: Oid, source: &Environment) -> Vec<Oid> {
    let git = ctx.repo.git2();
    let mut out = vec![commit];
    let Ok(c) = git.find_commit(commit) else {
        return out;
    };
    let tree = c.tree_id();
    for p in c.parents() {
        if p.tree_id() == tree {
            out.push(p.id());
        }
    }
    for t in source_tips(ctx, source) {
        if !out.contains(&t) && git.find_commit(t).is_ok_and(|c| c.tree_id() == tree) {
            out.push(t);
        }
    }
    out
}

/// The earliest push (pushes sorted by time) whose tip contains one of `witnesses`. Pushes
/// recorded before `floor` (seconds) are not looked at.
fn earliest(
    git: &git2::Repository,
    pushes: &[Push],
    witnesses: &[Oid],
    floor: i64,
) -> Option<Reached> {
    let candidates: Vec<&Push> = pushes
        .iter()
        .filter(|p| p.at.as_second() >= floor)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    // Which candidate tips contain a witness: one walk per witness over the commits the tips
    // have beyond it, parents before children.
    let mut containing: HashSet<Oid> = HashSet::new();
    for &w in witnesses {
        containing.insert(w);
        let Ok(mut walk) = git.revwalk() else {
            continue;
        };
        let _ = walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE);
        let mut pushed_any = false;
        for p in &candidates {
            if p.new != w && walk.push(p.new).is_ok() {
                pushed_any = true;
            }
        }
        if !pushed_any || walk.hide(w).is_err() {
            continue;
        }
        let mut reach: HashSet<Oid> = HashSet::from([w]);
        for oid in walk.flatten() {
            if let Ok(c) = git.find_commit(oid) {
                if c.parent_ids().any(|p| reach.contains(&p)) {
                    reach.insert(oid);
                }
            }
        }
        containing.extend(reach);
    }
    candidates
        .into_iter()
        .find(|p| containing.contains(&p.new))
        .map(|p| Reached {
            at: p.at,
            branch: p.branch.clone(),
            by: p.by.clone(),
            server: p.server,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("an RFC 3339 instant")
    }

    fn reached(text: &str) -> Facts {
        Facts::Reached(Reached {
            at: at(text),
            branch: "staging".into(),
            by: "Pat Pusher".into(),
            server: false,
        })
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn regression_issue_18_a_fresh_commit_fails_at_once_with_when_it_is_eligible() {
        let r = judge(
            &reached("2026-12-04T14:01:30Z"),
            DAY,
            at("2026-12-05T10:50:00Z"),
            Some(&TimeZone::UTC),
            "staging",
            &"a1b2c3d4e5".repeat(4),
        );
        assert_eq!(r.outcome, crate::checks::Outcome::Fail);
        assert_eq!(
            r.detail,
            "eligible at 2026-12-05 14:02 (local), in 3h 12m: on staging since 2026-12-04 14:02 (local), soak 24h"
        );
    }

    #[test]
    fn regression_issue_18_a_commit_that_soaked_long_enough_passes() {
        let r = judge(
            &reached("2026-12-04T14:00:00Z"),
            DAY,
            at("2026-12-05T14:00:00Z"),
            None,
            "staging",
            "abc",
        );
        assert_eq!(r.outcome, crate::checks::Outcome::Pass);
        assert_eq!(
            r.detail,
            "on staging since 2026-12-04 14:00 (UTC), 24h ago (soak 24h)"
        );
        // One second before, it is not.
        let r = judge(
            &reached("2026-12-04T14:00:01Z"),
            DAY,
            at("2026-12-05T14:00:00Z"),
            None,
            "staging",
            "abc",
        );
        assert_eq!(r.outcome, crate::checks::Outcome::Fail);
        assert!(r.detail.contains("in 1s"), "{}", r.detail);
    }

    #[test]
    fn regression_issue_18_no_record_fails_and_says_why() {
        let r = judge(
            &Facts::NoRecord,
            DAY,
            at("2026-12-05T14:00:00Z"),
            None,
            "staging",
            &"a1b2c3d4e5".repeat(4),
        );
        assert_eq!(r.detail, "no record shows when a1b2c3d4e5 reached staging");
    }

    #[test]
    fn eligible_times_in_a_zone_are_that_zones() {
        let berlin = TimeZone::get("Europe/Berlin").expect("tzdata");
        assert_eq!(
            shown(at("2026-12-05T13:02:00Z"), Some(&berlin)),
            "2026-12-05 14:02 (local)"
        );
        assert_eq!(
            span(SignedDuration::from_secs(3 * 3600 + 11 * 60 + 1)),
            "3h 12m"
        );
        assert_eq!(span(SignedDuration::from_secs(50 * 3600)), "2d 2h");
        assert_eq!(span(SignedDuration::from_secs(42)), "42s");
    }
}
