//! Keys glc cannot use are refused when they are read, with a message naming the file and
//! what glc accepts, never used to reach a wrong verdict later.

use std::path::Path;

use base64::Engine as _;

use crate::Test;
use crate::signing::{built, openssl};

/// A DER element: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut element = vec![tag];
    let length = content.len();
    if length < 0x80 {
        element.push(u8::try_from(length).expect("as tested"));
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        element.push(0x80 | u8::try_from(bytes.len()).expect("as tested"));
        element.extend(bytes);
    }
    element.extend(content);
    element
}

/// A PKCS#1 `RSAPublicKey` with a modulus of `bits` bits (odd, not a product of primes: the
/// size alone must make glc refuse it) and the exponent 65537.
fn rsa_public_key(bits: usize) -> Vec<u8> {
    let mut modulus = vec![0xa5; bits / 8];
    modulus[0] = 0xc3;
    *modulus.last_mut().expect("as tested") |= 1;
    let mut integer = vec![0];
    integer.extend(modulus);
    let fields = [der(0x02, &integer), der(0x02, &[1, 0, 1])].concat();
    der(0x30, &fields)
}

/// `der` as a `SubjectPublicKeyInfo` of an RSA key.
fn spki(rsa: &[u8]) -> Vec<u8> {
    let rsa_encryption = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let algorithm = der(0x30, &[der(0x06, &rsa_encryption), der(0x05, &[])].concat());
    let mut bits = vec![0];
    bits.extend(rsa);
    der(0x30, &[algorithm, der(0x03, &bits)].concat())
}

fn pem(path: &Path, label: &str, der: &[u8]) {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("base64 is ASCII"))
        .collect();
    std::fs::write(
        path,
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        ),
    )
    .expect("as set up");
}

const VERIFY_HELP: &str = "pass the public key of the RSA key that signed (2048 to 8192 bits), e.g. `openssl pkey -in KEY -pubout`";

#[test]
fn rsa_public_keys_ring_cannot_verify_with_are_refused_when_read() {
    let (dir, layout) = built();
    openssl(dir.dir(), &["genrsa", "-out", "small.pem", "1024"]);
    openssl(
        dir.dir(),
        &["pkey", "-in", "small.pem", "-pubout", "-out", "small.pub"],
    );
    openssl(
        dir.dir(),
        &[
            "rsa",
            "-in",
            "small.pem",
            "-RSAPublicKey_out",
            "-out",
            "small-pkcs1.pub",
        ],
    );
    pem(
        &dir.path("huge.pub"),
        "PUBLIC KEY",
        &spki(&rsa_public_key(16384)),
    );
    pem(
        &dir.path("huge-pkcs1.pub"),
        "RSA PUBLIC KEY",
        &rsa_public_key(16384),
    );
    pem(
        &dir.path("garbage.pub"),
        "RSA PUBLIC KEY",
        b"not an RSA key at all",
    );
    let small =
        "is an RSA public key of 1024 bits, and glc verifies with RSA keys of 2048 to 8192 bits";
    let huge =
        "is an RSA public key of 16384 bits, and glc verifies with RSA keys of 2048 to 8192 bits";
    let cases = [
        ("small.pub", small),
        ("small-pkcs1.pub", small),
        ("huge.pub", huge),
        ("huge-pkcs1.pub", huge),
        (
            "garbage.pub",
            "is not a valid RSA public key: its content is not an RSAPublicKey (PKCS#1)",
        ),
    ];
    let layout = layout.to_str().expect("UTF-8 path");
    for (file, message) in cases {
        let key = dir.path(file);
        let key = key.to_str().expect("UTF-8 path");
        for command in [
            vec!["verify", layout, "--key", key],
            vec!["get", layout, "--role", "kernel", "-o", "-", "--key", key],
        ] {
            let error = Test::new()
                .arg("--message-format=json")
                .args(&command)
                .status(1)
                .run()
                .json_error();
            assert_eq!(error["message"], format!("{key}: {message}"), "{command:?}");
            assert_eq!(error["help"], VERIFY_HELP, "{command:?}");
            assert_eq!(error["code"], "glc::key", "{command:?}");
        }
        // The human rendering says the same (its lines wrapped at 100 columns, joined here).
        let printed = Test::new()
            .args(["verify", layout, "--key", key])
            .status(1)
            .run()
            .stderr();
        let words = |text: &str| {
            text.split_whitespace()
                .filter(|w| *w != "│")
                .collect::<Vec<_>>()
                .join(" ")
        };
        let printed = words(&printed);
        assert!(
            printed.contains(&words(&format!("× {key}: {message} help: {VERIFY_HELP}"))),
            "{printed}"
        );
    }
}

#[test]
fn rsa_private_keys_ring_cannot_sign_with_are_refused_naming_their_size() {
    let (dir, layout) = built();
    openssl(dir.dir(), &["genrsa", "-out", "small.pem", "1024"]);
    openssl(
        dir.dir(),
        &["genrsa", "-traditional", "-out", "small-pkcs1.pem", "1024"],
    );
    for file in ["small.pem", "small-pkcs1.pem"] {
        let key = dir.path(file);
        let error = Test::new()
            .args(["--message-format=json", "sign"])
            .arg(&layout)
            .arg("--key")
            .arg(&key)
            .status(1)
            .run()
            .json_error();
        assert_eq!(
            error["message"],
            format!(
                "{}: is an RSA key of 1024 bits, and glc signs with RSA keys of 2048 to 4096 bits",
                key.display()
            )
        );
        assert_eq!(
            error["help"],
            "use an RSA key of 2048 to 4096 bits, e.g. `openssl genrsa -out key.pem 4096`"
        );
    }
}
