#!/usr/bin/env bash
# Two glc binaries timed in one run, interleaved by hyperfine on the same inputs: check and
# plan of the top-level release, a cold copying build, a --link build, a no-op rebuild, a
# merge of two parts, verify, inspect, and a push and a pull through a local docker-registry,
# of a generated release of SIZE_MB. Prints each pair's means and the ratio new/old: the
# check that a change made nothing slower.
# usage: bench/compare.sh OLD_GLC NEW_GLC [SIZE_MB]   (default 512; needs hyperfine, docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1") new=$(realpath "$2") size_mb=${3:-512}
for tool in hyperfine docker-registry curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/compare.sh needs $tool" >&2; exit 1; }
done
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/glc-compare.XXXXXX")
. bench/registry.sh
trap 'stop_registry; rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1741939200
python3 bench/gen-big.py "$work/src" "$size_mb"
release=$work/src/release.kdl

start_registry compare
reg=127.0.0.1:$port

for who in old new; do
    glc=${!who}
    mkdir -p "$work/$who"
    "$glc" build -q "$release" -o "$work/$who/noop"
    "$glc" build -q "$release" -o "$work/$who/pa" --only 'aws-*' --only 'azure-*'
    "$glc" build -q "$release" -o "$work/$who/pb" --only 'gcp-*' --only 'openstack-*'
done
# Both write the same layout, so one serves verify, inspect and push.
diff -r "$work/old/noop" "$work/new/noop" >/dev/null || { echo "the two glc build different layouts" >&2; exit 1; }
layout=$work/old/noop

pairs=()
pair() { # NAME PREPARE COMMAND-with-GLC
    local name=$1 prepare=$2 command=$3
    for who in old new; do
        pairs+=(--prepare "${prepare//WHO/$who}" -n "$name [$who]" "${command//GLC/${!who}}")
        pairs[-1]=${pairs[-1]//WHO/$who}
    done
}
pair "check" "true" "GLC check release.kdl"
pair "plan --json" "true" "GLC plan --json release.kdl >/dev/null"
pair "cold build (copy)" "rm -rf $work/WHO/out $work/WHO/.out.glc-*" "GLC build -q --no-cache $release -o $work/WHO/out"
pair "build --link" "rm -rf $work/WHO/out $work/WHO/.out.glc-*" "GLC build -q --no-cache --link $release -o $work/WHO/out"
pair "no-op rebuild" "true" "GLC build -q $release -o $work/WHO/noop"
pair "merge of 2 parts" "rm -rf $work/WHO/merged $work/WHO/.merged.glc-*" "GLC merge -q --no-cache -o $work/WHO/merged $work/WHO/pa $work/WHO/pb"
pair "verify" "true" "GLC verify $layout >/dev/null"
pair "inspect" "true" "GLC inspect $layout >/dev/null"
pair "push (new repository)" "true" "GLC push -q $layout $reg/WHO\$RANDOM\$RANDOM --plain-http"
pair "pull" "rm -rf $work/WHO/pulled $work/WHO/.pulled.glc-*" "GLC pull -q $reg/seed:1877.3 -o $work/WHO/pulled --plain-http"
"$old" push -q "$layout" "$reg/seed" --plain-http

hyperfine --shell=bash --warmup 1 --runs "${RUNS:-5}" --export-json "$work/compare.json" "${pairs[@]}" >/dev/null

python3 - "$work/compare.json" "$size_mb" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
by = {r["command"]: r for r in results}
print(f"old and new glc, one run, interleaved ({sys.argv[2]} MB release), mean ± stddev")
print(f"  {'':<24}{'old':>16}{'new':>16}{'new/old':>9}")
for name in dict.fromkeys(c.rsplit(' [', 1)[0] for c in by):
    a, b = by[f"{name} [old]"], by[f"{name} [new]"]
    print(f"  {name:<24}{a['mean']*1000:9.1f} ± {a['stddev']*1000:4.0f}"
          f"{b['mean']*1000:9.1f} ± {b['stddev']*1000:4.0f}{b['mean']/a['mean']:8.2f}x")
PY
