//! Writing the chosen layer: streamed and hashed into a file beside the output (or a spool
//! for a stream), which becomes the output only when its size and digest are right.

use std::io::{Read, Seek as _, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{GetError, Output, source_error};
use crate::oci::layout::SparseFile;
use crate::oci::store::{Store, check};
use crate::oci::{Descriptor, Digest};

/// Copies `layer` to `output`, checked: into a temporary file first, which becomes the output
/// only when its size and digest are right.
pub(super) fn write(
    source: &dyn Store,
    layer: &Descriptor,
    output: &Output,
) -> Result<(), GetError> {
    let io = |what: String| move |error: std::io::Error| GetError::Io { what, error };
    // Spooled first: what reaches a stream cannot be taken back.
    let spooled = |out: &mut dyn Write, name: &str| -> Result<(), GetError> {
        let mut spool =
            tempfile::tempfile().map_err(io("cannot create a temporary file".to_owned()))?;
        copy_checked(source, layer, &mut spool)?;
        spool
            .rewind()
            .map_err(io("cannot read the temporary file back".to_owned()))?;
        match std::io::copy(&mut spool, out).and_then(|_| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(io(format!("cannot write to {name}"))(e))
            }
            _ => Ok(()),
        }
    };
    match output {
        Output::Stdout => spooled(&mut std::io::stdout().lock(), "standard output"),
        Output::File(path) => {
            // What PATH is, decided on one descriptor (`O_PATH` waits on no fifo), and what
            // is written into is that same file: a path swapped in between cannot redirect it.
            let handle = rustix::fs::open(
                path,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok();
            let kind = handle
                .as_ref()
                .and_then(|fd| rustix::fs::fstat(fd).ok())
                .map(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode));
            let followed = std::fs::metadata(path).ok();
            if kind == Some(rustix::fs::FileType::Directory) {
                return Err(GetError::WritingIntoDirectory(path.clone()));
            }
            // A device, a fifo or a socket (or a link to one: `/dev/stdout`) is written into
            // as a stream, never replaced by a file.
            if let (Some(handle), Some(kind)) = (&handle, kind)
                && kind != rustix::fs::FileType::RegularFile
            {
                use std::os::fd::AsRawFd as _;
                let mut target = std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
                    .map_err(io(format!("cannot open {}", path.display())))?;
                return spooled(&mut target, &path.display().to_string());
            }
            // A link to a file: the file it names gets the bytes, the link stays.
            let resolved;
            let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
                && followed.is_some()
            {
                resolved = std::fs::canonicalize(path)
                    .map_err(io(format!("cannot follow {}", path.display())))?;
                &resolved
            } else {
                path
            };
            let dir = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
            // A new file gets the mode the umask gives, as `>` in a shell would.
            let temp = tempfile::Builder::new()
                .prefix(".glc-get-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(dir)
                .map_err(io(format!("cannot create a file in {}", dir.display())))?;
            // Blocks of zeros become holes: a sparse disk image stays sparse.
            let mut sparse = temp
                .as_file()
                .try_clone()
                .map(SparseFile::new)
                .map_err(io(format!("cannot write {}", path.display())))?;
            copy_checked(source, layer, &mut sparse)?;
            sparse
                .finish()
                .map_err(io(format!("cannot write {}", path.display())))?;
            if let Some(permissions) = permissions {
                temp.as_file()
                    .set_permissions(permissions)
                    .map_err(io(format!("cannot set the mode of {}", path.display())))?;
            }
            temp.as_file()
                .sync_all()
                .map_err(io(format!("cannot write {}", path.display())))?;
            temp.persist(path)
                .map_err(|e| io(format!("cannot write {}", path.display()))(e.error))?;
            Ok(())
        }
    }
}

/// Streams the blob into `out`, hashing and counting; an error if it is not what `layer` says.
fn copy_checked(
    source: &dyn Store,
    layer: &Descriptor,
    out: &mut impl Write,
) -> Result<(), GetError> {
    let broken = source_error(source);
    let opened = source.open(layer).map_err(|e| broken(e.to_string()))?;
    let mut reader = opened.reader.take(layer.size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(broken(format!("cannot read blob {}: {e}", layer.digest))),
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        size += n as u64;
        out.write_all(chunk).map_err(GetError::Write)?;
    }
    check(layer, size, &Digest::from_hasher(hasher)).map_err(|e| broken(e.to_string()))
}
