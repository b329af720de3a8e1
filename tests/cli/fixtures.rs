//! Data-driven tests: one release file a behaviour under tests/fixtures. An invalid file's
//! expected diagnostics sit beside it as `<name>.stderr`; a valid file's plan as
//! `<name>.plan.json`. Adding a case is adding a file.

use std::path::{Path, PathBuf};

use crate::{Test, assert_matches_file, repo, stderr};

fn cases(dir: &str) -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures").join(dir);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {}", dir.display());
    cases
}

/// Every expectation file belongs to a release file; a dangling one is a mistake.
fn assert_no_dangling(dir: &str, suffix: &str) {
    let dir = repo().join("tests/fixtures").join(dir);
    for entry in std::fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some(stem) = name.strip_suffix(suffix) {
            assert!(
                dir.join(format!("{stem}.kdl")).is_file(),
                "{} has no {stem}.kdl beside it",
                path.display()
            );
        }
    }
}

fn name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 fixture name")
}

#[test]
fn invalid_fixtures_fail_with_their_expected_diagnostics() {
    let mut failures = Vec::new();
    let cases = cases("invalid");
    for case in &cases {
        let dir = case.parent().expect("fixture dir");
        let output = Test::new()
            .current_dir(dir)
            .args(["check", name(case)])
            .command()
            .output()
            .expect("run glc");
        let actual = stderr(&output);
        let result = std::panic::catch_unwind(|| {
            assert_eq!(
                output.status.code(),
                Some(1),
                "{}: exit code; stderr:\n{actual}",
                name(case)
            );
            assert!(output.stdout.is_empty(), "{}: wrote to stdout", name(case));
            assert_matches_file(&actual, &case.with_extension("stderr"));
        });
        if let Err(panic) = result {
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            failures.push(message);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid fixtures failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert!(
        cases.len() >= 30,
        "the invalid fixtures cover every error kind; only {} found",
        cases.len()
    );
}

#[test]
fn invalid_fixtures_report_json_lines_with_locations() {
    for case in cases("invalid") {
        let dir = case.parent().expect("fixture dir");
        let output = Test::new()
            .current_dir(dir)
            .args(["--message-format", "json", "check", name(&case)])
            .status(1)
            .run();
        let text = output.stderr();
        assert!(!text.trim().is_empty(), "{}: no JSON", name(&case));
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", name(&case)));
            assert_eq!(value["severity"], "error", "{}: {line}", name(&case));
            assert!(
                value["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("glc::")),
                "{}: {line}",
                name(&case)
            );
            assert!(
                value["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}: {line}",
                name(&case)
            );
            // Errors about the file point into it, errors in its flavors file into that one;
            // only a file that cannot be read has no position.
            if value["code"] != "glc::io" {
                let file = if value["code"]
                    .as_str()
                    .is_some_and(|c| ["glc::flavors::syntax", "glc::flavors::invalid"].contains(&c))
                {
                    "files/malformed-flavors.yaml".to_owned()
                } else {
                    name(&case).to_owned()
                };
                assert_eq!(value["file"], file, "{}: {line}", name(&case));
                assert!(
                    value["line"].as_u64().is_some_and(|l| l >= 1),
                    "{}: {line}",
                    name(&case)
                );
                assert!(
                    value["column"].as_u64().is_some_and(|c| c >= 1),
                    "{}: {line}",
                    name(&case)
                );
            }
        }
    }
}

#[test]
fn valid_fixtures_pass_and_plan_as_expected() {
    for case in cases("valid") {
        let dir = case.parent().expect("fixture dir");
        Test::new()
            .current_dir(dir)
            .args(["check", name(&case)])
            .run();
        let plan = Test::new()
            .current_dir(dir)
            .args(["plan", "--json", name(&case)])
            .run();
        assert_matches_file(
            &plan.stdout(),
            &dir.join(format!(
                "{}.plan.json",
                case.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
            )),
        );
    }
}

#[test]
fn no_expectation_file_is_dangling() {
    assert_no_dangling("invalid", ".stderr");
    assert_no_dangling("valid", ".plan.json");
}
