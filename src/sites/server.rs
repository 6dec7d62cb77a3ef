//! The server: `pushguard hook pre-receive` / `hook update` in the receiving (usually bare)
//! repository.
//!
//! Facts come from the repository's own branches and notes (nothing is fetched); the
//! client-only checks (`clean-worktree`, `tests`) are skipped and say so; the pusher is the
//! one the server names (never a commit's committer, which anyone can set), or the signer of
//! a good push certificate (`git push --signed`, [`super::push_cert`]); nobody can be asked,
//! so the attestation comes from push options (`git push -o consulted="Name"`,
//! `-o bypass="why"`), else from the client hook's signed record of the same update
//! ([`super::attested`]); records go to the server's own log and, through the post-receive
//! hook, to its own trail ref `refs/notes/pushguard-audit.d/server`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::attested::{self, Update};
use super::push_cert::{self, PushCert};
use super::sha256::GitFacts;
use super::ChainedHook;
use crate::audit::{self, Record};
use crate::checks::{self, Account, CheckId, CheckResult, Context, Pusher, Refs};
use crate::config::{Config, Environment};
use crate::gate::{Answers, Block, Source};
use crate::git::{Identity, Reader, Repo};
use crate::pipeline::{
    Bypass, Chained, Line, LineFacts, PushOptions, Pushed, Request, Site, Wording,
};
use crate::push::RefUpdate;
use crate::terminal::Interaction;
use crate::text::escape;

/// What the audit records of the server put in `remote`.
pub use crate::audit::SERVER_REMOTE as RECORD_REMOTE;

/// The variables by which git servers name the authenticated pusher, in the order tried:
/// Gitea/Forgejo, GitLab, GitHub Enterprise Server, gitolite, and the web server in front of
/// `git http-backend`.
pub const PUSHER_VARIABLES: [&str; 6] = [
    "GITEA_PUSHER_EMAIL",
    "GITEA_PUSHER_NAME",
    "GL_USERNAME",
    "GITHUB_USER_LOGIN",
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

/// What the pusher attested with push options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attestation {
    /// `-o consulted=Name`.
    pub consulted: Option<String>,
    /// `-o bypass=why`.
    pub bypass: Option<String>,
    /// `-o freeze=name`: the freeze windows a bypass overrides.
    pub freeze: Option<String>,
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
            "freeze" => out.freeze = Some(value.to_owned()),
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

/// The pusher named by the variables `get` returns (pure, for tests); `users` maps a server
/// user name to the addresses its approvals use.
pub fn pusher_from(
    get: impl Fn(&str) -> Option<String>,
    users: &dyn Fn(&str) -> Vec<String>,
) -> Pusher {
    if let Some(email) = get("GITEA_PUSHER_EMAIL") {
        return Pusher::Named {
            identity: Identity {
                name: get("GITEA_PUSHER_NAME").unwrap_or_default(),
                email,
            },
            by: "GITEA_PUSHER_EMAIL",
            emails: Vec::new(),
        };
    }
    PUSHER_VARIABLES[1..]
        .iter()
        .find_map(|&var| {
            get(var).map(|name| Pusher::Named {
                emails: users(&name),
                identity: Identity {
                    name,
                    email: String::new(),
                },
                by: var,
            })
        })
        .unwrap_or_else(|| Pusher::Unknown {
            why: format!(
                "the server does not say who is pushing (none of {} is set), and a commit's committer is not the pusher",
                PUSHER_VARIABLES.join(", ")
            ),
        })
}

/// The pusher as the audit record shows it: the name says where it came from; the email is
/// the server's, else the first address `[server] users` maps the user to (issue 24).
pub fn recorded(pusher: &Pusher) -> Identity {
    match pusher {
        Pusher::Named {
            identity,
            by,
            emails,
        } => Identity {
            name: format!("{} (pusher, from {by})", identity.name),
            email: if identity.email.is_empty() {
                emails.first().cloned().unwrap_or_default()
            } else {
                identity.email.clone()
            },
        },
        Pusher::Certified {
            principal,
            key,
            account,
        } => Identity {
            name: match account {
                Some(a) => format!(
                    "{principal} (pusher, from a signed push, key {key}; server user {} from {})",
                    a.identity.name, a.by
                ),
                None => format!("{principal} (pusher, from a signed push, key {key})"),
            },
            email: checks::principals(principal)
                .find(|p| p.contains('@'))
                .map(str::to_owned)
                .or_else(|| account.as_ref().and_then(|a| a.emails().first().cloned()))
                .unwrap_or_default(),
        },
        Pusher::Unknown { .. } => Identity {
            name: "(unknown: the server did not name the pusher)".to_owned(),
            email: String::new(),
        },
        Pusher::Configured(identity) => identity.clone(),
    }
}

/// The server's account of the pusher, from a [`Pusher::Named`].
fn account(named: &Pusher) -> Option<Account> {
    match named {
        Pusher::Named {
            identity,
            by,
            emails,
        } => Some(Account {
            identity: identity.clone(),
            by,
            emails: emails.clone(),
        }),
        _ => None,
    }
}

/// One identity per pusher (issue 24): why the account the server authenticated and the
/// principal of a signed push cannot be the same person, if they cannot. They match when
/// `[server] users` (or the server itself) gives the account one of the certificate's
/// principals; an account the mapping does not list matches only when there is no mapping
/// at all (then the certificate alone names the pusher).
pub fn identity_mismatch(pusher: &Pusher, mapping_in_use: bool) -> Option<String> {
    let Pusher::Certified {
        principal,
        account: Some(account),
        ..
    } = pusher
    else {
        return None;
    };
    let known = account.emails();
    if known.is_empty() && !mapping_in_use {
        return None;
    }
    let same =
        checks::principals(principal).any(|p| known.iter().any(|k| k.eq_ignore_ascii_case(p)));
    if same {
        return None;
    }
    Some(if known.is_empty() {
        format!(
            "the server's user {} (from {}) is not in `[server] users`, so this push's certificate, signed by {}, cannot be told to be theirs",
            escape(&account.identity.name, 60),
            account.by,
            escape(principal, 80)
        )
    } else {
        format!(
            "the server's user {} (from {}) pushed with a certificate signed by {}, who is not them (`[server] users` gives them {})",
            escape(&account.identity.name, 60),
            account.by,
            escape(principal, 80),
            escape(&known.join(", "), 120)
        )
    })
}

/// The server's hooks for one push.
pub struct Server<'r> {
    reader: Reader<'r>,
    config: &'r Config,
    given: Attestation,
    options: PushOptions,
    pusher: Pusher,
    /// The push certificate, as git verified it.
    cert: PushCert,
    url: String,
    state_dir: PathBuf,
    chained: Option<ChainedHook>,
    /// Every ref update of this push (symbolic refs resolved).
    updates: Vec<RefUpdate>,
    /// The receive-pack this push runs under, when it can be found ([`crate::pending::push_id`]).
    push: Option<String>,
}

impl<'r> Server<'r> {
    /// The server's side of a push received through `hook`, with the pusher and the push
    /// options from the environment git and the server give the hook.
    pub fn from_env(
        repo: &'r Repo,
        config: &'r Config,
        hook: Hook,
        received: &[RefUpdate],
        updates: &[RefUpdate],
        chained: Option<ChainedHook>,
    ) -> Server<'r> {
        Server::reading(Reader::Lib(repo), config, hook, received, updates, chained)
    }

    /// The server's side of a push into a repository read through `reader` (git alone for
    /// SHA-256).
    pub fn reading(
        reader: Reader<'r>,
        config: &'r Config,
        hook: Hook,
        received: &[RefUpdate],
        updates: &[RefUpdate],
        chained: Option<ChainedHook>,
    ) -> Server<'r> {
        let options = push_options();
        let given = match hook {
            Hook::PreReceive => attestation(&options),
            Hook::Update => Attestation::default(),
        };
        let advertised = match reader {
            Reader::Lib(repo) => repo
                .git2()
                .config()
                .and_then(|c| c.get_bool("receive.advertisePushOptions"))
                .unwrap_or(false),
            Reader::Git(git) => git
                .config("receive.advertisePushOptions")
                .is_some_and(|v| v == "true"),
        };
        let options_state = match (hook, advertised) {
            (Hook::Update, _) => PushOptions::UpdateHook,
            (Hook::PreReceive, true) => PushOptions::Accepted,
            (Hook::PreReceive, false) => PushOptions::NotAdvertised,
        };
        let users = |name: &str| config.server.users.get(name).cloned().unwrap_or_default();
        // A good push certificate is the best evidence of who pushes, required or not; it is
        // checked itself, never taken from the variables (issue 23).
        let lines: Vec<String> = received
            .iter()
            .map(|u| format!("{} {} {}", u.remote_oid, u.local_oid, u.remote_ref))
            .collect();
        let received = push_cert::Received {
            lines: &lines,
            options: &options,
        };
        let cert = match reader {
            Reader::Lib(repo) => PushCert::from_env(repo, config, hook == Hook::Update, received),
            // The certificate's signature and nonce are checked with libgit2's help, which
            // cannot open a SHA-256 repository: a signed push proves nothing there (yet).
            Reader::Git(_) => match PushCert::announced(&crate::terminal::env_value) {
                Ok(None) => PushCert::Unsigned,
                Ok(Some(_)) | Err(_) => PushCert::Bad(
                    "push certificates cannot be verified in a SHA-256 repository yet (pushguard reads them with libgit2)".to_owned(),
                ),
            },
        };
        let named = pusher_from(crate::terminal::env_value, &users);
        let pusher = cert.pusher(account(&named)).unwrap_or(named);
        Server {
            reader,
            config,
            given,
            options: options_state,
            pusher,
            cert,
            url: reader
                .git()
                .common_dir()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned(),
            state_dir: reader.state_dir(),
            chained,
            updates: updates.to_vec(),
            push: crate::pending::push_id(),
        }
    }
}

impl Server<'_> {
    /// The attestation of one ref update: the push options first, else the client hook's
    /// signed record of exactly this update (why a record of it was not accepted is shown).
    fn answers(&self, request: &Request) -> Answers {
        let from_options = Answers {
            consulted: self.given.consulted.clone(),
            justification: self.given.bypass.clone(),
            freeze: self.given.freeze.clone(),
            ..Answers::none(Source::PushOptions)
        };
        if self.given.consulted.is_some() || self.given.bypass.is_some() {
            return from_options;
        }
        let Some(new) = request.new.as_deref() else {
            return from_options;
        };
        let Some(environment) = self.config.environment(&request.environment) else {
            return from_options;
        };
        let update = Update {
            environment,
            remote_ref: &request.remote_ref,
            old: request.old.as_deref(),
            new,
        };
        // A client's record is read from the notes through libgit2; in a SHA-256 repository
        // only push options attest.
        let Reader::Lib(repo) = self.reader else {
            return from_options;
        };
        match attested::client_record(repo, self.config, &update, &self.pusher) {
            Ok(found) => Answers {
                consulted: found.consulted,
                checklist: found.checklist,
                justification: found.justification,
                freeze: found.freeze,
                refusal: None,
                source: Source::ClientRecord {
                    hash: found.hash,
                    signer: found.signer,
                },
            },
            Err(refused) => {
                // The report goes to stderr (git relays it as `remote:` lines).
                let mut err = std::io::stderr().lock();
                for why in refused {
                    let _ = writeln!(err, "  not accepted as the attestation: {why}");
                }
                from_options
            }
        }
    }
}

/// The facts of one ref update, read from the receiving repository.
struct Facts<'a> {
    ctx: Context<'a>,
}

impl LineFacts for Facts<'_> {
    fn skips(&self, id: CheckId) -> Option<CheckResult> {
        id.client_only().map(|why| CheckResult::skip(id, why))
    }

    fn check(&self, id: CheckId) -> CheckResult {
        self.skips(id).unwrap_or_else(|| checks::run(id, &self.ctx))
    }

    fn pushed(&self) -> Pushed {
        super::client::pushed(&self.ctx)
    }
}

impl Site for Server<'_> {
    fn wording(&self) -> Wording {
        Wording::Server {
            options: self.options,
        }
    }

    fn facts<'a>(&'a self, line: Line<'a>, interrupted: &'a AtomicBool) -> Box<dyn LineFacts + 'a> {
        let repo = match self.reader {
            Reader::Lib(repo) => repo,
            Reader::Git(git) => {
                return Box::new(GitFacts::new(
                    git,
                    self.config,
                    line,
                    Refs::Own,
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
                Refs::Own,
                &self.pusher,
                interrupted,
            )
            .with_same_push(&self.updates),
        })
    }

    fn asks_checklist(&self) -> bool {
        // Only a person at a client can answer it: the client hook asks.
        false
    }

    fn confirmation(&self, request: &Request, _interaction: &mut Interaction) -> Answers {
        // A bypass given for a push that needs none is not recorded as one (`gate::decide`).
        self.answers(request)
    }

    fn bypass(&self, request: &Request, _interaction: &mut Interaction) -> Bypass {
        let answers = self.answers(request);
        match &answers.justification {
            Some(_) => Bypass::Given(answers),
            None => Bypass::No(Answers {
                refusal: Some(Block::ChecksFailed),
                ..answers
            }),
        }
    }

    fn justification(&self, _request: &Request, _interaction: &mut Interaction) -> Answers {
        Answers::refused(Block::ChecksFailed)
    }

    fn chained(&self) -> Result<Chained> {
        ChainedHook::run_if(self.chained.as_ref())
    }

    fn pusher(&self, _line: Line) -> Identity {
        recorded(&self.pusher)
    }

    fn bypasser(&self, line: Line) -> Option<Vec<String>> {
        // Where signatures are required, `bypass_by` lists principals: only a signed push's
        // verified signer names one. Elsewhere, the server's name for the pusher and the
        // addresses `[server] users` gives them.
        let signed = crate::signing::required(self.config, line.environment);
        match &self.pusher {
            Pusher::Certified {
                principal, account, ..
            } => {
                let mut all: Vec<String> =
                    checks::principals(principal).map(str::to_owned).collect();
                if let (Some(a), false) = (account, signed) {
                    all.push(a.identity.name.clone());
                    all.extend(a.emails());
                }
                Some(all)
            }
            _ if signed => None,
            Pusher::Named { identity, .. } => {
                let mut all = self.pusher.emails().unwrap_or_default();
                all.push(identity.name.clone());
                Some(all)
            }
            Pusher::Configured(_) | Pusher::Unknown { .. } => None,
        }
    }

    fn remote(&self) -> &str {
        RECORD_REMOTE
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn sign(
        &self,
        environment: &Environment,
        _record: &mut Record,
        out: &mut dyn Write,
    ) -> Result<bool> {
        // The server has no key of its own: its records stay unsigned. What it checks here is
        // that the pusher is one person (issue 24), and the pusher's signature on the push
        // itself, where the environment requires one.
        if let Some(why) = identity_mismatch(&self.pusher, !self.config.server.users.is_empty()) {
            writeln!(out, "  ✗ refused: {why}")?;
            writeln!(
                out,
                "    hint: push with your own key, or map your server user to your principal in `[server] users` of the server's pushguard.toml"
            )?;
            return Ok(true);
        }
        if !push_cert::required(self.config, environment) || self.cert.pusher(None).is_some() {
            return Ok(false);
        }
        let ready = push_cert::server_ready_in(self.reader.git());
        for line in push_cert::refusal(&environment.name, &self.cert, ready) {
            writeln!(out, "  {line}")?;
        }
        Ok(true)
    }

    fn record(&self, record: Record) -> Result<Option<Record>> {
        audit::append(&self.state_dir, record, audit::lock_timeout()).map(Some)
    }

    fn finish(&self, allowed: bool, records: &[Record], out: &mut dyn Write) -> Result<()> {
        if !allowed {
            // git refuses a push whole when pre-receive fails (issue 24): say so of the refs
            // whose checks passed, since their records say `allowed`.
            let passed: Vec<&str> = records
                .iter()
                .filter(|r| r.decision != crate::model::Decision::Blocked)
                .map(|r| {
                    r.remote_ref
                        .strip_prefix("refs/heads/")
                        .unwrap_or(&r.remote_ref)
                })
                .collect();
            if !passed.is_empty() && self.options != PushOptions::UpdateHook {
                crate::report::write_refused_whole(out, &passed)?;
            }
            return Ok(());
        }
        // The notes ref cannot be written while the pushed objects are quarantined: the
        // post-receive hook attaches these records once the refs are updated.
        if let Err(e) = crate::pending::remember(&self.state_dir, records, self.push.as_deref()) {
            writeln!(
                out,
                "pushguard: warning: the record will not be attached to {} (the post-receive hook will not find it): {e:#}",
                crate::notes::trail::writer_ref(crate::notes::trail::SERVER_WRITER)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn pusher_variables_in_order() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let nobody = |_: &str| Vec::new();
        assert!(matches!(
            pusher_from(vars(&[]), &nobody),
            Pusher::Unknown { .. }
        ));
        let p = pusher_from(
            vars(&[("REMOTE_USER", "ada"), ("GL_USERNAME", "bob")]),
            &nobody,
        );
        assert!(
            matches!(&p, Pusher::Named { by: "GL_USERNAME", identity, .. } if identity.name == "bob")
        );
        assert_eq!(
            p.emails(),
            None,
            "a user name alone cannot be told apart from approvers"
        );
        let p = pusher_from(
            vars(&[("GITHUB_USER_LOGIN", "octo"), ("REMOTE_USER", "proxy")]),
            &nobody,
        );
        assert!(
            matches!(&p, Pusher::Named { by: "GITHUB_USER_LOGIN", identity, .. } if identity.name == "octo"),
            "GitHub Enterprise Server names the pusher (issue 20)"
        );
        let mapped = |n: &str| vec![format!("{n}@example.com")];
        let p = pusher_from(vars(&[("GL_USERNAME", "bob")]), &mapped);
        assert_eq!(p.emails(), Some(vec!["bob@example.com".to_owned()]));
        let p = pusher_from(
            vars(&[
                ("GITEA_PUSHER_EMAIL", "ada@example.com"),
                ("GITEA_PUSHER_NAME", "Ada"),
            ]),
            &nobody,
        );
        assert_eq!(p.emails(), Some(vec!["ada@example.com".to_owned()]));
        assert_eq!(recorded(&p).name, "Ada (pusher, from GITEA_PUSHER_EMAIL)");
    }
}
