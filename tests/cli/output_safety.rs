//! Users' files come first: an output never overlaps an input, nothing is written through a
//! link, a layout that holds other files is not replaced, and a reader of a layout being
//! rebuilt always finds every blob its `index.json` names.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::build::{build, copy_release, snapshot};
use crate::{Ran, Test};

/// `glc` whose messages are JSON lines, so that tests read them unwrapped.
fn glc_json() -> Test {
    Test::new().args(["--message-format", "json"])
}

/// Every message and help glc printed as JSON lines, one a line.
fn messages(output: &Ran) -> String {
    output
        .stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|d| {
            format!(
                "{} | {}",
                d["message"].as_str().unwrap_or(""),
                d["help"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file under `root`, with its bytes (links as their target), for "nothing changed".
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let name = e.path().display().to_string();
            let bytes = if e.path_is_symlink() {
                std::fs::read_link(e.path())
                    .expect("readlink")
                    .display()
                    .to_string()
                    .into_bytes()
            } else if e.file_type().is_file() {
                std::fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn an_output_that_is_holds_or_lies_inside_an_input_is_refused_even_with_force() {
    let dir = Test::new();
    let rel = dir.path("rel");
    copy_release(&rel);
    // A packed directory input, for an output inside it.
    std::fs::create_dir_all(rel.join("data/sub")).expect("mkdir");
    std::fs::write(rel.join("data/sub/file"), "data").expect("write");
    let text = std::fs::read_to_string(rel.join("release.kdl")).expect("read");
    let text = text.replacen(
        "file \"{{ build }}/{{ cname }}.manifest\"",
        "file \"{{ build }}/{{ cname }}.manifest\"\n            file \"data\" media-type=\"application/io.gardenlinux.image.archive.format.tar\"",
        1,
    );
    std::fs::write(rel.join("release.kdl"), text).expect("write");
    Test::new()
        .current_dir(&rel)
        .args(["check", "release.kdl"])
        .run();
    let before = tree(dir.dir());
    for (output, says) in [
        (
            "../rel",
            "the output ../rel holds the release file release.kdl",
        ),
        (".", "the output . holds the release file release.kdl"),
        (
            "artifacts",
            "the output artifacts holds the input `artifacts/CHANGELOG.md`",
        ),
        (
            "artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.raw",
            "the output artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.raw is the input `artifacts/aws-gardener_prod-amd64-1877.3-75df9f40.raw`",
        ),
        (
            "data/out",
            "the output data/out lies inside the input `data`",
        ),
        (
            "artifacts/containers/base.oci",
            "the output artifacts/containers/base.oci is the input `artifacts/containers/base.oci`",
        ),
        (
            "release.kdl",
            "the output release.kdl is the release file release.kdl",
        ),
    ] {
        for force in [false, true] {
            let mut command =
                glc_json()
                    .current_dir(&rel)
                    .args(["build", "release.kdl", "-o", output]);
            if force {
                command = command.arg("--force");
            }
            let refused = command.status(2).run();
            let message = messages(&refused);
            assert!(message.contains(says), "-o {output}: {message}");
            assert!(
                message.contains("--force does not change this"),
                "{message}"
            );
        }
    }
    assert!(tree(dir.dir()) == before, "a refused build changed files");
}

#[test]
fn a_link_where_glc_keeps_its_lock_is_not_written_through() {
    let dir = Test::new();
    let release = copy_release(&dir.path("rel"));
    let victim = dir.path("victim");
    std::fs::write(&victim, "precious").expect("write");
    let lock = dir.path(".out.glc-lock");
    std::os::unix::fs::symlink(&victim, &lock).expect("symlink");
    let refused = glc_json()
        .args(["build"])
        .arg(&release)
        .arg("-o")
        .arg(dir.path("out"))
        .status(1)
        .run();
    let message = messages(&refused);
    assert!(
        message.contains(".out.glc-lock is a symbolic link, where glc keeps the lock of its output; glc never writes through a link"),
        "{message}"
    );
    assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
    assert!(std::fs::symlink_metadata(&lock).expect("lock").is_symlink());
    assert!(!dir.path("out").exists());

    // A FIFO in its place is refused too, without waiting on it.
    std::fs::remove_file(&lock).expect("rm");
    crate::test::mkfifo(&lock);
    let refused = glc_json()
        .args(["build"])
        .arg(&release)
        .arg("-o")
        .arg(dir.path("out"))
        .bounded()
        .status(1)
        .run();
    assert!(
        messages(&refused).contains(".out.glc-lock is a fifo, where glc keeps the lock"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_layout_that_holds_a_users_file_is_not_replaced_and_no_lock_is_left_behind() {
    let dir = Test::new();
    let release = copy_release(&dir.path("rel"));
    let out = dir.path("out");
    crate::build::builds(&release, &out);
    std::fs::write(out.join("NOTES.md"), "my notes").expect("write");
    // A change, so that the rebuild has something to write.
    let epoch = |e: &str| {
        glc_json()
            .env("SOURCE_DATE_EPOCH", e)
            .arg("build")
            .arg(&release)
            .arg("-o")
            .arg(&out)
            .status(1)
            .run()
    };
    let before = snapshot(&out);
    let refused = epoch("1700000000");
    assert!(
        messages(&refused).contains(
            "out is not a layout glc wrote: it holds `NOTES.md`, which glc does not write"
        ),
        "{}",
        refused.stderr()
    );
    assert!(snapshot(&out) == before, "the layout changed");

    // A file among the blobs is no blob of glc's either.
    std::fs::remove_file(out.join("NOTES.md")).expect("rm");
    std::fs::write(out.join("blobs/sha256/README"), "mine").expect("write");
    let refused = epoch("1700000000");
    assert!(
        messages(&refused).contains("it holds `blobs/sha256/README`, which glc does not write"),
        "{}",
        refused.stderr()
    );

    // A directory whose index.json merely carries glc's marker is not glc's.
    let foreign = dir.path("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::copy(out.join("index.json"), foreign.join("index.json")).expect("copy");
    std::fs::write(foreign.join("thesis.tex"), "years of work").expect("write");
    let refused = glc_json()
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&foreign)
        .status(1)
        .run();
    assert!(
        messages(&refused).contains("it holds `thesis.tex`, which glc does not write"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        std::fs::read(foreign.join("thesis.tex")).expect("kept"),
        b"years of work"
    );

    // With --force the user asked for it.
    let forced = Test::new()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .run();
    assert!(
        !out.join("blobs/sha256/README").exists(),
        "{}",
        forced.stderr()
    );

    // Refused or not, no build leaves its lock file.
    let leftover: Vec<String> = std::fs::read_dir(dir.dir())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".glc-lock"))
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
}

#[test]
fn a_reader_of_a_layout_being_rebuilt_always_finds_every_blob() {
    let dir = Test::new();
    let release = copy_release(&dir.path("rel"));
    let out = dir.path("out");
    build(&release, &out);
    let done = AtomicBool::new(false);
    let (reads, failures) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0u32;
            let mut failures = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let output = Test::new()
                    .command()
                    .args(["verify", "--json"])
                    .arg(&out)
                    .output()
                    .expect("run verify");
                reads += 1;
                if output.status.code() != Some(0) {
                    failures.push(String::from_utf8_lossy(&output.stdout).into_owned());
                }
            }
            (reads, failures)
        });
        // Every rebuild changes every manifest (their `created`), and so drops the blobs of
        // the layout before.
        for i in 0..24 {
            let output = Test::new()
                .command()
                .env("SOURCE_DATE_EPOCH", (1_700_000_000 + i).to_string())
                .args(["build", "-q"])
                .arg(&release)
                .arg("-o")
                .arg(&out)
                .output()
                .expect("run build");
            assert_eq!(output.status.code(), Some(0));
        }
        done.store(true, Ordering::Relaxed);
        reader.join().expect("reader")
    });
    assert!(reads >= 10, "only {reads} reads during the rebuilds");
    assert!(
        failures.is_empty(),
        "{} of {reads} reads saw an incomplete layout:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Blobs of older layouts do not pile up: only the last two index.json's blobs remain.
    let blobs = std::fs::read_dir(out.join("blobs/sha256"))
        .expect("list")
        .count();
    let fresh = dir.path("fresh");
    Test::new()
        .env("SOURCE_DATE_EPOCH", "1700000023")
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&fresh)
        .run();
    let needed = std::fs::read_dir(fresh.join("blobs/sha256"))
        .expect("list")
        .count();
    assert!(
        blobs < needed * 2,
        "{blobs} blobs in the layout, {needed} in a fresh build"
    );
    assert!(snapshot(&fresh).get("index.json") == snapshot(&out).get("index.json"));
}
