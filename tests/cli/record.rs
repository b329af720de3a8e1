//! The record of the last build (`.<out>.glc-record.json`), which lets a rebuild with nothing
//! changed finish without reading the release: every change to what a build reads, to the
//! options and environment that decide the layout, or to the target, is noticed, and the
//! layout is then the one a fresh build writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Test;
use crate::repo;
use crate::test::copy_dir;

const RELEASE: &str = r#"release "1" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "1"
    metadata {
        file "notes.md"
    }
    cloud-images {
        flavors "flavors.yaml" publish=#true
        image "{{ flavor }}" {
            rootfs "build/{{ flavor }}.tar"
            file "build/{{ flavor }}.release" feature-set="GARDENLINUX_FEATURES"
            file "build/tree"
        }
    }
    container-images {
        container "bare-libc" from="containers/bare-libc" default=#true
    }
}
"#;

const FLAVORS: &str = "targets:
  - name: kvm
    category: public-cloud
    flavors:
      - features: [gardener]
        arch: amd64
        publish: true
      - features: [gardener]
        arch: arm64
        publish: false
";

/// A release read from every kind of input: a flavors file, a `.release` for the feature
/// set, a directory input with a subdirectory, a container layout.
fn fixture() -> Test {
    let mut test = Test::new()
        .file("rel/release.kdl", RELEASE)
        .file("rel/flavors.yaml", FLAVORS)
        .file("rel/notes.md", "# Release 1\n")
        .file("rel/build/tree/a.txt", "a\n")
        .file("rel/build/tree/sub/b.txt", "b\n");
    for arch in ["amd64", "arm64"] {
        test = test
            .file(
                format!("rel/build/kvm-gardener-{arch}.tar"),
                format!("rootfs {arch}\n"),
            )
            .file(
                format!("rel/build/kvm-gardener-{arch}.release"),
                "GARDENLINUX_FEATURES=gardener,base\n",
            );
    }
    let containers = repo().join("artifacts/containers");
    copy_dir(
        &containers.join("bare-libc"),
        &test.path("rel/containers/bare-libc"),
    );
    test
}

fn build(test: &Test, out: &str, extra: &[&str], epoch: Option<&str>) {
    let mut run = test
        .test()
        .arg("build")
        .arg("rel/release.kdl")
        .arg("-o")
        .arg(out)
        .arg("-q");
    run = run.args(extra);
    if let Some(epoch) = epoch {
        run = run.env("SOURCE_DATE_EPOCH", epoch);
    }
    run.run();
}

/// Builds into `out` until the build is recorded (one whose inputs changed in the
/// filesystem clock's tick before it began records nothing), and gives its `index.json`.
fn recorded(test: &Test, out: &str, extra: &[&str], epoch: Option<&str>) -> Vec<u8> {
    let record = test.path(format!(".{out}.glc-record.json"));
    for _ in 0..100 {
        build(test, out, extra, epoch);
        if record.exists() {
            return index(test, out);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no build into {out} was recorded");
}

fn index(test: &Test, out: &str) -> Vec<u8> {
    std::fs::read(test.path(out).join("index.json")).expect("index.json")
}

/// After `change`, a rebuild of `out` (with `extra` and `epoch`) writes what a fresh build
/// writes, which differs from what the recorded build wrote.
fn noticed(change: impl FnOnce(&Test), extra: &[&str], epoch: Option<&str>) {
    let test = fixture();
    let before = recorded(&test, "out", &[], None);
    change(&test);
    build(&test, "out", extra, epoch);
    build(&test, "fresh", &[&["--no-cache"], extra].concat(), epoch);
    let after = index(&test, "out");
    assert_ne!(after, before, "the change made no other layout");
    assert_eq!(
        after,
        index(&test, "fresh"),
        "the rebuild is not what a fresh build writes"
    );
    test.test().arg("verify").arg("out").run();
}

/// Rewrites `path` with `bytes`, its modification time kept: only its ctime (and size, if it
/// differs) shows the change.
fn rewrite(path: &Path, bytes: &[u8]) {
    let mtime = std::fs::metadata(path)
        .expect("stat")
        .modified()
        .expect("mtime");
    std::fs::write(path, bytes).expect("write");
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(mtime))
        .expect("set mtime");
}

#[test]
fn a_rebuild_with_nothing_changed_is_up_to_date_from_the_record() {
    let test = fixture();
    let before = recorded(&test, "out", &[], None);
    let again = test
        .test()
        .args(["build", "rel/release.kdl", "-o", "out"])
        .run();
    assert!(
        again.stderr().contains("out: up to date ("),
        "{}",
        again.stderr()
    );
    assert_eq!(index(&test, "out"), before);
}

#[test]
fn an_input_rewritten_with_its_size_and_mtime_kept_is_noticed() {
    noticed(
        |test| {
            rewrite(
                &test.path("rel/build/kvm-gardener-amd64.tar"),
                b"rootfs AMD64\n",
            );
        },
        &[],
        None,
    );
}

#[test]
fn a_metadata_file_rewritten_with_its_size_and_mtime_kept_is_noticed() {
    noticed(
        |test| rewrite(&test.path("rel/notes.md"), b"# Release 2\n"),
        &[],
        None,
    );
}

#[test]
fn a_release_file_rewritten_with_its_size_and_mtime_kept_is_noticed() {
    noticed(
        |test| {
            rewrite(
                &test.path("rel/release.kdl"),
                RELEASE.replace("tag \"1\"", "tag \"2\"").as_bytes(),
            );
        },
        &[],
        None,
    );
}

#[test]
fn an_edited_flavors_file_is_noticed() {
    noticed(
        |test| {
            let flavors = FLAVORS.replace("publish: false", "publish: true");
            rewrite(&test.path("rel/flavors.yaml"), flavors.as_bytes());
        },
        &[],
        None,
    );
}

#[test]
fn a_changed_feature_set_is_noticed() {
    noticed(
        |test| {
            rewrite(
                &test.path("rel/build/kvm-gardener-amd64.release"),
                b"GARDENLINUX_FEATURES=gardener,_fips\n",
            );
        },
        &[],
        None,
    );
}

#[test]
fn a_new_file_deep_in_a_directory_input_is_noticed() {
    // In `sub/`: the directory input's own entries stay as they were.
    noticed(
        |test| std::fs::write(test.path("rel/build/tree/sub/c.txt"), "c\n").expect("write"),
        &[],
        None,
    );
}

#[test]
fn an_edited_container_source_is_noticed() {
    // Another image in the same layout directory: its blobs added, `index.json` rewritten in
    // place; the layout directory's own entries stay as they were.
    noticed(
        |test| {
            let other = repo().join("artifacts/containers/bare-python");
            let source = test.path("rel/containers/bare-libc");
            copy_dir(&other.join("blobs"), &source.join("blobs"));
            rewrite(
                &source.join("index.json"),
                &std::fs::read(other.join("index.json")).expect("read"),
            );
        },
        &[],
        None,
    );
}

#[test]
fn a_changed_source_date_epoch_is_noticed() {
    noticed(|_| {}, &[], Some("1700000000"));
}

#[test]
fn a_changed_selection_is_noticed() {
    noticed(|_| {}, &["--only", "kvm-*"], None);
}

#[test]
fn a_blob_removed_from_the_target_is_written_again() {
    let test = fixture();
    let before = recorded(&test, "out", &[], None);
    let blobs: Vec<PathBuf> = std::fs::read_dir(test.path("out/blobs/sha256"))
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .collect();
    let removed = &blobs[blobs.len() / 2];
    std::fs::remove_file(removed).expect("rm");
    build(&test, "out", &[], None);
    assert!(removed.is_file(), "{} is still missing", removed.display());
    assert_eq!(index(&test, "out"), before);
    test.test().arg("verify").arg("out").run();
}
