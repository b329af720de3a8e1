//! Cross-repository blob mounts (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`)
//! and, where a registry refuses them, the blob streamed from the other repository instead; a blob of
//! another registry streamed.

use std::sync::atomic::Ordering;

use super::client::check_digest;
use super::transport::Body;
use super::{Client, Error, error};
use crate::oci::Digest;

/// How a blob came into the repository from another one of the same registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounted {
    /// The registry linked it (`201 Created`): no byte moved.
    Linked,
    /// The registry refused the mount (it answered `202` and opened an upload): the blob was
    /// read from the other repository and uploaded.
    Copied,
}

impl Client {
    /// Asks the registry to mount blob `digest` of repository `from` (same registry) into this
    /// repository. `Ok(true)` once it is there; `Ok(false)` where the registry refused the
    /// mount (the upload it opened instead is cancelled).
    pub fn mount_blob(&self, digest: &Digest, from: &str) -> Result<bool, Error> {
        crate::oci::name::check_repository(from).map_err(error)?;
        let url = self.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
        self.upload_sessions.fetch_add(1, Ordering::Relaxed);
        let answer = self.send("POST", &url, &[], Body::Empty, true)?;
        match (answer.status, answer.location) {
            (201, _) => {
                check_digest(answer.digest.as_deref(), digest, &digest.to_string())?;
                Ok(true)
            }
            (202, location) => {
                // An upload nobody will use: cancelled, where the registry lets it be.
                if let Some(location) = location {
                    let _ = self.send_once(
                        "DELETE",
                        &self.absolute(&location),
                        &[],
                        Body::Empty,
                        false,
                    );
                }
                Ok(false)
            }
            (status, _) => Err(self.refusal(
                &format!("mount of blob {digest} from {from}"),
                status,
                &answer.body,
            )),
        }
    }

    /// Blob `digest` (`size` bytes) of `source`, a repository of the same registry, into this
    /// repository: mounted, or where the registry refuses mounts, streamed from `source`'s
    /// download into the upload ([`Client::stream_from`]).
    pub fn mount_or_copy(
        &self,
        source: &Client,
        digest: &Digest,
        size: u64,
        chunk: u64,
    ) -> Result<Mounted, Error> {
        if self.mount_blob(digest, &source.repository)? {
            return Ok(Mounted::Linked);
        }
        self.stream_from(source, digest, size, chunk)?;
        Ok(Mounted::Copied)
    }

    /// Blob `digest` (`size` bytes) of `source` (any repository of any registry) uploaded into
    /// this repository as it is downloaded: never whole in memory or on disk, each try of the
    /// upload reading the download again from where the upload goes on. The registry checks
    /// the bytes against the digest.
    pub fn stream_from(
        &self,
        source: &Client,
        digest: &Digest,
        size: u64,
        chunk: u64,
    ) -> Result<(), Error> {
        let open = |from: u64| -> Box<dyn std::io::Read + '_> {
            Box::new(source.read_blob(digest, size, from))
        };
        self.upload_stream(&open, size, digest, chunk, &|_| {})
    }
}
