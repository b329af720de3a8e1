//! `glc copy SRC-REF DST-REPO`: a tag's graph (a release, with its referrers, signatures and
//! the other tags of the source that point into it) from one repository to another, a copy
//! between two stores: read through the source's [`Repository`] (its documents only, walked
//! with the one walker: bounded sizes and depth, each digest once), written through the
//! destination's by `glc push`'s own code, so the order (blobs, documents children first,
//! referrers, tags, release tags last), the tag policy and the rerun that finishes a copy
//! stopped at any moment are push's. Blobs never pass through the documents' layout: within
//! one registry they are mounted ([`Client::mount_or_copy`]), between registries streamed
//! from the source's download into the upload ([`Client::stream_from`]).
//!
//! Which tags go: SRC's own tag, and every tag of the source repository that points at a
//! document of the copied graph (the release's version, major version and `latest` where they
//! point at it, its images' tags) or is a cosign signature tag (`sha256-<hex>.sig`) of one.
//! The referrers fallback tags (`sha256-<hex>`) are not copied as such: the referrers they
//! list are, and the destination's push writes its own fallback tags where the registry has
//! no referrers API.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::mount::Mounted;
use super::push::{self, Elsewhere, Outcome, PushError, PushedTag, Request};
use super::source::{Repository, referrers_through};
use super::{ACCEPT, Client, Error, ErrorKind, Options, parallel};
use crate::oci::layout::LayoutWriter;
use crate::oci::limits::{MAX_DEPTH, MAX_DOCUMENT};
use crate::oci::store::{Cached, Store as _};
use crate::oci::vocab::annotation::REF_NAME;
use crate::oci::walk::{self, Graph};
use crate::oci::{Descriptor, Digest, printable};

/// Tags of the source repository glc reads at most.
const MAX_TAGS: usize = 100_000;

/// What is copied: `REGISTRY/REPO:TAG`.
#[derive(Debug, Clone)]
pub struct SourceRef {
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl SourceRef {
    /// `REGISTRY/REPO:TAG`, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let last = text.rfind('/').map_or(0, |i| i + 1);
        let Some(at) = text[last..].find(':').map(|at| last + at) else {
            return Err(format!(
                "`{}` names no tag: write REGISTRY/REPO:TAG, e.g. ghcr.io/gardenlinux/nightly:1877.3",
                printable(text)
            ));
        };
        let (host, repository) = push::parse_destination(&text[..at])?;
        let tag = &text[at + 1..];
        crate::oci::name::check_tag(tag)?;
        Ok(Self {
            host,
            repository,
            tag: tag.to_owned(),
        })
    }

    fn name(&self) -> String {
        format!("{}/{}:{}", self.host, self.repository, self.tag)
    }
}

/// What a copy did: the push into the destination, and what moved how.
#[derive(Debug)]
pub struct Copied {
    pub outcome: Outcome,
    /// Whether source and destination are one registry (blobs mounted, not streamed).
    pub same_registry: bool,
    /// Documents of the graph, and their bytes read from the source.
    pub documents: u64,
    pub document_bytes: u64,
    /// Blobs streamed from another registry, and their bytes.
    pub blobs_streamed: u64,
    pub bytes_streamed: u64,
}

impl Copied {
    /// The fields of the JSON summary line.
    #[must_use]
    pub fn summary_json(&self, source: &str, destination: &str) -> Value {
        let mut fields = self.outcome.summary_json(destination);
        if let Some(object) = fields.as_object_mut() {
            // Streamed blobs are not "copied where a mount was refused".
            let copied = self.outcome.blobs_copied - self.blobs_streamed;
            object.insert("source".to_owned(), source.into());
            object.insert("same_registry".to_owned(), self.same_registry.into());
            object.insert("blobs_copied".to_owned(), copied.into());
            object.insert("blobs_streamed".to_owned(), self.blobs_streamed.into());
            object.insert("bytes_streamed".to_owned(), self.bytes_streamed.into());
            object.insert("documents".to_owned(), self.documents.into());
            object.insert("document_bytes".to_owned(), self.document_bytes.into());
        }
        fields
    }

    /// The line a person reads after a copy that took `seconds`.
    #[must_use]
    pub fn summary_text(&self, source: &str, destination: &str, seconds: f64) -> String {
        let o = &self.outcome;
        let moved: Vec<&str> = o
            .tags
            .iter()
            .filter(|t| !t.unchanged)
            .map(|t| t.tag.as_str())
            .collect();
        let moved = if moved.is_empty() {
            "no tag moved".to_owned()
        } else {
            format!("tags moved: {}", moved.join(", "))
        };
        let copied = o.blobs_copied - self.blobs_streamed;
        let copied = if copied > 0 {
            format!(", {copied} copied where the registry refused to mount them")
        } else {
            String::new()
        };
        format!(
            "copied {source} to {destination} ({} tags) in {seconds:.1} s: {} blobs mounted{copied}, {} streamed ({} bytes), {} already there; {} of {} documents written; {moved}",
            o.tags.len(),
            o.blobs_mounted,
            self.blobs_streamed,
            self.bytes_streamed,
            o.blobs_skipped,
            o.manifests_pushed,
            self.documents,
        )
    }
}

fn fail(message: String, help: &str) -> PushError {
    PushError::Push {
        code: "glc::copy::source",
        message,
        help: Some(help.to_owned()),
    }
}

fn source_error(source: &SourceRef, e: &Error) -> PushError {
    let help = match e.kind {
        ErrorKind::Auth => {
            "give the source registry's credentials (GLC_REGISTRY_HOST with GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD, or `podman login`)"
        }
        ErrorKind::UnknownHost => super::UNKNOWN_HOST,
        _ => "check the source reference and that its registry is reachable; nothing was copied",
    };
    fail(
        format!("cannot read {}: {e}; nothing was copied", source.name()),
        help,
    )
}

/// Copies `source`'s graph into `request`'s repository (`request.tags` and `part_tag` are not
/// read). `on_tag` hears of every tag written.
pub fn copy(
    source: &SourceRef,
    request: &Request,
    on_tag: &mut dyn FnMut(&PushedTag),
) -> Result<Copied, PushError> {
    let client = Client::new(
        &source.host,
        &source.repository,
        Options {
            read_only: true,
            sessions_dir: None,
            ..request.options.clone()
        },
    )
    .map_err(|e| source_error(source, &e))?;
    client.ping().map_err(|e| source_error(source, &e))?;
    // One state of the source: its tag list read once, and once it says it has no referrers
    // API, only the fallback tags it lists read.
    let store = Cached::new(Repository::new(client).remembering());
    let root = store
        .resolve(&source.tag)
        .map_err(|e| fail(format!("cannot read {}: {e}", source.name()), "check the source reference and that its registry is reachable; nothing was copied"))?
        .ok_or_else(|| {
            fail(
                format!(
                    "{}/{} has no tag `{}` (or no such repository); nothing was copied",
                    source.host, source.repository, source.tag
                ),
                "check the reference: `skopeo list-tags docker://REGISTRY/REPO` lists a repository's tags",
            )
        })?;
    let client = store.inner().client();
    let mut entries = vec![entry(&root, Some(&source.tag))];
    let mut graph = walk::walk(&store, &entries);
    let listed = store
        .tag_names()
        .map_err(|e| source_error(source, &push::registry_failure(e)))?;
    if listed.len() > MAX_TAGS {
        return Err(fail(
            format!(
                "{}/{} lists {} tags, more than glc reads ({MAX_TAGS})",
                source.host,
                source.repository,
                listed.len()
            ),
            "copy from a repository with fewer tags; nothing was copied",
        ));
    }
    // The other tags: each asked where it points, at once.
    let others: Vec<&String> = listed
        .iter()
        .filter(|t| **t != source.tag && crate::oci::name::fallback_subject(t).is_none())
        .collect();
    let pointing = parallel(&others, request.jobs.max(8), |tag| {
        client
            .head_manifest(tag, ACCEPT)
            .map(|digest| digest.and_then(|d| Digest::parse(&d).ok()))
    })
    .map_err(|e| source_error(source, &e))?;
    // Without a referrers API, only documents with a fallback tag have referrers to read.
    let api = store
        .inner()
        .referrers_api(&root.digest)
        .map_err(|e| source_error(source, &push::registry_failure(e)))?;
    let fallback: HashSet<Digest> = listed
        .iter()
        .filter_map(|t| crate::oci::name::fallback_subject(t))
        .collect();
    let mut taken: HashSet<String> = HashSet::from([source.tag.clone()]);
    let mut asked: HashSet<Digest> = HashSet::new();
    // Until nothing more hangs on the graph (referrers of referrers, signatures of them),
    // at most as deep as the walker goes.
    for _ in 0..=MAX_DEPTH {
        let mut added = Vec::new();
        for (tag, digest) in others.iter().zip(&pointing) {
            let Some(digest) = digest else { continue };
            let hangs = graph.find(digest).is_some()
                || crate::oci::name::cosign_subject(tag).is_some_and(|s| graph.find(&s).is_some());
            if hangs && taken.insert((*tag).clone()) {
                // A document of the graph is known already; only a signature is read.
                if let Some(id) = graph.find(digest) {
                    added.push(entry(&known_descriptor(&graph, id), Some(tag)));
                    continue;
                }
                let descriptor = store.resolve(tag).map_err(|e| {
                    fail(
                        format!(
                            "cannot read {}/{}:{tag}: {e}",
                            source.host, source.repository
                        ),
                        "check that the source registry is reachable; nothing was copied",
                    )
                })?;
                if let Some(descriptor) = descriptor {
                    added.push(entry(&descriptor, Some(tag)));
                }
            }
        }
        let documents: Vec<Digest> = graph
            .nodes
            .iter()
            .filter(|n| n.document.is_some() && !asked.contains(&n.descriptor.digest))
            .filter(|n| api || fallback.contains(&n.descriptor.digest))
            .map(|n| n.descriptor.digest.clone())
            .collect();
        // Each listed referrer read through the cache, where the walk then finds it.
        let found = parallel(&documents, request.jobs.max(8), |digest| {
            referrers_through(store.inner(), &store, digest, None)
        })
        .map_err(|e| {
            fail(
                format!("cannot read the referrers of {}: {e}", source.name()),
                "check that the source registry is reachable; nothing was copied",
            )
        })?;
        asked.extend(documents);
        let mut known: HashSet<Digest> = entries
            .iter()
            .chain(&added)
            .filter_map(|e| e["digest"].as_str().and_then(|d| Digest::parse(d).ok()))
            .collect();
        for referrer in found.into_iter().flatten() {
            if graph.find(&referrer.digest).is_none() && known.insert(referrer.digest.clone()) {
                added.push(entry(&referrer, None));
            }
        }
        if added.is_empty() {
            break;
        }
        graph.extend(&store, &added);
        entries.extend(added);
    }
    let problems = graph.problems();
    if let Some(first) = problems.first() {
        return Err(fail(
            format!(
                "{} is not whole ({} problems), e.g. {}: {}; nothing was copied",
                source.name(),
                problems.len(),
                first.path,
                first.message
            ),
            "`glc pull` of the source and `glc verify` of the layout list every problem",
        ));
    }
    let scratch = tempfile::tempdir().map_err(|e| {
        fail(
            format!("cannot create a temporary directory: {e}"),
            "check the space and permissions of the temporary directory (TMPDIR)",
        )
    })?;
    let layout = scratch.path().join("layout");
    let (documents, document_bytes) = write_documents(&store, &graph, &entries, &layout)?;
    let same_registry = source.host == request.host;
    let blobs = SourceBlobs {
        source: client,
        same_registry,
        same_repository: same_registry && source.repository == request.repository,
        chunk: request.chunk,
        streamed: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    };
    let outcome = push::push_with(&layout, request, &blobs, on_tag)?;
    Ok(Copied {
        outcome,
        same_registry,
        documents,
        document_bytes,
        blobs_streamed: blobs.streamed.into_inner(),
        bytes_streamed: blobs.bytes.into_inner(),
    })
}

/// The descriptor of node `id` as a tag names it: its own media type, size and artifact type,
/// none of the fields a parent index gave it.
fn known_descriptor(graph: &Graph, id: walk::NodeId) -> Descriptor {
    let node = &graph.nodes[id];
    Descriptor {
        media_type: node.descriptor.media_type.clone(),
        digest: node.descriptor.digest.clone(),
        size: node.descriptor.size,
        annotations: std::collections::BTreeMap::new(),
        platform: None,
        artifact_type: node.document.as_ref().and_then(|d| d.artifact_type.clone()),
    }
}

/// An `index.json` entry of `descriptor`, tagged `tag`.
fn entry(descriptor: &Descriptor, tag: Option<&str>) -> Value {
    let mut value = descriptor.to_value();
    if let Some(tag) = tag {
        value["annotations"] = serde_json::json!({ REF_NAME: tag });
    } else if let Some(object) = value.as_object_mut() {
        object.remove("annotations");
    }
    value
}

/// Writes every document of `graph` (read once, through the cache) and `entries` as
/// `index.json` into a layout at `root`: what push reads. Returns the count and bytes.
fn write_documents(
    store: &Cached<Repository>,
    graph: &Graph,
    entries: &[Value],
    root: &Path,
) -> Result<(u64, u64), PushError> {
    let io = |e: std::io::Error| {
        fail(
            format!("cannot write the documents into a temporary layout: {e}"),
            "check the space and permissions of the temporary directory (TMPDIR)",
        )
    };
    let writer = LayoutWriter::create(root).map_err(io)?;
    let mut count = 0;
    let mut bytes = 0;
    for node in graph.nodes.iter().filter(|n| n.document.is_some()) {
        let document = store.fetch(&node.descriptor, MAX_DOCUMENT).map_err(|e| {
            fail(
                format!("cannot read document {}: {e}", node.descriptor.digest),
                "check that the source registry is reachable; nothing was copied",
            )
        })?;
        writer.write_bytes(&document).map_err(io)?;
        count += 1;
        bytes += document.len() as u64;
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::vocab::media::INDEX,
        "manifests": entries,
    });
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec(&index).unwrap_or_default(),
    )
    .map_err(io)?;
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(io)?;
    Ok((count, bytes))
}

/// The source repository, as where every blob that is not a document comes from.
struct SourceBlobs<'a> {
    source: &'a Client,
    same_registry: bool,
    same_repository: bool,
    chunk: u64,
    streamed: AtomicU64,
    bytes: AtomicU64,
}

impl Elsewhere for SourceBlobs<'_> {
    fn has(&self, _: &Digest) -> bool {
        true
    }

    fn mounts(&self, _: &Digest) -> bool {
        self.same_registry && !self.same_repository
    }

    fn provide(&self, client: &Client, digest: &Digest, size: u64) -> Result<Mounted, Error> {
        if self.same_repository {
            return Err(Error::new(
                ErrorKind::Final,
                format!(
                    "blob {digest} is missing from {}/{}, the repository copied from",
                    self.source.host, self.source.repository
                ),
            ));
        }
        if self.same_registry {
            return client.mount_or_copy(self.source, digest, size, self.chunk);
        }
        client.stream_from(self.source, digest, size, self.chunk)?;
        self.streamed.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Ok(Mounted::Copied)
    }
}
