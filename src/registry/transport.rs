//! The transport: one HTTP request to a URL and its answer, on a pool of connections kept
//! alive between requests, with TLS (the system's roots and `--ca-file`), a timeout for
//! connecting and one for every read and write, and no redirect followed: a `3xx` comes back
//! as an answer, for the layer above to follow by its own rule (credentials stay on the
//! registry's origin). It knows nothing of credentials, retries or the distribution API; the
//! failures of the network are said here as people read them (an unknown host, a failed TLS
//! handshake, a plain text answer).
//!
//! Blocking HTTP (ureq 3 with rustls) on a few threads: a push is I/O on a handful of
//! connections, and a request is rebuilt from the layout's file on every try. Every ureq type
//! is in this file ([`Transport::new`], [`Transport::call`], [`Response`], [`Failure`]). Its
//! resolver is ureq's own, wrapped to mark a failed lookup: ureq reports one as an
//! `io::Error` like any other, and an unknown host is said, and not retried, as such. The
//! resolver and the connector are ureq's "unversioned" API, which may change in a minor
//! release: `Cargo.toml` asks for 3.5.x.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::error::{Error, ErrorKind, error};
use crate::oci::printable;

/// Bytes of a JSON answer glc reads at most (an error body, a token, a referrers index).
pub(super) const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// A request's body: none, bytes, a form, or a range of a file (read again on every try).
#[derive(Clone, Copy)]
pub(super) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `application/x-www-form-urlencoded` pairs.
    Form(&'a [(&'a str, &'a str)]),
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
    /// `len` bytes of a reader, from offset `start` of its blob, read as they are sent: a blob
    /// streamed from another registry's download, never held whole. Read once: a request
    /// that fails is sent again from a reader opened again.
    Reader {
        reader: &'a (dyn Shared + 'a),
        start: u64,
        len: u64,
        sent: &'a Sent<'a>,
        cut: bool,
    },
}

/// A reader the caller keeps (to know how far it got), read through a shared reference.
pub(super) trait Shared {
    fn read_shared(&self, buffer: &mut [u8]) -> std::io::Result<usize>;
}

impl<R: Read> Shared for RefCell<R> {
    fn read_shared(&self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.try_borrow_mut()
            .map_err(|_| std::io::Error::other("the body's reader is read elsewhere"))?
            .read(buffer)
    }
}

/// A [`Shared`] reader as a [`Read`].
struct Borrowed<'a>(&'a (dyn Shared + 'a));

impl Read for Borrowed<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_shared(buffer)
    }
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
            crate::util::interrupt::check()?;
        }
        let n = self.inner.read(buffer)?;
        self.at += n as u64;
        (self.sent)(self.at);
        Ok(n)
    }
}

/// One request: what the transport sends.
#[derive(Clone, Copy)]
pub(super) struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Pairs added to the URL's query, encoded.
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Self {
            method,
            url,
            query: &[],
            headers: &[],
            body: Body::Empty,
        }
    }
}

/// The connections to one registry (and wherever its answers lead), and the counts its
/// summary shows.
pub(super) struct Transport {
    agent: ureq::Agent,
    /// `http(s)://host[:port]` of the registry.
    pub origin: String,
    /// Counts every request sent, for the summary.
    pub requests: Arc<AtomicU64>,
    /// The registry answered at least once: its name resolves.
    reached: AtomicBool,
}

/// How a transport connects.
pub(super) struct Setup<'a> {
    pub origin: String,
    pub plain: bool,
    pub ca_file: Option<&'a Path>,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

impl Transport {
    pub fn new(setup: Setup<'_>) -> Result<Self, Error> {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // No proxy from the environment, as before: a proxy is not a place credentials
            // of a registry spoken to in plain HTTP may pass through unasked.
            .proxy(None)
            .timeout_connect(Some(setup.connect_timeout))
            .timeout_per_read(Some(setup.io_timeout))
            .timeout_per_write(Some(setup.io_timeout))
            .user_agent(concat!("glc/", env!("CARGO_PKG_VERSION")));
        if !setup.plain
            && let Some(roots) = root_certificates(setup.ca_file)?
        {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                    .unversioned_rustls_crypto_provider(provider)
                    .build(),
            );
        }
        let agent = ureq::Agent::with_parts(
            config.build(),
            ureq::unversioned::transport::DefaultConnector::default(),
            Lookup::default(),
        );
        Ok(Self {
            agent,
            origin: setup.origin,
            requests: Arc::new(AtomicU64::new(0)),
            reached: AtomicBool::new(false),
        })
    }

    /// Whether `url` is on the registry's own origin (scheme, host and port).
    pub fn own(&self, url: &str) -> bool {
        url.strip_prefix(&self.origin)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// A `Location` made absolute.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.origin)
        } else {
            format!("{}/{location}", self.origin)
        }
    }

    /// Sends one request; any HTTP status is a [`Response`], no answer a [`Failure`]. No
    /// request leaves once a signal asked glc to stop.
    pub fn call(&self, request: &Request<'_>) -> Result<Response, Failure> {
        if crate::util::interrupt::requested() {
            return Err(Failure::Interrupted);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = with_query(request.url, request.query);
        let uri = url
            .parse::<ureq::http::Uri>()
            .map_err(|e| Failure::Http(Box::new(ureq::Error::BadUri(e.to_string()))))?;
        let mut call = ureq::http::Request::builder()
            .method(request.method)
            .uri(uri);
        for (name, value) in request.headers {
            call = call.header(*name, *value);
        }
        let form;
        let mut bytes: &[u8] = &[];
        let mut file_body;
        let mut reader_body;
        let body = match request.body {
            Body::Empty if matches!(request.method, "PUT" | "POST" | "PATCH") => {
                call = call.header("Content-Length", "0");
                Some(ureq::SendBody::from_reader(&mut bytes))
            }
            Body::Empty => None,
            Body::Bytes(given) => {
                bytes = given;
                call = call.header("Content-Length", bytes.len());
                Some(ureq::SendBody::from_reader(&mut bytes))
            }
            Body::Form(pairs) => {
                form = encode_pairs(pairs);
                bytes = form.as_bytes();
                call = call
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("Content-Length", bytes.len());
                Some(ureq::SendBody::from_reader(&mut bytes))
            }
            Body::File {
                file,
                start,
                len,
                sent,
                cut,
            } => {
                // The descriptor is shared with the caller; one request reads it at a time.
                let mut file = file;
                file.seek(SeekFrom::Start(start)).map_err(Failure::File)?;
                call = call.header("Content-Length", len);
                file_body = Sending {
                    inner: file.take(len),
                    at: start,
                    sent,
                    cut,
                };
                Some(ureq::SendBody::from_reader(&mut file_body))
            }
            Body::Reader {
                reader,
                start,
                len,
                sent,
                cut,
            } => {
                call = call.header("Content-Length", len);
                reader_body = Sending {
                    inner: Borrowed(reader).take(len),
                    at: start,
                    sent,
                    cut,
                };
                Some(ureq::SendBody::from_reader(&mut reader_body))
            }
        };
        let result = match body {
            Some(body) => call
                .body(body)
                .map_err(ureq::Error::from)
                .and_then(|call| self.agent.run(call)),
            None => call
                .body(())
                .map_err(ureq::Error::from)
                .and_then(|call| self.agent.run(call)),
        };
        match result {
            Ok(response) => {
                self.reached.store(true, Ordering::Relaxed);
                Ok(Response(response))
            }
            // Cut by a signal ([`Sending`]), or broken while one came: stopped either way.
            Err(_) if crate::util::interrupt::requested() => Err(Failure::Interrupted),
            Err(e) => Err(Failure::Http(Box::new(e))),
        }
    }

    /// The error of request `method url` that got no answer. A host name without an address
    /// is said as such, once: it is not retried.
    pub fn failure(&self, method: &str, url: &str, failure: &Failure) -> Error {
        let transport = match failure {
            Failure::Interrupted => return super::error::interrupted(),
            Failure::File(e) => return error(format!("cannot read the blob to upload: {e}")),
            Failure::Http(e) => e,
        };
        if let Some(cause) = failure.lookup() {
            let host = host_of(url);
            // A name that never resolved in this run is taken as unknown; one that did, or
            // another host (storage a redirect leads to), as a passing failure of the resolver.
            if host == host_of(&self.origin) && !self.reached.load(Ordering::Relaxed) {
                return Error::new(
                    ErrorKind::UnknownHost,
                    format!("cannot find the registry host `{}`{cause}", printable(host)),
                );
            }
            return error(format!(
                "{method} {}: cannot look up `{}`{cause}",
                shown(url),
                printable(host)
            ));
        }
        // Failures that the same handshake meets again; alerts and the like are retried.
        if let Some(tls) = tls_failure(transport.as_ref()) {
            let hint = match tls {
                rustls::Error::InvalidMessage(_) => {
                    "; the server does not speak TLS there: a registry that speaks plain HTTP needs --plain-http"
                }
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType
                | rustls::Error::PeerIncompatible(_) => "",
                _ => {
                    return error(format!("{method} {}: {}", shown(url), failure.words()));
                }
            };
            return Error::new(
                ErrorKind::Tls,
                format!(
                    "{method} {}: the TLS handshake with {} failed: {}{hint}",
                    shown(url),
                    printable(host_of(url)),
                    printable(&tls.to_string())
                ),
            );
        }
        error(format!("{method} {}: {}", shown(url), failure.words()))
    }
}

/// A request that got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// A signal asked glc to stop: not sent, or cut.
    Interrupted,
    /// The blob's file could not be read for the body.
    File(std::io::Error),
    /// The connection: the name lookup, connecting, TLS, a timeout, a broken connection; or
    /// a request that could not be made (a URL or a header ureq refused).
    Http(Box<ureq::Error>),
}

impl Failure {
    /// Whether the host's name could not be looked up.
    pub fn unknown_name(&self) -> bool {
        self.lookup().is_some()
    }

    /// A failed name lookup: `Some` with what the resolver said, in a form to follow a
    /// colon (empty if it said nothing).
    fn lookup(&self) -> Option<String> {
        let Self::Http(e) = self else { return None };
        match e.as_ref() {
            ureq::Error::HostNotFound => Some(String::new()),
            ureq::Error::Io(e) => e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<LookupFailed>())
                .map(|failed| format!(": {}", printable(&failed.0.to_string()))),
            _ => None,
        }
    }

    /// What broke, in words (never a header's value: it may be a credential).
    pub fn words(&self) -> String {
        let e = match self {
            Self::Interrupted => return crate::util::interrupt::MESSAGE.to_owned(),
            Self::File(e) => return e.to_string(),
            Self::Http(e) => e,
        };
        match e.as_ref() {
            // The http crate names no value it refuses; said so that no one wonders.
            ureq::Error::Http(_) => {
                "a header of the request is not valid (not shown: it may hold a credential)"
                    .to_owned()
            }
            e => printable(&e.to_string()).into_owned(),
        }
    }
}

/// A name lookup that failed, as the [`Lookup`] resolver marks it.
#[derive(Debug)]
struct LookupFailed(std::io::Error);

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LookupFailed {}

/// ureq's resolver, its failures marked as lookups ([`LookupFailed`]).
#[derive(Debug, Default)]
struct Lookup(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for Lookup {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout).map_err(|e| match e {
            ureq::Error::Io(e) => ureq::Error::Io(std::io::Error::new(e.kind(), LookupFailed(e))),
            other => other,
        })
    }
}

/// An answer with any status, its body not read yet.
pub(super) struct Response(ureq::http::Response<ureq::Body>);

impl Response {
    pub fn status(&self) -> u16 {
        self.0.status().as_u16()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.0.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as it comes.
    pub fn into_reader(self) -> Box<dyn Read + Send + Sync> {
        Box::new(self.0.into_body().into_reader())
    }

    /// At most `limit` bytes of the body, and whether the connection broke before its end
    /// (or the limit).
    pub fn read_body(self, limit: u64) -> (Vec<u8>, bool) {
        let mut body = Vec::new();
        let broke = self
            .0
            .into_body()
            .into_reader()
            .take(limit)
            .read_to_end(&mut body)
            .is_err();
        (body, broke)
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

impl Response {
    /// The answer's status and the headers glc reads; its body is not read (a `HEAD`'s).
    pub fn headers(&self, own: bool) -> Answer {
        let header = |name: &str| self.header(name).map(str::to_owned);
        Answer {
            status: self.status(),
            location: header("Location"),
            digest: header("Docker-Content-Digest"),
            range: header("Range"),
            content_type: header("Content-Type"),
            oci_subject: header("OCI-Subject"),
            www_authenticate: header("WWW-Authenticate"),
            retry_after: header("Retry-After"),
            link: header("Link"),
            body: Vec::new(),
            own,
        }
    }

    /// The answer to request `method url`, its headers read; its body too if `read_body` or
    /// the status is an error's (at most [`MAX_ANSWER`] bytes: a larger one is an error, as is
    /// a body cut short that is not an error's).
    pub fn answer(
        self,
        method: &str,
        url: &str,
        own: bool,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let mut answer = self.headers(own);
        if read_body || answer.status >= 400 {
            // A body cut short is as good as none for an error; for a manifest the digest
            // check catches it.
            let (body, broke) = self.read_body(MAX_ANSWER + 1);
            if broke && answer.status < 400 {
                return Err(error(format!(
                    "{method} {}: the connection broke while reading the answer",
                    shown(url)
                )));
            }
            if body.len() as u64 > MAX_ANSWER {
                return Err(error(format!(
                    "{method} {}: the answer is larger than {MAX_ANSWER} bytes",
                    shown(url)
                )));
            }
            answer.body = body;
        }
        Ok(answer)
    }

    /// The answer with the first [`MAX_ANSWER`] bytes of its body, as much as came: an answer
    /// that is not the blob asked for, said in the registry's words where it has any.
    pub fn answer_lenient(self, own: bool) -> Answer {
        let mut answer = self.headers(own);
        answer.body = self.read_body(MAX_ANSWER).0;
        answer
    }
}

/// The URL without its query (upload state), for messages.
pub(super) fn shown(url: &str) -> String {
    let path = url.split('?').next().unwrap_or(url);
    printable(path).into_owned()
}

/// The `host[:port]` of a URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The TLS error of a failed request (rustls's errors travel inside `io::Error`s, whose
/// `source` skips them).
fn tls_failure(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> =
                io.get_ref().map(|e| e as _);
            while let Some(error) = cause {
                if let Some(tls) = error.downcast_ref::<rustls::Error>() {
                    return Some(tls);
                }
                if let Some(tls) = error
                    .downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    return Some(tls);
                }
                cause = error.source();
            }
            None
        }
        _ => None,
    }
}

/// The query `pairs` added to `url`, encoded as HTML forms are (`application/x-www-form-
/// urlencoded`).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", encode_pairs(pairs))
}

/// `name=value&…`, each encoded as HTML forms are: letters, digits and `*-._` as they are,
/// a space as `+`, every other byte as `%XX`.
fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        let mut encoded = String::new();
        for byte in text.bytes() {
            match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    encoded.push(char::from(byte));
                }
                b' ' => encoded.push('+'),
                byte => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        encoded
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The root certificates TLS trusts: the system's (the bundle `SSL_CERT_FILE` names, or
/// the distribution's), and those of `ca_file`; `None` where the system has no bundle
/// (ureq's built-in Mozilla roots then).
fn root_certificates(
    ca_file: Option<&Path>,
) -> Result<Option<Vec<ureq::tls::Certificate<'static>>>, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let mut certificates: Vec<CertificateDer<'static>> = Vec::new();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
                "/etc/ssl/ca-bundle.pem",
            ]
            .map(std::path::PathBuf::from),
        )
        .find(|p| p.is_file());
    if let Some(bundle) = &system
        && let Ok(found) = CertificateDer::pem_file_iter(bundle)
    {
        for certificate in found.flatten() {
            if roots.add(certificate.clone()).is_ok() {
                certificates.push(certificate);
            }
        }
    }
    if let Some(ca_file) = ca_file {
        let given: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(Iterator::collect)
            .map_err(|e| {
                error(format!(
                    "cannot read the certificates of --ca-file {}: {e}",
                    ca_file.display()
                ))
            })?;
        let before = certificates.len();
        for certificate in given {
            if roots.add(certificate.clone()).is_ok() {
                certificates.push(certificate);
            }
        }
        if certificates.len() == before {
            return Err(error(format!(
                "--ca-file {} holds no usable certificate",
                ca_file.display()
            )));
        }
    }
    if certificates.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        certificates
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_forms_are_encoded_as_html_forms_are() {
        assert_eq!(
            encode_pairs(&[
                ("scope", "repository:a/b:pull,push"),
                ("service", "r.example x~é"),
            ]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=r.example+x%7E%C3%A9"
        );
        assert_eq!(
            with_query("https://auth.example/token?a=1", &[("b", "2")]),
            "https://auth.example/token?a=1&b=2"
        );
        assert_eq!(
            with_query("https://auth.example/token", &[]),
            "https://auth.example/token"
        );
    }
}
