//! `glc inspect`: any OCI image layout as a tree, from one tag or from all: each node with its
//! name, media type or artifact type, platform, short digest and size; attachments under the
//! manifest they refer to.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::front::plan::human_size;
use crate::oci::file::LayoutDir;
use crate::oci::limits::{MAX_DEPTH, MAX_DOCUMENT};
use crate::oci::store::Layout;
use crate::oci::vocab::{Kind, annotation};
use crate::oci::walk::{self, Child, Graph, NodeId};
use crate::oci::{Descriptor, Digest, printable};

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Tags in index.json that point here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What the node is called: container name, cname, layer title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Manifests in index.json whose subject is this node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Node>,
    /// A document whose children are shown under an earlier node of the same digest: each
    /// is shown once, so that a graph that shares subtrees prints in proportion to its size.
    #[serde(rename = "shownAbove", skip_serializing_if = "std::ops::Not::not")]
    pub shown_above: bool,
    /// Why the node could not be read further, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// How many nodes of the trees could not be read whole (an invalid digest, a missing or
/// damaged blob): each is marked in the tree, and makes `glc inspect` fail.
#[must_use]
pub fn problems(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| {
            usize::from(n.problem.is_some()) + problems(&n.children) + problems(&n.attachments)
        })
        .sum()
}

/// The tree of the layout at `root`, from `tag` or from every tag.
pub fn inspect(root: &Path, tag: Option<&str>) -> Result<Vec<Node>, String> {
    let layout =
        LayoutDir::open(root).map_err(|e| format!("cannot open {}: {e}", root.display()))?;
    let bytes = layout
        .read("index.json", MAX_DOCUMENT)
        .map_err(|e| e.message(&format!("{}/index.json", root.display())))?;
    let index: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}/index.json is not JSON: {e}", root.display()))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let store = Layout::new(
        root.display().to_string(),
        layout,
        Layout::valid_entries(&entries),
    );
    let graph = walk::walk(&store, &entries);
    let ref_name = |i: usize| entries[i]["annotations"][annotation::REF_NAME].as_str();
    // digest → the index.json entries that refer to it: untagged ones whose subject it is, and
    // cosign signatures tagged `sha256-<hex>.sig`, with their tags.
    let mut referrers: BTreeMap<Digest, Vec<(usize, Vec<String>)>> = BTreeMap::new();
    let mut untagged_roots = Vec::new();
    for (i, root) in graph.roots.iter().enumerate() {
        if ref_name(i).is_some() {
            continue;
        }
        let subject = match root {
            Child::Node(id, _) => graph.nodes[*id]
                .document
                .as_ref()
                .and_then(|d| d.subject.as_ref()?.as_ref().ok()),
            Child::Invalid(_) => None,
        };
        match subject {
            Some(subject) => referrers
                .entry(subject.digest.clone())
                .or_default()
                .push((i, Vec::new())),
            None => untagged_roots.push(i),
        }
    }
    // One root a digest, with every tag that points at it, in index.json's order.
    let mut roots: Vec<(usize, Vec<String>)> = Vec::new();
    for i in 0..entries.len() {
        let Some(name) = ref_name(i) else {
            continue;
        };
        if tag.is_some_and(|t| t != name) {
            continue;
        }
        if tag.is_none()
            && let Some(signed) = signature_of(name).filter(|d| graph.find(d).is_some())
        {
            referrers
                .entry(signed)
                .or_default()
                .push((i, vec![name.to_owned()]));
            continue;
        }
        // An entry the walker refused (a tag no tool may use) is shown on its own, with why.
        if matches!(graph.roots[i], Child::Invalid(_)) {
            roots.push((i, vec![name.to_owned()]));
            continue;
        }
        match roots.iter_mut().find(|(r, _)| {
            entries[*r]["digest"] == entries[i]["digest"]
                && matches!(graph.roots[*r], Child::Node(..))
        }) {
            Some((_, tags)) => tags.push(name.to_owned()),
            None => roots.push((i, vec![name.to_owned()])),
        }
    }
    if let Some(tag) = tag
        && roots.is_empty()
    {
        let mut tags: Vec<String> = (0..entries.len())
            .filter_map(|i| ref_name(i).map(|t| printable(t).into_owned()))
            .collect();
        tags.sort_unstable();
        let shown = 12;
        let has = if tags.len() > shown {
            let first: Vec<String> = tags[..shown].iter().map(|t| format!("`{t}`")).collect();
            format!(
                "{} tags: {} and {} more (`glc inspect {}` shows them all)",
                tags.len(),
                first.join(", "),
                tags.len() - shown,
                root.display()
            )
        } else {
            crate::diagnostic::list(&tags)
        };
        return Err(format!(
            "no tag `{}` in {}; it has {has}",
            printable(tag),
            root.display()
        ));
    }
    let mut tree = Tree {
        graph: &graph,
        referrers,
        shown: HashSet::new(),
    };
    let mut nodes: Vec<Node> = roots
        .into_iter()
        .map(|(i, tags)| tree.child(&graph.roots[i], tags, 1))
        .collect();
    if tag.is_none() {
        for i in untagged_roots {
            nodes.push(tree.child(&graph.roots[i], Vec::new(), 1));
        }
    }
    Ok(nodes)
}

fn platform(descriptor: Option<&Value>) -> Option<String> {
    let p = descriptor?;
    let mut text = format!("{}/{}", p["os"].as_str()?, p["architecture"].as_str()?);
    if let Some(variant) = p["variant"].as_str() {
        text.push('/');
        text.push_str(variant);
    }
    if let Some(version) = p["os.version"].as_str() {
        text.push(' ');
        text.push_str(version);
    }
    Some(text)
}

fn name(annotations: &BTreeMap<String, String>) -> Option<String> {
    [
        annotation::CONTAINER_NAME,
        annotation::CNAME,
        annotation::TITLE,
    ]
    .iter()
    .find_map(|k| annotations.get(*k))
    .cloned()
}

/// The walked graph made into trees, each document's subtree shown once.
struct Tree<'a> {
    graph: &'a Graph,
    referrers: BTreeMap<Digest, Vec<(usize, Vec<String>)>>,
    shown: HashSet<NodeId>,
}

impl Tree<'_> {
    fn child(&mut self, child: &Child, tags: Vec<String>, depth: usize) -> Node {
        match child {
            Child::Node(id, descriptor) => self.node(*id, descriptor, tags, depth),
            Child::Invalid(invalid) => {
                let raw = &invalid.raw;
                let text = |v: &Value| v.as_str().map(str::to_owned);
                let annotations = crate::oci::descriptor::string_annotations(raw);
                Node {
                    tags,
                    name: name(&annotations),
                    media_type: text(&raw["mediaType"]).unwrap_or_default(),
                    artifact_type: text(&raw["artifactType"]),
                    platform: platform(raw.get("platform")),
                    digest: text(&raw["digest"]).unwrap_or_default(),
                    size: raw["size"].as_u64().unwrap_or(0),
                    children: Vec::new(),
                    attachments: Vec::new(),
                    shown_above: false,
                    problem: Some(invalid.message.clone()),
                }
            }
        }
    }

    /// The node `id`, shown as `descriptor` names it at this place of the tree.
    fn node(
        &mut self,
        id: NodeId,
        descriptor: &Descriptor,
        tags: Vec<String>,
        depth: usize,
    ) -> Node {
        let graph = self.graph;
        let walked = &graph.nodes[id];
        let mut node = Node {
            tags,
            name: name(&descriptor.annotations),
            artifact_type: descriptor.artifact_type.clone(),
            platform: platform(descriptor.platform.as_ref()),
            size: descriptor.size,
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.to_string(),
            children: Vec::new(),
            attachments: Vec::new(),
            shown_above: false,
            problem: walked.problem.clone(),
        };
        if !descriptor.kind().is_document() {
            return node;
        }
        if let Some(document) = &walked.document {
            if node.artifact_type.is_none() {
                node.artifact_type.clone_from(&document.artifact_type);
            }
            if node.name.is_none() {
                node.name = name(&document.annotations);
            }
        }
        if depth > MAX_DEPTH {
            node.problem = Some(format!(
                "indexes and manifests nest deeper than {MAX_DEPTH} levels"
            ));
            return node;
        }
        if !self.shown.insert(id) {
            node.shown_above = true;
            return node;
        }
        if let Some(document) = &walked.document {
            let children = match document.kind {
                Kind::Index => document.manifests.as_ref(),
                _ => document.layers.as_ref(),
            };
            node.children = children
                .into_iter()
                .flatten()
                .map(|c| self.child(c, Vec::new(), depth + 1))
                .collect();
        }
        let referrers = self
            .referrers
            .get(&descriptor.digest)
            .cloned()
            .unwrap_or_default();
        node.attachments = referrers
            .into_iter()
            .map(|(i, tags)| self.child(&graph.roots[i], tags, depth + 1))
            .collect();
        node
    }
}

/// The manifest a cosign signature tag (`sha256-<hex>.sig`) signs.
fn signature_of(tag: &str) -> Option<Digest> {
    let hex = tag.strip_prefix("sha256-")?.strip_suffix(".sig")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// The trees as text, one node a line.
#[must_use]
pub fn render(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        line(&mut out, node, "", "");
        children(&mut out, node, "");
    }
    out
}

fn line(out: &mut String, node: &Node, lead: &str, branch: &str) {
    // Everything but the tree's own drawing comes from the layout: printed escaped.
    let short = match Digest::parse(&node.digest) {
        Ok(digest) => digest.short().to_owned(),
        Err(_) => printable(&node.digest).into_owned(),
    };
    let kind = match Kind::of(&node.media_type) {
        Kind::Index => "index",
        Kind::Manifest => "manifest",
        Kind::Blob => &node.media_type,
    };
    let mut text = format!("{lead}{branch}");
    if !node.tags.is_empty() {
        let tags: Vec<_> = node.tags.iter().map(|t| printable(t)).collect();
        let _ = write!(text, "[{}] ", tags.join(", "));
    }
    if let Some(name) = &node.name {
        let _ = write!(text, "{} ", printable(name));
    }
    let _ = write!(text, "{}", printable(kind));
    if let Some(artifact_type) = &node.artifact_type {
        let _ = write!(text, " {}", printable(artifact_type));
    }
    if let Some(platform) = &node.platform {
        let _ = write!(text, " ({})", printable(platform));
    }
    let _ = write!(text, "  {short}  {}", human_size(node.size));
    if node.shown_above {
        text.push_str("  (shown above)");
    }
    if let Some(problem) = &node.problem {
        let _ = write!(text, "  !! {}", printable(problem));
    }
    out.push_str(&text);
    out.push('\n');
}

fn children(out: &mut String, node: &Node, lead: &str) {
    let all: Vec<(&Node, bool)> = node
        .children
        .iter()
        .map(|c| (c, false))
        .chain(node.attachments.iter().map(|a| (a, true)))
        .collect();
    for (i, (child, attachment)) in all.iter().enumerate() {
        let last = i + 1 == all.len();
        let branch = match (last, attachment) {
            (false, false) => "├── ",
            (true, false) => "└── ",
            (false, true) => "├─↪ ",
            (true, true) => "└─↪ ",
        };
        line(out, child, lead, branch);
        let next = format!("{lead}{}", if last { "    " } else { "│   " });
        children(out, child, &next);
    }
}
