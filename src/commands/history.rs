//! `pushguard audit --history`: every update of each environment branch on the remote in a
//! period, oldest first, as an auditor samples them (issue 19) — reconstructed from the
//! records' old → new chain per branch ([`crate::history`]), with a break in the chain listed
//! as an UNRECORDED update and what is known of it (the commits between, their authors and
//! committers). Each row says who pushed, who was consulted, who approved and when (before
//! or after the push), whether an approver authored none of the commits, the tests, the
//! decision and its justification, ticket and freeze, the review of a bypass, the record's
//! signature, and which source it came from: where the remote runs pushguard's server mode,
//! the server's post-receive records are the population.
//!
//! The trail is read streaming ([`notes::trail::read_remote_trail`]): each record is cut to
//! what a row shows as it is read, so memory follows the number of records, not their size.
//! `--evidence DIR` writes the rows with the record lines and approval notes they rest on,
//! the allowed signers used and their checksums, for an auditor to verify offline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use git2::Oid;
use serde::Serialize;

use crate::audit::Record;
use crate::config::Config;
use crate::gate::Decision;
use crate::git::Repo;
use crate::history::{self, Entry, Known};
use crate::model::Outcome;
use crate::notes::{self, trail};
use crate::outcome::{Exit, WithHint};
use crate::text::{escape, short};

/// How long fetching the remote's branches may take.
const FETCH_BRANCHES_TIMEOUT: Duration = Duration::from_secs(120);
/// How many notes commits of the trail's history the lost-records check walks, newest first,
/// that this clone has not checked before. A record dropped further back that recorded an
/// update still shows, as that update UNRECORDED.
pub const HISTORY_WALK: usize = 2_000;
/// How many commits of an unrecorded update are listed.
const LISTED: usize = 20;
/// How far a range is walked for its commits.
const WALK_LIMIT: usize = 1_000;

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// What `audit --history` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub remote: Option<&'a str>,
    pub env: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub format: Format,
    pub evidence: Option<&'a Path>,
    pub fail_on_unrecorded: bool,
    pub policy: Option<&'a Path>,
}

/// Text shared by many records (a branch, a pusher, a signature label), held once.
type Text = Rc<str>;

/// Holds each distinct text once.
#[derive(Default)]
struct Interner(HashSet<Text>);

impl Interner {
    fn get(&mut self, text: &str) -> Text {
        if let Some(t) = self.0.get(text) {
            return Rc::clone(t);
        }
        let t: Text = Rc::from(text);
        self.0.insert(Rc::clone(&t));
        t
    }
}

/// One record, cut to what a row needs (the trail may hold 100,000 of them): what every
/// record has inline, what few have behind one pointer.
struct Rec {
    hash: [u8; 32],
    secs: u64,
    branch: Text,
    environment: Text,
    old: Option<Oid>,
    new: Option<Oid>,
    commits: u64,
    decision: Decision,
    pusher: Text,
    pusher_email: Text,
    consulted: Option<Text>,
    tests: Option<(Outcome, bool)>,
    signature: Text,
    /// The writer of the (first) trail ref holding it (`server`, a clone id, or `single ref`).
    writer: Text,
    extra: Option<Box<Extra>>,
}

/// What only some records carry.
#[derive(Default)]
struct Extra {
    /// The time as written, when it is not what [`stamp`] makes of `secs`.
    time: Option<Box<str>>,
    justification: Option<Box<str>>,
    ticket: Option<Box<str>>,
    freeze: Option<Box<str>>,
    attestation: Option<Text>,
    /// Further trail refs' writers holding it.
    writers: Vec<Text>,
    /// The whole record of a bypass (its review is looked up by it).
    bypass: Option<Box<Record>>,
}

impl Rec {
    fn by_server(&self) -> bool {
        self.writers().any(|w| &**w == trail::SERVER_WRITER)
    }

    fn writers(&self) -> impl Iterator<Item = &Text> {
        std::iter::once(&self.writer).chain(self.extra.iter().flat_map(|e| e.writers.iter()))
    }

    fn hash(&self) -> String {
        hex(&self.hash)
    }

    fn time(&self) -> String {
        match self.extra.as_ref().and_then(|e| e.time.as_deref()) {
            Some(t) => t.to_owned(),
            None => stamp(UNIX_EPOCH + Duration::from_secs(self.secs)),
        }
    }

    fn text(&self, of: impl Fn(&Extra) -> &Option<Box<str>>) -> Option<String> {
        self.extra
            .as_ref()
            .and_then(|e| of(e).as_deref())
            .map(str::to_owned)
    }

    fn attestation(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.attestation.as_deref())
    }

    fn bypass(&self) -> Option<&Record> {
        self.extra.as_ref().and_then(|e| e.bypass.as_deref())
    }
}

/// Lowercase hex of a line hash.
fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// An approval as a row shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApprovalRow {
    pub name: String,
    pub email: String,
    pub time: String,
    /// `before` or `after` the push (or `unknown` when a time cannot be read).
    pub when: String,
    /// The verified principal, `unsigned`, or why the signature proves nothing.
    pub signature: String,
    /// The commit the approval names (the pushed tip, or a commit with the same tree).
    pub commit: String,
}

/// A commit of an unrecorded update.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CommitRow {
    pub id: String,
    pub author: String,
    pub committer: String,
    pub date: String,
    pub summary: String,
}

/// One update of an environment branch, as the listing, the JSON and the CSV carry it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    /// The record's time; for an unrecorded update, empty (see `after` and `before`).
    pub time: String,
    /// An unrecorded update happened after this time (the record of the state it started from).
    pub after: Option<String>,
    /// … and before this one (the record of the update that followed it).
    pub before: Option<String>,
    pub branch: String,
    pub environment: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub commits: Option<u64>,
    /// `false`: UNRECORDED.
    pub recorded: bool,
    pub pusher: Option<String>,
    pub consulted: Option<String>,
    pub approvals: Vec<ApprovalRow>,
    /// Whether an approver authored none of the update's commits (`None`: no approval).
    pub approver_not_author: Option<bool>,
    /// `pass`, `skip` or `fail`; `None` when the environment does not run the tests.
    pub tests: Option<String>,
    pub decision: Option<String>,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    pub freeze: Option<String>,
    /// For a bypass: reviewed by whom and when, or UNREVIEWED.
    pub review: Option<String>,
    /// The primary record's signature: the verified principal, `unsigned`, or why not.
    pub signature: Option<String>,
    /// Where the row comes from.
    pub source: String,
    /// The line hashes of the records it rests on, primary first.
    pub records: Vec<String>,
    /// For an unrecorded update: its commits (up to 20), with authors and committers.
    pub unrecorded_commits: Vec<CommitRow>,
    /// For an unrecorded update: how many commits it carried (a walk stops at 1,000).
    pub unrecorded_count: Option<usize>,
}

/// Parses `--until`: as `--since`, but a date alone means the end of that day.
fn parse_until(text: &str) -> Result<SystemTime> {
    let t = crate::since::parse(text)?;
    Ok(if text.trim().len() == 10 {
        t + Duration::from_secs(24 * 60 * 60 - 1)
    } else {
        t
    })
}

fn secs(time: &str) -> u64 {
    humantime::parse_rfc3339_weak(time)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn run(opts: &Options) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = super::audit::policy(&repo, opts.policy, opts.fail_on_unrecorded)?;
    let remote = crate::remote::require(
        &repo,
        opts.remote,
        "audit --history",
        "environment branches to audit",
    )?;
    let since = opts.since.map(crate::since::parse).transpose()?;
    let until = opts.until.map(parse_until).transpose()?;
    let shown_remote = escape(&remote, 80);

    for (r, e) in notes::push_pending_audit_notes(&repo) {
        eprintln!(
            "pushguard: warning: this clone's audit notes are still not shared with {}: {e:#}",
            escape(&r, 80)
        );
    }
    let reachable =
        || format!("check that `{shown_remote}` is reachable: `git fetch {shown_remote}`");
    notes::fetch_branches(&repo, &remote, FETCH_BRANCHES_TIMEOUT).hint(reachable())?;
    if let Err(e) = notes::fetch(&repo, &remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
        eprintln!("pushguard: warning: approvals and reviews are read from this clone's notes only: {e:#}");
    }

    // Signatures are checked against the pipeline's allowed signers (never a file in the
    // checkout): required where the policy says so, shown where they can be read.
    let required_anywhere = config.trust.require_signatures
        || config
            .environments
            .iter()
            .any(|e| crate::signing::required(&config, e));
    let allowed = if required_anywhere {
        crate::signing::audit_allowed_signers(&repo, &config)?
    } else {
        crate::signing::audit_allowed_signers(&repo, &config).unwrap_or(None)
    };

    let keys = crate::remote_id::keys(&repo, &remote);
    let mut bound_cache: HashMap<String, bool> = HashMap::new();
    let mut texts = Interner::default();
    let mut recs: Vec<Rec> = Vec::new();
    // Where each distinct record of the trail went (`u32::MAX`: not kept).
    let mut kept: Vec<u32> = Vec::new();
    let mut foreign = 0usize;
    let mut not_counted: Vec<String> = Vec::new();
    let mut writers: Vec<Text> = Vec::new();
    let read = trail::read_remote_trail(
        &repo,
        &remote,
        notes::FETCH_TIMEOUT,
        trail::Walk::Newest(HISTORY_WALK),
        &mut |refs, seen| {
            if writers.is_empty() {
                writers = refs
                    .iter()
                    .map(|r| texts.get(trail::writer_of(&r.name).unwrap_or("single ref")))
                    .collect();
            }
            let held = seen.refs.iter().map(|&i| Rc::clone(&writers[i]));
            let Some((record, hash)) = seen.record else {
                if let Some(rec) = kept
                    .get(seen.index)
                    .and_then(|&at| recs.get_mut(at as usize))
                {
                    for w in held {
                        if !rec.writers().any(|h| *h == w) {
                            rec.extra.get_or_insert_with(Box::default).writers.push(w);
                        }
                    }
                }
                return;
            };
            kept.push(u32::MAX);
            let Some(branch) = record.remote_ref.strip_prefix("refs/heads/") else {
                return;
            };
            let bound = record.remote == crate::audit::SERVER_REMOTE
                || *bound_cache
                    .entry(record.url.clone())
                    .or_insert_with(|| crate::remote_id::bound_to(&record.url, &keys));
            if !bound {
                foreign += 1;
                return;
            }
            let signature =
                crate::signing::record_signature(seen.line.as_bytes(), &record, allowed.as_ref());
            if crate::signing::required_for(&config, &record.environment)
                && !matches!(signature, crate::signing::RecordSignature::Verified(_))
            {
                not_counted.push(format!(
                    "the record {} of {} by {} at {}: {}",
                    short(&hash),
                    escape(branch, 60),
                    escape(&record.user.name, 60),
                    escape(&record.time, 30),
                    crate::signing::audit_refusal(seen.line.as_bytes(), &record, allowed.as_ref())
                        .unwrap_or_default()
                ));
                return;
            }
            let oid = |hex: &Option<String>| hex.as_deref().and_then(|h| Oid::from_str(h).ok());
            let tests = record
                .checks
                .iter()
                .find(|c| c.id == "tests")
                .map(|c| (c.outcome, c.detail.starts_with("client-side only")));
            let signature = match &signature {
                crate::signing::RecordSignature::Unsigned => texts.get("unsigned"),
                crate::signing::RecordSignature::Verified(v) => {
                    texts.get(&format!("verified: {}", v.principal))
                }
                crate::signing::RecordSignature::Invalid(why) => {
                    texts.get(&format!("proves nothing: {why}"))
                }
                crate::signing::RecordSignature::Unchecked => {
                    texts.get("signed, not checked (no allowed signers)")
                }
            };
            let Some(key) = trail::hash_key(&hash) else {
                return;
            };
            let boxed = |t: &Option<String>| t.as_deref().map(Box::from);
            let secs = secs(&record.time);
            let mut held = held;
            let writer = held.next().unwrap_or_else(|| texts.get("single ref"));
            let extra = Extra {
                time: (stamp(UNIX_EPOCH + Duration::from_secs(secs)) != record.time)
                    .then(|| Box::from(record.time.as_str())),
                justification: boxed(&record.justification),
                ticket: boxed(&record.ticket),
                freeze: boxed(&record.freeze),
                attestation: record.attestation.as_deref().map(|a| texts.get(a)),
                writers: held.collect(),
                bypass: None,
            };
            let rare = extra.time.is_some()
                || extra.justification.is_some()
                || extra.ticket.is_some()
                || extra.freeze.is_some()
                || extra.attestation.is_some()
                || !extra.writers.is_empty()
                || record.decision == Decision::Bypassed;
            let rec = Rec {
                hash: key,
                secs,
                branch: texts.get(branch),
                environment: texts.get(&record.environment),
                old: oid(&record.old),
                new: oid(&record.new),
                commits: record.commits,
                decision: record.decision,
                pusher: texts.get(&record.user.name),
                pusher_email: texts.get(&record.user.email),
                consulted: record.consulted.as_deref().map(|c| texts.get(c)),
                tests,
                signature,
                writer,
                extra: rare.then(|| {
                    Box::new(Extra {
                        bypass: (record.decision == Decision::Bypassed).then(|| Box::new(record)),
                        ..extra
                    })
                }),
            };
            *kept.last_mut().expect("pushed above") = u32::try_from(recs.len()).unwrap_or(u32::MAX);
            recs.push(rec);
        },
    )
    .hint(reachable())?;
    drop(kept);
    drop(texts);
    let read = read.unwrap_or_default();
    let server_mode = read
        .refs
        .iter()
        .any(|r| trail::writer_of(&r.name) == Some(trail::SERVER_WRITER));

    // The branches: every remote branch the policy maps to an environment, and every branch
    // with records (present or gone).
    let tips = repo.remote_tracking(&remote)?;
    let mut by_branch: BTreeMap<Text, Vec<usize>> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        by_branch.entry(Rc::clone(&r.branch)).or_default().push(i);
    }
    let latest_env = |branch: &str| {
        by_branch
            .get(branch)
            .and_then(|l| l.iter().max_by_key(|&&i| recs[i].secs))
            .map(|&i| recs[i].environment.to_string())
    };
    let mut branches: Vec<(String, String, Option<Oid>)> = Vec::new();
    for (branch, tip) in tips.iter() {
        let env = config
            .environments
            .iter()
            .find(|e| e.matches(branch))
            .map(|e| e.name.clone())
            .or_else(|| latest_env(branch));
        if let Some(env) = env {
            branches.push((branch.clone(), env, Some(*tip)));
        }
    }
    for branch in by_branch.keys() {
        if tips.iter().any(|(b, _)| **b == **branch) {
            continue;
        }
        if let Some(env) = latest_env(branch) {
            branches.push((branch.to_string(), env, None));
        }
    }
    if let Some(env) = opts.env {
        let known =
            config.environment(env).is_some() || recs.iter().any(|r| &*r.environment == env);
        if !known {
            config.require_environment(env)?;
        }
        branches.retain(|(_, e, _)| e == env);
        if branches.is_empty() {
            return Err(anyhow::anyhow!(
                "no branch of environment `{}` on `{shown_remote}`: nothing to audit",
                escape(env, 60)
            ))
            .hint(format!(
                "check the pipeline's --env and --remote, and that `git ls-remote --heads {shown_remote}` lists the branch"
            ));
        }
    }

    let approvals = Approvals::load(&repo)?;
    let git = repo.git2();
    let contains = |a: Oid, b: Oid| a == b || git.graph_descendant_of(a, b).unwrap_or(false);
    let epoch = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (from_s, to_s) = (since.map_or(0, epoch), until.map_or(u64::MAX, epoch));
    let in_period = |from: u64, to: u64| to >= from_s && from <= to_s;

    // Every branch's chain, then the updates in the period in time order (rows are built
    // one at a time as they are written).
    let mut chains: Vec<(Vec<usize>, history::Chain)> = Vec::new();
    let mut order: Vec<(u64, u32, u32)> = Vec::new();
    let mut not_landed = 0usize;
    let mut never_gated: Vec<String> = Vec::new();
    for (b, (branch, _, tip)) in branches.iter().enumerate() {
        let list: Vec<usize> = by_branch.get(branch.as_str()).cloned().unwrap_or_default();
        let entries: Vec<Entry> = list
            .iter()
            .map(|&i| {
                let r = &recs[i];
                Entry {
                    time: r.secs,
                    old: r.old,
                    new: r.new,
                    passed: r.decision != Decision::Blocked,
                    server: r.by_server(),
                    seq: 0,
                }
            })
            .collect();
        let chain = history::reconstruct(&entries, *tip, &contains);
        if chain.updates.is_empty() && tip.is_some() && !entries.iter().any(|e| e.passed) {
            never_gated.push(branch.clone());
        }
        for (k, landing) in chain.landing.iter().enumerate() {
            if *landing == history::Landing::NotLanded
                && in_period(entries[k].time, entries[k].time)
            {
                not_landed += 1;
            }
        }
        for (u, update) in chain.updates.iter().enumerate() {
            let rec = |k: usize| &recs[list[k]];
            let (from, to, key) = match &update.known {
                Known::Recorded(group) => {
                    let p = rec(group[0]);
                    (p.secs, p.secs, p.secs)
                }
                Known::Unrecorded { after, before } => (
                    after.map_or(0, |k| rec(k).secs),
                    before.map_or(u64::MAX, |k| rec(k).secs),
                    after.or(*before).map_or(0, |k| rec(k).secs),
                ),
            };
            if in_period(from, to) {
                let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
                order.push((key, index(b), index(u)));
            }
        }
        chains.push((list, chain));
    }
    drop(by_branch);
    order.sort();

    let mut sinks = Sinks::open(opts, &shown_remote)?;
    let mut rested: HashSet<[u8; 32]> = HashSet::new();
    let mut named: Vec<(String, String, String)> = Vec::new();
    let (mut rows, mut unrecorded) = (0usize, 0usize);
    let now = SystemTime::now();
    for &(_, b, u) in &order {
        let (branch, environment, _) = &branches[b as usize];
        let (list, chain) = &chains[b as usize];
        let update = &chain.updates[u as usize];
        let rec = |k: usize| &recs[list[k]];
        let row = match &update.known {
            Known::Recorded(group) => {
                let records: Vec<&Rec> = group.iter().map(|&k| rec(k)).collect();
                rested.extend(records.iter().map(|r| r.hash));
                recorded_row(
                    &repo,
                    &config,
                    &approvals,
                    allowed.as_ref(),
                    environment,
                    &records,
                    server_mode,
                    now,
                )?
            }
            Known::Unrecorded { after, before } => {
                unrecorded += 1;
                unrecorded_row(
                    &repo,
                    branch,
                    environment,
                    update,
                    after.map(rec),
                    before.map(rec),
                    server_mode,
                )?
            }
        };
        for a in &row.approvals {
            named.push((a.email.clone(), a.time.clone(), a.commit.clone()));
        }
        sinks.row(&row)?;
        rows += 1;
    }
    sinks.finish(rows)?;
    if let Some(dir) = opts.evidence {
        let listed: HashSet<String> = order
            .iter()
            .map(|&(_, b, _)| format!("refs/heads/{}", branches[b as usize].0))
            .collect();
        write_evidence(
            &repo,
            &remote,
            dir,
            &rested,
            &listed,
            &named,
            &approvals,
            allowed.as_ref(),
            &read.refs,
        )?;
        eprintln!(
            "pushguard: evidence written to {} ({rows} rows, resting on {} records): verify it with the recipe in pushguard's README (`Verifying the evidence`)",
            dir.display(),
            rested.len()
        );
    }
    for why in &not_counted {
        eprintln!("pushguard: not counted (signatures are required): {why}");
    }
    if foreign > 0 {
        eprintln!(
            "pushguard: {foreign} record{} in {shown_remote}'s notes {} of pushes to other remotes: not counted",
            if foreign == 1 { "" } else { "s" },
            if foreign == 1 { "is" } else { "are" }
        );
    }
    if not_landed > 0 {
        eprintln!(
            "pushguard: {not_landed} allowed or bypassed push{} in the period did not land (the branch never moved to {}): not listed",
            if not_landed == 1 { "" } else { "es" },
            if not_landed == 1 { "its commit" } else { "their commits" },
        );
    }
    if read.unwalked {
        eprintln!(
            "pushguard: the trail's notes history was walked for lost records back {HISTORY_WALK} notes commits only (what this clone had not checked before); a record dropped further back that recorded an update shows as that update UNRECORDED"
        );
    }
    if !read.lost.is_empty() {
        super::audit::write_lost(&mut std::io::stderr().lock(), &shown_remote, &read.lost)?;
    }
    for b in &never_gated {
        eprintln!(
            "pushguard: {shown_remote}/{} has never been pushed through pushguard: no history to list",
            escape(b, 80)
        );
    }
    if unrecorded > 0 {
        eprintln!(
            "pushguard: {unrecorded} update{} of environment branches on {shown_remote} {} UNRECORDED: the chain of records breaks there (pushed with --no-verify, from a clone without the hook, by a tool that runs no hooks, or moved on the server)",
            if unrecorded == 1 { "" } else { "s" },
            if unrecorded == 1 { "is" } else { "are" },
        );
    } else {
        eprintln!(
            "pushguard: {rows} update{} of environment branches on {shown_remote}, every one recorded",
            if rows == 1 { "" } else { "s" }
        );
    }
    let failed = (opts.fail_on_unrecorded && (unrecorded > 0 || !never_gated.is_empty()))
        || !read.lost.is_empty();
    Ok(if failed { Exit::Blocked } else { Exit::Success })
}

/// The row of an update nobody recorded: when (between the records around it), old → new,
/// and its commits with their authors and committers.
fn unrecorded_row(
    repo: &Repo,
    branch: &str,
    environment: &str,
    update: &history::Update,
    after: Option<&Rec>,
    before: Option<&Rec>,
    server_mode: bool,
) -> Result<Row> {
    let (unrecorded_commits, count) = commits_between(repo, update.old, update.new)?;
    Ok(Row {
        time: String::new(),
        after: after.map(Rec::time),
        before: before.map(Rec::time),
        branch: branch.to_owned(),
        environment: environment.to_owned(),
        old: update.old.map(|o| o.to_string()),
        new: update.new.map(|o| o.to_string()),
        commits: None,
        recorded: false,
        pusher: None,
        consulted: None,
        approvals: Vec::new(),
        approver_not_author: None,
        tests: None,
        decision: None,
        justification: None,
        ticket: None,
        freeze: None,
        review: None,
        signature: None,
        source: if server_mode {
            "unrecorded: no record in the trail (the server's post-receive wrote none: moved without its hooks, or before server mode)".to_owned()
        } else {
            "unrecorded: no record in the trail".to_owned()
        },
        records: Vec::new(),
        unrecorded_commits,
        unrecorded_count: Some(count),
    })
}

/// Where the rows go: stdout in the format asked, and with `--evidence`, `history.json` and
/// `history.csv` in the evidence directory; each row is written as it is made.
struct Sinks {
    out: Sink,
    evidence: Vec<Sink>,
}

enum Sink {
    Table {
        w: Box<dyn Write>,
        remote: String,
    },
    /// `buf`: the row being made, written at once (serde_json writes each token with a call
    /// of its own, through two writers).
    Json {
        w: Box<dyn Write>,
        first: bool,
        buf: Vec<u8>,
    },
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

/// Stdout, where a reader that stopped early (`| head`) ends the listing, not the audit.
struct Stdout {
    out: std::io::BufWriter<std::io::Stdout>,
    closed: bool,
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.out.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl Sink {
    fn new(format: Format, w: Box<dyn Write>, remote: &str) -> Result<Sink> {
        Ok(match format {
            Format::Table => Sink::Table {
                w,
                remote: remote.to_owned(),
            },
            Format::Json => Sink::Json {
                w,
                first: true,
                buf: Vec::new(),
            },
            Format::Csv => {
                let mut w = csv::Writer::from_writer(w);
                w.write_record(CSV_COLUMNS).context("failed to write CSV")?;
                Sink::Csv(Box::new(w))
            }
        })
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        match self {
            Sink::Table { w, .. } => write_table_row(w, row),
            Sink::Json { w, first, buf } => {
                buf.clear();
                buf.extend_from_slice(if *first { b"[\n" } else { b",\n" });
                *first = false;
                serde_json::to_writer(&mut *buf, row).context("failed to write a row as JSON")?;
                w.write_all(buf)?;
                Ok(())
            }
            Sink::Csv(w) => w
                .write_record(csv_record(row))
                .context("failed to write CSV"),
        }
    }

    fn finish(self, rows: usize) -> Result<()> {
        match self {
            Sink::Table { mut w, remote } => {
                if rows == 0 {
                    writeln!(
                        w,
                        "no updates of environment branches on {remote} in the period"
                    )?;
                }
                w.flush()?;
            }
            Sink::Json { mut w, first, .. } => {
                w.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
                w.flush()?;
            }
            Sink::Csv(mut w) => w.flush().context("failed to write CSV")?,
        }
        Ok(())
    }
}

impl Sinks {
    fn open(opts: &Options, remote: &str) -> Result<Sinks> {
        let stdout: Box<dyn Write> = Box::new(Stdout {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            closed: false,
        });
        let mut evidence = Vec::new();
        if let Some(dir) = opts.evidence {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "failed to create the evidence directory `{}`",
                    dir.display()
                )
            })?;
            for (name, format) in [("history.json", Format::Json), ("history.csv", Format::Csv)] {
                let path = dir.join(name);
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
                evidence.push(Sink::new(
                    format,
                    Box::new(std::io::BufWriter::new(file)),
                    remote,
                )?);
            }
        }
        Ok(Sinks {
            out: Sink::new(opts.format, stdout, remote)?,
            evidence,
        })
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        self.out.row(row)?;
        for e in &mut self.evidence {
            e.row(row)?;
        }
        Ok(())
    }

    fn finish(self, rows: usize) -> Result<()> {
        self.out.finish(rows)?;
        for e in self.evidence {
            e.finish(rows)?;
        }
        Ok(())
    }
}

/// The team's approvals, by the commit they name and by its tree.
pub struct Approvals {
    list: Vec<(Oid, notes::Approval)>,
    by_commit: HashMap<String, Vec<usize>>,
    by_tree: HashMap<String, Vec<usize>>,
}

impl Approvals {
    fn load(repo: &Repo) -> Result<Approvals> {
        let list = notes::all_approvals(repo)?;
        let mut by_commit: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_tree: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, a)) in list.iter().enumerate() {
            by_commit
                .entry(a.commit.to_ascii_lowercase())
                .or_default()
                .push(i);
            by_tree
                .entry(a.tree.to_ascii_lowercase())
                .or_default()
                .push(i);
        }
        Ok(Approvals {
            list,
            by_commit,
            by_tree,
        })
    }

    /// The approvals of `commit` for `environment`, and of a commit in its history with the
    /// same tree (a promotion merge keeps its approvals, as the `approvals` check counts them).
    fn of(&self, repo: &Repo, commit: Oid, environment: &str) -> Vec<&notes::Approval> {
        if self.list.is_empty() {
            return Vec::new();
        }
        let tree = repo
            .git2()
            .find_commit(commit)
            .map(|c| c.tree_id().to_string())
            .ok();
        let mut idx: Vec<usize> = self
            .by_commit
            .get(&commit.to_string())
            .cloned()
            .unwrap_or_default();
        if let Some(t) = tree.and_then(|t| self.by_tree.get(&t)) {
            let git = repo.git2();
            idx.extend(t.iter().copied().filter(|&i| {
                Oid::from_str(&self.list[i].1.commit).is_ok_and(|a| {
                    a == commit || git.graph_descendant_of(commit, a).unwrap_or(false)
                })
            }));
        }
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter()
            .map(|i| &self.list[i].1)
            .filter(|a| a.environment == environment)
            .collect()
    }
}

/// The row of an update carried by records (`records`: the primary first).
#[allow(clippy::too_many_arguments)]
fn recorded_row(
    repo: &Repo,
    config: &Config,
    approvals: &Approvals,
    allowed: Option<&crate::signing::AllowedSigners>,
    environment: &str,
    records: &[&Rec],
    server_mode: bool,
    now: SystemTime,
) -> Result<Row> {
    let r = records[0];
    let pushed_at = UNIX_EPOCH + Duration::from_secs(r.secs);
    let approvals: Vec<ApprovalRow> = match r.new {
        Some(new) => approvals
            .of(repo, new, &r.environment)
            .into_iter()
            .map(|a| ApprovalRow {
                name: a.name.clone(),
                email: a.email.clone(),
                time: a.time.clone(),
                when: match humantime::parse_rfc3339_weak(&a.time) {
                    Ok(at) if at <= pushed_at => "before".to_owned(),
                    Ok(_) => "after".to_owned(),
                    Err(_) => "unknown".to_owned(),
                },
                signature: match (&a.signature, allowed) {
                    (None, _) => "unsigned".to_owned(),
                    (Some(_), None) => "signed, not checked (no allowed signers)".to_owned(),
                    (Some(sig), Some(allowed)) => {
                        let payload =
                            crate::signing::approval_payload(&a.environment, &a.commit, &a.tree);
                        match crate::signing::verify(
                            allowed,
                            crate::signing::APPROVAL_NAMESPACE,
                            &payload,
                            sig,
                        ) {
                            Ok(v) => format!("verified: {}", v.principal),
                            Err(why) => format!("proves nothing: {why}"),
                        }
                    }
                },
                commit: a.commit.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    let approver_not_author = if approvals.is_empty() {
        None
    } else {
        let authors = authors(repo, r.old, r.new, r.commits)?;
        Some(approvals.iter().any(|a| {
            !authors.contains(&a.email.to_ascii_lowercase())
                && !authors.contains(&a.name.to_ascii_lowercase())
        }))
    };
    // The server does not run the tests: a client record of the same update says how they went.
    let tests = match r.tests {
        Some((_, true)) => records
            .iter()
            .find_map(|c| c.tests.filter(|(_, server_skip)| !server_skip))
            .map(|(o, _)| format!("{o} (client record)"))
            .or_else(|| {
                Some("skip (client-side only; no client record of this update)".to_owned())
            }),
        Some((o, false)) => Some(o.to_string()),
        None => None,
    };
    let review = match r.bypass() {
        Some(record) => {
            let required = crate::signing::required_for(config, &r.environment);
            let judged = crate::review::judged(repo, record, &r.hash(), allowed, required)?;
            let within = config
                .environment(&r.environment)
                .and_then(|e| e.review_within(config))
                .or(config.bypass.review_within);
            let counting: Vec<&crate::notes::reviews::Review> = judged.counting.iter().collect();
            Some(
                match crate::review::status(pushed_at, within, &counting, now) {
                    crate::review::Status::Reviewed { by, at } => {
                        format!("reviewed by {by} at {at}")
                    }
                    crate::review::Status::Due(t) => format!("UNREVIEWED, due by {}", stamp(t)),
                    crate::review::Status::Overdue(t) => {
                        format!("UNREVIEWED, overdue since {}", stamp(t))
                    }
                },
            )
        }
        None => None,
    };
    let source = source(records, server_mode);
    let consulted = r.consulted.as_deref().map(|c| match r.attestation() {
        Some(a) => format!("{c} ({a})"),
        None => c.to_owned(),
    });
    Ok(Row {
        time: r.time(),
        after: None,
        before: None,
        branch: r.branch.to_string(),
        environment: environment.to_owned(),
        old: r.old.map(|o| o.to_string()),
        new: r.new.map(|o| o.to_string()),
        commits: Some(r.commits),
        recorded: true,
        pusher: Some(if r.pusher_email.is_empty() {
            r.pusher.to_string()
        } else {
            format!("{} <{}>", r.pusher, r.pusher_email)
        }),
        consulted,
        approvals,
        approver_not_author,
        tests,
        decision: Some(r.decision.to_string()),
        justification: r.text(|e| &e.justification),
        ticket: r.text(|e| &e.ticket),
        freeze: r.text(|e| &e.freeze),
        review,
        signature: Some(r.signature.to_string()),
        source,
        records: records.iter().map(|c| c.hash()).collect(),
        unrecorded_commits: Vec::new(),
        unrecorded_count: None,
    })
}

/// Where a recorded row comes from: the server's post-receive record (the population where
/// the remote runs server mode), a client's record, or both.
fn source(records: &[&Rec], server_mode: bool) -> String {
    let server = records.iter().any(|r| r.by_server());
    let mut clients: Vec<String> = records
        .iter()
        .filter(|r| !r.by_server())
        .flat_map(|r| r.writers().map(|w| w.to_string()))
        .filter(|w| w != trail::SERVER_WRITER)
        .collect();
    clients.sort();
    clients.dedup();
    let clients = clients
        .iter()
        .map(|w| {
            if w == "single ref" {
                "a client (single ref of earlier versions)".to_owned()
            } else {
                format!("client {w}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    match (server, clients.is_empty()) {
        (true, true) => "server post-receive (server mode: the population)".to_owned(),
        (true, false) => format!("server post-receive (server mode: the population); also {clients}"),
        (false, _) if server_mode => format!(
            "{clients} only: the server's post-receive has no record of this update (before server mode, or its note was not attached)"
        ),
        (false, _) => format!("{clients} (no server mode: clients' records are the population)"),
    }
}

/// The lowercased emails and names of the authors of `old..new` (at most `commits` of them,
/// and at most [`WALK_LIMIT`]).
fn authors(
    repo: &Repo,
    old: Option<Oid>,
    new: Option<Oid>,
    commits: u64,
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    let Some(new) = new else { return Ok(out) };
    let git = repo.git2();
    let mut walk = git.revwalk().context("failed to walk history")?;
    if walk.push(new).is_err() {
        return Ok(out);
    }
    if let Some(old) = old {
        let _ = walk.hide(old);
    }
    let limit = usize::try_from(commits)
        .unwrap_or(WALK_LIMIT)
        .clamp(1, WALK_LIMIT);
    for oid in walk.take(limit).flatten() {
        if let Ok(c) = git.find_commit(oid) {
            let a = c.author();
            out.insert(a.email().unwrap_or_default().to_ascii_lowercase());
            out.insert(a.name().unwrap_or_default().to_ascii_lowercase());
        }
    }
    Ok(out)
}

/// The commits of an unrecorded update `old..new` (up to [`LISTED`]) and how many it had.
fn commits_between(
    repo: &Repo,
    old: Option<Oid>,
    new: Option<Oid>,
) -> Result<(Vec<CommitRow>, usize)> {
    let Some(new) = new else {
        return Ok((Vec::new(), 0));
    };
    let git = repo.git2();
    let mut walk = git.revwalk().context("failed to walk history")?;
    if walk.push(new).is_err() {
        return Ok((Vec::new(), 0));
    }
    if let Some(old) = old {
        let _ = walk.hide(old);
    }
    let mut rows = Vec::new();
    let mut total = 0;
    for oid in walk.take(WALK_LIMIT).flatten() {
        total += 1;
        if rows.len() >= LISTED {
            continue;
        }
        let Ok(c) = git.find_commit(oid) else {
            continue;
        };
        let person = |s: git2::Signature<'_>| {
            format!(
                "{} <{}>",
                s.name().unwrap_or_default(),
                s.email().unwrap_or_default()
            )
        };
        let when = UNIX_EPOCH + Duration::from_secs(u64::try_from(c.time().seconds()).unwrap_or(0));
        rows.push(CommitRow {
            id: oid.to_string(),
            author: person(c.author()),
            committer: person(c.committer()),
            date: stamp(when),
            summary: c.summary().unwrap_or_default().to_owned(),
        });
    }
    Ok((rows, total))
}

/// The listing for people: one block per update, every field escaped.
fn write_table_row(out: &mut dyn Write, r: &Row) -> Result<()> {
    let oid = |o: &Option<String>| {
        o.as_deref()
            .map_or("(none)".to_owned(), |o| short(o).to_owned())
    };
    let opt = |o: &Option<String>, max: usize| escape(o.as_deref().unwrap_or("-"), max);
    {
        if r.recorded {
            writeln!(
                out,
                "{}  {} ({})  {} → {}  {} commit{}  {}  by {}",
                escape(&r.time, 25),
                escape(&r.branch, 60),
                escape(&r.environment, 40),
                oid(&r.old),
                oid(&r.new),
                r.commits.unwrap_or(0),
                if r.commits == Some(1) { "" } else { "s" },
                opt(&r.decision, 10),
                opt(&r.pusher, 80),
            )?;
            let approvals = if r.approvals.is_empty() {
                "none".to_owned()
            } else {
                r.approvals
                    .iter()
                    .map(|a| {
                        format!(
                            "{} <{}> at {} ({} the push; {})",
                            escape(&a.name, 40),
                            escape(&a.email, 60),
                            escape(&a.time, 25),
                            a.when,
                            escape(&a.signature, 60)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            writeln!(
                out,
                "    consulted {}  approvals {}  approver≠author {}  tests {}",
                opt(&r.consulted, 80),
                approvals,
                match r.approver_not_author {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "-",
                },
                opt(&r.tests, 80),
            )?;
            if r.justification.is_some() || r.review.is_some() {
                writeln!(
                    out,
                    "    justification: {}  ticket {}  freeze {}  review: {}",
                    opt(&r.justification, 200),
                    opt(&r.ticket, 60),
                    opt(&r.freeze, 60),
                    opt(&r.review, 120),
                )?;
            }
            writeln!(
                out,
                "    signature {}  source {}  record {}",
                opt(&r.signature, 80),
                escape(&r.source, 160),
                r.records
                    .iter()
                    .map(|h| &h[..12.min(h.len())])
                    .collect::<Vec<_>>()
                    .join(" "),
            )?;
        } else {
            writeln!(
                out,
                "UNRECORDED  between {} and {}  {} ({})  {} → {}  {}{} commit{}",
                opt(&r.after, 25),
                r.before
                    .as_deref()
                    .map_or("now".to_owned(), |b| escape(b, 25)),
                escape(&r.branch, 60),
                escape(&r.environment, 40),
                oid(&r.old),
                oid(&r.new),
                if r.unrecorded_count == Some(WALK_LIMIT) {
                    "at least "
                } else {
                    ""
                },
                r.unrecorded_count.unwrap_or(0),
                if r.unrecorded_count == Some(1) {
                    ""
                } else {
                    "s"
                },
            )?;
            for c in &r.unrecorded_commits {
                writeln!(
                    out,
                    "    {}  {}  author {}  committer {}  {}",
                    short(&c.id),
                    c.date,
                    escape(&c.author, 80),
                    escape(&c.committer, 80),
                    escape(&c.summary, 80)
                )?;
            }
            if r.unrecorded_count.unwrap_or(0) > r.unrecorded_commits.len() {
                writeln!(out, "    …")?;
            }
        }
    }
    Ok(())
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 25] = [
    "time",
    "after",
    "before",
    "branch",
    "environment",
    "old",
    "new",
    "commits",
    "recorded",
    "pusher",
    "consulted",
    "approvals",
    "approver_not_author",
    "tests",
    "decision",
    "justification",
    "ticket",
    "freeze",
    "review",
    "signature",
    "source",
    "records",
    "unrecorded_commits",
    "unrecorded_count",
    "approval_times",
];

/// One row as CSV cells, in [`CSV_COLUMNS`] order; lists inside a cell are joined with `; `.
fn csv_record(r: &Row) -> [String; 25] {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        r.time.clone(),
        o(&r.after),
        o(&r.before),
        r.branch.clone(),
        r.environment.clone(),
        o(&r.old),
        o(&r.new),
        r.commits.map(|c| c.to_string()).unwrap_or_default(),
        r.recorded.to_string(),
        o(&r.pusher),
        o(&r.consulted),
        r.approvals
            .iter()
            .map(|a| {
                format!(
                    "{} <{}> {} ({}; {})",
                    a.name, a.email, a.time, a.when, a.signature
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        r.approver_not_author
            .map(|b| b.to_string())
            .unwrap_or_default(),
        o(&r.tests),
        o(&r.decision),
        o(&r.justification),
        o(&r.ticket),
        o(&r.freeze),
        o(&r.review),
        o(&r.signature),
        r.source.clone(),
        r.records.join(" "),
        r.unrecorded_commits
            .iter()
            .map(|c| {
                format!(
                    "{} author {} committer {} {}",
                    c.id, c.author, c.committer, c.summary
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        r.unrecorded_count
            .map(|c| c.to_string())
            .unwrap_or_default(),
        r.approvals
            .iter()
            .map(|a| a.when.clone())
            .collect::<Vec<_>>()
            .join("; "),
    ]
}

/// Writes the rest of the evidence beside `history.json` and `history.csv`: every record line
/// the rows rest on and every other record of the listed branches in the trail (so the absence
/// behind an UNRECORDED row can be checked too), the approvals the rows name, the allowed
/// signers used, and `SHA256SUMS` of it all.
#[allow(clippy::too_many_arguments)]
fn write_evidence(
    repo: &Repo,
    remote: &str,
    dir: &Path,
    rested: &HashSet<[u8; 32]>,
    branches: &HashSet<String>,
    named: &[(String, String, String)],
    approvals: &Approvals,
    allowed: Option<&crate::signing::AllowedSigners>,
    refs: &[trail::TrailRef],
) -> Result<()> {
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .with_context(|| format!("failed to write `{}`", path.display()))
    };
    // The record lines, as stored in the trail, once each.
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    trail::read_local_trail(repo, refs, &mut |line, record, hash| {
        let rests = trail::hash_key(hash).is_some_and(|k| rested.contains(&k));
        if rests || branches.contains(&record.remote_ref) {
            lines
                .entry(hash.to_owned())
                .or_insert_with(|| line.to_owned());
        }
    })
    .with_context(|| format!("failed to read the trail of `{remote}` again for the evidence"))?;
    let mut records = String::new();
    for line in lines.values() {
        records.push_str(line);
        records.push('\n');
    }
    write("records.jsonl", records.as_bytes())?;
    // The approvals the rows name, one JSON object per line, as stored in the notes.
    let mut approval_lines: Vec<String> = Vec::new();
    for (email, time, commit) in named {
        if let Some((_, stored)) = approvals
            .list
            .iter()
            .find(|(_, s)| (&s.email, &s.time, &s.commit) == (email, time, commit))
        {
            let line = serde_json::to_string(stored).context("failed to write an approval")?;
            if !approval_lines.contains(&line) {
                approval_lines.push(line);
            }
        }
    }
    let mut text = approval_lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write("approvals.jsonl", text.as_bytes())?;
    let mut names = vec![
        "history.json",
        "history.csv",
        "records.jsonl",
        "approvals.jsonl",
    ];
    if let Some(allowed) = allowed {
        let bytes = std::fs::read(&allowed.path)
            .with_context(|| format!("failed to read `{}`", allowed.path.display()))?;
        write("allowed_signers", &bytes)?;
        names.push("allowed_signers");
    }
    let mut sums = String::new();
    for name in names {
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
        sums.push_str(&format!("{}  {name}\n", crate::audit::sha256_hex(&bytes)));
    }
    write("SHA256SUMS", sums.as_bytes())
}
