//! The command line: clap's derive types and their help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Guards pushes to a team's environment branches.
///
/// pushguard runs as git's pre-push hook. Pushes to ordinary branches pass untouched; a push
/// to an environment branch (development, staging, production) runs the promotion checks and
/// asks whether a lead or senior was consulted. The only way past a failing gate is a bypass
/// with a written justification.
///
/// Exit codes: 0 allowed or success, 1 blocked or check failed, 2 usage, configuration or
/// internal error (the hook blocks the push on 2 too).
#[derive(Debug, Parser)]
#[command(name = "pushguard", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install the pre-push hook into this clone (an existing hook is kept and chained)
    Install {
        /// Rewrite the hook even if it is current
        #[arg(long)]
        force: bool,
    },
    /// Remove the pre-push hook, restoring any hook it had chained
    Uninstall,
    /// Dry run of the gate for pushing REV to an environment: report, no prompt, no record
    Check {
        /// An environment name (`staging`) or an environment branch (`main`)
        target: String,
        /// The commit to check
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// The remote (default: the current branch's upstream, else origin)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Show the hook's install state, the config in force, and each environment on the remote
    Status,
    /// Hook entry points that git runs (not meant to be typed)
    Hook {
        #[command(subcommand)]
        hook: HookCommand,
    },
    /// Write a commented .pushguard.toml mapped to the branches the remote has
    Init {
        /// Overwrite an existing .pushguard.toml
        #[arg(long)]
        force: bool,
        /// The remote whose branches to map (default: origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Print the effective configuration and where each part came from
    Config {
        /// Only validate; exit 0 if the configuration is valid, 2 if not
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// The pre-push hook: reads git's ref lines on stdin and gates environment branches
    PrePush {
        /// The remote's name, or its URL when pushing to a URL
        remote: String,
        /// The URL being pushed to
        url: String,
        /// The directory of the installed hook, where a chained hook lives
        #[arg(long, hide = true)]
        hook_dir: Option<PathBuf>,
    },
}

/// Parses the process arguments; exits with status 2 on a usage error.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}
