//! `pushguard init`: write a commented `.pushguard.toml` whose environments map to the
//! branches the remote actually has: the built-in default (`src/default.toml`) as written,
//! comments included, with each environment's `branches` set from the remote.

use std::fs;

use anyhow::{Context as _, Result};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::config::{Config, Source, DEFAULT_TOML, ENVIRONMENTS, REPO_FILE};
use crate::git::Repo;
use crate::outcome::{Exit, WithHint};

pub fn run(force: bool, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let root = repo
        .work_tree()
        .context("`pushguard init` needs a work tree (this repository is bare)")?
        .to_path_buf();
    let path = root.join(REPO_FILE);
    if path.exists() && !force {
        return Err(anyhow::anyhow!("`{}` already exists", path.display()))
            .hint("run `pushguard init --force` to overwrite it");
    }
    let remote = crate::remote::require(&repo, remote, "init", "branches to map environments to")?;
    let branches: Vec<String> = repo
        .remote_tracking(&remote)?
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let text = render(&remote, &branches)?;
    // Validate what we are about to write: init must never produce a broken config.
    Config::from_layers(vec![
        (Source::Embedded, DEFAULT_TOML.to_owned()),
        (Source::Repository(path.clone()), text.clone()),
    ])
    .context("internal error: the generated configuration does not validate")?;
    fs::write(&path, &text).with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!("pushguard: wrote {}", path.display());
    eprintln!("hint: review it, commit it, and run `pushguard config --check` after edits");
    Ok(Exit::Success)
}

/// Renders the repository config for a remote that has `branches` (as last fetched): the
/// built-in default, `src/default.toml`, as it is written (every key, every comment), with
/// each environment's `branches` set to the remote's branches that match it. Generated, not
/// written by hand, so that a key added to the default appears here with no further edit
/// (issue 21).
pub fn render(remote: &str, branches: &[String]) -> Result<String> {
    let defaults = Config::from_layers(vec![(Source::Embedded, DEFAULT_TOML.to_owned())])?;
    let parsed = DeTable::parse(DEFAULT_TOML)
        .map_err(|e| anyhow::anyhow!("the built-in default does not parse: {}", e.message()))?;
    let environments = match parsed.get_ref().get(ENVIRONMENTS).map(Spanned::get_ref) {
        Some(DeValue::Table(t)) => t,
        _ => anyhow::bail!("the built-in default has no [environments]"),
    };
    // (where, what): a note inserted before a `branches` line, or its value replaced.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for env in &defaults.environments {
        let value = match environments.get(env.name.as_str()).map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => t.get("branches").map(Spanned::span),
            _ => None,
        }
        .with_context(|| format!("the built-in default has no `branches` for `{}`", env.name))?;
        let line = DEFAULT_TOML[..value.start].rfind('\n').map_or(0, |i| i + 1);
        let found: Vec<String> = branches
            .iter()
            .filter(|b| env.matches(b))
            .cloned()
            .collect();
        if found.is_empty() {
            let note = format!(
                "# none of the usual branch names exist on `{remote}` yet; these are the defaults\n"
            );
            edits.push((line..line, note));
        } else {
            edits.push((line..line, format!("# found on `{remote}`\n")));
            // Padded to the default's width, so that the comment after it stays in its column.
            let list = toml_strings(&found);
            let width = value.len();
            edits.push((value, format!("{list:width$}")));
        }
    }
    let mut text = DEFAULT_TOML.to_owned();
    edits.sort_by_key(|(at, _)| std::cmp::Reverse((at.start, at.end)));
    for (at, with) in edits {
        text.replace_range(at, &with);
    }
    Ok(format!("{}{text}", header(remote)))
}

/// The line `init` puts before the built-in default.
fn header(remote: &str) -> String {
    format!(
        "# Written by `pushguard init` from the branches of `{remote}`: the built-in defaults, every key spelled out.\n"
    )
}

fn toml_strings(list: &[String]) -> String {
    toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes back what `render` adds to the built-in default: the header line and the notes
    /// before each `branches` line (a remote with none of the branches keeps the defaults).
    fn without_init_lines(text: &str) -> String {
        let (first, body) = text.split_once('\n').expect("a header line");
        assert!(
            first.starts_with("# Written by `pushguard init`"),
            "{first}"
        );
        body.lines()
            .filter(|l| !l.starts_with("# none of the usual branch names exist on `origin`"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn regression_issue_21_init_is_the_default_toml_with_every_key_and_comment() {
        // A template written by hand drifts from src/default.toml (it lacked `[trust]`,
        // `[server]`, `[wip]`, …): init's output is the default itself.
        let text = render("origin", &[]).expect("render");
        assert_eq!(without_init_lines(&text), DEFAULT_TOML);
        let notes = text
            .lines()
            .filter(|l| l.starts_with("# none of the usual branch names"))
            .count();
        assert_eq!(notes, 3, "{text}");
    }

    #[test]
    fn found_branches_replace_the_defaults_and_the_rest_stays() {
        let found = ["develop", "stage", "main", "release/1"].map(String::from);
        let text = render("origin", &found).expect("render");
        assert!(
            text.contains("[environments.staging]\n# found on `origin`\nbranches = [\"stage\"]"),
            "{text}"
        );
        // The comment after the value keeps its column.
        let default_line = DEFAULT_TOML
            .lines()
            .find(|l| l.starts_with("branches = [\"develop\""))
            .expect("a development line");
        let line = text
            .lines()
            .find(|l| l.starts_with("branches = [\"develop\"]"))
            .expect("the development line");
        assert_eq!(line.find('#'), default_line.find('#'), "{line}");
        let config = Config::from_layers(vec![(Source::Embedded, text.clone())]).expect("valid");
        let defaults =
            Config::from_layers(vec![(Source::Embedded, DEFAULT_TOML.to_owned())]).expect("valid");
        let branches: Vec<Vec<String>> = config
            .environments
            .iter()
            .map(|e| e.branches.clone())
            .collect();
        assert_eq!(branches, [vec!["develop"], vec!["stage"], vec!["main"]]);
        // Everything but the branches is the default's.
        let rest = |c: &Config| {
            let mut c = c.clone();
            for e in &mut c.environments {
                e.branches.clear();
            }
            toml::to_string(&c).expect("serialises")
        };
        assert_eq!(rest(&config), rest(&defaults));
    }
}
