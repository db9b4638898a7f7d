#!/usr/bin/env bash
# Installs what the whole test suite needs: the Debian packages of the
# real-client and browser tests, and staticcheck. Idempotent: when
# everything is present it changes nothing and takes well under a second.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools; staticcheck -version prints "(0.8.2)"
DEB_PACKAGES=(
	mosquitto         # reference broker and interop peer
	mosquitto-clients # mosquitto_pub / mosquitto_sub
	python3-paho-mqtt # Python MQTT client (3.1.1 and 5)
	node-mqtt         # MQTT.js on Node
	python3-socketio  # Socket.IO client for MQTT.IO
	nginx             # reverse proxy in front of the HTTP transports
	chromium          # headless browser for the browser page
)

log() { echo "install-deps: $*" >&2; }

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${DEB_PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
# kubectl renders the kustomize base in the manifest tests. Some machine
# images ship their own kubectl package owning /usr/bin/kubectl, which
# Debian's kubernetes-client would conflict with: install it only when no
# kubectl is on PATH.
if ! command -v kubectl >/dev/null && ! installed kubernetes-client; then
	missing+=(kubernetes-client)
fi

if ((${#missing[@]} > 0)); then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			log "need root (or sudo) to install: ${missing[*]}"
			exit 1
		fi
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	unavailable=()
	for p in "${missing[@]}"; do
		candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
		if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
			unavailable+=("$p")
		fi
	done
	if ((${#unavailable[@]} > 0)); then
		log "not available from the configured Debian sources: ${unavailable[*]}"
		exit 1
	fi
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
	for p in "${missing[@]}"; do
		installed "$p" || { log "$p did not install"; exit 1; }
	done
fi

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"; then
	log "installing staticcheck $STATICCHECK_VERSION"
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
log "all present"
