//! `glc merge --push`: parts pushed to a registry merged where they are.

use std::collections::BTreeMap;

use glc::build::merge::registry::PartRef;
use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::registry::push::PushedTag;

use super::merge::Args;
use super::{Context, load_private_key, progress_mode, summary_json, tag_line, write_digests};

pub fn run(args: &Args, destination: &str, cx: Context) -> Result<(), Diagnostics> {
    let usage = |e: String, example: &str| {
        vec![Diagnostic::error("glc::usage", e).help(format!("e.g. `{example}`"))]
    };
    let (repository, part_tag) = super::push::split_part_tag(destination);
    let (host, repository) = glc::registry::push::parse_destination(repository).map_err(|e| {
        usage(
            e,
            "glc merge --push 127.0.0.1:5000/gardenlinux 127.0.0.1:5000/gardenlinux:part-aws …",
        )
    })?;
    let parts = args
        .parts
        .iter()
        .map(|part| {
            PartRef::parse(&part.to_string_lossy()).map_err(|e| {
                usage(
                    e,
                    "glc merge --push 127.0.0.1:5000/gardenlinux 127.0.0.1:5000/gardenlinux:part-aws",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sign_key = args
        .sign_key
        .as_deref()
        .map(|key| load_private_key(key, cx.format))
        .transpose()?;
    let quiet = args.placing.quiet;
    let request = glc::registry::push::Request {
        host,
        repository,
        tags: Vec::new(),
        jobs: usize::from(args.jobs),
        chunk: 16 * 1024 * 1024,
        progress: progress_mode(true, cx.format),
        part_tag: part_tag.map(str::to_owned),
        allow_older: args.allow_older,
        options: args.registry.clone().resumable(),
    };
    let mut on_tag = tag_line(cx, quiet);
    let merged = glc::build::merge::registry::merge(
        &parts,
        &request,
        super::merge::cover(args.partial),
        sign_key.as_deref(),
        &mut on_tag,
    )?;
    let report: BTreeMap<&str, &PushedTag> = merged
        .outcome
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t))
        .collect();
    write_digests(
        args.digests.as_deref(),
        &serde_json::json!({ "tags": report }),
    )?;
    if quiet {
        return Ok(());
    }
    let what = if merged.whole {
        format!("release {}", merged.version)
    } else {
        format!("a part of release {}", merged.version)
    };
    if cx.json() {
        let mut fields = merged.outcome.summary_json(destination);
        if let Some(object) = fields.as_object_mut() {
            object.insert("parts".to_owned(), merged.parts.into());
            object.insert("version".to_owned(), merged.version.clone().into());
            object.insert("whole".to_owned(), merged.whole.into());
            object.insert("bytes_read".to_owned(), merged.bytes_read.into());
        }
        summary_json("merge", cx.started, fields);
    } else {
        eprintln!(
            "merged {} parts into {what}, reading {} bytes of records and documents; {}",
            merged.parts,
            merged.bytes_read,
            merged
                .outcome
                .summary_text(destination, cx.started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
