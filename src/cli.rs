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
    /// Install the pre-push hook into this clone, or in a bare repository the server's
    /// pre-receive and post-receive hooks (an existing hook is kept and chained)
    Install {
        /// Rewrite the hook even if it is current
        #[arg(long)]
        force: bool,
        /// Print what to commit so that the hook manager runs pushguard for the whole team
        /// (lefthook: a `lefthook.yml` snippet; husky: the `.husky/pre-push` block); installs nothing
        #[arg(long, conflicts_with_all = ["force", "config_hooks"])]
        print: bool,
        /// Install as a config-based hook (`hook.pushguard.command`, git >= 2.54) instead of a
        /// file in the hooks directory
        #[arg(long)]
        config_hooks: bool,
        /// In a bare repository: the host that runs its hooks (default: detected from the
        /// repository's files). gitolite: pushguard's hooks go to gitolite's LOCAL_CODE and the
        /// administrator's steps are printed; gitlab: custom_hooks/<hook>.d/; gitea (Gitea,
        /// Forgejo): hooks/<hook>.d/; plain: hooks/<hook>, a hook there kept and chained
        #[arg(long, value_enum, conflicts_with_all = ["print", "config_hooks"])]
        host: Option<crate::install::hosts::Host>,
    },
    /// Remove the pre-push (or, in a bare repository, pre-receive and post-receive) hook, restoring any hook it had chained
    Uninstall,
    /// Dry run of the gate for pushing REV to an environment: report, no prompt, no record
    Check {
        /// An environment name (`staging`) or an environment branch (`main`)
        target: String,
        /// The commit to check
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// The remote (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Show the hook's install state, the config in force, each environment on the remote, and
    /// the signing state (in a bare repository: the server's hooks, config and branches)
    Status {
        /// The remote whose environment branches to show (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Prove with a real `git push --dry-run` that git's pre-push hook reaches pushguard
    /// (through any hook manager); exit 0 when the guard is effective, 1 when it is not
    Doctor,
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
        /// The remote whose branches to map (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Print the effective configuration and where each part came from
    Config {
        /// Only validate; exit 0 if the configuration is valid, 2 if not
        #[arg(long)]
        check: bool,
    },
    /// Record that you approve a commit for an environment (shared through git notes)
    Approve {
        /// The commit to approve (a branch, tag or commit id)
        #[arg(required_unless_present = "list")]
        rev: Option<String>,
        /// The environment the approval is for
        #[arg(long, required_unless_present = "list")]
        env: Option<String>,
        /// The remote to share approvals with (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
        /// List the approvals (of REV, if given) instead of approving
        #[arg(long)]
        list: bool,
    },
    /// Ask for the approvals a commit still needs for an environment: records a request (shared
    /// through git notes), prints who may approve and the `pushguard approve` line to send
    /// them, and runs `[team] notify`
    Request {
        /// The commit to be approved (a branch, tag or commit id)
        rev: String,
        /// The environment it is to go to
        #[arg(long, value_name = "E")]
        env: String,
        /// The remote to share the request with (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// List, per environment, the commits waiting to go there and on what: approvals (which
    /// rules), soak (eligible at), freeze (until when)
    Pending {
        /// Only this environment
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Print one JSON object per waiting commit (JSON Lines)
        #[arg(long)]
        json: bool,
        /// The remote whose environments to look at (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Let one commit pass one check for one environment, with a reason (shared through git
    /// notes): for a work-in-progress commit already on the environment this one promotes
    /// from, whose history is not rewritten
    Waive {
        /// The commit to waive (a branch, tag or commit id)
        rev: String,
        /// The check to waive: `no-wip` (the only check that judges each commit)
        #[arg(long, value_name = "CHECK")]
        check: String,
        /// The environment the waiver is for
        #[arg(long, value_name = "E")]
        env: String,
        /// Why the commit may ship as it is (at least `[bypass].min_length` characters; recorded)
        #[arg(long, value_name = "WHY")]
        reason: String,
        /// The remote whose branches show where the commit is, and to share the waiver with
        /// (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Judge each environment branch's tip on the remote: it must be what a push through the
    /// gate left there (a recorded allowed or bypassed push of that branch to that remote); a
    /// trail that lost records it held fails the audit. With --history: list every update of
    /// each environment branch in the period, as an auditor samples them
    Audit {
        /// The remote to audit (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
        /// Only this environment
        #[arg(long)]
        env: Option<String>,
        /// List only commits since DATE (a date, an RFC 3339 time, or an age such as 7d); the
        /// tips are judged whatever it says. With --history: the period's start
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// List every update of each environment branch in the period, oldest first, rebuilt
        /// from the records' old → new chain; a break in the chain is an UNRECORDED update
        #[arg(long)]
        history: bool,
        /// With --history: the period's end (a date means the end of that day)
        #[arg(long, value_name = "DATE", requires = "history")]
        until: Option<String>,
        /// With --history: how the rows are written
        #[arg(long, value_enum, default_value = "table", requires = "history")]
        format: crate::commands::history::Format,
        /// With --history: also write the rows, the records and approval notes they rest on,
        /// the allowed signers and SHA256SUMS into DIR, to verify offline (README: Verifying
        /// the evidence)
        #[arg(long, value_name = "DIR", requires = "history")]
        evidence: Option<std::path::PathBuf>,
        /// Exit 1 when any environment tip is UNRECORDED (for a deploy pipeline); with
        /// --history, when any update in the period is
        #[arg(long)]
        fail_on_unrecorded: bool,
        /// Exit 1 when a bypass in the period is past its `review_within` with no review by
        /// someone other than the bypasser (`pushguard review`)
        #[arg(long, conflicts_with = "history")]
        fail_on_unreviewed: bool,
        /// Exit 1 when an environment tip was left by a bypass that nobody else reviewed (for a
        /// deploy pipeline that must not ship a bypassed tip unreviewed)
        #[arg(long, conflicts_with = "history")]
        fail_on_bypassed: bool,
        /// The deploy pipeline's policy (environments and trust root) to judge by, instead of
        /// the audited checkout's .pushguard.toml (also PUSHGUARD_CONFIG); it must lie outside
        /// the checkout
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Record that you reviewed a bypassed push (someone else's): in the approvals notes,
    /// signed when you have a signing key, shared with the remote
    Review {
        /// The bypass: its record's hash (7 digits or more), or the commit it pushed
        target: String,
        /// The environment the bypass went to
        #[arg(long, value_name = "E")]
        env: String,
        /// What you found (recorded with the review)
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// The remote whose trail holds the bypass (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long)]
        remote: Option<String>,
    },
    /// Record ahead of time that a lead or senior was consulted, for a push without a terminal
    Confirm {
        /// The environment the next push goes to
        environment: String,
        /// Who was consulted (asked on the terminal when not given)
        #[arg(long, value_name = "NAME")]
        consulted: Option<String>,
        /// Affirm every checklist item without being asked (recorded as such)
        #[arg(long)]
        affirm_checklist: bool,
        /// How long the confirmation stays valid (single use)
        #[arg(long, value_name = "DURATION", default_value = "30m")]
        valid_for: String,
    },
    /// Show the audit log, newest first, or verify it (hash chain, and the records this clone shared)
    Log {
        /// Show at most N records
        #[arg(short = 'n', value_name = "N")]
        limit: Option<usize>,
        /// Only records for this environment
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Only records with this decision
        #[arg(long, value_name = "D", value_parser = ["allowed", "blocked", "bypassed"])]
        decision: Option<String>,
        /// Only records at or after DATE (2026-01-31, an RFC 3339 time, or an age such as 7d)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print the raw records as JSON Lines (as stored; a raw C1 or DEL character in a line
        /// from an older version is re-escaped as `\u00XX`, so that line no longer verifies as
        /// printed: `--verify` checks the file)
        #[arg(long)]
        json: bool,
        /// Show the team's records from the remote's trail (default: the current branch's upstream remote, else origin, else the only remote)
        #[arg(long, value_name = "R", num_args = 0..=1)]
        remote: Option<Option<String>>,
        /// Verify the hash chain and that every record this clone shared (local notes; with
        /// --remote, its own trail ref on the remote too, whatever the local state) is still in
        /// the log: exit 0 with the count, or 1 with the first bad line or missing record
        #[arg(long, conflicts_with_all = ["limit", "env", "decision", "since", "json"])]
        verify: bool,
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
    /// The server's pre-receive hook: reads `<old> <new> <ref>` lines on stdin, gates
    /// environment branches, takes `-o consulted=…` / `-o bypass=…` from push options
    PreReceive {
        /// The directory of the installed hook, where a chained hook lives
        #[arg(long, hide = true)]
        hook_dir: Option<PathBuf>,
    },
    /// The server's post-receive hook: attaches the server's audit records of the push to
    /// the pushed tips in `refs/notes/pushguard-audit.d/server` (never fails the push)
    PostReceive {
        /// The directory of the installed hook, where a chained hook lives
        #[arg(long, hide = true)]
        hook_dir: Option<PathBuf>,
    },
    /// The server's update hook, for one ref (git gives it no push options)
    Update {
        /// The ref being updated (refs/heads/…)
        refname: String,
        /// Its current object id (all zeros: created)
        old: String,
        /// Its new object id (all zeros: deleted)
        new: String,
    },
}

/// Parses the process arguments; exits with status 2 on a usage error. Run by pre-commit or
/// prek as a `pre-push` stage hook (their variables set), where they pass file names or
/// nothing, a command line that does not parse gets the guidance for that case and blocks
/// (issue 22, item 9).
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.use_stderr()
                && crate::install::managers::STAGE_VARS
                    .iter()
                    .any(|v| std::env::var_os(v).is_some())
            {
                let _ = crate::install::managers::write_stage_refusal(&mut std::io::stderr());
                std::process::exit(1);
            }
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}
