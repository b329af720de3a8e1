//! `metadata { file … }`: files of the release as a whole (release notes, versions, a
//! release-level SBOM) as layers of `MetaData`, in the plan, in the release manifest, in parts
//! and merges, and fetched with `glc get --metadata NAME` from a layout and from a registry.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Test;
use crate::registry::Registry;
use crate::test::Layout;

const NOTES: &str = "# Garden Linux 1877.3\n\nRelease notes.\n";
const VERSIONS: &str = "linux 6.12.17\nsystemd 257.3\n";
const SBOM: &str = "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\"}";

/// The top-level release in `release/`, with `lines` added to its `metadata` after the
/// changelog, and the release's own files beside its artifacts.
fn with_metadata(lines: &str) -> Test {
    let test = Test::new()
        .top_level()
        .file("release/artifacts/release-notes.md", NOTES)
        .file("release/artifacts/versions.txt", VERSIONS)
        .file("release/artifacts/release.sbom", SBOM);
    let path = test.path("release/release.kdl");
    let kdl = std::fs::read_to_string(&path).expect("release.kdl");
    let changelog = "        changelog \"{{ build }}/CHANGELOG.md\"\n";
    assert!(kdl.contains(changelog));
    let kdl = kdl.replacen(changelog, &format!("{changelog}{lines}"), 1);
    std::fs::write(&path, kdl).expect("write");
    test
}

const THREE_FILES: &str = "        file \"{{ build }}/release-notes.md\"\n        file \"{{ build }}/versions.txt\"\n        file \"{{ build }}/release.sbom\"\n";

fn metadata_manifest(layout: &Layout) -> Value {
    let release = layout.json(&layout.tag("1877.3"));
    let entry = release["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|d| d["artifactType"] == "application/io.gardenlinux.release.metadata")
        .expect("MetaData")
        .clone();
    layout.json(&entry)
}

/// Title → (media type, bytes).
type Layers = BTreeMap<String, (String, Vec<u8>)>;

/// Every layer of `MetaData`, and the titles in order.
fn metadata_layers(layout: &Layout) -> (Vec<String>, Layers) {
    let manifest = metadata_manifest(layout);
    let mut order = Vec::new();
    let mut layers = BTreeMap::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        let title = layer["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .expect("title")
            .to_owned();
        let bytes = layout.blob(layer["digest"].as_str().expect("digest"));
        order.push(title.clone());
        layers.insert(
            title,
            (layer["mediaType"].as_str().expect("type").to_owned(), bytes),
        );
    }
    (order, layers)
}

#[test]
fn metadata_files_are_layers_of_metadata_in_the_plan_and_the_release_manifest() {
    let test = with_metadata(THREE_FILES);
    let ran = test
        .test()
        .args(["plan", "--json", "release/release.kdl"])
        .run();
    let plan: Value = serde_json::from_str(&ran.stdout()).expect("plan --json");
    let planned: Vec<(&str, &str)> = plan["metadata"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path"),
                f["media_type"].as_str().expect("media type"),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("artifacts/release-notes.md", "text/markdown"),
            ("artifacts/versions.txt", "text/plain"),
            ("artifacts/release.sbom", "application/vnd.cyclonedx+json"),
        ]
    );
    let shown = test.test().args(["plan", "release/release.kdl"]).run();
    assert!(
        shown.stdout().lines().any(|l| l.contains("file")
            && l.contains("application/vnd.cyclonedx+json")
            && l.ends_with("artifacts/release.sbom")),
        "{}",
        shown.stdout()
    );

    test.test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let layout = Layout::open(&test.path("out"));
    let (order, layers) = metadata_layers(&layout);
    assert_eq!(
        order,
        [
            "version",
            "CHANGELOG.md",
            "release-notes.md",
            "versions.txt",
            "release.sbom",
            "release-manifest.json"
        ]
    );
    assert_eq!(
        layers["release-notes.md"],
        ("text/markdown".to_owned(), NOTES.as_bytes().to_vec())
    );
    assert_eq!(
        layers["versions.txt"],
        ("text/plain".to_owned(), VERSIONS.as_bytes().to_vec())
    );
    assert_eq!(
        layers["release.sbom"],
        (
            "application/vnd.cyclonedx+json".to_owned(),
            SBOM.as_bytes().to_vec()
        )
    );
    let manifest: Value =
        serde_json::from_slice(&layers["release-manifest.json"].1).expect("release manifest");
    let listed: Vec<&str> = manifest["metadata"]
        .as_array()
        .expect("metadata in the release manifest")
        .iter()
        .map(|f| f["title"].as_str().expect("title"))
        .collect();
    assert_eq!(listed, ["release-notes.md", "versions.txt", "release.sbom"]);
    // Every blob of it is accounted for.
    let verified = test.test().args(["verify", "out"]).run();
    let said = format!("{}{}", verified.stdout(), verified.stderr());
    assert!(said.contains("checked: 0 errors, 0 warnings"), "{said}");
}

#[test]
fn a_release_without_metadata_files_has_no_trace_of_them() {
    let test = Test::new().top_level();
    let ran = test
        .test()
        .args(["plan", "--json", "release/release.kdl"])
        .run();
    let plan: Value = serde_json::from_str(&ran.stdout()).expect("plan --json");
    assert!(
        plan["metadata"].get("files").is_none(),
        "{}",
        plan["metadata"]
    );
    test.test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let (order, layers) = metadata_layers(&Layout::open(&test.path("out")));
    assert_eq!(order, ["version", "CHANGELOG.md", "release-manifest.json"]);
    let manifest: Value =
        serde_json::from_slice(&layers["release-manifest.json"].1).expect("release manifest");
    assert!(manifest.get("metadata").is_none());
}

#[test]
fn glc_get_fetches_a_metadata_file_from_a_layout_and_a_registry() {
    let test = with_metadata(THREE_FILES);
    test.test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let got = test
        .test()
        .args(["get", "out", "--metadata", "release.sbom", "-o", "-"])
        .run();
    assert_eq!(got.stdout(), SBOM);
    test.test()
        .args([
            "get",
            "out",
            "--metadata",
            "release-notes.md",
            "-o",
            "notes.md",
        ])
        .run();
    assert_eq!(
        std::fs::read_to_string(test.path("notes.md")).expect("written"),
        NOTES
    );
    let missing = test
        .test()
        .args(["get", "out", "--metadata", "notes.txt", "-o", "-"])
        .status(1)
        .run();
    let stderr = missing.stderr();
    assert!(
        stderr.contains("the release's metadata has no file titled `notes.txt`; it holds:"),
        "{stderr}"
    );
    assert!(stderr.contains("versions.txt"), "{stderr}");

    let Some(registry) = Registry::start("") else {
        return;
    };
    let repository = format!("{}/gardenlinux", registry.host());
    test.test()
        .args(["push", "-q", "out"])
        .arg(&repository)
        .run();
    let got = test
        .test()
        .args(["get", &format!("{repository}:1877.3")])
        .args(["--metadata", "versions.txt", "-o", "-"])
        .run();
    assert_eq!(got.stdout(), VERSIONS);
}

#[test]
fn parts_carry_metadata_files_and_merge_into_the_full_build() {
    let test = with_metadata(THREE_FILES);
    let dir = test.path("release");
    let glc = |args: &[&str]| Test::new().current_dir(&dir).args(args).run();
    glc(&["build", "-q", "release.kdl", "-o", "full"]);
    let part = |out: &str, patterns: &[&str]| {
        let mut args = vec!["build", "-q", "release.kdl", "-o", out];
        for pattern in patterns {
            args.extend(["--only", pattern]);
        }
        glc(&args);
    };
    part("p1", &["aws-*", "gcp-*", "bare"]);
    part(
        "p2",
        &[
            "{azure,openstack}-*",
            "baremetal*",
            "base",
            "*-build",
            "debian-snapshot",
        ],
    );
    glc(&["merge", "-o", "merged", "p2", "p1"]);
    for file in ["index.json", "oci-layout"] {
        assert_eq!(
            std::fs::read(dir.join("full").join(file)).expect("full"),
            std::fs::read(dir.join("merged").join(file)).expect("merged"),
            "{file}"
        );
    }
    let (_, layers) = metadata_layers(&Layout::open(&dir.join("merged")));
    assert_eq!(layers["release.sbom"].1, SBOM.as_bytes());
}

#[test]
fn metadata_files_whose_titles_clash_or_that_name_a_feature_set_are_errors() {
    let test = with_metadata(
        "        file \"{{ build }}/release-notes.md\"\n        file \"notes/release-notes.md\"\n        file \"{{ build }}/version\" media-type=\"text/plain\"\n        file \"{{ build }}/versions.txt\" feature-set=\"GARDENLINUX_FEATURES\"\n",
    )
    .file("release/artifacts/version", "1877.3\n")
    .file("release/notes/release-notes.md", NOTES);
    let ran = test
        .test()
        .args(["check", "release/release.kdl"])
        .status(1)
        .run();
    let stderr = ran.stderr();
    assert!(
        stderr.contains("glc::decode::metadata-feature-set"),
        "{stderr}"
    );
    // Decode errors stop before expansion; without the feature set, the clashes show.
    let test = with_metadata(
        "        file \"{{ build }}/release-notes.md\"\n        file \"notes/release-notes.md\"\n        file \"{{ build }}/version\" media-type=\"text/plain\"\n",
    )
    .file("release/artifacts/version", "1877.3\n")
    .file("release/notes/release-notes.md", NOTES);
    let ran = test
        .test()
        .args(["check", "release/release.kdl"])
        .status(1)
        .run();
    let stderr = ran.stderr();
    assert!(
        stderr.contains("two layers of the release's metadata would be titled `release-notes.md`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("two layers of the release's metadata would be titled `version`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("glc writes the `version` layer itself; rename the file"),
        "{stderr}"
    );
}
