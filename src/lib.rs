//! pushguard guards pushes to a team's environment branches.
//!
//! git runs the binary as the pre-push hook. Pushes to ordinary branches pass after a parse
//! of git's input and a glance at the config; pushes to environment branches run the gate.
//! The binary (`main.rs`) only dispatches to [`run`].
//!
//! The layers, top down (a module never imports from a layer above its own):
//! - entry points: [`cli`], [`commands`], [`hook`] (pre-push), [`server`] (pre-receive,
//!   update), [`post_receive`], [`mod@install`];
//! - [`pipeline`], the one gate sequence every caller runs, and [`report`], its wording;
//! - [`sites`]: what differs between the places the gate runs (client, server), and the
//!   facts of a SHA-256 repository read through git;
//! - policy: [`gate`] (the pure decision core), [`checks`], [`review`] (whether a bypass
//!   was reviewed) and [`history`] (a branch's updates from its records, and which landed);
//! - adapters: [`git`], [`audit`], [`anchor`], [`pending`], [`notes`], [`remote_id`],
//!   [`signing`], [`terminal`], [`testrun`], [`answers`], [`remote`], [`since`];
//! - the shared vocabulary: [`model`], [`config`], [`push`], [`text`], [`outcome`] (how a
//!   run ends, and errors with advice).

pub mod anchor;
pub mod answers;
pub mod audit;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod gate;
pub mod git;
pub mod history;
pub mod hook;
pub mod install;
pub mod model;
pub mod notes;
pub mod outcome;
pub mod pending;
pub mod pipeline;
pub mod post_receive;
pub mod push;
pub mod remote;
pub mod remote_id;
pub mod report;
pub mod review;
pub mod server;
pub mod signing;
pub mod since;
pub mod sites;
pub mod terminal;
pub mod testrun;
pub mod text;

use cli::{Cli, Command, HookCommand};
use outcome::Exit;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // git runs the hooks in a repository it opened itself; every command a person runs first
    // says why a repository git will not open for its owner cannot be read (issue 24, item 3),
    // instead of carrying on as if there were none.
    if !matches!(cli.command, Command::Hook { .. }) {
        if let Some(refused) = git::ownership::refusal() {
            return Err(refused);
        }
    }
    match cli.command {
        Command::Install { print: true, .. } => install::managers::print_snippet(),
        Command::Install {
            config_hooks: true,
            force,
            ..
        } => install::config_hooks::install(force),
        Command::Install { force, host, .. } => install::install(force, host),
        Command::Uninstall => install::uninstall(),
        Command::Doctor => commands::doctor::run(),
        Command::Hook {
            hook:
                HookCommand::PrePush {
                    remote,
                    url,
                    hook_dir,
                },
        } => hook::pre_push_as_installed(&remote, &url, hook_dir.as_deref()),
        Command::Hook {
            hook: HookCommand::PreReceive { hook_dir },
        } => server::pre_receive(hook_dir.as_deref()),
        Command::Hook {
            hook: HookCommand::PostReceive { hook_dir },
        } => post_receive::post_receive(hook_dir.as_deref()),
        Command::Hook {
            hook: HookCommand::Update { refname, old, new },
        } => server::update(&refname, &old, &new),
        Command::Init { force, remote } => commands::init::run(force, remote.as_deref()),
        Command::Config { check } => commands::config::run(check),
        Command::Approve {
            rev,
            env,
            remote,
            list,
        } => commands::approve::run(rev.as_deref(), env.as_deref(), remote.as_deref(), list),
        Command::Request { rev, env, remote } => {
            commands::request::run(&rev, &env, remote.as_deref())
        }
        Command::Pending { env, json, remote } => {
            commands::pending::run(env.as_deref(), json, remote.as_deref())
        }
        Command::Waive {
            rev,
            check,
            env,
            reason,
            remote,
        } => commands::waive::run(&rev, &check, &env, &reason, remote.as_deref()),
        Command::Audit {
            remote,
            env,
            since,
            history: true,
            until,
            format,
            evidence,
            fail_on_unrecorded,
            config,
            ..
        } => commands::history::run(&commands::history::Options {
            remote: remote.as_deref(),
            env: env.as_deref(),
            since: since.as_deref(),
            until: until.as_deref(),
            format,
            evidence: evidence.as_deref(),
            fail_on_unrecorded,
            policy: config.as_deref(),
        }),
        Command::Audit {
            remote,
            env,
            since,
            fail_on_unrecorded,
            fail_on_unreviewed,
            fail_on_bypassed,
            config,
            ..
        } => commands::audit::run(
            remote.as_deref(),
            env.as_deref(),
            since.as_deref(),
            commands::audit::FailOn {
                unrecorded: fail_on_unrecorded,
                unreviewed: fail_on_unreviewed,
                bypassed: fail_on_bypassed,
            },
            config.as_deref(),
        ),
        Command::Review {
            target,
            env,
            note,
            remote,
        } => commands::review::run(&target, &env, note.as_deref(), remote.as_deref()),
        Command::Confirm {
            environment,
            consulted,
            affirm_checklist,
            valid_for,
        } => commands::confirm::run(&environment, consulted, affirm_checklist, &valid_for),
        Command::Log {
            limit,
            env,
            decision,
            since,
            json,
            remote,
            verify,
        } => {
            if verify {
                commands::log::verify(remote)
            } else {
                commands::log::show(&commands::log::Filter {
                    limit,
                    env,
                    decision,
                    since,
                    json,
                    remote,
                })
            }
        }
        Command::Check {
            target,
            rev,
            remote,
        } => commands::check::run(&target, &rev, remote.as_deref()),
        Command::Status { remote } => commands::status::run(remote.as_deref()),
    }
}
