# Deployment targets, included by the top-level Makefile
# (`include deployments/make.mk`):
#
#   make image       the static binary, then the container image
#                    $(IMAGE):<version> and $(IMAGE):latest (nothing pulled)
#   make e2e         the image, then the end-to-end run of docker-compose.yml
#                    in containers (test/e2e; needs Docker and docker-compose);
#                    E2E_RUN='TestImage|TestComposeConfig|TestSingleContainer'
#                    runs the single-node part only
#   make k8s-check   render the kustomize base (kubectl kustomize) and the
#                    Helm chart, decode every object into the Kubernetes API
#                    types and check the invariants (deployments/)
#
# docs/deploy.md explains them.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE   ?= mqttio
E2E_TIMEOUT ?= 15m
E2E_RUN ?= .

.PHONY: image e2e k8s-check

image:
	IMAGE='$(IMAGE)' VERSION='$(VERSION)' GO='$(GO)' bash deployments/docker/build.sh

e2e: image
	MQTTIO_E2E=1 MQTTIO_E2E_IMAGE='$(IMAGE):latest' $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -run '$(E2E_RUN)' ./test/e2e/

k8s-check:
	$(GO) test -count=1 ./deployments/...
