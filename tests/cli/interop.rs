//! The layout against the tools people use: skopeo and Debian's docker-registry (distribution
//! 2.8) on 127.0.0.1, a children-first push of the whole tree over the distribution API, and
//! umoci reading every container image. Outside CI a missing tool skips its test loudly; in
//! CI (`CI` set) a missing tool fails it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Test;
use crate::build::{Layout, skopeo};
use crate::registry::{Registry, tool};

fn built(dir: &Path) -> Layout {
    crate::build::build_top_level(&dir.join("out"))
}

#[test]
fn skopeo_round_trips_every_tag_below_the_root_through_a_registry() {
    let Some(_) = skopeo() else { return };
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = built(dir.dir());
    let mut copied = 0;
    for tag in layout.tags().into_keys() {
        let descriptor = layout.tag(&tag);
        // The release index holds indexes; skopeo copies one image or index of images a call,
        // so the root goes by the tree push below.
        if descriptor["artifactType"] == "application/io.gardenlinux.release" {
            continue;
        }
        let destination = format!("docker://{}/gardenlinux:{tag}", registry.host());
        let copy = skopeo()
            .expect("skopeo")
            .args([
                "copy",
                "--all",
                "--preserve-digests",
                "--quiet",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:{tag}", layout.root.display()))
            .arg(&destination)
            .output()
            .expect("skopeo");
        assert!(
            copy.status.success(),
            "skopeo copy {tag}: {}",
            String::from_utf8_lossy(&copy.stderr)
        );
        let raw = skopeo()
            .expect("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(&destination)
            .output()
            .expect("skopeo");
        assert!(
            raw.status.success(),
            "skopeo inspect {tag}: {}",
            String::from_utf8_lossy(&raw.stderr)
        );
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&raw.stdout)));
        assert_eq!(
            descriptor["digest"],
            digest.as_str(),
            "{tag} came back with another digest"
        );
        copied += 1;
    }
    assert_eq!(copied, 16, "8 cloud images and 8 containers");
    eprintln!(
        "interop: {copied} tags round-tripped through docker-registry with skopeo, digests unchanged"
    );
}

/// Pushes a descriptor's blob and, for documents, everything below it first.
pub(crate) struct Pusher<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) layout: &'a Layout,
    pub(crate) manifests: usize,
    pub(crate) blobs: usize,
}

impl Pusher<'_> {
    pub(crate) fn push(&mut self, descriptor: &Value, reference: Option<&str>) {
        let digest = descriptor["digest"].as_str().expect("digest");
        let media_type = descriptor["mediaType"].as_str().expect("mediaType");
        let bytes = self.layout.blob(digest);
        let document =
            media_type.ends_with("manifest.v1+json") || media_type.ends_with("index.v1+json");
        if !document {
            self.blob(digest, &bytes);
            return;
        }
        let body: Value = serde_json::from_slice(&bytes).expect("json");
        for child in body["manifests"].as_array().into_iter().flatten() {
            self.push(child, None);
        }
        for blob in std::iter::once(&body["config"])
            .filter(|c| c.is_object())
            .chain(body["layers"].as_array().into_iter().flatten())
        {
            self.push(blob, None);
        }
        let reference = reference.unwrap_or(digest);
        let response = ureq2::put(
            &self
                .registry
                .url(&format!("/v2/gardenlinux/manifests/{reference}")),
        )
        .set("Content-Type", media_type)
        .send_bytes(&bytes)
        .unwrap_or_else(|e| panic!("PUT manifest {reference}: {e}"));
        assert_eq!(response.status(), 201);
        assert_eq!(
            response.header("Docker-Content-Digest"),
            Some(digest),
            "the registry computed another digest"
        );
        self.manifests += 1;
    }

    fn blob(&mut self, digest: &str, bytes: &[u8]) {
        if ureq2::head(
            &self
                .registry
                .url(&format!("/v2/gardenlinux/blobs/{digest}")),
        )
        .call()
        .is_ok()
        {
            return;
        }
        let start = ureq2::post(&self.registry.url("/v2/gardenlinux/blobs/uploads/"))
            .call()
            .expect("start upload");
        assert_eq!(start.status(), 202);
        let location = start.header("Location").expect("Location").to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            self.registry.url(&location)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = ureq2::put(&format!("{location}{separator}digest={digest}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(bytes)
            .unwrap_or_else(|e| panic!("PUT blob {digest}: {e}"));
        assert_eq!(done.status(), 201);
        self.blobs += 1;
    }
}

#[test]
fn the_whole_release_tree_is_pushed_children_first_and_read_back() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = built(dir.dir());
    let mut pusher = Pusher {
        registry: &registry,
        layout: &layout,
        manifests: 0,
        blobs: 0,
    };
    let root = layout.tag("1877.3");
    pusher.push(&root, Some("1877.3"));
    // Attachments after their subjects, by digest, as `oras cp -r` does.
    let attachments: Vec<Value> = layout
        .entries()
        .into_iter()
        .filter(|d| d.get("annotations").is_none())
        .collect();
    for attachment in &attachments {
        pusher.push(attachment, None);
    }
    let (manifests, blobs) = (pusher.manifests, pusher.blobs);
    let mut response = ureq2::get(&registry.url("/v2/gardenlinux/manifests/1877.3"))
        .set("Accept", "application/vnd.oci.image.index.v1+json")
        .call()
        .expect("GET root")
        .into_reader();
    let mut body = Vec::new();
    response.read_to_end(&mut body).expect("read");
    assert_eq!(
        root["digest"],
        format!("sha256:{}", hex::encode(Sha256::digest(&body))).as_str(),
        "the root came back changed"
    );
    for attachment in &attachments {
        let digest = attachment["digest"].as_str().expect("digest");
        let found = ureq2::head(&registry.url(&format!("/v2/gardenlinux/manifests/{digest}")))
            .set("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call();
        assert!(found.is_ok(), "attachment {digest} is not in the registry");
    }
    // 1 release + metadata + cloud images index + 8 images + container images + bare group
    // + 8 containers (3 of them indexes over 2 platform images each) + 16 attachments, and
    // the release index's flat view: the 8 images again and base's 2 platform images.
    assert_eq!(manifests, 1 + 1 + 1 + 8 + 1 + 1 + 8 + 6 + 16 + 8 + 2);
    eprintln!(
        "interop: pushed the release tree ({manifests} manifests and indexes, {blobs} blobs) to docker-registry; the root read back unchanged"
    );
}

/// A copy of the layout whose index.json also tags each platform image of an index, since
/// umoci picks images by tag only and cannot choose among an index's platforms.
fn with_platform_tags(layout: &Layout, dir: &Path) -> (PathBuf, Vec<String>) {
    let copy = dir.join("umoci-layout");
    std::fs::create_dir_all(copy.join("blobs")).expect("mkdir");
    std::os::unix::fs::symlink(layout.root.join("blobs/sha256"), copy.join("blobs/sha256"))
        .expect("link blobs");
    std::fs::copy(layout.root.join("oci-layout"), copy.join("oci-layout")).expect("copy");
    let mut index = layout.index.clone();
    let mut images = Vec::new();
    let mut extra = Vec::new();
    for tag in layout.tags().into_keys() {
        let descriptor = layout.tag(&tag);
        let is_container = tag.ends_with("-1877.3")
            && !tag.contains("gardener_prod")
            && !tag.starts_with("baremetal");
        if !is_container {
            continue;
        }
        if descriptor["mediaType"] == "application/vnd.oci.image.index.v1+json" {
            for platform_image in layout.json(&descriptor)["manifests"]
                .as_array()
                .expect("manifests")
            {
                let name = format!(
                    "{tag}--{}",
                    platform_image["platform"]["architecture"]
                        .as_str()
                        .expect("arch")
                );
                let mut entry = platform_image.clone();
                entry["annotations"] =
                    serde_json::json!({"org.opencontainers.image.ref.name": name});
                extra.push(entry);
                images.push(name);
            }
        } else {
            images.push(tag);
        }
    }
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .extend(extra);
    std::fs::write(
        copy.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
    (copy, images)
}

#[test]
fn umoci_reads_and_unpacks_every_container_image() {
    if !tool("umoci") {
        return;
    }
    let dir = Test::new();
    let layout = built(dir.dir());
    let (copy, images) = with_platform_tags(&layout, dir.dir());
    assert_eq!(
        images.len(),
        11,
        "5 single images and 3 indexes of 2: {images:?}"
    );
    for image in &images {
        let stat = Command::new("umoci")
            .args(["stat", "--json", "--image"])
            .arg(format!("{}:{image}", copy.display()))
            .output()
            .expect("umoci");
        assert!(
            stat.status.success(),
            "umoci stat {image}: {}",
            String::from_utf8_lossy(&stat.stderr)
        );
        let bundle = dir.path(format!("bundle-{image}"));
        let unpack = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:{image}", copy.display()))
            .arg(&bundle)
            .output()
            .expect("umoci");
        assert!(
            unpack.status.success(),
            "umoci unpack {image}: {}",
            String::from_utf8_lossy(&unpack.stderr)
        );
        let os_release =
            std::fs::read_to_string(bundle.join("rootfs/etc/os-release")).expect("unpacked rootfs");
        assert!(os_release.contains("VERSION_ID=1877.3"), "{os_release}");
    }
    eprintln!(
        "interop: umoci read and unpacked {} container images",
        images.len()
    );
}
