//! Any store with its documents read once: for a registry, where every read is a request.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::{Opened, Store, StoreError, within};
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::{Descriptor, Digest};
use crate::util::parallel::parallel;

/// Bytes of documents a [`Cached`] keeps for reading again at most: past it, a document is
/// read and dropped, so memory does not grow with what a store lists.
const MAX_KEPT: usize = 64 << 20;

/// Documents a [`Cached`] reads at once when told they are about to be read.
const PREFETCH_JOBS: usize = 8;

/// Any store with its documents (manifests and indexes) read once: each is fetched once and
/// kept (within [`MAX_KEPT`] bytes), and a document the store does not have is asked for once.
/// For a registry, where every read is a request.
pub struct Cached<S> {
    inner: S,
    documents: Mutex<Kept>,
    absent: Mutex<HashSet<Digest>>,
    /// Tags resolved so far, and what to: a cache lives for one command, which reads one
    /// state of the store, so a tag is asked for once.
    resolved: Mutex<HashMap<String, Option<Descriptor>>>,
}

/// The documents kept, and their bytes together.
#[derive(Default)]
struct Kept {
    documents: HashMap<Digest, Vec<u8>>,
    bytes: usize,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Cached<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Cached<S> {
    #[must_use]
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            documents: Mutex::default(),
            absent: Mutex::default(),
            resolved: Mutex::default(),
        }
    }

    /// The store below.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn known(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.documents.lock().ok()?.documents.get(digest).cloned()
    }

    fn keep(&self, digest: &Digest, bytes: &[u8]) {
        if let Ok(mut kept) = self.documents.lock()
            && kept.bytes + bytes.len() <= MAX_KEPT
            && !kept.documents.contains_key(digest)
        {
            kept.bytes += bytes.len();
            kept.documents.insert(digest.clone(), bytes.to_vec());
        }
    }

    fn is_absent(&self, digest: &Digest) -> bool {
        self.absent.lock().is_ok_and(|a| a.contains(digest))
    }
}

/// Documents are read by digest once (through [`Store::fetch_reference`], which checks the
/// digest) and checked against each descriptor that names them: a size that is not theirs is
/// an error said with the store's name. Blobs are read from the store below.
impl<S: Store + Sync> Store for Cached<S> {
    fn name(&self) -> String {
        self.inner.name()
    }

    /// The tag's document is read with it, and kept.
    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        if let Some(known) = self.resolved.lock().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(known);
        }
        let found = self.inner.fetch_reference(name, MAX_DOCUMENT)?;
        let descriptor = found.map(|(descriptor, bytes)| {
            self.keep(&descriptor.digest, &bytes);
            descriptor
        });
        if let Ok(mut resolved) = self.resolved.lock() {
            resolved.insert(name.to_owned(), descriptor.clone());
        }
        Ok(descriptor)
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        self.inner.tags()
    }

    fn tag_names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.tag_names()
    }

    /// A tag resolved already is not asked for again.
    fn resolve_digest(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        if let Some(known) = self.resolved.lock().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(known.map(|descriptor| descriptor.digest));
        }
        self.inner.resolve_digest(name)
    }

    fn fetch_reference(
        &self,
        reference: &str,
        limit: u64,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        if let Ok(digest) = Digest::parse(reference)
            && let Some(bytes) = self.known(&digest)
        {
            return Ok(Some((Descriptor::of_document(digest, &bytes), bytes)));
        }
        let found = self.inner.fetch_reference(reference, limit)?;
        if let Some((descriptor, bytes)) = &found {
            self.keep(&descriptor.digest, bytes);
        }
        Ok(found)
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        if descriptor.kind().is_document() {
            let bytes = self.read(descriptor, MAX_DOCUMENT)?;
            return Ok(Opened::bytes_from(bytes, 0));
        }
        self.inner.open(descriptor)
    }

    fn open_at(&self, descriptor: &Descriptor, from: u64) -> Result<Opened<'_>, StoreError> {
        if descriptor.kind().is_document() {
            let bytes = self.read(descriptor, MAX_DOCUMENT)?;
            return Ok(Opened::bytes_from(bytes, from));
        }
        self.inner.open_at(descriptor, from)
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.inner.referrers(subject, artifact_type)
    }

    /// The documents not read yet, as many as the cache has room for, read on
    /// [`PREFETCH_JOBS`] threads and kept; a read that fails is left for the caller's own read
    /// to fail again and say. Each document is still read once: what is kept is not read again.
    fn prefetch(&self, descriptors: &[Descriptor]) {
        let Ok(kept) = self.documents.lock() else {
            return;
        };
        let mut room = u64::try_from(MAX_KEPT.saturating_sub(kept.bytes)).unwrap_or(u64::MAX);
        let mut seen = HashSet::new();
        let wanted: Vec<&Descriptor> = descriptors
            .iter()
            .filter(|d| d.kind().is_document() && d.size <= MAX_DOCUMENT)
            .filter(|d| !kept.documents.contains_key(&d.digest) && seen.insert(&d.digest))
            .take_while(|d| {
                let fits = d.size <= room;
                room = room.saturating_sub(d.size);
                fits
            })
            .collect();
        drop(kept);
        let wanted: Vec<&Descriptor> = wanted
            .into_iter()
            .filter(|d| !self.is_absent(&d.digest))
            .collect();
        // One read gains nothing from being early.
        if wanted.len() < 2 {
            return;
        }
        let _ = parallel(&wanted, PREFETCH_JOBS, |descriptor| {
            let _ = self.read(descriptor, MAX_DOCUMENT);
            Ok::<(), ()>(())
        });
    }

    fn read(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        within(descriptor, limit)?;
        if !descriptor.kind().is_document() {
            return self.inner.read(descriptor, limit);
        }
        let digest = &descriptor.digest;
        let not_found = || StoreError::NotFound {
            kind: "manifest",
            reference: digest.to_string(),
            store: Some(self.inner.name()),
        };
        let bytes = if let Some(bytes) = self.known(digest) {
            bytes
        } else {
            if self.is_absent(digest) {
                return Err(not_found());
            }
            let Some((_, bytes)) = self.inner.fetch_reference(&digest.to_string(), limit)? else {
                if let Ok(mut absent) = self.absent.lock() {
                    absent.insert(digest.clone());
                }
                return Err(not_found());
            };
            self.keep(digest, &bytes);
            bytes
        };
        if bytes.len() as u64 != descriptor.size {
            return Err(StoreError::In {
                store: self.inner.name(),
                error: Box::new(StoreError::Size {
                    digest: digest.clone(),
                    declared: descriptor.size,
                    actual: bytes.len() as u64,
                }),
            });
        }
        Ok(bytes)
    }

    fn fetch(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        if descriptor.kind().is_document() {
            // Found by its digest, which the bytes were checked against.
            self.read(descriptor, limit)
        } else {
            self.inner.fetch(descriptor, limit)
        }
    }
}
