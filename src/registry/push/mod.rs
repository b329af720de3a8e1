//! `glc push`: a layout's tags, with everything reachable from them, into one repository of a
//! registry, byte for byte. Blobs first (what the registry has is skipped), then manifests and
//! indexes children first, then the referrers fallback tags, then the tags, release tags last:
//! a tag is only ever moved once all its content is there, so a push stopped at any moment
//! leaves no tag pointing at missing content, and running it again finishes it.

mod content;
mod part;
mod policy;
mod referrers;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde_json::Value;

use super::mount::Mounted;
use super::source::Repository;
use super::{ACCEPT, Client, Options, parallel};
use crate::oci::file::LayoutDir;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::{Layout, Store as _, StoreError, StoreWrite as _};
use crate::oci::vocab::Kind;
use crate::oci::vocab::artifact::{PART, RELEASE};
use crate::oci::walk::{self, Child, Graph, NodeId};
use crate::oci::{Descriptor, Digest, printable};
use crate::util::text::count;
use content::{Ask, Provided, descriptor};
use referrers::{mend_referrers, push_referrers, referrers_by_subject};

/// What to push where.
#[derive(Debug, Clone)]
pub struct Request {
    pub host: String,
    pub repository: String,
    /// Only these tags of the layout (and what hangs on them); all if empty.
    pub tags: Vec<String>,
    pub jobs: usize,
    /// Blobs larger than this go up in chunks of this size.
    pub chunk: u64,
    pub options: Options,
    /// How to show the progress of the blobs (bytes, blobs, rate, time left) on stderr.
    pub progress: crate::util::progress::Mode,
    /// For a part (`glc build --only`): the tag its part record goes up under, after every
    /// other tag. A part is pushed only with one, a whole release never.
    pub part_tag: Option<String>,
    /// Move a moving release tag (`latest`, the major version) to an older version.
    pub allow_older: bool,
}

/// Where the blobs a layout does not hold come from: for a merge in a registry, the
/// repositories of the parts.
pub trait Elsewhere: Sync {
    /// Whether it provides blob `digest`.
    fn has(&self, digest: &Digest) -> bool;
    /// Puts blob `digest` of `size` bytes into `client`'s repository.
    fn provide(&self, client: &Client, digest: &Digest, size: u64)
    -> Result<Mounted, super::Error>;
    /// Whether [`Elsewhere::provide`] of `digest` asks the registry to mount it from another
    /// repository: one request, which succeeds where the blob is there already too.
    fn mounts(&self, _digest: &Digest) -> bool {
        false
    }
}

/// Provides nothing: a push of a layout that holds every blob.
struct Nowhere;

impl Elsewhere for Nowhere {
    fn has(&self, _: &Digest) -> bool {
        false
    }
    fn provide(&self, _: &Client, digest: &Digest, _: u64) -> Result<Mounted, super::Error> {
        Err(super::error(format!("blob {digest} is not in the layout")))
    }
}

/// A tag as pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushedTag {
    #[serde(skip)]
    pub tag: String,
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// `registry/repository:tag`
    pub destination: String,
    /// Whether the registry already had the tag there.
    #[serde(skip)]
    pub unchanged: bool,
}

/// What a push did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tags: Vec<PushedTag>,
    pub blobs_uploaded: u64,
    pub blobs_skipped: u64,
    pub bytes_uploaded: u64,
    /// Blobs of other repositories of the registry mounted, and those copied where the
    /// registry refused the mount (see [`Elsewhere`]).
    pub blobs_mounted: u64,
    pub blobs_copied: u64,
    pub manifests_pushed: u64,
    pub manifests_skipped: u64,
    /// Referrers fallback tags written.
    pub referrer_tags: u64,
    /// Referrers the registry did not list once pushed, listed again (see [`mend_referrers`]).
    pub referrers_mended: u64,
    pub requests: u64,
    /// Upload sessions started: one a blob uploaded, more where one was retried.
    pub upload_sessions: u64,
    /// Uploads an earlier, interrupted push left, resumed; and the bytes the registry
    /// already held of them (not sent again).
    pub uploads_resumed: u64,
    pub bytes_resumed: u64,
}

impl Outcome {
    /// The fields of the JSON summary line of a push to `destination`.
    #[must_use]
    pub fn summary_json(&self, destination: &str) -> Value {
        serde_json::json!({
            "destination": destination,
            "tags": self.tags.len(),
            "tags_moved": self.moved(),
            "moved": self.tags.iter().filter(|t| !t.unchanged).map(|t| &t.tag).collect::<Vec<_>>(),
            "release_tags_moved": self.release_tags_moved(),
            "blobs_mounted": self.blobs_mounted,
            "blobs_copied": self.blobs_copied,
            "blobs_uploaded": self.blobs_uploaded,
            "blobs_skipped": self.blobs_skipped,
            "bytes_uploaded": self.bytes_uploaded,
            "manifests_pushed": self.manifests_pushed,
            "manifests_skipped": self.manifests_skipped,
            "referrers_tags": self.referrer_tags,
            "referrers_mended": self.referrers_mended,
            "requests": self.requests,
            "upload_sessions": self.upload_sessions,
            "uploads_resumed": self.uploads_resumed,
            "bytes_resumed": self.bytes_resumed,
        })
    }

    /// The line a person reads after a push to `destination` that took `seconds`.
    #[must_use]
    pub fn summary_text(&self, destination: &str, seconds: f64) -> String {
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let resumed = if self.uploads_resumed > 0 {
            format!(
                " ({} resumed, {} bytes the registry already held not sent again)",
                count(n(self.uploads_resumed), "upload"),
                self.bytes_resumed
            )
        } else {
            String::new()
        };
        let mended = if self.referrers_mended > 0 {
            format!(
                " ({} the registry did not list, mended)",
                count(n(self.referrers_mended), "referrer")
            )
        } else {
            String::new()
        };
        let mounted = if self.blobs_mounted + self.blobs_copied > 0 {
            let copied = if self.blobs_copied > 0 {
                format!(
                    ", {} copied where the registry refused to mount them",
                    self.blobs_copied
                )
            } else {
                String::new()
            };
            format!(
                ", {} from other repositories mounted{copied}",
                count(n(self.blobs_mounted), "blob")
            )
        } else {
            String::new()
        };
        let release = self.release_tags_moved();
        let release = if release.is_empty() {
            String::new()
        } else {
            format!("; release tags moved: {}", release.join(", "))
        };
        format!(
            "pushed {} to {destination} ({} moved): {} uploaded ({} bytes){resumed}{mounted}, {} already there, {} of {} manifests pushed, {}{mended} in {seconds:.1} s{release}",
            count(self.tags.len(), "tag"),
            self.moved(),
            count(n(self.blobs_uploaded), "blob"),
            self.bytes_uploaded,
            self.blobs_skipped,
            self.manifests_pushed,
            self.manifests_pushed + self.manifests_skipped,
            count(n(self.referrer_tags), "referrers tag"),
        )
    }

    fn moved(&self) -> usize {
        self.tags.iter().filter(|t| !t.unchanged).count()
    }

    /// The release tags (the version, the major version, `latest`…) this push moved.
    #[must_use]
    pub fn release_tags_moved(&self) -> Vec<&str> {
        self.tags
            .iter()
            .filter(|t| !t.unchanged && t.artifact_type.as_deref() == Some(RELEASE))
            .map(|t| t.tag.as_str())
            .collect()
    }
}

/// Why a push failed: a finding of its own, or the registry's error. The command layer says
/// both (`error.rs`, above `registry/`, is where they become diagnostics).
#[derive(Debug)]
pub enum PushError {
    /// What is wrong with the layout or the tags: a code of `codes::ALL`, what, and how to
    /// go on.
    Push {
        code: &'static str,
        message: String,
        help: Option<String>,
    },
    /// The registry's error, and what the push left behind (`state`: what was not pushed).
    Registry { error: super::Error, state: String },
}

fn fail(code: &'static str, message: impl Into<String>, help: Option<&str>) -> PushError {
    PushError::Push {
        code,
        message: message.into(),
        help: help.map(str::to_owned),
    }
}

/// `REGISTRY/REPO` split into host and repository, both checked against the distribution
/// spec's grammar ([`crate::oci::name`]).
pub fn parse_destination(text: &str) -> Result<(String, String), String> {
    if let Some((_, rest)) = text.split_once("://") {
        return Err(format!(
            "{:?}: write the registry without a scheme ({:?}); glc speaks HTTPS, and plain HTTP with `--plain-http` (and to this machine)",
            printable(text),
            printable(rest)
        ));
    }
    let Some((host, repository)) = text.split_once('/') else {
        return Err(format!(
            "{:?} names no repository: write REGISTRY/REPO, e.g. ghcr.io/gardenlinux/gardenlinux",
            printable(text)
        ));
    };
    if !crate::oci::name::is_host(host) {
        return Err(format!(
            "{:?} is not a registry host: a name or address, with an optional `:PORT`",
            printable(host)
        ));
    }
    if repository.contains(['@', ':']) {
        return Err(format!(
            "{:?}: give the repository without tag or digest; `--tag` selects tags of the layout",
            printable(text)
        ));
    }
    crate::oci::name::check_repository(repository)?;
    Ok((host.to_owned(), repository.to_owned()))
}

/// What the layout asks to push, in order.
struct Work {
    /// Blobs that are not documents: digest, size.
    blobs: Vec<(Digest, u64)>,
    /// Documents, children first.
    manifests: Vec<NodeId>,
    /// Tags, release tags last.
    tags: Vec<(String, NodeId)>,
    /// Where the release tags start, and where they end (a part's tag comes after them).
    release: std::ops::Range<usize>,
}

impl Work {
    /// The tags in the groups they are written in, one group after the other: the push's own
    /// tags, its release tags, a part's tag.
    fn tag_groups(&self) -> [&[(String, NodeId)]; 3] {
        let (own, rest) = self.tags.split_at(self.release.start);
        let (release, part) = rest.split_at(self.release.len());
        [own, release, part]
    }
}

/// Pushes the layout at `layout` as `request` says; `on_tag` hears of every tag pushed.
pub fn push(
    layout: &Path,
    request: &Request,
    on_tag: &mut dyn FnMut(&PushedTag),
) -> Result<Outcome, PushError> {
    push_with(layout, request, &Nowhere, on_tag)
}

/// [`push`] of a layout whose blobs that it does not hold `elsewhere` provides.
pub fn push_with(
    layout: &Path,
    request: &Request,
    elsewhere: &dyn Elsewhere,
    on_tag: &mut dyn FnMut(&PushedTag),
) -> Result<Outcome, PushError> {
    let dir = LayoutDir::open(layout).map_err(|e| {
        fail(
            "glc::push::layout",
            format!("cannot open the layout {}: {e}", layout.display()),
            Some("pass the directory `glc build -o` wrote"),
        )
    })?;
    let index = dir
        .read("index.json", MAX_DOCUMENT)
        .map_err(|e| {
            fail(
                "glc::push::layout",
                format!("{}: {}", layout.display(), e.message("index.json")),
                Some("pass the directory `glc build -o` wrote"),
            )
        })
        .and_then(|bytes| {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                fail(
                    "glc::push::layout",
                    format!("{}/index.json is not JSON: {e}", layout.display()),
                    None,
                )
            })
        })?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let store = Layout::new(
        layout.display().to_string(),
        dir,
        Layout::valid_entries(&entries),
    );
    let graph = walk::walk(&store, &entries);
    let problems = graph.problems();
    if let Some(first) = problems.first() {
        return Err(fail(
            "glc::push::layout",
            format!(
                "the layout {} is not whole ({} problems), e.g. {}: {}",
                layout.display(),
                problems.len(),
                first.path,
                first.message
            ),
            Some("`glc verify` lists every problem; nothing was pushed"),
        ));
    }
    let work = plan(&graph, &request.tags, request.part_tag.as_deref())?;
    // Every blob there and of its size before the registry is asked anything: a layout
    // that is not whole pushes nothing.
    let mut external = HashSet::new();
    for (digest, size) in &work.blobs {
        if elsewhere.has(digest) && store.open_file(&descriptor(&graph, digest)).is_err() {
            external.insert(digest.clone());
            continue;
        }
        let (_, stored) = store.open_file(&descriptor(&graph, digest)).map_err(|e| {
            fail(
                "glc::push::layout",
                format!("{}: {}", layout.display(), said_of_path(&e, digest)),
                Some("`glc verify` lists every problem; nothing was pushed"),
            )
        })?;
        if stored != *size {
            return Err(fail(
                "glc::push::layout",
                format!(
                    "{}: {} holds {stored} bytes, its descriptor says {size}",
                    layout.display(),
                    digest.blob_path()
                ),
                Some("`glc verify` lists every problem; nothing was pushed"),
            ));
        }
    }
    let client = Client::new(&request.host, &request.repository, request.options.clone())
        .map_err(|e| registry_error(&e, "nothing was pushed"))?;
    client
        .ping()
        .map_err(|e| registry_error(&e, "nothing was pushed"))?;
    if !request.allow_older {
        policy::check(&client, &graph, &work)?;
    }
    let target = Repository::new(client).chunked(request.chunk);
    let client = target.client();
    let mut outcome = Outcome::default();
    // The repository's tags, where a page or two lists them all: a tag not among them is
    // written without asking where it points first. (A list that cannot be read, or goes on,
    // leaves every tag to be asked.)
    let listed: Option<HashSet<String>> = client
        .tags_within(LISTED_PAGES)
        .ok()
        .flatten()
        .map(|tags| tags.into_iter().collect());
    // Where none of the push's own tags is there yet (a first push, or one stopped before its
    // tags), nothing is asked for before it is written where the write costs no more than the
    // question: a document, a mount.
    let own = if work.release.start > 0 {
        &work.tags[..work.release.start]
    } else {
        &work.tags[..]
    };
    let ask = if listed
        .as_ref()
        .is_some_and(|listed| own.iter().all(|(tag, _)| !listed.contains(tag)))
    {
        Ask::BeforeUploads
    } else {
        Ask::Always
    };
    let keeps_referrers = content::push_content(
        &store,
        &target,
        &graph,
        request,
        Provided {
            elsewhere,
            external: &external,
            ask,
        },
        (&work.blobs, &work.manifests),
        &mut outcome,
    )?;
    let by_subject = referrers_by_subject(&graph, &work.manifests);
    let state = "every blob and manifest is pushed, but not the referrers tags nor any tag";
    let api = match by_subject.keys().next() {
        None => false,
        Some(_) if keeps_referrers => true,
        Some(first) => client
            .referrers(first)
            .map_err(|e| registry_error(&e, state))?
            .is_some(),
    };
    if !api {
        outcome.referrer_tags += push_referrers(client, &graph, &by_subject, request.jobs)?;
    }
    mend_referrers(
        &store,
        &target,
        &graph,
        &by_subject,
        (api, request.jobs),
        &mut outcome,
    )?;
    let tags = Tagging {
        store: &store,
        target: &target,
        graph: &graph,
        host: &request.host,
        repository: &request.repository,
        listed: listed.as_ref(),
    };
    // The other tags at once, then the release tags and a part's tag one by one, last.
    // The tags of the push at once; then its release tags at once, last; then a part's tag.
    let done = std::sync::Mutex::new(HashSet::new());
    for group in work.tag_groups() {
        let pushed = parallel(group, request.jobs, |(tag, id)| {
            let pushed = tags.write(tag, *id)?;
            if let Ok(mut done) = done.lock() {
                done.insert(tag.clone());
            }
            Ok(pushed)
        })
        .map_err(|e| {
            not_tagged(
                e,
                &work.tags,
                &done.lock().map(|d| d.clone()).unwrap_or_default(),
            )
        })?;
        for pushed in pushed {
            on_tag(&pushed);
            outcome.tags.push(pushed);
        }
    }
    outcome.requests = client.requests.load(Ordering::Relaxed);
    outcome.upload_sessions = client.upload_sessions.load(Ordering::Relaxed);
    outcome.uploads_resumed = client.resumed.load(Ordering::Relaxed);
    outcome.bytes_resumed = client.resumed_bytes.load(Ordering::Relaxed);
    Ok(outcome)
}

/// Pages of a repository's tag list a push reads to know which of its tags are there.
const LISTED_PAGES: usize = 2;

/// What writes a push's tags.
struct Tagging<'a> {
    store: &'a Layout,
    target: &'a Repository,
    graph: &'a Graph,
    host: &'a str,
    repository: &'a str,
    /// The repository's tags before the push, where known.
    listed: Option<&'a HashSet<String>>,
}

/// A failure `error` to write a tag, saying which of the push's `tags` (in order) are not
/// written: those not `done`.
fn not_tagged(error: PushError, tags: &[(String, NodeId)], done: &HashSet<String>) -> PushError {
    let names: Vec<&str> = tags
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !done.contains(*t))
        .collect();
    let state = format!(
        "every blob and manifest is pushed, but not the tags {}",
        crate::util::text::list(&names)
    );
    match error {
        PushError::Registry { error, .. } => PushError::Registry { error, state },
        other @ PushError::Push { .. } => other,
    }
}

impl Tagging<'_> {
    /// Points `tag` at node `id`, unless the registry has it there already (asked only where
    /// the tag may be there). A registry's error says no state yet: [`not_tagged`] adds it.
    fn write(&self, tag: &str, id: NodeId) -> Result<PushedTag, PushError> {
        let node = &self.graph.nodes[id];
        let digest = &node.descriptor.digest;
        let client = self.target.client();
        let there = if self.listed.is_some_and(|listed| !listed.contains(tag)) {
            None
        } else {
            client
                .head_manifest(tag, ACCEPT)
                .map_err(|e| registry_error(&e, ""))?
        };
        let unchanged = there.as_deref() == Some(&digest.to_string());
        if !unchanged {
            let bytes = document(self.store, &node.descriptor)?;
            self.target
                .tag(&node.descriptor, &bytes, tag)
                .map_err(|e| registry_error(&registry_failure(e), ""))?;
        }
        Ok(PushedTag {
            tag: tag.to_owned(),
            digest: digest.to_string(),
            media_type: node.descriptor.media_type.clone(),
            size: node.descriptor.size,
            artifact_type: node.descriptor.artifact_type.clone(),
            destination: format!("{}/{}:{tag}", self.host, self.repository),
            unchanged,
        })
    }
}

fn registry_error(e: &super::Error, state: &str) -> PushError {
    PushError::Registry {
        error: e.clone(),
        state: state.to_owned(),
    }
}

/// Which tags, blobs and documents to push, in order.
fn plan(graph: &Graph, wanted: &[String], part_tag: Option<&str>) -> Result<Work, PushError> {
    // Every tag of index.json, and the node it names.
    let mut by_tag: BTreeMap<String, NodeId> = BTreeMap::new();
    let mut records = Vec::new();
    for entry in &graph.roots {
        if let Child::Node(id, descriptor) = entry {
            if let Some(tag) = descriptor.ref_name() {
                by_tag.insert(tag.to_owned(), *id);
            } else if descriptor.artifact_type.as_deref() == Some(PART) {
                records.push(*id);
            }
        }
    }
    let part = part::record_tag(&by_tag, &records, part_tag)?;
    let missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|t| !by_tag.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        return Err(fail(
            "glc::push::tag",
            format!(
                "the layout has no tag {}",
                crate::util::text::list(&missing)
            ),
            Some("`glc inspect LAYOUT` lists its tags"),
        ));
    }
    let mut seen = HashSet::new();
    let mut manifests = Vec::new();
    let mut selected: BTreeMap<String, NodeId> = BTreeMap::new();
    for (tag, id) in &by_tag {
        if wanted.is_empty() || wanted.contains(tag) {
            selected.insert(tag.clone(), *id);
            collect(graph, *id, &mut seen, &mut manifests);
        }
    }
    // Attachments of what is pushed (untagged entries whose subject is pushed), and cosign's
    // signature tags of it, until nothing more hangs on what is pushed.
    loop {
        let mut more = false;
        for root in &graph.roots {
            let Child::Node(id, descriptor) = root else {
                continue;
            };
            if seen.contains(id) {
                continue;
            }
            let hangs = match descriptor.ref_name() {
                None => subject_of(graph, *id).is_some_and(|s| seen.contains(&s)),
                Some(tag) => crate::oci::name::cosign_subject(tag)
                    .and_then(|d| graph.find(&d))
                    .is_some_and(|s| seen.contains(&s)),
            };
            if hangs {
                if let Some(tag) = descriptor.ref_name() {
                    selected.insert(tag.to_owned(), *id);
                }
                collect(graph, *id, &mut seen, &mut manifests);
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    // A name the layout allows may still be no registry tag (`a/b`, `a:b`): refused before
    // the registry is asked anything.
    if let Some(bad) = selected
        .keys()
        .find_map(|t| crate::oci::name::check_tag(t).err())
    {
        return Err(fail(
            "glc::push::tag",
            format!("the layout's {bad}; nothing was pushed"),
            Some(
                "retag it with a tag of the distribution spec, or push the other tags with `--tag`",
            ),
        ));
    }
    let mut blobs: Vec<(Digest, u64)> = seen
        .iter()
        .map(|id| &graph.nodes[*id])
        .filter(|n| n.document.is_none() && !Kind::of(&n.descriptor.media_type).is_document())
        .map(|n| (n.descriptor.digest.clone(), n.descriptor.size))
        .collect();
    blobs.sort();
    let (mut tags, release): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|(_, id)| graph.nodes[*id].descriptor.artifact_type.as_deref() != Some(RELEASE));
    let first = tags.len();
    tags.extend(release);
    let release = first..tags.len();
    // A part's own tag comes last: once it is there, the whole part is.
    if let Some((tag, id)) = part {
        collect(graph, id, &mut seen, &mut manifests);
        let blob = |id: &NodeId| {
            let n = &graph.nodes[*id];
            (n.document.is_none() && !Kind::of(&n.descriptor.media_type).is_document())
                .then(|| (n.descriptor.digest.clone(), n.descriptor.size))
        };
        for id in &seen {
            if let Some(b) = blob(id)
                && !blobs.contains(&b)
            {
                blobs.push(b);
            }
        }
        blobs.sort();
        tags.push((tag, id));
    }
    Ok(Work {
        blobs,
        manifests,
        tags,
        release,
    })
}

/// Post-order: a document after all its children.
fn collect(graph: &Graph, id: NodeId, seen: &mut HashSet<NodeId>, out: &mut Vec<NodeId>) {
    if !seen.insert(id) {
        return;
    }
    let node = &graph.nodes[id];
    if let Some(document) = &node.document {
        let mut children: Vec<NodeId> = document
            .children()
            .filter_map(|(_, child)| match child {
                Child::Node(c, _) => Some(*c),
                Child::Invalid(_) => None,
            })
            .collect();
        children.sort_by(|a, b| {
            graph.nodes[*a]
                .descriptor
                .digest
                .cmp(&graph.nodes[*b].descriptor.digest)
        });
        for child in children {
            collect(graph, child, seen, out);
        }
        out.push(id);
    }
}

fn subject_of(graph: &Graph, id: NodeId) -> Option<NodeId> {
    let subject = graph.nodes[id]
        .document
        .as_ref()?
        .subject
        .as_ref()?
        .as_ref()
        .ok()?;
    graph.find(&subject.digest)
}

/// A document's bytes from the layout, checked against its digest.
fn document(store: &Layout, descriptor: &Descriptor) -> Result<Vec<u8>, PushError> {
    store.fetch(descriptor, MAX_DOCUMENT).map_err(|e| {
        fail(
            "glc::push::layout",
            said_of_path(&e, &descriptor.digest),
            Some("`glc verify` says more"),
        )
    })
}

/// A layout's error about blob `digest`, said of its path in the layout.
fn said_of_path(error: &StoreError, digest: &Digest) -> String {
    let path = digest.blob_path();
    match error.inner() {
        StoreError::NotFound { .. } => format!("{path} is missing"),
        StoreError::Unsafe { error, .. } => error.message(&path),
        StoreError::Io { error, .. } => format!("cannot read {path}: {error}"),
        StoreError::TooLarge { limit, .. } => format!("{path} is larger than {limit} bytes"),
        StoreError::Size { .. } | StoreError::Digest { .. } => {
            format!("{path} does not hold the bytes of its digest")
        }
        other => other.to_string(),
    }
}

/// The registry's own error in a failure of its store, as [`registry_error`] takes it.
pub(super) fn registry_failure(error: StoreError) -> super::Error {
    match error {
        StoreError::Store(e) => match e.downcast::<super::Error>() {
            Ok(e) => *e,
            Err(e) => super::error(e.to_string()),
        },
        other => super::error(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_split_and_checked() {
        assert_eq!(
            parse_destination("127.0.0.1:5000/garden/linux"),
            Ok(("127.0.0.1:5000".to_owned(), "garden/linux".to_owned()))
        );
        assert!(parse_destination("gardenlinux").is_err());
        assert!(parse_destination("ghcr.io/Garden").is_err());
        assert!(
            parse_destination("ghcr.io/garden:1877")
                .unwrap_err()
                .contains("--tag")
        );
        assert!(parse_destination("ghcr.io/a//b").is_err());
    }
}
