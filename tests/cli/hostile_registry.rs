//! A registry that attacks: it tries to collect credentials off their origin, to make glc
//! write into other repositories, to keep it asking or holding memory, and to have wrong
//! bytes accepted. Each test fails on a glc that falls for it.

use std::path::Path;

use serde_json::Value;

use crate::Test;
use crate::build::build_top_level;
use crate::hostile_server::{Hostile, INDEX, MANIFEST, Reply, Repo, Seen, digest_of};
use crate::registry::Registry;
use crate::test::rewrite_index;

const USER: &str = "glc-user";
const PASSWORD: &str = "pa55-for-the-registry";

/// `glc pull HOST/gl:1877.3 -o out` with one try a request and no credentials from the
/// machine.
fn pull(dir: &Test, host: &str) -> Test {
    dir.test()
        .args(["pull", &format!("{host}/gl:1877.3"), "-o"])
        .arg(dir.path("out"))
        .args(["--retries", "1"])
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent")
}

/// The same with the environment's credentials, bound to `bound`.
fn pull_as_user(dir: &Test, host: &str, bound: &str) -> Test {
    pull(dir, host)
        .env("GLC_REGISTRY_USERNAME", USER)
        .env("GLC_REGISTRY_PASSWORD", PASSWORD)
        .env("GLC_REGISTRY_HOST", bound)
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{USER}:{PASSWORD}")
        )
    )
}

/// Answers `repo`, behind basic auth: 401 to a request without the right credentials.
fn with_basic_auth(repo: &Repo, seen: &Seen) -> Reply {
    if seen.header("Authorization") == Some(basic().as_str()) {
        repo.answer(seen)
    } else {
        Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#)
    }
}

fn authorized(seen: &[Seen]) -> usize {
    seen.iter()
        .filter(|s| s.header("Authorization").is_some())
        .count()
}

#[test]
fn a_tag_lists_next_page_on_another_host_gets_no_credentials() {
    let elsewhere =
        Hostile::start(|_| Reply::json(200, "application/json", br#"{"name":"gl","tags":["x"]}"#));
    let next = elsewhere.url("/v2/gl/tags/list?n=1000&last=1877.3");
    let repo = Repo::new();
    let registry = Hostile::start(move |seen| {
        let reply = with_basic_auth(&repo, seen);
        if reply.status == 200 && seen.path() == "/v2/gl/tags/list" {
            return reply.header("Link", format!(r#"<{next}>; rel="next""#));
        }
        reply
    });
    let dir = Test::new();
    let output = pull_as_user(&dir, &registry.host(), &registry.host())
        .status(1)
        .stderr_contains("continues its tag list on another origin")
        .run();
    assert!(!output.stderr().contains(PASSWORD));
    assert_eq!(
        authorized(&elsewhere.seen()),
        0,
        "credentials went elsewhere"
    );
    assert_eq!(elsewhere.seen().len(), 0, "glc followed the link");
    assert!(authorized(&registry.seen()) > 0, "the registry got none");
}

/// A layout of one image manifest (empty config, one layer) tagged `1877.3`, in `dir`.
fn small_layout(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let repo = Repo::new();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    for bytes in [
        &repo.manifest[..],
        crate::hostile_server::EMPTY,
        &repo.layer[..],
    ] {
        let digest = digest_of(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).expect("blob");
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": digest_of(&repo.manifest),
            "size": repo.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "1877.3"},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index");
    (repo.manifest, repo.layer)
}

#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    let storage = Hostile::start(|seen| {
        let digest = seen
            .target
            .split("digest=")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Reply::new(201).header("Docker-Content-Digest", digest)
    });
    let upload = storage.url("/upload/1?state=x");
    let registry = Hostile::start(move |seen| {
        if seen.header("Authorization") != Some(basic().as_str()) {
            return Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#);
        }
        match (seen.method.as_str(), seen.path()) {
            ("GET", "/v2/") => Reply::new(200),
            ("POST", "/v2/gl/blobs/uploads/") => Reply::new(202).header("Location", &upload),
            ("PUT", path) if path.starts_with("/v2/gl/manifests/") => {
                Reply::new(201).header("Docker-Content-Digest", digest_of(&seen.body))
            }
            _ => Reply::new(404),
        }
    });
    let dir = Test::new();
    small_layout(&dir.path("layout"));
    dir.test()
        .arg("push")
        .arg(dir.path("layout"))
        .arg(format!("{}/gl", registry.host()))
        .args(["--retries", "1"])
        .env("HOME", "/nonexistent")
        .env("GLC_REGISTRY_USERNAME", USER)
        .env("GLC_REGISTRY_PASSWORD", PASSWORD)
        .env("GLC_REGISTRY_HOST", registry.host())
        .run();
    let uploads = storage.seen();
    assert_eq!(uploads.len(), 2, "two blobs uploaded there: {uploads:?}");
    assert_eq!(
        authorized(&uploads),
        0,
        "credentials went to the upload host"
    );
}

#[test]
fn a_token_that_is_no_header_value_is_refused_and_never_shown() {
    let repo = Repo::new();
    let realm = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let token_realm = std::sync::Arc::clone(&realm);
    let registry = Hostile::start(move |seen| match seen.path() {
        "/token" => Reply::json(
            200,
            "application/json",
            br#"{"token":"abc\u0001s3cret-token-value"}"#,
        ),
        _ if seen.header("Authorization").is_none() => Reply::new(401).header(
            "WWW-Authenticate",
            format!(
                r#"Bearer realm="{}",service="hostile""#,
                token_realm.get().map_or("", String::as_str)
            ),
        ),
        _ => repo.answer(seen),
    });
    realm.set(registry.url("/token")).expect("realm");
    for format in ["human", "json"] {
        let dir = Test::new();
        let output = pull(&dir, &registry.host())
            .args(["--message-format", format])
            .status(1)
            .run();
        if format == "json" {
            assert!(
                output.json_error()["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("a token that is not a valid header value")),
                "{}",
                output.stderr()
            );
        }
        assert!(
            !output.stderr().contains("s3cret-token-value"),
            "{}",
            output.stderr()
        );
    }
}

#[test]
fn environment_credentials_go_only_to_the_host_they_are_bound_to() {
    let registry =
        Hostile::start(|_| Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#));
    let dir = Test::new();
    // Bound to another registry: this one, whatever it asks, gets none.
    pull_as_user(&dir, &registry.host(), "ghcr.io")
        .status(1)
        .stderr_contains("glc::pull::auth")
        .stderr_contains("no credentials were found")
        .run();
    assert!(!registry.seen().is_empty());
    assert_eq!(
        authorized(&registry.seen()),
        0,
        "the password went to another host"
    );

    // Bound to none: refused before any request.
    let asked = registry.seen().len();
    pull(&dir, &registry.host())
        .env("GLC_REGISTRY_USERNAME", USER)
        .env("GLC_REGISTRY_PASSWORD", PASSWORD)
        .status(1)
        .stderr_contains(format!("set GLC_REGISTRY_HOST={}", registry.host()))
        .run();
    assert_eq!(registry.seen().len(), asked, "a request was sent");

    // A user name without its password says what is missing.
    pull(&dir, &registry.host())
        .env("GLC_REGISTRY_USERNAME", USER)
        .env("GLC_REGISTRY_HOST", registry.host())
        .status(1)
        .stderr_contains("GLC_REGISTRY_USERNAME is set, but GLC_REGISTRY_PASSWORD is not")
        .run();
    assert_eq!(registry.seen().len(), asked, "a request was sent");
}

#[test]
fn a_tag_that_walks_out_of_its_repository_is_refused_by_verify_and_push() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let layout = build_top_level(&dir.path("out"));
    let evil = format!(
        "sha256-{}.sig/../../../victim/manifests/latest",
        "0".repeat(64)
    );
    rewrite_index(&layout.root, |index| {
        let mut entry = index["manifests"][0].clone();
        entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": evil});
        index["manifests"]
            .as_array_mut()
            .expect("manifests")
            .push(entry);
    });
    dir.test()
        .arg("verify")
        .arg(&layout.root)
        .status(1)
        .stderr_contains("is not a reference name of the image spec")
        .run();
    dir.test()
        .arg("push")
        .arg(&layout.root)
        .arg(format!("{}/gardenlinux", registry.host()))
        .status(1)
        .stderr_contains("glc::push::layout")
        .run();
    assert_eq!(registry.logged("PUT"), 0, "something was pushed");
    let victim = ureq2::get(&registry.url("/v2/victim/manifests/latest")).call();
    assert!(
        matches!(victim, Err(ureq2::Error::Status(404, _))),
        "the victim's tag exists"
    );
    // A name the layout may hold but a registry cannot: refused too.
    rewrite_index(&layout.root, |index| {
        let last = index["manifests"].as_array().expect("manifests").len() - 1;
        index["manifests"][last]["annotations"]["org.opencontainers.image.ref.name"] =
            Value::from("victim/latest");
    });
    dir.test()
        .arg("push")
        .arg(&layout.root)
        .arg(format!("{}/gardenlinux", registry.host()))
        .status(1)
        .stderr_contains("\"victim/latest\" is not a tag")
        .run();
    assert_eq!(registry.logged("PUT"), 0, "something was pushed");
}

#[test]
fn a_tag_list_that_links_to_itself_is_read_once() {
    let repo = Repo::new();
    let registry = Hostile::start(move |seen| {
        let reply = repo.answer(seen);
        if seen.path() == "/v2/gl/tags/list" {
            return reply.header("Link", r#"</v2/gl/tags/list?n=1000>; rel="next""#);
        }
        reply
    });
    let dir = Test::new();
    pull(&dir, &registry.host()).bounded().run();
    let asked = registry.count(|s| s.path() == "/v2/gl/tags/list");
    assert!(asked <= 2, "the tag list was asked {asked} times");
    assert!(dir.path("out/index.json").exists());
}

#[test]
fn a_referrer_listed_twenty_thousand_times_is_asked_for_once() {
    let repo = Repo::new();
    let absent = digest_of(b"not there");
    let entry = format!(r#"{{"mediaType":"{MANIFEST}","digest":"{absent}","size":10}}"#);
    let listing = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        vec![entry; 20_000].join(",")
    );
    let registry = Hostile::start(move |seen| {
        if seen.path().starts_with("/v2/gl/referrers/") {
            return Reply::json(200, INDEX, listing.as_bytes());
        }
        repo.answer(seen)
    });
    let dir = Test::new();
    pull(&dir, &registry.host()).bounded().run();
    let asked = registry.count(|s| s.path() == format!("/v2/gl/manifests/{absent}"));
    assert_eq!(asked, 1, "the absent referrer was asked for {asked} times");
}

/// The peak resident memory of `glc ARGS` in KiB, measured by a parent of its own.
fn peak_kib(run: &Test) -> (i32, u64) {
    let command = run.command();
    let mut wrapper = std::process::Command::new("python3");
    wrapper
        .args([
            "-c",
            "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:]).returncode\nprint(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        ])
        .arg(command.get_program())
        .args(command.get_args())
        .current_dir(command.get_current_dir().expect("dir"));
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapper.env(key, value),
            None => wrapper.env_remove(key),
        };
    }
    let output = wrapper.output().expect("python3");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut words = text.split_whitespace();
    let code = words.next().and_then(|w| w.parse().ok()).expect("code");
    let kib = words.next().and_then(|w| w.parse().ok()).expect("rss");
    (code, kib)
}

#[test]
fn referrers_of_other_manifests_are_not_kept_in_memory() {
    let repo = Repo::new();
    let other = digest_of(b"another subject");
    // 60 referrers of 4 MB each, whose subject is another manifest.
    let documents: Vec<Vec<u8>> = (0..60)
        .map(|i| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(b"{}"), "size": 2},
                "layers": [],
                "subject": {"mediaType": MANIFEST, "digest": other, "size": 1},
                "annotations": {"padding": format!("{i}{}", "x".repeat(4_000_000))},
            }))
            .expect("json")
        })
        .collect();
    let listing = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": documents.iter().map(|d| serde_json::json!({
            "mediaType": MANIFEST, "digest": digest_of(d), "size": d.len(),
        })).collect::<Vec<_>>(),
    }))
    .expect("json");
    let registry = Hostile::start(move |seen| {
        if seen.path().starts_with("/v2/gl/referrers/") {
            return Reply::json(200, INDEX, &listing);
        }
        if let Some(document) = documents
            .iter()
            .find(|d| seen.path() == format!("/v2/gl/manifests/{}", digest_of(d)))
        {
            return Reply::json(200, MANIFEST, document);
        }
        repo.answer(seen)
    });
    let dir = Test::new();
    let (code, kib) = peak_kib(&pull(&dir, &registry.host()));
    assert_eq!(code, 0);
    println!("hostile: a pull offered 60 referrers of 4 MB of another subject peaked at {kib} KiB");
    assert!(kib < 100 * 1024, "peak memory {kib} KiB");
}

#[test]
fn a_manifest_sent_as_an_index_is_refused_and_nothing_is_written() {
    for strip_media_type in [false, true] {
        let mut repo = Repo::new();
        if strip_media_type {
            let mut value: Value = serde_json::from_slice(&repo.manifest).expect("json");
            value.as_object_mut().expect("object").remove("mediaType");
            repo.manifest = serde_json::to_vec(&value).expect("json");
        }
        let registry = Hostile::start(move |seen| {
            let mut reply = repo.answer(seen);
            for header in &mut reply.headers {
                if header.1 == MANIFEST {
                    header.1 = INDEX.to_owned();
                }
            }
            reply
        });
        let dir = Test::new();
        let refused = pull(&dir, &registry.host())
            .args(["--message-format", "json"])
            .status(1)
            .run()
            .json_error();
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("sent manifest 1877.3 with the Content-Type")
                && message.contains("is listed as application/vnd.oci.image.index.v1+json, but"),
            "{refused}"
        );
        assert!(!dir.path("out").exists(), "a layout was written");
    }
}

#[test]
fn a_mirror_blob_damaged_in_place_is_downloaded_again_not_called_up_to_date() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    small_layout(&dir.path("layout"));
    dir.test()
        .arg("push")
        .arg(dir.path("layout"))
        .arg(format!("{}/gl", registry.host()))
        .run();
    pull(&dir, &registry.host()).run();
    let layer = Repo::new().layer;
    let blob = dir
        .path("out/blobs/sha256")
        .join(&digest_of(&layer)["sha256:".len()..]);
    // A second link (a backup made with `cp -al`) does not keep it from being hashed.
    std::fs::hard_link(&blob, dir.path("backup")).expect("link");
    let mut damaged = layer.clone();
    damaged[0] ^= 0xff;
    std::fs::write(&blob, &damaged).expect("damage");
    let output = pull(&dir, &registry.host())
        .args(["--message-format", "json"])
        .run();
    let summary = crate::push::summary(&output.stderr());
    assert_eq!(summary["up_to_date"], false, "{summary}");
    assert_eq!(summary["blobs_damaged"], 1, "{summary}");
    assert_eq!(std::fs::read(&blob).expect("blob"), layer);
    dir.test().arg("verify").arg(dir.path("out")).run();
}

#[test]
fn an_identity_token_from_docker_login_is_exchanged_at_the_token_server() {
    let repo = Repo::new();
    let realm = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let token_realm = std::sync::Arc::clone(&realm);
    let registry = Hostile::start(move |seen| {
        if seen.path() == "/token" {
            let form = String::from_utf8_lossy(&seen.body).into_owned();
            return if seen.method == "POST"
                && form.contains("grant_type=refresh_token")
                && form.contains("refresh_token=r3fresh-me")
            {
                Reply::json(200, "application/json", br#"{"access_token":"granted"}"#)
            } else {
                Reply::new(401)
            };
        }
        if seen.header("Authorization") == Some("Bearer granted") {
            return repo.answer(seen);
        }
        Reply::new(401).header(
            "WWW-Authenticate",
            format!(
                r#"Bearer realm="{}",service="hostile",scope="repository:gl:pull""#,
                token_realm.get().map_or("", String::as_str)
            ),
        )
    });
    realm.set(registry.url("/token")).expect("realm");
    let dir = Test::new();
    let config = serde_json::json!({"auths": {registry.host(): {"identitytoken": "r3fresh-me"}}});
    std::fs::create_dir(dir.path("docker")).expect("mkdir");
    std::fs::write(
        dir.path("docker/config.json"),
        serde_json::to_vec(&config).expect("json"),
    )
    .expect("config");
    pull(&dir, &registry.host())
        .env("DOCKER_CONFIG", dir.path("docker"))
        .run();
    assert!(dir.path("out/index.json").exists());
    assert_eq!(
        registry.count(|s| s.path() == "/token" && s.method == "POST"),
        1,
        "{:?}",
        registry.seen()
    );
}

#[test]
fn tags_that_only_look_like_signatures_are_not_fetched() {
    let repo = Repo::new();
    let hex = &digest_of(&repo.manifest)["sha256:".len()..];
    let tags: Vec<String> = (0..500).map(|i| format!("sha256-{hex}.a{i}")).collect();
    let list = serde_json::to_vec(&serde_json::json!({"name": "gl", "tags": tags})).expect("json");
    let registry = Hostile::start(move |seen| {
        if seen.path() == "/v2/gl/tags/list" {
            return Reply::json(200, "application/json", &list);
        }
        repo.answer(seen)
    });
    let dir = Test::new();
    pull(&dir, &registry.host()).bounded().run();
    let asked = registry.count(|s| s.path().contains(".a"));
    assert_eq!(asked, 0, "tags that are no cosign tags were fetched");
}

#[test]
fn a_tag_list_of_endless_pages_is_read_to_a_bound() {
    let repo = Repo::new();
    let registry = Hostile::start(move |seen| {
        if seen.path() == "/v2/gl/tags/list" {
            // Every page one new tag, and a link to the next.
            let page = seen.target.split("last=").nth(1).unwrap_or("0");
            let next: u64 = page.parse::<u64>().unwrap_or(0) + 1;
            return Reply::json(
                200,
                "application/json",
                format!(r#"{{"name":"gl","tags":["t{next}"]}}"#).as_bytes(),
            )
            .header(
                "Link",
                format!(r#"</v2/gl/tags/list?n=1000&last={next}>; rel="next""#),
            );
        }
        repo.answer(seen)
    });
    let dir = Test::new();
    pull(&dir, &registry.host())
        .arg("--only-named-tags")
        .bounded()
        .run();
    let pages = registry.count(|s| s.path() == "/v2/gl/tags/list");
    assert!(pages <= 1000, "{pages} pages of the tag list were read");
}

#[test]
fn a_registry_that_sends_a_byte_a_connection_runs_out_of_tries() {
    let repo = Repo::new();
    let layer = repo.layer.clone();
    let path = format!("/v2/gl/blobs/{}", digest_of(&layer));
    let blob_path = path.clone();
    let registry = Hostile::start(move |seen| {
        if seen.path() != blob_path {
            return repo.answer(seen);
        }
        // The range asked for, honestly labelled: one byte of it, then the connection closes.
        let from: usize = seen
            .header("Range")
            .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
            .unwrap_or(0);
        Reply::new(206)
            .header(
                "Content-Range",
                format!("bytes {from}-{}/{}", layer.len() - 1, layer.len()),
            )
            .body(&layer[from..])
            .cut(1)
    });
    let dir = Test::new();
    pull(&dir, &registry.host()).bounded().status(1).run();
    let opens = registry.count(|s| s.path() == path);
    assert!(opens <= 3, "the blob was opened {opens} times");
}

/// A registry behind basic auth that sends every blob's `HEAD` and `GET` on to `storage`
/// (another origin), and takes uploads and manifests on its own.
fn redirecting_blobs(storage: String) -> Hostile {
    let repo = Repo::new();
    Hostile::start(move |seen| {
        if seen.header("Authorization") != Some(basic().as_str()) {
            return Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#);
        }
        let path = seen.path();
        match seen.method.as_str() {
            "HEAD" | "GET" if path.starts_with("/v2/gl/blobs/sha256:") => {
                Reply::new(307).header("Location", format!("{storage}{path}"))
            }
            "POST" if path == "/v2/gl/blobs/uploads/" => {
                Reply::new(202).header("Location", "/v2/gl/blobs/uploads/1")
            }
            "PUT" if path == "/v2/gl/blobs/uploads/1" => {
                let digest = seen.target.split("digest=").nth(1).unwrap_or_default();
                Reply::new(201).header("Docker-Content-Digest", digest)
            }
            "PUT" if path.starts_with("/v2/gl/manifests/") => {
                Reply::new(201).header("Docker-Content-Digest", digest_of(&seen.body))
            }
            _ => repo.answer(seen),
        }
    })
}

#[test]
fn a_blob_head_sent_elsewhere_is_present_only_where_that_answers_200_and_gets_no_credentials() {
    let repo = Repo::new();
    let empty = format!("/blobs/{}", digest_of(crate::hostile_server::EMPTY));
    // The storage has the empty blob; it refuses the `HEAD` of the layer (a URL signed for
    // `GET` only), which leaves the layer unknown: it is uploaded.
    let storage = Hostile::start(move |seen| {
        if seen.path().ends_with(&empty) {
            // Its length said as a HEAD's answer says it (the body is not sent).
            Reply::new(200).body(crate::hostile_server::EMPTY)
        } else {
            Reply::new(403)
        }
    });
    let registry = redirecting_blobs(storage.url("/storage"));
    let dir = Test::new();
    small_layout(&dir.path("layout"));
    dir.test()
        .arg("push")
        .arg(dir.path("layout"))
        .arg(format!("{}/gl", registry.host()))
        .args(["--retries", "1"])
        .env("HOME", "/nonexistent")
        .env("GLC_REGISTRY_USERNAME", USER)
        .env("GLC_REGISTRY_PASSWORD", PASSWORD)
        .env("GLC_REGISTRY_HOST", registry.host())
        .run();
    let uploaded: Vec<String> = registry
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path() == "/v2/gl/blobs/uploads/1")
        .map(|s| {
            s.target
                .split("digest=")
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        uploaded,
        [digest_of(&repo.layer)],
        "the layer alone is uploaded"
    );
    let heads = storage.seen();
    assert_eq!(heads.len(), 2, "each blob's HEAD followed once: {heads:?}");
    assert!(heads.iter().all(|s| s.method == "HEAD"), "{heads:?}");
    assert_eq!(authorized(&heads), 0, "credentials went to the storage");
}

#[test]
fn a_blob_download_sent_elsewhere_gets_no_credentials() {
    let repo = Repo::new();
    let storage = Hostile::start(move |seen| {
        let path = seen.path().trim_start_matches("/storage");
        repo.answer(&Seen {
            target: path.to_owned(),
            ..seen.clone()
        })
    });
    let registry = redirecting_blobs(storage.url("/storage"));
    let dir = Test::new();
    pull_as_user(&dir, &registry.host(), &registry.host()).run();
    dir.test().arg("verify").arg(dir.path("out")).run();
    let downloads = storage.seen();
    assert_eq!(
        downloads.len(),
        2,
        "both blobs from the storage: {downloads:?}"
    );
    assert_eq!(authorized(&downloads), 0, "credentials went to the storage");
    assert!(authorized(&registry.seen()) > 0, "the registry got none");
}
