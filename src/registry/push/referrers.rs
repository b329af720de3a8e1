//! The referrers of what a push put up: listed through the registry's referrers API, or in
//! the fallback tags `sha256-<hex>` where it has none; read back once pushed and mended
//! where the registry lost one.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::super::source::Repository;
use super::super::{Client, parallel};
use super::{Outcome, PushError, document, fail, registry_error, registry_failure, subject_of};
use crate::oci::Digest;
use crate::oci::store::{Layout, StoreWrite as _};
use crate::oci::vocab::media;
use crate::oci::walk::{Graph, NodeId};
use crate::util::text::count;

/// The descriptor of a referrer as the referrers API lists it.
fn referrer_descriptor(graph: &Graph, id: NodeId) -> Value {
    let node = &graph.nodes[id];
    let mut descriptor = serde_json::json!({
        "mediaType": node.descriptor.media_type,
        "digest": node.descriptor.digest.to_string(),
        "size": node.descriptor.size,
    });
    if let Some(document) = &node.document {
        if let Some(artifact_type) = &document.artifact_type {
            descriptor["artifactType"] = artifact_type.clone().into();
        }
        if !document.annotations.is_empty() {
            descriptor["annotations"] =
                serde_json::to_value(&document.annotations).unwrap_or_default();
        }
    }
    descriptor
}

/// The pushed referrers (attachments) by the digest of their subject.
pub(super) fn referrers_by_subject(
    graph: &Graph,
    manifests: &[NodeId],
) -> BTreeMap<Digest, Vec<NodeId>> {
    let mut by_subject: BTreeMap<Digest, Vec<NodeId>> = BTreeMap::new();
    for id in manifests {
        if let Some(subject) = subject_of(graph, *id) {
            by_subject
                .entry(graph.nodes[subject].descriptor.digest.clone())
                .or_default()
                .push(*id);
        }
    }
    by_subject
}

/// The distribution-spec 1.1 fallback tag of `subject`.
fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The fallback tag's image index of `subject`: what is there, or a new empty one.
fn fallback_index(client: &Client, subject: &Digest, state: &str) -> Result<Value, PushError> {
    let tag = fallback_tag(subject);
    // Read even where the repository's tag list did not hold it a moment ago: another writer
    // may have put it since, and what it lists is kept.
    let there = client
        .get_manifest(&tag, media::INDEX)
        .map_err(|e| registry_error(&e, state))?;
    match there.map(|manifest| serde_json::from_slice::<Value>(&manifest.bytes)) {
        Some(Ok(index)) if index["manifests"].is_array() => Ok(index),
        Some(_) => Err(fail(
            "glc::push::registry",
            format!(
                "the referrers tag {tag} of {} holds something that is not an image index",
                client.repository
            ),
            Some("delete that tag, then push again"),
        )),
        None => Ok(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::INDEX,
            "manifests": [],
        })),
    }
}

/// The digests an index's `manifests` (or a referrers list) names.
fn listed_digests<'v>(entries: impl IntoIterator<Item = &'v Value>) -> HashSet<String> {
    entries
        .into_iter()
        .filter_map(|d| d["digest"].as_str().map(str::to_owned))
        .collect()
}

/// Writes the distribution-spec 1.1 fallback tag `sha256-<subject hex>` of every subject in
/// `by_subject`: what is there, with the missing referrers added (descriptors other tools
/// listed are kept). Returns how many tags it wrote.
pub(super) fn push_referrers(
    client: &Client,
    graph: &Graph,
    by_subject: &BTreeMap<Digest, Vec<NodeId>>,
    jobs: usize,
) -> Result<u64, PushError> {
    let state = "every blob and manifest is pushed, but not the referrers tags nor any tag";
    let subjects: Vec<(&Digest, &Vec<NodeId>)> = by_subject.iter().collect();
    // Each subject's tag is its own: they are written at once.
    let written = parallel(&subjects, jobs, |(subject, referrers)| {
        let mut index = fallback_index(client, subject, state)?;
        let listed = listed_digests(index["manifests"].as_array().into_iter().flatten());
        let mut changed = false;
        for id in *referrers {
            let descriptor = referrer_descriptor(graph, *id);
            if !listed.contains(&graph.nodes[*id].descriptor.digest.to_string())
                && let Some(list) = index["manifests"].as_array_mut()
            {
                list.push(descriptor);
                changed = true;
            }
        }
        if !changed {
            return Ok(0);
        }
        let bytes = serde_json::to_vec(&index).map_err(|e| {
            fail(
                "glc::internal",
                format!("cannot write the referrers index: {e}"),
                None,
            )
        })?;
        client
            .put_manifest(
                &fallback_tag(subject),
                media::INDEX,
                &bytes,
                &Digest::of(&bytes),
            )
            .map_err(|e| registry_error(&e, state))?;
        Ok(1)
    })?;
    Ok(written.into_iter().sum())
}

const MEND_ROUNDS: u32 = 3;
const MEND_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads back the referrers of every pushed subject (the referrers API where the registry
/// keeps them, else the fallback tag) and mends what the registry does not list: a registry
/// that keeps referrers can lose one of several updates made at once, and another writer can
/// put a fallback tag over ours. Through the API a missing referrer's manifest is put again
/// (which makes the registry index it); a fallback tag is merged and put again. Fails if the
/// registry still does not list them all after [`MEND_ROUNDS`] mends.
pub(super) fn mend_referrers(
    store: &Layout,
    target: &Repository,
    graph: &Graph,
    by_subject: &BTreeMap<Digest, Vec<NodeId>>,
    (api, jobs): (bool, usize),
    outcome: &mut Outcome,
) -> Result<(), PushError> {
    let state =
        "every blob and manifest is pushed, but not every referrer is listed, nor any tag is moved";
    let client = target.client();
    let mut mended: HashSet<NodeId> = HashSet::new();
    let subjects: Vec<(&Digest, &Vec<NodeId>)> = by_subject.iter().collect();
    for round in 0..=MEND_ROUNDS {
        // Each subject's list read back, at once; `None`: the registry lists no referrers of
        // it through its API, though it answered `OCI-Subject`: nothing to check.
        let lists = parallel(&subjects, jobs, |(subject, _)| {
            if api {
                Ok(client
                    .referrers(subject)
                    .map_err(|e| registry_error(&e, state))?
                    .map(|list| listed_digests(&list)))
            } else {
                let index = fallback_index(client, subject, state)?;
                Ok(Some(listed_digests(
                    index["manifests"].as_array().into_iter().flatten(),
                )))
            }
        })?;
        let mut missing: BTreeMap<Digest, Vec<NodeId>> = BTreeMap::new();
        for ((subject, referrers), listed) in subjects.iter().zip(lists) {
            let Some(listed) = listed else {
                return Ok(());
            };
            let absent: Vec<NodeId> = referrers
                .iter()
                .copied()
                .filter(|id| !listed.contains(&graph.nodes[*id].descriptor.digest.to_string()))
                .collect();
            if !absent.is_empty() {
                missing.insert((*subject).clone(), absent);
            }
        }
        let Some((subject, absent)) = missing.iter().next() else {
            outcome.referrers_mended = mended.len() as u64;
            return Ok(());
        };
        if round == MEND_ROUNDS {
            let total: usize = missing.values().map(Vec::len).sum();
            return Err(fail(
                "glc::push::registry",
                format!(
                    "{} does not list {} of the pushed subjects after {MEND_ROUNDS} mends, e.g. {} of {subject}; {state}",
                    client.host,
                    count(total, "referrer"),
                    graph.nodes[absent[0]].descriptor.digest,
                ),
                Some(
                    "run the same `glc push` again, which reads the referrers back and mends them again; if they stay missing, the registry does not keep them",
                ),
            ));
        }
        if api {
            for id in missing.values().flatten() {
                let descriptor = &graph.nodes[*id].descriptor;
                let bytes = document(store, descriptor)?;
                target
                    .push_document(descriptor, &bytes)
                    .map_err(|e| registry_error(&registry_failure(e), state))?;
            }
        } else {
            outcome.referrer_tags += push_referrers(client, graph, &missing, jobs)?;
        }
        mended.extend(missing.values().flatten().copied());
        if round > 0 {
            std::thread::sleep(MEND_WAIT * (1 << (round - 1)));
        }
    }
    // The loop returns in its last round.
    Ok(())
}
