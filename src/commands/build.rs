//! `glc build`: the release's OCI image layout, whole or not at all; and what it and
//! `glc merge` say once the layout is in place.

use std::io::Write;
use std::path::{Path, PathBuf};

use glc::ReleaseFile;
use glc::diagnostic::Diagnostics;

use super::{
    CompileArgs, Context, PlacingArgs, load_private_key, progress_mode, summary_json, waiting,
    warn, write_digests,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub compile: CompileArgs,
    /// The layout directory to write (replaced if it is a layout glc wrote).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Replace the output even if it is not a layout glc wrote.
    #[arg(long)]
    pub force: bool,
    /// Also write every tag's digest, media type, size and destination as JSON (`-`:
    /// to standard output).
    #[arg(long, value_name = "FILE")]
    pub digests: Option<PathBuf>,
    /// Sign every manifest and index with this private key, in cosign's format, before
    /// the layout is put in place (password of a cosign key from `COSIGN_PASSWORD`).
    /// Not for a part (`--only`): sign the merge.
    #[arg(long, value_name = "FILE", conflicts_with = "only")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub placing: PlacingArgs,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let Args {
        compile: args,
        output,
        force,
        digests,
        sign_key,
        placing,
    } = args;
    let sign_key = sign_key
        .as_deref()
        .map(|key| load_private_key(key, cx.format))
        .transpose()?;
    let options = args.options()?;
    let release = ReleaseFile::read(&args.file)?;
    let build = glc::BuildOptions {
        output: output.clone(),
        force: *force,
        link: placing.link,
        cache: !placing.no_cache,
        progress: progress_mode(placing.quiet, cx.format),
        sign_key,
    };
    let outcome = release.build(&options, &build, |holder| {
        waiting(cx.format, output, holder);
    })?;
    warn(cx.format, &outcome.warnings);
    summarize(
        &Summary {
            command: "build",
            from: &args.file.display().to_string(),
            output,
            digests: digests.as_deref(),
            quiet: placing.quiet,
            inputs: "input files",
        },
        &outcome,
        cx,
    )
}

/// What a build or a merge says once its layout is in place.
pub struct Summary<'a> {
    pub command: &'static str,
    /// What the layout was made from: the release file, or the parts.
    pub from: &'a str,
    pub output: &'a Path,
    /// `--digests`.
    pub digests: Option<&'a Path>,
    pub quiet: bool,
    /// What the blobs were read from, in the text summary.
    pub inputs: &'a str,
}

/// Writes `--digests` and says what a build or merge did.
pub fn summarize(
    summary: &Summary<'_>,
    outcome: &glc::BuildOutcome,
    cx: Context,
) -> Result<(), Diagnostics> {
    write_digests(summary.digests, &outcome.report)?;
    if summary.quiet {
        return Ok(());
    }
    if cx.json() {
        summary_json(
            summary.command,
            cx.started,
            glc::build::summary::build_json(summary.from, summary.output, outcome),
        );
    } else {
        let text =
            glc::build::summary::build_text(summary.from, summary.output, outcome, summary.inputs);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
    Ok(())
}
