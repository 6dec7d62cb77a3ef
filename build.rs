//! Links the pushguard binary as a non-PIE executable on Linux (issue 6, "Speed").
//!
//! git starts the hook on every push, so start-up is most of what an ordinary push costs.
//! A PIE binary of this size carries ~13,000 dynamic relocations that the loader applies
//! at every start, dirtying ~70 pages; linked non-PIE they are resolved at link time.
//! Measured with `perf stat` on the hook's fast path: 177 -> ~110 page faults and about a
//! fifth less CPU (docs/benchmarks.md). The cost is that the binary's own code is not
//! address-randomised (libraries, stack and heap still are); pushguard is memory-safe Rust
//! that parses untrusted text but runs no untrusted code, with the pusher's own privileges
//! (a client-side hook is no security boundary). Packing the relocations instead
//! (`-z pack-relative-relocs`, which keeps PIE) was measured too: 241 relocations remain,
//! but the pages they patch are still dirtied at start, 198 page faults and 1.0–1.4 ms of
//! CPU against 136 and 0.9 ms non-PIE (`perf stat -r 200`, same machine, same run).
//! Only the binaries get the flag:
//! the library, tests and proc macros are linked as before.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
