//! Signatures in cosign's tag scheme: `glc sign`, `--sign-key`, and `glc verify --key`.
//!
//! Every manifest and index reachable from a layout's tags through glc's own indexes is
//! signed (Release, `MetaData`, `CloudImages`, each cloud image, `ContainerImages`, each group,
//! each imported container), each by a manifest tagged `sha256-<hex>.sig` that holds one
//! layer a signature, as cosign writes it. Signing is computed in memory first and written
//! whole or not at all: new blobs first, `index.json` last.

pub mod cosign;
pub mod keys;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::build::assemble;
use crate::diagnostic::error::SignError;
use crate::oci::Descriptor;
use crate::oci::file::{FileError, LayoutDir};
use crate::oci::limits::MAX_RELEASE_MANIFEST;
use crate::oci::media;
use crate::oci::store::{Layout, Store as _, StoreError};
use crate::verify::{Finding, Severity};
use cosign::Blob;
use keys::{PrivateKey, PublicKey};

use crate::oci::vocab::annotation::{CNAME, CONTAINER_GROUP_NAME, CONTAINER_NAME, REF_NAME};
/// Largest `index.json`, manifest or signature payload glc reads here.
const MAX_DOCUMENT: u64 = 4 << 20;
/// Most signatures glc checks on one manifest; cosign adds one a key.
const MAX_SIGNATURES: usize = 256;
/// How deep glc follows its own indexes; the graph it writes is three levels deep.
const MAX_DEPTH: usize = 16;
/// The artifact types of glc's own indexes, whose entries are signed too.
const GLC_TYPES: &str = crate::oci::vocab::artifact::PREFIX;

/// A manifest or index to sign: its digest, how a person finds it, and the descriptor that
/// leads to it.
#[derive(Debug, Clone)]
pub struct Subject {
    pub digest: String,
    pub name: String,
    pub entry: Value,
}

/// What signing adds to a layout, computed before anything is written.
#[derive(Debug, Default)]
pub struct Signing {
    /// New blobs: payloads, configs and signature manifests.
    pub blobs: Vec<Blob>,
    /// The new `index.json`; `None` if the layout already holds every signature.
    pub index: Option<Vec<u8>>,
    pub subjects: usize,
    /// Signature manifests written or extended.
    pub added: usize,
    /// Every signature tag of the signed layout: tag → (digest, size).
    pub tags: BTreeMap<String, (String, u64)>,
}

/// The layout at `root` as a store, and its `index.json` as written (signing rewrites it,
/// keeping every field).
fn open(root: &Path) -> Result<(Layout, Value), String> {
    let index_json = format!("{}/index.json", root.display());
    let dir = LayoutDir::open(root)
        .map_err(|e| format!("cannot read {index_json}: {}", FileError::from(e)))?;
    let bytes = dir
        .read("index.json", MAX_DOCUMENT)
        .map_err(|e| format!("cannot read {index_json}: {e}"))?;
    let index: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{index_json} is not JSON: {e}"))?;
    let layout = Layout::with_index(root.display().to_string(), dir, &index);
    Ok((layout, index))
}

/// The blob the descriptor `entry` names, read from `layout` and checked against its digest
/// and size.
fn read_blob(layout: &Layout, entry: &Value, cap: u64) -> Result<Vec<u8>, String> {
    let digest = entry["digest"].as_str().unwrap_or_default();
    if !digest
        .strip_prefix("sha256:")
        .is_some_and(crate::oci::layout::is_sha256_hex)
    {
        return Err(format!("`{digest}` is not a sha256 digest"));
    }
    let descriptor =
        Descriptor::from_value(entry).map_err(|e| format!("blob {digest}: {}", e.message))?;
    layout.fetch(&descriptor, cap).map_err(|e| said(&e))
}

/// A layout's store error as signing says it: what is wrong with the blob's file, after its
/// digest.
fn said(error: &StoreError) -> String {
    match error {
        StoreError::NotFound { reference, .. } => {
            format!("blob {reference}: {}", FileError::Missing)
        }
        StoreError::Unsafe { digest, error } => format!("blob {digest}: {error}"),
        StoreError::Io { digest, error } => format!("blob {digest}: {error}"),
        StoreError::TooLarge { digest, limit, .. } => {
            format!("blob {digest}: {}", FileError::TooLarge { limit: *limit })
        }
        StoreError::Digest { expected, actual } => {
            format!("blob {expected} does not match its digest (it hashes to {actual})")
        }
        other => other.to_string(),
    }
}

fn entries(index: &Value) -> &[Value] {
    index["manifests"].as_array().map_or(&[], Vec::as_slice)
}

fn tag_of(entry: &Value) -> Option<&str> {
    entry["annotations"][REF_NAME].as_str()
}

/// How an entry of one of glc's indexes is named: its cloud image, container or group, or
/// the kind of index it is.
fn child_name(entry: &Value) -> String {
    let annotations = &entry["annotations"];
    [CNAME, CONTAINER_NAME, CONTAINER_GROUP_NAME]
        .iter()
        .find_map(|key| annotations[key].as_str())
        .or_else(|| match entry["artifactType"].as_str()? {
            assemble::METADATA => Some("MetaData"),
            assemble::CLOUD_IMAGES => Some("CloudImages"),
            assemble::CONTAINER_IMAGES => Some("ContainerImages"),
            other => Some(other),
        })
        .unwrap_or("?")
        .to_owned()
}

/// Every manifest and index to sign: the layout's tagged entries (but signatures) and,
/// through glc's own indexes, their entries. Each digest once, by digest.
pub fn subjects(layout: &Layout, index: &Value) -> Result<BTreeMap<String, Subject>, String> {
    let mut found: BTreeMap<String, Subject> = BTreeMap::new();
    // Breadth first: a manifest is named by its tag where it has one.
    let mut queue: std::collections::VecDeque<(Value, String, usize)> =
        std::collections::VecDeque::new();
    for entry in entries(index) {
        let Some(tag) = tag_of(entry) else { continue };
        if cosign::is_signature_tag(tag) {
            continue;
        }
        queue.push_back((entry.clone(), tag.to_owned(), 0));
    }
    while let Some((entry, name, depth)) = queue.pop_front() {
        let digest = entry["digest"]
            .as_str()
            .ok_or_else(|| format!("{name} has no digest"))?
            .to_owned();
        if found.contains_key(&digest) {
            continue;
        }
        let media_type = entry["mediaType"].as_str().unwrap_or_default();
        if !crate::oci::vocab::Kind::of(media_type).is_document() {
            continue;
        }
        found.insert(
            digest.clone(),
            Subject {
                digest: digest.clone(),
                name: name.clone(),
                entry: entry.clone(),
            },
        );
        if media_type != media::INDEX {
            continue;
        }
        let document =
            read_blob(layout, &entry, MAX_DOCUMENT).map_err(|e| format!("{name}: {e}"))?;
        let document: Value =
            serde_json::from_slice(&document).map_err(|e| format!("{name}: not JSON: {e}"))?;
        let ours = document["artifactType"]
            .as_str()
            .is_some_and(|t| t.starts_with(GLC_TYPES));
        if !ours {
            continue;
        }
        if depth >= MAX_DEPTH {
            return Err(format!("{name}: indexes nest deeper than {MAX_DEPTH}"));
        }
        for child in entries(&document) {
            queue.push_back((
                child.clone(),
                format!("{name} → {}", child_name(child)),
                depth + 1,
            ));
        }
    }
    Ok(found)
}

/// The release's `repository`, from the release manifest in `MetaData`, if the layout has one.
fn layout_repository(layout: &Layout, subjects: &BTreeMap<String, Subject>) -> Option<String> {
    for subject in subjects.values() {
        let Ok(bytes) = read_blob(layout, &subject.entry, MAX_DOCUMENT) else {
            continue;
        };
        let Ok(document) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if document["artifactType"].as_str() != Some(assemble::METADATA) {
            continue;
        }
        let layers = document["layers"].as_array()?;
        let layer = layers
            .iter()
            .find(|l| l["mediaType"].as_str() == Some(assemble::RELEASE_MANIFEST))?;
        let bytes = read_blob(layout, layer, MAX_RELEASE_MANIFEST).ok()?;
        let manifest: Value = serde_json::from_slice(&bytes).ok()?;
        return manifest["repository"].as_str().map(str::to_owned);
    }
    None
}

/// Computes the signatures `key` adds to the layout at `root`, the payloads naming
/// `repository` (else the release's own).
pub fn plan(root: &Path, key: &PrivateKey, repository: Option<&str>) -> Result<Signing, SignError> {
    let (layout, mut index) = open(root).map_err(SignError::Unreadable)?;
    // A part's tags are checked against its record by `glc merge`; signatures would not be in it.
    if entries(&index)
        .iter()
        .any(|e| e["artifactType"].as_str() == Some(assemble::PART))
    {
        return Err(SignError::Part(root.to_path_buf()));
    }
    let subjects = subjects(&layout, &index).map_err(SignError::Unreadable)?;
    let repository = match repository {
        Some(repository) => repository.to_owned(),
        None => layout_repository(&layout, &subjects)
            .ok_or_else(|| SignError::NoRepository(root.to_path_buf()))?,
    };
    let mut signing = Signing {
        subjects: subjects.len(),
        ..Signing::default()
    };
    let mut list: Vec<Value> = entries(&index).to_vec();
    for subject in subjects.values() {
        let Some(tag) = cosign::signature_tag(&subject.digest) else {
            continue;
        };
        let payload =
            Blob::new(cosign::payload(&repository, &subject.digest).map_err(SignError::internal)?);
        let signature = key.sign(&payload.bytes).map_err(SignError::Key)?;
        let layer = cosign::Descriptor {
            media_type: cosign::SIMPLE_SIGNING.to_owned(),
            size: payload.bytes.len() as u64,
            digest: payload.digest.clone(),
            annotations: [(
                cosign::SIGNATURE_ANNOTATION.to_owned(),
                keys::to_base64(&signature),
            )]
            .into(),
        };
        let existing = list.iter().position(|e| tag_of(e) == Some(tag.as_str()));
        let mut layers = match existing {
            None => Vec::new(),
            Some(at) => {
                let bytes = read_blob(&layout, &list[at], MAX_DOCUMENT).map_err(|e| {
                    SignError::SignaturesUnreadable {
                        subject: subject.name.clone(),
                        tag: tag.clone(),
                        error: e,
                    }
                })?;
                let manifest: cosign::Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| SignError::NotCosign {
                        subject: subject.name.clone(),
                        tag: tag.clone(),
                        error: e.to_string(),
                    })?;
                manifest.layers
            }
        };
        if layers.contains(&layer) {
            continue;
        }
        layers.push(layer);
        let (manifest, config) = cosign::signature_manifest(layers).map_err(SignError::internal)?;
        let entry = serde_json::json!({
            "mediaType": cosign::MANIFEST,
            "digest": manifest.digest,
            "size": manifest.bytes.len(),
            "annotations": { REF_NAME: tag },
        });
        match existing {
            Some(at) => list[at] = entry,
            None => list.push(entry),
        }
        signing.blobs.extend([payload, config, manifest]);
        signing.added += 1;
    }
    signing.tags = list
        .iter()
        .filter_map(|entry| {
            let tag = tag_of(entry).filter(|t| cosign::is_signature_tag(t))?;
            let digest = entry["digest"].as_str()?.to_owned();
            Some((tag.to_owned(), (digest, entry["size"].as_u64()?)))
        })
        .collect();
    if signing.added > 0 {
        crate::oci::layout::sort_index_entries(&mut list);
        index["manifests"] = Value::Array(list);
        signing.index = Some(crate::oci::json::canonical(&index).map_err(SignError::internal)?);
    }
    Ok(signing)
}

/// Writes `signing` into the layout at `root`: each new blob through a file in `scratch`
/// (a directory beside the layout, created and removed here) renamed into place, then
/// `index.json` the same way, last.
pub fn write(root: &Path, signing: &Signing, scratch: &Path) -> Result<(), SignError> {
    let Some(index) = &signing.index else {
        return Ok(());
    };
    let io = |what: String| move |e: std::io::Error| SignError::Io(what, e);
    std::fs::create_dir_all(scratch).map_err(io(format!("cannot create {}", scratch.display())))?;
    let result = (|| {
        let blobs = root.join("blobs/sha256");
        for blob in &signing.blobs {
            let path = blobs.join(blob.hex());
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let temp = scratch.join(blob.hex());
            std::fs::write(&temp, &blob.bytes)
                .map_err(io(format!("cannot write {}", temp.display())))?;
            std::fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(io(format!("cannot flush {}", temp.display())))?;
            std::fs::rename(&temp, &path)
                .map_err(io(format!("cannot move a blob into {}", blobs.display())))?;
        }
        sync(&blobs).map_err(io(format!("cannot flush {}", blobs.display())))?;
        let temp = scratch.join("index.json");
        std::fs::write(&temp, index).map_err(io(format!("cannot write {}", temp.display())))?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("cannot flush {}", temp.display())))?;
        std::fs::rename(&temp, root.join("index.json"))
            .map_err(io(format!("cannot replace {}/index.json", root.display())))?;
        sync(root).map_err(io(format!("cannot flush {}", root.display())))
    })();
    let _ = std::fs::remove_dir_all(scratch);
    result
}

fn sync(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

/// `glc sign`: adds `key`'s signatures to the glc layout at `layout`, under its lock.
pub fn sign_layout(
    layout: &Path,
    key: &PrivateKey,
    repository: Option<&str>,
    waiting: impl FnOnce(&str),
) -> Result<Signing, SignError> {
    let target = crate::build::output::Target::new(layout).map_err(SignError::Output)?;
    let _lock = target.lock(waiting).map_err(SignError::Output)?;
    target.clean_stale().map_err(SignError::Output)?;
    if target.previous_layout().is_none() {
        return Err(SignError::NotGlcs(layout.to_path_buf()));
    }
    let signing = plan(layout, key, repository)?;
    // As a build's update in place: the blobs the replaced `index.json` reached stay for its
    // readers, older ones go.
    let kept = crate::build::output::reachable(layout);
    write(layout, &signing, &target.staging())?;
    if signing.index.is_some()
        && let (Some(kept), Some(reached)) = (kept, crate::build::output::reachable(layout))
    {
        crate::build::output::prune(layout, &kept, &reached, &target.staging());
    }
    Ok(signing)
}

/// The signature tags of an `index.json` (none if it is no JSON).
#[must_use]
pub fn signature_tags(index: &[u8]) -> std::collections::BTreeSet<String> {
    serde_json::from_slice::<Value>(index).map_or_else(
        |_| std::collections::BTreeSet::new(),
        |index| {
            entries(&index)
                .iter()
                .filter_map(tag_of)
                .filter(|tag| cosign::is_signature_tag(tag))
                .map(str::to_owned)
                .collect()
        },
    )
}

/// What `glc verify --key` found of the signatures: each subject counted once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SignatureCounts {
    /// Subjects with a signature by the key that verifies.
    pub verified: usize,
    /// Subjects without a signature tag.
    pub unsigned: usize,
    /// Subjects whose signatures do not verify with the key, or cannot be read.
    pub failed: usize,
}

/// What `glc verify --key` makes of a manifest without a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    /// A warning: the layout may be signed in part.
    Warning,
    /// An error (`--require-signatures`).
    Error,
}

/// `glc verify --key`: checks every signature as the update tool does, and reports each
/// subject unsigned (as `unsigned` says), signed by another key, or altered.
#[must_use]
pub fn verify(root: &Path, key: &PublicKey, unsigned: Unsigned) -> (Vec<Finding>, SignatureCounts) {
    let finding = |severity, digest: Option<&str>, path: &str, message: String| Finding {
        severity,
        digest: digest.map(str::to_owned),
        path: path.to_owned(),
        message,
    };
    let mut counts = SignatureCounts::default();
    let (layout, index) = match open(root) {
        Ok(opened) => opened,
        Err(e) => {
            return (
                vec![finding(Severity::Error, None, "index.json", e)],
                counts,
            );
        }
    };
    let subjects = match subjects(&layout, &index) {
        Ok(subjects) => subjects,
        Err(e) => {
            return (
                vec![finding(Severity::Error, None, "index.json", e)],
                counts,
            );
        }
    };
    let tags: BTreeMap<&str, &Value> = entries(&index)
        .iter()
        .filter_map(|e| Some((tag_of(e)?, e)))
        .collect();
    let mut findings = Vec::new();
    for subject in subjects.values() {
        let digest = Some(subject.digest.as_str());
        let name = &subject.name;
        if let Err(e) = read_blob(&layout, &subject.entry, MAX_DOCUMENT) {
            counts.failed += 1;
            findings.push(finding(
                Severity::Error,
                digest,
                name,
                format!("{name}: {e}; no signature can vouch for it"),
            ));
            continue;
        }
        let tag = cosign::signature_tag(&subject.digest).unwrap_or_default();
        let Some(entry) = tags.get(tag.as_str()) else {
            counts.unsigned += 1;
            let severity = match unsigned {
                Unsigned::Error => Severity::Error,
                Unsigned::Warning => Severity::Warning,
            };
            findings.push(finding(
                severity,
                digest,
                name,
                format!("{name} ({}) is not signed: no tag {tag}", subject.digest),
            ));
            continue;
        };
        let read = |descriptor: &Value, cap: u64| read_blob(&layout, descriptor, cap);
        match check_signatures(&read, entry, &subject.digest, key) {
            Ok(()) => counts.verified += 1,
            Err(problem) => {
                counts.failed += 1;
                findings.push(finding(
                    Severity::Error,
                    digest,
                    name,
                    format!("{name} ({}): {problem}", subject.digest),
                ));
            }
        }
    }
    (findings, counts)
}

/// Reads the blob a descriptor names, at most `cap` bytes, checked against its digest: from
/// a layout directory or from a registry.
pub type ReadBlob<'a> = dyn Fn(&Value, u64) -> Result<Vec<u8>, String> + 'a;

/// Whether one layer of the signature manifest `entry` (the descriptor its tag names) is
/// `key`'s valid signature of a payload naming `digest`; else what is wrong. `glc verify --key`
/// and `glc get --key` both check with this.
pub fn check_signatures(
    read: &ReadBlob<'_>,
    entry: &Value,
    digest: &str,
    key: &PublicKey,
) -> Result<(), String> {
    let bytes = read(entry, MAX_DOCUMENT).map_err(|e| format!("its signature manifest: {e}"))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("its signature manifest is not JSON: {e}"))?;
    let layers = manifest["layers"].as_array().map_or(&[][..], Vec::as_slice);
    if layers.is_empty() {
        return Err("its signature manifest holds no signature".to_owned());
    }
    if layers.len() > MAX_SIGNATURES {
        return Err(format!(
            "its signature manifest holds {} signatures, more than glc checks ({MAX_SIGNATURES})",
            layers.len()
        ));
    }
    let mut problems = Vec::new();
    let mut other_key = 0;
    for (n, layer) in layers.iter().enumerate() {
        match check_layer(read, layer, digest, key) {
            Ok(true) => return Ok(()),
            Ok(false) => other_key += 1,
            Err(problem) => problems.push(format!("signature {n}: {problem}")),
        }
    }
    if problems.is_empty() {
        Err(format!(
            "signed, but by another key: none of its {other_key} signature(s) verifies with the given key"
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// `Ok(true)`: a valid signature by `key`; `Ok(false)`: well-formed, not by `key` (or the
/// signature altered); `Err`: the payload is altered or names another manifest.
fn check_layer(
    read: &ReadBlob<'_>,
    layer: &Value,
    digest: &str,
    key: &PublicKey,
) -> Result<bool, String> {
    if layer["mediaType"].as_str() != Some(cosign::SIMPLE_SIGNING) {
        return Err(format!("its media type is not {}", cosign::SIMPLE_SIGNING));
    }
    let signature = layer["annotations"][cosign::SIGNATURE_ANNOTATION]
        .as_str()
        .ok_or_else(|| format!("it has no annotation {}", cosign::SIGNATURE_ANNOTATION))?;
    let signature =
        keys::from_base64(signature).ok_or_else(|| "its signature is not base64".to_owned())?;
    let payload = read(layer, MAX_DOCUMENT).map_err(|e| format!("its payload: {e}"))?;
    let parsed: cosign::Payload = serde_json::from_slice(&payload)
        .map_err(|e| format!("its payload is not cosign's simple signing: {e}"))?;
    if parsed.critical.image.docker_manifest_digest != digest {
        return Err(format!(
            "its payload names another manifest, {}",
            parsed.critical.image.docker_manifest_digest
        ));
    }
    if parsed.critical.kind != cosign::PAYLOAD_TYPE {
        return Err(format!(
            "its payload's type is not `{}`",
            cosign::PAYLOAD_TYPE
        ));
    }
    Ok(key.verifies(&payload, &signature))
}

/// Adds what signing wrote to a build's report: the signature tags, and the signed
/// `index.json`.
pub fn report(report: &mut assemble::BuildReport, signing: &Signing) {
    for (tag, (digest, size)) in &signing.tags {
        report.tags.insert(
            tag.clone(),
            assemble::Target {
                digest: digest.clone(),
                media_type: cosign::MANIFEST.to_owned(),
                size: *size,
                artifact_type: None,
                destination: report.repository.as_ref().map(|r| format!("{r}:{tag}")),
            },
        );
    }
    if let Some(index) = &signing.index {
        report.index.clone_from(index);
    }
    for blob in &signing.blobs {
        let size = blob.bytes.len() as u64;
        if report
            .blob_list
            .insert(blob.hex().to_owned(), size)
            .is_none()
        {
            report.bytes += size;
        }
    }
    report.blobs = report.blob_list.len();
}
