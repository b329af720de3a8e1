//! `glc verify`: an fsck for any OCI image layout. Every descriptor reachable from
//! `index.json` must point at a blob that is there, has the declared size and hashes to the
//! declared digest; every manifest and index must be a valid document of its media type.
//! Everything found is reported; blobs nothing refers to are warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::oci::media;

/// Largest manifest or index glc reads; real ones are kilobytes.
const MAX_DOCUMENT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The blob concerned, if any.
    pub digest: Option<String>,
    /// How the blob was reached from index.json, e.g. `index.json[2] (1877.3) → manifests[0]`.
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Distinct blobs checked.
    pub blobs: usize,
    pub bytes: u64,
}

impl Report {
    #[must_use]
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// A reference to a blob found while walking, and how it was reached.
#[derive(Debug, Clone)]
struct Reference {
    descriptor: Value,
    path: String,
}

#[must_use]
pub fn verify(root: &Path) -> Report {
    let mut report = Report::default();
    let mut error = |digest: Option<&str>, path: &str, message: String| {
        report.findings.push(Finding {
            severity: Severity::Error,
            digest: digest.map(str::to_owned),
            path: path.to_owned(),
            message,
        });
    };
    match std::fs::read(root.join("oci-layout")) {
        Err(e) => error(None, "oci-layout", format!("cannot read oci-layout: {e}")),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v)
                if v["imageLayoutVersion"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("1.")) => {}
            Ok(v) => error(
                None,
                "oci-layout",
                format!("imageLayoutVersion is {}, not 1.x", v["imageLayoutVersion"]),
            ),
            Err(e) => error(None, "oci-layout", format!("oci-layout is not JSON: {e}")),
        },
    }
    let index: Value = match std::fs::read(root.join("index.json")) {
        Err(e) => {
            error(None, "index.json", format!("cannot read index.json: {e}"));
            return report;
        }
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                error(None, "index.json", format!("index.json is not JSON: {e}"));
                return report;
            }
        },
    };
    let mut walker = Walker {
        root: root.to_path_buf(),
        findings: Vec::new(),
        documents: BTreeSet::new(),
        blobs: BTreeMap::new(),
        subjects: Vec::new(),
    };
    walker.index(&index, "index.json", true);
    // Hash every blob once, in parallel.
    let blobs: Vec<(String, Reference)> = walker
        .blobs
        .iter()
        .map(|(d, r)| (d.clone(), r.clone()))
        .collect();
    let checked: Vec<(Option<Finding>, u64)> = blobs
        .par_iter()
        .map(|(digest, reference)| check_blob(root, digest, reference))
        .collect();
    for (finding, size) in checked {
        report.bytes += size;
        report.findings.extend(finding);
    }
    for reference in std::mem::take(&mut walker.subjects) {
        let digest = reference.descriptor["digest"].as_str().unwrap_or_default();
        if !walker.blobs.contains_key(digest)
            && !blob_path(root, digest).is_some_and(|p| p.is_file())
        {
            walker.findings.push(Finding {
                severity: Severity::Error,
                digest: Some(digest.to_owned()),
                path: reference.path.clone(),
                message: format!("subject {digest} is not in the layout"),
            });
        }
    }
    report.blobs = walker.blobs.len();
    report.findings.extend(walker.findings);
    report.findings.extend(unreferenced(root, &walker.blobs));
    report.findings.sort();
    report.findings.dedup();
    report
}

fn blob_path(root: &Path, digest: &str) -> Option<PathBuf> {
    let (algorithm, encoded) = digest.split_once(':')?;
    let valid = !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
    valid.then(|| root.join("blobs").join(algorithm).join(encoded))
}

/// Size, presence and digest of one blob, streamed.
fn check_blob(root: &Path, digest: &str, reference: &Reference) -> (Option<Finding>, u64) {
    let finding = |message: String| {
        Some(Finding {
            severity: Severity::Error,
            digest: Some(digest.to_owned()),
            path: reference.path.clone(),
            message,
        })
    };
    let declared = reference.descriptor["size"].as_u64().unwrap_or(0);
    let Some(path) = blob_path(root, digest) else {
        return (finding(format!("`{digest}` is not a valid digest")), 0);
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        let algorithm = digest.split(':').next().unwrap_or_default();
        let warning = Finding {
            severity: Severity::Warning,
            digest: Some(digest.to_owned()),
            path: reference.path.clone(),
            message: format!("digest algorithm {algorithm} is not checked; only sha256"),
        };
        return (Some(warning), 0);
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return (
            finding(format!(
                "`{digest}` is not a valid sha256 digest (64 lowercase hex digits)"
            )),
            0,
        );
    }
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (finding(format!("blob {digest} is missing")), 0);
        }
        Err(e) => return (finding(format!("cannot read blob {digest}: {e}")), 0),
    };
    let actual_size = file.metadata().map_or(0, |m| m.len());
    if actual_size != declared {
        return (
            finding(format!(
                "blob {digest} has {actual_size} bytes, its descriptor says {declared}"
            )),
            actual_size,
        );
    }
    match hash(file) {
        Ok(actual) if actual == hex => (None, actual_size),
        Ok(actual) => (
            finding(format!(
                "blob {digest} is corrupt: its bytes hash to sha256:{actual}"
            )),
            actual_size,
        ),
        Err(e) => (
            finding(format!("cannot read blob {digest}: {e}")),
            actual_size,
        ),
    }
}

fn hash(mut file: File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn unreferenced(root: &Path, referenced: &BTreeMap<String, Reference>) -> Vec<Finding> {
    let mut found = Vec::new();
    let Ok(algorithms) = std::fs::read_dir(root.join("blobs")) else {
        return found;
    };
    for algorithm in algorithms.filter_map(Result::ok) {
        let Ok(blobs) = std::fs::read_dir(algorithm.path()) else {
            continue;
        };
        for blob in blobs.filter_map(Result::ok) {
            let digest = format!(
                "{}:{}",
                algorithm.file_name().to_string_lossy(),
                blob.file_name().to_string_lossy()
            );
            if !referenced.contains_key(&digest) {
                found.push(Finding {
                    severity: Severity::Warning,
                    digest: Some(digest.clone()),
                    path: format!("blobs/{}", digest.replace(':', "/")),
                    message: format!("blob {digest} is not referenced from index.json"),
                });
            }
        }
    }
    found
}

struct Walker {
    root: PathBuf,
    findings: Vec<Finding>,
    /// Documents already walked, so shared subtrees are walked once.
    documents: BTreeSet<String>,
    /// Every referenced blob and the first way it was reached.
    blobs: BTreeMap<String, Reference>,
    subjects: Vec<Reference>,
}

impl Walker {
    fn error(&mut self, digest: Option<&str>, path: &str, message: String) {
        self.findings.push(Finding {
            severity: Severity::Error,
            digest: digest.map(str::to_owned),
            path: path.to_owned(),
            message,
        });
    }

    /// Checks a descriptor's fields and records its blob; walks it if it is a document.
    fn descriptor(&mut self, descriptor: &Value, path: &str) {
        let digest = descriptor["digest"].as_str().map(str::to_owned);
        let Some(digest) = digest else {
            self.error(None, path, "descriptor has no digest".to_owned());
            return;
        };
        let media_type = descriptor["mediaType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !valid_media_type(&media_type) {
            self.error(
                Some(&digest),
                path,
                format!("descriptor mediaType `{media_type}` is not a media type"),
            );
        }
        if !descriptor["size"].is_u64() {
            self.error(
                Some(&digest),
                path,
                format!(
                    "descriptor size {} is not a non-negative integer",
                    descriptor["size"]
                ),
            );
        }
        self.blobs
            .entry(digest.clone())
            .or_insert_with(|| Reference {
                descriptor: descriptor.clone(),
                path: path.to_owned(),
            });
        let is_index = matches!(media_type.as_str(), media::INDEX | media::DOCKER_LIST);
        let is_manifest = matches!(
            media_type.as_str(),
            media::MANIFEST | media::DOCKER_MANIFEST
        );
        if !(is_index || is_manifest) || !self.documents.insert(digest.clone()) {
            return;
        }
        let Some(bytes) =
            self.read_document(&digest, descriptor["size"].as_u64().unwrap_or(0), path)
        else {
            return;
        };
        let document: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                self.error(
                    Some(&digest),
                    path,
                    format!("{media_type} {digest} is not JSON: {e}"),
                );
                return;
            }
        };
        if let Some(own) = document["mediaType"].as_str()
            && own != media_type
        {
            self.error(
                Some(&digest),
                path,
                format!("the document says mediaType {own}, its descriptor {media_type}"),
            );
        }
        if is_index {
            self.index(&document, path, false);
        } else {
            self.manifest(&document, &digest, path);
        }
    }

    fn read_document(&mut self, digest: &str, size: u64, path: &str) -> Option<Vec<u8>> {
        if size > MAX_DOCUMENT {
            self.error(
                Some(digest),
                path,
                format!("a manifest or index of {size} bytes is not read (limit {MAX_DOCUMENT})"),
            );
            return None;
        }
        // Missing or unreadable blobs are reported by the blob check.
        let file = File::open(blob_path(&self.root, digest)?).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_DOCUMENT).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    fn index(&mut self, index: &Value, path: &str, top: bool) {
        let digest = None;
        if index["schemaVersion"] != 2 {
            self.error(
                digest,
                path,
                format!("schemaVersion is {}, not 2", index["schemaVersion"]),
            );
        }
        let Some(manifests) = index["manifests"].as_array() else {
            self.error(
                digest,
                path,
                "an index needs a `manifests` array".to_owned(),
            );
            return;
        };
        for (i, child) in manifests.iter().enumerate() {
            let tag = child["annotations"]["org.opencontainers.image.ref.name"].as_str();
            let child_path = match (top, tag) {
                (true, Some(tag)) => format!("index.json[{i}] ({tag})"),
                (true, None) => format!("index.json[{i}]"),
                (false, _) => format!("{path} → manifests[{i}]"),
            };
            self.descriptor(child, &child_path);
        }
        if let Some(subject) = index.get("subject") {
            self.subjects.push(Reference {
                descriptor: subject.clone(),
                path: format!("{path} → subject"),
            });
        }
    }

    fn manifest(&mut self, manifest: &Value, digest: &str, path: &str) {
        if manifest["schemaVersion"] != 2 {
            self.error(
                Some(digest),
                path,
                format!("schemaVersion is {}, not 2", manifest["schemaVersion"]),
            );
        }
        if manifest["config"].is_object() {
            self.descriptor(&manifest["config"], &format!("{path} → config"));
        } else {
            self.error(
                Some(digest),
                path,
                "a manifest needs a `config` descriptor".to_owned(),
            );
        }
        match manifest["layers"].as_array() {
            Some(layers) if !layers.is_empty() => {
                for (i, layer) in layers.iter().enumerate() {
                    self.descriptor(layer, &format!("{path} → layers[{i}]"));
                }
            }
            _ => self.error(
                Some(digest),
                path,
                "a manifest needs at least one layer (image-spec 1.1)".to_owned(),
            ),
        }
        if manifest["config"]["mediaType"] == media::EMPTY && !manifest["artifactType"].is_string()
        {
            self.error(
                Some(digest),
                path,
                "a manifest with the empty config needs an artifactType".to_owned(),
            );
        }
        if let Some(subject) = manifest.get("subject") {
            self.subjects.push(Reference {
                descriptor: subject.clone(),
                path: format!("{path} → subject"),
            });
        }
    }
}

fn valid_media_type(media_type: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    media_type
        .split_once('/')
        .is_some_and(|(t, s)| name(t) && name(s))
}
