//! A layout being written, as a [`StoreWrite`]: what a copy into a layout (`glc pull`) writes
//! through. Blobs are hashed while they stream into a temporary file and renamed to their
//! digest, or linked where the caller checked them already ([`Content::Path`]); documents are
//! blobs; a tag records an entry of `index.json`, which [`Staged::finish`] writes last, in
//! the order rule of glc's layouts.
//!
//! A layout is put in place whole: the writer stages it beside its target, and the caller
//! (`build::output`) swaps it in under the target's lock once it is finished. A dry writer
//! ([`LayoutWriter::dry`]) hashes what it is given and writes nothing, and gives the same
//! `index.json`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::sync::Mutex;

use serde_json::Value;

use super::{
    Content, Opened, Region, Store, StoreError, StoreWrite, referrers_among, resolve_in, tags_of,
    untagged,
};
use crate::oci::layout::{Blob, BlobError, LayoutWriter, sort_index_entries};
use crate::oci::vocab::{annotation::REF_NAME, media};
use crate::oci::{Descriptor, Digest};

/// A layout being written by a [`LayoutWriter`], with the entries of its `index.json`.
#[derive(Debug)]
pub struct Staged {
    writer: LayoutWriter,
    /// `index.json`'s entries so far: tagged ones by tag, then untagged ones by digest.
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// By tag, each with its `ref.name`.
    tagged: BTreeMap<String, Descriptor>,
    /// By digest.
    untagged: BTreeMap<String, Descriptor>,
}

impl Entries {
    /// Every entry as `index.json` lists it.
    fn list(&self) -> Vec<Descriptor> {
        self.tagged
            .values()
            .chain(self.untagged.values())
            .cloned()
            .collect()
    }
}

impl Staged {
    /// The layout `writer` writes (a directory it created, or a dry run).
    #[must_use]
    pub fn new(writer: LayoutWriter) -> Self {
        Self {
            writer,
            entries: Mutex::default(),
        }
    }

    /// The writer, for what it counts (blobs, bytes, the directory).
    #[must_use]
    pub fn writer(&self) -> &LayoutWriter {
        &self.writer
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Entries are inserted whole: a panic elsewhere leaves them as they were.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `oci-layout` and `index.json` (its entries in the order rule, and `annotations`
    /// if any), completing the layout; a dry run writes nothing. Returns `index.json`'s bytes.
    pub fn finish(self, annotations: &BTreeMap<String, String>) -> io::Result<Vec<u8>> {
        let mut manifests: Vec<Value> = self
            .entries()
            .list()
            .iter()
            .map(Descriptor::to_value)
            .collect();
        sort_index_entries(&mut manifests);
        let mut index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::INDEX,
            "manifests": manifests,
        });
        if !annotations.is_empty() {
            index["annotations"] = serde_json::json!(annotations);
        }
        let bytes = crate::oci::json::canonical(&index).map_err(io::Error::other)?;
        self.writer.finish(&bytes)?;
        Ok(bytes)
    }

    fn name_of(&self) -> String {
        self.writer.root().map_or_else(
            || "the layout being written".to_owned(),
            |root| root.display().to_string(),
        )
    }
}

/// What the layout holds so far: its blobs (none, in a dry run), its entries.
impl Store for Staged {
    fn name(&self) -> String {
        self.name_of()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(resolve_in(&self.entries().list(), name))
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(tags_of(&self.entries().list()))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        let digest = &descriptor.digest;
        let missing = || StoreError::file(digest, crate::oci::file::FileError::Missing);
        let root = self.writer.root().ok_or_else(missing)?;
        if !self.writer.contains(&blob(descriptor)) {
            return Err(missing());
        }
        let (file, size) = crate::oci::file::open_regular(&root.join(digest.blob_path()))
            .map_err(|e| StoreError::file(digest, e))?;
        Ok(Opened {
            reader: Box::new(file),
            size: Some(size),
        })
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let entries = self.entries().list();
        referrers_among(
            self,
            untagged(&entries, artifact_type),
            subject,
            artifact_type,
        )
    }
}

/// Blobs and documents are written under their digest, each checked against its descriptor
/// (a [`Content::Path`] is linked as the caller checked it); a tag is an entry of
/// `index.json`, and so is a document's own digest taken as its tag (an untagged entry: a
/// referrer, which a layout keeps that way).
impl StoreWrite for Staged {
    fn exists(&self, descriptor: &Descriptor) -> Result<bool, StoreError> {
        Ok(self.writer.contains(&blob(descriptor)))
    }

    fn push_blob(
        &self,
        descriptor: &Descriptor,
        content: Content<'_>,
        sent: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        let io_error = |error| StoreError::Io {
            digest: descriptor.digest.clone(),
            error,
        };
        let blob = blob(descriptor);
        let written = match content {
            Content::Path(path) => {
                if self
                    .writer
                    .link(&blob, path, false)
                    .map_err(io_error)?
                    .is_some()
                {
                    sent(descriptor.size);
                    return Ok(());
                }
                // Not linkable (another filesystem): copied, and checked again.
                let mut file = File::open(path).map_err(io_error)?;
                self.writer
                    .write_verified(&mut file, &blob.digest, blob.size)
            }
            Content::File(file) => self.writer.write_verified(
                &mut Region::new(file, 0, descriptor.size.saturating_add(1)),
                &blob.digest,
                blob.size,
            ),
            Content::Reader(reader) => self.writer.write_verified(reader, &blob.digest, blob.size),
        };
        match written {
            Ok(_) => {
                sent(descriptor.size);
                Ok(())
            }
            Err(BlobError::Io(error)) => Err(io_error(error)),
            Err(BlobError::Mismatch { actual, .. }) if actual.size != descriptor.size => {
                Err(StoreError::Size {
                    digest: descriptor.digest.clone(),
                    declared: descriptor.size,
                    actual: actual.size,
                })
            }
            Err(BlobError::Mismatch { actual, .. }) => Err(StoreError::Digest {
                expected: descriptor.digest.clone(),
                actual: Digest::parse(&actual.digest)
                    .map_err(|e| StoreError::Invalid(format!("blob {}: {e}", descriptor.digest)))?,
            }),
        }
    }

    /// The layout keeps referrers as untagged entries, which [`StoreWrite::tag`] with the
    /// document's digest makes: `false`, as a registry without the referrers API says.
    fn push_document(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<bool, StoreError> {
        super::check(descriptor, bytes.len() as u64, &Digest::of(bytes))?;
        self.writer
            .write_bytes(bytes)
            .map_err(|error| StoreError::Io {
                digest: descriptor.digest.clone(),
                error,
            })?;
        Ok(false)
    }

    /// Writes the document (if it is not there yet) and records the entry `descriptor` (as
    /// given: an index may list an image with its platform and annotations) under `tag`, its
    /// `ref.name`; where `tag` is the document's digest, the entry as given, untagged.
    fn tag(&self, descriptor: &Descriptor, bytes: &[u8], tag: &str) -> Result<(), StoreError> {
        let digest = descriptor.digest.to_string();
        if tag != digest {
            crate::oci::name::check_tag(tag).map_err(StoreError::Invalid)?;
        }
        self.push_document(descriptor, bytes)?;
        let mut entries = self.entries();
        if tag == digest {
            entries.untagged.insert(digest, descriptor.clone());
        } else {
            let mut entry = descriptor.clone();
            entry
                .annotations
                .insert(REF_NAME.to_owned(), tag.to_owned());
            entries.tagged.insert(tag.to_owned(), entry);
        }
        Ok(())
    }
}

fn blob(descriptor: &Descriptor) -> Blob {
    Blob {
        digest: descriptor.digest.to_string(),
        size: descriptor.size,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    #[test]
    fn a_staged_layout_takes_blobs_documents_and_tags_and_writes_index_json_last() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let staged = Staged::new(LayoutWriter::create(&root).unwrap());
        let layer = b"a layer".to_vec();
        let layer_descriptor = descriptor("application/octet-stream", &layer);
        let mut reader: &[u8] = &layer;
        staged
            .push_blob(&layer_descriptor, Content::Reader(&mut reader), &|_| {})
            .unwrap();
        assert!(staged.exists(&layer_descriptor).unwrap());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","layers":[{}]}}"#,
            media::MANIFEST,
            layer_descriptor.to_value()
        );
        let image = descriptor(media::MANIFEST, manifest.as_bytes());
        let note = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"application/x.note","layers":[],"subject":{}}}"#,
            media::MANIFEST,
            image.to_value()
        );
        let referrer = descriptor(media::MANIFEST, note.as_bytes());
        staged.tag(&image, manifest.as_bytes(), "v2").unwrap();
        staged.tag(&image, manifest.as_bytes(), "v10").unwrap();
        staged
            .tag(&referrer, note.as_bytes(), &referrer.digest.to_string())
            .unwrap();
        assert_eq!(staged.resolve("v2").unwrap().unwrap().digest, image.digest);
        assert_eq!(staged.tag_names().unwrap(), ["v10", "v2"]);
        let found = staged.referrers(&image.digest, None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].digest, referrer.digest);
        assert!(!root.join("index.json").exists(), "index.json comes last");
        let annotations = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        let index = staged.finish(&annotations).unwrap();
        assert_eq!(std::fs::read(root.join("index.json")).unwrap(), index);
        // Tagged entries by tag in byte order, then untagged ones by digest.
        let expected = format!(
            r#"{{"annotations":{{"a":"1"}},"manifests":[{{"annotations":{{"{REF_NAME}":"v10"}},"digest":"{d}","mediaType":"{m}","size":{s}}},{{"annotations":{{"{REF_NAME}":"v2"}},"digest":"{d}","mediaType":"{m}","size":{s}}},{{"digest":"{r}","mediaType":"{m}","size":{rs}}}],"mediaType":"{i}","schemaVersion":2}}"#,
            d = image.digest,
            m = media::MANIFEST,
            s = image.size,
            r = referrer.digest,
            rs = referrer.size,
            i = media::INDEX,
        );
        assert_eq!(String::from_utf8(index).unwrap(), expected);
        for (digest, bytes) in [
            (&layer_descriptor.digest, layer.as_slice()),
            (&image.digest, manifest.as_bytes()),
            (&referrer.digest, note.as_bytes()),
        ] {
            assert_eq!(std::fs::read(root.join(digest.blob_path())).unwrap(), bytes);
        }
        assert_eq!(
            std::fs::read(root.join("oci-layout")).unwrap(),
            br#"{"imageLayoutVersion":"1.0.0"}"#
        );
    }

    #[test]
    fn a_blob_that_is_not_its_descriptor_is_refused_and_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let staged = Staged::new(LayoutWriter::create(&root).unwrap());
        let right = descriptor("application/octet-stream", b"right");
        let mut other: &[u8] = b"other";
        assert!(matches!(
            staged.push_blob(&right, Content::Reader(&mut other), &|_| {}),
            Err(StoreError::Digest { .. })
        ));
        let mut longer: &[u8] = b"right and more";
        assert!(matches!(
            staged.push_blob(&right, Content::Reader(&mut longer), &|_| {}),
            Err(StoreError::Size { .. })
        ));
        assert!(matches!(
            staged.push_document(&right, b"other"),
            Err(StoreError::Digest { .. })
        ));
        assert!(!staged.exists(&right).unwrap());
        assert_eq!(
            std::fs::read_dir(root.join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
        assert!(staged.tag(&right, b"right", "not a tag").is_err());
    }

    #[test]
    fn a_checked_file_is_linked_and_a_dry_run_gives_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept");
        std::fs::write(&kept, b"kept bytes").unwrap();
        let blob = descriptor("application/octet-stream", b"kept bytes");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","layers":[{}]}}"#,
            media::MANIFEST,
            blob.to_value()
        );
        let image = descriptor(media::MANIFEST, manifest.as_bytes());
        let write = |writer: LayoutWriter| {
            let staged = Staged::new(writer);
            staged
                .push_blob(&blob, Content::Path(&kept), &|_| {})
                .unwrap();
            staged.tag(&image, manifest.as_bytes(), "v1").unwrap();
            let totals = staged.writer().totals();
            (staged.finish(&BTreeMap::new()).unwrap(), totals)
        };
        let root = dir.path().join("l");
        let written = write(LayoutWriter::create(&root).unwrap());
        assert_eq!(write(LayoutWriter::dry()), written);
        assert_eq!(written.1, (2, blob.size + image.size));
        let linked = std::fs::metadata(root.join(blob.digest.blob_path())).unwrap();
        assert_eq!(
            linked.ino(),
            std::fs::metadata(&kept).unwrap().ino(),
            "linked, not copied"
        );
    }
}
