//! What `glc man` and `glc completions` print, made from the command line's definition: the
//! manual page with every command's options and the sections clap knows nothing of
//! (`manual.roff`), and completion scripts that offer only what `--help` shows.

use clap::Command;
use glc::diagnostic::{Diagnostic, Diagnostics};

use super::{Context, write_stdout};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    pub shell: clap_complete::Shell,
}

/// `glc completions`, for the command line `cli`.
pub fn run_completions(
    &CompletionsArgs { shell }: &CompletionsArgs,
    cli: &Command,
    cx: Context,
) -> Result<(), Diagnostics> {
    write_stdout(&completions(shell, cli))?;
    cx.summary(
        "completions",
        || serde_json::json!({ "shell": shell.to_string() }),
    );
    Ok(())
}

/// `glc man`, for the command line `cli`.
pub fn run_man(cli: Command, cx: Context) -> Result<(), Diagnostics> {
    let page = page(cli).map_err(|error| {
        vec![Diagnostic::error(
            "glc::internal",
            format!("cannot render the manual page: {error}"),
        )]
    })?;
    write_stdout(&page)?;
    cx.summary("man", || serde_json::json!({}));
    Ok(())
}

/// The sections of glc(1) after the commands: exit status, environment, files, examples.
const SECTIONS: &str = include_str!("manual.roff");

/// glc(1): the global options, then a section a command with its synopsis and options, so
/// one page holds all of them, then [`SECTIONS`].
pub fn page(mut cli: Command) -> std::io::Result<String> {
    cli.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cli.clone())
        .title("GLC")
        .render(&mut page)?;
    let mut page = String::from_utf8_lossy(&page).into_owned();
    for command in cli.get_subcommands() {
        // The commands are sections of this page, not pages of their own.
        let name = command.get_name();
        page = page.replace(&format!("glc\\-{name}(1)"), &format!("glc {name}"));
    }
    for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("glc {}", command.get_name());
        let man = clap_mangen::Man::new(command.clone().bin_name(&name));
        let mut section = Vec::new();
        man.render_description_section(&mut section)?;
        man.render_synopsis_section(&mut section)?;
        man.render_options_section(&mut section)?;
        page.push_str(&format!(".SH \"{}\"\n", name.to_uppercase()));
        for line in String::from_utf8_lossy(&section).lines() {
            // The command's own headings sit under its section.
            match line.strip_prefix(".SH ") {
                Some(heading) => page.push_str(&format!(".SS {heading}\n")),
                None => page.push_str(&format!("{line}\n")),
            }
        }
    }
    page.push_str(SECTIONS);
    Ok(page)
}

/// The completion script for `shell`, offering no argument `--help` hides (clap's generators
/// list hidden ones too).
pub fn completions(shell: clap_complete::Shell, cli: &Command) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut without_hidden(cli), "glc", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// `command` and its subcommands without their hidden arguments.
fn without_hidden(command: &Command) -> Command {
    let mut shown = Command::new(command.get_name().to_owned())
        .args(
            command
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .cloned(),
        )
        .groups(command.get_groups().cloned())
        .subcommands(command.get_subcommands().map(without_hidden));
    if let Some(about) = command.get_about() {
        shown = shown.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        shown = shown.version(version.to_owned());
    }
    shown
}
