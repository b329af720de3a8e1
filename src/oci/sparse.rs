//! A blob's temporary file, written sparse: blocks of zeros become holes, so a sparse input
//! stays sparse in the layout, and in what `glc get` writes.

use std::fs::File;
use std::io::{self, Write};

use super::layout::BUFFER;
use crate::util::writeback::Writeback;

/// Blocks of zeros are left as holes, in units of this.
pub(super) const BLOCK: usize = 4096;

/// A blob's temporary file, written so that blocks of zeros become holes: a sparse input
/// stays sparse, whether it was copied, packed, merged, imported or pulled.
pub struct SparseFile {
    pub(super) file: File,
    /// Bytes not yet written; they belong at `offset`.
    pending: Vec<u8>,
    offset: u64,
    /// The filesystem cloned the input into this file (a reflink): the bytes are there
    /// already, and writes only count.
    pub(super) cloned: bool,
    writeback: Writeback,
}

impl SparseFile {
    #[must_use]
    pub fn new(file: File) -> Self {
        Self::at(file, 0)
    }

    /// Writing on after the `offset` bytes `file` holds (a download resumed). The file must
    /// not be opened to append: bytes go where their offset says, holes are skipped.
    #[must_use]
    pub fn at(file: File, offset: u64) -> Self {
        Self {
            file,
            pending: Vec::new(),
            offset,
            cloned: false,
            writeback: Writeback::default(),
        }
    }

    /// Appends `bytes`, buffered a [`BUFFER`] at a time; blocks of zeros become holes.
    pub fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if self.cloned {
            self.offset += bytes.len() as u64;
            return Ok(());
        }
        if self.pending.is_empty() && bytes.len() >= BUFFER {
            // Whole buffers go straight to the file, without another copy.
            let whole = bytes.len() - bytes.len() % BUFFER;
            self.write_at_offset(&bytes[..whole])?;
            bytes = &bytes[whole..];
        }
        while !bytes.is_empty() {
            let n = (BUFFER - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == BUFFER {
                self.flush_pending()?;
            }
        }
        Ok(())
    }

    /// Leaves `len` bytes of zeros as a hole.
    pub(super) fn skip(&mut self, len: u64) -> io::Result<()> {
        self.flush_pending()?;
        self.offset += len;
        Ok(())
    }

    /// Writes what is buffered, and the size: every byte given is then in the file, so the
    /// file's length says how far it got. The file stays open for more.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()?;
        self.file.set_len(self.offset)
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.write_at_offset(&pending)?;
        self.pending = pending;
        self.pending.clear();
        Ok(())
    }

    /// Writes `bytes` at the offset, but not its blocks of zeros.
    fn write_at_offset(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let zero = |block: &[u8]| block.iter().fold(0, |all, b| all | b) == 0;
        let mut start = 0;
        while start < bytes.len() {
            let end = (start + BLOCK).min(bytes.len());
            if zero(&bytes[start..end]) {
                start = end;
                continue;
            }
            let mut run_end = end;
            while run_end < bytes.len() {
                let next = (run_end + BLOCK).min(bytes.len());
                if zero(&bytes[run_end..next]) {
                    break;
                }
                run_end = next;
            }
            self.file
                .write_all_at(&bytes[start..run_end], self.offset + start as u64)?;
            start = run_end;
        }
        self.offset += bytes.len() as u64;
        self.writeback.wrote(&self.file, self.offset);
        Ok(())
    }

    /// Copies `len` bytes at `at` of `input` (which the file has up to `at`) in the kernel:
    /// no copy through glc's memory. Fails where the filesystems cannot.
    pub(super) fn copy_range(&mut self, input: &File, at: u64, len: usize) -> io::Result<()> {
        if self.cloned {
            self.offset += len as u64;
            return Ok(());
        }
        if !self.pending.is_empty() || self.offset != at {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let (mut from, mut to) = (at, at);
        let mut left = len;
        while left > 0 {
            match rustix::fs::copy_file_range(
                input,
                Some(&mut from),
                &self.file,
                Some(&mut to),
                left,
            )? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => left -= n,
            }
        }
        self.offset += len as u64;
        self.writeback.wrote(&self.file, self.offset);
        Ok(())
    }

    /// Writes what is pending, and the size: a hole at the end is part of the file too.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush()
    }
}

impl Write for SparseFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.append(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        SparseFile::flush(self)
    }
}
