//! A directory packed into a tar that depends only on the names and contents inside it:
//! paths sorted by their bytes, one fixed mtime, owner 0:0 without names, fixed modes (0644
//! for files, 0755 for directories, whatever the inputs' modes), symlinks stored as links and
//! never followed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header};

use crate::oci::layout::{Input, InputError};

#[derive(Debug)]
pub enum PackError {
    Io(PathBuf, io::Error),
    /// A symlink whose target is absolute or climbs out of the directory.
    LinkOutside {
        link: PathBuf,
        target: PathBuf,
    },
    /// Links that lead through more links than any system follows.
    LinksTooDeep(PathBuf),
    /// A device, fifo or socket.
    Special(PathBuf),
    /// A file that could not be read whole, as it was when opened.
    Input(PathBuf, InputError),
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
            Self::LinksTooDeep(link) => write!(
                f,
                "the symlink `{}` leads through more than {MAX_DEPTH} other links",
                link.display()
            ),
            Self::Special(path) => write!(f, "`{}` is a device, fifo or socket", path.display()),
            Self::Input(path, error) => f.write_str(&error.message(&path.display().to_string())),
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
    let mut targets = HashMap::new();
    for (relative, file_type) in &entries {
        if file_type.is_symlink() {
            let target = fs::read_link(root.join(relative))
                .map_err(|e| PackError::Io(relative.clone(), e))?;
            targets.insert(relative.clone(), target);
        }
    }
    let mut links = Links {
        targets,
        resolved: HashMap::new(),
    };

    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| PackError::Io(path, e)
    };
    for (relative, file_type) in &entries {
        crate::util::interrupt::check().map_err(io_error(relative))?;
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
            let input_error = |e| PackError::Input(relative.clone(), e);
            let input = Input::open(&full).map_err(input_error)?;
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(input.size());
            // Exactly the size in the header, from this one descriptor: a file that grows
            // while it is packed must not spill into the next entry's header.
            let mut read = 0;
            let mut reader = Counted {
                inner: input.reader(),
                read: &mut read,
            };
            builder
                .append_data(&mut header, relative, &mut reader)
                .map_err(io_error(relative))?;
            if read != input.size() {
                return Err(input_error(InputError::Changed));
            }
            input.verify().map_err(input_error)?;
        } else if file_type.is_symlink() {
            // Every symlink's target was read above.
            let target = links.targets[relative].clone();
            match links.resolve(relative) {
                Resolved::Inside | Resolved::Loop => {}
                Resolved::Outside => {
                    return Err(PackError::LinkOutside {
                        link: relative.clone(),
                        target,
                    });
                }
                Resolved::TooDeep => return Err(PackError::LinksTooDeep(relative.clone())),
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

/// Counts the bytes read through it.
struct Counted<'a, R> {
    inner: R,
    read: &'a mut u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        *self.read += n as u64;
        Ok(n)
    }
}

/// Links nested deeper than this are refused; Linux follows at most 40.
const MAX_DEPTH: usize = 64;

/// Where a link leads once the tree is extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    Inside,
    Outside,
    /// Round in a circle: no system resolves it, so it leads nowhere.
    Loop,
    TooDeep,
}

/// The symlinks of the packed tree, resolved as an extracting system would follow them:
/// component by component, through the tree's other links.
struct Links {
    /// Every link, by its path relative to the root, to its target as written.
    targets: HashMap<PathBuf, PathBuf>,
    /// Where each link resolved to (root-relative components), once resolved; `None`
    /// while it is being resolved, so that a circle is noticed.
    resolved: HashMap<PathBuf, Option<Result<Vec<OsString>, Resolved>>>,
}

impl Links {
    fn resolve(&mut self, link: &Path) -> Resolved {
        match self.follow(link, 0) {
            Ok(_) => Resolved::Inside,
            Err(how) => how,
        }
    }

    /// The root-relative place `link` leads to, or why it has none inside the tree.
    fn follow(&mut self, link: &Path, depth: usize) -> Result<Vec<OsString>, Resolved> {
        match self.resolved.get(link) {
            Some(Some(done)) => return done.clone(),
            Some(None) => return Err(Resolved::Loop),
            None => {}
        }
        if depth > MAX_DEPTH {
            // Not remembered: from a shallower start the same link may resolve.
            return Err(Resolved::TooDeep);
        }
        let Some(target) = self.targets.get(link).cloned() else {
            return Ok(link.iter().map(OsStr::to_os_string).collect());
        };
        self.resolved.insert(link.to_path_buf(), None);
        let mut at: Vec<OsString> = link
            .parent()
            .map(|p| p.iter().map(OsStr::to_os_string).collect())
            .unwrap_or_default();
        let result = self.walk(&mut at, &target, depth).map(|()| at);
        if result == Err(Resolved::TooDeep) {
            self.resolved.remove(link);
        } else {
            self.resolved
                .insert(link.to_path_buf(), Some(result.clone()));
        }
        result
    }

    /// Moves `at` along `target`, following links; a step above the root leaves the tree.
    fn walk(
        &mut self,
        at: &mut Vec<OsString>,
        target: &Path,
        depth: usize,
    ) -> Result<(), Resolved> {
        for component in target.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    // Whatever `at` names, `..` of it is its parent here, or it does not
                    // resolve at all: counting it as a directory never misses a way out.
                    at.pop().ok_or(Resolved::Outside)?;
                }
                Component::Normal(name) => {
                    at.push(name.to_os_string());
                    let here: PathBuf = at.iter().collect();
                    if self.targets.contains_key(&here) {
                        *at = self.follow(&here, depth + 1)?;
                    }
                }
                Component::RootDir | Component::Prefix(_) => return Err(Resolved::Outside),
            }
        }
        Ok(())
    }
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
    }

    fn resolve(links: &[(&str, &str)], link: &str) -> Resolved {
        let mut links = Links {
            targets: links
                .iter()
                .map(|(l, t)| (PathBuf::from(l), PathBuf::from(t)))
                .collect(),
            resolved: HashMap::new(),
        };
        links.resolve(Path::new(link))
    }

    #[test]
    fn links_are_followed_through_the_tree_as_it_will_be_extracted() {
        assert_eq!(resolve(&[("x", "/etc")], "x"), Resolved::Outside);
        assert_eq!(resolve(&[("d/x", "../y")], "d/x"), Resolved::Inside);
        assert_eq!(resolve(&[("d/x", "../../y")], "d/x"), Resolved::Outside);
        // `a/up` → `..` is the root; every `a/up` on the way climbs back to it.
        let up = ("a/up", "..");
        let climb = (
            "a/b/e",
            "../up/a/up/a/up/a/up/../../../../../../../../etc/passwd",
        );
        assert_eq!(resolve(&[up, climb], "a/up"), Resolved::Inside);
        assert_eq!(resolve(&[up, climb], "a/b/e"), Resolved::Outside);
        assert_eq!(
            resolve(&[up, ("a/b/e", "../up/a/up/a/b")], "a/b/e"),
            Resolved::Inside
        );
        assert_eq!(
            resolve(&[up, ("a/b/e", "../up/..")], "a/b/e"),
            Resolved::Outside
        );
        // A link to a link that leaves leaves too.
        assert_eq!(
            resolve(&[("out", "../x"), ("in", "out")], "in"),
            Resolved::Outside
        );
        // Circles lead nowhere; chains deeper than any system follows are refused.
        assert_eq!(resolve(&[("l1", "l2"), ("l2", "l1")], "l1"), Resolved::Loop);
        let chain: Vec<(String, String)> = (0..100)
            .map(|i| (format!("l{i}"), format!("l{}", i + 1)))
            .collect();
        let chain: Vec<(&str, &str)> = chain
            .iter()
            .map(|(l, t)| (l.as_str(), t.as_str()))
            .collect();
        assert_eq!(resolve(&chain, "l0"), Resolved::TooDeep);
        assert_eq!(resolve(&chain[..40], "l0"), Resolved::Inside);
    }
}
