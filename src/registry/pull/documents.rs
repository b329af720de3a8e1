//! The registry's documents of one pull, read once each, checked and kept: what the walker
//! reads, and what the layout gets.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::{ACCEPT, Client, Manifest};
use super::{MAX_ASKED, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS};
use serde_json::Value;

use crate::oci::Digest;
use crate::oci::file::FileError;
use crate::oci::walk::Blobs;

/// The registry's documents, read once each and kept (within [`MAX_DOCUMENT_BYTES`]): what
/// the walker reads, and what the layout gets. What the registry does not have is
/// remembered too, and so is the subject of a listed referrer that was not kept: a
/// registry that lists one digest many times is asked once.
pub(super) struct Documents<'a> {
    client: &'a Client,
    fetched: Mutex<HashMap<Digest, Manifest>>,
    /// Bytes of `fetched`.
    kept: AtomicU64,
    /// Digests the registry answered 404 for.
    absent: Mutex<HashSet<Digest>>,
    /// Referrers read, with the subject they name (if any): each is parsed once.
    subjects: Mutex<HashMap<Digest, Option<String>>>,
    /// Documents asked for so far.
    asked: std::sync::atomic::AtomicUsize,
    /// The first failure of the registry itself (as opposed to a document that is wrong).
    pub(super) failure: Mutex<Option<super::super::Error>>,
}

impl<'a> Documents<'a> {
    pub(super) fn new(client: &'a Client) -> Self {
        Self {
            client,
            fetched: Mutex::default(),
            kept: AtomicU64::new(0),
            absent: Mutex::default(),
            subjects: Mutex::default(),
            asked: std::sync::atomic::AtomicUsize::new(0),
            failure: Mutex::default(),
        }
    }

    /// Keeps `manifest`, within the budget.
    pub(super) fn insert(&self, manifest: Manifest) -> Result<(), FileError> {
        let Ok(mut fetched) = self.fetched.lock() else {
            return Ok(());
        };
        if fetched.contains_key(&manifest.digest) {
            return Ok(());
        }
        if fetched.len() >= MAX_DOCUMENTS {
            return Err(FileError::Io(io::Error::other(format!(
                "the graph has more than {MAX_DOCUMENTS} manifests and indexes"
            ))));
        }
        let size = manifest.bytes.len() as u64;
        if self.kept.load(Ordering::Relaxed) + size > MAX_DOCUMENT_BYTES {
            return Err(FileError::Io(io::Error::other(format!(
                "the graph's manifests and indexes take more than {} MiB",
                MAX_DOCUMENT_BYTES >> 20
            ))));
        }
        self.kept.fetch_add(size, Ordering::Relaxed);
        fetched.insert(manifest.digest.clone(), manifest);
        Ok(())
    }

    pub(super) fn known(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.fetched
            .lock()
            .ok()
            .and_then(|f| f.get(digest).map(|m| m.bytes.clone()))
    }

    /// A document, fetched once (and not kept: see [`Documents::get`]); `Missing` if the
    /// registry does not have it, asked once.
    pub(super) fn fetch(&self, digest: &Digest) -> Result<Manifest, FileError> {
        if self.absent.lock().is_ok_and(|a| a.contains(digest)) {
            return Err(FileError::Missing);
        }
        if self.asked.fetch_add(1, Ordering::Relaxed) >= MAX_ASKED {
            return Err(FileError::Io(io::Error::other(format!(
                "the registry names more than {MAX_ASKED} documents for one pull"
            ))));
        }
        match self.client.get_manifest(&digest.to_string(), ACCEPT) {
            Ok(Some(manifest)) => Ok(manifest),
            Ok(None) => {
                if let Ok(mut absent) = self.absent.lock() {
                    absent.insert(digest.clone());
                }
                Err(FileError::Missing)
            }
            Err(e) => {
                let message = e.message.clone();
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
        let manifest = self.fetch(digest)?;
        let bytes = manifest.bytes.clone();
        self.insert(manifest)?;
        Ok(bytes)
    }

    /// Takes a kept document out, for the layout.
    pub(super) fn take(&self, digest: &Digest) -> Option<Vec<u8>> {
        let taken = self.fetched.lock().ok()?.remove(digest)?;
        self.kept
            .fetch_sub(taken.bytes.len() as u64, Ordering::Relaxed);
        Some(taken.bytes)
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
                let manifest = match self.fetch(digest) {
                    Ok(manifest) => manifest,
                    Err(FileError::Missing) => return Ok(false),
                    Err(e) => return Err(e),
                };
                (subject_in(&manifest.bytes), Some(manifest))
            };
            if let Ok(mut subjects) = self.subjects.lock() {
                subjects.insert(digest.clone(), named.clone());
            }
            if let Some(manifest) = keep
                && named.as_deref().is_some_and(|d| *subject == d)
            {
                self.insert(manifest)?;
            }
            named
        };
        Ok(named.is_some_and(|d| *subject == d.as_str()))
    }
}

impl Blobs for Documents<'_> {
    fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), FileError> {
        let bytes = self.get(digest)?;
        let size = bytes.len() as u64;
        Ok((Box::new(io::Cursor::new(bytes)), size))
    }
}
