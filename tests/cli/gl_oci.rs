//! `gl-oci #true`: what Garden Linux's library (python-gardenlinux-lib, `gardenlinux.oci`)
//! reads of a repository gl-oci published, glc writes too. The lookup rules below are the
//! library's, written here from its code (`Container.read_manifest`, `CName`,
//! `ImageManifest`), never from glc's; they run against the layout and against
//! docker-registry after `glc push`.

use std::io::Read;

use serde_json::Value;

use crate::Test;
use crate::gardenlinux::{COMMIT_SHORT, VERSION, example, garden_linux_publish, the_flavors};
use crate::registry::Registry;

/// `ARCHS` of the library's constants.
const ARCHS: [&str; 2] = ["amd64", "arm64"];

fn alnum(token: &str, extra: &[char]) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

/// `CName(cname).arch`: the cname matched against
/// `([a-zA-Z0-9]+([\_\-][a-zA-Z0-9]+)*?)(-([a-z0-9]+)(-([a-z0-9.]+)-([a-z0-9]+))*)?$`, the
/// flavor (group 1) as short as the rest allows; group 4 is the arch if it is one of `ARCHS`.
fn cname_arch(cname: &str) -> Option<&str> {
    let flavor_ok = |flavor: &str| {
        flavor
            .split(['-', '_'])
            .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    for (at, _) in cname.match_indices('-') {
        let (flavor, rest) = (&cname[..at], &cname[at + 1..]);
        if !flavor_ok(flavor) {
            continue;
        }
        let tokens: Vec<&str> = rest.split('-').collect();
        let pairs_ok = tokens.len() % 2 == 1
            && alnum(tokens[0], &[])
            && tokens[1..]
                .chunks(2)
                .all(|pair| alnum(pair[0], &['.']) && alnum(pair[1], &[]));
        if pairs_ok {
            return ARCHS.contains(&tokens[0]).then_some(tokens[0]);
        }
    }
    None
}

/// `Container.read_manifest(cname)` with no architecture given: the tag
/// `f"{version}-{cname}-{CName(cname).arch}"`.
fn read_manifest_tag(cname: &str) -> String {
    let arch = cname_arch(cname).unwrap_or("None");
    format!("{VERSION}-{cname}-{arch}")
}

/// What the library reads of the manifest it fetched: `ImageManifest.cname`, `.arch`,
/// `.version`, `.commit`, `.feature_set` (each a `RuntimeError` when missing), and
/// `layers_as_dict` (every layer titled), with gl-oci's layer architecture on each layer.
fn check_manifest(manifest: &Value, cname: &str, arch: &str) {
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["cname"], cname);
    assert_eq!(annotations["architecture"], arch);
    assert_eq!(annotations["version"], VERSION);
    // gl-oci's commit: `CName.commit_id`, or `GARDENLINUX_COMMIT_ID` of the .release: 8 characters.
    assert_eq!(annotations["commit"], COMMIT_SHORT);
    assert!(
        annotations["feature_set"]
            .as_str()
            .is_some_and(|f| f.starts_with("base,server,")),
        "{cname}: {annotations}"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert!(!layers.is_empty());
    for layer in layers {
        assert!(
            layer["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .is_some_and(|t| t.starts_with(cname)),
            "{cname}: {layer}"
        );
        assert_eq!(
            layer["annotations"]["io.gardenlinux.image.layer.architecture"], arch,
            "{cname}: {layer}"
        );
    }
}

/// The cnames Garden Linux's CI passes to `gl-oci push-manifest --cname`: `gl-features-parse
/// --cname {flavor} --arch {arch} --version {version} --commit {commit} cname`.
fn published_cnames() -> Vec<String> {
    garden_linux_publish(&the_flavors())
        .iter()
        .map(|flavor| format!("{flavor}-{VERSION}-{COMMIT_SHORT}"))
        .collect()
}

#[test]
fn the_librarys_cname_parse_finds_the_arch_in_a_whole_cname() {
    assert_eq!(
        cname_arch("aws-gardener_prod_tpm2_trustedboot-arm64-1877.3-75df9f40"),
        Some("arm64")
    );
    assert_eq!(cname_arch("metal_pxe-amd64-1877.3-75df9f40"), Some("amd64"));
    assert_eq!(cname_arch("kvm-sci-amd64-1877.3-75df9f40"), Some("amd64"));
    assert_eq!(cname_arch("aws-gardener_prod"), None);
}

#[test]
fn garden_linux_library_reads_every_published_flavor_by_its_tag_in_the_layout_and_registry() {
    let test = example(None);
    test.test()
        .args(["build", "-q", "gl/release.kdl", "-o", "out"])
        .run();
    let layout = crate::test::Layout::open(&test.path("out"));
    let cnames = published_cnames();
    assert_eq!(cnames.len(), 71);
    for cname in &cnames {
        let arch = cname_arch(cname).expect("an arch");
        let entry = layout.tag(&read_manifest_tag(cname));
        assert_eq!(entry["annotations"]["cname"], cname.as_str());
        // The same manifest as the cname's tag: one image, two names.
        assert_eq!(entry["digest"], layout.tag(cname)["digest"]);
        check_manifest(&layout.json(&entry), cname, arch);
    }

    let Some(registry) = Registry::start("") else {
        return;
    };
    test.test()
        .args(["push", "-q", "out"])
        .arg(format!("{}/gardenlinux", registry.host()))
        .run();
    for cname in &cnames {
        // `_get_manifest_without_response_parsing`: GET …/manifests/{tag}, OCI manifest only.
        let tag = read_manifest_tag(cname);
        let mut body = Vec::new();
        ureq2::get(&registry.url(&format!("/v2/gardenlinux/manifests/{tag}")))
            .set("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call()
            .unwrap_or_else(|e| panic!("GET manifests/{tag}: {e}"))
            .into_reader()
            .read_to_end(&mut body)
            .expect("read");
        let manifest: Value = serde_json::from_slice(&body).expect("a manifest");
        check_manifest(&manifest, cname, cname_arch(cname).expect("an arch"));
    }
}

/// The top-level release with `extra` written into its `cloud-images`.
fn top_level_with(extra: &str) -> Test {
    let test = Test::new().top_level();
    let path = test.path("release/release.kdl");
    let kdl = std::fs::read_to_string(&path).expect("release.kdl");
    let kdl = kdl.replacen(
        "cloud-images {",
        &format!("cloud-images {{\n        {extra}"),
        1,
    );
    std::fs::write(&path, kdl).expect("write");
    test
}

#[test]
fn without_gl_oci_or_with_it_off_the_layout_is_the_same() {
    let plain = Test::new().top_level();
    plain
        .test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let off = top_level_with("gl-oci #false");
    off.test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let index = |t: &Test| std::fs::read(t.path("out/index.json")).expect("index.json");
    assert_eq!(index(&plain), index(&off));
    let on = top_level_with("gl-oci #true");
    on.test()
        .args(["build", "-q", "release/release.kdl", "-o", "out"])
        .run();
    let layout = crate::test::Layout::open(&on.path("out"));
    let cname = "aws-gardener_prod-amd64-1877.3-75df9f40";
    let entry = layout.tag(&format!("1877.3-{cname}-amd64"));
    assert_eq!(entry["annotations"]["commit"], "75df9f40");
    assert_eq!(entry["digest"], layout.tag(cname)["digest"]);
    assert_ne!(index(&plain), index(&on));
}

#[test]
fn gl_oci_without_an_arch_is_an_error_that_names_the_image() {
    let test = Test::new()
        .release(
            r#"release "1.0" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    cloud-images {
        matrix {
            platform "aws"
        }
        image "{{ platform }}-{{ version }}" {
            file "a.raw"
        }
        gl-oci #true
    }
}
"#,
        )
        .file("a.raw", "x");
    let ran = test.test().args(["check", "release.kdl"]).status(1).run();
    let stderr = ran.stderr();
    assert!(stderr.contains("glc::expand::gl-oci-no-arch"), "{stderr}");
    assert!(
        stderr.contains("the image `aws-1.0` has no `arch` value, which `gl-oci` needs"),
        "{stderr}"
    );
}

#[test]
fn parts_with_gl_oci_carry_their_images_tags_and_merge_into_the_full_build() {
    let test = top_level_with("gl-oci #true");
    let dir = test.path("release");
    let glc = |args: &[&str]| Test::new().current_dir(&dir).args(args).run();
    glc(&["build", "-q", "release.kdl", "-o", "full"]);
    let part = |out: &str, patterns: &[&str]| {
        let mut args = vec!["build", "-q", "release.kdl", "-o", out];
        for pattern in patterns {
            args.extend(["--only", pattern]);
        }
        glc(&args);
    };
    part("p1", &["aws-*", "gcp-*", "bare"]);
    part(
        "p2",
        &[
            "{azure,openstack}-*",
            "baremetal*",
            "base",
            "*-build",
            "debian-snapshot",
        ],
    );
    // A part's images are consumable at once: by their library tag too.
    let p1 = crate::test::Layout::open(&dir.join("p1"));
    let cname = "gcp-gardener_prod-amd64-1877.3-75df9f40";
    assert_eq!(
        p1.tag(&format!("1877.3-{cname}-amd64"))["digest"],
        p1.tag(cname)["digest"]
    );
    glc(&["merge", "-o", "merged", "p2", "p1"]);
    assert_eq!(
        std::fs::read(dir.join("full/index.json")).expect("full"),
        std::fs::read(dir.join("merged/index.json")).expect("merged")
    );
}
