//! The release's metadata: its changelog, its own files and its links.

use std::collections::BTreeMap;

use super::Expander;
use crate::diagnostic::Diagnostic;
use crate::front::model::Metadata;
use crate::front::plan::{Bindings, LinkPlan, MetadataPlan, PlannedFile, file_title};
use crate::front::role::Role;
use crate::front::template::Scope;

/// The titles glc gives layers of `MetaData` itself.
const OWN_TITLES: [&str; 2] = ["version", "release-manifest.json"];

impl Expander {
    pub(super) fn metadata(
        &mut self,
        metadata: &Metadata,
        scope: &Scope,
    ) -> MetadataPlan<PlannedFile> {
        let none = Bindings::default();
        let changelog = metadata
            .changelog
            .as_ref()
            .and_then(|f| self.file(f, Role::Changelog, scope, &none));
        let files: Vec<PlannedFile> = metadata
            .files
            .iter()
            .filter_map(|f| self.file(f, Role::Metadata, scope, &none))
            .collect();
        self.unique_titles(changelog.as_ref(), &files);
        let links = metadata
            .links
            .iter()
            .filter_map(|link| {
                Some(LinkPlan {
                    name: link.name.value.clone(),
                    target: self.render(&link.target, scope, &none)?,
                })
            })
            .collect();
        MetadataPlan {
            changelog,
            files,
            links,
        }
    }

    /// A layer of `MetaData` is found by its title (`glc get --metadata NAME`): each is unique.
    fn unique_titles(&mut self, changelog: Option<&PlannedFile>, files: &[PlannedFile]) {
        let mut seen: BTreeMap<String, Option<&PlannedFile>> =
            OWN_TITLES.iter().map(|t| ((*t).to_owned(), None)).collect();
        for file in changelog.into_iter().chain(files) {
            let title = file_title(&file.path);
            match seen.get(&title) {
                None => {
                    seen.insert(title, Some(file));
                }
                Some(first) => {
                    let mut diagnostic = Diagnostic::error(
                        "glc::expand::duplicate-metadata-title",
                        format!("two layers of the release's metadata would be titled `{title}`"),
                    )
                    .label(file.origin.span, format!("renders `{}`", file.path));
                    diagnostic = match first {
                        Some(first) => diagnostic
                            .label(first.origin.span, format!("renders `{}` too", first.path)),
                        None => diagnostic,
                    };
                    let help = if first.is_none() {
                        format!("glc writes the `{title}` layer itself; rename the file")
                    } else {
                        "a metadata file is found by its file name; rename one of them".to_owned()
                    };
                    self.diagnostics.push(diagnostic.help(help));
                }
            }
        }
    }
}
