//! `approvals`: the environment's approval rules are met by people other than the pusher —
//! each rule's `count` seats filled by distinct approvers matching its `approvers`, one seat
//! per person, assigned by maximum bipartite matching ([`matching`]) so that the order in
//! which approvals arrive never matters. `approvals`/`approvers` is the one-rule form.
//!
//! Approvals come from `pushguard approve` notes and `Approved-by:` trailers on the pushed
//! tip. An approval is bound to what was approved: it counts for its own commit, or for
//! another commit with the identical tree only when that commit's range adds nothing the
//! approved range did not have (a rebase: every extra commit is a copy, by patch id, of an
//! approved one, or empty, or a merge that takes one side whole). An approval of another
//! tree that the push carries is named as stale; one for another environment never counts.
//! With `distinct_from_authors`, the authors of the pushed range cannot approve it either.

pub mod matching;
pub mod signed;

use std::collections::HashSet;

use git2::Oid;

use super::{CheckId, CheckResult, Context, Refs};
use crate::config::{email_glob, Rule};
use crate::git::GitDir;
use crate::notes::{self, Approval, Fetched};
use crate::text::{escape, short};

/// Where an approval was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A `pushguard approve` note.
    Note,
    /// An `Approved-by:` trailer on the pushed tip.
    Trailer,
}

/// One approval that applies to the pushed commit and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// The approver's identity: the email as written, or with signatures required the
    /// verified principal.
    pub email: String,
    pub source: Source,
    /// The principal whose signature verified (shown; with signatures required, `email`).
    pub signer: Option<String>,
}

impl Found {
    /// The identities the approver is known by: the email, or with signatures required
    /// (`email` is then the first verified principal) every principal of the signer.
    fn ids(&self) -> Vec<&str> {
        match &self.signer {
            Some(p) if super::principals(p).next() == Some(self.email.as_str()) => {
                super::principals(p).collect()
            }
            _ => vec![self.email.as_str()],
        }
    }

    fn shown(&self) -> String {
        let signed = self
            .signer
            .as_ref()
            .map(|p| format!(" (signed: {})", escape(p, 80)))
            .unwrap_or_default();
        let trailer = match self.source {
            Source::Note => "",
            Source::Trailer => " (trailer)",
        };
        format!(
            "{} <{}>{trailer}{signed}",
            escape(&self.name, 60),
            escape(&self.email, 80)
        )
    }
}

/// How the remote's approvals were brought in before checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotesFetch {
    /// Fetched (or the remote has none yet, or this is the server): the notes are the team's.
    Fetched,
    /// Not attempted (`[team].fetch_notes = false`).
    NotAttempted,
    /// Failed: only this clone's notes were used.
    Failed(String),
}

/// How far one rule is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleState {
    pub name: String,
    pub count: u32,
    /// Who may fill its seats (as configured; empty: anyone but the pusher).
    pub approvers: Vec<String>,
    /// The approvers the matching seated here, as shown.
    pub filled: Vec<String>,
}

impl RuleState {
    /// Seats still empty.
    pub fn missing(&self) -> u32 {
        self.count
            .saturating_sub(u32::try_from(self.filled.len()).unwrap_or(u32::MAX))
    }

    /// Who to ask, as a person reads it: `one of qa-*`.
    pub fn ask(&self) -> String {
        let who = if self.approvers.is_empty() {
            "anyone but the pusher".to_owned()
        } else {
            self.approvers.join(", ")
        };
        match self.missing() {
            1 if self.approvers.is_empty() => who,
            1 => format!("one of {who}"),
            n if self.approvers.is_empty() => format!("{n} people: {who}"),
            n => format!("{n} of {who}"),
        }
    }
}

/// The approvals check's verdict, with the state of each rule (for `request` and `pending`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub result: CheckResult,
    pub rules: Vec<RuleState>,
}

/// What the check is given to judge.
#[derive(Debug, Clone)]
pub struct Judging<'a> {
    pub rules: &'a [Rule],
    /// The rules come from `approvals`/`approvers`: worded as they always were.
    pub one_rule_form: bool,
    /// Addresses whose approvals are the pusher's own (empty where signatures already told).
    pub pusher: &'a [String],
    /// Authors of the pushed range, when `distinct_from_authors` is set.
    pub authors: &'a [String],
    /// Approvals of the pushed commit for this environment, earliest first.
    pub found: &'a [Found],
    /// Lines about approvals that were not counted before judging (stale, forged, …).
    pub not_counted: &'a [String],
    pub fetch: &'a NotesFetch,
    pub commit: &'a str,
    pub environment: &'a str,
}

/// Judges the approvals found against the environment's rules. Pure.
pub fn judge(j: &Judging) -> Evaluation {
    let id = CheckId::Approvals;
    if j.rules.is_empty() {
        return Evaluation {
            result: CheckResult::pass(id, "none required (approvals = 0)"),
            rules: Vec::new(),
        };
    }
    let same = |a: &str, b: &str| !b.is_empty() && a.eq_ignore_ascii_case(b);
    let mut more: Vec<String> = j.not_counted.to_vec();
    let mut people: Vec<&Found> = Vec::new();
    let mut own = false;
    for f in j.found {
        let ids = f.ids();
        if people
            .iter()
            .any(|p| p.ids().iter().any(|a| ids.iter().any(|b| same(a, b))))
        {
            continue;
        }
        if ids.iter().any(|i| j.pusher.iter().any(|p| same(i, p))) {
            own = true;
            continue;
        }
        if ids.iter().any(|i| j.authors.iter().any(|a| same(i, a))) {
            push_once(
                &mut more,
                format!(
                    "not counted: {}: an author of the pushed range (`distinct_from_authors = true`)",
                    f.shown()
                ),
            );
            continue;
        }
        people.push(f);
    }
    let matchers: Vec<Vec<globset::GlobMatcher>> = j
        .rules
        .iter()
        .map(|r| {
            r.approvers
                .iter()
                .filter_map(|p| email_glob(p).ok())
                .collect()
        })
        .collect();
    let eligible_for = |rule: usize, f: &Found| {
        j.rules[rule].approvers.is_empty()
            || f.ids()
                .iter()
                .any(|i| matchers[rule].iter().any(|m| m.is_match(i)))
    };
    let mut seated: Vec<&Found> = Vec::new();
    for f in &people {
        if (0..j.rules.len()).any(|r| eligible_for(r, f)) {
            seated.push(f);
        } else if j.one_rule_form {
            push_once(
                &mut more,
                format!(
                    "not counted: {} <{}> is not in `approvers`",
                    escape(&f.name, 60),
                    escape(&f.email, 80)
                ),
            );
        } else {
            push_once(
                &mut more,
                format!(
                    "not counted: {} <{}> is in no rule's `approvers`",
                    escape(&f.name, 60),
                    escape(&f.email, 80)
                ),
            );
        }
    }
    let mut seat_rule = Vec::new();
    let mut eligible = Vec::new();
    for (r, rule) in j.rules.iter().enumerate() {
        for _ in 0..rule.count {
            seat_rule.push(r);
            eligible.push(
                (0..seated.len())
                    .filter(|&p| eligible_for(r, seated[p]))
                    .collect::<Vec<_>>(),
            );
        }
    }
    let assigned = matching::assign(&eligible, seated.len());
    let mut states: Vec<RuleState> = j
        .rules
        .iter()
        .map(|r| RuleState {
            name: r.name.clone(),
            count: r.count,
            approvers: r.approvers.clone(),
            filled: Vec::new(),
        })
        .collect();
    let mut rule_of_person: Vec<Option<usize>> = vec![None; seated.len()];
    for (seat, person) in assigned.iter().enumerate() {
        if let Some(p) = person {
            states[seat_rule[seat]].filled.push(seated[*p].shown());
            rule_of_person[*p] = Some(seat_rule[seat]);
        }
    }
    if j.one_rule_form {
        // One rule: everyone it counts is named, as this check always showed them.
        states[0].filled = seated.iter().map(|f| f.shown()).collect();
    }
    if own {
        more.push(
            "not counted: your own approval (the pusher cannot approve their own push)".into(),
        );
    }
    match j.fetch {
        NotesFetch::Failed(why) => more.push(format!(
            "used local notes only: fetching the remote's approvals failed ({why})"
        )),
        NotesFetch::NotAttempted => {
            more.push("used local notes only (the remote's approvals were not fetched)".into())
        }
        NotesFetch::Fetched => {}
    }
    let met = states.iter().all(|s| s.missing() == 0);
    let commit = short(j.commit);
    let result = if j.one_rule_form {
        let s = &states[0];
        let summary = format!(
            "{} of {} approval{}{}{}",
            s.filled.len(),
            s.count,
            if s.count == 1 { "" } else { "s" },
            if s.filled.is_empty() { "" } else { ": " },
            s.filled.join(", ")
        );
        if met {
            CheckResult::pass(id, summary).with_more(more)
        } else {
            CheckResult::fail(
                id,
                format!("{summary} (approvals by others than the pusher needed)"),
            )
            .with_more(more)
            .with_hint(format!(
                "ask an approver to run `pushguard approve {commit} --env {}`, then push again",
                j.environment
            ))
        }
    } else {
        let seats: u32 = states.iter().map(|s| s.count).sum();
        let filled: usize = states.iter().map(|s| s.filled.len()).sum();
        let mut lines = Vec::new();
        for (r, s) in states.iter().enumerate() {
            let mut line = format!("{}: {} of {}", s.name, s.filled.len(), s.count);
            if !s.filled.is_empty() {
                line.push_str(&format!(" — {}", s.filled.join(", ")));
            }
            if s.missing() > 0 {
                line.push_str(&format!(
                    "{} ask {}",
                    if s.filled.is_empty() { " —" } else { ";" },
                    s.ask()
                ));
                // Someone who could sit here already fills another rule's seat.
                let elsewhere: Vec<String> = (0..seated.len())
                    .filter(|&p| eligible_for(r, seated[p]))
                    .filter_map(|p| {
                        rule_of_person[p].filter(|&o| o != r).map(|o| {
                            format!("{} fills {}", escape(&seated[p].name, 60), states[o].name)
                        })
                    })
                    .collect();
                if !elsewhere.is_empty() {
                    line.push_str(&format!(
                        " ({}: one person fills one seat)",
                        elsewhere.join(", ")
                    ));
                }
            }
            lines.push(line);
        }
        if met {
            let who: Vec<String> = states
                .iter()
                .map(|s| format!("{} ← {}", s.name, s.filled.join(", ")))
                .collect();
            CheckResult::pass(
                id,
                format!(
                    "{filled} of {seats} seats, every rule met: {}",
                    who.join("; ")
                ),
            )
            .with_more(more)
        } else {
            lines.extend(more);
            let unmet: Vec<String> = states
                .iter()
                .filter(|s| s.missing() > 0)
                .map(|s| s.ask())
                .collect();
            CheckResult::fail(
                id,
                format!("{filled} of {seats} seats filled (each by a different person, never the pusher)"),
            )
            .with_more(lines)
            .with_hint(format!(
                "ask {} to run `pushguard approve {commit} --env {env}` (`pushguard request {commit} --env {env}` tells them), then push again",
                unmet.join(" and "),
                env = j.environment
            ))
        }
    };
    Evaluation {
        result,
        rules: states,
    }
}

fn push_once(lines: &mut Vec<String>, line: String) {
    if !lines.contains(&line) {
        lines.push(line);
    }
}

pub fn run(ctx: &Context) -> CheckResult {
    evaluate(ctx).result
}

/// Evaluates the environment's approval rules for the pushed commit: the check's result and
/// each rule's state.
pub fn evaluate(ctx: &Context) -> Evaluation {
    let env = ctx.environment;
    let new = ctx
        .update
        .new_oid()
        .expect("deletes are skipped before the check runs");
    let rules = env.rules();
    if rules.is_empty() {
        return judge(&Judging {
            rules: &[],
            one_rule_form: true,
            pusher: &[],
            authors: &[],
            found: &[],
            not_counted: &[],
            fetch: &NotesFetch::Fetched,
            commit: new,
            environment: &env.name,
        });
    }
    let fetch = fetch_notes(ctx);
    let gathered = if crate::signing::required(ctx.config, env) {
        // Only a key tells the pusher apart here (a signed push on a server).
        signed::gather(ctx, new)
    } else {
        match ctx.pusher.emails() {
            None => Err(unknown_pusher(ctx.pusher)),
            Some(pusher) => gather(ctx, new, &Verify::Shown).map(|g| Gathered { pusher, ..g }),
        }
    };
    let mut gathered = match gathered {
        Ok(g) => g,
        Err(result) => return fail_all(result, &rules),
    };
    // An entry that is not pushguard's (an approval written by hand) is dropped, and said so
    // (issue 24, item 5): a count of "0 of 1" with nothing named hides it.
    if let Ok(Some(commit)) = ctx.repo.peel_commit(new) {
        let n = notes::unreadable_approvals(ctx.repo, commit);
        if n > 0 {
            gathered.not_counted.push(format!(
                "not counted: {n} {} in the approvals note on {} that pushguard cannot read (not written by `pushguard approve`)",
                if n == 1 { "entry" } else { "entries" },
                short(new)
            ));
        }
    }
    let authors = if env.distinct_from_authors {
        match authors(ctx) {
            Ok(a) => a,
            Err(e) => {
                return fail_all(
                    CheckResult::fail(
                        CheckId::Approvals,
                        format!(
                        "cannot read the pushed range's authors (`distinct_from_authors`): {e:#}"
                    ),
                    ),
                    &rules,
                )
            }
        }
    } else {
        Vec::new()
    };
    judge(&Judging {
        rules: &rules,
        one_rule_form: env.approval_rules.is_empty(),
        pusher: &gathered.pusher,
        authors: &authors,
        found: &gathered.found,
        not_counted: &gathered.not_counted,
        fetch: &fetch,
        commit: new,
        environment: &env.name,
    })
}

/// A failure before any approval was weighed: every rule unmet.
fn fail_all(result: CheckResult, rules: &[Rule]) -> Evaluation {
    Evaluation {
        result,
        rules: rules
            .iter()
            .map(|r| RuleState {
                name: r.name.clone(),
                count: r.count,
                approvers: r.approvers.clone(),
                filled: Vec::new(),
            })
            .collect(),
    }
}

/// The author addresses of what the push brings to the environment branch.
fn authors(ctx: &Context) -> anyhow::Result<Vec<String>> {
    let git = ctx.repo.git2();
    let mut out: Vec<String> = Vec::new();
    let new = super::range::pushed_commit(ctx)?;
    let brought = carried(ctx, new)?;
    if brought.len() >= CARRIED_LIMIT {
        anyhow::bail!(
            "the push brings {CARRIED_LIMIT} commits or more to the branch, too many to read their authors"
        );
    }
    for oid in &brought {
        let commit = git.find_commit(*oid)?;
        let author = commit.author();
        if let Some(email) = author.email() {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(email)) {
                out.push(email.to_owned());
            }
        }
    }
    Ok(out)
}

/// Fails closed when the pusher cannot be told apart from the approvers: counting an
/// approval that may be the pusher's own would let anyone approve their own push.
fn unknown_pusher(pusher: &super::Pusher) -> CheckResult {
    let why = match pusher {
        super::Pusher::Named { identity, by, .. } => format!(
            "the pusher is known only as the user `{}` (from {by}), and approvals name email addresses, so an approval may be the pusher's own",
            identity.name
        ),
        super::Pusher::Unknown { why } => why.clone(),
        super::Pusher::Configured(_) | super::Pusher::Certified { .. } => {
            "the pusher is unknown".to_owned()
        }
    };
    CheckResult::fail(
        CheckId::Approvals,
        "cannot count approvals: the pusher cannot be told apart from the approvers",
    )
    .with_more(vec![why])
    .with_hint("map the server's user names to their email addresses in the server's pushguard.toml (`[server] users`), or name pushers by email (GITEA_PUSHER_EMAIL)")
}

/// Brings in the remote's approvals before checking (`[team].fetch_notes`). A dry run
/// fetches too, so that `pushguard check` predicts what the hook will decide.
pub(crate) fn fetch_notes(ctx: &Context) -> NotesFetch {
    fetch_team_notes(ctx, notes::APPROVALS)
}

/// Brings in the remote's notes of `which` (approvals, waivers) before a check reads them,
/// as `[team].fetch_notes` says.
pub(crate) fn fetch_team_notes(ctx: &Context, which: notes::NotesRef) -> NotesFetch {
    let Refs::Remote { .. } = ctx.refs else {
        // The receiving repository's own notes are the ones everybody fetches.
        return NotesFetch::Fetched;
    };
    if !ctx.config.team.fetch_notes {
        return NotesFetch::NotAttempted;
    }
    let remote = ctx.refs.shown();
    match notes::fetch(ctx.repo, remote, which, notes::FETCH_TIMEOUT) {
        Ok(Fetched::Updated | Fetched::Missing) => NotesFetch::Fetched,
        Err(e) => NotesFetch::Failed(format!("{e:#}")),
    }
}

/// Runs the check through git alone (a SHA-256 repository): `pushguard approve` notes read
/// with `git notes` (this clone's and, on a client, the remote's as fetched now) and the
/// pushed commit's trailers. Signed approvals cannot be checked there yet: with signatures
/// required the check fails and says so.
pub fn run_via_git(
    git: &GitDir,
    config: &crate::config::Config,
    env: &crate::config::Environment,
    refs: Refs,
    pusher: &super::Pusher,
    new: &str,
) -> CheckResult {
    let rules = env.rules();
    let judging = |pusher: &[String], found: &[Found], fetch: &NotesFetch| {
        judge(&Judging {
            rules: &rules,
            one_rule_form: env.approval_rules.is_empty(),
            pusher,
            authors: &[],
            found,
            not_counted: &[],
            fetch,
            commit: new,
            environment: &env.name,
        })
        .result
    };
    if rules.is_empty() {
        return judging(&[], &[], &NotesFetch::Fetched);
    }
    if env.distinct_from_authors {
        return CheckResult::fail(
            CheckId::Approvals,
            "cannot run: `distinct_from_authors` reads the pushed range's authors through libgit2, which cannot read this repository's SHA-256 object names yet",
        )
        .with_hint("bypass with a justification (it is recorded), or push from a SHA-1 repository");
    }
    if crate::signing::required(config, env) {
        return CheckResult::fail(
            CheckId::Approvals,
            "cannot run: signed approvals are verified through libgit2, which cannot read this repository's SHA-256 object names yet",
        )
        .with_hint("bypass with a justification (it is recorded), or push from a SHA-1 repository");
    }
    let Some(pusher_emails) = pusher.emails() else {
        return unknown_pusher(pusher);
    };
    let mut notes_refs = vec![notes::APPROVALS.full()];
    let fetch = match refs {
        Refs::Own => NotesFetch::Fetched,
        Refs::Remote { .. } if !config.team.fetch_notes => NotesFetch::NotAttempted,
        Refs::Remote { .. } => {
            let remote = refs.shown();
            let tracking = notes::APPROVALS.tracking(remote);
            let refspec = format!("+{}:{tracking}", notes::APPROVALS.full());
            let args = [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                remote,
                &refspec,
            ];
            match git.run_bounded(&args, notes::FETCH_TIMEOUT) {
                Ok(out) if out.success => {
                    notes_refs.push(tracking);
                    NotesFetch::Fetched
                }
                Ok(out) if out.stderr.contains("couldn't find remote ref") => NotesFetch::Fetched,
                Ok(out) => NotesFetch::Failed(out.stderr_summary()),
                Err(e) => NotesFetch::Failed(format!("{e:#}")),
            }
        }
    };
    let found = (|| -> anyhow::Result<Vec<Found>> {
        let commit = git
            .peel_commit(new)
            .ok_or_else(|| anyhow::anyhow!("the pushed object {new} is not in this repository"))?;
        let tree = git.tree_of(&commit)?;
        let mut out = Vec::new();
        for notes_ref in &notes_refs {
            for (annotated, text) in git.notes(notes_ref)? {
                for a in notes::parse_approvals(&text) {
                    // The tree the approval names: its own commit's, as `approve` wrote it.
                    if a.environment == env.name && (annotated == commit || a.tree == tree) {
                        out.push(Found {
                            name: a.name,
                            email: a.email,
                            source: Source::Note,
                            signer: None,
                        });
                    }
                }
            }
        }
        let mut message = String::new();
        git.messages(&[&commit], &mut |_, m| {
            message = String::from_utf8_lossy(m).into_owned();
        })?;
        out.extend(trailers(&message));
        Ok(out)
    })();
    match found {
        Ok(found) => judging(&pusher_emails, &found, &fetch),
        Err(e) => CheckResult::fail(CheckId::Approvals, format!("cannot read approvals: {e:#}")),
    }
}

/// What was gathered for judging: the approvals that count, what was set aside and why,
/// and the addresses that are the pusher's.
pub(crate) struct Gathered {
    pub found: Vec<Found>,
    pub not_counted: Vec<String>,
    pub pusher: Vec<String>,
}

/// How a bound approval is vouched for.
pub(crate) enum Verify<'a> {
    /// Without signatures required: counted as written, the verified signer shown.
    Shown,
    /// With signatures required: only a signature that verifies counts, never the pusher's.
    Required(&'a crate::signing::AllowedSigners, &'a signed::Pusher),
}

/// How an approval relates to the pushed commit.
enum Relation {
    /// It approved the pushed commit, or a commit the pushed one rebases.
    Bound,
    /// It approved something the push carries, but not what is pushed: why.
    Stale(String),
    /// Nothing to do with this push.
    Unrelated,
}

/// The pushed commit and what its range holds.
struct Pushed<'r> {
    commit: git2::Commit<'r>,
    tree: Oid,
    /// The pushed range (what the remote does not have yet).
    range: Vec<Oid>,
    in_range: HashSet<Oid>,
    /// What the push brings to the environment branch: the commits reachable from the pushed
    /// one and not from the branch's tip (all of them for a new branch), up to [`CARRIED_LIMIT`].
    carried: HashSet<Oid>,
}

/// The most commits [`carried`] walks.
const CARRIED_LIMIT: usize = 10_000;

/// The commits the push brings to the environment branch: reachable from `new` and not from
/// the branch's tip before the push (where this repository has it), newest first.
fn carried(ctx: &Context, new: Oid) -> anyhow::Result<Vec<Oid>> {
    let git = ctx.repo.git2();
    let mut walk = git.revwalk()?;
    walk.push(new)?;
    if let Some(old) = ctx.update.old_oid() {
        if let Ok(Some(old)) = ctx.repo.peel_commit(old) {
            walk.hide(old)?;
        }
    }
    let mut out = Vec::new();
    for oid in walk.take(CARRIED_LIMIT) {
        out.push(oid?);
    }
    Ok(out)
}

/// The approvals of the pushed commit for this environment (from notes and trailers), bound
/// to what they approved; stale and refused ones named.
pub(crate) fn gather(ctx: &Context, new: &str, verify: &Verify) -> Result<Gathered, CheckResult> {
    let fail = |d: String| CheckResult::fail(CheckId::Approvals, d);
    let git = ctx.repo.git2();
    let commit = match ctx.repo.peel_commit(new) {
        Ok(Some(c)) => c,
        _ => {
            return Err(fail(format!(
                "the pushed object {new} is not in this repository"
            )))
        }
    };
    let Ok(commit) = git.find_commit(commit) else {
        return Err(fail(format!("the pushed object {new} is not a commit")));
    };
    let range = ctx
        .pushed_commits()
        .map(<[Oid]>::to_vec)
        .unwrap_or_default();
    let carried = carried(ctx, commit.id())
        .map_err(|e| fail(format!("cannot walk what the push brings: {e:#}")))?;
    let pushed = Pushed {
        tree: commit.tree_id(),
        in_range: range.iter().copied().collect(),
        carried: carried.into_iter().chain(range.iter().copied()).collect(),
        range,
        commit,
    };
    let approvals = notes::all_approvals(ctx.repo)
        .map_err(|e| fail(format!("cannot read approvals: {e:#}")))?;
    let allowed_for_display = match verify {
        Verify::Shown => crate::signing::allowed_signers(ctx.repo, ctx.config)
            .ok()
            .flatten(),
        Verify::Required(..) => None,
    };
    let mut all: Vec<(Oid, Approval)> = approvals;
    all.sort_by(|a, b| a.1.time.cmp(&b.1.time));
    let mut out = Gathered {
        found: Vec::new(),
        not_counted: Vec::new(),
        pusher: Vec::new(),
    };
    let env = &ctx.environment.name;
    let pushed_id = pushed.commit.id();
    for (annotated, a) in all {
        let approved = Oid::from_str(&a.commit).unwrap_or(annotated);
        let claimed = format!("{} <{}>", escape(&a.name, 60), escape(&a.email, 80));
        if &a.environment != env {
            if approved == pushed_id || annotated == pushed_id {
                push_once(
                    &mut out.not_counted,
                    format!(
                        "not counted: {claimed} approved it for {}, not {env} (an approval counts for its environment only)",
                        escape(&a.environment, 40)
                    ),
                );
            }
            continue;
        }
        let relation = relation(ctx, &pushed, approved, &a);
        if matches!(relation, Relation::Unrelated) {
            continue;
        }
        // The signature is checked first: a forged approval is named as forged, not stale.
        let signer = match verify {
            Verify::Shown => allowed_for_display.as_ref().and_then(|allowed| {
                let sig = a.signature.as_ref()?;
                let payload = crate::signing::approval_payload(&a.environment, &a.commit, &a.tree);
                crate::signing::verify(allowed, crate::signing::APPROVAL_NAMESPACE, &payload, sig)
                    .ok()
                    .map(|v| v.principal)
            }),
            Verify::Required(allowed, pusher) => match signed::verified(allowed, pusher, &a) {
                Ok(principal) => Some(principal),
                Err(why) => {
                    out.not_counted
                        .push(format!("not counted: {claimed}: {why}"));
                    continue;
                }
            },
        };
        match relation {
            Relation::Stale(why) => push_once(
                &mut out.not_counted,
                format!(
                    "not counted (stale): approved {} by {claimed}, {why}",
                    short(&approved.to_string())
                ),
            ),
            Relation::Bound => out.found.push(match (verify, signer) {
                (Verify::Required(..), Some(principal)) => Found {
                    name: a.name,
                    email: signed::first_principal(&principal),
                    source: Source::Note,
                    signer: Some(principal),
                },
                (_, signer) => Found {
                    name: a.name,
                    email: a.email,
                    source: Source::Note,
                    signer,
                },
            }),
            Relation::Unrelated => {}
        }
    }
    let message = pushed.commit.message().unwrap_or_default().to_owned();
    match verify {
        Verify::Shown => {
            let commit_signer = allowed_for_display
                .as_ref()
                .and_then(|allowed| signed::commit_signer(git, pushed_id, allowed).ok());
            out.found
                .extend(trailers(&message).into_iter().map(|t| Found {
                    signer: commit_signer.as_ref().map(|v| v.principal.clone()),
                    ..t
                }));
        }
        Verify::Required(allowed, pusher) => {
            signed::signed_trailers(git, pushed_id, &message, allowed, pusher, &mut out)
        }
    }
    Ok(out)
}

/// How approval `a` (of `approved`) relates to the pushed commit.
fn relation(ctx: &Context, pushed: &Pushed, approved: Oid, a: &Approval) -> Relation {
    let git = ctx.repo.git2();
    if approved == pushed.commit.id() {
        return Relation::Bound;
    }
    let same_tree_claimed = a.tree == pushed.tree.to_string();
    let in_range = pushed.carried.contains(&approved);
    if !same_tree_claimed && !in_range {
        return Relation::Unrelated;
    }
    let Ok(approved_commit) = git.find_commit(approved) else {
        return Relation::Stale(
            "which is not in this clone, so what it approved cannot be compared (run `git fetch`)"
                .to_owned(),
        );
    };
    let approved_tree = approved_commit.tree_id();
    if approved_tree != pushed.tree {
        if !in_range {
            // The note says the same tree, the commit says otherwise: it says nothing true.
            return Relation::Unrelated;
        }
        let files = files_differing(git, approved_tree, pushed.tree);
        return Relation::Stale(format!(
            "tree differs in {files} file{} (an approval counts for what was approved)",
            if files == 1 { "" } else { "s" }
        ));
    }
    match adds_beyond(git, approved, pushed) {
        Ok(None) => Relation::Bound,
        Ok(Some(what)) => Relation::Stale(format!(
            "same tree, but the pushed range adds {what}, which the approved range does not have"
        )),
        Err(e) => Relation::Stale(format!(
            "same tree, but its range cannot be compared: {e:#}"
        )),
    }
}

/// How many files differ between two trees.
fn files_differing(git: &git2::Repository, a: Oid, b: Oid) -> usize {
    let (Ok(a), Ok(b)) = (git.find_tree(a), git.find_tree(b)) else {
        return 0;
    };
    git.diff_tree_to_tree(Some(&a), Some(&b), None)
        .map(|d| d.deltas().len())
        .unwrap_or(0)
}

/// The most commits an approved range is walked for its patch ids.
const REBASE_WALK_LIMIT: usize = 10_000;

/// What the pushed commit's range adds beyond `approved` (a commit with the same tree), if
/// anything: each commit the push brings that `approved` does not contain must be empty, a
/// copy (by patch id) of a commit of the approved range, or a merge that takes one side
/// whole. `None`: the push is a rebase of what was approved.
fn adds_beyond(
    git: &git2::Repository,
    approved: Oid,
    pushed: &Pushed,
) -> anyhow::Result<Option<String>> {
    // Where the pushed range stops: what the remote has already.
    let mut base: Vec<Oid> = Vec::new();
    for oid in &pushed.range {
        for parent in git.find_commit(*oid)?.parent_ids() {
            if !pushed.in_range.contains(&parent) && !base.contains(&parent) {
                base.push(parent);
            }
        }
    }
    // Oldest first, so that the commit named is where the addition came in.
    let walk = |push: Oid, hide: &[Oid]| -> anyhow::Result<Vec<Oid>> {
        let mut w = git.revwalk()?;
        w.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        w.push(push)?;
        for h in hide {
            w.hide(*h)?;
        }
        let mut out = Vec::new();
        for oid in w {
            out.push(oid?);
            if out.len() > REBASE_WALK_LIMIT {
                anyhow::bail!("more than {REBASE_WALK_LIMIT} commits");
            }
        }
        Ok(out)
    };
    let mut hide = base.clone();
    hide.push(approved);
    let extra = walk(pushed.commit.id(), &hide)?;
    if extra.is_empty() {
        return Ok(None);
    }
    let mut approved_patches: HashSet<Oid> = HashSet::new();
    for oid in walk(approved, &base)? {
        if let Some(id) = patch_id(git, oid)? {
            approved_patches.insert(id);
        }
    }
    for oid in extra {
        let c = git.find_commit(oid)?;
        let adds = if c.parent_count() > 1 {
            let tree = c.tree_id();
            !c.parents().any(|p| p.tree_id() == tree)
        } else {
            patch_id(git, oid)?.is_some_and(|id| !approved_patches.contains(&id))
        };
        if adds {
            return Ok(Some(format!(
                "{} ({})",
                short(&oid.to_string()),
                escape(c.summary().unwrap_or_default(), 60)
            )));
        }
    }
    Ok(None)
}

/// The patch id of a non-merge commit's change (`None`: a merge, or an empty change).
fn patch_id(git: &git2::Repository, oid: Oid) -> anyhow::Result<Option<Oid>> {
    let c = git.find_commit(oid)?;
    if c.parent_count() > 1 {
        return Ok(None);
    }
    let parent = match c.parent_count() {
        0 => None,
        _ => Some(c.parent(0)?.tree()?),
    };
    let diff = git.diff_tree_to_tree(parent.as_ref(), Some(&c.tree()?), None)?;
    if diff.deltas().len() == 0 {
        return Ok(None);
    }
    Ok(Some(diff.patchid(None)?))
}

/// `Approved-by: Name <email>` trailers of a commit message.
pub fn trailers(message: &str) -> Vec<Found> {
    let Ok(trailers) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    trailers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("approved-by"))
        .filter_map(|(_, value)| {
            let (name, rest) = value.split_once('<')?;
            let email = rest.strip_suffix('>')?.trim();
            (!email.is_empty()).then(|| Found {
                name: name.trim().to_owned(),
                email: email.to_owned(),
                source: Source::Trailer,
                signer: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn f(email: &str) -> Found {
        Found {
            name: email.split('@').next().unwrap_or("N").to_owned(),
            email: email.into(),
            source: Source::Note,
            signer: None,
        }
    }

    fn rule(name: &str, count: u32, approvers: &[&str]) -> Rule {
        Rule {
            name: name.into(),
            count,
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn judged(rules: &[Rule], one: bool, authors: &[&str], found: &[Found]) -> Evaluation {
        let authors: Vec<String> = authors.iter().map(|s| s.to_string()).collect();
        judge(&Judging {
            rules,
            one_rule_form: one,
            pusher: &["pat@example.com".to_owned()],
            authors: &authors,
            found,
            not_counted: &[],
            fetch: &NotesFetch::Fetched,
            commit: &"a".repeat(40),
            environment: "production",
        })
    }

    fn j(required: u32, approvers: &[&str], found: &[Found]) -> CheckResult {
        let rules = if required == 0 {
            Vec::new()
        } else {
            vec![rule("approvals", required, approvers)]
        };
        judged(&rules, true, &[], found).result
    }

    #[test]
    fn counts_distinct_others() {
        assert_eq!(j(0, &[], &[]).outcome, Outcome::Pass);
        assert!(j(0, &[], &[]).detail.contains("none required"));
        assert_eq!(j(1, &[], &[f("ada@example.com")]).outcome, Outcome::Pass);
        let twice = j(2, &[], &[f("ada@example.com"), f("ADA@example.com")]);
        assert_eq!(twice.outcome, Outcome::Fail);
        assert!(
            twice.detail.starts_with("1 of 2 approvals"),
            "{}",
            twice.detail
        );
    }

    #[test]
    fn own_approval_is_ignored_and_said() {
        let r = j(1, &[], &[f("Pat@Example.com")]);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.more.iter().any(|m| m.contains("your own approval")));
        assert_eq!(
            r.hint.as_deref(),
            Some("ask an approver to run `pushguard approve aaaaaaaaaa --env production`, then push again")
        );
    }

    #[test]
    fn approvers_restrict_who_counts() {
        let r = j(1, &["*@leads.example"], &[f("bob@example.com")]);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.more[0].contains("not in `approvers`"));
        assert_eq!(
            j(1, &["*@leads.example"], &[f("ada@leads.example")]).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn failed_fetch_is_reported() {
        let rules = [rule("approvals", 1, &[])];
        let r = judge(&Judging {
            rules: &rules,
            one_rule_form: true,
            pusher: &["pat@example.com".to_owned()],
            authors: &[],
            found: &[f("ada@example.com")],
            not_counted: &[],
            fetch: &NotesFetch::Failed("timeout".into()),
            commit: "abc",
            environment: "production",
        })
        .result;
        assert_eq!(r.outcome, Outcome::Pass);
        assert!(r.more[0].starts_with("used local notes only"));
    }

    #[test]
    fn regression_issue_18_one_person_in_two_groups_fills_one_seat_and_the_report_says_what_is_missing(
    ) {
        let rules = [
            rule("leads", 1, &["*@leads.example", "alice@example.com"]),
            rule("qa", 1, &["qa-*"]),
        ];
        let both = Found {
            name: "Quinn".into(),
            email: "qa-quinn@leads.example".into(),
            source: Source::Note,
            signer: None,
        };
        let e = judged(&rules, false, &[], std::slice::from_ref(&both));
        assert_eq!(e.result.outcome, Outcome::Fail);
        assert_eq!(
            e.result.detail,
            "1 of 2 seats filled (each by a different person, never the pusher)"
        );
        assert_eq!(
            e.result.more,
            [
                "leads: 1 of 1 — Quinn <qa-quinn@leads.example>",
                "qa: 0 of 1 — ask one of qa-* (Quinn fills leads: one person fills one seat)"
            ]
        );
        assert_eq!(e.rules[1].missing(), 1);
        let e = judged(&rules, false, &[], &[both, f("alice@example.com")]);
        assert_eq!(e.result.outcome, Outcome::Pass, "{:?}", e.result);
        assert_eq!(
            e.result.detail,
            "2 of 2 seats, every rule met: leads ← alice <alice@example.com>; qa ← Quinn <qa-quinn@leads.example>"
        );
    }

    #[test]
    fn regression_issue_18_three_approvals_in_the_worst_order_meet_a_satisfiable_set() {
        let rules = [
            rule("leads", 1, &["ada@*", "carol@*"]),
            rule("qa", 1, &["ada@*", "bob@*"]),
            rule("ops", 1, &["bob@*"]),
        ];
        let order = [
            f("ada@example.com"),
            f("bob@example.com"),
            f("carol@example.com"),
        ];
        let e = judged(&rules, false, &[], &order[..2]);
        assert_eq!(e.result.outcome, Outcome::Fail);
        let e = judged(&rules, false, &[], &order);
        assert_eq!(e.result.outcome, Outcome::Pass, "{:?}", e.result);
        assert!(
            e.result.detail.contains("leads ← carol"),
            "{}",
            e.result.detail
        );
    }

    #[test]
    fn regression_issue_18_authors_do_not_approve_with_distinct_from_authors() {
        let rules = [rule("leads", 1, &[])];
        let e = judged(&rules, false, &["Ada@example.com"], &[f("ada@example.com")]);
        assert_eq!(e.result.outcome, Outcome::Fail);
        assert!(e
            .result
            .more
            .iter()
            .any(|m| m.contains("an author of the pushed range")));
    }

    #[test]
    fn trailers_are_parsed() {
        let found = trailers(
            "Ship it\n\nBody.\n\nApproved-by: Ada Lead <ada@example.com>\nSigned-off-by: P <p@x>\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].email, "ada@example.com");
        assert_eq!(found[0].source, Source::Trailer);
    }
}
