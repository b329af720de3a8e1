//! Stage 1: source text → KDL document, spans kept.

use std::sync::Arc;

use kdl::KdlDocument;
use miette::Severity;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};

/// Parses KDL 2.0; on failure returns every error the parser found, each carrying the file.
pub fn parse(source: &Arc<SourceFile>) -> Result<KdlDocument, Diagnostics> {
    KdlDocument::parse_v2(source.text()).map_err(|error| {
        let mut diagnostics: Diagnostics = error
            .diagnostics
            .into_iter()
            .map(|d| {
                let message = d.message.unwrap_or_else(|| "invalid KDL".to_owned());
                let mut diagnostic = Diagnostic::error("glc::parse", message)
                    .in_file(source)
                    .label(d.span, d.label.unwrap_or_else(|| "here".to_owned()))
                    .maybe_help(d.help);
                diagnostic.severity = d.severity;
                diagnostic
            })
            .collect();
        if diagnostics.is_empty() {
            diagnostics.push(
                Diagnostic::error("glc::parse", "the file is not valid KDL 2.0")
                    .in_file(source)
                    .label((0, 0), "while parsing this file"),
            );
        }
        // The parser may report one spot twice; keep one of each.
        diagnostics.dedup_by(|a, b| {
            a.message == b.message
                && a.labels.first().map(|l| l.span) == b.labels.first().map(|l| l.span)
        });
        if diagnostics.iter().all(|d| d.severity != Severity::Error) {
            diagnostics.push(
                Diagnostic::error("glc::parse", "the file is not valid KDL 2.0").in_file(source),
            );
        }
        diagnostics
    })
}
