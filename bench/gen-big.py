#!/usr/bin/env python3
"""Writes a release of 8 cloud images whose artifacts add up to about SIZE_MB megabytes.

usage: bench/gen-big.py DIR SIZE_MB
Each image has a kernel, a command line, a rootfs tarball, a disk image and small files; the
bytes are random, so nothing deduplicates and nothing compresses.
"""
import os
import sys

CHUNK = 8 << 20


def write_random(path: str, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n


def main() -> int:
    directory, size_mb = sys.argv[1], int(sys.argv[2])
    per_image = (size_mb << 20) // 8
    os.makedirs(os.path.join(directory, "artifacts"), exist_ok=True)
    with open(os.path.join(directory, "release.kdl"), "w") as f:
        f.write('''release "1877.3" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{ version }}"
    cloud-images {
        matrix {
            platform "aws" "azure" "gcp" "openstack"
            features "gardener_prod"
            arch "amd64" "arm64"
        }
        image "{{ platform }}-{{ arch }}" {
            kernel "artifacts/{{ cname }}.vmlinuz"
            cmdline "artifacts/{{ cname }}.cmdline"
            rootfs "artifacts/{{ cname }}.tar"
            file "artifacts/{{ cname }}.raw"
            file "artifacts/{{ cname }}.release"
            attach "test-log" "artifacts/{{ cname }}.test.log"
        }
    }
}
''')
    for platform in ("aws", "azure", "gcp", "openstack"):
        for arch in ("amd64", "arm64"):
            base = os.path.join(directory, "artifacts", f"{platform}-{arch}")
            write_random(base + ".vmlinuz", per_image // 32)
            write_random(base + ".tar", per_image * 3 // 8)
            write_random(base + ".raw", per_image - per_image // 32 - per_image * 3 // 8 - (1 << 20))
            write_random(base + ".test.log", 1 << 20)
            with open(base + ".cmdline", "w") as f:
                f.write("console=ttyS0 root=LABEL=ROOT ro\n")
            with open(base + ".release", "w") as f:
                f.write(f"GARDENLINUX_CNAME={platform}-{arch}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
