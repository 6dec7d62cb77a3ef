//! One attestation, not two (issue 11): the server accepts the signed record the client's
//! pre-push hook wrote as the attestation of a ref update — who was consulted, the checklist,
//! or a bypass with its justification — so the pusher does not repeat it with push options.
//!
//! The client hook shares its record to the remote's `refs/notes/pushguard-audit` from inside
//! the pre-push hook, that is before git sends the branch update (a separate
//! `git push --no-verify` of the notes, which lands first). The server reads it from its own
//! notes on the pushed commit and accepts it only for exactly that update (environment, ref,
//! old and new tip), only when its signature verifies against the server's allowed signers,
//! and, when the push is signed, only when the record's signer is the pusher.

use git2::Oid;

use crate::audit::SERVER_REMOTE as RECORD_REMOTE;
use crate::audit::{self, ChecklistEntry, Record};
use crate::checks::Pusher;
use crate::config::Config;
use crate::gate::Decision;
use crate::git::Repo;
use crate::notes;
use crate::signing::{self, RecordSignature};
use crate::text::escape;

/// The ref update whose attestation is looked for.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub environment: &'a str,
    pub remote_ref: &'a str,
    pub old: Option<&'a str>,
    pub new: &'a str,
}

/// A client's record accepted as the attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub consulted: Option<String>,
    pub checklist: Vec<ChecklistEntry>,
    /// The justification of a bypassed record.
    pub justification: Option<String>,
    /// The record's line hash.
    pub hash: String,
    /// The verified principal that signed it.
    pub signer: String,
}

/// Tells whether a record is the client's record of exactly this update.
fn same_update(record: &Record, update: &Update) -> bool {
    record.remote != RECORD_REMOTE
        && record.environment == update.environment
        && record.remote_ref == update.remote_ref
        && record.old.as_deref() == update.old
        && record.new.as_deref() == Some(update.new)
}

/// Finds the client's signed record of `update` in the repository's own audit notes.
/// `Err` lists why each record of that update was not accepted (empty when there is none).
pub fn client_record(
    repo: &Repo,
    config: &Config,
    update: &Update,
    pusher: &Pusher,
) -> Result<ClientRecord, Vec<String>> {
    let Ok(oid) = Oid::from_str(update.new) else {
        return Err(Vec::new());
    };
    let text = match notes::audit_notes_on(repo, oid) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(Vec::new()),
        Err(e) => return Err(vec![format!("cannot read the audit notes: {e:#}")]),
    };
    let candidates: Vec<(Record, String, &str)> = text
        .lines()
        .filter_map(|line| {
            audit::parse_line(line.as_bytes())
                .ok()
                .map(|(r, hash)| (r, hash, line))
        })
        .filter(|(r, _, _)| same_update(r, update))
        .collect();
    if candidates.is_empty() {
        return Err(Vec::new());
    }
    let allowed = match signing::allowed_signers(repo, config) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(vec![
            "the client's record of this push cannot be checked: the server has no allowed signers file (`[trust] allowed_signers` in its pushguard.toml, or `git config gpg.ssh.allowedSignersFile`)".to_owned(),
        ]),
        Err(e) => {
            return Err(vec![format!(
                "the client's record of this push cannot be checked: {e:#}"
            )])
        }
    };
    let certified = match pusher {
        Pusher::Certified { principal, key } => Some((
            principal,
            crate::checks::approvals::signed::Pusher::certified(principal, key, &allowed),
        )),
        _ => None,
    };
    let mut refused = Vec::new();
    for (record, hash, line) in candidates {
        let who = escape(&record.user.name, 60);
        let short = &hash[..hash.len().min(12)];
        if record.decision == Decision::Blocked {
            refused.push(format!(
                "the client's record {short} (by {who}) is of a push its hook blocked"
            ));
            continue;
        }
        let verified = match signing::record_signature(line.as_bytes(), &record, Some(&allowed)) {
            RecordSignature::Verified(v) => v,
            RecordSignature::Unsigned => {
                refused.push(format!(
                    "the client's record {short} (by {who}) is not signed"
                ));
                continue;
            }
            RecordSignature::Invalid(why) => {
                refused.push(format!(
                    "the client's record {short} (by {who}) proves nothing: {why}"
                ));
                continue;
            }
            // Not with an allowed signers file at hand.
            RecordSignature::Unchecked => continue,
        };
        if let Some((principal, pusher)) = &certified {
            if !pusher.is(&verified) {
                refused.push(format!(
                    "the client's record {short} is signed by {}, not by the signer of this push ({})",
                    escape(&verified.principal, 80),
                    escape(principal, 80)
                ));
                continue;
            }
        }
        return Ok(ClientRecord {
            consulted: record.consulted,
            checklist: record.checklist,
            justification: (record.decision == Decision::Bypassed)
                .then_some(record.justification)
                .flatten(),
            hash,
            signer: verified.principal,
        });
    }
    Err(refused)
}
