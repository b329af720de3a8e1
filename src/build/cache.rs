//! The digest cache: what each input file hashed to, keyed on what changes when the file
//! does (mount, device, inode, size, mtime and ctime in nanoseconds), so that a rebuild does
//! not read unchanged inputs again. The mount id is in the key because read-only images
//! (squashfs, erofs) built with fixed times give a changed file the same device, inode and
//! times when mounted in turn. It lives beside the target, as `.<name>.glc-cache.json`, holds
//! the inputs of the last build, and is trusted like the target itself: a blob copied from an
//! input is hashed on the way, and `--link` and `--no-cache` never take a digest from it.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::oci::layout::Blob;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    digest: String,
    size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

const VERSION: u32 = 2;

#[derive(Debug, Default)]
pub struct DigestCache {
    /// Where it is saved; `None` when caching is off.
    path: Option<PathBuf>,
    old: BTreeMap<String, Entry>,
    /// The entries of this build's inputs, saved at the end.
    new: Mutex<BTreeMap<String, Entry>>,
}

/// The key of a file's state: any change to its bytes changes one of these.
#[must_use]
pub fn key(path: &Path, metadata: &Metadata) -> String {
    let mount = rustix::fs::statx(
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::empty(),
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()
    .filter(|statx| statx.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0)
    .map_or(0, |statx| statx.stx_mnt_id);
    format!(
        "{mount}:{}:{}:{}:{}.{:09}:{}.{:09}",
        metadata.dev(),
        metadata.ino(),
        metadata.size(),
        metadata.mtime(),
        metadata.mtime_nsec(),
        metadata.ctime(),
        metadata.ctime_nsec()
    )
}

impl DigestCache {
    /// The cache at `path`; a missing or unreadable cache is an empty one.
    #[must_use]
    pub fn load(path: &Path) -> Self {
        let old = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
            .filter(|file| file.version == VERSION)
            .map(|file| file.entries)
            .unwrap_or_default()
            .into_iter()
            // Only well-formed digests: a blob's name is made of them.
            .filter(|(_, entry)| crate::oci::layout::is_sha256(&entry.digest))
            .collect();
        Self {
            path: Some(path.to_path_buf()),
            old,
            new: Mutex::default(),
        }
    }

    /// A cache that knows nothing and saves nothing (`--no-cache`).
    #[must_use]
    pub fn off() -> Self {
        Self::default()
    }

    /// Whether the cache knows nothing (off, new, or unreadable).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.path.is_none() || self.old.is_empty()
    }

    fn new_entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.new
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<Blob> {
        self.path.as_ref()?;
        let entry = match self.old.get(key) {
            Some(entry) => entry.clone(),
            None => self.new_entries().get(key)?.clone(),
        };
        Some(Blob {
            digest: entry.digest,
            size: entry.size,
        })
    }

    /// Whether the cache knows the digest of the file at `path` as it is now (its state
    /// looked up with `stat`, the file not opened).
    #[must_use]
    pub fn knows(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|metadata| {
            self.get(&key(path, &metadata))
                .is_some_and(|blob| blob.size == metadata.len())
        })
    }

    pub fn put(&self, key: String, blob: &Blob) {
        if self.path.is_some() {
            self.new_entries().insert(
                key,
                Entry {
                    digest: blob.digest.clone(),
                    size: blob.size,
                },
            );
        }
    }

    /// Saves this build's entries; a cache that cannot be saved only costs the next build time.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let file = File {
            version: VERSION,
            entries: self.new_entries().clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&file) {
            let _ = crate::util::atomic::write_new_atomically(path, &bytes);
        }
    }
}
