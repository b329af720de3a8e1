//! Authentication: credentials as podman, skopeo and docker find them, the challenges a
//! registry answers with (`WWW-Authenticate: Basic` or `Bearer realm,service,scope`), and the
//! token (or basic credentials) the registry last took, sent with every request after.
//!
//! The credentials of a registry are bound to its origin: they go in an `Authorization`
//! header to the registry's own scheme, host and port only, never to a redirect's target, an
//! upload `Location` or a `Link` elsewhere; a challenge from another origin is not answered;
//! basic credentials go to a token server only over TLS, unless the registry itself is spoken
//! to in plain HTTP. A password is kept here and sent only in that header: no message, `Debug`
//! or JSON ever shows it.
//!
//! Imports the transport (a token is fetched with it) and the retry policy (which a token's
//! request follows as every other).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::error::{Error, ErrorKind, error, interrupted, refusal};
use super::retry::{Policy, Step, retry_after, transient};
use super::transport::{Answer, Body, Failure, MAX_ANSWER, Request, Transport, shown};
use crate::oci::printable;

/// A user name and password (or identity token), and where they were found.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
    /// An `OAuth2` refresh token (`identitytoken` of a docker config, as `docker login` writes
    /// for some registries), exchanged at a token server instead of the password.
    identity_token: Option<String>,
    /// Where they came from, for messages: a variable, a file, a helper.
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(username: &str, password: &str, source: String) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
            identity_token: None,
            source,
        }
    }

    /// The refresh token to exchange at a token server, if these are one.
    #[must_use]
    pub fn identity_token(&self) -> Option<&str> {
        self.identity_token.as_deref()
    }

    /// The value of an `Authorization: Basic` header.
    #[must_use]
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The credentials for `host`: `GLC_REGISTRY_USERNAME`/`GLC_REGISTRY_PASSWORD` where
/// `GLC_REGISTRY_HOST` names this host, else the first auth file that names the host
/// (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json`
/// or `~/.docker/config.json`). `Ok(None)`: anonymous. An auth file that cannot be read, an
/// entry that cannot be decoded, or variables that name no host are errors naming their
/// source, never a secret.
pub fn find(host: &str) -> Result<Option<Credentials>, String> {
    if let Some(found) = from_environment(host)? {
        return Ok(Some(found));
    }
    for file in auth_files() {
        let text = match std::fs::read(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let config: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))?;
        if let Some(found) = from_config(&config, host, &file)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// `GLC_REGISTRY_USERNAME`/`_PASSWORD`, bound to the registry `GLC_REGISTRY_HOST` names as
/// docker and podman bind a login to its host: another registry never gets them, whatever it
/// answers.
fn from_environment(host: &str) -> Result<Option<Credentials>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (username, password) = (var("GLC_REGISTRY_USERNAME"), var("GLC_REGISTRY_PASSWORD"));
    let (username, password) = match (username, password) {
        (None, None) => return Ok(None),
        (Some(username), Some(password)) => (username, password),
        (Some(_), None) => {
            return Err(
                "GLC_REGISTRY_USERNAME is set, but GLC_REGISTRY_PASSWORD is not: set the password too (and GLC_REGISTRY_HOST to the registry they are for)"
                    .to_owned(),
            );
        }
        (None, Some(_)) => {
            return Err(
                "GLC_REGISTRY_PASSWORD is set, but GLC_REGISTRY_USERNAME is not: set the user name too (and GLC_REGISTRY_HOST to the registry they are for)"
                    .to_owned(),
            );
        }
    };
    let Some(bound) = var("GLC_REGISTRY_HOST") else {
        return Err(format!(
            "GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD are set, but GLC_REGISTRY_HOST does not say which registry they are for: set GLC_REGISTRY_HOST={}",
            crate::oci::printable(host)
        ));
    };
    if canonical_host(&bound) != canonical_host(host) {
        return Ok(None);
    }
    Ok(Some(Credentials::new(
        &username,
        &password,
        "GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD (for GLC_REGISTRY_HOST)".to_owned(),
    )))
}

/// A registry host as logins are keyed: lowercase, without a scheme or path, and Docker Hub
/// by one name whatever alias names it.
fn canonical_host(host: &str) -> String {
    let host = host.trim();
    let host = host.split_once("://").map_or(host, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    if is_docker_hub(&host) {
        "docker.io".to_owned()
    } else {
        host
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(file));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(Path::new(&dir).join("containers/auth.json"));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push(Path::new(&dir).join("config.json"));
    } else if let Some(home) = std::env::var_os("HOME") {
        files.push(Path::new(&home).join(".docker/config.json"));
    }
    files
}

/// The keys under which docker and podman file a host's entry; Docker Hub's login is filed
/// under `https://index.docker.io/v1/` by `docker login`.
fn keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
    ];
    if is_docker_hub(&host.to_ascii_lowercase()) {
        keys.extend(
            [
                "https://index.docker.io/v1/",
                "index.docker.io",
                "docker.io",
                "registry-1.docker.io",
            ]
            .map(str::to_owned),
        );
    }
    keys
}

fn from_config(config: &Value, host: &str, file: &Path) -> Result<Option<Credentials>, String> {
    for key in keys(host) {
        if let Some(helper) = config["credHelpers"][&key].as_str() {
            return helper_get(helper, host).map(Some);
        }
    }
    for key in keys(host) {
        let entry = &config["auths"][&key];
        if !entry.is_object() {
            continue;
        }
        let source = format!("{} (auths.{key})", file.display());
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = STANDARD
                .decode(auth)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    format!("the `auth` of {source} is not base64 of `user:password`")
                })?;
            let Some((username, password)) = decoded.split_once(':') else {
                return Err(format!(
                    "the `auth` of {source} is not base64 of `user:password`"
                ));
            };
            let mut found = Credentials::new(username, password, source);
            found.identity_token = identity_token(entry);
            return Ok(Some(found));
        }
        if let (Some(username), Some(password)) =
            (entry["username"].as_str(), entry["password"].as_str())
        {
            let mut found = Credentials::new(username, password, source);
            found.identity_token = identity_token(entry);
            return Ok(Some(found));
        }
        if let Some(token) = identity_token(entry) {
            let mut found = Credentials::new("", "", source);
            found.identity_token = Some(token);
            return Ok(Some(found));
        }
    }
    if let Some(store) = config["credsStore"].as_str() {
        return match helper_get(store, host) {
            Ok(found) => Ok(Some(found)),
            // A store that does not know the host: anonymous, as docker does.
            Err(_) => Ok(None),
        };
    }
    Ok(None)
}

/// `docker-credential-<helper> get`, the host on its standard input.
fn helper_get(helper: &str, host: &str) -> Result<Credentials, String> {
    if !helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(format!(
            "credential helper name {:?} is not a plain name",
            crate::oci::printable(helper)
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{program} has no credentials for {host}"));
    }
    let answer: Value = serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("{program} answered something that is not JSON"))?;
    match (answer["Username"].as_str(), answer["Secret"].as_str()) {
        // docker's helpers answer `<token>` as the user of an identity token.
        (Some("<token>"), Some(secret)) => {
            let mut found = Credentials::new("", "", program);
            found.identity_token = Some(secret.to_owned());
            Ok(found)
        }
        (Some(username), Some(secret)) => Ok(Credentials::new(username, secret, program)),
        _ => Err(format!("{program} answered without Username and Secret")),
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer(BTreeMap<String, String>),
}

/// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`; `None` for any
/// other scheme.
#[must_use]
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            quoted_string(quoted)?
        } else {
            let (value, after) = after.split_once(',').unwrap_or((after, ""));
            (value.trim().to_owned(), after)
        };
        params.insert(key, value);
        rest = after.trim_start_matches([',', ' ']);
    }
    Some(Challenge::Bearer(params))
}

/// The rest of an HTTP quoted-string after its opening quote: its value (`\x` is `x`) and
/// what follows the closing quote; `None` if it does not close.
fn quoted_string(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, text.get(i + 1..)?)),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// The `identitytoken` of an auth file's entry, if it has one.
fn identity_token(entry: &Value) -> Option<String> {
    entry["identitytoken"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The authentication of one client: the registry's credentials, bound to its origin, and
/// the `Authorization` the registry last took (its token, or the basic credentials), which
/// every request to the origin carries until the registry asks again.
pub(super) struct Auth {
    /// The registry's name, for messages.
    host: String,
    /// `http(s)://host[:port]`: where the credentials go, and nowhere else.
    origin: String,
    repository: String,
    /// Ask a token server for `pull` only, not `pull,push`.
    read_only: bool,
    credentials: Option<Credentials>,
    authorization: RwLock<Option<String>>,
}

impl Auth {
    /// The authentication of `host`'s `repository` spoken to at `origin`, with the
    /// credentials [`find`] finds for `host`.
    pub fn new(host: &str, origin: &str, repository: &str, read_only: bool) -> Result<Self, Error> {
        let credentials = find(host).map_err(|message| Error::new(ErrorKind::Auth, message))?;
        Ok(Self {
            host: host.to_owned(),
            origin: origin.to_owned(),
            repository: repository.to_owned(),
            read_only,
            credentials,
            authorization: RwLock::new(None),
        })
    }

    /// The `Authorization` of a request to `url`: only on the registry's own origin, never
    /// to an upload `Location`, a `Link`, a redirect's target or anything else on another
    /// host, scheme or port.
    pub fn header(&self, url: &str) -> Option<String> {
        let own = url
            .strip_prefix(&self.origin)
            .is_some_and(|rest| rest.starts_with('/'));
        if !own {
            return None;
        }
        self.authorization.read().ok().and_then(|a| a.clone())
    }

    /// What a refusal of the credentials adds to its message: whose were refused, or that
    /// there were none.
    pub fn refused(&self) -> String {
        match &self.credentials {
            Some(c) => format!(
                "; the credentials of user {:?} from {} were refused",
                printable(&c.username),
                c.source
            ),
            None => "; no credentials were found for it".to_owned(),
        }
    }

    fn refusal(&self, what: &str, status: u16, body: &[u8]) -> Error {
        refusal(&self.host, what, status, body, &self.refused())
    }

    /// Answers a 401: basic credentials, or a bearer token fetched with them, kept for the
    /// requests after.
    pub fn answer(
        &self,
        transport: &Transport,
        policy: &Policy,
        answer: &Answer,
    ) -> Result<(), Error> {
        if !answer.own {
            return Err(Error::new(
                ErrorKind::Final,
                format!(
                    "a host other than {} (where a redirect or a `Location` led) asks for credentials; glc sends the credentials of {} to {} only",
                    self.host, self.host, self.origin
                ),
            ));
        }
        let challenge = answer.www_authenticate.as_deref().and_then(parse_challenge);
        let authorization = match challenge {
            Some(Challenge::Basic) => match &self.credentials {
                Some(credentials) if credentials.identity_token().is_some() => {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!(
                            "{} asks for a user name and password, and the login found for it in {} is an identity token, which only a token server takes",
                            self.host, credentials.source
                        ),
                    ));
                }
                Some(credentials) => credentials.basic(),
                None => return Err(self.refusal("a request", 401, &answer.body)),
            },
            Some(Challenge::Bearer(params)) => self.token(transport, policy, &params)?,
            None => return Err(self.refusal("a request", 401, &answer.body)),
        };
        if let Ok(mut slot) = self.authorization.write() {
            *slot = Some(authorization);
        }
        Ok(())
    }

    /// A bearer token from the challenge's realm, for its service and scope (and push to this
    /// repository), fetched with the basic credentials if there are any.
    fn token(
        &self,
        transport: &Transport,
        policy: &Policy,
        params: &BTreeMap<String, String>,
    ) -> Result<String, Error> {
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
            return Err(Error::new(
                ErrorKind::Final,
                format!(
                    "{} names the token server {:?}, which is not an https:// URL; glc sends no credentials there",
                    self.host,
                    printable(realm)
                ),
            ));
        }
        let actions = if self.read_only { "pull" } else { "pull,push" };
        let mut scopes = vec![format!("repository:{}:{actions}", self.repository)];
        // The challenge may name several scopes, space-separated (distribution does for a
        // mount: this repository's and `pull` of the one mounted from): each other one is
        // asked for too.
        let own = format!("repository:{}:", self.repository);
        for scope in params
            .get("scope")
            .map(String::as_str)
            .unwrap_or_default()
            .split_ascii_whitespace()
        {
            if !scope.starts_with(&own) && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let service = params.get("service");
        let identity = self
            .credentials
            .as_ref()
            .and_then(Credentials::identity_token);
        let basic = self.credentials.as_ref().map(Credentials::basic);
        // An identity token (an OAuth2 refresh token) is exchanged as docker does: a form
        // `POST` to the same realm; else a `GET` with the basic credentials, if any.
        let scope = scopes.join(" ");
        let mut form = Vec::new();
        let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", s.as_str())).collect();
        let mut headers = Vec::new();
        let request = if let Some(token) = identity {
            form.extend([
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", "glc"),
                ("scope", scope.as_str()),
            ]);
            if let Some(service) = service {
                form.push(("service", service.as_str()));
            }
            Request {
                body: Body::Form(&form),
                ..Request::new("POST", realm)
            }
        } else {
            if let Some(service) = service {
                query.push(("service", service.as_str()));
            }
            if let Some(basic) = &basic {
                headers.push(("Authorization", basic.as_str()));
            }
            Request {
                query: &query,
                headers: &headers,
                ..Request::new("GET", realm)
            }
        };
        let unreachable = |words: &str| {
            error(format!(
                "the token server {} cannot be reached: {words}",
                shown(realm)
            ))
        };
        let response = policy.run(|| match transport.call(&request) {
            Ok(response) => match response.status() {
                status if status < 400 => Step::Done(Ok(response)),
                status @ (401 | 403) => {
                    Step::Done(Err(self.refusal("the token request", status, &[])))
                }
                status if !transient(status) => Step::Done(Err(error(format!(
                    "the token server {} answered HTTP {status}",
                    shown(realm)
                )))),
                status => Step::Retry {
                    outcome: Err(unreachable(&format!("HTTP {status}"))),
                    wait: retry_after(status, response.header("Retry-After")),
                },
            },
            Err(Failure::Interrupted) => Step::Done(Err(interrupted())),
            Err(failure) if failure.unknown_name() => {
                Step::Done(Err(unreachable(&failure.words())))
            }
            Err(failure) => Step::Retry {
                outcome: Err(unreachable(&failure.words())),
                wait: None,
            },
        })?;
        let (body, _) = response.read_body(MAX_ANSWER);
        let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .ok_or_else(|| {
                error(format!(
                    "the token server {} answered without a token",
                    shown(realm)
                ))
            })?;
        // A token is sent back as a header: one that could not be (a control character, a
        // space, a byte beyond ASCII) is refused here, never shown, never sent.
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::new(
                ErrorKind::Final,
                format!(
                    "the token server {} answered a token that is not a valid header value (not shown)",
                    shown(realm)
                ),
            ));
        }
        Ok(format!("Bearer {token}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read_with_commas_inside_quotes() {
        let challenge = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        let Some(Challenge::Bearer(params)) = challenge else {
            panic!("not bearer: {challenge:?}");
        };
        assert_eq!(params["realm"], "https://auth.example/token");
        assert_eq!(params["service"], "registry.example");
        assert_eq!(params["scope"], "repository:a/b:pull,push");
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn quoted_values_keep_escaped_quotes_and_an_open_quote_is_no_challenge() {
        let challenge = parse_challenge(
            r#"Bearer realm="https://auth.example/token?a=\"b\"",service="s\\x", scope=repository:a:pull"#,
        );
        let Some(Challenge::Bearer(params)) = challenge else {
            panic!("not bearer: {challenge:?}");
        };
        assert_eq!(params["realm"], r#"https://auth.example/token?a="b""#);
        assert_eq!(params["service"], r"s\x");
        assert_eq!(params["scope"], "repository:a:pull");
        assert_eq!(parse_challenge(r#"Bearer realm="https://x"#), None);
    }

    #[test]
    fn docker_hub_logins_are_found_under_the_key_docker_login_writes_with_identity_tokens() {
        let config = serde_json::json!({
            "auths": {"https://index.docker.io/v1/": {"identitytoken": "refresh-me"}}
        });
        let found = from_config(&config, "docker.io", Path::new("config.json"))
            .unwrap()
            .unwrap();
        assert_eq!(found.identity_token(), Some("refresh-me"));
        assert!(found.source.contains("https://index.docker.io/v1/"));
        assert!(!format!("{found:?}").contains("refresh-me"));
        // Another registry is never given Docker Hub's login.
        assert!(
            from_config(&config, "ghcr.io", Path::new("config.json"))
                .unwrap()
                .is_none()
        );
        assert_eq!(canonical_host("https://registry-1.docker.io/"), "docker.io");
        assert_eq!(canonical_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn docker_config_entries_decode_and_debug_hides_the_password() {
        let config = serde_json::json!({
            "auths": {"https://r.example:5000": {"auth": STANDARD.encode("ann:s3cr:et")}}
        });
        let found = from_config(&config, "r.example:5000", Path::new("config.json"))
            .unwrap()
            .unwrap();
        assert_eq!(found.username, "ann");
        assert_eq!(
            found.basic(),
            format!("Basic {}", STANDARD.encode("ann:s3cr:et"))
        );
        assert!(!format!("{found:?}").contains("s3cr"));
        let broken = serde_json::json!({"auths": {"r": {"auth": "%%%"}}});
        let error = from_config(&broken, "r", Path::new("c.json")).unwrap_err();
        assert!(error.contains("c.json (auths.r)"), "{error}");
    }
}
