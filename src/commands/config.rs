//! `pushguard config`: print the effective configuration with where each part came from,
//! or validate it with `--check`.
//!
//! The printout is the typed configuration serialized back to TOML, so a key added to the
//! schema shows up here without a line of this file changing.

use anyhow::{Context as _, Result};
use toml::{Table, Value};

use crate::config::{self, Config, Location, Source};
use crate::outcome::Exit;

pub fn run(check: bool) -> Result<Exit> {
    let config = config::load(&Location::for_command())?;
    note_outside_a_clone();
    if check {
        // The windows' times are parsed on first use; `--check` parses them all now.
        config.check_freeze_windows()?;
        let files: Vec<String> = config.sources.iter().map(Source::to_string).collect();
        eprintln!("pushguard: configuration is valid ({})", files.join(", "));
        return Ok(Exit::Success);
    }
    print!("{}", render(&config)?);
    Ok(Exit::Success)
}

/// Outside a clone only the built-in and user layers apply: says so, on stderr, so that a
/// valid result is not taken for the repository's (issue 13, item 10).
fn note_outside_a_clone() {
    if std::env::var_os("PUSHGUARD_CONFIG").is_some() || crate::git::common_dir_via_git().is_ok() {
        return;
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".to_owned());
    eprintln!(
        "pushguard: note: `{here}` is not inside a git clone, so no .pushguard.toml was read"
    );
    eprintln!(
        "hint: run `pushguard config` inside the clone to see the configuration its pushes get"
    );
}

/// Renders the effective configuration as TOML, annotated with each part's source.
pub fn render(config: &Config) -> Result<String> {
    let table = Table::try_from(config).context("failed to render the configuration")?;
    let p = &config.provenance;
    let mut out = String::from("# Effective pushguard configuration. Layers read, lowest first:\n");
    for s in &config.sources {
        out += &format!("#   {s}\n");
    }
    for (name, value) in &table {
        if let Value::Array(items) = value {
            // `[[freeze]]`: an array of tables, taken whole from one layer.
            out += &format!("\n# [[{}]] from the {}\n", key(name), p.source_of(name));
            for item in items {
                out += &format!("[[{}]]\n", key(name));
                if let Value::Table(keys) = item {
                    for (k, v) in keys {
                        out += &format!("{} = {v}\n", key(k));
                    }
                }
                out += "\n";
            }
            continue;
        }
        let Value::Table(inner) = value else {
            continue;
        };
        if name == "environments" {
            out += &format!("\n# [environments] from the {}\n", p.source_of(name));
            for (env, keys) in inner {
                out += &format!("[environments.{}]\n", key(env));
                if let Value::Table(keys) = keys {
                    for (k, v) in keys {
                        out += &format!("{} = {v}\n", key(k));
                    }
                }
                out += "\n";
            }
            continue;
        }
        out += &format!("[{}]\n", key(name));
        for (k, v) in inner {
            let from = p.source_of(&format!("{name}.{k}"));
            out += &format!("{} = {v}  # from the {from}\n", key(k));
        }
        out += "\n";
    }
    Ok(out.trim_end().to_owned() + "\n")
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        Value::String(name.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TOML;

    #[test]
    fn the_rendering_reads_back_as_the_same_configuration() {
        let config = Config::from_layers(vec![
            (Source::Embedded, DEFAULT_TOML.to_owned()),
            (
                Source::Repository(".pushguard.toml".into()),
                "[environments.\"release train\"]\nbranches = [\"release/*\"]\n[tests]\ntimeout = \"1h 30m\"\n".to_owned(),
            ),
        ])
        .unwrap();
        let text = render(&config).unwrap();
        assert!(
            text.contains("[environments.\"release train\"]\n"),
            "{text}"
        );
        assert!(
            text.contains("timeout = \"1h 30m\"  # from the repository config `.pushguard.toml`"),
            "{text}"
        );
        let again = Config::from_layers(vec![(Source::Embedded, text.clone())]).unwrap();
        assert_eq!(
            Table::try_from(&again).unwrap(),
            Table::try_from(&config).unwrap()
        );
    }
}
