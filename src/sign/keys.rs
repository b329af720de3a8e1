//! Signing keys: PEM PKCS#8, PKCS#1 (RSA), SEC1 (EC) and cosign's encrypted key files, and
//! public keys as PEM `SubjectPublicKeyInfo` or PKCS#1. A key's bytes never reach a message:
//! every error names the file and what is wrong with it, nothing of its content.
//!
//! Signatures are deterministic, so a signed layout stays byte-reproducible: RSA PKCS#1 v1.5
//! with SHA-256 (ring), ECDSA with RFC 6979 nonces (`p256` with SHA-256, `p384` with SHA-384,
//! the digests cosign pairs with these curves).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pkcs8::der::pem;
use serde::Deserialize;

/// The largest key file glc reads; real ones are a few kilobytes.
const MAX_KEY_FILE: u64 = 64 << 10;

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const CURVE_P256: &str = "1.2.840.10045.3.1.7";
const CURVE_P384: &str = "1.3.132.0.34";
const ED25519: &str = "1.3.101.112";

/// cosign's PEM labels for its password-encrypted PKCS#8 keys (new, then old).
const COSIGN_ENCRYPTED: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// A key's password, wiped from memory when dropped.
pub type Password = zeroize::Zeroizing<Vec<u8>>;

/// Asks for the password of `path` on the terminal, without echo. `None` without a terminal.
pub fn ask_password(path: &Path) -> Result<Option<Password>, KeyError> {
    use rustix::termios::{LocalModes, OptionalActions};
    use std::io::{BufRead as _, Write as _};
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Ok(None);
    };
    let failed = |e: &dyn std::fmt::Display| {
        KeyError::new(
            path,
            format!("cannot read its password from the terminal: {e}"),
            "set COSIGN_PASSWORD to the key's password",
        )
    };
    let Ok(saved) = rustix::termios::tcgetattr(&tty) else {
        return Ok(None);
    };
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    rustix::termios::tcsetattr(&tty, OptionalActions::Flush, &quiet).map_err(|e| failed(&e))?;
    let asked = (&tty)
        .write_all(format!("Enter password for private key {}: ", path.display()).as_bytes())
        .and_then(|()| {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::BufReader::new(&tty).read_line(&mut line)?;
            Ok(line)
        });
    // The terminal is restored whatever happened; a failure to restore cannot be helped here.
    let _ = rustix::termios::tcsetattr(&tty, OptionalActions::Flush, &saved);
    let _ = (&tty).write_all(b"\n");
    let line = asked.map_err(|e| failed(&e))?;
    let password = line.trim_end_matches(['\n', '\r']);
    Ok(Some(zeroize::Zeroizing::new(password.as_bytes().to_vec())))
}

/// What is wrong with a key file, for a message that names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub message: String,
    pub help: String,
}

impl KeyError {
    fn new(path: &Path, what: impl std::fmt::Display, help: impl Into<String>) -> Self {
        Self {
            message: format!("{}: {what}", path.display()),
            help: help.into(),
        }
    }
}

/// A private key glc signs with.
pub enum PrivateKey {
    Rsa(ring::signature::RsaKeyPair),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

// The key's bytes stay out of every debug print.
impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.kind())
    }
}

/// A public key glc verifies with.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// An RSA key's modulus and public exponent, big-endian without leading zeros, of a size
    /// and form ring verifies with (checked at load).
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl PrivateKey {
    /// Reads a private key; an encrypted cosign key is opened with the password `password`
    /// gives, asked for only then.
    pub fn load(
        path: &Path,
        password: impl FnOnce() -> Result<Option<Password>, KeyError>,
    ) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        let (label, der) = pem_block(path, &text)?;
        let der = zeroize::Zeroizing::new(der);
        match label.as_str() {
            "PRIVATE KEY" => from_pkcs8(path, &der),
            "RSA PRIVATE KEY" => {
                check_rsa_private(path, &der)?;
                ring::signature::RsaKeyPair::from_der(&der)
                    .map(PrivateKey::Rsa)
                    .map_err(|e| bad_rsa(path, &e))
            }
            "EC PRIVATE KEY" => from_sec1(path, &der),
            label if COSIGN_ENCRYPTED.contains(&label) => {
                let Some(password) = password()? else {
                    return Err(KeyError::new(
                        path,
                        "is an encrypted cosign key, and COSIGN_PASSWORD is not set",
                        "set COSIGN_PASSWORD to the key's password (an empty value for a key without one), or run glc on a terminal to be asked for it",
                    ));
                };
                let plain = zeroize::Zeroizing::new(decrypt_cosign(path, &der, &password)?);
                from_pkcs8(path, &plain)
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(KeyError::new(
                path,
                "is a public key, and signing needs the private key",
                "pass the private key (e.g. cosign.key, not cosign.pub)",
            )),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::new(
                path,
                "is a PKCS#8 key encrypted by OpenSSL, which glc does not open",
                "decrypt it (`openssl pkcs8 -in KEY -out PLAIN`) or import it with `cosign import-key-pair`",
            )),
            other => Err(KeyError::new(
                path,
                format!("holds a PEM block `{other}`, which is not a private key glc reads"),
                SUPPORTED,
            )),
        }
    }

    /// The signature of `payload`, as cosign stores it (raw for RSA, DER for ECDSA).
    pub fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    payload,
                    &mut signature,
                )
                .map_err(|_| "the RSA key cannot sign".to_owned())?;
                Ok(signature)
            }
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(payload);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::P384(key) => {
                let signature: p384::ecdsa::Signature = key.sign(payload);
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }

    /// What kind of key this is, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "ECDSA P-256",
            Self::P384(_) => "ECDSA P-384",
        }
    }
}

impl PublicKey {
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        let (label, der) = pem_block(path, &text)?;
        match label.as_str() {
            "PUBLIC KEY" => from_spki(path, &der),
            "RSA PUBLIC KEY" => rsa_public(path, &der),
            label if label.contains("PRIVATE KEY") => Err(KeyError::new(
                path,
                "is a private key, and verifying needs the public key",
                "pass the public key (e.g. cosign.pub); keep the private key where only signing reads it",
            )),
            other => Err(KeyError::new(
                path,
                format!("holds a PEM block `{other}`, which is not a public key glc reads"),
                "pass a PEM public key (`-----BEGIN PUBLIC KEY-----`), e.g. `openssl pkey -in KEY -pubout`",
            )),
        }
    }

    /// Whether `signature` is this key's signature of `payload`.
    #[must_use]
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        match self {
            Self::Rsa { n, e } => ring::signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    payload,
                    signature,
                )
                .is_ok(),
            Self::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(payload, &s).is_ok()),
            Self::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(payload, &s).is_ok()),
        }
    }
}

const SUPPORTED: &str = "glc signs with PEM keys: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`), SEC1 EC (`BEGIN EC PRIVATE KEY`), or a cosign key (`cosign generate-key-pair`); RSA of 2048 to 4096 bits, ECDSA P-256 or P-384";

/// A warning if a private key file is readable by others than its owner.
#[must_use]
pub fn exposure_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "the private key {} is readable by group or others (mode {:o}); `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    // A key is commonly a link (a mounted secret): follow it, but read only a regular file.
    let resolved = std::fs::canonicalize(path).map_err(|e| {
        KeyError::new(
            path,
            format!("cannot read the key: {e}"),
            "pass the path of a PEM key file",
        )
    })?;
    let bytes = crate::oci::file::read_regular(&resolved, MAX_KEY_FILE).map_err(|e| {
        KeyError::new(
            path,
            format!("cannot read the key: {e}"),
            "pass the path of a PEM key file",
        )
    })?;
    String::from_utf8(bytes)
        .map_err(|_| KeyError::new(path, "is not a PEM file (not text)", SUPPORTED))
}

/// The first PEM block that is not EC parameters (`openssl ecparam -genkey` writes those first).
fn pem_block(path: &Path, text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let mut rest = text;
    while let Some((_, after)) = rest.split_once("-----BEGIN ") {
        let Some((label, _)) = after.split_once("-----") else {
            break;
        };
        let end_marker = format!("-----END {label}-----");
        let Some((body, after_end)) = after.split_once(&end_marker) else {
            return Err(KeyError::new(
                path,
                format!("its PEM block `{label}` has no end line"),
                SUPPORTED,
            ));
        };
        rest = after_end;
        if label == "EC PARAMETERS" {
            continue;
        }
        let whole = format!("-----BEGIN {body}{end_marker}");
        let (decoded_label, der) = pem::decode_vec(whole.as_bytes()).map_err(|e| {
            KeyError::new(
                path,
                format!("its PEM block `{label}` is malformed: {e}"),
                SUPPORTED,
            )
        })?;
        return Ok((decoded_label.to_owned(), der));
    }
    Err(KeyError::new(path, "holds no PEM block", SUPPORTED))
}

/// The RSA key sizes ring signs with (`RsaKeyPair`) and verifies with
/// (`RSA_PKCS1_2048_8192_SHA256`), in bits. ring measures the lower bound on the modulus's
/// length in whole bytes, the upper one in bits; glc does the same, so that it refuses at
/// load exactly the keys ring would refuse at every signature.
const RSA_MIN_BITS: usize = 2048;
const RSA_SIGN_MAX_BITS: usize = 4096;
const RSA_VERIFY_MAX_BITS: usize = 8192;
/// ring's bounds on the public exponent: odd, from 3 to 2^33 - 1.
const RSA_MAX_EXPONENT_BITS: usize = 33;

const RSA_SIGN_HELP: &str =
    "use an RSA key of 2048 to 4096 bits, e.g. `openssl genrsa -out key.pem 4096`";

fn bad_rsa(path: &Path, error: &ring::error::KeyRejected) -> KeyError {
    KeyError::new(
        path,
        format!("is not an RSA key glc can sign with ({error})"),
        RSA_SIGN_HELP,
    )
}

/// The length in bits of a big-endian number without leading zeros.
fn bit_length(number: &[u8]) -> usize {
    number
        .first()
        .map_or(0, |first| number.len() * 8 - first.leading_zeros() as usize)
}

/// Whether a modulus of these bytes is within ring's bounds, `max_bits` its upper one.
fn rsa_size_fits(n: &[u8], max_bits: usize) -> bool {
    n.len() * 8 >= RSA_MIN_BITS && bit_length(n) <= max_bits
}

/// Refuses a PKCS#1 `RSAPrivateKey` of a size ring does not sign with, naming its size.
fn check_rsa_private(path: &Path, der: &[u8]) -> Result<(), KeyError> {
    use pkcs8::der::{Decode as _, Reader as _, asn1::UintRef};
    let modulus = pkcs8::der::SliceReader::new(der).and_then(|mut reader| {
        reader.sequence(|fields| {
            let _version = UintRef::decode(fields)?;
            let n = UintRef::decode(fields)?;
            // The remaining fields are ring's to check.
            fields.read_slice(fields.remaining_len())?;
            Ok(n.as_bytes().to_vec())
        })
    });
    match modulus {
        Ok(n) if !rsa_size_fits(&n, RSA_SIGN_MAX_BITS) => Err(KeyError::new(
            path,
            format!(
                "is an RSA key of {} bits, and glc signs with RSA keys of 2048 to 4096 bits",
                bit_length(&n)
            ),
            RSA_SIGN_HELP,
        )),
        // A malformed key is ring's to refuse, with its reason.
        _ => Ok(()),
    }
}

/// A PKCS#1 `RSAPublicKey`, refused unless ring verifies with it: a modulus of 2048 to 8192
/// bits, odd, and an odd exponent from 3 to 2^33 - 1.
fn rsa_public(path: &Path, der: &[u8]) -> Result<PublicKey, KeyError> {
    use pkcs8::der::{Decode as _, Reader as _, asn1::UintRef};
    let parsed = pkcs8::der::SliceReader::new(der).and_then(|mut reader| {
        let key = reader.sequence(|fields| {
            let n = UintRef::decode(fields)?;
            let e = UintRef::decode(fields)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })?;
        reader.finish(key)
    });
    let Ok((n, e)) = parsed else {
        return Err(KeyError::new(
            path,
            "is not a valid RSA public key: its content is not an RSAPublicKey (PKCS#1)",
            RSA_VERIFY_HELP,
        ));
    };
    let bits = bit_length(&n);
    if !rsa_size_fits(&n, RSA_VERIFY_MAX_BITS) {
        return Err(KeyError::new(
            path,
            format!(
                "is an RSA public key of {bits} bits, and glc verifies with RSA keys of 2048 to 8192 bits"
            ),
            RSA_VERIFY_HELP,
        ));
    }
    let odd = |number: &[u8]| number.last().is_some_and(|last| last & 1 == 1);
    if !odd(&n) {
        return Err(KeyError::new(
            path,
            "is not a valid RSA public key: its modulus is even",
            RSA_VERIFY_HELP,
        ));
    }
    let exponent_bits = bit_length(&e);
    if !odd(&e) || !(2..=RSA_MAX_EXPONENT_BITS).contains(&exponent_bits) {
        return Err(KeyError::new(
            path,
            "is not a valid RSA public key: its public exponent is not an odd number from 3 to 2^33 - 1",
            RSA_VERIFY_HELP,
        ));
    }
    Ok(PublicKey::Rsa { n, e })
}

const RSA_VERIFY_HELP: &str = "pass the public key of the RSA key that signed (2048 to 8192 bits), e.g. `openssl pkey -in KEY -pubout`";

fn from_pkcs8(path: &Path, der: &[u8]) -> Result<PrivateKey, KeyError> {
    let info = pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::new(path, format!("is not a PKCS#8 private key: {e}"), SUPPORTED))?;
    let oid = info.algorithm.oid.to_string();
    match oid.as_str() {
        RSA_ENCRYPTION => {
            check_rsa_private(path, info.private_key)?;
            ring::signature::RsaKeyPair::from_pkcs8(der)
                .map(PrivateKey::Rsa)
                .map_err(|e| bad_rsa(path, &e))
        }
        EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|c| c.to_string())
                .unwrap_or_default();
            let invalid = |e: &dyn std::fmt::Display| {
                KeyError::new(path, format!("is not a valid EC key: {e}"), SUPPORTED)
            };
            match curve.as_str() {
                CURVE_P256 => {
                    use p256::pkcs8::DecodePrivateKey as _;
                    p256::ecdsa::SigningKey::from_pkcs8_der(der)
                        .map(PrivateKey::P256)
                        .map_err(|e| invalid(&e))
                }
                CURVE_P384 => {
                    use p384::pkcs8::DecodePrivateKey as _;
                    p384::ecdsa::SigningKey::from_pkcs8_der(der)
                        .map(PrivateKey::P384)
                        .map_err(|e| invalid(&e))
                }
                other => Err(unsupported_curve(path, other)),
            }
        }
        ED25519 => Err(KeyError::new(
            path,
            "is an Ed25519 key, which glc does not sign with yet",
            "use an ECDSA P-256 key (`cosign generate-key-pair`) or RSA (`openssl genrsa`)",
        )),
        other => Err(KeyError::new(
            path,
            format!("is a private key of algorithm {other}, which glc does not sign with"),
            SUPPORTED,
        )),
    }
}

fn from_sec1(path: &Path, der: &[u8]) -> Result<PrivateKey, KeyError> {
    let key = sec1::EcPrivateKey::try_from(der).map_err(|e| {
        KeyError::new(
            path,
            format!("is not a SEC1 EC private key: {e}"),
            SUPPORTED,
        )
    })?;
    let curve = key
        .parameters
        .and_then(sec1::EcParameters::named_curve)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let invalid = |e: &dyn std::fmt::Display| {
        KeyError::new(path, format!("is not a valid EC key: {e}"), SUPPORTED)
    };
    match curve.as_str() {
        CURVE_P256 => p256::SecretKey::from_sec1_der(der)
            .map(|k| PrivateKey::P256(k.into()))
            .map_err(|e| invalid(&e)),
        CURVE_P384 => p384::SecretKey::from_sec1_der(der)
            .map(|k| PrivateKey::P384(k.into()))
            .map_err(|e| invalid(&e)),
        other => Err(unsupported_curve(path, other)),
    }
}

fn unsupported_curve(path: &Path, curve: &str) -> KeyError {
    let curve = if curve.is_empty() {
        "an unnamed curve"
    } else {
        curve
    };
    KeyError::new(
        path,
        format!("is an EC key on {curve}, and glc signs with P-256 or P-384"),
        "make a key with `openssl ecparam -genkey -name prime256v1` or `-name secp384r1`",
    )
}

fn from_spki(path: &Path, der: &[u8]) -> Result<PublicKey, KeyError> {
    let info = spki::SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|e| KeyError::new(path, format!("is not a valid public key: {e}"), SUPPORTED))?;
    let oid = info.algorithm.oid.to_string();
    let invalid = |e: &dyn std::fmt::Display| {
        KeyError::new(path, format!("is not a valid public key: {e}"), SUPPORTED)
    };
    match oid.as_str() {
        RSA_ENCRYPTION => info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| invalid(&"its key bits are not whole bytes"))
            .and_then(|bits| rsa_public(path, bits)),
        EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|c| c.to_string())
                .unwrap_or_default();
            match curve.as_str() {
                CURVE_P256 => {
                    use p256::pkcs8::DecodePublicKey as _;
                    p256::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map(PublicKey::P256)
                        .map_err(|e| invalid(&e))
                }
                CURVE_P384 => {
                    use p384::pkcs8::DecodePublicKey as _;
                    p384::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map(PublicKey::P384)
                        .map_err(|e| invalid(&e))
                }
                other => Err(unsupported_curve(path, other)),
            }
        }
        other => Err(KeyError::new(
            path,
            format!("is a public key of algorithm {other}, which glc does not verify with"),
            SUPPORTED,
        )),
    }
}

/// cosign's encrypted key: JSON with scrypt parameters and a `NaCl` secretbox of PKCS#8 DER.
#[derive(Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
#[allow(non_snake_case)] // the JSON field is `N`
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The scrypt costs cosign's key library (go-securesystemslib's `encrypted`) decrypts:
/// N = 2^15 (cosign before 2.5 writes it), 2^16 (cosign 2.5) and 2^17, with r = 8 and p = 1.
/// Any other is refused before any work, so that an altered file cannot make glc spend
/// unbounded time or memory (2^17 costs 128 MiB and well under a second).
const SCRYPT_LOG_N: [u8; 3] = [15, 16, 17];
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

fn decrypt_cosign(path: &Path, json: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let malformed = |what: &str| {
        KeyError::new(
            path,
            format!("is not a valid cosign key file: {what}"),
            "make the key again with `cosign generate-key-pair` or `cosign import-key-pair`",
        )
    };
    let encrypted: Encrypted =
        serde_json::from_slice(json).map_err(|_| malformed("its content is not cosign's JSON"))?;
    if encrypted.kdf.name != "scrypt" || encrypted.cipher.name != "nacl/secretbox" {
        return Err(malformed(
            "it names a key derivation or cipher other than scrypt and nacl/secretbox",
        ));
    }
    let p = &encrypted.kdf.params;
    let log_n = SCRYPT_LOG_N
        .into_iter()
        .find(|log_n| p.N == 1 << log_n)
        .filter(|_| p.r == SCRYPT_R && p.p == SCRYPT_P);
    let Some(log_n) = log_n else {
        return Err(malformed(&format!(
            "its scrypt parameters (N={}, r={}, p={}) are not cosign's (N=32768, 65536 or 131072, r=8, p=1)",
            p.N, p.r, p.p
        )));
    };
    let decode = |field: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|_| malformed(&format!("its {field} is not base64")))
    };
    let salt = decode("salt", &encrypted.kdf.salt)?;
    let nonce = decode("nonce", &encrypted.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &encrypted.ciphertext)?;
    if nonce.len() != 24 {
        return Err(malformed("its nonce is not 24 bytes"));
    }
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P, 32)
        .map_err(|_| malformed("its scrypt parameters are invalid"))?;
    let mut box_key = zeroize::Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, box_key.as_mut())
        .map_err(|_| malformed("its scrypt parameters are invalid"))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(
        box_key.as_ref(),
    ));
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map_err(|_| {
            KeyError::new(
                path,
                "cannot be decrypted: the password is wrong or the file is altered",
                "give the password the key was made with, in COSIGN_PASSWORD or at the prompt",
            )
        })
}

/// The base64 of a signature, as cosign's annotation holds it.
#[must_use]
pub fn to_base64(signature: &[u8]) -> String {
    STANDARD.encode(signature)
}

/// A signature from cosign's annotation.
#[must_use]
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PUBLIC: &str = include_str!("../../tests/fixtures/signing/test-only-cosign.pub");

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Damaged key files are errors, never a panic.
        #[test]
        fn damaged_keys_never_panic(flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..8), text in "\\PC{0,200}") {
            let path = Path::new("k");
            let _ = pem_block(path, &text);
            let (_, der) = pem_block(path, PUBLIC).expect("the fixture is a PEM key");
            let mut damaged = der.clone();
            let mut pem = PUBLIC.as_bytes().to_vec();
            for (at, byte) in &flips {
                let n = damaged.len();
                damaged[at % n] ^= byte;
                let n = pem.len();
                pem[at % n] ^= byte;
            }
            let _ = from_spki(path, &damaged);
            let _ = from_pkcs8(path, &damaged);
            let _ = from_sec1(path, &damaged);
            let _ = decrypt_cosign(path, &damaged, b"pw");
            let _ = pem_block(path, &String::from_utf8_lossy(&pem));
        }
    }

    fn encrypted(json: &str) -> Vec<u8> {
        json.as_bytes().to_vec()
    }

    #[test]
    fn a_cosign_key_with_other_scrypt_costs_is_refused_before_any_work() {
        for (n, r, p) in [
            (1u64 << 30, 8, 1),
            (1 << 18, 8, 1),
            (1 << 14, 8, 1),
            (1 << 16, 16, 1),
            (1 << 16, 8, 2),
            (65537, 8, 1),
        ] {
            let json = encrypted(&format!(
                r#"{{"kdf":{{"name":"scrypt","params":{{"N":{n},"r":{r},"p":{p}}},"salt":"AA=="}},"cipher":{{"name":"nacl/secretbox","nonce":"AA=="}},"ciphertext":"AA=="}}"#
            ));
            let error = decrypt_cosign(Path::new("k"), &json, b"pw").expect_err("refused");
            assert_eq!(
                error.message,
                format!(
                    "k: is not a valid cosign key file: its scrypt parameters (N={n}, r={r}, p={p}) are not cosign's (N=32768, 65536 or 131072, r=8, p=1)"
                )
            );
        }
    }

    /// A cosign key file with scrypt cost 2^`log_n` holding `plain`, password `pw`.
    fn cosign_file(log_n: u8, plain: &[u8]) -> Vec<u8> {
        use crypto_secretbox::aead::{Aead as _, KeyInit as _};
        let (salt, nonce) = ([7u8; 32], [9u8; 24]);
        let params = scrypt::Params::new(log_n, 8, 1, 32).expect("valid parameters");
        let mut key = [0u8; 32];
        scrypt::scrypt(b"pw", &salt, &params, &mut key).expect("a 32-byte key");
        let sealed = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
            .encrypt(&nonce.into(), plain)
            .expect("encrypts");
        format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":{},"r":8,"p":1}},"salt":"{}"}},"cipher":{{"name":"nacl/secretbox","nonce":"{}"}},"ciphertext":"{}"}}"#,
            1u64 << log_n,
            STANDARD.encode(salt),
            STANDARD.encode(nonce),
            STANDARD.encode(sealed)
        )
        .into_bytes()
    }

    #[test]
    fn every_scrypt_cost_cosign_decrypts_is_opened() {
        // 2^15 and 2^16 are covered by the committed keys (tests/fixtures/signing).
        let file = cosign_file(17, b"the key");
        let plain = decrypt_cosign(Path::new("k"), &file, b"pw").expect("opened");
        assert_eq!(plain, b"the key");
        let error = decrypt_cosign(Path::new("k"), &file, b"other").expect_err("wrong password");
        assert_eq!(
            error.message,
            "k: cannot be decrypted: the password is wrong or the file is altered"
        );
    }

    #[test]
    fn rsa_sizes_are_rings_bounds() {
        let modulus = |bytes: usize, first: u8| {
            let mut n = vec![0xff; bytes];
            n[0] = first;
            n
        };
        // ring's lower bound is in whole bytes, its upper one in bits.
        assert!(rsa_size_fits(&modulus(256, 0x40), RSA_VERIFY_MAX_BITS));
        assert!(!rsa_size_fits(&modulus(255, 0xff), RSA_VERIFY_MAX_BITS));
        assert!(rsa_size_fits(&modulus(1024, 0xff), RSA_VERIFY_MAX_BITS));
        assert!(!rsa_size_fits(&modulus(1025, 0x01), RSA_VERIFY_MAX_BITS));
        assert!(rsa_size_fits(&modulus(512, 0xff), RSA_SIGN_MAX_BITS));
        assert!(!rsa_size_fits(&modulus(513, 0x01), RSA_SIGN_MAX_BITS));
        assert_eq!(bit_length(&modulus(256, 0x40)), 2047);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn a_pem_block_is_found_after_ec_parameters_and_one_without_an_end_is_refused() {
        let text = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let (label, der) = pem_block(Path::new("k"), text).expect("a block");
        assert_eq!((label.as_str(), der), ("PUBLIC KEY", vec![0, 0, 0]));
        let error = pem_block(Path::new("k"), "-----BEGIN PRIVATE KEY-----\nAAAA\n")
            .expect_err("no end line");
        assert_eq!(
            error.message,
            "k: its PEM block `PRIVATE KEY` has no end line"
        );
        let error = pem_block(Path::new("k"), "secret").expect_err("no block");
        assert_eq!(error.message, "k: holds no PEM block");
    }
}
