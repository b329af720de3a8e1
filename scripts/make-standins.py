#!/usr/bin/env python3
"""Writes the small stand-in artifacts that the example releases point at.

Deterministic: the same bytes on every run and machine (no clock, seeded content), so the
files are committed and a rerun shows no diff. Shapes follow the real Garden Linux build
output: a .release file of GARDENLINUX_* lines, a kernel command line, tarballs that are real
tars, disk images with their formats' magic bytes, logs, and container images as real OCI
image layouts and OCI archives (multi-arch index and single manifest).

usage: scripts/make-standins.py            (rewrites artifacts/ and examples/*/artifacts/)
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

VERSION = "1877.3"
COMMIT = "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
EPOCH = 1741939200  # 2025-03-14T08:00:00Z, the reference release's `created`
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def noise(seed: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tar_bytes(files: dict, gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = EPOCH
            info.mode = 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


MAGIC = {
    "raw": b"\x00" * 446 + b"\x55\xaa",  # looks like an MBR
    "vhd": b"conectix",
    "qcow2": b"QFI\xfb\x00\x00\x00\x03",
    "vmdk": b"KDMV",
    "iso": b"\x00" * 32769 + b"CD001",
}


def disk_image(cname: str, fmt: str, size: int) -> bytes:
    if fmt.endswith("tar.gz"):
        return tar_bytes({"disk.raw": noise(cname + fmt, size)}, gz=True)
    head = MAGIC.get(fmt, b"")
    return head + noise(cname + fmt, size)


def cloud_image(directory: str, cname: str, platform: str, features: str, arch: str, fmt: str, size: int) -> None:
    base = os.path.join(directory, cname)
    kernel = b"MZ" + noise(cname + "kernel", size)  # an EFI stub kernel starts with MZ
    write(base + ".vmlinuz", kernel)
    write(base + ".cmdline", f"console=ttyS0 root=LABEL=ROOT ro gardenlinux.platform={platform}\n".encode())
    os_release = (
        f'ID=gardenlinux\nNAME="Garden Linux"\nVERSION_ID={VERSION}\n'
        f"GARDENLINUX_CNAME={cname}\nGARDENLINUX_FEATURES={features}\n"
    ).encode()
    write(base + ".tar", tar_bytes({"etc/os-release": os_release, "usr/bin/true": noise(cname + "true", size // 2)}))
    write(base + "." + fmt, disk_image(cname, fmt, size))
    write(
        base + ".release",
        (
            f"GARDENLINUX_CNAME={cname}\nGARDENLINUX_PLATFORM={platform}\nGARDENLINUX_FEATURES={features}\n"
            f"GARDENLINUX_VERSION={VERSION}\nGARDENLINUX_COMMIT_ID={COMMIT[:8]}\n"
            f"GARDENLINUX_COMMIT_ID_LONG={COMMIT}\nGARDENLINUX_ARCH={arch}\n"
        ).encode(),
    )
    packages = ["base-files 1877.3", "bash 5.2.37-1", "libc6 2.40-7", "systemd 257.4-3", "openssh-server 1:9.9p1-3"]
    write(base + ".manifest", ("\n".join(packages) + "\n").encode())
    write(base + ".test.log", f"platform tests for {cname}\n112 passed, 0 failed\n".encode())
    write(base + ".audit.log", f"audit of {cname}\nno findings\n".encode())


# --- OCI images -----------------------------------------------------------------------------

def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    def __init__(self):
        self.blobs = {}

    def blob(self, data: bytes, media_type: str, **extra) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def image(self, name: str, arch: str) -> dict:
        layer = tar_bytes({"etc/os-release": f"ID=gardenlinux\nVERSION_ID={VERSION}\n".encode(),
                           f"usr/share/{name}/README": f"{name} for {arch}\n".encode()}, gz=True)
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config = {
            "architecture": arch,
            "os": "linux",
            "created": "2025-03-14T08:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Labels": {"org.opencontainers.image.title": name}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": self.blob(canonical(config), "application/vnd.oci.image.config.v1+json"),
            "layers": [self.blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
            "annotations": {"org.opencontainers.image.version": VERSION},
        }
        return self.blob(canonical(manifest), "application/vnd.oci.image.manifest.v1+json",
                         platform={"architecture": arch, "os": "linux"})

    def files(self, top: dict) -> dict:
        top = dict(top)
        top.pop("platform", None)
        top["annotations"] = {"org.opencontainers.image.ref.name": VERSION}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]}
        files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": canonical(index)}
        for digest, data in self.blobs.items():
            files["blobs/sha256/" + digest.split(":")[1]] = data
        return files


def container(path: str, name: str, multi_arch: bool, archive: bool) -> None:
    layout = Layout()
    if multi_arch:
        manifests = [layout.image(name, arch) for arch in ("amd64", "arm64")]
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        top = layout.blob(canonical(index), "application/vnd.oci.image.index.v1+json")
    else:
        top = layout.image(name, "amd64")
    files = layout.files(top)
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    if archive:
        write(path, tar_bytes(files))
    else:
        for rel, data in files.items():
            write(os.path.join(path, rel), data)


# --- the releases ---------------------------------------------------------------------------

def flavor(platform: str, features: str) -> str:
    return platform + (features if features.startswith("_") else "-" + features)


def reference(directory: str) -> None:
    """Artifacts of the reference release (release.kdl at the top of the repository)."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    combos = [(p, "gardener_prod", a, f) for p, f in
              [("aws", "raw"), ("azure", "vhd"), ("gcp", "gcpimage.tar.gz"), ("openstack", "qcow2")]
              for a in ("amd64", "arm64") if not (p == "gcp" and a == "arm64")]
    combos.append(("baremetal", "_pxe", "amd64", "pxe.tar.gz"))
    for platform, features, arch, fmt in combos:
        cname = f"{flavor(platform, features)}-{arch}-{VERSION}-{COMMIT[:8]}"
        cloud_image(directory, cname, platform, features, arch, fmt, 4096)
    write(os.path.join(directory, "CHANGELOG.md"),
          f"# Garden Linux {VERSION}\n\n- kernel 6.12.18\n- OpenSSL 3.4.1\n- containerd 2.0.3\n".encode())
    c = os.path.join(directory, "containers")
    container(os.path.join(c, "base.oci"), "base", multi_arch=True, archive=True)
    for item, multi in [("libc", True), ("python", False), ("nodejs", False), ("sapmachine", False)]:
        container(os.path.join(c, f"bare-{item}"), f"bare-{item}", multi_arch=multi, archive=False)
    container(os.path.join(c, "driver-build.oci"), "driver-build", multi_arch=False, archive=True)
    container(os.path.join(c, "package-build"), "package-build", multi_arch=True, archive=False)
    container(os.path.join(c, "debian-snapshot.oci"), "debian-snapshot", multi_arch=False, archive=True)


def minimal(directory: str) -> None:
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    cname = f"kvm-gardener_prod-amd64-{VERSION}-{COMMIT[:8]}"
    cloud_image(directory, cname, "kvm", "gardener_prod", "amd64", "raw", 1024)


def big(directory: str) -> None:
    """More platforms, feature sets and both architectures: 44 images."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    platforms = [("ali", "qcow2"), ("aws", "raw"), ("azure", "vhd"), ("gcp", "gcpimage.tar.gz"),
                 ("kvm", "raw"), ("metal", "raw"), ("openstack", "qcow2"), ("openstackbaremetal", "qcow2"),
                 ("vmware", "ova"), ("firecracker", "raw"), ("lima", "qcow2")]
    for platform, fmt in platforms:
        for features in ("gardener_prod", "capi"):
            for arch in ("amd64", "arm64"):
                cname = f"{flavor(platform, features)}-{arch}-{VERSION}-{COMMIT[:8]}"
                cloud_image(directory, cname, platform, features, arch, fmt, 256)
    write(os.path.join(directory, "CHANGELOG.md"), b"# changes\n")
    c = os.path.join(directory, "containers")
    container(os.path.join(c, "base.oci"), "base", multi_arch=True, archive=True)
    for item in ("libc", "python", "nodejs", "sapmachine"):
        container(os.path.join(c, f"bare-{item}"), f"bare-{item}", multi_arch=True, archive=False)


def main() -> int:
    reference(os.path.join(ROOT, "artifacts"))
    minimal(os.path.join(ROOT, "examples", "minimal", "artifacts"))
    big(os.path.join(ROOT, "examples", "big", "artifacts"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
