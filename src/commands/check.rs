//! `glc check`: parse, schema, templates, matrix and files on disk.

use glc::diagnostic::Diagnostics;

use super::{CompileArgs, Context, compile, summary_json};

pub fn run(args: &CompileArgs, cx: Context) -> Result<(), Diagnostics> {
    let plan = compile(args, cx.format)?;
    if cx.json() {
        summary_json(
            "check",
            cx.started,
            glc::front::plan::check_json(&plan, &args.file),
        );
        return Ok(());
    }
    eprint!("{}", glc::front::plan::check_text(&plan, &args.file));
    Ok(())
}
