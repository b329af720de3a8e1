//! `glc get`: one file of one cloud image, from a layout of the top-level release, byte for
//! byte the file the release names, or nothing at all.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::registry::Registry;
use crate::signing::{Key, built, make_key};
use crate::test::{Layout, copy_dir, mkfifo, rewrite_index};
use crate::{Ran, Test, assert_matches_file, repo};

const AWS: &str = "aws-gardener_prod-amd64-1877.3-75df9f40";

/// The release manifest of the layout, as `MetaData` holds it.
fn release_manifest(layout: &Layout) -> Value {
    let release = layout.json(&layout.tag("1877.3"));
    let metadata = release["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|d| d["artifactType"] == "application/io.gardenlinux.release.metadata")
        .expect("MetaData")
        .clone();
    let metadata = layout.json(&metadata);
    let layer = metadata["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["mediaType"] == "application/io.gardenlinux.release-manifest+json")
        .expect("release manifest")
        .clone();
    layout.json(&layer)
}

/// `glc get SOURCE SELECTOR ARGS… -o OUT`, in the directory of `dir`.
fn get(
    dir: &Ran,
    source: impl AsRef<OsStr>,
    selector: &str,
    args: &[&str],
    out: impl AsRef<OsStr>,
) -> Test {
    dir.test()
        .arg("get")
        .arg(source)
        .arg(selector)
        .args(args)
        .arg("-o")
        .arg(out)
}

/// The top-level release built with `--sign-key` into `out`, and its P-256 key.
fn signed_build() -> (Ran, PathBuf, Key) {
    let dir = Test::new().top_level();
    let key = make_key(dir.dir(), "release", "p256-pkcs8");
    let ran = dir
        .args(["build", "release/release.kdl", "-q", "--sign-key"])
        .arg(&key.private)
        .args(["-o", "out"])
        .run();
    let out = ran.path("out");
    (ran, out, key)
}

fn artifact(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("artifacts").join(name)).expect("artifact")
}

/// The files in `dir` but `keep`: what a failed get may have left behind.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

#[test]
fn every_role_file_and_attachment_of_every_image_is_the_file_the_release_names() {
    let (ran, out) = built();
    assert_every_file(out.as_os_str(), &ran.layout("out"), &ran);
}

#[test]
fn every_file_read_from_a_registry_is_the_file_the_release_names() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let (ran, out) = built();
    crate::push::push_json(&out, &format!("{}/gardenlinux", registry.host()), &[]);
    let gets = registry.logged("GET");
    assert_every_file(
        &OsString::from(format!("{}/gardenlinux:1877.3", registry.host())),
        &ran.layout("out"),
        &ran,
    );
    // Only documents on the way and the file asked for are read, each document once: seven
    // requests a file (one more would be a document read twice).
    let per_file = (registry.logged("GET") - gets) / (8 * 11);
    assert!(per_file < 8, "{per_file} GETs a file");
}

/// `glc get` of every role, file and attachment of every cloud image of the top-level release
/// from `source` (a layout or a registry reference), each compared with its input file.
fn assert_every_file(source: &OsStr, layout: &Layout, dir: &Ran) {
    let manifest = release_manifest(layout);
    let images = manifest["images"].as_array().expect("images");
    assert_eq!(images.len(), 8);
    let got = dir.path("got");
    let mut files = 0;
    for image in images {
        let cname = image["cname"].as_str().expect("cname");
        // The roles, as release.kdl names their files.
        for (role, suffix) in [
            ("kernel", "vmlinuz"),
            ("cmdline", "cmdline"),
            ("rootfs", "tar"),
        ] {
            get(dir, source, cname, &["--role", role], &got).run();
            assert!(
                std::fs::read(&got).expect("got") == artifact(&format!("{cname}.{suffix}")),
                "{cname} --role {role}"
            );
            files += 1;
        }
        // Every layer by its title: the roles' files and every `file`.
        for layer in image["layers"].as_array().expect("layers") {
            let title = layer["title"].as_str().expect("title");
            get(dir, source, cname, &["--file", title], &got).run();
            assert!(
                std::fs::read(&got).expect("got") == artifact(title),
                "{cname} --file {title}"
            );
            files += 1;
        }
        for (kind, suffix) in [("test-log", "test.log"), ("audit-log", "audit.log")] {
            get(dir, source, cname, &["--attachment", kind], &got).run();
            assert!(
                std::fs::read(&got).expect("got") == artifact(&format!("{cname}.{suffix}")),
                "{cname} --attachment {kind}"
            );
            files += 1;
        }
        // The top-level release has no initrd: the error says what the image has.
        get(dir, source, cname, &["--role", "initrd"], &got)
            .status(1)
            .stderr_contains(format!("{cname} has no initrd; it holds:"))
            .run();
    }
    assert_eq!(files, 8 * (3 + 6 + 2));
}

#[test]
fn an_image_is_selected_by_cname_prefix_or_matrix_values_and_to_standard_output() {
    let (ran, out) = built();
    let kernel = artifact(&format!("{AWS}.vmlinuz"));
    for selector in [
        AWS,
        "aws-gardener_prod-amd64",
        "platform=aws,arch=amd64",
        "arch=amd64, platform=aws ,features=gardener_prod",
    ] {
        let got = get(&ran, &out, selector, &["--role", "kernel"], "-").run();
        assert!(got.output.stdout == kernel, "{selector}");
    }
    // A prefix that only one cname has.
    let got = get(&ran, &out, "gcp", &["--role", "kernel"], "-").run();
    assert!(got.output.stdout == artifact("gcp-gardener_prod-amd64-1877.3-75df9f40.vmlinuz"));
}

#[test]
fn ambiguous_empty_and_unknown_selections_list_the_candidates() {
    let (ran, out) = built();
    let got = ran.path("got");
    let json = ["--message-format", "json", "--role", "kernel"];
    let found = get(&ran, &out, "aws", &json, &got)
        .status(1)
        .run()
        .json_error();
    assert_eq!(found["code"], "glc::get::select");
    assert_eq!(
        found["message"],
        format!(
            "`aws` matches 2 cloud images of {}:\n  {AWS} (arch=amd64, features=gardener_prod, platform=aws)\n  aws-gardener_prod-arm64-1877.3-75df9f40 (arch=arm64, features=gardener_prod, platform=aws)",
            out.display()
        )
    );
    assert_eq!(
        found["help"],
        "name one image: its cname, a prefix only it has, or matrix values such as `platform=aws,arch=amd64`; `glc get SOURCE . --list` lists them"
    );
    let found = get(&ran, &out, "platform=gcp,arch=arm64", &json, &got)
        .status(1)
        .run()
        .json_error();
    let message = found["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!(
            "no cloud image of {} matches `platform=gcp,arch=arm64`; its images:\n  {AWS} (arch=amd64, features=gardener_prod, platform=aws)\n",
            out.display()
        )),
        "{message}"
    );
    assert_eq!(message.lines().count(), 9, "{message}");
    let found = get(&ran, &out, "os=linux", &json, &got)
        .status(1)
        .run()
        .json_error();
    assert_eq!(
        found["message"],
        "the release's matrix has no key `os`; its keys: `arch`, `features` and `platform`"
    );
    // Without --role, --file or --attachment: what the image holds.
    let mut what = get(&ran, &out, AWS, &[], &got).status(1);
    for line in [
        "glc::get::what",
        &format!("say which file of {AWS} to get; it holds:"),
        "roles (--role): kernel, cmdline, rootfs",
        "attachments (--attachment): audit-log, test-log",
        &format!("{AWS}.raw"),
    ] {
        what = what.stderr_contains(line);
    }
    what.run();
    get(&ran, &out, AWS, &["--file", "nothing.raw"], &got)
        .status(1)
        .stderr_contains(format!("{AWS} has no file titled `nothing.raw`"))
        .run();
    get(&ran, &out, AWS, &["--attachment", "sbom"], &got)
        .status(1)
        .stderr_contains(format!("{AWS} has no attachment `sbom`"))
        .run();
    assert!(!got.exists(), "a failed get wrote {}", got.display());
}

#[test]
fn list_prints_a_table_and_json_lines() {
    let (ran, out) = built();
    ran.test()
        .arg("get")
        .arg(&out)
        .arg("--list")
        .stdout_matches("tests/snapshots/get-list.txt")
        .run();
    let listed = ran
        .test()
        .arg("get")
        .arg(&out)
        .args(["arch=arm64", "--list", "--message-format", "json"])
        .run();
    let lines: Vec<Value> = listed
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let cnames: Vec<&str> = lines
        .iter()
        .map(|l| l["cname"].as_str().expect("cname"))
        .collect();
    assert_eq!(
        cnames,
        [
            "aws-gardener_prod-arm64-1877.3-75df9f40",
            "azure-gardener_prod-arm64-1877.3-75df9f40",
            "openstack-gardener_prod-arm64-1877.3-75df9f40"
        ]
    );
    assert_matches_file(
        &serde_json::to_string_pretty(&lines[0]).expect("JSON"),
        &repo().join("tests/snapshots/get-list-aws-arm64.json"),
    );
}

#[test]
fn a_tampered_blob_writes_nothing_and_leaves_the_existing_file() {
    let (ran, out) = built();
    let layout = ran.layout("out");
    let manifest = release_manifest(&layout);
    let kernel = hex_of(&manifest["images"][0]["layers"][0]);
    let blob = out.join("blobs/sha256").join(&kernel);
    let mut bytes = std::fs::read(&blob).expect("blob");
    bytes[100] ^= 1;
    std::fs::write(&blob, &bytes).expect("tamper");
    let target = ran.path("target");
    std::fs::create_dir(&target).expect("mkdir");
    let got = target.join("kernel");
    std::fs::write(&got, b"the previous kernel").expect("write");
    let json = ["--role", "kernel", "--message-format", "json"];
    let found = get(&ran, &out, AWS, &json, &got)
        .status(1)
        .run()
        .json_error();
    assert_eq!(found["code"], "glc::get::source");
    assert_eq!(
        found["message"],
        format!(
            "blob sha256:{kernel} is corrupt: its bytes hash to {}",
            format_args!("sha256:{}", sha256_hex(&bytes))
        )
    );
    assert_eq!(std::fs::read(&got).expect("got"), b"the previous kernel");
    assert_eq!(others(&target, &["kernel"]), Vec::<String>::new());
    // A shorter blob, and to standard output: nothing written either.
    std::fs::write(&blob, &bytes[..10]).expect("truncate");
    let found = get(&ran, &out, AWS, &json, "-")
        .status(1)
        .stdout("")
        .run()
        .json_error();
    assert_eq!(
        found["message"],
        format!("blob sha256:{kernel} has fewer bytes than the 4098 its descriptor says")
    );
    // A tampered manifest on the way: nothing is read past it.
    let other = build_into(&ran, "other");
    let image = layout.tag(AWS);
    let hex = hex_of(&image);
    let manifest_path = other.join("blobs/sha256").join(hex);
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    std::fs::write(&manifest_path, text.replace("vmlinuz", "vmlinux")).expect("tamper");
    get(&ran, &other, AWS, &["--role", "kernel"], &got)
        .status(1)
        .stderr_contains("glc::get::source")
        .run();
    assert_eq!(std::fs::read(&got).expect("got"), b"the previous kernel");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The hex digits of the digest of `descriptor`.
fn hex_of(descriptor: &Value) -> String {
    descriptor["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .expect("digest")
        .to_owned()
}

/// The top-level release copied into the directory of `ran`, built again into `name` there.
fn build_into(ran: &Ran, name: &str) -> PathBuf {
    ran.test()
        .args(["build", "release/release.kdl", "-q", "-o", name])
        .run()
        .path(name)
}

/// `bytes` as a blob of the layout at `layout`; its hex digest.
fn add_blob(layout: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("blob");
    hex
}

#[test]
fn the_output_is_replaced_whole_and_never_a_directory() {
    let (ran, out) = built();
    let got = ran.path("kernel");
    std::fs::write(&got, b"old").expect("write");
    get(&ran, &out, AWS, &["--role", "kernel"], &got).run();
    assert!(std::fs::read(&got).expect("got") == artifact(&format!("{AWS}.vmlinuz")));
    let target = ran.path("a-directory");
    std::fs::create_dir(&target).expect("mkdir");
    get(&ran, &out, AWS, &["--role", "kernel"], &target)
        .status(1)
        .stderr_contains(format!("{} is a directory", target.display()))
        .run();
    assert_eq!(others(&target, &[]), Vec::<String>::new());
}

#[test]
fn several_releases_need_a_tag_and_a_registry_reference_is_read_from_the_registry() {
    let (ran, out) = built();
    let layout = ran.layout("out");
    // A second release: the same index with another title, under the tag 1878.
    let release = layout.tag("1877.3");
    let mut index = layout.json(&release);
    index["annotations"]["org.opencontainers.image.title"] = "Garden Linux 1878".into();
    let bytes = serde_json::to_vec(&index).expect("JSON");
    let hex = add_blob(&out, &bytes);
    let mut entry = release.clone();
    entry["digest"] = format!("sha256:{hex}").into();
    entry["size"] = bytes.len().into();
    entry["annotations"]["org.opencontainers.image.ref.name"] = "1878".into();
    rewrite_index(&out, |top| {
        top["manifests"]
            .as_array_mut()
            .expect("manifests")
            .push(entry);
    });
    let got = ran.path("got");
    let found = get(
        &ran,
        &out,
        AWS,
        &["--role", "kernel", "--message-format", "json"],
        &got,
    )
    .status(1)
    .run()
    .json_error();
    assert_eq!(found["code"], "glc::get::release");
    let first = release["digest"].as_str().expect("digest");
    let (one, two) = if first < format!("sha256:{hex}").as_str() {
        (
            format!("1877, 1877.3 → {first}"),
            format!("1878 → sha256:{hex}"),
        )
    } else {
        (
            format!("1878 → sha256:{hex}"),
            format!("1877, 1877.3 → {first}"),
        )
    };
    assert_eq!(
        found["message"],
        format!("{} holds 2 releases:\n  {one}\n  {two}", out.display())
    );
    assert_eq!(found["help"], "choose one with --tag TAG");
    let tagged = |tag: &str| get(&ran, &out, AWS, &["--role", "kernel", "--tag", tag], &got);
    tagged("1878").run();
    assert!(std::fs::read(&got).expect("got") == artifact(&format!("{AWS}.vmlinuz")));
    tagged(AWS)
        .status(1)
        .stderr_contains(format!("has no release tag `{AWS}`"))
        .run();
    // With --tag, only that tag is read: a damaged index elsewhere does not stand in the way.
    let group = layout.tag("bare-libc-1877.3");
    assert_eq!(
        group["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let hex = hex_of(&group);
    std::fs::write(out.join("blobs/sha256").join(hex), b"{}").expect("damage");
    get(&ran, &out, AWS, &["--role", "kernel"], &got)
        .status(1)
        .stderr_contains("glc::get::source")
        .run();
    tagged("1877").run();

    // A registry reference is read from the registry: none listens here.
    let port = crate::registry::free_port();
    let found = get(
        &ran,
        format!("127.0.0.1:{port}/gardenlinux:1877.3"),
        AWS,
        &[
            "--role",
            "kernel",
            "--retries",
            "0",
            "--message-format",
            "json",
        ],
        "-",
    )
    .status(1)
    .run()
    .json_error();
    assert_eq!(found["code"], "glc::get::source");
    assert!(
        found["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("127.0.0.1:{port}"))),
        "{found}"
    );
}

const SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// A copy of the layout `out` as `name` in the test's directory, and the signature manifest
/// of the image `AWS` in it with the path of its blob.
fn copy_signed(ran: &Ran, out: &Path, name: &str) -> (PathBuf, Layout, Value, PathBuf) {
    let copy = ran.path(name);
    copy_dir(out, &copy);
    let layout = Layout::open(&copy);
    let (manifest, path) = signature_of(&layout, AWS);
    (copy, layout, manifest, path)
}

/// The signature of a signature manifest, and the same with its first character changed.
fn signature_and_flipped(manifest: &Value) -> (String, String) {
    let signature = manifest["layers"][0]["annotations"][SIGNATURE]
        .as_str()
        .expect("signature")
        .to_owned();
    let flipped = if signature.starts_with('M') { "N" } else { "M" };
    let changed = format!("{flipped}{}", &signature[1..]);
    (signature, changed)
}

/// The signature manifest of the image `cname` and the path of its blob.
fn signature_of(layout: &Layout, cname: &str) -> (Value, PathBuf) {
    let entry = layout.tag(&format!("sha256-{}.sig", hex_of(&layout.tag(cname))));
    (
        layout.json(&entry),
        layout.root.join("blobs/sha256").join(hex_of(&entry)),
    )
}

#[test]
fn with_a_key_only_a_validly_signed_image_is_written() {
    let (ran, out, key) = signed_build();
    let other_key = make_key(ran.dir(), "other", "p256-pkcs8");
    let got = ran.path("got");
    get(&ran, &out, AWS, &["--role", "kernel"], &got)
        .arg("--key")
        .arg(&key.public)
        .stderr_contains("signature verified")
        .run();
    assert!(std::fs::read(&got).expect("got") == artifact(&format!("{AWS}.vmlinuz")));
    // An attachment is not signed: its subject's signature is checked.
    get(&ran, &out, AWS, &["--attachment", "test-log"], &got)
        .arg("--key")
        .arg(&key.public)
        .run();
    assert!(std::fs::read(&got).expect("got") == artifact(&format!("{AWS}.test.log")));

    std::fs::remove_file(&got).expect("rm");
    let refused = |layout: &Path, public: &Path, what: &str| {
        let json = ["--role", "kernel", "--message-format", "json"];
        let found = get(&ran, layout, AWS, &json, &got)
            .arg("--key")
            .arg(public)
            .status(1)
            .run()
            .json_error();
        assert_eq!(found["code"], "glc::get::signature", "{what}");
        assert!(!got.exists(), "{what}: wrote {}", got.display());
        found["message"].as_str().expect("message").to_owned()
    };
    let text = refused(&out, &other_key.public, "another key");
    assert!(text.contains("signed, but by another key"), "{text}");

    // The signature annotation altered, nothing else fixed.
    let (altered, _, manifest, path) = copy_signed(&ran, &out, "altered");
    let (signature, flipped) = signature_and_flipped(&manifest);
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(&path, text.replace(&signature, &flipped)).expect("tamper");
    let text = refused(&altered, &key.public, "an altered signature");
    assert!(
        text.contains("its signature manifest: blob sha256:"),
        "{text}"
    );

    // The payload altered, nothing else fixed.
    let (altered, _, manifest, _) = copy_signed(&ran, &out, "payload");
    let payload = hex_of(&manifest["layers"][0]);
    let path = altered.join("blobs/sha256").join(payload);
    let text = std::fs::read_to_string(&path).expect("payload");
    std::fs::write(
        &path,
        text.replace("gardenlinux/gardenlinux", "gardenlinux/gardenlinuX"),
    )
    .expect("tamper");
    let text = refused(&altered, &key.public, "an altered payload");
    assert!(text.contains("its payload"), "{text}");

    // A release tag pointing at an index the key never signed (the tag itself is not signed).
    let forged = ran.path("forged");
    copy_dir(&out, &forged);
    let layout = Layout::open(&forged);
    let release = layout.tag("1877.3");
    let mut index = layout.json(&release);
    index["annotations"]["org.opencontainers.image.title"] = "forged".into();
    let bytes = serde_json::to_vec(&index).expect("JSON");
    let hex = add_blob(&forged, &bytes);
    rewrite_index(&forged, |top| {
        for entry in top["manifests"].as_array_mut().expect("manifests") {
            if entry["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|t| t.starts_with("1877"))
            {
                entry["digest"] = format!("sha256:{hex}").into();
                entry["size"] = bytes.len().into();
            }
        }
    });
    let text = refused(&forged, &key.public, "a forged release tag");
    assert_eq!(
        text,
        format!("the release index sha256:{hex} is not signed: no tag sha256-{hex}.sig")
    );

    // An unsigned layout.
    let unsigned = build_into(&ran, "unsigned");
    let text = refused(&unsigned, &key.public, "unsigned");
    assert!(text.contains("is not signed: no tag sha256-"), "{text}");
}

#[test]
fn a_layer_that_is_a_link_or_a_fifo_is_refused_without_waiting_and_names_are_escaped() {
    let (ran, out) = built();
    let manifest = release_manifest(&ran.layout("out"));
    let kernel = hex_of(&manifest["images"][0]["layers"][0]);
    let blob = out.join("blobs/sha256").join(&kernel);
    let copy = ran.path("kernel-copy");
    std::fs::rename(&blob, &copy).expect("move");
    std::os::unix::fs::symlink(&copy, &blob).expect("symlink");
    let got = ran.path("got");
    let json = ["--role", "kernel", "--message-format", "json"];
    let found = get(&ran, &out, AWS, &json, &got)
        .status(1)
        .run()
        .json_error();
    assert_eq!(
        found["message"],
        format!(
            "blob sha256:{kernel} is a symbolic link; a layout's files must be regular files inside it"
        )
    );
    mkfifo(&blob);
    let found = get(&ran, &out, AWS, &json, &got)
        .bounded()
        .status(1)
        .run()
        .json_error();
    assert_eq!(
        found["message"],
        format!("blob sha256:{kernel} is a fifo; a layout's files must be regular files inside it")
    );
    assert!(!got.exists());
    // What comes from the command line or the layout is printed with control characters escaped.
    get(&ran, &out, "gcp", &["--file", "x\u{1b}]0;owned\u{7}"], &got)
        .status(1)
        .stderr_contains("has no file titled `x\\u{1b}]0;owned\\u{7}`")
        .run();
}

#[test]
fn with_a_key_a_signature_or_manifest_tampered_in_the_registry_writes_nothing() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let (ran, out, key) = signed_build();
    let push = |layout: &Path, repository: &str| {
        crate::push::push_json(layout, &format!("{}/{repository}", registry.host()), &[]);
        format!("{}/{repository}:1877.3", registry.host())
    };
    let got = ran.path("got");
    let get_kernel = |source: &str| {
        get(
            &ran,
            source,
            AWS,
            &["--role", "kernel", "--message-format", "json"],
            &got,
        )
        .arg("--key")
        .arg(&key.public)
    };
    let source = push(&out, "signed");
    get_kernel(&source).run();
    assert!(std::fs::read(&got).expect("got") == artifact(&format!("{AWS}.vmlinuz")));
    std::fs::remove_file(&got).expect("rm");

    // A signature manifest whose signature was altered, pushed as it is (a whole graph: the
    // altered manifest under its own digest, the signature tag moved to it).
    let (altered, layout, manifest, _) = copy_signed(&ran, &out, "altered");
    let (_, flipped) = signature_and_flipped(&manifest);
    let mut forged = manifest.clone();
    forged["layers"][0]["annotations"][SIGNATURE] = flipped.into();
    let bytes = serde_json::to_vec(&forged).expect("JSON");
    let hex = add_blob(&altered, &bytes);
    let image = layout.tag(AWS)["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let sig_tag = format!("sha256-{}.sig", &image[7..]);
    rewrite_index(&altered, |top| {
        for entry in top["manifests"].as_array_mut().expect("manifests") {
            if entry["annotations"]["org.opencontainers.image.ref.name"] == sig_tag.as_str() {
                entry["digest"] = format!("sha256:{hex}").into();
                entry["size"] = bytes.len().into();
            }
        }
    });
    let found = get_kernel(&push(&altered, "altered"))
        .status(1)
        .run()
        .json_error();
    assert_eq!(found["code"], "glc::get::signature");
    assert!(!got.exists(), "wrote {}", got.display());

    // Bytes changed where the registry keeps them: the image's signature manifest, then the
    // image manifest itself. The registry sends them under their old digests.
    let stored = |digest: &str| {
        let hex = &digest[7..];
        registry
            .storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    };
    let signature_digest = layout.tag(&sig_tag)["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    for (what, digest) in [("signature", signature_digest), ("manifest", image)] {
        let path = stored(&digest);
        let text = std::fs::read_to_string(&path).expect("stored");
        // Still JSON, with other bytes.
        let changed = text.replacen("\"size\":", "\"size\": ", 1);
        assert_ne!(changed, text);
        std::fs::write(&path, changed).expect("tamper");
        let found = get_kernel(&source).status(1).run().json_error();
        assert!(
            found["message"]
                .as_str()
                .is_some_and(|m| m.contains("digest")),
            "{what}: {found}"
        );
        assert!(!got.exists(), "{what}: wrote {}", got.display());
        std::fs::write(&path, text).expect("restore");
    }
    get_kernel(&source).run();
}

#[test]
fn an_output_that_is_a_fifo_a_device_or_a_link_is_written_through_never_replaced() {
    let (ran, out) = built();
    let kernel = artifact(&format!("{AWS}.vmlinuz"));
    // A fifo: a reader gets the bytes, and it stays a fifo.
    let fifo = ran.path("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read fifo"))
    };
    get(&ran, &out, AWS, &["--role", "kernel"], &fifo)
        .bounded()
        .run();
    // Checked first: a fifo replaced by a file would leave the reader waiting for ever.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .expect("fifo")
            .file_type()
            .is_fifo()
    );
    assert!(reader.join().expect("reader") == kernel);
    // A link to a character device (as `/dev/stdout` is): written into, the link kept.
    let null = ran.path("null");
    std::os::unix::fs::symlink("/dev/null", &null).expect("symlink");
    get(&ran, &out, AWS, &["--role", "kernel"], &null).run();
    assert!(std::fs::symlink_metadata(&null).expect("link").is_symlink());
    assert!(
        std::fs::metadata("/dev/null")
            .expect("null")
            .file_type()
            .is_char_device()
    );
    // A link to a file: the file gets the bytes, the link stays a link.
    let file = ran.path("kernel-file");
    std::fs::write(&file, b"old").expect("file");
    let link = ran.path("kernel-link");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    get(&ran, &out, AWS, &["--role", "kernel"], &link).run();
    assert!(std::fs::symlink_metadata(&link).expect("link").is_symlink());
    assert!(std::fs::read(&file).expect("file") == kernel);
    // A directory is refused, untouched.
    get(&ran, &out, AWS, &["--role", "kernel"], ran.path("out"))
        .status(1)
        .stderr_contains("is a directory")
        .run();
}
