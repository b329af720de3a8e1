//! `gl-oci #true`: each cloud image also under the tag Garden Linux's library looks it up by.

use super::Expander;
use crate::diagnostic::Diagnostic;
use crate::front::model::{CloudImages, ImageTemplate};
use crate::front::plan::{Bindings, ClientNames, Origin, gl_oci_tag};
use crate::front::template::Scope;

impl Expander {
    /// Claims the image's `<version>-<cname>-<arch>` tag; an image without an `arch` value
    /// cannot have one.
    pub(super) fn claim_gl_oci_tag(
        &mut self,
        cloud: &CloudImages,
        template: &ImageTemplate,
        cname: &str,
        scope: &Scope,
        bindings: &Bindings,
    ) {
        let Some(span) = cloud.gl_oci else {
            return;
        };
        let Some(arch) = ClientNames::of(bindings).architecture else {
            self.diagnostics.push(
                Diagnostic::error(
                    "glc::expand::gl-oci-no-arch",
                    format!("the image `{cname}` has no `arch` value, which `gl-oci` needs"),
                )
                .label(span, "tags each image `<version>-<cname>-<arch>`")
                .label(
                    template.cname.span,
                    format!("renders `{cname}` {}", bindings.describe())
                        .trim_end()
                        .to_owned(),
                )
                .help("give every combination an `arch` axis value (amd64, arm64), or remove `gl-oci`"),
            );
            return;
        };
        let version = scope.get("version").unwrap_or_default();
        self.claim_tag(
            &gl_oci_tag(&version, cname, &arch),
            "a gl-oci tag",
            &Origin {
                span,
                bindings: bindings.clone(),
            },
        );
    }
}
