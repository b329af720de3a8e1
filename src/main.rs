//! The `glc` command: turns arguments into calls and errors into exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::plan::ResolvedPlan;
use glc::{Options, ReleaseFile};
use miette::{GraphicalReportHandler, GraphicalTheme};

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
        /// Also write every tag's digest, media type, size and destination as JSON.
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
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
        /// Also write every tag's digest, media type, size and destination as JSON.
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
        #[command(flatten)]
        placing: PlacingArgs,
    },
    /// Check any OCI image layout: every reachable blob present, of its size and digest, every
    /// manifest and index valid.
    Verify {
        /// The layout directory.
        layout: PathBuf,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
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
}

/// The stack of the thread that does the work: parsers recurse once per level of nesting,
/// and glc refuses deep nesting before it parses; this is the margin behind that check.
const STACK: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = Reporter::new(cli.message_format);
    let command = cli.command;
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(command));
    let result = match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        // A panic has printed its message already; a thread that cannot start has not.
        Ok(Err(_)) => Err(vec![
            Diagnostic::error("glc::internal", "glc failed unexpectedly")
                .help("this is a bug in glc; please report it"),
        ]),
        Err(error) => Err(vec![Diagnostic::error(
            "glc::internal",
            format!("cannot start: {error}"),
        )]),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(diagnostics) => {
            reporter.report(&diagnostics);
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> Result<(), Diagnostics> {
    match command {
        Command::Check(args) => {
            let plan = compile(&args)?;
            let files: usize = plan
                .images
                .iter()
                .map(|i| i.layers().count() + i.attachments.len())
                .sum();
            eprintln!(
                "{}: release {}: {}, {}, {}, {}",
                args.file.display(),
                plan.release.version,
                count(plan.images.len(), "cloud image"),
                count(files, "image file"),
                count(plan.containers.len(), "container"),
                count(plan.tags.len(), "release tag"),
            );
            Ok(())
        }
        Command::Plan { args, json } => {
            let plan = compile(&args)?;
            let text = if json {
                to_json(&plan)?
            } else {
                glc::plan::render_text(&plan)
            };
            write_stdout(&text)
        }
        Command::Build {
            args,
            output,
            force,
            digests,
            placing,
        } => build(&args, &output, force, digests.as_deref(), placing),
        Command::Merge {
            parts,
            output,
            force,
            partial,
            digests,
            placing,
        } => merge(&parts, &output, force, partial, digests.as_deref(), placing),
        Command::Fmt {
            file,
            check,
            line_endings,
        } => fmt(&file, check, line_endings),
        Command::Verify { layout, json } => verify(&layout, json),
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
            write_stdout(&text)
        }
        Command::Schema { markdown: false } => write_stdout(glc::schema::SOURCE),
        Command::Schema { markdown: true } => {
            let schema = glc::schema::Schema::builtin().map_err(|error| {
                vec![Diagnostic::error(
                    "glc::internal",
                    format!("glc's built-in schema is broken: {error}"),
                )]
            })?;
            write_stdout(&schema.to_markdown())
        }
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn compile(args: &CompileArgs) -> Result<ResolvedPlan, Diagnostics> {
    let options = Options {
        allow_outside: args.allow_outside,
        source_date_epoch: source_date_epoch()?,
        only: args.only.clone(),
    };
    ReleaseFile::read(&args.file)?.compile(&options)
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
    placing: PlacingArgs,
) -> Result<(), Diagnostics> {
    let options = Options {
        allow_outside: args.allow_outside,
        source_date_epoch: source_date_epoch()?,
        only: args.only.clone(),
    };
    let release = ReleaseFile::read(&args.file)?;
    // A bar only for a person watching a terminal.
    let progress = !placing.quiet && std::io::stderr().is_terminal();
    let build = glc::BuildOptions {
        output: output.to_path_buf(),
        force,
        link: placing.link,
        cache: !placing.no_cache,
        progress,
    };
    let outcome = release.build(&options, &build, |holder| waiting(output, holder))?;
    summarize(
        &args.file.display().to_string(),
        output,
        &outcome,
        digests,
        placing.quiet,
        "input files",
    )
}

fn waiting(output: &std::path::Path, holder: &str) {
    eprintln!(
        "glc: waiting for the build (pid {holder}) that is writing {}",
        output.display()
    );
}

fn merge(
    parts: &[PathBuf],
    output: &std::path::Path,
    force: bool,
    partial: bool,
    digests: Option<&std::path::Path>,
    placing: PlacingArgs,
) -> Result<(), Diagnostics> {
    let options = glc::merge::MergeOptions {
        output: output.to_path_buf(),
        force,
        link: placing.link,
        reuse: !placing.no_cache,
        partial,
    };
    let outcome = glc::merge::merge(parts, &options, |holder| waiting(output, holder))?;
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
) -> Result<(), Diagnostics> {
    let report = &outcome.report;
    if let Some(path) = digests {
        let mut json = serde_json::to_string_pretty(report).map_err(|e| {
            vec![Diagnostic::error(
                "glc::internal",
                format!("cannot serialize the digests: {e}"),
            )]
        })?;
        json.push('\n');
        glc::fmt::write_new_atomically(path, json.as_bytes()).map_err(|e| {
            vec![Diagnostic::error(
                "glc::io",
                format!("cannot write {}: {e}", path.display()),
            )]
        })?;
    }
    if quiet {
        return Ok(());
    }
    let held = match report.part_of {
        None => format!(
            "{}, {}, {}",
            count(report.images, "cloud image"),
            count(report.attachments.len(), "attachment"),
            count(report.containers, "container"),
        ),
        Some((images, containers)) => format!(
            "a part: {} of {images} cloud images, {}, {} of {containers} containers",
            report.images,
            count(report.attachments.len(), "attachment"),
            report.containers,
        ),
    };
    let what = format!(
        "{held}; {} blobs, {}",
        report.blobs,
        glc::plan::human_size(report.bytes),
    );
    if outcome.up_to_date {
        eprintln!("{from} → {}: up to date ({what})", output.display());
    } else {
        let placed: Vec<String> = report
            .placements
            .iter()
            .filter_map(|(placement, n)| {
                let how = match placement {
                    glc::oci::layout::Placement::Copied => "copied",
                    glc::oci::layout::Placement::Reused => "reused from the previous layout",
                    glc::oci::layout::Placement::Reflinked => "reflinked",
                    glc::oci::layout::Placement::HardLinked => "hard-linked",
                    glc::oci::layout::Placement::Duplicate => "identical to another input",
                    glc::oci::layout::Placement::None => return None,
                };
                Some(format!("{n} {how}"))
            })
            .collect();
        eprintln!("{from} → {}: {what}", output.display());
        if !placed.is_empty() {
            eprintln!("  {inputs}: {}", placed.join(", "));
        }
    }
    for (tag, target) in report
        .tags
        .iter()
        .filter(|(_, t)| t.artifact_type.as_deref() == Some(glc::assemble::RELEASE))
    {
        eprintln!("  {tag} → {}", target.digest);
    }
    Ok(())
}

fn verify(layout: &std::path::Path, json: bool) -> Result<(), Diagnostics> {
    if !layout.is_dir() {
        return Err(vec![
            Diagnostic::error(
                "glc::verify",
                format!("{} is not a directory", layout.display()),
            )
            .help("pass an OCI image layout directory, e.g. the output of `glc build`"),
        ]);
    }
    let report = glc::verify::verify(layout);
    if json {
        write_stdout(&to_json(&report)?)?;
    } else {
        let mut text = String::new();
        for finding in &report.findings {
            let severity = match finding.severity {
                glc::verify::Severity::Error => "error",
                glc::verify::Severity::Warning => "warning",
            };
            text.push_str(&format!(
                "{severity}: {}
    at {}
",
                finding.message, finding.path
            ));
        }
        let warnings = report.findings.len() - report.errors();
        text.push_str(&format!(
            "{}: {} blobs, {} checked: {}, {}\n",
            layout.display(),
            report.blobs,
            glc::plan::human_size(report.bytes),
            count(report.errors(), "error"),
            count(warnings, "warning"),
        ));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
    if report.errors() > 0 {
        // The findings are the report; exit 1 without repeating them.
        std::process::exit(1);
    }
    Ok(())
}

fn fmt(file: &std::path::Path, check: bool, endings: LineEndings) -> Result<(), Diagnostics> {
    let release = ReleaseFile::read(file)?;
    let ending = match endings {
        LineEndings::Keep => glc::fmt::LineEnding::Keep,
        LineEndings::Lf => glc::fmt::LineEnding::Lf,
        LineEndings::Crlf => glc::fmt::LineEnding::Crlf,
    };
    let formatted = glc::fmt::format_with(&release.source, ending)?;
    let text = release.source.text();
    if formatted == text {
        return Ok(());
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

struct Reporter {
    format: MessageFormat,
    handler: GraphicalReportHandler,
}

impl Reporter {
    fn new(format: MessageFormat) -> Self {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        Self { format, handler }
    }

    fn report(&self, diagnostics: &[Diagnostic]) {
        let mut out = String::new();
        for diagnostic in diagnostics {
            match self.format {
                MessageFormat::Json => {
                    if let Ok(line) = serde_json::to_string(&diagnostic.to_json()) {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                MessageFormat::Human => {
                    if self.handler.render_report(&mut out, diagnostic).is_err() {
                        out.push_str(&format!("error: {}\n", diagnostic.message));
                    }
                    out.push('\n');
                }
            }
        }
        if self.format == MessageFormat::Human {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let file = diagnostics
                .iter()
                .find_map(|d| d.source.as_ref())
                .map(|s| format!(" in {}", s.name()));
            let noun = if errors == 1 { "error" } else { "errors" };
            out.push_str(&format!(
                "glc: {errors} {noun}{}\n",
                file.unwrap_or_default()
            ));
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}
