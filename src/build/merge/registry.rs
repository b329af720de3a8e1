//! `glc merge --push`: parts pushed to a registry (`glc push PART REGISTRY/REPO:NAME`) merged
//! where they are. Only the parts' records and documents are read, never a layer: the
//! release's documents are assembled here by the code a build runs, into a layout of
//! documents only, signed as a build signs, and pushed as `glc push` pushes, the layers
//! mounted from the parts' repositories (or found in the destination, where the parts are).
//! So the registry ends up with the bytes `glc build` and `glc push` of the whole release give.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::{MAX_RECORD, PartRead, read_record, union};
use crate::build::assemble::{self, Assembly, PART, PART_RECORD, RELEASE};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::oci::Digest;
use crate::oci::layout::LayoutWriter;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::vocab::Kind;
use crate::registry::mount::Mounted;
use crate::registry::push::{self, Elsewhere, Outcome, PushedTag, Request};
use crate::registry::{ACCEPT, Client, Error};

/// Deepest nesting of a container's indexes glc follows.
const MAX_DEPTH: usize = 8;

/// A part in a registry: `REGISTRY/REPO:NAME`.
#[derive(Debug, Clone)]
pub struct PartRef {
    /// As given, for messages.
    pub name: String,
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl PartRef {
    /// `REGISTRY/REPO:NAME`, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let last = text.rfind('/').map_or(0, |i| i + 1);
        let Some(at) = text[last..].find(':').map(|at| last + at) else {
            return Err(format!(
                "`{}` names no part: write REGISTRY/REPO:NAME, the tag `glc push PART REGISTRY/REPO:NAME` gave it",
                crate::oci::printable(text)
            ));
        };
        let (host, repository) = push::parse_destination(&text[..at])?;
        let tag = &text[at + 1..];
        crate::oci::name::check_tag(tag)?;
        Ok(Self {
            name: text.to_owned(),
            host,
            repository,
            tag: tag.to_owned(),
        })
    }
}

/// What a merge in a registry did: the push of its documents and tags, and what it read.
#[derive(Debug)]
pub struct Merged {
    pub outcome: Outcome,
    /// Bytes of documents and records read from the registry.
    pub bytes_read: u64,
    /// How many parts and repositories were read.
    pub parts: usize,
    /// The release's version, and whether the merge is a whole release (else a part).
    pub version: String,
    pub whole: bool,
}

/// Merges `parts` into `request`'s repository. Nothing is written unless the parts are one
/// release and hold what `cover` asks of it.
pub fn merge(
    parts: &[PartRef],
    request: &Request,
    cover: super::Cover,
    sign_key: Option<&crate::sign::keys::PrivateKey>,
    on_tag: &mut dyn FnMut(&PushedTag),
) -> Result<Merged, Diagnostics> {
    let read = AtomicU64::new(0);
    let mut clients: Vec<Client> = Vec::new();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for part in parts {
        if part.host != request.host {
            errors.push(part_error(
                &part.name,
                format!(
                    "is in registry {}, the merge goes to {}",
                    part.host, request.host
                ),
                "merge parts of the registry the release goes to; `glc pull` and `glc push` carry a part to another",
            ));
            continue;
        }
        let client = Client::new(&part.host, &part.repository, request.options.clone())
            .map_err(|e| registry_error(&part.name, &e))?;
        match read_part(&client, part, &read) {
            Ok(record) => {
                clients.push(client);
                records.push(record);
            }
            Err(error) => errors.extend(error),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let borrowed: Vec<&PartRead> = records.iter().collect();
    let (assembly, providers) = union(&borrowed, cover)?;
    let whole = assembly.part.is_none();
    if !whole && request.part_tag.is_none() {
        return Err(vec![
            Diagnostic::error(
                "glc::usage",
                "the parts are not the whole release: with --partial, the merge is a part, pushed under a tag of its own",
            )
            .help("give the destination as REGISTRY/REPO:NAME"),
        ]);
    }
    if whole && request.part_tag.is_some() {
        return Err(vec![
            Diagnostic::error(
                "glc::usage",
                "the parts make the whole release, which is pushed without a tag of its own: its tags are the release's",
            )
            .help("give the destination as REGISTRY/REPO"),
        ]);
    }
    let scratch = tempfile::tempdir().map_err(|e| io_error("a temporary directory", &e))?;
    let root = scratch.path().join("layout");
    let writer = LayoutWriter::create(&root).map_err(|e| io_error("a temporary layout", &e))?;
    // Where each blob the documents name is: the part (by index) that holds it.
    let mut blobs: HashMap<Digest, usize> = HashMap::new();
    for image in &assembly.images {
        let Some(&by) = providers.images.get(&image.cname) else {
            continue;
        };
        for layer in image
            .layers
            .iter()
            .chain(image.attachments.iter().map(|a| &a.layer))
        {
            if let Ok(digest) = Digest::parse(&layer.digest) {
                blobs.entry(digest).or_insert(by);
            }
        }
    }
    // The release's own files (the changelog, release notes…): every part holds them.
    for layer in assembly.changelog.iter().chain(&assembly.metadata_files) {
        if let Ok(digest) = Digest::parse(&layer.digest) {
            blobs.entry(digest).or_insert(0);
        }
    }
    for container in &assembly.containers {
        let Some(&by) = providers.containers.get(&container.name) else {
            continue;
        };
        let found = copy_documents(
            &clients[by],
            &container.digest,
            &writer,
            &mut blobs,
            by,
            &read,
            0,
        );
        if let Err(e) = found {
            return Err(vec![
                Diagnostic::error(
                    "glc::merge::copy",
                    format!(
                        "`{}`: container `{}`: {}",
                        records[by].name, container.name, e.message
                    ),
                )
                .help(
                    "push the part again (`glc push PART REGISTRY/REPO:NAME`); nothing was written",
                ),
            ]);
        }
    }
    assemble::finish(&assembly, writer, BTreeMap::new())?;
    if let Some(key) = sign_key {
        let signing = crate::sign::plan(&root, key, assembly.release.repository.as_deref())?;
        crate::sign::write(&root, &signing, &scratch.path().join("signing"))?;
    }
    let elsewhere = Parts {
        clients: &clients,
        blobs,
        destination: &request.repository,
        chunk: request.chunk,
    };
    let outcome = push::push_with(&root, request, &elsewhere, on_tag)
        .map_err(|e| vec![Diagnostic::from(e)])?;
    Ok(Merged {
        outcome,
        bytes_read: read.into_inner(),
        parts: parts.len(),
        version: assembly.release.version.clone(),
        whole,
    })
}

fn part_error(name: &str, message: impl std::fmt::Display, help: &str) -> Diagnostic {
    Diagnostic::error("glc::merge::part", format!("`{name}`: {message}")).help(help.to_owned())
}

fn registry_error(name: &str, e: &Error) -> Diagnostics {
    vec![part_error(
        name,
        e,
        "check the part's reference and that the registry is reachable; nothing was written",
    )]
}

fn io_error(what: &str, e: &std::io::Error) -> Diagnostics {
    vec![
        Diagnostic::error("glc::merge::io", format!("cannot create {what}: {e}"))
            .help("check the space and permissions of the temporary directory (TMPDIR)"),
    ]
}

/// A part's record from the registry: its manifest by tag, and the record it names (both
/// checked against their digests), which must assemble to that manifest again.
fn read_part(client: &Client, part: &PartRef, read: &AtomicU64) -> Result<PartRead, Diagnostics> {
    const PUSH_IT_AGAIN: &str =
        "the part is damaged, or was pushed by another version of glc; build and push it again";
    let fail = |message: String, help: &str| vec![part_error(&part.name, message, help)];
    let manifest = client
        .get_manifest(&part.tag, ACCEPT)
        .map_err(|e| registry_error(&part.name, &e))?
        .ok_or_else(|| {
            fail(
                format!(
                    "{}/{} has no tag `{}`",
                    part.host, part.repository, part.tag
                ),
                "push the part first: `glc push PART REGISTRY/REPO:NAME`",
            )
        })?;
    read.fetch_add(manifest.bytes.len() as u64, Ordering::Relaxed);
    let document: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    match document["artifactType"].as_str() {
        Some(PART) => {}
        Some(RELEASE) => {
            return Err(fail(
                "this is a whole release, not a part".to_owned(),
                "merge takes the tags `glc push PART REGISTRY/REPO:NAME` gave parts; a whole release needs no merge",
            ));
        }
        _ => {
            return Err(fail(
                "this tag names no part record".to_owned(),
                "merge takes the tags `glc push PART REGISTRY/REPO:NAME` gave parts",
            ));
        }
    }
    let layer = document["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["mediaType"].as_str() == Some(PART_RECORD))
        .and_then(|l| crate::oci::Descriptor::from_value(l).ok())
        .ok_or_else(|| fail("its part manifest has no record".to_owned(), PUSH_IT_AGAIN))?;
    if layer.size > MAX_RECORD {
        return Err(fail(
            format!(
                "its record declares {} bytes, more than glc reads",
                layer.size
            ),
            PUSH_IT_AGAIN,
        ));
    }
    let mut bytes = Vec::new();
    client
        .download_blob(&layer.digest, layer.size, 0, &mut |chunk| {
            bytes.write_all(chunk)
        })
        .map_err(|e| registry_error(&part.name, &e))?;
    read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    if Digest::of(&bytes) != layer.digest {
        return Err(fail(
            format!("its record {} is corrupt", layer.digest),
            PUSH_IT_AGAIN,
        ));
    }
    let (assembly, record_part) = read_record(&bytes)
        .map_err(|(problem, help)| fail(problem, help.unwrap_or(PUSH_IT_AGAIN)))?;
    let again = assembled(&assembly).ok_or_else(|| {
        fail(
            "its record does not make a valid OCI graph".to_owned(),
            PUSH_IT_AGAIN,
        )
    })?;
    let made = again.part.as_ref().map(|p| p.digest.as_str());
    if made != Some(manifest.digest.to_string().as_str()) {
        return Err(fail(
            format!(
                "its tag is {}, but its record makes its part manifest {}",
                manifest.digest,
                made.unwrap_or("nothing")
            ),
            PUSH_IT_AGAIN,
        ));
    }
    Ok(PartRead {
        name: part.name.clone(),
        assembly,
        part: record_part,
        tags: again
            .tags
            .into_iter()
            .map(|(tag, target)| (tag, target.digest))
            .collect(),
    })
}

fn assembled(assembly: &Assembly) -> Option<assemble::BuildReport> {
    assemble::finish(assembly, LayoutWriter::dry(), BTreeMap::new()).ok()
}

/// Copies the documents below `digest` (a container) from `client` into `writer`, and notes
/// every other blob they name as held by part `by`.
fn copy_documents(
    client: &Client,
    digest: &str,
    writer: &LayoutWriter,
    blobs: &mut HashMap<Digest, usize>,
    by: usize,
    read: &AtomicU64,
    depth: usize,
) -> Result<(), Error> {
    let fail = |message: String| Error::new(crate::registry::ErrorKind::Final, message);
    if depth > MAX_DEPTH {
        return Err(fail(format!("indexes nest deeper than {MAX_DEPTH} levels")));
    }
    let manifest = client.get_manifest(digest, ACCEPT)?.ok_or_else(|| {
        fail(format!(
            "{}/{} has no manifest {digest}",
            client.host, client.repository
        ))
    })?;
    if manifest.bytes.len() as u64 > MAX_DOCUMENT {
        return Err(fail(format!("manifest {digest} is too big")));
    }
    read.fetch_add(manifest.bytes.len() as u64, Ordering::Relaxed);
    writer
        .write_bytes(&manifest.bytes)
        .map_err(|e| fail(format!("cannot keep manifest {digest}: {e}")))?;
    let document: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    let children = document["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(document.get("config"))
        .chain(document["layers"].as_array().into_iter().flatten());
    for child in children {
        let (Some(media_type), Some(child_digest)) =
            (child["mediaType"].as_str(), child["digest"].as_str())
        else {
            continue;
        };
        if Kind::of(media_type).is_document() {
            copy_documents(client, child_digest, writer, blobs, by, read, depth + 1)?;
        } else if let Ok(parsed) = Digest::parse(child_digest) {
            blobs.entry(parsed).or_insert(by);
        }
    }
    Ok(())
}

/// The parts' repositories, as where the blobs the merged documents name come from.
struct Parts<'a> {
    clients: &'a [Client],
    blobs: HashMap<Digest, usize>,
    destination: &'a str,
    chunk: u64,
}

impl Elsewhere for Parts<'_> {
    fn has(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest)
    }

    fn mounts(&self, digest: &Digest) -> bool {
        self.blobs
            .get(digest)
            .and_then(|by| self.clients.get(*by))
            .is_some_and(|source| source.repository != self.destination)
    }

    fn provide(&self, client: &Client, digest: &Digest, size: u64) -> Result<Mounted, Error> {
        let Some(source) = self.blobs.get(digest).and_then(|by| self.clients.get(*by)) else {
            return Err(crate::registry::Error::new(
                crate::registry::ErrorKind::Final,
                format!("blob {digest} is in no part"),
            ));
        };
        if source.repository == self.destination {
            return Err(crate::registry::Error::new(
                crate::registry::ErrorKind::Final,
                format!(
                    "blob {digest} of a part is missing from {}/{}, where the part was pushed",
                    source.host, source.repository
                ),
            ));
        }
        client.mount_or_copy(source, digest, size, self.chunk)
    }
}
