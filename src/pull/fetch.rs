//! Downloading a pull's blobs through the repository's store: those neither the previous
//! layout nor an earlier pull holds, in parallel, hashed on the way; and hashing again the
//! ones glc did not write in this run.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use super::{Request, fail, registry_error, store_error, write_error};
use crate::diagnostic::Diagnostics;
use crate::oci::layout::{Blob, SparseFile};
use crate::oci::store::Store;
use crate::oci::{Descriptor, Digest};
use crate::registry::{Error, ErrorKind, parallel};

/// Downloads from `store` every blob neither the previous layout nor an earlier pull holds,
/// `request.jobs` at a time, into `downloads`.
pub(super) fn fetch(
    store: &(dyn Store + Sync),
    request: &Request,
    kept: &Kept<'_>,
    previous: Option<&Path>,
    blobs: &[Descriptor],
    downloaded: &AtomicU64,
    bytes: &AtomicU64,
) -> Result<(), Diagnostics> {
    let downloads = kept.downloads;
    match fs::symlink_metadata(downloads) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(write_error(
                downloads,
                &io::Error::other("it is not a directory glc made; remove it"),
            ));
        }
        Err(_) => fs::create_dir(downloads).map_err(|e| write_error(downloads, &e))?,
    }
    let missing: Vec<&Descriptor> = blobs
        .iter()
        .filter(|blob| {
            kept.reusable(previous, &blob.digest, blob.size).is_none()
                && !fs::symlink_metadata(downloads.join(blob.digest.hex()))
                    .is_ok_and(|m| m.is_file() && m.len() == blob.size)
        })
        .collect();
    let progress = crate::util::progress::Progress::with_items(
        request.progress,
        "pull",
        missing.iter().map(|blob| blob.size).sum(),
        Some(("blobs", missing.len() as u64)),
    );
    let result = parallel(&missing, request.jobs, |blob| {
        let got = download(store, &request.host, downloads, blob, &progress)?;
        downloaded.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(got, Ordering::Relaxed);
        progress.item_done();
        Ok::<(), Diagnostics>(())
    });
    progress.finish();
    result.map(|_| ())
}

/// Where a pull's blobs may come from besides the registry, each hashed before it is taken.
pub(super) struct Kept<'a> {
    /// Blobs an earlier pull downloaded whole (hashed again: see [`check_kept`]).
    pub(super) downloads: &'a Path,
    /// Blobs of the previous layout whose bytes are not their digest's.
    pub(super) damaged: &'a HashSet<Digest>,
}

impl Kept<'_> {
    /// The previous layout's copy of a blob, if it has one with the right size and bytes.
    pub(super) fn reusable(
        &self,
        previous: Option<&Path>,
        digest: &Digest,
        size: u64,
    ) -> Option<std::path::PathBuf> {
        if self.damaged.contains(digest) {
            return None;
        }
        let blob = Blob {
            digest: digest.to_string(),
            size,
        };
        crate::oci::import::reusable(previous, &blob)
    }
}

/// What [`check_kept`] found.
pub(super) struct Checked {
    /// Blobs hashed.
    pub(super) checked: usize,
    /// Blobs of the previous layout that are damaged.
    pub(super) damaged: HashSet<Digest>,
}

/// Hashes every blob of the pull that the previous layout or an earlier pull's downloads
/// hold: glc did not write them in this run. A damaged download is removed (the pull fetches
/// it again); a damaged blob of the previous layout is named, so the pull neither calls the
/// target up to date nor takes it.
pub(super) fn check_kept(
    previous: Option<&Path>,
    downloads: &Path,
    blobs: &[Descriptor],
    jobs: usize,
) -> Checked {
    let hashes = |path: &Path, digest: &Digest, size: u64| {
        crate::oci::file::open_regular(path)
            .ok()
            .filter(|(_, stored)| *stored == size)
            .and_then(|(file, _)| Digest::of_reader(file.take(size)).ok())
            .is_some_and(|(actual, read)| actual == *digest && read == size)
    };
    let results: Result<Vec<(usize, Option<Digest>)>, ()> = parallel(blobs, jobs.max(2), |blob| {
        let (digest, size) = (&blob.digest, &blob.size);
        let mut checked = 0;
        let mut damaged = None;
        // Every copy the target holds, hard-linked or not: the dry run calls a target
        // that holds them up to date.
        let held = previous.map(|p| p.join(digest.blob_path()));
        if let Some(path) = held
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == *size)
        {
            checked += 1;
            if !hashes(&path, digest, *size) {
                damaged = Some(digest.clone());
            }
        }
        let download = downloads.join(digest.hex());
        if fs::symlink_metadata(&download).is_ok_and(|m| m.is_file() && m.len() == *size) {
            checked += 1;
            if !hashes(&download, digest, *size) {
                let _ = fs::remove_file(&download);
            }
        }
        Ok((checked, damaged))
    });
    let results = results.unwrap_or_default();
    Checked {
        checked: results.iter().map(|(checked, _)| checked).sum(),
        damaged: results
            .into_iter()
            .filter_map(|(_, damaged)| damaged)
            .collect(),
    }
}

/// Downloads one blob of `host`'s repository (`store`) into `downloads/<hex>`, through
/// `<hex>.part`, resuming a part left by an earlier pull (its bytes are hashed again, the rest
/// read from where it ends). Returns the bytes fetched.
fn download(
    store: &dyn Store,
    host: &str,
    downloads: &Path,
    blob: &Descriptor,
    progress: &crate::util::progress::Progress,
) -> Result<u64, Diagnostics> {
    let (digest, size) = (&blob.digest, blob.size);
    let part = downloads.join(format!("{}.part", digest.hex()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        // Not through a link, not waiting on a fifo someone put there.
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK)
                .bits()
                .cast_signed(),
        )
        .open(&part)
        .map_err(|e| write_error(&part, &e))?;
    let metadata = file.metadata().map_err(|e| write_error(&part, &e))?;
    if !metadata.is_file() {
        return Err(write_error(
            &part,
            &io::Error::other("it is not a regular file"),
        ));
    }
    let mut hasher = Sha256::new();
    let mut have = metadata.len();
    if have > size {
        file.set_len(0).map_err(|e| write_error(&part, &e))?;
        have = 0;
    }
    if have > 0 {
        let mut prefix = (&file).take(have);
        io::copy(&mut prefix, &mut HashWriter(&mut hasher)).map_err(|e| write_error(&part, &e))?;
    }
    // What an earlier pull downloaded is done, but not this pull's rate.
    progress.there(have);
    let start = have;
    // Written a MiB at a time (a socket gives a few KiB a read), blocks of zeros left as
    // holes: a sparse disk image stays sparse. The write to disk starts as it goes.
    let mut writer = SparseFile::at(file, have);
    let downloaded = {
        let mut sink = |chunk: &[u8]| -> io::Result<()> {
            writer.append(chunk)?;
            hasher.update(chunk);
            progress.inc(chunk.len() as u64);
            have += chunk.len() as u64;
            Ok(())
        };
        copy_blob(store, blob, start, &mut sink)
    };
    // What came is kept for the next pull, even when the rest did not.
    writer.finish().map_err(|e| write_error(&part, &e))?;
    downloaded.map_err(|e| match e {
        Stopped::Registry(e) => registry_error(
            &e,
            "what was downloaded is kept beside the target for the next pull; nothing else was written",
        ),
        Stopped::Store(e) => store_error(&e),
    })?;
    let got = have - start;
    if have != size || Digest::from_hasher(hasher) != *digest {
        let _ = fs::remove_file(&part);
        return Err(fail(
            "glc::pull::content",
            format!(
                "{host} sent blob {digest} with other bytes than its digest or size says; no layout was written, the blobs downloaded whole are kept beside the target for the next pull"
            ),
            "the repository's content is damaged: push it again, then pull again",
        ));
    }
    fs::rename(&part, downloads.join(digest.hex())).map_err(|e| write_error(&part, &e))?;
    Ok(got)
}

/// Why a blob's copy stopped: the registry's error (a reader's, or the sink's said as one), or
/// the store's.
enum Stopped {
    Registry(Error),
    Store(crate::oci::store::StoreError),
}

/// Reads blob `blob` of `store` from byte `from` on into `sink`, a MiB at a time; `sink`
/// errors end it.
fn copy_blob(
    store: &dyn Store,
    blob: &Descriptor,
    from: u64,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), Stopped> {
    let mut reader = store.open_at(blob, from).map_err(Stopped::Store)?.reader;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buffer[..n]).map_err(|e| {
                Stopped::Registry(Error::new(
                    ErrorKind::Other,
                    format!("cannot store blob {}: {e}", blob.digest),
                ))
            })?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Stopped::Registry(Error::from_io(e))),
        }
    }
}

/// Feeds what is written into a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
