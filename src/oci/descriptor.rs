//! Descriptors as glc reads them from any layout: checked field by field, so that a bad one is
//! an error that says what is wrong with it, and a good one carries a [`Digest`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::oci::vocab::{Kind, annotation};
use crate::oci::{Digest, printable};

/// A descriptor read from another tool's layout; fields glc does not use are ignored. Made
/// only by [`Descriptor::from_value`] (or by glc itself), so every one is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    pub platform: Option<Value>,
    pub artifact_type: Option<String>,
}

/// A descriptor that is not valid: what it held, and why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub raw: Value,
    pub message: String,
}

impl Invalid {
    /// The digest as written, if it is a string.
    #[must_use]
    pub fn digest(&self) -> Option<&str> {
        self.raw["digest"].as_str()
    }

    #[must_use]
    pub fn ref_name(&self) -> Option<&str> {
        self.raw["annotations"][annotation::REF_NAME].as_str()
    }
}

impl Descriptor {
    /// A descriptor of `digest` alone, for asking a store about it: no media type, size 0.
    #[must_use]
    pub fn of_digest(digest: Digest) -> Self {
        Self {
            media_type: String::new(),
            digest,
            size: 0,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// The descriptor of the document `bytes` found under `digest`: its size, and its media
    /// type and artifact type as the document says them (none where it says none, or is no
    /// JSON).
    #[must_use]
    pub fn of_document(digest: Digest, bytes: &[u8]) -> Self {
        let document: Value = serde_json::from_slice(bytes).unwrap_or_default();
        Self {
            media_type: document["mediaType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: document["artifactType"].as_str().map(str::to_owned),
        }
    }

    /// The descriptor as JSON, as another index lists it.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.size,
        });
        if !self.annotations.is_empty() {
            value["annotations"] = serde_json::json!(self.annotations);
        }
        if let Some(platform) = &self.platform {
            value["platform"] = platform.clone();
        }
        if let Some(artifact_type) = &self.artifact_type {
            value["artifactType"] = artifact_type.clone().into();
        }
        value
    }

    /// A descriptor from JSON, every field checked: a sha256 digest, a media type, a size of
    /// an int64, annotations of strings.
    pub fn from_value(raw: &Value) -> Result<Self, Invalid> {
        let invalid = |message: String| Invalid {
            raw: raw.clone(),
            message,
        };
        if !raw.is_object() {
            return Err(invalid("a descriptor must be a JSON object".to_owned()));
        }
        let Some(digest) = raw["digest"].as_str() else {
            return Err(invalid("descriptor has no digest".to_owned()));
        };
        let digest = Digest::parse(digest).map_err(|e| invalid(e.to_string()))?;
        let media_type = raw["mediaType"].as_str().unwrap_or_default();
        if !is_media_type(media_type) {
            return Err(invalid(format!(
                "descriptor mediaType `{}` is not a media type",
                printable(media_type)
            )));
        }
        // OCI sizes are int64.
        let Some(size) = raw["size"].as_u64().filter(|s| i64::try_from(*s).is_ok()) else {
            return Err(invalid(format!(
                "descriptor size {} is not a non-negative integer",
                printable(&raw["size"].to_string())
            )));
        };
        if let Some(artifact_type) = raw.get("artifactType")
            && !artifact_type.as_str().is_some_and(is_media_type)
        {
            return Err(invalid(format!(
                "descriptor artifactType {} is not a media type",
                printable(&artifact_type.to_string())
            )));
        }
        let annotations = match raw.get("annotations") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => {
                let mut annotations = BTreeMap::new();
                for (key, value) in map {
                    let Some(value) = value.as_str() else {
                        return Err(invalid(format!(
                            "descriptor annotation `{}` is not a string",
                            printable(key)
                        )));
                    };
                    annotations.insert(key.clone(), value.to_owned());
                }
                annotations
            }
            Some(_) => {
                return Err(invalid(
                    "descriptor annotations must be an object".to_owned(),
                ));
            }
        };
        Ok(Self {
            media_type: media_type.to_owned(),
            digest,
            size,
            annotations,
            platform: raw.get("platform").filter(|p| p.is_object()).cloned(),
            artifact_type: raw["artifactType"].as_str().map(str::to_owned),
        })
    }

    /// Its tag, on a descriptor of `index.json`.
    #[must_use]
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(annotation::REF_NAME)
            .map(String::as_str)
    }

    #[must_use]
    pub fn kind(&self) -> Kind {
        Kind::of(&self.media_type)
    }
}

/// `type/subtype` as RFC 6838 allows them.
#[must_use]
pub fn is_media_type(media_type: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    media_type
        .split_once('/')
        .is_some_and(|(t, s)| name(t) && name(s))
}

/// The annotations of a document or descriptor that are strings, leniently: what is not an
/// object, or not a string, is left out.
#[must_use]
pub fn string_annotations(value: &Value) -> BTreeMap<String, String> {
    value["annotations"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_field_is_checked_and_the_error_names_it() {
        let good = json!({"mediaType": "text/plain", "digest": format!("sha256:{}", "0".repeat(64)), "size": 3, "annotations": {"a": "b"}});
        let descriptor = Descriptor::from_value(&good).unwrap();
        assert_eq!(descriptor.size, 3);
        assert_eq!(descriptor.annotations["a"], "b");
        let message = |edit: &dyn Fn(&mut Value)| {
            let mut raw = good.clone();
            edit(&mut raw);
            Descriptor::from_value(&raw).unwrap_err().message
        };
        assert_eq!(
            message(&|d| d["size"] = json!(-1)),
            "descriptor size -1 is not a non-negative integer"
        );
        assert_eq!(
            message(&|d| d["size"] = json!(u64::MAX)),
            "descriptor size 18446744073709551615 is not a non-negative integer"
        );
        assert_eq!(
            message(&|d| d["mediaType"] = json!("\u{1b}[2J")),
            "descriptor mediaType `\\u{1b}[2J` is not a media type"
        );
        assert_eq!(
            message(&|d| d["annotations"]["a"] = json!(1)),
            "descriptor annotation `a` is not a string"
        );
        assert_eq!(
            message(&|d| d["digest"] = json!("sha256:../../x")),
            "`sha256:../../x` is not a valid sha256 digest (64 lowercase hex digits)"
        );
        assert_eq!(
            message(&|d| {
                d.as_object_mut().unwrap().remove("digest");
            }),
            "descriptor has no digest"
        );
    }
}
