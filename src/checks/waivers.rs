//! Which waivers (`pushguard waive`, [`crate::notes::waivers`]) count for a check of a push:
//! those of that check, for this environment, on the commit they name. Without signatures
//! required, every such waiver counts (it names its author, as an approval does). With
//! signatures required, only a waiver whose SSH signature verifies against the allowed
//! signers and that someone other than the pusher signed counts: the pusher cannot waive
//! their own push's check.

use std::collections::HashMap;

use git2::Oid;

use super::approvals::{fetch_team_notes, signed, NotesFetch};
use super::{CheckId, Context};
use crate::notes::{self, Waiver};
use crate::signing::{self, allowed_signers, verify, waiver_payload, WAIVER_NAMESPACE};
use crate::text::escape;

/// A waiver that counts, as the report and the record show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// `Name <email>`, with the verified principal when the signature verifies.
    pub by: String,
    pub reason: String,
}

/// The waivers of one check for one push: which commits they cover, and why others did not
/// count.
#[derive(Debug, Default)]
pub struct Waivers {
    counted: HashMap<Oid, Counted>,
    /// `not counted: …` lines.
    pub refused: Vec<String>,
    /// Set when the remote's waivers could not be fetched (local notes were used).
    pub fetch_failed: Option<String>,
}

impl Waivers {
    /// The waiver that covers `commit`, if one counts.
    pub fn of(&self, commit: Oid) -> Option<&Counted> {
        self.counted.get(&commit)
    }

    /// Reads the waivers of `check` for the push's environment (fetching the team's first,
    /// as `[team].fetch_notes` says).
    pub fn load(ctx: &Context, check: CheckId) -> Waivers {
        let mut out = Waivers::default();
        match fetch_team_notes(ctx, notes::WAIVERS) {
            NotesFetch::Failed(why) => out.fetch_failed = Some(why),
            NotesFetch::Fetched | NotesFetch::NotAttempted => {}
        }
        let env = &ctx.environment.name;
        let found = match notes::waivers::waivers_for(ctx.repo, check.as_str(), env) {
            Ok(f) => f,
            Err(e) => {
                out.refused
                    .push(format!("not counted: the waivers cannot be read: {e:#}"));
                return out;
            }
        };
        if found.is_empty() {
            return out;
        }
        let allowed = allowed_signers(ctx.repo, ctx.config).ok().flatten();
        let required = signing::required(ctx.config, ctx.environment);
        let pusher = match (&allowed, required) {
            (Some(allowed), true) => match signed::pusher(ctx, allowed) {
                Ok(p) => Some(p),
                Err(why) => {
                    out.refused.push(format!(
                        "not counted: any waiver, since your own cannot be told apart: {}",
                        why.detail
                    ));
                    return out;
                }
            },
            _ => None,
        };
        for (commit, w) in found {
            let who = format!("{} <{}>", escape(&w.name, 60), escape(&w.email, 80));
            let short = crate::text::short(&w.commit).to_owned();
            let verified = match (&allowed, &w.signature) {
                (Some(allowed), Some(sig)) => {
                    Some(verify(allowed, WAIVER_NAMESPACE, &payload(&w), sig))
                }
                _ => None,
            };
            let counted = match (required, verified) {
                (false, Some(Ok(v))) => {
                    Some(format!("{who} (signed: {})", escape(&v.principal, 80)))
                }
                (false, _) => Some(who.clone()),
                (true, None) if allowed.is_none() => {
                    out.refused.push(format!(
                        "not counted: the waiver of {short} by {who}: signatures are required, and no allowed signers file is configured"
                    ));
                    None
                }
                (true, None) => {
                    out.refused.push(format!(
                        "not counted: the waiver of {short} by {who}: it is not signed"
                    ));
                    None
                }
                (true, Some(Err(why))) => {
                    out.refused.push(format!(
                        "not counted: the waiver of {short} by {who}: {why}"
                    ));
                    None
                }
                (true, Some(Ok(v))) if pusher.as_ref().is_some_and(|p| p.is(&v)) => {
                    out.refused.push(format!(
                        "not counted: the waiver of {short} by {who}: signed by your own key ({}); with signatures required a waiver must come from someone else",
                        escape(&v.principal, 80)
                    ));
                    None
                }
                (true, Some(Ok(v))) => {
                    Some(format!("{who} (signed: {})", escape(&v.principal, 80)))
                }
            };
            if let Some(by) = counted {
                out.counted.entry(commit).or_insert(Counted {
                    by,
                    reason: w.reason.clone(),
                });
            }
        }
        out
    }
}

fn payload(w: &Waiver) -> Vec<u8> {
    waiver_payload(&w.check, &w.environment, &w.commit, &w.reason)
}
