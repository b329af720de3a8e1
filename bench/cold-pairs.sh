#!/usr/bin/env bash
# The cold copying build against `cp -r` + `sync` of the same inputs, as interleaved pairs on
# a shared machine: the reference release (release.kdl, the same as the design's reference
# release) with its artifacts replaced by random stand-ins of many sizes adding up to about
# SIZE_MB (containers as they are), then PAIRS pairs, each: the previous outputs removed,
# one glc build -q --no-cache and one `cp -r artifacts` + `sync -f`, in alternating order.
# Prints each pair's wall, user and system seconds and the ratios' median and spread.
# usage: bench/cold-pairs.sh [SIZE_MB] [PAIRS]   (default 200 and 9; needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
pairs=${2:-9}
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-bench-cold.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cp release.kdl "$work/src/"
cp -r artifacts "$work/src/"
# Every file but the containers' a random stand-in: disk images largest, then root file
# systems and kernels, the rest small; the sizes add up to about SIZE_MB.
python3 - "$work/src/artifacts" "$size_mb" <<'PY'
import os, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
weights = {".raw": 40, ".vhd": 40, ".qcow2": 40, ".gcpimage.tar.gz": 40, ".pxe.tar.gz": 40,
           ".tar": 24, ".vmlinuz": 4, ".test.log": 1, ".audit.log": 1, ".manifest": 0.2}
files = sorted(f for f in os.listdir(root) if os.path.isfile(os.path.join(root, f)))
def weight(name):
    return next((w for s, w in weights.items() if name.endswith(s)), 0.01)
total = sum(weight(f) for f in files)
for f in files:
    size = max(64, int((size_mb << 20) * weight(f) / total))
    with open(os.path.join(root, f), "wb") as out:
        while size > 0:
            n = min(size, 8 << 20)
            out.write(os.urandom(n))
            size -= n
PY
echo "inputs: $(du -sh --apparent-size "$work/src/artifacts" | cut -f1) in $(find "$work/src/artifacts" -type f | wc -l) files; $(uptime)"

run() { # NAME COMMAND…: one timed run, "NAME wall user sys"
    local name=$1; shift
    /usr/bin/time -f "$name %e %U %S" "$@" 2>&1 >/dev/null | tail -1
}
glc_cold() {
    rm -rf "$work/out" "$work"/.out.glc-*
    sync
    run glc "$glc" build -q --no-cache "$work/src/release.kdl" -o "$work/out"
}
cp_cold() {
    rm -rf "$work/cp"
    sync
    run cp bash -c "cp -r '$work/src/artifacts' '$work/cp' && sync -f '$work'"
}
glc_cold >/dev/null; cp_cold >/dev/null # warm the page cache alike
for i in $(seq "$pairs"); do
    if (( i % 2 )); then a=$(glc_cold); b=$(cp_cold); else b=$(cp_cold); a=$(glc_cold); fi
    echo "$a $b"
done > "$work/pairs"
python3 - "$work/pairs" <<'PY'
import statistics, sys
ratios = []
print("  pair   glc wall  user   sys    cp+sync wall  user   sys   ratio")
for n, line in enumerate(open(sys.argv[1]), 1):
    f = line.split()
    g, c = [float(x) for x in f[1:4]], [float(x) for x in f[5:8]]
    ratios.append(g[0] / c[0])
    print(f"  {n:>4} {g[0]:10.2f} {g[1]:5.2f} {g[2]:5.2f} {c[0]:15.2f} {c[1]:5.2f} {c[2]:5.2f} {ratios[-1]:7.2f}")
q = statistics.quantiles(ratios, n=4)
median = statistics.median(ratios)
print(f"  glc / (cp -r + sync), wall: median {median:.2f}, quartiles {q[0]:.2f}-{q[2]:.2f},"
      f" range {min(ratios):.2f}-{max(ratios):.2f}")
print(f"  target 1.15: {'met' if median <= 1.15 else 'NOT met'} (median)")
PY
echo "after: $(uptime)"
