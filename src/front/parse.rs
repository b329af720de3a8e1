//! Stage 1: source text → KDL document, spans kept.

use std::sync::Arc;

use kdl::KdlDocument;
use miette::{Severity, SourceSpan};

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};

/// Parses KDL 2.0; on failure returns every error the parser found, each carrying the file,
/// reworded where the parser's words do not say how to fix the text.
pub fn parse(source: &Arc<SourceFile>) -> Result<KdlDocument, Diagnostics> {
    if let Some(brace) = too_deep(source.text()) {
        return Err(vec![
            Diagnostic::error(
                "glc::parse::too-deep",
                format!("blocks nest more than {MAX_DEPTH} deep"),
            )
            .in_file(source)
            .label((brace, 1), "this block is too deep")
            .help("a release file nests a few blocks; check for a `{` without its `}`"),
        ]);
    }
    KdlDocument::parse_v2(source.text()).map_err(|error| {
        let text = source.text();
        // The parser's words for `commit="…"` in place of a node are several errors at other
        // places; this one cause, said once a line, is the one to fix first.
        let nameless = properties_without_node(source);
        if !nameless.is_empty() {
            return nameless;
        }
        let unclosed_block = error
            .diagnostics
            .iter()
            .any(|d| d.message.as_deref() == Some(UNCLOSED_BLOCK));
        let mut diagnostics: Diagnostics = error
            .diagnostics
            .into_iter()
            // The parser reports an unclosed block twice, once at each end.
            .filter(|d| !(unclosed_block && d.message.as_deref() == Some(UNCLOSED_AFTER_NODES)))
            .map(|d| {
                let message = d.message.unwrap_or_else(|| "invalid KDL".to_owned());
                let label = d.label.unwrap_or_else(|| "here".to_owned());
                let mut diagnostic = reword(text, &message, d.span).unwrap_or_else(|| {
                    Diagnostic::error("glc::parse", message)
                        .label(d.span, label)
                        .maybe_help(d.help)
                });
                if diagnostic.message == UNCLOSED_BLOCK {
                    diagnostic = unclosed_block_hint(text, diagnostic);
                }
                diagnostic.severity = d.severity;
                diagnostic.in_file(source)
            })
            .collect();
        // The parser may report one spot many times over; keep one of each, in file order,
        // and no more than a person reads: past the first errors, the rest follow from them.
        let mut seen = std::collections::HashSet::new();
        diagnostics.retain(|d| {
            let span = d.labels.first().map(|l| (l.span.offset(), l.span.len()));
            seen.insert((d.message.clone(), span))
        });
        diagnostics.sort_by_key(|d| d.labels.first().map_or(0, |l| l.span.offset()));
        if diagnostics.len() > MAX_PARSE_ERRORS {
            let more = diagnostics.len() - MAX_PARSE_ERRORS;
            diagnostics.truncate(MAX_PARSE_ERRORS);
            let mut note = Diagnostic::error(
                "glc::parse",
                format!("{more} more syntax errors are not shown"),
            )
            .in_file(source)
            .help("fix the errors above first; later ones often follow from them");
            note.severity = Severity::Advice;
            diagnostics.push(note);
        }
        if diagnostics.iter().all(|d| d.severity != Severity::Error) {
            diagnostics.push(
                Diagnostic::error("glc::parse", "the file is not valid KDL 2.0")
                    .in_file(source)
                    .label((0, 0), "while parsing this file"),
            );
        }
        diagnostics
    })
}

/// `key="value"` (or `key = "value"`) where a node should start: a property with no node to
/// belong to, usually meant as the node `key "value"`. One diagnostic a line.
fn properties_without_node(source: &Arc<SourceFile>) -> Diagnostics {
    let text = source.text();
    let mut equals = Vec::new();
    scan_code(text, |i, byte| {
        if byte == b'=' {
            equals.push(i);
        }
        true
    });
    let mut diagnostics = Vec::new();
    let mut last_line = None;
    for at in equals {
        let node_start = text[..at].rfind(['\n', '{', ';']).map_or(0, |i| i + 1);
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let prefix = &text[node_start..at];
        let word = prefix.trim();
        let is_word = !word.is_empty()
            && !word
                .chars()
                .any(|c| c.is_whitespace() || "()[]{}/\\\"#;=".contains(c) || c.is_control());
        if !is_word || last_line == Some(line_start) {
            continue;
        }
        last_line = Some(line_start);
        let word_start = node_start + (prefix.len() - prefix.trim_start().len());
        let line_end = text[at..].find(['\n', '\r']).map_or(text.len(), |i| at + i);
        let value = text[at + 1..line_end].trim();
        let mut fixed = format!("{word} {value}");
        if fixed.chars().count() > 72 {
            fixed = format!("{}…", fixed.chars().take(71).collect::<String>());
        }
        diagnostics.push(
            Diagnostic::error(
                "glc::parse::property-without-node",
                format!("`{word}=` is a property where a node should start"),
            )
            .in_file(source)
            .label(
                (word_start, at + 1 - word_start),
                "a property needs a node before it",
            )
            .help(format!("write `{fixed}`: a node's name, then its values")),
        );
    }
    diagnostics
}

/// Syntax errors shown at most; the parser can report thousands for a mangled file.
const MAX_PARSE_ERRORS: usize = 50;

const UNCLOSED_BLOCK: &str = "No closing '}' for child block";
const UNCLOSED_AFTER_NODES: &str = "Closing '}' was not found after nodes";

fn slice(text: &str, span: SourceSpan) -> &str {
    let end = (span.offset() + span.len()).min(text.len());
    text.get(span.offset().min(end)..end).unwrap_or("")
}

/// glc's words for parser errors whose cause can be read off the text.
fn reword(text: &str, message: &str, span: SourceSpan) -> Option<Diagnostic> {
    let written = slice(text, span);
    match message {
        "Expected quoted string" => {
            let (at, escape) = invalid_escape(written)?;
            Some(
                Diagnostic::error("glc::parse", format!("invalid escape `{escape}` in a string"))
                    .label((span.offset() + at, escape.len()), "not a KDL escape")
                    .help("KDL escapes are \\n \\r \\t \\\\ \\\" \\b \\f \\s \\u{…}; write a backslash as \\\\, or use a raw string #\"…\"#"),
            )
        }
        "Expected identifier string" => {
            let word = written.split_whitespace().next().unwrap_or(written);
            let (message, help) = if word.starts_with("r\"") || word.starts_with("r#") {
                ("`r\"…\"` is a KDL 1 raw string".to_owned(), "KDL 2 writes raw strings as #\"…\"#".to_owned())
            } else if matches!(word, "null" | "true" | "false") {
                (format!("`{word}` is KDL 1; KDL 2 writes it #{word}"), format!("write #{word}, or \"{word}\" for the text"))
            } else {
                (
                    format!("`{word}` must be quoted"),
                    format!("a bare word may not contain spaces or any of ( ) [ ] {{ }} / \\ \" # ; =; write \"{word}\""),
                )
            };
            Some(Diagnostic::error("glc::parse", message).label(span, "not a valid bare word").help(help))
        }
        "Unexpected newline in single-line quoted string" => Some(
            Diagnostic::error("glc::parse", "the string is not closed on its line")
                .label(span, "no closing quote")
                .help("add the closing \" at the end of the string; for text over several lines use \"\"\""),
        ),
        _ => None,
    }
}

/// The first backslash escape KDL does not know, with its offset in `written`.
fn invalid_escape(written: &str) -> Option<(usize, &str)> {
    let mut chars = written.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        let (_, next) = chars.next()?;
        if !matches!(next, 'n' | 'r' | 't' | '\\' | '"' | 'b' | 'f' | 's' | 'u')
            && !next.is_whitespace()
        {
            return Some((at, &written[at..at + 1 + next.len_utf8()]));
        }
    }
    None
}

/// The parser knows only that the outermost block is unclosed; indentation usually shows
/// which inner block lost its `}`.
fn unclosed_block_hint(text: &str, mut diagnostic: Diagnostic) -> Diagnostic {
    "a `{` block is never closed".clone_into(&mut diagnostic.message);
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut open: Vec<(usize, usize)> = Vec::new(); // (offset of `{`, indent of its line)
    let mut offset = 0;
    let mut suspect = None;
    for line in text.split_inclusive('\n') {
        let code = line.split("//").next().unwrap_or("").trim_end();
        if code.trim_start().starts_with('}') {
            while let Some(&(brace, level)) = open.last() {
                if level > indent(line) {
                    suspect.get_or_insert(brace);
                    open.pop();
                } else {
                    break;
                }
            }
            open.pop();
        }
        if code.ends_with('{') {
            open.push((offset + code.len() - 1, indent(line)));
        }
        offset += line.len();
    }
    match suspect {
        Some(brace)
            if diagnostic
                .labels
                .first()
                .is_none_or(|l| l.span.offset() != brace) =>
        {
            diagnostic.label((brace, 1), "probably this block: no `}` at its indentation")
        }
        _ => diagnostic,
    }
    .help("add the missing `}`; every `{` needs one")
}

/// Deepest nesting of `{ … }` blocks a release file may have. The KDL parser recurses per
/// level, so a file of thousands of `{` would overflow the stack; real files nest five deep.
pub const MAX_DEPTH: usize = 64;

/// The offset of the first `{` nested deeper than [`MAX_DEPTH`], skipping strings and
/// comments as KDL writes them.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = None;
    scan_code(text, |i, byte| {
        match byte {
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    found = Some(i);
                    return false;
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        true
    });
    found
}

/// Calls `visit` with the offset of every byte outside strings and comments, in order, until
/// it returns false.
pub(crate) fn scan_code(text: &str, mut visit: impl FnMut(usize, u8) -> bool) {
    let bytes = text.as_bytes();
    let mut comments = 0usize; // nesting of /* */
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if comments > 0 {
            if rest.starts_with(b"*/") {
                comments -= 1;
                i += 2;
            } else if rest.starts_with(b"/*") {
                comments += 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match bytes[i] {
            b'/' if rest.starts_with(b"//") => {
                i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            }
            b'/' if rest.starts_with(b"/*") => {
                comments += 1;
                i += 2;
            }
            b'#' | b'"' => {
                let hashes = rest.iter().take_while(|&&b| b == b'#').count();
                let after = &rest[hashes..];
                if !after.starts_with(b"\"") {
                    i += hashes.max(1);
                    continue;
                }
                let quotes = if after.starts_with(b"\"\"\"") { 3 } else { 1 };
                let mut closing = vec![b'"'; quotes];
                closing.extend(std::iter::repeat_n(b'#', hashes));
                let body = hashes + quotes;
                let mut j = body;
                let mut end = None;
                while j < rest.len() {
                    // A one-line string ends at the line's end, closed or not: the parser
                    // reports it and goes on reading what follows as nodes.
                    if quotes == 1 && rest[j] == b'\n' {
                        end = Some(j);
                        break;
                    }
                    if hashes == 0 && rest[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if rest[j..].starts_with(&closing) {
                        end = Some(j + closing.len());
                        break;
                    }
                    j += 1;
                }
                i += end.unwrap_or(rest.len());
            }
            byte => {
                if !visit(i, byte) {
                    return;
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_blocks_but_not_braces_in_strings_or_comments() {
        let nested = |n: usize| format!("{}{}", "a {".repeat(n), "}".repeat(n));
        assert_eq!(too_deep(&nested(MAX_DEPTH)), None);
        assert_eq!(too_deep(&nested(MAX_DEPTH + 1)), Some(3 * MAX_DEPTH + 2));
        let braces = "{".repeat(200);
        for hidden in [
            format!("a \"{braces}\""),
            format!("a #\"{braces}\"#"),
            format!("a \"\"\"\n{braces}\n\"\"\""),
            format!("// {braces}\na"),
            format!("/* /* {braces} */ */ a"),
            format!("a \"\\\"{braces}\""),
        ] {
            assert_eq!(too_deep(&hidden), None, "{hidden}");
        }
        // An unclosed one-line string does not hide the blocks on the lines after it.
        assert!(too_deep(&format!("a \"open\n{}", "b {".repeat(MAX_DEPTH + 1))).is_some());
    }

    #[test]
    fn syntax_errors_are_shown_once_each_in_file_order_and_at_most_fifty() {
        let text = "a \"\\q\"\n".repeat(80);
        let errors = parse(&SourceFile::new("many.kdl", text)).unwrap_err();
        assert_eq!(errors.len(), MAX_PARSE_ERRORS + 1);
        let offsets: Vec<usize> = errors[..MAX_PARSE_ERRORS]
            .iter()
            .map(|d| d.labels[0].span.offset())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        assert_eq!(
            errors[MAX_PARSE_ERRORS].message,
            "30 more syntax errors are not shown"
        );
        assert_eq!(errors[MAX_PARSE_ERRORS].severity, Severity::Advice);
    }

    #[test]
    fn a_deeply_nested_file_is_an_error_not_a_stack_overflow() {
        let text = format!(
            "release \"1\" {{{}{}}}",
            " a {".repeat(100_000),
            "}".repeat(100_000)
        );
        let errors = parse(&SourceFile::new("deep.kdl", text)).unwrap_err();
        assert_eq!(errors[0].code, "glc::parse::too-deep");
    }
}
