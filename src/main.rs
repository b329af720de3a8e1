//! The `glc` command: parses the arguments, runs the command they name (each in its own file
//! under `commands/`) and turns its result into an exit code.

mod commands;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser, Subcommand};
use commands::{Context, Failure, MessageFormat, emit_json, reporter};
use glc::diagnostic::Diagnostic;

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a release file: parse, schema, templates, matrix and files on disk.
    Check(commands::CompileArgs),
    /// Print the resolved plan: every image, file, media type, size, container and tag; with
    /// --inputs, every input file the release names, none of them looked at.
    Plan(commands::plan::Args),
    /// Build the release's OCI image layout into a directory, whole or not at all.
    Build(commands::build::Args),
    /// Merge the layouts of `glc build --only` into the layout a build of their union writes,
    /// byte for byte.
    Merge(commands::merge::Args),
    /// Sign a layout glc wrote in place, in cosign's format: every manifest and index gets a
    /// `sha256-<hex>.sig` tag; signing again with the same key changes nothing.
    Sign(commands::sign::Args),
    /// Check any OCI image layout: every reachable blob present, of its size and digest, every
    /// manifest and index valid.
    Verify(commands::verify::Args),
    /// Show any OCI image layout as a tree, from one tag or from all.
    Inspect(commands::inspect::Args),
    /// Write one file of one cloud image of a release (its kernel, a `file`, an attachment),
    /// checked against its digest and, with --key, the signatures.
    Get(commands::get::Args),
    /// Re-indent a release file in place, keeping comments and quoting as written.
    Fmt(commands::fmt::Args),
    /// Print the schema of the release language.
    Schema(commands::schema::Args),
    /// Push a layout's tags, with everything reachable from them (attachments, signatures,
    /// containers), into a registry repository, byte for byte; only what is missing goes up.
    Push(commands::push::Args),
    /// Pull tags of a registry repository, with everything reachable from them, their
    /// referrers (attachments) and signatures, into a layout, digests unchanged: the connected
    /// side of an air-gapped mirror, which `glc push` then carries on.
    Pull(commands::pull::Args),
    /// Copy a tag's graph (a release with its referrers, signatures and other tags) to another
    /// repository or registry: blobs mounted within a registry, streamed between two.
    Copy(commands::copy::Args),
    /// Print a shell completion script, e.g. `glc completions bash >
    /// ~/.local/share/bash-completion/completions/glc`.
    Completions(commands::manual::CompletionsArgs),
    /// Print the manual page (roff), e.g. `glc man > glc.1; man ./glc.1`.
    Man,
}

impl Command {
    /// Whether the command stops cleanly on SIGINT and SIGTERM ([`glc::util::interrupt`]): the
    /// long ones, which check for it. The others end at once, as by default.
    fn stops_on_signals(&self) -> bool {
        matches!(
            self,
            Self::Build(_) | Self::Merge(_) | Self::Push(_) | Self::Pull(_) | Self::Copy(_)
        )
    }

    fn run(self, cx: Context) -> Result<(), Failure> {
        use commands::{
            build, check, copy, fmt, get, inspect, manual, merge, plan, pull, push, schema, sign,
            verify,
        };
        match self {
            Self::Check(args) => check::run(&args, cx)?,
            Self::Plan(args) => plan::run(&args, cx)?,
            Self::Build(args) => build::run(&args, cx)?,
            Self::Merge(args) => merge::run(&args, cx)?,
            Self::Sign(args) => sign::run(&args, cx)?,
            Self::Verify(args) => verify::run(&args, cx)?,
            Self::Inspect(args) => inspect::run(&args, cx)?,
            Self::Get(args) => get::run(&args, cx)?,
            Self::Fmt(args) => fmt::run(&args, cx)?,
            Self::Schema(args) => schema::run(&args, cx)?,
            Self::Push(args) => push::run(&args, cx)?,
            Self::Pull(args) => pull::run(&args, cx)?,
            Self::Copy(args) => copy::run(&args, cx)?,
            Self::Completions(args) => manual::run_completions(&args, &Cli::command(), cx)?,
            Self::Man => manual::run_man(Cli::command(), cx)?,
        }
        Ok(())
    }
}

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
        && let Err(error) = glc::util::interrupt::install()
    {
        let _ = writeln!(
            std::io::stderr(),
            "glc: warning: cannot handle Ctrl-C ({error}); it ends glc at once"
        );
    }
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            command.run(Context {
                format,
                started: Instant::now(),
            })
        });
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
            Err(Failure::Diagnostics(vec![
                Diagnostic::error("glc::internal", message)
                    .help("this is a bug in glc; please report it"),
            ]))
        }
        Err(error) => Err(Failure::Diagnostics(vec![Diagnostic::error(
            "glc::internal",
            format!("cannot start: {error}"),
        )])),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Whatever failed once a signal asked glc to stop failed because it stopped.
        Err(_) if let Some(signal) = glc::util::interrupt::signal() => {
            match format {
                MessageFormat::Human => eprintln!("glc: {}", glc::util::interrupt::MESSAGE),
                MessageFormat::Json => emit_json(&glc::diagnostic::interrupted().to_json()),
            }
            ExitCode::from(glc::util::interrupt::exit_status(signal))
        }
        // The command's output said what is wrong.
        Err(Failure::Reported) => ExitCode::from(1),
        Err(Failure::Diagnostics(diagnostics)) => {
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
        // As `error.exit()` does, with the exit status returned rather than exited with.
        let _ = error.print();
        return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
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
