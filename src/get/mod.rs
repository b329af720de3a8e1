//! `glc get`: one file of one cloud image of a release, checked against its digest (and with
//! `--key`, against the image's signature), without knowing the OCI graph.
//!
//! The way down: the release tag → the Release index → `MetaData` → the release manifest, which
//! names every image with its cname and matrix values → the chosen image's manifest, whose
//! layers are its files → the layer, streamed into a file beside the output and renamed into
//! place only when its digest and size are right. Attachments are the manifests that name
//! the image as their `subject`. Every document on the way is read within glc's limits,
//! checked against the digest that leads to it, and whatever is printed from it made
//! [`printable`].
//!
//! All reading goes through a [`Store`]: a layout directory
//! ([`crate::oci::store::Layout`]) or a registry repository
//! ([`crate::registry::source::Reader`]), and `glc get` takes either.

mod error;
mod metadata;
mod part;
mod write;

pub use error::{Asked, GetError, ReleaseTags};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::build::assemble;
use crate::front::role::Role;
use crate::oci::limits::{MAX_DOCUMENT, MAX_RELEASE_MANIFEST};
use crate::oci::store::Store;
use crate::oci::vocab::{Kind, annotation};
use crate::oci::{Descriptor, Digest, printable};
use crate::sign::{self, keys::PublicKey};

/// The artifact types of attachments: `application/io.gardenlinux.<kind>`.
const ATTACHMENT_TYPE: &str = crate::oci::vocab::artifact::PREFIX;

/// Which file of the image to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Role(Role),
    File(String),
    Attachment(String),
    /// A file of the release as a whole, by its title in `MetaData`.
    Metadata(String),
}

/// Where to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// A `glc get` or `glc get --list`.
#[derive(Debug)]
pub struct Request<'a> {
    pub selector: &'a str,
    pub tag: Option<&'a str>,
    pub key: Option<&'a PublicKey>,
}

/// What `glc get` wrote.
#[derive(Debug, serde::Serialize)]
pub struct Got {
    pub cname: String,
    pub title: Option<String>,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub verified: bool,
}

impl Got {
    /// The line a person reads: what was written, and whether its signature was verified.
    #[must_use]
    pub fn summary_text(&self) -> String {
        format!(
            "{}: {} ({}, {} bytes, {}{})",
            printable(&self.cname),
            printable(self.title.as_deref().unwrap_or("?")),
            printable(&self.media_type),
            self.size,
            self.digest,
            if self.verified {
                ", signature verified"
            } else {
                ""
            }
        )
    }
}

/// One image as the release manifest lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub cname: String,
    #[serde(default)]
    pub matrix: BTreeMap<String, String>,
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
struct ReleaseManifest {
    #[serde(default)]
    images: Vec<Image>,
}

/// An image with what its manifest holds.
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    pub cname: String,
    pub matrix: BTreeMap<String, String>,
    pub digest: String,
    /// The roles found among its layers, by name.
    pub roles: BTreeMap<String, String>,
    pub files: Vec<ListedLayer>,
    pub attachments: Vec<ListedLayer>,
}

#[derive(Debug, serde::Serialize)]
pub struct ListedLayer {
    /// An attachment's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub title: Option<String>,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// A document or blob of `source` that is not what it must be, said by what is wrong.
fn source_error(source: &dyn Store) -> impl Fn(String) -> GetError + '_ {
    move |problem| GetError::Damaged {
        source: source.name(),
        problem,
    }
}

/// The roles `--role` finds a layer by, in manifest order: those whose layer has a media type
/// of its own.
pub fn layer_roles() -> impl Iterator<Item = Role> {
    Role::LAYERS
        .into_iter()
        .filter(|role| !role.layer_media_types().is_empty())
}

/// The releases among the source's tags (only `only`, if given): digest → descriptor and tags.
type Releases = BTreeMap<Digest, (Descriptor, Vec<String>)>;

fn releases(source: &dyn Store, only: Option<&str>) -> Result<Releases, GetError> {
    let broken = source_error(source);
    let is_release = |descriptor: &Descriptor| -> Result<bool, GetError> {
        if descriptor.kind() != Kind::Index
            || descriptor
                .artifact_type
                .as_deref()
                .is_some_and(|t| t != assemble::RELEASE)
        {
            return Ok(false);
        }
        let bytes = source
            .fetch(descriptor, MAX_DOCUMENT)
            .map_err(|e| broken(e.to_string()))?;
        let index: Value = serde_json::from_slice(&bytes)
            .map_err(|e| broken(format!("index {} is not JSON: {e}", descriptor.digest)))?;
        Ok(index["artifactType"].as_str() == Some(assemble::RELEASE))
    };
    let mut releases = Releases::new();
    let mut checked: BTreeMap<Digest, bool> = BTreeMap::new();
    for (name, descriptor) in source.tags().map_err(|e| broken(e.to_string()))? {
        if sign::cosign::is_signature_tag(&name) || only.is_some_and(|only| only != name) {
            continue;
        }
        let yes = if let Some(yes) = checked.get(&descriptor.digest) {
            *yes
        } else {
            let yes = is_release(&descriptor)?;
            checked.insert(descriptor.digest.clone(), yes);
            yes
        };
        if yes {
            releases
                .entry(descriptor.digest.clone())
                .or_insert_with(|| (descriptor.clone(), Vec::new()))
                .1
                .push(name);
        }
    }
    Ok(releases)
}

/// The release the source offers: `tag`'s, or the only one. With a tag, only that tag is
/// read (unless it is no release tag: then every tag, to list them).
pub fn release(source: &dyn Store, tag: Option<&str>) -> Result<Descriptor, GetError> {
    if let Some(tag) = tag
        && let Some((descriptor, _)) = releases(source, Some(tag))?.into_values().next()
    {
        return Ok(descriptor);
    }
    let mut found: Vec<(Descriptor, Vec<String>)> = releases(source, None)?.into_values().collect();
    let listed = |found: Vec<(Descriptor, Vec<String>)>| -> Vec<ReleaseTags> {
        found
            .into_iter()
            .map(|(descriptor, tags)| (tags, descriptor.digest))
            .collect()
    };
    if let Some(tag) = tag {
        return Err(GetError::NoReleaseTag {
            source: source.name(),
            tag: tag.to_owned(),
            releases: listed(found),
        });
    }
    match found.len() {
        1 => Ok(found.swap_remove(0).0),
        0 => Err(GetError::NoRelease {
            source: source.name(),
        }),
        _ => Err(GetError::Releases {
            source: source.name(),
            releases: listed(found),
        }),
    }
}

/// The images the release lists, from its release manifest.
pub fn images(source: &dyn Store, release: &Descriptor) -> Result<Vec<Image>, GetError> {
    let broken = source_error(source);
    let (metadata, layers) = metadata::metadata_layers(source, release)?;
    let layer = layers
        .iter()
        .find(|l| l.media_type == assemble::RELEASE_MANIFEST)
        .ok_or_else(|| {
            broken(format!(
                "MetaData {} holds no release manifest ({})",
                metadata.digest,
                assemble::RELEASE_MANIFEST
            ))
        })?;
    let bytes = source
        .fetch(layer, MAX_RELEASE_MANIFEST)
        .map_err(|e| broken(e.to_string()))?;
    let parsed: ReleaseManifest = serde_json::from_slice(&bytes).map_err(|e| {
        broken(format!(
            "the release manifest {} is not one glc reads: {e}",
            layer.digest
        ))
    })?;
    Ok(parsed.images)
}

/// The images `selector` names: `.` or nothing all; `key=value,…` by matrix values; else the
/// cname itself, or every cname it begins.
pub fn select<'a>(images: &'a [Image], selector: &str) -> Result<Vec<&'a Image>, GetError> {
    let selector = selector.trim();
    if selector.is_empty() || selector == "." {
        return Ok(images.iter().collect());
    }
    if selector.contains('=') {
        let known: BTreeSet<&str> = images
            .iter()
            .flat_map(|i| i.matrix.keys().map(String::as_str))
            .collect();
        let mut wanted = Vec::new();
        for pair in selector.split(',') {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(GetError::NotKeyValue(pair.to_owned()));
            };
            let key = key.trim();
            if !known.contains(key) {
                return Err(GetError::UnknownKey {
                    key: key.to_owned(),
                    keys: known.iter().map(|k| (*k).to_owned()).collect(),
                });
            }
            wanted.push((key, value.trim()));
        }
        return Ok(images
            .iter()
            .filter(|i| {
                wanted
                    .iter()
                    .all(|(k, v)| i.matrix.get(*k).is_some_and(|x| x == v))
            })
            .collect());
    }
    if let Some(image) = images.iter().find(|i| i.cname == selector) {
        return Ok(vec![image]);
    }
    Ok(images
        .iter()
        .filter(|i| i.cname.starts_with(selector))
        .collect())
}

/// `cname (k=v, …)` for lists of candidates.
fn describe(image: &Image) -> String {
    let values: Vec<String> = image
        .matrix
        .iter()
        .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
        .collect();
    format!("{} ({})", printable(&image.cname), values.join(", "))
}

/// The one image `selector` names, else the candidates.
fn one<'a>(source: &dyn Store, images: &'a [Image], selector: &str) -> Result<&'a Image, GetError> {
    let selected = select(images, selector)?;
    if let [image] = selected[..] {
        return Ok(image);
    }
    let matched = selected.len();
    let shown = if selected.is_empty() {
        images.iter().collect::<Vec<_>>()
    } else {
        selected
    };
    Err(GetError::NotOne {
        source: source.name(),
        selector: selector.to_owned(),
        matched,
        shown: shown.into_iter().map(describe).collect(),
    })
}

/// An image's manifest, read and checked: its layers.
fn image_layers(
    source: &dyn Store,
    image: &Image,
) -> Result<(Descriptor, Vec<Descriptor>), GetError> {
    let broken = source_error(source);
    let descriptor = Descriptor::from_value(&serde_json::json!({
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": image.size,
    }))
    .map_err(|e| {
        broken(format!(
            "the release manifest's entry of {}: {}",
            printable(&image.cname),
            e.message
        ))
    })?;
    let bytes = source
        .fetch(&descriptor, MAX_DOCUMENT)
        .map_err(|e| broken(e.to_string()))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| broken(format!("manifest {} is not JSON: {e}", descriptor.digest)))?;
    if manifest["artifactType"].as_str() != Some(assemble::CLOUD_IMAGE)
        || manifest["annotations"][annotation::CNAME].as_str() != Some(image.cname.as_str())
    {
        return Err(broken(format!(
            "manifest {} is not the cloud image {} the release manifest says it is",
            descriptor.digest,
            printable(&image.cname)
        )));
    }
    let layers = layers_of(
        &manifest,
        &format!("manifest {}", descriptor.digest),
        &broken,
    )?;
    Ok((descriptor, layers))
}

/// The descriptors of `manifest`'s layers, each checked; `named` says which manifest in an
/// error (`manifest sha256:…`, `MetaData sha256:…`).
fn layers_of(
    manifest: &Value,
    named: &str,
    broken: &impl Fn(String) -> GetError,
) -> Result<Vec<Descriptor>, GetError> {
    manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|raw| {
            Descriptor::from_value(raw).map_err(|e| broken(format!("{named}: {}", e.message)))
        })
        .collect()
}

fn title(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations
        .get(annotation::TITLE)
        .map(String::as_str)
}

/// The kind of an attachment, from its artifact type.
fn kind_of(artifact_type: Option<&str>) -> String {
    match artifact_type {
        Some(t) => t.strip_prefix(ATTACHMENT_TYPE).unwrap_or(t).to_owned(),
        None => "?".to_owned(),
    }
}

/// The layer of an attachment manifest.
fn attachment_layer(
    source: &dyn Store,
    attachment: &Descriptor,
    subject: &Digest,
) -> Result<Descriptor, GetError> {
    let broken = source_error(source);
    let bytes = source
        .fetch(attachment, MAX_DOCUMENT)
        .map_err(|e| broken(e.to_string()))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| broken(format!("manifest {} is not JSON: {e}", attachment.digest)))?;
    if manifest["subject"]["digest"].as_str() != Some(subject.to_string().as_str()) {
        return Err(broken(format!(
            "attachment {} does not name {subject} as its subject",
            attachment.digest
        )));
    }
    match manifest["layers"].as_array().map(Vec::as_slice) {
        Some([layer]) => Descriptor::from_value(layer)
            .map_err(|e| broken(format!("attachment {}: {}", attachment.digest, e.message))),
        _ => Err(broken(format!(
            "attachment {} does not hold exactly one layer",
            attachment.digest
        ))),
    }
}

/// What an image holds: roles, files and attachments.
fn listed(source: &dyn Store, image: &Image) -> Result<Listed, GetError> {
    let (manifest, layers) = image_layers(source, image)?;
    let mut roles = BTreeMap::new();
    for role in layer_roles() {
        if let Some(layer) = role_layer(&layers, role) {
            roles.insert(
                role.node().to_owned(),
                title(layer).unwrap_or_default().to_owned(),
            );
        }
    }
    let files = layers
        .iter()
        .map(|l| ListedLayer {
            kind: None,
            title: title(l).map(str::to_owned),
            media_type: l.media_type.clone(),
            digest: l.digest.to_string(),
            size: l.size,
        })
        .collect();
    let mut attachments = Vec::new();
    let referrers = source
        .referrers(&manifest.digest, None)
        .map_err(|e| source_error(source)(e.to_string()))?;
    for attachment in referrers {
        if !attachment
            .artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(ATTACHMENT_TYPE))
        {
            continue;
        }
        let layer = attachment_layer(source, &attachment, &manifest.digest)?;
        attachments.push(ListedLayer {
            kind: Some(kind_of(attachment.artifact_type.as_deref())),
            title: title(&layer).map(str::to_owned),
            media_type: layer.media_type.clone(),
            digest: layer.digest.to_string(),
            size: layer.size,
        });
    }
    attachments.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(Listed {
        cname: image.cname.clone(),
        matrix: image.matrix.clone(),
        digest: image.digest.clone(),
        roles,
        files,
        attachments,
    })
}

/// The layer of a role: the first of its media types (glc writes the roles' layers before
/// every `file`).
fn role_layer(layers: &[Descriptor], role: Role) -> Option<&Descriptor> {
    let types = role.layer_media_types();
    layers
        .iter()
        .find(|l| types.contains(&l.media_type.as_str()))
}

/// `glc get --list`: every image `selector` matches, with what it holds.
pub fn list(source: &dyn Store, request: &Request<'_>) -> Result<Vec<Listed>, GetError> {
    let (_, images) = part::images_at(source, request.tag)?;
    select(&images, request.selector)?
        .into_iter()
        .map(|image| listed(source, image))
        .collect()
}

/// The human table of `--list`: a line an image, then its roles, files and attachments.
#[must_use]
pub fn render(listed: &[Listed]) -> String {
    let mut text = String::new();
    for image in listed {
        let values: Vec<String> = image
            .matrix
            .iter()
            .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
            .collect();
        let _ = writeln!(text, "{}  {}", printable(&image.cname), values.join(" "));
        let roles = role_names(image);
        let _ = writeln!(
            text,
            "  roles:       {}",
            if roles.is_empty() {
                "-".to_owned()
            } else {
                roles.join(", ")
            }
        );
        let files: Vec<String> = image
            .files
            .iter()
            .map(|f| printable(f.title.as_deref().unwrap_or("?")).into_owned())
            .collect();
        let _ = writeln!(text, "  files:       {}", files.join(", "));
        let attachments: Vec<String> = image
            .attachments
            .iter()
            .map(|a| printable(a.kind.as_deref().unwrap_or("?")).into_owned())
            .collect();
        let _ = writeln!(
            text,
            "  attachments: {}",
            if attachments.is_empty() {
                "-".to_owned()
            } else {
                attachments.join(", ")
            }
        );
    }
    text
}

/// The roles an image has, in manifest order.
fn role_names(listed: &Listed) -> Vec<&'static str> {
    layer_roles()
        .map(Role::node)
        .filter(|name| listed.roles.contains_key(*name))
        .collect()
}

/// What the image holds, said when `what` names nothing of it: a line a file.
fn holdings(listed: &Listed) -> String {
    let mut text = String::new();
    let roles = role_names(listed);
    let _ = write!(
        text,
        "\n  roles (--role): {}",
        if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        }
    );
    let attachments: Vec<String> = listed
        .attachments
        .iter()
        .map(|a| printable(a.kind.as_deref().unwrap_or("?")).into_owned())
        .collect();
    let _ = write!(
        text,
        "\n  attachments (--attachment): {}",
        if attachments.is_empty() {
            "none".to_owned()
        } else {
            attachments.join(", ")
        }
    );
    text.push_str("\n  files (--file):");
    for file in &listed.files {
        let _ = write!(
            text,
            "\n    {}",
            printable(file.title.as_deref().unwrap_or("?"))
        );
    }
    text
}

/// `glc get`: writes the file `what` names of the one image `selector` names to `output`.
pub fn get(
    source: &dyn Store,
    request: &Request<'_>,
    what: Option<&What>,
    output: &Output,
) -> Result<Got, GetError> {
    let broken = source_error(source);
    if let Output::File(path) = output
        && path.is_dir()
    {
        return Err(GetError::OutputIsDirectory(path.clone()));
    }
    if let Some(What::Metadata(name)) = what {
        return metadata::get(source, request, name, output);
    }
    let (release, images) = part::images_at(source, request.tag)?;
    let image = one(source, &images, request.selector)?;
    let (manifest, layers) = image_layers(source, image)?;
    let nothing = |asked: Asked| GetError::NoSuchFile {
        cname: image.cname.clone(),
        asked,
        holds: listed(source, image).map_or_else(|_| String::new(), |l| holdings(&l)),
    };
    let layer = match what {
        None => return Err(nothing(Asked::Nothing)),
        Some(What::Role(role)) => role_layer(&layers, *role)
            .cloned()
            .ok_or_else(|| nothing(Asked::Role(role.node())))?,
        Some(What::File(name)) => layers
            .iter()
            .find(|l| title(l) == Some(name.as_str()))
            .cloned()
            .ok_or_else(|| nothing(Asked::File(name.clone())))?,
        // Read before any image is chosen, above; the same call either way.
        Some(What::Metadata(name)) => return metadata::get(source, request, name, output),
        Some(What::Attachment(kind)) => {
            let artifact_type = format!("{ATTACHMENT_TYPE}{kind}");
            let found = source
                .referrers(&manifest.digest, Some(&artifact_type))
                .map_err(|e| broken(e.to_string()))?;
            match &found[..] {
                [attachment] => attachment_layer(source, attachment, &manifest.digest)?,
                [] => return Err(nothing(Asked::Attachment(kind.clone()))),
                several => {
                    return Err(GetError::SeveralAttachments {
                        cname: image.cname.clone(),
                        kind: kind.clone(),
                        digests: several.iter().map(|d| d.digest.to_string()).collect(),
                    });
                }
            }
        }
    };
    let verified = match request.key {
        Some(key) => {
            // The release index too: the tag naming it is not signed, and what it leads to
            // (the release manifest that maps cnames to images) is covered by its digest.
            let Some(release) = &release else {
                return Err(GetError::PartUnsigned {
                    source: source.name(),
                    tag: request.tag.unwrap_or_default().to_owned(),
                });
            };
            verify(source, release, "the release index", key)?;
            verify(source, &manifest, "the image", key)?;
            true
        }
        None => false,
    };
    write::write(source, &layer, output)?;
    Ok(Got {
        cname: image.cname.clone(),
        title: title(&layer).map(str::to_owned),
        media_type: layer.media_type.clone(),
        digest: layer.digest.to_string(),
        size: layer.size,
        verified,
    })
}

/// Checks a manifest's or index's cosign signature with `key`, as `glc verify --key` does.
fn verify(
    source: &dyn Store,
    manifest: &Descriptor,
    what: &'static str,
    key: &PublicKey,
) -> Result<(), GetError> {
    let digest = manifest.digest.to_string();
    let tag = sign::cosign::signature_tag(&digest)
        .ok_or_else(|| GetError::Unsignable(manifest.digest.clone()))?;
    let entry = source
        .resolve(&tag)
        .map_err(|e| source_error(source)(e.to_string()))?
        .ok_or_else(|| GetError::NotSigned {
            what,
            digest: manifest.digest.clone(),
            tag: tag.clone(),
        })?;
    let read = |raw: &Value, limit: u64| -> Result<Vec<u8>, String> {
        let descriptor = Descriptor::from_value(raw).map_err(|e| e.message)?;
        source.fetch(&descriptor, limit).map_err(|e| e.to_string())
    };
    sign::check_signatures(&read, &entry.to_value(), &digest, key).map_err(|problem| {
        GetError::BadSignature {
            what,
            digest: manifest.digest.clone(),
            problem,
        }
    })
}

/// Whether an argument names a registry (`REGISTRY/REPO:TAG`) rather than a directory:
/// not an existing path, and its first component has a dot (not leading: `./out`) or a port,
/// or is `localhost`.
#[must_use]
pub fn is_registry_reference(source: &str) -> bool {
    if Path::new(source).exists() {
        return false;
    }
    let Some((host, rest)) = source.split_once('/') else {
        return false;
    };
    !rest.is_empty()
        && !host.starts_with('.')
        && (host.contains('.') || host.contains(':') || host == "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(cname: &str, matrix: &[(&str, &str)]) -> Image {
        Image {
            cname: cname.to_owned(),
            matrix: matrix
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            digest: Digest::of(cname.as_bytes()).to_string(),
            media_type: crate::oci::media::MANIFEST.to_owned(),
            size: 1,
        }
    }

    #[test]
    fn selectors_name_images_by_cname_prefix_and_matrix() {
        let images = [
            image(
                "aws-prod-amd64-1",
                &[("platform", "aws"), ("arch", "amd64")],
            ),
            image(
                "aws-prod-amd64-1-x",
                &[("platform", "aws"), ("arch", "amd64")],
            ),
            image(
                "aws-prod-arm64-1",
                &[("platform", "aws"), ("arch", "arm64")],
            ),
        ];
        let names = |s: &str| -> Vec<String> {
            select(&images, s)
                .unwrap()
                .iter()
                .map(|i| i.cname.clone())
                .collect()
        };
        assert_eq!(names("aws-prod-amd64-1"), ["aws-prod-amd64-1"]);
        assert_eq!(names("aws-prod-arm"), ["aws-prod-arm64-1"]);
        assert_eq!(names("aws-prod-"), names("."));
        assert_eq!(names("arch=arm64"), ["aws-prod-arm64-1"]);
        assert_eq!(names("platform=aws, arch=amd64").len(), 2);
        assert!(names("gcp").is_empty());
        let error = crate::diagnostic::Diagnostic::from(select(&images, "os=linux").unwrap_err());
        assert_eq!(
            error.message,
            "the release's matrix has no key `os`; its keys: `arch` and `platform`"
        );
        assert!(select(&images, "arch").unwrap().is_empty());
        assert!(select(&images, "arch=amd64,x").is_err());
    }

    #[test]
    fn registry_references_are_told_from_directories() {
        assert!(is_registry_reference(
            "ghcr.io/gardenlinux/gardenlinux:1877.3"
        ));
        assert!(is_registry_reference("127.0.0.1:5000/gl:1"));
        assert!(is_registry_reference("localhost/gl:1"));
        assert!(!is_registry_reference("out"));
        assert!(!is_registry_reference("./out"));
        assert!(!is_registry_reference("../out/x"));
        assert!(!is_registry_reference("build/out"));
        assert!(!is_registry_reference("/tmp"));
    }
}
