//! `glc verify`: check any OCI image layout, and with options its signatures and that it is
//! what its release file gives.

use std::io::Write;
use std::path::PathBuf;

use glc::ReleaseFile;
use glc::diagnostic::{Diagnostic, Diagnostics};

use super::{
    Context, Failure, derive_options, emit_json, load_public_key, summary_json, to_json,
    write_stdout,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The layout directory.
    pub layout: PathBuf,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also derive the layout again from this release file and its inputs (hashing every
    /// input, trusting no cache) and report every tag, manifest or blob that differs.
    #[arg(long, value_name = "FILE")]
    pub release: Option<PathBuf>,
    /// With --release: accept paths that leave the release file's directory.
    #[arg(long, requires = "release")]
    pub allow_outside: bool,
    /// Also check every manifest's cosign signature with this public key, as the update
    /// tool does; a manifest signed by another key or altered is an error.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// With --key: an unsigned manifest is an error, not a warning.
    #[arg(long, requires = "key")]
    pub require_signatures: bool,
}

pub fn run(args: &Args, cx: Context) -> Result<(), Failure> {
    let Args {
        layout,
        json,
        release,
        allow_outside,
        key,
        require_signatures,
    } = args;
    if !layout.is_dir() {
        return Err(vec![
            Diagnostic::error(
                "glc::verify",
                format!("{} is not a directory", layout.display()),
            )
            .help("pass an OCI image layout directory, e.g. the output of `glc build`"),
        ]
        .into());
    }
    let public_key = load_public_key(key.as_deref())?;
    // A release file that cannot be read is said before the layout is read.
    let release = release
        .as_deref()
        .map(|file| Ok::<_, Diagnostics>((file, ReleaseFile::read(file)?)))
        .transpose()?;
    let mut report = glc::verify::verify(layout);
    if let Some(key) = &public_key {
        let unsigned = if *require_signatures {
            glc::sign::Unsigned::Error
        } else {
            glc::sign::Unsigned::Warning
        };
        let (findings, counts) = glc::sign::verify(layout, key, unsigned);
        report.findings.extend(findings);
        report.signatures = Some(counts);
    }
    if let Some((file, release)) = release {
        let derived = glc::build::derive::derive(&release, &derive_options(*allow_outside)?)?;
        let name = file.display().to_string();
        report
            .findings
            .extend(glc::build::derive::compare(layout, &derived, &name));
    }
    if *json {
        write_stdout(&to_json(&report)?)?;
        if cx.json() && report.errors() == 0 {
            summary_json("verify", cx.started, report.summary_json(layout));
        }
    } else if cx.json() {
        for finding in &report.findings {
            emit_json(&finding.to_diagnostic().to_json());
        }
        summary_json("verify", cx.started, report.summary_json(layout));
    } else {
        let _ = std::io::stderr()
            .lock()
            .write_all(report.render_text(layout).as_bytes());
    }
    if report.errors() > 0 {
        // The findings are the report; exit 1 without repeating them.
        return Err(Failure::Reported);
    }
    Ok(())
}
