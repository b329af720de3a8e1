#!/usr/bin/env bash
# The build benchmark: on the same ~2 GB of generated artifacts, in one run, it times
#   glc cold build (copy), glc --link build, glc no-op rebuild,
#   glc merge of two parts (copy and --link), the parts built with --only beforehand,
#   a sha256sum + cp script producing the same blobs (synced, as glc syncs),
#   openssl dgst -sha256 over the same bytes (the hashing limit),
# measures glc's peak RSS with /usr/bin/time, and prints the ratios against the targets.
# usage: bench/build.sh [SIZE_MB]   (default 2048; needs hyperfine, openssl, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
for tool in hyperfine openssl /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "bench/build.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 bench/gen-big.py "$work/src" "$size_mb"
release=$work/src/release.kdl
mapfile -t files < <(find "$work/src/artifacts" -type f | sort)
bytes=$(cat "${files[@]}" | wc -c)
cores=$(nproc)

# The baseline: what a shell script does to make the same blobs.
cat > "$work/baseline.sh" <<'SH'
out=$1; shift
mkdir -p "$out/blobs/sha256"
for f in "$@"; do
    h=$(sha256sum "$f" | cut -d' ' -f1)
    cp "$f" "$out/blobs/sha256/$h"
done
sync -f "$out"
SH

clean="rm -rf $work/out $work/.out.glc-*"
hyperfine --shell=bash --warmup 1 --runs 5 --export-json "$work/build.json" \
    -n "glc build (copy)" --prepare "$clean" "$glc build -q --no-cache $release -o $work/out" \
    -n "glc build --link" --prepare "$clean" "$glc build -q --no-cache --link $release -o $work/out" \
    -n "sha256sum + cp" --prepare "rm -rf $work/base" "bash $work/baseline.sh $work/base ${files[*]}" \
    -n "openssl dgst -sha256" --prepare "true" "openssl dgst -sha256 ${files[*]} >/dev/null" >/dev/null

# The release in two parts, as two CI runners build it; then the merge alone is timed.
"$glc" build -q "$release" -o "$work/part-a" --only 'aws-*' --only 'azure-*'
"$glc" build -q "$release" -o "$work/part-b" --only 'gcp-*' --only 'openstack-*'
clean_merge="rm -rf $work/merged $work/.merged.glc-*"
hyperfine --shell=bash --warmup 1 --runs 5 --export-json "$work/merge.json" \
    -n "glc merge (copy)" --prepare "$clean_merge" "$glc merge -q --no-cache -o $work/merged $work/part-a $work/part-b" \
    -n "glc merge --link" --prepare "$clean_merge" "$glc merge -q --no-cache --link -o $work/merged $work/part-a $work/part-b" >/dev/null
"$glc" build -q --no-cache "$release" -o "$work/whole"
diff -r "$work/whole" "$work/merged" >/dev/null || { echo "bench/build.sh: the merge differs from the build" >&2; exit 1; }

"$glc" build -q "$release" -o "$work/noop"
hyperfine --shell=none --warmup 3 --runs 20 --export-json "$work/noop.json" \
    -n "glc no-op rebuild" "$glc build -q $release -o $work/noop" >/dev/null

rss_kb=$( { /usr/bin/time -f %M "$glc" build -q --no-cache "$release" -o "$work/rss" ; } 2>&1 | tail -1)

python3 - "$work/build.json" "$work/noop.json" "$work/merge.json" "$bytes" "$cores" "$rss_kb" <<'PY'
import json, sys
runs = {r["command"]: r for f in sys.argv[1:4] for r in json.load(open(f))["results"]}
mean = {k: v["mean"] for k, v in runs.items()}
gb = int(sys.argv[4]) / 1e9
cores = int(sys.argv[5])
rss_mb = int(sys.argv[6]) / 1024
print(f"glc build benchmark: {gb:.2f} GB in {len(runs)} commands, {cores} cores (mean of runs)")
for name, r in runs.items():
    print(f"  {name:<22} {r['mean']*1000:9.1f} ms ± {r['stddev']*1000:6.1f}   {gb / r['mean']:6.2f} GB/s")
cold = mean["glc build (copy)"]
link = mean["glc build --link"]
noop = mean["glc no-op rebuild"]
baseline = mean["sha256sum + cp"]
hashing = mean["openssl dgst -sha256"] / cores
def verdict(ok): return "met" if ok else "NOT met"
print(f"  cold build vs sha256sum+cp: {baseline / cold:.2f}x faster   (target >= 1.5x: {verdict(baseline / cold >= 1.5)})")
print(f"  --link vs openssl/cores:    {link / hashing:.2f}x           (target <= 1.3x: {verdict(link / hashing <= 1.3)})")
print(f"  no-op rebuild:              {noop*1000:.1f} ms         (target < 100 ms: {verdict(noop < 0.1)})")
print(f"  peak RSS of a cold build:   {rss_mb:.1f} MB          (target < 64 MB: {verdict(rss_mb < 64)})")
print(f"  merge of 2 parts vs cold build: {mean['glc merge (copy)'] / cold:.2f}x the time; with --link {mean['glc merge --link'] / cold:.2f}x (the merge's bytes equal the build's)")
PY
