#!/usr/bin/env bash
# The registry side of a release built on many machines, on loopback only: Garden Linux's
# real release (examples/gardenlinux: 71 published flavors), its disk images stand-ins of
# TOTAL_MB together (random bytes, examples/gardenlinux/standins.py's STANDIN_TOTAL_BYTES),
# against one Debian docker-registry on 127.0.0.1. In one run it measures, with hyperfine:
#   the whole release pushed by one `glc push`, against its 8 parts (`glc build --only`)
#   pushed by 8 `glc push PART REGISTRY/REPO:NAME` at once (each run into a new repository);
#   `glc merge --push` of the 8 parts into another repository (blobs mounted), and the first
#   merge in the parts' own repository (the CI job's), with the bytes it read (its count);
#   `glc copy` of the merged release to another repository of the registry (every blob
#   mounted; its summary says whether any blob byte moved).
# It prints the load average before and after: the machine may be shared.
# usage: bench/parts.sh [TOTAL_MB]   (default 2048; needs docker-registry, hyperfine, make,
# python3 with PyYAML)
set -euo pipefail
cd "$(dirname "$0")/.."
total_mb=${1:-2048}
for tool in docker-registry hyperfine make python3; do
    command -v "$tool" >/dev/null || { echo "bench/parts.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-parts-bench.XXXXXX")
trap 'stop_registry; rm -rf "$work"' EXIT
. bench/registry.sh

echo "load before: $(uptime)"
gl=$work/gl
mkdir -p "$gl"
cp examples/gardenlinux/{release.kdl,standins.py,Makefile,flavors.yaml} "$gl"
STANDIN_TOTAL_BYTES=$((total_mb << 20)) make -s -C "$gl" standins GLC="$glc"
( cd "$gl" && "$glc" build -q --link release.kdl -o "$work/whole" )
parts=("ali* aws*" "azure*" "baremetal*" "gcp* gdch*" "kvm*" "lima* vmware*" "openstack*"
       "base bare *-build debian-snapshot")
for i in "${!parts[@]}"; do
    only=()
    for p in ${parts[$i]}; do only+=(--only "$p"); done
    ( cd "$gl" && "$glc" build -q --link release.kdl -o "$work/part$i" "${only[@]}" )
done
version=$(python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    t = m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    if m.get("artifactType") == "application/io.gardenlinux.release" and "." in t: print(t)' "$work/whole/index.json")
bytes=$(du -sb --apparent-size "$work/whole/blobs" | cut -f1)
sync

start_registry parts
host=127.0.0.1:$port
# Each run into a repository of its own: nothing of it is there yet.
cat > "$work/parts.sh" <<SH
r=$host/p\$(date +%s%N)
pids=()
for i in 0 1 2 3 4 5 6 7; do "$glc" push -q "$work/part\$i" "\$r:part-\$i" & pids+=(\$!); done
wait "\${pids[@]}"
SH
# (BENCH_SKIP_PUSH=1: the merge and copy figures only.)
[ -n "${BENCH_SKIP_PUSH:-}" ] || hyperfine --shell=bash --runs 3 --export-json "$work/push.json" \
    -n "glc push, whole release" "$glc push -q $work/whole $host/w\$(date +%s%N)" \
    -n "glc push, 8 parts at once" "bash $work/parts.sh" >/dev/null

# The parts of one run, for the merges and the copy.
# (Not `wait` alone: that would wait for the registry too.)
pids=()
for i in 0 1 2 3 4 5 6 7; do "$glc" push -q "$work/part$i" "$host/nightly:part-$i" & pids+=($!); done
wait "${pids[@]}"
refs=()
for i in 0 1 2 3 4 5 6 7; do refs+=("$host/nightly:part-$i"); done
# The CI job's merge: in the parts' own repository, once (a second one finds it all there).
/usr/bin/time -f '%e' -o "$work/merge.time" \
    "$glc" --message-format json merge --push "$host/nightly" "${refs[@]}" 2>"$work/merge.json" \
    || { cat "$work/merge.json"; exit 1; }
hyperfine --shell=bash --runs 5 --export-json "$work/merge.json.h" \
    -n "glc merge --push, into another repository" \
    "$glc merge -q --push $host/m\$(date +%s%N) ${refs[*]}" >/dev/null
"$glc" --message-format json copy "$host/nightly:$version" "$host/copy-check" 2>"$work/copy.json"
hyperfine --shell=bash --runs 5 --export-json "$work/copy.json.h" \
    -n "glc copy, within the registry" \
    "$glc copy -q $host/nightly:$version $host/c\$(date +%s%N)" >/dev/null
stop_registry
echo "load after: $(uptime)"

python3 - "$work" "$bytes" "$(cat "$work/merge.time")" <<'PY'
import json, sys
w, size, merge_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def summary(path):
    return next(v for v in map(json.loads, filter(str.strip, open(path))) if v.get("type") == "summary")
import os
push = {r["command"]: r for r in json.load(open(f"{w}/push.json"))["results"]} if os.path.exists(f"{w}/push.json") else {}
merge = json.load(open(f"{w}/merge.json.h"))["results"][0]
copy = json.load(open(f"{w}/copy.json.h"))["results"][0]
m, c = summary(f"{w}/merge.json"), summary(f"{w}/copy.json")
print(f"Garden Linux release, 71 flavors, {size / 1e6:.0f} MB of blobs, one docker-registry on 127.0.0.1")
def line(name, r):
    print(f"  {name:<44}{r['mean']:8.2f} s ± {r['stddev']:.2f}  (min {r['min']:.2f}, {len(r['times'])} runs)")
if push:
    whole, parts = push["glc push, whole release"], push["glc push, 8 parts at once"]
    line("glc push, whole release", whole)
    line("glc push, 8 parts at once", parts)
    print(f"  8 parts at once / whole: {parts['mean'] / whole['mean']:.2f}x")
print(f"  first merge in the parts' repository        {merge_s:8.2f} s   read {m['bytes_read']} bytes of records and documents; {m['manifests_pushed']} documents, {m['tags']} tags written")
line("glc merge --push, into another repository", merge)
line("glc copy, within the registry", copy)
print(f"  copy: {c['blobs_mounted']} blobs mounted, {c['blobs_streamed']} streamed, {c['blobs_copied']} copied, {c['bytes_uploaded']} bytes uploaded, {c['document_bytes']} bytes of documents read, {c['tags']} tags")
ok = lambda b: "met" if b else "NOT met"
print(f"  targets: merge < 2 s: {ok(merge_s < 2)}; merge reads < 1 MB: {ok(m['bytes_read'] < 1e6)}; copy < 2 s: {ok(copy['mean'] < 2)}; copy moves no blob byte: {ok(c['blobs_streamed'] + c['blobs_copied'] + c['bytes_uploaded'] == 0)}")
PY
