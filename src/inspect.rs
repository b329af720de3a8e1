//! `glc inspect`: any OCI image layout as a tree, from one tag or from all: each node with its
//! name, media type or artifact type, platform, short digest and size; attachments under the
//! manifest they refer to.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::oci::media;
use crate::plan::human_size;

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
    /// Why the node could not be read further, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

struct Layout<'a> {
    root: &'a Path,
    /// digest → the index.json entries whose subject it is.
    referrers: BTreeMap<String, Vec<Value>>,
}

/// The tree of the layout at `root`, from `tag` or from every tag.
pub fn inspect(root: &Path, tag: Option<&str>) -> Result<Vec<Node>, String> {
    let bytes = std::fs::read(root.join("index.json"))
        .map_err(|e| format!("cannot read {}/index.json: {e}", root.display()))?;
    let index: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}/index.json is not JSON: {e}", root.display()))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let mut layout = Layout {
        root,
        referrers: BTreeMap::new(),
    };
    let mut untagged_roots = Vec::new();
    for entry in &entries {
        if entry["annotations"]["org.opencontainers.image.ref.name"].is_string() {
            continue;
        }
        match read(root, entry).and_then(|d| d["subject"]["digest"].as_str().map(str::to_owned)) {
            Some(subject) => layout
                .referrers
                .entry(subject)
                .or_default()
                .push(entry.clone()),
            None => untagged_roots.push(entry.clone()),
        }
    }
    // One root a digest, with every tag that points at it, in index.json's order.
    let mut roots: Vec<(Value, Vec<String>)> = Vec::new();
    for entry in &entries {
        let Some(name) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() else {
            continue;
        };
        if tag.is_some_and(|t| t != name) {
            continue;
        }
        match roots
            .iter_mut()
            .find(|(d, _)| d["digest"] == entry["digest"])
        {
            Some((_, tags)) => tags.push(name.to_owned()),
            None => roots.push((entry.clone(), vec![name.to_owned()])),
        }
    }
    if let Some(tag) = tag
        && roots.is_empty()
    {
        let mut tags: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str())
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
            "no tag `{tag}` in {}; it has {has}",
            root.display()
        ));
    }
    let mut nodes: Vec<Node> = roots
        .into_iter()
        .map(|(d, tags)| layout.node(&d, tags, 0))
        .collect();
    if tag.is_none() {
        nodes.extend(untagged_roots.iter().map(|d| layout.node(d, Vec::new(), 0)));
    }
    Ok(nodes)
}

fn read(root: &Path, descriptor: &Value) -> Option<Value> {
    let (algorithm, encoded) = descriptor["digest"].as_str()?.split_once(':')?;
    if encoded.contains(['/', '.']) || algorithm.contains(['/', '.']) {
        return None;
    }
    let size = descriptor["size"].as_u64()?;
    if size > 4 * 1024 * 1024 {
        return None;
    }
    serde_json::from_slice(&std::fs::read(root.join("blobs").join(algorithm).join(encoded)).ok()?)
        .ok()
}

fn platform(descriptor: &Value) -> Option<String> {
    let p = descriptor.get("platform")?;
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

fn name(descriptor: &Value) -> Option<String> {
    let a = &descriptor["annotations"];
    [
        "io.gardenlinux.container.name",
        "cname",
        "org.opencontainers.image.title",
    ]
    .iter()
    .find_map(|k| a[*k].as_str())
    .map(str::to_owned)
}

impl Layout<'_> {
    fn node(&self, descriptor: &Value, tags: Vec<String>, depth: usize) -> Node {
        let digest = descriptor["digest"].as_str().unwrap_or_default().to_owned();
        let media_type = descriptor["mediaType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut node = Node {
            tags,
            name: name(descriptor),
            artifact_type: descriptor["artifactType"].as_str().map(str::to_owned),
            platform: platform(descriptor),
            size: descriptor["size"].as_u64().unwrap_or(0),
            media_type: media_type.clone(),
            digest: digest.clone(),
            children: Vec::new(),
            attachments: Vec::new(),
            problem: None,
        };
        let document = matches!(
            media_type.as_str(),
            media::INDEX | media::MANIFEST | media::DOCKER_LIST | media::DOCKER_MANIFEST
        );
        if !document {
            return node;
        }
        if depth > 16 {
            node.problem = Some("nested too deep".to_owned());
            return node;
        }
        let Some(body) = read(self.root, descriptor) else {
            node.problem = Some("cannot be read".to_owned());
            return node;
        };
        if node.artifact_type.is_none() {
            node.artifact_type = body["artifactType"].as_str().map(str::to_owned);
        }
        if node.name.is_none() {
            node.name = name(&body);
        }
        let children = body["manifests"]
            .as_array()
            .or_else(|| body["layers"].as_array())
            .cloned()
            .unwrap_or_default();
        node.children = children
            .iter()
            .map(|c| self.node(c, Vec::new(), depth + 1))
            .collect();
        node.attachments = self.referrers.get(&digest).map_or_else(Vec::new, |r| {
            r.iter()
                .map(|a| self.node(a, Vec::new(), depth + 1))
                .collect()
        });
        node
    }
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
    let short = node
        .digest
        .split_once(':')
        .map_or(node.digest.as_str(), |(_, hex)| &hex[..hex.len().min(12)]);
    let kind = match node.media_type.as_str() {
        media::INDEX | media::DOCKER_LIST => "index",
        media::MANIFEST | media::DOCKER_MANIFEST => "manifest",
        other => other,
    };
    let mut text = format!("{lead}{branch}");
    if !node.tags.is_empty() {
        let _ = write!(text, "[{}] ", node.tags.join(", "));
    }
    if let Some(name) = &node.name {
        let _ = write!(text, "{name} ");
    }
    let _ = write!(text, "{kind}");
    if let Some(artifact_type) = &node.artifact_type {
        let _ = write!(text, " {artifact_type}");
    }
    if let Some(platform) = &node.platform {
        let _ = write!(text, " ({platform})");
    }
    let _ = write!(text, "  {short}  {}", human_size(node.size));
    if let Some(problem) = &node.problem {
        let _ = write!(text, "  !! {problem}");
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
