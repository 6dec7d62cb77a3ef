//! Everything pushguard says to a person, in one place: errors with their hints, the gate's
//! report, and the hook's messages.
//!
//! All of it goes to stderr: git passes a hook's stdout through to `git push --porcelain`
//! readers. Colour only when stderr is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};

use console::Style;

use crate::checks::{CheckResult, Outcome};
use crate::config::Environment;
use crate::gate::{Answers, Block, Decision, Rules, Source, Stop, Verdict};
use crate::outcome::Hinted;
use crate::push::{Change, RefUpdate};
use crate::terminal::{BYPASS_ENV, CONSULTED_ENV, FREEZE_ENV, NONINTERACTIVE_ENV};
use crate::text::{escape, short};

/// How the report speaks of where the push goes and how to answer without a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wording {
    /// The client hook: `origin/staging`, environment variables and `pushguard confirm`.
    Client { remote: String },
    /// The server: the branch alone, push options (`git push -o …`).
    Server { options: PushOptions },
    /// `pushguard check`: the client's heading, nothing asked, nothing recorded.
    DryRun { remote: String },
}

impl Wording {
    /// Tells whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Wording::DryRun { .. })
    }
}

/// Whether the server can receive the pusher's attestation as push options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOptions {
    /// `receive.advertisePushOptions` is set and the pre-receive hook reads them.
    Accepted,
    /// The repository does not advertise push options: `git push -o` fails.
    NotAdvertised,
    /// git gives the update hook no push options.
    UpdateHook,
}

/// Styles for the report; all plain when colour is off.
pub struct Styles {
    pub pass: Style,
    pub fail: Style,
    pub skip: Style,
    pub bold: Style,
    pub dim: Style,
}

impl Styles {
    /// Styles for stderr, honouring `NO_COLOR` and whether stderr is a terminal.
    pub fn stderr() -> Styles {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Styles::new(color)
    }

    pub fn new(color: bool) -> Styles {
        let s = |style: Style| style.force_styling(color);
        Styles {
            pass: s(Style::new().green()),
            fail: s(Style::new().red().bold()),
            skip: s(Style::new().yellow()),
            bold: s(Style::new().bold()),
            dim: s(Style::new().dim()),
        }
    }
}

/// Prints an error chain to stderr: `error: …`, `  caused by: …`, then `hint: …` lines.
pub fn error(err: &anyhow::Error) {
    let mut out = std::io::stderr().lock();
    let _ = write_error(&mut out, err);
}

/// Writes an error chain with its hints.
pub fn write_error(out: &mut impl Write, err: &anyhow::Error) -> std::io::Result<()> {
    let mut hints = Vec::new();
    let mut first = true;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            hints.extend(h.hints.iter().cloned());
        }
        let text = without_controls(&cause.to_string());
        if first {
            writeln!(out, "pushguard: error: {text}")?;
            first = false;
        } else {
            writeln!(out, "  caused by: {}", text.replace('\n', "\n    "))?;
        }
    }
    for h in hints {
        writeln!(out, "hint: {}", without_controls(&h))?;
    }
    Ok(())
}

/// Escapes control characters other than newlines and tabs: an error may quote a URL, a
/// path or a config line from an untrusted source, and no raw escape sequence may reach
/// the terminal.
fn without_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// What a ref update does, in short: `create at X`, `delete (was X)` or `X..Y`.
fn change_summary(update: &RefUpdate) -> String {
    match update.change() {
        Change::Create => format!("create at {}", short(&update.local_oid)),
        Change::Delete => format!("delete (was {})", short(&update.remote_oid)),
        Change::Update => format!(
            "{}..{}",
            short(&update.remote_oid),
            short(&update.local_oid)
        ),
    }
}

/// Writes the heading for one gated ref update: on a client `[env] HEAD → origin/branch`,
/// on the server `[env] push to branch`.
pub fn write_heading(
    out: &mut impl Write,
    st: &Styles,
    wording: &Wording,
    environment: &str,
    update: &RefUpdate,
) -> std::io::Result<()> {
    let branch = escape(update.branch().unwrap_or(&update.remote_ref), 120);
    let what = change_summary(update);
    let env = st.bold.apply_to(format!("[{environment}]"));
    match wording {
        Wording::Client { remote } | Wording::DryRun { remote } => writeln!(
            out,
            "pushguard: {env} {} → {} ({what})",
            escape(&update.local_ref, 120),
            st.bold
                .apply_to(format!("{}/{branch}", escape(remote, 200))),
        ),
        Wording::Server { .. } => {
            let alias = if update.local_ref != update.remote_ref {
                format!(" through {}", escape(&update.local_ref, 120))
            } else {
                String::new()
            };
            writeln!(
                out,
                "pushguard: {env} push to {}{alias} ({what})",
                st.bold.apply_to(branch),
            )
        }
    }
}

/// Writes one line per check result, with its further lines and hint.
pub fn write_results(
    out: &mut impl Write,
    st: &Styles,
    results: &[CheckResult],
) -> std::io::Result<()> {
    write_aligned(out, st, results, results.iter().collect())
}

/// Says that the checks skipped after a failure run now, before a bypass is accepted.
pub fn write_deferred_heading(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "  before the bypass is accepted, the checks skipped above run, so the record shows what is bypassed:"
    )
}

/// Writes the results of the checks that were skipped after a failure and ran before a
/// bypass is accepted, aligned with the report above them.
pub fn write_deferred(
    out: &mut impl Write,
    st: &Styles,
    all: &[CheckResult],
    ran: &[crate::checks::CheckId],
) -> std::io::Result<()> {
    write_aligned(
        out,
        st,
        all,
        all.iter().filter(|r| ran.contains(&r.id)).collect(),
    )
}

/// Writes `shown`, with the check names padded to the widest in `all`.
fn write_aligned(
    out: &mut impl Write,
    st: &Styles,
    all: &[CheckResult],
    shown: Vec<&CheckResult>,
) -> std::io::Result<()> {
    let width = all.iter().map(|r| r.id.as_str().len()).max().unwrap_or(0);
    for r in shown {
        let (mark, style) = match r.outcome {
            Outcome::Pass => ("✓", &st.pass),
            Outcome::Fail => ("✗", &st.fail),
            Outcome::Skip => ("-", &st.skip),
        };
        let skip = if r.outcome == Outcome::Skip {
            "skip: "
        } else {
            ""
        };
        writeln!(
            out,
            "  {} {:width$}  {skip}{}",
            style.apply_to(mark),
            r.id.as_str(),
            escape(&r.detail, 400),
        )?;
        for line in &r.more {
            writeln!(out, "      {}", st.dim.apply_to(escape(line, 400)))?;
        }
        if r.outcome == Outcome::Fail {
            if let Some(h) = &r.hint {
                writeln!(out, "      hint: {h}")?;
            }
        }
    }
    Ok(())
}

/// Writes the line that closes one ref update's report.
pub fn write_decision(
    out: &mut impl Write,
    st: &Styles,
    environment: &str,
    decision: Decision,
    failed: &[CheckResult],
) -> std::io::Result<()> {
    let names: Vec<&str> = failed.iter().map(|r| r.id.as_str()).collect();
    match decision {
        Decision::Allowed => writeln!(
            out,
            "pushguard: {} push to {environment} allowed",
            st.pass.apply_to("✓")
        ),
        Decision::Bypassed => writeln!(
            out,
            "pushguard: {} push to {environment} BYPASSED the gate ({}); recorded with the justification",
            st.skip.apply_to("!"),
            names.join(", ")
        ),
        Decision::Blocked => {
            if names.is_empty() {
                writeln!(
                    out,
                    "pushguard: {} push to {environment} blocked",
                    st.fail.apply_to("✗")
                )
            } else {
                writeln!(
                    out,
                    "pushguard: {} push to {environment} blocked: {} check{} failed ({})",
                    st.fail.apply_to("✗"),
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                )
            }
        }
    }
}

/// Writes what the answers were (where they came from), or why the push is blocked and the
/// way forward, in the site's words.
pub fn write_answers(
    out: &mut impl Write,
    st: &Styles,
    wording: &Wording,
    environment: &Environment,
    rules: &Rules,
    answers: &Answers,
    verdict: &Verdict,
) -> std::io::Result<()> {
    let env = &environment.name;
    let consulted = answers.consulted.as_deref().map(|c| escape(c, 120));
    match (&answers.source, &consulted) {
        (Source::Reused, _) => writeln!(
            out,
            "  using the answers given a moment ago for this commit (git runs the hook once per push URL)"
        )?,
        (
            Source::Confirmation {
                created,
                affirmed_with_flag,
            },
            Some(name),
        ) => writeln!(
            out,
            "  consulted {name}: confirmed with `pushguard confirm` at {created}{}",
            if *affirmed_with_flag {
                "; checklist affirmed with --affirm-checklist"
            } else {
                ""
            }
        )?,
        (Source::Environment, Some(name)) => {
            writeln!(out, "  consulted {name} (from {CONSULTED_ENV})")?
        }
        (Source::PushOptions, Some(name)) => {
            writeln!(out, "  consulted {name} (push option `consulted`)")?
        }
        (Source::ClientRecord { signer, .. }, Some(name)) => {
            writeln!(out, "  consulted {name} ({})", client_record_words(signer))?
        }
        (Source::Prompt, Some(name)) if answers.refusal.is_none() => {
            writeln!(out, "  consulted {name}")?
        }
        _ => {}
    }
    if verdict.decision == Decision::Bypassed {
        if let Some(why) = &answers.justification {
            let from = match &answers.source {
                Source::PushOptions => " (push option `bypass`)".to_owned(),
                Source::ClientRecord { signer, .. } => {
                    format!(" ({})", client_record_words(signer))
                }
                _ => String::new(),
            };
            writeln!(out, "  justification: {}{from}", escape(why, 400))?;
        }
        if !rules.frozen.is_empty() {
            writeln!(
                out,
                "  overrides the freeze {} (recorded)",
                quoted_names(&rules.freeze_names())
            )?;
        }
    }
    let Some(block) = &verdict.block else {
        return Ok(());
    };
    let min = rules.min_length;
    if write_block_anywhere(out, block, env)? {
        return Ok(());
    }
    // A push refused for its checks meets the confirmation next (issue 24, item 5): say so
    // now, unless it was given or the environment needs none.
    let confirmation_next = environment.confirm && answers.consulted.is_none();
    let names = rules.freeze_names();
    if let Wording::Server { options } = wording {
        return write_server_block(out, block, env, min, &names, *options, confirmation_next);
    }
    let freeze_var = if names.is_empty() {
        String::new()
    } else {
        format!(" {FREEZE_ENV}={}", shell_quote(&names.join(",")))
    };
    match block {
        Block::ChecksFailed | Block::BypassDeclined => writeln!(
            out,
            "  fix the failed checks (`pushguard check {env}` runs them again), then push again"
        ),
        Block::NotConsulted | Block::SaidNotConsulted => writeln!(
            out,
            "  talk to a lead or senior about this push first, then push again"
        ),
        Block::ChecklistNo(item) => writeln!(
            out,
            "  checklist item answered No: {}",
            escape(item, 200)
        ),
        Block::BypassRefused(problem) => writeln!(
            out,
            "  {BYPASS_ENV} was refused: {problem}\n  hint: give a real reason, at least {min} characters: {BYPASS_ENV}=\"<why this push cannot wait>\"{freeze_var} git push …"
        ),
        Block::NeedsBypass if !names.is_empty() => writeln!(
            out,
            "  no terminal to ask on (no /dev/tty, or {NONINTERACTIVE_ENV} is set)\n  hint: wait until the freeze ends, or override it: a bypass that names the freeze, with a justification (at least {min} characters; it is recorded):\n      {BYPASS_ENV}=\"<why this push cannot wait>\"{freeze_var} git push …"
        ),
        Block::NeedsBypass => {
            writeln!(
                out,
                "  no terminal to ask on (no /dev/tty, or {NONINTERACTIVE_ENV} is set)\n  hint: fix the failed checks, or bypass them with a justification (at least {min} characters; it is recorded):\n      {BYPASS_ENV}=\"<why this push cannot wait>\" git push …"
            )?;
            if confirmation_next {
                writeln!(
                    out,
                    "  once the checks pass, {env} also needs confirmation that a lead or senior was consulted (a bypass covers it):\n      {CONSULTED_ENV}=\"Name\" git push …"
                )?;
            }
            Ok(())
        }
        Block::FreezeNotNamed { given, .. } => writeln!(
            out,
            "  the bypass does not override the freeze: {}\n  hint: name the freeze with the justification:\n      {BYPASS_ENV}=\"<why this push cannot wait>\"{freeze_var} git push …",
            not_named(&names, given.as_deref(), &format!("{FREEZE_ENV} is not set"), &format!("{FREEZE_ENV} names"))
        ),
        Block::NeedsChecklist { consulted } => writeln!(
            out,
            "  {env} has a checklist, which only `pushguard confirm` records. Either:\n  - confirm in a terminal (it asks the checklist), then push again:\n      pushguard confirm {env} --consulted {name}\n  - or confirm from a script, affirming the checklist (recorded as such):\n      pushguard confirm {env} --consulted {name} --affirm-checklist",
            name = shell_quote(&escape(consulted, 120)),
        ),
        Block::NeedsConfirmation { checklist, expired } => {
            if let Some(at) = expired {
                writeln!(out, "  the confirmation given with `pushguard confirm` expired at {at}")?;
            }
            writeln!(
                out,
                "  {} needs confirmation that a lead or senior was consulted, and there is no terminal to ask on\n  (no /dev/tty, or {NONINTERACTIVE_ENV} is set). Either:",
                st.bold.apply_to(env)
            )?;
            if *checklist {
                writeln!(
                    out,
                    "  - confirm in a terminal (it asks who you consulted and the checklist), then push again:\n      pushguard confirm {env}\n  - or confirm from a script, affirming the checklist (recorded as such):\n      pushguard confirm {env} --consulted \"Name\" --affirm-checklist"
                )
            } else {
                writeln!(
                    out,
                    "  - name who you consulted, for this push:\n      {CONSULTED_ENV}=\"Name\" git push …\n  - or confirm ahead of time (single use, valid 30 minutes), then push again:\n      pushguard confirm {env} --consulted \"Name\""
                )
            }
        }
        // Written by `write_block_anywhere`.
        Block::BypassDisabled
        | Block::DeleteNotBypassable
        | Block::Stopped(_)
        | Block::ChainedRefused(_)
        | Block::FreezeLocked { .. }
        | Block::NotBypasser { .. } => Ok(()),
    }
}

/// `` `a`, `b` ``: window names as the report quotes them.
pub fn quoted_names(names: &[&str]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("`{}`", escape(n, 60)))
        .collect();
    quoted.join(", ")
}

/// Why a bypass does not name the windows that freeze the environment: `none` when it names
/// no window, else `names` followed by what it named.
fn not_named(windows: &[&str], given: Option<&str>, none: &str, names: &str) -> String {
    let needed = format!(
        "{} {} {} now",
        if windows.len() == 1 {
            "the window"
        } else {
            "the windows"
        },
        quoted_names(windows),
        if windows.len() == 1 {
            "freezes it"
        } else {
            "freeze it"
        },
    );
    match given {
        None => format!("{none}; {needed}"),
        Some(g) => format!("{names} `{}`; {needed}", escape(g, 120)),
    }
}

/// Writes a block that reads the same at every site; `false` for one that does not.
fn write_block_anywhere(out: &mut impl Write, block: &Block, env: &str) -> std::io::Result<bool> {
    match block {
        Block::BypassDisabled => writeln!(
            out,
            "  bypass is disabled for {env} (`bypass = false`): only fixing the cause of the failed checks gets this push through"
        )?,
        Block::DeleteNotBypassable => writeln!(
            out,
            "  deleting the {env} branch is not covered by a bypass (set `bypass_delete = true` in [environments.{env}] to allow it)"
        )?,
        Block::Stopped(stop) => write_stop(out, stop)?,
        Block::FreezeLocked {
            window,
            contact,
            policy,
        } => writeln!(
            out,
            "  the freeze `{}` cannot be overridden (`override = false`): no bypass gets a push to {env} through until it ends\n  hint: to change that, ask {} to change the window in the policy",
            escape(window, 60),
            match contact {
                Some(c) => escape(c, 120),
                None => format!("whoever keeps the {}", escape(policy, 200)),
            }
        )?,
        Block::NotBypasser { who, allowed } => writeln!(
            out,
            "  you may not bypass in {env}: `bypass_by` lets only these bypass: {} ({})\n  hint: fix the failed checks, or ask one of them to push",
            escape(&allowed.join(", "), 300),
            match who {
                Some(ids) if !ids.is_empty() => format!("you are {}", escape(&ids.join(", "), 200)),
                _ => "pushguard cannot tell who you are here: where signatures are required, `bypass_by` lists principals and your signing key must be in the allowed signers".to_owned(),
            }
        )?,
        // Said after the chained hook ran, with the decision.
        Block::ChainedRefused(_) => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// Writes how a dialogue (or a running check) was cut short.
fn write_stop(out: &mut impl Write, stop: &Stop) -> std::io::Result<()> {
    match stop {
        Stop::Interrupted => writeln!(out, "  interrupted (Ctrl-C): nothing was pushed"),
        Stop::TimedOut(d) => writeln!(
            out,
            "  no answer within {} (`[confirm].timeout`): nothing was pushed",
            humantime::format_duration(*d)
        ),
        Stop::EndOfInput => writeln!(
            out,
            "  the terminal closed (end of input): nothing was pushed"
        ),
        Stop::Failed(e) => writeln!(out, "  the prompt failed: {}", escape(e, 200)),
    }
}

/// Writes why the server refuses a push, and how to attest with push options.
fn write_server_block(
    out: &mut impl Write,
    block: &Block,
    environment: &str,
    min_length: usize,
    frozen: &[&str],
    options: PushOptions,
    confirmation_next: bool,
) -> std::io::Result<()> {
    let freeze_option = if frozen.is_empty() {
        String::new()
    } else {
        format!(" -o freeze={}", shell_quote(&frozen.join(",")))
    };
    match block {
        Block::NotConsulted | Block::SaidNotConsulted | Block::ChecklistNo(_) => writeln!(
            out,
            "  {environment} needs confirmation that a lead or senior was consulted: talk to one, then name them in a push option:\n      git push -o consulted=\"Name\" …"
        )?,
        Block::BypassRefused(problem) => writeln!(
            out,
            "  the push option `bypass` was refused: {problem}\n  hint: give a real reason, at least {min_length} characters: git push -o bypass=\"<why this push cannot wait>\"{freeze_option} …"
        )?,
        Block::FreezeNotNamed { given, .. } => writeln!(
            out,
            "  the bypass does not override the freeze: {}\n  hint: name the freeze with the justification:\n      git push -o bypass=\"<why this push cannot wait>\"{freeze_option} …",
            not_named(frozen, given.as_deref(), "no push option `freeze`", "the push option `freeze` names")
        )?,
        _ if !frozen.is_empty() => writeln!(
            out,
            "  wait until the freeze ends, or override it: a bypass that names the freeze, with a justification (at least {min_length} characters; it is recorded):\n      git push -o bypass=\"<why this push cannot wait>\"{freeze_option} …"
        )?,
        _ => {
            writeln!(
                out,
                "  fix the failed checks, or bypass them with a justification (at least {min_length} characters; it is recorded):\n      git push -o bypass=\"<why this push cannot wait>\" …"
            )?;
            if confirmation_next {
                writeln!(
                    out,
                    "  once the checks pass, {environment} also needs confirmation that a lead or senior was consulted (a bypass covers it):\n      git push -o consulted=\"Name\" …"
                )?;
            }
        }
    }
    match options {
        PushOptions::Accepted => Ok(()),
        PushOptions::NotAdvertised => writeln!(
            out,
            "  note: this server does not accept push options yet (`git push -o` fails): its administrator must run\n      git config receive.advertisePushOptions true\n  in the repository on the server"
        ),
        PushOptions::UpdateHook => writeln!(
            out,
            "  note: git gives the update hook no push options: the server's administrator must install pushguard as the pre-receive hook (`pushguard install` in the bare repository)"
        ),
    }
}

/// Writes, on a server, that a push refused for some of its refs is refused whole: git
/// updates none of a push's refs when pre-receive fails (issue 24), so the refs whose checks
/// passed (`passed`, branch names) do not move either; their records stay `allowed` and are
/// not shared (they did not land).
pub fn write_refused_whole(out: &mut dyn Write, passed: &[&str]) -> std::io::Result<()> {
    let names = passed
        .iter()
        .map(|b| escape(b, 80))
        .collect::<Vec<_>>()
        .join(", ");
    let (them, is, its) = if passed.len() == 1 {
        ("it", "is", "its")
    } else {
        ("them", "are", "their")
    };
    writeln!(
        out,
        "pushguard: the push is refused whole (git updates none of a push's refs when the pre-receive hook refuses one): {names} {is} not updated either, though {its} checks passed (recorded as allowed; it did not land)"
    )?;
    writeln!(
        out,
        "  hint: fix the refused ref and push again, or push {names} alone to update {them} now"
    )
}

/// Writes that the hook chained after pushguard refused the push, which is recorded so.
/// Said after a gated push in a SHA-256 repository: its records are not shared as notes.
pub const SHA256_RECORDS_LOCAL: &str = "pushguard: note: this repository uses SHA-256 object names: the record is in this clone's audit log, but sharing records as notes goes through libgit2, which cannot read them yet (`pushguard audit` on the remote will not find it)";

/// Why a push to an environment that requires signed records is blocked in a SHA-256
/// repository.
pub fn sha256_cannot_sign(environment: &str) -> String {
    format!(
        "  ✗ {environment} requires signed records, and pushguard signs through libgit2, which cannot read this repository's SHA-256 object names yet\n    hint: bypass with a justification (recorded, unsigned), or push from a SHA-1 repository"
    )
}

pub fn write_chained_refusal(out: &mut impl Write, why: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "pushguard: {}: the push is blocked and recorded so",
        escape(why, 400)
    )
}

/// Writes why a push is blocked when its audit record could not be written.
pub fn write_unrecorded(out: &mut impl Write, err: &anyhow::Error) -> std::io::Result<()> {
    writeln!(
        out,
        "pushguard: error: the audit record could not be written, so the push is blocked (nothing passes unrecorded)"
    )?;
    for cause in err.chain() {
        writeln!(out, "  caused by: {}", escape(&cause.to_string(), 400))?;
    }
    writeln!(
        out,
        "hint: make the state directory writable (or free disk space), then push again; `pushguard log --verify` checks the log"
    )
}

/// Quotes a value for a POSIX shell command line.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@/:".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Makes untrusted text (a name, a justification, a checklist item) safe for a terminal.
pub fn escape_for_terminal(text: &str) -> String {
    escape(text, 400)
}
/// Writes the line that closes `pushguard check`'s report.
pub fn write_dry_run(
    out: &mut impl Write,
    st: &Styles,
    environment: &str,
    failed: &[CheckResult],
) -> std::io::Result<()> {
    if failed.is_empty() {
        return writeln!(
            out,
            "pushguard: {} a push to {environment} would pass the checks (dry run: nothing asked, nothing recorded)",
            st.pass.apply_to("✓")
        );
    }
    let names: Vec<&str> = failed.iter().map(|r| r.id.as_str()).collect();
    writeln!(
        out,
        "pushguard: {} a push to {environment} would be blocked: {} check{} failed ({})",
        st.fail.apply_to("✗"),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

/// How the report names a client's record taken as the attestation: signed by a verified
/// principal, or unsigned (self-asserted, like a push option).
pub fn client_record_words(signer: &Option<String>) -> String {
    match signer {
        Some(s) => format!(
            "the client hook's signed record, signed by {}",
            escape(s, 80)
        ),
        None => "the client hook's unsigned record: self-asserted, like a push option".to_owned(),
    }
}

/// The `attestation` field of a server's record: where the answers came from, when not
/// from nowhere (issue 22: a push option and an unsigned client record are both the pusher's
/// own word, and the record says which it was).
pub fn attestation_field(source: &Source) -> Option<String> {
    match source {
        Source::ClientRecord {
            hash,
            signer: Some(signer),
        } => Some(format!(
            "the client's signed record {hash}, signed by {signer}"
        )),
        Source::ClientRecord { hash, signer: None } => Some(format!(
            "the client's unsigned record {hash} (self-asserted, like a push option)"
        )),
        Source::PushOptions => Some("push options (self-asserted)".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_issue_6_errors_never_carry_raw_control_characters() {
        let err = anyhow::anyhow!("config line \"\x1b[31mred\x07\"\n  | next\tline")
            .context("failed to push to `/tmp/remote\x1b]0;x\x07.git`");
        let err = crate::outcome::with_hint(err, "see `\x1b[2J`");
        let mut out = Vec::new();
        write_error(&mut out, &err).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.contains("remote\\u{1b}]0;x\\u{7}.git"), "{text}");
        assert!(text.contains("\n      | next\tline"), "{text:?}");
        assert!(text.contains("hint: see `\\u{1b}[2J`"), "{text}");
    }
}
