//! Serde helpers for the config values that need more than their TOML type: durations,
//! branch and email globs, regular expressions, and the `[environments]` map.
//!
//! Each one validates a value where it is read, inside the TOML deserializer, so that an
//! error carries the span of that very value (for a list, of that very entry) and is shown
//! with a caret under it, whichever layer the value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};

use super::{parse_branch_glob, parse_duration, parse_email_glob, Environment};

/// A check of one string value: `Err` is the message shown under the caret.
type Check = fn(&str) -> Result<(), String>;

/// Visits one string and runs `check` on it, inside the deserializer that knows its span.
struct CheckedStr(Check);

impl<'de> Visitor<'de> for CheckedStr {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        (self.0)(value).map_err(E::custom)?;
        Ok(value.to_owned())
    }
}

impl<'de> DeserializeSeed<'de> for CheckedStr {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

/// Visits a list of strings, each checked with its own span.
struct CheckedList(Check);

impl<'de> Visitor<'de> for CheckedList {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(CheckedStr(self.0))? {
            out.push(item);
        }
        Ok(out)
    }
}

fn list<'de, D: Deserializer<'de>>(d: D, check: Check) -> Result<Vec<String>, D::Error> {
    d.deserialize_seq(CheckedList(check))
}

/// A duration written as text (`"5m"`, `"1h 30m"`), rendered back the same way.
pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = d.deserialize_str(CheckedStr(|text| {
            parse_duration(text).map(drop).map_err(|e| {
                format!("invalid duration `{text}`: {e}; expected e.g. \"5m\" or \"1h 30m\"")
            })
        }))?;
        parse_duration(&text).map_err(de::Error::custom)
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }
}

/// Branch globs: names of branches, not refs, with valid glob syntax.
pub fn branch_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, |glob| {
        if glob.starts_with("refs/") {
            return Err(format!(
                "branch glob `{glob}` must name a branch, not a ref; expected e.g. \"{}\"",
                glob.trim_start_matches("refs/heads/")
            ));
        }
        parse_branch_glob(glob)
            .map(drop)
            .map_err(|e| format!("invalid branch glob `{glob}`: {}", e.kind()))
    })
}

/// Email globs (`*@corp.example`), for `authorized` and `approvers`.
pub fn email_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, |glob| {
        parse_email_glob(glob)
            .map(drop)
            .map_err(|e| format!("invalid email pattern `{glob}`: {}", e.kind()))
    })
}

/// Regular expressions, checked for syntax only: parsing catches every syntax error
/// without the cost of compiling, which only `no-wip` needs.
pub fn regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, |pattern| {
        regex_syntax::Parser::new()
            .parse(pattern)
            .map(drop)
            .map_err(|e| format!("invalid regular expression: {e}"))
    })
}

/// `[environments]`: a table of environments keyed by name, read into a list (the caller
/// puts it in promotion order) and written back as a table in the list's order.
pub mod environments {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Environment>, D::Error> {
        let map = BTreeMap::<String, Environment>::deserialize(d)?;
        Ok(map
            .into_iter()
            .map(|(name, env)| Environment { name, ..env })
            .collect())
    }

    pub fn serialize<S: Serializer>(envs: &[Environment], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(envs.iter().map(|e| (&e.name, e)))
    }
}

/// An optional list of email globs (an environment's own `bypass_by`).
pub fn some_email_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    email_globs(d).map(Some)
}

/// An optional regular expression, checked for syntax only (a `ticket` pattern).
pub fn some_regex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_str(CheckedStr(|pattern| {
        regex_syntax::Parser::new()
            .parse(pattern)
            .map(drop)
            .map_err(|e| format!("invalid regular expression: {e}"))
    }))
    .map(Some)
}

/// An optional duration (`review_within`), written and read as [`duration`] does.
pub mod some_duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::duration::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}

/// The placeholders a `[team] notify` command may use.
pub const NOTIFY_PLACEHOLDERS: [&str; 3] = ["{env}", "{commit}", "{approvers}"];

/// An optional command line (`[team] notify`): it must split into words as a shell would
/// (quotes closed) and use only [`NOTIFY_PLACEHOLDERS`].
pub fn some_command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_str(CheckedStr(|command| {
        let words = shlex::split(command).ok_or_else(|| {
            format!("invalid command `{command}`: a quote is not closed; expected words as a shell splits them, e.g. \"notify-approvers {{env}} {{commit}} {{approvers}}\"")
        })?;
        if words.is_empty() {
            return Err("an empty command; leave `notify` out to notify nobody".to_owned());
        }
        for word in &words {
            let mut rest = word.as_str();
            while let Some(open) = rest.find('{') {
                let tail = &rest[open..];
                let Some(close) = tail.find('}') else { break };
                let placeholder = &tail[..=close];
                if !NOTIFY_PLACEHOLDERS.contains(&placeholder) {
                    return Err(format!(
                        "unknown placeholder `{placeholder}` in `notify`; expected {}",
                        NOTIFY_PLACEHOLDERS.join(", ")
                    ));
                }
                rest = &tail[close + 1..];
            }
        }
        Ok(())
    }))
    .map(Some)
}
