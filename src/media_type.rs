//! Media types of files, inferred from their names by Garden Linux's table.

use crate::plan::Role;

/// The table as glc carries it: `src/media-types.txt`, which names its source.
const TABLE_TEXT: &str = include_str!("media-types.txt");

/// File name suffixes and their media types; the longest matching suffix wins.
pub static TABLE: std::sync::LazyLock<Vec<(&'static str, &'static str)>> =
    std::sync::LazyLock::new(|| parse_table(TABLE_TEXT));

/// The lines of the table that are a suffix and a media type; a test checks that every line
/// that is not a comment is one.
fn parse_table(text: &'static str) -> Vec<(&'static str, &'static str)> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next(), fields.next()) {
                (Some(suffix), Some(media_type), None) => Some((suffix, media_type)),
                _ => None,
            }
        })
        .collect()
}

/// Garden Linux's root file system tarball, as a directory named as `rootfs` is packed.
pub const ROOTFS: &str = "application/io.gardenlinux.image.archive.format.tar";

/// The media type by which a reader finds a role's layer in a cloud image manifest: the
/// role's own type, or for the root file system its tarball's.
#[must_use]
pub fn of_role_layer(role: Role) -> Option<&'static str> {
    match role {
        Role::Rootfs => Some(ROOTFS),
        role => for_role(role),
    }
}

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
    fn every_line_of_the_table_is_an_entry_and_every_entry_is_tested() {
        let lines: Vec<&str> = TABLE_TEXT
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            TABLE.len(),
            "a line that is not `suffix media-type`"
        );
        let mut suffixes: Vec<&str> = TABLE.iter().map(|(s, _)| *s).collect();
        suffixes.sort_unstable();
        suffixes.dedup();
        assert_eq!(suffixes.len(), TABLE.len(), "a suffix is given twice");
        // Each entry, as Garden Linux names its files, gets its media type.
        let cases: Vec<(String, &str)> = include_str!("../tests/fixtures/media-types.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut fields = l.split_whitespace();
                let name = fields.next().unwrap_or_default().to_owned();
                (name, fields.next().unwrap_or_default())
            })
            .collect();
        for (name, wanted) in &cases {
            assert_eq!(for_name(name), Some(*wanted), "{name}");
        }
        for (suffix, media_type) in TABLE.iter() {
            assert!(
                cases
                    .iter()
                    .any(|(name, wanted)| name.ends_with(suffix) && wanted == media_type),
                "no case in tests/fixtures/media-types.txt for {suffix}"
            );
        }
    }

    #[test]
    fn the_language_reference_lists_the_table() {
        let doc = include_str!("../docs/language.md");
        let rows: Vec<String> = TABLE
            .iter()
            .map(|(suffix, media_type)| format!("| `{suffix}` | `{media_type}` |"))
            .collect();
        let table = format!("| suffix | media type |\n|---|---|\n{}\n", rows.join("\n"));
        assert!(
            doc.contains(&table),
            "docs/language.md lists another table than src/media-types.txt"
        );
    }

    #[test]
    fn the_rootfs_type_is_the_tables_tar() {
        assert_eq!(for_name("rootfs.tar"), Some(ROOTFS));
        assert_eq!(of_role_layer(Role::Kernel), for_name("a.vmlinuz"));
        assert_eq!(of_role_layer(Role::Initrd), for_name("a.initrd"));
        assert_eq!(of_role_layer(Role::Cmdline), for_name("a.cmdline"));
        assert_eq!(of_role_layer(Role::File), None);
    }

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
