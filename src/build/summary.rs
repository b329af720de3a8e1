//! What `glc build` and `glc merge` say when they are done, as text for a person or as the
//! fields of the JSON summary line.

use std::path::Path;

use crate::BuildOutcome;
use crate::front::plan::{count, human_size};
use crate::oci::layout::Placement;

/// How an input reached the layout, in a word; `None` for a dry run.
fn placement_name(placement: Placement) -> Option<&'static str> {
    Some(match placement {
        Placement::Copied => "copied",
        Placement::Reused => "reused",
        Placement::Reflinked => "reflinked",
        Placement::HardLinked => "hard-linked",
        Placement::Duplicate => "duplicate",
        Placement::None => return None,
    })
}

/// The fields of the summary line: what was built from `from` into `output`.
#[must_use]
pub fn build_json(from: &str, output: &Path, outcome: &BuildOutcome) -> serde_json::Value {
    let report = &outcome.report;
    let placements: serde_json::Map<String, serde_json::Value> = report
        .placements
        .iter()
        .filter_map(|(placement, n)| Some((placement_name(*placement)?.to_owned(), (*n).into())))
        .collect();
    let tags: serde_json::Map<String, serde_json::Value> = report
        .tags
        .iter()
        .map(|(tag, target)| (tag.clone(), target.digest.clone().into()))
        .collect();
    serde_json::json!({
        "from": from,
        "output": output.display().to_string(),
        "up_to_date": outcome.up_to_date,
        "images": report.images,
        "attachments": report.attachments.len(),
        "containers": report.containers,
        "part_of": report.part_of.map(|(images, containers)| serde_json::json!({
            "images": images,
            "containers": containers,
        })),
        "blobs": report.blobs,
        "bytes": report.bytes,
        "placements": placements,
        "tags": tags,
    })
}

/// The lines for a person: what the layout holds, how its `inputs` ("input files") were
/// placed, and the release tags.
#[must_use]
pub fn build_text(from: &str, output: &Path, outcome: &BuildOutcome, inputs: &str) -> String {
    use std::fmt::Write;
    let report = &outcome.report;
    let mut text = String::new();
    let held = match report.part_of {
        None => format!(
            "{}, {}, {}",
            count(report.images, "cloud image"),
            count(report.attachments.len(), "attachment"),
            count(report.containers, "container"),
        ),
        Some((images, containers)) => format!(
            "a part: {} of {images} cloud images, {}, {} of {containers} containers",
            report.images,
            count(report.attachments.len(), "attachment"),
            report.containers,
        ),
    };
    let what = format!(
        "{held}; {} blobs, {}",
        report.blobs,
        human_size(report.bytes),
    );
    if outcome.up_to_date {
        let _ = writeln!(text, "{from} → {}: up to date ({what})", output.display());
    } else {
        let placed: Vec<String> = report
            .placements
            .iter()
            .filter_map(|(placement, n)| {
                let how = match placement {
                    Placement::Reused => "reused from the previous layout",
                    Placement::Duplicate => "identical to another input",
                    other => placement_name(*other)?,
                };
                Some(format!("{n} {how}"))
            })
            .collect();
        let _ = writeln!(text, "{from} → {}: {what}", output.display());
        if !placed.is_empty() {
            let _ = writeln!(text, "  {inputs}: {}", placed.join(", "));
        }
    }
    for (tag, target) in report
        .tags
        .iter()
        .filter(|(_, t)| t.artifact_type.as_deref() == Some(crate::build::assemble::RELEASE))
    {
        let _ = writeln!(text, "  {tag} → {}", target.digest);
    }
    text
}
