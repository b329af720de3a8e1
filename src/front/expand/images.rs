//! The cloud images: each combination made into an image by the `image` template that
//! chooses it.

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::Expander;
use crate::diagnostic::Diagnostic;
use crate::front::model::{CloudImages, ImageTemplate, Text};
use crate::front::plan::{
    AptRepositoryPlan, AttachmentPlan, Bindings, ImagePlan, Origin, PlannedFile,
};
use crate::front::role::Role;
use crate::front::template::Scope;

impl Expander {
    pub(super) fn images(
        &mut self,
        cloud: &CloudImages,
        release_scope: &Scope,
        flavors: Option<&crate::front::flavors::FlavorsFile>,
    ) -> Vec<ImagePlan<PlannedFile>> {
        let combinations = match (&cloud.matrix, &cloud.flavors, flavors) {
            (Some(matrix), _, _) => self.combinations(matrix),
            (None, Some(source), Some(file)) => self.flavor_combinations(cloud, source, file),
            _ => None,
        };
        let Some(combinations) = combinations else {
            return Vec::new();
        };
        let mut images = Vec::new();
        // Each cname, with the combination and the template that rendered it first.
        let mut cnames: BTreeMap<String, (Bindings, SourceSpan)> = BTreeMap::new();
        // Each name once: there are as many combinations as 10,000.
        let all_keys: std::collections::BTreeSet<&String> = combinations
            .iter()
            .flat_map(|c| c.axes.0.iter().chain(&c.extra.0))
            .map(|(k, _)| k)
            .collect();
        for combination in &combinations {
            let mut scope = release_scope.clone();
            for (key, value) in combination.axes.0.iter().chain(&combination.extra.0) {
                scope.set(key.clone(), value.clone());
            }
            for (key, value) in &combination.values {
                scope.set(*key, value.clone());
            }
            for key in &all_keys {
                scope.note(
                    (*key).clone(),
                    "is set for other matrix combinations, not for this one",
                );
            }
            let bindings = &combination.axes;
            if !self.vars(&cloud.vars, &mut scope, bindings) {
                continue;
            }
            let Some(template) = self.template(cloud, &scope, bindings) else {
                continue;
            };
            let Some(cname) = self.render(&template.cname, &scope, bindings) else {
                continue;
            };
            if let Some((first, first_span)) =
                cnames.insert(cname.clone(), (bindings.clone(), template.cname.span))
            {
                let mut diagnostic = Diagnostic::error(
                    "glc::expand::duplicate-cname",
                    format!("two images have the cname `{cname}`"),
                )
                .label(
                    template.cname.span,
                    format!(
                        "renders `{cname}` {} and {}",
                        first.describe(),
                        bindings.describe()
                    ),
                );
                if first_span != template.cname.span {
                    diagnostic = diagnostic.label(first_span, "renders it first");
                }
                self.diagnostics.push(diagnostic.help(
                    "make the cname use every axis whose values differ between these combinations",
                ));
                continue;
            }
            self.claim_tag(
                &cname,
                "a cname",
                &Origin {
                    span: template.cname.span,
                    bindings: bindings.clone(),
                },
            );
            self.claim_gl_oci_tag(cloud, template, &cname, release_scope, bindings);
            scope.set("cname", cname.clone());
            let layers = template
                .layers
                .iter()
                .filter_map(|(role, f)| Some((*role, self.file(f, *role, &scope, bindings)?)))
                .collect();
            let attachments = template
                .attachments
                .iter()
                .filter_map(|a| {
                    let kind = self.render(&a.kind, &scope, bindings)?;
                    self.attachment_kind(&kind, &a.kind, bindings);
                    Some(AttachmentPlan {
                        kind,
                        file: self.file(&a.file, Role::Attachment, &scope, bindings)?,
                    })
                })
                .collect();
            let apt_repository = template.apt_repository.as_ref().and_then(|apt| {
                Some(AptRepositoryPlan {
                    url: self.render(&apt.url, &scope, bindings)?,
                    dist: self.render(&apt.dist, &scope, bindings)?,
                    component: self.render(&apt.component, &scope, bindings)?,
                })
            });
            images.push(ImagePlan {
                cname,
                matrix: bindings.clone(),
                condition: template.condition.as_ref().map(|c| c.value.clone()),
                layers,
                attachments,
                apt_repository,
            });
        }
        images
    }

    /// The template that makes the combination's image: the one whose `if` holds (one
    /// without `if` chooses every combination). `None` after saying why not: no template or
    /// more than one chooses it, or an `if` fails.
    fn template<'c>(
        &mut self,
        cloud: &'c CloudImages,
        scope: &Scope,
        bindings: &Bindings,
    ) -> Option<&'c ImageTemplate> {
        if let [only] = &cloud.images[..]
            && only.condition.is_none()
        {
            return Some(only);
        }
        let mut scope = scope.clone();
        scope.note(
            "cname",
            "is rendered by the `image` chosen, so an `image`'s `if` cannot use it",
        );
        let mut chosen: Vec<&ImageTemplate> = Vec::new();
        let mut failed = false;
        for template in &cloud.images {
            match &template.condition {
                None => chosen.push(template),
                Some(condition) => match self.renderer.condition(condition, &scope, bindings) {
                    Ok(true) => chosen.push(template),
                    Ok(false) => {}
                    Err(diagnostic) => {
                        self.diagnostics.push(diagnostic);
                        failed = true;
                    }
                },
            }
        }
        if failed {
            return None;
        }
        let at = |t: &ImageTemplate| t.condition.as_ref().map_or(t.span, |c| c.span);
        let described = bindings.describe();
        let combination = if described.is_empty() {
            "the combination".to_owned()
        } else {
            format!("the combination {}", described.trim_start_matches("for "))
        };
        match chosen[..] {
            [one] => Some(one),
            [] => {
                let mut diagnostic = Diagnostic::error(
                    "glc::expand::no-image-template",
                    "no `image` chooses a combination: the `if` of every one is false for it",
                )
                .label(cloud.span, format!("makes {combination}"));
                for template in &cloud.images {
                    diagnostic = diagnostic.label(at(template), "false for it");
                }
                self.diagnostics.push(diagnostic.help(
                    "give each combination one `image`: widen an `if`, or add an `image` for these (`if=\"not (…)\"` of the others', or none); to leave combinations out, use `exclude` or the flavors' filter",
                ));
                None
            }
            [first, second, ..] => {
                self.diagnostics.push(
                    Diagnostic::error(
                        "glc::expand::image-chosen-twice",
                        "two `image` templates choose the same combination",
                    )
                    .label(at(second), format!("chooses {combination}"))
                    .label(at(first), "and so does this one")
                    .help("make the `if`s exclusive, so that one `image` makes each combination: e.g. `if=\"'_usi' in features\"` on one, `if=\"'_usi' not in features\"` on the other"),
                );
                None
            }
        }
    }

    fn attachment_kind(&mut self, kind: &str, text: &Text, bindings: &Bindings) {
        let valid = kind
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
        if !valid {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::expand::invalid-attachment-kind",
                    format!("`{kind}` cannot name an attachment kind"),
                )
                .label(
                    text.span,
                    format!(
                        "becomes application/io.gardenlinux.<kind> {}",
                        bindings.describe()
                    )
                    .trim_end()
                    .to_owned(),
                )
                .help("use lowercase letters, digits, `-` and `.`, e.g. \"test-log\""),
            );
        }
    }
}
