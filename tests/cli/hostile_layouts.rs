//! OCI layouts made to hurt their reader: every command that reads one (`verify`, `inspect`,
//! a container source of `check` and `build`, a part of `merge`) ends in bounded time and
//! memory, with a clear error where the layout is wrong, and prints nothing raw from it.
//!
//! Each run is bounded by `timeout` and an address-space limit (`prlimit --as`): a hang or a
//! runaway allocation fails the test instead of the machine.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::Test;
use crate::test::{mkfifo, release_kdl};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// glc in the test's directory under the time and memory bound.
fn glc(dir: &Test, args: &[&str]) -> Test {
    dir.test().bounded().args(args)
}

/// `glc --message-format=json build release.kdl -o out -q` in `dir`.
fn build_json(dir: &Test) -> Test {
    glc(
        dir,
        &[
            "--message-format=json",
            "build",
            "release.kdl",
            "-o",
            "out",
            "-q",
        ],
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// A layout written by hand, blob by blob.
struct Made {
    root: PathBuf,
}

impl Made {
    fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root.join("blobs/sha256")).expect("mkdir");
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write");
        Self {
            root: root.to_path_buf(),
        }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Stores `bytes` and returns their descriptor as `media_type`.
    fn put(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = format!("sha256:{}", sha256(bytes));
        std::fs::write(self.blob_path(&digest), bytes).expect("write");
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    fn put_json(&self, media_type: &str, document: &Value) -> Value {
        self.put(media_type, &serde_json::to_vec(document).expect("json"))
    }

    /// An image manifest with an empty config and these layers.
    fn manifest(&self, layers: &[Value]) -> Value {
        let config = self.put("application/vnd.oci.empty.v1+json", b"{}");
        self.put_json(
            MANIFEST,
            &json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/x.test",
                    "config": config, "layers": layers}),
        )
    }

    fn index(&self, manifests: &[Value]) -> Value {
        self.put_json(
            INDEX,
            &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}),
        )
    }

    /// `index.json` listing `manifests`, the first tagged `tag`.
    fn top(&self, manifests: &[Value]) {
        let mut manifests = manifests.to_vec();
        if let Some(first) = manifests.first_mut() {
            first["annotations"] = json!({"org.opencontainers.image.ref.name": "tag"});
        }
        std::fs::write(
            self.root.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).expect("json"),
        )
        .expect("write");
    }
}

/// A release in `dir` whose one container is imported from `from`.
fn release_with_container(dir: &Path, from: &str) {
    std::fs::write(
        dir.join("release.kdl"),
        release_kdl(&format!(
            "    container-images {{\n        container \"c\" from=\"{from}\"\n    }}\n"
        )),
    )
    .expect("write");
}

fn symlink(target: impl AsRef<Path>, link: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

#[test]
fn verify_refuses_digests_it_cannot_check_and_blobs_that_are_not_there() {
    let dir = Test::new();
    let made = Made::new(&dir.path("l"));
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    let missing = format!("sha256:{}", "cd".repeat(32));
    let manifest = made.manifest(&[
        json!({"mediaType": LAYER, "digest": sha512, "size": 3}),
        json!({"mediaType": LAYER, "digest": missing, "size": 3}),
    ]);
    made.top(&[manifest]);
    let text = glc(&dir, &["verify", "l"]).status(1).stderr_contains(format!(
            "error: `{sha512}`: digest algorithm sha512 is not supported; glc reads sha256 digests only\n    at index.json[0] (tag) → layers[0]\n"
        )).run().stderr();
    assert!(
        text.contains(&format!("error: blob {missing} is missing\n")),
        "{text}"
    );
    assert!(text.ends_with("2 errors, 0 warnings\n"), "{text}");
}

#[test]
fn blobs_that_are_links_are_refused_wherever_they_point() {
    let dir = Test::new();
    // A secret outside the layout, and a layer that is a link to it, with its digest.
    let secret = b"root:x:0:0:root:/root:/bin/bash\n";
    std::fs::write(dir.path("passwd"), secret).expect("write");
    let made = Made::new(&dir.path("source"));
    let layer = made.put(LAYER, secret);
    let path = made.blob_path(layer["digest"].as_str().expect("digest"));
    symlink("../../../passwd", &path);
    let manifest = made.manifest(std::slice::from_ref(&layer));
    made.top(&[manifest]);
    release_with_container(dir.dir(), "source");

    build_json(&dir)
        .status(1)
        .stderr_contains(format!(
            "blob {} is a symbolic link; a layout's files must be regular files inside it",
            layer["digest"].as_str().expect("digest")
        ))
        .run();
    assert!(!dir.path("out").exists());

    glc(&dir, &["verify", "source"])
        .status(1)
        .stderr_contains("is a symbolic link")
        .run();

    // A link that stays inside the layout is no better: a layout holds regular files.
    symlink("../../oci-layout", &path);
    glc(&dir, &["verify", "source"])
        .status(1)
        .stderr_contains("is a symbolic link")
        .run();
}

/// Indexes `levels` deep, each listing the one below `width` times, over one manifest.
fn dag(made: &Made, width: usize, levels: usize) -> Value {
    let mut below = made.manifest(&[made.put(LAYER, b"layer")]);
    for _ in 0..levels {
        below = made.index(&vec![below; width]);
    }
    below
}

#[test]
fn a_source_that_is_a_dag_is_read_once_per_digest() {
    let dir = Test::new();
    let made = Made::new(&dir.path("source"));
    let top = dag(&made, 8, 8);
    made.top(&[top]);
    release_with_container(dir.dir(), "source");
    build_json(&dir).run();
    glc(&dir, &["verify", "out"]).run();
    let text = glc(&dir, &["verify", "source"]).run().stderr();
    assert!(
        text.ends_with(": 11 blobs, 10 KiB checked: 0 errors, 0 warnings\n"),
        "{text}"
    );

    // Inspect shows each document's subtree once and points back at it after.
    let made = Made::new(&dir.path("wide"));
    let top = dag(&made, 4, 16);
    made.top(&[top]);
    let tree = glc(&dir, &["inspect", "wide"]).run().stdout();
    // 17 documents and the layer, each shown once, and three references back per index.
    assert_eq!(tree.lines().count(), 18 + 16 * 3, "{tree}");
    assert_eq!(tree.matches("(shown above)").count(), 16 * 3, "{tree}");
}

#[test]
fn nesting_is_bounded_and_costs_memory_in_proportion_to_the_layout() {
    let dir = Test::new();
    let made = Made::new(&dir.path("source"));
    let mut top = made.manifest(&[made.put(LAYER, b"layer")]);
    for _ in 0..10_000 {
        top = made.index(&[top]);
    }
    made.top(&[top]);
    glc(&dir, &["verify", "source"])
        .status(1)
        .stderr_contains("error: indexes and manifests nest deeper than 64 levels\n")
        .run();
    let tree = glc(&dir, &["inspect", "source"]).status(1).run().stdout();
    assert!(
        tree.lines()
            .last()
            .is_some_and(|l| l.ends_with("!! indexes and manifests nest deeper than 64 levels")),
        "{tree}"
    );
    release_with_container(dir.dir(), "source");
    build_json(&dir)
        .status(1)
        .stderr_contains("indexes and manifests nest deeper than 64 levels")
        .run();
}

#[test]
fn fifos_in_a_layout_are_refused_without_waiting_for_a_writer() {
    let dir = Test::new();
    let made = Made::new(&dir.path("source"));
    let layer = made.put(LAYER, b"");
    let manifest = made.manifest(std::slice::from_ref(&layer));
    made.top(&[manifest]);
    mkfifo(&made.blob_path(layer["digest"].as_str().expect("digest")));
    release_with_container(dir.dir(), "source");

    build_json(&dir)
        .status(1)
        .stderr_contains("is a fifo; a layout's files must be regular files inside it")
        .run();
    glc(&dir, &["verify", "source"])
        .status(1)
        .stderr_contains("is a fifo")
        .run();

    mkfifo(&made.root.join("index.json"));
    for command in [&["verify", "source"][..], &["inspect", "source"]] {
        let text = glc(&dir, command).status(1).run().stderr();
        assert!(
            text.contains("index.json is a fifo; a layout's files must be regular files"),
            "{command:?}: {text}"
        );
    }
    glc(&dir, &["--message-format=json", "check", "release.kdl"])
        .status(1)
        .stderr_contains("index.json is a fifo")
        .run();
}

#[test]
fn a_fifo_in_a_part_or_in_the_previous_layout_is_refused() {
    let dir = Test::new();
    let made = Made::new(&dir.path("source"));
    let manifest = made.manifest(&[made.put(LAYER, b"layer")]);
    made.top(&[manifest]);
    std::fs::write(dir.path("rootfs.tar"), b"rootfs").expect("write");
    std::fs::write(
        dir.path("release.kdl"),
        release_kdl(
            "    cloud-images {\n        matrix {\n            arch \"amd64\" \"arm64\"\n        }\n        image \"x-{{ arch }}\" {\n            rootfs \"rootfs.tar\"\n        }\n    }\n    container-images {\n        container \"c\" from=\"source\"\n    }\n",
        ),
    )
    .expect("write");
    glc(
        &dir,
        &[
            "--message-format=json",
            "build",
            "release.kdl",
            "-o",
            "part",
            "-q",
            "--only",
            "x-amd64",
            "--only",
            "c",
        ],
    )
    .run();
    let part = dir.path("part");
    let index: Value =
        serde_json::from_slice(&std::fs::read(part.join("index.json")).expect("read"))
            .expect("json");
    let rootfs = format!("sha256:{}", sha256(b"rootfs"));
    let rootfs_path = part.join("blobs/sha256").join(sha256(b"rootfs"));

    let merge = dir
        .test()
        .bounded()
        .args([
            "--message-format=json",
            "merge",
            "part",
            "-o",
            "merged",
            "--partial",
            "-q",
        ])
        .status(1);
    // A blob of the part.
    mkfifo(&rootfs_path);
    merge
        .clone()
        .stderr_contains(format!("blob {rootfs} is a fifo"))
        .run();
    // Its index.json.
    std::fs::remove_file(&rootfs_path).expect("rm");
    std::fs::write(&rootfs_path, b"rootfs").expect("write");
    mkfifo(&part.join("index.json"));
    merge.stderr_contains("index.json is a fifo").run();
    std::fs::remove_file(part.join("index.json")).expect("rm");
    std::fs::write(
        part.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");

    // A blob of the layout a build replaces: taken afresh from the input, never linked.
    build_json(&dir).run();
    let previous = dir.path("out/blobs/sha256").join(sha256(b"rootfs"));
    mkfifo(&previous);
    std::fs::write(dir.path("rootfs.tar"), b"rootfs").expect("write");
    build_json(&dir).arg("--force").run();
    assert_eq!(
        std::fs::read(&previous).expect("a regular file again"),
        b"rootfs"
    );
    glc(&dir, &["verify", "out"]).run();
}

#[test]
fn documents_that_never_end_are_not_read_past_their_size() {
    let dir = Test::new();
    let made = Made::new(&dir.path("l"));
    let manifest = made.manifest(&[made.put(LAYER, b"layer")]);
    made.top(std::slice::from_ref(&manifest));
    let manifest_path = made.blob_path(manifest["digest"].as_str().expect("digest"));

    // index.json as a link to /dev/zero.
    let index = std::fs::read(made.root.join("index.json")).expect("read");
    symlink("/dev/zero", &made.root.join("index.json"));
    for command in [&["verify", "l"][..], &["inspect", "l"]] {
        let text = glc(&dir, command).status(1).run().stderr();
        assert!(
            text.contains("index.json is a symbolic link"),
            "{command:?}: {text}"
        );
    }
    std::fs::remove_file(made.root.join("index.json")).expect("rm");
    std::fs::write(made.root.join("index.json"), &index).expect("write");

    // A manifest as a link to /dev/zero.
    symlink("/dev/zero", &manifest_path);
    glc(&dir, &["verify", "l"])
        .status(1)
        .stderr_contains(format!(
            "error: blob {} is a symbolic link",
            manifest["digest"].as_str().expect("digest")
        ))
        .run();
    let tree = glc(&dir, &["inspect", "l"])
        .status(1)
        .stdout_contains("!! blob sha256:")
        .run()
        .stdout();
    assert!(tree.contains("is a symbolic link"), "{tree}");

    // An index.json far larger than any real one (a sparse file: it takes no room).
    std::fs::remove_file(&manifest_path).expect("rm");
    let file = std::fs::File::create(made.root.join("index.json")).expect("create");
    file.set_len(1 << 40).expect("sparse");
    for command in [&["verify", "l"][..], &["inspect", "l"]] {
        let text = glc(&dir, command).status(1).run().stderr();
        assert!(
            text.contains("index.json is larger than 4194304 bytes"),
            "{command:?}: {text}"
        );
    }
    // A manifest of declared size 0 whose file goes on: read no further than one byte.
    std::fs::write(made.root.join("index.json"), &index).expect("write");
    let mut zero = manifest.clone();
    zero["size"] = json!(0);
    made.top(&[zero]);
    let file = std::fs::File::create(&manifest_path).expect("create");
    file.set_len(1 << 40).expect("sparse");
    glc(&dir, &["verify", "l"])
        .status(1)
        .stderr_contains("not the 0 its descriptor says")
        .run();
    release_with_container(dir.dir(), "l");
    build_json(&dir)
        .status(1)
        .stderr_contains("not the 0 its descriptor says")
        .run();
}

#[test]
fn tar_header_extensions_are_bounded() {
    let dir = Test::new();
    // A GNU long-name entry of 2 GiB in an archive of a few blocks on disk (a sparse file).
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::GNULongName);
    header.as_gnu_mut().expect("gnu").name[..13].copy_from_slice(b"././@LongLink");
    header.set_size(2 << 30);
    header.set_mode(0o644);
    header.set_cksum();
    let path = dir.path("long.oci");
    std::fs::write(&path, header.as_bytes()).expect("write");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open")
        .set_len(512 + (2 << 30) + 16 * 1024)
        .expect("sparse");
    release_with_container(dir.dir(), "long.oci");
    glc(&dir, &["--message-format=json", "check", "release.kdl"])
        .status(1)
        .stderr_contains("a tar header extension of 2147483648 bytes (limit 65536)")
        .run();

    // A pax header as large.
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_cksum();
    std::fs::write(&path, header.as_bytes()).expect("write");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open")
        .set_len(512 + (2 << 30) + 16 * 1024)
        .expect("sparse");
    glc(&dir, &["--message-format=json", "check", "release.kdl"])
        .status(1)
        .stderr_contains("a tar header extension of 2147483648 bytes (limit 65536)")
        .run();
}

#[test]
fn digests_that_are_not_ascii_are_errors_and_never_sliced() {
    let dir = Test::new();
    let made = Made::new(&dir.path("l"));
    let bad = "sha256:a€€€€€";
    made.top(&[json!({"mediaType": MANIFEST, "digest": bad, "size": 3})]);
    // The tree shows the digest, and inspect fails, as verify does.
    glc(&dir, &["inspect", "l"]).status(1).stdout(format!(
            "[tag] manifest  {bad}  3 B  !! `{bad}` is not a valid sha256 digest (64 lowercase hex digits)\n"
        )).stderr_contains("l cannot be read whole: 1 problem (marked `!!` in the tree)").run();
    glc(&dir, &["inspect", "--json", "l"])
        .status(1)
        .stdout_contains(r#""problem": "`sha256:a€€€€€` is not a valid sha256 digest"#)
        .run();
    glc(&dir, &["verify", "l"]).status(1).stderr_contains(format!(
            "error: `{bad}` is not a valid sha256 digest (64 lowercase hex digits)\n    at index.json[0] (tag)\n"
        )).run();
}

#[test]
fn inspect_and_verify_print_control_characters_escaped() {
    let dir = Test::new();
    let made = Made::new(&dir.path("l"));
    let layer = made.put(LAYER, b"layer");
    let mut titled = layer.clone();
    titled["annotations"] =
        json!({"org.opencontainers.image.title": "\u{1b}]0;owned\u{7}\u{1b}[2J"});
    let manifest = made.manifest(&[titled]);
    let mut top = manifest.clone();
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "x"});
    // A tag no tool may use as a name: an invalid entry, its text escaped where it is named.
    let mut evil = manifest.clone();
    evil["annotations"] = json!({"org.opencontainers.image.ref.name": "x\u{1b}[31m\r\n"});
    std::fs::write(
        made.root.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top, {"mediaType": "\u{9b}1m", "digest": "sha256:\u{1b}", "size": 1}, evil]}))
            .expect("json"),
    )
    .expect("write");
    // The layer is missing, for verify to name its path.
    std::fs::remove_file(made.blob_path(layer["digest"].as_str().expect("digest"))).expect("rm");
    let tree = glc(&dir, &["inspect", "l"]).status(1).run().stdout();
    assert!(
        !tree.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
        "{tree:?}"
    );
    assert!(
        tree.starts_with("[x] manifest application/x.test  "),
        "{tree}"
    );
    assert!(
        tree.contains("the tag `x\\u{1b}[31m\\r\\n` is not a reference name"),
        "{tree}"
    );
    assert!(
        tree.contains(
            "── \\u{1b}]0;owned\\u{7}\\u{1b}[2J application/vnd.oci.image.layer.v1.tar  "
        ),
        "{tree}"
    );
    let text = glc(&dir, &["verify", "l"]).status(1).run().stderr();
    assert!(
        !text.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
        "{text:?}"
    );
    assert!(
        text.contains("at index.json[0] (x) → layers[0]\n"),
        "{text}"
    );
    assert!(
        text.contains("the tag `x\\u{1b}[31m\\r\\n` is not a reference name"),
        "{text}"
    );
}
