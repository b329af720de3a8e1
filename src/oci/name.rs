//! The names of the distribution spec, checked once wherever a name enters glc (a layout's
//! `index.json`, a registry's answer, the command line) and again where one becomes part of a
//! URL: a tag or repository that is not one of these never reaches a request, so no name can
//! carry `/`, `..`, `?` or `%` into a path.
//!
//! - repository: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
//!   at most 255 characters;
//! - tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
//! - reference (of a manifest URL): a tag or a digest ([`super::Digest`]);
//! - a layout's `org.opencontainers.image.ref.name`: the image spec's `ref` grammar, which is
//!   wider than a tag (`/`, `:`, `@`, `+` between alphanumerics), never `..` or a leading `/`.

use super::{Digest, printable};

/// Longest repository name the distribution spec's reference implementation accepts.
pub const MAX_REPOSITORY: usize = 255;
/// Longest tag.
pub const MAX_TAG: usize = 128;

/// Whether `tag` is a tag of the distribution spec.
#[must_use]
pub fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `name` is a repository name of the distribution spec.
#[must_use]
pub fn is_repository(name: &str) -> bool {
    name.len() <= MAX_REPOSITORY && name.split('/').all(is_path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    separated(
        component,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
        |sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|b| *b == b'-'),
    )
}

/// Runs of `alnum` bytes separated by separators `separator` accepts, starting and ending with
/// an `alnum` run.
fn separated(text: &str, alnum: impl Fn(u8) -> bool, separator: impl Fn(&[u8]) -> bool) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        if !separator(&bytes[start..i]) {
            return false;
        }
    }
    true
}

/// Whether `name` is a `ref` of the image spec's `org.opencontainers.image.ref.name`:
/// components of alphanumerics joined by one of `-._:@+` (or `--`), separated by `/`.
#[must_use]
pub fn is_ref_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REPOSITORY + 1 + MAX_TAG
        && name.split('/').all(|component| {
            separated(
                component,
                |b| b.is_ascii_alphanumeric(),
                |sep| sep == b"--" || (sep.len() == 1 && b"-._:@+".contains(&sep[0])),
            )
        })
}

/// The manifest a cosign tag (`sha256-<hex>.sig`, `.att`, `.sbom`) is about; `None` for any
/// other tag, a suffix cosign does not write or a hex part that is no whole digest.
#[must_use]
pub fn cosign_subject(tag: &str) -> Option<Digest> {
    let (hex, suffix) = tag.strip_prefix("sha256-")?.split_once('.')?;
    if !matches!(suffix, "sig" | "att" | "sbom") {
        return None;
    }
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// The subject of a referrers fallback tag `sha256-<hex>`.
#[must_use]
pub fn fallback_subject(tag: &str) -> Option<Digest> {
    let hex = tag.strip_prefix("sha256-")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// Checks a tag, saying what a tag may be.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if is_tag(tag) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a tag: up to {MAX_TAG} letters, digits and `._-`, starting with a letter, digit or `_`",
            printable(tag)
        ))
    }
}

/// Checks a repository name, saying what one may be.
pub fn check_repository(name: &str) -> Result<(), String> {
    if is_repository(name) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a repository name: up to {MAX_REPOSITORY} lowercase letters, digits and single `._-` (or `__`, `--`) between them, components separated by `/`",
            printable(name)
        ))
    }
}

/// Checks what a manifest URL names: a tag or a digest.
pub fn check_reference(reference: &str) -> Result<(), String> {
    if is_tag(reference) || Digest::parse(reference).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{:?} is neither a tag nor a sha256 digest",
            printable(reference)
        ))
    }
}

/// Whether `host` is a registry host: a name or IPv4 address, or `[IPv6]`, with an optional
/// port.
#[must_use]
pub fn is_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("ipv6", Some(port)),
            None if after.is_empty() => ("ipv6", None),
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_the_distribution_specs() {
        for good in ["1877.3", "latest", "_x", "sha256-abc.sig", &"a".repeat(128)] {
            assert!(is_tag(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "sha256-00.sig/../../../victim/manifests/latest",
            "a?b",
            "a%2fb",
            "ä",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(!is_tag(bad), "{bad}");
        }
    }

    #[test]
    fn repositories_are_the_distribution_specs() {
        for good in ["gardenlinux", "gardenlinux/gardenlinux", "a.b_c__d---e/f0"] {
            assert!(is_repository(good), "{good}");
        }
        for bad in [
            "",
            "Gardenlinux",
            "a//b",
            "../victim",
            "a/..",
            "a..b",
            "a___b",
            "a.-b",
            "/a",
            "a/",
            "a:b",
            &"a".repeat(256),
        ] {
            assert!(!is_repository(bad), "{bad}");
        }
    }

    #[test]
    fn ref_names_follow_the_image_spec_and_never_hold_dot_dot() {
        for good in [
            "1877.3",
            "kvm-amd64-1877.3",
            "sha256-ab.sig",
            "a/b:c@d+e",
            "a--b",
        ] {
            assert!(is_ref_name(good), "{good}");
        }
        for bad in [
            "",
            "sha256-ab.sig/../../x",
            "/a",
            "a/",
            "a..b",
            "a b",
            "a\u{0}b",
            "a---b",
        ] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(check_reference("1877.3").is_ok());
        assert!(check_reference(&format!("sha256:{}", "0".repeat(64))).is_ok());
        assert!(check_reference("../x").is_err());
        assert!(check_reference("sha256:../../x").is_err());
    }

    #[test]
    fn cosign_and_fallback_tags_name_whole_digests_with_cosigns_suffixes_only() {
        let hex = "ab".repeat(32);
        let digest = Digest::parse(&format!("sha256:{hex}")).ok();
        for suffix in ["sig", "att", "sbom"] {
            assert_eq!(cosign_subject(&format!("sha256-{hex}.{suffix}")), digest);
        }
        assert_eq!(cosign_subject(&format!("sha256-{hex}.a1")), None);
        assert_eq!(cosign_subject("sha256-abc.sig"), None);
        assert_eq!(cosign_subject(&format!("sha256-{hex}")), None);
        assert_eq!(fallback_subject(&format!("sha256-{hex}")), digest);
        assert_eq!(fallback_subject(&format!("sha256-{hex}.sig")), None);
    }

    #[test]
    fn hosts_are_names_or_addresses_with_ports() {
        for good in [
            "ghcr.io",
            "127.0.0.1:5000",
            "[::1]:5000",
            "[::1]",
            "localhost",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in [
            "", "a/b", "host:", "host:x", "[::1", "a..b", "-a.io", "h@x", "h:1:2",
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
