//! Issue 13, "what a team meets in its first week": one regression test per item this branch
//! fixes (`regression_week1_<item>_*`), each driving real git and the real binary.

use crate::support::TestRepo;

#[test]
fn regression_week1_11_overlap_caret_is_under_the_entry_that_overlaps() {
    let repo = TestRepo::guarded(
        "[environments.development]\nbranches = [\"development\"]\nconfirm = false\n\n[environments.staging]\nbranches = [\"staging\", \"development\"]\nconfirm = false\n",
    );
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    run.expect_code(1);
    let err = repo.redact(&run.stderr);
    assert!(
        err.contains("branch glob `development` of environment `staging` overlaps environment `development`"),
        "{err}"
    );
    assert!(
        err.contains(
            "    6 | branches = [\"staging\", \"development\"]\n      |                        ^^^^^^^^^^^^^\n"
        ),
        "{err}"
    );
    assert_eq!(repo.remote_branch("feature"), None);
}
