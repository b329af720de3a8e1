//! `glc build --only` and `glc merge`: parts built apart, merged in any order, give the bytes
//! of a full build; parts that do not belong together are refused, naming both sides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::build::{copy_release, snapshot};
use crate::test::Layout;
use crate::{Ran, Test, assert_matches_file, repo};

/// The top-level release split three ways: every cloud image and container in one part.
const THREE_PARTS: [&[&str]; 3] = [
    &["aws-*", "gcp-*"],
    &["{azure,openstack}-*", "bare"],
    &["baremetal*", "base", "*-build", "debian-snapshot"],
];

/// glc in `dir`, so that paths in messages are as short as the test writes them.
fn glc_in(dir: &Path, args: &[&str]) -> Test {
    Test::new().current_dir(dir).args(args)
}

/// Runs glc in `dir`, which must exit with `code`.
fn exits(dir: &Path, args: &[&str], code: i32) -> Ran {
    glc_in(dir, args).status(code).run()
}

fn succeeds(dir: &Path, args: &[&str]) -> Ran {
    exits(dir, args, 0)
}

/// Runs glc, which must fail with exit 1; returns each error's message and help.
fn errors(dir: &Path, args: &[&str]) -> Vec<(String, String)> {
    let output = exits(dir, &[&["--message-format=json"][..], args].concat(), 1);
    output
        .stderr()
        .lines()
        .map(|line| {
            let error: Value = serde_json::from_str(line).expect("a JSON line");
            let text = |key: &str| error[key].as_str().unwrap_or_default().to_owned();
            (text("message"), text("help"))
        })
        .collect()
}

/// The only error of a failed run: its message and help.
fn error(dir: &Path, args: &[&str]) -> (String, String) {
    let mut found = errors(dir, args);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// `glc build release.kdl -o OUT --only P…`.
fn build_part(dir: &Path, out: &str, patterns: &[&str]) {
    let mut args = vec!["build", "release.kdl", "-o", out, "-q"];
    for pattern in patterns {
        args.extend(["--only", pattern]);
    }
    succeeds(dir, &args);
}

fn assert_same_tree(dir: &Path, a: &str, b: &str) {
    let (left, right) = (snapshot(&dir.join(a)), snapshot(&dir.join(b)));
    assert!(!left.is_empty(), "{a} is empty");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        right.keys().collect::<Vec<_>>(),
        "{a} and {b} hold different files"
    );
    for (path, bytes) in &left {
        assert!(bytes == &right[path], "{path} differs between {a} and {b}");
    }
}

/// Every order of `items`.
fn permutations<'a>(items: &[&'a str]) -> Vec<Vec<&'a str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// A copy of the top-level release, its full build in `full` and its three parts.
fn release_in_parts() -> (Test, PathBuf) {
    let temp = Test::new();
    let dir = temp.path("release");
    copy_release(&dir);
    succeeds(&dir, &["build", "release.kdl", "-o", "full", "-q"]);
    for (i, patterns) in THREE_PARTS.iter().enumerate() {
        build_part(&dir, &format!("p{}", i + 1), patterns);
    }
    (temp, dir)
}

fn index(layout: &Path) -> Value {
    Layout::open(layout).index
}

/// The path of a layout's blob.
fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A layout's JSON document (manifest, index or record) by digest.
fn document(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(blob_path(layout, digest)).expect("blob")).expect("json")
}

/// Tag → digest of a layout's `index.json`.
fn tags(layout: &Path) -> BTreeMap<String, String> {
    Layout::open(layout).tags()
}

#[test]
fn parts_merged_in_every_order_give_the_full_build_byte_for_byte() {
    let (_temp, dir) = release_in_parts();
    // Three parts, in all six orders.
    for (n, order) in permutations(&["p1", "p2", "p3"]).iter().enumerate() {
        let out = format!("merged-{n}");
        succeeds(&dir, &[&["merge", "-o", &out][..], order].concat());
        assert_same_tree(&dir, "full", &out);
    }
    // Two parts, both orders.
    build_part(&dir, "a", &["{aws,azure,gcp}-*", "bare"]);
    build_part(
        &dir,
        "b",
        &["{openstack,baremetal}*", "{base,*-build,debian-snapshot}"],
    );
    for (n, order) in [["a", "b"], ["b", "a"]].iter().enumerate() {
        let out = format!("two-{n}");
        succeeds(&dir, &[&["merge", "-o", &out][..], order].concat());
        assert_same_tree(&dir, "full", &out);
    }
    // Parts may overlap where they agree; `--link` places the same bytes.
    build_part(&dir, "everything", &["*"]);
    succeeds(
        &dir,
        &["merge", "-o", "overlap", "p2", "everything", "p1", "--link"],
    );
    assert_same_tree(&dir, "full", "overlap");
    // A part, and what merges it, pass verify without a warning (no stray blob in a part).
    for layout in ["p1", "p2", "p3", "overlap"] {
        let output = succeeds(&dir, &["verify", layout]);
        assert!(
            output.stderr().ends_with(": 0 errors, 0 warnings\n"),
            "{layout}: {}",
            output.stderr()
        );
    }
}

#[test]
fn a_part_holds_its_images_and_containers_and_names_the_rest() {
    let (_temp, dir) = release_in_parts();
    let full = tags(&dir.join("full"));
    let part = tags(&dir.join("p2"));
    // Only what was selected is tagged, each with the digest it has in the full build: a
    // part's cloud images already name the full `ContainerImages`.
    let expected: Vec<&String> = full
        .keys()
        .filter(|t| {
            t.starts_with("azure-") || t.starts_with("openstack-") || t.starts_with("bare-")
        })
        .collect();
    assert_eq!(part.keys().collect::<Vec<_>>(), expected);
    for (tag, digest) in &part {
        assert_eq!(digest, &full[tag], "{tag}");
    }
    // No release tag: a part is not a release. Its record lists the release's every cname.
    assert!(!part.contains_key("1877.3"));
    let mut index = index(&dir.join("p2"));
    let manifest = document(
        &dir.join("p2"),
        record_entry(&mut index)["digest"].as_str().expect("digest"),
    );
    let record = part_record(&dir.join("p2"));
    let cnames = |list: &Value, key: Option<&str>| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|v| {
                key.map_or(v, |k| &v[k])
                    .as_str()
                    .expect("a name")
                    .to_owned()
            })
            .collect()
    };
    let images: Vec<String> = full
        .keys()
        .filter(|t| t.ends_with("-75df9f40"))
        .cloned()
        .collect();
    assert_eq!(images.len(), 8);
    assert_eq!(
        cnames(&record["assembly"]["part"]["all_images"], None),
        images
    );
    assert_eq!(
        cnames(&record["assembly"]["images"], Some("cname")),
        [
            "azure-gardener_prod-amd64-1877.3-75df9f40",
            "azure-gardener_prod-arm64-1877.3-75df9f40",
            "openstack-gardener_prod-amd64-1877.3-75df9f40",
            "openstack-gardener_prod-arm64-1877.3-75df9f40",
        ]
    );
    assert_eq!(
        cnames(&record["assembly"]["part"]["containers"], None),
        ["bare-libc", "bare-nodejs", "bare-python", "bare-sapmachine"]
    );
    let titles: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .expect("title")
        })
        .collect();
    assert_eq!(titles, ["part.json", "CHANGELOG.md"]);
}

#[test]
fn a_partial_merge_is_the_build_of_the_union_and_merges_on() {
    let (_temp, dir) = release_in_parts();
    let merged = succeeds(&dir, &["merge", "-o", "p12", "p2", "p1", "--partial"]);
    assert!(
        merged
            .stderr()
            .contains("a part: 7 of 8 cloud images, 14 attachments, 4 of 8 containers"),
        "{}",
        merged.stderr()
    );
    build_part(&dir, "union", &[THREE_PARTS[0], THREE_PARTS[1]].concat());
    assert_same_tree(&dir, "union", "p12");
    // Merges of merges: the rest joins later.
    succeeds(&dir, &["merge", "-o", "all", "p3", "p12"]);
    assert_same_tree(&dir, "full", "all");
}

#[test]
fn a_merge_that_misses_images_fails_naming_them_and_writes_nothing() {
    let (_temp, dir) = release_in_parts();
    glc_in(&dir, &["merge", "-o", "out", "p1", "p3"])
        .status(1)
        .stderr_matches("tests/snapshots/merge-incomplete.txt")
        .run();
    assert!(!dir.join("out").exists());
}

#[test]
fn parts_of_different_releases_conflict_naming_both_sides() {
    let (_temp, dir) = release_in_parts();
    // Another creation time.
    Test::new()
        .current_dir(&dir)
        .args([
            "build",
            "release.kdl",
            "-o",
            "p3-later",
            "-q",
            "--only",
            "baremetal*",
        ])
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .run();
    glc_in(&dir, &["merge", "-o", "out", "p1", "p2", "p3-later"])
        .status(1)
        .stderr_matches("tests/snapshots/merge-created.txt")
        .run();
    // Another commit (the same first eight digits, so the same cnames and file names).
    let text = std::fs::read_to_string(dir.join("release.kdl")).expect("read");
    let other = dir.join("other");
    copy_release(&other);
    std::fs::write(
        other.join("release.kdl"),
        text.replace("75df9f40a1b2c3d4", "75df9f4000000000"),
    )
    .expect("write");
    build_part(&other, "../p3-other-commit", &["baremetal*"]);
    let (message, help) = error(&dir, &["merge", "-o", "out", "p1", "p3-other-commit"]);
    assert_eq!(
        message,
        "the parts disagree on the release's commit: `75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6` in `p1`, `75df9f4000000000e5f6a7b8c9d0e1f2a3b4c5d6` in `p3-other-commit`"
    );
    assert!(help.contains("the same commit"), "{help}");
    // The same release, but its file edited: another release file.
    std::fs::write(other.join("release.kdl"), format!("{text}// edited\n")).expect("write");
    build_part(&other, "../p3-edited", &["baremetal*"]);
    let (message, _) = error(&dir, &["merge", "-o", "out", "p3-edited", "p1", "p2"]);
    let digest = |path: &Path| {
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                std::fs::read(path).expect("read")
            ))
        )
    };
    assert_eq!(
        message,
        format!(
            "the parts disagree on the release file: `{}` in `p3-edited`, `{}` in `p1` and `p2`",
            digest(&other.join("release.kdl")),
            digest(&dir.join("release.kdl"))
        )
    );
    assert!(!dir.join("out").exists());
}

#[test]
fn one_cname_with_different_bytes_in_two_parts_is_a_conflict() {
    let (_temp, dir) = release_in_parts();
    let rootfs = dir.join("artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.raw");
    let mut bytes = std::fs::read(&rootfs).expect("read");
    bytes.extend_from_slice(b"rebuilt");
    std::fs::write(&rootfs, bytes).expect("write");
    build_part(&dir, "aws-again", &["aws-gardener_prod-amd64-*"]);
    let cname = "aws-gardener_prod-amd64-1877.3-75df9f40";
    let (before, after) = (
        &tags(&dir.join("p1"))[cname],
        &tags(&dir.join("aws-again"))[cname],
    );
    assert_ne!(before, after);
    let (message, help) = error(&dir, &["merge", "-o", "out", "p1", "p2", "p3", "aws-again"]);
    assert_eq!(
        message,
        format!(
            "cloud image `{cname}` differs between parts: {before} in `p1`, {after} in `aws-again`"
        )
    );
    assert!(
        help.starts_with(&format!("its file `{cname}.raw` is sha256:")),
        "{help}"
    );
    assert!(!dir.join("out").exists());
}

#[test]
fn a_container_that_changed_between_parts_is_a_conflict() {
    let (_temp, dir) = release_in_parts();
    // Another image where `base` comes from, after p1 and p2 were built.
    std::fs::copy(
        dir.join("artifacts/containers/driver-build.oci"),
        dir.join("artifacts/containers/base.oci"),
    )
    .expect("copy");
    build_part(&dir, "p3-new-base", THREE_PARTS[2]);
    let base = |layout: &str| tags(&dir.join(layout))["base-1877.3"].clone();
    let (old, new) = (base("p3"), base("p3-new-base"));
    assert_ne!(old, new);
    let (message, help) = error(&dir, &["merge", "-o", "out", "p1", "p2", "p3-new-base"]);
    let size = |layout: &str| {
        index(&dir.join(layout))["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "base-1877.3")
            .map(|d| d["size"].clone())
            .expect("base")
    };
    assert_eq!(
        message,
        format!(
            "the parts disagree on container `base`: `{old} ({} bytes)` in `p1` and `p2`, `{new} ({} bytes)` in `p3-new-base`",
            size("p3"),
            size("p3-new-base")
        )
    );
    assert!(
        help.contains("the cloud images name them all by digest"),
        "{help}"
    );
}

#[test]
fn only_needs_the_files_of_the_images_it_selects() {
    let temp = Test::new();
    let dir = temp.path("release");
    copy_release(&dir);
    for entry in std::fs::read_dir(dir.join("artifacts")).expect("list") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("gcp-"))
        {
            std::fs::remove_file(path).expect("remove");
        }
    }
    let mentions_missing = |errors: &[(String, String)]| {
        errors
            .iter()
            .any(|(m, _)| m.contains("gcp-gardener_prod-amd64-1877.3-75df9f40.vmlinuz"))
    };
    let missing = errors(&dir, &["check", "release.kdl"]);
    assert!(mentions_missing(&missing), "{missing:?}");
    succeeds(&dir, &["check", "release.kdl", "--only", "aws-*"]);
    let plan = succeeds(&dir, &["plan", "release.kdl", "--only", "aws-*"]);
    let plan = plan.stdout();
    assert!(
        plan.contains("\npart: 2 of 8 cloud images, 0 of 8 containers\n"),
        "{plan}"
    );
    assert_eq!(plan.matches("  not in this part\n").count(), 8, "{plan}");
    let output = succeeds(
        &dir,
        &["build", "release.kdl", "-o", "aws", "--only", "aws-*"],
    );
    assert!(
        output
            .stderr()
            .contains("a part: 2 of 8 cloud images, 4 attachments, 0 of 8 containers"),
        "{}",
        output.stderr()
    );
    let missing = errors(
        &dir,
        &["build", "release.kdl", "-o", "gcp", "--only", "gcp-*"],
    );
    assert!(mentions_missing(&missing), "{missing:?}");
    assert!(!dir.join("gcp").exists());
}

#[test]
fn patterns_that_match_nothing_or_do_not_parse_are_errors() {
    let temp = Test::new();
    let dir = temp.path("release");
    copy_release(&dir);
    // Every pattern that matches nothing, each with what it may have meant.
    glc_in(
        &dir,
        &[
            "build",
            "release.kdl",
            "-o",
            "out",
            "--only",
            "aws",
            "--only",
            "bare-pyhton",
            "--only",
            "azure-*",
            "--only",
            "suse-*",
        ],
    )
    .status(1)
    .stderr_matches("tests/snapshots/only-unmatched.txt")
    .run();
    assert!(!dir.join("out").exists());
    let (message, help) = error(&dir, &["check", "release.kdl", "--only", "a["]);
    assert_eq!(
        message,
        "--only `a[` is not a valid pattern: unclosed character class; missing ']'"
    );
    assert!(help.contains("`aws-*`"), "{help}");
}

#[test]
fn damaged_or_foreign_parts_are_refused_and_nothing_is_written() {
    let (_temp, dir) = release_in_parts();
    // A whole release is no part; nor is a directory that is no layout.
    let (message, _) = error(&dir, &["merge", "-o", "out", "full", "p1"]);
    assert_eq!(
        message,
        "`full`: this is the layout of a whole release, not a part"
    );
    let (message, _) = error(&dir, &["merge", "-o", "out", "artifacts", "p1"]);
    assert!(
        message.starts_with("`artifacts`: not an OCI image layout: cannot read oci-layout"),
        "{message}"
    );
    // A flipped byte in a part's layer is found while copying, with and without --link.
    let cname = "gcp-gardener_prod-amd64-1877.3-75df9f40";
    let manifest = document(&dir.join("p1"), &tags(&dir.join("p1"))[cname]);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let path = blob_path(&dir.join("p1"), &layer);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    for extra in [&[][..], &["--link"][..]] {
        let (message, _) = error(
            &dir,
            &[&["merge", "-o", "out", "p1", "p2", "p3"][..], extra].concat(),
        );
        assert!(
            message.starts_with(&format!("`p1`: blob {layer} is corrupt")),
            "{message}"
        );
        assert!(!dir.join("out").exists());
    }
    // A merge that fails over an earlier merge leaves that merge as it was.
    std::fs::copy(blob_path(&dir.join("full"), &layer), &path).expect("repair");
    succeeds(&dir, &["merge", "-o", "out", "p1", "p2", "p3"]);
    let before = snapshot(&dir.join("out"));
    std::fs::remove_file(&path).expect("remove");
    let (message, _) = error(
        &dir,
        &["merge", "-o", "out", "p1", "p2", "p3", "--no-cache"],
    );
    assert_eq!(message, format!("`p1`: blob {layer} is missing"));
    assert!(snapshot(&dir.join("out")) == before);
}

#[test]
fn the_makefile_example_merges_six_parts_into_the_full_build() {
    if std::process::Command::new("make")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "make is missing in CI");
        eprintln!("skipped: make is not installed");
        return;
    }
    let temp = Test::new();
    let out = temp.path("parallel");
    let output = std::process::Command::new("make")
        .arg("-C")
        .arg(repo().join("examples/parallel"))
        .arg("-j3")
        .arg(format!(
            "GLC={}",
            assert_cmd::cargo::cargo_bin("glc").display()
        ))
        .arg(format!("OUT={}", out.display()))
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("MAKEFLAGS")
        .output()
        .expect("run make");
    assert!(output.status.success(), "{}", crate::stderr(&output));
    let full = temp.path("full");
    let full_arg = full.to_string_lossy();
    succeeds(&repo(), &["build", "-q", "release.kdl", "-o", &full_arg]);
    assert_same_tree(temp.dir(), "full", "parallel/release");
    // The digests to sign are those of the full build.
    let digests: Value =
        serde_json::from_slice(&std::fs::read(out.join("digests.json")).expect("digests"))
            .expect("json");
    assert_eq!(
        digests["tags"]["1877.3"]["digest"].as_str(),
        tags(&full).get("1877.3").map(String::as_str)
    );
}

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
    )
}

/// The descriptor of a part's record in its `index.json`.
fn record_entry(index: &mut Value) -> &mut Value {
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .iter_mut()
        .find(|d| d["artifactType"] == "application/io.gardenlinux.release.part")
        .expect("a part record")
}

/// A part's record, as JSON.
fn part_record(part: &Path) -> Value {
    let mut index = index(part);
    let manifest = document(
        part,
        record_entry(&mut index)["digest"].as_str().expect("digest"),
    );
    document(
        part,
        manifest["layers"][0]["digest"].as_str().expect("digest"),
    )
}

/// Edits a part's record as a hostile or damaged part would carry it, every digest on the
/// way to it made to match, so that only the record's content is wrong.
fn rewrite_record(part: &Path, edit: impl FnOnce(&mut Value)) {
    let store = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blob_path(part, &digest), bytes).expect("write blob");
        (digest, bytes.len())
    };
    let mut index = index(part);
    let entry = record_entry(&mut index);
    let mut manifest = document(part, entry["digest"].as_str().expect("digest"));
    let layer = &mut manifest["layers"][0];
    let mut record = document(part, layer["digest"].as_str().expect("digest"));
    edit(&mut record);
    let (digest, size) = store(&serde_json::to_vec(&record).expect("json"));
    layer["digest"] = digest.into();
    layer["size"] = size.into();
    let (digest, size) = store(&serde_json::to_vec(&manifest).expect("json"));
    entry["digest"] = digest.into();
    entry["size"] = size.into();
    // As glc orders index.json: tagged entries by tag, then untagged ones by digest.
    let order = |m: &Value| match m["annotations"]["org.opencontainers.image.ref.name"].as_str() {
        Some(tag) => (0, tag.to_owned()),
        None => (1, m["digest"].as_str().unwrap_or_default().to_owned()),
    };
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .sort_by_key(order);
    std::fs::write(
        part.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write index");
}

#[test]
fn hostile_or_inconsistent_part_records_are_refused() {
    let (_temp, dir) = release_in_parts();
    let copy = |name: &str| {
        crate::commands::copy_dir(&dir.join("p1"), &dir.join(name));
    };
    // A digest that would lead out of the part, were it taken as a file name.
    copy("climbing");
    rewrite_record(&dir.join("climbing"), |record| {
        record["assembly"]["images"][0]["layers"][0]["digest"] =
            "sha256:../../../../etc/passwd".into();
    });
    // A format this glc does not know.
    copy("future");
    rewrite_record(&dir.join("future"), |record| {
        record["format"] = 2.into();
    });
    // A record that says something else than the part's own manifests: another architecture.
    copy("other-arch");
    rewrite_record(&dir.join("other-arch"), |record| {
        let matrix = &mut record["assembly"]["images"][0]["matrix"];
        assert_eq!(matrix["arch"], "amd64");
        matrix["arch"] = "riscv64".into();
    });
    // An absolute path as digest, and a size no blob has.
    copy("absolute");
    rewrite_record(&dir.join("absolute"), |record| {
        record["assembly"]["changelog"]["digest"] = "sha256:/dev/zero".into();
    });
    copy("huge");
    rewrite_record(&dir.join("huge"), |record| {
        record["assembly"]["images"][0]["layers"][1]["size"] = u64::MAX.into();
    });
    // What no tag shows: an attachment's kind. The part's own index.json gives it away.
    copy("other-kind");
    rewrite_record(&dir.join("other-kind"), |record| {
        record["assembly"]["images"][0]["attachments"][0]["kind"] = "build-log".into();
    });
    let huge_layer = {
        let record = part_record(&dir.join("p1"));
        record["assembly"]["images"][0]["layers"][1]["digest"]
            .as_str()
            .expect("digest")
            .to_owned()
    };
    for (part, expected) in [
        (
            "absolute",
            "`absolute`: its record names a blob by `sha256:/dev/zero`, which is not a sha256 digest".to_owned(),
        ),
        (
            "huge",
            format!("`huge`: its record gives blob {huge_layer} a size of 18446744073709551615 bytes, more than any blob has"),
        ),
        (
            "other-kind",
            "`other-kind`: its index.json is not what its record makes of it (attachments, or the record itself)".to_owned(),
        ),
        (
            "climbing",
            "`climbing`: its record names a blob by `sha256:../../../../etc/passwd`, which is not a sha256 digest".to_owned(),
        ),
        (
            "future",
            "`future`: its record is in part format 2; this glc reads format 1".to_owned(),
        ),
    ] {
        for extra in [&[][..], &["--link"][..]] {
            let (message, _) = error(
                &dir,
                &[&["merge", "-o", "out", part, "p2", "p3"][..], extra].concat(),
            );
            assert_eq!(message, expected);
        }
    }
    let (message, help) = error(&dir, &["merge", "-o", "out", "other-arch", "p2", "p3"]);
    let cname = "aws-gardener_prod-amd64-1877.3-75df9f40";
    assert!(
        message.starts_with(&format!(
            "`other-arch`: its tag `{cname}` is {}, but its record makes it sha256:",
            tags(&dir.join("p1"))[cname]
        )),
        "{message}"
    );
    assert!(help.contains("build it again"), "{help}");
    assert!(!dir.join("out").exists());
    // Every part is read before the output is touched: nothing is written beside it either.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn what_only_a_record_says_must_agree_too_so_the_order_of_parts_never_matters() {
    let (_temp, dir) = release_in_parts();
    // A record that differs from the others only where no manifest shows it: were the first
    // part's record taken for the release, the order of the parts would change the result.
    crate::commands::copy_dir(&dir.join("p3"), &dir.join("p3-major"));
    rewrite_record(&dir.join("p3-major"), |record| {
        record["assembly"]["release"]["version_major"] = "1878".into();
    });
    for order in [["p1", "p2", "p3-major"], ["p3-major", "p1", "p2"]] {
        let (message, _) = error(&dir, &[&["merge", "-o", "out"][..], &order].concat());
        assert!(
            message.starts_with("the parts disagree on the rest of the release (tags, links, changelog, cloud images or containers): "),
            "{message}"
        );
        assert!(message.contains("in `p1` and `p2`"), "{message}");
        assert!(message.contains("in `p3-major`"), "{message}");
    }
    // Another changelog.
    std::fs::write(
        dir.join("artifacts/CHANGELOG.md"),
        "# 1877.3\n\nrewritten\n",
    )
    .expect("write");
    build_part(&dir, "p3-changelog", THREE_PARTS[2]);
    let digest = |part: &str| {
        part_record(&dir.join(part))["assembly"]["changelog"]["digest"]
            .as_str()
            .expect("digest")
            .to_owned()
    };
    let (message, help) = error(&dir, &["merge", "-o", "out", "p1", "p2", "p3-changelog"]);
    assert_eq!(
        message,
        format!(
            "the parts disagree on the changelog: `{}` in `p1` and `p2`, `{}` in `p3-changelog`",
            digest("p1"),
            digest("p3-changelog")
        )
    );
    assert_eq!(help, "every part must read the same changelog file");
}

#[test]
fn merging_again_is_up_to_date_and_a_part_may_be_given_twice_but_not_be_the_output() {
    let (_temp, dir) = release_in_parts();
    succeeds(&dir, &["merge", "-o", "out", "p1", "p2", "p3"]);
    let again = succeeds(&dir, &["merge", "-o", "out", "p3", "p2", "p1"]);
    assert!(
        again.stderr().starts_with(
            "3 parts → out: up to date (8 cloud images, 16 attachments, 8 containers;"
        ),
        "{}",
        again.stderr()
    );
    assert_same_tree(&dir, "full", "out");
    succeeds(
        &dir,
        &["merge", "-o", "twice", "p1", "p2", "p1", "p3", "p2"],
    );
    assert_same_tree(&dir, "full", "twice");
    // A part is an input: the output may not be one, nor hold one or lie inside one.
    let before = snapshot(&dir.join("p3"));
    for (output, says) in [
        ("p3", "the output p3 is the part p3"),
        (
            ".",
            "the output . holds the part p1 (and meets 2 more inputs)",
        ),
        ("p3/out", "the output p3/out lies inside the part p3"),
    ] {
        Test::new()
            .current_dir(&dir)
            .args(["merge", "-o", output, "p1", "p2", "p3"])
            .status(2)
            .stderr_contains(says)
            .run();
    }
    assert!(snapshot(&dir.join("p3")) == before, "the part changed");
    assert!(!dir.join("p3/out").exists());
}

/// The top-level release with the text between each `(from, to)` pair cut out.
fn cut_release(dir: &Path, cuts: &[(&str, &str)]) {
    copy_release(dir);
    let mut text = std::fs::read_to_string(dir.join("release.kdl")).expect("read");
    for (from, to) in cuts {
        let start = text.find(from).expect("start of the cut");
        let end = start + text[start..].find(to).expect("end of the cut");
        text.replace_range(start..end, "");
    }
    std::fs::write(dir.join("release.kdl"), text).expect("write");
}

#[test]
fn releases_without_containers_images_or_changelog_merge_too() {
    let temp = Test::new();
    // Cloud images only, no changelog.
    let images = temp.path("images");
    cut_release(
        &images,
        &[
            ("        changelog", "        link \"github"),
            ("    container-images {", "\n}\n"),
        ],
    );
    // Containers only, no metadata at all.
    let containers = temp.path("containers");
    cut_release(&containers, &[("    metadata {", "    container-images {")]);
    for (dir, parts) in [
        (
            &images,
            &[&["aws-*", "gcp-*"][..], &["{azure,openstack,baremetal}*"]],
        ),
        (
            &containers,
            &[&["bare"][..], &["base", "*-build", "debian-snapshot"]],
        ),
    ] {
        succeeds(dir, &["build", "-q", "release.kdl", "-o", "full"]);
        build_part(dir, "a", parts[0]);
        build_part(dir, "b", parts[1]);
        succeeds(dir, &["merge", "-q", "-o", "merged", "b", "a"]);
        assert_same_tree(dir, "full", "merged");
    }
    // They were what they claim: no ContainerImages in the first, no CloudImages in the second.
    let release = |dir: &Path| -> Vec<String> {
        let full = dir.join("full");
        document(&full, &tags(&full)["1877.3"])["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|d| {
                d["artifactType"]
                    .as_str()
                    .unwrap_or("(a platform image)")
                    .to_owned()
            })
            .collect()
    };
    // Each with its flat view: the cloud images again, or base's platform images.
    let mut with_images = vec![
        "application/io.gardenlinux.release.metadata",
        "application/io.gardenlinux.cloud-images",
    ];
    with_images.extend(["application/io.gardenlinux.image"; 8]);
    assert_eq!(release(&images), with_images);
    assert_eq!(
        release(&containers),
        [
            "application/io.gardenlinux.release.metadata",
            "application/io.gardenlinux.container-images",
            "(a platform image)",
            "(a platform image)"
        ]
    );
}

/// The raw bytes of a part's record.
fn record_bytes(part: &Path) -> Vec<u8> {
    let mut index = index(part);
    let manifest = document(
        part,
        record_entry(&mut index)["digest"].as_str().expect("digest"),
    );
    std::fs::read(blob_path(
        part,
        manifest["layers"][0]["digest"].as_str().expect("digest"),
    ))
    .expect("record")
}

#[test]
fn the_fuzzing_seeds_are_the_records_this_glc_writes() {
    let temp = Test::new();
    let dir = temp.path("release");
    copy_release(&dir);
    let seeds = repo().join("fuzz/corpus/part_record");
    for (name, patterns) in [
        ("p1", &["aws-*"][..]),
        ("p2", &["bare", "azure-*"]),
        ("p3", &["base"]),
    ] {
        build_part(&dir, name, patterns);
        let record = String::from_utf8(record_bytes(&dir.join(name))).expect("UTF-8");
        assert_matches_file(&record, &seeds.join(format!("seed-reference-{name}.json")));
    }
}
