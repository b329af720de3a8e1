//! `glc copy SRC-REF DST-REPO` against Debian's docker-registry on 127.0.0.1: a release with
//! its signatures, attachments and tags, copied within a registry (every blob mounted, none
//! of its bytes through glc: counted through a proxy) and between two (streamed), byte for
//! byte; killed with SIGKILL and run again; the tag policy; a source that is not there.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::parts::{Counting, first_error, get, json_run, small_release, state};
use crate::push::{big_release, kill_after, push_json, signed_release, spawn_json, summary};
use crate::registry::Registry;
use crate::test::Layout;
use crate::{Ran, Test};

/// The release index's version tag of a layout.
fn version_tag(layout: &Layout) -> String {
    let tags = layout.tags_of("application/io.gardenlinux.release");
    tags.iter()
        .find(|t| t.contains('.'))
        .unwrap_or_else(|| panic!("no version tag among {tags:?}"))
        .clone()
}

fn copy(dir: &Path, source: &str, destination: &str, extra: &[&str], code: i32) -> Ran {
    json_run(
        dir,
        &[&["copy", source, destination][..], extra].concat(),
        code,
    )
}

/// Every tag, document and blob of `a`'s repository is in `b`'s, byte for byte, and no more.
fn assert_same(a: &Registry, b: &Registry, repo_a: &str, repo_b: &str) {
    let (want, got) = (state(a, repo_a), state(b, repo_b));
    assert!(want.len() > 10, "only {} entries", want.len());
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{repo_b} holds other tags, documents or blobs than {repo_a}"
    );
    for (key, bytes) in &want {
        assert!(bytes == &got[key], "{key} differs");
    }
}

#[test]
fn a_release_copied_within_a_registry_is_mounted_and_no_blob_byte_passes_through_glc() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = signed_release(dir.dir());
    push_json(&layout.root, &format!("{}/nightly", registry.host()), &[]);
    let version = version_tag(&layout);
    let proxy = Counting::start(registry.port, false);
    let ran = copy(
        dir.dir(),
        &format!("{}/nightly:{version}", proxy.host()),
        &format!("{}/releases", proxy.host()),
        &[],
        0,
    );
    let summary = summary(&ran.stderr());
    assert_eq!(summary["command"], "copy");
    assert_eq!(summary["same_registry"], true);
    assert!(
        summary["blobs_mounted"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    assert_eq!(summary["blobs_streamed"], 0, "{summary}");
    assert_eq!(summary["blobs_copied"], 0, "{summary}");
    assert_eq!(summary["bytes_uploaded"], 0, "{summary}");
    let requests = proxy.requests();
    let blob_bytes: Vec<&String> = requests
        .iter()
        .filter(|r| {
            (r.starts_with("GET ") && r.contains("/blobs/"))
                || r.starts_with("PATCH ")
                || (r.starts_with("PUT ") && r.contains("/blobs/"))
        })
        .collect();
    assert!(
        blob_bytes.is_empty(),
        "blob bytes went through glc: {blob_bytes:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST ") && r.contains("mount=")),
        "no mount among {requests:?}"
    );
    // Nothing of the release is in the new repository: nothing there is asked for before it
    // is written (a mount, a document and a tag cost one request, as the question would).
    let asked: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("HEAD ") && r.contains("/v2/releases/"))
        .collect();
    assert!(asked.is_empty(), "asked the new repository: {asked:?}");
    let mounts = requests
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("mount="))
        .count();
    assert_eq!(
        u64::try_from(mounts).ok(),
        summary["blobs_mounted"].as_u64(),
        "{summary}"
    );
    assert_same(&registry, &registry, "nightly", "releases");
    // Run again: everything is there, nothing moves.
    let again = summary_of(&copy(
        dir.dir(),
        &format!("{}/nightly:{version}", registry.host()),
        &format!("{}/releases", registry.host()),
        &[],
        0,
    ));
    assert_eq!(again["blobs_mounted"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(again["tags_moved"], 0, "{again}");
}

fn summary_of(ran: &Ran) -> Value {
    summary(&ran.stderr())
}

#[test]
fn a_release_copied_between_two_registries_is_streamed_byte_for_byte() {
    let (Some(a), Some(b)) = (Registry::start(""), Registry::start("")) else {
        return;
    };
    let dir = Test::new();
    let layout = signed_release(dir.dir());
    push_json(&layout.root, &format!("{}/nightly", a.host()), &[]);
    let version = version_tag(&layout);
    let ran = copy(
        dir.dir(),
        &format!("{}/nightly:{version}", a.host()),
        &format!("{}/gardenlinux", b.host()),
        &[],
        0,
    );
    let summary = summary_of(&ran);
    assert_eq!(summary["same_registry"], false);
    assert_eq!(summary["blobs_mounted"], 0, "{summary}");
    let streamed = summary["blobs_streamed"].as_u64().unwrap_or(0);
    assert!(streamed > 0, "{summary}");
    assert_same(&a, &b, "nightly", "gardenlinux");
    // Every tag of the layout went, the release's signature tags with them.
    let (status, body) = get(&b, "/v2/gardenlinux/tags/list");
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_slice(&body).expect("json");
    for tag in layout.tags().keys() {
        assert!(
            listed["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == tag)),
            "{tag} was not copied: {listed}"
        );
    }
}

#[test]
fn a_copy_killed_with_sigkill_is_finished_by_running_it_again() {
    let (Some(a), Some(b)) = (Registry::start(""), Registry::start("")) else {
        return;
    };
    let dir = Test::new();
    let layout = big_release(dir.dir());
    push_json(&layout.root, &format!("{}/nightly", a.host()), &[]);
    let source = format!("{}/nightly:1877.3", a.host());
    let destination = format!("{}/gardenlinux", b.host());
    let args = [
        "copy",
        "--jobs",
        "2",
        "--chunk-size",
        "4194304",
        &source,
        &destination,
    ];
    let deadline = Instant::now() + Duration::from_mins(10);
    let mut killed = 0;
    for delay in [300, 900, 1800] {
        let child = spawn_json(&dir, args, &dir.path(format!("copy-{delay}.log")));
        let status = kill_after(child, Duration::from_millis(delay), deadline);
        if !status.success() {
            killed += 1;
        }
    }
    let ran = copy(
        dir.dir(),
        &source,
        &destination,
        &["--chunk-size", "4194304"],
        0,
    );
    let summary = summary_of(&ran);
    assert_same(&a, &b, "nightly", "gardenlinux");
    if killed > 0 {
        eprintln!("killed {killed} copies; the last run: {summary}");
    }
    // A last run finds everything there.
    let again = summary_of(&copy(dir.dir(), &source, &destination, &[], 0));
    assert_eq!(again["blobs_streamed"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
}

#[test]
fn latest_is_refused_to_move_back_by_a_copy_unless_allowed() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let host = registry.host();
    let push = |version: &str, repository: &str| {
        let layout = small_release(dir.dir(), version);
        json_run(
            dir.dir(),
            &[
                "push",
                &layout.to_string_lossy(),
                &format!("{host}/{repository}"),
            ],
            0,
        );
    };
    push("1877.3", "nightly");
    push("1878.0", "releases");
    let tag = |name: &str| {
        crate::parts::sha256(&get(&registry, &format!("/v2/releases/manifests/{name}")).1)
    };
    let latest = tag("latest");
    let refused = copy(
        dir.dir(),
        &format!("{host}/nightly:1877.3"),
        &format!("{host}/releases"),
        &[],
        1,
    );
    let error = first_error(&refused.stderr());
    assert_eq!(error["code"], "glc::push::older", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("points at release 1878.0; moving it to 1877.3")),
        "{error}"
    );
    assert_eq!(tag("latest"), latest);
    assert_eq!(
        get(&registry, "/v2/releases/manifests/1877.3").0,
        404,
        "nothing was copied"
    );
    let allowed = summary_of(&copy(
        dir.dir(),
        &format!("{host}/nightly:1877.3"),
        &format!("{host}/releases"),
        &["--allow-older"],
        0,
    ));
    assert_eq!(
        allowed["release_tags_moved"],
        serde_json::json!(["1877", "1877.3", "latest"])
    );
    assert_eq!(tag("latest"), tag("1877.3"));
}

#[test]
fn a_source_that_is_not_there_is_said_clearly_and_nothing_is_copied() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let host = registry.host();
    for source in ["nightly:1877.3", "nowhere:1877.3"] {
        let ran = copy(
            dir.dir(),
            &format!("{host}/{source}"),
            &format!("{host}/releases"),
            &[],
            1,
        );
        let error = first_error(&ran.stderr());
        assert_eq!(error["code"], "glc::copy::source", "{error}");
        let (repository, tag) = source.split_once(':').expect("tag");
        assert_eq!(
            error["message"],
            format!(
                "{host}/{repository} has no tag `{tag}` (or no such repository); nothing was copied"
            )
        );
    }
    assert_eq!(get(&registry, "/v2/releases/tags/list").0, 404);
    Test::new()
        .args([
            "copy",
            &format!("{host}/nightly"),
            &format!("{host}/releases"),
        ])
        .status(2)
        .stderr_contains("names no tag: write REGISTRY/REPO:TAG")
        .run();
}

/// Not a copy, but the same registry flows: `glc merge --push` of parts of a release that has
/// files of its own (release notes) gives the full build's release index.
#[test]
fn the_release_s_own_files_are_merged_from_the_parts_in_the_registry() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let text = r#"release "1877.3" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{ version }}"
    metadata {
        file "release-notes.md"
    }
    cloud-images {
        matrix {
            platform "aws" "gcp"
            arch "amd64"
        }
        image "{{ platform }}-{{ arch }}" {
            kernel "k.vmlinuz"
            cmdline "c.cmdline"
            rootfs "r.tar"
        }
    }
}
"#;
    std::fs::write(dir.path("release.kdl"), text).expect("write");
    for (file, bytes) in [
        ("k.vmlinuz", "kernel"),
        ("c.cmdline", "ro"),
        ("r.tar", "rootfs"),
        ("release-notes.md", "# 1877.3\n"),
    ] {
        std::fs::write(dir.path(file), bytes).expect("write");
    }
    let host = registry.host();
    for platform in ["aws", "gcp"] {
        let only = format!("{platform}-*");
        crate::parts::glc(
            dir.dir(),
            &[
                "build",
                "release.kdl",
                "-o",
                platform,
                "--only",
                &only,
                "-q",
            ],
        )
        .run();
        json_run(
            dir.dir(),
            &["push", platform, &format!("{host}/nightly:part-{platform}")],
            0,
        );
    }
    let merged = json_run(
        dir.dir(),
        &[
            "merge",
            "--push",
            &format!("{host}/nightly"),
            &format!("{host}/nightly:part-aws"),
            &format!("{host}/nightly:part-gcp"),
        ],
        0,
    );
    assert_eq!(
        summary(&merged.stderr())["release_tags_moved"],
        serde_json::json!(["1877.3"])
    );
    crate::parts::glc(dir.dir(), &["build", "release.kdl", "-o", "whole", "-q"]).run();
    json_run(dir.dir(), &["push", "whole", &format!("{host}/full")], 0);
    assert_eq!(
        get(&registry, "/v2/nightly/manifests/1877.3").1,
        get(&registry, "/v2/full/manifests/1877.3").1,
        "the merged release is the full build's"
    );
}

#[test]
fn a_copy_within_a_token_auth_registry_mounts_with_a_token_that_may_read_the_source() {
    let dir = Test::new();
    let Some((registry, tokens, _, _)) =
        crate::push::token_registry(&dir, crate::push::Grant::Asked)
    else {
        return;
    };
    let layout = signed_release(dir.dir());
    let version = version_tag(&layout);
    let run = |args: &[&str]| {
        let output = Test::new()
            .args(["--message-format", "json"])
            .args(args)
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env("HOME", "/nonexistent")
            .env("GLC_REGISTRY_HOST", registry.host())
            .env("GLC_REGISTRY_USERNAME", "glc-user")
            .env("GLC_REGISTRY_PASSWORD", "t0ken-s3cret")
            .run();
        summary(&output.stderr())
    };
    let root = layout.root.display().to_string();
    run(&["push", &root, &format!("{}/nightly", registry.host())]);
    let summary = run(&[
        "copy",
        &format!("{}/nightly:{version}", registry.host()),
        &format!("{}/releases", registry.host()),
    ]);
    // The registry asks for `pull` of the source with a mount (one challenge naming two
    // scopes): the token asked for then carries both, and every blob is mounted.
    assert!(
        summary["blobs_mounted"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    assert_eq!(summary["blobs_copied"], 0, "{summary}");
    assert_eq!(summary["bytes_uploaded"], 0, "{summary}");
    let asked = tokens.asked.lock().expect("lock").clone();
    assert!(
        asked.iter().any(|scopes| {
            scopes.iter().any(|s| s == "repository:releases:pull,push")
                && scopes.iter().any(|s| s == "repository:nightly:pull")
        }),
        "no token asked for both repositories: {asked:?}"
    );
}

#[test]
fn copies_of_one_release_into_one_new_repository_at_once_all_finish_with_the_same_state() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = signed_release(dir.dir());
    push_json(&layout.root, &format!("{}/nightly", registry.host()), &[]);
    let source = format!("{}/nightly:{}", registry.host(), version_tag(&layout));
    let destination = format!("{}/releases", registry.host());
    // They write the same blobs' links, documents and tags at the same moments: the
    // registry may briefly read a link another copy is writing as no digest.
    let logs: Vec<_> = (0..4).map(|i| dir.path(format!("copy-{i}.log"))).collect();
    let children: Vec<_> = logs
        .iter()
        .map(|log| spawn_json(&dir, ["copy", &source, &destination], log))
        .collect();
    for (child, log) in children.into_iter().zip(&logs) {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    assert_same(&registry, &registry, "nightly", "releases");
}
