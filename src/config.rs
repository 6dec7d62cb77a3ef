//! Configuration: the embedded default, the user file and the repository file, layered
//! and validated once into a typed [`Config`].
//!
//! `[environments]` is taken whole from the highest layer that has it; every other table
//! merges key by key. Parsing is strict (`deny_unknown_fields`), and every error names the
//! file, line and column with the offending line and a caret under it, because a guard that
//! only warns on a typo guards nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::checks::CheckId;
use crate::WithHint;

/// The embedded default configuration, also the template that `pushguard init` writes.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// File name of the repository layer, at the work-tree root.
pub const REPO_FILE: &str = ".pushguard.toml";

/// Environment variable naming a config file to use instead of the repository file.
pub const CONFIG_ENV: &str = "PUSHGUARD_CONFIG";

/// Where a layer of the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The default compiled into the binary.
    Embedded,
    /// `<config dir>/pushguard/config.toml`.
    User(PathBuf),
    /// `.pushguard.toml` at the work-tree root.
    Repository(PathBuf),
    /// The file named by `PUSHGUARD_CONFIG`.
    Env(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Embedded => f.write_str("built-in default"),
            Source::User(p) => write!(f, "user config `{}`", p.display()),
            Source::Repository(p) => write!(f, "repository config `{}`", p.display()),
            Source::Env(p) => write!(f, "`{}` (from {CONFIG_ENV})", p.display()),
        }
    }
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Embedded => "<built-in default>".to_owned(),
            Source::User(p) | Source::Repository(p) | Source::Env(p) => p.display().to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Raw layers, as written in a file. Every field is optional so that layers can merge.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    environments: Option<BTreeMap<Spanned<String>, RawEnvironment>>,
    confirm: Option<RawConfirm>,
    team: Option<RawTeam>,
    tests: Option<RawTests>,
    bypass: Option<RawBypass>,
    wip: Option<RawWip>,
    trust: Option<RawTrust>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    branches: Option<Vec<Spanned<String>>>,
    promote_from: Option<Spanned<String>>,
    confirm: Option<bool>,
    checks: Option<Vec<Spanned<CheckId>>>,
    checklist: Option<Vec<String>>,
    authorized: Option<Vec<Spanned<String>>>,
    approvals: Option<u32>,
    approvers: Option<Vec<Spanned<String>>>,
    fetch: Option<bool>,
    bypass: Option<bool>,
    require_signatures: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfirm {
    leads: Option<Vec<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    fetch_notes: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTests {
    commands: Option<Vec<String>>,
    timeout: Option<Spanned<String>>,
    cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBypass {
    min_length: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    allowed_signers: Option<String>,
    require_signatures: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWip {
    patterns: Option<Vec<Spanned<String>>>,
}

// ---------------------------------------------------------------------------------------
// The typed, validated configuration.

/// One environment: which branches it covers and what a push to it must pass.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub branches: Vec<String>,
    pub promote_from: Option<String>,
    pub confirm: bool,
    /// The configured checks, in the order they run (cheapest first).
    pub checks: Vec<CheckId>,
    pub checklist: Vec<String>,
    pub authorized: Vec<String>,
    pub approvals: u32,
    pub approvers: Vec<String>,
    pub fetch: bool,
    pub bypass: bool,
    /// `require_signatures` for this environment; `None` follows `[trust]`.
    pub require_signatures: Option<bool>,
    matchers: Vec<BranchMatcher>,
}

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

#[derive(Debug, Clone)]
pub struct ConfirmConfig {
    pub leads: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TeamConfig {
    pub fetch_notes: bool,
}

#[derive(Debug, Clone)]
pub struct TestsConfig {
    pub commands: Vec<String>,
    pub timeout: Duration,
    pub cache: bool,
}

/// `[trust]`: the allowed-signers file and whether signatures are required (see
/// [`crate::signing`]).
#[derive(Debug, Clone, Default)]
pub struct TrustConfig {
    /// As written; `None`: git's `gpg.ssh.allowedSignersFile`.
    pub allowed_signers: Option<String>,
    pub require_signatures: bool,
}

#[derive(Debug, Clone)]
pub struct BypassConfig {
    pub min_length: usize,
}

/// `[wip]`: the patterns as written, checked when the config is loaded and compiled on first
/// use. Compiling regular expressions was the largest part of an ordinary push's own work
/// (measured with `perf record` over the hook's fast path), and only `no-wip` needs them.
#[derive(Debug, Clone, Default)]
pub struct WipConfig {
    pub patterns: Vec<String>,
    compiled: OnceLock<Vec<Regex>>,
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

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Environments in promotion order: an environment comes after the one it promotes from.
    pub environments: Vec<Environment>,
    pub confirm: ConfirmConfig,
    pub team: TeamConfig,
    pub tests: TestsConfig,
    pub bypass: BypassConfig,
    pub wip: WipConfig,
    pub trust: TrustConfig,
    /// The layers that were read, lowest first.
    pub sources: Vec<Source>,
    pub provenance: Provenance,
}

/// An environment branch that a ref name resolved to.
#[derive(Debug, Clone, Copy)]
pub struct Classified<'a> {
    pub environment: &'a Environment,
}

impl Config {
    /// Loads the layered configuration for a work tree rooted at `work_tree` (if any).
    pub fn load(work_tree: Option<&Path>) -> Result<Config> {
        Config::load_file(work_tree.map(|root| root.join(REPO_FILE)).as_deref())
    }

    /// Loads the layered configuration with `repo_file` (if any, and if it exists) as the
    /// repository layer; a bare repository on a server names its `pushguard.toml` here.
    pub fn load_file(repo_file: Option<&Path>) -> Result<Config> {
        let mut layers = vec![(Source::Embedded, DEFAULT_TOML.to_owned())];
        if let Some(path) = user_config_path() {
            if let Some(text) = read_layer(&path, "")? {
                layers.push((Source::User(path), text));
            }
        }
        if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            let named = format!(" (named by {CONFIG_ENV})");
            if let Some(text) = read_layer(&path, &named)? {
                layers.push((Source::Env(path), text));
            }
        } else if let Some(path) = repo_file {
            let path = path.to_owned();
            if let Some(text) = read_layer(&path, "")? {
                layers.push((Source::Repository(path), text));
            }
        }
        Config::from_layers(layers)
    }

    /// Parses and validates configuration layers given lowest first.
    pub fn from_layers(layers: Vec<(Source, String)>) -> Result<Config> {
        let mut parsed = Vec::with_capacity(layers.len());
        for (source, text) in &layers {
            let layer: Layer =
                toml::from_str(text).map_err(|e| located(source, text, e.span(), e.message()))?;
            parsed.push(layer);
        }
        merge(&layers, parsed)
    }

    /// Resolves a short branch name to its environment; `Ok(None)` for an ordinary branch.
    pub fn environment_for_branch(&self, branch: &str) -> Result<Option<&Environment>> {
        let mut found = self.environments.iter().filter(|e| e.matches(branch));
        let first = found.next();
        if let (Some(a), Some(b)) = (first, found.next()) {
            bail!(
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
            crate::with_hint(
                anyhow::anyhow!("there is no environment `{name}` in the configuration"),
                format!("the environments are: {}", names.join(", ")),
            )
        })
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
    Glob(GlobMatcher),
}

impl BranchMatcher {
    pub fn is_match(&self, branch: &str) -> bool {
        match self {
            BranchMatcher::Exact(name) => name == branch,
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
    Ok(BranchMatcher::Glob(
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()?
            .compile_matcher(),
    ))
}

/// Builds a matcher for an email glob (`*@corp.example`), case-insensitive.
pub fn email_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .case_insensitive(true)
        .build()?
        .compile_matcher())
}

/// The largest config file pushguard reads. A team's config is a few kilobytes; refusing a
/// huge file up front keeps every push fast and its memory bounded (issue 6).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads one config file; `Ok(None)` when an optional one (`named` empty) does not exist.
fn read_layer(path: &Path, named: &str) -> Result<Option<String>> {
    use std::io::Read as _;
    let failed = || format!("failed to read config `{}`{named}", path.display());
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_empty() => return Ok(None),
        Err(e) => return Err(e).with_context(failed),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(failed)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(anyhow::anyhow!(
            "config `{}`{named} is larger than {} KiB, the most pushguard reads",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        ))
        .hint("a pushguard config is a few kilobytes: check that the file is the one you meant");
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", failed()))
}

/// An error at a place in a config file: `file:line:column: message`, the line, a caret.
fn located(
    source: &Source,
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> anyhow::Error {
    let Some(span) = span else {
        return anyhow::anyhow!("{}: {message}", source.name());
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let content = text[line_start..line_end].trim_end_matches('\r');
    let width = text[start..span.end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let (shown, caret_at, width) = excerpt(content, column - 1, width);
    let gutter = " ".repeat(line_no.to_string().len());
    anyhow::anyhow!(
        "{}:{line_no}:{column}: {message}\n{gutter} |\n{line_no} | {shown}\n{gutter} | {}{}",
        source.name(),
        " ".repeat(caret_at),
        "^".repeat(width)
    )
}

/// The part of a config line shown under an error: at most [`EXCERPT_CHARS`] characters
/// around the error (a hostile file may hold a 10 MB line), control characters replaced so
/// that none reaches the terminal. Returns the excerpt, the caret's offset and width in it.
fn excerpt(line: &str, at: usize, width: usize) -> (String, usize, usize) {
    const EXCERPT_CHARS: usize = 160;
    let total = line.chars().count();
    let first = if total <= EXCERPT_CHARS {
        0
    } else {
        at.saturating_sub(EXCERPT_CHARS / 2)
            .min(total - EXCERPT_CHARS)
    };
    let last = (first + EXCERPT_CHARS).min(total);
    let mut shown = String::new();
    if first > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(first).take(last - first).map(|c| {
        if c.is_control() && c != '\t' {
            '\u{fffd}'
        } else {
            c
        }
    }));
    if last < total {
        shown.push('…');
    }
    let caret_at = at - first + usize::from(first > 0);
    (shown, caret_at, width.min(last.saturating_sub(at)).max(1))
}

fn merge(layers: &[(Source, String)], parsed: Vec<Layer>) -> Result<Config> {
    let mut provenance = Provenance::default();
    let mut environments = None;
    let mut leads = None;
    let mut confirm_timeout = None;
    let mut fetch_notes = None;
    let mut commands = None;
    let mut tests_timeout = None;
    let mut cache = None;
    let mut min_length = None;
    let mut wip_patterns = None;
    let mut allowed_signers = None;
    let mut require_signatures = None;

    // Later layers win; record where each winning value came from.
    macro_rules! take {
        ($slot:ident, $value:expr, $key:literal, $i:expr) => {
            if let Some(v) = $value {
                $slot = Some((v, $i));
                provenance
                    .parts
                    .insert($key.to_owned(), layers[$i].0.clone());
            }
        };
    }
    for (i, layer) in parsed.into_iter().enumerate() {
        take!(environments, layer.environments, "environments", i);
        let confirm = layer.confirm.unwrap_or_default();
        take!(leads, confirm.leads, "confirm.leads", i);
        take!(confirm_timeout, confirm.timeout, "confirm.timeout", i);
        let team = layer.team.unwrap_or_default();
        take!(fetch_notes, team.fetch_notes, "team.fetch_notes", i);
        let tests = layer.tests.unwrap_or_default();
        take!(commands, tests.commands, "tests.commands", i);
        take!(tests_timeout, tests.timeout, "tests.timeout", i);
        take!(cache, tests.cache, "tests.cache", i);
        let bypass = layer.bypass.unwrap_or_default();
        take!(min_length, bypass.min_length, "bypass.min_length", i);
        let wip = layer.wip.unwrap_or_default();
        take!(wip_patterns, wip.patterns, "wip.patterns", i);
        let trust = layer.trust.unwrap_or_default();
        take!(
            allowed_signers,
            trust.allowed_signers,
            "trust.allowed_signers",
            i
        );
        take!(
            require_signatures,
            trust.require_signatures,
            "trust.require_signatures",
            i
        );
    }

    let at = |i: usize, span: Range<usize>, msg: &str| {
        located(&layers[i].0, &layers[i].1, Some(span), msg)
    };
    let duration = |slot: Option<(Spanned<String>, usize)>| -> Result<Duration> {
        let (value, i) = slot.expect("the embedded default sets every key");
        parse_duration(value.get_ref()).map_err(|e| {
            at(
                i,
                value.span(),
                &format!(
                    "invalid duration `{}`: {e}; expected e.g. \"5m\" or \"1h 30m\"",
                    value.get_ref()
                ),
            )
        })
    };

    let confirm = ConfirmConfig {
        leads: leads.map(|(v, _)| v).unwrap_or_default(),
        timeout: duration(confirm_timeout)?,
    };
    let team = TeamConfig {
        fetch_notes: fetch_notes.is_none_or(|(v, _)| v),
    };
    let tests = TestsConfig {
        commands: commands.map(|(v, _)| v).unwrap_or_default(),
        timeout: duration(tests_timeout)?,
        cache: cache.is_none_or(|(v, _)| v),
    };
    let bypass = BypassConfig {
        min_length: min_length.map_or(15, |(v, _)| v),
    };
    let mut patterns = Vec::new();
    if let Some((list, i)) = wip_patterns {
        for p in list {
            // Parsing catches every syntax error without the cost of compiling.
            regex_syntax::Parser::new()
                .parse(p.get_ref())
                .map_err(|e| {
                    at(
                        i,
                        p.span(),
                        &format!("invalid regular expression in `wip.patterns`: {e}"),
                    )
                })?;
            patterns.push(p.into_inner());
        }
    }

    let (raw_envs, env_layer) = environments.expect("the embedded default defines environments");
    let environments = build_environments(raw_envs, |span, msg| at(env_layer, span, msg))?;

    Ok(Config {
        environments,
        confirm,
        team,
        tests,
        bypass,
        wip: WipConfig::new(patterns),
        trust: TrustConfig {
            allowed_signers: allowed_signers.map(|(v, _)| v),
            require_signatures: require_signatures.is_some_and(|(v, _)| v),
        },
        sources: layers.iter().map(|(s, _)| s.clone()).collect(),
        provenance,
    })
}

fn build_environments(
    raw: BTreeMap<Spanned<String>, RawEnvironment>,
    at: impl Fn(Range<usize>, &str) -> anyhow::Error,
) -> Result<Vec<Environment>> {
    let names: Vec<String> = raw.keys().map(|k| k.get_ref().clone()).collect();
    let mut envs = Vec::new();
    let mut promote_spans = BTreeMap::new();
    for (name, env) in raw {
        let name_span = name.span();
        let name = name.into_inner();
        let branches = env.branches.unwrap_or_default();
        if branches.is_empty() {
            return Err(at(
                name_span,
                &format!("environment `{name}` has no `branches`; expected a list of branch globs such as [\"staging\"]"),
            ));
        }
        let mut matchers = Vec::new();
        for b in &branches {
            let glob = b.get_ref();
            if glob.starts_with("refs/") {
                return Err(at(
                    b.span(),
                    &format!(
                        "branch glob `{glob}` must name a branch, not a ref; expected e.g. \"{}\"",
                        glob.trim_start_matches("refs/heads/")
                    ),
                ));
            }
            let m = branch_glob(glob).map_err(|e| {
                at(
                    b.span(),
                    &format!("invalid branch glob `{glob}`: {}", e.kind()),
                )
            })?;
            matchers.push(m);
        }
        let promote_from = match env.promote_from {
            Some(p) => {
                if !names.contains(p.get_ref()) {
                    return Err(at(
                        p.span(),
                        &format!(
                            "`promote_from` names unknown environment `{}`; expected one of: {}",
                            p.get_ref(),
                            names.join(", ")
                        ),
                    ));
                }
                if p.get_ref() == &name {
                    return Err(at(
                        p.span(),
                        &format!("environment `{name}` cannot promote from itself"),
                    ));
                }
                promote_spans.insert(name.clone(), p.span());
                Some(p.into_inner())
            }
            None => None,
        };
        let mut checks: Vec<CheckId> = Vec::new();
        for c in env
            .checks
            .unwrap_or_else(|| vec![Spanned::new(0..0, CheckId::NoDelete)])
        {
            let id = *c.get_ref();
            if id == CheckId::Promoted && promote_from.is_none() {
                return Err(at(
                    c.span(),
                    &format!("check `promoted` needs `promote_from` in environment `{name}`"),
                ));
            }
            if !checks.contains(&id) {
                checks.push(id);
            }
        }
        checks.sort_by_key(|c| c.cost_rank());
        let check_globs = |list: Option<Vec<Spanned<String>>>, key: &str| -> Result<Vec<String>> {
            let list = list.unwrap_or_default();
            for g in &list {
                email_glob(g.get_ref()).map_err(|e| {
                    at(
                        g.span(),
                        &format!("invalid pattern `{}` in `{key}`: {}", g.get_ref(), e.kind()),
                    )
                })?;
            }
            Ok(list.into_iter().map(Spanned::into_inner).collect())
        };
        envs.push(Environment {
            branches: branches.iter().map(|b| b.get_ref().clone()).collect(),
            promote_from,
            confirm: env.confirm.unwrap_or(true),
            checks,
            checklist: env.checklist.unwrap_or_default(),
            authorized: check_globs(env.authorized, "authorized")?,
            approvals: env.approvals.unwrap_or(0),
            approvers: check_globs(env.approvers, "approvers")?,
            fetch: env.fetch.unwrap_or(false),
            bypass: env.bypass.unwrap_or(true),
            require_signatures: env.require_signatures,
            matchers,
            name,
        });
        overlap_check(&envs, &branches, &at)?;
    }

    // Reject cycles in promote_from.
    for env in &envs {
        let mut seen = vec![env.name.as_str()];
        let mut cur = env;
        while let Some(from) = &cur.promote_from {
            if seen.contains(&from.as_str()) {
                let span = promote_spans.get(&env.name).cloned().unwrap_or(0..0);
                seen.push(from);
                return Err(at(
                    span,
                    &format!("`promote_from` forms a cycle: {}", seen.join(" -> ")),
                ));
            }
            seen.push(from);
            cur = envs
                .iter()
                .find(|e| &e.name == from)
                .expect("validated above");
        }
    }

    // Promotion order: an environment after the one it promotes from.
    let depth = |e: &Environment| {
        let mut d = 0;
        let mut cur = e;
        while let Some(from) = &cur.promote_from {
            d += 1;
            cur = envs
                .iter()
                .find(|x| &x.name == from)
                .expect("validated above");
        }
        d
    };
    let mut order: Vec<(usize, Environment)> = envs.iter().map(|e| (depth(e), e.clone())).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    Ok(order.into_iter().map(|(_, e)| e).collect())
}

/// Rejects a branch glob of the newest environment that another environment also matches.
///
/// Two arbitrary globs can overlap in ways that are costly to decide; this catches the cases
/// that happen in practice (a literal or identical glob claimed twice). A branch that still
/// matches two environments at push time is refused by [`Config::environment_for_branch`].
fn overlap_check(
    envs: &[Environment],
    branches: &[Spanned<String>],
    at: &impl Fn(Range<usize>, &str) -> anyhow::Error,
) -> Result<()> {
    let (newest, others) = envs.split_last().expect("called after a push");
    for b in branches {
        let glob = b.get_ref();
        let literal = is_literal(glob);
        for other in others {
            let clash = other.branches.iter().any(|o| o == glob)
                || (literal && other.matches(glob))
                || other
                    .branches
                    .iter()
                    .any(|o| is_literal(o) && newest.matches(o));
            if clash {
                return Err(at(
                    b.span(),
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
}
