//! `glc get SOURCE --metadata NAME`: a file of the release as a whole (the version, the
//! changelog, release notes, an SBOM, the release manifest), a layer of its `MetaData`
//! manifest found by its title.

use crate::oci::store::Store;
use serde_json::Value;

use super::{GetError, Got, Output, Request, release, source_error, title, verify, write};
use crate::build::assemble;
use crate::oci::Descriptor;
use crate::oci::limits::MAX_DOCUMENT;
use crate::sign::keys::PublicKey;

/// The release's `MetaData` manifest, read and checked: its descriptor and layers.
pub(super) fn metadata_layers(
    source: &dyn Store,
    release: &Descriptor,
) -> Result<(Descriptor, Vec<Descriptor>), GetError> {
    let broken = source_error(source);
    let bytes = source
        .fetch(release, MAX_DOCUMENT)
        .map_err(|e| broken(e.to_string()))?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| {
        broken(format!(
            "the release index {} is not JSON: {e}",
            release.digest
        ))
    })?;
    let metadata = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["artifactType"].as_str() == Some(assemble::METADATA))
        .ok_or_else(|| {
            broken(format!(
                "the release index {} lists no MetaData manifest",
                release.digest
            ))
        })?;
    let metadata = Descriptor::from_value(metadata).map_err(|e| {
        broken(format!(
            "the release index {}: MetaData: {}",
            release.digest, e.message
        ))
    })?;
    let bytes = source
        .fetch(&metadata, MAX_DOCUMENT)
        .map_err(|e| broken(e.to_string()))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| broken(format!("MetaData {} is not JSON: {e}", metadata.digest)))?;
    let layers = super::layers_of(&manifest, &format!("MetaData {}", metadata.digest), &broken)?;
    Ok((metadata, layers))
}

/// Writes the layer of `MetaData` titled `name` to `output`.
pub(super) fn get(
    source: &dyn Store,
    request: &Request<'_>,
    name: &str,
    output: &Output,
) -> Result<Got, GetError> {
    let release = release(source, request.tag)?;
    let (_, layers) = metadata_layers(source, &release)?;
    let Some(layer) = layers.iter().find(|l| title(l) == Some(name)) else {
        return Err(GetError::NoMetadataFile {
            name: name.to_owned(),
            titles: layers
                .iter()
                .map(|l| title(l).unwrap_or("?").to_owned())
                .collect(),
        });
    };
    let verified = verified(source, &release, request.key)?;
    write::write(source, layer, output)?;
    Ok(Got {
        cname: "metadata".to_owned(),
        title: title(layer).map(str::to_owned),
        media_type: layer.media_type.clone(),
        digest: layer.digest.to_string(),
        size: layer.size,
        verified,
    })
}

/// The release index's signature, checked with `key` if one is given: it covers `MetaData` and
/// every layer of it by digest.
fn verified(
    source: &dyn Store,
    release: &Descriptor,
    key: Option<&PublicKey>,
) -> Result<bool, GetError> {
    match key {
        Some(key) => verify(source, release, "the release index", key).map(|()| true),
        None => Ok(false),
    }
}
