//! `glc plan`: the resolved plan, as text or JSON.

use glc::diagnostic::Diagnostics;

use super::{CompileArgs, Context, compile, to_json, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub compile: CompileArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    Args {
        compile: args,
        json,
    }: &Args,
    cx: Context,
) -> Result<(), Diagnostics> {
    let plan = compile(args, cx.format)?;
    let text = if *json {
        to_json(&plan)?
    } else {
        glc::plan::render_text(&plan)
    };
    write_stdout(&text)?;
    cx.summary("plan", || glc::plan::check_json(&plan, &args.file));
    Ok(())
}
