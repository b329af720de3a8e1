//! glc's one error type: a diagnostic with a code, a message, labelled spans in a source file,
//! and help. Every stage returns these; `main` renders them for humans or as JSON lines.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, Severity, SourceSpan};
use serde::Serialize;

/// A source file as glc read it: the name it is shown under and its text.
#[derive(Debug)]
pub struct SourceFile {
    named: NamedSource<String>,
}

impl SourceFile {
    #[must_use]
    pub fn new(name: impl AsRef<str>, text: String) -> Arc<Self> {
        Arc::new(Self {
            named: NamedSource::new(name, text),
        })
    }

    #[must_use]
    pub fn name(&self) -> &str {
        self.named.name()
    }

    #[must_use]
    pub fn text(&self) -> &str {
        self.named.inner()
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let text = self.text();
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
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
    /// Stable, documented identifier such as `glc::schema::unknown-node`.
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
        self.code.starts_with("glc::usage::")
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
            .map(|source| &source.named as &dyn miette::SourceCode)
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

/// `a`, `b` and `c` — for listing what is allowed.
#[must_use]
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("`{}`", item.as_ref()))
        .collect();
    match quoted.as_slice() {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
