//! Stage 5: the expanded plan → a plan of files found on disk, with kinds, sizes and media
//! types. Every problem with every file is reported in one run.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::front::media_type;
use crate::front::plan::{
    AttachmentPlan, ContainerPlan, ContainerSource, ExpandedPlan, FileKind, ImagePlan,
    MetadataPlan, PlannedFile, ResolvedFile, ResolvedPlan, SourceKind, axis, file_title,
};
use crate::front::role::Role;
use crate::oci::layout::{Input, InputError};
use crate::oci::source::OciSource;

#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Accept paths that leave the release file's directory.
    pub allow_outside: bool,
}

pub fn resolve(
    plan: ExpandedPlan,
    base: &Path,
    options: &ResolveOptions,
    source: &Arc<SourceFile>,
) -> Result<ResolvedPlan, Diagnostics> {
    let base = match base.canonicalize() {
        Ok(base) => base,
        Err(error) => {
            return Err(vec![Diagnostic::error(
                "glc::io",
                format!(
                    "cannot open the release file's directory {}: {error}",
                    base.display()
                ),
            )]);
        }
    };
    let mut resolver = Resolver {
        base,
        options,
        diagnostics: Vec::new(),
        odd_rootfs: Vec::new(),
        missing: Vec::new(),
    };
    let metadata = MetadataPlan {
        changelog: plan
            .metadata
            .changelog
            .as_ref()
            .and_then(|f| resolver.file(f)),
        files: plan
            .metadata
            .files
            .iter()
            .filter_map(|f| resolver.file(f))
            .collect(),
        links: plan.metadata.links,
    };
    let images = plan
        .images
        .into_iter()
        .map(|image| resolver.image(image))
        .collect();
    let containers = plan
        .containers
        .into_iter()
        .filter_map(|c| {
            let from = resolver.container_source(
                &c.from,
                c.reference.as_deref(),
                c.default.then_some(c.name.as_str()),
            )?;
            Some(ContainerPlan {
                name: c.name,
                group: c.group,
                from,
                reference: c.reference,
                tag: c.tag,
                default: c.default,
            })
        })
        .collect();
    resolver.report_missing();
    if resolver.diagnostics.is_empty() {
        let mut warnings = plan.warnings;
        for mut warning in odd_rootfs_warnings(&resolver.odd_rootfs) {
            warning.source = Some(Arc::clone(source));
            warnings.push(warning);
        }
        Ok(ResolvedPlan {
            release: plan.release,
            tags: plan.tags,
            metadata,
            images,
            containers,
            part: plan.part,
            warnings,
        })
    } else {
        for diagnostic in &mut resolver.diagnostics {
            diagnostic.source = Some(Arc::clone(source));
        }
        Err(resolver.diagnostics)
    }
}

struct Resolver<'a> {
    /// The release file's directory, canonical.
    base: PathBuf,
    options: &'a ResolveOptions,
    diagnostics: Diagnostics,
    /// Each `rootfs` of a media type that is no root file system's: where, its path and type.
    odd_rootfs: Vec<(miette::SourceSpan, String, String)>,
    /// Files not found, reported together by [`Resolver::report_missing`].
    missing: Vec<Missing>,
}

/// A file that is not there, and what is missing with it.
struct Missing {
    /// How many diagnostics came before it: where its report goes.
    order: usize,
    span: miette::SourceSpan,
    /// "for arch=amd64 …", or empty.
    described: String,
    path: String,
    /// The release directory's first missing directory on the way to it, if any.
    directory: Option<String>,
    help: String,
}

/// One warning for each `rootfs` node whose files `glc get --role rootfs` will not find.
fn odd_rootfs_warnings(odd: &[(miette::SourceSpan, String, String)]) -> Diagnostics {
    let mut nodes: BTreeMap<(usize, usize), Vec<(&str, &str)>> = BTreeMap::new();
    for (span, path, media_type) in odd {
        nodes
            .entry((span.offset(), span.len()))
            .or_default()
            .push((path, media_type));
    }
    nodes
        .into_iter()
        .filter_map(|((offset, len), files)| {
            let (path, media_type) = files.first()?;
            let which = match files.len() {
                1 => format!("`{path}`"),
                n => format!("`{path}` (and {} more)", n - 1),
            };
            Some(
                Diagnostic::warning(
                    "glc::resolve::rootfs-type",
                    format!(
                        "the rootfs {which} is of media type {media_type}, not a root file system's: `glc get --role rootfs` will not find it"
                    ),
                )
                .label((offset, len), "of an unknown root file system type")
                .help(format!(
                    "name a file of one of Garden Linux's formats (.tar .raw .qcow2 .vhd .vmdk .ova .gcpimage.tar.gz .iso .pxe.tar.gz) or set media-type= to one of {}; or make it a `file`",
                    crate::front::role::ROOTFS_MEDIA_TYPES.join(", ")
                )),
            )
        })
        .collect()
}

impl Resolver<'_> {
    fn fail(
        &mut self,
        file: &PlannedFile,
        code: &'static str,
        message: String,
        label: &str,
        help: String,
    ) {
        let described = file.origin.bindings.describe();
        self.diagnostics.push(
            Diagnostic::error(code, message)
                .label(
                    file.origin.span,
                    format!("{label} {described}").trim_end().to_owned(),
                )
                .help(help),
        );
    }

    fn image(&mut self, image: ImagePlan<PlannedFile>) -> ImagePlan<ResolvedFile> {
        // Layers are pulled by their title, the file name: two equal names in one manifest
        // would overwrite each other on the consumer's disk.
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for file in image.layers() {
            let title = file_title(&file.path);
            if let Some(first) = seen.insert(title, &file.path) {
                let message = if first == file.path {
                    format!("`{}` is listed twice in image `{}`", file.path, image.cname)
                } else {
                    format!(
                        "`{first}` and `{}` have the same file name in image `{}`",
                        file.path, image.cname
                    )
                };
                self.fail(
                    file,
                    "glc::resolve::duplicate-file",
                    message,
                    "listed again here",
                    "every layer is titled with its file name, which must be unique in an image; remove or rename one".to_owned(),
                );
            }
        }
        // A file that fails adds a diagnostic, and then the whole plan is discarded; so the
        // images may simply leave it out here.
        let layers: Vec<(Role, ResolvedFile)> = image
            .layers
            .iter()
            .filter_map(|(role, f)| Some((*role, self.file(f)?)))
            .collect();
        let mut matrix = image.matrix.clone();
        for file in image.layers().filter(|f| f.feature_set.is_some()) {
            // Read where resolving found it, inside the release directory.
            let Some((_, found)) = layers.iter().find(|(_, r)| r.path == file.path) else {
                continue;
            };
            if let Some(value) = self.feature_set(file, &found.absolute) {
                matrix.0.retain(|(k, _)| k != axis::FEATURE_SET);
                matrix.0.push((axis::FEATURE_SET.to_owned(), value));
            }
        }
        ImagePlan {
            layers,
            attachments: image
                .attachments
                .iter()
                .filter_map(|a| {
                    Some(AttachmentPlan {
                        kind: a.kind.clone(),
                        file: self.file(&a.file)?,
                    })
                })
                .collect(),
            cname: image.cname,
            matrix,
            condition: image.condition,
            apt_repository: image.apt_repository,
        }
    }

    /// The value of the `feature-set` key in `file` (`KEY=value` lines, as a build's
    /// `.release`), or None after reporting why not.
    fn feature_set(&mut self, file: &PlannedFile, found: &Path) -> Option<String> {
        let (key, span) = file.feature_set.as_ref()?;
        // A build's `.release` is a few hundred bytes; it is read whole only if it is small.
        let text = match crate::oci::file::read_regular(found, 1 << 20) {
            Ok(text) => text,
            Err(error) => {
                self.fail(
                    file,
                    "glc::resolve::no-feature-set",
                    format!("cannot read the feature set from `{}`: {error}", file.path),
                    "read from here",
                    "name the build's .release, a small regular file".to_owned(),
                );
                return None;
            }
        };
        let text = String::from_utf8_lossy(&text);
        let value = text.lines().find_map(|line| {
            let value = line.trim().strip_prefix(key.as_str())?.strip_prefix('=')?;
            Some(value.trim().trim_matches(['"', '\'']).to_owned())
        });
        if value.is_none() {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::resolve::no-feature-set",
                    format!("`{}` has no line `{key}=…`", file.path),
                )
                .label(
                    *span,
                    format!("the feature set is read from it {}", file.origin.bindings.describe())
                        .trim_end()
                        .to_owned(),
                )
                .help(format!(
                    "a build's .release names its features as `{key}=a,b,c`; name the key it has, or remove feature-set"
                )),
            );
        }
        value
    }

    /// The file's path inside the release directory, or None after reporting why not.
    fn locate(&mut self, file: &PlannedFile) -> Option<PathBuf> {
        let relative = Path::new(&file.path);
        if file.path.is_empty() {
            self.fail(
                file,
                "glc::resolve::empty-path",
                "the path is empty".to_owned(),
                "renders to \"\"",
                "name a file relative to the release file".to_owned(),
            );
            return None;
        }
        if !self.options.allow_outside {
            let mut depth: usize = 0;
            let mut leaves = relative.is_absolute();
            for component in relative.components() {
                match component {
                    Component::ParentDir => match depth.checked_sub(1) {
                        Some(d) => depth = d,
                        None => leaves = true,
                    },
                    Component::Normal(_) => depth += 1,
                    Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
                }
            }
            if leaves {
                self.fail(
                    file,
                    "glc::resolve::outside",
                    format!("`{}` is outside the release file's directory", file.path),
                    "leaves the release directory",
                    "keep artifacts next to the release file, or pass --allow-outside".to_owned(),
                );
                return None;
            }
        }
        let full = self.base.join(relative);
        match full.canonicalize() {
            Ok(canonical) => {
                if !self.options.allow_outside && !canonical.starts_with(&self.base) {
                    self.fail(
                        file,
                        "glc::resolve::outside",
                        format!("`{}` leads outside the release file's directory", file.path),
                        &symlink_label(&self.base, relative),
                        "copy the file next to the release file, or pass --allow-outside"
                            .to_owned(),
                    );
                    return None;
                }
                Some(canonical)
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound
                    && fs::symlink_metadata(&full).is_err() =>
            {
                self.missing.push(Missing {
                    order: self.diagnostics.len(),
                    span: file.origin.span,
                    described: file.origin.bindings.describe(),
                    path: file.path.clone(),
                    directory: missing_directory(&self.base, relative),
                    help: missing_help(&full, relative),
                });
                None
            }
            // `full` itself is there: a link to nothing.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let what = format!("`{}` is a symlink to nothing", file.path);
                let help = fs::read_link(&full).map_or_else(
                    |_| missing_help(&full, relative),
                    |target| {
                        format!(
                            "the link points to `{}`, which does not exist",
                            target.display()
                        )
                    },
                );
                self.fail(
                    file,
                    "glc::resolve::missing-file",
                    what.clone(),
                    &what,
                    help,
                );
                None
            }
            Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                let first = first_symlink(&self.base, relative)
                    .map_or_else(String::new, |(link, target)| {
                        format!("`{}` → `{}`; ", link.display(), target.display())
                    });
                self.fail(
                    file,
                    "glc::resolve::symlink-loop",
                    format!("`{}` is a symlink loop", file.path),
                    "the links lead back to themselves",
                    format!("{first}point one of the links at the file itself"),
                );
                None
            }
            Err(error) => {
                self.cannot_open(file, &error);
                None
            }
        }
    }

    /// Files not found, one error a missing directory (every file in it) or, in a directory
    /// that is there, one a node (every combination of it), each in the place of its first
    /// file among the other errors: a missing build directory is one error, not one a file.
    fn report_missing(&mut self) {
        // Grouped by directory, else by node; in the order first found.
        let mut groups: Vec<(usize, Vec<&Missing>)> = Vec::new();
        let mut by_key: BTreeMap<(Option<&str>, usize, usize), usize> = BTreeMap::new();
        for missing in &self.missing {
            let key = match &missing.directory {
                Some(directory) => (Some(directory.as_str()), 0, 0),
                None => (None, missing.span.offset(), missing.span.len()),
            };
            let group = *by_key.entry(key).or_insert_with(|| {
                groups.push((missing.order, Vec::new()));
                groups.len() - 1
            });
            groups[group].1.push(missing);
        }
        let reports: Vec<(usize, Diagnostic)> = groups
            .into_iter()
            .filter_map(|(order, files)| Some((order, missing_report(&files)?)))
            .collect();
        // From the last, so that each earlier place stays where it was.
        for (order, diagnostic) in reports.into_iter().rev() {
            self.diagnostics.insert(order, diagnostic);
        }
        self.missing.clear();
    }

    fn cannot_open(&mut self, file: &PlannedFile, error: &std::io::Error) {
        let help = match error.kind() {
            std::io::ErrorKind::PermissionDenied => {
                "check its permissions and those of its directories"
            }
            std::io::ErrorKind::NotADirectory => {
                "a part of the path is a file, not a directory; fix the path"
            }
            _ => "check the path and the file",
        };
        self.fail(
            file,
            "glc::io",
            format!("cannot open `{}`: {error}", file.path),
            "cannot be opened",
            help.to_owned(),
        );
    }

    fn file(&mut self, file: &PlannedFile) -> Option<ResolvedFile> {
        let absolute = self.locate(file)?;
        let metadata = match fs::metadata(&absolute) {
            Ok(m) => m,
            Err(error) => {
                self.cannot_open(file, &error);
                return None;
            }
        };
        let (kind, size) = if metadata.is_file() {
            (FileKind::File, metadata.len())
        } else if metadata.is_dir() {
            if file.role.directory_media_type().is_none() {
                self.fail(
                    file,
                    "glc::resolve::not-a-file",
                    format!(
                        "`{}` is a directory, but {} must be a file",
                        file.path,
                        article_for(file.role.node())
                    ),
                    "a directory",
                    format!(
                        "name the file itself; only {} may name a directory, packed as a tar",
                        Role::directory_nodes()
                    ),
                );
                return None;
            }
            (FileKind::Directory, directory_size(&absolute))
        } else {
            self.fail(
                file,
                "glc::resolve::not-a-file",
                format!("`{}` is neither a regular file nor a directory", file.path),
                "a device, fifo or socket",
                "name a regular file, or a directory to pack as a tar".to_owned(),
            );
            return None;
        };
        // By the name as written: a symlink's target name must not change the layout.
        let inferred = file.named_media_type().or_else(|| {
            (kind == FileKind::Directory)
                .then(|| file.role.directory_media_type().map(str::to_owned))
                .flatten()
        });
        let Some(media_type) = inferred else {
            let extension = Path::new(&file.path)
                .extension()
                .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
            let what = if extension.is_empty() {
                "has no extension".to_owned()
            } else {
                format!("`{extension}` is not a known extension")
            };
            self.fail(
                file,
                "glc::resolve::unknown-media-type",
                format!("no media type known for `{}`", file.path),
                &what,
                format!(
                    "set one on the node, e.g. media-type=\"application/octet-stream\", or use an extension of Garden Linux's table ({} of them, listed in docs/language.md), e.g. .raw .qcow2 .tar .vmlinuz .log",
                    media_type::TABLE.len()
                ),
            );
            return None;
        };
        if file.role == Role::Rootfs
            && !crate::front::role::ROOTFS_MEDIA_TYPES.contains(&media_type.as_str())
        {
            self.odd_rootfs
                .push((file.origin.span, file.path.clone(), media_type.clone()));
        }
        Some(ResolvedFile {
            path: file.path.clone(),
            absolute,
            kind,
            size,
            media_type,
            role: file.role,
            condition: file.condition.clone(),
            span: file.origin.span,
        })
    }

    /// The container source `file`, and, for the default container (`default` is its name),
    /// its platform images.
    fn container_source(
        &mut self,
        file: &PlannedFile,
        reference: Option<&str>,
        default: Option<&str>,
    ) -> Option<ContainerSource> {
        let absolute = self.locate(file)?;
        // Opened once: checked, then read as the archive it is.
        let archive = if absolute.is_dir() {
            Err(InputError::NotRegular("a directory"))
        } else {
            Input::open(&absolute)
        };
        let kind = if absolute.is_dir() {
            if !absolute.join("oci-layout").is_file() {
                self.fail(
                    file,
                    "glc::resolve::not-oci",
                    format!("`{}` is a directory but not an OCI image layout", file.path),
                    "no `oci-layout` file in it",
                    "point `from` at a directory written by `skopeo copy … oci:DIR`, podman or buildah".to_owned(),
                );
                return None;
            }
            SourceKind::OciLayout
        } else if let Err(InputError::NotRegular(what)) = &archive {
            self.fail(
                file,
                "glc::resolve::not-oci",
                format!("`{}` is {what}, neither an OCI image layout directory nor an OCI archive", file.path),
                what,
                "point `from` at a layout directory or an uncompressed OCI archive (`skopeo copy … oci-archive:FILE`)"
                    .to_owned(),
            );
            return None;
        } else if archive.as_ref().is_ok_and(is_tar) {
            SourceKind::OciArchive
        } else {
            self.fail(
                file,
                "glc::resolve::not-oci",
                format!("`{}` is neither an OCI image layout directory nor an OCI archive", file.path),
                "not a tar archive",
                "point `from` at a layout directory or an uncompressed OCI archive (`skopeo copy … oci-archive:FILE`)"
                    .to_owned(),
            );
            return None;
        };
        let opened = match archive {
            Ok(input) if kind == SourceKind::OciArchive => {
                let length = input.size();
                OciSource::from_archive(input.into_file(), length)
            }
            _ => OciSource::open(&absolute, kind),
        };
        let picked = opened.and_then(|source| {
            let image = source.pick(reference)?.clone();
            let platforms = match default {
                Some(_) => source.platform_manifests(&image)?,
                None => Vec::new(),
            };
            Ok((image, platforms, source))
        });
        match picked {
            Ok((_, platforms, _)) if default.is_some() && platforms.is_empty() => {
                self.fail(
                    file,
                    "glc::resolve::default-not-an-image",
                    format!(
                        "the default container `{}` holds no linux image: `podman pull` would find nothing to run",
                        default.unwrap_or_default()
                    ),
                    "this source",
                    "mark a container image default=#true: an image index with linux platforms, or an image whose config names os linux".to_owned(),
                );
                None
            }
            Ok((image, platforms, source)) => Some(ContainerSource {
                path: file.path.clone(),
                absolute,
                kind,
                digest: image.digest.to_string(),
                media_type: image.media_type,
                size: image.size,
                artifact_type: image.artifact_type,
                platforms,
                span: file.origin.span,
                opened: Some(crate::front::plan::OpenedSource(Arc::new(source))),
            }),
            Err(error) => {
                self.fail(
                    file,
                    "glc::resolve::container-source",
                    format!("`{}`: {error}", file.path),
                    "this source",
                    error.help(),
                );
                None
            }
        }
    }
}

fn article_for(role: &str) -> String {
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {role}")
}

/// "through the symlink `a/b` → `../../x`": the first link on the path, as written.
fn symlink_label(base: &Path, relative: &Path) -> String {
    match first_symlink(base, relative) {
        Some((link, target)) => format!(
            "through the symlink `{}` → `{}`",
            link.display(),
            target.display()
        ),
        None => "points outside the release directory".to_owned(),
    }
}

/// The first symlink on `relative`'s path (relative to `base`) and its target.
fn first_symlink(base: &Path, relative: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut path = base.to_path_buf();
    for component in relative.components() {
        path.push(component);
        if let Ok(target) = fs::read_link(&path) {
            let shown = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            return Some((shown, target));
        }
    }
    None
}

/// What to say about a missing file: a near name in its directory, or the missing directory.
/// Examples of a group of files shown in one error.
const EXAMPLES: usize = 3;

/// The one error for `files`, not found alike: in one missing directory, or of one node.
fn missing_report(files: &[&Missing]) -> Option<Diagnostic> {
    let first = files.first()?;
    let more = files.len() - 1;
    let label =
        |text: String| -> String { format!("{text} {}", first.described).trim_end().to_owned() };
    if more == 0 {
        let what = format!("`{}` not found", first.path);
        return Some(
            Diagnostic::error("glc::resolve::missing-file", what.clone())
                .label(first.span, label(what))
                .help(first.help.clone()),
        );
    }
    if let Some(directory) = &first.directory {
        let mut nodes: Vec<(usize, usize)> = files
            .iter()
            .map(|f| (f.span.offset(), f.span.len()))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut examples: Vec<String> = files
            .iter()
            .take(EXAMPLES)
            .map(|f| format!("`{}`", f.path))
            .collect();
        if files.len() > EXAMPLES {
            examples.push(format!("and {} more", files.len() - EXAMPLES));
        }
        let others = match nodes.len() {
            1 => String::new(),
            2 => ", and 1 more node".to_owned(),
            n => format!(", and {} more nodes", n - 1),
        };
        return Some(
            Diagnostic::error(
                "glc::resolve::missing-directory",
                format!(
                    "the directory `{directory}` does not exist; {} paths of the release lie in it",
                    files.len()
                ),
            )
            .label(
                first.span,
                format!("`{}` is in `{directory}`{others}", first.path),
            )
            .help(format!(
                "the files: {}; build the artifacts first, or fix the paths (relative to the release file's directory)",
                examples.join(", ")
            )),
        );
    }
    let noun = if more == 1 {
        "combination"
    } else {
        "combinations"
    };
    Some(
        Diagnostic::error(
            "glc::resolve::missing-file",
            format!(
                "`{}` not found, and {more} more files of this node",
                first.path
            ),
        )
        .label(
            first.span,
            label(format!("`{}` not found", first.path)) + &format!(", and {more} more {noun}"),
        )
        .help(first.help.clone()),
    )
}

/// The first directory on the way to `relative` (from the release file's directory `base`)
/// that does not exist.
fn missing_directory(base: &Path, relative: &Path) -> Option<String> {
    let mut ancestors: Vec<&Path> = relative
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .find(|a| {
            fs::symlink_metadata(base.join(a))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .map(|a| a.display().to_string())
}

fn missing_help(full: &Path, relative: &Path) -> String {
    let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
        return "paths are relative to the release file's directory".to_owned();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        let shown = relative
            .parent()
            .map_or_else(String::new, |p| p.display().to_string());
        return format!(
            "the directory `{shown}` does not exist; paths are relative to the release file's directory"
        );
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.as_str() != name)
        .collect();
    names.sort();
    match crate::diagnostic::did_you_mean(&name.to_string_lossy(), names.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None => "build the artifact first, or fix the path; paths are relative to the release file's directory".to_owned(),
    }
}

/// A POSIX tar has "ustar" at offset 257 of its first header. Read from the input as opened
/// (a fifo is refused when opened, never waited for).
fn is_tar(input: &Input) -> bool {
    let mut header = [0u8; 512];
    input.reader().read_exact(&mut header).is_ok() && &header[257..262] == b"ustar"
}

fn directory_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .map(|m| m.len())
        .sum()
}
