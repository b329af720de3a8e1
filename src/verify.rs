//! `glc verify`: an fsck for any OCI image layout. Every descriptor reachable from
//! `index.json` must point at a blob that is there, has the declared size and hashes to the
//! declared digest; every manifest and index must be a valid document of its media type.
//! Everything found is reported; blobs nothing refers to are warnings.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::oci::file::LayoutDir;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{Layout, Opened, Store as _};
use crate::oci::vocab::Kind;
use crate::oci::walk::{self, Child, Document, Edge, Graph, NodeId};
use crate::oci::{Descriptor, Digest, media, printable};

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

impl Finding {
    /// The finding as a diagnostic, for `--message-format json`.
    #[must_use]
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut diagnostic = Diagnostic::error("glc::verify", self.message.clone())
            .help(format!("at {}", self.path));
        if self.severity == Severity::Warning {
            diagnostic.severity = miette::Severity::Warning;
        }
        diagnostic
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Distinct blobs checked.
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs a glc layout keeps for readers of its replaced `index.json`, not reached from
    /// its own.
    pub kept: usize,
    /// With `--key`: the signatures checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<crate::sign::SignatureCounts>,
}

impl Report {
    #[must_use]
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// What `glc verify` says on stderr: each finding, then a line of totals.
    #[must_use]
    pub fn render_text(&self, layout: &std::path::Path) -> String {
        use std::fmt::Write;
        let mut text = String::new();
        for finding in &self.findings {
            let severity = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = write!(
                text,
                "{severity}: {}\n    at {}\n",
                finding.message, finding.path
            );
        }
        let _ = write!(
            text,
            "{}: {} blobs, {} checked: {}, {}",
            layout.display(),
            self.blobs,
            crate::front::plan::human_size(self.bytes),
            crate::util::text::count(self.errors(), "error"),
            crate::util::text::count(self.findings.len() - self.errors(), "warning"),
        );
        if let Some(counts) = &self.signatures {
            let _ = write!(
                text,
                "; signatures: {} verified, {} unsigned, {} failed",
                counts.verified, counts.unsigned, counts.failed
            );
        }
        if self.kept > 0 {
            let _ = write!(
                text,
                "; {} kept for readers of the replaced index.json",
                crate::util::text::count(self.kept, "blob")
            );
        }
        text.push('\n');
        text
    }

    /// The fields of `glc verify`'s summary line with `--message-format json`.
    #[must_use]
    pub fn summary_json(&self, layout: &std::path::Path) -> serde_json::Value {
        let mut summary = serde_json::json!({
            "layout": layout.display().to_string(),
            "blobs": self.blobs,
            "bytes": self.bytes,
            "errors": self.errors(),
            "warnings": self.findings.len() - self.errors(),
            "kept": self.kept,
        });
        if let Some(counts) = &self.signatures {
            summary["signatures"] = serde_json::json!(counts);
        }
        summary
    }
}

/// Which of verify's rules [`check`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Every rule, every blob hashed: what `glc verify` does.
    All,
    /// Whether the layout is whole: its graph walks, every blob is there with its size, every
    /// subject is there. For a layout whose blobs were hashed as they were written, and
    /// whose documents another tool made (image-spec's finer rules are not its writer's).
    Whole,
}

/// Every finding of the layout at `root`, its blobs hashed.
#[must_use]
pub fn verify(root: &Path) -> Report {
    check(root, Rules::All)
}

/// The findings of the layout at `root` that `rules` asks for.
#[must_use]
pub fn check(root: &Path, rules: Rules) -> Report {
    let mut report = Report::default();
    let mut error = |digest: Option<String>, path: &str, message: String| {
        report.findings.push(Finding {
            severity: Severity::Error,
            digest,
            path: path.to_owned(),
            message,
        });
    };
    let layout = match LayoutDir::open(root) {
        Ok(layout) => layout,
        Err(e) => {
            error(None, ".", format!("cannot open the layout: {e}"));
            return report;
        }
    };
    match layout.read("oci-layout", MAX_DOCUMENT) {
        Err(e) => error(None, "oci-layout", e.message("oci-layout")),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v)
                if v["imageLayoutVersion"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("1.")) => {}
            Ok(v) => error(
                None,
                "oci-layout",
                format!(
                    "imageLayoutVersion is {}, not 1.x",
                    printable(&v["imageLayoutVersion"].to_string())
                ),
            ),
            Err(e) => error(None, "oci-layout", format!("oci-layout is not JSON: {e}")),
        },
    }
    let index: Value = match layout.read("index.json", MAX_DOCUMENT) {
        Err(e) => {
            error(None, "index.json", e.message("index.json"));
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
    if index["schemaVersion"] != 2 {
        error(
            None,
            "index.json",
            format!(
                "schemaVersion is {}, not 2",
                printable(&index["schemaVersion"].to_string())
            ),
        );
    }
    let Some(manifests) = index["manifests"].as_array() else {
        error(
            None,
            "index.json",
            "an index needs a `manifests` array".to_owned(),
        );
        return report;
    };
    let layout = Layout::new(
        root.display().to_string(),
        layout,
        Layout::valid_entries(manifests),
    );
    let graph = walk::walk(&layout, manifests);
    let mut subjects: Vec<(Descriptor, String)> = Vec::new();
    if let Some(subject) = index.get("subject") {
        match Descriptor::from_value(subject) {
            Ok(subject) => subjects.push((subject, "index.json → subject".to_owned())),
            Err(invalid) => error(
                invalid.digest().map(str::to_owned),
                "index.json → subject",
                invalid.message,
            ),
        }
    }
    for problem in graph.problems() {
        error(problem.digest, &problem.path, problem.message);
    }
    for (id, node) in graph.nodes.iter().enumerate() {
        if let Some(document) = &node.document {
            if rules == Rules::All {
                conformance(&graph, id, document, &mut report.findings);
            }
            if let Some(Ok(subject)) = &document.subject {
                subjects.push((subject.clone(), graph.path(Some(id), &Edge::Subject)));
            }
        }
    }
    // Documents were read and checked by the walk; every other blob is hashed once, in
    // parallel.
    let plain: Vec<NodeId> = (0..graph.nodes.len())
        .filter(|id| !graph.nodes[*id].descriptor.kind().is_document())
        .collect();
    let checked: Vec<(Option<Finding>, u64)> = plain
        .par_iter()
        .map(|id| check_blob(&layout, &graph, *id, rules))
        .collect();
    for (finding, size) in checked {
        report.bytes += size;
        report.findings.extend(finding);
    }
    report.bytes += graph.nodes.iter().map(|n| n.bytes_read).sum::<u64>();
    for (subject, path) in subjects {
        if graph.find(&subject.digest).is_none() && layout.open(&subject).is_err() {
            report.findings.push(Finding {
                severity: Severity::Error,
                digest: Some(subject.digest.to_string()),
                path,
                message: format!("subject {} is not in the layout", subject.digest),
            });
        }
    }
    report.blobs = graph.nodes.len();
    let kept = kept_blobs(layout.dir());
    let unreferenced = unreferenced(root, &graph);
    let (was_kept, other): (Vec<Finding>, Vec<Finding>) = unreferenced
        .into_iter()
        .partition(|f| f.digest.as_ref().is_some_and(|d| kept.contains(d)));
    report.kept = was_kept.len();
    report.findings.extend(other);
    report.findings.sort();
    report.findings.dedup();
    report
}

/// What image-spec asks of a manifest or index beyond what the walk needs to read it.
fn conformance(graph: &Graph, id: NodeId, document: &Document, findings: &mut Vec<Finding>) {
    let node = &graph.nodes[id];
    let digest = &node.descriptor.digest;
    let path = graph.node_path(id);
    let mut error = |message: String| {
        findings.push(Finding {
            severity: Severity::Error,
            digest: Some(digest.to_string()),
            path: path.clone(),
            message,
        });
    };
    if document.schema_version != "2" {
        error(format!(
            "schemaVersion is {}, not 2",
            document.schema_version
        ));
    }
    if let Some(own) = &document.media_type
        && own != &node.descriptor.media_type
    {
        error(format!(
            "the document says mediaType {}, its descriptor {}",
            printable(own),
            printable(&node.descriptor.media_type)
        ));
    }
    match document.kind {
        Kind::Index => {
            if document.manifests.is_none() {
                error("an index needs a `manifests` array".to_owned());
            }
        }
        Kind::Manifest => {
            let config = match &document.config {
                Some(Child::Node(_, config)) => Some(&**config),
                Some(Child::Invalid(_)) => None,
                None => {
                    error("a manifest needs a `config` descriptor".to_owned());
                    None
                }
            };
            if document.layers.as_ref().is_none_or(Vec::is_empty) {
                error("a manifest needs at least one layer (image-spec 1.1)".to_owned());
            }
            if config.is_some_and(|c| c.media_type == media::EMPTY)
                && document.artifact_type.is_none()
            {
                error("a manifest with the empty config needs an artifactType".to_owned());
            }
        }
        Kind::Blob => {}
    }
}

/// Size, presence and digest of one blob that is not a document, streamed.
fn check_blob(layout: &Layout, graph: &Graph, id: NodeId, rules: Rules) -> (Option<Finding>, u64) {
    let node = &graph.nodes[id];
    let digest = &node.descriptor.digest;
    let declared = node.descriptor.size;
    let finding = |message: String| {
        Some(Finding {
            severity: Severity::Error,
            digest: Some(digest.to_string()),
            path: graph.node_path(id),
            message,
        })
    };
    let (file, actual_size) = match layout.open(&node.descriptor) {
        // A layout knows each blob's size before it is read.
        Ok(Opened { reader, size }) => (reader, size.unwrap_or(declared)),
        Err(e) => return (finding(e.to_string()), 0),
    };
    if actual_size != declared {
        return (
            finding(format!(
                "blob {digest} has {actual_size} bytes, its descriptor says {declared}"
            )),
            actual_size,
        );
    }
    if rules == Rules::Whole {
        return (None, actual_size);
    }
    match hash(file.take(declared)) {
        Ok(actual) if actual == *digest => (None, actual_size),
        Ok(actual) => (
            finding(format!(
                "blob {digest} is corrupt: its bytes hash to {actual}"
            )),
            actual_size,
        ),
        Err(e) => (
            finding(format!("cannot read blob {digest}: {e}")),
            actual_size,
        ),
    }
}

fn hash(file: impl Read) -> io::Result<Digest> {
    Digest::of_reader(file).map(|(digest, _)| digest)
}

/// The blobs a glc layout keeps for readers of its replaced `index.json`, as its
/// [`KEPT_FILE`](crate::build::output::KEPT_FILE) names them: not warnings. Any other layout has
/// none; a record that is no list of digests names none.
fn kept_blobs(layout: &LayoutDir) -> BTreeSet<String> {
    let Ok(bytes) = layout.read(crate::build::output::KEPT_FILE, MAX_DOCUMENT) else {
        return BTreeSet::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let valid = lines.iter().all(|line| {
        line.strip_prefix("sha256:")
            .is_some_and(crate::oci::layout::is_sha256_hex)
    });
    if !valid {
        return BTreeSet::new();
    }
    lines.into_iter().map(str::to_owned).collect()
}

/// Files under `blobs/` that nothing reached from `index.json` names: warnings. A link in
/// `blobs/` is listed, never followed.
fn unreferenced(root: &Path, graph: &Graph) -> Vec<Finding> {
    let mut found = Vec::new();
    let referenced: BTreeSet<String> = graph
        .nodes
        .iter()
        .map(|n| n.descriptor.digest.to_string())
        .collect();
    let blobs = root.join("blobs");
    if !std::fs::symlink_metadata(&blobs).is_ok_and(|m| m.is_dir()) {
        return found;
    }
    let Ok(algorithms) = std::fs::read_dir(blobs) else {
        return found;
    };
    for algorithm in algorithms.filter_map(Result::ok) {
        if !algorithm.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(blobs) = std::fs::read_dir(algorithm.path()) else {
            continue;
        };
        for blob in blobs.filter_map(Result::ok) {
            let name = format!(
                "{}:{}",
                algorithm.file_name().to_string_lossy(),
                blob.file_name().to_string_lossy()
            );
            if referenced.contains(&name) {
                continue;
            }
            let digest = printable(&name).into_owned();
            found.push(Finding {
                severity: Severity::Warning,
                digest: Some(digest.clone()),
                path: format!("blobs/{}", digest.replacen(':', "/", 1)),
                message: format!("blob {digest} is not referenced from index.json"),
            });
        }
    }
    found
}
