//! The table of contents of an OCI archive (a tar), read header by header without unpacking
//! anything: each regular file's name, and where its bytes are. Header extensions (GNU long
//! names and links, pax headers) are read only up to [`MAX_TAR_EXTENSION`], so a tiny
//! (sparse) archive cannot make glc allocate gigabytes for a name.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::oci::limits::MAX_TAR_EXTENSION;

const BLOCK: u64 = 512;

/// A regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name, without a leading `./`, as bytes turned to text (lossily).
    pub name: String,
    /// Where its bytes start in the archive.
    pub offset: u64,
    pub size: u64,
}

/// Why an archive cannot be read; the text is for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// Cut short: in a header, inside an entry, or without its end blocks.
    Truncated(String),
    /// Not a tar, or one made to hurt.
    Damaged(String),
}

/// The regular files of the tar in `file`, of `length` bytes.
pub fn entries(file: &File, length: u64) -> Result<Vec<Entry>, TarError> {
    let mut found = Vec::new();
    let mut position = 0u64;
    // Set by a GNU long-name or pax header, for the entry after it.
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        let mut block = [0u8; 512];
        if position.saturating_add(BLOCK) > length {
            return Err(TarError::Truncated(
                "it ends without tar's end-of-archive blocks".to_owned(),
            ));
        }
        file.read_exact_at(&mut block, position)
            .map_err(|e| TarError::Damaged(format!("cannot read it: {e}")))?;
        if block.iter().all(|b| *b == 0) {
            // A whole archive ends with two zero blocks.
            if position.saturating_add(2 * BLOCK) > length {
                return Err(TarError::Truncated(
                    "it ends without tar's end-of-archive blocks".to_owned(),
                ));
            }
            return Ok(found);
        }
        let header = tar::Header::from_byte_slice(&block);
        let sum: u32 = block[..148]
            .iter()
            .chain(&block[156..])
            .map(|b| u32::from(*b))
            .sum::<u32>()
            + 8 * u32::from(b' ');
        if header.cksum().ok() != Some(sum) {
            return Err(TarError::Damaged(format!(
                "the tar header at byte {position} is damaged (its checksum does not match)"
            )));
        }
        let data = position + BLOCK;
        let entry_type = header.entry_type();
        let extension = entry_type.is_gnu_longname()
            || entry_type.is_gnu_longlink()
            || entry_type.is_pax_local_extensions()
            || entry_type.is_pax_global_extensions();
        let mut size = header
            .entry_size()
            .map_err(|e| TarError::Damaged(format!("a tar header at byte {position}: {e}")))?;
        if !extension && let Some(pax) = pax_size.take() {
            size = pax;
        }
        if extension && size > MAX_TAR_EXTENSION {
            return Err(TarError::Damaged(format!(
                "a tar header extension of {size} bytes (limit {MAX_TAR_EXTENSION}) at byte {position}"
            )));
        }
        let end = data
            .checked_add(size)
            .filter(|end| *end <= length)
            .ok_or_else(|| {
                TarError::Truncated(format!(
                    "the entry at byte {position} needs {size} bytes past its end"
                ))
            })?;
        if extension {
            // At most MAX_TAR_EXTENSION bytes, checked above.
            let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
            file.read_exact_at(&mut bytes, data)
                .map_err(|e| TarError::Damaged(format!("cannot read it: {e}")))?;
            if entry_type.is_gnu_longname() {
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                long_name = Some(bytes);
            } else if entry_type.is_pax_local_extensions() {
                for extension in tar::PaxExtensions::new(&bytes).flatten() {
                    match extension.key_bytes() {
                        b"path" => pax_path = Some(extension.value_bytes().to_vec()),
                        b"size" => {
                            pax_size = Some(
                                extension
                                    .value()
                                    .ok()
                                    .and_then(|v| v.parse().ok())
                                    .ok_or_else(|| {
                                        TarError::Damaged(format!(
                                            "the pax header at byte {position} has a bad size"
                                        ))
                                    })?,
                            );
                        }
                        _ => {}
                    }
                }
            }
        } else {
            let name = pax_path
                .take()
                .or_else(|| long_name.take())
                .unwrap_or_else(|| header.path_bytes().into_owned());
            if entry_type.is_file() {
                let name = String::from_utf8_lossy(&name);
                found.push(Entry {
                    name: name.trim_start_matches("./").to_owned(),
                    offset: data,
                    size,
                });
            }
            long_name = None;
        }
        position = end.div_ceil(BLOCK).saturating_mul(BLOCK);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (tempfile::NamedTempFile, u64) {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let bytes = builder.into_inner().unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        (file, bytes.len() as u64)
    }

    #[test]
    fn regular_files_with_long_and_pax_names_are_found_where_they_are() {
        let long = format!("blobs/sha256/{}", "a".repeat(200));
        let (file, length) = archive(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_size(3);
            b.append_data(&mut header, "./index.json", &b"{}\n"[..])
                .unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_size(5);
            b.append_data(&mut header, &long, &b"hello"[..]).unwrap();
            b.append_pax_extensions([("path", "pax/name".as_bytes())])
                .unwrap();
            let mut header = tar::Header::new_ustar();
            header.set_size(1);
            b.append_data(&mut header, "short", &b"x"[..]).unwrap();
        });
        let found = entries(file.as_file(), length).unwrap();
        let names: Vec<_> = found.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["index.json", long.as_str(), "pax/name"]);
        let mut bytes = vec![0; 5];
        file.as_file()
            .read_exact_at(&mut bytes, found[1].offset)
            .unwrap();
        assert_eq!(bytes, b"hello");
        assert!(matches!(
            entries(file.as_file(), length - 1024),
            Err(TarError::Truncated(_))
        ));
    }
}
