#!/usr/bin/env bash
# The whole test suite: lint, build, every test with the race detector,
# then a short run of every fuzz target. Every step runs; the script exits
# non-zero if any failed. Run scripts/install-deps.sh first (make test does).
#
#   TEST_TIMEOUT  go test -timeout (default 20m)
#   FUZZTIME      time per fuzz target (default 10s)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
failed=()
step() { echo; echo "==> $*"; }

step "lint"
bash scripts/lint.sh || failed+=(lint)

step "go build ./..."
go build ./... || failed+=(build)

step "go test -race ./..."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
report="$tmp/summary"
if go build -o "$tmp/testreport" ./scripts/testreport; then
	go test -race -count=1 -timeout "${TEST_TIMEOUT:-20m}" -json ./... |
		"$tmp/testreport" -summary "$report"
	codes=("${PIPESTATUS[@]}")
	if [ "${codes[0]}" -ne 0 ] || [ "${codes[1]}" -ne 0 ]; then
		failed+=(test)
	fi
else
	failed+=(test)
fi

step "fuzz (short)"
bash scripts/fuzz-short.sh || failed+=(fuzz)

echo
if ((${#failed[@]} > 0)); then
	echo "test.sh: FAILED: ${failed[*]}"
else
	echo "test.sh: all steps passed"
fi
# The go test totals come last, for whoever reads the closing line.
cat "$report" 2>/dev/null
((${#failed[@]} == 0))
