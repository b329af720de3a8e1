//! Progress where stderr is a pipe or a log: plain lines, labelled, with the bytes counted
//! inside a blob, at most every `GLC_PROGRESS_INTERVAL_MS` (10 s by default, so a short run
//! prints none). The tests set the interval to 0: a line at every step, one thread a step.

use std::path::Path;

use crate::Test;
use crate::push::stand_in;
use crate::registry::Registry;

/// A release of one image: a 1 MiB kernel and a 3 MiB rootfs (three 1 MiB chunks).
fn release(dir: &Path) {
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    std::fs::write(
        dir.join("release.kdl"),
        r#"release "1877.3" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{ version }}"
    cloud-images {
        matrix {
            platform "aws"
            arch "amd64"
        }
        image "{{ platform }}-{{ arch }}" {
            kernel "artifacts/{{ cname }}.vmlinuz"
            cmdline "artifacts/{{ cname }}.cmdline"
            rootfs "artifacts/{{ cname }}.tar"
        }
    }
}
"#,
    )
    .expect("release.kdl");
    std::fs::write(artifacts.join("aws-amd64.vmlinuz"), stand_in(7, 1 << 20)).expect("kernel");
    std::fs::write(artifacts.join("aws-amd64.tar"), stand_in(8, 3 << 20)).expect("rootfs");
    std::fs::write(artifacts.join("aws-amd64.cmdline"), "ro\n").expect("cmdline");
}

/// glc in `dir`, with no credentials from the environment, human messages on a pipe.
fn glc(dir: &Test, interval: Option<&str>) -> Test {
    let test = dir
        .test()
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
        // One thread a step: every step prints its line, the last one last.
        .env("RAYON_NUM_THREADS", "1");
    match interval {
        Some(ms) => test.env("GLC_PROGRESS_INTERVAL_MS", ms),
        None => test.env_remove("GLC_PROGRESS_INTERVAL_MS"),
    }
}

/// A plain progress line, as written: "push: 1.00 MiB of 4.00 MiB, 1 of 3 blobs, 9 MiB/s".
#[derive(Debug, PartialEq)]
struct Line {
    done: String,
    total: String,
    items: (u64, u64),
}

/// The progress lines of `label` counting `noun` in `stderr`; every such line is whole.
fn lines(stderr: &str, label: &str, noun: &str) -> Vec<Line> {
    let prefix = format!("{label}: ");
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let parts: Vec<&str> = rest.split(", ").collect();
            let bytes = parts[0].split_once(" of ");
            let items = parts
                .get(1)
                .and_then(|p| p.strip_suffix(&format!(" {noun}")))
                .and_then(|p| p.split_once(" of "));
            let (Some((done, total)), Some((n, of))) = (bytes, items) else {
                panic!("not a progress line: {rest}");
            };
            assert!(
                parts.get(2).is_some_and(|rate| rate.ends_with("B/s")),
                "no rate: {rest}"
            );
            Line {
                done: done.to_owned(),
                total: total.to_owned(),
                items: (n.parse().expect("items"), of.parse().expect("items")),
            }
        })
        .collect()
}

/// Lines that end done, and bytes that move while an item is under way.
fn assert_counted(lines: &[Line], total: &str, what: &str) {
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("{what}: no progress line"));
    assert_eq!(last.done, total, "{what}: {lines:?}");
    assert_eq!(last.total, total, "{what}: {lines:?}");
    assert_eq!(last.items.0, last.items.1, "{what}: {lines:?}");
    assert!(
        lines
            .windows(2)
            .any(|w| w[0].items == w[1].items && w[0].done != w[1].done),
        "{what}: the bytes do not move inside an item: {lines:?}"
    );
}

#[test]
fn a_piped_build_push_and_pull_print_labelled_lines_with_the_bytes_inside_a_blob() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    release(dir.dir());
    let now = Some("0");

    let built = glc(&dir, now)
        .args(["build", "release.kdl", "-o", "out"])
        .run();
    assert_counted(
        &lines(&built.stderr(), "build", "files"),
        "4.00 MiB",
        "build",
    );

    let destination = format!("{}/progress", registry.host());
    let pushed = glc(&dir, now)
        .args(["push", "out", &destination, "--jobs", "1"])
        .args(["--chunk-size", &(1 << 20).to_string()])
        .run();
    assert_counted(
        &lines(&pushed.stderr(), "push", "blobs"),
        "4.00 MiB",
        "push",
    );

    let pulled = glc(&dir, now)
        .args(["pull", &format!("{destination}:1877.3"), "-o", "mirror"])
        .args(["--jobs", "1"])
        .run();
    assert_counted(
        &lines(&pulled.stderr(), "pull", "blobs"),
        "4.00 MiB",
        "pull",
    );

    // JSON mode: every line of stderr is JSON, whatever the interval.
    let json = glc(&dir, now)
        .args(["--message-format", "json", "push", "out", &destination])
        .args(["--tag", "1877.3"])
        .run();
    for line in json.stderr().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

#[test]
fn a_short_run_prints_no_progress_line() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    release(dir.dir());
    let built = glc(&dir, None)
        .args(["build", "release.kdl", "-o", "out"])
        .run();
    let destination = format!("{}/progress", registry.host());
    let pushed = glc(&dir, None).args(["push", "out", &destination]).run();
    let pulled = glc(&dir, None)
        .args(["pull", &format!("{destination}:1877.3"), "-o", "mirror"])
        .run();
    for (ran, label) in [(built, "build"), (pushed, "push"), (pulled, "pull")] {
        let stderr = ran.stderr();
        assert!(
            !stderr.lines().any(|l| l.starts_with(&format!("{label}: "))),
            "{label}: a progress line in a short run:\n{stderr}"
        );
        assert!(!stderr.is_empty(), "{label}: no summary");
    }
}
