//! Fuzzes the config loader: arbitrary text as the repository's `.pushguard.toml`, layered
//! over the embedded default exactly as `config::load` layers it.
//!
//! Properties beyond "no panic": a loaded config resolves any branch name without panicking,
//! and an error's message names the repository file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushguard::config::{Config, Source, DEFAULT_TOML};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // `read_to_string` refuses invalid UTF-8 before the loader sees it
    };
    let layers = vec![
        (Source::Embedded, DEFAULT_TOML.to_owned()),
        (
            Source::Repository(".pushguard.toml".into()),
            text.to_owned(),
        ),
    ];
    match Config::from_layers(layers) {
        Ok(config) => {
            for branch in [
                "main",
                "production",
                "staging",
                "development",
                "feature/x",
                "",
            ] {
                let _ = config.environment_for_branch(branch);
            }
        }
        Err(e) => {
            let shown = format!("{e:#}");
            assert!(shown.contains(".pushguard.toml"), "{shown}");
        }
    }
});
