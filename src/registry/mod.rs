//! A client of the OCI distribution API (v2), what a push and a pull need, in layers, each
//! importing only those before it (and `oci/`):
//!
//! 1. `error`: the typed [`Error`] every layer returns: a message, a [`ErrorKind`], and for
//!    a registry's answer its HTTP status and error codes ([`Code`]).
//! 2. `transport`: one HTTP request and its answer (TLS, connections kept alive, timeouts, no
//!    redirect followed); the only file that knows the HTTP library.
//! 3. `retry`: the one retry policy of every request (which statuses and failures are worth
//!    another try, how many, backoff with jitter, `Retry-After` capped, signals).
//! 4. `auth`: credential sources, challenges, the token (fetched under the retry policy)
//!    and the origin the credentials are bound to.
//! 5. The distribution API on [`Client`]: `client` (the client, its requests, manifests,
//!    tags, referrers), `blob` (`HEAD` and downloads), `upload` (uploads; `sessions` keeps
//!    them across runs).
//!
//! `push/`, `pull/` and `source` use the client; nothing below them knows of commands.

pub mod auth;
mod blob;
mod client;
pub mod copy;
mod error;
pub mod mount;
pub mod push;
mod retry;
pub mod sessions;
pub mod source;
mod transport;
mod upload;

pub use blob::BlobReader;
pub use client::Client;
pub use error::{ApiError, BAD_CERTIFICATE, Code, Error, ErrorKind, FINAL, UNKNOWN_HOST};
pub use transport::{Answer, Sent};

// The error of a message alone, for the files beside the client (push).
use error::error;

use std::time::Duration;

use crate::oci::Digest;

/// What glc accepts when it asks a registry for a manifest.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

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

/// A manifest or an index as the registry sent it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    /// The `Content-Type` it was sent with.
    pub media_type: String,
    pub digest: Digest,
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

pub(crate) use crate::util::parallel::parallel;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_recognised_with_and_without_ports() {
        assert!(is_local("localhost"));
        assert!(is_local("127.0.0.1:5000"));
        assert!(is_local("[::1]:5000"));
        assert!(!is_local("registry.example:5000"));
        assert!(!is_local("127.0.0.2"));
    }
}
