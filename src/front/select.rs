//! Between expand and resolve: `--only` keeps the cloud images and containers whose names
//! match, so that a part of a release can be built on its own runner and merged later.
//!
//! A pattern is a glob (`*`, `?`, `[…]`, `{a,b}`) matched against whole cnames, container
//! names and group names (a group's name selects all its containers). Files of the images not
//! selected are never looked at; every container source is still opened, because every cloud
//! image names `ContainerImages` by digest and that index lists every container.

use globset::{Glob, GlobMatcher};
use sha2::{Digest, Sha256};

use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::front::plan::{ExpandedPlan, Part};

/// The `--only` patterns, checked.
#[derive(Debug, Clone)]
pub struct Selection {
    patterns: Vec<(String, GlobMatcher)>,
}

impl Selection {
    /// Checks every pattern; an empty list selects the whole release.
    pub fn new(patterns: &[String]) -> Result<Self, Diagnostics> {
        let mut checked = Vec::new();
        let mut errors = Vec::new();
        for pattern in patterns {
            match Glob::new(pattern) {
                Ok(glob) => checked.push((pattern.clone(), glob.compile_matcher())),
                Err(error) => errors.push(
                    Diagnostic::error(
                        "glc::only::pattern",
                        format!("--only `{pattern}` is not a valid pattern: {}", error.kind()),
                    )
                    .help("patterns are globs over cnames and container names, e.g. `aws-*` or `{bare-*,base}`"),
                ),
            }
        }
        if errors.is_empty() {
            Ok(Self { patterns: checked })
        } else {
            Err(errors)
        }
    }

    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.patterns.is_empty()
    }

    fn matches(&self, names: &[&str]) -> bool {
        self.patterns
            .iter()
            .any(|(_, m)| names.iter().any(|n| m.is_match(n)))
    }
}

/// `sha256:` of a release file's bytes, which names the release a part belongs to.
#[must_use]
pub fn release_file_digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// Keeps what `selection` matches; the plan records the part it now is.
pub fn select(
    mut plan: ExpandedPlan,
    selection: &Selection,
    release_file: String,
) -> Result<ExpandedPlan, Diagnostics> {
    if selection.is_whole() {
        return Ok(plan);
    }
    let cnames: Vec<&str> = plan.images.iter().map(|i| i.cname.as_str()).collect();
    let containers: Vec<&str> = plan.containers.iter().map(|c| c.name.as_str()).collect();
    let mut groups: Vec<&str> = plan
        .containers
        .iter()
        .filter_map(|c| c.group.as_deref())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let errors: Diagnostics = selection
        .patterns
        .iter()
        .filter(|(_, m)| {
            !cnames
                .iter()
                .chain(&containers)
                .chain(&groups)
                .any(|n| m.is_match(n))
        })
        .map(|(pattern, _)| unmatched(pattern, &cnames, &containers, &groups))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut all_images: Vec<String> = cnames.iter().map(|&c| c.to_owned()).collect();
    all_images.sort_unstable();
    let mut selected_containers: Vec<String> = plan
        .containers
        .iter()
        .filter(|c| {
            let mut names = vec![c.name.as_str()];
            names.extend(c.group.as_deref());
            selection.matches(&names)
        })
        .map(|c| c.name.clone())
        .collect();
    selected_containers.sort_unstable();
    plan.images.retain(|i| selection.matches(&[&i.cname]));
    plan.part = Some(Part {
        release_file,
        all_images,
        containers: selected_containers,
    });
    Ok(plan)
}

fn unmatched(pattern: &str, cnames: &[&str], containers: &[&str], groups: &[&str]) -> Diagnostic {
    let everything = || cnames.iter().chain(containers).chain(groups).copied();
    let diagnostic = Diagnostic::error(
        "glc::only::unmatched",
        format!("--only `{pattern}` matches no cloud image, container or group of this release"),
    );
    if everything().any(|n| n.starts_with(pattern)) {
        return diagnostic.help(format!(
            "a pattern matches whole names: did you mean `{pattern}*`?"
        ));
    }
    if let Some(name) = did_you_mean(pattern, everything()) {
        return diagnostic.help(format!("did you mean `{name}`?"));
    }
    diagnostic.help(format!(
        "cnames are {}; containers are {}; `glc plan` lists them all",
        some(cnames),
        some(containers)
    ))
}

/// A few names, and how many there are in all.
fn some(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    if names.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        format!("{}, … ({} in all)", shown.join(", "), names.len())
    } else {
        crate::diagnostic::list(names)
    }
}
