//! `glc build`: the layout's graph node by node, bytes and digests, reproducibility, safe
//! output, and the real skopeo reading it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageManifest};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Test, repo};

const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

pub use crate::test::{Layout, copy_release, snapshot};

/// `glc build RELEASE -o OUT`, whatever its exit code.
pub fn build(release: &Path, out: &Path) -> std::process::Output {
    Test::new()
        .arg("build")
        .arg(release)
        .arg("-o")
        .arg(out)
        .command()
        .output()
        .expect("run glc")
}

/// `glc build RELEASE -o OUT`, which must succeed.
pub fn builds(release: &Path, out: &Path) -> std::process::Output {
    Test::new()
        .arg("build")
        .arg(release)
        .arg("-o")
        .arg(out)
        .run()
        .output
}

/// The top-level release built into `out`.
pub fn build_top_level(out: &Path) -> Layout {
    builds(&repo().join("release.kdl"), out);
    Layout::open(out)
}

fn children(value: &Value, key: &str) -> Vec<Value> {
    value[key].as_array().cloned().unwrap_or_default()
}

/// Every reachable document parses with oci-spec, follows image-spec 1.1 and points only at
/// blobs whose bytes have the declared digest and size. Returns how many descriptors it saw.
fn verify_tree(layout: &Layout, descriptor: &Value, seen: &mut BTreeMap<String, String>) {
    let digest = descriptor["digest"].as_str().expect("digest").to_owned();
    let bytes = layout.blob(&digest);
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        digest,
        "blob content"
    );
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(bytes.len() as u64),
        "size of {digest}"
    );
    let media_type = descriptor["mediaType"]
        .as_str()
        .expect("mediaType")
        .to_owned();
    seen.insert(digest.clone(), media_type.clone());
    match media_type.as_str() {
        "application/vnd.oci.image.index.v1+json" => {
            ImageIndex::from_reader(&bytes[..]).expect("index parses with oci-spec");
            let index: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(index["schemaVersion"], 2);
            assert_eq!(
                index["mediaType"], media_type,
                "document media type equals its descriptor's"
            );
            assert_eq!(
                descriptor.get("artifactType"),
                index.get("artifactType"),
                "{digest}"
            );
            for child in children(&index, "manifests") {
                verify_tree(layout, &child, seen);
            }
        }
        "application/vnd.oci.image.manifest.v1+json" => {
            ImageManifest::from_reader(&bytes[..]).expect("manifest parses with oci-spec");
            let manifest: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(manifest["schemaVersion"], 2);
            assert_eq!(manifest["mediaType"], media_type);
            assert!(
                !children(&manifest, "layers").is_empty(),
                "{digest} has no layer"
            );
            if manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json" {
                assert!(
                    manifest["artifactType"].is_string(),
                    "empty config without artifactType in {digest}"
                );
                assert_eq!(manifest["config"]["digest"], EMPTY_DIGEST);
                assert_eq!(layout.blob(EMPTY_DIGEST), b"{}");
            }
            verify_tree(layout, &manifest["config"], seen);
            for layer in children(&manifest, "layers") {
                verify_tree(layout, &layer, seen);
            }
            if let Some(subject) = manifest.get("subject") {
                // A subject need not be reachable otherwise, but it must be in the layout.
                assert!(
                    !layout
                        .blob(subject["digest"].as_str().expect("subject digest"))
                        .is_empty()
                );
            }
        }
        _ => {}
    }
}

const OCI_KEYS: [&str; 6] = [
    "org.opencontainers.image.created",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
];

fn assert_oci_annotations(document: &Value, title: &str) {
    for key in OCI_KEYS {
        assert!(
            document["annotations"][key].is_string(),
            "{key} missing on {title}"
        );
    }
    assert_eq!(
        document["annotations"]["org.opencontainers.image.title"],
        title
    );
    assert_eq!(
        document["annotations"]["org.opencontainers.image.created"],
        "2025-03-14T08:00:00Z"
    );
    assert_eq!(
        document["annotations"]["org.opencontainers.image.revision"],
        "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    );
}

fn titles(manifest: &Value) -> Vec<String> {
    children(manifest, "layers")
        .iter()
        .map(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .expect("title")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_top_level_release_builds_the_graph_design_draws() {
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    assert_eq!(
        std::fs::read_to_string(dir.path("out/oci-layout")).expect("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    ImageIndex::from_reader(&std::fs::read(dir.path("out/index.json")).expect("index")[..])
        .expect("index.json parses");

    // Every tag: the release tags, every cname, every container; then 16 untagged attachments.
    let tags: Vec<String> = layout
        .entries()
        .iter()
        .filter_map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut expected: Vec<String> = ["1877", "1877.3"].map(String::from).to_vec();
    expected.extend(crate::commands::CNAMES.iter().map(|c| (*c).to_owned()));
    for name in [
        "base",
        "bare-libc",
        "bare-python",
        "bare-nodejs",
        "bare-sapmachine",
        "driver-build",
        "package-build",
        "debian-snapshot",
    ] {
        expected.push(format!("{name}-1877.3"));
    }
    expected.sort();
    assert_eq!(tags, expected, "tags in byte order");
    let untagged: Vec<Value> = layout
        .entries()
        .into_iter()
        .filter(|d| d.get("annotations").is_none())
        .collect();
    assert_eq!(untagged.len(), 16);
    let mut sorted = untagged
        .iter()
        .map(|d| d["digest"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(
        untagged
            .iter()
            .map(|d| d["digest"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        sorted
    );

    let mut seen = BTreeMap::new();
    for entry in layout.entries() {
        verify_tree(&layout, &entry, &mut seen);
    }

    // Release → MetaData, CloudImages, ContainerImages.
    let root = layout.tag("1877.3");
    assert_eq!(root, {
        let mut r = layout.tag("1877");
        r["annotations"] = root["annotations"].clone();
        r
    });
    assert_eq!(root["artifactType"], "application/io.gardenlinux.release");
    let release = layout.json(&root);
    assert_oci_annotations(&release, "Garden Linux 1877.3");
    let parts = children(&release, "manifests");
    let kinds: Vec<&str> = parts
        .iter()
        .map(|d| d["artifactType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds[..3],
        [
            "application/io.gardenlinux.release.metadata",
            "application/io.gardenlinux.cloud-images",
            "application/io.gardenlinux.container-images"
        ]
    );
    // The flat view: every CloudImage again, with the descriptor CloudImages has, then the
    // platform images of the default container (`base`), as its own index lists them.
    let cloud_images = layout.json(&parts[1]);
    let listed = children(&cloud_images, "manifests");
    assert_eq!(listed.len(), 8);
    assert_eq!(parts[3..11], listed[..]);
    for image in &listed {
        let cname = image["annotations"]["cname"].as_str().expect("cname");
        // No `org.opencontainers.image.title`: that names a blob's file, and oras writes the
        // manifest to a file of that name.
        let keys: Vec<&String> = image["annotations"]
            .as_object()
            .expect("annotations")
            .keys()
            .collect();
        assert_eq!(
            keys,
            [
                "architecture",
                "cname",
                "commit",
                "feature_set",
                "flavor",
                "version"
            ]
        );
        // index.json tags the image by its cname, with the same names and nothing more.
        let entry = layout
            .entries()
            .into_iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == cname)
            .expect("a tag per cname");
        let mut names = image["annotations"].clone();
        names["org.opencontainers.image.ref.name"] = cname.into();
        assert_eq!(entry["annotations"], names);
        assert_eq!(image["annotations"]["version"], "1877.3");
        assert_eq!(
            image["annotations"]["commit"],
            "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
        );
        let arch = image["platform"]["architecture"].as_str().expect("arch");
        assert!(cname.contains(&format!("-{arch}-")), "{cname}");
        assert_eq!(image["annotations"]["architecture"], arch);
        assert_eq!(image["platform"]["os"], "gardenlinux");
        assert_eq!(image["platform"]["os.version"], "1877.3");
        let features = if cname.starts_with("baremetal") {
            "_pxe"
        } else {
            "gardener_prod"
        };
        assert_eq!(image["annotations"]["feature_set"], features);
        // Garden Linux's flavor: platform and features, joined by `-` unless only flags.
        let flavor = image["annotations"]["flavor"].as_str().expect("flavor");
        assert_eq!(
            format!("{flavor}-{arch}-1877.3-75df9f40"),
            cname,
            "the reference release's cname is flavor-arch-version-commit"
        );
        assert_eq!(flavor == "baremetal_pxe", features == "_pxe");
    }
    let default_container = layout.json(&layout.tag("base-1877.3"));
    let platforms = children(&default_container, "manifests");
    assert_eq!(platforms.len(), 2);
    assert_eq!(parts[11..], platforms[..]);
    assert_eq!(
        parts[11..]
            .iter()
            .map(|p| format!("{}/{}", p["platform"]["os"], p["platform"]["architecture"]))
            .collect::<Vec<_>>(),
        ["\"linux\"/\"amd64\"", "\"linux\"/\"arm64\""]
    );

    let metadata = layout.json(&parts[0]);
    assert_eq!(
        metadata["artifactType"],
        "application/io.gardenlinux.release.metadata"
    );
    assert_oci_annotations(&metadata, "Garden Linux 1877.3 metadata");
    assert_eq!(
        titles(&metadata),
        ["version", "CHANGELOG.md", "release-manifest.json"]
    );
    assert_eq!(
        layout.blob(metadata["layers"][0]["digest"].as_str().unwrap_or_default()),
        b"1877.3\n"
    );
    assert_eq!(
        layout.blob(metadata["layers"][1]["digest"].as_str().unwrap_or_default()),
        std::fs::read(repo().join("artifacts/CHANGELOG.md")).expect("changelog")
    );
    assert_eq!(
        metadata["annotations"]["io.gardenlinux.link.toolbelt"],
        "ghcr.io/gardenlinux/toolbelt:1877.3"
    );
    assert_eq!(
        metadata["annotations"]["io.gardenlinux.link.github-release"],
        "https://github.com/gardenlinux/gardenlinux/releases/tag/1877.3"
    );
    assert_eq!(
        metadata["annotations"]["io.gardenlinux.link.nvidia-installer"],
        "ghcr.io/gardenlinux/gardenlinux-nvidia-installer/driver:1877.3"
    );
    let release_manifest: Value = serde_json::from_slice(
        &layout.blob(metadata["layers"][2]["digest"].as_str().unwrap_or_default()),
    )
    .expect("json");
    assert_eq!(release_manifest["images"].as_array().map(Vec::len), Some(8));
    assert_eq!(
        release_manifest["containers"].as_array().map(Vec::len),
        Some(8)
    );

    let container_images_digest = parts[2]["digest"].as_str().expect("digest").to_owned();
    let cloud_images = layout.json(&parts[1]);
    assert_oci_annotations(&cloud_images, "Garden Linux 1877.3 cloud images");
    let images = children(&cloud_images, "manifests");
    let cnames: Vec<&str> = images
        .iter()
        .map(|d| d["annotations"]["cname"].as_str().unwrap_or_default())
        .collect();
    let mut sorted_cnames = crate::commands::CNAMES.to_vec();
    sorted_cnames.sort_unstable();
    assert_eq!(cnames, sorted_cnames);
    for (descriptor, record) in images
        .iter()
        .zip(release_manifest["images"].as_array().expect("images"))
    {
        let cname = descriptor["annotations"]["cname"].as_str().expect("cname");
        let arch = if cname.contains("arm64") {
            "arm64"
        } else {
            "amd64"
        };
        assert_eq!(
            descriptor["platform"],
            serde_json::json!({"os": "gardenlinux", "architecture": arch, "os.version": "1877.3"})
        );
        assert_eq!(
            descriptor["artifactType"],
            "application/io.gardenlinux.image"
        );
        assert_eq!(
            layout.tag(cname)["digest"],
            descriptor["digest"],
            "the cname tag points at the CloudImage"
        );
        let image = layout.json(descriptor);
        assert_oci_annotations(&image, cname);
        let a = &image["annotations"];
        assert_eq!(a["cname"], cname);
        assert_eq!(a["architecture"], arch);
        assert_eq!(a["version"], "1877.3");
        assert_eq!(a["commit"], "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6");
        assert_eq!(
            a["feature_set"],
            if cname.starts_with("baremetal") {
                "_pxe"
            } else {
                "gardener_prod"
            }
        );
        assert_eq!(
            a["io.gardenlinux.apt-repository"],
            "deb https://packages.gardenlinux.io/gardenlinux 1877.3 main"
        );
        assert_eq!(
            a["io.gardenlinux.ref.container-images"],
            container_images_digest.as_str()
        );
        let format = match cname.split('-').next().unwrap_or_default() {
            "aws" => "raw",
            "azure" => "vhd",
            "gcp" => "gcpimage.tar.gz",
            "openstack" => "qcow2",
            _ => "pxe.tar.gz",
        };
        let expected_titles: Vec<String> =
            ["vmlinuz", "cmdline", "tar", format, "release", "manifest"]
                .iter()
                .map(|e| format!("{cname}.{e}"))
                .collect();
        assert_eq!(titles(&image), expected_titles);
        for (layer, title) in children(&image, "layers").iter().zip(&expected_titles) {
            assert_eq!(
                layout.blob(layer["digest"].as_str().unwrap_or_default()),
                std::fs::read(repo().join("artifacts").join(title)).expect("artifact")
            );
        }
        assert_eq!(
            image["layers"][0]["mediaType"],
            "application/io.gardenlinux.kernel"
        );
        assert_eq!(record["digest"], descriptor["digest"]);

        // Its two attachments: untagged, subject = this CloudImage.
        let attached: Vec<Value> = untagged
            .iter()
            .map(|d| layout.json(d))
            .filter(|m| m["subject"]["digest"] == descriptor["digest"])
            .collect();
        let mut kinds: Vec<&str> = attached
            .iter()
            .map(|m| m["artifactType"].as_str().unwrap_or_default())
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                "application/io.gardenlinux.audit-log",
                "application/io.gardenlinux.test-log"
            ]
        );
        for manifest in &attached {
            assert_eq!(manifest["subject"]["size"], descriptor["size"]);
            assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
            assert_eq!(
                manifest["layers"][0]["mediaType"],
                "application/io.gardenlinux.log"
            );
        }
    }

    // ContainerImages: entries by name, the bare group as an index of four.
    let container_images = layout.json(&parts[2]);
    // Containers by their name, the group by its group name: one order of names.
    let names: Vec<String> = children(&container_images, "manifests")
        .iter()
        .map(|d| {
            let a = &d["annotations"];
            a["io.gardenlinux.container.name"]
                .as_str()
                .or_else(|| a["io.gardenlinux.container.group"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "bare",
            "base",
            "debian-snapshot",
            "driver-build",
            "package-build"
        ]
    );
    let bare_descriptor = &container_images["manifests"][0];
    assert_eq!(
        bare_descriptor["annotations"],
        serde_json::json!({"io.gardenlinux.container.group": "bare"})
    );
    assert_eq!(
        bare_descriptor["artifactType"],
        "application/io.gardenlinux.container-group"
    );
    let bare = layout.json(bare_descriptor);
    let members: Vec<(String, String)> = children(&bare, "manifests")
        .iter()
        .map(|d| {
            (
                d["annotations"]["io.gardenlinux.container.name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                d["annotations"]["io.gardenlinux.container.group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let bare_names: Vec<&str> = members
        .iter()
        .map(|(n, g)| {
            assert_eq!(g, "bare");
            n.as_str()
        })
        .collect();
    assert_eq!(
        bare_names,
        ["bare-libc", "bare-nodejs", "bare-python", "bare-sapmachine"]
    );
}

/// The digest of the image a source layout (directory or archive) holds.
fn source_digest(path: &Path) -> String {
    let index: Value = if path.is_dir() {
        serde_json::from_slice(&std::fs::read(path.join("index.json")).expect("index"))
            .expect("json")
    } else {
        let mut archive = tar::Archive::new(std::fs::File::open(path).expect("archive"));
        let mut found = None;
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            if entry.path().expect("path").to_string_lossy() == "index.json" {
                found = Some(serde_json::from_reader(&mut entry).expect("json"));
            }
        }
        found.expect("index.json in archive")
    };
    index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

#[test]
fn imported_containers_keep_their_digests() {
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let sources = [
        ("base", "base.oci"),
        ("bare-libc", "bare-libc"),
        ("bare-python", "bare-python"),
        ("bare-nodejs", "bare-nodejs"),
        ("bare-sapmachine", "bare-sapmachine"),
        ("driver-build", "driver-build.oci"),
        ("package-build", "package-build"),
        ("debian-snapshot", "debian-snapshot.oci"),
    ];
    for (name, source) in sources {
        let expected = source_digest(&repo().join("artifacts/containers").join(source));
        let tagged = layout.tag(&format!("{name}-1877.3"));
        assert_eq!(tagged["digest"], expected.as_str(), "{name}");
        // And the whole image is there: every blob below it present and intact.
        verify_tree(&layout, &tagged, &mut BTreeMap::new());
    }
}

#[test]
fn builds_are_byte_identical_wherever_and_whenever_they_run() {
    let dir = Test::new();
    let (one, two) = (dir.path("one"), dir.path("deeper/path/two"));
    copy_release(&one);
    copy_release(&two);
    // Different mtimes and modes on the second copy's inputs.
    for entry in walkdir::WalkDir::new(two.join("artifacts")) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .append(true)
                .open(entry.path())
                .expect("open");
            file.set_modified(
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_hours(24),
            )
            .expect("mtime");
            std::fs::set_permissions(
                entry.path(),
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
            )
            .expect("chmod");
        }
    }
    Test::new()
        .current_dir(&one)
        .args(["build", "release.kdl", "-o", "out"])
        .run();
    dir.test()
        .arg("build")
        .arg(two.join("release.kdl"))
        .arg("-o")
        .arg(dir.path("out-two"))
        .env("LC_ALL", "C")
        .run();
    let (a, b) = (snapshot(&one.join("out")), snapshot(&dir.path("out-two")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{path} differs between the two builds");
    }
    // A rebuild over the first layout gives the same bytes again.
    Test::new()
        .current_dir(&one)
        .args(["build", "release.kdl", "-o", "out"])
        .run();
    assert!(snapshot(&one.join("out")) == a);
}

/// Strips what `SOURCE_DATE_EPOCH` may change from a document: created values, and the digests
/// and sizes of documents below it (compared by the walk itself).
fn without_created(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove("org.opencontainers.image.created");
            // A digest of a document that itself holds created values.
            map.remove("io.gardenlinux.ref.container-images");
            map.remove("created");
            let is_document = matches!(
                map.get("mediaType").and_then(Value::as_str),
                Some(
                    "application/vnd.oci.image.manifest.v1+json"
                        | "application/vnd.oci.image.index.v1+json"
                )
            ) || map.get("mediaType").and_then(Value::as_str)
                == Some("application/io.gardenlinux.release-manifest+json");
            if is_document
                || map.contains_key("manifest")
                || map.contains_key("layers") && map.contains_key("cname")
            {
                map.remove("digest");
                map.remove("size");
                map.remove("manifest");
            }
            for v in map.values_mut() {
                *v = without_created(v.take());
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = without_created(v.take());
            }
        }
        _ => {}
    }
    value
}

fn compare_trees(a: &Layout, da: &Value, b: &Layout, db: &Value, path: &str) {
    let (ba, bb) = (
        a.blob(da["digest"].as_str().expect("digest")),
        b.blob(db["digest"].as_str().expect("digest")),
    );
    let json_kind = da["mediaType"]
        .as_str()
        .is_some_and(|m| m.ends_with("+json") && m != "application/vnd.oci.empty.v1+json");
    if !json_kind {
        assert_eq!(
            da["digest"], db["digest"],
            "{path}: content that is not metadata must not change"
        );
        return;
    }
    let (va, vb): (Value, Value) = (
        serde_json::from_slice(&ba).expect("json"),
        serde_json::from_slice(&bb).expect("json"),
    );
    assert_eq!(
        without_created(va.clone()),
        without_created(vb.clone()),
        "{path}: differs beyond created"
    );
    for key in ["manifests", "layers"] {
        for (i, (ca, cb)) in children(&va, key)
            .iter()
            .zip(children(&vb, key))
            .enumerate()
        {
            compare_trees(a, ca, b, &cb, &format!("{path}/{key}[{i}]"));
        }
    }
}

#[test]
fn source_date_epoch_changes_only_the_created_values() {
    let dir = Test::new();
    let plain = build_top_level(&dir.path("plain"));
    let epoch = dir
        .test()
        .current_dir(repo())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("build")
        .arg("release.kdl")
        .arg("-o")
        .arg(dir.path("epoch"))
        .run()
        .layout("epoch");
    let release = epoch.json(&epoch.tag("1877.3"));
    assert_eq!(
        release["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_ne!(plain.tag("1877.3")["digest"], epoch.tag("1877.3")["digest"]);
    assert_eq!(plain.entries().len(), epoch.entries().len());
    // Tagged entries pair by tag; untagged ones (sorted by digest, which changes) by what
    // they attach to whom.
    let key = |layout: &Layout, d: &Value| {
        if let Some(tag) = d["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            tag.to_owned()
        } else {
            let m = layout.json(d);
            format!("{} {}", m["annotations"]["cname"], m["artifactType"])
        }
    };
    let mut a: Vec<(String, Value)> = plain
        .entries()
        .into_iter()
        .map(|d| (key(&plain, &d), d))
        .collect();
    let mut b: Vec<(String, Value)> = epoch
        .entries()
        .into_iter()
        .map(|d| (key(&epoch, &d), d))
        .collect();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    for ((name, da), (other, db)) in a.iter().zip(&b) {
        assert_eq!(name, other);
        compare_trees(&plain, da, &epoch, db, name);
    }
}

fn corrupt_container_release(dir: &Path) -> PathBuf {
    let release = dir.join("broken");
    copy_release(&release);
    // Flip one byte of the layer of two containers' images.
    for name in ["bare-python", "bare-nodejs"] {
        let source = release.join("artifacts/containers").join(name);
        let layout = Layout::open(&source);
        let manifest = layout.json(&layout.entries()[0]);
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_owned();
        let path = source
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:"));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[10] ^= 0xff;
        std::fs::write(&path, bytes).expect("write");
    }
    release
}

#[test]
fn a_failed_build_leaves_the_previous_layout_untouched() {
    let dir = Test::new();
    let out = dir.path("out");
    // The previous layout holds no container: a build reuses blobs the layout it replaces
    // already has (checked when they were written), so the damaged ones must be read.
    Test::new()
        .arg("build")
        .arg(repo().join("examples/minimal/release.kdl"))
        .arg("-o")
        .arg(&out)
        .status(0)
        .run();
    let before = snapshot(&out);
    let broken = corrupt_container_release(dir.dir());
    let output = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(broken.join("release.kdl"))
        .arg("-o")
        .arg(&out)
        .status(1)
        .run();
    // Both damaged containers are reported, each pointing at its `from` in the release file.
    let errors = output.json_errors();
    assert_eq!(errors.len(), 2, "{}", output.stderr());
    for (error, name) in errors.iter().zip(["bare-python", "bare-nodejs"]) {
        let message = error["message"].as_str().expect("message");
        assert_eq!(error["code"], "glc::build::import");
        assert!(
            message.starts_with(&format!(
                "container `{name}` from `artifacts/containers/{name}`: blob sha256:"
            )),
            "{message}"
        );
        assert!(
            message.contains(" is corrupt: its bytes hash to sha256:"),
            "{message}"
        );
        assert_eq!(error["line"], 62, "the `from` of the for-each container");
        assert_eq!(error["column"], 50);
    }
    assert!(snapshot(&out) == before, "the previous layout changed");
    let leftovers: Vec<String> = std::fs::read_dir(dir.dir())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".glc-tmp-") || n.contains(".glc-old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_directory_that_is_not_a_glc_layout_is_not_replaced_without_force() {
    let dir = Test::new();
    let out = dir.path("precious");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("notes.txt"), "keep me").expect("write");
    let output = Test::new()
        .arg("build")
        .arg(repo().join("release.kdl"))
        .arg("-o")
        .arg(&out)
        .status(1)
        .stderr_contains("precious is not a layout glc wrote: it holds `notes.txt`")
        .run();
    assert!(
        output.stderr().contains("or pass --force"),
        "{}",
        output.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("kept"),
        "keep me"
    );

    Test::new()
        .arg("build")
        .arg(repo().join("release.kdl"))
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .run();
    assert!(!out.join("notes.txt").exists());
    assert!(out.join("index.json").is_file());
}

#[test]
fn an_invalid_release_writes_nothing() {
    let dir = Test::new();
    let out = dir.path("out");
    Test::new()
        .current_dir(repo().join("tests/fixtures/invalid"))
        .arg("build")
        .arg("missing-files.kdl")
        .arg("-o")
        .arg(&out)
        .status(1)
        .run();
    assert_eq!(
        std::fs::read_dir(dir.dir()).expect("list").count(),
        0,
        "nothing written, not even a lock"
    );
}

#[test]
fn digests_file_lists_every_tag_with_its_destination() {
    let dir = Test::new();
    let out = dir.path("out");
    let digests = dir.path("digests.json");
    let output = Test::new()
        .arg("build")
        .arg(repo().join("release.kdl"))
        .arg("-o")
        .arg(&out)
        .arg("--digests")
        .arg(&digests)
        .run();
    let layout = Layout::open(&out);
    let report: Value =
        serde_json::from_slice(&std::fs::read(&digests).expect("digests")).expect("json");
    assert_eq!(report["repository"], "ghcr.io/gardenlinux/gardenlinux");
    let tags = report["tags"].as_object().expect("tags");
    assert_eq!(tags.len(), 18);
    for (tag, target) in tags {
        let entry = layout.tag(tag);
        assert_eq!(target["digest"], entry["digest"], "{tag}");
        assert_eq!(target["size"], entry["size"], "{tag}");
        assert_eq!(target["mediaType"], entry["mediaType"], "{tag}");
        assert_eq!(
            target["destination"],
            format!("ghcr.io/gardenlinux/gardenlinux:{tag}").as_str()
        );
    }
    assert_eq!(report["attachments"].as_array().map(Vec::len), Some(16));
    let summary = output.stderr();
    assert!(
        summary.contains(": 8 cloud images, 16 attachments, 8 containers; "),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "  1877.3 → {}",
            layout.tag("1877.3")["digest"].as_str().unwrap_or_default()
        )),
        "{summary}"
    );
}

/// skopeo, or a loud skip outside CI; in CI its absence fails the test.
pub fn skopeo() -> Option<std::process::Command> {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok()
    {
        return Some(std::process::Command::new("skopeo"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "skopeo is missing; .ci/run installs it"
    );
    eprintln!("SKIP: skopeo is not installed (apt-get install skopeo); interop not tested");
    None
}

#[test]
fn skopeo_copies_a_cloud_image_and_a_container_out_of_the_layout() {
    let Some(_) = skopeo() else { return };
    let dir = Test::new();
    let out = dir.path("out");
    let layout = build_top_level(&out);
    // The root (an index of indexes) is for `oras cp -r`; skopeo copies one image or one
    // index of images a call, which is why each of those has a tag of its own.
    for tag in [
        "aws-gardener_prod-amd64-1877.3-75df9f40",
        "baremetal_pxe-amd64-1877.3-75df9f40",
        "base-1877.3",
        "bare-libc-1877.3",
        "debian-snapshot-1877.3",
    ] {
        let copy = dir.path(format!("copy-{tag}"));
        let status = skopeo()
            .expect("skopeo")
            .args(["copy", "--all", "--quiet"])
            .arg(format!("oci:{}:{tag}", out.display()))
            .arg(format!("oci:{}:{tag}", copy.display()))
            .output()
            .expect("run skopeo");
        assert!(
            status.status.success(),
            "skopeo copy {tag}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let raw = skopeo()
            .expect("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{tag}", copy.display()))
            .output()
            .expect("run skopeo");
        assert!(
            raw.status.success(),
            "{}",
            String::from_utf8_lossy(&raw.stderr)
        );
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&raw.stdout)));
        assert_eq!(
            layout.tag(tag)["digest"],
            digest.as_str(),
            "{tag} has the same digest after skopeo copy"
        );
    }
}
