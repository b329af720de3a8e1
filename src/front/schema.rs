//! The release language's schema, read from `schema/release.kdl` (embedded in the binary).
//! The checker is generic: everything it knows about the language comes from here.

use std::collections::BTreeMap;

use kdl::{KdlDocument, KdlNode, KdlValue};

/// The schema file as shipped; `glc schema` prints it.
pub const SOURCE: &str = include_str!("../../schema/release.kdl");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Template,
    Path,
    Integer,
    Boolean,
}

impl ValueType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "template" => Self::Template,
            "path" => Self::Path,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    #[must_use]
    pub fn accepts(self, value: &KdlValue) -> bool {
        match self {
            Self::String | Self::Template | Self::Path => value.is_string(),
            Self::Integer => value.is_integer(),
            Self::Boolean => value.is_bool(),
        }
    }

    /// How the type is named in messages: "a string".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::String | Self::Template | Self::Path => "a string",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean (#true or #false)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ArgDef {
    pub name: String,
    pub ty: ValueType,
    pub optional: bool,
}

#[derive(Debug, Clone)]
pub struct RestDef {
    pub name: String,
    pub ty: ValueType,
    pub min: usize,
}

#[derive(Debug, Clone)]
pub struct PropDef {
    pub name: String,
    pub ty: ValueType,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct AnyProps {
    pub ty: ValueType,
    pub min: usize,
}

#[derive(Debug, Clone)]
pub struct ChildRule {
    /// The child's node name (for `child`) or the shape it takes (for `any-child`).
    pub name: String,
    pub required: bool,
    pub repeat: bool,
}

#[derive(Debug, Clone, Default)]
pub struct NodeDef {
    pub name: String,
    pub doc: String,
    pub args: Vec<ArgDef>,
    pub rest: Option<RestDef>,
    pub props: Vec<PropDef>,
    pub any_props: Option<AnyProps>,
    pub children: Vec<ChildRule>,
    /// Children of any other name, each shaped like the node the rule names.
    pub any_child: Option<ChildRule>,
}

impl NodeDef {
    #[must_use]
    pub fn takes_children(&self) -> bool {
        !self.children.is_empty() || self.any_child.is_some()
    }

    #[must_use]
    pub fn child(&self, name: &str) -> Option<&ChildRule> {
        self.children.iter().find(|rule| rule.name == name)
    }

    #[must_use]
    pub fn prop(&self, name: &str) -> Option<&PropDef> {
        self.props.iter().find(|prop| prop.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    /// The rules for the top of a release file.
    pub document: NodeDef,
    pub nodes: BTreeMap<String, NodeDef>,
}

impl Schema {
    /// The schema compiled into glc, read once per process: it is constant data. A test
    /// asserts that it loads, so an error here is a bug in the shipped schema file, reported
    /// by the caller as an internal error.
    pub fn builtin() -> Result<&'static Self, String> {
        static BUILTIN: std::sync::LazyLock<Result<Schema, String>> =
            std::sync::LazyLock::new(|| Schema::from_kdl(SOURCE));
        BUILTIN.as_ref().map_err(Clone::clone)
    }

    pub fn from_kdl(text: &str) -> Result<Self, String> {
        let doc =
            KdlDocument::parse_v2(text).map_err(|e| format!("schema is not valid KDL: {e:?}"))?;
        let mut document = None;
        let mut nodes = BTreeMap::new();
        for node in doc.nodes() {
            match node.name().value() {
                "document" => {
                    let mut def = read_node_def(node)?;
                    "document".clone_into(&mut def.name);
                    document = Some(def);
                }
                "node" => {
                    let def = read_node_def(node)?;
                    if nodes.insert(def.name.clone(), def).is_some() {
                        return Err(format!("schema defines node `{}` twice", node_name(node)?));
                    }
                }
                other => return Err(format!("unknown schema node `{other}`")),
            }
        }
        let schema = Self {
            document: document.ok_or("schema has no `document` node")?,
            nodes,
        };
        schema.validate()?;
        Ok(schema)
    }

    /// Every rule names a node that is defined.
    fn validate(&self) -> Result<(), String> {
        for def in std::iter::once(&self.document).chain(self.nodes.values()) {
            let referenced = def
                .children
                .iter()
                .chain(def.any_child.as_ref())
                .map(|rule| &rule.name);
            for name in referenced {
                if !self.nodes.contains_key(name) {
                    return Err(format!("`{}` refers to undefined node `{name}`", def.name));
                }
            }
        }
        Ok(())
    }

    #[must_use]
    pub fn node(&self, name: &str) -> Option<&NodeDef> {
        self.nodes.get(name)
    }

    /// Names of the nodes whose rules allow a child called `name`.
    #[must_use]
    pub fn parents_of(&self, name: &str) -> Vec<&str> {
        self.nodes
            .values()
            .filter(|def| def.child(name).is_some())
            .map(|def| def.name.as_str())
            .collect()
    }
}

fn node_name(node: &KdlNode) -> Result<String, String> {
    string_arg(node, 0)
}

fn string_arg(node: &KdlNode, index: usize) -> Result<String, String> {
    node.entries()
        .iter()
        .filter(|entry| entry.name().is_none())
        .nth(index)
        .and_then(|entry| entry.value().as_string())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "schema node `{}` needs string argument {index}",
                node.name().value()
            )
        })
}

fn prop<'a>(node: &'a KdlNode, name: &str) -> Option<&'a KdlValue> {
    node.entry(name).map(kdl::KdlEntry::value)
}

fn flag(node: &KdlNode, name: &str) -> bool {
    prop(node, name)
        .and_then(KdlValue::as_bool)
        .unwrap_or(false)
}

fn value_type(node: &KdlNode) -> Result<ValueType, String> {
    let name = prop(node, "type")
        .and_then(KdlValue::as_string)
        .unwrap_or("string");
    ValueType::parse(name).ok_or_else(|| format!("unknown schema type `{name}`"))
}

fn min(node: &KdlNode) -> Result<usize, String> {
    match prop(node, "min").and_then(KdlValue::as_integer) {
        None => Ok(0),
        Some(n) => usize::try_from(n).map_err(|_| format!("bad min {n}")),
    }
}

fn child_rule(node: &KdlNode) -> Result<ChildRule, String> {
    Ok(ChildRule {
        name: string_arg(node, 0)?,
        required: flag(node, "required"),
        repeat: flag(node, "repeat"),
    })
}

fn read_node_def(node: &KdlNode) -> Result<NodeDef, String> {
    let mut def = NodeDef::default();
    if node.name().value() == "node" {
        def.name = node_name(node)?;
    }
    let Some(children) = node.children() else {
        return Ok(def);
    };
    for item in children.nodes() {
        match item.name().value() {
            "doc" => def.doc = string_arg(item, 0)?,
            "arg" => def.args.push(ArgDef {
                name: string_arg(item, 0)?,
                ty: value_type(item)?,
                optional: flag(item, "optional"),
            }),
            "args" => {
                def.rest = Some(RestDef {
                    name: string_arg(item, 0)?,
                    ty: value_type(item)?,
                    min: min(item)?,
                });
            }
            "prop" => def.props.push(PropDef {
                name: string_arg(item, 0)?,
                ty: value_type(item)?,
                required: flag(item, "required"),
            }),
            "props" => {
                def.any_props = Some(AnyProps {
                    ty: value_type(item)?,
                    min: min(item)?,
                });
            }
            "child" => def.children.push(child_rule(item)?),
            "any-child" => def.any_child = Some(child_rule(item)?),
            other => return Err(format!("unknown schema rule `{other}` in `{}`", def.name)),
        }
    }
    Ok(def)
}

impl Schema {
    /// The language reference as Markdown, one section a node in the order a release file
    /// nests them; docs/language.md carries this text.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut order: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = self
            .document
            .children
            .iter()
            .rev()
            .map(|r| r.name.as_str())
            .collect();
        while let Some(name) = stack.pop() {
            if order.contains(&name) {
                continue;
            }
            order.push(name);
            if let Some(def) = self.node(name) {
                let nested = def.children.iter().chain(def.any_child.as_ref()).rev();
                stack.extend(nested.map(|r| r.name.as_str()));
            }
        }
        let mut out = String::new();
        for name in order {
            let Some(def) = self.node(name) else { continue };
            let free = self
                .nodes
                .values()
                .any(|d| d.any_child.as_ref().is_some_and(|r| r.name == name));
            let title = if free {
                format!("`<{name}>`")
            } else {
                format!("`{name}`")
            };
            out.push_str(&format!("### {title}\n\n{}\n\n", def.doc));
            let mut parents: Vec<String> = self
                .parents_of(name)
                .iter()
                .map(|p| format!("`{p}`"))
                .collect();
            parents.extend(
                self.nodes
                    .values()
                    .filter(|d| d.any_child.as_ref().is_some_and(|r| r.name == name))
                    .map(|d| format!("`{}` (any name)", d.name)),
            );
            if self.document.child(name).is_some() {
                parents.push("the top of the file".to_owned());
            }
            out.push_str(&format!("Inside: {}.\n\n", parents.join(", ")));
            let mut rows = Vec::new();
            for arg in &def.args {
                let needed = if arg.optional { "optional" } else { "required" };
                rows.push(format!(
                    "| argument | `{}` | {} | {needed} |",
                    arg.name,
                    type_name(arg.ty)
                ));
            }
            if let Some(rest) = &def.rest {
                rows.push(format!(
                    "| arguments | `{}`… | {} | at least {} |",
                    rest.name,
                    type_name(rest.ty),
                    rest.min
                ));
            }
            for prop in &def.props {
                let needed = if prop.required {
                    "required"
                } else {
                    "optional"
                };
                rows.push(format!(
                    "| property | `{}=` | {} | {needed} |",
                    prop.name,
                    type_name(prop.ty)
                ));
            }
            if let Some(any) = &def.any_props {
                rows.push(format!(
                    "| properties | any name | {} | at least {} |",
                    type_name(any.ty),
                    any.min
                ));
            }
            for rule in &def.children {
                let count = match (rule.required, rule.repeat) {
                    (true, true) => "one or more",
                    (true, false) => "exactly one",
                    (false, true) => "any number",
                    (false, false) => "at most one",
                };
                rows.push(format!("| child | `{}` | node | {count} |", rule.name));
            }
            if let Some(rule) = &def.any_child {
                let count = if rule.repeat {
                    "any number, names may repeat"
                } else {
                    "any number, each name once"
                };
                rows.push(format!(
                    "| children | any name, shaped like `<{}>` | node | {count} |",
                    rule.name
                ));
            }
            if !rows.is_empty() {
                out.push_str("| what | name | type | how many |\n|---|---|---|---|\n");
                out.push_str(&rows.join("\n"));
                out.push_str("\n\n");
            }
        }
        out
    }
}

fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::String => "string",
        ValueType::Template => "template",
        ValueType::Path => "path (template)",
        ValueType::Integer => "integer",
        ValueType::Boolean => "boolean",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schema_loads_and_defines_the_reference_nodes() {
        let schema = Schema::builtin().expect("the shipped schema must load");
        for name in [
            "release",
            "cloud-images",
            "matrix",
            "image",
            "container",
            "group",
            "for-each",
        ] {
            assert!(schema.node(name).is_some(), "{name} missing");
        }
        assert!(
            schema
                .document
                .child("release")
                .is_some_and(|rule| rule.required)
        );
        assert_eq!(
            schema.parents_of("container"),
            ["container-images", "for-each", "group"]
        );
    }

    #[test]
    fn schema_referring_to_an_undefined_node_is_rejected() {
        let err = Schema::from_kdl("document { child \"nope\" }").unwrap_err();
        assert_eq!(err, "`document` refers to undefined node `nope`");
    }
}
