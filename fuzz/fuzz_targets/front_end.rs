//! Any bytes through parse, check, decode, expand and resolve, and through `glc fmt`: glc must
//! not panic, and every diagnostic must point inside the file it came from.
#![no_main]

use std::path::PathBuf;

use glc::diagnostic::SourceFile;
use glc::{Options, ReleaseFile};
use libfuzzer_sys::fuzz_target;

/// As in the `glc` binary, the work runs on a thread with a 64 MiB stack.
const STACK: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text = text.to_owned();
    let worker = std::thread::Builder::new().stack_size(STACK).spawn(move || check(&text));
    // A panic in the worker aborts the process through libfuzzer-sys's hook, with the input.
    let _ = worker.map(std::thread::JoinHandle::join);
});

fn check(text: &str) {
    let source = SourceFile::new("fuzz.kdl", text.to_owned());
    // Paths resolve against a directory that holds no artifacts: resolve reports them missing.
    let release = ReleaseFile { source: source.clone(), base_dir: PathBuf::from(".") };
    let diagnostics = match release.compile(&Options::default()) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "an error without diagnostics");
            diagnostics
        }
    };
    let formatted = glc::front::fmt::format(&source);
    for diagnostic in diagnostics.iter().chain(formatted.as_ref().err().into_iter().flatten()) {
        assert_ne!(diagnostic.code, "glc::internal", "{}", diagnostic.message);
        for label in &diagnostic.labels {
            assert!(label.span.offset() + label.span.len() <= text.len(), "label outside the file: {}", diagnostic.message);
        }
    }
}
