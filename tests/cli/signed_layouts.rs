//! A signed layout through the commands that come after signing: `verify --release` expects
//! the signatures of what the release gives, a rebuild says what it drops, and `verify`
//! counts what it checked.

use std::path::Path;

use serde_json::Value;

use crate::Test;
use crate::signing::{is_signature_tag, make_key};
use crate::test::rewrite_index;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The top-level release built into `out` with `--sign-key`, and the key.
fn signed_build() -> (Test, crate::signing::Key) {
    let dir = Test::new().top_level();
    let key = make_key(dir.dir(), "ec", "p256-sec1");
    dir.test()
        .args([
            "build",
            "release/release.kdl",
            "-q",
            "-o",
            "out",
            "--sign-key",
        ])
        .arg(&key.private)
        .run();
    (dir, key)
}

fn signature_tags(layout: &Path) -> Vec<String> {
    crate::test::Layout::open(layout)
        .tags()
        .into_keys()
        .filter(|t| is_signature_tag(t))
        .collect()
}

#[test]
fn verify_release_expects_the_signatures_of_what_the_release_gives() {
    let (dir, key) = signed_build();
    assert!(signature_tags(&dir.path("out")).len() > 10);
    for extra in [&[][..], &["--key", path_str(&key.public)][..]] {
        let ran = dir
            .test()
            .args(["verify", "out", "--release", "release/release.kdl"])
            .args(extra)
            .run();
        assert!(
            ran.stderr().contains(": 0 errors, 0 warnings") && ran.stderr().lines().count() == 1,
            "{}",
            ran.stderr()
        );
    }
}

#[test]
fn verify_release_refuses_a_signature_tag_of_a_document_the_release_does_not_give() {
    let (dir, key) = signed_build();
    let foreign = format!("sha256:{}", "ab".repeat(32));
    let tag = format!("sha256-{}.sig", "ab".repeat(32));
    rewrite_index(&dir.path("out"), |index| {
        let list = index["manifests"].as_array_mut().expect("manifests");
        let mut planted: Value = list
            .iter()
            .find(|d| {
                d["annotations"][REF_NAME]
                    .as_str()
                    .is_some_and(is_signature_tag)
            })
            .expect("a signature")
            .clone();
        planted["annotations"][REF_NAME] = tag.clone().into();
        list.push(planted);
    });
    for extra in [&[][..], &["--key", path_str(&key.public)][..]] {
        dir.test()
            .args(["verify", "out", "--release", "release/release.kdl"])
            .args(extra)
            .status(1)
            .stderr_contains(format!(
                "error: the signature tag `{tag}` signs {foreign}, which is no manifest or index release/release.kdl gives\n    at index.json ({tag})\n"
            ))
            .run();
    }
}

#[test]
fn a_rebuild_without_the_key_says_how_many_signatures_it_drops() {
    let (dir, key) = signed_build();
    let signatures = signature_tags(&dir.path("out")).len();
    let build = || {
        dir.test()
            .args([
                "--message-format=json",
                "build",
                "release/release.kdl",
                "-q",
            ])
            .args(["-o", "out"])
    };
    // With the key, a rebuild keeps the layout signed and says nothing, even when inputs
    // changed and with them the digests signed.
    let again = build().arg("--sign-key").arg(&key.private).run();
    assert_eq!(again.stderr(), "");
    std::fs::write(dir.path("release/artifacts/CHANGELOG.md"), "changed\n").expect("write");
    let changed = build().arg("--sign-key").arg(&key.private).run();
    assert_eq!(changed.stderr(), "");
    let unsigned = build().run();
    let warnings = unsigned.json_errors();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "glc::output::signatures-dropped");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(
        warnings[0]["message"],
        format!(
            "out held {signatures} signatures; written again without --sign-key, it holds none"
        )
    );
    assert!(
        warnings[0]["help"]
            .as_str()
            .is_some_and(|h| h.contains("--sign-key") && h.contains("glc sign out --key")),
        "{warnings:?}"
    );
    assert!(signature_tags(&dir.path("out")).is_empty());
    // Over an unsigned layout there is nothing to drop.
    assert_eq!(build().run().stderr(), "");
}

/// Every file under `root`, by relative path.
fn files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    crate::test::snapshot(root)
}

#[test]
fn verify_is_quiet_after_rebuilds_and_the_rebuilt_graph_is_a_fresh_builds() {
    let dir = Test::new().top_level();
    let build = |out: &str| {
        dir.test()
            .args(["build", "release/release.kdl", "-q", "-o", out])
            .run()
    };
    build("out");
    let changelog = dir.path("release/artifacts/CHANGELOG.md");
    let release = dir.path("release/artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.release");
    for round in 1..=3 {
        let previous = crate::test::Layout::open(&dir.path("out"));
        let mut text = std::fs::read_to_string(&changelog).expect("changelog");
        text.push_str(&format!("\nchange {round}\n"));
        std::fs::write(&changelog, text).expect("write");
        std::fs::write(&release, format!("release round {round}\n")).expect("write");
        build("out");
        let ran = dir.test().args(["verify", "out"]).run();
        let stderr = ran.stderr();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(": 0 errors, 0 warnings; ")
                && stderr.contains(" blobs kept for readers of the replaced index.json\n"),
            "{stderr}"
        );
        // The kept blobs are those only the replaced index.json reached.
        let fresh_dir = format!("fresh-{round}");
        build(&fresh_dir);
        let fresh = files(&dir.path(&fresh_dir));
        let rebuilt = files(&dir.path("out"));
        for (path, bytes) in &fresh {
            assert!(
                rebuilt.get(path) == Some(bytes),
                "{path} differs from a fresh build"
            );
        }
        let kept: Vec<String> = rebuilt
            .keys()
            .filter(|path| !fresh.contains_key(*path) && *path != "glc-kept-blobs")
            .map(|path| path.replace("blobs/sha256/", "sha256:"))
            .collect();
        let record = String::from_utf8(rebuilt["glc-kept-blobs"].clone()).expect("UTF-8");
        assert_eq!(
            record,
            kept.iter().map(|d| d.clone() + "\n").collect::<String>()
        );
        for digest in &kept {
            assert!(
                reaches(&previous, digest),
                "{digest} is kept but the replaced index.json did not reach it"
            );
        }
    }
    // A blob nothing accounts for still is a warning.
    std::fs::write(
        dir.path(format!("out/blobs/sha256/{}", "cd".repeat(32))),
        "x",
    )
    .expect("write");
    dir.test()
        .args(["verify", "out"])
        .stderr_contains(format!(
            "warning: blob sha256:{} is not referenced from index.json",
            "cd".repeat(32)
        ))
        .stderr_contains("0 errors, 1 warning;")
        .run();
}

/// Whether `digest` is reachable from the layout's `index.json`.
fn reaches(layout: &crate::test::Layout, digest: &str) -> bool {
    let mut stack: Vec<Value> = vec![layout.index.clone()];
    while let Some(document) = stack.pop() {
        for key in ["manifests", "layers"] {
            for child in document[key].as_array().into_iter().flatten() {
                if child["digest"] == digest {
                    return true;
                }
                if child["mediaType"].as_str().is_some_and(|t| {
                    t.ends_with("manifest.v1+json") || t.ends_with("index.v1+json")
                }) {
                    stack.push(layout.json(child));
                }
            }
        }
        if document["config"]["digest"] == digest {
            return true;
        }
    }
    false
}

#[test]
fn verify_key_counts_the_signatures_verified_unsigned_and_failed() {
    let (dir, key) = signed_build();
    let other = make_key(dir.dir(), "other", "p256-pkcs8");
    let summary = |public: &Path, status: i32| -> Value {
        let ran = dir
            .test()
            .args(["--message-format=json", "verify", "out", "--key"])
            .arg(public)
            .status(status)
            .run();
        ran.json_errors().pop().expect("a summary")["signatures"].clone()
    };
    let counts = |verified: usize, unsigned: usize, failed: usize| serde_json::json!({"verified": verified, "unsigned": unsigned, "failed": failed});
    assert_eq!(summary(&key.public, 0), counts(23, 0, 0));
    dir.test()
        .args(["verify", "out", "--key"])
        .arg(&key.public)
        .stderr_contains("0 errors, 0 warnings; signatures: 23 verified, 0 unsigned, 0 failed\n")
        .run();
    let report: Value = serde_json::from_str(
        &dir.test()
            .args(["verify", "out", "--json", "--key"])
            .arg(&other.public)
            .status(1)
            .run()
            .stdout(),
    )
    .expect("JSON");
    assert_eq!(report["signatures"], counts(0, 0, 23));
    // One signature tag gone: that subject is unsigned.
    rewrite_index(&dir.path("out"), |index| {
        let list = index["manifests"].as_array_mut().expect("manifests");
        let at = list
            .iter()
            .position(|d| {
                d["annotations"][REF_NAME]
                    .as_str()
                    .is_some_and(is_signature_tag)
            })
            .expect("a signature");
        list.remove(at);
    });
    assert_eq!(summary(&key.public, 0), counts(22, 1, 0));
}

#[test]
fn sign_refuses_an_index_whose_descriptor_misstates_its_size_and_writes_nothing() {
    let dir = Test::new().top_level();
    dir.test()
        .args(["build", "release/release.kdl", "-q", "-o", "out"])
        .run();
    let out = dir.path("out");
    // Both release tags name the release index, one byte longer than it is.
    let mut release = (String::new(), 0);
    rewrite_index(&out, |index| {
        for entry in index["manifests"].as_array_mut().expect("manifests") {
            if entry["artifactType"] == "application/io.gardenlinux.release" {
                let size = entry["size"].as_u64().expect("size") + 1;
                entry["size"] = size.into();
                release = (entry["digest"].as_str().expect("digest").to_owned(), size);
            }
        }
    });
    let before = crate::test::snapshot(&out);
    let key = make_key(dir.dir(), "ec", "p256-sec1");
    let error = dir
        .test()
        .args(["--message-format=json", "sign", "out", "--key"])
        .arg(&key.private)
        .status(1)
        .run()
        .json_error();
    assert_eq!(error["code"], "glc::sign");
    assert_eq!(
        error["message"],
        format!(
            "1877: blob {} has fewer bytes than the {} its descriptor says",
            release.0, release.1
        )
    );
    assert!(crate::test::snapshot(&out) == before, "sign wrote into it");
}
