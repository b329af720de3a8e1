//! A `rootfs` in every format Garden Linux's platforms publish: each keeps its own media
//! type and is found by `glc get --role rootfs`.

use crate::Test;
use crate::test::{Layout, release_kdl};

/// Each format, and the media type Garden Linux gives it (DESIGN.md).
const FORMATS: [(&str, &str); 9] = [
    ("tar", "application/io.gardenlinux.image.archive.format.tar"),
    ("raw", "application/io.gardenlinux.image.archive.format.raw"),
    ("qcow2", "application/io.gardenlinux.image.format.qcow2"),
    ("vhd", "application/io.gardenlinux.image.format.vhd"),
    ("vmdk", "application/io.gardenlinux.image.format.vmdk"),
    ("ova", "application/io.gardenlinux.image.format.ova"),
    (
        "gcpimage.tar.gz",
        "application/io.gardenlinux.image.format.gcpimage.tar.gz",
    ),
    ("iso", "application/io.gardenlinux.image.archive.format.iso"),
    (
        "pxe.tar.gz",
        "application/io.gardenlinux.image.archive.format.pxe.tar.gz",
    ),
];

/// A release of one image per format, its rootfs `build/img-<n>.<format>`; the images'
/// cnames are `img-<n>` in the order of [`FORMATS`].
fn release() -> Test {
    let values: Vec<String> = FORMATS
        .iter()
        .enumerate()
        .map(|(n, (format, _))| format!("            n \"{n}\" format=\"{format}\"\n"))
        .collect();
    let mut dir = Test::new().release(&release_kdl(&format!(
        "    tag \"1\"\n    cloud-images {{\n        matrix {{\n{}        }}\n        image \"img-{{{{ n }}}}\" {{\n            kernel \"build/{{{{ cname }}}}.vmlinuz\"\n            rootfs \"build/{{{{ cname }}}}.{{{{ format }}}}\"\n            file \"build/{{{{ cname }}}}.release\"\n        }}\n    }}\n",
        values.concat()
    )));
    for (n, (format, _)) in FORMATS.iter().enumerate() {
        dir = dir
            .file(format!("build/img-{n}.vmlinuz"), format!("kernel {n}"))
            .file(format!("build/img-{n}.{format}"), rootfs_bytes(n))
            .file(format!("build/img-{n}.release"), format!("release {n}"));
    }
    dir
}

fn rootfs_bytes(n: usize) -> Vec<u8> {
    format!("root file system {n}\n")
        .repeat(100 + n)
        .into_bytes()
}

#[test]
fn a_rootfs_of_every_format_keeps_its_media_type_and_get_finds_it() {
    let built = release()
        .args(["build", "release.kdl", "-q", "-o", "out"])
        .run();
    let layout = Layout::open(&built.path("out"));
    for (n, (format, media_type)) in FORMATS.iter().enumerate() {
        let manifest = layout.json(&layout.tag(&format!("img-{n}")));
        let layer = &manifest["layers"][1];
        assert_eq!(layer["mediaType"], *media_type, "{format}");
        let got = built
            .test()
            .args(["get", "out", &format!("img-{n}"), "--role", "rootfs", "-o"])
            .arg(format!("got-{n}"))
            .run();
        assert_eq!(
            std::fs::read(got.path(format!("got-{n}"))).expect("got"),
            rootfs_bytes(n),
            "{format}"
        );
        let listed = built
            .test()
            .args([
                "--message-format=json",
                "get",
                "out",
                &format!("img-{n}"),
                "--list",
            ])
            .run();
        let listed: serde_json::Value =
            serde_json::from_str(listed.stdout().lines().next().expect("a line")).expect("JSON");
        assert_eq!(
            listed["roles"]["rootfs"],
            format!("img-{n}.{format}"),
            "{format}"
        );
    }
}

#[test]
fn check_warns_of_a_rootfs_that_get_will_not_find() {
    let ran = Test::new()
        .release(&release_kdl(
            "    cloud-images {\n        matrix {\n            arch \"amd64\" \"arm64\"\n        }\n        image \"img-{{ arch }}\" {\n            rootfs \"build/{{ cname }}.squashfs\"\n        }\n    }\n",
        ))
        .file("build/img-amd64.squashfs", "a")
        .file("build/img-arm64.squashfs", "b")
        .args(["--message-format=json", "check", "release.kdl"])
        .args(["--deny-warnings"])
        .status(1)
        .run();
    let found: Vec<serde_json::Value> = ran
        .json_errors()
        .into_iter()
        .filter(|d| d["code"] == "glc::resolve::rootfs-type")
        .collect();
    assert_eq!(found.len(), 1, "one warning for the one node: {found:?}");
    assert_eq!(
        found[0]["message"],
        "the rootfs `build/img-amd64.squashfs` (and 1 more) is of media type application/io.gardenlinux.squashfs, not a root file system's: `glc get --role rootfs` will not find it"
    );
}
