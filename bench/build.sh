#!/usr/bin/env bash
# The build benchmark: on the same ~2 GB of generated artifacts, in one run, it times
#   glc cold build (copy), glc --link build, glc no-op rebuild,
#   glc merge of two parts (copy and --link), the parts built with --only beforehand,
#   a sha256sum + cp script producing the same blobs (synced, as glc syncs),
#   cp -r of the artifacts and sync (the copying limit),
#   openssl dgst -sha256 over the same bytes, one process a core (the hashing limit),
#   a 1 GiB sparse disk image with 8 KB of data: glc build against openssl dgst of it,
#   and the blocks its blob takes (du),
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
    -n "cp -r + sync" --prepare "rm -rf $work/cp" "cp -r $work/src/artifacts $work/cp && sync -f $work" \
    -n "openssl dgst -sha256" --prepare "true" "openssl dgst -sha256 ${files[*]} >/dev/null" \
    -n "openssl dgst -sha256 on all cores" --prepare "true" \
        "printf '%s\\n' ${files[*]} | xargs -P $cores -n $(( (${#files[@]} + cores - 1) / cores )) openssl dgst -sha256 >/dev/null" >/dev/null

# A sparse disk image: 1 GiB, 8 KB of data at its start and middle.
mkdir -p "$work/sparse"
python3 - "$work/sparse" <<'PY'
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "disk.raw"), "wb") as f:
    f.truncate(1 << 30)
    f.write(os.urandom(4096))
    f.seek(1 << 29)
    f.write(os.urandom(4096))
with open(os.path.join(d, "rootfs.tar"), "wb") as f:
    f.write(b"rootfs")
with open(os.path.join(d, "release.kdl"), "w") as f:
    f.write("""release "1" {
    commit "75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    created "2025-03-14T08:00:00Z"
    cloud-images {
        matrix {
            arch "amd64"
        }
        image "kvm-{{ arch }}" {
            rootfs "rootfs.tar"
            file "disk.raw"
        }
    }
}
""")
PY
clean_sparse="rm -rf $work/sparse-out $work/.sparse-out.glc-*"
hyperfine --shell=bash --warmup 1 --runs 5 --export-json "$work/sparse.json" \
    -n "glc build of a sparse 1 GiB image" --prepare "$clean_sparse" "$glc build -q --no-cache $work/sparse/release.kdl -o $work/sparse-out" \
    -n "openssl dgst -sha256 of it" --prepare "true" "openssl dgst -sha256 $work/sparse/disk.raw >/dev/null" >/dev/null
sparse_kb=$(du -k "$work/sparse-out/blobs/sha256/$(sha256sum "$work/sparse/disk.raw" | cut -d' ' -f1)" | cut -f1)

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

python3 - "$work/build.json" "$work/noop.json" "$work/merge.json" "$work/sparse.json" "$bytes" "$cores" "$rss_kb" "$sparse_kb" <<'PY'
import json, sys
runs = {r["command"]: r for f in sys.argv[1:5] for r in json.load(open(f))["results"]}
mean = {k: v["mean"] for k, v in runs.items()}
gb = int(sys.argv[5]) / 1e9
cores = int(sys.argv[6])
rss_mb = int(sys.argv[7]) / 1024
sparse_kb = int(sys.argv[8])
print(f"glc build benchmark: {gb:.2f} GB in {len(runs)} commands, {cores} cores (mean of runs)")
for name, r in runs.items():
    rate = "" if "sparse" in name or "of it" in name else f"   {gb / r['mean']:6.2f} GB/s"
    print(f"  {name:<34} {r['mean']*1000:9.1f} ms ± {r['stddev']*1000:6.1f}{rate}")
cold = mean["glc build (copy)"]
link = mean["glc build --link"]
noop = mean["glc no-op rebuild"]
baseline = mean["sha256sum + cp"]
hashing = mean["openssl dgst -sha256"] / cores
floor = max(mean["cp -r + sync"], mean["openssl dgst -sha256 on all cores"])
sparse = mean["glc build of a sparse 1 GiB image"] / mean["openssl dgst -sha256 of it"]
def verdict(ok): return "met" if ok else "NOT met"
print(f"  cold build vs sha256sum+cp: {baseline / cold:.2f}x faster   (target >= 1.5x: {verdict(baseline / cold >= 1.5)})")
print(f"  cold build vs cp -r + sync: {cold / mean['cp -r + sync']:.2f}x the time; vs max(cp -r + sync, openssl on all cores): {cold / floor:.2f}x (target <= 1.15x: {verdict(cold / floor <= 1.15)})")
print(f"  sparse 1 GiB image:         {sparse:.2f}x openssl's time (target <= 1.3x: {verdict(sparse <= 1.3)}); its blob takes {sparse_kb} KB (target < 1024: {verdict(sparse_kb < 1024)})")
print(f"  --link vs openssl/cores:    {link / hashing:.2f}x           (target <= 1.3x: {verdict(link / hashing <= 1.3)})")
print(f"  no-op rebuild:              {noop*1000:.1f} ms         (target < 100 ms: {verdict(noop < 0.1)})")
print(f"  peak RSS of a cold build:   {rss_mb:.1f} MB          (target < 64 MB: {verdict(rss_mb < 64)})")
print(f"  merge of 2 parts vs cold build: {mean['glc merge (copy)'] / cold:.2f}x the time; with --link {mean['glc merge --link'] / cold:.2f}x (the merge's bytes equal the build's)")
PY
