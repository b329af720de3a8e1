//! The layout and a pushed release against oras and cosign, the clients of the field (Debian
//! trixie's packages, which `.ci/run` unpacks into `target/tools`): cosign verifies every
//! signature glc made with a key cosign generated; oras discovers every attachment and pulls
//! exactly a cloud image's files. Outside CI a missing tool skips its test loudly; in CI it
//! fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::Test;
use crate::build::Layout;
use crate::push::{attachments_by_subject, push_json};
use crate::registry::{Registry, tool};

const PASSWORD: &str = "glc-interop-password";
const CLOUD_IMAGE: &str = "application/io.gardenlinux.image";

/// Runs `program ARGS` in `dir`, which must succeed; its output.
fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .current_dir(dir)
        .args(args)
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A key pair `cosign generate-key-pair` writes into `dir/name` (`cosign.key`, `cosign.pub`).
fn cosign_key_pair(dir: &Path, name: &str) -> std::path::PathBuf {
    let keys = dir.join(name);
    std::fs::create_dir_all(&keys).expect("mkdir");
    run(&keys, "cosign", &["generate-key-pair"]);
    keys
}

#[test]
fn cosign_verifies_every_signature_glc_made_with_a_key_cosign_generated() {
    if !tool("cosign") {
        return;
    }
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new().top_level();
    let keys = cosign_key_pair(dir.dir(), "keys");
    // cosign 2.5 encrypts its keys with scrypt N=65536.
    let key_file = std::fs::read_to_string(keys.join("cosign.key")).expect("cosign.key");
    assert!(key_file.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    Test::new()
        .current_dir(dir.dir())
        .args(["build", "release/release.kdl", "-q", "-o", "out"])
        .arg("--sign-key")
        .arg(keys.join("cosign.key"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .run();
    let layout = Layout::open(&dir.path("out"));
    let destination = format!("{}/gardenlinux", registry.host());
    push_json(&layout.root, &destination, &[]);

    // Every manifest glc signed: the subjects of the signature tags.
    let signed: BTreeSet<String> = layout
        .tags()
        .into_keys()
        .filter_map(|tag| {
            let hex = tag.strip_prefix("sha256-")?.strip_suffix(".sig")?;
            Some(format!("sha256:{hex}"))
        })
        .collect();
    assert_eq!(signed.len(), 23, "every manifest and index of the release");
    let images: Vec<String> = signed
        .iter()
        .map(|digest| format!("{destination}@{digest}"))
        .collect();
    let verify = |public: &Path| {
        let mut args = vec![
            "verify",
            "--key",
            public.to_str().expect("UTF-8 path"),
            "--insecure-ignore-tlog",
            "--allow-insecure-registry",
            "--allow-http-registry",
        ];
        args.extend(images.iter().map(String::as_str));
        Command::new("cosign").args(&args).output().expect("cosign")
    };
    let output = verify(&keys.join("cosign.pub"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cosign verify: {stderr}");
    // One line of verified payloads an image, each naming the manifest it signs.
    let verified: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| serde_json::from_str::<Vec<Value>>(l).expect("cosign's JSON"))
        .map(|payload| {
            payload["critical"]["image"]["docker-manifest-digest"]
                .as_str()
                .expect("a digest")
                .to_owned()
        })
        .collect();
    assert_eq!(verified, signed);
    assert_eq!(stderr.matches("Verification for ").count(), signed.len());

    // Another key cosign made verifies none of them.
    let other = cosign_key_pair(dir.dir(), "other");
    let output = verify(&other.join("cosign.pub"));
    assert!(!output.status.success(), "another key verified");
    eprintln!(
        "interop: cosign verified {} of {} signatures glc made with a cosign key",
        verified.len(),
        signed.len()
    );
}

/// The digests `oras discover` lists as referrers of `reference`, sorted.
fn discovered(dir: &Path, args: &[&str], reference: &str) -> Vec<String> {
    let mut all = vec!["discover", "--format", "json"];
    all.extend(args);
    all.push(reference);
    let output = run(dir, "oras", &all);
    let listed: Value = serde_json::from_slice(&output.stdout).expect("oras's JSON");
    let mut digests: Vec<String> = listed["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|d| d["digest"].as_str().expect("digest").to_owned())
        .collect();
    digests.sort();
    digests
}

/// Every file in `dir`, by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            assert!(entry.file_type().expect("type").is_file(), "{entry:?}");
            let name = entry.file_name().into_string().expect("UTF-8 name");
            (name, std::fs::read(entry.path()).expect("read"))
        })
        .collect()
}

#[test]
fn oras_discovers_every_attachment_and_pulls_exactly_a_cloud_images_files() {
    if !tool("oras") {
        return;
    }
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = crate::build::build_top_level(&dir.path("out"));
    let repository = format!("{}/gardenlinux", registry.host());
    push_json(&layout.root, &repository, &[]);
    let attachments = attachments_by_subject(&layout);
    let cnames = layout.tags_of(CLOUD_IMAGE);
    assert_eq!(cnames.len(), 8);
    let mut pulled = 0;
    for cname in &cnames {
        let descriptor = layout.tag(cname);
        let digest = descriptor["digest"].as_str().expect("digest");
        let mut expected = attachments[digest].clone();
        expected.sort();
        assert_eq!(expected.len(), 2, "{cname}: a test log and an audit log");
        let in_layout = format!("{}:{cname}", layout.root.display());
        let in_registry = format!("{repository}:{cname}");
        assert_eq!(
            discovered(dir.dir(), &["--oci-layout"], &in_layout),
            expected,
            "{cname} in the layout"
        );
        assert_eq!(
            discovered(dir.dir(), &["--plain-http"], &in_registry),
            expected,
            "{cname} in the registry"
        );

        // Exactly its files: one per layer, named by its title, with its bytes, and nothing
        // else (no file named after the cname holding the manifest).
        let manifest = layout.json(&descriptor);
        let wanted: BTreeMap<String, Vec<u8>> = manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|layer| {
                let title = layer["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .expect("a title");
                let digest = layer["digest"].as_str().expect("digest");
                (title.to_owned(), layout.blob(digest))
            })
            .collect();
        for (name, source, flags) in [
            ("layout", in_layout.as_str(), "--oci-layout"),
            ("registry", in_registry.as_str(), "--plain-http"),
        ] {
            let into = dir.path(format!("pulled/{name}/{cname}"));
            let into_text = into.to_str().expect("UTF-8 path");
            run(dir.dir(), "oras", &["pull", flags, "-o", into_text, source]);
            let got = files(&into);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                wanted.keys().collect::<Vec<_>>(),
                "{cname} from the {name}: the files"
            );
            assert!(got == wanted, "{cname} from the {name}: other bytes");
            pulled += 1;
        }
    }
    eprintln!(
        "interop: oras discovered every attachment of {} cloud images and pulled {pulled} of them file for file, from the layout and the registry",
        cnames.len()
    );
}
