//! Credentials as podman, skopeo and docker find them, and the challenges a registry answers
//! with (`WWW-Authenticate: Basic` or `Bearer realm,service,scope`). A password is kept here
//! and sent only in an `Authorization` header: no message, `Debug` or JSON ever shows it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// A user name and password (or identity token), and where they were found.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
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
    /// The value of an `Authorization: Basic` header.
    #[must_use]
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The credentials for `host`: `GLC_REGISTRY_USERNAME`/`GLC_REGISTRY_PASSWORD` first, then the
/// first auth file that names the host (`REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`). `Ok(None)`: anonymous. An auth file that cannot be read or an
/// entry that cannot be decoded is an error naming the file, never its content.
pub fn find(host: &str) -> Result<Option<Credentials>, String> {
    if let (Ok(username), Ok(password)) = (
        std::env::var("GLC_REGISTRY_USERNAME"),
        std::env::var("GLC_REGISTRY_PASSWORD"),
    ) {
        return Ok(Some(Credentials {
            username,
            password,
            source: "GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD".to_owned(),
        }));
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

/// The keys under which docker and podman file a host's entry.
fn keys(host: &str) -> [String; 4] {
    [
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
    ]
}

fn from_config(config: &Value, host: &str, file: &Path) -> Result<Option<Credentials>, String> {
    if let Some(helper) = config["credHelpers"][host].as_str() {
        return helper_get(helper, host).map(Some);
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
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
                source,
            }));
        }
        if let (Some(username), Some(password)) =
            (entry["username"].as_str(), entry["password"].as_str())
        {
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
                source,
            }));
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
        (Some(username), Some(secret)) => Ok(Credentials {
            username: username.to_owned(),
            password: secret.to_owned(),
            source: program,
        }),
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
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        params.insert(key, value.to_owned());
        rest = after.trim_start_matches([',', ' ']);
    }
    Some(Challenge::Bearer(params))
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
