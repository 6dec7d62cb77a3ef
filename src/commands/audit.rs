//! `pushguard audit`: judges each environment branch's current tip on the remote (as
//! fetched) against the team's audit records (the remote's trail: every writer's ref under
//! `refs/notes/pushguard-audit.d/` and the single `refs/notes/pushguard-audit` of earlier
//! versions, [`notes::trail`]).
//!
//! The rule is the tip's, not the history's: a branch passes when its tip is the `new` of an
//! `allowed` or `bypassed` record of a push of that branch to that remote. Anything else is
//! UNRECORDED — a tip no record names (pushed with `--no-verify`, from a clone without the
//! hook, or by a tool that runs no hooks), a remote without notes, a branch never gated, an
//! environment branch deleted outside the gate. The shape of the history never decides: the
//! commits since the last recorded tip are listed for the reader only.
//!
//! Which branches are environments comes from the trail as well as from the checkout: a
//! branch with records is audited whatever the audited commit's `.pushguard.toml` says, and
//! only records bound to the audited remote ([`crate::remote_id`]) count.
//!
//! A trail is append-only. Records it held and no longer holds — dropped by a notes commit
//! in its history, or gone from a ref this clone fetched before — are listed, and the audit
//! fails (exit 1) whatever the tips say: the trail it judges by was tampered with.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use git2::{Oid, Sort};

use crate::audit::Record;
use crate::config::{self, Config, Location};
use crate::gate::Decision;
use crate::git::Repo;
use crate::outcome::{Exit, WithHint};
use crate::text::escape;
use crate::text::short;
use crate::{notes, remote_id};

/// How long fetching the remote's branches may take.
const FETCH_BRANCHES_TIMEOUT: Duration = Duration::from_secs(120);
/// How many commits since the last recorded tip are listed per branch.
const LISTED: usize = 10;
/// How far the listing walks before it stops counting.
const WALK_LIMIT: usize = 1000;

/// Why a branch's tip is UNRECORDED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrecorded {
    /// The remote has no audit notes at all (never shared, or the notes ref was deleted).
    NoNotes,
    /// No record of a push of this branch to this remote exists: it was never gated.
    NeverGated,
    /// Records exist, but none of an allowed or bypassed push names the current tip.
    TipNotRecorded,
    /// The branch is gone from the remote and no record says it was deleted through the gate.
    Deleted,
}

/// What the audit found for one environment branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement<'a> {
    /// The tip is the `new` of this allowed or bypassed record.
    Recorded(&'a Record),
    /// The branch was deleted through the gate (this record).
    DeletedThroughGate(&'a Record),
    Unrecorded(Unrecorded),
}

impl Judgement<'_> {
    fn is_unrecorded(&self) -> bool {
        matches!(self, Judgement::Unrecorded(_))
    }
}

/// Judges one branch: `tip` as the remote has it (`None`: the branch is gone), `records`
/// the records of pushes of this branch to this remote (any order), `notes` whether the
/// remote has audit notes at all.
pub fn judge<'a>(tip: Option<&str>, records: &[&'a Record], notes: bool) -> Judgement<'a> {
    let passed = |r: &&&Record| r.decision != Decision::Blocked;
    let Some(tip) = tip else {
        // Gone: fine only if the latest passed record of this branch is its deletion.
        return match records
            .iter()
            .filter(passed)
            .max_by(|a, b| a.time.cmp(&b.time))
        {
            Some(r) if r.new.is_none() => Judgement::DeletedThroughGate(r),
            _ => Judgement::Unrecorded(Unrecorded::Deleted),
        };
    };
    if let Some(r) = records
        .iter()
        .filter(passed)
        .filter(|r| {
            r.new
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(tip))
        })
        .max_by(|a, b| a.time.cmp(&b.time))
    {
        return Judgement::Recorded(r);
    }
    Judgement::Unrecorded(if !notes {
        Unrecorded::NoNotes
    } else if records.is_empty() {
        Unrecorded::NeverGated
    } else {
        Unrecorded::TipNotRecorded
    })
}

/// One branch to audit.
struct Audited<'a> {
    branch: String,
    environment: String,
    tip: Option<Oid>,
    records: Vec<&'a Record>,
}

/// The branches to audit: every remote branch the checkout's config maps to an environment,
/// plus every branch that has records of pushes to this remote (present or deleted).
fn audited_branches<'a>(
    config: &Config,
    tips: &[(String, Oid)],
    trail: &BTreeMap<String, Vec<&'a Record>>,
) -> Vec<Audited<'a>> {
    let from_trail = |branch: &str| {
        trail.get(branch).and_then(|rs| {
            rs.iter()
                .max_by(|a, b| a.time.cmp(&b.time))
                .map(|r| r.environment.clone())
        })
    };
    let mut out = Vec::new();
    for (branch, tip) in tips {
        let environment = config
            .environments
            .iter()
            .find(|e| e.matches(branch))
            .map(|e| e.name.clone())
            .or_else(|| from_trail(branch));
        if let Some(environment) = environment {
            out.push(Audited {
                branch: branch.clone(),
                environment,
                tip: Some(*tip),
                records: trail.get(branch).cloned().unwrap_or_default(),
            });
        }
    }
    for (branch, records) in trail {
        if tips.iter().any(|(b, _)| b == branch) {
            continue;
        }
        if let Some(environment) = from_trail(branch) {
            out.push(Audited {
                branch: branch.clone(),
                environment,
                tip: None,
                records: records.clone(),
            });
        }
    }
    out
}

/// What makes `audit` exit 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOn {
    /// An environment tip is UNRECORDED.
    pub unrecorded: bool,
    /// A bypass in the period is past its `review_within` with no review by someone else.
    pub unreviewed: bool,
    /// An environment tip was left by a bypass that nobody else reviewed.
    pub bypassed: bool,
}

impl FailOn {
    fn any(self) -> bool {
        self.unrecorded || self.unreviewed || self.bypassed
    }
}

pub fn run(
    remote: Option<&str>,
    env: Option<&str>,
    since: Option<&str>,
    fail: FailOn,
    policy: Option<&Path>,
) -> Result<Exit> {
    let fail_on_unrecorded = fail.unrecorded;
    let repo = Repo::open_from_env()?;
    let flag = if fail.unrecorded {
        "--fail-on-unrecorded"
    } else if fail.unreviewed {
        "--fail-on-unreviewed"
    } else {
        "--fail-on-bypassed"
    };
    let config = policy_for(&repo, policy, fail.any().then_some(flag))?;
    let remote = crate::remote::require(&repo, remote, "audit", "environment branches to audit")?;
    let since = since.map(crate::since::parse).transpose()?;
    let shown_remote = escape(&remote, 80);

    for (r, e) in notes::push_pending_audit_notes(&repo) {
        eprintln!(
            "pushguard: warning: this clone's audit notes are still not shared with {}: {e:#}",
            escape(&r, 80)
        );
    }
    notes::fetch_branches(&repo, &remote, FETCH_BRANCHES_TIMEOUT).hint(format!(
        "check that `{shown_remote}` is reachable: `git fetch {shown_remote}`"
    ))?;
    let fetched = notes::remote_trail(&repo, &remote, notes::FETCH_TIMEOUT).hint(format!(
        "check that `{shown_remote}` is reachable: `git fetch {shown_remote}`"
    ))?;
    let has_notes = fetched.as_ref().is_some_and(|t| !t.refs.is_empty());
    let (all, lost) = fetched.map(|t| t.split()).unwrap_or_default();
    let (records, foreign) = remote_id::bound_records(&repo, &remote, &all);

    // Where the policy requires signatures (issue 11; for every environment, also one the
    // policy does not know, issue 23), only records a key in the allowed signers signed
    // count; the others are named on stderr and their tips stay UNRECORDED.
    let needs_signers = records
        .iter()
        .any(|r| crate::signing::required_for(&config, &r.environment));
    let allowed = if needs_signers {
        crate::signing::audit_allowed_signers(&repo, &config)?
    } else {
        None
    };
    let counted = crate::signing::audit_counted(&config, allowed.as_ref(), &records);
    let mut trail: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in &counted {
        if let Some(branch) = r.remote_ref.strip_prefix("refs/heads/") {
            trail.entry(branch.to_owned()).or_default().push(r);
        }
    }
    let tips = repo.remote_tracking(&remote)?;
    let mut audited = audited_branches(&config, &tips, &trail);
    if let Some(env) = env {
        let known =
            config.environment(env).is_some() || records.iter().any(|r| r.environment == env);
        if !known {
            config.require_environment(env)?;
        }
        audited.retain(|a| a.environment == env);
        if audited.is_empty() {
            return Err(anyhow::anyhow!(
                "no branch of environment `{}` on `{shown_remote}`: nothing to audit",
                escape(env, 60)
            ))
            .hint(format!(
                "check the pipeline's --env and --remote, and that `git ls-remote --heads {shown_remote}` lists the branch"
            ));
        }
    }

    // Reviews of bypasses are approvals notes of their own kind: the team's, fetched.
    let bypasses: Vec<&Record> = counted
        .iter()
        .filter(|r| r.decision == Decision::Bypassed)
        .filter(|r| env.is_none_or(|e| r.environment == e))
        .collect();
    let reviews_needed = !bypasses.is_empty();
    if reviews_needed {
        if let Err(e) = notes::fetch(&repo, &remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
            eprintln!("pushguard: warning: reviews are read from this clone's notes only: {e:#}");
        }
    }
    // Reviews are checked against the same allowed signers as the records (never a file in
    // the checkout); where none are needed for the records, signed reviews are still shown
    // as verified when the pipeline's allowed signers can be read.
    let fallback = if allowed.is_none() && reviews_needed {
        crate::signing::audit_allowed_signers(&repo, &config).unwrap_or(None)
    } else {
        None
    };
    let review_signers = allowed.as_ref().or(fallback.as_ref());
    let reviewed = |r: &Record| -> Result<Reviews> {
        let (_, hash) = r.to_line();
        let required = crate::signing::required_for(&config, &r.environment);
        let crate::review::Judged { counting, not } =
            crate::review::judged(&repo, r, &hash, review_signers, required)?;
        Ok(Reviews {
            hash,
            counting,
            not,
        })
    };

    let mut out = Vec::new();
    let mut unrecorded = 0;
    let mut bypassed_tips = 0;
    for a in &audited {
        let tip = a.tip.map(|t| t.to_string());
        let judgement = judge(tip.as_deref(), &a.records, has_notes);
        unrecorded += usize::from(judgement.is_unrecorded());
        write_branch(&mut out, &repo, &shown_remote, a, &judgement, since)?;
        if let Judgement::Recorded(r) = &judgement {
            if r.decision == Decision::Bypassed {
                let reviews = reviewed(r)?;
                if reviews.counting.is_empty() {
                    bypassed_tips += 1;
                    writeln!(
                        out,
                        "  the tip was BYPASSED (record {}) and nobody else has reviewed it: `pushguard review {} --env {}`",
                        short(&reviews.hash),
                        short(&reviews.hash),
                        escape(&r.environment, 40)
                    )?;
                }
            }
        }
    }
    let now = SystemTime::now();
    let in_period: Vec<&Record> = bypasses
        .iter()
        .copied()
        .filter(|r| {
            since.is_none_or(|s| humantime::parse_rfc3339_weak(&r.time).is_ok_and(|t| t >= s))
        })
        .collect();
    let mut overdue = 0;
    if !in_period.is_empty() || fail.unreviewed {
        writeln!(
            out,
            "bypasses{}: {}",
            since
                .map(|s| format!(" since {}", humantime::format_rfc3339_seconds(s)))
                .unwrap_or_default(),
            if in_period.is_empty() {
                "none".to_owned()
            } else {
                in_period.len().to_string()
            }
        )?;
    }
    for r in &in_period {
        let reviews = reviewed(r)?;
        let within = config
            .environment(&r.environment)
            .and_then(|e| e.review_within(&config))
            .or(config.bypass.review_within);
        let recorded = humantime::parse_rfc3339_weak(&r.time).unwrap_or(UNIX_EPOCH);
        let counting: Vec<&crate::notes::reviews::Review> = reviews.counting.iter().collect();
        let status = crate::review::status(recorded, within, &counting, now);
        overdue += usize::from(matches!(status, crate::review::Status::Overdue(_)));
        write_bypass(&mut out, r, &reviews, &status)?;
    }
    notes::print_listing(&out)?;
    if foreign > 0 {
        eprintln!(
            "pushguard: {foreign} record{} in {shown_remote}'s notes {} of pushes to other remotes: not counted",
            if foreign == 1 { "" } else { "s" },
            if foreign == 1 { "is" } else { "are" }
        );
    }
    if !has_notes {
        eprintln!(
            "pushguard: {shown_remote} has no audit notes ({}* or {}): no push through pushguard has been shared with it, or the notes were deleted",
            notes::trail::NAMESPACE,
            notes::AUDIT.full()
        );
    }
    if !lost.is_empty() {
        write_lost(&mut std::io::stderr().lock(), &shown_remote, &lost)?;
    }
    if audited.is_empty() {
        eprintln!("pushguard: {shown_remote} has no environment branches to audit (none in the config, none in the trail)");
        if fail_on_unrecorded {
            eprintln!("  hint: a deploy pipeline audits the branch it deploys: check --remote, or push each environment through the gate once");
            return Ok(Exit::Blocked);
        }
    }
    if unrecorded > 0 {
        eprintln!(
            "pushguard: {unrecorded} environment branch{} on {shown_remote} {} UNRECORDED: {} tip is not what a push through pushguard left there",
            if unrecorded == 1 { "" } else { "es" },
            if unrecorded == 1 { "is" } else { "are" },
            if unrecorded == 1 { "its" } else { "their" },
        );
        eprintln!("  (pushed with --no-verify, from a clone without the hook, by a tool that runs no hooks, or never gated)");
        eprintln!("  hint: a team adopts pushguard by pushing each environment branch through the gate once (its next promotion); a tip pushed with --no-verify stays UNRECORDED until a gated push replaces it");
    } else if !audited.is_empty() {
        eprintln!("pushguard: every environment branch on {shown_remote} is where a push through pushguard left it");
    }
    if overdue > 0 {
        eprintln!(
            "pushguard: {overdue} bypass{} on {shown_remote} {} past due for review by someone other than the bypasser (`review_within`)",
            if overdue == 1 { "" } else { "es" },
            if overdue == 1 { "is" } else { "are" },
        );
        eprintln!(
            "  hint: someone else runs `pushguard review <record> --env <environment>` for each"
        );
    }
    if bypassed_tips > 0 {
        eprintln!(
            "pushguard: {bypassed_tips} environment tip{} on {shown_remote} {} left by a bypass nobody else has reviewed",
            if bypassed_tips == 1 { "" } else { "s" },
            if bypassed_tips == 1 { "is" } else { "are" },
        );
    }
    let failed = (fail_on_unrecorded && unrecorded > 0)
        || (fail.unreviewed && overdue > 0)
        || (fail.bypassed && bypassed_tips > 0)
        || !lost.is_empty();
    Ok(if failed { Exit::Blocked } else { Exit::Success })
}

/// The policy `audit` (and `audit --history`) judges by: the deploy pipeline's `--config`, or
/// the checkout's environments with a trust root from outside the checkout only. `failing`:
/// the `--fail-on-…` flag given, which refuses to judge by a trust root the checkout chose.
pub fn policy(repo: &Repo, file: Option<&Path>, fail_on_unrecorded: bool) -> Result<Config> {
    policy_for(
        repo,
        file,
        fail_on_unrecorded.then_some("--history --fail-on-unrecorded"),
    )
}

fn policy_for(repo: &Repo, file: Option<&Path>, failing: Option<&str>) -> Result<Config> {
    let policy = config::load_for_audit(&Location::of_repo(repo), file)?;
    if !policy.ignored.is_empty() {
        let what = format!(
            "{} from the audited checkout's {} (the commit being judged would choose its own judge)",
            policy.ignored.join(", "),
            config::REPO_FILE
        );
        if let Some(flag) = failing {
            // A deploy pipeline that relies on signatures must say so itself: passing here with
            // a weaker trust root than the team set up would be a false "recorded".
            return Err(anyhow::anyhow!("audit {flag} does not take {what}"))
                .hint("give the deploy pipeline's own policy, kept outside the checkout: `pushguard audit --config FILE` (or PUSHGUARD_CONFIG), with the [trust] and environments it judges by");
        }
        eprintln!("pushguard: warning: audit does not take {what}; the trust root here is the user config and git's gpg.ssh.allowedSignersFile");
        eprintln!("  hint: give the deploy pipeline's own policy, kept outside the checkout: `pushguard audit --config FILE` (or PUSHGUARD_CONFIG)");
    }
    Ok(policy.config)
}

/// The reviews of one bypass record, judged.
struct Reviews {
    /// The record's line hash.
    hash: String,
    counting: Vec<crate::notes::reviews::Review>,
    not: Vec<(crate::notes::reviews::Review, String)>,
}

/// Writes one bypass of the period: when, where, who, its ticket and the windows it
/// overrode, and its review.
fn write_bypass(
    out: &mut impl Write,
    r: &Record,
    reviews: &Reviews,
    status: &crate::review::Status,
) -> Result<()> {
    let branch = r
        .remote_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(&r.remote_ref);
    writeln!(
        out,
        "  {}  {}  {}  {}  by {}  record {}",
        escape(&r.time, 25),
        escape(&r.environment, 40),
        escape(branch, 80),
        short(r.new.as_deref().or(r.old.as_deref()).unwrap_or("-")),
        who(r),
        short(&reviews.hash)
    )?;
    writeln!(
        out,
        "    ticket {}  freeze {}  consulted {}  justification: {}",
        escape(r.ticket.as_deref().unwrap_or("-"), 60),
        escape(r.freeze.as_deref().unwrap_or("-"), 60),
        escape(r.consulted.as_deref().unwrap_or("-"), 60),
        escape(r.justification.as_deref().unwrap_or("-"), 200)
    )?;
    let stamp = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    match status {
        crate::review::Status::Reviewed { by, at } => writeln!(
            out,
            "    reviewed by {} at {}",
            escape(by, 120),
            escape(at, 30)
        )?,
        crate::review::Status::Due(t) => writeln!(out, "    UNREVIEWED  due by {}", stamp(*t))?,
        crate::review::Status::Overdue(t) => {
            writeln!(out, "    UNREVIEWED  OVERDUE since {}", stamp(*t))?
        }
    }
    for (review, why) in &reviews.not {
        writeln!(
            out,
            "    not counted: the review by {} <{}> at {}: {why}",
            escape(&review.name, 60),
            escape(&review.email, 80),
            escape(&review.time, 30)
        )?;
    }
    Ok(())
}

/// How many lost records are listed one by one.
const LOST_LISTED: usize = 10;

/// Says which records the trail of `remote` lost, and how that was seen.
pub fn write_lost(out: &mut impl Write, remote: &str, lost: &[notes::trail::Lost]) -> Result<()> {
    use notes::trail::LostHow;
    writeln!(
        out,
        "pushguard: the audit trail on {remote} LOST {} record{} it held (a trail only grows: notes were deleted, emptied or rewound):",
        lost.len(),
        if lost.len() == 1 { "" } else { "s" }
    )?;
    for l in lost.iter().take(LOST_LISTED) {
        let how = match &l.how {
            LostHow::DroppedBy(commit) => format!(
                "dropped by notes commit {} of {}",
                short(&commit.to_string()),
                escape(&l.trail_ref, 80)
            ),
            LostHow::Rewound { was } => format!(
                "{} was rewound from {} (fetched before) to a commit without it",
                escape(&l.trail_ref, 80),
                short(&was.to_string())
            ),
            LostHow::Deleted { was } => format!(
                "{} was deleted (it was at {} when fetched before)",
                escape(&l.trail_ref, 80),
                short(&was.to_string())
            ),
        };
        writeln!(
            out,
            "  {} {} push of {} by {} (record {}): {how}",
            escape(&l.record.time, 25),
            l.record.decision,
            escape(&l.record.remote_ref, 60),
            who(&l.record),
            &l.hash[..l.hash.len().min(12)],
        )?;
    }
    if lost.len() > LOST_LISTED {
        writeln!(out, "  … and {} more", lost.len() - LOST_LISTED)?;
    }
    writeln!(out, "  hint: the records are still in the logs of the clones that made them (`pushguard log --verify --remote` there); run pushguard's server mode on the remote so that trail refs can only grow")?;
    Ok(())
}

/// Writes one branch's verdict and, for an UNRECORDED tip, the commits since the last
/// recorded tip (information for the reader; they decide nothing).
fn write_branch(
    out: &mut impl Write,
    repo: &Repo,
    remote: &str,
    a: &Audited,
    judgement: &Judgement,
    since: Option<SystemTime>,
) -> Result<()> {
    let name = format!("{remote}/{}", escape(&a.branch, 80));
    let env = escape(&a.environment, 40);
    let tip = a.tip.map(|t| t.to_string());
    let tip_short = tip.as_deref().map_or("-", short);
    match judgement {
        Judgement::Recorded(r) => {
            return writeln!(
                out,
                "{name} ({env}): recorded  tip {tip_short} {} {} by {}",
                r.decision,
                escape(&r.time, 25),
                who(r)
            )
            .context("failed to write the listing");
        }
        Judgement::DeletedThroughGate(r) => {
            return writeln!(
                out,
                "{name} ({env}): deleted through the gate ({} {} by {})",
                r.decision,
                escape(&r.time, 25),
                who(r)
            )
            .context("failed to write the listing");
        }
        Judgement::Unrecorded(why) => {
            let why = match why {
                Unrecorded::NoNotes => "the remote has no audit notes".to_owned(),
                Unrecorded::NeverGated => {
                    "never pushed through pushguard (no record of a push of this branch to this remote)".to_owned()
                }
                Unrecorded::TipNotRecorded => format!("no record of a push through pushguard names the tip {tip_short}"),
                Unrecorded::Deleted => "the branch is gone and no record says it was deleted through the gate".to_owned(),
            };
            writeln!(out, "{name} ({env}): UNRECORDED  {why}")?;
        }
    }
    let Some(tip) = a.tip else { return Ok(()) };
    let last = a
        .records
        .iter()
        .filter(|r| r.decision != Decision::Blocked)
        .filter_map(|r| r.new.as_deref().map(|n| (r, n)))
        .max_by(|x, y| x.0.time.cmp(&y.0.time));
    let hide = match last {
        Some((r, new)) => {
            let oid = Oid::from_str(new)
                .ok()
                .filter(|o| repo.git2().find_commit(*o).is_ok());
            let contained = oid.is_some_and(|o| {
                o == tip || repo.git2().graph_descendant_of(tip, o).unwrap_or(false)
            });
            writeln!(
                out,
                "  last recorded tip  {}  {} {} by {}{}",
                short(new),
                r.decision,
                escape(&r.time, 25),
                who(r),
                if contained {
                    ""
                } else {
                    "  (not in the current tip's history: rewritten or replaced)"
                }
            )?;
            oid.filter(|_| contained)
        }
        None => None,
    };
    let (shown, total, more) = listing(repo, tip, hide, since)?;
    let label = if hide.is_some() {
        "since the last recorded tip"
    } else {
        "on the branch"
    };
    writeln!(
        out,
        "  {}{total} commit{} {label}{}",
        if more { "more than " } else { "" },
        if total == 1 && !more { "" } else { "s" },
        if since.is_some() {
            " (within --since)"
        } else {
            ""
        }
    )?;
    for row in shown {
        writeln!(out, "    {row}")?;
    }
    Ok(())
}

/// Who made a record, escaped.
fn who(r: &Record) -> String {
    let name = if r.user.name.is_empty() {
        &r.user.email
    } else {
        &r.user.name
    };
    escape(name, 40)
}

/// Up to [`LISTED`] rows of the first-parent commits from `tip` down to `hide` (excluded),
/// the number walked, and whether the walk stopped at [`WALK_LIMIT`].
fn listing(
    repo: &Repo,
    tip: Oid,
    hide: Option<Oid>,
    since: Option<SystemTime>,
) -> Result<(Vec<String>, usize, bool)> {
    let git = repo.git2();
    let mut walk = git.revwalk().context("failed to walk history")?;
    walk.simplify_first_parent()
        .context("failed to walk history")?;
    walk.set_sorting(Sort::NONE)
        .context("failed to walk history")?;
    walk.push(tip).context("failed to walk history")?;
    if let Some(h) = hide {
        walk.hide(h).context("failed to walk history")?;
    }
    let (mut rows, mut total) = (Vec::new(), 0);
    for oid in walk {
        let oid = oid.context("failed to walk history")?;
        if total == WALK_LIMIT {
            return Ok((rows, total, true));
        }
        let commit = git.find_commit(oid).context("failed to read a commit")?;
        let secs = u64::try_from(commit.time().seconds()).unwrap_or(0);
        let when = UNIX_EPOCH + Duration::from_secs(secs);
        if since.is_some_and(|s| when < s) {
            break;
        }
        total += 1;
        if rows.len() < LISTED {
            let author = commit.author();
            rows.push(format!(
                "{}  {}  {} <{}>  {}",
                short(&oid.to_string()),
                humantime::format_rfc3339_seconds(when),
                escape(author.name().unwrap_or_default(), 60),
                escape(author.email().unwrap_or_default(), 80),
                escape(commit.summary().unwrap_or_default(), 80),
            ));
        }
    }
    Ok((rows, total, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Identity;

    fn record(new: Option<&str>, decision: Decision, time: &str) -> Record {
        Record {
            version: 1,
            time: time.into(),
            user: Identity {
                name: "Pat".into(),
                email: "pat@example.com".into(),
            },
            remote: "origin".into(),
            url: "/srv/app.git".into(),
            local_ref: "HEAD".into(),
            remote_ref: "refs/heads/production".into(),
            environment: "production".into(),
            old: None,
            new: new.map(str::to_owned),
            commits: 1,
            decision,
            checks: vec![],
            consulted: None,
            checklist: vec![],
            justification: None,
            freeze: None,
            ticket: None,
            attestation: None,
            prev: None,
            signature: None,
        }
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn only_a_passed_record_naming_the_tip_counts() {
        let allowed = record(Some(A), Decision::Allowed, "2026-01-01T00:00:00Z");
        let blocked = record(Some(B), Decision::Blocked, "2026-01-02T00:00:00Z");
        let bypassed = record(Some(B), Decision::Bypassed, "2026-01-03T00:00:00Z");
        assert_eq!(
            judge(Some(A), &[&allowed, &blocked], true),
            Judgement::Recorded(&allowed)
        );
        assert_eq!(
            judge(Some(B), &[&allowed, &blocked], true),
            Judgement::Unrecorded(Unrecorded::TipNotRecorded)
        );
        assert_eq!(
            judge(Some(B), &[&blocked, &bypassed], true),
            Judgement::Recorded(&bypassed)
        );
    }

    #[test]
    fn no_notes_and_no_records_are_unrecorded_not_before_pushguard() {
        assert_eq!(
            judge(Some(A), &[], false),
            Judgement::Unrecorded(Unrecorded::NoNotes)
        );
        assert_eq!(
            judge(Some(A), &[], true),
            Judgement::Unrecorded(Unrecorded::NeverGated)
        );
    }

    #[test]
    fn a_branch_gone_is_fine_only_after_a_gated_delete() {
        let pushed = record(Some(A), Decision::Allowed, "2026-01-01T00:00:00Z");
        let deleted = record(None, Decision::Bypassed, "2026-01-02T00:00:00Z");
        assert_eq!(
            judge(None, &[&pushed], true),
            Judgement::Unrecorded(Unrecorded::Deleted)
        );
        assert_eq!(
            judge(None, &[&pushed, &deleted], true),
            Judgement::DeletedThroughGate(&deleted)
        );
    }
}
