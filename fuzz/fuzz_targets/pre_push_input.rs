//! Fuzzes git's pre-push stdin parser with arbitrary bytes.
//!
//! Properties beyond "no panic": every parsed update has well-formed object names of one
//! length and a full remote ref; an error quotes its line without a raw control character
//! (the message reaches a terminal), and never more than 200 characters of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushguard::push;

fuzz_target!(|data: &[u8]| {
    match push::parse(data) {
        Ok(updates) => {
            for u in &updates {
                assert!(u.remote_ref.starts_with("refs/"));
                assert!(!u.local_ref.is_empty());
                assert_eq!(u.local_oid.len(), u.remote_oid.len());
                assert!(u.local_oid.len() == 40 || u.local_oid.len() == 64);
                let _ = (u.change(), u.branch(), u.new_oid(), u.old_oid());
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
            // At most 200 characters of the line, each escaped to at most `\u{10ffff}`.
            assert!(
                e.line.chars().count() <= 200 * 10 + 1,
                "{} chars",
                e.line.len()
            );
            assert!(e.line_number >= 1);
        }
    }
});
