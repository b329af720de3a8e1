//! `glc inspect`: any OCI image layout as a tree, from one tag or from all.

use std::path::PathBuf;

use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::util::text::count;

use super::{Context, to_json, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The layout directory.
    pub layout: PathBuf,
    /// Start from this tag only.
    pub tag: Option<String>,
    /// Print the tree as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(Args { layout, tag, json }: &Args, cx: Context) -> Result<(), Diagnostics> {
    let nodes = glc::inspect::inspect(layout, tag.as_deref()).map_err(|e| {
        vec![
            Diagnostic::error("glc::inspect", e)
                .help("pass an OCI image layout directory, and one of its tags"),
        ]
    })?;
    let text = if *json {
        to_json(&nodes)?
    } else {
        glc::inspect::render(&nodes)
    };
    write_stdout(&text)?;
    // The tree shows what is wrong where; the exit code says that something is.
    match glc::inspect::problems(&nodes) {
        0 => {
            cx.summary("inspect", || {
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
