//! `glc fmt`: re-indent a release file in place, or say how it would change.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use glc::ReleaseFile;
use glc::diagnostic::{Diagnostic, Diagnostics};

use super::{Context, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub file: PathBuf,
    /// Change nothing; print a diff of what would change and exit 1 if the file is not
    /// formatted.
    #[arg(long)]
    pub check: bool,
    /// How to end lines: as the file's first line ends, or LF, or CRLF.
    #[arg(long, value_enum, default_value_t = LineEndings::Keep)]
    pub line_endings: LineEndings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineEndings {
    Keep,
    Lf,
    Crlf,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let changed = format(&args.file, args.check, args.line_endings)?;
    cx.summary(
        "fmt",
        || serde_json::json!({ "file": args.file.display().to_string(), "changed": changed }),
    );
    Ok(())
}

/// Whether it changed the file.
fn format(file: &Path, check: bool, endings: LineEndings) -> Result<bool, Diagnostics> {
    let release = ReleaseFile::read(file)?;
    let ending = match endings {
        LineEndings::Keep => glc::front::fmt::LineEnding::Keep,
        LineEndings::Lf => glc::front::fmt::LineEnding::Lf,
        LineEndings::Crlf => glc::front::fmt::LineEnding::Crlf,
    };
    let formatted = glc::front::fmt::format_with(&release.source, ending)?;
    let text = release.source.text();
    if formatted == text {
        return Ok(false);
    }
    if check {
        write_stdout(&glc::front::fmt::diff(
            &file.display().to_string(),
            text,
            &formatted,
        ))?;
        return Err(vec![
            Diagnostic::error(
                "glc::fmt::unformatted",
                format!("{} is not formatted", file.display()),
            )
            .help(format!(
                "run `glc fmt {}`; the diff on standard output shows what it changes",
                file.display()
            )),
        ]);
    }
    glc::util::atomic::write_through(file, formatted.as_bytes()).map_err(|error| {
        vec![Diagnostic::error(
            "glc::io",
            format!("cannot write {}: {error}", file.display()),
        )]
    })?;
    Ok(true)
}
