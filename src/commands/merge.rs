//! `glc merge`: the layouts of `glc build --only` joined into the layout of their union.

use std::path::PathBuf;

use glc::ReleaseFile;
use glc::diagnostic::Diagnostics;

use super::build::{Summary, summarize};
use super::{Context, PlacingArgs, derive_options, load_private_key, waiting, warn};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The partial layouts, in any order; with --push, the parts' tags in the registry,
    /// `REGISTRY/REPO:NAME`.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// The layout directory to write (replaced if it is a layout glc wrote).
    #[arg(short, long, value_name = "DIR", required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Merge parts pushed to a registry where they are, into this repository of the same
    /// registry (`REGISTRY/REPO`; `REGISTRY/REPO:NAME` for a merge with --partial): only the
    /// parts' records and documents are read, their blobs are mounted.
    #[arg(long, value_name = "REGISTRY/REPO", conflicts_with_all = ["output", "release", "force"])]
    pub push: Option<String>,
    #[command(flatten)]
    pub registry: super::RegistryArgs,
    /// With --push: requests at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// With --push: move a moving release tag (`latest`, the major version) to an older
    /// release than the one it points at.
    #[arg(long, requires = "push")]
    pub allow_older: bool,
    /// Replace the output even if it is not a layout glc wrote.
    #[arg(long)]
    pub force: bool,
    /// Accept parts that do not hold the whole release, and write a part of it.
    #[arg(long)]
    pub partial: bool,
    /// Refuse to write unless the merge is exactly the layout this release file gives,
    /// derived again from it and its inputs (every input hashed): forged or stale parts
    /// are caught.
    #[arg(long, value_name = "FILE", conflicts_with = "partial")]
    pub release: Option<PathBuf>,
    /// Also write every tag's digest, media type, size and destination as JSON (`-`:
    /// to standard output).
    #[arg(long, value_name = "FILE")]
    pub digests: Option<PathBuf>,
    /// Sign every manifest and index with this private key, in cosign's format, before
    /// the layout is put in place (password of a cosign key from `COSIGN_PASSWORD`).
    #[arg(long, value_name = "FILE", conflicts_with = "partial")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub placing: PlacingArgs,
}

/// What `--partial` asks of the parts.
pub(super) fn cover(partial: bool) -> glc::build::merge::Cover {
    if partial {
        glc::build::merge::Cover::Partial
    } else {
        glc::build::merge::Cover::Whole
    }
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    if let Some(destination) = &args.push {
        return super::merge_push::run(args, destination, cx);
    }
    let Args {
        parts,
        output,
        force,
        partial,
        release,
        digests,
        sign_key,
        placing,
        ..
    } = args;
    // Required by clap without --push.
    let Some(output) = output else {
        return Err(vec![
            glc::diagnostic::Diagnostic::error(
                "glc::usage",
                "merge needs -o DIR or --push REGISTRY/REPO",
            )
            .help("e.g. `glc merge -o out parts/*`"),
        ]);
    };
    let sign_key = sign_key
        .as_deref()
        .map(|key| load_private_key(key, cx.format))
        .transpose()?;
    let expected = match release {
        None => None,
        Some(file) => {
            let options = derive_options(false)?;
            let derived = glc::build::derive::derive(&ReleaseFile::read(file)?, &options)?;
            Some((file.display().to_string(), derived))
        }
    };
    let options = glc::build::merge::MergeOptions {
        expected,
        output: output.clone(),
        force: *force,
        link: placing.link,
        reuse: !placing.no_cache,
        cover: cover(*partial),
        sign_key,
    };
    let outcome = glc::build::merge::merge(parts, &options, |holder| {
        waiting(cx.format, output, holder);
    })?;
    warn(cx.format, &outcome.warnings);
    let from = match parts.as_slice() {
        [one] => one.display().to_string(),
        _ => format!("{} parts", parts.len()),
    };
    summarize(
        &Summary {
            command: "merge",
            from: &from,
            output,
            digests: digests.as_deref(),
            quiet: placing.quiet,
            inputs: "blobs of the parts",
        },
        &outcome,
        cx,
    )
}
