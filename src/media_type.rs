//! Media types of files, inferred from their names by Garden Linux's table.

use crate::plan::Role;

/// File name suffixes and their media types; the longest matching suffix wins.
pub const TABLE: &[(&str, &str)] = &[
    (
        ".tar",
        "application/io.gardenlinux.image.archive.format.tar",
    ),
    (
        ".raw",
        "application/io.gardenlinux.image.archive.format.raw",
    ),
    (
        ".tar.gz",
        "application/io.gardenlinux.image.archive.format.tar.gz",
    ),
    (
        ".pxe.tar.gz",
        "application/io.gardenlinux.image.archive.format.pxe.tar.gz",
    ),
    (
        ".iso",
        "application/io.gardenlinux.image.archive.format.iso",
    ),
    (
        ".oci",
        "application/io.gardenlinux.image.archive.format.oci",
    ),
    (".qcow2", "application/io.gardenlinux.image.format.qcow2"),
    (".vhd", "application/io.gardenlinux.image.format.vhd"),
    (".vmdk", "application/io.gardenlinux.image.format.vmdk"),
    (".ova", "application/io.gardenlinux.image.format.ova"),
    (
        ".gcpimage.tar.gz",
        "application/io.gardenlinux.image.format.gcpimage.tar.gz",
    ),
    (".vmlinuz", "application/io.gardenlinux.kernel"),
    (".initrd", "application/io.gardenlinux.initrd"),
    (".cmdline", "application/io.gardenlinux.cmdline"),
    (".release", "application/io.gardenlinux.release"),
    (".manifest", "application/io.gardenlinux.manifest"),
    (
        ".requirements",
        "application/io.gardenlinux.image.requirements",
    ),
    (".log", "application/io.gardenlinux.log"),
    (".uki", "application/io.gardenlinux.uki"),
    (".sbom", "application/vnd.cyclonedx+json"),
    // Metadata files, beyond the image table.
    (".md", "text/markdown"),
    (".txt", "text/plain"),
    (".json", "application/json"),
];

/// What a node says of its file regardless of the file's name.
#[must_use]
pub fn for_role(role: Role) -> Option<&'static str> {
    match role {
        Role::Kernel => Some("application/io.gardenlinux.kernel"),
        Role::Initrd => Some("application/io.gardenlinux.initrd"),
        Role::Cmdline => Some("application/io.gardenlinux.cmdline"),
        _ => None,
    }
}

/// The media type for a file name by the longest suffix in [`TABLE`].
#[must_use]
pub fn for_name(name: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .filter(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix))
        .max_by_key(|(suffix, _)| suffix.len())
        .map(|(_, media_type)| *media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_suffix_wins() {
        assert_eq!(
            for_name("a.pxe.tar.gz"),
            Some("application/io.gardenlinux.image.archive.format.pxe.tar.gz")
        );
        assert_eq!(
            for_name("a.gcpimage.tar.gz"),
            Some("application/io.gardenlinux.image.format.gcpimage.tar.gz")
        );
        assert_eq!(
            for_name("a.tar.gz"),
            Some("application/io.gardenlinux.image.archive.format.tar.gz")
        );
        assert_eq!(
            for_name("a.test.log"),
            Some("application/io.gardenlinux.log")
        );
        assert_eq!(
            for_name("rootfs.tar"),
            Some("application/io.gardenlinux.image.archive.format.tar")
        );
        assert_eq!(for_name("a.exe"), None);
        assert_eq!(
            for_name(".tar"),
            None,
            "a bare suffix is not a file name with that extension"
        );
    }
}
