#!/bin/sh
# Regenerates the Go code of proto/*.proto with pinned plugin versions.
#
#   proto/gen.sh            (from anywhere; `make proto` calls it)
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler) and Go. The
# plugins are installed into proto/.bin so the result depends on these pins,
# not on whatever happens to be in $PATH. The generated files are committed.
set -eu

PROTOC_GEN_GO_VERSION=v1.36.12     # google.golang.org/protobuf, as in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2  # google.golang.org/grpc/cmd/protoc-gen-go-grpc

dir=$(cd "$(dirname "$0")" && pwd)
bin="$dir/.bin"

if ! command -v protoc >/dev/null 2>&1; then
	echo "gen.sh: protoc not found; install it (Debian: apt-get install -y protobuf-compiler)" >&2
	exit 1
fi

mkdir -p "$bin"
want() { # want NAME VERSION: is bin/NAME installed at VERSION?
	[ -x "$bin/$1" ] && [ "$(cat "$bin/$1.version" 2>/dev/null)" = "$2" ]
}
if ! want protoc-gen-go "$PROTOC_GEN_GO_VERSION"; then
	GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
	echo "$PROTOC_GEN_GO_VERSION" >"$bin/protoc-gen-go.version"
fi
if ! want protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"; then
	GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
	echo "$PROTOC_GEN_GO_GRPC_VERSION" >"$bin/protoc-gen-go-grpc.version"
fi

cd "$dir"
PATH="$bin:$PATH" protoc -I . \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	./*.proto
echo "gen.sh: generated with $(protoc --version), protoc-gen-go $PROTOC_GEN_GO_VERSION, protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION"
