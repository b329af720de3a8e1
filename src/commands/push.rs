//! `glc push`: a layout's tags, with everything reachable from them, into a registry
//! repository, byte for byte.

use std::collections::BTreeMap;
use std::path::PathBuf;

use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::registry::push::PushedTag;

use super::{Context, RegistryArgs, progress_mode, summary_json, tag_line, write_digests};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The layout directory.
    pub layout: PathBuf,
    /// Where to: `REGISTRY/REPO`, e.g. `ghcr.io/gardenlinux/gardenlinux`; for a part
    /// (`glc build --only`), `REGISTRY/REPO:NAME`, the tag its part record goes up under.
    #[arg(value_name = "REGISTRY/REPO[:NAME]")]
    pub destination: String,
    /// Move a moving release tag (`latest`, the major version) to an older release than
    /// the one it points at.
    #[arg(long)]
    pub allow_older: bool,
    /// Push only this tag of the layout (and what hangs on it); repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Blobs uploaded at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Also write every pushed tag's digest, media type, size and destination as JSON
    /// (`-`: to standard output).
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
    let (destination, part_tag) = split_part_tag(&args.destination);
    let (host, repository) = glc::registry::push::parse_destination(destination).map_err(|e| {
        vec![
            Diagnostic::error("glc::usage", e)
                .help("e.g. `glc push out 127.0.0.1:5000/gardenlinux`"),
        ]
    })?;
    let request = glc::registry::push::Request {
        host,
        repository,
        tags: args.tags.clone(),
        part_tag: part_tag.map(str::to_owned),
        allow_older: args.allow_older,
        jobs: usize::from(args.jobs),
        chunk: args.chunk_size.max(1),
        progress: progress_mode(args.quiet, cx.format),
        options: args.registry.clone().resumable(),
    };
    let mut on_tag = tag_line(cx, args.quiet);
    let outcome = glc::registry::push::push(&args.layout, &request, &mut on_tag)
        .map_err(|e| vec![Diagnostic::from(e)])?;
    let report: BTreeMap<&str, &PushedTag> =
        outcome.tags.iter().map(|t| (t.tag.as_str(), t)).collect();
    let report = serde_json::json!({ "tags": report });
    write_digests(args.digests.as_deref(), &report)?;
    if args.quiet {
        return Ok(());
    }
    if cx.json() {
        summary_json("push", cx.started, outcome.summary_json(&args.destination));
    } else {
        eprintln!(
            "{}",
            outcome.summary_text(&args.destination, cx.started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}

/// `REGISTRY/REPO:NAME` → (`REGISTRY/REPO`, `NAME`); a `:` before the last `/` is a port.
pub fn split_part_tag(destination: &str) -> (&str, Option<&str>) {
    let last = destination.rfind('/').map_or(0, |i| i + 1);
    match destination[last..].find(':') {
        Some(at) => (
            &destination[..last + at],
            Some(&destination[last + at + 1..]),
        ),
        None => (destination, None),
    }
}
