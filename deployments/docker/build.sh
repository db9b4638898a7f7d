#!/usr/bin/env bash
# Builds the mqttio container image from local files only (no registry):
# first the static binary, then the image around it (Dockerfile beside
# this script). `make image` runs it.
#
#   IMAGE     repository name (default mqttio); tagged :VERSION and :latest
#   VERSION   version stamped into the binary and the labels
#             (default: git describe, as `make build`)
#   REVISION  commit in the labels (default: git rev-parse HEAD)
#   GO        go command (default go)
#
# Prints the image reference IMAGE:TAG as its last line.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

GO=${GO:-go}
IMAGE=${IMAGE:-mqttio}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
CREATED=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
# A tag is [A-Za-z0-9_.-], at most 128 characters, not starting with . or -.
tag=$(printf '%s' "$VERSION" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
case "$tag" in [.-]*|"") tag="v$tag" ;; esac

stage="$root/bin/image"
rm -rf "$stage"
mkdir -p "$stage/rootfs/usr/local/bin" "$stage/rootfs/etc/ssl/certs" "$stage/data"
chmod 0750 "$stage/data"

echo "build.sh: go build (CGO_ENABLED=0, version $VERSION)" >&2
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
	-o "$stage/rootfs/usr/local/bin/mqttio" ./cmd/mqttio
cp "$here/rootfs/etc/passwd" "$here/rootfs/etc/group" "$stage/rootfs/etc/"
chmod 0644 "$stage/rootfs/etc/passwd" "$stage/rootfs/etc/group"
# TLS to peers signed by public CAs (cluster.tls.ca_file unset) needs roots.
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
	cp /etc/ssl/certs/ca-certificates.crt "$stage/rootfs/etc/ssl/certs/"
fi

echo "build.sh: docker build $IMAGE:$tag" >&2
docker build --quiet \
	-f "$here/Dockerfile" \
	--build-arg VERSION="$VERSION" \
	--build-arg REVISION="$REVISION" \
	--build-arg CREATED="$CREATED" \
	-t "$IMAGE:$tag" -t "$IMAGE:latest" \
	"$stage" >&2
echo "$IMAGE:$tag"
