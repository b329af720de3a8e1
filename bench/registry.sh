# Sourced by the registry benchmarks: Debian's docker-registry on a free port of 127.0.0.1,
# with empty filesystem storage under $work. `start_registry NAME` sets $port (and stops the
# registry started before); `stop_registry` stops it.
registry_pid=
stop_registry() { if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; registry_pid=; fi; }

# The CPU seconds (user and system) the running registry has used since it started.
registry_cpu() {
    awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$registry_pid/stat"
}

# A docker-registry with empty storage on a free port of 127.0.0.1; sets $port.
start_registry() {
    stop_registry
    # REGISTRY_ROOT: where its storage goes (e.g. /dev/shm, to take the disk out of a figure).
    local dir=${REGISTRY_ROOT:-$work}/registry-$1
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
YML
    docker-registry serve "$dir/config.yml" 2>"$dir/log" &
    registry_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "docker-registry did not start" >&2; exit 1
}

