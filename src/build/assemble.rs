//! The last step of emit: an [`Assembly`] — the release with every input blob's digest known —
//! becomes the OCI graph as DESIGN.md draws it: manifests, indexes and `index.json`.
//!
//! `glc build` makes the assembly from its plan after staging the files; `glc merge` makes it
//! from the part records of partial layouts. Both then run this same code, so a merge writes
//! the bytes a full build writes.
//!
//! Order rule, the same in every index and in `index.json`: entries sorted by name in byte
//! order (cnames, container names, tags), untagged entries after tagged ones, by digest. The
//! Release index lists `MetaData`, `CloudImages`, `ContainerImages`, in that order. So a layout
//! depends only on what is in it, never on the order of the release file, of a build or of the
//! parts of a merge.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageIndexBuilder, ImageManifestBuilder, MediaType,
};
use serde::{Deserialize, Serialize};

use crate::build::output::MARKER;
use crate::diagnostic::error::EmitError;
use crate::front::plan::{
    AptRepositoryPlan, Bindings, ClientNames, LinkPlan, Part, ReleaseInfo, gl_oci_tag,
};
use crate::oci::json::canonical;
use crate::oci::layout::{Blob, LayoutWriter, Placement};
use crate::oci::media;

pub use crate::oci::vocab::annotation::TITLE;
use crate::oci::vocab::annotation::{CONTAINER_GROUP_NAME, CONTAINER_NAME, REF_NAME};
pub use crate::oci::vocab::artifact::{
    CLOUD_IMAGE, CLOUD_IMAGES, CONTAINER_GROUP, CONTAINER_IMAGES, METADATA, PART, PART_RECORD,
    RELEASE, RELEASE_MANIFEST,
};
/// The layer annotation gl-oci gives every file of an image: its architecture (`amd64`).
pub const LAYER_ARCHITECTURE: &str = "io.gardenlinux.image.layer.architecture";
/// The version of the part record's format; `glc merge` reads only this one.
pub const PART_FORMAT: u32 = 1;

/// A file as a layer: its blob, media type and title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Layer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub title: String,
}

impl Layer {
    #[must_use]
    pub fn blob(&self) -> Blob {
        Blob {
            digest: self.digest.clone(),
            size: self.size,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachedLayer {
    pub kind: String,
    pub layer: Layer,
}

/// A cloud image with its files as layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageEntry {
    pub cname: String,
    pub matrix: Bindings,
    /// In manifest order, [`crate::front::role::Role::LAYERS`].
    pub layers: Vec<Layer>,
    pub attachments: Vec<AttachedLayer>,
    pub apt_repository: Option<AptRepositoryPlan>,
    /// Taken from `matrix`, so a part record does not carry them: [`ClientNames::of`].
    #[serde(skip)]
    pub client_names: ClientNames,
}

/// A container: the image imported for it, by its descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerEntry {
    pub name: String,
    pub group: Option<String>,
    pub tag: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    /// For the default container: its platform images, which the release index lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<serde_json::Value>,
}

/// Everything the graph is made of, every blob known by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assembly {
    pub release: ReleaseInfo,
    pub tags: Vec<String>,
    pub links: Vec<LinkPlan>,
    pub changelog: Option<Layer>,
    /// The release's own files, in the order the release file names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata_files: Vec<Layer>,
    /// The cloud images built, sorted by cname.
    pub images: Vec<ImageEntry>,
    /// Every container of the release, sorted by name; in a part, only those named in
    /// `part.containers` are imported and tagged.
    pub containers: Vec<ContainerEntry>,
    /// `None` for a whole release.
    pub part: Option<Part>,
}

impl Assembly {
    #[must_use]
    pub fn builds_container(&self, name: &str) -> bool {
        self.part
            .as_ref()
            .is_none_or(|part| part.containers.iter().any(|c| c == name))
    }
}

/// The record a part carries, as its own blob: the assembly, and the format it is written in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRecord {
    pub format: u32,
    pub assembly: Assembly,
}

/// What a build or merge wrote, for the summary and `--digests`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub repository: Option<String>,
    /// Every tag of `index.json` and what it points at.
    pub tags: BTreeMap<String, Target>,
    /// The attachments, untagged.
    pub attachments: Vec<Target>,
    /// A part's record, untagged; absent for a whole release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Target>,
    #[serde(skip)]
    pub blobs: usize,
    #[serde(skip)]
    pub bytes: u64,
    #[serde(skip)]
    pub images: usize,
    #[serde(skip)]
    pub containers: usize,
    /// For a part: how many cloud images and containers the whole release has.
    #[serde(skip)]
    pub part_of: Option<(usize, usize)>,
    /// How many input files were copied, linked or reused.
    #[serde(skip)]
    pub placements: BTreeMap<Placement, usize>,
    /// The layout's `index.json`.
    #[serde(skip)]
    pub index: Vec<u8>,
    /// Every blob of the layout: hex → size.
    #[serde(skip)]
    pub blob_list: BTreeMap<String, u64>,
    /// For a dry run, the documents it wrote whole: hex → bytes.
    #[serde(skip)]
    pub documents: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Writes the graph of `assembly` into `layout`, whose input blobs are in place, and
/// completes it with `index.json` (or, with a dry writer, only computes it).
pub fn finish(
    assembly: &Assembly,
    layout: LayoutWriter,
    placements: BTreeMap<Placement, usize>,
) -> Result<BuildReport, EmitError> {
    let built = Assembler {
        assembly,
        layout: &layout,
    }
    .release()?;
    let index = index_json(&built)?;
    let (blobs, bytes) = layout.totals();
    let blob_list = layout.blobs();
    let documents = layout.take_documents();
    layout
        .finish(&index)
        .map_err(EmitError::io("cannot write index.json"))?;
    let repository = assembly.release.repository.as_ref();
    let target = |d: &Descriptor, destination: Option<String>| Target {
        digest: d.digest().to_string(),
        media_type: d.media_type().to_string(),
        size: d.size(),
        artifact_type: d.artifact_type().as_ref().map(ToString::to_string),
        destination,
    };
    let untagged = |d: &Descriptor| target(d, repository.map(|r| format!("{r}@{}", d.digest())));
    Ok(BuildReport {
        repository: repository.cloned(),
        tags: built
            .tagged
            .iter()
            .map(|(tag, (d, _))| {
                (
                    tag.clone(),
                    target(d, repository.map(|r| format!("{r}:{tag}"))),
                )
            })
            .collect(),
        attachments: built.attachments.iter().map(untagged).collect(),
        part: built.part.as_ref().map(untagged),
        blobs,
        bytes,
        images: assembly.images.len(),
        containers: assembly
            .containers
            .iter()
            .filter(|c| assembly.builds_container(&c.name))
            .count(),
        part_of: assembly
            .part
            .as_ref()
            .map(|p| (p.all_images.len(), assembly.containers.len())),
        placements,
        index,
        blob_list,
        documents,
    })
}

/// An entry of an index: its descriptor and its platform, if it has one. oci-spec 0.10
/// serializes `os.version` as `os_version`, so glc adds platforms to the serialized index.
type Entry = (Descriptor, Option<serde_json::Value>);

/// The descriptors the graph's roots are made of, for `index.json`.
struct Built {
    tagged: BTreeMap<String, Entry>,
    attachments: Vec<Descriptor>,
    part: Option<Descriptor>,
}

/// An image index as canonical JSON, each entry with its platform.
fn index_bytes(
    index: &oci_spec::image::ImageIndex,
    entries: &[Entry],
) -> Result<Vec<u8>, EmitError> {
    let mut value = serde_json::to_value(index).map_err(EmitError::internal)?;
    if let Some(manifests) = value
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
    {
        for (manifest, (_, platform)) in manifests.iter_mut().zip(entries) {
            if let (Some(object), Some(platform)) = (manifest.as_object_mut(), platform) {
                object.insert("platform".to_owned(), platform.clone());
            }
        }
    }
    canonical(&value).map_err(EmitError::internal)
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Result<DescriptorBuilder, EmitError> {
    let digest: Digest = digest.parse().map_err(EmitError::internal)?;
    Ok(DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(digest)
        .size(size))
}

fn blob_descriptor(media_type: &str, blob: &Blob) -> Result<DescriptorBuilder, EmitError> {
    descriptor(media_type, &blob.digest, blob.size)
}

fn annotations<const N: usize>(pairs: [(&str, String); N]) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

struct Assembler<'a> {
    assembly: &'a Assembly,
    layout: &'a LayoutWriter,
}

impl Assembler<'_> {
    /// `org.opencontainers.image.*` for every manifest and index.
    fn oci_annotations(&self, title: &str, description: &str) -> HashMap<String, String> {
        let r = &self.assembly.release;
        let mut map = annotations([
            ("org.opencontainers.image.created", r.created.clone()),
            ("org.opencontainers.image.version", r.version.clone()),
            ("org.opencontainers.image.revision", r.commit.clone()),
            (TITLE, title.to_owned()),
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
        &self,
        value: &impl Serialize,
        media_type: &str,
    ) -> Result<DescriptorBuilder, EmitError> {
        let bytes = canonical(value).map_err(EmitError::internal)?;
        let blob = self
            .layout
            .write_bytes(&bytes)
            .map_err(EmitError::io("cannot write a blob"))?;
        blob_descriptor(media_type, &blob)
    }

    fn empty_config(&self) -> Result<Descriptor, EmitError> {
        let blob = self
            .layout
            .write_bytes(b"{}")
            .map_err(EmitError::io("cannot write a blob"))?;
        blob_descriptor(media::EMPTY, &blob)?
            .build()
            .map_err(EmitError::internal)
    }

    /// A layer whose blob is in the layout already, titled with its file name.
    fn layer(layer: &Layer) -> Result<Descriptor, EmitError> {
        descriptor(&layer.media_type, &layer.digest, layer.size)?
            .annotations(annotations([(TITLE, layer.title.clone())]))
            .build()
            .map_err(EmitError::internal)
    }

    fn manifest(
        &self,
        artifact_type: &str,
        layers: Vec<Descriptor>,
        subject: Option<Descriptor>,
        annotations: HashMap<String, String>,
    ) -> Result<Descriptor, EmitError> {
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
        let manifest = builder.build().map_err(EmitError::internal)?;
        self.json_blob(&manifest, media::MANIFEST)?
            .artifact_type(MediaType::from(artifact_type))
            .build()
            .map_err(EmitError::internal)
    }

    fn index(
        &self,
        artifact_type: &str,
        entries: &[Entry],
        annotations: HashMap<String, String>,
    ) -> Result<Descriptor, EmitError> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .artifact_type(MediaType::from(artifact_type))
            .manifests(entries.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
            .annotations(annotations)
            .build()
            .map_err(EmitError::internal)?;
        let bytes = index_bytes(&index, entries)?;
        let blob = self
            .layout
            .write_bytes(&bytes)
            .map_err(EmitError::io("cannot write a blob"))?;
        blob_descriptor(media::INDEX, &blob)?
            .artifact_type(MediaType::from(artifact_type))
            .build()
            .map_err(EmitError::internal)
    }

    fn release(&self) -> Result<Built, EmitError> {
        let assembly = self.assembly;
        let version = &assembly.release.version;
        let mut tagged = BTreeMap::new();

        // A part's cloud images name `ContainerImages` by digest, but the part does not hold
        // it: computed with a writer that writes nothing.
        let dry = LayoutWriter::dry();
        let containers = if assembly.part.is_some() {
            Assembler {
                assembly,
                layout: &dry,
            }
            .containers(&mut tagged)?
        } else {
            self.containers(&mut tagged)?
        };
        let mut cloud_images = Vec::new();
        let mut attachments = Vec::new();
        let mut manifest_images = Vec::new();
        let mut images: Vec<&ImageEntry> = assembly.images.iter().collect();
        images.sort_by(|a, b| a.cname.cmp(&b.cname));
        for image in images {
            let (entry, image_attachments, record) =
                self.cloud_image(image, containers.as_ref().map(|c| &c.0))?;
            tagged.insert(image.cname.clone(), entry.clone());
            if assembly.release.gl_oci
                && let Some(arch) = &image.client_names.architecture
            {
                tagged.insert(gl_oci_tag(version, &image.cname, arch), entry.clone());
            }
            cloud_images.push(entry);
            attachments.extend(image_attachments);
            manifest_images.push(record);
        }
        attachments.sort_by_key(|a| a.digest().to_string());
        if assembly.part.is_some() {
            let part = self.part_record()?;
            return Ok(Built {
                tagged,
                attachments,
                part: Some(part),
            });
        }
        let mut entries = Vec::new();
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
        // The flat view today's clients read at `<repo>:<version>`: every cloud image again,
        // then the default container's platform images, for `podman pull`.
        entries.extend(cloud_images.iter().cloned());
        entries.extend(self.default_container()?);
        let title = format!("Garden Linux {version}");
        let annotations = self.oci_annotations(
            &title,
            &format!("Garden Linux {version}: metadata, cloud images and container images"),
        );
        let release = self.index(RELEASE, &entries, annotations)?;
        for tag in &assembly.tags {
            tagged.insert(tag.clone(), (release.clone(), None));
        }
        Ok(Built {
            tagged,
            attachments,
            part: None,
        })
    }

    /// The platform images of the default container, as the release index lists them.
    fn default_container(&self) -> Result<Vec<Entry>, EmitError> {
        self.assembly
            .containers
            .iter()
            .flat_map(|c| &c.platforms)
            .map(|platform| {
                let size = platform["size"].as_u64().unwrap_or_default();
                let mut builder = descriptor(
                    platform["mediaType"].as_str().unwrap_or_default(),
                    platform["digest"].as_str().unwrap_or_default(),
                    size,
                )?;
                let names = crate::oci::descriptor::string_annotations(platform);
                if !names.is_empty() {
                    builder = builder.annotations(names.into_iter().collect::<HashMap<_, _>>());
                }
                if let Some(artifact_type) = platform["artifactType"].as_str() {
                    builder = builder.artifact_type(MediaType::from(artifact_type));
                }
                let entry = builder.build().map_err(EmitError::internal)?;
                Ok((entry, platform.get("platform").cloned()))
            })
            .collect()
    }

    /// A part's record as an artifact: the assembly, for `glc merge`.
    fn part_record(&self) -> Result<Descriptor, EmitError> {
        let record = PartRecord {
            format: PART_FORMAT,
            assembly: self.assembly.clone(),
        };
        let mut layers = vec![
            self.json_blob(&record, PART_RECORD)?
                .annotations(annotations([(TITLE, "part.json".to_owned())]))
                .build()
                .map_err(EmitError::internal)?,
        ];
        // The changelog goes into `MetaData` when the parts are merged; until then it is here.
        if let Some(changelog) = &self.assembly.changelog {
            layers.push(Self::layer(changelog)?);
        }
        for file in &self.assembly.metadata_files {
            layers.push(Self::layer(file)?);
        }
        let version = &self.assembly.release.version;
        let title = format!("Garden Linux {version} part");
        let description = format!(
            "a part of Garden Linux {version}, to be merged with `glc merge`: {} cloud images, {} containers",
            self.assembly.images.len(),
            self.assembly
                .part
                .as_ref()
                .map_or(0, |p| p.containers.len()),
        );
        let annotations = self.oci_annotations(&title, &description);
        self.manifest(PART, layers, None, annotations)
    }

    fn cloud_image(
        &self,
        image: &ImageEntry,
        container_images: Option<&Descriptor>,
    ) -> Result<(Entry, Vec<Descriptor>, serde_json::Value), EmitError> {
        let release = &self.assembly.release;
        let gl_oci_arch = image
            .client_names
            .architecture
            .as_ref()
            .filter(|_| release.gl_oci);
        let layers: Vec<Descriptor> = image
            .layers
            .iter()
            .map(|layer| {
                let mut descriptor = Self::layer(layer)?;
                // gl-oci annotates every layer with the image's architecture.
                if let Some(arch) = gl_oci_arch {
                    let mut names = descriptor.annotations().clone().unwrap_or_default();
                    names.insert(LAYER_ARCHITECTURE.to_owned(), arch.clone());
                    descriptor.set_annotations(Some(names));
                }
                Ok(descriptor)
            })
            .collect::<Result<_, EmitError>>()?;
        let mut annotations = self.oci_annotations(
            &image.cname,
            &format!("Garden Linux {} {}", release.version, image.cname),
        );
        // What Garden Linux's clients read of an image, on its manifest and on the
        // descriptors that list it.
        let mut client = self::annotations([
            ("cname", image.cname.clone()),
            ("version", release.version.clone()),
            // gl-oci writes the commit as its builder names it in cnames: 8 characters.
            (
                "commit",
                if release.gl_oci {
                    release.commit_short.clone()
                } else {
                    release.commit.clone()
                },
            ),
        ]);
        for (key, value) in [
            ("architecture", &image.client_names.architecture),
            ("feature_set", &image.client_names.feature_set),
            ("flavor", &image.client_names.flavor),
        ] {
            if let Some(value) = value {
                client.insert(key.to_owned(), value.clone());
            }
        }
        annotations.extend(client.clone());
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
        // The descriptor names the image by `cname` (what Garden Linux's clients key on), never
        // by `org.opencontainers.image.title`: the image spec defines that for a blob's file
        // name, and oras writes a file of that name holding the manifest.
        let mut descriptor = manifest.clone();
        descriptor.set_annotations(Some(client));
        let platform = image.client_names.architecture.as_ref().map(|arch| {
            serde_json::json!({
                "architecture": arch,
                "os": "gardenlinux",
                "os.version": release.version,
            })
        });
        let mut attachments = Vec::new();
        let mut attachment_records = Vec::new();
        for attachment in &image.attachments {
            let layer = Self::layer(&attachment.layer)?;
            let artifact_type = crate::oci::vocab::artifact::attachment(&attachment.kind);
            let mut annotations = self.oci_annotations(
                &attachment.layer.title,
                &format!("{} of {}", attachment.kind, image.cname),
            );
            annotations.insert("cname".to_owned(), image.cname.clone());
            let subject = DescriptorBuilder::default()
                .media_type(MediaType::ImageManifest)
                .digest(manifest.digest().clone())
                .size(manifest.size())
                .build()
                .map_err(EmitError::internal)?;
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

    /// The `ContainerImages` index, `None` without containers, and the containers' records
    /// for the release manifest. Tags the containers this layout holds.
    fn containers(
        &self,
        tagged: &mut BTreeMap<String, Entry>,
    ) -> Result<Option<(Descriptor, Vec<serde_json::Value>)>, EmitError> {
        let assembly = self.assembly;
        if assembly.containers.is_empty() {
            return Ok(None);
        }
        let mut top: BTreeMap<String, Descriptor> = BTreeMap::new();
        let mut groups: BTreeMap<String, BTreeMap<String, Descriptor>> = BTreeMap::new();
        let mut records = Vec::new();
        for container in &assembly.containers {
            let mut builder = descriptor(&container.media_type, &container.digest, container.size)?;
            if let Some(artifact_type) = &container.artifact_type {
                builder = builder.artifact_type(MediaType::from(artifact_type.as_str()));
            }
            let imported = builder.build().map_err(EmitError::internal)?;
            if assembly.builds_container(&container.name) {
                tagged.insert(container.tag.clone(), (imported.clone(), None));
            }
            records.push(serde_json::json!({
                "name": container.name,
                "group": container.group,
                "tag": container.tag,
                "mediaType": container.media_type,
                "digest": container.digest,
                "size": container.size,
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
        let version = &assembly.release.version;
        for (group, members) in groups {
            let title = format!("Garden Linux {version} {group} containers");
            let annotations = self.oci_annotations(&title, &title);
            let mut index = self.index(
                CONTAINER_GROUP,
                &members.into_values().map(|d| (d, None)).collect::<Vec<_>>(),
                annotations,
            )?;
            // A group's entry in `ContainerImages` names the group; only containers carry a name.
            index.set_annotations(Some(annotations_of_group(&group)));
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

    fn metadata(
        &self,
        images: &[serde_json::Value],
        containers: Option<&Vec<serde_json::Value>>,
    ) -> Result<Descriptor, EmitError> {
        let assembly = self.assembly;
        let release = &assembly.release;
        let mut layers = Vec::new();
        let version = self
            .layout
            .write_bytes(format!("{}\n", release.version).as_bytes())
            .map_err(EmitError::io("cannot write a blob"))?;
        layers.push(
            blob_descriptor("text/plain", &version)?
                .annotations(annotations([(TITLE, "version".to_owned())]))
                .build()
                .map_err(EmitError::internal)?,
        );
        if let Some(changelog) = &assembly.changelog {
            layers.push(Self::layer(changelog)?);
        }
        let mut files = Vec::new();
        for file in &assembly.metadata_files {
            let layer = Self::layer(file)?;
            files.push(layer_record(&layer));
            layers.push(layer);
        }
        let links: BTreeMap<&str, &str> = assembly
            .links
            .iter()
            .map(|l| (l.name.as_str(), l.target.as_str()))
            .collect();
        let mut tags: Vec<&String> = assembly.tags.iter().collect();
        tags.sort();
        let mut manifest_json = serde_json::json!({
            "version": release.version,
            "commit": release.commit,
            "created": release.created,
            "source": release.source,
            "repository": release.repository,
            "tags": tags,
            "links": links,
            "images": images,
            "containers": containers.cloned().unwrap_or_default(),
        });
        // Only where there are some: a release without them keeps its bytes.
        if !files.is_empty() {
            manifest_json["metadata"] = serde_json::Value::Array(files);
        }
        let release_manifest = self
            .json_blob(&manifest_json, RELEASE_MANIFEST)?
            .annotations(annotations([(TITLE, "release-manifest.json".to_owned())]))
            .build()
            .map_err(EmitError::internal)?;
        layers.push(release_manifest);
        let title = format!("Garden Linux {} metadata", release.version);
        let mut link_annotations = self.oci_annotations(&title, &title);
        for link in &assembly.links {
            link_annotations.insert(
                format!("io.gardenlinux.link.{}", link.name),
                link.target.clone(),
            );
        }
        self.manifest(METADATA, layers, None, link_annotations)
    }
}

fn index_json(built: &Built) -> Result<Vec<u8>, EmitError> {
    let mut entries: Vec<Entry> = Vec::new();
    for (tag, (descriptor, platform)) in &built.tagged {
        let mut entry = descriptor.clone();
        let mut names = entry.annotations().clone().unwrap_or_default();
        names.insert(REF_NAME.to_owned(), tag.clone());
        entry.set_annotations(Some(names));
        entries.push((entry, platform.clone()));
    }
    let mut untagged: Vec<&Descriptor> = built.attachments.iter().chain(&built.part).collect();
    untagged.sort_by_key(|d| d.digest().to_string());
    entries.extend(untagged.into_iter().map(|d| (d.clone(), None)));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(entries.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
        .annotations(annotations([(MARKER, "1".to_owned())]))
        .build()
        .map_err(EmitError::internal)?;
    index_bytes(&index, &entries)
}

fn annotations_of_group(group: &str) -> HashMap<String, String> {
    annotations([(CONTAINER_GROUP_NAME, group.to_owned())])
}

fn layer_record(layer: &Descriptor) -> serde_json::Value {
    serde_json::json!({
        "title": layer.annotations().as_ref().and_then(|a| a.get(TITLE)),
        "mediaType": layer.media_type().to_string(),
        "digest": layer.digest().to_string(),
        "size": layer.size(),
    })
}
