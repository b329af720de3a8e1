//! `glc merge`: partial layouts (written by `glc build --only`) → the layout a build of their
//! union writes, byte for byte.
//!
//! Each part carries a record of its assembly (see `assemble`): the release, the cloud images
//! it holds with every layer's digest, and every container's descriptor. The parts must agree
//! on everything but which images and containers they hold; their union is assembled by the
//! same code as a build, from blobs copied out of the parts and checked against their digests.

pub mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::build::assemble::{
    self, Assembly, BuildReport, ImageEntry, Layer, PART, PART_FORMAT, PART_RECORD, PartRecord,
};
use crate::diagnostic::{Diagnostic, Diagnostics, list};
use crate::front::plan::{ClientNames, Part, SourceKind};
use crate::oci::Descriptor;
use crate::oci::Digest as OciDigest;
use crate::oci::import::{Importer, reusable};
use crate::oci::layout::{Input, InputError, LayoutWriter, Placement, is_sha256};
use crate::oci::source::{OciSource, SourceError};
use crate::oci::store::{Store as _, StoreError};
use crate::oci::walk::{self, Child};
use crate::{BuildOutcome, write_layout};

/// Largest part record glc reads: about 3 KiB a cloud image.
pub(crate) const MAX_RECORD: u64 = 256 << 20;

/// Where and how `glc merge` writes.
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
#[derive(Debug, Clone)]
pub struct MergeOptions {
    pub output: PathBuf,
    /// Replace a target that is not a layout glc wrote.
    pub force: bool,
    /// Link the parts' blobs into the layout (reflink, else hard link) after checking them.
    pub link: bool,
    /// Take blobs the target already holds from it, and leave a target that already is the
    /// merge alone.
    pub reuse: bool,
    /// Whether the parts must cover the whole release, or may make a part of it.
    pub cover: Cover,
    /// The layout the release file gives (`--release`): the merge must be exactly it.
    pub expected: Option<(String, BuildReport)>,
    /// Sign the merged layout with this key before it is put in place (`--sign-key`).
    pub sign_key: Option<std::sync::Arc<crate::sign::keys::PrivateKey>>,
}

/// What the parts of a merge must hold of their release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// The whole release: a merge that lacks a cloud image or a container is refused.
    Whole,
    /// Any of it (`--partial`): a merge of less than the whole release is a part.
    Partial,
}

/// A part's record, read and checked on its own: what the merge compares, wherever the part
/// is (a layout, or a tag of a registry).
pub struct PartRead {
    /// As given on the command line, for messages.
    pub name: String,
    pub assembly: Assembly,
    /// The release's part this is.
    pub part: Part,
    /// Its tags: name → digest.
    pub tags: BTreeMap<String, String>,
}

/// A partial layout, read.
struct PartLayout {
    record: PartRead,
    path: PathBuf,
    source: OciSource,
}

/// The format of a part record, read before the record itself.
#[derive(serde::Deserialize)]
struct Format {
    format: u32,
}

/// Merges `parts` into `options.output`, whole or not at all.
pub fn merge(
    parts: &[PathBuf],
    options: &MergeOptions,
    waiting: impl FnOnce(&str),
) -> Result<BuildOutcome, Diagnostics> {
    crate::refuse_overlap(
        &options.output,
        parts
            .iter()
            .map(|part| (format!("the part {}", part.display()), part.as_path())),
    )?;
    let mut read = Vec::new();
    let mut errors = Vec::new();
    for path in parts {
        match read_part(path) {
            Ok(part) => read.push(part),
            Err(error) => errors.extend(error),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let records: Vec<&PartRead> = read.iter().map(|p| &p.record).collect();
    let (assembly, providers) = union(&records, options.cover)?;
    write_layout(
        &options.output,
        crate::Placing {
            force: options.force,
            reuse_previous: options.reuse,
            unchanged: if options.reuse {
                crate::Unchanged::DryFirst
            } else {
                crate::Unchanged::AfterWriting
            },
            sign_key: options.sign_key.as_deref(),
        },
        waiting,
        |layout, previous| {
            let placements = copy_blobs(
                &assembly,
                &providers,
                &read,
                &layout,
                previous,
                options.link,
            )?;
            let report = assemble::finish(&assembly, layout, placements)?;
            match &options.expected {
                Some((release, expected)) if expected.index != report.index => {
                    Err(not_the_release(release, expected, &report))
                }
                _ => Ok(report),
            }
        },
    )
}

/// The parts do not give the layout their release file gives: which tags differ.
fn not_the_release(release: &str, expected: &BuildReport, merged: &BuildReport) -> Diagnostics {
    let mut differing: Vec<String> = Vec::new();
    for (tag, wanted) in &expected.tags {
        match merged.tags.get(tag) {
            Some(found) if found.digest == wanted.digest => {}
            Some(found) => differing.push(format!(
                "`{tag}` is {} from the parts, {} from {release}",
                found.digest, wanted.digest
            )),
            None => differing.push(format!("`{tag}` is missing from the parts")),
        }
    }
    for tag in merged
        .tags
        .keys()
        .filter(|t| !expected.tags.contains_key(*t))
    {
        differing.push(format!("`{tag}` is not a tag of {release}"));
    }
    if differing.is_empty() {
        differing.push("the attachments differ".to_owned());
    }
    vec![
        Diagnostic::error(
            "glc::merge::not-the-release",
            format!(
                "the parts do not give the layout {release} gives: {}",
                differing.join("; ")
            ),
        )
        .help(format!(
            "a part was built from other inputs or changed since; nothing was written. `glc verify LAYOUT --release {release}` on a full build names the blob that differs"
        )),
    ]
}

fn part_error(name: &str, message: impl std::fmt::Display, help: &str) -> Diagnostics {
    vec![
        Diagnostic::error("glc::merge::part", format!("`{name}`: {message}")).help(help.to_owned()),
    ]
}

/// Opens a part and reads its record, checked against its digest.
fn read_part(path: &Path) -> Result<PartLayout, Diagnostics> {
    const BUILD_IT_AGAIN: &str = "the part is damaged, or was written by another version of glc; build it again with `glc build --only …`";
    let name = path.display().to_string();
    let source = OciSource::open(path, SourceKind::OciLayout).map_err(|e| {
        part_error(
            &name,
            format!("not an OCI image layout: {e}"),
            "pass the directories that `glc build --only …` wrote",
        )
    })?;
    let records: Vec<&Descriptor> = source
        .manifests
        .iter()
        .filter(|d| d.artifact_type.as_deref() == Some(PART))
        .collect();
    let record = match records.as_slice() {
        [one] => *one,
        [] if source
            .manifests
            .iter()
            .any(|d| d.artifact_type.as_deref() == Some(assemble::RELEASE)) =>
        {
            return Err(part_error(
                &name,
                "this is the layout of a whole release, not a part",
                "merge takes layouts written by `glc build --only …`; a whole release needs no merge",
            ));
        }
        [] => {
            return Err(part_error(
                &name,
                "this layout holds no part record",
                "merge takes layouts written by `glc build --only …`",
            ));
        }
        more => {
            return Err(part_error(
                &name,
                format!("this layout holds {} part records", more.len()),
                BUILD_IT_AGAIN,
            ));
        }
    };
    // The record's manifest, read (and checked against its digest) by the walker.
    let graph = walk::walk_from(&source, record);
    if let Some(problem) = graph.problems().into_iter().next() {
        return Err(part_error(&name, problem.message, BUILD_IT_AGAIN));
    }
    let layer = graph
        .nodes
        .first()
        .and_then(|manifest| manifest.document.as_ref())
        .into_iter()
        .flat_map(|manifest| manifest.layers.iter().flatten())
        .filter_map(|layer| match layer {
            Child::Node(_, descriptor) => Some(&**descriptor),
            Child::Invalid(_) => None,
        })
        .find(|layer| layer.media_type == PART_RECORD)
        .ok_or_else(|| part_error(&name, "its part manifest has no record", BUILD_IT_AGAIN))?;
    let bytes = read_verified(&source, layer, MAX_RECORD)
        .map_err(|e| part_error(&name, unverified(layer, e), BUILD_IT_AGAIN))?;
    let (assembly, part) = read_record(&bytes)
        .map_err(|(problem, help)| part_error(&name, problem, help.unwrap_or(BUILD_IT_AGAIN)))?;
    let tags: BTreeMap<String, String> = source
        .manifests
        .iter()
        .filter_map(|d| Some((d.ref_name()?.to_owned(), d.digest.to_string())))
        .collect();
    // The record must be the part's whole story: assembled again, it gives the part's
    // `index.json`, byte for byte (tags, attachments and the record itself).
    if let Some(problem) = retold(&source, &assembly, &tags) {
        return Err(part_error(&name, problem, BUILD_IT_AGAIN));
    }
    Ok(PartLayout {
        record: PartRead {
            name,
            assembly,
            part,
            tags,
        },
        path: path.to_path_buf(),
        source,
    })
}

/// A part's record from its bytes, checked for everything it can say on its own: its format,
/// its shape, and what [`inconsistency`] looks for. An error says what is wrong and, where it
/// is not "build the part again", how to fix it.
pub fn read_record(bytes: &[u8]) -> Result<(Assembly, Part), (String, Option<&'static str>)> {
    if let Ok(Format { format }) = serde_json::from_slice::<Format>(bytes)
        && format != PART_FORMAT
    {
        return Err((
            format!("its record is in part format {format}; this glc reads format {PART_FORMAT}"),
            Some("build and merge the parts with the same version of glc"),
        ));
    }
    let record: PartRecord = serde_json::from_slice(bytes)
        .map_err(|e| (format!("its part record is not valid: {e}"), None))?;
    let mut assembly = record.assembly;
    for image in &mut assembly.images {
        image.client_names = ClientNames::of(&image.matrix);
    }
    let part = assembly
        .part
        .clone()
        .ok_or_else(|| ("its record is not one of a part".to_owned(), None))?;
    if let Some(problem) = inconsistency(&assembly, &part) {
        return Err((problem, None));
    }
    Ok((assembly, part))
}

/// How the part differs from what its record assembles to, if it does.
fn retold(
    part: &OciSource,
    assembly: &Assembly,
    tags: &BTreeMap<String, String>,
) -> Option<String> {
    let Ok(again) = assemble::finish(assembly, LayoutWriter::dry(), BTreeMap::new()) else {
        return Some("its record does not make a valid OCI graph".to_owned());
    };
    if part.index_json() == again.index {
        return None;
    }
    let differing = tags.iter().find_map(|(tag, digest)| {
        let assembled = again.tags.get(tag).map_or("nothing", |t| t.digest.as_str());
        (assembled != digest)
            .then(|| format!("its tag `{tag}` is {digest}, but its record makes it {assembled}"))
    });
    Some(differing.unwrap_or_else(|| {
        "its index.json is not what its record makes of it (attachments, or the record itself)"
            .to_owned()
    }))
}

/// What makes a record one glc cannot have written: names outside its release, digests that
/// are not sha256 (blobs are found by them, so they must be plain hex).
fn inconsistency(assembly: &Assembly, part: &Part) -> Option<String> {
    if let Some(stray) = assembly
        .images
        .iter()
        .find(|i| !part.all_images.contains(&i.cname))
    {
        return Some(format!(
            "its record holds `{}`, which its release does not have",
            stray.cname
        ));
    }
    if let Some(stray) = part
        .containers
        .iter()
        .find(|name| !assembly.containers.iter().any(|c| &c.name == *name))
    {
        return Some(format!(
            "its record selects container `{stray}`, which its release does not have"
        ));
    }
    let layers = assembly
        .images
        .iter()
        .flat_map(|i| {
            i.layers
                .iter()
                .chain(i.attachments.iter().map(|a| &a.layer))
        })
        .chain(&assembly.changelog)
        .chain(&assembly.metadata_files)
        .map(|l| (&l.digest, l.size));
    let containers = assembly.containers.iter().map(|c| (&c.digest, c.size));
    layers.chain(containers).find_map(|(digest, size)| {
        if OciDigest::parse(digest).is_err() {
            Some(format!(
                "its record names a blob by `{digest}`, which is not a sha256 digest"
            ))
        } else if i64::try_from(size).is_err() {
            // OCI sizes are int64.
            Some(format!(
                "its record gives blob {digest} a size of {size} bytes, more than any blob has"
            ))
        } else {
            None
        }
    })
}

/// A blob read whole through the part's store, at most `limit` bytes, checked against its
/// digest and size.
fn read_verified(
    source: &OciSource,
    descriptor: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, StoreError> {
    source.fetch(descriptor, limit)
}

/// Why [`read_verified`] did not read `descriptor`'s blob, as merge says it.
fn unverified(descriptor: &Descriptor, error: StoreError) -> String {
    match error {
        StoreError::TooLarge { .. } => format!(
            "{} declares {} bytes, more than glc reads for a {}",
            descriptor.digest, descriptor.size, descriptor.media_type
        ),
        StoreError::Io { error, .. } => format!("cannot read {}: {error}", descriptor.digest),
        StoreError::Size { .. } | StoreError::Digest { .. } => {
            format!("blob {} is corrupt", descriptor.digest)
        }
        other => other.to_string(),
    }
}

/// Why a blob of a part was not taken into the merge.
#[derive(Debug)]
enum PartBlobError {
    /// Reading or copying it from the part failed.
    Source(SourceError),
    /// The record names it by something that is not a sha256 digest.
    Digest(String),
    /// Its file cannot be linked into the merge.
    Input { digest: String, error: InputError },
    /// Its bytes, read to be linked, hash to `actual`.
    Corrupt { digest: String, actual: String },
}

impl From<SourceError> for PartBlobError {
    fn from(error: SourceError) -> Self {
        Self::Source(error)
    }
}

impl PartBlobError {
    /// What is wrong, and how to go on.
    fn said(&self) -> (String, String) {
        const DAMAGED: &str = "the part is damaged; build it again";
        match self {
            Self::Source(error) => (error.to_string(), error.help()),
            Self::Digest(message) => (message.clone(), DAMAGED.to_owned()),
            Self::Input { digest, error } => (
                error.about(&format!("blob {digest}")),
                match error {
                    InputError::NotRegular("a symlink") => "glc never links or copies through a symlink in a layout; put the blob itself in its place",
                    InputError::Changed => "the part changed while glc read it; merge again once it is written",
                    InputError::Write(_) => "check free space and permissions of the output directory",
                    _ => "the part is incomplete; build it again",
                }
                .to_owned(),
            ),
            Self::Corrupt { digest, actual } => (
                format!("blob {digest} is corrupt: it hashes to {actual}"),
                DAMAGED.to_owned(),
            ),
        }
    }
}

/// Which part each blob and container is taken from: indexes into the parts.
pub struct Providers {
    pub images: BTreeMap<String, usize>,
    pub containers: BTreeMap<String, usize>,
}

/// The assembly of the parts' union, after checking that they are parts of one release: the
/// one core of a merge of layouts and of a merge in a registry.
pub fn union(parts: &[&PartRead], cover: Cover) -> Result<(Assembly, Providers), Diagnostics> {
    let Some(first) = parts.first() else {
        return Err(vec![
            Diagnostic::error("glc::merge::parts", "no parts to merge")
                .help("pass the directories that `glc build --only …` wrote"),
        ]);
    };
    let mut errors = disagreements(parts);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut images: BTreeMap<String, (&ImageEntry, usize)> = BTreeMap::new();
    let mut containers: BTreeMap<String, usize> = BTreeMap::new();
    for (index, part) in parts.iter().enumerate() {
        for image in &part.assembly.images {
            match images.get(&image.cname) {
                Some((held, by)) if *held != image => {
                    errors.push(image_conflict(image, parts[*by], held, part));
                }
                Some(_) => {}
                None => {
                    images.insert(image.cname.clone(), (image, index));
                }
            }
        }
        for name in &part.part.containers {
            containers.entry(name.clone()).or_insert(index);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let all_containers: Vec<&str> = first
        .assembly
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let missing_images: Vec<&str> = first
        .part
        .all_images
        .iter()
        .map(String::as_str)
        .filter(|c| !images.contains_key(*c))
        .collect();
    let missing_containers: Vec<&str> = all_containers
        .iter()
        .copied()
        .filter(|c| !containers.contains_key(*c))
        .collect();
    let whole = missing_images.is_empty() && missing_containers.is_empty();
    if !whole && cover == Cover::Whole {
        let mut missing = Vec::new();
        if !missing_images.is_empty() {
            missing.push(format!("missing cloud images: {}", list(&missing_images)));
        }
        if !missing_containers.is_empty() {
            missing.push(format!("missing containers: {}", list(&missing_containers)));
        }
        return Err(vec![
            Diagnostic::error(
                "glc::merge::incomplete",
                format!(
                    "the parts hold {} of {} cloud images and {} of {} containers of release {}; {}",
                    images.len(),
                    first.part.all_images.len(),
                    containers.len(),
                    all_containers.len(),
                    first.assembly.release.version,
                    missing.join("; "),
                ),
            )
            .help("build what is missing with `glc build --only …` and merge again; or pass --partial to write a part of the release"),
        ]);
    }
    let mut assembly = first.assembly.clone();
    assembly.images = images.values().map(|(image, _)| (*image).clone()).collect();
    assembly.part = (!whole).then(|| Part {
        release_file: first.part.release_file.clone(),
        all_images: first.part.all_images.clone(),
        containers: containers.keys().cloned().collect(),
    });
    let providers = Providers {
        images: images.iter().map(|(c, (_, i))| (c.clone(), *i)).collect(),
        containers,
    };
    Ok((assembly, providers))
}

/// What the parts disagree on, besides which images and containers they hold: one error for
/// each thing, naming every part by the value it has.
fn disagreements(parts: &[&PartRead]) -> Diagnostics {
    const SAME_RELEASE: &str = "build every part from the same release file at the same commit, with the same SOURCE_DATE_EPOCH";
    let disagree = |what: &str, help: &str, value: &dyn Fn(&PartRead) -> String| {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for part in parts {
            let value = value(part);
            match groups.iter_mut().find(|(v, _)| *v == value) {
                Some((_, names)) => names.push(&part.name),
                None => groups.push((value, vec![&part.name])),
            }
        }
        (groups.len() > 1).then(|| {
            let sides: Vec<String> = groups
                .iter()
                .map(|(value, names)| format!("`{value}` in {}", list(names)))
                .collect();
            Diagnostic::error(
                "glc::merge::conflict",
                format!("the parts disagree on {what}: {}", sides.join(", ")),
            )
            .help(help.to_owned())
        })
    };
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    let release: Diagnostics = [
        disagree("the release's version", SAME_RELEASE, &|p| {
            p.assembly.release.version.clone()
        }),
        disagree("the release's commit", SAME_RELEASE, &|p| {
            p.assembly.release.commit.clone()
        }),
        disagree("the release's creation time", SAME_RELEASE, &|p| {
            p.assembly.release.created.clone()
        }),
        disagree("the release's source", SAME_RELEASE, &|p| {
            optional(&p.assembly.release.source)
        }),
        disagree("the release's repository", SAME_RELEASE, &|p| {
            optional(&p.assembly.release.repository)
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !release.is_empty() {
        return release;
    }
    if let Some(error) = disagree(
        "the release file",
        "build every part from the same release file",
        &|p| p.part.release_file.clone(),
    ) {
        return vec![error];
    }
    let mut found: Diagnostics = disagree(
        "the changelog",
        "every part must read the same changelog file",
        &|p| {
            p.assembly
                .changelog
                .as_ref()
                .map_or_else(String::new, |l| l.digest.clone())
        },
    )
    .into_iter()
    .collect();
    let names: BTreeSet<&str> = parts
        .iter()
        .flat_map(|p| p.assembly.containers.iter().map(|c| c.name.as_str()))
        .collect();
    for name in names {
        found.extend(disagree(
            &format!("container `{name}`"),
            "every part must read the same container images: the cloud images name them all by digest",
            &|p| {
                p.assembly
                    .containers
                    .iter()
                    .find(|c| c.name == name)
                    .map_or_else(String::new, |c| format!("{} ({} bytes)", c.digest, c.size))
            },
        ));
    }
    if found.is_empty() {
        // Anything else a release file decides; parts of one file differ here only if written
        // by different versions of glc.
        found.extend(disagree(
            "the rest of the release (tags, links, changelog, cloud images or containers)",
            "the parts were written by different versions of glc, or one was edited; build them again with one glc",
            &|p| {
                // Too long to show: a digest of it tells the sides apart.
                let json = serde_json::to_vec(&(
                    &p.assembly.release,
                    &p.assembly.tags,
                    &p.assembly.links,
                    &p.assembly.changelog,
                    &p.assembly.metadata_files,
                    &p.part.all_images,
                    &p.assembly.containers,
                ))
                .unwrap_or_default();
                format!("{}…", &hex::encode(Sha256::digest(json))[..12])
            },
        ));
    }
    found
}

fn image_conflict(
    image: &ImageEntry,
    held_by: &PartRead,
    held: &ImageEntry,
    part: &PartRead,
) -> Diagnostic {
    let digest = |p: &PartRead| {
        p.tags
            .get(&image.cname)
            .cloned()
            .unwrap_or_else(|| "an unknown digest".to_owned())
    };
    let layer = held
        .layers
        .iter()
        .chain(held.attachments.iter().map(|a| &a.layer))
        .zip(
            image
                .layers
                .iter()
                .chain(image.attachments.iter().map(|a| &a.layer)),
        )
        .find(|(x, y)| x != y);
    let why = match layer {
        Some((x, y)) if x.title == y.title => format!(
            "its file `{}` is {} in `{}` and {} in `{}`",
            x.title, x.digest, held_by.name, y.digest, part.name
        ),
        _ => "its files differ".to_owned(),
    };
    Diagnostic::error(
        "glc::merge::conflict",
        format!(
            "cloud image `{}` differs between parts: {} in `{}`, {} in `{}`",
            image.cname,
            digest(held_by),
            held_by.name,
            digest(part),
            part.name
        ),
    )
    .help(format!(
        "{why}; build each cloud image in one part only, or from the same files"
    ))
}

/// A descriptor of a blob in a part, as the importer takes it.
fn raw(
    media_type: &str,
    digest: &str,
    size: u64,
    artifact_type: Option<String>,
) -> Result<Descriptor, PartBlobError> {
    // Records name blobs by sha256 digests only (see `inconsistency`); this is a second check.
    let digest = OciDigest::parse(digest).map_err(|e| PartBlobError::Digest(e.to_string()))?;
    Ok(Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        annotations: BTreeMap::new(),
        platform: None,
        artifact_type,
    })
}

/// Copies (or links) every blob the assembly names from the part that holds it, checked.
fn copy_blobs(
    assembly: &Assembly,
    providers: &Providers,
    parts: &[PartLayout],
    layout: &LayoutWriter,
    previous: Option<&Path>,
    link: bool,
) -> Result<BTreeMap<Placement, usize>, Diagnostics> {
    let importer = Importer { layout, previous };
    let mut blobs: BTreeMap<&str, (&Layer, usize)> = BTreeMap::new();
    for image in &assembly.images {
        let by = providers.images[&image.cname];
        for layer in image
            .layers
            .iter()
            .chain(image.attachments.iter().map(|a| &a.layer))
        {
            blobs.entry(&layer.digest).or_insert((layer, by));
        }
    }
    for file in assembly.changelog.iter().chain(&assembly.metadata_files) {
        blobs.entry(&file.digest).or_insert((file, 0));
    }
    let copied: Vec<Result<Placement, Diagnostic>> = blobs
        .into_par_iter()
        .map(|(_, (layer, by))| {
            // After a signal no blob is started; those under way stop within a MiB.
            if crate::util::interrupt::requested() {
                return Err(crate::diagnostic::interrupted());
            }
            let part = &parts[by];
            let fail = |e: PartBlobError| {
                let (message, help) = e.said();
                Diagnostic::error(
                    "glc::merge::copy",
                    format!("`{}`: {message}", part.record.name),
                )
                .help(help)
            };
            let descriptor =
                raw(&layer.media_type, &layer.digest, layer.size, None).map_err(fail)?;
            if link
                && !layout.is_dry()
                && reusable(previous, &layer.blob()).is_none()
                && let Some(placement) = link_blob(layout, part, layer).map_err(fail)?
            {
                return Ok(placement);
            }
            importer
                .copy_blob(&part.source, &descriptor)
                .map_err(|e| fail(e.into()))
        })
        .collect();
    let mut placements = BTreeMap::new();
    let mut errors = Vec::new();
    for result in copied {
        match result {
            Ok(placement) => *placements.entry(placement).or_insert(0) += 1,
            Err(error) => errors.push(error),
        }
    }
    for container in &assembly.containers {
        let Some(&by) = providers.containers.get(&container.name) else {
            continue;
        };
        let part = &parts[by];
        let copied = raw(
            &container.media_type,
            &container.digest,
            container.size,
            container.artifact_type.clone(),
        )
        .and_then(|descriptor| Ok(importer.copy_tree(&part.source, &descriptor)?));
        if let Err(e) = copied {
            let (message, help) = e.said();
            errors.push(
                Diagnostic::error(
                    "glc::merge::copy",
                    format!(
                        "`{}`: container `{}`: {message}",
                        part.record.name, container.name
                    ),
                )
                .help(help),
            );
        }
    }
    if errors.is_empty() {
        Ok(placements)
    } else {
        Err(errors)
    }
}

/// Links a part's blob into the layout after hashing it; `None` where links are not possible.
fn link_blob(
    layout: &LayoutWriter,
    part: &PartLayout,
    layer: &Layer,
) -> Result<Option<Placement>, PartBlobError> {
    let blob = layer.blob();
    if !is_sha256(&blob.digest) {
        return Err(PartBlobError::Digest(format!(
            "`{}` is not a sha256 digest",
            blob.digest
        )));
    }
    let path = part.path.join("blobs/sha256").join(blob.hex());
    let unreadable = |error: InputError| PartBlobError::Input {
        digest: blob.digest.clone(),
        error,
    };
    let input = Input::open(&path).map_err(unreadable)?;
    let actual = LayoutWriter::dry()
        .write_input(&input, &|_| {})
        .map_err(unreadable)?;
    if actual != blob {
        return Err(PartBlobError::Corrupt {
            digest: blob.digest.clone(),
            actual: actual.digest,
        });
    }
    layout.link_input(&blob, &input).map_err(unreadable)
}
