//! OCI image layouts: reading other tools' layouts, and writing glc's own.
//!
//! Reading starts at [`file`] (regular files only, opened so that no link or fifo is followed
//! or waited on), takes digests as [`Digest`]s and descriptors as [`Descriptor`]s, reads a
//! graph wherever it lives through a [`store::Store`] (a layout, an archive, a registry
//! repository), and goes through one walker of the graph ([`walk`]) that `verify`, `inspect`,
//! imports, `merge`, `push` and `pull` share, within the [`limits`].

pub mod descriptor;
pub mod digest;
pub mod dirtar;
pub mod file;
pub mod import;
pub mod input;
pub mod json;
pub mod layout;
pub mod name;
pub mod source;
pub mod sparse;
pub mod store;
pub mod tar_index;
pub mod vocab;
pub mod walk;

use std::borrow::Cow;

pub use descriptor::Descriptor;
pub use digest::{Digest, DigestError};
pub use vocab::media;

/// What glc reads of a layout another tool wrote, at most.
pub mod limits {
    /// Largest `index.json`, manifest or index read into memory; real ones are kilobytes.
    pub const MAX_DOCUMENT: u64 = 4 * 1024 * 1024;
    /// Deepest nesting of indexes and manifests below `index.json` (or below an imported
    /// image); real images nest two or three levels, glc's own layouts six.
    pub const MAX_DEPTH: usize = 64;
    /// Largest release manifest (`MetaData`'s JSON list of every image): about 3 KiB a cloud
    /// image.
    pub const MAX_RELEASE_MANIFEST: u64 = 256 << 20;
    /// Largest tar header extension (GNU long name or link, pax header) of an OCI archive.
    pub const MAX_TAR_EXTENSION: u64 = 64 * 1024;
    /// Longest text from a layout that messages and `inspect` show, in characters.
    pub const MAX_SHOWN: usize = 256;
}

/// Text from a layout made safe to print: control characters (which a terminal would obey)
/// and bidirectional overrides escaped, and cut at [`limits::MAX_SHOWN`] characters.
#[must_use]
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let long = text.chars().nth(limits::MAX_SHOWN).is_some();
    if !long && !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::new();
    for c in text.chars().take(limits::MAX_SHOWN) {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if unsafe_char(c) => shown.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => shown.push(c),
        }
    }
    if long {
        shown.push('…');
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_obey_and_cuts_long_text() {
        assert_eq!(printable("plain €"), "plain €");
        assert_eq!(
            printable("\u{1b}]0;x\u{7}\r\n\t\u{9b}\u{202e}"),
            "\\u{1b}]0;x\\u{7}\\r\\n\\t\\u{9b}\\u{202e}"
        );
        let long = "€".repeat(1000);
        assert_eq!(
            printable(&long),
            format!("{}…", "€".repeat(limits::MAX_SHOWN))
        );
    }
}
