//! Every input is opened once a build: a rebuild with one changed input, traced with strace,
//! opens each input file and each container source exactly once (no dry pass that hashes the
//! changed input before the real pass copies it; container sources imported from the handle
//! resolving opened).

use std::collections::BTreeMap;
use std::process::Command;

use crate::Test;
use crate::build::copy_release;

#[test]
fn a_rebuild_with_one_changed_input_opens_every_input_once() {
    if !crate::registry::tool("strace") {
        return;
    }
    let dir = Test::new();
    let release = copy_release(&dir.path("release"));
    let out = dir.path("out");
    Test::new()
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .run();
    let artifacts = dir.path("release/artifacts");
    let changed = artifacts.join("aws-gardener_prod-amd64-1877.3-75df9f40.tar");
    let mut bytes = std::fs::read(&changed).expect("input");
    bytes.extend_from_slice(b"changed");
    std::fs::write(&changed, bytes).expect("change");

    let trace = dir.path("trace");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_glc"))
        .args(["build", "-q"])
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("strace");
    assert!(status.success(), "the traced rebuild failed");

    // Every path under artifacts/ that an open names: inputs, container sources (a layout
    // directory's blobs are opened below its descriptor, by relative names).
    let prefix = format!("\"{}/", artifacts.display());
    let mut opens: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).expect("trace").lines() {
        if let Some(at) = line.find(&prefix)
            && !line.contains("ENOENT")
        {
            let path = &line[at + 1..];
            let path = &path[..path.find('"').expect("closing quote")];
            *opens.entry(path.to_owned()).or_default() += 1;
        }
    }
    let twice: Vec<(&String, &usize)> = opens.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "opened more than once: {twice:?}");
    assert_eq!(
        opens.get(changed.to_str().expect("utf-8")),
        Some(&1),
        "the changed input"
    );
    // The top-level release reads 65 input files and 8 container sources.
    assert_eq!(opens.len(), 73, "{:#?}", opens.keys());
}
