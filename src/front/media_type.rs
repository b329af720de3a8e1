//! Media types of files, inferred from their names by Garden Linux's table.

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
        let cases: Vec<(String, &str)> = include_str!("../../tests/fixtures/media-types.txt")
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
        let doc = include_str!("../../docs/language.md");
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
    fn the_layer_types_of_roles_are_the_tables() {
        use crate::front::role::Role;
        const ROOTFS_TAR: &str = "application/io.gardenlinux.image.archive.format.tar";
        let types = |names: &[&str]| -> Vec<&str> {
            names.iter().filter_map(|name| for_name(name)).collect()
        };
        assert_eq!(
            Role::Rootfs.layer_media_types(),
            types(&[
                "a.tar",
                "a.raw",
                "a.qcow2",
                "a.vhd",
                "a.vmdk",
                "a.ova",
                "a.gcpimage.tar.gz",
                "a.iso",
                "a.pxe.tar.gz"
            ])
        );
        assert_eq!(Role::Kernel.layer_media_types(), types(&["a.vmlinuz"]));
        assert_eq!(Role::Initrd.layer_media_types(), types(&["a.initrd"]));
        assert_eq!(Role::Cmdline.layer_media_types(), types(&["a.cmdline"]));
        assert!(Role::File.layer_media_types().is_empty());
        // Each role keeps its own media type for a file of any name.
        for role in [Role::Kernel, Role::Initrd, Role::Cmdline] {
            assert_eq!(role.media_type(), role.layer_media_types().first().copied());
        }
        assert_eq!(
            Role::Rootfs.directory_media_type(),
            Some(ROOTFS_TAR),
            "a directory given as `rootfs` is packed as Garden Linux's rootfs tar"
        );
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
