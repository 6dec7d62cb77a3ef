//! Waivers, stored as git notes on `refs/notes/pushguard-waivers`: a named, recorded way
//! through one check (`no-wip`) for one commit and one environment, attached to that commit
//! as a JSON array (one entry per person, check and environment), merged like approvals.
//!
//! A waiver is for a commit that can no longer be rewritten (it is already on the environment
//! the push promotes from): without it, every later promotion would fail on that commit, and
//! the team would learn to bypass instead (issue 22, item 4).

use anyhow::{Context as _, Result};
use git2::Oid;
use serde::{Deserialize, Serialize};

use super::{all_notes, write_note, NotesRef};
use crate::git::Repo;

/// The notes ref holding waivers.
pub const WAIVERS: NotesRef = NotesRef("pushguard-waivers");

/// One waiver, as stored in the JSON array of a waivers note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    pub name: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// The check waived (`no-wip`).
    pub check: String,
    pub environment: String,
    pub commit: String,
    /// Why the commit may go through as it is.
    pub reason: String,
    /// SSH signature (namespace `pushguard-waiver`) of the check, environment, commit and
    /// reason ([`crate::signing::waiver_payload`]); absent when the author has no signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Waiver {
    /// The same person waiving the same check of the same commit for the same environment.
    fn same_as(&self, other: &Waiver) -> bool {
        self.email.eq_ignore_ascii_case(&other.email)
            && self.check == other.check
            && self.environment == other.environment
            && self.commit == other.commit
            && self.signature == other.signature
    }
}

/// Parses a waivers note; unreadable entries are dropped rather than failing the check.
pub fn parse_waivers(text: &str) -> Vec<Waiver> {
    super::parse_entries(text)
}

/// The union of two waivers notes: each person's waiver once (the earliest), ordered by time.
pub fn merge_waiver_notes(ours: &str, theirs: &str) -> String {
    let mut all = parse_waivers(ours);
    all.extend(parse_waivers(theirs));
    all.sort_by(|a, b| a.time.cmp(&b.time).then(a.email.cmp(&b.email)));
    let mut out: Vec<Waiver> = Vec::new();
    for w in all {
        if !out.iter().any(|o| o.same_as(&w)) {
            out.push(w);
        }
    }
    crate::notes::render_entries(&out)
}

/// Records a waiver on its commit, merged with the waivers already there. Returns `false`
/// when that person had already waived that check of that commit for that environment.
pub fn add_waiver(repo: &Repo, waiver: &Waiver) -> Result<bool> {
    let oid = Oid::from_str(&waiver.commit)
        .with_context(|| format!("invalid commit `{}`", waiver.commit))?;
    let existing = super::note_to_extend(repo, &WAIVERS, oid, "waivers")?;
    if parse_waivers(&existing).iter().any(|w| w.same_as(waiver)) {
        return Ok(false);
    }
    let merged = merge_waiver_notes(
        &existing,
        &crate::notes::render_entries(std::slice::from_ref(waiver)),
    );
    write_note(repo, &WAIVERS.full(), oid, &merged)?;
    Ok(true)
}

/// Every waiver of `check` for `environment` in the local notes, by the commit it waives.
/// A waiver counts only on the commit it names (a note copied onto another commit does not).
pub fn waivers_for(repo: &Repo, check: &str, environment: &str) -> Result<Vec<(Oid, Waiver)>> {
    let mut out = Vec::new();
    for (annotated, text) in all_notes(repo, &WAIVERS.full())? {
        for w in parse_waivers(&text) {
            if w.check == check
                && w.environment == environment
                && Oid::from_str(&w.commit).ok() == Some(annotated)
            {
                out.push((annotated, w));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiver(email: &str, time: &str) -> Waiver {
        Waiver {
            name: "N".into(),
            email: email.into(),
            time: time.into(),
            check: "no-wip".into(),
            environment: "staging".into(),
            commit: "a".repeat(40),
            reason: "already on development".into(),
            signature: None,
        }
    }

    #[test]
    fn merging_keeps_each_persons_waiver_once() {
        let ours =
            crate::notes::render_entries(&[waiver("ada@example.com", "2026-01-02T00:00:00Z")]);
        let theirs = crate::notes::render_entries(&[
            waiver("ADA@example.com", "2026-01-01T00:00:00Z"),
            waiver("bo@example.com", "2026-01-03T00:00:00Z"),
        ]);
        let merged = parse_waivers(&merge_waiver_notes(&ours, &theirs));
        let who: Vec<(&str, &str)> = merged
            .iter()
            .map(|w| (w.email.as_str(), w.time.as_str()))
            .collect();
        assert_eq!(
            who,
            [
                ("ADA@example.com", "2026-01-01T00:00:00Z"),
                ("bo@example.com", "2026-01-03T00:00:00Z")
            ]
        );
        assert!(parse_waivers("not json").is_empty());
    }
}
