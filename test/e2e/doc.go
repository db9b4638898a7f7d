// Package e2e runs mqttio as users deploy it, in containers: the image
// that `make image` builds, alone and as the three-node cluster of the
// root docker-compose.yml, with MQTT clients on the host connected
// through each node's published port.
//
// The tests start containers, so they are opt-in: they run with
// MQTTIO_E2E=1, which `make e2e` sets after building the image (CI runs
// `make e2e`). Without it, `go test ./...` compiles this package and
// starts nothing. MQTTIO_E2E_IMAGE names an image that is already built;
// without it the tests build one with deployments/docker/build.sh.
// (MQTTIO_E2E and MQTTIO_E2E_IMAGE are read by these tests only; an mqttio
// node would refuse them as unknown keys, so they are never passed to
// one.)
//
// Needs Docker and docker-compose (Debian's docker.io and docker-compose
// packages). Every test tears down what it started, containers, networks
// and volumes, also when it fails, after printing the nodes' logs.
package e2e
