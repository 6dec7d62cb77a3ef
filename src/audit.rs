//! The audit log's record format: one JSON object per line, hash-chained.
//!
//! A line is `B,"hash":"<hex>"}` where `<hex>` is the lowercase SHA-256 of `B}`, the compact
//! JSON of every other field (`prev`, the previous line's hash, included). Anyone can verify
//! a line with a few lines of any language: cut the last 76 bytes, append `}`, hash.
//!
//! The log lives in `<git common dir>/pushguard/audit.jsonl`. [`append`] adds a record under
//! an exclusive file lock and fsyncs it before returning, chaining it to the last good record;
//! a torn last line (a crash mid-write) is closed with a newline and skipped by the chain, and
//! a write that fails part-way (a full disk) is cut off again. Lines hold no raw control
//! character (C0, DEL and C1 are escaped), so a stored line is safe on a terminal.
//! [`verify`] checks every line's hash and the chain; [`read`] returns the records, and
//! [`read_newest_first`] streams them from the end of the file for `pushguard log`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::git::Identity;
pub use crate::model::ChecklistEntry;
use crate::model::{CheckResult, Decision, Outcome};

/// The git config key holding the hash of the log's first record.
pub const GENESIS_KEY: &str = "pushguard.auditGenesis";

/// Remembers `hash` as the log's first record, unless one is remembered already (a log
/// deleted and started again must not move its anchor). Best effort: `log --verify`
/// remembers the first record it sees when nothing is.
pub fn remember_genesis(state_dir: &Path, hash: &str) {
    let Some(common) = state_dir.parent() else {
        return;
    };
    if let Ok(mut config) = git2::Config::open(&common.join("config")) {
        if config.get_string(GENESIS_KEY).is_err() {
            let _ = config.set_str(GENESIS_KEY, hash);
        }
    }
}

/// The remembered first record's hash, if any.
pub fn genesis(state_dir: &Path) -> Option<String> {
    let common = state_dir.parent()?;
    git2::Config::open(&common.join("config"))
        .ok()?
        .get_string(GENESIS_KEY)
        .ok()
}

/// The record format version: 2 carries `signature` (see [`crate::signing`]); lines of
/// What a server's records put in `remote`: the server cannot know the pusher's name for it.
pub const SERVER_REMOTE: &str = "(server)";

/// version 1 have none and still verify.
pub const VERSION: u32 = 2;

/// One check's result as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEntry {
    pub id: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl From<&CheckResult> for CheckEntry {
    fn from(r: &CheckResult) -> Self {
        CheckEntry {
            id: r.id.as_str().to_owned(),
            outcome: r.outcome,
            detail: r.detail.clone(),
        }
    }
}

/// One gated ref update, as recorded. Field order is the line's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    /// RFC 3339, UTC.
    pub time: String,
    pub user: Identity,
    pub remote: String,
    pub url: String,
    pub local_ref: String,
    pub remote_ref: String,
    pub environment: String,
    /// The remote tip before the push; `null` when the branch is created.
    pub old: Option<String>,
    /// The pushed tip; `null` for a delete.
    pub new: Option<String>,
    /// Commits in the pushed range.
    pub commits: u64,
    pub decision: Decision,
    pub checks: Vec<CheckEntry>,
    pub consulted: Option<String>,
    pub checklist: Vec<ChecklistEntry>,
    pub justification: Option<String>,
    /// The freeze windows a bypass overrode (their names); `null` otherwise, and absent from
    /// records written before freeze windows (issue 17).
    #[serde(default)]
    pub freeze: Option<String>,
    /// The ticket the justification of a bypass gave (`[bypass].ticket`); `null` otherwise.
    #[serde(default)]
    pub ticket: Option<String>,
    /// On a server, where the attestation came from when it is the client hook's signed
    /// record of the same update (issue 11); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    /// The previous line's hash; `null` for the first line.
    pub prev: Option<String>,
    /// The SSH signature (namespace `pushguard-record`, base64 of the armour's body) of the
    /// line up to `,"prev":` closed with `}`; `null` when the pusher has no signing key.
    #[serde(default)]
    pub signature: Option<String>,
}

/// Everything a record says about one gated ref update, for [`Record::new`].
pub struct Fields<'a> {
    /// Who pushed.
    pub user: Identity,
    /// The remote as git gave it (a name, or the URL for a push to a URL).
    pub remote: String,
    pub url: String,
    pub update: &'a crate::push::RefUpdate,
    pub environment: &'a str,
    /// Commits in the pushed range.
    pub commits: u64,
    pub decision: Decision,
    pub results: &'a [CheckResult],
    /// Who was consulted, as answered.
    pub consulted: Option<String>,
    pub checklist: Vec<ChecklistEntry>,
    /// Kept only when the decision is a bypass.
    pub justification: Option<String>,
    /// The freeze windows a bypass overrode.
    pub freeze: Option<String>,
    /// The ticket a bypass's justification gave.
    pub ticket: Option<String>,
    /// Where a server's attestation came from, when not from the push itself.
    pub attestation: Option<String>,
}

/// The length of the `,"hash":"<64 hex>"}` suffix of a line.
const HASH_SUFFIX_LEN: usize = r#","hash":""}"#.len() + 64;

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// serde_json's compact format, except that every control character is escaped, C1
/// (U+0080–U+009F) and DEL included: serde_json writes those raw, and a log line must be
/// safe to print on a terminal as stored (its hash covers the stored bytes).
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// The compact JSON of `value`, with every control character escaped ([`TerminalSafe`]).
fn to_json(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, TerminalSafe);
    value
        .serialize(&mut ser)
        .expect("a record always serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

impl Record {
    /// The record of one gated ref update, built whole from the pipeline's data; a
    /// justification is kept only when the decision is a bypass.
    pub fn new(f: Fields) -> Record {
        Record {
            version: VERSION,
            time: now(),
            user: f.user,
            remote: f.remote,
            url: f.url,
            local_ref: f.update.local_ref.clone(),
            remote_ref: f.update.remote_ref.clone(),
            environment: f.environment.to_owned(),
            old: f.update.old_oid().map(str::to_owned),
            new: f.update.new_oid().map(str::to_owned),
            commits: f.commits,
            decision: f.decision,
            checks: f.results.iter().map(CheckEntry::from).collect(),
            consulted: f.consulted,
            checklist: f.checklist,
            justification: f.justification.filter(|_| f.decision == Decision::Bypassed),
            freeze: f.freeze.filter(|_| f.decision == Decision::Bypassed),
            ticket: f.ticket.filter(|_| f.decision == Decision::Bypassed),
            attestation: f.attestation,
            prev: None,
            signature: None,
        }
    }

    /// Serializes the record as one log line (no newline), computing its hash.
    ///
    /// The line holds no raw control character: C0, DEL and C1 are all `\u` escapes.
    pub fn to_line(&self) -> (String, String) {
        let body = to_json(self);
        let hash = sha256_hex(body.as_bytes());
        let open = &body[..body.len() - 1];
        (format!("{open},\"hash\":\"{hash}\"}}"), hash)
    }
}

/// Why a line does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line does not end with `,"hash":"<64 hex>"}`.
    NoHash,
    /// The hash does not match the line's bytes.
    HashMismatch { expected: String, found: String },
    /// The line is not a record (bad JSON, missing or unknown fields).
    NotARecord(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::NoHash => f.write_str("the line does not end with a `hash` field"),
            LineError::HashMismatch { expected, found } => write!(
                f,
                "the hash does not match the line (recorded {found}, computed {expected}): the line was changed"
            ),
            LineError::NotARecord(e) => write!(f, "not an audit record: {e}"),
        }
    }
}

/// Checks one line's own hash; returns where its hash suffix starts and the hash.
fn hashed(line: &[u8]) -> Result<(usize, String), LineError> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return Err(LineError::NoHash);
    }
    let cut = line.len() - HASH_SUFFIX_LEN;
    let (body, suffix) = line.split_at(cut);
    let hex_digits = suffix
        .strip_prefix(br#","hash":""#)
        .and_then(|s| s.strip_suffix(br#""}"#))
        .filter(|h| {
            h.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        })
        .ok_or(LineError::NoHash)?;
    let found = String::from_utf8_lossy(hex_digits).into_owned();
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(b"}");
    let expected = hex(&hasher.finalize());
    if expected != found {
        return Err(LineError::HashMismatch { expected, found });
    }
    Ok((cut, found))
}

/// Verifies one line's own hash and parses it; returns the record and its hash.
pub fn parse_line(line: &[u8]) -> Result<(Record, String), LineError> {
    let (cut, found) = hashed(line)?;
    let mut whole = line[..cut].to_vec();
    whole.push(b'}');
    let record: Record =
        serde_json::from_slice(&whole).map_err(|e| LineError::NotARecord(e.to_string()))?;
    Ok((record, found))
}

/// Verifies one line as [`parse_line`] does, with the same errors, but only keeps what the
/// chain needs: its `prev` and its hash. The line's bytes are reused in place (its hash
/// suffix becomes the closing brace), and the fields are checked without being kept.
fn check_line(line: &mut [u8]) -> Result<(Option<String>, String), LineError> {
    let (cut, found) = hashed(line)?;
    line[cut] = b'}';
    let shape: shape::Record =
        serde_json::from_slice(&line[..=cut]).map_err(|e| LineError::NotARecord(e.to_string()))?;
    Ok((shape.prev, found))
}

/// The record's shape for verification: the same fields and types as [`Record`], so a line
/// fails with the same error, but strings are checked without being copied.
mod shape {
    use serde::de::{Deserializer, Visitor};
    use serde::Deserialize;

    use crate::model::{Decision, Outcome};

    /// Any JSON string, not kept.
    pub struct Str;

    impl<'de> Deserialize<'de> for Str {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Str, D::Error> {
            struct Any;
            impl Visitor<'_> for Any {
                type Value = Str;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Str, E> {
                    Ok(Str)
                }
            }
            d.deserialize_str(Any)
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Identity {
        name: Str,
        email: Str,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct CheckEntry {
        id: Str,
        outcome: Outcome,
        detail: Str,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct ChecklistEntry {
        item: Str,
        answer: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Record {
        version: u32,
        time: Str,
        user: Identity,
        remote: Str,
        url: Str,
        local_ref: Str,
        remote_ref: Str,
        environment: Str,
        old: Option<Str>,
        new: Option<Str>,
        commits: u64,
        decision: Decision,
        checks: Vec<CheckEntry>,
        consulted: Option<Str>,
        checklist: Vec<ChecklistEntry>,
        justification: Option<Str>,
        #[serde(default)]
        freeze: Option<Str>,
        #[serde(default)]
        ticket: Option<Str>,
        #[serde(default)]
        attestation: Option<Str>,
        pub prev: Option<String>,
        #[serde(default)]
        signature: Option<Str>,
    }
}

/// The log's file name in the state directory.
pub const LOG_FILE: &str = "audit.jsonl";

/// How long an append waits for another pushguard (a parallel push) to release the lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable that overrides [`LOCK_TIMEOUT`], in milliseconds: a knob for
/// tests and operations (e.g. a slow network file system), not part of the user interface.
pub const LOCK_TIMEOUT_ENV: &str = "PUSHGUARD_LOCK_TIMEOUT_MS";

/// How long an append waits for the lock: [`LOCK_TIMEOUT`], or `PUSHGUARD_LOCK_TIMEOUT_MS`
/// when that is set to a whole number of milliseconds.
pub fn lock_timeout() -> Duration {
    std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(LOCK_TIMEOUT, Duration::from_millis)
}

/// The log's path in a state directory.
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join(LOG_FILE)
}

/// The current time as the log writes it: RFC 3339, UTC, whole seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Appends `record` to the log in `state_dir`, chained to the last good record; returns the
/// line's hash once it is on disk.
///
/// The record's `prev` is set here, under the lock, so parallel pushes from linked worktrees
/// of one clone chain in the order they write.
pub fn append(state_dir: &Path, mut record: Record, lock_timeout: Duration) -> Result<Record> {
    let path = log_path(state_dir);
    std::fs::create_dir_all(state_dir).with_context(|| {
        format!(
            "failed to create the state directory `{}`",
            state_dir.display()
        )
    })?;
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("failed to open the audit log `{}`", path.display()))?;
    lock(&file, lock_timeout)
        .with_context(|| format!("failed to lock the audit log `{}`", path.display()))?;
    let tail = last_good(&mut file)
        .with_context(|| format!("failed to read the audit log `{}`", path.display()))?;
    record.prev = tail.hash;
    let (line, hash) = record.to_line();
    let mut bytes = Vec::with_capacity(line.len() + 2);
    if tail.torn {
        // Close the torn fragment so the new record starts on a line of its own.
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let before = file
        .seek(SeekFrom::End(0))
        .with_context(|| format!("failed to read the audit log `{}`", path.display()))?;
    if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_all()) {
        // A full disk may take part of the line: cut it off again, so the log stays as it
        // was (best effort: if even that fails, the next append closes the torn line).
        let _ = file.set_len(before).and_then(|()| file.sync_all());
        return Err(e)
            .with_context(|| format!("failed to write the audit log `{}`", path.display()));
    }
    if record.prev.is_none() {
        remember_genesis(state_dir, &hash);
    }
    // The lock is released when the file is closed.
    Ok(record)
}

/// Takes the exclusive lock, waiting at most `timeout`.
pub(crate) fn lock(file: &File, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "another pushguard held the lock for more than {}",
                humantime::format_duration(timeout)
            ),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

/// What an append needs to know about the end of the log.
struct Tail {
    /// The hash of the last line that verifies; `None` for an empty log.
    hash: Option<String>,
    /// The file does not end with a newline: the last write was cut short.
    torn: bool,
}

/// Reads the end of the log: the last verifying line's hash, and whether the last line is torn.
///
/// Reads backwards in growing chunks, so an append costs the same on a log of any length.
fn last_good(file: &mut File) -> std::io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail {
            hash: None,
            torn: false,
        });
    }
    let mut chunk = 16 * 1024u64;
    loop {
        let start = len.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let torn = buf.last() != Some(&b'\n');
        // Complete lines only: the piece before the first newline may be cut by the chunk.
        let body = if torn {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => &buf[..=i],
                None => &buf[..0],
            }
        } else {
            &buf[..]
        };
        let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        lines.pop(); // after the last newline
        let whole = start == 0;
        let usable = if whole {
            &lines[..]
        } else {
            &lines[1.min(lines.len())..]
        };
        if let Some(hash) = usable
            .iter()
            .rev()
            .find_map(|l| parse_line(l).ok().map(|(_, h)| h))
        {
            return Ok(Tail {
                hash: Some(hash),
                torn,
            });
        }
        if whole {
            return Ok(Tail { hash: None, torn });
        }
        chunk *= 4;
    }
}

/// Why the log does not verify, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// What a successful verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub records: usize,
    /// Lines cut short by a crash mid-write that the chain skips (recovered).
    pub torn: Vec<usize>,
}

/// Verifies every line's hash and the chain of `prev` hashes.
///
/// A line without a hash suffix (a torn write) is accepted only when the next record chains
/// past it to the last good record: such a fragment never carried a decision. A torn last
/// line is reported, as the log has not yet recovered from the crash.
pub fn verify(mut reader: impl BufRead) -> std::io::Result<Result<Verified, Broken>> {
    let mut found = Verified::default();
    let mut prev: Option<String> = None;
    let mut pending_torn: Option<usize> = None;
    let mut line = Vec::with_capacity(4096);
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        number += 1;
        match check_line(&mut line) {
            Ok((record_prev, hash)) => {
                if record_prev != prev {
                    let reason = match (&record_prev, &prev) {
                        (None, Some(_)) => "`prev` is null, but this is not the first record".to_owned(),
                        (Some(_), None) => "`prev` names a record, but there is none before it".to_owned(),
                        _ => "`prev` is not the previous record's hash: a record was removed, inserted or reordered".to_owned(),
                    };
                    return Ok(Err(Broken {
                        line: number,
                        reason,
                    }));
                }
                if let Some(t) = pending_torn.take() {
                    found.torn.push(t);
                }
                found.records += 1;
                prev = Some(hash);
            }
            Err(LineError::NoHash) if pending_torn.is_none() => pending_torn = Some(number),
            Err(e) => {
                let (line, reason) = match pending_torn {
                    Some(t) => (t, LineError::NoHash.to_string()),
                    None => (number, e.to_string()),
                };
                return Ok(Err(Broken { line, reason }));
            }
        }
    }
    if let Some(t) = pending_torn {
        return Ok(Err(Broken {
            line: t,
            reason: "the last line is torn (a write was cut short, e.g. by a crash); the next record will start on a fresh line".to_owned(),
        }));
    }
    Ok(Ok(found))
}

/// Verifies the log file in `state_dir`; a missing log is an empty, valid one.
pub fn verify_file(state_dir: &Path) -> Result<Result<Verified, Broken>> {
    let path = log_path(state_dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(Verified::default())),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to open the audit log `{}`", path.display()))
        }
    };
    verify(BufReader::with_capacity(256 * 1024, file))
        .with_context(|| format!("failed to read the audit log `{}`", path.display()))
}

/// One line of the log as read for display: the record and its raw line, or why it is not one.
pub type Entry = (usize, Result<(Record, Vec<u8>), LineError>);

/// Reads every line of the log in `state_dir`, oldest first; a missing log has none.
pub fn read(state_dir: &Path) -> Result<Vec<Entry>> {
    let path = log_path(state_dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to open the audit log `{}`", path.display()))
        }
    };
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line =
            line.with_context(|| format!("failed to read the audit log `{}`", path.display()))?;
        let parsed = parse_line(&line).map(|(r, _)| (r, line));
        out.push((i + 1, parsed));
    }
    Ok(out)
}

/// How much of the log [`NewestFirst`] reads at a time.
const BACK_CHUNK: u64 = 64 * 1024;

/// Opens the log in `state_dir` for reading newest first; a missing log has no lines.
///
/// `pushguard log -n 10` on a million-record log reads the last few chunks only: time and
/// memory grow with the lines read, not with the log (issue 14).
pub fn read_newest_first(state_dir: &Path) -> Result<NewestFirst> {
    let path = log_path(state_dir);
    let file = match File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to open the audit log `{}`", path.display()))
        }
    };
    let start = match &file {
        Some(f) => f
            .metadata()
            .with_context(|| format!("failed to read the audit log `{}`", path.display()))?
            .len(),
        None => 0,
    };
    Ok(NewestFirst {
        file,
        path,
        start,
        buf: Vec::new(),
        started: false,
        done: false,
    })
}

/// The lines of the log, newest first, each parsed as [`parse_line`] does; see
/// [`read_newest_first`]. Yields the same lines as [`read`], in reverse.
pub struct NewestFirst {
    file: Option<File>,
    path: PathBuf,
    /// Where in the file `buf` starts: everything before it is still unread.
    start: u64,
    /// The unread tail of the region read so far (whole lines, the first maybe partial).
    buf: Vec<u8>,
    started: bool,
    done: bool,
}

impl NewestFirst {
    /// The next line, newest first, without its newline.
    ///
    /// The unread part of the file is `file[..start] + buf`. The newline that ends the file
    /// is dropped once, as a forward split drops the empty piece after it; after that every
    /// line is what follows the last newline of the unread part.
    fn next_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            if self.start == 0 {
                self.done = true;
                return Ok(None);
            }
            self.read_chunk()?;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            }
        }
        loop {
            if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                let line = self.buf.split_off(i + 1);
                self.buf.pop();
                return Ok(Some(line));
            }
            if self.start == 0 {
                self.done = true;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            self.read_chunk()?;
        }
    }

    /// Reads the chunk before `start` and puts it in front of `buf`.
    fn read_chunk(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            self.start = 0;
            return Ok(());
        };
        let from = self.start.saturating_sub(BACK_CHUNK);
        let mut chunk = vec![0; (self.start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&self.buf);
        self.buf = chunk;
        self.start = from;
        Ok(())
    }
}

impl Iterator for NewestFirst {
    type Item = Result<Result<(Record, Vec<u8>), LineError>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_line() {
            Ok(Some(line)) => Some(Ok(parse_line(&line).map(|(r, _)| (r, line)))),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(anyhow::Error::new(e).context(format!(
                    "failed to read the audit log `{}`",
                    self.path.display()
                ))))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Record {
        Record {
            version: VERSION,
            time: "2026-11-26T12:00:00Z".into(),
            user: Identity {
                name: "Pat".into(),
                email: "pat@example.com".into(),
            },
            remote: "origin".into(),
            url: "git@example.com:team/app.git".into(),
            local_ref: "refs/heads/main".into(),
            remote_ref: "refs/heads/production".into(),
            environment: "production".into(),
            old: Some("a".repeat(40)),
            new: Some("b".repeat(40)),
            commits: 3,
            decision: Decision::Allowed,
            checks: vec![CheckEntry {
                id: "no-delete".into(),
                outcome: Outcome::Pass,
                detail: "the branch is not deleted".into(),
            }],
            consulted: Some("Ada Lead".into()),
            checklist: vec![ChecklistEntry {
                item: "Users are ready".into(),
                answer: true,
            }],
            justification: None,
            freeze: None,
            ticket: None,
            attestation: None,
            prev: None,
            signature: None,
        }
    }

    #[test]
    fn newest_first_yields_the_lines_of_read_in_reverse_issue_14() {
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "x".repeat(3 * BACK_CHUNK as usize / 2);
        let cases: [&[u8]; 9] = [
            b"",
            b"\n",
            b"a",
            b"a\n",
            b"a\n\n",
            b"\nb",
            b"a\nb\nc",
            b"a\n\nb\n",
            long.as_bytes(),
        ];
        for content in cases
            .iter()
            .copied()
            .chain([format!("{long}\ny\n{long}\n").as_bytes()])
        {
            std::fs::write(log_path(dir.path()), content).expect("write");
            let forward: Vec<Vec<u8>> = read(dir.path())
                .expect("read")
                .into_iter()
                .map(|(_, e)| e.map(|(_, l)| l).unwrap_or_default())
                .collect();
            let raw: Vec<Vec<u8>> = std::io::BufRead::split(content, b'\n')
                .map(|l| l.expect("in memory"))
                .collect();
            let mut backward = Vec::new();
            let mut reader = read_newest_first(dir.path()).expect("open");
            while let Some(line) = reader.next_line().expect("read") {
                backward.push(line);
            }
            backward.reverse();
            assert_eq!(
                backward,
                raw,
                "{:?}",
                String::from_utf8_lossy(&content[..content.len().min(20)])
            );
            assert_eq!(forward.len(), backward.len());
        }
        let mut lines = Vec::new();
        let mut prev = None;
        for i in 0..3000 {
            let mut r = sample();
            r.commits = i;
            r.prev = prev.clone();
            let (line, hash) = r.to_line();
            prev = Some(hash);
            lines.push(line);
        }
        std::fs::write(log_path(dir.path()), lines.join("\n") + "\n").expect("write");
        let newest: Vec<u64> = read_newest_first(dir.path())
            .expect("open")
            .take(3)
            .map(|e| e.expect("io").expect("valid").0.commits)
            .collect();
        assert_eq!(newest, [2999, 2998, 2997]);
        assert_eq!(read_newest_first(dir.path()).expect("open").count(), 3000);
    }

    #[test]
    fn regression_issue_17_records_without_freeze_and_ticket_still_read_and_verify() {
        let (line, _) = sample().to_line();
        assert!(line.contains(",\"freeze\":null,\"ticket\":null,"), "{line}");
        let body = line.replace(",\"freeze\":null,\"ticket\":null", "");
        let body = format!("{}}}", body.rsplit_once(",\"hash\":").unwrap().0);
        let old = hashed_line(&body);
        let (record, _) = parse_line(&old).unwrap();
        assert_eq!((record.freeze, record.ticket), (None, None));
        assert!(verify(&old[..]).unwrap().is_ok());
    }

    #[test]
    fn line_is_body_plus_hash_of_body() {
        let (line, hash) = sample().to_line();
        assert!(line.starts_with(r#"{"version":2,"time":"2026-11-26T12:00:00Z","user":{"name":"Pat","email":"pat@example.com"},"#));
        assert!(line.ends_with(&format!(
            r#","prev":null,"signature":null,"hash":"{hash}"}}"#
        )));
        // Verify as a reader in another language would: cut the suffix, add `}`, hash.
        let body = &line[..line.len() - HASH_SUFFIX_LEN];
        assert_eq!(sha256_hex(format!("{body}}}").as_bytes()), hash);
        let (back, h) = parse_line(line.as_bytes()).unwrap();
        assert_eq!(back, sample());
        assert_eq!(h, hash);
    }

    #[test]
    fn a_changed_byte_is_detected() {
        let (line, _) = sample().to_line();
        let tampered = line.replace("Ada Lead", "Ada Leaf");
        assert!(matches!(
            parse_line(tampered.as_bytes()),
            Err(LineError::HashMismatch { .. })
        ));
        assert_eq!(parse_line(b"{\"version\":1"), Err(LineError::NoHash));
    }

    /// A line with `body` as its JSON and a correct hash.
    fn hashed_line(body: &str) -> Vec<u8> {
        let hash = sha256_hex(body.as_bytes());
        format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]).into_bytes()
    }

    #[test]
    fn verification_fails_as_parsing_does() {
        let (good, _) = sample().to_line();
        let body = &good[..good.len() - HASH_SUFFIX_LEN];
        let cases = [
            format!("{body},\"extra\":1}}"),
            body.replace("\"commits\":3", "\"commits\":\"3\"") + "}",
            body.replace("\"decision\":\"allowed\"", "\"decision\":\"maybe\"") + "}",
            body.replace("\"outcome\":\"pass\"", "\"outcome\":1") + "}",
            body.replace("\"name\":\"Pat\",", "") + "}",
            body.replace(",\"prev\":null", "") + "}",
            body.replace("\"url\":\"git@", "\"url\":5,\"x\":\"") + "}",
            r#"{"version":1,"time":"t"}"#.to_owned(),
            "[1,2,3]".to_owned(),
            "{\"version\":1,\"time\":\"\\ud800\"}".to_owned(),
        ];
        for body in cases {
            let line = hashed_line(&body);
            let slow = parse_line(&line).map(|(r, h)| (r.prev, h));
            let fast = check_line(&mut line.clone());
            // A missing `prev` is accepted by both (an absent optional field is null).
            assert!(slow.is_err() || !body.contains("prev"), "{body}");
            assert_eq!(slow, fast, "{body}");
        }
        let (line, hash) = sample().to_line();
        assert_eq!(check_line(&mut line.into_bytes()), Ok((None, hash.clone())));
        let mut next = sample();
        next.prev = Some(hash.clone());
        let (line, _) = next.to_line();
        assert_eq!(check_line(&mut line.into_bytes()).unwrap().0, Some(hash));
    }

    #[test]
    fn stored_lines_hold_no_raw_control_character() {
        let mut r = sample();
        r.justification = Some("a\u{85}b\u{9b}31mc\u{7f}d\u{1b}[0me\nf\"g".into());
        let (line, _) = r.to_line();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains(r#""justification":"a\u0085b\u009b31mc\u007fd\u001b[0me\nf\"g""#),
            "{line}"
        );
        let (back, _) = parse_line(line.as_bytes()).unwrap();
        assert_eq!(back, r);
    }
}
