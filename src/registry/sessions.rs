//! Upload sessions kept across runs of `glc push`, so that a push killed half-way through a
//! big blob is finished by the next run from the registry's offset, not from the blob's first
//! byte.
//!
//! Each session of a chunked upload is one small file, named by the hash of the registry's
//! origin, the repository and the blob's digest, holding the session's URL (the `Location`
//! the registry gave last). It is written after every chunk the registry took (a whole file
//! renamed into place, so a kill leaves the old URL or the new one), read when the same blob
//! is pushed again, and removed once the blob is complete. The URL is the registry's own: it
//! is used only when it has the registry's origin, and the registry is asked where the upload
//! stands before anything is sent. What a session file holds is never a credential.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::oci::Digest;

/// A session URL longer than this is not one glc wrote.
const MAX_URL: u64 = 8 << 10;

/// A session older than this is not resumed (registries purge stale uploads after days).
const MAX_AGE: std::time::Duration = std::time::Duration::from_hours(72);

/// The session files of one registry repository, in `dir`.
#[derive(Debug, Clone)]
pub struct Sessions {
    dir: PathBuf,
    /// `origin/repository@`: what names a blob's session besides its digest.
    prefix: String,
    /// What every upload URL of the repository starts with.
    uploads: String,
}

impl Sessions {
    #[must_use]
    pub fn new(dir: PathBuf, origin: &str, repository: &str) -> Self {
        Self {
            dir,
            prefix: format!("{origin}/{repository}@"),
            uploads: format!("{origin}/v2/{repository}/blobs/uploads/"),
        }
    }

    /// Where upload sessions are kept by default: `$XDG_STATE_HOME/glc/uploads`, else
    /// `~/.local/state/glc/uploads`; `None` without either variable.
    #[must_use]
    pub fn default_dir() -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|home| home.join(".local/state"))
            })?;
        Some(state.join("glc/uploads"))
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let name = Sha256::digest(format!("{}{digest}", self.prefix).as_bytes());
        self.dir.join(hex::encode(name))
    }

    /// The URL of the session an earlier push left for `digest`: only from a file of this
    /// user's, at most [`MAX_AGE`] old, that holds an upload URL of this repository.
    #[must_use]
    pub fn load(&self, digest: &Digest) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let path = self.path(digest);
        let metadata = fs::symlink_metadata(&path).ok()?;
        let fresh = metadata
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age <= MAX_AGE);
        if metadata.uid() != rustix::process::geteuid().as_raw() || !fresh {
            return None;
        }
        let bytes = crate::oci::file::read_regular(&path, MAX_URL).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let url = text.trim_end_matches('\n');
        (url.starts_with(&self.uploads) && !url.chars().any(char::is_control))
            .then(|| url.to_owned())
    }

    /// Keeps `url` as the session of `digest`. A session that cannot be kept only costs a
    /// later push the bytes sent so far, so failures are ignored.
    pub fn save(&self, digest: &Digest, url: &str) {
        let path = self.path(digest);
        let _ = (|| -> std::io::Result<()> {
            create_private_dir(&self.dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            temp.write_all(url.as_bytes())?;
            temp.write_all(b"\n")?;
            temp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
    }

    /// Forgets the session of `digest`: the blob is complete, or the registry forgot it.
    pub fn forget(&self, digest: &Digest) {
        let _ = fs::remove_file(self.path(digest));
    }
}

/// `dir` and its parents, the last readable by the user only (the URLs name repositories).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_kept_per_origin_repository_and_digest_and_only_as_its_own_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let origin = "http://127.0.0.1:5000";
        let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).expect("digest");
        let sessions = Sessions::new(dir.path().join("uploads"), origin, "gl");
        let other = Sessions::new(dir.path().join("uploads"), origin, "other");
        let elsewhere = Sessions::new(dir.path().join("uploads"), "http://127.0.0.1:5001", "gl");
        assert_eq!(sessions.load(&digest), None);

        let url = format!("{origin}/v2/gl/blobs/uploads/1234?_state=abc");
        sessions.save(&digest, &url);
        assert_eq!(sessions.load(&digest), Some(url.clone()));
        assert_eq!(other.load(&digest), None, "another repository");
        assert_eq!(elsewhere.load(&digest), None, "another registry");

        // A file that is not an upload URL of this repository is ignored.
        for planted in [
            "http://127.0.0.1:5000.evil/v2/gl/blobs/uploads/1\n".to_owned(),
            format!("{origin}/v2/other/blobs/uploads/1\n"),
            format!("{origin}/v2/gl/manifests/latest\n"),
            format!("{url}\r\nX: y\n"),
        ] {
            fs::write(sessions.path(&digest), planted).expect("write");
            assert_eq!(sessions.load(&digest), None);
        }

        // A link is not followed, and an old session is not resumed.
        fs::remove_file(sessions.path(&digest)).expect("remove");
        let target = dir.path().join("target");
        fs::write(&target, format!("{url}\n")).expect("write");
        std::os::unix::fs::symlink(&target, sessions.path(&digest)).expect("symlink");
        assert_eq!(sessions.load(&digest), None);
        fs::remove_file(sessions.path(&digest)).expect("remove");
        sessions.save(&digest, &url);
        let old = std::time::SystemTime::now() - MAX_AGE - std::time::Duration::from_mins(1);
        fs::File::options()
            .write(true)
            .open(sessions.path(&digest))
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        assert_eq!(sessions.load(&digest), None);

        sessions.save(&digest, &url);
        sessions.forget(&digest);
        assert_eq!(sessions.load(&digest), None);
    }
}
