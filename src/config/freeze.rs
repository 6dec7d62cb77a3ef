//! `[[freeze]]`: deploy windows, as written in the config and as parsed for judging.
//!
//! A window is read with the rest of the config (its keys, its types, a unique name, the
//! environments it names), but its times are parsed only when a push to an environment it
//! applies to is judged, or by `pushguard config --check`: the RFC 3339 instants, the cron
//! pattern and the time zone (a file of the system's zoneinfo) cost nothing on an ordinary
//! push, whose hook never looks at a window. Each value keeps its span, so an error found
//! then still names the file, line and column with a caret under the value.
//!
//! Time zones are read from the system's zoneinfo directories themselves, never through
//! `TZDIR`: no environment variable may move a window (that would be a silent way past a
//! freeze). jiff applies the zone's rules (daylight-saving gaps and folds); croner walks the
//! cron pattern in that zone.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The directories a window's time zone is read from, first found wins (jiff's own list for
/// Unix, without `TZDIR`).
pub const ZONEINFO_DIRS: [&str; 3] = [
    "/usr/share/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/etc/zoneinfo",
];

/// What a window does while it is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A freeze: the environment is frozen while the window is open.
    #[default]
    Deny,
    /// A deploy window: the environment is frozen while none of its allow windows is open.
    /// A deny window beats an allow window.
    Allow,
}

/// One `[[freeze]]` entry as written; its times are parsed by [`Config::freeze_windows`].
///
/// [`Config::freeze_windows`]: super::Config::freeze_windows
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    /// Unique: the name an override must give.
    pub name: Spanned<String>,
    /// Environment names or globs; empty: every environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<Spanned<String>>,
    /// One-off: the start, RFC 3339 with an offset (or `Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Spanned<String>>,
    /// One-off: the end, RFC 3339 with an offset (or `Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Spanned<String>>,
    /// Recurring: when it opens, a cron pattern (5 fields, or 6 with seconds first) in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<Spanned<String>>,
    /// Recurring: how long it stays open each time (elapsed time, e.g. "64h").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Spanned<String>>,
    /// An IANA time zone: the cron pattern's (required with `cron`), and the zone a one-off
    /// window's end is shown in (default: the offset `until` is written with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Spanned<String>>,
    /// Why the window is there, shown to whoever it stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `false`: no bypass gets through while it is open.
    #[serde(default = "super::yes", rename = "override")]
    pub overridable: bool,
    /// `deny` (a freeze, the default) or `allow` (a deploy window).
    #[serde(default)]
    pub kind: Kind,
    /// Whom to ask to change the policy (shown when `override = false` stops a push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// When a window is open.
#[derive(Debug, Clone)]
pub enum When {
    /// From `from` (included) to `until` (excluded).
    Once { from: Timestamp, until: Timestamp },
    /// From each time `cron` fires in the window's zone, for `duration`.
    Recurring {
        cron: Box<Cron>,
        duration: SignedDuration,
    },
}

/// A window with its times parsed, ready to judge.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: String,
    /// Environment names or globs; empty: every environment.
    pub environments: Vec<String>,
    pub kind: Kind,
    pub when: When,
    /// The zone the window is written in (its cron's, or the one it is shown in).
    pub zone: TimeZone,
    /// The zone's name as written, or the offset of a one-off window without `timezone`.
    pub zone_name: String,
    pub reason: Option<String>,
    pub overridable: bool,
    pub contact: Option<String>,
}

impl Window {
    /// Tells whether the window applies to `environment`.
    pub fn applies_to(&self, environment: &str) -> bool {
        applies(&self.environments, environment)
    }
}

impl FreezeWindow {
    /// Tells whether the window applies to `environment` (its globs were checked at load).
    pub fn applies_to(&self, environment: &str) -> bool {
        let names: Vec<String> = self
            .environments
            .iter()
            .map(|e| e.get_ref().clone())
            .collect();
        applies(&names, environment)
    }
}

fn applies(environments: &[String], environment: &str) -> bool {
    // A plain name is compared; only a glob is compiled (a regular expression each).
    environments.is_empty()
        || environments.iter().any(|p| {
            p == environment
                || (!super::is_literal(p)
                    && super::parse_branch_glob(p)
                        .is_ok_and(|g| g.compile_matcher().is_match(environment)))
        })
}

/// A problem with one value of a window: its span and the message under the caret.
pub type Problem = (Option<std::ops::Range<usize>>, String);

/// Checks what is cheap at load time: a window has a name, names no unknown environment,
/// and has exactly one form (one-off or recurring) with every key that form needs. The
/// times themselves wait for [`parse`].
pub fn check_shape(windows: &[FreezeWindow], environments: &[&str]) -> Result<(), Problem> {
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for w in windows {
        let name = w.name.get_ref().as_str();
        if name.trim().is_empty() {
            return Err((
                Some(w.name.span()),
                "a freeze window needs a `name` (the name an override gives)".into(),
            ));
        }
        if name.contains(',') || name.chars().any(char::is_control) {
            return Err((Some(w.name.span()), format!("window name `{}` may not contain a comma or a control character (an override names windows in a comma-separated list)", crate::text::escape(name, 60))));
        }
        if seen.insert(name, ()).is_some() {
            return Err((Some(w.name.span()), format!("duplicate freeze window name `{name}`; each window needs its own name, the one an override gives")));
        }
        for e in &w.environments {
            let text = e.get_ref();
            if super::is_literal(text) {
                if !environments.contains(&text.as_str()) {
                    return Err((Some(e.span()), format!("freeze window `{name}` names unknown environment `{text}`; expected one of: {}", environments.join(", "))));
                }
            } else if let Err(err) = super::parse_branch_glob(text) {
                return Err((
                    Some(e.span()),
                    format!("invalid environment glob `{text}`: {}", err.kind()),
                ));
            }
        }
        let once = w.from.is_some() || w.until.is_some();
        let recurring = w.cron.is_some() || w.duration.is_some();
        let whole = w.name.span();
        match (once, recurring) {
            (true, true) => {
                let at = w.cron.as_ref().or(w.duration.as_ref()).map(Spanned::span);
                return Err((at, format!("freeze window `{name}` is either one-off (`from`, `until`) or recurring (`cron`, `duration`, `timezone`), not both")));
            }
            (false, false) => {
                return Err((Some(whole), format!("freeze window `{name}` needs `from` and `until` (one-off), or `cron`, `duration` and `timezone` (recurring)")));
            }
            (true, false) => {
                for (key, value) in [("from", &w.from), ("until", &w.until)] {
                    if value.is_none() {
                        return Err((Some(whole.clone()), format!("freeze window `{name}` has no `{key}`: a one-off window needs `from` and `until` (RFC 3339 with an offset)")));
                    }
                }
            }
            (false, true) => {
                for (key, value) in [
                    ("cron", &w.cron),
                    ("duration", &w.duration),
                    ("timezone", &w.timezone),
                ] {
                    if value.is_none() {
                        return Err((Some(whole.clone()), format!("freeze window `{name}` has no `{key}`: a recurring window needs `cron`, `duration` and `timezone` (an IANA name such as \"Europe/Berlin\")")));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Parses the windows' times: the instants, the cron patterns, the durations and the zones.
pub fn parse(windows: &[FreezeWindow]) -> Result<Vec<Window>, Problem> {
    let mut zones: BTreeMap<String, TimeZone> = BTreeMap::new();
    let mut out = Vec::with_capacity(windows.len());
    for w in windows {
        let name = w.name.get_ref().clone();
        let mut zone_of = |s: &Spanned<String>| -> Result<TimeZone, Problem> {
            if let Some(z) = zones.get(s.get_ref()) {
                return Ok(z.clone());
            }
            let z = zone(s.get_ref()).map_err(|e| (Some(s.span()), e))?;
            zones.insert(s.get_ref().clone(), z.clone());
            Ok(z)
        };
        let (when, zone, zone_name) = match (&w.from, &w.until, &w.cron, &w.duration) {
            (Some(from), Some(until), None, None) => {
                let (from_ts, _) = instant(from)?;
                let (until_ts, offset) = instant(until)?;
                if until_ts <= from_ts {
                    return Err((Some(until.span()), format!("freeze window `{name}` ends before it starts: `until` ({}) is not after `from` ({})", until.get_ref(), from.get_ref())));
                }
                let (zone, zone_name) = match &w.timezone {
                    Some(tz) => (zone_of(tz)?, tz.get_ref().clone()),
                    None => (TimeZone::fixed(offset), offset.to_string()),
                };
                (
                    When::Once {
                        from: from_ts,
                        until: until_ts,
                    },
                    zone,
                    zone_name,
                )
            }
            (None, None, Some(cron), Some(duration)) => {
                let pattern = Cron::from_str(cron.get_ref()).map_err(|e| {
                    (Some(cron.span()), format!("invalid cron pattern `{}`: {e}; expected 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 16 * * FRI\"", cron.get_ref()))
                })?;
                let length = super::parse_duration(duration.get_ref()).map_err(|e| {
                    (
                        Some(duration.span()),
                        format!(
                            "invalid duration `{}`: {e}; expected e.g. \"64h\" or \"2days\"",
                            duration.get_ref()
                        ),
                    )
                })?;
                let length = SignedDuration::try_from(length)
                    .ok()
                    .filter(|d| d.is_positive())
                    .ok_or_else(|| (Some(duration.span()), format!("freeze window `{name}` must last longer than no time at all (`duration`)")))?;
                let tz = w
                    .timezone
                    .as_ref()
                    .expect("checked at load: a recurring window has a timezone");
                (
                    When::Recurring {
                        cron: Box::new(pattern),
                        duration: length,
                    },
                    zone_of(tz)?,
                    tz.get_ref().clone(),
                )
            }
            _ => {
                return Err((
                    Some(w.name.span()),
                    format!("freeze window `{name}` is neither one-off nor recurring"),
                ))
            }
        };
        out.push(Window {
            name,
            environments: w.environments.iter().map(|e| e.get_ref().clone()).collect(),
            kind: w.kind,
            when,
            zone,
            zone_name,
            reason: w.reason.clone(),
            overridable: w.overridable,
            contact: w.contact.clone(),
        });
    }
    Ok(out)
}

/// An RFC 3339 instant that carries its offset (or `Z`), and that offset.
fn instant(value: &Spanned<String>) -> Result<(Timestamp, jiff::tz::Offset), Problem> {
    let text = value.get_ref();
    let bad = |why: String| {
        (
            Some(value.span()),
            format!("invalid time `{text}`: {why}; expected RFC 3339 with an offset, e.g. \"2026-12-20T18:00:00+01:00\""),
        )
    };
    let pieces = jiff::fmt::temporal::Pieces::parse(text).map_err(|e| bad(e.to_string()))?;
    let offset = match pieces.offset() {
        Some(jiff::fmt::temporal::PiecesOffset::Zulu) => jiff::tz::Offset::UTC,
        Some(jiff::fmt::temporal::PiecesOffset::Numeric(n)) => n.offset(),
        _ => {
            return Err(bad(
                "no offset (a time without one means something else in every zone)".into(),
            ))
        }
    };
    let ts = Timestamp::from_str(text).map_err(|e| bad(e.to_string()))?;
    Ok((ts, offset))
}

/// Reads the IANA time zone `name` from the system's zoneinfo (see [`ZONEINFO_DIRS`]).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    let unknown = || {
        format!("unknown time zone `{}`; expected an IANA name such as \"Europe/Berlin\" or \"UTC\" (as in {})", crate::text::escape(name, 60), ZONEINFO_DIRS[0])
    };
    let safe = !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if !safe {
        return Err(unknown());
    }
    let mut found_dir = false;
    for dir in ZONEINFO_DIRS {
        let dir = std::path::Path::new(dir);
        if !dir.is_dir() {
            continue;
        }
        found_dir = true;
        if let Ok(data) = std::fs::read(dir.join(name)) {
            return TimeZone::tzif(name, &data)
                .map_err(|e| format!("time zone `{name}` cannot be read: {e}"));
        }
    }
    if !found_dir {
        return Err(format!(
            "time zone `{}` cannot be looked up: this machine has no time-zone database (none of {}; install the `tzdata` package)",
            crate::text::escape(name, 60),
            ZONEINFO_DIRS.join(", ")
        ));
    }
    Err(unknown())
}
