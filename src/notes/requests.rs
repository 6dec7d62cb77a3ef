//! Requests for approval (issue 18): who asked whom to approve which commit for which
//! environment, stored in the approvals notes ref as a note kind of their own.
//!
//! An approvals note is a JSON array. An approval is an object with `name`, `email`,
//! `environment`, `commit` and `tree` at its top level, a review one with the single key
//! `review`; a request is an object with the single key `request`: no reader of approvals or
//! reviews takes it for one of theirs, and it grants nothing (it only says what is waiting).
//! Merging a note keeps every entry it does not know as it is ([`super::merge_approval_notes`]).

use anyhow::{Context as _, Result};
use git2::Oid;
use serde::{Deserialize, Serialize};

use super::{all_notes, write_note, APPROVALS};
use crate::git::Repo;

/// A pending request for approval of one commit for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Who asks, as their git identity names them.
    pub name: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub environment: String,
    pub commit: String,
    pub tree: String,
    /// The rules unmet when it was asked (`qa: 0 of 1 — ask one of qa-*`).
    pub unmet: Vec<String>,
}

/// A request as it sits in the JSON array of an approvals note.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    request: Request,
}

/// The requests in an approvals note; other entries are left alone.
pub fn parse(text: &str) -> Vec<Request> {
    super::parse_entries::<Entry>(text)
        .into_iter()
        .map(|e| e.request)
        .collect()
}

/// Records a request on its commit, merged with what the note holds. `false` when the same
/// person had already asked for the same commit and environment, with the same rules unmet.
pub fn add(repo: &Repo, request: &Request) -> Result<bool> {
    let oid = Oid::from_str(&request.commit)
        .with_context(|| format!("invalid commit `{}`", request.commit))?;
    let existing = super::note_to_extend(repo, &APPROVALS, oid, "approvals")?;
    if parse(&existing).iter().any(|r| {
        r.email.eq_ignore_ascii_case(&request.email)
            && r.environment == request.environment
            && r.unmet == request.unmet
    }) {
        return Ok(false);
    }
    let entry = serde_json::to_string(&Entry {
        request: request.clone(),
    })
    .expect("a request always serializes");
    let merged = super::merge_approval_notes(&existing, &format!("[\n{entry}\n]\n"));
    write_note(repo, &APPROVALS.full(), oid, &merged)?;
    Ok(true)
}

/// Every request in the local approvals notes (fetched from the remote first by the caller),
/// oldest first.
pub fn all(repo: &Repo) -> Result<Vec<Request>> {
    let mut out: Vec<Request> = Vec::new();
    for (_, text) in all_notes(repo, &APPROVALS.full())? {
        out.extend(parse(&text));
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::{parse_approvals, reviews, Approval};

    #[test]
    fn regression_issue_18_requests_never_read_as_approvals_or_reviews_and_survive_a_merge() {
        let request = Request {
            name: "Pat Pusher".into(),
            email: "pat@example.com".into(),
            time: "2026-01-02T00:00:00Z".into(),
            environment: "production".into(),
            commit: "cd".repeat(20),
            tree: "ef".repeat(20),
            unmet: vec!["qa: 0 of 1 — ask one of qa-*".into()],
        };
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
        let requests = format!(
            "[\n{}\n]\n",
            serde_json::to_string(&Entry {
                request: request.clone()
            })
            .unwrap()
        );
        let merged = crate::notes::merge_approval_notes(&approvals, &requests);
        assert_eq!(parse_approvals(&merged), std::slice::from_ref(&approval));
        assert_eq!(parse(&merged), std::slice::from_ref(&request));
        assert!(reviews::parse(&merged).is_empty());
        assert!(parse_approvals(&requests).is_empty());
        let again = crate::notes::merge_approval_notes(&requests, &merged);
        assert_eq!(parse_approvals(&again), [approval]);
        assert_eq!(parse(&again), [request]);
    }
}
