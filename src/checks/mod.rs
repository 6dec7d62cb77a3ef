//! The promotion checks: their ids, their results, and the context they read facts from.
//!
//! Each check lives in its own file as a pure `judge` function over the facts it needs, plus
//! a `run` that reads those facts from the repository through [`Context`]. The order in
//! which an environment's checks run is [`CheckId::cost_rank`]: cheapest first, so that a
//! push that is refused for a cheap reason never waits for the tests.

pub mod approvals;
pub mod authorized;
pub mod clean_worktree;
pub mod fast_forward;
pub mod freeze;
pub mod no_conflict_markers;
pub mod no_delete;
pub mod no_wip;
pub mod promoted;
pub mod range;
pub mod soak;
pub mod tests;
pub mod waivers;

use std::cell::OnceCell;
use std::sync::atomic::AtomicBool;

use git2::Oid;

use crate::config::{Config, Environment};
use crate::git::{Identity, Repo};
pub use crate::model::{CheckId, CheckResult, Outcome};
use crate::push::RefUpdate;

/// Where a check reads the remote side: the source environment's branches, the base of a
/// new branch's pushed range, the team's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refs<'a> {
    /// A client: the remote's branches as last fetched (`refs/remotes/<name>/…`). `name` is
    /// `None` for a push to a URL that no configured remote has; `url` names it then.
    Remote { name: Option<&'a str>, url: &'a str },
    /// The receiving repository's own branches and notes (a server): nothing to fetch.
    Own,
}

impl<'a> Refs<'a> {
    /// The remote's name, else its URL, for messages and `git fetch` hints.
    pub fn shown(&self) -> &'a str {
        match *self {
            Refs::Remote { name, url } => name.unwrap_or(url),
            Refs::Own => "<remote>",
        }
    }
}

/// Who is pushing, as far as the site can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pusher {
    /// A client's `user.name` and `user.email`: set by the pusher, not proven.
    Configured(Identity),
    /// Named by the server that authenticated them (`by` is the variable). A server that
    /// names users without an email gives the addresses its config maps the user to.
    Named {
        identity: Identity,
        by: &'static str,
        emails: Vec<String>,
    },
    /// The verified signer of a good push certificate (`git push --signed` on a server):
    /// `principal` is the allowed-signers principal that vouches for the certificate's key,
    /// `key` the key's fingerprint (`SHA256:…`); `account` the server's own name for the
    /// pusher when it gives one, matched with the principal through `[server] users`.
    Certified {
        principal: String,
        key: String,
        account: Option<Account>,
    },
    /// Nobody says who pushes; `why` explains it in the report.
    Unknown { why: String },
}

impl Pusher {
    /// The addresses under which the pusher's own approvals would appear; `None` when the
    /// pusher cannot be told apart from the approvers.
    pub fn emails(&self) -> Option<Vec<String>> {
        match self {
            Pusher::Configured(id) => Some(vec![id.email.clone()]),
            Pusher::Named {
                identity, emails, ..
            } => {
                let mut all = emails.clone();
                if !identity.email.is_empty() {
                    all.push(identity.email.clone());
                }
                (!all.is_empty()).then_some(all)
            }
            Pusher::Certified {
                principal, account, ..
            } => {
                let mut all: Vec<String> = principals(principal).map(str::to_owned).collect();
                if let Some(a) = account {
                    all.extend(a.emails());
                }
                (!all.is_empty()).then_some(all)
            }
            Pusher::Unknown { .. } => None,
        }
    }
}

/// The account a server authenticated the pusher as (`GL_USER`, `REMOTE_USER`, …), beside a
/// signed push's principal (issue 24: one identity per pusher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name (and, from Gitea, the email) the server gives.
    pub identity: Identity,
    /// The variable that named it.
    pub by: &'static str,
    /// The addresses `[server] users` maps the user name to.
    pub emails: Vec<String>,
}

impl Account {
    /// Every address the account is known by: the mapped ones and the server's own.
    pub fn emails(&self) -> Vec<String> {
        let mut all = self.emails.clone();
        if !self.identity.email.is_empty() {
            all.push(self.identity.email.clone());
        }
        all
    }
}

/// The individual principals of an allowed-signers principals field (`a@x,b@x`).
pub fn principals(field: &str) -> impl Iterator<Item = &str> {
    field.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// Everything a check may read: the ref update, its environment, the repository, and what
/// the site says about the remote side and the pusher.
pub struct Context<'a> {
    pub repo: &'a Repo,
    pub config: &'a Config,
    pub environment: &'a Environment,
    pub update: &'a RefUpdate,
    pub refs: Refs<'a>,
    pub pusher: &'a Pusher,
    /// Set by Ctrl-C: a running test command is stopped.
    pub interrupted: &'a AtomicBool,
    /// The pushed range, walked once and shared by the range checks and the audit record.
    pushed: OnceCell<Result<Vec<Oid>, String>>,
    /// The other ref updates of the same push, on a server (a source branch of `promoted`
    /// is judged as this push leaves it); empty on a client.
    pub same_push: &'a [RefUpdate],
}

impl<'a> Context<'a> {
    pub fn new(
        repo: &'a Repo,
        config: &'a Config,
        environment: &'a Environment,
        update: &'a RefUpdate,
        refs: Refs<'a>,
        pusher: &'a Pusher,
        interrupted: &'a AtomicBool,
    ) -> Context<'a> {
        Context {
            repo,
            config,
            environment,
            update,
            refs,
            pusher,
            interrupted,
            pushed: OnceCell::new(),
            same_push: &[],
        }
    }

    /// The same context, knowing the other ref updates of the same push.
    pub fn with_same_push(self, updates: &'a [RefUpdate]) -> Context<'a> {
        Context {
            same_push: updates,
            ..self
        }
    }

    /// The commits the ref update pushes, newest first (see [`range::pushed_commits`]);
    /// walked on first use only, since a first push of a long history is a long walk.
    pub fn pushed_commits(&self) -> anyhow::Result<&[Oid]> {
        self.pushed
            .get_or_init(|| range::pushed_commits(self).map_err(|e| format!("{e:#}")))
            .as_deref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Runs one check. Checks that do not apply to a delete are skipped for one.
pub fn run(id: CheckId, ctx: &Context) -> CheckResult {
    if ctx.update.new_oid().is_none() && !matches!(id, CheckId::NoDelete | CheckId::Freeze) {
        return CheckResult::skip(id, "nothing is pushed: the branch is deleted");
    }
    match id {
        CheckId::Freeze => freeze::run(ctx),
        CheckId::NoDelete => no_delete::run(ctx),
        CheckId::FastForward => fast_forward::run(ctx),
        CheckId::Approvals => approvals::run(ctx),
        CheckId::Soak => soak::run(ctx),
        CheckId::Promoted => promoted::run(ctx),
        CheckId::NoWip => no_wip::run(ctx),
        CheckId::NoConflictMarkers => no_conflict_markers::run(ctx),
        CheckId::CleanWorktree => clean_worktree::run(ctx),
        CheckId::Authorized => authorized::run(ctx),
        CheckId::Tests => tests::run(ctx),
    }
}
