//! Safe output: a layout is built in a staging directory beside its target and swapped into
//! place whole. A lock file beside the target keeps two builds from interleaving; staging
//! directories left by a killed build are removed by the next one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, RenameFlags};

/// The `oci-layout` file glc writes.
pub const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Marks the `index.json` of a layout glc wrote, so that glc replaces only its own layouts.
pub const MARKER: &str = "io.gardenlinux.glc.layout";

#[derive(Debug)]
pub enum OutputError {
    Io(String, io::Error),
    /// The target exists and is not a layout glc wrote.
    Foreign(PathBuf, &'static str),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(what, error) => write!(f, "{what}: {error}"),
            Self::Foreign(path, what) => {
                write!(f, "{} {what}, not a layout glc wrote", path.display())
            }
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
        Ok(Self {
            path: path.to_path_buf(),
            parent,
            name,
        })
    }

    fn beside(&self, suffix: &str) -> PathBuf {
        self.parent.join(format!(".{}.glc-{suffix}", self.name))
    }

    /// Takes the target's lock, waiting for another build that holds it; `waiting` is told
    /// the pid of that build once, before the wait.
    pub fn lock(&self, waiting: impl FnOnce(&str)) -> Result<Lock, OutputError> {
        let path = self.beside("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(format!("cannot open the lock {}", path.display())))?;
        if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            waiting(holder.trim());
            rustix::fs::flock(&file, FlockOperation::LockExclusive).map_err(|e| {
                OutputError::Io(format!("cannot lock {}", path.display()), e.into())
            })?;
        }
        // Who holds the lock, for the message of a build that waits on it.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Lock { _file: file })
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
                fs::remove_dir_all(entry.path())
                    .map_err(io_err(format!("cannot remove {}", entry.path().display())))?;
            }
        }
        Ok(())
    }

    /// The digest cache of builds into this target.
    #[must_use]
    pub fn cache_path(&self) -> PathBuf {
        self.beside("cache.json")
    }

    /// The target, if it is a layout glc wrote (whose blobs a new build may reuse).
    #[must_use]
    pub fn previous_layout(&self) -> Option<&Path> {
        let index = fs::read(self.path.join("index.json")).ok()?;
        let ours = serde_json::from_slice::<serde_json::Value>(&index).ok()?["annotations"][MARKER]
            .is_string();
        ours.then_some(self.path.as_path())
    }

    /// Whether the target already is exactly this layout: the same `index.json` and every
    /// blob present with its size. Then a build has nothing to write.
    #[must_use]
    pub fn holds(&self, index: &[u8], blobs: &std::collections::BTreeMap<String, u64>) -> bool {
        fs::read(self.path.join("index.json")).is_ok_and(|current| current == index)
            && fs::read(self.path.join("oci-layout")).is_ok_and(|layout| layout == LAYOUT_FILE)
            && blobs.iter().all(|(hex, size)| {
                fs::metadata(self.path.join("blobs/sha256").join(hex))
                    .is_ok_and(|m| m.len() == *size)
            })
    }

    /// A fresh staging directory path beside the target (not created).
    #[must_use]
    pub fn staging(&self) -> PathBuf {
        self.beside(&format!("tmp-{}", std::process::id()))
    }

    /// Whether the target may be replaced: absent, an empty directory, or a glc layout;
    /// anything else only with `force`.
    pub fn check_replaceable(&self, force: bool) -> Result<(), OutputError> {
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
        if force {
            return Ok(());
        }
        if !metadata.is_dir() {
            return Err(OutputError::Foreign(self.path.clone(), "is a file"));
        }
        let mut listing = fs::read_dir(&self.path)
            .map_err(io_err(format!("cannot list {}", self.path.display())))?;
        if listing.next().is_none() {
            return Ok(());
        }
        let index = fs::read(self.path.join("index.json")).unwrap_or_default();
        let ours = serde_json::from_slice::<serde_json::Value>(&index)
            .ok()
            .is_some_and(|v| v["annotations"][MARKER].is_string());
        if ours {
            Ok(())
        } else {
            Err(OutputError::Foreign(self.path.clone(), "holds other files"))
        }
    }

    /// Puts the finished `staging` layout in place of the target: an atomic exchange where
    /// the filesystem has one, so that readers see the old layout or the new one.
    pub fn replace_with(&self, staging: &Path) -> Result<(), OutputError> {
        let dir = File::open(staging).map_err(io_err("cannot open the new layout"))?;
        // Every byte on disk before the layout becomes visible.
        rustix::fs::syncfs(&dir)
            .map_err(|e| OutputError::Io("cannot flush the new layout to disk".into(), e.into()))?;
        if fs::symlink_metadata(&self.path).is_err() {
            return fs::rename(staging, &self.path).map_err(io_err(format!(
                "cannot move the layout to {}",
                self.path.display()
            )));
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
}

/// Held while a build writes; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}
