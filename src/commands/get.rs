//! `glc get`: one file of one cloud image of a release, from a layout or a registry, checked
//! against its digest and, with `--key`, the signatures.

use std::path::{Path, PathBuf};

use glc::diagnostic::{Diagnostic, Diagnostics};
use glc::get::GetError;

use super::{Context, RegistryArgs, load_public_key, summary_json, write_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release: an OCI image layout directory, or `REGISTRY/REPO:TAG` naming its
    /// release tag (only the documents on the way and the file are downloaded).
    pub source: String,
    /// The cloud image: its cname, a prefix of it, or matrix values such as
    /// `platform=aws,arch=amd64` (`.`: every image, for --list).
    #[arg(default_value = ".")]
    pub selector: String,
    /// The layer of this role.
    #[arg(long, value_name = "ROLE", group = "what")]
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(layer_roles()))]
    pub role: Option<String>,
    /// The layer with this title (file name).
    #[arg(long, value_name = "NAME", group = "what")]
    pub file: Option<String>,
    /// The layer of the attachment of this kind, e.g. `test-log`.
    #[arg(long, value_name = "KIND", group = "what")]
    pub attachment: Option<String>,
    /// A file of the release as a whole, by its name in the release's metadata: `version`,
    /// the changelog's, a metadata `file`'s, `release-manifest.json` (no image is chosen).
    #[arg(long, value_name = "NAME", group = "what")]
    pub metadata: Option<String>,
    /// Where to write it (`-`: standard output); an existing file is replaced whole,
    /// only when the bytes are right.
    #[arg(short, long, value_name = "PATH", required_unless_present = "list")]
    pub output: Option<PathBuf>,
    /// Refuse unless the cosign signatures of the release index and of the image verify
    /// with this public key.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// List the images the selector matches, with their roles, files and attachments.
    #[arg(long, conflicts_with_all = ["what", "output", "key"])]
    pub list: bool,
    /// The release tag, where the layout holds several releases.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The role names `glc get --role` takes.
fn layer_roles() -> Vec<&'static str> {
    glc::get::layer_roles()
        .map(glc::front::role::Role::node)
        .collect()
}

impl Args {
    /// The layer asked for: by role, file name or attachment kind.
    fn what(&self) -> Option<glc::get::What> {
        if let Some(name) = &self.metadata {
            return Some(glc::get::What::Metadata(name.clone()));
        }
        match (&self.role, &self.file, &self.attachment) {
            (Some(role), _, _) => glc::front::role::Role::LAYERS
                .into_iter()
                .find(|r| r.node() == role)
                .map(glc::get::What::Role),
            (_, Some(file), _) => Some(glc::get::What::File(file.clone())),
            (_, _, Some(kind)) => Some(glc::get::What::Attachment(kind.clone())),
            _ => None,
        }
    }

    fn output(&self) -> Option<glc::get::Output> {
        self.output.as_ref().map(|o| {
            if o.as_os_str() == "-" {
                glc::get::Output::Stdout
            } else {
                glc::get::Output::File(o.clone())
            }
        })
    }
}

pub fn run(args: &Args, cx: Context) -> Result<(), Diagnostics> {
    let what = args.what();
    let output = args.output();
    let (layout, named_tag) = open(&args.source, args.tag.as_deref(), args.registry.clone())?;
    // From a registry, the reference names the release tag.
    let tag = named_tag.as_deref().or(args.tag.as_deref());
    let layout = layout.as_ref();
    let public_key = load_public_key(args.key.as_deref())?;
    let request = glc::get::Request {
        selector: &args.selector,
        tag,
        key: public_key.as_ref(),
    };
    if args.list {
        let listed = glc::get::list(layout, &request)?;
        let text = if cx.json() {
            listed
                .iter()
                .filter_map(|l| serde_json::to_string(l).ok())
                .map(|line| line + "\n")
                .collect()
        } else {
            glc::get::render(&listed)
        };
        write_stdout(&text)?;
        cx.summary("get", || serde_json::json!({ "images": listed.len() }));
        return Ok(());
    }
    let Some(output) = output else {
        return Err(vec![Diagnostic::error(
            "glc::usage",
            "say where to write the file: -o PATH, or -o - for standard output",
        )]);
    };
    let got = glc::get::get(layout, &request, what.as_ref(), &output)?;
    if cx.json() {
        summary_json("get", cx.started, serde_json::json!({ "file": got }));
    } else {
        eprintln!("{}", got.summary_text());
    }
    Ok(())
}

/// The release to read, a layout or a registry repository; and from a registry, the tag its
/// reference names.
fn open(
    source: &str,
    tag: Option<&str>,
    registry: RegistryArgs,
) -> Result<(Box<dyn glc::oci::store::Store>, Option<String>), Diagnostics> {
    if !glc::get::is_registry_reference(source) {
        let layout = glc::oci::store::Layout::open(Path::new(source)).map_err(GetError::Layout)?;
        return Ok((Box::new(layout), None));
    }
    let (host, repository, named) = glc::pull::parse_source(source).map_err(|e| {
        vec![
            Diagnostic::error("glc::usage", e)
                .help("e.g. `glc get 127.0.0.1:5000/gardenlinux:1877.3 aws-gardener_prod-amd64 --role kernel -o vmlinuz`"),
        ]
    })?;
    if tag.is_some_and(|t| t != named) {
        return Err(vec![Diagnostic::error(
            "glc::usage",
            format!("`{source}` names its tag; --tag cannot name another"),
        )]);
    }
    let repository =
        glc::registry::source::Reader::open(&host, &repository, &named, registry.options())
            .map_err(GetError::Registry)?;
    Ok((Box::new(repository), Some(named)))
}
