//! Blob uploads: in one request up to the chunk size (`POST` a session, `PUT` the bytes),
//! else in chunks (`PATCH`) that resume from the registry's offset after a broken connection;
//! a session an earlier push left is resumed from where the registry is ([`Sessions`]). The
//! whole upload is tried again under the retry policy when the registry forgot the session
//! or a try failed on the way.
//!
//! The bytes come from a file (a layout's blob) or a reader (another registry's download,
//! [`Client::upload_stream`]), opened again at the offset a try goes on from.
//!
//! [`Sessions`]: super::sessions::Sessions

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::Ordering;

use super::client::{Client, check_digest};
use super::error::{Error, ErrorKind, error};
use super::retry::{Step, retry_after, transient};
use super::transport::{Answer, Body, Sent};
use crate::oci::{Digest, printable};

/// A reader of a blob from an offset on (another registry's download, resumed there).
pub type Open<'a> = dyn Fn(u64) -> Box<dyn Read + 'a> + 'a;

/// Where an upload's bytes come from.
enum Bytes<'a, 'o> {
    /// A file, read again from any offset on every try.
    File(&'a File),
    /// A reader, read as the bytes go up and opened again at the offset a try starts from
    /// where it is not there: never the whole blob in memory or on disk.
    Stream {
        open: &'a Open<'o>,
        reader: RefCell<Positioned<'o>>,
    },
}

/// A reader and the offset of the blob it is at.
struct Positioned<'a> {
    at: u64,
    inner: Box<dyn Read + 'a>,
}

impl Read for Positioned<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Bytes<'_, '_> {
    /// The body of `len` bytes from offset `start`.
    fn body<'b>(&'b self, start: u64, len: u64, sent: &'b Sent<'b>, cut: bool) -> Body<'b> {
        match self {
            Bytes::File(file) => Body::File {
                file,
                start,
                len,
                sent,
                cut,
            },
            Bytes::Stream { open, reader } => {
                // Borrowed only while a request reads it, one request at a time: it is free.
                if let Ok(mut positioned) = reader.try_borrow_mut()
                    && positioned.at != start
                {
                    *positioned = Positioned {
                        at: start,
                        inner: open(start),
                    };
                }
                Body::Reader {
                    reader,
                    start,
                    len,
                    sent,
                    cut,
                }
            }
        }
    }
}

impl Client {
    fn start_upload(&self) -> Result<String, Error> {
        let url = self.url("blobs/uploads/");
        self.upload_sessions.fetch_add(1, Ordering::Relaxed);
        let answer = self.send("POST", &url, &[], Body::Empty, true)?;
        match (answer.status, answer.location) {
            (202, Some(location)) => Ok(self.absolute(&location)),
            (status, _) => Err(self.refusal("POST blobs/uploads/", status, &answer.body)),
        }
    }

    fn finish_upload(
        &self,
        location: &str,
        digest: &Digest,
        body: Body<'_>,
    ) -> Result<Answer, Error> {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        // Once: a PUT cut half-way leaves the session at another offset than its state says;
        // the caller starts a new upload.
        self.send_once(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            body,
            true,
        )
    }

    /// Uploads `size` bytes of `file` as blob `digest`: in one request up to `chunk` bytes,
    /// else in chunks, each resumed from the registry's offset after a broken connection.
    /// `sent` hears the offset up to which the blob has been read to go up, as it goes (from
    /// the start again after a retry; from where the registry is when an upload resumes).
    pub fn upload_blob(
        &self,
        file: &File,
        size: u64,
        digest: &Digest,
        chunk: u64,
        sent: &Sent<'_>,
    ) -> Result<(), Error> {
        self.upload(&Bytes::File(file), size, digest, chunk, sent)
    }

    /// Uploads blob `digest` of `size` bytes read as they go up from `open(offset)`, a reader
    /// of the blob from `offset` on (another registry's download): as [`Client::upload_blob`],
    /// in one request up to `chunk` bytes, else in chunks; a try that fails opens the reader
    /// again where the upload goes on (from the start, or the registry's offset). The registry
    /// checks the bytes against `digest` when the upload closes.
    pub fn upload_stream(
        &self,
        open: &Open<'_>,
        size: u64,
        digest: &Digest,
        chunk: u64,
        sent: &Sent<'_>,
    ) -> Result<(), Error> {
        let bytes = Bytes::Stream {
            open,
            // Opened at the first request's offset.
            reader: RefCell::new(Positioned {
                at: u64::MAX,
                inner: Box::new(std::io::empty()),
            }),
        };
        self.upload(&bytes, size, digest, chunk, sent)
    }

    fn upload(
        &self,
        bytes: &Bytes<'_, '_>,
        size: u64,
        digest: &Digest,
        chunk: u64,
        sent: &Sent<'_>,
    ) -> Result<(), Error> {
        let answer = self.policy.run(|| {
            let result = if size <= chunk {
                self.start_upload().and_then(|location| {
                    self.finish_upload(&location, digest, bytes.body(0, size, sent, true))
                })
            } else {
                self.upload_chunks(bytes, size, digest, chunk, sent)
            };
            match result {
                // A session the registry forgot or holds other bytes of (after a cut
                // connection), or a transient failure: start a new upload.
                Ok(answer) if transient(answer.status) || matches!(answer.status, 404 | 416) => {
                    if matches!(answer.status, 404 | 416)
                        && let Some(sessions) = &self.sessions
                    {
                        sessions.forget(digest);
                    }
                    Step::Retry {
                        wait: retry_after(answer.status, answer.retry_after.as_deref()),
                        outcome: Ok(answer),
                    }
                }
                Ok(answer) => Step::Done(Ok(answer)),
                Err(e) => Step::of_error(e),
            }
        })?;
        // Whole now, or refused (a later push starts afresh rather than meet the same
        // answer): a session an earlier push left for it has no use.
        if let Some(sessions) = &self.sessions {
            sessions.forget(digest);
        }
        if !(200..=299).contains(&answer.status) {
            return Err(self.refusal(
                &format!("upload of blob {digest}"),
                answer.status,
                &answer.body,
            ));
        }
        check_digest(answer.digest.as_deref(), digest, &digest.to_string())
    }

    fn upload_chunks(
        &self,
        bytes: &Bytes<'_, '_>,
        size: u64,
        digest: &Digest,
        chunk: u64,
        sent: &Sent<'_>,
    ) -> Result<Answer, Error> {
        let (mut location, mut offset) = match self.resume_upload(digest, size) {
            Some(resumed) => resumed,
            None => (self.start_upload()?, 0),
        };
        sent(offset);
        let mut broken = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let answer = self.send_once(
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                bytes.body(offset, len, sent, false),
                true,
            );
            match answer {
                Ok(answer) if answer.status == 202 => {
                    if let Some(next) = &answer.location {
                        location = self.absolute(next);
                    }
                    let next = answer
                        .range
                        .as_deref()
                        .and_then(range_offset)
                        .unwrap_or(offset + len);
                    // A registry that does not move on, or past the end, would loop forever.
                    if next <= offset || next > size {
                        return Err(error(format!(
                            "{} answered a chunk of blob {digest} at byte {offset} with the range {:?}",
                            self.host,
                            printable(answer.range.as_deref().unwrap_or_default())
                        )));
                    }
                    offset = next;
                    if let Some(sessions) = &self.sessions {
                        sessions.save(digest, &location);
                    }
                }
                // Stopped: the session stays for the next push, which asks how far it got.
                Err(e) if e.kind == ErrorKind::Interrupted => return Err(e),
                other => {
                    // A broken connection or a refused chunk: ask the registry how far it got.
                    let wait = other
                        .as_ref()
                        .ok()
                        .and_then(|a| retry_after(a.status, a.retry_after.as_deref()));
                    if !self.policy.failed(&mut broken, wait) {
                        return other;
                    }
                    let status = self.send("GET", &location, &[], Body::Empty, true)?;
                    if status.status == 404 {
                        return Err(error(format!(
                            "the registry forgot the upload of blob {digest}"
                        )));
                    }
                    if let Some(next) = &status.location {
                        location = self.absolute(next);
                    }
                    offset = status.range.as_deref().and_then(range_offset).unwrap_or(0);
                }
            }
        }
        // The session is forgotten by `upload_blob` once the blob is whole or refused; a
        // `PUT` that failed on the way is resumed by the next try, with nothing to send.
        self.finish_upload(&location, digest, Body::Empty)
    }

    /// The session an earlier push left for `digest` and the offset the registry holds of
    /// it: `None` where there is none, or the registry forgot it or answers otherwise.
    fn resume_upload(&self, digest: &Digest, size: u64) -> Option<(String, u64)> {
        let sessions = self.sessions.as_ref()?;
        let location = sessions.load(digest)?;
        // Not reached: kept for a run that reaches the registry.
        let answer = self.send("GET", &location, &[], Body::Empty, false).ok()?;
        let offset = answer.range.as_deref().and_then(range_offset);
        let resumed = offset
            .filter(|offset| answer.status == 204 && *offset <= size)
            .map(|offset| {
                let location = answer
                    .location
                    .as_deref()
                    .map_or(location, |next| self.absolute(next));
                (location, offset)
            });
        match &resumed {
            Some((_, offset)) => {
                self.resumed.fetch_add(1, Ordering::Relaxed);
                self.resumed_bytes.fetch_add(*offset, Ordering::Relaxed);
            }
            None => sessions.forget(digest),
        }
        resumed
    }
}

/// The offset a `Range: 0-N` (or `bytes=0-N`) header says the registry holds up to. Docker's
/// distribution writes `0-0` for nothing received yet, so `0-0` is taken as that: a one-byte
/// upload then resumes from 0 and is refused with 416, which restarts it.
fn range_offset(range: &str) -> Option<u64> {
    let range = range.trim().trim_start_matches("bytes=");
    let (_, end) = range.split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    if end == 0 {
        Some(0)
    } else {
        end.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_offset_to_resume_from() {
        assert_eq!(range_offset("0-1023"), Some(1024));
        assert_eq!(range_offset("bytes=0-9"), Some(10));
        assert_eq!(range_offset("0-0"), Some(0));
        assert_eq!(range_offset("garbage"), None);
    }
}
