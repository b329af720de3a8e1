//! Where `glc get` reads a release from: the calls every source answers, and a layout
//! directory as one (a registry repository is the other, in `registry::source`).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::oci::file::LayoutDir;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::vocab::Kind;
use crate::oci::{Descriptor, Digest, printable};

/// Most attachments glc reads of one image (or candidates in a layout's `index.json`).
const MAX_REFERRERS: usize = 4096;

/// Where a release is read from. Every call is bounded; errors say what is wrong in a
/// sentence that names the blob or tag.
pub trait Source {
    /// How messages name the source: the layout's path, or `REGISTRY/REPO`.
    fn name(&self) -> String;
    /// Every tag the source offers a release under, with the descriptor it names (a registry
    /// may offer only the tag it was given).
    fn tags(&self) -> Result<Vec<(String, Descriptor)>, String>;
    /// The descriptor `name` names, if it is a tag of the source.
    fn tag(&self, name: &str) -> Result<Option<Descriptor>, String>;
    /// A manifest's or index's bytes: exactly its size, at most [`MAX_DOCUMENT`] (or
    /// [`crate::oci::limits::MAX_RELEASE_MANIFEST`] for the release manifest), checked
    /// against its digest.
    fn document(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, String>;
    /// A reader of a blob's bytes as stored; the caller checks size and digest while copying.
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + '_>, String>;
    /// The manifests whose `subject` is `subject`, of `artifact_type` if given, each with its
    /// `artifactType` (the referrers API of a registry; a layout's untagged entries).
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, String>;
}

/// A layout directory as a [`Source`].
#[derive(Debug)]
pub struct Layout {
    path: PathBuf,
    dir: LayoutDir,
    /// `index.json`'s entries, each checked.
    entries: Vec<Descriptor>,
}

impl Layout {
    /// Opens the layout at `path` and reads its `index.json`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let dir =
            LayoutDir::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let bytes = dir
            .read("index.json", MAX_DOCUMENT)
            .map_err(|e| e.message(&format!("{}/index.json", path.display())))?;
        let index: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}/index.json is not JSON: {e}", path.display()))?;
        let entries = index["manifests"]
            .as_array()
            .ok_or_else(|| format!("{}/index.json has no `manifests` list", path.display()))?
            .iter()
            .filter_map(|raw| Descriptor::from_value(raw).ok())
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            entries,
        })
    }
}

impl Source for Layout {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, String> {
        Ok(self
            .entries
            .iter()
            .filter_map(|d| Some((d.ref_name()?.to_owned(), d.clone())))
            .collect())
    }

    fn tag(&self, name: &str) -> Result<Option<Descriptor>, String> {
        Ok(self
            .entries
            .iter()
            .find(|d| d.ref_name() == Some(name))
            .cloned())
    }

    fn document(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, String> {
        within(descriptor, limit)?;
        let (file, _) = self
            .dir
            .open_blob(&descriptor.digest)
            .map_err(|e| e.message(&format!("blob {}", descriptor.digest)))?;
        let mut bytes = Vec::new();
        file.take(descriptor.size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read blob {}: {e}", descriptor.digest))?;
        check(descriptor, bytes.len() as u64, &Digest::of(&bytes))?;
        Ok(bytes)
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + '_>, String> {
        let (file, _) = self
            .dir
            .open_blob(&descriptor.digest)
            .map_err(|e| e.message(&format!("blob {}", descriptor.digest)))?;
        Ok(Box::new(file))
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, String> {
        let mut found = Vec::new();
        let candidates = self.entries.iter().filter(|d| {
            d.ref_name().is_none()
                && d.kind() == Kind::Manifest
                && (artifact_type.is_none()
                    || d.artifact_type.is_none()
                    || d.artifact_type.as_deref() == artifact_type)
        });
        for (n, descriptor) in candidates.enumerate() {
            if n >= MAX_REFERRERS {
                return Err(format!(
                    "{} lists more than {MAX_REFERRERS} untagged manifests",
                    self.name()
                ));
            }
            let bytes = self.document(descriptor, MAX_DOCUMENT)?;
            let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let names_subject =
                manifest["subject"]["digest"].as_str() == Some(subject.to_string().as_str());
            let kind = manifest["artifactType"].as_str().map(str::to_owned);
            if names_subject && (artifact_type.is_none() || kind.as_deref() == artifact_type) {
                let mut descriptor = descriptor.clone();
                descriptor.artifact_type = kind;
                found.push(descriptor);
            }
        }
        Ok(found)
    }
}

/// Whether a document of `descriptor`'s declared size may be read whole: at most `limit`.
pub fn within(descriptor: &Descriptor, limit: u64) -> Result<(), String> {
    if descriptor.size > limit {
        return Err(format!(
            "blob {} declares {} bytes, more than glc reads of a {} ({limit})",
            descriptor.digest,
            descriptor.size,
            printable(&descriptor.media_type)
        ));
    }
    Ok(())
}

/// Whether `size` bytes hashing to `digest` are what `descriptor` names.
pub fn check(descriptor: &Descriptor, size: u64, digest: &Digest) -> Result<(), String> {
    if size != descriptor.size {
        let more = if size > descriptor.size {
            "more"
        } else {
            "fewer"
        };
        return Err(format!(
            "blob {} has {more} bytes than the {} its descriptor says",
            descriptor.digest, descriptor.size
        ));
    }
    if *digest != descriptor.digest {
        return Err(format!(
            "blob {} is corrupt: its bytes hash to {digest}",
            descriptor.digest
        ));
    }
    Ok(())
}
