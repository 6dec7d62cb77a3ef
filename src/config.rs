//! Configuration: the embedded default, the user file and the repository file, layered
//! and validated once into a typed [`Config`], loaded by one function, [`load`], for every
//! caller.
//!
//! The typed structs below are the schema: serde reads them (strictly, with
//! `deny_unknown_fields`) and writes them back for `pushguard config`. Their defaults are
//! the embedded `default.toml`, which sets every key, so adding a key means adding a field
//! here, a line there and a line in the README. Layers are merged as TOML tables before
//! they are read: `[environments]` whole from the highest layer that has it, every other
//! table key by key, and the merge records which layer set each key. Every error names the
//! file, line and column with the offending line and a caret under it, because a guard
//! that only warns on a typo guards nothing.

pub mod freeze;
mod layers;
mod location;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, Result};
use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::CheckId;
use crate::outcome::WithHint;
pub use freeze::{FreezeWindow, Window};

use layers::Layers;
pub use location::Location;

/// The embedded default configuration: the default of every key, and the template that
/// `pushguard init` writes.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// File name of the repository layer, at the work-tree root.
pub const REPO_FILE: &str = ".pushguard.toml";

/// File name of the repository layer of a bare repository on a server, beside its `config`.
pub const SERVER_FILE: &str = "pushguard.toml";

/// Environment variable naming a config file: instead of the repository file in a clone,
/// under the repository's `pushguard.toml` on a server.
pub const CONFIG_ENV: &str = "PUSHGUARD_CONFIG";

/// The largest config file pushguard reads. A team's config is a few kilobytes; refusing a
/// huge file up front keeps every push fast and its memory bounded (issue 6).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The table taken whole from the highest layer that has it.
pub const ENVIRONMENTS: &str = "environments";

/// The array of `[[freeze]]` tables, also taken whole from the highest layer that has it.
const FREEZE: &str = "freeze";

/// The way out offered when a clone's configuration is broken and every push is blocked.
pub const BROKEN_CONFIG_HINTS: [&str; 2] = [
    "fix the file (`pushguard config --check` shows the error again), then push again",
    "or skip the guard with `git push --no-verify`: that push is NOT recorded and shows up in `pushguard audit`",
];

/// Where a layer of the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The default compiled into the binary.
    Embedded,
    /// `<config dir>/pushguard/config.toml`.
    User(PathBuf),
    /// `.pushguard.toml` at the work-tree root, or a bare repository's `pushguard.toml`.
    Repository(PathBuf),
    /// The file named by `PUSHGUARD_CONFIG`.
    Env(PathBuf),
    /// The deploy pipeline's policy file, named by `pushguard audit --config`.
    Policy(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Embedded => f.write_str("built-in default"),
            Source::User(p) => write!(f, "user config `{}`", p.display()),
            Source::Repository(p) => write!(f, "repository config `{}`", p.display()),
            Source::Env(p) => write!(f, "`{}` (from {CONFIG_ENV})", p.display()),
            Source::Policy(p) => write!(f, "deploy policy `{}` (--config)", p.display()),
        }
    }
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Embedded => "<built-in default>".to_owned(),
            Source::User(p) | Source::Repository(p) | Source::Env(p) | Source::Policy(p) => {
                p.display().to_string()
            }
        }
    }

    /// The file of a layer read from one (`None` for the built-in default).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Source::Embedded => None,
            Source::User(p) | Source::Repository(p) | Source::Env(p) | Source::Policy(p) => Some(p),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The schema. Top-level tables take every default from `default.toml`; keys an environment
// may omit say their default here, because `[environments]` is replaced whole, not merged.

/// The effective configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Environments in promotion order: an environment comes after the one it promotes from.
    #[serde(with = "values::environments")]
    pub environments: Vec<Environment>,
    pub confirm: ConfirmConfig,
    pub team: TeamConfig,
    pub tests: TestsConfig,
    pub bypass: BypassConfig,
    pub wip: WipConfig,
    pub trust: TrustConfig,
    pub server: ServerConfig,
    /// `[[freeze]]`: deploy windows (freezes, and allow windows), taken whole from the highest
    /// layer that has any. Their times are parsed on first use ([`Config::freeze_windows`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<FreezeWindow>,
    /// The layers that were read, lowest first.
    #[serde(skip)]
    pub sources: Vec<Source>,
    #[serde(skip)]
    pub provenance: Provenance,
    /// The layers' texts, to locate an error found when the windows' times are parsed.
    #[serde(skip)]
    texts: Option<Arc<Layers>>,
    /// The windows of lower layers that a higher one replaced: `config --check` parses them too.
    #[serde(skip)]
    shadowed_freeze: Vec<FreezeWindow>,
    /// The windows with their times parsed, on first use; the error located in its file.
    #[serde(skip)]
    parsed_freeze: OnceLock<std::result::Result<Vec<Window>, String>>,
}

/// One environment: which branches it covers and what a push to it must pass.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The environment's key in `[environments]`.
    #[serde(skip)]
    pub name: String,
    /// Branch globs; at least one.
    #[serde(default, deserialize_with = "values::branch_globs")]
    pub branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_from: Option<String>,
    #[serde(default = "yes")]
    pub confirm: bool,
    /// The configured checks, in the order they run (cheapest first).
    #[serde(default = "only_no_delete")]
    pub checks: Vec<CheckId>,
    #[serde(default)]
    pub checklist: Vec<String>,
    #[serde(default, deserialize_with = "values::email_globs")]
    pub authorized: Vec<String>,
    #[serde(default)]
    pub approvals: u32,
    #[serde(default, deserialize_with = "values::email_globs")]
    pub approvers: Vec<String>,
    /// `[[environments.E.approval_rules]]`: approvals by group, each rule filled by its own
    /// people (one seat per person); replaces `approvals`/`approvers` (their one-rule form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_rules: Vec<ApprovalRule>,
    /// The authors of the pushed range cannot approve it either.
    #[serde(default)]
    pub distinct_from_authors: bool,
    /// How long the pushed commit must have been on a `promote_from` branch (check `soak`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "values::some_duration"
    )]
    pub soak: Option<Duration>,
    #[serde(default)]
    pub fetch: bool,
    #[serde(default = "yes")]
    pub bypass: bool,
    /// A bypass may also delete the branch; otherwise `no-delete` holds under a bypass.
    #[serde(default)]
    pub bypass_delete: bool,
    /// This environment's `[trust].require_signatures`; unset: that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signatures: Option<bool>,
    /// This environment's `[server].require_signed_push`; unset: that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_push: Option<bool>,
    /// Who may bypass here (emails or globs; principals where signatures are required);
    /// unset: `[bypass].bypass_by`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "values::some_email_globs"
    )]
    pub bypass_by: Option<Vec<String>>,
    /// The ticket a justification must contain here (a regular expression); unset:
    /// `[bypass].ticket`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "values::some_regex"
    )]
    pub ticket: Option<String>,
    /// How soon a bypass here must be reviewed by someone else; unset: `[bypass].review_within`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "values::some_duration"
    )]
    pub review_within: Option<Duration>,
    #[serde(skip)]
    matchers: Vec<BranchMatcher>,
}

/// One approval rule: `count` distinct approvers matching `approvers`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Named in reports ("qa: 0 of 1"); unique within the environment.
    pub name: toml::Spanned<String>,
    /// How many seats the rule has.
    #[serde(default = "one")]
    pub count: toml::Spanned<u32>,
    /// Who may fill a seat (emails or globs; principals where signatures are required);
    /// empty: anyone but the pusher.
    #[serde(default, deserialize_with = "values::email_globs")]
    pub approvers: Vec<String>,
}

/// An approval rule as the check reads it, from `approval_rules` or from the one-rule form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub count: u32,
    pub approvers: Vec<String>,
}

fn one() -> toml::Spanned<u32> {
    toml::Spanned::new(0..0, 1)
}

impl Environment {
    /// The approval rules in force: `approval_rules`, else `approvals`/`approvers` as one rule
    /// named `approvals` (none when `approvals = 0`).
    pub fn rules(&self) -> Vec<Rule> {
        if !self.approval_rules.is_empty() {
            return self
                .approval_rules
                .iter()
                .map(|r| Rule {
                    name: r.name.get_ref().clone(),
                    count: *r.count.get_ref(),
                    approvers: r.approvers.clone(),
                })
                .collect();
        }
        if self.approvals == 0 {
            return Vec::new();
        }
        vec![Rule {
            name: "approvals".to_owned(),
            count: self.approvals,
            approvers: self.approvers.clone(),
        }]
    }

    /// Who may bypass here: the environment's `bypass_by`, else `[bypass].bypass_by`.
    pub fn bypass_by<'c>(&'c self, config: &'c Config) -> &'c [String] {
        self.bypass_by
            .as_deref()
            .unwrap_or(&config.bypass.bypass_by)
    }

    /// The ticket pattern a justification must contain here, if any.
    pub fn ticket<'c>(&'c self, config: &'c Config) -> Option<&'c str> {
        self.ticket
            .as_deref()
            .or(config.bypass.ticket.as_deref())
            .filter(|t| !t.is_empty())
    }

    /// How soon a bypass here must be reviewed, if a deadline is set.
    pub fn review_within(&self, config: &Config) -> Option<Duration> {
        self.review_within.or(config.bypass.review_within)
    }
}

fn yes() -> bool {
    true
}

fn only_no_delete() -> Vec<CheckId> {
    vec![CheckId::NoDelete]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmConfig {
    pub leads: Vec<String>,
    #[serde(with = "values::duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub fetch_notes: bool,
    /// A command run after `pushguard request` shared a request: split into words as a shell
    /// would, `{env}`, `{commit}` and `{approvers}` replaced inside each word, run without a
    /// shell. Unset: nobody is notified.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "values::some_command"
    )]
    pub notify: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestsConfig {
    pub commands: Vec<String>,
    #[serde(with = "values::duration")]
    pub timeout: Duration,
    pub cache: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BypassConfig {
    pub min_length: usize,
    /// Who may bypass (emails or globs; principals where signatures are required); empty:
    /// anyone.
    #[serde(default, deserialize_with = "values::email_globs")]
    pub bypass_by: Vec<String>,
    /// A regular expression the justification must contain a match of (a ticket), recorded
    /// as the record's `ticket`; unset: none needed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "values::some_regex"
    )]
    pub ticket: Option<String>,
    /// How soon a bypass must be reviewed by someone other than the bypasser
    /// (`pushguard review`; `audit --fail-on-unreviewed`); unset: at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "values::some_duration"
    )]
    pub review_within: Option<Duration>,
}

/// `[trust]`: whose SSH signatures vouch for audit records, approvals and pushes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// The allowed-signers file (`principal[,principal] [options] key`, as `ssh-keygen`
    /// reads it), relative to the work-tree root or, on a server, to the bare repository.
    /// Unset: git's `gpg.ssh.allowedSignersFile`.
    pub allowed_signers: Option<PathBuf>,
    /// Count only what a key in the allowed signers signed.
    pub require_signatures: bool,
}

impl TrustConfig {
    /// The directory a relative `allowed_signers` is taken from: that of the file that set it
    /// (the work-tree root for `.pushguard.toml`, the bare repository for its
    /// `pushguard.toml`, the pipeline's policy file's own directory). `None` when no file did.
    pub fn base<'c>(&self, config: &'c Config) -> Option<&'c std::path::Path> {
        config
            .provenance
            .source_of("trust.allowed_signers")
            .path()
            .and_then(std::path::Path::parent)
    }
}

/// `[server]`: what only server mode reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// A server user name (as `GL_USERNAME` or `REMOTE_USER` give it) → the addresses their
    /// approvals use, so that the pusher's own approval is recognised.
    pub users: BTreeMap<String, Vec<String>>,
    /// Refuse an environment push without a good push certificate (`git push --signed`).
    pub require_signed_push: bool,
    /// The addresses clients push to this repository by (as in their `git remote -v`): a
    /// client's record counts as the attestation only when it was made for one of them.
    pub urls: Vec<String>,
}

/// `[wip]`: the patterns as written, checked when the config is loaded and compiled on first
/// use. Compiling regular expressions was the largest part of an ordinary push's own work
/// (measured with `perf record` over the hook's fast path), and only `no-wip` needs them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WipConfig {
    #[serde(deserialize_with = "values::regexes")]
    pub patterns: Vec<String>,
    #[serde(skip)]
    compiled: OnceLock<Vec<Regex>>,
}

// ---------------------------------------------------------------------------------------

impl Environment {
    /// Tells whether `branch` (a short name, without `refs/heads/`) belongs to this environment.
    pub fn matches(&self, branch: &str) -> bool {
        self.matchers.iter().any(|m| m.is_match(branch))
    }

    /// Returns the first branch glob that matches `branch`.
    pub fn matching_pattern(&self, branch: &str) -> Option<&str> {
        self.matchers
            .iter()
            .position(|m| m.is_match(branch))
            .map(|i| self.branches[i].as_str())
    }

    /// Tells whether the environment runs `check`.
    pub fn has_check(&self, check: CheckId) -> bool {
        self.checks.contains(&check)
    }
}

impl WipConfig {
    pub fn new(patterns: Vec<String>) -> WipConfig {
        WipConfig {
            patterns,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled patterns. A pattern that parsed at load time can still exceed the regex
    /// size limit here; that is an error for the check, which then fails closed.
    pub fn regexes(&self) -> Result<&[Regex]> {
        if let Some(compiled) = self.compiled.get() {
            return Ok(compiled);
        }
        let compiled = self
            .patterns
            .iter()
            .map(|p| {
                Regex::new(p)
                    .with_context(|| format!("invalid regular expression `{p}` in `wip.patterns`"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.compiled.get_or_init(|| compiled))
    }
}

/// Which layer supplied each part of the effective configuration, for `pushguard config`.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Keyed by `environments` or `table.key`.
    parts: BTreeMap<String, Source>,
}

impl Provenance {
    /// Returns the layer that supplied `key` (`environments` or `table.key`).
    pub fn source_of(&self, key: &str) -> &Source {
        self.parts.get(key).unwrap_or(&Source::Embedded)
    }
}

/// Loads the layered configuration for `location`. A broken configuration is an error that
/// says every push is blocked (refused, on a server) and how to get out, for every caller.
pub fn load(location: &Location) -> Result<Config> {
    read_layers(location)
        .and_then(Config::from_layers)
        .map_err(|e| match location {
            Location::Server(_) => crate::outcome::with_hint(
                e.context("the pushguard configuration on the server is invalid, so every push is refused (pushguard cannot tell which branches are environments)"),
                "the server's administrator fixes it: `pushguard config --check` in the repository shows the error",
            ),
            Location::WorkTree(_) | Location::Nowhere => crate::outcome::with_hint(
                crate::outcome::with_hint(
                    e.context("the pushguard configuration is invalid, so every push is blocked (pushguard cannot tell which branches are environments)"),
                    BROKEN_CONFIG_HINTS[1],
                ),
                BROKEN_CONFIG_HINTS[0],
            ),
        })
}

/// The configuration `pushguard audit` judges by, and what it says about where it came from.
pub struct AuditPolicy {
    pub config: Config,
    /// The deploy pipeline's policy file, when one was given.
    pub file: Option<PathBuf>,
    /// Settings of the audited checkout that were not used, for a warning.
    pub ignored: Vec<String>,
}

/// Loads the policy `pushguard audit` judges by (issue 23): the policy that judges a push
/// never comes from the commit being judged.
///
/// With a policy file the deploy pipeline owns (`--config FILE`, else `PUSHGUARD_CONFIG`):
/// the built-in default, the user file and that file; the checkout's `.pushguard.toml` is not
/// read at all. Without one: the checkout's environments (the trail adds the branches it
/// has records of), but the trust root — `[trust]` and each environment's
/// `require_signatures` — only from the layers outside the checkout (the built-in default
/// and the user file, plus git's `gpg.ssh.allowedSignersFile`), and so is `review_within`
/// (the deadline a bypass's review is judged by); what the checkout says about them is
/// listed in `ignored`.
pub fn load_for_audit(location: &Location, file: Option<&std::path::Path>) -> Result<AuditPolicy> {
    let named = file.map(std::path::Path::to_path_buf).or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    let broken = |e: anyhow::Error| {
        crate::outcome::with_hint(
            e.context("the configuration audit judges by is invalid, so nothing can be audited"),
            "fix the file named above (the deploy policy, or the user config)",
        )
    };
    let mut outside = vec![(Source::Embedded, DEFAULT_TOML.to_owned())];
    if let Some(path) = user_config_path() {
        if let Some(text) = layers::read(&path, "")? {
            outside.push((Source::User(path), text));
        }
    }
    if let Some(path) = named {
        let path = std::path::absolute(&path).unwrap_or(path);
        if let Location::WorkTree(root) = location {
            if within(&path, root) {
                return Err(anyhow::anyhow!(
                    "the deploy policy `{}` is inside the checkout of the audited commit, which would choose its own judge",
                    path.display()
                ))
                .hint("keep the policy outside the checkout: write it from the CI's settings (a variable or a secret) to a temporary directory, and pass that file with --config");
            }
        }
        let text = layers::read(&path, " (the deploy policy, --config or PUSHGUARD_CONFIG)")?
            .unwrap_or_default();
        outside.push((Source::Policy(path.clone()), text));
        let config = Config::from_layers(outside).map_err(broken)?;
        return Ok(AuditPolicy {
            config,
            file: Some(path),
            ignored: Vec::new(),
        });
    }
    let trusted = Config::from_layers(outside).map_err(broken)?;
    let mut config = load(location)?;
    let mut ignored = Vec::new();
    // A setting of the checkout is named as ignored only where it would have changed the
    // judgement: the same value as the trusted one (`require_signatures = false` as
    // `pushguard init` writes it, say) changes nothing.
    let from_checkout = |key: &str, config: &Config| {
        matches!(config.provenance.source_of(key), Source::Repository(_))
    };
    if from_checkout("trust.allowed_signers", &config)
        && config.trust.allowed_signers != trusted.trust.allowed_signers
    {
        ignored.push("[trust] allowed_signers".to_owned());
    }
    if from_checkout("trust.require_signatures", &config)
        && config.trust.require_signatures != trusted.trust.require_signatures
    {
        ignored.push("[trust] require_signatures".to_owned());
    }
    if from_checkout("bypass.review_within", &config)
        && config.bypass.review_within != trusted.bypass.review_within
    {
        ignored.push("[bypass] review_within".to_owned());
    }
    config.bypass.review_within = trusted.bypass.review_within;
    let environments_from_checkout = from_checkout(ENVIRONMENTS, &config);
    for env in &mut config.environments {
        let trusted_env = trusted.environment(&env.name);
        let signatures = trusted_env.and_then(|e| e.require_signatures);
        let review = trusted_env.and_then(|e| e.review_within);
        let effective = |own: Option<bool>| own.unwrap_or(trusted.trust.require_signatures);
        if environments_from_checkout
            && env.require_signatures.is_some()
            && effective(env.require_signatures) != effective(signatures)
        {
            ignored.push(format!("[environments.{}] require_signatures", env.name));
        }
        if environments_from_checkout
            && env.review_within.is_some()
            && env.review_within != review.or(trusted.bypass.review_within)
        {
            ignored.push(format!("[environments.{}] review_within", env.name));
        }
        env.require_signatures = signatures;
        env.review_within = review;
    }
    config.trust = trusted.trust.clone();
    config
        .provenance
        .parts
        .retain(|key, _| !key.starts_with("trust."));
    for (key, source) in &trusted.provenance.parts {
        if key.starts_with("trust.") {
            config.provenance.parts.insert(key.clone(), source.clone());
        }
    }
    Ok(AuditPolicy {
        config,
        file: None,
        ignored,
    })
}

/// Tells whether `path` is inside the directory `root` (both made absolute and, where they
/// exist, with symbolic links resolved).
pub fn within(path: &std::path::Path, root: &std::path::Path) -> bool {
    let resolve = |p: &std::path::Path| {
        p.canonicalize()
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    resolve(path).starts_with(resolve(root))
}

/// Reads the layers that apply at `location`, lowest first; optional files that do not
/// exist are left out, a file named by `PUSHGUARD_CONFIG` must exist.
fn read_layers(location: &Location) -> Result<Vec<(Source, String)>> {
    let mut found = vec![(Source::Embedded, DEFAULT_TOML.to_owned())];
    if let Some(path) = user_config_path() {
        if let Some(text) = layers::read(&path, "")? {
            found.push((Source::User(path), text));
        }
    }
    let named = std::env::var_os(CONFIG_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(path) = &named {
        if let Some(text) = layers::read(path, &format!(" (named by {CONFIG_ENV})"))? {
            found.push((Source::Env(path.clone()), text));
        }
    }
    let repo_file = match location {
        Location::WorkTree(_) if named.is_some() => None,
        Location::WorkTree(root) => Some(root.join(REPO_FILE)),
        Location::Server(dir) => Some(dir.join(SERVER_FILE)),
        Location::Nowhere => None,
    };
    if let Some(path) = repo_file {
        if let Some(text) = layers::read(&path, "")? {
            found.push((Source::Repository(path), text));
        }
    }
    Ok(found)
}

impl Config {
    /// Parses, merges and validates configuration layers given lowest first.
    ///
    /// Each layer above the default is also validated on its own over the default, so that
    /// a mistake in a lower layer is reported even where a higher one overrides the key.
    pub fn from_layers(layers: Vec<(Source, String)>) -> Result<Config> {
        let layers = Layers::new(layers);
        let mut config = {
            let parsed = layers.parse()?;
            let all: Vec<usize> = (0..layers.len()).collect();
            let (mut config, merged) = read_merged(&layers, &parsed, &all)?;
            // A value that a higher layer overrode was not read above: read each such layer
            // over the default on its own, so that its mistakes are reported too.
            for i in 1..layers.len() {
                if merged.overridden[i] {
                    let (lower, _) = read_merged(&layers, &parsed, &[0, i])?;
                    if merged.set_by.get(FREEZE).is_some_and(|&by| by != i) {
                        config.shadowed_freeze.extend(lower.freeze);
                    }
                }
            }
            config.provenance.parts = merged
                .set_by
                .into_iter()
                .filter(|(_, i)| *i > 0)
                .map(|(key, i)| (key, layers.source(i).clone()))
                .collect();
            config
        };
        config.sources = layers.sources();
        config.texts = Some(Arc::new(layers));
        Ok(config)
    }

    /// The `[[freeze]]` windows with their times parsed (on first use: an ordinary push never
    /// gets here). An error names the file, line and column of the value.
    pub fn freeze_windows(&self) -> Result<&[Window]> {
        let parsed = self
            .parsed_freeze
            .get_or_init(|| freeze::parse(&self.freeze).map_err(|p| self.locate(p)));
        match parsed {
            Ok(windows) => Ok(windows),
            Err(e) => Err(anyhow::anyhow!("{e}"))
                .context("a `[[freeze]]` window of the pushguard configuration is invalid, so pushes to the environments it could freeze are blocked")
                .hint(BROKEN_CONFIG_HINTS[0]),
        }
    }

    /// Parses every window's times, those a higher layer replaced too (`config --check`).
    pub fn check_freeze_windows(&self) -> Result<()> {
        self.freeze_windows()?;
        freeze::parse(&self.shadowed_freeze)
            .map(drop)
            .map_err(|p| anyhow::anyhow!("{}", self.locate(p)))
    }

    /// `file:line:column: message` with the line and a caret, for a problem in a layer.
    fn locate(&self, (span, message): freeze::Problem) -> String {
        match &self.texts {
            Some(layers) => format!("{:#}", layers.error(span, &message)),
            None => message,
        }
    }

    /// Resolves a short branch name to its environment; `Ok(None)` for an ordinary branch.
    pub fn environment_for_branch(&self, branch: &str) -> Result<Option<&Environment>> {
        let mut found = self.environments.iter().filter(|e| e.matches(branch));
        let first = found.next();
        if let (Some(a), Some(b)) = (first, found.next()) {
            anyhow::bail!(
                "branch `{branch}` matches two environments: `{}` ({}) and `{}` ({})",
                a.name,
                a.matching_pattern(branch).unwrap_or_default(),
                b.name,
                b.matching_pattern(branch).unwrap_or_default()
            );
        }
        Ok(first)
    }

    /// Looks up an environment by name.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// Looks up an environment named on the command line; an unknown name is an error that
    /// lists the environments there are.
    pub fn require_environment(&self, name: &str) -> Result<&Environment> {
        self.environment(name).ok_or_else(|| {
            let names: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
            crate::outcome::with_hint(
                anyhow::anyhow!("there is no environment `{name}` in the configuration"),
                format!("the environments are: {}", names.join(", ")),
            )
        })
    }
}

/// Reads a merged table into the typed config and checks what spans several keys.
///
/// Returns the merge's provenance with it (its table is consumed by the reading).
fn read_merged<'a>(
    layers: &Layers,
    parsed: &[toml::de::DeTable<'a>],
    which: &[usize],
) -> Result<(Config, layers::Merged<'a>)> {
    let mut merged = layers.merge(parsed, which);
    let table = std::mem::replace(
        &mut merged.table,
        toml::Spanned::new(0..0, Default::default()),
    );
    let mut config = Config::deserialize(toml::de::Deserializer::from(table))
        .map_err(|e| layers.error(e.span(), e.message()))?;
    // Spans are needed only for an error, so the merge is done again then, not kept.
    let at = |place: Place<'_>, message: &str| {
        let again = layers.merge(parsed, which);
        layers.error(place.span(again.table.get_ref()), message)
    };
    config.environments = validate_environments(std::mem::take(&mut config.environments), &at)?;
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    freeze::check_shape(&config.freeze, &names).map_err(|(span, m)| layers.error(span, &m))?;
    // The `freeze` check is on for every environment some window applies to, and runs first:
    // it reads no repository fact.
    for env in &mut config.environments {
        if config.freeze.iter().any(|w| w.applies_to(&env.name)) && !env.has_check(CheckId::Freeze)
        {
            env.checks.insert(0, CheckId::Freeze);
        }
    }
    Ok((config, merged))
}

/// Where in the merged table a semantic error is.
enum Place<'p> {
    /// The key at this path.
    Key(&'p [&'p str]),
    /// The value at this path.
    Value(&'p [&'p str]),
    /// This entry of the list at this path.
    Entry(&'p [&'p str], usize),
    /// A value whose span the deserializer kept.
    Span(std::ops::Range<usize>),
}

impl Place<'_> {
    fn span(&self, table: &toml::de::DeTable<'_>) -> Option<std::ops::Range<usize>> {
        match self {
            Place::Key(path) => layers::find(table, path).map(|(key, _)| key),
            Place::Value(path) => layers::find(table, path).map(|(_, value)| value),
            Place::Entry(path, i) => layers::find_entry(table, path, *i),
            Place::Span(span) => Some(span.clone()),
        }
    }
}

/// Returns the path of the user layer, `<config dir>/pushguard/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("pushguard").join("config.toml"))
}

/// Parses a duration such as `5m`, `30m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

/// A branch pattern, ready to match short branch names.
#[derive(Debug, Clone)]
pub enum BranchMatcher {
    /// A plain name (most patterns): compared as a string.
    Exact(String),
    /// `<literal>/**`: every branch under `<literal>/`, as the glob matches them, without a
    /// regular expression per name (10,000 remote-tracking refs, issue 21).
    Under(String),
    Glob(GlobMatcher),
}

impl BranchMatcher {
    pub fn is_match(&self, branch: &str) -> bool {
        match self {
            BranchMatcher::Exact(name) => name == branch,
            BranchMatcher::Under(dir) => branch.starts_with(dir.as_str()),
            BranchMatcher::Glob(glob) => glob.is_match(branch),
        }
    }
}

/// Builds a matcher for a branch glob: `*` stays within one path segment, `**` crosses them.
///
/// A plain name needs no regular expression: compiling one per pattern was a third of an
/// ordinary push's own work (callgrind), and every push loads the config.
pub fn branch_glob(pattern: &str) -> Result<BranchMatcher, globset::Error> {
    if is_literal(pattern) {
        return Ok(BranchMatcher::Exact(pattern.to_owned()));
    }
    if let Some(dir) = pattern.strip_suffix("**") {
        if dir.ends_with('/') && dir.len() > 1 && is_literal(dir) {
            return Ok(BranchMatcher::Under(dir.to_owned()));
        }
    }
    Ok(BranchMatcher::Glob(
        parse_branch_glob(pattern)?.compile_matcher(),
    ))
}

/// Parses a branch glob without compiling it: the syntax check, without the cost of the
/// regular expression a matcher needs.
fn parse_branch_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Builds a matcher for an email glob (`*@corp.example`), case-insensitive.
pub fn email_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(parse_email_glob(pattern)?.compile_matcher())
}

/// Parses an email glob without compiling it (see [`parse_branch_glob`]).
fn parse_email_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).case_insensitive(true).build()
}

type At<'a> = dyn Fn(Place<'_>, &str) -> anyhow::Error + 'a;

/// Checks what spans several keys of `[environments]` (branches present, `promote_from`
/// known and acyclic, `promoted` with a `promote_from`, no branch claimed twice), builds
/// the matchers, and returns the environments in promotion order, checks cheapest first.
fn validate_environments(raw: Vec<Environment>, at: &At<'_>) -> Result<Vec<Environment>> {
    let names: Vec<String> = raw.iter().map(|e| e.name.clone()).collect();
    let mut envs: Vec<Environment> = Vec::with_capacity(raw.len());
    for mut env in raw {
        let name = env.name.clone();
        let path = [ENVIRONMENTS, name.as_str()];
        if env.branches.is_empty() {
            return Err(at(
                Place::Key(&path),
                &format!("environment `{name}` has no `branches`; expected a list of branch globs such as [\"staging\"]"),
            ));
        }
        env.matchers = env
            .branches
            .iter()
            .map(|b| branch_glob(b).context("validated when read"))
            .collect::<Result<_>>()?;
        let promote_from = [ENVIRONMENTS, name.as_str(), "promote_from"];
        if let Some(from) = &env.promote_from {
            if !names.contains(from) {
                return Err(at(
                    Place::Value(&promote_from),
                    &format!(
                        "`promote_from` names unknown environment `{from}`; expected one of: {}",
                        names.join(", ")
                    ),
                ));
            }
            if from == &name {
                return Err(at(
                    Place::Value(&promote_from),
                    &format!("environment `{name}` cannot promote from itself"),
                ));
            }
        }
        if env.promote_from.is_none() {
            if let Some(i) = env.checks.iter().position(|c| *c == CheckId::Promoted) {
                return Err(at(
                    Place::Entry(&[ENVIRONMENTS, &name, "checks"], i),
                    &format!("check `promoted` needs `promote_from` in environment `{name}`"),
                ));
            }
        }
        approval_rules_check(&mut env, at)?;
        soak_check(&mut env, at)?;
        let mut checks: Vec<CheckId> = Vec::new();
        for id in &env.checks {
            if !checks.contains(id) {
                checks.push(*id);
            }
        }
        checks.sort_by_key(|c| c.cost_rank());
        env.checks = checks;
        overlap_check(&envs, &env, at)?;
        envs.push(env);
    }

    // Reject cycles in promote_from.
    let by_name = |name: &str| envs.iter().find(|e| e.name == name);
    for env in &envs {
        let mut seen = vec![env.name.as_str()];
        let mut cur = env;
        while let Some(from) = &cur.promote_from {
            seen.push(from);
            if seen[..seen.len() - 1].contains(&from.as_str()) {
                return Err(at(
                    Place::Value(&[ENVIRONMENTS, &env.name, "promote_from"]),
                    &format!("`promote_from` forms a cycle: {}", seen.join(" -> ")),
                ));
            }
            let Some(next) = by_name(from) else { break };
            cur = next;
        }
    }

    // Promotion order: an environment after the one it promotes from.
    let depth = |e: &Environment| {
        let mut d = 0;
        let mut cur = e;
        while let Some(next) = cur.promote_from.as_deref().and_then(by_name) {
            d += 1;
            cur = next;
        }
        d
    };
    let mut order: Vec<(usize, &Environment)> = envs.iter().map(|e| (depth(e), e)).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    Ok(order.into_iter().map(|(_, e)| e.clone()).collect())
}

/// Checks an environment's `approval_rules` (names unique, counts of at least one, not beside
/// `approvals`/`approvers`) and turns the `approvals` check on where rules are set: a rule
/// that nothing enforces would be a guard that only looks like one.
fn approval_rules_check(env: &mut Environment, at: &At<'_>) -> Result<()> {
    if env.approval_rules.is_empty() {
        return Ok(());
    }
    let name = env.name.clone();
    if env.approvals > 0 || !env.approvers.is_empty() {
        let key = if env.approvals > 0 {
            "approvals"
        } else {
            "approvers"
        };
        return Err(at(
            Place::Key(&[ENVIRONMENTS, &name, key]),
            &format!("environment `{name}` has both `{key}` and `approval_rules`; `approvals`/`approvers` is the one-rule form: write it as one more `[[environments.{name}.approval_rules]]`"),
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for rule in &env.approval_rules {
        let rule_name = rule.name.get_ref().as_str();
        if rule_name.trim().is_empty() || rule_name.chars().any(char::is_control) {
            return Err(at(
                Place::Span(rule.name.span()),
                "an approval rule needs a `name` (shown in reports: \"qa: 0 of 1\")",
            ));
        }
        if seen.contains(&rule_name) {
            return Err(at(
                Place::Span(rule.name.span()),
                &format!("duplicate approval rule name `{rule_name}` in environment `{name}`"),
            ));
        }
        seen.push(rule_name);
        if *rule.count.get_ref() == 0 {
            return Err(at(
                Place::Span(rule.count.span()),
                &format!("approval rule `{rule_name}` needs a `count` of at least 1 (drop the rule to need nobody)"),
            ));
        }
    }
    if !env.has_check(CheckId::Approvals) {
        env.checks.push(CheckId::Approvals);
    }
    Ok(())
}

/// Checks `soak` (it needs a `promote_from` to measure from) and turns the `soak` check on
/// where it is set; the check listed without a `soak` is an error.
fn soak_check(env: &mut Environment, at: &At<'_>) -> Result<()> {
    let name = env.name.clone();
    let listed = env.checks.iter().position(|c| *c == CheckId::Soak);
    match (env.soak, listed) {
        (None, Some(i)) => {
            return Err(at(
                Place::Entry(&[ENVIRONMENTS, &name, "checks"], i),
                &format!(
                    "check `soak` needs `soak` (how long, e.g. \"24h\") in environment `{name}`"
                ),
            ))
        }
        (None, None) => return Ok(()),
        (Some(_), _) => {}
    }
    if env.promote_from.is_none() {
        return Err(at(
            Place::Key(&[ENVIRONMENTS, &name, "soak"]),
            &format!("`soak` needs `promote_from` in environment `{name}`: soak time is measured on the environment it promotes from"),
        ));
    }
    if listed.is_none() {
        env.checks.push(CheckId::Soak);
    }
    Ok(())
}

/// Rejects a branch glob of `newest` that an environment read before it also matches, with
/// the caret under that very entry (issue 13, item 11).
///
/// Two arbitrary globs can overlap in ways that are costly to decide; this catches the cases
/// that happen in practice (a literal or identical glob claimed twice). A branch that still
/// matches two environments at push time is refused by [`Config::environment_for_branch`].
fn overlap_check(others: &[Environment], newest: &Environment, at: &At<'_>) -> Result<()> {
    for (i, glob) in newest.branches.iter().enumerate() {
        let matcher = &newest.matchers[i];
        for other in others {
            let clash = other.branches.iter().any(|o| o == glob)
                || (is_literal(glob) && other.matches(glob))
                || other
                    .branches
                    .iter()
                    .any(|o| is_literal(o) && matcher.is_match(o));
            if clash {
                return Err(at(
                    Place::Entry(&[ENVIRONMENTS, &newest.name, "branches"], i),
                    &format!(
                        "branch glob `{glob}` of environment `{}` overlaps environment `{}` ({}); a branch must belong to one environment",
                        newest.name,
                        other.name,
                        other.branches.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn is_literal(glob: &str) -> bool {
    !glob.contains(['*', '?', '[', '{', '\\'])
}

#[cfg(test)]
mod tests {
    use super::layers::excerpt;
    use super::*;

    #[test]
    fn regression_issue_6_a_long_line_is_quoted_as_an_excerpt_around_the_error() {
        let line = format!("a = {}x{}", "[".repeat(5000), "]".repeat(5000));
        let (shown, at, width) = excerpt(&line, 5004, 1);
        assert_eq!(shown.chars().count(), 160 + 2);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(shown.chars().nth(at), Some('x'));
        assert_eq!(width, 1);
        let (shown, at, _) = excerpt("key = \"\u{1b}[31m\"", 6, 3);
        assert_eq!(shown, "key = \"\u{fffd}[31m\"");
        assert_eq!(at, 6);
    }

    fn load(repo: &str) -> Result<Config> {
        Config::from_layers(vec![
            (Source::Embedded, DEFAULT_TOML.to_owned()),
            (
                Source::Repository(PathBuf::from(".pushguard.toml")),
                repo.to_owned(),
            ),
        ])
    }

    fn err(repo: &str) -> String {
        format!("{:#}", load(repo).unwrap_err())
    }

    #[test]
    fn default_has_three_environments_in_promotion_order() {
        let c = load("").unwrap();
        let names: Vec<_> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["development", "staging", "production"]);
        assert_eq!(
            c.environment_for_branch("main").unwrap().unwrap().name,
            "production"
        );
        assert_eq!(
            c.environment_for_branch("stage").unwrap().unwrap().name,
            "staging"
        );
        assert!(c.environment_for_branch("feature/main").unwrap().is_none());
        assert_eq!(c.confirm.timeout, Duration::from_secs(300));
        assert_eq!(c.tests.timeout, Duration::from_secs(1800));
        assert_eq!(c.bypass.min_length, 15);
        assert_eq!(c.wip.patterns.len(), 5);
    }

    #[test]
    fn checks_run_cheapest_first() {
        let c = load("").unwrap();
        let prod = c.environment("production").unwrap();
        assert_eq!(prod.checks.first(), Some(&CheckId::NoDelete));
        assert_eq!(prod.checks.last(), Some(&CheckId::Tests));
    }

    #[test]
    fn environments_are_taken_whole_from_the_highest_layer() {
        let c = load("[environments.production]\nbranches = [\"production\"]\n").unwrap();
        assert_eq!(c.environments.len(), 1);
        assert!(c.environment_for_branch("main").unwrap().is_none());
        // other tables still come from the default
        assert_eq!(c.bypass.min_length, 15);
    }

    #[test]
    fn other_tables_merge_key_by_key() {
        let c = load("[tests]\ntimeout = \"2m\"\n").unwrap();
        assert_eq!(c.tests.timeout, Duration::from_secs(120));
        assert!(c.tests.cache);
        assert_eq!(
            c.provenance.source_of("tests.timeout"),
            &Source::Repository(PathBuf::from(".pushguard.toml"))
        );
        assert_eq!(c.provenance.source_of("tests.cache"), &Source::Embedded);
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let e = err("[bypass]\nmin_lenght = 3\n");
        assert!(
            e.starts_with(".pushguard.toml:2:1: unknown field `min_lenght`"),
            "{e}"
        );
        assert!(e.contains("2 | min_lenght = 3\n  | ^^^^^^^^^^"), "{e}");
    }

    #[test]
    fn unknown_check_id_is_an_error() {
        let e = err("[environments.prod]\nbranches = [\"main\"]\nchecks = [\"no-wipp\"]\n");
        assert!(
            e.starts_with(".pushguard.toml:3:11: unknown variant `no-wipp`"),
            "{e}"
        );
    }

    #[test]
    fn bad_glob_is_an_error() {
        let e = err("[environments.prod]\nbranches = [\"rel[ease\"]\n");
        assert!(
            e.starts_with(".pushguard.toml:2:13: invalid branch glob `rel[ease`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_promote_from_is_an_error() {
        let e = err("[environments.prod]\nbranches = [\"main\"]\npromote_from = \"stagin\"\n");
        assert!(
            e.contains("unknown environment `stagin`; expected one of: prod"),
            "{e}"
        );
        assert!(e.starts_with(".pushguard.toml:3:16:"), "{e}");
    }

    #[test]
    fn cyclic_promote_from_is_an_error() {
        let e = err("[environments.a]\nbranches = [\"a\"]\npromote_from = \"b\"\n[environments.b]\nbranches = [\"b\"]\npromote_from = \"a\"\n");
        assert!(
            e.contains("`promote_from` forms a cycle: a -> b -> a"),
            "{e}"
        );
    }

    #[test]
    fn overlapping_environments_are_an_error() {
        let e = err("[environments.a]\nbranches = [\"release/*\"]\n[environments.b]\nbranches = [\"release/1\"]\n");
        assert!(e.contains("overlaps environment `a`"), "{e}");
        assert!(e.starts_with(".pushguard.toml:4:13:"), "{e}");
    }

    #[test]
    fn globs_stay_within_a_segment() {
        let c = load("[environments.rel]\nbranches = [\"release/*\"]\n").unwrap();
        assert!(c.environment_for_branch("release/1.2").unwrap().is_some());
        assert!(c.environment_for_branch("release/a/b").unwrap().is_none());
    }

    /// The `<dir>/**` fast path matches exactly the names the glob does.
    #[test]
    fn regression_issue_21_directory_globs_match_as_the_glob_does() {
        let names = [
            "topic",
            "topic/",
            "topic/a",
            "topic/a/b",
            "topicx/a",
            "x/topic/a",
            "TOPIC/a",
            "a",
        ];
        for pattern in ["topic/**", "team/topic/**", "topic/*/**"] {
            let fast = branch_glob(pattern).unwrap();
            let glob = parse_branch_glob(pattern).unwrap().compile_matcher();
            for name in names
                .iter()
                .chain(&["team/topic/x", "team/topic/x/y", "team/topic"])
            {
                assert_eq!(
                    fast.is_match(name),
                    glob.is_match(name),
                    "{pattern} on {name}"
                );
            }
        }
        assert!(matches!(
            branch_glob("topic/**").unwrap(),
            BranchMatcher::Under(_)
        ));
        assert!(matches!(
            branch_glob("t[o]pic/**").unwrap(),
            BranchMatcher::Glob(_)
        ));
    }

    #[test]
    fn bad_duration_and_regex_are_errors() {
        let e = err("[confirm]\ntimeout = \"soon\"\n");
        assert!(
            e.starts_with(".pushguard.toml:2:11: invalid duration `soon`"),
            "{e}"
        );
        let e = err("[wip]\npatterns = ['(']\n");
        assert!(
            e.starts_with(".pushguard.toml:2:13: invalid regular expression"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_names_the_place() {
        let e = err("[tests\n");
        assert!(e.starts_with(".pushguard.toml:1:"), "{e}");
    }

    #[test]
    fn promoted_needs_promote_from() {
        let e = err("[environments.prod]\nbranches = [\"main\"]\nchecks = [\"promoted\"]\n");
        assert!(e.contains("check `promoted` needs `promote_from`"), "{e}");
    }
    #[test]
    fn every_layer_is_validated_even_where_a_higher_one_overrides_it() {
        let e = format!(
            "{:#}",
            Config::from_layers(vec![
                (Source::Embedded, DEFAULT_TOML.to_owned()),
                (
                    Source::User(PathBuf::from("user.toml")),
                    "[tests]\ntimeout = \"soon\"\n".to_owned(),
                ),
                (
                    Source::Repository(PathBuf::from(".pushguard.toml")),
                    "[tests]\ntimeout = \"2m\"\n".to_owned(),
                ),
            ])
            .unwrap_err()
        );
        assert!(
            e.starts_with("user.toml:2:11: invalid duration `soon`"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_layer_the_value_came_from() {
        let layers = |repo: &str| {
            vec![
                (Source::Embedded, DEFAULT_TOML.to_owned()),
                (
                    Source::User(PathBuf::from("user.toml")),
                    "[environments.prod]\nbranches = [\"main\"]\n".to_owned(),
                ),
                (
                    Source::Repository(PathBuf::from(".pushguard.toml")),
                    repo.to_owned(),
                ),
            ]
        };
        // The repository's table overrides a key; its unknown key is its own error.
        let e = format!(
            "{:#}",
            Config::from_layers(layers("\n\n[confirm]\nleads = []\ntimeot = \"1m\"\n"))
                .unwrap_err()
        );
        assert!(
            e.starts_with(".pushguard.toml:5:1: unknown field `timeot`"),
            "{e}"
        );
        let c = Config::from_layers(layers("[confirm]\ntimeout = \"1m\"\n")).unwrap();
        assert_eq!(c.environments.len(), 1);
        assert_eq!(
            c.provenance.source_of("environments"),
            &Source::User(PathBuf::from("user.toml"))
        );
        assert_eq!(c.confirm.timeout, Duration::from_secs(60));
    }

    #[test]
    fn a_table_given_as_a_value_is_an_error_in_its_file() {
        let e = err("bypass = 3\n");
        assert!(
            e.starts_with(".pushguard.toml:1:10: invalid type: integer `3`"),
            "{e}"
        );
    }

    #[test]
    fn regression_week1_11_overlap_caret_is_under_the_overlapping_entry() {
        let e = err("[environments.development]\nbranches = [\"develop\", \"development\"]\n[environments.staging]\nbranches = [\"staging\", \"development\"]\n");
        assert!(
            e.starts_with(".pushguard.toml:4:24: branch glob `development` of environment `staging` overlaps environment `development`"),
            "{e}"
        );
        assert!(e.ends_with("4 | branches = [\"staging\", \"development\"]\n  |                        ^^^^^^^^^^^^^"), "{e}");
    }
    #[test]
    fn trust_keys_have_their_defaults_and_an_environment_can_override() {
        let c = load("").unwrap();
        assert_eq!(c.trust.allowed_signers, None);
        assert!(!c.trust.require_signatures);
        assert_eq!(
            c.environment("production").unwrap().require_signatures,
            None
        );
        let c = load("[trust]\nallowed_signers = \"keys/allowed\"\n[environments.production]\nbranches = [\"main\"]\nrequire_signatures = true\n").unwrap();
        assert_eq!(c.trust.allowed_signers, Some(PathBuf::from("keys/allowed")));
        assert!(!c.trust.require_signatures);
        assert_eq!(
            c.environment("production").unwrap().require_signatures,
            Some(true)
        );
        assert_eq!(
            c.provenance.source_of("trust.allowed_signers"),
            &Source::Repository(PathBuf::from(".pushguard.toml"))
        );
        let e = err("[trust]\nrequire_signatures = \"yes\"\n");
        assert!(
            e.starts_with(".pushguard.toml:2:22: invalid type: string \"yes\", expected a boolean"),
            "{e}"
        );
    }
    /// The located error of a window's times, found when they are parsed.
    fn window_err(repo: &str) -> String {
        let c = load(repo).expect("the shape loads");
        c.check_freeze_windows()
            .unwrap_err()
            .root_cause()
            .to_string()
    }

    const PROD: &str = "[environments.production]\nbranches = [\"main\"]\n";

    #[test]
    fn regression_issue_17_bad_windows_name_file_line_and_column() {
        let e = window_err(&format!("{PROD}[[freeze]]\nname = \"x\"\nfrom = \"2026-12-20T18:00:00+01:00\"\nuntil = \"2026-12-19T18:00:00+01:00\"\n"));
        assert!(
            e.starts_with(".pushguard.toml:6:9: freeze window `x` ends before it starts"),
            "{e}"
        );
        assert!(e.contains("6 | until = \"2026-12-19T18:00:00+01:00\"\n  |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^"), "{e}");
        let e = window_err(&format!("{PROD}[[freeze]]\nname = \"x\"\ncron = \"0 16 * * FRI\"\nduration = \"64h\"\ntimezone = \"Europe/Berlinn\"\n"));
        assert!(
            e.starts_with(".pushguard.toml:7:12: unknown time zone `Europe/Berlinn`"),
            "{e}"
        );
        let e = window_err(&format!("{PROD}[[freeze]]\nname = \"x\"\ncron = \"0 16 * * FRIDAYS\"\nduration = \"64h\"\ntimezone = \"UTC\"\n"));
        assert!(
            e.starts_with(".pushguard.toml:5:8: invalid cron pattern `0 16 * * FRIDAYS`"),
            "{e}"
        );
        let e = window_err(&format!("{PROD}[[freeze]]\nname = \"x\"\nfrom = \"2026-12-20T18:00:00\"\nuntil = \"2026-12-21T18:00:00Z\"\n"));
        assert!(
            e.starts_with(".pushguard.toml:5:8: invalid time `2026-12-20T18:00:00`: no offset"),
            "{e}"
        );
        let e = err(&format!("{PROD}[[freeze]]\nname = \"x\"\nfrom = \"2026-12-20T18:00:00Z\"\nuntil = \"2026-12-21T18:00:00Z\"\n[[freeze]]\nname = \"x\"\nfrom = \"2026-12-20T18:00:00Z\"\nuntil = \"2026-12-21T18:00:00Z\"\n"));
        assert!(
            e.starts_with(".pushguard.toml:8:8: duplicate freeze window name `x`"),
            "{e}"
        );
        let e = err(&format!("{PROD}[[freeze]]\nname = \"x\"\nenvironments = [\"prodution\"]\nfrom = \"2026-12-20T18:00:00Z\"\nuntil = \"2026-12-21T18:00:00Z\"\n"));
        assert!(
            e.starts_with(
                ".pushguard.toml:5:17: freeze window `x` names unknown environment `prodution`"
            ),
            "{e}"
        );
        let e = err(&format!(
            "{PROD}[[freeze]]\nname = \"x\"\ncron = \"0 16 * * FRI\"\nduration = \"64h\"\n"
        ));
        assert!(e.contains("has no `timezone`"), "{e}");
    }

    #[test]
    fn regression_issue_17_the_freeze_check_is_on_where_a_window_applies_and_parsed_lazily() {
        let c = load(&format!("[environments.staging]\nbranches = [\"staging\"]\n{PROD}[[freeze]]\nname = \"x\"\nenvironments = [\"prod*\"]\ncron = \"0 16 * * FRI\"\nduration = \"64h\"\ntimezone = \"Nowhere/Atlantis\"\n")).expect("the shape is valid: the zone is read on first use");
        assert_eq!(
            c.environment("production").unwrap().checks.first(),
            Some(&CheckId::Freeze)
        );
        assert!(!c.environment("staging").unwrap().has_check(CheckId::Freeze));
        assert!(c.freeze_windows().is_err());
    }

    #[test]
    fn bypass_keys_default_and_an_environment_can_override() {
        let c = load(&format!("{PROD}bypass_by = [\"*@sre.example\"]\n[bypass]\nticket = '^(INC|CHG)-[0-9]+$'\nreview_within = \"48h\"\n")).unwrap();
        let prod = c.environment("production").unwrap();
        assert_eq!(prod.bypass_by(&c), ["*@sre.example"]);
        assert_eq!(prod.ticket(&c), Some("^(INC|CHG)-[0-9]+$"));
        assert_eq!(prod.review_within(&c), Some(Duration::from_secs(48 * 3600)));
        let c = load("").unwrap();
        assert!(
            c.bypass.bypass_by.is_empty()
                && c.bypass.ticket.is_none()
                && c.bypass.review_within.is_none()
        );
        let e = err("[bypass]\nticket = '('\n");
        assert!(
            e.starts_with(".pushguard.toml:2:10: invalid regular expression"),
            "{e}"
        );
    }

    #[test]
    fn every_prefix_of_a_repository_config_loads_or_names_the_file() {
        // Cut anywhere, a file is valid or an error located in that file: the shared span
        // space maps every error back to the layer it came from (and never panics).
        let text = "[environments.dev]\nbranches = [\"dev/*\", \"develop\"]\n\n[environments.prod]\nbranches = [\"main\"]\npromote_from = \"dev\"\nchecks = [\"no-delete\", \"promoted\", \"no-wip\"]\nauthorized = [\"*@example.com\"]\nrequire_signatures = true\n\n[confirm]\nleads = [\"Ada Lead <ada@example.com>\"]\ntimeout = \"2m\"\n\n[wip]\npatterns = ['^WIP', 'D(O|ONT)']\n";
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let result = Config::from_layers(vec![
                (Source::Embedded, DEFAULT_TOML.to_owned()),
                (
                    Source::User(PathBuf::from("user.toml")),
                    "[bypass]\nmin_length = 20\n".to_owned(),
                ),
                (
                    Source::Repository(PathBuf::from(".pushguard.toml")),
                    text[..end].to_owned(),
                ),
            ]);
            if let Err(e) = result {
                let shown = format!("{e:#}");
                assert!(
                    shown.starts_with(".pushguard.toml:"),
                    "cut at {end}: {shown}"
                );
            }
        }
    }
}
