//! The commands of `glc`, one file each: its arguments, its run and how it says what it did.
//! What they share lives here: the message format, the renderer of diagnostics, the summary
//! line of `--message-format json`, the waiting message, writing to stdout, reading keys.

pub mod build;
pub mod check;
pub mod copy;
pub mod fmt;
pub mod get;
pub mod inspect;
pub mod manual;
pub mod merge;
mod merge_push;
pub mod plan;
pub mod pull;
pub mod push;
pub mod schema;
pub mod sign;
pub mod verify;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;
use glc::Options;
use glc::ReleaseFile;
use glc::diagnostic::{Diagnostic, Diagnostics, Renderer};
use glc::front::plan::ResolvedPlan;
use glc::sign::keys::PrivateKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

/// How a command failed.
#[derive(Debug)]
pub enum Failure {
    /// What is wrong, still to be said.
    Diagnostics(Diagnostics),
    /// The command's output has said what is wrong already (verify's findings): exit 1.
    Reported,
}

impl From<Diagnostics> for Failure {
    fn from(diagnostics: Diagnostics) -> Self {
        Self::Diagnostics(diagnostics)
    }
}

/// What every command's run gets besides its arguments: how to report, and since when it runs.
#[derive(Clone, Copy)]
pub struct Context {
    pub format: MessageFormat,
    pub started: Instant,
}

impl Context {
    pub fn json(self) -> bool {
        self.format == MessageFormat::Json
    }

    /// The summary line of a command whose output is on stdout: only with
    /// `--message-format json`, where every success ends with one.
    pub fn summary(self, command: &str, fields: impl FnOnce() -> serde_json::Value) {
        if self.json() {
            summary_json(command, self.started, fields());
        }
    }
}

/// How glc speaks to a registry (push, pull, and get from a registry).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP (the default only for localhost and 127.0.0.1).
    #[arg(long)]
    plain_http: bool,
    /// Trust the certificates of this PEM file too.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Retries of a request on 5xx, 429, timeouts and broken connections.
    #[arg(long, default_value_t = 5, value_name = "N")]
    retries: u32,
}

impl RegistryArgs {
    pub fn options(self) -> glc::registry::Options {
        glc::registry::Options {
            plain_http: self.plain_http,
            ca_file: self.ca_file,
            tries: self.retries.saturating_add(1),
            ..glc::registry::Options::default()
        }
    }

    /// [`RegistryArgs::options`] with upload sessions kept on disk: a push, merge or copy
    /// killed in a big blob is resumed by the next from the registry's offset.
    pub fn resumable(self) -> glc::registry::Options {
        glc::registry::Options {
            sessions_dir: glc::registry::sessions::Sessions::default_dir(),
            ..self.options()
        }
    }
}

/// What a push, merge or copy does with each tag it writes: with `--message-format json`
/// (and not `-q`), a line of its own.
pub fn tag_line(cx: Context, quiet: bool) -> impl FnMut(&glc::registry::push::PushedTag) {
    move |tag| {
        if cx.json() && !quiet {
            emit_json(&serde_json::json!({
                "type": "tag",
                "tag": tag.tag,
                "digest": tag.digest,
                "destination": tag.destination,
                "unchanged": tag.unchanged,
            }));
        }
    }
}

#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PlacingArgs {
    /// Link input files into the layout instead of copying them: a reflink where the
    /// filesystem can, else a hard link (then rewriting an input in place changes the layout).
    #[arg(long)]
    pub link: bool,
    /// Trust nothing from earlier runs: neither the digest cache beside the output nor the
    /// blobs of the layout being replaced; read and hash every input again.
    #[arg(long)]
    pub no_cache: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The release file, e.g. release.kdl.
    pub file: PathBuf,
    /// Accept paths that leave the release file's directory.
    #[arg(long)]
    allow_outside: bool,
    /// Only the cloud images and containers whose names match this glob (repeatable; a group's
    /// name selects its containers): a part of the release, to be joined by `glc merge`.
    #[arg(long, value_name = "PATTERN")]
    only: Vec<String>,
    /// Fail on warnings (what the release leaves out without being wrong), as on errors.
    #[arg(long)]
    deny_warnings: bool,
}

impl CompileArgs {
    pub fn options(&self) -> Result<Options, Diagnostics> {
        Ok(Options {
            allow_outside: self.allow_outside,
            source_date_epoch: source_date_epoch()?,
            only: self.only.clone(),
            deny_warnings: self.deny_warnings,
        })
    }
}

/// Compiles the release, and says its warnings.
pub fn compile(args: &CompileArgs, format: MessageFormat) -> Result<ResolvedPlan, Diagnostics> {
    let plan = ReleaseFile::read(&args.file)?.compile(&args.options()?)?;
    warn(format, &plan.warnings);
    Ok(plan)
}

/// The options of deriving a whole release again (`--release` of merge and verify).
pub fn derive_options(allow_outside: bool) -> Result<Options, Diagnostics> {
    Ok(Options {
        allow_outside,
        source_date_epoch: source_date_epoch()?,
        only: Vec::new(),
        deny_warnings: false,
    })
}

/// Says warnings on stderr, for people or as JSON lines.
pub fn warn(format: MessageFormat, warnings: &[Diagnostic]) {
    if warnings.is_empty() {
        return;
    }
    let out = reporter(format).each(warnings);
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// `SOURCE_DATE_EPOCH` as <https://reproducible-builds.org/specs/source-date-epoch/> defines it.
fn source_date_epoch() -> Result<Option<i64>, Diagnostics> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => value.parse().map(Some).map_err(|_| {
            vec![
                Diagnostic::error("glc::env::source-date-epoch", format!("SOURCE_DATE_EPOCH={value:?} is not a number"))
                    .help("set it to seconds since 1970-01-01 UTC, e.g. `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`"),
            ]
        }),
    }
}

/// Writes one JSON line to stderr.
pub fn emit_json(value: &impl serde::Serialize) {
    if let Ok(mut line) = serde_json::to_string(value) {
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The last line of a successful run with `--message-format json`: what was done, in how long.
pub fn summary_json(command: &str, started: Instant, mut fields: serde_json::Value) {
    if let Some(object) = fields.as_object_mut() {
        let mut summary = serde_json::Map::new();
        summary.insert("type".to_owned(), "summary".into());
        summary.insert("command".to_owned(), command.into());
        summary.append(object);
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        summary.insert("duration_ms".to_owned(), millis.into());
        emit_json(&summary);
    }
}

/// A bar for a person watching a terminal, a line now and then for a pipe or a log; nothing
/// where stderr is to hold only JSON or nothing.
pub fn progress_mode(quiet: bool, format: MessageFormat) -> glc::util::progress::Mode {
    if quiet || format == MessageFormat::Json {
        glc::util::progress::Mode::Off
    } else if std::io::stderr().is_terminal() {
        glc::util::progress::Mode::Bar
    } else {
        glc::util::progress::Mode::Lines
    }
}

/// Says that another glc holds the lock of `output`, and that this one waits for it.
pub fn waiting(format: MessageFormat, output: &Path, holder: &str) {
    let message = format!(
        "waiting for the build (pid {holder}) that is writing {}",
        output.display()
    );
    match format {
        MessageFormat::Human => eprintln!("glc: {message}"),
        MessageFormat::Json => {
            let mut notice = Diagnostic::error("glc::lock::waiting", message);
            notice.severity = miette::Severity::Advice;
            emit_json(&notice.to_json());
        }
    }
}

/// A private key, with a warning on stderr if others may read it.
pub fn load_private_key(
    path: &Path,
    format: MessageFormat,
) -> Result<Arc<PrivateKey>, Diagnostics> {
    use std::os::unix::ffi::OsStringExt;
    let key = PrivateKey::load(path, || match std::env::var_os("COSIGN_PASSWORD") {
        Some(password) => Ok(Some(zeroize::Zeroizing::new(password.into_vec()))),
        // Asked for only where a person can answer.
        None if std::io::stdin().is_terminal() => glc::sign::keys::ask_password(path),
        None => Ok(None),
    })?;
    if let Some(warning) = glc::sign::keys::exposure_warning(path) {
        match format {
            MessageFormat::Human => eprintln!("glc: warning: {warning}"),
            MessageFormat::Json => {
                emit_json(&Diagnostic::warning("glc::key::exposed", warning).to_json());
            }
        }
    }
    Ok(Arc::new(key))
}

/// A public key given with `--key`, if one was.
pub fn load_public_key(
    path: Option<&Path>,
) -> Result<Option<glc::sign::keys::PublicKey>, Diagnostics> {
    path.map(|key| glc::sign::keys::PublicKey::load(key).map_err(Diagnostics::from))
        .transpose()
}

/// `--digests FILE`: the report as JSON, written whole (`-`: to standard output).
pub fn write_digests(
    digests: Option<&Path>,
    report: &impl serde::Serialize,
) -> Result<(), Diagnostics> {
    let Some(path) = digests else {
        return Ok(());
    };
    let json = to_json(report)?;
    if path.as_os_str() == "-" {
        return write_stdout(&json);
    }
    glc::util::atomic::write_new_atomically(path, json.as_bytes()).map_err(|e| {
        vec![Diagnostic::error(
            "glc::io",
            format!("cannot write {}: {e}", path.display()),
        )]
    })
}

pub fn to_json(value: &impl serde::Serialize) -> Result<String, Diagnostics> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|error| {
            vec![Diagnostic::error(
                "glc::internal",
                format!("cannot serialize the output: {error}"),
            )]
        })
}

pub fn write_stdout(text: &str) -> Result<(), Diagnostics> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`glc plan | head`) is the reader's choice, not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(vec![Diagnostic::error(
                "glc::io",
                format!("cannot write to standard output: {error}"),
            )])
        }
        _ => Ok(()),
    }
}

/// Diagnostics on stderr, drawn for a terminal in colour unless `NO_COLOR` says otherwise.
pub fn reporter(format: MessageFormat) -> Renderer {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    Renderer::new(format == MessageFormat::Json, color)
}
