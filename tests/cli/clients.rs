//! The clients Garden Linux runs today read glc's release unchanged: skopeo and podman pull
//! the default container from `<repo>:<version>`, the update tool on a node finds its cname
//! there and fetches a layer by media type, and Garden Linux's Python library keys every
//! image by its cname. Each runs against the top-level release and against a release of 14
//! cloud images over 4 platforms, 2 feature sets and an exclusion.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::build::{Layout, build_top_level, skopeo};
use crate::interop::Pusher;
use crate::registry::Registry;
use crate::{Test, repo};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A release of 14 cloud images: 4 platforms × 2 feature sets × 2 architectures, less gcp on
/// arm64; each image a kernel, a cmdline and a root file system of its own bytes.
fn fourteen_images(dir: &Path) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    let mut cnames = Vec::new();
    for platform in ["aws", "azure", "gcp", "openstack"] {
        for features in ["gardener_prod", "capi"] {
            for arch in ["amd64", "arm64"] {
                if platform == "gcp" && arch == "arm64" {
                    continue;
                }
                let cname = format!("{platform}-{features}-{arch}-2001.0-0123abcd");
                for (suffix, what) in [
                    ("vmlinuz", "kernel"),
                    ("cmdline", "cmdline"),
                    ("tar", "rootfs"),
                ] {
                    std::fs::write(
                        files.join(format!("{cname}.{suffix}")),
                        format!("{what} of {cname}\n"),
                    )
                    .expect("write");
                }
                cnames.push(cname);
            }
        }
    }
    assert_eq!(cnames.len(), 14);
    let release = dir.join("release.kdl");
    std::fs::write(
        &release,
        r#"release "2001.0" {
    commit "0123abcd0123abcd0123abcd0123abcd0123abcd"
    created "2031-01-01T00:00:00Z"
    repository "registry.example/gardenlinux"
    tag "{{ version }}"
    cloud-images {
        matrix {
            platform "aws" "azure" "gcp" "openstack"
            features "gardener_prod" "capi"
            arch "amd64" "arm64"
            exclude platform="gcp" arch="arm64"
        }
        image "{{ platform }}-{{ features }}-{{ arch }}-{{ version }}-{{ commit_short }}" {
            kernel "files/{{ cname }}.vmlinuz"
            cmdline "files/{{ cname }}.cmdline"
            rootfs "files/{{ cname }}.tar"
        }
    }
}
"#,
    )
    .expect("write");
    release
}

/// The releases the clients are tried on: (layout, version, directory of the release file).
fn releases(dir: &Path) -> Vec<(Layout, &'static str, PathBuf)> {
    let top = build_top_level(&dir.join("top"));
    let many = dir.join("many");
    let release = fourteen_images(&many);
    Test::new()
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(many.join("out"))
        .run();
    vec![
        (top, "1877.3", repo()),
        (Layout::open(&many.join("out")), "2001.0", many),
    ]
}

/// Every cloud image's cname and, by media type, the path of each of its files as written in
/// the release (`<dir>/files` or `artifacts/`).
fn cnames(layout: &Layout) -> Vec<String> {
    let mut cnames = layout.tags_of("application/io.gardenlinux.image");
    cnames.sort();
    cnames
}

fn input_file(release_dir: &Path, title: &str) -> Vec<u8> {
    ["files", "artifacts"]
        .iter()
        .map(|d| release_dir.join(d).join(title))
        .find(|p| p.is_file())
        .map_or_else(
            || panic!("no input file {title}"),
            |p| std::fs::read(p).expect("read"),
        )
}

/// What the update tool on a node does, step by step, reading documents with `get`: resolve
/// `<version>`, take the first entry whose `cname` annotation starts with the node's cname
/// without the version, fetch that manifest, find the layer of `media_type`, fetch it.
fn update_tool(
    get: &dyn Fn(&str, &str) -> Vec<u8>,
    version: &str,
    cname: &str,
    media_type: &str,
) -> (String, Vec<u8>) {
    let prefix = cname
        .split_once(&format!("-{version}"))
        .map_or(cname, |(before, _)| before);
    let index: Value = serde_json::from_slice(&get("manifests", version)).expect("index");
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| {
            m["annotations"]["cname"]
                .as_str()
                .is_some_and(|c| c.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("the update tool finds no entry for {prefix}"));
    let digest = entry["digest"].as_str().expect("digest");
    let manifest: Value = serde_json::from_slice(&get("manifests", digest)).expect("manifest");
    let layer = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["mediaType"] == media_type)
        .unwrap_or_else(|| panic!("{cname} has no layer of {media_type}"));
    let title = layer["annotations"]["org.opencontainers.image.title"]
        .as_str()
        .expect("title")
        .to_owned();
    (
        title,
        get("blobs", layer["digest"].as_str().expect("digest")),
    )
}

fn check_update_tool(
    get: &dyn Fn(&str, &str) -> Vec<u8>,
    layout: &Layout,
    version: &str,
    dir: &Path,
) -> usize {
    let mut fetched = 0;
    for cname in cnames(layout) {
        for media_type in [
            "application/io.gardenlinux.kernel",
            "application/io.gardenlinux.cmdline",
            "application/io.gardenlinux.image.archive.format.tar",
        ] {
            let (title, bytes) = update_tool(get, version, &cname, media_type);
            assert!(
                title.starts_with(&cname),
                "{title} is not a file of {cname}"
            );
            assert_eq!(bytes, input_file(dir, &title), "{title}");
            fetched += 1;
        }
    }
    fetched
}

#[test]
fn the_update_tool_finds_every_cname_at_the_version_tag_of_a_layout() {
    let dir = Test::new();
    for (layout, version, release_dir) in releases(dir.dir()) {
        let get = |kind: &str, reference: &str| -> Vec<u8> {
            let digest = match kind {
                "manifests" if !reference.starts_with("sha256:") => layout.tag(reference)["digest"]
                    .as_str()
                    .expect("digest")
                    .to_owned(),
                _ => reference.to_owned(),
            };
            layout.blob(&digest)
        };
        let fetched = check_update_tool(&get, &layout, version, &release_dir);
        assert_eq!(fetched, 3 * cnames(&layout).len());
        assert!(fetched == 24 || fetched == 42, "{fetched}");
    }
}

#[test]
fn the_update_tool_finds_every_cname_at_the_version_tag_of_a_registry() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    for (layout, version, release_dir) in releases(dir.dir()) {
        let mut pusher = Pusher {
            registry: &registry,
            layout: &layout,
            manifests: 0,
            blobs: 0,
        };
        pusher.push(&layout.tag(version), Some(version));
        let get = |kind: &str, reference: &str| -> Vec<u8> {
            let mut body = Vec::new();
            ureq2::get(&registry.url(&format!("/v2/gardenlinux/{kind}/{reference}")))
                .set("Accept", &format!("{INDEX}, {MANIFEST}"))
                .call()
                .unwrap_or_else(|e| panic!("GET {kind}/{reference}: {e}"))
                .into_reader()
                .read_to_end(&mut body)
                .expect("read");
            body
        };
        let fetched = check_update_tool(&get, &layout, version, &release_dir);
        assert_eq!(fetched, 3 * cnames(&layout).len());
    }
}

#[test]
fn garden_linux_python_library_keys_every_cname_once() {
    let dir = Test::new();
    for (layout, version, _) in releases(dir.dir()) {
        // `Index.manifests_as_dict`: entries keyed by their `cname` annotation, else digest.
        let release = layout.json(&layout.tag(version));
        let mut keys: Vec<String> = Vec::new();
        for entry in release["manifests"].as_array().expect("manifests") {
            let key = entry["annotations"]["cname"]
                .as_str()
                .or_else(|| entry["digest"].as_str())
                .expect("a key")
                .to_owned();
            assert!(
                !keys.contains(&key),
                "{key} twice: the dict would lose an entry"
            );
            keys.push(key);
        }
        let listed: Vec<String> = {
            let mut listed: Vec<String> = keys
                .iter()
                .filter(|k| !k.starts_with("sha256:"))
                .cloned()
                .collect();
            listed.sort();
            listed
        };
        assert_eq!(listed, cnames(&layout));
        assert!(listed.len() == 8 || listed.len() == 14, "{listed:?}");
    }
}

#[test]
fn skopeo_copies_the_default_container_from_the_version_tag() {
    let Some(_) = skopeo() else { return };
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let base = layout.json(&layout.tag("base-1877.3"));
    for arch in ["amd64", "arm64"] {
        let wanted = base["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .expect("a platform image")["digest"]
            .clone();
        let target = dir.path(format!("copy-{arch}"));
        let mut command = skopeo().expect("skopeo");
        if arch != "amd64" {
            command.args(["--override-arch", arch]);
        }
        let status = command
            .arg("copy")
            .arg(format!("oci:{}:1877.3", layout.root.display()))
            .arg(format!("oci:{}:pulled", target.display()))
            .status()
            .expect("run skopeo");
        assert!(status.success(), "skopeo copy of 1877.3 for {arch}");
        let copied: Value =
            serde_json::from_slice(&std::fs::read(target.join("index.json")).expect("index"))
                .expect("json");
        assert_eq!(copied["manifests"][0]["digest"], wanted, "{arch}");
    }
}

#[test]
fn a_release_without_arch_or_features_axes_is_warned_of_and_denied_on_request() {
    let dir = Test::new();
    std::fs::create_dir(dir.path("files")).expect("mkdir");
    std::fs::write(dir.path("files/kernel.vmlinuz"), "kernel").expect("write");
    let release = dir.path("release.kdl");
    std::fs::write(
        &release,
        r#"release "1.0" {
    commit "0123abcd0123abcd0123abcd0123abcd0123abcd"
    created "2031-01-01T00:00:00Z"
    cloud-images {
        matrix {
            platform "aws" "gcp"
            features "gardener_prod"
        }
        image "{{ platform }}-{{ version }}" {
            kernel "files/kernel.vmlinuz"
        }
    }
}
"#,
    )
    .expect("write");
    let lines = |output: &crate::Ran| -> Vec<Value> {
        output
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    // A warning: said, with where and how to fix it, and the build goes on.
    let out = dir.path("out");
    let built = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .run();
    let said = lines(&built);
    let warning = said
        .iter()
        .find(|l| l["code"] == "glc::expand::no-axis")
        .expect("a warning");
    assert_eq!(warning["severity"], "warning");
    assert_eq!(
        warning["message"],
        "all 2 cloud images will have no `architecture` annotation: the matrix has no `arch` axis"
    );
    assert_eq!(
        (warning["line"].as_u64(), warning["column"].as_u64()),
        (Some(5), Some(9))
    );
    assert!(
        warning["help"]
            .as_str()
            .is_some_and(|h| h.ends_with("e.g. `arch \"amd64\" \"arm64\"`")),
        "{warning}"
    );
    assert_eq!(
        said.iter()
            .filter(|l| l["code"] == "glc::expand::no-axis")
            .count(),
        1
    );
    assert!(out.join("index.json").is_file());
    // With --deny-warnings it is an error: exit 1, nothing written.
    let denied_out = dir.path("denied");
    let denied = Test::new()
        .args(["--message-format", "json", "build", "--deny-warnings"])
        .arg(&release)
        .arg("-o")
        .arg(&denied_out)
        .status(1)
        .run();
    let errors = lines(&denied);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["severity"], "error");
    assert!(!denied_out.exists());
    // The top-level release has both axes: no warning.
    let check = Test::new()
        .arg("check")
        .arg(repo().join("release.kdl"))
        .run();
    assert!(!check.stderr().contains("no-axis"), "{}", check.stderr());
}

/// An OCI layout holding one image manifest whose config names `os`.
fn single_image_layout(dir: &Path, os: &str) {
    use sha2::{Digest as _, Sha256};
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("write");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config, config_size) = put(format!(
        r#"{{"architecture":"amd64","os":"{os}","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    )
    .as_bytes());
    let (manifest, manifest_size) = put(
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[]}}"#
        )
        .as_bytes(),
    );
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MANIFEST}","digest":"{manifest}","size":{manifest_size}}}]}}"#
        ),
    )
    .expect("write");
}

#[test]
fn a_default_container_must_hold_a_linux_image() {
    let dir = Test::new();
    single_image_layout(&dir.path("linux"), "linux");
    single_image_layout(&dir.path("windows"), "windows");
    let release = |from: &str| {
        let path = dir.path(format!("{from}.kdl"));
        std::fs::write(
            &path,
            format!(
                r#"release "1.0" {{
    commit "0123abcd0123abcd0123abcd0123abcd0123abcd"
    created "2031-01-01T00:00:00Z"
    tag "{{{{ version }}}}"
    container-images {{
        container "single" from="{from}" default=#true
    }}
}}
"#
            ),
        )
        .expect("write");
        path
    };
    // One linux image, not an index: the release index lists it with its config's platform.
    let out = dir.path("out");
    Test::new()
        .arg("build")
        .arg(release("linux"))
        .arg("-o")
        .arg(&out)
        .run();
    let layout = Layout::open(&out);
    let index = layout.json(&layout.tag("1.0"));
    let listed = index["manifests"].as_array().expect("manifests");
    let image = listed.last().expect("an entry");
    assert_eq!(image["digest"], layout.tag("single-1.0")["digest"]);
    assert_eq!(
        image["platform"],
        serde_json::json!({"architecture": "amd64", "os": "linux"})
    );
    // No linux image: what would `podman pull` run? An error that says so.
    let refused = Test::new()
        .args(["--message-format", "json", "check"])
        .arg(release("windows"))
        .status(1)
        .run();
    let error = refused.json_error();
    assert_eq!(error["code"], "glc::resolve::default-not-an-image");
    assert_eq!(
        error["message"],
        "the default container `single` holds no linux image: `podman pull` would find nothing to run"
    );
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(6), Some(33))
    );
}
