//! Starting the disk write of what a file was given, while glc goes on.
//!
//! A layout is synced before it is swapped in. Left to itself, the kernel holds the bytes
//! written until then (on a machine with much memory, all of them) and the sync writes
//! everything at the end, after the hashing. Telling the kernel to start writing each few MiB
//! as they are written overlaps the disk with the hashing: a copying build of 2 GB then takes
//! what `cp -r` and `sync` take, not that plus the hashing (`docs/performance.md`).

use std::fs::File;

/// Bytes written a file before its write to disk is started.
const STEP: u64 = 8 << 20;

/// What of one file has been handed to the disk: every byte below `started`.
#[derive(Debug, Default)]
pub struct Writeback {
    started: u64,
}

impl Writeback {
    /// The file has its bytes up to `end` written: starts writing the part not yet started
    /// once it reaches a step. Waits for nothing, and a failure is left to the sync, which
    /// reports it.
    pub fn wrote(&mut self, file: &File, end: u64) {
        if end >= self.started.saturating_add(STEP) {
            start(file, self.started, end - self.started);
            self.started = end;
        }
    }
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: queues the range's dirty pages for writing and
/// returns without waiting. Neither `std` nor `rustix` has it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn start(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the call takes four integers and touches no memory of this process. The
    // descriptor is borrowed from `file`, which is open for the whole call; at worst the
    // kernel answers with an error, which is ignored (the sync before the swap reports
    // write errors).
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(not(target_os = "linux"))]
fn start(_file: &File, _offset: u64, _len: u64) {}
