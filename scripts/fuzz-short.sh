#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time (FUZZTIME, default
# 10s each). Targets are discovered with go test -list, so a new Fuzz
# function is picked up without touching this script. A crasher found here
# is written to the package's testdata/fuzz/ and fails the run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-10s}

if ! listing=$(go test -list '^Fuzz' ./... 2>&1); then
	echo "$listing"
	echo "fuzz-short: could not list fuzz targets"
	exit 1
fi
# go test -list prints a package's matching names, then its "ok <pkg>" line.
targets=$(awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok[ \t]/ { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
	{ n = 0 }
' <<<"$listing")

if [ -z "$targets" ]; then
	echo "fuzz-short: no fuzz targets"
	exit 0
fi

count=0
failed=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while read -r pkg name; do
	count=$((count + 1))
	start=$SECONDS
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$out" 2>&1; then
		echo "fuzz-short: ok   $pkg $name ($((SECONDS - start))s)"
	else
		cat "$out"
		echo "fuzz-short: FAIL $pkg $name"
		failed+=("$pkg.$name")
	fi
done <<<"$targets"

if ((${#failed[@]} > 0)); then
	echo "fuzz-short: ${#failed[@]} of $count targets failed: ${failed[*]}"
	exit 1
fi
echo "fuzz-short: $count targets fuzzed for $FUZZTIME each, no failures"
