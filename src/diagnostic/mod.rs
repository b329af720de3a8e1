//! glc's one error type: a diagnostic with a code, a message, labelled spans in a source file,
//! and help. Every stage returns these; `main` renders them for humans or as JSON lines.

pub mod codes;
pub mod error;

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, Severity, SourceSpan};
use serde::Serialize;

/// A source file as glc read it: the name it is shown under and its text, with where its
/// lines start, so that placing an error costs a search rather than a scan from the top.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    /// Offsets just after each LF: the lines `line_column` counts.
    lf_starts: Vec<usize>,
    /// Offsets of the lines as miette counts them (after LF, CRLF or a lone CR), from 0.
    miette_starts: Vec<usize>,
}

impl SourceFile {
    #[must_use]
    pub fn new(name: impl AsRef<str>, text: String) -> Arc<Self> {
        let bytes = text.as_bytes();
        let mut lf_starts = Vec::new();
        let mut miette_starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    lf_starts.push(i + 1);
                    miette_starts.push(i + 1);
                }
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => miette_starts.push(i + 1),
                _ => {}
            }
        }
        Arc::new(Self {
            name: name.as_ref().to_owned(),
            text,
            lf_starts,
            miette_starts,
        })
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let text = self.text();
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let breaks = self.lf_starts.partition_point(|&start| start <= offset);
        let line_start = if breaks == 0 {
            0
        } else {
            self.lf_starts[breaks - 1]
        };
        let column = text[line_start..offset].chars().count() + 1;
        (breaks + 1, column)
    }
}

/// miette reads the lines around a span by scanning from the top of the text; this hands it
/// the text from a few lines before the span instead and shifts what it finds back, so that
/// rendering many errors of a large file stays linear and looks exactly the same.
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let line = self
            .miette_starts
            .partition_point(|&start| start <= span.offset())
            .saturating_sub(1);
        let first = line.saturating_sub(context_lines_before + 1);
        let base = self.miette_starts[first];
        let shifted = SourceSpan::new((span.offset() - base).into(), span.len());
        let inner = self.text.as_bytes()[base..].read_span(
            &shifted,
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + base).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A labelled span; the first label of a diagnostic is its primary location.
#[derive(Debug, Clone)]
pub struct Label {
    pub span: SourceSpan,
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Stable, documented identifier such as `glc::front::schema::unknown-node`.
    pub code: &'static str,
    pub message: String,
    pub severity: Severity,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub source: Option<Arc<SourceFile>>,
}

impl Diagnostic {
    #[must_use]
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            severity: Severity::Error,
            labels: Vec::new(),
            help: None,
            source: None,
        }
    }

    /// A warning: reported, never fatal unless the user asks (`--deny-warnings`).
    #[must_use]
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    #[must_use]
    pub fn in_file(mut self, source: &Arc<SourceFile>) -> Self {
        self.source = Some(Arc::clone(source));
        self
    }

    #[must_use]
    pub fn label(mut self, span: impl Into<SourceSpan>, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span: span.into(),
            text: Some(text.into()),
        });
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// A wrong use of the command rather than a fault in its input: exit code 2.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        const USAGE: &str = "glc::usage";
        self.code
            .strip_prefix(USAGE)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    }

    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Where the diagnostic points: file, 1-based line and column, if it has a source.
    #[must_use]
    pub fn location(&self) -> Option<(&str, usize, usize)> {
        let source = self.source.as_ref()?;
        let (line, column) = self
            .labels
            .first()
            .map_or((1, 1), |label| source.line_column(label.span.offset()));
        Some((source.name(), line, column))
    }

    /// The diagnostic as one JSON object for CI annotations.
    #[must_use]
    pub fn to_json(&self) -> JsonDiagnostic<'_> {
        let location = self.location();
        JsonDiagnostic {
            severity: match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Advice => "advice",
            },
            code: self.code,
            message: &self.message,
            file: location.map(|(file, _, _)| file),
            line: location.map(|(_, line, _)| line),
            column: location.map(|(_, _, column)| column),
            help: self.help.as_deref(),
            labels: self
                .labels
                .iter()
                .filter_map(|label| {
                    let source = self.source.as_ref()?;
                    let (line, column) = source.line_column(label.span.offset());
                    Some(JsonLabel {
                        line,
                        column,
                        text: label.text.as_deref(),
                    })
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub severity: &'static str,
    pub code: &'a str,
    pub message: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub help: Option<&'a str>,
    pub labels: Vec<JsonLabel<'a>>,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel<'a> {
    pub line: usize,
    pub column: usize,
    pub text: Option<&'a str>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source
            .as_ref()
            .map(|source| source.as_ref() as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(
            |(i, label)| {
                if i == 0 {
                    LabeledSpan::new_primary_with_span(label.text.clone(), label.span)
                } else {
                    LabeledSpan::new_with_span(label.text.clone(), label.span)
                }
            },
        )))
    }
}

/// The diagnostics of a stage that failed; never empty when returned as an error.
pub type Diagnostics = Vec<Diagnostic>;

/// "did you mean `x`?" for a misspelled name, from the names allowed there.
#[must_use]
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance <= 2.max(candidate.len() / 3) && *distance < candidate.len().max(name.len())
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

pub use crate::util::text::list;

/// The error a command stopped by a signal ends with.
#[must_use]
pub fn interrupted() -> Diagnostic {
    Diagnostic::error(
        crate::util::interrupt::CODE,
        crate::util::interrupt::MESSAGE,
    )
}

/// Draws diagnostics as glc writes them on stderr: for people, or one JSON line each.
pub struct Renderer {
    /// `None`: JSON lines.
    handler: Option<miette::GraphicalReportHandler>,
}

impl Renderer {
    #[must_use]
    pub fn new(json: bool, color: bool) -> Self {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = (!json).then(|| {
            miette::GraphicalReportHandler::new_themed(theme)
                .with_width(100)
                .with_links(false)
                // Never at a hyphen: `--plain-http` or a cname split over two lines cannot be
                // copied.
                .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
                .with_break_words(false)
        });
        Self { handler }
    }

    /// One diagnostic, for people or as a JSON line.
    fn render(&self, out: &mut String, diagnostic: &Diagnostic) {
        match &self.handler {
            None => {
                if let Ok(line) = serde_json::to_string(&diagnostic.to_json()) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Some(handler) => {
                if handler.render_report(out, diagnostic).is_err() {
                    out.push_str(&format!("error: {}\n", diagnostic.message));
                }
                out.push('\n');
            }
        }
    }

    /// Each diagnostic in turn.
    #[must_use]
    pub fn each(&self, diagnostics: &[Diagnostic]) -> String {
        let mut out = String::new();
        for diagnostic in diagnostics {
            self.render(&mut out, diagnostic);
        }
        out
    }

    /// Each diagnostic, and for people a last line that counts the errors.
    #[must_use]
    pub fn report(&self, diagnostics: &[Diagnostic]) -> String {
        let mut out = self.each(diagnostics);
        if self.handler.is_some() {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let file = diagnostics
                .iter()
                .find_map(|d| d.source.as_ref())
                .map(|s| format!(" in {}", s.name()));
            let noun = if errors == 1 { "error" } else { "errors" };
            out.push_str(&format!(
                "glc: {errors} {noun}{}\n",
                file.unwrap_or_default()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miette::SourceCode;

    #[test]
    fn reading_a_span_from_its_lines_matches_reading_from_the_top() {
        let text = "a\nb\r\nc\rd\n\ne f g\r\n\rh\ni\nj\nk\n".repeat(3);
        let file = SourceFile::new("t.kdl", text.clone());
        for offset in 0..=text.len() {
            for len in [0, 1, 4, 9] {
                for context in [0, 1, 2, 3] {
                    let span = SourceSpan::new(offset.into(), len);
                    let ours = file.read_span(&span, context, context);
                    let theirs = text.read_span(&span, context, context);
                    match (ours, theirs) {
                        (Ok(ours), Ok(theirs)) => {
                            let case = format!("{offset} {len} {context}");
                            assert_eq!(ours.data(), theirs.data(), "{case}");
                            assert_eq!(ours.span(), theirs.span(), "{case}");
                            assert_eq!(ours.line(), theirs.line(), "{case}");
                            assert_eq!(ours.column(), theirs.column(), "{case}");
                            assert_eq!(ours.line_count(), theirs.line_count(), "{case}");
                        }
                        (Err(_), Err(_)) => {}
                        (ours, theirs) => panic!(
                            "{offset} {len} {context}: {:?} vs {:?}",
                            ours.is_ok(),
                            theirs.is_ok()
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn line_and_column_count_lf_lines_and_characters() {
        let file = SourceFile::new("t.kdl", "ab\nçd\r\nx".to_owned());
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(3), (2, 1));
        assert_eq!(file.line_column(5), (2, 2));
        assert_eq!(file.line_column(8), (3, 1));
        assert_eq!(file.line_column(100), (3, 2));
    }
}
