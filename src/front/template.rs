//! Rendering of template strings: minijinja with strict undefined values, no loader, no
//! filesystem or environment access, and limits on work and output size.

use std::collections::BTreeMap;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::diagnostic::{Diagnostic, did_you_mean, list};
use crate::front::model::Text;
use crate::front::plan::Bindings;

/// Instructions one template may execute; plenty for names and paths, not for runaway loops.
const FUEL: u64 = 20_000;
const RECURSION_LIMIT: usize = 32;
/// Longest string a template may render to.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// The template values in scope at one place, in the order they were defined.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: BTreeMap<String, Value>,
    /// Why a name that is not defined here might have been expected, for the error.
    notes: BTreeMap<String, String>,
}

impl Scope {
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        self.notes.remove(&name);
        self.values.insert(name, value.into());
    }

    /// Like [`Scope::note`], replacing an earlier note.
    pub fn set_note(&mut self, name: impl Into<String>, why: impl Into<String>) {
        let name = name.into();
        if !self.values.contains_key(&name) {
            self.notes.insert(name, why.into());
        }
    }

    /// Explains, should a template use `name` here, why it is not defined.
    pub fn note(&mut self, name: impl Into<String>, why: impl Into<String>) {
        let name = name.into();
        if !self.values.contains_key(&name) {
            self.notes.entry(name).or_insert_with(|| why.into());
        }
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    #[must_use]
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        // Values are names and paths, never HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Self { env }
    }

    /// Renders `text` in `scope`; `bindings` say which combination it was rendered for.
    pub fn render(
        &self,
        text: &Text,
        scope: &Scope,
        bindings: &Bindings,
    ) -> Result<String, Diagnostic> {
        // A plain string needs no template engine; most paths and names are plain.
        if !text.value.contains("{{") && !text.value.contains("{%") && !text.value.contains("{#") {
            return Ok(text.value.clone());
        }
        let template = self
            .env
            .template_from_str(&text.value)
            .map_err(|e| template_error(&e, text, bindings))?;
        let rendered = template.render(&scope.values).map_err(|e| {
            evaluation_error(
                &e,
                || template.undeclared_variables(false),
                text,
                scope,
                bindings,
            )
        })?;
        if rendered.len() > MAX_OUTPUT {
            return Err(Diagnostic::error(
                "glc::template::too-long",
                format!(
                    "the template renders to {} bytes, more than the limit of {MAX_OUTPUT}",
                    rendered.len()
                ),
            )
            .label(text.span, with_bindings("rendered here", bindings))
            .help("templates make names and paths; shorten what it repeats"));
        }
        Ok(rendered)
    }
}

/// The error of a template or expression that failed to evaluate: an undefined name is named
/// (the first the text uses that the scope lacks), anything else said as minijinja says it.
fn evaluation_error(
    error: &minijinja::Error,
    undeclared: impl FnOnce() -> std::collections::HashSet<String>,
    text: &Text,
    scope: &Scope,
    bindings: &Bindings,
) -> Diagnostic {
    if error.kind() == ErrorKind::UndefinedError {
        let missing = undeclared()
            .into_iter()
            .filter(|name| !scope.values.contains_key(name))
            .min_by_key(|name| text.value.find(name.as_str()).unwrap_or(usize::MAX));
        if let Some(name) = missing {
            return undefined(&name, text, scope, bindings);
        }
    }
    template_error(error, text, bindings)
}

impl Renderer {
    /// Evaluates the expression `text` (an `if="…"`) in `scope`: whether it holds.
    pub fn condition(
        &self,
        text: &Text,
        scope: &Scope,
        bindings: &Bindings,
    ) -> Result<bool, Diagnostic> {
        let expression = self
            .env
            .compile_expression(&text.value)
            .map_err(|e| template_error(&e, text, bindings))?;
        let value = expression.eval(&scope.values).map_err(|e| {
            evaluation_error(
                &e,
                || expression.undeclared_variables(false),
                text,
                scope,
                bindings,
            )
        })?;
        if value.is_undefined() {
            // `flags.tset`: strict undefined values fail in templates, not as a result.
            return Err(Diagnostic::error(
                "glc::template::undefined",
                format!("the condition `{}` is undefined", text.value),
            )
            .label(text.span, with_bindings("not defined", bindings))
            .help(format!(
                "a condition must say true or false; available here: {}",
                list(&scope.names())
            )));
        }
        Ok(value.is_true())
    }
}

fn template_error(error: &minijinja::Error, text: &Text, bindings: &Bindings) -> Diagnostic {
    let span = error
        .range()
        .map_or(text.span, |range| text.sub_span(range));
    let detail = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    let (code, message, help) = match error.kind() {
        ErrorKind::SyntaxError | ErrorKind::BadEscape => (
            "glc::template::syntax",
            format!("template syntax error: {detail}"),
            "templates use minijinja (Jinja2) syntax, e.g. \"{{ version }}\" or \"{{ a if b else c }}\"",
        ),
        _ if detail.contains("recursion limit") => (
            "glc::template::too-deep",
            format!("the template nests more than {RECURSION_LIMIT} calls deep"),
            "a macro that calls itself needs a way to stop; templates make names and paths",
        ),
        ErrorKind::OutOfFuel => (
            "glc::template::too-much-work",
            "the template does too much work".to_owned(),
            "templates make names and paths; loops and repetition this large are not meant",
        ),
        _ => (
            "glc::template::error",
            format!("template error: {detail}"),
            "check the expression at the marked place",
        ),
    };
    Diagnostic::error(code, message)
        .label(span, with_bindings("here", bindings))
        .help(help)
}

fn undefined(name: &str, text: &Text, scope: &Scope, bindings: &Bindings) -> Diagnostic {
    let span = find_identifier(&text.value, name)
        .map_or(text.span, |start| text.sub_span(start..start + name.len()));
    let available = scope.names();
    let mut help = String::new();
    if let Some(note) = scope.notes.get(name) {
        help.push_str(&format!("`{name}` {note}; "));
    } else if let Some(suggestion) = did_you_mean(name, available.iter().copied()) {
        help.push_str(&format!("did you mean `{suggestion}`? "));
    }
    help.push_str(&format!("available here: {}", list(&available)));
    Diagnostic::error(
        "glc::template::undefined",
        format!("undefined value `{name}` in template"),
    )
    .label(span, with_bindings("not defined", bindings))
    .help(help)
}

/// Byte offset of `name` as a whole word inside a `{{ … }}` or `{% … %}` of `template`.
fn find_identifier(template: &str, name: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = template[from..].find(name) {
        let start = from + found;
        let end = start + name.len();
        let before_ok = template[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c) && c != '.');
        let after_ok = template[end..].chars().next().is_none_or(|c| !is_ident(c));
        let inside = template[..start]
            .rfind("{{")
            .into_iter()
            .chain(template[..start].rfind("{%"))
            .max()
            > template[..start]
                .rfind("}}")
                .into_iter()
                .chain(template[..start].rfind("%}"))
                .max();
        if before_ok && after_ok && inside {
            return Some(start);
        }
        from = end;
    }
    None
}

fn with_bindings(label: &str, bindings: &Bindings) -> String {
    let described = bindings.describe();
    if described.is_empty() {
        label.to_owned()
    } else {
        format!("{label} {described}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Text {
        Text {
            value: value.to_owned(),
            span: (10, value.len() + 2).into(),
            content_offset: Some(11),
        }
    }

    #[test]
    fn renders_values_and_tests() {
        let mut scope = Scope::default();
        scope.set("features", "_pxe");
        scope.set("platform", "baremetal");
        let out = Renderer::new()
            .render(&text("{{ platform }}{{ features if features is startingwith('_') else '-' ~ features }}"), &scope, &Bindings::default())
            .unwrap();
        assert_eq!(out, "baremetal_pxe");
    }

    #[test]
    fn undefined_names_the_value_and_points_at_it() {
        let mut scope = Scope::default();
        scope.set("arch", "amd64");
        let bindings = Bindings(vec![("arch".into(), "amd64".into())]);
        let err = Renderer::new()
            .render(&text("x-{{ archh }}"), &scope, &bindings)
            .unwrap_err();
        assert_eq!(err.code, "glc::template::undefined");
        assert_eq!(err.message, "undefined value `archh` in template");
        assert_eq!(err.labels[0].span, (11 + 5, 5).into());
        assert_eq!(
            err.labels[0].text.as_deref(),
            Some("not defined for arch=amd64")
        );
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean `arch`? available here: `arch`")
        );
    }

    #[test]
    fn conditions_test_lists_and_values() {
        let mut scope = Scope::default();
        scope.set("target", "openstack");
        scope.set("features", Value::from(vec!["gardener", "_prod"]));
        let holds = |expression: &str| {
            Renderer::new().condition(&text(expression), &scope, &Bindings::default())
        };
        assert_eq!(holds("target in ['ali', 'openstack']").ok(), Some(true));
        assert_eq!(holds("'_pxe' in features").ok(), Some(false));
        assert_eq!(
            holds("'_prod' in features and target != 'ali'").ok(),
            Some(true)
        );
        let error = holds("platfrm == 'kvm'").unwrap_err();
        assert_eq!(error.code, "glc::template::undefined");
        assert_eq!(
            holds("target ==").unwrap_err().code,
            "glc::template::syntax"
        );
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let err = Renderer::new()
            .render(
                &text("{% for i in range(100000) %}{{ i }}{% endfor %}"),
                &Scope::default(),
                &Bindings::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, "glc::template::too-much-work");
    }

    #[test]
    fn identifier_search_skips_literal_text_and_longer_names() {
        assert_eq!(
            find_identifier("arch-{{ arch2 }}-{{ arch }}", "arch"),
            Some(20)
        );
    }
}
