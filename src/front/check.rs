//! Stage 2: the KDL document checked against the schema. Generic: it walks the document and
//! the schema side by side and reports every violation in one run.

use std::collections::BTreeMap;
use std::sync::Arc;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean, list};
use crate::front::schema::{NodeDef, Schema, ValueType};

pub fn check(
    document: &KdlDocument,
    schema: &Schema,
    source: &Arc<SourceFile>,
) -> Result<(), Diagnostics> {
    let mut checker = Checker {
        schema,
        source,
        diagnostics: Vec::new(),
    };
    checker.children(&schema.document, None, Some(document));
    if checker.diagnostics.is_empty() {
        Ok(())
    } else {
        Err(checker.diagnostics)
    }
}

struct Checker<'a> {
    schema: &'a Schema,
    source: &'a Arc<SourceFile>,
    diagnostics: Diagnostics,
}

impl Checker<'_> {
    fn error(&self, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message).in_file(self.source)
    }

    fn node(&mut self, node: &KdlNode, def: &NodeDef) {
        let annotations = node
            .ty()
            .into_iter()
            .chain(node.entries().iter().filter_map(KdlEntry::ty));
        for annotation in annotations {
            let diagnostic = self
                .error(
                    "glc::schema::type-annotation",
                    "type annotations are not used in release files",
                )
                .label(annotation.span(), "remove this annotation")
                .help(format!(
                    "glc reads every value as written; remove `({})`",
                    annotation.value()
                ));
            self.diagnostics.push(diagnostic);
        }
        self.arguments(node, def);
        self.properties(node, def);
        if def.takes_children() {
            self.children(def, Some(node), node.children());
        } else if let Some(children) = node.children() {
            let diagnostic = self
                .error(
                    "glc::schema::unexpected-children",
                    format!("`{}` takes no children", node.name().value()),
                )
                .label(node.name().span(), "takes only arguments and properties")
                .label(children.span(), "this block")
                .help(format!("remove the `{{ … }}` block; {}", usage_help(def)));
            self.diagnostics.push(diagnostic);
        }
    }

    fn arguments(&mut self, node: &KdlNode, def: &NodeDef) {
        let name = node.name().value();
        let args: Vec<&KdlEntry> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect();
        for (index, entry) in args.iter().enumerate() {
            if let Some(arg) = def.args.get(index) {
                self.value(
                    entry,
                    arg.ty,
                    &format!("argument `{}` of `{name}`", arg.name),
                );
            } else if let Some(rest) = &def.rest {
                self.value(
                    entry,
                    rest.ty,
                    &format!("argument `{}` of `{name}`", rest.name),
                );
            } else {
                let expected = def.args.len();
                let diagnostic = self
                    .error(
                        "glc::schema::too-many-arguments",
                        format!(
                            "`{name}` takes {} but was given {}",
                            count(expected, "argument"),
                            args.len()
                        ),
                    )
                    .label(entry.span(), "unexpected argument")
                    .help(usage_help(def));
                self.diagnostics.push(diagnostic);
            }
        }
        let required = def.args.iter().filter(|arg| !arg.optional).count();
        if args.len() < required {
            let missing: Vec<&str> = def.args[args.len()..]
                .iter()
                .filter(|arg| !arg.optional)
                .map(|arg| arg.name.as_str())
                .collect();
            let diagnostic = self
                .error(
                    "glc::schema::missing-argument",
                    format!(
                        "`{name}` is missing its {} {}",
                        plural(missing.len(), "argument"),
                        list(&missing)
                    ),
                )
                .label(node.name().span(), format!("needs {}", list(&missing)))
                .help(usage_help(def));
            self.diagnostics.push(diagnostic);
        }
        if let Some(rest) = &def.rest {
            let given = args.len().saturating_sub(def.args.len());
            if given < rest.min {
                let diagnostic = self
                    .error(
                        "glc::schema::missing-argument",
                        format!(
                            "`{name}` needs at least {} `{}`",
                            count(rest.min, "argument"),
                            rest.name
                        ),
                    )
                    .label(node.name().span(), "given none")
                    .help(usage_help(def));
                self.diagnostics.push(diagnostic);
            }
        }
    }

    fn properties(&mut self, node: &KdlNode, def: &NodeDef) {
        let name = node.name().value();
        let mut seen: BTreeMap<&str, SourceSpan> = BTreeMap::new();
        for entry in node.entries() {
            let Some(key) = entry.name() else { continue };
            let key_name = key.value();
            if let Some(first) = seen.insert(key_name, entry.span()) {
                let diagnostic = self
                    .error(
                        "glc::schema::repeated-property",
                        format!("property `{key_name}` is given twice on `{name}`"),
                    )
                    .label(entry.span(), "given again here")
                    .label(first, "first given here")
                    .help("KDL keeps only the last one silently; remove one of them");
                self.diagnostics.push(diagnostic);
                continue;
            }
            if let Some(prop) = def.prop(key_name) {
                self.value(
                    entry,
                    prop.ty,
                    &format!("property `{key_name}` of `{name}`"),
                );
            } else if let Some(any) = &def.any_props {
                self.value(entry, any.ty, &format!("property `{key_name}` of `{name}`"));
            } else {
                let allowed: Vec<&str> = def.props.iter().map(|p| p.name.as_str()).collect();
                let help = match did_you_mean(key_name, allowed.iter().copied()) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None if allowed.is_empty() => format!("`{name}` takes no properties"),
                    None => format!("`{name}` takes {}", list(&allowed)),
                };
                let diagnostic = self
                    .error(
                        "glc::schema::unknown-property",
                        format!("unknown property `{key_name}` on `{name}`"),
                    )
                    .label(key.span(), "not a property of this node")
                    .help(help);
                self.diagnostics.push(diagnostic);
            }
        }
        for prop in def.props.iter().filter(|p| p.required) {
            if !seen.contains_key(prop.name.as_str()) {
                let diagnostic = self
                    .error(
                        "glc::schema::missing-property",
                        format!("`{name}` needs the property `{}`", prop.name),
                    )
                    .label(node.name().span(), format!("`{}=…` missing", prop.name))
                    .help(usage_help(def));
                self.diagnostics.push(diagnostic);
            }
        }
        if let Some(any) = &def.any_props
            && seen.len() < any.min
        {
            let diagnostic = self
                .error(
                    "glc::schema::missing-property",
                    format!("`{name}` needs at least {}", count(any.min, "property")),
                )
                .label(node.name().span(), "no properties given")
                .help(usage_help(def));
            self.diagnostics.push(diagnostic);
        }
    }

    fn value(&mut self, entry: &KdlEntry, expected: ValueType, what: &str) {
        let value = entry.value();
        if expected.accepts(value) {
            return;
        }
        let found = match value {
            KdlValue::String(_) => "a string",
            KdlValue::Integer(_) | KdlValue::Float(_) => "a number",
            KdlValue::Bool(_) => "a boolean",
            KdlValue::Null => "#null",
        };
        let written = entry
            .format()
            .map_or_else(|| value.to_string(), |f| f.value_repr.trim().to_owned());
        let help = if matches!(
            expected,
            ValueType::String | ValueType::Template | ValueType::Path
        ) {
            match value {
                KdlValue::Integer(_) | KdlValue::Float(_) => {
                    format!("quote it to make it a string: \"{written}\"")
                }
                _ => {
                    format!("write text in quotes here; `{written}` is a KDL keyword, not a string")
                }
            }
        } else {
            format!("write {} here", expected.describe())
        };
        let diagnostic = self
            .error(
                "glc::schema::wrong-type",
                format!("{what} must be {}, found {found}", expected.describe()),
            )
            .label(entry.span(), format!("this is {found}"))
            .help(help);
        self.diagnostics.push(diagnostic);
    }

    /// The children of `parent` (or of the document when `parent` is None) against `def`.
    fn children(
        &mut self,
        def: &NodeDef,
        parent: Option<&KdlNode>,
        children: Option<&KdlDocument>,
    ) {
        let nodes = children.map_or(&[][..], KdlDocument::nodes);
        let mut first_seen: BTreeMap<&str, SourceSpan> = BTreeMap::new();
        for child in nodes {
            let child_name = child.name().value();
            let Some(rule) = def.child(child_name).or(def.any_child.as_ref()) else {
                if let Some(meant) = self.unknown_node(def, parent, child) {
                    // The misspelt node stands for the one it meant; do not also call that missing.
                    first_seen.entry(meant).or_insert(child.name().span());
                }
                continue;
            };
            if let Some(first) = first_seen.get(child_name) {
                if !rule.repeat {
                    let diagnostic = self
                        .error(
                            "glc::schema::repeated-node",
                            format!("`{child_name}` may appear only once {}", place(parent)),
                        )
                        .label(child.name().span(), "repeated here")
                        .label(*first, "first here")
                        .help(format!("keep one `{child_name}` node and remove the other"));
                    self.diagnostics.push(diagnostic);
                    continue;
                }
            } else {
                first_seen.insert(child_name, child.name().span());
            }
            let shape = if def.child(child_name).is_some() {
                child_name
            } else {
                rule.name.as_str()
            };
            if let Some(child_def) = self.schema.node(shape) {
                self.node(child, child_def);
            }
        }
        for rule in def.children.iter().filter(|rule| rule.required) {
            if !first_seen.contains_key(rule.name.as_str()) {
                let (label_span, label) = match parent {
                    Some(parent) => (
                        parent.name().span(),
                        format!("needs {} `{}` node inside", article(&rule.name), rule.name),
                    ),
                    None => (
                        SourceSpan::from((0, 0)),
                        format!("needs {} `{}` node", article(&rule.name), rule.name),
                    ),
                };
                let example = self
                    .schema
                    .node(&rule.name)
                    .map_or_else(String::new, example_of);
                let diagnostic = self
                    .error(
                        "glc::schema::missing-node",
                        format!(
                            "{} needs {} `{}` node",
                            subject(parent),
                            article(&rule.name),
                            rule.name
                        ),
                    )
                    .label(label_span, label)
                    .help(format!("add `{example}`"));
                self.diagnostics.push(diagnostic);
            }
        }
    }

    /// Reports a node the rules do not allow; returns the name it probably meant.
    fn unknown_node<'d>(
        &mut self,
        def: &'d NodeDef,
        parent: Option<&KdlNode>,
        child: &KdlNode,
    ) -> Option<&'d str> {
        let child_name = child.name().value();
        let allowed: Vec<&str> = def.children.iter().map(|rule| rule.name.as_str()).collect();
        let suggestion = did_you_mean(child_name, allowed.iter().copied());
        let help = if let Some(suggestion) = suggestion {
            format!("did you mean `{suggestion}`?")
        } else {
            let elsewhere = self.schema.parents_of(child_name);
            if elsewhere.is_empty() {
                format!("{} takes {}", subject(parent), list(&allowed))
            } else {
                format!("`{child_name}` belongs inside {}", list(&elsewhere))
            }
        };
        let diagnostic = self
            .error(
                "glc::schema::unknown-node",
                format!("unknown node `{child_name}` {}", place(parent)),
            )
            .label(child.name().span(), "not allowed here")
            .help(help);
        self.diagnostics.push(diagnostic);
        suggestion
    }
}

/// "in `matrix`", or "at the top of the file".
fn place(parent: Option<&KdlNode>) -> String {
    match parent {
        Some(node) => format!("in `{}`", node.name().value()),
        None => "at the top of the file".to_owned(),
    }
}

/// "`matrix`", or "a release file".
fn subject(parent: Option<&KdlNode>) -> String {
    match parent {
        Some(node) => format!("`{}`", node.name().value()),
        None => "a release file".to_owned(),
    }
}

fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

fn plural(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => noun.to_owned(),
        (_, "property") => "properties".to_owned(),
        _ => format!("{noun}s"),
    }
}

/// A one-line sketch of a node, e.g. `container "…" from="…"`.
fn example_of(def: &NodeDef) -> String {
    let mut out = def.name.clone();
    for arg in def.args.iter().filter(|arg| !arg.optional) {
        out.push_str(&format!(" <{}>", arg.name));
    }
    if let Some(rest) = &def.rest {
        out.push_str(&format!(" <{}>…", rest.name));
    }
    for prop in def.props.iter().filter(|p| p.required) {
        out.push_str(&format!(" {}=<…>", prop.name));
    }
    if let Some(any) = &def.any_props {
        out.push_str(&format!(
            " <name>=\"<value>\"{}",
            if any.min > 1 { "…" } else { "" }
        ));
    }
    if def.takes_children() {
        out.push_str(" { … }");
    }
    out
}

fn usage_help(def: &NodeDef) -> String {
    let mut usage = example_of(def);
    for arg in def.args.iter().filter(|arg| arg.optional) {
        usage.push_str(&format!(" [<{}>]", arg.name));
    }
    for prop in def.props.iter().filter(|p| !p.required) {
        usage.push_str(&format!(" [{}=<…>]", prop.name));
    }
    format!("usage: {usage}")
}
