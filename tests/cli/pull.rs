//! `glc pull` against Debian's docker-registry (distribution 2.8: no referrers API, so the
//! fallback tags) on 127.0.0.1: the mirror round trip through two registries, byte for byte;
//! a pull through a proxy that injects faults; kill -9 at fixed moments; and the errors a
//! mirror operator meets. Each test starts and stops its own registries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Test;
use crate::build::{Layout, build_top_level};
use crate::hostile_inputs::{allocated, release, sparse_disk};
use crate::push::{
    Faulty, Mode, big_release, kill_after, push_json, roll, signed_release, spawn_json, summary,
    wait_until,
};
use crate::registry::{Registry, free_port};

/// cosign's `sha256-<hex>.sig`.
fn is_signature_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") && tag.rsplit('.').next() == Some("sig")
}

/// Every file under `root` (relative path → bytes); directories must hold only files.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let kind = std::fs::symlink_metadata(&path).expect("stat").file_type();
            if kind.is_dir() {
                stack.push(path);
            } else {
                assert!(kind.is_file(), "{} is not a regular file", path.display());
                let bytes = std::fs::read(&path).expect("read");
                files.insert(path.strip_prefix(root).expect("under").to_path_buf(), bytes);
            }
        }
    }
    files
}

/// The two layouts hold the same files with the same bytes (`diff -r`, with names).
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (expected, actual) = (tree(expected), tree(actual));
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&expected),
        names(&actual),
        "the layouts hold other files"
    );
    for (name, bytes) in &expected {
        assert!(actual[name] == *bytes, "{} differs", name.display());
    }
}

/// The top-level release built in a test directory's `built` and pushed to `repository`.
fn pushed(registry: &Registry, repository: &str) -> (Test, Layout) {
    let dir = Test::new();
    let built = build_top_level(&dir.path("built"));
    push_json(
        &built.root,
        &format!("{}/{repository}", registry.host()),
        &[],
    );
    (dir, built)
}

/// `glc pull --message-format json`: its summary line.
fn pull_json(source: &str, output: &Path, extra: &[&str]) -> Value {
    let out = Test::new()
        .args(["--message-format", "json", "pull", source, "-o"])
        .arg(output)
        .args(extra)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
        .run();
    summary(&out.stderr())
}

/// Nothing of a pull into `output` is left beside it or at it.
fn assert_nothing_written(output: &Path) {
    assert!(!output.exists(), "{} was written", output.display());
    let parent = output.parent().expect("parent");
    let name = output.file_name().expect("name").to_string_lossy();
    let left: Vec<String> = std::fs::read_dir(parent)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.glc-")))
        .collect();
    assert!(left.is_empty(), "left beside the target: {left:?}");
}

#[test]
fn the_signed_release_goes_through_two_registries_and_comes_back_byte_identical() {
    let (Some(a), Some(b)) = (Registry::start(""), Registry::start("")) else {
        return;
    };
    let dir = Test::new();
    let built = signed_release(dir.dir());
    push_json(&built.root, &format!("{}/gardenlinux", a.host()), &[]);

    // The connected side: one tag names the release; its other tags, the cname and container
    // tags, the signatures and the attachments come with it.
    let from_a = dir.path("from-a");
    let first = pull_json(&format!("{}/gardenlinux:1877.3", a.host()), &from_a, &[]);
    assert_same_tree(&built.root, &from_a);
    assert_eq!(first["up_to_date"], false, "{first}");
    assert_eq!(first["referrers"], 16, "the attachments: {first}");
    // The other side: pushed into another registry, pulled back from it.
    push_json(&from_a, &format!("{}/mirror/gardenlinux", b.host()), &[]);
    let from_b = dir.path("from-b");
    pull_json(
        &format!("{}/mirror/gardenlinux:1877.3", b.host()),
        &from_b,
        &[],
    );
    assert_same_tree(&built.root, &from_b);
    Test::new()
        .arg("verify")
        .arg(&from_b)
        .arg("--require-signatures")
        .arg("--key")
        .arg(crate::repo().join("tests/fixtures/signing/test-only-cosign.pub"))
        .run();

    // Pulled again: the target already is that layout; no blob is downloaded.
    let gets = b.logged("GET");
    let again = pull_json(
        &format!("{}/mirror/gardenlinux:1877.3", b.host()),
        &from_b,
        &[],
    );
    assert_eq!(again["up_to_date"], true, "{again}");
    assert_eq!(again["blobs_downloaded"], 0, "{again}");
    let blob_gets =
        b.logged("GET") - gets - usize::try_from(again["documents"].as_u64().unwrap()).unwrap();
    assert!(
        blob_gets < 40,
        "a pull of an unchanged release sent {blob_gets} GETs besides its manifests"
    );
    assert_same_tree(&built.root, &from_b);
}

#[test]
fn only_named_tags_leaves_out_the_other_tags_but_not_signatures_or_attachments() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let built = signed_release(dir.dir());
    push_json(&built.root, &format!("{}/gl", registry.host()), &[]);
    let out = dir.path("pulled");
    let summary = pull_json(
        &format!("{}/gl:1877", registry.host()),
        &out,
        &["--only-named-tags"],
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index")).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(tags.contains(&"1877"), "{tags:?}");
    assert!(!tags.contains(&"1877.3"), "{tags:?}");
    assert!(
        !tags.iter().any(|t| t.starts_with("aws-")),
        "a cname tag came: {tags:?}"
    );
    // Each signature tag comes, named or not.
    let signatures = built
        .entries()
        .iter()
        .filter(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(is_signature_tag)
        })
        .count();
    assert!(signatures > 20, "the release is signed");
    assert_eq!(
        tags.iter().filter(|t| is_signature_tag(t)).count(),
        signatures,
        "{tags:?}"
    );
    assert_eq!(summary["referrers"], 16, "{summary}");
    Test::new().arg("verify").arg(&out).run();
}

#[test]
fn a_pull_through_502s_429s_and_cut_downloads_completes_byte_identical() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let (dir, built) = pushed(&registry, "gardenlinux");
    let proxy = Faulty::start(registry.port, Mode::Faults);
    let out = dir.path("pulled");
    let summary = pull_json(
        &format!("127.0.0.1:{}/gardenlinux:1877.3", proxy.port),
        &out,
        &["--retries", "8"],
    );
    let faults = proxy.assert_every_fault_injected();
    assert_same_tree(&built.root, &out);
    eprintln!(
        "pull: through [502s, 429s, cuts] = {faults:?}, {} requests",
        summary["requests"]
    );
}

/// `glc pull` of `source` into `output`, spawned (see [`spawn_json`]).
fn spawn_pull(dir: &Test, source: &str, output: &Path, stderr_to: &Path) -> Child {
    let args: [&std::ffi::OsStr; 6] = [
        "pull".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
        source.as_ref(),
        "-o".as_ref(),
        output.as_ref(),
    ];
    spawn_json(dir, args, stderr_to)
}

#[test]
fn a_pull_killed_at_six_moments_leaves_no_half_layout_and_the_rerun_resumes() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let deadline = Instant::now() + Duration::from_mins(4);
    let dir = Test::new();
    let layout = big_release(dir.dir());
    push_json(&layout.root, &format!("{}/big", registry.host()), &[]);
    let source = format!("{}/big:1877.3", registry.host());
    let log = dir.path("log");

    // One whole pull first: how long a pull takes here, to spread the kills over it.
    let started = Instant::now();
    let mut whole = spawn_pull(&dir, &source, &dir.path("whole"), &log);
    assert_eq!(wait_until(&mut whole, deadline).code(), Some(0));
    let duration = started.elapsed();
    assert_same_tree(&layout.root, &dir.path("whole"));

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let blob_bytes = summary(&text)["bytes_downloaded"].as_u64().unwrap();
    assert!(blob_bytes > 190 << 20, "{text}");

    let mut resumed = 0;
    for kill in 0..6u64 {
        let out = dir.path(format!("killed-{kill}"));
        let permille = 100 + (roll(3000 + kill) * 8);
        let delay = duration.mul_f64(f64::from(u32::try_from(permille).unwrap()) / 1000.0);
        let child = spawn_pull(&dir, &source, &out, &log);
        let status = kill_after(child, delay, deadline);
        // Never half a layout: none, or the whole one.
        let whole = out.exists();
        if whole {
            assert_same_tree(&layout.root, &out);
        }
        // What the killed pull kept for the next one: whole blobs and the start of others.
        let downloads = dir.path(format!(".killed-{kill}.glc-pull"));
        let kept: u64 = std::fs::read_dir(&downloads).map_or(0, |entries| {
            entries
                .map(|e| e.expect("entry").metadata().expect("stat").len())
                .sum()
        });
        let mut rerun = spawn_pull(&dir, &source, &out, &log);
        let rerun_status = wait_until(&mut rerun, deadline);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(
            rerun_status.code(),
            Some(0),
            "rerun after kill {kill}: {text}"
        );
        assert_same_tree(&layout.root, &out);
        let bytes = summary(&text)["bytes_downloaded"].as_u64().unwrap();
        // The rerun downloads exactly what was not kept: no byte twice.
        let expected = if whole { 0 } else { blob_bytes - kept };
        assert_eq!(
            bytes, expected,
            "kill {kill}: {kept} bytes were kept: {text}"
        );
        if kept > 0 && !whole {
            resumed += 1;
        }
        // What an interrupted pull kept beside the target is gone once it is done.
        assert!(!downloads.exists());
        eprintln!(
            "pull: kill {kill} after {delay:?} ({status}): {kept} bytes kept, the rerun downloaded {bytes} of {blob_bytes}"
        );
    }
    assert!(
        resumed >= 3,
        "only {resumed} of 6 reruns resumed from what a killed pull had downloaded (a whole pull took {duration:?})"
    );
}

#[test]
fn a_tag_the_repository_lacks_writes_nothing_and_says_so() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let (dir, _) = pushed(&registry, "gl");
    let out = dir.path("pulled");
    Test::new()
        .args(["pull", &format!("{}/gl:1999.0", registry.host()), "-o"])
        .arg(&out)
        .status(1)
        .stderr_contains("glc::pull::tag")
        .stderr_contains("has no tag `1999.0`")
        .run();
    assert_nothing_written(&out);
}

#[test]
fn a_blob_the_registry_holds_damaged_fails_the_pull_and_leaves_the_old_layout() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let (dir, built) = pushed(&registry, "gl");
    // A layout pulled before: one container, without the cloud images.
    let out = dir.path("pulled");
    pull_json(
        &format!("{}/gl:bare-python-1877.3", registry.host()),
        &out,
        &["--only-named-tags"],
    );
    let before = tree(&out);

    // A rootfs tarball, bit-flipped where the registry keeps it.
    let rootfs = built
        .entries()
        .iter()
        .find_map(|d| {
            let cname = d["annotations"]["cname"].as_str()?;
            cname
                .starts_with("aws-gardener_prod-amd64")
                .then(|| d["digest"].clone())
        })
        .expect("a cloud image");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            built
                .root
                .join("blobs/sha256")
                .join(&rootfs.as_str().unwrap()[7..]),
        )
        .expect("manifest"),
    )
    .unwrap();
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/io.gardenlinux.image.archive.format.tar")
        .expect("rootfs layer")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let hex = &layer[7..];
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).expect("stored blob");
    bytes[0] ^= 1;
    std::fs::write(&data, bytes).expect("damage");

    // Into a new directory: no layout. Over the old layout: it is left as it was.
    let fresh = dir.path("fresh");
    for target in [&fresh, &out] {
        let output = Test::new()
            .args(["pull", &format!("{}/gl:1877.3", registry.host()), "-o"])
            .arg(target)
            .status(1)
            .run();
        let text = output.stderr();
        assert!(text.contains("glc::pull::content"), "{text}");
        assert!(text.contains(&layer), "names the blob: {text}");
        // The blobs that were whole are kept for the next pull, beside the target.
        let kept = dir.path(format!(
            ".{}.glc-pull",
            target.file_name().unwrap().to_string_lossy()
        ));
        assert!(kept.is_dir(), "{text}");
        assert!(!kept.join(hex).exists() && !kept.join(format!("{hex}.part")).exists());
        std::fs::remove_dir_all(kept).expect("remove");
    }
    assert_eq!(tree(&out), before);
    assert_nothing_written(&fresh);
}

#[test]
fn a_registry_that_is_down_fails_the_pull_in_bounded_time() {
    let dir = Test::new();
    let out = dir.path("pulled");
    let port = free_port();
    let started = Instant::now();
    Test::new()
        .args(["pull", &format!("127.0.0.1:{port}/gl:1877.3"), "-o"])
        .arg(&out)
        // A pull that hangs is killed, and the test fails.
        .bounded()
        .status(1)
        .stderr_contains("glc::pull::registry")
        .stderr_contains(format!("127.0.0.1:{port}"))
        .stderr_contains("nothing was written")
        .run();
    assert_nothing_written(&out);
    eprintln!(
        "pull: a registry that is down fails after {:?}",
        started.elapsed()
    );
}

#[test]
fn an_unknown_host_fails_the_pull_at_once_and_writes_nothing() {
    let dir = Test::new();
    let out = dir.path("pulled");
    // With 10 retries the backoff alone would outlast the bounded run's 60 s: the exit 1
    // shows that a name without an address is not retried.
    let Some(run) = dir.test().no_host_names() else {
        return;
    };
    run.args([
        "pull",
        "registry.invalid:5000/gl:1877.3",
        "--retries",
        "10",
        "-o",
    ])
    .arg(&out)
    .bounded()
    .status(1)
    .stderr_contains("glc::pull::host")
    .stderr_contains("cannot find the registry host `registry.invalid:5000`: failed to")
    .stderr_contains("nothing was written")
    .stderr_contains("check the registry's name")
    .run();
    assert_nothing_written(&out);
}

#[test]
fn a_sparse_disk_image_is_pulled_sparse_with_its_digest() {
    const SIZE: u64 = 64 << 20;
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let disk = dir.path("disk.raw");
    if !sparse_disk(&disk, SIZE) {
        return;
    }
    std::fs::write(dir.path("rootfs.tar"), b"rootfs").expect("write");
    let kdl = std::fs::read_to_string(release(dir.dir(), "rootfs.tar", Some("disk.raw")))
        .expect("release.kdl");
    std::fs::write(
        dir.path("release.kdl"),
        kdl.replace("    created", "    tag \"{{ version }}\"\n    created"),
    )
    .expect("release.kdl");
    dir.test()
        .args(["build", "release.kdl", "-q", "-o", "out"])
        .run();
    let destination = format!("{}/sparse", registry.host());
    push_json(&dir.path("out"), &destination, &[]);
    let pulled = dir.path("pulled");
    pull_json(&format!("{destination}:1"), &pulled, &[]);
    assert_same_tree(&dir.path("out"), &pulled);
    let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        std::fs::read(&disk).expect("read"),
    ));
    let blob = pulled.join("blobs/sha256").join(hex);
    assert_eq!(std::fs::metadata(&blob).expect("blob").len(), SIZE);
    assert!(
        allocated(&blob) < 1 << 20,
        "the pulled blob takes {} bytes on disk",
        allocated(&blob)
    );
    // `glc get` of the one file, from the layout and from the registry: sparse too.
    let disk_bytes = std::fs::read(&disk).expect("read");
    for (source, output) in [
        ("out", "got.raw"),
        (&format!("{destination}:1")[..], "fetched.raw"),
    ] {
        dir.test()
            .args(["get", source, "x-amd64", "--file", "disk.raw", "-o", output])
            .run();
        let got = dir.path(output);
        assert!(std::fs::read(&got).expect("got") == disk_bytes, "{source}");
        assert!(
            allocated(&got) < 1 << 20,
            "glc get from {source} wrote {} bytes on disk",
            allocated(&got)
        );
    }
}

#[test]
fn wrong_credentials_fail_the_pull_clearly_without_the_password() {
    let dir = Test::new();
    let Some(registry) = Registry::with_htpasswd(dir.dir(), "glc-user", "right-s3cret") else {
        return;
    };
    let out = dir.path("pulled");
    let output = Test::new()
        .args(["pull", &format!("{}/gl:1877.3", registry.host()), "-o"])
        .arg(&out)
        .env("GLC_REGISTRY_HOST", registry.host())
        .env("GLC_REGISTRY_USERNAME", "glc-user")
        .env("GLC_REGISTRY_PASSWORD", "wrong-pa55word")
        .status(1)
        .run();
    let text = output.stderr();
    assert!(text.contains("glc::pull::auth"), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(
        !text.contains("wrong-pa55word"),
        "shows the password: {text}"
    );
    assert_nothing_written(&out);
}

#[test]
fn sources_in_two_repositories_or_without_a_tag_are_usage_errors() {
    Test::new()
        .args([
            "pull",
            "127.0.0.1:5000/a:1",
            "127.0.0.1:5000/b:1",
            "-o",
            "x",
        ])
        .status(2)
        .stderr_contains("in another repository")
        .run();
    Test::new()
        .args(["pull", "127.0.0.1:5000/gardenlinux", "-o", "x"])
        .status(2)
        .stderr_contains("names no tag")
        .run();
}
