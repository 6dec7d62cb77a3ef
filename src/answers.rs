//! Answers kept in the state directory between processes: confirmations given ahead of time
//! with `pushguard confirm` (single use, bound to an environment, expiring), and the answers
//! of a push that git's next run of the hook (once per push URL) reuses.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::audit::ChecklistEntry;

/// How long answers given for a ref and commit are reused by the hook's next run.
pub const REUSE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `data` to `path` through a temporary file and a rename, so readers never see half.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().expect("state files live in a directory");
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create the directory `{}`", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("failed to write `{}`", path.display()))
}

/// A confirmation recorded ahead of time by `pushguard confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub environment: String,
    pub consulted: String,
    /// Every checklist item of the environment, answered yes.
    pub checklist: Vec<ChecklistEntry>,
    /// The checklist was affirmed with `--affirm-checklist` rather than asked item by item.
    pub affirmed_with_flag: bool,
    /// When it was given (RFC 3339, UTC).
    pub created: String,
    /// Seconds since the Unix epoch after which it no longer counts.
    pub expires: u64,
}

impl Confirmation {
    /// The moment it expires, as RFC 3339.
    pub fn expires_at(&self) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.expires))
            .to_string()
    }
}

/// Where the confirmation for `environment` is kept.
pub fn confirmation_path(state_dir: &Path, environment: &str) -> PathBuf {
    let safe: String = environment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("confirmations").join(format!("{safe}.json"))
}

/// Stores a confirmation valid for `valid_for`, replacing any earlier one for its environment.
pub fn store_confirmation(
    state_dir: &Path,
    mut c: Confirmation,
    valid_for: Duration,
) -> Result<Confirmation> {
    c.expires = unix_now() + valid_for.as_secs().max(1);
    let data = serde_json::to_vec_pretty(&c).expect("a confirmation always serializes");
    write_atomic(&confirmation_path(state_dir, &c.environment), &data)?;
    Ok(c)
}

/// What taking the confirmation for an environment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A valid confirmation, now used up.
    Valid(Confirmation),
    /// One existed but had expired (it is removed).
    Expired(Confirmation),
    None,
}

/// Takes (uses up) the confirmation for `environment`, if there is one.
///
/// The file is renamed away before it is read, so two parallel pushes cannot both use it.
pub fn take_confirmation(state_dir: &Path, environment: &str) -> Taken {
    let path = confirmation_path(state_dir, environment);
    let claimed = path.with_extension(format!("taken{}", std::process::id()));
    if std::fs::rename(&path, &claimed).is_err() {
        return Taken::None;
    }
    let parsed = std::fs::read(&claimed)
        .ok()
        .and_then(|d| serde_json::from_slice::<Confirmation>(&d).ok());
    let _ = std::fs::remove_file(&claimed);
    match parsed {
        Some(c) if c.environment != environment => Taken::None,
        Some(c) if c.expires <= unix_now() => Taken::Expired(c),
        Some(c) => Taken::Valid(c),
        None => Taken::None,
    }
}

/// Answers given for one ref and commit, reused by the hook's next run for another push URL
/// of the same remote (never for another remote: a confirmation covers one push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The remote the push went to (its name, or the URL when it has none); answers kept by
    /// an older version have none and are never reused.
    #[serde(default)]
    pub remote: String,
    pub environment: String,
    pub remote_ref: String,
    pub new: String,
    /// Seconds since the Unix epoch when they were given.
    pub at: u64,
    pub consulted: Option<String>,
    pub checklist: Vec<ChecklistEntry>,
    pub justification: Option<String>,
    /// The freeze windows a bypass named.
    #[serde(default)]
    pub freeze: Option<String>,
}

fn remembered_path(state_dir: &Path) -> PathBuf {
    state_dir.join("recent-answers.json")
}

fn load_remembered(state_dir: &Path) -> Vec<Remembered> {
    let now = unix_now();
    std::fs::read(remembered_path(state_dir))
        .ok()
        .and_then(|d| serde_json::from_slice::<Vec<Remembered>>(&d).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| now.saturating_sub(r.at) < REUSE_WINDOW.as_secs())
        .collect()
}

/// Finds answers given a moment ago for the same remote, environment, ref and commit.
pub fn recall(
    state_dir: &Path,
    remote: &str,
    environment: &str,
    remote_ref: &str,
    new: &str,
) -> Option<Remembered> {
    load_remembered(state_dir).into_iter().rev().find(|r| {
        !r.remote.is_empty()
            && r.remote == remote
            && r.environment == environment
            && r.remote_ref == remote_ref
            && r.new == new
    })
}

/// Keeps answers for the hook's next run; older entries past the reuse window are dropped.
pub fn remember(state_dir: &Path, mut answers: Remembered) -> Result<()> {
    answers.at = unix_now();
    let mut all = load_remembered(state_dir);
    all.retain(|r| {
        !(r.remote == answers.remote
            && r.environment == answers.environment
            && r.remote_ref == answers.remote_ref
            && r.new == answers.new)
    });
    all.push(answers);
    let data = serde_json::to_vec(&all).expect("answers always serialize");
    write_atomic(&remembered_path(state_dir), &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmation(env: &str) -> Confirmation {
        Confirmation {
            environment: env.into(),
            consulted: "Ada Lead".into(),
            checklist: vec![],
            affirmed_with_flag: false,
            created: "2026-01-01T00:00:00Z".into(),
            expires: 0,
        }
    }

    #[test]
    fn a_confirmation_is_used_once_and_bound_to_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        store_confirmation(dir.path(), confirmation("staging"), Duration::from_secs(60)).unwrap();
        assert_eq!(take_confirmation(dir.path(), "production"), Taken::None);
        assert!(
            matches!(take_confirmation(dir.path(), "staging"), Taken::Valid(c) if c.consulted == "Ada Lead")
        );
        assert_eq!(take_confirmation(dir.path(), "staging"), Taken::None);
    }

    #[test]
    fn answers_are_recalled_for_the_same_ref_and_commit_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = Remembered {
            remote: "origin".into(),
            environment: "production".into(),
            remote_ref: "refs/heads/main".into(),
            new: "abc".into(),
            at: 0,
            consulted: Some("Ada".into()),
            checklist: vec![],
            justification: None,
            freeze: None,
        };
        remember(dir.path(), r).unwrap();
        assert!(recall(dir.path(), "origin", "production", "refs/heads/main", "abc").is_some());
        assert!(recall(dir.path(), "origin", "production", "refs/heads/main", "abd").is_none());
        assert!(recall(dir.path(), "origin", "production", "refs/heads/prod", "abc").is_none());
        // Issue 10: answers are bound to the remote too.
        assert!(recall(dir.path(), "mirror", "production", "refs/heads/main", "abc").is_none());
    }
}
