//! One attestation, not two (issue 11): the server accepts the record the client's pre-push
//! hook wrote as the attestation of a ref update — who was consulted, the checklist, or a
//! bypass with its justification — so the pusher does not repeat it with push options.
//!
//! The client hook shares its record to the remote's `refs/notes/pushguard-audit` from inside
//! the pre-push hook, that is before git sends the branch update (a separate
//! `git push --no-verify` of the notes, which lands first). The server reads it from its own
//! notes on the pushed commit and accepts it only for exactly that update (environment, ref,
//! old and new tip), only when it was made for a push to this server (its `url` is one of the
//! server's addresses, issue 23), and only when it is the pusher's: on a signed push, or for
//! a pusher `[server] users` maps, the record's signer (or, unsigned, the address it names)
//! must be the pusher's. Where the environment requires signatures, only a record whose
//! signature verifies against the server's allowed signers counts; elsewhere an unsigned
//! record counts too, as self-asserted as a push option (issue 22), and the server's record
//! says which it was.

use git2::Oid;

use crate::audit::SERVER_REMOTE as RECORD_REMOTE;
use crate::audit::{self, ChecklistEntry, Record};
use crate::checks::{principals, Pusher};
use crate::config::{Config, Environment};
use crate::gate::Decision;
use crate::git::Repo;
use crate::notes;
use crate::remote_id;
use crate::signing::{self, AllowedSigners, RecordSignature};
use crate::text::escape;

/// The ref update whose attestation is looked for.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub environment: &'a Environment,
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
    /// The freeze windows a bypassed record overrode.
    pub freeze: Option<String>,
    /// The record's line hash.
    pub hash: String,
    /// The verified principal that signed it; `None` for an unsigned record.
    pub signer: Option<String>,
}

/// `pushguard status` in a bare repository: which clients' records this server takes.
pub fn status_line(config: &Config) -> String {
    if config.server.urls.is_empty() {
        "client records: only of pushes over this repository's path (set `[server] urls` in pushguard.toml to the addresses clients push to)".to_owned()
    } else {
        format!(
            "client records: of pushes to this repository's path or {}",
            config.server.urls.join(", ")
        )
    }
}

/// The notes the client hooks shared on `commit`: the one place the server reads them from.
fn client_notes(repo: &Repo, commit: Oid) -> anyhow::Result<Option<String>> {
    notes::audit_notes_on(repo, commit)
}

/// Tells whether a record is the client's record of exactly this update.
fn same_update(record: &Record, update: &Update) -> bool {
    record.remote != RECORD_REMOTE
        && record.environment == update.environment.name
        && record.remote_ref == update.remote_ref
        && record.old.as_deref() == update.old
        && record.new.as_deref() == Some(update.new)
}

/// The addresses the pusher is known by to the server, when it knows any: a signed push's
/// principals (and the account's mapped addresses), or the mapped addresses of the account
/// the server names. `None`: the server cannot tell whose a record is.
fn pusher_addresses(pusher: &Pusher) -> Option<Vec<String>> {
    match pusher {
        Pusher::Certified { .. } | Pusher::Named { .. } => pusher.emails(),
        Pusher::Configured(_) | Pusher::Unknown { .. } => None,
    }
}

/// Tells whether one of `field`'s principals is one of `addresses`.
fn names_one_of(field: &str, addresses: &[String]) -> bool {
    principals(field).any(|p| addresses.iter().any(|a| a.eq_ignore_ascii_case(p)))
}

/// Finds the client's record of `update` in the repository's own audit notes: a signed one
/// that verifies first, else (where signatures are not required) an unsigned one. `Err`
/// lists why each record of that update was not accepted (empty when there is none).
pub fn client_record(
    repo: &Repo,
    config: &Config,
    update: &Update,
    pusher: &Pusher,
) -> Result<ClientRecord, Vec<String>> {
    let Ok(oid) = Oid::from_str(update.new) else {
        return Err(Vec::new());
    };
    let text = match client_notes(repo, oid) {
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
    let required = signing::required(config, update.environment);
    let allowed: Option<AllowedSigners> = match signing::allowed_signers(repo, config) {
        Ok(a) => a,
        Err(e) if required => {
            return Err(vec![format!(
                "the client's record of this push cannot be checked: {e:#}"
            )])
        }
        Err(_) => None,
    };
    if required && allowed.is_none() {
        return Err(vec![
            "the client's record of this push cannot be checked: the server has no allowed signers file (`[trust] allowed_signers` in its pushguard.toml, or `git config gpg.ssh.allowedSignersFile`)".to_owned(),
        ]);
    }
    let addresses = remote_id::server_addresses(repo, config);
    let known = pusher_addresses(pusher);
    let mut refused = Vec::new();
    let mut unsigned = None;
    for (record, hash, line) in candidates {
        let who = escape(&record.user.name, 60);
        let short = &hash[..hash.len().min(12)];
        if record.decision == Decision::Blocked {
            refused.push(format!(
                "the client's record {short} (by {who}) is of a push its hook blocked"
            ));
            continue;
        }
        if !remote_id::bound_to(&record.url, &addresses) {
            refused.push(format!(
                "the client's record {short} (by {who}) was made for a push to {}, not to this server{}",
                escape(&record.url, 120),
                if config.server.urls.is_empty() {
                    " (this server knows no address but its own path: set `[server] urls` in its pushguard.toml to the addresses clients push to)"
                } else {
                    " (`[server] urls`)"
                }
            ));
            continue;
        }
        let why_unsigned =
            match signing::record_signature(line.as_bytes(), &record, allowed.as_ref()) {
                RecordSignature::Verified(v) => {
                    let mine = match (pusher, &known) {
                        (Pusher::Certified { principal, key, .. }, Some(addresses)) => {
                            let certified = crate::checks::approvals::signed::Pusher::certified(
                                principal,
                                key,
                                allowed
                                    .as_ref()
                                    .expect("a verified record had allowed signers"),
                            );
                            certified.is(&v) || names_one_of(&v.principal, addresses)
                        }
                        (_, Some(addresses)) => names_one_of(&v.principal, addresses),
                        (_, None) => true,
                    };
                    if !mine {
                        let pusher = match pusher {
                            Pusher::Certified { principal, .. } => {
                                format!("the signer of this push ({})", escape(principal, 80))
                            }
                            _ => format!(
                                "the pusher ({})",
                                escape(&known.as_deref().unwrap_or_default().join(", "), 120)
                            ),
                        };
                        refused.push(format!(
                            "the client's record {short} is signed by {}, not by {pusher}",
                            escape(&v.principal, 80),
                        ));
                        continue;
                    }
                    return Ok(accepted(record, hash, Some(v.principal)));
                }
                RecordSignature::Unsigned => "is not signed".to_owned(),
                RecordSignature::Invalid(why) => format!("proves nothing: {why}"),
                RecordSignature::Unchecked => {
                    "cannot be checked: the server has no allowed signers file".to_owned()
                }
            };
        if required {
            refused.push(format!(
                "the client's record {short} (by {who}) {why_unsigned} ({} requires signatures)",
                update.environment.name
            ));
            continue;
        }
        if let Some(addresses) = &known {
            if !addresses
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&record.user.email))
            {
                refused.push(format!(
                    "the client's record {short} (unsigned) names {}, not the pusher ({})",
                    escape(&record.user.email, 80),
                    escape(&addresses.join(", "), 120)
                ));
                continue;
            }
        }
        if unsigned.is_none() {
            unsigned = Some(accepted(record, hash, None));
        }
    }
    unsigned.ok_or(refused)
}

fn accepted(record: Record, hash: String, signer: Option<String>) -> ClientRecord {
    ClientRecord {
        consulted: record.consulted,
        checklist: record.checklist,
        justification: (record.decision == Decision::Bypassed)
            .then_some(record.justification)
            .flatten(),
        freeze: (record.decision == Decision::Bypassed)
            .then_some(record.freeze)
            .flatten(),
        hash,
        signer,
    }
}
