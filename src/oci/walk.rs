//! The one walker of an OCI graph, shared by `verify`, `inspect`, imports of containers and
//! `merge`: from `index.json`'s entries (or one image's descriptor) down through indexes and
//! manifests. Whatever the layout holds, the walk is bounded: each digest is visited once (a
//! graph that shares subtrees, 8 children by 8 levels, is read in 11 steps, not 8⁸), nesting
//! stops at [`MAX_DEPTH`], documents are read only up to their declared size and at most
//! [`MAX_DOCUMENT`], and only regular files are read (see [`crate::oci::file`]).
//!
//! The walk reads and checks every document (size, digest, JSON) and records what it finds
//! in a [`Graph`]: one [`Node`] a digest, with how it was first reached, and every problem
//! where it was found. Blobs that are not documents are only recorded; callers check or copy
//! them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::Value;

use crate::oci::descriptor::Invalid;
use crate::oci::limits::{MAX_DEPTH, MAX_DOCUMENT};
use crate::oci::store::{Store, StoreError};
use crate::oci::vocab::Kind;
use crate::oci::{Descriptor, Digest, printable};

pub type NodeId = usize;

/// The field of a document a descriptor was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    /// An entry of `index.json` (or the image an import starts from), and its tag.
    Root {
        index: usize,
        tag: Option<String>,
    },
    Manifests(usize),
    Config,
    Layers(usize),
    Subject,
}

/// A descriptor in a document: the node it leads to (with the descriptor as written there:
/// one blob may be named and annotated differently in different places), or why it leads
/// nowhere.
#[derive(Debug, Clone)]
pub enum Child {
    Node(NodeId, Box<Descriptor>),
    Invalid(Invalid),
}

/// A blob of the graph, reached first through `parent` (`None`: a root) at `edge`.
#[derive(Debug)]
pub struct Node {
    pub descriptor: Descriptor,
    pub parent: Option<NodeId>,
    pub edge: Edge,
    pub depth: usize,
    /// The document, if the blob is one and could be read and parsed.
    pub document: Option<Document>,
    /// Bytes read of it (documents only).
    pub bytes_read: u64,
    /// Why it could not be read or is not what its descriptor says.
    pub problem: Option<String>,
    /// Whether the walk read it as a document (it may be reached as a plain blob first).
    read: bool,
}

/// What glc reads of a manifest or an index.
#[derive(Debug)]
pub struct Document {
    /// As its descriptor says: which of its fields hold children.
    pub kind: Kind,
    /// `schemaVersion` as written, made printable.
    pub schema_version: String,
    pub media_type: Option<String>,
    pub artifact_type: Option<String>,
    /// Its annotations that are strings.
    pub annotations: BTreeMap<String, String>,
    /// An index's entries; `None` if it has no `manifests` array.
    pub manifests: Option<Vec<Child>>,
    /// A manifest's config; `None` if it has none.
    pub config: Option<Child>,
    /// A manifest's layers; `None` if it has no `layers` array.
    pub layers: Option<Vec<Child>>,
    /// What it refers to, never walked (it points up, or out of the layout).
    pub subject: Option<Result<Descriptor, Invalid>>,
}

impl Document {
    /// Its children in order: an index's manifests, or a manifest's config then layers.
    pub fn children(&self) -> impl Iterator<Item = (Edge, &Child)> {
        let manifests = self
            .manifests
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| (Edge::Manifests(i), c));
        let config = self.config.iter().map(|c| (Edge::Config, c));
        let layers = self
            .layers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| (Edge::Layers(i), c));
        manifests.chain(config).chain(layers)
    }
}

/// Everything reached from the roots.
#[derive(Debug, Default)]
pub struct Graph {
    /// In the order first reached, depth first.
    pub nodes: Vec<Node>,
    pub roots: Vec<Child>,
    by_digest: HashMap<Digest, NodeId>,
}

/// A problem of the graph: the blob concerned, how it was reached, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub digest: Option<String>,
    pub path: String,
    pub message: String,
}

impl Graph {
    #[must_use]
    pub fn find(&self, digest: &Digest) -> Option<NodeId> {
        self.by_digest.get(digest).copied()
    }

    /// How a descriptor at `edge` of `parent` is reached from the roots, e.g.
    /// `index.json[2] (1877.3) → manifests[0] → layers[1]`.
    #[must_use]
    pub fn path(&self, parent: Option<NodeId>, edge: &Edge) -> String {
        let mut steps = vec![edge];
        let mut at = parent;
        while let Some(id) = at {
            let node = &self.nodes[id];
            steps.push(&node.edge);
            at = node.parent;
        }
        let mut path = String::new();
        for step in steps.iter().rev() {
            match step {
                Edge::Root { index, tag } => {
                    let _ = write!(path, "index.json[{index}]");
                    if let Some(tag) = tag {
                        let _ = write!(path, " ({})", printable(tag));
                    }
                }
                Edge::Manifests(i) => {
                    let _ = write!(path, " → manifests[{i}]");
                }
                Edge::Config => path.push_str(" → config"),
                Edge::Layers(i) => {
                    let _ = write!(path, " → layers[{i}]");
                }
                Edge::Subject => path.push_str(" → subject"),
            }
        }
        path
    }

    /// The path of a node.
    #[must_use]
    pub fn node_path(&self, id: NodeId) -> String {
        let node = &self.nodes[id];
        self.path(node.parent, &node.edge)
    }

    /// Every problem found: of blobs, and of descriptors that are not valid, in walk order.
    #[must_use]
    pub fn problems(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        let invalid = |found: &mut Vec<Problem>, parent, edge: &Edge, child: &Child| {
            if let Child::Invalid(invalid) = child {
                found.push(Problem {
                    digest: invalid.digest().map(str::to_owned),
                    path: self.path(parent, edge),
                    message: invalid.message.clone(),
                });
            }
        };
        for (i, root) in self.roots.iter().enumerate() {
            let tag = match root {
                Child::Invalid(invalid) => invalid.ref_name().map(str::to_owned),
                Child::Node(..) => None,
            };
            invalid(&mut found, None, &Edge::Root { index: i, tag }, root);
        }
        for (id, node) in self.nodes.iter().enumerate() {
            if let Some(message) = &node.problem {
                found.push(Problem {
                    digest: Some(node.descriptor.digest.to_string()),
                    path: self.node_path(id),
                    message: message.clone(),
                });
            }
            for (edge, child) in node.document.iter().flat_map(Document::children) {
                invalid(&mut found, Some(id), &edge, child);
            }
            if let Some(Some(Err(subject))) = node.document.as_ref().map(|d| &d.subject) {
                invalid(
                    &mut found,
                    Some(id),
                    &Edge::Subject,
                    &Child::Invalid(subject.clone()),
                );
            }
        }
        found
    }
}

/// Walks the graph below `index.json`'s entries `manifests`.
pub fn walk(store: &dyn Store, manifests: &[Value]) -> Graph {
    let mut graph = Graph::default();
    graph.extend(store, manifests);
    graph
}

impl Graph {
    /// Walks `more` roots after those walked already, as if they had been listed after them
    /// in one [`walk`]: what the graph holds is not read again. Returns the nodes read as
    /// documents by this call, in order (for a caller that looks for what hangs on them).
    pub fn extend(&mut self, store: &dyn Store, more: &[Value]) -> Vec<NodeId> {
        let mut walker = Walker {
            store,
            graph: std::mem::take(self),
            read: Vec::new(),
        };
        // (Not those whose tag makes them invalid: they are not read.)
        let valid: Vec<Value> = more
            .iter()
            .filter(|raw| {
                raw["annotations"][crate::oci::vocab::annotation::REF_NAME]
                    .as_str()
                    .is_none_or(crate::oci::name::is_ref_name)
            })
            .cloned()
            .collect();
        walker.prefetch(&valid, 1);
        for raw in more {
            let index = walker.graph.roots.len();
            let tag = raw["annotations"][crate::oci::vocab::annotation::REF_NAME]
                .as_str()
                .map(str::to_owned);
            // A tag becomes part of a path or URL wherever the layout goes: one that is not a
            // reference name of the image spec (`..`, `/` at an end, spaces) makes the entry
            // invalid, so no walker's user pushes, pulls or tags it.
            let root = match &tag {
                Some(name) if !crate::oci::name::is_ref_name(name) => Child::Invalid(Invalid {
                    raw: raw.clone(),
                    message: format!(
                        "the tag `{}` is not a reference name of the image spec (alphanumeric components joined by one of `-._:@+`, separated by `/`)",
                        printable(name)
                    ),
                }),
                _ => walker.child(raw, None, Edge::Root { index, tag }, 1),
            };
            walker.graph.roots.push(root);
        }
        *self = walker.graph;
        walker.read
    }
}

/// Walks the graph below one descriptor (an image being imported).
pub fn walk_from(store: &dyn Store, descriptor: &Descriptor) -> Graph {
    let mut walker = Walker {
        store,
        graph: Graph::default(),
        read: Vec::new(),
    };
    let edge = Edge::Root {
        index: 0,
        tag: descriptor.ref_name().map(str::to_owned),
    };
    let root = walker.descriptor(descriptor.clone(), None, edge, 1);
    walker.graph.roots.push(root);
    walker.graph
}

struct Walker<'a> {
    store: &'a dyn Store,
    graph: Graph,
    /// The nodes read as documents, in order.
    read: Vec<NodeId>,
}

impl Walker<'_> {
    /// Tells the store which documents of `entries` (at `depth`) the walk reads next: those
    /// not in the graph yet, as deep as the walk reads.
    fn prefetch(&self, entries: &[Value], depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let ahead: Vec<Descriptor> = entries
            .iter()
            .filter_map(|raw| Descriptor::from_value(raw).ok())
            .filter(|d| d.kind().is_document() && self.graph.find(&d.digest).is_none())
            .collect();
        if !ahead.is_empty() {
            self.store.prefetch(&ahead);
        }
    }

    fn child(&mut self, raw: &Value, parent: Option<NodeId>, edge: Edge, depth: usize) -> Child {
        match Descriptor::from_value(raw) {
            Ok(descriptor) => self.descriptor(descriptor, parent, edge, depth),
            Err(invalid) => Child::Invalid(invalid),
        }
    }

    fn descriptor(
        &mut self,
        descriptor: Descriptor,
        parent: Option<NodeId>,
        edge: Edge,
        depth: usize,
    ) -> Child {
        let kind = descriptor.kind();
        if let Some(id) = self.graph.find(&descriptor.digest) {
            let node = &self.graph.nodes[id];
            if node.descriptor.size != descriptor.size {
                return Child::Invalid(Invalid {
                    raw: serde_json::json!({
                        "mediaType": descriptor.media_type,
                        "digest": descriptor.digest.to_string(),
                        "size": descriptor.size,
                        "annotations": descriptor.annotations,
                    }),
                    message: format!(
                        "blob {} is said to have {} bytes here, and {} at {}",
                        descriptor.digest,
                        descriptor.size,
                        node.descriptor.size,
                        self.graph.node_path(id)
                    ),
                });
            }
            // A blob reached as a document only now: read it, once.
            if kind.is_document() && !node.read {
                self.read(id, kind, depth);
            }
            return Child::Node(id, Box::new(descriptor));
        }
        let id = self.graph.nodes.len();
        self.graph.by_digest.insert(descriptor.digest.clone(), id);
        self.graph.nodes.push(Node {
            descriptor: descriptor.clone(),
            parent,
            edge,
            depth,
            document: None,
            bytes_read: 0,
            problem: None,
            read: false,
        });
        if kind.is_document() {
            self.read(id, kind, depth);
        }
        Child::Node(id, Box::new(descriptor))
    }

    /// Reads, checks and parses the document of node `id`, then walks its children.
    fn read(&mut self, id: NodeId, kind: Kind, depth: usize) {
        self.graph.nodes[id].read = true;
        self.read.push(id);
        if depth > MAX_DEPTH {
            self.graph.nodes[id].problem = Some(format!(
                "indexes and manifests nest deeper than {MAX_DEPTH} levels"
            ));
            return;
        }
        let descriptor = self.graph.nodes[id].descriptor.clone();
        let bytes = match read_document(self.store, &descriptor) {
            Ok(bytes) => bytes,
            Err(problem) => {
                self.graph.nodes[id].problem = Some(problem);
                return;
            }
        };
        self.graph.nodes[id].bytes_read = bytes.len() as u64;
        let actual = Digest::of(&bytes);
        if actual != descriptor.digest {
            // Still walked: what a damaged document refers to is worth knowing.
            self.graph.nodes[id].problem = Some(format!(
                "blob {} is corrupt: its bytes hash to {actual}",
                descriptor.digest
            ));
        }
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                self.graph.nodes[id].problem.get_or_insert_with(|| {
                    format!(
                        "{} {} is not a JSON object",
                        printable(&descriptor.media_type),
                        descriptor.digest
                    )
                });
                return;
            }
            Err(e) => {
                self.graph.nodes[id].problem.get_or_insert_with(|| {
                    format!(
                        "{} {} is not JSON: {e}",
                        printable(&descriptor.media_type),
                        descriptor.digest
                    )
                });
                return;
            }
        };
        if let Some(problem) = kind_mismatch(&value, &descriptor, kind) {
            // Walked as what it says it is not, an index would look empty: not walked.
            self.graph.nodes[id].problem.get_or_insert(problem);
            return;
        }
        let document = self.document(&value, kind, id, depth);
        self.graph.nodes[id].document = Some(document);
    }

    fn document(&mut self, value: &Value, kind: Kind, id: NodeId, depth: usize) -> Document {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        let annotations = crate::oci::descriptor::string_annotations(value);
        let mut document = Document {
            kind,
            schema_version: printable(&value["schemaVersion"].to_string()).into_owned(),
            media_type: text("mediaType"),
            artifact_type: text("artifactType"),
            annotations,
            manifests: None,
            config: None,
            layers: None,
            subject: value.get("subject").map(Descriptor::from_value),
        };
        let parent = Some(id);
        match kind {
            Kind::Index => {
                document.manifests = value["manifests"].as_array().map(|manifests| {
                    self.prefetch(manifests, depth + 1);
                    manifests
                        .iter()
                        .enumerate()
                        .map(|(i, raw)| self.child(raw, parent, Edge::Manifests(i), depth + 1))
                        .collect()
                });
            }
            Kind::Manifest => {
                document.config = value
                    .get("config")
                    .map(|raw| self.child(raw, parent, Edge::Config, depth + 1));
                document.layers = value["layers"].as_array().map(|layers| {
                    layers
                        .iter()
                        .enumerate()
                        .map(|(i, raw)| self.child(raw, parent, Edge::Layers(i), depth + 1))
                        .collect()
                });
            }
            Kind::Blob => {}
        }
        document
    }
}

/// Why a document is not what its descriptor (or a registry's `Content-Type`) calls it: its
/// own `mediaType` says otherwise, or, without one, its fields are another kind's.
#[must_use]
pub fn kind_mismatch(value: &Value, descriptor: &Descriptor, kind: Kind) -> Option<String> {
    let said = |what: String| {
        Some(format!(
            "{} is listed as {}, but {what}",
            descriptor.digest,
            printable(&descriptor.media_type)
        ))
    };
    if let Some(own) = value["mediaType"].as_str() {
        return (own != descriptor.media_type)
            .then(|| said(format!("says it is {}", printable(own))))
            .flatten();
    }
    let shape = if value.get("manifests").is_some() {
        Kind::Index
    } else if value.get("layers").is_some() || value.get("config").is_some() {
        Kind::Manifest
    } else {
        return None;
    };
    (kind.is_document() && shape != kind)
        .then(|| {
            said(format!(
                "its fields are those of an image {}",
                if shape == Kind::Index {
                    "index"
                } else {
                    "manifest"
                }
            ))
        })
        .flatten()
}

/// A document's bytes: no more than its descriptor declares (and [`MAX_DOCUMENT`]), and
/// exactly that many; not hashed (the walk reads what a damaged document says too).
fn read_document(store: &dyn Store, descriptor: &Descriptor) -> Result<Vec<u8>, String> {
    let digest = &descriptor.digest;
    store
        .read(descriptor, MAX_DOCUMENT)
        .map_err(|error| match error {
            StoreError::TooLarge { size, .. } => format!(
                "{digest} declares a size of {size} bytes for a {}, more than glc reads of a document ({MAX_DOCUMENT})",
                printable(&descriptor.media_type)
            ),
            StoreError::Size {
                declared, actual, ..
            } => format!("blob {digest} has {actual} bytes, not the {declared} its descriptor says"),
            StoreError::Store(error) => format!("cannot read blob {digest}: {error}"),
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::oci::store::Opened;

    /// Blobs in memory.
    struct Memory(HashMap<Digest, Vec<u8>>);

    impl Store for Memory {
        fn name(&self) -> String {
            "memory".to_owned()
        }
        fn resolve(&self, _: &str) -> Result<Option<Descriptor>, StoreError> {
            Ok(None)
        }
        fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
            Ok(Vec::new())
        }
        fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
            let bytes = self.0.get(&descriptor.digest).ok_or_else(|| {
                StoreError::file(&descriptor.digest, crate::oci::file::FileError::Missing)
            })?;
            Ok(Opened {
                reader: Box::new(&bytes[..]),
                size: Some(bytes.len() as u64),
            })
        }
        fn referrers(&self, _: &Digest, _: Option<&str>) -> Result<Vec<Descriptor>, StoreError> {
            Ok(Vec::new())
        }
    }

    impl Memory {
        fn put(&mut self, media_type: &str, document: &Value) -> Value {
            let bytes = serde_json::to_vec(document).unwrap();
            let digest = Digest::of(&bytes);
            let descriptor =
                json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()});
            self.0.insert(digest, bytes);
            descriptor
        }
    }

    const INDEX: &str = crate::oci::media::INDEX;
    const MANIFEST: &str = crate::oci::media::MANIFEST;

    #[test]
    fn shared_subtrees_are_read_once_and_paths_name_the_first_way_there() {
        let mut blobs = Memory(HashMap::new());
        let layer =
            json!({"mediaType": "text/plain", "digest": Digest::of(b"x").to_string(), "size": 1});
        let mut top = blobs.put(
            MANIFEST,
            &json!({"schemaVersion": 2, "config": layer, "layers": [layer]}),
        );
        for _ in 0..40 {
            top = blobs.put(
                INDEX,
                &json!({"schemaVersion": 2, "manifests": vec![top; 8]}),
            );
        }
        let graph = walk(&blobs, &[top]);
        assert_eq!(graph.nodes.len(), 42);
        assert!(graph.problems().is_empty(), "{:?}", graph.problems());
        let layer = graph.find(&Digest::of(b"x")).unwrap();
        let path = graph.node_path(layer);
        assert!(path.starts_with("index.json[0] → manifests[0] → manifests[0]"));
        assert!(path.ends_with("manifests[0] → config"), "{path}");
    }

    /// Counts the blobs opened.
    struct Counted<'a>(&'a Memory, std::cell::Cell<usize>);

    impl Store for Counted<'_> {
        fn name(&self) -> String {
            self.0.name()
        }
        fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
            self.0.resolve(name)
        }
        fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
            self.0.tags()
        }
        fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
            self.1.set(self.1.get() + 1);
            self.0.open(descriptor)
        }
        fn referrers(
            &self,
            subject: &Digest,
            kind: Option<&str>,
        ) -> Result<Vec<Descriptor>, StoreError> {
            self.0.referrers(subject, kind)
        }
    }

    #[test]
    fn extending_a_walk_reads_only_the_new_documents_and_equals_one_walk_of_all_roots() {
        let mut blobs = Memory(HashMap::new());
        let layer =
            json!({"mediaType": "text/plain", "digest": Digest::of(b"x").to_string(), "size": 1});
        let image = blobs.put(
            MANIFEST,
            &json!({"schemaVersion": 2, "config": layer, "layers": [layer]}),
        );
        // A chain of referrers, each naming the one before as its subject.
        let mut chain = vec![image.clone()];
        for i in 0..30 {
            let subject = chain.last().cloned().unwrap();
            chain.push(blobs.put(
                MANIFEST,
                &json!({"schemaVersion": 2, "config": layer, "layers": [], "subject": subject,
                        "annotations": {"n": i.to_string()}}),
            ));
        }
        let counted = Counted(&blobs, std::cell::Cell::new(0));
        let mut graph = Graph::default();
        let mut read = Vec::new();
        for root in &chain {
            read.extend(graph.extend(&counted, std::slice::from_ref(root)));
        }
        // Every document once: no round reads again what an earlier one read.
        assert_eq!(counted.1.get(), chain.len());
        assert_eq!(read.len(), chain.len());
        let whole = walk(&blobs, &chain);
        let digests = |g: &Graph| {
            g.nodes
                .iter()
                .map(|n| (n.descriptor.digest.clone(), n.parent, n.edge.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(digests(&graph), digests(&whole));
        assert_eq!(graph.roots.len(), whole.roots.len());
        assert_eq!(graph.problems(), whole.problems());
    }

    #[test]
    fn one_digest_with_two_sizes_is_an_error_where_the_second_is() {
        let mut blobs = Memory(HashMap::new());
        let layer =
            json!({"mediaType": "text/plain", "digest": Digest::of(b"x").to_string(), "size": 1});
        let mut other = layer.clone();
        other["size"] = json!(2);
        let top = blobs.put(
            MANIFEST,
            &json!({"schemaVersion": 2, "config": layer, "layers": [other]}),
        );
        let problems = walk(&blobs, &[top]).problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "index.json[0] → layers[0]");
        assert_eq!(
            problems[0].message,
            format!(
                "blob {} is said to have 2 bytes here, and 1 at index.json[0] → config",
                Digest::of(b"x")
            )
        );
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let mut blobs = Memory(HashMap::new());
        let mut top = blobs.put(MANIFEST, &json!({"schemaVersion": 2, "layers": []}));
        for _ in 0..MAX_DEPTH {
            top = blobs.put(INDEX, &json!({"schemaVersion": 2, "manifests": [top]}));
        }
        let graph = walk(&blobs, &[top]);
        let problems = graph.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            "indexes and manifests nest deeper than 64 levels"
        );
        assert_eq!(graph.nodes.len(), MAX_DEPTH + 1);
    }

    #[test]
    fn documents_are_read_to_their_declared_size_and_checked() {
        let mut blobs = Memory(HashMap::new());
        let manifest = blobs.put(MANIFEST, &json!({"schemaVersion": 2, "layers": []}));
        let mut short = manifest.clone();
        short["size"] = json!(5);
        let mut zero = manifest.clone();
        zero["size"] = json!(0);
        let mut huge = manifest.clone();
        huge["size"] = json!(9_000_000_000_000_000_000u64);
        let graph = walk(&blobs, &[short]);
        assert!(
            graph.problems()[0]
                .message
                .ends_with("bytes, not the 5 its descriptor says"),
            "{:?}",
            graph.problems()
        );
        let graph = walk(&blobs, &[zero]);
        assert!(
            graph.problems()[0]
                .message
                .ends_with("not the 0 its descriptor says")
        );
        let graph = walk(&blobs, &[huge]);
        assert!(
            graph.problems()[0]
                .message
                .contains("declares a size of 9000000000000000000 bytes")
        );
    }
}
