//! `--message-format json`: every line on stderr of every command is a JSON object, and
//! every success ends with a `"type":"summary"` record naming the command.

use serde_json::Value;

use crate::Test;
use crate::signing::make_key;

/// Runs `glc --message-format=json ARGS` in `dir`, which must succeed; its stderr lines, each
/// parsed, the last a summary of `command`.
fn json_run(dir: &Test, command: &str, args: &[&str]) -> Vec<Value> {
    let ran = dir.test().arg("--message-format=json").args(args).run();
    let lines: Vec<Value> = ran
        .stderr()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{args:?}: a line that is not JSON ({e}): {line}"))
        })
        .collect();
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("{args:?}: nothing on stderr"));
    assert_eq!(last["type"], "summary", "{args:?}: {last}");
    assert_eq!(last["command"], command, "{args:?}: {last}");
    assert!(last["duration_ms"].is_u64(), "{args:?}: {last}");
    lines
}

#[test]
fn every_command_speaks_json_lines_and_ends_with_a_summary() {
    let dir = Test::new().top_level();
    let key = make_key(dir.dir(), "ec", "p256-sec1");
    // A key others may read earns a warning: a JSON line too.
    std::fs::set_permissions(
        &key.private,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let release = "release/release.kdl";
    json_run(&dir, "check", &["check", release]);
    let plan = json_run(&dir, "plan", &["plan", release, "--json"]);
    assert_eq!(plan.last().expect("summary")["images"], 8);
    json_run(&dir, "build", &["build", release, "-o", "out"]);
    json_run(
        &dir,
        "build",
        &["build", release, "-o", "part", "--only", "aws-*"],
    );
    json_run(
        &dir,
        "merge",
        &["merge", "part", "-o", "merged", "--partial"],
    );
    let private = key.private.to_str().expect("UTF-8");
    let signed = json_run(&dir, "sign", &["sign", "out", "--key", private]);
    assert_eq!(signed[0]["code"], "glc::key::exposed", "{signed:?}");
    assert_eq!(signed[0]["severity"], "warning");
    assert_eq!(signed.last().expect("summary")["signed"], 23);
    json_run(&dir, "verify", &["verify", "out"]);
    json_run(&dir, "verify", &["verify", "out", "--json"]);
    let inspected = json_run(&dir, "inspect", &["inspect", "out"]);
    assert_eq!(inspected.last().expect("summary")["problems"], Value::Null);
    let listed = json_run(&dir, "get", &["get", "out", "aws", "--list"]);
    assert_eq!(listed.last().expect("summary")["images"], 2);
    let cname = "aws-gardener_prod-amd64-1877.3-75df9f40";
    json_run(
        &dir,
        "get",
        &["get", "out", cname, "--role", "kernel", "-o", "k"],
    );
    json_run(&dir, "fmt", &["fmt", release]);
    json_run(&dir, "fmt", &["fmt", "--check", release]);
    json_run(&dir, "schema", &["schema"]);
    json_run(&dir, "schema", &["schema", "--markdown"]);
    json_run(&dir, "completions", &["completions", "bash"]);
    json_run(&dir, "man", &["man"]);
}

#[test]
fn a_usage_error_names_what_is_missing_in_its_message() {
    for (args, wanted) in [
        (&["sign", "out"][..], "--key <FILE>"),
        (&["build", "release.kdl"][..], "--output <DIR>"),
        (
            &["get", "out", "x", "--role", "nope", "-o", "k"][..],
            "possible values: kernel, initrd, cmdline, rootfs",
        ),
    ] {
        let ran = Test::new()
            .arg("--message-format=json")
            .args(args)
            .status(2)
            .run();
        let errors = ran.json_errors();
        assert_eq!(errors.len(), 1, "{args:?}: {errors:?}");
        let message = errors[0]["message"].as_str().expect("message");
        assert!(message.contains(wanted), "{args:?}: {message}");
        assert_eq!(errors[0]["code"], "glc::usage");
    }
}
