#!/usr/bin/env bash
# The pull benchmark, on loopback only: a ~2 GB layout (bench/gen-big.py) pushed by glc into
# Debian's docker-registry (filesystem storage) on 127.0.0.1, then, in one run,
#   glc pull of the release tag (everything reachable, every tag) into a new layout (and its
#     peak RSS, /usr/bin/time -v),
#   skopeo copy --all of every tag skopeo can copy, one after the other, from the registry
#     into one new OCI layout,
#   glc pull again into the pulled layout (hyperfine, 10 runs: nothing to download),
# and prints the figures and the ratio against the target (>= 3x the skopeo sequence).
# usage: bench/pull.sh [SIZE_MB]   (default 2048; needs docker-registry, skopeo, hyperfine,
# GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
for tool in docker-registry skopeo hyperfine /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "bench/pull.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-pull-bench.XXXXXX")
. bench/registry.sh
trap 'stop_registry; rm -rf "$work"' EXIT

python3 bench/gen-big.py "$work/src" "$size_mb"
"$glc" build -q "$work/src/release.kdl" -o "$work/out"
mapfile -t tags < <(python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    tag = m.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if tag: print(tag)' "$work/out/index.json")
release=$(python3 -c '
import json, sys
print(next(m["annotations"]["org.opencontainers.image.ref.name"] for m in json.load(open(sys.argv[1]))["manifests"] if m.get("artifactType") == "application/io.gardenlinux.release"))' "$work/out/index.json")
start_registry pull
"$glc" push -q "$work/out" "127.0.0.1:$port/gardenlinux"
rm -rf "$work/src"
sync

# glc pull of the release tag into a new layout: time, peak RSS, bytes.
/usr/bin/time -v -o "$work/glc.time" "$glc" --message-format json pull "127.0.0.1:$port/gardenlinux:$release" -o "$work/pulled" 2>"$work/glc.json"
glc_s=$(python3 -c '
import sys
for l in open(sys.argv[1]):
    if "Elapsed (wall clock)" in l:
        t = l.rsplit(" ", 1)[1].split(":")
        print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(t))))' "$work/glc.time")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/glc.time")
same=$(diff -r -q "$work/out" "$work/pulled" >/dev/null && echo yes || echo NO)
sync

# The same tag pulled again into the pulled layout: nothing to download.
hyperfine --shell=none --warmup 1 --runs 10 --export-json "$work/repull.json" \
    -n "glc pull again" "$glc pull -q 127.0.0.1:$port/gardenlinux:$release -o $work/pulled" >/dev/null

# skopeo copy --all of every tag, one after the other, into one new OCI layout.
cat > "$work/skopeo.sh" <<'SH'
dest=$1 port=$2 ok=$3; shift 3
: > "$ok"
for tag in "$@"; do
    if skopeo copy -q --all --src-tls-verify=false "docker://127.0.0.1:$port/gardenlinux:$tag" "oci:$dest:$tag" >/dev/null 2>>"$ok.err"; then
        echo "$tag" >> "$ok"
    fi
done
SH
/usr/bin/time -f %e -o "$work/skopeo.time" bash "$work/skopeo.sh" "$work/skopeo-layout" "$port" "$work/skopeo.ok" "${tags[@]}"
stop_registry

python3 - "$work/glc.json" "$glc_s" "$rss_kb" "$work/repull.json" "$(cat "$work/skopeo.time")" "$work/skopeo.ok" "${#tags[@]}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$same" <<'PY'
import json, sys
summary = next(v for v in map(json.loads, open(sys.argv[1])) if v.get("type") == "summary")
glc_s, rss_mb = float(sys.argv[2]), int(sys.argv[3]) / 1024
repull = json.load(open(sys.argv[4]))["results"][0]
skopeo_s = float(sys.argv[5])
copied = [l.strip() for l in open(sys.argv[6]) if l.strip()]
total_tags, cores, load, same = int(sys.argv[7]), sys.argv[8], sys.argv[9], sys.argv[10]
mb = summary["bytes_downloaded"] / 1e6
def verdict(ok): return "met" if ok else "NOT met"
print(f"glc pull benchmark: {mb:.0f} MB in {summary['blobs_downloaded']} blobs, {summary['tags']} tags, {cores} cores, load average {load}")
print(f"  glc pull (release tag, whole tree)  {glc_s:8.2f} s   {mb / glc_s:7.1f} MB/s   {summary['requests']} requests   byte-identical to the built layout: {same}")
print(f"  skopeo copy --all, each tag         {skopeo_s:8.2f} s   {mb / skopeo_s:7.1f} MB/s   {len(copied)} of {total_tags} tags copied")
print(f"  glc pull again (nothing to fetch)   {repull['mean'] * 1000:8.1f} ms ± {repull['stddev'] * 1000:.1f} (mean of {len(repull['times'])})")
print(f"  peak RSS of glc pull                {rss_mb:8.1f} MB")
print(f"  vs the skopeo sequence:             {skopeo_s / glc_s:.2f}x faster   (target >= 3x: {verdict(skopeo_s / glc_s >= 3)})")
print(f"  peak RSS:                           {rss_mb:.1f} MB   (target < 64 MB: {verdict(rss_mb < 64)})")
PY
