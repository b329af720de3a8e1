//! The commands on the top-level release and on hand-made inputs: exit codes and output.

use std::path::Path;

use crate::{Test, repo};

pub const CNAMES: [&str; 8] = [
    "aws-gardener_prod-amd64-1877.3-75df9f40",
    "aws-gardener_prod-arm64-1877.3-75df9f40",
    "azure-gardener_prod-amd64-1877.3-75df9f40",
    "azure-gardener_prod-arm64-1877.3-75df9f40",
    "gcp-gardener_prod-amd64-1877.3-75df9f40",
    "openstack-gardener_prod-amd64-1877.3-75df9f40",
    "openstack-gardener_prod-arm64-1877.3-75df9f40",
    "baremetal_pxe-amd64-1877.3-75df9f40",
];

fn plan_json(dir: &Path, file: &str) -> serde_json::Value {
    let output = Test::new()
        .current_dir(dir)
        .args(["plan", "--json", file])
        .run();
    serde_json::from_slice(&output.output.stdout).expect("plan is JSON")
}

pub use crate::test::copy_dir;

#[test]
fn the_top_level_release_checks_and_plans_its_eight_cloud_images() {
    let output = Test::new()
        .current_dir(repo())
        .args(["check", "release.kdl"])
        .run();
    assert_eq!(
        output.stderr(),
        "release.kdl: release 1877.3: 8 cloud images, 64 image files, 8 containers, 2 release tags\n"
    );
    let plan = plan_json(&repo(), "release.kdl");
    let cnames: Vec<&str> = plan["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["cname"].as_str().expect("cname"))
        .collect();
    assert_eq!(cnames, CNAMES);
    assert_eq!(plan["tags"], serde_json::json!(["1877.3", "1877"]));
    let pxe = &plan["images"][7];
    assert_eq!(
        pxe["matrix"],
        serde_json::json!({"platform": "baremetal", "features": "_pxe", "arch": "amd64"})
    );
    assert_eq!(
        pxe["files"][0]["media_type"],
        "application/io.gardenlinux.image.archive.format.pxe.tar.gz"
    );
    assert_eq!(
        pxe["kernel"]["media_type"],
        "application/io.gardenlinux.kernel"
    );
    assert_eq!(pxe["kernel"]["size"], 4098);
    assert_eq!(pxe["attachments"][0]["kind"], "test-log");
    assert_eq!(pxe["apt_repository"]["dist"], "1877.3");
    let gcp = &plan["images"][4];
    assert_eq!(
        gcp["files"][0]["media_type"],
        "application/io.gardenlinux.image.format.gcpimage.tar.gz"
    );
    let containers: Vec<(String, String, String)> = plan["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["tag"].as_str().unwrap_or_default().to_owned(),
                c["from"]["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        containers[0],
        ("base".into(), "base-1877.3".into(), "oci-archive".into())
    );
    assert_eq!(
        containers[2],
        (
            "bare-python".into(),
            "bare-python-1877.3".into(),
            "oci-layout".into()
        )
    );
    assert_eq!(plan["containers"][2]["group"], "bare");
    assert_eq!(containers.len(), 8);
    assert_eq!(
        plan["metadata"]["links"][2]["target"],
        "ghcr.io/gardenlinux/gardenlinux-nvidia-installer/driver:1877.3"
    );
}

#[test]
fn the_top_level_release_is_the_reference_release() {
    let reference = repo().join("../shared/design/reference-release.kdl");
    let Ok(reference) = std::fs::read_to_string(&reference) else {
        eprintln!("SKIP: {} is not beside this checkout", reference.display());
        return;
    };
    let ours = std::fs::read_to_string(repo().join("release.kdl")).expect("release.kdl");
    assert_eq!(
        ours, reference,
        "release.kdl must stay a copy of the reference release"
    );
}

#[test]
fn a_verbatim_copy_of_the_reference_compiles_elsewhere_with_its_artifacts() {
    let dir = Test::new();
    let reference = repo().join("../shared/design/reference-release.kdl");
    let source = if reference.is_file() {
        reference
    } else {
        repo().join("release.kdl")
    };
    std::fs::copy(&source, dir.path("reference-release.kdl")).expect("copy");
    copy_dir(&repo().join("artifacts"), &dir.path("artifacts"));
    // From another working directory, by an absolute path.
    let output = Test::new()
        .current_dir(std::env::temp_dir())
        .arg("plan")
        .arg("--json")
        .arg(dir.path("reference-release.kdl"))
        .run();
    let copied: serde_json::Value = serde_json::from_slice(&output.output.stdout).expect("json");
    assert_eq!(
        copied,
        plan_json(&repo(), "release.kdl"),
        "the plan does not depend on where the release lies"
    );
}

#[test]
fn examples_check() {
    for example in ["examples/minimal/release.kdl", "examples/big/release.kdl"] {
        Test::new()
            .current_dir(repo())
            .args(["check", example])
            .run();
    }
    let big = plan_json(&repo(), "examples/big/release.kdl");
    assert_eq!(big["images"].as_array().map(Vec::len), Some(44));
}

#[test]
fn plan_text_lists_every_cname_and_container() {
    let output = Test::new()
        .current_dir(repo())
        .args(["plan", "release.kdl"])
        .run();
    let text = output.stdout();
    assert!(
        text.starts_with("release 1877.3 (commit 75df9f40, created 2025-03-14T08:00:00Z)\n"),
        "{text}"
    );
    for cname in CNAMES {
        assert!(
            text.contains(&format!("\n  {cname}  for ")),
            "{cname} missing from:\n{text}"
        );
    }
    assert!(text.contains("  bare/bare-sapmachine         tag bare-sapmachine-1877.3           from artifacts/containers/bare-sapmachine (oci-layout)\n"), "{text}");
}

#[test]
fn source_date_epoch_wins_over_created() {
    let output = Test::new()
        .current_dir(repo())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["plan", "--json", "release.kdl"])
        .command()
        .output()
        .expect("run glc");
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(plan["release"]["created"], "2023-11-14T22:13:20Z");

    Test::new()
        .current_dir(repo())
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .args(["check", "release.kdl"])
        .status(1)
        .stderr_contains("SOURCE_DATE_EPOCH=\"yesterday\" is not a number")
        .run();
}

#[test]
fn usage_errors_exit_2_and_input_errors_exit_1() {
    Test::new().args(["check"]).status(2).run();
    Test::new().args(["frobnicate"]).status(2).run();
    Test::new()
        .args(["--message-format", "xml", "schema"])
        .status(2)
        .run();

    Test::new()
        .args(["check", "does-not-exist.kdl"])
        .status(1)
        .stderr_contains("cannot read does-not-exist.kdl")
        .run();
}

#[test]
fn a_file_that_is_not_utf8_is_refused_clearly() {
    let dir = Test::new().file("r.kdl", b"release \"1\" {\xff}\n");
    let output = dir.test().args(["check", "r.kdl"]).status(1).run();
    assert_eq!(
        output.stderr(),
        "glc::io\n\n  × r.kdl is not UTF-8 text (invalid byte at offset 13)\n  help: KDL files are UTF-8; convert the file's encoding\n\nglc: 1 error\n"
    );
}

#[test]
fn schema_prints_the_embedded_schema() {
    let output = Test::new().arg("schema").run();
    assert_eq!(
        output.stdout(),
        std::fs::read_to_string(repo().join("schema/release.kdl")).expect("schema")
    );
}

#[test]
fn fmt_reindents_in_place_and_check_reports_without_writing() {
    let dir = Test::new();
    let messy = "// keep me\nrelease \"1\" {\n  commit \"75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\"   \n\n\n\n      created \"2025-03-14T08:00:00Z\" // and me\n  }\n";
    let tidy = "// keep me\nrelease \"1\" {\n    commit \"75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\"\n\n    created \"2025-03-14T08:00:00Z\" // and me\n}\n";
    let file = dir.path("r.kdl");
    std::fs::write(&file, messy).expect("write");

    dir.test()
        .args(["fmt", "--check", "r.kdl"])
        .status(1)
        .stderr_contains("r.kdl is not formatted")
        .run();
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        messy,
        "--check writes nothing"
    );

    dir.test().args(["fmt", "r.kdl"]).run();
    assert_eq!(std::fs::read_to_string(&file).expect("read"), tidy);

    dir.test().args(["fmt", "--check", "r.kdl"]).run();
}

#[test]
fn fmt_leaves_a_file_it_cannot_parse_untouched() {
    let dir = Test::new();
    let broken = "release \"1\" {\n   commit \"x\n";
    std::fs::write(dir.path("r.kdl"), broken).expect("write");
    dir.test()
        .args(["fmt", "r.kdl"])
        .status(1)
        .stderr_contains("glc::parse")
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path("r.kdl")).expect("read"),
        broken
    );
}

#[test]
fn the_repository_release_files_are_formatted() {
    for file in [
        "release.kdl",
        "examples/minimal/release.kdl",
        "examples/big/release.kdl",
        "schema/release.kdl",
    ] {
        Test::new()
            .current_dir(repo())
            .args(["fmt", "--check", file])
            .run();
    }
}

#[test]
fn the_language_reference_is_generated_from_the_schema() {
    let doc = std::fs::read_to_string(repo().join("docs/language.md")).expect("docs/language.md");
    let begin = "<!-- generated by `glc schema --markdown`: do not edit by hand -->\n";
    let end = "<!-- end of generated reference -->";
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let output = Test::new().args(["schema", "--markdown"]).run();
    assert_eq!(
        &doc[start..stop],
        output.stdout(),
        "docs/language.md is stale: regenerate its reference with `glc schema --markdown`"
    );
}
