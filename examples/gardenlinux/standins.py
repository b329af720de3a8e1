#!/usr/bin/env python3
"""Lays a small stand-in for every input file of a release, from the list glc gives of them:

    glc plan --inputs --json release.kdl | standins.py

glc is the one source of which files there are (release.kdl's `if=` rules over the flavors
flavors.yaml publishes), of their names (as the builder names them) and of what each must be
(`expects`). What this script knows itself is only how to make a small one of each kind:

- a disk image: a sparse file, so that stand-ins cost next to no disk;
- a tar: an empty tar; a directory: an empty one;
- a file glc reads a key of (`feature_set`, the build's `.release`): the line `KEY=…` with the
  features a build would expand the flavor's to. Only Garden Linux's builder knows the real
  expansion (each feature's includes); here it is `base,server`, the target, then the
  flavor's own features, so that the image's `feature_set` is visibly the build's;
- an OCI source: an OCI image layout of one linux image (empty layer), named by `ref=` if the
  release asks for one;
- any other file: one line of text.

Each is laid at `file`, the path as glc opens it from the working directory.
"""

import hashlib
import os
import random
import io
import json
import sys
import tarfile
from pathlib import Path

DISK = 1 << 20  # bytes of a sparse stand-in disk image
# STANDIN_TOTAL_BYTES=N: the disk images together hold about N bytes of data that does not
# compress or repeat (each its own bytes, seeded by its path), for benchmarks at a real size.
TOTAL = int(os.environ.get("STANDIN_TOTAL_BYTES", "0"))


def empty_tar():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT):
        pass
    return buffer.getvalue()


def expanded(matrix):
    """The stand-in of a build's expanded features: base, server, the target, the flavor's."""
    features = [f for f in matrix.get("features", "").split(",") if f]
    target = matrix.get("target") or matrix.get("platform")
    head = ["base", "server"] + ([target] if target else [])
    return ",".join(head + [f for f in features if f not in head])


def oci_layout(path, name, ref):
    """An OCI image layout holding one linux image with one empty layer."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def canonical(value):
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()

    layer_bytes = empty_tar()
    layer = blob(layer_bytes, "application/vnd.oci.image.layer.v1.tar")
    config = blob(
        canonical(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"stand-in": name}},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            }
        ),
        "application/vnd.oci.image.config.v1+json",
    )
    manifest = blob(
        canonical(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config,
                "layers": [layer],
            }
        ),
        "application/vnd.oci.image.manifest.v1+json",
    )
    if ref:
        manifest["annotations"] = {"org.opencontainers.image.ref.name": ref}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest]}
    (path / "index.json").write_bytes(canonical(index))
    (path / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))


def filled(path, size):
    """`size` bytes that neither compress nor repeat, seeded by `path`."""
    generator = random.Random(hashlib.sha256(str(path).encode()).digest())
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(1 << 20, size - written)
            f.write(generator.randbytes(n))
            written += n


def lay(entry, disk_size):
    path = Path(entry["file"])
    path.parent.mkdir(parents=True, exist_ok=True)
    expects = entry["expects"]
    if expects == "disk-image" and disk_size:
        filled(path, disk_size)
    elif expects == "disk-image":
        with open(path, "wb") as f:
            f.truncate(DISK)
    elif expects == "tar":
        path.write_bytes(empty_tar())
    elif expects == "directory":
        path.mkdir(exist_ok=True)
    elif expects == "oci-source":
        oci_layout(path, entry.get("container", ""), entry.get("ref"))
    elif entry.get("feature_set"):
        path.write_text(f"{entry['feature_set']}={expanded(entry.get('matrix', {}))}\n")
    else:
        path.write_text(f"stand-in {path.name}\n")


def main():
    listed = json.load(sys.stdin)
    disks = {e["file"] for e in listed["inputs"] if e["expects"] == "disk-image"}
    disk_size = TOTAL // len(disks) if TOTAL and disks else 0
    laid = set()
    for entry in listed["inputs"]:
        # A file of several images is laid once.
        if entry["file"] not in laid:
            laid.add(entry["file"])
            lay(entry, disk_size)


if __name__ == "__main__":
    main()
