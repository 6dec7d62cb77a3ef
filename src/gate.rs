//! The gate's decision core: from an environment's rules, its check results and the
//! answers given, to a decision and the reason for a block.
//!
//! Pure: no I/O, no git, no terminal. The pipeline ([`crate::pipeline`]) gathers the facts
//! and the answers around it; every site (client hook, server hooks, dry run) decides here,
//! so bypass policy exists once and its whole matrix is unit-tested in microseconds.

use crate::checks::{CheckId, CheckResult, Outcome};
use crate::config::{email_glob, Config, Environment};
pub use crate::model::{ChecklistEntry, Decision};
use crate::push::Change;
pub use crate::terminal::Stop;

/// What an environment asks of a push, taken from its config, and what the moment of the
/// push adds to it (the windows that freeze the environment now, who is pushing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Ask whether a lead or senior was consulted.
    pub confirm: bool,
    /// The checklist items, each to be answered yes.
    pub checklist: Vec<String>,
    /// A justification may get a push past what blocks it.
    pub bypass: bool,
    /// A justification may also cover deleting the environment branch.
    pub bypass_delete: bool,
    /// The shortest accepted justification.
    pub min_length: usize,
    /// Who may bypass (emails, server user names or principals, or globs); empty: anyone.
    pub bypass_by: Vec<String>,
    /// The identities the pusher is known by, matched against `bypass_by`; `None`: unknown.
    pub pusher: Option<Vec<String>>,
    /// A regular expression the justification must contain a match of (a ticket).
    pub ticket: Option<String>,
    /// The windows that freeze the environment at the moment of the push; an override is a
    /// bypass that names every one of them.
    pub frozen: Vec<Frozen>,
}

/// A deploy window that freezes the environment at the moment of the push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pub name: String,
    /// `false`: no bypass gets through while it is open (`override = false`).
    pub overridable: bool,
    /// Whom to ask to change the policy, as the window says; else whoever keeps `policy`.
    pub contact: Option<String>,
    /// Where the windows are configured (the config file), for whom to ask.
    pub policy: String,
}

impl Rules {
    /// The rules of `environment` under `config`.
    pub fn of(environment: &Environment, config: &Config) -> Rules {
        Rules {
            confirm: environment.confirm,
            checklist: environment.checklist.clone(),
            bypass: environment.bypass,
            bypass_delete: environment.bypass_delete,
            min_length: config.bypass.min_length,
            bypass_by: environment.bypass_by(config).to_vec(),
            pusher: None,
            ticket: environment.ticket(config).map(str::to_owned),
            frozen: Vec::new(),
        }
    }

    /// The names an override gives: every window that freezes the environment now.
    pub fn freeze_names(&self) -> Vec<&str> {
        self.frozen.iter().map(|f| f.name.as_str()).collect()
    }

    /// Tells whether a push whose checks pass needs anything from a person.
    pub fn asks(&self) -> bool {
        self.confirm || !self.checklist.is_empty()
    }
}

/// Why a ref update is blocked, beyond the failed checks themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Checks failed and no bypass was given where none could be asked for.
    ChecksFailed,
    /// Confirmation needed and nobody named (the server's push options, or nothing at all).
    NotConsulted,
    /// The person said they did not talk to a lead or senior.
    SaidNotConsulted,
    /// A checklist item was answered No, or not answered.
    ChecklistNo(String),
    /// The offer to bypass the failed checks was declined.
    BypassDeclined,
    /// The environment does not allow bypass.
    BypassDisabled,
    /// Deleting an environment branch is not something a justification covers here.
    DeleteNotBypassable,
    /// The justification given was refused.
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
    /// A dialogue or a check was cut short (Ctrl-C, timeout, end of input).
    Stopped(Stop),
    /// The hook chained after pushguard refused the push.
    ChainedRefused(String),
    /// A bypass during a freeze that does not name every window that freezes the environment.
    FreezeNotNamed {
        windows: Vec<String>,
        given: Option<String>,
    },
    /// A window with `override = false` freezes the environment: nothing gets through.
    FreezeLocked {
        window: String,
        contact: Option<String>,
        policy: String,
    },
    /// The pusher is not among those `bypass_by` lets bypass.
    NotBypasser {
        who: Option<Vec<String>>,
        allowed: Vec<String>,
    },
}

/// Where the answers came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Nothing,
    /// Asked on the terminal.
    Prompt,
    /// `PUSHGUARD_CONSULTED` / `PUSHGUARD_BYPASS`.
    Environment,
    /// `git push -o consulted=… / -o bypass=…` on a server.
    PushOptions,
    /// `pushguard confirm`, given ahead of time.
    Confirmation {
        created: String,
        affirmed_with_flag: bool,
    },
    /// Given a moment ago for the same commit (git runs the hook once per push URL).
    Reused,
    /// On a server: the client hook's record of the same ref update (issue 11); `hash` is
    /// that record's line hash, `signer` its verified principal, `None` for an unsigned
    /// record, accepted where signatures are not required (issue 22).
    ClientRecord {
        hash: String,
        signer: Option<String>,
    },
}

/// What the person (or the environment, or the push options) said about a ref update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    /// Who was consulted; `None` if nobody was named.
    pub consulted: Option<String>,
    /// The checklist as answered (every item yes, or up to the first No).
    pub checklist: Vec<ChecklistEntry>,
    /// The justification for a bypass, if one was given.
    pub justification: Option<String>,
    /// The freeze windows a bypass names (`PUSHGUARD_FREEZE`, `-o freeze=`, or affirmed at
    /// the terminal), comma-separated.
    pub freeze: Option<String>,
    /// Why no usable answer came, as the answer source saw it.
    pub refusal: Option<Block>,
    pub source: Source,
}

impl Default for Answers {
    fn default() -> Self {
        Answers::none(Source::Nothing)
    }
}

impl Answers {
    /// No answers, from `source`.
    pub fn none(source: Source) -> Answers {
        Answers {
            consulted: None,
            checklist: Vec::new(),
            justification: None,
            freeze: None,
            refusal: None,
            source,
        }
    }

    /// No usable answer, for this reason.
    pub fn refused(block: Block) -> Answers {
        Answers {
            refusal: Some(block),
            ..Answers::none(Source::Nothing)
        }
    }

    /// A justification for a bypass.
    pub fn justified(why: String, source: Source) -> Answers {
        Answers {
            justification: Some(why),
            ..Answers::none(source)
        }
    }

    /// Tells whether every item of `checklist` was answered yes.
    pub fn affirms(&self, checklist: &[String]) -> bool {
        checklist.iter().all(|item| {
            self.checklist
                .iter()
                .any(|c| c.answer && (c.item == *item || c.item.starts_with(item.as_str())))
        })
    }

    /// Tells whether these answers should be reused by git's next run of the hook.
    pub fn reusable(&self) -> bool {
        matches!(self.source, Source::Prompt | Source::Confirmation { .. })
    }
}

/// What a gated ref update needs from the answer source, given its check results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the checks passed and the environment asks nothing.
    Nothing,
    /// The confirmation and the checklist.
    Confirmation,
    /// A justification, to get past the failed checks.
    Bypass,
    /// Blocked whatever is answered.
    Refused(Block),
}

/// Says what a ref update needs once its checks ran. Pure.
pub fn need(rules: &Rules, results: &[CheckResult], change: Change) -> Need {
    if !failed(results) {
        return if rules.asks() {
            Need::Confirmation
        } else {
            Need::Nothing
        };
    }
    if let Some(block) = bypass_refused(rules, results, change) {
        return Need::Refused(block);
    }
    Need::Bypass
}

/// Why no justification can get past these failed checks, if none can.
fn bypass_refused(rules: &Rules, results: &[CheckResult], change: Change) -> Option<Block> {
    if !rules.bypass {
        return Some(Block::BypassDisabled);
    }
    let deletes = change == Change::Delete
        && results
            .iter()
            .any(|r| r.id == CheckId::NoDelete && r.outcome == Outcome::Fail);
    if deletes && !rules.bypass_delete {
        return Some(Block::DeleteNotBypassable);
    }
    let frozen = results
        .iter()
        .any(|r| r.id == CheckId::Freeze && r.outcome == Outcome::Fail);
    if let Some(locked) = rules
        .frozen
        .iter()
        .find(|f| !f.overridable)
        .filter(|_| frozen)
    {
        return Some(Block::FreezeLocked {
            window: locked.name.clone(),
            contact: locked.contact.clone(),
            policy: locked.policy.clone(),
        });
    }
    not_bypasser(rules)
}

/// Why the pusher may not bypass here (`bypass_by`), if they may not. Pure.
pub fn not_bypasser(rules: &Rules) -> Option<Block> {
    if rules.bypass_by.is_empty() {
        return None;
    }
    let listed = rules.pusher.as_ref().is_some_and(|ids| {
        ids.iter().filter(|id| !id.is_empty()).any(|id| {
            rules
                .bypass_by
                .iter()
                .any(|p| p.eq_ignore_ascii_case(id) || email_glob(p).is_ok_and(|g| g.is_match(id)))
        })
    });
    (!listed).then(|| Block::NotBypasser {
        who: rules.pusher.clone(),
        allowed: rules.bypass_by.clone(),
    })
}

/// Why a bypass during a freeze does not override it, if it does not: it must name every
/// window that freezes the environment now. Pure.
fn freeze_unnamed(rules: &Rules, answers: &Answers) -> Option<Block> {
    if rules.frozen.is_empty() {
        return None;
    }
    let given: Vec<&str> = answers
        .freeze
        .as_deref()
        .map(|f| f.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let named = rules
        .frozen
        .iter()
        .all(|f| given.contains(&f.name.as_str()));
    (!named).then(|| Block::FreezeNotNamed {
        windows: rules.frozen.iter().map(|f| f.name.clone()).collect(),
        given: answers.freeze.clone(),
    })
}

/// Why a justification is refused under `rules` (its length, its content, its ticket), if
/// it is. Pure.
pub fn bypass_problem(text: &str, rules: &Rules) -> Option<String> {
    if let Some(problem) = justification_problem(text, rules.min_length) {
        return Some(problem);
    }
    let pattern = rules.ticket.as_deref()?;
    ticket_in(text, pattern).is_none().then(|| {
        format!(
            "it names no ticket: a bypass here must give one matching `{pattern}` (it is recorded)"
        )
    })
}

/// The ticket in a justification: the first word (stripped of punctuation around it) that
/// `pattern` matches, so that `^INC-[0-9]+$` finds `INC-42` in "INC-42: checkout down";
/// else the first match in the whole text. Pure.
pub fn ticket_in(text: &str, pattern: &str) -> Option<String> {
    let re = regex::Regex::new(pattern).ok()?;
    let punctuation = |c: char| !c.is_alphanumeric() && !"-_#/".contains(c);
    text.split_whitespace()
        .map(|w| w.trim_matches(punctuation))
        .find_map(|w| re.find(w).map(|m| m.as_str().to_owned()))
        .or_else(|| re.find(text.trim()).map(|m| m.as_str().to_owned()))
        .filter(|t| !t.is_empty())
}

fn failed(results: &[CheckResult]) -> bool {
    results.iter().any(|r| r.outcome == Outcome::Fail)
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

/// The gate's decision on one ref update, and why it blocks when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub block: Option<Block>,
}

impl Verdict {
    fn allowed() -> Verdict {
        Verdict {
            decision: Decision::Allowed,
            block: None,
        }
    }

    fn bypassed() -> Verdict {
        Verdict {
            decision: Decision::Bypassed,
            block: None,
        }
    }

    fn blocked(block: Block) -> Verdict {
        Verdict {
            decision: Decision::Blocked,
            block: Some(block),
        }
    }
}

/// Decides a ref update from its rules, its check results and the answers. Pure.
///
/// - A dialogue cut short blocks, whatever else was answered.
/// - Failed checks block unless a valid justification is given where bypass is allowed
///   (never for deleting the branch unless `bypass_delete`).
/// - Passing checks need the confirmation and every checklist item; a valid justification
///   stands in for them (a bypass covers the confirmation too).
/// - A justification given for a push that needs none is not a bypass.
pub fn decide(
    rules: &Rules,
    results: &[CheckResult],
    change: Change,
    answers: &Answers,
) -> Verdict {
    if let Some(block @ Block::Stopped(_)) = &answers.refusal {
        return Verdict::blocked(block.clone());
    }
    let justified = || match &answers.justification {
        Some(why) => match bypass_problem(why, rules) {
            Some(problem) => Err(Block::BypassRefused(problem)),
            None => Ok(()),
        },
        None => Err(answers.refusal.clone().unwrap_or(Block::ChecksFailed)),
    };
    if failed(results) {
        if let Some(block) = bypass_refused(rules, results, change) {
            return Verdict::blocked(block);
        }
        return match justified().and_then(|()| freeze_unnamed(rules, answers).map_or(Ok(()), Err)) {
            Ok(()) => Verdict::bypassed(),
            Err(block) => Verdict::blocked(block),
        };
    }
    let unconfirmed = if rules.confirm && answers.consulted.is_none() {
        Some(Block::NotConsulted)
    } else if !answers.affirms(&rules.checklist) {
        let item = rules
            .checklist
            .iter()
            .find(|i| {
                !answers
                    .checklist
                    .iter()
                    .any(|c| c.answer && c.item.starts_with(i.as_str()))
            })
            .cloned()
            .unwrap_or_default();
        Some(Block::ChecklistNo(item))
    } else {
        None
    };
    let Some(missing) = unconfirmed else {
        return Verdict::allowed();
    };
    if answers.justification.is_some() && rules.bypass {
        if let Some(block) = not_bypasser(rules) {
            return Verdict::blocked(block);
        }
        return match justified() {
            Ok(()) => Verdict::bypassed(),
            Err(block) => Verdict::blocked(block),
        };
    }
    Verdict::blocked(answers.refusal.clone().unwrap_or(missing))
}

/// What the client's answer sources hold for one ref update, read by the caller; the
/// confirmation is taken (used up) only when [`plan`] says so.
pub struct Sources<'a> {
    /// Answers given a moment ago for the same environment, ref and commit.
    pub recalled: Option<Answers>,
    /// `PUSHGUARD_BYPASS`.
    pub bypass_env: Option<String>,
    /// `PUSHGUARD_CONSULTED`.
    pub consulted_env: Option<String>,
    /// `PUSHGUARD_FREEZE`: the windows a bypass overrides.
    pub freeze_env: Option<String>,
    /// Takes the confirmation given ahead of time with `pushguard confirm`.
    pub take_confirmation: &'a mut dyn FnMut() -> Confirmation,
    /// A person can be asked on a terminal.
    pub terminal: bool,
}

/// A confirmation given ahead of time, as taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Valid {
        consulted: String,
        checklist: Vec<ChecklistEntry>,
        created: String,
        affirmed_with_flag: bool,
    },
    /// One existed but expired at this time.
    Expired(String),
    None,
}

/// What the client does to get a ref update's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// These answers, without asking.
    Use(Answers),
    /// Offer a bypass on the terminal, then ask the justification.
    AskBypass,
    /// Ask the confirmation and the checklist on the terminal; `consulted` already named.
    AskConfirmation { consulted: Option<String> },
}

/// Chooses where the client's answers come from, in order: answers given a moment ago for
/// the same commit, then for a bypass `PUSHGUARD_BYPASS` or the terminal; for a
/// confirmation a `pushguard confirm`, the terminal, `PUSHGUARD_CONSULTED`, and last
/// `PUSHGUARD_BYPASS`. Pure but for taking the confirmation.
pub fn plan(rules: &Rules, need: &Need, sources: Sources) -> Plan {
    let (freeze_env, consulted_for_bypass) =
        (sources.freeze_env.clone(), sources.consulted_env.clone());
    let bypass_from_env = |why: String| {
        Plan::Use(Answers {
            consulted: consulted_for_bypass,
            freeze: freeze_env,
            ..Answers::justified(why, Source::Environment)
        })
    };
    match need {
        Need::Nothing => Plan::Use(Answers::none(Source::Nothing)),
        Need::Refused(block) => Plan::Use(Answers::refused(block.clone())),
        Need::Bypass => {
            if let Some(r) = sources.recalled.filter(|r| r.justification.is_some()) {
                return Plan::Use(r);
            }
            match (sources.bypass_env, sources.terminal) {
                (Some(why), _) => bypass_from_env(why),
                (None, true) => Plan::AskBypass,
                (None, false) => Plan::Use(Answers::refused(Block::NeedsBypass)),
            }
        }
        Need::Confirmation => {
            if let Some(r) = sources
                .recalled
                .filter(|r| r.justification.is_some() || (r.consulted.is_some() || !rules.confirm))
            {
                return Plan::Use(r);
            }
            let expired = match (sources.take_confirmation)() {
                Confirmation::Valid {
                    consulted,
                    checklist,
                    created,
                    affirmed_with_flag,
                } => {
                    return Plan::Use(Answers {
                        consulted: Some(sources.consulted_env.unwrap_or(consulted)),
                        checklist,
                        ..Answers::none(Source::Confirmation {
                            created,
                            affirmed_with_flag,
                        })
                    })
                }
                Confirmation::Expired(at) => Some(at),
                Confirmation::None => None,
            };
            if sources.terminal {
                return Plan::AskConfirmation {
                    consulted: sources.consulted_env,
                };
            }
            match (sources.consulted_env, sources.bypass_env) {
                (Some(name), _) if rules.checklist.is_empty() => Plan::Use(Answers {
                    consulted: Some(name),
                    ..Answers::none(Source::Environment)
                }),
                (Some(consulted), _) => {
                    Plan::Use(Answers::refused(Block::NeedsChecklist { consulted }))
                }
                (None, Some(why)) => bypass_from_env(why),
                (None, None) => Plan::Use(Answers::refused(Block::NeedsConfirmation {
                    checklist: !rules.checklist.is_empty(),
                    expired,
                })),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(confirm: bool, checklist: bool, bypass: bool) -> Rules {
        Rules {
            confirm,
            checklist: if checklist {
                vec!["Users are ready".into()]
            } else {
                vec![]
            },
            bypass,
            bypass_delete: false,
            min_length: 15,
            bypass_by: vec![],
            pusher: None,
            ticket: None,
            frozen: vec![],
        }
    }

    fn results(outcomes: &[(CheckId, Outcome)]) -> Vec<CheckResult> {
        outcomes
            .iter()
            .map(|&(id, outcome)| CheckResult {
                id,
                outcome,
                detail: String::new(),
                more: vec![],
                hint: None,
            })
            .collect()
    }

    fn passed() -> Vec<CheckResult> {
        results(&[
            (CheckId::NoDelete, Outcome::Pass),
            (CheckId::Tests, Outcome::Skip),
        ])
    }

    fn failed() -> Vec<CheckResult> {
        results(&[
            (CheckId::NoDelete, Outcome::Pass),
            (CheckId::Promoted, Outcome::Fail),
        ])
    }

    fn consulted() -> Answers {
        Answers {
            consulted: Some("Ada".into()),
            ..Answers::none(Source::Prompt)
        }
    }

    fn with_checklist(mut a: Answers) -> Answers {
        a.checklist = vec![ChecklistEntry {
            item: "Users are ready".into(),
            answer: true,
        }];
        a
    }

    fn why() -> Answers {
        Answers::justified("hotfix for incident 42".into(), Source::Environment)
    }

    const UPDATE: Change = Change::Update;

    #[test]
    fn passing_checks_need_confirmation_and_checklist() {
        let none = Answers::default();
        let d = |r: &Rules, a: &Answers| decide(r, &passed(), UPDATE, a);
        assert_eq!(d(&rules(false, false, true), &none), Verdict::allowed());
        assert_eq!(
            d(&rules(true, false, true), &none),
            Verdict::blocked(Block::NotConsulted)
        );
        assert_eq!(
            d(&rules(true, false, true), &consulted()),
            Verdict::allowed()
        );
        assert_eq!(
            d(&rules(true, true, true), &consulted()),
            Verdict::blocked(Block::ChecklistNo("Users are ready".into()))
        );
        assert_eq!(
            d(&rules(true, true, true), &with_checklist(consulted())),
            Verdict::allowed()
        );
        assert_eq!(
            d(
                &rules(false, true, true),
                &with_checklist(Answers::default())
            ),
            Verdict::allowed()
        );
    }

    #[test]
    fn a_checklist_answered_no_blocks() {
        let mut a = consulted();
        a.checklist = vec![ChecklistEntry {
            item: "Users are ready".into(),
            answer: false,
        }];
        assert_eq!(
            decide(&rules(true, true, true), &passed(), UPDATE, &a).decision,
            Decision::Blocked
        );
    }

    #[test]
    fn failing_checks_block_unless_bypassed() {
        let all = with_checklist(consulted());
        let d = |r: &Rules, a: &Answers| decide(r, &failed(), UPDATE, a);
        assert_eq!(
            d(&rules(true, true, true), &all),
            Verdict::blocked(Block::ChecksFailed)
        );
        assert_eq!(d(&rules(true, true, true), &why()), Verdict::bypassed());
        assert_eq!(
            d(&rules(true, true, false), &why()),
            Verdict::blocked(Block::BypassDisabled)
        );
        let short = Answers::justified("because".into(), Source::Environment);
        assert!(matches!(
            d(&rules(true, true, true), &short).block,
            Some(Block::BypassRefused(_))
        ));
        let declined = Answers::refused(Block::BypassDeclined);
        assert_eq!(
            d(&rules(true, true, true), &declined),
            Verdict::blocked(Block::BypassDeclined)
        );
    }

    #[test]
    fn a_justification_stands_in_for_a_missing_confirmation_only_where_bypass_is_allowed() {
        assert_eq!(
            decide(&rules(true, true, true), &passed(), UPDATE, &why()),
            Verdict::bypassed()
        );
        assert_eq!(
            decide(&rules(true, false, false), &passed(), UPDATE, &why()),
            Verdict::blocked(Block::NotConsulted)
        );
        // Not needed: not a bypass.
        let both = Answers {
            justification: Some("hotfix for incident 42".into()),
            ..consulted()
        };
        assert_eq!(
            decide(&rules(true, false, true), &passed(), UPDATE, &both),
            Verdict::allowed()
        );
    }

    #[test]
    fn an_interrupted_dialogue_blocks_whatever_was_answered() {
        let stopped = Answers {
            refusal: Some(Block::Stopped(Stop::Interrupted)),
            ..why()
        };
        for checks in [passed(), failed()] {
            assert_eq!(
                decide(&rules(true, false, true), &checks, UPDATE, &stopped),
                Verdict::blocked(Block::Stopped(Stop::Interrupted))
            );
        }
    }

    #[test]
    fn regression_week1_7_a_bypass_does_not_delete_an_environment_branch() {
        let delete = results(&[(CheckId::NoDelete, Outcome::Fail)]);
        let r = rules(true, false, true);
        assert_eq!(
            need(&r, &delete, Change::Delete),
            Need::Refused(Block::DeleteNotBypassable)
        );
        assert_eq!(
            decide(&r, &delete, Change::Delete, &why()),
            Verdict::blocked(Block::DeleteNotBypassable)
        );
        let allowing = Rules {
            bypass_delete: true,
            ..r
        };
        assert_eq!(need(&allowing, &delete, Change::Delete), Need::Bypass);
        assert_eq!(
            decide(&allowing, &delete, Change::Delete, &why()),
            Verdict::bypassed()
        );
    }

    #[test]
    fn need_follows_the_checks_and_the_rules() {
        assert_eq!(
            need(&rules(false, false, true), &passed(), UPDATE),
            Need::Nothing
        );
        assert_eq!(
            need(&rules(true, false, true), &passed(), UPDATE),
            Need::Confirmation
        );
        assert_eq!(
            need(&rules(false, true, true), &passed(), UPDATE),
            Need::Confirmation
        );
        assert_eq!(
            need(&rules(true, true, true), &failed(), UPDATE),
            Need::Bypass
        );
        assert_eq!(
            need(&rules(true, true, false), &failed(), UPDATE),
            Need::Refused(Block::BypassDisabled)
        );
    }

    /// Runs [`plan`] with the given sources; returns the plan and whether the
    /// confirmation was taken.
    fn plan_with(
        r: &Rules,
        need: Need,
        recalled: Option<Answers>,
        bypass_env: Option<&str>,
        consulted_env: Option<&str>,
        confirmation: Confirmation,
        terminal: bool,
    ) -> (Plan, bool) {
        let mut taken = false;
        let mut take = || {
            taken = true;
            confirmation.clone()
        };
        let p = plan(
            r,
            &need,
            Sources {
                recalled,
                bypass_env: bypass_env.map(str::to_owned),
                consulted_env: consulted_env.map(str::to_owned),
                freeze_env: None,
                take_confirmation: &mut take,
                terminal,
            },
        );
        (p, taken)
    }

    fn valid() -> Confirmation {
        Confirmation::Valid {
            consulted: "Ada Lead".into(),
            checklist: vec![],
            created: "2026-01-01T00:00:00Z".into(),
            affirmed_with_flag: false,
        }
    }

    #[test]
    fn the_client_plan_for_a_bypass() {
        let r = rules(true, false, true);
        let (p, taken) = plan_with(&r, Need::Bypass, None, None, None, valid(), true);
        assert_eq!(p, Plan::AskBypass);
        assert!(!taken, "a bypass never uses up a confirmation");
        let (p, _) = plan_with(&r, Need::Bypass, None, None, None, valid(), false);
        assert_eq!(p, Plan::Use(Answers::refused(Block::NeedsBypass)));
        let (p, _) = plan_with(
            &r,
            Need::Bypass,
            None,
            Some("incident 42 is on"),
            None,
            valid(),
            true,
        );
        assert!(
            matches!(p, Plan::Use(a) if a.source == Source::Environment && a.justification.is_some())
        );
        // Answers given a moment ago without a justification do not bypass.
        let (p, _) = plan_with(
            &r,
            Need::Bypass,
            Some(consulted()),
            None,
            None,
            Confirmation::None,
            false,
        );
        assert_eq!(p, Plan::Use(Answers::refused(Block::NeedsBypass)));
        let (p, _) = plan_with(
            &r,
            Need::Refused(Block::BypassDisabled),
            None,
            Some("incident 42 is on"),
            None,
            valid(),
            true,
        );
        assert_eq!(p, Plan::Use(Answers::refused(Block::BypassDisabled)));
    }

    #[test]
    fn the_client_plan_for_a_confirmation() {
        let r = rules(true, false, true);
        let (p, taken) = plan_with(
            &r,
            Need::Confirmation,
            None,
            None,
            Some("Bo"),
            valid(),
            false,
        );
        assert!(taken);
        assert!(
            matches!(p, Plan::Use(a) if a.consulted.as_deref() == Some("Bo") && matches!(a.source, Source::Confirmation { .. }))
        );
        let (p, _) = plan_with(
            &r,
            Need::Confirmation,
            None,
            None,
            Some("Bo"),
            Confirmation::None,
            true,
        );
        assert_eq!(
            p,
            Plan::AskConfirmation {
                consulted: Some("Bo".into())
            }
        );
        let (p, _) = plan_with(
            &r,
            Need::Confirmation,
            None,
            None,
            Some("Bo"),
            Confirmation::None,
            false,
        );
        assert!(matches!(p, Plan::Use(a) if a.source == Source::Environment));
        let (p, _) = plan_with(
            &rules(true, true, true),
            Need::Confirmation,
            None,
            None,
            Some("Bo"),
            Confirmation::None,
            false,
        );
        assert_eq!(
            p,
            Plan::Use(Answers::refused(Block::NeedsChecklist {
                consulted: "Bo".into()
            }))
        );
        let (p, _) = plan_with(
            &r,
            Need::Confirmation,
            None,
            None,
            None,
            Confirmation::Expired("then".into()),
            false,
        );
        assert_eq!(
            p,
            Plan::Use(Answers::refused(Block::NeedsConfirmation {
                checklist: false,
                expired: Some("then".into())
            }))
        );
        let (p, _) = plan_with(
            &r,
            Need::Confirmation,
            None,
            Some("incident 42 is on"),
            None,
            Confirmation::None,
            false,
        );
        assert!(matches!(p, Plan::Use(a) if a.justification.is_some()));
        let (p, taken) = plan_with(
            &r,
            Need::Confirmation,
            Some(consulted()),
            None,
            None,
            valid(),
            false,
        );
        assert!(!taken, "answers given a moment ago come first");
        assert_eq!(p, Plan::Use(consulted()));
        let (p, taken) = plan_with(&r, Need::Nothing, None, None, None, valid(), true);
        assert!(!taken);
        assert_eq!(p, Plan::Use(Answers::none(Source::Nothing)));
    }

    fn frozen_rules(overridable: bool) -> Rules {
        Rules {
            frozen: vec![Frozen {
                name: "year-end".into(),
                overridable,
                contact: None,
                policy: "repository config".into(),
            }],
            ..rules(true, false, true)
        }
    }

    fn frozen_results() -> Vec<CheckResult> {
        results(&[
            (CheckId::Freeze, Outcome::Fail),
            (CheckId::NoDelete, Outcome::Pass),
        ])
    }

    #[test]
    fn regression_issue_17_an_override_is_a_bypass_that_names_the_freeze() {
        let r = frozen_rules(true);
        assert_eq!(need(&r, &frozen_results(), UPDATE), Need::Bypass);
        assert_eq!(
            decide(&r, &frozen_results(), UPDATE, &why()),
            Verdict::blocked(Block::FreezeNotNamed {
                windows: vec!["year-end".into()],
                given: None
            })
        );
        let wrong = Answers {
            freeze: Some("summer".into()),
            ..why()
        };
        assert!(matches!(
            decide(&r, &frozen_results(), UPDATE, &wrong).block,
            Some(Block::FreezeNotNamed { .. })
        ));
        let named = Answers {
            freeze: Some("summer, year-end".into()),
            ..why()
        };
        assert_eq!(
            decide(&r, &frozen_results(), UPDATE, &named),
            Verdict::bypassed()
        );
    }

    #[test]
    fn regression_issue_17_override_false_cannot_be_bypassed() {
        let r = frozen_rules(false);
        let named = Answers {
            freeze: Some("year-end".into()),
            ..why()
        };
        let locked = Block::FreezeLocked {
            window: "year-end".into(),
            contact: None,
            policy: "repository config".into(),
        };
        assert_eq!(
            need(&r, &frozen_results(), UPDATE),
            Need::Refused(locked.clone())
        );
        assert_eq!(
            decide(&r, &frozen_results(), UPDATE, &named),
            Verdict::blocked(locked)
        );
    }

    #[test]
    fn regression_issue_17_only_bypass_by_may_bypass() {
        let mut r = rules(true, false, true);
        r.bypass_by = vec!["*@sre.example".into(), "lead-principal".into()];
        r.pusher = Some(vec!["pat@example.com".into()]);
        let refused = Block::NotBypasser {
            who: Some(vec!["pat@example.com".into()]),
            allowed: r.bypass_by.clone(),
        };
        assert_eq!(need(&r, &failed(), UPDATE), Need::Refused(refused.clone()));
        assert_eq!(
            decide(&r, &failed(), UPDATE, &why()),
            Verdict::blocked(refused.clone())
        );
        // A justification standing in for a missing confirmation is a bypass too.
        assert_eq!(
            decide(&r, &passed(), UPDATE, &why()),
            Verdict::blocked(refused)
        );
        r.pusher = Some(vec!["Sam@SRE.example".into()]);
        assert_eq!(decide(&r, &failed(), UPDATE, &why()), Verdict::bypassed());
        r.pusher = Some(vec!["lead-principal".into()]);
        assert_eq!(decide(&r, &failed(), UPDATE, &why()), Verdict::bypassed());
        r.pusher = None;
        assert!(matches!(
            decide(&r, &failed(), UPDATE, &why()).block,
            Some(Block::NotBypasser { who: None, .. })
        ));
    }

    #[test]
    fn regression_issue_17_a_ticket_pattern_must_be_matched_and_is_found_in_a_word() {
        let mut r = rules(true, false, true);
        r.ticket = Some("^(INC|CHG)-[0-9]+$".into());
        assert!(matches!(
            decide(&r, &failed(), UPDATE, &why()).block,
            Some(Block::BypassRefused(p)) if p.contains("names no ticket")
        ));
        let with = Answers::justified("INC-4711: checkout is down".into(), Source::Environment);
        assert_eq!(decide(&r, &failed(), UPDATE, &with), Verdict::bypassed());
        assert_eq!(
            ticket_in("hotfix (CHG-12) approved", "^(INC|CHG)-[0-9]+$").as_deref(),
            Some("CHG-12")
        );
        assert_eq!(
            ticket_in("see JIRA OPS 12 now", "OPS [0-9]+").as_deref(),
            Some("OPS 12")
        );
        assert_eq!(ticket_in("no ticket at all here", "^INC-[0-9]+$"), None);
    }

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
}
