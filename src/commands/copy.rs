//! `glc copy`: a tag's graph from one repository or registry to another.

use std::collections::BTreeMap;
use std::path::PathBuf;

use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::registry::copy::SourceRef;
use glc::registry::push::PushedTag;

use super::{Context, RegistryArgs, progress_mode, summary_json, tag_line, write_digests};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to copy: `REGISTRY/REPO:TAG`, e.g. `ghcr.io/gardenlinux/nightly:1877.3`.
    #[arg(value_name = "REGISTRY/REPO:TAG")]
    pub source: String,
    /// Where to: `REGISTRY/REPO`, e.g. `ghcr.io/gardenlinux/gardenlinux`.
    #[arg(value_name = "REGISTRY/REPO")]
    pub destination: String,
    /// Move a moving release tag (`latest`, the major version) to an older release than
    /// the one it points at.
    #[arg(long)]
    pub allow_older: bool,
    /// Blobs mounted or streamed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Also write every tag's digest, media type, size and destination as JSON (`-`: to
    /// standard output).
    #[arg(long, value_name = "FILE")]
    pub digests: Option<PathBuf>,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
    /// Blobs larger than this go up in chunks of this size.
    #[arg(long, hide = true, default_value_t = 16 * 1024 * 1024)]
    pub chunk_size: u64,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let usage = |e: String| {
        vec![
            Diagnostic::error("glc::usage", e)
                .help("e.g. `glc copy 127.0.0.1:5000/nightly:1877.3 127.0.0.1:5000/releases`"),
        ]
    };
    let source = SourceRef::parse(&args.source).map_err(usage)?;
    let (host, repository) =
        glc::registry::push::parse_destination(&args.destination).map_err(usage)?;
    let request = glc::registry::push::Request {
        host,
        repository,
        tags: Vec::new(),
        part_tag: None,
        allow_older: args.allow_older,
        jobs: usize::from(args.jobs),
        chunk: args.chunk_size.max(1),
        progress: progress_mode(args.quiet, cx.format),
        options: args.registry.clone().resumable(),
    };
    let mut on_tag = tag_line(cx, args.quiet);
    let copied = glc::registry::copy::copy(&source, &request, &mut on_tag)
        .map_err(|e| vec![Diagnostic::from(e)])?;
    let report: BTreeMap<&str, &PushedTag> = copied
        .outcome
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t))
        .collect();
    write_digests(
        args.digests.as_deref(),
        &serde_json::json!({ "tags": report }),
    )?;
    if args.quiet {
        return Ok(());
    }
    if cx.json() {
        summary_json(
            "copy",
            cx.started,
            copied.summary_json(&args.source, &args.destination),
        );
    } else {
        eprintln!(
            "{}",
            copied.summary_text(
                &args.source,
                &args.destination,
                cx.started.elapsed().as_secs_f64()
            )
        );
    }
    Ok(())
}
