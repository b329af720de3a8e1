//! `glc verify LAYOUT --release FILE`: the layout derived again from the release file and its
//! inputs (every input hashed, no cache, no previous layout trusted), compared with the
//! layout tag by tag and, where they differ, descriptor by descriptor down to the blob that
//! differs. It catches what a self-consistent layout cannot show: a poisoned digest cache,
//! a forged part, a blob swapped for another of the same size.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::build::assemble::BuildReport;
use crate::build::cache::DigestCache;
use crate::diagnostic::Diagnostics;
use crate::oci::Descriptor;
use crate::oci::file::{FileError, LayoutDir};
use crate::oci::layout::LayoutWriter;
use crate::oci::store::{Layout, Store as _};
use crate::verify::{Finding, Severity};
use crate::{Options, ReleaseFile, build::emit};

/// Largest document read from the layout being compared.
const MAX_DOCUMENT: u64 = 4 << 20;
/// Deepest nesting of indexes followed.
const MAX_DEPTH: usize = 64;
use crate::oci::vocab::annotation::{CNAME, CONTAINER_NAME, REF_NAME, TITLE};

/// The layout `release` gives, computed without writing.
pub fn derive(release: &ReleaseFile, options: &Options) -> Result<BuildReport, Diagnostics> {
    let plan = release.compile(options)?;
    let cache = DigestCache::off();
    let emit_options = emit::EmitOptions {
        link: false,
        previous: None,
        cache: &cache,
        progress: None,
    };
    emit::emit(&plan, LayoutWriter::dry(), &release.source, &emit_options)
}

/// Every difference between the layout at `root` and the `derived` one, as errors.
#[must_use]
pub fn compare(root: &Path, derived: &BuildReport, release: &str) -> Vec<Finding> {
    let (layout, index, bytes) = match read_layout(root) {
        Ok(read) => read,
        Err(error) => {
            return vec![Finding {
                severity: Severity::Error,
                digest: None,
                path: "index.json".to_owned(),
                message: format!("cannot read index.json: {error}"),
            }];
        }
    };
    let mut comparison = Comparison {
        layout,
        derived,
        release,
        findings: Vec::new(),
        seen: BTreeSet::new(),
    };
    comparison.index_json(&index, &bytes);
    comparison.findings
}

/// The layout at `root` as a store, with its `index.json` parsed and as written.
fn read_layout(root: &Path) -> Result<(Layout, Value, Vec<u8>), String> {
    let dir = LayoutDir::open(root).map_err(|e| FileError::from(e).to_string())?;
    let bytes = dir
        .read("index.json", MAX_DOCUMENT)
        .map_err(|e| e.to_string())?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let layout = Layout::with_index(root.display().to_string(), dir, &index);
    Ok((layout, index, bytes))
}

struct Comparison<'a> {
    layout: Layout,
    derived: &'a BuildReport,
    release: &'a str,
    findings: Vec<Finding>,
    /// Pairs of (derived, layout) digests already compared.
    seen: BTreeSet<(String, String)>,
}

impl Comparison<'_> {
    fn differs(&mut self, digest: Option<&str>, path: &str, message: String) {
        self.findings.push(Finding {
            severity: Severity::Error,
            digest: digest.map(str::to_owned),
            path: path.to_owned(),
            message,
        });
    }

    /// Compares the layout's `index.json` (`layout`, its `bytes` as written) with the
    /// derived one.
    fn index_json(&mut self, layout: &Value, bytes: &[u8]) {
        let Ok(derived) = serde_json::from_slice::<Value>(&self.derived.index) else {
            return;
        };
        let tagged = |index: &Value| -> Vec<(String, Value)> {
            entries(index, "manifests")
                .iter()
                .filter_map(|d| Some((d["annotations"][REF_NAME].as_str()?.to_owned(), d.clone())))
                .collect()
        };
        let layout_tags = tagged(layout);
        for (tag, wanted) in tagged(&derived) {
            let path = format!("index.json ({tag})");
            match layout_tags.iter().find(|(t, _)| *t == tag) {
                None => self.differs(
                    str_of(&wanted, "digest"),
                    &path,
                    format!("the tag `{tag}` is missing; {} gives it", self.release),
                ),
                Some((_, found)) => self.descriptor(&wanted, found, &path, 0),
            }
        }
        let derived_tags = tagged(&derived);
        let signable = self.signable(&derived);
        for (tag, found) in &layout_tags {
            if derived_tags.iter().any(|(t, _)| t == tag) {
                continue;
            }
            let path = format!("index.json ({tag})");
            match signature_subject(tag) {
                // A signature of a document the release gives is expected; `--key` checks it.
                Some(subject) if signable.contains(&subject) => {}
                Some(subject) => self.differs(
                    str_of(found, "digest"),
                    &path,
                    format!(
                        "the signature tag `{tag}` signs {subject}, which is no manifest or index {} gives",
                        self.release
                    ),
                ),
                None => self.differs(
                    str_of(found, "digest"),
                    &path,
                    format!("the tag `{tag}` is not one {} gives", self.release),
                ),
            }
        }
        // Untagged entries (attachments) are paired by what they hold: their artifact type
        // and the title of their layer.
        let wanted = Self::untagged(&derived, |descriptor| {
            self.derived
                .documents
                .get(str_of(descriptor, "digest")?.strip_prefix("sha256:")?)
                .and_then(|b| serde_json::from_slice(b).ok())
        });
        let found = Self::untagged(layout, |descriptor| self.document(descriptor));
        for (key, want) in &wanted {
            match found.iter().find(|(k, _)| k == key) {
                Some((_, have)) => self.descriptor(want, have, &format!("index.json ({key})"), 0),
                None => self.differs(
                    str_of(want, "digest"),
                    "index.json (untagged)",
                    format!(
                        "the attachment {key} that {} gives is missing",
                        self.release
                    ),
                ),
            }
        }
        for (key, have) in &found {
            if !wanted.iter().any(|(k, _)| k == key) {
                self.differs(
                    str_of(have, "digest"),
                    "index.json (untagged)",
                    format!("the untagged {key} is not one {} gives", self.release),
                );
            }
        }
        if self.findings.is_empty() && !self.same_index(layout, bytes) {
            self.differs(
                None,
                "index.json",
                format!(
                    "index.json differs from the one {} gives (its own fields or order)",
                    self.release
                ),
            );
        }
    }

    /// Whether the layout's `index.json` is, byte for byte, the one the release gives, but
    /// for the signature tags signing adds (in glc's canonical JSON, keeping the order).
    fn same_index(&self, layout: &Value, bytes: &[u8]) -> bool {
        let mut unsigned = layout.clone();
        if let Some(list) = unsigned["manifests"].as_array_mut() {
            list.retain(|d| {
                d["annotations"][REF_NAME]
                    .as_str()
                    .is_none_or(|tag| signature_subject(tag).is_none())
            });
        }
        let canonical = |value: &Value| crate::oci::json::canonical(value).ok();
        canonical(layout).is_some_and(|c| c == bytes)
            && canonical(&unsigned).is_some_and(|c| c == self.derived.index)
    }

    /// Every manifest and index the release gives (what a signature may sign): the
    /// documents `index.json` and the derived documents point at.
    fn signable(&self, derived: &Value) -> BTreeSet<String> {
        let mut documents = vec![derived.clone()];
        documents.extend(
            self.derived
                .documents
                .values()
                .filter_map(|b| serde_json::from_slice::<Value>(b).ok()),
        );
        let mut signable = BTreeSet::new();
        for document in &documents {
            for key in ["manifests", "layers"] {
                for child in entries(document, key) {
                    let kind =
                        crate::oci::vocab::Kind::of(str_of(child, "mediaType").unwrap_or_default());
                    if let (true, Some(digest)) = (kind.is_document(), str_of(child, "digest")) {
                        signable.insert(digest.to_owned());
                    }
                }
            }
        }
        signable
    }

    /// The untagged entries of an index, each named by its artifact type and the title of
    /// its first layer (its digest if it has none), read through `document`.
    fn untagged(index: &Value, document: impl Fn(&Value) -> Option<Value>) -> Vec<(String, Value)> {
        entries(index, "manifests")
            .iter()
            .filter(|d| d["annotations"][REF_NAME].as_str().is_none())
            .map(|d| {
                let digest = str_of(d, "digest").unwrap_or_default();
                let layer = document(d).and_then(|m| title(&m["layers"][0]).map(str::to_owned));
                let kind = str_of(d, "artifactType").unwrap_or("attachment");
                let key = match layer {
                    Some(title) => format!("{kind} `{title}`"),
                    None => format!("{kind} {digest}"),
                };
                (key, d.clone())
            })
            .collect()
    }

    /// Compares a descriptor the release gives with the one the layout has at that place.
    fn descriptor(&mut self, wanted: &Value, found: &Value, path: &str, depth: usize) {
        let (Some(want), Some(have)) = (str_of(wanted, "digest"), str_of(found, "digest")) else {
            self.differs(None, path, "a descriptor without a digest".into());
            return;
        };
        if want == have {
            return;
        }
        if !self.seen.insert((want.to_owned(), have.to_owned())) {
            return;
        }
        let graph = crate::oci::vocab::Kind::of(str_of(wanted, "mediaType").unwrap_or_default())
            .is_document();
        let derived_document = want
            .strip_prefix("sha256:")
            .filter(|_| graph)
            .and_then(|hex| self.derived.documents.get(hex));
        let layout_document = derived_document.and_then(|_| self.document(found));
        let (Some(derived_document), Some(layout_document)) = (derived_document, layout_document)
        else {
            let name = title(wanted).map_or_else(String::new, |t| format!("`{t}` "));
            self.differs(
                Some(have),
                path,
                format!(
                    "{name}is {have} ({} bytes) in the layout; {} gives {want} ({} bytes)",
                    found["size"], self.release, wanted["size"]
                ),
            );
            return;
        };
        let Ok(derived_document) = serde_json::from_slice::<Value>(derived_document) else {
            return;
        };
        let children = |document: &Value| -> Vec<(String, Value)> {
            let mut children: Vec<(String, Value)> = Vec::new();
            for key in ["config", "subject"] {
                if document[key].is_object() {
                    children.push((key.into(), document[key].clone()));
                }
            }
            for key in ["layers", "manifests"] {
                for (i, child) in entries(document, key).iter().enumerate() {
                    children.push((format!("{key}[{i}]"), child.clone()));
                }
            }
            children
        };
        let (wanted_children, found_children) =
            (children(&derived_document), children(&layout_document));
        let mut below = false;
        if depth < MAX_DEPTH {
            for ((key, want_child), (_, have_child)) in wanted_children.iter().zip(&found_children)
            {
                if want_child["digest"] != have_child["digest"] {
                    below = true;
                    let label =
                        title(want_child).map_or_else(|| key.clone(), |t| format!("{key} ({t})"));
                    self.descriptor(
                        want_child,
                        have_child,
                        &format!("{path} → {label}"),
                        depth + 1,
                    );
                }
            }
        }
        if wanted_children.len() != found_children.len() {
            below = true;
            self.differs(
                Some(have),
                path,
                format!(
                    "has {} entries in the layout; {} gives {}",
                    found_children.len(),
                    self.release,
                    wanted_children.len()
                ),
            );
        }
        if !below {
            self.differs(
                Some(have),
                path,
                format!(
                    "is {have} in the layout; {} gives {want}, with the same entries but other fields (annotations, types or order)",
                    self.release
                ),
            );
        }
    }

    /// The manifest or index the layout's `descriptor` names, as its bytes say, read as
    /// hostile input: whether they hash to its digest is verify's to say.
    fn document(&self, descriptor: &Value) -> Option<Value> {
        let descriptor = Descriptor::from_value(descriptor).ok()?;
        let bytes = self.layout.read(&descriptor, MAX_DOCUMENT).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The digest a cosign signature tag `sha256-<hex>.sig` signs.
fn signature_subject(tag: &str) -> Option<String> {
    crate::sign::cosign::is_signature_tag(tag).then(|| {
        let hex = tag.trim_start_matches("sha256-").trim_end_matches(".sig");
        format!("sha256:{hex}")
    })
}

fn entries<'v>(document: &'v Value, key: &str) -> &'v [Value] {
    document[key].as_array().map_or(&[], Vec::as_slice)
}

fn str_of<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value[key].as_str()
}

/// What names a descriptor to a person: its file name, cname, container or tag.
fn title(descriptor: &Value) -> Option<&str> {
    let annotations = &descriptor["annotations"];
    [TITLE, CNAME, CONTAINER_NAME, REF_NAME]
        .iter()
        .find_map(|key| annotations[*key].as_str())
}
