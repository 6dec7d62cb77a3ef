//! The one gate pipeline, run by every caller: the client's pre-push hook, the server's
//! pre-receive and update hooks and `pushguard check`.
//!
//! classify → gather facts → judge → collect answers → decide → (chained hook) → record →
//! report. What differs between the callers is the [`Site`] handed in: where the facts come
//! from, who the pusher is, which checks apply, where the answers come from and where the
//! records go. The decision itself is [`gate::decide`], pure.

pub mod site;

use std::io::Write;

use anyhow::Result;

use crate::audit::Record;
use crate::checks::{CheckId, CheckResult, Outcome};
use crate::config::{Config, Environment};
use crate::gate::{self, Answers, Block, Decision, Need, Rules, Stop, Verdict};
use crate::outcome::{Exit, WithHint};
use crate::push::RefUpdate;
use crate::report::{self, Styles};
use crate::terminal::Interaction;

pub use site::{Bypass, Chained, LineFacts, PushOptions, Pushed, Request, Site, Wording};

/// What a skipped-after-failure check says; [`run`] runs it before a bypass is accepted.
pub const NOT_RUN_AFTER_FAILURE: &str =
    "not run: an earlier check failed (run `pushguard check` after fixing it)";

/// One ref update that targets an environment branch.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub update: &'a RefUpdate,
    pub environment: &'a Environment,
}

/// Pairs each ref update that targets an environment branch with its environment; tags,
/// notes and other refs are never gated.
pub fn classify<'a>(config: &'a Config, updates: &'a [RefUpdate]) -> Result<Vec<Line<'a>>> {
    let mut gated = Vec::new();
    for update in updates {
        let Some(branch) = update.branch() else {
            continue;
        };
        if let Some(environment) = config
            .environment_for_branch(branch)
            .hint("give each branch to one environment in `.pushguard.toml`")?
        {
            gated.push(Line {
                update,
                environment,
            });
        }
    }
    Ok(gated)
}

/// One ref update decided, waiting for the chained hook and its record.
struct Decided<'a> {
    line: Line<'a>,
    results: Vec<CheckResult>,
    pushed: Pushed,
    answers: Answers,
    verdict: Verdict,
    request: Request,
    rules: Rules,
}

/// Runs the gate on the gated ref updates of one push (see [`classify`]); the exit is
/// success when every one is allowed (or bypassed).
pub fn run(
    site: &dyn Site,
    config: &Config,
    lines: &[Line],
    interaction: &mut Interaction,
) -> Result<Exit> {
    let st = Styles::stderr();
    let mut err = std::io::stderr().lock();
    let wording = site.wording();
    let mut decided = Vec::with_capacity(lines.len());
    let mut dry_run_passed = true;
    let interrupted = interaction.interrupt_flag();
    for &line in lines {
        let env = line.environment;
        report::write_heading(&mut err, &st, &wording, &env.name, line.update)?;
        let facts = site.facts(line, &interrupted);
        // Judged with this machine's clock at this moment, once: the check's result and the
        // windows an override must name come from the same instant.
        let freeze = if env.has_check(CheckId::Freeze) {
            let (result, state) = crate::checks::freeze::judge_at(
                config,
                &env.name,
                jiff::Timestamp::now(),
                &|| site.local_zone(),
            )?;
            Some((result, frozen(config, &state)))
        } else {
            None
        };
        let mut results = judge(
            facts.as_ref(),
            env,
            freeze.as_ref().map(|(result, _)| result.clone()),
        );
        report::write_results(&mut err, &st, &results)?;
        if wording.is_dry_run() {
            let failed: Vec<_> = failed(&results).cloned().collect();
            report::write_dry_run(&mut err, &st, &env.name, &failed)?;
            dry_run_passed &= failed.is_empty();
            continue;
        }
        let mut rules = Rules::of(env, config);
        if !site.asks_checklist() {
            rules.checklist.clear();
        }
        rules.frozen = freeze.map(|(_, frozen)| frozen).unwrap_or_default();
        if !rules.bypass_by.is_empty() {
            rules.pusher = site.bypasser(line);
        }
        let pushed = facts.pushed();
        let request = Request {
            environment: env.name.clone(),
            remote_ref: line.update.remote_ref.clone(),
            branch: line
                .update
                .branch()
                .unwrap_or(&line.update.remote_ref)
                .to_owned(),
            old: line.update.old_oid().map(str::to_owned),
            new: line.update.new_oid().map(str::to_owned),
            rules: rules.clone(),
            leads: config.confirm.leads.clone(),
            timeout: config.confirm.timeout,
            commits: pushed.commits,
            subjects: pushed.subjects.clone(),
        };
        let answers = if interaction.interrupted() {
            // Ctrl-C during the checks (the tests): block, ask nothing more.
            Answers::refused(Block::Stopped(Stop::Interrupted))
        } else if let Some(stop) = interaction.stopped() {
            // A dialogue of an earlier ref update was cut short: ask nothing more.
            Answers::refused(Block::Stopped(stop.clone()))
        } else {
            match gate::need(&rules, &results, line.update.change()) {
                Need::Nothing => Answers::default(),
                Need::Refused(block) => Answers::refused(block),
                Need::Confirmation => site.confirmation(&request, interaction),
                Need::Bypass => {
                    let bypass = site.bypass(&request, interaction);
                    let goes_ahead = match &bypass {
                        Bypass::Wanted => true,
                        Bypass::Given(a) => a
                            .justification
                            .as_deref()
                            .is_some_and(|why| gate::bypass_problem(why, &rules).is_none()),
                        Bypass::No(_) => false,
                    };
                    if goes_ahead {
                        // Show what is bypassed: the checks skipped after a failure run now.
                        if results.iter().any(deferred) {
                            report::write_deferred_heading(&mut err)?;
                            err.flush()?;
                            let ran = run_deferred(facts.as_ref(), &mut results);
                            report::write_deferred(&mut err, &st, &results, &ran)?;
                        }
                    }
                    match bypass {
                        _ if interaction.interrupted() => {
                            Answers::refused(Block::Stopped(Stop::Interrupted))
                        }
                        Bypass::Given(answers) | Bypass::No(answers) => answers,
                        Bypass::Wanted => site.justification(&request, interaction),
                    }
                }
            }
        };
        let verdict = gate::decide(&rules, &results, line.update.change(), &answers);
        report::write_answers(&mut err, &st, &wording, env, &rules, &answers, &verdict)?;
        decided.push(Decided {
            line,
            results,
            pushed,
            answers,
            verdict,
            request,
            rules,
        });
    }
    if wording.is_dry_run() {
        let exit = if dry_run_passed {
            Exit::Success
        } else {
            Exit::Blocked
        };
        return Ok(exit);
    }

    // The chained hook runs after pushguard's allowing decision and before the records, so
    // that a record says what happened: a refusal there is a blocked push.
    let mut exit = Exit::Success;
    if decided
        .iter()
        .all(|d| d.verdict.decision != Decision::Blocked)
    {
        let chained = site.chained()?;
        if let Some(refusal) = chained.refusal {
            for d in &mut decided {
                d.verdict = Verdict {
                    decision: Decision::Blocked,
                    block: Some(Block::ChainedRefused(refusal.clone())),
                };
            }
            exit = chained.exit;
        }
    }

    let mut records = Vec::with_capacity(decided.len());
    let mut all_allowed = true;
    for d in decided {
        let mut decision = d.verdict.decision;
        let mut record = Record::new(crate::audit::Fields {
            user: site.pusher(d.line),
            remote: site.remote().to_owned(),
            url: site.url().to_owned(),
            update: d.line.update,
            environment: &d.line.environment.name,
            commits: d.pushed.commits as u64,
            decision,
            results: &d.results,
            consulted: d.answers.consulted.clone(),
            checklist: d.answers.checklist.clone(),
            justification: d.answers.justification.clone(),
            // An override names the windows it got past; a ticket is what the justification
            // gave for the pattern (both null otherwise).
            freeze: (decision == Decision::Bypassed && !d.rules.frozen.is_empty())
                .then(|| d.rules.freeze_names().join(", ")),
            ticket: match (&d.rules.ticket, &d.answers.justification) {
                (Some(pattern), Some(why)) if decision == Decision::Bypassed => {
                    gate::ticket_in(why, pattern)
                }
                _ => None,
            },
            attestation: match &d.answers.source {
                gate::Source::PushOptions
                    if d.answers.consulted.is_none() && d.answers.justification.is_none() =>
                {
                    None
                }
                source => report::attestation_field(source),
            },
        });
        if site.sign(d.line.environment, &mut record, &mut err)? {
            decision = Decision::Blocked;
            record.decision = Decision::Blocked;
        }
        match site.record(record) {
            Ok(written) => {
                if decision != Decision::Blocked {
                    site.remember(&d.request, &d.answers);
                }
                records.extend(written);
            }
            Err(e) => {
                decision = Decision::Blocked;
                report::write_unrecorded(&mut err, &e)?;
            }
        }
        if let Some(Block::ChainedRefused(why)) = &d.verdict.block {
            report::write_chained_refusal(&mut err, why)?;
        }
        let failed: Vec<_> = failed(&d.results).cloned().collect();
        report::write_decision(&mut err, &st, &d.line.environment.name, decision, &failed)?;
        all_allowed &= decision != Decision::Blocked;
    }
    site.finish(all_allowed, &records, &mut err)?;
    err.flush()?;
    if !all_allowed && exit == Exit::Success {
        exit = Exit::Blocked;
    }
    Ok(exit)
}

/// Runs an environment's checks in order (cheapest first).
///
/// Every check runs even after one fails, so the report lists everything to fix at once;
/// only the tests wait, as they are slow and the push is refused anyway: they run if a
/// bypass is about to be accepted ([`run_deferred`]).
fn judge(
    facts: &dyn LineFacts,
    environment: &Environment,
    freeze: Option<CheckResult>,
) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> = Vec::new();
    let mut freeze = freeze;
    for &id in &environment.checks {
        if id == CheckId::Freeze {
            if let Some(result) = freeze.take() {
                results.push(result);
                continue;
            }
        }
        if let Some(skipped) = facts.skips(id) {
            results.push(skipped);
            continue;
        }
        if id == CheckId::Tests && failed(&results).next().is_some() {
            results.push(CheckResult::skip(id, NOT_RUN_AFTER_FAILURE));
            continue;
        }
        results.push(facts.check(id));
    }
    results
}

/// The windows that freeze an environment now, as the decision needs them.
fn frozen(config: &Config, state: &crate::checks::freeze::State) -> Vec<gate::Frozen> {
    let crate::checks::freeze::State::Frozen { by, .. } = state else {
        return Vec::new();
    };
    let policy = config.provenance.source_of("freeze").to_string();
    by.iter()
        .map(|a| gate::Frozen {
            name: a.window.name.clone(),
            overridable: a.window.overridable,
            contact: a.window.contact.clone(),
            policy: policy.clone(),
        })
        .collect()
}

/// Runs the checks that [`judge`] skipped after a failure, in place; returns which ran.
fn run_deferred(facts: &dyn LineFacts, results: &mut [CheckResult]) -> Vec<CheckId> {
    let mut ran = Vec::new();
    for r in results.iter_mut() {
        if deferred(r) {
            *r = facts.check(r.id);
            ran.push(r.id);
        }
    }
    ran
}

/// Tells whether a check was skipped after a failure, to run before a bypass.
fn deferred(result: &CheckResult) -> bool {
    result.outcome == Outcome::Skip && result.detail == NOT_RUN_AFTER_FAILURE
}

fn failed(results: &[CheckResult]) -> impl Iterator<Item = &CheckResult> {
    results.iter().filter(|r| r.outcome == Outcome::Fail)
}
