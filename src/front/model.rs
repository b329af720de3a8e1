//! The typed model of a release file, as decoded from the checked KDL document. Templates are
//! still unrendered; every string keeps the span it came from.

use miette::SourceSpan;

use crate::front::role::Role;

/// A string from the release file and where it was written.
#[derive(Debug, Clone)]
pub struct Text {
    pub value: String,
    /// The span of the value as written, quotes included.
    pub span: SourceSpan,
    /// Byte offset in the file of the string's first character, when offsets inside the string
    /// map one to one onto the file (no escapes, not multi-line); lets errors point inside it.
    pub content_offset: Option<usize>,
}

impl Text {
    /// The span of bytes `range` of the string's value, or the whole value if they cannot be
    /// mapped onto the file.
    #[must_use]
    pub fn sub_span(&self, range: std::ops::Range<usize>) -> SourceSpan {
        match self.content_offset {
            Some(start) if range.end <= self.value.len() && range.start <= range.end => {
                SourceSpan::from((start + range.start, (range.end - range.start).max(1)))
            }
            _ => self.span,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Release {
    pub version: Text,
    pub commit: Text,
    pub created: Text,
    pub source: Option<Text>,
    pub repository: Option<Text>,
    pub tags: Vec<Text>,
    pub vars: Vec<Var>,
    pub metadata: Metadata,
    pub cloud_images: Option<CloudImages>,
    pub containers: Vec<ContainerItem>,
}

/// A `vars` entry: a name and a template.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: Text,
    pub value: Text,
}

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub changelog: Option<FileRef>,
    /// `file`s: the release's own files (release notes, versions, an SBOM), in order.
    pub files: Vec<FileRef>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub name: Text,
    pub target: Text,
}

/// A file named by a path template, with an optional explicit media type.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub path: Text,
    pub media_type: Option<Text>,
    /// `if="…"`: the file is in an image only where this expression holds.
    pub condition: Option<Text>,
    /// `feature-set="KEY"`: the image's `feature_set` is this key's value in the file.
    pub feature_set: Option<Text>,
}

#[derive(Debug, Clone)]
pub struct CloudImages {
    /// The `matrix` or `flavors` node's name, for errors about the images as a whole.
    pub span: SourceSpan,
    /// The combinations: a matrix, or the flavors of a flavors file (exactly one).
    pub matrix: Option<Matrix>,
    pub flavors: Option<FlavorsSource>,
    pub vars: Vec<Var>,
    /// The `image` templates, in order: each combination is made by the one whose `if` holds
    /// (a template without `if` chooses every combination).
    pub images: Vec<ImageTemplate>,
    /// `gl-oci #true`: where it was written. The images are published as gl-oci publishes
    /// them too (per-flavor tags, layer architectures, the short commit).
    pub gl_oci: Option<SourceSpan>,
}

/// `flavors "flavors.yaml" publish=#true …`: the images are the flavors the filter selects.
#[derive(Debug, Clone)]
pub struct FlavorsSource {
    pub path: Text,
    pub filter: crate::front::flavors::Filter,
}

#[derive(Debug, Clone)]
pub struct Matrix {
    /// The `matrix` node's name, for errors about the matrix as a whole.
    pub span: SourceSpan,
    pub axes: Vec<Axis>,
    pub exclude: Vec<Selector>,
    pub include: Vec<Selector>,
}

#[derive(Debug, Clone)]
pub struct Axis {
    pub name: Text,
    pub values: Vec<AxisValue>,
}

#[derive(Debug, Clone)]
pub struct AxisValue {
    pub value: Text,
    /// Extra template values that travel with this value.
    pub props: Vec<(Text, Text)>,
}

/// The properties of an `exclude` or `include` node.
#[derive(Debug, Clone)]
pub struct Selector {
    pub span: SourceSpan,
    pub pairs: Vec<(Text, Text)>,
}

#[derive(Debug, Clone)]
pub struct ImageTemplate {
    /// The `image` node's name, for errors about the template as a whole.
    pub span: SourceSpan,
    /// `if="…"`: the template makes the images of the combinations where this holds.
    pub condition: Option<Text>,
    pub cname: Text,
    /// The image's files in manifest order, each with its role.
    pub layers: Vec<(Role, FileRef)>,
    pub attachments: Vec<Attachment>,
    pub apt_repository: Option<AptRepository>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub kind: Text,
    pub file: FileRef,
}

#[derive(Debug, Clone)]
pub struct AptRepository {
    pub url: Text,
    pub dist: Text,
    pub component: Text,
}

#[derive(Debug, Clone)]
pub enum ContainerItem {
    Container(ContainerTemplate),
    Group(Group),
    ForEach(ForEach),
}

#[derive(Debug, Clone)]
pub struct ContainerTemplate {
    pub name: Text,
    pub from: Text,
    pub reference: Option<Text>,
    pub tag: Option<Text>,
    /// Where `default=#true` was written, if it was.
    pub default: Option<SourceSpan>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: Text,
    pub items: Vec<ContainerItem>,
}

#[derive(Debug, Clone)]
pub struct ForEach {
    pub items: Vec<Text>,
    pub containers: Vec<ContainerTemplate>,
}
