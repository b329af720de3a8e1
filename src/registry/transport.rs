//! The transport's failures said as people read them (unknown hosts, TLS handshakes, plain
//! text answers), and the TLS configuration of a client.

use std::path::Path;
use std::sync::Arc;

use super::{Client, Error, ErrorKind, error};
use crate::oci::printable;

impl Client {
    /// The error of a request that got no answer. A host name without an address is said
    /// as such, once: it is not retried.
    pub(super) fn transport_error(
        &self,
        method: &str,
        url: &str,
        transport: &ureq::Transport,
    ) -> Error {
        if transport.kind() == ureq::ErrorKind::Dns {
            let cause = std::error::Error::source(transport)
                .map(|s| format!(": {}", printable(&s.to_string())))
                .unwrap_or_default();
            let host = host_of(url);
            // A name that never resolved in this run is taken as unknown; one that did, or
            // another host (storage a redirect leads to), as a passing failure of the resolver.
            if host == host_of(&self.origin)
                && !self.reached.load(std::sync::atomic::Ordering::Relaxed)
            {
                return Error {
                    message: format!("cannot find the registry host `{}`{cause}", printable(host)),
                    kind: ErrorKind::UnknownHost,
                };
            }
            return error(format!(
                "{method} {}: cannot look up `{}`{cause}",
                Self::shown(url),
                printable(host)
            ));
        }
        // Failures that the same handshake meets again; alerts and the like are retried.
        if let Some(tls) = tls_failure(transport) {
            let hint = match tls {
                rustls::Error::InvalidMessage(_) => {
                    "; the server does not speak TLS there: a registry that speaks plain HTTP needs --plain-http"
                }
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType
                | rustls::Error::PeerIncompatible(_) => "",
                _ => {
                    return error(format!(
                        "{method} {}: {}",
                        Self::shown(url),
                        transport_words(transport)
                    ));
                }
            };
            return Error {
                message: format!(
                    "{method} {}: the TLS handshake with {} failed: {}{hint}",
                    Self::shown(url),
                    printable(host_of(url)),
                    printable(&tls.to_string())
                ),
                kind: ErrorKind::Tls,
            };
        }
        error(format!(
            "{method} {}: {}",
            Self::shown(url),
            transport_words(transport)
        ))
    }
}

/// The first line of an answer's body that is short plain text (not JSON, not HTML), at
/// most 160 characters: what a proxy or a server outside the registry API says.
pub(super) fn plain_text(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let line = text.lines().next()?.trim();
    if line.is_empty() || line.starts_with(['<', '{', '[']) {
        return None;
    }
    let mut shown: String = line.chars().take(160).collect();
    if line.chars().nth(160).is_some() {
        shown.push('…');
    }
    Some(printable(&shown).into_owned())
}

/// The `host[:port]` of a URL.
pub(super) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The TLS error somewhere in a transport error's causes (rustls's errors travel inside
/// `io::Error`s, whose `source` skips them).
pub(super) fn tls_failure(transport: &ureq::Transport) -> Option<&rustls::Error> {
    let mut cause = std::error::Error::source(transport);
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

pub(super) fn transport_words(transport: &ureq::Transport) -> String {
    let kind = transport.kind();
    // ureq names the header it refused whole: it may be a credential.
    if kind == ureq::ErrorKind::BadHeader {
        return "a header of the request is not valid (not shown: it may hold a credential)"
            .to_owned();
    }
    let detail = transport
        .message()
        .map(|m| format!(": {}", printable(m)))
        .unwrap_or_default();
    let source = std::error::Error::source(transport)
        .map(|s| format!(" ({})", printable(&s.to_string())))
        .unwrap_or_default();
    format!("{kind}{detail}{source}")
}

/// 0..100, different on every call and every run: spreads retries of parallel requests.
pub(super) fn jitter_percent() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos())),
    );
    u32::try_from(hasher.finish() % 100).unwrap_or(0)
}

/// TLS with the system's root certificates (the bundle `SSL_CERT_FILE` names, or the
/// distribution's), and those of `ca_file`; `None` where the system has no bundle (ureq's
/// built-in Mozilla roots then).
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<Option<rustls::ClientConfig>, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
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
        && let Ok(certificates) = CertificateDer::pem_file_iter(bundle)
    {
        roots.add_parsable_certificates(certificates.flatten());
    }
    if let Some(ca_file) = ca_file {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(Iterator::collect)
            .map_err(|e| {
                error(format!(
                    "cannot read the certificates of --ca-file {}: {e}",
                    ca_file.display()
                ))
            })?;
        let (added, _) = roots.add_parsable_certificates(certificates);
        if added == 0 {
            return Err(error(format!(
                "--ca-file {} holds no usable certificate",
                ca_file.display()
            )));
        }
    }
    if roots.is_empty() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(config))
}
