//! The server's pending records: what pre-receive leaves for post-receive in
//! `<repository>/pushguard/post-receive-pending.jsonl`, under the file's lock.
//!
//! The pre-receive hook cannot write the server's trail ref itself (the pushed objects
//! are quarantined while it runs), so it appends the records of an allowed push here;
//! post-receive ([`crate::post_receive`]) takes the ones whose ref, old and new tip match a
//! line it receives: those landed. Each entry names the push it belongs to (the
//! `receive-pack` process it ran under, [`push_id`]), so that the records of refs the host
//! refused after pre-receive (gitolite's `update` access check, a chained hook) are known not
//! to have landed as soon as that push is over (issue 24): by its own post-receive when other
//! refs of it moved, else by the next hook that runs. Entries of an unknown push are dropped
//! after `PENDING_MAX_AGE`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};

use crate::audit::{self, Record};
use crate::model::Decision;
use crate::push::RefUpdate;

/// The pending file's name in the state directory.
pub const PENDING_FILE: &str = "post-receive-pending.jsonl";

/// How long a pending record that no post-receive took is kept.
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The pending file's path in a state directory.
pub fn pending_path(state_dir: &Path) -> PathBuf {
    state_dir.join(PENDING_FILE)
}

/// The push the current hook runs under: the `receive-pack` process that runs the hooks of a
/// push (pre-receive, update and post-receive alike, directly or through a host's driver),
/// as `<pid>:<start time>` (so that a later process with the same pid is another push).
/// `None` where it cannot be found (no `/proc`).
pub fn push_id() -> Option<String> {
    let mut pid = std::process::id();
    for _ in 0..8 {
        let (ppid, start) = stat(pid)?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if is_receive_pack(&cmdline) {
            return Some(format!("{pid}:{start}"));
        }
        if ppid <= 1 {
            return None;
        }
        pid = ppid;
    }
    None
}

/// A process's parent and start time (`/proc/<pid>/stat`, fields 4 and 22).
fn stat(pid: u32) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some((fields.get(1)?.parse().ok()?, (*fields.get(19)?).to_owned()))
}

/// Tells whether a command line (`/proc/<pid>/cmdline`) is git's `receive-pack`.
fn is_receive_pack(cmdline: &[u8]) -> bool {
    let mut args = cmdline.split(|b| *b == 0);
    let base =
        |a: &[u8]| -> Vec<u8> { a.rsplit(|b| *b == b'/').next().unwrap_or_default().to_vec() };
    match args.next().map(base).as_deref() {
        Some(b"git-receive-pack") => true,
        Some(b"git") => args.find(|a| !a.starts_with(b"-")) == Some(b"receive-pack".as_slice()),
        _ => false,
    }
}

/// Tells whether the push `id` ([`push_id`]) is over: its `receive-pack` has exited.
pub fn push_over(id: &str) -> bool {
    let Some((pid, start)) = id.split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    stat(pid).is_none_or(|(_, now)| now != start)
}

/// What a post-receive found in the pending file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// The records of refs that moved: they landed.
    pub landed: Vec<Record>,
    /// The records of this push (or of a push that is over) whose ref did not move.
    pub not_landed: Vec<Record>,
}

/// Splits a pending line into the push it belongs to and the record line.
fn split_line(line: &str) -> (Option<&str>, &str) {
    match line.split_once('\t') {
        Some((push, record)) if !line.starts_with('{') => (Some(push), record),
        _ => (None, line),
    }
}

/// Tells whether a record is the one for `update` (same ref, same old and new tip).
pub fn matches(record: &Record, update: &RefUpdate) -> bool {
    record.remote_ref == update.remote_ref
        && record.new.as_deref() == update.new_oid()
        && record.old.as_deref() == update.old_oid()
}

/// Splits the pending lines: the records of `updates` (landed), the records of the push `push`
/// (this one) or of a push that is over (`over`) whose ref did not move (not landed), and the
/// lines kept for a push still under way; lines that do not parse and records older than
/// `max_age` at `now` are dropped. Pure.
pub fn take(
    text: &str,
    updates: &[RefUpdate],
    now: SystemTime,
    max_age: Duration,
    push: Option<&str>,
    over: &dyn Fn(&str) -> bool,
) -> (Taken, Vec<String>) {
    let mut taken = Taken::default();
    let mut kept = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (id, record_line) = split_line(line);
        let Ok((record, _)) = audit::parse_line(record_line.as_bytes()) else {
            continue;
        };
        // An earlier attempt of the same update, under another push, did not land with this one.
        let ours = id.is_none() || push.is_none() || id == push;
        if ours && updates.iter().any(|u| matches(&record, u)) {
            taken.landed.push(record);
            continue;
        }
        if id.is_some_and(|id| push == Some(id) || over(id)) {
            taken.not_landed.push(record);
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

/// Appends the allowed and bypassed records of a push (`push`: [`push_id`]) to the pending
/// file, for post-receive.
pub fn remember(state_dir: &Path, records: &[Record], push: Option<&str>) -> Result<()> {
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
        if let Some(push) = push {
            bytes.extend_from_slice(push.as_bytes());
            bytes.push(b'\t');
        }
        bytes.extend_from_slice(record.to_line().0.as_bytes());
        bytes.push(b'\n');
    }
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{}`", path.display()))
}

/// Takes from the pending file, already open and locked, what post-receive of the push
/// `push` finds there ([`take`]), and rewrites the file with the rest.
pub(crate) fn take_locked(
    file: &mut File,
    path: &Path,
    updates: &[RefUpdate],
    push: Option<&str>,
) -> Result<Taken> {
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let (taken, kept) = take(
        &text,
        updates,
        SystemTime::now(),
        PENDING_MAX_AGE,
        push,
        &push_over,
    );
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
        let never = |_: &str| false;
        let (taken, kept) = take(&text, &[update], now, PENDING_MAX_AGE, None, &never);
        assert_eq!(taken.landed, vec![mine]);
        assert_eq!(kept, vec![other.to_line().0]);
        // Same ref and tip, another old tip: not this push's record.
        let update = received(B, A);
        let (taken, _) = take(&text, &[update], now, PENDING_MAX_AGE, None, &never);
        assert!(taken.landed.is_empty());
    }

    #[test]
    fn a_ref_of_this_push_or_of_a_finished_one_that_did_not_move_did_not_land() {
        let now = humantime::parse_rfc3339("2026-01-02T12:00:00Z").unwrap();
        let moved = record("2026-01-02T11:59:00Z", None, A);
        let refused = record("2026-01-02T11:59:00Z", Some(A), B);
        let other_push = record("2026-01-02T11:59:30Z", Some(B), A);
        let finished = record("2026-01-02T11:58:00Z", Some(B), B);
        let text = format!(
            "100:7\t{}\n100:7\t{}\n200:9\t{}\n300:1\t{}\n",
            moved.to_line().0,
            refused.to_line().0,
            other_push.to_line().0,
            finished.to_line().0
        );
        let update = received("0000000000000000000000000000000000000000", A);
        let over = |id: &str| id == "300:1";
        let (taken, kept) = take(&text, &[update], now, PENDING_MAX_AGE, Some("100:7"), &over);
        assert_eq!(taken.landed, vec![moved]);
        assert_eq!(taken.not_landed, vec![refused, finished]);
        assert_eq!(kept, vec![format!("200:9\t{}", other_push.to_line().0)]);
    }

    #[test]
    fn git_receive_pack_is_found_by_its_command_line() {
        assert!(is_receive_pack(b"git-receive-pack\0/srv/app.git\0"));
        assert!(is_receive_pack(
            b"/usr/lib/git-core/git-receive-pack\0'/srv/app.git'\0"
        ));
        assert!(is_receive_pack(b"git\0receive-pack\0--stateless-rpc\0.\0"));
        assert!(!is_receive_pack(b"git\0upload-pack\0.\0"));
        assert!(!is_receive_pack(b"sh\0-c\0git-receive-pack x\0"));
    }
}
