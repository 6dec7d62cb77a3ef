//! `freeze`: whether a deploy window freezes the environment at the moment of the push.
//!
//! [`state`] is a pure function of the windows and an instant: a deny window (a freeze)
//! freezes while it is open; where an environment has allow windows (deploy windows), it is
//! frozen while none of them is open; a deny window beats an allow window. Windows that
//! overlap or touch extend each other, so "frozen until" is the first instant at which
//! nothing freezes the environment any more. Recurring windows open each time their cron
//! pattern fires in their own time zone, with that zone's daylight-saving rules (a window
//! that opens at 02:30 on a spring-forward day opens at 03:00, the first time after the gap).
//!
//! The check is judged with the clock of the place the gate runs — the pusher's machine in
//! the client hook, the server's in the server hook — and never with a time from the
//! environment: [`run`] reads the system clock.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use super::{CheckId, CheckResult, Context};
use crate::config::freeze::{Kind, When};
use crate::config::{Config, Window};

/// How far ahead "frozen until" is followed before it is reported as "at least".
pub const HORIZON: SignedDuration = SignedDuration::from_hours(400 * 24);
/// At most this many windows are chained when following "frozen until".
const MAX_STEPS: usize = 2000;

/// When the environment opens again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    At(Timestamp),
    /// Still frozen at this instant, [`HORIZON`] or more ahead.
    AtLeast(Timestamp),
    /// No allow window ever opens again.
    Never,
}

/// A window that freezes the environment now.
#[derive(Debug, Clone)]
pub struct Active<'w> {
    pub window: &'w Window,
    /// A deny window: when it closes; an allow window (closed now): when it opens next.
    pub until: Until,
}

/// Whether the environment is frozen at an instant.
#[derive(Debug, Clone)]
pub enum State<'w> {
    Open,
    Frozen {
        /// The windows that freeze it now: the open deny windows, then (when no allow window
        /// is open) the allow windows.
        by: Vec<Active<'w>>,
        /// When nothing freezes it any more.
        until: Until,
    },
}

impl State<'_> {
    /// The names an override must give: every window that freezes the environment now.
    pub fn names(&self) -> Vec<String> {
        match self {
            State::Open => Vec::new(),
            State::Frozen { by, .. } => by.iter().map(|a| a.window.name.clone()).collect(),
        }
    }
}

/// The interval of `window` that contains `at`, as its end, if one does.
fn open_at(window: &Window, at: Timestamp) -> Option<Timestamp> {
    match &window.when {
        When::Once { from, until } => (*from <= at && at < *until).then_some(*until),
        When::Recurring { cron, duration } => {
            let here = at.to_zoned(window.zone.clone());
            let start = cron.find_previous_occurrence(&here, true).ok()?;
            let end = start.timestamp().checked_add(*duration).ok()?;
            (at < end).then_some(end)
        }
    }
}

/// The first interval of `window` that starts at or after `at`: its start and end.
fn next_opening(window: &Window, at: Timestamp) -> Option<(Timestamp, Timestamp)> {
    match &window.when {
        When::Once { from, until } => (*from >= at).then_some((*from, *until)),
        When::Recurring { cron, duration } => {
            let here = at.to_zoned(window.zone.clone());
            let start = cron.find_next_occurrence(&here, true).ok()?.timestamp();
            Some((start, start.checked_add(*duration).ok()?))
        }
    }
}

/// Tells whether the environment is frozen at `at`, and what freezes it.
fn frozen_at<'w>(windows: &[&'w Window], at: Timestamp) -> (Vec<&'w Window>, bool) {
    let denies: Vec<&Window> = windows
        .iter()
        .copied()
        .filter(|w| w.kind == Kind::Deny && open_at(w, at).is_some())
        .collect();
    let allows: Vec<&Window> = windows
        .iter()
        .copied()
        .filter(|w| w.kind == Kind::Allow)
        .collect();
    let outside = !allows.is_empty() && allows.iter().all(|w| open_at(w, at).is_none());
    (denies, outside)
}

/// Whether `windows` (those that apply to one environment) freeze it at `at`. Pure.
pub fn state<'w>(windows: &[&'w Window], at: Timestamp) -> State<'w> {
    let (denies, outside) = frozen_at(windows, at);
    if denies.is_empty() && !outside {
        return State::Open;
    }
    let mut by: Vec<Active<'w>> = denies
        .iter()
        .map(|w| Active {
            window: w,
            until: open_at(w, at).map_or(Until::Never, Until::At),
        })
        .collect();
    if outside {
        by.extend(
            windows
                .iter()
                .filter(|w| w.kind == Kind::Allow)
                .map(|w| Active {
                    window: w,
                    until: next_opening(w, at).map_or(Until::Never, |(s, _)| Until::At(s)),
                }),
        );
    }
    State::Frozen {
        by,
        until: frozen_until(windows, at),
    }
}

/// The first instant from `at` on at which nothing freezes the environment: open deny
/// windows are followed to their ends (and into the windows they overlap or touch), and a
/// gap between allow windows to the next one's opening.
fn frozen_until(windows: &[&Window], at: Timestamp) -> Until {
    let horizon = at.checked_add(HORIZON).unwrap_or(Timestamp::MAX);
    let mut x = at;
    for _ in 0..MAX_STEPS {
        if x >= horizon {
            return Until::AtLeast(x);
        }
        let deny_end = windows
            .iter()
            .filter(|w| w.kind == Kind::Deny)
            .filter_map(|w| open_at(w, x))
            .max();
        if let Some(end) = deny_end {
            x = end;
            continue;
        }
        let allows: Vec<&&Window> = windows.iter().filter(|w| w.kind == Kind::Allow).collect();
        if !allows.is_empty() && allows.iter().all(|w| open_at(w, x).is_none()) {
            match allows
                .iter()
                .filter_map(|w| next_opening(w, x))
                .map(|(s, _)| s)
                .min()
            {
                Some(opens) => {
                    x = opens;
                    continue;
                }
                None => return Until::Never,
            }
        }
        return Until::At(x);
    }
    Until::AtLeast(x)
}

/// The next time within `within` from `at` that the environment (open at `at`) becomes
/// frozen, and the state then. Pure; for `pushguard status`.
pub fn next_freeze<'w>(
    windows: &[&'w Window],
    at: Timestamp,
    within: SignedDuration,
) -> Option<(Timestamp, State<'w>)> {
    let end = at.checked_add(within).ok()?;
    // Where the state can change: a deny window opening, an allow window closing.
    let mut candidates: Vec<Timestamp> = Vec::new();
    for w in windows {
        let mut x = at;
        if let Some(close) = open_at(w, at) {
            if w.kind == Kind::Allow {
                candidates.push(close);
            }
            x = close;
        }
        for _ in 0..64 {
            let Some((start, close)) = next_opening(w, x) else {
                break;
            };
            if start > end {
                break;
            }
            candidates.push(match w.kind {
                Kind::Deny => start,
                Kind::Allow => close,
            });
            x = start.checked_add(SignedDuration::from_secs(1)).ok()?;
        }
    }
    candidates.retain(|t| *t > at && *t <= end);
    candidates.sort();
    candidates.dedup();
    candidates
        .into_iter()
        .find_map(|t| match state(windows, t) {
            State::Open => None,
            frozen => Some((t, frozen)),
        })
}

/// The windows of `config` that apply to `environment`.
pub fn windows_for<'c>(windows: &'c [Window], environment: &str) -> Vec<&'c Window> {
    windows
        .iter()
        .filter(|w| w.applies_to(environment))
        .collect()
}

/// An instant as a person reads it in `zone`: `Mon 2027-01-04 08:00 CET`.
pub fn shown(at: Timestamp, zone: &TimeZone) -> String {
    let z: Zoned = at.to_zoned(zone.clone());
    z.strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// When the environment opens again, in the window's zone and (when known) the reader's.
pub fn shown_until(
    until: Until,
    zone: &TimeZone,
    zone_name: &str,
    local: Option<&TimeZone>,
) -> String {
    let both = |t: Timestamp| {
        let mut text = format!("{} ({zone_name})", shown(t, zone));
        if let Some(local) = local {
            text.push_str(&format!(", {} your time", shown(t, local)));
        }
        text
    };
    match until {
        Until::At(t) => both(t),
        Until::AtLeast(t) => format!("at least {}", both(t)),
        Until::Never => "no allow window opens again".to_owned(),
    }
}

/// The zone a person at this machine reads times in (`TZ`, else the system's), if known.
/// It changes only how a time is shown, never when a window is open.
pub fn local_zone() -> Option<TimeZone> {
    TimeZone::try_system().ok()
}

/// The freeze check's result for `state`: which windows freeze the environment, why, and
/// until when (in each window's zone and in `local`).
pub fn judge(state: &State, environment: &str, local: Option<&TimeZone>) -> CheckResult {
    let id = CheckId::Freeze;
    let State::Frozen { by, until } = state else {
        return CheckResult::pass(id, "no deploy window freezes it now");
    };
    let first = by.first().map(|a| a.window);
    let zone = first.map(|w| w.zone.clone()).unwrap_or(TimeZone::UTC);
    let zone_name = first.map_or("UTC", |w| w.zone_name.as_str());
    let names: Vec<String> = by.iter().map(|a| format!("`{}`", a.window.name)).collect();
    let mut more = Vec::new();
    for a in by {
        let w = a.window;
        let what = match w.kind {
            Kind::Deny => "freeze",
            Kind::Allow => "outside the deploy window",
        };
        let reason = w
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let own = match (w.kind, a.until) {
            (Kind::Deny, u) => format!("closes {}", shown_until(u, &w.zone, &w.zone_name, None)),
            (Kind::Allow, Until::Never) => "never opens again".to_owned(),
            (Kind::Allow, u) => format!("opens {}", shown_until(u, &w.zone, &w.zone_name, None)),
        };
        let lock = if w.overridable {
            ""
        } else {
            "; override = false: it cannot be overridden"
        };
        more.push(format!("{what} `{}`{reason} ({own}{lock})", w.name));
    }
    CheckResult::fail(
        id,
        format!(
            "{environment} is frozen by {} until {}",
            names.join(", "),
            shown_until(*until, &zone, zone_name, local)
        ),
    )
    .with_more(more)
}

/// Judges `environment` at `at` with `config`'s windows: the check's result and the state.
///
/// `local` gives the reader's zone; it is asked only when the environment is frozen (finding
/// the system's zone can cost more than judging the windows).
pub fn judge_at<'c>(
    config: &'c Config,
    environment: &str,
    at: Timestamp,
    local: &dyn Fn() -> Option<TimeZone>,
) -> anyhow::Result<(CheckResult, State<'c>)> {
    let windows = config.freeze_windows()?;
    let applying = windows_for(windows, environment);
    let state = state(&applying, at);
    let local = match state {
        State::Open => None,
        State::Frozen { .. } => local(),
    };
    Ok((judge(&state, environment, local.as_ref()), state))
}

/// Runs the check with the system clock (never a time from the environment).
pub fn run(ctx: &Context) -> CheckResult {
    run_for(ctx.config, &ctx.environment.name)
}

/// The check for a push to `environment` now, with the clock of the place it runs (no
/// repository is read: a SHA-256 site asks this too).
pub fn run_for(config: &crate::config::Config, environment: &str) -> CheckResult {
    match judge_at(config, environment, Timestamp::now(), &local_zone) {
        Ok((result, _)) => result,
        Err(e) => CheckResult::fail(CheckId::Freeze, format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::freeze::{self, FreezeWindow};

    /// Parses `[[freeze]]` tables the way the config does.
    fn windows(toml_text: &str) -> Vec<Window> {
        #[derive(serde::Deserialize)]
        struct File {
            freeze: Vec<FreezeWindow>,
        }
        let file: File = toml::from_str(toml_text).expect("valid windows");
        freeze::parse(&file.freeze).expect("windows parse")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("an RFC 3339 instant")
    }

    fn until(s: &State) -> Until {
        match s {
            State::Frozen { until, .. } => *until,
            State::Open => panic!("expected frozen"),
        }
    }

    fn all(ws: &[Window]) -> Vec<&Window> {
        ws.iter().collect()
    }

    #[test]
    fn a_one_off_window_is_open_from_its_start_to_its_end() {
        let ws = windows(
            r#"[[freeze]]
name = "year-end"
from = "2026-12-20T18:00:00+01:00"
until = "2027-01-04T08:00:00+01:00"
reason = "year-end change freeze"
"#,
        );
        let ws = all(&ws);
        assert!(matches!(
            state(&ws, at("2026-12-20T16:59:59Z")),
            State::Open
        ));
        let s = state(&ws, at("2026-12-20T17:00:00Z"));
        assert_eq!(until(&s), Until::At(at("2027-01-04T07:00:00Z")));
        assert_eq!(s.names(), ["year-end"]);
        assert!(matches!(
            state(&ws, at("2027-01-04T07:00:00Z")),
            State::Open
        ));
    }

    #[test]
    fn a_weekly_window_follows_its_zone_across_the_change_to_summer_time() {
        // Friday 16:00 Berlin for 64h: Monday 08:00, one hour less of UTC after 29 March 2026.
        let ws = windows(
            r#"[[freeze]]
name = "weekend"
cron = "0 16 * * FRI"
duration = "64h"
timezone = "Europe/Berlin"
"#,
        );
        let ws = all(&ws);
        // Friday 27 March 2026, 16:00 CET = 15:00 UTC.
        assert!(matches!(
            state(&ws, at("2026-03-27T14:59:59Z")),
            State::Open
        ));
        let s = state(&ws, at("2026-03-27T15:00:00Z"));
        // 64 hours of elapsed time later: Monday 07:00 UTC, 09:00 CEST (the clocks went forward).
        assert_eq!(until(&s), Until::At(at("2026-03-30T07:00:00Z")));
        let text = shown_until(
            until(&s),
            &ws[0].zone,
            &ws[0].zone_name,
            Some(&TimeZone::UTC),
        );
        assert_eq!(
            text,
            "Mon 2026-03-30 09:00 CEST (Europe/Berlin), Mon 2026-03-30 07:00 UTC your time"
        );
        // Friday 3 April, 16:00 CEST = 14:00 UTC.
        assert!(matches!(
            state(&ws, at("2026-04-03T13:59:00Z")),
            State::Open
        ));
        assert!(matches!(
            state(&ws, at("2026-04-03T14:00:00Z")),
            State::Frozen { .. }
        ));
    }

    #[test]
    fn a_window_from_0230_on_a_spring_forward_day_starts_at_0300() {
        // Europe/Berlin, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
        let ws = windows(
            r#"[[freeze]]
name = "night"
cron = "30 2 * * *"
duration = "2h"
timezone = "Europe/Berlin"
"#,
        );
        let ws = all(&ws);
        // 03:00 CEST = 01:00 UTC: the window opens then, not at 01:30 UTC.
        assert!(matches!(
            state(&ws, at("2026-03-29T00:59:59Z")),
            State::Open
        ));
        let s = state(&ws, at("2026-03-29T01:00:00Z"));
        assert_eq!(until(&s), Until::At(at("2026-03-29T03:00:00Z")));
        // The day before and after, 02:30 exists: 01:30 UTC in winter, 00:30 UTC in summer.
        assert!(matches!(
            state(&ws, at("2026-03-28T01:29:59Z")),
            State::Open
        ));
        assert!(matches!(
            state(&ws, at("2026-03-28T01:30:00Z")),
            State::Frozen { .. }
        ));
        assert!(matches!(
            state(&ws, at("2026-03-30T00:30:00Z")),
            State::Frozen { .. }
        ));
    }

    #[test]
    fn a_window_at_a_time_that_happens_twice_opens_the_first_time() {
        // Europe/Berlin, Sunday 25 October 2026: 02:30 happens at 00:30 UTC and at 01:30 UTC.
        let ws = windows(
            r#"[[freeze]]
name = "night"
cron = "30 2 * * *"
duration = "30m"
timezone = "Europe/Berlin"
"#,
        );
        let ws = all(&ws);
        assert!(matches!(
            state(&ws, at("2026-10-25T00:29:59Z")),
            State::Open
        ));
        assert!(matches!(
            state(&ws, at("2026-10-25T00:30:00Z")),
            State::Frozen { .. }
        ));
    }

    #[test]
    fn overlapping_and_touching_windows_extend_each_other() {
        let ws = windows(
            r#"[[freeze]]
name = "a"
from = "2026-06-01T00:00:00Z"
until = "2026-06-02T00:00:00Z"

[[freeze]]
name = "b"
from = "2026-06-01T12:00:00Z"
until = "2026-06-03T00:00:00Z"

[[freeze]]
name = "c"
from = "2026-06-03T00:00:00Z"
until = "2026-06-04T00:00:00Z"

[[freeze]]
name = "d"
from = "2026-06-05T00:00:00Z"
until = "2026-06-06T00:00:00Z"
"#,
        );
        let ws = all(&ws);
        let s = state(&ws, at("2026-06-01T06:00:00Z"));
        assert_eq!(s.names(), ["a"]);
        assert_eq!(until(&s), Until::At(at("2026-06-04T00:00:00Z")));
        let s = state(&ws, at("2026-06-01T13:00:00Z"));
        assert_eq!(s.names(), ["a", "b"]);
        assert!(matches!(
            state(&ws, at("2026-06-04T00:00:00Z")),
            State::Open
        ));
    }

    #[test]
    fn deny_beats_allow_and_outside_every_allow_window_is_frozen() {
        let ws = windows(
            r#"[[freeze]]
name = "office-hours"
kind = "allow"
cron = "0 9 * * MON-FRI"
duration = "8h"
timezone = "UTC"

[[freeze]]
name = "incident"
from = "2026-06-03T10:00:00Z"
until = "2026-06-03T12:00:00Z"
"#,
        );
        let ws = all(&ws);
        // Wednesday 3 June 2026: open 09:00-17:00 UTC, but the incident freeze wins 10-12.
        assert!(matches!(
            state(&ws, at("2026-06-03T09:30:00Z")),
            State::Open
        ));
        let s = state(&ws, at("2026-06-03T10:30:00Z"));
        assert_eq!(s.names(), ["incident"]);
        assert_eq!(until(&s), Until::At(at("2026-06-03T12:00:00Z")));
        // After 17:00 no allow window is open: frozen until Thursday 09:00.
        let s = state(&ws, at("2026-06-03T18:00:00Z"));
        assert_eq!(s.names(), ["office-hours"]);
        assert_eq!(until(&s), Until::At(at("2026-06-04T09:00:00Z")));
        // Friday evening: until Monday 09:00.
        let s = state(&ws, at("2026-06-05T17:00:00Z"));
        assert_eq!(until(&s), Until::At(at("2026-06-08T09:00:00Z")));
    }

    #[test]
    fn a_freeze_that_never_ends_is_reported_as_at_least_the_horizon() {
        let ws = windows(
            r#"[[freeze]]
name = "always"
cron = "* * * * *"
duration = "2m"
timezone = "UTC"
"#,
        );
        let ws = all(&ws);
        let t = at("2026-06-03T10:30:00Z");
        assert!(matches!(until(&state(&ws, t)), Until::AtLeast(_)));
    }

    #[test]
    fn the_next_freeze_within_a_period_is_found() {
        let ws = windows(
            r#"[[freeze]]
name = "weekend"
cron = "0 16 * * FRI"
duration = "64h"
timezone = "Europe/Berlin"
"#,
        );
        let ws = all(&ws);
        // Monday 1 June 2026, noon UTC: next Friday 16:00 CEST = 14:00 UTC.
        let (t, s) = next_freeze(
            &ws,
            at("2026-06-01T12:00:00Z"),
            SignedDuration::from_hours(14 * 24),
        )
        .expect("a freeze within 14 days");
        assert_eq!(t, at("2026-06-05T14:00:00Z"));
        assert_eq!(s.names(), ["weekend"]);
        assert!(next_freeze(
            &ws,
            at("2026-06-01T12:00:00Z"),
            SignedDuration::from_hours(24)
        )
        .is_none());
    }

    #[test]
    fn the_failed_check_names_the_window_its_reason_and_when_it_ends_in_both_zones() {
        let ws = windows(
            r#"[[freeze]]
name = "year-end"
from = "2026-12-20T18:00:00+01:00"
until = "2027-01-04T08:00:00+01:00"
timezone = "Europe/Berlin"
reason = "year-end change freeze"
override = false
"#,
        );
        let ws = all(&ws);
        let s = state(&ws, at("2026-12-24T12:00:00Z"));
        let ny = freeze::zone("America/New_York").ok();
        let r = judge(&s, "production", ny.as_ref().or(Some(&TimeZone::UTC)));
        assert_eq!(r.outcome, crate::model::Outcome::Fail);
        assert!(r.detail.starts_with("production is frozen by `year-end` until Mon 2027-01-04 08:00 CET (Europe/Berlin), "), "{}", r.detail);
        assert_eq!(
            r.more,
            ["freeze `year-end`: year-end change freeze (closes Mon 2027-01-04 08:00 CET (Europe/Berlin); override = false: it cannot be overridden)"]
        );
    }
}
