//! Anchors the local audit log to what this clone already shared: a log that was rewritten
//! and re-chained, cut short or deleted still has a valid hash chain, but the records it once
//! held are in the notes (this clone's outboxes, and on the remote its own trail ref).
//!
//! This clone's records are found two ways. Its own notes refs (the local outboxes, and on
//! the remote `refs/notes/pushguard-audit.d/<clone id>`, found by an id the clone can derive
//! again from where it is) hold nothing but its records: all of them must be in the log,
//! whatever the log, the genesis or the local notes now say. In notes that hold everyone's
//! records (the single ref of earlier versions), they are found by their chain: a record
//! whose `prev` is a hash of the log (or of another of this clone's records) continues this
//! clone's chain, and the log's first record — the genesis — is remembered in the
//! repository's git config (`pushguard.auditGenesis`) when it is written. Every such record
//! must be in the log, byte for byte.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::audit::{self, Record, GENESIS_KEY};

/// Length of a line's `,"hash":"<64 hex>"}` suffix.
const SUFFIX: usize = 75;

/// The hash of each line of the log, in order (lines without a hash suffix are skipped: the
/// chain check reports them).
pub fn log_hashes(state_dir: &Path) -> Result<Vec<String>> {
    let path = audit::log_path(state_dir);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to read the audit log `{}`", path.display()))
        }
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line =
            line.with_context(|| format!("failed to read the audit log `{}`", path.display()))?;
        if line.len() < SUFFIX {
            continue;
        }
        let suffix = &line[line.len() - SUFFIX..];
        if let Some(hex) = suffix
            .strip_prefix(br#","hash":""#)
            .and_then(|s| s.strip_suffix(br#""}"#))
        {
            out.push(String::from_utf8_lossy(hex).into_owned());
        }
    }
    Ok(out)
}

/// A shared record of this clone that the local log does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// This clone's record, found in the notes, is not in the log.
    Missing { hash: String, record: Box<Record> },
    /// The log's first record is not the one this clone started with (or the log is empty).
    Genesis {
        expected: String,
        found: Option<String>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing { hash, record } => write!(
                f,
                "the record {} ({}, {} push of {} to {}) that this clone shared is not in the log: the log was rewritten, cut short or deleted",
                &hash[..hash.len().min(12)],
                crate::text::escape(&record.time, 25),
                record.decision,
                crate::text::escape(&record.remote_ref, 60),
                crate::text::escape(&record.remote, 60),
            ),
            Mismatch::Genesis { expected, found } => match found {
                Some(found) => write!(
                    f,
                    "the log's first record is {} but this clone's log began with {} (git config {GENESIS_KEY}): the log was rewritten from its start",
                    &found[..found.len().min(12)],
                    &expected[..expected.len().min(12)]
                ),
                None => write!(
                    f,
                    "the log is empty but this clone's log began with {} (git config {GENESIS_KEY}): the log was deleted",
                    &expected[..expected.len().min(12)]
                ),
            },
        }
    }
}

/// Checks the log (its hashes, in order) against shared records `(record, hash)`: every
/// record that continues this clone's chain, and every record of `own` (this clone's own
/// notes refs), must be in the log. Returns how many shared records of this clone were found
/// in the log.
pub fn check(
    log: &[String],
    genesis: Option<&str>,
    shared: &[(Record, String)],
    own: &[(Record, String)],
) -> Result<usize, Mismatch> {
    let in_log: HashSet<&str> = log.iter().map(String::as_str).collect();
    let mut next: HashMap<Option<&str>, Vec<&(Record, String)>> = HashMap::new();
    let mut by_hash: HashMap<&str, &(Record, String)> = HashMap::new();
    for entry in shared {
        next.entry(entry.0.prev.as_deref()).or_default().push(entry);
        by_hash.insert(entry.1.as_str(), entry);
    }
    // This clone's chain: from the genesis and from every hash of the log, forwards.
    let mut ours: Vec<&(Record, String)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut frontier: Vec<&str> = log.iter().map(String::as_str).collect();
    if let Some(g) = genesis {
        if let Some(entry) = by_hash.get(g) {
            ours.push(entry);
            seen.insert(g);
        }
        frontier.push(g);
    }
    for entry in own {
        if seen.insert(entry.1.as_str()) {
            ours.push(entry);
            frontier.push(entry.1.as_str());
        }
    }
    while let Some(h) = frontier.pop() {
        for entry in next.get(&Some(h)).into_iter().flatten() {
            if seen.insert(entry.1.as_str()) {
                ours.push(entry);
                frontier.push(entry.1.as_str());
            }
        }
    }
    ours.sort_by(|a, b| a.0.time.cmp(&b.0.time));
    if let Some(missing) = ours.iter().find(|e| !in_log.contains(e.1.as_str())) {
        return Err(Mismatch::Missing {
            hash: missing.1.clone(),
            record: Box::new(missing.0.clone()),
        });
    }
    if let Some(g) = genesis {
        if log.first().map(String::as_str) != Some(g) {
            return Err(Mismatch::Genesis {
                expected: g.to_owned(),
                found: log.first().cloned(),
            });
        }
    }
    Ok(ours.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `n` records as (record, hash).
    fn chain(n: usize, email: &str) -> Vec<(Record, String)> {
        let mut out: Vec<(Record, String)> = Vec::new();
        for i in 0..n {
            let mut r = audit::tests::sample();
            r.user.email = email.into();
            r.time = format!("2026-01-0{}T00:00:00Z", i + 1);
            r.prev = out.last().map(|(_, h)| h.clone());
            let (_, hash) = r.to_line();
            out.push((r, hash));
        }
        out
    }

    fn hashes(c: &[(Record, String)]) -> Vec<String> {
        c.iter().map(|(_, h)| h.clone()).collect()
    }

    #[test]
    fn an_intact_log_matches_its_shared_records() {
        let mine = chain(3, "pat@x");
        let theirs = chain(2, "ada@x");
        let shared: Vec<_> = mine.iter().chain(&theirs).cloned().collect();
        assert_eq!(check(&hashes(&mine), Some(&mine[0].1), &shared, &[]), Ok(3));
    }

    #[test]
    fn a_cut_tail_is_found() {
        let mine = chain(3, "pat@x");
        let log = hashes(&mine[..2]);
        assert!(matches!(
            check(&log, Some(&mine[0].1), &mine, &[]),
            Err(Mismatch::Missing { hash, .. }) if hash == mine[2].1
        ));
    }

    #[test]
    fn a_rechained_rewrite_is_found() {
        let mine = chain(3, "pat@x");
        let mut rewritten = mine[..1].to_vec();
        let mut r = mine[1].0.clone();
        r.justification = Some("nothing to see".into());
        let (_, h) = r.to_line();
        rewritten.push((r, h));
        assert!(matches!(
            check(&hashes(&rewritten), Some(&mine[0].1), &mine, &[]),
            Err(Mismatch::Missing { hash, .. }) if hash == mine[1].1
        ));
    }

    #[test]
    fn a_deleted_log_is_found_through_the_genesis() {
        let mine = chain(2, "pat@x");
        assert!(matches!(
            check(&[], Some(&mine[0].1), &mine, &[]),
            Err(Mismatch::Missing { .. })
        ));
        // Even when nothing was shared.
        assert!(matches!(
            check(&[], Some(&mine[0].1), &[], &[]),
            Err(Mismatch::Genesis { found: None, .. })
        ));
    }

    #[test]
    fn own_records_must_be_in_the_log_whatever_the_genesis_issue_23() {
        let mine = chain(3, "pat@x");
        // The log rewritten from its first line, re-chained, the genesis reset to match.
        let mut r = mine[0].0.clone();
        r.consulted = Some("Nobody".into());
        let (_, forged) = r.to_line();
        let log = vec![forged.clone()];
        assert_eq!(check(&log, Some(&forged), &mine, &[]), Ok(0));
        assert!(matches!(
            check(&log, Some(&forged), &mine, &mine),
            Err(Mismatch::Missing { hash, .. }) if hash == mine[0].1
        ));
        // Log, notes and genesis all gone.
        assert!(matches!(
            check(&[], None, &[], &mine),
            Err(Mismatch::Missing { .. })
        ));
        assert_eq!(check(&hashes(&mine), None, &[], &mine), Ok(3));
    }
}
