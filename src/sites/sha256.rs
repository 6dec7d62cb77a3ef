//! A clone with SHA-256 object names, which released libgit2 cannot open: the checks cannot
//! run, so a gated push is blocked with the reason unless `PUSHGUARD_BYPASS` gives a
//! justification; either way it is recorded. The few facts needed come from `git` itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::ChainedHook;
use crate::audit::{self, Record};
use crate::checks::{no_delete, CheckId, CheckResult};
use crate::gate::{Answers, Block, Source};
use crate::git::Identity;
use crate::pipeline::{Bypass, Chained, Line, LineFacts, Pushed, Request, Site, Wording};
use crate::terminal::{env_value, Interaction, BYPASS_ENV};

/// What every check but `no-delete` says in a SHA-256 clone.
const CANNOT_RUN: &str =
    "cannot run: this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot read yet";

/// The client hook in a SHA-256 clone.
pub struct Sha256 {
    remote: String,
    url: String,
    state_dir: PathBuf,
    identity: Identity,
    chained: Option<ChainedHook>,
}

impl Sha256 {
    /// The hook pushing to `remote` at `url`, asking `git` for the state directory.
    pub fn new(remote: &str, url: &str, chained: Option<ChainedHook>) -> Result<Sha256> {
        Ok(Sha256 {
            remote: remote.to_owned(),
            url: url.to_owned(),
            state_dir: crate::git::common_dir_via_git()?.join("pushguard"),
            identity: identity_via_git(),
            chained,
        })
    }
}

/// The pusher's identity from `git config`.
fn identity_via_git() -> Identity {
    let get = |key: &str| {
        Command::new("git")
            .args(["config", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    Identity {
        name: get("user.name"),
        email: get("user.email"),
    }
}

struct Facts<'a> {
    line: Line<'a>,
    remote: &'a str,
}

impl LineFacts for Facts<'_> {
    fn check(&self, id: CheckId) -> CheckResult {
        match id {
            // Judged from the ref line alone.
            CheckId::NoDelete => no_delete::judge(
                self.line.update.change(),
                self.line.update.branch().unwrap_or_default(),
            ),
            _ => CheckResult::fail(id, CANNOT_RUN),
        }
    }

    /// The pushed range's size from `git rev-list`.
    fn pushed(&self) -> Pushed {
        let update = self.line.update;
        let Some(new) = update.new_oid() else {
            return Pushed::default();
        };
        let mut cmd = Command::new("git");
        cmd.args(["rev-list", "--count", new, "--not"]);
        match update.old_oid() {
            Some(old) => cmd.arg(old),
            None => cmd.arg(format!("--remotes={}", self.remote)),
        };
        let commits = cmd
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0);
        Pushed {
            commits,
            subjects: Vec::new(),
        }
    }
}

impl Site for Sha256 {
    fn wording(&self) -> Wording {
        Wording::Client {
            remote: self.remote.clone(),
        }
    }

    fn facts<'a>(
        &'a self,
        line: Line<'a>,
        _interrupted: &'a AtomicBool,
    ) -> Box<dyn LineFacts + 'a> {
        Box::new(Facts {
            line,
            remote: &self.remote,
        })
    }

    fn asks_checklist(&self) -> bool {
        false
    }

    fn confirmation(&self, _request: &Request, _interaction: &mut Interaction) -> Answers {
        Answers::refused(Block::CannotCheck)
    }

    fn bypass(&self, _request: &Request, _interaction: &mut Interaction) -> Bypass {
        match env_value(BYPASS_ENV) {
            Some(why) => Bypass::Given(Answers::justified(why, Source::Environment)),
            None => Bypass::No(Answers::refused(Block::CannotCheck)),
        }
    }

    fn justification(&self, _request: &Request, _interaction: &mut Interaction) -> Answers {
        Answers::refused(Block::CannotCheck)
    }

    fn chained(&self) -> Result<Chained> {
        ChainedHook::run_if(self.chained.as_ref())
    }

    fn pusher(&self, _line: Line) -> Identity {
        self.identity.clone()
    }

    fn remote(&self) -> &str {
        &self.remote
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn record(&self, record: Record) -> Result<Option<Record>> {
        audit::append(&self.state_dir, record, audit::lock_timeout()).map(Some)
    }

    fn finish(&self, _allowed: bool, _records: &[Record], _out: &mut dyn Write) -> Result<()> {
        // The notes need libgit2: the records stay in the local log.
        Ok(())
    }
}
