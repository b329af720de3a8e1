//! Stage 3: the checked KDL document → the typed model. The schema has already guaranteed the
//! shape; this stage adds the rules a schema cannot say (valid names, versions, timestamps).

use std::collections::BTreeMap;
use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode};
use miette::SourceSpan;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};
use crate::front::model::{
    AptRepository, Attachment, Axis, AxisValue, CloudImages, ContainerItem, ContainerTemplate,
    FileRef, FlavorsSource, ForEach, Group, ImageTemplate, Link, Matrix, Metadata, Release,
    Selector, Text, Var,
};
use crate::front::role::Role;

/// Template values glc defines itself; user `vars` and matrix axes may not take these names.
pub const BUILTINS: &[&str] = &[
    "version",
    "version_major",
    "version_minor",
    "version_patch",
    "commit",
    "commit_short",
    "created",
    "repository",
    "cname",
    "name",
    "group",
    "item",
];

pub fn decode(document: &KdlDocument, source: &Arc<SourceFile>) -> Result<Release, Diagnostics> {
    let mut decoder = Decoder {
        source,
        diagnostics: Vec::new(),
    };
    let release = document
        .nodes()
        .iter()
        .find(|node| node.name().value() == "release");
    let result = release.and_then(|node| decoder.release(node));
    match result {
        Some(release) if decoder.diagnostics.is_empty() => Ok(release),
        _ => {
            if decoder.diagnostics.is_empty() {
                decoder
                    .diagnostics
                    .push(decoder.internal(SourceSpan::from((0, 0))));
            }
            Err(decoder.diagnostics)
        }
    }
}

/// The string value of an entry, with the spans that let errors point inside it.
#[must_use]
pub fn text(entry: &KdlEntry) -> Option<Text> {
    let value = entry.value().as_string()?.to_owned();
    let span = entry.span();
    let end = span.offset() + span.len();
    let repr = entry.format().map(|f| f.value_repr.trim());
    let (value_span, content_offset) = match repr {
        Some(repr) if repr.len() <= span.len() => {
            let start = end - repr.len();
            (
                SourceSpan::from((start, repr.len())),
                content_offset(repr).map(|skip| start + skip),
            )
        }
        _ => (span, None),
    };
    Some(Text {
        value,
        span: value_span,
        content_offset,
    })
}

/// Where the characters of a string start within its written form, if they map one to one.
fn content_offset(repr: &str) -> Option<usize> {
    let hashes = repr.bytes().take_while(|b| *b == b'#').count();
    let rest = &repr[hashes..];
    if rest.starts_with("\"\"\"") {
        return None; // multi-line strings are dedented
    }
    if let Some(inner) = rest.strip_prefix('"') {
        // Escapes change lengths, except in raw strings.
        return (hashes > 0 || !inner.contains('\\')).then_some(hashes + 1);
    }
    Some(0) // a bare identifier string
}

fn name_text(node: &KdlNode) -> Text {
    let span = node.name().span();
    let repr = node.name().repr().map(str::trim);
    let content = repr
        .and_then(content_offset)
        .map(|skip| span.offset() + skip);
    Text {
        value: node.name().value().to_owned(),
        span,
        content_offset: content,
    }
}

/// A template value already defined: its name, what it is, and where (if in the file).
#[derive(Debug, Clone, Copy)]
struct Defined<'a> {
    name: &'a str,
    what: &'static str,
    span: Option<SourceSpan>,
}

impl<'a> Defined<'a> {
    fn of(text: &'a Text, what: &'static str) -> Self {
        Self {
            name: &text.value,
            what,
            span: Some(text.span),
        }
    }
}

struct Decoder<'a> {
    source: &'a Arc<SourceFile>,
    diagnostics: Diagnostics,
}

impl Decoder<'_> {
    fn internal(&self, span: SourceSpan) -> Diagnostic {
        Diagnostic::error(
            "glc::internal",
            "glc's schema and decoder disagree about this node",
        )
        .in_file(self.source)
        .label(span, "here")
        .help("this is a bug in glc; please report it with this file")
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic.in_file(self.source));
    }

    fn arg(&mut self, node: &KdlNode, index: usize) -> Option<Text> {
        let found = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .nth(index)
            .and_then(text);
        if found.is_none() {
            let internal = self.internal(node.name().span());
            self.diagnostics.push(internal);
        }
        found
    }

    fn args(node: &KdlNode) -> Vec<Text> {
        node.entries()
            .iter()
            .filter(|e| e.name().is_none())
            .filter_map(text)
            .collect()
    }

    fn prop(node: &KdlNode, name: &str) -> Option<Text> {
        node.entries()
            .iter()
            .rev() // the last of repeated properties, as KDL defines (the checker has flagged repeats)
            .find(|e| e.name().is_some_and(|n| n.value() == name))
            .and_then(text)
    }

    fn props(node: &KdlNode) -> Vec<(Text, Text)> {
        node.entries()
            .iter()
            .filter_map(|e| {
                let key = e.name()?;
                let key_text = Text {
                    value: key.value().to_owned(),
                    span: key.span(),
                    content_offset: None,
                };
                Some((key_text, text(e)?))
            })
            .collect()
    }

    fn one<'n>(node: &'n KdlNode, name: &str) -> Option<&'n KdlNode> {
        children(node)
            .iter()
            .find(|child| child.name().value() == name)
    }

    fn release(&mut self, node: &KdlNode) -> Option<Release> {
        let version = self.arg(node, 0)?;
        self.version(&version);
        let commit = self.single_arg(node, "commit")?;
        self.commit(&commit);
        let created = self.single_arg(node, "created")?;
        self.created(&created);
        let source = Self::one(node, "source").and_then(|n| self.arg(n, 0));
        let repository = Self::one(node, "repository").and_then(|n| self.arg(n, 0));
        let tags = children_named(node, "tag").flat_map(Self::args).collect();
        let vars = Self::one(node, "vars")
            .map(|n| self.vars(n, &[]))
            .unwrap_or_default();
        let metadata = Self::one(node, "metadata")
            .map(|n| self.metadata(n))
            .unwrap_or_default();
        let cloud_images =
            Self::one(node, "cloud-images").and_then(|n| self.cloud_images(n, &vars));
        let containers = Self::one(node, "container-images")
            .map(|n| self.container_items(n))
            .unwrap_or_default();
        Some(Release {
            version,
            commit,
            created,
            source,
            repository,
            tags,
            vars,
            metadata,
            cloud_images,
            containers,
        })
    }

    fn single_arg(&mut self, node: &KdlNode, name: &str) -> Option<Text> {
        let child = Self::one(node, name);
        if child.is_none() {
            let internal = self.internal(node.name().span());
            self.diagnostics.push(internal);
        }
        self.arg(child?, 0)
    }

    fn version(&mut self, version: &Text) {
        let parts: Vec<&str> = version.value.split('.').collect();
        let numeric = parts.len() <= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric {
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-version",
                    format!("`{}` is not a release version", version.value),
                )
                .label(
                    version.span,
                    "expected MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH",
                )
                .help("Garden Linux versions are numbers separated by dots, e.g. \"1877.3\""),
            );
        }
    }

    fn commit(&mut self, commit: &Text) {
        let value = &commit.value;
        let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
        let lowercase = !value.bytes().any(|b| b.is_ascii_uppercase());
        if hex && !lowercase && (value.len() == 40 || value.len() == 64) {
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-commit",
                    format!("commit `{value}` has uppercase letters"),
                )
                .label(commit.span, "git writes commit ids in lowercase")
                .help(format!("write it as \"{}\"", value.to_ascii_lowercase())),
            );
        } else if !(hex && (value.len() == 40 || value.len() == 64)) {
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-commit",
                    format!("`{value}` is not a full commit id"),
                )
                .label(
                    commit.span,
                    format!(
                        "{} characters; expected 40 (or 64) lowercase hex digits",
                        value.chars().count()
                    ),
                )
                .help("use the full id, e.g. the output of `git rev-parse HEAD`"),
            );
        }
    }

    fn created(&mut self, created: &Text) {
        if let Err(error) = created.value.parse::<jiff::Timestamp>() {
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-timestamp",
                    format!("`{}` is not an RFC 3339 timestamp", created.value),
                )
                .label(created.span, error.to_string())
                .help("write it like \"2025-03-14T08:00:00Z\""),
            );
        }
    }

    /// A name that templates refer to: an identifier, not one already defined where it is used.
    fn template_name(&mut self, name: &Text, what: &str, taken: &[Defined]) {
        let mut chars = name.value.chars();
        let identifier = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            let suggestion = name
                .value
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-name",
                    format!("{what} `{}` cannot be used in templates", name.value),
                )
                .label(name.span, "not an identifier")
                .help(format!(
                    "use letters, digits and `_`, starting with a letter, e.g. `{suggestion}`"
                )),
            );
            return;
        }
        let builtin = BUILTINS.contains(&name.value.as_str()).then_some(Defined {
            name: &name.value,
            what: "a value glc defines",
            span: None,
        });
        let Some(other) = builtin.or_else(|| taken.iter().find(|d| d.name == name.value).copied())
        else {
            return;
        };
        let mut diagnostic = Diagnostic::error(
            "glc::decode::shadowed-name",
            format!("{what} `{}` has the name of {}", name.value, other.what),
        )
        .label(name.span, format!("would hide {}", other.what));
        if let Some(span) = other.span {
            diagnostic = diagnostic.label(span, format!("`{}` is defined here", name.value));
        }
        self.error(diagnostic.help(format!(
            "templates could not tell the two apart; rename this {what}, e.g. `my_{}`",
            name.value
        )));
    }

    fn vars(&mut self, node: &KdlNode, taken: &[Defined]) -> Vec<Var> {
        let mut vars = Vec::new();
        for child in children(node) {
            let name = name_text(child);
            self.template_name(&name, "variable", taken);
            if let Some(value) = self.arg(child, 0) {
                vars.push(Var { name, value });
            }
        }
        vars
    }

    fn metadata(&mut self, node: &KdlNode) -> Metadata {
        let changelog = Self::one(node, "changelog").and_then(|n| self.file_ref(n, 0));
        let mut links = Vec::new();
        let mut seen: BTreeMap<String, SourceSpan> = BTreeMap::new();
        for child in children_named(node, "link") {
            let (Some(name), Some(target)) = (self.arg(child, 0), self.arg(child, 1)) else {
                continue;
            };
            let valid = !name.value.is_empty()
                && name
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
            if !valid {
                self.error(
                    Diagnostic::error(
                        "glc::decode::invalid-name",
                        format!(
                            "link name `{}` is not a valid annotation key part",
                            name.value
                        ),
                    )
                    .label(name.span, "becomes io.gardenlinux.link.<name>")
                    .help("use lowercase letters, digits, `-`, `.` and `_`"),
                );
            }
            if let Some(first) = seen.insert(name.value.clone(), name.span) {
                self.error(
                    Diagnostic::error(
                        "glc::decode::duplicate-link",
                        format!("link `{}` is defined twice", name.value),
                    )
                    .label(name.span, "defined again here")
                    .label(first, "first defined here")
                    .help("each link name becomes one annotation; keep one"),
                );
            }
            links.push(Link { name, target });
        }
        let mut files = Vec::new();
        for child in children_named(node, "file") {
            let Some(file) = self.file_ref(child, 0) else {
                continue;
            };
            if let Some(key) = &file.feature_set {
                self.error(
                    Diagnostic::error(
                        "glc::decode::metadata-feature-set",
                        "`feature-set` names an image's features; a metadata file belongs to no image",
                    )
                    .label(key.span, "in `metadata`")
                    .help("put `feature-set` on a `file` of `image`, or remove it here"),
                );
            }
            files.push(file);
        }
        Metadata {
            changelog,
            files,
            links,
        }
    }

    fn file_ref(&mut self, node: &KdlNode, index: usize) -> Option<FileRef> {
        let path = self.arg(node, index)?;
        let media_type = Self::prop(node, "media-type");
        if let Some(media_type) = &media_type {
            self.media_type(media_type);
        }
        let condition = Self::prop(node, "if");
        let feature_set = Self::prop(node, "feature-set");
        Some(FileRef {
            path,
            media_type,
            condition,
            feature_set,
        })
    }

    fn media_type(&mut self, media_type: &Text) {
        let restricted = |s: &str| {
            !s.is_empty()
                && s.len() <= 127
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        let valid = media_type
            .value
            .split_once('/')
            .is_some_and(|(ty, sub)| restricted(ty) && restricted(sub));
        if !valid {
            self.error(
                Diagnostic::error(
                    "glc::decode::invalid-media-type",
                    format!("`{}` is not a media type", media_type.value),
                )
                .label(media_type.span, "expected type/subtype")
                .help("e.g. media-type=\"application/io.gardenlinux.log\""),
            );
        }
    }

    fn cloud_images(&mut self, node: &KdlNode, release_vars: &[Var]) -> Option<CloudImages> {
        let mut taken: Vec<Defined> = release_vars
            .iter()
            .map(|v| Defined::of(&v.name, "a release variable"))
            .collect();
        let (matrix, flavors, span) = match (Self::one(node, "matrix"), Self::one(node, "flavors"))
        {
            (Some(m), None) => (Some(self.matrix(m, &taken)), None, m.name().span()),
            (None, Some(f)) => (None, Some(self.flavors(f)?), f.name().span()),
            (matrix, flavors) => {
                let mut diagnostic = Diagnostic::error(
                    "glc::decode::images-source",
                    if matrix.is_some() {
                        "`cloud-images` has both a `matrix` and `flavors`"
                    } else {
                        "`cloud-images` has neither a `matrix` nor `flavors`"
                    },
                );
                for n in matrix.iter().chain(flavors.iter()) {
                    diagnostic = diagnostic.label(n.name().span(), "one source of images");
                }
                if matrix.is_none() {
                    diagnostic = diagnostic.label(node.name().span(), "no images here");
                }
                self.error(diagnostic.help(
                        "give the images either as a `matrix { … }` or as `flavors \"flavors.yaml\"`, not both",
                    ));
                return None;
            }
        };
        if let Some(matrix) = &matrix {
            taken.extend(
                matrix
                    .axes
                    .iter()
                    .map(|a| Defined::of(&a.name, "a matrix axis")),
            );
            for (key, _) in matrix
                .axes
                .iter()
                .flat_map(|a| &a.values)
                .flat_map(|v| &v.props)
            {
                if !taken.iter().any(|d| d.name == key.value) {
                    taken.push(Defined::of(key, "a property of a matrix value"));
                }
            }
        } else {
            let values: Vec<Defined> = crate::front::flavors::VALUES
                .iter()
                .map(|name| Defined {
                    name,
                    what: "a value of each flavor",
                    span: None,
                })
                .collect();
            for var in release_vars {
                self.template_name(&var.name, "release variable", &values);
            }
            taken.extend(values);
        }
        let vars = Self::one(node, "vars")
            .map(|n| self.vars(n, &taken))
            .unwrap_or_default();
        let images: Vec<ImageTemplate> = children_named(node, "image")
            .filter_map(|n| self.image(n))
            .collect();
        if images.is_empty() {
            // The schema requires one; one that fails to decode has said why.
            return None;
        }
        let gl_oci = Self::one(node, "gl-oci")
            .filter(|n| {
                n.entries()
                    .iter()
                    .find(|e| e.name().is_none())
                    .and_then(|e| e.value().as_bool())
                    == Some(true)
            })
            .map(|n| n.name().span());
        Some(CloudImages {
            span,
            matrix,
            flavors,
            vars,
            images,
            gl_oci,
        })
    }

    fn flavors(&mut self, node: &KdlNode) -> Option<FlavorsSource> {
        let path = self.arg(node, 0)?;
        let flag = |name: &str| {
            node.entries()
                .iter()
                .rev()
                .find(|e| e.name().is_some_and(|n| n.value() == name))
                .and_then(|e| e.value().as_bool())
                .unwrap_or(false)
        };
        let list = |name: &str| -> Vec<String> {
            Self::prop(node, name)
                .map(|t| {
                    t.value
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let filter = crate::front::flavors::Filter {
            build: flag("build"),
            test: flag("test"),
            test_platform: flag("test-platform"),
            publish: flag("publish"),
            include_only: list("include-only"),
            exclude: list("exclude"),
            categories: list("category"),
            exclude_categories: list("exclude-category"),
        };
        for name in ["include-only", "exclude"] {
            if let Some(text) = Self::prop(node, name)
                && let Err(problem) = crate::front::flavors::Filter::check_globs(&list(name))
            {
                self.error(
                    Diagnostic::error("glc::decode::invalid-glob", problem)
                        .label(text.span, "not a glob")
                        .help("globs as gl-flavors-parse takes them: `*`, `?` and `[…]`, e.g. \"*-arm64\""),
                );
            }
        }
        Some(FlavorsSource { path, filter })
    }

    fn matrix(&mut self, node: &KdlNode, release_vars: &[Defined]) -> Matrix {
        let mut axes: Vec<Axis> = Vec::new();
        let mut exclude = Vec::new();
        let mut include = Vec::new();
        for child in children(node) {
            match child.name().value() {
                "exclude" => exclude.push(Selector {
                    span: child.name().span(),
                    pairs: Self::props(child),
                }),
                "include" => include.push(Selector {
                    span: child.name().span(),
                    pairs: Self::props(child),
                }),
                axis_name => {
                    let props = Self::props(child);
                    let values = Self::args(child).into_iter().map(|value| AxisValue {
                        value,
                        props: props.clone(),
                    });
                    if let Some(axis) = axes.iter_mut().find(|a| a.name.value == axis_name) {
                        axis.values.extend(values);
                    } else {
                        let name = name_text(child);
                        self.template_name(&name, "matrix axis", release_vars);
                        axes.push(Axis {
                            name,
                            values: values.collect(),
                        });
                    }
                }
            }
        }
        let mut taken: Vec<Defined> = release_vars.to_vec();
        taken.extend(axes.iter().map(|a| Defined::of(&a.name, "a matrix axis")));
        for axis in &axes {
            let mut seen: BTreeMap<&str, SourceSpan> = BTreeMap::new();
            for value in &axis.values {
                if let Some(first) = seen.insert(&value.value.value, value.value.span) {
                    self.error(
                        Diagnostic::error(
                            "glc::matrix::duplicate-value",
                            format!(
                                "axis `{}` has the value `{}` twice",
                                axis.name.value, value.value.value
                            ),
                        )
                        .label(value.value.span, "again here")
                        .label(first, "first here")
                        .help("remove one; each value makes its own combinations"),
                    );
                }
            }
            let mut checked: Vec<&str> = Vec::new();
            for (key, _) in axis.values.iter().flat_map(|v| &v.props) {
                if !checked.contains(&key.value.as_str()) {
                    checked.push(&key.value);
                    self.template_name(key, "value property", &taken);
                }
            }
        }
        for selector in &include {
            for (key, _) in &selector.pairs {
                // An include may name axes; any other key becomes a template value of its own.
                if !axes.iter().any(|a| a.name.value == key.value) {
                    self.template_name(key, "`include` value", release_vars);
                }
            }
        }
        Matrix {
            span: node.name().span(),
            axes,
            exclude,
            include,
        }
    }

    fn image(&mut self, node: &KdlNode) -> Option<ImageTemplate> {
        let cname = self.arg(node, 0)?;
        let mut layers = Vec::new();
        for role in Role::LAYERS {
            if role.repeats() {
                layers.extend(
                    children_named(node, role.node())
                        .filter_map(|n| self.file_ref(n, 0))
                        .map(|f| (role, f)),
                );
            } else if let Some(file) =
                Self::one(node, role.node()).and_then(|n| self.file_ref(n, 0))
            {
                layers.push((role, file));
            }
        }
        let attachments = children_named(node, "attach")
            .filter_map(|n| {
                Some(Attachment {
                    kind: self.arg(n, 0)?,
                    file: self.file_ref(n, 1)?,
                })
            })
            .collect();
        let apt_repository = Self::one(node, "apt-repository").and_then(|n| {
            Some(AptRepository {
                url: self.arg(n, 0)?,
                dist: Self::prop(n, "dist")?,
                component: Self::prop(n, "component")?,
            })
        });
        let image = ImageTemplate {
            span: node.name().span(),
            condition: Self::prop(node, "if"),
            cname,
            layers,
            attachments,
            apt_repository,
        };
        if image.layers.is_empty() {
            self.error(
                Diagnostic::error("glc::decode::empty-image", "the image has no files")
                    .label(
                        node.name().span(),
                        "every cloud image needs at least one layer",
                    )
                    .help(
                        "add `rootfs \"…\"`, `kernel \"…\"` or `file \"…\"` inside `image { … }`",
                    ),
            );
        }
        Some(image)
    }

    fn container_items(&mut self, node: &KdlNode) -> Vec<ContainerItem> {
        children(node)
            .iter()
            .filter_map(|child| match child.name().value() {
                "container" => self.container(child).map(ContainerItem::Container),
                "group" => {
                    let name = self.arg(child, 0)?;
                    Some(ContainerItem::Group(Group {
                        name,
                        items: self.container_items(child),
                    }))
                }
                "for-each" => Some(ContainerItem::ForEach(ForEach {
                    items: Self::args(child),
                    containers: children_named(child, "container")
                        .filter_map(|c| self.container(c))
                        .collect(),
                })),
                _ => None,
            })
            .collect()
    }

    fn container(&mut self, node: &KdlNode) -> Option<ContainerTemplate> {
        Some(ContainerTemplate {
            name: self.arg(node, 0)?,
            from: Self::prop(node, "from")?,
            reference: Self::prop(node, "ref"),
            tag: Self::prop(node, "tag"),
            default: node
                .entries()
                .iter()
                .rev()
                .find(|e| e.name().is_some_and(|n| n.value() == "default"))
                .filter(|e| e.value().as_bool() == Some(true))
                .map(kdl::KdlEntry::span),
        })
    }
}

fn children(node: &KdlNode) -> &[KdlNode] {
    node.children().map_or(&[][..], KdlDocument::nodes)
}

fn children_named<'a>(node: &'a KdlNode, name: &'a str) -> impl Iterator<Item = &'a KdlNode> {
    children(node)
        .iter()
        .filter(move |child| child.name().value() == name)
}
