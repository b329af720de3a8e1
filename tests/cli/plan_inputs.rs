//! `glc plan --inputs`: every input file a release names, listed from the release alone (none
//! of them there yet), as CI lays or fetches them before a build; and the example's stand-ins,
//! laid from that list.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::Test;
use crate::gardenlinux::{everything_published, example_without_standins, standins};
use crate::test::release_kdl;

/// Every file a resolved plan (`glc plan --json`) reads, with its media type (`None` for a
/// container's source).
fn read_by_plan(plan: &Value) -> BTreeMap<String, Option<String>> {
    let mut files: Vec<&Value> = Vec::new();
    files.extend(
        plan["metadata"]["changelog"]
            .as_object()
            .map(|_| &plan["metadata"]["changelog"]),
    );
    files.extend(plan["metadata"]["files"].as_array().into_iter().flatten());
    for image in plan["images"].as_array().expect("images") {
        files.extend(
            ["kernel", "initrd", "cmdline", "rootfs"]
                .map(|r| &image[r])
                .into_iter()
                .filter(|f| !f.is_null()),
        );
        files.extend(image["files"].as_array().expect("files"));
        files.extend(
            image["attachments"]
                .as_array()
                .expect("attachments")
                .iter()
                .map(|a| &a["file"]),
        );
    }
    let mut read: BTreeMap<String, Option<String>> = files
        .into_iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_owned(),
                Some(f["media_type"].as_str().expect("media type").to_owned()),
            )
        })
        .collect();
    for container in plan["containers"].as_array().expect("containers") {
        read.insert(
            container["from"]["path"].as_str().expect("from").to_owned(),
            None,
        );
    }
    read
}

/// What a file of Garden Linux's builder is, by its name: its disk images and boot media, its
/// tars, or another file.
fn kind_by_name(path: &str) -> &'static str {
    const DISKS: [&str; 8] = [
        ".raw",
        ".qcow2",
        ".vhd",
        ".vmdk",
        ".ova",
        ".iso",
        ".gcpimage.tar.gz",
        ".pxe.tar.gz",
    ];
    if DISKS.iter().any(|s| path.ends_with(s)) {
        "disk-image"
    } else if path.rsplit_once('.').is_some_and(|(_, e)| e == "tar") {
        "tar"
    } else {
        "file"
    }
}

#[test]
fn the_inputs_of_the_example_are_what_its_build_reads_listed_before_any_is_there() {
    let test = example_without_standins(Some(&everything_published()));
    // Nothing laid yet: the plan cannot find the files, the list of inputs needs none.
    test.test()
        .args(["plan", "gl/release.kdl"])
        .status(1)
        .stderr_contains("the directory `build` does not exist")
        .run();
    let listed = test
        .test()
        .args(["plan", "--inputs", "gl/release.kdl"])
        .run()
        .stdout();
    let records: Value = serde_json::from_str(
        &test
            .test()
            .args(["plan", "--inputs", "--json", "gl/release.kdl"])
            .run()
            .stdout(),
    )
    .expect("plan --inputs --json");
    assert_eq!(records["release"], "1877.3");
    let records = records["inputs"].as_array().expect("inputs");

    // Laid from the list, the stand-ins are what the build reads: each file once, named
    // as the plan names it, of the media type the build gives it.
    standins(&test.path("gl"));
    let plan: Value = serde_json::from_str(
        &test
            .test()
            .args(["plan", "--json", "gl/release.kdl"])
            .run()
            .stdout(),
    )
    .expect("plan --json");
    let read = read_by_plan(&plan);
    let lines: Vec<&str> = listed.lines().collect();
    let unique: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), unique.len(), "each path once");
    let wanted: BTreeSet<String> = read.keys().map(|p| format!("gl/{p}")).collect();
    assert_eq!(unique, wanted.iter().map(String::as_str).collect());
    for record in records {
        let path = record["path"].as_str().expect("path");
        assert_eq!(record["file"], format!("gl/{path}"));
        let media_type = read
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not read"));
        assert_eq!(
            record["media_type"].as_str(),
            media_type.as_deref(),
            "{path}"
        );
        let expects = if record["role"] == "container-source" {
            "oci-source"
        } else {
            kind_by_name(path)
        };
        assert_eq!(record["expects"], expects, "{path}");
    }
    // A disk image's stand-in is sparse: a MiB that takes next to no disk.
    let raw = std::fs::metadata(test.path("gl/build/aws-gardener_prod-amd64-1877.3-75df9f40.raw"))
        .expect("the raw stand-in");
    assert_eq!(raw.len(), 1 << 20);
    assert!(raw.blocks() * 512 < 1 << 20, "{} blocks", raw.blocks());

    // What a record says besides.
    let find = |path: &str| {
        records
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no record of {path}"))
    };
    assert_eq!(
        find("build/aws-gardener_prod-arm64-1877.3-75df9f40.release"),
        &json!({
            "path": "build/aws-gardener_prod-arm64-1877.3-75df9f40.release",
            "file": "gl/build/aws-gardener_prod-arm64-1877.3-75df9f40.release",
            "role": "file",
            "image": "aws-gardener_prod-arm64-1877.3-75df9f40",
            "media_type": "application/io.gardenlinux.release",
            "expects": "file",
            "feature_set": "GARDENLINUX_FEATURES",
            "matrix": {"target": "aws", "features": "gardener,_prod", "arch": "arm64", "category": "public-cloud"},
        })
    );
    let qcow2 = find("build/ali-gardener_prod-amd64-1877.3-75df9f40.qcow2");
    assert_eq!(qcow2["if"], "target in ['ali', 'openstack', 'lima']");
    assert_eq!(qcow2["expects"], "disk-image");
    let sbom = find("build/ali-gardener_prod-amd64-1877.3-75df9f40.sbom");
    assert_eq!(
        (&sbom["role"], &sbom["attachment"]),
        (&json!("attachment"), &json!("sbom"))
    );
    assert_eq!(
        find("build/containers/base.oci"),
        &json!({
            "path": "build/containers/base.oci",
            "file": "gl/build/containers/base.oci",
            "role": "container-source",
            "container": "base",
            "default": true,
            "media_type": null,
            "expects": "oci-source",
        })
    );
    assert_eq!(find("build/CHANGELOG.md")["role"], "changelog");
    assert_eq!(find("build/release-notes.md")["role"], "metadata");
    // The stand-in .release names features the build's way, under the key glc reads.
    let release = std::fs::read_to_string(
        test.path("gl/build/aws-gardener_prod-arm64-1877.3-75df9f40.release"),
    )
    .expect("the .release stand-in");
    assert_eq!(
        release,
        "GARDENLINUX_FEATURES=base,server,aws,gardener,_prod\n"
    );
}

const SMALL: &str = r#"    metadata {
        changelog "CHANGELOG.md"
    }
    cloud-images {
        matrix {
            arch "amd64" "arm64"
        }
        image "img-{{ arch }}" {
            rootfs "rootfs-{{ arch }}"
            file "notes.unknown"
            file "disk-{{ arch }}.qcow2" if="arch == 'amd64'"
            attach "notes" "notes.txt"
        }
    }
    container-images {
        container "c" from="c.oci" ref="latest"
    }
"#;

#[test]
fn inputs_are_listed_once_a_line_from_here_and_once_a_use_in_json() {
    let test = Test::new().file("r/release.kdl", release_kdl(SMALL));
    // Paths as opened from the working directory, each once, in the plan's order.
    test.test()
        .args(["plan", "--inputs", "r/release.kdl"])
        .stdout("r/CHANGELOG.md\nr/rootfs-amd64\nr/notes.unknown\nr/disk-amd64.qcow2\nr/notes.txt\nr/rootfs-arm64\nr/c.oci\n")
        .stderr_contains("will have no `feature_set` annotation")
        .run();
    let ran = test
        .test()
        .args(["plan", "--inputs", "--json", "r/release.kdl"])
        .run();
    let listed: Value = serde_json::from_str(&ran.stdout()).expect("json");
    let summary: Vec<(String, String, Value, Value)> = listed["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().expect("path").to_owned(),
                r["image"]
                    .as_str()
                    .or(r["container"].as_str())
                    .unwrap_or("")
                    .to_owned(),
                r["media_type"].clone(),
                r["expects"].clone(),
            )
        })
        .collect();
    let gl_tar = json!("application/io.gardenlinux.image.archive.format.tar");
    let row = |path: &str, of: &str, media_type: Value, expects: &str| {
        (path.to_owned(), of.to_owned(), media_type, json!(expects))
    };
    assert_eq!(
        summary,
        [
            row("CHANGELOG.md", "", json!("text/markdown"), "file"),
            // A name of no media type: a directory, packed as Garden Linux's rootfs tar.
            row("rootfs-amd64", "img-amd64", gl_tar.clone(), "directory"),
            // A `file` of no known media type: a directory packed as a tar, or the build
            // asks for media-type=.
            row(
                "notes.unknown",
                "img-amd64",
                json!("application/vnd.oci.image.layer.v1.tar"),
                "directory"
            ),
            row(
                "disk-amd64.qcow2",
                "img-amd64",
                json!("application/io.gardenlinux.image.format.qcow2"),
                "disk-image"
            ),
            row("notes.txt", "img-amd64", json!("text/plain"), "file"),
            row("rootfs-arm64", "img-arm64", gl_tar, "directory"),
            row(
                "notes.unknown",
                "img-arm64",
                json!("application/vnd.oci.image.layer.v1.tar"),
                "directory"
            ),
            row("notes.txt", "img-arm64", json!("text/plain"), "file"),
            row("c.oci", "c", Value::Null, "oci-source"),
        ]
    );
    let container = &listed["inputs"][8];
    assert_eq!(container["ref"], "latest");
    assert_eq!(container["file"], "r/c.oci");
    // A part's inputs: its images' files, the release's own, and every container's source
    // (the part names each by digest).
    test.test()
        .args(["plan", "--inputs", "--only", "img-arm64", "r/release.kdl"])
        .stdout("r/CHANGELOG.md\nr/rootfs-arm64\nr/notes.unknown\nr/notes.txt\nr/c.oci\n")
        .run();
    // Warnings fail it with --deny-warnings, as they fail the plan.
    test.test()
        .args(["plan", "--inputs", "--deny-warnings", "r/release.kdl"])
        .status(1)
        .stdout("")
        .stderr_contains("(an error with --deny-warnings)")
        .run();
    // An error of the release is one still.
    let broken = SMALL.replace("img-{{ arch }}", "img-{{ arc }}");
    test.test()
        .file("r/release.kdl", release_kdl(&broken))
        .args(["plan", "--inputs", "r/release.kdl"])
        .status(1)
        .stdout("")
        .stderr_contains("undefined value `arc`")
        .run();
}
