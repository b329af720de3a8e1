#!/usr/bin/env bash
# Plan time of generated releases of 250, 500 and 1,000 cloud images (7 files each), whole
# process, measured with hyperfine; the reference release (8 images) is the baseline.
# Prints the figures and the ratios: growth should be linear (1000/500 ≈ 2).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench/plan.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 250 500 1000; do python3 bench/gen-release.py "$work/r$n" "$n"; done
"$glc" check "$work/r1000/release.kdl"
hyperfine --shell=none --warmup 3 --runs 20 --export-json "$work/plan.json" \
    -n reference-8 "$glc plan --json release.kdl" \
    -n images-250 "$glc plan --json $work/r250/release.kdl" \
    -n images-500 "$glc plan --json $work/r500/release.kdl" \
    -n images-1000 "$glc plan --json $work/r1000/release.kdl" >/dev/null
python3 - "$work/plan.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ms = {name: r["mean"] * 1000 for name, r in results.items()}
sd = {name: r["stddev"] * 1000 for name, r in results.items()}
print("glc plan --json, whole process (mean ± stddev of 20 runs)")
for name in ms:
    print(f"  {name:<12} {ms[name]:8.1f} ms ± {sd[name]:.1f}")
print(f"  1000 / 500 images: {ms['images-1000'] / ms['images-500']:.2f}x   (linear = 2.00)")
print(f"  500 / 250 images:  {ms['images-500'] / ms['images-250']:.2f}x   (linear = 2.00)")
print(f"  1000 images / reference: {ms['images-1000'] / ms['reference-8']:.1f}x")
print(f"  target: 1000 images < 200 ms -> {'met' if ms['images-1000'] < 200 else 'NOT met'}")
PY
