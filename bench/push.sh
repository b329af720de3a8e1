#!/usr/bin/env bash
# The push benchmark, on loopback only: a ~2 GB layout (bench/gen-big.py), each command
# against a fresh Debian docker-registry (filesystem storage) on 127.0.0.1. In one run it times
#   glc push of the whole layout (and its peak RSS, /usr/bin/time -v),
#   skopeo copy --all of every tag, one after the other (tags skopeo cannot copy are counted),
#   glc push again of the unchanged layout (hyperfine, 10 runs),
# and prints the figures and the ratios against the targets and gl-oci's ~111 MB/s.
# usage: bench/push.sh [SIZE_MB]   (default 2048; needs docker-registry, skopeo, hyperfine,
# GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
for tool in docker-registry skopeo hyperfine /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "bench/push.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-push-bench.XXXXXX")
trap 'stop_registry; rm -rf "$work"' EXIT

. bench/registry.sh

python3 bench/gen-big.py "$work/src" "$size_mb"
"$glc" build -q "$work/src/release.kdl" -o "$work/out"
out=$work/out
mapfile -t tags < <(python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    tag = m.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if tag: print(tag)' "$out/index.json")
sync

# glc push of the whole layout into an empty registry: time, peak RSS, bytes.
start_registry glc
/usr/bin/time -v -o "$work/glc.time" "$glc" --message-format json push "$out" "127.0.0.1:$port/gardenlinux" 2>"$work/glc.json"
glc_s=$(python3 -c '
import sys
for l in open(sys.argv[1]):
    if "Elapsed (wall clock)" in l:
        t = l.rsplit(" ", 1)[1].split(":")
        print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(t))))' "$work/glc.time")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/glc.time")

# The unchanged layout pushed again into the same registry.
hyperfine --shell=none --warmup 1 --runs 10 --export-json "$work/repush.json" \
    -n "glc push again" "$glc push -q $out 127.0.0.1:$port/gardenlinux" >/dev/null

# skopeo copy --all of every tag, one after the other, into an empty registry.
start_registry skopeo
cat > "$work/skopeo.sh" <<'SH'
out=$1 port=$2 ok=$3; shift 3
: > "$ok"
for tag in "$@"; do
    if skopeo copy -q --all --dest-tls-verify=false "oci:$out:$tag" "docker://127.0.0.1:$port/gardenlinux:$tag" >/dev/null 2>>"$ok.err"; then
        echo "$tag" >> "$ok"
    fi
done
SH
/usr/bin/time -f %e -o "$work/skopeo.time" bash "$work/skopeo.sh" "$out" "$port" "$work/skopeo.ok" "${tags[@]}"
stop_registry

python3 - "$work/glc.json" "$glc_s" "$rss_kb" "$work/repush.json" "$(cat "$work/skopeo.time")" "$work/skopeo.ok" "${#tags[@]}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <(printf '%s\n' "${tags[@]}") <<'PY'
import json, sys
summary = next(v for v in map(json.loads, open(sys.argv[1])) if v.get("type") == "summary")
glc_s, rss_mb = float(sys.argv[2]), int(sys.argv[3]) / 1024
repush = json.load(open(sys.argv[4]))["results"][0]
skopeo_s = float(sys.argv[5])
copied = [l.strip() for l in open(sys.argv[6]) if l.strip()]
total_tags, cores, load = int(sys.argv[7]), sys.argv[8], sys.argv[9]
mb = summary["bytes_uploaded"] / 1e6
def verdict(ok): return "met" if ok else "NOT met"
print(f"glc push benchmark: {mb:.0f} MB in {summary['blobs_uploaded']} blobs, {total_tags} tags, {cores} cores, load average {load}")
print(f"  glc push (whole layout)       {glc_s:8.2f} s   {mb / glc_s:7.1f} MB/s   {summary['requests']} requests")
print(f"  skopeo copy --all, each tag   {skopeo_s:8.2f} s   {mb / skopeo_s:7.1f} MB/s   {len(copied)} of {total_tags} tags copied")
not_copied = [t for t in open(sys.argv[10]).read().split() if t not in copied]
if not_copied:
    print(f"  skopeo could not copy: {', '.join(not_copied)}")
print(f"  glc push again (unchanged)    {repush['mean'] * 1000:8.1f} ms ± {repush['stddev'] * 1000:.1f} (mean of {len(repush['times'])})")
print(f"  peak RSS of glc push          {rss_mb:8.1f} MB")
print(f"  vs the skopeo sequence:       {skopeo_s / glc_s:.2f}x faster   (target >= 3x: {verdict(skopeo_s / glc_s >= 3)})")
print(f"  vs gl-oci's ~111 MB/s:        {mb / glc_s / 111:.2f}x")
print(f"  re-push:                      {repush['mean'] * 1000:.0f} ms   (target < 1 s: {verdict(repush['mean'] < 1)})")
print(f"  peak RSS:                     {rss_mb:.1f} MB   (target < 64 MB: {verdict(rss_mb < 64)})")
PY
