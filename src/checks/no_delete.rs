//! `no-delete`: an environment branch is never deleted through a push.

use super::{CheckId, CheckResult, Context};
use crate::push::Change;

/// Judges a ref update's change kind.
pub fn judge(change: Change, branch: &str) -> CheckResult {
    if change == Change::Delete {
        CheckResult::fail(
            CheckId::NoDelete,
            format!("this push deletes the environment branch `{branch}`"),
        )
        .with_hint("deleting an environment branch is done by an administrator on the server, not through a push")
    } else {
        CheckResult::pass(CheckId::NoDelete, "the branch is not deleted")
    }
}

pub fn run(ctx: &Context) -> CheckResult {
    judge(ctx.update.change(), ctx.update.branch().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn delete_fails_others_pass() {
        assert_eq!(judge(Change::Delete, "production").outcome, Outcome::Fail);
        assert_eq!(judge(Change::Update, "production").outcome, Outcome::Pass);
        assert_eq!(judge(Change::Create, "production").outcome, Outcome::Pass);
    }
}
