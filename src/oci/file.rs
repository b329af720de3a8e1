//! Opening the files of a layout someone else wrote: regular files only, found without
//! following a symbolic link (a layout is content-addressed files, and a link could lead
//! anywhere: `/etc/passwd`, `/dev/zero`), opened without waiting on a fifo, checked with
//! `fstat` on the open descriptor (so the file checked is the file read), and read no further
//! than a bound.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::oci::Digest;

/// Why a file of a layout was not read.
#[derive(Debug)]
pub enum FileError {
    Missing,
    Link,
    /// Not a regular file: a fifo, a device, a socket, a directory.
    NotRegular(&'static str),
    /// Larger than what glc reads of such a file.
    TooLarge {
        limit: u64,
    },
    Io(io::Error),
}

impl FileError {
    /// The error said of `what` ("index.json", "blob sha256:…").
    #[must_use]
    pub fn message(&self, what: &str) -> String {
        const REGULAR: &str = "a layout's files must be regular files inside it";
        match self {
            Self::Missing => format!("{what} is missing"),
            Self::Link => format!("{what} is a symbolic link; {REGULAR}"),
            Self::NotRegular(kind) => format!("{what} is a {kind}; {REGULAR}"),
            Self::TooLarge { limit } => format!("{what} is larger than {limit} bytes"),
            Self::Io(error) => format!("cannot read {what}: {error}"),
        }
    }
}

/// What is wrong with the file, said after its name: "… is a symbolic link".
impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => write!(f, "does not exist"),
            Self::Link => write!(f, "is a symbolic link"),
            Self::NotRegular(kind) => write!(f, "is a {kind}"),
            Self::TooLarge { limit } => write!(f, "is larger than {limit} bytes"),
            Self::Io(error) => write!(f, "{error}"),
        }
    }
}

/// An error opening a layout's directory (`LayoutDir::open`): missing, or another failure.
impl From<io::Error> for FileError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound => Self::Missing,
            _ => Self::Io(error),
        }
    }
}

impl From<Errno> for FileError {
    fn from(errno: Errno) -> Self {
        match errno {
            Errno::NOENT => Self::Missing,
            // O_NOFOLLOW on a link; a directory on the way that is a link.
            Errno::LOOP | Errno::NOTDIR => Self::Link,
            other => Self::Io(other.into()),
        }
    }
}

/// What a file of this type is, for messages ("fifo", "symbolic link").
#[must_use]
pub fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Fifo => "fifo",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

/// Flags for opening a file that may be a fifo or a link: never wait, never follow.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY
}

/// `fd` as a file if it is a regular one, with its size.
fn regular(fd: OwnedFd) -> Result<(File, u64), FileError> {
    let stat = rustix::fs::fstat(&fd)?;
    let file_type = FileType::from_raw_mode(stat.st_mode);
    if file_type != FileType::RegularFile {
        return Err(FileError::NotRegular(kind_name(file_type)));
    }
    // st_size of a regular file is never negative.
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    Ok((File::from(fd), size))
}

/// Opens `name` in `dir` if it is a regular file there (not a link, fifo or device).
pub fn open_regular_at(dir: impl AsFd, name: &str) -> Result<(File, u64), FileError> {
    regular(rustix::fs::openat(dir, name, read_flags(), Mode::empty())?)
}

/// Reads a whole regular file of at most `limit` bytes that someone else may have put in
/// place: a link in its last component, a fifo or a device is refused, never followed or
/// waited on.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, size) = regular(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        read_flags(),
        Mode::empty(),
    )?)?;
    read_to_limit(file, size, limit)
}

/// Opens a file a user named (links followed: the user chose the path), if it is regular.
pub fn open_regular(path: &Path) -> Result<(File, u64), FileError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    regular(rustix::fs::open(path, flags, Mode::empty())?)
}

/// Reads a whole file of `size` bytes (from `fstat`) that may hold at most `limit`.
pub fn read_to_limit(file: impl Read, size: u64, limit: u64) -> Result<Vec<u8>, FileError> {
    if size > limit {
        return Err(FileError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    // One byte more than allowed shows a file that grew after fstat.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// A layout directory opened for reading: its root, and `blobs/sha256` if it has one.
#[derive(Debug)]
pub struct LayoutDir {
    root: OwnedFd,
    /// `blobs/sha256`, reached without following links; `Err` says why it is not there.
    sha256: Result<OwnedFd, FileErrorKind>,
}

/// A [`FileError`] without its payload, to keep and repeat.
#[derive(Debug, Clone, Copy)]
enum FileErrorKind {
    Missing,
    Link,
    NotDirectory,
}

impl LayoutDir {
    /// Opens the directory `path` (a link to it is followed: the user named it).
    pub fn open(path: &Path) -> io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(path, flags, Mode::empty())?;
        let sha256 = Self::subdirectory(&root, "blobs")
            .and_then(|blobs| Self::subdirectory(&blobs, "sha256"));
        Ok(Self { root, sha256 })
    }

    fn subdirectory(dir: &OwnedFd, name: &str) -> Result<OwnedFd, FileErrorKind> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|errno| match errno {
            Errno::NOENT => FileErrorKind::Missing,
            Errno::LOOP => FileErrorKind::Link,
            _ => FileErrorKind::NotDirectory,
        })
    }

    /// A file of the layout's top directory (`index.json`, `oci-layout`), read whole.
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, FileError> {
        let (file, size) = open_regular_at(&self.root, name)?;
        read_to_limit(file, size, limit)
    }

    /// The blob `digest` if it is a regular file in `blobs/sha256`, and its size.
    pub fn open_blob(&self, digest: &Digest) -> Result<(File, u64), FileError> {
        match &self.sha256 {
            Ok(dir) => open_regular_at(dir, digest.hex()),
            Err(FileErrorKind::Missing) => Err(FileError::Missing),
            Err(FileErrorKind::Link) => Err(FileError::Link),
            Err(FileErrorKind::NotDirectory) => Err(FileError::NotRegular("not a directory")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_large_files_are_refused_and_regular_files_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        let digest = Digest::of(b"{}");
        std::fs::write(root.join(digest.blob_path()), b"{}").unwrap();
        std::fs::write(root.join("index.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(root.join("fifo"))
                .status()
                .unwrap()
                .success()
        );
        let layout = LayoutDir::open(root).unwrap();
        assert_eq!(layout.read("index.json", 2).unwrap(), b"{}");
        assert!(matches!(
            layout.read("index.json", 1),
            Err(FileError::TooLarge { limit: 1 })
        ));
        assert!(matches!(layout.read("zero", 10), Err(FileError::Link)));
        assert!(matches!(
            layout.read("fifo", 10),
            Err(FileError::NotRegular("fifo"))
        ));
        assert!(matches!(
            layout.read("nothing", 10),
            Err(FileError::Missing)
        ));
        let (file, size) = layout.open_blob(&digest).unwrap();
        assert_eq!(read_to_limit(file, size, 10).unwrap(), b"{}");
        assert_eq!(
            FileError::NotRegular("fifo").message("index.json"),
            "index.json is a fifo; a layout's files must be regular files inside it"
        );
    }
}
