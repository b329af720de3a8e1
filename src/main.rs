//! The `glc` command: turns arguments into calls and errors into exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use glc::diagnostic::{Diagnostic, Diagnostics, Renderer};
use glc::plan::{ResolvedPlan, count};
use glc::sign::keys::PrivateKey;
use glc::{Options, ReleaseFile};

/// Compiles a Garden Linux release description into a reproducible OCI image layout.
#[derive(Debug, Parser)]
#[command(name = "glc", version, about)]
struct Cli {
    /// How to print errors: for people, or as JSON lines for CI annotations.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, global = true)]
    message_format: MessageFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

/// The role names `glc get --role` takes.
fn layer_roles() -> Vec<&'static str> {
    glc::get::layer_roles().map(glc::role::Role::node).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LineEndings {
    Keep,
    Lf,
    Crlf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a release file: parse, schema, templates, matrix and files on disk.
    Check(CompileArgs),
    /// Print the resolved plan: every image, file, media type, size, container and tag.
    Plan {
        #[command(flatten)]
        args: CompileArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the release's OCI image layout into a directory, whole or not at all.
    Build {
        #[command(flatten)]
        args: CompileArgs,
        /// The layout directory to write (replaced if it is a layout glc wrote).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Replace the output even if it is not a layout glc wrote.
        #[arg(long)]
        force: bool,
        /// Also write every tag's digest, media type, size and destination as JSON (`-`:
        /// to standard output).
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
        /// Sign every manifest and index with this private key, in cosign's format, before
        /// the layout is put in place (password of a cosign key from `COSIGN_PASSWORD`).
        /// Not for a part (`--only`): sign the merge.
        #[arg(long, value_name = "FILE", conflicts_with = "only")]
        sign_key: Option<PathBuf>,
        #[command(flatten)]
        placing: PlacingArgs,
    },
    /// Merge the layouts of `glc build --only` into the layout a build of their union writes,
    /// byte for byte.
    Merge {
        /// The partial layouts, in any order.
        #[arg(required = true, value_name = "PART")]
        parts: Vec<PathBuf>,
        /// The layout directory to write (replaced if it is a layout glc wrote).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Replace the output even if it is not a layout glc wrote.
        #[arg(long)]
        force: bool,
        /// Accept parts that do not hold the whole release, and write a part of it.
        #[arg(long)]
        partial: bool,
        /// Refuse to write unless the merge is exactly the layout this release file gives,
        /// derived again from it and its inputs (every input hashed): forged or stale parts
        /// are caught.
        #[arg(long, value_name = "FILE", conflicts_with = "partial")]
        release: Option<PathBuf>,
        /// Also write every tag's digest, media type, size and destination as JSON (`-`:
        /// to standard output).
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
        /// Sign every manifest and index with this private key, in cosign's format, before
        /// the layout is put in place (password of a cosign key from `COSIGN_PASSWORD`).
        #[arg(long, value_name = "FILE", conflicts_with = "partial")]
        sign_key: Option<PathBuf>,
        #[command(flatten)]
        placing: PlacingArgs,
    },
    /// Sign a layout glc wrote in place, in cosign's format: every manifest and index gets a
    /// `sha256-<hex>.sig` tag; signing again with the same key changes nothing.
    Sign {
        /// The layout directory.
        layout: PathBuf,
        /// The private key: PEM (PKCS#8, PKCS#1, SEC1) or a cosign key (password from
        /// `COSIGN_PASSWORD`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The repository the signatures name (cosign's docker-reference); by default the
        /// release's `repository`.
        #[arg(long, value_name = "REPO")]
        repository: Option<String>,
    },
    /// Check any OCI image layout: every reachable blob present, of its size and digest, every
    /// manifest and index valid.
    Verify {
        /// The layout directory.
        layout: PathBuf,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
        /// Also derive the layout again from this release file and its inputs (hashing every
        /// input, trusting no cache) and report every tag, manifest or blob that differs.
        #[arg(long, value_name = "FILE")]
        release: Option<PathBuf>,
        /// With --release: accept paths that leave the release file's directory.
        #[arg(long, requires = "release")]
        allow_outside: bool,
        /// Also check every manifest's cosign signature with this public key, as the update
        /// tool does; a manifest signed by another key or altered is an error.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// With --key: an unsigned manifest is an error, not a warning.
        #[arg(long, requires = "key")]
        require_signatures: bool,
    },
    /// Show any OCI image layout as a tree, from one tag or from all.
    Inspect {
        /// The layout directory.
        layout: PathBuf,
        /// Start from this tag only.
        tag: Option<String>,
        /// Print the tree as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one file of one cloud image of a release (its kernel, a `file`, an attachment),
    /// checked against its digest and, with --key, the signatures.
    Get {
        /// The release: an OCI image layout directory, or `REGISTRY/REPO:TAG` naming its
        /// release tag (only the documents on the way and the file are downloaded).
        source: String,
        /// The cloud image: its cname, a prefix of it, or matrix values such as
        /// `platform=aws,arch=amd64` (`.`: every image, for --list).
        #[arg(default_value = ".")]
        selector: String,
        /// The layer of this role.
        #[arg(long, value_name = "ROLE", group = "what")]
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(layer_roles()))]
        role: Option<String>,
        /// The layer with this title (file name).
        #[arg(long, value_name = "NAME", group = "what")]
        file: Option<String>,
        /// The layer of the attachment of this kind, e.g. `test-log`.
        #[arg(long, value_name = "KIND", group = "what")]
        attachment: Option<String>,
        /// Where to write it (`-`: standard output); an existing file is replaced whole,
        /// only when the bytes are right.
        #[arg(short, long, value_name = "PATH", required_unless_present = "list")]
        output: Option<PathBuf>,
        /// Refuse unless the cosign signatures of the release index and of the image verify
        /// with this public key.
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// List the images the selector matches, with their roles, files and attachments.
        #[arg(long, conflicts_with_all = ["what", "output", "key"])]
        list: bool,
        /// The release tag, where the layout holds several releases.
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Re-indent a release file in place, keeping comments and quoting as written.
    Fmt {
        file: PathBuf,
        /// Change nothing; print a diff of what would change and exit 1 if the file is not
        /// formatted.
        #[arg(long)]
        check: bool,
        /// How to end lines: as the file's first line ends, or LF, or CRLF.
        #[arg(long, value_enum, default_value_t = LineEndings::Keep)]
        line_endings: LineEndings,
    },
    /// Print the schema of the release language.
    Schema {
        /// Print it as the Markdown language reference instead of KDL.
        #[arg(long)]
        markdown: bool,
    },
    /// Push a layout's tags, with everything reachable from them (attachments, signatures,
    /// containers), into a registry repository, byte for byte; only what is missing goes up.
    Push {
        /// The layout directory.
        layout: PathBuf,
        /// Where to: `REGISTRY/REPO`, e.g. `ghcr.io/gardenlinux/gardenlinux`.
        #[arg(value_name = "REGISTRY/REPO")]
        destination: String,
        /// Push only this tag of the layout (and what hangs on it); repeatable.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Blobs uploaded at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Also write every pushed tag's digest, media type, size and destination as JSON
        /// (`-`: to standard output).
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
        /// Print nothing on success.
        #[arg(long, short)]
        quiet: bool,
        /// Blobs larger than this go up in chunks of this size.
        #[arg(long, hide = true, default_value_t = 16 * 1024 * 1024)]
        chunk_size: u64,
    },
    /// Pull tags of a registry repository, with everything reachable from them, their
    /// referrers (attachments) and signatures, into a layout, digests unchanged: the connected
    /// side of an air-gapped mirror, which `glc push` then carries on.
    Pull {
        /// What to pull: `REGISTRY/REPO:TAG`, e.g. `ghcr.io/gardenlinux/gardenlinux:1877.3`;
        /// several tags of one repository may be given.
        #[arg(required = true, value_name = "REGISTRY/REPO:TAG")]
        sources: Vec<String>,
        /// The layout directory to write (replaced if it is a layout glc wrote).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Replace the output even if it is not a layout glc wrote.
        #[arg(long)]
        force: bool,
        /// Tag in the layout only the tags given (and signature tags), not every other tag
        /// of the repository that points at what was pulled (found with a HEAD per tag).
        #[arg(long)]
        only_named_tags: bool,
        /// Blobs downloaded at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Print nothing on success.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a shell completion script, e.g. `glc completions bash >
    /// ~/.local/share/bash-completion/completions/glc`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `glc man > glc.1; man ./glc.1`.
    Man,
}

impl Command {
    /// Whether the command stops cleanly on SIGINT and SIGTERM ([`glc::interrupt`]): the
    /// long ones, which check for it. The others end at once, as by default.
    fn stops_on_signals(&self) -> bool {
        matches!(
            self,
            Self::Build { .. } | Self::Merge { .. } | Self::Push { .. } | Self::Pull { .. }
        )
    }
}

/// How glc speaks to a registry (push, pull, and get from a registry).
#[derive(Debug, Clone, clap::Args)]
struct RegistryArgs {
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
    fn options(self) -> glc::registry::Options {
        glc::registry::Options {
            plain_http: self.plain_http,
            ca_file: self.ca_file,
            tries: self.retries.saturating_add(1),
            ..glc::registry::Options::default()
        }
    }
}

#[derive(Debug, Clone, Copy, clap::Args)]
struct PlacingArgs {
    /// Link input files into the layout instead of copying them: a reflink where the
    /// filesystem can, else a hard link (then rewriting an input in place changes the layout).
    #[arg(long)]
    link: bool,
    /// Trust nothing from earlier runs: neither the digest cache beside the output nor the
    /// blobs of the layout being replaced; read and hash every input again.
    #[arg(long)]
    no_cache: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct CompileArgs {
    /// The release file, e.g. release.kdl.
    file: PathBuf,
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
    fn options(&self) -> Result<Options, Diagnostics> {
        Ok(Options {
            allow_outside: self.allow_outside,
            source_date_epoch: source_date_epoch()?,
            only: self.only.clone(),
            deny_warnings: self.deny_warnings,
        })
    }
}

mod manual;

/// The stack of the thread that does the work: parsers recurse once per level of nesting,
/// and glc refuses deep nesting before it parses; this is the margin behind that check.
const STACK: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let format = cli.message_format;
    if format == MessageFormat::Json {
        // The panic becomes one JSON line below; the default hook would print text.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let reporter = reporter(format);
    let command = cli.command;
    if command.stops_on_signals()
        && let Err(error) = glc::interrupt::install()
    {
        let _ = writeln!(
            std::io::stderr(),
            "glc: warning: cannot handle Ctrl-C ({error}); it ends glc at once"
        );
    }
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(command, format));
    let result = match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        // A panic has printed its message already in human output; a thread that cannot
        // start has not.
        Ok(Err(payload)) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let message = match (format, what) {
                (MessageFormat::Json, Some(what)) => format!("glc failed unexpectedly: {what}"),
                _ => "glc failed unexpectedly".to_owned(),
            };
            Err(vec![
                Diagnostic::error("glc::internal", message)
                    .help("this is a bug in glc; please report it"),
            ])
        }
        Err(error) => Err(vec![Diagnostic::error(
            "glc::internal",
            format!("cannot start: {error}"),
        )]),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Whatever failed once a signal asked glc to stop failed because it stopped.
        Err(_) if let Some(signal) = glc::interrupt::signal() => {
            match format {
                MessageFormat::Human => eprintln!("glc: {}", glc::interrupt::MESSAGE),
                MessageFormat::Json => emit_json(&glc::interrupt::diagnostic().to_json()),
            }
            ExitCode::from(glc::interrupt::exit_status(signal))
        }
        Err(diagnostics) => {
            let _ = std::io::stderr()
                .lock()
                .write_all(reporter.report(&diagnostics).as_bytes());
            // Wrong usage (2) only when nothing else is wrong; an error in the input wins.
            if diagnostics.iter().all(Diagnostic::is_usage) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Wrong usage exits 2; with `--message-format json` its message is a JSON line too.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let asked_json = {
        let args: Vec<String> = std::env::args().collect();
        args.iter().any(|a| a == "--message-format=json")
            || args
                .windows(2)
                .any(|w| w[0] == "--message-format" && w[1] == "json")
    };
    // Help and the version go to stdout, as asked.
    let shows_text = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !asked_json || shows_text {
        error.exit();
    }
    let text = error.render().to_string();
    // The first paragraph is the message, with what it lists (the missing arguments, the
    // possible values); the rest (usage, where to read more) is help.
    let mut lines = text.lines();
    let mut message = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    let listed: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if !listed.is_empty() {
        message.push(' ');
        message.push_str(&listed.join(", "));
    }
    let rest: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    let diagnostic = Diagnostic::error("glc::usage", message).help(rest.join("\n"));
    emit_json(&diagnostic.to_json());
    ExitCode::from(2)
}

/// Writes one JSON line to stderr.
fn emit_json(value: &impl serde::Serialize) {
    if let Ok(mut line) = serde_json::to_string(value) {
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The last line of a successful run with `--message-format json`: what was done, in how long.
fn summary_json(command: &str, started: Instant, mut fields: serde_json::Value) {
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

fn run(command: Command, format: MessageFormat) -> Result<(), Diagnostics> {
    let started = Instant::now();
    match command {
        Command::Check(args) => {
            let plan = compile(&args, format)?;
            if format == MessageFormat::Json {
                summary_json("check", started, glc::plan::check_json(&plan, &args.file));
                return Ok(());
            }
            eprint!("{}", glc::plan::check_text(&plan, &args.file));
            Ok(())
        }
        Command::Plan { args, json } => {
            let plan = compile(&args, format)?;
            let text = if json {
                to_json(&plan)?
            } else {
                glc::plan::render_text(&plan)
            };
            write_stdout(&text)?;
            summary(format, "plan", started, || {
                glc::plan::check_json(&plan, &args.file)
            });
            Ok(())
        }
        Command::Build {
            args,
            output,
            force,
            digests,
            sign_key,
            placing,
        } => build(
            &args,
            &output,
            force,
            digests.as_deref(),
            sign_key.as_deref(),
            placing,
            Status {
                command: "build",
                format,
                started,
            },
        ),
        Command::Merge {
            parts,
            output,
            force,
            partial,
            release,
            digests,
            sign_key,
            placing,
        } => merge(
            &parts,
            &output,
            force,
            partial,
            release.as_deref(),
            digests.as_deref(),
            sign_key.as_deref(),
            placing,
            Status {
                command: "merge",
                format,
                started,
            },
        ),
        Command::Sign {
            layout,
            key,
            repository,
        } => sign(&layout, &key, repository.as_deref(), format, started),
        Command::Fmt {
            file,
            check,
            line_endings,
        } => {
            let changed = fmt(&file, check, line_endings)?;
            summary(
                format,
                "fmt",
                started,
                || serde_json::json!({ "file": file.display().to_string(), "changed": changed }),
            );
            Ok(())
        }
        Command::Verify {
            layout,
            json,
            release,
            allow_outside,
            key,
            require_signatures,
        } => verify(
            &layout,
            json,
            release.as_deref(),
            allow_outside,
            key.as_deref(),
            require_signatures,
            Status {
                command: "verify",
                format,
                started,
            },
        ),
        Command::Inspect { layout, tag, json } => {
            let nodes = glc::inspect::inspect(&layout, tag.as_deref()).map_err(|e| {
                vec![
                    Diagnostic::error("glc::inspect", e)
                        .help("pass an OCI image layout directory, and one of its tags"),
                ]
            })?;
            let text = if json {
                to_json(&nodes)?
            } else {
                glc::inspect::render(&nodes)
            };
            write_stdout(&text)?;
            // The tree shows what is wrong where; the exit code says that something is.
            match glc::inspect::problems(&nodes) {
                0 => {
                    summary(format, "inspect", started, || {
                        serde_json::json!({
                            "layout": layout.display().to_string(),
                            "roots": nodes.len(),
                        })
                    });
                    Ok(())
                }
                n => Err(vec![
                    Diagnostic::error(
                        "glc::inspect",
                        format!(
                            "{} cannot be read whole: {} (marked `!!` in the tree)",
                            layout.display(),
                            count(n, "problem")
                        ),
                    )
                    .help(format!(
                        "`glc verify {}` checks the whole layout and names each",
                        layout.display()
                    )),
                ]),
            }
        }
        Command::Get {
            source,
            selector,
            role,
            file,
            attachment,
            output,
            key,
            list,
            tag,
            registry,
        } => {
            let registry = registry.options();
            let what = match (role, file, attachment) {
                (Some(role), _, _) => glc::role::Role::LAYERS
                    .into_iter()
                    .find(|r| r.node() == role)
                    .map(glc::get::What::Role),
                (_, Some(file), _) => Some(glc::get::What::File(file)),
                (_, _, Some(kind)) => Some(glc::get::What::Attachment(kind)),
                _ => None,
            };
            let output = output.map(|o| {
                if o.as_os_str() == "-" {
                    glc::get::Output::Stdout
                } else {
                    glc::get::Output::File(o)
                }
            });
            get(
                &source,
                &selector,
                what.as_ref(),
                output.as_ref(),
                key.as_deref(),
                list,
                tag.as_deref(),
                registry,
                format,
                started,
            )
        }
        Command::Schema { markdown } => {
            if markdown {
                let schema = glc::schema::Schema::builtin().map_err(|error| {
                    vec![Diagnostic::error(
                        "glc::internal",
                        format!("glc's built-in schema is broken: {error}"),
                    )]
                })?;
                write_stdout(&schema.to_markdown())?;
            } else {
                write_stdout(glc::schema::SOURCE)?;
            }
            summary(
                format,
                "schema",
                started,
                || serde_json::json!({ "markdown": markdown }),
            );
            Ok(())
        }
        Command::Push {
            layout,
            destination,
            tags,
            jobs,
            registry,
            digests,
            quiet,
            chunk_size,
        } => {
            let (host, repository) =
                glc::registry::push::parse_destination(&destination).map_err(|e| {
                    vec![
                        Diagnostic::error("glc::usage", e)
                            .help("e.g. `glc push out 127.0.0.1:5000/gardenlinux`"),
                    ]
                })?;
            let request = glc::registry::push::Request {
                host,
                repository,
                tags,
                jobs: usize::from(jobs),
                chunk: chunk_size.max(1),
                progress: progress_mode(quiet, format),
                options: glc::registry::Options {
                    // A push killed in a big blob is resumed by the next from there.
                    sessions_dir: glc::registry::sessions::Sessions::default_dir(),
                    ..registry.options()
                },
            };
            let mut on_tag = |tag: &glc::registry::push::PushedTag| {
                if format == MessageFormat::Json && !quiet {
                    emit_json(&serde_json::json!({
                        "type": "tag",
                        "tag": tag.tag,
                        "digest": tag.digest,
                        "destination": tag.destination,
                        "unchanged": tag.unchanged,
                    }));
                }
            };
            let outcome = glc::registry::push::push(&layout, &request, &mut on_tag)
                .map_err(|e| vec![Diagnostic::error(e.code, e.message).maybe_help(e.help)])?;
            let report: std::collections::BTreeMap<&str, &glc::registry::push::PushedTag> =
                outcome.tags.iter().map(|t| (t.tag.as_str(), t)).collect();
            let report = serde_json::json!({ "tags": report });
            write_digests(digests.as_deref(), &report)?;
            if quiet {
                return Ok(());
            }
            if format == MessageFormat::Json {
                summary_json("push", started, outcome.summary_json(&destination));
            } else {
                eprintln!(
                    "{}",
                    outcome.summary_text(&destination, started.elapsed().as_secs_f64())
                );
            }
            Ok(())
        }
        Command::Pull {
            sources,
            output,
            force,
            only_named_tags,
            jobs,
            registry,
            quiet,
        } => pull(
            &sources,
            &output,
            glc::registry::pull::Request {
                host: String::new(),
                repository: String::new(),
                tags: Vec::new(),
                jobs: usize::from(jobs),
                options: registry.options(),
                progress: progress_mode(quiet, format),
                other_tags: !only_named_tags,
                force,
            },
            quiet,
            format,
            started,
        ),
        Command::Completions { shell } => {
            write_stdout(&manual::completions(shell, &Cli::command()))?;
            summary(
                format,
                "completions",
                started,
                || serde_json::json!({ "shell": shell.to_string() }),
            );
            Ok(())
        }
        Command::Man => {
            let page = manual::page(Cli::command()).map_err(|error| {
                vec![Diagnostic::error(
                    "glc::internal",
                    format!("cannot render the manual page: {error}"),
                )]
            })?;
            write_stdout(&page)?;
            summary(format, "man", started, || serde_json::json!({}));
            Ok(())
        }
    }
}

/// The summary line of a command whose output is on stdout: only with
/// `--message-format json`, where every success ends with one.
fn summary(
    format: MessageFormat,
    command: &str,
    started: Instant,
    fields: impl FnOnce() -> serde_json::Value,
) {
    if format == MessageFormat::Json {
        summary_json(command, started, fields());
    }
}

/// How a command reports on stderr, and since when it runs.
#[derive(Clone, Copy)]
struct Status {
    command: &'static str,
    format: MessageFormat,
    started: Instant,
}

/// A bar for a person watching a terminal, a line now and then for a pipe or a log; nothing
/// where stderr is to hold only JSON or nothing.
fn progress_mode(quiet: bool, format: MessageFormat) -> glc::progress::Mode {
    if quiet || format == MessageFormat::Json {
        glc::progress::Mode::Off
    } else if std::io::stderr().is_terminal() {
        glc::progress::Mode::Bar
    } else {
        glc::progress::Mode::Lines
    }
}

/// Compiles the release, and says its warnings.
fn compile(args: &CompileArgs, format: MessageFormat) -> Result<ResolvedPlan, Diagnostics> {
    let plan = ReleaseFile::read(&args.file)?.compile(&args.options()?)?;
    warn(format, &plan.warnings);
    Ok(plan)
}

/// Says warnings on stderr, for people or as JSON lines.
fn warn(format: MessageFormat, warnings: &[Diagnostic]) {
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

fn build(
    args: &CompileArgs,
    output: &std::path::Path,
    force: bool,
    digests: Option<&std::path::Path>,
    sign_key: Option<&std::path::Path>,
    placing: PlacingArgs,
    status: Status,
) -> Result<(), Diagnostics> {
    let sign_key = sign_key
        .map(|key| load_private_key(key, status.format))
        .transpose()?;
    let options = args.options()?;
    let release = ReleaseFile::read(&args.file)?;
    let progress = progress_mode(placing.quiet, status.format);
    let build = glc::BuildOptions {
        output: output.to_path_buf(),
        force,
        link: placing.link,
        cache: !placing.no_cache,
        progress,
        sign_key,
    };
    let outcome = release.build(&options, &build, |holder| {
        waiting(status.format, output, holder);
    })?;
    warn(status.format, &outcome.warnings);
    summarize(
        &args.file.display().to_string(),
        output,
        &outcome,
        digests,
        placing.quiet,
        "input files",
        status,
    )
}

/// `glc pull`: the sources must name tags of one repository.
fn pull(
    sources: &[String],
    output: &std::path::Path,
    mut request: glc::registry::pull::Request,
    quiet: bool,
    format: MessageFormat,
    started: std::time::Instant,
) -> Result<(), Diagnostics> {
    for source in sources {
        let (host, repository, tag) = glc::registry::pull::parse_source(source).map_err(|e| {
            vec![
                Diagnostic::error("glc::usage", e)
                    .help("e.g. `glc pull 127.0.0.1:5000/gardenlinux:1877.3 -o mirror`"),
            ]
        })?;
        if request.host.is_empty() {
            (request.host, request.repository) = (host, repository);
        } else if (&host, &repository) != (&request.host, &request.repository) {
            return Err(vec![
                Diagnostic::error(
                    "glc::usage",
                    format!(
                        "{source} is in another repository than {}/{}: one pull reads one repository",
                        request.host, request.repository
                    ),
                )
                .help("pull each repository into a layout of its own"),
            ]);
        }
        if !request.tags.contains(&tag) {
            request.tags.push(tag);
        }
    }
    let mut on_tag = |tag: &glc::registry::pull::PulledTag| {
        if format == MessageFormat::Json && !quiet {
            emit_json(&serde_json::json!({
                "type": "tag",
                "tag": tag.tag,
                "digest": tag.digest.to_string(),
                "mediaType": tag.media_type,
                "size": tag.size,
                "named": tag.named,
            }));
        }
    };
    let outcome = glc::registry::pull::pull(
        output,
        &request,
        |holder| waiting(format, output, holder),
        &mut on_tag,
    )?;
    if quiet {
        return Ok(());
    }
    let source = format!("{}/{}", request.host, request.repository);
    if format == MessageFormat::Json {
        summary_json("pull", started, outcome.summary_json(&source, output));
    } else {
        eprintln!(
            "{}",
            outcome.summary_text(&source, output, started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}

fn waiting(format: MessageFormat, output: &std::path::Path, holder: &str) {
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

#[allow(clippy::too_many_arguments)] // one per command-line option
fn merge(
    parts: &[PathBuf],
    output: &std::path::Path,
    force: bool,
    partial: bool,
    release: Option<&std::path::Path>,
    digests: Option<&std::path::Path>,
    sign_key: Option<&std::path::Path>,
    placing: PlacingArgs,
    status: Status,
) -> Result<(), Diagnostics> {
    let sign_key = sign_key
        .map(|key| load_private_key(key, status.format))
        .transpose()?;
    let expected = match release {
        None => None,
        Some(file) => {
            let options = Options {
                allow_outside: false,
                source_date_epoch: source_date_epoch()?,
                only: Vec::new(),
                deny_warnings: false,
            };
            let derived = glc::derive::derive(&ReleaseFile::read(file)?, &options)?;
            Some((file.display().to_string(), derived))
        }
    };
    let options = glc::merge::MergeOptions {
        expected,
        output: output.to_path_buf(),
        force,
        link: placing.link,
        reuse: !placing.no_cache,
        partial,
        sign_key,
    };
    let outcome = glc::merge::merge(parts, &options, |holder| {
        waiting(status.format, output, holder);
    })?;
    warn(status.format, &outcome.warnings);
    let from = match parts {
        [one] => one.display().to_string(),
        _ => format!("{} parts", parts.len()),
    };
    summarize(
        &from,
        output,
        &outcome,
        digests,
        placing.quiet,
        "blobs of the parts",
        status,
    )
}

/// Writes `--digests` and says what a build or merge did.
fn summarize(
    from: &str,
    output: &std::path::Path,
    outcome: &glc::BuildOutcome,
    digests: Option<&std::path::Path>,
    quiet: bool,
    inputs: &str,
    status: Status,
) -> Result<(), Diagnostics> {
    let report = &outcome.report;
    write_digests(digests, report)?;
    if quiet {
        return Ok(());
    }
    if status.format == MessageFormat::Json {
        summary_json(
            status.command,
            status.started,
            glc::summary::build_json(from, output, outcome),
        );
    } else {
        let _ = std::io::stderr()
            .lock()
            .write_all(glc::summary::build_text(from, output, outcome, inputs).as_bytes());
    }
    Ok(())
}

/// A private key, with a warning on stderr if others may read it.
fn load_private_key(
    path: &std::path::Path,
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

#[allow(clippy::too_many_arguments)]
fn get(
    source: &str,
    selector: &str,
    what: Option<&glc::get::What>,
    output: Option<&glc::get::Output>,
    key: Option<&std::path::Path>,
    list: bool,
    tag: Option<&str>,
    registry: glc::registry::Options,
    format: MessageFormat,
    started: Instant,
) -> Result<(), Diagnostics> {
    // From a registry, the reference names the release tag.
    let mut named_tag = None;
    let layout: Box<dyn glc::get::Source> = if glc::get::is_registry_reference(source) {
        let (host, repository, named) =
            glc::registry::pull::parse_source(source).map_err(|e| {
                vec![
                    Diagnostic::error("glc::usage", e)
                        .help("e.g. `glc get 127.0.0.1:5000/gardenlinux:1877.3 aws-gardener_prod-amd64 --role kernel -o vmlinuz`"),
                ]
            })?;
        if tag.is_some_and(|t| t != named) {
            return Err(vec![Diagnostic::error(
                "glc::usage",
                format!("`{source}` names its tag; --tag cannot name another"),
            )]);
        }
        let repository =
            glc::registry::source::Repository::open(&host, &repository, &named, registry)
                .map_err(|e| {
                    use glc::registry::ErrorKind;
                    let help = match e.kind {
                        ErrorKind::Auth => {
                            "give credentials in GLC_REGISTRY_USERNAME and GLC_REGISTRY_PASSWORD with GLC_REGISTRY_HOST naming the registry, or log in with `podman login` / `docker login`"
                        }
                        ErrorKind::Tls => glc::registry::BAD_CERTIFICATE,
                        ErrorKind::UnknownHost => glc::registry::UNKNOWN_HOST,
                        ErrorKind::Final => glc::registry::FINAL,
                        // `glc get` does not stop on signals: never interrupted.
                        ErrorKind::Other | ErrorKind::Interrupted => {
                            "check the registry's address, and run the same `glc get` again once it is reachable (`--retries N` allows more tries)"
                        }
                    };
                    vec![Diagnostic::error("glc::get::source", e.message).help(help)]
                })?;
        named_tag = Some(named);
        Box::new(repository)
    } else {
        Box::new(
            glc::get::Layout::open(std::path::Path::new(source)).map_err(|e| {
                vec![Diagnostic::error("glc::get::source", e).help(
                "pass an OCI image layout directory of a release, e.g. the output of `glc build`",
            )]
            })?,
        )
    };
    let tag = named_tag.as_deref().or(tag);
    let layout = layout.as_ref();
    let public_key = key
        .map(|key| glc::sign::keys::PublicKey::load(key).map_err(Diagnostics::from))
        .transpose()?;
    let request = glc::get::Request {
        selector,
        tag,
        key: public_key.as_ref(),
    };
    if list {
        let listed = glc::get::list(layout, &request)?;
        let text = if format == MessageFormat::Json {
            listed
                .iter()
                .filter_map(|l| serde_json::to_string(l).ok())
                .map(|line| line + "\n")
                .collect()
        } else {
            glc::get::render(&listed)
        };
        write_stdout(&text)?;
        summary(
            format,
            "get",
            started,
            || serde_json::json!({ "images": listed.len() }),
        );
        return Ok(());
    }
    let Some(output) = output else {
        return Err(vec![Diagnostic::error(
            "glc::usage",
            "say where to write the file: -o PATH, or -o - for standard output",
        )]);
    };
    let got = glc::get::get(layout, &request, what, output)?;
    if format == MessageFormat::Json {
        summary_json("get", started, serde_json::json!({ "file": got }));
    } else {
        eprintln!("{}", got.summary_text());
    }
    Ok(())
}

fn sign(
    layout: &std::path::Path,
    key: &std::path::Path,
    repository: Option<&str>,
    format: MessageFormat,
    started: Instant,
) -> Result<(), Diagnostics> {
    let key = load_private_key(key, format)?;
    let signing = glc::sign::sign_layout(layout, &key, repository, |holder| {
        waiting(format, layout, holder);
    })?;
    if format == MessageFormat::Json {
        summary_json(
            "sign",
            started,
            serde_json::json!({
                "layout": layout.display().to_string(),
                "signed": signing.subjects,
                "key": key.kind().to_string(),
                "added": signing.added,
            }),
        );
        return Ok(());
    }
    eprintln!(
        "{}: {} signed with an {} key, {} signature manifest(s) written{}",
        layout.display(),
        count(signing.subjects, "manifest"),
        key.kind(),
        signing.added,
        if signing.added == 0 {
            " (already signed with this key)"
        } else {
            ""
        },
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one per command-line option
fn verify(
    layout: &std::path::Path,
    json: bool,
    release: Option<&std::path::Path>,
    allow_outside: bool,
    key: Option<&std::path::Path>,
    require_signatures: bool,
    status: Status,
) -> Result<(), Diagnostics> {
    if !layout.is_dir() {
        return Err(vec![
            Diagnostic::error(
                "glc::verify",
                format!("{} is not a directory", layout.display()),
            )
            .help("pass an OCI image layout directory, e.g. the output of `glc build`"),
        ]);
    }
    let public_key = key
        .map(|key| glc::sign::keys::PublicKey::load(key).map_err(Diagnostics::from))
        .transpose()?;
    // A release file that cannot be read is said before the layout is read.
    let release = release
        .map(|file| Ok::<_, Diagnostics>((file, ReleaseFile::read(file)?)))
        .transpose()?;
    let mut report = glc::verify::verify(layout);
    if let Some(key) = &public_key {
        let (findings, counts) = glc::sign::verify(layout, key, require_signatures);
        report.findings.extend(findings);
        report.signatures = Some(counts);
    }
    if let Some((file, release)) = release {
        let options = Options {
            allow_outside,
            source_date_epoch: source_date_epoch()?,
            only: Vec::new(),
            deny_warnings: false,
        };
        let derived = glc::derive::derive(&release, &options)?;
        let name = file.display().to_string();
        report
            .findings
            .extend(glc::derive::compare(layout, &derived, &name));
    }
    if json {
        write_stdout(&to_json(&report)?)?;
        if status.format == MessageFormat::Json && report.errors() == 0 {
            summary_json(status.command, status.started, report.summary_json(layout));
        }
    } else if status.format == MessageFormat::Json {
        for finding in &report.findings {
            emit_json(&finding.to_diagnostic().to_json());
        }
        summary_json(status.command, status.started, report.summary_json(layout));
    } else {
        let _ = std::io::stderr()
            .lock()
            .write_all(report.render_text(layout).as_bytes());
    }
    if report.errors() > 0 {
        // The findings are the report; exit 1 without repeating them.
        std::process::exit(1);
    }
    Ok(())
}

/// `glc fmt`: whether it changed the file.
fn fmt(file: &std::path::Path, check: bool, endings: LineEndings) -> Result<bool, Diagnostics> {
    let release = ReleaseFile::read(file)?;
    let ending = match endings {
        LineEndings::Keep => glc::fmt::LineEnding::Keep,
        LineEndings::Lf => glc::fmt::LineEnding::Lf,
        LineEndings::Crlf => glc::fmt::LineEnding::Crlf,
    };
    let formatted = glc::fmt::format_with(&release.source, ending)?;
    let text = release.source.text();
    if formatted == text {
        return Ok(false);
    }
    if check {
        write_stdout(&glc::fmt::diff(
            &file.display().to_string(),
            text,
            &formatted,
        ))?;
        return Err(vec![
            Diagnostic::error(
                "glc::fmt::unformatted",
                format!("{} is not formatted", file.display()),
            )
            .help(format!(
                "run `glc fmt {}`; the diff on standard output shows what it changes",
                file.display()
            )),
        ]);
    }
    glc::fmt::write_through(file, formatted.as_bytes()).map_err(|error| {
        vec![Diagnostic::error(
            "glc::io",
            format!("cannot write {}: {error}", file.display()),
        )]
    })?;
    Ok(true)
}

/// `--digests FILE`: the report as JSON, written whole (`-`: to standard output).
fn write_digests(
    digests: Option<&std::path::Path>,
    report: &impl serde::Serialize,
) -> Result<(), Diagnostics> {
    let Some(path) = digests else {
        return Ok(());
    };
    let json = to_json(report)?;
    if path.as_os_str() == "-" {
        return write_stdout(&json);
    }
    glc::fmt::write_new_atomically(path, json.as_bytes()).map_err(|e| {
        vec![Diagnostic::error(
            "glc::io",
            format!("cannot write {}: {e}", path.display()),
        )]
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Diagnostics> {
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

fn write_stdout(text: &str) -> Result<(), Diagnostics> {
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
fn reporter(format: MessageFormat) -> Renderer {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    Renderer::new(format == MessageFormat::Json, color)
}
