//! Reading an OCI image layout made by another tool: a directory, or a tar of one (an OCI
//! archive). Only what glc needs: `index.json`, and blobs by digest, streamed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plan::SourceKind;

/// Largest `index.json` or manifest glc reads into memory; real ones are kilobytes.
pub const MAX_DOCUMENT: u64 = 4 * 1024 * 1024;

/// A descriptor as found in another tool's layout; fields glc does not use are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RawDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub platform: Option<serde_json::Value>,
    pub artifact_type: Option<String>,
}

impl RawDescriptor {
    #[must_use]
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get("org.opencontainers.image.ref.name")
            .map(String::as_str)
    }

    /// The hex of a `sha256:` digest, if it is one.
    #[must_use]
    pub fn sha256_hex(&self) -> Option<&str> {
        let hex = self.digest.strip_prefix("sha256:")?;
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then_some(hex)
    }
}

#[derive(Debug, Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

/// What went wrong reading a source, said for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub message: String,
    pub help: String,
}

impl SourceError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: help.into(),
        }
    }
}

#[derive(Debug)]
enum Blobs {
    Directory(PathBuf),
    /// Blob hex → (offset of its bytes in the archive, size).
    Archive {
        path: PathBuf,
        entries: BTreeMap<String, (u64, u64)>,
    },
}

#[derive(Debug)]
pub struct OciSource {
    pub kind: SourceKind,
    pub manifests: Vec<RawDescriptor>,
    blobs: Blobs,
}

impl OciSource {
    pub fn open(path: &Path, kind: SourceKind) -> Result<Self, SourceError> {
        match kind {
            SourceKind::OciLayout => Self::open_directory(path),
            SourceKind::OciArchive => Self::open_archive(path),
        }
    }

    fn open_directory(path: &Path) -> Result<Self, SourceError> {
        let read = |name: &str| -> Result<Vec<u8>, SourceError> {
            let file = File::open(path.join(name)).map_err(|e| {
                SourceError::new(
                    format!("cannot read {name}: {e}"),
                    "is this an OCI image layout?",
                )
            })?;
            read_limited(file, name)
        };
        check_layout_file(&read("oci-layout")?)?;
        let manifests = parse_index(&read("index.json")?)?;
        Ok(Self {
            kind: SourceKind::OciLayout,
            manifests,
            blobs: Blobs::Directory(path.join("blobs")),
        })
    }

    fn open_archive(path: &Path) -> Result<Self, SourceError> {
        let file = File::open(path)
            .map_err(|e| SourceError::new(format!("cannot open the archive: {e}"), ""))?;
        let length = file.metadata().map_or(0, |m| m.len());
        let mut archive = tar::Archive::new(file);
        let mut entries = BTreeMap::new();
        let mut index = None;
        let mut layout = None;
        let truncated = |e: io::Error| {
            SourceError::new(
                format!("the archive is damaged or truncated: {e}"),
                "write it again, e.g. with `skopeo copy … oci-archive:FILE`",
            )
        };
        // Where the last entry's data ends, rounded to tar's 512-byte blocks.
        let mut end = 0;
        for entry in archive.entries_with_seek().map_err(truncated)? {
            let mut entry = entry.map_err(truncated)?;
            end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(truncated)?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            let (offset, size) = (entry.raw_file_position(), entry.size());
            if offset.checked_add(size).is_none_or(|end| end > length) {
                return Err(SourceError::new(
                    format!("the archive is truncated: `{name}` needs {size} bytes past its end"),
                    "the file was cut short; copy or write it again",
                ));
            }
            match name.as_str() {
                "index.json" => index = Some(read_limited(&mut entry, "index.json")?),
                "oci-layout" => layout = Some(read_limited(&mut entry, "oci-layout")?),
                _ => {
                    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                        entries.insert(hex.to_owned(), (offset, size));
                    }
                }
            }
        }
        // A whole archive ends with two zero blocks; without them it was cut short.
        if end.saturating_add(1024) > length {
            return Err(SourceError::new(
                "the archive is truncated: it ends without tar's end-of-archive blocks",
                "the file was cut short; copy or write it again",
            ));
        }
        let missing = |name: &str| {
            SourceError::new(
                format!("the archive has no `{name}`: it is a tar, but not an OCI archive"),
                "point `from` at an OCI archive (`skopeo copy … oci-archive:FILE`) or a layout directory",
            )
        };
        check_layout_file(&layout.ok_or_else(|| missing("oci-layout"))?)?;
        let manifests = parse_index(&index.ok_or_else(|| missing("index.json"))?)?;
        Ok(Self {
            kind: SourceKind::OciArchive,
            manifests,
            blobs: Blobs::Archive {
                path: path.to_path_buf(),
                entries,
            },
        })
    }

    /// The image to import: the one tagged `reference`, or the only one.
    pub fn pick(&self, reference: Option<&str>) -> Result<&RawDescriptor, SourceError> {
        let names: Vec<String> = self
            .manifests
            .iter()
            .map(|d| d.ref_name().map_or_else(|| d.digest.clone(), str::to_owned))
            .collect();
        if let Some(reference) = reference {
            let matching: Vec<&RawDescriptor> = self
                .manifests
                .iter()
                .filter(|d| d.ref_name() == Some(reference))
                .collect();
            return match matching.as_slice() {
                [one] => Ok(one),
                [] => Err(SourceError::new(
                    format!("no image is tagged `{reference}` here"),
                    format!("the layout holds {}", crate::diagnostic::list(&names)),
                )),
                _ => Err(SourceError::new(
                    format!("{} images are tagged `{reference}` here", matching.len()),
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
                format!("it holds {}", crate::diagnostic::list(&names)),
            )),
        }
    }

    /// A reader over the blob's bytes as stored, and the stored size. The caller verifies.
    pub fn open_blob(
        &self,
        descriptor: &RawDescriptor,
    ) -> Result<(Box<dyn Read + '_>, u64), SourceError> {
        let hex = descriptor.sha256_hex().ok_or_else(|| {
            SourceError::new(
                format!("unsupported digest `{}`", descriptor.digest),
                "glc imports sha256 digests only",
            )
        })?;
        let missing = || {
            SourceError::new(
                format!("blob {} is missing", descriptor.digest),
                "the layout is incomplete; copy it again",
            )
        };
        match &self.blobs {
            Blobs::Directory(dir) => {
                let file = File::open(dir.join("sha256").join(hex)).map_err(|_| missing())?;
                let size = file.metadata().map_err(|_| missing())?.len();
                Ok((Box::new(file), size))
            }
            Blobs::Archive { path, entries } => {
                let &(offset, size) = entries.get(hex).ok_or_else(missing)?;
                let mut file = File::open(path).map_err(|_| missing())?;
                file.seek(SeekFrom::Start(offset)).map_err(|_| missing())?;
                Ok((Box::new(file.take(size)), size))
            }
        }
    }

    /// A small JSON blob (manifest or index), read whole after checking its declared size.
    pub fn read_document(&self, descriptor: &RawDescriptor) -> Result<Vec<u8>, SourceError> {
        if descriptor.size > MAX_DOCUMENT {
            return Err(SourceError::new(
                format!(
                    "{} declares a size of {} bytes for a {}",
                    descriptor.digest, descriptor.size, descriptor.media_type
                ),
                "manifests and indexes are small; the layout is damaged",
            ));
        }
        let (reader, _) = self.open_blob(descriptor)?;
        read_limited(reader, &descriptor.digest)
    }
}

fn read_limited(reader: impl Read, name: &str) -> Result<Vec<u8>, SourceError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SourceError::new(format!("cannot read {name}: {e}"), ""))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(SourceError::new(
            format!("{name} is larger than {MAX_DOCUMENT} bytes"),
            "the layout is damaged",
        ));
    }
    Ok(bytes)
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
                layout.image_layout_version
            ),
            "glc reads layouts of version 1.x",
        ))
    }
}

fn parse_index(bytes: &[u8]) -> Result<Vec<RawDescriptor>, SourceError> {
    serde_json::from_slice::<RawIndex>(bytes)
        .map(|index| index.manifests)
        .map_err(|e| {
            SourceError::new(
                format!("index.json is not a valid image index: {e}"),
                "the layout is damaged",
            )
        })
}
