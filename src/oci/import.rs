//! Copying an image (a manifest or an index, and everything below it) from another layout
//! into the one being written: bytes unchanged, every blob checked against its digest and
//! size on the way. Used for containers by `glc build` and for every blob by `glc merge`.

use std::path::{Path, PathBuf};

use crate::oci::Descriptor;
use crate::oci::layout::{Blob, BlobError, LayoutWriter, Placement};
use crate::oci::source::{OciSource, SourceError};
use crate::oci::walk;

/// Copies into `layout`, linking blobs the previous layout already holds.
#[derive(Debug, Clone, Copy)]
pub struct Importer<'a> {
    pub layout: &'a LayoutWriter,
    /// The layout being replaced: blobs found there are hard-linked, not read again.
    pub previous: Option<&'a Path>,
}

impl Importer<'_> {
    /// Copies the document `descriptor` names and everything it refers to: the graph is
    /// walked (and every document in it checked) first, then every blob copied once.
    pub fn copy_tree(
        &self,
        source: &OciSource,
        descriptor: &Descriptor,
    ) -> Result<(), SourceError> {
        let graph = walk::walk_from(source, descriptor);
        if let Some(problem) = graph.problems().into_iter().next() {
            return Err(SourceError::Graph(problem.message));
        }
        for node in &graph.nodes {
            self.copy_blob(source, &node.descriptor)?;
        }
        Ok(())
    }

    /// One blob: from the previous layout if it is there (it was checked when it was
    /// written), else copied from the source and checked; in a dry run, only counted.
    pub fn copy_blob(
        &self,
        source: &OciSource,
        descriptor: &Descriptor,
    ) -> Result<Placement, SourceError> {
        let blob = Blob {
            digest: descriptor.digest.to_string(),
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
        descriptor: &Descriptor,
    ) -> Result<(), SourceError> {
        match self
            .layout
            .write_verified(reader, &descriptor.digest.to_string(), descriptor.size)
        {
            Ok(_) => Ok(()),
            Err(BlobError::Io(error)) => Err(SourceError::Copy {
                digest: descriptor.digest.clone(),
                error,
            }),
            Err(BlobError::Mismatch {
                expected,
                actual,
                expected_size,
            }) => Err(if actual.size == expected_size {
                SourceError::Corrupt {
                    expected,
                    actual: actual.digest,
                }
            } else {
                SourceError::Size {
                    digest: expected,
                    actual: actual.size,
                    declared: expected_size,
                }
            }),
        }
    }
}

/// The previous layout's copy of `blob`, if it may be linked into the new layout: of the
/// right size, and linked nowhere else (a blob with more links may be an input file placed
/// with `--link`, which can change under the layout; such a blob is placed afresh). Only a
/// regular file is: never a link, a fifo or a device that took a blob's name.
#[must_use]
pub fn reusable(previous: Option<&Path>, blob: &Blob) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let digest = crate::oci::Digest::parse(&blob.digest).ok()?;
    let there = previous?.join(digest.blob_path());
    let metadata = std::fs::symlink_metadata(&there).ok()?;
    (metadata.is_file() && metadata.len() == blob.size && metadata.nlink() == 1).then_some(there)
}
