//! Every diagnostic code glc reports, with what it means: the one list that
//! `docs/language.md` shows and that a test holds against every code written in `src/`.

/// `(code, what it means)`, grouped by stage in pipeline order.
pub const ALL: &[(&str, &str)] = &[
    ("glc::usage", "the command line is wrong (exit code 2)"),
    (
        "glc::usage::output-overlaps-input",
        "the output is, holds or lies inside something the command reads (exit code 2)",
    ),
    (
        "glc::env::source-date-epoch",
        "`SOURCE_DATE_EPOCH` is not a number of seconds",
    ),
    ("glc::io", "a file cannot be read or written"),
    (
        "glc::flavors::read",
        "the flavors file a release names cannot be read, or lies outside its directory",
    ),
    ("glc::flavors::syntax", "the flavors file is not valid YAML"),
    (
        "glc::flavors::none-selected",
        "`flavors` selects no flavor of the flavors file",
    ),
    (
        "glc::flavors::invalid",
        "the flavors file is not shaped as Garden Linux's flavors.yaml",
    ),
    ("glc::parse", "the file is not valid KDL 2.0"),
    (
        "glc::parse::too-deep",
        "blocks nest deeper than a release file needs",
    ),
    (
        "glc::parse::property-without-node",
        "`key=\"value\"` stands where a node should start; the node is `key \"value\"`",
    ),
    (
        "glc::schema::unknown-node",
        "a node the schema does not allow there",
    ),
    ("glc::schema::missing-node", "a required node is missing"),
    (
        "glc::schema::repeated-node",
        "a node that may appear once appears again",
    ),
    (
        "glc::schema::missing-argument",
        "a node lacks a required argument",
    ),
    (
        "glc::schema::too-many-arguments",
        "a node has more arguments than it takes",
    ),
    (
        "glc::schema::unknown-property",
        "a property the node does not take",
    ),
    (
        "glc::schema::missing-property",
        "a node lacks a required property",
    ),
    (
        "glc::schema::repeated-property",
        "a property is given twice",
    ),
    ("glc::schema::wrong-type", "a value of the wrong type"),
    (
        "glc::schema::type-annotation",
        "a type annotation, which release files do not use",
    ),
    (
        "glc::schema::unexpected-children",
        "a `{ … }` block on a node that takes none",
    ),
    (
        "glc::decode::images-source",
        "`cloud-images` needs one source of images: a `matrix` or `flavors`",
    ),
    (
        "glc::decode::invalid-glob",
        "an `include-only` or `exclude` pattern of `flavors` is not a glob",
    ),
    (
        "glc::decode::invalid-version",
        "the release version is not a version",
    ),
    (
        "glc::decode::invalid-commit",
        "the commit is not a full lower-case hex commit id",
    ),
    (
        "glc::decode::invalid-timestamp",
        "`created` is not an RFC 3339 timestamp",
    ),
    (
        "glc::decode::invalid-name",
        "a name cannot be used in templates: it is not an identifier",
    ),
    (
        "glc::decode::invalid-media-type",
        "a media type is not `type/subtype`",
    ),
    (
        "glc::decode::shadowed-name",
        "a variable or axis takes the name of a value already defined",
    ),
    ("glc::decode::duplicate-link", "a link is defined twice"),
    (
        "glc::decode::metadata-feature-set",
        "a `file` of `metadata` names a `feature-set`, which only an image's file may",
    ),
    ("glc::decode::empty-image", "an image has no files"),
    ("glc::template::syntax", "a template is not valid Jinja"),
    (
        "glc::template::undefined",
        "a template uses a name not defined there",
    ),
    ("glc::template::error", "a template fails while it renders"),
    ("glc::template::too-deep", "a template nests calls too deep"),
    (
        "glc::template::too-long",
        "a template renders more than 64 KiB",
    ),
    (
        "glc::template::too-much-work",
        "a template runs more than 20,000 instructions",
    ),
    ("glc::matrix::empty", "the matrix has no combination"),
    (
        "glc::matrix::too-large",
        "the matrix has more than 10,000 combinations",
    ),
    (
        "glc::matrix::duplicate-value",
        "an axis lists a value twice",
    ),
    (
        "glc::matrix::unknown-axis",
        "`exclude` or `include` names an axis that does not exist",
    ),
    (
        "glc::matrix::unknown-value",
        "`exclude` names a value its axis does not have",
    ),
    (
        "glc::matrix::exclude-matches-nothing",
        "an `exclude` removes no combination",
    ),
    (
        "glc::expand::no-axis",
        "a warning: images without an `arch` or `features` axis lack what Garden Linux's clients read",
    ),
    (
        "glc::expand::gl-oci-no-arch",
        "`gl-oci #true` with an image that has no `arch` value for its `<version>-<cname>-<arch>` tag",
    ),
    (
        "glc::expand::duplicate-metadata-title",
        "two files of the release's metadata have one file name, or one is `version` or `release-manifest.json`",
    ),
    (
        "glc::expand::duplicate-cname",
        "two combinations render the same cname",
    ),
    (
        "glc::expand::no-image-template",
        "no `image` template's `if` holds for a combination",
    ),
    (
        "glc::expand::image-chosen-twice",
        "two `image` templates' `if`s hold for one combination",
    ),
    (
        "glc::expand::duplicate-container",
        "two containers have the same name",
    ),
    (
        "glc::expand::duplicate-tag",
        "a tag is given twice, or names two things",
    ),
    (
        "glc::expand::invalid-tag",
        "a tag is not a valid registry tag",
    ),
    (
        "glc::expand::invalid-attachment-kind",
        "an attachment's kind cannot be used as its name",
    ),
    (
        "glc::expand::two-defaults",
        "more than one container is the default",
    ),
    (
        "glc::only::pattern",
        "an `--only` pattern is not a valid glob",
    ),
    (
        "glc::only::unmatched",
        "an `--only` pattern matches nothing of the release",
    ),
    (
        "glc::resolve::no-feature-set",
        "the file a `feature-set` reads has no such key, or cannot be read",
    ),
    (
        "glc::resolve::missing-file",
        "a file the release names does not exist",
    ),
    (
        "glc::resolve::missing-directory",
        "a directory that files of the release are in does not exist (one error for all of them)",
    ),
    (
        "glc::resolve::not-a-file",
        "a path names a directory where a file is needed, or something that is neither",
    ),
    ("glc::resolve::empty-path", "a path renders empty"),
    (
        "glc::resolve::outside",
        "a path leaves the release file's directory (see `--allow-outside`)",
    ),
    (
        "glc::resolve::duplicate-file",
        "two files of one image have the same name",
    ),
    (
        "glc::resolve::unknown-media-type",
        "a file name has no known suffix and no media type",
    ),
    (
        "glc::resolve::rootfs-type",
        "a `rootfs` of a media type that is no root file system's, which `glc get --role rootfs` will not find (a warning)",
    ),
    (
        "glc::resolve::not-oci",
        "a container source is not an OCI image layout or archive",
    ),
    (
        "glc::resolve::symlink-loop",
        "a path leads into a loop of symbolic links",
    ),
    (
        "glc::resolve::default-not-an-image",
        "the container marked default=#true holds no linux image for `podman pull`",
    ),
    (
        "glc::resolve::container-source",
        "a container source cannot be read or does not hold the image asked for",
    ),
    ("glc::build::output", "the output directory cannot be used"),
    (
        "glc::output::signatures-dropped",
        "a signed layout was written again without `--sign-key`, and its signatures dropped (a warning)",
    ),
    ("glc::build::io", "the layout cannot be written"),
    (
        "glc::build::input",
        "an input file cannot be read, or is not a regular file",
    ),
    (
        "glc::build::input-changed",
        "an input changed while glc read it; nothing was written",
    ),
    ("glc::build::created", "`created` is before 1970"),
    (
        "glc::build::pack",
        "a directory cannot be packed into a layer",
    ),
    ("glc::build::import", "a container cannot be imported"),
    (
        "glc::interrupted",
        "SIGINT (Ctrl-C) or SIGTERM stopped a build, merge, push or pull; what resumes is kept (exit code 130 or 143)",
    ),
    (
        "glc::lock::waiting",
        "another glc is writing the same output; this one waits (a notice)",
    ),
    ("glc::merge::parts", "`glc merge` was given no parts"),
    (
        "glc::merge::part",
        "a part is not a layout `glc build --only` wrote, nor a tag `glc push PART REGISTRY/REPO:NAME` gave",
    ),
    (
        "glc::merge::conflict",
        "the parts disagree: different releases, files or containers",
    ),
    (
        "glc::merge::incomplete",
        "the parts do not hold the whole release (see `--partial`)",
    ),
    ("glc::merge::copy", "a blob of a part cannot be copied"),
    (
        "glc::merge::io",
        "`glc merge --push`: its temporary layout of documents cannot be written",
    ),
    (
        "glc::merge::not-the-release",
        "`glc merge --release`: the parts do not give the layout the release file gives",
    ),
    (
        "glc::key",
        "a signing or verification key cannot be read, decrypted or used",
    ),
    (
        "glc::key::exposed",
        "a private key file that group or others may read (a warning)",
    ),
    (
        "glc::sign",
        "`glc sign` cannot sign the layout (not a release layout, a part, no repository)",
    ),
    ("glc::verify", "`glc verify` finds a layout invalid"),
    (
        "glc::inspect",
        "`glc inspect` cannot read the layout, a node of it, or find the tag",
    ),
    (
        "glc::fmt::unformatted",
        "`glc fmt --check`: the file is not formatted",
    ),
    (
        "glc::fmt::line-breaks",
        "the file breaks lines with characters `glc fmt` does not rewrite",
    ),
    (
        "glc::push::layout",
        "`glc push`: the layout cannot be read or is not whole; nothing was pushed",
    ),
    (
        "glc::push::tag",
        "`glc push --tag`: the layout has no such tag; or a part's tag for a layout that is no part, or one the part has",
    ),
    (
        "glc::push::part",
        "`glc push`: a part is pushed only under a tag of its own (`REGISTRY/REPO:NAME`)",
    ),
    (
        "glc::copy::source",
        "`glc copy`: the source tag is not there, cannot be read, or its graph is not whole; nothing was copied",
    ),
    (
        "glc::push::older",
        "`glc push`, `glc merge --push`, `glc copy`: a moving release tag would move to an older release (see `--allow-older`); nothing was pushed",
    ),
    (
        "glc::push::registry",
        "`glc push`: the registry cannot be reached or refused content, after every retry",
    ),
    (
        "glc::push::host",
        "`glc push`: the registry's host name cannot be looked up; nothing was pushed",
    ),
    (
        "glc::push::tls",
        "`glc push`: TLS failed (a certificate that does not verify, a server that speaks no TLS, or plain HTTP to an HTTPS registry); nothing was pushed",
    ),
    (
        "glc::push::auth",
        "`glc push`: the registry wants credentials, or refused the ones found",
    ),
    (
        "glc::pull::tag",
        "`glc pull`: the repository has no such tag; nothing was written",
    ),
    (
        "glc::pull::registry",
        "`glc pull`: the registry cannot be reached or refused a request, after every retry",
    ),
    (
        "glc::pull::host",
        "`glc pull`: the registry's host name cannot be looked up; nothing was written",
    ),
    (
        "glc::pull::tls",
        "`glc pull`: TLS failed (a certificate that does not verify, a server that speaks no TLS, or plain HTTP to an HTTPS registry); nothing was written",
    ),
    (
        "glc::pull::auth",
        "`glc pull`: the registry wants credentials, or refused the ones found",
    ),
    (
        "glc::pull::content",
        "`glc pull`: the registry holds a graph that is not whole, or bytes that are not their digest; no layout was written",
    ),
    (
        "glc::pull::write",
        "`glc pull`: the layout or the downloads beside it cannot be written",
    ),
    (
        "glc::pull::output",
        "`glc pull`: the target directory cannot be used (not a layout glc wrote, or not writable)",
    ),
    (
        "glc::get::source",
        "`glc get`: the layout cannot be read, or a document or blob on the way is not what its digest says; nothing was written",
    ),
    (
        "glc::get::release",
        "`glc get`: no release tag, or several releases and no `--tag` choosing one",
    ),
    (
        "glc::get::select",
        "`glc get`: the selector matches no cloud image or several, or names an unknown matrix key",
    ),
    (
        "glc::get::what",
        "`glc get`: no `--role`, `--file`, `--attachment` or `--metadata`, or one the image or the release does not have",
    ),
    (
        "glc::get::signature",
        "`glc get --key`: the image is unsigned, signed by another key, or its signature altered; nothing was written",
    ),
    (
        "glc::get::output",
        "`glc get -o`: the output is a directory",
    ),
    ("glc::internal", "a bug in glc; please report it"),
];

/// The Markdown table of [`ALL`], as `docs/language.md` holds it.
#[must_use]
pub fn markdown() -> String {
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in ALL {
        table.push_str(&format!("| `{code}` | {meaning} |\n"));
    }
    table
}
