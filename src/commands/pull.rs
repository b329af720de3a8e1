//! `glc pull`: tags of a registry repository, with everything reachable from them, their
//! referrers and signatures, into a layout, digests unchanged.

use std::path::PathBuf;

use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::pull::{PulledTag, Request};

use super::{Context, RegistryArgs, emit_json, progress_mode, summary_json, waiting};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to pull: `REGISTRY/REPO:TAG`, e.g. `ghcr.io/gardenlinux/gardenlinux:1877.3`;
    /// several tags of one repository may be given.
    #[arg(required = true, value_name = "REGISTRY/REPO:TAG")]
    pub sources: Vec<String>,
    /// The layout directory to write (replaced if it is a layout glc wrote).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Replace the output even if it is not a layout glc wrote.
    #[arg(long)]
    pub force: bool,
    /// Tag in the layout only the tags given (and signature tags), not every other tag
    /// of the repository that points at what was pulled (found with a HEAD per tag).
    #[arg(long)]
    pub only_named_tags: bool,
    /// Blobs downloaded at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let output = &args.output;
    let (host, repository, tags) = one_repository(&args.sources)?;
    let request = Request {
        host,
        repository,
        tags,
        jobs: usize::from(args.jobs),
        options: args.registry.clone().options(),
        progress: progress_mode(args.quiet, cx.format),
        other_tags: !args.only_named_tags,
        force: args.force,
    };
    let mut on_tag = |tag: &PulledTag| {
        if cx.json() && !args.quiet {
            emit_json(&serde_json::json!({
                "type": "tag",
                "tag": tag.tag,
                "digest": tag.digest.to_string(),
                "mediaType": tag.media_type,
                "size": tag.size,
                "named": tag.named,
            }));
        }
    };
    let outcome = glc::pull::pull(
        output,
        &request,
        |holder| waiting(cx.format, output, holder),
        &mut on_tag,
    )?;
    if args.quiet {
        return Ok(());
    }
    let source = format!("{}/{}", request.host, request.repository);
    if cx.json() {
        summary_json("pull", cx.started, outcome.summary_json(&source, output));
    } else {
        eprintln!(
            "{}",
            outcome.summary_text(&source, output, cx.started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}

/// The host, repository and tags the sources name: one repository, each tag once, in the
/// order given.
fn one_repository(sources: &[String]) -> Result<(String, String, Vec<String>), Diagnostics> {
    let mut named: Option<(String, String)> = None;
    let mut tags = Vec::new();
    for source in sources {
        let (host, repository, tag) = glc::pull::parse_source(source).map_err(|e| {
            vec![
                Diagnostic::error("glc::usage", e)
                    .help("e.g. `glc pull 127.0.0.1:5000/gardenlinux:1877.3 -o mirror`"),
            ]
        })?;
        match &named {
            None => named = Some((host, repository)),
            Some((first_host, first_repository))
                if (&host, &repository) != (first_host, first_repository) =>
            {
                return Err(vec![
                    Diagnostic::error(
                        "glc::usage",
                        format!(
                            "{source} is in another repository than {first_host}/{first_repository}: one pull reads one repository",
                        ),
                    )
                    .help("pull each repository into a layout of its own"),
                ]);
            }
            Some(_) => {}
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let (host, repository) = named.unwrap_or_default();
    Ok((host, repository, tags))
}
