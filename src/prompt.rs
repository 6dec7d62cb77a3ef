//! The human gate: prompts on `/dev/tty` behind [`can_prompt`], and the non-interactive policy.
//!
//! Prompts are drawn on and read from `/dev/tty`, never stdout (git passes a hook's stdout to
//! `git push --porcelain` readers) and never stdin (it is git's ref list). Each dialogue runs
//! on a worker thread watched by the caller: Ctrl-C, end of input or no answer within
//! `[confirm].timeout` ends it, restores the terminal and blocks the push, which is still
//! recorded. Without a terminal the answers come from `PUSHGUARD_CONSULTED`,
//! `PUSHGUARD_BYPASS` or a confirmation given ahead of time with `pushguard confirm`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use console::Term;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, Select};

use crate::answers::{self, Remembered, Taken};
use crate::audit::ChecklistEntry;
use crate::config::{Config, Environment};
use crate::gate::Answers;
use crate::push::escape;

/// Set (to anything) to never prompt, even when a terminal is there.
pub const NONINTERACTIVE_ENV: &str = "PUSHGUARD_NONINTERACTIVE";
/// Who was consulted, for a push without a terminal.
pub const CONSULTED_ENV: &str = "PUSHGUARD_CONSULTED";
/// A justification that bypasses failed checks (and the confirmation).
pub const BYPASS_ENV: &str = "PUSHGUARD_BYPASS";

/// The choice in the list of leads that asks for a name instead.
const SOMEONE_ELSE: &str = "someone else";

/// Opens the controlling terminal for reading and writing.
pub fn open_tty() -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// A terminal to ask on for a command run by a person (`pushguard confirm`), when
/// [`can_prompt`] holds, with the theme to draw with.
pub fn command_term() -> Option<(Term, Box<dyn Theme>)> {
    if std::env::var_os(NONINTERACTIVE_ENV).is_some() {
        return None;
    }
    let tty = Tty::open()?;
    let term = tty.term().ok()?;
    let theme: Box<dyn Theme> = if tty.colorful {
        Box::new(ColorfulTheme::default())
    } else {
        Box::new(SimpleTheme)
    };
    Some((term, theme))
}

/// Tells whether a person can be asked: `/dev/tty` opens and `PUSHGUARD_NONINTERACTIVE` is unset.
pub fn can_prompt() -> bool {
    std::env::var_os(NONINTERACTIVE_ENV).is_none() && open_tty().is_some()
}

/// A non-empty, trimmed value of an environment variable.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Why a justification is refused, if it is.
pub fn justification_problem(text: &str, min_length: usize) -> Option<String> {
    let text = text.trim();
    let length = text.chars().count();
    if length < min_length {
        return Some(format!(
            "too short: {length} character{}, at least {min_length} needed",
            if length == 1 { "" } else { "s" }
        ));
    }
    let dense: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    // "aaaaaaaaaaaaaaaa", "ab ab ab ab ab ab" or "asdfasdfasdfasdf" says nothing.
    let repeated = (1..=4)
        .any(|unit| dense.len() >= unit && dense.chunks(unit).all(|c| c == &dense[..c.len()]));
    repeated.then(|| "it only repeats a few characters: say why this push cannot wait".to_owned())
}

/// Why a consulted person's name is refused, if it is.
pub fn name_problem(text: &str) -> Option<&'static str> {
    text.trim()
        .is_empty()
        .then_some("a name is needed: who did you talk to?")
}

/// Why the human gate did not let a push through (the checks may have passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The person said they did not talk to a lead or senior.
    NotConsulted,
    /// A checklist item was answered No.
    ChecklistNo(String),
    /// The failed checks were not bypassed (the offer was declined).
    BypassDeclined,
    /// The environment does not allow bypass.
    BypassDisabled,
    /// `PUSHGUARD_BYPASS` was refused.
    BypassRefused(String),
    /// No terminal and no bypass: how to bypass without one.
    NeedsBypass,
    /// No terminal and no confirmation: both ways forward.
    NeedsConfirmation {
        checklist: bool,
        expired: Option<String>,
    },
    /// Consulted was given, but the checklist can only come from `pushguard confirm`.
    NeedsChecklist { consulted: String },
    /// The dialogue ended without an answer.
    Stopped(Stop),
}

/// How a dialogue ended without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Interrupted,
    TimedOut(Duration),
    EndOfInput,
    Failed(String),
}

/// Where the answers came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Nothing,
    Prompt,
    Environment,
    Confirmation {
        created: String,
        affirmed_with_flag: bool,
    },
    Reused,
}

/// What the human gate gathered for one ref update.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub answers: Answers,
    pub checklist: Vec<ChecklistEntry>,
    pub block: Option<Block>,
    pub source: Source,
}

impl Gathered {
    fn blocked(block: Block) -> Gathered {
        Gathered {
            answers: Answers::default(),
            checklist: Vec::new(),
            block: Some(block),
            source: Source::Nothing,
        }
    }

    fn answered(answers: Answers, checklist: Vec<ChecklistEntry>, source: Source) -> Gathered {
        Gathered {
            answers,
            checklist,
            block: None,
            source,
        }
    }

    /// Tells whether these answers should be reused by git's next run of the hook.
    pub fn reusable(&self) -> bool {
        matches!(self.source, Source::Prompt | Source::Confirmation { .. })
    }
}

/// What is being pushed, for the summary shown before the questions.
#[derive(Debug, Clone)]
pub struct Summary {
    pub environment: String,
    pub branch: String,
    pub remote: String,
    pub commits: usize,
    /// Up to ten `(short id, subject)` pairs, newest first.
    pub subjects: Vec<(String, String)>,
}

/// One gated ref update as the human gate sees it.
pub struct Request<'a> {
    pub config: &'a Config,
    pub environment: &'a Environment,
    pub remote_ref: &'a str,
    /// The pushed commit; `None` for a delete.
    pub new: Option<&'a str>,
    pub checks_passed: bool,
    pub summary: Summary,
}

/// The human gate for one push: the terminal, if any, and whether a dialogue was cut short.
pub struct Session {
    tty: Option<Tty>,
    state_dir: PathBuf,
    /// After Ctrl-C or a timeout no further question is asked: the worker may still be reading.
    stopped: Option<Stop>,
}

impl Session {
    /// Starts the human gate; it prompts only when [`can_prompt`] holds.
    pub fn new(state_dir: PathBuf) -> Session {
        let tty = if std::env::var_os(NONINTERACTIVE_ENV).is_none() {
            Tty::open()
        } else {
            None
        };
        Session {
            tty,
            state_dir,
            stopped: None,
        }
    }

    /// Gathers the answers a ref update needs: a bypass when its checks failed, else the
    /// confirmation and the checklist.
    pub fn gather(&mut self, req: &Request) -> Gathered {
        let env = req.environment;
        if let Some(stop) = &self.stopped {
            return Gathered::blocked(Block::Stopped(stop.clone()));
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Gathered::blocked(Block::Stopped(Stop::Interrupted));
        }
        if let Some(new) = req.new {
            if let Some(r) = answers::recall(
                &self.state_dir,
                &req.summary.remote,
                &env.name,
                req.remote_ref,
                new,
            ) {
                let usable = if req.checks_passed {
                    r.justification.is_some() || !needs_confirmation(env) || r.consulted.is_some()
                } else {
                    r.justification.is_some() && env.bypass
                };
                if usable {
                    let answers = Answers {
                        checklist_affirmed: r.checklist.iter().all(|c| c.answer),
                        consulted: r.consulted,
                        justification: r.justification,
                    };
                    return Gathered::answered(answers, r.checklist, Source::Reused);
                }
            }
        }
        let bypass_env = env_value(BYPASS_ENV);
        if !req.checks_passed {
            if !env.bypass {
                return Gathered::blocked(Block::BypassDisabled);
            }
            if let Some(why) = bypass_env {
                return self.bypass_from_env(why, req.config.bypass.min_length);
            }
            return match &self.tty {
                Some(_) => self.ask_bypass(req),
                None => Gathered::blocked(Block::NeedsBypass),
            };
        }
        if !needs_confirmation(env) {
            return Gathered::answered(Answers::default(), Vec::new(), Source::Nothing);
        }
        let consulted_env = env_value(CONSULTED_ENV);
        let confirmation = answers::take_confirmation(&self.state_dir, &env.name);
        let expired = match &confirmation {
            Taken::Expired(c) => Some(c.expires_at()),
            _ => None,
        };
        if let Taken::Valid(c) = confirmation {
            let answers = Answers {
                consulted: Some(consulted_env.unwrap_or(c.consulted)),
                checklist_affirmed: true,
                justification: None,
            };
            let source = Source::Confirmation {
                created: c.created,
                affirmed_with_flag: c.affirmed_with_flag,
            };
            return Gathered::answered(answers, c.checklist, source);
        }
        if self.tty.is_some() {
            return self.ask_confirmation(req, consulted_env);
        }
        match consulted_env {
            Some(name) if env.checklist.is_empty() => Gathered::answered(
                Answers {
                    consulted: Some(name),
                    checklist_affirmed: true,
                    justification: None,
                },
                Vec::new(),
                Source::Environment,
            ),
            Some(consulted) => Gathered::blocked(Block::NeedsChecklist { consulted }),
            None => {
                if let Some(why) = bypass_env {
                    return self.bypass_from_env(why, req.config.bypass.min_length);
                }
                Gathered::blocked(Block::NeedsConfirmation {
                    checklist: !env.checklist.is_empty(),
                    expired,
                })
            }
        }
    }

    /// Keeps answers that let a push through, for git's next run of the hook (another URL).
    pub fn remember(&self, req: &Request, gathered: &Gathered) {
        let Some(new) = req.new else { return };
        if !gathered.reusable() {
            return;
        }
        let _ = answers::remember(
            &self.state_dir,
            Remembered {
                remote: req.summary.remote.clone(),
                environment: req.environment.name.clone(),
                remote_ref: req.remote_ref.to_owned(),
                new: new.to_owned(),
                at: 0,
                consulted: gathered.answers.consulted.clone(),
                checklist: gathered.checklist.clone(),
                justification: gathered.answers.justification.clone(),
            },
        );
    }

    fn bypass_from_env(&self, why: String, min_length: usize) -> Gathered {
        match justification_problem(&why, min_length) {
            Some(problem) => Gathered::blocked(Block::BypassRefused(problem)),
            None => Gathered::answered(
                Answers {
                    justification: Some(why),
                    ..Answers::default()
                },
                Vec::new(),
                Source::Environment,
            ),
        }
    }

    fn ask_bypass(&mut self, req: &Request) -> Gathered {
        let min_length = req.config.bypass.min_length;
        let result = self.dialogue(req.config.confirm.timeout, move |term, theme, tick| {
            let yes = Confirm::with_theme(theme)
                .with_prompt("Bypass the failed checks with a justification?")
                .default(false)
                .interact_on_opt(term)?;
            tick();
            if yes != Some(true) {
                return Ok(None);
            }
            let why: String = Input::with_theme(theme)
                .with_prompt(format!(
                    "Why must this push go through now? (at least {min_length} characters; recorded)"
                ))
                .validate_with(|t: &String| match justification_problem(t, min_length) {
                    Some(p) => Err(p),
                    None => Ok(()),
                })
                .interact_text_on(term)?;
            Ok(Some(why.trim().to_owned()))
        });
        match result {
            Ok(Some(why)) => Gathered::answered(
                Answers {
                    justification: Some(why),
                    ..Answers::default()
                },
                Vec::new(),
                Source::Prompt,
            ),
            Ok(None) => Gathered::blocked(Block::BypassDeclined),
            Err(stop) => Gathered::blocked(Block::Stopped(stop)),
        }
    }

    fn ask_confirmation(&mut self, req: &Request, consulted: Option<String>) -> Gathered {
        let env = req.environment;
        let leads = req.config.confirm.leads.clone();
        let checklist = env.checklist.clone();
        let confirm = env.confirm && consulted.is_none();
        let summary = render_summary(&req.summary);
        let result = self.dialogue(req.config.confirm.timeout, move |term, theme, tick| {
            term.write_str(&summary)?;
            let mut out = Dialog {
                consulted,
                checklist: Vec::new(),
                refused: None,
            };
            if confirm {
                let yes = Confirm::with_theme(theme)
                    .with_prompt("Have you talked to a lead or senior about this push?")
                    .default(false)
                    .interact_on_opt(term)?;
                tick();
                if yes != Some(true) {
                    out.refused = Some(Block::NotConsulted);
                    return Ok(out);
                }
                out.consulted = Some(ask_who(term, theme, &leads, &tick)?);
            }
            for item in checklist {
                let yes = Confirm::with_theme(theme)
                    .with_prompt(item.clone())
                    .default(false)
                    .interact_on_opt(term)?;
                tick();
                let answer = yes == Some(true);
                out.checklist.push(ChecklistEntry {
                    item: item.clone(),
                    answer,
                });
                if !answer {
                    out.refused = Some(Block::ChecklistNo(item));
                    return Ok(out);
                }
            }
            Ok(out)
        });
        match result {
            Ok(d) => {
                let answers = Answers {
                    checklist_affirmed: d.refused.is_none(),
                    consulted: d.consulted,
                    justification: None,
                };
                Gathered {
                    answers,
                    checklist: d.checklist,
                    block: d.refused,
                    source: Source::Prompt,
                }
            }
            Err(stop) => Gathered::blocked(Block::Stopped(stop)),
        }
    }

    /// Runs a dialogue on the terminal under the watchdog; see [`Tty::run`].
    fn dialogue<T: Send + 'static>(
        &mut self,
        timeout: Duration,
        ask: impl FnOnce(&Term, &dyn Theme, &dyn Fn()) -> dialoguer::Result<T> + Send + 'static,
    ) -> Result<T, Stop> {
        let tty = self
            .tty
            .as_ref()
            .expect("dialogues run only with a terminal");
        let result = tty.run(timeout, ask);
        if let Err(stop) = &result {
            self.stopped = Some(stop.clone());
        }
        result
    }
}

/// What the confirmation dialogue got.
struct Dialog {
    consulted: Option<String>,
    checklist: Vec<ChecklistEntry>,
    refused: Option<Block>,
}

/// Tells whether an environment asks anything of a person when its checks pass.
fn needs_confirmation(env: &Environment) -> bool {
    env.confirm || !env.checklist.is_empty()
}

/// Asks who was consulted: a choice of leads plus "someone else", or a name.
pub fn ask_who(
    term: &Term,
    theme: &dyn Theme,
    leads: &[String],
    tick: &dyn Fn(),
) -> dialoguer::Result<String> {
    if !leads.is_empty() {
        let mut items: Vec<String> = leads.iter().map(|l| escape(l, 120)).collect();
        items.push(SOMEONE_ELSE.to_owned());
        let chosen = Select::with_theme(theme)
            .with_prompt("Who did you consult?")
            .items(&items)
            .default(0)
            .interact_on_opt(term)?;
        tick();
        match chosen {
            Some(i) if i < leads.len() => return Ok(leads[i].clone()),
            Some(_) => {}
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "the choice was cancelled",
                )
                .into())
            }
        }
    }
    let name: String = Input::with_theme(theme)
        .with_prompt("Who did you consult? (name)")
        .validate_with(|t: &String| match name_problem(t) {
            Some(p) => Err(p),
            None => Ok(()),
        })
        .interact_text_on(term)?;
    tick();
    Ok(name.trim().to_owned())
}

/// The summary shown on the terminal before the questions.
pub fn render_summary(s: &Summary) -> String {
    let mut out = format!(
        "\npushguard: pushing {} commit{} to {}: {}/{}\n",
        s.commits,
        if s.commits == 1 { "" } else { "s" },
        s.environment,
        escape(&s.remote, 120),
        escape(&s.branch, 120),
    );
    for (id, subject) in &s.subjects {
        out.push_str(&format!("    {id} {}\n", escape(subject, 100)));
    }
    if s.commits > s.subjects.len() {
        out.push_str(&format!(
            "    … and {} more\n",
            s.commits - s.subjects.len()
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The terminal and the watchdog.

/// Set once Ctrl-C was pressed during this hook run.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The running dialogue's watchdog, told about Ctrl-C.
static ACTIVE: Mutex<Option<Sender<Event>>> = Mutex::new(None);
static HANDLER: OnceLock<()> = OnceLock::new();

/// What the watchdog hears from the dialogue.
enum Event<T = ()> {
    Answered,
    Done(dialoguer::Result<T>),
    Interrupted,
}

/// Installs the interrupt handler once: Ctrl-C (and the terminal going away, SIGHUP) ends
/// the dialogue instead of the process, so the block is still recorded and the terminal
/// restored.
///
/// It goes through signal-hook's registry, like the tests runner's, so the two coexist; the
/// handler thread does what a signal handler may not (lock, send).
fn install_interrupt_handler() {
    HANDLER.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGHUP, SIGTERM]) else {
            return;
        };
        std::thread::spawn(move || {
            for _ in signals.forever() {
                INTERRUPTED.store(true, Ordering::SeqCst);
                if let Ok(active) = ACTIVE.lock() {
                    if let Some(tx) = active.as_ref() {
                        let _ = tx.send(Event::Interrupted);
                    }
                }
            }
        });
    });
}

/// `/dev/tty`, with the terminal modes to restore if a dialogue is cut short.
struct Tty {
    file: File,
    saved: Option<rustix::termios::Termios>,
    colorful: bool,
}

impl Tty {
    fn open() -> Option<Tty> {
        let file = open_tty()?;
        let saved = rustix::termios::tcgetattr(&file).ok();
        Some(Tty {
            file,
            saved,
            colorful: std::env::var_os("NO_COLOR").is_none(),
        })
    }

    /// A `console::Term` reading from and drawing on this terminal.
    fn term(&self) -> std::io::Result<Term> {
        Ok(Term::read_write_pair(
            self.file.try_clone()?,
            self.file.try_clone()?,
        ))
    }

    /// Runs `ask` on a worker thread; each answer (`tick`) restarts the `timeout`.
    ///
    /// dialoguer has no timeout, and a read cannot be cancelled: on Ctrl-C or timeout the
    /// worker is left blocked in its read (the hook exits soon after), and the terminal's
    /// modes and cursor are restored here.
    fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        ask: impl FnOnce(&Term, &dyn Theme, &dyn Fn()) -> dialoguer::Result<T> + Send + 'static,
    ) -> Result<T, Stop> {
        install_interrupt_handler();
        let term = self.term().map_err(|e| Stop::Failed(e.to_string()))?;
        let colorful = self.colorful;
        let (tx, rx) = mpsc::channel::<Event<T>>();
        let (itx, irx) = mpsc::channel::<Event>();
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(itx);
        }
        let worker_tx = tx.clone();
        std::thread::spawn(move || {
            let tick_tx = worker_tx.clone();
            let tick = move || {
                let _ = tick_tx.send(Event::Answered);
            };
            let colorful_theme = ColorfulTheme::default();
            let theme: &dyn Theme = if colorful {
                &colorful_theme
            } else {
                &SimpleTheme
            };
            let result = ask(&term, theme, &tick);
            let _ = worker_tx.send(Event::Done(result));
        });
        drop(tx);
        let outcome = loop {
            if irx.try_recv().is_ok() || INTERRUPTED.load(Ordering::SeqCst) {
                break Err(Stop::Interrupted);
            }
            // Wake now and then to notice Ctrl-C, which arrives on the other channel.
            let mut waited = Duration::ZERO;
            let step = Duration::from_millis(50);
            let event = loop {
                match rx.recv_timeout(step) {
                    Ok(e) => break Some(e),
                    Err(RecvTimeoutError::Timeout) => {
                        waited += step;
                        if irx.try_recv().is_ok() || INTERRUPTED.load(Ordering::SeqCst) {
                            break Some(Event::Interrupted);
                        }
                        if waited >= timeout {
                            break None;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        break Some(Event::Done(Err(std::io::Error::other(
                            "the prompt ended unexpectedly",
                        )
                        .into())))
                    }
                }
            };
            match event {
                Some(Event::Answered) => continue,
                Some(Event::Done(Ok(v))) => break Ok(v),
                Some(Event::Done(Err(dialoguer::Error::IO(e)))) => {
                    break Err(match e.kind() {
                        std::io::ErrorKind::Interrupted => Stop::Interrupted,
                        std::io::ErrorKind::UnexpectedEof => Stop::EndOfInput,
                        _ => Stop::Failed(e.to_string()),
                    })
                }
                Some(Event::Interrupted) => break Err(Stop::Interrupted),
                None => break Err(Stop::TimedOut(timeout)),
            }
        };
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
        if outcome.is_err() {
            self.restore();
        }
        outcome
    }

    /// Puts the terminal back as it was: modes, cursor shown, on a fresh line.
    fn restore(&self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                &self.file,
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
        let mut file = &self.file;
        let _ = file.write_all(b"\x1b[?25h\n");
        let _ = file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn justifications_must_say_something() {
        assert!(justification_problem("too short", 15)
            .unwrap()
            .contains("too short: 9 characters"));
        assert!(justification_problem("aaaaaaaaaaaaaaaaaaaa", 15).is_some());
        assert!(justification_problem("ab ab ab ab ab ab ab", 15).is_some());
        assert!(justification_problem("asdfasdfasdfasdfasdf", 15).is_some());
        assert!(justification_problem("               x", 15).is_some());
        assert_eq!(justification_problem("hotfix for incident 4711", 15), None);
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(name_problem("  ").is_some());
        assert_eq!(name_problem("Ada"), None);
    }

    #[test]
    fn summary_lists_up_to_ten_subjects_and_escapes_them() {
        let s = Summary {
            environment: "production".into(),
            branch: "main".into(),
            remote: "origin".into(),
            commits: 12,
            subjects: vec![("abc1234".into(), "fix \x1b[31mred".into())],
        };
        let text = render_summary(&s);
        assert!(
            text.contains("pushing 12 commits to production: origin/main"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(text.contains("… and 11 more"));
    }
}
