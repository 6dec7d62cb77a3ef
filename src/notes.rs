//! The team layer's storage: git notes on `refs/notes/pushguard-approvals` (who approved
//! which commit for which environment), `refs/notes/pushguard-waivers` (who waived which
//! check of which commit: [`waivers`]) and `refs/notes/pushguard-audit` (the audit record
//! lines of gated pushes), shared through the remote with the git CLI.
//!
//! Notes are never overwritten: a note that already exists on a commit is merged with the
//! new content (approvals as a union of JSON entries, audit notes as a union of lines). A
//! notes ref fetched from a remote lands in `refs/notes/pushguard-remote/<remote>/<name>` and
//! is merged into the local ref note by note, with a merge commit whose second parent is the
//! remote's tip, so that the next push of the local ref is a fast-forward. Every git child
//! process is bounded in time and runs with git's repository-local variables removed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use git2::{Oid, Signature};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Record};
use crate::git::{self, Repo};
use crate::WithHint;

mod fanout;
pub mod waivers;

pub use waivers::{Waiver, WAIVERS};

pub mod requests;
pub mod reviews;

/// The notes ref holding approvals.
pub const APPROVALS: NotesRef = NotesRef("pushguard-approvals");
/// The notes ref holding audit record lines.
pub const AUDIT: NotesRef = NotesRef("pushguard-audit");

/// How long the hook waits for a notes fetch before it goes on with local notes.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a notes push (with its fetches and retries) may take.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a push rejected as non-fast-forward is retried after merging again, within
/// [`PUSH_TIMEOUT`]. Twenty clones sharing one notes ref at once needed more than the 12
/// tries this once was: each round only one of them wins (the load test of issue 14).
const PUSH_ATTEMPTS: usize = 40;
/// The file in the state directory listing remotes whose audit notes still need a push.
const PENDING_FILE: &str = "audit-notes-pending";

/// One of pushguard's notes refs, by its short name under `refs/notes/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotesRef(&'static str);

impl NotesRef {
    /// The full ref name, `refs/notes/<name>`.
    pub fn full(self) -> String {
        format!("refs/notes/{}", self.0)
    }

    /// Where the copy fetched from `remote` is kept.
    pub fn tracking(self, remote: &str) -> String {
        format!(
            "refs/notes/pushguard-remote/{}/{}",
            ref_safe(remote),
            self.0
        )
    }

    fn merge(self, ours: &str, theirs: &str) -> String {
        if self == APPROVALS {
            merge_approval_notes(ours, theirs)
        } else if self == WAIVERS {
            waivers::merge_waiver_notes(ours, theirs)
        } else {
            merge_lines(ours, theirs)
        }
    }
}

/// A remote name usable inside a ref name (a URL becomes a stable, safe key).
fn ref_safe(remote: &str) -> String {
    let ok = !remote.is_empty()
        && remote
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !remote.starts_with('.')
        && !remote.contains("..");
    if ok {
        remote.to_owned()
    } else {
        format!("url-{}", &audit::sha256_hex(remote.as_bytes())[..16])
    }
}

// ---------------------------------------------------------------------------------------
// Approvals.

/// One approval, as stored in the JSON array of an approvals note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub name: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub environment: String,
    pub commit: String,
    pub tree: String,
    /// SSH signature (namespace `pushguard-approval`) of the environment, commit and tree
    /// ([`crate::signing::approval_payload`]); absent when the approver has no signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Approval {
    /// The same person approving the same commit for the same environment (a note written
    /// under someone's email never hides their signed approval).
    fn same_as(&self, other: &Approval) -> bool {
        self.email.eq_ignore_ascii_case(&other.email)
            && self.environment == other.environment
            && self.commit == other.commit
            && self.signature == other.signature
    }
}

/// How many entries of the approvals note on `commit` are not approvals pushguard can read
/// (a note written by hand); a note that is not a JSON list counts as one.
pub fn unreadable_approvals(repo: &Repo, commit: Oid) -> usize {
    let Ok(Some(text)) = read_note(repo, &APPROVALS.full(), commit) else {
        return 0;
    };
    match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
        Ok(values) => values
            .into_iter()
            .filter(|v| serde_json::from_value::<Approval>(v.clone()).is_err())
            .count(),
        Err(_) => usize::from(!text.trim().is_empty()),
    }
}

/// Parses an approvals note; unreadable entries are dropped rather than failing the check.
pub fn parse_approvals(text: &str) -> Vec<Approval> {
    serde_json::from_str::<Vec<serde_json::Value>>(text)
        .map(|values| {
            values
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn render_approvals(list: &[Approval]) -> String {
    let mut out = String::from("[\n");
    for (i, a) in list.iter().enumerate() {
        out.push_str(&serde_json::to_string(a).expect("an approval always serializes"));
        out.push_str(if i + 1 < list.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

/// The union of two approvals notes: each person's approval of a commit for an environment
/// once (the earliest), ordered by time; then every other entry (a review, [`reviews`]) once,
/// as it was written.
pub fn merge_approval_notes(ours: &str, theirs: &str) -> String {
    let mut all = parse_approvals(ours);
    all.extend(parse_approvals(theirs));
    all.sort_by(|a, b| a.time.cmp(&b.time).then(a.email.cmp(&b.email)));
    let mut out: Vec<Approval> = Vec::new();
    for a in all {
        if !out.iter().any(|o| o.same_as(&a)) {
            out.push(a);
        }
    }
    let mut others: Vec<String> = Vec::new();
    for text in [ours, theirs] {
        let values = serde_json::from_str::<Vec<serde_json::Value>>(text).unwrap_or_default();
        for v in values {
            if serde_json::from_value::<Approval>(v.clone()).is_ok() {
                continue;
            }
            let line = serde_json::to_string(&v).expect("a JSON value always serializes");
            if !others.contains(&line) {
                others.push(line);
            }
        }
    }
    let mut lines: Vec<String> = out
        .iter()
        .map(|a| serde_json::to_string(a).expect("an approval always serializes"))
        .collect();
    lines.extend(others);
    render_lines(&lines)
}

/// A JSON array with one entry per line.
fn render_lines(lines: &[String]) -> String {
    let mut out = String::from("[\n");
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push_str(if i + 1 < lines.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

/// The union of two line-based notes: our lines in order, then their new ones.
pub fn merge_lines(ours: &str, theirs: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in ours.lines().chain(theirs.lines()) {
        if !line.trim().is_empty() && !out.contains(&line) {
            out.push(line);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Records an approval on its commit, merged with the approvals already there.
/// Returns `false` when that person had already approved that commit for that environment.
pub fn add_approval(repo: &Repo, approval: &Approval) -> Result<bool> {
    let oid = Oid::from_str(&approval.commit)
        .with_context(|| format!("invalid commit `{}`", approval.commit))?;
    let existing = read_note(repo, &APPROVALS.full(), oid)?.unwrap_or_default();
    if !existing.trim().is_empty()
        && serde_json::from_str::<Vec<serde_json::Value>>(&existing).is_err()
    {
        return Err(anyhow::anyhow!(
            "the note on {oid} in `{}` is not a JSON array of approvals, so pushguard will not overwrite it",
            APPROVALS.full()
        ))
        .hint(format!(
            "look at it with `git notes --ref {} show {oid}` and fix or remove it",
            APPROVALS.0
        ));
    }
    if parse_approvals(&existing)
        .iter()
        .any(|a| a.same_as(approval))
    {
        return Ok(false);
    }
    let merged = merge_approval_notes(&existing, &render_approvals(std::slice::from_ref(approval)));
    write_note(repo, &APPROVALS.full(), oid, &merged)?;
    Ok(true)
}

/// Every approval in the local approvals notes, with the commit each note is attached to.
pub fn all_approvals(repo: &Repo) -> Result<Vec<(Oid, Approval)>> {
    let mut out = Vec::new();
    for (annotated, text) in all_notes(repo, &APPROVALS.full())? {
        for a in parse_approvals(&text) {
            out.push((annotated, a));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The shared audit trail.

/// The commit an audit record is attached to: the pushed tip, or the deleted tip.
fn record_commit(record: &Record) -> Option<Oid> {
    record
        .new
        .as_deref()
        .or(record.old.as_deref())
        .and_then(|hex| Oid::from_str(hex).ok())
}

/// Attaches a record's line to the pushed tip in `refs/notes/pushguard-audit`, merged with
/// the records already there.
pub fn record_audit(repo: &Repo, record: &Record) -> Result<()> {
    attach_audit(repo, &AUDIT.full(), record)
}

/// Attaches a record's line to the pushed tip under `notes_ref`, merged with the lines there.
fn attach_audit(repo: &Repo, notes_ref: &str, record: &Record) -> Result<()> {
    let Some(oid) = record_commit(record) else {
        return Ok(());
    };
    let (line, _) = record.to_line();
    let existing = read_note(repo, notes_ref, oid)?.unwrap_or_default();
    let merged = merge_lines(&existing, &line);
    if merged != existing {
        write_note(repo, notes_ref, oid, &merged)?;
    }
    Ok(())
}

/// Attaches each record to its tip, in the local notes and in the outbox of `destination`
/// (the remote or URL the push went to), and, when `push` is set (the push was allowed),
/// pushes that outbox to the destination's `refs/notes/pushguard-audit`. Only records of
/// pushes to a destination ever reach its notes. Returns what went wrong, as warnings: the
/// shared trail never blocks a push (the local audit log is the record that must be written).
pub fn share_audit(repo: &Repo, records: &[Record], destination: &str, push: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let outbox = outbox_ref(repo, destination);
    if let Err(e) = seed_outbox(repo, destination, &outbox) {
        warnings.push(format!("{e:#}"));
    }
    for record in records {
        if let Err(e) =
            record_audit(repo, record).and_then(|()| attach_audit(repo, &outbox, record))
        {
            warnings.push(format!("{e:#}"));
        }
    }
    if push {
        if let Err(e) = push_audit_notes(repo, destination) {
            warnings.push(format!(
                "the audit notes were not shared with {destination} (they will be pushed again next time): {e:#}"
            ));
        }
    }
    warnings
}

/// The local notes ref holding what is shared with `destination`: the records of pushes to
/// it, merged with its own notes. Keyed by the destination's normalised URL, so a renamed
/// remote keeps its outbox and a throwaway remote never shares one with the real remote.
pub fn outbox_ref(repo: &Repo, destination: &str) -> String {
    let url = repo
        .git2()
        .find_remote(destination)
        .ok()
        .and_then(|r| r.pushurl().or(r.url()).map(str::to_owned))
        .unwrap_or_else(|| destination.to_owned());
    format!(
        "refs/notes/pushguard-outbox/{}/{}",
        ref_safe(&crate::remote_id::key(&url)),
        AUDIT.0
    )
}

/// Creates the outbox of `destination` the first time it is needed, from the records in the
/// local `refs/notes/pushguard-audit` whose push went to that destination: a clone upgraded
/// from a version without outboxes may hold records it never managed to share.
fn seed_outbox(repo: &Repo, destination: &str, outbox: &str) -> Result<()> {
    let git = repo.git2();
    if git.refname_to_id(outbox).is_ok() || git.refname_to_id(&AUDIT.full()).is_err() {
        return Ok(());
    }
    let keys = crate::remote_id::keys(repo, destination);
    let mut tree = git
        .treebuilder(None)
        .with_context(|| format!("failed to build `{outbox}`"))?;
    let mut any = false;
    for (annotated, text) in all_notes(repo, &AUDIT.full())? {
        let bound: Vec<&str> = text
            .lines()
            .filter(|line| {
                audit::parse_line(line.as_bytes())
                    .is_ok_and(|(r, _)| crate::remote_id::bound_to(&r.url, &keys))
            })
            .collect();
        if bound.is_empty() {
            continue;
        }
        let blob = git
            .blob(format!("{}\n", bound.join("\n")).as_bytes())
            .with_context(|| format!("failed to write a note of `{outbox}`"))?;
        tree.insert(annotated.to_string(), blob, 0o100644)
            .with_context(|| format!("failed to build `{outbox}`"))?;
        any = true;
    }
    if !any {
        return Ok(());
    }
    let tree = tree
        .write()
        .and_then(|id| git.find_tree(id))
        .with_context(|| format!("failed to build `{outbox}`"))?;
    let sig = signature(repo)?;
    git.commit(
        Some(outbox),
        &sig,
        &sig,
        "Records of pushes to this remote, from the local notes",
        &tree,
        &[],
    )
    .with_context(|| format!("failed to write `{outbox}`"))?;
    Ok(())
}

/// Reads the audit records stored under a notes ref (lines that do not verify are skipped).
pub fn records_in(repo: &Repo, notes_ref: &str) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (_, text) in all_notes(repo, notes_ref)? {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok((record, _)) = audit::parse_line(line.as_bytes()) {
                out.push(record);
            }
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// The audit records attached to `commits` under a notes ref (lines that do not verify are
/// skipped), oldest first: a few notes read, where [`records_in`] reads them all. For a
/// reader that can use a subset of the records (the soak check's fast path, which falls back
/// to [`records_in`] whenever the subset does not settle it).
pub fn records_on(repo: &Repo, notes_ref: &str, commits: &[Oid]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    if repo.git2().refname_to_id(notes_ref).is_err() {
        return Ok(out);
    }
    for oid in commits {
        let Some(text) = read_note(repo, notes_ref, *oid)? else {
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok((record, _)) = audit::parse_line(line.as_bytes()) {
                out.push(record);
            }
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// The team's audit records on `remote`: fetched, then read from the fetched copy.
/// `Ok(None)` when the remote has no audit notes yet.
pub fn remote_records(repo: &Repo, remote: &str) -> Result<Option<Vec<Record>>> {
    match fetch(repo, remote, AUDIT, FETCH_TIMEOUT)? {
        Fetched::Missing => Ok(None),
        Fetched::Updated => Ok(Some(records_in(repo, &AUDIT.tracking(remote))?)),
    }
}

/// Pushes the audit notes to `remote`; on failure the remote is remembered in the state
/// directory so that the next push, `log --remote` or `audit` pushes them again.
pub fn push_audit_notes(repo: &Repo, remote: &str) -> Result<()> {
    let outbox = outbox_ref(repo, remote);
    let result = seed_outbox(repo, remote, &outbox)
        .and_then(|()| push_from(repo, remote, AUDIT, &outbox, PUSH_TIMEOUT));
    let mut pending = pending_remotes(repo);
    let before = pending.clone();
    pending.retain(|r| r != remote);
    if result.is_err() {
        pending.push(remote.to_owned());
    }
    if pending != before {
        write_pending(repo, &pending)?;
    }
    result
}

/// Pushes the audit notes to every remote where an earlier push of them failed.
/// Returns the remotes that still failed, with why.
pub fn push_pending_audit_notes(repo: &Repo) -> Vec<(String, anyhow::Error)> {
    let mut failed = Vec::new();
    for remote in pending_remotes(repo) {
        if let Err(e) = push_audit_notes(repo, &remote) {
            failed.push((remote, e));
        }
    }
    failed
}

fn pending_path(repo: &Repo) -> PathBuf {
    repo.state_dir().join(PENDING_FILE)
}

fn pending_remotes(repo: &Repo) -> Vec<String> {
    std::fs::read_to_string(pending_path(repo))
        .map(|t| {
            t.lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn write_pending(repo: &Repo, remotes: &[String]) -> Result<()> {
    let path = pending_path(repo);
    if remotes.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("failed to remove `{}`", path.display()))
            }
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(repo.state_dir())
        .with_context(|| format!("failed to create `{}`", repo.state_dir().display()))?;
    std::fs::write(&path, remotes.join("\n") + "\n")
        .with_context(|| format!("failed to write `{}`", path.display()))
}

/// Writes a command's listing to stdout; a reader that stopped early (`| head`) is not an error.
pub fn print_listing(text: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("failed to write to stdout")
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Reading and writing notes (libgit2).

/// The note attached to `oid` under `notes_ref`, if any.
pub fn read_note(repo: &Repo, notes_ref: &str, oid: Oid) -> Result<Option<String>> {
    match repo.git2().find_note(Some(notes_ref), oid) {
        Ok(note) => Ok(Some(
            String::from_utf8_lossy(note.message_bytes()).into_owned(),
        )),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("failed to read the note on {oid} in `{notes_ref}`"))
        }
    }
}

/// Every note under `notes_ref`: `(annotated commit, text)`; empty if the ref does not exist.
pub fn all_notes(repo: &Repo, notes_ref: &str) -> Result<Vec<(Oid, String)>> {
    let git = repo.git2();
    if git.refname_to_id(notes_ref).is_err() {
        return Ok(Vec::new());
    }
    let iter = git
        .notes(Some(notes_ref))
        .with_context(|| format!("failed to list the notes in `{notes_ref}`"))?;
    let mut out = Vec::new();
    for item in iter {
        let (blob, annotated) =
            item.with_context(|| format!("failed to list the notes in `{notes_ref}`"))?;
        let blob = git
            .find_blob(blob)
            .with_context(|| format!("failed to read the note on {annotated} in `{notes_ref}`"))?;
        out.push((
            annotated,
            String::from_utf8_lossy(blob.content()).into_owned(),
        ));
    }
    Ok(out)
}

fn signature(repo: &Repo) -> Result<Signature<'static>> {
    repo.git2()
        .signature()
        .or_else(|_| Signature::now("pushguard", "pushguard@localhost"))
        .context("failed to make a signature for the notes commit")
}

/// Writes (replaces) the note on `oid`; callers merge first.
fn write_note(repo: &Repo, notes_ref: &str, oid: Oid, text: &str) -> Result<()> {
    fanout::write_note(repo.git2(), notes_ref, oid, text, &signature(repo)?)
}

/// Merges the notes commit `theirs_ref` points at into `ours_ref`, note by note.
///
/// Fast-forwards when one side contains the other; otherwise merges each differing note into
/// ours and closes with a merge commit whose second parent is theirs, so that pushing ours
/// to where theirs came from is a fast-forward.
fn merge_into(repo: &Repo, which: NotesRef, ours_ref: &str, theirs_ref: &str) -> Result<()> {
    let git = repo.git2();
    let Ok(theirs) = git.refname_to_id(theirs_ref) else {
        return Ok(());
    };
    let ours = match git.refname_to_id(ours_ref) {
        Ok(o) => o,
        Err(_) => {
            git.reference(ours_ref, theirs, true, "pushguard: notes from the remote")
                .with_context(|| format!("failed to update `{ours_ref}`"))?;
            return Ok(());
        }
    };
    if ours == theirs || git.graph_descendant_of(ours, theirs).unwrap_or(false) {
        return Ok(());
    }
    if git.graph_descendant_of(theirs, ours).unwrap_or(false) {
        git.reference(ours_ref, theirs, true, "pushguard: fast-forward notes")
            .with_context(|| format!("failed to update `{ours_ref}`"))?;
        return Ok(());
    }
    for (annotated, text) in all_notes(repo, theirs_ref)? {
        let existing = read_note(repo, ours_ref, annotated)?;
        let merged = match &existing {
            Some(mine) => which.merge(mine, &text),
            None => text.clone(),
        };
        if existing.as_deref() != Some(merged.as_str()) {
            write_note(repo, ours_ref, annotated, &merged)?;
        }
    }
    let tip = git
        .find_commit(git.refname_to_id(ours_ref)?)
        .context("failed to read the notes commit")?;
    let other = git
        .find_commit(theirs)
        .context("failed to read the fetched notes commit")?;
    let tree = tip.tree().context("failed to read the notes tree")?;
    let sig = signature(repo)?;
    git.commit(
        Some(ours_ref),
        &sig,
        &sig,
        &format!("Notes merged by pushguard from {theirs_ref}"),
        &tree,
        &[&tip, &other],
    )
    .with_context(|| format!("failed to write the merge of `{theirs_ref}` into `{ours_ref}`"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sharing through the remote (git CLI, bounded in time).

/// What a notes fetch found on the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The remote's notes were fetched and merged into the local ref.
    Updated,
    /// The remote has no such notes ref (nobody has shared any yet).
    Missing,
}

/// Fetches a notes ref from `remote` and merges it into the local one.
pub fn fetch(repo: &Repo, remote: &str, which: NotesRef, timeout: Duration) -> Result<Fetched> {
    let tracking = which.tracking(remote);
    let refspec = format!("+{}:{tracking}", which.full());
    let out = git::run_bounded(
        repo,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            &refspec,
        ],
        timeout,
    )
    .with_context(|| format!("failed to fetch `{}` from `{remote}`", which.full()))?;
    if !out.success {
        if out.stderr.contains("couldn't find remote ref") {
            return Ok(Fetched::Missing);
        }
        bail!(
            "failed to fetch `{}` from `{remote}`: {}",
            which.full(),
            out.stderr_summary()
        );
    }
    merge_into(repo, which, &which.full(), &tracking)?;
    Ok(Fetched::Updated)
}

/// Fetches `remote`'s branches into its remote-tracking refs (`refs/remotes/<remote>/*`).
pub fn fetch_branches(repo: &Repo, remote: &str, timeout: Duration) -> Result<()> {
    let refspec = format!("+refs/heads/*:refs/remotes/{remote}/*");
    let out = git::run_bounded(
        repo,
        &["fetch", "--quiet", "--no-tags", "--prune", remote, &refspec],
        timeout,
    )
    .with_context(|| format!("failed to fetch the branches of `{remote}`"))?;
    if !out.success {
        bail!(
            "failed to fetch the branches of `{remote}`: {}",
            out.stderr_summary()
        );
    }
    Ok(())
}

/// Pushes a notes ref to `remote`: fetches and merges first, and on a rejection (another
/// person pushed notes in between) fetches, merges and pushes again, a few times.
pub fn push(repo: &Repo, remote: &str, which: NotesRef, timeout: Duration) -> Result<()> {
    push_from(repo, remote, which, &which.full(), timeout)
}

/// Pushes the local notes ref `local` to `remote`'s copy of `which`, merging the remote's
/// notes into `local` first (and again after a lost race).
fn push_from(
    repo: &Repo,
    remote: &str,
    which: NotesRef,
    local: &str,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let full = which.full();
    let refspec = format!("{local}:{full}");
    let mut last = String::new();
    for attempt in 0..PUSH_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // A failed fetch (say, a fetch URL that differs from the push URL) does not stop the
        // push: if the remote moved on, the push is rejected and says so.
        let mut fetched = fetch(repo, remote, which, left);
        if local != full && fetched.as_ref().is_ok_and(|f| *f == Fetched::Updated) {
            fetched =
                merge_into(repo, which, local, &which.tracking(remote)).map(|()| Fetched::Updated);
        }
        if repo.git2().refname_to_id(local).is_err() {
            // Nothing to share.
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let out = git::run_bounded(
            repo,
            &["push", "--quiet", "--no-verify", remote, &refspec],
            left,
        )
        .with_context(|| format!("failed to push `{full}` to `{remote}`"))?;
        if out.success {
            return Ok(());
        }
        last = out.stderr_summary();
        if let Err(e) = fetched {
            last = format!("{last} (and before that: {e:#})");
        }
        if !lost_a_race(&out.stderr) {
            break;
        }
        // Someone else pushed notes between our fetch and our push: merge theirs and retry.
        std::thread::sleep(backoff(attempt));
    }
    bail!("failed to push `{full}` to `{remote}`: {last}")
}

/// A growing, jittered pause before retrying, so that racing approvers spread out.
fn backoff(attempt: usize) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            u64::from(d.subsec_nanos()) ^ u64::from(std::process::id())
        })
        % 100;
    Duration::from_millis(40 * (attempt as u64 + 1) + jitter)
}

/// Tells whether a rejected push lost a race with another notes push, or was shed by a busy
/// server (worth a merge and a retry), rather than being refused for good (a hook,
/// permissions). `git daemon` resets connections past its `--max-connections`: the load
/// test of issue 14 (20 clones pushing at once) met it.
fn lost_a_race(stderr: &str) -> bool {
    [
        "non-fast-forward",
        "fetch first",
        "cannot lock ref",
        "failed to update ref",
        "incorrect old value",
        "Connection reset by peer",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(email: &str, env: &str, time: &str) -> Approval {
        Approval {
            name: "N".into(),
            email: email.into(),
            time: time.into(),
            environment: env.into(),
            commit: "c".repeat(40),
            tree: "t".repeat(40),
            signature: None,
        }
    }

    #[test]
    fn approvals_merge_as_a_union() {
        let a = render_approvals(&[approval("a@x", "production", "2026-01-02T00:00:00Z")]);
        let b = render_approvals(&[
            approval("b@x", "production", "2026-01-01T00:00:00Z"),
            approval("A@x", "production", "2026-01-03T00:00:00Z"),
            approval("a@x", "staging", "2026-01-03T00:00:00Z"),
        ]);
        let merged = parse_approvals(&merge_approval_notes(&a, &b));
        let keys: Vec<_> = merged
            .iter()
            .map(|a| (a.email.as_str(), a.environment.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("b@x", "production"),
                ("a@x", "production"),
                ("a@x", "staging")
            ]
        );
        assert_eq!(merge_approval_notes(&a, &a), a);
    }

    #[test]
    fn line_notes_merge_as_a_union() {
        assert_eq!(merge_lines("a\nb\n", "b\nc\n"), "a\nb\nc\n");
        assert_eq!(merge_lines("", "a"), "a\n");
    }

    #[test]
    fn remote_names_become_safe_ref_parts() {
        assert_eq!(ref_safe("origin"), "origin");
        assert!(ref_safe("git@example.com:team/app.git").starts_with("url-"));
        assert!(ref_safe("..").starts_with("url-"));
    }
}
