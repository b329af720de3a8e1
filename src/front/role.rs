//! What a file is in a release: the file nodes of release.kdl, each with its node name, its
//! default media type, whether it may name a directory, and its place in an image manifest.
//! A new role is a variant here (with its line in [`Role::spec`] and, for an image's file, in
//! [`Role::LAYERS`]) and its node in `schema/release.kdl`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Kernel,
    Initrd,
    Cmdline,
    Rootfs,
    File,
    Attachment,
    Changelog,
    /// A `file` of `metadata`: a file of the release as a whole.
    Metadata,
    ContainerSource,
}

/// What a role says of its files.
struct Spec {
    /// The node that names such a file in release.kdl.
    node: &'static str,
    /// Its media type whatever the file's name.
    media_type: Option<&'static str>,
    /// The media type of a directory, packed as a tar; `None`: only a file will do.
    directory: Option<&'static str>,
    /// Whether an image may name any number of such files, or at most one.
    repeats: bool,
}

/// A directory packed as a tar, for a role that says no more of it.
const TAR: Option<&str> = Some("application/vnd.oci.image.layer.v1.tar");

/// Garden Linux's media types of a root file system or disk image, each as its platforms
/// publish it (`.tar`, `.raw`, `.qcow2`, …; `src/media-types.txt`): a `rootfs` of any of them
/// is found by `glc get --role rootfs`.
pub const ROOTFS_MEDIA_TYPES: [&str; 9] = [
    "application/io.gardenlinux.image.archive.format.tar",
    "application/io.gardenlinux.image.archive.format.raw",
    "application/io.gardenlinux.image.format.qcow2",
    "application/io.gardenlinux.image.format.vhd",
    "application/io.gardenlinux.image.format.vmdk",
    "application/io.gardenlinux.image.format.ova",
    "application/io.gardenlinux.image.format.gcpimage.tar.gz",
    "application/io.gardenlinux.image.archive.format.iso",
    "application/io.gardenlinux.image.archive.format.pxe.tar.gz",
];

impl Role {
    /// The roles of an image's layers, in manifest order.
    pub const LAYERS: [Role; 5] = [
        Role::Kernel,
        Role::Initrd,
        Role::Cmdline,
        Role::Rootfs,
        Role::File,
    ];

    /// Every role, for what is said of all of them.
    const ALL: [Role; 9] = [
        Role::Kernel,
        Role::Initrd,
        Role::Cmdline,
        Role::Rootfs,
        Role::File,
        Role::Attachment,
        Role::Changelog,
        Role::Metadata,
        Role::ContainerSource,
    ];

    #[rustfmt::skip]
    const fn spec(self) -> Spec {
        let (node, media_type, directory, repeats) = match self {
            Role::Kernel => ("kernel", Some("application/io.gardenlinux.kernel"), None, false),
            Role::Initrd => ("initrd", Some("application/io.gardenlinux.initrd"), None, false),
            Role::Cmdline => ("cmdline", Some("application/io.gardenlinux.cmdline"), None, false),
            // A root file system's tar is Garden Linux's rootfs type.
            Role::Rootfs => ("rootfs", None, Some("application/io.gardenlinux.image.archive.format.tar"), false),
            Role::File => ("file", None, TAR, true),
            Role::Attachment => ("attach", None, TAR, true),
            Role::Changelog => ("changelog", None, None, false),
            Role::Metadata => ("file", None, None, true),
            Role::ContainerSource => ("container", None, None, true),
        };
        Spec { node, media_type, directory, repeats }
    }

    /// The node that names such a file in release.kdl.
    #[must_use]
    pub const fn node(self) -> &'static str {
        self.spec().node
    }

    /// The media type of such a file regardless of its name.
    #[must_use]
    pub const fn media_type(self) -> Option<&'static str> {
        self.spec().media_type
    }

    /// The media type of such a directory packed as a tar, or `None` if it must be a file.
    #[must_use]
    pub const fn directory_media_type(self) -> Option<&'static str> {
        self.spec().directory
    }

    /// The media types a reader finds this role's layer by in a cloud image manifest: the
    /// role's own, or for a root file system every format of one; none for a `file`.
    #[must_use]
    pub const fn layer_media_types(self) -> &'static [&'static str] {
        match self {
            Role::Kernel => &["application/io.gardenlinux.kernel"],
            Role::Initrd => &["application/io.gardenlinux.initrd"],
            Role::Cmdline => &["application/io.gardenlinux.cmdline"],
            Role::Rootfs => &ROOTFS_MEDIA_TYPES,
            _ => &[],
        }
    }

    /// Whether an image may name any number of such files.
    #[must_use]
    pub const fn repeats(self) -> bool {
        self.spec().repeats
    }

    /// "`rootfs`, `file` and `attach`": the nodes that may name a directory.
    #[must_use]
    pub fn directory_nodes() -> String {
        let nodes: Vec<String> = Self::ALL
            .into_iter()
            .filter(|role| role.directory_media_type().is_some())
            .map(|role| format!("`{}`", role.node()))
            .collect();
        match nodes.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}
