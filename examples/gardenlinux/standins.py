#!/usr/bin/env python3
"""Lays small stand-ins for every file release.kdl names, named as Garden Linux's builder
names its outputs, for the flavors that flavors.yaml has published (`gl-flavors-parse
--publish`): whatever flavors.yaml lists, `glc build release.kdl` then finds every file.

    standins.py FLAVORS_YAML RELEASE_KDL OUT_DIR

The rules of which files a flavor has are release.kdl's `if=` conditions, said again here;
a disk image is a sparse file, so stand-ins cost next to no disk.
"""

import io
import re
import sys
import tarfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("standins.py needs PyYAML (Debian: python3-yaml; pip: pyyaml)")

DISK = 1 << 20  # bytes of a sparse stand-in disk image


def published(flavors_yaml):
    """(target, features, arch, flags) of each published cloud-image flavor."""
    data = yaml.safe_load(Path(flavors_yaml).read_text())
    for target in data["targets"]:
        if target.get("category") == "container":
            continue
        for flavor in target["flavors"]:
            if flavor.get("publish", False):
                yield target["name"], flavor.get("features", []), flavor.get("arch", "amd64"), flavor


def flavor_name(target, features, arch):
    joined = f"-{'-'.join(features)}" if features else ""
    return f"{target}-{joined}-{arch}".replace("--", "-").replace("-_", "_")


def suffixes(target, features, flags):
    """The files of one flavor, as release.kdl's `if=` conditions choose them."""
    files = ["tar", "raw", "release", "manifest", "requirements", "sbom"]
    if target in ("ali", "openstack", "lima"):
        files.append("qcow2")
    if target == "openstack":
        files.append("vmdk")
    if target == "azure":
        files.append("vhd")
    if target in ("gcp", "gdch"):
        files.append("gcpimage.tar.gz")
    if target == "vmware":
        files.append("ova")
    if "_pxe" in features or "_bfpxe" in features:
        files.append("pxe.tar.gz")
    if "_iso" in features:
        files.append("iso")
    if "_usi" in features:
        files += ["esp.tar", "uki"]
    if "_trustedboot" in features:
        files += [f"secureboot.{key}.{kind}" for key in ("pk", "kek", "db") for kind in ("crt", "auth")]
        if target == "aws":
            files.append("secureboot.aws-efivars")
    if flags.get("test", False):
        files.append("chroot.test.log")
    if flags.get("test-platform", False):
        files.append("platform.test.log")
    return files


def empty_tar():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT):
        pass
    return buffer.getvalue()


def expanded(target, features):
    """A stand-in for the features a build expands the flavor's to: Garden Linux's builder
    adds each feature's includes; here the base ones, the platform and the flavor's own."""
    return ",".join(["base", "server", target] + [f for f in features if f not in ("base", "server", target)])


def lay(path, suffix, cname, target, features):
    if suffix == "release":
        path.write_text(
            f'ID=gardenlinux\nNAME="Garden Linux"\nGARDENLINUX_CNAME={cname}\n'
            f"GARDENLINUX_FEATURES={expanded(target, features)}\n"
        )
    elif suffix in ("raw", "qcow2", "vmdk", "vhd", "iso", "ova"):
        with open(path, "wb") as f:
            f.truncate(DISK)
    elif suffix.endswith("tar"):
        path.write_bytes(empty_tar())
    else:
        path.write_text(f"stand-in {suffix} of {cname}\n")


def main():
    flavors_yaml, release_kdl, out = sys.argv[1:4]
    release = Path(release_kdl).read_text()
    version = re.search(r'^release "([^"]+)"', release, re.M).group(1)
    commit = re.search(r'^\s*commit "([0-9a-f]{40})"', release, re.M).group(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "CHANGELOG.md").write_text(f"# Garden Linux {version}\n\nStand-in changelog.\n")
    # The release's own files, beside the changelog: release notes and a release-level SBOM.
    (out / "release-notes.md").write_text(f"# Garden Linux {version}\n\nStand-in release notes.\n")
    (out / f"gardenlinux-{version}.sbom").write_text(
        '{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}\n'
    )
    for target, features, arch, flags in published(flavors_yaml):
        cname = f"{flavor_name(target, features, arch)}-{version}-{commit[:8]}"
        for suffix in suffixes(target, features, flags):
            lay(out / f"{cname}.{suffix}", suffix, cname, target, features)


if __name__ == "__main__":
    main()
