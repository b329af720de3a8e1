//! Writing an OCI image layout: blobs stream into a temporary file while they are hashed,
//! then are renamed to their digest. Equal blobs are stored once.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Bytes copied at a time when streaming a file into a blob.
const BUFFER: usize = 1 << 20;

/// A blob as stored: `sha256:<hex>` and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
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

#[derive(Debug)]
pub struct LayoutWriter {
    root: PathBuf,
    sha256: PathBuf,
    next_temp: u64,
    /// Blobs written so far: hex → size.
    written: BTreeMap<String, u64>,
}

impl LayoutWriter {
    /// Starts a layout in `root`, which must not exist yet.
    pub fn create(root: &Path) -> io::Result<Self> {
        fs::create_dir(root)?;
        let sha256 = root.join("blobs").join("sha256");
        fs::create_dir_all(&sha256)?;
        Ok(Self {
            root: root.to_path_buf(),
            sha256,
            next_temp: 0,
            written: BTreeMap::new(),
        })
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of distinct blobs and their total size.
    #[must_use]
    pub fn totals(&self) -> (usize, u64) {
        (self.written.len(), self.written.values().sum())
    }

    /// A writer for one blob; `BlobWriter::finish` names it by its digest.
    pub fn blob(&mut self) -> io::Result<BlobWriter<'_>> {
        self.next_temp += 1;
        let temp = self.sha256.join(format!(".incoming-{}", self.next_temp));
        let file = File::create(&temp)?;
        Ok(BlobWriter {
            layout: self,
            temp,
            file: BufWriter::with_capacity(BUFFER, file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<Blob> {
        let hex = hex::encode(Sha256::digest(bytes));
        if self.written.contains_key(&hex) {
            return Ok(Blob {
                digest: format!("sha256:{hex}"),
                size: bytes.len() as u64,
            });
        }
        let mut writer = self.blob()?;
        writer.write_all(bytes)?;
        writer.finish()
    }

    /// Streams `reader` into a blob, hashing as it copies.
    pub fn write_reader(&mut self, reader: &mut impl Read) -> io::Result<Blob> {
        let mut writer = self.blob()?;
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            writer.write_all(&buffer[..n])?;
        }
        writer.finish()
    }

    /// Streams a blob that must have `digest` and `size`; on a mismatch nothing is kept.
    pub fn write_verified(
        &mut self,
        reader: &mut dyn Read,
        digest: &str,
        size: u64,
    ) -> Result<Blob, BlobError> {
        if let Some(hex) = digest.strip_prefix("sha256:")
            && self.written.get(hex) == Some(&size)
        {
            return Ok(Blob {
                digest: digest.to_owned(),
                size,
            });
        }
        // Read one byte more than declared, to notice a blob that is too long.
        let mut limited = reader.take(size.saturating_add(1));
        let mut writer = self.blob()?;
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let n = match limited.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            writer.write_all(&buffer[..n])?;
        }
        let actual_hex = hex::encode(writer.hasher.clone().finalize());
        let actual = Blob {
            digest: format!("sha256:{actual_hex}"),
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

    /// Writes `oci-layout` and `index.json`, completing the layout.
    pub fn finish(self, index: &[u8]) -> io::Result<PathBuf> {
        fs::write(
            self.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs::write(self.root.join("index.json"), index)?;
        Ok(self.root)
    }
}

/// One blob being written: bytes go to a temporary file and into the hash.
pub struct BlobWriter<'a> {
    layout: &'a mut LayoutWriter,
    temp: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter<'_> {
    /// Names the blob by its digest (keeping an equal blob already stored).
    pub fn finish(self) -> io::Result<Blob> {
        let Self {
            layout,
            temp,
            file,
            hasher,
            size,
        } = self;
        file.into_inner().map_err(io::IntoInnerError::into_error)?;
        let hex = hex::encode(hasher.finalize());
        if layout.written.contains_key(&hex) {
            fs::remove_file(&temp)?;
        } else {
            fs::rename(&temp, layout.sha256.join(&hex))?;
            layout.written.insert(hex.clone(), size);
        }
        Ok(Blob {
            digest: format!("sha256:{hex}"),
            size,
        })
    }

    fn discard(self) {
        drop(self.file);
        // The staging directory is removed as a whole if this fails too.
        let _ = fs::remove_file(&self.temp);
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_named_by_their_digest_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let a = layout.write_bytes(b"{}").unwrap();
        assert_eq!(
            a.digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let b = layout.write_reader(&mut &b"{}"[..]).unwrap();
        assert_eq!(a, b);
        assert_eq!(layout.totals(), (1, 2));
        let stored = fs::read(dir.path().join(
            "l/blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ))
        .unwrap();
        assert_eq!(stored, b"{}");
        let names: Vec<_> = fs::read_dir(dir.path().join("l/blobs/sha256"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_blob_that_does_not_match_its_digest_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = LayoutWriter::create(&dir.path().join("l")).unwrap();
        let wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert!(matches!(
            layout.write_verified(&mut &b"{}"[..], wrong, 2),
            Err(BlobError::Mismatch { .. })
        ));
        let right = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert!(matches!(
            layout.write_verified(&mut &b"{}x"[..], right, 2),
            Err(BlobError::Mismatch { .. })
        ));
        assert_eq!(
            fs::read_dir(dir.path().join("l/blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
        assert!(layout.write_verified(&mut &b"{}"[..], right, 2).is_ok());
    }
}
