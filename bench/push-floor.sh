#!/usr/bin/env bash
# glc push against the registry's own CPU floor, for big blobs and for many small ones: a
# ~SIZE_MB layout of 8 images (bench/gen-big.py) and a release of COUNT images with tiny
# artifacts (bench/gen-release.py), each pushed RUNS times by hyperfine into a new repository
# of one Debian docker-registry on 127.0.0.1. The registry's CPU time over the runs (from
# /proc), divided by the runs and the cores, is the floor no client goes below; the figure is
# glc's mean time over it. Prints the load average: the machine may be shared. Each case also
# says the machine's time waiting on the disk (iowait, from /proc/stat, in core-seconds a
# push), which no CPU floor counts; where /dev/shm is there the cases are timed again with the
# registry's storage in memory, the disk taken out.
# usage: bench/push-floor.sh [SIZE_MB] [COUNT] [RUNS]   (default 2048 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048} count=${2:-20} runs=${3:-3}
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-floor-bench.XXXXXX")
shm=
[ -d /dev/shm ] && [ -w /dev/shm ] && shm=$(mktemp -d /dev/shm/glc-floor.XXXXXX)
trap 'stop_registry; rm -rf "$work" ${shm:+"$shm"}' EXIT
. bench/registry.sh

python3 bench/gen-big.py "$work/big" "$size_mb"
"$glc" build -q --link "$work/big/release.kdl" -o "$work/big/out"
python3 bench/gen-release.py "$work/small" "$count"
"$glc" build -q "$work/small/release.kdl" -o "$work/small/out"
sync
echo "load before: $(uptime)"
iowait() { awk '/^cpu /{print $6 / 100}' /proc/stat; }
for storage in disk ${shm:+memory}; do
    for name in big small; do
        if [ "$storage" = memory ]; then REGISTRY_ROOT=$shm; else REGISTRY_ROOT=; fi
        start_registry "$name-$storage"
        before=$(registry_cpu) waited=$(iowait)
        hyperfine --shell=bash --runs "$runs" --export-json "$work/$name-$storage.json" \
            -n "glc push ($name)" "$glc push -q $work/$name/out 127.0.0.1:$port/r\$(date +%s%N)" >/dev/null
        echo "$name-$storage $(registry_cpu) $before $(iowait) $waited $(find "$work/$name/out/blobs" -type f | wc -l) $(du -sb --apparent-size "$work/$name/out/blobs" | cut -f1)" >> "$work/cpu"
        stop_registry
        rm -rf "${REGISTRY_ROOT:-$work}/registry-$name-$storage"
    done
done
echo "load after: $(uptime)"
python3 - "$work" "$runs" "$(nproc)" <<'PY'
import json, sys
w, runs, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for line in open(f"{w}/cpu"):
    name, after, before, waited_after, waited_before, blobs, size = line.split()
    r = json.load(open(f"{w}/{name}.json"))["results"][0]
    floor = (float(after) - float(before)) / runs / cores
    waited = (float(waited_after) - float(waited_before)) / runs
    print(f"  glc push, {name}: {blobs} blobs, {int(size) / 1e6:.0f} MB: {r['mean']:.2f} s ± {r['stddev']:.2f} (min {r['min']:.2f}); registry CPU {floor * cores:.2f} s a push, floor {floor:.2f} s on {cores} cores: {r['mean'] / floor:.2f}x (min {r['min'] / floor:.2f}x; target 1.5x); the machine waited on the disk {waited:.2f} core-s a push")
PY
