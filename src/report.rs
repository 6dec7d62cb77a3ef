//! Everything pushguard says to a person, in one place: errors with their hints, the gate's
//! report, and the hook's messages.
//!
//! All of it goes to stderr: git passes a hook's stdout through to `git push --porcelain`
//! readers. Colour only when stderr is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};

use console::Style;

use crate::checks::{CheckResult, Outcome};
use crate::gate::Decision;
use crate::push::{escape, Change, RefUpdate};
use crate::Hinted;

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

/// A short object name for display.
pub fn short(oid: &str) -> &str {
    &oid[..oid.len().min(10)]
}

/// Writes the heading for one gated ref update.
pub fn write_heading(
    out: &mut impl Write,
    st: &Styles,
    environment: &str,
    update: &RefUpdate,
    remote: &str,
) -> std::io::Result<()> {
    let branch = escape(update.branch().unwrap_or(&update.remote_ref), 120);
    let what = match update.change() {
        Change::Create => format!("create at {}", short(&update.local_oid)),
        Change::Delete => format!("delete (was {})", short(&update.remote_oid)),
        Change::Update => format!(
            "{}..{}",
            short(&update.remote_oid),
            short(&update.local_oid)
        ),
    };
    writeln!(
        out,
        "pushguard: {} {} → {} ({what})",
        st.bold.apply_to(format!("[{environment}]")),
        escape(&update.local_ref, 120),
        st.bold
            .apply_to(format!("{}/{branch}", escape(remote, 200))),
    )
}

/// Writes one line per check result, with its further lines and hint.
pub fn write_results(
    out: &mut impl Write,
    st: &Styles,
    results: &[CheckResult],
) -> std::io::Result<()> {
    let width = results
        .iter()
        .map(|r| r.id.as_str().len())
        .max()
        .unwrap_or(0);
    for r in results {
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

/// The way out offered when the configuration is broken and every push is blocked.
pub const BROKEN_CONFIG_HINTS: [&str; 2] = [
    "fix the file (`pushguard config --check` shows the error again), then push again",
    "or skip the guard with `git push --no-verify`: that push is NOT recorded and shows up in `pushguard audit`",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_issue_6_errors_never_carry_raw_control_characters() {
        let err = anyhow::anyhow!("config line \"\x1b[31mred\x07\"\n  | next\tline")
            .context("failed to push to `/tmp/remote\x1b]0;x\x07.git`");
        let err = crate::with_hint(err, "see `\x1b[2J`");
        let mut out = Vec::new();
        write_error(&mut out, &err).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.contains("remote\\u{1b}]0;x\\u{7}.git"), "{text}");
        assert!(text.contains("\n      | next\tline"), "{text:?}");
        assert!(text.contains("hint: see `\\u{1b}[2J`"), "{text}");
    }
}
