//! `glc verify` finds every kind of damage and names the blob; `glc inspect` shows the tree.

use std::path::Path;

use crate::build::Layout;
use crate::{Test, stderr};

fn built(dir: &Path) -> Layout {
    crate::build::build_top_level(&dir.join("out"))
}

fn verify(layout: &Path) -> (Option<i32>, String) {
    let output = Test::new()
        .arg("verify")
        .arg(layout)
        .command()
        .output()
        .expect("run glc");
    (output.status.code(), stderr(&output))
}

/// A layer blob of the first cloud image, for damaging.
fn some_layer(layout: &Layout) -> (String, std::path::PathBuf) {
    let image = layout.json(&layout.tag("aws-gardener_prod-amd64-1877.3-75df9f40"));
    let digest = image["layers"][3]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let path = layout
        .root
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    (digest, path)
}

#[test]
fn verify_passes_on_a_built_layout() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.ends_with(": 123 blobs, 234 KiB checked: 0 errors, 0 warnings\n"),
        "{text}"
    );
}

#[test]
fn verify_names_a_blob_with_a_flipped_byte() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let (digest, path) = some_layer(&layout);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!(
            "error: blob {digest} is corrupt: its bytes hash to sha256:"
        )),
        "{text}"
    );
    // Reached first through the release tree, in index.json's order.
    assert!(
        text.contains("    at index.json[0] (1877) → manifests[1] → manifests[0] → layers[3]\n"),
        "{text}"
    );
    assert!(text.ends_with("1 error, 0 warnings\n"), "{text}");
}

#[test]
fn verify_names_a_truncated_blob() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let (digest, path) = some_layer(&layout);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!(
            "error: blob {digest} has {} bytes, its descriptor says {}",
            bytes.len() / 2,
            bytes.len()
        )),
        "{text}"
    );
}

#[test]
fn verify_names_a_removed_blob() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let (digest, path) = some_layer(&layout);
    std::fs::remove_file(&path).expect("remove");
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!("error: blob {digest} is missing")),
        "{text}"
    );
}

#[test]
fn verify_names_an_edited_manifest_and_json_says_the_same() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let descriptor = layout.tag("base-1877.3");
    let digest = descriptor["digest"].as_str().expect("digest").to_owned();
    let path = layout
        .root
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let edited = std::fs::read_to_string(&path)
        .expect("read")
        .replace("\"schemaVersion\":2", "\"schemaVersion\":3");
    std::fs::write(&path, edited).expect("write");
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!("error: blob {digest} is corrupt")),
        "{text}"
    );
    assert!(text.contains("schemaVersion is 3, not 2"), "{text}");

    let output = Test::new()
        .arg("verify")
        .arg("--json")
        .arg(&layout.root)
        .status(1)
        .run();
    let report: serde_json::Value = serde_json::from_slice(&output.output.stdout).expect("json");
    let findings = report["findings"].as_array().expect("findings");
    assert!(findings.iter().all(|f| f["severity"] == "error"));
    assert!(findings.iter().any(|f| {
        f["digest"] == digest.as_str()
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("is corrupt"))
    }));
}

#[test]
fn verify_warns_about_unreferenced_blobs_without_failing() {
    let dir = Test::new();
    let layout = built(dir.dir());
    let stray = "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c";
    std::fs::write(
        layout
            .root
            .join("blobs/sha256")
            .join(stray.trim_start_matches("sha256:")),
        "foo\n",
    )
    .expect("write");
    let (code, text) = verify(&layout.root);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "warning: blob {stray} is not referenced from index.json"
        )),
        "{text}"
    );
    assert!(text.ends_with("0 errors, 1 warning\n"), "{text}");
}

#[test]
fn verify_finds_a_manifest_without_layers_and_a_dangling_subject() {
    let dir = Test::new();
    let root = dir.path("hand-made");
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |bytes: &[u8]| {
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("write");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config, config_size) = put(b"{}");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":{config_size}}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{zero}","size":1}}}}"#,
        zero = "0".repeat(64)
    );
    let (digest, size) = put(manifest.as_bytes());
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    std::fs::write(
        root.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size}}}]}}"#),
    )
    .expect("write");
    let (code, text) = verify(&root);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("error: a manifest needs at least one layer (image-spec 1.1)"),
        "{text}"
    );
    assert!(
        text.contains("error: a manifest with the empty config needs an artifactType"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "error: subject sha256:{} is not in the layout",
            "0".repeat(64)
        )),
        "{text}"
    );
}

#[test]
fn verify_and_inspect_read_a_layout_skopeo_wrote() {
    let Some(_) = crate::build::skopeo() else {
        return;
    };
    let dir = Test::new();
    let layout = built(dir.dir());
    let copy = dir.path("skopeo-layout");
    let output = std::process::Command::new("skopeo")
        .args(["copy", "--all", "--quiet"])
        .arg(format!("oci:{}:bare-libc-1877.3", layout.root.display()))
        .arg(format!("oci:{}:libc", copy.display()))
        .output()
        .expect("skopeo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (code, text) = verify(&copy);
    assert_eq!(code, Some(0), "{text}");
    let output = Test::new().arg("inspect").arg(&copy).run();
    let tree = output.stdout();
    assert!(tree.starts_with("[libc] index  "), "{tree}");
    assert!(tree.contains("manifest (linux/amd64)"), "{tree}");
    assert!(tree.contains("manifest (linux/arm64)"), "{tree}");
}

#[test]
fn inspect_shows_the_top_level_release_as_a_tree() {
    let dir = Test::new();
    let layout = built(dir.dir());
    Test::new()
        .arg("inspect")
        .arg(&layout.root)
        .arg("1877.3")
        .stdout_matches("tests/snapshots/inspect-1877.3.txt")
        .run();

    let output = Test::new()
        .arg("inspect")
        .arg("--json")
        .arg(&layout.root)
        .run();
    let nodes: serde_json::Value = serde_json::from_slice(&output.output.stdout).expect("json");
    let roots = nodes.as_array().expect("roots");
    // 18 tags on 17 digests (1877 and 1877.3 share the release index); attachments sit under
    // their images, not at the top.
    assert_eq!(roots.len(), 17);
    assert_eq!(roots[0]["tags"], serde_json::json!(["1877", "1877.3"]));

    Test::new()
        .arg("inspect")
        .arg(&layout.root)
        .arg("nope")
        .status(1)
        .stderr_contains("no tag `nope`")
        .run();
}
