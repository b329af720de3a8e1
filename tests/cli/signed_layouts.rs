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
            ran.stderr().ends_with("0 errors, 0 warnings\n") && ran.stderr().lines().count() == 1,
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
