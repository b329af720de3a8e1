//! Garden Linux's real release, `examples/gardenlinux/`: its cloud images are the flavors
//! its flavors.yaml publishes, named as Garden Linux names them, with the files its builder
//! writes for each. The expectations here follow Garden Linux's own rules (python-gardenlinux-
//! lib's flavors parser), computed from the YAML in the test, never from glc.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::{Ran, Test, repo};

pub(crate) const VERSION: &str = "1877.3";
pub(crate) const COMMIT_SHORT: &str = "75df9f40";

/// A YAML document as JSON: mappings, lists, `true`/`false` and strings (all flavors.yaml
/// holds), read with the parser's events.
fn yaml(text: &str) -> Value {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    let mut stack: Vec<(bool, Vec<Value>)> = Vec::new();
    let mut root = Value::Null;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.expect("flavors.yaml is YAML");
        let done = match event {
            Event::Scalar(value, style, ..) => Some(match (style, value.as_ref()) {
                (ScalarStyle::Plain, "true") => Value::Bool(true),
                (ScalarStyle::Plain, "false") => Value::Bool(false),
                _ => Value::String(value.into_owned()),
            }),
            Event::SequenceStart(..) => {
                stack.push((false, Vec::new()));
                None
            }
            Event::MappingStart(..) => {
                stack.push((true, Vec::new()));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (mapping, items) = stack.pop().expect("balanced");
                Some(if mapping {
                    let mut object = serde_json::Map::new();
                    for pair in items.chunks(2) {
                        object.insert(pair[0].as_str().expect("key").to_owned(), pair[1].clone());
                    }
                    Value::Object(object)
                } else {
                    Value::Array(items)
                })
            }
            _ => None,
        };
        if let Some(value) = done {
            match stack.last_mut() {
                Some((_, items)) => items.push(value),
                None => root = value,
            }
        }
    }
    root
}

/// What `gl-flavors-parse --publish --exclude-category container` prints: for each flavor
/// with `publish: true` (default false) of a target not of category `container`,
/// `{name}-{"-" + features joined by "-" if any}-{arch, default amd64}` with `--` written `-`
/// and `-_` written `_`; sorted, each once.
pub(crate) fn garden_linux_publish(flavors: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for target in flavors["targets"].as_array().expect("targets") {
        if target["category"] == "container" {
            continue;
        }
        let name = target["name"].as_str().expect("name");
        for flavor in target["flavors"].as_array().expect("flavors") {
            if flavor.get("publish") != Some(&Value::Bool(true)) {
                continue;
            }
            let features: Vec<&str> = flavor
                .get("features")
                .and_then(Value::as_array)
                .map(|f| f.iter().map(|s| s.as_str().expect("feature")).collect())
                .unwrap_or_default();
            let formatted = if features.is_empty() {
                String::new()
            } else {
                format!("-{}", features.join("-"))
            };
            let arch = flavor
                .get("arch")
                .and_then(Value::as_str)
                .unwrap_or("amd64");
            names.insert(
                format!("{name}-{formatted}-{arch}")
                    .replace("--", "-")
                    .replace("-_", "_"),
            );
        }
    }
    names
}

fn cnames(flavors: &BTreeSet<String>) -> BTreeSet<String> {
    flavors
        .iter()
        .map(|f| format!("{f}-{VERSION}-{COMMIT_SHORT}"))
        .collect()
}

/// The example copied into `gl/` of a fresh test directory, `flavors` (if given) as its
/// flavors.yaml, and its stand-ins laid by `make standins`.
pub(crate) fn example(flavors: Option<&Value>) -> Test {
    let test = example_without_standins(flavors);
    standins(&test.path("gl"));
    test
}

/// The example copied into `gl/`, `flavors` (if given) as its flavors.yaml: its build
/// outputs not laid.
pub(crate) fn example_without_standins(flavors: Option<&Value>) -> Test {
    let test = Test::new();
    let dir = test.path("gl");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for file in ["flavors.yaml", "release.kdl", "standins.py", "Makefile"] {
        std::fs::copy(
            repo().join("examples/gardenlinux").join(file),
            dir.join(file),
        )
        .expect("copy the example");
    }
    if let Some(flavors) = flavors {
        // JSON is YAML: Garden Linux's parser and glc read it alike.
        std::fs::write(dir.join("flavors.yaml"), flavors.to_string()).expect("write");
    }
    test
}

/// `make standins` in `dir`, with the glc under test.
pub(crate) fn standins(dir: &Path) {
    let output = Command::new("make")
        .arg("-C")
        .arg(dir)
        .arg("standins")
        .arg(format!(
            "GLC={}",
            assert_cmd::cargo::cargo_bin("glc").display()
        ))
        .output()
        .expect("run make");
    assert!(
        output.status.success(),
        "make standins: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn the_flavors() -> Value {
    yaml(
        &std::fs::read_to_string(repo().join("examples/gardenlinux/flavors.yaml"))
            .expect("read flavors.yaml"),
    )
}

fn plan(test: &Test) -> Value {
    let ran = test.test().args(["plan", "--json", "gl/release.kdl"]).run();
    serde_json::from_str(&ran.stdout()).expect("plan --json")
}

fn planned_cnames(plan: &Value) -> Vec<String> {
    plan["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["cname"].as_str().expect("cname").to_owned())
        .collect()
}

#[test]
fn the_example_publishes_what_garden_linux_publishes() {
    let flavors = the_flavors();
    let wanted = cnames(&garden_linux_publish(&flavors));
    assert_eq!(
        wanted.len(),
        71,
        "Garden Linux publishes 71 cloud-image flavors"
    );
    let test = example(None);
    let planned = planned_cnames(&plan(&test));
    assert_eq!(planned.len(), wanted.len(), "each flavor once");
    assert_eq!(planned.into_iter().collect::<BTreeSet<_>>(), wanted);
    // Each flavor names its arch, so no image lacks `architecture`: no warning.
    test.test()
        .args(["check", "--deny-warnings", "gl/release.kdl"])
        .stderr_contains("71 cloud images")
        .run();
}

#[test]
fn an_edit_of_flavors_yaml_changes_the_release() {
    let mut flavors = the_flavors();
    let targets = flavors["targets"].as_array_mut().expect("targets");
    let find = |targets: &[Value], name: &str| {
        targets
            .iter()
            .position(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no target {name}"))
    };
    // A new target.
    targets.push(
        json!({"name": "hetzner", "category": "public-cloud", "flavors": [
        {"features": ["gardener", "_prod"], "arch": "arm64", "build": true, "test": false,
         "test-platform": false, "publish": true}]}),
    );
    // A flag flipped: ali's arm64 flavor published.
    let ali = find(targets, "ali");
    assert_eq!(targets[ali]["flavors"][1]["arch"], "arm64");
    targets[ali]["flavors"][1]["publish"] = Value::Bool(true);
    // A flavor dropped.
    let vmware = find(targets, "vmware");
    let dropped = targets[vmware]["flavors"]
        .as_array_mut()
        .expect("flavors")
        .remove(0);
    assert_eq!(dropped["arch"], "amd64");
    // A new feature.
    let aws = find(targets, "aws");
    targets[aws]["flavors"][0]["features"]
        .as_array_mut()
        .expect("features")
        .push(json!("_newfeat"));

    let before = cnames(&garden_linux_publish(&the_flavors()));
    let wanted = cnames(&garden_linux_publish(&flavors));
    let test = example(Some(&flavors));
    let planned: BTreeSet<String> = planned_cnames(&plan(&test)).into_iter().collect();
    assert_eq!(planned, wanted);
    let added: Vec<&String> = wanted.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&wanted).collect();
    assert_eq!(
        added,
        [
            "ali-gardener_prod-arm64-1877.3-75df9f40",
            "aws-gardener_prod_newfeat-amd64-1877.3-75df9f40",
            "hetzner-gardener_prod-arm64-1877.3-75df9f40",
        ]
    );
    assert_eq!(
        removed,
        [
            "aws-gardener_prod-amd64-1877.3-75df9f40",
            "vmware-gardener_prod-amd64-1877.3-75df9f40",
        ]
    );
    // The stand-ins follow the edit: the edited release builds.
    test.test()
        .args(["build", "-q", "gl/release.kdl", "-o", "out"])
        .run();
}

/// An image's cname, its files by what follows the cname in their names, and the `if` that
/// kept each file, where one did.
type FileSet = (String, BTreeSet<String>, Vec<(String, String)>);

fn file_sets(plan: &Value) -> Vec<FileSet> {
    plan["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|image| {
            let cname = image["cname"].as_str().expect("cname");
            let mut files: Vec<&Value> = vec![&image["rootfs"]];
            files.extend(image["files"].as_array().expect("files"));
            files.extend(
                image["attachments"]
                    .as_array()
                    .expect("attachments")
                    .iter()
                    .map(|a| &a["file"]),
            );
            let mut suffixes = BTreeSet::new();
            let mut conditions = Vec::new();
            for file in files {
                let path = file["path"].as_str().expect("path");
                let name = path.strip_prefix("build/").expect("under build/");
                let suffix = name
                    .strip_prefix(&format!("{cname}."))
                    .unwrap_or_else(|| panic!("{path} is named after its image"));
                suffixes.insert(suffix.to_owned());
                if let Some(condition) = file["if"].as_str() {
                    conditions.push((suffix.to_owned(), condition.to_owned()));
                }
            }
            (cname.to_owned(), suffixes, conditions)
        })
        .collect()
}

#[test]
fn images_of_different_targets_and_features_have_different_files() {
    // Every flavor published and tested: each has both test logs.
    let test = example(Some(&everything_published()));
    let sets = file_sets(&plan(&test));
    let of = |cname: &str| {
        sets.iter()
            .find(|(c, ..)| c == &format!("{cname}-1877.3-75df9f40"))
            .unwrap_or_else(|| panic!("no image {cname}"))
    };
    let every = [
        "tar",
        "raw",
        "release",
        "manifest",
        "requirements",
        "sbom",
        "chroot.test.log",
        "platform.test.log",
    ];
    let with = |more: &[&str]| -> BTreeSet<String> {
        every.iter().chain(more).map(|s| (*s).to_owned()).collect()
    };
    assert_eq!(of("aws-gardener_prod-amd64").1, with(&[]));
    assert_eq!(of("ali-gardener_prod-amd64").1, with(&["qcow2"]));
    assert_eq!(
        of("openstack-gardener_prod-amd64").1,
        with(&["qcow2", "vmdk"])
    );
    assert_eq!(of("azure-gardener_prod-arm64").1, with(&["vhd"]));
    assert_eq!(of("gcp-gardener_prod-amd64").1, with(&["gcpimage.tar.gz"]));
    assert_eq!(of("gdch-gardener_prod-amd64").1, with(&["gcpimage.tar.gz"]));
    assert_eq!(of("vmware-gardener_prod-arm64").1, with(&["ova"]));
    assert_eq!(of("baremetal_pxe-amd64").1, with(&["pxe.tar.gz"]));
    assert_eq!(
        of("kvm-gardener_prod_usi-amd64").1,
        with(&["esp.tar", "uki"])
    );
    let trusted = [
        "secureboot.pk.crt",
        "secureboot.kek.crt",
        "secureboot.db.crt",
        "secureboot.pk.auth",
        "secureboot.kek.auth",
        "secureboot.db.auth",
    ];
    assert_eq!(
        of("kvm-gardener_prod_tpm2_trustedboot-amd64").1,
        with(&trusted)
    );
    let mut aws_trusted = trusted.to_vec();
    aws_trusted.push("secureboot.aws-efivars");
    assert_eq!(
        of("aws-gardener_prod_tpm2_trustedboot-arm64").1,
        with(&aws_trusted)
    );
    // The plan says which condition chose each file; files for every image have none.
    let conditions = &of("openstack-gardener_prod-amd64").2;
    assert!(conditions.contains(&(
        "qcow2".to_owned(),
        "target in ['ali', 'openstack', 'lima']".to_owned()
    )));
    assert!(conditions.contains(&("vmdk".to_owned(), "target == 'openstack'".to_owned())));
    assert!(!conditions.iter().any(|(s, _)| s == "raw" || s == "tar"));
    let shown = test.test().args(["plan", "gl/release.kdl"]).run().stdout();
    assert!(
        shown.contains("build/baremetal_pxe-amd64-1877.3-75df9f40.pxe.tar.gz  if '_pxe' in features or '_bfpxe' in features"),
        "{shown}"
    );
}

/// Every flavor published, so that every kind of file the builder writes is in the release.
pub(crate) fn everything_published() -> Value {
    let mut flavors = the_flavors();
    for target in flavors["targets"].as_array_mut().expect("targets") {
        for flavor in target["flavors"].as_array_mut().expect("flavors") {
            flavor["publish"] = Value::Bool(true);
            flavor["test"] = Value::Bool(true);
            flavor["test-platform"] = Value::Bool(true);
        }
    }
    flavors
}

#[test]
fn every_kind_of_file_has_its_media_type() {
    let test = example(Some(&everything_published()));
    let ran = test
        .test()
        .args(["build", "-q", "gl/release.kdl", "-o", "out"])
        .run();
    let layout = ran.layout("out");
    let release = layout.json(&layout.tag(VERSION));
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for entry in release["manifests"].as_array().expect("manifests") {
        if entry["artifactType"] != "application/io.gardenlinux.image" {
            continue;
        }
        let cname = entry["annotations"]["cname"].as_str().expect("cname");
        let manifest = layout.json(entry);
        for layer in manifest["layers"].as_array().expect("layers") {
            let title = layer["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .expect("title");
            let suffix = title
                .strip_prefix(&format!("{cname}."))
                .expect("named after its image");
            seen.insert((
                suffix.to_owned(),
                layer["mediaType"].as_str().expect("mediaType").to_owned(),
            ));
        }
    }
    // Attachments: their media types as the plan gives them to their manifests.
    let plan = plan(&test);
    for image in plan["images"].as_array().expect("images") {
        let cname = image["cname"].as_str().expect("cname");
        for attachment in image["attachments"].as_array().expect("attachments") {
            let path = attachment["file"]["path"].as_str().expect("path");
            let suffix = path
                .strip_prefix(&format!("build/{cname}."))
                .expect("named after its image");
            seen.insert((
                suffix.to_owned(),
                attachment["file"]["media_type"]
                    .as_str()
                    .expect("media type")
                    .to_owned(),
            ));
        }
    }
    let gl = |s: &str| format!("application/io.gardenlinux.{s}");
    let wanted: BTreeSet<(String, String)> = [
        ("tar", gl("image.archive.format.tar")),
        ("raw", gl("image.archive.format.raw")),
        ("qcow2", gl("image.format.qcow2")),
        ("vhd", gl("image.format.vhd")),
        ("vmdk", gl("image.format.vmdk")),
        ("ova", gl("image.format.ova")),
        ("gcpimage.tar.gz", gl("image.format.gcpimage.tar.gz")),
        ("iso", gl("image.archive.format.iso")),
        ("pxe.tar.gz", gl("image.archive.format.pxe.tar.gz")),
        ("esp.tar", gl("esp.tar")),
        ("uki", gl("uki")),
        ("secureboot.pk.crt", gl("cert.secureboot.pk.crt")),
        ("secureboot.kek.crt", gl("cert.secureboot.kek.crt")),
        ("secureboot.db.crt", gl("cert.secureboot.db.crt")),
        ("secureboot.pk.auth", gl("cert.secureboot.pk.auth")),
        ("secureboot.kek.auth", gl("cert.secureboot.kek.auth")),
        ("secureboot.db.auth", gl("cert.secureboot.db.auth")),
        ("secureboot.aws-efivars", gl("cert.secureboot.aws-efivars")),
        ("release", gl("release")),
        ("manifest", gl("manifest")),
        ("requirements", gl("image.requirements")),
        ("sbom", "application/vnd.cyclonedx+json".to_owned()),
        ("chroot.test.log", gl("io.chroot.test.log")),
        ("platform.test.log", gl("io.platform.test.log")),
    ]
    .into_iter()
    .map(|(s, m)| (s.to_owned(), m))
    .collect();
    assert_eq!(seen, wanted);
    // The root file system is found by its role.
    for image in plan["images"].as_array().expect("images") {
        assert_eq!(image["rootfs"]["role"], "rootfs");
        assert_eq!(
            image["rootfs"]["media_type"],
            gl("image.archive.format.tar")
        );
    }
}

#[test]
fn the_update_tools_lookup_finds_every_published_flavor() {
    let flavors = garden_linux_publish(&the_flavors());
    let test = example(None);
    let ran: Ran = test
        .test()
        .args(["build", "-q", "gl/release.kdl", "-o", "out"])
        .run();
    let layout = ran.layout("out");
    let release = layout.json(&layout.tag(VERSION));
    let manifests = release["manifests"].as_array().expect("manifests");
    for flavor in &flavors {
        // Garden Linux's update tool: the first entry whose `cname` starts with the node's.
        let found = manifests
            .iter()
            .find(|m| {
                m["annotations"]["cname"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(flavor.as_str()))
            })
            .unwrap_or_else(|| panic!("no entry for {flavor}"));
        assert_eq!(
            found["annotations"]["cname"],
            format!("{flavor}-{VERSION}-{COMMIT_SHORT}")
        );
        assert_eq!(found["annotations"]["version"], VERSION);
        // `feature_set` is the build's: what its .release names, not the flavor's features.
        let cname = format!("{flavor}-{VERSION}-{COMMIT_SHORT}");
        let release = std::fs::read_to_string(test.path(format!("gl/build/{cname}.release")))
            .expect("the build's .release");
        let features = release
            .lines()
            .find_map(|l| l.strip_prefix("GARDENLINUX_FEATURES="))
            .expect("GARDENLINUX_FEATURES");
        assert!(features.starts_with("base,server,"), "{features}");
        assert_eq!(found["annotations"]["feature_set"], features);
        let manifest = layout.json(found);
        assert_eq!(manifest["annotations"]["feature_set"], features);
    }
}

#[test]
fn a_malformed_flavors_yaml_is_reported_at_its_line_and_column() {
    let test = example(None);
    let broken = "targets:\n  - name: aws\n    category: public-cloud\n    flavors:\n      - features: [gardener, _prod\n        arch: amd64\n";
    std::fs::write(test.path("gl/flavors.yaml"), broken).expect("write");
    let ran = test
        .test()
        .args(["check", "gl/release.kdl"])
        .status(1)
        .stderr_contains("glc::flavors::syntax")
        .stderr_contains("the flavors file is not valid YAML")
        .run();
    // miette renders the place as `file:line:column`.
    assert!(
        ran.stderr().contains("gl/flavors.yaml:6:13]"),
        "{}",
        ran.stderr()
    );

    let wrong = "targets:\n  - name: aws\n    category: public-cloud\n    flavors:\n      - features: [gardener]\n        publish: yes please\n";
    std::fs::write(test.path("gl/flavors.yaml"), wrong).expect("write");
    let ran = test
        .test()
        .args(["check", "gl/release.kdl"])
        .status(1)
        .stderr_contains("glc::flavors::invalid")
        .stderr_contains("`publish` is `yes please`, not true or false")
        .run();
    assert!(
        ran.stderr().contains("gl/flavors.yaml:6:18]"),
        "{}",
        ran.stderr()
    );
    assert!(
        ran.stderr().contains("publish: yes please"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn parts_of_releases_with_different_flavors_do_not_merge() {
    // The same aws part, from two flavors files that differ elsewhere: glc merge takes parts
    // of one release only, and the release is its file and its flavors.
    let part = |test: &Test| -> Value {
        let ran = test
            .test()
            .args(["plan", "--json", "--only", "aws-*", "gl/release.kdl"])
            .run();
        serde_json::from_str(&ran.stdout()).expect("plan --json")
    };
    let test = example(None);
    let before = part(&test);
    let mut flavors = the_flavors();
    for target in flavors["targets"].as_array_mut().expect("targets") {
        if target["name"] == "vmware" {
            target["flavors"][1]["publish"] = Value::Bool(false);
        }
    }
    std::fs::write(test.path("gl/flavors.yaml"), flavors.to_string()).expect("write");
    let after = part(&test);
    assert_eq!(
        before["images"], after["images"],
        "the aws part is the same"
    );
    assert_ne!(
        before["part"]["release_file"], after["part"]["release_file"],
        "but of another release"
    );
    assert_eq!(
        before["part"]["all_images"].as_array().map(Vec::len),
        Some(71)
    );
    assert_eq!(
        after["part"]["all_images"].as_array().map(Vec::len),
        Some(70)
    );
}
