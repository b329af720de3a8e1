//! Stage 6: the resolved plan → an OCI image layout. Input files are staged into the layout
//! in parallel and containers imported; the graph is then assembled from what was staged
//! (see `assemble`, which `glc merge` shares).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::build::assemble::{
    Assembly, AttachedLayer, BuildReport, ContainerEntry, ImageEntry, Layer,
};
use crate::build::cache::{self, DigestCache};
use crate::diagnostic::error::EmitError;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::front::plan::{
    ClientNames, ContainerPlan, ContainerSource, FileKind, ResolvedFile, ResolvedPlan, file_title,
};
use crate::oci::dirtar;
use crate::oci::import::{Importer, reusable};
use crate::oci::layout::{Blob, Input, LayoutWriter, Placement};
use crate::oci::source::{OciSource, SourceError};

/// How `emit` places input files and where it may find blobs it already has.
#[derive(Debug)]
pub struct EmitOptions<'a> {
    /// Link inputs into the layout (reflink, else hard link) instead of copying them.
    pub link: bool,
    /// The layout this one replaces: blobs found there are hard-linked, not written again.
    pub previous: Option<&'a Path>,
    pub cache: &'a DigestCache,
    /// Counts the bytes of input files read, and the files staged, for the progress shown.
    pub progress: Option<&'a crate::util::progress::Progress>,
}

/// Writes the layout of `plan` into `layout` and completes it (or, with a dry writer, only
/// computes it).
pub fn emit(
    plan: &ResolvedPlan,
    layout: LayoutWriter,
    source: &Arc<SourceFile>,
    options: &EmitOptions<'_>,
) -> Result<BuildReport, Diagnostics> {
    let created_epoch = epoch(&plan.release.created)?;
    let (staged, placements) = stage_files(plan, &layout, source, options, created_epoch)?;
    let importer = Importer {
        layout: &layout,
        previous: options.previous,
    };
    // Import every container, so that every damaged source is reported in one run.
    let failed: Diagnostics = plan
        .containers
        .iter()
        .filter(|c| plan.builds_container(&c.name))
        .filter_map(|c| import(&importer, c, source).err())
        .flatten()
        .collect();
    if !failed.is_empty() {
        return Err(failed);
    }
    let assembly = assembly(plan, &staged)?;
    Ok(crate::build::assemble::finish(
        &assembly, layout, placements,
    )?)
}

fn epoch(created: &str) -> Result<u64, EmitError> {
    let timestamp: jiff::Timestamp = created.parse().map_err(EmitError::internal)?;
    u64::try_from(timestamp.as_second())
        .map_err(|_| EmitError::CreatedBefore1970(created.to_owned()))
}

/// The plan with every file's blob known.
fn assembly(plan: &ResolvedPlan, staged: &Staged) -> Result<Assembly, EmitError> {
    let layer = |file: &ResolvedFile| -> Result<Layer, EmitError> {
        let blob = staged
            .get(&file.absolute)
            .ok_or_else(|| EmitError::internal(format!("{} was not staged", file.path)))?;
        let name = file_title(&file.path);
        Ok(Layer {
            media_type: file.media_type.clone(),
            digest: blob.digest.clone(),
            size: blob.size,
            title: match file.kind {
                FileKind::File => name,
                FileKind::Directory => format!("{name}.tar"),
            },
        })
    };
    let mut images = plan
        .images
        .iter()
        .map(|image| {
            Ok(ImageEntry {
                cname: image.cname.clone(),
                matrix: image.matrix.clone(),
                layers: image.layers().map(layer).collect::<Result<_, _>>()?,
                attachments: image
                    .attachments
                    .iter()
                    .map(|a| {
                        Ok(AttachedLayer {
                            kind: a.kind.clone(),
                            layer: layer(&a.file)?,
                        })
                    })
                    .collect::<Result<_, EmitError>>()?,
                apt_repository: image.apt_repository.clone(),
                client_names: ClientNames::of(&image.matrix),
            })
        })
        .collect::<Result<Vec<_>, EmitError>>()?;
    images.sort_by(|a, b| a.cname.cmp(&b.cname));
    let mut containers: Vec<ContainerEntry> = plan
        .containers
        .iter()
        .map(|c| ContainerEntry {
            name: c.name.clone(),
            group: c.group.clone(),
            tag: c.tag.clone(),
            media_type: c.from.media_type.clone(),
            digest: c.from.digest.clone(),
            size: c.from.size,
            artifact_type: c.from.artifact_type.clone(),
            platforms: c.from.platforms.clone(),
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Assembly {
        release: plan.release.clone(),
        tags: plan.tags.clone(),
        links: plan.metadata.links.clone(),
        changelog: plan.metadata.changelog.as_ref().map(layer).transpose()?,
        metadata_files: plan
            .metadata
            .files
            .iter()
            .map(layer)
            .collect::<Result<_, _>>()?,
        images,
        containers,
        part: plan.part.clone(),
    })
}

/// Copies the container's image, every blob verified, its bytes unchanged: the image that
/// resolve picked, which must still be the one the source holds.
fn import(
    importer: &Importer<'_>,
    container: &ContainerPlan<ContainerSource>,
    source: &Arc<SourceFile>,
) -> Result<(), Diagnostics> {
    let fail = |error: SourceError| {
        vec![
            Diagnostic::error(
                "glc::build::import",
                format!(
                    "container `{}` from `{}`: {}",
                    container.name, container.from.path, error
                ),
            )
            .help(error.help())
            .in_file(source)
            .label(container.from.span, "imported from here"),
        ]
    };
    let reopened;
    let opened = if let Some(opened) = &container.from.opened {
        opened.0.as_ref()
    } else {
        reopened = OciSource::open(&container.from.absolute, container.from.kind).map_err(fail)?;
        &reopened
    };
    let picked = opened.pick(container.reference.as_deref()).map_err(fail)?;
    if picked.digest != container.from.digest || picked.size != container.from.size {
        return Err(fail(SourceError::Changed {
            held: container.from.digest.clone(),
            now: picked.digest.clone(),
        }));
    }
    importer.copy_tree(opened, picked).map_err(fail)
}

/// The blob of every input file and directory, by absolute path.
type Staged = HashMap<PathBuf, Blob>;

/// Every input file and directory of the plan, once each, into the layout in parallel.
fn stage_files(
    plan: &ResolvedPlan,
    layout: &LayoutWriter,
    source: &Arc<SourceFile>,
    options: &EmitOptions<'_>,
    created_epoch: u64,
) -> Result<(Staged, BTreeMap<Placement, usize>), Diagnostics> {
    let mut files: Vec<&ResolvedFile> = plan
        .metadata
        .changelog
        .iter()
        .chain(&plan.metadata.files)
        .collect();
    for image in &plan.images {
        files.extend(image.layers());
        files.extend(image.attachments.iter().map(|a| &a.file));
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(&f.absolute));
    let results: Vec<Result<(PathBuf, Blob, Placement), Diagnostics>> = files
        .par_iter()
        .map(|file| {
            // After a signal no input is started; those under way stop within a chunk.
            if crate::util::interrupt::requested() {
                return Err(vec![crate::diagnostic::interrupted()]);
            }
            let staged = stage_file(file, layout, options, created_epoch);
            if let Some(progress) = options.progress
                && staged.is_ok()
            {
                progress.item_done();
            }
            staged
                .map(|(blob, placement)| (file.absolute.clone(), blob, placement))
                .map_err(|diagnostics| {
                    diagnostics
                        .into_iter()
                        .map(|d| {
                            d.in_file(source)
                                .label(file.span, format!("`{}`", file.path))
                        })
                        .collect()
                })
        })
        .collect();
    let mut staged = HashMap::new();
    let mut placements = BTreeMap::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok((path, blob, placement)) => {
                *placements.entry(placement).or_insert(0) += 1;
                staged.insert(path, blob);
            }
            Err(diagnostics) => errors.extend(diagnostics),
        }
    }
    if errors.is_empty() {
        Ok((staged, placements))
    } else {
        Err(errors)
    }
}

/// One input into the layout: reused from the previous layout if the cache knows its digest
/// and the blob is there, else linked (`--link`) or copied, hashed on the way.
fn stage_file(
    file: &ResolvedFile,
    layout: &LayoutWriter,
    options: &EmitOptions<'_>,
    created_epoch: u64,
) -> Result<(Blob, Placement), Diagnostics> {
    let none_if_dry = |placement| {
        if layout.is_dry() {
            Placement::None
        } else {
            placement
        }
    };
    if file.kind == FileKind::Directory {
        let mut writer = layout
            .blob()
            .map_err(EmitError::io("cannot write a blob"))?;
        dirtar::pack(&file.absolute, created_epoch, &mut writer)
            .map_err(|e| EmitError::Pack(file.path.clone(), e))?;
        let blob = writer
            .finish()
            .map_err(EmitError::io("cannot write a blob"))?;
        return Ok((blob, none_if_dry(Placement::Copied)));
    }
    // Opened once, here: what is hashed, copied or linked is this file as it is now.
    let input = Input::open(&file.absolute).map_err(|e| EmitError::Input(file.path.clone(), e))?;
    let key = cache::key(&file.absolute, input.metadata());
    let known = options.cache.get(&key).filter(|b| b.size == input.size());
    let placed = |blob: Blob, placement: Placement| {
        options.cache.put(key.clone(), &blob);
        Ok((blob, placement))
    };
    // Placed without reading it: done as far as the progress goes.
    let unread = || {
        if let Some(progress) = options.progress {
            progress.there(input.size());
        }
    };
    if let Some(blob) = &known {
        if layout.is_dry() {
            layout.record(blob);
            return placed(blob.clone(), Placement::None);
        }
        // Another input with these bytes is placing them (or has): a reuse of the previous
        // layout's blob by both would find it linked twice and copy it.
        if layout.contains(blob) || !layout.claim(blob) {
            unread();
            return placed(blob.clone(), Placement::Duplicate);
        }
        if let Some(there) = reusable(options.previous, blob)
            && !options.link
            && let Some(placement) = layout
                .link(blob, &there, false)
                .map_err(EmitError::io("cannot link a blob of the previous layout"))?
        {
            unread();
            return placed(blob.clone(), placement);
        }
    }
    let read = |n: u64| {
        if let Some(progress) = options.progress {
            progress.inc(n);
        }
    };
    if options.link && !layout.is_dry() {
        // Hashed now, whatever the cache says: the input itself becomes the blob.
        let blob = LayoutWriter::dry()
            .write_input(&input, &read)
            .map_err(|e| EmitError::Input(file.path.clone(), e))?;
        if let Some(placement) = layout
            .link_input(&blob, &input)
            .map_err(|e| EmitError::Input(file.path.clone(), e))?
        {
            return placed(blob, placement);
        }
    }
    let blob = layout
        .write_input(&input, &read)
        .map_err(|e| EmitError::Input(file.path.clone(), e))?;
    // An input the cache did not know (touched, or a fresh checkout) may hold what the
    // previous layout holds already: that blob is kept, the copy dropped.
    if known.is_none()
        && let Some(there) = reusable(options.previous, &blob)
        && layout
            .relink(&blob, &there)
            .map_err(EmitError::io("cannot link a blob of the previous layout"))?
    {
        return placed(blob, Placement::Reused);
    }
    placed(blob, none_if_dry(Placement::Copied))
}
