//! `authorized`: the pusher's `user.email` matches the environment's `authorized` list
//! (emails or globs such as `*@corp.example`); an empty list lets anyone push.

use super::{CheckId, CheckResult, Context, Pusher};
use crate::config::email_glob;

/// Judges the pusher's email against the authorized patterns.
pub fn judge(email: &str, authorized: &[String], environment: &str) -> CheckResult {
    let id = CheckId::Authorized;
    if authorized.is_empty() {
        return CheckResult::pass(id, "anyone may push (`authorized` is empty)");
    }
    if email.is_empty() {
        return CheckResult::fail(id, "`user.email` is not set, so the pusher is unknown")
            .with_hint("run `git config user.email you@example.com`");
    }
    let matched = authorized
        .iter()
        .find(|p| email_glob(p).is_ok_and(|g| g.is_match(email)));
    match matched {
        Some(p) => CheckResult::pass(id, format!("{email} is authorized ({p})")),
        None => CheckResult::fail(
            id,
            format!("{email} is not authorized to push to {environment}"),
        )
        .with_more(vec![format!("authorized: {}", authorized.join(", "))])
        .with_hint(format!(
            "ask one of them to push, or to add you to `authorized` in [environments.{environment}]"
        )),
    }
}

/// Judges the pusher the site names: on a client git's `user.email`; where a server names
/// users without an email (`GL_USERNAME`, `REMOTE_USER`), the user name, so `authorized` may
/// list server user names; for a signed push, the certificate signer's principals. A commit's committer says who wrote it, not who pushes it, and
/// is never asked.
pub fn run(ctx: &Context) -> CheckResult {
    for_pusher(ctx.pusher, ctx.environment)
}

/// Judges `pusher` for `env` (see [`run`]); needs nothing from the repository.
pub fn for_pusher(pusher: &Pusher, env: &crate::config::Environment) -> CheckResult {
    if env.authorized.is_empty() {
        return judge("", &env.authorized, &env.name);
    }
    match pusher {
        Pusher::Configured(identity) => judge(&identity.email, &env.authorized, &env.name),
        Pusher::Named { identity, .. } => {
            let who = if identity.email.is_empty() {
                &identity.name
            } else {
                &identity.email
            };
            judge(who, &env.authorized, &env.name)
        }
        Pusher::Certified {
            principal, account, ..
        } => {
            // Any of the signer's principals may be the one `authorized` lists, and so may the
            // server's name for the pusher (matched with the principal, issue 24).
            let mut all: Vec<&str> = super::principals(principal).collect();
            if let Some(a) = account {
                all.push(&a.identity.name);
                all.extend(a.emails.iter().map(String::as_str));
                if !a.identity.email.is_empty() {
                    all.push(&a.identity.email);
                }
            }
            all.iter()
                .map(|p| judge(p, &env.authorized, &env.name))
                .find(|r| r.outcome == super::Outcome::Pass)
                .unwrap_or_else(|| {
                    judge(
                        all.first().copied().unwrap_or(""),
                        &env.authorized,
                        &env.name,
                    )
                })
        }
        Pusher::Unknown { why } => CheckResult::skip(CheckId::Authorized, why.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn globs_and_empty_list() {
        let list = vec!["*@corp.example".to_owned(), "ada@example.com".to_owned()];
        assert_eq!(judge("x@y", &[], "production").outcome, Outcome::Pass);
        assert_eq!(
            judge("Bob@CORP.example", &list, "production").outcome,
            Outcome::Pass
        );
        assert_eq!(
            judge("ada@example.com", &list, "production").outcome,
            Outcome::Pass
        );
        let r = judge("pat@example.com", &list, "production");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(judge("", &list, "production").outcome, Outcome::Fail);
    }
}
