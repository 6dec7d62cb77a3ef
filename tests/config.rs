//! `pushguard config`, `config --check` and `init`.

use crate::support::TestRepo;

#[test]
fn config_check_reports_file_line_and_column() {
    let repo = TestRepo::new();
    repo.config("[environments.production]\nbranches = [\"main\"]\nchecks = [\"no-delete\", \"fast-fwd\"]\n");
    let run = repo.pushguard(&["config", "--check"]);
    insta::assert_snapshot!(repo.transcript(&run), @r#"
    exit: 2
    --- stdout
    --- stderr
    pushguard: error: the pushguard configuration is invalid, so every push is blocked (pushguard cannot tell which branches are environments)
      caused by: [TMP]/work/.pushguard.toml:3:24: unknown variant `fast-fwd`, expected one of `freeze`, `no-delete`, `fast-forward`, `promoted`, `no-wip`, `no-conflict-markers`, `clean-worktree`, `tests`, `authorized`, `approvals`, `soak`
          |
        3 | checks = ["no-delete", "fast-fwd"]
          |                        ^^^^^^^^^^
    hint: fix the file (`pushguard config --check` shows the error again), then push again
    hint: or skip the guard with `git push --no-verify`: that push is NOT recorded and shows up in `pushguard audit`
    "#);
}

#[test]
fn config_prints_the_effective_config_and_its_sources() {
    let repo = TestRepo::new();
    repo.config("[tests]\ntimeout = \"10m\"\n");
    let run = repo.pushguard(&["config"]);
    run.expect_code(0);
    let out = repo.redact(&run.stdout);
    assert!(
        out.contains("#   built-in default\n#   repository config `[TMP]/work/.pushguard.toml`"),
        "{out}"
    );
    assert!(
        out.contains("timeout = \"10m\"  # from the repository config"),
        "{out}"
    );
    assert!(
        out.contains("cache = true  # from the built-in default"),
        "{out}"
    );
    assert!(out.contains("[environments.production]"), "{out}");
    repo.pushguard(&["config", "--check"]).expect_code(0);
}

#[test]
fn user_layer_and_pushguard_config_variable() {
    let repo = TestRepo::new();
    let user = repo.home.join(".config/pushguard");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("config.toml"), "[bypass]\nmin_length = 30\n").unwrap();
    let run = repo.pushguard(&["config"]);
    assert!(
        run.stdout
            .contains("min_length = 30  # from the user config"),
        "{}",
        run.stdout
    );

    let other = repo.root.join("other.toml");
    std::fs::write(&other, "[environments.live]\nbranches = [\"live\"]\n").unwrap();
    let run = repo.pushguard_with(
        &["config"],
        None,
        &[("PUSHGUARD_CONFIG", other.to_str().unwrap())],
    );
    run.expect_code(0);
    assert!(run.stdout.contains("[environments.live]"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("[environments.production]"),
        "{}",
        run.stdout
    );

    let run = repo.pushguard_with(
        &["config"],
        None,
        &[("PUSHGUARD_CONFIG", "/nonexistent.toml")],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("named by PUSHGUARD_CONFIG"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_maps_environments_to_the_remote_branches() {
    let repo = TestRepo::new();
    repo.push_unguarded("HEAD:refs/heads/main");
    repo.push_unguarded("HEAD:refs/heads/develop");
    repo.push_unguarded("HEAD:refs/heads/stage");
    repo.git(&["fetch", "-q", "origin"]);
    let run = repo.pushguard(&["init"]);
    run.expect_code(0);
    let text = std::fs::read_to_string(repo.work.join(".pushguard.toml")).unwrap();
    assert!(
        text.contains("[environments.development]\n# found on `origin`\nbranches = [\"develop\"]"),
        "{text}"
    );
    assert!(
        text.contains("[environments.staging]\n# found on `origin`\nbranches = [\"stage\"]"),
        "{text}"
    );
    assert!(
        text.contains("[environments.production]\n# found on `origin`\nbranches = [\"main\"]"),
        "{text}"
    );
    repo.pushguard(&["config", "--check"]).expect_code(0);

    let run = repo.pushguard(&["init"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("hint: run `pushguard init --force`"),
        "{}",
        run.stderr
    );
    repo.pushguard(&["init", "--force"]).expect_code(0);
}

#[test]
fn commands_find_the_repository_config_from_a_subdirectory() {
    let repo = TestRepo::new();
    repo.config("[bypass]\nmin_length = 20\n");
    std::fs::create_dir_all(repo.work.join("src/deep")).unwrap();
    let out = repo
        .command(crate::support::bin())
        .arg("config")
        .current_dir(repo.work.join("src/deep"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("min_length = 20  # from the repository config"),
        "{text}"
    );
}

/// The comment that marks a README TOML block as a fragment (part of a file, shown to
/// explain one key), which `config --check` cannot judge alone. It goes on the line right
/// before the block's opening fence.
const FRAGMENT: &str = "<!-- toml: fragment -->";

/// Every ```toml block of the README, with the line its fence is on and whether it is marked
/// as a fragment.
fn readme_toml_blocks() -> Vec<(usize, String, bool)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read the README");
    let mut blocks = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((n, line)) = lines.next() {
        if line.trim_start().starts_with("```toml") {
            let fragment = previous.trim() == FRAGMENT;
            let mut text = String::new();
            for (_, body) in lines.by_ref() {
                if body.trim_start().starts_with("```") {
                    break;
                }
                text.push_str(body);
                text.push('\n');
            }
            blocks.push((n + 1, text, fragment));
        }
        previous = line;
    }
    blocks
}

#[test]
fn regression_issue_22_7_every_toml_block_in_the_readme_passes_config_check() {
    // A newcomer pastes these: each must be a valid `.pushguard.toml` as it stands, unless it
    // is marked as a fragment (FRAGMENT on the line before the fence).
    let blocks = readme_toml_blocks();
    assert!(blocks.len() >= 2, "the README has TOML blocks");
    let repo = TestRepo::new();
    let mut checked = 0;
    for (line, text, fragment) in &blocks {
        if *fragment {
            continue;
        }
        let file = repo.root.join(format!("readme-{line}.toml"));
        std::fs::write(&file, text).expect("write the block");
        let run = repo.pushguard_with(
            &["config", "--check"],
            None,
            &[("PUSHGUARD_CONFIG", file.to_str().expect("utf-8 path"))],
        );
        assert_eq!(
            run.code, 0,
            "the TOML block at README.md:{line} is not a valid config (mark a deliberate fragment with `{FRAGMENT}` on the line before it)\n{}\n{}",
            text, run.stderr
        );
        checked += 1;
    }
    assert!(checked >= 1, "no block was checked");
    // The block the README calls the built-in default is it, key for key.
    let default: toml::Table =
        toml::from_str(include_str!("../src/default.toml")).expect("the default parses");
    let documented = blocks
        .iter()
        .filter_map(|(_, text, _)| toml::from_str::<toml::Table>(text).ok())
        .find(|t| t.contains_key("environments") && t.contains_key("wip"));
    assert_eq!(
        documented.as_ref(),
        Some(&default),
        "the README's default config block differs from src/default.toml"
    );
}
