//! Every input file a release names, listed from the release alone, none of them looked at:
//! `glc plan --inputs`, for CI to know what to download or produce before a build.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use super::{Bindings, ExpandedPlan, PlannedFile};
use crate::front::role::{ROOTFS_MEDIA_TYPES, Role};

/// What the release expects at an input's path, by its node and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expects {
    /// A disk image or boot medium of Garden Linux's (.raw, .qcow2, .vhd, .vmdk, .ova,
    /// .gcpimage.tar.gz, .iso, .pxe.tar.gz): copied as it is, never looked into.
    DiskImage,
    /// A tar archive (.tar, .esp.tar, or a tar's `media-type=`).
    Tar,
    /// A directory, packed as a tar: its name has no media type, and its node takes one.
    Directory,
    /// Any other regular file.
    File,
    /// An OCI image layout directory or an OCI archive: a container's `from`.
    OciSource,
}

/// `glc plan --inputs --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    pub release: String,
    /// One a use, in the order of `glc plan`: metadata, each image's layers and attachments,
    /// then the containers' sources.
    pub inputs: Vec<Input>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// As rendered, relative to the release file's directory (as `glc plan --json` has it).
    pub path: String,
    /// As glc opens it from the working directory: under the release file's directory.
    pub file: String,
    pub role: Role,
    /// The cname of the image whose file it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// An attachment's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
    /// The name of the container whose source it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `ref=`: the name of the image the container source must hold.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `default=#true`: the source must hold a linux image.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// `null` where only the file will tell: a container source's, or a name of no known
    /// media type (the build then asks for `media-type=`).
    pub media_type: Option<String>,
    pub expects: Expects,
    /// The `if="…"` that chose it.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `feature-set="KEY"`: the build reads the line `KEY=…` of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_set: Option<String>,
    /// The image's template values from its combination (a flavor's `target`, `features`,
    /// `arch`, `category`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Bindings>,
}

/// The inputs of `plan`, whose paths are relative to `base`, the release file's directory.
#[must_use]
pub fn inputs(plan: &ExpandedPlan, base: &Path) -> Inputs {
    let file = |path: &str| {
        if base == Path::new(".") {
            path.to_owned()
        } else {
            base.join(path).to_string_lossy().into_owned()
        }
    };
    let of = |planned: &PlannedFile| {
        let (media_type, expects) = expects(planned);
        Input {
            path: planned.path.clone(),
            file: file(&planned.path),
            role: planned.role,
            image: None,
            attachment: None,
            container: None,
            reference: None,
            default: false,
            media_type,
            expects,
            condition: planned.condition.clone(),
            feature_set: planned.feature_set.as_ref().map(|(key, _)| key.clone()),
            matrix: None,
        }
    };
    let mut inputs: Vec<Input> = plan
        .metadata
        .changelog
        .iter()
        .chain(&plan.metadata.files)
        .map(of)
        .collect();
    for image in &plan.images {
        let attachments = image
            .attachments
            .iter()
            .map(|a| (Some(a.kind.clone()), &a.file));
        for (attachment, planned) in image.layers().map(|f| (None, f)).chain(attachments) {
            inputs.push(Input {
                image: Some(image.cname.clone()),
                attachment,
                matrix: Some(image.matrix.clone()),
                ..of(planned)
            });
        }
    }
    for container in &plan.containers {
        inputs.push(Input {
            container: Some(container.name.clone()),
            reference: container.reference.clone(),
            default: container.default,
            media_type: None,
            expects: Expects::OciSource,
            ..of(&container.from)
        });
    }
    Inputs {
        release: plan.release.version.clone(),
        inputs,
    }
}

/// The media type the release gives a file whatever is on disk, and what it expects there.
fn expects(file: &PlannedFile) -> (Option<String>, Expects) {
    match file.named_media_type() {
        Some(media_type) => {
            // `….tar` (Garden Linux's, OCI's layer) or `application/x-tar`.
            let tar = media_type
                .rsplit_once(['.', '-'])
                .is_some_and(|(_, last)| last.eq_ignore_ascii_case("tar"));
            let expects = if tar {
                Expects::Tar
            } else if ROOTFS_MEDIA_TYPES.contains(&media_type.as_str()) {
                Expects::DiskImage
            } else {
                Expects::File
            };
            (Some(media_type), expects)
        }
        None => match file.role.directory_media_type() {
            Some(media_type) => (Some(media_type.to_owned()), Expects::Directory),
            None => (None, Expects::File),
        },
    }
}

/// `glc plan --inputs`: each file once, a line, as opened from the working directory.
#[must_use]
pub fn render_inputs_text(inputs: &Inputs) -> String {
    let mut seen = HashSet::new();
    let mut out = String::new();
    for input in &inputs.inputs {
        if seen.insert(input.file.as_str()) {
            out.push_str(&input.file);
            out.push('\n');
        }
    }
    out
}
