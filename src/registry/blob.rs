//! Blobs: whether the repository has one (`HEAD`), and downloads: a reader of one blob that
//! resumes a broken connection with `Range`, follows redirects to the registry's storage
//! (without the registry's credentials when they lead elsewhere) and retries what the policy
//! says is worth it.

use std::io::Read;

use super::client::{Client, check_digest};
use super::error::{Error, error, interrupted};
use super::retry::{Step, retry_after, transient};
use super::transport::{Request, Response};
use crate::oci::Digest;

/// Bytes a blob download must bring on one connection before its tries start again: a
/// registry that sends a byte a connection runs out of tries, not on for ever.
const PROGRESS: u64 = 1 << 20;
/// Redirects of a blob's `HEAD` or `GET` glc follows (registries send blobs on to their
/// storage).
const MAX_REDIRECTS: u32 = 5;

impl Client {
    /// Whether the blob is in the repository. Only a 200 says so, from the registry or from
    /// the storage it redirects to (followed as a download is); a 404 says it is not; any
    /// other answer of the storage, or a success other than 200, leaves it unknown, and the
    /// blob is uploaded (which is always right).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, Error> {
        let mut authenticated = false;
        let answer = self.policy.run(|| {
            let (response, own) = match self.follow("HEAD", digest, None) {
                Ok(followed) => followed,
                Err(e) => return Step::of_error(e),
            };
            let answer = response.headers(own);
            match answer.status {
                401 if !authenticated => {
                    authenticated = true;
                    match self.authenticate(&answer) {
                        Ok(()) => Step::Again,
                        Err(e) => Step::Done(Err(e)),
                    }
                }
                status if transient(status) => Step::Retry {
                    wait: retry_after(status, answer.retry_after.as_deref()),
                    outcome: Ok(answer),
                },
                _ => Step::Done(Ok(answer)),
            }
        })?;
        match answer.status {
            200 => {
                check_digest(answer.digest.as_deref(), digest, &digest.to_string())?;
                Ok(true)
            }
            404 => Ok(false),
            status if !answer.own || status < 400 => Ok(false),
            status => Err(self.refusal(&format!("HEAD blob {digest}"), status, &[])),
        }
    }

    /// Downloads blob `digest` of `size` bytes into `sink`, which already holds its first
    /// `have` bytes (a download resumed); see [`Client::read_blob`]. `sink` errors end it.
    pub fn download_blob(
        &self,
        digest: &Digest,
        size: u64,
        have: u64,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let mut reader = self.read_blob(digest, size, have);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => sink(&buffer[..n])
                    .map_err(|e| error(format!("cannot store blob {digest}: {e}")))?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }

    /// A reader of blob `digest` (`size` bytes) from byte `from`: a connection that breaks is
    /// resumed with `Range` where it broke (a registry that answers 200 instead of 206 has
    /// the bytes before skipped), redirects to the registry's storage are followed (without
    /// glc's credentials when they lead elsewhere), 401 is answered, transient failures are
    /// retried. It ends after `size` bytes; the caller checks the digest. Its errors carry an
    /// [`Error`] (see [`Error::from_io`]).
    #[must_use]
    pub fn read_blob(&self, digest: &Digest, size: u64, from: u64) -> BlobReader<'_> {
        BlobReader::new(self, digest, size, from)
    }

    /// One request of blob `digest`, following its redirects: the answer that is not one, and
    /// whether it came from the registry's own origin. The registry's credentials go to its
    /// origin only ([`super::auth::Auth::header`]), on every hop.
    fn follow(
        &self,
        method: &str,
        digest: &Digest,
        range: Option<&str>,
    ) -> Result<(Response, bool), Error> {
        let mut url = self.url(&format!("blobs/{digest}"));
        for _ in 0..=MAX_REDIRECTS {
            let authorization = self.auth.header(&url);
            let mut headers = Vec::new();
            if let Some(range) = range {
                headers.push(("Range", range));
            }
            if let Some(authorization) = &authorization {
                headers.push(("Authorization", authorization.as_str()));
            }
            let request = Request {
                headers: &headers,
                ..Request::new(method, &url)
            };
            let response = self
                .transport
                .call(&request)
                .map_err(|failure| self.transport.failure(method, &url, &failure))?;
            if matches!(response.status(), 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.header("Location")
            {
                url = self.absolute(location);
                continue;
            }
            return Ok((response, self.own(&url)));
        }
        Err(error(format!(
            "{method} blob {digest}: more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// A blob read from a registry, resumed where a connection broke: [`Client::read_blob`].
pub struct BlobReader<'a> {
    client: &'a Client,
    digest: Digest,
    size: u64,
    /// Bytes of the blob read so far (or there before).
    position: u64,
    /// Failures (answers, connections that broke) since bytes last came: the policy's count.
    failures: u32,
    authenticated: bool,
    stream: Option<Box<dyn Read + Send + Sync>>,
    /// Bytes of the stream to drop: a 200 answer to a request from `position`.
    skip: u64,
    /// Bytes of the blob read since the stream was opened.
    since_open: u64,
}

impl<'a> BlobReader<'a> {
    /// A reader of blob `digest` (`size` bytes) of `client`, from byte `from`.
    fn new(client: &'a Client, digest: &Digest, size: u64, from: u64) -> Self {
        Self {
            client,
            digest: digest.clone(),
            size,
            position: from,
            failures: 0,
            authenticated: false,
            stream: None,
            skip: 0,
            since_open: 0,
        }
    }

    /// Opens a stream from `position`, under the retry policy.
    fn open(&mut self) -> Result<(), Error> {
        let client = self.client;
        let digest = &self.digest;
        let authenticated = &mut self.authenticated;
        let range = (self.position > 0).then(|| format!("bytes={}-", self.position));
        let response = client.policy.run_counting(&mut self.failures, || {
            let (response, own) = match client.follow("GET", digest, range.as_deref()) {
                Ok(followed) => followed,
                Err(e) => return Step::of_error(e),
            };
            if matches!(response.status(), 200 | 206) {
                return Step::Done(Ok(response));
            }
            let answer = response.answer_lenient(own);
            let refused =
                || client.refusal(&format!("GET blob {digest}"), answer.status, &answer.body);
            match answer.status {
                401 if !*authenticated => {
                    *authenticated = true;
                    match client.authenticate(&answer) {
                        Ok(()) => Step::Again,
                        Err(e) => Step::Done(Err(e)),
                    }
                }
                status if transient(status) => Step::Retry {
                    outcome: Err(refused()),
                    wait: retry_after(status, answer.retry_after.as_deref()),
                },
                _ => Step::Done(Err(refused())),
            }
        })?;
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
        self.stream = Some(response.into_reader());
        self.since_open = 0;
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.position >= self.size || buffer.is_empty() {
                return Ok(0);
            }
            // A read at a time: a signal stops a download within a few KiB.
            if crate::util::interrupt::requested() {
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
                        self.failures = 0;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Cut short, or broken: resumed from here, within the tries.
                _ => {
                    self.stream = None;
                    let tries = self.client.policy.tries;
                    if !self.client.policy.failed(&mut self.failures, None) {
                        return Err(std::io::Error::other(error(format!(
                            "GET blob {}: the connection broke at byte {} of {}, {tries} times",
                            self.digest, self.position, self.size
                        ))));
                    }
                }
            }
        }
    }
}

/// The first byte of `Content-Range: bytes START-END/SIZE`.
fn content_range_start(range: &str) -> Option<u64> {
    let range = range.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
    }
}
