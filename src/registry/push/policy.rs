//! The tag policy of a push: a moving release tag (`latest`, the major version: any release
//! tag but the version itself) never moves to an older version than the one it points at,
//! unless asked (`--allow-older`).

use std::cmp::Ordering;

use serde_json::Value;

use super::{PushError, Work, fail, registry_error};
use crate::oci::vocab::artifact::RELEASE;
use crate::oci::walk::Graph;
use crate::registry::{ACCEPT, Client};

/// The annotation a release index carries its version in.
const VERSION: &str = "org.opencontainers.image.version";

/// `a` against `b` as release versions (`1877.3` < `1877.10` < `1878`): dot-separated
/// numbers, compared number by number; `None` where either is not such a version.
#[must_use]
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let numbers = |v: &str| -> Option<Vec<u64>> {
        v.split('.')
            .map(|n| {
                (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse().ok())
                    .flatten()
            })
            .collect()
    };
    Some(numbers(a)?.cmp(&numbers(b)?))
}

/// Refuses, before anything is pushed, to move a moving release tag of `work` to an older
/// version than the registry's tag points at.
pub(super) fn check(client: &Client, graph: &Graph, work: &Work) -> Result<(), PushError> {
    for (tag, id) in &work.tags {
        let node = &graph.nodes[*id];
        if node.descriptor.artifact_type.as_deref() != Some(RELEASE) {
            continue;
        }
        let Some(version) = node
            .document
            .as_ref()
            .and_then(|d| d.annotations.get(VERSION))
        else {
            continue;
        };
        if tag == version {
            continue;
        }
        let there = client
            .get_manifest(tag, ACCEPT)
            .map_err(|e| registry_error(&e, "nothing was pushed"))?;
        let Some(there) = there else { continue };
        if there.digest == node.descriptor.digest {
            continue;
        }
        let document: Value = serde_json::from_slice(&there.bytes).unwrap_or_default();
        if document["artifactType"].as_str() != Some(RELEASE) {
            continue;
        }
        let Some(current) = document["annotations"][VERSION].as_str() else {
            continue;
        };
        if compare_versions(version, current) == Some(Ordering::Less) {
            return Err(fail(
                "glc::push::older",
                format!(
                    "`{}/{}:{tag}` points at release {current}; moving it to {version}, an older one, is refused; nothing was pushed",
                    client.host, client.repository
                ),
                Some(
                    "a moving tag only moves forward; pass --allow-older to move it back (say, to withdraw a broken release)",
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_number_by_number() {
        assert_eq!(compare_versions("1877.3", "1877.10"), Some(Ordering::Less));
        assert_eq!(compare_versions("1878", "1877.10"), Some(Ordering::Greater));
        assert_eq!(compare_versions("1877", "1877.0"), Some(Ordering::Less));
        assert_eq!(compare_versions("1877.3", "1877.3"), Some(Ordering::Equal));
        assert_eq!(compare_versions("today", "1877.3"), None);
        assert_eq!(compare_versions("1877.", "1877.3"), None);
    }
}
