#!/usr/bin/env bash
# The push benchmark, on loopback only: a ~2 GB layout (bench/gen-big.py), each command
# against a fresh Debian docker-registry (filesystem storage) on 127.0.0.1. In one run it times
#   glc push of the whole layout (and its peak RSS, /usr/bin/time -v),
#   skopeo copy --all of every tag, one after the other (tags skopeo cannot copy are counted),
#   glc push again of the unchanged layout (hyperfine, 10 runs),
#   curl uploading each blob in one PUT, 4 at a time (what a plain HTTP client does),
# and the CPU time the registry spent on each; it prints the figures and the ratios against the targets and gl-oci's ~111 MB/s.
# The registry hashes and writes every byte it receives on the same cores, so its CPU time
# divided by the cores is a floor no client goes below; the figures show each tool against it.
# usage: bench/push.sh [SIZE_MB]   (default 2048; needs docker-registry, skopeo, curl,
# hyperfine, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
for tool in docker-registry skopeo curl hyperfine /usr/bin/time python3; do
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
glc_cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/glc.time")
glc_registry_cpu=$(registry_cpu)

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
/usr/bin/time -f '%e %U %S' -o "$work/skopeo.time" bash "$work/skopeo.sh" "$out" "$port" "$work/skopeo.ok" "${tags[@]}"
skopeo_registry_cpu=$(registry_cpu)

# curl, each blob of the layout in one monolithic upload (POST, then PUT streaming the file),
# 4 at a time, into an empty registry: blobs only, no manifest.
start_registry curl
cat > "$work/curl.sh" <<'SH'
port=$1; shift
for f in "$@"; do
    location=$(curl -sS -f -X POST -D - -o /dev/null "http://127.0.0.1:$port/v2/curl/blobs/uploads/" \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
    case $location in http*) ;; *) location=http://127.0.0.1:$port$location ;; esac
    case $location in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -sS -f -T "$f" -H 'Content-Type: application/octet-stream' -H 'Expect:' -o /dev/null \
        "$location${sep}digest=sha256:$(basename "$f")"
done
SH
/usr/bin/time -f '%e %U %S' -o "$work/curl.time" \
    bash -c 'find "$1/blobs/sha256" -type f -print0 | xargs -0 -P 4 -n 4 bash "$2" "$3"' _ "$out" "$work/curl.sh" "$port"
curl_registry_cpu=$(registry_cpu)
stop_registry

python3 - "$work/glc.json" "$glc_s" "$rss_kb" "$work/repush.json" "$(cat "$work/skopeo.time")" "$work/skopeo.ok" "${#tags[@]}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <(printf '%s\n' "${tags[@]}") \
    "$glc_cpu" "$glc_registry_cpu" "$skopeo_registry_cpu" "$(cat "$work/curl.time")" "$curl_registry_cpu" <<'PY'
import json, sys
summary = next(v for v in map(json.loads, open(sys.argv[1])) if v.get("type") == "summary")
glc_s, rss_mb = float(sys.argv[2]), int(sys.argv[3]) / 1024
repush = json.load(open(sys.argv[4]))["results"][0]
skopeo_s, skopeo_user, skopeo_sys = map(float, sys.argv[5].split())
glc_cpu, glc_registry_cpu, skopeo_registry_cpu = map(float, sys.argv[11:14])
curl_s, curl_user, curl_sys = map(float, sys.argv[14].split())
curl_registry_cpu = float(sys.argv[15])
ncores = int(sys.argv[8])
copied = [l.strip() for l in open(sys.argv[6]) if l.strip()]
total_tags, cores, load = int(sys.argv[7]), sys.argv[8], sys.argv[9]
mb = summary["bytes_uploaded"] / 1e6
def verdict(ok): return "met" if ok else "NOT met"
print(f"glc push benchmark: {mb:.0f} MB in {summary['blobs_uploaded']} blobs, {total_tags} tags, {cores} cores, load average {load}")
def line(name, seconds, cpu, registry, extra):
    print(f"  {name:<30}{seconds:8.2f} s   {mb / seconds:7.1f} MB/s   own CPU {cpu:5.2f} s, registry CPU {registry:5.2f} s (floor {registry / ncores:.2f} s)   {extra}")
line("glc push (whole layout)", glc_s, glc_cpu, glc_registry_cpu, f"{summary['requests']} requests")
line("skopeo copy --all, each tag", skopeo_s, skopeo_user + skopeo_sys, skopeo_registry_cpu, f"{len(copied)} of {total_tags} tags copied")
line("curl, a PUT a blob, 4 at once", curl_s, curl_user + curl_sys, curl_registry_cpu, "blobs only")
not_copied = [t for t in open(sys.argv[10]).read().split() if t not in copied]
if not_copied:
    print(f"  skopeo could not copy: {', '.join(not_copied)}")
print(f"  glc push again (unchanged)    {repush['mean'] * 1000:8.1f} ms ± {repush['stddev'] * 1000:.1f} (mean of {len(repush['times'])})")
print(f"  peak RSS of glc push          {rss_mb:8.1f} MB")
print(f"  vs the skopeo sequence:       {skopeo_s / glc_s:.2f}x faster   (target >= 3x: {verdict(skopeo_s / glc_s >= 3)})")
print(f"  vs the registry's floor:      {glc_s / (glc_registry_cpu / ncores):.2f}x the registry's CPU time / {ncores} cores; 3x skopeo would need {skopeo_s / 3:.2f} s")
print(f"  vs curl's monolithic uploads: {curl_s / glc_s:.2f}x faster")
print(f"  vs gl-oci's ~111 MB/s:        {mb / glc_s / 111:.2f}x")
print(f"  re-push:                      {repush['mean'] * 1000:.0f} ms   (target < 1 s: {verdict(repush['mean'] < 1)})")
print(f"  peak RSS:                     {rss_mb:.1f} MB   (target < 64 MB: {verdict(rss_mb < 64)})")
PY
