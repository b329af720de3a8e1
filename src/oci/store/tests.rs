//! The stores' tests: a store in memory, fetch's checks, the cache, the archive.

use std::collections::HashMap;

use super::*;

/// A store in memory, counting what it is asked.
#[derive(Default)]
struct Memory {
    blobs: HashMap<Digest, Vec<u8>>,
    opened: std::sync::atomic::AtomicUsize,
}

impl Store for Memory {
    fn name(&self) -> String {
        "memory".to_owned()
    }
    fn resolve(&self, _: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(None)
    }
    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(Vec::new())
    }
    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = self
            .blobs
            .get(&descriptor.digest)
            .ok_or_else(|| StoreError::NotFound {
                kind: "manifest",
                reference: descriptor.digest.to_string(),
                store: Some(self.name()),
            })?;
        Ok(Opened {
            reader: Box::new(&bytes[..]),
            size: Some(bytes.len() as u64),
        })
    }
    fn referrers(&self, _: &Digest, _: Option<&str>) -> Result<Vec<Descriptor>, StoreError> {
        Ok(Vec::new())
    }
}

fn descriptor(bytes: &[u8], size: u64) -> Descriptor {
    Descriptor {
        media_type: crate::oci::media::MANIFEST.to_owned(),
        digest: Digest::of(bytes),
        size,
        annotations: BTreeMap::new(),
        platform: None,
        artifact_type: None,
    }
}

#[test]
fn fetch_checks_size_digest_and_limit_and_says_which() {
    let mut store = Memory::default();
    let bytes = b"{\"schemaVersion\":2}".to_vec();
    let digest = Digest::of(&bytes);
    store.blobs.insert(digest.clone(), bytes.clone());
    let right = descriptor(&bytes, bytes.len() as u64);
    assert_eq!(store.fetch(&right, MAX_DOCUMENT).unwrap(), bytes);
    let short = descriptor(&bytes, 5);
    assert_eq!(
        store.fetch(&short, MAX_DOCUMENT).unwrap_err().to_string(),
        format!("blob {digest} has more bytes than the 5 its descriptor says")
    );
    let long = descriptor(&bytes, 100);
    assert_eq!(
        store.fetch(&long, MAX_DOCUMENT).unwrap_err().to_string(),
        format!("blob {digest} has fewer bytes than the 100 its descriptor says")
    );
    assert_eq!(
        store.fetch(&right, 3).unwrap_err().to_string(),
        format!(
            "blob {digest} declares 19 bytes, more than glc reads of a {} (3)",
            crate::oci::media::MANIFEST
        )
    );
    // Other bytes under the digest: corrupt.
    store
        .blobs
        .insert(digest.clone(), b"{\"schemaVersion\":3}".to_vec());
    assert!(matches!(
        store.fetch(&right, MAX_DOCUMENT),
        Err(StoreError::Digest { .. })
    ));
    assert!(store.read(&right, MAX_DOCUMENT).is_ok());
}

/// [`Memory`] whose reads wait (up to a patience far beyond any scheduling delay) until two
/// are under way at once; after that, or once one has waited its whole patience, none
/// waits. Read one by one, the first waits its patience and no two ever meet.
struct Meeting {
    memory: Memory,
    /// Read without waiting: the index.
    alone: Digest,
    /// Reads under way, and whether waiting is over.
    state: std::sync::Mutex<(usize, bool)>,
    arrived: std::sync::Condvar,
    met: std::sync::atomic::AtomicBool,
}

impl Store for Meeting {
    fn name(&self) -> String {
        self.memory.name()
    }
    fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        self.memory.resolve(name)
    }
    fn tags(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        self.memory.tags()
    }
    fn open(&self, descriptor: &Descriptor) -> Result<Opened<'_>, StoreError> {
        if descriptor.digest == self.alone {
            return self.memory.open(descriptor);
        }
        let patience = std::time::Duration::from_secs(20);
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        if state.0 >= 2 {
            self.met.store(true, std::sync::atomic::Ordering::Relaxed);
            state.1 = true;
        }
        self.arrived.notify_all();
        let (mut state, _) = self
            .arrived
            .wait_timeout_while(state, patience, |(_, over)| !*over)
            .unwrap();
        state.1 = true;
        drop(state);
        let opened = self.memory.open(descriptor);
        self.state.lock().unwrap().0 -= 1;
        self.arrived.notify_all();
        opened
    }
    fn referrers(&self, s: &Digest, t: Option<&str>) -> Result<Vec<Descriptor>, StoreError> {
        self.memory.referrers(s, t)
    }
}

#[test]
fn a_walk_through_a_cached_store_reads_an_indexs_documents_at_once_and_each_once() {
    let mut memory = Memory::default();
    let mut entries = Vec::new();
    for i in 0..6 {
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","layers":[],"annotations":{{"n":"{i}"}}}}"#,
            crate::oci::media::MANIFEST
        )
        .into_bytes();
        entries.push(descriptor(&bytes, bytes.len() as u64).to_value());
        memory.blobs.insert(Digest::of(&bytes), bytes);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::media::INDEX,
        "manifests": entries,
    }))
    .unwrap();
    let mut root = descriptor(&index, index.len() as u64);
    crate::oci::media::INDEX.clone_into(&mut root.media_type);
    memory.blobs.insert(root.digest.clone(), index);
    let cached = Cached::new(Meeting {
        memory,
        alone: root.digest.clone(),
        state: std::sync::Mutex::new((0, false)),
        arrived: std::sync::Condvar::new(),
        met: std::sync::atomic::AtomicBool::new(false),
    });
    let graph = crate::oci::walk::walk(&cached, &[root.to_value()]);
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    assert_eq!(graph.nodes.len(), 7);
    let inner = cached.inner();
    // The index, then its six manifests, each read once, and at the same time.
    assert_eq!(
        inner
            .memory
            .opened
            .load(std::sync::atomic::Ordering::Relaxed),
        7
    );
    assert!(
        inner.met.load(std::sync::atomic::Ordering::Relaxed),
        "the manifests were read one by one"
    );
}

#[test]
fn a_cached_store_reads_each_document_once_and_asks_once_for_what_is_absent() {
    let mut store = Memory::default();
    let bytes = b"{\"schemaVersion\":2}".to_vec();
    store.blobs.insert(Digest::of(&bytes), bytes.clone());
    let cached = Cached::new(store);
    let right = descriptor(&bytes, bytes.len() as u64);
    for _ in 0..3 {
        assert_eq!(cached.fetch(&right, MAX_DOCUMENT).unwrap(), bytes);
    }
    let absent = descriptor(b"other", 5);
    for _ in 0..3 {
        assert_eq!(
            cached.fetch(&absent, MAX_DOCUMENT).unwrap_err().to_string(),
            format!("memory has no manifest {}", absent.digest)
        );
    }
    assert_eq!(
        cached
            .inner()
            .opened
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[test]
fn a_blob_opened_at_an_offset_gives_the_rest_and_a_cached_document_is_read_once() {
    let mut store = Memory::default();
    let bytes = b"{\"schemaVersion\":2}".to_vec();
    store.blobs.insert(Digest::of(&bytes), bytes.clone());
    let right = descriptor(&bytes, bytes.len() as u64);
    let rest = |opened: Opened<'_>| {
        let mut rest = Vec::new();
        opened.reader.take(100).read_to_end(&mut rest).unwrap();
        (rest, opened.size)
    };
    assert_eq!(
        rest(store.open_at(&right, 5).unwrap()),
        (bytes[5..].to_vec(), Some(bytes.len() as u64 - 5))
    );
    assert!(matches!(
        store.open_at(&right, 100),
        Err(StoreError::Size { actual, .. }) if actual == bytes.len() as u64
    ));
    let cached = Cached::new(store);
    for from in [0, 5, 100] {
        let at = usize::try_from(from).unwrap().min(bytes.len());
        assert_eq!(rest(cached.open_at(&right, from).unwrap()).0, bytes[at..]);
    }
    assert_eq!(
        cached
            .inner()
            .opened
            .load(std::sync::atomic::Ordering::Relaxed),
        3,
        "two reads, then one of the cache"
    );
}

#[test]
fn an_archive_is_a_store_of_its_tags_documents_and_referrers() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
    let image = descriptor(manifest, manifest.len() as u64);
    let referrer = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x.note","layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}}}}}"#,
        image.digest,
        manifest.len()
    );
    let note = descriptor(referrer.as_bytes(), referrer.len() as u64);
    let mut tagged = image.to_value();
    tagged["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [tagged, note.to_value()]});
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", index.to_string().as_bytes());
    add(&image.digest.blob_path(), manifest);
    add(&note.digest.blob_path(), referrer.as_bytes());
    let bytes = builder.into_inner().unwrap();
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, &bytes).unwrap();
    let source = crate::oci::source::OciSource::from_archive(file, bytes.len() as u64).unwrap();
    let store: &dyn Store = &source;
    assert_eq!(store.name(), "the archive");
    let resolved = store.resolve("v1").unwrap().unwrap();
    assert_eq!(resolved.digest, image.digest);
    assert_eq!(store.tags().unwrap().len(), 1);
    assert!(store.resolve("v2").unwrap().is_none());
    assert_eq!(store.fetch(&resolved, MAX_DOCUMENT).unwrap(), manifest);
    let found = store.referrers(&image.digest, None).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, note.digest);
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/x.note")
    );
    assert!(
        store
            .referrers(&image.digest, Some("application/x.other"))
            .unwrap()
            .is_empty()
    );
    let missing = descriptor(b"nothing", 7);
    assert_eq!(
        store.fetch(&missing, MAX_DOCUMENT).unwrap_err().to_string(),
        format!("blob {} is missing", missing.digest)
    );
}
