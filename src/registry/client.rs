//! The distribution API (v2) of one repository: manifests by digest and tag with their exact
//! bytes and media type, the tag list and the referrers API (here), blobs checked with `HEAD`
//! and downloaded (`blob.rs`), and uploads (`upload.rs`). Every request goes through
//! [`Client::send`]: the transport, the credentials of the registry's origin, a 401 answered
//! once, and the one retry policy. An answer that refuses is a typed [`Error`] with the HTTP
//! status and the registry's error codes; every `Docker-Content-Digest` is checked.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::Value;

use super::auth::Auth;
use super::error::{Code, Error, ErrorKind, error, refusal};
use super::retry::{Policy, Step, retry_after, transient};
use super::sessions::Sessions;
use super::transport::{Answer, Body, Request, Setup, Transport, shown};
use super::{Manifest, Options, is_local};
use crate::oci::{Digest, printable};

/// Tags glc reads of a repository's tag list at most.
const MAX_TAGS: usize = 100_000;
/// Pages of a tag list glc reads at most (a registry that gives 100 tags a page reaches
/// [`MAX_TAGS`] in as many).
const MAX_TAG_PAGES: usize = 1000;

/// A repository of a registry, with the credentials for it.
pub struct Client {
    pub(super) transport: Transport,
    pub(super) auth: Auth,
    pub(super) policy: Policy,
    pub host: String,
    pub repository: String,
    /// Counts every request sent, for the summary.
    pub requests: Arc<AtomicU64>,
    /// Counts the upload sessions started (`POST blobs/uploads/`), retries included.
    pub upload_sessions: AtomicU64,
    /// Uploads an earlier push left, and the bytes the registry already held of them.
    pub resumed: AtomicU64,
    pub resumed_bytes: AtomicU64,
    pub(super) sessions: Option<Sessions>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.transport.origin)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
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
        // A CA file says the registry speaks TLS, on this machine too.
        let plain = options.plain_http || (is_local(host) && options.ca_file.is_none());
        let scheme = if plain { "http" } else { "https" };
        // Docker Hub's API lives elsewhere than its name.
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let origin = format!("{scheme}://{api_host}");
        let auth = Auth::new(host, &origin, repository, options.read_only)?;
        let transport = Transport::new(Setup {
            origin: origin.clone(),
            plain,
            ca_file: options.ca_file.as_deref(),
            connect_timeout: options.connect_timeout,
            io_timeout: options.io_timeout,
        })?;
        let sessions = options
            .sessions_dir
            .map(|dir| Sessions::new(dir, &origin, repository));
        Ok(Self {
            requests: Arc::clone(&transport.requests),
            transport,
            auth,
            policy: Policy {
                tries: options.tries,
                backoff: options.backoff,
            },
            host: host.to_owned(),
            repository: repository.to_owned(),
            upload_sessions: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            resumed_bytes: AtomicU64::new(0),
            sessions,
        })
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.transport.origin, self.repository)
    }

    /// The URL of manifest `reference`, which must be a tag or a digest: no other text
    /// becomes part of a path.
    fn manifest_url(&self, reference: &str) -> Result<String, Error> {
        crate::oci::name::check_reference(reference).map_err(error)?;
        Ok(self.url(&format!("manifests/{reference}")))
    }

    /// Whether `url` is on the registry's own origin (scheme, host and port): the only place
    /// its credentials go.
    pub(super) fn own(&self, url: &str) -> bool {
        self.transport.own(url)
    }

    /// A `Location` made absolute.
    pub(super) fn absolute(&self, location: &str) -> String {
        self.transport.absolute(location)
    }

    /// Checks that the registry speaks the API, and authenticates if it asks to.
    pub fn ping(&self) -> Result<(), Error> {
        let url = format!("{}/v2/", self.transport.origin);
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
                    return Err(Error::new(
                        ErrorKind::Final,
                        format!(
                            "{} sent manifest {} with the Content-Type {}: {problem}",
                            self.host,
                            printable(reference),
                            printable(&media_type)
                        ),
                    ));
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
        self.list_tags(MAX_TAG_PAGES).map(|(tags, _)| tags)
    }

    /// The whole tag list of the repository if it fits in `pages` pages (of up to 1,000 tags;
    /// the registry may give fewer a page): `None` where it goes on, or is cut at
    /// [`MAX_TAGS`], so that a tag not in it may still be there.
    pub fn tags_within(&self, pages: usize) -> Result<Option<Vec<String>>, Error> {
        let (tags, whole) = self.list_tags(pages.clamp(1, MAX_TAG_PAGES))?;
        Ok(whole.then_some(tags))
    }

    /// The tags of at most `pages` pages, and whether that is the whole list.
    fn list_tags(&self, pages: usize) -> Result<(Vec<String>, bool), Error> {
        let mut tags = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut visited: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut url = self.url("tags/list?n=1000");
        loop {
            visited.insert(url.clone());
            let answer = self.send("GET", &url, &[], Body::Empty, true)?;
            match answer.status {
                200..=299 => {}
                404 => return Ok((tags, true)),
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
                let whole = tags.len() < MAX_TAGS;
                return Ok((tags, whole));
            };
            let next = self.absolute(&next);
            if !self.own(&next) {
                return Err(Error::new(
                    ErrorKind::Final,
                    format!(
                        "{} continues its tag list on another origin ({}); glc follows it only on {}",
                        self.host,
                        shown(&next),
                        self.transport.origin
                    ),
                ));
            }
            if tags.len() == before
                || tags.len() >= MAX_TAGS
                || visited.len() >= pages
                || visited.contains(&next)
            {
                return Ok((tags, false));
            }
            url = next;
        }
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
        self.policy.run(|| {
            let answer = match self.send(
                "PUT",
                &url,
                &[("Content-Type", media_type)],
                Body::Bytes(bytes),
                true,
            ) {
                Ok(answer) => answer,
                Err(e) => return Step::Done(Err(e)),
            };
            match answer.status {
                200..=299 => Step::Done(
                    check_digest(answer.digest.as_deref(), digest, reference)
                        .map(|()| answer.oci_subject.is_some()),
                ),
                status => {
                    let refused =
                        self.refusal(&format!("PUT manifest {reference}"), status, &answer.body);
                    // A blob or manifest it names that the registry does not see, or whose
                    // link it reads as no digest: what glc wrote before it, being written
                    // again by another writer at the same moment (docker-registry's
                    // storage rewrites a link in place). Tried again, as a busy registry is.
                    if status == 400
                        && (refused.has_code(&Code::ManifestBlobUnknown)
                            || refused.has_code(&Code::DigestInvalid))
                    {
                        Step::Retry {
                            outcome: Err(refused),
                            wait: None,
                        }
                    } else {
                        Step::Done(Err(refused))
                    }
                }
            }
        })
    }

    /// Says what the registry refused, in its own words (its error codes and messages), with
    /// the HTTP status and the codes for a caller to branch on.
    pub(super) fn refusal(&self, what: &str, status: u16, body: &[u8]) -> Error {
        refusal(&self.host, what, status, body, &self.auth.refused())
    }

    /// Answers a 401 ([`Auth::answer`]).
    pub(super) fn authenticate(&self, answer: &Answer) -> Result<(), Error> {
        self.auth.answer(&self.transport, &self.policy, answer)
    }

    /// Sends a request under the retry policy, answering a 401 once with credentials.
    pub(super) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let mut authenticated = false;
        self.policy.run(
            || match self.send_once(method, url, headers, body, read_body) {
                Ok(answer) if answer.status == 401 && !authenticated => {
                    authenticated = true;
                    match self.authenticate(&answer) {
                        Ok(()) => Step::Again,
                        Err(e) => Step::Done(Err(e)),
                    }
                }
                Ok(answer) if transient(answer.status) => Step::Retry {
                    wait: retry_after(answer.status, answer.retry_after.as_deref()),
                    outcome: Ok(answer),
                },
                Ok(answer) => Step::Done(Ok(answer)),
                Err(e) => Step::of_error(e),
            },
        )
    }

    /// One request, with the credentials where they may go; a transport error is an `Err`,
    /// any HTTP status an `Ok`.
    pub(super) fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let authorization = self.auth.header(url);
        let mut all = headers.to_vec();
        if let Some(authorization) = &authorization {
            all.push(("Authorization", authorization));
        }
        let request = Request {
            headers: &all,
            body,
            ..Request::new(method, url)
        };
        let response = self
            .transport
            .call(&request)
            .map_err(|failure| self.transport.failure(method, url, &failure))?;
        response.answer(method, url, self.own(url), read_body)
    }
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

pub(super) fn check_digest(
    named: Option<&str>,
    expected: &Digest,
    what: &str,
) -> Result<(), Error> {
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
    use super::*;

    #[test]
    fn next_pages_are_read() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
