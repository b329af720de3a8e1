//! A registry that keeps referrers (the distribution-spec referrers API) and, as one did under
//! a push of several jobs, loses one of the updates: `glc push` reads the referrers back and
//! mends what is missing, so the registry lists every attachment, and says so in its summary.
//! The registry is Debian's docker-registry behind a proxy that plays the referrers API.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Test;
use crate::build::build_top_level;
use crate::push::{attachments_by_subject, content_length, push_json};
use crate::registry::Registry;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The referrers the proxy lists, by subject digest: each a descriptor as the API lists it.
type Listed = Arc<Mutex<BTreeMap<String, Vec<Value>>>>;

/// A proxy in front of docker-registry. With `api`, it answers `OCI-Subject` to every manifest
/// `PUT` with a subject, lists such manifests at `GET /v2/<repo>/referrers/<digest>`, and,
/// while `forget` is set, loses the next one it is given (clearing `forget`): an update lost.
/// Without, it leaves referrers to the fallback tags, and while `forget` is set it answers the
/// next `PUT` of a fallback tag as stored but never passes it on: another writer's put of
/// the same tag went over it. With `stubborn` (and `api`), every later put of the referrer it
/// lost is lost too: a registry that never lists it.
struct KeepsReferrers {
    port: u16,
    listed: Listed,
    forget: Arc<AtomicBool>,
    /// The digest of each referrer it lost.
    lost: Arc<Mutex<Vec<String>>>,
}

impl KeepsReferrers {
    fn start(upstream: u16, api: bool, stubborn: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy = Self {
            port: listener.local_addr().expect("addr").port(),
            listed: Listed::default(),
            forget: Arc::new(AtomicBool::new(true)),
            lost: Arc::default(),
        };
        let shared = (
            proxy.listed.clone(),
            proxy.forget.clone(),
            proxy.lost.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (listed, forget, lost) = shared.clone();
                std::thread::spawn(move || {
                    let modes = (api, stubborn);
                    serve(client, upstream, modes, &listed, &forget, &lost);
                });
            }
        });
        proxy
    }

    /// The digests the referrers API lists for `subject`, sorted.
    fn referrers(&self, subject: &str) -> Vec<String> {
        let mut digests: Vec<String> = self
            .listed
            .lock()
            .expect("not poisoned")
            .get(subject)
            .into_iter()
            .flatten()
            .map(|d| d["digest"].as_str().expect("digest").to_owned())
            .collect();
        digests.sort();
        digests
    }

    /// Drops the referrer `digest` of `subject` from the list: an entry lost after the push.
    fn drop_listed(&self, subject: &str, digest: &str) {
        if let Some(list) = self.listed.lock().expect("not poisoned").get_mut(subject) {
            list.retain(|d| d["digest"] != digest);
        }
    }
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    (api, stubborn): (bool, bool),
    listed: &Mutex<BTreeMap<String, Vec<Value>>>,
    forget: &AtomicBool,
    lost: &Mutex<Vec<String>>,
) {
    let _ = client.set_read_timeout(Some(Duration::from_mins(1)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut body = vec![0; usize::try_from(content_length(&text)).expect("a test body")];
    if client.read_exact(&mut body).is_err() {
        return;
    }
    let mut line = text.split(' ');
    let (method, path) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if !api
        && method == "PUT"
        && path.starts_with("/v2/gardenlinux/manifests/sha256-")
        && forget.swap(false, Ordering::SeqCst)
    {
        lost.lock().expect("not poisoned").push(digest.clone());
        let _ = write!(
            client,
            "HTTP/1.1 201 Created\r\nDocker-Content-Digest: {digest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if api
        && method == "GET"
        && let Some(subject) = path.strip_prefix("/v2/gardenlinux/referrers/")
    {
        let subject = subject.split('?').next().unwrap_or(subject);
        let manifests = listed
            .lock()
            .expect("not poisoned")
            .get(subject)
            .cloned()
            .unwrap_or_default();
        let index =
            serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
                .to_string();
        let _ = write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: {INDEX}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{index}",
            index.len()
        );
        return;
    }
    // Relayed, one request a connection.
    let mut forwarded = String::new();
    for header in text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
    {
        forwarded.push_str(header);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if server.write_all(forwarded.as_bytes()).is_err() || server.write_all(&body).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if server.read_to_end(&mut answer).is_err() {
        return;
    }
    let document: Option<Value> = serde_json::from_slice(&body).ok();
    let subject = document
        .as_ref()
        .and_then(|d| d["subject"]["digest"].as_str())
        .map(str::to_owned);
    let stored = answer.starts_with(b"HTTP/1.1 201");
    if let (true, true, "PUT", true, Some(subject), Some(document)) = (
        api,
        path.starts_with("/v2/gardenlinux/manifests/"),
        method,
        stored,
        subject,
        document,
    ) {
        let again = stubborn && lost.lock().expect("not poisoned").contains(&digest);
        if again || forget.swap(false, Ordering::SeqCst) {
            lost.lock().expect("not poisoned").push(digest);
        } else {
            let artifact_type = document["artifactType"]
                .as_str()
                .or(document["config"]["mediaType"].as_str())
                .unwrap_or_default();
            let mut descriptor = serde_json::json!({
                "mediaType": document["mediaType"],
                "digest": digest,
                "size": body.len(),
                "artifactType": artifact_type,
            });
            if document["annotations"].is_object() {
                descriptor["annotations"] = document["annotations"].clone();
            }
            let mut listed = listed.lock().expect("not poisoned");
            let referrers = listed.entry(subject.clone()).or_default();
            if !referrers
                .iter()
                .any(|d| d["digest"] == descriptor["digest"])
            {
                referrers.push(descriptor);
            }
        }
        // The answer of a registry that keeps referrers: `OCI-Subject` after the status line.
        let at = answer
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a status line")
            + 2;
        answer.splice(at..at, format!("OCI-Subject: {subject}\r\n").into_bytes());
    }
    let _ = client.write_all(&answer);
}

#[test]
fn a_referrer_the_registry_lost_is_put_again_until_every_attachment_is_listed() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let proxy = KeepsReferrers::start(registry.port, true, false);
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let destination = format!("127.0.0.1:{}/gardenlinux", proxy.port);
    let expected = attachments_by_subject(&layout);
    assert_eq!(expected.values().map(Vec::len).sum::<usize>(), 16);

    let summary = push_json(&layout.root, &destination, &["--jobs", "4"]);
    let lost = proxy.lost.lock().expect("not poisoned").clone();
    assert_eq!(lost.len(), 1, "the proxy lost one referrer");
    for (subject, mut attachments) in expected.clone() {
        attachments.sort();
        assert_eq!(
            proxy.referrers(&subject),
            attachments,
            "referrers of {subject}"
        );
    }
    assert_eq!(summary["referrers_mended"], 1, "{summary}");
    // The registry keeps referrers: no fallback tag is written.
    assert_eq!(summary["referrers_tags"], 0, "{summary}");

    // An entry lost after the push: the next push, which uploads nothing, mends it and says so.
    let (subject, attachments) = expected.iter().next().expect("a subject");
    proxy.drop_listed(subject, &attachments[0]);
    let output = Test::new()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .env("HOME", "/nonexistent")
        .run();
    let printed = output.stderr();
    assert!(
        printed.contains(", 0 of 43 manifests pushed, 0 referrers tags (1 referrer the registry did not list, mended) in "),
        "{printed}"
    );
    let mut attachments = attachments.clone();
    attachments.sort();
    assert_eq!(proxy.referrers(subject), attachments);
    // And a push with nothing lost mends nothing.
    let summary = push_json(&layout.root, &destination, &[]);
    assert_eq!(summary["referrers_mended"], 0, "{summary}");
}

/// The image index at the registry path `tag`.
fn fallback_index(registry: &Registry, tag: &str) -> Value {
    let mut body = Vec::new();
    ureq2::get(&registry.url(tag))
        .set("Accept", INDEX)
        .call()
        .expect("the fallback tag")
        .into_reader()
        .read_to_end(&mut body)
        .expect("its body");
    serde_json::from_slice(&body).expect("JSON")
}

#[test]
fn a_fallback_tag_another_writer_put_over_ours_is_merged_and_put_again() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let proxy = KeepsReferrers::start(registry.port, false, false);
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let summary = push_json(
        &layout.root,
        &format!("127.0.0.1:{}/gardenlinux", proxy.port),
        &[],
    );
    let lost = proxy.lost.lock().expect("not poisoned").clone();
    assert_eq!(lost.len(), 1, "the proxy lost one fallback tag");
    for (subject, mut attachments) in attachments_by_subject(&layout) {
        let tag = format!("/v2/gardenlinux/manifests/{}", subject.replace(':', "-"));
        let mut listed: Vec<String> = fallback_index(&registry, &tag)["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|d| d["digest"].as_str().expect("digest").to_owned())
            .collect();
        listed.sort();
        attachments.sort();
        assert_eq!(listed, attachments, "the fallback tag of {subject}");
    }
    // Eight subjects, each tag written once, and the lost one again: its two referrers mended.
    assert_eq!(summary["referrers_tags"], 9, "{summary}");
    assert_eq!(summary["referrers_mended"], 2, "{summary}");
}

#[test]
fn a_referrer_the_registry_never_lists_fails_the_push_before_any_tag_moves() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let proxy = KeepsReferrers::start(registry.port, true, true);
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let error = Test::new()
        .args(["--message-format", "json", "push"])
        .arg(&layout.root)
        .arg(format!("127.0.0.1:{}/gardenlinux", proxy.port))
        .env("HOME", "/nonexistent")
        .status(1)
        .run()
        .json_error();
    let lost = proxy.lost.lock().expect("not poisoned").clone();
    // Lost when first pushed, then at each of the three mends.
    assert_eq!(lost.len(), 4, "{lost:?}");
    let subject = attachments_by_subject(&layout)
        .into_iter()
        .find(|(_, attachments)| attachments.contains(&lost[0]))
        .map(|(subject, _)| subject)
        .expect("the lost referrer is an attachment");
    assert_eq!(error["code"], "glc::push::registry");
    assert_eq!(
        error["message"],
        format!(
            "127.0.0.1:{} does not list 1 referrer of the pushed subjects after 3 mends, e.g. {} of {subject}; every blob and manifest is pushed, but not every referrer is listed, nor any tag is moved",
            proxy.port, lost[0]
        )
    );
    assert_eq!(
        error["help"],
        "run the same `glc push` again, which reads the referrers back and mends them again; if they stay missing, the registry does not keep them"
    );
    for (tag, _) in layout.tags() {
        let status = ureq2::head(&registry.url(&format!("/v2/gardenlinux/manifests/{tag}")))
            .set("Accept", INDEX)
            .call()
            .map_or_else(
                |e| match e {
                    ureq2::Error::Status(status, _) => status,
                    ureq2::Error::Transport(e) => panic!("{e}"),
                },
                |r| r.status(),
            );
        assert_eq!(status, 404, "tag {tag} was moved");
    }
}
