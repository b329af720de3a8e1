//! Several `image` templates, each with its `if`: Garden Linux's real release written with
//! one template for its unified system images and one for the rest is the same release as
//! with `if=` on their files.

use crate::gardenlinux::{everything_published, example};
use crate::test::snapshot;

/// The example's `image { … }`, and the release file around it.
fn split_image(release: &str) -> (&str, &str, &str) {
    let start = release
        .find("        image \"")
        .expect("the image template");
    let end = start
        + release[start..]
            .find("\n        }\n")
            .expect("the end of the image template")
        + "\n        }\n".len();
    (&release[..start], &release[start..end], &release[end..])
}

#[test]
fn the_example_with_a_template_for_unified_system_images_builds_the_same_release() {
    let test = example(Some(&everything_published()));
    let release = std::fs::read_to_string(test.path("gl/release.kdl")).expect("release.kdl");
    let (before, image, after) = split_image(&release);
    let usi_only = " if=\"'_usi' in features\"";
    assert_eq!(image.matches(usi_only).count(), 2, "{image}");
    let header_end = image.find(" {\n").expect("the image's block");
    let (header, body) = image.split_at(header_end);
    let usi = format!("{header}{usi_only}{}", body.replace(usi_only, ""));
    let rest = format!("{header} if=\"'_usi' not in features\"{body}");
    let rest: Vec<&str> = rest.lines().filter(|l| !l.contains(usi_only)).collect();
    let rest = rest.join("\n") + "\n";
    std::fs::write(
        test.path("gl/two.kdl"),
        format!("{before}{usi}{rest}{after}"),
    )
    .expect("write two.kdl");

    let plan = test.test().args(["plan", "gl/two.kdl"]).run().stdout();
    // A unified system image has its UKI and ESP, chosen by its template, not by a file's `if`.
    assert!(
        plan.contains("build/kvm-gardener_prod_usi-amd64-1877.3-75df9f40.uki\n"),
        "{plan}"
    );
    assert!(
        !plan.contains("kvm-gardener_prod-amd64-1877.3-75df9f40.uki"),
        "{plan}"
    );
    // The plan says which template's `if` chose each image.
    let line = |cname: &str| {
        plan.lines()
            .find(|l| l.starts_with(&format!("  {cname}-1877.3-75df9f40  for ")))
            .unwrap_or_else(|| panic!("no image {cname}: {plan}"))
    };
    assert!(
        line("kvm-gardener_prod_usi-amd64").ends_with("  if '_usi' in features"),
        "{plan}"
    );
    assert!(
        line("kvm-gardener_prod-amd64").ends_with("  if '_usi' not in features"),
        "{plan}"
    );
    test.test()
        .args(["build", "-q", "gl/release.kdl", "-o", "one"])
        .run();
    test.test()
        .args(["build", "-q", "gl/two.kdl", "-o", "two"])
        .run();
    let (one, two) = (snapshot(&test.path("one")), snapshot(&test.path("two")));
    assert!(one.len() > 100, "{} files", one.len());
    assert!(one == two, "the layouts differ");
}
