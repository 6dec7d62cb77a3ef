//! Issue 22, "what a new team hit in its second week": one regression test per item this
//! branch fixes (`regression_issue_22_<item>_*`), each pushing for real.

use crate::human::{finish, records, spawn_push};
use crate::support::TestRepo;

/// Development asks who was consulted, from a list of leads; production asks a name and two
/// checklist items.
const ASKING: &str = r#"
[environments.development]
branches = ["development"]
checks = ["no-delete"]
confirm = true

[environments.production]
branches = ["production"]
checks = ["no-delete", "fast-forward"]
confirm = true
checklist = ["Stakeholders approved the release", "Users are ready"]
"#;

const LEADS: &str =
    "\n[confirm]\nleads = [\"Ada Lead <ada@example.com>\", \"Bo Senior <bo@example.com>\"]\n";

#[test]
fn regression_issue_22_1_y_then_enter_does_not_choose_the_first_lead() {
    let repo = TestRepo::guarded(&format!("{ASKING}{LEADS}"));
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/development"]);
    p.expect("about this push?").unwrap();
    // What people type out of habit: `y`, then Enter.
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("Who did you consult?").unwrap();
    p.expect("Bo Senior").unwrap();
    p.send("\x1b[B").unwrap(); // down to the second lead
    p.send("\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    let r = records(&repo);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "allowed");
    assert_eq!(r[0]["consulted"], "Bo Senior <bo@example.com>", "{text}");
}

#[test]
fn regression_issue_22_1_y_then_enter_does_not_answer_the_next_checklist_item() {
    let repo = TestRepo::guarded(ASKING);
    let mut p = spawn_push(&repo, &["origin", "HEAD:refs/heads/production"]);
    p.expect("about this push?").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("(name)").unwrap();
    p.send("Cy Staff\r").unwrap();
    p.expect("Stakeholders approved the release").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("Users are ready").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    assert!(!text.contains("a name is needed"), "{text}");
    let r = records(&repo);
    assert_eq!(r.len(), 1, "{text}");
    assert_eq!(r[0]["decision"], "allowed", "{text}");
    assert_eq!(r[0]["consulted"], "Cy Staff");
    let answers: Vec<(String, bool)> = r[0]["checklist"]
        .as_array()
        .expect("a checklist")
        .iter()
        .map(|c| {
            (
                c["item"].as_str().unwrap_or_default().to_owned(),
                c["answer"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("Stakeholders approved the release".to_owned(), true),
            ("Users are ready".to_owned(), true)
        ]
    );
}

#[test]
fn regression_issue_22_9_ctrl_u_clears_the_justification() {
    let repo = TestRepo::guarded(ASKING);
    repo.push_unguarded("HEAD:refs/heads/production");
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten"]);
    let mut p = spawn_push(&repo, &["-f", "origin", "HEAD:refs/heads/production"]);
    p.expect("Bypass the failed checks with a justification?")
        .unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    p.expect("at least 15 characters").unwrap();
    p.send("not what I mean to record").unwrap();
    p.send("\x15").unwrap(); // Ctrl-U
    p.send("incident 4711: revert the broken release\r")
        .unwrap();
    let (text, ok) = finish(p);
    assert!(ok, "{text}");
    let r = records(&repo);
    assert_eq!(r[0]["decision"], "bypassed", "{text}");
    assert_eq!(
        r[0]["justification"],
        "incident 4711: revert the broken release"
    );
}
