//! The names OCI and Garden Linux give things: media types and annotation keys, defined once.

/// Media types of the documents glc writes and reads.
pub mod media {
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// Artifact types of the documents glc writes (Garden Linux's own).
pub mod artifact {
    /// What every artifact type of Garden Linux begins with; an attachment's is this and
    /// its kind (`application/io.gardenlinux.test-log`).
    pub const PREFIX: &str = "application/io.gardenlinux.";
    pub const RELEASE: &str = "application/io.gardenlinux.release";
    pub const METADATA: &str = "application/io.gardenlinux.release.metadata";
    pub const CLOUD_IMAGES: &str = "application/io.gardenlinux.cloud-images";
    pub const CLOUD_IMAGE: &str = "application/io.gardenlinux.image";
    pub const CONTAINER_IMAGES: &str = "application/io.gardenlinux.container-images";
    pub const CONTAINER_GROUP: &str = "application/io.gardenlinux.container-group";
    pub const RELEASE_MANIFEST: &str = "application/io.gardenlinux.release-manifest+json";
    /// A part's record: what `glc merge` needs besides the part's blobs.
    pub const PART: &str = "application/io.gardenlinux.release.part";
    pub const PART_RECORD: &str = "application/io.gardenlinux.release.part+json";

    /// The artifact type of an attachment of `kind`.
    #[must_use]
    pub fn attachment(kind: &str) -> String {
        format!("{PREFIX}{kind}")
    }
}

/// Annotation keys glc writes and reads.
pub mod annotation {
    /// A tag, on a descriptor in `index.json`.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const CONTAINER_NAME: &str = "io.gardenlinux.container.name";
    pub const CONTAINER_GROUP_NAME: &str = "io.gardenlinux.container.group";
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
