//! The back end's errors as types, one per layer, and the one place they become diagnostics:
//! a failure site says what failed with the values it has; code, message and help are
//! written here.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use crate::build::output::OutputError;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::get::{Asked, GetError, ReleaseTags};
use crate::oci::dirtar::PackError;
use crate::oci::layout::InputError;
use crate::oci::printable;
use crate::registry::push::PushError;
use crate::registry::{self, ErrorKind};
use crate::sign::keys::KeyError;

/// Why writing a layout failed: staging its inputs (emit) or its documents (assemble).
#[derive(Debug)]
pub enum EmitError {
    /// Writing into the layout failed: what was being written, and why.
    Io(&'static str, io::Error),
    /// An input file, by its path as the release file writes it, was not read whole as it
    /// was, or its blob not written.
    Input(String, InputError),
    /// A directory, by its path as written, could not be packed as a tar.
    Pack(String, PackError),
    /// `created`, as given, is before 1970.
    CreatedBefore1970(String),
    /// A document glc makes could not be made: a bug in glc.
    Internal(String),
}

impl EmitError {
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// For `map_err`: an I/O error while doing `what` ("cannot write a blob").
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |error| Self::Io(what, error)
    }
}

/// Why signing a layout failed.
#[derive(Debug)]
pub enum SignError {
    /// The layout cannot be read as one glc wrote: what is wrong with it.
    Unreadable(String),
    /// The existing signatures of a subject (its name, their tag) cannot be read: why.
    SignaturesUnreadable {
        subject: String,
        tag: String,
        error: String,
    },
    /// The existing signatures of a subject (its name, their tag) are not cosign's: why.
    NotCosign {
        subject: String,
        tag: String,
        error: String,
    },
    /// The layout is a part of a release.
    Part(PathBuf),
    /// Neither the layout nor the command line names a repository.
    NoRepository(PathBuf),
    /// The key did not sign: why.
    Key(String),
    /// The directory holds no layout glc wrote.
    NotGlcs(PathBuf),
    /// The layout's directory cannot be used.
    Output(OutputError),
    /// Writing into the layout failed: what was being written, and why.
    Io(String, io::Error),
    /// A document glc makes could not be made: a bug in glc.
    Internal(String),
}

impl SignError {
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

const UNREADABLE_HELP: &str = "pass a layout glc wrote, e.g. the output of `glc build`; `glc verify` says what is wrong with it";

impl From<SignError> for Diagnostic {
    fn from(error: SignError) -> Self {
        let (message, help) = match error {
            SignError::Unreadable(message) => (message, UNREADABLE_HELP),
            SignError::SignaturesUnreadable {
                subject,
                tag,
                error,
            } => (
                format!("the signatures of {subject} ({tag}): {error}"),
                UNREADABLE_HELP,
            ),
            SignError::NotCosign {
                subject,
                tag,
                error,
            } => (
                format!(
                    "the signatures of {subject} ({tag}) are not a manifest cosign writes: {error}"
                ),
                "remove that tag from index.json, or sign with cosign",
            ),
            SignError::Part(root) => (
                format!(
                    "{} is a part of a release (`glc build --only`), which glc does not sign",
                    root.display()
                ),
                "merge the parts unsigned and sign the merge: `glc merge PART… -o DIR --sign-key FILE`",
            ),
            SignError::NoRepository(root) => (
                format!(
                    "{} names no repository for the signatures' docker-reference",
                    root.display()
                ),
                "set `repository` in the release file, or pass --repository REGISTRY/REPO (where the layout will be pushed)",
            ),
            SignError::Key(message) => (
                message,
                "use another key; `openssl pkey -in KEY -check` checks it",
            ),
            SignError::NotGlcs(layout) => (
                format!("{} is not a layout glc wrote", layout.display()),
                "glc signs the layouts it writes; build one with `glc build`, or sign this one with cosign",
            ),
            SignError::Output(error) => (
                error.to_string(),
                "pass the directory of a layout glc wrote",
            ),
            SignError::Io(what, error) => (
                format!("{what}: {error}"),
                "check free space and permissions of the layout's directory",
            ),
            SignError::Internal(error) => return EmitError::Internal(error).into(),
        };
        Diagnostic::error("glc::sign", message).help(help)
    }
}

impl From<SignError> for Diagnostics {
    fn from(error: SignError) -> Self {
        vec![error.into()]
    }
}

const OUTPUT_HELP: &str = "check free space and permissions of the output directory";

impl From<EmitError> for Diagnostic {
    fn from(error: EmitError) -> Self {
        match error {
            EmitError::Io(what, error) => {
                Diagnostic::error("glc::build::io", format!("{what}: {error}")).help(OUTPUT_HELP)
            }
            EmitError::Input(path, error) => {
                let (code, help) = match &error {
                    InputError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied => (
                        "glc::build::input",
                        "make the file readable by the user glc runs as",
                    ),
                    InputError::Io(_) => ("glc::build::input", "check that the file can be read"),
                    InputError::NotRegular(_) => (
                        "glc::build::input",
                        "the file was replaced while glc ran; name a regular file or a directory",
                    ),
                    InputError::Changed => (
                        "glc::build::input-changed",
                        "build again once whatever writes the file has finished",
                    ),
                    InputError::Write(_) => ("glc::build::io", OUTPUT_HELP),
                };
                Diagnostic::error(code, error.message(&path)).help(help)
            }
            EmitError::Pack(path, error) => {
                Diagnostic::error("glc::build::pack", format!("cannot pack `{path}`: {error}"))
                    .help("directories are packed as they are; links must stay inside them, and devices, fifos and sockets cannot be packed")
            }
            EmitError::CreatedBefore1970(created) => {
                Diagnostic::error("glc::build::created", format!("{created} is before 1970"))
                    .help("directories are packed with this time as mtime; use a later `created` or SOURCE_DATE_EPOCH")
            }
            EmitError::Internal(error) => Diagnostic::error(
                "glc::internal",
                format!("cannot build an OCI document: {error}"),
            )
            .help("this is a bug in glc; please report it"),
        }
    }
}

impl From<EmitError> for Diagnostics {
    fn from(error: EmitError) -> Self {
        vec![error.into()]
    }
}

impl From<OutputError> for Diagnostics {
    fn from(error: OutputError) -> Self {
        let help = match &error {
            OutputError::Foreign(..) => {
                "glc replaces only layouts it wrote, holding nothing else; choose a new or empty directory, move the other files out, or pass --force to replace it all"
            }
            OutputError::NotOurs(..) => {
                "remove it, and glc makes it again as a regular file of its own"
            }
            OutputError::Io(_, error) if error.kind() == io::ErrorKind::InvalidInput => {
                "name a new directory for the layout, e.g. `-o out`"
            }
            OutputError::Io(..) => {
                "check that the output's directory exists, is writable and has free space"
            }
        };
        vec![Diagnostic::error("glc::build::output", error.to_string()).help(help)]
    }
}

impl From<KeyError> for Diagnostics {
    fn from(error: KeyError) -> Self {
        vec![Diagnostic::error("glc::key", error.message).help(error.help)]
    }
}

/// The command a registry's error is met in, for its codes and for how to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Push,
    Pull,
}

const CREDENTIALS_HELP: &str = "give credentials in GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD with GLC_REGISTRY_HOST naming the registry, or log in with `podman login` / `docker login`";

/// A registry's error as push and pull say it, in one place: the code and help by its kind,
/// the message followed by what the command left behind (`state`).
#[must_use]
pub fn registry_diagnostic(error: &registry::Error, state: &str, transfer: Transfer) -> Diagnostic {
    let (auth, host, tls, other, kept, rerun) = match transfer {
        Transfer::Push => (
            "glc::push::auth",
            "glc::push::host",
            "glc::push::tls",
            "glc::push::registry",
            "the upload sessions are kept: the next `glc push` goes on from where the registry is",
            "run the same `glc push` again once the registry is reachable: it uploads only what is missing; `--retries N` allows more tries",
        ),
        Transfer::Pull => (
            "glc::pull::auth",
            "glc::pull::host",
            "glc::pull::tls",
            "glc::pull::registry",
            "what was downloaded is kept beside the target: the next `glc pull` goes on from there",
            "run the same `glc pull` again once the registry is reachable: it resumes, and downloads only what is missing",
        ),
    };
    let (code, help) = match error.kind {
        ErrorKind::Interrupted => (crate::util::interrupt::CODE, kept),
        ErrorKind::Auth => (auth, CREDENTIALS_HELP),
        ErrorKind::UnknownHost => (host, registry::UNKNOWN_HOST),
        ErrorKind::Final => (other, registry::FINAL),
        ErrorKind::Tls => (tls, registry::BAD_CERTIFICATE),
        ErrorKind::Other => (other, rerun),
    };
    Diagnostic::error(code, format!("{error}; {state}")).help(help)
}

impl From<PushError> for Diagnostic {
    fn from(error: PushError) -> Self {
        match error {
            PushError::Push {
                code,
                message,
                help,
            } => Diagnostic::error(code, message).maybe_help(help),
            PushError::Registry { error, state } => {
                registry_diagnostic(&error, &state, Transfer::Push)
            }
        }
    }
}

const SIGNATURE_HELP: &str = "get images only from a release signed by the key you trust: check the key, or `glc verify SOURCE --key PUB`";

const SELECT_BY_VALUES: &str = "select by matrix values as `platform=aws,arch=amd64`";

/// `\n  TAGS → DIGEST`, a line a release.
fn release_lines(releases: &[ReleaseTags]) -> String {
    let mut lines = String::new();
    for (tags, digest) in releases {
        let tags: Vec<String> = tags.iter().map(|t| printable(t).into_owned()).collect();
        let _ = write!(lines, "\n  {} → {digest}", tags.join(", "));
    }
    lines
}

impl From<GetError> for Diagnostic {
    #[allow(clippy::too_many_lines)] // one arm a failure, each short
    fn from(error: GetError) -> Self {
        let (code, message, help): (&str, String, String) = match error {
            GetError::Layout(message) => (
                "glc::get::source",
                message,
                "pass an OCI image layout directory of a release, e.g. the output of `glc build`"
                    .into(),
            ),
            GetError::Registry(error) => {
                let help = match error.kind {
                    ErrorKind::Auth => CREDENTIALS_HELP,
                    ErrorKind::Tls => registry::BAD_CERTIFICATE,
                    ErrorKind::UnknownHost => registry::UNKNOWN_HOST,
                    ErrorKind::Final => registry::FINAL,
                    // `glc get` does not stop on signals: never interrupted.
                    ErrorKind::Other | ErrorKind::Interrupted => {
                        "check the registry's address, and run the same `glc get` again once it is reachable (`--retries N` allows more tries)"
                    }
                };
                ("glc::get::source", error.message, help.into())
            }
            GetError::Damaged { source, problem } => (
                "glc::get::source",
                problem,
                format!(
                    "`glc verify {source}` says what is wrong with it; fetch or build it again"
                ),
            ),
            GetError::NoReleaseTag {
                source,
                tag,
                releases,
            } => (
                "glc::get::release",
                format!(
                    "{source} has no release tag `{}`; its release tags:{}",
                    printable(&tag),
                    if releases.is_empty() {
                        " none".to_owned()
                    } else {
                        release_lines(&releases)
                    }
                ),
                "pass one of them with --tag".into(),
            ),
            GetError::NoRelease { source } => (
                "glc::get::release",
                format!(
                    "{source} holds no release: no tag names an index of artifactType {}",
                    crate::build::assemble::RELEASE
                ),
                "pass the layout of a whole release (`glc build` or `glc merge`), not a part"
                    .into(),
            ),
            GetError::Releases { source, releases } => (
                "glc::get::release",
                format!(
                    "{source} holds {} releases:{}",
                    releases.len(),
                    release_lines(&releases)
                ),
                "choose one with --tag TAG".into(),
            ),
            GetError::PartNotItsRecord { source, tag } => (
                "glc::get::release",
                format!("{source}: the part at `{tag}` is not what its record makes of it"),
                "the part is damaged, or was pushed by another version of glc; push it again"
                    .into(),
            ),
            GetError::NotKeyValue(pair) => (
                "glc::get::select",
                format!("`{}` is not `key=value`", printable(&pair)),
                SELECT_BY_VALUES.into(),
            ),
            GetError::UnknownKey { key, keys } => (
                "glc::get::select",
                format!(
                    "the release's matrix has no key `{}`; its keys: {}",
                    printable(&key),
                    if keys.is_empty() {
                        "none".to_owned()
                    } else {
                        crate::diagnostic::list(&keys)
                    }
                ),
                format!("{SELECT_BY_VALUES}, or by cname"),
            ),
            GetError::NotOne {
                source,
                selector,
                matched,
                shown,
            } => {
                let mut message = if matched == 0 {
                    format!(
                        "no cloud image of {source} matches `{}`; its images:",
                        printable(&selector)
                    )
                } else {
                    format!(
                        "`{}` matches {matched} cloud images of {source}:",
                        printable(&selector)
                    )
                };
                for image in shown {
                    message.push_str("\n  ");
                    message.push_str(&image);
                }
                (
                    "glc::get::select",
                    message,
                    "name one image: its cname, a prefix only it has, or matrix values such as `platform=aws,arch=amd64`; `glc get SOURCE . --list` lists them".into(),
                )
            }
            GetError::OutputIsDirectory(path) => (
                "glc::get::output",
                format!("{} is a directory", path.display()),
                "name the file to write, e.g. `-o kernel.vmlinuz`, or `-o -` for standard output"
                    .into(),
            ),
            GetError::WritingIntoDirectory(path) => (
                "glc::get::output",
                format!("{} is a directory", path.display()),
                "name the file to write, e.g. -o DIR/NAME".into(),
            ),
            GetError::NoSuchFile {
                cname,
                asked,
                holds,
            } => {
                let cname = printable(&cname);
                let message = match asked {
                    Asked::Nothing => format!("say which file of {cname} to get; it holds:"),
                    Asked::Role(name) => format!("{cname} has no {name}; it holds:"),
                    Asked::File(name) => format!(
                        "{cname} has no file titled `{}`; it holds:",
                        printable(&name)
                    ),
                    Asked::Attachment(kind) => format!(
                        "{cname} has no attachment `{}`; it holds:",
                        printable(&kind)
                    ),
                };
                (
                    "glc::get::what",
                    format!("{message}{holds}"),
                    "choose one with --role ROLE, --file NAME or --attachment KIND".into(),
                )
            }
            GetError::SeveralAttachments {
                cname,
                kind,
                digests,
            } => (
                "glc::get::what",
                format!(
                    "{} has {} attachments `{}`: {}",
                    printable(&cname),
                    digests.len(),
                    printable(&kind),
                    digests.join(", ")
                ),
                "fetch the one you want by digest with an OCI client (oras, crane)".into(),
            ),
            GetError::NoMetadataFile { name, titles } => (
                "glc::get::what",
                format!(
                    "the release's metadata has no file titled `{}`; it holds:{}",
                    printable(&name),
                    titles.iter().fold(String::new(), |mut lines, t| {
                        let _ = write!(lines, "\n  {}", printable(t));
                        lines
                    })
                ),
                "name one of them with --metadata NAME".into(),
            ),
            GetError::PartUnsigned { source, tag } => (
                "glc::get::signature",
                format!("{source}: `{tag}` is a part, which is never signed"),
                "get from the merged release's tag with --key, or from the part without it".into(),
            ),
            GetError::Unsignable(digest) => (
                "glc::get::signature",
                format!("{digest} cannot be signed in cosign's tag scheme"),
                SIGNATURE_HELP.into(),
            ),
            GetError::NotSigned { what, digest, tag } => (
                "glc::get::signature",
                format!("{what} {digest} is not signed: no tag {tag}"),
                SIGNATURE_HELP.into(),
            ),
            GetError::BadSignature {
                what,
                digest,
                problem,
            } => (
                "glc::get::signature",
                format!("{what} {digest}: {problem}"),
                SIGNATURE_HELP.into(),
            ),
            GetError::Io { what, error } => (
                "glc::io",
                format!("{what}: {error}"),
                "check the output's directory: free space, permissions".into(),
            ),
            GetError::Write(error) => (
                "glc::io",
                format!("cannot write: {error}"),
                "check the output's free space and permissions".into(),
            ),
        };
        Diagnostic::error(code, message).help(help)
    }
}

impl From<GetError> for Diagnostics {
    fn from(error: GetError) -> Self {
        vec![error.into()]
    }
}
