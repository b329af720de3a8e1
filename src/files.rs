//! Opening files that someone else may have put in place: regular files only, no link
//! followed in the last component, no wait on a FIFO, and reads bounded by a cap.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

/// Opens `path` for reading if it is a regular file, without following a link in its last
/// component and without waiting on a FIFO or a device.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_at(rustix::fs::CWD, path)
}

/// [`open_regular`] relative to a directory.
pub fn open_regular_at(dir: impl rustix::fd::AsFd, path: &Path) -> io::Result<File> {
    let fd: OwnedFd = rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|errno| match errno {
        rustix::io::Errno::LOOP => io::Error::other("is a symbolic link"),
        other => other.into(),
    })?;
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
    if kind != FileType::RegularFile {
        return Err(io::Error::other(format!("is {}", describe(kind))));
    }
    Ok(File::from(fd))
}

/// Reads a whole regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_capped(open_regular(path)?, cap)
}

/// Reads at most `cap` bytes; more is an error, not a truncation.
pub fn read_capped(file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::other(format!("is larger than {cap} bytes")));
    }
    Ok(bytes)
}

/// What a file of this type is, for messages.
#[must_use]
pub fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_fifos_and_devices_and_bounds_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"12345").expect("write");
        assert_eq!(read_regular(&file, 5).expect("read"), b"12345");
        let error = read_regular(&file, 4).expect_err("too large");
        assert_eq!(error.to_string(), "is larger than 4 bytes");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(
            read_regular(&link, 5).expect_err("link").to_string(),
            "is a symbolic link"
        );
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).expect("mkfifo");
        assert_eq!(
            read_regular(&fifo, 5).expect_err("fifo").to_string(),
            "is a FIFO"
        );
        assert_eq!(
            read_regular(Path::new("/dev/zero"), 5)
                .expect_err("device")
                .to_string(),
            "is a character device"
        );
    }
}
