//! Content digests, parsed once where they enter glc: only `sha256:` and 64 lowercase hex
//! digits name content, so a digest can never name a file outside `blobs/sha256`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::oci::printable;

/// A `sha256:` digest with its 64 lowercase hex digits checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest glc can use; says so with the string made printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// A well-formed digest of another algorithm (`sha512:…`).
    Unsupported { digest: String, algorithm: String },
    /// Not `algorithm:encoded` at all.
    Malformed { digest: String },
    /// `sha256:` with something other than 64 lowercase hex digits.
    BadSha256 { digest: String },
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported { digest, algorithm } => write!(
                f,
                "`{}`: digest algorithm {} is not supported; glc reads sha256 digests only",
                printable(digest),
                printable(algorithm)
            ),
            Self::Malformed { digest } => {
                write!(f, "`{}` is not a digest (algorithm:hex)", printable(digest))
            }
            Self::BadSha256 { digest } => write!(
                f,
                "`{}` is not a valid sha256 digest (64 lowercase hex digits)",
                printable(digest)
            ),
        }
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    /// Parses `sha256:<hex>`; any other algorithm, well-formed or not, is an error.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let Some((algorithm, encoded)) = text.split_once(':') else {
            return Err(DigestError::Malformed {
                digest: text.to_owned(),
            });
        };
        if algorithm == "sha256" {
            let hex_digits = encoded.len() == 64
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            return if hex_digits {
                Ok(Self {
                    hex: encoded.to_owned(),
                })
            } else {
                Err(DigestError::BadSha256 {
                    digest: text.to_owned(),
                })
            };
        }
        // The grammar of image-spec's descriptor digests.
        let well_formed = !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && !encoded.is_empty()
            && encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
        Err(if well_formed {
            DigestError::Unsupported {
                digest: text.to_owned(),
                algorithm: algorithm.to_owned(),
            }
        } else {
            DigestError::Malformed {
                digest: text.to_owned(),
            }
        })
    }

    /// The digest of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything `reader` gives, and how many bytes that was: the one
    /// streaming hash of whole files and blobs.
    pub fn of_reader(mut reader: impl std::io::Read) -> std::io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return Ok((Self::from_hasher(hasher), size)),
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The digest a hasher has computed.
    #[must_use]
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits: also the blob's file name in `blobs/sha256`.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The blob's path inside a layout: `blobs/sha256/<hex>`, never with `/` or `..` in the
    /// name, since the hex was checked.
    #[must_use]
    pub fn blob_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex)
    }

    /// The first 12 hex digits, as tools show digests.
    #[must_use]
    pub fn short(&self) -> &str {
        // 64 ASCII digits: any prefix is on a character boundary.
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, DigestError> {
        Self::parse(text)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        other
            .strip_prefix("sha256:")
            .is_some_and(|hex| hex == self.hex)
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn a_sha256_digest_parses_and_prints_as_it_came() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(digest, Digest::of(b"{}"));
        assert_eq!(
            digest.blob_path(),
            "blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(digest.short(), "44136fa355b3");
        assert!(digest == EMPTY);
    }

    #[test]
    fn other_algorithms_and_bad_digests_are_errors_that_say_which() {
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        assert_eq!(
            Digest::parse(&sha512).unwrap_err().to_string(),
            format!(
                "`{sha512}`: digest algorithm sha512 is not supported; glc reads sha256 digests only"
            )
        );
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:/dev/zero",
            "sha256:a€€€€€",
            "sha256:ABCDEF",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(DigestError::BadSha256 { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Digest::parse("sha256:\u{1b}[2J").unwrap_err().to_string(),
            "`sha256:\\u{1b}[2J` is not a valid sha256 digest (64 lowercase hex digits)"
        );
        for bad in ["", "sha256", ":abc", "x/y:abc", "sha512:../x"] {
            assert!(
                matches!(Digest::parse(bad), Err(DigestError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}
