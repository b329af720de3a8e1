//! Blob downloads: a reader of one blob that resumes a broken connection with `Range`,
//! follows redirects to the registry's storage and retries what is worth it.

use std::io::Read;

use super::{Client, Error, Opened, PROGRESS, content_range_start, error, interrupted, transient};
use crate::oci::Digest;

/// A blob read from a registry, resumed where a connection broke: [`Client::read_blob`].
pub struct BlobReader<'a> {
    client: &'a Client,
    digest: Digest,
    size: u64,
    /// Bytes of the blob read so far (or there before).
    position: u64,
    /// Tries since bytes last came.
    tries: u32,
    authenticated: bool,
    stream: Option<Box<dyn Read + Send + Sync>>,
    /// Bytes of the stream to drop: a 200 answer to a request from `position`.
    skip: u64,
    /// Bytes of the blob read since the stream was opened.
    since_open: u64,
}

impl<'a> BlobReader<'a> {
    /// A reader of blob `digest` (`size` bytes) of `client`, from byte `from`.
    pub(super) fn new(client: &'a Client, digest: &Digest, size: u64, from: u64) -> Self {
        Self {
            client,
            digest: digest.clone(),
            size,
            position: from,
            tries: 0,
            authenticated: false,
            stream: None,
            skip: 0,
            since_open: 0,
        }
    }

    /// Opens a stream from `position`, retrying what is worth it.
    fn open(&mut self) -> Result<(), Error> {
        let client = self.client;
        let digest = &self.digest;
        loop {
            self.tries += 1;
            let response = match client.open_blob(digest, self.position) {
                Ok(Opened::Stream(response)) => response,
                Ok(Opened::Status(answer)) if answer.status == 401 && !self.authenticated => {
                    self.authenticated = true;
                    self.tries -= 1;
                    client.authenticate(&answer)?;
                    continue;
                }
                Ok(Opened::Status(answer))
                    if transient(answer.status) && self.tries < client.options.tries =>
                {
                    client.pause(self.tries, answer.retry_after());
                    continue;
                }
                Ok(Opened::Status(answer)) => {
                    return Err(client.refusal(
                        &format!("GET blob {digest}"),
                        answer.status,
                        &answer.body,
                    ));
                }
                Err(e) if e.worth_retrying() && self.tries < client.options.tries => {
                    client.pause(self.tries, None);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A 200 starts from the first byte whatever was asked: skip what is there.
            self.skip = if response.status() == 206 {
                let start = response
                    .header("Content-Range")
                    .and_then(content_range_start);
                if start != Some(self.position) {
                    return Err(error(format!(
                        "{} answered a request for blob {digest} from byte {} with another range",
                        client.host, self.position
                    )));
                }
                0
            } else {
                self.position
            };
            self.stream = Some(Box::new(response.into_reader()));
            self.since_open = 0;
            return Ok(());
        }
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.position >= self.size || buffer.is_empty() {
                return Ok(0);
            }
            // A read at a time: a signal stops a download within a few KiB.
            if crate::interrupt::requested() {
                return Err(std::io::Error::other(interrupted()));
            }
            if self.stream.is_none() {
                self.open().map_err(std::io::Error::other)?;
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let want = usize::try_from(self.size - self.position + self.skip)
                .map_or(buffer.len(), |left| left.min(buffer.len()));
            match stream.read(&mut buffer[..want]) {
                Ok(n) if n > 0 => {
                    let dropped = usize::try_from(self.skip).map_or(n, |s| s.min(n));
                    self.skip -= dropped as u64;
                    if dropped == n {
                        continue;
                    }
                    buffer.copy_within(dropped..n, 0);
                    let n = n - dropped;
                    self.position += n as u64;
                    // Progress: a connection that breaks now and then still gets there.
                    self.since_open += n as u64;
                    if self.since_open >= PROGRESS {
                        self.tries = 0;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Cut short, or broken: resumed from here, within the tries.
                _ => {
                    self.stream = None;
                    if self.tries >= self.client.options.tries {
                        return Err(std::io::Error::other(error(format!(
                            "GET blob {}: the connection broke at byte {} of {}, {} times",
                            self.digest, self.position, self.size, self.client.options.tries
                        ))));
                    }
                    self.client.pause(self.tries.max(1), None);
                }
            }
        }
    }
}
