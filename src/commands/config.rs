//! `pushguard config`: print the effective configuration with where each part came from,
//! or validate it with `--check`.

use anyhow::Result;
use toml::Value;

use crate::config::{Config, Source};
use crate::hook::load_config_for_command;
use crate::Exit;

pub fn run(check: bool) -> Result<Exit> {
    let config = load_config_for_command()?;
    if check {
        let files: Vec<String> = config.sources.iter().map(Source::to_string).collect();
        eprintln!("pushguard: configuration is valid ({})", files.join(", "));
        return Ok(Exit::Success);
    }
    print!("{}", render(&config));
    Ok(Exit::Success)
}

fn strings(list: &[String]) -> String {
    Value::Array(list.iter().cloned().map(Value::String).collect()).to_string()
}

fn string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn duration(d: std::time::Duration) -> String {
    string(&humantime::format_duration(d).to_string())
}

/// Renders the effective configuration as TOML, annotated with each part's source.
pub fn render(config: &Config) -> String {
    let p = &config.provenance;
    let mut out = String::from("# Effective pushguard configuration. Layers read, lowest first:\n");
    for s in &config.sources {
        out += &format!("#   {s}\n");
    }
    out += &format!(
        "\n# [environments] from the {}\n",
        p.source_of("environments")
    );
    for e in &config.environments {
        out += &format!("[environments.{}]\n", e.name);
        out += &format!("branches = {}\n", strings(&e.branches));
        if let Some(from) = &e.promote_from {
            out += &format!("promote_from = {}\n", string(from));
        }
        out += &format!("confirm = {}\n", e.confirm);
        let checks: Vec<String> = e.checks.iter().map(|c| c.to_string()).collect();
        out += &format!("checks = {}\n", strings(&checks));
        if !e.checklist.is_empty() {
            out += &format!("checklist = {}\n", strings(&e.checklist));
        }
        if !e.authorized.is_empty() {
            out += &format!("authorized = {}\n", strings(&e.authorized));
        }
        if e.approvals > 0 || !e.approvers.is_empty() {
            out += &format!("approvals = {}\n", e.approvals);
            out += &format!("approvers = {}\n", strings(&e.approvers));
        }
        if let Some(required) = e.require_signatures {
            out += &format!("require_signatures = {required}\n");
        }
        out += &format!("fetch = {}\nbypass = {}\n\n", e.fetch, e.bypass);
    }
    let from = |key: &str| format!("  # from the {}", p.source_of(key));
    out += "[confirm]\n";
    out += &format!(
        "leads = {}{}\n",
        strings(&config.confirm.leads),
        from("confirm.leads")
    );
    out += &format!(
        "timeout = {}{}\n\n",
        duration(config.confirm.timeout),
        from("confirm.timeout")
    );
    out += "[team]\n";
    out += &format!(
        "fetch_notes = {}{}\n\n",
        config.team.fetch_notes,
        from("team.fetch_notes")
    );
    out += "[tests]\n";
    out += &format!(
        "commands = {}{}\n",
        strings(&config.tests.commands),
        from("tests.commands")
    );
    out += &format!(
        "timeout = {}{}\n",
        duration(config.tests.timeout),
        from("tests.timeout")
    );
    out += &format!("cache = {}{}\n\n", config.tests.cache, from("tests.cache"));
    out += &crate::signing::render_trust(config, &from);
    out += "[bypass]\n";
    out += &format!(
        "min_length = {}{}\n\n",
        config.bypass.min_length,
        from("bypass.min_length")
    );
    out += "[wip]\n";
    let patterns = &config.wip.patterns;
    out += &format!("patterns = {}{}\n", strings(patterns), from("wip.patterns"));
    out
}
