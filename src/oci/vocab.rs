//! The names OCI and Garden Linux give things: media types and annotation keys, defined once.

/// Media types of the documents glc writes and reads.
pub mod media {
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// Annotation keys glc reads from other tools' layouts.
pub mod annotation {
    /// A tag, on a descriptor in `index.json`.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const CONTAINER_NAME: &str = "io.gardenlinux.container.name";
    pub const CNAME: &str = "cname";
}

/// What a descriptor's media type says its blob is: a document glc reads further, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image index (or Docker manifest list): its children are in `manifests`.
    Index,
    /// An image manifest: its children are `config` and `layers`.
    Manifest,
    /// Any other blob: bytes glc copies and checks, never parses.
    Blob,
}

impl Kind {
    #[must_use]
    pub fn of(media_type: &str) -> Self {
        match media_type {
            media::INDEX | media::DOCKER_LIST => Self::Index,
            media::MANIFEST | media::DOCKER_MANIFEST => Self::Manifest,
            _ => Self::Blob,
        }
    }

    #[must_use]
    pub fn is_document(self) -> bool {
        self != Self::Blob
    }
}
