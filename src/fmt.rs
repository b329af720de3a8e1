//! `glc fmt`: re-indents a release file and tidies blank lines and trailing spaces, keeping
//! everything else as written: comments, quoting, string forms, property order.

use std::collections::BTreeMap;
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::parse::parse;

const INDENT: &str = "    ";

/// The formatted text of `source`, or the parse errors that prevent formatting it.
pub fn format(source: &Arc<SourceFile>) -> Result<String, Diagnostics> {
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
    let mut plan = Layout::default();
    plan.document(&document, 0, text);
    let formatted = plan.apply(text);
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

fn canonical(document: &KdlDocument) -> String {
    let mut document = document.clone();
    document.clear_format_recursive();
    document.to_string()
}

/// Line numbers that start a node or close a block, with the depth they belong at, and
/// lines that lie inside multi-line values (left exactly as written).
#[derive(Default)]
struct Layout {
    indent: BTreeMap<usize, usize>,
    verbatim: Vec<(usize, usize)>,
}

impl Layout {
    fn document(&mut self, document: &KdlDocument, depth: usize, text: &str) {
        for node in document.nodes() {
            self.node(node, depth, text);
        }
    }

    fn node(&mut self, node: &KdlNode, depth: usize, text: &str) {
        let start = node.span().offset();
        if starts_line(text, start) {
            self.indent.insert(line_of(text, start), depth);
        }
        // Multi-line strings, as values or as names, keep every line as written.
        let spans =
            std::iter::once(node.name().span()).chain(node.ty().map(kdl::KdlIdentifier::span));
        for span in spans.chain(node.entries().iter().map(kdl::KdlEntry::span)) {
            if text[span.offset()..span.offset() + span.len()].contains('\n') {
                self.verbatim.push((
                    line_of(text, span.offset()) + 1,
                    line_of(text, span.offset() + span.len()),
                ));
            }
        }
        if let Some(children) = node.children() {
            self.document(children, depth + 1, text);
            let block_end = node.span().offset() + node.span().len();
            if let Some(close) = text[..block_end.min(text.len())].rfind('}')
                && starts_line(text, close)
            {
                self.indent.insert(line_of(text, close), depth);
            }
        }
    }

    fn apply(&self, text: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let mut out: Vec<String> = Vec::with_capacity(lines.len());
        for (number, line) in lines.iter().enumerate() {
            if self
                .verbatim
                .iter()
                .any(|(from, to)| (*from..=*to).contains(&number))
            {
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
        let mut formatted = out.join("\n");
        formatted.push('\n');
        formatted
    }
}

/// Replaces `path` with `bytes` so that readers see the old file or the new one, never half.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    write_with(path, bytes, Some(permissions))
}

/// Like [`write_atomically`], for a file that may not exist yet.
pub fn write_new_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    write_with(path, bytes, permissions)
}

fn write_with(
    path: &std::path::Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    if let Some(permissions) = permissions {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn starts_line(text: &str, offset: usize) -> bool {
    text[..offset]
        .rsplit('\n')
        .next()
        .is_none_or(|before| before.trim().is_empty())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count()
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
        assert_eq!(fmt("a 1\r\nb 2\r\n"), "a 1\nb 2\n");
    }

    #[test]
    fn formatted_text_is_a_fixed_point() {
        let once = fmt(include_str!("../release.kdl"));
        assert_eq!(fmt(&once), once);
    }
}
