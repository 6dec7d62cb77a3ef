//! The `approvals` check's signed side: with signatures required, an approval counts only
//! when its SSH signature verifies against the allowed signers, approvers are counted by
//! verified principal, the pusher's own key or principal never counts, and `Approved-by:`
//! trailers count only in a commit signed by that approver. Without the requirement the
//! check counts as before, and shows the principals whose signatures verify.

use git2::Oid;

use super::{trailers, Found, Gathered, Verify};
use crate::checks::{principals, CheckId, CheckResult, Context};
use crate::notes;
use crate::signing::{
    allowed_signers, approval_payload, fingerprint_of, key_state, verify, verify_pem,
    AllowedSigners, KeyState, Verified, APPROVAL_NAMESPACE, COMMIT_NAMESPACE, SETUP_LINES,
};
use crate::text::escape;

/// Who the pusher is, cryptographically: their signing key's fingerprint and its principals.
pub struct Pusher {
    fingerprint: String,
    principals: Vec<String>,
}

impl Pusher {
    /// Tells whether a verified signature is the pusher's own (same key, or a shared principal).
    pub fn is(&self, v: &Verified) -> bool {
        fingerprint_of(&v.key).is_some_and(|f| f == self.fingerprint)
            || principals(&v.principal).any(|p| self.principals.iter().any(|q| q == p))
    }

    /// The certified pusher of a signed push: the certificate's principal, and every
    /// principal the allowed signers give its key.
    pub fn certified(principal: &str, fingerprint: &str, allowed: &AllowedSigners) -> Pusher {
        let mut all: Vec<String> = principals(principal).map(str::to_owned).collect();
        for field in allowed.principals_of_fingerprint(fingerprint) {
            all.extend(principals(&field).map(str::to_owned));
        }
        Pusher {
            fingerprint: fingerprint.to_owned(),
            principals: all,
        }
    }
}

/// The first principal: the identity approvers are counted by.
pub(crate) fn first_principal(field: &str) -> String {
    principals(field).next().unwrap_or(field).to_owned()
}

fn fail(detail: impl Into<String>) -> CheckResult {
    CheckResult::fail(CheckId::Approvals, detail)
}

pub(crate) fn pusher(ctx: &Context, allowed: &AllowedSigners) -> Result<Pusher, CheckResult> {
    match ctx.pusher {
        crate::checks::Pusher::Configured(_) => {}
        crate::checks::Pusher::Certified {
            principal,
            key,
            account,
        } => {
            let mut pusher = Pusher::certified(principal, key, allowed);
            if let Some(a) = account {
                pusher.principals.extend(a.emails());
            }
            return Ok(pusher);
        }
        _ => {
            return Err(fail(
                "signatures are required, and the server cannot tell the pusher's principal (no signed push), so the pusher's own approvals cannot be told apart",
            )
            .with_hint("push with `git push --signed` (the server needs `receive.certNonceSeed` and `gpg.ssh.allowedSignersFile`)"))
        }
    }
    match key_state(ctx.repo) {
        KeyState::Ready(signer) => Ok(Pusher {
            fingerprint: signer.public.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            principals: allowed
                .principals_of(&signer.public)
                .iter()
                .flat_map(|f| principals(f).map(str::to_owned).collect::<Vec<_>>())
                .collect(),
        }),
        KeyState::None(why) => Err(fail(format!(
            "signatures are required, and you have no SSH signing key ({why}), so your own approvals cannot be told apart"
        ))
        .with_hint(format!("set one up: {}", SETUP_LINES.join("; ")))),
        KeyState::Broken(e) => Err(fail(format!(
            "signatures are required, and your signing key cannot be used: {e:#}"
        ))),
    }
}

/// The commit's SSH signature, verified as `git verify-commit` does with the same allowed
/// signers (namespace `git`, the signed part of the commit object).
pub fn commit_signer(
    repo: &git2::Repository,
    commit: Oid,
    allowed: &AllowedSigners,
) -> Result<Verified, String> {
    let (sig, data) = match repo.extract_signature(&commit, None) {
        Ok(found) => found,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err("the commit is not signed".into())
        }
        Err(e) => return Err(format!("cannot read the commit's signature ({e})")),
    };
    let sig = String::from_utf8_lossy(&sig);
    if !sig
        .trim_start()
        .starts_with("-----BEGIN SSH SIGNATURE-----")
    {
        return Err("the commit is signed, but not with an SSH key".into());
    }
    verify_pem(allowed, COMMIT_NAMESPACE, &data, &sig)
}

/// The approvals with signatures required: the allowed signers and the pusher's key first
/// (fails closed without them), then [`super::gather`] verifying each bound approval.
pub(crate) fn gather(ctx: &Context, new: &str) -> Result<Gathered, CheckResult> {
    let allowed = match allowed_signers(ctx.repo, ctx.config) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Err(fail("signatures are required, and no allowed signers file is configured")
                .with_hint("set `[trust] allowed_signers` in the config, or `git config gpg.ssh.allowedSignersFile <file>`"))
        }
        Err(e) => return Err(fail(format!("{e:#}"))),
    };
    let pusher = pusher(ctx, &allowed)?;
    super::gather(ctx, new, &Verify::Required(&allowed, &pusher))
}

/// The verified principal of a signed approval, or why it does not count: unsigned, a
/// signature that does not verify (forged), or the pusher's own key.
pub(crate) fn verified(
    allowed: &AllowedSigners,
    pusher: &Pusher,
    a: &notes::Approval,
) -> Result<String, String> {
    let Some(sig) = &a.signature else {
        return Err("the approval is not signed".into());
    };
    // The signed fields decide what was approved, not the commit the note hangs on.
    let payload = approval_payload(&a.environment, &a.commit, &a.tree);
    match verify(allowed, APPROVAL_NAMESPACE, &payload, sig) {
        Err(why) => Err(why),
        Ok(v) if pusher.is(&v) => Err(format!(
            "signed by your own key ({}), whatever name the note gives",
            escape(&v.principal, 80)
        )),
        Ok(v) => Ok(v.principal),
    }
}

/// `Approved-by:` trailers with signatures required: they count only in a commit signed by
/// that approver (and never the pusher).
pub(crate) fn signed_trailers(
    git: &git2::Repository,
    commit: Oid,
    message: &str,
    allowed: &AllowedSigners,
    pusher: &Pusher,
    out: &mut Gathered,
) {
    let claimed = trailers(message);
    if claimed.is_empty() {
        return;
    }
    match commit_signer(git, commit, allowed) {
        Err(why) => out.not_counted.push(format!(
            "not counted: {} `Approved-by:` trailer{}: {why}",
            claimed.len(),
            if claimed.len() == 1 { "" } else { "s" }
        )),
        Ok(v) => {
            for t in claimed {
                let by_approver =
                    principals(&v.principal).any(|p| p.eq_ignore_ascii_case(&t.email));
                if !by_approver || pusher.is(&v) {
                    out.not_counted.push(format!(
                        "not counted: trailer `Approved-by: {} <{}>`: the commit is signed by {}, not by that approver",
                        escape(&t.name, 60),
                        escape(&t.email, 80),
                        escape(&v.principal, 80)
                    ));
                    continue;
                }
                out.found.push(Found {
                    email: first_principal(&v.principal),
                    signer: Some(v.principal.clone()),
                    ..t
                });
            }
        }
    }
}
