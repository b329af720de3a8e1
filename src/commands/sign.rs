//! `glc sign`: sign a layout glc wrote in place, in cosign's format.

use std::path::PathBuf;

use glc::diagnostic::Diagnostics;
use glc::util::text::count;

use super::{Context, load_private_key, summary_json, waiting};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The layout directory.
    pub layout: PathBuf,
    /// The private key: PEM (PKCS#8, PKCS#1, SEC1) or a cosign key (password from
    /// `COSIGN_PASSWORD`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The repository the signatures name (cosign's docker-reference); by default the
    /// release's `repository`.
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let Args {
        layout,
        key,
        repository,
    } = args;
    let key = load_private_key(key, cx.format)?;
    let signing = glc::sign::sign_layout(layout, &key, repository.as_deref(), |holder| {
        waiting(cx.format, layout, holder);
    })?;
    if cx.json() {
        summary_json(
            "sign",
            cx.started,
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
