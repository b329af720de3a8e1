//! `glc push` against Debian's docker-registry (distribution 2.8, no referrers API) on
//! 127.0.0.1: every tag read back by skopeo and the registry API with the layout's digests,
//! the referrers fallback tags, a second push that uploads nothing, basic auth from a docker
//! config, a proxy that injects faults, and a registry that is down. Each test starts and
//! stops its own registry; outside CI a missing tool skips a test loudly.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::build::{Layout, build_top_level};
use crate::registry::{Registry, free_port, tool};
use crate::{Test, stderr};

/// The top-level release, signed with the test key: tags, attachments and signature tags.
pub fn signed_release(dir: &Path) -> Layout {
    let out = dir.join("out");
    build_top_level(&out);
    Test::new()
        .arg("sign")
        .arg(&out)
        .arg("--key")
        .arg(crate::repo().join("tests/fixtures/signing/test-only-cosign.key"))
        .env("COSIGN_PASSWORD", "glc-test-password")
        .run();
    Layout::open(&out)
}

/// `glc push --message-format json`: its summary line.
pub fn push_json(layout: &Path, destination: &str, extra: &[&str]) -> Value {
    let output = Test::new()
        .args(["--message-format", "json", "push"])
        .arg(layout)
        .arg(destination)
        .args(extra)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
        .run();
    let text = output.stderr();
    let summary = summary(&text);
    assert_eq!(summary["command"], "push");
    summary
}

/// The `"type": "summary"` line of a run's JSON lines.
pub fn summary(text: &str) -> Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in:\n{text}"))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

const ACCEPT: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

/// Every tag of the layout, read back from the registry with skopeo and the API.
fn assert_every_tag_is_there(layout: &Layout, registry: &Registry, auth: Option<&str>) {
    let mut checked = 0;
    for (tag, digest) in layout.tags() {
        let mut request = ureq2::get(&registry.url(&format!("/v2/gardenlinux/manifests/{tag}")))
            .set("Accept", ACCEPT);
        if let Some(auth) = auth {
            request = request.set("Authorization", auth);
        }
        let response = request.call().unwrap_or_else(|e| panic!("GET {tag}: {e}"));
        assert_eq!(
            response.header("Docker-Content-Digest"),
            Some(digest.as_str())
        );
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).expect("body");
        assert_eq!(sha256(&body), digest, "tag {tag}: other bytes");
        assert_eq!(body, layout.blob(&digest), "tag {tag}: other bytes");
        checked += 1;
    }
    assert!(checked > 10, "only {checked} tags");
    if auth.is_some() {
        return;
    }
    if crate::build::skopeo().is_none() {
        return;
    }
    for (tag, digest) in layout.tags() {
        let output = crate::build::skopeo()
            .expect("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/gardenlinux:{tag}", registry.host()))
            .output()
            .expect("skopeo");
        assert!(
            output.status.success(),
            "skopeo inspect {tag}: {}",
            stderr(&output)
        );
        assert_eq!(
            sha256(&output.stdout),
            digest,
            "skopeo reads {tag} with other bytes"
        );
    }
}

/// The digests of the layout's attachments (untagged entries), by their subject's digest.
pub fn attachments_by_subject(layout: &Layout) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut by_subject: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::default();
    for entry in layout.entries() {
        if entry["annotations"]["org.opencontainers.image.ref.name"].is_string() {
            continue;
        }
        let manifest = layout.json(&entry);
        let subject = manifest["subject"]["digest"]
            .as_str()
            .expect("subject")
            .to_owned();
        by_subject
            .entry(subject)
            .or_default()
            .push(entry["digest"].as_str().expect("digest").to_owned());
    }
    by_subject
}

/// Each attachment (untagged entry) is listed in the fallback tag of its subject.
fn assert_referrers_tags(layout: &Layout, registry: &Registry) {
    let by_subject = attachments_by_subject(layout);
    assert!(!by_subject.is_empty(), "the release has attachments");
    for (subject, mut expected) in by_subject {
        let tag = subject.replace(':', "-");
        let mut body = Vec::new();
        ureq2::get(&registry.url(&format!("/v2/gardenlinux/manifests/{tag}")))
            .set("Accept", ACCEPT)
            .call()
            .unwrap_or_else(|e| panic!("referrers tag {tag}: {e}"))
            .into_reader()
            .read_to_end(&mut body)
            .expect("body");
        let index: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let mut listed: Vec<String> = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|d| {
                assert!(
                    d["artifactType"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("application/io.gardenlinux."))
                );
                d["digest"].as_str().expect("digest").to_owned()
            })
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected, "referrers of {subject}");
    }
}

#[test]
fn the_signed_release_is_pushed_whole_and_a_second_push_uploads_nothing() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = signed_release(dir.dir());
    let destination = format!("{}/gardenlinux", registry.host());
    let digests = dir.path("digests.json");
    let first = push_json(
        &layout.root,
        &destination,
        &["--digests", digests.to_str().expect("utf-8")],
    );
    assert!(first["blobs_uploaded"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(
        usize::try_from(first["tags"].as_u64().unwrap()).unwrap(),
        layout.tags().len()
    );
    assert_every_tag_is_there(&layout, &registry, None);
    assert_referrers_tags(&layout, &registry);
    let written: Value =
        serde_json::from_slice(&std::fs::read(&digests).expect("digests")).expect("json");
    for (tag, digest) in layout.tags() {
        assert_eq!(written["tags"][&tag]["digest"], digest.as_str(), "{tag}");
        assert_eq!(
            written["tags"][&tag]["destination"],
            format!("{destination}:{tag}").as_str()
        );
    }

    let writes = |r: &Registry| r.logged("PUT") + r.logged("POST") + r.logged("PATCH");
    let before = writes(&registry);
    assert!(before > 0, "the registry's log counts requests");
    let started = Instant::now();
    let second = push_json(&layout.root, &destination, &[]);
    let took = started.elapsed();
    for key in [
        "blobs_uploaded",
        "bytes_uploaded",
        "manifests_pushed",
        "tags_moved",
        "referrers_tags",
    ] {
        assert_eq!(second[key], 0, "second push: {key} in {second}");
    }
    assert_eq!(
        writes(&registry),
        before,
        "the second push wrote to the registry"
    );
    eprintln!(
        "push: first {} blobs, {} bytes, {} requests; second: {} requests in {took:?}",
        first["blobs_uploaded"], first["bytes_uploaded"], first["requests"], second["requests"]
    );
}

#[test]
fn basic_auth_credentials_come_from_a_docker_config_and_wrong_ones_fail_clearly() {
    let dir = Test::new();
    let Some(registry) = Registry::with_htpasswd(dir.dir(), "glc-user", "right-s3cret") else {
        return;
    };
    let layout = build_top_level(&dir.path("out"));
    let destination = format!("{}/gardenlinux", registry.host());
    let config = |password: &str| {
        let docker = tempfile::tempdir().expect("tempdir");
        let auth = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("glc-user:{password}"),
        );
        std::fs::write(
            docker.path().join("config.json"),
            serde_json::json!({"auths": {registry.host(): {"auth": auth}}}).to_string(),
        )
        .expect("config");
        docker
    };

    let wrong = config("wrong-pa55word");
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .env("DOCKER_CONFIG", wrong.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .status(1)
        .run();
    let text = format!("{}{}", output.stderr(), output.stdout());
    assert!(text.contains("glc::push::auth"), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("\"glc-user\""), "names the user: {text}");
    assert!(
        text.contains("config.json"),
        "names where they came from: {text}"
    );
    assert!(
        !text.contains("wrong-pa55word"),
        "shows the password: {text}"
    );
    let json = Test::new()
        .args(["--message-format", "json", "push"])
        .arg(&layout.root)
        .arg(&destination)
        .env("DOCKER_CONFIG", wrong.path())
        .status(1)
        .run();
    assert!(!json.stderr().contains("wrong-pa55word"));
    assert_eq!(registry.logged("PUT"), 0, "nothing was pushed");

    let right = config("right-s3cret");
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .env("DOCKER_CONFIG", right.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .run();
    assert!(!output.stderr().contains("right-s3cret"));
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "glc-user:right-s3cret"
        )
    );
    assert_every_tag_is_there(&layout, &registry, Some(&basic));
}

/// A proxy in front of the registry that, at a fixed seed, answers some requests with 502 or
/// 429 (`Retry-After: 1`) and cuts some uploads half-way through their body. One request a
/// connection; counts the faults it injected.
pub struct Faulty {
    pub port: u16,
    /// 502s, 429s, cut uploads and downloads.
    pub faults: Arc<[AtomicU64; 3]>,
    /// `PATCH` requests seen; with [`Mode::Hold`], whether the held one came.
    pub patches: Arc<AtomicU64>,
    pub held: Arc<std::sync::atomic::AtomicBool>,
}

/// What the proxy does besides relaying.
#[derive(Clone)]
pub enum Mode {
    /// Faults at a fixed seed.
    Faults,
    /// No faults, but a 400 to every `PUT` of this path.
    Refuse(String),
    /// No faults, but the `PATCH` with this number (from 1) is taken and never forwarded: the
    /// registry never sees it, the client waits for an answer until it is killed.
    Hold(u64),
    /// No faults, but the first this many `PUT`s of a manifest are answered as
    /// docker-registry does while another writer rewrites a link the manifest names: 400,
    /// `DIGEST_INVALID` and `MANIFEST_BLOB_UNKNOWN`. Counts them in the counter.
    Unseen(u64, Arc<AtomicU64>),
}

impl Faulty {
    pub fn start(upstream: u16, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Self {
            port,
            faults: Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]),
            patches: Arc::new(AtomicU64::new(0)),
            held: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let counter = Arc::new(AtomicU64::new(0));
        let shared = (
            proxy.faults.clone(),
            proxy.patches.clone(),
            proxy.held.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (faults, patches, held) = shared.clone();
                let mode = mode.clone();
                std::thread::spawn(move || {
                    relay(client, upstream, n, &faults, &mode, &patches, &held);
                });
            }
        });
        proxy
    }
}

impl Faulty {
    /// The faults injected, [502s, 429s, cuts]; each kind at least once, or the test fails.
    pub fn assert_every_fault_injected(&self) -> Vec<u64> {
        let faults: Vec<u64> = self
            .faults
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect();
        assert!(
            faults.iter().all(|f| *f > 0),
            "the proxy injected [502s, 429s, cuts] = {faults:?}"
        );
        faults
    }
}

/// A fixed pseudo-random number in 0..100 for the `n`th request (splitmix64).
pub fn roll(n: u64) -> u64 {
    let mut z = n
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

fn relay(
    mut client: TcpStream,
    upstream: u16,
    n: u64,
    faults: &[AtomicU64; 3],
    mode: &Mode,
    patches: &AtomicU64,
    holding: &std::sync::atomic::AtomicBool,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length = usize::try_from(content_length(&text)).expect("a body this test can hold");
    if text.starts_with("PATCH ") {
        let patch = patches.fetch_add(1, Ordering::Relaxed) + 1;
        if matches!(mode, Mode::Hold(number) if *number == patch) {
            holding.store(true, Ordering::Relaxed);
            // Taken in, never forwarded, never answered: until the client is gone.
            let _ = client.set_read_timeout(None);
            let _ = std::io::copy(&mut client, &mut std::io::sink());
            return;
        }
    }
    if let Mode::Refuse(path) = mode
        && text.starts_with(&format!("PUT {path} "))
    {
        let mut body = vec![0; length];
        let _ = client.read_exact(&mut body);
        let error = r#"{"errors":[{"code":"TAG_INVALID","message":"tag refused by policy"}]}"#;
        let _ = write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
            error.len()
        );
        return;
    }
    if let Mode::Unseen(first, answered) = mode
        && text.starts_with("PUT ")
        && text.contains("/manifests/")
        && answered.fetch_add(1, Ordering::Relaxed) < *first
    {
        let mut body = vec![0; length];
        let _ = client.read_exact(&mut body);
        let error = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}"#;
        let _ = write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
            error.len()
        );
        return;
    }
    let roll = if matches!(mode, Mode::Faults) {
        roll(n)
    } else {
        100
    };
    let answer = |client: &mut TcpStream, status: &str, extra: &str| {
        faults[usize::from(status.starts_with("429"))].fetch_add(1, Ordering::Relaxed);
        let _ = write!(
            client,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if roll < 8 {
        let mut body = vec![0; length];
        let _ = client.read_exact(&mut body);
        return answer(&mut client, "502 Bad Gateway", "");
    }
    if roll < 100 && n % 97 == 13 {
        let mut body = vec![0; length];
        let _ = client.read_exact(&mut body);
        return answer(&mut client, "429 Too Many Requests", "Retry-After: 1\r\n");
    }
    // Everything but `Connection`, which becomes `close`: one request a connection.
    let mut forwarded = String::new();
    for line in text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
    {
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if server.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    let mut body = vec![0; length];
    if client.read_exact(&mut body).is_err() {
        return;
    }
    if length > 1 && roll < 16 {
        // Cut mid-upload: half the body reaches the registry, then both sides are closed.
        faults[2].fetch_add(1, Ordering::Relaxed);
        let _ = server.write_all(&body[..length / 2]);
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if server.write_all(&body).is_err() {
        return;
    }
    let download = text.starts_with("GET ") && text.contains("/blobs/sha256:");
    if download && roll < 16 {
        // Cut mid-download: the answer's head and half its body reach glc, then both sides
        // are closed.
        faults[2].fetch_add(1, Ordering::Relaxed);
        return cut_answer(&mut server, &mut client);
    }
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

/// The `Content-Length` of an HTTP head, 0 without one.
pub fn content_length(head: &str) -> u64 {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Relays the answer's head and half of its body (by its `Content-Length`), then closes.
fn cut_answer(server: &mut TcpStream, client: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match server.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let length = content_length(&String::from_utf8_lossy(&head));
    let _ = client.write_all(&head);
    let _ = std::io::copy(&mut (&*server).take(length / 2), client);
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
}

#[test]
fn a_push_through_502s_429s_and_cut_uploads_completes_with_the_same_digests() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let proxy = Faulty::start(registry.port, Mode::Faults);
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    // Small chunks, so that big blobs go up in several PATCHes, some cut and resumed.
    let summary = push_json(
        &layout.root,
        &format!("127.0.0.1:{}/gardenlinux", proxy.port),
        &["--chunk-size", "4096", "--retries", "8"],
    );
    let faults = proxy.assert_every_fault_injected();
    assert_every_tag_is_there(&layout, &registry, None);
    assert_referrers_tags(&layout, &registry);
    eprintln!(
        "push: through [502s, 429s, cuts] = {faults:?}, {} requests, {} blobs",
        summary["requests"], summary["blobs_uploaded"]
    );
}

#[test]
fn a_registry_that_is_down_fails_the_push_in_bounded_time() {
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let port = free_port();
    let started = Instant::now();
    let mut child = dir
        .test()
        .command()
        .arg("push")
        .arg(&layout.root)
        .arg(format!("127.0.0.1:{port}/gardenlinux"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("glc");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_mins(1) {
            let _ = child.kill();
            panic!("glc push still runs after 60 s against a registry that is down");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut text)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("glc::push::registry"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("nothing was pushed"), "{text}");
    eprintln!(
        "push: a registry that is down fails after {:?}",
        started.elapsed()
    );
}

#[test]
fn an_unknown_host_fails_the_push_at_once() {
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    // With 10 retries the backoff alone would outlast the bounded run's 60 s: the exit 1
    // shows that a name without an address is not retried.
    let Some(run) = dir.test().no_host_names() else {
        return;
    };
    run.arg("push")
        .arg(&layout.root)
        .args(["registry.invalid:5000/gardenlinux", "--retries", "10"])
        .bounded()
        .status(1)
        .stderr_contains("glc::push::host")
        .stderr_contains("cannot find the registry host `registry.invalid:5000`: failed to")
        .stderr_contains("nothing was pushed")
        .stderr_contains("check the registry's name")
        .run();
}

#[test]
fn a_destination_without_repository_is_a_usage_error() {
    Test::new()
        .args(["push", "out", "gardenlinux"])
        .status(2)
        .stderr_contains("names no repository")
        .run();
}

/// What a [`TokenServer`] grants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `gardenlinux` only: pull the first time, then pull and push.
    GardenlinuxPullFirst,
    /// Every scope the request asks for, as asked.
    Asked,
}

/// A token server for the registry's `auth: token`: checks the basic credentials and hands
/// out an ES256 JWT, its certificate in `x5c`, granting what `Grant` says. Counts tokens and
/// keeps the scopes each request asked for.
pub struct TokenServer {
    pub port: u16,
    pub issued: Arc<AtomicU64>,
    pub asked: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
}

impl TokenServer {
    pub fn granting(
        key: p256::ecdsa::SigningKey,
        certificate_der: Vec<u8>,
        basic: String,
        grant: Grant,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let issued = Arc::new(AtomicU64::new(0));
        let counter = issued.clone();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let scopes_asked = asked.clone();
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let authorized = text.lines().any(|l| {
                    l.split_once(':').is_some_and(|(name, value)| {
                        name.eq_ignore_ascii_case("authorization") && value.trim() == basic
                    })
                });
                if !authorized {
                    let _ = write!(
                        client,
                        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    continue;
                }
                let target = text.split_whitespace().nth(1).unwrap_or_default();
                let scopes: Vec<String> = target
                    .split_once('?')
                    .map(|(_, query)| query)
                    .unwrap_or_default()
                    .split('&')
                    .filter_map(|pair| pair.strip_prefix("scope="))
                    .map(|scope| {
                        scope
                            .replace("%3A", ":")
                            .replace("%2C", ",")
                            .replace("%2F", "/")
                    })
                    .collect();
                scopes_asked.lock().expect("lock").push(scopes.clone());
                let first = counter.fetch_add(1, Ordering::Relaxed) == 0;
                let access = match grant {
                    // The first token grants only pull: the push must fetch a new one on 401.
                    Grant::GardenlinuxPullFirst => {
                        let actions: &[&str] = if first { &["pull"] } else { &["pull", "push"] };
                        serde_json::json!([{"type": "repository", "name": "gardenlinux", "actions": actions}])
                    }
                    Grant::Asked => scopes
                        .iter()
                        .filter_map(|scope| {
                            let (name, actions) = scope.strip_prefix("repository:")?.rsplit_once(':')?;
                            Some(serde_json::json!({"type": "repository", "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                        })
                        .collect(),
                };
                let token = jwt(&key, &certificate_der, &access);
                let body = serde_json::json!({"token": token}).to_string();
                let _ = write!(
                    client,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            port,
            issued,
            asked,
        }
    }
}

fn jwt(
    key: &p256::ecdsa::SigningKey,
    certificate_der: &[u8],
    access: &serde_json::Value,
) -> String {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let standard = base64::engine::general_purpose::STANDARD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [standard.encode(certificate_der)]});
    let claims = serde_json::json!({
        "iss": "glc-test-issuer",
        "sub": "glc-user",
        "aud": "glc-test-registry",
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}"),
        "access": access,
    });
    let signed = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let signature: p256::ecdsa::Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", url.encode(signature.to_bytes()))
}

/// A docker-registry with token auth on 127.0.0.1 and its [`TokenServer`] (for `glc-user`,
/// password `t0ken-s3cret`), with the token signing key and its certificate (DER). `None`
/// where openssl or docker-registry is missing.
pub fn token_registry(
    dir: &Test,
    grant: Grant,
) -> Option<(Registry, TokenServer, p256::ecdsa::SigningKey, Vec<u8>)> {
    use p256::pkcs8::DecodePrivateKey;
    if !tool("openssl") {
        return None;
    }
    let key = dir.path("key.pem");
    let certificate = dir.path("cert.pem");
    crate::signing::self_signed_p256(dir.dir(), "/CN=glc-test-issuer", "1", &key, &certificate);
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&certificate)
        .output()
        .expect("openssl")
        .stdout;
    let signing =
        p256::ecdsa::SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key).expect("key"))
            .expect("P-256 key");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "glc-user:t0ken-s3cret"
        )
    );
    let tokens = TokenServer::granting(signing.clone(), der.clone(), basic, grant);
    let registry = Registry::start(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: glc-test-registry\n    issuer: glc-test-issuer\n    rootcertbundle: {}\n",
        tokens.port,
        certificate.display()
    ))?;
    Some((registry, tokens, signing, der))
}

#[test]
fn bearer_tokens_are_fetched_with_basic_credentials_and_fetched_again_on_401() {
    let dir = Test::new();
    let Some((registry, tokens, signing, der)) = token_registry(&dir, Grant::GardenlinuxPullFirst)
    else {
        return;
    };
    let layout = build_top_level(&dir.path("out"));
    let destination = format!("{}/gardenlinux", registry.host());
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .env("GLC_REGISTRY_HOST", registry.host())
        .env("GLC_REGISTRY_USERNAME", "glc-user")
        .env("GLC_REGISTRY_PASSWORD", "wrong")
        .status(1)
        .stderr_contains("glc::push::auth")
        .run();
    assert!(!output.stderr().contains("wrong"), "{}", output.stderr());
    assert_eq!(tokens.issued.load(Ordering::Relaxed), 0);

    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .env("GLC_REGISTRY_HOST", registry.host())
        .env("GLC_REGISTRY_USERNAME", "glc-user")
        .env("GLC_REGISTRY_PASSWORD", "t0ken-s3cret")
        .run();
    assert!(!output.stderr().contains("t0ken-s3cret"));
    assert!(
        tokens.issued.load(Ordering::Relaxed) >= 2,
        "a token refused for push is fetched again"
    );
    assert!(registry.logged("PUT") > 0, "the registry took the pushes");
    let bearer = format!(
        "Bearer {}",
        jwt(
            &signing,
            &der,
            &serde_json::json!([{"type": "repository", "name": "gardenlinux", "actions": ["pull"]}])
        )
    );
    assert_every_tag_is_there(&layout, &registry, Some(&bearer));
}

#[test]
fn a_manifest_the_registry_briefly_cannot_check_is_put_again() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let answered = Arc::new(AtomicU64::new(0));
    let proxy = Faulty::start(registry.port, Mode::Unseen(3, answered.clone()));
    let summary = push_json(
        &layout.root,
        &format!("127.0.0.1:{}/gardenlinux", proxy.port),
        &[],
    );
    assert!(answered.load(Ordering::Relaxed) > 3, "{summary}");
    assert_every_tag_is_there(&layout, &registry, None);
}

#[test]
fn a_tag_the_registry_refuses_fails_the_push_before_any_release_tag_moves() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let release_tags = layout.tags_of("application/io.gardenlinux.release");
    assert!(!release_tags.is_empty());
    let (refused, _) = layout
        .tags()
        .into_iter()
        .find(|(tag, _)| !release_tags.contains(tag))
        .expect("a tag that is not a release tag");
    let proxy = Faulty::start(
        registry.port,
        Mode::Refuse(format!("/v2/gardenlinux/manifests/{refused}")),
    );
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(format!("127.0.0.1:{}/gardenlinux", proxy.port))
        .status(1)
        .run();
    let text = output.stderr();
    assert!(text.contains("glc::push::registry"), "{text}");
    assert!(
        text.contains(&format!("PUT manifest {refused} with HTTP 400")),
        "{text}"
    );
    assert!(
        text.contains("TAG_INVALID: tag refused by policy"),
        "{text}"
    );
    assert!(text.contains("but not the tags"), "{text}");
    for tag in &release_tags {
        assert!(
            text.contains(tag.as_str()),
            "names release tag {tag} as not pushed: {text}"
        );
        let found = ureq2::head(&registry.url(&format!("/v2/gardenlinux/manifests/{tag}")))
            .set("Accept", ACCEPT)
            .call();
        assert!(
            matches!(found, Err(ureq2::Error::Status(404, _))),
            "release tag {tag} was moved although a tag was refused"
        );
    }
}

#[test]
fn a_layout_that_is_not_whole_pushes_nothing() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let cloud_image = layout
        .entries()
        .into_iter()
        .find(|d| d["artifactType"] == "application/io.gardenlinux.image")
        .expect("a cloud image");
    let layer = layout.json(&cloud_image)["layers"][0]["digest"]
        .as_str()
        .expect("a layer")
        .to_owned();
    std::fs::remove_file(layout.root.join("blobs/sha256").join(&layer[7..])).expect("remove");
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(format!("{}/gardenlinux", registry.host()))
        .status(1)
        .run();
    let text = output.stderr();
    assert!(text.contains("glc::push::layout"), "{text}");
    assert!(text.contains(&layer[7..]), "names the blob: {text}");
    assert!(text.contains("nothing was pushed"), "{text}");
    let writes = registry.logged("PUT") + registry.logged("POST") + registry.logged("PATCH");
    assert_eq!(writes, 0, "the registry was written to");
}

#[test]
fn one_tag_goes_with_its_attachments_and_signature_and_nothing_else() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = signed_release(dir.dir());
    let cloud_image = layout
        .entries()
        .into_iter()
        .find(|d| d["artifactType"] == "application/io.gardenlinux.image")
        .expect("a cloud image");
    let tag = cloud_image["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("tag")
        .to_owned();
    let digest = cloud_image["digest"].as_str().expect("digest").to_owned();
    let summary = push_json(
        &layout.root,
        &format!("{}/gardenlinux", registry.host()),
        &["--tag", &tag],
    );
    let signature = format!("{}.sig", digest.replace(':', "-"));
    assert_eq!(summary["tags"], 2, "the tag and its signature: {summary}");
    let status = |reference: &str| match ureq2::head(
        &registry.url(&format!("/v2/gardenlinux/manifests/{reference}")),
    )
    .set("Accept", ACCEPT)
    .call()
    {
        Ok(response) => response.status(),
        Err(ureq2::Error::Status(status, _)) => status,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(&tag), 200);
    assert_eq!(status(&signature), 200, "its signature tag");
    for (other, _) in layout.tags() {
        if other != tag && other != signature {
            assert_eq!(status(&other), 404, "tag {other} was pushed too");
        }
    }
    let referrers = status(&digest.replace(':', "-"));
    assert_eq!(referrers, 200, "its referrers tag");
    let attachments: Vec<String> = layout
        .entries()
        .into_iter()
        .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"].is_null())
        .filter(|d| layout.json(d)["subject"]["digest"] == digest.as_str())
        .map(|d| d["digest"].as_str().expect("digest").to_owned())
        .collect();
    assert!(!attachments.is_empty());
    for attachment in attachments {
        assert_eq!(status(&attachment), 200, "attachment {attachment}");
    }
    Test::new()
        .args(["push", "--tag", "no-such-tag"])
        .arg(&layout.root)
        .arg(format!("{}/gardenlinux", registry.host()))
        .status(1)
        .stderr_contains("the layout has no tag `no-such-tag`")
        .run();
}

/// `n` bytes of a fixed pseudo-random stream (xorshift64*): nothing deduplicates.
pub fn stand_in(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(n + 8);
    while bytes.len() < n {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(n);
    bytes
}

/// Two cloud images, each a 48 MiB rootfs and a 48 MiB disk image: 192 MiB, chunked blobs.
pub fn big_release(dir: &Path) -> Layout {
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    std::fs::write(
        dir.join("release.kdl"),
        r#"release "1877.3" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{ version }}"
    cloud-images {
        matrix {
            platform "aws" "azure"
            arch "amd64"
        }
        image "{{ platform }}-{{ arch }}" {
            kernel "artifacts/{{ cname }}.vmlinuz"
            cmdline "artifacts/{{ cname }}.cmdline"
            rootfs "artifacts/{{ cname }}.tar"
            file "artifacts/{{ cname }}.raw"
            attach "test-log" "artifacts/{{ cname }}.test.log"
        }
    }
}
"#,
    )
    .expect("release.kdl");
    for (seed, cname) in [(1, "aws-amd64"), (2, "azure-amd64")] {
        let file = |ext: &str| artifacts.join(format!("{cname}.{ext}"));
        std::fs::write(file("tar"), stand_in(seed * 10 + 1, 48 << 20)).expect("tar");
        std::fs::write(file("raw"), stand_in(seed * 10 + 2, 48 << 20)).expect("raw");
        std::fs::write(file("vmlinuz"), stand_in(seed * 10 + 3, 1 << 20)).expect("kernel");
        std::fs::write(file("test.log"), stand_in(seed * 10 + 4, 4096)).expect("log");
        std::fs::write(file("cmdline"), "console=ttyS0 ro\n").expect("cmdline");
    }
    let out = dir.join("out");
    crate::build::builds(&dir.join("release.kdl"), &out);
    Layout::open(&out)
}

/// Every tag of the layout is in `repository` at its digest.
pub fn assert_tags_in(registry: &Registry, repository: &str, layout: &Layout, when: &str) {
    for (tag, digest) in layout.tags() {
        let response = ureq2::get(&registry.url(&format!("/v2/{repository}/manifests/{tag}")))
            .set("Accept", ACCEPT)
            .call()
            .unwrap_or_else(|e| panic!("{when}: GET {tag}: {e}"));
        assert_eq!(
            response.header("Docker-Content-Digest"),
            Some(digest.as_str()),
            "{when}: tag {tag}"
        );
    }
}

/// Every config and layer of every manifest in the layout.
pub fn layer_digests(layout: &Layout) -> Vec<String> {
    let mut digests = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(layout.root.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        if std::fs::metadata(&path).expect("stat").len() > 1 << 20 {
            continue;
        }
        let Ok(manifest) = serde_json::from_slice::<Value>(&std::fs::read(&path).expect("read"))
        else {
            continue;
        };
        if manifest["mediaType"] != "application/vnd.oci.image.manifest.v1+json" {
            continue;
        }
        let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
        for descriptor in layers.iter().chain([&manifest["config"]]) {
            digests.insert(descriptor["digest"].as_str().expect("digest").to_owned());
        }
    }
    digests.into_iter().collect()
}

/// `glc --message-format json ARGS…` spawned in `dir`, with no credentials from the
/// environment, its standard error into `stderr_to`: a run to kill.
pub fn spawn_json<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(
    dir: &Test,
    args: I,
    stderr_to: &Path,
) -> Child {
    dir.test()
        .args(["--message-format", "json"])
        .args(args)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
        .command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_to).expect("stderr file"))
        .spawn()
        .expect("glc")
}

/// `glc push` of `layout` to `destination`, spawned (see [`spawn_json`]).
fn spawn_push(dir: &Test, layout: &Path, destination: &str, stderr_to: &Path) -> Child {
    // Two jobs rather than four: the four big blobs end two by two, more moments to kill at.
    let args: [&std::ffi::OsStr; 5] = [
        "push".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
        layout.as_ref(),
        destination.as_ref(),
    ];
    spawn_json(dir, args, stderr_to)
}

/// The child's exit; killed, and the test failed, if it outlives `deadline`.
pub fn wait_until(child: &mut Child, deadline: Instant) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the kill -9 test ran out of its time bound");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills `child` with SIGKILL (no handler, no cleanup, as kill -9) after `delay`, and waits
/// for it within `deadline`.
pub fn kill_after(
    mut child: Child,
    delay: Duration,
    deadline: Instant,
) -> std::process::ExitStatus {
    std::thread::sleep(delay);
    let _ = child.kill();
    wait_until(&mut child, deadline)
}

#[test]
fn a_push_killed_in_a_chunked_upload_is_resumed_by_the_next_run_from_the_registrys_offset() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    // The sixth chunk is taken by the proxy and never forwarded: the registry holds five
    // chunks of the first big blob, and glc waits for an answer until it is killed.
    let proxy = Faulty::start(registry.port, Mode::Hold(6));
    let deadline = Instant::now() + Duration::from_mins(3);
    let dir = Test::new();
    let layout = big_release(dir.dir());
    let chunk: u64 = 4 << 20;
    let destination = format!("127.0.0.1:{}/gardenlinux", proxy.port);
    let log = dir.path("stderr");
    let args = |chunk: u64| {
        let args: Vec<std::ffi::OsString> = vec![
            "push".into(),
            "--jobs".into(),
            "1".into(),
            "--chunk-size".into(),
            chunk.to_string().into(),
            layout.root.clone().into(),
            destination.clone().into(),
        ];
        args
    };
    let mut killed = spawn_json(&dir, args(chunk), &log);
    while !proxy.held.load(Ordering::Relaxed) {
        assert!(
            killed.try_wait().expect("wait").is_none(),
            "glc push ended before its sixth chunk: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "the sixth chunk never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_after(killed, Duration::ZERO, deadline);

    let patches = proxy.patches.load(Ordering::Relaxed);
    let mut rerun = spawn_json(&dir, args(chunk), &log);
    assert_eq!(wait_until(&mut rerun, deadline).code(), Some(0));
    let text = std::fs::read_to_string(&log).expect("stderr");
    let summary = summary(&text);
    assert_eq!(summary["uploads_resumed"], 1, "{summary}");
    assert_eq!(
        summary["bytes_resumed"],
        5 * chunk,
        "the registry held five chunks, which are not sent again: {summary}"
    );
    // Both 48 MiB blobs of the first image go up in 12 chunks each, the two of the second
    // too: 48 chunks, 5 of them taken before the kill.
    let sent = proxy.patches.load(Ordering::Relaxed) - patches;
    assert_eq!(sent, 4 * 12 - 5, "PATCHes of the rerun: {summary}");
    for digest in layer_digests(&layout) {
        let response = ureq2::get(&registry.url(&format!("/v2/gardenlinux/blobs/{digest}")))
            .call()
            .unwrap_or_else(|e| panic!("GET blob {digest}: {e}"));
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).expect("body");
        assert_eq!(sha256(&body), digest, "the registry holds other bytes");
    }
    assert_tags_in(&registry, "gardenlinux", &layout, "after the resumed push");
}

#[test]
fn upload_sessions_the_registry_does_not_know_are_dropped_and_the_blobs_start_afresh() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = big_release(dir.dir());
    // A session file for every big blob, as a killed push leaves them, but naming uploads
    // the registry never started (or has purged).
    let uploads = dir.path(".state/glc/uploads");
    std::fs::create_dir_all(&uploads).expect("uploads");
    let origin = format!("http://{}", registry.host());
    let blobs = layer_digests(&layout);
    for digest in &blobs {
        let name = hex::encode(Sha256::digest(
            format!("{origin}/gardenlinux@{digest}").as_bytes(),
        ));
        std::fs::write(
            uploads.join(name),
            format!("{origin}/v2/gardenlinux/blobs/uploads/0b0e5e55-not-an-upload?_state=x\n"),
        )
        .expect("session");
    }
    let log = dir.path("stderr");
    let destination = format!("{}/gardenlinux", registry.host());
    let args: [&std::ffi::OsStr; 7] = [
        "push".as_ref(),
        "--chunk-size".as_ref(),
        "4194304".as_ref(),
        layout.root.as_ref(),
        destination.as_ref(),
        "--retries".as_ref(),
        "2".as_ref(),
    ];
    let mut push = spawn_json(&dir, args, &log);
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = wait_until(&mut push, deadline);
    let text = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(0), "{text}");
    let summary = summary(&text);
    assert_eq!(summary["uploads_resumed"], 0, "{summary}");
    assert_eq!(summary["blobs_uploaded"], blobs.len(), "{summary}");
    // The registry was asked about each chunked one, and every session file is gone.
    let chunked = blobs
        .iter()
        .filter(|d| {
            std::fs::metadata(layout.root.join("blobs/sha256").join(&d[7..]))
                .expect("blob")
                .len()
                > 4 << 20
        })
        .count();
    assert!(chunked >= 4, "{chunked} chunked blobs");
    assert!(registry.logged("GET") >= chunked);
    let left: Vec<_> = std::fs::read_dir(&uploads).expect("uploads").collect();
    assert!(left.is_empty(), "session files left: {left:?}");
    assert_tags_in(&registry, "gardenlinux", &layout, "after the push");
}

#[test]
fn a_push_killed_at_ten_moments_is_finished_by_a_rerun_that_uploads_only_what_is_missing() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let deadline = Instant::now() + Duration::from_mins(4);
    let dir = Test::new();
    let layout = big_release(dir.dir());
    let blobs = layer_digests(&layout);
    let log = dir.path("stderr");
    let summary = |log: &Path| summary(&std::fs::read_to_string(log).expect("stderr"));

    // One whole push first: how long a push takes here, to spread the kills over it.
    let started = Instant::now();
    let mut whole = spawn_push(
        &dir,
        &layout.root,
        &format!("{}/whole", registry.host()),
        &log,
    );
    assert_eq!(wait_until(&mut whole, deadline).code(), Some(0));
    let duration = started.elapsed();
    let first = summary(&log);
    assert_eq!(
        first["blobs_uploaded"],
        blobs.len(),
        "a push into an empty repository uploads every blob: {first}"
    );
    assert!(
        first["bytes_uploaded"].as_u64().unwrap() > 190 << 20,
        "{first}"
    );

    let mut cut_short = 0;
    for kill in 0..10u64 {
        // A fixed moment between 5 % and 95 % of a whole push; each kill into its own repository.
        let permille = 50 + (roll(1000 + kill) * 10 + roll(2000 + kill) / 10) * 9 / 10;
        let delay = duration.mul_f64(f64::from(u32::try_from(permille).unwrap()) / 1000.0);
        let repository = format!("killed-{kill}");
        let destination = format!("{}/{repository}", registry.host());
        let child = spawn_push(&dir, &layout.root, &destination, &log);
        let status = kill_after(child, delay, deadline);

        let missing: Vec<&String> = blobs
            .iter()
            .filter(|digest| {
                match ureq2::head(&registry.url(&format!("/v2/{repository}/blobs/{digest}"))).call()
                {
                    Ok(_) => false,
                    Err(ureq2::Error::Status(404, _)) => true,
                    Err(e) => panic!("HEAD blob {digest}: {e}"),
                }
            })
            .collect();
        let missing_bytes: u64 = missing
            .iter()
            .map(|digest| {
                std::fs::metadata(layout.root.join("blobs/sha256").join(&digest[7..]))
                    .expect("blob")
                    .len()
            })
            .sum();
        let missing = missing.len();
        if missing > 0 && missing < blobs.len() {
            cut_short += 1;
        }
        let posts = registry.logged("POST");
        let mut rerun = spawn_push(&dir, &layout.root, &destination, &log);
        let rerun_status = wait_until(&mut rerun, deadline);
        assert_eq!(
            rerun_status.code(),
            Some(0),
            "rerun after kill {kill}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let again = summary(&log);
        let uploaded = usize::try_from(again["blobs_uploaded"].as_u64().unwrap()).unwrap();
        let skipped = usize::try_from(again["blobs_skipped"].as_u64().unwrap()).unwrap();
        assert_eq!(uploaded + skipped, blobs.len(), "kill {kill}: {again}");
        assert!(
            uploaded <= missing,
            "kill {kill}: the rerun uploaded {uploaded} blobs, {missing} were missing: {again}"
        );
        assert!(
            again["bytes_uploaded"].as_u64().unwrap() <= missing_bytes,
            "kill {kill}: the rerun uploaded more than the {missing_bytes} bytes missing: {again}"
        );
        // Each blob uploaded took an upload session of its own, started by this run (seen
        // by the registry) or resumed from the killed one; more are retries under load (and
        // a killed push's last request may be logged late, so the registry's count is no
        // upper bound).
        let sessions = usize::try_from(again["upload_sessions"].as_u64().unwrap()).unwrap();
        let resumed = usize::try_from(again["uploads_resumed"].as_u64().unwrap()).unwrap();
        let seen = registry.logged("POST") - posts;
        assert!(
            uploaded <= seen + resumed && uploaded <= sessions + resumed,
            "kill {kill}: {uploaded} blobs uploaded, {seen} upload sessions seen by the registry, {sessions} started, {resumed} resumed: {again}"
        );
        assert_tags_in(&registry, &repository, &layout, &format!("kill {kill}"));
        eprintln!(
            "push: kill {kill} after {delay:?} ({status}): {missing} of {} blobs missing, the rerun uploaded {uploaded} ({} bytes) in {} requests",
            blobs.len(),
            again["bytes_uploaded"],
            again["requests"]
        );
    }
    assert!(
        cut_short >= 3,
        "only {cut_short} of 10 kills stopped a push half-way (a whole push took {duration:?})"
    );
}
