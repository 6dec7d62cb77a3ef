//! Hostile input through the real hook (issue 6): terminal escapes, newlines, invalid UTF-8
//! and 10 KB lengths in ref names, commit subjects and URLs; a 100,000-line push; a huge or
//! deeply nested `.pushguard.toml`. None may put a raw escape sequence on the terminal from
//! pushguard's own lines, panic, or take unbounded time or memory.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Run, TestRepo};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// The terminal-control characters that must never reach stderr raw.
const CONTROLS: [u8; 4] = [0x1b, 0x07, 0x9b, b'\r'];

/// A config where `production` and `release/*` are gated by the checks that exist today.
const CONFIG: &str = r#"
[environments.production]
branches = ["production", "release/*"]
checks = ["no-delete", "fast-forward"]
confirm = false
"#;

fn repo() -> TestRepo {
    TestRepo::guarded(CONFIG)
}

/// git's own lines in a push transcript; everything else on stderr is pushguard's.
fn is_git_line(line: &str) -> bool {
    [
        "To ",
        " * ",
        " ! ",
        " + ",
        "error: failed to push",
        "remote:",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// Panics if any of pushguard's lines holds a raw control character.
#[track_caller]
fn assert_no_raw_controls(run: &Run) {
    for line in run.stderr.lines().filter(|l| !is_git_line(l)) {
        assert!(
            !line.bytes().any(|b| CONTROLS.contains(&b)) && !line.contains('\u{9b}'),
            "raw control character in pushguard's output: {line:?}\n--- whole stderr\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stdout.contains("pushguard"),
        "pushguard wrote to stdout: {}",
        run.stdout
    );
}

/// Runs the installed hook shim directly, as git would, with `stdin`.
fn run_hook(repo: &TestRepo, stdin: &[u8], args: &[&OsStr]) -> Run {
    let hook = repo.work.join(".git/hooks/pre-push");
    let mut cmd = repo.command(&hook);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the hook");
    let mut pipe = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for the hook");
    writer.join().expect("stdin writer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn origin_args(repo: &TestRepo) -> Vec<std::ffi::OsString> {
    vec!["origin".into(), repo.remote.clone().into_os_string()]
}

#[test]
fn escapes_in_subjects_and_typed_refs_stay_escaped() {
    let repo = repo();
    let evil = "evil \x1b]0;pwned\x07 \x1b[31mred\x1b[0m \u{9b}31m \r overwritten";
    repo.commit(evil);
    // The local ref is what the user typed: a `^{/regex}` search holding an escape.
    let src = "HEAD^{/\x1b]0;pwned}";
    let run = repo.push(&["origin", &format!("{src}:refs/heads/production")]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("pushguard: [production] HEAD^{/\\u{1b}]0;pwned}"),
        "{}",
        run.stderr
    );
    assert_no_raw_controls(&run);

    // A 10 KB subject, and a force push so that a check fails and explains itself.
    let long = format!("{}\x1b[2J{}", "x".repeat(5000), "y".repeat(5000));
    repo.git(&["commit", "-q", "--amend", "--allow-empty", "-m", &long]);
    let run = repo.push(&["-f", "origin", "HEAD:refs/heads/production"]);
    run.expect_code(1);
    assert!(run.stderr.contains("fast-forward"), "{}", run.stderr);
    assert_no_raw_controls(&run);
}

#[test]
fn regression_issue_6_a_url_with_escapes_is_escaped_in_the_heading() {
    let repo = repo();
    let name = "remote\x1b[31m\x07.git";
    let url = repo.root.join(name);
    repo.git(&["init", "-q", "--bare", url.to_str().expect("UTF-8 path")]);
    let run = repo.push(&[
        url.to_str().expect("UTF-8 path"),
        "HEAD:refs/heads/production",
    ]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("remote\\u{1b}[31m\\u{7}.git/production"),
        "{}",
        run.stderr
    );
    assert_no_raw_controls(&run);
}

#[test]
fn a_newline_in_a_typed_ref_blocks_the_push_as_malformed_input() {
    let repo = repo();
    repo.commit("line one\nline two");
    // git writes the typed source as is, so the newline splits the hook's input line.
    let run = repo.push(&["origin", "HEAD^{/one\nline}:refs/heads/feature"]);
    if run.code == 128 {
        // This git refuses the source itself: nothing reached the hook.
        eprintln!("git refused the source: {}", run.stderr);
        assert!(!run.stderr.contains("pushguard"), "{}", run.stderr);
        return;
    }
    run.expect_code(1); // git's status when the hook fails
    assert!(
        run.stderr
            .contains("pushguard: error: malformed pre-push input on line 1"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.remote_branch("feature"), None);
    assert_no_raw_controls(&run);
}

#[test]
fn invalid_utf8_and_10kb_ref_names_through_the_installed_hook() {
    let repo = repo();
    let head = repo.head();
    let args = origin_args(&repo);
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();

    // Invalid UTF-8 in an ordinary branch: passes, silently.
    let line = [
        b"refs/heads/\xff\xfe ".as_slice(),
        head.as_bytes(),
        b" refs/heads/feature-\xc3\x28 ",
        ZERO.as_bytes(),
        b"\n",
    ]
    .concat();
    let run = run_hook(&repo, &line, &args);
    run.expect_code(0);
    assert_eq!(run.stderr, "");

    // Invalid UTF-8 in an environment branch (`release/*`): gated, shown replaced.
    let line = [
        b"\x1b[31m\xff ".as_slice(),
        head.as_bytes(),
        b" refs/heads/release/\xff\x1b[2J ",
        ZERO.as_bytes(),
        b"\n",
    ]
    .concat();
    let run = run_hook(&repo, &line, &args);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("pushguard: [production] \\u{1b}[31m\u{fffd} → origin/release/\u{fffd}\\u{1b}[2J (create at "),
        "{}",
        run.stderr
    );
    assert_no_raw_controls(&run);

    // 10 KB ref names, local and remote: gated, each cut to 120 characters in the heading.
    let long_local = format!("HEAD^{{/{}}}", "\x1b[1m".repeat(2500));
    let long_branch = format!("release/{}", "b".repeat(10_240));
    let line = format!("{long_local} {head} refs/heads/{long_branch} {ZERO}\n");
    let run = run_hook(&repo, line.as_bytes(), &args);
    run.expect_code(0);
    let heading = run
        .stderr
        .lines()
        .find(|l| l.starts_with("pushguard: [production]"))
        .unwrap_or_else(|| panic!("no heading: {}", run.stderr));
    assert!(heading.matches('…').count() == 2, "{heading}");
    assert!(heading.len() < 1200, "{} bytes: {heading}", heading.len());
    assert!(
        run.stderr.len() < 4000,
        "{} bytes of stderr",
        run.stderr.len()
    );
    assert_no_raw_controls(&run);

    // A 10 KB malformed line is quoted, escaped and cut.
    let line = format!("{}\x1b]0;x\x07\n", "z".repeat(10_240));
    let run = run_hook(&repo, line.as_bytes(), &args);
    run.expect_code(2);
    assert!(run.stderr.contains("malformed pre-push input on line 1"));
    assert!(run.stderr.len() < 1000, "{} bytes", run.stderr.len());
    assert_no_raw_controls(&run);
}

/// Peak resident set size (KiB) and wall time of the installed hook on `stdin`, measured by
/// `/usr/bin/time -f %M` when the machine has it.
fn measure_hook(repo: &TestRepo, stdin: &[u8]) -> (Run, Duration, Option<u64>) {
    let hook = repo.work.join(".git/hooks/pre-push");
    let time = Path::new("/usr/bin/time");
    let report = repo.root.join("time.txt");
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let program = if time.exists() {
        args.extend([
            "-f".into(),
            "%M".into(),
            "-o".into(),
            report.clone().into_os_string(),
            hook.into_os_string(),
        ]);
        time.to_path_buf()
    } else {
        hook
    };
    args.extend(origin_args(repo));
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let start = Instant::now();
    let mut cmd = repo.command(&program);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the hook");
    let mut pipe = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for the hook");
    let elapsed = start.elapsed();
    writer.join().expect("stdin writer");
    let rss = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, elapsed, rss)
}

#[test]
fn a_100000_line_push_finishes_in_bounded_memory() {
    let repo = repo();
    let head = repo.head();
    let input: String = (0..100_000)
        .map(|i| format!("refs/heads/topic/{i} {head} refs/heads/topic/{i} {ZERO}\n"))
        .collect();
    assert!(input.len() > 10_000_000);
    let (run, elapsed, rss) = measure_hook(&repo, input.as_bytes());
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    eprintln!(
        "100,000-line stdin ({} bytes): {elapsed:?}, peak RSS {rss:?} KiB",
        input.len()
    );
    // Generous bounds for a debug build on a shared machine: the point is "finishes, and
    // memory is a small multiple of the input", not a benchmark (scripts/bench.sh is).
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    if let Some(kib) = rss {
        assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
    }

    // One environment line among them is still found and gated.
    let mut input = input;
    input.push_str(&format!("HEAD {head} refs/heads/production {ZERO}\n"));
    let (run, _, _) = measure_hook(&repo, input.as_bytes());
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("pushguard: ✓ push to production allowed"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_issue_6_a_10_mb_config_is_refused_quickly() {
    let repo = TestRepo::new();
    repo.install();
    let mut big = String::from("[bypass]\nmin_length = 20\n");
    while big.len() < 10 * 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding padding\n");
    }
    repo.config(&big);
    let start = Instant::now();
    let run = repo.push(&["origin", "HEAD:refs/heads/feature"]);
    let elapsed = start.elapsed();
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(".pushguard.toml` is larger than 1024 KiB, the most pushguard reads"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert_eq!(repo.remote_branch("feature"), None);
}

#[test]
fn regression_issue_6_deeply_nested_configs_are_refused_with_a_short_excerpt() {
    let repo = TestRepo::new();
    repo.install();
    let n = 100_000;
    for text in [
        format!("a = {}{}\n", "[".repeat(n), "]".repeat(n)),
        format!("a = {}1{}\n", "{b = ".repeat(n), "}".repeat(n)),
        format!(
            "[environments.x]\nbranches = {}{}\n",
            "[".repeat(n),
            "]".repeat(n)
        ),
        format!("a{} = 1\n", ".b".repeat(n)),
    ] {
        repo.config(&text);
        let start = Instant::now();
        let run = repo.pushguard(&["config", "--check"]);
        let elapsed = start.elapsed();
        run.expect_code(2);
        assert!(
            run.stderr.contains(".pushguard.toml"),
            "{}",
            &run.stderr[..run.stderr.len().min(2000)]
        );
        assert!(
            run.stderr.contains("recursion"),
            "{}",
            &run.stderr[..run.stderr.len().min(2000)]
        );
        // The offending line is quoted as an excerpt, not 200 KB of brackets.
        assert!(
            run.stderr.len() < 2000,
            "{} bytes of stderr",
            run.stderr.len()
        );
        assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    }
}

#[test]
fn shell_syntax_in_refs_and_subjects_is_never_run() {
    // pushguard builds every command from an argument vector (src/git.rs, src/install.rs,
    // the chained hook in src/hook.rs): no shell ever sees a ref name or a subject.
    let repo = repo();
    repo.commit("$(touch pwned-subject) `touch pwned-subject`");
    let branch = "release/$(touch${IFS}pwned-ref)`touch${IFS}pwned-ref`;touch${IFS}pwned-ref";
    repo.git(&["branch", branch]);
    let run = repo.push(&["origin", &format!("{branch}:refs/heads/{branch}")]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("pushguard: ✓ push to production allowed"),
        "{}",
        run.stderr
    );
    for name in ["pwned-subject", "pwned-ref"] {
        assert!(!repo.work.join(name).exists(), "{name} was created");
        assert!(!repo.root.join(name).exists(), "{name} was created");
    }
}
