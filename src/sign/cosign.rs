//! cosign's tag-scheme signatures, byte for byte as cosign writes them: the "simple signing"
//! payload (sigstore's `payload.Cosign`), and the signature manifest (go-containerregistry's
//! empty OCI image with one layer a signature, its config the one that image computes).
//!
//! cosign serializes with Go's `encoding/json`: struct fields in declaration order, map keys
//! sorted, no whitespace. The structs below keep Go's field order for that reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
pub use crate::oci::vocab::media::MANIFEST;
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The tag cosign gives the signatures of the manifest with this digest.
#[must_use]
pub fn signature_tag(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    crate::oci::layout::is_sha256_hex(hex).then(|| format!("sha256-{hex}.sig"))
}

/// Whether a tag is one of cosign's signature tags (never signed itself).
#[must_use]
pub fn is_signature_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .and_then(|rest| rest.strip_suffix(".sig"))
        .is_some_and(crate::oci::layout::is_sha256_hex)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub critical: Critical,
    pub optional: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// The payload cosign signs for the manifest `digest` in `repository`.
pub fn payload(repository: &str, digest: &str) -> Result<Vec<u8>, serde_json::Error> {
    go_json(&Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.to_owned(),
            },
            image: Image {
                docker_manifest_digest: digest.to_owned(),
            },
            kind: PAYLOAD_TYPE.to_owned(),
        },
        optional: None,
    })
}

/// A descriptor as go-containerregistry writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A signature manifest as cosign writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// go-containerregistry's config of an image made by appending layers to the empty image.
#[derive(Serialize)]
#[allow(clippy::struct_field_names)] // go-containerregistry's field names
struct Config<'a> {
    architecture: &'a str,
    created: &'a str,
    history: Vec<History<'a>>,
    os: &'a str,
    rootfs: RootFs<'a>,
    config: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

/// Go's zero time, which go-containerregistry writes for "no time".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A blob: its bytes and descriptor digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        Self { bytes, digest }
    }

    #[must_use]
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// The signature manifest holding `layers`, and its config blob. Layers are simple-signing
/// payloads, stored uncompressed, so a layer's diff id is its digest.
pub fn signature_manifest(layers: Vec<Descriptor>) -> Result<(Blob, Blob), serde_json::Error> {
    let config = go_json(&Config {
        architecture: "",
        created: ZERO_TIME,
        history: layers
            .iter()
            .map(|_| History { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.as_str()).collect(),
        },
        config: BTreeMap::new(),
    })?;
    let config = Blob::new(config);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST.to_owned(),
        config: Descriptor {
            media_type: CONFIG.to_owned(),
            size: config.bytes.len() as u64,
            digest: config.digest.clone(),
            annotations: BTreeMap::new(),
        },
        layers,
        annotations: BTreeMap::new(),
    };
    Ok((Blob::new(go_json(&manifest)?), config))
}

/// JSON as Go's `encoding/json` writes it for these types: serde's output, with `<`, `>`,
/// `&`, U+2028 and U+2029 escaped as Go escapes them in strings.
fn go_json(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_sigstores_serialization() {
        // sigstore/sigstore pkg/signature/payload's test vector.
        let digest = "sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f";
        let bytes = payload("example.com/test/image", digest).expect("as set up");
        assert_eq!(
            String::from_utf8(bytes).expect("as set up"),
            r#"{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"type":"cosign container image signature"},"optional":null}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let bytes = payload("a<b>&\u{2028}", "sha256:00").expect("serializes");
        assert!(
            String::from_utf8(bytes)
                .expect("UTF-8")
                .contains(r#""docker-reference":"a\u003cb\u003e\u0026\u2028""#)
        );
    }

    #[test]
    fn signature_manifest_is_go_containerregistrys_serialization() {
        let layer = Descriptor {
            media_type: SIMPLE_SIGNING.to_owned(),
            size: 3,
            digest: "sha256:aa".to_owned(),
            annotations: [(SIGNATURE_ANNOTATION.to_owned(), "c2ln".to_owned())].into(),
        };
        let (manifest, config) = signature_manifest(vec![layer]).expect("as set up");
        assert_eq!(
            String::from_utf8(config.bytes.clone()).expect("as set up"),
            r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"config":{}}"#
        );
        assert_eq!(
            String::from_utf8(manifest.bytes).expect("as set up"),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":3,"digest":"sha256:aa","annotations":{{"dev.cosignproject.cosign/signature":"c2ln"}}}}]}}"#,
                config.bytes.len(),
                config.digest
            )
        );
    }

    #[test]
    fn signature_tags_are_recognized_only_with_a_whole_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let tag = signature_tag(&digest).expect("as set up");
        assert_eq!(tag, format!("sha256-{}.sig", "ab".repeat(32)));
        assert!(is_signature_tag(&tag));
        assert!(!is_signature_tag("sha256-abc.sig"));
        assert!(!is_signature_tag("latest"));
        assert_eq!(signature_tag("sha256:abc"), None);
    }
}
