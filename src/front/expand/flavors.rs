//! The images of a flavors file, and what Garden Linux's clients will not find of an image.

use std::collections::BTreeMap;

use super::{Combination, Expander, MAX_COMBINATIONS};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::front::model::CloudImages;
use crate::front::plan::{Bindings, ImagePlan, PlannedFile, axis};

impl Expander {
    /// The flavors the filter selects, each a combination: `target`, `features` (joined by
    /// `,`), `arch` and `category` as axis values, the rest as template values.
    pub(super) fn flavor_combinations(
        &mut self,
        cloud: &CloudImages,
        source: &crate::front::model::FlavorsSource,
        file: &crate::front::flavors::FlavorsFile,
    ) -> Option<Vec<Combination>> {
        // A pattern that is no glob decode has reported.
        let Ok(selected) = source.filter.select(&file.targets) else {
            return None;
        };
        if selected.is_empty() {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::flavors::none-selected",
                    format!("`{}` has no flavor that `flavors` selects", source.path.value),
                )
                .label(cloud.span, "selects no flavor")
                .help("check the flags and globs against flavors.yaml; targets of category `container` are never cloud images"),
            );
            return None;
        }
        if selected.len() > MAX_COMBINATIONS {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::matrix::too-large",
                    format!("the flavors make more than {MAX_COMBINATIONS} combinations"),
                )
                .label(cloud.span, format!("selects {} flavors", selected.len()))
                .help("a release of that many images is not meant; select fewer flavors"),
            );
            return None;
        }
        Some(
            selected
                .into_iter()
                .map(|s| {
                    let feature_set = s.flavor.features.join(",");
                    let features: Vec<minijinja::Value> = s
                        .flavor
                        .features
                        .iter()
                        .map(|f| f.as_str().into())
                        .collect();
                    Combination {
                        axes: Bindings(vec![
                            (axis::TARGET.to_owned(), s.target.clone()),
                            (axis::FEATURES.to_owned(), feature_set.clone()),
                            (axis::ARCH.to_owned(), s.flavor.arch.clone()),
                            ("category".to_owned(), s.category),
                        ]),
                        extra: Bindings(vec![
                            (axis::PLATFORM.to_owned(), s.target),
                            ("feature_set".to_owned(), feature_set),
                            ("flavor".to_owned(), s.name),
                        ]),
                        from_product: true,
                        values: vec![
                            ("features", minijinja::Value::from(features)),
                            (
                                "flags",
                                minijinja::Value::from(BTreeMap::from([
                                    ("build", s.flavor.build),
                                    ("test", s.flavor.test),
                                    ("test_platform", s.flavor.test_platform),
                                    ("publish", s.flavor.publish),
                                ])),
                            ),
                        ],
                    }
                })
                .collect(),
        )
    }
}

/// Warnings for what Garden Linux's clients will not find: images without an `arch` (no
/// `architecture` annotation, no platform) or without `features` (no `feature_set`).
pub(super) fn silent_omissions(
    cloud: &CloudImages,
    images: &[ImagePlan<PlannedFile>],
) -> Diagnostics {
    [
        (axis::ARCH, "architecture", "the update tool and `podman` cannot tell architectures apart, and the images carry no platform", "arch \"amd64\" \"arm64\""),
        (axis::FEATURES, "feature_set", "Garden Linux's library cannot tell the images' feature sets", "features \"gardener_prod\""),
    ]
    .into_iter()
    .filter_map(|(axis, annotation, consequence, example)| {
        let lacking: Vec<&str> = images
            .iter()
            .filter(|image| image.matrix.get(axis).is_none())
            .map(|image| image.cname.as_str())
            .collect();
        let first = lacking.first()?;
        let which = match lacking.len() {
            1 => format!("`{first}`"),
            n if n == images.len() => format!("all {n} cloud images"),
            n => format!("{n} cloud images (`{first}`, …)"),
        };
        Some(
            Diagnostic::warning(
                "glc::expand::no-axis",
                format!("{which} will have no `{annotation}` annotation: the matrix has no `{axis}` axis"),
            )
            .label(cloud.span, format!("no `{axis}` here"))
            .help(format!("{consequence}; add the axis to the matrix, e.g. `{example}`")),
        )
    })
    .collect()
}
