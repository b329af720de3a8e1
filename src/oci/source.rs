//! Reading an OCI image layout made by another tool: a directory, or a tar of one (an OCI
//! archive). Only what glc needs: `index.json`, and blobs by digest, streamed. Every file is
//! opened as [`crate::oci::file`] says (regular files only, no links, no waiting on fifos),
//! and an archive is indexed header by header ([`crate::oci::tar_index`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
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

/// What went wrong reading a source or copying from it. Each variant keeps what it is about;
/// [`std::fmt::Display`] says it for a person, and [`SourceError::help`] how to go on.
#[derive(Debug)]
pub enum SourceError {
    /// The layout directory cannot be opened.
    Directory(io::Error),
    /// A file of the layout's top directory (`oci-layout`, `index.json`) cannot be read.
    LayoutFile {
        name: &'static str,
        error: FileError,
    },
    /// The archive cannot be opened.
    Archive(FileError),
    /// The archive is cut short, or is no tar glc reads.
    Tar(TarError),
    /// A file of the archive cannot be read.
    ArchiveFile { name: String, error: FileError },
    /// The archive, a tar, has no `oci-layout` or `index.json` (which one).
    NotAnArchive(&'static str),
    /// `oci-layout` is not what it must be.
    LayoutInvalid(serde_json::Error),
    /// `oci-layout` names a version glc does not read.
    LayoutVersion(String),
    /// `index.json` is not an image index: why.
    Index(String),
    /// No image is tagged `reference`; `names` are the images the layout holds.
    NoSuchTag {
        reference: String,
        names: Vec<String>,
    },
    /// `count` images are tagged `reference`.
    TaggedTwice { reference: String, count: usize },
    /// The layout lists no image.
    NoImage,
    /// The layout holds several images (`names`) and nothing chose one.
    SeveralImages { names: Vec<String> },
    /// The image's graph is damaged: where (`path`), and what.
    Image { path: String, message: String },
    /// The image's config cannot be read.
    Config(FileError),
    /// The image's config does not hash to its digest.
    ConfigDigest(Digest),
    /// A blob cannot be opened.
    Blob(StoreError),
    /// The graph being copied is damaged or hostile: what is wrong.
    Graph(String),
    /// A blob cannot be written into the layout being made.
    Copy { digest: Digest, error: io::Error },
    /// A blob copied hashes to `actual`, not to `expected`.
    Corrupt { expected: String, actual: String },
    /// A blob copied has `actual` bytes, not the `declared` its descriptor says.
    Size {
        digest: String,
        actual: u64,
        declared: u64,
    },
    /// The source changed while glc read it: it held `held`, now `now`.
    Changed { held: String, now: Digest },
}

const NOT_A_LAYOUT: &str = "is this an OCI image layout?";
const NOT_AN_ARCHIVE: &str =
    "point `from` at an OCI archive (`skopeo copy … oci-archive:FILE`) or a layout directory";
const DAMAGED_OR_HOSTILE: &str = "the layout is damaged or hostile";

impl SourceError {
    /// How to go on.
    #[must_use]
    pub fn help(&self) -> String {
        match self {
            Self::Directory(_)
            | Self::LayoutFile {
                error: FileError::Missing | FileError::Io(_),
                ..
            } => NOT_A_LAYOUT,
            Self::Blob(StoreError::NotFound { .. }) => "the layout is incomplete; copy it again",
            // A link, a fifo, a device where a file must be.
            Self::LayoutFile { .. } | Self::Blob(_) => DAMAGED_OR_HOSTILE,
            Self::Archive(_) | Self::NotAnArchive(_) => NOT_AN_ARCHIVE,
            Self::Tar(TarError::Truncated(_)) => "the file was cut short; copy or write it again",
            Self::Tar(TarError::Damaged(_)) => {
                "write it again, e.g. with `skopeo copy … oci-archive:FILE`"
            }
            Self::ArchiveFile { .. } => "the archive is damaged",
            Self::LayoutInvalid(_) => "it should be {\"imageLayoutVersion\":\"1.0.0\"}",
            Self::LayoutVersion(_) => "glc reads layouts of version 1.x",
            Self::Index(_) => "the layout is damaged",
            Self::NoSuchTag { names, .. } => {
                return format!("the layout holds {}", crate::util::text::list(names));
            }
            Self::TaggedTwice { .. } => {
                "the layout's index.json names one tag twice; fix the layout"
            }
            Self::NoImage => "its index.json lists no manifests",
            Self::SeveralImages { names } => {
                return format!("it holds {}", crate::util::text::list(names));
            }
            Self::Image { .. } | Self::ConfigDigest(_) => "the image is damaged; copy it again",
            Self::Config(_) => "the image is damaged",
            Self::Graph(_) => {
                "the source layout is damaged or hostile; copy or build the image again"
            }
            Self::Copy { .. } => "check free space in the output directory",
            Self::Corrupt { .. } | Self::Size { .. } => {
                "the source layout is damaged; copy or build the image again"
            }
            Self::Changed { .. } => "build again once the source is written",
        }
        .to_owned()
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Directory(error) => write!(f, "cannot open the layout directory: {error}"),
            // Said as to a person who named the wrong directory.
            Self::LayoutFile {
                name,
                error: FileError::Missing,
            } => write!(f, "cannot read {name}: it does not exist"),
            Self::LayoutFile { name, error } => f.write_str(&error.message(name)),
            Self::Archive(error) => f.write_str(&error.message("the archive")),
            Self::Tar(TarError::Truncated(why)) => write!(f, "the archive is truncated: {why}"),
            Self::Tar(TarError::Damaged(why)) => write!(f, "the archive is damaged: {why}"),
            Self::ArchiveFile { name, error } => f.write_str(&error.message(name)),
            Self::NotAnArchive(name) => write!(
                f,
                "the archive has no `{name}`: it is a tar, but not an OCI archive"
            ),
            Self::LayoutInvalid(error) => write!(f, "oci-layout is not valid: {error}"),
            Self::LayoutVersion(version) => {
                write!(f, "unsupported image layout version {}", printable(version))
            }
            Self::Index(why) => write!(f, "index.json is not a valid image index: {why}"),
            Self::NoSuchTag { reference, .. } => {
                write!(f, "no image is tagged `{}` here", printable(reference))
            }
            Self::TaggedTwice { reference, count } => write!(
                f,
                "{count} images are tagged `{}` here",
                printable(reference)
            ),
            Self::NoImage => f.write_str("the layout holds no image"),
            Self::SeveralImages { names } => write!(
                f,
                "the layout holds {} images; say which with ref=\"…\"",
                names.len()
            ),
            Self::Image { path, message } => write!(f, "{path}: {message}"),
            Self::Config(error) => f.write_str(&error.message("the image's config")),
            Self::ConfigDigest(digest) => {
                write!(f, "the image's config does not hash to {digest}")
            }
            Self::Blob(error) => write!(f, "{error}"),
            Self::Graph(message) => f.write_str(message),
            Self::Copy { digest, error } => write!(f, "cannot copy blob {digest}: {error}"),
            Self::Corrupt { expected, actual } => {
                write!(f, "blob {expected} is corrupt: its bytes hash to {actual}")
            }
            Self::Size {
                digest,
                actual,
                declared,
            } => write!(
                f,
                "blob {digest} has {actual} bytes, not the {declared} its descriptor says"
            ),
            Self::Changed { held, now } => write!(
                f,
                "the source changed while glc read it: it held {held}, now {now}"
            ),
        }
    }
}

impl std::error::Error for SourceError {}

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

impl OciSource {
    pub fn open(path: &Path, kind: SourceKind) -> Result<Self, SourceError> {
        match kind {
            SourceKind::OciLayout => Self::open_directory(path),
            SourceKind::OciArchive => Self::open_archive(path),
        }
    }

    fn open_directory(path: &Path) -> Result<Self, SourceError> {
        let layout = LayoutDir::open(path).map_err(SourceError::Directory)?;
        let read = |name: &'static str| {
            layout
                .read(name, MAX_DOCUMENT)
                .map_err(|error| SourceError::LayoutFile { name, error })
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
        let (file, length) = file::open_regular(path).map_err(SourceError::Archive)?;
        Self::from_archive(file, length)
    }

    /// The OCI archive `file` (a regular file of `length` bytes, opened by the caller).
    pub fn from_archive(file: File, length: u64) -> Result<Self, SourceError> {
        let found = tar_index::entries(&file, length).map_err(SourceError::Tar)?;
        let mut entries = BTreeMap::new();
        let mut index = None;
        let mut layout = None;
        for entry in found {
            let read = || -> Result<Vec<u8>, SourceError> {
                let reader = Region::new(&file, entry.offset, entry.size);
                file::read_to_limit(reader, entry.size, MAX_DOCUMENT).map_err(|error| {
                    SourceError::ArchiveFile {
                        name: entry.name.clone(),
                        error,
                    }
                })
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
        check_layout_file(&layout.ok_or(SourceError::NotAnArchive("oci-layout"))?)?;
        let index = index.ok_or(SourceError::NotAnArchive("index.json"))?;
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
                [] => Err(SourceError::NoSuchTag {
                    reference: reference.to_owned(),
                    names,
                }),
                _ => Err(SourceError::TaggedTwice {
                    reference: reference.to_owned(),
                    count: matching.len(),
                }),
            };
        }
        match self.manifests.as_slice() {
            [one] => Ok(one),
            [] => Err(SourceError::NoImage),
            _ => Err(SourceError::SeveralImages { names }),
        }
    }

    /// The platform images of `image` that `podman pull` chooses from, as descriptors to list
    /// in another index: an index's entries whose platform's `os` is `linux`, or a single
    /// image manifest with the platform its config names. Empty if `image` holds none.
    pub fn platform_manifests(&self, image: &Descriptor) -> Result<Vec<Value>, SourceError> {
        let graph = crate::oci::walk::walk_from(self, image);
        if let Some(problem) = graph.problems().into_iter().next() {
            return Err(SourceError::Image {
                path: problem.path,
                message: problem.message,
            });
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
                let bytes =
                    file::read_to_limit(reader, size, MAX_DOCUMENT).map_err(SourceError::Config)?;
                if crate::oci::Digest::of(&bytes) != config.digest {
                    return Err(SourceError::ConfigDigest(config.digest.clone()));
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
        let Opened { reader, size } = self.store().open(descriptor).map_err(SourceError::Blob)?;
        Ok((reader, size.unwrap_or(descriptor.size)))
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
    let layout: Layout = serde_json::from_slice(bytes).map_err(SourceError::LayoutInvalid)?;
    if layout.image_layout_version.starts_with("1.") {
        Ok(())
    } else {
        Err(SourceError::LayoutVersion(layout.image_layout_version))
    }
}

/// The entries of `index.json`, every one a valid descriptor.
fn parse_index(bytes: &[u8]) -> Result<Vec<Descriptor>, SourceError> {
    let index: Value =
        serde_json::from_slice(bytes).map_err(|e| SourceError::Index(e.to_string()))?;
    let manifests = match index.get("manifests") {
        None => return Ok(Vec::new()),
        Some(Value::Array(manifests)) => manifests,
        Some(_) => {
            return Err(SourceError::Index("`manifests` is not an array".to_owned()));
        }
    };
    manifests
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            Descriptor::from_value(raw).map_err(|invalid| {
                SourceError::Index(format!("manifests[{i}]: {}", invalid.message))
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
