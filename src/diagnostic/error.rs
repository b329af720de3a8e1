//! The back end's errors as types, one per layer, and the one place they become diagnostics:
//! a failure site says what failed with the values it has; code, message and help are
//! written here.

use std::io;
use std::path::PathBuf;

use crate::build::output::OutputError;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::oci::dirtar::PackError;
use crate::oci::layout::InputError;
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
