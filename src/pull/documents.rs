//! The registry's documents of one pull, read once each, checked and kept: what the walker
//! reads, and what the layout gets. A caching [`Store`] over the repository's, and the one
//! store a pull reads: tags, documents, referrers and blobs.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{MAX_ASKED, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS, MAX_REFERRERS};
use serde_json::Value;

use crate::oci::file::FileError;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{Opened, Store, StoreError};
use crate::oci::{Descriptor, Digest};
use crate::registry::source::Repository;

/// The registry's documents, read once each and kept (within [`MAX_DOCUMENT_BYTES`]): what
/// the walker reads, and what the layout gets. What the registry does not have is
/// remembered too, and so is the subject of a listed referrer that was not kept: a
/// registry that lists one digest many times is asked once.
pub(super) struct Documents<'a> {
    /// A [`Repository::remembering`]: its tag list and whether it has the referrers API are
    /// asked once.
    repository: &'a Repository,
    fetched: Mutex<HashMap<Digest, Vec<u8>>>,
    /// Bytes of `fetched`.
    kept: AtomicU64,
    /// Digests the registry answered 404 for.
    absent: Mutex<HashSet<Digest>>,
    /// Referrers read, with the subject they name (if any): each is parsed once.
    subjects: Mutex<HashMap<Digest, Option<String>>>,
    /// Documents asked for so far.
    asked: std::sync::atomic::AtomicUsize,
    /// The first failure of the registry itself (as opposed to a document that is wrong).
    pub(super) failure: Mutex<Option<StoreError>>,
}

impl<'a> Documents<'a> {
    pub(super) fn new(repository: &'a Repository) -> Self {
        Self {
            repository,
            fetched: Mutex::default(),
            kept: AtomicU64::new(0),
            absent: Mutex::default(),
            subjects: Mutex::default(),
            asked: std::sync::atomic::AtomicUsize::new(0),
            failure: Mutex::default(),
        }
    }

    /// Keeps the document `digest` (its `bytes`), within the budget.
    pub(super) fn insert(&self, digest: Digest, bytes: Vec<u8>) -> Result<(), FileError> {
        let Ok(mut fetched) = self.fetched.lock() else {
            return Ok(());
        };
        if fetched.contains_key(&digest) {
            return Ok(());
        }
        if fetched.len() >= MAX_DOCUMENTS {
            return Err(FileError::Io(io::Error::other(format!(
                "the graph has more than {MAX_DOCUMENTS} manifests and indexes"
            ))));
        }
        let size = bytes.len() as u64;
        if self.kept.load(Ordering::Relaxed) + size > MAX_DOCUMENT_BYTES {
            return Err(FileError::Io(io::Error::other(format!(
                "the graph's manifests and indexes take more than {} MiB",
                MAX_DOCUMENT_BYTES >> 20
            ))));
        }
        self.kept.fetch_add(size, Ordering::Relaxed);
        fetched.insert(digest, bytes);
        Ok(())
    }

    pub(super) fn known(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.fetched
            .lock()
            .ok()
            .and_then(|f| f.get(digest).cloned())
    }

    /// A document, fetched once (and not kept: see [`Documents::get`]); `Missing` if the
    /// registry does not have it, asked once.
    pub(super) fn fetch(&self, digest: &Digest) -> Result<Vec<u8>, FileError> {
        if self.absent.lock().is_ok_and(|a| a.contains(digest)) {
            return Err(FileError::Missing);
        }
        if self.asked.fetch_add(1, Ordering::Relaxed) >= MAX_ASKED {
            return Err(FileError::Io(io::Error::other(format!(
                "the registry names more than {MAX_ASKED} documents for one pull"
            ))));
        }
        match self
            .repository
            .fetch_reference(&digest.to_string(), MAX_DOCUMENT)
        {
            Ok(Some((_, bytes))) => Ok(bytes),
            Ok(None) => {
                if let Ok(mut absent) = self.absent.lock() {
                    absent.insert(digest.clone());
                }
                Err(FileError::Missing)
            }
            Err(e) => {
                let message = e.to_string();
                if let Ok(mut failure) = self.failure.lock() {
                    failure.get_or_insert(e);
                }
                Err(FileError::Io(io::Error::other(message)))
            }
        }
    }

    /// A document of the graph, fetched once and kept.
    pub(super) fn get(&self, digest: &Digest) -> Result<Vec<u8>, FileError> {
        if let Some(bytes) = self.known(digest) {
            return Ok(bytes);
        }
        let bytes = self.fetch(digest)?;
        self.insert(digest.clone(), bytes.clone())?;
        Ok(bytes)
    }

    /// Takes a kept document out, for the layout.
    pub(super) fn take(&self, digest: &Digest) -> Option<Vec<u8>> {
        let taken = self.fetched.lock().ok()?.remove(digest)?;
        self.kept.fetch_sub(taken.len() as u64, Ordering::Relaxed);
        Some(taken)
    }

    /// Whether the document `digest` names `subject` as its subject: a referrers list is the
    /// registry's word, checked against the referrer itself. A referrer of `subject` is kept
    /// (the walk reads it next); any other is dropped, its subject remembered.
    pub(super) fn refers_to(&self, digest: &Digest, subject: &Digest) -> Result<bool, FileError> {
        let subject_in = |bytes: &[u8]| {
            serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|d| d["subject"]["digest"].as_str().map(str::to_owned))
        };
        let remembered = self
            .subjects
            .lock()
            .ok()
            .and_then(|s| s.get(digest).cloned());
        let named = if let Some(named) = remembered {
            named
        } else {
            let (named, keep) = if let Some(bytes) = self.known(digest) {
                (subject_in(&bytes), None)
            } else {
                let bytes = match self.fetch(digest) {
                    Ok(bytes) => bytes,
                    Err(FileError::Missing) => return Ok(false),
                    Err(e) => return Err(e),
                };
                (subject_in(&bytes), Some(bytes))
            };
            if let Ok(mut subjects) = self.subjects.lock() {
                subjects.insert(digest.clone(), named.clone());
            }
            if let Some(bytes) = keep
                && named.as_deref().is_some_and(|d| *subject == d)
            {
                self.insert(digest.clone(), bytes)?;
            }
            named
        };
        Ok(named.is_some_and(|d| *subject == d.as_str()))
    }
}

/// What the walker and the rest of a pull read: documents from the kept ones (or fetched once
/// and kept), tags and blobs from the repository, referrers as the registry lists them, each
/// checked against the referrer itself.
impl Store for Documents<'_> {
    fn name(&self) -> String {
        self.repository.name()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        self.repository.resolve(name)
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        self.repository.tags()
    }

    fn tag_names(&self) -> Result<Vec<String>, StoreError> {
        self.repository.tag_names()
    }

    fn resolve_digest(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        self.repository.resolve_digest(name)
    }

    /// A tag's document in one `GET` (not kept: the caller keeps what it takes); a document
    /// by digest as [`Documents::fetch`] reads it.
    fn fetch_reference(
        &self,
        reference: &str,
        limit: u64,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        let Ok(digest) = Digest::parse(reference) else {
            return self.repository.fetch_reference(reference, limit);
        };
        let bytes = match self.known(&digest).map_or_else(|| self.fetch(&digest), Ok) {
            Ok(bytes) => bytes,
            Err(FileError::Missing) => return Ok(None),
            Err(e) => return Err(StoreError::file(&digest, e)),
        };
        Ok(Some((Descriptor::of_document(digest, &bytes), bytes)))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        if !descriptor.kind().is_document() {
            return self.repository.open(descriptor);
        }
        let bytes = self
            .get(&descriptor.digest)
            .map_err(|e| StoreError::file(&descriptor.digest, e))?;
        Ok(Opened::bytes_from(bytes, 0))
    }

    /// A blob from byte `from`, from the repository: a download resumed.
    fn open_at(&self, descriptor: &Descriptor, from: u64) -> Result<Opened<'_>, StoreError> {
        if descriptor.kind().is_document() {
            let bytes = self
                .get(&descriptor.digest)
                .map_err(|e| StoreError::file(&descriptor.digest, e))?;
            return Ok(Opened::bytes_from(bytes, from));
        }
        self.repository.open_at(descriptor, from)
    }

    /// The registry's list ([`Repository::listed_referrers`]: the API asked until the registry
    /// says it has none, then the fallback tags its tag list names), each listed document
    /// once, at most [`MAX_REFERRERS`], checked against the referrer itself
    /// ([`Documents::refers_to`]: a referrer of `subject` is kept, any other dropped with its
    /// subject remembered). A listed document the registry does not have is left out.
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let listed = self.repository.listed_referrers(subject, self.repository)?;
        let mut listed_once: HashSet<Digest> = HashSet::new();
        let mut found = Vec::new();
        for entry in &listed {
            let Ok(mut referrer) = Descriptor::from_value(entry) else {
                continue;
            };
            if !referrer.kind().is_document() || !listed_once.insert(referrer.digest.clone()) {
                continue;
            }
            if listed_once.len() > MAX_REFERRERS {
                return Err(StoreError::Invalid(format!(
                    "the registry lists more than {MAX_REFERRERS} referrers of {subject}"
                )));
            }
            let refers = self
                .refers_to(&referrer.digest, subject)
                .map_err(|e| StoreError::Invalid(e.message(&referrer.digest.to_string())))?;
            if !refers {
                continue;
            }
            if let Some(bytes) = self.known(&referrer.digest) {
                let document: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                referrer.artifact_type = document["artifactType"].as_str().map(str::to_owned);
            }
            if artifact_type.is_none() || referrer.artifact_type.as_deref() == artifact_type {
                found.push(referrer);
            }
        }
        Ok(found)
    }
}
