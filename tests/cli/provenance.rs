//! `glc verify --release`: a layout checked against the release file and its inputs, which
//! catches what a self-consistent layout cannot show.

use std::path::Path;

use serde_json::Value;

use crate::Test;
use crate::build::copy_release;

const AMD64_RAW: &str = "aws-gardener_prod-amd64-1877.3-75df9f40.raw";
const ARM64_RAW: &str = "aws-gardener_prod-arm64-1877.3-75df9f40.raw";

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
    )
}

fn findings(layout: &Path, release: &Path, code: i32) -> Vec<Value> {
    let output = Test::new()
        .args(["verify", "--json"])
        .arg(layout)
        .arg("--release")
        .arg(release)
        .status(code)
        .run();
    let report: Value = serde_json::from_str(&output.stdout()).expect("json");
    report["findings"].as_array().expect("findings").clone()
}

#[test]
fn a_poisoned_cache_ships_the_wrong_disk_and_verify_release_names_it() {
    let dir = Test::new();
    let release = copy_release(&dir.path("rel"));
    let out = dir.path("out");
    crate::build::builds(&release, &out);
    assert!(findings(&out, &release, 0).is_empty());

    // The cache entry of the amd64 disk names the arm64 disk, a blob of the same size.
    let artifacts = dir.path("rel/artifacts");
    let (amd64, arm64) = (
        sha256(&artifacts.join(AMD64_RAW)),
        sha256(&artifacts.join(ARM64_RAW)),
    );
    assert_eq!(
        std::fs::metadata(artifacts.join(AMD64_RAW))
            .expect("amd64")
            .len(),
        std::fs::metadata(artifacts.join(ARM64_RAW))
            .expect("arm64")
            .len()
    );
    let cache_path = dir.path(".out.glc-cache.json");
    let cache = std::fs::read_to_string(&cache_path).expect("cache");
    assert!(cache.contains(&amd64));
    std::fs::write(&cache_path, cache.replace(&amd64, &arm64)).expect("poison");
    // The rebuild believes the cache, and so writes a layout with the arm64 disk.
    crate::build::builds(&release, &out);
    // The layout is consistent in itself: plain verify finds nothing wrong.
    Test::new().args(["verify"]).arg(&out).run();

    // Verified against the release, the disk is named, and the release manifest that lists
    // its digest.
    let found = findings(&out, &release, 1);
    let errors: Vec<(&str, &str, &str)> = found
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default(),
                f["digest"].as_str().unwrap_or_default(),
                f["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{found:#?}");
    let (path, digest, message) = errors[1];
    assert_eq!(digest, arm64);
    assert_eq!(
        message,
        format!(
            "`{AMD64_RAW}` is {arm64} (4544 bytes) in the layout; {} gives {amd64} (4544 bytes)",
            release.display()
        )
    );
    assert!(
        path.contains("(aws-gardener_prod-amd64-1877.3-75df9f40)")
            && path.ends_with(&format!("layers[3] ({AMD64_RAW})")),
        "{path}"
    );
    assert!(
        errors[0].0.ends_with("layers[2] (release-manifest.json)")
            && errors[0]
                .2
                .starts_with("`release-manifest.json` is sha256:"),
        "{errors:#?}"
    );

    // Derived with the same SOURCE_DATE_EPOCH, a fresh build agrees with the release.
    let fresh = dir.path("fresh");
    Test::new()
        .env("SOURCE_DATE_EPOCH", "1741939200")
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&fresh)
        .arg("--no-cache")
        .run();
    let agrees = Test::new()
        .env("SOURCE_DATE_EPOCH", "1741939200")
        .args(["verify", "--json"])
        .arg(&fresh)
        .arg("--release")
        .arg(&release)
        .run();
    let report: Value = serde_json::from_str(&agrees.stdout()).expect("json");
    assert_eq!(report["findings"], serde_json::json!([]));
}

#[test]
fn verify_release_reports_a_missing_tag_an_extra_tag_and_a_changed_input() {
    let dir = Test::new();
    let release = copy_release(&dir.path("rel"));
    let out = dir.path("out");
    crate::build::builds(&release, &out);
    // The release now says another tag, and one input changed after the build.
    let text = std::fs::read_to_string(&release).expect("read");
    std::fs::write(
        &release,
        text.replace(
            "tag \"{{ version }}\" \"{{ version_major }}\"",
            "tag \"{{ version }}\" \"latest\"",
        ),
    )
    .expect("write");
    let changelog = dir.path("rel/artifacts/CHANGELOG.md");
    std::fs::write(&changelog, "# another changelog\n").expect("write");
    let found = findings(&out, &release, 1);
    let messages: Vec<String> = found
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["path"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let release_name = release.display().to_string();
    let wanted = [
        format!("index.json (latest): the tag `latest` is missing; {release_name} gives it"),
        format!("index.json (1877): the tag `1877` is not one {release_name} gives"),
    ];
    for line in &wanted {
        assert!(messages.contains(line), "{line}\nnot in {messages:#?}");
    }
    let changelog_digest = sha256(&changelog);
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("index.json (1877.3) → manifests[0]")
                && m.contains("→ layers[1] (CHANGELOG.md): `CHANGELOG.md` is sha256:")
                && m.ends_with(&format!("gives {changelog_digest} (20 bytes)"))),
        "{messages:#?}"
    );
}

#[test]
fn merge_release_refuses_a_part_built_from_other_inputs_and_writes_nothing() {
    let dir = Test::new();
    let rel = dir.path("rel");
    copy_release(&rel);
    let run = |args: &[&str], code: i32| {
        Test::new()
            .args(["--message-format", "json"])
            .current_dir(&rel)
            .args(args)
            .status(code)
            .run()
    };
    // The aws part is built while the amd64 disk had other bytes, then the disk is restored:
    // the part is consistent in itself, and verifies.
    let disk = rel.join("artifacts").join(AMD64_RAW);
    let original = std::fs::read(&disk).expect("read");
    let mut other = original.clone();
    other[100] ^= 0xff;
    std::fs::write(&disk, &other).expect("write");
    run(
        &["build", "release.kdl", "-o", "p1", "-q", "--only", "aws-*"],
        0,
    );
    std::fs::write(&disk, &original).expect("write");
    run(
        &[
            "build",
            "release.kdl",
            "-o",
            "p2",
            "-q",
            "--only",
            "{azure,gcp,openstack,baremetal}*",
            "--only",
            "bare",
            "--only",
            "base",
            "--only",
            "*-build",
            "--only",
            "debian-snapshot",
        ],
        0,
    );
    run(&["verify", "p1"], 0);

    // Without --release the merge believes the part; with it, the merge is refused.
    run(&["merge", "-o", "believed", "p1", "p2", "-q"], 0);
    let refused = run(
        &["merge", "-o", "out", "p1", "p2", "--release", "release.kdl"],
        1,
    );
    let error = refused.json_error();
    assert_eq!(error["code"], "glc::merge::not-the-release");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.starts_with("the parts do not give the layout release.kdl gives: ")
            && message.contains("`aws-gardener_prod-amd64-1877.3-75df9f40` is sha256:")
            && message.contains("`1877.3` is sha256:")
            && !message.contains("`aws-gardener_prod-arm64"),
        "{message}"
    );
    assert!(
        !rel.join("out").exists(),
        "a refused merge wrote its output"
    );

    // With a part built from the right inputs the same merge goes through, and is the build.
    run(
        &["build", "release.kdl", "-o", "p1", "-q", "--only", "aws-*"],
        0,
    );
    run(
        &[
            "merge",
            "-o",
            "out",
            "p1",
            "p2",
            "--release",
            "release.kdl",
            "-q",
        ],
        0,
    );
    run(&["build", "release.kdl", "-o", "full", "-q"], 0);
    assert!(crate::build::snapshot(&rel.join("out")) == crate::build::snapshot(&rel.join("full")));
}
