//! Random and mutated release files: glc reports errors, it never panics, and every
//! diagnostic it renders points inside the file.

use std::panic::{AssertUnwindSafe, catch_unwind};

use glc::diagnostic::SourceFile;
use glc::{Options, ReleaseFile};
use miette::{GraphicalReportHandler, GraphicalTheme};
use proptest::prelude::*;

use crate::{Test, repo};

const REFERENCE: &str = include_str!("../../release.kdl");

/// Pieces that tend to break parsers, checkers and templates.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "\"",
    "\"\"\"\n",
    "#\"",
    "\"#",
    "=",
    ";",
    "\\",
    "/-",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "#true",
    "#null",
    "#nan",
    "1e999",
    "-0x7f",
    "0b102",
    "(ty)",
    "é",
    "\u{feff}",
    "\u{0}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ x }}",
    "{{ version ~ version }}",
    "{% for i in range(9999999) %}",
    "{{ 10**100 }}",
    "..",
    "/etc/passwd",
    "../..",
    "release",
    "matrix",
    "image",
    "exclude",
    "include",
    "for-each",
    "group",
    "container",
    "from=",
    "media-type=",
    "arch \"amd64\" \"amd64\"",
    "include x=\"1\"",
    "exclude arch=\"none\"",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Edit::Insert(at, token)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at %= text.len() + 1;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_owned();
    for edit in edits {
        match *edit {
            Edit::Delete(at, len) => {
                let start = floor_boundary(&text, at);
                let end = floor_boundary(&text, (start + len).min(text.len()));
                text.replace_range(start..end.max(start), "");
            }
            Edit::Insert(at, token) => {
                let at = floor_boundary(&text, at);
                text.insert_str(at, TOKENS[token]);
            }
            Edit::DuplicateLine(n) | Edit::SwapLines(n, _) if text.lines().count() == 0 => {
                let _ = n;
            }
            Edit::DuplicateLine(n) => {
                let mut lines: Vec<&str> = text.lines().collect();
                let n = n % lines.len();
                lines.insert(n, lines[n]);
                text = lines.join("\n");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = text.lines().collect();
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
                text = lines.join("\n");
            }
        }
    }
    text
}

/// Runs the whole front end and the formatter in-process; fails on a panic or on a
/// diagnostic that points outside the file or cannot be rendered.
fn front_end_survives(text: &str) -> Result<(), TestCaseError> {
    let release = ReleaseFile {
        source: SourceFile::new("mutant.kdl", text.to_owned()),
        base_dir: repo(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| release.compile(&Options::default())));
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!("panic on input:\n{text}")));
    };
    let formatted = catch_unwind(AssertUnwindSafe(|| {
        glc::front::fmt::format(&release.source)
    }));
    prop_assert!(formatted.is_ok(), "fmt panicked on input:\n{}", text);
    if let Err(diagnostics) = result {
        prop_assert!(!diagnostics.is_empty(), "an error without diagnostics");
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
        for diagnostic in &diagnostics {
            prop_assert!(
                diagnostic.code.starts_with("glc::"),
                "code {}",
                diagnostic.code
            );
            prop_assert!(
                diagnostic.code != "glc::internal",
                "internal error {} on:\n{}",
                diagnostic.message,
                text
            );
            for label in &diagnostic.labels {
                prop_assert!(
                    label.span.offset() + label.span.len() <= text.len(),
                    "label {:?} outside a {}-byte file: {}",
                    label.span,
                    text.len(),
                    diagnostic.message
                );
            }
            let mut out = String::new();
            let rendered = catch_unwind(AssertUnwindSafe(|| {
                handler.render_report(&mut out, diagnostic)
            }));
            prop_assert!(
                matches!(rendered, Ok(Ok(()))),
                "cannot render {}",
                diagnostic.message
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_reference_releases_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        front_end_survives(&apply(REFERENCE, &edits))?;
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(0..TOKENS.len(), 0..60)) {
        let text: String = tokens.iter().map(|&t| TOKENS[t]).collect::<Vec<_>>().join(" ");
        front_end_survives(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        front_end_survives(&text)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The binary itself: exit 0 or 1, never a crash, whatever the input.
    #[test]
    fn the_binary_exits_0_or_1(edits in prop::collection::vec(edit(), 1..4)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("release.kdl");
        std::fs::write(&file, apply(REFERENCE, &edits)).expect("write");
        for command in ["check", "plan"] {
            let output = Test::new().current_dir(repo()).arg(command).arg(&file).arg("--allow-outside").command().output().expect("run glc");
            prop_assert!(matches!(output.status.code(), Some(0 | 1)), "{command} exited {:?}", output.status);
        }
    }
}
