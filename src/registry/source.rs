//! A tag of a registry repository as a [`Source`] of `glc get`: the release is read where it
//! is, document by document (each checked against its digest), and only the one file asked
//! for is downloaded, streamed through a reader that resumes broken connections.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use serde_json::Value;

use super::{ACCEPT, Client, Manifest, Options};
use crate::get::Source;
use crate::oci::vocab::{Kind, media};
use crate::oci::{Descriptor, Digest};

/// Referrers of one manifest glc reads at most.
const MAX_REFERRERS: usize = 4096;
/// Bytes of manifests kept for reading again at most: past it, a manifest is read and
/// dropped, so memory does not grow with what a registry lists.
const MAX_KEPT: usize = 64 << 20;

/// `REGISTRY/REPO:TAG`, read through a client of the repository.
pub struct Repository {
    client: Client,
    tag: String,
    /// Manifests and indexes read so far, by digest (within [`MAX_KEPT`] bytes): each is
    /// fetched once.
    manifests: Mutex<HashMap<Digest, Manifest>>,
    /// Digests the registry answered 404 for: not asked again.
    absent: Mutex<std::collections::HashSet<Digest>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("client", &self.client)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// The repository of `host` that `tag` is read from; asks for read access only.
    pub fn open(
        host: &str,
        repository: &str,
        tag: &str,
        options: Options,
    ) -> Result<Self, super::Error> {
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
            tag: tag.to_owned(),
            manifests: Mutex::default(),
            absent: Mutex::default(),
        })
    }

    /// A manifest or index by tag or digest, fetched once.
    fn manifest(&self, reference: &str) -> Result<Option<Manifest>, String> {
        let digest = Digest::parse(reference).ok();
        if let Some(digest) = &digest {
            if let Some(known) = self
                .manifests
                .lock()
                .ok()
                .and_then(|m| m.get(digest).cloned())
            {
                return Ok(Some(known));
            }
            if self.absent.lock().is_ok_and(|a| a.contains(digest)) {
                return Ok(None);
            }
        }
        let fetched = self
            .client
            .get_manifest(reference, ACCEPT)
            .map_err(|e| e.message)?;
        match (&fetched, digest) {
            (Some(manifest), _) => {
                if let Ok(mut known) = self.manifests.lock() {
                    let kept: usize = known.values().map(|m| m.bytes.len()).sum();
                    if kept + manifest.bytes.len() <= MAX_KEPT {
                        known.insert(manifest.digest.clone(), manifest.clone());
                    }
                }
            }
            (None, Some(digest)) => {
                if let Ok(mut absent) = self.absent.lock() {
                    absent.insert(digest);
                }
            }
            (None, None) => {}
        }
        Ok(fetched)
    }

    /// The descriptor of a fetched manifest: its media type as sent, its artifact type.
    fn descriptor(manifest: &Manifest) -> Descriptor {
        let document: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        let media_type = document["mediaType"]
            .as_str()
            .map_or_else(|| manifest.media_type.clone(), str::to_owned);
        Descriptor {
            media_type,
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            annotations: std::collections::BTreeMap::new(),
            platform: None,
            artifact_type: document["artifactType"].as_str().map(str::to_owned),
        }
    }
}

impl Source for Repository {
    fn name(&self) -> String {
        format!("{}/{}", self.client.host, self.client.repository)
    }

    fn tags(&self) -> Result<Vec<(String, Descriptor)>, String> {
        Ok(self
            .tag(&self.tag)?
            .map(|d| (self.tag.clone(), d))
            .into_iter()
            .collect())
    }

    fn tag(&self, name: &str) -> Result<Option<Descriptor>, String> {
        Ok(self.manifest(name)?.as_ref().map(Self::descriptor))
    }

    fn document(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, String> {
        crate::get::within(descriptor, limit)?;
        let bytes = if descriptor.kind().is_document() {
            self.manifest(&descriptor.digest.to_string())?
                .ok_or_else(|| format!("{} has no manifest {}", self.name(), descriptor.digest))?
                .bytes
        } else {
            let mut bytes = Vec::new();
            self.open_blob(descriptor)?
                .take(descriptor.size.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| super::Error::from_io(e).message)?;
            bytes
        };
        crate::get::check(descriptor, bytes.len() as u64, &Digest::of(&bytes))
            .map_err(|e| format!("{}: {e}", self.name()))?;
        Ok(bytes)
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + '_>, String> {
        let reader = self
            .client
            .read_blob(&descriptor.digest, descriptor.size, 0);
        Ok(Box::new(Messages(reader)))
    }

    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, String> {
        let listed = match self.client.referrers(subject).map_err(|e| e.message)? {
            Some(listed) => listed,
            // No referrers API: the fallback tag, if there is one.
            None => match self.manifest(&format!("sha256-{}", subject.hex()))? {
                Some(index) if index.media_type.starts_with(media::INDEX) => {
                    serde_json::from_slice::<Value>(&index.bytes)
                        .ok()
                        .and_then(|v| v["manifests"].as_array().cloned())
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            },
        };
        let mut found = Vec::new();
        let mut seen = std::collections::HashSet::new();
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
            let bytes = self.document(&descriptor, crate::oci::limits::MAX_DOCUMENT)?;
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
}

/// A blob reader whose errors say what the registry said.
struct Messages<'a>(super::BlobReader<'a>);

impl Read for Messages<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buffer)
            .map_err(|e| std::io::Error::other(super::Error::from_io(e).message))
    }
}
