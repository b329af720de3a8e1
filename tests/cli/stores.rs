//! A registry repository as the store `glc pull` reads, through the library: made
//! `remembering`, it asks the referrers API until the registry says it has none, reads its tag
//! list once, and then reads the referrers of a subject from the fallback tag only where the
//! list names one; a tag's digest is one `HEAD`, and a blob is read from an offset with
//! `Range`. The registry is the test's own (`hostile_server`), which counts every request.

use glc::oci::Digest;
use glc::oci::store::Store;
use glc::registry::source::Repository;
use glc::registry::{Client, Options};

use crate::hostile_server::{Hostile, INDEX, MANIFEST, Reply, Repo, digest_of};

/// A repository of `registry` with one try a request.
fn repository(registry: &Hostile) -> Repository {
    let options = Options {
        tries: 1,
        read_only: true,
        ..Options::default()
    };
    Repository::new(Client::new(&registry.host(), "gl", options).expect("client"))
}

/// A registry without the referrers API whose tag list names the fallback tag of `with`
/// only, which lists one referrer of it; returns the registry and the referrer's digest.
fn fallback_registry(with: &str) -> (Hostile, String) {
    let repo = Repo::new();
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": "application/vnd.glc.note",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(b"{}"), "size": 2},
        "layers": [],
        "subject": {"mediaType": MANIFEST, "digest": with, "size": 1},
    }))
    .expect("json");
    let referrer_digest = digest_of(&referrer);
    let fallback = format!("sha256-{}", &with["sha256:".len()..]);
    let listing = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{"mediaType": MANIFEST, "digest": referrer_digest, "size": referrer.len(), "artifactType": "application/vnd.glc.note"}],
    }))
    .expect("json");
    let tags = serde_json::to_vec(&serde_json::json!({"name": "gl", "tags": ["1877.3", fallback]}))
        .expect("json");
    let digest = referrer_digest.clone();
    let registry = Hostile::start(move |seen| {
        let path = seen.path();
        if path == "/v2/gl/tags/list" {
            Reply::json(200, "application/json", &tags)
        } else if path == format!("/v2/gl/manifests/{fallback}") {
            Reply::json(200, INDEX, &listing).header("Docker-Content-Digest", digest_of(&listing))
        } else if path == format!("/v2/gl/manifests/{digest}") {
            Reply::json(200, MANIFEST, &referrer).header("Docker-Content-Digest", digest.clone())
        } else {
            // No referrers API: distribution answers 404 for the route it does not know.
            repo.answer(seen)
        }
    });
    (registry, referrer_digest)
}

#[test]
fn a_remembering_repository_asks_the_referrers_api_once_and_reads_only_listed_fallback_tags() {
    let subject = digest_of(b"a subject with a fallback tag");
    let others: Vec<String> = (0..3)
        .map(|i| digest_of(format!("a subject without one {i}").as_bytes()))
        .collect();
    let referrers_asked =
        |registry: &Hostile| registry.count(|s| s.path().starts_with("/v2/gl/referrers/"));
    let fallback_asked = |registry: &Hostile, of: &str| {
        let path = format!("/v2/gl/manifests/sha256-{}", &of["sha256:".len()..]);
        registry.count(|s| s.path() == path)
    };

    let (registry, referrer) = fallback_registry(&subject);
    let store = repository(&registry).remembering();
    for _ in 0..2 {
        assert_eq!(
            store.tag_names().expect("tags"),
            [
                "1877.3".to_owned(),
                format!("sha256-{}", &subject["sha256:".len()..])
            ]
        );
    }
    let found = store
        .referrers(&Digest::parse(&subject).expect("digest"), None)
        .expect("referrers");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest.to_string(), referrer);
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/vnd.glc.note")
    );
    for other in &others {
        let found = store
            .referrers(&Digest::parse(other).expect("digest"), None)
            .expect("referrers");
        assert!(found.is_empty());
    }
    assert_eq!(
        referrers_asked(&registry),
        1,
        "the referrers API was asked again"
    );
    assert_eq!(registry.count(|s| s.path() == "/v2/gl/tags/list"), 1);
    assert_eq!(fallback_asked(&registry, &subject), 1);
    for other in &others {
        assert_eq!(
            fallback_asked(&registry, other),
            0,
            "an unlisted fallback tag was read"
        );
    }
    // Asked as the index a fallback tag is.
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.path().contains("/manifests/sha256-") && s.header("Accept") == Some(INDEX))
    );

    // A repository that does not remember asks the API and the fallback tag for each subject.
    let (registry, _) = fallback_registry(&subject);
    let store = repository(&registry);
    for other in &others {
        store
            .referrers(&Digest::parse(other).expect("digest"), None)
            .expect("referrers");
        assert_eq!(fallback_asked(&registry, other), 1);
    }
    assert_eq!(referrers_asked(&registry), others.len());
}

#[test]
fn a_tags_digest_is_one_head_and_a_blob_is_read_from_an_offset() {
    let repo = Repo::new();
    let manifest = digest_of(&repo.manifest);
    let layer = repo.layer.clone();
    let registry = Hostile::start(move |seen| {
        if seen.method == "HEAD" && seen.path() == "/v2/gl/manifests/1877.3" {
            return Reply::new(200)
                .header("Content-Type", MANIFEST)
                .header("Docker-Content-Digest", manifest.clone());
        }
        repo.answer(seen)
    });
    let store = repository(&registry);
    assert_eq!(
        store
            .resolve_digest("1877.3")
            .expect("head")
            .map(|d| d.to_string()),
        Some(digest_of(&Repo::new().manifest))
    );
    assert_eq!(store.resolve_digest("1877.4").expect("head"), None);
    assert_eq!(
        registry.count(|s| s.path().starts_with("/v2/gl/manifests/")),
        2
    );
    assert!(
        registry
            .seen()
            .iter()
            .filter(|s| s.path().starts_with("/v2/gl/manifests/"))
            .all(|s| s.method == "HEAD"),
        "a manifest was read to resolve a tag"
    );

    let blob = glc::oci::Descriptor {
        media_type: "application/octet-stream".to_owned(),
        digest: Digest::parse(&digest_of(&layer)).expect("digest"),
        size: layer.len() as u64,
        annotations: std::collections::BTreeMap::new(),
        platform: None,
        artifact_type: None,
    };
    let mut rest = Vec::new();
    std::io::Read::read_to_end(
        &mut store.open_at(&blob, 5).expect("open").reader,
        &mut rest,
    )
    .expect("read");
    assert_eq!(rest, layer[5..]);
    let asked = registry
        .seen()
        .into_iter()
        .find(|s| s.path().starts_with("/v2/gl/blobs/"))
        .expect("the blob was asked for");
    assert_eq!(asked.header("Range"), Some("bytes=5-"));
}
