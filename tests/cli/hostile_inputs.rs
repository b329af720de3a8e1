//! Input files that change, turn into fifos or hide links while glc reads them: every one is
//! a clear error naming the file, exit 1, and no layout (and no staging) left behind.

use std::io::Write;
use std::os::unix::fs::{FileExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::test::{mkfifo, release_kdl};
use crate::{Ran, Test};

/// A release in `dir` whose one image has `rootfs` and, if given, `file` as layers.
pub fn release(dir: &Path, rootfs: &str, file: Option<&str>) -> PathBuf {
    let file = file.map_or_else(String::new, |f| {
        format!("            file \"{f}\" media-type=\"application/octet-stream\"\n")
    });
    let release = dir.join("release.kdl");
    std::fs::write(
        &release,
        release_kdl(&format!(
            "    cloud-images {{\n        matrix {{\n            arch \"amd64\"\n        }}\n        image \"x-{{{{ arch }}}}\" {{\n            rootfs \"{rootfs}\"\n{file}        }}\n    }}\n"
        )),
    )
    .expect("write");
    release
}

/// `size` bytes that differ from one MiB to the next, so that a torn copy shows.
fn pattern(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| {
            let x = (i as u64 ^ u64::from(seed) << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (x >> 56).to_le_bytes()[0]
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Where `pid` reads `path`: the offset of its open file, if it has one.
fn read_offset(pid: u32, path: &Path) -> Option<u64> {
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let Ok(entry) = entry else { continue };
        if std::fs::read_link(entry.path()).ok().as_deref() != Some(path) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            entry.file_name().display()
        ))
        .ok()?;
        return info
            .lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .and_then(|pos| pos.trim().parse().ok());
    }
    None
}

/// Runs glc with `args` in `dir`; once it has read part of `input` (`size` bytes, and at
/// least `margin` of them still unread) runs `act`. Returns glc's output and whether `act` ran
/// while glc was reading. A glc that hangs for a minute is killed and the test fails.
fn while_reading(
    dir: &Test,
    args: &[&str],
    input: &Path,
    size: u64,
    margin: u64,
    act: impl FnOnce(),
) -> (Ran, bool) {
    let input = input.canonicalize().expect("input");
    let mut child = dir
        .test()
        .args(args)
        // One thread: files are staged in the order the release lists them.
        .env("RAYON_NUM_THREADS", "1")
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn glc");
    let mut act = Some(act);
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if let Some(pos) = read_offset(child.id(), &input)
            && pos > 0
            && pos + margin < size
            && let Some(act) = act.take()
        {
            act();
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
        assert!(start.elapsed() < Duration::from_mins(1), "glc never read");
    }
    let acted = act.is_none();
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_mins(1) {
            child.kill().expect("kill");
            let output = child.wait_with_output().expect("wait");
            panic!(
                "glc hung; it printed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (dir.ran(child.wait_with_output().expect("wait")), acted)
}

/// Names in `dir` that a build leaves only while it runs.
fn staging_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".glc-tmp-") || n.contains(".glc-old-"))
        .collect()
}

/// Every blob of a layout by digest.
fn blobs(layout: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| {
            let e = e.expect("entry");
            (
                format!("sha256:{}", e.file_name().to_string_lossy()),
                e.path(),
            )
        })
        .collect()
}

const BIG: usize = 64 << 20;

/// A build of `release.kdl` into `out` that reads every input, with JSON errors.
const BUILD: [&str; 6] = [
    "--message-format=json",
    "build",
    "release.kdl",
    "-o",
    "out",
    "--no-cache",
];

#[test]
fn an_input_rewritten_while_it_is_copied_fails_naming_it() {
    let dir = Test::new();
    let old = pattern(BIG, 1);
    let new = pattern(BIG, 2);
    let (old_digest, new_digest) = (sha256(&old), sha256(&new));
    let mut caught = 0;
    for link in [false, true] {
        for _ in 0..6 {
            std::fs::write(dir.path("disk.raw"), &old).expect("write");
            release(dir.dir(), "disk.raw", None);
            let _ = std::fs::remove_dir_all(dir.path("out"));
            let mut args = BUILD.to_vec();
            if link {
                args.push("--link");
            }
            // The start, read already, and the end, not yet read, are rewritten in place.
            let (output, acted) = while_reading(
                &dir,
                &args,
                &dir.path("disk.raw"),
                BIG as u64,
                8 << 20,
                || {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(dir.path("disk.raw"))
                        .expect("open");
                    file.write_all_at(&new[..1 << 20], 0).expect("write");
                    file.write_all_at(&new[BIG - (1 << 20)..], (BIG - (1 << 20)) as u64)
                        .expect("write");
                    // The whole file is the new one now.
                    file.write_all_at(&new[1 << 20..BIG - (1 << 20)], 1 << 20)
                        .expect("write");
                },
            );
            match output.output.status.code() {
                Some(1) => {
                    let errors = output.json_errors();
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    assert_eq!(errors[0]["code"], "glc::build::input-changed");
                    assert_eq!(errors[0]["message"], "`disk.raw` changed while glc read it");
                    assert_eq!(
                        errors[0]["help"],
                        "build again once whatever writes the file has finished"
                    );
                    assert!(!dir.path("out").exists());
                    assert_eq!(staging_left(dir.dir()), Vec::<String>::new());
                    caught += 1;
                    break;
                }
                Some(0) => {
                    // The change came after glc had read the file: the blob is one file whole.
                    for (digest, path) in blobs(&dir.path("out")) {
                        let size = std::fs::metadata(&path).expect("blob").len();
                        if size == BIG as u64 {
                            assert!(
                                digest == old_digest || digest == new_digest,
                                "the blob of disk.raw matches neither the old file nor the new (acted: {acted}, link: {link})"
                            );
                        }
                    }
                }
                code => panic!("glc exited with {code:?}: {}", output.stderr()),
            }
        }
    }
    assert_eq!(
        caught, 2,
        "a change while reading was caught, copying and linking"
    );
}

/// The bytes of a tar entry header for a setuid-root `evil`, with its data.
fn evil_entry() -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_path("evil").expect("path");
    header.set_size(4);
    header.set_mode(0o4755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend(b"evil");
    bytes.resize(1024, 0);
    bytes
}

#[test]
fn a_file_that_grows_while_its_directory_is_packed_fails_naming_it() {
    let dir = Test::new();
    let tree = dir.path("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    let big = pattern(BIG, 3);
    let mut caught = false;
    for _ in 0..6 {
        std::fs::write(tree.join("big.bin"), &big).expect("write");
        release(dir.dir(), "tree", None);
        let _ = std::fs::remove_dir_all(dir.path("out"));
        let (output, acted) = while_reading(
            &dir,
            &BUILD,
            &tree.join("big.bin"),
            BIG as u64,
            8 << 20,
            || {
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(tree.join("big.bin"))
                    .expect("open");
                file.write_all(&evil_entry()).expect("append");
            },
        );
        match output.output.status.code() {
            Some(1) => {
                let errors = output.json_errors();
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0]["code"], "glc::build::pack");
                assert_eq!(
                    errors[0]["message"],
                    "cannot pack `tree`: `big.bin` changed while glc read it"
                );
                assert!(!dir.path("out").exists());
                assert_eq!(staging_left(dir.dir()), Vec::<String>::new());
                caught = true;
                break;
            }
            Some(0) => {
                // Appended after glc read it: the layer holds the file as it was, and only it.
                for (_, path) in blobs(&dir.path("out")) {
                    let bytes = std::fs::read(&path).expect("blob");
                    if bytes.len() < BIG {
                        continue;
                    }
                    let mut archive = tar::Archive::new(&bytes[..]);
                    let names: Vec<String> = archive
                        .entries()
                        .expect("tar")
                        .map(|e| {
                            e.expect("entry")
                                .path()
                                .expect("path")
                                .display()
                                .to_string()
                        })
                        .collect();
                    assert_eq!(names, ["big.bin"], "acted: {acted}");
                }
            }
            code => panic!("glc exited with {code:?}: {}", output.stderr()),
        }
    }
    assert!(caught, "an append while packing was caught");
}

#[test]
fn links_that_climb_out_through_other_links_are_not_packed() {
    let dir = Test::new();
    let tree = dir.path("tree");
    std::fs::create_dir_all(tree.join("a/b")).expect("mkdir");
    symlink("..", tree.join("a/up")).expect("symlink");
    let target = "../up/a/up/a/up/a/up/../../../../../../../../etc/passwd";
    symlink(target, tree.join("a/b/e")).expect("symlink");
    release(dir.dir(), "tree", None);
    let output = dir
        .test()
        .args(["--message-format=json", "build", "release.kdl", "-o", "out"])
        .status(1)
        .run();
    let errors = output.json_errors();
    assert_eq!(errors[0]["code"], "glc::build::pack");
    assert_eq!(
        errors[0]["message"],
        format!(
            "cannot pack `tree`: the symlink `a/b/e` points outside the directory, to `{target}`"
        )
    );
    assert!(!dir.path("out").exists());

    // Links that stay inside, through other links too, are packed as links.
    std::fs::remove_file(tree.join("a/b/e")).expect("rm");
    symlink("../up/a/up/a/b", tree.join("a/b/e")).expect("symlink");
    dir.test()
        .args(["build", "release.kdl", "-o", "out", "-q"])
        .run();
}

#[test]
fn a_fifo_as_container_source_is_refused_at_once() {
    let dir = Test::new();
    mkfifo(&dir.path("pipe"));
    let output = dir
        .test()
        .release(&release_kdl(
            "    container-images {\n        container \"c\" from=\"pipe\"\n    }\n",
        ))
        .args(["--message-format=json", "check", "release.kdl"])
        // A glc that waits for a writer is killed, and the test fails.
        .bounded()
        .status(1)
        .run();
    let errors = output.json_errors();
    assert_eq!(errors[0]["code"], "glc::resolve::not-oci");
    assert_eq!(
        errors[0]["message"],
        "`pipe` is a fifo, neither an OCI image layout directory nor an OCI archive"
    );
}

#[test]
fn an_input_swapped_for_a_fifo_during_a_build_is_refused_and_leaves_nothing() {
    let dir = Test::new();
    let big = pattern(BIG, 4);
    // `while_reading` runs glc on one thread, so the swapped file is opened after the one read.
    let cases: [(&str, Option<&str>, &str, &str, &str); 2] = [
        (
            "disk.raw",
            Some("late.raw"),
            "disk.raw",
            "late.raw",
            "`late.raw` is a fifo, not a regular file",
        ),
        (
            "tree",
            None,
            "tree/a.bin",
            "tree/b.bin",
            "cannot pack `tree`: `b.bin` is a fifo, not a regular file",
        ),
    ];
    for (rootfs, file, reading, swapped, message) in cases {
        std::fs::create_dir_all(dir.path("tree")).expect("mkdir");
        std::fs::write(dir.path(reading), &big).expect("write");
        let _ = std::fs::remove_file(dir.path(swapped));
        std::fs::write(dir.path(swapped), b"late").expect("write");
        release(dir.dir(), rootfs, file);
        let mut caught = false;
        for _ in 0..6 {
            let _ = std::fs::remove_file(dir.path(swapped));
            std::fs::write(dir.path(swapped), b"late").expect("write");
            let (output, acted) = {
                let swapped = dir.path(swapped);
                // Made aside, outside any packed directory, and renamed over the file: glc
                // opens the one or the other, never a name that is missing for a moment.
                let aside = dir.path("fifo-aside");
                let mut command_args = vec!["--message-format=json", "build", "release.kdl"];
                command_args.extend(["-o", "out", "--no-cache"]);
                while_reading(
                    &dir,
                    &command_args,
                    &dir.path(reading),
                    BIG as u64,
                    8 << 20,
                    move || {
                        mkfifo(&aside);
                        std::fs::rename(&aside, &swapped).expect("rename");
                    },
                )
            };
            if output.output.status.code() == Some(0) && !acted {
                continue;
            }
            assert_eq!(output.output.status.code(), Some(1), "{}", output.stderr());
            let errors = output.json_errors();
            assert_eq!(errors[0]["message"], message);
            assert!(!dir.path("out").exists());
            assert_eq!(staging_left(dir.dir()), Vec::<String>::new());
            caught = true;
            break;
        }
        assert!(caught, "{swapped} was swapped while glc read {reading}");
    }
}

#[test]
fn merge_never_links_a_part_blob_that_is_a_symlink() {
    let dir = Test::new();
    std::fs::write(dir.path("rootfs.tar"), pattern(1 << 16, 5)).expect("write");
    let text = std::fs::read_to_string(release(dir.dir(), "rootfs.tar", None)).expect("read");
    std::fs::write(
        dir.path("release.kdl"),
        text.replace("\"amd64\"", "\"amd64\" \"arm64\""),
    )
    .expect("write");
    for (part, only) in [("p1", "x-amd64"), ("p2", "x-arm64")] {
        dir.test()
            .args(["build", "release.kdl", "-q", "-o", part, "--only", only])
            .run();
    }
    let layer = sha256(&pattern(1 << 16, 5));
    let hex = layer.trim_start_matches("sha256:");
    let blob = dir.path("p1/blobs/sha256").join(hex);
    let outside = dir.path("outside");
    std::fs::copy(&blob, &outside).expect("copy");
    // Beside it in the part, then outside the part: the bytes are right either way.
    let hidden = dir.path("p1/blobs/sha256/.hidden");
    std::fs::copy(&blob, &hidden).expect("copy");
    for target in [Path::new(".hidden"), outside.as_path()] {
        std::fs::remove_file(&blob).expect("rm");
        symlink(target, &blob).expect("symlink");
        let output = dir
            .test()
            .args([
                "--message-format=json",
                "merge",
                "-o",
                "out",
                "p1",
                "p2",
                "--link",
            ])
            .status(1)
            .run();
        let errors = output.json_errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0]["message"],
            format!("`p1`: blob {layer} is a symlink, not a regular file")
        );
        assert_eq!(
            errors[0]["help"],
            "glc never links or copies through a symlink in a layout; put the blob itself in its place"
        );
        assert!(!dir.path("out").exists());
    }
}

/// The one error of a `glc check` or `glc build` in `dir` that must fail, as rendered.
fn rendered(dir: &Test, args: &[&str]) -> String {
    dir.test().args(args).status(1).run().stderr()
}

#[test]
fn a_symlink_loop_is_named_as_one() {
    let dir = Test::new();
    symlink("loop2", dir.path("loop1")).expect("symlink");
    symlink("loop1", dir.path("loop2")).expect("symlink");
    release(dir.dir(), "loop1", None);
    assert_eq!(
        rendered(&dir, &["check", "release.kdl"]),
        "glc::resolve::symlink-loop

  × `loop1` is a symlink loop
    ╭─[release.kdl:9:20]
  8 │         image \"x-{{ arch }}\" {
  9 │             rootfs \"loop1\"
    ·                    ───┬───
    ·                       ╰── the links lead back to themselves for arch=amd64
 10 │         }
    ╰────
  help: `loop1` → `loop2`; point one of the links at the file itself

glc: 1 error in release.kdl
"
    );
}

#[test]
fn an_unreadable_input_says_so_and_not_the_output() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Test::new();
    std::fs::write(dir.path("rootfs.tar"), b"rootfs").expect("write");
    std::fs::set_permissions(
        dir.path("rootfs.tar"),
        std::fs::Permissions::from_mode(0o000),
    )
    .expect("chmod");
    release(dir.dir(), "rootfs.tar", None);
    dir.test()
        .args(["build", "release.kdl", "-o", "out"])
        .unprivileged()
        .status(1)
        .stderr(
            "glc::build::input

  × cannot read `rootfs.tar`: Permission denied (os error 13)
    ╭─[release.kdl:9:20]
  8 │         image \"x-{{ arch }}\" {
  9 │             rootfs \"rootfs.tar\"
    ·                    ──────┬─────
    ·                          ╰── `rootfs.tar`
 10 │         }
    ╰────
  help: make the file readable by the user glc runs as

glc: 1 error in release.kdl
",
        )
        .run();
    assert!(!dir.path("out").exists());
}

/// Bytes a file takes on disk.
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("metadata").blocks() * 512
}

/// A sparse disk image of `size` bytes with 8 KiB of data: at the start, in the middle, and
/// the last byte. `false` (the test skips, loudly) where the filesystem keeps no holes.
pub fn sparse_disk(path: &Path, size: u64) -> bool {
    let file = std::fs::File::create(path).expect("create");
    file.set_len(size).expect("truncate");
    file.write_all_at(&[7u8; 4096], 0).expect("write");
    file.write_all_at(&[9u8; 4095], size / 2).expect("write");
    file.write_all_at(&[1u8], size - 1).expect("write");
    drop(file);
    let holes = allocated(path) < 1 << 20;
    if !holes {
        eprintln!("SKIP: this filesystem does not keep holes");
    }
    holes
}

#[test]
fn sparse_inputs_give_sparse_blobs_with_the_same_digest() {
    const SIZE: u64 = 256 << 20;
    let dir = Test::new();
    let disk = dir.path("disk.raw");
    if !sparse_disk(&disk, SIZE) {
        return;
    }
    let digest = sha256(&std::fs::read(&disk).expect("read"));
    std::fs::write(dir.path("rootfs.tar"), b"rootfs").expect("write");
    let text =
        std::fs::read_to_string(release(dir.dir(), "rootfs.tar", Some("disk.raw"))).expect("read");
    std::fs::write(
        dir.path("release.kdl"),
        text.replace("\"amd64\"", "\"amd64\" \"arm64\""),
    )
    .expect("write");
    let blob_of = |layout: &str| {
        dir.dir()
            .join(layout)
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let run = |args: &[&str]| {
        dir.test().args(args).run();
    };
    run(&["build", "release.kdl", "-q", "--no-cache", "-o", "out"]);
    run(&[
        "build",
        "release.kdl",
        "-q",
        "-o",
        "p1",
        "--only",
        "x-amd64",
    ]);
    run(&[
        "build",
        "release.kdl",
        "-q",
        "-o",
        "p2",
        "--only",
        "x-arm64",
    ]);
    run(&["merge", "-q", "--no-cache", "-o", "merged", "p1", "p2"]);
    for layout in ["out", "p1", "merged"] {
        let blob = blob_of(layout);
        assert_eq!(
            sha256(&std::fs::read(&blob).expect("the blob of disk.raw")),
            digest,
            "{layout}"
        );
        assert!(
            allocated(&blob) < 1 << 20,
            "the blob in {layout} takes {} bytes on disk",
            allocated(&blob)
        );
    }
}

/// Every command that reads a release file, given `release` for it.
fn release_readers(release: &str) -> Vec<Vec<String>> {
    let commands: [&[&str]; 7] = [
        &["check", release],
        &["plan", release],
        &["build", release, "-o", "out"],
        &["fmt", release],
        &["fmt", "--check", release],
        &["merge", "part", "-o", "out", "--release", release],
        &["verify", ".", "--release", release],
    ];
    commands
        .iter()
        .map(|c| c.iter().map(|a| (*a).to_owned()).collect())
        .collect()
}

#[test]
fn a_release_file_that_is_no_regular_file_or_too_large_is_refused_at_once() {
    let dir = Test::new();
    mkfifo(&dir.path("fifo.kdl"));
    std::fs::create_dir(dir.path("dir.kdl")).expect("mkdir");
    symlink("/dev/zero", dir.path("zero.kdl")).expect("symlink");
    // 20 GiB that take no space: refused by its size, never read.
    std::fs::File::create(dir.path("huge.kdl"))
        .and_then(|f| f.set_len(20 << 30))
        .expect("sparse file");
    let cases = [
        ("fifo.kdl", "fifo.kdl is a fifo, not a regular file"),
        ("dir.kdl", "dir.kdl is a directory, not a regular file"),
        (
            "zero.kdl",
            "zero.kdl is a character device, not a regular file",
        ),
        (
            "huge.kdl",
            "huge.kdl is 20 GiB, larger than the 16 MiB glc reads of a release file",
        ),
    ];
    for (file, message) in cases {
        for args in release_readers(file) {
            let ran = dir
                .test()
                .arg("--message-format=json")
                .args(&args)
                .bounded()
                .status(1)
                .run();
            let errors = ran.json_errors();
            assert_eq!(errors.len(), 1, "{args:?}: {errors:?}");
            assert_eq!(errors[0]["message"], message, "{args:?}");
        }
    }
    assert!(!dir.path("out").exists());
}
