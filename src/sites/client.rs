//! The client: the pre-push hook in a clone, and `pushguard check`, its dry run.
//!
//! Facts come from the clone (the remote's branches as last fetched), the pusher is git's
//! `user.name`/`user.email`, the answers come from the terminal, `PUSHGUARD_CONSULTED`,
//! `PUSHGUARD_BYPASS` or `pushguard confirm`, and records go to the clone's audit log and,
//! once the push is allowed, to the remote's notes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::sha256::GitFacts;
use super::ChainedHook;
use crate::answers::{self, Remembered, Taken};
use crate::audit::{self, Record};
use crate::checks::{self, CheckId, CheckResult, Context, Pusher, Refs};
use crate::config::Config;
use crate::gate::{self, Answers, Block, Need, Plan, Source, Sources};
use crate::git::{Identity, Reader, Repo};
use crate::pipeline::{Bypass, Chained, Line, LineFacts, Pushed, Request, Site, Wording};
use crate::terminal::{
    self, env_value, Interaction, Summary, BYPASS_ENV, CONSULTED_ENV, FREEZE_ENV,
};

/// The client hook (or its dry run) for one push.
pub struct Client<'r> {
    reader: Reader<'r>,
    config: &'r Config,
    /// `$1`: the remote's name, or the URL for a push to a URL.
    remote_arg: String,
    /// `$2`: the URL.
    url: String,
    /// The configured remote pushed to, if any (named, or found by its URL).
    remote: Option<String>,
    pusher: Pusher,
    state_dir: PathBuf,
    chained: Option<ChainedHook>,
    dry_run: bool,
}

impl<'r> Client<'r> {
    /// The pre-push hook pushing to `remote_arg` at `url`, then running `chained`.
    pub fn new(
        repo: &'r Repo,
        config: &'r Config,
        remote_arg: &str,
        url: &str,
        chained: Option<ChainedHook>,
    ) -> Client<'r> {
        Client::reading(Reader::Lib(repo), config, remote_arg, url, chained)
    }

    /// The pre-push hook in a repository read through `reader` (git alone for SHA-256).
    pub fn reading(
        reader: Reader<'r>,
        config: &'r Config,
        remote_arg: &str,
        url: &str,
        chained: Option<ChainedHook>,
    ) -> Client<'r> {
        Client {
            reader,
            config,
            remote_arg: remote_arg.to_owned(),
            url: url.to_owned(),
            remote: reader.remote_name(remote_arg, url),
            pusher: Pusher::Configured(reader.identity()),
            state_dir: reader.state_dir(),
            chained,
            dry_run: false,
        }
    }

    /// `pushguard check`: the same facts, nothing asked, nothing recorded.
    pub fn dry_run(repo: &'r Repo, config: &'r Config, remote: &str, url: &str) -> Client<'r> {
        Client {
            dry_run: true,
            ..Client::new(repo, config, remote, url, None)
        }
    }

    fn shown_remote(&self) -> String {
        self.remote.clone().unwrap_or_else(|| self.url.clone())
    }

    /// Answers given a moment ago for the same environment, ref and commit.
    fn recalled(&self, request: &Request) -> Option<Answers> {
        let new = request.new.as_deref()?;
        let r = answers::recall(
            &self.state_dir,
            &self.shown_remote(),
            &request.environment,
            &request.remote_ref,
            new,
        )?;
        Some(Answers {
            consulted: r.consulted,
            checklist: r.checklist,
            justification: r.justification,
            freeze: r.freeze,
            ..Answers::none(Source::Reused)
        })
    }

    fn plan(&self, request: &Request, need: Need, interaction: &Interaction) -> Plan {
        let state_dir = &self.state_dir;
        let env = &request.environment;
        let mut take = || match answers::take_confirmation(state_dir, env) {
            Taken::Valid(c) => gate::Confirmation::Valid {
                consulted: c.consulted,
                checklist: c.checklist,
                created: c.created,
                affirmed_with_flag: c.affirmed_with_flag,
            },
            Taken::Expired(c) => gate::Confirmation::Expired(c.expires_at()),
            Taken::None => gate::Confirmation::None,
        };
        gate::plan(
            &request.rules,
            &need,
            Sources {
                recalled: self.recalled(request),
                bypass_env: env_value(BYPASS_ENV),
                consulted_env: env_value(CONSULTED_ENV),
                freeze_env: env_value(FREEZE_ENV),
                take_confirmation: &mut take,
                terminal: interaction.can_ask(),
            },
        )
    }
}

/// The facts of one ref update, read from the clone.
struct Facts<'a> {
    ctx: Context<'a>,
}

impl LineFacts for Facts<'_> {
    fn check(&self, id: CheckId) -> CheckResult {
        checks::run(id, &self.ctx)
    }

    fn pushed(&self) -> Pushed {
        pushed(&self.ctx)
    }
}

/// The pushed range's size and its first ten subjects.
pub fn pushed(ctx: &Context) -> Pushed {
    let range = ctx.pushed_commits().unwrap_or_default();
    Pushed {
        commits: range.len(),
        subjects: range
            .iter()
            .take(10)
            .map(|oid| {
                (
                    crate::text::short(&oid.to_string()).to_owned(),
                    ctx.repo.subject(*oid),
                )
            })
            .collect(),
    }
}

impl Site for Client<'_> {
    fn wording(&self) -> Wording {
        let remote = self.shown_remote();
        if self.dry_run {
            Wording::DryRun { remote }
        } else {
            Wording::Client { remote }
        }
    }

    fn facts<'a>(&'a self, line: Line<'a>, interrupted: &'a AtomicBool) -> Box<dyn LineFacts + 'a> {
        let refs = Refs::Remote {
            name: self.remote.as_deref(),
            url: &self.url,
        };
        let repo = match self.reader {
            Reader::Lib(repo) => repo,
            Reader::Git(git) => {
                return Box::new(GitFacts::new(
                    git,
                    self.config,
                    line,
                    refs,
                    &self.pusher,
                    interrupted,
                ))
            }
        };
        Box::new(Facts {
            ctx: Context::new(
                repo,
                self.config,
                line.environment,
                line.update,
                refs,
                &self.pusher,
                interrupted,
            ),
        })
    }

    fn asks_checklist(&self) -> bool {
        true
    }

    fn confirmation(&self, request: &Request, interaction: &mut Interaction) -> Answers {
        match self.plan(request, Need::Confirmation, interaction) {
            Plan::Use(answers) => answers,
            Plan::AskBypass => Answers::refused(Block::NeedsBypass),
            Plan::AskConfirmation { consulted } => {
                let summary = Summary {
                    environment: request.environment.clone(),
                    branch: request.branch.clone(),
                    remote: self.shown_remote(),
                    commits: request.commits,
                    subjects: request.subjects.clone(),
                };
                let asked = terminal::ask_confirmation(
                    interaction,
                    request.timeout,
                    &summary,
                    request.rules.confirm,
                    consulted,
                    request.leads.clone(),
                    request.rules.checklist.clone(),
                );
                match asked {
                    Err(stop) => Answers::refused(Block::Stopped(stop)),
                    Ok(c) => {
                        let refusal = if c.not_consulted {
                            Some(Block::SaidNotConsulted)
                        } else {
                            c.checklist
                                .iter()
                                .find(|e| !e.answer)
                                .map(|e| Block::ChecklistNo(e.item.clone()))
                        };
                        Answers {
                            consulted: c.consulted,
                            checklist: c.checklist,
                            refusal,
                            ..Answers::none(Source::Prompt)
                        }
                    }
                }
            }
        }
    }

    fn bypass(&self, request: &Request, interaction: &mut Interaction) -> Bypass {
        match self.plan(request, Need::Bypass, interaction) {
            Plan::Use(answers) if answers.justification.is_some() => Bypass::Given(answers),
            Plan::Use(answers) => Bypass::No(answers),
            Plan::AskConfirmation { .. } => Bypass::No(Answers::refused(Block::ChecksFailed)),
            Plan::AskBypass => match terminal::offer_bypass(
                interaction,
                request.timeout,
                &request.rules.freeze_names(),
            ) {
                Ok(true) => Bypass::Wanted,
                Ok(false) => Bypass::No(Answers::refused(Block::BypassDeclined)),
                Err(stop) => Bypass::No(Answers::refused(Block::Stopped(stop))),
            },
        }
    }

    fn justification(&self, request: &Request, interaction: &mut Interaction) -> Answers {
        let min = request.rules.min_length;
        let rules = request.rules.clone();
        let problem = move |text: &str| gate::bypass_problem(text, &rules);
        let why = match terminal::ask_justification(interaction, request.timeout, min, problem) {
            Ok(why) => why,
            Err(stop) => return Answers::refused(Block::Stopped(stop)),
        };
        // A bypass asks who was consulted too (issue 22), where the environment asks it.
        let consulted = if request.rules.confirm {
            match terminal::ask_consulted_for_bypass(
                interaction,
                request.timeout,
                request.leads.clone(),
            ) {
                Ok(who) => who,
                Err(stop) => return Answers::refused(Block::Stopped(stop)),
            }
        } else {
            None
        };
        // The question named the windows the bypass overrides: answering it names them.
        let names = request.rules.freeze_names();
        Answers {
            consulted,
            freeze: (!names.is_empty()).then(|| names.join(", ")),
            ..Answers::justified(why, Source::Prompt)
        }
    }

    fn remember(&self, request: &Request, answers: &Answers) {
        let Some(new) = &request.new else { return };
        if !answers.reusable() {
            return;
        }
        let _ = answers::remember(
            &self.state_dir,
            Remembered {
                remote: self.shown_remote(),
                environment: request.environment.clone(),
                remote_ref: request.remote_ref.clone(),
                new: new.clone(),
                at: 0,
                consulted: answers.consulted.clone(),
                checklist: answers.checklist.clone(),
                justification: answers.justification.clone(),
                freeze: answers.freeze.clone(),
            },
        );
    }

    fn chained(&self) -> Result<Chained> {
        ChainedHook::run_if(self.chained.as_ref())
    }

    fn pusher(&self, _line: Line) -> Identity {
        match &self.pusher {
            Pusher::Configured(identity) => identity.clone(),
            _ => Identity::default(),
        }
    }

    fn bypasser(&self, line: Line) -> Option<Vec<String>> {
        // Where signatures are required, `bypass_by` lists principals: the ones the
        // allowed signers give the pusher's signing key. Elsewhere, `user.email`.
        if crate::signing::required(self.config, line.environment) {
            let Reader::Lib(repo) = self.reader else {
                // No signing key can be read where libgit2 cannot open the repository.
                return None;
            };
            return crate::signing::own_principals(repo, self.config);
        }
        match &self.pusher {
            Pusher::Configured(identity) => Some(vec![identity.email.clone()]),
            _ => None,
        }
    }

    fn local_zone(&self) -> Option<jiff::tz::TimeZone> {
        crate::checks::freeze::local_zone()
    }

    fn remote(&self) -> &str {
        &self.remote_arg
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn sign(
        &self,
        environment: &crate::config::Environment,
        record: &mut Record,
        mut out: &mut dyn Write,
    ) -> Result<bool> {
        let Reader::Lib(repo) = self.reader else {
            // Records stay unsigned there; an environment that requires signatures blocks.
            if !crate::signing::required(self.config, environment) {
                return Ok(false);
            }
            writeln!(
                out,
                "{}",
                crate::report::sha256_cannot_sign(&environment.name)
            )?;
            return Ok(true);
        };
        Ok(crate::signing::sign_in_hook(
            &mut out,
            repo,
            self.config,
            environment,
            record,
        )?)
    }

    fn record(&self, record: Record) -> Result<Option<Record>> {
        audit::append(&self.state_dir, record, audit::lock_timeout()).map(Some)
    }

    fn finish(&self, allowed: bool, records: &[Record], out: &mut dyn Write) -> Result<()> {
        // Attach the records to their tips in the outbox of the URL pushed to, and share them
        // with that URL's trail when the push is allowed (bounded in time; a failure is
        // remembered and retried). A record reaches only the notes of the URL its push went to.
        let Reader::Lib(repo) = self.reader else {
            // Sharing records as notes goes through libgit2: they stay in the local log.
            if !records.is_empty() {
                writeln!(out, "{}", crate::report::SHA256_RECORDS_LOCAL)?;
            }
            return Ok(());
        };
        for warning in crate::notes::share_audit(repo, records, &self.url, allowed) {
            writeln!(out, "pushguard: warning: {warning}")?;
        }
        Ok(())
    }
}
