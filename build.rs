//! Packs the pushguard binary's relative relocations (DT_RELR) on Linux when the toolchain
//! and the C library support it.
//!
//! git starts the hook on every push, so process start-up is most of what an ordinary push
//! costs. A position-independent binary of this size carries ~13,000 dynamic relocations
//! that the loader applies at every start, dirtying pages as it goes. `-z
//! pack-relative-relocs` (binutils >= 2.38, glibc >= 2.36) stores them as a compact bitmap:
//! ~240 relocations remain, close to what a non-PIE link gives, while the binary stays
//! position-independent and address-randomised. Figures: docs/benchmarks.md.
//!
//! The flag is only used after a probe links and runs a tiny program with it, so an older
//! linker or C library gets an ordinary binary instead of one that cannot start.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if linux && native && relr_works() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Links and runs `int main(void) { return 0; }` with the flag.
fn relr_works() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let src = out.join("relr-probe.c");
    let bin = out.join("relr-probe");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linked = Command::new("cc")
        .arg("-fPIE")
        .arg("-pie")
        .arg("-Wl,-z,pack-relative-relocs")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    linked && Command::new(&bin).status().is_ok_and(|s| s.success())
}
