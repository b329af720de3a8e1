//! Killed builds, full disks, racing builds, hostile paths and hostile container sources:
//! the target is always the old layout or the new one, whole, and errors are clear.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::build::{Layout, builds};
use crate::test::rewrite_index;
use crate::{Test, stderr};

/// A one-image release with a `size`-byte disk image whose last byte is `variant`.
fn big_release(dir: &Path, size: usize, variant: u8) -> PathBuf {
    std::fs::create_dir_all(dir.join("files")).expect("mkdir");
    let mut image = vec![0u8; size];
    for (i, byte) in image.iter_mut().enumerate() {
        *byte = (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0];
    }
    image[size - 1] = variant;
    std::fs::write(dir.join("files/disk.raw"), image).expect("write");
    std::fs::write(dir.join("files/rootfs.tar"), vec![variant; 4096]).expect("write");
    let release = dir.join("release.kdl");
    std::fs::write(
        &release,
        r#"release "1877.3" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{ version }}"
    cloud-images {
        matrix {
            arch "amd64"
        }
        image "kvm-{{ arch }}" {
            rootfs "files/rootfs.tar"
            file "files/disk.raw"
        }
    }
}
"#,
    )
    .expect("write");
    release
}

fn verify_ok(layout: &Path) {
    Test::new().arg("verify").arg(layout).run();
}

fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".glc-tmp-") || n.contains(".glc-old-"))
        .collect()
}

#[test]
fn a_build_killed_at_any_moment_leaves_the_old_layout_or_the_new_one() {
    let dir = Test::new();
    let old_release = big_release(&dir.path("old"), 24 << 20, 1);
    let new_release = big_release(&dir.path("new"), 24 << 20, 2);
    let out = dir.path("out");
    // The two layouts a killed build may leave.
    let reference = dir.path("reference-new");
    builds(&new_release, &reference);
    let new_index = std::fs::read(reference.join("index.json")).expect("index");
    let started = Instant::now();
    builds(&old_release, &out);
    let full = started.elapsed();
    let old_index = std::fs::read(out.join("index.json")).expect("index");
    assert_ne!(old_index, new_index);

    let kills = 40;
    let (mut saw_old, mut saw_new) = (0, 0);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..kills {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Anywhere from at once to a little past a whole build.
        let delay = full * u32::try_from(seed % 1200).unwrap_or(0) / 1000;
        let mut child = dir
            .test()
            .command()
            .arg("build")
            .arg(&new_release)
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn glc");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let index = std::fs::read(out.join("index.json")).expect("the target always has a layout");
        if index == old_index {
            saw_old += 1;
        } else {
            assert_eq!(
                index, new_index,
                "the target is neither the old layout nor the new one"
            );
            saw_new += 1;
        }
        verify_ok(&out);
        // Put the old layout back for the next round.
        if index == new_index {
            builds(&old_release, &out);
        }
    }
    assert!(saw_old > 0, "no kill landed before the swap");
    eprintln!(
        "reliability: {kills} kills: {saw_old} left the old layout, {saw_new} the new one; every one verified"
    );
    // The next build cleans what killed builds left.
    builds(&new_release, &out);
    assert_eq!(leftovers(dir.dir()), Vec::<String>::new());
    assert_eq!(
        std::fs::read(out.join("index.json")).expect("index"),
        new_index
    );
}

/// A small tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            Some(Self(at.to_path_buf()))
        } else {
            eprintln!(
                "SKIP: cannot mount a tmpfs here (needs root); the full-disk test did not run"
            );
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_clearly_and_keeps_the_previous_layout() {
    let dir = Test::new();
    let Some(disk) = Tmpfs::mount(&dir.path("disk"), "6m") else {
        return;
    };
    let out = disk.0.join("out");
    let small = big_release(&dir.path("small"), 1 << 20, 1);
    builds(&small, &out);
    let before = std::fs::read(out.join("index.json")).expect("index");
    let large = big_release(&dir.path("large"), 8 << 20, 2);
    let output = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(&large)
        .arg("-o")
        .arg(&out)
        .status(1)
        .run();
    let error = output.json_error();
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("No space left on device")),
        "{error}"
    );
    assert_eq!(
        std::fs::read(out.join("index.json")).expect("index"),
        before
    );
    verify_ok(&out);
    assert_eq!(
        leftovers(&disk.0),
        Vec::<String>::new(),
        "temporary files removed"
    );
}

#[test]
fn two_builds_into_one_target_take_turns() {
    let dir = Test::new();
    let release = big_release(&dir.path("r"), 24 << 20, 7);
    let out = dir.path("out");
    let spawn = || {
        dir.test()
            .command()
            .arg("build")
            .arg(&release)
            .arg("-o")
            .arg(&out)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (one, two) = (spawn(), spawn());
    let (one, two) = (
        one.wait_with_output().expect("wait"),
        two.wait_with_output().expect("wait"),
    );
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    verify_ok(&out);
    assert_eq!(leftovers(dir.dir()), Vec::<String>::new());
    let waited = [&one, &two]
        .iter()
        .filter(|o| stderr(o).contains("glc: waiting for the build (pid "))
        .count();
    assert!(waited <= 1, "at most one build waits for the other");
}

#[test]
fn a_build_into_a_locked_target_waits_and_says_for_whom() {
    use std::io::BufRead;
    let dir = Test::new();
    let release = crate::build::copy_release(&dir.path("r"));
    let lock = dir.path(".out.glc-lock");
    let out = dir.path("out");
    // Another holder of the lock (util-linux flock(1)), which says who it is as glc does,
    // and holds it until the test closes its stdin: no timing, whatever the machine's load.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", "echo 4242 > \"$0\"; cat > /dev/null"])
        .arg(&lock)
        .stdin(Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux");
    while std::fs::read_to_string(&lock).map_or(true, |s| s.trim() != "4242") {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut glc = Test::new()
        .arg("build")
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start glc");
    let mut stderr = std::io::BufReader::new(glc.stderr.take().expect("piped"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("read stderr");
    assert_eq!(
        first,
        format!(
            "glc: waiting for the build (pid 4242) that is writing {}\n",
            out.display()
        )
    );
    // It waits for the holder rather than writing beside it.
    assert!(!out.exists(), "glc wrote while another held the lock");
    assert!(glc.try_wait().expect("wait").is_none(), "glc did not wait");
    drop(holder.stdin.take());
    assert!(holder.wait().expect("wait").success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
    assert!(glc.wait().expect("wait").success(), "{rest}");
    verify_ok(&out);
}

#[test]
fn nothing_is_written_outside_the_targets_parent() {
    let dir = Test::new();
    let release = big_release(&dir.path("release"), 4096, 1);
    let parent = dir.path("parent");
    std::fs::create_dir(&parent).expect("mkdir");
    let listing = |p: &Path| -> Vec<String> {
        let mut names: Vec<String> = walkdir::WalkDir::new(p)
            .into_iter()
            .map(|e| e.expect("walk").path().display().to_string())
            .collect();
        names.sort();
        names
    };
    let release_before = listing(&dir.path("release"));
    builds(&release, &parent.join("out"));
    let mut top: Vec<String> = std::fs::read_dir(dir.dir())
        .expect("list")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["parent", "release"]);
    let mut beside: Vec<String> = std::fs::read_dir(&parent)
        .expect("list")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    // The lock is removed with the build that held it.
    assert_eq!(beside, [".out.glc-cache.json", "out"]);
    assert_eq!(
        listing(&dir.path("release")),
        release_before,
        "the release directory is only read"
    );
}

/// A release file in `dir` with the given children of `release`, after commit and created.
fn write_release(dir: &Path, body: &str) -> PathBuf {
    let release = dir.join("release.kdl");
    std::fs::write(&release, crate::test::release_kdl(body)).expect("write");
    release
}

fn release_with_file(dir: &Path, path: &str) -> PathBuf {
    std::fs::write(dir.join("rootfs.tar"), b"rootfs").expect("write");
    write_release(
        dir,
        &format!(
            "    cloud-images {{\n        matrix {{\n            arch \"amd64\"\n        }}\n        image \"x-{{{{ arch }}}}\" {{\n            rootfs \"rootfs.tar\"\n            file \"{path}\" media-type=\"application/octet-stream\"\n        }}\n    }}\n"
        ),
    )
}

/// The JSON errors of `glc check` on a release that must fail.
fn check_errors(release: &Path) -> Vec<Value> {
    let output = Test::new()
        .args(["--message-format", "json", "check"])
        .arg(release)
        .status(1)
        .run();
    output.json_errors()
}

#[test]
fn fifos_and_devices_are_refused() {
    let dir = Test::new();
    crate::test::mkfifo(&dir.path("pipe"));
    let release = release_with_file(dir.dir(), "pipe");
    let errors = check_errors(&release);
    assert_eq!(errors[0]["code"], "glc::resolve::not-a-file");
    assert_eq!(
        errors[0]["message"],
        "`pipe` is neither a regular file nor a directory"
    );
    assert_eq!(errors[0]["line"], 10);

    if Command::new("mknod")
        .arg(dir.path("null"))
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        let release = release_with_file(dir.dir(), "null");
        assert_eq!(
            check_errors(&release)[0]["code"],
            "glc::resolve::not-a-file"
        );
    } else {
        eprintln!("SKIP: cannot make a device node here (needs root); fifos were tested");
    }
}

#[test]
fn directories_with_links_out_or_fifos_inside_are_not_packed() {
    let dir = Test::new();
    let tree = dir.path("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    std::fs::write(tree.join("ok.txt"), "ok").expect("write");
    std::os::unix::fs::symlink("../../../etc/passwd", tree.join("passwd")).expect("symlink");
    let release = release_with_file(dir.dir(), "tree");
    let errors = build_errors(&release, &dir.path("out"));
    assert_eq!(errors[0]["code"], "glc::build::pack");
    assert_eq!(
        errors[0]["message"],
        "cannot pack `tree`: the symlink `passwd` points outside the directory, to `../../../etc/passwd`"
    );
    assert_eq!(errors[0]["line"], 10);
    assert!(!dir.path("out").exists());

    std::fs::remove_file(tree.join("passwd")).expect("rm");
    crate::test::mkfifo(&tree.join("pipe"));
    assert_eq!(
        build_errors(&release, &dir.path("out"))[0]["message"],
        "cannot pack `tree`: `pipe` is a device, fifo or socket"
    );
}

#[test]
fn names_that_are_not_utf8_inside_a_packed_directory_are_kept_as_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let dir = Test::new();
    let tree = dir.path("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(tree.join(name), "latin-1 name").expect("write");
    let release = release_with_file(dir.dir(), "tree");
    let out = dir.path("out");
    builds(&release, &out);
    let layout = Layout::open(&out);
    let image = layout.json(&layout.tag("x-amd64"));
    let tar = layout.blob(image["layers"][1]["digest"].as_str().expect("digest"));
    let mut archive = tar::Archive::new(&tar[..]);
    let names: Vec<Vec<u8>> = archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry").path_bytes().into_owned())
        .collect();
    assert_eq!(names, [b"caf\xe9.txt".to_vec()]);
    assert_eq!(
        image["layers"][1]["annotations"]["org.opencontainers.image.title"],
        "tree.tar"
    );
}

/// A release with one container imported from `from`.
fn release_with_container(dir: &Path, from: &str) -> PathBuf {
    write_release(
        dir,
        &format!("    container-images {{\n        container \"c\" from=\"{from}\"\n    }}\n"),
    )
}

fn build_errors(release: &Path, out: &Path) -> Vec<Value> {
    let output = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(release)
        .arg("-o")
        .arg(out)
        .status(1)
        .run();
    assert!(!out.exists(), "a failed build leaves no layout");
    output.json_errors()
}

fn copy_layout(dir: &Path) -> PathBuf {
    let to = dir.join("source");
    crate::commands::copy_dir(&crate::repo().join("artifacts/containers/bare-python"), &to);
    to
}

#[test]
fn hostile_container_sources_are_clear_errors() {
    let dir = Test::new();
    let out = dir.path("out");

    // A truncated archive.
    let archive = std::fs::read(crate::repo().join("artifacts/containers/base.oci")).expect("read");
    std::fs::write(dir.path("cut.oci"), &archive[..archive.len() / 2]).expect("write");
    let release = release_with_container(dir.dir(), "cut.oci");
    let errors = check_errors(&release);
    assert_eq!(errors[0]["code"], "glc::resolve::container-source");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("`cut.oci`: the archive is truncated")),
        "{}",
        errors[0]
    );
    // Cut inside the data of an entry, too.
    let mut shift = 0;
    while std::fs::write(dir.path("cut.oci"), &archive[..archive.len() / 2 + shift]).is_ok()
        && shift < 4096
    {
        let errors = check_errors(&release);
        assert!(
            errors[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("truncated")),
            "cut at +{shift}: {}",
            errors[0]
        );
        shift += 509;
    }

    // A descriptor that lies about the size of the manifest.
    let source = copy_layout(dir.dir());
    rewrite_index(&source, |index| {
        let size = index["manifests"][0]["size"].as_u64().expect("size");
        index["manifests"][0]["size"] = Value::from(size + 1);
    });
    let release = release_with_container(dir.dir(), "source");
    let errors = build_errors(&release, &out);
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bytes, not the") && m.contains("its descriptor says")),
        "{}",
        errors[0]
    );

    // An absurd size.
    rewrite_index(&source, |index| {
        index["manifests"][0]["size"] = Value::from(9_000_000_000_000_000_000u64);
    });
    let errors = build_errors(&release, &out);
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("declares a size of 9000000000000000000 bytes")),
        "{}",
        errors[0]
    );

    // A missing blob.
    std::fs::remove_dir_all(&source).expect("rm");
    let source = copy_layout(dir.dir());
    let layout = Layout::open(&source);
    let manifest = layout.json(&layout.entries()[0]);
    let config = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    std::fs::remove_file(
        source
            .join("blobs/sha256")
            .join(config.trim_start_matches("sha256:")),
    )
    .expect("rm");
    let errors = build_errors(&release, &out);
    assert_eq!(
        errors[0]["message"],
        format!("container `c` from `source`: blob {config} is missing")
    );

    // Indexes nested deeper than anything real (content addressing rules out true cycles).
    std::fs::remove_dir_all(&source).expect("rm");
    let source = copy_layout(dir.dir());
    let mut top = Layout::open(&source).entries()[0].clone();
    top.as_object_mut().expect("object").remove("annotations");
    for _ in 0..70 {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]});
        let bytes = serde_json::to_vec(&index).expect("json");
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        std::fs::write(source.join("blobs/sha256").join(&hex), &bytes).expect("write");
        top = serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"), "size": bytes.len()});
    }
    rewrite_index(&source, |index| {
        index["manifests"] = serde_json::json!([top]);
    });
    let errors = build_errors(&release, &out);
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("indexes and manifests nest deeper than 64 levels")),
        "{}",
        errors[0]
    );
}

#[test]
fn names_that_climb_out_of_an_archive_are_never_followed() {
    let dir = Test::new();
    // The base archive with extra entries whose names climb out.
    let original =
        std::fs::read(crate::repo().join("artifacts/containers/base.oci")).expect("read");
    let mut input = tar::Archive::new(&original[..]);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in input.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let mut header = entry.header().clone();
        let path = entry.path().expect("path").into_owned();
        builder
            .append_data(&mut header, path, &mut entry)
            .expect("append");
    }
    for evil in ["../../evil", "blobs/sha256/../../../../evil2"] {
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        // `set_path` refuses `..`; write the name bytes as a hostile tool would.
        header.as_gnu_mut().expect("gnu").name[..evil.len()].copy_from_slice(evil.as_bytes());
        header.set_cksum();
        builder.append(&header, &b"evil\n"[..]).expect("append");
    }
    let mut file = std::fs::File::create(dir.path("evil.oci")).expect("create");
    file.write_all(&builder.into_inner().expect("tar"))
        .expect("write");
    let release = release_with_container(dir.dir(), "evil.oci");
    let out = dir.path("layouts/out");
    std::fs::create_dir(dir.path("layouts")).expect("mkdir");
    builds(&release, &out);
    verify_ok(&out);
    for name in ["evil", "evil2"] {
        let found: Vec<_> = walkdir::WalkDir::new(dir.dir())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() == name)
            .collect();
        assert!(found.is_empty(), "{name} was written: {found:?}");
    }
    assert!(!Path::new("/evil").exists() && !Path::new("/evil2").exists());
}
