//! The import rule of docs/architecture.md, held by the compiler's neighbour: `util/` imports
//! nothing of glc, `oci/` only `oci/` and `util/`, `registry/` only `registry/`, `oci/` and
//! `util/` (registry → oci, never back). A path `crate::X` to any other module, in a `use` or
//! inline, in code or in a doc link, fails this test with its file and line.

use std::fs;
use std::path::{Path, PathBuf};

/// Each folder of `src/`, and the top-level modules its files may name as `crate::X`.
const RULES: &[(&str, &[&str])] = &[
    ("util", &["util"]),
    ("oci", &["oci", "util"]),
    ("registry", &["registry", "oci", "util"]),
];

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The first segments of the paths in `use crate::{a::b, c, d::{e, f}}`, given the text after
/// the opening brace.
fn grouped(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => names.push(std::mem::take(&mut item)),
            _ if depth == 0 => item.push(c),
            _ => {}
        }
    }
    names.push(item);
    names
        .iter()
        .filter_map(|n| {
            let n = n.trim();
            let first = n.split("::").next()?.trim();
            (!first.is_empty()).then(|| first.to_owned())
        })
        .collect()
}

/// Every module `text` names as `crate::X`, with the line it is named on.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `glc_crate::`, `my_crate::`: not the crate root.
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let line = text[..at].matches('\n').count() + 1;
        let rest = &text[at + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            found.extend(grouped(inner).into_iter().map(|name| (line, name)));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((line, name));
        }
    }
    // From a file three folders down, `super::super::super` is the crate root too.
    for (at, _) in text.match_indices("super::super::super") {
        let line = text[..at].matches('\n').count() + 1;
        found.push((line, "super::super::super".to_owned()));
    }
    found
}

#[test]
fn oci_registry_and_util_import_only_what_the_rule_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (folder, allowed) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(folder), &mut files);
        files.sort();
        assert!(!files.is_empty(), "src/{folder} holds no Rust files");
        for file in files {
            let text = fs::read_to_string(&file).expect("a source file");
            for (line, name) in crate_paths(&text) {
                if !allowed.contains(&name.as_str()) {
                    broken.push(format!(
                        "{}:{line}: `crate::{name}` (src/{folder} may import only {})",
                        file.strip_prefix(&src).unwrap_or(&file).display(),
                        allowed.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the rule of docs/architecture.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_form_of_a_path() {
    let text = "use crate::oci::Digest;\nuse crate::{plan::count, oci::{a, b}};\n\
                let _ = crate::interrupt::check();\nuse glc_crate::x;\n";
    assert_eq!(
        crate_paths(text),
        [
            (1, "oci".to_owned()),
            (2, "plan".to_owned()),
            (2, "oci".to_owned()),
            (3, "interrupt".to_owned()),
        ]
    );
}
