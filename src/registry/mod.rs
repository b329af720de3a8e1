//! A client of the OCI distribution API (v2), what a push and a pull need: manifests by digest
//! and tag with their exact bytes and media type, the tag list and the referrers API, blobs
//! checked with HEAD, uploaded in one request or in chunks that resume from the registry's
//! offset, and downloaded streaming, resumed with `Range` after a broken connection. Every request is retried with
//! backoff and jitter on 5xx, 429 (`Retry-After` honoured), 408, timeouts and broken
//! connections, a bounded number of times; every `Docker-Content-Digest` is checked.
//!
//! Blocking HTTP (ureq with rustls) on a few threads: a push is I/O on a handful of
//! connections, and a request is rebuilt from the layout's file on every try. ureq stays at
//! 2.x until the transport layer of the layered client replaces this module (see
//! docs/architecture.md: porting it first would write this code twice).

pub mod auth;
mod blob;
pub mod mount;
pub mod pull;
pub mod push;
pub mod sessions;
pub mod source;
mod transport;

pub use blob::BlobReader;
use transport::{jitter_percent, plain_text, tls_config, transport_words};

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::oci::{Digest, printable};
use auth::{Challenge, Credentials};

/// Bytes of a JSON answer glc reads at most (an error body, a token, a referrers index).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// Tags glc reads of a repository's tag list at most.
const MAX_TAGS: usize = 100_000;
/// Pages of a tag list glc reads at most (a registry that gives 100 tags a page reaches
/// [`MAX_TAGS`] in as many).
const MAX_TAG_PAGES: usize = 1000;
/// Bytes a blob download must bring on one connection before its tries start again: a
/// registry that sends a byte a connection runs out of tries, not on for ever.
const PROGRESS: u64 = 1 << 20;
/// Redirects of a blob download glc follows (registries send blobs on to their storage).
const MAX_REDIRECTS: u32 = 5;
/// What glc accepts when it asks a registry for a manifest.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// The longest `Retry-After` glc waits.
const MAX_RETRY_AFTER: Duration = Duration::from_mins(1);

/// Where and how to push: registry, repository, transport and patience.
#[derive(Debug, Clone)]
pub struct Options {
    pub plain_http: bool,
    pub ca_file: Option<std::path::PathBuf>,
    /// Tries of one request before giving up (at least 1).
    pub tries: u32,
    /// First backoff; it doubles on every retry, with jitter.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    /// Ask a token server for read access only (a pull), not for `pull,push`.
    pub read_only: bool,
    /// Where chunked uploads keep their sessions for a later push to resume
    /// ([`sessions::Sessions`]); none kept without it.
    pub sessions_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            plain_http: false,
            ca_file: None,
            tries: 6,
            backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_mins(1),
            read_only: false,
            sessions_dir: None,
        }
    }
}

/// What went wrong with a request, said so that it names the registry's own words and never
/// a credential.
#[derive(Debug, Clone)]
pub struct Error {
    pub message: String,
    pub kind: ErrorKind,
}

/// What kind of failure an [`Error`] is, as far as trying again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A refusal or an unreachable registry: worth retrying where the status says so.
    Other,
    /// The registry refused the credentials (or wants some).
    Auth,
    /// The registry's host name could not be looked up (no such name, or no resolver).
    UnknownHost,
    /// The TLS handshake failed: the certificate does not verify, or no common protocol.
    Tls,
    /// An answer the same request meets again, which is not the registry's word on
    /// credentials (a challenge from another host, a token glc cannot send): not retried.
    Final,
    /// A signal asked glc to stop ([`crate::interrupt`]): no request is sent or retried.
    Interrupted,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn error(message: impl Into<String>) -> Error {
    Error {
        message: message.into(),
        kind: ErrorKind::Other,
    }
}

/// The error of a request not sent, or cut, because a signal asked glc to stop.
fn interrupted() -> Error {
    Error {
        message: crate::interrupt::MESSAGE.to_owned(),
        kind: ErrorKind::Interrupted,
    }
}

/// A request's body: none, bytes, or a range of a file (read again on every try).
#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File {
        file: &'a File,
        start: u64,
        len: u64,
        /// Hears the offset in the file up to which the body has been read, as it is.
        sent: &'a Sent<'a>,
        /// A signal cuts the body: a whole blob, which the next push sends again anyway.
        /// Not a chunk of an upload session: a registry that finds other bytes than the
        /// session's offset drops the session (distribution does), so the chunk goes whole.
        cut: bool,
    },
}

/// Hears how far into a blob's file an upload has read it (the bytes on their way).
pub type Sent<'a> = dyn Fn(u64) + Sync + 'a;

/// A body read from a blob's file: says how far it has read, and, if `cut`, stops on a
/// signal (the request is cut).
struct Sending<'a, R> {
    inner: R,
    at: u64,
    sent: &'a Sent<'a>,
    cut: bool,
}

impl<R: Read> Read for Sending<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.cut {
            crate::interrupt::check()?;
        }
        let n = self.inner.read(buffer)?;
        self.at += n as u64;
        (self.sent)(self.at);
        Ok(n)
    }
}

/// An answer: status, the headers glc reads, and the body if asked for.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub digest: Option<String>,
    pub range: Option<String>,
    pub content_type: Option<String>,
    pub oci_subject: Option<String>,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<String>,
    pub link: Option<String>,
    pub body: Vec<u8>,
    /// Sent by the registry's own origin: only such an answer's challenge is answered with
    /// its credentials.
    pub own: bool,
}

/// A manifest or an index as the registry sent it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    /// The `Content-Type` it was sent with.
    pub media_type: String,
    pub digest: Digest,
}

/// A repository of a registry, with the credentials for it.
pub struct Client {
    agent: ureq::Agent,
    /// `http(s)://host[:port]`
    origin: String,
    pub host: String,
    pub repository: String,
    options: Options,
    credentials: Option<Credentials>,
    authorization: RwLock<Option<String>>,
    /// Counts every request sent, for the summary.
    pub requests: std::sync::atomic::AtomicU64,
    /// Counts the upload sessions started (`POST blobs/uploads/`), retries included.
    pub upload_sessions: std::sync::atomic::AtomicU64,
    /// Uploads an earlier push left, and the bytes the registry already held of them.
    pub resumed: std::sync::atomic::AtomicU64,
    pub resumed_bytes: std::sync::atomic::AtomicU64,
    sessions: Option<sessions::Sessions>,
    /// The registry answered at least once: its name resolves.
    reached: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// Whether `host` is this machine, where podman too speaks plain HTTP by default.
#[must_use]
pub fn is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

impl Client {
    /// A client of `host`'s `repository`; credentials from the environment and auth files.
    pub fn new(host: &str, repository: &str, options: Options) -> Result<Self, Error> {
        if !crate::oci::name::is_host(host) {
            return Err(error(format!(
                "{:?} is not a registry host",
                printable(host)
            )));
        }
        crate::oci::name::check_repository(repository).map_err(error)?;
        let credentials = auth::find(host).map_err(|message| Error {
            message,
            kind: ErrorKind::Auth,
        })?;
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(options.connect_timeout)
            .timeout_read(options.io_timeout)
            .timeout_write(options.io_timeout)
            .redirects(0)
            .user_agent(concat!("glc/", env!("CARGO_PKG_VERSION")));
        // A CA file says the registry speaks TLS, on this machine too.
        let plain = options.plain_http || (is_local(host) && options.ca_file.is_none());
        if !plain && let Some(config) = tls_config(options.ca_file.as_deref())? {
            builder = builder.tls_config(Arc::new(config));
        }
        let scheme = if plain { "http" } else { "https" };
        // Docker Hub's API lives elsewhere than its name.
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let origin = format!("{scheme}://{api_host}");
        let sessions = options
            .sessions_dir
            .clone()
            .map(|dir| sessions::Sessions::new(dir, &origin, repository));
        Ok(Self {
            agent: builder.build(),
            origin,
            host: host.to_owned(),
            repository: repository.to_owned(),
            options,
            credentials,
            authorization: RwLock::new(None),
            requests: std::sync::atomic::AtomicU64::new(0),
            upload_sessions: std::sync::atomic::AtomicU64::new(0),
            resumed: std::sync::atomic::AtomicU64::new(0),
            resumed_bytes: std::sync::atomic::AtomicU64::new(0),
            sessions,
            reached: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.origin, self.repository)
    }

    /// The URL of manifest `reference`, which must be a tag or a digest: no other text
    /// becomes part of a path.
    fn manifest_url(&self, reference: &str) -> Result<String, Error> {
        crate::oci::name::check_reference(reference).map_err(error)?;
        Ok(self.url(&format!("manifests/{reference}")))
    }

    /// Whether `url` is on the registry's own origin (scheme, host and port): the only place
    /// its credentials go.
    fn own(&self, url: &str) -> bool {
        url.strip_prefix(&self.origin)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// A `Location` made absolute.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.origin)
        } else {
            format!("{}/{location}", self.origin)
        }
    }

    /// Checks that the registry speaks the API, and authenticates if it asks to.
    pub fn ping(&self) -> Result<(), Error> {
        let url = format!("{}/v2/", self.origin);
        let answer = self.send("GET", &url, &[], Body::Empty, false)?;
        match answer.status {
            200..=299 => Ok(()),
            status => Err(self.refusal("GET /v2/", status, &answer.body)),
        }
    }

    /// `HEAD` a manifest by digest or tag: the digest the registry names, or `None` if absent.
    pub fn head_manifest(&self, reference: &str, accept: &str) -> Result<Option<String>, Error> {
        let url = self.manifest_url(reference)?;
        let answer = self.send("HEAD", &url, &[("Accept", accept)], Body::Empty, false)?;
        match answer.status {
            200..=299 => {
                if let (Ok(asked), Some(named)) = (Digest::parse(reference), &answer.digest) {
                    check_digest(Some(named), &asked, reference)?;
                }
                Ok(Some(answer.digest.unwrap_or_default()))
            }
            404 => Ok(None),
            status => Err(self.refusal(&format!("HEAD manifest {reference}"), status, &[])),
        }
    }

    /// `GET` a manifest or index by tag or digest: its bytes, or `None` if absent. The bytes
    /// are checked against `Docker-Content-Digest` when the registry sends it, and against the
    /// digest asked for.
    pub fn get_manifest(&self, reference: &str, accept: &str) -> Result<Option<Manifest>, Error> {
        let url = self.manifest_url(reference)?;
        let answer = self.send("GET", &url, &[("Accept", accept)], Body::Empty, true)?;
        match answer.status {
            200..=299 => {
                let digest = Digest::of(&answer.body);
                // The digest asked for, and the one the registry names: both must be the bytes'.
                let asked = reference.starts_with("sha256:").then_some(reference);
                for named in asked.into_iter().chain(answer.digest.as_deref()) {
                    if digest != named {
                        return Err(error(format!(
                            "the registry sent manifest {} with bytes whose digest is not {}",
                            printable(reference),
                            printable(named)
                        )));
                    }
                }
                let media_type = answer
                    .content_type
                    .as_deref()
                    .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
                    .unwrap_or_default();
                // A document is what it says it is: a `Content-Type` that disagrees with it
                // (a manifest sent as an index would be walked as an empty one) is refused.
                let value: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
                let sent = crate::oci::Descriptor {
                    media_type: media_type.clone(),
                    digest: digest.clone(),
                    size: answer.body.len() as u64,
                    annotations: std::collections::BTreeMap::new(),
                    platform: None,
                    artifact_type: None,
                };
                let kind = crate::oci::vocab::Kind::of(&media_type);
                if let Some(problem) = crate::oci::walk::kind_mismatch(&value, &sent, kind) {
                    return Err(Error {
                        message: format!(
                            "{} sent manifest {} with the Content-Type {}: {problem}",
                            self.host,
                            printable(reference),
                            printable(&media_type)
                        ),
                        kind: ErrorKind::Final,
                    });
                }
                Ok(Some(Manifest {
                    bytes: answer.body,
                    media_type,
                    digest,
                }))
            }
            404 => Ok(None),
            status => Err(self.refusal(
                &format!("GET manifest {}", printable(reference)),
                status,
                &answer.body,
            )),
        }
    }

    /// Every tag of the repository (`GET /v2/<repo>/tags/list`, page by page), at most
    /// [`MAX_TAGS`]; empty for a repository the registry does not know. Pages are followed
    /// on the registry's own origin only, each URL once, and the list ends at a page that
    /// adds no tag: a registry cannot keep glc asking. Names that are not tags are left out.
    pub fn tags(&self) -> Result<Vec<String>, Error> {
        let mut tags = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut visited: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut url = self.url("tags/list?n=1000");
        loop {
            visited.insert(url.clone());
            let answer = self.send("GET", &url, &[], Body::Empty, true)?;
            match answer.status {
                200..=299 => {}
                404 => return Ok(tags),
                status => return Err(self.refusal("GET tags/list", status, &answer.body)),
            }
            let page: Value = serde_json::from_slice(&answer.body).map_err(|e| {
                error(format!(
                    "{} answered GET tags/list with something that is not JSON: {e}",
                    self.host
                ))
            })?;
            let before = tags.len();
            for tag in page["tags"].as_array().into_iter().flatten() {
                if let Some(tag) = tag.as_str()
                    && crate::oci::name::is_tag(tag)
                    && tags.len() < MAX_TAGS
                    && seen.insert(tag.to_owned())
                {
                    tags.push(tag.to_owned());
                }
            }
            let Some(next) = answer.link.as_deref().and_then(next_link) else {
                break;
            };
            let next = self.absolute(&next);
            if !self.own(&next) {
                return Err(Error {
                    message: format!(
                        "{} continues its tag list on another origin ({}); glc follows it only on {}",
                        self.host,
                        Self::shown(&next),
                        self.origin
                    ),
                    kind: ErrorKind::Final,
                });
            }
            if tags.len() == before
                || tags.len() >= MAX_TAGS
                || visited.len() >= MAX_TAG_PAGES
                || visited.contains(&next)
            {
                break;
            }
            url = next;
        }
        Ok(tags)
    }

    /// The referrers of `subject` as the registry's referrers API lists them (the entries of
    /// its index), or `None` if the registry has no such API.
    pub fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Value>>, Error> {
        let url = self.url(&format!("referrers/{subject}"));
        let answer = self.send(
            "GET",
            &url,
            &[("Accept", crate::oci::vocab::media::INDEX)],
            Body::Empty,
            true,
        )?;
        let is_index = answer
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with(crate::oci::vocab::media::INDEX));
        match answer.status {
            200 if is_index => {
                let index: Value = serde_json::from_slice(&answer.body).map_err(|e| {
                    error(format!(
                        "{} answered GET referrers/{subject} with an index that is not JSON: {e}",
                        self.host
                    ))
                })?;
                Ok(Some(
                    index["manifests"].as_array().cloned().unwrap_or_default(),
                ))
            }
            // No such API (distribution 2.8 answers 404 for the unknown route).
            200 | 404 | 405 => Ok(None),
            status => Err(self.refusal(&format!("GET referrers/{subject}"), status, &answer.body)),
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

    /// One `GET` of a blob from byte `from`, following redirects: the open stream, or the
    /// answer that is not one.
    fn open_blob(&self, digest: &Digest, from: u64) -> Result<Opened, Error> {
        let mut url = self.url(&format!("blobs/{digest}"));
        let range = format!("bytes={from}-");
        let mut own = true;
        for _ in 0..=MAX_REDIRECTS {
            if crate::interrupt::requested() {
                return Err(interrupted());
            }
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = self.agent.get(&url);
            if from > 0 {
                request = request.set("Range", &range);
            }
            if own
                && let Some(authorization) = self
                    .authorization
                    .read()
                    .ok()
                    .and_then(|a| a.as_ref().cloned())
            {
                request = request.set("Authorization", &authorization);
            }
            let response = match request.call() {
                Ok(response) | Err(ureq::Error::Status(_, response)) => response,
                Err(ureq::Error::Transport(transport)) => {
                    return Err(self.transport_error("GET", &url, &transport));
                }
            };
            self.reached
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let status = response.status();
            if matches!(status, 200 | 206) {
                return Ok(Opened::Stream(response));
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.header("Location")
            {
                url = self.absolute(location);
                own = self.own(&url);
                continue;
            }
            let header = |name: &str| response.header(name).map(str::to_owned);
            let mut answer = Answer {
                status,
                location: None,
                digest: None,
                range: None,
                content_type: header("Content-Type"),
                oci_subject: None,
                www_authenticate: header("WWW-Authenticate"),
                retry_after: header("Retry-After"),
                link: None,
                body: Vec::new(),
                own,
            };
            let _ = response
                .into_reader()
                .take(MAX_ANSWER)
                .read_to_end(&mut answer.body);
            return Ok(Opened::Status(answer));
        }
        Err(error(format!(
            "GET blob {digest}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// `PUT` a manifest's exact bytes under `reference` (its digest or a tag). Returns whether
    /// the registry keeps referrers (`OCI-Subject` in its answer).
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &Digest,
    ) -> Result<bool, Error> {
        let url = self.manifest_url(reference)?;
        let answer = self.send(
            "PUT",
            &url,
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            true,
        )?;
        match answer.status {
            200..=299 => {
                check_digest(answer.digest.as_deref(), digest, reference)?;
                Ok(answer.oci_subject.is_some())
            }
            status => Err(self.refusal(&format!("PUT manifest {reference}"), status, &answer.body)),
        }
    }

    /// Whether the blob is in the repository (with the size it should have).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, Error> {
        let url = self.url(&format!("blobs/{digest}"));
        let answer = self.send("HEAD", &url, &[], Body::Empty, false)?;
        match answer.status {
            200..=299 => {
                check_digest(answer.digest.as_deref(), digest, &digest.to_string())?;
                Ok(true)
            }
            // Some registries send a blob's HEAD on to their storage: it is there.
            300..=399 => Ok(true),
            404 => Ok(false),
            status => Err(self.refusal(&format!("HEAD blob {digest}"), status, &[])),
        }
    }

    fn start_upload(&self) -> Result<String, Error> {
        let url = self.url("blobs/uploads/");
        self.upload_sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        let mut tries = 0;
        loop {
            tries += 1;
            let result = if size <= chunk {
                self.start_upload().and_then(|location| {
                    self.finish_upload(
                        &location,
                        digest,
                        Body::File {
                            file,
                            start: 0,
                            len: size,
                            sent,
                            cut: true,
                        },
                    )
                })
            } else {
                self.upload_chunks(file, size, digest, chunk, sent)
            };
            match result {
                Ok(answer) if (200..=299).contains(&answer.status) => {
                    // Whole now: a session an earlier push left for it has no use.
                    if let Some(sessions) = &self.sessions {
                        sessions.forget(digest);
                    }
                    return check_digest(answer.digest.as_deref(), digest, &digest.to_string());
                }
                // A session the registry forgot or holds other bytes of (after a cut
                // connection), or a transient failure: start a new upload.
                Ok(answer)
                    if (transient(answer.status) || matches!(answer.status, 404 | 416))
                        && tries < self.options.tries =>
                {
                    if matches!(answer.status, 404 | 416)
                        && let Some(sessions) = &self.sessions
                    {
                        sessions.forget(digest);
                    }
                    self.pause(tries, answer.retry_after());
                }
                Ok(answer) => {
                    // Refused: a later push starts afresh rather than meet the same answer.
                    if let Some(sessions) = &self.sessions {
                        sessions.forget(digest);
                    }
                    return Err(self.refusal(
                        &format!("upload of blob {digest}"),
                        answer.status,
                        &answer.body,
                    ));
                }
                Err(e) if e.worth_retrying() && tries < self.options.tries => {
                    self.pause(tries, None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn upload_chunks(
        &self,
        file: &File,
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
                Body::File {
                    file,
                    start: offset,
                    len,
                    sent,
                    cut: false,
                },
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
                    broken += 1;
                    if broken >= self.options.tries {
                        return match other {
                            Ok(answer) => Ok(answer),
                            Err(e) => Err(e),
                        };
                    }
                    let retry_after = other.as_ref().ok().and_then(Answer::retry_after);
                    self.pause(broken, retry_after);
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
                self.resumed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.resumed_bytes
                    .fetch_add(*offset, std::sync::atomic::Ordering::Relaxed);
            }
            None => sessions.forget(digest),
        }
        resumed
    }

    /// Says what the registry refused, in its own words (its error codes and messages).
    fn refusal(&self, what: &str, status: u16, body: &[u8]) -> Error {
        let words = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                let errors = v["errors"].as_array()?;
                let said: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            printable(e["code"].as_str().unwrap_or("?")),
                            printable(e["message"].as_str().unwrap_or(""))
                        )
                    })
                    .collect();
                Some(said.join("; "))
            })
            .or_else(|| plain_text(body))
            .map_or(String::new(), |said| format!(" ({said})"));
        let auth = status == 401 || status == 403;
        let mut message = format!("{} answered {what} with HTTP {status}{words}", self.host);
        let plain_to_tls = status == 400
            && String::from_utf8_lossy(body).contains("HTTP request to an HTTPS server");
        if plain_to_tls {
            message.push_str(
                "; the registry speaks HTTPS, and glc spoke plain HTTP (as it does for this machine unless --ca-file names the CA to trust, and wherever --plain-http is given)",
            );
        }
        if auth {
            match &self.credentials {
                Some(c) => message.push_str(&format!(
                    "; the credentials of user {:?} from {} were refused",
                    printable(&c.username),
                    c.source
                )),
                None => message.push_str("; no credentials were found for it"),
            }
        }
        Error {
            message,
            kind: if auth {
                ErrorKind::Auth
            } else if plain_to_tls {
                ErrorKind::Tls
            } else {
                ErrorKind::Other
            },
        }
    }

    /// Waits before try `tries + 1`: the registry's `Retry-After`, else backoff doubling from
    /// `options.backoff`, with up to 50 % jitter so that parallel pushes spread out.
    fn pause(&self, tries: u32, retry_after: Option<Duration>) {
        let wait = retry_after.unwrap_or_else(|| {
            let base = self
                .options
                .backoff
                .saturating_mul(1 << tries.saturating_sub(1).min(10));
            base.min(Duration::from_secs(30))
        });
        let jitter = wait.mul_f64(f64::from(jitter_percent()) / 200.0);
        // In steps, so that a signal does not wait for the next try (which it stops).
        let until = std::time::Instant::now() + wait + jitter;
        while !crate::interrupt::requested() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// Sends a request, retrying on transient failures and authenticating on 401.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let mut tries = 0;
        let mut authenticated = false;
        loop {
            tries += 1;
            match self.send_once(method, url, headers, body, read_body) {
                Ok(answer) if answer.status == 401 && !authenticated => {
                    authenticated = true;
                    tries -= 1;
                    self.authenticate(&answer)?;
                }
                Ok(answer) if transient(answer.status) && tries < self.options.tries => {
                    self.pause(tries, answer.retry_after());
                }
                Ok(answer) => return Ok(answer),
                Err(e) if e.worth_retrying() && tries < self.options.tries => {
                    self.pause(tries, None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request; a transport error is an `Err`, any HTTP status an `Ok`.
    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        read_body: bool,
    ) -> Result<Answer, Error> {
        if crate::interrupt::requested() {
            return Err(interrupted());
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut request = self.agent.request(method, url);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        // Credentials go to the registry's own origin only: never to an upload `Location`,
        // a `Link` or anything else on another host, scheme or port.
        if self.own(url)
            && let Some(authorization) = self
                .authorization
                .read()
                .ok()
                .and_then(|a| a.as_ref().cloned())
        {
            request = request.set("Authorization", &authorization);
        }
        let result = match body {
            Body::Empty if matches!(method, "PUT" | "POST" | "PATCH") => {
                request.set("Content-Length", "0").send_bytes(&[])
            }
            Body::Empty => request.call(),
            Body::Bytes(bytes) => request.send_bytes(bytes),
            Body::File {
                file,
                start,
                len,
                sent,
                cut,
            } => {
                // The descriptor is shared with the caller; one request reads it at a time.
                let mut file = file;
                file.seek(SeekFrom::Start(start))
                    .map_err(|e| error(format!("cannot read the blob to upload: {e}")))?;
                request
                    .set("Content-Length", &len.to_string())
                    .send(Sending {
                        inner: file.take(len),
                        at: start,
                        sent,
                        cut,
                    })
            }
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            // Cut by a signal ([`Sending`]), or broken while one came: stopped either way.
            Err(ureq::Error::Transport(_)) if crate::interrupt::requested() => {
                return Err(interrupted());
            }
            Err(ureq::Error::Transport(transport)) => {
                return Err(self.transport_error(method, url, &transport));
            }
        };
        self.reached
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let header = |name: &str| response.header(name).map(str::to_owned);
        let mut answer = Answer {
            status: response.status(),
            location: header("Location"),
            digest: header("Docker-Content-Digest"),
            range: header("Range"),
            content_type: header("Content-Type"),
            oci_subject: header("OCI-Subject"),
            www_authenticate: header("WWW-Authenticate"),
            retry_after: header("Retry-After"),
            link: header("Link"),
            body: Vec::new(),
            own: self.own(url),
        };
        if read_body || answer.status >= 400 {
            let mut body = Vec::new();
            // A body cut short is as good as none for an error; for a manifest the digest
            // check catches it.
            let read = response
                .into_reader()
                .take(MAX_ANSWER + 1)
                .read_to_end(&mut body);
            if read.is_err() && answer.status < 400 {
                return Err(error(format!(
                    "{method} {}: the connection broke while reading the answer",
                    Self::shown(url)
                )));
            }
            if body.len() as u64 > MAX_ANSWER {
                return Err(error(format!(
                    "{method} {}: the answer is larger than {MAX_ANSWER} bytes",
                    Self::shown(url)
                )));
            }
            answer.body = body;
        }
        Ok(answer)
    }

    /// The URL without its query (upload state), for messages.
    fn shown(url: &str) -> String {
        let path = url.split('?').next().unwrap_or(url);
        printable(path).into_owned()
    }

    /// Answers a 401: basic credentials, or a bearer token fetched with them.
    fn authenticate(&self, answer: &Answer) -> Result<(), Error> {
        if !answer.own {
            return Err(Error {
                message: format!(
                    "a host other than {} (where a redirect or a `Location` led) asks for credentials; glc sends the credentials of {} to {} only",
                    self.host, self.host, self.origin
                ),
                kind: ErrorKind::Final,
            });
        }
        let challenge = answer
            .www_authenticate
            .as_deref()
            .and_then(auth::parse_challenge);
        let authorization = match challenge {
            Some(Challenge::Basic) => match &self.credentials {
                Some(credentials) if credentials.identity_token().is_some() => {
                    return Err(Error {
                        message: format!(
                            "{} asks for a user name and password, and the login found for it in {} is an identity token, which only a token server takes",
                            self.host, credentials.source
                        ),
                        kind: ErrorKind::Auth,
                    });
                }
                Some(credentials) => credentials.basic(),
                None => return Err(self.refusal("a request", 401, &answer.body)),
            },
            Some(Challenge::Bearer(params)) => self.token(&params)?,
            None => return Err(self.refusal("a request", 401, &answer.body)),
        };
        if let Ok(mut slot) = self.authorization.write() {
            *slot = Some(authorization);
        }
        Ok(())
    }

    /// A bearer token from the challenge's realm, for its service and scope (and push to this
    /// repository), fetched with the basic credentials if there are any.
    fn token(&self, params: &std::collections::BTreeMap<String, String>) -> Result<String, Error> {
        let Some(realm) = params.get("realm") else {
            return Err(error(format!(
                "{} asks for a bearer token without naming its realm",
                self.host
            )));
        };
        // Credentials offered over TLS never travel without it: a realm in plain HTTP is
        // taken only from a registry that is itself spoken to in plain HTTP.
        let tls_realm = realm.starts_with("https://");
        if !(tls_realm || realm.starts_with("http://") && self.origin.starts_with("http://")) {
            return Err(Error {
                message: format!(
                    "{} names the token server {:?}, which is not an https:// URL; glc sends no credentials there",
                    self.host,
                    printable(realm)
                ),
                kind: ErrorKind::Final,
            });
        }
        let actions = if self.options.read_only {
            "pull"
        } else {
            "pull,push"
        };
        let mut scopes = vec![format!("repository:{}:{actions}", self.repository)];
        if let Some(scope) = params.get("scope")
            && !scope.starts_with(&format!("repository:{}:", self.repository))
        {
            scopes.push(scope.clone());
        }
        let service = params.get("service");
        let mut request = self.agent.get(realm);
        for scope in &scopes {
            request = request.query("scope", scope);
        }
        if let Some(service) = service {
            request = request.query("service", service);
        }
        let identity = self
            .credentials
            .as_ref()
            .and_then(Credentials::identity_token);
        if let Some(credentials) = &self.credentials
            && identity.is_none()
        {
            request = request.set("Authorization", &credentials.basic());
        }
        // An identity token (an OAuth2 refresh token) is exchanged as docker does: a form
        // `POST` to the same realm.
        let scope = scopes.join(" ");
        let call = || match identity {
            Some(token) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", "glc"),
                    ("scope", scope.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service.as_str()));
                }
                self.agent.post(realm).send_form(&form)
            }
            None => request.clone().call(),
        };
        let mut tries = 0;
        let response = loop {
            tries += 1;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match call() {
                Ok(response) => break response,
                Err(ureq::Error::Status(status, _)) if status == 401 || status == 403 => {
                    return Err(self.refusal("the token request", status, &[]));
                }
                Err(ureq::Error::Status(status, _)) if !transient(status) => {
                    return Err(error(format!(
                        "the token server {} answered HTTP {status}",
                        Self::shown(realm)
                    )));
                }
                Err(ureq::Error::Status(status, response)) if tries < self.options.tries => {
                    let retry_after = matches!(status, 429 | 503)
                        .then(|| response.header("Retry-After")?.trim().parse::<u64>().ok())
                        .flatten()
                        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                    self.pause(tries, retry_after);
                }
                Err(ureq::Error::Transport(t))
                    if t.kind() != ureq::ErrorKind::Dns && tries < self.options.tries =>
                {
                    self.pause(tries, None);
                }
                Err(e) => {
                    return Err(error(format!(
                        "the token server {} cannot be reached: {}",
                        Self::shown(realm),
                        match e {
                            ureq::Error::Transport(t) => transport_words(&t),
                            ureq::Error::Status(s, _) => format!("HTTP {s}"),
                        }
                    )));
                }
            }
        };
        let mut body = Vec::new();
        let _ = response
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut body);
        let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .ok_or_else(|| {
                error(format!(
                    "the token server {} answered without a token",
                    Self::shown(realm)
                ))
            })?;
        // A token is sent back as a header: one that could not be (a control character, a
        // space, a byte beyond ASCII) is refused here, never shown, never sent.
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error {
                message: format!(
                    "the token server {} answered a token that is not a valid header value (not shown)",
                    Self::shown(realm)
                ),
                kind: ErrorKind::Final,
            });
        }
        Ok(format!("Bearer {token}"))
    }
}

impl Answer {
    fn retry_after(&self) -> Option<Duration> {
        if !matches!(self.status, 429 | 503) {
            return None;
        }
        let seconds: u64 = self.retry_after.as_deref()?.trim().parse().ok()?;
        Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
    }
}

/// Runs `work` on every item, on up to `jobs` threads, and returns the results in the items'
/// order; after the first error no more work starts, and that error is returned.
pub(crate) fn parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    let failure: std::sync::Mutex<Option<E>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, 64).min(items.len().max(1)) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    match work(item) {
                        Ok(result) => {
                            if let Ok(mut results) = results.lock() {
                                results[i] = Some(result);
                            }
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

impl std::error::Error for Error {}

/// The help of an [`Error`] that is a failed TLS handshake.
pub const BAD_CERTIFICATE: &str = "give the CA that signed the registry's certificate with --ca-file (or in the bundle SSL_CERT_FILE names) and check that the host name is the one it is for, or give --plain-http for a registry that speaks plain HTTP; glc does not retry a handshake that fails this way";

/// The help of an [`Error`] of kind [`ErrorKind::Final`].
pub const FINAL: &str = "the registry answered in a way glc does not act on (see above), and would answer so again: ask its operator, or use another registry";

/// The help of an [`Error`] that is an unknown host.
pub const UNKNOWN_HOST: &str = "check the registry's name, and that this machine can look it up (a typo, or a name only another network or VPN resolves); glc does not retry a name it cannot look up";

impl Error {
    /// Whether the same request may succeed later: not when the credentials were refused
    /// (trying again only locks accounts), the host name cannot be looked up, or the
    /// registry's certificate does not verify.
    #[must_use]
    pub fn worth_retrying(&self) -> bool {
        self.kind == ErrorKind::Other
    }

    /// The [`Error`] a [`BlobReader`]'s `io::Error` carries, or one saying the `io::Error`.
    #[must_use]
    pub fn from_io(e: std::io::Error) -> Self {
        match e.downcast::<Self>() {
            Ok(inner) => inner,
            Err(e) => error(e.to_string()),
        }
    }
}

/// A blob download's first answer: the bytes coming, or a status that is not them.
enum Opened {
    Stream(ureq::Response),
    Status(Answer),
}

/// The URL of a `Link: <url>; rel="next"` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let next = params
            .split(';')
            .any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        next.then(|| target.to_owned())
    })
}

/// The first byte of `Content-Range: bytes START-END/SIZE`.
fn content_range_start(range: &str) -> Option<u64> {
    let range = range.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// Statuses worth another try: the registry or something before it is busy or broken.
fn transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
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

fn check_digest(named: Option<&str>, expected: &Digest, what: &str) -> Result<(), Error> {
    match named {
        Some(named) if *expected != named => Err(error(format!(
            "the registry stored {what} as {}, not {expected}",
            printable(named)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_text_answers_are_shown_short_and_printable_and_markup_is_not() {
        assert_eq!(
            plain_text(b"Client sent an HTTP request to an HTTPS server.\n").as_deref(),
            Some("Client sent an HTTP request to an HTTPS server.")
        );
        assert_eq!(plain_text(b"<html><body>502</body></html>"), None);
        assert_eq!(plain_text(b"{\"message\":\"x\"}"), None);
        assert_eq!(plain_text(b"\xff\xfe"), None);
        assert_eq!(plain_text(b"  \n"), None);
        // Cut at 160 characters, not bytes: a multi-byte character is never split.
        let long = "\u{e9}".repeat(200);
        let shown = plain_text(long.as_bytes()).expect("text");
        assert_eq!(shown.chars().count(), 161);
        assert!(shown.ends_with('\u{2026}'));
        assert_eq!(
            plain_text(b"bad\x1b[31m gateway").as_deref(),
            Some(super::printable("bad\x1b[31m gateway").as_ref())
        );
    }

    use super::*;

    #[test]
    fn local_hosts_are_recognised_with_and_without_ports() {
        assert!(is_local("localhost"));
        assert!(is_local("127.0.0.1:5000"));
        assert!(is_local("[::1]:5000"));
        assert!(!is_local("registry.example:5000"));
        assert!(!is_local("127.0.0.2"));
    }

    #[test]
    fn ranges_name_the_offset_to_resume_from() {
        assert_eq!(range_offset("0-1023"), Some(1024));
        assert_eq!(range_offset("bytes=0-9"), Some(10));
        assert_eq!(range_offset("0-0"), Some(0));
        assert_eq!(range_offset("garbage"), None);
    }

    #[test]
    fn next_pages_and_content_ranges_are_read() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
    }
}
