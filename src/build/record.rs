//! The record of the last build into a target, as make's stamps and ninja's log are: the state
//! of everything the build read (the release file, the flavors file, every input file, every
//! entry of a directory input, what picks a container layout's image), what else decides the
//! layout (glc itself, the options, `SOURCE_DATE_EPOCH`, the working directory) and what it
//! wrote. A rebuild that
//! finds all of it as recorded, and the target still holding that layout, is up to date
//! without reading the release again. It lives beside the target, as
//! `.<name>.glc-record.json`, and is trusted as the digest cache is.
//!
//! A state is [`Key`]: mount, device, inode, mode, size, mtime and ctime in nanoseconds.
//! Any write to a file or a directory's entries sets its ctime to the clock's time then, which
//! the file cannot set back: a file last changed before the build began (by the filesystem's
//! coarse clock) and found with the same state later was not written in between. A build that
//! finds a state changed since it began writes no record, so the next build reads everything.
//!
//! Every path a build reads must be listed by [`watched`]: the inputs come from
//! [`crate::front::plan::ResolvedPlan::input_paths`], which the overlap check uses too; what the front
//! end reads besides them (the flavors file), [`crate::ReleaseFile::compile_reading`] lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build::assemble::{BuildReport, Target as Described};
use crate::build::output::Target;
use crate::front::plan::{FileKind, ResolvedPlan, SourceKind};
use crate::oci::digest::Digest;

/// Changed when the record's meaning changes: an older record is then never trusted.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// [`Context::text`] of the build that wrote it.
    context: String,
    /// Every path the build read and its state then.
    states: Vec<State>,
    /// The sha256 of the layout's `index.json`.
    index: String,
    /// Every blob of the layout: hex → size.
    blobs: BTreeMap<String, u64>,
    report: Report,
}

/// A path and its state: `l` for a path inside a tree, looked at without following a link.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    p: PathBuf,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    l: bool,
    k: Key,
}

/// What a build says of the layout it wrote ([`BuildReport`]'s fields but the documents).
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    repository: Option<String>,
    tags: BTreeMap<String, Described>,
    attachments: Vec<Described>,
    part: Option<Described>,
    blobs: usize,
    bytes: u64,
    images: usize,
    containers: usize,
    part_of: Option<(usize, usize)>,
}

/// Everything besides the files read that decides the layout a build writes.
#[derive(Debug, Clone)]
pub struct Context {
    text: String,
    /// The filesystem's clock when the build began.
    began: rustix::fs::Timespec,
}

impl Context {
    /// The context of a build of the release file `release` (as named on the command line)
    /// with these settings; `None` where glc cannot say which glc it is.
    #[must_use]
    pub fn new(release: &str, settings: &str) -> Option<Self> {
        // Before anything is read: see the module's comment.
        let began = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        // glc itself: another build of it may write another layout.
        let exe = std::env::current_exe().ok()?;
        let glc = key(&exe, true)?.0;
        let cwd = std::env::current_dir().ok()?;
        let text = format!(
            "glc {} {glc:?}\ncwd {}\nrelease {release}\n{settings}",
            env!("CARGO_PKG_VERSION"),
            cwd.display()
        );
        Some(Self { text, began })
    }
}

/// A state: mount, device (major, minor), inode, mode, size, mtime and ctime (seconds,
/// nanoseconds); for a link inside a tree, the inode and ctime of what it leads to.
type Key = [u64; 13];

/// The state of `path` (following a link if `follow`) and its ctime; `None` if it cannot
/// be looked at. Looked at with `statx`, never opened: a build opens each input once.
fn key(path: &Path, follow: bool) -> Option<(Key, rustix::fs::Timespec)> {
    use rustix::fs::{AtFlags, StatxFlags};
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    let statx = rustix::fs::statx(
        rustix::fs::CWD,
        path,
        flags,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .ok()?;
    let wanted = StatxFlags::TYPE
        | StatxFlags::MODE
        | StatxFlags::INO
        | StatxFlags::SIZE
        | StatxFlags::MTIME
        | StatxFlags::CTIME;
    if statx.stx_mask & wanted.bits() != wanted.bits() {
        return None;
    }
    let mount = if statx.stx_mask & StatxFlags::MNT_ID.bits() == 0 {
        0
    } else {
        statx.stx_mnt_id
    };
    let (m, c) = (statx.stx_mtime, statx.stx_ctime);
    let key = [
        mount,
        statx.stx_dev_major.into(),
        statx.stx_dev_minor.into(),
        statx.stx_ino,
        statx.stx_mode.into(),
        statx.stx_size,
        m.tv_sec.cast_unsigned(),
        m.tv_nsec.into(),
        c.tv_sec.cast_unsigned(),
        c.tv_nsec.into(),
        // What a link inside a tree leads to: see `tree_key`.
        0,
        0,
        0,
    ];
    let ctime = rustix::fs::Timespec {
        tv_sec: c.tv_sec,
        tv_nsec: c.tv_nsec.into(),
    };
    Some((key, ctime))
}

/// The key of a path inside a tree: the entry itself, and for a link what it leads to
/// too (its inode and ctime).
fn tree_key(path: &Path) -> Option<(Key, rustix::fs::Timespec)> {
    let (mut own, mut ctime) = key(path, false)?;
    let mode = u32::try_from(own[4]).ok()?;
    if rustix::fs::FileType::from_raw_mode(mode) == rustix::fs::FileType::Symlink {
        // A link to nothing is recorded as such.
        if let Some((to, to_ctime)) = key(path, true) {
            own[10..].copy_from_slice(&[to[3], to[8], to[9]]);
            ctime = ctime.max(to_ctime);
        } else {
            own[10] = u64::MAX;
        }
    }
    Some((own, ctime))
}

fn state(path: &Path, tree: bool) -> Option<(Key, rustix::fs::Timespec)> {
    if tree {
        tree_key(path)
    } else {
        key(path, true)
    }
}

/// Every path a build of `plan` read: the release file and `reads` as named, every input and
/// container source as written in the release (links followed), and every entry of the
/// directories among them (links not followed). Each is `(path, inside a tree)`.
fn watched(
    release: &Path,
    reads: &[PathBuf],
    base_dir: &Path,
    plan: &ResolvedPlan,
) -> Vec<(PathBuf, bool)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut add = |path: PathBuf, tree: bool, out: &mut Vec<(PathBuf, bool)>| {
        if seen.insert((path.clone(), tree)) {
            out.push((path, tree));
        }
    };
    add(release.to_path_buf(), false, &mut out);
    for read in reads {
        add(read.clone(), false, &mut out);
    }
    let directories: BTreeSet<&Path> = plan
        .input_files()
        .filter(|f| f.kind == FileKind::Directory)
        .map(|f| f.absolute.as_path())
        .collect();
    let layouts: BTreeSet<&Path> = plan
        .containers
        .iter()
        .filter(|c| c.from.kind == SourceKind::OciLayout)
        .map(|c| c.from.absolute.as_path())
        .collect();
    // As written, links followed: a link on the way changed to lead elsewhere leads to
    // another file (another device and inode), so the path as resolved needs no state of its
    // own.
    for (written, absolute) in plan.input_paths() {
        add(base_dir.join(written), false, &mut out);
        if directories.contains(absolute) {
            // Packed whole: every entry.
            for entry in walkdir::WalkDir::new(absolute)
                .follow_links(false)
                .min_depth(1)
                .sort_by_file_name()
                .into_iter()
                // An entry that cannot be listed failed the build already.
                .filter_map(Result::ok)
            {
                add(entry.into_path(), true, &mut out);
            }
        }
        if layouts.contains(absolute) {
            // What picks the image, and the directories whose entries change when a blob
            // is added or removed. A blob is named by its digest, and every blob imported is
            // verified: one changed in place is a damaged source, never another image.
            for name in ["oci-layout", "index.json", "blobs", "blobs/sha256"] {
                add(absolute.join(name), false, &mut out);
            }
        }
    }
    out
}

/// Writes the record of a build that wrote (or found) `report` in `target`. Nothing is
/// written if anything read changed since the build began; an old record is removed first, so
/// that a failure leaves none.
#[allow(clippy::too_many_arguments)]
pub fn save(
    target: &Target,
    context: &Context,
    release: &Path,
    reads: &[PathBuf],
    base_dir: &Path,
    plan: &ResolvedPlan,
    report: &BuildReport,
) {
    let path = target.record_path();
    let _ = std::fs::remove_file(&path);
    let mut states = Vec::new();
    for (p, tree) in watched(release, reads, base_dir, plan) {
        let Some((k, ctime)) = state(&p, tree) else {
            return;
        };
        if (ctime.tv_sec, ctime.tv_nsec) >= (context.began.tv_sec, context.began.tv_nsec) {
            return;
        }
        states.push(State { p, l: tree, k });
    }
    let record = Record {
        version: VERSION,
        context: context.text.clone(),
        states,
        index: Digest::of(&report.index).hex().to_owned(),
        blobs: report.blob_list.clone(),
        report: Report {
            repository: report.repository.clone(),
            tags: report.tags.clone(),
            attachments: report.attachments.clone(),
            part: report.part.clone(),
            blobs: report.blobs,
            bytes: report.bytes,
            images: report.images,
            containers: report.containers,
            part_of: report.part_of,
        },
    };
    if let Ok(bytes) = serde_json::to_vec(&record) {
        // A record that cannot be written only costs the next build time.
        let _ = crate::util::atomic::write_new_atomically(&path, &bytes);
    }
}

/// What the last build into `target` wrote, if its record says that a build in `context`
/// would write it again and the target still holds it: the layout is up to date.
#[must_use]
pub fn up_to_date(target: &Target, context: &Context) -> Option<BuildReport> {
    let bytes = std::fs::read(target.record_path()).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    if record.version != VERSION || record.context != context.text {
        return None;
    }
    let unchanged = record
        .states
        .iter()
        .all(|recorded| state(&recorded.p, recorded.l).is_some_and(|(k, _)| k == recorded.k));
    if !unchanged {
        return None;
    }
    let index = crate::oci::file::read_regular(
        &target.path().join("index.json"),
        crate::oci::limits::MAX_DOCUMENT,
    )
    .ok()?;
    if Digest::of(&index).hex() != record.index || !target.holds(&index, &record.blobs) {
        return None;
    }
    let report = record.report;
    Some(BuildReport {
        repository: report.repository,
        tags: report.tags,
        attachments: report.attachments,
        part: report.part,
        blobs: report.blobs,
        bytes: report.bytes,
        images: report.images,
        containers: report.containers,
        part_of: report.part_of,
        placements: BTreeMap::new(),
        index,
        blob_list: record.blobs,
        documents: BTreeMap::new(),
    })
}
