//! Messages that must not mislead: each names the real cause and the fix.

use crate::Test;
use crate::registry::Registry;

#[test]
fn a_destination_with_a_scheme_says_to_drop_it_and_names_plain_http() {
    let dir = Test::new();
    std::fs::create_dir(dir.path("out")).expect("mkdir");
    let refused = dir
        .test()
        .args([
            "--message-format",
            "json",
            "push",
            "out",
            "http://127.0.0.1:5000/gl",
        ])
        .status(2)
        .run()
        .json_error();
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("write the registry without a scheme (\"127.0.0.1:5000/gl\")")
            && message.contains("--plain-http"),
        "{refused}"
    );
}

#[test]
fn a_pull_into_a_directory_it_did_not_write_says_so_as_pull() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new().file("notglc/keep.txt", "mine");
    let refused = dir
        .test()
        .args(["--message-format", "json", "pull"])
        .arg(format!("{}/gl:1877.3", registry.host()))
        .args(["-o", "notglc"])
        .status(1)
        .run()
        .json_error();
    assert_eq!(refused["code"], "glc::pull::output", "{refused}");
    assert_eq!(
        std::fs::read_to_string(dir.path("notglc/keep.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn get_over_tls_from_a_plain_http_registry_says_so_and_not_credentials() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let dir = Test::new();
    let key = dir.path("ca.key");
    let certificate = dir.path("ca.pem");
    crate::signing::self_signed_p256(dir.dir(), "/CN=127.0.0.1", "1", &key, &certificate);
    let refused = dir
        .test()
        .args(["--message-format", "json", "get"])
        .arg(format!("{}/gl:1877.3", registry.host()))
        .args(["aws", "--role", "kernel", "-o", "kernel", "--ca-file"])
        .arg(&certificate)
        .status(1)
        .run()
        .json_error();
    let help = refused["help"].as_str().unwrap_or_default();
    assert!(help.contains("--plain-http"), "{refused}");
    assert!(!help.contains("credentials"), "{refused}");
}

#[test]
fn help_text_keeps_flags_whole_when_it_wraps() {
    let dir = Test::new();
    // A help that names `--plain-http` past the wrapping column.
    let output = dir
        .test()
        .args([
            "pull",
            "http://127.0.0.1:5000/a-repository-name-long-enough-to-wrap:1877.3",
        ])
        .args(["-o", "out"])
        .status(2)
        .run();
    let text = output.stderr();
    assert!(text.contains("--plain-http"), "{text}");
    for line in text.lines() {
        assert!(
            !line.trim_end().ends_with("--plain-"),
            "a flag is split over two lines:\n{text}"
        );
    }
}
