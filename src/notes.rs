//! The team layer's storage: git notes on `refs/notes/pushguard-approvals` (who approved
//! which commit for which environment, one ref shared by everyone: approvals are rare; the
//! reviews of bypasses sit there too, as entries of their own: [`reviews`]),
//! `refs/notes/pushguard-waivers` (who waived which check of which commit: [`waivers`]) and
//! the audit trail (the record lines of gated pushes, one ref per writer: [`trail`]), shared
//! through the remote with the git CLI.
//!
//! Notes are never overwritten: a note that already exists on a commit is merged with the
//! new content (approvals as a union of JSON entries, audit notes as a union of lines). A
//! notes ref fetched from a remote lands in `refs/notes/pushguard-remote/<remote>/<name>` and
//! is merged into the local ref by tree ([`fanout::merge`]: what both sides hold alike is
//! never read), with a merge commit whose second parent is the remote's tip, so that the next
//! push of the local ref is a fast-forward. Every git child process is bounded in time and
//! runs with git's repository-local variables removed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use git2::{Oid, Signature};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::git::{self, Repo};
use crate::outcome::WithHint;

mod fanout;
pub mod waivers;

pub use waivers::{Waiver, WAIVERS};

pub mod requests;
pub mod reviews;

pub mod trail;

pub use trail::{audit_notes_on, push_pending_audit_notes, remote_trail, share_audit, RemoteTrail};

/// The notes ref holding approvals.
pub const APPROVALS: NotesRef = NotesRef("pushguard-approvals");
/// The single notes ref that held everyone's audit record lines before the trail got one ref
/// per writer ([`trail::NAMESPACE`]): still read, written only by older versions.
pub const AUDIT: NotesRef = NotesRef("pushguard-audit");

/// How long the hook waits for a notes fetch before it goes on with local notes.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a notes push (with its fetches and retries) may take.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a push of the shared approvals ref rejected as non-fast-forward is retried
/// after merging again, within [`PUSH_TIMEOUT`].
const PUSH_ATTEMPTS: usize = 40;

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
    parse_entries(text)
}

/// The entries of a note holding a JSON array that read as `T`; the others (another kind's,
/// or unreadable ones) are left out, and a note that is no JSON array holds none.
pub(crate) fn parse_entries<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    serde_json::from_str::<Vec<serde_json::Value>>(text)
        .map(|values| {
            values
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A note's JSON array of `list`, one entry per line.
pub(crate) fn render_entries<T: Serialize>(list: &[T]) -> String {
    let lines: Vec<String> = list
        .iter()
        .map(|e| serde_json::to_string(e).expect("a note's entry always serializes"))
        .collect();
    render_lines(&lines)
}

/// The note on `oid` in `notes_ref`, to be merged with a new entry: empty when there is
/// none, an error when it is not a JSON array (`what` names its entries), so that nothing
/// pushguard cannot read is overwritten.
pub(crate) fn note_to_extend(
    repo: &Repo,
    notes_ref: &NotesRef,
    oid: Oid,
    what: &str,
) -> Result<String> {
    let existing = read_note(repo, &notes_ref.full(), oid)?.unwrap_or_default();
    if !existing.trim().is_empty()
        && serde_json::from_str::<Vec<serde_json::Value>>(&existing).is_err()
    {
        return Err(anyhow::anyhow!(
            "the note on {oid} in `{}` is not a JSON array of {what}, so pushguard will not overwrite it",
            notes_ref.full()
        ))
        .hint(format!(
            "look at it with `git notes --ref {} show {oid}` and fix or remove it",
            notes_ref.0
        ));
    }
    Ok(existing)
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
    let existing = note_to_extend(repo, &APPROVALS, oid, "approvals")?;
    if parse_approvals(&existing)
        .iter()
        .any(|a| a.same_as(approval))
    {
        return Ok(false);
    }
    let merged = merge_approval_notes(&existing, &render_entries(std::slice::from_ref(approval)));
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

/// Every note under `notes_ref` as `(annotated object, note blob)`, without reading the
/// blobs; empty if the ref does not exist.
pub fn note_blobs(repo: &Repo, notes_ref: &str) -> Result<Vec<(Oid, Oid)>> {
    let git = repo.git2();
    if git.refname_to_id(notes_ref).is_err() {
        return Ok(Vec::new());
    }
    let what = || format!("failed to list the notes in `{notes_ref}`");
    git.notes(Some(notes_ref))
        .with_context(what)?
        .map(|item| {
            item.map(|(blob, annotated)| (annotated, blob))
                .with_context(what)
        })
        .collect()
}

/// How many blobs the reader hands over at once.
const BLOB_BATCH: usize = 256;

/// How many batches of [`BLOB_BATCH`] blobs wait, read, for the caller: what `cat-file`
/// reads ahead while the list is still being made (about 16,000 note blobs, 14 MB at
/// 100,000 records: the first 0.2 s of its reading).
const BLOB_QUEUE: usize = 64;

/// Hands the content of each blob of `blobs` to `each`, in the order given (each once), as
/// [`read_listed_blobs`] reads them.
pub fn read_blobs(repo: &Repo, blobs: &[Oid], each: &mut dyn FnMut(Oid, &[u8])) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    read_listed_blobs(
        repo,
        |name| {
            blobs.iter().for_each(|b| name(*b));
            Ok(())
        },
        &mut |(), blob, content| each(blob, content),
    )
}

/// Reads blobs while `list` names them. `list` runs on a thread of its own and names each
/// blob (a blob named again is read once); one `git cat-file --batch` reads them in the order
/// named, from the first name on, on another thread: git resolves the next blobs' deltas
/// while `each` handles the last ones. Two `cat-file`s over halves of a list cost more in
/// all (each resolves the delta chains the halves share). `each` gets what `list` returned, so
/// it starts once `list` is done; meanwhile up to [`BLOB_QUEUE`] batches are read ahead.
/// Blobs git cannot read (or no git at all) are read with libgit2, last.
pub fn read_listed_blobs<T: Send>(
    repo: &Repo,
    list: impl FnOnce(&mut dyn FnMut(Oid)) -> Result<T> + Send,
    each: &mut dyn FnMut(&T, Oid, &[u8]),
) -> Result<T> {
    let mut cmd = git::git_command(repo.common_dir());
    git::keep_quarantine(&mut cmd);
    cmd.arg("--git-dir")
        .arg(repo.git2().path())
        .args(["cat-file", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().ok();
    let (names, named_rx) = std::sync::mpsc::channel::<Oid>();
    let (batches, batch_rx) = std::sync::mpsc::sync_channel(BLOB_QUEUE);
    let read = std::thread::scope(|scope| -> Result<(T, Vec<Oid>, HashSet<Oid>)> {
        let lister = scope.spawn(move || {
            let mut named = Vec::new();
            let mut seen = HashSet::new();
            let listed = list(&mut |blob| {
                if seen.insert(blob) {
                    named.push(blob);
                    // Unbounded: the list never waits for git (which waits for the reader,
                    // which waits for the list to be done).
                    let _ = names.send(blob);
                }
            });
            listed.map(|t| (t, named))
        });
        if let Some(child) = child.as_mut() {
            let stdin = child.stdin.take().expect("stdin is piped");
            let stdout = child.stdout.take().expect("stdout is piped");
            scope.spawn(move || write_names(stdin, &named_rx));
            scope.spawn(move || cat_file(stdout, &batches));
        } else {
            drop((named_rx, batches));
        }
        let (listed, named) = lister
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let mut done = HashSet::new();
        for batch in batch_rx {
            for (blob, content) in batch {
                each(&listed, blob, &content);
                done.insert(blob);
            }
        }
        Ok((listed, named, done))
    });
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (listed, named, done) = read?;
    for blob in named.iter().filter(|b| !done.contains(b)) {
        let read = repo
            .git2()
            .find_blob(*blob)
            .with_context(|| format!("failed to read the note blob {blob}"))?;
        each(&listed, *blob, read.content());
    }
    Ok(listed)
}

/// Writes each name `names` receives to `cat-file`'s input, a line each; what is buffered is
/// flushed whenever no name is waiting, so git starts on the first before the list is done.
fn write_names(stdin: std::process::ChildStdin, names: &std::sync::mpsc::Receiver<Oid>) {
    use std::io::Write as _;
    use std::sync::mpsc::TryRecvError;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdin);
    loop {
        let blob = match names.try_recv() {
            Ok(blob) => blob,
            Err(TryRecvError::Empty) => {
                if out.flush().is_err() {
                    return;
                }
                match names.recv() {
                    Ok(blob) => blob,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if writeln!(out, "{blob}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Reads `cat-file --batch`'s answers until it ends, sending the blobs in batches; stops at
/// the first answer it cannot follow (the caller reads what is left another way).
fn cat_file(
    stdout: std::process::ChildStdout,
    tx: &std::sync::mpsc::SyncSender<Vec<(Oid, Vec<u8>)>>,
) {
    use std::io::{BufRead as _, Read as _};
    let mut reader = std::io::BufReader::with_capacity(
        PIPE_BYTES,
        Coalesced {
            inner: stdout,
            pause: false,
            short: false,
        },
    );
    let mut header = String::new();
    let mut batch = Vec::with_capacity(BLOB_BATCH);
    let mut read = 0usize;
    loop {
        header.clear();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            break;
        }
        // `<oid> <type> <size>` and the content, or `<oid> missing` alone.
        let mut fields = header.split_whitespace();
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else {
            break;
        };
        let Some(size) = fields.next() else {
            continue;
        };
        let (Ok(blob), Ok(size)) = (Oid::from_str(name), size.parse::<usize>()) else {
            break;
        };
        let mut content = vec![0; size + 1];
        if reader.read_exact(&mut content).is_err() {
            break;
        }
        if kind != "blob" {
            continue;
        }
        content.truncate(size);
        batch.push((blob, content));
        if batch.len() == BLOB_BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
            return;
        }
        read += 1;
        if read == COALESCE_FROM {
            // Waiting pays only when a wait's worth of git's answers fits in the pipe.
            reader.get_mut().pause = widen_pipe(&reader.get_ref().inner);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
    }
}

/// From how many blobs on, the reader lets git's answers gather in the pipe between reads.
const COALESCE_FROM: usize = 1024;

/// How many bytes the pipe from `cat-file` holds when widened, and the reader takes at once.
const PIPE_BYTES: usize = 1 << 20;

/// Reads a pipe whose writer answers in small pieces (`cat-file --batch` writes each blob with
/// its own `write`): once `pause` is set, after a read that found less than a quarter of a
/// widened pipe, waits 1 ms before the next, so that git's next answers gather in the pipe and
/// one read takes them all. Read as they come, 100,000 notes cost 100,000 wake-ups of this
/// process and as many `read` calls: 0.8 s of system time at 100,000 records, 0.4–0.5 s with
/// the waits (docs/benchmarks.md).
struct Coalesced<R> {
    inner: R,
    pause: bool,
    /// The last read took less than a quarter of a widened pipe.
    short: bool,
}

impl<R: std::io::Read> std::io::Read for Coalesced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pause && self.short {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let n = self.inner.read(buf)?;
        self.short = n < buf.len().min(PIPE_BYTES / 4);
        Ok(n)
    }
}

/// Lets the pipe from `cat-file` hold [`PIPE_BYTES`] (Linux); says whether it does now.
/// Elsewhere, and when the system refuses (`/proc/sys/fs/pipe-max-size`, or the user's pipe
/// pages spent), the pipe keeps its size and the reader reads as answers come, never waiting:
/// a 64 KiB pipe would fill within a wait.
fn widen_pipe(stdout: &std::process::ChildStdout) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let bytes = libc::c_int::try_from(PIPE_BYTES).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor this process owns; it returns the pipe's
        // new size, or -1 and leaves it as it was.
        let size = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
        usize::try_from(size).is_ok_and(|size| size >= PIPE_BYTES)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = stdout;
        false
    }
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

/// Merges the notes commit `theirs_ref` points at into `ours_ref`, by tree.
///
/// Takes theirs when ours has nothing or theirs already holds every note of ours; otherwise
/// puts each note of ours that theirs lacks (or holds differently) into theirs' tree and
/// closes with a merge commit whose parents are ours and theirs, so that pushing ours to
/// where theirs came from is a fast-forward. The cost follows what differs between the two
/// trees, not how many notes theirs holds.
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
    let what = || format!("failed to merge `{theirs_ref}` into `{ours_ref}`");
    let tip = git.find_commit(ours).with_context(what)?;
    let other = git.find_commit(theirs).with_context(what)?;
    let merged = fanout::merge(
        git,
        &tip.tree().with_context(what)?,
        &other.tree().with_context(what)?,
        &|a, b| which.merge(a, b),
    )?;
    if merged.is_none() && git.graph_descendant_of(theirs, ours).unwrap_or(false) {
        git.reference(ours_ref, theirs, true, "pushguard: fast-forward notes")
            .with_context(|| format!("failed to update `{ours_ref}`"))?;
        return Ok(());
    }
    let tree = git
        .find_tree(merged.unwrap_or_else(|| other.tree_id()))
        .with_context(what)?;
    let sig = signature(repo)?;
    git.commit(
        Some(ours_ref),
        &sig,
        &sig,
        &format!("Notes merged by pushguard from {theirs_ref}"),
        &tree,
        &[&tip, &other],
    )
    .with_context(what)?;
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
/// person pushed notes in between) fetches, merges and pushes again, a few times, within
/// `timeout`.
pub fn push(repo: &Repo, remote: &str, which: NotesRef, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let full = which.full();
    let refspec = format!("{full}:{full}");
    let mut last = String::new();
    for attempt in 0..PUSH_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // A failed fetch (say, a fetch URL that differs from the push URL) does not stop the
        // push: if the remote moved on, the push is rejected and says so.
        let fetched = fetch(repo, remote, which, left);
        if repo.git2().refname_to_id(&full).is_err() {
            // Nothing to share.
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
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

    /// A repository holding `n` distinct blobs (written by libgit2, so loose: git reads them
    /// all the same).
    fn blobs(n: usize) -> (tempfile::TempDir, Repo, Vec<(Oid, Vec<u8>)>) {
        let tmp = tempfile::tempdir().expect("temp dir");
        git::test_git(tmp.path(), &["init", "-q"]);
        let repo = Repo::open(tmp.path()).expect("open");
        let written = (0..n)
            .map(|i| {
                let content = format!("record {i}\n").repeat(1 + i % 7).into_bytes();
                (repo.git2().blob(&content).expect("blob"), content)
            })
            .collect();
        (tmp, repo, written)
    }

    #[test]
    fn listed_blobs_are_read_once_each_in_the_order_named_past_the_coalescing_threshold() {
        let (_tmp, repo, written) = blobs(COALESCE_FROM + 300);
        let mut read: Vec<(Oid, Vec<u8>)> = Vec::new();
        let listed = read_listed_blobs(
            &repo,
            |name| {
                for (blob, _) in &written {
                    name(*blob);
                }
                // Named again: read once.
                name(written[0].0);
                Ok(written.len())
            },
            &mut |listed, blob, content| {
                assert_eq!(*listed, written.len(), "each runs once the list is done");
                read.push((blob, content.to_vec()));
            },
        )
        .expect("read");
        assert_eq!(listed, written.len());
        assert_eq!(read, written);
    }

    #[test]
    fn a_blob_git_cannot_give_is_an_error_and_a_failing_list_ends_the_reading() {
        let (_tmp, repo, written) = blobs(3);
        let missing = Oid::from_str(&"ab".repeat(20)).expect("oid");
        let mut read = 0;
        let err = read_listed_blobs(
            &repo,
            |name| {
                name(written[0].0);
                name(missing);
                name(written[1].0);
                Ok(())
            },
            &mut |(), _, _| read += 1,
        )
        .expect_err("a missing blob");
        assert!(err.to_string().contains(&missing.to_string()), "{err:#}");
        assert_eq!(read, 2, "the blobs git gave were handed over");

        let mut read = 0;
        let err = read_listed_blobs(
            &repo,
            |name| -> Result<()> {
                name(written[2].0);
                bail!("the listing failed")
            },
            &mut |(), _, _| read += 1,
        )
        .expect_err("the list failed");
        assert_eq!(err.to_string(), "the listing failed");
        assert_eq!(read, 0);
    }

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
        let a = render_entries(&[approval("a@x", "production", "2026-01-02T00:00:00Z")]);
        let b = render_entries(&[
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
