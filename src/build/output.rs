//! Safe output: a layout is built in a staging directory beside its target and put in place
//! whole. A lock file beside the target keeps two builds from interleaving; staging
//! directories left by a killed build are removed by the next one.
//!
//! A target that already is a glc layout is updated in place, so that a reader who has read
//! its `index.json` finds every blob that file names: new blobs go in first, `index.json` is
//! replaced atomically last, and blobs that neither the new nor the replaced `index.json`
//! reach are removed then, so a blob disappears only one build after the last `index.json`
//! that named it. The blobs kept only for readers of the replaced `index.json` are named in
//! [`KEPT_FILE`], so that `glc verify` tells them from blobs nothing accounts for.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};

use crate::oci::Descriptor;
use crate::oci::file::LayoutDir;
use crate::oci::store::{Layout, Store as _};

/// The `oci-layout` file glc writes.
pub const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Marks the `index.json` of a layout glc wrote, so that glc replaces only its own layouts.
pub const MARKER: &str = "io.gardenlinux.glc.layout";

/// The file of a glc layout that names the blobs kept only for readers of the replaced
/// `index.json`, a `sha256:<hex>` a line; absent when there are none.
pub const KEPT_FILE: &str = "glc-kept-blobs";

/// The largest `index.json` or manifest glc reads back from its own layouts.
const MAX_DOCUMENT: u64 = 4 << 20;
/// How deep glc follows indexes of its own layouts when it collects their blobs.
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub enum OutputError {
    Io(String, io::Error),
    /// The target exists and is not a layout glc wrote.
    Foreign(PathBuf, String),
    /// A file glc keeps beside the target is a symbolic link or not a regular file.
    NotOurs(PathBuf, String),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(what, error) => write!(f, "{what}: {error}"),
            Self::Foreign(path, what) => {
                write!(f, "{} is not a layout glc wrote: it {what}", path.display())
            }
            Self::NotOurs(path, what) => write!(f, "{} {what}", path.display()),
        }
    }
}

/// What a target may hold for glc to replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Nothing, an empty directory, or a layout glc wrote that holds nothing else.
    OwnLayouts,
    /// Anything (`--force`).
    Anything,
}

/// `--force` as a flag: set, anything is replaced. (`glc pull` passes its flag as it is.)
impl From<bool> for Replace {
    fn from(force: bool) -> Self {
        if force {
            Self::Anything
        } else {
            Self::OwnLayouts
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> OutputError {
    let what = what.into();
    move |error| OutputError::Io(what, error)
}

/// The target directory, and the files glc keeps beside it.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    parent: PathBuf,
    /// The parent directory, opened once: the files beside the target are opened under it.
    parent_dir: Arc<OwnedFd>,
    name: String,
}

impl Target {
    pub fn new(path: &Path) -> Result<Self, OutputError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                OutputError::Io(
                    format!("`{}` is not a directory glc can replace", path.display()),
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "the output is replaced whole, so it must be a directory of its own, not `.`, `..` or `/`",
                    ),
                )
            })?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(OutputError::Io(
                format!(
                    "the directory {} for the output does not exist",
                    parent.display()
                ),
                io::ErrorKind::NotFound.into(),
            ));
        }
        let parent_dir = rustix::fs::open(
            &parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OutputError::Io(format!("cannot open {}", parent.display()), e.into()))?;
        Ok(Self {
            path: path.to_path_buf(),
            parent,
            parent_dir: Arc::new(parent_dir),
            name,
        })
    }

    fn beside_name(&self, suffix: &str) -> String {
        format!(".{}.glc-{suffix}", self.name)
    }

    fn beside(&self, suffix: &str) -> PathBuf {
        self.parent.join(self.beside_name(suffix))
    }

    /// Takes the target's lock, waiting for another build that holds it; `waiting` is told
    /// the pid of that build once, before the wait. The lock file is opened under the
    /// target's parent, never through a link, and removed when the lock is released.
    pub fn lock(&self, waiting: impl FnOnce(&str)) -> Result<Lock, OutputError> {
        let name = self.beside_name("lock");
        let path = self.parent.join(&name);
        let mut waiting = Some(waiting);
        loop {
            let fd = rustix::fs::openat(
                &*self.parent_dir,
                &name,
                OFlags::RDWR
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|errno| match errno {
                rustix::io::Errno::LOOP => OutputError::NotOurs(
                    path.clone(),
                    "is a symbolic link, where glc keeps the lock of its output; \
                     glc never writes through a link"
                        .into(),
                ),
                other => OutputError::Io(
                    format!("cannot open the lock {}", path.display()),
                    other.into(),
                ),
            })?;
            let opened = rustix::fs::fstat(&fd).map_err(|e| {
                OutputError::Io(format!("cannot look at {}", path.display()), e.into())
            })?;
            let kind = rustix::fs::FileType::from_raw_mode(opened.st_mode);
            if kind != rustix::fs::FileType::RegularFile {
                return Err(OutputError::NotOurs(
                    path,
                    format!(
                        "is a {}, where glc keeps the lock of its output",
                        crate::oci::file::kind_name(kind)
                    ),
                ));
            }
            let mut file = File::from(fd);
            if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                let mut holder = String::new();
                let _ = (&file).take(64).read_to_string(&mut holder);
                if let Some(waiting) = waiting.take() {
                    waiting(holder.trim());
                }
                // Asked again and again rather than waited on, so that a signal stops the wait.
                while let Err(errno) =
                    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
                {
                    if errno != rustix::io::Errno::WOULDBLOCK {
                        return Err(OutputError::Io(
                            format!("cannot lock {}", path.display()),
                            errno.into(),
                        ));
                    }
                    crate::util::interrupt::check().map_err(|e| {
                        OutputError::Io(
                            format!("stopped waiting for the lock {}", path.display()),
                            e,
                        )
                    })?;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            // The build that held the lock removes its file when it is done: lock the file
            // that is in place now, not the removed one.
            let current = rustix::fs::statat(&*self.parent_dir, &name, AtFlags::SYMLINK_NOFOLLOW);
            if !current.is_ok_and(|c| c.st_dev == opened.st_dev && c.st_ino == opened.st_ino) {
                continue;
            }
            // Who holds the lock, for the message of a build that waits on it.
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = writeln!(file, "{}", std::process::id());
            return Ok(Lock {
                file,
                parent_dir: Arc::clone(&self.parent_dir),
                name,
            });
        }
    }

    /// Removes staging directories of builds that were killed. Call with the lock held.
    pub fn clean_stale(&self) -> Result<(), OutputError> {
        let prefix = format!(".{}.glc-tmp-", self.name);
        let old = format!(".{}.glc-old-", self.name);
        for entry in fs::read_dir(&self.parent)
            .map_err(io_err(format!("cannot list {}", self.parent.display())))?
        {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(&prefix)
                .or_else(|| name.strip_prefix(&old));
            // Only `<prefix><pid>`: another target's files may share the prefix.
            if pid.is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())) {
                // A link is removed, never followed.
                let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(entry.path())
                } else {
                    fs::remove_file(entry.path())
                };
                removed.map_err(io_err(format!("cannot remove {}", entry.path().display())))?;
            }
        }
        Ok(())
    }

    /// The digest cache of builds into this target.
    #[must_use]
    pub fn cache_path(&self) -> PathBuf {
        self.beside("cache.json")
    }

    /// The record of the last build into this target (see [`crate::build::record`]).
    #[must_use]
    pub fn record_path(&self) -> PathBuf {
        self.beside("record.json")
    }

    /// The target directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The target, if it is a layout glc wrote (whose blobs a new build may reuse).
    #[must_use]
    pub fn previous_layout(&self) -> Option<&Path> {
        self.is_glc_layout().then_some(self.path.as_path())
    }

    /// Whether the target already is exactly this layout: the same `index.json` and every
    /// blob present with its size. Then a build has nothing to write.
    #[must_use]
    pub fn holds(&self, index: &[u8], blobs: &std::collections::BTreeMap<String, u64>) -> bool {
        let read = |name: &str| crate::oci::file::read_regular(&self.path.join(name), MAX_DOCUMENT);
        read("index.json").is_ok_and(|current| current == index)
            && read("oci-layout").is_ok_and(|layout| layout == LAYOUT_FILE)
            && rustix::fs::open(
                self.path.join("blobs/sha256"),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .is_ok_and(|dir| {
                // Each looked at in the directory opened once, never through a link.
                blobs.iter().all(|(hex, size)| {
                    rustix::fs::statat(&dir, hex.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok_and(
                        |stat| {
                            rustix::fs::FileType::from_raw_mode(stat.st_mode)
                                == rustix::fs::FileType::RegularFile
                                && u64::try_from(stat.st_size) == Ok(*size)
                        },
                    )
                })
            })
    }

    /// Where `glc pull` keeps what it downloaded until the layout is in place: beside the
    /// target, kept when a pull fails or is killed, so that the next pull resumes from it.
    #[must_use]
    pub fn downloads(&self) -> PathBuf {
        self.beside("pull")
    }

    /// A fresh staging directory path beside the target (not created).
    #[must_use]
    pub fn staging(&self) -> PathBuf {
        self.beside(&format!("tmp-{}", std::process::id()))
    }

    /// Whether the target may be replaced: absent, an empty directory, or a glc layout that
    /// holds nothing else; anything else only as `replace` allows.
    pub fn check_replaceable(&self, replace: impl Into<Replace>) -> Result<(), OutputError> {
        let metadata = match fs::symlink_metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(OutputError::Io(
                    format!("cannot look at {}", self.path.display()),
                    e,
                ));
            }
        };
        if replace.into() == Replace::Anything {
            return Ok(());
        }
        if metadata.is_symlink() {
            return Err(OutputError::Foreign(
                self.path.clone(),
                "is a symbolic link".into(),
            ));
        }
        if !metadata.is_dir() {
            return Err(OutputError::Foreign(
                self.path.clone(),
                format!("is a {}", describe_metadata(&metadata)),
            ));
        }
        let mut listing = fs::read_dir(&self.path)
            .map_err(io_err(format!("cannot list {}", self.path.display())))?;
        if listing.next().is_none() {
            return Ok(());
        }
        match self.foreign_content() {
            None => Ok(()),
            Some(what) => Err(OutputError::Foreign(self.path.clone(), what)),
        }
    }

    /// Whether the target is a layout glc wrote, holding nothing glc did not write.
    fn is_glc_layout(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_dir())
            && self.foreign_content().is_none()
    }

    /// What in the target glc did not write, if anything: glc writes `oci-layout`,
    /// `index.json` with its marker, and blobs named by their sha256 digest.
    fn foreign_content(&self) -> Option<String> {
        let mut has_index = false;
        for entry in list(&self.path)? {
            let name = entry.file_name();
            let kind = entry.file_type().ok()?;
            match name.to_str() {
                Some("oci-layout") if kind.is_file() => {
                    if crate::oci::file::read_regular(&entry.path(), MAX_DOCUMENT).ok()?
                        != LAYOUT_FILE
                    {
                        return Some("holds an `oci-layout` glc did not write".into());
                    }
                }
                Some("index.json") if kind.is_file() => has_index = true,
                Some(KEPT_FILE) if kind.is_file() => {}
                Some("blobs") if kind.is_dir() => {
                    if let Some(what) = foreign_blobs(&entry.path()) {
                        return Some(what);
                    }
                }
                _ => {
                    return Some(format!(
                        "holds `{}`, which glc does not write",
                        name.to_string_lossy()
                    ));
                }
            }
        }
        if !has_index {
            return Some("holds no `index.json`".into());
        }
        let index =
            crate::oci::file::read_regular(&self.path.join("index.json"), MAX_DOCUMENT).ok();
        let ours = index
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|v| v["annotations"][MARKER].is_string());
        (!ours).then(|| "holds an `index.json` glc did not write".into())
    }

    /// Puts the finished `staging` layout in place of the target: in place if the target is
    /// a glc layout (see the module's comment), else by an atomic exchange where the
    /// filesystem has one, so that readers see the old layout or the new one.
    pub fn replace_with(&self, staging: &Path) -> Result<(), OutputError> {
        // Every byte on disk before the layout becomes visible. Through the directory opened
        // before anything was written: `syncfs` reports the write errors since its descriptor
        // was opened, and blobs start going to disk while they are written.
        rustix::fs::syncfs(&*self.parent_dir)
            .map_err(|e| OutputError::Io("cannot flush the new layout to disk".into(), e.into()))?;
        if fs::symlink_metadata(&self.path).is_err() {
            return fs::rename(staging, &self.path).map_err(io_err(format!(
                "cannot move the layout to {}",
                self.path.display()
            )));
        }
        if self.is_glc_layout() {
            return self.update_in_place(staging);
        }
        let exchanged = rustix::fs::renameat_with(
            rustix::fs::CWD,
            staging,
            rustix::fs::CWD,
            &self.path,
            RenameFlags::EXCHANGE,
        );
        let old = if exchanged.is_ok() {
            staging.to_path_buf()
        } else {
            // No atomic exchange here (an old kernel or a filesystem without it): two renames,
            // and the old layout put back if the second fails.
            let old = self.beside(&format!("old-{}", std::process::id()));
            fs::rename(&self.path, &old)
                .map_err(io_err(format!("cannot move {} aside", self.path.display())))?;
            if let Err(error) = fs::rename(staging, &self.path) {
                let _ = fs::rename(&old, &self.path);
                return Err(OutputError::Io(
                    format!("cannot move the layout to {}", self.path.display()),
                    error,
                ));
            }
            old
        };
        // The new layout is in place: the build has succeeded. An old layout that cannot be
        // removed now is removed by the next build into this target (`clean_stale`).
        let _ = if old.is_dir() {
            fs::remove_dir_all(&old)
        } else {
            fs::remove_file(&old)
        };
        Ok(())
    }

    /// Moves the staging layout's blobs into the target, then its `index.json`, then removes
    /// the blobs that neither the old nor the new `index.json` reaches.
    fn update_in_place(&self, staging: &Path) -> Result<(), OutputError> {
        // The blobs the replaced `index.json` reaches stay for readers that read it; if it
        // cannot be walked, every blob stays.
        let kept = reachable(&self.path);
        let blobs = self.path.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_err(format!("cannot create {}", blobs.display())))?;
        let mut new = BTreeSet::new();
        let staged = staging.join("blobs").join("sha256");
        for entry in
            fs::read_dir(&staged).map_err(io_err(format!("cannot list {}", staged.display())))?
        {
            let entry = entry.map_err(io_err(format!("cannot list {}", staged.display())))?;
            let name = entry.file_name();
            fs::rename(entry.path(), blobs.join(&name)).map_err(io_err(format!(
                "cannot move a blob into {}",
                blobs.display()
            )))?;
            new.insert(name.to_string_lossy().into_owned());
        }
        sync_dir(&blobs)?;
        for name in ["oci-layout", "index.json"] {
            fs::rename(staging.join(name), self.path.join(name)).map_err(io_err(format!(
                "cannot move {name} into {}",
                self.path.display()
            )))?;
        }
        sync_dir(&self.path)?;
        // The new layout is in place: the build has succeeded. What cannot be removed now is
        // removed by a later build.
        if let Some(kept) = kept {
            prune(&self.path, &kept, &new, staging);
        }
        let _ = fs::remove_dir_all(staging);
        Ok(())
    }
}

/// After a glc layout's `index.json` was replaced: removes the blobs that neither the new
/// one (`reached`) nor the replaced one (`kept`) reaches, and names in [`KEPT_FILE`] those
/// only the replaced one reaches (the file goes when there are none). `scratch`, a directory
/// beside the layout, holds the file until it is renamed into place. Best effort: the layout
/// is right whatever fails here, and the next update does it again.
pub(crate) fn prune(
    root: &Path,
    kept: &BTreeSet<String>,
    reached: &BTreeSet<String>,
    scratch: &Path,
) {
    let Ok(listing) = fs::read_dir(root.join("blobs").join("sha256")) else {
        return;
    };
    let mut only_kept = Vec::new();
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if reached.contains(&name) {
            continue;
        }
        if kept.contains(&name) {
            only_kept.push(name);
        } else {
            let _ = fs::remove_file(entry.path());
        }
    }
    let record = root.join(KEPT_FILE);
    if only_kept.is_empty() {
        let _ = fs::remove_file(record);
        return;
    }
    only_kept.sort();
    let mut text = String::new();
    for hex in &only_kept {
        text.push_str("sha256:");
        text.push_str(hex);
        text.push('\n');
    }
    let created = fs::create_dir(scratch).is_ok();
    let temp = scratch.join(KEPT_FILE);
    let _ = fs::write(&temp, text).and_then(|()| fs::rename(&temp, &record));
    let _ = fs::remove_file(&temp);
    if created {
        let _ = fs::remove_dir(scratch);
    }
}

fn list(dir: &Path) -> Option<Vec<fs::DirEntry>> {
    fs::read_dir(dir).ok()?.collect::<Result<Vec<_>, _>>().ok()
}

/// What under `blobs` glc did not write: anything but `sha256/` holding regular files named
/// by a sha256 digest.
fn foreign_blobs(blobs: &Path) -> Option<String> {
    let Some(entries) = list(blobs) else {
        return Some("holds a `blobs` directory glc cannot list".into());
    };
    for entry in entries {
        let name = entry.file_name();
        if name != "sha256" || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            return Some(format!(
                "holds `blobs/{}`, which glc did not write",
                name.to_string_lossy()
            ));
        }
        let Some(blobs) = list(&entry.path()) else {
            return Some("holds a `blobs/sha256` directory glc cannot list".into());
        };
        for blob in blobs {
            let name = blob.file_name();
            let is_digest = name.to_str().is_some_and(crate::oci::layout::is_sha256_hex);
            if !is_digest || !blob.file_type().is_ok_and(|t| t.is_file()) {
                return Some(format!(
                    "holds `blobs/sha256/{}`, which glc does not write",
                    name.to_string_lossy()
                ));
            }
        }
    }
    None
}

fn describe_metadata(metadata: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::MetadataExt;
    crate::oci::file::kind_name(rustix::fs::FileType::from_raw_mode(metadata.mode()))
}

fn sync_dir(dir: &Path) -> Result<(), OutputError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("cannot flush {} to disk", dir.display())))
}

/// The hex digests of every blob that a glc layout's `index.json` reaches, or `None` if the
/// layout cannot be walked (then nothing may be removed from it). Its documents are read
/// through the layout's store as their descriptors say, not hashed: a reader of the replaced
/// `index.json` is kept what that file leads to, as it is.
pub(crate) fn reachable(root: &Path) -> Option<BTreeSet<String>> {
    let dir = LayoutDir::open(root).ok()?;
    let index = dir.read("index.json", MAX_DOCUMENT).ok()?;
    let index: serde_json::Value = serde_json::from_slice(&index).ok()?;
    let layout = Layout::with_index(root.display().to_string(), dir, &index);
    let mut seen = BTreeSet::new();
    let mut stack: Vec<(serde_json::Value, usize)> = vec![(index, 0)];
    while let Some((document, depth)) = stack.pop() {
        let children = ["manifests", "layers"]
            .iter()
            .filter_map(|key| document[key].as_array())
            .flatten()
            .chain(["config", "subject"].iter().map(|key| &document[key]));
        for descriptor in children {
            let Some(digest) = descriptor["digest"].as_str() else {
                continue;
            };
            let hex = digest.strip_prefix("sha256:")?;
            if !crate::oci::layout::is_sha256_hex(hex) {
                return None;
            }
            if !seen.insert(hex.to_owned()) {
                continue;
            }
            let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
            if crate::oci::vocab::Kind::of(media_type).is_document() {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let descriptor = Descriptor::from_value(descriptor).ok()?;
                let bytes = layout.read(&descriptor, MAX_DOCUMENT).ok()?;
                stack.push((serde_json::from_slice(&bytes).ok()?, depth + 1));
            }
        }
    }
    Some(seen)
}

/// Held while a build writes; released, and its file removed, when dropped. A build that
/// dies releases it too, and leaves the file for the next build to take.
#[derive(Debug)]
pub struct Lock {
    file: File,
    parent_dir: Arc<OwnedFd>,
    name: String,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, and only if it is still this lock's file: a build that
        // waits on it then sees it gone and takes the lock on a new file.
        let ours = rustix::fs::fstat(&self.file).ok();
        let current =
            rustix::fs::statat(&*self.parent_dir, &self.name, AtFlags::SYMLINK_NOFOLLOW).ok();
        if let (Some(ours), Some(current)) = (ours, current)
            && ours.st_dev == current.st_dev
            && ours.st_ino == current.st_ino
        {
            let _ = rustix::fs::unlinkat(&*self.parent_dir, &self.name, AtFlags::empty());
        }
    }
}
