//! `glc pull`: tags of a repository, with everything reachable from them, their referrers
//! (through the referrers API, or the fallback tags `sha256-<hex>` where the registry has
//! none) and cosign's signature tags, into an OCI layout, whole or not at all.
//!
//! A pull is a copy between stores: it reads through the repository's store (a
//! [`Repository`] that remembers its tag list and whether it has the referrers API, under
//! [`Documents`], which keeps the documents and checks the referrers) and writes through a
//! layout's ([`Staged`]). Documents are read first, through the one walker of a graph
//! ([`walk`]), each checked against its digest; then the blobs the target does not hold
//! already are downloaded, in parallel, hashed on the way, into a directory beside the target
//! that outlives a pull that fails or is killed (a rerun resumes there, a half-downloaded blob
//! from where it stopped); then blobs, documents and tags are written into the staged layout,
//! which is put in place as a build puts its own (lock, staging, swap).
//!
//! The layout's `index.json` is the one `glc build` writes for the same graph: every tag as
//! the registry has it, the referrers untagged, in the order rule of `index.json`; so a release
//! pushed and pulled back is, file for file, the layout that was built.

mod documents;
mod fetch;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::build::assemble::{BuildReport, CLOUD_IMAGE};
use crate::build::output;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{Content, Staged, Store, StoreError, StoreWrite};
use crate::oci::vocab::annotation::REF_NAME;
use crate::oci::walk::{self, Child, Graph, NodeId};
use crate::oci::{Descriptor, Digest, printable};
use crate::registry::source::Repository;
use crate::registry::{Client, Options, parallel};
use crate::util::text::count;
use documents::Documents;
use fetch::{Kept, check_kept, fetch};

/// Documents glc reads of a registry for one pull at most: a graph that fans out further is
/// not a release.
const MAX_DOCUMENTS: usize = 50_000;
/// Referrers of one subject a pull reads at most, as `glc get` does.
const MAX_REFERRERS: usize = 4096;
/// Documents a pull asks the registry for at most, found or not: referrers lists cannot make
/// it ask without end.
const MAX_ASKED: usize = 2 * MAX_DOCUMENTS;
/// Bytes of documents a pull keeps in memory at most, whatever the registry sends: a real
/// release's manifests and indexes take a few MiB. Documents that are not part of the graph
/// (a listed referrer of another subject) are never kept.
const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// What to pull from where.
#[derive(Debug, Clone)]
pub struct Request {
    pub host: String,
    pub repository: String,
    /// The tags named on the command line.
    pub tags: Vec<String>,
    pub jobs: usize,
    pub options: Options,
    /// How to show the progress of the downloads (bytes, blobs, rate, time left) on stderr.
    pub progress: crate::util::progress::Mode,
    /// Also tag in the layout every other tag of the repository that points at something
    /// pulled (one `HEAD` a tag).
    pub other_tags: bool,
    /// Replace a target that is not a layout glc wrote.
    pub force: bool,
}

/// A tag as pulled.
#[derive(Debug, Clone)]
pub struct PulledTag {
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// Named on the command line (not found pointing into what was pulled).
    pub named: bool,
}

/// What a pull did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tags: Vec<PulledTag>,
    /// Manifests and indexes.
    pub documents: usize,
    /// Untagged referrers (attachments).
    pub referrers: usize,
    pub blobs: usize,
    pub blobs_downloaded: u64,
    pub bytes_downloaded: u64,
    /// Blobs the target or an earlier pull held, hashed before they were taken.
    pub blobs_checked: usize,
    /// Of those, blobs whose bytes were not their digest's: downloaded again.
    pub blobs_damaged: usize,
    /// The target already was this layout: nothing written.
    pub up_to_date: bool,
    pub requests: u64,
}

impl Outcome {
    /// The fields of the JSON summary line of a pull from `source` into `output`.
    #[must_use]
    pub fn summary_json(&self, source: &str, output: &Path) -> Value {
        serde_json::json!({
            "source": source,
            "output": output.display().to_string(),
            "up_to_date": self.up_to_date,
            "tags": self.tags.len(),
            "documents": self.documents,
            "referrers": self.referrers,
            "blobs": self.blobs,
            "blobs_downloaded": self.blobs_downloaded,
            "bytes_downloaded": self.bytes_downloaded,
            "blobs_checked": self.blobs_checked,
            "blobs_damaged": self.blobs_damaged,
            "requests": self.requests,
        })
    }

    /// The line a person reads after a pull from `source` into `output` that took `seconds`.
    #[must_use]
    pub fn summary_text(&self, source: &str, output: &Path, seconds: f64) -> String {
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if self.up_to_date {
            return format!(
                "{} is up to date with {source}: {}, {} in {seconds:.1} s",
                output.display(),
                count(self.tags.len(), "tag"),
                count(self.blobs + self.documents, "blob"),
            );
        }
        let damaged = if self.blobs_damaged > 0 {
            format!(
                " ({} the target held damaged, downloaded again)",
                count(self.blobs_damaged, "blob")
            )
        } else {
            String::new()
        };
        format!(
            "pulled {} from {source} into {}: {} and {}, {} downloaded ({} bytes){damaged}, {} in {seconds:.1} s",
            count(self.tags.len(), "tag"),
            output.display(),
            count(self.documents, "manifest"),
            count(self.referrers, "referrer"),
            count(n(self.blobs_downloaded), "blob"),
            self.bytes_downloaded,
            count(n(self.requests), "request"),
        )
    }
}

fn fail(code: &'static str, message: impl Into<String>, help: &str) -> Diagnostics {
    vec![Diagnostic::error(code, message).help(help)]
}

fn registry_error(e: &crate::registry::Error, state: &str) -> Diagnostics {
    vec![crate::diagnostic::error::registry_diagnostic(
        e,
        state,
        crate::diagnostic::error::Transfer::Pull,
    )]
}

const NOTHING: &str = "nothing was written";

/// The target's errors, which the layout writer shares with `glc build`, said as pull's.
fn pull_output(mut diagnostics: Diagnostics) -> Diagnostics {
    for diagnostic in &mut diagnostics {
        if diagnostic.code == "glc::build::output" {
            diagnostic.code = "glc::pull::output";
        }
    }
    diagnostics
}

/// `REGISTRY/REPO:TAG` split into host, repository and tag, each checked.
pub fn parse_source(text: &str) -> Result<(String, String, String), String> {
    let (path, last) = text.rsplit_once('/').unwrap_or(("", text));
    if last.contains('@') {
        return Err(format!(
            "{:?}: glc pulls tags, not digests; name the tag, e.g. REGISTRY/REPO:1877.3",
            printable(text)
        ));
    }
    let Some((name, tag)) = last.split_once(':') else {
        return Err(format!(
            "{:?} names no tag: write REGISTRY/REPO:TAG, e.g. ghcr.io/gardenlinux/gardenlinux:1877.3",
            printable(text)
        ));
    };
    let (host, repository) = crate::registry::push::parse_destination(&format!("{path}/{name}"))?;
    crate::oci::name::check_tag(tag)?;
    Ok((host, repository, tag.to_owned()))
}

/// An entry of `index.json` as the walker reads it: a root of the graph.
fn root_entry(media_type: &str, digest: &Digest, size: u64, tag: Option<&str>) -> Value {
    let mut entry = serde_json::json!({
        "mediaType": media_type,
        "digest": digest.to_string(),
        "size": size,
    });
    if let Some(tag) = tag {
        entry["annotations"] = serde_json::json!({ REF_NAME: tag });
    }
    entry
}

/// Pulls `request`'s tags into a layout at `output`. `on_tag` hears of every tag the layout
/// gets.
pub fn pull(
    output: &Path,
    request: &Request,
    waiting: impl FnOnce(&str),
    on_tag: &mut dyn FnMut(&PulledTag),
) -> Result<Outcome, Diagnostics> {
    let target = output::Target::new(output).map_err(|e| pull_output(e.into()))?;
    let _lock = target.lock(waiting).map_err(|e| pull_output(e.into()))?;
    // Before the registry is asked anything: a target that cannot be replaced says so now.
    target
        .check_replaceable(request.force)
        .map_err(|e| pull_output(e.into()))?;
    let client = Client::new(
        &request.host,
        &request.repository,
        Options {
            read_only: true,
            ..request.options.clone()
        },
    )
    .map_err(|e| registry_error(&e, NOTHING))?;
    client.ping().map_err(|e| registry_error(&e, NOTHING))?;
    let repository = Repository::new(client).remembering();
    let documents = Documents::new(&repository);
    let found = discover(&documents, request)?;
    let graph = &found.graph;
    // The entries of the layout's `index.json`: each tag, and each referrer under its own
    // digest (untagged).
    let mut entries: Vec<(Descriptor, String)> = Vec::new();
    let mut tags = Vec::new();
    for (tag, id) in &found.tags {
        let entry = layout_entry(graph, *id);
        let node = &graph.nodes[*id];
        tags.push(PulledTag {
            tag: tag.clone(),
            digest: node.descriptor.digest.clone(),
            media_type: entry.media_type.clone(),
            size: node.descriptor.size,
            named: request.tags.contains(tag),
        });
        entries.push((entry, tag.clone()));
    }
    for id in &found.referrers {
        let entry = layout_entry(graph, *id);
        let digest = entry.digest.to_string();
        entries.push((entry, digest));
    }
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut docs: Vec<(Descriptor, Vec<u8>)> = Vec::new();
    for node in &graph.nodes {
        if node.document.is_some() {
            let digest = &node.descriptor.digest;
            let bytes = documents
                .take(digest)
                .ok_or_else(|| content_error(&format!("manifest {digest} was not kept")))?;
            docs.push((node.descriptor.clone(), bytes));
        } else {
            blobs.push(node.descriptor.clone());
        }
    }
    let downloads = target.downloads();
    let downloaded = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    // What the target and an earlier pull hold is hashed before it is taken: a blob damaged
    // in place (same size) is downloaded again, never called up to date.
    let kept = check_kept(target.previous_layout(), &downloads, &blobs, request.jobs);
    // Hashing what is kept takes a while for a big release: a signal during it stops here.
    if crate::util::interrupt::requested() {
        return Err(vec![crate::diagnostic::interrupted()]);
    }
    let written = write_layout_pulled(
        &target,
        request,
        &documents,
        &Kept {
            downloads: &downloads,
            damaged: &kept.damaged,
        },
        &Copied {
            blobs: &blobs,
            documents: &docs,
            entries: &entries,
        },
        (&downloaded, &bytes),
    )
    .map_err(pull_output)?;
    // The layout holds every blob now; what was kept for a rerun is not needed.
    if fs::symlink_metadata(&downloads).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(&downloads);
    }
    for tag in &tags {
        on_tag(tag);
    }
    Ok(Outcome {
        tags,
        documents: docs.len(),
        referrers: found.referrers.len(),
        blobs: blobs.len(),
        blobs_downloaded: downloaded.into_inner(),
        bytes_downloaded: bytes.into_inner(),
        blobs_checked: kept.checked,
        blobs_damaged: kept.damaged.len(),
        up_to_date: written.up_to_date,
        requests: repository.client().requests.load(Ordering::Relaxed),
    })
}

/// The graph of a pull: what the tags reach, with referrers and signatures.
struct Found {
    graph: Graph,
    /// Every tag of the layout, and the node it names.
    tags: BTreeMap<String, NodeId>,
    /// Referrers, untagged in the layout.
    referrers: Vec<NodeId>,
}

/// Reads the named tags, then walks the graph from them, adds the referrers and signature
/// tags of every document until nothing more hangs on it, then finds the repository's other
/// tags that point into it. Everything is read through `documents`, the repository's store.
fn discover(documents: &Documents<'_>, request: &Request) -> Result<Found, Diagnostics> {
    let mut roots: Vec<Value> = Vec::new();
    let mut tagged: BTreeMap<String, Digest> = BTreeMap::new();
    for tag in &request.tags {
        let (descriptor, bytes) = documents
            .fetch_reference(tag, MAX_DOCUMENT)
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| {
                fail(
                    "glc::pull::tag",
                    format!(
                        "{}/{} has no tag `{}`",
                        request.host,
                        request.repository,
                        printable(tag)
                    ),
                    "`skopeo list-tags docker://REGISTRY/REPO` lists the tags; nothing was written",
                )
            })?;
        if !descriptor.kind().is_document() {
            return Err(content_error(&format!(
                "the tag `{}` names a {:?}, not an image manifest or index",
                printable(tag),
                printable(&descriptor.media_type)
            )));
        }
        roots.push(root_entry(
            &descriptor.media_type,
            &descriptor.digest,
            descriptor.size,
            Some(tag),
        ));
        tagged.insert(tag.clone(), descriptor.digest.clone());
        documents
            .insert(descriptor.digest, bytes)
            .map_err(|e| content_error(&e.message("a tagged manifest")))?;
    }
    // Read once and kept by the store, which reads the referrers fallback tags it names.
    let all_tags = documents.tag_names().map_err(|e| store_error(&e))?;
    // cosign's `sha256-<hex>.sig` (`.att`, `.sbom`), by subject: no other tag is read as one,
    // so a registry cannot make a subject cost more than four requests this way.
    let mut signatures: HashMap<Digest, Vec<&str>> = HashMap::new();
    for tag in &all_tags {
        if let Some(subject) = crate::oci::name::cosign_subject(tag) {
            signatures.entry(subject).or_default().push(tag);
        }
    }
    let mut known: HashSet<Digest> = tagged.values().cloned().collect();
    let mut queried: HashSet<Digest> = HashSet::new();
    let mut referrers: BTreeSet<Digest> = BTreeSet::new();
    // Each round walks only the roots the last one added, and asks only about the documents
    // it read: a chain of n referrers costs n rounds, not n walks of the whole graph.
    let mut graph = walk::Graph::default();
    let mut fresh = graph.extend(documents, &roots);
    loop {
        check_failure(documents)?;
        let mut added: Vec<Value> = Vec::new();
        for &id in &fresh {
            let node = &graph.nodes[id];
            let digest = &node.descriptor.digest;
            if node.document.is_none() || !queried.insert(digest.clone()) {
                continue;
            }
            let found = documents
                .referrers(digest, None)
                .map_err(|e| discovery_error(documents, &e))?;
            for referrer in found {
                if !known.insert(referrer.digest.clone()) {
                    continue;
                }
                referrers.insert(referrer.digest.clone());
                added.push(root_entry(
                    &referrer.media_type,
                    &referrer.digest,
                    referrer.size,
                    None,
                ));
            }
            // cosign's `sha256-<hex>.sig` (and `.att`, `.sbom`): tags of their own.
            for tag in signatures.get(digest).into_iter().flatten() {
                if tagged.contains_key(*tag) {
                    continue;
                }
                let Some((descriptor, bytes)) = documents
                    .fetch_reference(tag, MAX_DOCUMENT)
                    .map_err(|e| store_error(&e))?
                else {
                    continue;
                };
                if !descriptor.kind().is_document() {
                    continue;
                }
                added.push(root_entry(
                    &descriptor.media_type,
                    &descriptor.digest,
                    descriptor.size,
                    Some(tag),
                ));
                tagged.insert((*tag).to_owned(), descriptor.digest.clone());
                known.insert(descriptor.digest.clone());
                documents
                    .insert(descriptor.digest, bytes)
                    .map_err(|e| content_error(&e.message("a signature")))?;
            }
        }
        if added.is_empty() {
            break;
        }
        fresh = graph.extend(documents, &added);
    }
    check_walk(documents, &graph)?;
    if request.other_tags {
        let others: Vec<&String> = all_tags
            .iter()
            .filter(|t| !t.starts_with("sha256-") && !tagged.contains_key(*t))
            .collect();
        let heads = parallel(&others, request.jobs, |tag| documents.resolve_digest(tag))
            .map_err(|e| store_error(&e))?;
        for (tag, digest) in others.into_iter().zip(heads) {
            if let Some(digest) = digest
                && graph.find(&digest).is_some()
            {
                tagged.insert(tag.clone(), digest);
            }
        }
    }
    let tags = tagged
        .into_iter()
        .filter_map(|(tag, digest)| Some((tag, graph.find(&digest)?)))
        .collect();
    let referrers = referrers
        .iter()
        .filter_map(|digest| graph.find(digest))
        .collect();
    Ok(Found {
        graph,
        tags,
        referrers,
    })
}

/// A failure met while the referrers were read: the registry's first failure, if it had one,
/// else what the store says.
fn discovery_error(documents: &Documents<'_>, error: &StoreError) -> Diagnostics {
    check_failure(documents)
        .err()
        .unwrap_or_else(|| store_error(error))
}

/// A failure of the registry met while the documents were read: an error.
fn check_failure(documents: &Documents<'_>) -> Result<(), Diagnostics> {
    match documents.failure.lock().ok().and_then(|mut f| f.take()) {
        Some(failure) => Err(store_error(&failure)),
        None => Ok(()),
    }
}

/// A walk that met a failure of the registry, or a graph that is not whole: an error.
fn check_walk(documents: &Documents<'_>, graph: &Graph) -> Result<(), Diagnostics> {
    check_failure(documents)?;
    let problems = graph.problems();
    if let Some(first) = problems.first() {
        return Err(content_error(&format!(
            "what the registry holds is not a whole graph ({} problems), e.g. {}: {}",
            problems.len(),
            first.path,
            first.message
        )));
    }
    Ok(())
}

/// A failure of the repository's store: the registry's own error as [`registry_error`] says
/// it, anything else as content that is wrong.
fn store_error(error: &StoreError) -> Diagnostics {
    match error.inner() {
        StoreError::Store(e) => match e.downcast_ref::<crate::registry::Error>() {
            Some(e) => registry_error(e, NOTHING),
            None => content_error(&e.to_string()),
        },
        other => content_error(&other.to_string()),
    }
}

fn content_error(message: &str) -> Diagnostics {
    fail(
        "glc::pull::content",
        format!("{message}; {NOTHING}"),
        "the repository's content is damaged or incomplete: push it again, or pull another tag",
    )
}

/// The entry of `index.json` for node `id`, as `glc build` writes it: a cloud image as the
/// release's indexes list it (platform and client annotations), anything else as a plain
/// descriptor with the document's artifact type.
fn layout_entry(graph: &Graph, id: NodeId) -> Descriptor {
    let node = &graph.nodes[id];
    let document = node.document.as_ref();
    let artifact_type = document.and_then(|d| d.artifact_type.clone());
    let listed = if artifact_type.as_deref() == Some(CLOUD_IMAGE) {
        listing(graph, id)
    } else {
        None
    };
    listed.cloned().unwrap_or_else(|| Descriptor {
        media_type: document
            .and_then(|d| d.media_type.clone())
            .unwrap_or_else(|| node.descriptor.media_type.clone()),
        digest: node.descriptor.digest.clone(),
        size: node.descriptor.size,
        annotations: BTreeMap::new(),
        platform: None,
        artifact_type,
    })
}

/// The first descriptor of node `id` in an index of the graph.
fn listing(graph: &Graph, id: NodeId) -> Option<&Descriptor> {
    graph
        .nodes
        .iter()
        .filter_map(|node| node.document.as_ref()?.manifests.as_ref())
        .flatten()
        .find_map(|child| match child {
            Child::Node(child, descriptor) if *child == id => Some(descriptor.as_ref()),
            _ => None,
        })
}

/// What a pull copies into the layout.
struct Copied<'a> {
    /// The blobs that are not documents, downloaded or kept.
    blobs: &'a [Descriptor],
    /// The documents, as the registry sent them.
    documents: &'a [(Descriptor, Vec<u8>)],
    /// The entries of `index.json`: each with its tag, or its own digest (untagged).
    entries: &'a [(Descriptor, String)],
}

/// Downloads what is missing and writes the layout through a [`Staged`] store, which
/// `write_layout_locked` puts in place, with the target's lock held.
fn write_layout_pulled(
    target: &output::Target,
    request: &Request,
    source: &Documents<'_>,
    kept: &Kept<'_>,
    copied: &Copied<'_>,
    (downloaded, bytes): (&AtomicU64, &AtomicU64),
) -> Result<crate::BuildOutcome, Diagnostics> {
    let downloads = kept.downloads;
    let by_digest: HashMap<&Digest, &[u8]> = copied
        .documents
        .iter()
        .map(|(descriptor, bytes)| (&descriptor.digest, bytes.as_slice()))
        .collect();
    crate::write_layout_locked(
        target,
        crate::Placing {
            force: request.force,
            reuse_previous: true,
            // A target with a damaged blob is never up to date.
            unchanged: if kept.damaged.is_empty() {
                crate::Unchanged::DryFirst
            } else {
                crate::Unchanged::Never
            },
            sign_key: None,
        },
        |layout, previous| {
            if !layout.is_dry() {
                fetch(
                    source,
                    request,
                    kept,
                    previous,
                    copied.blobs,
                    downloaded,
                    bytes,
                )?;
            }
            let layout = Staged::new(layout);
            for blob in copied.blobs {
                let from = kept
                    .reusable(previous, &blob.digest, blob.size)
                    .unwrap_or_else(|| downloads.join(blob.digest.hex()));
                layout
                    .push_blob(blob, Content::Path(&from), &|_| {})
                    .map_err(|e| staged_error(&from, e))?;
            }
            for (descriptor, document) in copied.documents {
                layout
                    .push_document(descriptor, document)
                    .map_err(|e| staged_error(Path::new("a manifest"), e))?;
            }
            for (entry, tag) in copied.entries {
                let document = by_digest.get(&entry.digest).copied().ok_or_else(|| {
                    content_error(&format!(
                        "`{}` names {}, which is not a manifest or index of the graph",
                        printable(tag),
                        entry.digest
                    ))
                })?;
                layout
                    .tag(entry, document, tag)
                    .map_err(|e| staged_error(Path::new("index.json"), e))?;
            }
            let (count, size) = layout.writer().totals();
            let blob_list = layout.writer().blobs();
            let staged = layout.writer().root().map(Path::to_path_buf);
            let index = layout
                .finish(&BTreeMap::from([(
                    output::MARKER.to_owned(),
                    "1".to_owned(),
                )]))
                .map_err(|e| write_error(Path::new("index.json"), &e))?;
            // What goes in place passes verify's rules (every blob was hashed on its way in):
            // a pull is never done that is not whole.
            if let Some(staged) = staged {
                let report = crate::verify::check(&staged, crate::verify::Rules::Whole);
                if let Some(first) = report
                    .findings
                    .iter()
                    .find(|f| f.severity == crate::verify::Severity::Error)
                {
                    return Err(content_error(&format!(
                        "the pulled layout would not be whole ({} errors), e.g. {}: {}",
                        report.errors(),
                        first.path,
                        first.message
                    )));
                }
            }
            Ok(BuildReport {
                index,
                blob_list,
                blobs: count,
                bytes: size,
                ..BuildReport::default()
            })
        },
    )
}

/// A write into the staged layout that failed, said of `path` (what was written from).
fn staged_error(path: &Path, error: StoreError) -> Diagnostics {
    match error {
        StoreError::Io { error, .. } => write_error(path, &error),
        other => write_error(path, &io::Error::other(other.to_string())),
    }
}

fn write_error(path: &Path, error: &io::Error) -> Diagnostics {
    vec![
        Diagnostic::error(
            "glc::pull::write",
            format!("cannot write {}: {error}", path.display()),
        )
        .help("check free space and permissions; run the same `glc pull` again to resume"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_split_into_host_repository_and_tag() {
        assert_eq!(
            parse_source("127.0.0.1:5000/gardenlinux:1877.3"),
            Ok((
                "127.0.0.1:5000".to_owned(),
                "gardenlinux".to_owned(),
                "1877.3".to_owned()
            ))
        );
        assert_eq!(
            parse_source("ghcr.io/gardenlinux/gardenlinux:1877").map(|s| s.1),
            Ok("gardenlinux/gardenlinux".to_owned())
        );
        assert!(parse_source("127.0.0.1:5000/gardenlinux").is_err());
        assert!(parse_source("127.0.0.1:5000/gl@sha256:00").is_err());
        assert!(parse_source("127.0.0.1:5000/gl:-x").is_err());
        assert!(parse_source("gl:1877").is_err());
    }
}
