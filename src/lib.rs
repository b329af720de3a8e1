//! glc compiles a Garden Linux release description (`release.kdl`) into a reproducible OCI
//! image layout. The pipeline has one module a stage:
//!
//! parse → check → decode → expand → resolve → (emit)
//!
//! Each stage is a function from one value to the next and returns every diagnostic it finds.

pub mod build;
pub mod diagnostic;
pub mod front;
pub mod get;
pub mod inspect;
pub mod oci;
pub mod pull;
pub mod registry;
pub mod sign;
pub mod util;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use build::{assemble, cache, emit, output, record};
use diagnostic::{Diagnostic, Diagnostics, SourceFile};
use front::{check, decode, expand, flavors, parse, plan, resolve, schema, select};
use plan::ResolvedPlan;
use util::progress;

/// Everything besides the release file that changes what glc makes of it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub allow_outside: bool,
    /// `SOURCE_DATE_EPOCH`, which wins over the release's `created`.
    pub source_date_epoch: Option<i64>,
    /// `--only` patterns: build a part of the release. Empty: the whole release.
    pub only: Vec<String>,
    /// `--deny-warnings`: a warning fails the command, as an error would.
    pub deny_warnings: bool,
}

/// A release file read from disk: its text, and the directory its paths are relative to.
#[derive(Debug, Clone)]
pub struct ReleaseFile {
    pub source: Arc<SourceFile>,
    pub base_dir: PathBuf,
}

/// The largest release file glc reads. The reference release is 3 KiB, one of ten thousand
/// images a few hundred KiB; anything near this is not a release file.
pub const MAX_RELEASE_FILE: u64 = 16 << 20;

enum ReadError {
    Io(std::io::Error),
    /// What it is instead: "fifo", "directory", …
    NotRegular(&'static str),
    /// Its size.
    TooLarge(u64),
}

/// The bytes of a release file, refused at once if it is no regular file (a fifo is opened
/// without waiting for a writer) or larger than [`MAX_RELEASE_FILE`].
fn read_release_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed())
        .open(path)
        .map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if !metadata.is_file() {
        let kind = rustix::fs::FileType::from_raw_mode(metadata.mode());
        return Err(ReadError::NotRegular(oci::file::kind_name(kind)));
    }
    if metadata.len() > MAX_RELEASE_FILE {
        return Err(ReadError::TooLarge(metadata.len()));
    }
    let mut bytes = Vec::new();
    // One byte more shows a file that grew after it was measured.
    file.take(MAX_RELEASE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_RELEASE_FILE {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

impl ReleaseFile {
    /// Reads `path`; its name in diagnostics is `path` as given.
    pub fn read(path: &Path) -> Result<Self, Diagnostics> {
        let io_error = |error: std::io::Error| {
            vec![
                Diagnostic::error(
                    "glc::io",
                    format!("cannot read {}: {error}", path.display()),
                )
                .help("pass the path of a release file, e.g. `glc check release.kdl`"),
            ]
        };
        let bytes = read_release_file(path).map_err(|error| match error {
            ReadError::Io(error) => io_error(error),
            ReadError::NotRegular(kind) => vec![
                Diagnostic::error(
                    "glc::io",
                    format!("{} is a {kind}, not a regular file", path.display()),
                )
                .help("pass the path of a release file, e.g. `glc check release.kdl`"),
            ],
            ReadError::TooLarge(size) => vec![
                Diagnostic::error(
                    "glc::io",
                    format!(
                        "{} is {}, larger than the {} glc reads of a release file",
                        path.display(),
                        plan::human_size(size),
                        plan::human_size(MAX_RELEASE_FILE)
                    ),
                )
                .help("a release file is a few KiB of KDL; check that the path names one"),
            ],
        })?;
        let text = String::from_utf8(bytes).map_err(|error| {
            vec![
                Diagnostic::error(
                    "glc::io",
                    format!(
                        "{} is not UTF-8 text (invalid byte at offset {})",
                        path.display(),
                        error.utf8_error().valid_up_to()
                    ),
                )
                .help("KDL files are UTF-8; convert the file's encoding"),
            ]
        })?;
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Self {
            source: SourceFile::new(path.to_string_lossy(), text),
            base_dir,
        })
    }

    /// The front end of the pipeline: parse, check, decode, expand and resolve.
    pub fn compile(&self, options: &Options) -> Result<ResolvedPlan, Diagnostics> {
        self.compile_reading(options).map(|(plan, _)| plan)
    }

    /// [`ReleaseFile::compile`], and the files it read besides the release file and the
    /// plan's inputs (the flavors file), as named to open them.
    pub fn compile_reading(
        &self,
        options: &Options,
    ) -> Result<(ResolvedPlan, Vec<PathBuf>), Diagnostics> {
        let (expanded, reads) = self.expand_reading(options)?;
        let resolve_options = resolve::ResolveOptions {
            allow_outside: options.allow_outside,
        };
        let plan = resolve::resolve(expanded, &self.base_dir, &resolve_options, &self.source)?;
        deny_warnings(options, &plan.warnings)?;
        Ok((plan, reads))
    }

    /// Parse, check, decode, expand and select: the plan of paths, before any input file is
    /// looked at (`glc plan --inputs`). Its warnings are in the plan, not yet denied.
    pub fn expand(&self, options: &Options) -> Result<plan::ExpandedPlan, Diagnostics> {
        self.expand_reading(options).map(|(plan, _)| plan)
    }

    /// [`ReleaseFile::expand`], and the files it read besides the release file (the flavors
    /// file), as named to open them.
    fn expand_reading(
        &self,
        options: &Options,
    ) -> Result<(plan::ExpandedPlan, Vec<PathBuf>), Diagnostics> {
        let schema = schema::Schema::builtin().map_err(|error| {
            vec![Diagnostic::error(
                "glc::internal",
                format!("glc's built-in schema is broken: {error}"),
            )]
        })?;
        let document = parse::parse(&self.source)?;
        check::check(&document, schema, &self.source)?;
        let release = decode::decode(&document, &self.source)?;
        // The flavors file is read on every run: an edit of it changes the release.
        let flavors = match release
            .cloud_images
            .as_ref()
            .and_then(|c| c.flavors.as_ref())
        {
            Some(source) => Some(
                flavors::load(
                    &source.path.value,
                    &self.base_dir,
                    options.allow_outside,
                    (&self.source, source.path.span),
                )
                .map_err(|d| vec![d])?,
            ),
            None => None,
        };
        let reads = flavors
            .iter()
            .map(|file| PathBuf::from(file.source.name()))
            .collect();
        // Parts merge only with parts of the same release: the same file, and the same flavors.
        let digest_text = match &flavors {
            Some(file) => format!("{}\0{}", self.source.text(), file.source.text()),
            None => self.source.text().to_owned(),
        };
        let expand_options = expand::ExpandOptions {
            source_date_epoch: options.source_date_epoch,
            flavors,
        };
        let expanded = expand::expand(&release, &expand_options, &self.source)?;
        let selection = select::Selection::new(&options.only)?;
        select::select(
            expanded,
            &selection,
            select::release_file_digest(&digest_text),
        )
        .map(|plan| (plan, reads))
    }
}

/// With `--deny-warnings`, the warnings as errors.
pub fn deny_warnings(options: &Options, warnings: &[Diagnostic]) -> Result<(), Diagnostics> {
    if options.deny_warnings && !warnings.is_empty() {
        return Err(warnings
            .iter()
            .cloned()
            .map(|mut warning| {
                warning.severity = miette::Severity::Error;
                warning.help = Some(format!(
                    "{} (an error with --deny-warnings)",
                    warning.help.unwrap_or_default()
                ));
                warning
            })
            .collect());
    }
    Ok(())
}

/// Where and how `glc build` writes.
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    /// Replace a target that is not a layout glc wrote.
    pub force: bool,
    /// Link input files into the layout (reflink, else hard link) instead of copying them.
    pub link: bool,
    /// Use and keep the digest cache beside the target.
    pub cache: bool,
    /// How to show on stderr how far the input files are read (a bar only if there is much
    /// to read).
    pub progress: progress::Mode,
    /// Sign the layout with this key before it is put in place (`--sign-key`).
    pub sign_key: Option<Arc<sign::keys::PrivateKey>>,
}

/// Below this many bytes of input a build is over before a bar would say anything.
const PROGRESS_FROM: u64 = 256 << 20;

/// What a build did.
#[derive(Debug)]
pub struct BuildOutcome {
    pub report: assemble::BuildReport,
    /// The target already was this layout; nothing was written.
    pub up_to_date: bool,
    /// What the release leaves out without being wrong, to be said after the build.
    pub warnings: Diagnostics,
}

impl ReleaseFile {
    /// Compiles the release and writes its layout to `build.output`, whole or not at all.
    /// `waiting` is called with the holder's pid if another build holds the target's lock.
    pub fn build(
        &self,
        options: &Options,
        build: &BuildOptions,
        waiting: impl FnOnce(&str),
    ) -> Result<BuildOutcome, Diagnostics> {
        // Taken before anything is read (see `record`); only an unsigned build that keeps
        // the digest cache is recorded.
        let context = (build.cache && build.sign_key.is_none())
            .then(|| record::Context::new(self.source.name(), &settings(options, build)))
            .flatten();
        let mut waiting = Some(waiting);
        let mut say_waiting = |holder: &str| {
            if let Some(waiting) = waiting.take() {
                waiting(holder);
            }
        };
        // Where a build was recorded, the target is one a build wrote; else nothing is done
        // to it before the release is compiled and the output checked against its inputs.
        let target = output::Target::new(&build.output).ok();
        let mut lock = None;
        if let (Some(context), Some(target)) = (&context, &target)
            && target.record_path().exists()
        {
            lock = Some(target.lock(&mut say_waiting).map_err(Diagnostics::from)?);
            if let Some(report) = record::up_to_date(target, context) {
                // What the full build checks of the target before it finds it up to date.
                target
                    .check_replaceable(output::Replace::from(build.force))
                    .map_err(Diagnostics::from)?;
                return Ok(BuildOutcome {
                    report,
                    up_to_date: true,
                    warnings: Vec::new(),
                });
            }
        }
        let (plan, reads) = self.compile_reading(options)?;
        let release_file = PathBuf::from(self.source.name());
        refuse_overlap(
            &build.output,
            std::iter::once((
                format!("the release file {}", self.source.name()),
                release_file.as_path(),
            ))
            .chain(
                plan.input_paths()
                    .map(|(path, absolute)| (format!("the input `{path}`"), absolute)),
            ),
        )?;
        let target = match target {
            Some(target) => target,
            None => output::Target::new(&build.output).map_err(Diagnostics::from)?,
        };
        let _lock = match lock {
            Some(lock) => lock,
            None => target.lock(say_waiting).map_err(Diagnostics::from)?,
        };
        let cache = if build.cache {
            cache::DigestCache::load(&target.cache_path())
        } else {
            cache::DigestCache::off()
        };
        // With every input's digest known, the whole layout can be computed without reading
        // an input, and a target that already is that layout left alone. Else a dry pass
        // would read the inputs it does not know once to hash them and once more to copy them:
        // the real pass hashes while it copies, and its layout is dropped if the target
        // already is it.
        let dry_first = !cache.is_empty()
            && plan
                .input_files()
                .all(|file| file.kind == plan::FileKind::File && cache.knows(&file.absolute));
        let outcome = write_layout_locked(
            &target,
            Placing {
                force: build.force,
                reuse_previous: build.cache,
                unchanged: if dry_first {
                    Unchanged::DryFirst
                } else {
                    Unchanged::AfterWriting
                },
                sign_key: build.sign_key.as_deref(),
            },
            |layout, previous| {
                let dry = layout.is_dry();
                let (files, bytes) = inputs(&plan);
                let shown = match build.progress {
                    progress::Mode::Bar if bytes < PROGRESS_FROM => None,
                    progress::Mode::Off => None,
                    mode => (!dry).then_some(mode),
                };
                let bar = shown.map(|mode| {
                    progress::Progress::with_items(mode, "build", bytes, Some(("files", files)))
                });
                let emit_options = emit::EmitOptions {
                    link: build.link && !dry,
                    previous,
                    cache: &cache,
                    progress: bar.as_ref(),
                };
                let report = emit::emit(&plan, layout, &self.source, &emit_options);
                if let Some(bar) = bar {
                    bar.finish();
                }
                report
            },
        )?;
        cache.save();
        // A build with warnings is not recorded: an up-to-date one would not say them.
        if let Some(context) = &context
            && plan.warnings.is_empty()
            && outcome.warnings.is_empty()
        {
            record::save(
                &target,
                context,
                &release_file,
                &reads,
                &self.base_dir,
                &plan,
                &outcome.report,
            );
        }
        let mut warnings = plan.warnings.clone();
        warnings.extend(outcome.warnings);
        Ok(BuildOutcome {
            warnings,
            ..outcome
        })
    }
}

/// What decides the layout a build writes besides the files it reads: every option that
/// changes it, and `SOURCE_DATE_EPOCH` (in `options`).
fn settings(options: &Options, build: &BuildOptions) -> String {
    let Options {
        allow_outside,
        source_date_epoch,
        only,
        deny_warnings,
    } = options;
    format!(
        "allow_outside {allow_outside}\nsource_date_epoch {source_date_epoch:?}\nonly {only:?}\n\
         deny_warnings {deny_warnings}\nlink {}",
        build.link
    )
}

/// When a target that already is the layout to write is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unchanged {
    /// `emit` first runs dry; if the target already is its layout, nothing is written.
    /// Otherwise as [`Unchanged::AfterWriting`].
    DryFirst,
    /// The layout is written beside the target, and dropped if the target already is it.
    AfterWriting,
    /// The target is replaced whatever it holds: it is known to be damaged.
    Never,
}

/// How a layout is put in place over what its target holds.
#[derive(Clone, Copy)]
pub(crate) struct Placing<'k> {
    /// Replace a target that is not a layout glc wrote.
    pub force: bool,
    /// Blobs may be taken from the layout being replaced; without it nothing is taken on
    /// trust.
    pub reuse_previous: bool,
    /// When a target that already is the layout is left alone.
    pub unchanged: Unchanged,
    /// The key the staged layout is signed with before it is put in place.
    pub sign_key: Option<&'k sign::keys::PrivateKey>,
}

/// Writes a layout into `output`, whole or not at all, as `placing` says. `emit` writes into
/// the writer it is given, with the layout being replaced (if blobs may be taken from it).
pub(crate) fn write_layout(
    output: &Path,
    placing: Placing<'_>,
    waiting: impl FnOnce(&str),
    emit: impl Fn(
        oci::layout::LayoutWriter,
        Option<&Path>,
    ) -> Result<assemble::BuildReport, Diagnostics>,
) -> Result<BuildOutcome, Diagnostics> {
    let target = output::Target::new(output).map_err(Diagnostics::from)?;
    let _lock = target.lock(waiting).map_err(Diagnostics::from)?;
    write_layout_locked(&target, placing, emit)
}

/// [`write_layout`] into a target whose lock the caller holds.
pub(crate) fn write_layout_locked(
    target: &output::Target,
    Placing {
        force,
        reuse_previous,
        unchanged,
        sign_key,
    }: Placing<'_>,
    emit: impl Fn(
        oci::layout::LayoutWriter,
        Option<&Path>,
    ) -> Result<assemble::BuildReport, Diagnostics>,
) -> Result<BuildOutcome, Diagnostics> {
    target.clean_stale().map_err(Diagnostics::from)?;
    target.check_replaceable(output::Replace::from(force))?;
    // Without reuse nothing is taken on trust: not even the previous layout's blobs.
    let previous = if reuse_previous {
        target.previous_layout()
    } else {
        None
    };
    // A dry run computes the unsigned layout, which a signed target never is.
    if let Some(previous) = previous
        && unchanged == Unchanged::DryFirst
        && sign_key.is_none()
    {
        let dry = emit(oci::layout::LayoutWriter::dry(), Some(previous))?;
        if target.holds(&dry.index, &dry.blob_list) {
            return Ok(BuildOutcome {
                report: dry,
                up_to_date: true,
                warnings: Vec::new(),
            });
        }
    }
    // Without a key, the signatures a replaced layout holds that the new one lacks go with it.
    let signed_before = target
        .previous_layout()
        .filter(|_| sign_key.is_none())
        .and_then(|root| {
            oci::file::read_regular(&root.join("index.json"), oci::limits::MAX_DOCUMENT).ok()
        })
        .map(|index| sign::signature_tags(&index))
        .unwrap_or_default();
    let staging = target.staging();
    let result = oci::layout::LayoutWriter::create(&staging)
        .map_err(|e| {
            Diagnostics::from(output::OutputError::Io(
                format!("cannot create {}", staging.display()),
                e,
            ))
        })
        .and_then(|layout| emit(layout, previous))
        .and_then(|mut report| {
            if let Some(key) = sign_key {
                let signing = sign::plan(&staging, key, report.repository.as_deref())?;
                sign::write(&staging, &signing, &staging.join("signing"))?;
                sign::report(&mut report, &signing);
            }
            Ok(report)
        })
        .and_then(|report| {
            // Written without a dry pass, the layout may be the one the target already is.
            if previous.is_some()
                && unchanged != Unchanged::Never
                && target.holds(&report.index, &report.blob_list)
            {
                return Ok((report, true));
            }
            target
                .replace_with(&staging)
                .map(|()| (report, false))
                .map_err(Diagnostics::from)
        });
    if (result.is_err() || result.as_ref().is_ok_and(|(_, same)| *same)) && staging.exists() {
        // The previous layout, if any, is untouched; only the staging directory goes.
        let _ = std::fs::remove_dir_all(&staging);
    }
    let (report, up_to_date) = result?;
    let mut warnings = Vec::new();
    let dropped = signed_before
        .difference(&sign::signature_tags(&report.index))
        .count();
    if dropped > 0 && !up_to_date {
        let output = target.path().display();
        warnings.push(
            Diagnostic::warning(
                "glc::output::signatures-dropped",
                format!(
                    "{output} held {}; written again without --sign-key, it holds none",
                    plan::count(dropped, "signature")
                ),
            )
            .help(format!(
                "sign it: `glc sign {output} --key KEY`; pass --sign-key KEY to keep a layout signed when writing it again"
            )),
        );
    }
    Ok(BuildOutcome {
        report,
        up_to_date,
        warnings,
    })
}

/// The input files a build reads, each once (a file may be a layer of many images): how
/// many, and their bytes.
fn inputs(plan: &plan::ResolvedPlan) -> (u64, u64) {
    let mut seen = std::collections::HashSet::new();
    plan.input_files()
        .filter(|f| seen.insert(&f.absolute))
        .fold((0, 0), |(files, bytes), f| (files + 1, bytes + f.size))
}

/// Refuses an output that is, holds or lies inside anything the command reads: replacing it
/// would destroy inputs, and writing inside one would read its own output.
pub(crate) fn refuse_overlap<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = (String, &'a Path)>,
) -> Result<(), Diagnostics> {
    let Some(target) = absolute_output(output) else {
        // Not a path glc can write to; writing it says why.
        return Ok(());
    };
    let mut clashes = inputs.into_iter().filter_map(|(what, input)| {
        let input = input.canonicalize().ok()?;
        let relation = if input == target {
            "is"
        } else if input.starts_with(&target) {
            "holds"
        } else if target.starts_with(&input) {
            "lies inside"
        } else {
            return None;
        };
        Some(format!("{relation} {what}"))
    });
    let Some(first) = clashes.next() else {
        return Ok(());
    };
    let more = clashes.count();
    let more = match more {
        0 => String::new(),
        1 => " (and meets 1 more input)".to_owned(),
        n => format!(" (and meets {n} more inputs)"),
    };
    Err(vec![
        Diagnostic::error(
            "glc::usage::output-overlaps-input",
            format!("the output {} {first}{more}", output.display()),
        )
        .help("write the layout to a directory of its own, outside every input, e.g. `-o out`; --force does not change this"),
    ])
}

/// Where writing `output` would write: the path with every link resolved, or, if it does not
/// exist yet, its resolved parent and its name.
fn absolute_output(output: &Path) -> Option<PathBuf> {
    if let Ok(path) = output.canonicalize() {
        return Some(path);
    }
    let name = output.file_name()?;
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}
