//! The plan: every template rendered, every combination concrete. `expand` makes a plan of
//! paths, `resolve` a plan of files found on disk; `glc plan --json` prints the latter.

use std::path::PathBuf;

use miette::SourceSpan;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::front::role::Role;

mod inputs;
pub use inputs::{Expects, Input, Inputs, inputs, render_inputs_text};

#[derive(Debug, Clone, Serialize)]
pub struct Plan<F, C> {
    pub release: ReleaseInfo,
    /// Tags of the release index.
    pub tags: Vec<String>,
    pub metadata: MetadataPlan<F>,
    /// The cloud images to build: all of the release's, or those `--only` selected.
    pub images: Vec<ImagePlan<F>>,
    /// Every container of the release, selected or not: `ContainerImages`, which every cloud
    /// image names by digest, lists them all.
    pub containers: Vec<ContainerPlan<C>>,
    /// What `--only` selected; `None` for the whole release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// What the release leaves out without being wrong: said, never fatal unless
    /// `--deny-warnings`.
    #[serde(skip)]
    pub warnings: Vec<crate::diagnostic::Diagnostic>,
}

/// A part of a release, chosen with `--only`: built into a layout of its own, merged with the
/// other parts by `glc merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// `sha256:` of the release file's bytes: parts merge only with parts of the same file.
    pub release_file: String,
    /// Every cname of the release, selected or not, sorted.
    pub all_images: Vec<String>,
    /// The names of the containers selected, sorted.
    pub containers: Vec<String>,
}

impl<F, C> Plan<F, C> {
    /// Whether the container is built: always in a whole release, in a part if selected.
    #[must_use]
    pub fn builds_container(&self, name: &str) -> bool {
        self.part
            .as_ref()
            .is_none_or(|part| part.containers.iter().any(|c| c == name))
    }
}

/// A plan whose files are rendered paths, not yet looked up.
pub type ExpandedPlan = Plan<PlannedFile, PlannedFile>;
/// A plan whose files were found on disk, with sizes and media types.
pub type ResolvedPlan = Plan<ResolvedFile, ContainerSource>;

impl ResolvedPlan {
    /// Every input file of a build (changelog, layers, attachments), once per use.
    pub fn input_files(&self) -> impl Iterator<Item = &ResolvedFile> {
        let images = self
            .images
            .iter()
            .flat_map(|i| i.layers().chain(i.attachments.iter().map(|a| &a.file)));
        self.metadata
            .changelog
            .iter()
            .chain(&self.metadata.files)
            .chain(images)
    }

    /// Every path a build reads, as written in the release and as found on disk.
    pub fn input_paths(&self) -> impl Iterator<Item = (&str, &std::path::Path)> {
        self.input_files()
            .map(|f| (f.path.as_str(), f.absolute.as_path()))
            .chain(
                self.containers
                    .iter()
                    .map(|c| (c.from.path.as_str(), c.from.absolute.as_path())),
            )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInfo {
    pub version: String,
    pub version_major: String,
    pub version_minor: String,
    pub version_patch: String,
    pub commit: String,
    pub commit_short: String,
    /// RFC 3339 UTC; from `created`, or from `SOURCE_DATE_EPOCH` when set.
    pub created: String,
    pub source: Option<String>,
    pub repository: Option<String>,
    /// `gl-oci #true`: the cloud images are published as gl-oci publishes them too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gl_oci: bool,
}

/// The tag under which Garden Linux's library finds an image: `Container.read_manifest`
/// (python-gardenlinux-lib, `gardenlinux.oci`) asks for `<version>-<cname>-<arch>`, the tag
/// `Container.push_manifest` gives it. The cname is the whole one (`…-amd64-1877.3-75df9f40`),
/// so the arch appears twice.
#[must_use]
pub fn gl_oci_tag(version: &str, cname: &str, arch: &str) -> String {
    format!("{version}-{cname}-{arch}")
}

#[derive(Debug, Clone, Serialize)]
pub struct MetadataPlan<F> {
    pub changelog: Option<F>,
    /// The release's own files, layers of `MetaData` after the changelog.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<F>,
    pub links: Vec<LinkPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPlan {
    pub name: String,
    pub target: String,
}

#[derive(Debug, Clone)]
pub struct ImagePlan<F> {
    pub cname: String,
    /// The combination's axis values, in the matrix's axis order.
    pub matrix: Bindings,
    /// The `if="…"` of the `image` template that made it, if it has one.
    pub condition: Option<String>,
    /// The image's files in manifest order ([`Role::LAYERS`]), each with its role.
    pub layers: Vec<(Role, F)>,
    pub attachments: Vec<AttachmentPlan<F>>,
    pub apt_repository: Option<AptRepositoryPlan>,
}

impl<F> ImagePlan<F> {
    /// The image's layers in manifest order.
    pub fn layers(&self) -> impl Iterator<Item = &F> {
        self.layers.iter().map(|(_, file)| file)
    }
}

/// As `glc plan --json` writes an image: a key of its own for each role that names one file
/// (`null` without one), `files` for the repeated ones.
impl<F: Serialize> Serialize for ImagePlan<F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("cname", &self.cname)?;
        map.serialize_entry("matrix", &self.matrix)?;
        if let Some(condition) = &self.condition {
            map.serialize_entry("if", condition)?;
        }
        for role in Role::LAYERS {
            let mut files = self
                .layers
                .iter()
                .filter(|(r, _)| *r == role)
                .map(|(_, f)| f);
            if role.repeats() {
                // `file` → `files`
                map.serialize_entry(&format!("{}s", role.node()), &files.collect::<Vec<_>>())?;
            } else {
                map.serialize_entry(role.node(), &files.next())?;
            }
        }
        map.serialize_entry("attachments", &self.attachments)?;
        map.serialize_entry("apt_repository", &self.apt_repository)?;
        map.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentPlan<F> {
    pub kind: String,
    pub file: F,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptRepositoryPlan {
    pub url: String,
    pub dist: String,
    pub component: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerPlan<C> {
    pub name: String,
    pub group: Option<String>,
    pub from: C,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub tag: String,
    /// `default=#true`: what `podman pull <repo>:<version>` gets.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// The matrix axes whose values Garden Linux's clients read. They are a convention of Garden
/// Linux releases that nothing in release.kdl declares, so glc names them here only.
pub mod axis {
    /// Becomes `architecture` and the platform's architecture.
    pub const ARCH: &str = "arch";
    /// Becomes `feature_set`, and with `platform` the `flavor`.
    pub const FEATURES: &str = "features";
    pub const PLATFORM: &str = "platform";
    /// A flavors file's platform.
    pub const TARGET: &str = "target";
    /// The expanded features a build's `.release` names (`feature-set="KEY"`).
    pub const FEATURE_SET: &str = "feature_set";
}

/// What Garden Linux's clients read of a cloud image besides its cname, version and commit,
/// taken from its combination's [`axis`] values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientNames {
    pub architecture: Option<String>,
    pub feature_set: Option<String>,
    pub flavor: Option<String>,
}

impl ClientNames {
    #[must_use]
    pub fn of(matrix: &Bindings) -> Self {
        let features = matrix.get(axis::FEATURES);
        Self {
            architecture: matrix.get(axis::ARCH).map(str::to_owned),
            // The build's own feature set, when the release takes it from the build.
            feature_set: matrix
                .get(axis::FEATURE_SET)
                .or(features)
                .map(str::to_owned),
            flavor: matrix
                .get(axis::PLATFORM)
                .or_else(|| matrix.get(axis::TARGET))
                .zip(features)
                .map(|(platform, features)| flavor(platform, features)),
        }
    }
}

/// Garden Linux's flavor: platform and features (a `,`-separated list, as a flavors file's
/// `feature_set`) joined by `-`, `-_` written `_`: `aws-gardener_prod`, `baremetal_pxe`.
fn flavor(platform: &str, features: &str) -> String {
    let features: Vec<String> = features.split(',').map(str::to_owned).collect();
    let with_arch = crate::front::flavors::flavor_name(platform, &features, "");
    with_arch.strip_suffix('-').unwrap_or(&with_arch).to_owned()
}

/// Name/value pairs kept in order; serialized as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings(pub Vec<(String, String)>);

impl Bindings {
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// "for platform=aws arch=arm64", or "" when there is nothing to say.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("for {}", pairs.join(" "))
    }
}

impl<'de> Deserialize<'de> for Bindings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Bindings;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Bindings, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Bindings(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

impl Serialize for Bindings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A file's layer title: its name as the release file wrote it (not a symlink's target).
#[must_use]
pub fn file_title(path: &str) -> String {
    std::path::Path::new(path).file_name().map_or_else(
        || path.trim_end_matches('/').to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Where a rendered string came from, for diagnostics.
#[derive(Debug, Clone)]
pub struct Origin {
    pub span: SourceSpan,
    pub bindings: Bindings,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    pub path: String,
    pub media_type: Option<String>,
    pub role: Role,
    #[serde(skip)]
    pub origin: Origin,
    #[serde(skip)]
    pub media_type_span: Option<SourceSpan>,
    /// The `if="…"` that kept it in this image.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `feature-set="KEY"`: the key whose value is the image's `feature_set`, and where.
    #[serde(skip)]
    pub feature_set: Option<(String, SourceSpan)>,
}

impl PlannedFile {
    /// The media type the release gives the file whatever is on disk: its `media-type=`,
    /// its role's, or the one of its name; `None` if only a directory there would tell.
    #[must_use]
    pub fn named_media_type(&self) -> Option<String> {
        self.media_type
            .clone()
            .or_else(|| self.role.media_type().map(str::to_owned))
            .or_else(|| {
                crate::front::media_type::for_name(&file_title(&self.path)).map(str::to_owned)
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    File,
    /// Packed into a deterministic tar when built.
    Directory,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedFile {
    /// The path as rendered, relative to the release file's directory.
    pub path: String,
    #[serde(skip)]
    pub absolute: PathBuf,
    pub kind: FileKind,
    /// Bytes of the file, or of every regular file in the directory.
    pub size: u64,
    pub media_type: String,
    pub role: Role,
    /// The `if="…"` that kept it in this image.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The path template it was rendered from, for errors while building.
    #[serde(skip)]
    pub span: SourceSpan,
}

pub use crate::oci::source::SourceKind;

#[derive(Debug, Clone, Serialize)]
pub struct ContainerSource {
    pub path: String,
    #[serde(skip)]
    pub absolute: PathBuf,
    pub kind: SourceKind,
    /// The image picked from the source: imported with these bytes, so with this digest.
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// For the default container: its platform images (`linux/<arch>`), as descriptors the
    /// release index lists for `podman pull <repo>:<version>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<serde_json::Value>,
    /// The `from` template, for errors while building.
    #[serde(skip)]
    pub span: SourceSpan,
    /// The source as resolving opened it: the build imports from it, not from the path
    /// again, so a source is opened once a build and what is imported is what was picked.
    #[serde(skip)]
    pub opened: Option<OpenedSource>,
}

/// An opened container source, shared by the plan's copies.
#[derive(Clone)]
pub struct OpenedSource(pub std::sync::Arc<crate::oci::source::OciSource>);

impl std::fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedSource")
    }
}

/// The plan for people: one line a file, aligned.
#[must_use]
pub fn render_text(plan: &ResolvedPlan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let r = &plan.release;
    let _ = writeln!(
        out,
        "release {} (commit {}, created {})",
        r.version, r.commit_short, r.created
    );
    if let Some(repository) = &r.repository {
        let _ = writeln!(out, "repository {repository}");
    }
    let _ = writeln!(out, "tags {}", plan.tags.join(" "));
    if let Some(part) = &plan.part {
        let _ = writeln!(
            out,
            "part: {} of {} cloud images, {} of {} containers",
            plan.images.len(),
            part.all_images.len(),
            part.containers.len(),
            plan.containers.len()
        );
    }
    let _ = writeln!(out, "\nmetadata");
    if let Some(changelog) = &plan.metadata.changelog {
        file_line(&mut out, "changelog", changelog);
    }
    for file in &plan.metadata.files {
        file_line(&mut out, "file", file);
    }
    for link in &plan.metadata.links {
        let _ = writeln!(out, "  link {:<16} {}", link.name, link.target);
    }
    let _ = writeln!(out, "\ncloud images ({})", plan.images.len());
    for image in &plan.images {
        let condition = image
            .condition
            .as_ref()
            .map_or_else(String::new, |c| format!("  if {c}"));
        let _ = writeln!(
            out,
            "  {}  {}{condition}",
            image.cname,
            image.matrix.describe()
        );
        for (role, file) in &image.layers {
            file_line(&mut out, role.node(), file);
        }
        for attachment in &image.attachments {
            file_line(
                &mut out,
                &format!("attach {}", attachment.kind),
                &attachment.file,
            );
        }
        if let Some(apt) = &image.apt_repository {
            let _ = writeln!(
                out,
                "    apt-repository {} {} {}",
                apt.url, apt.dist, apt.component
            );
        }
    }
    let _ = writeln!(out, "\ncontainers ({})", plan.containers.len());
    for c in &plan.containers {
        let name = c
            .group
            .as_ref()
            .map_or_else(|| c.name.clone(), |g| format!("{g}/{}", c.name));
        let kind = match c.from.kind {
            SourceKind::OciLayout => "oci-layout",
            SourceKind::OciArchive => "oci-archive",
        };
        let not_built = if plan.builds_container(&c.name) {
            ""
        } else {
            "  not in this part"
        };
        let _ = writeln!(
            out,
            "  {name:<28} tag {:<32} from {} ({kind}){not_built}",
            c.tag, c.from.path
        );
    }
    out
}

/// The files of the plan's cloud images: their layers and attachments.
fn image_files(plan: &ResolvedPlan) -> usize {
    plan.images
        .iter()
        .map(|i| i.layers().count() + i.attachments.len())
        .sum()
}

/// What `glc check` says of the release file `file` that compiles to `plan`.
#[must_use]
pub fn check_text(plan: &ResolvedPlan, file: &std::path::Path) -> String {
    format!(
        "{}: release {}: {}, {}, {}, {}\n",
        file.display(),
        plan.release.version,
        count(plan.images.len(), "cloud image"),
        count(image_files(plan), "image file"),
        count(plan.containers.len(), "container"),
        count(plan.tags.len(), "release tag"),
    )
}

/// The fields of `glc check`'s summary line with `--message-format json`.
#[must_use]
pub fn check_json(plan: &ResolvedPlan, file: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "file": file.display().to_string(),
        "release": plan.release.version,
        "images": plan.images.len(),
        "files": image_files(plan),
        "containers": plan.containers.len(),
        "tags": plan.tags.len(),
    })
}

fn file_line(out: &mut String, role: &str, file: &ResolvedFile) {
    use std::fmt::Write;
    let dir = if file.kind == FileKind::Directory {
        "/"
    } else {
        ""
    };
    let condition = file
        .condition
        .as_ref()
        .map_or_else(String::new, |c| format!("  if {c}"));
    let _ = writeln!(
        out,
        "    {role:<18} {:>10}  {:<58} {}{dir}{condition}",
        human_size(file.size),
        file.media_type,
        file.path
    );
}

pub use crate::util::text::count;

/// 1536 → "1.5 KiB".
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024 * 10 && unit < UNITS.len() - 1 {
        value /= 1024;
        unit += 1;
    }
    if unit == 0 && bytes >= 1024 {
        // One decimal for the first unit up, where it still says something.
        let tenths = bytes * 10 / 1024;
        return format!("{}.{} KiB", tenths / 10, tenths % 10);
    }
    format!("{value} {}", UNITS[unit])
}
