//! Reading an OCI image layout made by another tool: a directory, or a tar of one (an OCI
//! archive). Only what glc needs: `index.json`, and blobs by digest, streamed. Every file is
//! opened as [`crate::oci::file`] says (regular files only, no links, no waiting on fifos),
//! and an archive is indexed header by header ([`crate::oci::tar_index`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::oci::file::{self, FileError, LayoutDir};
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{Archive, Layout, Opened, Region, Store, StoreError};
use crate::oci::tar_index::{self, TarError};
use crate::oci::vocab::Kind;
use crate::oci::{Descriptor, Digest, printable};

/// How a container's `from` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A directory with `oci-layout` and `index.json`.
    OciLayout,
    /// A tar of such a directory.
    OciArchive,
}

/// What went wrong reading a source, said for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub message: String,
    pub help: String,
}

impl SourceError {
    pub(crate) fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Where the graph of a source lives.
#[derive(Debug)]
enum Stored {
    Directory(Layout),
    Archive(Archive),
}

#[derive(Debug)]
pub struct OciSource {
    pub kind: SourceKind,
    pub manifests: Vec<Descriptor>,
    /// `index.json` as read, which `manifests` were parsed from.
    index: Vec<u8>,
    store: Stored,
}

const NOT_A_LAYOUT: &str = "is this an OCI image layout?";

impl OciSource {
    pub fn open(path: &Path, kind: SourceKind) -> Result<Self, SourceError> {
        match kind {
            SourceKind::OciLayout => Self::open_directory(path),
            SourceKind::OciArchive => Self::open_archive(path),
        }
    }

    fn open_directory(path: &Path) -> Result<Self, SourceError> {
        let layout = LayoutDir::open(path).map_err(|e| {
            SourceError::new(
                format!("cannot open the layout directory: {e}"),
                NOT_A_LAYOUT,
            )
        })?;
        let read = |name: &str| {
            layout.read(name, MAX_DOCUMENT).map_err(|e| match e {
                // Said as to a person who named the wrong directory.
                FileError::Missing => SourceError::new(
                    format!("cannot read {name}: it does not exist"),
                    NOT_A_LAYOUT,
                ),
                FileError::Io(_) => SourceError::new(e.message(name), NOT_A_LAYOUT),
                _ => SourceError::new(e.message(name), "the layout is damaged or hostile"),
            })
        };
        check_layout_file(&read("oci-layout")?)?;
        let index = read("index.json")?;
        let manifests = parse_index(&index)?;
        Ok(Self {
            kind: SourceKind::OciLayout,
            index,
            store: Stored::Directory(Layout::new(
                "the layout".to_owned(),
                layout,
                manifests.clone(),
            )),
            manifests,
        })
    }

    fn open_archive(path: &Path) -> Result<Self, SourceError> {
        let (file, length) = file::open_regular(path).map_err(|e| {
            SourceError::new(
                e.message("the archive"),
                "point `from` at an OCI archive (`skopeo copy … oci-archive:FILE`) or a layout directory",
            )
        })?;
        Self::from_archive(file, length)
    }

    /// The OCI archive `file` (a regular file of `length` bytes, opened by the caller).
    pub fn from_archive(file: File, length: u64) -> Result<Self, SourceError> {
        let found = tar_index::entries(&file, length).map_err(|e| match e {
            TarError::Truncated(why) => SourceError::new(
                format!("the archive is truncated: {why}"),
                "the file was cut short; copy or write it again",
            ),
            TarError::Damaged(why) => SourceError::new(
                format!("the archive is damaged: {why}"),
                "write it again, e.g. with `skopeo copy … oci-archive:FILE`",
            ),
        })?;
        let mut entries = BTreeMap::new();
        let mut index = None;
        let mut layout = None;
        for entry in found {
            let read = || -> Result<Vec<u8>, SourceError> {
                let reader = Region::new(&file, entry.offset, entry.size);
                file::read_to_limit(reader, entry.size, MAX_DOCUMENT)
                    .map_err(|e| SourceError::new(e.message(&entry.name), "the archive is damaged"))
            };
            match entry.name.as_str() {
                "index.json" => index = Some(read()?),
                "oci-layout" => layout = Some(read()?),
                _ => {
                    if let Some(hex) = entry.name.strip_prefix("blobs/sha256/") {
                        entries.insert(hex.to_owned(), (entry.offset, entry.size));
                    }
                }
            }
        }
        let missing = |name: &str| {
            SourceError::new(
                format!("the archive has no `{name}`: it is a tar, but not an OCI archive"),
                "point `from` at an OCI archive (`skopeo copy … oci-archive:FILE`) or a layout directory",
            )
        };
        check_layout_file(&layout.ok_or_else(|| missing("oci-layout"))?)?;
        let index = index.ok_or_else(|| missing("index.json"))?;
        let manifests = parse_index(&index)?;
        Ok(Self {
            kind: SourceKind::OciArchive,
            index,
            store: Stored::Archive(Archive::new(
                "the archive".to_owned(),
                file,
                entries,
                manifests.clone(),
            )),
            manifests,
        })
    }

    /// The image to import: the one tagged `reference`, or the only one.
    pub fn pick(&self, reference: Option<&str>) -> Result<&Descriptor, SourceError> {
        let names: Vec<String> = self
            .manifests
            .iter()
            .map(|d| {
                d.ref_name()
                    .map_or_else(|| d.digest.to_string(), |r| printable(r).into_owned())
            })
            .collect();
        if let Some(reference) = reference {
            let matching: Vec<&Descriptor> = self
                .manifests
                .iter()
                .filter(|d| d.ref_name() == Some(reference))
                .collect();
            return match matching.as_slice() {
                [one] => Ok(one),
                [] => Err(SourceError::new(
                    format!("no image is tagged `{}` here", printable(reference)),
                    format!("the layout holds {}", crate::util::text::list(&names)),
                )),
                _ => Err(SourceError::new(
                    format!(
                        "{} images are tagged `{}` here",
                        matching.len(),
                        printable(reference)
                    ),
                    "the layout's index.json names one tag twice; fix the layout",
                )),
            };
        }
        match self.manifests.as_slice() {
            [one] => Ok(one),
            [] => Err(SourceError::new(
                "the layout holds no image",
                "its index.json lists no manifests",
            )),
            _ => Err(SourceError::new(
                format!(
                    "the layout holds {} images; say which with ref=\"…\"",
                    self.manifests.len()
                ),
                format!("it holds {}", crate::util::text::list(&names)),
            )),
        }
    }

    /// The platform images of `image` that `podman pull` chooses from, as descriptors to list
    /// in another index: an index's entries whose platform's `os` is `linux`, or a single
    /// image manifest with the platform its config names. Empty if `image` holds none.
    pub fn platform_manifests(&self, image: &Descriptor) -> Result<Vec<Value>, SourceError> {
        let graph = crate::oci::walk::walk_from(self, image);
        if let Some(problem) = graph.problems().into_iter().next() {
            return Err(SourceError::new(
                format!("{}: {}", problem.path, problem.message),
                "the image is damaged; copy it again",
            ));
        }
        let Some(crate::oci::walk::Child::Node(root, _)) = graph.roots.first() else {
            return Ok(Vec::new());
        };
        let Some(document) = &graph.nodes[*root].document else {
            return Ok(Vec::new());
        };
        match document.kind {
            Kind::Index => Ok(document
                .manifests
                .iter()
                .flatten()
                .filter_map(|child| match child {
                    crate::oci::walk::Child::Node(_, descriptor) => Some(descriptor),
                    crate::oci::walk::Child::Invalid(_) => None,
                })
                .filter(|d| {
                    d.kind() == Kind::Manifest
                        && d.platform.as_ref().is_some_and(|p| p["os"] == "linux")
                })
                .map(|d| {
                    let mut d = d.clone();
                    d.platform = d.platform.as_ref().map(known_platform);
                    d.to_value()
                })
                .collect()),
            Kind::Manifest => {
                let Some(crate::oci::walk::Child::Node(_, config)) = &document.config else {
                    return Ok(Vec::new());
                };
                let (reader, size) = self.open_blob(config)?;
                let bytes = file::read_to_limit(reader, size, MAX_DOCUMENT).map_err(|e| {
                    SourceError::new(e.message("the image's config"), "the image is damaged")
                })?;
                if crate::oci::Digest::of(&bytes) != config.digest {
                    return Err(SourceError::new(
                        format!("the image's config does not hash to {}", config.digest),
                        "the image is damaged; copy it again",
                    ));
                }
                let config: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let (Some(os), Some(architecture)) =
                    (config["os"].as_str(), config["architecture"].as_str())
                else {
                    return Ok(Vec::new());
                };
                if os != "linux" {
                    return Ok(Vec::new());
                }
                let mut descriptor = image.clone();
                descriptor.annotations.clear();
                let mut platform = serde_json::json!({"os": os, "architecture": architecture});
                if let Some(variant) = config["variant"].as_str() {
                    platform["variant"] = variant.into();
                }
                descriptor.platform = Some(platform);
                Ok(vec![descriptor.to_value()])
            }
            Kind::Blob => Ok(Vec::new()),
        }
    }

    /// A reader over the blob's bytes as stored, and the stored size. The caller verifies.
    pub fn open_blob(
        &self,
        descriptor: &Descriptor,
    ) -> Result<(Box<dyn Read + '_>, u64), SourceError> {
        match self.store().open(descriptor) {
            Ok(Opened { reader, size }) => Ok((reader, size.unwrap_or(descriptor.size))),
            Err(e) => {
                let help = match e {
                    StoreError::NotFound { .. } => "the layout is incomplete; copy it again",
                    _ => "the layout is damaged or hostile",
                };
                Err(SourceError::new(e.to_string(), help))
            }
        }
    }

    /// Its `index.json`, byte for byte as read when it was opened.
    #[must_use]
    pub fn index_json(&self) -> &[u8] {
        &self.index
    }

    /// The store the source's graph is read from.
    #[must_use]
    pub fn store(&self) -> &dyn Store {
        match &self.store {
            Stored::Directory(layout) => layout,
            Stored::Archive(archive) => archive,
        }
    }
}

/// The source is read as the store it is, by the walker and by imports.
impl Store for OciSource {
    fn name(&self) -> String {
        self.store().name()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        self.store().resolve(name)
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        self.store().tags()
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        self.store().open(descriptor)
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.store().referrers(subject, artifact_type)
    }
}

fn check_layout_file(bytes: &[u8]) -> Result<(), SourceError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Layout {
        image_layout_version: String,
    }
    let layout: Layout = serde_json::from_slice(bytes).map_err(|e| {
        SourceError::new(
            format!("oci-layout is not valid: {e}"),
            "it should be {\"imageLayoutVersion\":\"1.0.0\"}",
        )
    })?;
    if layout.image_layout_version.starts_with("1.") {
        Ok(())
    } else {
        Err(SourceError::new(
            format!(
                "unsupported image layout version {}",
                printable(&layout.image_layout_version)
            ),
            "glc reads layouts of version 1.x",
        ))
    }
}

/// The entries of `index.json`, every one a valid descriptor.
fn parse_index(bytes: &[u8]) -> Result<Vec<Descriptor>, SourceError> {
    let damaged = |message: String| SourceError::new(message, "the layout is damaged");
    let index: Value = serde_json::from_slice(bytes)
        .map_err(|e| damaged(format!("index.json is not a valid image index: {e}")))?;
    let manifests = match index.get("manifests") {
        None => return Ok(Vec::new()),
        Some(Value::Array(manifests)) => manifests,
        Some(_) => {
            return Err(damaged(
                "index.json is not a valid image index: `manifests` is not an array".to_owned(),
            ));
        }
    };
    manifests
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            Descriptor::from_value(raw).map_err(|invalid| {
                damaged(format!(
                    "index.json is not a valid image index: manifests[{i}]: {}",
                    invalid.message
                ))
            })
        })
        .collect()
}

/// The fields of a platform that image-spec defines, with values of their types: what glc
/// copies of another tool's platform into its own index.
fn known_platform(platform: &Value) -> Value {
    let mut known = serde_json::Map::new();
    for key in ["architecture", "os", "os.version", "variant"] {
        if let Some(value) = platform[key].as_str() {
            known.insert(key.to_owned(), value.into());
        }
    }
    if let Some(features) = platform["os.features"].as_array()
        && features.iter().all(Value::is_string)
    {
        known.insert("os.features".to_owned(), Value::Array(features.clone()));
    }
    Value::Object(known)
}
