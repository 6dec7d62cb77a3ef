//! The vocabulary every layer shares, as plain data: the checks' ids and results, the gate's
//! decision, a checklist answer. Defined here, at the bottom, so that the audit store, the
//! terminal and the report can speak of them without importing the layers that decide.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A check an environment can require, as named in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// A deploy window freezes the environment now (on for every environment a `[[freeze]]`
    /// window applies to).
    Freeze,
    NoDelete,
    FastForward,
    Promoted,
    NoWip,
    NoConflictMarkers,
    CleanWorktree,
    Tests,
    Authorized,
    Approvals,
    /// The pushed commit has been on a `promote_from` branch for `soak` (issue 18).
    Soak,
}

impl CheckId {
    /// Every check, in the order they run.
    pub const ALL: [CheckId; 11] = [
        CheckId::Freeze,
        CheckId::NoDelete,
        CheckId::Authorized,
        CheckId::FastForward,
        CheckId::CleanWorktree,
        CheckId::Promoted,
        CheckId::NoWip,
        CheckId::NoConflictMarkers,
        CheckId::Approvals,
        CheckId::Soak,
        CheckId::Tests,
    ];

    /// The check's id as written in the config and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Freeze => "freeze",
            CheckId::NoDelete => "no-delete",
            CheckId::FastForward => "fast-forward",
            CheckId::Promoted => "promoted",
            CheckId::NoWip => "no-wip",
            CheckId::NoConflictMarkers => "no-conflict-markers",
            CheckId::CleanWorktree => "clean-worktree",
            CheckId::Tests => "tests",
            CheckId::Authorized => "authorized",
            CheckId::Approvals => "approvals",
            CheckId::Soak => "soak",
        }
    }

    /// Position in the run order: cheap facts first, the tests last.
    pub fn cost_rank(self) -> usize {
        Self::ALL
            .iter()
            .position(|c| *c == self)
            .expect("ALL lists every check")
    }

    /// Why the check cannot run on a server, if it cannot: it needs what only the pushing
    /// clone has.
    pub fn client_only(self) -> Option<&'static str> {
        match self {
            CheckId::CleanWorktree => {
                Some("client-side only: the server has no work tree (the pre-push hook checks it)")
            }
            CheckId::Tests => Some(
                "client-side only: the server does not run the project's tests (the pre-push hook and `pushguard check` do)",
            ),
            _ => None,
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// The check does not apply (a delete, no tests configured, …); shown, never hidden.
    Skip,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        })
    }
}

/// The result of one check on one ref update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub id: CheckId,
    pub outcome: Outcome,
    /// Why, in one line (the first line of a longer explanation).
    pub detail: String,
    /// Further lines shown under the detail (offending commits, files, output tail).
    pub more: Vec<String>,
    /// The command or action that fixes a failure.
    pub hint: Option<String>,
}

impl CheckResult {
    pub fn pass(id: CheckId, detail: impl Into<String>) -> Self {
        Self::new(id, Outcome::Pass, detail)
    }

    pub fn fail(id: CheckId, detail: impl Into<String>) -> Self {
        Self::new(id, Outcome::Fail, detail)
    }

    pub fn skip(id: CheckId, detail: impl Into<String>) -> Self {
        Self::new(id, Outcome::Skip, detail)
    }

    fn new(id: CheckId, outcome: Outcome, detail: impl Into<String>) -> Self {
        CheckResult {
            id,
            outcome,
            detail: detail.into(),
            more: Vec::new(),
            hint: None,
        }
    }

    /// Adds the command or action that fixes a failure.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds lines shown under the detail.
    pub fn with_more(mut self, more: Vec<String>) -> Self {
        self.more = more;
        self
    }
}

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

/// One checklist answer as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistEntry {
    pub item: String,
    pub answer: bool,
}
