//! Writing an OCI image layout: blobs stream into a temporary file while they are hashed,
//! then are renamed to their digest. Equal blobs are stored once. A writer may also run dry:
//! it hashes what it is given and writes nothing, to learn the digests of a layout before
//! deciding whether it needs writing at all. Safe to share between threads.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::input::Stamp;
pub use super::input::{Input, InputError, kind_of};
pub use super::sparse::SparseFile;
use sha2::{Digest as _, Sha256};

/// Bytes copied at a time when streaming a file into a blob.
pub const BUFFER: usize = 1 << 20;

/// Bytes of an input read (and copied in the kernel) at a time: few enough to be hashed
/// while the CPU's cache still holds them.
const CHUNK: usize = 256 << 10;

/// A blob as stored: `sha256:<hex>` and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

/// `sha256:` and 64 lowercase hex digits: the only digests glc names files after.
#[must_use]
pub fn is_sha256(digest: &str) -> bool {
    crate::oci::Digest::parse(digest).is_ok()
}

/// Whether `hex` is the hex of a sha256 digest, as blob file names are.
#[must_use]
pub fn is_sha256_hex(hex: &str) -> bool {
    is_sha256(&format!("sha256:{hex}"))
}

impl Blob {
    #[must_use]
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

/// The reason a blob could not be stored as expected.
#[derive(Debug)]
pub enum BlobError {
    Io(io::Error),
    /// The bytes did not hash to the digest they were declared with.
    Mismatch {
        expected: String,
        actual: Blob,
        expected_size: u64,
    },
}

impl From<io::Error> for BlobError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// How a blob came to be in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placement {
    /// Bytes copied (and hashed on the way).
    Copied,
    /// Hard-linked from the layout this one replaces, where it already was.
    Reused,
    /// Cloned from the input by the filesystem (FICLONE): shares the input's blocks.
    Reflinked,
    /// Hard-linked to the input itself.
    HardLinked,
    /// The same bytes as another input, placed already.
    Duplicate,
    /// Nothing written: a dry run.
    None,
}

#[derive(Debug)]
pub struct LayoutWriter {
    /// `blobs/sha256` of the layout being written; `None` for a dry run.
    sha256: Option<PathBuf>,
    root: Option<PathBuf>,
    next_temp: AtomicU64,
    /// Blobs written (or, in a dry run, that would be): hex → size.
    written: Mutex<BTreeMap<String, u64>>,
    /// In a dry run, the bytes of the documents written whole (manifests, indexes, small
    /// layers): what `glc verify --release` compares a layout with.
    documents: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Blobs an input has claimed to place (see [`LayoutWriter::claim`]).
    claimed: Mutex<std::collections::HashSet<String>>,
}

impl LayoutWriter {
    /// Starts a layout in `root`, which must not exist yet.
    pub fn create(root: &Path) -> io::Result<Self> {
        fs::create_dir(root)?;
        let sha256 = root.join("blobs").join("sha256");
        fs::create_dir_all(&sha256)?;
        Ok(Self {
            sha256: Some(sha256),
            root: Some(root.to_path_buf()),
            next_temp: AtomicU64::new(0),
            written: Mutex::default(),
            documents: Mutex::default(),
            claimed: Mutex::default(),
        })
    }

    /// A writer that hashes everything and writes nothing.
    #[must_use]
    pub fn dry() -> Self {
        Self {
            sha256: None,
            root: None,
            next_temp: AtomicU64::new(0),
            written: Mutex::default(),
            documents: Mutex::default(),
            claimed: Mutex::default(),
        }
    }

    /// The documents a dry run wrote whole: hex → bytes. Empty for a real layout.
    #[must_use]
    pub fn take_documents(&self) -> BTreeMap<String, Vec<u8>> {
        std::mem::take(
            &mut *self
                .documents
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    #[must_use]
    pub fn is_dry(&self) -> bool {
        self.sha256.is_none()
    }

    /// The directory being written; `None` for a dry run.
    #[must_use]
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    fn written(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        // A panic while holding the lock would already have failed the build.
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every blob of the layout: hex → size.
    #[must_use]
    pub fn blobs(&self) -> BTreeMap<String, u64> {
        self.written().clone()
    }

    /// Number of distinct blobs and their total size.
    #[must_use]
    pub fn totals(&self) -> (usize, u64) {
        let written = self.written();
        // Sizes come from descriptors, which another tool's layout may make absurd.
        let bytes = written
            .values()
            .fold(0u64, |sum, size| sum.saturating_add(*size));
        (written.len(), bytes)
    }

    /// Whether the layout holds (or, dry, would hold) this blob already.
    #[must_use]
    pub fn contains(&self, blob: &Blob) -> bool {
        self.has(blob.hex())
    }

    fn has(&self, hex: &str) -> bool {
        self.written().contains_key(hex)
    }

    /// Claims the placing of `blob` for the caller: `false` if another input with the same
    /// bytes claimed it first (then that one places it). Parallel inputs with equal bytes are
    /// so placed once, and counted as duplicates whichever thread comes first.
    pub fn claim(&self, blob: &Blob) -> bool {
        self.claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(blob.hex().to_owned())
    }

    /// Records a blob as present (placed by the caller, or in a dry run, not at all).
    pub fn record(&self, blob: &Blob) {
        self.written().insert(blob.hex().to_owned(), blob.size);
    }

    /// A writer for one blob; `BlobWriter::finish` names it by its digest.
    pub fn blob(&self) -> io::Result<BlobWriter<'_>> {
        let file = match &self.sha256 {
            Some(dir) => {
                let temp = self.temp_path(dir);
                let file = File::create(&temp)?;
                Some((temp, SparseFile::new(file)))
            }
            None => None,
        };
        Ok(BlobWriter {
            layout: self,
            file,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub fn write_bytes(&self, bytes: &[u8]) -> io::Result<Blob> {
        let blob = Blob {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            size: bytes.len() as u64,
        };
        if self.has(blob.hex()) {
            return Ok(blob);
        }
        if self.is_dry() {
            self.documents
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(blob.hex().to_owned(), bytes.to_vec());
        }
        let mut writer = self.blob()?;
        writer.write_all(bytes)?;
        writer.finish()
    }

    /// Streams `reader` into a blob, hashing as it copies.
    pub fn write_reader(&self, reader: &mut dyn Read) -> io::Result<Blob> {
        let mut writer = self.blob()?;
        copy(reader, &mut writer)?;
        writer.finish()
    }

    /// Streams a blob that must have `digest` and `size`; on a mismatch nothing is kept.
    pub fn write_verified(
        &self,
        reader: &mut dyn Read,
        digest: &str,
        size: u64,
    ) -> Result<Blob, BlobError> {
        if let Some(hex) = digest.strip_prefix("sha256:")
            && self.written().get(hex) == Some(&size)
        {
            return Ok(Blob {
                digest: digest.to_owned(),
                size,
            });
        }
        // Read one byte more than declared, to notice a blob that is too long.
        let mut limited = reader.take(size.saturating_add(1));
        let mut writer = self.blob()?;
        copy(&mut limited, &mut writer)?;
        let actual = Blob {
            digest: format!("sha256:{}", hex::encode(writer.hasher.clone().finalize())),
            size: writer.size,
        };
        if actual.digest != digest || actual.size != size {
            writer.discard();
            return Err(BlobError::Mismatch {
                expected: digest.to_owned(),
                actual,
                expected_size: size,
            });
        }
        Ok(writer.finish()?)
    }

    /// Puts the file `from`, whose bytes are `blob`, into the layout without copying: a hard
    /// link (from a previous layout, or to the input), or a reflink. Returns `None` if the
    /// filesystem allows neither, and the caller copies.
    pub fn link(&self, blob: &Blob, from: &Path, reflink: bool) -> io::Result<Option<Placement>> {
        if !is_sha256(&blob.digest) {
            return Err(not_sha256(blob));
        }
        let Some(dir) = &self.sha256 else {
            self.record(blob);
            return Ok(Some(Placement::None));
        };
        let linked = if reflink {
            Placement::HardLinked
        } else {
            Placement::Reused
        };
        if self.has(blob.hex()) {
            return Ok(Some(Placement::Duplicate));
        }
        let target = dir.join(blob.hex());
        if reflink {
            let temp = self.temp_path(dir);
            let cloned = Input::open(from)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
                .and_then(|source| {
                    let destination = File::create(&temp)?;
                    rustix::fs::ioctl_ficlone(&destination, &source.file).map_err(io::Error::from)
                });
            if cloned.is_ok() {
                fs::rename(&temp, &target)?;
                self.record(blob);
                return Ok(Some(Placement::Reflinked));
            }
            let _ = fs::remove_file(&temp);
        }
        match fs::hard_link(from, &target) {
            // A symlink is linked as itself, and would name another file in this layout or
            // one outside it: never placed, the caller copies.
            Ok(()) if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) => {
                fs::remove_file(&target)?;
                Ok(None)
            }
            Ok(()) => {
                self.record(blob);
                Ok(Some(linked))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Some(Placement::Duplicate)),
            // Another filesystem, or links not allowed: the caller copies.
            Err(_) => Ok(None),
        }
    }

    /// Copies an input into a blob, hashing it on the way: exactly the bytes it had when
    /// opened, which must not have changed by the end. `read` is told of every chunk read.
    pub fn write_input(&self, input: &Input, read: &dyn Fn(u64)) -> Result<Blob, InputError> {
        let mut writer = self.blob().map_err(InputError::Write)?;
        writer.clone_from(&input.file);
        let copied = copy_input(input, &mut writer, read).and_then(|()| {
            if writer.size == input.size() {
                input.verify()
            } else {
                Err(InputError::Changed)
            }
        });
        match copied {
            Ok(()) => writer.finish().map_err(InputError::Write),
            Err(error) => {
                writer.discard();
                Err(error)
            }
        }
    }

    /// Puts an input whose bytes are `blob` into the layout without copying: a reflink,
    /// else a hard link to the file itself. `None` if the filesystem allows neither. Fails
    /// if the input changed before it was linked.
    pub fn link_input(&self, blob: &Blob, input: &Input) -> Result<Option<Placement>, InputError> {
        let Some(dir) = &self.sha256 else {
            self.record(blob);
            return Ok(Some(Placement::None));
        };
        if !is_sha256(&blob.digest) {
            return Err(InputError::Write(not_sha256(blob)));
        }
        if self.has(blob.hex()) {
            return Ok(Some(Placement::Duplicate));
        }
        let target = dir.join(blob.hex());
        let temp = self.temp_path(dir);
        let cloned = File::create(&temp).and_then(|destination| {
            rustix::fs::ioctl_ficlone(&destination, &input.file).map_err(io::Error::from)
        });
        let placement = if cloned.is_ok() {
            fs::rename(&temp, &target).map_err(InputError::Write)?;
            Placement::Reflinked
        } else {
            let _ = fs::remove_file(&temp);
            match fs::hard_link(&input.path, &target) {
                Ok(()) => Placement::HardLinked,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Ok(Some(Placement::Duplicate));
                }
                // Another filesystem, or links not allowed: the caller copies.
                Err(_) => return Ok(None),
            }
        };
        // The path may name another file by now: what was linked must be what was hashed.
        let linked = fs::symlink_metadata(&target).map(|m| Stamp::of(&m));
        let same_file = |m: &Stamp| m.dev == input.stamp.dev && m.ino == input.stamp.ino;
        let unchanged = match placement {
            Placement::HardLinked => linked.as_ref().is_ok_and(same_file),
            _ => linked.is_ok(),
        };
        if !unchanged || input.verify_with(Stamp::same_after_link).is_err() {
            let _ = fs::remove_file(&target);
            return Err(InputError::Changed);
        }
        self.record(blob);
        Ok(Some(placement))
    }

    /// Replaces the copy of `blob` just written with a hard link to `from`, a file with the
    /// same bytes (the previous layout's): the copy, not yet flushed, costs no disk then, and
    /// the layouts share the blob. Returns whether it did.
    pub fn relink(&self, blob: &Blob, from: &Path) -> io::Result<bool> {
        let Some(dir) = &self.sha256 else {
            return Ok(false);
        };
        if !is_sha256(&blob.digest) {
            return Err(not_sha256(blob));
        }
        let temp = self.temp_path(dir);
        if fs::hard_link(from, &temp).is_err() {
            return Ok(false);
        }
        if !fs::symlink_metadata(&temp).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&temp)?;
            return Ok(false);
        }
        fs::rename(&temp, dir.join(blob.hex()))?;
        Ok(true)
    }

    fn temp_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!(
            ".incoming-{}",
            self.next_temp.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Writes `oci-layout` and `index.json`, completing the layout (nothing, in a dry run).
    pub fn finish(self, index: &[u8]) -> io::Result<Option<PathBuf>> {
        let Some(root) = self.root else {
            return Ok(None);
        };
        fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs::write(root.join("index.json"), index)?;
        Ok(Some(root))
    }
}

/// Puts entries of `index.json` in the order rule of glc's layouts: tagged entries by tag in
/// byte order, then untagged ones by digest. A build's `index.json` is in this order by
/// construction; signatures added to a layout, and a layout written through
/// [`crate::oci::store::Staged`], are sorted into it.
pub fn sort_index_entries(entries: &mut [serde_json::Value]) {
    entries.sort_by(|a, b| index_order(a).cmp(&index_order(b)));
}

fn index_order(entry: &serde_json::Value) -> (bool, &str) {
    match entry["annotations"][crate::oci::vocab::annotation::REF_NAME].as_str() {
        Some(tag) => (false, tag),
        None => (true, entry["digest"].as_str().unwrap_or_default()),
    }
}

fn copy(reader: &mut dyn Read, writer: &mut dyn Write) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER];
    loop {
        // A MiB at a time: a signal stops a copy of a large blob within one.
        crate::util::interrupt::check()?;
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buffer[..n])?;
    }
}

/// Copies an input's data into `writer`, and its holes as holes, never reading them.
fn copy_input(
    input: &Input,
    writer: &mut BlobWriter<'_>,
    read: &dyn Fn(u64),
) -> Result<(), InputError> {
    use rustix::fs::{SeekFrom, seek};
    let size = input.size();
    let mut at = 0;
    let mut buffer = vec![0u8; CHUNK];
    // Until the filesystems refuse: then through glc's memory.
    let mut in_kernel = true;
    while at < size {
        crate::util::interrupt::check()?;
        let data = match seek(&input.file, SeekFrom::Data(at)) {
            Ok(data) => data.min(size),
            // Only a hole is left.
            Err(rustix::io::Errno::NXIO) => size,
            // No SEEK_DATA here: everything is data.
            Err(_) => at,
        };
        if data > at {
            writer.zeros(data - at).map_err(InputError::Write)?;
            read(data - at);
            at = data;
            continue;
        }
        let hole = seek(&input.file, SeekFrom::Hole(at)).map_or(size, |hole| hole.min(size));
        // Read sequentially from `at`: the offset shows how far glc has read.
        seek(&input.file, SeekFrom::Start(at)).map_err(|e| InputError::Io(e.into()))?;
        while at < hole {
            // A chunk at a time: a signal stops the copy of a large input within one.
            crate::util::interrupt::check()?;
            let want = usize::try_from(hole - at).map_or(CHUNK, |left| left.min(CHUNK));
            let n = loop {
                match (&input.file).read(&mut buffer[..want]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    result => break result.map_err(InputError::Io)?,
                }
            };
            if n == 0 {
                // The file ends before its size said: it shrank.
                return Err(InputError::Changed);
            }
            writer
                .write_read_from(&input.file, at, &buffer[..n], &mut in_kernel)
                .map_err(InputError::Write)?;
            read(n as u64);
            at += n as u64;
        }
    }
    Ok(())
}

fn not_sha256(blob: &Blob) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("`{}` is not a sha256 digest", blob.digest),
    )
}

/// One blob being written: bytes go to a temporary file (unless dry) and into the hash.
pub struct BlobWriter<'a> {
    layout: &'a LayoutWriter,
    file: Option<(PathBuf, SparseFile)>,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter<'_> {
    /// Names the blob by its digest (keeping an equal blob already stored).
    pub fn finish(self) -> io::Result<Blob> {
        let Self {
            layout,
            file,
            hasher,
            size,
        } = self;
        let blob = Blob {
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            size,
        };
        if let (Some((temp, file)), Some(dir)) = (file, &layout.sha256) {
            file.finish()?;
            if layout.has(blob.hex()) {
                fs::remove_file(&temp)?;
            } else {
                fs::rename(&temp, dir.join(blob.hex()))?;
            }
        }
        layout.record(&blob);
        Ok(blob)
    }

    fn discard(self) {
        if let Some((temp, file)) = self.file {
            drop(file);
            // The staging directory is removed as a whole if this fails too.
            let _ = fs::remove_file(&temp);
        }
    }
}

impl BlobWriter<'_> {
    /// `bytes`, just read at `at` from `input`: hashed here, and copied into the file by the
    /// kernel from the page cache where `in_kernel` still holds, else written.
    fn write_read_from(
        &mut self,
        input: &File,
        at: u64,
        bytes: &[u8],
        in_kernel: &mut bool,
    ) -> io::Result<()> {
        let copied = *in_kernel
            && match &mut self.file {
                Some((_, file)) => file.copy_range(input, at, bytes.len()).is_ok(),
                None => true,
            };
        if copied {
            self.hasher.update(bytes);
            self.size += bytes.len() as u64;
            Ok(())
        } else {
            *in_kernel = false;
            self.write_all(bytes)
        }
    }

    /// Clones the input into the file where the filesystem can (a reflink: shared blocks,
    /// copied on write), leaving only the hashing to do.
    fn clone_from(&mut self, input: &File) {
        if let Some((_, file)) = &mut self.file {
            file.cloned = rustix::fs::ioctl_ficlone(&file.file, input).is_ok();
        }
    }

    /// `len` zero bytes: hashed, and left a hole in the file.
    fn zeros(&mut self, len: u64) -> io::Result<()> {
        if let Some((_, file)) = &mut self.file {
            file.skip(len)?;
        }
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left).map_or(ZEROS.len(), |l| l.min(ZEROS.len()));
            self.hasher.update(&ZEROS[..n]);
            left -= n as u64;
        }
        self.size += len;
        Ok(())
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some((_, file)) = &mut self.file {
            file.append(bytes)?;
        }
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Zeros to hash for a hole, without reading it.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sparse::BLOCK;

    const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn blobs_are_named_by_their_digest_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let a = layout.write_bytes(b"{}").unwrap();
        assert_eq!(a.digest, EMPTY);
        let b = layout.write_reader(&mut &b"{}"[..]).unwrap();
        assert_eq!(a, b);
        assert_eq!(layout.totals(), (1, 2));
        let stored = fs::read(dir.path().join("l/blobs/sha256").join(a.hex())).unwrap();
        assert_eq!(stored, b"{}");
        let names: Vec<_> = fs::read_dir(dir.path().join("l/blobs/sha256"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_blob_that_does_not_match_its_digest_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert!(matches!(
            layout.write_verified(&mut &b"{}"[..], wrong, 2),
            Err(BlobError::Mismatch { .. })
        ));
        assert!(matches!(
            layout.write_verified(&mut &b"{}x"[..], EMPTY, 2),
            Err(BlobError::Mismatch { .. })
        ));
        assert_eq!(
            fs::read_dir(dir.path().join("l/blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
        assert!(layout.write_verified(&mut &b"{}"[..], EMPTY, 2).is_ok());
    }

    #[test]
    fn blocks_of_zeros_become_holes_and_the_bytes_stay_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        // Zeros and data of every alignment, written in pieces of odd sizes.
        let mut bytes = vec![0u8; 3 * BUFFER + 12_345];
        for (start, len) in [
            (0, 1),
            (5000, 4096),
            (BUFFER - 3, 7),
            (2 * BUFFER + 100, 9000),
        ] {
            bytes[start..start + len].fill(0xa5);
        }
        bytes.extend(vec![0u8; 3 * BLOCK]);
        let mut writer = layout.blob().unwrap();
        for piece in bytes.chunks(777_777) {
            writer.write_all(piece).unwrap();
        }
        writer.zeros(10_000).unwrap();
        let blob = writer.finish().unwrap();
        bytes.extend(vec![0u8; 10_000]);
        let stored = fs::read(dir.path().join("l/blobs/sha256").join(blob.hex())).unwrap();
        assert!(stored == bytes, "the blob holds the bytes written");
        assert_eq!(
            blob.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        assert_eq!(blob.size, bytes.len() as u64);
    }

    #[test]
    fn an_input_is_copied_whole_data_and_holes_alike() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        let file = File::create(&path).unwrap();
        // Data across several chunks, a hole, data, and a hole at the end.
        let data: Vec<u8> = (0..3 * CHUNK + 17)
            .map(|i| i.to_le_bytes()[0] | 1)
            .collect();
        file.write_all_at(&data, 0).unwrap();
        file.write_all_at(b"middle", 8 << 20).unwrap();
        file.set_len(16 << 20).unwrap();
        drop(file);
        let bytes = fs::read(&path).unwrap();
        let layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let read = std::sync::atomic::AtomicU64::new(0);
        let input = Input::open(&path).unwrap();
        let blob = layout
            .write_input(&input, &|n| {
                read.fetch_add(n, Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(
            blob.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        let stored = fs::read(dir.path().join("l/blobs/sha256").join(blob.hex())).unwrap();
        assert!(stored == bytes, "the blob holds the input's bytes");
        assert_eq!(
            read.into_inner(),
            16 << 20,
            "holes count as read for the progress bar"
        );
        let dry = LayoutWriter::dry().write_input(&input, &|_| {}).unwrap();
        assert_eq!(dry, blob);
    }

    #[test]
    fn a_dry_run_hashes_the_same_and_writes_nothing() {
        let layout = LayoutWriter::dry();
        assert_eq!(layout.write_bytes(b"{}").unwrap().digest, EMPTY);
        assert_eq!(layout.write_reader(&mut &b"{}"[..]).unwrap().digest, EMPTY);
        assert_eq!(layout.totals(), (1, 2));
        assert_eq!(layout.finish(b"{}").unwrap(), None);
    }

    #[test]
    fn linking_places_the_same_bytes_under_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        fs::write(&input, b"{}").unwrap();
        let layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let blob = Blob {
            digest: EMPTY.to_owned(),
            size: 2,
        };
        let placement = layout.link(&blob, &input, true).unwrap();
        assert!(
            matches!(
                placement,
                Some(Placement::Reflinked | Placement::HardLinked)
            ),
            "{placement:?}"
        );
        assert_eq!(
            fs::read(dir.path().join("l/blobs/sha256").join(blob.hex())).unwrap(),
            b"{}"
        );
        assert_eq!(
            layout.link(&blob, &input, true).unwrap(),
            Some(Placement::Duplicate),
            "stored once"
        );
        let escape = Blob {
            digest: "sha256:../../x".to_owned(),
            size: 2,
        };
        assert!(
            layout.link(&escape, &input, true).is_err(),
            "a digest that is not hex never names a file"
        );
        assert_eq!(
            fs::read_dir(dir.path().join("l/blobs/sha256"))
                .unwrap()
                .count(),
            1
        );
    }
}
