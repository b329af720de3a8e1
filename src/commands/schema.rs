//! `glc schema`: the release language's schema, as KDL or as the Markdown reference.

use glc::diagnostic::{Diagnostic, Diagnostics};

use super::{Context, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print it as the Markdown language reference instead of KDL.
    #[arg(long)]
    pub markdown: bool,
}

pub fn run(&Args { markdown }: &Args, cx: Context) -> Result<(), Diagnostics> {
    if markdown {
        let schema = glc::front::schema::Schema::builtin().map_err(|error| {
            vec![Diagnostic::error(
                "glc::internal",
                format!("glc's built-in schema is broken: {error}"),
            )]
        })?;
        write_stdout(&schema.to_markdown())?;
    } else {
        write_stdout(glc::front::schema::SOURCE)?;
    }
    cx.summary("schema", || serde_json::json!({ "markdown": markdown }));
    Ok(())
}
