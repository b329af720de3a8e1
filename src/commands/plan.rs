//! `glc plan`: the resolved plan, as text or JSON; with `--inputs`, the input files the
//! release names, none of them looked at.

use glc::diagnostic::Diagnostics;

use super::{CompileArgs, Context, compile, to_json, warn, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub compile: CompileArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// List every input file the release names (with --only, the part's), without looking at
    /// any: one path a line as opened from here, each once; with --json, one record a use,
    /// with its image or container, role, media type, `if` and what the release expects there
    /// (disk-image, tar, directory, file, oci-source). What CI lays or fetches before a build.
    #[arg(long)]
    pub inputs: bool,
}

pub fn run(
    Args {
        compile: args,
        json,
        inputs,
    }: &Args,
    cx: Context,
) -> Result<(), Diagnostics> {
    if *inputs {
        return run_inputs(args, *json, cx);
    }
    let plan = compile(args, cx.format)?;
    let text = if *json {
        to_json(&plan)?
    } else {
        glc::front::plan::render_text(&plan)
    };
    write_stdout(&text)?;
    cx.summary("plan", || glc::front::plan::check_json(&plan, &args.file));
    Ok(())
}

fn run_inputs(args: &CompileArgs, json: bool, cx: Context) -> Result<(), Diagnostics> {
    let release = glc::ReleaseFile::read(&args.file)?;
    let options = args.options()?;
    let plan = release.expand(&options)?;
    glc::deny_warnings(&options, &plan.warnings)?;
    warn(cx.format, &plan.warnings);
    let inputs = glc::front::plan::inputs(&plan, &release.base_dir);
    let text = if json {
        to_json(&inputs)?
    } else {
        glc::front::plan::render_inputs_text(&inputs)
    };
    write_stdout(&text)?;
    cx.summary("plan", || {
        serde_json::json!({
            "file": args.file.display().to_string(),
            "release": inputs.release,
            "inputs": inputs.inputs.len(),
        })
    });
    Ok(())
}
