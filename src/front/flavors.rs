//! Garden Linux's `flavors.yaml`: its targets and their flavors, read with the place of every
//! value, and selected as Garden Linux's `gl-flavors-parse` selects (by flag, by glob over the
//! flavor name, by category). A release's `cloud-images { flavors "flavors.yaml" … }` takes its
//! images from it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use miette::SourceSpan;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::diagnostic::{Diagnostic, SourceFile};

/// The largest flavors file glc reads; Garden Linux's is 20 KiB.
pub const MAX_FLAVORS_FILE: u64 = 4 << 20;
/// Nesting deeper than this is no flavors file (Garden Linux's nests 5 deep).
const MAX_DEPTH: usize = 32;
/// The category whose targets are containers, never cloud images.
pub const CONTAINER_CATEGORY: &str = "container";

/// A flavors file as read: its text (for diagnostics) and its targets.
#[derive(Debug, Clone)]
pub struct FlavorsFile {
    pub source: Arc<SourceFile>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub category: String,
    pub flavors: Vec<Flavor>,
}

#[allow(clippy::struct_excessive_bools)] // the four flags of flavors.yaml
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    pub features: Vec<String>,
    pub arch: String,
    pub build: bool,
    pub test: bool,
    pub test_platform: bool,
    pub publish: bool,
}

/// Which flavors a release takes, as `gl-flavors-parse`'s options say it.
#[allow(clippy::struct_excessive_bools)] // the four flags of flavors.yaml
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub build: bool,
    pub test: bool,
    pub test_platform: bool,
    pub publish: bool,
    /// `--include-only`: globs over the flavor name; none: every flavor.
    pub include_only: Vec<String>,
    /// `--exclude`: globs over the flavor name.
    pub exclude: Vec<String>,
    /// `--category`: only targets of these categories; none: every category.
    pub categories: Vec<String>,
    /// `--exclude-category`.
    pub exclude_categories: Vec<String>,
}

/// One flavor that a [`Filter`] selected, with its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub target: String,
    pub category: String,
    pub flavor: Flavor,
    /// Garden Linux's name of it: `aws-gardener_prod-amd64`.
    pub name: String,
}

/// Garden Linux's flavor name: `{target}-{features joined by "-"}-{arch}`, with `--` written
/// `-` and `-_` written `_` (`metal_pxe-amd64`, `aws-gardener_prod_tpm2-arm64`).
#[must_use]
pub fn flavor_name(target: &str, features: &[String], arch: &str) -> String {
    let features = if features.is_empty() {
        String::new()
    } else {
        format!("-{}", features.join("-"))
    };
    format!("{target}-{features}-{arch}")
        .replace("--", "-")
        .replace("-_", "_")
}

/// The template values each flavor gives its image.
pub const VALUES: &[&str] = &[
    "target",
    "platform",
    "features",
    "feature_set",
    "arch",
    "category",
    "flavor",
    "flags",
];

impl Filter {
    /// Whether every pattern is a glob; the first that is not, said.
    pub fn check_globs(patterns: &[String]) -> Result<(), String> {
        globs(patterns).map(|_| ())
    }

    /// The flavors this filter takes, in `gl-flavors-parse`'s order: by the name's first
    /// `-`-separated part, stable. Targets of category `container` are never cloud images.
    pub fn select(&self, targets: &[Target]) -> Result<Vec<Selected>, String> {
        let include_only = globs(&self.include_only)?;
        let exclude = globs(&self.exclude)?;
        let mut selected = Vec::new();
        for target in targets {
            if target.category == CONTAINER_CATEGORY
                || (!self.categories.is_empty() && !self.categories.contains(&target.category))
                || self.exclude_categories.contains(&target.category)
            {
                continue;
            }
            for flavor in &target.flavors {
                if (self.build && !flavor.build)
                    || (self.test && !flavor.test)
                    || (self.test_platform && !flavor.test_platform)
                    || (self.publish && !flavor.publish)
                {
                    continue;
                }
                let name = flavor_name(&target.name, &flavor.features, &flavor.arch);
                if exclude.is_match(&name)
                    || (!self.include_only.is_empty() && !include_only.is_match(&name))
                {
                    continue;
                }
                selected.push(Selected {
                    target: target.name.clone(),
                    category: target.category.clone(),
                    flavor: flavor.clone(),
                    name,
                });
            }
        }
        selected.sort_by(|a, b| first_part(&a.name).cmp(first_part(&b.name)));
        Ok(selected)
    }
}

fn first_part(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

/// Globs as Python's `fnmatch` reads them: `*`, `?` and `[…]`, matching any character.
fn globs(patterns: &[String]) -> Result<globset::GlobSet, String> {
    let mut set = globset::GlobSetBuilder::new();
    for pattern in patterns {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(false)
            .build()
            .map_err(|error| format!("`{pattern}` is not a glob: {}", error.kind()))?;
        set.add(glob);
    }
    set.build().map_err(|error| error.to_string())
}

/// Reads the flavors file `path` (relative to `base`, as the release wrote it), refusing one
/// outside `base` unless `allow_outside`. `at` is where the release names it.
pub fn load(
    path: &str,
    base: &Path,
    allow_outside: bool,
    at: (&Arc<SourceFile>, SourceSpan),
) -> Result<FlavorsFile, Diagnostic> {
    let fail = |message: String, label: &str, help: &str| {
        Diagnostic::error("glc::flavors::read", message)
            .in_file(at.0)
            .label(at.1, label)
            .help(help)
    };
    let relative = Path::new(path);
    if path.is_empty() {
        return Err(fail(
            "the flavors file's path is empty".to_owned(),
            "names no file",
            "name Garden Linux's flavors.yaml relative to the release file",
        ));
    }
    let full: PathBuf = base.join(relative);
    if !allow_outside {
        let leaves = relative.is_absolute()
            || relative
                .components()
                .try_fold(0usize, |depth, c| match c {
                    Component::ParentDir => depth.checked_sub(1),
                    Component::Normal(_) => Some(depth + 1),
                    _ => Some(depth),
                })
                .is_none();
        let escapes = match (full.canonicalize(), base.canonicalize()) {
            (Ok(file), Ok(base)) => !file.starts_with(base),
            _ => false,
        };
        if leaves || escapes {
            return Err(fail(
                format!("`{path}` is outside the release file's directory"),
                "leaves the release directory",
                "keep flavors.yaml next to the release file, or pass --allow-outside",
            ));
        }
    }
    let bytes = read_limited(&full).map_err(|error| {
        fail(
            format!("cannot read the flavors file `{path}`: {error}"),
            "read from here",
            "name Garden Linux's flavors.yaml relative to the release file",
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|error| {
        fail(
            format!(
                "`{path}` is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
            "read from here",
            "YAML files are UTF-8; convert the file's encoding",
        )
    })?;
    // Named as the release file is, with the release file's directory before it.
    let name = if base == Path::new(".") {
        relative.to_path_buf()
    } else {
        full.clone()
    };
    let source = SourceFile::new(name.to_string_lossy(), text);
    let targets = parse(&source)?;
    Ok(FlavorsFile { source, targets })
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // A fifo is opened without waiting for a writer, then refused as no regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed())
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FLAVORS_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FLAVORS_FILE {
        return Err(std::io::Error::other(format!(
            "it is larger than the {} glc reads of a flavors file",
            crate::front::plan::human_size(MAX_FLAVORS_FILE)
        )));
    }
    Ok(bytes)
}

/// A YAML value with the bytes it was written at.
#[derive(Debug)]
enum Node {
    Scalar(String, ScalarStyle, SourceSpan),
    Sequence(Vec<Node>, SourceSpan),
    Mapping(Vec<(Node, Node)>, SourceSpan),
    /// An alias (`*name`): flavors files have none, and glc does not follow them.
    Alias(SourceSpan),
}

impl Node {
    fn span(&self) -> SourceSpan {
        match self {
            Node::Scalar(_, _, span)
            | Node::Sequence(_, span)
            | Node::Mapping(_, span)
            | Node::Alias(span) => *span,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Node::Scalar(..) => "a scalar",
            Node::Sequence(..) => "a list",
            Node::Mapping(..) => "a mapping",
            Node::Alias(..) => "an alias",
        }
    }
}

/// Byte offsets of the text's characters (the parser counts characters), one past the end too.
struct Offsets(Vec<usize>);

impl Offsets {
    fn new(text: &str) -> Self {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        Self(offsets)
    }

    fn byte(&self, char_index: usize) -> usize {
        self.0
            .get(char_index)
            .or_else(|| self.0.last())
            .copied()
            .unwrap_or(0)
    }

    fn span(&self, span: saphyr_parser::Span) -> SourceSpan {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index()).max(start);
        SourceSpan::from((start, end - start))
    }
}

/// Parses flavors.yaml into its targets; the first problem is reported at its place.
pub fn parse(source: &Arc<SourceFile>) -> Result<Vec<Target>, Diagnostic> {
    let offsets = Offsets::new(source.text());
    let node = tree(source.text(), &offsets).map_err(|d| d.in_file(source))?;
    targets(&node).map_err(|d| d.in_file(source))
}

fn syntax(error: &ScanError, offsets: &Offsets) -> Diagnostic {
    let at = offsets.byte(error.marker().index());
    Diagnostic::error(
        "glc::flavors::syntax",
        format!("the flavors file is not valid YAML: {}", error.info()),
    )
    .label(SourceSpan::from((at, 0)), "here")
    .help(
        "fix the YAML at the marked place; Garden Linux's flavors.yaml is a mapping with `targets`",
    )
}

/// The document's root node, built from the parser's events.
fn tree(text: &str, offsets: &Offsets) -> Result<Node, Diagnostic> {
    enum Open {
        Sequence(Vec<Node>, usize),
        Mapping(Vec<Node>, usize),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| syntax(&e, offsets))?;
        let at = offsets.span(span);
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(
                        "glc::flavors::invalid",
                        "the flavors file holds more than one YAML document",
                    )
                    .label(at, "a second document starts here")
                    .help("keep one document: a mapping with `targets`"));
                }
                None
            }
            Event::Scalar(value, style, _, _) => Some(Node::Scalar(value.into_owned(), style, at)),
            Event::Alias(_) => Some(Node::Alias(at)),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Diagnostic::error(
                        "glc::flavors::invalid",
                        format!("the flavors file nests deeper than {MAX_DEPTH} levels"),
                    )
                    .label(at, "too deep")
                    .help("a flavors file is targets, flavors and features: a few levels"));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Open::Sequence(Vec::new(), at.offset())
                } else {
                    Open::Mapping(Vec::new(), at.offset())
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = at.offset() + at.len();
                match stack.pop() {
                    Some(Open::Sequence(items, start)) => Some(Node::Sequence(
                        items,
                        SourceSpan::from((start, end.saturating_sub(start))),
                    )),
                    Some(Open::Mapping(items, start)) => {
                        let mut pairs = Vec::new();
                        let mut items = items.into_iter();
                        while let (Some(key), Some(value)) = (items.next(), items.next()) {
                            pairs.push((key, value));
                        }
                        Some(Node::Mapping(
                            pairs,
                            SourceSpan::from((start, end.saturating_sub(start))),
                        ))
                    }
                    None => None,
                }
            }
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(Open::Sequence(items, _) | Open::Mapping(items, _)) => items.push(node),
                None => root = root.or(Some(node)),
            }
        }
    }
    root.ok_or_else(|| {
        Diagnostic::error("glc::flavors::invalid", "the flavors file is empty")
            .label(SourceSpan::from((0, 0)), "nothing here")
            .help("Garden Linux's flavors.yaml is a mapping with `targets`, a list of targets")
    })
}

fn invalid(node: &Node, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
    Diagnostic::error("glc::flavors::invalid", message)
        .label(node.span(), label)
        .help("see Garden Linux's flavors.yaml: `targets`, each with `name`, `category` and `flavors` (`features`, `arch`, `build`, `test`, `test-platform`, `publish`)")
}

fn mapping<'a>(node: &'a Node, what: &str) -> Result<&'a [(Node, Node)], Diagnostic> {
    match node {
        Node::Mapping(pairs, _) => Ok(pairs),
        other => Err(invalid(
            other,
            format!("{what} is {}, not a mapping", other.what()),
            "a mapping was expected here",
        )),
    }
}

fn sequence<'a>(node: &'a Node, what: &str) -> Result<&'a [Node], Diagnostic> {
    match node {
        Node::Sequence(items, _) => Ok(items),
        other => Err(invalid(
            other,
            format!("{what} is {}, not a list", other.what()),
            "a list was expected here",
        )),
    }
}

fn string(node: &Node, what: &str) -> Result<String, Diagnostic> {
    match node {
        Node::Scalar(value, _, _) => Ok(value.clone()),
        other => Err(invalid(
            other,
            format!("{what} is {}, not a string", other.what()),
            "a string was expected here",
        )),
    }
}

fn boolean(node: &Node, what: &str) -> Result<bool, Diagnostic> {
    match node {
        Node::Scalar(value, ScalarStyle::Plain, _)
            if ["true", "True", "TRUE"].contains(&value.as_str()) =>
        {
            Ok(true)
        }
        Node::Scalar(value, ScalarStyle::Plain, _)
            if ["false", "False", "FALSE"].contains(&value.as_str()) =>
        {
            Ok(false)
        }
        Node::Scalar(value, _, _) => Err(invalid(
            node,
            format!("{what} is `{value}`, not true or false"),
            "true or false was expected here",
        )),
        other => Err(invalid(
            other,
            format!("{what} is {}, not true or false", other.what()),
            "true or false was expected here",
        )),
    }
}

/// The value of `key` in a mapping, if given; a key given twice is refused.
fn get<'a>(pairs: &'a [(Node, Node)], key: &str) -> Result<Option<&'a Node>, Diagnostic> {
    let mut found: Option<&Node> = None;
    for (k, v) in pairs {
        if matches!(k, Node::Scalar(name, _, _) if name == key) {
            if found.is_some() {
                return Err(invalid(
                    k,
                    format!("`{key}` is given twice"),
                    "given again here",
                ));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn targets(root: &Node) -> Result<Vec<Target>, Diagnostic> {
    let top = mapping(root, "the flavors file")?;
    let Some(list) = get(top, "targets")? else {
        return Err(invalid(
            root,
            "the flavors file has no `targets`",
            "no `targets` in this mapping",
        ));
    };
    sequence(list, "`targets`")?
        .iter()
        .map(|node| {
            let pairs = mapping(node, "a target")?;
            let required = |key: &str| {
                get(pairs, key)?.ok_or_else(|| {
                    invalid(
                        node,
                        format!("a target has no `{key}`"),
                        format!("`{key}` is missing here"),
                    )
                })
            };
            let name = string(required("name")?, "a target's `name`")?;
            let category = string(required("category")?, "a target's `category`")?;
            let flavors = sequence(required("flavors")?, "a target's `flavors`")?
                .iter()
                .map(flavor)
                .collect::<Result<_, _>>()?;
            Ok(Target {
                name,
                category,
                flavors,
            })
        })
        .collect()
}

/// A flavor, with `gl-flavors-parse`'s defaults: no features, `amd64`, every flag false.
fn flavor(node: &Node) -> Result<Flavor, Diagnostic> {
    let pairs = mapping(node, "a flavor")?;
    let features = match get(pairs, "features")? {
        Some(list) => sequence(list, "a flavor's `features`")?
            .iter()
            .map(|f| string(f, "a feature"))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let arch = get(pairs, "arch")?
        .map(|a| string(a, "a flavor's `arch`"))
        .transpose()?
        .unwrap_or_else(|| "amd64".to_owned());
    let flag = |key: &str| -> Result<bool, Diagnostic> {
        get(pairs, key)?
            .map(|v| boolean(v, &format!("`{key}`")))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Flavor {
        features,
        arch,
        build: flag("build")?,
        test: flag("test")?,
        test_platform: flag("test-platform")?,
        publish: flag("publish")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<Target>, Diagnostic> {
        parse(&SourceFile::new("flavors.yaml", text.to_owned()))
    }

    const SMALL: &str = "targets:\n  - name: metal\n    category: baremetal\n    flavors:\n      - features: [_pxe]\n        arch: amd64\n        publish: true\n      - features: [gardener, _prod]\n        arch: arm64\n  - name: container\n    category: container\n    flavors:\n      - features: [base]\n        publish: true\n  - name: aws\n    category: public-cloud\n    flavors:\n      - features: []\n        publish: true\n";

    #[test]
    fn names_are_garden_linuxs() {
        let f = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            flavor_name(
                "aws",
                &f(&["gardener", "_prod", "_tpm2", "_trustedboot"]),
                "amd64"
            ),
            "aws-gardener_prod_tpm2_trustedboot-amd64"
        );
        assert_eq!(
            flavor_name("metal", &f(&["_pxe"]), "arm64"),
            "metal_pxe-arm64"
        );
        assert_eq!(flavor_name("kvm", &[], "amd64"), "kvm-amd64");
    }

    #[test]
    fn selects_by_flag_glob_and_category_and_never_containers() {
        let targets = parse_text(SMALL).unwrap();
        let names = |filter: &Filter| -> Vec<String> {
            filter
                .select(&targets)
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(
            names(&Filter::default()),
            ["aws-amd64", "metal-gardener_prod-arm64", "metal_pxe-amd64"]
        );
        let publish = Filter {
            publish: true,
            ..Filter::default()
        };
        assert_eq!(names(&publish), ["aws-amd64", "metal_pxe-amd64"]);
        let globbed = Filter {
            exclude: vec!["*-arm64".into()],
            include_only: vec!["metal*".into()],
            ..Filter::default()
        };
        assert_eq!(names(&globbed), ["metal_pxe-amd64"]);
        let category = Filter {
            categories: vec!["public-cloud".into()],
            ..Filter::default()
        };
        assert_eq!(names(&category), ["aws-amd64"]);
    }

    #[test]
    fn defaults_are_the_parsers() {
        let targets =
            parse_text("targets:\n  - name: kvm\n    category: c\n    flavors:\n      - {}\n")
                .unwrap();
        assert_eq!(
            targets[0].flavors[0],
            Flavor {
                features: vec![],
                arch: "amd64".into(),
                build: false,
                test: false,
                test_platform: false,
                publish: false
            }
        );
    }

    #[test]
    fn errors_point_at_the_value() {
        let text =
            "targets:\n  - name: kvm\n    category: c\n    flavors:\n      - publish: maybe\n";
        let error = parse_text(text).unwrap_err();
        assert_eq!(error.code, "glc::flavors::invalid");
        assert_eq!(error.message, "`publish` is `maybe`, not true or false");
        let span = error.labels[0].span;
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "maybe");
        let error = parse_text("targets:\n  - name: [unclosed\n").unwrap_err();
        assert_eq!(error.code, "glc::flavors::syntax");
        let error = parse_text("targets: 3\n").unwrap_err();
        assert_eq!(error.message, "`targets` is a scalar, not a list");
        let error = parse_text("").unwrap_err();
        assert_eq!(error.message, "the flavors file is empty");
        let error = parse_text("targets:\n  - &a {name: x, category: c, flavors: []}\n  - *a\n")
            .unwrap_err();
        assert_eq!(error.message, "a target is an alias, not a mapping");
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("flavors.yaml");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let source = SourceFile::new("release.kdl", String::new());
        let error = load("flavors.yaml", dir.path(), false, (&source, (0, 0).into())).unwrap_err();
        assert_eq!(
            error.message,
            "cannot read the flavors file `flavors.yaml`: it is not a regular file"
        );
    }

    #[test]
    fn the_real_file_reads() {
        let text = include_str!("../../examples/gardenlinux/flavors.yaml");
        let targets = parse_text(text).unwrap();
        assert!(targets.iter().any(|t| t.name == "aws"));
    }
}
