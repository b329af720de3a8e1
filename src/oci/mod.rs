//! OCI image layouts: reading other tools' layouts, and writing glc's own.

pub mod dirtar;
pub mod import;
pub mod json;
pub mod layout;
pub mod source;

/// Media types of the documents glc writes and reads.
pub mod media {
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// Whether a blob of this media type is a manifest or an index, whose descriptors lead on.
    #[must_use]
    pub fn is_graph(media_type: &str) -> bool {
        [MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type)
    }
}
