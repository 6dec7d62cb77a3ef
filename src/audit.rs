//! The audit log's record format: one JSON object per line, hash-chained.
//!
//! A line is `B,"hash":"<hex>"}` where `<hex>` is the lowercase SHA-256 of `B}`, the compact
//! JSON of every other field (`prev`, the previous line's hash, included). Anyone can verify
//! a line with a few lines of any language: cut the last 76 bytes, append `}`, hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checks::Outcome;
use crate::gate::Decision;
use crate::git::Identity;

/// The record format version.
pub const VERSION: u32 = 1;

/// One check's result as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEntry {
    pub id: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// One checklist answer as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistEntry {
    pub item: String,
    pub answer: bool,
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
    /// The previous line's hash; `null` for the first line.
    pub prev: Option<String>,
}

/// The length of the `,"hash":"<64 hex>"}` suffix of a line.
const HASH_SUFFIX_LEN: usize = r#","hash":""}"#.len() + 64;

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl Record {
    /// Serializes the record as one log line (no newline), computing its hash.
    pub fn to_line(&self) -> (String, String) {
        let body = serde_json::to_string(self).expect("a record always serializes");
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

/// Verifies one line's own hash and parses it; returns the record and its hash.
pub fn parse_line(line: &[u8]) -> Result<(Record, String), LineError> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return Err(LineError::NoHash);
    }
    let (body, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    let hex = suffix
        .strip_prefix(br#","hash":""#)
        .and_then(|s| s.strip_suffix(br#""}"#))
        .filter(|h| {
            h.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        })
        .ok_or(LineError::NoHash)?;
    let found = String::from_utf8_lossy(hex).into_owned();
    let mut whole = body.to_vec();
    whole.push(b'}');
    let expected = sha256_hex(&whole);
    if expected != found {
        return Err(LineError::HashMismatch { expected, found });
    }
    let record: Record =
        serde_json::from_slice(&whole).map_err(|e| LineError::NotARecord(e.to_string()))?;
    Ok((record, found))
}

#[cfg(test)]
mod tests {
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
            prev: None,
        }
    }

    #[test]
    fn line_is_body_plus_hash_of_body() {
        let (line, hash) = sample().to_line();
        assert!(line.starts_with(r#"{"version":1,"time":"2026-11-26T12:00:00Z","user":{"name":"Pat","email":"pat@example.com"},"#));
        assert!(line.ends_with(&format!(r#","prev":null,"hash":"{hash}"}}"#)));
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
}
