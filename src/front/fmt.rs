//! `glc fmt`: re-indents a release file and tidies blank lines and trailing spaces, keeping
//! everything else as written: comments, quoting, string forms, property order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::front::parse::{parse, scan_code};

const INDENT: &str = "    ";

/// How `glc fmt` ends the lines it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// As the file's first line ends: CRLF files stay CRLF.
    #[default]
    Keep,
    Lf,
    Crlf,
}

/// The formatted text of `source`, or the parse errors that prevent formatting it.
pub fn format(source: &Arc<SourceFile>) -> Result<String, Diagnostics> {
    format_with(source, LineEnding::Keep)
}

/// [`format`], ending lines as `ending` says.
pub fn format_with(source: &Arc<SourceFile>, ending: LineEnding) -> Result<String, Diagnostics> {
    let document = parse(source)?;
    let text = source.text();
    // KDL also breaks lines at CR, VT, FF, NEL, LS and PS; glc fmt works on lines ending in
    // LF (or CRLF) and says so rather than guess.
    let other_break = text.char_indices().find(|&(i, c)| {
        matches!(c, '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
            || (c == '\r' && !text[i + 1..].starts_with('\n'))
    });
    if let Some((offset, c)) = other_break {
        return Err(vec![
            Diagnostic::error("glc::fmt::line-breaks", format!("the file breaks a line with U+{:04X}", u32::from(c)))
                .in_file(source)
                .label((offset, c.len_utf8()), "a line break glc fmt does not rewrite")
                .help("glc fmt formats files whose lines end in LF or CRLF; replace the other line breaks first"),
        ]);
    }
    let crlf = match ending {
        LineEnding::Keep => text.find('\n').is_some_and(|lf| text[..lf].ends_with('\r')),
        LineEnding::Lf => false,
        LineEnding::Crlf => true,
    };
    // Slash-dashed nodes are laid out like the nodes they would be: the layout is read off
    // the text with each `/-` blanked (same offsets), if that still parses.
    let uncommented = without_slashdashes(text);
    let (layout_text, layout_document) = uncommented
        .as_deref()
        .and_then(|t| Some((t, KdlDocument::parse_v2(t).ok()?)))
        .map_or((text, None), |(t, d)| (t, Some(d)));
    let mut plan = Layout::new(layout_text);
    plan.document(layout_document.as_ref().unwrap_or(&document), 0);
    let formatted = plan.apply(text, if crlf { "\r\n" } else { "\n" });
    // Never hand back a file that means something else.
    let reparsed = KdlDocument::parse_v2(&formatted)
        .ok()
        .map(|d| canonical(&d));
    if reparsed != Some(canonical(&document)) {
        return Err(vec![
            Diagnostic::error(
                "glc::internal",
                "glc fmt would change the meaning of this file; it was left as it is",
            )
            .in_file(source)
            .help("this is a bug in glc fmt; please report it with this file"),
        ]);
    }
    Ok(formatted)
}

/// `text` with every `/-` outside strings and comments replaced by two spaces, if it has any.
fn without_slashdashes(text: &str) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let mut any = false;
    scan_code(text, |i, byte| {
        if byte == b'/' && text.as_bytes().get(i + 1) == Some(&b'-') {
            bytes[i] = b' ';
            bytes[i + 1] = b' ';
            any = true;
        }
        true
    });
    // Two ASCII bytes replaced by two ASCII bytes: still UTF-8.
    any.then(|| String::from_utf8(bytes).ok()).flatten()
}

/// A unified diff of what `glc fmt` would change in `name`.
#[must_use]
pub fn diff(name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}

fn canonical(document: &KdlDocument) -> String {
    let mut document = document.clone();
    document.clear_format_recursive();
    document.to_string()
}

/// Line numbers that start a node or close a block, with the depth they belong at, and
/// lines that lie inside multi-line values (left exactly as written).
struct Layout<'t> {
    text: &'t str,
    /// Offsets just after each LF, to find a line by binary search.
    line_starts: Vec<usize>,
    indent: BTreeMap<usize, usize>,
    verbatim: BTreeSet<usize>,
}

impl<'t> Layout<'t> {
    fn new(text: &'t str) -> Self {
        let line_starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Self {
            text,
            line_starts,
            indent: BTreeMap::new(),
            verbatim: BTreeSet::new(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn starts_line(&self, offset: usize) -> bool {
        let line = self.line_of(offset);
        let start = if line == 0 {
            0
        } else {
            self.line_starts[line - 1]
        };
        self.text[start..offset].trim().is_empty()
    }

    fn document(&mut self, document: &KdlDocument, depth: usize) {
        for node in document.nodes() {
            self.node(node, depth);
        }
    }

    fn node(&mut self, node: &KdlNode, depth: usize) {
        let start = node.span().offset();
        if self.starts_line(start) {
            self.indent.insert(self.line_of(start), depth);
        }
        // Multi-line strings, as values or as names, keep every line as written.
        let spans =
            std::iter::once(node.name().span()).chain(node.ty().map(kdl::KdlIdentifier::span));
        for span in spans.chain(node.entries().iter().map(kdl::KdlEntry::span)) {
            let (from, to) = (span.offset(), span.offset() + span.len());
            if self.text[from..to].contains('\n') {
                self.verbatim
                    .extend(self.line_of(from) + 1..=self.line_of(to));
            }
        }
        if let Some(children) = node.children() {
            self.document(children, depth + 1);
            let block_end = node.span().offset() + node.span().len();
            if let Some(close) = self.text[..block_end.min(self.text.len())].rfind('}')
                && self.starts_line(close)
            {
                self.indent.insert(self.line_of(close), depth);
            }
        }
    }

    /// `text` laid out: it has the lines of the text the layout was read from.
    fn apply(&self, text: &str, newline: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let mut out: Vec<String> = Vec::with_capacity(lines.len());
        for (number, line) in lines.iter().enumerate() {
            if self.verbatim.contains(&number) {
                out.push((*line).to_owned());
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                // One blank line separates; more, or one at the top of a block, do not.
                let after_open = out.last().is_none_or(|l| l.trim_end().ends_with('{'));
                if !after_open && out.last().is_some_and(|l| !l.trim().is_empty()) {
                    out.push(String::new());
                }
                continue;
            }
            let depth = self.indent.get(&number).copied().or_else(|| {
                // A comment takes the depth of the node after it.
                (trimmed.starts_with("//") || trimmed.starts_with("/*") || trimmed.starts_with('*'))
                    .then(|| self.indent.range(number..).next().map_or(0, |(_, d)| *d))
            });
            match depth {
                Some(depth) => {
                    if trimmed == "}" && out.last().is_some_and(|l| l.trim().is_empty()) {
                        out.pop();
                    }
                    out.push(format!("{}{trimmed}", INDENT.repeat(depth)));
                }
                None => out.push(line.trim_end().to_owned()),
            }
        }
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            out.pop();
        }
        let mut formatted = out.join(newline);
        formatted.push_str(newline);
        formatted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format(&SourceFile::new("t.kdl", text.to_owned())).unwrap()
    }

    #[test]
    fn reindents_nodes_and_comments_and_keeps_quoting() {
        let input =
            "release \"1\" {\n  // why\n      commit \"abc\"   \n\n\n  tag \"a\" b\n        }\n";
        assert_eq!(
            fmt(input),
            "release \"1\" {\n    // why\n    commit \"abc\"\n\n    tag \"a\" b\n}\n"
        );
    }

    #[test]
    fn leaves_multi_line_strings_alone() {
        let input = "a {\n  b \"\"\"\n    x\n      y\n    \"\"\"\n}\n";
        assert_eq!(
            fmt(input),
            "a {\n    b \"\"\"\n    x\n      y\n    \"\"\"\n}\n"
        );
    }

    #[test]
    fn leaves_multi_line_node_names_alone() {
        // Found by fuzzing: a node named by a multi-line string.
        let input = "!\n\n\n\"\"\"\n\n\n  x\n\n\n\"\"\"\n\n\n";
        assert_eq!(fmt(input), "!\n\n\"\"\"\n\n\n  x\n\n\n\"\"\"\n");
    }

    #[test]
    fn refuses_line_breaks_it_does_not_rewrite() {
        // Found by fuzzing: a vertical tab ends a line for KDL, not for `str::lines`.
        let errors = format(&SourceFile::new(
            "t.kdl",
            "a \"\"\"\u{0B}\n  x\n  \"\"\"\n".to_owned(),
        ))
        .unwrap_err();
        assert_eq!(errors[0].code, "glc::fmt::line-breaks");
        assert_eq!(errors[0].message, "the file breaks a line with U+000B");
        assert_eq!(fmt("a 1\r\nb 2\r\n"), "a 1\r\nb 2\r\n");
    }

    #[test]
    fn crlf_files_stay_crlf_unless_asked() {
        let input = "a {\r\n  b 1\r\n}\r\n";
        assert_eq!(fmt(input), "a {\r\n    b 1\r\n}\r\n");
        let source = SourceFile::new("t.kdl", input.to_owned());
        assert_eq!(
            format_with(&source, LineEnding::Lf).unwrap(),
            "a {\n    b 1\n}\n"
        );
        let source = SourceFile::new("t.kdl", "a {\n  b 1\n}\n".to_owned());
        assert_eq!(
            format_with(&source, LineEnding::Crlf).unwrap(),
            "a {\r\n    b 1\r\n}\r\n"
        );
    }

    #[test]
    fn slash_dashed_nodes_are_reindented_like_the_rest() {
        let input = "release \"1\" {\n/-tag \"y\"\n        tag \"z\"\n  /- metadata {\n changelog \"c\"\n      }\n  vars /-{\n  }\n}\n";
        assert_eq!(
            fmt(input),
            "release \"1\" {\n    /-tag \"y\"\n    tag \"z\"\n    /- metadata {\n        changelog \"c\"\n    }\n    vars /-{\n    }\n}\n"
        );
        // `/-` inside strings and comments is text, not a slash-dash.
        let input = "a \"/-x\" {\n // /- b\n    c \"/-\"\n}\n";
        assert_eq!(fmt(input), "a \"/-x\" {\n    // /- b\n    c \"/-\"\n}\n");
    }

    #[test]
    fn the_diff_shows_each_changed_line() {
        let diff = diff("r.kdl", "a {\n  b 1\n}\n", "a {\n    b 1\n}\n");
        assert_eq!(
            diff,
            "--- r.kdl\n+++ r.kdl (formatted)\n@@ -1,3 +1,3 @@\n a {\n-  b 1\n+    b 1\n }\n"
        );
    }

    #[test]
    fn formatted_text_is_a_fixed_point() {
        let once = fmt(include_str!("../../release.kdl"));
        assert_eq!(fmt(&once), once);
    }
}
