//! A registry repository as a [`Store`]: tags resolved and documents fetched by `GET` of a
//! manifest (each checked against its digest), blobs streamed through a reader that resumes
//! broken connections, referrers from the referrers API or its fallback tag. Wrapped in
//! [`crate::oci::store::Cached`], each document is fetched once; made
//! [`Repository::remembering`], the registry's tag list is read once and its referrers API
//! asked for until it says it has none.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::Mutex;

use serde_json::Value;

use super::{ACCEPT, Client, Error, Manifest, Options};
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{self, Content, MAX_REFERRERS, Opened, Store, StoreError, StoreWrite};
use crate::oci::vocab::{Kind, media};
use crate::oci::{Descriptor, Digest};

/// `REGISTRY/REPO`, read through a client of the repository.
#[derive(Debug)]
pub struct Repository {
    client: Client,
    /// Blobs larger than this go up in chunks of this size.
    chunk: u64,
    /// The tag the repository is offered under, if only one: [`Store::tags`] lists it alone
    /// (a repository's tag list may be long, and `glc get` reads only the release it names).
    only: Option<String>,
    /// What the registry said of itself, kept for the rest of the command, if
    /// [`Repository::remembering`].
    remembered: Option<Remembered>,
}

/// What a [`Repository::remembering`] keeps of the registry's answers.
#[derive(Debug, Default)]
struct Remembered {
    /// The tag list, once read.
    tags: Mutex<Option<Vec<String>>>,
    /// Whether the registry has the referrers API, as it last answered.
    api: Mutex<Option<bool>>,
}

impl Repository {
    /// The repository of `host` that `tag` is read from; asks for read access only.
    pub fn open(host: &str, repository: &str, tag: &str, options: Options) -> Result<Self, Error> {
        let client = Client::new(
            host,
            repository,
            Options {
                read_only: true,
                ..options
            },
        )?;
        client.ping()?;
        Ok(Self {
            client,
            chunk: u64::MAX,
            only: Some(tag.to_owned()),
            remembered: None,
        })
    }

    /// The repository `client` reaches, with every tag it has.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self {
            client,
            chunk: u64::MAX,
            only: None,
            remembered: None,
        }
    }

    /// The repository read as one state for one command (a pull): its tag list is read once
    /// and kept, and once the registry says it has no referrers API it is not asked again;
    /// the referrers of a subject are then read from its fallback tag only where the kept
    /// tag list names that tag.
    #[must_use]
    pub fn remembering(self) -> Self {
        Self {
            remembered: Some(Remembered::default()),
            ..self
        }
    }

    /// Blobs larger than `chunk` are uploaded in chunks of that size.
    #[must_use]
    pub fn chunked(self, chunk: u64) -> Self {
        Self { chunk, ..self }
    }

    /// The client, for what the store does not say: its counts of requests and uploads, and
    /// the `HEAD`s and referrers reads push and copy still make themselves.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `read` of the kept tag list, which is read first if it was not yet.
    fn kept_tags<R>(
        &self,
        remembered: &Remembered,
        read: impl FnOnce(&[String]) -> R,
    ) -> Result<R, StoreError> {
        let mut kept = remembered
            .tags
            .lock()
            .map_err(|_| StoreError::Invalid("the tag list was not kept".to_owned()))?;
        if kept.is_none() {
            *kept = Some(self.client.tags().map_err(StoreError::store)?);
        }
        Ok(read(kept.as_deref().unwrap_or_default()))
    }

    /// A manifest or index by tag or digest.
    fn manifest(&self, reference: &str) -> Result<Option<Manifest>, StoreError> {
        self.client
            .get_manifest(reference, ACCEPT)
            .map_err(StoreError::store)
    }

    /// The descriptor of a fetched manifest: its media type as sent (which the client holds
    /// to the document's own), its artifact type.
    fn descriptor(manifest: &Manifest) -> Descriptor {
        let document: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        let media_type = document["mediaType"]
            .as_str()
            .map_or_else(|| manifest.media_type.clone(), str::to_owned);
        Descriptor {
            media_type,
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: document["artifactType"].as_str().map(str::to_owned),
        }
    }

    /// `error` said with the repository's name before it.
    fn named(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Size { .. } | StoreError::Digest { .. } => StoreError::In {
                store: self.name(),
                error: Box::new(error),
            },
            other => other,
        }
    }
}

impl Store for Repository {
    fn name(&self) -> String {
        format!("{}/{}", self.client.host, self.client.repository)
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(self.manifest(name)?.as_ref().map(Self::descriptor))
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        let mut tags = Vec::new();
        for name in self.tag_names()? {
            if let Some(descriptor) = self.resolve(&name)? {
                tags.push((name, descriptor));
            }
        }
        Ok(tags)
    }

    /// The tag list (`GET tags/list`, page by page), or the one tag offered.
    fn tag_names(&self) -> Result<Vec<String>, StoreError> {
        if let Some(tag) = &self.only {
            return Ok(vec![tag.clone()]);
        }
        match &self.remembered {
            Some(remembered) => self.kept_tags(remembered, <[String]>::to_vec),
            None => self.client.tags().map_err(StoreError::store),
        }
    }

    /// One `HEAD` of the tag's manifest: the digest the registry names, if it names one.
    fn resolve_digest(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self
            .client
            .head_manifest(name, ACCEPT)
            .map_err(StoreError::store)?
            .and_then(|digest| Digest::parse(&digest).ok()))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        self.open_at(descriptor, 0)
    }

    /// A blob is read from byte `from` (`Range`), resumed where a connection breaks; the
    /// reader's errors carry the registry's [`Error`] (see [`Error::from_io`]).
    fn open_at(&self, descriptor: &Descriptor, from: u64) -> Result<Opened<'_>, StoreError> {
        if descriptor.kind().is_document() {
            let bytes = self
                .manifest(&descriptor.digest.to_string())?
                .ok_or_else(|| StoreError::NotFound {
                    kind: "manifest",
                    reference: descriptor.digest.to_string(),
                    store: Some(self.name()),
                })?;
            return Ok(Opened::bytes_from(bytes.bytes, from));
        }
        let reader = self
            .client
            .read_blob(&descriptor.digest, descriptor.size, from);
        Ok(Opened {
            reader: Box::new(reader),
            size: None,
        })
    }

    /// One `GET` of a manifest; its bytes are bounded by the client, not by `limit`.
    fn fetch_reference(
        &self,
        reference: &str,
        _limit: u64,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        Ok(self
            .manifest(reference)?
            .map(|manifest| (Self::descriptor(&manifest), manifest.bytes)))
    }

    fn read(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        store::within(descriptor, limit)?;
        let bytes = if descriptor.kind().is_document() {
            self.fetch_reference(&descriptor.digest.to_string(), limit)?
                .ok_or_else(|| StoreError::NotFound {
                    kind: "manifest",
                    reference: descriptor.digest.to_string(),
                    store: Some(self.name()),
                })?
                .1
        } else {
            let mut bytes = Vec::new();
            self.client
                .read_blob(&descriptor.digest, descriptor.size, 0)
                .take(descriptor.size.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| StoreError::store(Error::from_io(e)))?;
            bytes
        };
        if bytes.len() as u64 != descriptor.size {
            return Err(self.named(StoreError::Size {
                digest: descriptor.digest.clone(),
                declared: descriptor.size,
                actual: bytes.len() as u64,
            }));
        }
        Ok(bytes)
    }

    fn fetch(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read(descriptor, limit)?;
        store::check(descriptor, bytes.len() as u64, &Digest::of(&bytes))
            .map_err(|e| self.named(e))?;
        Ok(bytes)
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        referrers(self, subject, artifact_type)
    }
}

/// Writes go up through the client: blobs uploaded (resumed where a connection broke, in
/// chunks past [`Repository::chunked`]), documents and tags `PUT` as manifests.
impl StoreWrite for Repository {
    fn exists(&self, descriptor: &Descriptor) -> Result<bool, StoreError> {
        if descriptor.kind().is_document() {
            self.client
                .head_manifest(&descriptor.digest.to_string(), &descriptor.media_type)
                .map(|there| there.is_some())
        } else {
            self.client.has_blob(&descriptor.digest)
        }
        .map_err(StoreError::store)
    }

    fn push_blob(
        &self,
        descriptor: &Descriptor,
        content: Content<'_>,
        sent: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        let upload = |file: &std::fs::File| {
            self.client
                .upload_blob(file, descriptor.size, &descriptor.digest, self.chunk, sent)
                .map_err(StoreError::store)
        };
        match content {
            Content::File(file) => upload(file),
            Content::Path(path) => {
                upload(&std::fs::File::open(path).map_err(|error| StoreError::Io {
                    digest: descriptor.digest.clone(),
                    error,
                })?)
            }
            // An upload is resumed from any offset: a reader is spooled into a file first.
            Content::Reader(reader) => {
                let mut spool = tempfile::tempfile().map_err(|error| StoreError::Io {
                    digest: descriptor.digest.clone(),
                    error,
                })?;
                std::io::copy(reader, &mut spool).map_err(|error| StoreError::Io {
                    digest: descriptor.digest.clone(),
                    error,
                })?;
                upload(&spool)
            }
        }
    }

    fn push_document(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<bool, StoreError> {
        self.client
            .put_manifest(
                &descriptor.digest.to_string(),
                &descriptor.media_type,
                bytes,
                &descriptor.digest,
            )
            .map_err(StoreError::store)
    }

    fn tag(&self, descriptor: &Descriptor, bytes: &[u8], tag: &str) -> Result<(), StoreError> {
        self.client
            .put_manifest(tag, &descriptor.media_type, bytes, &descriptor.digest)
            .map(|_| ())
            .map_err(StoreError::store)
    }
}

impl Repository {
    /// Whether the registry has the referrers API, asked with `subject`: once, where the
    /// repository remembers (then every later read of referrers knows it).
    pub fn referrers_api(&self, subject: &Digest) -> Result<bool, StoreError> {
        let remembered = self.remembered.as_ref();
        if let Some(known) = remembered.and_then(|r| r.api.lock().ok().and_then(|api| *api)) {
            return Ok(known);
        }
        let api = self
            .client
            .referrers(subject)
            .map_err(StoreError::store)?
            .is_some();
        if let Some(remembered) = remembered
            && let Ok(mut known) = remembered.api.lock()
        {
            *known = Some(api);
        }
        Ok(api)
    }

    /// The referrers of `subject` as the registry lists them, not checked against the
    /// referrers: the entries of its referrers API's index, or, where it has none, of the
    /// fallback tag `sha256-<hex>` (an index), read through `store` (the repository, or a
    /// cache of it). [`Repository::remembering`] asks the API no more once the registry said
    /// it has none, and reads a fallback tag only where the kept tag list names it, from the
    /// registry, as an index (`Accept`).
    pub fn listed_referrers(
        &self,
        subject: &Digest,
        store: &dyn Store,
    ) -> Result<Vec<Value>, StoreError> {
        let remembered = self.remembered.as_ref();
        let known_absent = remembered
            .and_then(|r| r.api.lock().ok().and_then(|api| *api))
            .is_some_and(|api| !api);
        let listed = if known_absent {
            None
        } else {
            self.client.referrers(subject).map_err(StoreError::store)?
        };
        if let Some(remembered) = remembered
            && let Ok(mut api) = remembered.api.lock()
        {
            *api = Some(listed.is_some());
        }
        if let Some(listed) = listed {
            return Ok(listed);
        }
        // No referrers API: the fallback tag, if there is one.
        let fallback = format!("sha256-{}", subject.hex());
        let manifests = |bytes: &[u8]| {
            serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v["manifests"].as_array().cloned())
                .unwrap_or_default()
        };
        if let Some(remembered) = remembered {
            // Only a tag the kept list names, asked for as the index it is.
            if !self.kept_tags(remembered, |tags| tags.contains(&fallback))? {
                return Ok(Vec::new());
            }
            let index = self
                .client
                .get_manifest(&fallback, media::INDEX)
                .map_err(StoreError::store)?;
            return Ok(index
                .map(|index| manifests(&index.bytes))
                .unwrap_or_default());
        }
        Ok(match store.fetch_reference(&fallback, MAX_DOCUMENT)? {
            Some((index, bytes)) if index.media_type.starts_with(media::INDEX) => manifests(&bytes),
            _ => Vec::new(),
        })
    }
}

/// The referrers of `subject` in `repository`, reading each through `store` (the repository,
/// or a cache of it): the registry's list, checked against each referrer itself.
pub fn referrers(
    repository: &Repository,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, StoreError> {
    referrers_through(repository, repository, subject, artifact_type)
}

/// [`referrers`], each listed referrer read through `store`.
pub fn referrers_through(
    repository: &Repository,
    store: &dyn Store,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, StoreError> {
    let listed = repository.listed_referrers(subject, store)?;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for raw in listed.iter().take(MAX_REFERRERS) {
        let Ok(descriptor) = Descriptor::from_value(raw) else {
            continue;
        };
        // A registry that lists one referrer many times is asked about it once.
        if !seen.insert(descriptor.digest.clone()) {
            continue;
        }
        if descriptor.kind() != Kind::Manifest
            || (artifact_type.is_some()
                && descriptor.artifact_type.is_some()
                && descriptor.artifact_type.as_deref() != artifact_type)
        {
            continue;
        }
        // The registry's list, checked against the referrer itself.
        let bytes = store.fetch(&descriptor, MAX_DOCUMENT)?;
        let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let kind = manifest["artifactType"].as_str().map(str::to_owned);
        if manifest["subject"]["digest"].as_str() == Some(subject.to_string().as_str())
            && (artifact_type.is_none() || kind.as_deref() == artifact_type)
        {
            let mut descriptor = descriptor;
            descriptor.artifact_type = kind;
            found.push(descriptor);
        }
    }
    Ok(found)
}

/// A repository with each document fetched once ([`store::Cached`]), referrers included:
/// what `glc get` reads a release from.
#[derive(Debug)]
pub struct Reader(store::Cached<Repository>);

impl Reader {
    /// The repository of `host` that `tag` is read from; asks for read access only.
    pub fn open(host: &str, repository: &str, tag: &str, options: Options) -> Result<Self, Error> {
        Repository::open(host, repository, tag, options).map(|r| Self(store::Cached::new(r)))
    }
}

impl Store for Reader {
    fn name(&self) -> String {
        self.0.name()
    }

    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        self.0.resolve(name)
    }

    /// The tag it was opened with, its document read once and kept.
    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        match &self.0.inner().only {
            Some(tag) => Ok(self
                .resolve(tag)?
                .map(|d| (tag.clone(), d))
                .into_iter()
                .collect()),
            None => self.0.tags(),
        }
    }

    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        self.0.open(descriptor)
    }

    fn fetch_reference(
        &self,
        reference: &str,
        limit: u64,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        self.0.fetch_reference(reference, limit)
    }

    fn read(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        self.0.read(descriptor, limit)
    }

    fn fetch(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, StoreError> {
        self.0.fetch(descriptor, limit)
    }

    /// Each referrer read through the cache, as `glc get` reads it again.
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        referrers_through(self.0.inner(), &self.0, subject, artifact_type)
    }
}
