#!/usr/bin/env bash
# Profiles the broker core under one mqttio-bench scenario: runs
# bench/brokerprof (the broker in-process with runtime/pprof) pinned to
# CPU 0 and the generator pinned to CPU 1, then prints the top of the CPU
# and allocation profiles. Arguments go to mqttio-bench.
#
#   bench/profile.sh -scenario fanin -qos 0 -duration 10s
#   OUT=/tmp/prof BROKERPROF_FLAGS="-data-dir /tmp/d" bench/profile.sh -scenario latency -qos 1
#
# Profiles, logs and the tables stay in $OUT (default: a new temporary
# directory); explore them with `go tool pprof -http=: bin/brokerprof $OUT/cpu.prof`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d /tmp/mqttio-prof-XXXXXX)}
mkdir -p "$out"
port=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

go build -o bin/brokerprof ./bench/brokerprof
go build -o bin/mqttio-bench ./cmd/mqttio-bench

taskset -c "${BROKER_CPU:-0}" bin/brokerprof -listen "127.0.0.1:$port" \
	-cpuprofile "$out/cpu.prof" -memprofile "$out/allocs.prof" -mutexprofile "$out/mutex.prof" \
	${BROKERPROF_FLAGS:-} 2>"$out/broker.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.05
done

taskset -c "${BENCH_CPU:-1}" bin/mqttio-bench -addr "127.0.0.1:$port" -pid "$pid" "$@" | tee "$out/bench.txt" || true
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT

go tool pprof -top -nodecount=35 bin/brokerprof "$out/cpu.prof" >"$out/cpu.txt" 2>/dev/null
go tool pprof -top -cum -nodecount=40 bin/brokerprof "$out/cpu.prof" >"$out/cpu-cum.txt" 2>/dev/null
go tool pprof -top -sample_index=alloc_space -nodecount=25 bin/brokerprof "$out/allocs.prof" >"$out/allocs.txt" 2>/dev/null
go tool pprof -top -sample_index=alloc_objects -nodecount=25 bin/brokerprof "$out/allocs.prof" >"$out/allocs-objects.txt" 2>/dev/null
echo
echo "== CPU (flat) =="
sed -n '1,40p' "$out/cpu.txt"
echo
echo "== allocations (objects) =="
sed -n '1,30p' "$out/allocs-objects.txt"
echo
echo "profiles in $out"
