//! The one way a graph is read and written: a [`Store`] resolves tags, gives documents
//! checked against their descriptors, opens blobs, and lists tags and referrers, whether the
//! graph lives in a layout directory ([`Layout`]), an OCI archive ([`Archive`]) or a registry
//! repository (in `registry::source`); a [`StoreWrite`] also takes blobs, documents and tags.
//! It is the model of oras-go's `ReadOnlyTarget` and `Target` and go-containerregistry's
//! `remote`: every reader of a graph (`verify`, `inspect`, `get`, the walker of
//! [`crate::oci::walk`], imports, `push`, `pull`) takes a store and does not care where the
//! graph is. [`Cached`] keeps the documents of any store read once.
//!
//! Every call is bounded: documents are read to their declared size and at most the limit the
//! caller gives; blobs are opened as readers, and the caller hashes while it copies.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde_json::Value;

use crate::oci::file::{FileError, LayoutDir};
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::vocab::Kind;
use crate::oci::{Descriptor, Digest, printable};

mod cached;
mod staged;
pub use cached::Cached;
pub use staged::Staged;

/// Most attachments glc reads of one image (or candidates in a layout's `index.json`).
pub const MAX_REFERRERS: usize = 4096;

/// Why a store could not give what was asked. Each variant keeps what it is about, so a
/// caller can say it in its own words; [`std::fmt::Display`] says it in a sentence that
/// names the blob.
#[derive(Debug)]
pub enum StoreError {
    /// The store has no blob or manifest `reference` (a digest or a tag). `store` names the
    /// store where the message says so (`REGISTRY/REPO has no manifest …`).
    NotFound {
        kind: &'static str,
        reference: String,
        store: Option<String>,
    },
    /// A layout's file that is not a regular file inside it: a link, a fifo, a device.
    Unsafe { digest: Digest, error: FileError },
    /// A document declares more bytes than glc reads of one.
    TooLarge {
        digest: Digest,
        media_type: String,
        size: u64,
        limit: u64,
    },
    /// A blob with more or fewer bytes than its descriptor declares (`actual`: as many as
    /// were read, or the stored size where that is larger).
    Size {
        digest: Digest,
        declared: u64,
        actual: u64,
    },
    /// A blob whose bytes hash to another digest.
    Digest { expected: Digest, actual: Digest },
    /// Reading a blob failed.
    Io { digest: Digest, error: io::Error },
    /// A store's listing that is not what it must be, or exceeds what glc reads.
    Invalid(String),
    /// The failure of a store's own machinery (a registry's answer, its transport), kept
    /// whole so its owner can tell it apart.
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// An error said with the store's name before it.
    In {
        store: String,
        error: Box<StoreError>,
    },
}

impl StoreError {
    /// The error without the store's name an [`StoreError::In`] adds.
    #[must_use]
    pub fn inner(&self) -> &Self {
        match self {
            Self::In { error, .. } => error.inner(),
            other => other,
        }
    }

    /// A failure of a store's machinery.
    pub fn store(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Store(Box::new(error))
    }

    /// A layout's file error about blob `digest`.
    #[must_use]
    pub fn file(digest: &Digest, error: FileError) -> Self {
        match error {
            FileError::Missing => Self::NotFound {
                kind: "blob",
                reference: digest.to_string(),
                store: None,
            },
            FileError::Io(error) => Self::Io {
                digest: digest.clone(),
                error,
            },
            error => Self::Unsafe {
                digest: digest.clone(),
                error,
            },
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound {
                kind,
                reference,
                store: Some(store),
            } => write!(f, "{store} has no {kind} {reference}"),
            Self::NotFound {
                kind, reference, ..
            } => write!(f, "{kind} {reference} is missing"),
            Self::Unsafe { digest, error } => {
                f.write_str(&error.message(&format!("blob {digest}")))
            }
            Self::TooLarge {
                digest,
                media_type,
                size,
                limit,
            } => write!(
                f,
                "blob {digest} declares {size} bytes, more than glc reads of a {} ({limit})",
                printable(media_type)
            ),
            Self::Size {
                digest,
                declared,
                actual,
            } => write!(
                f,
                "blob {digest} has {} bytes than the {declared} its descriptor says",
                if actual > declared { "more" } else { "fewer" }
            ),
            Self::Digest { expected, actual } => {
                write!(f, "blob {expected} is corrupt: its bytes hash to {actual}")
            }
            Self::Io { digest, error } => write!(f, "cannot read blob {digest}: {error}"),
            Self::Invalid(message) => f.write_str(message),
            Self::Store(error) => write!(f, "{error}"),
            Self::In { store, error } => write!(f, "{store}: {error}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A blob opened for reading: its bytes as stored, and the stored size where the store knows
/// it before reading (a file's `fstat`).
pub struct Opened<'a> {
    pub reader: Box<dyn Read + 'a>,
    pub size: Option<u64>,
}

impl Opened<'static> {
    /// A document's `bytes`, read from byte `from` on.
    #[must_use]
    pub fn bytes_from(mut bytes: Vec<u8>, from: u64) -> Self {
        bytes.drain(..usize::try_from(from).map_or(bytes.len(), |from| from.min(bytes.len())));
        Self {
            size: Some(bytes.len() as u64),
            reader: Box::new(io::Cursor::new(bytes)),
        }
    }
}

/// Where a graph is read from. Errors name the blob or tag.
pub trait Store {
    /// How messages name the store: the layout's path, or `REGISTRY/REPO`.
    fn name(&self) -> String;

    /// The descriptor the tag `name` names, if the store has the tag.
    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError>;

    /// Every tag the store offers, with the descriptor it names.
    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError>;

    /// The names of the tags the store offers, not resolved: a registry's tag list (a request
    /// a page), where [`Store::tags`] also asks what each tag names.
    fn tag_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.tags()?.into_iter().map(|(name, _)| name).collect())
    }

    /// The digest the tag `name` names, asked without reading the document where the store
    /// can (a registry's `HEAD`, which its rate limits do not count as a pull): `None` if the
    /// store has no such tag, or a registry does not say the digest in its answer.
    fn resolve_digest(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.resolve(name)?.map(|descriptor| descriptor.digest))
    }

    /// A reader of a blob's (or document's) bytes as stored; the caller checks size and
    /// digest while copying.
    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError>;

    /// A reader of a blob's bytes from byte `from` on: a download resumed where an earlier one
    /// stopped. A registry asks for the rest only (`Range`); the default opens the blob and
    /// drops its first `from` bytes.
    fn open_at(&self, descriptor: &Descriptor, from: u64) -> Result<Opened<'_>, StoreError> {
        let mut opened = self.open(descriptor)?;
        let skipped =
            io::copy(&mut (&mut opened.reader).take(from), &mut io::sink()).map_err(|error| {
                StoreError::Io {
                    digest: descriptor.digest.clone(),
                    error,
                }
            })?;
        if skipped < from {
            return Err(StoreError::Size {
                digest: descriptor.digest.clone(),
                declared: descriptor.size,
                actual: skipped,
            });
        }
        Ok(Opened {
            reader: opened.reader,
            size: opened.size.map(|size| size.saturating_sub(from)),
        })
    }

    /// The manifests whose `subject` is `subject`, of `artifact_type` if given, each with its
    /// `artifactType` (the referrers API of a registry; a layout's untagged entries), each
    /// checked against the referrer itself.
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;

    /// The document a tag or a digest names, with its bytes, in one read where the store can
    /// (a registry's `GET` of a manifest): `None` if the store has no such tag or document.
    /// The bytes hash to the digest asked for; a tag's bytes are checked against the
    /// descriptor the tag names. At most `limit` bytes are read of a document found by
    /// digest.
    fn fetch_reference(
        &self,
        reference: &str,
        limit: u64,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        let Ok(digest) = Digest::parse(reference) else {
            let Some(descriptor) = self.resolve(reference)? else {
                return Ok(None);
            };
            let bytes = self.fetch(&descriptor, limit)?;
            return Ok(Some((descriptor, bytes)));
        };
        // Only the digest is known: the document says what it is.
        let asked = Descriptor::of_digest(digest.clone());
        let opened = match self.open(&asked) {
            Ok(opened) => opened,
            Err(e) if matches!(e.inner(), StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        opened
            .reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|error| StoreError::Io {
                digest: digest.clone(),
                error,
            })?;
        if bytes.len() as u64 > limit {
            return Err(StoreError::TooLarge {
                digest,
                media_type: String::new(),
                size: bytes.len() as u64,
                limit,
            });
        }
        check_digest(&asked, &Digest::of(&bytes))?;
        Ok(Some((Descriptor::of_document(digest, &bytes), bytes)))
    }

    /// Says that the documents `descriptors` name are about to be read one by one, so that a
    /// store where each read is a request may read them at once beforehand ([`Cached`] does).
    /// Only a hint: what it cannot read now is read, and its error said, when asked for.
    fn prefetch(&self, _descriptors: &[Descriptor]) {}

    /// A blob's bytes, exactly its declared size and at most `limit`, not hashed: for a caller
    /// that reads what a damaged document says. Most callers want [`Store::fetch`].
    fn read(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        within(descriptor, limit)?;
        let opened = self.open(descriptor)?;
        read_exactly(opened, descriptor)
    }

    /// A manifest's or index's bytes (or any small blob's): exactly its size, at most `limit`
    /// (see [`crate::oci::limits`]), checked against its digest.
    fn fetch(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read(descriptor, limit)?;
        check_digest(descriptor, &Digest::of(&bytes))?;
        Ok(bytes)
    }
}

/// Where the bytes of a blob being written come from: a file (which a store that uploads may
/// read again from any offset, to resume), or a reader read once.
pub enum Content<'a> {
    File(&'a File),
    /// A file named by its path, whose bytes the caller checked already (hashed on their way
    /// in, or since): a layout on the same filesystem links it rather than copying it.
    Path(&'a Path),
    Reader(&'a mut (dyn Read + Send)),
}

/// A store that takes blobs, documents and tags (oras-go's `Target`): what a copy writes to.
/// Each write is checked against its descriptor, by the store or on the way.
pub trait StoreWrite: Store {
    /// Whether the store holds the blob or document `descriptor` names.
    fn exists(&self, descriptor: &Descriptor) -> Result<bool, StoreError>;

    /// Writes the blob `descriptor` names, its bytes from `content`; `sent` hears how many
    /// bytes have gone so far.
    fn push_blob(
        &self,
        descriptor: &Descriptor,
        content: Content<'_>,
        sent: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError>;

    /// Writes a document (its `bytes`) under its digest. Returns whether the store keeps the
    /// referrers of the document's subject itself (a registry that answers `OCI-Subject`).
    fn push_document(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<bool, StoreError>;

    /// Points `tag` at the document `descriptor` names, whose bytes are `bytes`.
    fn tag(&self, descriptor: &Descriptor, bytes: &[u8], tag: &str) -> Result<(), StoreError>;
}

/// Whether a document of `descriptor`'s declared size may be read whole: at most `limit`.
pub fn within(descriptor: &Descriptor, limit: u64) -> Result<(), StoreError> {
    if descriptor.size > limit {
        return Err(StoreError::TooLarge {
            digest: descriptor.digest.clone(),
            media_type: descriptor.media_type.clone(),
            size: descriptor.size,
            limit,
        });
    }
    Ok(())
}

/// Whether `size` bytes hashing to `digest` are what `descriptor` names.
pub fn check(descriptor: &Descriptor, size: u64, digest: &Digest) -> Result<(), StoreError> {
    if size != descriptor.size {
        return Err(StoreError::Size {
            digest: descriptor.digest.clone(),
            declared: descriptor.size,
            actual: size,
        });
    }
    check_digest(descriptor, digest)
}

fn check_digest(descriptor: &Descriptor, digest: &Digest) -> Result<(), StoreError> {
    if *digest != descriptor.digest {
        return Err(StoreError::Digest {
            expected: descriptor.digest.clone(),
            actual: digest.clone(),
        });
    }
    Ok(())
}

/// The bytes of `opened`: exactly as many as `descriptor` declares, never more read.
fn read_exactly(opened: Opened<'_>, descriptor: &Descriptor) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    opened
        .reader
        .take(descriptor.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| StoreError::Io {
            digest: descriptor.digest.clone(),
            error,
        })?;
    let read = bytes.len() as u64;
    if read != descriptor.size {
        let actual = if read > descriptor.size {
            opened.size.unwrap_or(0).max(read)
        } else {
            read
        };
        return Err(StoreError::Size {
            digest: descriptor.digest.clone(),
            declared: descriptor.size,
            actual,
        });
    }
    Ok(bytes)
}

/// The referrers of `subject` among `candidates` (descriptors of manifests), each read from
/// `store` and kept if it names `subject` (and is of `artifact_type`, if given).
fn referrers_among<'a>(
    store: &dyn Store,
    candidates: impl Iterator<Item = &'a Descriptor>,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, StoreError> {
    let mut found = Vec::new();
    for (n, descriptor) in candidates.enumerate() {
        if n >= MAX_REFERRERS {
            return Err(StoreError::Invalid(format!(
                "{} lists more than {MAX_REFERRERS} untagged manifests",
                store.name()
            )));
        }
        let bytes = store.fetch(descriptor, MAX_DOCUMENT)?;
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

/// The untagged manifests of `entries` that may be referrers of `artifact_type`.
fn untagged<'a>(
    entries: &'a [Descriptor],
    artifact_type: Option<&'a str>,
) -> impl Iterator<Item = &'a Descriptor> {
    entries.iter().filter(move |d| {
        d.ref_name().is_none()
            && d.kind() == Kind::Manifest
            && (artifact_type.is_none()
                || d.artifact_type.is_none()
                || d.artifact_type.as_deref() == artifact_type)
    })
}

/// The tags among `entries` (a layout's `index.json`), with what they name.
fn tags_of(entries: &[Descriptor]) -> Vec<(String, Descriptor)> {
    entries
        .iter()
        .filter_map(|d| Some((d.ref_name()?.to_owned(), d.clone())))
        .collect()
}

/// The first entry tagged `name`.
fn resolve_in(entries: &[Descriptor], name: &str) -> Option<Descriptor> {
    entries.iter().find(|d| d.ref_name() == Some(name)).cloned()
}

/// A layout directory as a [`Store`]: its `index.json`'s entries, and its blobs opened as
/// [`crate::oci::file`] says (regular files only, no links, no waiting on fifos).
#[derive(Debug)]
pub struct Layout {
    name: String,
    dir: LayoutDir,
    /// `index.json`'s entries that are valid descriptors.
    entries: Vec<Descriptor>,
}

impl Layout {
    /// The layout `dir`, called `name` in messages, whose `index.json` lists `entries`.
    #[must_use]
    pub fn new(name: String, dir: LayoutDir, entries: Vec<Descriptor>) -> Self {
        Self { name, dir, entries }
    }

    /// The layout `dir`, called `name` in messages, whose `index.json` (read by the caller,
    /// who says its errors in its own words) is `index`.
    #[must_use]
    pub fn with_index(name: String, dir: LayoutDir, index: &Value) -> Self {
        let manifests = index["manifests"].as_array().map_or(&[][..], Vec::as_slice);
        Self::new(name, dir, Self::valid_entries(manifests))
    }

    /// The entries of an `index.json`'s `manifests` that are valid descriptors (a walk of
    /// the raw entries says what is wrong with the others).
    #[must_use]
    pub fn valid_entries(manifests: &[Value]) -> Vec<Descriptor> {
        manifests
            .iter()
            .filter_map(|raw| Descriptor::from_value(raw).ok())
            .collect()
    }

    /// Opens the layout at `path` and reads its `index.json`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let dir =
            LayoutDir::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let bytes = dir
            .read("index.json", MAX_DOCUMENT)
            .map_err(|e| e.message(&format!("{}/index.json", path.display())))?;
        let index: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}/index.json is not JSON: {e}", path.display()))?;
        let manifests = index["manifests"]
            .as_array()
            .ok_or_else(|| format!("{}/index.json has no `manifests` list", path.display()))?;
        Ok(Self::new(
            path.display().to_string(),
            dir,
            Self::valid_entries(manifests),
        ))
    }

    /// The directory, for the files of a layout that are not blobs (`oci-layout`, …).
    #[must_use]
    pub fn dir(&self) -> &LayoutDir {
        &self.dir
    }

    /// The blob `descriptor` names as the open file it is, and its stored size: for a writer
    /// that reads it again from any offset (an upload that resumes).
    pub fn open_file(&self, descriptor: &Descriptor) -> Result<(File, u64), StoreError> {
        self.dir
            .open_blob(&descriptor.digest)
            .map_err(|e| StoreError::file(&descriptor.digest, e))
    }
}

impl Store for Layout {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(resolve_in(&self.entries, name))
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(tags_of(&self.entries))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        let (file, size) = self.open_file(descriptor)?;
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
        referrers_among(
            self,
            untagged(&self.entries, artifact_type),
            subject,
            artifact_type,
        )
    }
}

/// An OCI archive (a tar of a layout) as a [`Store`]: its blobs read in place, at the offsets
/// its table of contents ([`crate::oci::tar_index`]) found.
#[derive(Debug)]
pub struct Archive {
    name: String,
    file: File,
    /// Blob hex → (offset of its bytes in the archive, size).
    blobs: BTreeMap<String, (u64, u64)>,
    entries: Vec<Descriptor>,
}

impl Archive {
    /// The archive `file`, called `name` in messages, with its blobs at the offsets `blobs`
    /// gives and its `index.json`'s `entries`.
    #[must_use]
    pub fn new(
        name: String,
        file: File,
        blobs: BTreeMap<String, (u64, u64)>,
        entries: Vec<Descriptor>,
    ) -> Self {
        Self {
            name,
            file,
            blobs,
            entries,
        }
    }
}

impl Store for Archive {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(resolve_in(&self.entries, name))
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(tags_of(&self.entries))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        let &(offset, size) = self
            .blobs
            .get(descriptor.digest.hex())
            .ok_or_else(|| StoreError::file(&descriptor.digest, FileError::Missing))?;
        Ok(Opened {
            reader: Box::new(Region::new(&self.file, offset, size)),
            size: Some(size),
        })
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        referrers_among(
            self,
            untagged(&self.entries, artifact_type),
            subject,
            artifact_type,
        )
    }
}

/// A part of a file, read at its offsets: readers of several blobs share one file.
pub struct Region<'a> {
    file: &'a File,
    position: u64,
    end: u64,
}

impl<'a> Region<'a> {
    /// The `size` bytes of `file` from `offset`.
    #[must_use]
    pub fn new(file: &'a File, offset: u64, size: u64) -> Self {
        Self {
            file,
            position: offset,
            end: offset.saturating_add(size),
        }
    }
}

impl Read for Region<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let wanted = buffer.len().min(left);
        if wanted == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buffer[..wanted], self.position)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside the blob",
            ));
        }
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
