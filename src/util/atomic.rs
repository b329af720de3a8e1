//! Files replaced whole: a reader sees the old file or the new one, never half.

/// Replaces the file `path` names with `bytes`; if `path` is a symbolic link, the file it
/// leads to is replaced, in its own directory and with its mode, and the link stays a link.
pub fn write_through(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(&std::fs::canonicalize(path)?, bytes)
}

/// Replaces `path` with `bytes` so that readers see the old file or the new one, never half.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    write_with(path, bytes, Some(permissions))
}

/// Like [`write_atomically`], for a file that may not exist yet.
pub fn write_new_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    write_with(path, bytes, permissions)
}

fn write_with(
    path: &std::path::Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    // A new file gets the mode the umask gives, as `>` in a shell would, not 0600.
    let mut temp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if let Some(permissions) = permissions {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
