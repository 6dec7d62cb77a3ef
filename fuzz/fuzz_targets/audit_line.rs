//! Fuzzes the audit line reader with arbitrary bytes.
//!
//! A random line almost never carries its own correct hash, so half of the inputs are given
//! one: the first byte chooses whether the rest is parsed as is, or as a record body sealed
//! with `,"hash":"<sha256 of body + "}">"}` so that the JSON reader behind the hash check is
//! reached too. A sealed body that parses must round-trip through `Record::to_line`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushguard::audit;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = audit::parse_line(rest);
        return;
    }
    let mut whole = rest.to_vec();
    whole.push(b'}');
    let hash = audit::sha256_hex(&whole);
    let mut line = rest.to_vec();
    line.extend_from_slice(format!(r#","hash":"{hash}"}}"#).as_bytes());
    match audit::parse_line(&line) {
        Ok((record, found)) => {
            assert_eq!(found, hash);
            let (again, _) = record.to_line();
            let (back, _) = audit::parse_line(again.as_bytes()).expect("a written line reads back");
            assert_eq!(back, record);
        }
        Err(audit::LineError::NotARecord(_)) => {}
        // A body under two bytes cannot be a record: the reader refuses it by length.
        Err(audit::LineError::NoHash) if rest.len() < 2 => {}
        Err(e) => panic!("a sealed line failed its own hash: {e}"),
    }
});
