//! A registry of the test's own on 127.0.0.1 that answers whatever the test says: for the
//! attacks a real registry never makes (credentials collected off-origin, answers that loop,
//! lie about their media type or list one digest twenty thousand times). Every request it
//! gets is recorded, headers and all, for the test to count and inspect.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path with its query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many bytes of the body, then close the connection.
    pub cut: Option<usize>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut: None,
        }
    }

    /// Sends `n` bytes of the body, then closes the connection.
    pub fn cut(mut self, n: usize) -> Self {
        self.cut = Some(n);
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON document with its `Content-Type`.
    pub fn json(status: u16, content_type: &str, body: &[u8]) -> Self {
        Self::new(status)
            .header("Content-Type", content_type)
            .body(body)
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// The server; stopped on drop.
pub struct Hostile {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (seen, handler) = (Arc::clone(&seen), Arc::clone(&handler));
                            std::thread::spawn(move || serve(stream, &seen, &*handler));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Self { port, seen, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// Requests so far that `which` picks.
    pub fn count(&self, which: impl Fn(&Seen) -> bool) -> usize {
        self.seen().iter().filter(|s| which(s)).count()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Requests of one connection, one after another, until it closes.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, handler: &Handler) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_mins(1)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        seen.lock().expect("seen").push(request.clone());
        let reply = handler(&request);
        let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        let body = match reply.cut {
            Some(n) => &reply.body[..n.min(reply.body.len())],
            None => &reply.body[..],
        };
        let sent = writer.write_all(head.as_bytes()).and_then(|()| {
            if request.method == "HEAD" {
                Ok(())
            } else {
                writer.write_all(body)
            }
        });
        if sent.is_err() || reply.cut.is_some() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("Transfer-Encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("Content-Length").and_then(|l| l.parse::<usize>().ok()) {
        body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const EMPTY: &[u8] = b"{}";

/// A small repository `gl` to pull: tag `1877.3` names an image manifest whose config is the
/// empty blob and whose one layer is `layer`. What the test's `extra` answers wins; anything
/// else gets 404.
pub struct Repo {
    pub manifest: Vec<u8>,
    pub layer: Vec<u8>,
}

impl Repo {
    pub fn new() -> Self {
        let layer = b"a layer of the test".to_vec();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": "application/vnd.glc.test",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(EMPTY), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": digest_of(&layer), "size": layer.len()}],
        }))
        .expect("json");
        Self { manifest, layer }
    }

    /// The default answers of a registry holding the repository: `/v2/`, the tag and the
    /// manifest by digest, its blobs, an empty tag list, no referrers API.
    pub fn answer(&self, seen: &Seen) -> Reply {
        let path = seen.path();
        let manifest_digest = digest_of(&self.manifest);
        let blob = |bytes: &[u8]| {
            Reply::new(200)
                .header("Content-Type", "application/octet-stream")
                .header("Docker-Content-Digest", digest_of(bytes))
                .body(bytes)
        };
        if path == "/v2/" {
            Reply::new(200)
        } else if path == "/v2/gl/manifests/1877.3"
            || path == format!("/v2/gl/manifests/{manifest_digest}")
        {
            Reply::json(200, MANIFEST, &self.manifest)
                .header("Docker-Content-Digest", manifest_digest)
        } else if path == format!("/v2/gl/blobs/{}", digest_of(EMPTY)) {
            blob(EMPTY)
        } else if path == format!("/v2/gl/blobs/{}", digest_of(&self.layer)) {
            blob(&self.layer)
        } else if path == "/v2/gl/tags/list" {
            Reply::json(
                200,
                "application/json",
                br#"{"name":"gl","tags":["1877.3"]}"#,
            )
        } else {
            Reply::new(404)
        }
    }
}
