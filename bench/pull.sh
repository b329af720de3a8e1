#!/usr/bin/env bash
# The pull benchmark, on loopback only: a ~2 GB layout (bench/gen-big.py) pushed by glc into
# Debian's docker-registry (filesystem storage) on 127.0.0.1, then, in one run (hyperfine, 3
# runs each, every target fresh),
#   glc pull of the release tag (everything reachable, every tag) into a new layout,
#   curl of every blob of the layout, 4 at a time, into files, then synced: the transfer
#     floor (no hashing, no documents, no tags),
#   skopeo copy --all of every tag skopeo can copy, one after the other, from the registry
#     into one new OCI layout, then synced (glc pull syncs its layout before it is in place),
#   glc pull again into the pulled layout (10 runs: nothing to download),
# with glc pull's peak RSS (/usr/bin/time -v), and prints the figures and the ratios against
# the target (>= 3x the skopeo sequence) and the floor.
# usage: bench/pull.sh [SIZE_MB]   (default 2048; needs docker-registry, skopeo, curl,
# hyperfine, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
for tool in docker-registry skopeo curl hyperfine /usr/bin/time python3; do
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

# glc pull of the release tag into a new layout: its summary and peak RSS, once.
/usr/bin/time -v -o "$work/glc.time" "$glc" --message-format json pull "127.0.0.1:$port/gardenlinux:$release" -o "$work/pulled" 2>"$work/glc.json"
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/glc.time")
same=$(diff -r -q "$work/out" "$work/pulled" >/dev/null && echo yes || echo NO)
sync

# The transfer floor: every blob of the layout fetched with curl, 4 at a time as glc does,
# into files, not hashed, then synced.
ls "$work/out/blobs/sha256" > "$work/blobs.txt"
cat > "$work/curl.sh" <<'SH'
dest=$1 port=$2 list=$3
rm -rf "$dest" && mkdir -p "$dest"
xargs -P 4 -I{} curl -s -o "$dest/{}" "http://127.0.0.1:$port/v2/gardenlinux/blobs/sha256:{}" < "$list"
sync -f "$dest"
SH

# skopeo copy --all of every tag, one after the other, into one new OCI layout.
cat > "$work/skopeo.sh" <<'SH'
dest=$1 port=$2 ok=$3; shift 3
rm -rf "$dest"
: > "$ok"
for tag in "$@"; do
    if skopeo copy -q --all --src-tls-verify=false "docker://127.0.0.1:$port/gardenlinux:$tag" "oci:$dest:$tag" >/dev/null 2>>"$ok.err"; then
        echo "$tag" >> "$ok"
    fi
done
# On disk, as glc pull's layout is before it is put in place.
sync -f "$dest"
SH
clean="rm -rf $work/again $work/.again.glc-*"
hyperfine --shell=bash --warmup 1 --runs 3 --export-json "$work/pull.json" \
    -n "glc pull" --prepare "$clean; sync" "$glc pull -q 127.0.0.1:$port/gardenlinux:$release -o $work/again" \
    -n "curl of every blob, 4 at a time" --prepare "sync" "bash $work/curl.sh $work/curl $port $work/blobs.txt" \
    -n "skopeo copy --all, each tag" --prepare "sync" "bash $work/skopeo.sh $work/skopeo-layout $port $work/skopeo.ok ${tags[*]}" >/dev/null

# The same tag pulled again into the pulled layout: nothing to download.
hyperfine --shell=none --warmup 1 --runs 10 --export-json "$work/repull.json" \
    -n "glc pull again" "$glc pull -q 127.0.0.1:$port/gardenlinux:$release -o $work/pulled" >/dev/null
stop_registry

python3 - "$work/glc.json" "$work/pull.json" "$rss_kb" "$work/repull.json" "$work/skopeo.ok" "${#tags[@]}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$same" <<'PY'
import json, sys
summary = next(v for v in map(json.loads, open(sys.argv[1])) if v.get("type") == "summary")
runs = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
rss_mb = int(sys.argv[3]) / 1024
repull = json.load(open(sys.argv[4]))["results"][0]
copied = [l.strip() for l in open(sys.argv[5]) if l.strip()]
total_tags, cores, load, same = int(sys.argv[6]), sys.argv[7], sys.argv[8], sys.argv[9]
mb = summary["bytes_downloaded"] / 1e6
glc, curl, skopeo = (runs[k] for k in ("glc pull", "curl of every blob, 4 at a time", "skopeo copy --all, each tag"))
def verdict(ok): return "met" if ok else "NOT met"
def line(name, r, extra=""):
    print(f"  {name:<36} {r['mean']:6.2f} s ± {r['stddev']:.2f}  {mb / r['mean']:7.1f} MB/s   {extra}")
print(f"glc pull benchmark: {mb:.0f} MB in {summary['blobs_downloaded']} blobs, {summary['tags']} tags, {cores} cores, load average {load} (mean of 3 runs)")
line("glc pull (release tag, whole tree)", glc, f"{summary['requests']} requests, byte-identical to the built layout: {same}")
line("curl of every blob, 4 at a time", curl, "no hashing, no documents: the transfer floor")
line("skopeo copy --all, each tag", skopeo, f"{len(copied)} of {total_tags} tags copied")
print(f"  glc pull again (nothing to fetch)    {repull['mean'] * 1000:6.1f} ms ± {repull['stddev'] * 1000:.1f} (mean of {len(repull['times'])})")
print(f"  peak RSS of glc pull                 {rss_mb:6.1f} MB")
print(f"  vs the skopeo sequence:              {skopeo['mean'] / glc['mean']:.2f}x faster   (target >= 3x: {verdict(skopeo['mean'] / glc['mean'] >= 3)})")
print(f"  vs the transfer floor:               {glc['mean'] / curl['mean']:.2f}x its time; the skopeo sequence takes {skopeo['mean'] / curl['mean']:.2f}x")
print(f"  peak RSS:                            {rss_mb:.1f} MB   (target < 64 MB: {verdict(rss_mb < 64)})")
PY
