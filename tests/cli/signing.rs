//! Signatures: `glc sign`, `--sign-key` and `glc verify --key`. Every signature is checked
//! the way the update tool on a running Garden Linux checks it, step by step, and the
//! signature itself by `openssl dgst -verify`, an implementation glc does not share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::test::{Layout, copy_dir, snapshot};
use crate::{Ran, Test, repo};

pub fn is_signature_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") && tag.len() == "sha256-".len() + 64 + ".sig".len()
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const COSIGN_PASSWORD: &str = "glc-test-password";
const REPOSITORY: &str = "ghcr.io/gardenlinux/gardenlinux";

pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `openssl req` with a new P-256 key into `key` and `out` for `subject`: a certificate
/// request, or with `-x509` among `extra` a self-signed certificate.
pub fn p256_req(dir: &Path, extra: &[&str], subject: &str, key: &Path, out: &Path) {
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ];
    args.extend_from_slice(extra);
    let (key, out) = (path(key), path(out));
    args.extend_from_slice(&["-nodes", "-subj", subject, "-keyout", &key, "-out", &out]);
    openssl(dir, &args);
}

/// A self-signed P-256 certificate with `subject` (a CA), valid `days`, made by openssl in
/// `dir`: the key into `key`, the certificate into `certificate` (PEM).
pub fn self_signed_p256(dir: &Path, subject: &str, days: &str, key: &Path, certificate: &Path) {
    p256_req(dir, &["-x509", "-days", days], subject, key, certificate);
}

/// A key made by openssl, in one of the PEM forms glc reads.
pub struct Key {
    /// The private key file.
    pub private: PathBuf,
    /// Its public key, as `-----BEGIN PUBLIC KEY-----`.
    pub public: PathBuf,
    /// The digest the signature is made over, for `openssl dgst`.
    digest: &'static str,
}

/// Makes a key in `dir` named `name`: `kind` is one of the forms below.
pub fn make_key(dir: &Path, name: &str, kind: &str) -> Key {
    let private = format!("{name}.pem");
    let public = format!("{name}.pub");
    let digest = match kind {
        // openssl 3 writes PKCS#8 by default, PKCS#1 with -traditional.
        "rsa-pkcs8" => {
            openssl(dir, &["genrsa", "-out", &private, "2048"]);
            "-sha256"
        }
        "rsa-pkcs1" => {
            openssl(dir, &["genrsa", "-traditional", "-out", &private, "3072"]);
            "-sha256"
        }
        // `ecparam -genkey` writes SEC1 after an EC PARAMETERS block.
        "p256-sec1" => {
            openssl(
                dir,
                &[
                    "ecparam",
                    "-genkey",
                    "-name",
                    "prime256v1",
                    "-out",
                    &private,
                ],
            );
            "-sha256"
        }
        "p384-sec1" => {
            openssl(
                dir,
                &["ecparam", "-genkey", "-name", "secp384r1", "-out", &private],
            );
            "-sha384"
        }
        "p256-pkcs8" | "p384-pkcs8" => {
            let curve = if kind == "p256-pkcs8" {
                "prime256v1"
            } else {
                "secp384r1"
            };
            let sec1 = format!("{name}.sec1");
            openssl(dir, &["ecparam", "-genkey", "-name", curve, "-out", &sec1]);
            openssl(
                dir,
                &[
                    "pkcs8", "-topk8", "-nocrypt", "-in", &sec1, "-out", &private,
                ],
            );
            if kind == "p256-pkcs8" {
                "-sha256"
            } else {
                "-sha384"
            }
        }
        other => panic!("no key kind {other}"),
    };
    openssl(dir, &["pkey", "-in", &private, "-pubout", "-out", &public]);
    set_mode(&dir.join(&private), 0o600);
    Key {
        private: dir.join(private),
        public: dir.join(public),
        digest,
    }
}

/// A committed cosign-format key `name` (see tests/fixtures/signing/README.md).
fn cosign_key(dir: &Path, name: &str) -> Key {
    let fixtures = repo().join("tests/fixtures/signing");
    // Copied, so that its mode is this test's (git does not keep 0600), without the prefix:
    // the terminal test reads a message wrapped at 100 columns, which a longer path moves.
    let private = dir.join(format!("{}.key", name.trim_start_matches("test-only-")));
    std::fs::copy(fixtures.join(format!("{name}.key")), &private).expect("copy key");
    set_mode(&private, 0o600);
    Key {
        private,
        public: fixtures.join(format!("{name}.pub")),
        digest: "-sha256",
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The top-level release, built unsigned into `out` of a fresh test directory.
pub fn built() -> (Ran, PathBuf) {
    let ran = Test::new()
        .top_level()
        .args(["build", "release/release.kdl", "-q", "-o", "out"])
        .run();
    let out = ran.path("out");
    (ran, out)
}

/// The top-level release built, and signed with a new key `name` of `kind`.
fn signed(name: &str, kind: &str) -> (Ran, PathBuf, Key) {
    let (dir, layout) = built();
    let key = make_key(dir.dir(), name, kind);
    sign(&layout, &key);
    (dir, layout, key)
}

fn sign(layout: &Path, key: &Key) -> Ran {
    Test::new()
        .env("COSIGN_PASSWORD", COSIGN_PASSWORD)
        .args(["sign", path_str(layout), "--key", path_str(&key.private)])
        .run()
}

/// `glc --message-format=json ARGS`, which must fail; its first diagnostic.
fn json_error<'a>(args: impl IntoIterator<Item = &'a str>) -> Value {
    Test::new()
        .arg("--message-format=json")
        .args(args)
        .status(1)
        .run()
        .json_error()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON")
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    Layout::open(layout).blob(digest)
}

fn tags(layout: &Path) -> BTreeMap<String, String> {
    Layout::open(layout).tags()
}

/// The manifest digests of the top-level release's cloud images, found from its release tag
/// through the Release index and `CloudImages`.
fn cloud_images(layout: &Path) -> Vec<(String, String)> {
    let release = read_json(&layout.join("index.json"))["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"][REF_NAME] == "1877.3")
        .expect("the release tag")
        .clone();
    let release: Value = serde_json::from_slice(&blob(
        layout,
        release["digest"].as_str().expect("as set up"),
    ))
    .expect("as set up");
    let cloud_images = release["manifests"]
        .as_array()
        .expect("as set up")
        .iter()
        .find(|m| m["artifactType"] == "application/io.gardenlinux.cloud-images")
        .expect("CloudImages");
    let cloud_images: Value = serde_json::from_slice(&blob(
        layout,
        cloud_images["digest"].as_str().expect("as set up"),
    ))
    .expect("as set up");
    let images: Vec<(String, String)> = cloud_images["manifests"]
        .as_array()
        .expect("as set up")
        .iter()
        .map(|m| {
            (
                m["annotations"]["cname"]
                    .as_str()
                    .expect("as set up")
                    .to_owned(),
                m["digest"].as_str().expect("as set up").to_owned(),
            )
        })
        .collect();
    assert_eq!(images.len(), 8, "the top-level release has 8 cloud images");
    images
}

/// What the update tool does for one manifest, byte for byte: fetch the tag
/// `sha256-<hex>.sig`, read `layers[0].digest` and the signature annotation, fetch that
/// payload, check it names the manifest, hash it itself, and verify the signature with the
/// public key (here by openssl). Returns the payload.
/// `glc verify --require-signatures --key` passes on the layout.
fn verify_signed(layout: &Path, key: &Key) {
    Test::new()
        .args([
            "verify",
            path_str(layout),
            "--require-signatures",
            "--key",
            path_str(&key.public),
        ])
        .run();
}

fn update_tool_accepts(layout: &Path, digest: &str, key: &Key, scratch: &Path) -> Value {
    let tags = tags(layout);
    let fetch = |kind: &str, reference: &str| match kind {
        "manifests" if !reference.starts_with("sha256:") => blob(layout, &tags[reference]),
        _ => blob(layout, reference),
    };
    update_tool_accepts_from(&fetch, digest, key, scratch)
}

/// The update tool's steps, reading documents (`manifests`) by tag or digest and `blobs` by
/// digest through `fetch`, from a layout or a registry.
fn update_tool_accepts_from(
    fetch: &dyn Fn(&str, &str) -> Vec<u8>,
    digest: &str,
    key: &Key,
    scratch: &Path,
) -> Value {
    let hex = digest.strip_prefix("sha256:").expect("as set up");
    let manifest: Value = serde_json::from_slice(&fetch("manifests", &format!("sha256-{hex}.sig")))
        .expect("as set up");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload_digest = layer["digest"].as_str().expect("as set up");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .expect("the signature annotation"),
        )
        .expect("base64");
    let payload = fetch("blobs", payload_digest);
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&payload))),
        payload_digest,
        "the payload hashes to its digest"
    );
    let parsed: Value = serde_json::from_slice(&payload).expect("as set up");
    assert_eq!(
        parsed["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        parsed["critical"]["type"],
        "cosign container image signature"
    );
    let (payload_file, signature_file) = (scratch.join("payload"), scratch.join("signature"));
    std::fs::write(&payload_file, &payload).expect("as set up");
    std::fs::write(&signature_file, &signature).expect("as set up");
    let verified = openssl(
        scratch,
        &[
            "dgst",
            key.digest,
            "-verify",
            path_str(&key.public),
            "-signature",
            path_str(&signature_file),
            path_str(&payload_file),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).trim(),
        "Verified OK"
    );
    parsed
}

#[test]
fn every_cloud_image_passes_the_update_tools_checks_with_every_kind_of_key() {
    let (dir, unsigned) = built();
    for kind in [
        "rsa-pkcs8",
        "rsa-pkcs1",
        "p256-sec1",
        "p256-pkcs8",
        "p384-sec1",
        "p384-pkcs8",
        "cosign",
        "cosign-2.5",
    ] {
        let key = match kind {
            "cosign" => cosign_key(dir.dir(), "test-only-cosign"),
            // cosign 2.5 writes scrypt N=65536, where older versions wrote N=32768.
            "cosign-2.5" => cosign_key(dir.dir(), "test-only-cosign-2.5"),
            _ => make_key(dir.dir(), kind, kind),
        };
        let layout = dir.path(format!("signed-{kind}"));
        copy_dir(&unsigned, &layout);
        sign(&layout, &key);
        for (cname, digest) in cloud_images(&layout) {
            let payload = update_tool_accepts(&layout, &digest, &key, dir.dir());
            assert_eq!(
                payload["critical"]["identity"]["docker-reference"], REPOSITORY,
                "{kind}: {cname}"
            );
        }
        verify_signed(&layout, &key);
    }
}

#[test]
fn the_payload_and_signature_manifest_are_cosigns_bytes() {
    let (_dir, layout, _key) = signed("rsa", "rsa-pkcs8");
    let (_, digest) = cloud_images(&layout).remove(0);
    let hex = digest.strip_prefix("sha256:").expect("as set up");
    let manifest = blob(&layout, &tags(&layout)[&format!("sha256-{hex}.sig")]);
    let parsed: Value = serde_json::from_slice(&manifest).expect("as set up");
    let layer = &parsed["layers"][0];
    let payload = blob(&layout, layer["digest"].as_str().expect("as set up"));
    assert_eq!(
        String::from_utf8(payload).expect("as set up"),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{REPOSITORY}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    let config = blob(
        &layout,
        parsed["config"]["digest"].as_str().expect("as set up"),
    );
    assert_eq!(
        String::from_utf8(config.clone()).expect("as set up"),
        format!(
            r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
            layer["digest"].as_str().expect("as set up")
        )
    );
    assert_eq!(
        String::from_utf8(manifest).expect("as set up"),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"sha256:{}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":{},"digest":"{}","annotations":{{"dev.cosignproject.cosign/signature":"{}"}}}}]}}"#,
            config.len(),
            hex::encode(Sha256::digest(&config)),
            layer["size"],
            layer["digest"].as_str().expect("as set up"),
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .expect("as set up"),
        )
    );
}

#[test]
fn every_manifest_and_index_glc_wrote_and_every_container_is_signed_and_index_json_stays_in_order()
{
    let (dir, layout) = built();
    let key = make_key(dir.dir(), "p256", "p256-sec1");
    let before = tags(&layout);
    let output = sign(&layout, &key);
    // Release, MetaData, CloudImages, 8 cloud images, ContainerImages, 2 groups, 8 containers,
    // and the 2 platform images of base that the release index lists.
    assert_eq!(
        output.stderr(),
        format!(
            "{}: 23 manifests signed with an ECDSA P-256 key, 23 signature manifest(s) written\n",
            layout.display()
        )
    );
    let after = tags(&layout);
    for (tag, digest) in &before {
        assert_eq!(after.get(tag), Some(digest), "{tag} is unchanged");
        let hex = digest.strip_prefix("sha256:").expect("as set up");
        assert!(
            after.contains_key(&format!("sha256-{hex}.sig")),
            "{tag} is signed"
        );
    }
    assert_eq!(
        after.len(),
        before.len() + 23,
        "one signature manifest a digest"
    );
    let index = read_json(&layout.join("index.json"));
    let order: Vec<(bool, String)> = index["manifests"]
        .as_array()
        .expect("as set up")
        .iter()
        .map(|m| match m["annotations"][REF_NAME].as_str() {
            Some(tag) => (false, tag.to_owned()),
            None => (true, m["digest"].as_str().expect("as set up").to_owned()),
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(
        order, sorted,
        "tags in byte order, then untagged entries by digest"
    );
    Test::new().args(["verify", path_str(&layout)]).run();
}

#[test]
fn signing_again_with_the_same_key_changes_nothing_and_another_key_adds_a_layer() {
    let (dir, layout) = built();
    let rsa = make_key(dir.dir(), "rsa", "rsa-pkcs1");
    let ec = make_key(dir.dir(), "ec", "p384-pkcs8");
    sign(&layout, &rsa);
    let once = snapshot(&layout);
    let output = sign(&layout, &rsa);
    assert!(
        output
            .stderr()
            .contains("0 signature manifest(s) written (already signed with this key)")
    );
    assert!(
        snapshot(&layout) == once,
        "a second signing with the same key wrote something"
    );

    let first = tags(&layout);
    sign(&layout, &ec);
    let second = tags(&layout);
    let signature_tags: Vec<&String> = first.keys().filter(|t| is_signature_tag(t)).collect();
    assert_eq!(signature_tags.len(), 23);
    assert_eq!(
        second.keys().filter(|t| is_signature_tag(t)).count(),
        23,
        "the same tags, extended"
    );
    for tag in signature_tags {
        let old: Value = serde_json::from_slice(&blob(&layout, &first[tag])).expect("as set up");
        let new: Value = serde_json::from_slice(&blob(&layout, &second[tag])).expect("as set up");
        let layers = new["layers"].as_array().expect("as set up");
        assert_eq!(layers.len(), 2, "{tag}");
        assert_eq!(
            layers[0], old["layers"][0],
            "{tag}: the first signature is kept"
        );
    }
    for (_, digest) in cloud_images(&layout) {
        update_tool_accepts(&layout, &digest, &rsa, dir.dir());
    }
    // The replaced signature manifests and configs (2 × 23) stay one signing for readers of the old
    // `index.json`, as a build's update in place keeps them, and go with the next; verify
    // counts them as kept, not as warnings.
    let kept = |layout: &Path| {
        let output = Test::new()
            .args(["--message-format=json", "verify", path_str(layout)])
            .run();
        let summary = output.json_errors().pop().expect("a summary");
        assert_eq!(summary["warnings"], 0, "{summary}");
        summary["kept"].as_u64().expect("kept")
    };
    assert_eq!(kept(&layout), 46);
    let third = make_key(dir.dir(), "third", "p256-pkcs8");
    sign(&layout, &third);
    assert_eq!(kept(&layout), 46, "the first signing's manifests are gone");
    for key in [&rsa, &ec, &third] {
        verify_signed(&layout, key);
    }
}

#[test]
fn two_signed_builds_are_byte_identical_and_equal_a_build_signed_afterwards() {
    let dir = Test::new().top_level();
    let key = make_key(dir.dir(), "ec", "p256-sec1");
    let build = |out: &str| {
        dir.test()
            .args(["build", "release/release.kdl", "-q", "-o", out])
    };
    let signed_build = |out: &str| build(out).args(["--sign-key", path_str(&key.private)]);
    for out in ["one", "two"] {
        signed_build(out).run();
    }
    let one = snapshot(&dir.path("one"));
    // `--digests` lists the signature tags too, where they will be pushed.
    signed_build("one")
        .args(["--digests", "digests.json"])
        .run();
    let digests = read_json(&dir.path("digests.json"));
    let built_tags = tags(&dir.path("one"));
    let listed: Vec<&String> = digests["tags"].as_object().expect("tags").keys().collect();
    assert_eq!(listed, built_tags.keys().collect::<Vec<_>>());
    for (tag, digest) in built_tags.iter().filter(|(t, _)| is_signature_tag(t)) {
        assert_eq!(digests["tags"][tag]["digest"], digest.as_str());
        assert_eq!(
            digests["tags"][tag]["destination"],
            format!("{REPOSITORY}:{tag}")
        );
    }
    assert!(
        one == snapshot(&dir.path("two")),
        "two signed builds differ"
    );
    let (_later_dir, later) = built();
    sign(&later, &key);
    assert!(one == snapshot(&later), "--sign-key differs from glc sign");
    // Building over an unsigned layout with a key signs it; over a signed one changes nothing.
    build("unsigned").run();
    signed_build("unsigned").run();
    verify_signed(&dir.path("unsigned"), &key);
}

#[test]
fn a_merge_of_unsigned_parts_signed_by_the_merge_is_the_signed_full_build() {
    let dir = Test::new().top_level();
    let key = make_key(dir.dir(), "rsa", "rsa-pkcs8");
    let sign_key = ["--sign-key", path_str(&key.private)];
    let build = |out: &str| {
        dir.test()
            .args(["build", "release/release.kdl", "-q", "-o", out])
    };
    build("full").args(sign_key).run();
    for (part, pattern) in [("a", "aws-*"), ("b", "!aws-*")] {
        let mut cmd = build(part);
        if pattern.starts_with('!') {
            for p in [
                "{azure,gcp,openstack}-*",
                "bare*",
                "base",
                "*-build",
                "debian-snapshot",
            ] {
                cmd = cmd.args(["--only", p]);
            }
        } else {
            cmd = cmd.args(["--only", pattern]);
        }
        cmd.run();
    }
    dir.test()
        .args(["merge", "a", "b", "-q", "-o", "merged"])
        .args(sign_key)
        .run();
    assert!(
        snapshot(&dir.path("full")) == snapshot(&dir.path("merged")),
        "a signing merge differs from a signed full build"
    );
}

/// Verifies `layout` with `key`, which must fail; returns what glc printed.
fn verify_fails(layout: &Path, key: &Key) -> String {
    Test::new()
        .args(["verify", path_str(layout), "--key", path_str(&key.public)])
        .status(1)
        .run()
        .stderr()
}

/// Replaces a blob of the layout with `bytes`, and every mention of its digest in
/// `index.json` with the new one: a consistent forgery, caught only by the signature.
fn forge(layout: &Path, old_digest: &str, bytes: &[u8]) {
    let old_hex = old_digest.strip_prefix("sha256:").expect("as set up");
    let new_hex = hex::encode(Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&new_hex), bytes).expect("as set up");
    let index = std::fs::read_to_string(layout.join("index.json")).expect("as set up");
    std::fs::write(layout.join("index.json"), index.replace(old_hex, &new_hex)).expect("as set up");
}

#[test]
fn a_flipped_byte_in_a_payload_a_signature_or_a_manifest_fails_naming_the_manifest() {
    let (dir, signed, key) = signed("rsa", "rsa-pkcs8");
    let (cname, digest) = cloud_images(&signed).remove(0);
    let hex = digest
        .strip_prefix("sha256:")
        .expect("as set up")
        .to_owned();
    let signature_tag = format!("sha256-{hex}.sig");

    // The payload: one byte flipped in place.
    let layout = dir.path("payload");
    copy_dir(&signed, &layout);
    let manifest: Value =
        serde_json::from_slice(&blob(&layout, &tags(&layout)[&signature_tag])).expect("as set up");
    let payload_digest = manifest["layers"][0]["digest"].as_str().expect("as set up");
    let payload_path = layout
        .join("blobs/sha256")
        .join(payload_digest.strip_prefix("sha256:").expect("as set up"));
    let mut payload = std::fs::read(&payload_path).expect("as set up");
    payload[10] ^= 1;
    std::fs::write(&payload_path, &payload).expect("as set up");
    let printed = verify_fails(&layout, &key);
    assert!(printed.contains(&format!("{cname} ({digest}): signature 0: its payload: blob {payload_digest} does not match its digest")), "{printed}");

    // The signature: a byte of it flipped, the signature manifest and index.json made to agree.
    let layout = dir.path("signature");
    copy_dir(&signed, &layout);
    let manifest_digest = tags(&layout)[&signature_tag].clone();
    let mut manifest: Value =
        serde_json::from_slice(&blob(&layout, &manifest_digest)).expect("as set up");
    let annotation =
        &mut manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"];
    let mut signature = base64::engine::general_purpose::STANDARD
        .decode(annotation.as_str().expect("as set up"))
        .expect("as set up");
    signature[5] ^= 1;
    *annotation = Value::String(base64::engine::general_purpose::STANDARD.encode(&signature));
    forge(
        &layout,
        &manifest_digest,
        &serde_json::to_vec(&manifest).expect("as set up"),
    );
    let printed = verify_fails(&layout, &key);
    assert!(
        printed.contains(&format!("{cname} ({digest}): signed, but by another key")),
        "{printed}"
    );

    // The manifest: a byte of the cloud image's manifest flipped in place.
    let layout = dir.path("manifest");
    copy_dir(&signed, &layout);
    let path = layout.join("blobs/sha256").join(&hex);
    let mut manifest = std::fs::read(&path).expect("as set up");
    let at = manifest.len() / 2;
    manifest[at] ^= 1;
    std::fs::write(&path, &manifest).expect("as set up");
    let printed = verify_fails(&layout, &key);
    assert!(
        printed.contains(&format!("{cname}: blob {digest} does not match its digest")),
        "{printed}"
    );
}

#[test]
fn verify_names_unsigned_manifests_and_those_signed_by_another_key() {
    let (dir, layout) = built();
    let (mine, theirs) = (
        make_key(dir.dir(), "mine", "p256-sec1"),
        make_key(dir.dir(), "theirs", "p256-sec1"),
    );
    // Unsigned: a warning for each, an error with --require-signatures.
    let output = Test::new()
        .args(["verify", path_str(&layout), "--key", path_str(&mine.public)])
        .run();
    let printed = output.stderr();
    assert!(printed.contains("0 errors, 23 warnings"), "{printed}");
    assert!(printed.contains("warning: 1877 (sha256:"), "{printed}");
    assert!(
        printed.contains(") is not signed: no tag sha256-"),
        "{printed}"
    );
    let output = Test::new()
        .args([
            "verify",
            path_str(&layout),
            "--require-signatures",
            "--key",
            path_str(&mine.public),
        ])
        .status(1)
        .run();
    assert!(output.stderr().contains("23 errors, 0 warnings"));
    sign(&layout, &theirs);
    let printed = verify_fails(&layout, &mine);
    assert!(printed.contains("23 errors, 0 warnings"), "{printed}");
    assert!(
        printed.contains(
            "signed, but by another key: none of its 1 signature(s) verifies with the given key"
        ),
        "{printed}"
    );
}

#[test]
fn bad_keys_fail_clearly_write_nothing_and_never_show_the_key() {
    let (dir, layout) = built();
    let before = snapshot(&layout);
    let rsa = make_key(dir.dir(), "rsa", "rsa-pkcs8");
    let cosign = cosign_key(dir.dir(), "test-only-cosign");
    openssl(
        dir.dir(),
        &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"],
    );
    let key_text = std::fs::read_to_string(&rsa.private).expect("as set up");
    let cases: [(&Path, Option<&str>, &str); 5] = [
        (
            &cosign.private,
            Some("wrong"),
            "cannot be decrypted: the password is wrong or the file is altered",
        ),
        (
            &cosign.private,
            None,
            "is an encrypted cosign key, and COSIGN_PASSWORD is not set",
        ),
        (
            &rsa.public,
            None,
            "is a public key, and signing needs the private key",
        ),
        (
            &dir.path("ed.pem"),
            None,
            "is an Ed25519 key, which glc does not sign with yet",
        ),
        (&layout.join("index.json"), None, "holds no PEM block"),
    ];
    for (key, password, message) in cases {
        let with_password = |test: Test| match password {
            Some(password) => test.env("COSIGN_PASSWORD", password),
            None => test.env_remove("COSIGN_PASSWORD"),
        };
        let error = with_password(Test::new())
            .args([
                "--message-format=json",
                "sign",
                path_str(&layout),
                "--key",
                path_str(key),
            ])
            .status(1)
            .run()
            .json_error();
        assert_eq!(
            error["message"].as_str().expect("as set up"),
            format!("{}: {message}", key.display())
        );
        assert!(snapshot(&layout) == before, "{message}: the layout changed");
        // The same refusal from a build: nothing written at all.
        let out = dir.path("never");
        with_password(Test::new())
            .args([
                "build",
                path_str(&dir.path("release/release.kdl")),
                "-o",
                path_str(&out),
            ])
            .args(["--sign-key", path_str(key)])
            .status(1)
            .run();
        assert!(!out.exists(), "{message}: a build wrote its output");
    }
    // Verifying needs the public key; a private one is refused, not used.
    let error = json_error(["verify", path_str(&layout), "--key", path_str(&rsa.private)]);
    assert_eq!(
        error["message"],
        format!(
            "{}: is a private key, and verifying needs the public key",
            rsa.private.display()
        )
    );
    // A key others can read: a warning, and the key's bytes appear nowhere.
    set_mode(&rsa.private, 0o644);
    let output = sign(&layout, &rsa);
    let printed = output.stderr();
    assert!(printed.starts_with(&format!(
        "glc: warning: the private key {} is readable by group or others (mode 644); `chmod 600 {}`\n",
        rsa.private.display(),
        rsa.private.display()
    )), "{printed}");
    for line in key_text.lines().filter(|l| !l.starts_with("-----")) {
        for file in snapshot(&layout).values() {
            assert!(
                !String::from_utf8_lossy(file).contains(line),
                "the key is in the layout"
            );
        }
        assert!(!printed.contains(line));
    }
}

#[test]
fn a_layout_without_a_repository_needs_one_named() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let text = std::fs::read_to_string(&release).expect("as set up");
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("repository "))
        .fold(String::new(), |kept, line| kept + line + "\n");
    assert_ne!(without, text);
    std::fs::write(&release, without).expect("as set up");
    let layout = dir.path("out");
    Test::new()
        .args(["build", path_str(&release), "-q", "-o", path_str(&layout)])
        .run();
    let key = make_key(dir.dir(), "rsa", "rsa-pkcs8");
    let error = json_error(["sign", path_str(&layout), "--key", path_str(&key.private)]);
    assert_eq!(
        error["message"].as_str().expect("as set up"),
        format!(
            "{} names no repository for the signatures' docker-reference",
            layout.display()
        )
    );
    Test::new()
        .args(["sign", path_str(&layout), "--key", path_str(&key.private)])
        .args(["--repository", "registry.example/gl"])
        .run();
    for (_, digest) in cloud_images(&layout) {
        let payload = update_tool_accepts(&layout, &digest, &key, dir.dir());
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"],
            "registry.example/gl"
        );
    }
}

#[test]
fn a_part_is_not_signed_the_merge_is() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let key = make_key(dir.dir(), "rsa", "rsa-pkcs8");
    let part = dir.path("part");
    let build_part = dir.test().args([
        "build",
        path_str(&release),
        "-q",
        "-o",
        path_str(&part),
        "--only",
        "aws-*",
    ]);
    build_part
        .clone()
        .args(["--sign-key", path_str(&key.private)])
        .status(2)
        .stderr_contains("the argument '--only <PATTERN>' cannot be used with '--sign-key <FILE>'")
        .run();
    assert!(!part.exists());
    build_part.run();
    let before = snapshot(&part);
    let error = json_error(["sign", path_str(&part), "--key", path_str(&key.private)]);
    assert_eq!(
        error["message"],
        format!(
            "{} is a part of a release (`glc build --only`), which glc does not sign",
            part.display()
        )
    );
    assert_eq!(
        error["help"],
        "merge the parts unsigned and sign the merge: `glc merge PART… -o DIR --sign-key FILE`"
    );
    assert!(snapshot(&part) == before, "the part changed");
}

/// Runs `glc ARGS` on a terminal (util-linux `script` gives it one), answering the password
/// prompt with `password` once it is shown; returns everything the terminal showed.
fn on_a_terminal(args: &[&str], password: &str) -> String {
    use std::io::{Read as _, Write as _};
    let glc = assert_cmd::cargo::cargo_bin("glc");
    let command = std::iter::once(path_str(&glc))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("COSIGN_PASSWORD")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run script (util-linux)");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    let password = password.to_owned();
    std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut byte = [0u8; 1];
        let mut answered = false;
        while stdout.read(&mut byte).is_ok_and(|n| n == 1) {
            shown.push(byte[0]);
            // The prompt is shown after echo is off: the answer is typed unseen.
            if !answered && String::from_utf8_lossy(&shown).ends_with(": ") {
                answered = true;
                let _ = stdin.write_all(format!("{password}\n").as_bytes());
            }
        }
        let _ = sender.send(String::from_utf8_lossy(&shown).into_owned());
    });
    // A bound, not a timing: a prompt that never comes fails the test instead of hanging it.
    let shown = receiver
        .recv_timeout(std::time::Duration::from_mins(2))
        .expect("glc ended within 120 s");
    child.wait().expect("script ends");
    shown
}

#[test]
fn a_cosign_keys_password_is_asked_on_a_terminal_without_echo() {
    let (dir, layout) = built();
    let key = cosign_key(dir.dir(), "test-only-cosign");
    let before = snapshot(&layout);
    let shown = on_a_terminal(
        &["sign", path_str(&layout), "--key", path_str(&key.private)],
        "wrong",
    );
    assert!(
        shown.contains("cannot be decrypted: the password is wrong or the file is altered"),
        "{shown}"
    );
    assert!(
        !shown.contains("wrong\r"),
        "the password was echoed: {shown}"
    );
    assert!(
        snapshot(&layout) == before,
        "a wrong password changed the layout"
    );
    let shown = on_a_terminal(
        &["sign", path_str(&layout), "--key", path_str(&key.private)],
        COSIGN_PASSWORD,
    );
    assert_eq!(
        shown,
        format!(
            "Enter password for private key {}: \r\n{}: 23 manifests signed with an ECDSA P-256 key, 23 signature manifest(s) written\r\n",
            key.private.display(),
            layout.display()
        )
    );
    for (_, digest) in cloud_images(&layout) {
        update_tool_accepts(&layout, &digest, &key, dir.dir());
    }
}

#[test]
fn the_update_tool_accepts_every_cloud_image_from_a_registry_after_glc_push() {
    let Some(registry) = crate::registry::Registry::start("") else {
        return;
    };
    let (dir, layout, key) = signed("rsa", "rsa-pkcs8");
    Test::new()
        .args(["push", "-q", path_str(&layout)])
        .arg(format!("{}/gardenlinux", registry.host()))
        .run();
    let fetch = |kind: &str, reference: &str| -> Vec<u8> {
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut ureq2::get(&registry.url(&format!("/v2/gardenlinux/{kind}/{reference}")))
                .set(
                    "Accept",
                    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
                )
                .call()
                .unwrap_or_else(|e| panic!("GET {kind}/{reference}: {e}"))
                .into_reader(),
            &mut body,
        )
        .expect("read");
        body
    };
    let images = cloud_images(&layout);
    assert_eq!(images.len(), 8);
    for (cname, digest) in images {
        let payload = update_tool_accepts_from(&fetch, &digest, &key, dir.dir());
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"], REPOSITORY,
            "{cname}"
        );
    }
}

/// Every node of an inspected tree, depth first, with the signature tags shown under it.
fn walk<'v>(node: &'v Value, found: &mut Vec<(&'v Value, Vec<String>)>) {
    let signatures = node["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["tags"].as_array().into_iter().flatten())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .filter(|t| is_signature_tag(t))
        .collect();
    found.push((node, signatures));
    for child in node["children"].as_array().into_iter().flatten() {
        walk(child, found);
    }
    for child in node["attachments"].as_array().into_iter().flatten() {
        walk(child, found);
    }
}

#[test]
fn inspect_shows_each_signature_under_the_manifest_it_signs() {
    let (_dir, layout, _key) = signed("p256", "p256-sec1");
    let output = Test::new()
        .args(["inspect", "--json", path_str(&layout)])
        .run();
    let roots: Value = serde_json::from_slice(&output.output.stdout).expect("json");
    let roots = roots.as_array().expect("roots");
    assert!(
        roots
            .iter()
            .all(|r| r["tags"].as_array().is_none_or(|tags| tags
                .iter()
                .all(|t| !is_signature_tag(t.as_str().unwrap_or(""))))),
        "a signature is listed as a root"
    );
    let mut found = Vec::new();
    for root in roots {
        walk(root, &mut found);
    }
    for (cname, digest) in cloud_images(&layout) {
        let hex = digest.strip_prefix("sha256:").expect("as set up");
        let (_, signatures) = found
            .iter()
            .find(|(n, s)| n["digest"] == digest.as_str() && !s.is_empty())
            .unwrap_or_else(|| panic!("{cname} is shown without its signature"));
        assert_eq!(signatures, &[format!("sha256-{hex}.sig")], "{cname}");
    }
}
