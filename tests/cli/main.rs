//! All integration tests, in one binary: they run the real `glc` executable.
#![allow(clippy::must_use_candidate)]

mod build;
mod clients;
mod commands;
mod copy;
mod credentials;
mod fixtures;
mod gardenlinux;
mod get;
mod gl_oci;
mod hostile_inputs;
mod hostile_layouts;
mod hostile_registry;
mod hostile_server;
mod image_templates;
mod incremental;
mod interop;
mod interrupts;
mod json_mode;
mod keys;
mod merge;
mod messages;
mod metadata_files;
mod opens;
mod oras_cosign;
mod output_safety;
mod parts;
mod plan_inputs;
mod progress;
mod provenance;
mod pull;
mod push;
mod record;
mod referrers;
mod registry;
mod reliability;
mod robustness;
mod rootfs;
mod signed_layouts;
mod signing;
mod stores;
mod test;
mod usability;
mod verify;

use std::path::{Path, PathBuf};
use std::process::Output;

pub use test::{Ran, Test};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Compares `actual` with the file `expected`; with `GLC_BLESS=1` rewrites the file instead.
pub fn assert_matches_file(actual: &str, expected: &Path) {
    if std::env::var_os("GLC_BLESS").is_some() {
        std::fs::write(expected, actual).expect("write snapshot");
        return;
    }
    let wanted = std::fs::read_to_string(expected).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with GLC_BLESS=1 to create it",
            expected.display()
        )
    });
    assert!(
        wanted == actual,
        "output differs from {}\n--- expected\n{wanted}\n--- actual\n{actual}\n(run with GLC_BLESS=1 to accept)",
        expected.display()
    );
}
