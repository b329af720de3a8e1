//! A part (`glc build --only`, pushed with `glc push PART REGISTRY/REPO:NAME`) as a source of
//! images: its tag names its part record, whose images `glc get` finds as in a release. The
//! record is assembled again (documents only, nothing written) for the digests of the
//! images' manifests, which the part holds.

use std::collections::BTreeMap;

use super::{GetError, Image, source_error};
use crate::build::assemble::{self, PART, PART_RECORD};
use crate::oci::Descriptor;
use crate::oci::layout::LayoutWriter;
use crate::oci::limits::MAX_DOCUMENT;
use crate::oci::store::Store;
use crate::oci::vocab::Kind;

/// The images of the release `tag` names (or of the only one) with the release index, or of
/// the part it names.
pub(super) fn images_at(
    source: &dyn Store,
    tag: Option<&str>,
) -> Result<(Option<Descriptor>, Vec<Image>), GetError> {
    if let Some(images) = images(source, tag)? {
        return Ok((None, images));
    }
    let release = super::release(source, tag)?;
    let images = super::images(source, &release)?;
    Ok((Some(release), images))
}

/// The images of the part `tag` names, or `None` where it names no part.
fn images(source: &dyn Store, tag: Option<&str>) -> Result<Option<Vec<Image>>, GetError> {
    let broken = source_error(source);
    let Some(tag) = tag else { return Ok(None) };
    let Some(descriptor) = source.resolve(tag).map_err(|e| broken(e.to_string()))? else {
        return Ok(None);
    };
    if descriptor.kind() != Kind::Manifest
        || descriptor
            .artifact_type
            .as_deref()
            .is_some_and(|t| t != PART)
    {
        return Ok(None);
    }
    let bytes = source
        .fetch(&descriptor, MAX_DOCUMENT)
        .map_err(|e| broken(e.to_string()))?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| broken(format!("manifest {} is not JSON: {e}", descriptor.digest)))?;
    if manifest["artifactType"].as_str() != Some(PART) {
        return Ok(None);
    }
    let layer = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["mediaType"].as_str() == Some(PART_RECORD))
        .and_then(|l| Descriptor::from_value(l).ok())
        .ok_or_else(|| broken(format!("the part {} has no record", descriptor.digest)))?;
    let record = source
        .fetch(&layer, crate::build::merge::MAX_RECORD)
        .map_err(|e| broken(e.to_string()))?;
    let (assembly, _) = crate::build::merge::read_record(&record)
        .map_err(|(problem, _)| broken(format!("the part {}: {problem}", descriptor.digest)))?;
    let again = assemble::finish(&assembly, LayoutWriter::dry(), BTreeMap::new())
        .ok()
        .filter(|again| {
            again.part.as_ref().map(|p| p.digest.as_str()) == Some(&descriptor.digest.to_string())
        })
        .ok_or_else(|| GetError::PartNotItsRecord {
            source: source.name(),
            tag: tag.to_owned(),
        })?;
    Ok(Some(
        assembly
            .images
            .iter()
            .filter_map(|image| {
                let target = again.tags.get(&image.cname)?;
                Some(Image {
                    cname: image.cname.clone(),
                    matrix: image.matrix.0.iter().cloned().collect(),
                    digest: target.digest.clone(),
                    media_type: target.media_type.clone(),
                    size: target.size,
                })
            })
            .collect(),
    ))
}
