//! How a run ends: the status it exits with ([`Exit`]), and errors that carry advice
//! ([`Hinted`], attached with [`WithHint::hint`] or [`with_hint`]), printed by
//! `report::error` as `hint:` lines. Part of the shared vocabulary every layer uses.

use std::fmt;
use std::process::ExitCode;

/// How a successful run ends. Errors end with status 2, decided in `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Allowed, or the command succeeded (status 0).
    Success,
    /// Blocked, a check failed, or verification failed (status 1).
    Blocked,
    /// Another program's status, passed through (a chained hook's).
    Code(u8),
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Blocked => ExitCode::from(1),
            Exit::Code(c) => ExitCode::from(c),
        }
    }
}

/// An error with advice; `main` prints the advice as `hint:` lines after the error chain.
///
/// It displays as the error it wraps and continues that error's chain, so wrapping changes
/// nothing but the hints that are printed.
pub struct Hinted {
    pub hints: Vec<String>,
    inner: anyhow::Error,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

impl fmt::Debug for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}\nhint: {}", self.inner, self.hints.join("\nhint: "))
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// Attaches advice to an error.
pub trait WithHint<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> WithHint<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e.into(), hint))
    }
}

/// Attaches advice to an error.
pub fn with_hint(mut err: anyhow::Error, hint: impl Into<String>) -> anyhow::Error {
    if let Some(hinted) = err.downcast_mut::<Hinted>() {
        hinted.hints.insert(0, hint.into());
        return err;
    }
    anyhow::Error::new(Hinted {
        hints: vec![hint.into()],
        inner: err,
    })
}
