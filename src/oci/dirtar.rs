//! A directory packed into a tar that depends only on the names and contents inside it:
//! paths sorted by their bytes, one fixed mtime, owner 0:0 without names, fixed modes (0644
//! for files, 0755 for directories, whatever the inputs' modes), symlinks stored as links and
//! never followed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header};

#[derive(Debug)]
pub enum PackError {
    Io(PathBuf, io::Error),
    /// A symlink whose target is absolute or climbs out of the directory.
    LinkOutside {
        link: PathBuf,
        target: PathBuf,
    },
    /// A device, fifo or socket.
    Special(PathBuf),
}

impl std::fmt::Display for PackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(path, error) => write!(f, "cannot read `{}`: {error}", path.display()),
            Self::LinkOutside { link, target } => {
                write!(
                    f,
                    "the symlink `{}` points outside the directory, to `{}`",
                    link.display(),
                    target.display()
                )
            }
            Self::Special(path) => write!(f, "`{}` is a device, fifo or socket", path.display()),
        }
    }
}

/// Writes the tar of `root` to `out`; `mtime` is the release's creation time.
pub fn pack(root: &Path, mtime: u64, out: impl Write) -> Result<(), PackError> {
    let mut entries: Vec<(PathBuf, fs::FileType)> = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
            PackError::Io(path, e.into())
        })?;
        let relative = entry
            .path()
            .strip_prefix(root)
            .map_or_else(|_| entry.path().to_path_buf(), Path::to_path_buf);
        entries.push((relative, entry.file_type()));
    }
    // Byte order of whole paths, independent of directory listing order and of locale.
    entries.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));

    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| PackError::Io(path, e)
    };
    for (relative, file_type) in &entries {
        let full = root.join(relative);
        let mut header = Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder
                .append_data(&mut header, relative, io::empty())
                .map_err(io_error(relative))?;
        } else if file_type.is_file() {
            let file = File::open(&full).map_err(io_error(relative))?;
            let metadata = file.metadata().map_err(io_error(relative))?;
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(metadata.len());
            builder
                .append_data(&mut header, relative, file)
                .map_err(io_error(relative))?;
        } else if file_type.is_symlink() {
            let target = fs::read_link(&full).map_err(io_error(relative))?;
            if escapes(relative, &target) {
                return Err(PackError::LinkOutside {
                    link: relative.clone(),
                    target,
                });
            }
            header.set_entry_type(EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder
                .append_link(&mut header, relative, &target)
                .map_err(io_error(relative))?;
        } else {
            return Err(PackError::Special(relative.clone()));
        }
    }
    builder
        .into_inner()
        .map_err(io_error(root))?
        .flush()
        .map_err(io_error(root))?;
    Ok(())
}

/// Whether a link at `link` (relative to the packed root) with `target` leaves the root.
fn escapes(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth = link.components().count().saturating_sub(1);
    for component in target.components() {
        match component {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use sha2::{Digest, Sha256};

    use super::*;

    fn tree(root: &Path, order: &[&str]) {
        fs::create_dir_all(root.join("a/b")).unwrap();
        for name in order {
            fs::write(root.join(name), name.as_bytes()).unwrap();
        }
        symlink("../a-c", root.join("a/link")).unwrap();
    }

    fn digest(root: &Path, mtime: u64) -> String {
        let mut out = Vec::new();
        pack(root, mtime, &mut out).unwrap();
        hex::encode(Sha256::digest(&out))
    }

    #[test]
    fn the_tar_depends_only_on_names_and_contents() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        tree(one.path(), &["a-c", "a/b/x", "a/z"]);
        tree(two.path(), &["a/z", "a/b/x", "a-c"]);
        fs::set_permissions(
            two.path().join("a/z"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        fs::set_permissions(
            two.path().join("a-c"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        assert_eq!(digest(one.path(), 1), digest(two.path(), 1));
        assert_ne!(
            digest(one.path(), 1),
            digest(one.path(), 2),
            "the mtime is in the tar"
        );

        let mut out = Vec::new();
        pack(one.path(), 1, &mut out).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a", "a-c", "a/b", "a/b/x", "a/link", "a/z"]);
    }

    #[test]
    fn links_out_of_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        symlink("../../etc/passwd", dir.path().join("d/evil")).unwrap();
        let err = pack(dir.path(), 0, io::sink()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the symlink `d/evil` points outside the directory, to `../../etc/passwd`"
        );
        assert!(escapes(Path::new("x"), Path::new("/etc")));
        assert!(!escapes(Path::new("d/x"), Path::new("../y")));
    }
}
