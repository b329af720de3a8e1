//! The registry client's error: a message that names the registry's own words and never a
//! credential, what kind of failure it is (which decides whether a request is tried again and
//! which help a command gives), and, when it is the registry's answer, the HTTP status and the
//! distribution spec's error codes (`errors[].code` of the JSON body), so that a caller can
//! branch on `MANIFEST_UNKNOWN` or `DENIED` rather than on words.
//!
//! Imports nothing of the client: every layer (transport, retries, authentication, the API)
//! makes these.

use serde_json::Value;

use crate::oci::printable;

/// What went wrong with a request.
#[derive(Debug, Clone)]
pub struct Error {
    /// What is shown: the request, the registry's answer in its own words, never a credential.
    pub message: String,
    pub kind: ErrorKind,
    /// The HTTP status of the registry's answer that this error is, if it is one.
    pub status: Option<u16>,
    /// The `errors` of that answer's JSON body, in the registry's order.
    pub errors: Vec<ApiError>,
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
    /// A signal asked glc to stop ([`crate::util::interrupt`]): no request is sent or retried.
    Interrupted,
}

/// One entry of a registry's `errors` (distribution spec, "Error Codes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    /// The registry's `message`, as it sent it (shown only through [`printable`]).
    pub message: String,
}

/// The error codes of the distribution spec; any other a registry sends is kept as
/// [`Code::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// A code outside the spec (registries add their own), as sent.
    Other(String),
}

impl Code {
    /// The code `text` names.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text {
            "BLOB_UNKNOWN" => Self::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => Self::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => Self::BlobUploadUnknown,
            "DIGEST_INVALID" => Self::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => Self::ManifestBlobUnknown,
            "MANIFEST_INVALID" => Self::ManifestInvalid,
            "MANIFEST_UNKNOWN" => Self::ManifestUnknown,
            "NAME_INVALID" => Self::NameInvalid,
            "NAME_UNKNOWN" => Self::NameUnknown,
            "SIZE_INVALID" => Self::SizeInvalid,
            "UNAUTHORIZED" => Self::Unauthorized,
            "DENIED" => Self::Denied,
            "UNSUPPORTED" => Self::Unsupported,
            "TOOMANYREQUESTS" => Self::TooManyRequests,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// An error of kind [`ErrorKind::Other`] with no answer behind it.
pub(super) fn error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Other, message)
}

/// The error of a request not sent, or cut, because a signal asked glc to stop.
pub(super) fn interrupted() -> Error {
    Error::new(ErrorKind::Interrupted, crate::util::interrupt::MESSAGE)
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind,
            status: None,
            errors: Vec::new(),
        }
    }

    /// Whether the same request may succeed later: not when the credentials were refused
    /// (trying again only locks accounts), the host name cannot be looked up, or the
    /// registry's certificate does not verify.
    #[must_use]
    pub fn worth_retrying(&self) -> bool {
        self.kind == ErrorKind::Other
    }

    /// Whether the registry's answer named `code` among its errors.
    #[must_use]
    pub fn has_code(&self, code: &Code) -> bool {
        self.errors.iter().any(|e| e.code == *code)
    }

    /// The [`Error`] a [`super::BlobReader`]'s `io::Error` carries, or one saying the
    /// `io::Error`.
    #[must_use]
    pub fn from_io(e: std::io::Error) -> Self {
        match e.downcast::<Self>() {
            Ok(inner) => inner,
            Err(e) => error(e.to_string()),
        }
    }
}

/// The `errors` of a registry's JSON error body; `None` if the body is not one.
fn api_errors(body: &[u8]) -> Option<Vec<ApiError>> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    let errors = value["errors"].as_array()?;
    Some(
        errors
            .iter()
            .map(|e| ApiError {
                code: Code::parse(e["code"].as_str().unwrap_or("?")),
                message: e["message"].as_str().unwrap_or("").to_owned(),
            })
            .collect(),
    )
}

/// What `host` refused, in its own words (its error codes and messages, or a line of plain
/// text). `credentials` says, for a 401 or 403, whose credentials were refused.
pub(super) fn refusal(
    host: &str,
    what: &str,
    status: u16,
    body: &[u8],
    credentials: &str,
) -> Error {
    let errors = api_errors(body);
    let words = errors
        .as_ref()
        .map(|errors| {
            let said: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = match &e.code {
                        Code::Other(code) => code.clone(),
                        known => code_text(known).to_owned(),
                    };
                    format!("{}: {}", printable(&code), printable(&e.message))
                })
                .collect();
            said.join("; ")
        })
        .or_else(|| plain_text(body))
        .map_or(String::new(), |said| format!(" ({said})"));
    let auth = status == 401 || status == 403;
    let mut message = format!("{host} answered {what} with HTTP {status}{words}");
    let plain_to_tls =
        status == 400 && String::from_utf8_lossy(body).contains("HTTP request to an HTTPS server");
    if plain_to_tls {
        message.push_str(
            "; the registry speaks HTTPS, and glc spoke plain HTTP (as it does for this machine unless --ca-file names the CA to trust, and wherever --plain-http is given)",
        );
    }
    if auth {
        message.push_str(credentials);
    }
    let kind = if auth {
        ErrorKind::Auth
    } else if plain_to_tls {
        ErrorKind::Tls
    } else {
        ErrorKind::Other
    };
    Error {
        message,
        kind,
        status: Some(status),
        errors: errors.unwrap_or_default(),
    }
}

/// The first line of an answer's body that is short plain text (not JSON, not HTML), at
/// most 160 characters: what a proxy or a server outside the registry API says.
fn plain_text(body: &[u8]) -> Option<String> {
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

/// The spec's spelling of a known code.
fn code_text(code: &Code) -> &str {
    match code {
        Code::BlobUnknown => "BLOB_UNKNOWN",
        Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
        Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
        Code::DigestInvalid => "DIGEST_INVALID",
        Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
        Code::ManifestInvalid => "MANIFEST_INVALID",
        Code::ManifestUnknown => "MANIFEST_UNKNOWN",
        Code::NameInvalid => "NAME_INVALID",
        Code::NameUnknown => "NAME_UNKNOWN",
        Code::SizeInvalid => "SIZE_INVALID",
        Code::Unauthorized => "UNAUTHORIZED",
        Code::Denied => "DENIED",
        Code::Unsupported => "UNSUPPORTED",
        Code::TooManyRequests => "TOOMANYREQUESTS",
        Code::Other(code) => code,
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(code_text(self))
    }
}

/// The help of an [`Error`] that is a failed TLS handshake.
pub const BAD_CERTIFICATE: &str = "give the CA that signed the registry's certificate with --ca-file (or in the bundle SSL_CERT_FILE names) and check that the host name is the one it is for, or give --plain-http for a registry that speaks plain HTTP; glc does not retry a handshake that fails this way";

/// The help of an [`Error`] of kind [`ErrorKind::Final`].
pub const FINAL: &str = "the registry answered in a way glc does not act on (see above), and would answer so again: ask its operator, or use another registry";

/// The help of an [`Error`] that is an unknown host.
pub const UNKNOWN_HOST: &str = "check the registry's name, and that this machine can look it up (a typo, or a name only another network or VPN resolves); glc does not retry a name it cannot look up";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_the_status_and_the_registrys_codes_and_says_them_as_sent() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"},{"code":"X_OWN","message":"a\u001bb"}]}"#;
        let e = refusal("r.example", "GET manifest 1", 404, body, "; unused");
        assert_eq!(
            e.message,
            "r.example answered GET manifest 1 with HTTP 404 (MANIFEST_UNKNOWN: manifest unknown; X_OWN: a\\u{1b}b)"
        );
        assert_eq!(e.status, Some(404));
        assert_eq!(e.kind, ErrorKind::Other);
        assert!(e.has_code(&Code::ManifestUnknown));
        assert!(e.has_code(&Code::Other("X_OWN".to_owned())));
        assert!(!e.has_code(&Code::BlobUnknown));

        let denied = refusal(
            "r.example",
            "a request",
            403,
            br#"{"errors":[{"code":"DENIED"}]}"#,
            "; no credentials were found for it",
        );
        assert_eq!(
            denied.message,
            "r.example answered a request with HTTP 403 (DENIED: ); no credentials were found for it"
        );
        assert_eq!(denied.kind, ErrorKind::Auth);
        assert!(denied.has_code(&Code::Denied));

        let plain = refusal(
            "r",
            "GET /v2/",
            400,
            b"Client sent an HTTP request to an HTTPS server.\n",
            "",
        );
        assert_eq!(plain.kind, ErrorKind::Tls);
        assert!(plain.errors.is_empty());
        assert_eq!(
            Code::parse("TOOMANYREQUESTS").to_string(),
            "TOOMANYREQUESTS"
        );
    }

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
            Some(printable("bad\x1b[31m gateway").as_ref())
        );
    }
}
