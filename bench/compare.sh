#!/usr/bin/env bash
# Builds mqttio, mqttio-bench and the comparison driver, then runs every
# scenario against mqttio and Mosquitto side by side (see bench/compare).
#
#   bench/compare.sh                 full run, ~10 minutes on 2 cores
#   QUICK=1 bench/compare.sh         one 1-second run per scenario, ~1-2 minutes
#   bench/compare.sh -only fanin,conns -md /tmp/table.md    (driver flags pass through)
#
# Needs: Go, taskset (util-linux) and /usr/sbin/mosquitto (Debian package
# mosquitto). The broker runs on CPU 0 and the generator on CPU 1 unless
# -broker-cpu / -bench-cpu say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# 10 000 idle connections: the generator and each broker hold one socket
# per connection. Raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10500 ]; then
	echo "bench/compare.sh: open-files limit $(ulimit -n) is below 10500; the conns scenario will fail (pass -conns N)" >&2
fi
for tool in taskset /usr/sbin/mosquitto; do
	command -v "$tool" >/dev/null || { echo "bench/compare.sh: $tool not found" >&2; exit 1; }
done

mkdir -p bin
go build -o bin/mqttio ./cmd/mqttio
go build -o bin/mqttio-bench ./cmd/mqttio-bench
go build -o bin/mqttio-compare ./bench/compare

args=()
if [ "${QUICK:-}" = 1 ]; then
	args+=(-quick)
fi
exec bin/mqttio-compare "${args[@]}" "$@"
