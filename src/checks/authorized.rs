//! `authorized`: the pusher's `user.email` matches the environment's `authorized` list
//! (emails or globs such as `*@corp.example`); an empty list lets anyone push.

use super::{CheckId, CheckResult, Context, Mode};
use crate::config::email_glob;
use crate::server;

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

pub fn run(ctx: &Context) -> CheckResult {
    if ctx.mode == Mode::Server {
        return on_server(ctx);
    }
    let identity = ctx.repo.identity();
    judge(
        &identity.email,
        &ctx.environment.authorized,
        &ctx.environment.name,
    )
}

/// On the server, only the pusher the server names counts: a commit's committer says who
/// wrote it, not who pushes it. A server that names users without an email (`GL_USERNAME`,
/// `REMOTE_USER`) is judged by user name, so `authorized` may list server user names.
fn on_server(ctx: &Context) -> CheckResult {
    let id = CheckId::Authorized;
    if ctx.environment.authorized.is_empty() {
        return judge("", &ctx.environment.authorized, &ctx.environment.name);
    }
    let Some(pusher) = server::named_pusher() else {
        return CheckResult::skip(
            id,
            format!(
                "the server does not say who is pushing (none of {} is set), and a commit's committer is not the pusher",
                server::PUSHER_VARIABLES.join(", ")
            ),
        );
    };
    let who = if pusher.identity.email.is_empty() {
        &pusher.identity.name
    } else {
        &pusher.identity.email
    };
    judge(who, &ctx.environment.authorized, &ctx.environment.name)
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
