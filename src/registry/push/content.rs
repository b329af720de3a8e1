//! The content of a push: blobs (uploaded, mounted from elsewhere or found there) and
//! documents by digest, each a document only once everything it names that the push carries
//! (its children, its subject) is there, on `--jobs` connections. What a document waits for
//! starts as soon as a connection is free, so no connection waits on a whole stage.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::super::mount::Mounted;
use super::super::source::Repository;
use super::{
    Elsewhere, Outcome, PushError, Request, document, registry_error, registry_failure,
    said_of_path, subject_of,
};
use crate::oci::store::{Content, Layout, StoreWrite as _};
use crate::oci::walk::{self, Child, Graph, NodeId};
use crate::oci::{Descriptor, Digest};
use crate::util::parallel::parallel_after;

/// When a push asks the registry whether it has a blob or document before writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// Always: the repository may hold any of it.
    Always,
    /// Only before an upload: a document is written and a blob mounted without asking, as
    /// the write is one request, as the question would be, and the same where it is there.
    BeforeUploads,
}

/// Where the blobs a layout does not hold come from, and when to ask for them first.
#[derive(Clone, Copy)]
pub(super) struct Provided<'a> {
    pub elsewhere: &'a dyn Elsewhere,
    /// The blobs `elsewhere` provides.
    pub external: &'a HashSet<Digest>,
    pub ask: Ask,
}

/// Pushes the `blobs` and the documents `manifests` (children first); returns whether the
/// registry keeps referrers itself.
pub(super) fn push_content(
    store: &Layout,
    target: &Repository,
    graph: &Graph,
    request: &Request,
    provided: Provided<'_>,
    (blobs, manifests): (&[(Digest, u64)], &[NodeId]),
    outcome: &mut Outcome,
) -> Result<bool, PushError> {
    let Provided {
        elsewhere,
        external,
        ask,
    } = provided;
    // Once the registry refuses a mount, every blob is asked for first: a refused mount is
    // a copy.
    let refused = AtomicBool::new(false);
    let mounted = AtomicU64::new(0);
    let copied = AtomicU64::new(0);
    let uploaded = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let keeps_referrers = AtomicBool::new(false);
    let pushed = AtomicU64::new(0);
    let documents_done = AtomicUsize::new(0);
    let progress = crate::util::progress::Progress::with_items(
        request.progress,
        "push",
        blobs.iter().map(|(_, size)| size).sum(),
        Some(("blobs", blobs.len() as u64)),
    );
    let blob = |digest: &Digest, size: u64| -> Result<bool, super::super::Error> {
        let descriptor = descriptor(graph, digest);
        let mount = external.contains(digest)
            && elsewhere.mounts(digest)
            && !refused.load(Ordering::Relaxed);
        let asked = ask == Ask::Always || !mount;
        if asked && target.exists(&descriptor).map_err(registry_failure)? {
            progress.there(size);
            return Ok(false);
        }
        if external.contains(digest) {
            let counter = match elsewhere.provide(target.client(), digest, size)? {
                Mounted::Linked => &mounted,
                Mounted::Copied => {
                    refused.store(true, Ordering::Relaxed);
                    &copied
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
            progress.there(size);
            return Ok(false);
        }
        let (file, stored): (File, u64) = store
            .open_file(&descriptor)
            .map_err(|e| super::super::error(said_of_path(&e, digest)))?;
        if stored != size {
            return Err(super::super::error(format!(
                "{} holds {stored} bytes, its descriptor says {size}",
                digest.blob_path()
            )));
        }
        // Counted as it is read to go up, each byte once however often it is sent again.
        let reached = AtomicU64::new(0);
        let sent = |at: u64| {
            let before = reached.fetch_max(at, Ordering::Relaxed);
            if at > before {
                progress.inc(at - before);
            }
        };
        target
            .push_blob(&descriptor, Content::File(&file), &sent)
            .map_err(registry_failure)?;
        sent(size);
        Ok(true)
    };
    let blob_item = |(digest, size): &(Digest, u64)| match blob(digest, *size) {
        Ok(went) => {
            progress.item_done();
            let counter = if went { &uploaded } else { &skipped };
            counter.fetch_add(1, Ordering::Relaxed);
            if went {
                bytes.fetch_add(*size, Ordering::Relaxed);
            }
            Ok(())
        }
        Err(e) => {
            let there = uploaded.load(Ordering::Relaxed) + skipped.load(Ordering::Relaxed);
            let state = format!(
                "blob {digest} was not pushed ({there} of {} blobs are there), nor any tag",
                blobs.len()
            );
            Err(registry_error(&e, &state))
        }
    };
    let document_item = |id: NodeId| {
        let descriptor = &graph.nodes[id].descriptor;
        let digest = &descriptor.digest;
        let state = || {
            format!(
                "manifest {digest} and {} more were not pushed, nor any tag",
                manifests
                    .len()
                    .saturating_sub(documents_done.load(Ordering::Relaxed) + 1)
            )
        };
        let there = ask == Ask::Always
            && target
                .exists(descriptor)
                .map_err(|e| registry_error(&registry_failure(e), &state()))?;
        if !there {
            let bytes = document(store, descriptor)?;
            let keeps = target
                .push_document(descriptor, &bytes)
                .map_err(|e| registry_error(&registry_failure(e), &state()))?;
            keeps_referrers.fetch_or(keeps, Ordering::Relaxed);
            pushed.fetch_add(1, Ordering::Relaxed);
        }
        documents_done.fetch_add(1, Ordering::Relaxed);
        Ok::<(), PushError>(())
    };
    let needs = needs(graph, blobs, manifests);
    let result = parallel_after(&needs, request.jobs, |item| {
        match item.checked_sub(blobs.len()) {
            None => blob_item(&blobs[item]),
            Some(document) => document_item(manifests[document]),
        }
    });
    progress.finish();
    outcome.blobs_uploaded = uploaded.into_inner();
    outcome.blobs_mounted = mounted.into_inner();
    outcome.blobs_copied = copied.into_inner();
    outcome.blobs_skipped = skipped
        .into_inner()
        .saturating_sub(outcome.blobs_mounted + outcome.blobs_copied);
    outcome.bytes_uploaded = bytes.into_inner();
    outcome.manifests_pushed = pushed.into_inner();
    outcome.manifests_skipped =
        (documents_done.into_inner() as u64).saturating_sub(outcome.manifests_pushed);
    result?;
    Ok(keeps_referrers.into_inner())
}

/// What each item of a push (the `blobs`, then the documents `manifests`) waits for: a
/// document, the blobs and documents it names that the push carries, and its subject.
fn needs(graph: &Graph, blobs: &[(Digest, u64)], manifests: &[NodeId]) -> Vec<Vec<usize>> {
    let blob_at: HashMap<&Digest, usize> = blobs
        .iter()
        .enumerate()
        .map(|(i, (digest, _))| (digest, i))
        .collect();
    let document_at: HashMap<NodeId, usize> = manifests
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, blobs.len() + i))
        .collect();
    let item = |id: NodeId| {
        document_at
            .get(&id)
            .or_else(|| blob_at.get(&graph.nodes[id].descriptor.digest))
            .copied()
    };
    let mut needs = vec![Vec::new(); blobs.len()];
    for id in manifests {
        let children = graph.nodes[*id]
            .document
            .iter()
            .flat_map(walk::Document::children)
            .filter_map(|(_, child)| match child {
                Child::Node(c, _) => Some(*c),
                Child::Invalid(_) => None,
            });
        needs.push(
            children
                .chain(subject_of(graph, *id))
                .filter_map(item)
                .collect::<HashSet<usize>>()
                .into_iter()
                .collect(),
        );
    }
    needs
}

/// The descriptor of blob `digest` as the graph has it.
pub(super) fn descriptor(graph: &Graph, digest: &Digest) -> Descriptor {
    graph.find(digest).map_or_else(
        || Descriptor::of_digest(digest.clone()),
        |id| graph.nodes[id].descriptor.clone(),
    )
}
