//! Any OCI layout through `glc verify`, `glc inspect` and an import (as `glc build` copies a
//! container): nothing may panic, hang or print a control character from the layout.
//!
//! An input is an OCI archive (any bytes not starting with `== `), imported as one; or a
//! layout written as text, one file a section:
//!
//! ```text
//! == file index.json          a regular file, at a path inside the layout
//! {"schemaVersion":2,"manifests":[{"mediaType":"…","digest":"<d1>","size":<s1>}]}
//! == blob                     a blob, at blobs/sha256/<its own digest>
//! {…}
//! == link blobs/sha256/<h2> /etc/passwd      a symbolic link
//! == fifo index.json          a fifo
//! == dir blobs/sha512         a directory
//! ```
//!
//! `<dN>`, `<sN>` and `<hN>` stand for the digest, size and hex digest of section N (counted
//! from 0) once it is written; a section may refer to later sections only, so that digests
//! can be computed (the fuzzer keeps them right, where it could never guess a hash).
#![no_main]

use std::fs;
use std::path::{Component, Path};

use glc::oci::import::Importer;
use glc::oci::layout::LayoutWriter;
use glc::oci::source::OciSource;
use glc::front::plan::SourceKind;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};

/// Sections of a layout that a run writes, at most.
const SECTIONS: usize = 256;

fuzz_target!(|data: &[u8]| {
    // In memory where there is a tmpfs: files are made and removed each run (20 times faster).
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory");
    let root = dir.path().join("layout");
    fs::create_dir(&root).expect("mkdir");
    match data.strip_prefix(b"== ") {
        Some(_) => {
            let Ok(text) = std::str::from_utf8(data) else { return };
            write_layout(&root, text);
            check(&root, SourceKind::OciLayout, dir.path());
        }
        None => {
            let archive = dir.path().join("archive.oci");
            fs::write(&archive, data).expect("write");
            check(&archive, SourceKind::OciArchive, dir.path());
        }
    }
});

fn check(path: &Path, kind: SourceKind, scratch: &Path) {
    if kind == SourceKind::OciLayout {
        let report = glc::verify::verify(path);
        for finding in &report.findings {
            printable(&finding.message);
            printable(&finding.path);
        }
        if let Ok(nodes) = glc::inspect::inspect(path, None) {
            printable(&glc::inspect::render(&nodes));
            serde_json::to_string(&nodes).expect("inspect's nodes serialize");
        }
    }
    if let Ok(source) = OciSource::open(path, kind) {
        let writer = LayoutWriter::create(&scratch.join("out")).expect("an output layout");
        let importer = Importer { layout: &writer, previous: None };
        for descriptor in source.manifests.iter().take(4) {
            if let Err(error) = importer.copy_tree(&source, descriptor) {
                printable(&error.to_string());
                printable(&error.help());
            }
        }
    }
}

/// Text glc prints: no control characters but line breaks.
fn printable(text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "printed raw: {text:?}"
    );
}

/// Writes the sections of `text` into `root`, last first, so that placeholders resolve.
fn write_layout(root: &Path, text: &str) {
    let sections: Vec<(&str, &str)> = text
        .split("\n== ")
        .map(|s| s.trim_start_matches("== "))
        .take(SECTIONS)
        .map(|s| s.split_once('\n').unwrap_or((s, "")))
        .collect();
    // Digest and size of each section, once written.
    let mut written: Vec<Option<(String, usize)>> = vec![None; sections.len()];
    for (n, (header, body)) in sections.iter().enumerate().rev() {
        let header = substitute(header, &written[n + 1..], n + 1);
        let body = substitute(body, &written[n + 1..], n + 1);
        let mut words = header.split(' ');
        let kind = words.next().unwrap_or_default();
        let name = words.next().and_then(inside);
        let target = words.next().unwrap_or_default();
        let hex = hex::encode(Sha256::digest(body.as_bytes()));
        let made = match (kind, name) {
            ("blob", _) => {
                let name = format!("blobs/sha256/{hex}");
                parent(root, &name) && fs::write(root.join(name), &body).is_ok()
            }
            ("file", Some(name)) => parent(root, name) && fs::write(root.join(name), &body).is_ok(),
            ("link", Some(name)) => {
                parent(root, name) && std::os::unix::fs::symlink(target, root.join(name)).is_ok()
            }
            ("fifo", Some(name)) => {
                parent(root, name)
                    && rustix::fs::mknodat(
                        rustix::fs::CWD,
                        &root.join(name),
                        rustix::fs::FileType::Fifo,
                        rustix::fs::Mode::from_raw_mode(0o644),
                        0,
                    )
                    .is_ok()
            }
            ("dir", Some(name)) => parent(root, name) && fs::create_dir(root.join(name)).is_ok(),
            _ => false,
        };
        if made {
            written[n] = Some((hex, body.len()));
        }
    }
}

/// `name` if it is a relative path that stays inside the layout.
fn inside(name: &str) -> Option<&str> {
    let path = Path::new(name);
    (!name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))))
        .then_some(name)
}

/// Makes room for `name`: its parent directories, and nothing in its place (writing into a
/// fifo an earlier section made would wait for a reader forever). Refuses a name below a link
/// an earlier section made, which would lead this harness out of the layout.
fn parent(root: &Path, name: &str) -> bool {
    let mut at = root.to_path_buf();
    let components: Vec<_> = Path::new(name).components().collect();
    for component in &components[..components.len().saturating_sub(1)] {
        at.push(component);
        match fs::symlink_metadata(&at) {
            Ok(metadata) if !metadata.is_dir() => return false,
            Ok(_) => {}
            Err(_) => {
                if fs::create_dir(&at).is_err() {
                    return false;
                }
            }
        }
    }
    let _ = fs::remove_file(root.join(name));
    true
}

/// `text` with `<dN>`, `<sN>`, `<hN>` replaced for the sections after this one (`later[0]`
/// is section `first`).
fn substitute(text: &str, later: &[Option<(String, usize)>], first: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find('>').unwrap_or(0);
        let replaced = (end > 2)
            .then(|| {
                let what = *rest.as_bytes().get(1)?;
                let n: usize = rest.get(2..end)?.parse().ok()?;
                let (hex, size) = later.get(n.checked_sub(first)?)?.as_ref()?;
                match what {
                    b'd' => Some(format!("sha256:{hex}")),
                    b'h' => Some(hex.clone()),
                    b's' => Some(size.to_string()),
                    _ => None,
                }
            })
            .flatten();
        match replaced {
            Some(value) => {
                out.push_str(&value);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
