//! Copying an image (a manifest or an index, and everything below it) from another layout
//! into the one being written: bytes unchanged, every blob checked against its digest and
//! size on the way. Used for containers by `glc build` and for every blob by `glc merge`.

use std::path::{Path, PathBuf};

use crate::oci::layout::{Blob, BlobError, LayoutWriter, Placement};
use crate::oci::media;
use crate::oci::source::{OciSource, RawDescriptor, SourceError};

/// Indexes nested deeper than this are refused: real images nest two levels.
const MAX_DEPTH: usize = 8;

/// Copies into `layout`, linking blobs the previous layout already holds.
#[derive(Debug, Clone, Copy)]
pub struct Importer<'a> {
    pub layout: &'a LayoutWriter,
    /// The layout being replaced: blobs found there are hard-linked, not read again.
    pub previous: Option<&'a Path>,
}

/// The children of a manifest or index, whatever its flavour.
#[derive(serde::Deserialize)]
pub struct Children {
    #[serde(default)]
    pub manifests: Vec<RawDescriptor>,
    pub config: Option<RawDescriptor>,
    #[serde(default)]
    pub layers: Vec<RawDescriptor>,
}

impl Importer<'_> {
    /// Copies the document `descriptor` names and everything it refers to.
    pub fn copy_tree(
        &self,
        source: &OciSource,
        descriptor: &RawDescriptor,
    ) -> Result<(), SourceError> {
        self.copy_tree_at(source, descriptor, 0)
    }

    fn copy_tree_at(
        &self,
        source: &OciSource,
        descriptor: &RawDescriptor,
        depth: usize,
    ) -> Result<(), SourceError> {
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
            return self.copy_blob(source, descriptor).map(|_| ());
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
            self.copy_tree_at(source, child, depth + 1)?;
        }
        for blob in children.config.iter().chain(&children.layers) {
            self.copy_blob(source, blob)?;
        }
        Ok(())
    }

    /// One blob: from the previous layout if it is there (it was checked when it was
    /// written), else copied from the source and checked; in a dry run, only counted.
    pub fn copy_blob(
        &self,
        source: &OciSource,
        descriptor: &RawDescriptor,
    ) -> Result<Placement, SourceError> {
        let blob = Blob {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        };
        if self.layout.is_dry() {
            self.layout.record(&blob);
            return Ok(Placement::None);
        }
        if self.layout.contains(&blob) {
            return Ok(Placement::Duplicate);
        }
        if let Some(there) = reusable(self.previous, &blob)
            && let Ok(Some(placement)) = self.layout.link(&blob, &there, false)
        {
            return Ok(placement);
        }
        let (mut reader, _) = source.open_blob(descriptor)?;
        self.store_verified(&mut reader, descriptor)?;
        Ok(Placement::Copied)
    }

    fn store_verified(
        &self,
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
}

/// The previous layout's copy of `blob`, if it may be linked into the new layout: of the
/// right size, and linked nowhere else (a blob with more links may be an input file placed
/// with `--link`, which can change under the layout; such a blob is placed afresh).
#[must_use]
pub fn reusable(previous: Option<&Path>, blob: &Blob) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if !crate::oci::layout::is_sha256(&blob.digest) {
        return None;
    }
    let there = previous?.join("blobs/sha256").join(blob.hex());
    let metadata = std::fs::metadata(&there).ok()?;
    (metadata.len() == blob.size && metadata.nlink() == 1).then_some(there)
}
