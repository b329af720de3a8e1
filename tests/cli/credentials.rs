//! Where glc finds credentials and whom it trusts, against Debian's docker-registry on
//! 127.0.0.1: docker's credential helpers (`credHelpers`, `credsStore`), podman's auth files
//! before docker's config, and TLS with `--ca-file` against a registry serving a certificate
//! openssl made for 127.0.0.1.

use std::path::{Path, PathBuf};

use crate::Test;
use crate::build::build_top_level;
use crate::pull::assert_same_tree;
use crate::registry::{Registry, tool};
use crate::signing::{openssl, p256_req, self_signed_p256};

const USER: &str = "glc-user";
const PASSWORD: &str = "helper-s3cret";

/// A `docker-credential-glctest` in `bin`: answers `get` with the test's credentials and
/// appends the host it was asked for to `bin/asked`.
fn credential_helper(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).expect("bin");
    let helper = bin.join("docker-credential-glctest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r host\nprintf '%s\\n' \"$host\" >> \"$(dirname \"$0\")/asked\"\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\\n' \"$host\"\n"
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A directory holding `config.json` (docker) or `auth.json` (podman) with `json`.
fn config_dir(parent: &Path, name: &str, file: &str, json: &serde_json::Value) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::write(dir.join(file), json.to_string()).expect("config");
    dir
}

fn basic(password: &str) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{USER}:{password}"),
    )
}

/// `glc push` of `layout` into `repository` with only the environment `env` says: no
/// credentials from the machine's own files.
fn push(layout: &Path, registry: &Registry, repository: &str, env: &[(&str, &Path)]) -> Test {
    let mut test = Test::new()
        .arg("push")
        .arg(layout)
        .arg(format!("{}/{repository}", registry.host()))
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("GLC_REGISTRY_USERNAME")
        .env_remove("GLC_REGISTRY_PASSWORD")
        .env("HOME", "/nonexistent");
    for (name, value) in env {
        test = test.env(name, value);
    }
    test
}

#[test]
fn credentials_come_from_credential_helpers_and_podman_auth_files_before_docker_config() {
    let dir = Test::new();
    let Some(registry) = Registry::with_htpasswd(dir.dir(), USER, PASSWORD) else {
        return;
    };
    let layout = build_top_level(&dir.path("out"));
    let bin = dir.path("bin");
    credential_helper(&bin);
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let path = PathBuf::from(path);
    let host = registry.host();

    // docker's `credHelpers.<host>`: the helper is asked for exactly this host.
    let helpers = config_dir(
        dir.dir(),
        "helpers",
        "config.json",
        &serde_json::json!({ "credHelpers": { &host: "glctest" } }),
    );
    push(
        &layout.root,
        &registry,
        "helper",
        &[("DOCKER_CONFIG", &helpers), ("PATH", &path)],
    )
    .stderr_contains("pushed 18 tags")
    .run();
    assert_eq!(
        std::fs::read_to_string(bin.join("asked")).expect("the helper was asked"),
        format!("{host}\n")
    );

    // docker's `credsStore`, for a host `auths` does not name.
    let store = config_dir(
        dir.dir(),
        "store",
        "config.json",
        &serde_json::json!({ "auths": { "other.example:5000": {} }, "credsStore": "glctest" }),
    );
    push(
        &layout.root,
        &registry,
        "store",
        &[("DOCKER_CONFIG", &store), ("PATH", &path)],
    )
    .stderr_contains("pushed 18 tags")
    .run();
    assert_eq!(
        std::fs::read_to_string(bin.join("asked")).expect("asked"),
        format!("{host}\n{host}\n")
    );

    // podman's files come before docker's: the right password in them, a wrong one in
    // docker's config. REGISTRY_AUTH_FILE first, then $XDG_RUNTIME_DIR/containers/auth.json.
    let wrong = config_dir(
        dir.dir(),
        "wrong",
        "config.json",
        &serde_json::json!({ "auths": { &host: { "auth": basic("wrong-pa55word") } } }),
    );
    let right = serde_json::json!({ "auths": { &host: { "auth": basic(PASSWORD) } } });
    let podman = config_dir(dir.dir(), "podman", "auth.json", &right);
    push(
        &layout.root,
        &registry,
        "auth-file",
        &[
            ("DOCKER_CONFIG", &wrong),
            ("REGISTRY_AUTH_FILE", &podman.join("auth.json")),
        ],
    )
    .stderr_contains("pushed 18 tags")
    .run();
    let runtime = dir.path("runtime");
    config_dir(&runtime, "containers", "auth.json", &right);
    push(
        &layout.root,
        &registry,
        "runtime",
        &[("DOCKER_CONFIG", &wrong), ("XDG_RUNTIME_DIR", &runtime)],
    )
    .stderr_contains("pushed 18 tags")
    .run();

    // And docker's config alone, with the wrong password: refused, and said where it came from.
    let refused = push(
        &layout.root,
        &registry,
        "refused",
        &[("DOCKER_CONFIG", &wrong)],
    )
    .status(1)
    .stderr_contains("glc::push::auth")
    .stderr_contains("config.json")
    .run();
    assert!(!refused.stderr().contains("wrong-pa55word"));
}

/// A CA and a certificate it signed for 127.0.0.1 (P-256, two days), made by openssl in
/// `dir`: (CA certificate, server certificate, server key).
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let file = |f: &str| dir.join(format!("{name}-{f}"));
    let (ca, ca_key) = (file("ca.pem"), file("ca.key"));
    let (server, server_key, csr) = (file("server.pem"), file("server.key"), file("server.csr"));
    let extensions = file("server.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    let path = |p: &PathBuf| p.to_str().expect("utf-8 path").to_owned();
    self_signed_p256(dir, &format!("/CN=glc test CA {name}"), "2", &ca_key, &ca);
    p256_req(dir, &[], "/CN=127.0.0.1", &server_key, &csr);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &path(&csr),
            "-CA",
            &path(&ca),
            "-CAkey",
            &path(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &path(&extensions),
            "-out",
            &path(&server),
        ],
    );
    (ca, server, server_key)
}

#[test]
fn tls_with_a_ca_file_pushes_and_pulls_and_another_ca_is_refused_at_once() {
    if !tool("openssl") {
        return;
    }
    let dir = Test::new();
    let (ca, certificate, key) = certificates(dir.dir(), "right");
    let (other_ca, _, _) = certificates(dir.dir(), "other");
    let Some(registry) = Registry::start(&format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        certificate.display(),
        key.display()
    )) else {
        return;
    };
    let layout = build_top_level(&dir.path("out"));
    let destination = format!("{}/gardenlinux", registry.host());

    // With --ca-file glc speaks TLS to 127.0.0.1 too, and trusts that CA.
    dir.test()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .arg("--ca-file")
        .arg(&ca)
        .stderr_contains("pushed 18 tags")
        .run();
    let pulled = dir.path("pulled");
    dir.test()
        .args(["pull", &format!("{destination}:1877.3"), "-o"])
        .arg(&pulled)
        .arg("--ca-file")
        .arg(&ca)
        .run();
    assert_same_tree(&layout.root, &pulled);

    // Without --ca-file glc speaks plain HTTP to this machine; the registry's answer says why
    // that fails.
    dir.test()
        .args(["--message-format", "json", "push"])
        .arg(&layout.root)
        .arg(&destination)
        .status(1)
        .stderr_contains("glc::push::tls")
        .stderr_contains("HTTP 400 (Client sent an HTTP request to an HTTPS server.)")
        .stderr_contains("the registry speaks HTTPS, and glc spoke plain HTTP")
        .run();

    // --ca-file to a registry that speaks plain HTTP: said so, not retried.
    let Some(plain) = Registry::start("") else {
        return;
    };
    dir.test()
        .args(["--message-format", "json", "push"])
        .arg(&layout.root)
        .arg(format!("{}/gardenlinux", plain.host()))
        .args(["--retries", "10", "--ca-file"])
        .arg(&ca)
        .bounded()
        .status(1)
        .stderr_contains("glc::push::tls")
        .stderr_contains("the server does not speak TLS there")
        .stderr_contains("--plain-http")
        .run();

    // A certificate another CA signed: refused, naming why, without the retries' backoff
    // (10 retries would outlast the bounded run).
    dir.test()
        .arg("push")
        .arg(&layout.root)
        .arg(&destination)
        .args(["--retries", "10", "--ca-file"])
        .arg(&other_ca)
        .bounded()
        .status(1)
        .stderr_contains("glc::push::tls")
        .stderr_contains("the TLS handshake with 127.0.0.1:")
        .stderr_contains("UnknownIssuer")
        .stderr_contains("--ca-file")
        .stderr_contains("nothing was pushed")
        .run();
}
