#!/bin/sh
# The CI flow of docs/parallel-builds.md on one machine: N jobs, each holding only its own
# inputs, build a part of the top-level release and push it under a tag of its own, all at
# once; then a job holding nothing merges the parts in the registry and signs the release.
# Against a local docker-registry (Debian's `docker-registry`) on a free port of 127.0.0.1,
# started and stopped here. At the end the registry is compared, tag by tag, with one
# machine's `glc build` and `glc push` of the whole release.
#
#   examples/ci/run-local.sh [N]        # N jobs, 1 to 6 (default 3)
#
# GLC names the glc to run (default: target/debug/glc of this checkout, else `glc`);
# KEEP=1 keeps the working directory. The signing key is the test-only key of the
# repository's fixtures: never sign a real release with it.
set -eu

n=${1:-3}
case $n in [1-6]) ;; *) echo "N must be 1 to 6" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${GLC:-}" ]; then
    if [ -x "$repo/target/debug/glc" ]; then GLC=$repo/target/debug/glc; else GLC=glc; fi
fi
command -v docker-registry >/dev/null || { echo "needs docker-registry (apt-get install docker-registry)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

work=$(mktemp -d)
registry_pid=
cleanup() {
    status=$?
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The registry, on a free port.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
tries=0
until curl -fs "http://127.0.0.1:$port/v2/" >/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { echo "docker-registry did not start: $(cat "$work/registry/log")" >&2; exit 1; }
    sleep 0.1
done
registry=127.0.0.1:$port/gardenlinux
echo "registry: $registry"

# The flavor groups, dealt round robin to the N jobs: group g goes to job g mod N.
groups='aws azure gcp openstack baremetal containers'
pattern() {
    case $1 in
        containers) echo '{base,bare,*-build,debian-snapshot}' ;;
        baremetal) echo 'baremetal*' ;;
        *) echo "$1-*" ;;
    esac
}

# A job's directory: the release file, the changelog, every container source, and the files
# of its own platforms' images.
job_dir() {
    dir=$work/job-$1
    mkdir -p "$dir/artifacts"
    cp "$repo/release.kdl" "$dir/"
    cp "$repo/artifacts/CHANGELOG.md" "$dir/artifacts/"
    cp -r "$repo/artifacts/containers" "$dir/artifacts/"
    shift
    for platform in "$@"; do
        [ "$platform" = containers ] && continue
        cp "$repo/artifacts/$platform"[-_]* "$dir/artifacts/"
    done
    echo "$dir"
}

start=$(date +%s.%N)
pids=
i=0
while [ $i -lt "$n" ]; do
    mine=
    g=0
    for group in $groups; do
        [ $((g % n)) -eq $i ] && mine="$mine $group"
        g=$((g + 1))
    done
    # shellcheck disable=SC2086 # the groups are words
    dir=$(job_dir $i $mine)
    only=
    for group in $mine; do only="$only --only $(pattern "$group")"; done
    (
        cd "$dir"
        set -f # the patterns are glc's globs, not the shell's
        # shellcheck disable=SC2086
        "$GLC" build -q release.kdl -o part $only
        "$GLC" push -q part "$registry:part-$i"
        echo "job $i:$mine → $registry:part-$i"
    ) &
    pids="$pids $!"
    i=$((i + 1))
done
for pid in $pids; do wait "$pid"; done
echo "parts pushed in $(echo "$(date +%s.%N) - $start" | bc) s"

# The merge job: an empty directory, the parts' tags, the key.
mkdir "$work/merge"
refs=
i=0
while [ $i -lt "$n" ]; do refs="$refs $registry:part-$i"; i=$((i + 1)); done
(
    cd "$work/merge"
    # shellcheck disable=SC2086
    COSIGN_PASSWORD=glc-test-password "$GLC" merge --push "$registry" $refs \
        --sign-key "$repo/tests/fixtures/signing/test-only-cosign.key" 2>&1 | grep -v 'glc::key::exposed\|readable by group\|^$\|chmod 600' || true
)

# A flavor, from the release.
cname=aws-gardener_prod-amd64-1877.3-75df9f40
"$GLC" get "$registry:1877.3" "$cname" --role kernel -o "$work/kernel" 2>/dev/null
cmp "$work/kernel" "$repo/artifacts/$cname.vmlinuz"
echo "glc get $registry:1877.3 $cname --role kernel: the kernel built, byte for byte"

# One machine's build and push of the whole release, for comparison.
mkdir "$work/full"
cp "$repo/release.kdl" "$work/full/"
cp -r "$repo/artifacts" "$work/full/"
(
    cd "$work/full"
    COSIGN_PASSWORD=glc-test-password "$GLC" build -q release.kdl -o out \
        --sign-key "$repo/tests/fixtures/signing/test-only-cosign.key" 2>/dev/null
    "$GLC" push -q out "127.0.0.1:$port/full"
)
tags() {
    curl -fs "http://127.0.0.1:$port/v2/$1/tags/list" |
        python3 -c 'import json, sys; print("\n".join(sorted(t for t in json.load(sys.stdin)["tags"] if not t.startswith("part-"))))' |
        while read -r tag; do
            digest=$(curl -fsI -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
                "http://127.0.0.1:$port/v2/$1/manifests/$tag" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
            echo "$tag $digest"
        done
}
tags gardenlinux >"$work/merged.tags"
tags full >"$work/full.tags"
if diff "$work/full.tags" "$work/merged.tags"; then
    echo "the registry holds what one machine's build and push give: $(wc -l <"$work/full.tags") tags, every digest the same"
else
    echo "the merged release differs from the full push" >&2
    exit 1
fi
