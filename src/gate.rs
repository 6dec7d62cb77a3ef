//! The gate: from an environment's check results and the answers given, to a decision.
//!
//! No I/O of its own. Running the checks, prompting and printing happen around it
//! (in `hook.rs` and `commands/check.rs`), so the decision rules are tested in microseconds.

use serde::{Deserialize, Serialize};

use crate::checks::{self, CheckId, CheckResult, Context, Mode, Outcome};

/// What happened to one gated ref update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allowed,
    Blocked,
    Bypassed,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Allowed => "allowed",
            Decision::Blocked => "blocked",
            Decision::Bypassed => "bypassed",
        })
    }
}

/// The result of an environment's checks on one ref update.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub results: Vec<CheckResult>,
}

impl Verdict {
    /// Tells whether every check passed or was skipped.
    pub fn passed(&self) -> bool {
        self.failed().next().is_none()
    }

    /// The failed checks.
    pub fn failed(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Fail)
    }
}

/// Runs the environment's checks in order (cheapest first) and collects their results.
///
/// Every check runs even after one fails, so the report lists everything to fix at once;
/// only the tests are skipped after a cheaper failure, as they are slow and the push is
/// refused anyway.
pub fn evaluate(ctx: &Context) -> Verdict {
    let mut results: Vec<CheckResult> = Vec::new();
    for &id in &ctx.environment.checks {
        let failed_so_far = results.iter().any(|r| r.outcome == Outcome::Fail);
        // On the server the tests never run: `checks::run` says why, not this.
        if id == CheckId::Tests && failed_so_far && ctx.mode != Mode::Server {
            results.push(CheckResult::skip(
                id,
                "not run: an earlier check failed (run `pushguard check` after fixing it)",
            ));
            continue;
        }
        results.push(checks::run(id, ctx));
    }
    Verdict { results }
}

/// What the person (or the environment) said about a push whose checks ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Who was consulted; `None` if nobody was named.
    pub consulted: Option<String>,
    /// Whether every checklist item was affirmed.
    pub checklist_affirmed: bool,
    /// The justification for a bypass, if one was given.
    pub justification: Option<String>,
}

/// Decides a ref update from its verdict, whether the environment requires confirmation
/// and a checklist, whether it allows bypass, and the answers given.
pub fn decide(
    verdict: &Verdict,
    confirm: bool,
    has_checklist: bool,
    bypass_allowed: bool,
    answers: &Answers,
) -> Decision {
    if answers.justification.is_some() && bypass_allowed {
        // A bypass covers the checks and the confirmation.
        return Decision::Bypassed;
    }
    if !verdict.passed() {
        return Decision::Blocked;
    }
    if confirm && answers.consulted.is_none() {
        return Decision::Blocked;
    }
    if has_checklist && !answers.checklist_affirmed {
        return Decision::Blocked;
    }
    Decision::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(outcomes: &[Outcome]) -> Verdict {
        Verdict {
            results: outcomes
                .iter()
                .map(|&o| CheckResult {
                    id: CheckId::NoDelete,
                    outcome: o,
                    detail: String::new(),
                    more: vec![],
                    hint: None,
                })
                .collect(),
        }
    }

    #[test]
    fn passing_checks_need_confirmation_and_checklist() {
        let v = verdict(&[Outcome::Pass, Outcome::Skip]);
        let none = Answers::default();
        assert_eq!(decide(&v, false, false, true, &none), Decision::Allowed);
        assert_eq!(decide(&v, true, false, true, &none), Decision::Blocked);
        let consulted = Answers {
            consulted: Some("Ada".into()),
            ..Answers::default()
        };
        assert_eq!(decide(&v, true, false, true, &consulted), Decision::Allowed);
        assert_eq!(decide(&v, true, true, true, &consulted), Decision::Blocked);
        let all = Answers {
            checklist_affirmed: true,
            ..consulted
        };
        assert_eq!(decide(&v, true, true, true, &all), Decision::Allowed);
    }

    #[test]
    fn failing_checks_block_unless_bypassed() {
        let v = verdict(&[Outcome::Pass, Outcome::Fail]);
        let all = Answers {
            consulted: Some("Ada".into()),
            checklist_affirmed: true,
            justification: None,
        };
        assert_eq!(decide(&v, true, true, true, &all), Decision::Blocked);
        let bypass = Answers {
            justification: Some("hotfix for incident 42".into()),
            ..Answers::default()
        };
        assert_eq!(decide(&v, true, true, true, &bypass), Decision::Bypassed);
        assert_eq!(decide(&v, true, true, false, &bypass), Decision::Blocked);
    }
}
