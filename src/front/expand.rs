//! Stage 4: the model → an expanded plan. Every template rendered, every matrix combination
//! and `for-each` item made concrete, names checked for clashes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean, list};
use crate::front::model::{
    ContainerItem, ContainerTemplate, FileRef, Matrix, Release, Selector, Text, Var,
};
use crate::front::plan::{Bindings, ContainerPlan, ExpandedPlan, Origin, PlannedFile, ReleaseInfo};
use crate::front::role::Role;
use crate::front::template::{Renderer, Scope};

mod flavors;
mod gl_oci;
mod images;
mod metadata;

/// More combinations than this are a mistake in the matrix, not a release.
pub const MAX_COMBINATIONS: usize = 10_000;

/// Options that change what the plan says, from the command line or the environment.
#[derive(Debug, Clone, Default)]
pub struct ExpandOptions {
    /// `SOURCE_DATE_EPOCH`, which wins over the release's `created`.
    pub source_date_epoch: Option<i64>,
    /// The flavors file the release's `cloud-images { flavors … }` names, as read.
    pub flavors: Option<crate::front::flavors::FlavorsFile>,
}

pub fn expand(
    release: &Release,
    options: &ExpandOptions,
    source: &Arc<SourceFile>,
) -> Result<ExpandedPlan, Diagnostics> {
    let mut expander = Expander {
        renderer: Renderer::new(),
        diagnostics: Vec::new(),
        tags: BTreeMap::new(),
    };
    let plan = expander.release(release, options);
    let mut diagnostics = merge_repeats(expander.diagnostics);
    diagnostics.sort_by_key(|d| d.labels.first().map_or(0, |l| l.span.offset()));
    match plan {
        Some(mut plan) if diagnostics.is_empty() => {
            for warning in &mut plan.warnings {
                warning.source = Some(Arc::clone(source));
            }
            Ok(plan)
        }
        _ => {
            for diagnostic in &mut diagnostics {
                if diagnostic.source.is_none() {
                    diagnostic.source = Some(Arc::clone(source));
                }
            }
            Err(diagnostics)
        }
    }
}

/// What makes two diagnostics the same: code, message and primary span.
type RepeatKey = (&'static str, String, Option<(usize, usize)>);

/// One template fails alike for many combinations: report it once, saying how many more.
fn merge_repeats(diagnostics: Diagnostics) -> Diagnostics {
    let mut merged: Diagnostics = Vec::new();
    let mut repeats: Vec<usize> = Vec::new();
    // Up to 10,000 combinations may fail alike: find repeats by key, not by scanning.
    let mut seen: std::collections::HashMap<RepeatKey, usize> = std::collections::HashMap::new();
    for diagnostic in diagnostics {
        let span = diagnostic
            .labels
            .first()
            .map(|l| (l.span.offset(), l.span.len()));
        let key = (diagnostic.code, diagnostic.message.clone(), span);
        if let Some(&index) = seen.get(&key) {
            repeats[index] += 1;
        } else {
            seen.insert(key, merged.len());
            merged.push(diagnostic);
            repeats.push(0);
        }
    }
    for (diagnostic, more) in merged.iter_mut().zip(repeats) {
        if more > 0
            && let Some(label) = diagnostic.labels.first_mut()
        {
            let noun = if more == 1 {
                "combination"
            } else {
                "combinations"
            };
            let text = label.text.take().unwrap_or_default();
            label.text = Some(format!("{text}, and {more} more {noun}"));
        }
    }
    merged
}

struct Expander {
    renderer: Renderer,
    diagnostics: Diagnostics,
    /// Every tag given out so far: what it names and where it was written.
    tags: BTreeMap<String, (&'static str, Origin)>,
}

/// One combination of the matrix: axis values, then the properties that came with them.
#[derive(Debug, Clone)]
struct Combination {
    axes: Bindings,
    extra: Bindings,
    /// Whether it came from the product (includes may extend only those).
    from_product: bool,
    /// Template values that are no strings (a flavor's feature list and flags).
    values: Vec<(&'static str, minijinja::Value)>,
}

impl Combination {
    fn value(&self, key: &str) -> Option<&str> {
        self.axes.get(key).or_else(|| self.extra.get(key))
    }
}

impl Expander {
    /// Registry tags: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, each used once in the layout.
    fn claim_tag(&mut self, full_tag: &str, what: &'static str, origin: &Origin) {
        let described = origin.bindings.describe();
        let shortened: String;
        let tag = if full_tag.chars().count() > 64 {
            shortened = format!("{}…", full_tag.chars().take(60).collect::<String>());
            &shortened
        } else {
            full_tag
        };
        if let Some(problem) = tag_problem(full_tag) {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::expand::invalid-tag",
                    format!("{what} `{tag}` is not a valid registry tag"),
                )
                .label(
                    origin.span,
                    format!("{problem} {described}").trim_end().to_owned(),
                )
                .help("tags are 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"),
            );
        } else if let Some((first_what, first)) = self.tags.get(full_tag) {
            let same = *first_what == what;
            let message = if same {
                format!("`{tag}` is given twice as {what}")
            } else {
                format!("`{tag}` is both {first_what} and {what}")
            };
            let (again, before) = if same {
                ("given again here".to_owned(), "first given here".to_owned())
            } else {
                (what.to_owned(), (*first_what).to_owned())
            };
            let mut diagnostic = Diagnostic::error("glc::expand::duplicate-tag", message).label(
                origin.span,
                format!("{again} {described}").trim_end().to_owned(),
            );
            if first.span != origin.span {
                diagnostic = diagnostic.label(
                    first.span,
                    format!("{before} {}", first.bindings.describe())
                        .trim_end()
                        .to_owned(),
                );
            }
            self.diagnostics.push(diagnostic.help(if same {
                "a tag is given once; remove one of them"
            } else {
                "every tag in the layout points at one thing; rename one of them"
            }));
        } else {
            self.tags
                .insert(full_tag.to_owned(), (what, origin.clone()));
        }
    }

    fn render(&mut self, text: &Text, scope: &Scope, bindings: &Bindings) -> Option<String> {
        match self.renderer.render(text, scope, bindings) {
            Ok(value) => Some(value),
            Err(diagnostic) => {
                self.diagnostics.push(diagnostic);
                None
            }
        }
    }

    fn vars(&mut self, vars: &[Var], scope: &mut Scope, bindings: &Bindings) -> bool {
        let mut ok = true;
        for var in vars {
            // Overrides the note above: by now `repository` and `source` are done.
            scope.set_note(
                var.name.value.clone(),
                "is defined further down in `vars`; a variable can use only those above it",
            );
        }
        for var in vars {
            match self.render(&var.value, scope, bindings) {
                Some(value) => scope.set(var.name.value.clone(), value),
                None => ok = false,
            }
        }
        ok
    }

    fn release(&mut self, release: &Release, options: &ExpandOptions) -> Option<ExpandedPlan> {
        let info = self.release_info(release, options)?;
        let none = Bindings::default();
        let mut scope = Scope::default();
        scope.set("version", info.version.clone());
        scope.set("version_major", info.version_major.clone());
        scope.set("version_minor", info.version_minor.clone());
        scope.set("version_patch", info.version_patch.clone());
        scope.set("commit", info.commit.clone());
        scope.set("commit_short", info.commit_short.clone());
        scope.set("created", info.created.clone());
        for var in &release.vars {
            scope.note(
                var.name.value.clone(),
                "comes from `vars`, which `repository` and `source` cannot use: they are rendered before `vars`",
            );
        }
        let repository = release
            .repository
            .as_ref()
            .and_then(|r| self.render(r, &scope, &none));
        if let Some(repository) = &repository {
            scope.set("repository", repository.clone());
        }
        let source_url = release
            .source
            .as_ref()
            .and_then(|s| self.render(s, &scope, &none));
        if !self.vars(&release.vars, &mut scope, &none) {
            // Later templates would only repeat the errors of the variables they use.
            return None;
        }
        let mut tags = Vec::new();
        for text in &release.tags {
            if let Some(tag) = self.render(text, &scope, &none) {
                self.claim_tag(
                    &tag,
                    "a release tag",
                    &Origin {
                        span: text.span,
                        bindings: none.clone(),
                    },
                );
                tags.push(tag);
            }
        }
        let metadata = self.metadata(&release.metadata, &scope);
        let images = release
            .cloud_images
            .as_ref()
            .map(|c| self.images(c, &scope, options.flavors.as_ref()))
            .unwrap_or_default();
        let warnings = release
            .cloud_images
            .as_ref()
            .map(|c| flavors::silent_omissions(c, &images))
            .unwrap_or_default();
        let mut containers = Vec::new();
        self.containers(&release.containers, None, &scope, &mut containers);
        self.unique_containers(&containers);
        let info = ReleaseInfo {
            source: source_url,
            repository,
            ..info
        };
        Some(ExpandedPlan {
            release: info,
            tags,
            metadata,
            images,
            containers: containers.into_iter().map(|(c, _, _)| c).collect(),
            part: None,
            warnings,
        })
    }

    fn release_info(&mut self, release: &Release, options: &ExpandOptions) -> Option<ReleaseInfo> {
        let version = release.version.value.clone();
        let mut parts = version.split('.');
        let mut part = || parts.next().unwrap_or("0").to_owned();
        let (major, minor, patch) = (part(), part(), part());
        let created = match options.source_date_epoch {
            Some(epoch) => {
                match jiff::Timestamp::from_second(epoch) {
                    Ok(ts) => ts,
                    Err(error) => {
                        self.diagnostics.push(
                        Diagnostic::error("glc::env::source-date-epoch", format!("SOURCE_DATE_EPOCH={epoch} is out of range: {error}"))
                            .help("set SOURCE_DATE_EPOCH to seconds since 1970-01-01 UTC, or unset it"),
                    );
                        return None;
                    }
                }
            }
            // decode has checked the timestamp; a failure here still only ends this run.
            None => release.created.value.parse::<jiff::Timestamp>().ok()?,
        };
        let commit = release.commit.value.clone();
        Some(ReleaseInfo {
            version,
            version_major: major,
            version_minor: minor,
            version_patch: patch,
            commit_short: commit.chars().take(8).collect(),
            commit,
            created: created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            source: None,
            repository: None,
            gl_oci: release
                .cloud_images
                .as_ref()
                .is_some_and(|c| c.gl_oci.is_some()),
        })
    }

    /// The file as planned for one image; `None` if it is absent there (its `if` is false) or
    /// cannot be rendered (said in the diagnostics).
    fn file(
        &mut self,
        file: &FileRef,
        role: Role,
        scope: &Scope,
        bindings: &Bindings,
    ) -> Option<PlannedFile> {
        if let Some(condition) = &file.condition {
            match self.renderer.condition(condition, scope, bindings) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(diagnostic) => {
                    self.diagnostics.push(diagnostic);
                    return None;
                }
            }
        }
        let path = self.render(&file.path, scope, bindings)?;
        Some(PlannedFile {
            path,
            media_type: file.media_type.as_ref().map(|m| m.value.clone()),
            role,
            origin: Origin {
                span: file.path.span,
                bindings: bindings.clone(),
            },
            media_type_span: file.media_type.as_ref().map(|m| m.span),
            condition: file.condition.as_ref().map(|c| c.value.clone()),
            feature_set: file.feature_set.as_ref().map(|k| (k.value.clone(), k.span)),
        })
    }

    /// The product of the axes, minus `exclude`, plus `include`, in a fixed order: the
    /// product in axis order (the last axis varying fastest), then included combinations.
    fn combinations(&mut self, matrix: &Matrix) -> Option<Vec<Combination>> {
        let count = matrix
            .axes
            .iter()
            .try_fold(1usize, |n, axis| n.checked_mul(axis.values.len()));
        let count = match count {
            Some(n) if n <= MAX_COMBINATIONS => n,
            _ => {
                let sizes: Vec<String> = matrix
                    .axes
                    .iter()
                    .map(|a| format!("{} {}", a.values.len(), a.name.value))
                    .collect();
                self.diagnostics.push(
                    Diagnostic::error(
                        "glc::matrix::too-large",
                        format!("the matrix makes more than {MAX_COMBINATIONS} combinations"),
                    )
                    .label(matrix.span, format!("{} values multiply", sizes.join(" × ")))
                    .help("a release of that many images is not meant; check the axes for repeated or generated values"),
                );
                return None;
            }
        };
        let mut combinations = Vec::with_capacity(count);
        if !matrix.axes.is_empty() {
            for index in 0..count {
                let mut rest = index;
                let mut axes = Vec::with_capacity(matrix.axes.len());
                let mut extra = Vec::new();
                for (position, axis) in matrix.axes.iter().enumerate() {
                    let stride: usize = matrix.axes[position + 1..]
                        .iter()
                        .map(|a| a.values.len())
                        .product();
                    let value = &axis.values[rest / stride];
                    rest %= stride;
                    axes.push((axis.name.value.clone(), value.value.value.clone()));
                    extra.extend(
                        value
                            .props
                            .iter()
                            .map(|(k, v)| (k.value.clone(), v.value.clone())),
                    );
                }
                combinations.push(Combination {
                    axes: Bindings(axes),
                    extra: Bindings(extra),
                    from_product: true,
                    values: Vec::new(),
                });
            }
        }
        for selector in &matrix.exclude {
            self.exclude(matrix, selector, &mut combinations);
        }
        for selector in &matrix.include {
            Self::include(matrix, selector, &mut combinations);
        }
        if combinations.is_empty() {
            let help = if count > 0 {
                "the `exclude`s remove every combination; remove one of them, or add values"
            } else {
                "add an axis with values, e.g. `arch \"amd64\"`, or an `include`"
            };
            self.diagnostics.push(
                Diagnostic::error("glc::matrix::empty", "the matrix has no combinations")
                    .label(matrix.span, "makes no images")
                    .help(help),
            );
            return None;
        }
        Some(combinations)
    }

    fn exclude(
        &mut self,
        matrix: &Matrix,
        selector: &Selector,
        combinations: &mut Vec<Combination>,
    ) {
        let axis_names: Vec<&str> = matrix.axes.iter().map(|a| a.name.value.as_str()).collect();
        let mut valid = true;
        for (key, value) in &selector.pairs {
            let Some(axis) = matrix.axes.iter().find(|a| a.name.value == key.value) else {
                let help = did_you_mean(&key.value, axis_names.iter().copied()).map_or_else(
                    || format!("the axes are {}", list(&axis_names)),
                    |s| format!("did you mean `{s}`?"),
                );
                self.diagnostics.push(
                    Diagnostic::error(
                        "glc::matrix::unknown-axis",
                        format!("`exclude` names `{}`, which is not an axis", key.value),
                    )
                    .label(key.span, "no such axis")
                    .help(help),
                );
                valid = false;
                continue;
            };
            let values: Vec<&str> = axis.values.iter().map(|v| v.value.value.as_str()).collect();
            if !values.contains(&value.value.as_str()) {
                let help = did_you_mean(&value.value, values.iter().copied()).map_or_else(
                    || format!("`{}` has {}", key.value, list(&values)),
                    |s| format!("did you mean `{s}`?"),
                );
                self.diagnostics.push(
                    Diagnostic::error(
                        "glc::matrix::unknown-value",
                        format!("axis `{}` has no value `{}`", key.value, value.value),
                    )
                    .label(value.span, "not a value of this axis")
                    .help(help),
                );
                valid = false;
            }
        }
        if !valid {
            return;
        }
        let before = combinations.len();
        combinations.retain(|c| {
            !selector
                .pairs
                .iter()
                .all(|(k, v)| c.axes.get(&k.value) == Some(v.value.as_str()))
        });
        if combinations.len() == before {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::matrix::exclude-matches-nothing",
                    "this `exclude` matches no combination",
                )
                .label(selector.span, "excludes nothing")
                .help("an earlier `exclude` already removed these combinations; remove this one"),
            );
        }
    }

    /// Adds the selector's values to every product combination it does not contradict; if
    /// there is none, adds a combination of its own, with the properties of the axis values
    /// it names.
    fn include(matrix: &Matrix, selector: &Selector, combinations: &mut Vec<Combination>) {
        let pairs: Vec<(&str, &str)> = selector
            .pairs
            .iter()
            .map(|(k, v)| (k.value.as_str(), v.value.as_str()))
            .collect();
        let mut matched = false;
        for combination in combinations.iter_mut().filter(|c| c.from_product) {
            let fits = pairs
                .iter()
                .all(|(k, v)| combination.value(k).is_none_or(|existing| existing == *v));
            let touches_axis = pairs.iter().any(|(k, _)| combination.axes.get(k).is_some());
            if fits && touches_axis {
                for (k, v) in &pairs {
                    if combination.value(k).is_none() {
                        combination.extra.0.push(((*k).to_owned(), (*v).to_owned()));
                    }
                }
                matched = true;
            }
        }
        if matched {
            return;
        }
        let mut axes = Vec::new();
        let mut extra = Vec::new();
        for axis in &matrix.axes {
            if let Some((_, value)) = pairs.iter().find(|(k, _)| *k == axis.name.value) {
                axes.push((axis.name.value.clone(), (*value).to_owned()));
                if let Some(declared) = axis.values.iter().find(|v| v.value.value == *value) {
                    extra.extend(
                        declared
                            .props
                            .iter()
                            .filter(|(k, _)| !pairs.iter().any(|(pk, _)| *pk == k.value))
                            .map(|(k, v)| (k.value.clone(), v.value.clone())),
                    );
                }
            }
        }
        for (k, v) in &pairs {
            if !matrix.axes.iter().any(|a| a.name.value == *k) {
                extra.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        combinations.push(Combination {
            axes: Bindings(axes),
            extra: Bindings(extra),
            from_product: false,
            values: Vec::new(),
        });
    }

    fn containers(
        &mut self,
        items: &[ContainerItem],
        group: Option<&str>,
        scope: &Scope,
        out: &mut Vec<(ContainerPlan<PlannedFile>, Origin, Origin)>,
    ) {
        for item in items {
            match item {
                ContainerItem::Container(template) => {
                    let bindings = group.map_or_else(Bindings::default, |g| {
                        Bindings(vec![("group".into(), g.into())])
                    });
                    if let Some(plan) = self.container(template, group, scope, &bindings) {
                        out.push(plan);
                    }
                }
                ContainerItem::Group(g) => {
                    let Some(name) = self.render(&g.name, scope, &Bindings::default()) else {
                        continue;
                    };
                    let mut inner = scope.clone();
                    inner.set("group", name.clone());
                    self.containers(&g.items, Some(&name), &inner, out);
                }
                ContainerItem::ForEach(each) => {
                    for item in &each.items {
                        let mut inner = scope.clone();
                        inner.set("item", item.value.clone());
                        let mut bindings = Vec::new();
                        if let Some(g) = group {
                            bindings.push(("group".to_owned(), g.to_owned()));
                        }
                        bindings.push(("item".to_owned(), item.value.clone()));
                        for template in &each.containers {
                            if let Some(plan) =
                                self.container(template, group, &inner, &Bindings(bindings.clone()))
                            {
                                out.push(plan);
                            }
                        }
                    }
                }
            }
        }
    }

    fn container(
        &mut self,
        template: &ContainerTemplate,
        group: Option<&str>,
        scope: &Scope,
        bindings: &Bindings,
    ) -> Option<(ContainerPlan<PlannedFile>, Origin, Origin)> {
        let name = self.render(&template.name, scope, bindings)?;
        let mut scope = scope.clone();
        scope.set("name", name.clone());
        let from = self.render(&template.from, &scope, bindings);
        let reference = template
            .reference
            .as_ref()
            .and_then(|r| self.render(r, &scope, bindings));
        let tag = match &template.tag {
            Some(tag) => self.render(tag, &scope, bindings)?,
            None => format!("{name}-{}", scope.get("version").unwrap_or_default()),
        };
        let origin = Origin {
            span: template.name.span,
            bindings: bindings.clone(),
        };
        let tag_origin = Origin {
            span: template.tag.as_ref().map_or(template.name.span, |t| t.span),
            bindings: bindings.clone(),
        };
        let from = PlannedFile {
            path: from?,
            media_type: None,
            role: Role::ContainerSource,
            origin: Origin {
                span: template.from.span,
                bindings: bindings.clone(),
            },
            media_type_span: None,
            condition: None,
            feature_set: None,
        };
        Some((
            ContainerPlan {
                name,
                group: group.map(str::to_owned),
                from,
                reference,
                tag,
                default: template.default.is_some(),
            },
            origin,
            tag_origin,
        ))
    }

    /// At most one container is what `podman pull <repo>:<version>` gets.
    fn one_default(&mut self, containers: &[(ContainerPlan<PlannedFile>, Origin, Origin)]) {
        let defaults: Vec<_> = containers.iter().filter(|(c, ..)| c.default).collect();
        if defaults.len() < 2 {
            return;
        }
        let names: Vec<String> = defaults
            .iter()
            .map(|(c, ..)| format!("`{}`", c.name))
            .collect();
        let mut diagnostic = Diagnostic::error(
            "glc::expand::two-defaults",
            format!(
                "{} containers are marked default=#true: {}",
                defaults.len(),
                names.join(", ")
            ),
        );
        let mut labelled = Vec::new();
        for (container, origin, _) in &defaults {
            if labelled.contains(&origin.span) {
                continue;
            }
            labelled.push(origin.span);
            diagnostic = diagnostic.label(
                origin.span,
                format!(
                    "`{}` is the default {}",
                    container.name,
                    origin.bindings.describe()
                )
                .trim_end()
                .to_owned(),
            );
        }
        self.diagnostics.push(diagnostic.help(
            "`podman pull <repo>:<version>` gets one container; keep default=#true on one of them",
        ));
    }

    /// Container names are unique; each container's tag is claimed once its name is.
    fn unique_containers(&mut self, containers: &[(ContainerPlan<PlannedFile>, Origin, Origin)]) {
        self.one_default(containers);
        let mut seen: BTreeMap<&str, &Origin> = BTreeMap::new();
        for (container, origin, tag_origin) in containers {
            let Some(first) = seen.insert(&container.name, origin) else {
                self.claim_tag(&container.tag, "a container tag", tag_origin);
                continue;
            };
            let name = &container.name;
            let mut diagnostic = Diagnostic::error(
                "glc::expand::duplicate-container",
                format!("two containers are named `{name}`"),
            );
            diagnostic = if first.span == origin.span {
                let both = format!(
                    "named `{name}` {} and {}",
                    first.bindings.describe(),
                    origin.bindings.describe()
                );
                diagnostic.label(origin.span, both)
            } else {
                diagnostic
                    .label(
                        origin.span,
                        format!("named `{name}` here {}", origin.bindings.describe())
                            .trim_end()
                            .to_owned(),
                    )
                    .label(
                        first.span,
                        format!("and here {}", first.bindings.describe())
                            .trim_end()
                            .to_owned(),
                    )
            };
            self.diagnostics.push(diagnostic.help(
                "every container needs its own name; make the name differ, e.g. with {{ item }}",
            ));
        }
    }
}

fn tag_problem(tag: &str) -> Option<String> {
    if tag.is_empty() {
        return Some("it is empty".to_owned());
    }
    if tag.len() > 128 {
        return Some(format!("it is {} bytes long, more than 128", tag.len()));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        return Some(format!("`{c}` is not allowed"));
    }
    if tag.starts_with(['.', '-']) {
        return Some("it starts with `.` or `-`".to_owned());
    }
    None
}
