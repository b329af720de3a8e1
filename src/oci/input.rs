//! Input files, opened once to be read: regular, not through a symlink, never blocking on a
//! fifo, and checked for change once read.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What changes when a file's bytes do: which file it is, its size and its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(super) fn of(metadata: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// The same file with the same bytes, after glc linked it (which changes its ctime).
    pub(super) fn same_after_link(&self, other: &Self) -> bool {
        Self {
            ctime: other.ctime,
            ..*self
        } == *other
    }
}

/// Why an input file could not be read as one regular file, whole.
#[derive(Debug)]
pub enum InputError {
    Io(io::Error),
    /// A fifo, socket, device, directory or symlink: what it is.
    NotRegular(&'static str),
    /// Its size, times or the file its path names changed between opening and the end.
    Changed,
    /// Writing its blob into the layout failed.
    Write(io::Error),
}

impl From<io::Error> for InputError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl InputError {
    /// The whole message about the input file `name`.
    #[must_use]
    pub fn message(&self, name: &str) -> String {
        self.about(&format!("`{name}`"))
    }

    /// The whole message about `subject` ("blob sha256:…").
    #[must_use]
    pub fn about(&self, subject: &str) -> String {
        match self {
            Self::Io(error) => format!("cannot read {subject}: {error}"),
            Self::NotRegular(what) => format!("{subject} is {what}, not a regular file"),
            Self::Changed => format!("{subject} changed while glc read it"),
            Self::Write(error) => format!("cannot write the blob of {subject}: {error}"),
        }
    }
}

/// A file opened once to be read: regular, not through a symlink, never blocking on a fifo.
/// Its bytes are read from this one descriptor, exactly as many as it had when opened, and
/// `verify` says whether it changed meanwhile.
#[derive(Debug)]
pub struct Input {
    pub(super) file: File,
    pub(super) path: PathBuf,
    metadata: fs::Metadata,
    pub(super) stamp: Stamp,
}

impl Input {
    /// The opened file, for a reader that reads it its own way (an OCI archive).
    #[must_use]
    pub fn into_file(self) -> File {
        self.file
    }

    /// Opens `path`, whose last component must not be a symlink.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        use rustix::fs::{Mode, OFlags};
        // O_NONBLOCK: opening a fifo (or a device) must not wait for a writer; fstat decides.
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| {
            if e == rustix::io::Errno::LOOP {
                InputError::NotRegular("a symlink")
            } else {
                InputError::Io(e.into())
            }
        })?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(InputError::NotRegular(kind_of(&metadata.file_type())));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            stamp: Stamp::of(&metadata),
            metadata,
        })
    }

    /// The file's metadata when it was opened.
    #[must_use]
    pub fn metadata(&self) -> &fs::Metadata {
        &self.metadata
    }

    #[must_use]
    pub fn size(&self) -> u64 {
        self.stamp.size
    }

    /// Reads the bytes the file had when opened, no more (`O_NONBLOCK` does not affect
    /// regular files).
    #[must_use]
    pub fn reader(&self) -> impl Read + '_ {
        (&self.file).take(self.stamp.size)
    }

    /// Fails if the file changed since it was opened, or its path names another file now.
    pub fn verify(&self) -> Result<(), InputError> {
        self.verify_with(|before, now| before == now)
    }

    pub(super) fn verify_with(
        &self,
        same: impl Fn(&Stamp, &Stamp) -> bool,
    ) -> Result<(), InputError> {
        let now = Stamp::of(&self.file.metadata()?);
        let named = fs::symlink_metadata(&self.path).map(|m| Stamp::of(&m));
        match named {
            Ok(named) if same(&self.stamp, &now) && same(&self.stamp, &named) => Ok(()),
            _ => Err(InputError::Changed),
        }
    }
}

/// "a fifo", "a directory": what a file that is not regular is.
#[must_use]
pub fn kind_of(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symlink"
    } else if file_type.is_fifo() {
        "a fifo"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "a regular file"
    }
}
