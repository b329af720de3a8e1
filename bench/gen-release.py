#!/usr/bin/env python3
"""Writes a release of N cloud images (N a multiple of 10) with tiny artifacts to DIR.

usage: bench/gen-release.py DIR N
"""
import os
import sys


def main() -> int:
    directory, count = sys.argv[1], int(sys.argv[2])
    platforms = count // 10
    os.makedirs(os.path.join(directory, "artifacts"), exist_ok=True)
    values = " ".join(f'"p{i:04}"' for i in range(platforms))
    with open(os.path.join(directory, "release.kdl"), "w") as f:
        f.write(f'''release "1877.3" {{
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    tag "{{{{ version }}}}"
    vars {{
        build "artifacts"
    }}
    cloud-images {{
        matrix {{
            platform {values} format="raw"
            features "a" "b" "c" "d" "e"
            arch "amd64" "arm64"
        }}
        vars {{
            flavor "{{{{ platform }}}}-{{{{ features }}}}"
        }}
        image "{{{{ flavor }}}}-{{{{ arch }}}}-{{{{ version }}}}-{{{{ commit_short }}}}" {{
            kernel "{{{{ build }}}}/{{{{ cname }}}}.vmlinuz"
            cmdline "{{{{ build }}}}/{{{{ cname }}}}.cmdline"
            rootfs "{{{{ build }}}}/{{{{ cname }}}}.tar"
            file "{{{{ build }}}}/{{{{ cname }}}}.{{{{ format }}}}"
            file "{{{{ build }}}}/{{{{ cname }}}}.release"
            file "{{{{ build }}}}/{{{{ cname }}}}.manifest"
            attach "test-log" "{{{{ build }}}}/{{{{ cname }}}}.test.log"
        }}
    }}
}}
''')
    for p in range(platforms):
        for features in "abcde":
            for arch in ("amd64", "arm64"):
                cname = f"p{p:04}-{features}-{arch}-1877.3-75df9f40"
                for ext in ("vmlinuz", "cmdline", "tar", "raw", "release", "manifest", "test.log"):
                    with open(os.path.join(directory, "artifacts", f"{cname}.{ext}"), "w") as f:
                        f.write(cname + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
