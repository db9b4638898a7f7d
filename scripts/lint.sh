#!/usr/bin/env bash
# Static checks: gofmt, go vet, staticcheck and the import direction of the
# broker core. Runs every check and fails if any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
module=github.com/mqttio/mqttio
failed=()

echo "lint: gofmt"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	echo "lint: not gofmt-formatted (run gofmt -w):"
	echo "$unformatted" | sed 's/^/  /'
	failed+=(gofmt)
fi

echo "lint: go vet"
go vet ./... || failed+=(vet)

echo "lint: staticcheck"
if command -v staticcheck >/dev/null; then
	staticcheck ./... || failed+=(staticcheck)
else
	echo "lint: staticcheck not installed (scripts/install-deps.sh installs it)"
	failed+=(staticcheck)
fi

# broker/... is the MQTT core: it imports only the standard library and its
# own sub-packages. Persistence, clustering and transports reach it through
# interfaces it declares; only cmd/ wires them.
echo "lint: import direction of broker/..."
if deps=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./broker/...) &&
	edges=$(go list -f '{{$p := .ImportPath}}{{range .Imports}}{{$p}} {{.}}{{"\n"}}{{end}}' ./broker/...); then
	bad=$(grep -v -E "^$module/broker(/|\$)" <<<"$deps" | grep -v '^$' || true)
	if [ -n "$bad" ]; then
		echo "lint: broker/... must import only the standard library and broker/...:"
		# Report the direct imports that pull the offenders in.
		while read -r from to; do
			[ -n "$to" ] && grep -qxF "$to" <<<"$bad" || continue
			case "$to" in
			"$module"/*) why="mqttio package outside the core: declare an interface in broker/ and wire it from cmd/" ;;
			*) why="third-party module" ;;
			esac
			echo "  $from imports $to ($why)"
		done <<<"$edges"
		failed+=(imports)
	fi
else
	failed+=(imports)
fi

if ((${#failed[@]} > 0)); then
	echo "lint: FAILED: ${failed[*]}"
	exit 1
fi
echo "lint: ok"
