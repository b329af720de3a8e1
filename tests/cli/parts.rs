//! A release built on many machines and assembled in the registry: parts pushed with
//! `glc push PART REGISTRY/REPO:NAME` (at once, through faults), merged where they are with
//! `glc merge --push`, against Debian's docker-registry on 127.0.0.1. The registry then holds
//! what `glc build` and `glc push` of the whole release give, tag for tag and byte for byte,
//! while the merge reads only records and documents.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::push::{Faulty, Mode, content_length, summary};
use crate::registry::Registry;
use crate::test::{copy_dir, copy_release};
use crate::{Ran, Test};

const ACCEPT: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
const KEY: &str = "tests/fixtures/signing/test-only-cosign.key";

/// The top-level release in three parts: every cloud image and container in one of them.
const PARTS: [(&str, &[&str], &[&str]); 3] = [
    ("part-aws-gcp", &["aws-*", "gcp-*"], &["aws", "gcp"]),
    (
        "part-azure-openstack",
        &["{azure,openstack}-*", "bare"],
        &["azure", "openstack"],
    ),
    (
        "part-rest",
        &["baremetal*", "base", "*-build", "debian-snapshot"],
        &["baremetal"],
    ),
];

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

pub fn glc(dir: &Path, args: &[&str]) -> Test {
    Test::new()
        .current_dir(dir)
        .args(args)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
        .env("COSIGN_PASSWORD", "glc-test-password")
}

pub fn json_run(dir: &Path, args: &[&str], code: i32) -> Ran {
    glc(dir, &[&["--message-format", "json"][..], args].concat())
        .status(code)
        .run()
}

/// A job's directory: the release file, the changelog, every container source and the files
/// of its own platforms' images, nothing else.
fn job_dir(root: &Path, name: &str, platforms: &[&str]) -> PathBuf {
    let all = root.join("all");
    if !all.exists() {
        copy_release(&all);
    }
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("artifacts")).expect("mkdir");
    std::fs::copy(all.join("release.kdl"), dir.join("release.kdl")).expect("copy");
    for entry in std::fs::read_dir(all.join("artifacts")).expect("list") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let platform = ["aws", "gcp", "azure", "openstack", "baremetal"]
            .into_iter()
            .find(|p| file.starts_with(&format!("{p}-")) || file.starts_with(&format!("{p}_")));
        if platform.is_some_and(|p| !platforms.contains(&p)) {
            continue;
        }
        let to = dir.join("artifacts").join(&file);
        if path.is_dir() {
            copy_dir(&path, &to);
        } else {
            std::fs::copy(&path, &to).expect("copy");
        }
    }
    dir
}

/// The full release built from every input and signed, pushed to `repository`; and the three
/// parts built each in a directory of its own inputs.
fn release_and_parts(root: &Path, registry: &Registry, repository: &str) -> Vec<PathBuf> {
    let all = root.join("all");
    copy_release(&all);
    let key = crate::repo().join(KEY);
    let key = key.to_string_lossy();
    glc(
        &all,
        &[
            "build",
            "release.kdl",
            "-o",
            "full",
            "-q",
            "--sign-key",
            &key,
        ],
    )
    .run();
    let destination = format!("{}/{repository}", registry.host());
    json_run(&all, &["push", "full", &destination], 0);
    PARTS
        .iter()
        .map(|(name, only, platforms)| {
            let dir = job_dir(root, name, platforms);
            let mut args = vec!["build", "release.kdl", "-o", "part", "-q"];
            for pattern in *only {
                args.extend(["--only", pattern]);
            }
            glc(&dir, &args).run();
            dir.join("part")
        })
        .collect()
}

/// Pushes the parts at once (one process each) to `host/repository:NAME`; their summaries.
fn push_parts_at_once(parts: &[PathBuf], host: &str, repository: &str) -> Vec<Value> {
    let children: Vec<_> = parts
        .iter()
        .zip(PARTS)
        .map(|(part, (name, _, _))| {
            glc(
                part.parent().expect("job"),
                &[
                    "--message-format",
                    "json",
                    "push",
                    "part",
                    &format!("{host}/{repository}:{name}"),
                    "--retries",
                    "10",
                    "--chunk-size",
                    "4096",
                ],
            )
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn glc push")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("wait");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "a part's push failed: {stderr}");
            summary(&stderr)
        })
        .collect()
}

fn part_refs(host: &str, repository: &str, order: &[usize]) -> Vec<String> {
    order
        .iter()
        .map(|i| format!("{host}/{repository}:{}", PARTS[*i].0))
        .collect()
}

/// `glc merge --push` run in an empty directory: its JSON summary.
/// The arguments of `glc merge --push HOST/DESTINATION PARTS…`, signed with the test key as
/// the full build is (a `--partial` merge never is), `extra` before the parts.
fn merge_args(host: &str, destination: &str, parts: &[String], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "merge".into(),
        "--push".into(),
        format!("{host}/{destination}"),
    ];
    if !extra.contains(&"--partial") {
        let key = crate::repo().join(KEY);
        args.extend(["--sign-key".into(), key.to_string_lossy().into_owned()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(parts.iter().cloned());
    args
}

/// `glc` run in `dir` with `args`, spawned, its stderr to `stderr` (stdin and stdout closed).
fn spawn_glc(dir: &Path, args: &[String], stderr: Stdio) -> std::process::Child {
    glc(dir, &[])
        .args(args)
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn glc")
}

fn merge(host: &str, destination: &str, parts: &[String], extra: &[&str], code: i32) -> Ran {
    let empty = Test::new();
    let args = merge_args(host, destination, parts, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = json_run(empty.dir(), &args, code);
    assert_eq!(
        std::fs::read_dir(empty.dir()).expect("list").count(),
        0,
        "the merge wrote into its directory"
    );
    ran
}

/// `GET` of a registry path: status and body.
pub fn get(registry: &Registry, path: &str) -> (u16, Vec<u8>) {
    match ureq2::get(&registry.url(path)).set("Accept", ACCEPT).call() {
        Ok(response) => {
            let status = response.status();
            let mut body = Vec::new();
            response.into_reader().read_to_end(&mut body).expect("body");
            (status, body)
        }
        Err(ureq2::Error::Status(status, _)) => (status, Vec::new()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Every tag of `repository` → the bytes it names; and every document below them (by digest),
/// with every other blob's digest checked to be in the repository (`HEAD`).
pub fn state(registry: &Registry, repository: &str) -> BTreeMap<String, Vec<u8>> {
    let (status, body) = get(registry, &format!("/v2/{repository}/tags/list"));
    assert_eq!(status, 200, "{repository} has no tags");
    let list: Value = serde_json::from_slice(&body).expect("json");
    let mut found = BTreeMap::new();
    let mut queue: Vec<String> = Vec::new();
    for tag in list["tags"].as_array().expect("tags") {
        let tag = tag.as_str().expect("tag");
        if tag.starts_with("part-") {
            continue;
        }
        let (status, bytes) = get(registry, &format!("/v2/{repository}/manifests/{tag}"));
        assert_eq!(status, 200, "{repository}:{tag}");
        queue.push(sha256(&bytes));
        found.insert(format!("tag {tag}"), bytes);
    }
    while let Some(digest) = queue.pop() {
        if found.contains_key(&digest) {
            continue;
        }
        let (status, bytes) = get(registry, &format!("/v2/{repository}/manifests/{digest}"));
        assert_eq!(status, 200, "{repository}@{digest}");
        let document: Value = serde_json::from_slice(&bytes).expect("json");
        let children = document["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(document.get("config"))
            .chain(document["layers"].as_array().into_iter().flatten())
            .chain(document.get("subject"));
        for child in children {
            let child_digest = child["digest"].as_str().expect("digest").to_owned();
            let media_type = child["mediaType"].as_str().unwrap_or_default();
            if media_type.ends_with("manifest.v1+json") || media_type.ends_with("index.v1+json") {
                queue.push(child_digest);
            } else {
                let head =
                    ureq2::head(&registry.url(&format!("/v2/{repository}/blobs/{child_digest}")))
                        .call()
                        .map(|r| r.status());
                assert!(
                    matches!(head, Ok(200)),
                    "{repository}: blob {child_digest}: {head:?}"
                );
                found.insert(child_digest, Vec::new());
            }
        }
        found.insert(digest, bytes);
    }
    found
}

fn assert_same_state(registry: &Registry, expected: &str, actual: &str) {
    let (want, got) = (state(registry, expected), state(registry, actual));
    assert!(
        want.len() > 100,
        "only {} tags, documents and blobs",
        want.len()
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{actual} holds other tags, documents or blobs than {expected}"
    );
    for (key, bytes) in &want {
        assert!(
            bytes == &got[key],
            "{key} differs between {expected} and {actual}"
        );
    }
}

/// A proxy that relays one request a connection and counts the bytes of the bodies it sends
/// back, noting
/// every request line; with `refuse_mounts`, a mount request loses its `mount=` and `from=`, so
/// the registry opens a plain upload instead (as one that refuses mounts does).
pub struct Counting {
    port: u16,
    bytes: Arc<Mutex<u64>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Counting {
    pub fn start(upstream: u16, refuse_mounts: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let bytes = Arc::new(Mutex::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = (bytes.clone(), requests.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (bytes, requests) = shared.clone();
                std::thread::spawn(move || {
                    relay(client, upstream, refuse_mounts, &bytes, &requests);
                });
            }
        });
        Self {
            port,
            bytes,
            requests,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn bytes(&self) -> u64 {
        *self.bytes.lock().expect("lock")
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

fn relay(
    mut client: TcpStream,
    upstream: u16,
    refuse_mounts: bool,
    bytes: &Mutex<u64>,
    requests: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length = usize::try_from(content_length(&text)).expect("a body this test can hold");
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let mut request = lines.next().unwrap_or_default().to_owned();
    if refuse_mounts && request.starts_with("POST ") && request.contains("?mount=") {
        let (before, after) = request.split_once('?').expect("query");
        let version = after.rsplit_once(' ').map_or("HTTP/1.1", |(_, v)| v);
        request = format!("{before} {version}");
    }
    let line = request.clone();
    let mut forwarded = format!("{request}\r\n");
    for line in lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let mut body = vec![0; length];
    if client.read_exact(&mut body).is_err()
        || server.write_all(forwarded.as_bytes()).is_err()
        || server.write_all(&body).is_err()
    {
        return;
    }
    let mut answer = Vec::new();
    let _ = server.read_to_end(&mut answer);
    // The bodies only: what was downloaded, not how the registry answered.
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |head| answer.len() - head - 4);
    *bytes.lock().expect("lock") += body as u64;
    requests
        .lock()
        .expect("lock")
        .push(format!("{line} → {body} bytes"));
    let _ = client.write_all(&answer);
    let _ = client.shutdown(Shutdown::Both);
}

#[test]
fn parts_pushed_at_once_through_faults_and_merged_in_the_registry_are_the_full_push() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let root = Test::new();
    let parts = release_and_parts(root.dir(), &registry, "full");
    let faulty = Faulty::start(registry.port, Mode::Faults);
    let pushed = push_parts_at_once(&parts, &format!("127.0.0.1:{}", faulty.port), "gardenlinux");
    faulty.assert_every_fault_injected();
    for summary in &pushed {
        assert_eq!(
            summary["release_tags_moved"],
            serde_json::json!([]),
            "{summary}"
        );
    }
    // No release tag yet: a part moves none.
    assert_eq!(get(&registry, "/v2/gardenlinux/manifests/1877.3").0, 404);
    let counting = Counting::start(registry.port, false);
    let ran = merge(
        &counting.host(),
        "gardenlinux",
        &part_refs(&counting.host(), "gardenlinux", &[2, 0, 1]),
        &[],
        0,
    );
    let merged = summary(&ran.stderr());
    assert_same_state(&registry, "full", "gardenlinux");
    assert_eq!(
        merged["release_tags_moved"],
        serde_json::json!(["1877", "1877.3"]),
        "{merged}"
    );
    // Read: the parts' manifests and records, the containers' documents; never a layer.
    let downloaded = counting.bytes();
    let read = merged["bytes_read"].as_u64().expect("bytes_read");
    let blob_reads: Vec<String> = counting
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .collect();
    assert_eq!(
        blob_reads.len(),
        3,
        "only the three records: {blob_reads:?}"
    );
    assert!(
        read < 64 << 10 && downloaded < 96 << 10,
        "read {read}, downloaded {downloaded}: {:#?}",
        counting.requests()
    );
    eprintln!(
        "merge in the registry: {read} bytes of records and documents, {downloaded} bytes of answers' bodies downloaded, {} ms",
        merged["duration_ms"]
    );
    // Run again: the same state, nothing moved.
    let again = summary(
        &merge(
            &registry.host(),
            "gardenlinux",
            &part_refs(&registry.host(), "gardenlinux", &[0, 1, 2]),
            &[],
            0,
        )
        .stderr(),
    );
    assert_eq!(again["tags_moved"], 0, "{again}");
    assert_same_state(&registry, "full", "gardenlinux");
}

#[test]
fn parts_merged_into_another_repository_are_mounted_or_copied_where_mounts_are_refused() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let root = Test::new();
    let parts = release_and_parts(root.dir(), &registry, "full");
    let host = registry.host();
    push_parts_at_once(&parts, &host, "parts/a");
    // One part in a repository of its own: parts of any repositories of the registry.
    let refs = {
        let mut refs = part_refs(&host, "parts/a", &[0, 1]);
        glc(
            parts[2].parent().expect("job"),
            &[
                "push",
                "part",
                &format!("{host}/parts/b:{}", PARTS[2].0),
                "-q",
            ],
        )
        .run();
        refs.push(format!("{host}/parts/b:{}", PARTS[2].0));
        refs
    };
    // Two merges at once into one repository: the same state as one.
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut args = vec!["--message-format".to_owned(), "json".to_owned()];
            args.extend(merge_args(&host, "promoted", &refs, &[]));
            spawn_glc(root.dir(), &args, Stdio::piped())
        })
        .collect();
    let summaries: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("wait");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{stderr}");
            summary(&stderr)
        })
        .collect();
    assert_same_state(&registry, "full", "promoted");
    // Every blob a push of the full build uploads into an empty repository is either one the
    // merge writes itself (documents' small blobs, signatures) or one of a part's, mounted.
    let fresh = summary(
        &json_run(
            root.dir(),
            &["push", "all/full", &format!("{host}/fresh")],
            0,
        )
        .stderr(),
    );
    let all_blobs = fresh["blobs_uploaded"].as_u64().expect("uploaded");
    let once = summary(&merge(&host, "mounted", &refs, &[], 0).stderr());
    assert_same_state(&registry, "full", "mounted");
    let mounted = once["blobs_mounted"].as_u64().expect("mounted");
    assert!(mounted > 70, "{once}");
    assert_eq!(
        once["blobs_uploaded"].as_u64().expect("uploaded") + mounted,
        all_blobs,
        "{once}"
    );
    assert_eq!(once["blobs_copied"], 0, "{once}");
    // Two at once: each blob mounted by one or both.
    let both: u64 = summaries
        .iter()
        .map(|s| s["blobs_mounted"].as_u64().expect("mounted"))
        .sum();
    assert!(both >= mounted, "{summaries:?}");
    // A registry that refuses mounts: the same blobs, copied from the parts' repositories.
    let refusing = Counting::start(registry.port, true);
    let refs: Vec<String> = refs
        .iter()
        .map(|r| r.replace(&host, &refusing.host()))
        .collect();
    let copied = summary(&merge(&refusing.host(), "copied", &refs, &[], 0).stderr());
    assert_same_state(&registry, "full", "copied");
    assert_eq!(copied["blobs_mounted"], 0, "{copied}");
    assert_eq!(copied["blobs_copied"].as_u64(), Some(mounted), "{copied}");
    let text = merge(
        &registry.host(),
        "copied",
        &part_refs(&host, "parts/a", &[0, 1]),
        &["--partial"],
        2,
    )
    .stderr();
    assert!(text.contains("REGISTRY/REPO:NAME"), "{text}");
}

#[test]
fn a_merge_missing_a_part_fails_writing_nothing_and_a_part_is_consumable_at_once() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let root = Test::new();
    let parts = release_and_parts(root.dir(), &registry, "full");
    let host = registry.host();
    push_parts_at_once(&parts, &host, "gardenlinux");
    let ran = merge(
        &host,
        "gardenlinux",
        &part_refs(&host, "gardenlinux", &[0, 2]),
        &[],
        1,
    );
    let error = first_error(&ran.stderr());
    assert_eq!(error["code"], "glc::merge::incomplete", "{error}");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.starts_with("the parts hold 4 of 8 cloud images and")
            && message.contains("missing cloud images: `azure-"),
        "{message}"
    );
    for tag in ["1877.3", "1877"] {
        assert_eq!(
            get(&registry, &format!("/v2/gardenlinux/manifests/{tag}")).0,
            404,
            "{tag}"
        );
    }
    // A flavor is there as soon as its part is: `glc get` from the part's tag.
    let cname = "aws-gardener_prod-amd64-1877.3-75df9f40";
    let out = root.path("kernel");
    glc(
        root.dir(),
        &[
            "get",
            &format!("{host}/gardenlinux:{}", PARTS[0].0),
            cname,
            "--role",
            "kernel",
            "-o",
        ],
    )
    .arg(&out)
    .run();
    assert_eq!(
        std::fs::read(&out).expect("kernel"),
        std::fs::read(root.path(format!("all/artifacts/{cname}.vmlinuz"))).expect("artifact")
    );
    // A part is pushed under a tag of its own, a release never.
    let part = &parts[0];
    let text = glc(root.dir(), &["push"])
        .arg(part)
        .arg(format!("{host}/gardenlinux"))
        .status(1)
        .run()
        .stderr();
    assert!(text.contains("the layout is a part"), "{text}");
    let text = glc(
        root.dir(),
        &["push", "all/full", &format!("{host}/gardenlinux:x")],
    )
    .status(1)
    .run()
    .stderr();
    assert!(text.contains("is no part"), "{text}");
    // A whole release is no part to merge.
    let text = merge(
        &host,
        "gardenlinux",
        &[format!("{host}/full:1877.3")],
        &[],
        1,
    )
    .stderr();
    assert!(
        text.contains("this is a whole release, not a part"),
        "{text}"
    );
}

/// The first error of a run's JSON lines.
pub fn first_error(text: &str) -> Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["severity"] == "error")
        .unwrap_or_else(|| panic!("no error in:\n{text}"))
}

/// A release of one image, at `version`, tagged with the version, the major version and
/// `latest`, built in `dir/<version>`.
pub fn small_release(dir: &Path, version: &str) -> PathBuf {
    let text = format!(
        r#"release "{version}" {{
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{{{ version }}}}" "{{{{ version_major }}}}" "latest"
    cloud-images {{
        matrix {{
            arch "amd64"
            features "base"
        }}
        image "kvm-{{{{ arch }}}}-{{{{ version }}}}" {{
            kernel "k.vmlinuz"
            cmdline "c.cmdline"
            rootfs "r.tar"
        }}
    }}
}}
"#
    );
    std::fs::write(dir.join(format!("{version}.kdl")), text).expect("write");
    for (file, bytes) in [
        ("k.vmlinuz", "kernel"),
        ("c.cmdline", "ro"),
        ("r.tar", "rootfs"),
    ] {
        std::fs::write(dir.join(file), bytes).expect("write");
    }
    glc(
        dir,
        &["build", &format!("{version}.kdl"), "-o", version, "-q"],
    )
    .run();
    dir.join(version)
}

#[test]
fn latest_and_the_major_version_never_move_back_unless_allowed() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let destination = format!("{}/moving", registry.host());
    let push = |version: &str, extra: &[&str], code: i32| {
        let layout = small_release(dir.dir(), version);
        let layout = layout.to_string_lossy().into_owned();
        json_run(
            dir.dir(),
            &[&["push", &layout, &destination][..], extra].concat(),
            code,
        )
    };
    let tag = |name: &str| sha256(&get(&registry, &format!("/v2/moving/manifests/{name}")).1);
    let first = summary(&push("1877.3", &[], 0).stderr());
    assert_eq!(
        first["release_tags_moved"],
        serde_json::json!(["1877", "1877.3", "latest"])
    );
    let latest = tag("latest");
    let refused = push("1877.2", &[], 1).stderr();
    let error = first_error(&refused);
    assert_eq!(error["code"], "glc::push::older", "{error}");
    assert_eq!(
        error["message"],
        format!(
            "`{destination}:1877` points at release 1877.3; moving it to 1877.2, an older one, is refused; nothing was pushed"
        )
    );
    assert_eq!(tag("latest"), latest);
    assert_eq!(
        get(&registry, "/v2/moving/manifests/1877.2").0,
        404,
        "nothing was pushed"
    );
    let newer = summary(&push("1878.0", &[], 0).stderr());
    assert_eq!(
        newer["release_tags_moved"],
        serde_json::json!(["1878", "1878.0", "latest"])
    );
    let back = summary(&push("1877.2", &["--allow-older"], 0).stderr());
    assert_eq!(
        back["release_tags_moved"],
        serde_json::json!(["1877", "1877.2", "latest"])
    );
    assert_eq!(tag("latest"), tag("1877.2"));
}

#[test]
fn a_merge_killed_at_any_moment_is_finished_by_running_it_again() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    // A bound for a loaded machine, not a timing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(10);
    let root = Test::new();
    let parts = release_and_parts(root.dir(), &registry, "full");
    let host = registry.host();
    push_parts_at_once(&parts, &host, "parts");
    let refs = part_refs(&host, "parts", &[0, 1, 2]);
    let spawn = |repository: &str| {
        spawn_glc(
            root.dir(),
            &merge_args(&host, repository, &refs, &[]),
            Stdio::null(),
        )
    };
    // One whole merge: how long it takes here, to spread the kills over it.
    let started = std::time::Instant::now();
    let mut whole = spawn("whole");
    assert_eq!(
        crate::push::wait_until(&mut whole, deadline).code(),
        Some(0)
    );
    let duration = started.elapsed();
    for kill in 1..=4u32 {
        let repository = format!("killed-{kill}");
        let status = crate::push::kill_after(
            spawn(&repository),
            duration.mul_f64(f64::from(kill) / 5.0),
            deadline,
        );
        // Whenever it stopped, a release tag there is a release whole.
        if status.code().is_none()
            && get(&registry, &format!("/v2/{repository}/manifests/1877.3")).0 == 200
        {
            state(&registry, &repository);
        }
        let mut rerun = spawn(&repository);
        assert_eq!(
            crate::push::wait_until(&mut rerun, deadline).code(),
            Some(0),
            "the rerun after kill {kill}"
        );
        assert_same_state(&registry, "full", &repository);
    }
}

#[test]
fn parts_of_different_releases_are_refused_as_a_merge_of_layouts_refuses_them() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let host = registry.host();
    let mut refs = Vec::new();
    for version in ["1877.3", "1878.0"] {
        small_release(dir.dir(), version);
        glc(
            dir.dir(),
            &[
                "build",
                &format!("{version}.kdl"),
                "-o",
                &format!("part-{version}"),
                "-q",
                "--only",
                "kvm-*",
            ],
        )
        .run();
        let reference = format!("{host}/parts:{version}");
        glc(
            dir.dir(),
            &["push", "-q", &format!("part-{version}"), &reference],
        )
        .run();
        refs.push(reference);
    }
    let ran = merge(&host, "release", &refs, &[], 1);
    let error = first_error(&ran.stderr());
    assert_eq!(error["code"], "glc::merge::conflict", "{error}");
    assert_eq!(
        error["message"],
        format!(
            "the parts disagree on the release's version: `1877.3` in `{}`, `1878.0` in `{}`",
            refs[0], refs[1]
        )
    );
    // The same message as for the layouts themselves, but for the parts' names.
    let layouts = json_run(
        dir.dir(),
        &["merge", "-o", "out", "part-1877.3", "part-1878.0"],
        1,
    );
    assert_eq!(
        first_error(&layouts.stderr())["message"],
        "the parts disagree on the release's version: `1877.3` in `part-1877.3`, `1878.0` in `part-1878.0`"
    );
    // Nothing written: the repository does not exist.
    assert_eq!(get(&registry, "/v2/release/tags/list").0, 404);
}
