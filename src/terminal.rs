//! The terminal: one [`Interaction`] per run, created at the entry point, holding whether a
//! person can be asked (`/dev/tty` opens and `PUSHGUARD_NONINTERACTIVE` is unset), the
//! terminal, and the interrupt flag that Ctrl-C sets; and the dialogues drawn on it.
//!
//! Prompts are drawn on and read from `/dev/tty`, never stdout (git passes a hook's stdout to
//! `git push --porcelain` readers) and never stdin (it is git's ref list). Each dialogue runs
//! on a worker thread watched by the caller: Ctrl-C, end of input or no answer within the
//! timeout ends it, restores the terminal, and no further question is asked. The tests
//! runner reads the same interrupt flag, so Ctrl-C anywhere means "block, record, ask
//! nothing more".
//!
//! Every answer is deliberate (issue 22, item 1): a yes/no is taken only with Enter, and
//! what was typed before a question was drawn is discarded, so a habitual `y` Enter, or an
//! Enter typed ahead, never answers the next question.

mod line;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use console::Term;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Select};

use crate::audit::ChecklistEntry;
use crate::text::escape;

/// Set (to anything) to never prompt, even when a terminal is there.
pub const NONINTERACTIVE_ENV: &str = "PUSHGUARD_NONINTERACTIVE";
/// Who was consulted, for a push without a terminal.
pub const CONSULTED_ENV: &str = "PUSHGUARD_CONSULTED";
/// A justification that bypasses failed checks (and the confirmation).
pub const BYPASS_ENV: &str = "PUSHGUARD_BYPASS";
/// The freeze windows a bypass overrides (their names, comma-separated).
pub const FREEZE_ENV: &str = "PUSHGUARD_FREEZE";

/// The choice in the list of leads that asks for a name instead.
const SOMEONE_ELSE: &str = "someone else";

/// How a dialogue (or a running check) ended without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Interrupted,
    TimedOut(Duration),
    EndOfInput,
    Failed(String),
}

/// Why a consulted person's name is refused, if it is.
pub fn name_problem(text: &str) -> Option<&'static str> {
    text.trim()
        .is_empty()
        .then_some("a name is needed: who did you talk to?")
}

/// Opens the controlling terminal for reading and writing.
pub fn open_tty() -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
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
        discard_typeahead();
        let keys = KeysAsTyped::hold();
        let chosen = Select::with_theme(theme)
            .with_prompt("Who did you consult?")
            .items(&items)
            .default(0)
            .interact_on_opt(term)?;
        drop(keys);
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
    let name = ask_text(term, theme, "Who did you consult? (name)", &|t| {
        name_problem(t).map(str::to_owned)
    })?;
    tick();
    Ok(name)
}

/// Asks a yes/no question (default No). The answer counts only once Enter confirms it, and
/// keys typed before the question was drawn are dropped: a `y` Enter answers this question
/// and nothing else. `None` when the person quit it (Esc, `q`).
pub fn ask_yes_no(term: &Term, theme: &dyn Theme, prompt: &str) -> dialoguer::Result<Option<bool>> {
    discard_typeahead();
    let _keys = KeysAsTyped::hold();
    Confirm::with_theme(theme)
        .with_prompt(prompt)
        .default(false)
        .wait_for_newline(true)
        .interact_on_opt(term)
}

/// Asks for a line of text (trimmed) until `problem` finds nothing wrong with it, with the
/// usual editing keys (Ctrl-U, Ctrl-W, arrows); typed-ahead keys are dropped first.
pub fn ask_text(
    term: &Term,
    theme: &dyn Theme,
    prompt: &str,
    problem: &dyn Fn(&str) -> Option<String>,
) -> dialoguer::Result<String> {
    discard_typeahead();
    let _keys = KeysAsTyped::hold();
    line::read(term, theme, prompt, problem)
}

/// Keeps the terminal from editing lines itself while an answer is read. The terminal is
/// put in raw mode (by `console`) only while each key is read, so a key arriving between two reads met
/// the cooked terminal, which took Ctrl-U and Ctrl-W as its own line editing and dropped
/// them (issue 22, item 9): for the whole answer, canonical mode and echo stay off (signals
/// stay on, so Ctrl-C still interrupts). The settings are restored when this is dropped.
struct KeysAsTyped {
    tty: File,
    before: rustix::termios::Termios,
}

impl KeysAsTyped {
    fn hold() -> Option<KeysAsTyped> {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let tty = open_tty()?;
        let before = tcgetattr(&tty).ok()?;
        let mut keys = before.clone();
        keys.local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::IEXTEN);
        tcsetattr(&tty, OptionalActions::Now, &keys).ok()?;
        Some(KeysAsTyped { tty, before })
    }
}

impl Drop for KeysAsTyped {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.tty,
            rustix::termios::OptionalActions::Now,
            &self.before,
        );
    }
}

/// Drops what was typed on the terminal but not read yet: keys pressed before a question
/// is drawn (during the checks, or a second Enter after the last answer) are not answers.
fn discard_typeahead() {
    if let Some(tty) = open_tty() {
        let _ = rustix::termios::tcflush(&tty, rustix::termios::QueueSelector::IFlush);
    }
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

/// A non-empty, trimmed value of an environment variable.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
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

// ---------------------------------------------------------------------------------------
// The interaction: terminal, interrupt flag, watchdog.

/// What the signal thread shares with the dialogues and the tests runner.
#[derive(Default)]
struct Shared {
    /// Set once Ctrl-C (or SIGHUP, SIGTERM) arrived during this run.
    interrupted: Arc<AtomicBool>,
    /// The running dialogue's watchdog, told about Ctrl-C.
    active: Mutex<Option<Sender<Event>>>,
}

/// What the watchdog hears from the dialogue.
enum Event<T = ()> {
    Answered,
    Done(dialoguer::Result<T>),
    Interrupted,
}

/// The person at the terminal, if any, for one run of pushguard.
pub struct Interaction {
    tty: Option<Tty>,
    shared: Arc<Shared>,
    /// After Ctrl-C or a timeout no further question is asked: the worker may still be reading.
    stopped: Option<Stop>,
}

impl Interaction {
    /// For a hook or command run by a person: asks on `/dev/tty` unless
    /// `PUSHGUARD_NONINTERACTIVE` is set. Ctrl-C is caught from now on: it ends a dialogue
    /// or the running tests, and the push is blocked and recorded.
    pub fn for_person() -> Interaction {
        let tty = if std::env::var_os(NONINTERACTIVE_ENV).is_none() {
            Tty::open()
        } else {
            None
        };
        Interaction::with(tty)
    }

    /// For a place where nobody can be asked (a server's hooks); Ctrl-C still stops tests.
    pub fn nobody() -> Interaction {
        Interaction::with(None)
    }

    fn with(tty: Option<Tty>) -> Interaction {
        let shared = Arc::new(Shared::default());
        install_interrupt_handler(&shared);
        Interaction {
            tty,
            shared,
            stopped: None,
        }
    }

    /// Tells whether a person can be asked.
    pub fn can_ask(&self) -> bool {
        self.tty.is_some() && self.stopped.is_none()
    }

    /// Tells whether Ctrl-C (or the terminal going away) arrived.
    pub fn interrupted(&self) -> bool {
        self.shared.interrupted.load(Ordering::SeqCst)
    }

    /// The flag Ctrl-C sets, for the tests runner.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.interrupted)
    }

    /// How an earlier dialogue was cut short, if one was.
    pub fn stopped(&self) -> Option<&Stop> {
        self.stopped.as_ref()
    }

    /// Runs a dialogue on the terminal under the watchdog: each answer (`tick`) restarts
    /// `timeout`. Ctrl-C, end of input or no answer in time ends it and every later one.
    pub fn ask<T: Send + 'static>(
        &mut self,
        timeout: Duration,
        ask: impl FnOnce(&Term, &dyn Theme, &dyn Fn()) -> dialoguer::Result<T> + Send + 'static,
    ) -> Result<T, Stop> {
        if let Some(stop) = &self.stopped {
            return Err(stop.clone());
        }
        if self.interrupted() {
            return Err(Stop::Interrupted);
        }
        let Some(tty) = self.tty.as_ref() else {
            return Err(Stop::Failed("no terminal to ask on".into()));
        };
        let result = tty.run(&self.shared, timeout, ask);
        if let Err(stop) = &result {
            self.stopped = Some(stop.clone());
        }
        result
    }
}

/// Installs the interrupt handler for this run: Ctrl-C (and the terminal going away, SIGHUP)
/// sets the flag and ends the running dialogue instead of the process, so the block is still
/// recorded and the terminal restored. The handler thread does what a signal handler may
/// not (lock, send).
fn install_interrupt_handler(shared: &Arc<Shared>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGHUP, SIGTERM]) else {
        return;
    };
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            shared.interrupted.store(true, Ordering::SeqCst);
            if let Ok(active) = shared.active.lock() {
                if let Some(tx) = active.as_ref() {
                    let _ = tx.send(Event::Interrupted);
                }
            }
        }
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
        shared: &Shared,
        timeout: Duration,
        ask: impl FnOnce(&Term, &dyn Theme, &dyn Fn()) -> dialoguer::Result<T> + Send + 'static,
    ) -> Result<T, Stop> {
        let term = self.term().map_err(|e| Stop::Failed(e.to_string()))?;
        let colorful = self.colorful;
        let (tx, rx) = mpsc::channel::<Event<T>>();
        let (itx, irx) = mpsc::channel::<Event>();
        if let Ok(mut active) = shared.active.lock() {
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
        let interrupted = || irx.try_recv().is_ok() || shared.interrupted.load(Ordering::SeqCst);
        let outcome = loop {
            if interrupted() {
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
                        if interrupted() {
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
        if let Ok(mut active) = shared.active.lock() {
            *active = None;
        }
        if let Err(stop) = &outcome {
            self.restore(stop);
        }
        outcome
    }

    /// Puts the terminal back as it was: modes, cursor shown, on a fresh line. A question
    /// left unanswered is marked so, so that no answer nobody gave stays on the screen.
    fn restore(&self, stop: &Stop) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                &self.file,
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
        let mut file = &self.file;
        let mark: &[u8] = match stop {
            // Clear the line the question was drawn on, with its default answer.
            Stop::TimedOut(_) => b"\r\x1b[2K(no answer)",
            _ => b"",
        };
        let _ = file.write_all(mark);
        let _ = file.write_all(b"\x1b[?25h\n");
        let _ = file.flush();
    }
}

// ---------------------------------------------------------------------------------------
// The dialogues of a gated push.

/// Offers to bypass the failed checks (default No); during a freeze the question names the
/// windows it overrides.
pub fn offer_bypass(
    interaction: &mut Interaction,
    timeout: Duration,
    frozen: &[&str],
) -> Result<bool, Stop> {
    let prompt = if frozen.is_empty() {
        "Bypass the failed checks with a justification?".to_owned()
    } else {
        let names: Vec<String> = frozen
            .iter()
            .map(|n| format!("`{}`", escape(n, 60)))
            .collect();
        format!(
            "Override the freeze {} and bypass the failed checks with a justification?",
            names.join(", ")
        )
    };
    interaction.ask(timeout, move |term, theme, tick| {
        let yes = ask_yes_no(term, theme, &prompt)?;
        tick();
        Ok(yes == Some(true))
    })
}

/// Asks why the push must go through now, re-asked until `problem` finds nothing wrong.
pub fn ask_justification(
    interaction: &mut Interaction,
    timeout: Duration,
    min_length: usize,
    problem: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Result<String, Stop> {
    interaction.ask(timeout, move |term, theme, _tick| {
        let prompt = format!(
            "Why must this push go through now? (at least {min_length} characters; recorded)"
        );
        ask_text(term, theme, &prompt, &problem)
    })
}

/// Asks, after a bypass's justification, whether a lead or senior was consulted and who
/// (issue 22): `None` when nobody was. Either answer is recorded; the bypass stands.
pub fn ask_consulted_for_bypass(
    interaction: &mut Interaction,
    timeout: Duration,
    leads: Vec<String>,
) -> Result<Option<String>, Stop> {
    interaction.ask(timeout, move |term, theme, tick| {
        let yes = ask_yes_no(
            term,
            theme,
            "Did you talk to a lead or senior about this bypass? (recorded either way)",
        )?;
        tick();
        if yes != Some(true) {
            return Ok(None);
        }
        ask_who(term, theme, &leads, &tick).map(Some)
    })
}

/// What the confirmation dialogue got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmed {
    pub consulted: Option<String>,
    pub checklist: Vec<ChecklistEntry>,
    /// The person said No to consulting a lead or senior.
    pub not_consulted: bool,
}

/// Shows the summary, asks whether a lead or senior was consulted (unless `consulted` is
/// already named) and who, then each checklist item; stops at the first No.
pub fn ask_confirmation(
    interaction: &mut Interaction,
    timeout: Duration,
    summary: &Summary,
    confirm: bool,
    consulted: Option<String>,
    leads: Vec<String>,
    checklist: Vec<String>,
) -> Result<Confirmed, Stop> {
    let summary = render_summary(summary);
    interaction.ask(timeout, move |term, theme, tick| {
        term.write_str(&summary)?;
        let mut out = Confirmed {
            consulted,
            ..Confirmed::default()
        };
        if confirm && out.consulted.is_none() {
            let yes = ask_yes_no(
                term,
                theme,
                "Have you talked to a lead or senior about this push?",
            )?;
            tick();
            if yes != Some(true) {
                out.not_consulted = true;
                return Ok(out);
            }
            out.consulted = Some(ask_who(term, theme, &leads, &tick)?);
        }
        out.checklist = ask_checklist(term, theme, checklist, &tick)?;
        Ok(out)
    })
}

/// Asks each checklist item (default No), stopping at the first No.
pub fn ask_checklist(
    term: &Term,
    theme: &dyn Theme,
    items: Vec<String>,
    tick: &dyn Fn(),
) -> dialoguer::Result<Vec<ChecklistEntry>> {
    let mut answered = Vec::new();
    for item in items {
        let yes = ask_yes_no(term, theme, &item)?;
        tick();
        let answer = yes == Some(true);
        answered.push(ChecklistEntry { item, answer });
        if !answer {
            break;
        }
    }
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

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
