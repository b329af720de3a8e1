//! Why `glc get` wrote nothing. Each failure keeps what it is about; `diagnostic::error` says
//! it (code, message and help), in the one place the layers' errors become diagnostics.

use std::io;
use std::path::PathBuf;

use crate::oci::Digest;

/// A release the source offers: its tags, and the digest of its index.
pub type ReleaseTags = (Vec<String>, Digest);

/// Why `glc get` (or `glc get --list`) failed.
#[derive(Debug)]
pub enum GetError {
    /// The layout directory named cannot be read as one: why.
    Layout(String),
    /// The registry's repository cannot be read.
    Registry(crate::registry::Error),
    /// A document or blob on the way in `source` is not what it must be: what is wrong.
    Damaged { source: String, problem: String },
    /// `source` has no release tag `tag`; it has `releases`.
    NoReleaseTag {
        source: String,
        tag: String,
        releases: Vec<ReleaseTags>,
    },
    /// No tag of `source` names a release.
    NoRelease { source: String },
    /// `source` holds several releases, and no tag chooses one.
    Releases {
        source: String,
        releases: Vec<ReleaseTags>,
    },
    /// The part `tag` names is not what its record makes of it.
    PartNotItsRecord { source: String, tag: String },
    /// A pair of the selector that is not `key=value`.
    NotKeyValue(String),
    /// The selector names a matrix key no image has; `keys` are the release's.
    UnknownKey { key: String, keys: Vec<String> },
    /// The selector names no image of `source` (`matched` 0) or several; `shown` are the
    /// images said with it (see `get::describe`).
    NotOne {
        source: String,
        selector: String,
        matched: usize,
        shown: Vec<String>,
    },
    /// The output named is a directory.
    OutputIsDirectory(PathBuf),
    /// The output is a directory when it is opened for writing.
    WritingIntoDirectory(PathBuf),
    /// The image `cname` has nothing `asked` names; `holds` says what it holds, a line a
    /// file (see `get::holdings`).
    NoSuchFile {
        cname: String,
        asked: Asked,
        holds: String,
    },
    /// The image `cname` has several attachments of `kind`.
    SeveralAttachments {
        cname: String,
        kind: String,
        digests: Vec<String>,
    },
    /// The release's metadata has no file titled `name`; its files are `titles`.
    NoMetadataFile { name: String, titles: Vec<String> },
    /// `--key` with the part `tag` names, which is never signed.
    PartUnsigned { source: String, tag: String },
    /// A digest cosign's tag scheme cannot name.
    Unsignable(Digest),
    /// `what` (`the image`, `the release index`) has no signature tag `tag`.
    NotSigned {
        what: &'static str,
        digest: Digest,
        tag: String,
    },
    /// `what`'s signatures do not vouch for it: why.
    BadSignature {
        what: &'static str,
        digest: Digest,
        problem: String,
    },
    /// Writing the output failed: what was being done, and why.
    Io { what: String, error: io::Error },
    /// Writing a blob's bytes failed.
    Write(io::Error),
}

/// What `glc get` was asked for that the image does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Nothing: no `--role`, `--file` or `--attachment`.
    Nothing,
    /// The layer of a role, by its name.
    Role(&'static str),
    /// A layer by its title.
    File(String),
    /// An attachment by its kind.
    Attachment(String),
}
