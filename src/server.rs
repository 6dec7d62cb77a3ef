//! Server mode: `pushguard hook pre-receive` and `pushguard hook update` in the receiving
//! (usually bare) repository of a self-hosted git server.
//!
//! The server enforces the objective checks with the same code as the client hook
//! ([`checks::Mode::Server`]): `promoted` against the server's own branches, `approvals` from
//! its own notes, no fetch. The client-only checks (`clean-worktree`, `tests`) are skipped and
//! say so; `authorized` needs a pusher the server names. Nobody can be asked on a server, so
//! the attestation comes from push options: `git push -o consulted="Name"` and
//! `-o bypass="why"` (git passes them as `GIT_PUSH_OPTION_<n>` when the repository sets
//! `receive.advertisePushOptions`). Every gated ref is recorded in the server's own audit log,
//! `<repository>/pushguard/audit.jsonl`; the report goes to stderr, which git relays to the
//! pusher as `remote:` lines.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::checks::{CheckId, Context, Mode};
use crate::config::Environment;
use crate::gate::{self, Answers, Decision};
use crate::git::{Identity, Repo};
use crate::push::{escape, ParseError, RefUpdate};
use crate::report::{self, Styles};
use crate::{audit, prompt, Exit};

/// File name, beside the installed pre-receive hook, of a foreign hook that pushguard chains.
pub const CHAINED_HOOK: &str = "pre-receive.pushguard-chained";

/// What the reports and hints call the pusher's remote, whose name the server cannot know.
pub const REMOTE_PLACEHOLDER: &str = "<remote>";

/// What the audit records of the server put in `remote`.
pub const RECORD_REMOTE: &str = "(server)";

/// The variables by which git servers name the authenticated pusher, in the order tried:
/// Gitea/Forgejo, GitLab, Gitolite, and the web server in front of `git http-backend`.
pub const PUSHER_VARIABLES: [&str; 5] = [
    "GITEA_PUSHER_EMAIL",
    "GITEA_PUSHER_NAME",
    "GL_USERNAME",
    "GL_USER",
    "REMOTE_USER",
];

/// The git hook pushguard runs as on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// All ref updates at once on stdin; push options in the environment.
    PreReceive,
    /// One ref update per run, as arguments; git gives this hook no push options.
    Update,
}

/// Who pushed, and how the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub identity: Identity,
    /// The variable that named the pusher; `None`: the pushed tip's committer stands in.
    pub named_by: Option<&'static str>,
}

impl Pusher {
    /// The identity as the audit record shows it: the name says where it came from.
    pub fn recorded(&self) -> Identity {
        let name = &self.identity.name;
        let name = match self.named_by {
            Some(var) => format!("{name} (pusher, from {var})"),
            None if name.is_empty() && self.identity.email.is_empty() => {
                "(unknown: the server did not name the pusher)".to_owned()
            }
            None => {
                format!("{name} (committer of the pushed tip; the server did not name the pusher)")
            }
        };
        Identity {
            name,
            email: self.identity.email.clone(),
        }
    }
}

/// The pusher the server names in its environment, if any.
pub fn named_pusher() -> Option<Pusher> {
    pusher_from(prompt::env_value)
}

/// The pusher named by the variables `get` returns (pure, for tests).
pub fn pusher_from(get: impl Fn(&str) -> Option<String>) -> Option<Pusher> {
    if let Some(email) = get("GITEA_PUSHER_EMAIL") {
        return Some(Pusher {
            identity: Identity {
                name: get("GITEA_PUSHER_NAME").unwrap_or_default(),
                email,
            },
            named_by: Some("GITEA_PUSHER_EMAIL"),
        });
    }
    PUSHER_VARIABLES[1..].iter().find_map(|&var| {
        get(var).map(|name| Pusher {
            identity: Identity {
                name,
                email: String::new(),
            },
            named_by: Some(var),
        })
    })
}

/// The pusher: the one the server names, else the pushed tip's committer.
pub fn pusher(repo: &Repo, update: &RefUpdate) -> Pusher {
    if let Some(named) = named_pusher() {
        return named;
    }
    let committer = update
        .new_oid()
        .and_then(|n| repo.peel_commit(n).ok().flatten())
        .and_then(|oid| repo.git2().find_commit(oid).ok())
        .map(|c| {
            let who = c.committer();
            Identity {
                name: String::from_utf8_lossy(who.name_bytes()).into_owned(),
                email: String::from_utf8_lossy(who.email_bytes()).into_owned(),
            }
        })
        .unwrap_or_default();
    Pusher {
        identity: committer,
        named_by: None,
    }
}

/// Why a check cannot run on the server, if it cannot.
pub fn client_only(id: CheckId) -> Option<&'static str> {
    match id {
        CheckId::CleanWorktree => {
            Some("client-side only: the server has no work tree (the pre-push hook checks it)")
        }
        CheckId::Tests => Some(
            "client-side only: the server does not run the project's tests (the pre-push hook and `pushguard check` do)",
        ),
        _ => None,
    }
}

/// Parses git's pre-receive input: lines `<old> SP <new> SP <refname>`.
pub fn parse(input: &[u8]) -> Result<Vec<RefUpdate>, ParseError> {
    crate::push::parse_lines(input, |text| {
        let mut fields = text.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err("expected `<old oid> <new oid> <ref name>`");
        };
        ref_update(refname, old, new)
    })
}

/// A ref update as the server receives it; the client's own ref name is unknown here.
pub fn ref_update(refname: &str, old: &str, new: &str) -> Result<RefUpdate, &'static str> {
    if !crate::push::is_object_name(old) || !crate::push::is_object_name(new) {
        return Err("object names must be 40 or 64 hexadecimal digits");
    }
    if old.len() != new.len() {
        return Err("object names of different lengths");
    }
    if !refname.starts_with("refs/") {
        return Err("the ref must be a full ref name (refs/…)");
    }
    Ok(RefUpdate {
        local_ref: refname.to_owned(),
        local_oid: new.to_ascii_lowercase(),
        remote_ref: refname.to_owned(),
        remote_oid: old.to_ascii_lowercase(),
    })
}

/// What the pusher attested with push options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attestation {
    /// `-o consulted=Name`.
    pub consulted: Option<String>,
    /// `-o bypass=why`.
    pub bypass: Option<String>,
}

/// Reads the attestation from push options (`key=value`; other options are other tools').
pub fn attestation(options: &[String]) -> Attestation {
    let mut out = Attestation::default();
    for option in options {
        let Some((key, value)) = option.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "consulted" => out.consulted = Some(value.to_owned()),
            "bypass" => out.bypass = Some(value.to_owned()),
            _ => {}
        }
    }
    out
}

/// The push options git passed to the hook (`GIT_PUSH_OPTION_COUNT`, `GIT_PUSH_OPTION_<n>`).
fn push_options() -> Vec<String> {
    let count: usize = std::env::var("GIT_PUSH_OPTION_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (0..count)
        .filter_map(|n| std::env::var(format!("GIT_PUSH_OPTION_{n}")).ok())
        .collect()
}

/// Why the server refuses a ref update that the checks alone would not explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// `confirm = true` and no `-o consulted=…`.
    NotConsulted,
    /// Checks failed and no `-o bypass=…`.
    ChecksFailed,
    /// `-o bypass=…` was given but is not a justification.
    BypassRefused(String),
    /// `-o bypass=…` was given and the environment has `bypass = false`.
    BypassDisabled,
}

/// Turns the attestation into the gate's answers, and says why a push is blocked when the
/// answers cannot get it through. Pure.
pub fn settle(
    checks_passed: bool,
    environment: &Environment,
    given: &Attestation,
    min_length: usize,
) -> (Answers, Option<Block>) {
    let mut answers = Answers {
        consulted: given.consulted.clone(),
        // The server does not ask the checklist: the client hook does.
        checklist_affirmed: true,
        justification: None,
    };
    let not_consulted = environment.confirm && answers.consulted.is_none();
    if checks_passed && !not_consulted {
        // A bypass given for a push that needs none is not recorded as one.
        return (answers, None);
    }
    let block = match &given.bypass {
        Some(_) if !environment.bypass => Block::BypassDisabled,
        Some(why) => match prompt::justification_problem(why, min_length) {
            Some(problem) => Block::BypassRefused(problem),
            None => {
                answers.justification = Some(why.clone());
                return (answers, None);
            }
        },
        None if !checks_passed => Block::ChecksFailed,
        None => Block::NotConsulted,
    };
    (answers, Some(block))
}

/// Runs the pre-receive hook: gates every ref update, then the chained hook.
pub fn pre_receive(hook_dir: Option<&Path>) -> Result<Exit> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("failed to read the pre-receive input from stdin")?;
    let updates = parse(&input)?;
    let exit = gate_updates(Hook::PreReceive, &updates)?;
    if exit != Exit::Success {
        return Ok(exit);
    }
    let chained = match hook_dir {
        Some(dir) => {
            crate::hook::run_chained_hook(&dir.join(CHAINED_HOOK), "pre-receive", &[], &input)
        }
        None => Ok(Exit::Success),
    };
    if !matches!(chained, Ok(Exit::Success)) {
        // Refused after all: post-receive will not run for these records.
        crate::post_receive::forget(&updates);
    }
    chained
}

/// Runs the update hook for one ref.
pub fn update(refname: &str, old: &str, new: &str) -> Result<Exit> {
    let update = ref_update(refname, old, new).map_err(|reason| ParseError {
        line_number: 1,
        line: escape(&format!("{refname} {old} {new}"), 200),
        reason,
    })?;
    gate_updates(Hook::Update, std::slice::from_ref(&update))
}

/// Gates every environment ref update; `Exit::Success` when all are allowed.
fn gate_updates(hook: Hook, updates: &[RefUpdate]) -> Result<Exit> {
    if updates.is_empty() {
        return Ok(Exit::Success);
    }
    let config = crate::config::load(&crate::config::Location::for_server())?;
    let gated = crate::hook::classify(&config, updates)?;
    if gated.is_empty() {
        return Ok(Exit::Success);
    }
    if gated.iter().any(|(u, _)| u.local_oid.len() == 64) {
        anyhow::bail!("this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot read yet, so its server mode cannot check environment branches here");
    }
    let repo = Repo::open_from_env()?;
    let url = repo
        .common_dir()
        .to_string_lossy()
        .trim_end_matches('/')
        .to_owned();
    let given = match hook {
        Hook::PreReceive => attestation(&push_options()),
        Hook::Update => Attestation::default(),
    };
    let advertised = repo
        .git2()
        .config()
        .and_then(|c| c.get_bool("receive.advertisePushOptions"))
        .unwrap_or(false);
    let options = match (hook, advertised) {
        (Hook::Update, _) => report::PushOptions::UpdateHook,
        (Hook::PreReceive, true) => report::PushOptions::Accepted,
        (Hook::PreReceive, false) => report::PushOptions::NotAdvertised,
    };
    let st = Styles::stderr();
    let mut err = std::io::stderr().lock();
    let mut all_allowed = true;
    let mut recorded = Vec::new();
    for (update, environment) in &gated {
        let ctx = Context::new(
            &repo,
            &config,
            environment,
            update,
            None,
            REMOTE_PLACEHOLDER,
            Mode::Server,
        );
        report::write_server_heading(&mut err, &st, &environment.name, update)?;
        let verdict = gate::evaluate(&ctx);
        report::write_results(&mut err, &st, &verdict.results)?;
        let (answers, block) = settle(
            verdict.passed(),
            environment,
            &given,
            config.bypass.min_length,
        );
        let mut decision = gate::decide(
            &verdict,
            environment.confirm,
            false,
            environment.bypass,
            &answers,
        );
        let range = ctx.pushed_commits().unwrap_or_default();
        let record = audit::Record {
            user: pusher(&repo, update).recorded(),
            remote: RECORD_REMOTE.to_owned(),
            url: url.clone(),
            commits: range.len() as u64,
            ..audit::Record::gated(
                update,
                &environment.name,
                decision,
                &verdict.results,
                &answers,
            )
        };
        report::write_server_answers(
            &mut err,
            &answers,
            decision,
            block.as_ref().filter(|_| decision == Decision::Blocked),
            &environment.name,
            config.bypass.min_length,
            options,
        )?;
        match audit::append(&repo.state_dir(), record, audit::LOCK_TIMEOUT) {
            Ok(record) => recorded.push(record),
            Err(e) => {
                decision = Decision::Blocked;
                report::write_unrecorded(&mut err, &e)?;
            }
        }
        let failed: Vec<_> = verdict.failed().cloned().collect();
        report::write_decision(&mut err, &st, &environment.name, decision, &failed)?;
        all_allowed &= decision != Decision::Blocked;
    }
    if all_allowed {
        // The notes ref cannot be written while the pushed objects are quarantined: the
        // post-receive hook attaches these records once the refs are updated.
        if let Err(e) = crate::post_receive::remember(&repo.state_dir(), &recorded) {
            writeln!(
                err,
                "pushguard: warning: the record will not be attached to {} (the post-receive hook will not find it): {e:#}",
                crate::notes::AUDIT.full()
            )?;
        }
    }
    err.flush()?;
    Ok(if all_allowed {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn env(confirm: bool, bypass: bool) -> Environment {
        let config = Config::from_layers(vec![(
            crate::config::Source::Embedded,
            crate::config::DEFAULT_TOML.to_owned(),
        )])
        .unwrap();
        let mut e = config.environment("production").unwrap().clone();
        e.confirm = confirm;
        e.bypass = bypass;
        e
    }

    #[test]
    fn parses_receive_lines() {
        let input = format!("{Z} {A} refs/heads/production\n{A} {Z} refs/heads/old\n");
        let u = parse(input.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].change(), crate::push::Change::Create);
        assert_eq!(u[0].branch(), Some("production"));
        assert_eq!(u[1].change(), crate::push::Change::Delete);
        assert!(parse(b"nonsense\n").is_err());
        assert!(parse(format!("{A} {A} production\n").as_bytes()).is_err());
    }

    #[test]
    fn push_options_give_the_attestation() {
        let a = attestation(&[
            "ci.skip".into(),
            "consulted=Ada Lead".into(),
            "bypass= incident 42: the site is down ".into(),
        ]);
        assert_eq!(a.consulted.as_deref(), Some("Ada Lead"));
        assert_eq!(a.bypass.as_deref(), Some("incident 42: the site is down"));
        assert_eq!(attestation(&["consulted=".into()]), Attestation::default());
    }

    #[test]
    fn settle_blocks_without_consulted_and_bypasses_with_a_reason() {
        let none = Attestation::default();
        assert_eq!(settle(true, &env(false, true), &none, 15).1, None);
        assert_eq!(
            settle(true, &env(true, true), &none, 15).1,
            Some(Block::NotConsulted)
        );
        assert_eq!(
            settle(false, &env(true, true), &none, 15).1,
            Some(Block::ChecksFailed)
        );
        let bypass = Attestation {
            consulted: None,
            bypass: Some("incident 42: the site is down".into()),
        };
        let (answers, block) = settle(false, &env(true, true), &bypass, 15);
        assert_eq!(block, None);
        assert!(answers.justification.is_some());
        // Not needed: not recorded as a bypass.
        let both = Attestation {
            consulted: Some("Ada".into()),
            ..bypass.clone()
        };
        assert_eq!(
            settle(true, &env(true, true), &both, 15).0.justification,
            None
        );
        assert_eq!(
            settle(false, &env(true, false), &bypass, 15).1,
            Some(Block::BypassDisabled)
        );
        let short = Attestation {
            consulted: None,
            bypass: Some("because".into()),
        };
        assert!(matches!(
            settle(false, &env(true, true), &short, 15).1,
            Some(Block::BypassRefused(_))
        ));
    }

    #[test]
    fn pusher_variables_in_order() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(pusher_from(vars(&[])), None);
        let p = pusher_from(vars(&[("REMOTE_USER", "ada"), ("GL_USERNAME", "bob")])).unwrap();
        assert_eq!(p.named_by, Some("GL_USERNAME"));
        assert_eq!(p.identity.name, "bob");
        let p = pusher_from(vars(&[
            ("GITEA_PUSHER_EMAIL", "ada@example.com"),
            ("GITEA_PUSHER_NAME", "Ada"),
        ]))
        .unwrap();
        assert_eq!(p.identity.email, "ada@example.com");
        assert_eq!(p.recorded().name, "Ada (pusher, from GITEA_PUSHER_EMAIL)");
    }
}
