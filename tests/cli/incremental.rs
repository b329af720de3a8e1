//! Rebuilds: a no-op rebuild writes nothing, a changed input is the only one read again,
//! `--link` and the thread count change nothing in the layout's bytes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::build::{Layout, snapshot};
use crate::{Test, repo};

fn build(release: &Path, out: &Path, extra: &[&str]) -> String {
    let output = Test::new()
        .arg("build")
        .arg(release)
        .arg("-o")
        .arg(out)
        .args(extra)
        .run();
    output.stderr()
}

#[test]
fn a_rebuild_with_nothing_changed_writes_nothing() {
    let dir = Test::new();
    let out = dir.path("out");
    let release = repo().join("release.kdl");
    build(&release, &out, &[]);
    let inode = std::fs::metadata(&out).expect("out").ino();
    let index_mtime = std::fs::metadata(out.join("index.json"))
        .expect("index")
        .modified()
        .expect("mtime");
    let before = snapshot(&out);
    let summary = build(&release, &out, &[]);
    assert!(
        summary.contains(
            ": up to date (8 cloud images, 16 attachments, 8 containers; 123 blobs, 234 KiB)"
        ),
        "{summary}"
    );
    assert_eq!(
        std::fs::metadata(&out).expect("out").ino(),
        inode,
        "the layout was not replaced"
    );
    assert_eq!(
        std::fs::metadata(out.join("index.json"))
            .expect("index")
            .modified()
            .expect("mtime"),
        index_mtime
    );
    assert!(snapshot(&out) == before);
    let staging: Vec<_> = std::fs::read_dir(dir.dir())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("glc-tmp"))
        .collect();
    assert!(staging.is_empty());

    // Without the cache the layout is written again, to the same bytes.
    let summary = build(&release, &out, &["--no-cache"]);
    assert!(!summary.contains("up to date"), "{summary}");
    assert!(summary.contains("input files: 65 copied"), "{summary}");
    assert!(snapshot(&out) == before);
}

#[test]
fn a_changed_input_is_read_again_and_the_rest_reused() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let out = dir.path("out");
    build(&release, &out, &[]);
    let previous = snapshot(&out);
    let kernel = dir.path("release/artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.vmlinuz");
    let mut bytes = std::fs::read(&kernel).expect("read");
    bytes[7] ^= 1;
    std::fs::write(&kernel, &bytes).expect("write");
    let summary = build(&release, &out, &[]);
    assert!(
        summary.contains("input files: 1 copied, 54 reused from the previous layout, 10 identical to another input"),
        "{summary}"
    );
    // The same bytes as a build from scratch.
    let fresh = dir.path("fresh");
    build(&release, &fresh, &["--no-cache"]);
    let (out_files, fresh_files) = (snapshot(&out), snapshot(&fresh));
    for (name, bytes) in &fresh_files {
        assert!(
            out_files.get(name) == Some(bytes),
            "an incremental build differs from a fresh one in {name}"
        );
    }
    // Beyond that, only blobs of the layout it replaced, kept for readers of that one, and
    // the file that names them.
    for name in out_files.keys().filter(|n| !fresh_files.contains_key(*n)) {
        assert!(
            name == "glc-kept-blobs"
                || (name.starts_with("blobs/sha256/") && previous.contains_key(name)),
            "{name} is neither in a fresh build nor in the previous layout"
        );
    }
    let layout = Layout::open(&out);
    let image = layout.json(&layout.tag("aws-gardener_prod-amd64-1877.3-75df9f40"));
    assert_eq!(
        layout.blob(image["layers"][0]["digest"].as_str().expect("digest")),
        bytes
    );
}

#[test]
fn link_and_thread_count_do_not_change_the_layout() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let copied = dir.path("copied");
    build(&release, &copied, &[]);
    let linked = dir.path("linked");
    let summary = build(&release, &linked, &["--link"]);
    assert!(
        summary.contains(" hard-linked") || summary.contains(" reflinked"),
        "{summary}"
    );
    assert!(!summary.contains(" copied"), "{summary}");
    assert!(snapshot(&copied) == snapshot(&linked));

    let one_thread = dir.path("one-thread");
    Test::new()
        .env("RAYON_NUM_THREADS", "1")
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&one_thread)
        .run();
    assert!(snapshot(&copied) == snapshot(&one_thread));
}

#[test]
fn inputs_linked_by_one_build_never_become_blobs_of_a_copying_one() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let out = dir.path("out");
    build(&release, &out, &["--link"]);
    // A copying rebuild over the linked layout, one input changed to force a rebuild.
    std::fs::write(dir.path("release/artifacts/CHANGELOG.md"), "# changed\n").expect("write");
    let summary = build(&release, &out, &[]);
    assert!(
        !summary.contains("reused"),
        "blobs hard-linked to inputs must not be reused: {summary}"
    );
    // Rewriting an input in place now leaves the copied layout intact.
    let manifest = dir.path("release/artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.manifest");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&manifest)
        .expect("open");
    std::io::Write::write_all(&mut file, b"X").expect("write");
    drop(file);
    Test::new().arg("verify").arg(&out).run();
}

#[test]
fn a_damaged_cache_never_names_a_blob() {
    let dir = Test::new().top_level();
    let release = dir.path("release/release.kdl");
    let out = dir.path("out");
    build(&release, &out, &[]);
    let cache_path = dir.path(".out.glc-cache.json");
    let mut cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache_path).expect("cache")).expect("json");
    for entry in cache["entries"]
        .as_object_mut()
        .expect("entries")
        .values_mut()
    {
        entry["digest"] = serde_json::Value::from("sha256:../../../escaped");
    }
    std::fs::write(&cache_path, serde_json::to_vec(&cache).expect("json")).expect("write");
    std::fs::remove_dir_all(&out).expect("rm");
    build(&release, &out, &["--link"]);
    assert!(!dir.path("escaped").exists());
    Test::new().arg("verify").arg(&out).run();
}

#[test]
fn no_cache_rebuilds_a_damaged_layout_from_its_inputs() {
    let dir = Test::new();
    let out = dir.path("out");
    let release = repo().join("release.kdl");
    build(&release, &out, &[]);
    let layout = Layout::open(&out);
    let image = layout.json(&layout.tag("aws-gardener_prod-amd64-1877.3-75df9f40"));
    let blob = out.join("blobs/sha256").join(
        image["layers"][3]["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:"),
    );
    let mut bytes = std::fs::read(&blob).expect("read");
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).expect("write");
    build(&release, &out, &["--no-cache"]);
    Test::new().arg("verify").arg(&out).run();
}
