#!/usr/bin/env bash
# Two glc binaries, one run: a build, a signed build, parts joined by a merge, and a push
# and pull through a local docker-registry of the top-level release, each made by both;
# every file of every layout and every registry answer compared byte for byte. For a change
# that must not change what glc writes (a refactoring): exits 1 on the first difference.
# usage: bench/same-bytes.sh OLD_GLC NEW_GLC   (needs docker-registry, openssl)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1") new=$(realpath "$2")
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-same.XXXXXX")
. bench/registry.sh
trap 'stop_registry; rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1741939200 COSIGN_PASSWORD=

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null

start_registry same

same() { # WHAT A B
    if ! diff -r "$2" "$3" >/dev/null; then
        echo "DIFFERENT: $1 ($2 vs $3)"; diff -r "$2" "$3" | head -5; exit 1
    fi
    echo "same: $1 ($(find "$2" -type f | wc -l) files)"
}

for who in old new; do
    glc=${!who}
    mkdir -p "$work/$who"
    "$glc" build -q release.kdl -o "$work/$who/build"
    "$glc" build -q release.kdl -o "$work/$who/signed" --sign-key "$work/key.pem"
    "$glc" build -q release.kdl -o "$work/$who/p1" --only 'aws-*' --only 'gcp-*'
    "$glc" build -q release.kdl -o "$work/$who/p2" --only '{azure,openstack,baremetal,kvm,ali}*' --only '{base,bare,*-build,debian-snapshot}'
    "$glc" merge -q -o "$work/$who/merged" "$work/$who/p2" "$work/$who/p1"
    "$glc" push -q "$work/$who/signed" "127.0.0.1:$port/$who" --plain-http
    "$glc" pull -q "127.0.0.1:$port/$who:1877.3" -o "$work/$who/pulled" --plain-http
done
for layout in build signed p1 p2 merged pulled; do
    same "$layout" "$work/old/$layout" "$work/new/$layout"
done
# The registry: every tag of both repositories names the same bytes.
python3 - "$port" <<'PY'
import json, sys, urllib.request
port = sys.argv[1]
accept = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
])
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(req) as r:
        return r.read()
tags = {}
for repo in ("old", "new"):
    names = json.loads(get(f"/v2/{repo}/tags/list?n=100000"))["tags"]
    tags[repo] = {t: get(f"/v2/{repo}/manifests/{t}") for t in names}
if tags["old"] != tags["new"]:
    print("DIFFERENT: the registry's tags", sorted(set(tags["old"]) ^ set(tags["new"])))
    sys.exit(1)
print(f"same: the registry ({len(tags['old'])} tags, every manifest byte for byte)")
PY
