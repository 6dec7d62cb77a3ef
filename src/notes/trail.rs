//! The shared audit trail's layout on a remote (issues 19 and 23): one notes ref per writer,
//! `refs/notes/pushguard-audit.d/<writer>`, that only that writer updates — each clone under
//! its own id, a server in server mode under `server` — so concurrent pushes from many clones
//! never reject each other's records, and a reader takes the whole namespace, with the single
//! `refs/notes/pushguard-audit` of earlier versions, in one fetch.
//!
//! git cannot hold `refs/notes/pushguard-audit/<x>` beside `refs/notes/pushguard-audit` (a
//! ref is a file or a directory, in the files backend and in reftable alike), so the
//! namespace is a sibling, `pushguard-audit.d/`, and the old ref stays readable on the same
//! remote; the glob `refs/notes/pushguard-audit*` fetches both.
//!
//! A clone keeps what it shares with a destination in a local outbox keyed by the URL pushed
//! to ([`outbox_ref`]); the first time, the outbox is filled from the clone's own log with the
//! records of pushes to that URL (so records an earlier version left unshared go out, and
//! only to where their push went). A trail is append-only: reading it ([`read_remote_trail`])
//! finds records a trail held in its history, or in what this clone fetched before, that it no
//! longer holds.

use std::collections::{HashMap, HashSet};
use std::io::BufRead as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use git2::Oid;

use super::{all_notes, fanout, merge_into, ref_safe, signature, AUDIT};
use crate::audit::{self, Record};
use crate::git::{self, Repo};
use crate::remote_id;

/// Where each writer's notes live: `refs/notes/pushguard-audit.d/<writer>`.
pub const NAMESPACE: &str = "refs/notes/pushguard-audit.d/";
/// The writer of a server's own records (its post-receive hook; never a push).
pub const SERVER_WRITER: &str = "server";
/// The git config key (in the clone's own config) holding the clone's writer id.
pub const CLONE_ID_KEY: &str = "pushguard.cloneId";
/// The length of a clone's writer id (hex digits).
const CLONE_ID_LEN: usize = 16;
/// The largest note a server accepts in a trail ref (a commit pushed, or refused, hundreds of
/// times carries as many records).
pub const MAX_NOTE_BYTES: usize = 1024 * 1024;
/// The most notes one push may add to or change in a trail ref on a server (a clone's first
/// share carries every record it made for that remote).
pub const MAX_NOTES_PER_PUSH: usize = 20_000;
/// The most bytes of notes one push may add to or change in a trail ref on a server.
pub const MAX_BYTES_PER_PUSH: usize = 64 * 1024 * 1024;
/// How long a notes push (with a fetch and merge after a rejection) may take.
pub const PUSH_TIMEOUT: Duration = super::PUSH_TIMEOUT;
/// How many times the push of this clone's own ref is tried. Nobody else writes it, so a
/// rejection means the local outbox lost something the remote has (merged, then pushed
/// again) or a busy server shed the connection.
const PUSH_ATTEMPTS: usize = 6;
/// The file in the state directory listing the URLs whose audit notes still need a push.
const PENDING_FILE: &str = "audit-notes-pending";
/// The glob that fetches the old ref and the namespace at once.
const FETCH_GLOB: &str = "refs/notes/pushguard-audit*";

/// The ref of `writer` in the namespace.
pub fn writer_ref(writer: &str) -> String {
    format!("{NAMESPACE}{writer}")
}

/// The writer of a ref in the namespace (`None` for any other ref).
pub fn writer_of(refname: &str) -> Option<&str> {
    refname.strip_prefix(NAMESPACE)
}

/// Tells whether `id` has the shape of a clone's writer id.
pub fn is_clone_id(id: &str) -> bool {
    id.len() == CLONE_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Tells whether `refname` holds audit records: the old single ref or a writer's ref.
pub fn is_audit_ref(refname: &str) -> bool {
    refname == AUDIT.full() || refname.starts_with(NAMESPACE)
}

/// Tells whether `refname` is one of the team's trail refs (audit records, approvals and
/// the reviews beside them, or waivers).
pub fn is_trail_ref(refname: &str) -> bool {
    is_audit_ref(refname) || refname == super::APPROVALS.full() || refname == super::WAIVERS.full()
}

// ---------------------------------------------------------------------------------------
// Who this clone is.

/// This clone's writer id: `pushguard.cloneId` in the clone's own config, or, the first
/// time, the id derived from where the clone is ([`derived_clone_id`]), then remembered.
pub fn clone_id(repo: &Repo) -> String {
    if let Some(id) = stored_clone_id(repo) {
        return id;
    }
    let id = derived_clone_id(repo);
    if let Ok(mut config) = git2::Config::open(&repo.common_dir().join("config")) {
        let _ = config.set_str(CLONE_ID_KEY, &id);
    }
    id
}

fn stored_clone_id(repo: &Repo) -> Option<String> {
    git2::Config::open(&repo.common_dir().join("config"))
        .ok()?
        .get_string(CLONE_ID_KEY)
        .ok()
        .filter(|id| is_clone_id(id))
}

/// The id a clone gets from the machine's host name, the clone's git directory and the
/// pusher's `user.email`: a clone whose log, notes and config were all wiped still finds
/// what it shared, and two clones (or two people) do not share one ref.
pub fn derived_clone_id(repo: &Repo) -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let dir = repo
        .common_dir()
        .canonicalize()
        .unwrap_or_else(|_| repo.common_dir().to_path_buf());
    let email = repo.identity().email;
    let seed = format!("pushguard clone\0{host}\0{}\0{email}", dir.display());
    audit::sha256_hex(seed.as_bytes())[..CLONE_ID_LEN].to_owned()
}

/// Every writer id this clone may have shared under: the remembered one and the derived one.
pub fn clone_ids(repo: &Repo) -> Vec<String> {
    let mut ids: Vec<String> = stored_clone_id(repo).into_iter().collect();
    let derived = derived_clone_id(repo);
    if !ids.contains(&derived) {
        ids.push(derived);
    }
    ids
}

// ---------------------------------------------------------------------------------------
// Writing: attach records, fill and push this clone's outbox.

/// The commit an audit record is attached to: the pushed tip, or the deleted tip.
fn record_commit(record: &Record) -> Option<Oid> {
    record
        .new
        .as_deref()
        .or(record.old.as_deref())
        .and_then(|hex| Oid::from_str(hex).ok())
}

/// Attaches a record's line to its commit under `notes_ref`, merged with the lines there.
/// Another process of the same clone (a push from a linked worktree) may move the ref in
/// between: then the note is read and merged again, a few times.
pub fn attach(repo: &Repo, notes_ref: &str, record: &Record) -> Result<()> {
    let Some(oid) = record_commit(record) else {
        return Ok(());
    };
    let (line, _) = record.to_line();
    let mut tries = 0;
    loop {
        let existing = super::read_note(repo, notes_ref, oid)?.unwrap_or_default();
        let merged = super::merge_lines(&existing, &line);
        if merged == existing {
            return Ok(());
        }
        match super::write_note(repo, notes_ref, oid, &merged) {
            Err(_) if tries < 5 => tries += 1,
            other => return other,
        }
    }
}

/// [`attach`] through git alone (a SHA-256 repository, which libgit2 cannot open): the
/// record's line on its commit under `notes_ref`, merged with the lines there.
pub fn attach_via_git(git: &crate::git::GitDir, notes_ref: &str, record: &Record) -> Result<()> {
    let Some(commit) = record.new.as_deref().or(record.old.as_deref()) else {
        return Ok(());
    };
    let (line, _) = record.to_line();
    let existing = git.note(notes_ref, commit).unwrap_or_default();
    let merged = super::merge_lines(&existing, &line);
    if merged != existing {
        git.set_note(notes_ref, commit, &merged)?;
    }
    Ok(())
}

/// The local notes ref holding this clone's records of pushes to `url`: what is pushed to
/// that URL's `refs/notes/pushguard-audit.d/<clone id>`. Keyed by the URL's normalised form
/// ([`remote_id::key`]), so a renamed remote keeps its outbox and another URL (another port,
/// say) never shares one.
pub fn outbox_ref(url: &str) -> String {
    format!(
        "refs/notes/pushguard-outbox/{}/clone",
        ref_safe(&remote_id::key(url))
    )
}

/// Where the remote's copy of this clone's own ref is fetched to, after a rejected push.
fn own_tracking(url: &str) -> String {
    format!(
        "refs/notes/pushguard-outbox/{}/remote",
        ref_safe(&remote_id::key(url))
    )
}

/// Attaches each record to its tip in the outbox of `url` (the URL the push went to: git's
/// `$2`) and, when `push` is set (the push was allowed), pushes that outbox to the URL's
/// `refs/notes/pushguard-audit.d/<clone id>`. Only records of pushes to a URL ever reach its
/// notes. Returns what went wrong, as warnings: the shared trail never blocks a push (the
/// local audit log is the record that must be written).
pub fn share_audit(repo: &Repo, records: &[Record], url: &str, push: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let outbox = outbox_ref(url);
    if let Err(e) = fill_outbox(repo, url, &outbox) {
        warnings.push(format!("{e:#}"));
    }
    for record in records {
        if let Err(e) = attach(repo, &outbox, record) {
            warnings.push(format!("{e:#}"));
        }
    }
    if push {
        if let Err(e) = push_audit_notes(repo, url) {
            warnings.push(format!(
                "the audit notes were not shared with {} (they will be pushed again next time): {e:#}",
                crate::text::escape(url, 120)
            ));
        }
    }
    warnings
}

/// Creates the outbox of `url` the first time it is needed, from this clone's own log: every
/// record of a push to that URL (a clone upgraded from the single-ref layout may hold records
/// it never managed to share). Records of pushes to other URLs never go in, whatever
/// `remote.<name>.pushguardUrl` says.
fn fill_outbox(repo: &Repo, url: &str, outbox: &str) -> Result<()> {
    let git = repo.git2();
    if git.refname_to_id(outbox).is_ok() {
        return Ok(());
    }
    let path = audit::log_path(&repo.state_dir());
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to read the audit log `{}`", path.display()))
        }
    };
    let key = remote_id::key(url);
    let mut same: HashMap<String, bool> = HashMap::new();
    let mut by_commit: HashMap<Oid, String> = HashMap::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line =
            line.with_context(|| format!("failed to read the audit log `{}`", path.display()))?;
        let Ok((record, _)) = audit::parse_line(&line) else {
            continue;
        };
        let ours = *same
            .entry(record.url.clone())
            .or_insert_with(|| remote_id::key(&record.url) == key);
        let Some(commit) = record_commit(&record).filter(|_| ours) else {
            continue;
        };
        let text = by_commit.entry(commit).or_default();
        text.push_str(&String::from_utf8_lossy(&line));
        text.push('\n');
    }
    if by_commit.is_empty() {
        return Ok(());
    }
    let mut notes = Vec::with_capacity(by_commit.len());
    for (commit, text) in by_commit {
        let blob = git
            .blob(text.as_bytes())
            .with_context(|| format!("failed to write a note of `{outbox}`"))?;
        notes.push((commit.to_string(), blob));
    }
    // A chain of commits, each adding at most half of what a server takes in one push, so
    // that a long log can still be shared one commit at a time ([`push_in_steps`]).
    notes.sort_unstable();
    let sig = signature(repo)?;
    let mut parent: Option<git2::Commit<'_>> = None;
    let mut upto = 0;
    while upto < notes.len() {
        upto = (upto + MAX_NOTES_PER_PUSH / 2).min(notes.len());
        let what = || format!("failed to write `{outbox}`");
        let tree = git
            .find_tree(fanout::build(git, &notes[..upto])?)
            .with_context(what)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = git
            .commit(
                None,
                &sig,
                &sig,
                "This clone's records of pushes to this URL, from its audit log",
                &tree,
                &parents,
            )
            .with_context(what)?;
        parent = Some(git.find_commit(id).with_context(what)?);
    }
    if let Some(tip) = parent {
        git.reference(
            outbox,
            tip.id(),
            false,
            "pushguard: outbox from the audit log",
        )
        .with_context(|| format!("failed to write `{outbox}`"))?;
    }
    Ok(())
}

/// Pushes this clone's outbox of `url` to the URL's `refs/notes/pushguard-audit.d/<clone id>`;
/// on failure the URL is remembered in the state directory so that the next push,
/// `log --remote` or `audit` pushes it again.
pub fn push_audit_notes(repo: &Repo, url: &str) -> Result<()> {
    let outbox = outbox_ref(url);
    let result =
        fill_outbox(repo, url, &outbox).and_then(|()| push_own(repo, url, &outbox, PUSH_TIMEOUT));
    let mut pending = pending_urls(repo);
    let before = pending.clone();
    pending.retain(|u| u != url);
    if result.is_err() {
        pending.push(url.to_owned());
    }
    if pending != before {
        write_pending(repo, &pending)?;
    }
    result
}

/// Pushes the outbox to this clone's own ref at `url`. Nobody else updates that ref, so the
/// push is a fast-forward; when it is not (this clone's local notes were deleted, or someone
/// wrote into its ref), the remote's copy is fetched and merged by tree, and pushed again.
fn push_own(repo: &Repo, url: &str, outbox: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    if repo.git2().refname_to_id(outbox).is_err() {
        // Nothing to share.
        return Ok(());
    }
    let own = writer_ref(&clone_id(repo));
    let refspec = format!("{outbox}:{own}");
    let mut last = String::new();
    for attempt in 0..PUSH_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let out = git::run_bounded(
            repo,
            &["push", "--quiet", "--no-verify", url, &refspec],
            left,
        )
        .with_context(|| format!("failed to push `{own}`"))?;
        if out.success {
            return Ok(());
        }
        last = out.stderr_summary();
        if out.stderr.contains("notes (or") && out.stderr.contains("at once") {
            // A server takes a bounded number of notes per push: a clone's first share of a
            // long log goes one outbox commit at a time.
            match push_in_steps(repo, url, outbox, &own, deadline) {
                Ok(()) => continue,
                Err(e) => {
                    last = format!("{last} (and then: {e:#})");
                    break;
                }
            }
        } else if rejected_as_behind(&out.stderr) {
            if let Err(e) = merge_remote_copy(repo, url, &own, outbox, deadline) {
                last = format!("{last} (and then: {e:#})");
            }
        } else if super::lost_a_race(&out.stderr) {
            std::thread::sleep(super::backoff(attempt));
        } else {
            break;
        }
    }
    bail!("failed to push `{own}`: {last}")
}

/// Pushes the outbox's commits to `own` at `url` one at a time, oldest first (each adds at
/// most half of what a server takes in one push).
fn push_in_steps(repo: &Repo, url: &str, outbox: &str, own: &str, deadline: Instant) -> Result<()> {
    let git = repo.git2();
    let mut walk = git.revwalk().context("failed to walk the outbox")?;
    walk.push_ref(outbox).context("failed to walk the outbox")?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .context("failed to walk the outbox")?;
    for commit in walk {
        let commit = commit.context("failed to walk the outbox")?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("ran out of time");
        }
        let refspec = format!("{commit}:{own}");
        let out = git::run_bounded(
            repo,
            &["push", "--quiet", "--no-verify", url, &refspec],
            left,
        )
        .with_context(|| format!("failed to push `{own}`"))?;
        // A commit the remote already has (or has beyond) is rejected as behind: go on.
        if !out.success && !rejected_as_behind(&out.stderr) {
            bail!("{}", out.stderr_summary());
        }
    }
    Ok(())
}

/// Tells whether a push was rejected because the remote's ref has commits the local one lacks.
fn rejected_as_behind(stderr: &str) -> bool {
    ["non-fast-forward", "fetch first", "rejected"]
        .iter()
        .any(|s| stderr.contains(s))
        && !stderr.contains("hook declined")
}

/// Fetches the remote's copy of this clone's own ref and merges it into the outbox, by tree.
fn merge_remote_copy(
    repo: &Repo,
    url: &str,
    own: &str,
    outbox: &str,
    deadline: Instant,
) -> Result<()> {
    let tracking = own_tracking(url);
    let refspec = format!("+{own}:{tracking}");
    let left = deadline.saturating_duration_since(Instant::now());
    let out = git::run_bounded(
        repo,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            url,
            &refspec,
        ],
        left,
    )
    .with_context(|| format!("failed to fetch `{own}`"))?;
    if !out.success {
        bail!("failed to fetch `{own}`: {}", out.stderr_summary());
    }
    merge_into(repo, AUDIT, outbox, &tracking)
}

/// Pushes the audit notes to every URL where an earlier push of them failed.
/// Returns the URLs that still failed, with why.
pub fn push_pending_audit_notes(repo: &Repo) -> Vec<(String, anyhow::Error)> {
    let mut failed = Vec::new();
    for url in pending_urls(repo) {
        if let Err(e) = push_audit_notes(repo, &url) {
            failed.push((url, e));
        }
    }
    failed
}

fn pending_urls(repo: &Repo) -> Vec<String> {
    let path = repo.state_dir().join(PENDING_FILE);
    let git = repo.git2();
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                // Earlier versions listed remote names: their push URL now.
                .map(|l| match git.find_remote(l) {
                    Ok(r) => r.pushurl().or(r.url()).unwrap_or(l).to_owned(),
                    Err(_) => l.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_pending(repo: &Repo, urls: &[String]) -> Result<()> {
    let path = repo.state_dir().join(PENDING_FILE);
    if urls.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("failed to remove `{}`", path.display()))
            }
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(repo.state_dir())
        .with_context(|| format!("failed to create `{}`", repo.state_dir().display()))?;
    std::fs::write(&path, urls.join("\n") + "\n")
        .with_context(|| format!("failed to write `{}`", path.display()))
}

// ---------------------------------------------------------------------------------------
// Reading: a repository's own trail (a server), a remote's trail (a clone).

/// The audit notes attached to `oid` in this repository's own trail refs (a server's: the
/// single ref of earlier versions and every writer's ref), merged line by line; `None` when
/// there is none.
pub fn audit_notes_on(repo: &Repo, oid: Oid) -> Result<Option<String>> {
    let mut text: Option<String> = None;
    for name in own_trail_refs(repo)? {
        if let Some(note) = super::read_note(repo, &name, oid)? {
            text = Some(match text {
                Some(t) => super::merge_lines(&t, &note),
                None => note,
            });
        }
    }
    Ok(text)
}

/// This repository's own audit refs: `refs/notes/pushguard-audit` and the namespace.
fn own_trail_refs(repo: &Repo) -> Result<Vec<String>> {
    let git = repo.git2();
    let mut out = Vec::new();
    if git.refname_to_id(&AUDIT.full()).is_ok() {
        out.push(AUDIT.full());
    }
    let glob = format!("{NAMESPACE}*");
    for r in git
        .references_glob(&glob)
        .with_context(|| format!("failed to list `{glob}`"))?
        .flatten()
    {
        out.extend(r.name().map(str::to_owned));
    }
    Ok(out)
}

/// One of a remote's trail refs, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRef {
    /// Its name on the remote (`refs/notes/pushguard-audit`, `…pushguard-audit.d/<writer>`).
    pub name: String,
    /// Where this clone keeps the fetched copy.
    pub local: String,
    pub tip: Oid,
}

/// A record of a remote's trail.
#[derive(Debug, Clone)]
pub struct Shared {
    pub record: Record,
    /// The record line's hash.
    pub hash: String,
    /// The trail refs (names on the remote) that hold it.
    pub refs: Vec<String>,
}

/// How a record left the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostHow {
    /// A notes commit whose tree lacks the record its parent's tree had.
    DroppedBy(Oid),
    /// The ref was moved to a commit that is not a descendant of the one fetched before.
    Rewound { was: Oid },
    /// The ref is gone; this clone fetched it before.
    Deleted { was: Oid },
}

/// A record the trail held and no longer holds.
#[derive(Debug, Clone)]
pub struct Lost {
    pub record: Record,
    pub hash: String,
    /// The trail ref (name on the remote) it was in.
    pub trail_ref: String,
    pub how: LostHow,
}

/// A remote's whole trail, read in one fetch: every record (oldest first, each once, with
/// the refs that hold it) and the records it lost.
#[derive(Debug, Clone, Default)]
pub struct RemoteTrail {
    pub refs: Vec<TrailRef>,
    pub records: Vec<Shared>,
    pub lost: Vec<Lost>,
}

impl RemoteTrail {
    /// The records alone, oldest first, and the lost ones.
    pub fn split(self) -> (Vec<Record>, Vec<Lost>) {
        (
            self.records.into_iter().map(|s| s.record).collect(),
            self.lost,
        )
    }
}

/// Where the copy of `remote`'s trail refs is fetched to.
fn tracking_prefix(remote: &str) -> String {
    format!("refs/notes/pushguard-remote/{}/trail/", ref_safe(remote))
}

/// Where the tips of `remote`'s trail refs are kept once checked for lost records: a check
/// starts from there (only what is new is walked), and they move only when nothing was
/// lost, so a trail that lost records fails every audit until it holds them again.
fn checked_prefix(remote: &str) -> String {
    format!("refs/notes/pushguard-remote/{}/checked/", ref_safe(remote))
}

/// The trail refs under a local `prefix` (the old ref and the writers' refs only), by their
/// name on the remote.
fn refs_under(repo: &Repo, prefix: &str) -> Result<Vec<TrailRef>> {
    let git = repo.git2();
    let glob = format!("{prefix}*");
    let mut out = Vec::new();
    for r in git
        .references_glob(&glob)
        .with_context(|| format!("failed to list `{glob}`"))?
        .flatten()
    {
        let (Some(local), Some(tip)) = (r.name(), r.target()) else {
            continue;
        };
        let name = format!("refs/notes/{}", &local[prefix.len()..]);
        if name == AUDIT.full() || writer_of(&name).is_some_and(|w| !w.is_empty()) {
            out.push(TrailRef {
                name,
                local: local.to_owned(),
                tip,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// How much of a trail's notes history the lost-records check walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// All of it that this clone has not checked before.
    Whole,
    /// At most this many notes commits (newest first) that this clone has not checked before.
    Newest(usize),
}

/// What reading a remote's trail found besides its records: its refs, the records it lost,
/// and whether the walk for them stopped at its bound.
#[derive(Debug, Clone, Default)]
pub struct TrailRead {
    pub refs: Vec<TrailRef>,
    pub lost: Vec<Lost>,
    /// The notes commits the lost-records check left unwalked ([`Walk::Newest`]).
    pub unwalked: bool,
}

/// One record of a remote's trail as [`read_remote_trail`] hands it over.
pub struct Seen<'a> {
    /// The order in which distinct records were first seen (0, 1, 2, …).
    pub index: usize,
    /// The record and its line's hash the first time it is seen; `None` when it was seen
    /// before in another note blob (then `refs` adds where else it is held).
    pub record: Option<(Record, String)>,
    /// The record's line, as stored.
    pub line: &'a str,
    /// The trail refs (indices into [`TrailRead::refs`]) that hold it here.
    pub refs: &'a [usize],
}

/// The whole trail of `remote` (a configured remote's name or a URL): every trail ref
/// fetched at once (`refs/notes/pushguard-audit*`, pruned), its records, and the records it
/// lost (`lost_records`). `None` when the remote has no trail at all and nothing this clone
/// checked there before is gone.
///
/// This is the one reader of a remote's trail (`audit`, `log --remote`,
/// `log --verify --remote`, and whatever reads the whole history of a remote).
pub fn remote_trail(repo: &Repo, remote: &str, timeout: Duration) -> Result<Option<RemoteTrail>> {
    let mut records: Vec<Shared> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let read = read_remote_trail(repo, remote, timeout, Walk::Whole, &mut |refs, seen| {
        if names.is_empty() {
            names = refs.iter().map(|r| r.name.clone()).collect();
        }
        let held = seen.refs.iter().map(|&i| names[i].clone());
        match seen.record {
            Some((record, hash)) => records.push(Shared {
                record,
                hash,
                refs: held.collect(),
            }),
            None => {
                let shared = &mut records[seen.index];
                for name in held {
                    if !shared.refs.contains(&name) {
                        shared.refs.push(name);
                    }
                }
            }
        }
    })?;
    records.sort_by(|a, b| a.record.time.cmp(&b.record.time));
    Ok(read.map(|read| RemoteTrail {
        refs: read.refs,
        records,
        lost: read.lost,
    }))
}

/// Reads the whole trail of `remote` as [`remote_trail`] does, but hands each record to
/// `each` as it is read (in no particular order), keeping none: memory stays bounded by the
/// hashes of the records, whatever their size. The lost-records check walks the notes
/// history as `walk` says.
pub fn read_remote_trail(
    repo: &Repo,
    remote: &str,
    timeout: Duration,
    walk: Walk,
    each: &mut dyn FnMut(&[TrailRef], Seen<'_>),
) -> Result<Option<TrailRead>> {
    let checked = refs_under(repo, &checked_prefix(remote))?;
    let prefix = fetch_trail(repo, remote, timeout)?;
    let refs = refs_under(repo, &prefix)?;
    // The walk of the notes history runs beside the reading of the notes at the tips.
    let history = HistoryWalk::start(repo, &refs, &checked, walk)?;
    let (present, at_tips) = read_records(repo, &refs, each)?;
    let history = history.finish()?;
    let (lost, unwalked) = lost_records(repo, &refs, &checked, &present, &at_tips, history)?;
    if lost.is_empty() && !unwalked {
        mark_checked(repo, remote, &refs, &checked)?;
    }
    if refs.is_empty() && lost.is_empty() {
        return Ok(None);
    }
    Ok(Some(TrailRead {
        refs,
        lost,
        unwalked,
    }))
}

/// Fetches every trail ref of `remote` into this clone's copy (pruned) and returns the
/// prefix the copy lives under. No verdict on the trail: that is [`read_remote_trail`]'s
/// (what it remembers as checked moves only there).
pub fn fetch_trail(repo: &Repo, remote: &str, timeout: Duration) -> Result<String> {
    let prefix = tracking_prefix(remote);
    let refspec = format!("+{FETCH_GLOB}:{prefix}pushguard-audit*");
    let out = git::run_bounded(
        repo,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--prune",
            remote,
            &refspec,
        ],
        timeout,
    )
    .with_context(|| format!("failed to fetch the audit trail from `{remote}`"))?;
    if !out.success {
        bail!(
            "failed to fetch the audit trail from `{remote}`: {}",
            out.stderr_summary()
        );
    }
    Ok(prefix)
}

/// The trail refs a reader reads records from: the copy of `remote`'s as last fetched
/// ([`fetch_trail`]), or with no remote (a server) this repository's own.
pub fn reader_refs(repo: &Repo, remote: Option<&str>) -> Result<Vec<TrailRef>> {
    if let Some(remote) = remote {
        return refs_under(repo, &tracking_prefix(remote));
    }
    let git = repo.git2();
    let mut out = Vec::new();
    for name in own_trail_refs(repo)? {
        if let Ok(tip) = git.refname_to_id(&name) {
            out.push(TrailRef {
                local: name.clone(),
                name,
                tip,
            });
        }
    }
    Ok(out)
}

/// Every record under `refs`, each once, oldest first.
pub fn records_under(repo: &Repo, refs: &[TrailRef]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    read_records(repo, refs, &mut |_, seen| {
        if let Some((record, _)) = seen.record {
            out.push(record);
        }
    })?;
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// The records attached to `commits` under `refs` (lines that do not verify are skipped),
/// each once, oldest first: a few notes read where [`records_under`] reads them all.
pub fn records_on(repo: &Repo, refs: &[TrailRef], commits: &[Oid]) -> Result<Vec<Record>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in refs {
        for oid in commits {
            let Some(text) = super::read_note(repo, &r.local, *oid)? else {
                continue;
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if let Ok((record, hash)) = audit::parse_line(line.as_bytes()) {
                    if seen.insert(hash) {
                        out.push(record);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// Reads again the records of `refs` (a remote's trail refs as [`read_remote_trail`] fetched
/// them), handing `each` every record line as stored, with the record and its hash.
pub fn read_local_trail(
    repo: &Repo,
    refs: &[TrailRef],
    each: &mut dyn FnMut(&str, &Record, &str),
) -> Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    super::read_listed_blobs(repo, tip_notes(repo, refs), &mut |_, _, content| {
        let text = String::from_utf8_lossy(content);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok((record, hash)) = audit::parse_line(line.as_bytes()) {
                each(line, &record, &hash);
            }
        }
    })?;
    Ok(())
}

/// A record line's hash as 32 bytes (`None`: not 64 hex digits).
pub fn hash_key(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| char::from(b).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// Remembers `refs` as checked (and forgets checked refs the remote no longer has).
fn mark_checked(repo: &Repo, remote: &str, refs: &[TrailRef], checked: &[TrailRef]) -> Result<()> {
    let git = repo.git2();
    let prefix = checked_prefix(remote);
    for r in refs {
        let local = format!("{prefix}{}", &r.name["refs/notes/".len()..]);
        if checked.iter().any(|c| c.local == local && c.tip == r.tip) {
            continue;
        }
        git.reference(&local, r.tip, true, "pushguard: trail checked")
            .with_context(|| format!("failed to update `{local}`"))?;
    }
    for c in checked {
        if !refs.iter().any(|r| r.name == c.name) {
            if let Ok(mut gone) = git.find_reference(&c.local) {
                gone.delete()
                    .with_context(|| format!("failed to delete `{}`", c.local))?;
            }
        }
    }
    Ok(())
}

/// The records a trail holds, by their line hash ([`hash_key`]), in the order first seen.
pub type Present = HashMap<[u8; 32], usize>;

/// Hands each record under the fetched trail refs to `each`, once (lines that do not verify
/// are skipped); returns the hashes of the records and the note blobs they were read from.
/// Each distinct blob is read once, through one `git cat-file --batch` that starts on the
/// first notes listed (git's delta cache reads a fetched pack several times faster than
/// libgit2 does blob by blob).
fn read_records(
    repo: &Repo,
    refs: &[TrailRef],
    each: &mut dyn FnMut(&[TrailRef], Seen<'_>),
) -> Result<(Present, Vec<Oid>)> {
    let mut index: Present = HashMap::new();
    if refs.is_empty() {
        return Ok((index, Vec::new()));
    }
    // Every (blob, ref) pair, sorted: which refs hold each blob.
    let pairs =
        super::read_listed_blobs(repo, tip_notes(repo, refs), &mut |pairs, blob, content| {
            let from = pairs.partition_point(|(b, _)| *b < blob);
            let held: Vec<usize> = pairs[from..]
                .iter()
                .take_while(|(b, _)| *b == blob)
                .map(|(_, r)| *r as usize)
                .collect();
            let text = String::from_utf8_lossy(content);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let Some(key) = line_hash(line).and_then(hash_key) else {
                    continue;
                };
                if let Some(&i) = index.get(&key) {
                    each(
                        refs,
                        Seen {
                            index: i,
                            record: None,
                            line,
                            refs: &held,
                        },
                    );
                    continue;
                }
                if let Ok((record, hash)) = audit::parse_line(line.as_bytes()) {
                    let i = index.len();
                    index.insert(key, i);
                    each(
                        refs,
                        Seen {
                            index: i,
                            record: Some((record, hash)),
                            line,
                            refs: &held,
                        },
                    );
                }
            }
        })?;
    let mut blobs: Vec<Oid> = pairs.iter().map(|(b, _)| *b).collect();
    blobs.dedup();
    Ok((index, blobs))
}

/// Note blobs and the trail refs that hold them: (blob, index of the ref) pairs, sorted.
type HeldBy = Vec<(Oid, u32)>;

/// What lists the notes at the tips of `refs` for [`super::read_listed_blobs`]: names each
/// note blob as it is listed, and returns sorted (blob, index of the ref) pairs. Listed by
/// `git ls-tree -r` (no note blob is read, and the notes trees stay out of this process: a
/// trail of 100,000 notes has tens of thousands of fan-out trees).
fn tip_notes<'a>(
    repo: &Repo,
    refs: &'a [TrailRef],
) -> impl FnOnce(&mut dyn FnMut(Oid)) -> Result<HeldBy> + Send + 'a {
    let commands: Vec<std::process::Command> = refs
        .iter()
        .map(|r| {
            let mut cmd = git::git_command(repo.common_dir());
            cmd.arg("--git-dir")
                .arg(repo.git2().path())
                .args(["ls-tree", "-r", "--full-tree", &r.tip.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd
        })
        .collect();
    move |name| {
        let mut pairs: Vec<(Oid, u32)> = Vec::new();
        for (i, (r, mut cmd)) in refs.iter().zip(commands).enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let what = || format!("failed to list the notes of `{}`", r.name);
            let mut child = cmd.spawn().with_context(what)?;
            let stdout = child.stdout.take().expect("stdout is piped");
            for line in std::io::BufReader::with_capacity(256 * 1024, stdout).lines() {
                let line = line.with_context(what)?;
                // `<mode> blob <oid>\t<path>`: a note when the path is an object name.
                let Some((meta, path)) = line.split_once('\t') else {
                    continue;
                };
                let mut fields = meta.split(' ');
                let (Some(_), Some("blob"), Some(blob)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                let object = path.bytes().filter(|b| *b != b'/').count();
                if matches!(object, 40 | 64)
                    && path.bytes().all(|b| b == b'/' || b.is_ascii_hexdigit())
                {
                    if let Ok(blob) = Oid::from_str(blob) {
                        name(blob);
                        pairs.push((blob, i));
                    }
                }
            }
            let out = child.wait_with_output().with_context(what)?;
            if !out.status.success() {
                bail!(
                    "{}: {}",
                    what(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        Ok(pairs)
    }
}

/// The hash a record line ends with (`…,"hash":"<64 hex>"}`), unverified.
fn line_hash(line: &str) -> Option<&str> {
    let line = line.trim_end();
    let hex = line.strip_suffix("\"}")?;
    let hex = hex.get(hex.len().checked_sub(64)?..)?;
    line[..line.len() - 66]
        .ends_with(",\"hash\":\"")
        .then_some(hex)
}

/// The records the trail held and no longer holds (`present`: the hashes of the records it
/// holds now; `at_tips`: the note blobs at its tips, sorted; `history`: what
/// [`HistoryWalk`] found). Every note blob the trail's history ever held (from the checked
/// tips on) that is not at a tip now, and every note of a checked tip that its ref no longer
/// holds the same (moved on, rewound or deleted since), is read; a record line in one of them
/// that is nowhere in the trail now was lost. Each lost record once, with the notes commit
/// that dropped it when the ref's history shows one.
fn lost_records(
    repo: &Repo,
    refs: &[TrailRef],
    checked: &[TrailRef],
    present: &Present,
    at_tips: &[Oid],
    history: Walked,
) -> Result<(Vec<Lost>, bool)> {
    let git = repo.git2();
    // (blob, object, the ref it is known from, how); `None` for how: found in the history.
    let mut candidates: Vec<(Oid, String, String, Option<LostHow>)> = Vec::new();
    let mut seen: HashSet<Oid> = HashSet::new();
    let (history, unwalked) = history;
    for (object, blob) in history {
        if at_tips.binary_search(&blob).is_err() && seen.insert(blob) {
            candidates.push((blob, object, String::new(), None));
        }
    }
    for old in checked {
        let now = refs.iter().find(|r| r.name == old.name);
        if now.is_some_and(|n| n.tip == old.tip) {
            continue;
        }
        let Ok(old_tree) = git.find_commit(old.tip).and_then(|c| c.tree()) else {
            continue;
        };
        let (new_tree, how) = match now {
            None => (None, LostHow::Deleted { was: old.tip }),
            Some(n) if git.graph_descendant_of(n.tip, old.tip).unwrap_or(false) => (
                git.find_commit(n.tip).and_then(|c| c.tree()).ok(),
                LostHow::DroppedBy(n.tip),
            ),
            Some(n) => (
                git.find_commit(n.tip).and_then(|c| c.tree()).ok(),
                LostHow::Rewound { was: old.tip },
            ),
        };
        let gone = fanout::changed_notes(git, &old_tree, new_tree.as_ref(), usize::MAX)?
            .unwrap_or_default();
        for (object, blob) in gone {
            if at_tips.binary_search(&blob).is_err() && seen.insert(blob) {
                candidates.push((blob, object, old.name.clone(), Some(how.clone())));
            }
        }
    }
    let mut lost = Vec::new();
    let mut reported: HashSet<String> = HashSet::new();
    for (blob, object, known_in, how) in candidates {
        let Ok(text) = git.find_blob(blob) else {
            continue;
        };
        let text = String::from_utf8_lossy(text.content());
        for line in text.lines() {
            let Some(hash) = line_hash(line) else {
                continue;
            };
            if hash_key(hash).is_some_and(|k| present.contains_key(&k)) || reported.contains(hash) {
                continue;
            }
            let Ok((record, hash)) = audit::parse_line(line.as_bytes()) else {
                continue;
            };
            let (trail_ref, how) = match &how {
                // Which notes commit let it go: the newest one whose parent held it.
                Some(LostHow::DroppedBy(tip)) => {
                    let from = checked.iter().find(|c| c.name == known_in).map(|c| c.tip);
                    let by = dropped_by(repo, *tip, from, &object, blob).unwrap_or(*tip);
                    (known_in.clone(), LostHow::DroppedBy(by))
                }
                Some(how) => (known_in.clone(), how.clone()),
                None => refs
                    .iter()
                    .find_map(|r| {
                        dropped_by(repo, r.tip, None, &object, blob)
                            .map(|by| (r.name.clone(), LostHow::DroppedBy(by)))
                    })
                    .unwrap_or_else(|| {
                        let first = refs.first().map_or(Oid::zero(), |r| r.tip);
                        (
                            refs.first().map(|r| r.name.clone()).unwrap_or_default(),
                            LostHow::DroppedBy(first),
                        )
                    }),
            };
            reported.insert(hash.clone());
            lost.push(Lost {
                record,
                hash,
                trail_ref,
                how,
            });
        }
    }
    lost.sort_by(|a, b| a.record.time.cmp(&b.record.time));
    Ok((lost, unwalked))
}

/// What a walk of the notes history found: (the object annotated, the note blob) pairs, and
/// whether its bound left older notes commits unwalked.
type Walked = (Vec<(String, Oid)>, bool);

/// The walk of the notes history for lost records, started before the notes at the tips are
/// read and running beside that reading (git walks on one core while `cat-file` and this
/// process read the notes): [`history_notes`] or [`replaced_notes`], from the tips of `refs`
/// down to the tips this clone `checked` before.
struct HistoryWalk(Option<std::thread::JoinHandle<Result<Walked>>>);

impl HistoryWalk {
    fn start(repo: &Repo, refs: &[TrailRef], checked: &[TrailRef], walk: Walk) -> Result<Self> {
        if refs.is_empty() {
            return Ok(Self(None));
        }
        let hide: Vec<Oid> = checked.iter().map(|c| c.tip).collect();
        let tips: Vec<Oid> = refs.iter().map(|r| r.tip).collect();
        let started = match walk {
            Walk::Whole => history_notes(repo, &tips, &hide, None)?,
            Walk::Newest(n) => replaced_notes(repo, &tips, &hide, n)?,
        };
        Ok(Self(Some(started)))
    }

    fn finish(self) -> Result<Walked> {
        match self.0 {
            None => Ok((Vec::new(), false)),
            Some(walk) => walk
                .join()
                .unwrap_or_else(|_| bail!("the walk of the trail's history panicked")),
        }
    }
}

/// Runs `cmd` (a `git` walk reading its revisions with `--stdin`) on a thread of its own:
/// writes `input`, then hands its output to `parse`. Git reads all of `--stdin` before it
/// walks, so the input is written whole before the output is read. `what` names the command
/// in errors.
fn walk_beside(
    mut cmd: std::process::Command,
    input: String,
    what: &'static str,
    parse: impl FnOnce(&mut dyn Iterator<Item = std::io::Result<String>>) -> Result<Walked>
        + Send
        + 'static,
) -> Result<std::thread::JoinHandle<Result<Walked>>> {
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to run `{what}` over the trail's history"))?;
    Ok(std::thread::spawn(move || {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        {
            use std::io::Write as _;
            let _ = stdin.write_all(input.as_bytes());
        }
        drop(stdin);
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = std::io::BufReader::with_capacity(256 * 1024, stdout).lines();
        let walked = parse(&mut lines);
        drop(lines);
        let result = child
            .wait_with_output()
            .with_context(|| format!("failed to wait for `{what}`"))?;
        let walked = walked?;
        if !result.status.success() {
            bail!(
                "`{what}` over the trail's history failed: {}",
                String::from_utf8_lossy(&result.stderr).trim()
            );
        }
        Ok(walked)
    }))
}

/// Every note blob reachable from `tips` and not from `hide`, with the object it annotates:
/// `git rev-list --objects`, which walks each tree of the history once.
/// At most `max` notes commits are walked (newest first); the flag says whether more were
/// left unwalked. Runs beside the caller ([`walk_beside`]).
fn history_notes(
    repo: &Repo,
    tips: &[Oid],
    hide: &[Oid],
    max: Option<usize>,
) -> Result<std::thread::JoinHandle<Result<Walked>>> {
    let git = repo.git2();
    let input = walk_input(git, tips, hide);
    let mut cmd = git::git_command(repo.common_dir());
    cmd.arg("--git-dir")
        .arg(git.path())
        .args(["rev-list", "--objects", "--stdin"])
        // One commit more than the bound tells whether the bound stopped the walk.
        .args(max.map(|n| format!("--max-count={}", n + 1)));
    walk_beside(cmd, input, "git rev-list", move |lines| {
        let mut out = Vec::new();
        let mut commits = 0usize;
        for line in lines {
            let line = line.context("failed to read `git rev-list` over the trail's history")?;
            let Some((id, path)) = line.split_once(' ') else {
                commits += 1;
                continue;
            };
            if let (Some(object), Ok(blob)) = (annotated(path), Oid::from_str(id)) {
                out.push((object, blob));
            }
        }
        Ok((out, max.is_some_and(|n| commits > n)))
    })
}

/// The object a note's path in a notes tree annotates (fan-out slashes removed, lowercase);
/// `None` when the path names no object.
fn annotated(path: &str) -> Option<String> {
    let object: String = path.chars().filter(|c| *c != '/').collect();
    fanout::is_object_name(&object).then(|| object.to_ascii_lowercase())
}

/// What `git rev-list --stdin` (or `git log --stdin`) reads to walk from `tips` but not
/// from `hide`: only tips this clone still has the objects of can be hidden.
fn walk_input(git: &git2::Repository, tips: &[Oid], hide: &[Oid]) -> String {
    let mut input = String::new();
    for t in tips {
        input.push_str(&format!("{t}\n"));
    }
    let hidden: Vec<&Oid> = hide
        .iter()
        .filter(|h| git.find_commit(**h).is_ok())
        .collect();
    if !hidden.is_empty() {
        input.push_str("--not\n");
        for h in hidden {
            input.push_str(&format!("{h}\n"));
        }
    }
    input
}

/// The note blobs that the newest `max` notes commits from `tips` (not from `hide`) replaced
/// or removed, with the object each annotated: `git log -m --raw` lists only what each
/// commit changed (against every parent of a merge), so a bounded walk never reads the
/// trees whole. The flag says whether older commits were left unwalked. Runs beside the
/// caller ([`walk_beside`]).
fn replaced_notes(
    repo: &Repo,
    tips: &[Oid],
    hide: &[Oid],
    max: usize,
) -> Result<std::thread::JoinHandle<Result<Walked>>> {
    let git = repo.git2();
    let input = walk_input(git, tips, hide);
    let mut cmd = git::git_command(repo.common_dir());
    cmd.arg("--git-dir")
        .arg(git.path())
        .args([
            "log",
            "-m",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--format=commit %H",
            "--stdin",
        ])
        // One commit more than the bound tells whether the bound stopped the walk.
        .arg(format!("--max-count={}", max + 1));
    walk_beside(cmd, input, "git log", move |lines| {
        let mut out = Vec::new();
        let mut commits: HashSet<String> = HashSet::new();
        for line in lines {
            let line = line.context("failed to read `git log` over the trail's history")?;
            if let Some(id) = line.strip_prefix("commit ") {
                commits.insert(id.to_owned());
                continue;
            }
            // `:100644 100644 <old blob> <new blob> <status>\t<path>`
            let Some((meta, path)) = line.strip_prefix(':').and_then(|l| l.split_once('\t')) else {
                continue;
            };
            let fields: Vec<&str> = meta.split(' ').collect();
            let [_, _, old, _, status] = fields.as_slice() else {
                continue;
            };
            if !matches!(*status, "M" | "D") {
                continue;
            }
            if let (Some(object), Ok(blob)) = (annotated(path), Oid::from_str(old)) {
                out.push((object, blob));
            }
        }
        Ok((out, commits.len() > max))
    })
}

/// The newest notes commit from `tip` (down to `from`, excluded) whose tree no longer holds
/// `blob` on `object` while a parent's tree did: the commit that dropped it.
fn dropped_by(repo: &Repo, tip: Oid, from: Option<Oid>, object: &str, blob: Oid) -> Option<Oid> {
    let git = repo.git2();
    let holds = |c: &git2::Commit<'_>| {
        c.tree()
            .ok()
            .and_then(|t| fanout::find_note(git, &t, object).ok().flatten())
            == Some(blob)
    };
    let mut walk = git.revwalk().ok()?;
    walk.push(tip).ok()?;
    if let Some(from) = from {
        let _ = walk.hide(from);
    }
    for id in walk.flatten() {
        let commit = git.find_commit(id).ok()?;
        if !holds(&commit) && commit.parents().any(|p| holds(&p)) {
            return Some(id);
        }
    }
    None
}

/// A record with its line's hash.
pub type Hashed = (Record, String);

/// The records (with hashes) this clone keeps locally as shared: its outboxes (`own`: every
/// record there is this clone's) and, from earlier versions, the local single ref and its
/// outboxes (`earlier`: everyone's records, merged in by fetches).
pub fn local_shared(repo: &Repo) -> Result<(Vec<Hashed>, Vec<Hashed>)> {
    let git = repo.git2();
    let mut own = Vec::new();
    let mut earlier = Vec::new();
    let mut refs = vec![AUDIT.full()];
    for r in git
        .references_glob("refs/notes/pushguard-outbox/*")
        .context("failed to list the local outboxes")?
        .flatten()
    {
        refs.extend(r.name().map(str::to_owned));
    }
    for name in refs {
        let into = if name.ends_with("/clone") {
            &mut own
        } else if name == AUDIT.full() || name.ends_with(&format!("/{}", AUDIT.0)) {
            &mut earlier
        } else {
            continue;
        };
        for (_, text) in all_notes(repo, &name)? {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if let Ok(parsed) = audit::parse_line(line.as_bytes()) {
                    into.push(parsed);
                }
            }
        }
    }
    Ok((own, earlier))
}

/// Every audit record this repository holds in its own trail refs, oldest first: the single
/// ref of earlier versions, the writers' refs (a server's own among them) and this clone's
/// outboxes. For commands that work without a remote (`review` in a bare repository).
pub fn local_records(repo: &Repo) -> Result<Vec<Record>> {
    let git = repo.git2();
    let mut refs = vec![AUDIT.full()];
    for glob in [
        format!("{NAMESPACE}*"),
        "refs/notes/pushguard-outbox/*".to_owned(),
    ] {
        for r in git
            .references_glob(&glob)
            .context("failed to list the local trail refs")?
            .flatten()
        {
            refs.extend(r.name().map(str::to_owned));
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for name in refs {
        for (_, text) in all_notes(repo, &name)? {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if let Ok((record, hash)) = audit::parse_line(line.as_bytes()) {
                    if seen.insert(hash) {
                        out.push(record);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// A server guarding its trail.

/// Why a server refuses an update of one of its trail refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The update deletes the ref.
    Delete,
    /// The new tip is not a descendant of the old one.
    Rewind,
    /// A push into the server's own ref, which only its post-receive hook writes.
    ServerOnly,
    /// A ref in the namespace that is not named by a writer id.
    BadName,
    /// A note of the old tip is missing, or lost lines, in the new tip.
    Dropped { object: String },
    /// A note that is not audit records (or approvals) of the commit it is attached to.
    NotRecords { object: String, why: String },
    /// A note larger than [`MAX_NOTE_BYTES`].
    TooLarge { object: String, bytes: usize },
    /// More than [`MAX_NOTES_PER_PUSH`] notes, or [`MAX_BYTES_PER_PUSH`] bytes of notes,
    /// added or changed at once.
    TooMany,
    /// The objects could not be read.
    Unreadable(String),
}

/// Judges an update of the trail ref `refname` (`old`/`new`: `None` for a create/delete):
/// append-only (never deleted, rewound, or a note dropped or cut), only writer ids in the
/// namespace and never the server's own ref, and only what the ref is for — audit record
/// lines attached to the commit they record, or approvals of that commit — within bounded
/// sizes. `None`: the update may go through.
pub fn judge_update(
    repo: &Repo,
    refname: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Option<Refusal> {
    let Some(new) = new else {
        return Some(Refusal::Delete);
    };
    let peel = |hex: &str| -> std::result::Result<Oid, String> {
        repo.peel_commit(hex)
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| format!("{hex} is not a commit"))
    };
    let new = match peel(new) {
        Ok(n) => n,
        Err(e) => return Some(Refusal::Unreadable(e)),
    };
    let old = match old.map(peel).transpose() {
        Ok(o) => o,
        Err(e) => return Some(Refusal::Unreadable(e)),
    };
    if let Some(old) = old {
        if old != new && !repo.git2().graph_descendant_of(new, old).unwrap_or(false) {
            return Some(Refusal::Rewind);
        }
    }
    if let Some(writer) = writer_of(refname) {
        if writer == SERVER_WRITER {
            return Some(Refusal::ServerOnly);
        }
        if !is_clone_id(writer) {
            return Some(Refusal::BadName);
        }
    }
    judge_content(repo, refname, old, new).unwrap_or_else(|e| Some(Refusal::Unreadable(e)))
}

/// [`judge_update`] through git alone (a SHA-256 repository, which libgit2 cannot open): a
/// deletion, a rewind and a name no writer has are refused; what the notes hold is not read.
pub fn judge_update_via_git(
    git: &crate::git::GitDir,
    refname: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Option<Refusal> {
    let Some(new) = new else {
        return Some(Refusal::Delete);
    };
    if let Some(old) = old {
        let fast_forward = (|| {
            let old = git.peel_commit(old)?;
            let new = git.peel_commit(new)?;
            git.is_ancestor(&old, &new).ok()
        })();
        if fast_forward != Some(true) {
            return Some(Refusal::Rewind);
        }
    }
    match writer_of(refname) {
        Some(SERVER_WRITER) => Some(Refusal::ServerOnly),
        Some(writer) if !is_clone_id(writer) => Some(Refusal::BadName),
        _ => None,
    }
}

fn judge_content(
    repo: &Repo,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
) -> std::result::Result<Option<Refusal>, String> {
    let git = repo.git2();
    let tree_of = |c: Oid| {
        git.find_commit(c)
            .and_then(|c| c.tree())
            .map_err(|e| format!("failed to read the notes commit {c}: {e}"))
    };
    let new_tree = tree_of(new)?;
    let old_tree = old.map(tree_of).transpose()?;
    let audit = is_audit_ref(refname);
    let read = |blob: Oid| {
        git.find_blob(blob)
            .map(|b| b.content().to_vec())
            .map_err(|e| format!("failed to read a note: {e}"))
    };
    // Nothing the old tip held may go.
    if let Some(old_tree) = &old_tree {
        let gone = fanout::changed_notes(git, old_tree, Some(&new_tree), usize::MAX)
            .map_err(|e| format!("{e:#}"))?
            .unwrap_or_default();
        for (object, blob) in gone {
            let now = fanout::find_note(git, &new_tree, &object).map_err(|e| format!("{e:#}"))?;
            let kept = match now {
                None => false,
                Some(now) => {
                    let (before, after) = (read(blob)?, read(now)?);
                    let (before, after) = (
                        String::from_utf8_lossy(&before),
                        String::from_utf8_lossy(&after),
                    );
                    if audit {
                        let after: HashSet<&str> = after.lines().collect();
                        before
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .all(|l| after.contains(l))
                    } else {
                        kept_entries(&before, &after)
                    }
                }
            };
            if !kept {
                return Ok(Some(Refusal::Dropped { object }));
            }
        }
    }
    // What comes in must be what the ref is for.
    let Some(added) = fanout::changed_notes(git, &new_tree, old_tree.as_ref(), MAX_NOTES_PER_PUSH)
        .map_err(|e| format!("{e:#}"))?
    else {
        return Ok(Some(Refusal::TooMany));
    };
    let mut total = 0;
    for (object, blob) in added {
        let size = git
            .find_blob(blob)
            .map(|b| b.size())
            .map_err(|e| format!("failed to read a note: {e}"))?;
        if size > MAX_NOTE_BYTES {
            return Ok(Some(Refusal::TooLarge {
                object,
                bytes: size,
            }));
        }
        total += size;
        if total > MAX_BYTES_PER_PUSH {
            return Ok(Some(Refusal::TooMany));
        }
        let text = read(blob)?;
        let why = if audit {
            not_records(&text, &object)
        } else {
            not_team_notes(&text, &object)
        };
        if let Some(why) = why {
            return Ok(Some(Refusal::NotRecords { object, why }));
        }
    }
    Ok(None)
}

/// Why a note is not audit records of the commit it is attached to, if it is not.
fn not_records(text: &[u8], object: &str) -> Option<String> {
    let mut any = false;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match audit::parse_line(line) {
            Err(e) => return Some(format!("line {} is not an audit record: {e}", i + 1)),
            Ok((record, _)) => {
                let commit = record.new.as_deref().or(record.old.as_deref());
                if !commit.is_some_and(|c| c.eq_ignore_ascii_case(object)) {
                    return Some(format!(
                        "line {} records a push of another commit than the one it is attached to",
                        i + 1
                    ));
                }
                any = true;
            }
        }
    }
    (!any).then(|| "it holds no audit record".to_owned())
}

/// Tells whether every entry of a JSON-array note (approvals, reviews, waivers) is still in
/// its new version: the same entry, or for an approval the same person's approval of the same
/// commit for the same environment (a merge keeps the earliest of those).
fn kept_entries(before: &str, after: &str) -> bool {
    let values =
        |text: &str| serde_json::from_str::<Vec<serde_json::Value>>(text).unwrap_or_default();
    let (before, after) = (values(before), values(after));
    let approvals: Vec<super::Approval> = after
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    before.iter().all(|entry| {
        after.contains(entry)
            || serde_json::from_value::<super::Approval>(entry.clone())
                .is_ok_and(|a| approvals.iter().any(|b| b.same_as(&a)))
    })
}

/// Why a note of the approvals or waivers ref is not the team's notes of the commit it is
/// attached to, if it is not: a JSON array whose every entry names that commit, at its top
/// level (an approval, a waiver) or inside the one key that says its kind (`{"review": …}`).
fn not_team_notes(text: &[u8], object: &str) -> Option<String> {
    let values: Vec<serde_json::Value> = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("it is not a JSON array of entries: {e}")),
    };
    if values.is_empty() {
        return Some("it holds no entry".to_owned());
    }
    let commit_of = |v: &serde_json::Value| -> Option<String> {
        let object = v.as_object()?;
        if let Some(c) = object.get("commit").and_then(|c| c.as_str()) {
            return Some(c.to_owned());
        }
        match object.values().collect::<Vec<_>>().as_slice() {
            [inner] if object.len() == 1 => inner
                .get("commit")
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            _ => None,
        }
    };
    for (i, value) in values.iter().enumerate() {
        match commit_of(value) {
            None => {
                return Some(format!(
                    "entry {} is not an approval, a review or a waiver (it names no commit)",
                    i + 1
                ))
            }
            Some(c) if !c.eq_ignore_ascii_case(object) => {
                return Some(format!(
                    "entry {} is about another commit than the one it is attached to",
                    i + 1
                ))
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_refs_are_named_by_id() {
        assert_eq!(
            writer_ref("0123456789abcdef"),
            "refs/notes/pushguard-audit.d/0123456789abcdef"
        );
        assert!(is_clone_id("0123456789abcdef"));
        assert!(!is_clone_id("0123456789ABCDEF"));
        assert!(!is_clone_id("server"));
        assert!(is_trail_ref("refs/notes/pushguard-audit"));
        assert!(is_trail_ref("refs/notes/pushguard-audit.d/server"));
        assert!(is_trail_ref("refs/notes/pushguard-approvals"));
        assert!(!is_trail_ref("refs/notes/pushguard-auditx"));
        assert!(!is_trail_ref("refs/notes/commits"));
    }

    #[test]
    fn a_line_hash_is_read_from_its_suffix() {
        let mut r = audit::tests::sample();
        r.prev = None;
        let (line, hash) = r.to_line();
        assert_eq!(line_hash(&line), Some(hash.as_str()));
        assert_eq!(line_hash("junk"), None);
        assert_eq!(line_hash(&format!("{}\"}}", "x".repeat(70))), None);
    }
}
