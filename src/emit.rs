//! Stage 6: the resolved plan → an OCI image layout, as DESIGN.md draws the graph.
//!
//! Order rule, the same in every index and in `index.json`: entries sorted by name in byte
//! order (cnames, container names, tags), untagged entries after tagged ones, by digest. The
//! Release index lists `MetaData`, `CloudImages`, `ContainerImages`, in that order. So a layout
//! depends only on what is in it, never on the order of the release file or of a build.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageIndexBuilder, ImageManifestBuilder, MediaType,
};
use serde::Serialize;

use std::sync::Arc;

use crate::cache::{self, DigestCache};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::oci::dirtar;
use crate::oci::json::canonical;
use crate::oci::layout::{Blob, BlobError, LayoutWriter, Placement, hash_file};
use crate::oci::media;
use crate::oci::source::{OciSource, RawDescriptor, SourceError};
use crate::output::MARKER;
use crate::plan::{
    ContainerPlan, ContainerSource, FileKind, ImagePlan, ResolvedFile, ResolvedPlan, file_title,
};

pub const RELEASE: &str = "application/io.gardenlinux.release";
pub const METADATA: &str = "application/io.gardenlinux.release.metadata";
pub const CLOUD_IMAGES: &str = "application/io.gardenlinux.cloud-images";
pub const CLOUD_IMAGE: &str = "application/io.gardenlinux.image";
pub const CONTAINER_IMAGES: &str = "application/io.gardenlinux.container-images";
pub const CONTAINER_GROUP: &str = "application/io.gardenlinux.container-group";
pub const RELEASE_MANIFEST: &str = "application/io.gardenlinux.release-manifest+json";
const TITLE: &str = "org.opencontainers.image.title";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINER_NAME: &str = "io.gardenlinux.container.name";
const CONTAINER_GROUP_NAME: &str = "io.gardenlinux.container.group";

/// What a build wrote, for the summary and `--digests`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub repository: Option<String>,
    /// Every tag of `index.json` and what it points at.
    pub tags: BTreeMap<String, Target>,
    /// The attachments, untagged.
    pub attachments: Vec<Target>,
    #[serde(skip)]
    pub blobs: usize,
    #[serde(skip)]
    pub bytes: u64,
    #[serde(skip)]
    pub images: usize,
    #[serde(skip)]
    pub containers: usize,
    /// How many input files were copied, linked or reused.
    #[serde(skip)]
    pub placements: BTreeMap<Placement, usize>,
    /// The layout's `index.json`.
    #[serde(skip)]
    pub index: Vec<u8>,
    /// Every blob of the layout: hex → size.
    #[serde(skip)]
    pub blob_list: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none", rename = "artifactType")]
    pub artifact_type: Option<String>,
    /// `repository:tag` (or `repository@digest` for untagged), where it will be pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Writes the layout of `plan` into `layout` and completes it.
/// How `emit` places input files and where it may find blobs it already has.
#[derive(Debug)]
pub struct EmitOptions<'a> {
    /// Link inputs into the layout (reflink, else hard link) instead of copying them.
    pub link: bool,
    /// The layout this one replaces: blobs found there are hard-linked, not written again.
    pub previous: Option<&'a Path>,
    pub cache: &'a DigestCache,
    /// Counts the bytes of input files read, for a progress bar.
    pub progress: Option<&'a indicatif::ProgressBar>,
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
    let mut emitter = Emitter {
        plan,
        layout: &layout,
        source,
        staged: &staged,
        previous: options.previous,
    };
    let built = emitter.release()?;
    let index = Emitter::index_json(&built)?;
    let (blobs, bytes) = layout.totals();
    let blob_list = layout.blobs();
    layout
        .finish(&index)
        .map_err(|e| io_error("cannot write index.json", &e))?;
    let destination = |tag: &str| {
        plan.release
            .repository
            .as_ref()
            .map(|r| format!("{r}:{tag}"))
    };
    let target = |d: &Descriptor, destination: Option<String>| Target {
        digest: d.digest().to_string(),
        media_type: d.media_type().to_string(),
        size: d.size(),
        artifact_type: d.artifact_type().as_ref().map(ToString::to_string),
        destination,
    };
    Ok(BuildReport {
        repository: plan.release.repository.clone(),
        tags: built
            .tagged
            .iter()
            .map(|(tag, (d, _))| (tag.clone(), target(d, destination(tag))))
            .collect(),
        attachments: built
            .attachments
            .iter()
            .map(|d| {
                target(
                    d,
                    plan.release
                        .repository
                        .as_ref()
                        .map(|r| format!("{r}@{}", d.digest())),
                )
            })
            .collect(),
        blobs,
        bytes,
        images: plan.images.len(),
        containers: plan.containers.len(),
        placements,
        index,
        blob_list,
    })
}

fn io_error(what: &str, error: &std::io::Error) -> Diagnostics {
    vec![
        Diagnostic::error("glc::build::io", format!("{what}: {error}"))
            .help("check free space and permissions of the output directory"),
    ]
}

fn internal(error: &impl std::fmt::Display) -> Diagnostics {
    vec![
        Diagnostic::error(
            "glc::internal",
            format!("cannot build an OCI document: {error}"),
        )
        .help("this is a bug in glc; please report it"),
    ]
}

fn epoch(created: &str) -> Result<u64, Diagnostics> {
    let timestamp: jiff::Timestamp = created.parse().map_err(|e| internal(&e))?;
    u64::try_from(timestamp.as_second()).map_err(|_| {
        vec![Diagnostic::error("glc::build::created", format!("{created} is before 1970")).help("directories are packed with this time as mtime; use a later `created` or SOURCE_DATE_EPOCH")]
    })
}

/// A descriptor's platform. oci-spec 0.10 serializes `os.version` as `os_version`, so glc
/// writes platforms itself and adds them to the serialized index.
#[derive(Debug, Clone, Serialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(rename = "os.version")]
    os_version: String,
}

/// An entry of an index: its descriptor and, for cloud images, its platform.
type Entry = (Descriptor, Option<Platform>);

/// The descriptors the graph's roots are made of, for `index.json`.
struct Built {
    tagged: BTreeMap<String, Entry>,
    attachments: Vec<Descriptor>,
}

/// An image index as canonical JSON, each entry with its platform.
fn index_bytes(
    index: &oci_spec::image::ImageIndex,
    entries: &[Entry],
) -> Result<Vec<u8>, Diagnostics> {
    let mut value = serde_json::to_value(index).map_err(|e| internal(&e))?;
    if let Some(manifests) = value
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
    {
        for (manifest, (_, platform)) in manifests.iter_mut().zip(entries) {
            if let (Some(object), Some(platform)) = (manifest.as_object_mut(), platform) {
                object.insert(
                    "platform".to_owned(),
                    serde_json::to_value(platform).map_err(|e| internal(&e))?,
                );
            }
        }
    }
    canonical(&value).map_err(|e| internal(&e))
}

struct Emitter<'a> {
    plan: &'a ResolvedPlan,
    layout: &'a LayoutWriter,
    /// The release file, for errors that point at the path or source they concern.
    source: &'a Arc<SourceFile>,
    staged: &'a Staged,
    previous: Option<&'a Path>,
}

fn descriptor(media_type: &str, blob: &Blob) -> Result<DescriptorBuilder, Diagnostics> {
    let digest: Digest = blob.digest.parse().map_err(|e| internal(&e))?;
    Ok(DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(digest)
        .size(blob.size))
}

fn annotations<const N: usize>(
    pairs: [(&str, String); N],
) -> std::collections::HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl Emitter<'_> {
    /// `org.opencontainers.image.*` for every manifest and index.
    fn oci_annotations(
        &self,
        title: &str,
        description: &str,
    ) -> std::collections::HashMap<String, String> {
        let r = &self.plan.release;
        let mut map = annotations([
            ("org.opencontainers.image.created", r.created.clone()),
            ("org.opencontainers.image.version", r.version.clone()),
            ("org.opencontainers.image.revision", r.commit.clone()),
            ("org.opencontainers.image.title", title.to_owned()),
            (
                "org.opencontainers.image.description",
                description.to_owned(),
            ),
        ]);
        if let Some(source) = &r.source {
            map.insert("org.opencontainers.image.source".to_owned(), source.clone());
        }
        map
    }

    fn json_blob(
        &mut self,
        value: &impl Serialize,
        media_type: &str,
    ) -> Result<DescriptorBuilder, Diagnostics> {
        let bytes = canonical(value).map_err(|e| internal(&e))?;
        let blob = self
            .layout
            .write_bytes(&bytes)
            .map_err(|e| io_error("cannot write a blob", &e))?;
        descriptor(media_type, &blob)
    }

    fn empty_config(&mut self) -> Result<Descriptor, Diagnostics> {
        let blob = self
            .layout
            .write_bytes(b"{}")
            .map_err(|e| io_error("cannot write a blob", &e))?;
        descriptor(media::EMPTY, &blob)?
            .build()
            .map_err(|e| internal(&e))
    }

    /// A file (or a directory, packed) as a layer titled with its name.
    /// A file (or a directory, packed) as a layer; errors point at the path in the release.
    /// A file (or a directory, packed) as a layer titled with its name; its blob was staged
    /// before the graph was assembled.
    fn layer(&mut self, file: &ResolvedFile) -> Result<Descriptor, Diagnostics> {
        let blob = self
            .staged
            .get(&file.absolute)
            .ok_or_else(|| internal(&format!("{} was not staged", file.path)))?;
        let name = file_title(&file.path);
        let title = match file.kind {
            FileKind::File => name,
            FileKind::Directory => format!("{name}.tar"),
        };
        descriptor(&file.media_type, blob)?
            .annotations(annotations([(TITLE, title)]))
            .build()
            .map_err(|e| internal(&e))
    }

    fn manifest(
        &mut self,
        artifact_type: &str,
        layers: Vec<Descriptor>,
        subject: Option<Descriptor>,
        annotations: std::collections::HashMap<String, String>,
    ) -> Result<Descriptor, Diagnostics> {
        let mut builder = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .artifact_type(MediaType::from(artifact_type))
            .config(self.empty_config()?)
            .layers(layers)
            .annotations(annotations);
        if let Some(subject) = subject {
            builder = builder.subject(subject);
        }
        let manifest = builder.build().map_err(|e| internal(&e))?;
        self.json_blob(&manifest, media::MANIFEST)?
            .artifact_type(MediaType::from(artifact_type))
            .build()
            .map_err(|e| internal(&e))
    }

    fn index(
        &mut self,
        artifact_type: &str,
        entries: &[Entry],
        annotations: std::collections::HashMap<String, String>,
    ) -> Result<Descriptor, Diagnostics> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .artifact_type(MediaType::from(artifact_type))
            .manifests(entries.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
            .annotations(annotations)
            .build()
            .map_err(|e| internal(&e))?;
        let bytes = index_bytes(&index, entries)?;
        let blob = self
            .layout
            .write_bytes(&bytes)
            .map_err(|e| io_error("cannot write a blob", &e))?;
        descriptor(media::INDEX, &blob)?
            .artifact_type(MediaType::from(artifact_type))
            .build()
            .map_err(|e| internal(&e))
    }

    fn release(&mut self) -> Result<Built, Diagnostics> {
        let plan = self.plan;
        let version = &plan.release.version;
        let mut tagged = BTreeMap::new();
        let mut entries = Vec::new();

        let containers = self.containers(&mut tagged)?;
        let mut images: Vec<&ImagePlan<ResolvedFile>> = plan.images.iter().collect();
        images.sort_by(|a, b| a.cname.cmp(&b.cname));
        let mut cloud_images = Vec::new();
        let mut attachments = Vec::new();
        let mut manifest_images = Vec::new();
        for image in images {
            let (entry, image_attachments, record) =
                self.cloud_image(image, containers.as_ref().map(|c| &c.0))?;
            tagged.insert(image.cname.clone(), entry.clone());
            cloud_images.push(entry);
            attachments.extend(image_attachments);
            manifest_images.push(record);
        }
        let metadata = self.metadata(&manifest_images, containers.as_ref().map(|c| &c.1))?;
        entries.push((metadata, None));
        if !cloud_images.is_empty() {
            let title = format!("Garden Linux {version} cloud images");
            let annotations = self.oci_annotations(&title, &title);
            entries.push((self.index(CLOUD_IMAGES, &cloud_images, annotations)?, None));
        }
        if let Some((container_images, _)) = containers {
            entries.push((container_images, None));
        }
        let title = format!("Garden Linux {version}");
        let annotations = self.oci_annotations(
            &title,
            &format!("Garden Linux {version}: metadata, cloud images and container images"),
        );
        let release = self.index(RELEASE, &entries, annotations)?;
        for tag in &plan.tags {
            tagged.insert(tag.clone(), (release.clone(), None));
        }
        attachments.sort_by_key(|a| a.digest().to_string());
        Ok(Built {
            tagged,
            attachments,
        })
    }

    fn cloud_image(
        &mut self,
        image: &ImagePlan<ResolvedFile>,
        container_images: Option<&Descriptor>,
    ) -> Result<(Entry, Vec<Descriptor>, serde_json::Value), Diagnostics> {
        let release = &self.plan.release;
        let layers: Vec<Descriptor> = image
            .layers()
            .map(|f| self.layer(f))
            .collect::<Result<_, _>>()?;
        let mut annotations = self.oci_annotations(
            &image.cname,
            &format!("Garden Linux {} {}", release.version, image.cname),
        );
        annotations.insert("cname".to_owned(), image.cname.clone());
        annotations.insert("version".to_owned(), release.version.clone());
        annotations.insert("commit".to_owned(), release.commit.clone());
        let arch = image.matrix.get("arch");
        if let Some(arch) = arch {
            annotations.insert("architecture".to_owned(), arch.to_owned());
        }
        if let Some(features) = image.matrix.get("features") {
            annotations.insert("feature_set".to_owned(), features.to_owned());
        }
        if let Some(apt) = &image.apt_repository {
            annotations.insert(
                "io.gardenlinux.apt-repository".to_owned(),
                format!("deb {} {} {}", apt.url, apt.dist, apt.component),
            );
        }
        if let Some(containers) = container_images {
            annotations.insert(
                "io.gardenlinux.ref.container-images".to_owned(),
                containers.digest().to_string(),
            );
        }
        let manifest = self.manifest(CLOUD_IMAGE, layers.clone(), None, annotations)?;
        let mut descriptor = manifest.clone();
        descriptor.set_annotations(Some(annotations_cname(&image.cname)));
        let platform = arch.map(|arch| Platform {
            architecture: arch.to_owned(),
            os: "gardenlinux".to_owned(),
            os_version: release.version.clone(),
        });
        let mut attachments = Vec::new();
        let mut attachment_records = Vec::new();
        for attachment in &image.attachments {
            let layer = self.layer(&attachment.file)?;
            let artifact_type = format!("application/io.gardenlinux.{}", attachment.kind);
            let title = layer
                .annotations()
                .as_ref()
                .and_then(|a| a.get(TITLE))
                .cloned()
                .unwrap_or_default();
            let mut annotations =
                self.oci_annotations(&title, &format!("{} of {}", attachment.kind, image.cname));
            annotations.insert("cname".to_owned(), image.cname.clone());
            let subject = DescriptorBuilder::default()
                .media_type(MediaType::ImageManifest)
                .digest(manifest.digest().clone())
                .size(manifest.size())
                .build()
                .map_err(|e| internal(&e))?;
            let attached = self.manifest(
                &artifact_type,
                vec![layer.clone()],
                Some(subject),
                annotations,
            )?;
            attachment_records.push(serde_json::json!({
                "kind": attachment.kind,
                "manifest": attached.digest().to_string(),
                "layer": layer_record(&layer),
            }));
            attachments.push(attached);
        }
        attachment_records.sort_by(|a, b| a["kind"].as_str().cmp(&b["kind"].as_str()));
        let record = serde_json::json!({
            "cname": image.cname,
            "matrix": image.matrix,
            "mediaType": media::MANIFEST,
            "digest": manifest.digest().to_string(),
            "size": manifest.size(),
            "layers": layers.iter().map(layer_record).collect::<Vec<_>>(),
            "attachments": attachment_records,
        });
        Ok(((descriptor, platform), attachments, record))
    }

    /// Imports every container and builds the `ContainerImages` index; `None` without
    /// containers. Also returns the containers' records for the release manifest.
    fn containers(
        &mut self,
        tagged: &mut BTreeMap<String, Entry>,
    ) -> Result<Option<(Descriptor, Vec<serde_json::Value>)>, Diagnostics> {
        if self.plan.containers.is_empty() {
            return Ok(None);
        }
        let mut top: BTreeMap<String, Descriptor> = BTreeMap::new();
        let mut groups: BTreeMap<String, BTreeMap<String, Descriptor>> = BTreeMap::new();
        let mut records = Vec::new();
        let mut failed = Vec::new();
        for container in &self.plan.containers {
            // Import every container, so that every damaged source is reported in one run.
            let imported = match self.import(container) {
                Ok(imported) => imported,
                Err(diagnostics) => {
                    failed.extend(diagnostics);
                    continue;
                }
            };
            tagged.insert(container.tag.clone(), (imported.clone(), None));
            records.push(serde_json::json!({
                "name": container.name,
                "group": container.group,
                "tag": container.tag,
                "mediaType": imported.media_type().to_string(),
                "digest": imported.digest().to_string(),
                "size": imported.size(),
            }));
            let mut entry = imported;
            let mut names = annotations([(CONTAINER_NAME, container.name.clone())]);
            if let Some(group) = &container.group {
                names.insert(CONTAINER_GROUP_NAME.to_owned(), group.clone());
                entry.set_annotations(Some(names));
                groups
                    .entry(group.clone())
                    .or_default()
                    .insert(container.name.clone(), entry);
            } else {
                entry.set_annotations(Some(names));
                top.insert(container.name.clone(), entry);
            }
        }
        if !failed.is_empty() {
            return Err(failed);
        }
        let version = self.plan.release.version.clone();
        for (group, members) in groups {
            let title = format!("Garden Linux {version} {group} containers");
            let annotations = self.oci_annotations(&title, &title);
            let mut index = self.index(
                CONTAINER_GROUP,
                &members.into_values().map(|d| (d, None)).collect::<Vec<_>>(),
                annotations,
            )?;
            index.set_annotations(Some(group_annotations(&group)));
            top.insert(group, index);
        }
        let title = format!("Garden Linux {version} container images");
        let annotations = self.oci_annotations(&title, &title);
        let index = self.index(
            CONTAINER_IMAGES,
            &top.into_values().map(|d| (d, None)).collect::<Vec<_>>(),
            annotations,
        )?;
        records.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Ok(Some((index, records)))
    }

    /// Copies the container's image, every blob verified, its bytes unchanged.
    fn import(
        &mut self,
        container: &ContainerPlan<ContainerSource>,
    ) -> Result<Descriptor, Diagnostics> {
        let fail = |error: SourceError| {
            vec![
                Diagnostic::error(
                    "glc::build::import",
                    format!(
                        "container `{}` from `{}`: {}",
                        container.name, container.from.path, error.message
                    ),
                )
                .help(error.help)
                .in_file(self.source)
                .label(container.from.span, "imported from here"),
            ]
        };
        let source =
            OciSource::open(&container.from.absolute, container.from.kind).map_err(fail)?;
        let picked = source
            .pick(container.reference.as_deref())
            .map_err(fail)?
            .clone();
        self.copy_tree(&source, &picked, 0).map_err(fail)?;
        let digest: Digest = picked.digest.parse().map_err(|e| internal(&e))?;
        let mut builder = DescriptorBuilder::default()
            .media_type(MediaType::from(picked.media_type.as_str()))
            .digest(digest)
            .size(picked.size);
        if let Some(artifact_type) = &picked.artifact_type {
            builder = builder.artifact_type(MediaType::from(artifact_type.as_str()));
        }
        builder.build().map_err(|e| internal(&e))
    }

    fn copy_tree(
        &mut self,
        source: &OciSource,
        descriptor: &RawDescriptor,
        depth: usize,
    ) -> Result<(), SourceError> {
        const MAX_DEPTH: usize = 8;
        if depth > MAX_DEPTH {
            return Err(SourceError {
                message: format!("indexes nest deeper than {MAX_DEPTH} levels"),
                help: "the layout is damaged or hostile".into(),
            });
        }
        let document = matches!(
            descriptor.media_type.as_str(),
            media::INDEX | media::MANIFEST | media::DOCKER_LIST | media::DOCKER_MANIFEST
        );
        if !document {
            return self.copy_blob(source, descriptor);
        }
        let bytes = source.read_document(descriptor)?;
        self.store_verified(&mut &bytes[..], descriptor)?;
        let children: Children = serde_json::from_slice(&bytes).map_err(|e| SourceError {
            message: format!(
                "{} is not a valid {}: {e}",
                descriptor.digest, descriptor.media_type
            ),
            help: "the layout is damaged".into(),
        })?;
        for child in &children.manifests {
            self.copy_tree(source, child, depth + 1)?;
        }
        for blob in children.config.iter().chain(&children.layers) {
            self.copy_blob(source, blob)?;
        }
        Ok(())
    }

    /// A blob of an image: from the previous layout if it is there (it was checked when it
    /// was written), else copied from the source and checked; in a dry run, only counted.
    fn copy_blob(
        &mut self,
        source: &OciSource,
        descriptor: &RawDescriptor,
    ) -> Result<(), SourceError> {
        let blob = Blob {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        };
        if self.layout.is_dry() {
            self.layout.record(&blob);
            return Ok(());
        }
        if let Some(there) = reusable(self.previous, &blob)
            && let Ok(Some(_)) = self.layout.link(&blob, &there, false)
        {
            return Ok(());
        }
        let (mut reader, _) = source.open_blob(descriptor)?;
        self.store_verified(&mut reader, descriptor)
    }

    fn store_verified(
        &mut self,
        reader: &mut dyn std::io::Read,
        descriptor: &RawDescriptor,
    ) -> Result<(), SourceError> {
        match self
            .layout
            .write_verified(reader, &descriptor.digest, descriptor.size)
        {
            Ok(_) => Ok(()),
            Err(BlobError::Io(error)) => Err(SourceError {
                message: format!("cannot copy blob {}: {error}", descriptor.digest),
                help: "check free space in the output directory".into(),
            }),
            Err(BlobError::Mismatch {
                expected,
                actual,
                expected_size,
            }) => Err(SourceError {
                message: if actual.size == expected_size {
                    format!(
                        "blob {expected} is corrupt: its bytes hash to {}",
                        actual.digest
                    )
                } else {
                    format!(
                        "blob {expected} has {} bytes, not the {expected_size} its descriptor says",
                        actual.size
                    )
                },
                help: "the source layout is damaged; copy or build the image again".into(),
            }),
        }
    }

    fn metadata(
        &mut self,
        images: &[serde_json::Value],
        containers: Option<&Vec<serde_json::Value>>,
    ) -> Result<Descriptor, Diagnostics> {
        let plan = self.plan;
        let release = &plan.release;
        let mut layers = Vec::new();
        let version = self
            .layout
            .write_bytes(format!("{}\n", release.version).as_bytes())
            .map_err(|e| io_error("cannot write a blob", &e))?;
        layers.push(
            descriptor("text/plain", &version)?
                .annotations(annotations([(TITLE, "version".to_owned())]))
                .build()
                .map_err(|e| internal(&e))?,
        );
        if let Some(changelog) = &plan.metadata.changelog {
            layers.push(self.layer(changelog)?);
        }
        let links: BTreeMap<&str, &str> = plan
            .metadata
            .links
            .iter()
            .map(|l| (l.name.as_str(), l.target.as_str()))
            .collect();
        let manifest_json = serde_json::json!({
            "version": release.version,
            "commit": release.commit,
            "created": release.created,
            "source": release.source,
            "repository": release.repository,
            "tags": sorted(&plan.tags),
            "links": links,
            "images": images,
            "containers": containers.cloned().unwrap_or_default(),
        });
        let release_manifest = self
            .json_blob(&manifest_json, RELEASE_MANIFEST)?
            .annotations(annotations([(TITLE, "release-manifest.json".to_owned())]))
            .build()
            .map_err(|e| internal(&e))?;
        layers.push(release_manifest);
        let title = format!("Garden Linux {} metadata", release.version);
        let mut annotations = self.oci_annotations(&title, &title);
        for link in &plan.metadata.links {
            annotations.insert(
                format!("io.gardenlinux.link.{}", link.name),
                link.target.clone(),
            );
        }
        self.manifest(METADATA, layers, None, annotations)
    }

    fn index_json(built: &Built) -> Result<Vec<u8>, Diagnostics> {
        let mut entries: Vec<Entry> = Vec::new();
        for (tag, (descriptor, platform)) in &built.tagged {
            let mut entry = descriptor.clone();
            let mut names = entry.annotations().clone().unwrap_or_default();
            names.insert(REF_NAME.to_owned(), tag.clone());
            entry.set_annotations(Some(names));
            entries.push((entry, platform.clone()));
        }
        entries.extend(built.attachments.iter().map(|d| (d.clone(), None)));
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(entries.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
            .annotations(annotations([(MARKER, "1".to_owned())]))
            .build()
            .map_err(|e| internal(&e))?;
        index_bytes(&index, &entries)
    }
}

/// The children of a manifest or index, whatever its flavour.
#[derive(serde::Deserialize)]
struct Children {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

fn annotations_cname(cname: &str) -> std::collections::HashMap<String, String> {
    annotations([("cname", cname.to_owned())])
}

/// A group's entry in `ContainerImages` names the group; only containers carry a name.
fn group_annotations(group: &str) -> std::collections::HashMap<String, String> {
    annotations([(CONTAINER_GROUP_NAME, group.to_owned())])
}

fn sorted(items: &[String]) -> Vec<&String> {
    let mut items: Vec<&String> = items.iter().collect();
    items.sort();
    items
}

fn layer_record(layer: &Descriptor) -> serde_json::Value {
    serde_json::json!({
        "title": layer.annotations().as_ref().and_then(|a| a.get(TITLE)),
        "mediaType": layer.media_type().to_string(),
        "digest": layer.digest().to_string(),
        "size": layer.size(),
    })
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
    let mut files: Vec<&ResolvedFile> = plan.metadata.changelog.iter().collect();
    for image in &plan.images {
        files.extend(image.layers());
        files.extend(image.attachments.iter().map(|a| &a.file));
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(&f.absolute));
    let results: Vec<Result<(PathBuf, Blob, Placement), Diagnostics>> = files
        .par_iter()
        .map(|file| {
            stage_file(file, layout, options, created_epoch)
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
    let read_error = |e: &std::io::Error| io_error(&format!("cannot read {}", file.path), e);
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
            .map_err(|e| io_error("cannot write a blob", &e))?;
        dirtar::pack(&file.absolute, created_epoch, &mut writer).map_err(|e| {
            vec![Diagnostic::error("glc::build::pack", format!("cannot pack `{}`: {e}", file.path))
                .help("directories are packed as they are; links must stay inside them, and devices, fifos and sockets cannot be packed")]
        })?;
        let blob = writer
            .finish()
            .map_err(|e| io_error("cannot write a blob", &e))?;
        return Ok((blob, none_if_dry(Placement::Copied)));
    }
    let metadata = std::fs::metadata(&file.absolute).map_err(|e| read_error(&e))?;
    let key = cache::key(&file.absolute, &metadata);
    let known = options.cache.get(&key).filter(|b| b.size == metadata.len());
    let placed = |blob: Blob, placement: Placement| {
        options.cache.put(key.clone(), &blob);
        Ok((blob, placement))
    };
    if let Some(blob) = &known {
        if layout.is_dry() {
            layout.record(blob);
            return placed(blob.clone(), Placement::None);
        }
        if layout.contains(blob) {
            return placed(blob.clone(), Placement::Duplicate);
        }
        if let Some(there) = reusable(options.previous, blob)
            && !options.link
            && let Some(placement) = layout
                .link(blob, &there, false)
                .map_err(|e| read_error(&e))?
        {
            return placed(blob.clone(), placement);
        }
    }
    if options.link && !layout.is_dry() {
        // Hashed now, whatever the cache says: the input itself becomes the blob.
        let blob = match options.progress {
            Some(bar) => {
                let reader = File::open(&file.absolute).map_err(|e| read_error(&e))?;
                LayoutWriter::dry()
                    .write_reader(&mut bar.wrap_read(reader))
                    .map_err(|e| read_error(&e))?
            }
            None => hash_file(&file.absolute).map_err(|e| read_error(&e))?,
        };
        if let Some(placement) = layout
            .link(&blob, &file.absolute, true)
            .map_err(|e| read_error(&e))?
        {
            return placed(blob, placement);
        }
    }
    let reader = File::open(&file.absolute).map_err(|e| read_error(&e))?;
    let mut reader: Box<dyn std::io::Read> = match options.progress {
        Some(bar) => Box::new(bar.wrap_read(reader)),
        None => Box::new(reader),
    };
    let blob = layout
        .write_reader(&mut reader)
        .map_err(|e| io_error(&format!("cannot copy {}", file.path), &e))?;
    placed(blob, none_if_dry(Placement::Copied))
}

/// The previous layout's copy of `blob`, if it may be linked into the new layout: of the
/// right size, and linked nowhere else (a blob with more links may be an input file placed
/// with `--link`, which can change under the layout; such a blob is placed afresh).
fn reusable(previous: Option<&Path>, blob: &Blob) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if !crate::oci::layout::is_sha256(&blob.digest) {
        return None;
    }
    let there = previous?.join("blobs/sha256").join(blob.hex());
    let metadata = std::fs::metadata(&there).ok()?;
    (metadata.len() == blob.size && metadata.nlink() == 1).then_some(there)
}
