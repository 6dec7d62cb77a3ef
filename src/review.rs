//! Whether a bypassed push was reviewed (issue 17): the rule `pushguard review` and
//! `pushguard audit` share. Pure: the caller reads the reviews and checks their signatures.
//!
//! A review counts when it was made by someone other than the bypasser — compared by every
//! identity either side is known by (the record's `user.email` and verified signer, the
//! review's email and verified signer) — and, where the policy requires signatures, only when
//! its signature verifies. A bypass is due for review `review_within` after it was recorded
//! (at once when that is not set).

use std::time::{Duration, SystemTime};

use crate::notes::reviews::Review;

/// Who bypassed: every identity the record is known by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bypasser {
    /// `user.email`, and the verified principal(s) of the record's signature.
    pub ids: Vec<String>,
}

/// One review, with what its signature proves.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    pub review: &'a Review,
    /// The verified principal(s) of its signature; `Err` says why there is none.
    pub signer: Result<String, String>,
}

/// Why a review does not count, if it does not.
pub fn refusal(
    checked: &Checked,
    bypasser: &Bypasser,
    signatures_required: bool,
) -> Option<String> {
    let mut ids: Vec<&str> = vec![checked.review.email.as_str()];
    if let Ok(principal) = &checked.signer {
        ids.extend(principal.split(',').map(str::trim));
    }
    if signatures_required {
        match &checked.signer {
            Ok(principal) => ids = principal.split(',').map(str::trim).collect(),
            Err(why) => {
                return Some(format!(
                    "its signature proves nothing ({why}), and signatures are required"
                ))
            }
        }
    }
    let same = ids.iter().filter(|id| !id.is_empty()).any(|id| {
        bypasser
            .ids
            .iter()
            .any(|b| !b.is_empty() && b.eq_ignore_ascii_case(id))
    });
    same.then(|| "it is the bypasser's own: a review must come from someone else".to_owned())
}

/// How a bypass stands with its reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Reviewed by someone else: who (as shown) and when.
    Reviewed { by: String, at: String },
    /// Not reviewed yet, due at this time.
    Due(SystemTime),
    /// Not reviewed, and past due since this time.
    Overdue(SystemTime),
}

/// The status of a bypass recorded at `recorded`, given its reviews that count (the first
/// one decides), `within` (the policy's `review_within`) and `now`. Pure.
pub fn status(
    recorded: SystemTime,
    within: Option<Duration>,
    counting: &[&Review],
    now: SystemTime,
) -> Status {
    if let Some(first) = counting.iter().min_by(|a, b| a.time.cmp(&b.time)) {
        return Status::Reviewed {
            by: format!("{} <{}>", first.name, first.email),
            at: first.time.clone(),
        };
    }
    let due = recorded + within.unwrap_or_default();
    if now >= due {
        Status::Overdue(due)
    } else {
        Status::Due(due)
    }
}

/// The reviews of one bypassed record (`hash`: its line hash), read from the local approvals
/// notes, each with its signature checked against `allowed` and judged: those that count,
/// and those that do not with why.
pub fn judged(
    repo: &crate::git::Repo,
    record: &crate::audit::Record,
    hash: &str,
    allowed: Option<&crate::signing::AllowedSigners>,
    signatures_required: bool,
) -> anyhow::Result<Judged> {
    let reviews = crate::notes::reviews::of_record(repo, record, hash)?;
    let bypasser = bypasser(record, allowed);
    let mut counting = Vec::new();
    let mut not = Vec::new();
    for r in reviews {
        let checked = Checked {
            review: &r,
            signer: signer(&r, allowed),
        };
        match refusal(&checked, &bypasser, signatures_required) {
            None => counting.push(r),
            Some(why) => not.push((r, why)),
        }
    }
    Ok(Judged { counting, not })
}

/// A bypass record's reviews, judged.
#[derive(Debug, Clone, Default)]
pub struct Judged {
    /// The reviews that count (by someone else; signed where signatures are required).
    pub counting: Vec<Review>,
    /// The reviews that do not count, with why.
    pub not: Vec<(Review, String)>,
}

/// Every identity the bypass record is known by: its `user.email` and its verified signer.
pub fn bypasser(
    record: &crate::audit::Record,
    allowed: Option<&crate::signing::AllowedSigners>,
) -> Bypasser {
    let mut ids = vec![record.user.email.clone()];
    let (line, _) = record.to_line();
    if let crate::signing::RecordSignature::Verified(v) =
        crate::signing::record_signature(line.as_bytes(), record, allowed)
    {
        ids.extend(v.principal.split(',').map(|p| p.trim().to_owned()));
    }
    Bypasser { ids }
}

/// What a review's signature proves: its verified principal, or why it proves nothing.
pub fn signer(
    review: &Review,
    allowed: Option<&crate::signing::AllowedSigners>,
) -> Result<String, String> {
    let Some(sig) = &review.signature else {
        return Err("not signed".into());
    };
    let Some(allowed) = allowed else {
        return Err("no allowed signers file to check it against".into());
    };
    crate::signing::verify(
        allowed,
        crate::notes::reviews::NAMESPACE,
        &review.payload(),
        sig,
    )
    .map(|v| v.principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(email: &str) -> Review {
        Review {
            record: "ab".repeat(32),
            environment: "production".into(),
            commit: "cd".repeat(20),
            name: "Someone".into(),
            email: email.into(),
            time: "2026-01-02T00:00:00Z".into(),
            note: None,
            signature: None,
        }
    }

    #[test]
    fn regression_issue_17_a_self_review_does_not_count() {
        let pat = Bypasser {
            ids: vec!["pat@example.com".into()],
        };
        let own = review("PAT@example.com");
        let c = Checked {
            review: &own,
            signer: Err("not signed".into()),
        };
        assert!(refusal(&c, &pat, false).is_some());
        let ada = review("ada@example.com");
        let c = Checked {
            review: &ada,
            signer: Err("not signed".into()),
        };
        assert_eq!(refusal(&c, &pat, false), None);
        assert!(refusal(&c, &pat, true)
            .unwrap()
            .contains("signatures are required"));
        // Signed with the bypasser's key under another name: still the bypasser's.
        let signed_by_pat = Checked {
            review: &ada,
            signer: Ok("pat@example.com".into()),
        };
        assert!(refusal(&signed_by_pat, &pat, true).is_some());
        assert!(refusal(&signed_by_pat, &pat, false).is_some());
        let signed_by_ada = Checked {
            review: &ada,
            signer: Ok("ada@example.com".into()),
        };
        assert_eq!(refusal(&signed_by_ada, &pat, true), None);
    }

    #[test]
    fn regression_issue_17_a_bypass_is_due_review_within_after_it_was_recorded() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let day = Duration::from_secs(86_400);
        assert_eq!(
            status(t0, Some(2 * day), &[], t0 + day),
            Status::Due(t0 + 2 * day)
        );
        assert_eq!(
            status(t0, Some(2 * day), &[], t0 + 3 * day),
            Status::Overdue(t0 + 2 * day)
        );
        assert_eq!(status(t0, None, &[], t0), Status::Overdue(t0));
        let r = review("ada@example.com");
        assert!(matches!(
            status(t0, None, &[&r], t0 + 9 * day),
            Status::Reviewed { .. }
        ));
    }
}
