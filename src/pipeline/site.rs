//! What differs between the places the gate runs, as one trait the pipeline is handed: the
//! client's pre-push hook (`sites::client`, and its dry run, `pushguard check`) and the
//! server's hooks (`sites::server`), each reading a SHA-256 repository, which libgit2 cannot
//! open, through git (`sites::sha256`).
//!
//! A site answers the pipeline's questions — the facts of a ref update, who pushes, where
//! the answers come from, where the record goes — and never decides anything itself.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Result;

use super::Line;
use crate::audit::Record;
use crate::checks::{CheckId, CheckResult};
use crate::config::Environment;
use crate::gate::{Answers, Rules};
use crate::git::Identity;
use crate::outcome::Exit;
use crate::terminal::Interaction;

pub use crate::report::{PushOptions, Wording};

/// The commits a ref update pushes, for the summary and the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    pub commits: usize,
    /// Up to ten `(short id, subject)` pairs, newest first.
    pub subjects: Vec<(String, String)>,
}

/// One gated ref update as the answer sources see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub environment: String,
    pub remote_ref: String,
    pub branch: String,
    /// The tip before the push; `None` for a create.
    pub old: Option<String>,
    /// The pushed commit; `None` for a delete.
    pub new: Option<String>,
    pub rules: Rules,
    /// `[confirm].leads`, offered when asked who was consulted.
    pub leads: Vec<String>,
    /// `[confirm].timeout`, for each question.
    pub timeout: Duration,
    pub commits: usize,
    pub subjects: Vec<(String, String)>,
}

/// What the answer source says when the checks failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// A justification, given without asking (an environment variable, a push option,
    /// answers given a moment ago).
    Given(Answers),
    /// The person wants to bypass: the justification is asked after the skipped checks ran.
    Wanted,
    /// No bypass, and why.
    No(Answers),
}

/// How the hook chained after pushguard's decision fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chained {
    /// The hook's exit: the chained hook's status passes through.
    pub exit: Exit,
    /// Why it refused the push, if it did.
    pub refusal: Option<String>,
}

impl Chained {
    /// No chained hook, or one that let the push through.
    pub fn passed() -> Chained {
        Chained {
            exit: Exit::Success,
            refusal: None,
        }
    }
}

/// The facts of one gated ref update, read on demand.
pub trait LineFacts {
    /// The result of a check that does not apply at this site, without running anything.
    fn skips(&self, _id: CheckId) -> Option<CheckResult> {
        None
    }
    /// Runs one check (its facts, then its judgement).
    fn check(&self, id: CheckId) -> CheckResult;
    /// The commits the update pushes.
    fn pushed(&self) -> Pushed;
}

/// Where the gate runs. See the module documentation.
pub trait Site {
    /// How the report speaks.
    fn wording(&self) -> Wording;
    /// The facts of one ref update; `interrupted` is set by Ctrl-C (the tests stop).
    fn facts<'a>(&'a self, line: Line<'a>, interrupted: &'a AtomicBool) -> Box<dyn LineFacts + 'a>;
    /// Tells whether the checklist is asked here (only a person at a client can answer it).
    fn asks_checklist(&self) -> bool;
    /// The answers a ref update whose checks passed needs: the confirmation and checklist.
    fn confirmation(&self, request: &Request, interaction: &mut Interaction) -> Answers;
    /// Whether the failed checks are to be bypassed.
    fn bypass(&self, request: &Request, interaction: &mut Interaction) -> Bypass;
    /// The justification, after [`Bypass::Wanted`].
    fn justification(&self, request: &Request, interaction: &mut Interaction) -> Answers;
    /// Keeps answers that let a push through, for git's next run of the hook (another URL).
    fn remember(&self, _request: &Request, _answers: &Answers) {}
    /// Runs the hook chained after pushguard, once every ref update is allowed.
    fn chained(&self) -> Result<Chained> {
        Ok(Chained::passed())
    }
    /// Who pushes, as recorded.
    fn pusher(&self, line: Line) -> Identity;
    /// The identities the pusher is known by here, matched against `bypass_by` (emails or
    /// server user names; verified principals where signatures are required); `None`: the
    /// site cannot tell.
    fn bypasser(&self, _line: Line) -> Option<Vec<String>> {
        None
    }
    /// The zone the person reading the report reads times in; `None` where it is unknown
    /// (a server cannot know its pusher's).
    fn local_zone(&self) -> Option<jiff::tz::TimeZone> {
        None
    }
    /// The remote as git gave it (`$1` of pre-push), as recorded.
    fn remote(&self) -> &str;
    /// The URL pushed to, as recorded.
    fn url(&self) -> &str;
    /// Signs the record where the pusher can (issue 11); `Ok(true)` when the push must be
    /// blocked because the environment requires a signature that cannot be made (on a
    /// server: a signed push that is not there).
    fn sign(
        &self,
        _environment: &Environment,
        _record: &mut Record,
        _out: &mut dyn Write,
    ) -> Result<bool> {
        Ok(false)
    }
    /// Keeps the record (appended to the audit log); returns it as written.
    fn record(&self, record: Record) -> Result<Option<Record>>;
    /// After every ref update is recorded: share the records (notes), or leave them for the
    /// server's post-receive hook.
    fn finish(&self, allowed: bool, records: &[Record], out: &mut dyn Write) -> Result<()>;
}
