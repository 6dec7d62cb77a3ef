//! A foreign hook kept at install and chained after pushguard: run with the same arguments
//! and the same stdin, its exit status becomes the hook's.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};

use crate::outcome::{Exit, WithHint};
use crate::pipeline::Chained;

/// A chained hook: its path, the git hook it stands in for, and what it is given.
#[derive(Debug, Clone)]
pub struct ChainedHook {
    pub path: PathBuf,
    /// `pre-push`, `pre-receive`, `post-receive`.
    pub hook: &'static str,
    pub args: Vec<String>,
    pub input: Vec<u8>,
}

impl ChainedHook {
    /// Runs the hook of a push that gates nothing: its refusal is said, its status passed on.
    pub fn run_alone(hook: Option<&ChainedHook>) -> Result<Exit> {
        let Some(hook) = hook else {
            return Ok(Exit::Success);
        };
        let ran = hook.run()?;
        if let Some(why) = &ran.refusal {
            eprintln!("pushguard: {why}");
        }
        Ok(ran.exit)
    }

    /// Runs the hook chained at install, if there is one.
    pub fn run_if(hook: Option<&ChainedHook>) -> Result<Chained> {
        hook.map_or_else(|| Ok(Chained::passed()), ChainedHook::run)
    }

    /// Runs the hook if it exists; a missing one passes.
    pub fn run(&self) -> Result<Chained> {
        if !self.path.is_file() {
            return Ok(Chained::passed());
        }
        let path = &self.path;
        let mut child = Command::new(path)
            .args(&self.args)
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to run the chained hook `{}`", path.display()))
            .hint(format!(
                "make it executable (`chmod +x {}`) or remove it",
                path.display()
            ))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let data = self.input.clone();
        // A hook that exits without reading its input is fine: ignore the broken pipe.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let status = child
            .wait()
            .with_context(|| format!("failed to wait for the chained hook `{}`", path.display()))?;
        let _ = writer.join();
        let hook = self.hook;
        Ok(match status.code() {
            Some(0) => Chained::passed(),
            Some(code) => Chained {
                exit: Exit::Code(u8::try_from(code).unwrap_or(1).max(1)),
                refusal: Some(format!(
                    "the chained {hook} hook `{}` exited with status {code}",
                    path.display()
                )),
            },
            None => Chained {
                exit: Exit::Blocked,
                refusal: Some(format!(
                    "the chained {hook} hook `{}` was killed by a signal",
                    path.display()
                )),
            },
        })
    }
}
