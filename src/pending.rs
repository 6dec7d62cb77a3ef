//! The server's pending records: what pre-receive leaves for post-receive in
//! `<repository>/pushguard/post-receive-pending.jsonl`, under the file's lock.
//!
//! The pre-receive hook cannot write the server's trail ref itself (the pushed objects
//! are quarantined while it runs), so it appends the records of an allowed push here;
//! post-receive ([`crate::post_receive`]) takes the ones whose ref, old and new tip match a
//! line it receives. Entries no post-receive takes are dropped after `PENDING_MAX_AGE`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};

use crate::audit::{self, Record};
use crate::gate::Decision;
use crate::push::RefUpdate;

/// The pending file's name in the state directory.
pub const PENDING_FILE: &str = "post-receive-pending.jsonl";

/// How long a pending record that no post-receive took is kept.
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The pending file's path in a state directory.
pub fn pending_path(state_dir: &Path) -> PathBuf {
    state_dir.join(PENDING_FILE)
}

/// Tells whether a record is the one for `update` (same ref, same old and new tip).
pub fn matches(record: &Record, update: &RefUpdate) -> bool {
    record.remote_ref == update.remote_ref
        && record.new.as_deref() == update.new_oid()
        && record.old.as_deref() == update.old_oid()
}

/// Splits the pending lines into those matching one of `updates` (parsed) and those kept,
/// dropping lines that do not parse and records older than `max_age` at `now`. Pure.
pub fn take(
    text: &str,
    updates: &[RefUpdate],
    now: SystemTime,
    max_age: Duration,
) -> (Vec<Record>, Vec<String>) {
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok((record, _)) = audit::parse_line(line.as_bytes()) else {
            continue;
        };
        if updates.iter().any(|u| matches(&record, u)) {
            taken.push(record);
            continue;
        }
        let fresh = humantime::parse_rfc3339_weak(&record.time)
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_none_or(|age| age <= max_age);
        if fresh {
            kept.push(line.to_owned());
        }
    }
    (taken, kept)
}

/// Opens the pending file (creating the state directory and the file) and locks it.
pub(crate) fn open_locked(state_dir: &Path) -> Result<File> {
    let path = pending_path(state_dir);
    std::fs::create_dir_all(state_dir).with_context(|| {
        format!(
            "failed to create the state directory `{}`",
            state_dir.display()
        )
    })?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    audit::lock(&file, audit::lock_timeout())
        .with_context(|| format!("failed to lock `{}`", path.display()))?;
    Ok(file)
}

/// Appends the allowed and bypassed records of a push to the pending file, for post-receive.
pub fn remember(state_dir: &Path, records: &[Record]) -> Result<()> {
    let records: Vec<&Record> = records
        .iter()
        .filter(|r| r.decision != Decision::Blocked)
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let path = pending_path(state_dir);
    let mut file = open_locked(state_dir)?;
    let mut bytes = Vec::new();
    let len = file
        .seek(SeekFrom::End(0))
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if len > 0 {
        // Close a torn last line, if any, so ours starts on a line of its own.
        file.seek(SeekFrom::End(-1))
            .and_then(|_| {
                let mut last = [0u8];
                file.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    bytes.push(b'\n');
                }
                Ok(())
            })
            .with_context(|| format!("failed to read `{}`", path.display()))?;
    }
    for record in records {
        bytes.extend_from_slice(record.to_line().0.as_bytes());
        bytes.push(b'\n');
    }
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{}`", path.display()))
}

/// Removes from the pending file the records matching `updates`, and returns them.
/// A missing file holds nothing.
pub fn take_pending(state_dir: &Path, updates: &[RefUpdate]) -> Result<Vec<Record>> {
    if !pending_path(state_dir).exists() {
        return Ok(Vec::new());
    }
    let mut file = open_locked(state_dir)?;
    take_locked(&mut file, &pending_path(state_dir), updates)
}

/// [`take_pending`] on the pending file, already open and locked.
pub(crate) fn take_locked(
    file: &mut File,
    path: &Path,
    updates: &[RefUpdate],
) -> Result<Vec<Record>> {
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let (taken, kept) = take(&text, updates, SystemTime::now(), PENDING_MAX_AGE);
    let mut rest = kept.join("\n");
    if !rest.is_empty() {
        rest.push('\n');
    }
    if rest != text {
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(rest.as_bytes()))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("failed to rewrite `{}`", path.display()))?;
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Identity;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    /// A ref update as the server receives it: `old new refs/heads/production`.
    fn received(old: &str, new: &str) -> RefUpdate {
        RefUpdate {
            local_ref: "refs/heads/production".into(),
            local_oid: new.into(),
            remote_ref: "refs/heads/production".into(),
            remote_oid: old.into(),
        }
    }

    fn record(time: &str, old: Option<&str>, new: &str) -> Record {
        Record {
            version: audit::VERSION,
            time: time.to_owned(),
            user: Identity::default(),
            remote: "(server)".into(),
            url: "/srv/app.git".into(),
            local_ref: "refs/heads/production".into(),
            remote_ref: "refs/heads/production".into(),
            environment: "production".into(),
            old: old.map(str::to_owned),
            new: Some(new.to_owned()),
            commits: 1,
            decision: Decision::Allowed,
            checks: Vec::new(),
            consulted: Some("Ada".into()),
            checklist: Vec::new(),
            justification: None,
            freeze: None,
            ticket: None,
            attestation: None,
            prev: None,
            signature: None,
        }
    }

    #[test]
    fn takes_the_matching_records_and_keeps_or_expires_the_rest() {
        let now = humantime::parse_rfc3339("2026-01-02T12:00:00Z").unwrap();
        let mine = record("2026-01-02T11:59:00Z", None, A);
        let other = record("2026-01-02T11:00:00Z", Some(A), B);
        let stale = record("2025-12-30T00:00:00Z", Some(B), B);
        let text = format!(
            "{}\nnot a record\n{}\n{}\n",
            mine.to_line().0,
            other.to_line().0,
            stale.to_line().0
        );
        let update = received("0000000000000000000000000000000000000000", A);
        let (taken, kept) = take(&text, &[update], now, PENDING_MAX_AGE);
        assert_eq!(taken, vec![mine]);
        assert_eq!(kept, vec![other.to_line().0]);
        // Same ref and tip, another old tip: not this push's record.
        let update = received(B, A);
        assert!(take(&text, &[update], now, PENDING_MAX_AGE).0.is_empty());
    }
}
