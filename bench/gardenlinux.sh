#!/usr/bin/env bash
# Garden Linux's real release (examples/gardenlinux: 71 published flavors, ~600 files) and a
# synthetic ten times that (every target of flavors.yaml ten times: 710 flavors, ~6,400
# files), each with its stand-ins: glc check, glc plan --json, a cold build, a no-op rebuild
# and a merge of 8 parts, measured with hyperfine (whole process). Prints the figures and
# the ratios 710/71 (linear = 10).
# CPU seconds (user + system) are printed too: on a busy machine they say more than the wall.
# With GLC_BEFORE=/path/to/an/older/glc, its no-op rebuild and plan of 710 flavors are timed
# in the same run.
# usage: bench/gardenlinux.sh   (needs hyperfine, make, python3 with PyYAML)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine make python3; do
    command -v "$tool" >/dev/null || { echo "bench/gardenlinux.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
glc=$PWD/target/release/glc
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-bench-gl.XXXXXX")
trap 'rm -rf "$work"' EXIT

lay() { # DIR [COPIES]
    mkdir -p "$1"
    cp examples/gardenlinux/{release.kdl,standins.py,Makefile} "$1"
    python3 - examples/gardenlinux/flavors.yaml "$1/flavors.yaml" "${2:-1}" <<'PY'
import json, sys, yaml
data = yaml.safe_load(open(sys.argv[1]))
copies = int(sys.argv[3])
targets = []
for i in range(copies):
    for t in data["targets"]:
        targets.append(dict(t, name=t["name"] if i == 0 else f"{t['name']}{i}"))
# JSON is YAML.
json.dump({"targets": targets}, open(sys.argv[2], "w"))
PY
    make -s -C "$1" standins GLC="$glc"
}
lay "$work/x1" 1
lay "$work/x10" 10

# The 8 parts: `--only` patterns, one part a few platforms, one for the containers.
parts=("ali* aws*" "azure*" "baremetal*" "gcp* gdch*" "kvm*" "lima* vmware*" "openstack*"
       "base bare *-build debian-snapshot")
for size in x1 x10; do
    for i in "${!parts[@]}"; do
        only=()
        for p in ${parts[$i]}; do only+=(--only "$p"); done
        "$glc" build -q "$work/$size/release.kdl" -o "$work/$size/part$i" "${only[@]}"
    done
    "$glc" build -q "$work/$size/release.kdl" -o "$work/$size/noop"
done

for size in x1 x10; do
    r=$work/$size/release.kdl
    # One --prepare a command, in their order: only the cold build and the merge start afresh.
    hyperfine --shell=bash --warmup 1 --runs 5 --export-json "$work/$size.json" \
        --prepare true --prepare true \
        --prepare "rm -rf $work/$size/out $work/$size/.out.glc-*" \
        --prepare true \
        --prepare "rm -rf $work/$size/merged $work/$size/.merged.glc-*" \
        -n check "$glc check $r 2> /dev/null" \
        -n plan "$glc plan --json $r > /dev/null" \
        -n cold-build "$glc build -q $r -o $work/$size/out" \
        -n noop-rebuild "$glc build -q $r -o $work/$size/noop" \
        -n merge-8 "$glc merge -q -o $work/$size/merged $work/$size/part{0..7}" >/dev/null
done

if [[ -n ${GLC_BEFORE:-} ]]; then
    r=$work/x10/release.kdl
    hyperfine --shell=none --warmup 2 --runs 10 --export-json "$work/before.json" \
        -n "noop-rebuild before" "$GLC_BEFORE build -q $r -o $work/x10/noop" \
        -n "noop-rebuild now" "$glc build -q $r -o $work/x10/noop" \
        -n "plan before" "$GLC_BEFORE plan --json $r" \
        -n "plan now" "$glc plan --json $r" >/dev/null
fi

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
res = {s: {r["command"]: r for r in json.load(open(f"{w}/{s}.json"))["results"]} for s in ("x1", "x10")}
print("Garden Linux's real release (71 flavors) and ten times it (710), whole process, mean ± stddev")
print(f"  {'':<14}{'71 flavors':>18}{'cpu':>7}{'710 flavors':>18}{'cpu':>7}{'ratio':>7}{'cpu':>6}")
cpu = lambda r: (r["user"] + r["system"]) * 1000
for name in res["x1"]:
    a, b = res["x1"][name], res["x10"][name]
    print(f"  {name:<14}{a['mean']*1000:11.1f} ± {a['stddev']*1000:4.1f}{cpu(a):7.0f}"
          f"{b['mean']*1000:11.1f} ± {b['stddev']*1000:4.1f}{cpu(b):7.0f}"
          f"{b['mean']/a['mean']:6.1f}x{cpu(b)/cpu(a):5.1f}x")
try:
    for r in json.load(open(f"{w}/before.json"))["results"]:
        print(f"  710 flavors, {r['command']:<20} {r['mean']*1000:7.1f} ± {r['stddev']*1000:5.1f} ms"
              f" (min {r['min']*1000:.1f}), cpu {cpu(r):.0f} ms")
except FileNotFoundError:
    pass
plan = res["x10"]["plan"]["mean"] * 1000
noop = res["x10"]["noop-rebuild"]["mean"] * 1000
print(f"  targets: plan of 710 < 1 s -> {'met' if plan < 1000 else 'NOT met'}; "
      f"no-op rebuild of 710 < 100 ms -> {'met' if noop < 100 else 'NOT met'}")
PY
