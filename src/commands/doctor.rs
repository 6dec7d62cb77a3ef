//! `pushguard doctor`: proves that git's pre-push hook reaches pushguard, through whatever
//! hook manager sits in between, with a real `git push --dry-run` to an environment branch.
//!
//! The dry run carries a one-time probe token (`PUSHGUARD_PROBE`). The hook, seeing it,
//! writes down that it ran, through which manager, what it read on stdin and whether it
//! could open a terminal, then refuses the push: a probe can only block, never allow, and a
//! dry run sends nothing in any case. The hook's side is [`intercept`], which also refuses
//! to run as a pre-commit/prek stage hook ([`crate::install::managers::is_stage_hook`]).

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::git::Repo;
use crate::install::managers;
use crate::outcome::{Exit, WithHint};

/// The variable that carries the probe token into the hook.
pub const PROBE_ENV: &str = "PUSHGUARD_PROBE";
/// Set by the integrations (husky's block, lefthook's command) to say who ran pushguard.
pub const VIA_ENV: &str = "PUSHGUARD_VIA";

/// What the hook saw when the probe reached it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Probe {
    /// The manager or hook that ran pushguard.
    pub via: String,
    /// git's `$1` and `$2`.
    pub remote: String,
    pub url: String,
    /// What was on stdin, as text.
    pub stdin: String,
    /// Whether pushguard ran as a pre-commit/prek stage hook.
    pub stage_hook: bool,
    /// Whether `/dev/tty` could be opened for the question.
    pub tty: bool,
}

/// The hook's first step: answers doctor's probe (always blocking) or refuses to run as a
/// pre-commit/prek stage hook. `None`: carry on with the push.
pub fn intercept(
    input: &[u8],
    remote: &str,
    url: &str,
    hook_dir: Option<&Path>,
) -> Result<Option<Exit>> {
    let stage_hook = managers::is_stage_hook(input);
    let mut err = std::io::stderr().lock();
    if let Some(token) = std::env::var_os(PROBE_ENV) {
        let probe = Probe {
            via: via(hook_dir, stage_hook),
            remote: remote.to_owned(),
            url: url.to_owned(),
            stdin: String::from_utf8_lossy(input).into_owned(),
            stage_hook,
            tty: crate::terminal::open_tty().is_some(),
        };
        match record(&token.to_string_lossy(), &probe) {
            Ok(()) => writeln!(
                err,
                "pushguard: doctor's probe reached the hook; refusing it (a probe never pushes)"
            )?,
            Err(e) => writeln!(
                err,
                "pushguard: a probe token was given but not recorded ({e:#}); refusing the push"
            )?,
        }
        return Ok(Some(Exit::Blocked));
    }
    if stage_hook {
        managers::write_stage_refusal(&mut err)?;
        return Ok(Some(Exit::Blocked));
    }
    Ok(None)
}

/// Who ran the hook: an integration's own word, pre-commit's legacy hook, or git.
fn via(hook_dir: Option<&Path>, stage_hook: bool) -> String {
    if stage_hook {
        return "a pre-commit/prek pre-push stage hook".to_owned();
    }
    if let Some(v) = crate::terminal::env_value(VIA_ENV) {
        return v;
    }
    if let Some(tool) = managers::running_as_legacy() {
        return format!("{tool} (legacy hook)");
    }
    match hook_dir {
        Some(dir) => format!("git's pre-push hook in {}", dir.display()),
        None => "git's pre-push hook".to_owned(),
    }
}

fn probe_dir() -> Result<PathBuf> {
    Ok(crate::git::common_dir_via_git()?
        .join("pushguard")
        .join("doctor"))
}

/// Writes the probe's findings, if doctor is waiting for this token.
fn record(token: &str, probe: &Probe) -> Result<()> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the token is not one doctor makes");
    }
    let dir = probe_dir()?;
    let pending = dir.join(format!("{token}.pending"));
    if !pending.is_file() {
        bail!("no `pushguard doctor` is waiting for this token");
    }
    let text = serde_json::to_string(probe).context("failed to encode the probe")?;
    let path = dir.join(format!("{token}.json"));
    fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

/// A fresh random token: 16 bytes of `/dev/urandom`, hex.
fn token() -> Result<String> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("failed to read `/dev/urandom` for a probe token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn git_line(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("failed to run git; is it installed?")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The environment branch the probe pretends to push to: the first plain branch name.
fn probe_branch(config: &crate::config::Config) -> Result<String> {
    config
        .environments
        .iter()
        .flat_map(|e| e.branches.iter())
        .find(|b| !b.contains(['*', '?', '[', '{']))
        .cloned()
        .context("no environment has a plain branch name for the probe to push to")
        .hint("add one to an environment's `branches` in `.pushguard.toml`")
}

/// `pushguard doctor`.
pub fn run() -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = crate::config::load(&crate::config::Location::of_repo(&repo))?;
    let remote = crate::remote::require(&repo, None, "doctor", "a push to probe")?;
    let branch = probe_branch(&config)?;
    // A throwaway child of HEAD (never sent): there is always something to push.
    let probe_commit = git_line(&[
        "commit-tree",
        "HEAD^{tree}",
        "-p",
        "HEAD",
        "-m",
        "pushguard doctor probe",
    ])
    .context("failed to make the probe commit (does this clone have a commit?)")?;
    let token = token()?;
    let dir = probe_dir()?;
    fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    let pending = dir.join(format!("{token}.pending"));
    let result = dir.join(format!("{token}.json"));
    fs::write(&pending, "").with_context(|| format!("failed to write `{}`", pending.display()))?;
    let refspec = format!("+{probe_commit}:refs/heads/{branch}");
    let out = Command::new("git")
        .args(["push", "--dry-run", "--no-progress", &remote, &refspec])
        .env(PROBE_ENV, &token)
        .env(crate::terminal::NONINTERACTIVE_ENV, "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .context("failed to run `git push --dry-run`");
    let found = fs::read_to_string(&result).ok();
    let _ = fs::remove_file(&pending);
    let _ = fs::remove_file(&result);
    let out = out?;
    let git_said = String::from_utf8_lossy(&out.stderr).trim().to_owned();

    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "pushguard doctor: `git push --dry-run {remote} <probe>:refs/heads/{branch}` (nothing is sent)"
    )?;
    let hooks = crate::install::hooks_dir()?;
    let Some(found) = found else {
        if out.status.success() || !git_said.contains("fatal:") {
            let diagnosis = managers::diagnose(&hooks)?;
            writeln!(err, "  ✗ git's pre-push hook did not reach pushguard")?;
            writeln!(err, "  {}", diagnosis.line())?;
            writeln!(err, "hint: {}", diagnosis.fix())?;
            return Ok(Exit::Blocked);
        }
        bail!("the dry run failed before git ran the pre-push hook: {git_said}");
    };
    let probe: Probe = serde_json::from_str(&found).context("failed to read the probe's record")?;
    writeln!(
        err,
        "  ✓ git's pre-push hook reached pushguard, through {}",
        probe.via
    )?;
    let mut effective = true;
    if probe.stage_hook {
        effective = false;
        writeln!(err, "  ✗ pushguard ran as a pre-commit/prek stage hook: it cannot see every ref, so it refuses every push")?;
        writeln!(
            err,
            "hint: remove pushguard from .pre-commit-config.yaml and run `pushguard install`"
        )?;
    }
    let lines: Vec<&str> = probe
        .stdin
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let expected = format!("{probe_commit} {probe_commit} refs/heads/{branch} ");
    let intact = lines.len() == 1 && lines[0].starts_with(&expected);
    if intact {
        writeln!(err, "  ✓ git's ref lines arrived intact on stdin")?;
    } else if !probe.stage_hook {
        effective = false;
        writeln!(
            err,
            "  ✗ git's ref lines did not arrive intact: pushguard read {} line(s) on stdin, expected 1 for refs/heads/{branch}",
            lines.len()
        )?;
        writeln!(err, "hint: the manager must hand git's stdin to pushguard (lefthook: `use_stdin: true`); `pushguard install` sets this up")?;
    }
    if probe.tty {
        writeln!(
            err,
            "  ✓ a terminal is available for the question (/dev/tty)"
        )?;
    } else {
        writeln!(err, "  - no terminal (/dev/tty) for the question: environment pushes need PUSHGUARD_CONSULTED or `pushguard confirm <env>`")?;
    }
    if effective {
        writeln!(err, "pushguard doctor: the guard is effective")?;
        Ok(Exit::Success)
    } else {
        writeln!(err, "pushguard doctor: the guard is NOT effective")?;
        Ok(Exit::Blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_hex_and_differ() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_token_doctor_did_not_make_is_not_recorded() {
        let probe = Probe {
            via: String::new(),
            remote: String::new(),
            url: String::new(),
            stdin: String::new(),
            stage_hook: false,
            tty: false,
        };
        assert!(record("../../etc/passwd", &probe).is_err());
    }
}
