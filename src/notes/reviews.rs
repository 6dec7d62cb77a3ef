//! Reviews of bypassed pushes (issue 17): who looked at a bypass afterwards, stored in the
//! approvals notes ref beside the approvals but as a note kind of their own.
//!
//! An approvals note is a JSON array. An approval is an object with `name`, `email`,
//! `environment`, `commit` and `tree` at its top level; a review is an object with a single
//! key, `review`, holding the review: no reader of approvals can take one for the other.
//! Merging a note keeps every entry it does not know as it is ([`super::merge_approval_notes`]).
//! A review sits on the commit its bypassed record is attached to (the pushed tip, or the
//! deleted one) and names that record by its line hash.

use anyhow::{Context as _, Result};
use git2::Oid;
use serde::{Deserialize, Serialize};

use super::{read_note, write_note, APPROVALS};
use crate::audit::Record;
use crate::git::Repo;

/// The SSH signature namespace of a review.
pub const NAMESPACE: &str = "pushguard-review";

/// A review of one bypassed push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// The reviewed record's line hash.
    pub record: String,
    pub environment: String,
    /// The commit the note is on: the record's pushed (or deleted) tip.
    pub commit: String,
    /// The reviewer, as their git identity names them (proven only by `signature`).
    pub name: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// What the reviewer says about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// SSH signature (namespace [`NAMESPACE`]) of [`Review::payload`]; absent when the
    /// reviewer has no signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A review as it sits in the JSON array of an approvals note.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    review: Review,
}

impl Review {
    /// The bytes a review's signature covers: everything it says but the signature.
    pub fn payload(&self) -> Vec<u8> {
        format!(
            "pushguard review\nrecord {}\nenvironment {}\ncommit {}\nemail {}\ntime {}\nnote {}\n",
            self.record,
            self.environment,
            self.commit,
            self.email,
            self.time,
            self.note.as_deref().unwrap_or("").replace('\n', " ")
        )
        .into_bytes()
    }
}

/// The commit a record's note (and so its reviews) is attached to.
pub fn record_commit(record: &Record) -> Option<Oid> {
    record
        .new
        .as_deref()
        .or(record.old.as_deref())
        .and_then(|hex| Oid::from_str(hex).ok())
}

/// The reviews in an approvals note; other entries (approvals) are left alone.
pub fn parse(text: &str) -> Vec<Review> {
    super::parse_entries::<Entry>(text)
        .into_iter()
        .map(|e| e.review)
        .collect()
}

/// Records a review on its commit, merged with what the note holds. `false` when the same
/// review (same reviewer, record and signature) is there already.
pub fn add(repo: &Repo, review: &Review) -> Result<bool> {
    let oid = Oid::from_str(&review.commit)
        .with_context(|| format!("invalid commit `{}`", review.commit))?;
    let existing = super::note_to_extend(repo, &APPROVALS, oid, "approvals")?;
    if parse(&existing).iter().any(|r| {
        r.record == review.record
            && r.email.eq_ignore_ascii_case(&review.email)
            && r.signature == review.signature
    }) {
        return Ok(false);
    }
    let entry = serde_json::to_string(&Entry {
        review: review.clone(),
    })
    .expect("a review always serializes");
    let merged = super::merge_approval_notes(&existing, &format!("[\n{entry}\n]\n"));
    write_note(repo, &APPROVALS.full(), oid, &merged)?;
    Ok(true)
}

/// The reviews of one bypassed record (`hash` is its line hash), from the local approvals
/// notes (fetched from the remote first by the caller): one note read.
pub fn of_record(repo: &Repo, record: &Record, hash: &str) -> Result<Vec<Review>> {
    let Some(oid) = record_commit(record) else {
        return Ok(Vec::new());
    };
    let text = read_note(repo, &APPROVALS.full(), oid)?.unwrap_or_default();
    Ok(parse(&text)
        .into_iter()
        .filter(|r| r.record.eq_ignore_ascii_case(hash) && r.environment == record.environment)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::{parse_approvals, Approval};

    fn review() -> Review {
        Review {
            record: "ab".repeat(32),
            environment: "production".into(),
            commit: "cd".repeat(20),
            name: "Ada Lead".into(),
            email: "ada@example.com".into(),
            time: "2026-01-02T00:00:00Z".into(),
            note: Some("looked at the hotfix".into()),
            signature: None,
        }
    }

    #[test]
    fn regression_issue_17_reviews_and_approvals_never_read_as_each_other_and_survive_a_merge() {
        let approval = Approval {
            name: "Ada Lead".into(),
            email: "ada@example.com".into(),
            time: "2026-01-01T00:00:00Z".into(),
            environment: "production".into(),
            commit: "cd".repeat(20),
            tree: "ef".repeat(20),
            signature: None,
        };
        let approvals = format!("[\n{}\n]\n", serde_json::to_string(&approval).unwrap());
        let reviews = format!(
            "[\n{}\n]\n",
            serde_json::to_string(&Entry { review: review() }).unwrap()
        );
        let merged = crate::notes::merge_approval_notes(&approvals, &reviews);
        assert_eq!(parse_approvals(&merged), std::slice::from_ref(&approval));
        assert_eq!(parse(&merged), [review()]);
        // Merged again, from either side, nothing is lost or doubled.
        let again = crate::notes::merge_approval_notes(&reviews, &merged);
        assert_eq!(parse_approvals(&again), [approval]);
        assert_eq!(parse(&again), [review()]);
        assert!(parse(&approvals).is_empty());
    }
}
